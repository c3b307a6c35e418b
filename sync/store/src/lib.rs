//! The durable document store: Automerge documents in SQLite, in the automerge-repo layout.
//!
//! - Every write appends one incremental chunk per changed document **and** the new hybrid
//!   logical clock reading in one SQLite transaction, made durable (`synchronous=FULL` on the
//!   edge) before [`Store::write`] returns. A ticket is on disk before anyone prints it.
//! - Compaction writes a snapshot and deletes the chunks it covers in one transaction, when a
//!   document's incremental bytes exceed its snapshot (and a floor, so a busy day is not saved
//!   whole every few commands).
//! - The node's Automerge actor id is made on first open and stored; it is never in an image.
//! - Per-(peer, document) sync state has its own table.
//!
//! If a write fails, nothing of it is on disk and the documents it touched are dropped from
//! memory, to be reloaded from disk as they were.

pub mod docs;
pub mod read;

pub use docs::{StoreDocs, store_error};
pub use read::{CardLookup, ReadDocs};

use automerge::transaction::Transaction;
use automerge::{ActorId, Automerge, AutomergeError, ChangeHash};
use onestop_model::Timestamp;
use onestop_protocol::docid::DocId;
use onestop_protocol::hlc::{self, HlcStamp};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::path::Path;

/// How hard a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: a returned write survives a power cut (the edge).
    Full,
    /// `synchronous=NORMAL`: a returned write survives a crash of the process (the cloud,
    /// whose documents also live on the halls).
    Normal,
}

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("数据库错误 / database error in {path}: {source}")]
    Sql { path: String, source: Box<rusqlite::Error> },
    #[error("文档 {doc} 已损坏，无法读取 / document {doc} in the store cannot be loaded: {source}")]
    Corrupt { doc: String, source: Box<AutomergeError> },
    #[error(
        "数据库由更新版本创建（{found}）/ the store was made by a newer Onestop (store version {found}, this build knows {supported})"
    )]
    NewerStore { found: i64, supported: i64 },
    #[error(
        "clock stamp {given:?} is not after the last stamp written {last:?}: take stamps from Store::next_stamp"
    )]
    StampNotAfter { given: HlcStamp, last: HlcStamp },
    #[error("automerge: {0}")]
    Automerge(Box<AutomergeError>),
    #[error("{0}")]
    Rejected(String),
    /// A document that loads but cannot be read as what it claims to be (a field missing or
    /// wrong, a newer schema): what a typed reader ([`crate::read::ReadDocs`]) says.
    #[error("文档 {doc} 无法读取 / document {doc} cannot be read: {source}")]
    Doc { doc: String, source: Box<onestop_protocol::codec::DocError> },
    /// SQLite's own check found the file damaged (a failing SD card, a torn write).
    #[error("数据库文件已损坏 / the store {path} is damaged: {detail}")]
    Damaged { path: String, detail: String },
}

impl From<AutomergeError> for StoreError {
    fn from(e: AutomergeError) -> StoreError {
        StoreError::Automerge(Box::new(e))
    }
}

/// What kind of failure a [`StoreError`] is: what the caller does about it (a page's status,
/// an incident, a log level), without reading its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFault {
    /// The disk (or the database's page limit) is full: nothing was stored; writes succeed
    /// again once there is space.
    Full,
    /// The database cannot be written or read now: read-only, an I/O failure, busy or locked
    /// past the busy timeout, or it cannot be opened.
    Unavailable,
    /// What is on disk cannot be read: the database file is damaged or is not a database,
    /// or a document in it does not load.
    Corrupt,
    /// A write was abandoned by its own caller ([`StoreError::rejected`]): a refusal, not a
    /// failure of the store.
    Refused,
    /// Anything else: a bug (a stamp out of order, a misused statement), a store made by a
    /// newer Onestop, an Automerge error, a document this build cannot read (a newer schema,
    /// or one a bug wrote wrong: it synced from elsewhere, the disk is not at fault).
    Internal,
}

impl StoreFault {
    /// A fault of the disk or the database (full, unavailable, corrupt): an incident for
    /// whoever runs the machine, not the fault of whoever asked.
    pub fn is_storage(self) -> bool {
        matches!(self, StoreFault::Full | StoreFault::Unavailable | StoreFault::Corrupt)
    }
}

impl StoreError {
    /// A domain error raised inside a write (the write is abandoned, nothing is stored).
    pub fn rejected(e: impl std::fmt::Display) -> StoreError {
        StoreError::Rejected(e.to_string())
    }

    /// What kind of failure this is; SQLite's errors are told apart by their result code.
    pub fn kind(&self) -> StoreFault {
        use rusqlite::ErrorCode as C;
        match self {
            StoreError::Sql { source, .. } => match source.sqlite_error_code() {
                Some(C::DiskFull) => StoreFault::Full,
                Some(
                    C::ReadOnly
                    | C::SystemIoFailure
                    | C::DatabaseBusy
                    | C::DatabaseLocked
                    | C::CannotOpen
                    | C::PermissionDenied
                    | C::FileLockingProtocolFailed,
                ) => StoreFault::Unavailable,
                Some(C::DatabaseCorrupt | C::NotADatabase) => StoreFault::Corrupt,
                _ => StoreFault::Internal,
            },
            StoreError::Corrupt { .. } | StoreError::Damaged { .. } => StoreFault::Corrupt,
            StoreError::Rejected(_) => StoreFault::Refused,
            StoreError::NewerStore { .. }
            | StoreError::StampNotAfter { .. }
            | StoreError::Automerge(_)
            | StoreError::Doc { .. } => StoreFault::Internal,
        }
    }
}

const STORE_VERSION: i64 = 1;
const KIND_INCREMENTAL: i64 = 0;
const KIND_SNAPSHOT: i64 = 1;

/// Compaction waits until a document's incremental chunks reach at least this many bytes.
pub const DEFAULT_COMPACT_FLOOR: u64 = 256 * 1024;

struct Slot {
    doc: Automerge,
    snapshot_bytes: u64,
    incremental_bytes: u64,
    /// The highest chunk id this copy holds: chunks above it were written by another process.
    seen: i64,
    /// When it was last used (the store's use counter), for eviction.
    used: u64,
}

/// How much a store keeps loaded in memory: beyond either bound, the documents used least
/// recently are dropped (they reload from disk on next use). The cloud sets one: every
/// hall-day it receives would otherwise stay in memory for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimit {
    pub docs: usize,
    /// Bytes of the documents' chunks on disk (their memory is a multiple of it).
    pub bytes: u64,
}

/// Chunk sizes of one document, for compaction and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChunkBytes {
    pub snapshot: u64,
    pub incremental: u64,
    pub chunks: u64,
}

/// The document store of one node.
pub struct Store {
    conn: Connection,
    path: String,
    actor: ActorId,
    hlc: HlcStamp,
    docs: HashMap<DocId, Slot>,
    compact_floor: u64,
    compactions: u64,
    appended: u64,
    /// The temporary database's page limit before [`Store::simulate_full_disk`] lowered it.
    full_disk: Option<i64>,
    cache_limit: Option<CacheLimit>,
    /// Uses so far (each document access ticks it).
    uses: u64,
    evictions: u64,
    /// A write's batch is running: nothing may be evicted under it.
    in_batch: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).field("actor", &self.actor).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path, durability: Durability) -> Result<Store, StoreError> {
        let name = path.display().to_string();
        let conn = Connection::open(path)
            .map_err(|source| StoreError::Sql { path: name.clone(), source: Box::new(source) })?;
        Store::init(conn, name, durability)
    }

    /// A store in memory, for tests and tools.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory()
            .map_err(|source| StoreError::Sql { path: ":memory:".into(), source: Box::new(source) })?;
        Store::init(conn, ":memory:".into(), Durability::Normal)
    }

    fn init(conn: Connection, path: String, durability: Durability) -> Result<Store, StoreError> {
        let sql = |source| StoreError::Sql { path: path.clone(), source: Box::new(source) };
        let sync = match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.pragma_update(None, "journal_mode", "WAL").map_err(sql)?;
        conn.pragma_update(None, "synchronous", sync).map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(sql)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS chunks (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 doc TEXT NOT NULL,
                 kind INTEGER NOT NULL,
                 data BLOB NOT NULL);
             CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks (doc, id);
             CREATE TABLE IF NOT EXISTS sync_state (
                 peer TEXT NOT NULL,
                 doc TEXT NOT NULL,
                 state BLOB NOT NULL,
                 PRIMARY KEY (peer, doc));
             CREATE TABLE IF NOT EXISTS heads (doc TEXT PRIMARY KEY, heads BLOB NOT NULL);",
        )
        .map_err(sql)?;
        let get = |key: &str| -> Result<Option<Vec<u8>>, StoreError> {
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
                .map_err(sql)
        };
        match get("store_version")? {
            None => {
                conn.execute(
                    "INSERT INTO meta VALUES ('store_version', ?1)",
                    [STORE_VERSION.to_be_bytes().to_vec()],
                )
                .map_err(sql)?;
            }
            Some(v) => {
                let found = v.try_into().map(i64::from_be_bytes).unwrap_or(i64::MAX);
                if found > STORE_VERSION {
                    return Err(StoreError::NewerStore { found, supported: STORE_VERSION });
                }
            }
        }
        let actor = match get("actor")? {
            Some(bytes) => ActorId::from(bytes),
            None => {
                let mut bytes = [0u8; 16];
                getrandom::fill(&mut bytes).expect("the OS random source");
                conn.execute("INSERT INTO meta VALUES ('actor', ?1)", [bytes.to_vec()]).map_err(sql)?;
                ActorId::from(bytes)
            }
        };
        let hlc = get("hlc")?.and_then(|b| HlcStamp::from_bytes(&b)).unwrap_or_default();
        Ok(Store {
            conn,
            path,
            actor,
            hlc,
            docs: HashMap::new(),
            compact_floor: DEFAULT_COMPACT_FLOOR,
            compactions: 0,
            appended: 0,
            full_disk: None,
            cache_limit: None,
            uses: 0,
            evictions: 0,
            in_batch: false,
        })
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sql { path: self.path.clone(), source: Box::new(source) }
    }

    /// This node's Automerge actor.
    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    /// The last hybrid-logical-clock stamp written.
    pub fn last_stamp(&self) -> HlcStamp {
        self.hlc
    }

    /// The stamp a write at wall time `wall` would carry: never before the last one.
    pub fn next_stamp(&self, wall: Timestamp) -> HlcStamp {
        hlc::next_stamp(self.hlc, wall)
    }

    /// Sets the hybrid logical clock back to `to`: for campus IT, when a wall clock confirmed
    /// wrong pushed the stamps ahead (`onestop-edge clock --reset`), with the node stopped.
    /// Facts already written keep their stamps; new ones are ordered after `to`.
    pub fn reset_stamp(&mut self, to: Timestamp) -> Result<HlcStamp, StoreError> {
        let stamp = HlcStamp { physical: to.0, logical: 0 };
        self.conn
            .execute("INSERT OR REPLACE INTO meta VALUES ('hlc', ?1)", [stamp.to_bytes().to_vec()])
            .map_err(self.sql())?;
        let before = std::mem::replace(&mut self.hlc, stamp);
        Ok(before)
    }

    /// A value of the node's own bookkeeping (not replicated).
    pub fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [format!("x:{key}")], |r| r.get(0))
            .optional()
            .map_err(self.sql())
    }

    /// Stores a value of the node's own bookkeeping (not replicated).
    pub fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.conn
            .execute("INSERT OR REPLACE INTO meta VALUES (?1, ?2)", params![format!("x:{key}"), value])
            .map(|_| ())
            .map_err(self.sql())
    }

    /// Sets how many incremental bytes a document needs before it may be compacted.
    pub fn set_compact_floor(&mut self, bytes: u64) {
        self.compact_floor = bytes;
    }

    /// Bytes of incremental chunks appended since the store was opened.
    pub fn appended_bytes(&self) -> u64 {
        self.appended
    }

    /// How many compactions this store has run since it was opened.
    pub fn compactions(&self) -> u64 {
        self.compactions
    }

    fn slot(&mut self, id: &DocId) -> Result<&mut Slot, StoreError> {
        if !self.docs.contains_key(id) {
            let slot = self.load_slot(id)?;
            self.docs.insert(id.clone(), slot);
            self.trim(Some(id));
        }
        self.uses += 1;
        let uses = self.uses;
        let slot = self.docs.get_mut(id).expect("just inserted");
        slot.used = uses;
        Ok(slot)
    }

    /// SQLite's quick check of the whole file (pages, indexes, free lists; a second or so
    /// for a year of a hall): [`StoreError::Damaged`] with SQLite's first findings.
    pub fn check(&self) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare("PRAGMA quick_check(5)").map_err(self.sql())?;
        let found: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .map_err(self.sql())?
            .collect::<Result<_, _>>()
            .map_err(self.sql())?;
        if found.len() == 1 && found[0] == "ok" {
            return Ok(());
        }
        Err(StoreError::Damaged { path: self.path.clone(), detail: found.join("; ") })
    }

    /// Bounds what stays loaded (see [`CacheLimit`]); `None` keeps everything (a hall's node,
    /// whose documents are few).
    pub fn set_cache_limit(&mut self, limit: Option<CacheLimit>) {
        self.cache_limit = limit;
        self.trim(None);
    }

    /// Documents loaded in memory now, and how many were dropped for the cache limit.
    pub fn cache_figures(&self) -> (usize, u64) {
        (self.docs.len(), self.evictions)
    }

    /// Drops the least recently used documents beyond the cache limit, never `keep` and
    /// never while a write's batch runs.
    fn trim(&mut self, keep: Option<&DocId>) {
        let Some(limit) = self.cache_limit else { return };
        if self.in_batch {
            return;
        }
        let mut bytes: u64 = self.docs.values().map(|s| s.snapshot_bytes + s.incremental_bytes).sum();
        while self.docs.len() > limit.docs || bytes > limit.bytes {
            let victim = self
                .docs
                .iter()
                .filter(|(id, _)| Some(*id) != keep)
                .min_by_key(|(_, s)| s.used)
                .map(|(id, _)| id.clone());
            let Some(victim) = victim else { break };
            if let Some(slot) = self.docs.remove(&victim) {
                bytes -= slot.snapshot_bytes + slot.incremental_bytes;
                self.evictions += 1;
            }
        }
    }

    fn load_slot(&self, id: &DocId) -> Result<Slot, StoreError> {
        let name = id.to_string();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT kind, data, id FROM chunks WHERE doc = ?1 ORDER BY id")
            .map_err(self.sql())?;
        let rows = stmt
            .query_map([&name], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, i64>(2)?)))
            .map_err(self.sql())?;
        let (mut snapshot_bytes, mut incremental_bytes) = (0u64, 0u64);
        let mut bytes = Vec::new();
        let mut seen = 0;
        for row in rows {
            let (kind, data, id) = row.map_err(self.sql())?;
            seen = id;
            if kind == KIND_SNAPSHOT {
                snapshot_bytes += data.len() as u64;
            } else {
                incremental_bytes += data.len() as u64;
            }
            bytes.extend_from_slice(&data);
        }
        let doc = if bytes.is_empty() {
            Automerge::new()
        } else {
            Automerge::load(&bytes)
                .map_err(|source| StoreError::Corrupt { doc: name, source: Box::new(source) })?
        };
        Ok(Slot { doc: doc.with_actor(self.actor.clone()), snapshot_bytes, incremental_bytes, seen, used: 0 })
    }

    /// The document, loaded from disk on first use; `None` if the store has never held it.
    pub fn doc(&mut self, id: &DocId) -> Result<Option<&Automerge>, StoreError> {
        let slot = self.slot(id)?;
        Ok(if slot.doc.is_empty() { None } else { Some(&slot.doc) })
    }

    /// The document's heads, `None` if the store has never held it. A document not in
    /// memory is not loaded for this: its heads are kept beside its chunks (a store written
    /// before they were is loaded once and its heads kept from then on).
    pub fn heads(&mut self, id: &DocId) -> Result<Option<Vec<ChangeHash>>, StoreError> {
        if let Some(slot) = self.docs.get(id) {
            return Ok(if slot.doc.is_empty() { None } else { Some(slot.doc.get_heads()) });
        }
        let kept: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT heads FROM heads WHERE doc = ?1", [id.to_string()], |r| r.get(0))
            .optional()
            .map_err(self.sql())?;
        if let Some(h) = kept.as_deref().and_then(decode_heads) {
            return Ok(Some(h));
        }
        let heads = match self.doc(id)? {
            Some(doc) => doc.get_heads(),
            None => return Ok(None),
        };
        self.conn
            .execute(
                "INSERT OR REPLACE INTO heads (doc, heads) VALUES (?1, ?2)",
                params![id.to_string(), encode_heads(&heads)],
            )
            .map_err(self.sql())?;
        Ok(Some(heads))
    }

    /// A sync message that brings no changes (an answer, a request) changes only the sync
    /// state, but Automerge's receive takes the document mutably: this runs it on the held
    /// document itself, with no copy. Returns `false` when the store does not hold `id`.
    pub fn receive_without_changes(
        &mut self,
        id: &DocId,
        state: &mut automerge::sync::State,
        msg: automerge::sync::Message,
    ) -> Result<bool, StoreError> {
        use automerge::sync::SyncDoc;
        debug_assert!(msg.changes.is_empty());
        if !msg.changes.is_empty() {
            return Err(StoreError::rejected(format!("{id}: a message with changes must be written")));
        }
        let slot = self.slot(id)?;
        if slot.doc.is_empty() {
            return Ok(false);
        }
        let heads = slot.doc.get_heads();
        slot.doc
            .receive_sync_message(state, msg)
            .map_err(|e| StoreError::rejected(format!("{id}: the sync message does not apply: {e}")))?;
        debug_assert_eq!(heads, slot.doc.get_heads(), "a message without changes changed the document");
        Ok(true)
    }

    /// Every document the store holds on disk.
    pub fn list_docs(&self) -> Result<Vec<DocId>, StoreError> {
        self.doc_names("SELECT DISTINCT doc FROM chunks ORDER BY doc")
    }

    /// The documents held in more than one chunk on disk (not compacted since their last
    /// change).
    pub fn fragmented_docs(&self) -> Result<Vec<DocId>, StoreError> {
        self.doc_names("SELECT doc FROM chunks GROUP BY doc HAVING COUNT(*) > 1 ORDER BY doc")
    }

    /// The document ids a query's single column names (unreadable names skipped).
    fn doc_names(&self, query: &str) -> Result<Vec<DocId>, StoreError> {
        let mut stmt = self.conn.prepare(query).map_err(self.sql())?;
        let names: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .map_err(self.sql())?
            .collect::<Result<_, _>>()
            .map_err(self.sql())?;
        Ok(names.iter().filter_map(|n| n.parse().ok()).collect())
    }

    /// Chunk sizes on disk for one document.
    pub fn chunk_bytes(&self, id: &DocId) -> Result<ChunkBytes, StoreError> {
        self.conn
            .query_row(
                "SELECT COALESCE(SUM(CASE kind WHEN ?2 THEN length(data) END), 0),
                        COALESCE(SUM(CASE kind WHEN ?3 THEN length(data) END), 0),
                        COUNT(*)
                 FROM chunks WHERE doc = ?1",
                params![id.to_string(), KIND_SNAPSHOT, KIND_INCREMENTAL],
                |r| {
                    let n = |i| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
                    Ok(ChunkBytes { snapshot: n(0)?, incremental: n(1)?, chunks: n(2)? })
                },
            )
            .map_err(self.sql())
    }

    /// For tests of a full disk (the hall's and the cloud's): while `full`, every write to the
    /// store's tables fails with SQLite's own `SQLITE_FULL` ([`StoreFault::Full`]) inside its
    /// transaction, which SQLite and the store roll back as they would on a full disk; reads
    /// still work. `false` gives the space back. Only this store's connection is affected,
    /// and nothing of it is in the database file.
    ///
    /// How: temporary triggers (this connection's own) make every insert, update or delete
    /// first put 64 KiB into a temporary table whose database may not grow by a page
    /// (`PRAGMA temp.max_page_count`), so SQLite's pager refuses the page as it refuses one
    /// past the end of a full disk.
    #[doc(hidden)]
    pub fn simulate_full_disk(&mut self, full: bool) -> Result<(), StoreError> {
        const TABLES: [&str; 4] = ["chunks", "heads", "meta", "sync_state"];
        const OPS: [&str; 3] = ["INSERT", "UPDATE", "DELETE"];
        let path = self.path.clone();
        let sql = |source| StoreError::Sql { path: path.clone(), source: Box::new(source) };
        if full {
            if self.full_disk.is_some() {
                return Ok(());
            }
            let mut batch =
                String::from("CREATE TEMP TABLE IF NOT EXISTS onestop_full_disk (filler BLOB);\n");
            for table in TABLES {
                for op in OPS {
                    batch.push_str(&format!(
                        "CREATE TEMP TRIGGER IF NOT EXISTS onestop_full_disk_{table}_{op} BEFORE {op} ON main.{table}
                         BEGIN INSERT INTO onestop_full_disk VALUES (zeroblob(65536)); END;\n"
                    ));
                }
            }
            self.conn.execute_batch(&batch).map_err(sql)?;
            let limit: i64 =
                self.conn.query_row("PRAGMA temp.max_page_count", [], |r| r.get(0)).map_err(sql)?;
            let pages: i64 = self.conn.query_row("PRAGMA temp.page_count", [], |r| r.get(0)).map_err(sql)?;
            self.conn
                .query_row(&format!("PRAGMA temp.max_page_count = {pages}"), [], |_| Ok(()))
                .map_err(sql)?;
            self.full_disk = Some(limit);
        } else if let Some(limit) = self.full_disk.take() {
            self.conn
                .query_row(&format!("PRAGMA temp.max_page_count = {limit}"), [], |_| Ok(()))
                .map_err(sql)?;
            let mut batch = String::new();
            for table in TABLES {
                for op in OPS {
                    batch.push_str(&format!("DROP TRIGGER IF EXISTS temp.onestop_full_disk_{table}_{op};\n"));
                }
            }
            batch.push_str("DROP TABLE IF EXISTS temp.onestop_full_disk;\n");
            self.conn.execute_batch(&batch).map_err(sql)?;
        }
        Ok(())
    }

    /// Forgets every document held in memory (they reload from disk on next use).
    pub fn evict_all(&mut self) {
        self.docs.clear();
    }

    /// Whether the document is held in memory now.
    pub fn is_loaded(&self, id: &DocId) -> bool {
        self.docs.contains_key(id)
    }

    /// Forgets one document held in memory (it reloads from disk on next use): a reader that
    /// loaded an old document only to read it leaves the memory as it found it.
    pub fn evict(&mut self, id: &DocId) {
        self.docs.remove(id);
    }

    /// Runs `f` as one durable write carrying `stamp`: every document it changes gets one
    /// incremental chunk, stored with the clock in one SQLite transaction. If `f` fails or
    /// the disk refuses, nothing is stored and the touched documents reload from disk.
    pub fn write<R>(
        &mut self,
        stamp: HlcStamp,
        f: impl FnOnce(&mut Batch<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        if stamp <= self.hlc {
            return Err(StoreError::StampNotAfter { given: stamp, last: self.hlc });
        }
        self.in_batch = true;
        let mut batch = Batch {
            store: self,
            stamp,
            chunks: Vec::new(),
            snapshots: Vec::new(),
            touched: Vec::new(),
            saved_heads: Vec::new(),
        };
        let result = f(&mut batch);
        let Batch { chunks, snapshots, touched, saved_heads, .. } = batch;
        let out = self.finish_write(stamp, result, chunks, snapshots, touched, saved_heads);
        self.in_batch = false;
        self.trim(None);
        out
    }

    /// The rest of [`Store::write`], once the batch has run.
    fn finish_write<R>(
        &mut self,
        stamp: HlcStamp,
        result: Result<R, StoreError>,
        chunks: Vec<(DocId, Vec<u8>)>,
        snapshots: Vec<(DocId, Vec<u8>)>,
        touched: Vec<DocId>,
        saved_heads: Vec<(DocId, Vec<ChangeHash>)>,
    ) -> Result<R, StoreError> {
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                for id in &touched {
                    self.docs.remove(id);
                }
                return Err(e);
            }
        };
        // Each written document's heads, kept beside its chunks: a peer's hello lists every
        // document's heads, which then costs no loading.
        let heads: Vec<(DocId, Vec<ChangeHash>)> = chunks
            .iter()
            .chain(snapshots.iter())
            .map(|(id, _)| id)
            .filter_map(|id| {
                let h = match saved_heads.iter().find(|(d, _)| d == id) {
                    Some((_, h)) => h.clone(),
                    None => self.docs.get(id)?.doc.get_heads(),
                };
                Some((id.clone(), h))
            })
            .collect();
        if let Err(e) = self.commit(stamp, &chunks, &snapshots, &heads) {
            for id in &touched {
                self.docs.remove(id);
            }
            return Err(e);
        }
        self.hlc = stamp;
        for id in chunks.iter().map(|(d, _)| d).chain(snapshots.iter().map(|(d, _)| d)) {
            self.mark_seen(id);
        }
        for (id, bytes) in &snapshots {
            if let Some(slot) = self.docs.get_mut(id) {
                slot.snapshot_bytes = bytes.len() as u64;
                slot.incremental_bytes = 0;
            }
        }
        for (id, bytes) in &chunks {
            self.appended += bytes.len() as u64;
            if let Some(slot) = self.docs.get_mut(id) {
                slot.incremental_bytes += bytes.len() as u64;
            }
        }
        for (id, _) in &chunks {
            if let Err(error) = self.maybe_compact(id) {
                // The write is durable; a failed compaction only leaves more chunks to read.
                tracing::warn!(message = "Compaction failed.", doc = %id, %error);
            }
        }
        Ok(out)
    }

    fn commit(
        &mut self,
        stamp: HlcStamp,
        chunks: &[(DocId, Vec<u8>)],
        snapshots: &[(DocId, Vec<u8>)],
        heads: &[(DocId, Vec<ChangeHash>)],
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sql = |source| StoreError::Sql { path: path.clone(), source: Box::new(source) };
        let tx = self.conn.transaction().map_err(sql)?;
        {
            let mut insert =
                tx.prepare_cached("INSERT INTO chunks (doc, kind, data) VALUES (?1, ?2, ?3)").map_err(sql)?;
            for (id, bytes) in chunks {
                insert.execute(params![id.to_string(), KIND_INCREMENTAL, bytes]).map_err(sql)?;
            }
            for (id, bytes) in snapshots {
                let name = id.to_string();
                insert.execute(params![name, KIND_SNAPSHOT, bytes]).map_err(sql)?;
                let row = tx.last_insert_rowid();
                tx.execute("DELETE FROM chunks WHERE doc = ?1 AND id < ?2", params![name, row])
                    .map_err(sql)?;
            }
            let mut put_heads = tx
                .prepare_cached("INSERT OR REPLACE INTO heads (doc, heads) VALUES (?1, ?2)")
                .map_err(sql)?;
            for (id, h) in heads {
                put_heads.execute(params![id.to_string(), encode_heads(h)]).map_err(sql)?;
            }
            tx.prepare_cached("INSERT OR REPLACE INTO meta VALUES ('hlc', ?1)")
                .map_err(sql)?
                .execute([stamp.to_bytes().to_vec()])
                .map_err(sql)?;
        }
        tx.commit().map_err(sql)
    }

    fn maybe_compact(&mut self, id: &DocId) -> Result<(), StoreError> {
        let floor = self.compact_floor;
        let due = self
            .docs
            .get(id)
            .is_some_and(|s| s.incremental_bytes > s.snapshot_bytes && s.incremental_bytes >= floor);
        if due { self.compact(id) } else { Ok(()) }
    }

    /// Replaces a document's chunks by one snapshot, in one transaction.
    pub fn compact(&mut self, id: &DocId) -> Result<(), StoreError> {
        let name = id.to_string();
        let snapshot = {
            let slot = self.slot(id)?;
            if slot.doc.is_empty() {
                return Ok(());
            }
            slot.doc.save()
        };
        let path = self.path.clone();
        let sql = |source| StoreError::Sql { path: path.clone(), source: Box::new(source) };
        let tx = self.conn.transaction().map_err(sql)?;
        let covered: Option<i64> =
            tx.query_row("SELECT MAX(id) FROM chunks WHERE doc = ?1", [&name], |r| r.get(0)).map_err(sql)?;
        tx.execute(
            "INSERT INTO chunks (doc, kind, data) VALUES (?1, ?2, ?3)",
            params![name, KIND_SNAPSHOT, snapshot],
        )
        .map_err(sql)?;
        if let Some(max) = covered {
            tx.execute("DELETE FROM chunks WHERE doc = ?1 AND id <= ?2", params![name, max]).map_err(sql)?;
        }
        tx.commit().map_err(sql)?;
        self.mark_seen(id);
        let slot = self.docs.get_mut(id).expect("loaded above");
        slot.snapshot_bytes = snapshot.len() as u64;
        slot.incremental_bytes = 0;
        self.compactions += 1;
        Ok(())
    }

    /// Notes that the cached copy of `id` holds every chunk on disk now.
    fn mark_seen(&mut self, id: &DocId) {
        let max: Option<i64> = self
            .conn
            .query_row("SELECT MAX(id) FROM chunks WHERE doc = ?1", [id.to_string()], |r| r.get(0))
            .ok()
            .flatten();
        if let (Some(slot), Some(max)) = (self.docs.get_mut(id), max) {
            slot.seen = slot.seen.max(max);
        }
    }

    /// Takes in what other processes wrote to this store since the documents were loaded
    /// (another process's commands, for a link running beside them). Returns the documents
    /// that changed.
    pub fn refresh(&mut self) -> Result<Vec<DocId>, StoreError> {
        let latest: Vec<(String, i64)> = {
            let mut stmt =
                self.conn.prepare("SELECT doc, MAX(id) FROM chunks GROUP BY doc").map_err(self.sql())?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(self.sql())?
                .collect::<Result<_, _>>()
                .map_err(self.sql())?
        };
        let mut changed = Vec::new();
        for (name, max) in latest {
            let Ok(id) = name.parse::<DocId>() else { continue };
            let Some(seen) = self.docs.get(&id).map(|s| s.seen) else { continue };
            if max <= seen {
                continue;
            }
            let chunks: Vec<Vec<u8>> = {
                let mut stmt = self
                    .conn
                    .prepare_cached("SELECT data FROM chunks WHERE doc = ?1 AND id > ?2 ORDER BY id")
                    .map_err(self.sql())?;
                stmt.query_map(params![name, seen], |r| r.get(0))
                    .map_err(self.sql())?
                    .collect::<Result<_, _>>()
                    .map_err(self.sql())?
            };
            let slot = self.docs.get_mut(&id).expect("checked above");
            for bytes in &chunks {
                slot.doc
                    .load_incremental(bytes)
                    .map_err(|source| StoreError::Corrupt { doc: name.clone(), source: Box::new(source) })?;
            }
            slot.seen = max;
            changed.push(id);
        }
        Ok(changed)
    }

    /// Deletes a document, its chunks and its sync states, in one transaction.
    pub fn discard(&mut self, id: &DocId) -> Result<(), StoreError> {
        let name = id.to_string();
        let path = self.path.clone();
        let sql = |source| StoreError::Sql { path: path.clone(), source: Box::new(source) };
        let tx = self.conn.transaction().map_err(sql)?;
        tx.execute("DELETE FROM chunks WHERE doc = ?1", [&name]).map_err(sql)?;
        tx.execute("DELETE FROM sync_state WHERE doc = ?1", [&name]).map_err(sql)?;
        tx.execute("DELETE FROM heads WHERE doc = ?1", [&name]).map_err(sql)?;
        tx.commit().map_err(sql)?;
        self.docs.remove(id);
        Ok(())
    }

    /// The persisted sync state for `peer` and `doc`, if any.
    pub fn load_sync_state(&self, peer: &str, doc: &DocId) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn
            .query_row(
                "SELECT state FROM sync_state WHERE peer = ?1 AND doc = ?2",
                params![peer, doc.to_string()],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sql())
    }

    /// Persists the sync state for `peer` and `doc` (encoded with `automerge::sync::State::encode`).
    pub fn save_sync_state(&self, peer: &str, doc: &DocId, state: &[u8]) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO sync_state VALUES (?1, ?2, ?3)",
                params![peer, doc.to_string(), state],
            )
            .map(|_| ())
            .map_err(self.sql())
    }
}

/// The documents changed by one durable write.
pub struct Batch<'s> {
    store: &'s mut Store,
    stamp: HlcStamp,
    chunks: Vec<(DocId, Vec<u8>)>,
    snapshots: Vec<(DocId, Vec<u8>)>,
    touched: Vec<DocId>,
    /// Heads of documents stored as bytes without loading them.
    saved_heads: Vec<(DocId, Vec<ChangeHash>)>,
}

fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

fn decode_heads(bytes: &[u8]) -> Option<Vec<ChangeHash>> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    bytes.chunks(32).map(|c| ChangeHash::try_from(c).ok()).collect()
}

impl Batch<'_> {
    /// The clock stamp of this write: the time of the facts it records.
    pub fn stamp(&self) -> HlcStamp {
        self.stamp
    }

    /// Reads a document inside the write (`None` if it does not exist yet).
    pub fn doc(&mut self, id: &DocId) -> Result<Option<&Automerge>, StoreError> {
        self.store.doc(id)
    }

    /// Edits a document in one Automerge transaction (created if new). If `f` fails the
    /// transaction is rolled back.
    pub fn edit<R>(
        &mut self,
        id: &DocId,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.change(id, |doc| {
            let mut tx = doc.transaction();
            match f(&mut tx) {
                Ok(r) => {
                    // No commit time: the facts carry their own times, and a time per change
                    // costs about a byte each in the compacted document.
                    tx.commit();
                    Ok(r)
                }
                Err(e) => {
                    tx.rollback();
                    Err(e)
                }
            }
        })
    }

    /// Replaces a document by `doc`, which must hold everything the stored one holds (a fork
    /// of it with more changes). It is stored whole, as a snapshot replacing the old chunks:
    /// `saved` if given (`doc` already saved, which the caller vouches for), else `doc.save()`.
    pub fn adopt(&mut self, id: &DocId, doc: Automerge, saved: Option<Vec<u8>>) -> Result<(), StoreError> {
        if !self.touched.contains(id) {
            self.touched.push(id.clone());
        }
        let actor = self.store.actor.clone();
        let slot = self.store.slot(id)?;
        let missing = slot.doc.get_heads().iter().any(|h| doc.get_change_meta_by_hash(h).is_none());
        if missing {
            return Err(StoreError::rejected(format!(
                "{id}: the adopted document lacks changes the store holds"
            )));
        }
        slot.doc = doc.with_actor(actor);
        let bytes = saved.unwrap_or_else(|| slot.doc.save());
        self.chunks.retain(|(d, _)| d != id);
        self.snapshots.retain(|(d, _)| d != id);
        self.snapshots.push((id.clone(), bytes));
        Ok(())
    }

    /// Stores a document the store does not hold from its saved bytes, without loading it
    /// (a whole document arriving over sync): `heads` are its heads, read from its header by
    /// the caller. It loads from disk on first use.
    pub fn adopt_saved(
        &mut self,
        id: &DocId,
        bytes: Vec<u8>,
        heads: Vec<ChangeHash>,
    ) -> Result<(), StoreError> {
        if self.store.heads(id)?.is_some() {
            return Err(StoreError::rejected(format!(
                "{id}: a document the store holds cannot be adopted unread"
            )));
        }
        if !self.touched.contains(id) {
            self.touched.push(id.clone());
        }
        // Not in memory: the next reader loads what is on disk.
        self.store.docs.remove(id);
        self.chunks.retain(|(d, _)| d != id);
        self.snapshots.retain(|(d, _)| d != id);
        self.snapshots.push((id.clone(), bytes));
        self.saved_heads.retain(|(d, _)| d != id);
        self.saved_heads.push((id.clone(), heads));
        Ok(())
    }

    /// Changes a document by any means (e.g. applying a peer's sync message); whatever it
    /// adds becomes this write's chunk for the document.
    pub fn change<R>(
        &mut self,
        id: &DocId,
        f: impl FnOnce(&mut Automerge) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        if !self.touched.contains(id) {
            self.touched.push(id.clone());
        }
        let slot = self.store.slot(id)?;
        let heads = slot.doc.get_heads();
        let out = f(&mut slot.doc)?;
        let bytes = slot.doc.save_after(&heads);
        if !bytes.is_empty() {
            match self.chunks.iter_mut().find(|(d, _)| d == id) {
                Some((_, existing)) => existing.extend_from_slice(&bytes),
                None => self.chunks.push((id.clone(), bytes)),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
