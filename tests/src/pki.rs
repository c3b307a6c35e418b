//! A throwaway campus CA for tests: node and cloud certificates as the real CA makes them.

use onestop_link::NodeIdentity;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub struct TestCa {
    pub cert: CertificateDer<'static>,
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate chain and its key.
pub struct Leaf {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub cert_pem: String,
    pub key_pem: String,
}

impl Leaf {
    pub fn key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestCa { cert: cert.der().clone(), cert_pem: cert.pem(), issuer: Issuer::new(params, key) }
    }

    fn leaf(&self, params: CertificateParams) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// The cloud's server certificate for `dns`.
    pub fn server(&self, dns: &str) -> Leaf {
        self.leaf(CertificateParams::new(vec![dns.to_string()]).unwrap())
    }

    /// A node's client certificate, naming its hall and node id.
    pub fn node(&self, hall: &str, node: &str) -> Leaf {
        let id = NodeIdentity { node: node.into(), hall: onestop_model::HallId::new(hall) };
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, node);
        params.subject_alt_names = vec![SanType::URI(id.uri().try_into().unwrap())];
        self.leaf(params)
    }
}

impl TestCa {
    /// Writes `ca.pem`, `<name>.pem` and `<name>.key` for `leaf` into `dir`; returns the paths.
    pub fn write(&self, dir: &std::path::Path, name: &str, leaf: &Leaf) -> [std::path::PathBuf; 3] {
        let ca = dir.join("ca.pem");
        let cert = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&ca, &self.cert_pem).unwrap();
        std::fs::write(&cert, &leaf.cert_pem).unwrap();
        std::fs::write(&key, &leaf.key_pem).unwrap();
        [ca, cert, key]
    }
}
