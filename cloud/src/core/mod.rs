//! The cloud's core: the rules of what the website and the back office do, with no HTTP in
//! them. Each module takes the [`Core`] (the synced store, the office database, the campus
//! keys, the injected clock) and typed inputs, and returns typed outcomes or an [`Error`]
//! whose kind chooses the answer (the pages' one mapping is `ui::error`).
//!
//! What the halls must see (the catalogue, bookings, case steps, the card directory) is
//! written to the synced documents through [`Core::write_doc`], the one write path, which also
//! tells the sync listener so connected halls receive it at once. The cloud's own tables live
//! in `office.sqlite` (not CRDT documents: only the cloud writes them).

pub mod accounts;
pub mod booking;
pub mod cards;
pub mod cases;
pub mod catalog;
pub mod followups;
pub mod limit;
pub mod nodes;
pub mod qa;

use anyhow::Context;
use onestop_model::clock::Clock;
use onestop_model::{Catalog, Timestamp};
use onestop_protocol::DocId;
use onestop_protocol::secrets::VisitorKey;
use onestop_store::{ReadDocs, Store, StoreError};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

/// The cloud's own tables, each module's schema in turn (every statement is idempotent).
/// A module that keeps rows adds its schema here.
const SCHEMAS: &[&str] = &[accounts::SCHEMA, qa::SCHEMA, booking::SCHEMA, followups::SCHEMA];

/// Why something was not done, by kind. The kind, not the text, decides the status code,
/// the log level and the metrics (`ui::error`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input breaks a rule (422); the message says which, Chinese first.
    #[error("{0}")]
    Invalid(String),
    /// The state does not allow it now (409): taken, already done, too late.
    #[error("{0}")]
    Conflict(String),
    /// No such thing (404).
    #[error("not found")]
    NotFound,
    /// This account may not do it (403).
    #[error("not allowed")]
    Forbidden,
    /// The synced store failed (500, logged as an incident).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The office database failed (500, logged as an incident).
    #[error("office database: {0}")]
    Db(#[from] rusqlite::Error),
    /// A stored document that cannot be read, or another failure of ours (500).
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// A failure of the cloud's storage or code, not of the request.
    pub fn is_failure(&self) -> bool {
        matches!(self, Error::Store(_) | Error::Db(_) | Error::Internal(_))
    }
}

/// A form's refusal written as a message ("中文 / English"): the input breaks a rule.
impl From<String> for Error {
    fn from(m: String) -> Error {
        Error::Invalid(m)
    }
}

impl From<&str> for Error {
    fn from(m: &str) -> Error {
        Error::Invalid(m.to_string())
    }
}

impl From<onestop_protocol::codec::DocError> for Error {
    fn from(e: onestop_protocol::codec::DocError) -> Error {
        Error::Internal(e.to_string())
    }
}

/// What the website and the back office work on: the synced store (shared with the sync
/// listener), the office database, the campus keys and the clock.
pub struct Core {
    pub store: Arc<Mutex<Store>>,
    /// Tells the sync listener (and the website's cache) which document changed.
    pub changes: broadcast::Sender<DocId>,
    /// `office.sqlite`: accounts, and the other modules' tables.
    pub db: Mutex<Connection>,
    /// The campus visitor key: a card number's pseudonym, as the halls make it.
    pub visitor_key: VisitorKey,
    /// The provisioning registry (the node inventory), when this cloud enrols nodes.
    pub registry: Option<PathBuf>,
    /// Staff sessions of the back office, in memory (a restart asks staff to log in again).
    pub sessions: accounts::Sessions,
    /// Wrong passwords slowed down, per login and client address, in memory.
    pub logins: accounts::LoginGuard,
    /// The public forms' rate limits (case lookups, questions), in memory.
    pub limits: limit::Limits,
    /// Online reservations: the booking key and the booking limits.
    pub bookings: booking::Desk,
    /// Where "now" comes from (the system's clock; a manual one in tests).
    pub clock: Arc<dyn Clock>,
}

/// `office.sqlite` in a cloud's data directory.
pub fn office_path(data: &Path) -> PathBuf {
    data.join("office.sqlite")
}

fn open_db(conn: Connection) -> anyhow::Result<Connection> {
    conn.pragma_update(None, "journal_mode", "WAL").ok();
    // An acknowledged change (a booking's index row, a reviewer's answer) survives a power cut.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    for schema in SCHEMAS {
        conn.execute_batch(schema).context("cannot set up the office database")?;
    }
    Ok(conn)
}

/// Opens (and sets up) a cloud's office database.
pub fn open_office_db(data: &Path) -> anyhow::Result<Connection> {
    let path = office_path(data);
    let conn = Connection::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    open_db(conn)
}

impl Core {
    /// The core of the cloud whose data directory is `data`, on the sync listener's store.
    pub fn open(
        data: &Path,
        store: Arc<Mutex<Store>>,
        changes: broadcast::Sender<DocId>,
        registry: Option<PathBuf>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Core> {
        let db = open_office_db(data)?;
        let key = crate::visitor_key(data)?;
        Ok(Core {
            store,
            changes,
            db: Mutex::new(db),
            visitor_key: VisitorKey::from_hex(&key)
                .with_context(|| format!("{} is not 64 hex digits", data.join("visitor.key").display()))?,
            registry,
            sessions: accounts::Sessions::default(),
            logins: accounts::LoginGuard::default(),
            limits: Default::default(),
            bookings: booking::Desk::new(crate::booking_key(data)?),
            clock,
        })
    }

    /// A core in memory, for tests, on `clock`.
    pub fn in_memory(clock: Arc<dyn Clock>) -> Core {
        let (changes, _) = broadcast::channel(1024);
        Core {
            store: Arc::new(Mutex::new(Store::open_in_memory().expect("in-memory store"))),
            changes,
            db: Mutex::new(open_db(Connection::open_in_memory().expect("in-memory db")).expect("schema")),
            visitor_key: VisitorKey::new([7; 32]),
            registry: None,
            sessions: accounts::Sessions::default(),
            logins: accounts::LoginGuard::default(),
            limits: Default::default(),
            bookings: booking::Desk::new(onestop_protocol::booking_token::BookingSigner::generate().0),
            clock,
        }
    }

    /// The time now, by the injected clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The time now as `SystemTime`, for the provisioning registry and the CA.
    pub fn system_time(&self) -> std::time::SystemTime {
        self.now().to_system_time()
    }

    /// The office database (a poisoned lock is taken over: every write is one statement or
    /// one transaction).
    pub fn db(&self) -> MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The synced store, for reading (writes go through [`Core::write_doc`]).
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The one way the cloud changes a synced document: one durable write at the next stamp
    /// (`f` reads what it checks through the batch, under the same lock, so a check and its
    /// write are one step), then the sync listener hears of `ids`. An error from `f` writes
    /// nothing. Lock order: the store, then the office database.
    pub fn write_doc<R, E: From<StoreError>>(
        &self,
        ids: &[DocId],
        f: impl FnOnce(&mut onestop_store::Batch<'_>) -> Result<R, E>,
    ) -> Result<R, E> {
        let now = self.now();
        let out = {
            let mut store = self.store();
            let stamp = store.next_stamp(now);
            let mut refused = None;
            let written = store.write(stamp, |b| match f(b) {
                Ok(r) => Ok(r),
                Err(e) => {
                    refused = Some(e);
                    Err(StoreError::rejected("refused"))
                }
            });
            match (written, refused) {
                (_, Some(e)) => return Err(e),
                (Err(e), None) => return Err(e.into()),
                (Ok(r), None) => r,
            }
        };
        for id in ids {
            let _ = self.changes.send(id.clone());
        }
        Ok(out)
    }

    /// [`Core::write_doc`] with the office database in one transaction beside it: `f` gets
    /// the batch and the office connection; the office's changes are committed only once the
    /// documents are (and rolled back if either fails). Locks the store, then the office, as
    /// every write does.
    pub fn write_doc_with_office<R, E: From<StoreError> + From<rusqlite::Error>>(
        &self,
        ids: &[DocId],
        f: impl FnOnce(&mut onestop_store::Batch<'_>, &Connection) -> Result<R, E>,
    ) -> Result<R, E> {
        let now = self.now();
        let out = {
            let mut store = self.store();
            let db = self.db();
            db.execute_batch("BEGIN IMMEDIATE")?;
            let stamp = store.next_stamp(now);
            let mut refused = None;
            let written = store.write(stamp, |b| match f(b, &db) {
                Ok(r) => Ok(r),
                Err(e) => {
                    refused = Some(e);
                    Err(StoreError::rejected("refused"))
                }
            });
            let out = match (written, refused) {
                (_, Some(e)) => Err(e),
                (Err(e), None) => Err(e.into()),
                (Ok(r), None) => Ok(r),
            };
            match &out {
                Ok(_) => db.execute_batch("COMMIT")?,
                Err(_) => {
                    let _ = db.execute_batch("ROLLBACK");
                }
            }
            out?
        };
        for id in ids {
            let _ = self.changes.send(id.clone());
        }
        Ok(out)
    }

    /// The catalogue as published (empty before the first).
    pub fn catalog(&self) -> Result<Catalog, Error> {
        Ok(self.store().catalog()?.unwrap_or_default())
    }

    /// Edits the catalogue and publishes it, if it still validates: `edit` refuses with a
    /// message (422); a catalogue that does not validate is never published.
    pub fn publish(&self, edit: impl FnOnce(&mut Catalog) -> Result<(), String>) -> Result<Catalog, Error> {
        self.write_doc(&[DocId::Catalog], |b| {
            let mut cat = b.catalog()?.unwrap_or_default();
            edit(&mut cat).map_err(Error::Invalid)?;
            cat.validate().map_err(|e| Error::Invalid(e.to_string()))?;
            b.edit(&DocId::Catalog, |tx| Ok(onestop_protocol::catalog::write(tx, &cat)?))?;
            Ok(cat)
        })
    }
}
