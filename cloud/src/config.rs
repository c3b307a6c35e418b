//! `cloud.toml`: the cloud's configuration, typed and documented (`deploy/cloud/cloud.toml` is
//! the example). Unknown keys are refused, relative paths are relative to the file, and
//! [`CloudConfig::check`] reads every file it names, so `onestop-cloud check-config` finds a
//! mistake before a restart does.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// The cloud's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudConfig {
    /// The data directory (the store, the office database, the keys, the statistics).
    pub data: PathBuf,
    /// The UDP address of the halls' sync link (QUIC).
    pub listen: SocketAddr,
    /// The campus CA certificate (PEM).
    pub ca: PathBuf,
    /// This cloud's certificate chain (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// Nodes refused at the handshake (also: `onestop-provision revoke`).
    #[serde(default)]
    pub revoked: Vec<String>,
    /// Enrolment of new nodes with join tokens, when this cloud holds the CA.
    #[serde(default)]
    pub enroll: Option<EnrollConfig>,
    /// The public website's address (plain HTTP, behind the campus reverse proxy).
    #[serde(default)]
    pub web: Option<SocketAddr>,
    /// Reverse proxies on other hosts whose X-Forwarded-For names the visitor.
    #[serde(default)]
    pub trusted_proxies: Vec<IpAddr>,
}

/// `[enroll]`: the campus CA that signs node certificates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollConfig {
    /// The folder of `ca.pem` and the encrypted `ca.key`.
    pub ca: PathBuf,
    /// The file holding the CA key's passphrase (e.g. a systemd credential).
    pub passphrase_file: PathBuf,
    /// Node certificates' lifetime in days.
    #[serde(default = "default_cert_days")]
    pub node_cert_days: u32,
    /// Overrides `node_cert_days` with seconds (for tests of expiry).
    #[serde(default)]
    pub node_cert_seconds: Option<u64>,
}

fn default_cert_days() -> u32 {
    30
}

impl EnrollConfig {
    /// A node certificate's lifetime.
    pub fn lifetime(&self) -> std::time::Duration {
        std::time::Duration::from_secs(
            self.node_cert_seconds.unwrap_or(u64::from(self.node_cert_days) * 86_400),
        )
    }
}

impl CloudConfig {
    /// Reads `path`; relative paths in it become relative to its folder.
    pub fn load(path: &Path) -> Result<CloudConfig> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut cfg: CloudConfig = toml::from_str(&text)
            .with_context(|| format!("{} is not a valid cloud configuration", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let at = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        at(&mut cfg.data);
        at(&mut cfg.ca);
        at(&mut cfg.cert);
        at(&mut cfg.key);
        if let Some(e) = &mut cfg.enroll {
            at(&mut e.ca);
            at(&mut e.passphrase_file);
        }
        Ok(cfg)
    }

    /// Checks what can be checked without serving: the certificate files, the CA and its
    /// passphrase, the node names.
    pub fn check(&self) -> Result<()> {
        onestop_sync::transport::tls::read_pem_files(&self.ca, &self.cert, &self.key)?;
        for node in &self.revoked {
            if !onestop_model::valid_node_name(node) {
                bail!("revoked: {}", onestop_model::BadId::Node(node.clone()));
            }
        }
        if let Some(e) = &self.enroll {
            let pass = self.passphrase(e)?;
            onestop_provision::CampusCa::load(&e.ca, &pass)?;
            if e.node_cert_days == 0 || e.node_cert_seconds == Some(0) {
                bail!("[enroll] node_cert_days must be at least 1");
            }
        }
        Ok(())
    }

    /// The CA key's passphrase.
    pub fn passphrase(&self, e: &EnrollConfig) -> Result<String> {
        let pass = std::fs::read_to_string(&e.passphrase_file)
            .with_context(|| format!("cannot read the CA passphrase from {}", e.passphrase_file.display()))?;
        Ok(pass.trim_end_matches(['\n', '\r']).to_string())
    }
}
