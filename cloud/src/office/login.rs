//! The back office's login and logout pages.

use crate::core::accounts::{AccountError, log_in};
use crate::ui::auth::{CsrfField, OfficeForm, PublicCsrf, SESSION_COOKIE, csrf_refused};
use crate::ui::{AppState, Lang, cookie, page, problem};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

#[derive(serde::Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: Option<String>,
}

/// Only this back office's own paths are followed after login.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/office") && !n.contains("//") && !n.contains('\\') => n.to_string(),
        _ => "/office".into(),
    }
}

fn login_page(lang: Lang, csrf: &PublicCsrf, next: &str, error: Option<&str>, login: &str) -> Markup {
    page(
        lang,
        lang.one("后台登录", "Back office login"),
        None,
        html! {
            h1 { (lang.t("后台登录", "Back office login")) }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form.stack method="post" action="/office/login" {
                (csrf.field())
                input type="hidden" name="next" value=(next);
                label { (lang.t("登录名", "Login")) input name="login" value=(login) autocomplete="username" required; }
                label { (lang.t("密码", "Password")) input type="password" name="password" autocomplete="current-password" required; }
                button type="submit" { (lang.t("登录", "Log in")) }
            }
        },
    )
}

pub async fn login_form(lang: Lang, csrf: PublicCsrf, q: axum::extract::Query<NextQuery>) -> Response {
    let next = safe_next(q.next.as_deref());
    csrf.respond(login_page(lang, &csrf, &next, None, ""))
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
}

pub async fn login(
    axum::extract::State(state): axum::extract::State<AppState>,
    lang: Lang,
    csrf: PublicCsrf,
    client: crate::ui::client::ClientIp,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    if !csrf.check(&form.csrf) {
        return csrf_refused(lang);
    }
    let next = safe_next(form.next.as_deref());
    let core = state.core.clone();
    let login = form.login.trim().to_lowercase();
    let checked = tokio::task::spawn_blocking({
        let login = login.clone();
        move || log_in(&core, &login, &form.password, &client.key())
    })
    .await;
    match checked {
        Ok(Ok((acc, token))) => {
            tracing::info!(message = "Back-office login.", login = %acc.login, role = acc.role.as_str());
            (
                [(header::SET_COOKIE, onestop_webkit::set_cookie(SESSION_COOKIE, &token, None))],
                Redirect::to(&next),
            )
                .into_response()
        }
        Ok(Err(e)) => {
            tracing::info!(message = "Back-office login refused.", login = %login, reason = %e);
            let status = if matches!(e, AccountError::Locked(_)) {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::UNAUTHORIZED
            };
            (status, csrf.respond(login_page(lang, &csrf, &next, Some(&e.to_string()), &login)))
                .into_response()
        }
        Err(_) => problem(lang, StatusCode::INTERNAL_SERVER_ERROR, "登录失败。", "Login failed."),
    }
}

pub async fn logout(
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
    OfficeForm { .. }: OfficeForm<CsrfField>,
) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        state.core.sessions.end(&token);
    }
    ([(header::SET_COOKIE, onestop_webkit::clear_cookie(SESSION_COOKIE))], Redirect::to("/office/login"))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_own_paths_are_followed_after_login() {
        assert_eq!(safe_next(Some("https://evil.example/office")), "/office");
        assert_eq!(safe_next(Some("//evil.example")), "/office");
        assert_eq!(safe_next(Some("/office/cases")), "/office/cases");
    }
}
