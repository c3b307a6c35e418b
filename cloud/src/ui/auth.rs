//! Who is asking: the back office's officer (a session cookie), its forms' CSRF check, and the
//! public forms' double-submit token. The rules behind them (accounts, roles, sessions) are
//! `core::accounts`.
//!
//! - Every back-office form carries the session's CSRF token ([`OfficeForm`] checks it before
//!   the handler runs); public forms use a double-submit cookie ([`PublicCsrf`]).
//! - Every back-office route takes an [`Officer`] and asks [`Officer::require`] for its area;
//!   without a session it redirects to the login page, without the role it answers 403; each
//!   part of the back office is refused to roles without it before anything of the request is
//!   read ([`area_of`]).

use super::{AppState, Lang, cookie, problem};
use crate::core::accounts::{Account, Area};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::Markup;
use onestop_model::HallId;
use onestop_webkit::{csrf_field, random_hex, same_secret, set_cookie};
use serde::de::DeserializeOwned;

/// The session cookie.
pub const SESSION_COOKIE: &str = "office";
/// The public forms' double-submit cookie.
pub const CSRF_COOKIE: &str = "csrf";

/// The staff member behind a back-office request.
#[derive(Debug, Clone)]
pub struct Officer {
    pub account: Account,
    /// The session's CSRF token: every form of the page carries it.
    pub csrf: String,
    pub lang: Lang,
}

impl Officer {
    /// Refuses the request (403, with a page that says why) unless the role works in `area`.
    pub fn require(&self, area: Area) -> Result<(), Response> {
        if self.account.role.may(area) { Ok(()) } else { Err(forbidden(self.lang)) }
    }
    /// May this account act for `hall`? (Admins and reviewers: every hall; hall-bound roles:
    /// their own halls, or every hall when none is named.)
    pub fn may_hall(&self, hall: &HallId) -> bool {
        self.account.may_hall(hall)
    }
    /// Refuses (403) unless [`Officer::may_hall`].
    pub fn require_hall(&self, hall: &HallId) -> Result<(), Response> {
        if self.may_hall(hall) { Ok(()) } else { Err(forbidden(self.lang)) }
    }
    /// The hidden field every back-office form carries.
    pub fn csrf_field(&self) -> Markup {
        csrf_field(&self.csrf)
    }
}

pub fn forbidden(lang: Lang) -> Response {
    problem(
        lang,
        StatusCode::FORBIDDEN,
        "您的账号无权使用此功能。",
        "Your account may not use this part of the back office.",
    )
}

impl FromRequestParts<AppState> for Officer {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Officer, Response> {
        let lang = Lang::from_request_parts(parts, state).await.unwrap_or(Lang::Zh);
        let to_login = || {
            let back = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/office");
            let back = if back.starts_with("/office") { back } else { "/office" };
            Redirect::to(&format!("/office/login?next={}", urlencode(back))).into_response()
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else { return Err(to_login()) };
        let core = state.core.clone();
        let found = super::blocking(move || crate::core::accounts::session(&core, &token)).await;
        match found {
            // Each part of the back office is refused to roles without it before anything of
            // the request is read (handlers check again, and check halls).
            Ok(Some((account, csrf))) => match area_of(parts.uri.path()) {
                Some(area) if !account.role.may(area) => Err(forbidden(lang)),
                _ => Ok(Officer { account, csrf, lang }),
            },
            Ok(None) => Err(to_login()),
            Err(e) => Err(super::error::respond(lang, &e)),
        }
    }
}

/// The part of the back office a path belongs to (`None`: the home page, logout).
pub fn area_of(path: &str) -> Option<Area> {
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    if under("/office/notices") {
        return Some(Area::Halls);
    }
    super::office::PARTS.iter().find(|(p, ..)| under(p)).map(|(_, area, ..)| *area)
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A back-office form: the officer and the form's fields, after its `csrf` field was found
/// equal to the session's (else 403, and the handler never runs).
pub struct OfficeForm<T> {
    pub officer: Officer,
    pub form: T,
}

#[derive(serde::Deserialize)]
pub struct CsrfField {
    #[serde(default)]
    pub csrf: String,
}

/// A form body's size limit.
const FORM_LIMIT: usize = 4 * 1024 * 1024;

impl<T: DeserializeOwned + Send> FromRequest<AppState> for OfficeForm<T> {
    type Rejection = Response;
    async fn from_request(req: Request, state: &AppState) -> Result<OfficeForm<T>, Response> {
        let (mut parts, body) = req.into_parts();
        let officer = Officer::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, FORM_LIMIT).await.map_err(|_| {
            problem(officer.lang, StatusCode::PAYLOAD_TOO_LARGE, "提交的内容过大。", "The form is too large.")
        })?;
        let field: CsrfField =
            serde_urlencoded::from_bytes(&bytes).unwrap_or(CsrfField { csrf: String::new() });
        if !same_secret(&field.csrf, &officer.csrf) {
            return Err(csrf_refused(officer.lang));
        }
        let form: T = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            problem(
                officer.lang,
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("表单内容不完整或有误：{e}"),
                &format!("The form is incomplete or wrong: {e}"),
            )
        })?;
        Ok(OfficeForm { officer, form })
    }
}

pub fn csrf_refused(lang: Lang) -> Response {
    problem(
        lang,
        StatusCode::FORBIDDEN,
        "表单已过期或来源不明，请返回后刷新页面重试。",
        "This form has expired or did not come from this site: go back, reload the page and try again.",
    )
}

/// The double-submit token of public forms (no session): the `csrf` cookie, made on the
/// first form page, must equal the form's `csrf` field.
#[derive(Debug, Clone)]
pub struct PublicCsrf {
    pub token: String,
    /// The cookie was just made: the page must set it.
    fresh: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for PublicCsrf {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<PublicCsrf, Self::Rejection> {
        Ok(match cookie(&parts.headers, CSRF_COOKIE).filter(|t| t.len() == 64) {
            Some(token) => PublicCsrf { token, fresh: false },
            None => PublicCsrf { token: random_hex(32), fresh: true },
        })
    }
}

impl PublicCsrf {
    pub fn field(&self) -> Markup {
        csrf_field(&self.token)
    }
    /// Does a submitted form's `csrf` field match the cookie? A fresh token (no cookie came
    /// with the request) matches nothing.
    pub fn check(&self, submitted: &str) -> bool {
        !self.fresh && same_secret(&self.token, submitted)
    }
    /// A response for a page with a form: it sets the cookie when it is new.
    pub fn respond(&self, page: impl IntoResponse) -> Response {
        if self.fresh {
            ([(header::SET_COOKIE, set_cookie(CSRF_COOKIE, &self.token, Some(86400)))], page).into_response()
        } else {
            page.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_belong_to_areas() {
        assert_eq!(area_of("/office/catalog/service/x"), Some(Area::Catalog));
        assert_eq!(area_of("/office/notices/n1/delete"), Some(Area::Halls));
        assert_eq!(area_of("/office/cases"), Some(Area::Cases));
        assert_eq!(area_of("/office/casesx"), None);
        assert_eq!(area_of("/office"), None);
        assert_eq!(area_of("/office/logout"), None);
    }
}
