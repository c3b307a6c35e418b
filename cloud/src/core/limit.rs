//! Rate limits for the public forms that could be used to guess or to flood: case-progress
//! lookups (per client and per case number), new questions (per client), bookings (per client
//! and per card).
//!
//! [`Limiter`] is a sliding window over the last hits of each key, with the time passed in:
//! no clock, no IO. The cloud keeps its limiters in [`Limits`] (in memory: a restart forgets
//! them, which only gives a guesser a few more tries). Who "the client" is, is the pages'
//! question (`ui::client::ClientIp`).

use onestop_model::Timestamp;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// At most `max` hits per key within any `window`.
#[derive(Debug, Clone)]
pub struct Limiter {
    max: usize,
    window_ms: i64,
    /// Each key's latest hits (at most `max`), oldest first.
    hits: HashMap<String, VecDeque<i64>>,
}

/// Past this many keys, keys with no hit inside the window are forgotten.
const PRUNE_AT: usize = 10_000;

impl Limiter {
    pub fn new(max: usize, window: Duration) -> Limiter {
        Limiter { max: max.max(1), window_ms: window.as_millis() as i64, hits: HashMap::new() }
    }

    /// When `key` may be hit again, if not now: the moment its oldest hit inside the window
    /// leaves it.
    pub fn blocked_until(&self, key: &str, now: Timestamp) -> Option<Timestamp> {
        let hits = self.hits.get(key)?;
        let live: Vec<i64> = hits.iter().copied().filter(|&t| t > now.0 - self.window_ms).collect();
        (live.len() >= self.max).then(|| Timestamp(live[live.len() - self.max] + self.window_ms))
    }

    /// Counts a hit of `key` at `now`.
    pub fn hit(&mut self, key: &str, now: Timestamp) {
        let window = self.window_ms;
        let hits = self.hits.entry(key.to_string()).or_default();
        hits.retain(|&t| t > now.0 - window);
        hits.push_back(now.0);
        while hits.len() > self.max {
            hits.pop_front();
        }
        if self.hits.len() > PRUNE_AT {
            self.hits.retain(|_, h| h.back().is_some_and(|&t| t > now.0 - window));
        }
    }

    /// How many keys are held (tests).
    pub fn keys(&self) -> usize {
        self.hits.len()
    }
}

/// The website's limits.
pub struct Limits {
    /// Case-progress lookups per client: 10 in 10 minutes.
    pub lookups: Mutex<Limiter>,
    /// Wrong codes per case number (whether the number exists or not): 5 in 30 minutes lock
    /// that number's lookups until the oldest of them is 30 minutes old.
    pub wrong_codes: Mutex<Limiter>,
    /// New questions per client: 3 an hour.
    pub questions: Mutex<Limiter>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            lookups: Mutex::new(Limiter::new(10, Duration::from_secs(600))),
            wrong_codes: Mutex::new(Limiter::new(5, Duration::from_secs(1800))),
            questions: Mutex::new(Limiter::new(3, Duration::from_secs(3600))),
        }
    }
}

/// A limiter, locked (a poisoned lock is taken over: a limiter is always consistent).
pub fn lock(l: &Mutex<Limiter>) -> MutexGuard<'_, Limiter> {
    l.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn a_limiter_allows_max_hits_per_window_and_says_when_the_next_is_allowed() {
        let mut l = Limiter::new(3, Duration::from_secs(600));
        let t = |m: i64| Timestamp(1_000_000_000 + m * MIN);
        assert_eq!(l.blocked_until("a", t(0)), None);
        l.hit("a", t(0));
        l.hit("a", t(1));
        assert_eq!(l.blocked_until("a", t(2)), None);
        l.hit("a", t(2));
        // Full: free again when the hit at minute 0 is ten minutes old.
        assert_eq!(l.blocked_until("a", t(2)), Some(t(10)));
        assert_eq!(l.blocked_until("a", t(9)), Some(t(10)));
        assert_eq!(l.blocked_until("a", t(10)), None);
        assert_eq!(l.blocked_until("b", t(2)), None, "keys are counted apart");
        l.hit("a", t(10));
        assert_eq!(l.blocked_until("a", t(10)), Some(t(11)), "a sliding window, not a fixed one");
        assert_eq!(l.blocked_until("a", t(30)), None);
    }

    #[test]
    fn a_limiter_forgets_idle_keys_when_it_grows() {
        let mut l = Limiter::new(1, Duration::from_secs(60));
        for i in 0..PRUNE_AT {
            l.hit(&i.to_string(), Timestamp(0));
        }
        assert_eq!(l.keys(), PRUNE_AT);
        l.hit("late", Timestamp(10 * MIN));
        assert_eq!(l.keys(), 1);
    }
}
