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

pub use error::Failure;

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

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};
use onestop_model::Text;
use std::convert::Infallible;

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

pub async fn set_lang(Path(lang): Path<String>, headers: HeaderMap) -> Response {
    let lang = if lang == "en" { "en" } else { "zh" };
    (
        [(header::SET_COOKIE, format!("lang={lang}; Path=/; Max-Age=31536000; SameSite=Lax"))],
        Redirect::to(&back_path(&headers)),
    )
        .into_response()
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
