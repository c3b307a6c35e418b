//! Back-office accounts, roles, sessions and CSRF protection.
//!
//! - Accounts live in `office.sqlite` with argon2id password hashes; five wrong passwords in a
//!   row lock an account for five minutes (counted in the table, so a restart does not reset it).
//! - A session is a random 256-bit token in the `office` cookie (HttpOnly, SameSite=Strict);
//!   the server keeps sessions in memory, each with its own CSRF token, and ends them after
//!   eight idle hours or at logout.
//! - Every back-office form carries the session's CSRF token ([`OfficeForm`] checks it before
//!   the handler runs); public forms use a double-submit cookie ([`PublicCsrf`]).
//! - Every back-office route takes an [`Officer`] and asks [`Officer::require`] for its area;
//!   without a session it redirects to the login page, without the role it answers 403.

use super::Backend;
use crate::web::{Lang, WebState, cookie, page};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use onestop_model::HallId;
use rusqlite::{OptionalExtension, params};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    login TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    halls TEXT NOT NULL DEFAULT '',
    password TEXT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    locked_until_ms INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL
);
";

/// The session cookie.
pub const SESSION_COOKIE: &str = "office";
/// The public forms' double-submit cookie.
pub const CSRF_COOKIE: &str = "csrf";
const IDLE: Duration = Duration::from_secs(8 * 3600);
const MAX_FAILURES: i64 = 5;
const LOCK_MS: i64 = 5 * 60_000;

/// What a back-office account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    HallManager,
    Reviewer,
    WindowStaff,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::HallManager, Role::Reviewer, Role::WindowStaff];
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::HallManager => "hall_manager",
            Role::Reviewer => "reviewer",
            Role::WindowStaff => "window_staff",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
    pub fn zh(self) -> &'static str {
        match self {
            Role::Admin => "系统管理员",
            Role::HallManager => "大厅负责人",
            Role::Reviewer => "审核员",
            Role::WindowStaff => "窗口工作人员",
        }
    }
    pub fn en(self) -> &'static str {
        match self {
            Role::Admin => "Administrator",
            Role::HallManager => "Hall manager",
            Role::Reviewer => "Reviewer",
            Role::WindowStaff => "Window staff",
        }
    }
}

/// The parts of the back office; each route belongs to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// Departments, services and guides (campus-wide).
    Catalog,
    /// Halls, windows, queue rules and notices (a hall manager: their halls only).
    Halls,
    /// Staff accounts and window PINs (a hall manager: staff of their halls).
    Staff,
    /// The campus-card directory.
    Cards,
    /// Back-office accounts.
    Accounts,
    /// The pending-case review queue.
    Cases,
    /// Q&A answering and moderation.
    Qa,
    /// 好差评 follow-ups.
    FollowUps,
    /// Statistics (everyone; window staff see their own figures).
    Stats,
    /// The node inventory.
    Nodes,
}

impl Role {
    /// May this role work in `area` at all? (Hall-bound roles are further limited to their
    /// halls by [`Officer::may_hall`].)
    pub fn may(self, area: Area) -> bool {
        use Area::*;
        match self {
            Role::Admin => true,
            Role::HallManager => matches!(area, Halls | Staff | Cases | FollowUps | Stats | Nodes),
            Role::Reviewer => matches!(area, Cases | Qa | Stats),
            Role::WindowStaff => matches!(area, Stats),
        }
    }
}

/// A back-office account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub login: String,
    pub name: String,
    pub role: Role,
    /// The halls a hall manager or window staff member belongs to (empty: every hall).
    pub halls: Vec<HallId>,
    pub disabled: bool,
}

/// Why an account cannot be made or a login fails.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(
        "登录名须为 3 到 32 个小写字母、数字、点、横线或下划线 / a login is 3 to 32 lowercase letters, digits, '.', '-' or '_'"
    )]
    BadLogin,
    #[error("姓名不能为空 / the name is empty")]
    NoName,
    #[error("登录名 {0} 已存在 / the login {0} is taken")]
    Taken(String),
    #[error("{0}")]
    Password(#[from] onestop_sync::secrets::PinError),
    #[error("登录名或密码不正确 / wrong login or password")]
    Wrong,
    #[error("尝试次数过多，请 {0} 分钟后再试 / too many attempts: try again in {0} minutes")]
    Locked(i64),
    #[error("账号已停用 / this account is disabled")]
    Disabled,
    #[error("数据库错误 / database error: {0}")]
    Db(#[from] rusqlite::Error),
}

fn valid_login(login: &str) -> bool {
    (3..=32).contains(&login.len())
        && login.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

fn halls_text(halls: &[HallId]) -> String {
    halls.iter().map(|h| h.as_str()).collect::<Vec<_>>().join(",")
}

fn parse_halls(s: &str) -> Vec<HallId> {
    s.split(',').map(str::trim).filter(|h| !h.is_empty()).map(HallId::new).collect()
}

fn row_account(r: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        login: r.get(0)?,
        name: r.get(1)?,
        role: Role::parse(&r.get::<_, String>(2)?).unwrap_or(Role::WindowStaff),
        halls: parse_halls(&r.get::<_, String>(3)?),
        disabled: r.get::<_, i64>(4)? != 0,
    })
}

/// Makes an account (`onestop-cloud account`, and the admin's accounts page).
pub fn create_account(
    db: &rusqlite::Connection,
    account: &Account,
    password: &str,
    now_ms: i64,
) -> Result<(), AccountError> {
    if !valid_login(&account.login) {
        return Err(AccountError::BadLogin);
    }
    if account.name.trim().is_empty() {
        return Err(AccountError::NoName);
    }
    let hash = onestop_sync::secrets::hash_password(password)?;
    let n = db.execute(
        "INSERT OR IGNORE INTO accounts (login, name, role, halls, password, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![account.login, account.name.trim(), account.role.as_str(), halls_text(&account.halls), hash, now_ms],
    )?;
    if n == 0 {
        return Err(AccountError::Taken(account.login.clone()));
    }
    Ok(())
}

/// Sets a new password (and clears a lock).
pub fn set_password(db: &rusqlite::Connection, login: &str, password: &str) -> Result<(), AccountError> {
    let hash = onestop_sync::secrets::hash_password(password)?;
    let n = db.execute(
        "UPDATE accounts SET password = ?2, failures = 0, locked_until_ms = 0 WHERE login = ?1",
        params![login, hash],
    )?;
    if n == 0 {
        return Err(AccountError::Wrong);
    }
    Ok(())
}

/// Turns an account off or on; a disabled account's sessions end at their next request.
pub fn set_disabled(db: &rusqlite::Connection, login: &str, disabled: bool) -> Result<bool, AccountError> {
    Ok(db.execute("UPDATE accounts SET disabled = ?2 WHERE login = ?1", params![login, disabled as i64])? > 0)
}

pub fn accounts(db: &rusqlite::Connection) -> Result<Vec<Account>, AccountError> {
    let mut st = db.prepare("SELECT login, name, role, halls, disabled FROM accounts ORDER BY login")?;
    let rows = st.query_map([], row_account)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn account(db: &rusqlite::Connection, login: &str) -> Result<Option<Account>, AccountError> {
    Ok(db
        .query_row(
            "SELECT login, name, role, halls, disabled FROM accounts WHERE login = ?1",
            params![login],
            row_account,
        )
        .optional()?)
}

/// Checks a login. Wrong passwords are counted; the sixth try within a lock is refused
/// without checking the password (so guessing costs the guesser time, not the server CPU).
pub fn check_login(
    db: &rusqlite::Connection,
    login: &str,
    password: &str,
    now_ms: i64,
) -> Result<Account, AccountError> {
    let row: Option<(String, i64, i64)> = db
        .query_row(
            "SELECT password, failures, locked_until_ms FROM accounts WHERE login = ?1",
            params![login],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((hash, failures, locked_until)) = row else {
        // The same work as a real check, so timing does not tell which logins exist.
        let _ = onestop_sync::secrets::verify_password(dummy_hash(), password);
        return Err(AccountError::Wrong);
    };
    if locked_until > now_ms {
        return Err(AccountError::Locked((locked_until - now_ms + 59_999) / 60_000));
    }
    if !onestop_sync::secrets::verify_password(&hash, password) {
        let failures = failures + 1;
        let lock = if failures >= MAX_FAILURES { now_ms + LOCK_MS } else { 0 };
        db.execute(
            "UPDATE accounts SET failures = ?2, locked_until_ms = ?3 WHERE login = ?1",
            params![login, if lock > 0 { 0 } else { failures }, lock],
        )?;
        return Err(if lock > 0 { AccountError::Locked(LOCK_MS / 60_000) } else { AccountError::Wrong });
    }
    db.execute("UPDATE accounts SET failures = 0, locked_until_ms = 0 WHERE login = ?1", params![login])?;
    let acc = account(db, login)?.ok_or(AccountError::Wrong)?;
    if acc.disabled {
        return Err(AccountError::Disabled);
    }
    Ok(acc)
}

/// An argon2id hash of a random password: checked when a login does not exist.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| onestop_sync::secrets::hash_password(&random_token()).unwrap_or_default())
}

/// 32 random bytes as 64 hex digits.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the OS random source");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Debug, Clone)]
struct Session {
    login: String,
    csrf: String,
    last: Instant,
}

/// The back office's sessions, by token.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Starts a session for `login`; returns its token.
    pub fn start(&self, login: &str) -> String {
        let token = random_token();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, s| s.last.elapsed() < IDLE);
        map.insert(
            token.clone(),
            Session { login: login.into(), csrf: random_token(), last: Instant::now() },
        );
        token
    }
    /// The session's login and CSRF token, if it is alive (and marks it used).
    fn touch(&self, token: &str) -> Option<(String, String)> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let s = map.get_mut(token)?;
        if s.last.elapsed() >= IDLE {
            map.remove(token);
            return None;
        }
        s.last = Instant::now();
        Some((s.login.clone(), s.csrf.clone()))
    }
    pub fn end(&self, token: &str) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).remove(token);
    }
    /// Ends every session of `login` (a disabled account, a changed password).
    pub fn end_all(&self, login: &str) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, s| s.login != login);
    }
}

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
        matches!(self.account.role, Role::Admin | Role::Reviewer)
            || self.account.halls.is_empty()
            || self.account.halls.contains(hall)
    }
    /// Refuses (403) unless [`Officer::may_hall`].
    pub fn require_hall(&self, hall: &HallId) -> Result<(), Response> {
        if self.may_hall(hall) { Ok(()) } else { Err(forbidden(self.lang)) }
    }
    /// The hidden field every back-office form carries.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.csrf); }
    }
}

pub fn forbidden(lang: Lang) -> Response {
    crate::web::problem(
        lang,
        StatusCode::FORBIDDEN,
        "您的账号无权使用此功能。",
        "Your account may not use this part of the back office.",
    )
}

impl FromRequestParts<WebState> for Officer {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Officer, Response> {
        let lang = Lang::from_request_parts(parts, state).await.unwrap_or(Lang::Zh);
        let to_login = || {
            let back = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/office");
            let back = if back.starts_with("/office") { back } else { "/office" };
            Redirect::to(&format!("/office/login?next={}", urlencode(back))).into_response()
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else { return Err(to_login()) };
        let backend: &Backend = &state.backend;
        let Some((login, csrf)) = backend.sessions.touch(&token) else { return Err(to_login()) };
        let acc = account(&backend.db(), &login).ok().flatten();
        match acc {
            // Each part of the back office is refused to roles without it before anything of
            // the request is read (handlers check again, and check halls).
            Some(account) if !account.disabled => match area_of(parts.uri.path()) {
                Some(area) if !account.role.may(area) => Err(forbidden(lang)),
                _ => Ok(Officer { account, csrf, lang }),
            },
            _ => {
                backend.sessions.end_all(&login);
                Err(to_login())
            }
        }
    }
}

/// The part of the back office a path belongs to (`None`: the home page, logout).
pub fn area_of(path: &str) -> Option<Area> {
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    if under("/office/notices") {
        return Some(Area::Halls);
    }
    super::shell::PARTS.iter().find(|(p, ..)| under(p)).map(|(_, area, ..)| *area)
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

impl<T: DeserializeOwned + Send> FromRequest<WebState> for OfficeForm<T> {
    type Rejection = Response;
    async fn from_request(req: Request, state: &WebState) -> Result<OfficeForm<T>, Response> {
        let (mut parts, body) = req.into_parts();
        let officer = Officer::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, FORM_LIMIT).await.map_err(|_| {
            crate::web::problem(
                officer.lang,
                StatusCode::PAYLOAD_TOO_LARGE,
                "提交的内容过大。",
                "The form is too large.",
            )
        })?;
        let field: CsrfField =
            serde_urlencoded::from_bytes(&bytes).unwrap_or(CsrfField { csrf: String::new() });
        if !same_secret(&field.csrf, &officer.csrf) {
            return Err(csrf_refused(officer.lang));
        }
        let form: T = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            crate::web::problem(
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
    crate::web::problem(
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
            None => PublicCsrf { token: random_token(), fresh: true },
        })
    }
}

impl PublicCsrf {
    pub fn field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.token); }
    }
    /// Does a submitted form's `csrf` field match the cookie? A fresh token (no cookie came
    /// with the request) matches nothing.
    pub fn check(&self, submitted: &str) -> bool {
        !self.fresh && same_secret(&self.token, submitted)
    }
    /// A response for a page with a form: it sets the cookie when it is new.
    pub fn respond(&self, page: impl IntoResponse) -> Response {
        if self.fresh {
            (
                [(
                    header::SET_COOKIE,
                    format!("{CSRF_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age=86400", self.token),
                )],
                page,
            )
                .into_response()
        } else {
            page.into_response()
        }
    }
}

// ----- Pages: login and logout -----

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
    axum::extract::State(state): axum::extract::State<WebState>,
    lang: Lang,
    csrf: PublicCsrf,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    if !csrf.check(&form.csrf) {
        return csrf_refused(lang);
    }
    let next = safe_next(form.next.as_deref());
    let backend = state.backend.clone();
    let login = form.login.trim().to_lowercase();
    let checked = tokio::task::spawn_blocking({
        let login = login.clone();
        move || check_login(&backend.db(), &login, &form.password, crate::web::now().0)
    })
    .await;
    match checked {
        Ok(Ok(acc)) => {
            let token = state.backend.sessions.start(&acc.login);
            tracing::info!(message = "Back-office login.", login = %acc.login, role = acc.role.as_str());
            (
                [(
                    header::SET_COOKIE,
                    format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"),
                )],
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
        Err(_) => crate::web::problem(lang, StatusCode::INTERNAL_SERVER_ERROR, "登录失败。", "Login failed."),
    }
}

pub async fn logout(
    axum::extract::State(state): axum::extract::State<WebState>,
    headers: axum::http::HeaderMap,
    OfficeForm { .. }: OfficeForm<CsrfField>,
) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        state.backend.sessions.end(&token);
    }
    (
        [(header::SET_COOKIE, format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"))],
        Redirect::to("/office/login"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> rusqlite::Connection {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch(SCHEMA).unwrap();
        c
    }

    fn acc(login: &str, role: Role) -> Account {
        Account { login: login.into(), name: "王老师".into(), role, halls: vec![], disabled: false }
    }

    #[test]
    fn logins_lock_after_five_wrong_passwords() {
        let db = db();
        create_account(&db, &acc("wang", Role::Admin), "correct horse battery", 0).unwrap();
        assert!(matches!(
            create_account(&db, &acc("wang", Role::Admin), "another password", 0),
            Err(AccountError::Taken(_))
        ));
        assert!(matches!(
            create_account(&db, &acc("Bad Login", Role::Admin), "another password", 0),
            Err(AccountError::BadLogin)
        ));
        assert!(matches!(
            create_account(&db, &acc("liu", Role::Admin), "short", 0),
            Err(AccountError::Password(_))
        ));
        assert_eq!(check_login(&db, "wang", "correct horse battery", 1).unwrap().role, Role::Admin);
        assert!(matches!(check_login(&db, "nobody", "x", 1), Err(AccountError::Wrong)));
        for _ in 0..4 {
            assert!(matches!(check_login(&db, "wang", "wrong", 1), Err(AccountError::Wrong)));
        }
        assert!(matches!(check_login(&db, "wang", "wrong", 1), Err(AccountError::Locked(5))));
        // Locked: even the right password waits.
        assert!(matches!(check_login(&db, "wang", "correct horse battery", 2), Err(AccountError::Locked(_))));
        assert!(check_login(&db, "wang", "correct horse battery", 1 + LOCK_MS).is_ok());
        set_disabled(&db, "wang", true).unwrap();
        assert!(matches!(
            check_login(&db, "wang", "correct horse battery", 1 + LOCK_MS),
            Err(AccountError::Disabled)
        ));
    }

    #[test]
    fn paths_belong_to_areas() {
        assert_eq!(area_of("/office/catalog/service/x"), Some(Area::Catalog));
        assert_eq!(area_of("/office/notices/n1/delete"), Some(Area::Halls));
        assert_eq!(area_of("/office/cases"), Some(Area::Cases));
        assert_eq!(area_of("/office/casesx"), None);
        assert_eq!(area_of("/office"), None);
        assert_eq!(area_of("/office/logout"), None);
    }

    #[test]
    fn roles_and_areas() {
        assert!(Role::Admin.may(Area::Accounts));
        assert!(!Role::HallManager.may(Area::Accounts));
        assert!(!Role::HallManager.may(Area::Catalog));
        assert!(Role::HallManager.may(Area::Halls));
        assert!(Role::Reviewer.may(Area::Cases) && Role::Reviewer.may(Area::Qa));
        assert!(!Role::Reviewer.may(Area::Staff));
        assert!(Role::WindowStaff.may(Area::Stats) && !Role::WindowStaff.may(Area::Cases));
        assert_eq!(safe_next(Some("https://evil.example/office")), "/office");
        assert_eq!(safe_next(Some("//evil.example")), "/office");
        assert_eq!(safe_next(Some("/office/cases")), "/office/cases");
    }

    #[test]
    fn the_dummy_hash_is_a_real_hash_that_matches_nothing() {
        assert!(dummy_hash().starts_with("$argon2id$"));
        assert!(!onestop_sync::secrets::verify_password(dummy_hash(), "anything"));
    }
}
