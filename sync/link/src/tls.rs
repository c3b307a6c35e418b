//! Mutual TLS for the sync link: the campus CA, node identities in certificates, revocation,
//! and a time source that never goes before the last known good time.
//!
//! A node's certificate carries one URI name `urn:onestop:node:<hall>:<node>`: the cloud takes
//! the node and its hall from there, never from anything the node says. That contract
//! ([`NodeIdentity`], [`identity_of`]) lives in `onestop-credentials`, shared with the campus CA.

pub use onestop_credentials::node::{NodeIdentity, identity_of};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, RootCertStore, SignatureScheme,
};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// The ALPN protocol of the sync link.
pub const ALPN: &[u8] = b"onestop-sync/1";

/// The nodes whose certificates are no longer accepted.
#[derive(Debug, Clone, Default)]
pub struct Revocations(Arc<RwLock<BTreeSet<String>>>);

impl Revocations {
    pub fn revoke(&self, node: &str) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).insert(node.to_string());
    }
    pub fn is_revoked(&self, node: &str) -> bool {
        self.0.read().unwrap_or_else(|e| e.into_inner()).contains(node)
    }
}

/// Wall time that never goes before the last known good time: a Pi whose clock is behind
/// still accepts a certificate that was valid when it last knew the time.
#[derive(Clone)]
pub struct FloorTime {
    floor: Arc<AtomicU64>,
    clock: Arc<dyn onestop_protocol::clock::Clock>,
}

impl std::fmt::Debug for FloorTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FloorTime").field("floor", &self.floor.load(Ordering::SeqCst)).finish()
    }
}

impl Default for FloorTime {
    /// On the system's clock.
    fn default() -> FloorTime {
        FloorTime::new(Arc::new(onestop_protocol::clock::SystemClock))
    }
}

impl FloorTime {
    /// Wall time from `clock`, held up by the floor.
    pub fn new(clock: Arc<dyn onestop_protocol::clock::Clock>) -> FloorTime {
        FloorTime { floor: Arc::default(), clock }
    }
    /// Raises the floor to `secs` since 1970 (never lowers it).
    pub fn raise(&self, secs: u64) {
        self.floor.fetch_max(secs, Ordering::SeqCst);
    }
}

impl rustls::time_provider::TimeProvider for FloorTime {
    fn current_time(&self) -> Option<UnixTime> {
        let wall = (self.clock.now().0.max(0) / 1000) as u64;
        Some(UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            wall.max(self.floor.load(Ordering::SeqCst)),
        )))
    }
}

/// Checks the chain with webpki, then that the certificate names a node that is not revoked.
#[derive(Debug)]
struct NodeVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    revoked: Revocations,
}

impl ClientCertVerifier for NodeVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }
    /// A node without a certificate may connect only to enrol (see `enroll`); the sync link
    /// refuses any connection that presented none.
    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.inner.verify_client_cert(end_entity, intermediates, now)?;
        let id = identity_of(end_entity).map_err(|e| {
            Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(
                std::io::Error::other(e),
            ))))
        })?;
        if self.revoked.is_revoked(&id.node) {
            tracing::warn!(message = "Refused a revoked node.", node = %id.node, hall = %id.hall);
            return Err(Error::InvalidCertificate(CertificateError::Revoked));
        }
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The campus CA, a certificate chain and its key, read from PEM files.
pub struct PemFiles {
    pub ca: CertificateDer<'static>,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// Reads the CA certificate, the certificate chain and the private key from PEM files, with
/// an error that names the file and what is wrong with it.
pub fn read_pem_files(
    ca: &std::path::Path,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<PemFiles, TlsError> {
    use rustls::pki_types::pem::PemObject;
    let bad = |path: &std::path::Path, what: &str, e: rustls::pki_types::pem::Error| {
        TlsError::Cert(format!("{}: not a PEM {what}: {e}", path.display()))
    };
    let ca_cert = CertificateDer::from_pem_file(ca).map_err(|e| bad(ca, "certificate", e))?;
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(cert, "certificate", e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(cert, "certificate", e))?;
    if chain.is_empty() {
        return Err(TlsError::Cert(format!("{}: holds no certificate", cert.display())));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, "private key", e))?;
    Ok(PemFiles { ca: ca_cert, chain, key: key_der })
}

/// A TLS configuration that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("the campus CA certificate is not usable: {0}")]
    Ca(String),
    #[error("the certificate or key is not usable: {0}")]
    Cert(String),
}

fn roots(ca: &CertificateDer<'static>) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone()).map_err(|e| TlsError::Ca(e.to_string()))?;
    Ok(Arc::new(roots))
}

fn transport() -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    // Keep-alives well inside the idle timeout, so a dead link is noticed in seconds.
    t.keep_alive_interval(Some(std::time::Duration::from_secs(3)));
    t.max_idle_timeout(Some(quinn::IdleTimeout::from(quinn::VarInt::from_u32(10_000))));
    Arc::new(t)
}

/// The cloud's QUIC server configuration: TLS 1.3 only, client certificates checked against
/// the campus CA and the revocations, ALPN `onestop-sync/1` (which requires a certificate)
/// and `onestop-enroll/1` (which may come without one), no 0-RTT.
pub fn server_config(
    ca: &CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    revoked: Revocations,
    time: FloorTime,
) -> Result<quinn::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = rustls::server::WebPkiClientVerifier::builder_with_provider(roots(ca)?, provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::Ca(e.to_string()))?;
    let verifier = Arc::new(NodeVerifier { inner, revoked });
    let mut tls = rustls::ServerConfig::builder_with_details(provider, Arc::new(time))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Cert(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Cert(e.to_string()))?;
    tls.alpn_protocols = vec![ALPN.to_vec(), super::enroll::ALPN.to_vec()];
    tls.max_early_data_size = 0;
    // No resumption: a resumed TLS 1.3 session skips the client certificate check, and a
    // revoked node must be refused at its very next handshake.
    tls.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    tls.send_tls13_tickets = 0;
    let crypto =
        quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(|e| TlsError::Cert(e.to_string()))?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    cfg.transport_config(transport());
    Ok(cfg)
}

/// A node's QUIC client configuration: the campus CA as the only root, the node's own
/// certificate, ALPN `onestop-sync/1`, no 0-RTT, certificate times judged by `time`.
pub fn client_config(
    ca: &CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    time: FloorTime,
) -> Result<quinn::ClientConfig, TlsError> {
    client_config_for(ca, Some((chain, key)), ALPN, time)
}

/// A client configuration for `alpn`, with or without a client certificate.
pub fn client_config_for(
    ca: &CertificateDer<'static>,
    client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    alpn: &[u8],
    time: FloorTime,
) -> Result<quinn::ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_details(provider, Arc::new(time))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Cert(e.to_string()))?
        .with_root_certificates(roots(ca)?);
    let mut tls = match client {
        Some((chain, key)) => {
            builder.with_client_auth_cert(chain, key).map_err(|e| TlsError::Cert(e.to_string()))?
        }
        None => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![alpn.to_vec()];
    tls.enable_early_data = false;
    tls.resumption = rustls::client::Resumption::disabled();
    let crypto =
        quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(|e| TlsError::Cert(e.to_string()))?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
    cfg.transport_config(transport());
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::time_provider::TimeProvider;

    #[test]
    fn the_floor_holds_time_up_but_never_back() {
        let clock = onestop_protocol::clock::ManualClock::new(onestop_model::Timestamp(1_800_000_000_000));
        let t = FloorTime::new(Arc::new(clock.clone()));
        let wall = 1_800_000_000;
        assert!(t.current_time().unwrap().as_secs() >= wall);
        // A clock that is behind: the floor (the last known good time) wins.
        t.raise(wall + 86_400 * 30);
        assert_eq!(t.current_time().unwrap().as_secs(), wall + 86_400 * 30);
        t.raise(5);
        assert_eq!(t.current_time().unwrap().as_secs(), wall + 86_400 * 30, "never lowered");
    }
}
