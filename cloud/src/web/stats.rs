//! `/stats`: the public statistics (volumes, waits and satisfaction across halls, by day),
//! with the tables' CSV and inline SVG charts (`crate::ui::figures`).

use crate::stats::query::{self, Filter, Group};
use crate::ui::figures::{charts, daily, definitions, figures_csv, figures_table, unavailable};
use crate::ui::{AppState, Lang, page};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::html;

#[derive(serde::Deserialize, Default)]
pub struct PublicQuery {
    #[serde(default)]
    days: Option<u32>,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    table: Option<String>,
}

/// `/stats`: the public statistics across halls.
pub async fn public(State(web): State<AppState>, lang: Lang, Query(q): Query<PublicQuery>) -> Response {
    let catalog = web.cache.get().catalog.clone();
    let span = q.days.filter(|d| [7, 30, 90, 365].contains(d)).unwrap_or(30);
    let to = web.core.now().day(catalog.campus_offset());
    let from = to.plus_days(-(span as i32) + 1);
    let filter = Filter { halls: None, from, to, staff: None };
    let stats = web.stats.clone();
    let cat = catalog.clone();
    let read = tokio::task::spawn_blocking(move || {
        stats.read(|c| {
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
            return crate::ui::figures::csv_response("stats-halls.csv", figures_csv(Group::Hall, &halls));
        }
        (Some("csv"), _) => {
            return crate::ui::figures::csv_response("stats-daily.csv", figures_csv(Group::Day, &days));
        }
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
