//! Staff sessions, CSRF tokens and one-time card tokens.
//!
//! A session is made by a PIN (checked against the catalogue's argon2 hash) or by a staff card
//! swiped at the window's own reader; it lives in memory (a restarted node asks staff to log in
//! again, while the attendance record stays in the day's document). Every staff form carries
//! the session's CSRF token, compared in constant time.

use super::{Lang, Web, cookie, problem};
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use onestop_webkit::{clear_cookie, random_hex, same_secret, set_cookie};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SESSION_COOKIE: &str = "onestop_staff";
/// A session unused this long ends.
const IDLE: Duration = Duration::from_secs(12 * 3600);
/// A card swipe can be redeemed this long.
const SWIPE_LIFE: Duration = Duration::from_secs(30);

/// A logged-in staff member.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub staff: String,
    pub name: String,
    /// The window they are checked in at (none: a manager's session).
    pub window: Option<u16>,
    pub manager: bool,
    pub csrf: String,
    last_used: Instant,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<String, Session>,
    /// A message for the session's next page.
    flash: HashMap<String, String>,
    /// Staff cards swiped at a window's reader, waiting for that window's login page.
    cards: HashMap<u16, (String, Instant)>,
}

/// The sessions of this node.
#[derive(Clone, Default)]
pub struct Sessions(Arc<Mutex<Inner>>);

/// A fresh random token (128 bits, hex).
pub fn token() -> String {
    random_hex(16)
}

impl Sessions {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a session; returns the cookie to set.
    pub fn open(&self, staff: String, name: String, window: Option<u16>, manager: bool) -> (Session, String) {
        let s = Session {
            token: token(),
            staff,
            name,
            window,
            manager,
            csrf: token(),
            last_used: Instant::now(),
        };
        let mut inner = self.inner();
        // One session per window: a new login at a window ends the old one there.
        if let Some(w) = window {
            inner.sessions.retain(|_, o| o.window != Some(w));
        }
        inner.sessions.insert(s.token.clone(), s.clone());
        let cookie = set_cookie(SESSION_COOKIE, &s.token, None);
        (s, cookie)
    }

    /// Ends a session; returns the cookie that clears it.
    pub fn close(&self, token: &str) -> String {
        self.inner().sessions.remove(token);
        clear_cookie(SESSION_COOKIE)
    }

    /// Ends every session at a window (its staff checked out elsewhere).
    pub fn close_window(&self, window: u16) {
        self.inner().sessions.retain(|_, s| s.window != Some(window));
    }

    fn get(&self, token: &str) -> Option<Session> {
        let mut inner = self.inner();
        let now = Instant::now();
        inner.sessions.retain(|_, s| now.duration_since(s.last_used) < IDLE);
        let s = inner.sessions.get_mut(token)?;
        s.last_used = now;
        Some(s.clone())
    }

    pub fn flash(&self, token: &str, message: String) {
        self.inner().flash.insert(token.to_string(), message);
    }

    pub fn take_flash(&self, token: &str) -> Option<String> {
        self.inner().flash.remove(token)
    }

    /// A staff card at a window's reader.
    pub fn card_swiped(&self, window: u16, card: String) {
        self.inner().cards.insert(window, (card, Instant::now()));
    }

    /// The card swiped at `window` in the last moments, once.
    pub fn take_card(&self, window: u16) -> Option<String> {
        let (card, at) = self.inner().cards.remove(&window)?;
        (at.elapsed() < SWIPE_LIFE).then_some(card)
    }
}

/// Kiosk card swipes, kept under one-time tokens.
#[derive(Default)]
pub struct SwipeBook {
    cards: HashMap<String, (String, Instant)>,
}

impl SwipeBook {
    pub fn keep(&mut self, card: String) -> String {
        self.cards.retain(|_, (_, at)| at.elapsed() < SWIPE_LIFE);
        let t = token();
        self.cards.insert(t.clone(), (card, Instant::now()));
        t
    }
    pub fn redeem(&mut self, token: &str) -> Option<String> {
        let (card, at) = self.cards.remove(token)?;
        (at.elapsed() < SWIPE_LIFE).then_some(card)
    }
}

/// The staff session of a request; without one, staff pages send the browser to the login.
pub struct Staff(pub Session);

impl FromRequestParts<Web> for Staff {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Staff, Response> {
        let found = cookie(&parts.headers, SESSION_COOKIE).and_then(|t| web.sessions.get(&t));
        match found {
            Some(s) => Ok(Staff(s)),
            None if parts.method == axum::http::Method::GET => Err(Redirect::to("/counter").into_response()),
            None => {
                let lang = Lang::from_request_parts(parts, web).await.unwrap_or(Lang::Zh);
                Err(problem(
                    lang,
                    StatusCode::UNAUTHORIZED,
                    "请先登录 / please log in first (your session has ended)",
                    "/counter",
                ))
            }
        }
    }
}

impl Staff {
    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, lang: Lang, given: &str) -> Result<(), Response> {
        if same_secret(&self.0.csrf, given) {
            Ok(())
        } else {
            Err(problem(
                lang,
                StatusCode::FORBIDDEN,
                "表单已失效，请刷新页面重试 / this form has expired or did not come from this page: reload and try again",
                "/counter",
            ))
        }
    }
}

/// Guards the window PIN login against guessing: at most [`PinGuard::CHECKS`] argon2 checks run
/// at once (each takes ~19 MiB; a flood of logins queues instead of exhausting a Pi's memory),
/// and after [`PinGuard::MAX_WRONG`] wrong PINs for a staff member's id that id is locked for
/// [`PinGuard::LOCK`] — a 4-digit PIN can no longer be walked through in minutes. A right PIN
/// clears the count. Ids the catalogue does not have are never counted (nothing can log in
/// with them; a hall waiting for a new member's catalogue must not lock them out before it
/// arrives), so after five tries a locked id is known to exist: staff ids are not secrets.
pub struct PinGuard {
    checks: tokio::sync::Semaphore,
    wrong: std::sync::Mutex<std::collections::HashMap<String, (u32, std::time::Instant)>>,
}

impl Default for PinGuard {
    fn default() -> PinGuard {
        PinGuard { checks: tokio::sync::Semaphore::new(Self::CHECKS), wrong: Default::default() }
    }
}

impl PinGuard {
    /// Argon2 checks at once.
    pub const CHECKS: usize = 2;
    /// Wrong PINs in a row before an id is locked.
    pub const MAX_WRONG: u32 = 5;
    /// How long a locked id stays locked.
    pub const LOCK: std::time::Duration = std::time::Duration::from_secs(5 * 60);

    fn map(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, (u32, std::time::Instant)>> {
        self.wrong.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Minutes (rounded up) until `staff` may try again, if it is locked now.
    pub fn locked(&self, staff: &str) -> Option<u64> {
        let mut map = self.map();
        let (n, since) = *map.get(staff)?;
        if n < Self::MAX_WRONG {
            return None;
        }
        let left = Self::LOCK.checked_sub(since.elapsed());
        match left {
            Some(d) => Some(d.as_secs().div_ceil(60).max(1)),
            None => {
                map.remove(staff);
                None
            }
        }
    }

    /// Runs the PIN check `check` with a permit; counts the outcome for `staff` when the
    /// catalogue `knows` that staff member.
    pub async fn check(
        &self,
        staff: &str,
        knows: bool,
        check: impl FnOnce() -> bool + Send + 'static,
    ) -> bool {
        let Ok(_permit) = self.checks.acquire().await else { return false };
        let ok = tokio::task::spawn_blocking(check).await.unwrap_or(false);
        let mut map = self.map();
        if ok {
            map.remove(staff);
        } else if knows {
            // Forget counts of ids not tried for a while, so the map cannot grow without end.
            if map.len() > 10_000 {
                map.retain(|_, (_, t)| t.elapsed() < Self::LOCK);
            }
            let e = map.entry(staff.to_string()).or_insert((0, std::time::Instant::now()));
            e.0 += 1;
            e.1 = std::time::Instant::now();
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_128_bits_and_fresh() {
        let t = token();
        assert_eq!(t.len(), 32);
        assert_ne!(t, token());
    }

    #[test]
    fn a_new_login_at_a_window_ends_the_old_one() {
        let s = Sessions::default();
        let (a, _) = s.open("wang".into(), "王".into(), Some(3), false);
        let (b, _) = s.open("li".into(), "李".into(), Some(3), false);
        assert!(s.get(&a.token).is_none());
        assert_eq!(s.get(&b.token).unwrap().staff, "li");
        s.close(&b.token);
        assert!(s.get(&b.token).is_none());
    }

    #[test]
    fn swipes_are_redeemed_once() {
        let mut book = SwipeBook::default();
        let t = book.keep("20230001".into());
        assert_eq!(book.redeem(&t).as_deref(), Some("20230001"));
        assert_eq!(book.redeem(&t), None);
        let s = Sessions::default();
        s.card_swiped(2, "S1".into());
        assert_eq!(s.take_card(2).as_deref(), Some("S1"));
        assert_eq!(s.take_card(2), None);
    }
}
