//! The shared model of Onestop: the plain typed values the edge and the cloud agree on.
//!
//! Architecture invariant: this crate does no IO, reads no clock and knows nothing of Automerge
//! or SQLite. The mapping to documents lives in `onestop-protocol`.

pub mod bounded_time;
pub mod case;
pub mod catalog;
pub mod clock;
pub mod day;
pub mod ids;
pub mod stats;
pub mod time;

pub use case::*;
pub use catalog::*;
pub use day::*;
pub use ids::*;
pub use time::*;
