//! Why a key, a certificate, a CSR or a typed device id is not usable.

/// A key, certificate, CSR or device id that cannot be used. Messages a person reads are in
/// Chinese and English.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// A certificate signing request is malformed or of an unsupported kind.
    #[error("证书签名请求无效 / the certificate signing request is not usable: {0}")]
    BadCsr(String),
    /// A CSR whose self-signature does not verify: it was altered or not made with its key.
    #[error(
        "证书签名请求的签名无效 / the certificate signing request's signature does not verify (altered, or not signed with its key)"
    )]
    CsrSignature,
    /// A private key that cannot be read.
    #[error("私钥不可用 / the private key is not usable: {0}")]
    BadKey(String),
    /// A certificate that cannot be read.
    #[error("证书不可用 / the certificate is not usable: {0}")]
    BadCertificate(String),
    /// A device id as typed is not a device id.
    #[error("设备编号无效 / {input:?} is not a device id: {why}")]
    BadDeviceId { input: String, why: String },
}
