//! 好差评 follow-ups (`/office/followups`): every rating of 不满意 or worse opens a follow-up
//! with a deadline some working days later (Monday to Friday; 3 unless an administrator sets
//! another number on the page). Staff record the call-back (when, a note) and the outcome:
//! resolved, unresolved or unreachable, which closes it.
//!
//! Follow-ups are opened by the statistics projector as it reads the ratings from the halls'
//! day documents ([`open_for`], idempotent on hall, day and ticket: a rebuild opens nothing
//! twice). Hall managers see and work on their halls' follow-ups only.

use super::auth::{Area, OfficeForm, Officer, Role};
use super::shell::{flash, office_page};
use crate::stats::project::BadRating;
use crate::web::{WebState, now, problem};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use onestop_model::stats::plus_working_days;
use onestop_model::{Day, HallId, Level, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

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

// ----- Pages -----

#[derive(serde::Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    done: Option<String>,
}

/// The hall's local offset (China's unless the catalogue says).
fn offset_of(catalog: &onestop_model::Catalog, hall: &HallId) -> i32 {
    catalog.halls.get(hall).map_or(480, |h| h.utc_offset_minutes)
}

/// `/office/followups`: open (overdue first marked), then closed.
pub async fn page(State(web): State<WebState>, o: Officer, Query(q): Query<ListQuery>) -> Response {
    if let Err(r) = o.require(Area::FollowUps) {
        return r;
    }
    let lang = o.lang;
    let backend = web.backend.clone();
    let read = tokio::task::spawn_blocking(move || {
        let db = backend.db();
        let all = list(&db)?;
        let n = working_days(&db);
        drop(db);
        let catalog = backend.catalog().unwrap_or_default();
        Ok::<_, rusqlite::Error>((all, n, catalog))
    })
    .await;
    let Ok(Ok((all, n, catalog))) = read else {
        return problem(
            lang,
            StatusCode::INTERNAL_SERVER_ERROR,
            "无法读取回访记录。",
            "Cannot read the follow-ups.",
        );
    };
    let mine: Vec<FollowUp> = all.into_iter().filter(|f| o.may_hall(&f.hall)).collect();
    let t = now();
    let (open, closed): (Vec<&FollowUp>, Vec<&FollowUp>) = mine.iter().partition(|f| f.outcome.is_none());
    let level = |l: Level| lang.t(l.zh(), l.en());
    let body = html! {
        @if let Some(d) = &q.done {
            @match d.as_str() {
                "recorded" => (flash(lang, true, "回访已记录。", "The call-back was recorded.")),
                "settings" => (flash(lang, true, "期限已更新。", "The deadline was updated.")),
                _ => (flash(lang, false, "该回访已结束或不存在。", "This follow-up is closed or does not exist.")),
            }
        }
        p { (lang.t(
            &format!("评价为“不满意”或“非常不满意”的办件，须在 {n} 个工作日内回访。"),
            &format!("Every rating of Unsatisfied or worse is followed up within {n} working days."),
        )) }
        h2 { (lang.t("待回访", "Open")) " (" (open.len()) ")" }
        @if open.is_empty() {
            p { (lang.t("没有待回访的评价。", "No open follow-ups.")) }
        } @else {
            table.followups {
                thead { tr {
                    th { (lang.t("大厅", "Hall")) } th { (lang.t("日期", "Day")) } th { (lang.t("号码", "Ticket")) }
                    th { (lang.t("窗口", "Window")) } th { (lang.t("工作人员", "Staff")) } th { (lang.t("评价", "Rating")) }
                    th { (lang.t("期限", "Due")) } th { (lang.t("回访", "Call-back")) }
                } }
                tbody {
                    @for f in &open {
                        @let off = offset_of(&catalog, &f.hall);
                        @let late = f.overdue(t.day(off));
                        tr.overdue[late] id=(format!("followup-{}", f.id)) {
                            td { (f.hall) } td { (f.day) } td { (f.ticket) }
                            td { (f.window.map(|w| w.to_string()).unwrap_or_default()) }
                            td { (f.staff.clone().unwrap_or_default()) }
                            td { (level(f.level)) }
                            td { (f.due) @if late { " " strong.error { (lang.t("已逾期", "overdue")) } } }
                            td {
                                form.stack method="post" action="/office/followups/record" {
                                    (o.csrf_field())
                                    input type="hidden" name="id" value=(f.id);
                                    label { (lang.t("回访时间", "Called back at"))
                                        input type="datetime-local" name="called_back" required; }
                                    label { (lang.t("回访记录", "Note"))
                                        textarea name="note" maxlength="2000" { (f.note) } }
                                    label { (lang.t("结果", "Outcome"))
                                        select name="outcome" {
                                            option value="" { (lang.one("暂存（不结束）", "Save (keep open)")) }
                                            @for oc in FollowOutcome::ALL {
                                                option value=(oc.as_str()) { (lang.one(oc.zh(), oc.en())) }
                                            }
                                        }
                                    }
                                    button type="submit" { (lang.t("保存", "Save")) }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { (lang.t("已结束", "Closed")) " (" (closed.len()) ")" }
        @if !closed.is_empty() {
            table.followups-closed {
                thead { tr {
                    th { (lang.t("大厅", "Hall")) } th { (lang.t("日期", "Day")) } th { (lang.t("号码", "Ticket")) }
                    th { (lang.t("评价", "Rating")) } th { (lang.t("回访时间", "Called back")) }
                    th { (lang.t("记录", "Note")) } th { (lang.t("结果", "Outcome")) } th { (lang.t("经办", "By")) }
                } }
                tbody {
                    @for f in &closed {
                        @let off = offset_of(&catalog, &f.hall);
                        tr {
                            td { (f.hall) } td { (f.day) } td { (f.ticket) } td { (level(f.level)) }
                            td { (f.called_back.map(|c| format!("{} {}", c.day(off), c.local_hm(off))).unwrap_or_default()) }
                            td { (f.note) }
                            td { @if let Some(oc) = f.outcome { (lang.t(oc.zh(), oc.en())) } }
                            td { (f.closed_by.clone().unwrap_or_default()) }
                        }
                    }
                }
            }
        }
        @if o.account.role == Role::Admin {
            h2 { (lang.t("回访期限", "Deadline")) }
            form.inline method="post" action="/office/followups/settings" {
                (o.csrf_field())
                label { (lang.t("工作日数", "Working days"))
                    input type="number" name="working_days" min="1" max="30" value=(n) required; }
                button type="submit" { (lang.t("保存", "Save")) }
            }
        }
    };
    office_page(&o, "好差评回访", "Rating follow-ups", body).into_response()
}

#[derive(serde::Deserialize)]
pub struct RecordForm {
    id: i64,
    #[serde(default)]
    called_back: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    outcome: String,
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

/// POST `/office/followups/record`.
pub async fn record_form(
    State(web): State<WebState>,
    OfficeForm { officer: o, form }: OfficeForm<RecordForm>,
) -> Response {
    if let Err(r) = o.require(Area::FollowUps) {
        return r;
    }
    let lang = o.lang;
    let outcome = match form.outcome.as_str() {
        "" => None,
        s => match FollowOutcome::parse(s) {
            Some(oc) => Some(oc),
            None => return problem(lang, StatusCode::UNPROCESSABLE_ENTITY, "结果无效。", "Unknown outcome."),
        },
    };
    if form.note.chars().count() > 2000 {
        return problem(
            lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            "记录最多 2000 字。",
            "A note is at most 2,000 characters.",
        );
    }
    let backend = web.backend.clone();
    let login = o.account.login.clone();
    let officer = o.clone();
    let done = tokio::task::spawn_blocking(move || -> Result<&'static str, Response> {
        let catalog = backend.catalog().unwrap_or_default();
        let db = backend.db();
        let Some(f) = get(&db, form.id).ok().flatten() else { return Ok("gone") };
        officer.require_hall(&f.hall)?;
        let Some(at) = parse_local(&form.called_back, offset_of(&catalog, &f.hall)) else {
            return Err(problem(
                officer.lang,
                StatusCode::UNPROCESSABLE_ENTITY,
                "回访时间无效。",
                "The call-back time is not a time.",
            ));
        };
        match record(&db, f.id, at, form.note.trim(), outcome, &login, now()) {
            Ok(true) => Ok("recorded"),
            Ok(false) => Ok("gone"),
            Err(_) => {
                Err(problem(officer.lang, StatusCode::INTERNAL_SERVER_ERROR, "保存失败。", "Saving failed."))
            }
        }
    })
    .await;
    match done {
        Ok(Ok(d)) => Redirect::to(&format!("/office/followups?done={d}")).into_response(),
        Ok(Err(r)) => r,
        Err(_) => problem(lang, StatusCode::INTERNAL_SERVER_ERROR, "保存失败。", "Saving failed."),
    }
}

#[derive(serde::Deserialize)]
pub struct SettingsForm {
    working_days: u32,
}

/// POST `/office/followups/settings` (administrators).
pub async fn settings_form(
    State(web): State<WebState>,
    OfficeForm { officer: o, form }: OfficeForm<SettingsForm>,
) -> Response {
    if o.account.role != Role::Admin {
        return super::auth::forbidden(o.lang);
    }
    if !(1..=30).contains(&form.working_days) {
        return problem(
            o.lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            "工作日数须为 1 到 30。",
            "Working days: 1 to 30.",
        );
    }
    if set_working_days(&web.backend.db(), form.working_days).is_err() {
        return problem(o.lang, StatusCode::INTERNAL_SERVER_ERROR, "保存失败。", "Saving failed.");
    }
    Redirect::to("/office/followups?done=settings").into_response()
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
