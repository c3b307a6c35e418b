//! The one way the cloud starts: [`start`] with its configuration and a clock, as
//! `onestop-cloud serve`, the demo and the tests all call it (the hall's `hall::run::start`
//! is its counterpart). It opens the store, serves the halls' sync link (and enrolment, when
//! the configuration has `[enroll]`), follows revocations, and serves the website, back office
//! and statistics with their cache and projector.

use crate::app::{self, AppState};
use crate::config::CloudConfig;
use crate::core::Core;
use crate::site::{Cache, Sources};
use anyhow::{Context, Result};
use onestop_link::{CloudSync, Revocations, tls};
use onestop_model::clock::{BoundedClock, Clock, TimeBounds};
use onestop_store::{Durability, Store};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// A running cloud: where it listens, its sync listener, and how to stop it.
pub struct Running {
    /// The halls' sync link (UDP, QUIC).
    pub sync_addr: SocketAddr,
    /// The website, when configured.
    pub web_addr: Option<SocketAddr>,
    pub sync: Arc<CloudSync>,
    /// The website's core, when the website runs.
    pub core: Option<Arc<Core>>,
    stop: watch::Sender<bool>,
    endpoint: quinn::Endpoint,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// `cloud.lock`, held shared while serving: `onestop-cloud restore` refuses meanwhile.
    _lock: std::fs::File,
}

impl Running {
    /// Stops serving and waits until every connection and page has finished.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        self.endpoint.close(quinn::VarInt::from_u32(0), b"shutting down");
        for t in self.tasks {
            let _ = t.await;
        }
        self.endpoint.wait_idle().await;
    }
}

/// What the cloud keeps loaded of its documents: today's documents of a campus's halls (a
/// day, its bookings and its month's cases each) fit many times over; older ones reload on use.
pub const DOCUMENT_CACHE: onestop_store::CacheLimit =
    onestop_store::CacheLimit { docs: 256, bytes: 64 << 20 };

/// The cloud's store in its data directory.
pub fn store_path(data: &Path) -> std::path::PathBuf {
    data.join("cloud.sqlite")
}

/// Starts the cloud described by `cfg`, on `clock`; returns once it is serving.
pub async fn start(cfg: CloudConfig, clock: Arc<dyn Clock>) -> Result<Running> {
    let files = tls::read_pem_files(&cfg.ca, &cfg.cert, &cfg.key)?;
    let data = cfg.data.clone();
    std::fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
    let lock = crate::backup::serving_lock(&data)?;
    let mut store = Store::open(&store_path(&data), Durability::Full)?;
    // Every hall-day the cloud receives would otherwise stay loaded for good.
    store.set_cache_limit(Some(DOCUMENT_CACHE));
    // The cloud's own clock is bounded like a hall's: a jump forward needs a hall's time to
    // confirm it, so a wrong clock here cannot carry every hall's bookings into another year.
    let floor = store.last_stamp().time();
    let clock: Arc<dyn Clock> = Arc::new(BoundedClock::new(clock, TimeBounds::default(), floor));
    let store = Arc::new(Mutex::new(store));
    let revocations = Revocations::default();
    for node in &cfg.revoked {
        revocations.revoke(node);
    }
    let desk = match &cfg.enroll {
        Some(e) => {
            let ca = onestop_provision::CampusCa::load(&e.ca, &cfg.passphrase(e)?)?;
            let registry = onestop_provision::Registry::open(&crate::registry_path(&data))?;
            Some(Arc::new(crate::enroll::Desk {
                ca,
                registry: Mutex::new(registry),
                visitor_key: crate::visitor_key(&data)?,
                lifetime: e.lifetime(),
                clock: clock.clone(),
            }))
        }
        None => None,
    };
    let (changes, _) = tokio::sync::broadcast::channel(4096);
    let mut sync = CloudSync::new(store, changes, revocations).with_clock(clock.clone());
    if let Some(desk) = &desk {
        sync = sync.with_enroller(desk.clone());
    }
    let sync = Arc::new(sync);
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    // Revocations made with `onestop-provision revoke` take effect at once.
    if desk.is_some() {
        tasks.push(tokio::spawn(crate::follow_revocations(
            sync.clone(),
            crate::registry_path(&data),
            stopped.clone(),
        )));
    }
    let mut web_addr = None;
    let mut core = None;
    if let Some(addr) = cfg.web {
        let (bound, c, task) =
            start_website(addr, &sync, &data, desk.is_some(), &cfg.trusted_proxies, clock, stopped.clone())
                .await?;
        web_addr = Some(bound);
        core = Some(c);
        tasks.push(task);
    }
    let server = sync.server_config(&files.ca, files.chain, files.key)?;
    let endpoint = quinn::Endpoint::server(server, cfg.listen)
        .with_context(|| format!("cannot listen on {} (UDP)", cfg.listen))?;
    let sync_addr = endpoint.local_addr()?;
    tracing::info!(message = "Serving the halls' sync link.", listen = %sync_addr);
    tasks.push(tokio::spawn(sync.clone().serve(endpoint.clone(), stopped)));
    Ok(Running { sync_addr, web_addr, sync, core, stop, endpoint, tasks, _lock: lock })
}

/// Starts the website on `addr`: the core, the cache it reads, the statistics' projector.
async fn start_website(
    addr: SocketAddr,
    sync: &Arc<CloudSync>,
    data: &Path,
    enrols: bool,
    trusted_proxies: &[std::net::IpAddr],
    clock: Arc<dyn Clock>,
    stopped: watch::Receiver<bool>,
) -> Result<(SocketAddr, Arc<Core>, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot serve the website on {addr} (TCP)"))?;
    let registry = enrols.then(|| crate::registry_path(data));
    let core = Arc::new(Core::open(
        data,
        sync.store.clone(),
        sync.changes.clone(),
        registry.clone(),
        clock.clone(),
    )?);
    // A cut between a booking's document and its office row leaves the row missing: put it
    // back from the documents (the truth) before anyone books.
    match crate::core::booking::reconcile_office(&core) {
        Ok((0, 0)) => {}
        Ok((added, removed)) => tracing::warn!(
            message = "Office booking rows put back in line with the documents.",
            added,
            removed
        ),
        Err(error) => {
            tracing::error!(message = "Cannot check the office's bookings against the documents.", %error)
        }
    }
    // Halls hold the booking key before they are ever offline.
    if let Err(error) = crate::core::booking::publish_key(&core) {
        tracing::warn!(message = "Cannot publish the booking key.", %error);
    }
    // Statistics: projected from the documents on their own thread as halls sync.
    let stats = crate::stats::StatsDb::file(crate::stats::project::stats_path(data))?;
    crate::stats::spawn_projector(core.clone(), stats.clone(), sync.changes.subscribe());
    let cache = Cache::default();
    let sources = Sources {
        store: sync.store.clone(),
        online: Arc::new({
            let sync = sync.clone();
            move || sync.halls_online()
        }),
        registry,
        clock,
    };
    // Pages are served once the first cache is built: before, every hall looked unknown (a
    // booking right after a restart was told there is no such hall).
    let (ready, built) = tokio::sync::oneshot::channel();
    tokio::spawn(crate::site::follow(
        cache.clone(),
        sources,
        sync.changes.subscribe(),
        stopped.clone(),
        Some(ready),
    ));
    let _ = built.await;
    let bound = listener.local_addr()?;
    tracing::info!(message = "Serving the public website.", web = %bound);
    let state = AppState { cache, core: core.clone(), stats, trusted_proxies: trusted_proxies.into() };
    let mut until = stopped;
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = until.wait_for(|s| *s).await;
        };
        if let Err(error) = app::serve(listener, state, shutdown).await {
            tracing::error!(message = "The website stopped.", %error);
        }
    });
    Ok((bound, core, task))
}
