//! Small pieces every back-office form uses: labelled fields, the answer after a publication,
//! and list parsing.

use super::auth::Officer;
use crate::web::Lang;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use onestop_model::Catalog;

/// A labelled text field.
pub fn field(lang: Lang, name: &str, zh: &str, en: &str, value: &str, required: bool) -> Markup {
    html! {
        label { (lang.t(zh, en)) input name=(name) value=(value) required[required]; }
    }
}

/// A labelled number field.
pub fn number(lang: Lang, name: &str, zh: &str, en: &str, value: u32) -> Markup {
    html! {
        label { (lang.t(zh, en)) input type="number" min="0" name=(name) value=(value) required; }
    }
}

/// A labelled text area (plain text; line breaks kept).
pub fn area(lang: Lang, name: &str, zh: &str, en: &str, value: &str) -> Markup {
    html! {
        label { (lang.t(zh, en)) textarea name=(name) rows="4" { (value) } }
    }
}

/// After a form that changed the catalogue: back to `back` with a notice, or a page saying
/// why nothing was published (422).
pub fn after_publish(o: &Officer, result: Result<Catalog, String>, back: &str) -> Response {
    match result {
        Ok(_) => {
            let sep = if back.contains('?') { '&' } else { '?' };
            Redirect::to(&format!("{back}{sep}saved=1")).into_response()
        }
        Err(e) => refused(o.lang, &e, back),
    }
}

/// A form refused: what is wrong, and the way back (422).
pub fn refused(lang: Lang, why: &str, back: &str) -> Response {
    let body = crate::web::page(
        lang,
        lang.one("未保存", "Not saved"),
        None,
        html! {
            h1 { (lang.t("未保存", "Nothing was saved")) }
            p.error role="alert" { (why) }
            p { a href=(back) { (lang.t("返回修改", "Go back")) } }
        },
    );
    (StatusCode::UNPROCESSABLE_ENTITY, body).into_response()
}

/// The "saved" notice after a redirect.
pub fn saved_notice(lang: Lang, saved: bool) -> Markup {
    if saved {
        super::shell::flash(lang, true, "已保存并发布到各大厅。", "Saved and published to the halls.")
    } else {
        html! {}
    }
}

/// `a, b ,c` → ["a", "b", "c"].
pub fn list(s: &str) -> Vec<String> {
    s.split([',', '，', ' ']).map(str::trim).filter(|x| !x.is_empty()).map(String::from).collect()
}

/// An id typed by staff: 1 to 40 lowercase letters, digits, '-' or '_'.
pub fn check_id(what_zh: &str, what_en: &str, id: &str) -> Result<(), String> {
    let ok = (1..=40).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what_zh}编号“{id}”须为 1 到 40 个小写字母、数字、- 或 _ / the {what_en} id \"{id}\" must be 1 to 40 lowercase letters, digits, '-' or '_'"
        ))
    }
}

/// Text that must not be empty.
pub fn required(what_zh: &str, what_en: &str, s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        Err(format!("{what_zh}不能为空 / the {what_en} is empty"))
    } else if t.chars().count() > 4000 {
        Err(format!("{what_zh}过长 / the {what_en} is too long (at most 4,000 characters)"))
    } else {
        Ok(t.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_lists() {
        assert!(check_id("事项", "service", "cert-1").is_ok());
        assert!(check_id("事项", "service", "Cert").is_err());
        assert!(check_id("事项", "service", "").is_err());
        assert!(check_id("事项", "service", "a<b").is_err());
        assert_eq!(list("main, east，west  "), vec!["main", "east", "west"]);
        assert!(required("标题", "title", "  ").is_err());
        assert_eq!(required("标题", "title", " x ").unwrap(), "x");
    }
}
