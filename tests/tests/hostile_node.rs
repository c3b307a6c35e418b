//! An enrolled node that sends what no Onestop node sends, over the real link (quinn on
//! loopback, its own valid certificate): the cloud refuses it, keeps its memory, stores
//! nothing of it and stays whole for every other node.

use onestop_link::{FloorTime, tls};
use onestop_model::{Day, HallId};
use onestop_protocol::wire::{Frame, FrameReader, PROTOCOL_VERSION};
use onestop_protocol::{DocId, fixtures};
use onestop_tests::net::start_cloud;
use onestop_tests::pki::{Leaf, TestCa};
use std::net::SocketAddr;
use std::time::Duration;

/// A node's connection driven frame by frame.
struct Rogue {
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    reader: FrameReader,
    _conn: quinn::Connection,
}

impl Rogue {
    async fn connect(ca: &TestCa, leaf: &Leaf, cloud: SocketAddr) -> Rogue {
        let client =
            tls::client_config(&ca.cert, leaf.chain.clone(), leaf.key(), FloorTime::default()).unwrap();
        let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        let conn = endpoint.connect_with(client, cloud, "cloud.onestop.test").unwrap().await.unwrap();
        let (send, recv) = conn.open_bi().await.unwrap();
        Rogue { send, recv, reader: FrameReader::new(), _conn: conn }
    }

    async fn say(&mut self, frame: Frame) {
        self.send.write_all(&frame.encode()).await.unwrap();
    }

    async fn hello(&mut self, actor: Vec<u8>) {
        self.say(Frame::Hello { version: PROTOCOL_VERSION, time_ms: 0, actor, docs: Vec::new() }).await;
    }

    /// The next frame from the cloud that `pick` takes, within 20 s; `None` if the cloud
    /// closed the stream first.
    async fn until<T>(&mut self, mut pick: impl FnMut(Frame) -> Option<T>) -> Option<T> {
        let mut buf = vec![0u8; 64 * 1024];
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                while let Some(f) = self.reader.next_frame().unwrap() {
                    if let Some(t) = pick(f) {
                        return Some(t);
                    }
                }
                match self.recv.read(&mut buf).await {
                    Ok(Some(n)) => self.reader.push(&buf[..n]),
                    _ => return None,
                }
            }
        })
        .await
        .expect("the cloud answers within 20 s")
    }
}

fn day_id() -> DocId {
    DocId::Day { hall: HallId::new("main"), day: Day::new(2026, 11, 26).unwrap() }
}

/// The process's peak resident memory, in MiB.
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compression_bomb_and_a_forged_document_are_refused_and_nothing_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Campus CA");
    let cloud = start_cloud(&ca, dir.path());
    let bomb = fixtures::compression_bomb(256);
    assert!(bomb.len() < 1 << 20, "under a megabyte on the wire: {}", bomb.len());

    let leaf = ca.node("main", "main-pi-1");
    let mut rogue = Rogue::connect(&ca, &leaf, cloud.addr).await;
    rogue.hello(vec![0x42; 16]).await;
    assert!(rogue.until(|f| matches!(f, Frame::Hello { .. }).then_some(())).await.is_some());
    let before = peak_rss_mib();
    rogue.say(Frame::Sync { doc: day_id(), message: bomb }).await;
    let reason = rogue
        .until(|f| match f {
            Frame::Refused { doc, reason } if doc == day_id() => Some(reason),
            _ => None,
        })
        .await
        .expect("a refusal");
    assert!(reason.contains("inflates beyond"), "{reason}");
    let grew = peak_rss_mib().saturating_sub(before);
    assert!(grew < 32, "256 MiB inflated would show here; the cloud grew by {grew} MiB");
    assert!(cloud.store.lock().unwrap().doc(&day_id()).unwrap().is_none(), "nothing stored");

    // A whole document whose header states heads its body does not have: refused, and the
    // document is not left behind as a corrupt one.
    let mut doc = automerge::AutoCommit::new().with_actor(automerge::ActorId::from([0x42u8; 16]));
    automerge::transaction::Transactable::put(&mut doc, automerge::ROOT, "n", 1).unwrap();
    let saved = doc.save();
    let (forged, head) = fixtures::forged_whole_document(&saved);
    let message = automerge::sync::Message {
        heads: vec![head],
        need: Vec::new(),
        have: vec![automerge::sync::Have::default()],
        changes: vec![forged].into(),
        flags: None,
        version: automerge::sync::MessageVersion::V2,
    }
    .encode();
    let other = DocId::Day { hall: HallId::new("main"), day: Day::new(2026, 11, 27).unwrap() };
    rogue.say(Frame::Sync { doc: other.clone(), message }).await;
    let reason = rogue
        .until(|f| match f {
            Frame::Refused { doc, reason } if doc == other => Some(reason),
            _ => None,
        })
        .await
        .expect("a refusal");
    assert!(reason.contains("whole document"), "{reason}");
    let mut store = cloud.store.lock().unwrap();
    assert!(store.doc(&other).unwrap().is_none(), "not stored, so never corrupt");
    assert!(store.list_docs().unwrap().iter().all(|id| store.doc(id).is_ok()), "every document reads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clouds_actor_cannot_be_claimed() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Campus CA");
    let cloud = start_cloud(&ca, dir.path());
    let own = cloud.store.lock().unwrap().actor().to_bytes().to_vec();
    let mut rogue = Rogue::connect(&ca, &ca.node("main", "main-pi-1"), cloud.addr).await;
    rogue.hello(own).await;
    // The session ends: the cloud says no hello back and closes.
    assert!(rogue.until(|f| matches!(f, Frame::Hello { .. }).then_some(())).await.is_none());
    // Nothing was bound: the node's real actor still binds on its first real hello.
    let mut node = Rogue::connect(&ca, &ca.node("main", "main-pi-1"), cloud.addr).await;
    node.hello(vec![0x42; 16]).await;
    assert!(node.until(|f| matches!(f, Frame::Hello { .. }).then_some(())).await.is_some());
}
