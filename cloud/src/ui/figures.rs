//! The statistics as pages show them, public and in the back office: the figures' tables
//! and their CSV, the daily charts (inline SVG, [`super::chart`]), the definitions.
use super::chart::{self, Series};
use crate::stats::csv::{self, Cell};
use crate::stats::query::{Group, GroupRow};
use crate::ui::{Lang, problem};
use axum::http::StatusCode;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{Markup, PreEscaped, html};
use onestop_model::Day;
use onestop_model::stats::Totals;

pub fn one(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into())
}

pub fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}%")).unwrap_or_else(|| "—".into())
}

pub fn minutes(ms: i64) -> String {
    format!("{:.0}", ms as f64 / 60_000.0)
}

/// The figures' column headings (Chinese, English).
pub const HEADINGS: &[(&str, &str)] = &[
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

pub fn figures_cells(t: &Totals) -> Vec<String> {
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
pub fn figures_table(lang: Lang, group: Group, rows: &[GroupRow], id: &str) -> Markup {
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
pub fn figures_csv(group: Group, rows: &[GroupRow]) -> String {
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
pub fn daily(from: Day, to: Day, rows: Vec<GroupRow>) -> Vec<GroupRow> {
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

pub fn charts(lang: Lang, days: &[GroupRow]) -> Markup {
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

pub fn definitions(lang: Lang) -> Markup {
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

pub fn unavailable(lang: Lang) -> Response {
    problem(
        lang,
        StatusCode::SERVICE_UNAVAILABLE,
        "统计数据暂时无法读取。",
        "The statistics cannot be read just now.",
    )
}

/// A CSV download named `name` (ASCII).
pub fn csv_response(name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response()
}
