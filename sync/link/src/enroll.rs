//! Enrolment: how a new node gets its certificate, and how a node renews it.
//!
//! The node makes its key on the device; only a certificate signing request (CSR) leaves it.
//! It connects to the cloud's QUIC endpoint with ALPN `onestop-enroll/1`, authenticating the
//! cloud against the pinned campus CA, and sends one request:
//! - with a one-time join token: a first enrolment (the token names the hall and the node);
//! - without a token: a renewal, or a poll while the node waits for approval. The device is
//!   recognised by its key (the CSR is signed with it), so a node whose certificate expired
//!   during a holiday renews all the same, and a revoked node never does.
//!
//! The cloud answers once and closes the stream. Requests and answers are small JSON
//! documents; the protocol is versioned by its ALPN.

use super::tls::{self, NodeIdentity, TlsError};
use rustls::pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;

/// The ALPN protocol of enrolment.
pub const ALPN: &[u8] = b"onestop-enroll/1";

/// The largest request or answer accepted.
const MAX_MESSAGE: usize = 64 * 1024;

/// What a node asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollRequest {
    /// The join token (first enrolment); none for a renewal or a poll.
    #[serde(default)]
    pub token: Option<String>,
    /// The CSR (PEM), signed with the key made on the device.
    pub csr_pem: String,
    /// Facts about the hardware (e.g. the board's serial), to recognise a re-flashed card.
    #[serde(default)]
    pub hardware: String,
    /// The node's software version.
    #[serde(default)]
    pub version: String,
    /// The node's state for the inventory. A request with a report and no CSR is only a
    /// report; it must come over the authenticated link.
    #[serde(default)]
    pub report: Option<NodeReport>,
}

/// What a node tells the cloud's inventory about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeReport {
    pub version: Option<String>,
    /// Seconds since the last exchange with the cloud.
    pub sync_lag_s: Option<i64>,
    /// The cloud's clock minus the node's (ms).
    pub clock_offset_ms: Option<i64>,
    /// The printer's state in a few words.
    pub printer: Option<String>,
    pub disk_free_mb: Option<i64>,
}

/// What the cloud answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum EnrollReply {
    /// A certificate bound to the node's hall.
    Issued {
        cert_pem: String,
        hall: String,
        node: String,
        device_id: String,
        /// Seconds since 1970.
        not_after: u64,
        /// The campus visitor key (hex), the same in every hall.
        visitor_key: String,
    },
    /// Known, and waiting for IT's approval: ask again later with the same key.
    Pending { device_id: String, node: String, hall: String },
    /// Refused, with the reason (bilingual).
    Refused { reason: String },
    /// A report was recorded.
    Noted,
}

/// The cloud's side of enrolment: decides on a request. `peer` is the node a valid client
/// certificate names, when the request came over an authenticated connection.
pub trait Enroller: Send + Sync {
    fn enroll(&self, request: EnrollRequest, peer: Option<NodeIdentity>) -> EnrollReply;
    /// A node opened its sync link (for the inventory's "last seen").
    fn seen(&self, _node: &NodeIdentity) {}
    /// The cloud refused something a node sent (for the inventory's incidents).
    fn incident(&self, _node: &str, _what: &str) {}
}

/// Answers one enrolment connection (the cloud calls this for ALPN `onestop-enroll/1`).
pub async fn answer(conn: quinn::Connection, enroller: Arc<dyn Enroller>, peer: Option<NodeIdentity>) {
    let result = async {
        let (mut send, mut recv) = conn.accept_bi().await.map_err(|e| e.to_string())?;
        let body = recv.read_to_end(MAX_MESSAGE).await.map_err(|e| e.to_string())?;
        let reply = match serde_json::from_slice::<EnrollRequest>(&body) {
            Ok(req) => tokio::task::spawn_blocking(move || enroller.enroll(req, peer))
                .await
                .unwrap_or_else(|e| EnrollReply::Refused { reason: format!("internal error: {e}") }),
            Err(e) => {
                EnrollReply::Refused { reason: format!("请求格式错误 / not an enrolment request: {e}") }
            }
        };
        let bytes = serde_json::to_vec(&reply).map_err(|e| e.to_string())?;
        send.write_all(&bytes).await.map_err(|e| e.to_string())?;
        send.finish().map_err(|e| e.to_string())?;
        // Wait for the node to have read the answer before the connection goes.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), conn.closed()).await;
        Ok::<(), String>(())
    }
    .await;
    if let Err(error) = result {
        tracing::info!(message = "An enrolment connection failed.", %error);
    }
}

/// Why an enrolment request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("无法连接校园云 / cannot reach the cloud at {addr}: {why}")]
    Connect { addr: SocketAddr, why: String },
    #[error("校园云应答有误 / the cloud's answer is not readable: {0}")]
    Answer(String),
}

/// The client configuration for enrolment: the campus CA pinned as the only root; a client
/// certificate only for a renewal over the authenticated link.
pub fn client_config(
    ca: &CertificateDer<'static>,
    client: Option<(Vec<CertificateDer<'static>>, rustls::pki_types::PrivateKeyDer<'static>)>,
) -> Result<quinn::ClientConfig, TlsError> {
    tls::client_config_for(ca, client, ALPN, tls::FloorTime::default())
}

/// Sends one request to the cloud at `addr` (named `server_name` in its certificate) and
/// returns its answer.
pub async fn request(
    endpoint: &quinn::Endpoint,
    config: quinn::ClientConfig,
    addr: SocketAddr,
    server_name: &str,
    req: &EnrollRequest,
) -> Result<EnrollReply, EnrollError> {
    let fail = |why: String| EnrollError::Connect { addr, why };
    let conn = endpoint
        .connect_with(config, addr, server_name)
        .map_err(|e| fail(e.to_string()))?
        .await
        .map_err(|e| fail(e.to_string()))?;
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| fail(e.to_string()))?;
    let body = serde_json::to_vec(req).map_err(|e| EnrollError::Answer(e.to_string()))?;
    send.write_all(&body).await.map_err(|e| fail(e.to_string()))?;
    send.finish().map_err(|e| fail(e.to_string()))?;
    let answer = recv.read_to_end(MAX_MESSAGE).await.map_err(|e| fail(e.to_string()))?;
    conn.close(quinn::VarInt::from_u32(0), b"done");
    serde_json::from_slice(&answer).map_err(|e| EnrollError::Answer(e.to_string()))
}
