//! What every page's markup shares: the frame, the language switch, the CSRF field.

use crate::Lang;
use maud::{DOCTYPE, Markup, html};

/// A page: the doctype, `<html lang>`, the head every page has (charset, viewport, `title`,
/// the site's `/style.css`, then `head`: a side's own scripts), and `<body class>` around
/// `body` (a side's own layout, its footer with [`lang_switch`] included).
pub fn frame(lang: Lang, title: &str, head: Markup, body_class: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="stylesheet" href="/style.css";
                (head)
            }
            body class=[body_class] {
                (body)
            }
        }
    }
}

/// The links between the languages (`/lang/zh`, `/lang/en`, served by [`crate::set_lang`]),
/// each in its own language; the reader's is marked current.
pub fn lang_switch(lang: Lang) -> Markup {
    html! {
        nav aria-label=(lang.one("语言", "Language")) {
            a href="/lang/zh" lang="zh-CN" aria-current=[(lang == Lang::Zh).then_some("true")] { "中文" }
            " · "
            a href="/lang/en" lang="en" aria-current=[(lang == Lang::En).then_some("true")] { "English" }
        }
    }
}

/// The hidden field that carries a form's CSRF token (field `csrf`).
pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_holds_the_shared_head_and_a_sides_body() {
        let page = frame(
            Lang::En,
            "A & B",
            html! { script src="/site.js" defer {} },
            Some("kiosk"),
            html! { h1 { "Hi" } },
        )
        .into_string();
        assert!(
            page.starts_with("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"),
            "{page}"
        );
        assert!(page.contains("<title>A &amp; B</title><link rel=\"stylesheet\" href=\"/style.css\"><script src=\"/site.js\" defer></script></head>"), "{page}");
        assert!(page.ends_with("<body class=\"kiosk\"><h1>Hi</h1></body></html>"), "{page}");
        let plain = frame(Lang::Zh, "t", html! {}, None, html! {}).into_string();
        assert!(plain.contains("<html lang=\"zh-CN\">") && plain.contains("<body></body>"), "{plain}");
    }

    #[test]
    fn the_switch_marks_the_readers_language() {
        let zh = lang_switch(Lang::Zh).into_string();
        assert!(zh.contains(r#"<a href="/lang/zh" lang="zh-CN" aria-current="true">中文</a>"#), "{zh}");
        assert!(zh.contains(r#"<a href="/lang/en" lang="en">English</a>"#), "{zh}");
        let en = lang_switch(Lang::En).into_string();
        assert!(
            en.contains(r#"aria-label="Language""#) && en.contains(r#"lang="en" aria-current="true""#),
            "{en}"
        );
    }

    #[test]
    fn the_csrf_field_is_hidden_and_escaped() {
        assert_eq!(csrf_field("ab12").into_string(), r#"<input type="hidden" name="csrf" value="ab12">"#);
        assert_eq!(csrf_field("\"x").into_string(), r#"<input type="hidden" name="csrf" value="&quot;x">"#);
    }
}
