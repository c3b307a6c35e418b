//! The sync link over QUIC (quinn + rustls): the edge dials the cloud, each connection runs
//! one [`Session`](onestop_protocol::session::Session) on one bidirectional stream, and local changes are
//! pushed as they happen. This is the IO shell around the sans-IO session.

pub mod enroll;
pub mod tls;

use automerge::ActorId;
use onestop_model::{Day, HallId, Timestamp};
use onestop_protocol::clock::{Clock, PeerTime};
use onestop_protocol::docid::DocId;
use onestop_protocol::session::{Docs, DocsError, Session, SessionEvent, Side};
use onestop_protocol::wire::{FrameReader, WireError};
use onestop_store::StoreDocs;
use onestop_store::{Store, StoreError};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
pub use tls::{ALPN, FloorTime, NodeIdentity, Revocations};
use tokio::sync::{broadcast, watch};

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("connection lost: {0}")]
    Connection(#[from] quinn::ConnectionError),
    #[error("read: {0}")]
    Read(#[from] quinn::ReadError),
    #[error("write: {0}")]
    Write(#[from] quinn::WriteError),
    #[error("bad frame: {0}")]
    Wire(#[from] WireError),
    #[error("sync session: {0}")]
    Session(#[from] onestop_protocol::session::SessionError),
    #[error("the peer is not a node: {0}")]
    Identity(String),
    /// This side's store failed (a full disk, an I/O error): the connection ends and is tried
    /// again later; nothing was refused.
    #[error("document store: {0}")]
    Store(#[from] StoreError),
}

impl LinkError {
    /// The store's error, when the link ended because this side's store failed (an incident
    /// on this side, not a network or a peer problem).
    pub fn store_error(&self) -> Option<&StoreError> {
        match self {
            LinkError::Store(e) => Some(e),
            LinkError::Session(e) => onestop_store::store_error(e),
            _ => None,
        }
    }
}

fn lock(store: &Mutex<Store>) -> std::sync::MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|e| e.into_inner())
}

async fn flush(
    session: &mut Session,
    send: &mut quinn::SendStream,
    traffic: &Traffic,
) -> Result<(), LinkError> {
    while let Some(frame) = session.poll_transmit() {
        let bytes = frame.encode();
        traffic.sent.fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
        send.write_all(&bytes).await?;
    }
    Ok(())
}

/// The two directions of the stream a session runs on.
struct Stream<'a> {
    send: &'a mut quinn::SendStream,
    recv: &'a mut quinn::RecvStream,
}

/// Runs `session` over one stream until the peer closes it or something fails (`on_event`
/// failing too: the session ends before anything more is sent).
#[allow(clippy::too_many_arguments)]
async fn drive(
    session: &mut Session,
    store: &Mutex<Store>,
    peer: &str,
    now: i64,
    stream: Stream<'_>,
    changes: &mut broadcast::Receiver<DocId>,
    traffic: &Traffic,
    mut on_event: impl FnMut(SessionEvent, &Mutex<Store>) -> Result<(), LinkError>,
) -> Result<(), LinkError> {
    let Stream { send, recv } = stream;
    let mut reader = FrameReader::new();
    let mut buf = vec![0u8; 64 * 1024];
    {
        let mut s = lock(store);
        session.open(&mut StoreDocs { store: &mut s, peer: peer.to_string() }, now)?;
    }
    flush(session, send, traffic).await?;
    // A safety net for changes nobody announced: every few seconds, offer what changed.
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                {
                    let mut s = lock(store);
                    // Another process may have written (a command run beside the link).
                    if let Err(error) = s.refresh() {
                        tracing::warn!(message = "Could not read what other processes wrote.", %error);
                    }
                    let mut docs = StoreDocs { store: &mut s, peer: peer.to_string() };
                    let ids = docs.store.list_docs()?;
                    for id in ids {
                        session.local_change(&mut docs, &id)?;
                    }
                }
                flush(session, send, traffic).await?;
            }
            read = recv.read(&mut buf) => {
                let Some(n) = read? else { return Ok(()) };
                traffic.received.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                reader.push(&buf[..n]);
                while let Some(frame) = reader.next_frame()? {
                    let events = {
                        let mut s = lock(store);
                        session.receive(&mut StoreDocs { store: &mut s, peer: peer.to_string() }, frame)?
                    };
                    for e in events {
                        on_event(e, store)?;
                    }
                }
                flush(session, send, traffic).await?;
            }
            change = changes.recv() => {
                let closed = {
                    let mut s = lock(store);
                    let mut docs = StoreDocs { store: &mut s, peer: peer.to_string() };
                    match change {
                        Ok(doc) => {
                            session.local_change(&mut docs, &doc)?;
                            false
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            // Missed notices: offer every document again.
                            let ids = docs.store.list_docs()?;
                            for id in ids {
                                session.local_change(&mut docs, &id)?;
                            }
                            false
                        }
                        Err(broadcast::error::RecvError::Closed) => true,
                    }
                };
                if closed {
                    return Ok(());
                }
                flush(session, send, traffic).await?;
            }
        }
    }
}

/// What the hall's pages and logs show about the link to the cloud.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkStatus {
    pub online: bool,
    /// When the link was last lost (ms since 1970), while offline.
    pub offline_since: Option<i64>,
    /// When changes last came from or went to the cloud.
    pub last_sync: Option<i64>,
    /// The last reason a connection failed or ended.
    pub last_error: Option<String>,
    /// The cloud's clock minus ours, from the last hello (ms).
    pub clock_offset_ms: Option<i64>,
    /// Changes made here that the cloud has not acknowledged yet.
    pub changes_waiting: usize,
    /// This node has held everything the cloud listed at a hello (since this link started,
    /// or ever: see [`CAUGHT_UP_META`]).
    pub caught_up: bool,
}

/// The store's bookkeeping key set once a node has caught up with the cloud.
pub const CAUGHT_UP_META: &str = "caught-up-with-cloud";

/// Frame bytes a link has sent and received, readable while it runs.
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    pub sent: Arc<std::sync::atomic::AtomicU64>,
    pub received: Arc<std::sync::atomic::AtomicU64>,
}

impl Traffic {
    pub fn sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }
    pub fn received(&self) -> u64 {
        self.received.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// How many changes this node made that `peer` has not acknowledged, judged from the
/// persisted sync states (the heads both sides are known to share).
pub fn changes_waiting(store: &mut Store, peer: &str, hall: &HallId) -> usize {
    waiting_by_doc(store, peer, hall).values().sum()
}

/// [`changes_waiting`] for each document held.
fn waiting_by_doc(store: &mut Store, peer: &str, hall: &HallId) -> BTreeMap<DocId, usize> {
    let held = match (StoreDocs { store: &mut *store, peer: peer.to_string() })
        .held(&Side::Edge { hall: hall.clone() })
    {
        Ok(held) => held,
        Err(error) => {
            // A figure for the status page: the link itself reports the store's failure.
            tracing::warn!(message = "Cannot count the changes waiting for the cloud.", %error);
            Vec::new()
        }
    };
    held.into_iter().map(|d| (d.id.clone(), waiting_in(store, peer, &d.id))).collect()
}

/// This node's changes to `id` the cloud has not acknowledged (by the persisted shared heads).
fn waiting_in(store: &mut Store, peer: &str, id: &DocId) -> usize {
    let own = store.actor().clone();
    let mut docs = StoreDocs { store, peer: peer.to_string() };
    let mut shared = docs.load_state(id).map(|s| s.shared_heads).unwrap_or_default();
    let Ok(Some(mut heads)) = docs.heads(id) else { return 0 };
    shared.sort();
    heads.sort();
    if shared == heads {
        // In step with the cloud: nothing waits (and nothing needs loading to say so).
        return 0;
    }
    match docs.store.doc(id) {
        Ok(Some(doc)) => doc.get_changes_meta(&shared).iter().filter(|c| *c.actor == own).count(),
        _ => 0,
    }
}

/// The edge's side of the link: dials the cloud, keeps the session going, reconnects with
/// capped exponential backoff and jitter.
pub struct EdgeLink {
    pub endpoint: quinn::Endpoint,
    pub client: quinn::ClientConfig,
    pub cloud: SocketAddr,
    /// The name in the cloud's certificate.
    pub server_name: String,
    pub hall: HallId,
    pub store: Arc<Mutex<Store>>,
    /// Notices of local changes (the node sends the document id after each write).
    pub changes: broadcast::Sender<DocId>,
    pub status: watch::Sender<LinkStatus>,
    /// The time source of `client`'s certificate checks (the same instance): raised to the
    /// node's last known time at start and to the cloud's time on every hello.
    pub time: FloorTime,
    /// Bytes moved so far.
    pub traffic: Traffic,
    /// Backoff bounds.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// The node's wall clock (the link's status times, the hello's clock comparison).
    pub clock: Arc<dyn Clock>,
}

impl EdgeLink {
    /// Runs until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        // After a reboot the Pi's clock may read 1970: certificates are judged by a time that
        // never goes before the last one this node knew (its hybrid logical clock).
        self.time.raise((lock(&self.store).last_stamp().physical.max(0) / 1000) as u64);
        let mut backoff = self.backoff_min;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let result = tokio::select! {
                r = self.connect_once(&mut backoff) => r,
                _ = shutdown.changed() => return,
            };
            let reason = match &result {
                Ok(()) => "the cloud closed the connection".to_string(),
                Err(e) => e.to_string(),
            };
            if let Some(error) = result.as_ref().err().and_then(LinkError::store_error) {
                // Not the network: this node's own store (a full disk, an I/O error).
                tracing::error!(message = "Link to the cloud down: this node's store failed.", hall = %self.hall, %error);
            } else {
                tracing::info!(message = "Link to the cloud down.", hall = %self.hall, reason = %reason);
            }
            let waiting = changes_waiting(&mut lock(&self.store), "cloud", &self.hall);
            self.status.send_modify(|s| {
                if s.online || s.offline_since.is_none() {
                    s.offline_since = Some(self.clock.now().0);
                }
                s.online = false;
                s.last_error = Some(reason);
                s.changes_waiting = waiting;
            });
            let wait = jitter(backoff);
            backoff = (backoff * 2).min(self.backoff_max);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    async fn connect_once(&self, backoff: &mut Duration) -> Result<(), LinkError> {
        let conn = self
            .endpoint
            .connect_with(self.client.clone(), self.cloud, &self.server_name)
            .map_err(|e| LinkError::Connect(e.to_string()))?
            .await?;
        let (mut send, mut recv) = conn.open_bi().await?;
        let actor = lock(&self.store).actor().clone();
        let mut session = Session::new(Side::Edge { hall: self.hall.clone() }, actor, None);
        let mut changes = self.changes.subscribe();
        let status = self.status.clone();
        // What waits, per document: an acknowledgement recounts its own document only (a
        // large exchange acknowledges document after document).
        let mut waiting = waiting_by_doc(&mut lock(&self.store), "cloud", &self.hall);
        let clock = self.clock.clone();
        let result = drive(
            &mut session,
            &self.store,
            "cloud",
            clock.now().0,
            Stream { send: &mut send, recv: &mut recv },
            &mut changes,
            &self.traffic,
            |e, store| {
                match e {
                    SessionEvent::Greeted { peer_time_ms, .. } => {
                        // The cloud's time may confirm or carry the node's clock, within its
                        // bounds; a cloud whose clock is wrong moves nothing here.
                        let verdict = clock.offer_peer_time(Timestamp(peer_time_ms));
                        let local = clock.now().0;
                        if verdict == PeerTime::Ignored && (peer_time_ms - local).abs() > 5 * 60_000 {
                            tracing::warn!(
                                message = "The cloud's clock disagrees with ours; not taken.",
                                cloud_ms = peer_time_ms,
                                ours_ms = local
                            );
                        }
                        status.send_modify(|s| {
                            s.online = true;
                            s.offline_since = None;
                            s.clock_offset_ms = Some(peer_time_ms - local);
                        });
                    }
                    SessionEvent::Applied { .. } => status.send_modify(|s| s.last_sync = Some(clock.now().0)),
                    SessionEvent::CaughtUp => {
                        lock(store).put_meta(CAUGHT_UP_META, b"1")?;
                        status.send_modify(|s| s.caught_up = true);
                    }
                    SessionEvent::Acknowledged { doc } => {
                        waiting.insert(doc.clone(), waiting_in(&mut lock(store), "cloud", &doc));
                        let total = waiting.values().sum();
                        status.send_modify(|s| {
                            s.last_sync = Some(clock.now().0);
                            s.changes_waiting = total;
                        });
                    }
                    SessionEvent::Refused { doc, reason, .. } => {
                        tracing::warn!(message = "The cloud refused changes.", doc = %doc, reason = %reason);
                        status.send_modify(|s| s.last_error = Some(format!("{doc}: {reason}")));
                    }
                }
                Ok(())
            },
        )
        .await;
        if session.is_greeted() {
            // The link worked: start the next wait from the bottom.
            *backoff = self.backoff_min;
        }
        let waiting = changes_waiting(&mut lock(&self.store), "cloud", &self.hall);
        self.status.send_modify(|s| s.changes_waiting = waiting);
        result
    }
}

/// Up to ±50% of `d`, so halls that lost the link together do not return together.
fn jitter(d: Duration) -> Duration {
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    let f = 0.5 + f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX);
    d.mul_f64(f)
}

/// The cloud's side: accepts nodes, runs a session each, closes revoked nodes' connections.
pub struct CloudSync {
    pub store: Arc<Mutex<Store>>,
    /// Notices of changes to any document (applied from a node, or made in the back office).
    pub changes: broadcast::Sender<DocId>,
    pub revocations: Revocations,
    connections: Mutex<HashMap<String, Vec<quinn::Connection>>>,
    /// Sync sessions running now, per hall.
    sessions: Arc<Mutex<HashMap<HallId, usize>>>,
    enroller: Option<Arc<dyn enroll::Enroller>>,
    /// The cloud's wall clock (what a node is offered, the hello's time).
    clock: Arc<dyn Clock>,
    /// What each node has sent today, against its quotas.
    usage: Arc<Mutex<HashMap<String, Usage>>>,
}

/// How much a node may send in a (UTC) day, across its sessions: a hall's day document, its
/// cases and a backlog of two months fit many times over; a node sending more is refused
/// (each refusal an incident in the inventory) until the next day.
pub const NEW_DOCS_PER_DAY: u64 = 200;
/// See [`NEW_DOCS_PER_DAY`]: 256 MiB of sync messages bringing changes.
pub const BYTES_PER_DAY: u64 = 256 << 20;

/// A node's sending today.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    day: i64,
    new_docs: u64,
    bytes: u64,
}

/// One node's quotas, shared by its sessions.
struct NodeQuota {
    node: String,
    usage: Arc<Mutex<HashMap<String, Usage>>>,
    clock: Arc<dyn Clock>,
}

impl onestop_protocol::session::Quota for NodeQuota {
    fn admit(&mut self, _doc: &DocId, new_doc: bool, bytes: u64) -> Result<(), String> {
        let day = self.clock.now().0.div_euclid(86_400_000);
        let mut all = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        let u = all.entry(self.node.clone()).or_default();
        if u.day != day {
            *u = Usage { day, ..Usage::default() };
        }
        if new_doc && u.new_docs >= NEW_DOCS_PER_DAY {
            return Err(format!(
                "node {} has created {NEW_DOCS_PER_DAY} documents today, its quota",
                self.node
            ));
        }
        if u.bytes.saturating_add(bytes) > BYTES_PER_DAY {
            return Err(format!("node {} has sent {} MiB today, its quota", self.node, u.bytes >> 20));
        }
        u.new_docs += u64::from(new_doc);
        u.bytes += bytes;
        Ok(())
    }
}

/// Counts a hall's running session until dropped.
struct SessionGuard {
    sessions: Arc<Mutex<HashMap<HallId, usize>>>,
    hall: HallId,
}

impl SessionGuard {
    fn new(sessions: &Arc<Mutex<HashMap<HallId, usize>>>, hall: &HallId) -> SessionGuard {
        *sessions.lock().unwrap_or_else(|e| e.into_inner()).entry(hall.clone()).or_default() += 1;
        SessionGuard { sessions: sessions.clone(), hall: hall.clone() }
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = s.get_mut(&self.hall) {
            *n -= 1;
            if *n == 0 {
                s.remove(&self.hall);
            }
        }
    }
}

impl CloudSync {
    /// The clock this listener reads (the system's unless told).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> CloudSync {
        self.clock = clock;
        self
    }

    pub fn new(
        store: Arc<Mutex<Store>>,
        changes: broadcast::Sender<DocId>,
        revocations: Revocations,
    ) -> CloudSync {
        CloudSync {
            store,
            changes,
            revocations,
            connections: Mutex::new(HashMap::new()),
            sessions: Arc::default(),
            enroller: None,
            clock: Arc::new(onestop_protocol::clock::SystemClock),
            usage: Arc::default(),
        }
    }

    /// The halls with a node connected and syncing now.
    pub fn halls_online(&self) -> BTreeSet<HallId> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect()
    }

    /// Answers enrolment requests (ALPN `onestop-enroll/1`) with `enroller`; without one, they
    /// are refused.
    pub fn with_enroller(mut self, enroller: Arc<dyn enroll::Enroller>) -> CloudSync {
        self.enroller = Some(enroller);
        self
    }

    /// The QUIC server configuration for this cloud: its TLS check consults this cloud's
    /// revocations, so a revoked node is refused at the next handshake.
    pub fn server_config(
        &self,
        ca: &rustls::pki_types::CertificateDer<'static>,
        chain: Vec<rustls::pki_types::CertificateDer<'static>>,
        key: rustls::pki_types::PrivateKeyDer<'static>,
    ) -> Result<quinn::ServerConfig, tls::TlsError> {
        tls::server_config(ca, chain, key, self.revocations.clone(), tls::FloorTime::new(self.clock.clone()))
    }

    /// Refuses the node from now on and closes its open connections.
    pub fn revoke(&self, node: &str) {
        self.revocations.revoke(node);
        let conns =
            self.connections.lock().unwrap_or_else(|e| e.into_inner()).remove(node).unwrap_or_default();
        for c in conns {
            c.close(quinn::VarInt::from_u32(403), b"revoked");
        }
        tracing::warn!(message = "Node revoked.", node = %node);
    }

    /// Accepts connections until `shutdown` turns true.
    pub async fn serve(self: Arc<Self>, endpoint: quinn::Endpoint, mut shutdown: watch::Receiver<bool>) {
        loop {
            let incoming = tokio::select! {
                i = endpoint.accept() => i,
                _ = shutdown.changed() => return,
            };
            let Some(incoming) = incoming else { return };
            let me = self.clone();
            tokio::spawn(async move {
                match me.handle(incoming).await {
                    Err(error) if error.store_error().is_some() => {
                        tracing::error!(message = "Node connection ended: the cloud's store failed.", %error)
                    }
                    Err(error) => tracing::info!(message = "Node connection ended.", %error),
                    Ok(()) => {}
                }
            });
        }
    }

    async fn handle(&self, incoming: quinn::Incoming) -> Result<(), LinkError> {
        let conn = incoming.await?;
        let alpn = conn
            .handshake_data()
            .and_then(|h| h.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
            .and_then(|h| h.protocol);
        let certs = conn
            .peer_identity()
            .and_then(|i| i.downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>().ok());
        let peer = certs.as_ref().and_then(|certs| certs.first().map(|c| tls::identity_of(c)));
        // The device behind the certificate (its key, made on the device): a re-flashed Pi
        // approved by IT under the same name is another device.
        let device = certs
            .as_ref()
            .and_then(|certs| certs.first())
            .and_then(|c| onestop_credentials::DeviceId::of_certificate(c).ok())
            .map(|d| d.as_str().to_string());
        if alpn.as_deref() == Some(enroll::ALPN) {
            let Some(enroller) = self.enroller.clone() else {
                conn.close(quinn::VarInt::from_u32(404), b"this cloud does not enrol nodes");
                return Err(LinkError::Identity("enrolment is not offered here".into()));
            };
            enroll::answer(conn, enroller, peer.and_then(Result::ok)).await;
            return Ok(());
        }
        let id = match peer {
            Some(Ok(id)) => id,
            Some(Err(e)) => {
                conn.close(quinn::VarInt::from_u32(403), e.as_bytes());
                return Err(LinkError::Identity(e));
            }
            None => {
                conn.close(quinn::VarInt::from_u32(403), b"peer sent no certificates");
                return Err(LinkError::Identity("no client certificate".into()));
            }
        };
        if self.revocations.is_revoked(&id.node) {
            conn.close(quinn::VarInt::from_u32(403), b"revoked");
            return Err(LinkError::Identity(format!("node {} is revoked", id.node)));
        }
        if let Some(e) = self.enroller.clone() {
            let id = id.clone();
            tokio::task::spawn_blocking(move || e.seen(&id));
        }
        self.connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id.node.clone())
            .or_default()
            .push(conn.clone());
        let (mut send, mut recv) = conn.accept_bi().await?;
        let _online = SessionGuard::new(&self.sessions, &id.hall);
        let device = device.unwrap_or_default();
        let (actor, bound) = {
            let s = lock(&self.store);
            (s.actor().clone(), binding_for(&s, &id.node, &device))
        };
        // Without the record of the node's actors, its hello cannot be checked.
        let bound = match bound {
            Ok(b) => b,
            Err(LinkError::Identity(why)) => {
                conn.close(quinn::VarInt::from_u32(403), why.as_bytes());
                return Err(LinkError::Identity(why));
            }
            Err(e) => {
                conn.close(quinn::VarInt::from_u32(STORE_FAILED), b"the cloud cannot read its store");
                return Err(e);
            }
        };
        let former = former_actors(&lock(&self.store));
        let side = Side::Cloud { node: id.node.clone(), hall: id.hall.clone() };
        // Offer a node what is current: not years of its hall's history. From the day before
        // the earliest business day any time zone can be on now (UTC-12), so a campus
        // anywhere gets its yesterday and today.
        let now = self.clock.now();
        let yesterday = Day::from_days_since_epoch(now.day(-720).days_since_epoch() - 1);
        let mut session = Session::new(side, actor, bound).offer_from(yesterday);
        let mut changes = self.changes.subscribe();
        let changes_tx = self.changes.clone();
        let node = id.node.clone();
        let traffic = Traffic::default();
        let clock = self.clock.clone();
        let enroller = self.enroller.clone();
        let quota = NodeQuota { node: id.node.clone(), usage: self.usage.clone(), clock: self.clock.clone() };
        session = session.with_quota(Box::new(quota)).with_former_actors(former);
        let stream = Stream { send: &mut send, recv: &mut recv };
        let result = drive(&mut session, &self.store, &id.node, now.0, stream, &mut changes, &traffic, |e, store| {
            match e {
                // A node's first hello binds its actor; an actor of another node ends the
                // session before anything is answered.
                SessionEvent::Greeted { peer_actor, peer_time_ms } => {
                    bind_actor(&mut lock(store), &node, &device, &peer_actor)?;
                    // A hall's time may confirm a jump of the cloud's own clock.
                    if clock.offer_peer_time(Timestamp(peer_time_ms)) == PeerTime::Confirmed {
                        tracing::debug!(message = "A hall confirmed the cloud's clock.", node = %node);
                    }
                }
                SessionEvent::Applied { doc } => {
                    let _ = changes_tx.send(doc);
                }
                SessionEvent::Refused { doc, reason, by_peer: false } => {
                    tracing::warn!(message = "Refused a node's changes.", node = %node, doc = %doc, reason = %reason);
                    if let Some(e) = enroller.clone() {
                        let (node, what) = (node.clone(), format!("{doc}: {reason}"));
                        tokio::task::spawn_blocking(move || e.incident(&node, &what));
                    }
                }
                SessionEvent::Refused { .. } | SessionEvent::Acknowledged { .. } | SessionEvent::CaughtUp => {}
            }
            Ok(())
        })
        .await;
        // This connection is over: forget it (only live connections are kept for revocation).
        {
            let mut conns = self.connections.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(list) = conns.get_mut(&id.node) {
                list.retain(|c| c.stable_id() != conn.stable_id());
                if list.is_empty() {
                    conns.remove(&id.node);
                }
            }
        }
        match &result {
            Err(LinkError::Identity(why)) => conn.close(quinn::VarInt::from_u32(403), why.as_bytes()),
            Err(e) if e.store_error().is_some() => conn
                .close(quinn::VarInt::from_u32(STORE_FAILED), b"the cloud cannot save now; try again later"),
            _ => {}
        }
        result
    }
}

/// The close code of a connection the cloud ends because its own store failed (the node tries
/// again later; it did nothing wrong).
const STORE_FAILED: u32 = 500;

fn actor_key(node: &str) -> String {
    format!("actor-of-node:{node}")
}

/// The store's bookkeeping key listing the cloud's actors before it was restored from a
/// backup (16 bytes each; `onestop-cloud restore` appends).
pub const FORMER_ACTORS_META: &str = "former-actors";

/// The cloud's former actors (none if unreadable: their changes are then refused, as any).
fn former_actors(store: &Store) -> Vec<ActorId> {
    store
        .get_meta(FORMER_ACTORS_META)
        .ok()
        .flatten()
        .map(|raw| raw.chunks_exact(16).map(ActorId::from).collect())
        .unwrap_or_default()
}

fn device_key(node: &str) -> String {
    format!("device-of-node:{node}")
}

fn retired_key(node: &str) -> String {
    format!("retired-devices-of-node:{node}")
}

/// The actors bound to a node (`None` before its first hello). A store that cannot say is an
/// error, never "none bound": that would let any actor in.
fn bound_actors(store: &Store, node: &str) -> Result<Option<BTreeSet<ActorId>>, StoreError> {
    Ok(store.get_meta(&actor_key(node))?.map(|raw| raw.chunks(16).map(ActorId::from).collect()))
}

/// The devices a node had before IT approved a replacement: never again this node.
fn retired_devices(store: &Store, node: &str) -> Result<Vec<String>, StoreError> {
    let raw = store.get_meta(&retired_key(node))?.unwrap_or_default();
    Ok(String::from_utf8_lossy(&raw).split('\n').filter(|d| !d.is_empty()).map(str::to_string).collect())
}

/// What a connecting node's hello is checked against before [`bind_actor`] decides: a device
/// replaced since is refused ([`LinkError::Identity`]); any other device's hello is bound at
/// the hello (`None`).
fn binding_for(store: &Store, node: &str, device: &str) -> Result<Option<BTreeSet<ActorId>>, LinkError> {
    if !device.is_empty() && retired_devices(store, node)?.iter().any(|d| d == device) {
        return Err(LinkError::Identity(format!(
            "device {device} was replaced as node {node}: it may not sync any more"
        )));
    }
    Ok(None)
}

/// Binds a node's declared actor on its hello, before anything of the session is applied.
/// The cloud's own actor and an actor bound to another node are refused
/// ([`LinkError::Identity`]). A new actor of the node (a store begun anew on its device after
/// a damaged one was set aside, or a new device, a re-flashed Pi IT approved) replaces the
/// bound one; the old actors stay the node's (nobody else may claim them) and a replaced device
/// is retired. A store that fails is [`LinkError::Store`].
fn bind_actor(store: &mut Store, node: &str, device: &str, actor: &[u8]) -> Result<(), LinkError> {
    let id = ActorId::from(actor);
    if actor.len() != 16 {
        return Err(LinkError::Identity(format!("an actor id of {} bytes (16 expected)", actor.len())));
    }
    if id == *store.actor() {
        return Err(LinkError::Identity(format!("actor {id} is the cloud's own")));
    }
    let owner_key = format!("node-of-actor:{id}");
    let owned = match store.get_meta(&owner_key)? {
        Some(owner) if owner != node.as_bytes() => {
            return Err(LinkError::Identity(format!("actor {id} already belongs to another node")));
        }
        Some(_) => true,
        None => false,
    };
    let known_device = store.get_meta(&device_key(node))?;
    let replaced = known_device.as_deref().is_some_and(|d| !device.is_empty() && d != device.as_bytes());
    if replaced {
        let old = String::from_utf8_lossy(known_device.as_deref().unwrap_or_default()).into_owned();
        let mut retired = retired_devices(store, node)?;
        retired.push(old.clone());
        store.put_meta(&retired_key(node), retired.join("\n").as_bytes())?;
        tracing::info!(message = "A replacement device of a node: the old device retired.", node, device, old_device = %old);
    }
    let bound = bound_actors(store, node)?.unwrap_or_default();
    if !bound.contains(&id) {
        if !bound.is_empty() {
            tracing::info!(message = "A node's new actor bound in place of its old one.", node, device, actor = %id);
        }
        store.put_meta(&actor_key(node), actor)?;
    }
    if !device.is_empty() && (replaced || known_device.is_none()) {
        store.put_meta(&device_key(node), device.as_bytes())?;
    }
    if !owned {
        store.put_meta(&owner_key, node.as_bytes())?;
    }
    Ok(())
}

/// For tests and tools: the documents a store holds for a hall's link, with heads.
pub fn held_heads(
    store: &mut Store,
    hall: &HallId,
) -> Result<Vec<onestop_protocol::wire::DocHeads>, DocsError> {
    StoreDocs { store, peer: String::new() }.held(&Side::Edge { hall: hall.clone() })
}

/// Resolves on Ctrl-C or SIGTERM: how the binaries know to stop cleanly.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use onestop_store::StoreFault;

    #[test]
    fn binding_tells_another_node_s_actor_from_a_store_that_cannot_save() {
        let mut store = Store::open_in_memory().unwrap();
        let (a, b) = ([0xA1u8; 16], [0xB2u8; 16]);
        assert_eq!(bound_actors(&store, "main-pi-1").unwrap(), None);
        bind_actor(&mut store, "main-pi-1", "DEV-A", &a).unwrap();
        assert_eq!(bound_actors(&store, "main-pi-1").unwrap(), Some([ActorId::from(a)].into()));
        // Another node declaring the same actor: a forged identity.
        let e = bind_actor(&mut store, "east-pi-1", "DEV-E", &a).unwrap_err();
        assert!(matches!(&e, LinkError::Identity(why) if why.contains("another node")), "{e}");
        assert!(e.store_error().is_none());
        // A full disk: the store's failure, not the node's fault; nothing is bound.
        store.simulate_full_disk(true).unwrap();
        let e = bind_actor(&mut store, "east-pi-1", "DEV-E", &b).unwrap_err();
        assert_eq!(e.store_error().map(StoreError::kind), Some(StoreFault::Full), "{e}");
        assert!(!matches!(e, LinkError::Identity(_)));
        store.simulate_full_disk(false).unwrap();
        assert_eq!(bound_actors(&store, "east-pi-1").unwrap(), None);
        bind_actor(&mut store, "east-pi-1", "DEV-E", &b).unwrap();
        assert_eq!(bound_actors(&store, "east-pi-1").unwrap(), Some([ActorId::from(b)].into()));
    }

    #[test]
    fn the_clouds_actor_is_reserved_and_a_replacement_device_rebinds() {
        let mut store = Store::open_in_memory().unwrap();
        let own = store.actor().to_bytes().to_vec();
        let e = bind_actor(&mut store, "main-pi-1", "DEV-A", &own).unwrap_err();
        assert!(matches!(&e, LinkError::Identity(why) if why.contains("cloud's own")), "{e}");
        let e = bind_actor(&mut store, "main-pi-1", "DEV-A", &[1u8; 32]).unwrap_err();
        assert!(matches!(&e, LinkError::Identity(why) if why.contains("32 bytes")), "{e}");
        assert_eq!(bound_actors(&store, "main-pi-1").unwrap(), None, "nothing bound");

        let (old, new) = ([0xA1u8; 16], [0xA2u8; 16]);
        bind_actor(&mut store, "main-pi-1", "DEV-A", &old).unwrap();
        assert_eq!(bound_actors(&store, "main-pi-1").unwrap(), Some([ActorId::from(old)].into()));
        // The same card's store set aside after damage: a new actor, bound in place of the old.
        let fresh = [0xA3u8; 16];
        bind_actor(&mut store, "main-pi-1", "DEV-A", &fresh).unwrap();
        assert_eq!(bound_actors(&store, "main-pi-1").unwrap(), Some([ActorId::from(fresh)].into()));
        // The Pi is re-flashed (a new key, so a new device) and IT approves it.
        assert_eq!(binding_for(&store, "main-pi-1", "DEV-B").unwrap(), None);
        bind_actor(&mut store, "main-pi-1", "DEV-B", &new).unwrap();
        assert_eq!(bound_actors(&store, "main-pi-1").unwrap(), Some([ActorId::from(new)].into()));
        // The old card, its certificate still valid, may not come back.
        let e = binding_for(&store, "main-pi-1", "DEV-A").unwrap_err();
        assert!(matches!(&e, LinkError::Identity(why) if why.contains("was replaced")), "{e}");
        // Its actor stays the node's: nobody else claims it.
        let e = bind_actor(&mut store, "east-pi-1", "DEV-E", &old).unwrap_err();
        assert!(matches!(&e, LinkError::Identity(why) if why.contains("another node")), "{e}");
    }
}
