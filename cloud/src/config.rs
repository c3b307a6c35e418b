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
        onestop_link::tls::read_pem_files(&self.ca, &self.cert, &self.key)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../deploy/cloud/cloud.toml");

    /// The documented example is a configuration this version reads, with and without its
    /// optional lines.
    #[test]
    fn the_documented_example_reads() {
        let c: CloudConfig = toml::from_str(EXAMPLE).unwrap();
        assert_eq!(c.listen.port(), 4433);
        assert_eq!(c.enroll.as_ref().unwrap().node_cert_days, 30);
        assert!(c.web.is_none());
        let all: String = EXAMPLE
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest) if rest.contains(" = ") && !rest.starts_with(' ') => rest,
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let c: CloudConfig = toml::from_str(&all).unwrap_or_else(|e| panic!("{e}\n{all}"));
        assert!(c.web.is_some() && !c.trusted_proxies.is_empty() && !c.revoked.is_empty());
    }

    #[test]
    fn mistakes_are_named_and_paths_are_relative_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cloud.toml");
        std::fs::write(&path, format!("colour = \"red\"\n{EXAMPLE}")).unwrap();
        let err = format!("{:#}", CloudConfig::load(&path).unwrap_err());
        assert!(err.contains("unknown field `colour`") && err.contains("cloud.toml"), "{err}");
        std::fs::write(&path, EXAMPLE.replace("/etc/onestop/cloud.pem", "cloud.pem")).unwrap();
        let c = CloudConfig::load(&path).unwrap();
        assert_eq!(c.cert, dir.path().join("cloud.pem"));
        assert_eq!(c.key, std::path::Path::new("/etc/onestop/cloud.key"), "absolute paths stay");
    }
}
