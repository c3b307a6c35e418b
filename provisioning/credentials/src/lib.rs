//! Onestop's credentials: how a node, a device, a member of staff and a visitor are named
//! and proven, computed without IO.
//!
//! - [`node`]: the node's identity in its certificate (the URI name
//!   `urn:onestop:node:<hall>:<node>`), written by the campus CA and read by the QUIC link;
//! - [`device`]: device ids derived from a device's public key (its key, a CSR whose
//!   signature verifies, or a certificate), with a check character;
//! - [`csr`]: the public key of a certificate signing request, once its self-signature
//!   verifies;
//! - [`secrets`]: window PINs and back-office passwords (argon2id), visitor pseudonyms
//!   (HMAC-SHA256 of the card number), short codes read aloud, random tokens and comparing
//!   them in constant time;
//! - [`crockford`]: the base32 alphabet device ids and join tokens are written in.
//!
//! The hall's enrolment, the QUIC link (`onestop-link`) and the provisioning tool share it;
//! it has no QUIC, Automerge, SQLite or tokio, so neither the hall needs the CA and the
//! registry to know its device id nor the CA needs the sync link to read a certificate back.

pub mod crockford;
pub mod csr;
pub mod device;
mod error;
pub mod node;
pub mod secrets;

pub use device::DeviceId;
pub use error::CredentialError;
pub use node::{NodeIdentity, identity_of};
