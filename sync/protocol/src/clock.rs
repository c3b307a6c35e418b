//! The clocks, re-exported from the model (where the one implementation that reads the
//! operating system's clock lives) for the sync crate's users.

pub use onestop_model::clock::{
    BoundedClock, Clock, ClockAlarm, ManualClock, PeerTime, SystemClock, TimeBounds,
};
