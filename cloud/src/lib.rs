//! The campus cloud: the halls' sync listener and enrolment desk, the public website
//! ([`web`]), the back office ([`office`]) and the statistics ([`stats`]), all on one store.

pub mod enroll;
pub mod office;
pub mod stats;
#[cfg(test)]
mod testkit;
pub mod web;

use anyhow::{Context, Result};
use onestop_sync::transport::CloudSync;
use std::net::SocketAddr;
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
pub fn booking_key(data: &Path) -> Result<onestop_sync::booking_token::BookingSigner> {
    use onestop_sync::booking_token::BookingSigner;
    let path = data.join("booking.key");
    if let Ok(k) = std::fs::read_to_string(&path) {
        return BookingSigner::from_seed_hex(&k)
            .with_context(|| format!("{} is not 64 hex digits", path.display()));
    }
    let (signer, seed) = BookingSigner::generate();
    write_private(&path, &seed)?;
    Ok(signer)
}

/// Writes a secret file readable by its owner only.
fn write_private(path: &Path, text: &str) -> Result<()> {
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
        f.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
        f.sync_all()?;
    }
    #[cfg(not(unix))]
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Applies the registry's revocations to the running sync listener every second: a node
/// revoked with `onestop-provision revoke` is cut off and refused at its next handshake.
pub async fn follow_revocations(sync: Arc<CloudSync>, registry: PathBuf) {
    let mut known = std::collections::BTreeSet::new();
    loop {
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
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Starts the public website on `addr` and the cache it reads, until `stopped` turns true.
pub async fn start_website(
    addr: SocketAddr,
    sync: &Arc<CloudSync>,
    data: &Path,
    enrols: bool,
    trusted_proxies: Vec<std::net::IpAddr>,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    use crate::web;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot serve the website on {addr} (TCP)"))?;
    let cache = web::Cache::default();
    let registry = enrols.then(|| registry_path(data));
    let backend = Arc::new(
        office::Backend::open(data, sync.store.clone(), sync.changes.clone(), registry.clone())?
            .trusting(trusted_proxies),
    );
    // Halls hold the booking key before they are ever offline.
    if let Err(error) = web::booking::publish_key(&backend, web::now()) {
        tracing::warn!(message = "Cannot publish the booking key.", %error);
    }
    // Statistics: projected from the documents on their own thread as halls sync.
    stats::spawn_projector(backend.clone(), sync.changes.subscribe());
    let sources = web::Sources {
        store: sync.store.clone(),
        online: Arc::new({
            let sync = sync.clone();
            move || sync.halls_online()
        }),
        registry,
    };
    tokio::spawn(web::cache::follow(cache.clone(), sources, sync.changes.subscribe(), stopped.clone()));
    let bound = listener.local_addr()?;
    tracing::info!(message = "Serving the public website.", web = %bound);
    let mut until = stopped;
    Ok((
        bound,
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = until.wait_for(|s| *s).await;
            };
            if let Err(error) = web::serve(listener, web::WebState { cache, backend }, shutdown).await {
                tracing::error!(message = "The website stopped.", %error);
            }
        }),
    ))
}
