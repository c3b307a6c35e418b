//! Onestop provisioning: the campus CA, device ids, one-time join tokens and the cloud's
//! record of every node.
//!
//! The flow it serves: IT makes a join token for a hall and a node name ([`token`]); the Pi
//! makes its key on the device and sends a CSR with the token; the cloud redeems the token
//! ([`registry::Registry::redeem`]), and once the node is approved signs the CSR with the
//! campus CA ([`ca::CampusCa::sign_node_csr`]) into a certificate that names exactly that
//! hall and node. A device is known by its [`DeviceId`], a short checked code derived from its
//! public key that a person can read off the Pi's screen and compare. The Pi gets its token,
//! the cloud's address and the CA certificate from a boot bundle ([`bundle`]).
//!
//! What the certificates mean ([`NodeIdentity`], [`DeviceId`], a CSR's verified key) is
//! `onestop-credentials`, which the hall and the sync link share without this crate.
//!
//! Architecture invariants:
//! - The hall and node a certificate names come from the token IT made, never from the CSR.
//! - Join tokens are stored only as hashes; private keys of nodes never reach this crate.
//! - The CA key is on disk only encrypted with a passphrase.
//! - Time is a parameter wherever a decision depends on it.

pub mod bundle;
pub mod ca;
mod error;
pub mod registry;
pub mod token;

pub use ca::CampusCa;
pub use error::ProvisionError;
pub use onestop_credentials::{CredentialError, DeviceId, NodeIdentity};
pub use registry::{RedeemError, Registry};

pub use onestop_model::{valid_hall_id, valid_node_name};

/// Milliseconds since 1970 (negative before), as the registry stores times.
pub(crate) fn to_ms(t: std::time::SystemTime) -> i64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// The inverse of [`to_ms`].
pub(crate) fn from_ms(ms: i64) -> std::time::SystemTime {
    let d = std::time::Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 { std::time::UNIX_EPOCH + d } else { std::time::UNIX_EPOCH - d }
}
