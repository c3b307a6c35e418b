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
    // The peer's address (each request's `ConnectInfo`) is what the rate limits count (see
    // `ui::client::ClientIp`); headers in time, connections capped, per client too.
    // A reverse proxy carries every visitor's connections from its one address: held only to
    // the cap in all (loopback, and the proxies cloud.toml trusts).
    let mut uncapped =
        vec![std::net::IpAddr::from([127, 0, 0, 1]), std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST)];
    uncapped.extend(state.trusted_proxies.iter().copied());
    let limits = onestop_serve::Limits { uncapped, ..onestop_serve::Limits::default() };
    onestop_serve::serve(listener, app(state), limits, shutdown).await
}
