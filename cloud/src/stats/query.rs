//! The questions the statistics pages ask of `stats.sqlite`.
//!
//! Grouped figures come from the daily rollups (one row per hall, day, dimension and key), so
//! a year of four busy halls reads tens of thousands of rows, not millions of tickets. Only a
//! filter the rollups do not hold (one staff member's own figures, for window staff) reads
//! the ticket facts, through the same [`Totals`]. Each hall's waits are judged against that
//! hall's own target.

use super::project::{ROLLUP_COLUMNS, totals_from_row};
use anyhow::Result;
use onestop_model::stats::{self, Dim, Outcome, SourceKind, TicketFacts, Totals};
use onestop_model::{
    Catalog, Day, HallId, Level, PersonKind, Priority, Rating, ServiceId, StaffId, Timestamp,
};
use rusqlite::{Connection, params};
use std::collections::{BTreeMap, BTreeSet};

/// Which tickets count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// `None`: every hall.
    pub halls: Option<BTreeSet<HallId>>,
    pub from: Day,
    pub to: Day,
    /// Only this staff member's tickets and attendance.
    pub staff: Option<StaffId>,
}

impl Filter {
    fn hall_ok(&self, h: &str) -> bool {
        self.halls.as_ref().is_none_or(|s| s.contains(&HallId::new(h)))
    }
}

/// What rows are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    Hall,
    Day,
    Hour,
    Window,
    Service,
    Department,
    Staff,
    College,
    Kind,
    Source,
}

impl Group {
    pub const ALL: [Group; 10] = [
        Group::Day,
        Group::Hall,
        Group::Window,
        Group::Service,
        Group::Department,
        Group::Staff,
        Group::Hour,
        Group::College,
        Group::Kind,
        Group::Source,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Hall => "hall",
            Group::Day => "day",
            Group::Hour => "hour",
            Group::Window => "window",
            Group::Service => "service",
            Group::Department => "department",
            Group::Staff => "staff",
            Group::College => "college",
            Group::Kind => "kind",
            Group::Source => "source",
        }
    }
    pub fn parse(s: &str) -> Option<Group> {
        Group::ALL.into_iter().find(|g| g.as_str() == s)
    }
    pub fn zh(self) -> &'static str {
        match self {
            Group::Hall => "大厅",
            Group::Day => "日期",
            Group::Hour => "时段",
            Group::Window => "窗口",
            Group::Service => "事项",
            Group::Department => "部门",
            Group::Staff => "工作人员",
            Group::College => "学院/部门（来源）",
            Group::Kind => "身份",
            Group::Source => "取号方式",
        }
    }
    pub fn en(self) -> &'static str {
        match self {
            Group::Hall => "Hall",
            Group::Day => "Day",
            Group::Hour => "Hour",
            Group::Window => "Window",
            Group::Service => "Service",
            Group::Department => "Department",
            Group::Staff => "Staff member",
            Group::College => "College (visitors)",
            Group::Kind => "Visitor kind",
            Group::Source => "Ticket source",
        }
    }
    /// The rollup dimension the group is read from.
    fn dim(self) -> Dim {
        match self {
            Group::Hall | Group::Day => Dim::All,
            Group::Hour => Dim::Hour,
            Group::Window => Dim::Window,
            Group::Service | Group::Department => Dim::Service,
            Group::Staff => Dim::Staff,
            Group::College => Dim::College,
            Group::Kind => Dim::Kind,
            Group::Source => Dim::Source,
        }
    }
    /// Rows in key order (times and numbers) rather than by volume.
    fn ordered(self) -> bool {
        matches!(self, Group::Day | Group::Hour | Group::Window)
    }
}

/// One row of a grouped table.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRow {
    /// The group's key ("" when the tickets have none, e.g. no staff yet).
    pub key: String,
    /// What the page shows for it (catalogue names, in both languages).
    pub zh: String,
    pub en: String,
    pub totals: Totals,
}

fn target(catalog: &Catalog, hall: &str) -> u32 {
    catalog.halls.get(&HallId::new(hall)).map_or(20, |h| h.rules.target_wait_minutes)
}

/// The group key of a rollup row (`hall`, `day`, its dimension's `key`).
fn group_key(group: Group, catalog: &Catalog, hall: &str, day: &str, key: &str) -> String {
    match group {
        Group::Hall => hall.to_string(),
        Group::Day => day.to_string(),
        Group::Window => format!("{hall}:{key}"),
        Group::Department => {
            catalog.services.get(&ServiceId::new(key)).map(|s| s.department.to_string()).unwrap_or_default()
        }
        _ => key.to_string(),
    }
}

fn label(group: Group, catalog: &Catalog, key: &str) -> (String, String) {
    let none = || ("（无）".to_string(), "(none)".to_string());
    if key.is_empty() {
        return none();
    }
    let both =
        |t: &onestop_model::Text| (t.zh.clone(), if t.en.is_empty() { t.zh.clone() } else { t.en.clone() });
    match group {
        Group::Hall => {
            catalog.halls.get(&HallId::new(key)).map_or((key.into(), key.into()), |h| both(&h.name))
        }
        Group::Service => {
            catalog.services.get(&ServiceId::new(key)).map_or((key.into(), key.into()), |s| both(&s.name))
        }
        Group::Department => catalog
            .departments
            .get(&onestop_model::DepartmentId::new(key))
            .map_or((key.into(), key.into()), |d| both(&d.name)),
        Group::Staff => catalog.staff.get(&StaffId::new(key)).map_or((key.into(), key.into()), |p| {
            (format!("{} ({key})", p.name), format!("{} ({key})", p.name))
        }),
        Group::Window => {
            let (hall, no) = key.split_once(':').unwrap_or(("", key));
            let hall_name = catalog.halls.get(&HallId::new(hall));
            let win = hall_name.and_then(|h| h.windows.iter().find(|w| w.number.to_string() == no));
            let hz = hall_name.map_or(hall.to_string(), |h| h.name.zh.clone());
            let he = hall_name.map_or(hall.to_string(), |h| {
                if h.name.en.is_empty() { h.name.zh.clone() } else { h.name.en.clone() }
            });
            match win.filter(|w| !w.name.zh.is_empty()) {
                Some(w) => (format!("{hz} {no}号 {}", w.name.zh), format!("{he} #{no} {}", w.name.en)),
                None => (format!("{hz} {no}号窗口"), format!("{he} window {no}")),
            }
        }
        Group::Hour => (format!("{key}:00–{key}:59"), format!("{key}:00–{key}:59")),
        Group::Kind => match PersonKind::parse(key) {
            Some(PersonKind::Undergraduate) => ("本科生".into(), "Undergraduate".into()),
            Some(PersonKind::Graduate) => ("研究生".into(), "Graduate".into()),
            Some(PersonKind::Staff) => ("教职工".into(), "Staff".into()),
            Some(PersonKind::Other) => ("其他".into(), "Other".into()),
            None => (key.into(), key.into()),
        },
        Group::Source => match SourceKind::parse(key) {
            Some(SourceKind::Card) => ("刷校园卡".into(), "Campus card".into()),
            Some(SourceKind::Booking) => ("预约".into(), "Booking".into()),
            Some(SourceKind::Anonymous) => ("现场取号".into(), "Walk-in".into()),
            None => (key.into(), key.into()),
        },
        Group::Day | Group::College => (key.into(), key.into()),
    }
}

fn finish(group: Group, catalog: &Catalog, acc: BTreeMap<String, Totals>) -> Vec<GroupRow> {
    let mut rows: Vec<GroupRow> = acc
        .into_iter()
        .map(|(key, totals)| {
            let (zh, en) = label(group, catalog, &key);
            GroupRow { key, zh, en, totals }
        })
        .collect();
    if !group.ordered() {
        rows.sort_by(|a, b| b.totals.issued.cmp(&a.totals.issued).then_with(|| a.key.cmp(&b.key)));
    }
    rows
}

/// Figures grouped by `group` over the tickets `filter` lets through.
pub fn grouped(conn: &Connection, filter: &Filter, group: Group, catalog: &Catalog) -> Result<Vec<GroupRow>> {
    // One staff member's figures: by day or hall from the staff rollup, else from the facts.
    let (dim, key) = match (&filter.staff, group) {
        (Some(s), Group::Day | Group::Hall) => (Dim::Staff, Some(s.to_string())),
        (Some(_), _) => return grouped_from_facts(conn, filter, group, catalog),
        (None, _) => (group.dim(), None),
    };
    let mut st = conn.prepare_cached(&format!(
        "SELECT hall, day, key, {ROLLUP_COLUMNS} FROM rollup WHERE dim = ?1 AND day BETWEEN ?2 AND ?3
         AND (?4 IS NULL OR key = ?4)"
    ))?;
    let mut rows = st.query(params![dim.as_str(), filter.from.to_string(), filter.to.to_string(), key])?;
    let mut acc: BTreeMap<String, Totals> = BTreeMap::new();
    while let Some(r) = rows.next()? {
        let hall: String = r.get(0)?;
        if !filter.hall_ok(&hall) {
            continue;
        }
        let day: String = r.get(1)?;
        let key: String = r.get(2)?;
        let t = totals_from_row(r, 3)?;
        acc.entry(group_key(group, catalog, &hall, &day, &key))
            .or_default()
            .merge_at_target(&t, target(catalog, &hall));
    }
    Ok(finish(group, catalog, acc))
}

/// The same figures from the ticket facts (a staff member's own): each hall-day's tickets are
/// summed, then merged as the rollups are.
pub fn grouped_from_facts(
    conn: &Connection,
    filter: &Filter,
    group: Group,
    catalog: &Catalog,
) -> Result<Vec<GroupRow>> {
    // A staff member's tickets through their index (the day index would read every hall's).
    let sql = if filter.staff.is_some() {
        format!(
            "SELECT hall, day, {TICKET_COLUMNS} FROM tickets INDEXED BY tickets_by_staff WHERE staff = ?3 AND day BETWEEN ?1 AND ?2"
        )
    } else {
        format!("SELECT hall, day, {TICKET_COLUMNS} FROM tickets WHERE day BETWEEN ?1 AND ?2")
    };
    let mut st = conn.prepare_cached(&sql)?;
    let from = filter.from.to_string();
    let to = filter.to.to_string();
    let staff = filter.staff.as_ref().map(|s| s.to_string()).unwrap_or_default();
    let mut rows = if filter.staff.is_some() {
        st.query(params![from, to, staff])?
    } else {
        st.query(params![from, to])?
    };
    let mut parts: BTreeMap<(String, String), Totals> = BTreeMap::new();
    let mut halls: BTreeMap<(String, String), String> = BTreeMap::new();
    while let Some(r) = rows.next()? {
        let hall: String = r.get(0)?;
        if !filter.hall_ok(&hall) {
            continue;
        }
        let day: String = r.get(1)?;
        let t = ticket_from_row(r, 2)?;
        let key = group_key(group, catalog, &hall, &day, &group.dim().key(&t));
        parts.entry((key.clone(), hall.clone())).or_default().add(&t);
        halls.insert((key, hall.clone()), hall);
    }
    let mut acc: BTreeMap<String, Totals> = BTreeMap::new();
    for ((key, hall), t) in parts {
        acc.entry(key).or_default().merge_at_target(&t, target(catalog, &hall));
    }
    Ok(finish(group, catalog, acc))
}

/// The ticket columns [`ticket_from_row`] reads, in order.
pub const TICKET_COLUMNS: &str = "ticket, service, priority, source, booking, visitor_kind, college, issued_ms, hour, \
     first_called_ms, started_ms, finished_ms, no_show_ms, window, staff, outcome, calls, transfers, rating, \
     attitude, efficiency, quality, rated_ms";

/// A ticket's facts from a row of [`TICKET_COLUMNS`] starting at column `f`.
pub fn ticket_from_row(r: &rusqlite::Row<'_>, f: usize) -> rusqlite::Result<TicketFacts> {
    let ts = |v: Option<i64>| v.map(Timestamp);
    let lv = |v: Option<i64>| v.and_then(Level::from_score);
    let level = lv(r.get(f + 18)?);
    Ok(TicketFacts {
        ticket: r.get::<_, String>(f)?.parse().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(f, rusqlite::types::Type::Text, Box::new(e))
        })?,
        service: ServiceId::new(r.get::<_, String>(f + 1)?),
        priority: Priority::parse(&r.get::<_, String>(f + 2)?).unwrap_or(Priority::Normal),
        source: SourceKind::parse(&r.get::<_, String>(f + 3)?).unwrap_or(SourceKind::Anonymous),
        booking: r.get::<_, Option<String>>(f + 4)?.map(onestop_model::BookingId::new),
        visitor_kind: r.get::<_, Option<String>>(f + 5)?.as_deref().and_then(PersonKind::parse),
        college: r.get(f + 6)?,
        issued_at: Timestamp(r.get(f + 7)?),
        hour: r.get(f + 8)?,
        first_called_at: ts(r.get(f + 9)?),
        started_at: ts(r.get(f + 10)?),
        finished_at: ts(r.get(f + 11)?),
        no_show_at: ts(r.get(f + 12)?),
        window: r.get(f + 13)?,
        staff: r.get::<_, Option<String>>(f + 14)?.map(StaffId::new),
        outcome: Outcome::parse(&r.get::<_, String>(f + 15)?).unwrap_or(Outcome::Waiting),
        calls: r.get(f + 16)?,
        transfers: r.get(f + 17)?,
        rating: level.map(|level| Rating {
            level,
            attitude: lv(r.get(f + 19).ok().flatten()),
            efficiency: lv(r.get(f + 20).ok().flatten()),
            quality: lv(r.get(f + 21).ok().flatten()),
        }),
        rated_at: ts(r.get(f + 22)?),
    })
}

/// The totals over everything `filter` lets through.
pub fn overall(conn: &Connection, filter: &Filter, catalog: &Catalog) -> Result<Totals> {
    let mut all = Totals::default();
    for r in grouped(conn, filter, Group::Hall, catalog)? {
        all.merge(&r.totals);
    }
    Ok(all)
}

/// One staff member's stretch at a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftRow {
    pub hall: String,
    pub day: String,
    pub window: u16,
    pub staff: String,
    pub checked_in: Timestamp,
    pub checked_out: Option<Timestamp>,
    /// Paused time within the shift (closed pauses).
    pub paused_ms: i64,
    pub pauses: u32,
}

/// Attendance: every shift in the filter's range, by day, hall and check-in.
pub fn shifts(conn: &Connection, filter: &Filter) -> Result<Vec<ShiftRow>> {
    let mut st = conn.prepare_cached(
        "SELECT s.hall, s.day, s.window, s.staff, s.checked_in_ms, s.checked_out_ms,
                COALESCE((SELECT SUM(p.resumed_ms - p.paused_ms) FROM pauses p WHERE p.hall = s.hall AND p.day = s.day
                  AND p.window = s.window AND p.paused_ms >= s.checked_in_ms
                  AND (s.checked_out_ms IS NULL OR p.paused_ms <= s.checked_out_ms) AND p.resumed_ms IS NOT NULL), 0),
                (SELECT COUNT(*) FROM pauses p WHERE p.hall = s.hall AND p.day = s.day
                  AND p.window = s.window AND p.paused_ms >= s.checked_in_ms
                  AND (s.checked_out_ms IS NULL OR p.paused_ms <= s.checked_out_ms))
         FROM shifts s WHERE s.day BETWEEN ?1 AND ?2 ORDER BY s.day, s.hall, s.checked_in_ms",
    )?;
    let rows = st
        .query_map(params![filter.from.to_string(), filter.to.to_string()], |r| {
            Ok(ShiftRow {
                hall: r.get(0)?,
                day: r.get(1)?,
                window: r.get(2)?,
                staff: r.get(3)?,
                checked_in: Timestamp(r.get(4)?),
                checked_out: r.get::<_, Option<i64>>(5)?.map(Timestamp),
                paused_ms: r.get(6)?,
                pauses: r.get(7)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows
        .into_iter()
        .filter(|s| filter.hall_ok(&s.hall) && filter.staff.as_ref().is_none_or(|f| f.as_str() == s.staff))
        .collect())
}

/// Pauses by reason: count and closed paused time.
pub fn pause_reasons(conn: &Connection, filter: &Filter) -> Result<Vec<(String, u64, i64)>> {
    let mut st = conn.prepare_cached(
        "SELECT hall, staff, reason, paused_ms, resumed_ms FROM pauses WHERE day BETWEEN ?1 AND ?2",
    )?;
    let mut rows = st.query(params![filter.from.to_string(), filter.to.to_string()])?;
    let mut acc: BTreeMap<String, (u64, i64)> = BTreeMap::new();
    while let Some(r) = rows.next()? {
        let hall: String = r.get(0)?;
        let staff: Option<String> = r.get(1)?;
        if !filter.hall_ok(&hall)
            || filter.staff.as_ref().is_some_and(|f| staff.as_deref() != Some(f.as_str()))
        {
            continue;
        }
        let p = stats::Pause {
            window: 0,
            staff: None,
            reason: r.get(2)?,
            paused_at: Timestamp(r.get(3)?),
            resumed_at: r.get::<_, Option<i64>>(4)?.map(Timestamp),
        };
        let e = acc.entry(p.reason.clone()).or_default();
        e.0 += 1;
        e.1 += p.paused_ms().unwrap_or(0);
    }
    let mut out: Vec<_> = acc.into_iter().map(|(k, (n, ms))| (k, n, ms)).collect();
    out.sort_by_key(|r| std::cmp::Reverse(r.1));
    Ok(out)
}

/// Bookings in the range: (booked, kept, missed, cancelled, still to come).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BookingFigures {
    pub booked: u64,
    pub kept: u64,
    pub missed: u64,
    pub cancelled: u64,
    pub pending: u64,
}

pub fn bookings(conn: &Connection, filter: &Filter, now: Timestamp) -> Result<BookingFigures> {
    let mut st = conn.prepare_cached(
        "SELECT b.hall, b.status, b.slot_end_ms,
                EXISTS (SELECT 1 FROM tickets t WHERE t.booking = b.booking AND t.hall = b.hall AND t.day = b.day)
         FROM bookings b WHERE b.day BETWEEN ?1 AND ?2",
    )?;
    let mut rows = st.query(params![filter.from.to_string(), filter.to.to_string()])?;
    let mut f = BookingFigures::default();
    while let Some(r) = rows.next()? {
        let hall: String = r.get(0)?;
        if !filter.hall_ok(&hall) {
            continue;
        }
        let status = super::project::booking_status(&r.get::<_, String>(1)?);
        let end = Timestamp(r.get(2)?);
        let kept: bool = r.get(3)?;
        let cancelled = status == onestop_model::BookingStatus::Cancelled;
        f.booked += 1;
        if kept {
            f.kept += 1;
        } else if cancelled {
            f.cancelled += 1;
        } else if stats::booking_missed(kept, cancelled, end, now) {
            f.missed += 1;
        } else {
            f.pending += 1;
        }
    }
    Ok(f)
}
