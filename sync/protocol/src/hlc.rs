//! The hybrid logical clock.
//!
//! A Pi has no real-time clock: after a power cut it may boot in 1970, or hours behind. The
//! node's time for every fact is an [`HlcStamp`]: never behind the last one written (it is
//! persisted in the same transaction as each write), so ordering, ticket times and the
//! business day never go backwards, whatever the wall clock does. How far forward a wall
//! clock is believed is [`onestop_model::clock::BoundedClock`]'s to judge.

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

/// No clock reading before this is real (see [`onestop_model::clock`]).
pub use onestop_model::clock::EARLIEST_PLAUSIBLE;

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

    proptest! {
        #[test]
        fn monotonic_under_any_wall_clock(walls in proptest::collection::vec(-1_000i64..1_000, 1..200)) {
            let mut last = HlcStamp::default();
            for w in walls {
                let next = next_stamp(last, Timestamp(w));
                prop_assert!(next > last);
                last = next;
            }
        }
    }
}
