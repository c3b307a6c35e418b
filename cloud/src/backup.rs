//! `onestop-cloud backup` and `onestop-cloud restore`: a consistent copy of every store the
//! cloud keeps, taken while it serves, and bringing one back with the cloud stopped.
//!
//! What a backup holds (each file's [`Role`]), so that a restored cloud works and every
//! enrolled node can still renew:
//! - the SQLite databases of the data directory, each as one consistent snapshot
//!   (`VACUUM INTO`: one read transaction, so the serving cloud's writers never wait and the
//!   copy is never torn, even in the middle of a WAL checkpoint): the documents
//!   (`cloud.sqlite`), the office database (accounts, Q&A, follow-ups, the bookings' index)
//!   and the provisioning registry (join tokens, the node inventory, revocations);
//! - the keys of the data directory: the visitor key (every hall's pseudonyms depend on it)
//!   and the booking key (the halls verify tokens with its public half);
//! - the files `cloud.toml` names: the CA certificate, the cloud's certificate and key, and
//!   with `[enroll]` the CA folder's certificate and its key (encrypted with the passphrase,
//!   which is **not** in the backup: it stays root's, and IT keeps a copy apart);
//! - `cloud.toml` itself, for reference (restore does not write it back).
//!
//! Not in it: the statistics (`stats.sqlite`), derived from the documents and rebuilt at the
//! next start (a restore moves the current one aside), and the back office's sessions and
//! rate limits, which live in memory only.
//!
//! A restore verifies the whole set (every file present, its size and SHA-256, each database's
//! `quick_check`) before it replaces anything; refuses while the cloud serves (its lock on
//! `cloud.lock`, and an exclusive SQLite lock on every database it replaces); writes each file
//! to a temporary name in its own folder, syncs it and renames it into place; and keeps every
//! file it replaces beside it as `NAME.before-restore-TIME` (databases with their `-wal`).
//! The restored document store writes as a new Automerge actor: the halls hold changes the old
//! actor made after the backup, and a change numbered again by the same actor would collide
//! with them.

use crate::config::CloudConfig;
use anyhow::{Context, Result, bail};
use onestop_model::Timestamp;
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The manifest's file name in a backup folder.
pub const MANIFEST: &str = "manifest.json";
/// The manifest's format; a newer one is refused.
pub const FORMAT: u32 = 1;
/// The lock file in the data directory: a serving cloud holds it shared, a restore exclusive.
pub const LOCK_FILE: &str = "cloud.lock";
/// Backup folders made by `--into` are named this, then the UTC time (`20250301T033000Z`).
pub const DIR_PREFIX: &str = "onestop-cloud-";

/// What a file of a backup is, and so where it goes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The synced documents: `DATA/cloud.sqlite`.
    Store,
    /// The office database: `DATA/office.sqlite`.
    Office,
    /// The provisioning registry: `DATA/provision.sqlite`.
    Registry,
    /// `DATA/visitor.key`.
    VisitorKey,
    /// `DATA/booking.key`.
    BookingKey,
    /// `ca` of cloud.toml.
    TlsCa,
    /// `cert` of cloud.toml.
    TlsCert,
    /// `key` of cloud.toml.
    TlsKey,
    /// `[enroll] ca`'s `ca.pem`.
    CaCert,
    /// `[enroll] ca`'s `ca.key` (encrypted).
    CaKey,
    /// cloud.toml itself (for reference; not restored).
    Config,
}

/// Every role, in the order a backup copies them: the documents first, so that the office
/// database's bookings index is never older than the documents it indexes.
pub const ROLES: [Role; 11] = [
    Role::Store,
    Role::Registry,
    Role::Office,
    Role::VisitorKey,
    Role::BookingKey,
    Role::TlsCa,
    Role::TlsCert,
    Role::TlsKey,
    Role::CaCert,
    Role::CaKey,
    Role::Config,
];

impl Role {
    /// The file's path inside a backup folder.
    pub fn file(self) -> &'static str {
        match self {
            Role::Store => "data/cloud.sqlite",
            Role::Office => "data/office.sqlite",
            Role::Registry => "data/provision.sqlite",
            Role::VisitorKey => "data/visitor.key",
            Role::BookingKey => "data/booking.key",
            Role::TlsCa => "tls/ca.pem",
            Role::TlsCert => "tls/cloud.pem",
            Role::TlsKey => "tls/cloud.key",
            Role::CaCert => "enroll-ca/ca.pem",
            Role::CaKey => "enroll-ca/ca.key",
            Role::Config => "cloud.toml",
        }
    }

    /// Is it an SQLite database (copied with `VACUUM INTO`)?
    pub fn is_database(self) -> bool {
        matches!(self, Role::Store | Role::Office | Role::Registry)
    }

    /// Must a backup hold it? (The others may not exist yet: a cloud without a website has
    /// no office database.)
    fn required(self) -> bool {
        matches!(self, Role::Store | Role::TlsCa | Role::TlsCert | Role::TlsKey | Role::CaCert | Role::CaKey)
    }

    /// Where it lives for the cloud `cfg` (read from `config`); `None`: this configuration
    /// has no such file (no `[enroll]`).
    pub fn path(self, cfg: &CloudConfig, config: &Path) -> Option<PathBuf> {
        let data = &cfg.data;
        Some(match self {
            Role::Store => crate::run::store_path(data),
            Role::Office => crate::core::office_path(data),
            Role::Registry => crate::registry_path(data),
            Role::VisitorKey => data.join("visitor.key"),
            Role::BookingKey => data.join("booking.key"),
            Role::TlsCa => cfg.ca.clone(),
            Role::TlsCert => cfg.cert.clone(),
            Role::TlsKey => cfg.key.clone(),
            Role::CaCert => cfg.enroll.as_ref()?.ca.join(onestop_provision::ca::CERT_FILE),
            Role::CaKey => cfg.enroll.as_ref()?.ca.join(onestop_provision::ca::KEY_FILE),
            Role::Config => config.to_path_buf(),
        })
    }
}

/// A backup's table of contents (`manifest.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// The onestop-cloud version that took it.
    pub version: String,
    /// When it was taken (UTC, ISO 8601) and the same in milliseconds since 1970.
    pub created: String,
    pub created_ms: i64,
    /// The data directory it was taken from.
    pub data: PathBuf,
    pub files: Vec<Entry>,
}

/// One file of a backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub role: Role,
    /// Its path in the backup folder ([`Role::file`]).
    pub file: String,
    /// Where it was taken from.
    pub source: PathBuf,
    pub size: u64,
    /// SHA-256 of the copy, 64 lowercase hex digits.
    pub sha256: String,
    /// The original's mode bits, owner and group (a restore run as root gives them back).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// `20250301T033000Z`: a backup folder's name part, sortable.
pub fn stamp(at: Timestamp) -> String {
    let (day, secs) = (at.0.div_euclid(86_400_000), at.0.rem_euclid(86_400_000) / 1000);
    let day = onestop_model::Day::from_days_since_epoch(day as i32);
    format!("{}T{:02}{:02}{:02}Z", day.compact(), secs / 3600, secs / 60 % 60, secs % 60)
}

fn iso(at: Timestamp) -> String {
    let s = stamp(at);
    format!("{}-{}-{}T{}:{}:{}Z", &s[0..4], &s[4..6], &s[6..8], &s[9..11], &s[11..13], &s[13..15])
}

/// Takes a backup of the cloud `cfg` (configuration file `config`) into `out`, a new or empty
/// folder, while the cloud may be serving. Files are 0600 and folders 0700.
pub fn backup(config: &Path, cfg: &CloudConfig, out: &Path, now: Timestamp) -> Result<Manifest> {
    if out.exists() {
        let mut entries = std::fs::read_dir(out).with_context(|| format!("cannot read {}", out.display()))?;
        if entries.next().is_some() {
            bail!("{} is not empty: a backup goes into a new or empty folder", out.display());
        }
    } else if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    make_private_dir(out)?;
    if !crate::run::store_path(&cfg.data).exists() {
        bail!(
            "there is no cloud store at {}: is `data` in {} right?",
            crate::run::store_path(&cfg.data).display(),
            config.display()
        );
    }
    let mut files = Vec::new();
    let mut seen = Vec::new();
    for role in ROLES {
        let Some(source) = role.path(cfg, config) else { continue };
        if !source.exists() {
            if role.required() {
                bail!("{} ({role:?}) does not exist", source.display());
            }
            tracing::info!(message = "Not in this cloud; left out of the backup.", file = %source.display());
            continue;
        }
        // The CA certificate is often named twice (`ca` and `[enroll] ca`): copied once.
        let canonical = source.canonicalize().unwrap_or_else(|_| source.clone());
        if seen.contains(&canonical) {
            continue;
        }
        seen.push(canonical);
        let dest = out.join(role.file());
        if let Some(parent) = dest.parent().filter(|p| !p.exists()) {
            make_private_dir(parent)?;
        }
        if role.is_database() {
            snapshot(&source, &dest)?;
        } else {
            let bytes =
                std::fs::read(&source).with_context(|| format!("cannot read {}", source.display()))?;
            crate::write_private(&dest, &bytes)?;
        }
        set_mode(&dest, 0o600)?;
        std::fs::File::open(&dest)?.sync_all()?;
        let (size, sha256) = digest(&dest)?;
        let (mode, uid, gid) = owner(&source)?;
        tracing::info!(message = "Copied.", file = %source.display(), size);
        files.push(Entry { role, file: role.file().to_string(), source, size, sha256, mode, uid, gid });
    }
    let manifest = Manifest {
        format: FORMAT,
        version: env!("CARGO_PKG_VERSION").to_string(),
        created: iso(now),
        created_ms: now.0,
        data: cfg.data.clone(),
        files,
    };
    let tmp = out.join(".manifest.json.tmp");
    crate::write_private(&tmp, serde_json::to_string_pretty(&manifest)?.as_bytes())?;
    std::fs::rename(&tmp, out.join(MANIFEST))?;
    for dir in ["data", "tls", "enroll-ca", "."] {
        if out.join(dir).is_dir() {
            sync_dir(&out.join(dir))?;
        }
    }
    Ok(manifest)
}

/// `--into PARENT --keep N`: a backup into `PARENT/onestop-cloud-TIME` (made under a hidden
/// name and renamed once whole), then only the newest `keep` such folders are kept.
pub fn backup_into(
    config: &Path,
    cfg: &CloudConfig,
    parent: &Path,
    keep: usize,
    now: Timestamp,
) -> Result<(PathBuf, Manifest, Vec<PathBuf>)> {
    if keep == 0 {
        bail!("--keep must be at least 1");
    }
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let name = format!("{DIR_PREFIX}{}", stamp(now));
    let dir = parent.join(&name);
    if dir.exists() {
        bail!("{} exists already (two backups in one second?)", dir.display());
    }
    let partial = parent.join(format!(".{name}.partial"));
    if partial.exists() {
        std::fs::remove_dir_all(&partial)?;
    }
    let manifest = match backup(config, cfg, &partial, now) {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, &dir)?;
    sync_dir(parent)?;
    let removed = prune(parent, keep)?;
    Ok((dir, manifest, removed))
}

/// Removes all but the newest `keep` complete backups (`onestop-cloud-TIME` with a manifest)
/// in `parent`, and any partial one a crash left behind; returns what it removed.
pub fn prune(parent: &Path, keep: usize) -> Result<Vec<PathBuf>> {
    let mut complete = Vec::new();
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(parent).with_context(|| format!("cannot read {}", parent.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        if !entry.file_type()?.is_dir() {
            continue;
        }
        if name.starts_with(&format!(".{DIR_PREFIX}")) && name.ends_with(".partial") {
            std::fs::remove_dir_all(entry.path())?;
            removed.push(entry.path());
        } else if name.starts_with(DIR_PREFIX) && entry.path().join(MANIFEST).is_file() {
            complete.push(name);
        }
    }
    complete.sort();
    let excess = complete.len().saturating_sub(keep);
    for name in &complete[..excess] {
        let path = parent.join(name);
        std::fs::remove_dir_all(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        removed.push(path);
    }
    Ok(removed)
}

/// One consistent copy of the SQLite database `source` in `dest` (new), taken in one read
/// transaction while others may be writing.
fn snapshot(source: &Path, dest: &Path) -> Result<()> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open {}", source.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    let target = dest.to_str().with_context(|| format!("{} is not UTF-8", dest.display()))?;
    conn.execute("VACUUM INTO ?1", [target]).with_context(|| format!("cannot copy {}", source.display()))?;
    Ok(())
}

/// Reads and checks `from/manifest.json` and every file it lists (presence, size, SHA-256,
/// and each database's `quick_check`).
pub fn verify(from: &Path) -> Result<Manifest> {
    let path = from.join(MANIFEST);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {}: is this a backup folder (a backup that did not finish has none)?",
            path.display()
        )
    })?;
    let manifest: Manifest = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a backup manifest", path.display()))?;
    if manifest.format > FORMAT {
        bail!(
            "the backup's format is {} and this onestop-cloud reads up to {FORMAT}: restore with onestop-cloud {} or later",
            manifest.format,
            manifest.version
        );
    }
    let mut problems = Vec::new();
    if !manifest.files.iter().any(|e| e.role == Role::Store) {
        problems.push("it holds no document store (data/cloud.sqlite)".to_string());
    }
    for e in &manifest.files {
        // The manifest names only the files a backup makes (never a path out of the folder).
        if e.file != e.role.file() {
            problems.push(format!("{}: not where a backup puts its {:?}", e.file, e.role));
            continue;
        }
        let file = from.join(&e.file);
        match digest(&file) {
            Err(_) => problems.push(format!("{} is missing", e.file)),
            Ok((size, _)) if size != e.size => {
                problems.push(format!("{}: {size} bytes, the manifest says {}", e.file, e.size))
            }
            Ok((_, sum)) if sum != e.sha256 => {
                problems.push(format!("{}: the checksum does not match", e.file))
            }
            Ok(_) if e.role.is_database() => {
                if let Err(why) = quick_check(&file) {
                    problems.push(format!("{}: {why}", e.file));
                }
            }
            Ok(_) => {}
        }
    }
    if !problems.is_empty() {
        bail!(
            "the backup in {} is damaged or incomplete; nothing was restored:\n- {}",
            from.display(),
            problems.join("\n- ")
        );
    }
    Ok(manifest)
}

/// SQLite's `quick_check` of a database file, opened read-only.
fn quick_check(file: &Path) -> Result<(), String> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("does not open: {e}"))?;
    let verdict: String =
        conn.query_row("PRAGMA quick_check", [], |r| r.get(0)).map_err(|e| format!("does not read: {e}"))?;
    if verdict == "ok" { Ok(()) } else { Err(format!("damaged ({verdict})")) }
}

/// What a restore did with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Written; the file it replaced is kept at the path given.
    Replaced { kept: PathBuf },
    /// Written where there was none.
    Created,
    /// The file in place is the backup's already.
    Unchanged,
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub manifest: Manifest,
    pub files: Vec<(Role, PathBuf, Outcome)>,
    /// The statistics database moved aside (rebuilt at the next start), if there was one.
    pub stats_kept: Option<PathBuf>,
    /// The suffix of every file kept aside.
    pub suffix: String,
}

/// Holds the data directory's [`LOCK_FILE`] shared while the cloud serves: a restore cannot
/// start meanwhile, and a cloud cannot start while a restore runs.
pub fn serving_lock(data: &Path) -> Result<std::fs::File> {
    let path = data.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock_shared() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            bail!(
                "a restore is under way in {} (it holds {}): start the cloud once it has finished",
                data.display(),
                path.display()
            )
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Restores the backup in `from` for the cloud `cfg` (configuration file `config`), which must
/// be stopped. Verifies the whole set first; replaces nothing unless every file could be
/// staged; keeps what it replaces as `NAME.before-restore-TIME`.
pub fn restore(config: &Path, cfg: &CloudConfig, from: &Path, now: Timestamp) -> Result<Restored> {
    let manifest = verify(from)?;
    let data = &cfg.data;
    std::fs::create_dir_all(data).with_context(|| format!("cannot create {}", data.display()))?;
    let lock_path = data.join(LOCK_FILE);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open {}", lock_path.display()))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "the cloud is running on {} (it holds {}): stop it first (systemctl stop onestop-cloud), then restore",
            data.display(),
            lock_path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", lock_path.display()));
        }
    }

    // Where each file goes, once (two roles may name one file).
    let mut plan: Vec<(&Entry, PathBuf)> = Vec::new();
    for e in &manifest.files {
        if e.role == Role::Config {
            continue;
        }
        let Some(target) = e.role.path(cfg, config) else {
            tracing::warn!(
                message = "This configuration has no place for a file of the backup; left out.",
                file = %e.file,
                role = ?e.role
            );
            continue;
        };
        if plan.iter().any(|(_, t)| *t == target) {
            continue;
        }
        plan.push((e, target));
    }
    let stats = crate::stats::project::stats_path(data);
    // No other process may have a database open (the cloud, `onestop-cloud account`,
    // `onestop-provision`): each must take an exclusive lock at once.
    for target in plan.iter().filter(|(e, _)| e.role.is_database()).map(|(_, t)| t).chain([&stats]) {
        if target.exists() {
            exclusive_probe(target)?;
        }
    }

    // Stage every file that differs beside its target; any failure removes them all.
    let mut staged: Vec<(&Entry, PathBuf, PathBuf)> = Vec::new();
    let mut unchanged = Vec::new();
    let result = (|| -> Result<()> {
        for (e, target) in &plan {
            if !e.role.is_database() && target.is_file() && digest(target).is_ok_and(|(_, s)| s == e.sha256) {
                unchanged.push((e.role, target.clone()));
                continue;
            }
            let name = target.file_name().context("a file name")?.to_string_lossy().to_string();
            let dir = target.parent().context("a folder")?;
            if !dir.exists() {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let tmp = dir.join(format!(".{name}.restore-tmp"));
            let _ = std::fs::remove_file(&tmp);
            let bytes = std::fs::read(from.join(&e.file))?;
            staged.push((e, target.clone(), tmp.clone()));
            crate::write_private(&tmp, &bytes)?;
            if e.role == Role::Store {
                renew_actor(&tmp)?;
            }
            set_mode(&tmp, e.mode & 0o7777)?;
            // As root, the owner of the file replaced, else of the data folder (the cloud's
            // user, whose number may differ on a new machine), else the original's; as
            // another user the file stays ours.
            let (uid, gid) = {
                use std::os::unix::fs::MetadataExt;
                match std::fs::metadata(target) {
                    Ok(m) => (m.uid(), m.gid()),
                    Err(_) if target.starts_with(data) => {
                        std::fs::metadata(data).map(|m| (m.uid(), m.gid())).unwrap_or((e.uid, e.gid))
                    }
                    Err(_) => (e.uid, e.gid),
                }
            };
            if let Err(error) = std::os::unix::fs::chown(&tmp, Some(uid), Some(gid)) {
                tracing::debug!(message = "Owner not given back.", file = %tmp.display(), %error);
            }
            std::fs::File::open(&tmp)?.sync_all()?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        for (_, _, tmp) in &staged {
            let _ = std::fs::remove_file(tmp);
            let _ = std::fs::remove_file(with_suffix(tmp, "-wal"));
            let _ = std::fs::remove_file(with_suffix(tmp, "-shm"));
        }
        return Err(e.context("nothing was restored"));
    }

    // Into place: what is there now is kept aside (databases with their WAL).
    let suffix = format!(".before-restore-{}", stamp(now));
    let mut files = Vec::new();
    for (e, target, tmp) in &staged {
        let outcome = if target.exists() {
            let kept = with_suffix(target, &suffix);
            std::fs::rename(target, &kept)
                .with_context(|| format!("cannot move {} aside", target.display()))?;
            if e.role.is_database() {
                move_sidecars(target, &kept)?;
            }
            Outcome::Replaced { kept }
        } else {
            Outcome::Created
        };
        if e.role.is_database() {
            move_sidecars(target, &with_suffix(target, &format!("{suffix}.stale")))?;
        }
        std::fs::rename(tmp, target).with_context(|| format!("cannot put {} in place", target.display()))?;
        sync_dir(target.parent().unwrap_or(Path::new(".")))?;
        tracing::info!(message = "Restored.", file = %target.display(), outcome = ?outcome);
        files.push((e.role, target.clone(), outcome));
    }
    for (role, target) in unchanged {
        files.push((role, target, Outcome::Unchanged));
    }
    // The statistics are derived from the documents: moved aside, rebuilt at the next start.
    let stats_kept = if stats.exists() {
        let kept = with_suffix(&stats, &suffix);
        std::fs::rename(&stats, &kept)?;
        move_sidecars(&stats, &kept)?;
        Some(kept)
    } else {
        None
    };
    sync_dir(data)?;
    drop(lock);
    Ok(Restored { manifest, files, stats_kept, suffix })
}

/// Opens `db` and takes SQLite's exclusive lock at once, or says who may hold it. A database
/// that does not open (damaged) is no obstacle: it is moved aside like any other.
fn exclusive_probe(db: &Path) -> Result<()> {
    let probe = || -> rusqlite::Result<()> {
        let conn = rusqlite::Connection::open(db)?;
        conn.busy_timeout(std::time::Duration::ZERO)?;
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        conn.execute_batch("BEGIN EXCLUSIVE; SELECT count(*) FROM sqlite_master; COMMIT;")
    };
    match probe() {
        Ok(()) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) =>
        {
            bail!(
                "{} is in use by another process (the cloud, onestop-cloud account or onestop-provision): stop it first (systemctl stop onestop-cloud), then restore",
                db.display()
            )
        }
        Err(error) => {
            tracing::warn!(message = "A database to be replaced does not open; it is moved aside.", file = %db.display(), %error);
            Ok(())
        }
    }
}

/// The restored store gets a new Automerge actor (the store's `meta` row `actor`, 16 random
/// bytes, as `onestop_store::Store` makes it on first open): its old actor's later changes
/// live on in the halls, and new changes numbered again by it would collide with them.
fn renew_actor(store: &Path) -> Result<()> {
    let conn =
        rusqlite::Connection::open(store).with_context(|| format!("cannot open {}", store.display()))?;
    let mut actor = [0u8; 16];
    getrandom::fill(&mut actor).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    let old: Option<Vec<u8>> =
        conn.query_row("SELECT value FROM meta WHERE key = 'actor'", [], |r| r.get(0)).optional()?;
    let Some(old) = old else {
        bail!("{} has no actor: it is not a cloud store", store.display());
    };
    // The old actor's changes after the backup come back from the halls: the link takes them
    // (onestop_link::FORMER_ACTORS_META, kept as the store's own bookkeeping, `x:` keys).
    let key = format!("x:{}", onestop_link::FORMER_ACTORS_META);
    let mut former: Vec<u8> = conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [&key], |r| r.get(0))
        .optional()?
        .unwrap_or_default();
    former.extend_from_slice(&old);
    conn.execute("INSERT OR REPLACE INTO meta VALUES (?1, ?2)", rusqlite::params![key, former])?;
    conn.execute("UPDATE meta SET value = ?1 WHERE key = 'actor'", [actor.to_vec()])?;
    // Back to one file: the WAL folded in, nothing beside it.
    conn.pragma_update(None, "journal_mode", "DELETE")?;
    conn.close().map_err(|(_, e)| e)?;
    Ok(())
}

/// Moves `db`'s `-wal` (and drops its `-shm`) to go with `to`.
fn move_sidecars(db: &Path, to: &Path) -> Result<()> {
    let wal = with_suffix(db, "-wal");
    if wal.exists() {
        std::fs::rename(&wal, with_suffix(to, "-wal"))
            .with_context(|| format!("cannot move {} aside", wal.display()))?;
    }
    let shm = with_suffix(db, "-shm");
    if shm.exists() {
        std::fs::remove_file(&shm).with_context(|| format!("cannot remove {}", shm.display()))?;
    }
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Size and SHA-256 (hex) of a file.
fn digest(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    let hex = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((size, hex))
}

fn owner(path: &Path) -> Result<(u32, u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok((m.mode() & 0o7777, m.uid(), m.gid()))
}

fn make_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    set_mode(dir, 0o700)
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", path.display()))
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_sort_as_times_do() {
        assert_eq!(stamp(Timestamp(0)), "19700101T000000Z");
        assert_eq!(stamp(Timestamp(1_740_799_800_000)), "20250301T033000Z");
        assert_eq!(iso(Timestamp(1_740_799_800_000)), "2025-03-01T03:30:00Z");
    }

    #[test]
    fn retention_keeps_the_newest_complete_backups_and_drops_partial_ones() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "onestop-cloud-20250101T033000Z",
            "onestop-cloud-20250102T033000Z",
            "onestop-cloud-20250103T033000Z",
        ] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
            std::fs::write(dir.path().join(name).join(MANIFEST), "{}").unwrap();
        }
        // Without a manifest it is not a backup, and something else's folder is not ours.
        std::fs::create_dir(dir.path().join("onestop-cloud-20240101T000000Z")).unwrap();
        std::fs::create_dir(dir.path().join("notes")).unwrap();
        std::fs::create_dir(dir.path().join(".onestop-cloud-20250104T033000Z.partial")).unwrap();
        let removed = prune(dir.path(), 2).unwrap();
        let names: Vec<String> =
            removed.iter().map(|p| p.file_name().unwrap().to_string_lossy().to_string()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.contains(&"onestop-cloud-20250101T033000Z".to_string()), "{names:?}");
        assert!(names.contains(&".onestop-cloud-20250104T033000Z.partial".to_string()), "{names:?}");
        for left in ["onestop-cloud-20250102T033000Z", "onestop-cloud-20250103T033000Z", "notes"] {
            assert!(dir.path().join(left).exists(), "{left}");
        }
    }

    #[test]
    fn a_manifest_cannot_point_out_of_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("data/cloud.sqlite"), "not a database. ".repeat(256)).unwrap();
        let (size, sha256) = digest(&dir.path().join("data/cloud.sqlite")).unwrap();
        let entry = |role, file: &str| Entry {
            role,
            file: file.into(),
            source: "/var/lib/onestop-cloud/x".into(),
            size,
            sha256: sha256.clone(),
            mode: 0o600,
            uid: 0,
            gid: 0,
        };
        let manifest = Manifest {
            format: FORMAT,
            version: "0".into(),
            created: String::new(),
            created_ms: 0,
            data: "/var/lib/onestop-cloud".into(),
            files: vec![entry(Role::Store, "data/cloud.sqlite"), entry(Role::TlsKey, "../../etc/shadow")],
        };
        std::fs::write(dir.path().join(MANIFEST), serde_json::to_string(&manifest).unwrap()).unwrap();
        let err = format!("{:#}", verify(dir.path()).unwrap_err());
        assert!(err.contains("../../etc/shadow: not where a backup puts"), "{err}");
        assert!(
            err.contains("data/cloud.sqlite: damaged") || err.contains("data/cloud.sqlite: does not"),
            "{err}"
        );
        assert!(err.contains("nothing was restored"), "{err}");
    }
}
