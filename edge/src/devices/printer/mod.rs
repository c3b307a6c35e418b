//! The ticket printer (ESC/POS over a serial line or a USB printer device file).
//!
//! - [`escpos`]: the pure encoder (tickets, test page, status queries and answers).
//! - [`spool`]: the pure spooler (order, back-off, holding, reprints).
//! - [`serial`]: the thin adapters to the device ([`PrinterPort`]).
//! - [`twin`]: the simulated printer that decodes the bytes back (and a pseudo-terminal twin).
//! - [`Printer`] (here): the service, a std thread that owns the spooler and the port.
//!
//! Architecture invariant: a ticket handed to [`Printer::print`] is never dropped while the
//! service runs; it waits through paper out, an open cover, an unplugged or switched-off
//! printer, and prints when the printer is back.

pub mod escpos;
pub mod serial;
pub mod spool;
pub mod twin;

use std::io;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

pub use escpos::{PrinterStatus, TicketPrint};
pub use serial::{DevicePrinter, PrinterPort, SerialPrinter};
pub use spool::ReprintError;

use spool::{Failed, JobKind, Spooler};

/// Opens a connection to the printer; called again (with back-off) after the port fails.
pub type Connect = Box<dyn FnMut() -> io::Result<Box<dyn PrinterPort>> + Send>;
/// Told every change of [`PrinterState`], on the printer's thread (keep it quick).
pub type OnState = Box<dyn Fn(&PrinterState) + Send>;

/// What the hall needs to know about its printer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrinterState {
    /// The status the printer last reported; `None` while not connected.
    pub status: Option<PrinterStatus>,
    /// A port is open and the printer answered.
    pub connected: bool,
    /// Jobs waiting to print.
    pub queued: usize,
    /// Jobs printed since the service started.
    pub printed: u64,
    /// The error keeping the printer from working, if any; cleared once it works again.
    pub last_error: Option<String>,
}

impl PrinterState {
    /// Bilingual texts for the staff, most urgent first; empty when the printer is fine.
    pub fn incidents(&self) -> Vec<&'static str> {
        if !self.connected {
            return vec!["打印机未连接 / printer not connected"];
        }
        self.status.map(|s| s.incidents()).unwrap_or_default()
    }
}

/// Timing of the printer service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrinterConfig {
    /// How often the status is asked while idle (it is also asked before each job).
    pub poll_every: Duration,
    /// The first wait before reconnecting; doubles after each failed attempt...
    pub reconnect_first: Duration,
    /// ... up to this.
    pub reconnect_max: Duration,
    /// How long a stopping service keeps sending what is queued.
    pub drain_for: Duration,
}

impl PrinterConfig {
    /// Status every 2 s, reconnect after 1 s doubling to 30 s, 2 s to drain at shutdown.
    pub const STANDARD: PrinterConfig = PrinterConfig {
        poll_every: Duration::from_secs(2),
        reconnect_first: Duration::from_secs(1),
        reconnect_max: Duration::from_secs(30),
        drain_for: Duration::from_secs(2),
    };
}

/// Why a request to the printer service failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrintError {
    #[error(transparent)]
    Reprint(#[from] ReprintError),
    #[error("the printer service has stopped")]
    Stopped,
}

enum Request {
    Enqueue(JobKind, Vec<u8>),
    /// A ticket, encoded on the printer's thread (the QR code costs the caller nothing).
    Ticket(Box<TicketPrint>),
    Reprint(String, Sender<Result<(), ReprintError>>),
}

/// The printer service: a worker thread owning the spooler and the port. Requests return at
/// once; printing happens in the background, in order. Dropping it (or [`Printer::shutdown`])
/// sends what it can within [`PrinterConfig::drain_for`], then stops the thread.
pub struct Printer {
    tx: Option<Sender<Request>>,
    state: Arc<Mutex<PrinterState>>,
    worker: Option<JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Printer {
    /// Starts the service with [`PrinterConfig::STANDARD`]. `connect` is called at once.
    pub fn spawn(connect: Connect, on_state: OnState) -> Printer {
        Printer::spawn_with(PrinterConfig::STANDARD, connect, on_state)
    }

    /// Starts the service with the given timing.
    pub fn spawn_with(config: PrinterConfig, connect: Connect, on_state: OnState) -> Printer {
        let (tx, rx) = mpsc::channel();
        let state = Arc::new(Mutex::new(PrinterState::default()));
        let worker = Worker {
            config,
            connect,
            on_state,
            shared: state.clone(),
            published: PrinterState::default(),
            port: None,
            spool: Spooler::new(),
            next_poll: Instant::now(),
            reconnect_at: Instant::now(),
            reconnect_backoff: config.reconnect_first,
            connect_failures: 0,
            last_status: None,
            error: None,
        };
        let worker = std::thread::Builder::new()
            .name("printer".into())
            .spawn(move || worker.run(&rx))
            .expect("cannot start the printer thread");
        Printer { tx: Some(tx), state, worker: Some(worker) }
    }

    fn send(&self, r: Request) -> Result<(), PrintError> {
        self.tx.as_ref().and_then(|tx| tx.send(r).ok()).ok_or(PrintError::Stopped)
    }

    /// Queues the ticket. It prints in order, once, whenever the printer can.
    pub fn print(&self, t: TicketPrint) -> Result<(), PrintError> {
        self.send(Request::Ticket(Box::new(t)))
    }

    /// Queues ticket `number` again, exactly as it was printed. Errors when it is not among
    /// the last 500 printed tickets or is already waiting to print.
    pub fn reprint(&self, number: &str) -> Result<(), PrintError> {
        let (reply, answer) = mpsc::channel();
        self.send(Request::Reprint(number.to_owned(), reply))?;
        answer.recv().map_err(|_| PrintError::Stopped)?.map_err(PrintError::from)
    }

    /// Queues a test page (dropped after a few failed attempts, unlike tickets).
    pub fn test_page(&self, hall: &str, now: &str) -> Result<(), PrintError> {
        self.send(Request::Enqueue(JobKind::TestPage, escpos::test_page(hall, now)))
    }

    /// The state as of the worker's last step.
    pub fn state(&self) -> PrinterState {
        lock(&self.state).clone()
    }

    /// Stops the service: sends what it can within [`PrinterConfig::drain_for`], then ends.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.tx = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl Drop for Printer {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Worker {
    config: PrinterConfig,
    connect: Connect,
    on_state: OnState,
    shared: Arc<Mutex<PrinterState>>,
    published: PrinterState,
    port: Option<Box<dyn PrinterPort>>,
    spool: Spooler,
    next_poll: Instant,
    reconnect_at: Instant,
    reconnect_backoff: Duration,
    connect_failures: u32,
    /// The status last reported on the current connection.
    last_status: Option<PrinterStatus>,
    /// The error keeping the printer from working.
    error: Option<String>,
}

impl Worker {
    fn run(mut self, rx: &Receiver<Request>) {
        let mut drain_until: Option<Instant> = None;
        loop {
            self.step(Instant::now());
            self.publish();
            let now = Instant::now();
            if let Some(deadline) = drain_until
                && (self.spool.counters().queued == 0 || now >= deadline)
            {
                break;
            }
            let wake = self.next_wake(now, drain_until);
            match rx.recv_timeout(wake.saturating_duration_since(now)) {
                Ok(r) => {
                    self.handle(r);
                    while let Ok(r) = rx.try_recv() {
                        self.handle(r);
                    }
                    self.publish();
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    drain_until.get_or_insert(now + self.config.drain_for);
                }
            }
        }
        let left = self.spool.counters().queued;
        if left > 0 {
            warn!(message = "Printer service stopped with jobs unprinted.", queued = left, error = ?self.error);
        }
    }

    fn next_wake(&self, now: Instant, drain_until: Option<Instant>) -> Instant {
        let mut wake = now + self.config.poll_every;
        if self.port.is_some() {
            wake = wake.min(self.next_poll);
        } else {
            wake = wake.min(self.reconnect_at);
        }
        if let Some(at) = self.spool.retry_at() {
            wake = wake.min(at);
        }
        if let Some(d) = drain_until {
            wake = wake.min(d).min(now + Duration::from_millis(20));
        }
        wake.max(now)
    }

    fn handle(&mut self, r: Request) {
        match r {
            Request::Enqueue(kind, bytes) => {
                debug!(message = "Print job queued.", job = ?kind);
                self.spool.enqueue(kind, bytes);
            }
            Request::Ticket(t) => {
                let bytes = escpos::ticket(&t);
                let kind = JobKind::Ticket { number: t.number };
                debug!(message = "Print job queued.", job = ?kind);
                self.spool.enqueue(kind, bytes);
            }
            Request::Reprint(number, reply) => {
                let r = self.spool.reprint(&number).map(|_| ());
                match &r {
                    Ok(()) => info!(message = "Ticket queued for reprint.", number = %number),
                    Err(e) => info!(message = "Reprint refused.", number = %number, error = %e),
                }
                let _ = reply.send(r);
            }
        }
    }

    /// Connects if due, polls if due, and sends what the spooler allows.
    fn step(&mut self, now: Instant) {
        if self.port.is_none() && now >= self.reconnect_at {
            self.try_connect(now);
        }
        if self.port.is_some() && now >= self.next_poll {
            self.poll(now);
        }
        while self.port.is_some() && self.spool.next(Instant::now()).is_some() {
            // Ask before each job: a ticket sent to a printer without paper is lost.
            if !self.poll(Instant::now()) {
                break;
            }
            let now = Instant::now();
            let Some(job) = self.spool.next(now) else { break };
            let (id, kind, bytes) = (job.id, job.kind.clone(), job.bytes.clone());
            let port = self.port.as_mut().expect("connected");
            match port.write_all(&bytes) {
                Ok(()) => {
                    self.spool.sent(id);
                    self.error = None;
                    info!(message = "Printed.", job = ?kind);
                }
                Err(e) => {
                    let outcome = self.spool.failed(id, now, &e.to_string());
                    warn!(message = "Print job failed.", job = ?kind, outcome = ?outcome, error = %e);
                    if outcome == Failed::Dropped {
                        warn!(message = "Test page given up.", job = ?kind);
                    }
                    self.disconnect(now, &e);
                }
            }
            self.publish();
        }
    }

    fn try_connect(&mut self, now: Instant) {
        let result = (self.connect)().and_then(|mut port| port.query_status().map(|s| (port, s)));
        match result {
            Ok((port, status)) => {
                info!(message = "Printer connected.", attempts = self.connect_failures + 1);
                self.port = Some(port);
                self.connect_failures = 0;
                self.reconnect_backoff = self.config.reconnect_first;
                self.error = None;
                self.set_status(status, now);
            }
            Err(e) => {
                if self.connect_failures == 0 {
                    warn!(message = "Printer not reachable.", error = %e);
                } else {
                    debug!(message = "Printer still not reachable.", attempts = self.connect_failures + 1, error = %e);
                }
                self.connect_failures += 1;
                self.error = Some(e.to_string());
                self.reconnect_at = now + self.reconnect_backoff;
                self.reconnect_backoff = (self.reconnect_backoff * 2).min(self.config.reconnect_max);
            }
        }
    }

    /// Asks the printer's status; false (and disconnected) when it does not answer.
    fn poll(&mut self, now: Instant) -> bool {
        let Some(port) = self.port.as_mut() else { return false };
        match port.query_status() {
            Ok(s) => {
                self.set_status(s, now);
                true
            }
            Err(e) => {
                self.disconnect(now, &e);
                false
            }
        }
    }

    fn set_status(&mut self, s: PrinterStatus, now: Instant) {
        let old = self.last_status.unwrap_or(PrinterStatus::READY);
        if s.paper_out && !old.paper_out {
            warn!(message = "Printer out of paper.", queued = self.spool.counters().queued);
        }
        if s.cover_open && !old.cover_open {
            warn!(message = "Printer cover open.", queued = self.spool.counters().queued);
        }
        if !s.online && old.online && !s.paper_out && !s.cover_open {
            warn!(message = "Printer offline.", queued = self.spool.counters().queued);
        }
        if s.paper_near_end && !old.paper_near_end {
            warn!(message = "Printer paper near end.");
        }
        if s.can_print() && !old.can_print() {
            info!(message = "Printer ready again.", queued = self.spool.counters().queued);
        }
        self.spool.set_status(s);
        self.last_status = Some(s);
        self.next_poll = now + self.config.poll_every;
    }

    fn disconnect(&mut self, now: Instant, e: &io::Error) {
        warn!(message = "Printer disconnected.", queued = self.spool.counters().queued, error = %e);
        self.port = None;
        self.last_status = None;
        self.error = Some(e.to_string());
        self.reconnect_at = now + self.reconnect_backoff;
        self.reconnect_backoff = (self.reconnect_backoff * 2).min(self.config.reconnect_max);
    }

    fn publish(&mut self) {
        let counters = self.spool.counters();
        let connected = self.port.is_some();
        let state = PrinterState {
            status: if connected { self.spool.status() } else { None },
            connected,
            queued: counters.queued,
            printed: counters.printed,
            last_error: self.error.clone(),
        };
        if state != self.published {
            *lock(&self.shared) = state.clone();
            (self.on_state)(&state);
            self.published = state;
        }
    }
}

#[cfg(test)]
mod tests;
