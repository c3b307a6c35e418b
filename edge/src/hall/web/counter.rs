//! The window staff's counter page (log in = attendance; call, recall, pause, transfer, no-show,
//! start, finish and register the case; the waiting queue; log out) and the visitor's rating
//! tablet page.

use super::auth::Staff;
use super::{Lang, Web, failed_page, failure, page, problem, script};
use crate::script::Request;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, html};
use onestop_engine::Command;
use onestop_model::{CaseKind, Level, Placement, Rating, ServiceId, StaffId, TicketNo, TransferTarget};
use onestop_webkit::csrf_field;
use serde::Deserialize;

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/counter", get(login_page))
        .route("/counter/login", post(login))
        .route("/counter/login-card", post(login_card))
        .route("/counter/logout", post(logout))
        .route("/counter/window/{w}", get(window_page))
        .route("/counter/window/{w}/case", get(case_page))
        .route("/counter/window/{w}/{action}", post(act))
        .route("/rate", get(rate_index))
        .route("/rate/{w}", get(rate_page).post(rate))
}

async fn login_page(State(web): State<Web>, lang: Lang) -> Markup {
    let v = web.hall.view();
    page(
        lang,
        "窗口登录 / Counter login",
        "counter",
        html! {
            h1 { (lang.t("窗口工作台登录", "Counter login")) }
            p { (lang.t("登录即签到，退出即签退。", "Logging in records your attendance; logging out ends it.")) }
            form #login method="post" action="/counter/login" {
                label { (lang.t("窗口", "Window")) br;
                    select #window name="window" {
                        @for w in &v.windows {
                            option value=(w.no) { (w.no) " · " (lang.one(&w.name.zh, &w.name.en)) @if let Some(s) = &w.staff { " (" (s) ")" } }
                        }
                        option value="" { (lang.one("（大厅管理，不进窗口）", "(hall manager, no window)")) }
                    }
                }
                label { (lang.t("工号", "Staff id")) br; input #staff name="staff" required autocomplete="username"; }
                label { (lang.t("密码（PIN）", "PIN")) br; input #pin name="pin" type="password" inputmode="numeric" required autocomplete="current-password"; }
                button #login-button type="submit" { (lang.t("登录", "Log in")) }
            }
            p.hint { (lang.t("也可在所选窗口的读卡器上刷工作证登录。", "Or swipe your staff card at the chosen window's reader.")) }
            (script(r#"
setInterval(async () => {
  const w = document.getElementById('window').value;
  if (!w) return;
  const r = await fetch('/counter/login-card', {method: 'POST', headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'window=' + w});
  if (r.status === 200) location.href = '/counter/window/' + w;
}, 1500);
"#))
        },
    )
}

#[derive(Deserialize)]
struct LoginForm {
    window: String,
    staff: String,
    pin: String,
}

async fn login(State(web): State<Web>, lang: Lang, Form(f): Form<LoginForm>) -> Response {
    let staff = StaffId::new(f.staff.trim());
    if let Some(minutes) = web.pins.locked(staff.as_str()) {
        tracing::warn!(message = "A locked staff id was tried at the counter.", staff = %staff);
        return problem(
            lang,
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "该工号密码错误次数过多，请 {minutes} 分钟后再试 / too many wrong PINs for this staff id: try again in {minutes} min"
            ),
            "/counter",
        );
    }
    let person = web.hall.catalog().staff.get(&staff).cloned();
    // The hash is checked even for unknown ids, so the answer takes as long either way.
    let hash = person.as_ref().map(|p| p.pin_hash.clone()).unwrap_or_else(|| DUMMY_HASH.clone());
    let pin = f.pin.clone();
    let knows = person.is_some();
    let ok = web
        .pins
        .check(staff.as_str(), knows, move || onestop_protocol::secrets::verify_pin(&hash, &pin))
        .await;
    let Some(person) = person.filter(|_| ok) else {
        return problem(
            lang,
            StatusCode::UNAUTHORIZED,
            "工号或密码不正确 / wrong staff id or PIN",
            "/counter",
        );
    };
    open_session(&web, lang, staff, person.name, &f.window).await
}

/// The hash checked for an unknown staff id: a real argon2 hash of a PIN of the valid shape (a
/// malformed PIN would make the hash fail, and with it every unknown-id login after the first).
/// Whatever it matches, an unknown id never logs in.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    onestop_protocol::secrets::hash_pin("000000000000").unwrap_or_else(|_| "$argon2id$unusable".to_string())
});

async fn open_session(web: &Web, lang: Lang, staff: StaffId, name: String, window: &str) -> Response {
    let manager = web.managers.iter().any(|m| m == staff.as_str());
    let window: Option<u16> = match window.trim() {
        "" => None,
        w => match w.parse() {
            Ok(n) => Some(n),
            Err(_) => {
                return problem(
                    lang,
                    StatusCode::BAD_REQUEST,
                    &format!("没有窗口 {w} / there is no window {w}"),
                    "/counter",
                );
            }
        },
    };
    let Some(w) = window else {
        if !manager {
            return problem(
                lang,
                StatusCode::FORBIDDEN,
                "仅大厅管理员可不选窗口登录 / only hall managers may log in without a window",
                "/counter",
            );
        }
        let (_, cookie) = web.sessions.open(staff.to_string(), name, None, true);
        return ([(header::SET_COOKIE, cookie)], Redirect::to("/manager")).into_response();
    };
    let view = web.hall.view();
    let already_here = view.window(w).and_then(|x| x.staff_id.as_deref()) == Some(staff.as_str());
    if !already_here {
        // Logging in is checking in: the attendance record.
        if let Err(e) =
            web.hall.run(Request::Command(Command::CheckIn { window: w, staff: staff.clone() })).await
        {
            return failed_page(lang, &e, "/counter");
        }
    }
    tracing::info!(message = "Staff logged in.", staff = %staff, window = w);
    let (_, cookie) = web.sessions.open(staff.to_string(), name, Some(w), manager);
    ([(header::SET_COOKIE, cookie)], Redirect::to(&format!("/counter/window/{w}"))).into_response()
}

#[derive(Deserialize)]
struct CardLogin {
    window: u16,
}

async fn login_card(State(web): State<Web>, lang: Lang, Form(f): Form<CardLogin>) -> Response {
    let Some(card) = web.sessions.take_card(f.window) else {
        return StatusCode::NO_CONTENT.into_response();
    };
    let person =
        web.hall.catalog().staff.values().find(|s| s.card.as_deref() == Some(card.as_str())).cloned();
    let Some(person) = person else {
        tracing::warn!(message = "A card that is no staff card was swiped at a window.", window = f.window);
        return problem(
            lang,
            StatusCode::UNAUTHORIZED,
            "这不是工作证 / this is not a staff card",
            "/counter",
        );
    };
    let mut r = open_session(&web, lang, person.id.clone(), person.name.clone(), &f.window.to_string()).await;
    if r.status().is_redirection() {
        *r.status_mut() = StatusCode::OK;
    }
    r
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: String,
}

async fn logout(State(web): State<Web>, lang: Lang, staff: Staff, Form(f): Form<CsrfOnly>) -> Response {
    if let Err(r) = staff.check_csrf(lang, &f.csrf) {
        return r;
    }
    if let Some(w) = staff.0.window {
        let view = web.hall.view();
        if view.window(w).and_then(|x| x.staff_id.as_deref()) == Some(staff.0.staff.as_str())
            && let Err(e) = web.hall.run(Request::Command(Command::CheckOut { window: w })).await
        {
            return failed_page(lang, &e, &format!("/counter/window/{w}"));
        }
    }
    let cookie = web.sessions.close(&staff.0.token);
    ([(header::SET_COOKIE, cookie)], Redirect::to("/counter")).into_response()
}

fn own_window(lang: Lang, staff: &Staff, w: u16) -> Result<(), Response> {
    if staff.0.window == Some(w) {
        Ok(())
    } else {
        Err(problem(
            lang,
            StatusCode::FORBIDDEN,
            &format!("您未登录 {w} 号窗口 / you are not logged in at window {w}"),
            "/counter",
        ))
    }
}

async fn window_page(State(web): State<Web>, lang: Lang, staff: Staff, Path(w): Path<u16>) -> Response {
    if let Err(r) = own_window(lang, &staff, w) {
        return r;
    }
    let v = web.hall.view();
    let Some(win) = v.window(w) else {
        return problem(
            lang,
            StatusCode::NOT_FOUND,
            &format!("没有窗口 {w} / there is no window {w}"),
            "/counter",
        );
    };
    if win.staff_id.as_deref() != Some(staff.0.staff.as_str()) {
        // Checked out meanwhile (another login, or the day ended): the session is over.
        web.sessions.close(&staff.0.token);
        return Redirect::to("/counter").into_response();
    }
    let flash = web.sessions.take_flash(&staff.0.token);
    let csrf = &staff.0.csrf;
    let form = |action: &str, label: Markup, extra: Markup| {
        html! {
            form.action method="post" action={ "/counter/window/" (w) "/" (action) } {
                (csrf_field(csrf))
                (extra)
                button id={ "do-" (action) } type="submit" { (label) }
            }
        }
    };
    let none = html! {};
    let body = html! {
        header.bar {
            h1 { (lang.t(&format!("{} 号窗口", w), &format!("Window {w}"))) " · " (lang.one(&win.name.zh, &win.name.en)) }
            span { (staff.0.name) }
            form method="post" action="/counter/logout" { (csrf_field(csrf)) button #logout type="submit" { (lang.t("签退", "Log out")) } }
        }
        @if let Some(m) = flash { p #message.message role="status" { (m) } }
        section.current {
            h2 { (lang.t("当前", "Now")) }
            @match (&win.current, win.state) {
                (Some(t), Some("serving")) => { p #current.number { (t) } p { (lang.t("办理中", "being served")) } }
                (Some(t), _) => { p #current.number { (t) } p { (lang.t("已叫号，等待到窗", "called, on the way")) } }
                _ => { p #current.idle { (lang.t("空闲", "free")) } }
            }
            @if let Some(p) = &win.paused { p.paused role="status" { (lang.t("暂停中：", "Paused: ")) (p) } }
            @if let Some(r) = &win.to_rate { p.rate { (lang.t(&format!("{r} 待评价"), &format!("{r} may rate the service"))) } }
        }
        section.actions {
            @if win.paused.is_some() {
                (form("resume", lang.t("恢复", "Resume"), none.clone()))
            } @else {
                (form("call-next", html! { (lang.t("叫下一位", "Call next")) @if let Some(n) = &win.next { " (" (n) ")" } }, none.clone()))
                @if win.current.is_some() {
                    (form("recall", lang.t("重呼", "Recall"), none.clone()))
                    @if win.state == Some("called") {
                        (form("start", lang.t("开始办理", "Start"), none.clone()))
                        (form("no-show", lang.t("过号", "No-show"), none.clone()))
                    }
                    (form("finish-immediate", lang.t("办结（即办件）", "Finish (immediate)"), none.clone()))
                    (form("finish-pending", lang.t("受理（承诺件）", "Register (pending review)"), none.clone()))
                    (form("transfer", lang.t("转窗口/业务", "Transfer"), html! {
                        select name="to" {
                            @for o in &v.windows { @if o.no != w { option value={ "window:" (o.no) } { (lang.one("窗口 ", "window ")) (o.no) } } }
                            @for s in &v.services { option value={ "service:" (s.id) } { (lang.one(&s.name.zh, &s.name.en)) } }
                        }
                        select name="placement" {
                            option value="front" { (lang.one("排在最前", "to the front")) }
                            option value="original" { (lang.one("保留原位", "keep its place")) }
                            option value="back" { (lang.one("排到最后", "to the back")) }
                        }
                    }))
                }
                (form("pause", lang.t("暂停", "Pause"), html! {
                    input name="reason" required maxlength="100" placeholder=(lang.one("原因", "reason"));
                }))
            }
        }
        section.queue {
            h2 { (lang.t(&format!("等候 {} 人", win.queue.len()), &format!("{} waiting", win.queue.len()))) }
            ol #queue {
                @for t in &win.queue {
                    li { (t) " "
                        form.inline method="post" action={ "/counter/window/" (w) "/call" } {
                            (csrf_field(csrf))
                            input type="hidden" name="ticket" value=(t);
                            button type="submit" { (lang.one("叫此号", "call")) }
                        }
                    }
                }
            }
        }
        (case_form(lang, w, ""))
        (script(&format!("const SHOWN = {};\n{}", v.version, FOLLOW_JS)))
    };
    page(lang, &format!("{w} 号窗口 / Window {w}"), "counter", body).into_response()
}

/// The case lookup on the counter page: a case's status as the hall holds it.
fn case_form(lang: Lang, w: u16, number: &str) -> Markup {
    html! {
        section.case-lookup {
            h2 { (lang.t("办件查询", "Case lookup")) }
            form #case-lookup method="get" action={ "/counter/window/" (w) "/case" } {
                input #case-number name="number" value=(number) required maxlength="64"
                    placeholder=(lang.one("办件编号", "case number")) autocomplete="off";
                button #do-case type="submit" { (lang.t("查询", "Look up")) }
            }
        }
    }
}

#[derive(Deserialize)]
struct CaseQuery {
    #[serde(default)]
    number: String,
}

/// `GET /counter/window/{w}/case?number=…`: a case of this hall with its status and timeline,
/// including the steps the back office added (they arrive over sync).
async fn case_page(
    State(web): State<Web>,
    lang: Lang,
    staff: Staff,
    Path(w): Path<u16>,
    axum::extract::Query(q): axum::extract::Query<CaseQuery>,
) -> Response {
    if let Err(r) = own_window(lang, &staff, w) {
        return r;
    }
    let number = q.number.trim();
    let found = match number {
        "" => None,
        n => Some(web.hall.case(&onestop_model::CaseNo::new(n)).await),
    };
    let catalog = web.hall.catalog();
    let body = html! {
        p { a href={ "/counter/window/" (w) } { (lang.t("返回窗口", "Back to the window")) } }
        (case_form(lang, w, number))
        @match &found {
            Some(Ok(Some(case))) => {
                @let offset = catalog.offset_of(&case.hall);
                @let status = case.status();
                dl #case {
                    dt { (lang.t("办件编号", "Case")) } dd { (case.number) }
                    dt { (lang.t("事项", "Service")) }
                    dd { @match catalog.services.get(&case.service) { Some(s) => (lang.t(&s.name.zh, &s.name.en)), None => (case.service) } }
                    dt { (lang.t("号票", "Ticket")) } dd { (case.ticket) }
                    dt { (lang.t("当前状态", "Status")) }
                    dd #case-status data-status=(status.as_str()) { strong { (lang.t(status.zh(), status.en())) } }
                }
                ol #case-timeline {
                    @for s in &case.history {
                        li data-status=(s.status.as_str()) {
                            (s.at.day(offset)) " " (s.at.local_hm(offset)) " · "
                            (lang.t(s.status.zh(), s.status.en())) " · " (s.by)
                            @if let Some(r) = &s.reason { " · " (r) }
                        }
                    }
                }
            }
            Some(Ok(None)) => p #no-case.error role="alert" { (lang.t("本大厅没有这个办件", "There is no such case in this hall")) }
            Some(Err(e)) => p #case-error.error role="alert" { (failure(e).1) }
            None => {}
        }
    };
    // The lookup's answer is the status too: a case that is not here is 404, a store that
    // cannot be read is the hall's failure.
    let status = match &found {
        Some(Ok(None)) => StatusCode::NOT_FOUND,
        Some(Err(e)) => failure(e).0,
        Some(Ok(Some(_))) | None => StatusCode::OK,
    };
    (status, page(lang, "办件查询 / Case lookup", "counter", body)).into_response()
}

/// Reloads the page when the hall changes, unless someone is typing or a form is on its way
/// (its answer is the next page).
const FOLLOW_JS: &str = r#"
let leaving = false;
addEventListener('submit', () => { leaving = true; });
const es = new EventSource('/display/events');
es.addEventListener('view', e => {
  const v = JSON.parse(e.data);
  const typing = document.activeElement && ['INPUT', 'SELECT'].includes(document.activeElement.tagName);
  if (v.version > SHOWN && !typing && !leaving) { es.close(); location.reload(); }
});
"#;

#[derive(Deserialize)]
struct ActForm {
    csrf: String,
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    placement: String,
}

async fn act(
    State(web): State<Web>,
    lang: Lang,
    staff: Staff,
    Path((w, action)): Path<(u16, String)>,
    Form(f): Form<ActForm>,
) -> Response {
    if let Err(r) = staff.check_csrf(lang, &f.csrf) {
        return r;
    }
    if let Err(r) = own_window(lang, &staff, w) {
        return r;
    }
    let back = format!("/counter/window/{w}");
    let cmd = match command_for(w, &action, &f) {
        Ok(c) => c,
        Err(e) => return problem(lang, StatusCode::BAD_REQUEST, &e, &back),
    };
    let message = match web.hall.run(Request::Command(cmd)).await {
        Ok(done) => match (&done.outcome.case, action.as_str()) {
            (Some(case), _) => format!(
                "已登记办件 {} · 查询码 {} / case {} registered, verification code {}",
                case.number, case.code, case.number, case.code
            ),
            _ => done.outcome.events.iter().map(describe).collect::<Vec<_>>().join("; "),
        },
        // A refusal is the staff member's to read on the window's page ("no one is waiting").
        Err(e) if e.is_refusal() => e.to_string(),
        // The hall did not do it: not a message among others, but a page that says so.
        Err(e) => return failed_page(lang, &e, &back),
    };
    web.sessions.flash(&staff.0.token, message);
    Redirect::to(&back).into_response()
}

fn command_for(w: u16, action: &str, f: &ActForm) -> Result<Command, String> {
    Ok(match action {
        "call-next" => Command::CallNext { window: w },
        "call" => Command::CallTicket {
            window: w,
            ticket: f.ticket.trim().parse::<TicketNo>().map_err(|e| e.to_string())?,
        },
        "recall" => Command::Recall { window: w },
        "no-show" => Command::MarkNoShow { window: w },
        "start" => Command::Start { window: w },
        "finish-immediate" => Command::Finish { window: w, kind: Some(CaseKind::Immediate) },
        "finish-pending" => Command::Finish { window: w, kind: Some(CaseKind::Pending) },
        "pause" => {
            let reason = f.reason.trim();
            if reason.is_empty() {
                return Err("请填写暂停原因 / give a reason for the pause".into());
            }
            Command::Pause { window: w, reason: reason.chars().take(100).collect() }
        }
        "resume" => Command::Resume { window: w },
        "transfer" => {
            let to = match f.to.split_once(':') {
                Some(("window", n)) => {
                    TransferTarget::Window(n.parse().map_err(|_| format!("no window {n}"))?)
                }
                Some(("service", s)) if !s.is_empty() => TransferTarget::Service(ServiceId::new(s)),
                _ => return Err(format!("转到哪里？/ transfer to what? '{}'", f.to)),
            };
            let placement = Placement::parse(&f.placement)
                .ok_or_else(|| format!("'{}' is not front, original or back", f.placement))?;
            Command::Transfer { window: w, to, placement }
        }
        other => return Err(format!("未知操作 / unknown action '{other}'")),
    })
}

fn describe(ev: &onestop_model::DayEvent) -> String {
    use onestop_model::DayEvent as E;
    match ev {
        E::Called { ticket, .. } => format!("已叫 {ticket} / called {ticket}"),
        E::Recalled { ticket, .. } => format!("已重呼 {ticket} / recalled {ticket}"),
        E::NoShow { ticket, .. } => format!("{ticket} 过号 / {ticket} did not come"),
        E::Started { ticket, .. } => format!("开始办理 {ticket} / serving {ticket}"),
        E::Transferred { ticket, .. } => format!("{ticket} 已转出 / {ticket} transferred"),
        E::Paused { .. } => "已暂停 / paused".into(),
        E::Resumed { .. } => "已恢复 / resumed".into(),
        E::Finished { ticket, .. } => format!("{ticket} 已办结 / {ticket} finished"),
        _ => "已完成 / done".into(),
    }
}

async fn rate_index(State(web): State<Web>, lang: Lang) -> Markup {
    let v = web.hall.view();
    page(
        lang,
        "服务评价 / Rating",
        "rate",
        html! {
            h1 { (lang.t("选择窗口", "Choose the window")) }
            ul.menu { @for w in &v.windows { li { a href={ "/rate/" (w.no) } { (lang.t(&format!("{} 号窗口", w.no), &format!("Window {}", w.no))) } } } }
        },
    )
}

async fn rate_page(State(web): State<Web>, lang: Lang, Path(w): Path<u16>) -> Response {
    let v = web.hall.view();
    let Some(win) = v.window(w) else {
        return problem(
            lang,
            StatusCode::NOT_FOUND,
            &format!("没有窗口 {w} / there is no window {w}"),
            "/rate",
        );
    };
    let body = html! {
        h1 { (lang.t(&format!("{w} 号窗口 · 服务评价"), &format!("Window {w} · rate our service"))) }
        @if let Some(t) = &win.to_rate {
            p { (lang.t(&format!("请为 {t} 的办理评价"), &format!("How was the service for {t}?"))) }
            form #rate method="post" action={ "/rate/" (w) } {
                @for level in Level::ALL {
                    button.level name="level" value=(level.score()) id={ "level-" (level.score()) } type="submit" { (lang.t(level.zh(), level.en())) }
                }
            }
        } @else {
            p #idle { (lang.t("感谢您的到来", "Thank you for coming")) }
        }
        (script(&format!("const SHOWN = {};\n{}", v.version, FOLLOW_JS)))
    };
    page(lang, "服务评价 / Rating", "rate", body).into_response()
}

#[derive(Deserialize)]
struct RateForm {
    level: i64,
}

async fn rate(State(web): State<Web>, lang: Lang, Path(w): Path<u16>, Form(f): Form<RateForm>) -> Response {
    let back = format!("/rate/{w}");
    let Some(level) = Level::from_score(f.level) else {
        return problem(lang, StatusCode::BAD_REQUEST, "评价为 1–5 / a rating is 1 to 5", &back);
    };
    match web.hall.run(Request::Command(Command::Rate { window: w, rating: Rating::overall(level) })).await {
        Ok(_) => page(
            lang,
            "谢谢 / Thank you",
            "rate",
            html! {
                p #thanks.number { (lang.t("感谢您的评价！", "Thank you for your rating!")) }
                (script(&format!("setTimeout(() => {{ location.href = '{back}'; }}, 5000);")))
            },
        )
        .into_response(),
        Err(e) => failed_page(lang, &e, &back),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{NoDevices, Web, app};
    use crate::clock::ManualClock;
    use crate::hall::Hall;
    use crate::hall::core::NoOutputs;
    use crate::node::{Node, publish_catalog, share};
    use onestop_model::{CaseStatus, CaseStep, Day, HallId};
    use onestop_protocol::secrets::VisitorKey;
    use onestop_protocol::{DocId, Month, cases};
    use onestop_store::Store;
    use std::sync::Arc;

    /// A hall of the simulated catalogue, its core running in memory at 09:00 on `day`.
    fn started_hall(hall: &HallId, day: Day) -> (Hall, crate::node::SharedStore, ManualClock) {
        let clock = ManualClock::new(day.start(480).plus_minutes(9 * 60));
        let mut store = Store::open_in_memory().unwrap();
        publish_catalog(&mut store, &crate::sim::campus_catalog(hall, 2), crate::Clock::now(&clock)).unwrap();
        let shared = share(store);
        let node =
            Node::open(shared.clone(), hall.clone(), Box::new(clock.clone()), VisitorKey::new([3; 32]))
                .unwrap();
        let (core, _thread) =
            Hall::start(node, Box::new(NoOutputs), Box::new(()), Box::new(clock.clone())).unwrap();
        (core, shared, clock)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_counter_shows_a_case_with_the_steps_the_back_office_added() {
        let hall = HallId::new("main");
        let day = Day::new(2026, 11, 26).unwrap();
        let (core, shared, clock) = started_hall(&hall, day);
        let mut case = None;
        for line in ["check-in 1 s001", "issue registry-1", "call 1", "start 1", "finish 1 pending"] {
            let done = core.run(crate::script::parse(line).unwrap()).await.unwrap();
            case = done.outcome.case.or(case);
        }
        let number = case.expect("a pending case").number;
        // The back office's step, as sync delivers it: into the hall's shared store.
        let id = DocId::Cases { hall: hall.clone(), month: Month::of(day) };
        {
            let mut s = shared.lock().unwrap();
            let stamp = s.next_stamp(crate::Clock::now(&clock).plus_minutes(5));
            let step = CaseStep {
                at: crate::Clock::now(&clock).plus_minutes(5),
                status: CaseStatus::Approved,
                by: "reviewer".into(),
                reason: None,
            };
            s.write(stamp, |b| {
                b.edit(&id, |tx| {
                    cases::add_step(tx, &number, &step).map_err(onestop_store::StoreError::rejected)
                })
            })
            .unwrap();
        }
        let web = Web::new(core.clone(), Arc::new(NoDevices));
        let (_, cookie) = web.sessions.open("s001".into(), "工作人员1".into(), Some(1), false);
        let cookie = cookie.split(';').next().unwrap().to_string();
        // The pages on a real socket; plain HTTP/1.1 requests (no client crate needed).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app(web)).await });
        let get = |path: String, cookie: String| async move {
            tokio::task::spawn_blocking(move || {
                use std::io::{Read, Write};
                let mut c = std::net::TcpStream::connect(addr).unwrap();
                write!(
                    c,
                    "GET {path} HTTP/1.1\r\nHost: hall\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
                )
                .unwrap();
                let mut out = String::new();
                c.read_to_string(&mut out).unwrap();
                let status: u16 = out[9..12].parse().unwrap();
                (status, out)
            })
            .await
            .unwrap()
        };
        let (status, page) = get("/counter/window/1".into(), cookie.clone()).await;
        assert_eq!(status, 200);
        assert!(page.contains("id=\"case-lookup\""), "the counter page has the lookup");
        let (status, page) = get(format!("/counter/window/1/case?number={number}"), cookie.clone()).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("data-status=\"approved\"") && page.contains("审核通过"), "{page}");
        assert!(
            page.contains("reviewer") && page.contains("2026-11-26 09:05"),
            "the step, by whom and when: {page}"
        );
        let (status, page) =
            get("/counter/window/1/case?number=20261126-east-A001".into(), cookie.clone()).await;
        assert_eq!(status, 404, "{page}");
        assert!(page.contains("id=\"no-case\""), "another hall's number is not found here");
        let (status, _) = get(format!("/counter/window/2/case?number={number}"), cookie).await;
        assert_eq!(status, 403, "only at the staff member's own window");
        let (status, _) = get(format!("/counter/window/1/case?number={number}"), String::new()).await;
        assert_eq!(status, 303, "staff only");
        core.stop();
    }

    /// A login with a staff id the catalogue does not have is refused like a wrong PIN (401),
    /// every time: it used to panic the handler, and every later one too.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unknown_staff_ids_and_wrong_pins_are_refused_without_a_panic() {
        let (core, _, _) = started_hall(&HallId::new("main"), Day::new(2026, 11, 26).unwrap());
        let web = Web::new(core, Arc::new(NoDevices));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app(web)).await });
        let post = |body: &'static str| async move {
            tokio::task::spawn_blocking(move || {
                use std::io::{Read, Write};
                let mut c = std::net::TcpStream::connect(addr).unwrap();
                write!(
                    c,
                    "POST /counter/login HTTP/1.1\r\nHost: hall\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
                let mut out = String::new();
                c.read_to_string(&mut out).unwrap();
                out[9..12].parse::<u16>().unwrap()
            })
            .await
            .unwrap()
        };
        for _ in 0..2 {
            assert_eq!(post("window=1&staff=nobody&pin=1234").await, 401, "an unknown id");
        }
        assert_eq!(post("window=1&staff=s002&pin=9999").await, 401, "a wrong PIN");
        assert_eq!(post("window=1&staff=nobody&pin=").await, 401, "an empty PIN");
        assert_eq!(post("window=1&staff=s002&pin=2468").await, 303, "the right PIN still logs in");
        // Guessing: five wrong PINs lock the id, even for the right PIN; other ids go on.
        for _ in 0..5 {
            assert_eq!(post("window=2&staff=s003&pin=1111").await, 401);
        }
        assert_eq!(post("window=2&staff=s003&pin=2468").await, 429, "locked, the right PIN included");
        assert_eq!(post("window=2&staff=s004&pin=2468").await, 303, "another id is not locked");
        // An id the catalogue does not have (yet) is never locked: nothing logs in with it.
        for _ in 0..6 {
            assert_eq!(post("window=1&staff=nobody&pin=1234").await, 401);
        }
    }
}
