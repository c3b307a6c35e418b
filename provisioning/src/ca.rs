//! The campus CA: one ECDSA P-256 key that signs the cloud's server certificate and every
//! node's client certificate. Its key is kept on disk only encrypted with a passphrase.

use crate::ProvisionError;
use onestop_credentials::{CredentialError, DeviceId, NodeIdentity, identity_of};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The CA certificate's file name in the CA directory.
pub const CERT_FILE: &str = "ca.pem";
/// The CA key's file name in the CA directory (encrypted PKCS#8 PEM, mode 0600).
pub const KEY_FILE: &str = "ca.key";
/// The shortest passphrase [`CampusCa::save`] accepts, in characters.
pub const MIN_PASSPHRASE_CHARS: usize = 8;
/// How far back certificates are dated, for clocks a little behind.
pub const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// scrypt cost for the CA key: N = 2^14, r = 8, p = 1 (16 MiB). OpenSSL refuses to spend more
/// than 32 MiB on scrypt when reading a key, so this is as high as stays readable by
/// `openssl pkey`.
const SCRYPT_LOG_N: u8 = 14;
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;

/// The campus CA: its certificate and its signing key.
pub struct CampusCa {
    cert_pem: String,
    cert_der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for CampusCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CampusCa").field("cert_pem", &self.cert_pem).finish_non_exhaustive()
    }
}

/// A certificate and the private key made for it (both PEM; the key is plain PKCS#8).
#[derive(Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued").field("cert_pem", &self.cert_pem).field("key_pem", &"<secret>").finish()
    }
}

/// A node certificate signed from a CSR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNode {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The certificate's notAfter, exactly as written in it (whole seconds).
    pub not_after: SystemTime,
    /// The id of the device whose key the certificate certifies.
    pub device_id: DeviceId,
}

impl CampusCa {
    /// A new campus CA named `name` (its common name), valid for `valid_days` from now (dated
    /// [`BACKDATE`] back): a fresh ECDSA P-256 key; basic constraints CA with path length 0
    /// (it signs only end-entity certificates); key usage certificate and CRL signing.
    pub fn create(name: &str, valid_days: u32, now: SystemTime) -> Result<CampusCa, ProvisionError> {
        if name.trim().is_empty() {
            return Err(ProvisionError::Issue("the CA needs a name".into()));
        }
        if valid_days == 0 {
            return Err(ProvisionError::Issue("the CA must be valid for at least a day".into()));
        }
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = asn1_time(now - BACKDATE)?;
        params.not_after = asn1_time(now + days(valid_days))?;
        params.serial_number = Some(random_serial());
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(issue)?;
        let cert = params.self_signed(&key).map_err(issue)?;
        CampusCa::from_parts(cert.pem(), cert.der().to_vec(), key)
    }

    fn from_parts(cert_pem: String, cert_der: Vec<u8>, key: KeyPair) -> Result<CampusCa, ProvisionError> {
        let issuer = Issuer::from_ca_cert_der(&cert_der.as_slice().into(), key)
            .map_err(|e| ProvisionError::BadCa(format!("the CA certificate is not usable: {e}")))?;
        Ok(CampusCa { cert_pem, cert_der, issuer })
    }

    /// Writes [`CERT_FILE`] and [`KEY_FILE`] into `dir` (made if missing). The key is written
    /// as an `ENCRYPTED PRIVATE KEY` PEM (PKCS#8, PBES2 with scrypt and AES-256-CBC, readable
    /// by `openssl pkey`), with mode 0600. Refuses a passphrase shorter than
    /// [`MIN_PASSPHRASE_CHARS`] characters, and never overwrites an existing key file.
    pub fn save(&self, dir: &Path, passphrase: &str) -> Result<(), ProvisionError> {
        if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
            return Err(ProvisionError::WeakPassphrase);
        }
        let key_path = dir.join(KEY_FILE);
        if key_path.exists() {
            return Err(ProvisionError::CaKeyExists(key_path));
        }
        let encrypted = encrypt_key(&self.issuer.key().serialize_der(), passphrase)?;
        std::fs::create_dir_all(dir).map_err(|e| ProvisionError::io("create", dir, e))?;
        write_new_private(&key_path, encrypted.as_bytes())?;
        let cert_path = dir.join(CERT_FILE);
        std::fs::write(&cert_path, &self.cert_pem).map_err(|e| ProvisionError::io("write", &cert_path, e))
    }

    /// Reads the CA saved in `dir` by [`save`](Self::save). A wrong passphrase is
    /// [`ProvisionError::WrongPassphrase`]; a key that does not belong to the certificate, or
    /// a key file that is not encrypted, is refused.
    pub fn load(dir: &Path, passphrase: &str) -> Result<CampusCa, ProvisionError> {
        let cert_path = dir.join(CERT_FILE);
        let key_path = dir.join(KEY_FILE);
        let cert_pem =
            std::fs::read_to_string(&cert_path).map_err(|e| ProvisionError::io("read", &cert_path, e))?;
        let key_pem =
            std::fs::read_to_string(&key_path).map_err(|e| ProvisionError::io("read", &key_path, e))?;
        let bad = |what: &Path, why: String| ProvisionError::BadCa(format!("{}: {why}", what.display()));

        let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.trim_start().as_bytes())
            .map_err(|e| bad(&cert_path, format!("not PEM: {e}")))?;
        if pem.label != "CERTIFICATE" {
            return Err(bad(&cert_path, format!("a PEM {:?}, not a CERTIFICATE", pem.label)));
        }
        let cert_der = pem.contents;
        let (_, cert) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|e| bad(&cert_path, format!("unreadable certificate: {e}")))?;
        if !cert.is_ca() {
            return Err(bad(&cert_path, "not a CA certificate".into()));
        }

        let key = decrypt_key(&key_pem, passphrase, &key_path)?;
        if key.subject_public_key_info() != cert.public_key().raw {
            return Err(bad(&key_path, format!("this key does not belong to {}", cert_path.display())));
        }
        CampusCa::from_parts(cert_pem, cert_der.clone(), key)
    }

    /// The CA certificate, PEM (what every node and the cloud trust).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The cloud's server certificate and a fresh ECDSA P-256 key for it: subject alternative
    /// names `dns_names` (IP addresses become IP names), common name the first of them,
    /// server-auth extended key usage, valid for `valid_days` from now (dated [`BACKDATE`]
    /// back).
    pub fn server_cert(
        &self,
        dns_names: &[String],
        valid_days: u32,
        now: SystemTime,
    ) -> Result<Issued, ProvisionError> {
        let Some(first) = dns_names.first() else {
            return Err(ProvisionError::Issue("a server certificate needs at least one name".into()));
        };
        if valid_days == 0 {
            return Err(ProvisionError::Issue("the certificate must be valid for at least a day".into()));
        }
        let mut params = CertificateParams::new(dns_names.to_vec())
            .map_err(|e| ProvisionError::Issue(format!("not a DNS name or IP address: {e}")))?;
        params.distinguished_name.push(DnType::CommonName, first.as_str());
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = asn1_time(now - BACKDATE)?;
        params.not_after = asn1_time(now + days(valid_days))?;
        params.serial_number = Some(random_serial());
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(issue)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(issue)?;
        Ok(Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }

    /// Signs a node's CSR (PEM) into its client certificate.
    ///
    /// Guarantees: the CSR's self-signature verifies, or it is refused
    /// ([`CredentialError::CsrSignature`]); the key is ECDSA P-256, P-384 or Ed25519; only the
    /// CSR's public key is used, every name and extension it asks for is ignored; the
    /// certificate has exactly one subject alternative name, the URI [`NodeIdentity::uri`],
    /// common name `identity.node`, client-auth extended key usage, notBefore `now` −
    /// [`BACKDATE`] and notAfter `now + lifetime` (to the second below); it chains to this CA
    /// and [`identity_of`] reads `identity` back from it.
    pub fn sign_node_csr(
        &self,
        csr_pem: &str,
        identity: &NodeIdentity,
        lifetime: Duration,
        now: SystemTime,
    ) -> Result<SignedNode, ProvisionError> {
        if !crate::valid_hall_id(identity.hall.as_str()) {
            return Err(ProvisionError::BadIdentity(format!(
                "hall {:?}: a hall id is 1-32 of a-z, 0-9 and -",
                identity.hall.as_str()
            )));
        }
        if !crate::valid_node_name(&identity.node) {
            return Err(ProvisionError::BadIdentity(format!(
                "node {:?}: a node name is 1-63 of a-z, 0-9 and -, not starting with -",
                identity.node
            )));
        }
        if lifetime < Duration::from_secs(1) {
            return Err(ProvisionError::Issue("the certificate's lifetime must be at least a second".into()));
        }
        let spki_der = onestop_credentials::csr::verified_public_key(csr_pem)?;
        let public_key = rcgen::SubjectPublicKeyInfo::from_der(&spki_der)
            .map_err(|e| CredentialError::BadCsr(format!("unsupported public key: {e}")))?;
        let alg = public_key.algorithm();
        if ![&rcgen::PKCS_ECDSA_P256_SHA256, &rcgen::PKCS_ECDSA_P384_SHA384, &rcgen::PKCS_ED25519]
            .contains(&alg)
        {
            return Err(CredentialError::BadCsr(format!(
                "a {alg:?} key; node keys are ECDSA P-256, P-384 or Ed25519"
            ))
            .into());
        }

        let not_after = whole_seconds(now + lifetime)?;
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, identity.node.as_str());
        let uri = identity.uri().try_into().map_err(|e| ProvisionError::BadIdentity(format!("{e}")))?;
        params.subject_alt_names = vec![SanType::URI(uri)];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = asn1_time(now - BACKDATE)?;
        params.not_after = asn1_time(not_after)?;
        params.serial_number = Some(random_serial());
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&public_key, &self.issuer).map_err(issue)?;

        // What was promised, checked on the certificate itself.
        let named = identity_of(cert.der()).map_err(ProvisionError::Issue)?;
        if &named != identity {
            return Err(ProvisionError::Issue(format!("the certificate names {named:?}, not {identity:?}")));
        }
        let device_id = DeviceId::of_public_key(&spki_der);
        if DeviceId::of_certificate(cert.der())? != device_id {
            return Err(ProvisionError::Issue("the certificate's key is not the CSR's key".into()));
        }
        Ok(SignedNode { cert_pem: cert.pem(), not_after, device_id })
    }
}

fn issue(e: rcgen::Error) -> ProvisionError {
    ProvisionError::Issue(e.to_string())
}

fn days(n: u32) -> Duration {
    Duration::from_secs(u64::from(n) * 86_400)
}

/// `t` cut down to the whole second, as a certificate holds it.
fn whole_seconds(t: SystemTime) -> Result<SystemTime, ProvisionError> {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| ProvisionError::Issue("a time before 1970".into()))?
        .as_secs();
    Ok(UNIX_EPOCH + Duration::from_secs(secs))
}

fn asn1_time(t: SystemTime) -> Result<time::OffsetDateTime, ProvisionError> {
    let secs = whole_seconds(t)?.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .ok_or_else(|| ProvisionError::Issue("a time too far in the future".into()))
}

/// A random positive 128-bit serial number (RFC 5280 allows up to 20 bytes).
fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system has no random source");
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01; // no leading zero byte, so the length is always 16
    SerialNumber::from_slice(&bytes)
}

fn encrypt_key(pkcs8_der: &[u8], passphrase: &str) -> Result<String, ProvisionError> {
    use pkcs8::pkcs5::{pbes2, scrypt};
    let fail = |e: String| ProvisionError::BadKey(format!("cannot encrypt the CA key: {e}"));
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| fail(e.to_string()))?;
    getrandom::fill(&mut iv).map_err(|e| fail(e.to_string()))?;
    let cost = scrypt::Params::new(SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P).map_err(|e| fail(e.to_string()))?;
    let params =
        pbes2::Parameters::generate_scrypt_aes256cbc(cost, &salt, iv).map_err(|e| fail(e.to_string()))?;
    let info = pkcs8::PrivateKeyInfoRef::try_from(pkcs8_der).map_err(|e| fail(e.to_string()))?;
    let doc = info.encrypt_with_params(params, passphrase.as_bytes()).map_err(|e| fail(e.to_string()))?;
    let pem = doc.to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF).map_err(|e| fail(e.to_string()))?;
    // The encrypted PEM holds no secret in the clear.
    Ok(pem.as_str().to_owned())
}

fn decrypt_key(key_pem: &str, passphrase: &str, path: &Path) -> Result<KeyPair, ProvisionError> {
    let bad = |why: String| ProvisionError::BadCa(format!("{}: {why}", path.display()));
    let (label, doc) = pkcs8::SecretDocument::from_pem(key_pem).map_err(|e| bad(format!("not PEM: {e}")))?;
    if label != "ENCRYPTED PRIVATE KEY" {
        return Err(bad(format!(
            "a PEM {label:?}; the campus CA key must be an ENCRYPTED PRIVATE KEY (encrypted PKCS#8)"
        )));
    }
    let encrypted = pkcs8::EncryptedPrivateKeyInfoRef::try_from(doc.as_bytes())
        .map_err(|e| bad(format!("not an encrypted PKCS#8 key: {e}")))?;
    let plain = match encrypted.decrypt(passphrase.as_bytes()) {
        Ok(plain) => plain,
        Err(pkcs8::Error::EncryptedPrivateKey(
            pkcs8::pkcs5::Error::UnsupportedAlgorithm { oid }
            | pkcs8::pkcs5::Error::AlgorithmParametersInvalid { oid },
        )) => return Err(bad(format!("unsupported encryption (algorithm {oid})"))),
        // A wrong passphrase fails the padding check, or (rarely) yields bytes that are no key.
        Err(_) => return Err(ProvisionError::WrongPassphrase(path.to_path_buf())),
    };
    KeyPair::try_from(plain.as_bytes()).map_err(|_| ProvisionError::WrongPassphrase(path.to_path_buf()))
}

/// Creates `path` (never an existing file) with mode 0600 and writes `bytes` to disk.
fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), ProvisionError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => ProvisionError::CaKeyExists(path.to_path_buf()),
        _ => ProvisionError::io("create", path, e),
    })?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|e| ProvisionError::io("write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use onestop_model::HallId;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use std::sync::Arc;

    const PASS: &str = "correct horse battery";

    fn der_of(pem: &str) -> Vec<u8> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        pem.contents
    }

    fn unix(t: SystemTime) -> UnixTime {
        UnixTime::since_unix_epoch(t.duration_since(UNIX_EPOCH).unwrap())
    }

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn roots(ca: &CampusCa) -> Arc<rustls::RootCertStore> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(ca.cert_der().to_vec())).unwrap();
        Arc::new(roots)
    }

    /// Whether a client certificate (PEM) chains to `ca` at `at`, as the cloud's verifier
    /// (webpki, client-auth) judges it.
    fn client_chain_ok(ca: &CampusCa, cert_pem: &str, at: SystemTime) -> Result<(), rustls::Error> {
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(roots(ca), provider())
            .build()
            .unwrap();
        verifier.verify_client_cert(&CertificateDer::from(der_of(cert_pem)), &[], unix(at)).map(|_| ())
    }

    fn main_pi_1() -> NodeIdentity {
        NodeIdentity { node: "main-pi-1".into(), hall: HallId::new("main") }
    }

    /// A device's key and a CSR that asks for far more than it will get.
    fn greedy_csr() -> (KeyPair, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["cloud.campus.example".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "device-asks");
        params.subject_alt_names.push(SanType::URI("urn:onestop:node:east:admin".try_into().unwrap()));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let csr = params.serialize_request(&key).unwrap().pem().unwrap();
        (key, csr)
    }

    #[test]
    fn the_ca_round_trips_through_an_encrypted_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CampusCa::create("Onestop Campus CA", 3650, onestop_model::clock::SystemClock.system_time())
            .unwrap();
        ca.save(dir.path(), PASS).unwrap();

        let key_file = std::fs::read_to_string(dir.path().join(KEY_FILE)).unwrap();
        assert!(key_file.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"), "{key_file}");
        let plain = ca.issuer.key().serialize_pem();
        assert!(!key_file.contains("BEGIN PRIVATE KEY"));
        for line in plain.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!key_file.contains(line), "the plain key shows through: {line}");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(std::fs::read_to_string(dir.path().join(CERT_FILE)).unwrap(), ca.cert_pem());

        let loaded = CampusCa::load(dir.path(), PASS).unwrap();
        assert_eq!(loaded.cert_pem(), ca.cert_pem());
        assert_eq!(loaded.cert_der(), ca.cert_der());
        assert_eq!(loaded.issuer.key().serialize_der(), ca.issuer.key().serialize_der());
        // The loaded CA issues certificates that chain to the saved certificate.
        let (_, csr) = greedy_csr();
        let now = onestop_model::clock::SystemClock.system_time();
        let signed = loaded.sign_node_csr(&csr, &main_pi_1(), Duration::from_secs(86_400), now).unwrap();
        client_chain_ok(&ca, &signed.cert_pem, now).unwrap();
    }

    #[test]
    fn the_created_ca_is_a_p256_ca_for_signing_certificates_only() {
        let ca = CampusCa::create("Onestop Campus CA", 30, onestop_model::clock::SystemClock.system_time())
            .unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(ca.cert_der()).unwrap();
        assert!(cert.is_ca());
        let bc = cert.basic_constraints().unwrap().unwrap().value;
        assert_eq!(bc.path_len_constraint, Some(0));
        let ku = cert.key_usage().unwrap().unwrap().value;
        assert!(ku.key_cert_sign() && ku.crl_sign() && !ku.digital_signature());
        assert_eq!(
            cert.public_key().algorithm.algorithm,
            x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY
        );
        let days = (cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp()) / 86_400;
        assert_eq!(days, 30, "30 days and the 5 minutes of back-dating");
        assert!(cert.subject().to_string().contains("Onestop Campus CA"));
    }

    #[test]
    fn a_wrong_passphrase_is_a_clear_error_never_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        CampusCa::create("ca", 1, onestop_model::clock::SystemClock.system_time())
            .unwrap()
            .save(dir.path(), PASS)
            .unwrap();
        for wrong in ["correct horse battery ", "Correct horse battery", "12345678", ""] {
            let err = CampusCa::load(dir.path(), wrong).unwrap_err();
            assert!(matches!(err, ProvisionError::WrongPassphrase(_)), "{wrong:?}: {err}");
            let msg = err.to_string();
            assert!(msg.contains("wrong passphrase for") && msg.contains("ca.key"), "{msg}");
        }
    }

    #[test]
    fn save_refuses_to_overwrite_a_key_and_refuses_a_short_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let first = CampusCa::create("first", 1, onestop_model::clock::SystemClock.system_time()).unwrap();
        let err = first.save(dir.path(), "short12").unwrap_err();
        assert!(matches!(err, ProvisionError::WeakPassphrase), "{err}");
        assert!(!dir.path().join(KEY_FILE).exists(), "nothing written");
        first.save(dir.path(), "12345678").unwrap();
        let before = std::fs::read(dir.path().join(KEY_FILE)).unwrap();

        let second = CampusCa::create("second", 1, onestop_model::clock::SystemClock.system_time()).unwrap();
        let err = second.save(dir.path(), PASS).unwrap_err();
        assert!(matches!(err, ProvisionError::CaKeyExists(_)), "{err}");
        assert!(err.to_string().contains("refusing to overwrite"), "{err}");
        assert_eq!(std::fs::read(dir.path().join(KEY_FILE)).unwrap(), before);
        assert_eq!(CampusCa::load(dir.path(), "12345678").unwrap().cert_pem(), first.cert_pem());
    }

    #[test]
    fn a_key_that_is_not_the_certificates_or_not_encrypted_is_refused() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        CampusCa::create("a", 1, onestop_model::clock::SystemClock.system_time())
            .unwrap()
            .save(a.path(), PASS)
            .unwrap();
        CampusCa::create("b", 1, onestop_model::clock::SystemClock.system_time())
            .unwrap()
            .save(b.path(), PASS)
            .unwrap();
        std::fs::copy(b.path().join(KEY_FILE), a.path().join(KEY_FILE)).unwrap();
        let err = CampusCa::load(a.path(), PASS).unwrap_err();
        assert!(err.to_string().contains("does not belong"), "{err}");

        std::fs::write(b.path().join(KEY_FILE), KeyPair::generate().unwrap().serialize_pem()).unwrap();
        let err = CampusCa::load(b.path(), PASS).unwrap_err();
        assert!(err.to_string().contains("must be an ENCRYPTED PRIVATE KEY"), "{err}");
    }

    #[test]
    fn openssl_reads_the_encrypted_key() {
        // Needs openssl (scripts/test installs it): fails without it, never skips.
        let version = std::process::Command::new("openssl")
            .arg("version")
            .output()
            .expect("openssl is not installed: apt-get install openssl (scripts/test does)");
        assert!(version.status.success());
        let dir = tempfile::tempdir().unwrap();
        let ca = CampusCa::create("ca", 1, onestop_model::clock::SystemClock.system_time()).unwrap();
        ca.save(dir.path(), PASS).unwrap();
        let pkey = |pass: &str| {
            std::process::Command::new("openssl")
                .args(["pkey", "-pubout", "-outform", "DER", "-passin"])
                .arg(format!("pass:{pass}"))
                .arg("-in")
                .arg(dir.path().join(KEY_FILE))
                .output()
                .unwrap()
        };
        let out = pkey(PASS);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let (_, cert) = x509_parser::parse_x509_certificate(ca.cert_der()).unwrap();
        assert_eq!(out.stdout, cert.public_key().raw, "openssl found the CA's key");
        assert!(!pkey("not the passphrase").status.success());
        let parsed = std::process::Command::new("openssl")
            .args(["asn1parse", "-in"])
            .arg(dir.path().join(KEY_FILE))
            .output()
            .unwrap();
        let parsed = String::from_utf8_lossy(&parsed.stdout);
        for algorithm in [":PBES2", ":scrypt", ":aes-256-cbc"] {
            assert!(parsed.contains(algorithm), "{algorithm} not in\n{parsed}");
        }
    }

    #[test]
    fn a_node_csr_becomes_a_certificate_naming_exactly_its_node() {
        let ca = CampusCa::create("ca", 365, onestop_model::clock::SystemClock.system_time()).unwrap();
        let (device_key, csr) = greedy_csr();
        let now = UNIX_EPOCH + Duration::from_millis(1_790_000_000_250);
        let lifetime = Duration::from_secs(30 * 86_400);
        let signed = ca.sign_node_csr(&csr, &main_pi_1(), lifetime, now).unwrap();

        let der = der_of(&signed.cert_pem);
        assert_eq!(identity_of(&der).unwrap(), main_pi_1());
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let sans = &cert.subject_alternative_name().unwrap().unwrap().value.general_names;
        assert_eq!(sans.len(), 1, "{sans:?}");
        assert_eq!(sans[0], x509_parser::extensions::GeneralName::URI("urn:onestop:node:main:main-pi-1"));
        let cns: Vec<&str> = cert.subject().iter_common_name().map(|cn| cn.as_str().unwrap()).collect();
        assert_eq!(cns, ["main-pi-1"]);
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth && !eku.any, "{eku:?}");
        assert!(!cert.is_ca());
        assert_eq!(cert.validity().not_before.timestamp(), 1_790_000_000 - 300);
        assert_eq!(cert.validity().not_after.timestamp(), 1_790_000_000 + 30 * 86_400);
        assert_eq!(signed.not_after, UNIX_EPOCH + Duration::from_secs(1_790_000_000 + 30 * 86_400));

        // The device is the one whose key made the CSR, however it is worked out.
        let id = DeviceId::of_key_pem(&device_key.serialize_pem()).unwrap();
        assert_eq!(signed.device_id, id);
        assert_eq!(DeviceId::of_csr(&csr).unwrap(), id);
        assert_eq!(DeviceId::of_certificate(&der).unwrap(), id);
        assert_ne!(DeviceId::of_key_pem(&KeyPair::generate().unwrap().serialize_pem()).unwrap(), id);

        // It chains to this CA (and not to another), within its validity only.
        client_chain_ok(&ca, &signed.cert_pem, now).unwrap();
        client_chain_ok(&ca, &signed.cert_pem, now + lifetime - Duration::from_secs(1)).unwrap();
        assert!(client_chain_ok(&ca, &signed.cert_pem, now + lifetime + Duration::from_secs(1)).is_err());
        assert!(client_chain_ok(&ca, &signed.cert_pem, now - Duration::from_secs(301)).is_err());
        let other = CampusCa::create("other", 365, onestop_model::clock::SystemClock.system_time()).unwrap();
        assert!(client_chain_ok(&other, &signed.cert_pem, now).is_err());
        // Two certificates for the same key have different serial numbers.
        let again = ca.sign_node_csr(&csr, &main_pi_1(), lifetime, now).unwrap();
        let again = der_of(&again.cert_pem);
        let (_, again) = x509_parser::parse_x509_certificate(&again).unwrap();
        assert_ne!(again.raw_serial(), cert.raw_serial());
    }

    #[test]
    fn a_tampered_csr_is_refused() {
        let ca = CampusCa::create("ca", 365, onestop_model::clock::SystemClock.system_time()).unwrap();
        let (_, csr) = greedy_csr();
        let der = der_of(&csr);
        let pem_of = |der: &[u8]| {
            pkcs8::der::pem::encode_string("CERTIFICATE REQUEST", pkcs8::LineEnding::LF, der).unwrap()
        };
        assert_eq!(pem_of(&der).trim(), csr.trim(), "the re-encoding itself changes nothing");
        let now = onestop_model::clock::SystemClock.system_time();
        let day = Duration::from_secs(86_400);

        // A changed name.
        let at = der.windows(11).position(|w| w == b"device-asks").unwrap();
        let mut renamed = der.clone();
        renamed[at + 10] = b'z';
        // Another key put in place of the signer's.
        let (_, other) = greedy_csr();
        let other_der = der_of(&other);
        let spki = |d: &[u8]| {
            use x509_parser::prelude::FromDer;
            let (_, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(d).unwrap();
            csr.certification_request_info.subject_pki.raw.to_vec()
        };
        let (mine, theirs) = (spki(&der), spki(&other_der));
        let at = der.windows(mine.len()).position(|w| w == mine.as_slice()).unwrap();
        let mut rekeyed = der.clone();
        rekeyed[at..at + mine.len()].copy_from_slice(&theirs);

        for tampered in [renamed, rekeyed] {
            let err = ca.sign_node_csr(&pem_of(&tampered), &main_pi_1(), day, now).unwrap_err();
            assert!(matches!(err, ProvisionError::Credential(CredentialError::CsrSignature)), "{err}");
            assert!(err.to_string().contains("signature does not verify"), "{err}");
            assert!(matches!(DeviceId::of_csr(&pem_of(&tampered)), Err(CredentialError::CsrSignature)));
        }
        let err = ca.sign_node_csr("not a CSR", &main_pi_1(), day, now).unwrap_err();
        assert!(matches!(err, ProvisionError::Credential(CredentialError::BadCsr(_))), "{err}");
        let err = ca.sign_node_csr(ca.cert_pem(), &main_pi_1(), day, now).unwrap_err();
        assert!(err.to_string().contains("not a CERTIFICATE REQUEST"), "{err}");
    }

    #[test]
    fn node_identities_are_checked_before_signing() {
        let ca = CampusCa::create("ca", 365, onestop_model::clock::SystemClock.system_time()).unwrap();
        let (_, csr) = greedy_csr();
        let now = onestop_model::clock::SystemClock.system_time();
        let day = Duration::from_secs(86_400);
        for (hall, node) in [("Main", "pi-1"), ("main", ""), ("main", "pi:1"), ("main", "-pi"), ("", "pi")] {
            let id = NodeIdentity { node: node.into(), hall: HallId::new(hall) };
            let err = ca.sign_node_csr(&csr, &id, day, now).unwrap_err();
            assert!(matches!(err, ProvisionError::BadIdentity(_)), "{hall}:{node}: {err}");
        }
        assert!(ca.sign_node_csr(&csr, &main_pi_1(), Duration::ZERO, now).is_err());
    }

    #[test]
    fn the_server_certificate_serves_the_cloud_names() {
        use rustls::client::danger::ServerCertVerifier;
        let ca = CampusCa::create("ca", 365, onestop_model::clock::SystemClock.system_time()).unwrap();
        let names = ["cloud.campus.example".to_string(), "10.0.0.5".to_string()];
        let issued = ca.server_cert(&names, 365, onestop_model::clock::SystemClock.system_time()).unwrap();
        assert!(issued.key_pem.contains("BEGIN PRIVATE KEY"));
        assert_eq!(
            DeviceId::of_key_pem(&issued.key_pem).unwrap(),
            DeviceId::of_certificate(&der_of(&issued.cert_pem)).unwrap(),
            "the key is the certificate's"
        );
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(roots(&ca), provider())
            .build()
            .unwrap();
        let cert = CertificateDer::from(der_of(&issued.cert_pem));
        let now = unix(onestop_model::clock::SystemClock.system_time());
        for name in ["cloud.campus.example", "10.0.0.5"] {
            let name = ServerName::try_from(name).unwrap();
            verifier.verify_server_cert(&cert, &[], &name, &[], now).unwrap();
        }
        let wrong = ServerName::try_from("other.campus.example").unwrap();
        assert!(verifier.verify_server_cert(&cert, &[], &wrong, &[], now).is_err());
        // A server certificate is no client certificate.
        assert!(
            client_chain_ok(&ca, &issued.cert_pem, onestop_model::clock::SystemClock.system_time()).is_err()
        );
        assert!(ca.server_cert(&[], 365, onestop_model::clock::SystemClock.system_time()).is_err());
    }
}
