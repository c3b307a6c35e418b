//! Where wall time comes from: a trait, injected into every shell (the hall's node, the cloud's
//! rules and pages, the link, the CA's tools), so tests and simulations move time.
//! [`SystemClock`] is the one place in the workspace that reads the operating system's clock;
//! shells create it at their edge (a binary's `main`) and pass it in. The engine takes no
//! clock at all: its time comes with each command.

use crate::time::Timestamp;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of wall-clock time. Never trusted blindly: the sync crate's hybrid logical clock
/// keeps stamps from going backwards.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Timestamp(since)
    }
}

impl SystemClock {
    /// The time now as the standard library's `SystemTime` (certificates, registries).
    pub fn system_time(self) -> std::time::SystemTime {
        self.now().to_system_time()
    }
}

/// A clock that shows what it is told; clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(at: Timestamp) -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(at.0)))
    }
    pub fn set(&self, at: Timestamp) {
        self.0.store(at.0, Ordering::SeqCst);
    }
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}
