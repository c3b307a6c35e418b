//! A thousand slow connections from one machine on the hall's network: the kiosk still
//! answers everybody else (the real `onestop-edge run`).

use onestop_tests::hall::{HallProcess, get};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_slow_connections_do_not_take_the_kiosk_down() {
    let dir = tempfile::tempdir().unwrap();
    let hall = HallProcess::start(dir.path(), 2, "");
    let addr = hall.addr;
    // From 127.0.0.2: half a request each, then nothing.
    let mut slow = Vec::new();
    for _ in 0..1000 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from(([127, 0, 0, 2], 0))).unwrap();
        if let Ok(mut s) = socket.connect(addr).await {
            let _ = s.write_all(b"GET /kiosk HTTP/1.1\r\nHost: hall\r\n").await;
            slow.push(s);
        }
    }
    assert!(slow.len() >= 900, "the connections were made: {}", slow.len());
    // The kiosk, from another address, is served at once.
    let (status, page) = tokio::task::spawn_blocking(move || get(addr, "/kiosk").unwrap()).await.unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("取号"), "the kiosk's page");
    // The hall did not keep them: beyond the cap for one client they are closed at once, and
    // the rest once their headers are late (10 s).
    let closed = |slow: &mut Vec<tokio::net::TcpStream>, within: Duration| {
        let slow = std::mem::take(slow);
        async move {
            let mut open = Vec::new();
            for mut s in slow {
                let mut buf = [0u8; 64];
                match tokio::time::timeout(within, tokio::io::AsyncReadExt::read(&mut s, &mut buf)).await {
                    Ok(_) => {}
                    Err(_) => open.push(s),
                }
            }
            open
        }
    };
    let mut still_open = closed(&mut slow, Duration::from_millis(20)).await;
    assert!(still_open.len() <= 64, "{} slow connections kept", still_open.len());
    let still_open = closed(&mut still_open, Duration::from_secs(15)).await;
    assert!(still_open.is_empty(), "{} slow connections outlived the header timeout", still_open.len());
}
