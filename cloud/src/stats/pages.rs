//! The statistics pages: public `/stats` (volumes, waits and satisfaction across halls, by
//! day) and the back office's `/office/stats` (filters, any grouping, attendance, bookings).
//! Every table has its CSV (`?format=csv`); charts are inline SVG ([`super::chart`]).
//!
//! Who sees what in the back office (`Area::Stats`): administrators and reviewers every hall;
//! hall managers their halls; window staff only their own figures and attendance. A window
//! staff account is tied to the catalogue's staff member whose id equals the account's login
//! (an account with no such staff member sees no tickets).

// A refused request is an early `Err(Response)`, as axum handlers are written.
#![allow(clippy::result_large_err)]

use super::chart::{self, Series};
use super::csv::{self, Cell};
use super::query::{self, Filter, Group, GroupRow};
use crate::office::auth::{Area, Officer, Role};
use crate::office::shell::office_page;
use crate::web::{Lang, WebState, now, page, problem};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, PreEscaped, html};
use onestop_model::stats::Totals;
use onestop_model::{Catalog, Day, HallId, StaffId, Timestamp};
use std::collections::BTreeSet;

/// The longest range of a staff member's own figures read from their tickets.
const FACT_DAYS: i32 = 31;

fn campus_offset(catalog: &Catalog) -> i32 {
    catalog.halls.values().next().map_or(480, |h| h.utc_offset_minutes)
}

fn one(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into())
}

fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}%")).unwrap_or_else(|| "—".into())
}

fn minutes(ms: i64) -> String {
    format!("{:.0}", ms as f64 / 60_000.0)
}

/// The figures' column headings (Chinese, English).
const HEADINGS: &[(&str, &str)] = &[
    ("取号", "Issued"),
    ("办结", "Served"),
    ("过号率", "No-shows"),
    ("平均等待(分)", "Mean wait (min)"),
    ("P90等待(分)", "P90 wait (min)"),
    ("目标内", "Within target"),
    ("平均办理(分)", "Mean handling (min)"),
    ("平均停留(分)", "Mean stay (min)"),
    ("评价", "Rated"),
    ("满意率", "Satisfaction"),
];

fn figures_cells(t: &Totals) -> Vec<String> {
    vec![
        t.issued.to_string(),
        t.served.to_string(),
        pct(t.no_show_pct()),
        one(t.mean_wait_min()),
        t.p90_wait_min().map(|m| m.to_string()).unwrap_or_else(|| "—".into()),
        pct(t.within_target_pct()),
        one(t.mean_handling_min()),
        one(t.mean_stay_min()),
        t.rated.to_string(),
        pct(t.satisfaction_pct()),
    ]
}

/// A table of grouped figures, with a total row.
fn figures_table(lang: Lang, group: Group, rows: &[GroupRow], id: &str) -> Markup {
    let mut total = Totals::default();
    rows.iter().for_each(|r| total.merge(&r.totals));
    html! {
        div.scroll {
            table.stats id=(id) {
                thead { tr {
                    th scope="col" { (lang.t(group.zh(), group.en())) }
                    @for (zh, en) in HEADINGS { th scope="col" { (lang.t(zh, en)) } }
                } }
                tbody {
                    @for r in rows {
                        tr {
                            th scope="row" { (lang.t(&r.zh, if r.en == r.zh { "" } else { &r.en })) }
                            @for c in figures_cells(&r.totals) { td.num { (c) } }
                        }
                    }
                }
                @if rows.len() > 1 {
                    tfoot { tr {
                        th scope="row" { (lang.t("合计", "Total")) }
                        @for c in figures_cells(&total) { td.num { (c) } }
                    } }
                }
            }
        }
    }
}

/// The figures as CSV: every column, the rating levels and dimensions too.
fn figures_csv(group: Group, rows: &[GroupRow]) -> String {
    let mut header: Vec<&str> = vec![group.as_str(), "name_zh", "name_en"];
    header.extend([
        "issued",
        "called",
        "served",
        "no_shows",
        "no_show_pct",
        "mean_wait_min",
        "p90_wait_min",
        "within_target",
        "within_target_pct",
        "mean_handling_min",
        "mean_stay_min",
        "rated",
        "very_satisfied",
        "satisfied",
        "basic",
        "unsatisfied",
        "very_unsatisfied",
        "satisfaction_pct",
        "attitude_mean",
        "efficiency_mean",
        "quality_mean",
    ]);
    let body: Vec<Vec<Cell>> = rows
        .iter()
        .map(|r| {
            let t = &r.totals;
            vec![
                r.key.clone().into(),
                r.zh.clone().into(),
                r.en.clone().into(),
                t.issued.into(),
                t.called.into(),
                t.served.into(),
                t.no_shows.into(),
                t.no_show_pct().into(),
                t.mean_wait_min().into(),
                t.p90_wait_min().into(),
                t.within_target.into(),
                t.within_target_pct().into(),
                t.mean_handling_min().into(),
                t.mean_stay_min().into(),
                t.rated.into(),
                t.levels[4].into(),
                t.levels[3].into(),
                t.levels[2].into(),
                t.levels[1].into(),
                t.levels[0].into(),
                t.satisfaction_pct().into(),
                t.dim_mean(0).into(),
                t.dim_mean(1).into(),
                t.dim_mean(2).into(),
            ]
        })
        .collect();
    csv::table(&header, &body)
}

/// Every day from `from` to `to` with its row (an empty row for a day without tickets).
fn daily(from: Day, to: Day, rows: Vec<GroupRow>) -> Vec<GroupRow> {
    let mut by: std::collections::BTreeMap<String, GroupRow> =
        rows.into_iter().map(|r| (r.key.clone(), r)).collect();
    let mut out = Vec::new();
    let mut d = from;
    while d <= to && out.len() < 3700 {
        let k = d.to_string();
        out.push(by.remove(&k).unwrap_or(GroupRow {
            key: k.clone(),
            zh: k.clone(),
            en: k,
            totals: Totals::default(),
        }));
        d = d.next();
    }
    out
}

fn charts(lang: Lang, days: &[GroupRow]) -> Markup {
    let x: Vec<String> = days.iter().map(|r| r.key.clone()).collect();
    let issued = Series {
        name: lang.one("取号", "Issued"),
        color: chart::BLUE,
        values: days.iter().map(|r| Some(r.totals.issued as f64)).collect(),
    };
    let waits = [
        Series {
            name: lang.one("平均等待", "Mean wait"),
            color: chart::BLUE,
            values: days.iter().map(|r| r.totals.mean_wait_min()).collect(),
        },
        Series {
            name: lang.one("P90等待", "P90 wait"),
            color: chart::ORANGE,
            values: days.iter().map(|r| r.totals.p90_wait_min().map(f64::from)).collect(),
        },
    ];
    let sat = Series {
        name: lang.one("满意率", "Satisfaction"),
        color: chart::GREEN,
        values: days.iter().map(|r| r.totals.satisfaction_pct()).collect(),
    };
    let vol_title = lang.one("每日取号量", "Tickets per day");
    let wait_title = lang.one("每日等待时间（分钟）", "Waiting time per day (minutes)");
    let sat_title = lang.one("每日满意率（%）", "Satisfaction per day (%)");
    html! {
        div.charts {
            figure.chart #chart-volume {
                (PreEscaped(chart::bars(vol_title, &x, &issued, "")))
                figcaption { (lang.t("每日取号量", "Tickets per day")) }
            }
            figure.chart #chart-wait {
                (PreEscaped(chart::lines(wait_title, &x, &waits, lang.one("分钟", "min"))))
                figcaption { (lang.t("平均与 P90 等待（叫号 − 取号）", "Mean and P90 wait (called − issued)")) }
            }
            figure.chart #chart-satisfaction {
                (PreEscaped(chart::lines(sat_title, &x, std::slice::from_ref(&sat), "%")))
                figcaption { (lang.t("满意率 = (非常满意 + 满意) / 评价数", "Satisfaction = (very satisfied + satisfied) / rated")) }
            }
        }
    }
}

fn definitions(lang: Lang) -> Markup {
    html! {
        details.definitions {
            summary { (lang.t("统计口径", "Definitions")) }
            ul {
                li { (lang.t("等待 = 首次叫号 − 取号；P90 以整分钟（向上取整）计。", "Wait = first call − issue; P90 in whole minutes, rounded up.")) }
                li { (lang.t("办理 = 办结 − 开始办理；停留 = 办结 − 取号。", "Handling = finished − started; stay = finished − issued.")) }
                li { (lang.t("目标内 = 等待不超过本大厅目标的已叫号票数 / 已叫号票数。", "Within target = called tickets whose wait is at most the hall's target / called tickets.")) }
                li { (lang.t("过号率 = 过号 / 取号；满意率 = (非常满意 + 满意) / 评价数。", "No-show rate = no-shows / issued; satisfaction = (very satisfied + satisfied) / rated.")) }
            }
        }
    }
}

#[derive(serde::Deserialize, Default)]
pub struct PublicQuery {
    #[serde(default)]
    days: Option<u32>,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    table: Option<String>,
}

fn unavailable(lang: Lang) -> Response {
    problem(
        lang,
        StatusCode::SERVICE_UNAVAILABLE,
        "统计数据暂时无法读取。",
        "The statistics cannot be read just now.",
    )
}

/// `/stats`: the public statistics across halls.
pub async fn public(State(web): State<WebState>, lang: Lang, Query(q): Query<PublicQuery>) -> Response {
    let catalog = web.cache.get().catalog.clone();
    let span = q.days.filter(|d| [7, 30, 90, 365].contains(d)).unwrap_or(30);
    let to = now().day(campus_offset(&catalog));
    let from = to.plus_days(-(span as i32) + 1);
    let filter = Filter { halls: None, from, to, staff: None };
    let backend = web.backend.clone();
    let cat = catalog.clone();
    let read = tokio::task::spawn_blocking(move || {
        backend.stats.read(|c| {
            let days = query::grouped(c, &filter, Group::Day, &cat)?;
            let halls = query::grouped(c, &filter, Group::Hall, &cat)?;
            Ok((days, halls))
        })
    })
    .await;
    let Ok(Ok((days, halls))) = read else { return unavailable(lang) };
    let days = daily(from, to, days);
    match (q.format.as_deref(), q.table.as_deref()) {
        (Some("csv"), Some("halls")) => {
            return csv::response("stats-halls.csv", figures_csv(Group::Hall, &halls));
        }
        (Some("csv"), _) => return csv::response("stats-daily.csv", figures_csv(Group::Day, &days)),
        _ => {}
    }
    let body = html! {
        h1 { (lang.t("服务统计", "Service statistics")) }
        p.range {
            (lang.t("统计区间：", "Period: ")) (from) " – " (to) " · "
            @for d in [7u32, 30, 90, 365] {
                @if d == span { strong { (d) (lang.one(" 天", " days")) } }
                @else { a href=(format!("/stats?days={d}")) { (d) (lang.one(" 天", " days")) } }
                " "
            }
        }
        (charts(lang, &days))
        h2 { (lang.t("各大厅", "By hall")) }
        (figures_table(lang, Group::Hall, &halls, "stats-halls"))
        p { a.csv href=(format!("/stats?days={span}&format=csv&table=halls")) download { (lang.t("下载 CSV", "Download CSV")) } }
        details {
            summary { (lang.t("每日数据", "Day by day")) }
            (figures_table(lang, Group::Day, &days, "stats-daily"))
        }
        p { a.csv href=(format!("/stats?days={span}&format=csv&table=daily")) download { (lang.t("下载每日 CSV", "Download daily CSV")) } }
        (definitions(lang))
    };
    page(lang, lang.one("服务统计", "Service statistics"), None, body).into_response()
}

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
fn officer_filter(o: &Officer, q: &OfficeQuery, catalog: &Catalog) -> Result<Filter, Response> {
    let today = now().day(campus_offset(catalog));
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
pub async fn office(State(web): State<WebState>, o: Officer, Query(q): Query<OfficeQuery>) -> Response {
    if let Err(r) = o.require(Area::Stats) {
        return r;
    }
    let lang = o.lang;
    let catalog = web.cache.get().catalog.clone();
    let filter = match officer_filter(&o, &q, &catalog) {
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
    let backend = web.backend.clone();
    let cat = catalog.clone();
    let f = filter.clone();
    let t_now = now();
    let read = tokio::task::spawn_blocking(move || {
        backend.stats.read(|c| {
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
    let offset = campus_offset(&catalog);
    match (q.format.as_deref(), q.table.as_deref()) {
        (Some("csv"), Some("attendance")) => {
            return csv::response("attendance.csv", shifts_csv(&shifts, offset));
        }
        (Some("csv"), Some("pauses")) => {
            let body: Vec<Vec<Cell>> = reasons
                .iter()
                .map(|(r, n, ms)| vec![r.clone().into(), (*n).into(), Cell::Num(*ms as f64 / 60_000.0, 0)])
                .collect();
            return csv::response("pauses.csv", csv::table(&["reason", "pauses", "paused_min"], &body));
        }
        (Some("csv"), _) => {
            return csv::response(&format!("stats-{}.csv", group.as_str()), figures_csv(group, &rows));
        }
        _ => {}
    }
    let own = filter.staff.is_some();
    let qs = |extra: &str| {
        format!(
            "/office/stats?hall={}&from={}&to={}&group={}{extra}",
            crate::office::auth::urlencode(q.hall.trim()),
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
