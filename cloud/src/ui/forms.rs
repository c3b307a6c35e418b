//! Small pieces every back-office form uses: labelled fields, the answer after a publication,
//! and list parsing.

use super::Lang;
use super::auth::Officer;
use crate::core::Error;
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
pub fn after_publish(o: &Officer, result: Result<Catalog, Error>, back: &str) -> Response {
    match result {
        Ok(_) => {
            let sep = if back.contains('?') { '&' } else { '?' };
            Redirect::to(&format!("{back}{sep}saved=1")).into_response()
        }
        // A rule's refusal goes back to the form; a failure of ours is not the form's fault.
        Err(Error::Invalid(why) | Error::Conflict(why)) => refused(o.lang, &why, back),
        Err(e) => super::error::respond(o.lang, &e),
    }
}

/// A form refused: what is wrong, and the way back (422).
pub fn refused(lang: Lang, why: &str, back: &str) -> Response {
    let body = super::page(
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
        super::office::flash(lang, true, "已保存并发布到各大厅。", "Saved and published to the halls.")
    } else {
        html! {}
    }
}

/// `a, b ,c` → ["a", "b", "c"].
pub fn list(s: &str) -> Vec<String> {
    s.split([',', '，', ' ']).map(str::trim).filter(|x| !x.is_empty()).map(String::from).collect()
}

/// An id typed by staff, by the model's rule for catalogue items (1 to 40 lowercase letters,
/// digits, '-' or '_').
pub fn check_id(what_zh: &'static str, what_en: &'static str, id: &str) -> Result<(), String> {
    onestop_model::check_item_id(what_zh, what_en, id).map_err(|e| e.to_string())
}

/// A hall id typed by staff, by the rule every part of the system checks (1 to 32 lowercase
/// letters, digits or '-': hall ids are part of document ids and certificates).
pub fn check_hall_id(id: &str) -> Result<(), String> {
    onestop_model::HallId::parse(id).map(|_| ()).map_err(|e| e.to_string())
}

/// Text that must not be empty.
pub fn required(what_zh: &str, what_en: &str, s: &str) -> Result<String, String> {
    crate::core::catalog::required(what_zh, what_en, s).map_err(|e| e.to_string())
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
