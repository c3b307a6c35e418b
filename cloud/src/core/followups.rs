//! 好差评 follow-ups: a rating of 不满意 or worse opens one (idempotent: one per hall, day and
//! ticket), due a number of working days later; staff record the call-back and its outcome.
//! Rows of `office.sqlite`.

use onestop_model::stats::plus_working_days;
use onestop_model::{Day, HallId, Level, ServiceId, StaffId, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

/// A rating of 不满意 or worse, found while projecting the statistics: it opens a follow-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRating {
    pub hall: HallId,
    pub day: Day,
    pub ticket: String,
    pub service: ServiceId,
    pub window: Option<u16>,
    pub staff: Option<StaffId>,
    pub level: Level,
    pub rated_at: Timestamp,
}

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS followups (
    id INTEGER PRIMARY KEY,
    hall TEXT NOT NULL,
    day TEXT NOT NULL,
    ticket TEXT NOT NULL,
    service TEXT NOT NULL,
    window INTEGER,
    staff TEXT,
    level INTEGER NOT NULL,
    rated_ms INTEGER NOT NULL,
    due TEXT NOT NULL,
    called_back_ms INTEGER,
    note TEXT NOT NULL DEFAULT '',
    outcome TEXT,
    closed_by TEXT,
    closed_ms INTEGER,
    UNIQUE (hall, day, ticket)
);
CREATE TABLE IF NOT EXISTS followup_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
";

/// Working days to a follow-up's deadline unless set.
pub const DEFAULT_WORKING_DAYS: u32 = 3;

/// How a follow-up ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowOutcome {
    Resolved,
    Unresolved,
    Unreachable,
}

impl FollowOutcome {
    pub const ALL: [FollowOutcome; 3] =
        [FollowOutcome::Resolved, FollowOutcome::Unresolved, FollowOutcome::Unreachable];
    pub fn as_str(self) -> &'static str {
        match self {
            FollowOutcome::Resolved => "resolved",
            FollowOutcome::Unresolved => "unresolved",
            FollowOutcome::Unreachable => "unreachable",
        }
    }
    pub fn parse(s: &str) -> Option<FollowOutcome> {
        FollowOutcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
    pub fn zh(self) -> &'static str {
        match self {
            FollowOutcome::Resolved => "已解决",
            FollowOutcome::Unresolved => "未解决",
            FollowOutcome::Unreachable => "联系不上",
        }
    }
    pub fn en(self) -> &'static str {
        match self {
            FollowOutcome::Resolved => "Resolved",
            FollowOutcome::Unresolved => "Unresolved",
            FollowOutcome::Unreachable => "Unreachable",
        }
    }
}

/// One follow-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUp {
    pub id: i64,
    pub hall: HallId,
    pub day: String,
    pub ticket: String,
    pub service: String,
    pub window: Option<u16>,
    pub staff: Option<String>,
    pub level: Level,
    pub rated: Timestamp,
    pub due: Day,
    pub called_back: Option<Timestamp>,
    pub note: String,
    pub outcome: Option<FollowOutcome>,
    pub closed_by: Option<String>,
}

impl FollowUp {
    /// Open and past its deadline day on `today`.
    pub fn overdue(&self, today: Day) -> bool {
        self.outcome.is_none() && today > self.due
    }
}

/// The deadline of a follow-up opened on `day`.
pub fn deadline(day: Day, working_days: u32) -> Day {
    plus_working_days(day, working_days)
}

/// The working days to a deadline (the setting, or the default).
pub fn working_days(db: &Connection) -> u32 {
    db.query_row("SELECT value FROM followup_settings WHERE key = 'working_days'", [], |r| {
        r.get::<_, String>(0)
    })
    .optional()
    .ok()
    .flatten()
    .and_then(|v| v.parse().ok())
    .unwrap_or(DEFAULT_WORKING_DAYS)
}

pub fn set_working_days(db: &Connection, n: u32) -> rusqlite::Result<()> {
    db.execute(
        "INSERT OR REPLACE INTO followup_settings (key, value) VALUES ('working_days', ?1)",
        [n.to_string()],
    )?;
    Ok(())
}

/// Opens a follow-up for each bad rating not followed up yet; returns how many were opened.
pub fn open_for(db: &Connection, ratings: &[BadRating]) -> rusqlite::Result<usize> {
    let n = working_days(db);
    let mut opened = 0;
    for r in ratings {
        opened += db.execute(
            "INSERT OR IGNORE INTO followups (hall, day, ticket, service, window, staff, level, rated_ms, due)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                r.hall.as_str(),
                r.day.to_string(),
                r.ticket,
                r.service.as_str(),
                r.window,
                r.staff.as_ref().map(|s| s.as_str()),
                r.level.score(),
                r.rated_at.0,
                deadline(r.day, n).to_string(),
            ],
        )?;
    }
    Ok(opened)
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FollowUp> {
    Ok(FollowUp {
        id: r.get(0)?,
        hall: HallId::new(r.get::<_, String>(1)?),
        day: r.get(2)?,
        ticket: r.get(3)?,
        service: r.get(4)?,
        window: r.get(5)?,
        staff: r.get(6)?,
        level: Level::from_score(r.get(7)?).unwrap_or(Level::Unsatisfied),
        rated: Timestamp(r.get(8)?),
        due: r.get::<_, String>(9)?.parse().unwrap_or(Day { year: 1970, month: 1, day: 1 }),
        called_back: r.get::<_, Option<i64>>(10)?.map(Timestamp),
        note: r.get(11)?,
        outcome: r.get::<_, Option<String>>(12)?.as_deref().and_then(FollowOutcome::parse),
        closed_by: r.get(13)?,
    })
}

const COLUMNS: &str = "id, hall, day, ticket, service, window, staff, level, rated_ms, due, called_back_ms, note, outcome, closed_by";

/// Every follow-up, open ones first by deadline, then closed ones, newest first (at most 500).
pub fn list(db: &Connection) -> rusqlite::Result<Vec<FollowUp>> {
    let mut st = db.prepare(&format!(
        "SELECT {COLUMNS} FROM followups ORDER BY outcome IS NOT NULL, CASE WHEN outcome IS NULL THEN due END,
         closed_ms DESC, id LIMIT 500"
    ))?;
    st.query_map([], row)?.collect()
}

pub fn get(db: &Connection, id: i64) -> rusqlite::Result<Option<FollowUp>> {
    db.query_row(&format!("SELECT {COLUMNS} FROM followups WHERE id = ?1"), [id], row).optional()
}

/// Records the call-back and the outcome; `None` keeps it open (a note only).
pub fn record(
    db: &Connection,
    id: i64,
    called_back: Timestamp,
    note: &str,
    outcome: Option<FollowOutcome>,
    by: &str,
    now: Timestamp,
) -> rusqlite::Result<bool> {
    Ok(db.execute(
        "UPDATE followups SET called_back_ms = ?2, note = ?3, outcome = ?4, closed_by = ?5, closed_ms = ?6
         WHERE id = ?1 AND outcome IS NULL",
        params![
            id,
            called_back.0,
            note,
            outcome.map(|o| o.as_str()),
            outcome.map(|_| by),
            outcome.map(|_| now.0)
        ],
    )? > 0)
}

/// The follow-ups with the deadline setting and the catalogue they are shown against.
pub fn overview(core: &super::Core) -> Result<(Vec<FollowUp>, u32, onestop_model::Catalog), super::Error> {
    let (all, n) = {
        let db = core.db();
        (list(&db)?, working_days(&db))
    };
    Ok((all, n, core.catalog()?))
}

/// A call-back as staff record it: when (the hall's local "YYYY-MM-DDTHH:MM"), a note, and
/// the outcome (`None` keeps the follow-up open).
#[derive(Debug, Clone)]
pub struct CallBack {
    pub id: i64,
    pub called_back: String,
    pub note: String,
    pub outcome: Option<FollowOutcome>,
}

/// What recording a call-back did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Recorded,
    /// Closed by someone else meanwhile, or no such follow-up.
    Gone,
}

/// Records a call-back by `by`, who may act for the halls `may_hall` allows.
pub fn record_call_back(
    core: &super::Core,
    input: &CallBack,
    by: &str,
    may_hall: impl Fn(&HallId) -> bool,
) -> Result<Recorded, super::Error> {
    use super::Error;
    if input.note.trim().chars().count() > 2000 {
        return Err(Error::Invalid("记录最多 2000 字 / a note is at most 2,000 characters".into()));
    }
    let catalog = core.catalog()?;
    let now = core.now();
    let db = core.db();
    let Some(f) = get(&db, input.id)? else { return Ok(Recorded::Gone) };
    if !may_hall(&f.hall) {
        return Err(Error::Forbidden);
    }
    let Some(at) = parse_local(&input.called_back, catalog.offset_of(&f.hall)) else {
        return Err(Error::Invalid("回访时间无效 / the call-back time is not a time".into()));
    };
    Ok(if record(&db, f.id, at, input.note.trim(), input.outcome, by, now)? {
        Recorded::Recorded
    } else {
        Recorded::Gone
    })
}

/// Sets the working days to a follow-up's deadline (administrators; 1 to 30).
pub fn set_deadline_days(core: &super::Core, admin: bool, n: u32) -> Result<(), super::Error> {
    if !admin {
        return Err(super::Error::Forbidden);
    }
    if !(1..=30).contains(&n) {
        return Err(super::Error::Invalid("工作日数须为 1 到 30 / working days: 1 to 30".into()));
    }
    Ok(set_working_days(&core.db(), n)?)
}

/// "2026-11-26T14:30" in the hall's local time.
pub fn parse_local(s: &str, offset: i32) -> Option<Timestamp> {
    let (d, hm) = s.trim().split_once('T')?;
    let day: Day = d.parse().ok()?;
    let (h, m) = hm.split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.get(..2)?.parse().ok()?);
    if !(0..24).contains(&h) || !(0..60).contains(&m) {
        return None;
    }
    Some(day.start(offset).plus_minutes(h * 60 + m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use onestop_model::ServiceId;

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(SCHEMA).unwrap();
        c
    }
    fn d(s: &str) -> Day {
        s.parse().unwrap()
    }
    fn bad(day: &str, ticket: &str) -> BadRating {
        BadRating {
            hall: HallId::new("main"),
            day: d(day),
            ticket: ticket.into(),
            service: ServiceId::new("cert"),
            window: Some(3),
            staff: None,
            level: Level::Unsatisfied,
            rated_at: d(day).start(480).plus_minutes(600),
        }
    }

    #[test]
    fn deadlines_count_working_days_over_weekends() {
        // Thursday + 3 working days: the next Tuesday.
        assert_eq!(deadline(d("2026-11-26"), 3), d("2026-12-01"));
        // Friday + 3: Wednesday.
        assert_eq!(deadline(d("2026-11-27"), 3), d("2026-12-02"));
        // A Saturday rating: Monday is the first working day.
        assert_eq!(deadline(d("2026-11-28"), 3), d("2026-12-02"));
        assert_eq!(deadline(d("2026-11-23"), 5), d("2026-11-30"));
    }

    #[test]
    fn opening_is_idempotent_and_the_setting_is_used() {
        let db = db();
        assert_eq!(working_days(&db), 3);
        assert_eq!(open_for(&db, &[bad("2026-11-26", "A001")]).unwrap(), 1);
        assert_eq!(open_for(&db, &[bad("2026-11-26", "A001")]).unwrap(), 0);
        set_working_days(&db, 1).unwrap();
        open_for(&db, &[bad("2026-11-27", "A002")]).unwrap();
        let all = list(&db).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].due, d("2026-11-30"));
        assert_eq!(all[1].due, d("2026-12-01"));
        assert!(all[0].overdue(d("2026-12-01")) && !all[0].overdue(d("2026-11-30")));
        let t = Timestamp(1);
        assert!(record(&db, all[0].id, t, "note", None, "wang", t).unwrap());
        assert!(get(&db, all[0].id).unwrap().unwrap().outcome.is_none());
        assert!(record(&db, all[0].id, t, "回电", Some(FollowOutcome::Resolved), "wang", t).unwrap());
        assert!(!record(&db, all[0].id, t, "again", Some(FollowOutcome::Unresolved), "wang", t).unwrap());
        let f = get(&db, all[0].id).unwrap().unwrap();
        assert_eq!(
            (f.outcome, f.note.as_str(), f.closed_by.as_deref()),
            (Some(FollowOutcome::Resolved), "回电", Some("wang"))
        );
        assert!(!f.overdue(d("2027-01-01")));
    }

    #[test]
    fn local_times_are_read_in_the_halls_offset() {
        let t = parse_local("2026-11-26T14:30", 480).unwrap();
        assert_eq!(t.local_hm(480), "14:30");
        assert_eq!(t.day(480), d("2026-11-26"));
        assert!(parse_local("2026-11-26 14:30", 480).is_none());
        assert!(parse_local("2026-11-26T25:00", 480).is_none());
    }
}
