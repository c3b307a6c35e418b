//! The live pages: a hall's status now, and a visitor's ticket (opened from the QR code on the
//! printed ticket). Both are rendered whole by the server and then kept up to date by
//! `site.js`, which polls their JSON every few seconds.

use crate::site::HallLive;
use crate::ui::{AppState, Lang, Live, page, problem};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use onestop_engine::view::{Label, TicketView, WindowView};
use onestop_model::{Day, HallId, Timestamp, WindowNo};

/// A window's name, or "N 号窗口" when the catalogue gives none.
fn window_label(lang: Lang, no: WindowNo, name: &Label) -> Markup {
    if name.zh.is_empty() && name.en.is_empty() {
        lang.t(&format!("{no} 号窗口"), &format!("window {no}"))
    } else {
        lang.t(&name.zh, &name.en)
    }
}

/// "online", or "offline, last heard from N minutes ago (HH:MM)".
fn liveness(lang: Lang, live: &HallLive, now: Timestamp) -> Markup {
    let offset = live.utc_offset_minutes;
    html! {
        @if live.heard.online {
            span.online data-online="true" { (lang.t("在线 · 实时", "online · live")) }
        } @else {
            span.offline data-online="false" {
                @match (live.heard.minutes_ago(now), live.heard.last_heard_ms()) {
                    (Some(m), Some(t)) => {
                        @let hm = Timestamp(t).local_hm(offset);
                        (lang.t(&format!("离线：最后联系于 {m} 分钟前（{hm}）"), &format!("offline: last heard from {m} min ago ({hm})")))
                    }
                    _ => (lang.t("离线：今天尚无联系", "offline: not heard from today")),
                }
            }
        }
    }
}

/// The one line of a hall's status on the home page.
pub fn status_line(lang: Lang, live: &HallLive, now: Timestamp) -> Markup {
    let v = &live.view;
    let calling = v.calls.first();
    html! {
        span.status {
            (liveness(lang, live, now))
            " · "
            (lang.t(&format!("等候 {} 人", v.figures.waiting), &format!("{} waiting", v.figures.waiting)))
            " · "
            (lang.t(&format!("开放窗口 {} 个", v.figures.windows_open), &format!("open windows: {}", v.figures.windows_open)))
            @if let Some(c) = calling {
                " · "
                (lang.t(&format!("最新叫号 {}", c.ticket), &format!("latest call {}", c.ticket)))
            }
        }
    }
}

fn window_state(lang: Lang, w: &WindowView) -> Markup {
    match (w.staff_id.is_some(), w.paused.is_some(), w.state) {
        (false, _, _) => lang.t("未开放", "closed"),
        (true, true, _) => lang.t("暂停服务", "paused"),
        (true, false, Some("serving")) => lang.t("办理中", "serving"),
        (true, false, Some(_)) => lang.t("正在叫号", "calling"),
        (true, false, None) => lang.t("空闲", "free"),
    }
}

fn find_hall(web: &AppState, hall: &str) -> Option<std::sync::Arc<HallLive>> {
    web.cache.get().halls.get(&HallId::new(hall)).cloned()
}

fn no_hall(lang: Lang) -> Response {
    problem(
        lang,
        StatusCode::NOT_FOUND,
        "没有这个服务大厅，请从首页选择大厅。",
        "There is no such hall; choose one on the home page.",
    )
}

/// `/halls/{hall}`: now serving at each window, waiting per service, the latest calls.
pub async fn hall(State(web): State<AppState>, lang: Lang, Path(hall): Path<String>) -> Response {
    let Some(live) = find_hall(&web, &hall) else { return no_hall(lang) };
    let now = web.core.now();
    let v = &live.view;
    let address = web.cache.get().catalog.halls.get(&HallId::new(&hall)).map(|h| h.address.clone());
    let poll = format!("/api/halls/{hall}/status");
    page(
        lang,
        lang.one(&v.hall_name.zh, if v.hall_name.en.is_empty() { &v.hall_name.zh } else { &v.hall_name.en }),
        Some(Live { kind: "hall", url: &poll }),
        html! {
            h1 { (lang.t(&v.hall_name.zh, &v.hall_name.en)) }
            @if let Some(a) = address { @if !a.zh.is_empty() { p.address { (lang.text(&a)) } } }
            p #state.state role="status" {
                span #liveness { (liveness(lang, &live, now)) }
                " · "
                span #updated { (lang.t(&format!("{} 更新于 {}", v.day, now.local_hm(live.utc_offset_minutes)), &format!("{}, updated {}", v.day, now.local_hm(live.utc_offset_minutes)))) }
            }
            section aria-labelledby="windows-h" {
                h2 #windows-h { (lang.t("各窗口当前叫号", "Now serving at each window")) }
                div.scroll {
                    table #windows {
                        thead { tr {
                            th scope="col" { (lang.t("窗口", "Window")) }
                            th scope="col" { (lang.t("状态", "Status")) }
                            th scope="col" { (lang.t("当前号码", "Ticket")) }
                        } }
                        tbody {
                            @for w in &v.windows {
                                tr data-window=(w.no) class=(if w.staff_id.is_some() { "open" } else { "closed" }) {
                                    th scope="row" { (window_label(lang, w.no, &w.name)) }
                                    td.state { (window_state(lang, w)) }
                                    td.current { @if let Some(c) = &w.current { strong { (c) } } @else { "—" } }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="waiting-h" {
                h2 #waiting-h { (lang.t("各项业务等候情况", "Waiting per service")) }
                div.scroll {
                    table #services {
                        thead { tr {
                            th scope="col" { (lang.t("业务", "Service")) }
                            th scope="col" { (lang.t("等候人数", "Waiting")) }
                            th scope="col" { (lang.t("预计等候", "Estimated wait")) }
                        } }
                        tbody {
                            @for s in &v.services {
                                tr data-service=(s.id) {
                                    th scope="row" { a href={ "/services/" (s.id) } { (lang.t(&s.name.zh, &s.name.en)) } }
                                    td.waiting { (s.waiting) }
                                    td.wait {
                                        @if !s.open { (lang.t("暂无窗口办理", "no window open")) }
                                        @else { (lang.t(&format!("约 {} 分钟", s.wait_min), &format!("about {} min", s.wait_min))) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="calls-h" {
                h2 #calls-h { (lang.t("最近叫号", "Latest calls")) }
                ol #calls.calls {
                    @for c in v.calls.iter().take(6) {
                        li data-ticket=(c.ticket) data-window=(c.window) {
                            strong { (c.ticket) } " → " (window_label(lang, c.window, &c.window_name)) " " small { (c.at) }
                        }
                    }
                }
                @if v.calls.is_empty() { p #no-calls { (lang.t("今天还没有叫号。", "No calls yet today.")) } }
            }
            p #figures {
                (lang.t(&format!("今天已办结 {} 人", v.figures.served), &format!("{} served today", v.figures.served)))
                @if let Some(m) = v.figures.mean_wait_min {
                    " · " (lang.t(&format!("平均等候 {m} 分钟"), &format!("mean wait {m} min")))
                }
            }
            p.hint { (lang.t("本页每 5 秒自动更新。", "This page updates itself every 5 seconds.")) }
        },
    )
    .into_response()
}

/// `/api/halls/{hall}/status`: the hall status page's data, serialized when the hall changes.
pub async fn api_status(State(web): State<AppState>, Path(hall): Path<String>) -> Response {
    match find_hall(&web, &hall) {
        Some(live) => (
            [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-cache")],
            live.status_json.clone(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, Json(serde_json::json!({ "error": "no such hall" }))).into_response(),
    }
}

/// What a ticket's address names, looked up.
enum Lookup {
    Found(std::sync::Arc<HallLive>, Box<TicketView>),
    NoHall,
    /// The hall is known but not the ticket (today) or the day is not today.
    NoTicket {
        day_is_today: bool,
    },
}

fn lookup(web: &AppState, hall: &str, day: &str, ticket: &str) -> Lookup {
    let Some(live) = find_hall(web, hall) else { return Lookup::NoHall };
    let day_is_today = day.parse::<Day>().is_ok_and(|d| d == live.day);
    if !day_is_today {
        return Lookup::NoTicket { day_is_today };
    }
    match live.tickets.get(&ticket.to_uppercase()) {
        Some(t) => {
            let t = Box::new(t.clone());
            Lookup::Found(live, t)
        }
        None => Lookup::NoTicket { day_is_today },
    }
}

/// The state of a ticket, as its visitor reads it.
fn ticket_status(lang: Lang, t: &TicketView) -> Markup {
    html! {
        div #ticket-status.ticket-status data-state=(t.state) {
            @match t.state {
                "waiting" => {
                    @let ahead = t.ahead.unwrap_or(0);
                    @let wait = t.wait_min.unwrap_or(0);
                    p.big #position { (lang.t(&format!("您排在第 {} 位", ahead + 1), &format!("You are number {} in the queue", ahead + 1))) }
                    p #ahead data-ahead=(ahead) {
                        @if ahead == 0 { (lang.t("下一位就是您，请留意叫号。", "You are next: listen for your number.")) }
                        @else { (lang.t(&format!("前面还有 {ahead} 人", ), &format!("{ahead} ahead of you"))) }
                    }
                    p #wait { (lang.t(&format!("预计等候约 {wait} 分钟"), &format!("Estimated wait: about {wait} min"))) }
                }
                "called" => {
                    @let w = t.window.unwrap_or(0);
                    p.big.call #called data-window=(w) {
                        (lang.t(&format!("请到 {w} 号窗口"), &format!("Please go to window {w}")))
                    }
                    @if !t.window_name.zh.is_empty() { p { (lang.t(&t.window_name.zh, &t.window_name.en)) } }
                    @if let Some(at) = &t.called_at { p { (lang.t(&format!("叫号时间 {at}"), &format!("called at {at}"))) } }
                }
                "serving" => {
                    @let w = t.window.unwrap_or(0);
                    p.big #serving data-window=(w) { (lang.t(&format!("正在 {w} 号窗口办理"), &format!("Being served at window {w}"))) }
                }
                "done" => {
                    p.big #done { (lang.t("已办结，感谢您的耐心。", "Finished. Thank you for your patience.")) }
                    @if let Some(c) = &t.case { p { (lang.t("办件编号：", "Case number: ")) code { (c) } } }
                }
                _ => {
                    p.big #missed { (lang.t("已过号", "Missed")) }
                    p { (lang.t("叫号时您不在，请到服务台重新排队。", "You were called but not there: ask at the help desk to queue again.")) }
                }
            }
        }
    }
}

/// `/ticket/{hall}/{day}/{ticket}`: a visitor's own ticket.
pub async fn ticket(
    State(web): State<AppState>,
    lang: Lang,
    Path((hall, day, number)): Path<(String, String, String)>,
) -> Response {
    let poll = format!("/api/tickets/{hall}/{day}/{number}");
    let live_kind = Some(Live { kind: "ticket", url: &poll });
    let (live, t) = match lookup(&web, &hall, &day, &number) {
        Lookup::Found(live, t) => (live, t),
        Lookup::NoHall => return no_hall(lang),
        Lookup::NoTicket { day_is_today } => {
            let body = page(
                lang,
                lang.one("未找到号票", "Ticket not found"),
                live_kind,
                html! {
                    h1 #not-found { (lang.t("未找到这张号票", "Ticket not found")) }
                    div role="alert" {
                        @if day_is_today {
                            p { (lang.t(
                                &format!("今天没有号码 {number}。刚取的号可能需要几秒钟才显示，本页会自动更新。"),
                                &format!("There is no ticket {number} today. A ticket just taken can take a few seconds to appear; this page updates itself."),
                            )) }
                        } @else {
                            p { (lang.t(
                                &format!("号票只在取号当天有效，{day} 的号票已无法查询。"),
                                &format!("A ticket is valid on its own day only: tickets of {day} cannot be followed here."),
                            )) }
                        }
                        p { (lang.t("请核对号票上的大厅、日期和号码，或到服务台咨询。", "Check the hall, date and number on your ticket, or ask at the help desk.")) }
                    }
                    p { a href={ "/halls/" (hall) } { (lang.t("查看大厅实时状态", "See the hall's live status")) } }
                },
            );
            return (StatusCode::NOT_FOUND, body).into_response();
        }
    };
    let now = web.core.now();
    let v = &live.view;
    page(
        lang,
        &format!("{} {}", lang.one("号票", "Ticket"), t.ticket),
        live_kind,
        html! {
            h1 { (lang.t("您的号票", "Your ticket")) " " span #ticket-number.number { (t.ticket) } }
            p.meta {
                (lang.t(&t.service_name.zh, &t.service_name.en)) " · "
                a href={ "/halls/" (v.hall) } { (lang.t(&v.hall_name.zh, &v.hall_name.en)) } " · "
                (lang.t(&format!("{} 取号", t.issued_at), &format!("taken at {}", t.issued_at)))
            }
            section.ticket aria-labelledby="status-h" aria-live="polite" {
                h2 #status-h.visually-hidden { (lang.t("当前状态", "Status now")) }
                (ticket_status(lang, &t))
            }
            p #state.state {
                span #liveness { (liveness(lang, &live, now)) }
                " · "
                span #updated { (lang.t(&format!("更新于 {}", now.local_hm(live.utc_offset_minutes)), &format!("updated {}", now.local_hm(live.utc_offset_minutes)))) }
            }
            p.hint { (lang.t("本页每 5 秒自动更新，请留意大厅叫号。", "This page updates itself every 5 seconds; listen for your number in the hall too.")) }
        },
    )
    .into_response()
}

/// `/api/tickets/{hall}/{day}/{ticket}`: a ticket's state, for its page.
pub async fn api_ticket(
    State(web): State<AppState>,
    Path((hall, day, number)): Path<(String, String, String)>,
) -> Response {
    match lookup(&web, &hall, &day, &number) {
        Lookup::Found(live, t) => {
            let now = web.core.now();
            (
                [(header::CACHE_CONTROL, "no-cache")],
                Json(serde_json::json!({
                    "ticket": t,
                    "online": live.heard.online,
                    "last_heard_ms": live.heard.last_heard_ms(),
                    "last_heard_min": live.heard.minutes_ago(now),
                    "last_heard_at": live.heard.last_heard_ms().map(|t| Timestamp(t).local_hm(live.utc_offset_minutes)),
                    "built_at": now.local_hm(live.utc_offset_minutes),
                })),
            )
                .into_response()
        }
        Lookup::NoHall => {
            (StatusCode::NOT_FOUND, Json(serde_json::json!({ "error": "no such hall" }))).into_response()
        }
        Lookup::NoTicket { .. } => {
            (StatusCode::NOT_FOUND, Json(serde_json::json!({ "error": "no such ticket today" })))
                .into_response()
        }
    }
}
