//! What the website shows, kept ready: the catalogue and each hall's view, rebuilt from the
//! store when a hall's day document changes (and once a minute, as waits and days move on),
//! so a page request only reads memory.
//!
//! A hall's view is the engine's own ([`HallView::build`] over [`Engine::replay`] of today's
//! document): the website shows exactly what the hall's display shows, as of the last sync.

use axum::body::Bytes;
use onestop_engine::view::{CallView, HallView, Label, ServiceView, TicketView};
use onestop_engine::{Engine, HallConfig};
use onestop_model::{Catalog, Day, DayEvent, HallId, Timestamp, WindowNo};
use onestop_protocol::DocId;
use onestop_store::{ReadDocs, Store};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Calls kept per hall (newest first).
const CALLS_KEPT: usize = 12;
/// How long a burst of changes is gathered before one rebuild.
const GATHER: Duration = Duration::from_millis(200);
/// Every hall is rebuilt this often (waits grow, the day turns).
const REBUILD_ALL: Duration = Duration::from_secs(60);
/// Liveness (connected halls, the registry's last-seen) is checked this often.
const LIVENESS: Duration = Duration::from_secs(5);

/// When the cloud last heard from a hall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Heard {
    /// A node of the hall is connected and syncing now.
    pub online: bool,
    /// The newest event in today's day document (ms since 1970).
    pub last_event_ms: Option<i64>,
    /// The newest report from the hall's nodes in the provisioning registry.
    pub last_seen_ms: Option<i64>,
}

impl Heard {
    /// The latest sign of life: an event or a report.
    pub fn last_heard_ms(&self) -> Option<i64> {
        self.last_event_ms.max(self.last_seen_ms)
    }

    /// Whole minutes since the hall was last heard from, at `now`.
    pub fn minutes_ago(&self, now: Timestamp) -> Option<i64> {
        self.last_heard_ms().map(|t| (now.0 - t).max(0) / 60_000)
    }
}

/// One hall, live.
#[derive(Debug, Clone)]
pub struct HallLive {
    /// The hall's view (with its latest calls and `online`).
    pub view: HallView,
    pub day: Day,
    pub utc_offset_minutes: i32,
    /// Today's tickets by number ("A001").
    pub tickets: HashMap<String, TicketView>,
    pub heard: Heard,
    /// When this was built (ms since 1970).
    pub built_ms: i64,
    /// `/api/halls/{hall}/status`, serialized once.
    pub status_json: Bytes,
}

/// A window as the public sees it (no staff names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicWindow<'a> {
    pub no: WindowNo,
    pub name: &'a Label,
    /// Staff are checked in.
    pub open: bool,
    pub paused: bool,
    /// The ticket called or served there.
    pub current: Option<&'a str>,
    /// "called" or "serving".
    pub state: Option<&'static str>,
}

/// `/api/halls/{hall}/status`: what the hall status page shows.
#[derive(Debug, Clone, Serialize)]
pub struct PublicStatus<'a> {
    pub hall: &'a str,
    pub name: &'a Label,
    pub day: &'a str,
    /// Changes whenever the hall's view is rebuilt.
    pub version: u64,
    pub online: bool,
    pub last_heard_ms: Option<i64>,
    /// Minutes since the hall was last heard from, when this was built.
    pub last_heard_min: Option<i64>,
    /// "HH:MM" in the hall's time of the last sign of life.
    pub last_heard_at: Option<String>,
    pub built_ms: i64,
    /// "HH:MM" in the hall's time, when this was built.
    pub built_at: String,
    pub windows: Vec<PublicWindow<'a>>,
    pub services: &'a [ServiceView],
    pub calls: &'a [CallView],
    pub waiting: usize,
    pub served: usize,
    pub windows_open: usize,
    pub mean_wait_min: Option<u32>,
}

impl HallLive {
    /// The live state of `hall` on `day` from that day's events, at `now`.
    pub fn build(
        catalog: &Catalog,
        hall: &HallId,
        day: Day,
        events: &[DayEvent],
        now: Timestamp,
        heard: Heard,
        version: u64,
    ) -> Result<HallLive, String> {
        let config = HallConfig::from_catalog(catalog, hall).map_err(|e| e.to_string())?;
        let offset = config.utc_offset_minutes;
        let engine = Engine::replay(config, day, events).map_err(|e| e.to_string())?;
        let mut view = HallView::build(&engine, catalog, hall, now);
        view.version = version;
        view.calls = CallView::recent(events, catalog, hall, offset, CALLS_KEPT);
        view.online = Some(heard.online);
        let tickets =
            TicketView::all(&engine, catalog, hall, now).into_iter().map(|t| (t.ticket.clone(), t)).collect();
        let heard = Heard { last_event_ms: events.iter().map(|e| e.at().0).max(), ..heard };
        let mut live = HallLive {
            view,
            day,
            utc_offset_minutes: offset,
            tickets,
            heard,
            built_ms: now.0,
            status_json: Bytes::new(),
        };
        live.status_json = live.serialize_status(now);
        Ok(live)
    }

    /// The same hall with new liveness, at `now` (no replay).
    pub fn with_heard(&self, online: bool, last_seen_ms: Option<i64>, now: Timestamp) -> HallLive {
        let mut live = self.clone();
        live.heard.online = online;
        live.heard.last_seen_ms = last_seen_ms;
        live.view.online = Some(online);
        live.built_ms = now.0;
        live.status_json = live.serialize_status(now);
        live
    }

    /// The public status at `now`.
    pub fn status(&self, now: Timestamp) -> PublicStatus<'_> {
        let v = &self.view;
        PublicStatus {
            hall: &v.hall,
            name: &v.hall_name,
            day: &v.day,
            version: v.version,
            online: self.heard.online,
            last_heard_ms: self.heard.last_heard_ms(),
            last_heard_min: self.heard.minutes_ago(now),
            last_heard_at: self.heard.last_heard_ms().map(|t| Timestamp(t).local_hm(self.utc_offset_minutes)),
            built_ms: now.0,
            built_at: now.local_hm(self.utc_offset_minutes),
            windows: v
                .windows
                .iter()
                .map(|w| PublicWindow {
                    no: w.no,
                    name: &w.name,
                    open: w.staff_id.is_some(),
                    paused: w.paused.is_some(),
                    current: w.current.as_deref(),
                    state: w.state,
                })
                .collect(),
            services: &v.services,
            calls: &v.calls,
            waiting: v.figures.waiting,
            served: v.figures.served,
            windows_open: v.figures.windows_open,
            mean_wait_min: v.figures.mean_wait_min,
        }
    }

    fn serialize_status(&self, now: Timestamp) -> Bytes {
        Bytes::from(serde_json::to_vec(&self.status(now)).unwrap_or_default())
    }
}

/// Everything the website shows, at one moment.
#[derive(Debug, Clone, Default)]
pub struct Site {
    pub catalog: Arc<Catalog>,
    /// Every hall of the catalogue whose view could be built.
    pub halls: BTreeMap<HallId, Arc<HallLive>>,
}

/// The site, shared by the pages (read) and the refresher (write); cheap to clone.
#[derive(Clone, Default)]
pub struct Cache {
    site: Arc<RwLock<Arc<Site>>>,
}

impl Cache {
    /// A cache showing `site` (tests; the refresher fills it otherwise).
    pub fn with(site: Site) -> Cache {
        Cache { site: Arc::new(RwLock::new(Arc::new(site))) }
    }

    /// The site now: a snapshot, never torn.
    pub fn get(&self) -> Arc<Site> {
        self.site.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, site: Site) {
        *self.site.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(site);
    }
}

/// Where the cache's contents come from.
#[derive(Clone)]
pub struct Sources {
    pub store: Arc<Mutex<Store>>,
    /// The halls connected now.
    pub online: Arc<dyn Fn() -> BTreeSet<HallId> + Send + Sync>,
    /// The provisioning registry, for the nodes' last reports (when the cloud enrols nodes).
    pub registry: Option<PathBuf>,
    /// Where "now" comes from (which day each hall is on, how long since a hall was heard).
    pub clock: Arc<dyn onestop_model::clock::Clock>,
}

fn lock(store: &Mutex<Store>) -> std::sync::MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|e| e.into_inner())
}

/// The catalogue in the store (empty before one is published).
pub fn read_catalog(store: &Mutex<Store>) -> Result<Catalog, String> {
    lock(store).catalog().map(Option::unwrap_or_default).map_err(|e| e.to_string())
}

/// A hall's events on `day` (none before its first ticket or check-in).
pub fn read_day(store: &Mutex<Store>, hall: &HallId, on: Day) -> Result<Vec<DayEvent>, String> {
    lock(store).day_events(hall, on).map_err(|e| e.to_string())
}

/// The newest report of each hall's nodes in the registry (ms since 1970).
fn last_seen(registry: &onestop_provision::Registry) -> HashMap<HallId, i64> {
    let mut out: HashMap<HallId, i64> = HashMap::new();
    match registry.nodes() {
        Ok(nodes) => {
            for n in nodes {
                let Some(t) = n.last_seen.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()) else {
                    continue;
                };
                let ms = t.as_millis() as i64;
                let e = out.entry(n.hall.clone()).or_insert(ms);
                *e = (*e).max(ms);
            }
        }
        Err(error) => tracing::warn!(message = "Cannot read the node inventory.", %error),
    }
    out
}

/// The refresher's memory between rounds.
struct Refresher {
    cache: Cache,
    sources: Sources,
    registry: Option<onestop_provision::Registry>,
    versions: u64,
}

impl Refresher {
    /// Liveness now: connected halls and the registry's last reports.
    fn liveness(&mut self) -> (BTreeSet<HallId>, HashMap<HallId, i64>) {
        let online = (self.sources.online)();
        if self.registry.is_none()
            && let Some(path) = &self.sources.registry
            && path.exists()
        {
            match onestop_provision::Registry::open(path) {
                Ok(r) => self.registry = Some(r),
                Err(error) => tracing::warn!(message = "Cannot open the node inventory.", %error),
            }
        }
        let seen = self.registry.as_ref().map(last_seen).unwrap_or_default();
        (online, seen)
    }

    /// Rebuilds `only` (every hall when `None`, re-reading the catalogue).
    fn rebuild(&mut self, only: Option<&BTreeSet<HallId>>) {
        let old = self.cache.get();
        let catalog = if only.is_none() || old.catalog.halls.is_empty() {
            match read_catalog(&self.sources.store) {
                Ok(c) => Arc::new(c),
                Err(error) => {
                    tracing::warn!(message = "Cannot read the catalogue; the website shows the last one.", %error);
                    old.catalog.clone()
                }
            }
        } else {
            old.catalog.clone()
        };
        let (online, seen) = self.liveness();
        let now = self.sources.clock.now();
        let mut halls = BTreeMap::new();
        for (id, h) in &catalog.halls {
            let wanted = only.is_none_or(|o| o.contains(id)) || !old.halls.contains_key(id);
            if !wanted {
                if let Some(live) = old.halls.get(id) {
                    halls.insert(id.clone(), live.clone());
                }
                continue;
            }
            let today = now.day(h.utc_offset_minutes);
            let heard = Heard {
                online: online.contains(id),
                last_event_ms: None,
                last_seen_ms: seen.get(id).copied(),
            };
            self.versions += 1;
            let built = read_day(&self.sources.store, id, today)
                .and_then(|events| HallLive::build(&catalog, id, today, &events, now, heard, self.versions));
            match built {
                Ok(live) => {
                    halls.insert(id.clone(), Arc::new(live));
                }
                Err(error) => {
                    tracing::warn!(message = "Cannot show a hall's day; the website shows the last view.", hall = %id, %error);
                    if let Some(live) = old.halls.get(id) {
                        halls.insert(id.clone(), live.clone());
                    }
                }
            }
        }
        self.cache.set(Site { catalog, halls });
    }

    /// Updates every hall's liveness (no replay); republishes only what changed.
    fn refresh_liveness(&mut self) {
        let old = self.cache.get();
        let (online, seen) = self.liveness();
        let now = self.sources.clock.now();
        let mut changed = false;
        let mut halls = old.halls.clone();
        for (id, live) in halls.iter_mut() {
            let is_online = online.contains(id);
            let last_seen = seen.get(id).copied();
            // An offline hall's "last heard N minutes ago" moves on with the clock.
            if is_online != live.heard.online || last_seen != live.heard.last_seen_ms || !is_online {
                *live = Arc::new(live.with_heard(is_online, last_seen, now));
                changed = true;
            }
        }
        if changed {
            self.cache.set(Site { catalog: old.catalog.clone(), halls });
        }
    }
}

/// Keeps `cache` up to date until `stop` turns true: a hall is rebuilt when `changes` reports
/// its day document (bursts are gathered into one rebuild), every hall when the catalogue
/// changes and once a minute; liveness is checked every few seconds.
pub async fn follow(
    cache: Cache,
    sources: Sources,
    mut changes: broadcast::Receiver<DocId>,
    mut stop: watch::Receiver<bool>,
    ready: Option<tokio::sync::oneshot::Sender<()>>,
) {
    let refresher = Arc::new(Mutex::new(Refresher { cache, sources, registry: None, versions: 0 }));
    let run = |only: Option<BTreeSet<HallId>>| {
        let r = refresher.clone();
        async move {
            let done = tokio::task::spawn_blocking(move || {
                let mut r = r.lock().unwrap_or_else(|e| e.into_inner());
                match only {
                    Some(o) if o.is_empty() => r.refresh_liveness(),
                    Some(o) => r.rebuild(Some(&o)),
                    None => r.rebuild(None),
                }
            })
            .await;
            if let Err(error) = done {
                tracing::warn!(message = "The website's refresh failed.", %error);
            }
        }
    };
    run(None).await;
    // The first cache is built: pages may be served (before, every hall looked unknown).
    if let Some(ready) = ready {
        let _ = ready.send(());
    }
    let mut all = tokio::time::interval(REBUILD_ALL);
    all.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    all.tick().await;
    let mut alive = tokio::time::interval(LIVENESS);
    alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pending = Pending { open: true, ..Pending::default() };
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = all.tick() => pending.everything = true,
            _ = alive.tick() => {
                run(Some(BTreeSet::new())).await;
                continue;
            }
            change = changes.recv(), if pending.open => {
                pending.note(change);
                // Gather the rest of a burst (a busy hall sends a change per command).
                tokio::time::sleep(GATHER).await;
                loop {
                    match changes.try_recv() {
                        Ok(doc) => pending.note(Ok(doc)),
                        Err(broadcast::error::TryRecvError::Empty) => break,
                        Err(broadcast::error::TryRecvError::Lagged(n)) => {
                            pending.note(Err(broadcast::error::RecvError::Lagged(n)))
                        }
                        Err(broadcast::error::TryRecvError::Closed) => {
                            pending.open = false;
                            break;
                        }
                    }
                }
            }
        }
        if std::mem::take(&mut pending.everything) {
            pending.halls.clear();
            run(None).await;
        } else if !pending.halls.is_empty() {
            run(Some(std::mem::take(&mut pending.halls))).await;
        }
    }
}

/// Changes noted and not yet rebuilt.
#[derive(Default)]
struct Pending {
    halls: BTreeSet<HallId>,
    everything: bool,
    /// The change notices still come.
    open: bool,
}

impl Pending {
    fn note(&mut self, change: Result<DocId, broadcast::error::RecvError>) {
        match change {
            Ok(DocId::Day { hall, .. }) => {
                self.halls.insert(hall);
            }
            Ok(DocId::Catalog) | Err(broadcast::error::RecvError::Lagged(_)) => self.everything = true,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Closed) => self.open = false,
        }
    }
}
