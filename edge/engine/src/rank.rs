//! The next-ticket rule and the wait estimate.
//!
//! A window calls, among the tickets it may serve:
//! 1. tickets placed at the front by a transfer, in the order they were placed;
//! 2. then the highest effective class: green channel 3, care 2, a booking inside its slot 1,
//!    walk-in 0, each raised by one for every `aging_minutes` waited (at most 3), so nothing
//!    starves;
//! 3. then the longest waiting time multiplied by the service's weight at this window;
//! 4. then the earliest arrival, then the earliest issue.
//!
//! Within equal class and weight, the earliest arrival therefore always goes first.

use crate::{Engine, Status, Ticket};
use onestop_model::{Priority, ServiceId, Source, Timestamp, WindowNo};
use std::cmp::{Ordering, Reverse};

/// The highest class; aging never lifts a ticket above it.
pub const TOP_CLASS: u32 = 3;

fn base_class(priority: Priority) -> u32 {
    match priority {
        Priority::Normal => 0,
        Priority::Care => 2,
        Priority::Green => 3,
    }
}

/// The class of a ticket at `now`, before aging.
fn issued_class(priority: Priority, source: &Source, now: Timestamp) -> u32 {
    let booked = match source {
        Source::Booking { slot_start, .. } if now >= *slot_start => 1,
        _ => 0,
    };
    base_class(priority).max(booked)
}

/// The effective class of a waiting ticket at `now`.
pub fn class(engine: &Engine, t: &Ticket, now: Timestamp) -> u32 {
    let aging_ms = i64::from(engine.config.rules.aging_minutes.max(1)) * 60_000;
    let waited = now.since(t.place.arrival).max(0);
    let aged = u32::try_from(waited / aging_ms).unwrap_or(u32::MAX);
    issued_class(t.priority, &t.source, now).saturating_add(aged).min(TOP_CLASS)
}

/// May `window` call this ticket?
pub fn eligible(engine: &Engine, t: &Ticket, window: WindowNo) -> bool {
    match t.place.window {
        Some(w) => w == window,
        None => engine.config.weight(window, &t.service).is_some(),
    }
}

/// The sort key: smaller is called first.
type Key = (Option<u64>, Reverse<u32>, Reverse<i128>, Timestamp, usize);

fn key(engine: &Engine, t: &Ticket, window: WindowNo, now: Timestamp) -> Key {
    let weight = engine.config.weight(window, &t.service).unwrap_or(1);
    let waited = i128::from(now.since(t.place.arrival).max(0));
    (
        t.place.front,
        Reverse(class(engine, t, now)),
        Reverse(waited * i128::from(weight)),
        t.place.arrival,
        t.seq,
    )
}

fn compare(a: &Key, b: &Key) -> Ordering {
    // Fronts first (in placement order), then the rest of the key.
    match (a.0, b.0) {
        (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.4.cmp(&b.4)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => (a.1, a.2, a.3, a.4).cmp(&(b.1, b.2, b.3, b.4)),
    }
}

/// The index of the ticket `window` calls next at `now`.
pub fn next_for_window(engine: &Engine, window: WindowNo, now: Timestamp) -> Option<usize> {
    engine
        .waiting
        .iter()
        .map(|i| &engine.tickets[*i])
        .filter(|t| t.status == Status::Waiting && eligible(engine, t, window))
        .map(|t| (key(engine, t, window, now), t.seq))
        .min_by(|a, b| compare(&a.0, &b.0))
        .map(|(_, seq)| seq)
}

/// People ahead of a new ticket and its estimated wait in whole minutes (rounded up), as
/// printed on the ticket.
///
/// Ahead: waiting tickets for the same service placed at the front, of a higher class, or of
/// the same class (they arrived earlier). The wait: those people times the mean handling time
/// (today's, or the catalogue's expected minutes early in the day), shared among the open
/// windows serving the service.
pub fn estimate(
    engine: &Engine,
    service: &ServiceId,
    source: &Source,
    priority: Priority,
    now: Timestamp,
) -> (u32, u32) {
    let mine = issued_class(priority, source, now);
    let ahead = engine
        .waiting
        .iter()
        .map(|i| &engine.tickets[*i])
        .filter(|t| &t.service == service && t.place.window.is_none())
        .filter(|t| t.place.front.is_some() || class(engine, t, now) >= mine)
        .count() as u32;
    let per_case_ms = per_case_ms(engine, service);
    let open = engine
        .windows
        .iter()
        .filter(|(w, s)| s.staff.is_some() && engine.config.weight(**w, service).is_some())
        .count()
        .max(1) as i64;
    let wait_ms = i64::from(ahead) * per_case_ms / open;
    (ahead, u32::try_from((wait_ms + 59_999) / 60_000).unwrap_or(u32::MAX))
}

/// Where a waiting ticket stands in its queue at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Position {
    /// People who will be called before it (its place in the queue is `ahead + 1`).
    pub ahead: u32,
    /// Their handling time shared among the open windows serving the queue, in whole minutes
    /// (rounded up): the measure printed on a new ticket, for a ticket already waiting.
    pub wait_min: u32,
}

/// The queue a waiting ticket is in: its service's, or one window's after a transfer there.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum QueueOf<'a> {
    Service(&'a ServiceId),
    Window(WindowNo),
}

/// The mean handling time of `service` (today's, or the catalogue's expected minutes).
fn per_case_ms(engine: &Engine, service: &ServiceId) -> i64 {
    engine.mean_handling_ms(service).unwrap_or_else(|| {
        i64::from(engine.config.services.get(service).map_or(5, |s| s.expected_minutes)) * 60_000
    })
}

/// Every waiting ticket's position (by ticket index), computed in one pass per queue.
///
/// A ticket's queue is the waiting tickets of its service (or, after a transfer to one window,
/// those transferred to that window), in the order the hall's rule calls them at a window
/// serving the queue (an open one if there is one): placed at the front earlier, a higher class
/// now, the longer wait, the earlier arrival, the earlier issue. As for [`estimate`], tickets
/// of other services at shared windows are not counted.
pub fn positions(engine: &Engine, now: Timestamp) -> Vec<(usize, Position)> {
    let mut queues: std::collections::BTreeMap<QueueOf<'_>, Vec<usize>> = std::collections::BTreeMap::new();
    for i in &engine.waiting {
        let t = &engine.tickets[*i];
        let q = match t.place.window {
            Some(w) => QueueOf::Window(w),
            None => QueueOf::Service(&t.service),
        };
        queues.entry(q).or_default().push(*i);
    }
    let open = |w: &WindowNo| engine.windows.get(w).is_some_and(|s| s.staff.is_some());
    let mut out = Vec::with_capacity(engine.waiting.len());
    for (queue, mut members) in queues {
        let (window, servers) = match queue {
            QueueOf::Window(w) => (w, 1),
            QueueOf::Service(s) => {
                let serving: Vec<WindowNo> = engine
                    .config
                    .windows
                    .iter()
                    .filter(|(_, m)| m.contains_key(s))
                    .map(|(w, _)| *w)
                    .collect();
                let open_count = serving.iter().filter(|w| open(w)).count();
                let window = serving.iter().find(|w| open(w)).or(serving.first()).copied().unwrap_or(0);
                (window, open_count.max(1) as i64)
            }
        };
        let mut keyed: Vec<(Key, usize)> =
            members.drain(..).map(|i| (key(engine, &engine.tickets[i], window, now), i)).collect();
        keyed.sort_by(|a, b| compare(&a.0, &b.0));
        let mut handling_ms = 0i64;
        for (ahead, (_, i)) in keyed.into_iter().enumerate() {
            let wait_ms = handling_ms / servers;
            out.push((
                i,
                Position {
                    ahead: u32::try_from(ahead).unwrap_or(u32::MAX),
                    wait_min: u32::try_from((wait_ms + 59_999) / 60_000).unwrap_or(u32::MAX),
                },
            ));
            handling_ms += per_case_ms(engine, &engine.tickets[i].service);
        }
    }
    out
}
