//! `onestop-provision`: campus IT's tool. The campus CA, the cloud's certificate, one-time
//! join tokens for new nodes, boot bundles for new Pis, the node inventory, approvals and
//! revocations.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use onestop_model::HallId;
use onestop_provision::registry::NodeStatus;
use onestop_provision::{CampusCa, Registry, bundle, token};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Onestop provisioning tool for campus IT.
///
/// Keeps the campus CA (its key encrypted with a passphrase), makes the cloud's certificate,
/// and manages the cloud's provisioning registry: one-time join tokens for new nodes, the node
/// inventory, approvals of pending nodes and revocations (which the running cloud applies at
/// once).
#[derive(Parser)]
#[command(name = "onestop-provision", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create the campus CA in a folder: ca.pem and ca.key (encrypted with the passphrase).
    CaInit {
        /// The folder for ca.pem and ca.key.
        #[arg(long)]
        dir: PathBuf,
        /// A file holding the passphrase (at least 8 characters).
        #[arg(long)]
        passphrase_file: PathBuf,
        /// The CA's name.
        #[arg(long, default_value = "Onestop campus CA")]
        name: String,
        /// How long the CA is valid.
        #[arg(long, default_value_t = 3650)]
        days: u32,
    },
    /// Make the cloud's server certificate (and its key) for its DNS names or addresses.
    ServerCert {
        #[arg(long)]
        ca: PathBuf,
        #[arg(long)]
        passphrase_file: PathBuf,
        /// The cloud's names, e.g. --name cloud.example.edu --name 10.0.0.5.
        #[arg(long = "name", required = true)]
        names: Vec<String>,
        /// Where to write the certificate (PEM); the key goes beside it as .key.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 398)]
        days: u32,
    },
    /// Create a one-time join token for a hall's new node (printed once; stored hashed).
    Token {
        /// The cloud's data directory (its provisioning registry).
        #[arg(long)]
        cloud_data: PathBuf,
        #[arg(long)]
        hall: String,
        /// The node's name, e.g. main-pi-1.
        #[arg(long)]
        node: String,
        /// Hours until the token expires.
        #[arg(long, default_value_t = 72)]
        hours: u64,
        /// Hold the node pending until `approve`, even with a valid token.
        #[arg(long)]
        require_approval: bool,
        /// Also write the token to this file (mode 0600), e.g. onto the SD card's boot bundle.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a boot bundle for a new Pi into a folder: cloud-init `user-data` and `meta-data`
    /// for current Raspberry Pi OS, and `firstrun.sh` for older images. It holds the cloud's
    /// address, the campus CA certificate and the join token, which the node uses at first
    /// boot to install onestop-edge from the boot partition and enrol. See deploy/README.md.
    Bundle {
        /// The cloud's sync address (UDP), e.g. 10.0.0.5:4433.
        #[arg(long)]
        cloud: std::net::SocketAddr,
        /// The name in the cloud's certificate.
        #[arg(long)]
        server_name: String,
        /// The campus CA certificate (PEM), or the CA folder holding ca.pem.
        #[arg(long)]
        ca: PathBuf,
        /// The join token's file (made with `token --out FILE` for this hall and node).
        #[arg(long)]
        token_file: PathBuf,
        #[arg(long)]
        hall: String,
        /// The node's name, also its hostname.
        #[arg(long)]
        node: String,
        /// The arm64 onestop-edge package, copied into the bundle as onestop-edge.deb.
        #[arg(long)]
        deb: Option<PathBuf>,
        /// The folder to write (created if missing; the files in it are replaced).
        #[arg(long)]
        out: PathBuf,
    },
    /// List the nodes: hall, device id, status, version, last seen, certificate expiry.
    Nodes {
        #[arg(long)]
        cloud_data: PathBuf,
    },
    /// Approve a pending node (a new node, or a re-flashed card on known hardware).
    Approve {
        #[arg(long)]
        cloud_data: PathBuf,
        #[arg(long)]
        node: String,
    },
    /// Revoke a node: its connections are closed and it is refused from now on.
    Revoke {
        #[arg(long)]
        cloud_data: PathBuf,
        #[arg(long)]
        node: String,
    },
    /// Read a window PIN (4-12 digits) from standard input and print its argon2 hash, for a
    /// staff member's `pin_hash` in the catalogue.
    HashPin,
    /// Print a new campus visitor key (64 hex digits).
    VisitorKey,
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("错误 / error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn passphrase(file: &Path) -> Result<String> {
    let p = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the passphrase from {}", file.display()))?;
    Ok(p.trim_end_matches(['\n', '\r']).to_string())
}

fn registry(cloud_data: &Path) -> Result<Registry> {
    if !cloud_data.is_dir() {
        bail!("{} is not a cloud data directory (make one with `onestop-cloud init`)", cloud_data.display());
    }
    Ok(Registry::open(&cloud_data.join("provision.sqlite"))?)
}

fn when(t: Option<SystemTime>) -> String {
    match t.and_then(|t| t.duration_since(UNIX_EPOCH).ok()) {
        Some(d) => {
            let ts = onestop_model::Timestamp(d.as_millis() as i64);
            format!("{} {}", ts.day(480), ts.local_hm(480))
        }
        None => "—".into(),
    }
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Reads the CA certificate (a file, or the CA folder's ca.pem) and the token file.
fn read_bundle_files(ca: &Path, token_file: &Path) -> Result<(String, String)> {
    let ca = if ca.is_dir() { ca.join("ca.pem") } else { ca.to_path_buf() };
    let ca_pem = std::fs::read_to_string(&ca)
        .with_context(|| format!("cannot read the CA certificate {}", ca.display()))?;
    let token = std::fs::read_to_string(token_file)
        .with_context(|| format!("cannot read the join token from {}", token_file.display()))?;
    Ok((ca_pem, token))
}

fn write_bundle(setup: &bundle::Setup, deb: Option<&Path>, out: &Path) -> Result<()> {
    let files = bundle::render(setup)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    write_private(&out.join("user-data"), &files.user_data)?;
    write_private(&out.join("firstrun.sh"), &files.firstrun)?;
    std::fs::write(out.join("meta-data"), &files.meta_data)
        .with_context(|| format!("cannot write {}", out.join("meta-data").display()))?;
    let mut written = vec!["user-data", "meta-data", "firstrun.sh"];
    if let Some(deb) = deb {
        std::fs::copy(deb, out.join(bundle::DEB_NAME))
            .with_context(|| format!("cannot copy {} into the bundle", deb.display()))?;
        written.push(bundle::DEB_NAME);
    }
    println!(
        "启动包 / boot bundle for node {} of hall {} in {}: {}",
        setup.node,
        setup.hall,
        out.display(),
        written.join(", ")
    );
    if deb.is_none() {
        println!("  add the arm64 onestop-edge package as {} (deploy/package.sh arm64)", bundle::DEB_NAME);
    }
    println!("  copy them onto the SD card's boot partition; it holds the join token until first boot");
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    // The one reading of the system clock: every command's "now".
    let wall = onestop_model::clock::SystemClock.system_time();
    match cli.command {
        Cmd::CaInit { dir, passphrase_file, name, days } => {
            let ca = CampusCa::create(&name, days, wall)?;
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            ca.save(&dir, &passphrase(&passphrase_file)?)?;
            println!("校园 CA 已创建 / campus CA created in {} (ca.pem, encrypted ca.key)", dir.display());
        }
        Cmd::ServerCert { ca, passphrase_file, names, out, days } => {
            let ca = CampusCa::load(&ca, &passphrase(&passphrase_file)?)?;
            let issued = ca.server_cert(&names, days, wall)?;
            std::fs::write(&out, &issued.cert_pem)
                .with_context(|| format!("cannot write {}", out.display()))?;
            write_private(&out.with_extension("key"), &issued.key_pem)?;
            println!("服务器证书 / server certificate for {}: {}", names.join(", "), out.display());
        }
        Cmd::Token { cloud_data, hall, node, hours, require_approval, out } => {
            let reg = registry(&cloud_data)?;
            let t = token::new_token();
            let expires = wall + Duration::from_secs(hours * 3600);
            reg.add_token(&token::token_hash(&t), &HallId::new(&hall), &node, expires, require_approval)?;
            if let Some(out) = out {
                write_private(&out, &format!("{t}\n"))?;
            }
            println!("{t}");
            eprintln!(
                "一次性加入令牌 / one-time join token for node {node} of hall {hall}, valid until {}{}",
                when(Some(expires)),
                if require_approval { ", approval required" } else { "" }
            );
        }
        Cmd::Bundle { cloud, server_name, ca, token_file, hall, node, deb, out } => {
            let (ca_pem, token) = read_bundle_files(&ca, &token_file)?;
            let setup = bundle::Setup { cloud, server_name, ca_pem, token, hall, node };
            write_bundle(&setup, deb.as_deref(), &out)?;
        }
        Cmd::Nodes { cloud_data } => {
            let reg = registry(&cloud_data)?;
            println!(
                "{:<16} {:<8} {:<24} {:<8} {:<8} {:<17} {:<17} {:>6} {:>8} {:<10} {:>7}",
                "node",
                "hall",
                "device",
                "status",
                "version",
                "last seen",
                "cert expires",
                "lag s",
                "clock ms",
                "printer",
                "disk MB"
            );
            for n in reg.nodes()? {
                let status = match n.status {
                    NodeStatus::Active if n.pending_device.is_some() => "active+pending",
                    NodeStatus::Active => "active",
                    NodeStatus::Pending => "pending",
                    NodeStatus::Revoked => "revoked",
                };
                println!(
                    "{:<16} {:<8} {:<24} {:<8} {:<8} {:<17} {:<17} {:>6} {:>8} {:<10} {:>7}",
                    n.node,
                    n.hall.as_str(),
                    n.device_id,
                    status,
                    n.version.as_deref().unwrap_or("—"),
                    when(n.last_seen),
                    when(n.cert_not_after),
                    n.sync_lag_s.map(|v| v.to_string()).unwrap_or_else(|| "—".into()),
                    n.clock_offset_ms.map(|v| v.to_string()).unwrap_or_else(|| "—".into()),
                    n.printer.as_deref().unwrap_or("—"),
                    n.disk_free_mb.map(|v| v.to_string()).unwrap_or_else(|| "—".into()),
                );
                if let Some(p) = &n.pending_device {
                    println!("    pending device {p} ({})", n.pending_hardware.as_deref().unwrap_or(""));
                }
                let incidents = reg.incidents(&n.node)?;
                if let Some((at, what)) = incidents.first() {
                    println!("    refused {} time(s), last {}: {what}", incidents.len(), when(Some(*at)));
                }
            }
        }
        Cmd::Approve { cloud_data, node } => {
            let n = registry(&cloud_data)?.approve(&node, wall)?;
            println!("已批准 / approved: node {} of hall {} (device {})", n.node, n.hall, n.device_id);
        }
        Cmd::Revoke { cloud_data, node } => {
            registry(&cloud_data)?.revoke(&node, wall)?;
            println!("已吊销 / revoked: node {node} (the running cloud cuts it off within a second)");
        }
        Cmd::HashPin => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("cannot read the PIN from standard input")?;
            println!("{}", onestop_credentials::secrets::hash_pin(line.trim())?);
        }
        Cmd::VisitorKey => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
            println!("{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
        }
    }
    Ok(())
}
