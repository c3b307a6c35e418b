//! `onestop-edge run`: the node at work. One core thread around the node, the devices, the
//! pages on the LAN, the link to the cloud; systemd readiness and watchdog; a clean stop that
//! loses nothing (every acknowledged command is already durable; the printer's queue is given
//! time to drain).

use crate::clock::{Clock, SystemClock};
use crate::hall::config::RunConfig;
use crate::hall::core::{Hall, Surroundings};
use crate::hall::devices;
use crate::hall::web::{self, Web};
use crate::node::{self, Node, NodeError};
use crate::nodedir;
use anyhow::{Context, Result};
use onestop_link::{EdgeLink, FloorTime, LinkStatus, Traffic, tls};
use onestop_protocol::DocId;
use onestop_protocol::secrets::VisitorKey;
use onestop_store::{Durability, Store};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// The link's state, as the hall's view shows it.
struct LinkWatch(Option<watch::Receiver<LinkStatus>>);

impl Surroundings for LinkWatch {
    fn online(&self) -> Option<bool> {
        self.0.as_ref().map(|s| s.borrow().online)
    }
}

/// A running hall: where its pages are, and how to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub hall: Hall,
    /// The node's store, shared with the core and the link (for tools and tests: a test makes
    /// its disk full through it).
    pub store: node::SharedStore,
    stop: watch::Sender<bool>,
    done: tokio::task::JoinHandle<Result<()>>,
}

impl Running {
    /// Stops everything and waits until it has stopped.
    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(true);
        self.done.await.context("the hall's task panicked")?
    }
}

/// Runs the hall until `shutdown` completes.
pub async fn run(config: RunConfig, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
    let running = start(config, Arc::new(SystemClock)).await?;
    notify(&[sd_notify::NotifyState::Ready]);
    let watchdog = start_watchdog(running.hall.clone());
    shutdown.await;
    tracing::info!(message = "Stopping.");
    notify(&[sd_notify::NotifyState::Stopping]);
    if let Some(w) = watchdog {
        w.abort();
    }
    running.stop().await
}

/// Starts the hall: returns once its pages are being served.
pub async fn start(config: RunConfig, clock: Arc<dyn Clock>) -> Result<Running> {
    let file = nodedir::read_node_toml(&config.data)?;
    let key = VisitorKey::from_hex(&file.visitor_key)
        .context("node.toml: visitor_key must be 64 hexadecimal digits")?;
    // A damaged store (a failing SD card) is found here, said plainly with what to do.
    let store = Store::open(&nodedir::store_path(&config.data), Durability::Full)
        .and_then(|s| s.check().map(|()| s))
        .map_err(|e| nodedir::explain_damage(&config.data, e.into()))?;
    // The node, its link and its pages run on one bounded clock (see `ClockConfig`).
    let clock: Arc<dyn Clock> = node::bounded_clock(clock, &store, config.clock.bounds());
    let store = node::share(store);
    for missing in config.missing_devices() {
        tracing::warn!(message = "A configured device is missing; the hall runs without it until it appears.", device = %missing);
    }
    let (stop, stopped) = watch::channel(false);
    // The link to the cloud, when the node has one.
    let (changes, _) = broadcast::channel::<DocId>(4096);
    let mut link_task = None;
    let mut link_status = None;
    if let Some(sync) = &file.sync {
        // Fail early on unreadable certificates; the supervisor reads them again on renewal.
        tls::read_pem_files(&sync.ca, &sync.cert, &sync.key)?;
        let (status_tx, status_rx) = watch::channel(LinkStatus::default());
        let link = LinkParts {
            data: config.data.clone(),
            hall: file.hall.clone(),
            sync: sync.clone(),
            store: store.clone(),
            changes: changes.clone(),
            status: status_tx,
            clock: clock.clone(),
        };
        link_task = Some(tokio::spawn(supervise_link(link, stopped.clone())));
        link_status = Some(status_rx);
    }
    // A new or replaced node (a re-flashed Pi: no day of its hall in its store, never caught
    // up with the cloud) takes today's record from the cloud before it numbers anything;
    // otherwise it would start again at 001 beside the numbers the old card gave out.
    if let Some(status) = &link_status
        && needs_restore(&store, &file.hall)
    {
        tracing::info!(message = "A new or replaced node: waiting for today's record from the cloud.");
        let mut status = status.clone();
        let caught_up = tokio::time::timeout(RESTORE_WAIT, status.wait_for(|s| s.caught_up)).await;
        if !matches!(caught_up, Ok(Ok(_))) {
            tracing::warn!(
                message = "The cloud did not give today's record in time: the hall opens on what it has (numbers may repeat those of a replaced card).",
                waited_s = RESTORE_WAIT.as_secs()
            );
        }
    }
    // The node: without a catalogue yet, wait for the cloud's.
    let mut node = loop {
        match Node::open(store.clone(), file.hall.clone(), Box::new(clock.clone()), key.clone()) {
            Ok(n) => break n,
            Err(NodeError::NoCatalog) if link_task.is_some() => {
                tracing::info!(message = "Waiting for the catalogue from the cloud.");
                tokio::time::sleep(Duration::from_secs(2)).await;
                if let Ok(mut s) = store.lock() {
                    let _ = s.refresh();
                }
            }
            Err(e) => return Err(nodedir::explain_damage(&config.data, e.into())),
        }
    };
    let tx = changes.clone();
    node.on_change(move |id| {
        let _ = tx.send(id.clone());
    });
    let catalog = node::load_catalog(&mut node.store())?;
    let hall_name = catalog.halls.get(&file.hall).map(|h| h.name.clone()).unwrap_or_default();
    let devs = devices::start(&config, &hall_name, node.engine().config().utc_offset_minutes, clock.clone())?;
    let surroundings = Box::new(LinkWatch(link_status.clone()));
    let (hall, core_thread) = Hall::start(node, devs.outputs, surroundings, Box::new(clock))?;
    let mut web_state = Web::new(hall.clone(), devs.control.clone());
    web_state.website = config.website.clone();
    web_state.managers = Arc::new(config.managers.clone());
    web_state.simulate = config.simulate;
    let keep = devs.keep;
    devices::route_inputs(devs.router, devs.inputs, hall.clone(), web_state.clone());
    // The cloud's inventory hears how this node is doing, every minute.
    if let Some(status) = link_status.clone() {
        tokio::spawn(report_loop(config.data.clone(), status, devs.control.clone(), stopped.clone()));
    }
    // The link's comings and goings reach the pages.
    if let Some(status) = link_status {
        let hall = hall.clone();
        tokio::spawn(follow_link(status, move |_| hall.refresh()));
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (is another program using it?)", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(message = "Hall pages served.", %addr, hall = %file.hall);
    let app = web::app(web_state);
    let mut web_stop = stopped.clone();
    // Strangers share the hall's LAN: headers in time, connections capped (per client too).
    let server =
        tokio::spawn(onestop_serve::serve(listener, app, onestop_serve::Limits::default(), async move {
            let _ = web_stop.wait_for(|s| *s).await;
        }));
    let hall2 = hall.clone();
    let done = tokio::spawn(async move {
        let mut stopped = stopped;
        let _ = stopped.wait_for(|s| *s).await;
        // Pages first (no new requests), then the core (finishes what it has), the devices
        // (the printer drains), the link (pushes what it can).
        let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        hall2.stop();
        let _ = tokio::task::spawn_blocking(move || core_thread.join()).await;
        tokio::task::spawn_blocking(move || drop(keep)).await.ok();
        if let Some(t) = link_task {
            let _ = tokio::time::timeout(Duration::from_secs(8), t).await;
        }
        tracing::info!(message = "Stopped.");
        Ok(())
    });
    Ok(Running { addr, hall, store, stop, done })
}

/// How long a new or replaced node waits for today's record from the cloud before it opens.
const RESTORE_WAIT: Duration = Duration::from_secs(60);

/// Whether the store has never caught up with the cloud and holds no day of `hall`.
fn needs_restore(store: &node::SharedStore, hall: &onestop_model::HallId) -> bool {
    let s = store.lock().unwrap_or_else(|e| e.into_inner());
    let caught_up = s.get_meta(onestop_link::CAUGHT_UP_META).ok().flatten().is_some();
    let has_days = s
        .list_docs()
        .map(|ids| ids.iter().any(|id| matches!(id, DocId::Day { hall: h, .. } if h == hall)))
        .unwrap_or(true);
    !caught_up && !has_days
}

/// The longest the renewal supervisor sleeps before it looks at the clock again.
const RENEWAL_RECHECK: Duration = Duration::from_secs(3600);

/// What the link to the cloud is made of.
struct LinkParts {
    data: std::path::PathBuf,
    hall: onestop_model::HallId,
    sync: nodedir::SyncFile,
    store: node::SharedStore,
    changes: broadcast::Sender<DocId>,
    status: watch::Sender<LinkStatus>,
    clock: Arc<dyn Clock>,
}

/// Runs the link to the cloud and renews the node's certificate at about two thirds of its
/// lifetime (with jitter); after a renewal the link restarts with the new certificate. An
/// expired certificate stops the link (the cloud refuses it), never the hall; the renewal by
/// the device key then brings it back.
async fn supervise_link(parts: LinkParts, mut stopped: watch::Receiver<bool>) {
    let jitter = {
        let mut b = [0u8; 2];
        let _ = getrandom::fill(&mut b);
        f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX)
    };
    let mut retry = Duration::from_secs(60);
    loop {
        let files = match tls::read_pem_files(&parts.sync.ca, &parts.sync.cert, &parts.sync.key) {
            Ok(f) => f,
            Err(error) => {
                tracing::error!(message = "The node's certificate cannot be read; no link.", %error);
                tokio::select! {
                    _ = until_stopped(&mut stopped) => return,
                    _ = tokio::time::sleep(Duration::from_secs(60)) => continue,
                }
            }
        };
        let time = FloorTime::new(parts.clock.clone());
        let client = match tls::client_config(&files.ca, files.chain, files.key, time.clone()) {
            Ok(c) => c,
            Err(error) => {
                tracing::error!(message = "The node's certificate cannot be used; no link.", %error);
                tokio::select! {
                    _ = until_stopped(&mut stopped) => return,
                    _ = tokio::time::sleep(Duration::from_secs(60)) => continue,
                }
            }
        };
        let endpoint = match "0.0.0.0:0"
            .parse()
            .map_err(anyhow::Error::from)
            .and_then(|a| Ok(quinn::Endpoint::client(a)?))
        {
            Ok(e) => e,
            Err(error) => {
                tracing::error!(message = "No UDP socket for the link.", %error);
                tokio::select! {
                    _ = until_stopped(&mut stopped) => return,
                    _ = tokio::time::sleep(Duration::from_secs(10)) => continue,
                }
            }
        };
        let (link_stop, link_stopped) = watch::channel(false);
        let link = EdgeLink {
            endpoint: endpoint.clone(),
            client,
            cloud: parts.sync.cloud,
            server_name: parts.sync.server_name.clone(),
            hall: parts.hall.clone(),
            store: parts.store.clone(),
            changes: parts.changes.clone(),
            status: parts.status.clone(),
            time,
            traffic: Traffic::default(),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            clock: parts.clock.clone(),
        };
        let task = tokio::spawn(link.run(link_stopped));
        // Until a renewal succeeds (or the node stops).
        let stop_link = |task: tokio::task::JoinHandle<()>| async move {
            let _ = link_stop.send(true);
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
            endpoint.close(quinn::VarInt::from_u32(0), b"node stopping");
            let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
        };
        loop {
            // Checked again at least hourly: the wall clock may have been wrong when it was
            // last computed (a Pi that boots behind would otherwise sleep past the expiry).
            let due = crate::enroll::renewal_due(&parts.sync.cert, jitter);
            let wait = due
                .map(|d| d.duration_since(parts.clock.now().to_system_time()).unwrap_or(Duration::ZERO))
                .unwrap_or(RENEWAL_RECHECK)
                .min(RENEWAL_RECHECK);
            if !wait.is_zero() {
                tokio::select! {
                    _ = until_stopped(&mut stopped) => {
                        stop_link(task).await;
                        return;
                    }
                    _ = tokio::time::sleep(wait) => {}
                }
                if let Some(d) = due
                    && parts.clock.now().to_system_time() < d
                {
                    continue;
                }
            }
            match crate::enroll::renew(&parts.data, parts.clock.now().to_system_time()).await {
                Ok(crate::enroll::Enrolled::Issued { .. }) => {
                    tracing::info!(message = "Certificate renewed; the link restarts with it.");
                    retry = Duration::from_secs(60);
                    break;
                }
                Ok(crate::enroll::Enrolled::Pending { device_id }) => {
                    tracing::warn!(message = "Renewal waits for IT's approval.", device = %device_id);
                }
                Err(error) => {
                    tracing::warn!(message = "Certificate renewal failed; trying again later.", %error)
                }
            }
            tokio::select! {
                _ = until_stopped(&mut stopped) => {
                    stop_link(task).await;
                    return;
                }
                _ = tokio::time::sleep(retry) => {}
            }
            retry = (retry * 2).min(Duration::from_secs(3600));
        }
        stop_link(task).await;
    }
}

/// Reports the node's state to the cloud's inventory every minute while it runs.
async fn report_loop(
    data: std::path::PathBuf,
    status: watch::Receiver<LinkStatus>,
    devices: Arc<dyn web::DeviceControl>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut wait = Duration::from_secs(5);
    loop {
        tokio::select! {
            _ = until_stopped(&mut stopped) => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = Duration::from_secs(60);
        let s = status.borrow().clone();
        if !s.online {
            continue;
        }
        let now_ms = SystemClock.now().0;
        let report = onestop_link::enroll::NodeReport {
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
            sync_lag_s: s.last_sync.map(|t| (now_ms - t).max(0) / 1000),
            clock_offset_ms: s.clock_offset_ms,
            printer: devices.health().into_iter().find(|(n, _)| n == "printer").map(|(_, t)| t),
            disk_free_mb: disk_free_mb(&data),
        };
        if let Err(error) = crate::enroll::report(&data, report).await {
            tracing::debug!(message = "The inventory report did not go through.", %error);
        }
    }
}

/// Free space where the node keeps its data, in MB.
fn disk_free_mb(path: &std::path::Path) -> Option<i64> {
    let st = rustix::fs::statvfs(path).ok()?;
    Some(i64::try_from(st.f_bavail.saturating_mul(st.f_frsize) / 1_048_576).unwrap_or(i64::MAX))
}

/// Returns once `stopped` turns true (or its sender is gone).
async fn until_stopped(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

/// Logs the link's comings and goings (and tells `changed`) until the link ends.
pub async fn follow_link(mut status: watch::Receiver<LinkStatus>, changed: impl Fn(bool)) {
    let mut online = None;
    while status.changed().await.is_ok() {
        let s = status.borrow_and_update().clone();
        if online == Some(s.online) {
            continue;
        }
        online = Some(s.online);
        if s.online {
            tracing::info!(message = "Online with the cloud.", clock_offset_ms = s.clock_offset_ms);
        } else {
            tracing::warn!(
                message = "Offline.",
                reason = s.last_error.as_deref().unwrap_or(""),
                changes_waiting = s.changes_waiting
            );
        }
        changed(s.online);
    }
}

fn notify(state: &[sd_notify::NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(state) {
        tracing::debug!(message = "No systemd notification.", %error);
    }
}

/// Pings systemd's watchdog while the core answers; a stuck core stops the pings and systemd
/// restarts the node.
fn start_watchdog(hall: Hall) -> Option<tokio::task::JoinHandle<()>> {
    let period = sd_notify::watchdog_enabled()? / 2;
    Some(tokio::spawn(async move {
        loop {
            tokio::time::sleep(period).await;
            if hall.alive(period).await {
                notify(&[sd_notify::NotifyState::Watchdog]);
            } else {
                tracing::error!(
                    message = "The hall core does not answer; the watchdog will restart the node."
                );
            }
        }
    }))
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
