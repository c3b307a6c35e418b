//! The operating system's clock, the one implementation of [`Clock`] that reads it (the
//! trait and the tests' `ManualClock` are the model's).

use onestop_model::Timestamp;
pub use onestop_model::clock::{Clock, ManualClock};

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
