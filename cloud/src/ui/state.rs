//! What every page works on.

use crate::core::Core;
use crate::site::Cache;
use crate::stats::StatsDb;
use std::net::IpAddr;
use std::sync::Arc;

/// What every page works on.
#[derive(Clone)]
pub struct AppState {
    /// Each hall's view, kept ready (the live pages read only this).
    pub cache: Cache,
    /// The rules, the store, the office database, the keys and the clock.
    pub core: Arc<Core>,
    /// `stats.sqlite`, the statistics' query tables (the projector writes it).
    pub stats: StatsDb,
    /// Reverse proxies on other hosts whose `X-Forwarded-For` names the client
    /// (`trusted_proxies` in cloud.toml; a proxy on loopback is always believed).
    pub trusted_proxies: Arc<[IpAddr]>,
}

impl AppState {
    /// The state of a website on `core`, with its cache and statistics, believing no proxy
    /// but loopback.
    pub fn new(cache: Cache, core: Arc<Core>, stats: StatsDb) -> AppState {
        AppState { cache, core, stats, trusted_proxies: Arc::from([]) }
    }
}
