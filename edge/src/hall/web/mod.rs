//! The hall's pages on its LAN: kiosk, counter, display, rating, hall manager; `/metrics`.
//!
//! Chinese first, English second on every page (a cookie switches the order). Staff pages need
//! a staff session (PIN checked with argon2, or a staff card at the window's reader) and carry
//! a CSRF token in every form; visitor pages (kiosk, display, rating) need none.

// A refused request is an early `Err(Response)` throughout, as axum handlers are written.
#![allow(clippy::result_large_err)]

mod auth;
mod counter;
mod display;
mod kiosk;
mod manager;

use crate::hall::Hall;
use crate::hall::core::HallError;
use crate::node::ErrorKind;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, PreEscaped, html};
use std::sync::Arc;
use tokio::sync::broadcast;

pub use auth::Sessions;
/// The reader's language and cookies, as the cloud's pages have them (`onestop-webkit`).
pub use onestop_webkit::{Lang, cookie};

/// What the pages can ask of the devices.
pub trait DeviceControl: Send + Sync {
    /// Prints a test page.
    fn print_test(&self) -> Result<(), String>;
    /// Prints a ticket of today again.
    fn reprint(&self, ticket: &str) -> Result<(), String>;
    /// Each device's name and state, for the manager page.
    fn health(&self) -> Vec<(String, String)>;
    /// Simulated devices only: a card swiped at a reader (fed through the real decoder).
    fn simulate_card(&self, _reader: &str, _card: &str) -> Result<(), String> {
        Err("本节点没有模拟设备 / this node has no simulated devices".into())
    }
    /// Simulated devices only: the simulated printer's paper and cover ("ok", "paper-out",
    /// "paper-near-end", "cover-open").
    fn simulate_printer(&self, _state: &str) -> Result<(), String> {
        Err("本节点没有模拟设备 / this node has no simulated devices".into())
    }
    /// Simulated devices only: a key pressed on a keypad or button box.
    fn simulate_key(&self, _device: &str, _key: &str) -> Result<(), String> {
        Err("本节点没有模拟设备 / this node has no simulated devices".into())
    }
}

/// No devices to control.
pub struct NoDevices;
impl DeviceControl for NoDevices {
    fn print_test(&self) -> Result<(), String> {
        Err("本节点未配置打印机 / no printer is configured".into())
    }
    fn reprint(&self, _: &str) -> Result<(), String> {
        Err("本节点未配置打印机 / no printer is configured".into())
    }
    fn health(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// A card swiped at the kiosk, as the kiosk page learns of it (the number stays on the node).
#[derive(Debug, Clone)]
pub struct KioskSwipe {
    pub token: String,
}

/// The pages' shared state.
#[derive(Clone)]
pub struct Web {
    pub hall: Hall,
    pub sessions: Sessions,
    pub devices: Arc<dyn DeviceControl>,
    /// The website, for links to a ticket's page.
    pub website: Option<String>,
    pub managers: Arc<Vec<String>>,
    pub simulate: bool,
    /// Card swipes at the kiosk's reader, for the kiosk page.
    pub kiosk_swipes: broadcast::Sender<KioskSwipe>,
    pub swipes: Arc<std::sync::Mutex<auth::SwipeBook>>,
    /// Bounds and locks window PIN checks.
    pub pins: Arc<auth::PinGuard>,
}

impl Web {
    pub fn new(hall: Hall, devices: Arc<dyn DeviceControl>) -> Web {
        Web {
            hall,
            sessions: Sessions::default(),
            devices,
            website: None,
            managers: Arc::new(Vec::new()),
            simulate: false,
            kiosk_swipes: broadcast::channel(64).0,
            swipes: Arc::default(),
            pins: Arc::default(),
        }
    }

    /// A card swiped at the kiosk: kept for a short while under a one-time token the kiosk
    /// page may redeem.
    pub fn kiosk_card(&self, card: String) {
        let token = self.swipes.lock().unwrap_or_else(|e| e.into_inner()).keep(card);
        let _ = self.kiosk_swipes.send(KioskSwipe { token });
    }

    /// A staff card swiped at a window's reader: a one-time login for that window's page.
    pub fn window_card(&self, window: u16, card: String) {
        self.sessions.card_swiped(window, card);
    }
}

/// The pages, to be served (or called in tests).
pub fn app(web: Web) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/lang/{lang}", get(onestop_webkit::set_lang))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/api/view", get(api_view))
        .route("/style.css", get(style))
        .merge(kiosk::routes())
        .merge(counter::routes())
        .merge(display::routes())
        .merge(manager::routes())
        .route("/sim/card", post(sim_card))
        .route("/sim/key", post(sim_key))
        .route("/sim/printer", post(sim_printer))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(web)
}

/// The frame of every page: the shared head, the page's own `body` class, the language switch
/// at the foot.
pub fn page(lang: Lang, title: &str, class: &str, body: Markup) -> Markup {
    let body = html! {
        (body)
        footer.langs { (onestop_webkit::lang_switch(lang)) }
    };
    onestop_webkit::frame(lang, title, html! {}, Some(class), body)
}

async fn index(State(web): State<Web>, lang: Lang) -> Markup {
    let v = web.hall.view();
    page(
        lang,
        &v.hall_name.zh,
        "index",
        html! {
            h1 { (lang.t(&v.hall_name.zh, &v.hall_name.en)) }
            ul.menu {
                li { a href="/kiosk" { (lang.t("取号", "Take a number")) } }
                li { a href="/display" { (lang.t("叫号显示屏", "Hall display")) } }
                li { a href="/counter" { (lang.t("窗口工作台", "Window counter")) } }
                li { a href="/rate" { (lang.t("服务评价", "Rate the service")) } }
                li { a href="/manager" { (lang.t("大厅管理", "Hall manager")) } }
            }
        },
    )
}

/// The hall now, as JSON (what the display follows).
async fn api_view(State(web): State<Web>) -> axum::Json<crate::hall::HallView> {
    axum::Json((*web.hall.view()).clone())
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("style.css")).into_response()
}

async fn metrics(State(web): State<Web>) -> Response {
    use std::fmt::Write;
    use std::sync::atomic::Ordering::Relaxed;
    let s = web.hall.stats();
    let v = web.hall.view();
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, value: u64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
    };
    counter("onestop_commands_total", "Commands run by the hall core.", s.commands.load(Relaxed));
    counter(
        "onestop_commands_rejected_total",
        "Commands refused by the queue or booking rules (answered 409).",
        s.rejected.load(Relaxed),
    );
    counter(
        "onestop_commands_failed_total",
        "Commands that failed (the store could not save, or a bug); refusals are not counted here.",
        s.failed.load(Relaxed),
    );
    counter("onestop_tickets_issued_total", "Tickets issued since start.", s.issued.load(Relaxed));
    counter("onestop_calls_total", "Calls and recalls since start.", s.calls.load(Relaxed));
    counter(
        "onestop_command_seconds_sum_micros",
        "Time spent running commands (µs).",
        s.command_us_sum.load(Relaxed),
    );
    let mut gauge = |name: &str, help: &str, value: f64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
    };
    gauge("onestop_waiting", "Tickets waiting now.", v.figures.waiting as f64);
    gauge("onestop_windows_open", "Windows with staff checked in.", v.figures.windows_open as f64);
    gauge("onestop_incidents", "Device, link and store incidents now.", v.incidents.len() as f64);
    gauge(
        "onestop_clock_alarm",
        "1 when the wall clock is not believed (see the manager page); the node carries on from its last believed time.",
        if v.clock_alarm.is_some() { 1.0 } else { 0.0 },
    );
    gauge(
        "onestop_cloud_online",
        "1 when linked to the cloud.",
        if v.online == Some(true) { 1.0 } else { 0.0 },
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

#[derive(serde::Deserialize)]
struct SimCard {
    reader: String,
    card: String,
}

async fn sim_card(State(web): State<Web>, axum::Form(f): axum::Form<SimCard>) -> Response {
    if !web.simulate {
        return (StatusCode::NOT_FOUND, "no simulated devices").into_response();
    }
    match web.devices.simulate_card(&f.reader, &f.card) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct SimKey {
    device: String,
    key: String,
}

async fn sim_key(State(web): State<Web>, axum::Form(f): axum::Form<SimKey>) -> Response {
    if !web.simulate {
        return (StatusCode::NOT_FOUND, "no simulated devices").into_response();
    }
    match web.devices.simulate_key(&f.device, &f.key) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct SimPrinter {
    state: String,
}

async fn sim_printer(State(web): State<Web>, axum::Form(f): axum::Form<SimPrinter>) -> Response {
    if !web.simulate {
        return (StatusCode::NOT_FOUND, "no simulated devices").into_response();
    }
    match web.devices.simulate_printer(&f.state) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

/// A page that says what went wrong, with the right status.
pub fn problem(lang: Lang, status: StatusCode, message: &str, back: &str) -> Response {
    let body = page(
        lang,
        "出错了 / Error",
        "problem",
        html! {
            h1 { (lang.t("无法完成", "This could not be done")) }
            p.error role="alert" { (message) }
            p { a href=(back) { (lang.t("返回", "Back")) } }
        },
    );
    (status, body).into_response()
}

/// What the pages say when the hall cannot save: no path, no SQL, nothing for a visitor to
/// act on but asking staff (the details are in the log, and the manager sees an incident).
const CANNOT_SAVE: &str =
    "系统暂时无法保存，请联系工作人员 / The hall cannot save right now; please ask staff";
const UNAVAILABLE: &str =
    "系统暂时不可用，请稍后再试 / The hall's system is not available right now; please try again shortly";
const INTERNAL: &str =
    "系统出错，请联系工作人员 / Something went wrong in the hall's system; please ask staff";

/// How every page answers a request the hall did not run: the status and the message shown,
/// by the error's kind. A refusal is 409 with its own reason (bilingual, it says what to do); a
/// store that cannot save is 500 (an incident, not the asker's doing), the hall stopping 503, a
/// bug 500, each with a generic bilingual message: the details, paths included, are in the log.
pub fn failure(e: &HallError) -> (StatusCode, String) {
    match e.kind() {
        ErrorKind::Refused => (StatusCode::CONFLICT, e.to_string()),
        ErrorKind::Storage(_) => (StatusCode::INTERNAL_SERVER_ERROR, CANNOT_SAVE.into()),
        ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE.into()),
        ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, INTERNAL.into()),
    }
}

/// A page for a request the hall did not run (see [`failure`]).
pub fn failed_page(lang: Lang, e: &HallError, back: &str) -> Response {
    let (status, message) = failure(e);
    problem(lang, status, &message, back)
}

/// The JSON answer for a request the hall did not run (see [`failure`]): `{"error": message,
/// "kind": "refused" | "storage" | "unavailable" | "internal"}`.
pub fn failed_json(e: &HallError) -> Response {
    let (status, message) = failure(e);
    let kind = match e.kind() {
        ErrorKind::Refused => "refused",
        ErrorKind::Storage(_) => "storage",
        ErrorKind::Unavailable => "unavailable",
        ErrorKind::Internal => "internal",
    };
    (status, axum::Json(serde_json::json!({ "error": message, "kind": kind }))).into_response()
}

/// Inline script, as markup.
pub fn script(js: &str) -> Markup {
    html! { script { (PreEscaped(js)) } }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::NodeError;
    use onestop_engine::Rejected;
    use onestop_store::{Store, StoreError};

    #[test]
    fn each_kind_of_failure_has_one_status_and_only_a_refusal_shows_its_own_words() {
        let full = {
            let mut store = Store::open_in_memory().unwrap();
            store.simulate_full_disk(true).unwrap();
            store.put_meta("k", b"v").unwrap_err()
        };
        let refused = HallError::Node(NodeError::Rejected(Rejected::NoneWaiting(1)));
        assert_eq!(failure(&refused), (StatusCode::CONFLICT, refused.to_string()));
        let storage = HallError::Node(NodeError::Store(full));
        assert_eq!(failure(&storage), (StatusCode::INTERNAL_SERVER_ERROR, CANNOT_SAVE.to_string()));
        assert!(storage.to_string().contains(":memory:"), "the details are the log's: {storage}");
        assert_eq!(failure(&HallError::Stopped), (StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE.to_string()));
        let bug = HallError::Node(NodeError::Store(StoreError::StampNotAfter {
            given: Default::default(),
            last: Default::default(),
        }));
        assert_eq!(failure(&bug), (StatusCode::INTERNAL_SERVER_ERROR, INTERNAL.to_string()));
        for text in [CANNOT_SAVE, UNAVAILABLE, INTERNAL] {
            let (zh, en) = text.split_once(" / ").expect("Chinese first, English second");
            assert!(!zh.is_ascii() && en.is_ascii(), "{text}");
        }
    }
}
