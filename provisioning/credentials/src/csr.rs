//! Reading a certificate signing request: only its public key is taken, and only once its
//! self-signature verifies.

use crate::CredentialError;
use x509_parser::prelude::FromDer;

/// The requester's SubjectPublicKeyInfo (DER, exactly as in the CSR) of a PEM CSR
/// (`CERTIFICATE REQUEST`) whose self-signature verifies. Every name and extension the CSR
/// asks for is ignored.
pub fn verified_public_key(csr_pem: &str) -> Result<Vec<u8>, CredentialError> {
    let bad = |why: String| CredentialError::BadCsr(why);
    let (_, pem) = x509_parser::pem::parse_x509_pem(csr_pem.trim_start().as_bytes())
        .map_err(|e| bad(format!("not PEM: {e}")))?;
    if pem.label != "CERTIFICATE REQUEST" && pem.label != "NEW CERTIFICATE REQUEST" {
        return Err(bad(format!("a PEM {:?}, not a CERTIFICATE REQUEST", pem.label)));
    }
    let (rest, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(&pem.contents)
        .map_err(|e| bad(format!("unreadable: {e}")))?;
    if !rest.is_empty() {
        return Err(bad("trailing bytes after the request".into()));
    }
    csr.verify_signature().map_err(|_| CredentialError::CsrSignature)?;
    Ok(csr.certification_request_info.subject_pki.raw.to_vec())
}
