//! Back-office accounts, roles and sessions: the rules, with no HTTP in them (the pages'
//! extractors are `ui::auth`).
//!
//! - Accounts live in `office.sqlite` with argon2id password hashes; five wrong passwords in a
//!   row lock an account for five minutes (counted in the table, so a restart does not reset it).
//! - A session is a random 256-bit token (the pages put it in the `office` cookie); sessions
//!   live in memory, each with its own CSRF token, and end after eight idle hours (by the
//!   injected clock) or at logout.

use onestop_model::{HallId, Timestamp};
use rusqlite::{OptionalExtension, params};
use std::collections::HashMap;
use std::sync::Mutex;

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

/// A session unused this long (milliseconds) has ended.
pub const IDLE_MS: i64 = 8 * 3600 * 1000;
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

impl Account {
    /// May this account act for `hall`? (Admins and reviewers: every hall; hall-bound roles:
    /// their own halls, or every hall when none is named.)
    pub fn may_hall(&self, hall: &HallId) -> bool {
        matches!(self.role, Role::Admin | Role::Reviewer)
            || self.halls.is_empty()
            || self.halls.contains(hall)
    }
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
    Password(#[from] onestop_protocol::secrets::PinError),
    #[error("登录名或密码不正确 / wrong login or password")]
    Wrong,
    #[error("尝试次数过多，请 {0} 分钟后再试 / too many attempts: try again in {0} minutes")]
    Locked(i64),
    #[error("账号已停用 / this account is disabled")]
    Disabled,
    #[error("数据库错误 / database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("没有账号 {0} / there is no account {0}")]
    NoSuch(String),
    #[error("不能停用自己的账号 / you cannot disable your own account")]
    Yourself,
}

impl From<AccountError> for super::Error {
    fn from(e: AccountError) -> super::Error {
        match e {
            AccountError::Db(e) => super::Error::Db(e),
            AccountError::NoSuch(_) => super::Error::Invalid(e.to_string()),
            AccountError::Taken(_) | AccountError::Yourself => super::Error::Conflict(e.to_string()),
            e => super::Error::Invalid(e.to_string()),
        }
    }
}

// ----- The operations the pages use, on the core (its database lock and its clock) -----

/// The live session behind `token` at the core's time: its account (enabled) and CSRF token.
/// A session whose account was disabled or removed is ended.
pub fn session(core: &super::Core, token: &str) -> Result<Option<(Account, String)>, super::Error> {
    let Some((login, csrf)) = core.sessions.touch(token, core.now()) else { return Ok(None) };
    match account(&core.db(), &login)? {
        Some(acc) if !acc.disabled => Ok(Some((acc, csrf))),
        _ => {
            core.sessions.end_all(&login);
            Ok(None)
        }
    }
}

/// Checks a login and password at the core's time; starts a session (its token) when right.
pub fn log_in(
    core: &super::Core,
    login: &str,
    password: &str,
    client: &str,
) -> Result<(Account, String), AccountError> {
    let now = core.now().0;
    let guard = &core.logins;
    guard.admit(login, client, now)?;
    // The stored hash, read with the office database locked only for the read.
    let hash: Option<String> = core
        .db()
        .query_row("SELECT password FROM accounts WHERE login = ?1", params![login], |r| r.get(0))
        .optional()?;
    // argon2 (tens of MiB, a good part of a second) outside any lock, two at most at once.
    let right = guard.argon2(|| match &hash {
        Some(h) => onestop_protocol::secrets::verify_password(h, password),
        None => {
            // The same work as a real check, so timing does not tell which logins exist.
            let _ = onestop_protocol::secrets::verify_password(dummy_hash(), password);
            false
        }
    });
    if !right {
        return Err(guard.failed(login, client, now));
    }
    guard.succeeded(login, client);
    let acc = account(&core.db(), login)?.ok_or(AccountError::Wrong)?;
    if acc.disabled {
        return Err(AccountError::Disabled);
    }
    let token = core.sessions.start(&acc.login, core.now());
    Ok((acc, token))
}

/// Wrong passwords slowed down where they come from. A login is locked for five minutes after
/// five wrong passwords *from one client address* (so an outsider cannot lock a colleague out:
/// the colleague's own address is not locked), a client address may fail ten times in ten
/// minutes whatever the logins, and at most two password checks run at once (each is a large
/// argon2 computation). In memory: a restart forgets them.
#[derive(Default)]
pub struct LoginGuard {
    /// (login, client) → (wrong passwords in a row, locked until).
    failed: Mutex<HashMap<(String, String), (u32, i64)>>,
    clients: Mutex<Option<super::limit::Limiter>>,
    running: Mutex<usize>,
    done: std::sync::Condvar,
}

/// Password checks at once.
const ARGON2_AT_ONCE: usize = 2;
/// Wrong passwords a client address may send in [`CLIENT_WINDOW`].
const CLIENT_FAILURES: usize = 10;
const CLIENT_WINDOW: std::time::Duration = std::time::Duration::from_secs(600);

impl LoginGuard {
    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// May `client` try `login` now?
    fn admit(&self, login: &str, client: &str, now: i64) -> Result<(), AccountError> {
        let mut clients = Self::lock(&self.clients);
        let limiter =
            clients.get_or_insert_with(|| super::limit::Limiter::new(CLIENT_FAILURES, CLIENT_WINDOW));
        if let Some(until) = limiter.blocked_until(client, onestop_model::Timestamp(now)) {
            return Err(AccountError::Locked((until.0 - now + 59_999) / 60_000));
        }
        drop(clients);
        let failed = Self::lock(&self.failed);
        if let Some((_, until)) = failed.get(&(login.to_string(), client.to_string()))
            && *until > now
        {
            return Err(AccountError::Locked((until - now + 59_999) / 60_000));
        }
        Ok(())
    }

    fn argon2<T>(&self, f: impl FnOnce() -> T) -> T {
        let mut running = Self::lock(&self.running);
        while *running >= ARGON2_AT_ONCE {
            running = self.done.wait(running).unwrap_or_else(|e| e.into_inner());
        }
        *running += 1;
        drop(running);
        let out = f();
        *Self::lock(&self.running) -= 1;
        self.done.notify_one();
        out
    }

    /// A wrong password: what to answer.
    fn failed(&self, login: &str, client: &str, now: i64) -> AccountError {
        if let Some(l) = Self::lock(&self.clients).as_mut() {
            l.hit(client, onestop_model::Timestamp(now));
        }
        let mut failed = Self::lock(&self.failed);
        // Past locks go; and if very many addresses have failed, their partial runs too.
        failed.retain(|_, (n, until)| *until > now || *n > 0);
        if failed.len() > 10_000 {
            failed.retain(|_, (_, until)| *until > now);
        }
        let entry = failed.entry((login.to_string(), client.to_string())).or_insert((0, 0));
        entry.0 += 1;
        if entry.0 >= MAX_FAILURES as u32 {
            *entry = (0, now + LOCK_MS);
            return AccountError::Locked(LOCK_MS / 60_000);
        }
        AccountError::Wrong
    }

    fn succeeded(&self, login: &str, client: &str) {
        Self::lock(&self.failed).remove(&(login.to_string(), client.to_string()));
    }
}

/// Every account, for the administrators' list.
pub fn all(core: &super::Core) -> Result<Vec<Account>, AccountError> {
    accounts(&core.db())
}

/// Makes an account at the core's time.
pub fn create(core: &super::Core, acc: &Account, password: &str) -> Result<(), AccountError> {
    create_account(&core.db(), acc, password, core.now().0)
}

/// Sets an account's password (and lifts a lock); its sessions end.
pub fn reset_password(core: &super::Core, login: &str, password: &str) -> Result<(), AccountError> {
    match set_password(&core.db(), login, password) {
        Err(AccountError::Wrong) => return Err(AccountError::NoSuch(login.to_string())),
        r => r?,
    }
    core.sessions.end_all(login);
    Ok(())
}

/// Disables an enabled account or enables a disabled one, as `by`; returns whether it is now
/// disabled. Nobody disables their own account; a disabled account's sessions end.
pub fn toggle(core: &super::Core, login: &str, by: &str) -> Result<bool, AccountError> {
    if login == by {
        return Err(AccountError::Yourself);
    }
    let db = core.db();
    let acc = account(&db, login)?.ok_or_else(|| AccountError::NoSuch(login.to_string()))?;
    set_disabled(&db, login, !acc.disabled)?;
    drop(db);
    core.sessions.end_all(login);
    Ok(!acc.disabled)
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
    let hash = onestop_protocol::secrets::hash_password(password)?;
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
    let hash = onestop_protocol::secrets::hash_password(password)?;
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

/// An argon2id hash of a random password: checked when a login does not exist.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| onestop_protocol::secrets::hash_password(&random_token()).unwrap_or_default())
}

/// 32 random bytes as 64 hex digits: sessions and their CSRF tokens.
pub fn random_token() -> String {
    onestop_protocol::secrets::random_hex(32)
}

/// Compares two secrets in time independent of where they differ (with the other secrets, in
/// `onestop-credentials`; the pages take it from `onestop-webkit`).
pub use onestop_protocol::secrets::same_secret;

#[derive(Debug, Clone)]
struct Session {
    login: String,
    csrf: String,
    last: Timestamp,
}

/// The back office's sessions, by token.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Starts a session for `login` at `now`; returns its token.
    pub fn start(&self, login: &str, now: Timestamp) -> String {
        let token = random_token();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, s| now.since(s.last) < IDLE_MS);
        map.insert(token.clone(), Session { login: login.into(), csrf: random_token(), last: now });
        token
    }
    /// The session's login and CSRF token, if it is alive at `now` (and marks it used).
    pub fn touch(&self, token: &str, now: Timestamp) -> Option<(String, String)> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let s = map.get_mut(token)?;
        if now.since(s.last) >= IDLE_MS {
            map.remove(token);
            return None;
        }
        s.last = s.last.max(now);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

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
        // Logins through the core: wrong passwords are slowed per login and client address.
        let clock = onestop_model::clock::ManualClock::new(Timestamp(1_000));
        let core = super::super::Core::in_memory(Arc::new(clock.clone()));
        create_account(&core.db(), &acc("wang", Role::Admin), "correct horse battery", 0).unwrap();
        let attempt = |password: &str, client: &str| log_in(&core, "wang", password, client).map(|(a, _)| a);
        assert_eq!(attempt("correct horse battery", "10.0.0.1").unwrap().role, Role::Admin);
        assert!(matches!(log_in(&core, "nobody", "x", "10.0.0.1"), Err(AccountError::Wrong)));
        for _ in 0..4 {
            assert!(matches!(attempt("wrong", "10.6.6.6"), Err(AccountError::Wrong)));
        }
        assert!(matches!(attempt("wrong", "10.6.6.6"), Err(AccountError::Locked(5))));
        // Locked for that address: even the right password waits there…
        assert!(matches!(attempt("correct horse battery", "10.6.6.6"), Err(AccountError::Locked(_))));
        // …but the colleague at their own desk is not locked out.
        assert!(attempt("correct horse battery", "10.0.0.1").is_ok());
        clock.advance_ms(LOCK_MS);
        assert!(attempt("correct horse battery", "10.6.6.6").is_ok());
        // One address guessing many logins is held to ten wrong passwords in ten minutes.
        for i in 0..10 {
            let _ = log_in(&core, &format!("guess{i}"), "x", "10.9.9.9");
        }
        assert!(matches!(
            log_in(&core, "wang", "correct horse battery", "10.9.9.9"),
            Err(AccountError::Locked(_))
        ));
        set_disabled(&core.db(), "wang", true).unwrap();
        assert!(matches!(attempt("correct horse battery", "10.0.0.1"), Err(AccountError::Disabled)));
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
    }

    #[test]
    fn sessions_end_after_eight_idle_hours_by_the_clock() {
        let sessions = Sessions::default();
        let t0 = Timestamp(1_800_000_000_000);
        let token = sessions.start("wang", t0);
        assert_eq!(sessions.touch(&token, t0.plus_minutes(60)).map(|s| s.0).as_deref(), Some("wang"));
        // Used an hour in: idle is counted from then.
        assert!(sessions.touch(&token, t0.plus_minutes(60 + 8 * 60 - 1)).is_some());
        assert!(sessions.touch(&token, t0.plus_minutes(60 + 8 * 60 - 1 + 8 * 60)).is_none());
        assert!(sessions.touch(&token, t0).is_none(), "an ended session stays ended");
        let other = sessions.start("li", t0);
        sessions.end_all("li");
        assert!(sessions.touch(&other, t0).is_none());
    }

    #[test]
    fn the_dummy_hash_is_a_real_hash_that_matches_nothing() {
        assert!(dummy_hash().starts_with("$argon2id$"));
        assert!(!onestop_protocol::secrets::verify_password(dummy_hash(), "anything"));
    }
}
