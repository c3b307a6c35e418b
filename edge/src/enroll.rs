//! A node's side of enrolment: the key is made here and never leaves the device; a CSR and
//! the one-time join token go to the cloud, which answers with a certificate bound to the
//! hall (or holds the node pending IT's approval). See `onestop_link::enroll`.

use crate::nodedir::{self, NodeFile, SyncFile};
use anyhow::{Context, Result, bail};
use onestop_link::enroll::{self, EnrollReply, EnrollRequest};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the cloud is and how to recognise it.
#[derive(Debug, Clone)]
pub struct CloudAddress {
    pub addr: SocketAddr,
    pub server_name: String,
    /// The campus CA certificate (PEM file), pinned.
    pub ca: PathBuf,
}

/// How enrolment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enrolled {
    /// The node has its certificate and `node.toml`: `onestop-edge run` can start.
    Issued { hall: String, node: String, device_id: String },
    /// Waiting for IT's approval in the back office (`onestop-provision approve`).
    Pending { device_id: String },
}

const KEY_FILE: &str = "node.key";
const CERT_FILE: &str = "node.pem";
const CA_FILE: &str = "ca.pem";

/// The device's key: made on first use (P-256, file mode 0600), then kept.
pub fn device_key(data: &Path) -> Result<rcgen::KeyPair> {
    let path = data.join(KEY_FILE);
    if path.exists() {
        let pem =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        return rcgen::KeyPair::from_pem(&pem)
            .with_context(|| format!("{} is not a private key", path.display()));
    }
    std::fs::create_dir_all(data).with_context(|| format!("cannot create {}", data.display()))?;
    let key = rcgen::KeyPair::generate().context("cannot make a key")?;
    write_private(&path, key.serialize_pem().as_bytes())?;
    Ok(key)
}

/// The device id IT sees for this node (from its public key, with a check character).
pub fn device_id(key: &rcgen::KeyPair) -> Result<String> {
    Ok(onestop_credentials::DeviceId::of_key_pem(&key.serialize_pem())?.to_string())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(path).with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// Facts that survive re-flashing the SD card (the board's serial number), so the cloud can
/// tell a re-flashed card on known hardware from a new device.
pub fn hardware_facts() -> String {
    for path in ["/sys/firmware/devicetree/base/serial-number", "/sys/class/dmi/id/product_uuid"] {
        if let Ok(s) = std::fs::read_to_string(path) {
            let s = s.trim_matches(|c: char| c.is_whitespace() || c == '\0');
            if !s.is_empty() {
                return format!("{path}={s}");
            }
        }
    }
    String::new()
}

/// Renews this node's certificate: over the authenticated link while the certificate is
/// valid, and after it expired (a hall closed for a holiday) by the device's key alone.
pub async fn renew(data: &Path, now: std::time::SystemTime) -> Result<Enrolled> {
    let file = nodedir::read_node_toml(data)?;
    let Some(sync) = file.sync else {
        bail!("{} has no cloud to renew with ([sync] in node.toml)", data.display());
    };
    let cloud = CloudAddress { addr: sync.cloud, server_name: sync.server_name.clone(), ca: sync.ca.clone() };
    let current = onestop_link::tls::read_pem_files(&sync.ca, &sync.cert, &sync.key).ok();
    let expired = match &current {
        Some(f) => f.chain.first().and_then(|c| not_after(c)).is_none_or(|t| t <= now),
        None => true,
    };
    let client = if expired { None } else { current.map(|f| (f.chain, f.key)) };
    let authenticated = client.is_some();
    match request(data, &cloud, None, &hardware_facts(), client).await {
        // Refused at the handshake (revoked, or a CA that no longer knows the certificate):
        // ask by the device key alone, so the answer says why.
        Err(e) if authenticated && e.downcast_ref::<enroll::EnrollError>().is_some() => {
            tracing::info!(message = "Renewing by the device key alone.", error = %e);
            request(data, &cloud, None, &hardware_facts(), None).await
        }
        other => other,
    }
}

/// When a certificate (DER) expires.
pub fn not_after(cert: &[u8]) -> Option<std::time::SystemTime> {
    let (_, c) = x509_parser::parse_x509_certificate(cert).ok()?;
    let secs = c.validity().not_after.timestamp();
    Some(std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// One enrolment request: with `token` the first time, without it to poll while pending.
pub async fn request_once(
    data: &Path,
    cloud: &CloudAddress,
    token: Option<String>,
    hardware: &str,
) -> Result<Enrolled> {
    request(data, cloud, token, hardware, None).await
}

type ClientCert = (Vec<CertificateDer<'static>>, rustls::pki_types::PrivateKeyDer<'static>);

async fn request(
    data: &Path,
    cloud: &CloudAddress,
    token: Option<String>,
    hardware: &str,
    client: Option<ClientCert>,
) -> Result<Enrolled> {
    let key = device_key(data)?;
    let device = device_id(&key)?;
    let csr = rcgen::CertificateParams::new(Vec::<String>::new())?
        .serialize_request(&key)
        .context("cannot make the certificate request")?
        .pem()?;
    let ca = CertificateDer::from_pem_file(&cloud.ca)
        .with_context(|| format!("{} is not a PEM certificate (the campus CA)", cloud.ca.display()))?;
    let config = enroll::client_config(&ca, client)?;
    let endpoint = quinn::Endpoint::client("0.0.0.0:0".parse()?)?;
    let req = EnrollRequest {
        token,
        csr_pem: csr,
        hardware: hardware.to_string(),
        version: env!("CARGO_PKG_VERSION").into(),
        report: None,
    };
    let reply = enroll::request(&endpoint, config, cloud.addr, &cloud.server_name, &req).await;
    endpoint.wait_idle().await;
    match reply? {
        EnrollReply::Issued { cert_pem, hall, node, device_id, not_after: _, visitor_key } => {
            if device_id != device {
                bail!("the cloud issued a certificate for device {device_id}, but this device is {device}");
            }
            install(data, cloud, &cert_pem, &hall, &visitor_key)?;
            tracing::info!(message = "Enrolled.", %hall, %node, device = %device_id);
            Ok(Enrolled::Issued { hall, node, device_id })
        }
        EnrollReply::Pending { device_id, node, hall } => {
            tracing::warn!(message = "Waiting for approval by campus IT.", device = %device_id, %node, %hall);
            Ok(Enrolled::Pending { device_id })
        }
        EnrollReply::Refused { reason } => {
            bail!("校园云拒绝了加入请求 / the cloud refused to enrol this node: {reason}")
        }
        EnrollReply::Noted => bail!("the cloud answered an enrolment with a report receipt"),
    }
}

/// Writes the certificate, the CA and `node.toml` (keeping an existing visitor key).
fn install(data: &Path, cloud: &CloudAddress, cert_pem: &str, hall: &str, visitor_key: &str) -> Result<()> {
    let cert = data.join(CERT_FILE);
    let ca = data.join(CA_FILE);
    let ca_pem = std::fs::read(&cloud.ca).with_context(|| format!("cannot read {}", cloud.ca.display()))?;
    if cloud.ca != ca {
        std::fs::write(&ca, ca_pem)?;
    }
    let hall_id = onestop_model::HallId::new(hall);
    let node_file = data.join("node.toml");
    if node_file.exists() {
        let old = nodedir::read_node_toml(data)?;
        if old.hall != hall_id {
            bail!("{} serves hall '{}', but this certificate is for hall '{hall}'", data.display(), old.hall);
        }
    }
    // The certificate first: a node.toml never points at a missing one.
    let tmp = data.join("node.pem.new");
    std::fs::write(&tmp, cert_pem)?;
    std::fs::rename(&tmp, &cert)?;
    let abs = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
    let file = NodeFile {
        hall: hall_id,
        visitor_key: visitor_key.to_string(),
        sync: Some(SyncFile {
            cloud: cloud.addr,
            server_name: cloud.server_name.clone(),
            ca: abs(ca),
            cert: abs(cert),
            key: abs(data.join(KEY_FILE)),
        }),
    };
    write_private(&node_file, toml::to_string(&file)?.as_bytes())?;
    Ok(())
}

/// Enrols, waiting while the node is pending approval (asking again every `poll`). The token
/// is burned by the first answer either way; a token file is removed then.
pub async fn enroll(
    data: &Path,
    cloud: &CloudAddress,
    token: String,
    token_file: Option<&Path>,
    hardware: &str,
    poll: Duration,
) -> Result<Enrolled> {
    // A node that restarts while it waits for approval already spent its token: the cloud
    // knows its key, so it asks by the key first.
    let resumed = data.join(KEY_FILE).exists();
    let mut outcome = match resumed {
        true => match request_once(data, cloud, None, hardware).await {
            Ok(o) => o,
            Err(_) => request_once(data, cloud, Some(token), hardware).await?,
        },
        false => request_once(data, cloud, Some(token), hardware).await?,
    };
    if let Some(f) = token_file
        && let Err(error) = std::fs::remove_file(f)
    {
        tracing::warn!(message = "Could not remove the used join token.", file = %f.display(), %error);
    }
    while let Enrolled::Pending { device_id } = &outcome {
        println!("等待审批 / waiting for IT to approve device {device_id} …");
        tokio::time::sleep(poll).await;
        outcome = request_once(data, cloud, None, hardware).await?;
    }
    Ok(outcome)
}

/// Sends the node's state to the cloud's inventory over the authenticated link.
pub async fn report(data: &Path, report: enroll::NodeReport) -> Result<()> {
    let file = nodedir::read_node_toml(data)?;
    let Some(sync) = file.sync else { bail!("no cloud configured") };
    let f = onestop_link::tls::read_pem_files(&sync.ca, &sync.cert, &sync.key)?;
    let config = enroll::client_config(&f.ca, Some((f.chain, f.key)))?;
    let endpoint = quinn::Endpoint::client("0.0.0.0:0".parse()?)?;
    let req = EnrollRequest {
        token: None,
        csr_pem: String::new(),
        hardware: String::new(),
        version: env!("CARGO_PKG_VERSION").into(),
        report: Some(report),
    };
    let reply = enroll::request(&endpoint, config, sync.cloud, &sync.server_name, &req).await;
    endpoint.wait_idle().await;
    match reply? {
        EnrollReply::Noted => Ok(()),
        EnrollReply::Refused { reason } => bail!("the cloud refused the report: {reason}"),
        other => bail!("unexpected answer to a report: {other:?}"),
    }
}

/// When this node's certificate should be renewed: at about two thirds of its lifetime, with
/// up to a tenth of the lifetime of jitter (so a campus of nodes does not renew at once).
/// `None` when there is no readable certificate.
pub fn renewal_due(cert_pem_path: &Path, jitter: f64) -> Option<std::time::SystemTime> {
    let der = CertificateDer::from_pem_file(cert_pem_path).ok()?;
    let (_, c) = x509_parser::parse_x509_certificate(&der).ok()?;
    let from = u64::try_from(c.validity().not_before.timestamp()).ok()?;
    let to = u64::try_from(c.validity().not_after.timestamp()).ok()?;
    let life = to.saturating_sub(from) as f64;
    let at = from as f64 + life * (2.0 / 3.0) + life * 0.1 * jitter.clamp(0.0, 1.0);
    Some(std::time::UNIX_EPOCH + Duration::from_secs_f64(at))
}
