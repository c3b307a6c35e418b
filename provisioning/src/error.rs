//! The crate's error.

use std::path::PathBuf;

/// Why a provisioning step failed. Messages a person reads are in Chinese and English.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// A file could not be read or written.
    #[error("无法读写文件 / cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `save` found a CA key already there and left it alone.
    #[error(
        "校园 CA 私钥已存在，拒绝覆盖 / {} already exists: refusing to overwrite the campus CA key",
        .0.display()
    )]
    CaKeyExists(PathBuf),
    /// The passphrase for the CA key is shorter than 8 characters.
    #[error("口令太短，至少 8 个字符 / the CA passphrase must be at least 8 characters")]
    WeakPassphrase,
    /// The passphrase does not decrypt the CA key.
    #[error("口令错误 / wrong passphrase for {}", .0.display())]
    WrongPassphrase(PathBuf),
    /// The CA files are unusable (not PEM, not encrypted, key and certificate do not match...).
    #[error("校园 CA 文件不可用 / the campus CA files are not usable: {0}")]
    BadCa(String),
    /// A CSR, key, certificate or device id that is not usable (a malformed CSR, one whose
    /// signature does not verify, an unsupported key...).
    #[error(transparent)]
    Credential(#[from] onestop_credentials::CredentialError),
    /// A private key that cannot be read.
    #[error("私钥不可用 / the private key is not usable: {0}")]
    BadKey(String),
    /// A hall or node name that cannot go into a certificate.
    #[error("节点名称无效 / not a valid node identity: {0}")]
    BadIdentity(String),
    /// A request for a certificate the CA will not make (bad names, zero lifetime...).
    #[error("无法签发证书 / cannot issue the certificate: {0}")]
    Issue(String),
    /// No node of that name is known.
    #[error("未知节点 / no node named {0:?}")]
    UnknownNode(String),
    /// Approval or rejection asked of a node with nothing waiting.
    #[error("节点没有待批准的设备 / node {0:?} has no device waiting for approval")]
    NothingPending(String),
    /// The node was enrolled with a token that needs approval and is not approved yet.
    #[error("节点尚未批准 / node {0:?} is not approved yet")]
    NotApproved(String),
    /// The node was revoked: its name is never used again.
    #[error("节点已吊销 / node {0:?} is revoked; enrol the device under a new name")]
    NodeRevoked(String),
    /// A node name already used in another hall (node names are unique on the campus).
    #[error("节点名已被其他大厅使用 / node {node:?} already belongs to hall {hall:?}")]
    NodeInOtherHall { node: String, hall: String },
    /// A certificate reported for a device that is not the node's approved device.
    #[error("设备与节点不符 / device {device} is not the approved device of node {node:?}")]
    WrongDevice { node: String, device: String },
    /// A join token hash already stored.
    #[error("加入令牌已存在 / this join token is already registered")]
    DuplicateToken,
    /// The provisioning database was written by a newer version of this program.
    #[error("供应数据库版本过新 / {} has schema version {found}; this program knows up to {known}", path.display())]
    NewerSchema { path: PathBuf, found: i64, known: i64 },
    /// The provisioning database failed.
    #[error("供应数据库出错 / the provisioning database failed: {0}")]
    Store(#[from] rusqlite::Error),
}

impl ProvisionError {
    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        ProvisionError::Io { action, path: path.to_path_buf(), source }
    }
}
