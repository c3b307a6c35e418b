//! Where wall time comes from: a trait, injected into every shell (the hall's node, the cloud's
//! rules and pages), so tests and simulations move time. The implementation that reads the
//! operating system's clock is the sync crate's `SystemClock`; this crate reads no clock.

use crate::time::Timestamp;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of wall-clock time. Never trusted blindly: the sync crate's hybrid logical clock
/// keeps stamps from going backwards.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
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
