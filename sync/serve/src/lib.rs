//! Serving pages where strangers share the network.
//!
//! A hall's LAN reaches every kiosk, TV and counter PC and often the visitors' Wi-Fi; the
//! campus website faces the campus. axum's own `serve` reads request headers for as long as a
//! client cares to send them and accepts every connection: a thousand slow connections made a
//! kiosk unreachable. [`serve`] is the same hyper HTTP/1.1 server with [`Limits`]: request
//! headers must arrive within a timeout, and open connections are capped overall and per
//! client address (a connection beyond a cap is closed at once, so one noisy client cannot
//! crowd out the others). Every request carries axum's `ConnectInfo<SocketAddr>`; connections
//! are set to `TCP_NODELAY` (a call event must not wait behind the view event before it); the
//! shutdown future stops accepting and lets open requests finish (at most five seconds).

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// What a server allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// A request's headers must arrive within this (the first request's from the connection's
    /// start, a later one's from its first byte).
    pub header_read: Duration,
    /// Open connections in all.
    pub connections: usize,
    /// Open connections from one client address.
    pub per_client: usize,
    /// Addresses held only to the cap in all (a reverse proxy in front, whose one address
    /// carries every visitor's connections).
    pub uncapped: Vec<IpAddr>,
}

impl Default for Limits {
    /// 10 s, 1,024 connections, 64 from one address (a browser opens six; a TV's events, a
    /// kiosk and a counter share a Pi's address only behind NAT).
    fn default() -> Limits {
        Limits {
            header_read: Duration::from_secs(10),
            connections: 1024,
            per_client: 64,
            uncapped: Vec::new(),
        }
    }
}

/// Open connections, in all and per client address.
#[derive(Default)]
struct Open {
    total: usize,
    by_client: HashMap<IpAddr, usize>,
}

/// A connection's place among the open ones, given back when it is dropped.
struct Place {
    open: Arc<Mutex<Open>>,
    client: IpAddr,
}

impl Place {
    fn take(open: &Arc<Mutex<Open>>, client: IpAddr, limits: &Limits) -> Option<Place> {
        let mut o = open.lock().unwrap_or_else(|e| e.into_inner());
        let mine = o.by_client.get(&client).copied().unwrap_or(0);
        if o.total >= limits.connections || (mine >= limits.per_client && !limits.uncapped.contains(&client))
        {
            return None;
        }
        o.total += 1;
        *o.by_client.entry(client).or_default() += 1;
        Some(Place { open: open.clone(), client })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut o = self.open.lock().unwrap_or_else(|e| e.into_inner());
        o.total = o.total.saturating_sub(1);
        if let Some(n) = o.by_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                o.by_client.remove(&self.client);
            }
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let open = Arc::new(Mutex::new(Open::default()));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut refused: u64 = 0;
    tokio::pin!(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(error) => {
                    // Out of file descriptors, or a connection gone before it was accepted:
                    // wait a moment instead of spinning.
                    tracing::warn!(message = "A connection could not be accepted.", %error);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Some(place) = Place::take(&open, remote.ip(), &limits) else {
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(message = "Connections refused: too many open.", client = %remote.ip(), refused);
            }
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let service =
            router.clone().map_request(move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(remote));
                req.map(axum::body::Body::new)
            });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read);
        let conn = builder.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(error) = conn.await {
                tracing::trace!(message = "A connection ended with an error.", %error);
            }
            drop(place);
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await.is_err() {
        tracing::info!(message = "Connections still open after five seconds; closing them.");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
