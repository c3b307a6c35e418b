//! A node's identity in its certificate: the contract between the campus CA, which writes it,
//! and the QUIC link, which reads it at every handshake.
//!
//! A node's certificate carries one URI name `urn:onestop:node:<hall>:<node>`: the cloud takes
//! the node and its hall from there, never from anything the node says.

use onestop_model::HallId;

/// What every node URI name starts with.
pub const URI_PREFIX: &str = "urn:onestop:node:";

/// A node as its certificate names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeIdentity {
    pub node: String,
    pub hall: HallId,
}

impl NodeIdentity {
    /// The URI name put in the node's certificate: `urn:onestop:node:<hall>:<node>`.
    pub fn uri(&self) -> String {
        format!("{URI_PREFIX}{}:{}", self.hall, self.node)
    }

    /// The identity a URI name gives, if it is a node URI with a valid hall id and a node.
    pub fn from_uri(uri: &str) -> Option<NodeIdentity> {
        let (hall, node) = uri.strip_prefix(URI_PREFIX)?.split_once(':')?;
        (onestop_model::valid_hall_id(hall) && !node.is_empty())
            .then(|| NodeIdentity { node: node.to_string(), hall: HallId::new(hall) })
    }
}

/// The node a certificate (DER) names, or why it names none.
pub fn identity_of(cert: &[u8]) -> Result<NodeIdentity, String> {
    let (_, parsed) =
        x509_parser::parse_x509_certificate(cert).map_err(|e| format!("unreadable certificate: {e}"))?;
    let san = parsed
        .subject_alternative_name()
        .map_err(|e| format!("bad subject alternative names: {e}"))?
        .ok_or("the certificate names no node (no subject alternative name)")?;
    san.value
        .general_names
        .iter()
        .find_map(|name| match name {
            x509_parser::extensions::GeneralName::URI(uri) => NodeIdentity::from_uri(uri),
            _ => None,
        })
        .ok_or_else(|| "the certificate names no node (no urn:onestop:node URI)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_with(sans: Vec<rcgen::SanType>) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::default();
        params.subject_alt_names = sans;
        params.self_signed(&rcgen::KeyPair::generate().unwrap()).unwrap().der().to_vec()
    }

    fn uri(s: &str) -> rcgen::SanType {
        rcgen::SanType::URI(s.try_into().unwrap())
    }

    #[test]
    fn identities_come_from_the_uri_name() {
        let id = NodeIdentity { node: "main-pi-1".into(), hall: HallId::new("main") };
        assert_eq!(id.uri(), "urn:onestop:node:main:main-pi-1");
        assert_eq!(NodeIdentity::from_uri(&id.uri()), Some(id.clone()));
        let der = cert_with(vec![rcgen::SanType::DnsName("pi.local".try_into().unwrap()), uri(&id.uri())]);
        assert_eq!(identity_of(&der).unwrap(), id);
        assert!(identity_of(b"not a certificate").unwrap_err().contains("unreadable"));
    }

    #[test]
    fn a_certificate_without_a_valid_node_uri_names_no_node() {
        assert!(identity_of(&cert_with(vec![])).unwrap_err().contains("no subject alternative name"));
        for bad in
            ["urn:onestop:node:Main:pi-1", "urn:onestop:node:main:", "urn:onestop:node:main", "urn:x:main:pi"]
        {
            assert_eq!(NodeIdentity::from_uri(bad), None, "{bad}");
            let err = identity_of(&cert_with(vec![uri(bad)])).unwrap_err();
            assert!(err.contains("no urn:onestop:node URI"), "{bad}: {err}");
        }
    }
}
