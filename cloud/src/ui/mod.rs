//! What every page of the cloud shares (the public website, the back office, the statistics):
//! the application's state, the reader's language, the page frame, the problem page, cookies,
//! who is asking ([`auth`]), the client of a public form ([`client`]), the back office's frame
//! and form helpers ([`office`], [`forms`]), a case's timeline ([`cases`]), and the one mapping
//! from the core's errors to responses ([`error`]).
//!
//! Chinese first, English second on every page (the `lang` cookie puts English first).
//! Everything shown is escaped by maud; the scripts (`site.js`) build the live parts with text
//! nodes, never with markup, and every script is a file of this site (the
//! Content-Security-Policy allows no other).

// A refused request is an early `Err(Response)` throughout, as axum handlers are written.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod cases;
pub mod chart;
pub mod client;
pub mod error;
pub mod figures;
pub mod forms;
pub mod office;
pub mod state;

/// Runs `f` (the core's blocking work: SQLite, argon2) off the async threads; a task that
/// panicked is a failure of ours.
pub async fn blocking<R: Send + 'static, E: From<crate::core::Error> + Send + 'static>(
    f: impl FnOnce() -> Result<R, E> + Send + 'static,
) -> Result<R, E> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(crate::core::Error::Internal(e.to_string()).into()))
}
pub use state::AppState;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
/// The reader's language, cookies and the language switch, as the hall's pages have them
/// (`onestop-webkit`).
pub use onestop_webkit::{Lang, cookie, set_lang};

pub async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    r
}

/// What a page's script follows: `kind` ("hall" or "ticket") and the JSON it polls.
#[derive(Debug, Clone, Copy)]
pub struct Live<'a> {
    pub kind: &'static str,
    pub url: &'a str,
}

/// The frame of every page: the shared head with the site's script, the site's header with its
/// navigation, `main`, the footer with the language switch. A live page names what its script
/// follows.
pub fn page(lang: Lang, title: &str, live: Option<Live<'_>>, body: Markup) -> Markup {
    let title = format!("{title} · {}", lang.one("校园一站式服务", "Campus one-stop services"));
    let body = html! {
        a.skip href="#main" { (lang.one("跳到正文", "Skip to content")) }
        header.site {
            a.brand href="/" { (lang.t("校园一站式服务", "Campus one-stop services")) }
            nav aria-label=(lang.one("主导航", "Main")) {
                ul {
                    li { a href="/" { (lang.t("首页", "Home")) } }
                    li { a href="/services" { (lang.t("办事指南", "Services")) } }
                    li { a href="/notices" { (lang.t("通知公告", "Notices")) } }
                    li { a href="/stats" { (lang.t("统计", "Statistics")) } }
                    li { a href="/book" { (lang.t("预约", "Book")) } }
                    li { a href="/progress" { (lang.t("办件查询", "Case progress")) } }
                    li { a href="/qa" { (lang.t("咨询", "Q&A")) } }
                }
            }
        }
        main #main data-lang=(if lang == Lang::En { "en" } else { "zh" })
            data-live=[live.map(|l| l.kind)] data-poll=[live.map(|l| l.url)] {
            (body)
        }
        footer.site { (onestop_webkit::lang_switch(lang)) }
    };
    onestop_webkit::frame(lang, &title, html! { script src="/site.js" defer {} }, None, body)
}

pub async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=300")],
        include_str!("style.css"),
    )
        .into_response()
}

pub async fn site_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("site.js"),
    )
        .into_response()
}

/// A page that says what went wrong, with its status.
pub fn problem(lang: Lang, status: StatusCode, zh: &str, en: &str) -> Response {
    let body = page(
        lang,
        lang.one("出错了", "Error"),
        None,
        html! {
            h1 { (lang.t("无法显示", "This cannot be shown")) }
            p.error role="alert" { (lang.t(zh, en)) }
            p { a href="/" { (lang.t("返回首页", "Back to the home page")) } }
        },
    );
    (status, body).into_response()
}

pub async fn not_found(lang: Lang) -> Response {
    problem(lang, StatusCode::NOT_FOUND, "没有这个页面。", "There is no such page.")
}
