//! A fault-injecting UDP proxy for QUIC on loopback: drop, delay, duplicate, reorder, cut.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;

/// The faults applied to every datagram, both ways. Change them while traffic flows.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Nothing gets through.
    pub cut: bool,
    /// Probability of losing a datagram.
    pub loss: f64,
    /// Probability of sending a datagram twice.
    pub duplicate: f64,
    /// Fixed delay added to every datagram.
    pub delay: Duration,
    /// Extra random delay up to this much, which reorders datagrams.
    pub jitter: Duration,
}

/// A running proxy: point the client at [`Proxy::addr`].
pub struct Proxy {
    pub addr: SocketAddr,
    faults: Arc<Mutex<Faults>>,
    back: Arc<UdpSocket>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Rng(u64);
impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Proxy {
    /// A proxy in front of `server`, on a free loopback port. Datagrams are bounded by the
    /// loopback MTU; the proxy stops when dropped.
    pub async fn start(server: SocketAddr, seed: u64) -> Proxy {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let back = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        back.connect(server).await.unwrap();
        let addr = front.local_addr().unwrap();
        let faults = Arc::new(Mutex::new(Faults::default()));
        let f = faults.clone();
        let back_handle = back.clone();
        let task = tokio::spawn(async move {
            let mut rng = Rng(seed | 1);
            let client: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
            let (mut a, mut b) = (vec![0u8; 65_536], vec![0u8; 65_536]);
            loop {
                // Which way, and the datagram.
                let (to_server, data) = tokio::select! {
                    r = front.recv_from(&mut a) => {
                        let Ok((n, from)) = r else { continue };
                        *client.lock().unwrap() = Some(from);
                        (true, a[..n].to_vec())
                    }
                    r = back.recv(&mut b) => {
                        let Ok(n) = r else { continue };
                        (false, b[..n].to_vec())
                    }
                };
                let faults = f.lock().unwrap().clone();
                if faults.cut || rng.unit() < faults.loss {
                    continue;
                }
                let copies = if rng.unit() < faults.duplicate { 2 } else { 1 };
                for _ in 0..copies {
                    let wait = faults.delay + faults.jitter.mul_f64(rng.unit());
                    let (front, back, client, data) =
                        (front.clone(), back.clone(), client.clone(), data.clone());
                    let send = async move {
                        if !wait.is_zero() {
                            tokio::time::sleep(wait).await;
                        }
                        if to_server {
                            let _ = back.send(&data).await;
                        } else {
                            let to = *client.lock().unwrap();
                            if let Some(c) = to {
                                let _ = front.send_to(&data, c).await;
                            }
                        }
                    };
                    if wait.is_zero() {
                        send.await;
                    } else {
                        tokio::spawn(send);
                    }
                }
            }
        });
        Proxy { addr, faults, back: back_handle, task }
    }

    /// Sends the traffic to another server address from now on (a restarted server).
    pub async fn set_server(&self, server: SocketAddr) {
        self.back.connect(server).await.unwrap();
    }

    /// Changes the faults from now on.
    pub fn set(&self, faults: Faults) {
        *self.faults.lock().unwrap() = faults;
    }

    pub fn cut(&self, cut: bool) {
        self.faults.lock().unwrap().cut = cut;
    }
}
