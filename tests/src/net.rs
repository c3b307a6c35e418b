//! A cloud and edges on loopback, as the QUIC tests start them.

use crate::pki::{Leaf, TestCa};
use onestop_link::{CloudSync, EdgeLink, FloorTime, LinkStatus, Revocations, Traffic, tls};
use onestop_model::HallId;
use onestop_protocol::DocId;
use onestop_store::{Durability, Store};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};

/// A cloud sync listener on a free loopback port.
pub struct Cloud {
    pub addr: SocketAddr,
    pub store: Arc<Mutex<Store>>,
    pub sync: Arc<CloudSync>,
    endpoint: quinn::Endpoint,
    _stop: watch::Sender<bool>,
}

impl Cloud {
    /// Stops listening and closes every connection (a crash or a restart of the cloud).
    pub async fn stop(self) {
        self.endpoint.close(quinn::VarInt::from_u32(0), b"restart");
        self.endpoint.wait_idle().await;
    }
}

/// Starts a cloud whose store is `path` (created if new).
pub fn start_cloud_at(ca: &TestCa, path: &Path) -> Cloud {
    let store = Arc::new(Mutex::new(Store::open(path, Durability::Normal).unwrap()));
    let (changes, _) = broadcast::channel(4096);
    let sync = Arc::new(CloudSync::new(store.clone(), changes, Revocations::default()));
    let leaf = ca.server("cloud.onestop.test");
    let cfg = sync.server_config(&ca.cert, leaf.chain.clone(), leaf.key()).unwrap();
    let endpoint = quinn::Endpoint::server(cfg, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = endpoint.local_addr().unwrap();
    let (stop, rx) = watch::channel(false);
    tokio::spawn(sync.clone().serve(endpoint.clone(), rx));
    Cloud { addr, store, sync, endpoint, _stop: stop }
}

/// Starts a cloud with its store in `dir/cloud.sqlite`.
pub fn start_cloud(ca: &TestCa, dir: &Path) -> Cloud {
    start_cloud_at(ca, &dir.join("cloud.sqlite"))
}

/// An edge's link to the cloud.
pub struct Edge {
    pub store: Arc<Mutex<Store>>,
    pub changes: broadcast::Sender<DocId>,
    pub status: watch::Receiver<LinkStatus>,
    pub traffic: Traffic,
    task: tokio::task::JoinHandle<()>,
    _stop: watch::Sender<bool>,
}

impl Edge {
    /// Ends the link at once, as a crash would (no goodbye to the cloud).
    pub fn kill(self) -> Arc<Mutex<Store>> {
        self.task.abort();
        self.store
    }
}

/// Starts an edge link for `hall` with the node certificate `leaf`, dialling `cloud`.
pub fn start_edge(ca: &TestCa, leaf: &Leaf, hall: &str, cloud: SocketAddr, store: Arc<Mutex<Store>>) -> Edge {
    let time = FloorTime::default();
    let client = tls::client_config(&ca.cert, leaf.chain.clone(), leaf.key(), time.clone()).unwrap();
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let (changes, _) = broadcast::channel(4096);
    let (status_tx, status) = watch::channel(LinkStatus::default());
    let traffic = Traffic::default();
    let link = EdgeLink {
        endpoint,
        client,
        cloud,
        server_name: "cloud.onestop.test".into(),
        hall: HallId::new(hall),
        store: store.clone(),
        changes: changes.clone(),
        status: status_tx,
        time,
        traffic: traffic.clone(),
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        clock: Arc::new(onestop_protocol::clock::SystemClock),
    };
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(link.run(rx));
    Edge { store, changes, status, traffic, task, _stop: stop }
}

/// A document's heads, sorted (empty if the store does not hold it).
pub fn heads(store: &Mutex<Store>, id: &DocId) -> Vec<automerge::ChangeHash> {
    let mut s = store.lock().unwrap();
    // The heads the store keeps beside the chunks: reading them loads nothing.
    let mut h = s.heads(id).unwrap().unwrap_or_default();
    h.sort();
    h
}

/// Do both stores hold every document of `a` with the same heads?
pub fn converged(a: &Mutex<Store>, b: &Mutex<Store>) -> bool {
    let ids = a.lock().unwrap().list_docs().unwrap();
    !ids.is_empty() && ids.iter().all(|id| heads(a, id) == heads(b, id))
}

/// Waits until `f` holds, failing the test after `limit`.
pub async fn eventually_within(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits up to 20 s until `f` holds.
pub async fn eventually(what: &str, f: impl FnMut() -> bool) {
    eventually_within(what, Duration::from_secs(20), f).await
}
