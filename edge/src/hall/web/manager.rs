//! The hall manager's page: device health and incidents, a printer test and reprints, today's
//! figures, the link to the cloud and the clock.

use super::auth::Staff;
use super::{Lang, Web, page, problem};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::html;
use onestop_webkit::csrf_field;
use serde::Deserialize;

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/manager", get(manager))
        .route("/manager/printer-test", post(printer_test))
        .route("/manager/reprint", post(reprint))
}

fn must_manage(lang: Lang, staff: &Staff) -> Result<(), Response> {
    if staff.0.manager {
        Ok(())
    } else {
        Err(problem(lang, StatusCode::FORBIDDEN, "仅大厅管理员可用 / for hall managers only", "/counter"))
    }
}

async fn manager(State(web): State<Web>, lang: Lang, staff: Staff) -> Response {
    if let Err(r) = must_manage(lang, &staff) {
        return r;
    }
    let v = web.hall.view();
    let f = &v.figures;
    let flash = web.sessions.take_flash(&staff.0.token);
    let csrf = &staff.0.csrf;
    let body = html! {
        header.bar { h1 { (lang.t("大厅管理", "Hall manager")) " · " (lang.one(&v.hall_name.zh, &v.hall_name.en)) } span { (staff.0.name) } }
        @if let Some(m) = flash { p #message.message role="status" { (m) } }
        section {
            h2 { (lang.t("今日", "Today")) " " (v.day) }
            table #figures.figures {
                tr { th { (lang.t("取号", "Issued")) } td { (f.issued) } }
                tr { th { (lang.t("等候", "Waiting")) } td { (f.waiting) } }
                tr { th { (lang.t("已办结", "Served")) } td { (f.served) } }
                tr { th { (lang.t("过号", "No-shows")) } td { (f.no_shows) } }
                tr { th { (lang.t("平均等候", "Mean wait")) } td { @if let Some(m) = f.mean_wait_min { (m) " min" } @else { "—" } } }
                tr { th { (lang.t("满意率", "Satisfaction")) } td { @if let Some(p) = f.satisfaction_pct { (p) "% (" (f.rated) ")" } @else { "—" } } }
                tr { th { (lang.t("开放窗口", "Windows open")) } td { (f.windows_open) " / " (v.windows.len()) } }
            }
        }
        section {
            h2 { (lang.t("设备与连接", "Devices and link")) }
            @if v.incidents.is_empty() { p #no-incidents { (lang.t("一切正常", "All is well")) } }
            ul #incidents.incidents { @for i in &v.incidents { li role="alert" { strong { (i.device) } ": " (i.text) } } }
            table #devices {
                @for (name, state) in web.devices.health() { tr { th { (name) } td { (state) } } }
                tr { th { (lang.t("校园云", "Campus cloud")) } td { @match v.online { Some(true) => { (lang.t("在线", "online")) }, Some(false) => { (lang.t("离线（大厅照常运行）", "offline (the hall works as usual)")) }, None => { (lang.t("未配置", "not configured")) } } } }
                tr { th { (lang.t("时钟", "Clock")) } td { @if let Some(a) = &v.clock_alarm { span.warning { (a) } } @else { (lang.t("正常", "plausible")) } } }
            }
            form method="post" action="/manager/printer-test" { (csrf_field(csrf)) button #printer-test type="submit" { (lang.t("打印测试页", "Print a test page")) } }
            form method="post" action="/manager/reprint" {
                (csrf_field(csrf))
                label { (lang.t("补打号票", "Reprint a ticket")) " " input name="ticket" required maxlength="8" placeholder="A023"; }
                button #reprint type="submit" { (lang.t("补打", "Reprint")) }
            }
        }
        section {
            h2 { (lang.t("窗口", "Windows")) }
            table #windows {
                @for w in &v.windows {
                    tr { td { (w.no) } td { (lang.one(&w.name.zh, &w.name.en)) } td { (w.staff.as_deref().unwrap_or("—")) } td { (w.current.as_deref().unwrap_or("")) } td { (w.paused.as_deref().unwrap_or("")) } }
                }
            }
        }
    };
    page(lang, "大厅管理 / Hall manager", "manager", body).into_response()
}

#[derive(Deserialize)]
struct ManagerForm {
    csrf: String,
    #[serde(default)]
    ticket: String,
}

async fn printer_test(
    State(web): State<Web>,
    lang: Lang,
    staff: Staff,
    Form(f): Form<ManagerForm>,
) -> Response {
    if let Err(r) = must_manage(lang, &staff).and_then(|_| staff.check_csrf(lang, &f.csrf)) {
        return r;
    }
    let m = match web.devices.print_test() {
        Ok(()) => "测试页已发送 / test page sent".to_string(),
        Err(e) => e,
    };
    web.sessions.flash(&staff.0.token, m);
    Redirect::to("/manager").into_response()
}

async fn reprint(State(web): State<Web>, lang: Lang, staff: Staff, Form(f): Form<ManagerForm>) -> Response {
    if let Err(r) = must_manage(lang, &staff).and_then(|_| staff.check_csrf(lang, &f.csrf)) {
        return r;
    }
    let t = f.ticket.trim().to_uppercase();
    let m = match web.devices.reprint(&t) {
        Ok(()) => format!("{t} 已补打 / {t} sent to the printer again"),
        Err(e) => e,
    };
    web.sessions.flash(&staff.0.token, m);
    Redirect::to("/manager").into_response()
}
