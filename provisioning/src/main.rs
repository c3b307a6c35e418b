//! `onestop-provision`: campus IT's tool. The campus CA, the cloud's certificate, one-time
//! join tokens for new nodes, the node inventory, approvals and revocations.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use onestop_model::HallId;
use onestop_provision::registry::NodeStatus;
use onestop_provision::{CampusCa, Registry, token};
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

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Cmd::CaInit { dir, passphrase_file, name, days } => {
            let ca = CampusCa::create(&name, days)?;
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            ca.save(&dir, &passphrase(&passphrase_file)?)?;
            println!("校园 CA 已创建 / campus CA created in {} (ca.pem, encrypted ca.key)", dir.display());
        }
        Cmd::ServerCert { ca, passphrase_file, names, out, days } => {
            let ca = CampusCa::load(&ca, &passphrase(&passphrase_file)?)?;
            let issued = ca.server_cert(&names, days)?;
            std::fs::write(&out, &issued.cert_pem)
                .with_context(|| format!("cannot write {}", out.display()))?;
            write_private(&out.with_extension("key"), &issued.key_pem)?;
            println!("服务器证书 / server certificate for {}: {}", names.join(", "), out.display());
        }
        Cmd::Token { cloud_data, hall, node, hours, require_approval, out } => {
            let reg = registry(&cloud_data)?;
            let t = token::new_token();
            let expires = SystemTime::now() + Duration::from_secs(hours * 3600);
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
            }
        }
        Cmd::Approve { cloud_data, node } => {
            let n = registry(&cloud_data)?.approve(&node, SystemTime::now())?;
            println!("已批准 / approved: node {} of hall {} (device {})", n.node, n.hall, n.device_id);
        }
        Cmd::Revoke { cloud_data, node } => {
            registry(&cloud_data)?.revoke(&node, SystemTime::now())?;
            println!("已吊销 / revoked: node {node} (the running cloud cuts it off within a second)");
        }
        Cmd::HashPin => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("cannot read the PIN from standard input")?;
            println!("{}", onestop_sync::secrets::hash_pin(line.trim())?);
        }
        Cmd::VisitorKey => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
            println!("{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
        }
    }
    Ok(())
}
