//! The hybrid logical clock and the clock's plausibility.
//!
//! A Pi has no real-time clock: after a power cut it may boot in 1970, or hours behind. The
//! node's time for every fact is an [`HlcStamp`]: never behind the last one written (it is
//! persisted in the same transaction as each write), so ordering, ticket times and the
//! business day never go backwards, whatever the wall clock does.

use onestop_model::Timestamp;

/// A hybrid logical clock reading: wall-clock milliseconds and a counter for equal milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HlcStamp {
    pub physical: i64,
    pub logical: u32,
}

impl HlcStamp {
    /// The instant this stamp stands for.
    pub fn time(self) -> Timestamp {
        Timestamp(self.physical)
    }

    /// 12 bytes: physical (big-endian i64) then logical (big-endian u32).
    pub fn to_bytes(self) -> [u8; 12] {
        let mut b = [0; 12];
        b[..8].copy_from_slice(&self.physical.to_be_bytes());
        b[8..].copy_from_slice(&self.logical.to_be_bytes());
        b
    }

    pub fn from_bytes(b: &[u8]) -> Option<HlcStamp> {
        let b: &[u8; 12] = b.try_into().ok()?;
        Some(HlcStamp {
            physical: i64::from_be_bytes(b[..8].try_into().ok()?),
            logical: u32::from_be_bytes(b[8..].try_into().ok()?),
        })
    }
}

/// The stamp after `last` at wall time `wall`: the wall clock when it is ahead, otherwise the
/// same millisecond with the counter raised.
pub fn next_stamp(last: HlcStamp, wall: Timestamp) -> HlcStamp {
    if wall.0 > last.physical {
        HlcStamp { physical: wall.0, logical: 0 }
    } else {
        HlcStamp { physical: last.physical, logical: last.logical.saturating_add(1) }
    }
}

/// The stamp after `last` on receiving a peer's `remote` stamp at wall time `wall`.
pub fn merge_stamp(last: HlcStamp, remote: HlcStamp, wall: Timestamp) -> HlcStamp {
    let physical = last.physical.max(remote.physical).max(wall.0);
    let logical = if physical == last.physical && physical == remote.physical {
        last.logical.max(remote.logical) + 1
    } else if physical == last.physical {
        last.logical + 1
    } else if physical == remote.physical {
        remote.logical + 1
    } else {
        0
    };
    HlcStamp { physical, logical }
}

/// How far the wall clock may fall behind the last stamp before it is called implausible.
pub const BEHIND_TOLERANCE_MS: i64 = 5 * 60_000;

/// No clock reading before this (2026-01-01T00:00Z) is real: the Pi's clock was never set.
pub const EARLIEST_PLAUSIBLE: Timestamp = Timestamp(1_767_225_600_000);

/// What the node thinks of its wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockHealth {
    Plausible,
    /// The clock reads before [`EARLIEST_PLAUSIBLE`]: it was never set since boot.
    Unset {
        wall: Timestamp,
    },
    /// The clock is behind the last stamp by more than the tolerance (it jumped back).
    Behind {
        by_ms: i64,
    },
}

impl ClockHealth {
    /// Judges `wall` against the last stamp written.
    pub fn assess(wall: Timestamp, last: HlcStamp) -> ClockHealth {
        if wall < EARLIEST_PLAUSIBLE {
            ClockHealth::Unset { wall }
        } else if last.physical - wall.0 > BEHIND_TOLERANCE_MS {
            ClockHealth::Behind { by_ms: last.physical - wall.0 }
        } else {
            ClockHealth::Plausible
        }
    }

    /// A message for logs and the hall manager's page: Chinese first, English second.
    pub fn alarm(self) -> Option<String> {
        match self {
            ClockHealth::Plausible => None,
            ClockHealth::Unset { wall } => Some(format!(
                "系统时钟未设置（{}），请检查网络校时 / the clock is not set ({} ms since 1970): check time sync",
                wall.0, wall.0
            )),
            ClockHealth::Behind { by_ms } => Some(format!(
                "系统时钟倒退了 {} 秒，已按最后已知时间继续 / the clock went back {} s: carrying on from the last known time",
                by_ms / 1000,
                by_ms / 1000
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn stamps_never_go_back() {
        let a = next_stamp(HlcStamp::default(), Timestamp(1000));
        assert_eq!(a, HlcStamp { physical: 1000, logical: 0 });
        let b = next_stamp(a, Timestamp(400));
        assert_eq!(b, HlcStamp { physical: 1000, logical: 1 });
        let c = next_stamp(b, Timestamp(2000));
        assert_eq!(c, HlcStamp { physical: 2000, logical: 0 });
        assert_eq!(HlcStamp::from_bytes(&c.to_bytes()), Some(c));
    }

    #[test]
    fn clock_alarms() {
        let last = HlcStamp { physical: EARLIEST_PLAUSIBLE.0 + 3_600_000, logical: 0 };
        assert_eq!(ClockHealth::assess(Timestamp(0), last), ClockHealth::Unset { wall: Timestamp(0) });
        assert_eq!(ClockHealth::assess(Timestamp(last.physical - 60_000), last), ClockHealth::Plausible);
        assert_eq!(
            ClockHealth::assess(Timestamp(last.physical - 600_000), last),
            ClockHealth::Behind { by_ms: 600_000 }
        );
        assert!(ClockHealth::Behind { by_ms: 600_000 }.alarm().unwrap().contains("600 s"));
    }

    proptest! {
        #[test]
        fn monotonic_under_any_wall_clock(walls in proptest::collection::vec(-1_000i64..1_000, 1..200), remote in 0usize..200) {
            let mut last = HlcStamp::default();
            for (i, w) in walls.iter().enumerate() {
                let next = if i == remote {
                    merge_stamp(last, HlcStamp { physical: 5_000, logical: 7 }, Timestamp(*w))
                } else {
                    next_stamp(last, Timestamp(*w))
                };
                prop_assert!(next > last);
                last = next;
            }
        }
    }
}
