//! The campus cloud's public website: the halls with their live status, the service catalogue
//! and guides, notices, each visitor's ticket (the QR code on a printed ticket opens it),
//! reservations, case progress and the Q&A board. Handlers parse, call the core
//! (`crate::core`) and render; the live pages read only the site cache (`crate::site`).
//!
//! Plain HTTP, meant to sit behind the campus reverse proxy (which terminates TLS).

// A refused request is an early `Err(Response)` throughout, as axum handlers are written.
#![allow(clippy::result_large_err)]

pub mod booking;
#[cfg(test)]
mod cases_qa_tests;
mod catalog;
mod live;
mod progress;
mod qa;
pub mod search;
mod stats;
#[cfg(test)]
mod tests;

use crate::ui::AppState;
use axum::Router;
use axum::routing::get;

/// The public website's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(catalog::home))
        .route("/services", get(catalog::services))
        .route("/services/{id}", get(catalog::service))
        .route("/notices", get(catalog::notices))
        .route("/halls/{hall}", get(live::hall))
        .route("/ticket/{hall}/{day}/{ticket}", get(live::ticket))
        .route("/api/halls/{hall}/status", get(live::api_status))
        .route("/api/tickets/{hall}/{day}/{ticket}", get(live::api_ticket))
        .route("/progress", get(progress::form).post(progress::lookup))
        .route("/qa", get(qa::list))
        .route("/qa/ask", get(qa::ask_form).post(qa::ask))
        .route("/qa/{id}", get(qa::question))
        .route("/book", get(booking::halls))
        .route("/book/cancel", get(booking::cancel_page).post(booking::cancel_post))
        .route("/book/{hall}", get(booking::services))
        .route("/book/{hall}/{service}", get(booking::slots_page).post(booking::book))
        .route("/stats", get(stats::public))
}
