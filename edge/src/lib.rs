//! The hall node: the queue engine around the durable document store, the injected clock, the
//! command language and the simulated day.
//!
//! Devices (card readers, printer, voice, display) and the LAN pages build on [`node::Node`].

pub mod clock;
pub mod devices;
pub mod enroll;
pub mod hall;
pub mod node;
pub mod nodedir;
pub mod script;
pub mod selftest;
pub mod sim;

pub use clock::{Clock, ManualClock, SystemClock};
pub use node::{Node, NodeError, Outcome};
