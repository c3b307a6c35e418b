//! Bounded time: a wall clock is believed only as far as the monotonic clock, the last time
//! written and, for a larger step, a peer agree with it.
//!
//! A Pi has no real-time clock and takes its time from the network; one bad NTP answer, a typo
//! in `date` or a cloud with a wrong clock must not carry a hall's business day into another
//! year (its stamps can never go back: that day would stay for good). The rules, checked by
//! [`TimeGuard`] on every reading:
//! - **After a start**, while the node settles (the first [`TimeBounds::settle_ms`] of monotonic
//!   time, when the boot's time synchronisation steps the clock), a reading up to
//!   [`TimeBounds::horizon_ms`] after the last time written is believed: long enough for the
//!   longest closure. Beyond it, the reading is refused.
//! - **While running**, a reading is believed up to [`TimeBounds::step_ms`] ahead of the last
//!   trusted time carried on by the monotonic clock; a larger jump forward is refused.
//! - **A peer's time** (the cloud's for a hall, the halls' for the cloud) confirms a reading that
//!   agrees with it to within the step, whatever the jump; and it carries a clock that is unset
//!   or behind, within the same bounds as a reading.
//! - **A refused reading moves nothing**: the time carries on from the last believed one by the
//!   monotonic clock, an alarm says why, and once the clock reads right again the alarm clears.
//!   A reading behind the time carried on is not followed back (the stamps could not follow it):
//!   the time goes on at the monotonic clock's pace until the wall clock catches up.
//!
//! The guard holds no clock: each reading comes with the monotonic time at which it was taken.
//! [`BoundedClock`] is the same guard around an injected [`Clock`].

use crate::clock::Clock;
use crate::time::Timestamp;
use std::sync::{Arc, Mutex};

/// No clock reading before this (2026-01-01T00:00Z) is real: the Pi's clock was never set.
pub const EARLIEST_PLAUSIBLE: Timestamp = Timestamp(1_767_225_600_000);

/// How far a reading may be from what the node already knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBounds {
    /// While running: how far ahead of the trusted time (carried on by the monotonic clock) a
    /// reading may be; and how close a peer's time must be to confirm a reading.
    pub step_ms: i64,
    /// After a start: how far after the last time written a reading may be.
    pub horizon_ms: i64,
    /// How long after a start the horizon applies instead of the step.
    pub settle_ms: i64,
}

impl Default for TimeBounds {
    /// 5 minutes, 60 days (the Spring Festival closure and then some), 10 minutes.
    fn default() -> TimeBounds {
        TimeBounds { step_ms: 5 * 60_000, horizon_ms: 60 * 86_400_000, settle_ms: 10 * 60_000 }
    }
}

/// Why the wall clock is not believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockAlarm {
    /// The clock reads before [`EARLIEST_PLAUSIBLE`]: it was never set since boot.
    Unset { wall: Timestamp },
    /// The clock is behind the time carried on by this much.
    Behind { by_ms: i64 },
    /// The clock jumped ahead of the time carried on by this much, unconfirmed.
    Ahead { by_ms: i64 },
}

impl ClockAlarm {
    /// A message for logs and the hall manager's page: Chinese first, English second.
    pub fn message(self) -> String {
        match self {
            ClockAlarm::Unset { wall } => format!(
                "系统时钟未设置（{}），请检查网络校时 / the clock is not set ({} ms since 1970): check time sync",
                wall.0, wall.0
            ),
            ClockAlarm::Behind { by_ms } => format!(
                "系统时钟倒退了 {} 秒，已按最后已知时间继续 / the clock went back {} s: carrying on from the last known time",
                by_ms / 1000,
                by_ms / 1000
            ),
            ClockAlarm::Ahead { by_ms } => format!(
                "系统时钟向前跳了 {} 秒且未经确认，已按最后已知时间继续 / the clock jumped {} s ahead unconfirmed: carrying on from the last known time",
                by_ms / 1000,
                by_ms / 1000
            ),
        }
    }

    /// A short name for metrics and logs.
    pub fn kind(self) -> &'static str {
        match self {
            ClockAlarm::Unset { .. } => "unset",
            ClockAlarm::Behind { .. } => "behind",
            ClockAlarm::Ahead { .. } => "ahead",
        }
    }
}

/// A time and the monotonic time at which it held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    mono: i64,
    time: i64,
}

impl Mark {
    fn at(self, mono: i64) -> i64 {
        self.time.saturating_add(mono.saturating_sub(self.mono).max(0))
    }
}

/// What a peer's time did to the guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerTime {
    /// It agrees with the wall clock, which is now believed.
    Confirmed,
    /// The wall clock was unset or behind; the time now carries on from the peer's.
    Adopted,
    /// Outside the bounds (or no news): ignored.
    Ignored,
}

/// The rules of bounded time; see the module documentation.
#[derive(Debug, Clone)]
pub struct TimeGuard {
    bounds: TimeBounds,
    /// The last time written before this start, at the start.
    floor: Mark,
    /// The time believed last, carried on from there.
    current: Mark,
    /// The time the running rule measures a reading against.
    trusted: Mark,
    /// A peer confirmed the clock: the horizon no longer applies.
    confirmed: bool,
    alarm: Option<ClockAlarm>,
}

impl TimeGuard {
    /// A guard for a node whose last written time is `floor` (the default stamp for a new
    /// store), started at monotonic time `mono`.
    pub fn new(bounds: TimeBounds, floor: Timestamp, mono: i64) -> TimeGuard {
        let mark = Mark { mono, time: floor.0 };
        TimeGuard { bounds, floor: mark, current: mark, trusted: mark, confirmed: false, alarm: None }
    }

    fn settling(&self, mono: i64) -> bool {
        !self.confirmed && mono.saturating_sub(self.floor.mono) < self.bounds.settle_ms
    }

    /// The latest reading believed at `mono`.
    fn limit(&self, mono: i64) -> i64 {
        if self.settling(mono) {
            if self.floor.time < EARLIEST_PLAUSIBLE.0 {
                // A new store: nothing to measure against.
                i64::MAX
            } else {
                self.floor.at(mono).saturating_add(self.bounds.horizon_ms)
            }
        } else {
            self.trusted.at(mono).saturating_add(self.bounds.step_ms)
        }
    }

    /// Takes a reading `wall` at monotonic time `mono`; returns the time to use.
    pub fn read(&mut self, wall: Timestamp, mono: i64) -> Timestamp {
        let carried = self.current.at(mono);
        self.alarm = if wall < EARLIEST_PLAUSIBLE {
            Some(ClockAlarm::Unset { wall })
        } else if wall.0 > self.limit(mono) {
            Some(ClockAlarm::Ahead { by_ms: wall.0 - carried })
        } else if wall.0 >= carried {
            self.current = Mark { mono, time: wall.0 };
            if self.settling(mono) {
                self.trusted = self.current;
            }
            None
        } else {
            let by_ms = carried - wall.0;
            (by_ms > self.bounds.step_ms).then_some(ClockAlarm::Behind { by_ms })
        };
        Timestamp(self.current.at(mono))
    }

    /// Takes a peer's time `peer`, received when the wall clock read `wall` at monotonic `mono`.
    pub fn offer_peer(&mut self, peer: Timestamp, wall: Timestamp, mono: i64) -> PeerTime {
        if peer < EARLIEST_PLAUSIBLE {
            return PeerTime::Ignored;
        }
        if wall >= EARLIEST_PLAUSIBLE && wall.0.abs_diff(peer.0) <= self.bounds.step_ms.unsigned_abs() {
            self.confirmed = true;
            let mark = Mark { mono, time: wall.0.max(self.current.at(mono)) };
            self.current = mark;
            self.trusted = mark;
            self.read(wall, mono);
            return PeerTime::Confirmed;
        }
        let carried = self.current.at(mono);
        if peer.0 > carried && peer.0 <= self.limit(mono) {
            self.current = Mark { mono, time: peer.0 };
            self.trusted = self.current;
            return PeerTime::Adopted;
        }
        PeerTime::Ignored
    }

    /// Why the last reading was not believed, if it was not.
    pub fn alarm(&self) -> Option<ClockAlarm> {
        self.alarm
    }
}

/// A [`Clock`] that applies a [`TimeGuard`] to another clock's readings.
pub struct BoundedClock {
    inner: Arc<dyn Clock>,
    guard: Mutex<TimeGuard>,
}

impl std::fmt::Debug for BoundedClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundedClock").field("guard", &*self.lock()).finish()
    }
}

impl BoundedClock {
    /// Guards `inner` for a node whose last written time is `floor`.
    pub fn new(inner: Arc<dyn Clock>, bounds: TimeBounds, floor: Timestamp) -> BoundedClock {
        let guard = TimeGuard::new(bounds, floor, inner.monotonic_ms());
        BoundedClock { inner, guard: Mutex::new(guard) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TimeGuard> {
        self.guard.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for BoundedClock {
    fn now(&self) -> Timestamp {
        let (wall, mono) = (self.inner.now(), self.inner.monotonic_ms());
        self.lock().read(wall, mono)
    }
    fn monotonic_ms(&self) -> i64 {
        self.inner.monotonic_ms()
    }
    fn alarm(&self) -> Option<ClockAlarm> {
        let (wall, mono) = (self.inner.now(), self.inner.monotonic_ms());
        let mut g = self.lock();
        g.read(wall, mono);
        g.alarm()
    }
    fn offer_peer_time(&self, peer: Timestamp) -> PeerTime {
        let (wall, mono) = (self.inner.now(), self.inner.monotonic_ms());
        self.lock().offer_peer(peer, wall, mono)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use proptest::prelude::*;

    const MIN: i64 = 60_000;
    const DAY: i64 = 86_400_000;
    /// 2026-12-06T01:00Z.
    const T0: i64 = 1_796_518_800_000;

    fn guard() -> TimeGuard {
        TimeGuard::new(TimeBounds::default(), Timestamp(T0), 0)
    }

    #[test]
    fn a_far_future_reading_after_a_start_is_refused_and_the_node_recovers() {
        let mut g = guard();
        // 2031, one command's worth.
        let t = g.read(Timestamp(T0 + 4 * 365 * DAY), 1_000);
        assert_eq!(t, Timestamp(T0 + 1_000));
        assert!(matches!(g.alarm(), Some(ClockAlarm::Ahead { .. })));
        // Back on the right clock: believed, the alarm clears.
        assert_eq!(g.read(Timestamp(T0 + 2_000), 2_000), Timestamp(T0 + 2_000));
        assert_eq!(g.alarm(), None);
    }

    #[test]
    fn after_a_closure_the_first_readings_are_believed() {
        let mut g = guard();
        // The fake hardware clock at boot says last night, then NTP steps to this morning,
        // after the Spring Festival's three weeks.
        assert_eq!(g.read(Timestamp(T0), 10), Timestamp(T0 + 10));
        let morning = T0 + 21 * DAY + 13 * 3_600_000;
        assert_eq!(g.read(Timestamp(morning), 30_000), Timestamp(morning));
        assert_eq!(g.alarm(), None);
        // Settled: a jump of ten days is refused, one of two minutes is not.
        let later = 11 * MIN;
        let t = g.read(Timestamp(morning + 10 * DAY), later);
        assert_eq!(t, Timestamp(morning + later - 30_000));
        assert!(matches!(g.alarm(), Some(ClockAlarm::Ahead { .. })));
        let t = g.read(Timestamp(morning + later + 2 * MIN), later + 1);
        assert_eq!(t, Timestamp(morning + later + 2 * MIN));
        assert_eq!(g.alarm(), None);
    }

    #[test]
    fn a_running_clock_cannot_creep_ahead_in_small_steps() {
        let mut g = guard();
        g.read(Timestamp(T0), 0);
        let mut mono = 11 * MIN;
        let mut wall = T0 + mono;
        // Each reading four minutes further ahead than the monotonic clock says.
        for _ in 0..10 {
            mono += 1_000;
            wall += 1_000 + 4 * MIN;
            g.read(Timestamp(wall), mono);
        }
        assert!(g.read(Timestamp(wall), mono).0 <= T0 + mono + 5 * MIN);
        assert!(matches!(g.alarm(), Some(ClockAlarm::Ahead { .. })));
    }

    #[test]
    fn a_peer_confirms_a_jump_and_carries_an_unset_clock() {
        let mut g = guard();
        g.read(Timestamp(T0), 0);
        let far = T0 + 90 * DAY;
        // 90 days off (beyond the horizon), unconfirmed: refused.
        assert_eq!(g.read(Timestamp(far), 100), Timestamp(T0 + 100));
        // The cloud says the same: confirmed.
        assert_eq!(g.offer_peer(Timestamp(far + 3_000), Timestamp(far), 100), PeerTime::Confirmed);
        assert_eq!(g.read(Timestamp(far + 1), 101), Timestamp(far + 1));
        assert_eq!(g.alarm(), None);

        // A Pi in 1970 takes the cloud's time if it is within the bounds, not otherwise.
        let mut g = guard();
        assert_eq!(g.read(Timestamp(5_000), 0), Timestamp(T0));
        assert!(matches!(g.alarm(), Some(ClockAlarm::Unset { .. })));
        assert_eq!(g.offer_peer(Timestamp(T0 + 14 * 3_600_000), Timestamp(5_000), 10), PeerTime::Adopted);
        assert_eq!(g.read(Timestamp(5_100), 110), Timestamp(T0 + 14 * 3_600_000 + 100));
        // A cloud in 2031 is ignored.
        let mut g = guard();
        assert_eq!(g.offer_peer(Timestamp(T0 + 4 * 365 * DAY), Timestamp(T0), 0), PeerTime::Ignored);
        assert_eq!(g.read(Timestamp(T0 + 10), 10), Timestamp(T0 + 10));
    }

    #[test]
    fn a_clock_that_goes_back_is_not_followed() {
        let mut g = guard();
        g.read(Timestamp(T0), 0);
        let t = g.read(Timestamp(T0 - 3_600_000), 60_000);
        assert_eq!(t, Timestamp(T0 + 60_000));
        assert_eq!(g.alarm(), Some(ClockAlarm::Behind { by_ms: 3_660_000 }));
        assert!(g.alarm().unwrap().message().contains("3660 s"));
    }

    #[test]
    fn a_new_store_believes_its_first_reading() {
        let mut g = TimeGuard::new(TimeBounds::default(), Timestamp(0), 0);
        assert_eq!(g.read(Timestamp(T0), 5), Timestamp(T0));
        assert_eq!(g.alarm(), None);
    }

    #[test]
    fn the_bounded_clock_guards_an_injected_clock() {
        let raw = ManualClock::new(Timestamp(T0));
        let clock = BoundedClock::new(Arc::new(raw.clone()), TimeBounds::default(), Timestamp(T0));
        raw.set(Timestamp(T0 + 5 * 365 * DAY));
        assert_eq!(clock.now(), Timestamp(T0));
        assert!(matches!(clock.alarm(), Some(ClockAlarm::Ahead { .. })));
        raw.set(Timestamp(T0));
        raw.advance_ms(2_000);
        assert_eq!(clock.now(), Timestamp(T0 + 2_000));
        assert_eq!(clock.alarm(), None);
    }

    /// A reading: how much monotonic time passed before it and what the wall clock said,
    /// relative to the truth.
    fn reading() -> impl Strategy<Value = (i64, i64)> {
        let error = prop_oneof![
            4 => -3_000i64..3_000,
            1 => -400 * DAY..-DAY,
            1 => DAY..5 * 365 * DAY,
            1 => Just(i64::MIN / 4),
            1 => -6 * MIN..6 * MIN,
        ];
        (0i64..20 * MIN, error)
    }

    proptest! {
        /// Whatever the readings, the time never goes back, never runs ahead of the last
        /// written time by more than the horizon plus the monotonic time elapsed, and after
        /// settling never by more than the step beyond the trusted time; once the clock is right
        /// again, it is followed.
        #[test]
        fn time_stays_within_the_bounds(readings in proptest::collection::vec(reading(), 1..80)) {
            let b = TimeBounds::default();
            let mut g = guard();
            let (mut mono, mut last) = (0i64, i64::MIN);
            for (gap, error) in readings {
                mono += gap;
                let truth = T0 + mono;
                let wall = Timestamp(truth.saturating_add(error).max(0));
                let t = g.read(wall, mono).0;
                prop_assert!(t >= last, "time went back: {t} < {last}");
                // Settling, the horizon bounds it; settled, the trusted time (at most the
                // horizon ahead) and the step.
                let bound = if mono < b.settle_ms { b.horizon_ms } else { b.horizon_ms + b.step_ms };
                prop_assert!(t <= T0 + mono + bound, "beyond the bound");
                last = t;
            }
            // The clock reads right again (a while later): followed, if the time carried on is
            // not ahead of the truth (a believed early reading cannot be taken back).
            mono += 1_000;
            let truth = T0 + mono;
            let t = g.read(Timestamp(truth), mono).0;
            prop_assert!(t >= truth);
            if t == truth {
                prop_assert_eq!(g.alarm(), None);
            }
        }

        /// After settling, with no peer, a run of readings can never push the time further than
        /// the step beyond where it was when it settled (plus the monotonic time elapsed).
        #[test]
        fn settled_time_moves_by_the_monotonic_clock(errors in proptest::collection::vec(-DAY..DAY, 1..60)) {
            let b = TimeBounds::default();
            let mut g = guard();
            g.read(Timestamp(T0), 0);
            let mut mono = b.settle_ms;
            let settled = g.read(Timestamp(T0 + mono), mono).0;
            prop_assert_eq!(settled, T0 + mono);
            for e in errors {
                mono += 1_000;
                let t = g.read(Timestamp(T0 + mono + e), mono).0;
                prop_assert!(t <= T0 + mono + b.step_ms);
                prop_assert!(t >= T0 + mono);
            }
        }
    }
}
