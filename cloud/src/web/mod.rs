//! The campus cloud's public website: the halls with their live status, the service catalogue
//! and guides, notices, and each visitor's ticket (the QR code on a printed ticket opens it).
//!
//! Chinese first, English second on every page (the `lang` cookie puts English first). Pages
//! read only the [`Cache`]: they never touch the store. Everything a page shows from the
//! catalogue or a hall is escaped by maud; the scripts (`site.js`) build the live parts with
//! text nodes, never with markup, and every script is a file of this site (the
//! Content-Security-Policy allows no other).
//!
//! Plain HTTP, meant to sit behind the campus reverse proxy (which terminates TLS).

// A refused request is an early `Err(Response)` throughout, as axum handlers are written.
#![allow(clippy::result_large_err)]

pub mod booking;
pub mod cache;
#[cfg(test)]
mod cases_qa_tests;
mod catalog;
pub mod limit;
mod live;
pub(crate) mod progress;
mod qa;
pub mod search;
#[cfg(test)]
mod tests;

pub use cache::{Cache, HallLive, Heard, Site, Sources};

use axum::Router;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};
use onestop_model::{Text, Timestamp};
use std::convert::Infallible;

/// What the pages share.
#[derive(Clone)]
pub struct WebState {
    pub cache: Cache,
    /// The store, the office database and the campus keys (forms that write).
    pub backend: std::sync::Arc<crate::office::Backend>,
}

/// The website, to be served (or called in tests).
pub fn app(state: WebState) -> Router {
    Router::new()
        .route("/", get(catalog::home))
        .route("/services", get(catalog::services))
        .route("/services/{id}", get(catalog::service))
        .route("/notices", get(catalog::notices))
        .route("/halls/{hall}", get(live::hall))
        .route("/ticket/{hall}/{day}/{ticket}", get(live::ticket))
        .route("/api/halls/{hall}/status", get(live::api_status))
        .route("/api/tickets/{hall}/{day}/{ticket}", get(live::api_ticket))
        .route("/office/login", get(crate::office::auth::login_form).post(crate::office::auth::login))
        .route("/office/logout", axum::routing::post(crate::office::auth::logout))
        .route("/office", get(crate::office::shell::dashboard))
        .merge(crate::office::routes())
        // Case progress and Q&A (public), case review and Q&A moderation (back office).
        .route("/progress", get(progress::form).post(progress::lookup))
        .route("/qa", get(qa::list))
        .route("/qa/ask", get(qa::ask_form).post(qa::ask))
        .route("/qa/{id}", get(qa::question))
        .route("/office/cases", get(crate::office::cases::queue))
        .route("/office/cases/{number}", get(crate::office::cases::case_page))
        .route("/office/cases/{number}/step", axum::routing::post(crate::office::cases::step))
        .route("/office/qa", get(crate::office::qa::queue))
        .route("/office/qa/{id}", get(crate::office::qa::question_page))
        .route("/office/qa/{id}/{action}", axum::routing::post(crate::office::qa::act))
        .route("/book", get(booking::halls))
        .route("/book/cancel", get(booking::cancel_page).post(booking::cancel_post))
        .route("/book/{hall}", get(booking::services))
        .route("/book/{hall}/{service}", get(booking::slots_page).post(booking::book))
        // Statistics (public and back office) and rating follow-ups.
        .route("/stats", get(crate::stats::pages::public))
        .route("/office/stats", get(crate::stats::pages::office))
        .route("/office/followups", get(crate::office::followups::page))
        .route("/office/followups/record", axum::routing::post(crate::office::followups::record_form))
        .route("/office/followups/settings", axum::routing::post(crate::office::followups::settings_form))
        .route("/lang/{lang}", get(set_lang))
        .route("/style.css", get(style))
        .route("/site.js", get(site_js))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(not_found)
        .layer(axum::middleware::map_response(security_headers))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: WebState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer's address is what the rate limits count (see `limit::ClientIp`).
    axum::serve(listener, app(state).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

async fn security_headers(mut r: Response) -> Response {
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

/// The reader's language: Chinese unless the `lang` cookie says English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Lang, Infallible> {
        Ok(if cookie(&parts.headers, "lang").as_deref() == Some("en") { Lang::En } else { Lang::Zh })
    }
}

impl Lang {
    /// Both languages, the reader's first (the other smaller); one when the other is empty.
    pub fn t(self, zh: &str, en: &str) -> Markup {
        match (self, zh.is_empty(), en.is_empty()) {
            (_, false, true) => html! { span lang="zh-CN" { (zh) } },
            (_, true, false) => html! { span lang="en" { (en) } },
            (Lang::Zh, _, _) => html! { span lang="zh-CN" { (zh) } " " small.other lang="en" { (en) } },
            (Lang::En, _, _) => html! { span lang="en" { (en) } " " small.other lang="zh-CN" { (zh) } },
        }
    }
    /// Catalogue text in both languages.
    pub fn text(self, t: &Text) -> Markup {
        self.t(&t.zh, &t.en)
    }
    /// One language only, for attributes and titles.
    pub fn one<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
}

/// A cookie's value.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then(|| v.to_string())
        })
}

/// What a page's script follows: `kind` ("hall" or "ticket") and the JSON it polls.
#[derive(Debug, Clone, Copy)]
pub struct Live<'a> {
    pub kind: &'static str,
    pub url: &'a str,
}

/// The frame of every page: the site's header with its navigation, `main`, the footer with
/// the language switch. A live page names what its script follows.
pub fn page(lang: Lang, title: &str, live: Option<Live<'_>>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (lang.one("校园一站式服务", "Campus one-stop services")) }
                link rel="stylesheet" href="/style.css";
                script src="/site.js" defer {}
            }
            body {
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
                footer.site {
                    nav aria-label=(lang.one("语言", "Language")) {
                        a href="/lang/zh" lang="zh-CN" aria-current=[(lang == Lang::Zh).then_some("true")] { "中文" }
                        " · "
                        a href="/lang/en" lang="en" aria-current=[(lang == Lang::En).then_some("true")] { "English" }
                    }
                }
            }
        }
    }
}

/// The path to go back to after switching language: the page the reader was on (this site's
/// path only, never another site).
fn back_path(headers: &HeaderMap) -> String {
    headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.find("://").and_then(|i| r[i + 3..].find('/').map(|j| r[i + 3 + j..].to_string())))
        .filter(|p| p.starts_with('/') && !p.starts_with("//") && !p.contains('\\'))
        .unwrap_or_else(|| "/".into())
}

async fn set_lang(Path(lang): Path<String>, headers: HeaderMap) -> Response {
    let lang = if lang == "en" { "en" } else { "zh" };
    (
        [(header::SET_COOKIE, format!("lang={lang}; Path=/; Max-Age=31536000; SameSite=Lax"))],
        Redirect::to(&back_path(&headers)),
    )
        .into_response()
}

async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=300")],
        include_str!("style.css"),
    )
        .into_response()
}

async fn site_js() -> Response {
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

async fn not_found(lang: Lang) -> Response {
    problem(lang, StatusCode::NOT_FOUND, "没有这个页面。", "There is no such page.")
}

/// The time now, from the system clock (the pages' shell).
pub fn now() -> Timestamp {
    Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    )
}
