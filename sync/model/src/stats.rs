//! The statistics' definitions, written once and used by the hall's own figures
//! (`onestop_engine::view::Figures`) and by the campus cloud's projection and pages alike.
//!
//! | figure | definition |
//! |---|---|
//! | wait | first call − issue ([`wait_ms`]); a ticket never called has no wait |
//! | handling | finish − start of the service that finished it ([`handling_ms`]) |
//! | total stay | finish − issue, for finished tickets ([`stay_ms`]) |
//! | served within the target wait | tickets called with wait ≤ the hall's `target_wait_minutes`, over tickets called |
//! | p90 wait | the nearest-rank 90th percentile of waits counted in whole minutes rounded up ([`WaitHistogram`]) |
//! | no-show rate | no-shows (a ticket still a no-show at the end) / tickets issued |
//! | satisfaction | (非常满意 + 满意) / rated ([`Level::is_satisfied`]) |
//! | a ticket's hour | the local hour of its issue |
//! | a ticket's window and staff | the window that last called it and who was checked in there then (the window that finished it, for a finished ticket) |
//! | a ticket's service | the service it was finally served under (after transfers) |
//! | attendance | check-in to check-out at a window (a new check-in at the same window ends the last); on duty = that span; pauses with their reasons inside it |
//! | booking kept / missed | kept: a ticket was issued from it; missed: its slot ended, no ticket, not cancelled ([`booking_missed`]) |
//!
//! Pure: no IO, no clock (times are parameters).

use crate::day::{DayEvent, Level, PersonKind, Priority, Rating, Source};
use crate::ids::{BookingId, ServiceId, StaffId, TicketNo, WindowNo};
use crate::time::{Day, Timestamp};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// wait = first call − issue, in ms (never negative); `None` while never called.
pub fn wait_ms(issued: Timestamp, first_called: Option<Timestamp>) -> Option<i64> {
    first_called.map(|c| c.since(issued).max(0))
}

/// handling = finish − start, in ms (never negative); `None` unless both happened.
pub fn handling_ms(started: Option<Timestamp>, finished: Option<Timestamp>) -> Option<i64> {
    Some(finished?.since(started?).max(0))
}

/// total stay = finish − issue, in ms (never negative); `None` until finished.
pub fn stay_ms(issued: Timestamp, finished: Option<Timestamp>) -> Option<i64> {
    finished.map(|f| f.since(issued).max(0))
}

/// Whether a wait is within the hall's target (`target_wait_minutes`, inclusive).
pub fn within_target(wait_ms: i64, target_minutes: u32) -> bool {
    wait_ms <= i64::from(target_minutes) * 60_000
}

/// `part / whole` in percent; `None` for an empty whole.
pub fn percent(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 * 100.0 / whole as f64)
}

/// The mean of `n` values summing to `sum`; `None` for none.
pub fn mean(sum: i64, n: u64) -> Option<f64> {
    (n > 0).then(|| sum as f64 / n as f64)
}

/// Whether a booking was missed at `now`: its slot has ended, no ticket was issued from it
/// and it was not cancelled.
pub fn booking_missed(kept: bool, cancelled: bool, slot_end: Timestamp, now: Timestamp) -> bool {
    !kept && !cancelled && slot_end <= now
}

/// The day `n` working days (Monday to Friday) after `day`; from a weekend day the count
/// starts on the next Monday.
pub fn plus_working_days(day: Day, n: u32) -> Day {
    let mut d = day;
    let mut left = n;
    while left > 0 {
        d = d.next();
        if d.weekday() <= 5 {
            left -= 1;
        }
    }
    d
}

/// The largest wait bucket: waits of this many minutes or more share it.
pub const WAIT_BUCKET_MAX: usize = 240;

/// Waits counted in whole minutes rounded up (0 s → 0, 1 s to 60 s → 1, …), the last bucket
/// open. Exact for "within the target" (a target is whole minutes); the percentiles are
/// whole minutes, an upper bound of the exact value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitHistogram {
    counts: Vec<u64>,
}

impl Default for WaitHistogram {
    fn default() -> Self {
        WaitHistogram { counts: vec![0; WAIT_BUCKET_MAX + 1] }
    }
}

impl WaitHistogram {
    /// The bucket of a wait: minutes rounded up, at most [`WAIT_BUCKET_MAX`].
    pub fn bucket(wait_ms: i64) -> usize {
        let m = (wait_ms.max(0) + 59_999) / 60_000;
        (m as usize).min(WAIT_BUCKET_MAX)
    }
    pub fn add(&mut self, wait_ms: i64) {
        self.counts[Self::bucket(wait_ms)] += 1;
    }
    pub fn merge(&mut self, other: &WaitHistogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
    /// Waits of at most `minutes` (exact: waits are whole-second, buckets round up).
    pub fn at_most(&self, minutes: u32) -> u64 {
        let end = (minutes as usize).min(WAIT_BUCKET_MAX);
        self.counts[..=end].iter().sum()
    }
    /// The nearest-rank `p`th percentile (1–100) in minutes; `None` when empty.
    pub fn percentile(&self, p: u32) -> Option<u32> {
        let n = self.total();
        if n == 0 {
            return None;
        }
        let rank = (u64::from(p.clamp(1, 100)) * n).div_ceil(100).max(1);
        let mut seen = 0;
        for (m, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(m as u32);
            }
        }
        Some(WAIT_BUCKET_MAX as u32)
    }
    /// Compact text "minute:count,…" of the non-empty buckets (how the cloud stores it).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (m, c) in self.counts.iter().enumerate().filter(|(_, c)| **c > 0) {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(&format!("{m}:{c}"));
        }
        out
    }
    /// Reads [`WaitHistogram::to_text`]; unreadable parts are skipped.
    pub fn from_text(s: &str) -> WaitHistogram {
        let mut h = WaitHistogram::default();
        for part in s.split(',') {
            if let Some((m, c)) = part.split_once(':')
                && let (Ok(m), Ok(c)) = (m.parse::<usize>(), c.parse::<u64>())
            {
                h.counts[m.min(WAIT_BUCKET_MAX)] += c;
            }
        }
        h
    }
}

/// Where a ticket's life ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Waiting,
    Called,
    Serving,
    Done,
    NoShow,
}

impl Outcome {
    pub const ALL: [Outcome; 5] =
        [Outcome::Waiting, Outcome::Called, Outcome::Serving, Outcome::Done, Outcome::NoShow];
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Waiting => "waiting",
            Outcome::Called => "called",
            Outcome::Serving => "serving",
            Outcome::Done => "done",
            Outcome::NoShow => "no_show",
        }
    }
    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// How a ticket was taken, without who took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKind {
    Card,
    Booking,
    Anonymous,
}

impl SourceKind {
    pub const ALL: [SourceKind; 3] = [SourceKind::Card, SourceKind::Booking, SourceKind::Anonymous];
    pub fn of(s: &Source) -> SourceKind {
        match s {
            Source::Card(_) => SourceKind::Card,
            Source::Booking { .. } => SourceKind::Booking,
            Source::Anonymous => SourceKind::Anonymous,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Card => "card",
            SourceKind::Booking => "booking",
            SourceKind::Anonymous => "anonymous",
        }
    }
    pub fn parse(s: &str) -> Option<SourceKind> {
        SourceKind::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// One ticket as statistics see it: the fact row of the projection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketFacts {
    pub ticket: TicketNo,
    /// The service it was finally served under.
    pub service: ServiceId,
    pub priority: Priority,
    pub source: SourceKind,
    pub booking: Option<BookingId>,
    pub visitor_kind: Option<PersonKind>,
    /// College or department from the campus card.
    pub college: Option<String>,
    pub issued_at: Timestamp,
    /// The local hour (0–23) of its issue.
    pub hour: u8,
    pub first_called_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// When it (last) became a no-show.
    pub no_show_at: Option<Timestamp>,
    pub window: Option<WindowNo>,
    pub staff: Option<StaffId>,
    pub outcome: Outcome,
    pub calls: u32,
    pub transfers: u32,
    pub rating: Option<Rating>,
    pub rated_at: Option<Timestamp>,
}

impl TicketFacts {
    pub fn wait_ms(&self) -> Option<i64> {
        wait_ms(self.issued_at, self.first_called_at)
    }
    pub fn handling_ms(&self) -> Option<i64> {
        handling_ms(self.started_at, self.finished_at)
    }
    pub fn stay_ms(&self) -> Option<i64> {
        stay_ms(self.issued_at, self.finished_at)
    }
}

/// A staff member's stretch at a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    pub window: WindowNo,
    pub staff: StaffId,
    pub checked_in: Timestamp,
    pub checked_out: Option<Timestamp>,
}

impl Shift {
    /// Hours on duty: check-in to check-out, in ms; `None` while still checked in.
    pub fn on_duty_ms(&self) -> Option<i64> {
        self.checked_out.map(|o| o.since(self.checked_in).max(0))
    }
}

/// A pause at a window, with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    pub window: WindowNo,
    pub staff: Option<StaffId>,
    pub reason: String,
    pub paused_at: Timestamp,
    /// Resumed, or ended by a check-out or a new check-in.
    pub resumed_at: Option<Timestamp>,
}

impl Pause {
    pub fn paused_ms(&self) -> Option<i64> {
        self.resumed_at.map(|r| r.since(self.paused_at).max(0))
    }
}

/// A rating that opens a follow-up: 不满意 or worse.
pub fn needs_follow_up(level: Level) -> bool {
    level <= Level::Unsatisfied
}

/// One hall's day as statistics see it, folded from the day's events one at a time (so a
/// projection can go on from where it stopped: folding a prefix, then the rest, equals folding
/// the whole).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DayFacts {
    /// Local midnight of the day (the day document's `t0`): hours count from it.
    pub origin: Timestamp,
    pub tickets: Vec<TicketFacts>,
    pub shifts: Vec<Shift>,
    pub pauses: Vec<Pause>,
    index: HashMap<TicketNo, usize>,
    /// Tickets changed since [`DayFacts::take_changed`].
    changed: BTreeSet<usize>,
    /// Events that named a ticket never issued (skipped).
    pub skipped: u64,
}

impl DayFacts {
    pub fn new(origin: Timestamp) -> DayFacts {
        DayFacts { origin, ..DayFacts::default() }
    }

    /// Facts as a projection stored them: the state to go on folding from.
    pub fn from_parts(
        origin: Timestamp,
        tickets: Vec<TicketFacts>,
        shifts: Vec<Shift>,
        pauses: Vec<Pause>,
    ) -> DayFacts {
        let index = tickets.iter().enumerate().map(|(i, t)| (t.ticket, i)).collect();
        DayFacts { origin, tickets, shifts, pauses, index, changed: BTreeSet::new(), skipped: 0 }
    }

    /// Folds a whole day.
    pub fn of(origin: Timestamp, events: &[DayEvent]) -> DayFacts {
        let mut f = DayFacts::new(origin);
        for e in events {
            f.apply(e);
        }
        f
    }

    /// The indices of tickets changed since the last call (and forgets them).
    pub fn take_changed(&mut self) -> BTreeSet<usize> {
        std::mem::take(&mut self.changed)
    }

    pub fn ticket(&self, no: TicketNo) -> Option<&TicketFacts> {
        self.index.get(&no).map(|i| &self.tickets[*i])
    }

    fn open_shift(&mut self, window: WindowNo) -> Option<&mut Shift> {
        self.shifts.iter_mut().rev().find(|s| s.window == window && s.checked_out.is_none())
    }

    fn staff_at(&self, window: WindowNo) -> Option<StaffId> {
        self.shifts
            .iter()
            .rev()
            .find(|s| s.window == window && s.checked_out.is_none())
            .map(|s| s.staff.clone())
    }

    fn end_pause(&mut self, window: WindowNo, at: Timestamp) {
        if let Some(p) = self.pauses.iter_mut().rev().find(|p| p.window == window && p.resumed_at.is_none()) {
            p.resumed_at = Some(at);
        }
    }

    fn end_shift(&mut self, window: WindowNo, at: Timestamp) {
        self.end_pause(window, at);
        if let Some(s) = self.open_shift(window) {
            s.checked_out = Some(at);
        }
    }

    fn touch(&mut self, no: TicketNo) -> Option<&mut TicketFacts> {
        match self.index.get(&no) {
            Some(i) => {
                self.changed.insert(*i);
                Some(&mut self.tickets[*i])
            }
            None => {
                self.skipped += 1;
                None
            }
        }
    }

    /// Folds one event.
    pub fn apply(&mut self, ev: &DayEvent) {
        match ev {
            DayEvent::Issued { at, ticket, service, source, priority, .. } => {
                if self.index.contains_key(ticket) {
                    self.skipped += 1;
                    return;
                }
                let visitor = source.visitor();
                let hour = (at.since(self.origin).div_euclid(3_600_000)).clamp(0, 23) as u8;
                self.tickets.push(TicketFacts {
                    ticket: *ticket,
                    service: service.clone(),
                    priority: *priority,
                    source: SourceKind::of(source),
                    booking: match source {
                        Source::Booking { booking, .. } => Some(booking.clone()),
                        _ => None,
                    },
                    visitor_kind: visitor.map(|v| v.kind),
                    college: visitor.map(|v| v.college.clone()).filter(|c| !c.is_empty()),
                    issued_at: *at,
                    hour,
                    first_called_at: None,
                    started_at: None,
                    finished_at: None,
                    no_show_at: None,
                    window: None,
                    staff: None,
                    outcome: Outcome::Waiting,
                    calls: 0,
                    transfers: 0,
                    rating: None,
                    rated_at: None,
                });
                let i = self.tickets.len() - 1;
                self.index.insert(*ticket, i);
                self.changed.insert(i);
            }
            DayEvent::CheckedIn { at, window, staff } => {
                self.end_shift(*window, *at);
                self.shifts.push(Shift {
                    window: *window,
                    staff: staff.clone(),
                    checked_in: *at,
                    checked_out: None,
                });
            }
            DayEvent::CheckedOut { at, window } => self.end_shift(*window, *at),
            DayEvent::Paused { at, window, reason } => {
                self.end_pause(*window, *at);
                let staff = self.staff_at(*window);
                self.pauses.push(Pause {
                    window: *window,
                    staff,
                    reason: reason.clone(),
                    paused_at: *at,
                    resumed_at: None,
                });
            }
            DayEvent::Resumed { at, window } => self.end_pause(*window, *at),
            DayEvent::Called { at, ticket, window } => {
                let staff = self.staff_at(*window);
                if let Some(t) = self.touch(*ticket) {
                    t.first_called_at.get_or_insert(*at);
                    t.window = Some(*window);
                    t.staff = staff;
                    t.outcome = Outcome::Called;
                    t.calls += 1;
                }
            }
            DayEvent::Recalled { ticket, .. } => {
                if let Some(t) = self.touch(*ticket) {
                    t.calls += 1;
                }
            }
            DayEvent::NoShow { at, ticket, .. } => {
                if let Some(t) = self.touch(*ticket) {
                    t.outcome = Outcome::NoShow;
                    t.no_show_at = Some(*at);
                }
            }
            DayEvent::Reactivated { ticket, .. } => {
                if let Some(t) = self.touch(*ticket) {
                    t.outcome = Outcome::Waiting;
                }
            }
            DayEvent::Transferred { ticket, to, .. } => {
                if let Some(t) = self.touch(*ticket) {
                    if let crate::day::TransferTarget::Service(s) = to {
                        t.service = s.clone();
                    }
                    t.outcome = Outcome::Waiting;
                    t.started_at = None;
                    t.transfers += 1;
                }
            }
            DayEvent::Started { at, ticket, window } => {
                let staff = self.staff_at(*window);
                if let Some(t) = self.touch(*ticket) {
                    t.started_at = Some(*at);
                    t.window = Some(*window);
                    t.staff = staff.or(t.staff.take());
                    t.outcome = Outcome::Serving;
                }
            }
            DayEvent::Finished { at, ticket, window, .. } => {
                let staff = self.staff_at(*window);
                if let Some(t) = self.touch(*ticket) {
                    t.finished_at = Some(*at);
                    t.window = Some(*window);
                    t.staff = staff.or(t.staff.take());
                    t.outcome = Outcome::Done;
                }
            }
            DayEvent::Rated { at, ticket, rating, .. } => {
                if let Some(t) = self.touch(*ticket) {
                    t.rating = Some(*rating);
                    t.rated_at = Some(*at);
                }
            }
        }
    }
}

/// Sums over a set of tickets, from which every figure is derived. Sums add: the totals of a
/// union are the merged totals of its parts (how the cloud's daily rollups combine).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Totals {
    pub issued: u64,
    /// Tickets called at least once (those with a wait).
    pub called: u64,
    pub wait_sum_ms: i64,
    pub waits: WaitHistogram,
    /// Called tickets whose wait was within their hall's target (set by
    /// [`Totals::merge_at_target`]: a target belongs to a hall).
    pub within_target: u64,
    pub handled: u64,
    pub handling_sum_ms: i64,
    /// Finished tickets.
    pub served: u64,
    pub stay_sum_ms: i64,
    pub no_shows: u64,
    pub rated: u64,
    /// Ratings by level, index `score − 1` (非常不满意 first).
    pub levels: [u64; 5],
    /// Sums and counts of the optional dimensions: attitude, efficiency, quality.
    pub dim_sum: [u64; 3],
    pub dim_n: [u64; 3],
}

impl Totals {
    /// Counts one ticket (its wait is not judged against a target here).
    pub fn add(&mut self, t: &TicketFacts) {
        self.issued += 1;
        if let Some(w) = t.wait_ms() {
            self.called += 1;
            self.wait_sum_ms += w;
            self.waits.add(w);
        }
        if let Some(h) = t.handling_ms() {
            self.handled += 1;
            self.handling_sum_ms += h;
        }
        if let Some(s) = t.stay_ms() {
            self.served += 1;
            self.stay_sum_ms += s;
        }
        if t.outcome == Outcome::NoShow {
            self.no_shows += 1;
        }
        if let Some(r) = &t.rating {
            self.rated += 1;
            self.levels[usize::from(r.level.score()) - 1] += 1;
            for (i, d) in [r.attitude, r.efficiency, r.quality].into_iter().enumerate() {
                if let Some(l) = d {
                    self.dim_sum[i] += u64::from(l.score());
                    self.dim_n[i] += 1;
                }
            }
        }
    }

    /// Adds `part` (one hall's tickets), judging its waits against that hall's target.
    pub fn merge_at_target(&mut self, part: &Totals, target_wait_minutes: u32) {
        self.merge(part);
        self.within_target += part.waits.at_most(target_wait_minutes);
    }

    /// Adds `part` as it is (its `within_target` too).
    pub fn merge(&mut self, part: &Totals) {
        self.issued += part.issued;
        self.called += part.called;
        self.wait_sum_ms += part.wait_sum_ms;
        self.waits.merge(&part.waits);
        self.within_target += part.within_target;
        self.handled += part.handled;
        self.handling_sum_ms += part.handling_sum_ms;
        self.served += part.served;
        self.stay_sum_ms += part.stay_sum_ms;
        self.no_shows += part.no_shows;
        self.rated += part.rated;
        for i in 0..5 {
            self.levels[i] += part.levels[i];
        }
        for i in 0..3 {
            self.dim_sum[i] += part.dim_sum[i];
            self.dim_n[i] += part.dim_n[i];
        }
    }

    /// Ratings of 非常满意 or 满意.
    pub fn satisfied(&self) -> u64 {
        Level::ALL.iter().filter(|l| l.is_satisfied()).map(|l| self.levels[usize::from(l.score()) - 1]).sum()
    }
    /// satisfaction = (非常满意 + 满意) / rated, in percent.
    pub fn satisfaction_pct(&self) -> Option<f64> {
        percent(self.satisfied(), self.rated)
    }
    pub fn mean_wait_min(&self) -> Option<f64> {
        mean(self.wait_sum_ms, self.called).map(|ms| ms / 60_000.0)
    }
    pub fn p90_wait_min(&self) -> Option<u32> {
        self.waits.percentile(90)
    }
    pub fn mean_handling_min(&self) -> Option<f64> {
        mean(self.handling_sum_ms, self.handled).map(|ms| ms / 60_000.0)
    }
    pub fn mean_stay_min(&self) -> Option<f64> {
        mean(self.stay_sum_ms, self.served).map(|ms| ms / 60_000.0)
    }
    /// Served within the target wait: of the tickets called, in percent.
    pub fn within_target_pct(&self) -> Option<f64> {
        percent(self.within_target, self.called)
    }
    /// No-shows over tickets issued, in percent.
    pub fn no_show_pct(&self) -> Option<f64> {
        percent(self.no_shows, self.issued)
    }
    /// The mean of a rating dimension (0 attitude, 1 efficiency, 2 quality) on the 1–5 scale.
    pub fn dim_mean(&self, i: usize) -> Option<f64> {
        mean(self.dim_sum[i] as i64, self.dim_n[i])
    }
}

/// What a [`Totals`] is grouped by in a day's rollup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    /// The whole day (key "").
    All,
    Hour,
    Window,
    Service,
    Staff,
    College,
    Kind,
    Source,
}

impl Dim {
    pub const ALL: [Dim; 8] =
        [Dim::All, Dim::Hour, Dim::Window, Dim::Service, Dim::Staff, Dim::College, Dim::Kind, Dim::Source];
    pub fn as_str(self) -> &'static str {
        match self {
            Dim::All => "all",
            Dim::Hour => "hour",
            Dim::Window => "window",
            Dim::Service => "service",
            Dim::Staff => "staff",
            Dim::College => "college",
            Dim::Kind => "kind",
            Dim::Source => "source",
        }
    }
    pub fn parse(s: &str) -> Option<Dim> {
        Dim::ALL.into_iter().find(|d| d.as_str() == s)
    }
    /// The key of a ticket under this dimension ("" when it has none, e.g. no staff yet).
    pub fn key(self, t: &TicketFacts) -> String {
        match self {
            Dim::All => String::new(),
            Dim::Hour => format!("{:02}", t.hour),
            Dim::Window => t.window.map(|w| w.to_string()).unwrap_or_default(),
            Dim::Service => t.service.to_string(),
            Dim::Staff => t.staff.as_ref().map(|s| s.to_string()).unwrap_or_default(),
            Dim::College => t.college.clone().unwrap_or_default(),
            Dim::Kind => t.visitor_kind.map(|k| k.as_str().to_string()).unwrap_or_default(),
            Dim::Source => t.source.as_str().to_string(),
        }
    }
}

/// A day's totals under every dimension: `(dim, key) → totals`.
pub fn rollup<'a>(tickets: impl IntoIterator<Item = &'a TicketFacts>) -> BTreeMap<(Dim, String), Totals> {
    let mut out: BTreeMap<(Dim, String), Totals> = BTreeMap::new();
    for t in tickets {
        for d in Dim::ALL {
            out.entry((d, d.key(t))).or_default().add(t);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::day::{Rating, TransferTarget, Visitor};
    use crate::ids::VisitorId;
    use crate::{CaseKind, Placement};
    use proptest::prelude::*;

    const O: Timestamp = Timestamp(1_000_000_000_000);
    fn at(min: i64) -> Timestamp {
        O.plus_minutes(8 * 60 + min)
    }
    fn no(s: &str) -> TicketNo {
        s.parse().unwrap()
    }
    fn issued(min: i64, t: &str, source: Source) -> DayEvent {
        DayEvent::Issued {
            at: at(min),
            ticket: no(t),
            service: ServiceId::new("cert"),
            source,
            priority: Priority::Normal,
            ahead: 0,
            wait_estimate_min: 0,
        }
    }
    fn card(college: &str) -> Source {
        Source::Card(Visitor {
            id: VisitorId::new("v1"),
            kind: PersonKind::Graduate,
            college: college.into(),
        })
    }

    #[test]
    fn the_definitions() {
        assert_eq!(wait_ms(at(0), Some(at(7))), Some(7 * 60_000));
        assert_eq!(wait_ms(at(0), None), None);
        assert_eq!(handling_ms(Some(at(1)), Some(at(4))), Some(3 * 60_000));
        assert_eq!(handling_ms(None, Some(at(4))), None);
        assert_eq!(stay_ms(at(0), Some(at(9))), Some(9 * 60_000));
        assert!(within_target(20 * 60_000, 20) && !within_target(20 * 60_000 + 1000, 20));
        assert_eq!(percent(2, 3).map(|p| p.floor()), Some(66.0));
        assert_eq!(percent(1, 0), None);
        assert_eq!(mean(10, 4), Some(2.5));
        assert!(booking_missed(false, false, at(10), at(10)));
        assert!(!booking_missed(true, false, at(10), at(20)));
        assert!(!booking_missed(false, true, at(10), at(20)));
        assert!(!booking_missed(false, false, at(30), at(20)));
        assert!(needs_follow_up(Level::Unsatisfied) && needs_follow_up(Level::VeryUnsatisfied));
        assert!(!needs_follow_up(Level::Basic));
    }

    #[test]
    fn working_days_skip_weekends() {
        let d = |s: &str| s.parse::<Day>().unwrap();
        // 2026-11-26 is a Thursday.
        assert_eq!(d("2026-11-26").weekday(), 4);
        assert_eq!(plus_working_days(d("2026-11-26"), 1), d("2026-11-27"));
        assert_eq!(plus_working_days(d("2026-11-26"), 3), d("2026-12-01"));
        assert_eq!(plus_working_days(d("2026-11-27"), 1), d("2026-11-30"));
        // From a Saturday, the count starts on Monday.
        assert_eq!(plus_working_days(d("2026-11-28"), 1), d("2026-11-30"));
        assert_eq!(plus_working_days(d("2026-11-29"), 3), d("2026-12-02"));
        assert_eq!(plus_working_days(d("2026-11-26"), 0), d("2026-11-26"));
        assert_eq!(plus_working_days(d("2026-11-26"), 10), d("2026-12-10"));
    }

    #[test]
    fn histogram_buckets_and_percentiles() {
        assert_eq!(WaitHistogram::bucket(0), 0);
        assert_eq!(WaitHistogram::bucket(1000), 1);
        assert_eq!(WaitHistogram::bucket(60_000), 1);
        assert_eq!(WaitHistogram::bucket(60_001), 2);
        assert_eq!(WaitHistogram::bucket(10 * 3_600_000), WAIT_BUCKET_MAX);
        let mut h = WaitHistogram::default();
        for m in 1..=10 {
            h.add(m * 60_000);
        }
        assert_eq!(h.percentile(90), Some(9));
        assert_eq!(h.percentile(100), Some(10));
        assert_eq!(h.percentile(50), Some(5));
        assert_eq!(h.at_most(3), 3);
        assert_eq!(WaitHistogram::from_text(&h.to_text()), h);
        assert_eq!(WaitHistogram::default().percentile(90), None);
    }

    #[test]
    fn a_day_folds_into_facts() {
        let events = vec![
            DayEvent::CheckedIn { at: at(0), window: 5, staff: StaffId::new("s001") },
            issued(1, "A001", card("计算机学院")),
            issued(2, "A002", Source::Anonymous),
            DayEvent::Called { at: at(6), ticket: no("A001"), window: 5 },
            DayEvent::Started { at: at(7), ticket: no("A001"), window: 5 },
            DayEvent::Paused { at: at(8), window: 5, reason: "午休 lunch".into() },
            DayEvent::Resumed { at: at(9), window: 5 },
            DayEvent::Finished { at: at(10), ticket: no("A001"), window: 5, kind: CaseKind::Immediate },
            DayEvent::Rated {
                at: at(11),
                ticket: no("A001"),
                window: 5,
                rating: Rating::overall(Level::Unsatisfied),
            },
            DayEvent::Called { at: at(12), ticket: no("A002"), window: 5 },
            DayEvent::Recalled { at: at(13), ticket: no("A002"), window: 5 },
            DayEvent::NoShow { at: at(14), ticket: no("A002"), window: 5 },
            DayEvent::CheckedOut { at: at(20), window: 5 },
        ];
        let f = DayFacts::of(O, &events);
        let a1 = f.ticket(no("A001")).unwrap();
        assert_eq!(a1.wait_ms(), Some(5 * 60_000));
        assert_eq!(a1.handling_ms(), Some(3 * 60_000));
        assert_eq!(a1.stay_ms(), Some(9 * 60_000));
        assert_eq!(a1.staff, Some(StaffId::new("s001")));
        assert_eq!(a1.hour, 8);
        assert_eq!(a1.college.as_deref(), Some("计算机学院"));
        let a2 = f.ticket(no("A002")).unwrap();
        assert_eq!((a2.outcome, a2.calls), (Outcome::NoShow, 2));
        assert_eq!(f.shifts[0].on_duty_ms(), Some(20 * 60_000));
        assert_eq!(f.pauses[0].paused_ms(), Some(60_000));
        assert_eq!(f.pauses[0].staff, Some(StaffId::new("s001")));
        let mut t = Totals::default();
        for x in &f.tickets {
            t.add(x);
        }
        assert_eq!((t.issued, t.called, t.served, t.no_shows, t.rated), (2, 2, 1, 1, 1));
        assert_eq!(t.satisfaction_pct(), Some(0.0));
        assert_eq!(t.no_show_pct(), Some(50.0));
        assert_eq!(t.mean_wait_min(), Some(7.5));
        let mut all = Totals::default();
        all.merge_at_target(&t, 5);
        assert_eq!(all.within_target_pct(), Some(50.0));
    }

    #[test]
    fn a_transfer_keeps_the_first_call_and_restarts_the_service() {
        let events = vec![
            issued(0, "A001", Source::Anonymous),
            DayEvent::Called { at: at(4), ticket: no("A001"), window: 1 },
            DayEvent::Started { at: at(5), ticket: no("A001"), window: 1 },
            DayEvent::Transferred {
                at: at(6),
                ticket: no("A001"),
                window: 1,
                to: TransferTarget::Service(ServiceId::new("fees")),
                placement: Placement::Front,
            },
            DayEvent::Called { at: at(8), ticket: no("A001"), window: 2 },
            DayEvent::Started { at: at(9), ticket: no("A001"), window: 2 },
            DayEvent::Finished { at: at(12), ticket: no("A001"), window: 2, kind: CaseKind::Immediate },
        ];
        let f = DayFacts::of(O, &events);
        let t = &f.tickets[0];
        assert_eq!(t.wait_ms(), Some(4 * 60_000));
        assert_eq!(t.handling_ms(), Some(3 * 60_000));
        assert_eq!((t.service.as_str(), t.window, t.transfers), ("fees", Some(2), 1));
    }

    fn arb_events() -> impl Strategy<Value = Vec<DayEvent>> {
        let ev = (0u8..10, 1u32..6, 1u16..4, 0i64..600, 1i64..6).prop_map(|(k, n, w, m, lv)| {
            let ticket = TicketNo::new('A', n);
            let at = at(m);
            match k {
                0 | 1 => DayEvent::Issued {
                    at,
                    ticket,
                    service: ServiceId::new("cert"),
                    source: if n % 2 == 0 { card("理学院") } else { Source::Anonymous },
                    priority: Priority::Normal,
                    ahead: 0,
                    wait_estimate_min: 0,
                },
                2 => DayEvent::Called { at, ticket, window: w },
                3 => DayEvent::Started { at, ticket, window: w },
                4 => DayEvent::Finished { at, ticket, window: w, kind: CaseKind::Immediate },
                5 => DayEvent::Rated {
                    at,
                    ticket,
                    window: w,
                    rating: Rating::overall(Level::from_score(lv).unwrap()),
                },
                6 => DayEvent::NoShow { at, ticket, window: w },
                7 => DayEvent::CheckedIn { at, window: w, staff: StaffId::new(format!("s{n}")) },
                8 => DayEvent::Paused { at, window: w, reason: "x".into() },
                _ => DayEvent::CheckedOut { at, window: w },
            }
        });
        proptest::collection::vec(ev, 0..60)
    }

    proptest! {
        /// Folding a prefix, storing the facts and going on from them equals folding the whole.
        #[test]
        fn folding_goes_on_from_where_it_stopped(events in arb_events(), cut in 0usize..60) {
            let cut = cut.min(events.len());
            let whole = DayFacts::of(O, &events);
            let first = DayFacts::of(O, &events[..cut]);
            let mut resumed = DayFacts::from_parts(O, first.tickets, first.shifts, first.pauses);
            for e in &events[cut..] {
                resumed.apply(e);
            }
            prop_assert_eq!(&resumed.tickets, &whole.tickets);
            prop_assert_eq!(&resumed.shifts, &whole.shifts);
            prop_assert_eq!(&resumed.pauses, &whole.pauses);
        }

        /// Totals of a union are the merged totals of its parts, and every dimension of the
        /// rollup adds up to the whole day.
        #[test]
        fn totals_add_up(events in arb_events(), target in 0u32..15) {
            let f = DayFacts::of(O, &events);
            let mut whole = Totals::default();
            f.tickets.iter().for_each(|t| whole.add(t));
            let roll = rollup(&f.tickets);
            for d in Dim::ALL {
                let mut sum = Totals::default();
                for ((dim, _), t) in &roll {
                    if *dim == d {
                        sum.merge_at_target(t, target);
                    }
                }
                let mut expect = Totals::default();
                expect.merge_at_target(&whole, target);
                prop_assert_eq!(&sum, &expect);
            }
            if let Some(p) = whole.satisfaction_pct() {
                prop_assert!((0.0..=100.0).contains(&p));
            }
            prop_assert!(whole.within_target <= whole.called || whole.within_target == 0);
        }

        #[test]
        fn percentiles_are_monotone(waits in proptest::collection::vec(0i64..20_000_000, 1..200)) {
            let mut h = WaitHistogram::default();
            waits.iter().for_each(|w| h.add(*w));
            let p50 = h.percentile(50).unwrap();
            let p90 = h.percentile(90).unwrap();
            prop_assert!(p50 <= p90);
            let max = waits.iter().map(|w| WaitHistogram::bucket(*w) as u32).max().unwrap();
            prop_assert_eq!(h.percentile(100).unwrap(), max);
            prop_assert_eq!(WaitHistogram::from_text(&h.to_text()), h);
        }
    }
}
