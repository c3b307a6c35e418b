//! Onestop's sync protocol, without IO: which documents exist, how typed values are written
//! in them, and how two sides reconcile them.
//!
//! - [`docid`]: which documents exist and who writes them;
//! - [`day`], [`catalog`], [`cases`], [`bookings`], [`cards`]: typed values to and from
//!   Automerge documents (helpers in [`codec`]);
//! - [`hlc`]: the hybrid logical clock that never goes backwards;
//! - [`secrets`]: window PINs and visitor pseudonyms (from `onestop-credentials`, re-exported);
//! - [`seed`]: the catalogue's TOML file;
//! - [`booking_token`]: the cloud-signed booking tokens a hall verifies offline;
//! - [`wire`]: the length-prefixed frames of the sync protocol;
//! - [`inspect`]: a peer's sync message measured and its authors read before it is applied;
//! - [`wholedoc`]: a whole document's chunk read without loading it;
//! - [`session`]: the sans-IO sync session, who may write what, and the [`session::Docs`] it
//!   syncs ([`session::MemDocs`] in memory; the store's is in `onestop-store`).
//!
//! No SQLite, no QUIC, no async runtime: the store is `onestop-store`, the link `onestop-link`.

pub mod booking_token;
pub mod bookings;
pub mod cards;
pub mod cases;
pub mod catalog;
pub mod clock;
pub mod codec;
pub mod day;
pub mod docid;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod hlc;
pub mod inspect;
pub mod seed;
pub mod session;
pub mod wholedoc;
pub mod wire;

/// PINs, passwords, visitor pseudonyms and short codes live in `onestop-credentials` (no IO);
/// `onestop_protocol::secrets` stays their path for the hall and the cloud.
pub use onestop_credentials::secrets;

pub use codec::{DocError, SCHEMA};
pub use docid::{DocId, Month};
pub use hlc::HlcStamp;

#[cfg(test)]
mod tests;
