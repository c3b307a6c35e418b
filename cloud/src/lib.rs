//! The campus cloud: the halls' sync listener and enrolment desk, and one web application
//! ([`app`]) with the public website ([`web`]), the back office ([`office`]) and the
//! statistics ([`stats`]), all on one store. The rules live in [`core`] (no HTTP); what the
//! pages share in [`ui`]; each hall's live view in [`site`]. [`run::start`] is the one way in.
//!
//! Who imports whom: `core` and `site` import nothing of the other modules (but `core` the
//! projector's follow-ups); `ui` imports `core`; `web`, `office` and `stats` import `ui`,
//! `core` and `site`, never one another; only `app` puts them together.

pub mod app;
pub mod backup;
pub mod config;
pub mod core;
pub mod enroll;
pub mod office;
pub mod run;
pub mod site;
pub mod stats;
#[cfg(test)]
mod testkit;
pub mod ui;
pub mod web;

use anyhow::{Context, Result};
use onestop_link::CloudSync;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The provisioning registry (join tokens, the node inventory) in a cloud's data directory.
pub fn registry_path(data: &Path) -> PathBuf {
    data.join("provision.sqlite")
}

/// The campus visitor key (64 hex digits) of this cloud, made on first use and kept in
/// `visitor.key` (mode 0600). Every enrolled hall receives it, so a campus card is the same
/// pseudonymous visitor in every hall.
pub fn visitor_key(data: &Path) -> Result<String> {
    let path = data.join("visitor.key");
    if let Ok(k) = std::fs::read_to_string(&path) {
        return Ok(k.trim().to_string());
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&path, &key).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(key)
}

/// The cloud's booking signing key, made on first use and kept in `booking.key` (an Ed25519
/// seed as 64 hex digits, mode 0600). Its public half is published in the catalogue, so halls
/// verify booking tokens offline.
pub fn booking_key(data: &Path) -> Result<onestop_protocol::booking_token::BookingSigner> {
    use onestop_protocol::booking_token::BookingSigner;
    let path = data.join("booking.key");
    if let Ok(k) = std::fs::read_to_string(&path) {
        return BookingSigner::from_seed_hex(&k)
            .with_context(|| format!("{} is not 64 hex digits", path.display()));
    }
    let (signer, seed) = BookingSigner::generate();
    write_private(&path, seed.as_bytes())?;
    Ok(signer)
}

/// Writes a new secret file readable by its owner only, synced to disk (the keys, the
/// backup's files); an existing file is an error, never overwritten.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        f.write_all(bytes).with_context(|| format!("cannot write {}", path.display()))?;
        f.sync_all()?;
    }
    #[cfg(not(unix))]
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Applies the registry's revocations to the running sync listener every second: a node
/// revoked with `onestop-provision revoke` is cut off and refused at its next handshake.
pub async fn follow_revocations(
    sync: Arc<CloudSync>,
    registry: PathBuf,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut known = std::collections::BTreeSet::new();
    while !*stopped.borrow() {
        let revoked = tokio::task::spawn_blocking({
            let registry = registry.clone();
            move || onestop_provision::Registry::open(&registry).and_then(|r| r.revoked())
        })
        .await;
        match revoked {
            Ok(Ok(list)) => {
                for node in list {
                    if known.insert(node.clone()) {
                        sync.revoke(&node);
                    }
                }
            }
            Ok(Err(error)) => tracing::warn!(message = "Cannot read the revocations.", %error),
            Err(error) => tracing::warn!(message = "Cannot read the revocations.", %error),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stopped.changed() => {}
        }
    }
}
