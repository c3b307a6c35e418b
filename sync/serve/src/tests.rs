use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

async fn started(limits: Limits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new().route(
        "/",
        axum::routing::get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
            format!("hello {}", peer.ip())
        }),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, router, limits, async move {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// A connection from the loopback address `from` (127.0.0.x) to `to`.
async fn connect(from: [u8; 4], to: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((from, 0)))?;
    socket.connect(to).await
}

async fn get(from: [u8; 4], to: SocketAddr) -> String {
    let mut s = connect(from, to).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut out)).await.unwrap().unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_slow_connections_leave_the_others_served_and_are_closed_in_time() {
    let limits = Limits {
        header_read: Duration::from_secs(2),
        connections: 1024,
        per_client: 32,
        uncapped: Vec::new(),
    };
    let (addr, _stop) = started(limits).await;
    // A thousand connections from one address, each sending half a request and waiting.
    let mut slow = Vec::new();
    for _ in 0..1000 {
        let mut s = connect([127, 0, 0, 2], addr).await.unwrap();
        let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await;
        slow.push(s);
    }
    // Another client is served at once, and knows its own address.
    let answer = get([127, 0, 0, 1], addr).await;
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("hello 127.0.0.1"), "{answer}");
    // The slow ones are all closed: beyond the cap at once, the rest when their headers are late.
    let mut closed = 0;
    for s in &mut slow {
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            Ok(Ok(_)) | Ok(Err(_)) => closed += 1,
            Err(_) => {}
        }
    }
    assert_eq!(closed, 1000, "every slow connection is closed");
    // And the slow client's address is served again once they are gone.
    let answer = get([127, 0, 0, 2], addr).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn the_cap_in_all_holds_across_addresses() {
    let limits =
        Limits { header_read: Duration::from_secs(30), connections: 4, per_client: 4, uncapped: Vec::new() };
    let (addr, _stop) = started(limits).await;
    let mut held = Vec::new();
    for i in 0..4u8 {
        held.push(connect([127, 0, 0, 10 + i], addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A fifth is closed without an answer.
    let mut s = connect([127, 0, 0, 20], addr).await.unwrap();
    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await.unwrap();
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(get([127, 0, 0, 20], addr).await.starts_with("HTTP/1.1 200"));
}
