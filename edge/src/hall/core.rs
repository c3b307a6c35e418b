//! The hall's core: one thread owns the node; pages and devices send it requests and read the
//! views it publishes.
//!
//! Each request runs as the node runs a command (durable first), then the effects go to the
//! devices (printer, voice) and, once the queue of requests is drained, a new [`HallView`] is
//! published. Requests are served in arrival order, one at a time, so ticket numbers can never
//! be given twice however many kiosks and pages ask at once.

use crate::hall::view::{CallView, HallView, Incident};
use crate::node::{self, ErrorKind, NodeError, Outcome};
use crate::script::Request;
use crate::{Clock, Node};
use onestop_engine::Effect;
use onestop_model::{Case, CaseNo, Catalog, DayEvent, TicketNo, Timestamp, WindowNo};
use onestop_store::ReadDocs;
use onestop_store::StoreFault;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, oneshot, watch};

pub use crate::devices::printer::TicketPrint;

/// What every ticket of this hall carries besides its own facts: where its QR code leads and
/// the closing lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketFrame {
    /// The campus website, whose `/ticket/...` page the QR code opens (none: an `onestop:` id).
    pub website: Option<String>,
    pub footer: String,
}

/// A ticket just issued, in the one shape the printer, the kiosk's screen and its JSON all
/// take: built once, from the engine's effect, the catalogue in use and the hall's frame.
#[allow(clippy::too_many_arguments)]
pub fn ticket_print(
    ticket: TicketNo,
    service: &onestop_model::ServiceId,
    ahead: u32,
    wait_minutes: u32,
    issued_at: Timestamp,
    catalog: &Catalog,
    hall: &onestop_model::HallId,
    frame: &TicketFrame,
) -> TicketPrint {
    let offset = catalog.offset_of(hall);
    let day = issued_at.day(offset);
    let hall_name = catalog.halls.get(hall).map(|h| h.name.clone()).unwrap_or_default();
    let service_name = catalog.services.get(service).map(|s| s.name.clone()).unwrap_or_default();
    let url = match &frame.website {
        Some(site) => format!("{}/ticket/{hall}/{day}/{ticket}", site.trim_end_matches('/')),
        None => format!("onestop:{hall}:{day}:{ticket}"),
    };
    TicketPrint {
        hall: hall_name.zh,
        hall_en: hall_name.en,
        number: ticket.to_string(),
        service: service_name.zh,
        service_en: service_name.en,
        ahead,
        wait_minutes,
        issued_at: format!("{day} {}", issued_at.local_hm(offset)),
        url,
        footer: frame.footer.clone(),
    }
}

/// Where the core sends the effects of commands once they are durable.
pub trait Outputs: Send {
    /// A ticket was issued: print it.
    fn print(&mut self, ticket: &TicketPrint);
    /// What this hall's tickets carry besides their own facts.
    fn ticket_frame(&self) -> TicketFrame {
        TicketFrame::default()
    }
    /// A ticket was called (or called again): speak it.
    fn announce(&mut self, ticket: &TicketNo, window: WindowNo, repeat: bool);
    /// Device incidents to show to the staff.
    fn incidents(&self) -> Vec<Incident> {
        Vec::new()
    }
}

/// Outputs that do nothing (a hall with no printer or speaker).
pub struct NoOutputs;
impl Outputs for NoOutputs {
    fn print(&mut self, _: &TicketPrint) {}
    fn announce(&mut self, _: &TicketNo, _: WindowNo, _: bool) {}
}

/// What a request did, as the pages need it.
#[derive(Debug, Clone)]
pub struct Done {
    pub outcome: Outcome,
    pub issued: Option<TicketPrint>,
}

/// Why a request to the hall did not run. Nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum HallError {
    /// The node refused the request or failed to run it.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The hall's core has stopped (the node is shutting down).
    #[error("大厅服务已停止 / the hall is shutting down")]
    Stopped,
}

impl HallError {
    /// What kind of failure this is: the pages' status, the counters and the log follow it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            HallError::Node(e) => e.kind(),
            HallError::Stopped => ErrorKind::Unavailable,
        }
    }

    /// Refused by the rules: the message is for whoever asked.
    pub fn is_refusal(&self) -> bool {
        self.kind().is_refusal()
    }
}

type Reply = oneshot::Sender<Result<Done, HallError>>;

enum Job {
    Run(Request, Reply),
    /// Rebuild the view (a device changed, the link changed, the clock moved).
    Refresh,
    /// Answers when the core has got through the requests before it (the watchdog's check).
    Ping(oneshot::Sender<()>),
    /// Reads one of this hall's cases, as the store holds it (with the steps synced in).
    Case(CaseNo, oneshot::Sender<Result<Option<Case>, HallError>>),
    Stop,
}

/// A call, as sent to the displays the moment it happens.
pub type CallEvent = Arc<CallView>;

/// The handle pages and devices use; cheap to clone.
#[derive(Clone)]
pub struct Hall {
    jobs: std_mpsc::Sender<Job>,
    view: watch::Receiver<Arc<HallView>>,
    calls: broadcast::Sender<CallEvent>,
    catalog: watch::Receiver<Arc<Catalog>>,
    stats: Arc<Stats>,
}

/// Counters for `/metrics`.
#[derive(Default, Debug)]
pub struct Stats {
    pub commands: std::sync::atomic::AtomicU64,
    pub rejected: std::sync::atomic::AtomicU64,
    pub failed: std::sync::atomic::AtomicU64,
    pub issued: std::sync::atomic::AtomicU64,
    pub calls: std::sync::atomic::AtomicU64,
    /// Sum and count of command durations (µs), stamp to durable write to effects sent.
    pub command_us_sum: std::sync::atomic::AtomicU64,
}

/// Extra facts the view carries that the node does not know.
pub trait Surroundings: Send {
    fn online(&self) -> Option<bool> {
        None
    }
}

impl Surroundings for () {}

const CALLS_KEPT: usize = 12;

/// How often the core looks for a catalogue the cloud published, busy or idle.
const CATALOG_EVERY: Duration = Duration::from_secs(15);

impl Hall {
    /// Starts the core thread around `node`.
    pub fn start(
        mut node: Node,
        mut outputs: Box<dyn Outputs>,
        surroundings: Box<dyn Surroundings>,
        clock: Box<dyn Clock>,
    ) -> anyhow::Result<(Hall, std::thread::JoinHandle<()>)> {
        let mut catalog = Arc::new(node::load_catalog(&mut node.store())?);
        let (catalog_tx, catalog_rx) = watch::channel(catalog.clone());
        let (jobs, rx) = std_mpsc::channel::<Job>();
        let (calls, _) = broadcast::channel(256);
        // The calls of the day so far, so a display opened mid-day (or after a restart) shows
        // them: derived from the day's events exactly as the website derives them.
        let mut calls_kept = recent_calls(&mut node, &catalog)?;
        let frame = outputs.ticket_frame();
        let mut version = 1;
        let first = build(
            &node,
            &catalog,
            &calls_kept,
            incidents(&*outputs, None),
            &*surroundings,
            clock.now(),
            version,
        );
        let (view_tx, view) = watch::channel(Arc::new(first));
        let stats = Arc::new(Stats::default());
        let hall = Hall { jobs, view, calls: calls.clone(), catalog: catalog_rx, stats: stats.clone() };
        let thread = std::thread::Builder::new().name("hall-core".into()).spawn(move || {
            use std::sync::atomic::Ordering::Relaxed;
            let mut dirty = false;
            // Answers wait until the view shows what they did: a page loaded after an answer
            // never shows the hall as it was before.
            let mut answers: Vec<(Reply, Result<Done, HallError>)> = Vec::new();
            // The store's fault since the last request it failed, until a write succeeds.
            let mut storage: Option<StoreFault> = None;
            // When the store was last looked at for a new catalogue (every CATALOG_EVERY, busy
            // or idle).
            let mut catalog_checked = Instant::now();
            loop {
                let job = if dirty {
                    match rx.try_recv() {
                        Ok(j) => j,
                        Err(std_mpsc::TryRecvError::Empty) => {
                            let v = build(
                                &node,
                                &catalog,
                                &calls_kept,
                                incidents(&*outputs, storage),
                                &*surroundings,
                                clock.now(),
                                version + 1,
                            );
                            // A new version only when something shows differently: pages
                            // that follow the hall reload on a new version.
                            let changed = {
                                let old = view_tx.borrow();
                                HallView { version: old.version, ..v.clone() } != **old
                            };
                            if changed {
                                version += 1;
                                let _ = view_tx.send(Arc::new(v));
                            }
                            dirty = false;
                            for (reply, result) in answers.drain(..) {
                                let _ = reply.send(result);
                            }
                            continue;
                        }
                        Err(std_mpsc::TryRecvError::Disconnected) => break,
                    }
                } else {
                    let wait = CATALOG_EVERY.saturating_sub(catalog_checked.elapsed()).max(Duration::from_millis(1));
                    match rx.recv_timeout(wait) {
                        Ok(j) => j,
                        // The clock moves: waits and estimates change; a new day may begin.
                        Err(std_mpsc::RecvTimeoutError::Timeout) => Job::Refresh,
                        Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                };
                if catalog_checked.elapsed() >= CATALOG_EVERY {
                    catalog_checked = Instant::now();
                    // The cloud may have published a new catalogue (notices, services,
                    // windows, staff): take it up.
                    match node.reload_catalog(&catalog) {
                        Ok(Some(new)) => {
                            catalog = Arc::new(new);
                            let _ = catalog_tx.send(catalog.clone());
                        }
                        Ok(None) => {}
                        Err(error) => {
                            tracing::error!(message = "The new catalogue cannot be used; the hall keeps the one it has.", %error)
                        }
                    }
                    dirty = true;
                }
                match job {
                    Job::Stop => break,
                    Job::Refresh => dirty = true,
                    Job::Ping(reply) => {
                        let _ = reply.send(());
                    }
                    Job::Case(number, reply) => {
                        let result = read_case(&mut node, &number);
                        if let Err(e) = &result {
                            note_failure(e, "A case could not be read.", &mut storage);
                            // The manager page shows a storage fault at once.
                            dirty |= storage.is_some();
                        }
                        let _ = reply.send(result.map_err(HallError::Node));
                    }
                    Job::Run(req, reply) => {
                        let started = Instant::now();
                        stats.commands.fetch_add(1, Relaxed);
                        let result = node.resolve(req).and_then(|cmd| node.execute(&cmd));
                        let result = match result {
                            Ok(outcome) => {
                                let mut issued = None;
                                for effect in &outcome.effects {
                                    match effect {
                                        Effect::PrintTicket {
                                            ticket,
                                            service,
                                            ahead,
                                            wait_estimate_min,
                                            issued_at,
                                        } => {
                                            let i = ticket_print(
                                                *ticket,
                                                service,
                                                *ahead,
                                                *wait_estimate_min,
                                                *issued_at,
                                                &catalog,
                                                node.hall(),
                                                &frame,
                                            );
                                            outputs.print(&i);
                                            stats.issued.fetch_add(1, Relaxed);
                                            issued = Some(i);
                                        }
                                        Effect::Announce { ticket, window, repeat } => {
                                            outputs.announce(ticket, *window, *repeat);
                                            stats.calls.fetch_add(1, Relaxed);
                                        }
                                        Effect::AskRating { .. } => {}
                                    }
                                }
                                for ev in &outcome.events {
                                    if let Some(c) = call_view(ev, &node, &catalog) {
                                        let _ = calls.send(Arc::new(c.clone()));
                                        calls_kept.insert(0, c);
                                        calls_kept.truncate(CALLS_KEPT);
                                    }
                                }
                                // A durable write went through: the store saves again.
                                if let Some(fault) = storage.take() {
                                    tracing::info!(message = "The store saves again.", was = ?fault);
                                }
                                Ok(Done { outcome, issued })
                            }
                            Err(e) => {
                                if e.is_refusal() {
                                    stats.rejected.fetch_add(1, Relaxed);
                                } else {
                                    stats.failed.fetch_add(1, Relaxed);
                                }
                                note_failure(&e, "A command failed.", &mut storage);
                                Err(HallError::Node(e))
                            }
                        };
                        stats.command_us_sum.fetch_add(started.elapsed().as_micros() as u64, Relaxed);
                        answers.push((reply, result));
                        dirty = true;
                    }
                }
            }
            for (reply, result) in answers {
                let _ = reply.send(result);
            }
            tracing::info!(message = "Hall core stopped.");
        });
        let thread = thread?;
        Ok((hall, thread))
    }

    /// Runs a request; the answer comes once it is durable (or refused, with the reason).
    pub async fn run(&self, req: Request) -> Result<Done, HallError> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send(Job::Run(req, tx)).map_err(|_| HallError::Stopped)?;
        rx.await.map_err(|_| HallError::Stopped)?
    }

    /// Runs a request from a thread that is not async (device threads).
    pub fn run_blocking(&self, req: Request) -> Result<Done, HallError> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send(Job::Run(req, tx)).map_err(|_| HallError::Stopped)?;
        rx.blocking_recv().map_err(|_| HallError::Stopped)?
    }

    /// One of this hall's cases with its history: the steps the window and the back office
    /// added, as far as they have arrived. `None` for another hall's number or no such case.
    pub async fn case(&self, number: &CaseNo) -> Result<Option<Case>, HallError> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send(Job::Case(number.clone(), tx)).map_err(|_| HallError::Stopped)?;
        rx.await.map_err(|_| HallError::Stopped)?
    }

    /// Asks for a new view (a device or the link changed).
    pub fn refresh(&self) {
        let _ = self.jobs.send(Job::Refresh);
    }

    /// Whether the core answers within `limit` (for the systemd watchdog).
    pub async fn alive(&self, limit: Duration) -> bool {
        let (tx, rx) = oneshot::channel();
        if self.jobs.send(Job::Ping(tx)).is_err() {
            return false;
        }
        matches!(tokio::time::timeout(limit, rx).await, Ok(Ok(())))
    }

    /// Stops the core after the requests already sent.
    pub fn stop(&self) {
        let _ = self.jobs.send(Job::Stop);
    }

    /// The catalogue in use.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.borrow().clone()
    }

    /// The latest view.
    pub fn view(&self) -> Arc<HallView> {
        self.view.borrow().clone()
    }

    /// Follows the views as they change.
    pub fn watch(&self) -> watch::Receiver<Arc<HallView>> {
        self.view.clone()
    }

    /// Follows the calls as they happen.
    pub fn calls(&self) -> broadcast::Receiver<CallEvent> {
        self.calls.subscribe()
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }
}

fn read_case(node: &mut Node, number: &CaseNo) -> Result<Option<Case>, NodeError> {
    let Some((_, hall, _)) = number.parts() else { return Ok(None) };
    if &hall != node.hall() {
        return Ok(None);
    }
    Ok(node.store().case(number)?)
}

/// Logs a failed request as loudly as its kind deserves (the details, paths included, go to
/// the log only) and notes a storage fault for the manager's incidents.
fn note_failure(e: &NodeError, message: &'static str, storage: &mut Option<StoreFault>) {
    match e.kind() {
        ErrorKind::Refused => tracing::debug!(message = "A request was refused.", error = %e),
        ErrorKind::Storage(fault) => {
            tracing::error!(message, kind = ?fault, error = %e);
            *storage = Some(fault);
        }
        ErrorKind::Unavailable => tracing::warn!(message, error = %e),
        ErrorKind::Internal => tracing::error!(message, error = %e),
    }
}

/// The devices' incidents, and the store's when it cannot save.
fn incidents(outputs: &dyn Outputs, storage: Option<StoreFault>) -> Vec<Incident> {
    let mut all = outputs.incidents();
    all.extend(storage.map(storage_incident));
    all
}

/// The manager's incident for a store that cannot save.
fn storage_incident(fault: StoreFault) -> Incident {
    let text = match fault {
        StoreFault::Full => {
            "磁盘已满，大厅无法保存：请清理本节点的磁盘空间 / the disk is full and the hall cannot save: free space on this node"
        }
        StoreFault::Corrupt => {
            "数据库已损坏，大厅无法保存：请联系信息中心 / the hall's database is damaged and it cannot save: call campus IT"
        }
        _ => {
            "数据库暂时无法写入，大厅无法保存：请查看本节点日志 / the hall's database cannot be written and it cannot save: see this node's log"
        }
    };
    Incident { device: "store".into(), text: text.into() }
}

fn build(
    node: &Node,
    catalog: &Catalog,
    calls: &[CallView],
    incidents: Vec<Incident>,
    surroundings: &dyn Surroundings,
    now: Timestamp,
    version: u64,
) -> HallView {
    let mut v = HallView::build(node.engine(), catalog, node.hall(), now);
    v.version = version;
    v.calls = calls.to_vec();
    v.incidents = incidents;
    v.online = surroundings.online();
    if v.online == Some(false) {
        v.incidents.push(Incident {
            device: "cloud".into(),
            text: "与校园云断开，本大厅照常运行 / offline from the campus cloud; the hall works as usual"
                .into(),
        });
    }
    v.clock_alarm = node.clock_alarm();
    v
}

/// A call or recall as the displays show it (the definition shared with the website).
fn call_view(ev: &DayEvent, node: &Node, catalog: &Catalog) -> Option<CallView> {
    CallView::of(ev, catalog, node.hall(), node.engine().config().utc_offset_minutes)
}

/// The latest calls and recalls of the day, newest first, from the day's events
/// (`CallView::recent`, the website's own definition).
fn recent_calls(node: &mut Node, catalog: &Catalog) -> Result<Vec<CallView>, NodeError> {
    let events = node.today_events()?;
    let offset = node.engine().config().utc_offset_minutes;
    Ok(CallView::recent(&events, catalog, node.hall(), offset, CALLS_KEPT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use onestop_model::{Day, HallId, ServiceId};

    /// A ticket has one shape from the core to the paper and the kiosk's screen: the names
    /// from the catalogue in use, the time in the hall's zone, the QR code to its page.
    #[test]
    fn a_ticket_is_built_once_from_the_effect_the_catalogue_and_the_frame() {
        let hall = HallId::new("main");
        let mut catalog = crate::sim::campus_catalog(&hall, 2);
        catalog.halls.get_mut(&hall).unwrap().utc_offset_minutes = 60;
        let service = catalog.services.keys().next().unwrap().clone();
        let at = Day::new(2026, 11, 26).unwrap().start(60).plus_minutes(9 * 60 + 5);
        let frame =
            TicketFrame { website: Some("https://hall.example.edu/".into()), footer: "谢谢".into() };
        let t = ticket_print(TicketNo::new('A', 7), &service, 3, 12, at, &catalog, &hall, &frame);
        assert_eq!((t.number.as_str(), t.ahead, t.wait_minutes), ("A007", 3, 12));
        assert_eq!(t.hall, catalog.halls[&hall].name.zh);
        assert_eq!(t.service_en, catalog.services[&service].name.en);
        assert_eq!(t.issued_at, "2026-11-26 09:05", "the hall's own zone (UTC+1)");
        assert_eq!(t.url, "https://hall.example.edu/ticket/main/2026-11-26/A007");
        assert_eq!(t.footer, "谢谢");
        let t = ticket_print(
            TicketNo::new('A', 7),
            &ServiceId::new("gone"),
            0,
            0,
            at,
            &catalog,
            &hall,
            &TicketFrame::default(),
        );
        assert_eq!(t.url, "onestop:main:2026-11-26:A007", "no website: the ticket's id");
        assert!(t.service.is_empty(), "a service the catalogue no longer has prints no name");
    }
}
