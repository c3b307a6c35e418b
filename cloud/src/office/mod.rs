//! The back office and everything the website writes: staff accounts and their sessions
//! (`auth.rs`), and the cloud's own tables in `office.sqlite` (not CRDT documents: only the
//! cloud writes them). What the halls must see (the catalogue, bookings, case steps, the card
//! directory) is written to the synced documents through [`Backend::write_doc`], which also
//! tells the sync listener so connected halls receive it at once.

// A refused request is an early `Err(Response)` throughout, as axum handlers are written.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod cards;
pub mod cases;
pub mod catalog;
pub mod followups;
pub mod forms;
pub mod nodes;
pub mod qa;
pub mod shell;
pub mod staff;
#[cfg(test)]
mod tests;

use anyhow::{Context, Result};
use onestop_model::{Catalog, Timestamp};
use onestop_sync::secrets::VisitorKey;
use onestop_sync::{DocId, Store, StoreError};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

/// The cloud's own tables, each module's schema in turn (every statement is idempotent).
/// A module that keeps rows adds its schema here.
const SCHEMAS: &[&str] = &[auth::SCHEMA, qa::SCHEMA, crate::web::booking::SCHEMA, followups::SCHEMA];

/// What the website and the back office work on: the synced store (shared with the sync
/// listener), the office database and the campus keys.
pub struct Backend {
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
    pub sessions: auth::Sessions,
    /// Reverse proxies on other hosts whose `X-Forwarded-For` names the client
    /// (`trusted_proxies` in cloud.toml; a proxy on loopback is always believed).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// `stats.sqlite`, the statistics' query tables (the projector writes it).
    pub stats: crate::stats::StatsDb,
    /// The public forms' rate limits (case lookups, questions), in memory.
    pub limits: crate::web::limit::Limits,
    /// Online reservations: the booking key and the booking limits.
    pub bookings: crate::web::booking::Desk,
}

/// The office database in a cloud's data directory.
pub fn office_path(data: &Path) -> PathBuf {
    data.join("office.sqlite")
}

fn open_db(conn: Connection) -> Result<Connection> {
    conn.pragma_update(None, "journal_mode", "WAL").ok();
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    for schema in SCHEMAS {
        conn.execute_batch(schema).context("cannot set up the office database")?;
    }
    Ok(conn)
}

/// Opens (and sets up) the office database of the cloud whose data directory is `data`.
pub fn open_office_db(data: &Path) -> Result<Connection> {
    let path = office_path(data);
    let conn = Connection::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    open_db(conn)
}

impl Backend {
    /// The backend of a cloud whose data directory is `data`.
    pub fn open(
        data: &Path,
        store: Arc<Mutex<Store>>,
        changes: broadcast::Sender<DocId>,
        registry: Option<PathBuf>,
    ) -> Result<Backend> {
        let db = open_office_db(data)?;
        let key = crate::visitor_key(data)?;
        Ok(Backend {
            store,
            changes,
            db: Mutex::new(db),
            visitor_key: VisitorKey::from_hex(&key)
                .with_context(|| format!("{} is not 64 hex digits", data.join("visitor.key").display()))?,
            registry,
            sessions: auth::Sessions::default(),
            trusted_proxies: Vec::new(),
            stats: crate::stats::StatsDb::file(crate::stats::project::stats_path(data))?,
            limits: Default::default(),
            bookings: crate::web::booking::Desk::new(crate::booking_key(data)?),
        })
    }

    /// Believes `X-Forwarded-For` from these reverse proxies as well as from loopback.
    pub fn trusting(mut self, proxies: Vec<std::net::IpAddr>) -> Backend {
        self.trusted_proxies = proxies;
        self
    }

    /// A backend held in memory (tests).
    pub fn in_memory() -> Backend {
        let (changes, _) = broadcast::channel(1024);
        Backend {
            store: Arc::new(Mutex::new(Store::open_in_memory().expect("in-memory store"))),
            changes,
            db: Mutex::new(open_db(Connection::open_in_memory().expect("in-memory db")).expect("schema")),
            visitor_key: VisitorKey::new([7; 32]),
            registry: None,
            sessions: auth::Sessions::default(),
            trusted_proxies: Vec::new(),
            stats: crate::stats::StatsDb::memory(),
            limits: Default::default(),
            bookings: crate::web::booking::Desk::new(
                onestop_sync::booking_token::BookingSigner::generate().0,
            ),
        }
    }

    /// The office database (a poisoned lock is taken over: every write is one transaction).
    pub fn db(&self) -> MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the synced documents in one durable write at `now`, then tells the sync
    /// listener and the cache which documents changed.
    pub fn write_doc<R>(
        &self,
        now: Timestamp,
        ids: &[DocId],
        f: impl FnOnce(&mut onestop_sync::store::Batch<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let out = {
            let mut store = self.store();
            let stamp = store.next_stamp(now);
            store.write(stamp, f)?
        };
        for id in ids {
            let _ = self.changes.send(id.clone());
        }
        Ok(out)
    }

    /// The published catalogue (empty before the first publication).
    pub fn catalog(&self) -> Result<Catalog, StoreError> {
        let mut store = self.store();
        match store.doc(&DocId::Catalog)? {
            Some(doc) => onestop_sync::catalog::read(doc).map_err(StoreError::rejected),
            None => Ok(Catalog::default()),
        }
    }

    /// Publishes a changed catalogue to every hall: `edit` changes a copy of the published
    /// one; the result must validate, or nothing is written and the reason is returned.
    pub fn publish(
        &self,
        now: Timestamp,
        edit: impl FnOnce(&mut Catalog) -> Result<(), String>,
    ) -> Result<Catalog, String> {
        let mut store = self.store();
        let mut cat = match store.doc(&DocId::Catalog) {
            Ok(Some(doc)) => onestop_sync::catalog::read(doc).map_err(|e| e.to_string())?,
            Ok(None) => Catalog::default(),
            Err(e) => return Err(e.to_string()),
        };
        edit(&mut cat)?;
        cat.validate().map_err(|e| e.to_string())?;
        let stamp = store.next_stamp(now);
        store
            .write(stamp, |b| b.edit(&DocId::Catalog, |tx| Ok(onestop_sync::catalog::write(tx, &cat)?)))
            .map_err(|e| e.to_string())?;
        drop(store);
        let _ = self.changes.send(DocId::Catalog);
        Ok(cat)
    }
}

/// The back office's own pages (login, logout and the dashboard are in the website's router).
pub fn routes() -> axum::Router<crate::web::WebState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/office/catalog", get(catalog::page))
        .route("/office/catalog/department", post(catalog::save_department))
        .route("/office/catalog/service", post(catalog::save_service))
        .route("/office/catalog/service/{id}", get(catalog::service_form))
        .route("/office/catalog/service/{id}/delete", post(catalog::delete_service))
        .route("/office/halls", get(catalog::halls))
        .route("/office/catalog/hall", post(catalog::new_hall))
        .route("/office/halls/{id}", get(catalog::hall).post(catalog::save_hall))
        .route("/office/notices", post(catalog::publish_notice))
        .route("/office/notices/{id}/delete", post(catalog::delete_notice))
        .route("/office/staff", get(staff::page).post(staff::save))
        .route("/office/staff/{id}/delete", post(staff::delete))
        .route("/office/accounts", get(staff::accounts).post(staff::create))
        .route("/office/accounts/password", post(staff::reset_password))
        .route("/office/accounts/{login}/toggle", post(staff::toggle))
        .route(
            "/office/cards",
            get(cards::page)
                .post(cards::import)
                .layer(axum::extract::DefaultBodyLimit::max(cards::UPLOAD_LIMIT)),
        )
        .route("/office/nodes", get(nodes::page))
        .route("/office/nodes/{node}/{action}", post(nodes::act))
}
