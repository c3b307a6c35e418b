//! `onestop-cloud`: the campus cloud. It publishes the catalogue, serves the halls' sync link,
//! the public website, the back office and the statistics.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use onestop_sync::transport::{CloudSync, Revocations, tls};
use onestop_sync::{DocId, Durability, Store, catalog, seed};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Onestop campus cloud.
///
/// The cloud publishes the catalogue to every hall and takes each hall's days, cases and
/// check-ins over the sync link (QUIC with mutual TLS). It serves the public website: the
/// halls' live status, the service guides, notices, reservations, case progress, Q&A and
/// statistics, and the back office at /office (accounts made with `onestop-cloud account`).
#[derive(Parser)]
#[command(name = "onestop-cloud", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create the cloud's store (if new) and publish a catalogue file to it.
    Init {
        /// The cloud's data directory.
        #[arg(long)]
        data: PathBuf,
        /// The catalogue TOML file (see deploy/demo/catalog.toml).
        #[arg(long)]
        catalog: PathBuf,
    },
    /// Serve the halls' sync link (and the website) until stopped (Ctrl-C or SIGTERM).
    Serve {
        /// The cloud's configuration file (see `onestop-cloud serve --help`).
        ///
        /// data = "cloud-data"        # the data directory
        /// listen = "0.0.0.0:4433"    # UDP address for QUIC
        /// ca = "ca.pem"              # the campus CA certificate
        /// cert = "cloud.pem"         # this cloud's certificate chain
        /// key = "cloud.key"          # its private key
        /// revoked = ["node-id"]      # nodes refused at the handshake (also: onestop-provision revoke)
        /// web = "127.0.0.1:8090"     # optional: the public website, plain HTTP (TCP) for the
        ///                            # campus reverse proxy, which terminates TLS; printed
        ///                            # tickets' QR codes lead to {website}/ticket/...
        /// trusted_proxies = ["10.0.0.2"]  # optional: the reverse proxy, when it runs on
        ///                            # another host (its X-Forwarded-For names the visitor,
        ///                            # for the rate limits; loopback is always believed)
        ///
        /// [enroll]                   # optional: enrol new nodes with join tokens
        /// ca = "ca"                  # the folder of ca.pem and the encrypted ca.key
        /// passphrase_file = "ca-passphrase"   # the CA key's passphrase (e.g. a systemd credential)
        /// node_cert_days = 30        # node certificates' lifetime
        ///
        /// Relative paths are relative to the configuration file.
        #[arg(long, verbatim_doc_comment)]
        config: PathBuf,
    },
    /// Manage back-office accounts (the first administrator is made here).
    Account {
        #[command(subcommand)]
        action: AccountCmd,
    },
    /// List the documents in an Onestop store (a cloud's or a hall's) with their sizes.
    Inspect {
        /// The SQLite store file, e.g. a hall's onestop.sqlite.
        #[arg(long)]
        store: PathBuf,
    },
    /// Rebuild the statistics (`stats.sqlite`) from the documents in the cloud's store.
    StatsRebuild {
        /// The cloud's data directory.
        #[arg(long)]
        data: PathBuf,
    },
}

#[derive(Subcommand)]
enum AccountCmd {
    /// Make an account.
    Add {
        /// The cloud's data directory.
        #[arg(long)]
        data: PathBuf,
        /// The login: 3 to 32 lowercase letters, digits, '.', '-' or '_'.
        #[arg(long)]
        login: String,
        /// The person's name, as the back office shows it.
        #[arg(long)]
        name: String,
        /// admin, hall_manager, reviewer or window_staff.
        #[arg(long)]
        role: String,
        /// The halls of a hall manager or window staff member, comma-separated (default: all).
        #[arg(long, default_value = "")]
        halls: String,
        /// A file holding the password (10 to 128 characters); `-` reads it from standard input.
        #[arg(long)]
        password_file: PathBuf,
    },
    /// Set an account's password (and lift a lock after wrong passwords).
    Password {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        login: String,
        /// A file holding the new password; `-` reads it from standard input.
        #[arg(long)]
        password_file: PathBuf,
    },
    /// List the accounts.
    List {
        #[arg(long)]
        data: PathBuf,
    },
}

fn read_password(file: &Path) -> Result<String> {
    let text = if file == Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
        s
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

fn account(cmd: AccountCmd) -> Result<()> {
    use onestop_cloud::office::{auth, open_office_db};
    match cmd {
        AccountCmd::Add { data, login, name, role, halls, password_file } => {
            let role = auth::Role::parse(&role).with_context(|| {
                format!("unknown role {role:?}: use admin, hall_manager, reviewer or window_staff")
            })?;
            std::fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
            let db = open_office_db(&data)?;
            let acc = auth::Account {
                login: login.clone(),
                name,
                role,
                halls: halls
                    .split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(onestop_model::HallId::new)
                    .collect(),
                disabled: false,
            };
            auth::create_account(&db, &acc, &read_password(&password_file)?, onestop_cloud::web::now().0)?;
            println!("账号已创建 / account made: {login} ({})", role.as_str());
            Ok(())
        }
        AccountCmd::Password { data, login, password_file } => {
            let db = open_office_db(&data)?;
            auth::set_password(&db, &login, &read_password(&password_file)?)
                .map_err(|_| anyhow::anyhow!("没有账号 {login} / there is no account {login}"))?;
            println!("密码已更新 / password set: {login}");
            Ok(())
        }
        AccountCmd::List { data } => {
            let db = open_office_db(&data)?;
            for a in auth::accounts(&db)? {
                let halls: Vec<&str> = a.halls.iter().map(|h| h.as_str()).collect();
                println!(
                    "{:<20} {:<14} {:<12} {}{}",
                    a.login,
                    a.role.as_str(),
                    if halls.is_empty() { "*".to_string() } else { halls.join(",") },
                    a.name,
                    if a.disabled { " (disabled)" } else { "" }
                );
            }
            Ok(())
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CloudConfig {
    data: PathBuf,
    listen: SocketAddr,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    #[serde(default)]
    revoked: Vec<String>,
    #[serde(default)]
    enroll: Option<EnrollConfig>,
    /// The public website's address (plain HTTP, behind the campus reverse proxy).
    #[serde(default)]
    web: Option<SocketAddr>,
    /// Reverse proxies on other hosts whose X-Forwarded-For names the visitor.
    #[serde(default)]
    trusted_proxies: Vec<std::net::IpAddr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrollConfig {
    ca: PathBuf,
    passphrase_file: PathBuf,
    #[serde(default = "default_cert_days")]
    node_cert_days: u32,
    /// Overrides `node_cert_days` with seconds (for tests of expiry).
    #[serde(default)]
    node_cert_seconds: Option<u64>,
}

fn default_cert_days() -> u32 {
    30
}

fn store_path(data: &Path) -> PathBuf {
    data.join("cloud.sqlite")
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("错误 / error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Cmd::Init { data, catalog: file } => {
            let mut cat = seed::load(&file)?;
            std::fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
            let mut store = Store::open(&store_path(&data), Durability::Normal)?;
            onestop_cloud::visitor_key(&data)?;
            // The halls verify booking tokens offline with this key.
            cat.booking_key = Some(onestop_cloud::booking_key(&data)?.public_hex());
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
            let stamp = store.next_stamp(onestop_model::Timestamp(now));
            store.write(stamp, |b| b.edit(&DocId::Catalog, |tx| Ok(catalog::write(tx, &cat)?)))?;
            println!(
                "目录已发布 / catalogue published: {} halls, {} services, {} staff, in {}",
                cat.halls.len(),
                cat.services.len(),
                cat.staff.len(),
                data.display()
            );
            Ok(())
        }
        Cmd::Serve { config } => serve(&config),
        Cmd::Account { action } => account(action),
        Cmd::StatsRebuild { data } => {
            let path = store_path(&data);
            if !path.exists() {
                bail!("{} does not exist", path.display());
            }
            let started = std::time::Instant::now();
            let done = onestop_cloud::stats::rebuild(&data, Store::open(&path, Durability::Normal)?)?;
            println!(
                "统计已重建 / statistics rebuilt: {} documents, {} events, {} low ratings, in {:.1} s",
                done.docs,
                done.events,
                done.bad_ratings.len(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Cmd::Inspect { store } => {
            if !store.exists() {
                bail!("{} does not exist", store.display());
            }
            let s = Store::open(&store, Durability::Normal)?;
            println!("store {} · actor {} · clock {:?}", store.display(), s.actor(), s.last_stamp());
            println!("{:<36} {:>10} {:>12} {:>7}", "document", "snapshot", "incremental", "chunks");
            for id in s.list_docs()? {
                let b = s.chunk_bytes(&id)?;
                println!("{:<36} {:>10} {:>12} {:>7}", id.to_string(), b.snapshot, b.incremental, b.chunks);
            }
            Ok(())
        }
    }
}

fn serve(config: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(config).with_context(|| format!("cannot read {}", config.display()))?;
    let cfg: CloudConfig = toml::from_str(&text)
        .with_context(|| format!("{} is not a valid cloud configuration", config.display()))?;
    let base = config.parent().unwrap_or(Path::new("."));
    let at = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
    let files = tls::read_pem_files(&at(&cfg.ca), &at(&cfg.cert), &at(&cfg.key))?;
    let data = at(&cfg.data);
    std::fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
    let store = Arc::new(Mutex::new(Store::open(&store_path(&data), Durability::Normal)?));
    let revocations = Revocations::default();
    for node in &cfg.revoked {
        revocations.revoke(node);
    }
    let desk = match &cfg.enroll {
        Some(e) => {
            let pass_file = at(&e.passphrase_file);
            let pass = std::fs::read_to_string(&pass_file)
                .with_context(|| format!("cannot read the CA passphrase from {}", pass_file.display()))?;
            let ca = onestop_provision::CampusCa::load(&at(&e.ca), pass.trim_end_matches(['\n', '\r']))?;
            let registry = onestop_provision::Registry::open(&onestop_cloud::registry_path(&data))?;
            Some(Arc::new(onestop_cloud::enroll::Desk {
                ca,
                registry: Mutex::new(registry),
                visitor_key: onestop_cloud::visitor_key(&data)?,
                lifetime: std::time::Duration::from_secs(
                    e.node_cert_seconds.unwrap_or(u64::from(e.node_cert_days) * 86_400),
                ),
            }))
        }
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let (changes, _) = tokio::sync::broadcast::channel(4096);
        let mut sync = CloudSync::new(store, changes, revocations);
        if let Some(desk) = &desk {
            sync = sync.with_enroller(desk.clone());
        }
        let sync = Arc::new(sync);
        // Revocations made with `onestop-provision revoke` take effect at once.
        if desk.is_some() {
            tokio::spawn(onestop_cloud::follow_revocations(
                sync.clone(),
                onestop_cloud::registry_path(&data),
            ));
        }
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let website = match cfg.web {
            Some(addr) => Some(
                onestop_cloud::start_website(
                    addr,
                    &sync,
                    &data,
                    desk.is_some(),
                    cfg.trusted_proxies.clone(),
                    stopped.clone(),
                )
                .await?
                .1,
            ),
            None => None,
        };
        let server = sync.server_config(&files.ca, files.chain, files.key)?;
        let endpoint = quinn::Endpoint::server(server, cfg.listen)
            .with_context(|| format!("cannot listen on {} (UDP)", cfg.listen))?;
        tracing::info!(message = "Serving the halls' sync link.", listen = %endpoint.local_addr()?);
        let serving = tokio::spawn(sync.serve(endpoint.clone(), stopped));
        onestop_sync::transport::shutdown_signal().await;
        tracing::info!(message = "Stopping.");
        let _ = stop.send(true);
        endpoint.close(quinn::VarInt::from_u32(0), b"shutting down");
        let _ = serving.await;
        if let Some(website) = website {
            let _ = website.await;
        }
        endpoint.wait_idle().await;
        anyhow::Ok(())
    })
}
