//! Who the client of a public form is, and the 429 page.
//!
//! **Who the client is** ([`ClientIp`]): the socket's peer address. The website is plain HTTP
//! behind the campus reverse proxy: for a peer that is the proxy (a loopback address, or one
//! of `trusted_proxies` in cloud.toml when the proxy runs on another host), and only then, the
//! last address of `X-Forwarded-For` (the one the proxy appended) is the client. A client
//! cannot set it: anything it sends is before the proxy's entry, and a request that does not
//! come through the proxy has its header ignored. (Without `trusted_proxies`, a proxy on
//! another host would make every visitor one client, sharing one limit.) An IPv6 client is
//! counted by its /64 (one household or host usually holds a whole /64).

use super::{AppState, Lang, problem};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use onestop_model::Timestamp;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

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

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<ClientIp, Infallible> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        Ok(ClientIp::of(peer, &parts.headers, &state.trusted_proxies))
    }
}

/// The 429 page: what was refused and when to try again.
pub fn too_many(lang: Lang, what_zh: &str, what_en: &str, until: Timestamp, now: Timestamp) -> Response {
    let secs = ((until.0 - now.0).max(0) + 999) / 1000;
    let minutes = ((secs + 59) / 60).max(1);
    let mut r = problem(
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
