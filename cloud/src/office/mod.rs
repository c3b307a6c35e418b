//! The back office (`/office`): handlers that parse, call the core (`crate::core`) and render
//! in the back office's frame (`crate::ui::office`). Every part belongs to one area
//! (`ui::auth::area_of`), refused to roles without it before the request is read.

// A refused request is an early `Err(Response)` throughout, as axum handlers are written.
#![allow(clippy::result_large_err)]

pub mod cards;
pub mod cases;
pub mod catalog;
pub mod followups;
pub mod login;
pub mod nodes;
pub mod qa;
pub mod staff;
pub mod stats;
#[cfg(test)]
mod tests;

use crate::ui::AppState;
use crate::ui::auth::Officer;
use crate::ui::office::{PARTS, office_page};
use maud::{Markup, html};

/// The back office's routes.
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/office/login", get(login::login_form).post(login::login))
        .route("/office/logout", post(login::logout))
        .route("/office", get(dashboard))
        .route("/office/cases", get(cases::queue))
        .route("/office/cases/{number}", get(cases::case_page))
        .route("/office/cases/{number}/step", post(cases::step))
        .route("/office/qa", get(qa::queue))
        .route("/office/qa/{id}", get(qa::question_page))
        .route("/office/qa/{id}/{action}", post(qa::act))
        .route("/office/stats", get(stats::office))
        .route("/office/followups", get(followups::page))
        .route("/office/followups/record", post(followups::record_form))
        .route("/office/followups/settings", post(followups::settings_form))
        .route("/office/catalog", get(catalog::page))
        .route("/office/catalog/department", post(catalog::save_department))
        .route("/office/catalog/service", post(catalog::save_service))
        .route("/office/catalog/service/{id}", get(catalog::service_form))
        .route("/office/catalog/service/{id}/delete", post(catalog::delete_service))
        .route("/office/halls", get(catalog::halls))
        .route("/office/catalog/hall", post(catalog::new_hall))
        .route("/office/halls/{id}", get(catalog::hall).post(catalog::save_hall))
        .route("/office/notices", post(catalog::publish_notice))
        .route("/office/notices/{id}/delete", post(catalog::delete_notice))
        .route("/office/staff", get(staff::page).post(staff::save))
        .route("/office/staff/{id}/delete", post(staff::delete))
        .route("/office/accounts", get(staff::accounts).post(staff::create))
        .route("/office/accounts/password", post(staff::reset_password))
        .route("/office/accounts/{login}/toggle", post(staff::toggle))
        .route(
            "/office/cards",
            get(cards::page)
                .post(cards::import)
                .layer(axum::extract::DefaultBodyLimit::max(cards::UPLOAD_LIMIT)),
        )
        .route("/office/nodes", get(nodes::page))
        .route("/office/nodes/{node}/{action}", post(nodes::act))
}

/// `/office`: what this account may do.
pub async fn dashboard(o: Officer) -> Markup {
    let lang = o.lang;
    office_page(
        &o,
        "后台首页",
        "Back office",
        html! {
            p { (lang.t("请选择要办理的工作：", "Choose what to work on:")) }
            ul.parts {
                @for (href, area, zh, en) in PARTS {
                    @if o.account.role.may(*area) {
                        li { a href=(href) { (lang.t(zh, en)) } }
                    }
                }
            }
        },
    )
}
