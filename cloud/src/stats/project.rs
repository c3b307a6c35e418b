//! The projection of the synced documents into `stats.sqlite`'s query tables.
//!
//! - `tickets`: one fact row per ticket ([`TicketFacts`], plus the service's department as the
//!   catalogue had it); `shifts` and `pauses`: attendance; `bookings`: each booking's status.
//! - `rollup`: each hall-day's [`Totals`] under every [`Dim`] (hour, window, service, staff,
//!   college, visitor kind, source, and the whole day), with the wait histogram. The pages
//!   read these: a year of four busy halls is about 130,000 rollup rows against 7.3 million
//!   tickets.
//! - `cursors`: per document, how many events were projected and the document's chunk
//!   signature when it was last read (a document whose chunks did not change is not loaded).
//!
//! Incremental: a changed day document is read from its cursor on ([`day::read_from`]), its
//! facts are loaded from the tables, the new events folded in ([`DayFacts::apply`]), and the
//! changed rows, the day's rollup and the cursor written in one transaction. Folding on from a
//! cursor equals folding the whole day (property-tested in `onestop_model::stats` and here), so
//! deleting the file rebuilds the same tables from the documents.

pub use crate::core::followups::BadRating;
use anyhow::{Context, Result};
use onestop_model::stats::{self, DayFacts, Pause, Shift, TicketFacts, Totals};
use onestop_model::{BookingStatus, Catalog, HallId, Rating, StaffId, Timestamp};
use onestop_protocol::{DocId, day};
use onestop_store::{ReadDocs, Store};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Bumped when the tables change shape: an older file is rebuilt from the documents.
const VERSION: &str = "1";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (
    doc TEXT PRIMARY KEY,
    events INTEGER NOT NULL,
    chunks TEXT NOT NULL,
    origin_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tickets (
    hall TEXT NOT NULL,
    day TEXT NOT NULL,
    ticket TEXT NOT NULL,
    service TEXT NOT NULL,
    department TEXT NOT NULL,
    priority TEXT NOT NULL,
    source TEXT NOT NULL,
    booking TEXT,
    visitor_kind TEXT,
    college TEXT,
    issued_ms INTEGER NOT NULL,
    hour INTEGER NOT NULL,
    first_called_ms INTEGER,
    started_ms INTEGER,
    finished_ms INTEGER,
    no_show_ms INTEGER,
    window INTEGER,
    staff TEXT,
    outcome TEXT NOT NULL,
    calls INTEGER NOT NULL,
    transfers INTEGER NOT NULL,
    rating INTEGER,
    attitude INTEGER,
    efficiency INTEGER,
    quality INTEGER,
    rated_ms INTEGER,
    PRIMARY KEY (hall, day, ticket)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tickets_by_staff ON tickets (staff, day);
CREATE INDEX IF NOT EXISTS tickets_by_day ON tickets (day, hall);
CREATE INDEX IF NOT EXISTS tickets_by_booking ON tickets (booking) WHERE booking IS NOT NULL;
CREATE TABLE IF NOT EXISTS shifts (
    hall TEXT NOT NULL,
    day TEXT NOT NULL,
    seq INTEGER NOT NULL,
    window INTEGER NOT NULL,
    staff TEXT NOT NULL,
    checked_in_ms INTEGER NOT NULL,
    checked_out_ms INTEGER,
    PRIMARY KEY (hall, day, seq)
);
CREATE TABLE IF NOT EXISTS pauses (
    hall TEXT NOT NULL,
    day TEXT NOT NULL,
    seq INTEGER NOT NULL,
    window INTEGER NOT NULL,
    staff TEXT,
    reason TEXT NOT NULL,
    paused_ms INTEGER NOT NULL,
    resumed_ms INTEGER,
    PRIMARY KEY (hall, day, seq)
);
CREATE INDEX IF NOT EXISTS shifts_by_day ON shifts (day, hall);
CREATE INDEX IF NOT EXISTS pauses_by_day ON pauses (day, hall);
CREATE TABLE IF NOT EXISTS bookings (
    hall TEXT NOT NULL,
    day TEXT NOT NULL,
    booking TEXT NOT NULL,
    service TEXT NOT NULL,
    slot_start_ms INTEGER NOT NULL,
    slot_end_ms INTEGER NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (hall, day, booking)
);
CREATE INDEX IF NOT EXISTS bookings_by_day ON bookings (day, hall);
CREATE TABLE IF NOT EXISTS rollup (
    dim TEXT NOT NULL,
    day TEXT NOT NULL,
    hall TEXT NOT NULL,
    key TEXT NOT NULL,
    issued INTEGER NOT NULL,
    called INTEGER NOT NULL,
    wait_sum_ms INTEGER NOT NULL,
    handled INTEGER NOT NULL,
    handling_sum_ms INTEGER NOT NULL,
    served INTEGER NOT NULL,
    stay_sum_ms INTEGER NOT NULL,
    no_shows INTEGER NOT NULL,
    rated INTEGER NOT NULL,
    l1 INTEGER NOT NULL, l2 INTEGER NOT NULL, l3 INTEGER NOT NULL, l4 INTEGER NOT NULL, l5 INTEGER NOT NULL,
    att_sum INTEGER NOT NULL, att_n INTEGER NOT NULL,
    eff_sum INTEGER NOT NULL, eff_n INTEGER NOT NULL,
    qual_sum INTEGER NOT NULL, qual_n INTEGER NOT NULL,
    waits TEXT NOT NULL,
    PRIMARY KEY (dim, day, hall, key)
) WITHOUT ROWID;
";

/// `stats.sqlite` in a cloud's data directory.
pub fn stats_path(data: &Path) -> PathBuf {
    data.join("stats.sqlite")
}

/// What one pass of the projector did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projected {
    pub docs: usize,
    pub events: usize,
    pub bad_ratings: Vec<BadRating>,
}

impl Projected {
    fn add(&mut self, other: Projected) {
        self.docs += other.docs;
        self.events += other.events;
        self.bad_ratings.extend(other.bad_ratings);
    }
}

/// The projection's database.
pub struct Projection {
    pub conn: Connection,
}

fn setup(conn: Connection) -> Result<Connection> {
    conn.pragma_update(None, "journal_mode", "WAL").ok();
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);")?;
    let version: Option<String> =
        conn.query_row("SELECT value FROM meta WHERE key = 'version'", [], |r| r.get(0)).optional()?;
    if version.as_deref() != Some(VERSION) {
        // Another shape (or new): start again; the documents rebuild it.
        conn.execute_batch(
            "DROP TABLE IF EXISTS cursors; DROP TABLE IF EXISTS tickets; DROP TABLE IF EXISTS shifts;
             DROP TABLE IF EXISTS pauses; DROP TABLE IF EXISTS bookings; DROP TABLE IF EXISTS rollup;",
        )?;
    }
    conn.execute_batch(SCHEMA).context("cannot set up the statistics database")?;
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('version', ?1)", [VERSION])?;
    Ok(conn)
}

/// Opens a read-only-minded connection to `stats.sqlite` for the pages.
pub fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

fn opt_ms(t: Option<Timestamp>) -> Option<i64> {
    t.map(|t| t.0)
}

/// The totals of one rollup row.
pub fn totals_from_row(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Totals> {
    let n = |i: usize| r.get::<_, i64>(first + i).map(|v| v.max(0) as u64);
    Ok(Totals {
        issued: n(0)?,
        called: n(1)?,
        wait_sum_ms: r.get(first + 2)?,
        handled: n(3)?,
        handling_sum_ms: r.get(first + 4)?,
        served: n(5)?,
        stay_sum_ms: r.get(first + 6)?,
        no_shows: n(7)?,
        rated: n(8)?,
        levels: [n(9)?, n(10)?, n(11)?, n(12)?, n(13)?],
        dim_sum: [n(14)?, n(16)?, n(18)?],
        dim_n: [n(15)?, n(17)?, n(19)?],
        waits: stats::WaitHistogram::from_text(&r.get::<_, String>(first + 20)?),
        within_target: 0,
    })
}

/// The rollup columns after `dim, day, hall, key`, in [`totals_from_row`]'s order.
pub const ROLLUP_COLUMNS: &str = "issued, called, wait_sum_ms, handled, handling_sum_ms, served, stay_sum_ms, \
     no_shows, rated, l1, l2, l3, l4, l5, att_sum, att_n, eff_sum, eff_n, qual_sum, qual_n, waits";

impl Projection {
    pub fn open(path: &Path) -> Result<Projection> {
        let conn = Connection::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Projection { conn: setup(conn)? })
    }

    pub fn open_in_memory() -> Result<Projection> {
        Ok(Projection { conn: setup(Connection::open_in_memory()?)? })
    }

    /// Forgets everything projected (the next pass rebuilds from the documents).
    pub fn clear(&mut self) -> Result<()> {
        self.conn.execute_batch(
            "DELETE FROM cursors; DELETE FROM tickets; DELETE FROM shifts; DELETE FROM pauses;
             DELETE FROM bookings; DELETE FROM rollup;",
        )?;
        Ok(())
    }

    /// Projects every document whose chunks changed since it was last read.
    pub fn catch_up(&mut self, store: &Mutex<Store>, catalog: &Catalog) -> Result<Projected> {
        let ids = lock(store).list_docs()?;
        let mut out = Projected::default();
        for id in ids {
            if matches!(id, DocId::Day { .. } | DocId::Bookings { .. }) {
                out.add(self.project(store, &id, catalog)?);
            }
        }
        Ok(out)
    }

    /// Projects one document's changes (day and bookings documents; others are ignored).
    /// The store is locked only to read the document's new part.
    pub fn project(&mut self, store: &Mutex<Store>, id: &DocId, catalog: &Catalog) -> Result<Projected> {
        let name = id.to_string();
        let cursor: Option<(usize, String)> = self
            .conn
            .query_row("SELECT events, chunks FROM cursors WHERE doc = ?1", [&name], |r| {
                Ok((r.get::<_, i64>(0)?.max(0) as usize, r.get(1)?))
            })
            .optional()?;
        let (start, seen) = cursor.unwrap_or((0, String::new()));
        match id {
            DocId::Day { hall, day } => {
                let Some((tail, chunks)) =
                    read_doc(store, id, &seen, |s| Ok(s.day_tail(hall, *day, start)?))?
                else {
                    return Ok(Projected::default());
                };
                self.apply_day(&name, tail, &chunks, catalog)
            }
            DocId::Bookings { hall, day } => {
                let Some((list, chunks)) = read_doc(store, id, &seen, |s| {
                    Ok(if s.doc(id)?.is_some() { Some(s.bookings(hall, *day)?) } else { None })
                })?
                else {
                    return Ok(Projected::default());
                };
                let tx = self.conn.transaction()?;
                tx.execute(
                    "DELETE FROM bookings WHERE hall = ?1 AND day = ?2",
                    params![hall.as_str(), day.to_string()],
                )?;
                for b in &list {
                    tx.execute(
                        "INSERT OR REPLACE INTO bookings (hall, day, booking, service, slot_start_ms, slot_end_ms, status)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![
                            hall.as_str(),
                            day.to_string(),
                            b.id.as_str(),
                            b.service.as_str(),
                            b.slot_start.0,
                            b.slot_end.0,
                            b.status().as_str()
                        ],
                    )?;
                }
                tx.execute(
                    "INSERT OR REPLACE INTO cursors (doc, events, chunks, origin_ms) VALUES (?1, ?2, ?3, 0)",
                    params![name, list.len() as i64, chunks],
                )?;
                tx.commit()?;
                Ok(Projected { docs: 1, events: list.len(), bad_ratings: Vec::new() })
            }
            _ => Ok(Projected::default()),
        }
    }

    /// Folds `tail` into the day's stored facts and writes them back, in one transaction.
    pub fn apply_day(
        &mut self,
        name: &str,
        tail: day::DayTail,
        chunks: &str,
        catalog: &Catalog,
    ) -> Result<Projected> {
        let hall = tail.hall.clone();
        let d = tail.day.to_string();
        let tx = self.conn.transaction()?;
        let mut facts = load_day(&tx, &hall, &d, tail.origin)?;
        let before: Vec<Option<Rating>> = facts.tickets.iter().map(|t| t.rating).collect();
        for e in &tail.events {
            facts.apply(e);
        }
        let changed = facts.take_changed();
        let mut bad = Vec::new();
        put_tickets(&tx, &hall, &d, changed.iter().map(|i| &facts.tickets[*i]), catalog)?;
        for i in &changed {
            let t = &facts.tickets[*i];
            let was = before.get(*i).copied().flatten();
            // A rating that newly needs a follow-up (a ticket finished and rated again after a
            // reactivation can be rated twice; opening is idempotent anyway).
            if let Some(rating) = t.rating
                && stats::needs_follow_up(rating.level)
                && !was.is_some_and(|w| stats::needs_follow_up(w.level))
            {
                bad.push(BadRating {
                    hall: hall.clone(),
                    day: tail.day,
                    ticket: t.ticket.to_string(),
                    service: t.service.clone(),
                    window: t.window,
                    staff: t.staff.clone(),
                    level: rating.level,
                    rated_at: t.rated_at.unwrap_or(t.issued_at),
                });
            }
        }
        write_attendance(&tx, &hall, &d, &facts.shifts, &facts.pauses)?;
        write_rollup(&tx, &hall, &d, &facts.tickets)?;
        let len = tail.start + tail.events.len();
        tx.execute(
            "INSERT OR REPLACE INTO cursors (doc, events, chunks, origin_ms) VALUES (?1, ?2, ?3, ?4)",
            params![name, len as i64, chunks, tail.origin.0],
        )?;
        tx.commit()?;
        if facts.skipped > 0 {
            tracing::warn!(
                message = "Statistics skipped events of unknown tickets.",
                doc = name,
                skipped = facts.skipped
            );
        }
        Ok(Projected { docs: 1, events: tail.events.len(), bad_ratings: bad })
    }
}

fn lock(store: &Mutex<Store>) -> std::sync::MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads a document under the store's lock, unless its chunks are as `seen`; a document that
/// was not in memory is evicted again afterwards.
fn read_doc<T>(
    store: &Mutex<Store>,
    id: &DocId,
    seen: &str,
    read: impl FnOnce(&mut Store) -> Result<Option<T>>,
) -> Result<Option<(T, String)>> {
    let mut store = lock(store);
    let c = store.chunk_bytes(id)?;
    let chunks = format!("{}/{}/{}", c.chunks, c.snapshot, c.incremental);
    if chunks == seen || c.chunks == 0 {
        return Ok(None);
    }
    let loaded = store.is_loaded(id);
    let out = read(&mut store).with_context(|| format!("cannot read {id}"));
    if !loaded {
        store.evict(id);
    }
    Ok(out?.map(|o| (o, chunks)))
}

/// The stored facts of one hall-day: where folding goes on from.
fn load_day(tx: &Transaction<'_>, hall: &HallId, day: &str, origin: Timestamp) -> Result<DayFacts> {
    let mut st = tx.prepare_cached(&format!(
        "SELECT {} FROM tickets WHERE hall = ?1 AND day = ?2 ORDER BY issued_ms, ticket",
        super::query::TICKET_COLUMNS
    ))?;
    let tickets: Vec<TicketFacts> = st
        .query_map(params![hall.as_str(), day], |r| super::query::ticket_from_row(r, 0))?
        .collect::<Result<_, _>>()?;
    let ts = |v: Option<i64>| v.map(Timestamp);
    let mut st = tx.prepare_cached(
        "SELECT window, staff, checked_in_ms, checked_out_ms FROM shifts WHERE hall = ?1 AND day = ?2 ORDER BY seq",
    )?;
    let shifts = st
        .query_map(params![hall.as_str(), day], |r| {
            Ok(Shift {
                window: r.get(0)?,
                staff: StaffId::new(r.get::<_, String>(1)?),
                checked_in: Timestamp(r.get(2)?),
                checked_out: ts(r.get(3)?),
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut st = tx.prepare_cached(
        "SELECT window, staff, reason, paused_ms, resumed_ms FROM pauses WHERE hall = ?1 AND day = ?2 ORDER BY seq",
    )?;
    let pauses = st
        .query_map(params![hall.as_str(), day], |r| {
            Ok(Pause {
                window: r.get(0)?,
                staff: r.get::<_, Option<String>>(1)?.map(StaffId::new),
                reason: r.get(2)?,
                paused_at: Timestamp(r.get(3)?),
                resumed_at: ts(r.get(4)?),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(DayFacts::from_parts(origin, tickets, shifts, pauses))
}

/// Writes (inserts or replaces) ticket fact rows of one hall-day; the department is the
/// service's in `catalog`.
pub fn put_tickets<'a>(
    tx: &Connection,
    hall: &HallId,
    day: &str,
    tickets: impl Iterator<Item = &'a TicketFacts>,
    catalog: &Catalog,
) -> Result<()> {
    let mut put = tx.prepare_cached(
        "INSERT OR REPLACE INTO tickets (hall, day, ticket, service, department, priority, source, booking,
         visitor_kind, college, issued_ms, hour, first_called_ms, started_ms, finished_ms, no_show_ms,
         window, staff, outcome, calls, transfers, rating, attitude, efficiency, quality, rated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
         ?21, ?22, ?23, ?24, ?25, ?26)",
    )?;
    for t in tickets {
        let department =
            catalog.services.get(&t.service).map(|s| s.department.to_string()).unwrap_or_default();
        let r = t.rating.as_ref();
        put.execute(params![
            hall.as_str(),
            day,
            t.ticket.to_string(),
            t.service.as_str(),
            department,
            t.priority.as_str(),
            t.source.as_str(),
            t.booking.as_ref().map(|b| b.as_str()),
            t.visitor_kind.map(|k| k.as_str()),
            t.college,
            t.issued_at.0,
            t.hour,
            opt_ms(t.first_called_at),
            opt_ms(t.started_at),
            opt_ms(t.finished_at),
            opt_ms(t.no_show_at),
            t.window,
            t.staff.as_ref().map(|s| s.as_str()),
            t.outcome.as_str(),
            t.calls,
            t.transfers,
            r.map(|r| r.level.score()),
            r.and_then(|r| r.attitude).map(|l| l.score()),
            r.and_then(|r| r.efficiency).map(|l| l.score()),
            r.and_then(|r| r.quality).map(|l| l.score()),
            opt_ms(t.rated_at),
        ])?;
    }
    Ok(())
}

/// Replaces a hall-day's shifts and pauses.
pub fn write_attendance(
    tx: &Connection,
    hall: &HallId,
    day: &str,
    shifts: &[Shift],
    pauses: &[Pause],
) -> Result<()> {
    tx.execute("DELETE FROM shifts WHERE hall = ?1 AND day = ?2", params![hall.as_str(), day])?;
    tx.execute("DELETE FROM pauses WHERE hall = ?1 AND day = ?2", params![hall.as_str(), day])?;
    let mut put = tx.prepare_cached(
        "INSERT INTO shifts (hall, day, seq, window, staff, checked_in_ms, checked_out_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (i, s) in shifts.iter().enumerate() {
        put.execute(params![
            hall.as_str(),
            day,
            i as i64,
            s.window,
            s.staff.as_str(),
            s.checked_in.0,
            opt_ms(s.checked_out)
        ])?;
    }
    let mut put = tx.prepare_cached(
        "INSERT INTO pauses (hall, day, seq, window, staff, reason, paused_ms, resumed_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for (i, p) in pauses.iter().enumerate() {
        put.execute(params![
            hall.as_str(),
            day,
            i as i64,
            p.window,
            p.staff.as_ref().map(|s| s.as_str()),
            p.reason,
            p.paused_at.0,
            opt_ms(p.resumed_at)
        ])?;
    }
    Ok(())
}

/// Replaces a hall-day's rollup rows with the totals of its tickets.
pub fn write_rollup(tx: &Connection, hall: &HallId, day: &str, tickets: &[TicketFacts]) -> Result<()> {
    tx.execute("DELETE FROM rollup WHERE day = ?1 AND hall = ?2", params![day, hall.as_str()])?;
    let mut put = tx.prepare_cached(&format!(
        "INSERT INTO rollup (dim, day, hall, key, {ROLLUP_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
         ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)"
    ))?;
    for ((dim, key), t) in stats::rollup(tickets) {
        let l = |i: usize| t.levels[i] as i64;
        let s = |v: u64| v as i64;
        put.execute(params![
            dim.as_str(),
            day,
            hall.as_str(),
            key,
            s(t.issued),
            s(t.called),
            t.wait_sum_ms,
            s(t.handled),
            t.handling_sum_ms,
            s(t.served),
            t.stay_sum_ms,
            s(t.no_shows),
            s(t.rated),
            l(0),
            l(1),
            l(2),
            l(3),
            l(4),
            s(t.dim_sum[0]),
            s(t.dim_n[0]),
            s(t.dim_sum[1]),
            s(t.dim_n[1]),
            s(t.dim_sum[2]),
            s(t.dim_n[2]),
            t.waits.to_text(),
        ])?;
    }
    Ok(())
}

/// The status of a booking as stored.
pub fn booking_status(s: &str) -> BookingStatus {
    BookingStatus::parse(s).unwrap_or(BookingStatus::Booked)
}

/// Reads the published catalogue (empty before the first publication).
pub fn read_catalog(store: &Mutex<Store>) -> Catalog {
    lock(store).catalog().ok().flatten().unwrap_or_default()
}
