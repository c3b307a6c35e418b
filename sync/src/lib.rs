//! Onestop's replicated documents.
//!
//! - [`docid`]: which documents exist and who writes them;
//! - [`day`], [`catalog`], [`cases`], [`bookings`], [`cards`]: typed values to and from
//!   Automerge documents;
//! - [`store`]: the durable SQLite document store (automerge-repo chunk layout, WAL);
//! - [`read`]: each document read and decoded in one call ([`ReadDocs`], on the store and a
//!   write's batch);
//! - [`hlc`]: the hybrid logical clock that never goes backwards;
//! - [`secrets`]: window PINs and visitor pseudonyms (from `onestop-credentials`, re-exported);
//! - [`booking_token`]: the cloud-signed booking tokens a hall verifies offline;
//! - [`wire`]: the length-prefixed frames of the sync protocol;
//! - [`session`]: the sans-IO sync session and who may write what;
//! - [`transport`]: the QUIC link with mutual TLS around the session.

pub mod booking_token;
pub mod bookings;
pub mod cards;
pub mod cases;
pub mod catalog;
pub mod clock;
pub mod codec;
pub mod day;
pub mod docid;
pub mod hlc;
pub mod read;
pub mod seed;
pub mod session;
pub mod store;
pub mod transport;
pub mod wholedoc;
pub mod wire;

/// PINs, passwords, visitor pseudonyms and short codes live in `onestop-credentials` (no IO);
/// `onestop_sync::secrets` stays their path for the hall and the cloud.
pub use onestop_credentials::secrets;

pub use codec::{DocError, SCHEMA};
pub use docid::{DocId, Month};
pub use hlc::{ClockHealth, HlcStamp};
pub use read::{CardLookup, ReadDocs};
pub use store::{Durability, Store, StoreError};

#[cfg(test)]
mod tests;
