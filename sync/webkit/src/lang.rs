//! The reader's language and switching it.

use crate::cookie::cookie;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use onestop_model::Text;
use std::convert::Infallible;

/// The reader's language: Chinese unless the `lang` cookie says English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Lang, Infallible> {
        Ok(Lang::of(&parts.headers))
    }
}

impl Lang {
    /// The language a request's `lang` cookie asks for.
    pub fn of(headers: &HeaderMap) -> Lang {
        if cookie(headers, "lang").as_deref() == Some("en") { Lang::En } else { Lang::Zh }
    }
    /// Both languages, the reader's first and the other smaller (`small.other`); only one when
    /// the other is empty.
    pub fn t(self, zh: &str, en: &str) -> Markup {
        match (self, zh.is_empty(), en.is_empty()) {
            (_, false, true) => html! { span lang="zh-CN" { (zh) } },
            (_, true, false) => html! { span lang="en" { (en) } },
            (Lang::Zh, _, _) => html! { span lang="zh-CN" { (zh) } " " small.other lang="en" { (en) } },
            (Lang::En, _, _) => html! { span lang="en" { (en) } " " small.other lang="zh-CN" { (zh) } },
        }
    }
    /// Catalogue text in both languages, as [`Lang::t`].
    pub fn text(self, t: &Text) -> Markup {
        self.t(&t.zh, &t.en)
    }
    /// One language only, for attributes, titles and short labels.
    pub fn one<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
    /// The language's tag, for `lang` attributes.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
}

/// `GET /lang/{zh|en}`: sets the `lang` cookie for a year (anything but `en` is Chinese) and
/// goes back to the page the reader was on ([`back_path`]).
pub async fn set_lang(Path(lang): Path<String>, headers: HeaderMap) -> Response {
    let lang = if lang == "en" { "en" } else { "zh" };
    (
        // Not HttpOnly: it is a preference, not a secret; Lax, so a link from elsewhere keeps it.
        [(header::SET_COOKIE, format!("lang={lang}; Path=/; Max-Age=31536000; SameSite=Lax"))],
        Redirect::to(&back_path(&headers)),
    )
        .into_response()
}

/// The path to go back to after switching language: the path of the `Referer`, or `/`. Only a
/// path on this site: never `//elsewhere` (a browser reads it as another site) nor one with a
/// backslash (some read `/\elsewhere` the same way).
pub fn back_path(headers: &HeaderMap) -> String {
    headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.find("://").and_then(|i| r[i + 3..].find('/').map(|j| r[i + 3 + j..].to_string())))
        .filter(|p| p.starts_with('/') && !p.starts_with("//") && !p.contains('\\'))
        .unwrap_or_else(|| "/".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(name: header::HeaderName, value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn the_readers_language_comes_first_and_the_other_is_smaller() {
        assert_eq!(
            Lang::Zh.t("取号", "Take a number").into_string(),
            r#"<span lang="zh-CN">取号</span> <small class="other" lang="en">Take a number</small>"#
        );
        assert_eq!(
            Lang::En.t("取号", "Take a number").into_string(),
            r#"<span lang="en">Take a number</span> <small class="other" lang="zh-CN">取号</small>"#
        );
    }

    #[test]
    fn one_language_is_shown_alone_when_the_other_is_empty_in_either_order() {
        for lang in [Lang::Zh, Lang::En] {
            assert_eq!(lang.t("大厅", "").into_string(), r#"<span lang="zh-CN">大厅</span>"#);
            assert_eq!(lang.t("", "Hall").into_string(), r#"<span lang="en">Hall</span>"#);
        }
        let text = Text { zh: "教务处".into(), en: String::new() };
        assert_eq!(Lang::En.text(&text).into_string(), r#"<span lang="zh-CN">教务处</span>"#);
        // Text is escaped.
        assert_eq!(Lang::Zh.t("", "<b>").into_string(), r#"<span lang="en">&lt;b&gt;</span>"#);
    }

    #[test]
    fn the_cookie_picks_the_language() {
        assert_eq!(Lang::of(&HeaderMap::new()), Lang::Zh);
        assert_eq!(Lang::of(&with(header::COOKIE, "a=1; lang=en")), Lang::En);
        assert_eq!(Lang::of(&with(header::COOKIE, "lang=fr")), Lang::Zh);
        assert_eq!((Lang::Zh.code(), Lang::En.code()), ("zh-CN", "en"));
        assert_eq!((Lang::Zh.one("中", "E"), Lang::En.one("中", "E")), ("中", "E"));
    }

    #[test]
    fn back_goes_only_to_this_sites_paths() {
        let back = |referer: &'static str| back_path(&with(header::REFERER, referer));
        assert_eq!(back("http://hall.local:8080/counter/window/3?x=1"), "/counter/window/3?x=1");
        assert_eq!(back("https://campus.example/services"), "/services");
        // Scheme-relative and backslashed paths name another site to a browser.
        assert_eq!(back("https://campus.example//evil.example/x"), "/");
        assert_eq!(back("https://campus.example/\\evil.example"), "/");
        assert_eq!(back("https://campus.example/a\\b"), "/");
        // A referer that is not a URL, or has no path, goes home.
        assert_eq!(back("//evil.example/x"), "/");
        assert_eq!(back("/relative"), "/");
        assert_eq!(back("https://campus.example"), "/");
        assert_eq!(back("javascript:alert(1)"), "/");
        assert_eq!(back_path(&HeaderMap::new()), "/");
    }

    #[tokio::test]
    async fn switching_sets_the_cookie_and_goes_back() {
        for (asked, set) in [("en", "lang=en;"), ("zh", "lang=zh;"), ("fr", "lang=zh;")] {
            let r = set_lang(Path(asked.into()), with(header::REFERER, "http://hall/kiosk?s=1")).await;
            assert!(r.status().is_redirection(), "{asked}");
            assert_eq!(r.headers()[header::LOCATION], "/kiosk?s=1");
            assert!(r.headers()[header::SET_COOKIE].to_str().unwrap().starts_with(set), "{asked}");
        }
        let r = set_lang(Path("en".into()), with(header::REFERER, "http://hall//evil.example")).await;
        assert_eq!(r.headers()[header::LOCATION], "/");
    }

    #[test]
    fn another_hosts_path_is_taken_as_a_path_on_this_site() {
        // Only the path is kept, so another host's page becomes the same path here, never a
        // trip to that host.
        let h = with(header::REFERER, "https://evil.example/office");
        assert_eq!(back_path(&h), "/office");
    }
}
