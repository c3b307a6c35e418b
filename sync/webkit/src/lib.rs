//! What the hall's pages (`onestop-edge`, `hall/web/`) and the campus website
//! (`onestop-cloud`, `ui/`) share, so the two never drift apart:
//!
//! - [`Lang`]: the reader's language, from the `lang` cookie (Chinese unless it says English),
//!   and text in both languages, the reader's first; [`set_lang`] switches it and goes back to
//!   the page the reader was on ([`back_path`]: this site's paths only);
//! - [`frame`]: the `<head>` every page has and the body around a side's own layout;
//!   [`lang_switch`]: the links between the languages;
//! - [`cookie`], [`set_cookie`], [`clear_cookie`]: reading a request's cookie, and the
//!   private (HttpOnly, SameSite=Strict) cookies of sessions and form tokens;
//! - [`csrf_field`]: the hidden field that carries a form's CSRF token;
//! - [`same_secret`] and [`random_hex`]: secrets compared in constant time and random tokens
//!   (from `onestop-credentials`, where the cloud's core, which has no HTTP, takes them too).
//!
//! Each side keeps its own routes, page layout, sessions and style sheet.

mod cookie;
mod lang;
mod page;

pub use cookie::{clear_cookie, cookie, set_cookie};
pub use lang::{Lang, back_path, set_lang};
pub use onestop_credentials::secrets::{random_hex, same_secret};
pub use page::{csrf_field, frame, lang_switch};
