//! Rate limits for the public forms that could be used to guess or to flood: case-progress
//! lookups (per client and per case number) and new questions (per client).
//!
//! [`Limiter`] is a sliding window over the last hits of each key, with the time passed in:
//! no clock, no IO. The website keeps its limiters in [`Limits`] (in memory: a restart forgets
//! them, which only gives a guesser a few more tries).
//!
//! **Who the client is** ([`ClientIp`]): the socket's peer address. The website is plain HTTP
//! behind the campus reverse proxy: for a peer that is the proxy (a loopback address, or one
//! of `trusted_proxies` in cloud.toml when the proxy runs on another host), and only then, the
//! last address of `X-Forwarded-For` (the one the proxy appended) is the client. A client
//! cannot set it: anything it sends is before the proxy's entry, and a request that does not
//! come through the proxy has its header ignored. (Without `trusted_proxies`, a proxy on
//! another host would make every visitor one client, sharing one limit.) An IPv6 client is
//! counted by its /64 (one household or host usually holds a whole /64).

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use onestop_model::Timestamp;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// At most `max` hits per key within any `window`.
#[derive(Debug, Clone)]
pub struct Limiter {
    max: usize,
    window_ms: i64,
    /// Each key's latest hits (at most `max`), oldest first.
    hits: HashMap<String, VecDeque<i64>>,
}

/// Past this many keys, keys with no hit inside the window are forgotten.
const PRUNE_AT: usize = 10_000;

impl Limiter {
    pub fn new(max: usize, window: Duration) -> Limiter {
        Limiter { max: max.max(1), window_ms: window.as_millis() as i64, hits: HashMap::new() }
    }

    /// When `key` may be hit again, if not now: the moment its oldest hit inside the window
    /// leaves it.
    pub fn blocked_until(&self, key: &str, now: Timestamp) -> Option<Timestamp> {
        let hits = self.hits.get(key)?;
        let live: Vec<i64> = hits.iter().copied().filter(|&t| t > now.0 - self.window_ms).collect();
        (live.len() >= self.max).then(|| Timestamp(live[live.len() - self.max] + self.window_ms))
    }

    /// Counts a hit of `key` at `now`.
    pub fn hit(&mut self, key: &str, now: Timestamp) {
        let window = self.window_ms;
        let hits = self.hits.entry(key.to_string()).or_default();
        hits.retain(|&t| t > now.0 - window);
        hits.push_back(now.0);
        while hits.len() > self.max {
            hits.pop_front();
        }
        if self.hits.len() > PRUNE_AT {
            self.hits.retain(|_, h| h.back().is_some_and(|&t| t > now.0 - window));
        }
    }

    /// How many keys are held (tests).
    pub fn keys(&self) -> usize {
        self.hits.len()
    }
}

/// The website's limits.
pub struct Limits {
    /// Case-progress lookups per client: 10 in 10 minutes.
    pub lookups: Mutex<Limiter>,
    /// Wrong codes per case number (whether the number exists or not): 5 in 30 minutes lock
    /// that number's lookups until the oldest of them is 30 minutes old.
    pub wrong_codes: Mutex<Limiter>,
    /// New questions per client: 3 an hour.
    pub questions: Mutex<Limiter>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            lookups: Mutex::new(Limiter::new(10, Duration::from_secs(600))),
            wrong_codes: Mutex::new(Limiter::new(5, Duration::from_secs(1800))),
            questions: Mutex::new(Limiter::new(3, Duration::from_secs(3600))),
        }
    }
}

/// A limiter, locked (a poisoned lock is taken over: a limiter is always consistent).
pub fn lock(l: &Mutex<Limiter>) -> MutexGuard<'_, Limiter> {
    l.lock().unwrap_or_else(|e| e.into_inner())
}

/// The client behind a request (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The client as seen from `peer` (the socket's other end) and the request's headers,
    /// believing `X-Forwarded-For` from a loopback peer or one of `proxies`.
    pub fn of(peer: Option<IpAddr>, headers: &HeaderMap, proxies: &[IpAddr]) -> ClientIp {
        let forwarded = || {
            headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .and_then(|s| s.trim().parse::<IpAddr>().ok())
        };
        ClientIp(match peer {
            Some(ip) if ip.is_loopback() || proxies.contains(&ip) => forwarded().unwrap_or(ip),
            Some(ip) => ip,
            None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        })
    }

    /// The limiter key: the address, or an IPv6 address's /64.
    pub fn key(self) -> String {
        match self.0 {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let s = a.segments();
                    format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                }
            },
        }
    }
}

impl FromRequestParts<super::WebState> for ClientIp {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &super::WebState) -> Result<ClientIp, Infallible> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        Ok(ClientIp::of(peer, &parts.headers, &state.backend.trusted_proxies))
    }
}

/// The 429 page: what was refused and when to try again.
pub fn too_many(
    lang: super::Lang,
    what_zh: &str,
    what_en: &str,
    until: Timestamp,
    now: Timestamp,
) -> Response {
    let secs = ((until.0 - now.0).max(0) + 999) / 1000;
    let minutes = ((secs + 59) / 60).max(1);
    let mut r = super::problem(
        lang,
        StatusCode::TOO_MANY_REQUESTS,
        &format!("{what_zh}过于频繁，请 {minutes} 分钟后再试。"),
        &format!("Too many {what_en}: try again in {minutes} minute{}.", if minutes == 1 { "" } else { "s" }),
    );
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn a_limiter_allows_max_hits_per_window_and_says_when_the_next_is_allowed() {
        let mut l = Limiter::new(3, Duration::from_secs(600));
        let t = |m: i64| Timestamp(1_000_000_000 + m * MIN);
        assert_eq!(l.blocked_until("a", t(0)), None);
        l.hit("a", t(0));
        l.hit("a", t(1));
        assert_eq!(l.blocked_until("a", t(2)), None);
        l.hit("a", t(2));
        // Full: free again when the hit at minute 0 is ten minutes old.
        assert_eq!(l.blocked_until("a", t(2)), Some(t(10)));
        assert_eq!(l.blocked_until("a", t(9)), Some(t(10)));
        assert_eq!(l.blocked_until("a", t(10)), None);
        assert_eq!(l.blocked_until("b", t(2)), None, "keys are counted apart");
        l.hit("a", t(10));
        assert_eq!(l.blocked_until("a", t(10)), Some(t(11)), "a sliding window, not a fixed one");
        assert_eq!(l.blocked_until("a", t(30)), None);
    }

    #[test]
    fn a_limiter_forgets_idle_keys_when_it_grows() {
        let mut l = Limiter::new(1, Duration::from_secs(60));
        for i in 0..PRUNE_AT {
            l.hit(&i.to_string(), Timestamp(0));
        }
        assert_eq!(l.keys(), PRUNE_AT);
        l.hit("late", Timestamp(10 * MIN));
        assert_eq!(l.keys(), 1);
    }

    #[test]
    fn the_client_is_the_peer_or_what_the_local_proxy_says() {
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", HeaderValue::from_static("6.6.6.6, 10.1.2.3"));
        let lo = Some("127.0.0.1".parse().unwrap());
        let far = Some("192.0.2.7".parse().unwrap());
        assert_eq!(ClientIp::of(lo, &h, &[]).key(), "10.1.2.3", "the proxy's entry is the last one");
        assert_eq!(ClientIp::of(far, &h, &[]).key(), "192.0.2.7", "only a trusted proxy is believed");
        let proxy: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(ClientIp::of(far, &h, &[proxy]).key(), "10.1.2.3", "a proxy on another host, named");
        assert_eq!(ClientIp::of(lo, &HeaderMap::new(), &[]).key(), "127.0.0.1");
        let v6 = Some("2001:db8:1:2:3:4:5:6".parse().unwrap());
        assert_eq!(ClientIp::of(v6, &HeaderMap::new(), &[]).key(), "2001:db8:1:2::/64");
        assert_eq!(ClientIp::of(None, &HeaderMap::new(), &[]).key(), "0.0.0.0");
    }
}
