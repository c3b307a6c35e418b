//! The print spooler: which job goes to the printer next, and when.
//!
//! Architecture invariant: pure. No IO and no clock: the caller passes `now` in, reports the
//! outcome of each send, and the last status the printer gave. Guarantees:
//! - jobs go out in the order they were queued; a failed job stays at the head and is retried
//!   after a back-off (1 s, doubling up to 30 s), so order survives failures;
//! - a ticket is never dropped (a test page is dropped after [`TEST_PAGE_ATTEMPTS`] failures);
//! - nothing is handed out while the last status says paper out, cover open or offline;
//! - the last [`HISTORY`] printed tickets can be reprinted by number.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::escpos::PrinterStatus;

/// Printed tickets remembered for reprinting.
pub const HISTORY: usize = 500;
/// The first retry delay after a failed send.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest retry delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Failed sends after which a test page is given up.
pub const TEST_PAGE_ATTEMPTS: u32 = 3;

/// A job's identity, unique within one spooler.
pub type JobId = u64;

/// What a job prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobKind {
    Ticket { number: String },
    TestPage,
}

/// A queued job with its ESC/POS bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: JobId,
    pub kind: JobKind,
    pub bytes: Vec<u8>,
    /// Failed sends so far.
    pub attempts: u32,
    /// True for a job queued by [`Spooler::reprint`].
    pub reprint: bool,
}

/// Why a reprint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReprintError {
    #[error("ticket {0} is not among the last {HISTORY} printed")]
    Unknown(String),
    #[error("ticket {0} is already waiting to print")]
    AlreadyQueued(String),
}

/// What happened to a failed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failed {
    /// It stays at the head of the queue and is retried at `at`.
    RetryAt(Instant),
    /// A test page that failed too often and was removed.
    Dropped,
    /// The id was not the job at the head of the queue; nothing changed.
    NotHead,
}

/// The spooler's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Jobs reported sent.
    pub printed: u64,
    /// Failed sends (one job may fail several times).
    pub failed_attempts: u64,
    /// Jobs waiting now.
    pub queued: usize,
}

/// The queue of print jobs. See the module documentation for its guarantees.
#[derive(Debug)]
pub struct Spooler {
    queue: VecDeque<Job>,
    history: VecDeque<(String, Vec<u8>)>,
    next_id: JobId,
    retry_at: Option<Instant>,
    backoff: Duration,
    status: Option<PrinterStatus>,
    printed: u64,
    failed_attempts: u64,
    last_error: Option<String>,
}

impl Default for Spooler {
    fn default() -> Self {
        Self::new()
    }
}

impl Spooler {
    /// An empty spooler that has not heard from the printer yet (and so does not hold).
    pub fn new() -> Spooler {
        Spooler {
            queue: VecDeque::new(),
            history: VecDeque::new(),
            next_id: 1,
            retry_at: None,
            backoff: FIRST_BACKOFF,
            status: None,
            printed: 0,
            failed_attempts: 0,
            last_error: None,
        }
    }

    /// Queues a job at the back; returns its id.
    pub fn enqueue(&mut self, kind: JobKind, bytes: Vec<u8>) -> JobId {
        self.push(kind, bytes, false)
    }

    fn push(&mut self, kind: JobKind, bytes: Vec<u8>, reprint: bool) -> JobId {
        let id = self.next_id;
        self.next_id += 1;
        self.queue.push_back(Job { id, kind, bytes, attempts: 0, reprint });
        id
    }

    /// Records what the printer last said about itself.
    pub fn set_status(&mut self, status: PrinterStatus) {
        self.status = Some(status);
    }

    /// The status last recorded.
    pub fn status(&self) -> Option<PrinterStatus> {
        self.status
    }

    /// True while the last status says the printer cannot print.
    pub fn held(&self) -> bool {
        self.status.is_some_and(|s| !s.can_print())
    }

    /// The job to send now: the head of the queue, unless the queue is held or backing off.
    /// Handing it out does not remove it; report [`Spooler::sent`] or [`Spooler::failed`].
    pub fn next(&self, now: Instant) -> Option<&Job> {
        if self.held() || self.retry_at.is_some_and(|at| now < at) {
            return None;
        }
        self.queue.front()
    }

    /// When the head job may be retried, if the spooler is backing off.
    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at.filter(|_| !self.queue.is_empty())
    }

    /// Records that the head job `id` reached the printer; returns false (and changes nothing)
    /// when `id` is not the head job.
    pub fn sent(&mut self, id: JobId) -> bool {
        if self.queue.front().is_none_or(|j| j.id != id) {
            return false;
        }
        let job = self.queue.pop_front().expect("head checked");
        self.printed += 1;
        self.retry_at = None;
        self.backoff = FIRST_BACKOFF;
        if let JobKind::Ticket { number } = job.kind {
            self.history.retain(|(n, _)| *n != number);
            if self.history.len() == HISTORY {
                self.history.pop_front();
            }
            self.history.push_back((number, job.bytes));
        }
        true
    }

    /// Records that sending the head job `id` failed at `now`. A ticket stays at the head and
    /// is retried after the back-off; a test page is dropped after [`TEST_PAGE_ATTEMPTS`].
    pub fn failed(&mut self, id: JobId, now: Instant, error: &str) -> Failed {
        let Some(job) = self.queue.front_mut().filter(|j| j.id == id) else {
            return Failed::NotHead;
        };
        job.attempts += 1;
        self.failed_attempts += 1;
        self.last_error = Some(error.to_owned());
        let at = now + self.backoff;
        self.retry_at = Some(at);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        if job.kind == JobKind::TestPage && job.attempts >= TEST_PAGE_ATTEMPTS {
            self.queue.pop_front();
            return Failed::Dropped;
        }
        Failed::RetryAt(at)
    }

    /// Queues ticket `number` again, with the bytes it was printed with, at the back.
    /// Errors when it is not among the last [`HISTORY`] printed tickets, or already waiting.
    pub fn reprint(&mut self, number: &str) -> Result<JobId, ReprintError> {
        if self.queue.iter().any(|j| matches!(&j.kind, JobKind::Ticket { number: n } if n == number)) {
            return Err(ReprintError::AlreadyQueued(number.to_owned()));
        }
        let bytes = self
            .history
            .iter()
            .rev()
            .find(|(n, _)| n == number)
            .map(|(_, b)| b.clone())
            .ok_or_else(|| ReprintError::Unknown(number.to_owned()))?;
        Ok(self.push(JobKind::Ticket { number: number.to_owned() }, bytes, true))
    }

    /// The jobs waiting, head first.
    pub fn queued(&self) -> impl Iterator<Item = &Job> {
        self.queue.iter()
    }

    /// The counters.
    pub fn counters(&self) -> Counters {
        Counters { printed: self.printed, failed_attempts: self.failed_attempts, queued: self.queue.len() }
    }

    /// The error of the last failed send.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ticket(n: &str) -> JobKind {
        JobKind::Ticket { number: n.into() }
    }

    const OUT: PrinterStatus = PrinterStatus { online: false, paper_out: true, ..PrinterStatus::READY };

    #[test]
    fn fifo_backoff_and_hold() {
        let t0 = Instant::now();
        let s = |secs: u64| t0 + Duration::from_secs(secs);
        let mut sp = Spooler::new();
        let a = sp.enqueue(ticket("A001"), b"a".to_vec());
        let b = sp.enqueue(ticket("A002"), b"b".to_vec());
        assert_eq!(sp.next(t0).unwrap().id, a);
        // Back-off: 1, 2, 4, ... 30, 30 seconds, the failed job staying at the head.
        let mut now = t0;
        for expected in [1, 2, 4, 8, 16, 30, 30] {
            assert_eq!(sp.failed(a, now, "timeout"), Failed::RetryAt(now + Duration::from_secs(expected)));
            assert!(sp.next(now).is_none());
            assert!(sp.next(now + Duration::from_secs(expected) - Duration::from_millis(1)).is_none());
            now += Duration::from_secs(expected);
            assert_eq!(sp.next(now).unwrap().id, a);
        }
        assert_eq!(sp.counters(), Counters { printed: 0, failed_attempts: 7, queued: 2 });
        assert_eq!(sp.last_error(), Some("timeout"));
        assert!(!sp.sent(b), "only the head can be sent");
        assert!(sp.sent(a));
        // Back-off resets after a success.
        assert_eq!(sp.failed(b, now, "x"), Failed::RetryAt(now + Duration::from_secs(1)));
        // Held while out of paper, whatever the time.
        sp.set_status(OUT);
        assert!(sp.held());
        assert!(sp.next(s(10_000)).is_none());
        sp.set_status(PrinterStatus { paper_near_end: true, ..PrinterStatus::READY });
        assert_eq!(sp.next(s(10_000)).unwrap().id, b);
        sp.set_status(PrinterStatus { cover_open: true, ..PrinterStatus::READY });
        assert!(sp.next(s(10_000)).is_none());
        sp.set_status(PrinterStatus { online: false, ..PrinterStatus::READY });
        assert!(sp.next(s(10_000)).is_none());
        assert_eq!(sp.failed(12345, now, "x"), Failed::NotHead);
    }

    #[test]
    fn tickets_are_never_dropped_test_pages_are() {
        let t0 = Instant::now();
        let mut sp = Spooler::new();
        let p = sp.enqueue(JobKind::TestPage, vec![]);
        let t = sp.enqueue(ticket("A001"), vec![]);
        let mut now = t0;
        for _ in 0..TEST_PAGE_ATTEMPTS - 1 {
            assert!(matches!(sp.failed(p, now, "e"), Failed::RetryAt(_)));
            now += MAX_BACKOFF;
        }
        assert_eq!(sp.failed(p, now, "e"), Failed::Dropped);
        for _ in 0..1000 {
            now += MAX_BACKOFF;
            assert!(matches!(sp.failed(t, now, "e"), Failed::RetryAt(_)));
        }
        assert_eq!(sp.next(now + MAX_BACKOFF).unwrap().id, t);
    }

    #[test]
    fn reprint_from_history() {
        let now = Instant::now();
        let mut sp = Spooler::new();
        assert_eq!(sp.reprint("A001"), Err(ReprintError::Unknown("A001".into())));
        let a = sp.enqueue(ticket("A001"), b"first".to_vec());
        assert_eq!(sp.reprint("A001"), Err(ReprintError::AlreadyQueued("A001".into())));
        assert!(sp.sent(a));
        let r = sp.reprint("A001").unwrap();
        let job = sp.next(now).unwrap();
        assert_eq!((job.id, job.bytes.as_slice(), job.reprint), (r, &b"first"[..], true));
        assert_eq!(sp.reprint("A001"), Err(ReprintError::AlreadyQueued("A001".into())));
        assert!(sp.sent(r));
        // Only the last HISTORY tickets are kept.
        for i in 0..HISTORY {
            let id = sp.enqueue(ticket(&format!("B{i}")), vec![]);
            assert!(sp.sent(id));
        }
        assert_eq!(sp.reprint("A001"), Err(ReprintError::Unknown("A001".into())));
        assert!(sp.reprint("B0").is_ok());
        // Test pages are not reprintable.
        let p = sp.enqueue(JobKind::TestPage, vec![]);
        sp.sent(sp.next(now).unwrap().id);
        sp.sent(p);
        assert_eq!(sp.counters().queued, 0);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Enqueue,
        Send,
        Fail,
        Wait(u64),
        Status(bool),
        Reprint(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Enqueue),
            3 => Just(Op::Send),
            2 => Just(Op::Fail),
            2 => (0..40_000u64).prop_map(Op::Wait),
            1 => any::<bool>().prop_map(Op::Status),
            1 => (0..64usize).prop_map(Op::Reprint),
        ]
    }

    proptest! {
        /// Whatever happens (failures, paper out, waiting, reprints), once the printer works
        /// every ticket prints exactly once in queue order, plus exactly the reprints accepted.
        #[test]
        fn every_ticket_prints_once_in_order(ops in proptest::collection::vec(op(), 0..200)) {
            let mut now = Instant::now();
            let mut sp = Spooler::new();
            let mut enqueued: Vec<String> = Vec::new();
            let mut printed: Vec<(String, bool)> = Vec::new();
            let mut reprints: Vec<String> = Vec::new();
            let send = |sp: &mut Spooler, now: Instant, printed: &mut Vec<(String, bool)>| {
                if let Some(job) = sp.next(now).cloned() {
                    prop_assert!(!sp.held());
                    prop_assert!(sp.sent(job.id));
                    if let JobKind::Ticket { number } = job.kind {
                        printed.push((number, job.reprint));
                    }
                }
                Ok(())
            };
            for op in ops {
                match op {
                    Op::Enqueue => {
                        let n = format!("A{:03}", enqueued.len());
                        sp.enqueue(ticket(&n), n.clone().into_bytes());
                        enqueued.push(n);
                    }
                    Op::Send => send(&mut sp, now, &mut printed)?,
                    Op::Fail => {
                        if let Some(id) = sp.next(now).map(|j| j.id) {
                            prop_assert!(matches!(sp.failed(id, now, "e"), Failed::RetryAt(at) if at > now));
                            prop_assert!(sp.next(now).is_none());
                        }
                    }
                    Op::Wait(ms) => now += Duration::from_millis(ms),
                    Op::Status(ok) => sp.set_status(if ok { PrinterStatus::READY } else { OUT }),
                    Op::Reprint(i) => {
                        if let Some(n) = enqueued.get(i)
                            && sp.reprint(n).is_ok()
                        {
                            reprints.push(n.clone());
                        }
                    }
                }
            }
            let queued_before = sp.counters().queued;
            sp.set_status(PrinterStatus::READY);
            now += MAX_BACKOFF;
            for _ in 0..queued_before {
                send(&mut sp, now, &mut printed)?;
            }
            prop_assert_eq!(sp.counters().queued, 0);
            let originals: Vec<String> = printed.iter().filter(|p| !p.1).map(|p| p.0.clone()).collect();
            prop_assert_eq!(&originals, &enqueued);
            let mut again: Vec<String> = printed.iter().filter(|p| p.1).map(|p| p.0.clone()).collect();
            again.sort();
            reprints.sort();
            prop_assert_eq!(again, reprints);
            prop_assert_eq!(sp.counters().printed, printed.len() as u64);
        }
    }
}
