//! Where wall time comes from: a trait, injected into every shell (the hall's node, the cloud's
//! rules and pages, the link, the CA's tools), so tests and simulations move time.
//! [`SystemClock`] is the one place in the workspace that reads the operating system's clock;
//! shells create it at their edge (a binary's `main`) and pass it in. The engine takes no
//! clock at all: its time comes with each command.

pub use crate::bounded_time::{
    BoundedClock, ClockAlarm, EARLIEST_PLAUSIBLE, PeerTime, TimeBounds, TimeGuard,
};
use crate::time::Timestamp;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of wall-clock time. Never trusted blindly: a [`BoundedClock`] keeps it within what
/// the monotonic clock and the peers confirm, and the sync crate's hybrid logical clock keeps
/// stamps from going backwards.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
    /// Milliseconds of a clock that only goes forward at the pace of real time (since an
    /// arbitrary start): what the wall clock's jumps are measured against.
    fn monotonic_ms(&self) -> i64;
    /// Why the wall clock is not believed, for a clock that judges it.
    fn alarm(&self) -> Option<ClockAlarm> {
        None
    }
    /// A peer's time (the cloud's, in its hello), for a clock that judges its own.
    fn offer_peer_time(&self, _peer: Timestamp) -> PeerTime {
        PeerTime::Ignored
    }
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
    fn monotonic_ms(&self) -> i64 {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let start = *START.get_or_init(std::time::Instant::now);
        i64::try_from(start.elapsed().as_millis()).unwrap_or(i64::MAX)
    }
}

impl SystemClock {
    /// The time now as the standard library's `SystemTime` (certificates, registries).
    pub fn system_time(self) -> std::time::SystemTime {
        self.now().to_system_time()
    }
}

/// A clock that shows what it is told; clones share the same time. [`ManualClock::set`] moves
/// the wall clock alone (a jump); [`ManualClock::advance_ms`] lets time pass (the monotonic
/// clock too).
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    wall: Arc<AtomicI64>,
    mono: Arc<AtomicI64>,
}

impl ManualClock {
    pub fn new(at: Timestamp) -> ManualClock {
        ManualClock { wall: Arc::new(AtomicI64::new(at.0)), mono: Arc::default() }
    }
    pub fn set(&self, at: Timestamp) {
        self.wall.store(at.0, Ordering::SeqCst);
    }
    pub fn advance_ms(&self, ms: i64) {
        self.wall.fetch_add(ms, Ordering::SeqCst);
        self.mono.fetch_add(ms.max(0), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.wall.load(Ordering::SeqCst))
    }
    fn monotonic_ms(&self) -> i64 {
        self.mono.load(Ordering::SeqCst)
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
    fn monotonic_ms(&self) -> i64 {
        (**self).monotonic_ms()
    }
    fn alarm(&self) -> Option<ClockAlarm> {
        (**self).alarm()
    }
    fn offer_peer_time(&self, peer: Timestamp) -> PeerTime {
        (**self).offer_peer_time(peer)
    }
}
