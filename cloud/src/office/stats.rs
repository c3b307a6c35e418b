//! `/office/stats`: the back office's statistics (filters, any grouping, attendance,
//! bookings kept and missed), each table with its CSV.
//!
//! Who sees what (`Area::Stats`): administrators and reviewers every hall; hall managers their
//! halls; window staff only their own figures and attendance. A window staff account is tied
//! to the catalogue's staff member whose id equals the account's login (an account with no
//! such staff member sees no tickets).

// A refused request is an early `Err(Response)`, as axum handlers are written.
#![allow(clippy::result_large_err)]

use crate::core::accounts::{Area, Role};
use crate::stats::csv::{self, Cell};
use crate::stats::query::{self, Filter, Group};
use crate::ui::AppState;
use crate::ui::auth::Officer;
use crate::ui::figures::{charts, daily, definitions, figures_csv, figures_table, minutes, unavailable};
use crate::ui::office::office_page;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use onestop_model::{Catalog, Day, HallId, StaffId, Timestamp};
use std::collections::BTreeSet;

/// The longest range of a staff member's own figures read from their tickets.
const FACT_DAYS: i32 = 31;

#[derive(serde::Deserialize, Default)]
pub struct OfficeQuery {
    #[serde(default)]
    hall: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    table: Option<String>,
}

/// The filter an officer may use: their halls, and their own figures for window staff.
fn officer_filter(
    o: &Officer,
    q: &OfficeQuery,
    catalog: &Catalog,
    now: Timestamp,
) -> Result<Filter, Response> {
    let today = now.day(catalog.campus_offset());
    let to = q.to.trim().parse::<Day>().unwrap_or(today);
    let from = q.from.trim().parse::<Day>().unwrap_or(to.plus_days(-29));
    let (from, to) = if from <= to { (from, to) } else { (to, from) };
    let hall = q.hall.trim();
    let halls = if !hall.is_empty() {
        let h = HallId::new(hall);
        o.require_hall(&h)?;
        Some(BTreeSet::from([h]))
    } else if matches!(o.account.role, Role::HallManager | Role::WindowStaff) && !o.account.halls.is_empty() {
        Some(o.account.halls.iter().cloned().collect())
    } else {
        None
    };
    let staff = (o.account.role == Role::WindowStaff).then(|| StaffId::new(o.account.login.clone()));
    Ok(Filter { halls, from, to, staff })
}

fn shifts_csv(rows: &[query::ShiftRow], offset: i32) -> String {
    let t = |x: Timestamp| format!("{} {}", x.day(offset), x.local_hm(offset));
    let body: Vec<Vec<Cell>> = rows
        .iter()
        .map(|s| {
            vec![
                s.day.clone().into(),
                s.hall.clone().into(),
                Cell::Int(i64::from(s.window)),
                s.staff.clone().into(),
                t(s.checked_in).into(),
                s.checked_out.map(t).map_or(Cell::Empty, Cell::from),
                s.checked_out
                    .map_or(Cell::Empty, |o| Cell::Num(o.since(s.checked_in) as f64 / 3_600_000.0, 2)),
                Cell::Int(i64::from(s.pauses)),
                Cell::Num(s.paused_ms as f64 / 60_000.0, 0),
            ]
        })
        .collect();
    csv::table(
        &[
            "day",
            "hall",
            "window",
            "staff",
            "checked_in",
            "checked_out",
            "hours_on_duty",
            "pauses",
            "paused_min",
        ],
        &body,
    )
}

/// `/office/stats`: figures with filters, attendance, pauses and bookings.
pub async fn office(State(web): State<AppState>, o: Officer, Query(q): Query<OfficeQuery>) -> Response {
    if let Err(r) = o.require(Area::Stats) {
        return r;
    }
    let lang = o.lang;
    let catalog = web.cache.get().catalog.clone();
    let filter = match officer_filter(&o, &q, &catalog, web.core.now()) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let group = Group::parse(q.group.trim()).unwrap_or(Group::Day);
    // A staff member's own figures by anything but day or hall are read from their tickets
    // (the rollups hold them by day only): at most FACT_DAYS days at a time, which stays fast.
    let mut filter = filter;
    let clamped = filter.staff.is_some()
        && !matches!(group, Group::Day | Group::Hall)
        && filter.from < filter.to.plus_days(-(FACT_DAYS - 1));
    if clamped {
        filter.from = filter.to.plus_days(-(FACT_DAYS - 1));
    }
    let stats = web.stats.clone();
    let cat = catalog.clone();
    let f = filter.clone();
    let t_now = web.core.now();
    let read = tokio::task::spawn_blocking(move || {
        stats.read(|c| {
            let rows = query::grouped(c, &f, group, &cat)?;
            let shifts = query::shifts(c, &f)?;
            let reasons = query::pause_reasons(c, &f)?;
            let bookings = query::bookings(c, &f, t_now)?;
            Ok((rows, shifts, reasons, bookings))
        })
    })
    .await;
    let Ok(Ok((rows, shifts, reasons, bookings))) = read else { return unavailable(lang) };
    let rows = if group == Group::Day { daily(filter.from, filter.to, rows) } else { rows };
    let offset = catalog.campus_offset();
    match (q.format.as_deref(), q.table.as_deref()) {
        (Some("csv"), Some("attendance")) => {
            return crate::ui::figures::csv_response("attendance.csv", shifts_csv(&shifts, offset));
        }
        (Some("csv"), Some("pauses")) => {
            let body: Vec<Vec<Cell>> = reasons
                .iter()
                .map(|(r, n, ms)| vec![r.clone().into(), (*n).into(), Cell::Num(*ms as f64 / 60_000.0, 0)])
                .collect();
            return crate::ui::figures::csv_response(
                "pauses.csv",
                csv::table(&["reason", "pauses", "paused_min"], &body),
            );
        }
        (Some("csv"), _) => {
            return crate::ui::figures::csv_response(
                &format!("stats-{}.csv", group.as_str()),
                figures_csv(group, &rows),
            );
        }
        _ => {}
    }
    let own = filter.staff.is_some();
    let qs = |extra: &str| {
        format!(
            "/office/stats?hall={}&from={}&to={}&group={}{extra}",
            crate::ui::auth::urlencode(q.hall.trim()),
            filter.from,
            filter.to,
            group.as_str()
        )
    };
    let halls: Vec<&onestop_model::Hall> = catalog.halls.values().filter(|h| o.may_hall(&h.id)).collect();
    let t = |x: Timestamp| x.local_hm(offset);
    let shown_shifts = &shifts[..shifts.len().min(200)];
    let body = html! {
        @if clamped {
            p.note { (lang.t(
                &format!("按此分组查看本人数据时，最多显示 {FACT_DAYS} 天：{} 至 {}。", filter.from, filter.to),
                &format!("Your own figures grouped this way cover at most {FACT_DAYS} days: {} to {}.", filter.from, filter.to),
            )) }
        }
        @if own {
            p.note { (lang.t(
                &format!("仅显示您本人（工号 {}）的数据。", o.account.login),
                &format!("Only your own figures are shown (staff id {}).", o.account.login),
            )) }
        }
        form.filters method="get" action="/office/stats" {
            label { (lang.t("大厅", "Hall"))
                select name="hall" {
                    option value="" { (lang.one("全部（有权限的）", "All (permitted)")) }
                    @for h in &halls {
                        option value=(h.id) selected[h.id.as_str() == q.hall.trim()] { (lang.one(&h.name.zh, if h.name.en.is_empty() { &h.name.zh } else { &h.name.en })) }
                    }
                }
            }
            label { (lang.t("从", "From")) input type="date" name="from" value=(filter.from); }
            label { (lang.t("到", "To")) input type="date" name="to" value=(filter.to); }
            label { (lang.t("分组", "Group by"))
                select name="group" {
                    @for g in Group::ALL {
                        option value=(g.as_str()) selected[g == group] { (lang.one(g.zh(), g.en())) }
                    }
                }
            }
            button type="submit" { (lang.t("查询", "Show")) }
        }
        @if group == Group::Day { (charts(lang, &rows)) }
        h2 { (lang.t("办件数据", "Figures")) }
        (figures_table(lang, group, &rows, "stats-figures"))
        p { a.csv href=(qs("&format=csv&table=figures")) download { (lang.t("下载 CSV", "Download CSV")) } }
        h2 { (lang.t("预约", "Bookings")) }
        table.stats #stats-bookings {
            thead { tr {
                th { (lang.t("预约", "Booked")) } th { (lang.t("已履约", "Kept")) } th { (lang.t("爽约", "Missed")) }
                th { (lang.t("已取消", "Cancelled")) } th { (lang.t("未到时段", "To come")) }
            } }
            tbody { tr {
                td.num { (bookings.booked) } td.num { (bookings.kept) } td.num { (bookings.missed) }
                td.num { (bookings.cancelled) } td.num { (bookings.pending) }
            } }
        }
        h2 { (lang.t("考勤", "Attendance")) }
        @if shifts.is_empty() {
            p { (lang.t("此期间没有签到记录。", "No check-ins in this period.")) }
        } @else {
            div.scroll {
                table.stats #stats-attendance {
                    thead { tr {
                        th { (lang.t("日期", "Day")) } th { (lang.t("大厅", "Hall")) } th { (lang.t("窗口", "Window")) }
                        th { (lang.t("工作人员", "Staff")) } th { (lang.t("签到", "Check-in")) } th { (lang.t("签退", "Check-out")) }
                        th { (lang.t("在岗(时)", "On duty (h)")) } th { (lang.t("暂停", "Pauses")) } th { (lang.t("暂停(分)", "Paused (min)")) }
                    } }
                    tbody {
                        @for s in shown_shifts {
                            tr {
                                td { (s.day) } td { (s.hall) } td.num { (s.window) }
                                td { (catalog.staff.get(&StaffId::new(s.staff.clone())).map(|p| p.name.clone()).unwrap_or_else(|| s.staff.clone())) }
                                td { (t(s.checked_in)) }
                                td { @if let Some(out) = s.checked_out { (t(out)) } @else { (lang.t("未签退", "not checked out")) } }
                                td.num { (s.checked_out.map(|out| format!("{:.2}", out.since(s.checked_in) as f64 / 3_600_000.0)).unwrap_or_default()) }
                                td.num { (s.pauses) } td.num { (minutes(s.paused_ms)) }
                            }
                        }
                    }
                }
            }
            @if shifts.len() > shown_shifts.len() {
                p { (lang.t(&format!("仅显示前 {} 条，共 {} 条；完整数据请下载 CSV。", shown_shifts.len(), shifts.len()),
                    &format!("The first {} of {} shifts are shown; the CSV has them all.", shown_shifts.len(), shifts.len()))) }
            }
        }
        p { a.csv href=(qs("&format=csv&table=attendance")) download { (lang.t("下载考勤 CSV", "Download attendance CSV")) } }
        h3 { (lang.t("暂停原因", "Pause reasons")) }
        @if reasons.is_empty() {
            p { (lang.t("没有暂停记录。", "No pauses.")) }
        } @else {
            table.stats #stats-pauses {
                thead { tr { th { (lang.t("原因", "Reason")) } th { (lang.t("次数", "Pauses")) } th { (lang.t("时长(分)", "Minutes")) } } }
                tbody {
                    @for (reason, n, ms) in &reasons {
                        tr { td { (reason) } td.num { (n) } td.num { (minutes(*ms)) } }
                    }
                }
            }
        }
        p { a.csv href=(qs("&format=csv&table=pauses")) download { (lang.t("下载暂停 CSV", "Download pauses CSV")) } }
        (definitions(lang))
    };
    office_page(&o, "统计", "Statistics", body).into_response()
}
