//! Where the node's wall time comes from. Injected, so tests and simulations move it; the
//! trait and the manual clock are the model's, the system clock the sync crate's (one each
//! for the hall and the cloud).

pub use onestop_model::clock::{
    BoundedClock, Clock, ClockAlarm, EARLIEST_PLAUSIBLE, ManualClock, PeerTime, TimeBounds,
};
pub use onestop_protocol::clock::SystemClock;
