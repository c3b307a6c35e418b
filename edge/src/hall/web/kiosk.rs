//! The kiosk: choose a service, then swipe a campus card, type or scan a booking code, or take
//! an anonymous ticket. A visitor who booked online can also just scan their confirmation's QR
//! code on the first page: the booking says which service. The ticket shows on screen as well
//! as on paper.

use super::{Lang, Web, failed_json, failed_page, page, problem, script};
use crate::hall::core::Done;
use crate::script::Request;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use futures_util::Stream;
use maud::{Markup, html};
use onestop_engine::Command;
use onestop_model::{Priority, ServiceId, Source};
use serde::Deserialize;
use std::collections::BTreeMap;

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/kiosk", get(services))
        .route("/kiosk/service/{id}", get(service))
        .route("/kiosk/issue", post(issue))
        .route("/kiosk/swipes", get(swipes))
        .route("/api/tickets", post(api_issue))
}

async fn services(State(web): State<Web>, lang: Lang) -> Markup {
    let v = web.hall.view();
    let mut by_dept: BTreeMap<String, (super::super::view::Label, Vec<_>)> = BTreeMap::new();
    for s in &v.services {
        by_dept
            .entry(s.department.zh.clone())
            .or_insert_with(|| (s.department.clone(), Vec::new()))
            .1
            .push(s);
    }
    page(
        lang,
        "取号 / Take a number",
        "kiosk",
        html! {
            header.bar { h1 { (lang.t(&v.hall_name.zh, &v.hall_name.en)) } p { (lang.t("请选择办理的业务", "Choose a service")) } }
            form.booked method="post" action="/kiosk/issue" {
                input type="hidden" name="service" value="";
                input type="hidden" name="how" value="booking";
                label { (lang.t("已在网上预约？请扫描预约二维码或输入预约码", "Booked online? Scan your booking's QR code or type its code")) br;
                    input #scan name="code" inputmode="text" autocomplete="off" autofocus maxlength="400" required; }
                button #scan-button type="submit" { (lang.t("预约签到", "Check in")) }
            }
            @for (_, (dept, list)) in &by_dept {
                section.dept {
                    h2 { (lang.t(&dept.zh, &dept.en)) }
                    div.grid {
                        @for s in list {
                            a.service href={ "/kiosk/service/" (s.id) } data-service=(s.id) {
                                strong { (lang.t(&s.name.zh, &s.name.en)) }
                                span.meta {
                                    (lang.t(&format!("等候 {} 人", s.waiting), &format!("{} waiting", s.waiting)))
                                    @if !s.open { " · " (lang.t("暂无窗口办理", "no window open")) }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

async fn service(State(web): State<Web>, lang: Lang, Path(id): Path<String>) -> Response {
    let v = web.hall.view();
    let Some(s) = v.services.iter().find(|s| s.id == id) else {
        return problem(
            lang,
            StatusCode::NOT_FOUND,
            &format!("本大厅不办理 {id} / this hall has no service {id}"),
            "/kiosk",
        );
    };
    let guide = web.hall.catalog().services.get(&ServiceId::new(&id)).map(|s| s.guide.clone());
    page(
        lang,
        &s.name.zh,
        "kiosk",
        html! {
            header.bar { h1 { (lang.t(&s.name.zh, &s.name.en)) }
                p { (lang.t(&format!("前面 {} 人，预计约 {} 分钟", s.waiting, s.wait_min), &format!("{} ahead, about {} min", s.waiting, s.wait_min))) } }
            @if let Some(g) = guide { @if !g.zh.is_empty() { p.guide { (lang.t(&g.zh, &g.en)) } } }
            div.ways {
                form #card-form method="post" action="/kiosk/issue" {
                    input type="hidden" name="service" value=(s.id);
                    input type="hidden" name="how" value="card";
                    input #card-token type="hidden" name="token" value="";
                    div.swipe { span.icon { "💳" } (lang.t("请刷校园卡取号", "Swipe your campus card")) }
                }
                form method="post" action="/kiosk/issue" {
                    input type="hidden" name="service" value=(s.id);
                    input type="hidden" name="how" value="booking";
                    label { (lang.t("预约码（可扫码）", "Booking code (or scan it)")) br;
                        input #booking name="code" inputmode="text" autocomplete="off" maxlength="400" required; }
                    button type="submit" { (lang.t("预约取号", "Check in my booking")) }
                }
                form method="post" action="/kiosk/issue" {
                    input type="hidden" name="service" value=(s.id);
                    input type="hidden" name="how" value="anonymous";
                    label.care { input type="checkbox" name="priority" value="care"; (lang.t("老弱病残孕优先", "Priority (elderly, disabled, pregnant)")) }
                    button #anonymous type="submit" { (lang.t("直接取号", "Take a ticket")) }
                }
            }
            p { a href="/kiosk" { (lang.t("返回", "Back")) } }
            (script(r#"
const es = new EventSource('/kiosk/swipes');
es.addEventListener('swipe', e => {
  document.getElementById('card-token').value = e.data;
  es.close();
  document.getElementById('card-form').submit();
});
setTimeout(() => { location.href = '/kiosk'; }, 90000);
"#))
        },
    )
    .into_response()
}

#[derive(Deserialize)]
struct IssueForm {
    service: String,
    how: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    priority: Option<String>,
}

fn priority_of(p: Option<&str>) -> Result<Priority, String> {
    match p.unwrap_or("normal") {
        "normal" | "" => Ok(Priority::Normal),
        "care" => Ok(Priority::Care),
        "green" => Ok(Priority::Green),
        other => Err(format!("未知的优先级 {other} / unknown priority '{other}' (normal, care or green)")),
    }
}

async fn issue(State(web): State<Web>, lang: Lang, Form(f): Form<IssueForm>) -> Response {
    let back =
        if f.service.is_empty() { "/kiosk".to_string() } else { format!("/kiosk/service/{}", f.service) };
    let priority = match priority_of(f.priority.as_deref()) {
        Ok(p) => p,
        Err(e) => return problem(lang, StatusCode::BAD_REQUEST, &e, &back),
    };
    let service = ServiceId::new(&f.service);
    let req = match f.how.as_str() {
        "anonymous" => Request::Command(Command::Issue { service, source: Source::Anonymous, priority }),
        "booking" => {
            let code = f.code.trim().to_uppercase();
            if code.is_empty() {
                return problem(
                    lang,
                    StatusCode::BAD_REQUEST,
                    "请输入预约码 / enter your booking code",
                    &back,
                );
            }
            let service = (!f.service.is_empty()).then_some(service);
            Request::IssueByBooking { service, code, priority }
        }
        "card" => {
            let card = web.swipes.lock().unwrap_or_else(|e| e.into_inner()).redeem(&f.token);
            let Some(card) = card else {
                return problem(
                    lang,
                    StatusCode::BAD_REQUEST,
                    "刷卡已过期，请重新刷卡 / the card swipe has expired: swipe again",
                    &back,
                );
            };
            Request::IssueByCard { service, card, priority }
        }
        other => {
            return problem(
                lang,
                StatusCode::BAD_REQUEST,
                &format!("unknown way to take a ticket: {other}"),
                &back,
            );
        }
    };
    match web.hall.run(req).await {
        Ok(done) => ticket_page(&web, lang, &done).into_response(),
        Err(e) => failed_page(lang, &e, &back),
    }
}

fn ticket_page(web: &Web, lang: Lang, done: &Done) -> Markup {
    let v = web.hall.view();
    let Some(i) = &done.issued else {
        return page(lang, "取号 / Ticket", "kiosk", html! { p { (lang.t("已办理", "Done")) } });
    };
    let printer_trouble = v.incidents.iter().any(|x| x.device == "printer");
    page(
        lang,
        &i.number,
        "kiosk ticket-page",
        html! {
            div.ticket role="status" {
                p { (lang.t("您的号码", "Your number")) }
                p #ticket-number.number { (i.number) }
                p.service { (lang.t(&i.service, &i.service_en)) }
                p { (lang.t(&format!("前面还有 {} 人", i.ahead), &format!("{} ahead of you", i.ahead))) }
                p { (lang.t(&format!("预计等候约 {} 分钟", i.wait_minutes), &format!("about {} min", i.wait_minutes))) }
                p.time { (i.issued_at) }
                @if printer_trouble {
                    p.warning role="alert" { (lang.t("打印机故障：请记下您的号码，叫号照常进行", "The printer is down: please note your number; calling goes on as usual")) }
                } @else {
                    p { (lang.t("请取走号票，留意叫号", "Take your ticket and listen for your number")) }
                }
            }
            p { a.button href="/kiosk" { (lang.t("完成", "Done")) } }
            (script("setTimeout(() => { location.href = '/kiosk'; }, 20000);"))
        },
    )
}

async fn swipes(State(web): State<Web>) -> Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>> {
    let rx = web.kiosk_swipes.subscribe();
    let stream = tokio_stream::wrappers::BroadcastStream::new(rx).filter_map_ok();
    Sse::new(stream).keep_alive(KeepAlive::default())
}

trait FilterOk {
    fn filter_map_ok(self) -> impl Stream<Item = Result<Event, std::convert::Infallible>>;
}

impl FilterOk for tokio_stream::wrappers::BroadcastStream<super::KioskSwipe> {
    fn filter_map_ok(self) -> impl Stream<Item = Result<Event, std::convert::Infallible>> {
        use futures_util::StreamExt;
        self.filter_map(|r| async move { r.ok().map(|s| Ok(Event::default().event("swipe").data(s.token))) })
    }
}

/// `POST /api/tickets`: a ticket for a self-service terminal or a load test.
#[derive(Deserialize)]
struct ApiIssue {
    /// May be left empty with a booking: the booking's own service.
    #[serde(default)]
    service: String,
    #[serde(default)]
    card: Option<String>,
    #[serde(default)]
    booking: Option<String>,
    #[serde(default)]
    priority: Option<String>,
}

async fn api_issue(State(web): State<Web>, Json(a): Json<ApiIssue>) -> Response {
    let priority = match priority_of(a.priority.as_deref()) {
        Ok(p) => p,
        Err(e) => return (StatusCode::BAD_REQUEST, Json(serde_json::json!({ "error": e }))).into_response(),
    };
    let service = ServiceId::new(&a.service);
    let req = match (a.card, a.booking) {
        (Some(card), None) => Request::IssueByCard { service, card, priority },
        (None, Some(code)) => {
            let service = (!a.service.is_empty()).then_some(service);
            Request::IssueByBooking { service, code, priority }
        }
        (None, None) => Request::Command(Command::Issue { service, source: Source::Anonymous, priority }),
        (Some(_), Some(_)) => {
            let e = "give a card or a booking code, not both";
            return (StatusCode::BAD_REQUEST, Json(serde_json::json!({ "error": e }))).into_response();
        }
    };
    match web.hall.run(req).await {
        Ok(Done { issued: Some(i), .. }) => Json(serde_json::json!({
            "ticket": i.number,
            "service": i.service,
            "ahead": i.ahead,
            "wait_min": i.wait_minutes,
            "issued_at": i.issued_at,
        }))
        .into_response(),
        Ok(_) => {
            let e = "no ticket was issued";
            (StatusCode::INTERNAL_SERVER_ERROR, Json(serde_json::json!({ "error": e, "kind": "internal" })))
                .into_response()
        }
        Err(e) => failed_json(&e),
    }
}
