//! The home page, the service catalogue with its guides, and the notices.

use super::live::status_line;
use super::search::search;
use crate::site::Site;
use crate::ui::{AppState, Lang, page, problem};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use onestop_model::{CaseKind, Catalog, Notice, ServiceId};
use serde::Deserialize;

/// The notices, newest first.
fn notices_newest(catalog: &Catalog) -> Vec<&Notice> {
    let mut list: Vec<&Notice> = catalog.notices.values().collect();
    list.sort_by(|a, b| b.published.cmp(&a.published).then_with(|| a.id.cmp(&b.id)));
    list
}

fn search_form(lang: Lang, site: &Site, q: &str, dept: &str) -> Markup {
    html! {
        form.search role="search" method="get" action="/services" {
            div.field {
                label for="q" { (lang.t("搜索服务", "Search services")) }
                input #q type="search" name="q" value=(q) maxlength="100"
                    placeholder=(lang.one("如：成绩单、在读证明", "e.g. transcript, certificate"));
            }
            div.field {
                label for="dept" { (lang.t("部门", "Department")) }
                select #dept name="dept" {
                    option value="" selected[dept.is_empty()] { (lang.one("全部部门", "All departments")) }
                    @for d in site.catalog.departments.values() {
                        option value=(d.id) selected[d.id.as_str() == dept] { (lang.one(&d.name.zh, if d.name.en.is_empty() { &d.name.zh } else { &d.name.en })) }
                    }
                }
            }
            button #search-button type="submit" { (lang.t("搜索", "Search")) }
        }
    }
}

fn notice_article(lang: Lang, catalog: &Catalog, n: &Notice, heading: u8) -> Markup {
    let offset = catalog.campus_offset();
    let halls: Vec<&onestop_model::Hall> = n.halls.iter().filter_map(|h| catalog.halls.get(h)).collect();
    html! {
        article.notice id={ "notice-" (n.id) } {
            @if heading == 2 { h2 { (lang.text(&n.title)) } } @else { h3 { (lang.text(&n.title)) } }
            p.meta {
                @if n.published.0 > 0 {
                    time datetime=(n.published.day(offset)) { (n.published.day(offset)) }
                    " · "
                }
                @if halls.is_empty() {
                    (lang.t("全部大厅", "all halls"))
                } @else {
                    @for (i, h) in halls.iter().enumerate() {
                        @if i > 0 { "、" }
                        (lang.text(&h.name))
                    }
                }
            }
            p { (lang.text(&n.body)) }
        }
    }
}

/// `/`: the halls with a line of live status each, the latest notices, a search box.
pub async fn home(State(web): State<AppState>, lang: Lang) -> Markup {
    let site = web.cache.get();
    let now = web.core.now();
    let notices = notices_newest(&site.catalog);
    page(
        lang,
        lang.one("首页", "Home"),
        None,
        html! {
            h1 { (lang.t("校园一站式服务大厅", "Campus one-stop service halls")) }
            section aria-labelledby="find" {
                h2 #find { (lang.t("查找服务", "Find a service")) }
                (search_form(lang, &site, "", ""))
            }
            section aria-labelledby="halls" {
                h2 #halls { (lang.t("服务大厅实时状态", "The halls now")) }
                @if site.catalog.halls.is_empty() {
                    p { (lang.t("暂无大厅信息。", "No halls are published yet.")) }
                }
                ul.halls {
                    @for (id, h) in &site.catalog.halls {
                        li.hall data-hall=(id) {
                            a href={ "/halls/" (id) } { strong { (lang.text(&h.name)) } }
                            @if !h.address.zh.is_empty() || !h.address.en.is_empty() {
                                " " span.address { (lang.text(&h.address)) }
                            }
                            br;
                            @match site.halls.get(id) {
                                Some(live) => (status_line(lang, live, now)),
                                None => span.status { (lang.t("暂无实时信息", "no live status")) },
                            }
                        }
                    }
                }
            }
            section aria-labelledby="latest-notices" {
                h2 #latest-notices { (lang.t("最新通知", "Latest notices")) }
                @if notices.is_empty() {
                    p { (lang.t("暂无通知。", "No notices.")) }
                }
                @for n in notices.iter().take(3) {
                    (notice_article(lang, &site.catalog, n, 3))
                }
                p { a href="/notices" { (lang.t("全部通知", "All notices")) } }
            }
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    dept: String,
}

fn kind_label(lang: Lang, kind: CaseKind) -> Markup {
    match kind {
        CaseKind::Immediate => lang.t("即办件", "on the spot"),
        CaseKind::Pending => lang.t("承诺件", "processed later"),
    }
}

/// `/services?q=…&dept=…`: the catalogue, searched.
pub async fn services(State(web): State<AppState>, lang: Lang, Query(query): Query<SearchQuery>) -> Markup {
    let site = web.cache.get();
    let q: String = query.q.trim().chars().take(100).collect();
    let found = search(&site.catalog, &q, Some(&query.dept));
    let filtered = !q.is_empty() || !query.dept.trim().is_empty();
    page(
        lang,
        lang.one("办事指南", "Services"),
        None,
        html! {
            h1 { (lang.t("办事指南", "Services")) }
            (search_form(lang, &site, &q, query.dept.trim()))
            section aria-labelledby="results" {
                h2 #results {
                    @if filtered {
                        (lang.t(&format!("找到 {} 项服务", found.len()), &format!("{} services found", found.len())))
                    } @else {
                        (lang.t(&format!("全部 {} 项服务", found.len()), &format!("All {} services", found.len())))
                    }
                }
                @if found.is_empty() {
                    p #no-results { (lang.t("没有找到相符的服务，请换个词试试。", "No service matches; try other words.")) }
                }
                ul.services #service-list {
                    @for s in &found {
                        li.service data-service=(s.id) {
                            a href={ "/services/" (s.id) } { strong { (lang.text(&s.name)) } }
                            br;
                            span.meta {
                                @if let Some(d) = site.catalog.departments.get(&s.department) { (lang.text(&d.name)) " · " }
                                (kind_label(lang, s.kind)) " · "
                                (lang.t(&format!("约 {} 分钟", s.expected_minutes), &format!("about {} min", s.expected_minutes)))
                            }
                        }
                    }
                }
            }
        },
    )
}

/// `/services/{id}`: a service's guide, and where it is served now.
pub async fn service(State(web): State<AppState>, lang: Lang, Path(id): Path<String>) -> Response {
    let site = web.cache.get();
    let Some(s) = site.catalog.services.get(&ServiceId::new(&id)) else {
        return problem(
            lang,
            StatusCode::NOT_FOUND,
            "没有这项服务，请在办事指南中查找。",
            "There is no such service; look for it among the services.",
        );
    };
    let dept = site.catalog.departments.get(&s.department);
    let (first, second) = match lang {
        Lang::Zh => ((&s.guide.zh, "zh-CN"), (&s.guide.en, "en")),
        Lang::En => ((&s.guide.en, "en"), (&s.guide.zh, "zh-CN")),
    };
    page(
        lang,
        lang.one(&s.name.zh, if s.name.en.is_empty() { &s.name.zh } else { &s.name.en }),
        None,
        html! {
            h1 { (lang.text(&s.name)) }
            dl.facts {
                dt { (lang.t("部门", "Department")) }
                dd { @if let Some(d) = dept { a href={ "/services?dept=" (d.id) } { (lang.text(&d.name)) } } }
                dt { (lang.t("办件类型", "Kind")) }
                dd #kind data-kind=(s.kind.as_str()) {
                    (kind_label(lang, s.kind))
                    " — "
                    @match s.kind {
                        CaseKind::Immediate => (lang.t("窗口当场办结。", "finished at the window while you wait.")),
                        CaseKind::Pending => (lang.t("窗口受理后审核办理，可在网上查询进度。", "accepted at the window, then reviewed and processed; follow its progress online.")),
                    }
                }
                dt { (lang.t("预计办理时间", "Expected handling time")) }
                dd #expected { (lang.t(&format!("约 {} 分钟", s.expected_minutes), &format!("about {} minutes", s.expected_minutes))) }
            }
            section aria-labelledby="guide" {
                h2 #guide { (lang.t("办事指南", "Guide")) }
                @if first.0.is_empty() && second.0.is_empty() {
                    p { (lang.t("请到窗口咨询。", "Ask at the window.")) }
                }
                @if !first.0.is_empty() { p.guide lang=(first.1) { (first.0) } }
                @if !second.0.is_empty() { p.guide.other lang=(second.1) { (second.0) } }
            }
            section aria-labelledby="where" {
                h2 #where { (lang.t("办理地点", "Where")) }
                @let halls: Vec<_> = site.catalog.halls.values()
                    .filter(|h| h.windows.iter().any(|w| w.services.iter().any(|x| x.service == s.id)))
                    .collect();
                @if halls.is_empty() {
                    p { (lang.t("目前没有大厅办理此项服务。", "No hall offers this service at present.")) }
                }
                @for h in halls {
                    @let live = site.halls.get(&h.id).and_then(|l| l.view.services.iter().find(|v| v.id == s.id.as_str()));
                    article.where-hall data-hall=(h.id) {
                        h3 { a href={ "/halls/" (h.id) } { (lang.text(&h.name)) } }
                        p {
                            (lang.t("窗口：", "Windows: "))
                            @for (i, w) in h.windows.iter().filter(|w| w.services.iter().any(|x| x.service == s.id)).enumerate() {
                                @if i > 0 { "、" }
                                @if w.name.zh.is_empty() && w.name.en.is_empty() {
                                    (lang.t(&format!("{} 号窗口", w.number), &format!("window {}", w.number)))
                                } @else {
                                    (lang.text(&w.name))
                                }
                            }
                        }
                        @if let Some(v) = live {
                            p.now {
                                (lang.t(&format!("现在等候 {} 人，约 {} 分钟", v.waiting, v.wait_min), &format!("{} waiting now, about {} min", v.waiting, v.wait_min)))
                                @if !v.open { " · " (lang.t("暂无窗口办理", "no window open")) }
                            }
                        }
                    }
                }
            }
            p { a href="/services" { (lang.t("全部服务", "All services")) } }
        },
    )
    .into_response()
}

/// `/notices`: every notice, newest first.
pub async fn notices(State(web): State<AppState>, lang: Lang) -> Markup {
    let site = web.cache.get();
    let list = notices_newest(&site.catalog);
    page(
        lang,
        lang.one("通知公告", "Notices"),
        None,
        html! {
            h1 { (lang.t("通知公告", "Notices")) }
            @if list.is_empty() { p { (lang.t("暂无通知。", "No notices.")) } }
            @for n in list { (notice_article(lang, &site.catalog, n, 2)) }
        },
    )
}
