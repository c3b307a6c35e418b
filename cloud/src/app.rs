//! The cloud's web application: one router for every page (the public website, the back
//! office, the statistics), on one state. `main.rs`, the demo and the tests all get it from
//! here (through `run::start`, or `app` directly with `oneshot` in tests).

use crate::ui;
pub use crate::ui::AppState;
use axum::Router;
use axum::routing::get;

/// Every route of the cloud's website, with the security headers and request tracing.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(crate::web::routes())
        .merge(crate::office::routes())
        .route("/lang/{lang}", get(ui::set_lang))
        .route("/style.css", get(ui::style))
        .route("/site.js", get(ui::site_js))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(ui::not_found)
        .layer(axum::middleware::map_response(ui::security_headers))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves [`app`] on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer's address is what the rate limits count (see `ui::client::ClientIp`).
    axum::serve(listener, app(state).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
