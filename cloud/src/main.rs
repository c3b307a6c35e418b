//! `onestop-cloud`: the campus cloud. It publishes the catalogue, serves the halls' sync link,
//! the public website, the back office and the statistics.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use onestop_cloud::config::CloudConfig;
use onestop_cloud::run::store_path;
use onestop_model::clock::Clock;
use onestop_protocol::clock::SystemClock;
use onestop_protocol::{DocId, catalog, seed};
use onestop_store::{Durability, Store};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
        /// The cloud's configuration file (documented example: deploy/cloud/cloud.toml).
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
    /// Check a configuration file (and the files it names) without serving.
    CheckConfig {
        /// The cloud's configuration file (see `deploy/cloud/cloud.toml`).
        #[arg(long)]
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
    /// Copy every store and key of the cloud into a folder, while it serves.
    ///
    /// Each SQLite database (the documents, the office database, the provisioning registry)
    /// is one consistent snapshot; with them the visitor and booking keys, the certificates
    /// and keys cloud.toml names, the CA (its key stays encrypted: keep the passphrase apart)
    /// and cloud.toml, with a manifest of sizes and SHA-256 sums. Files are 0600, folders
    /// 0700. The statistics are left out: they are rebuilt from the documents.
    /// onestop-cloud-backup.timer runs it daily (deploy/README.md, "Backup and restore").
    #[command(group = clap::ArgGroup::new("where").required(true).args(["out", "into"]))]
    Backup {
        /// The cloud's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The backup's folder: new, or empty.
        #[arg(long)]
        out: Option<PathBuf>,
        /// A parent folder: the backup goes into PARENT/onestop-cloud-YYYYMMDDTHHMMSSZ.
        #[arg(long)]
        into: Option<PathBuf>,
        /// With --into: how many backups to keep there (the newest; older ones are removed).
        #[arg(long, default_value_t = 14, requires = "into")]
        keep: usize,
    },
    /// Bring a backup back, with the cloud stopped (systemctl stop onestop-cloud).
    ///
    /// Checks every file of the backup first (present, size, SHA-256, each database
    /// readable) and replaces nothing if one is wrong. Refuses while the cloud (or another
    /// process) has its databases open. Each file is written beside its place and renamed
    /// into it; the file it replaces is kept as NAME.before-restore-TIME. Certificates and
    /// keys already equal to the backup's are left alone (restoring the data directory alone
    /// needs no root: run it as the cloud's user). The statistics are rebuilt at the next
    /// start. The halls then send again whatever the cloud lost.
    Restore {
        /// The cloud's configuration file (it says where each file goes back).
        #[arg(long)]
        config: PathBuf,
        /// The backup's folder (with its manifest.json).
        #[arg(long)]
        from: PathBuf,
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
    use onestop_cloud::core::{accounts as auth, open_office_db};
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
            auth::create_account(&db, &acc, &read_password(&password_file)?, SystemClock.now().0)?;
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
            let stamp = store.next_stamp(SystemClock.now());
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
        Cmd::CheckConfig { config } => {
            let cfg = CloudConfig::load(&config)?;
            cfg.check()?;
            println!("配置无误 / the configuration is good: {}", config.display());
            Ok(())
        }
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
        Cmd::Backup { config, out, into, keep } => {
            let cfg = CloudConfig::load(&config)?;
            let started = std::time::Instant::now();
            let (dir, manifest) = match (out, into) {
                (Some(out), _) => {
                    let m = onestop_cloud::backup::backup(&config, &cfg, &out, SystemClock.now())?;
                    (out, m)
                }
                (None, Some(parent)) => {
                    let (dir, m, removed) =
                        onestop_cloud::backup::backup_into(&config, &cfg, &parent, keep, SystemClock.now())?;
                    for old in removed {
                        tracing::info!(message = "Removed an older backup.", dir = %old.display());
                    }
                    (dir, m)
                }
                (None, None) => bail!("say where: --out DIR or --into PARENT"),
            };
            let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
            println!(
                "备份完成 / backup made: {} files, {:.1} MB, in {} ({:.1} s)",
                manifest.files.len(),
                bytes as f64 / 1e6,
                dir.display(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Cmd::Restore { config, from } => {
            use onestop_cloud::backup::Outcome;
            let cfg = CloudConfig::load(&config)?;
            let done = onestop_cloud::backup::restore(&config, &cfg, &from, SystemClock.now())?;
            for (role, path, outcome) in &done.files {
                match outcome {
                    Outcome::Replaced { kept } => {
                        println!(
                            "restored {} ({role:?}); the one replaced is {}",
                            path.display(),
                            kept.display()
                        )
                    }
                    Outcome::Created => println!("restored {} ({role:?})", path.display()),
                    Outcome::Unchanged => println!("unchanged {} ({role:?})", path.display()),
                }
            }
            if let Some(kept) = &done.stats_kept {
                println!("statistics moved aside to {}: rebuilt at the next start", kept.display());
            }
            println!(
                "恢复完成 / restored the backup of {} ({} files). Start the cloud (systemctl start onestop-cloud): \
                 the halls send again what it lost.",
                done.manifest.created,
                done.files.len()
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
    let cfg = CloudConfig::load(config)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let running = onestop_cloud::run::start(cfg, Arc::new(SystemClock)).await?;
        onestop_link::shutdown_signal().await;
        tracing::info!(message = "Stopping.");
        running.stop().await;
        anyhow::Ok(())
    })
}
