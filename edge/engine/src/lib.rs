//! The queue engine of a hall: commands in, events and effects out, the time passed in.
//!
//! Architecture invariants:
//! - No IO, no clock reads, no threads, no randomness: `now` comes from the caller.
//! - [`Engine::decide`] never changes state; [`Engine::apply`] is the only state transition, so
//!   the state after a day of commands equals the state rebuilt by replaying that day's events.
//! - A refused command returns [`Rejected`] and changes nothing.
//!
//! The shell runs a command as: `decide` → make the events durable → `apply` → carry out the
//! effects (print, announce). A ticket is thus on disk before it is printed.

mod config;
mod error;
mod rank;
pub mod view;

pub use config::{ConfigError, HallConfig, ServiceInfo};
pub use error::Rejected;
pub use rank::Position;

use onestop_model::{
    BookingId, CaseKind, CaseNo, Day, DayEvent, Placement, Priority, Rating, ServiceId, Source, StaffId,
    TicketNo, Timestamp, TransferTarget, VisitorId, WindowNo,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// What staff, visitors and devices ask of the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Issue {
        service: ServiceId,
        source: Source,
        priority: Priority,
    },
    CheckIn {
        window: WindowNo,
        staff: StaffId,
    },
    CheckOut {
        window: WindowNo,
    },
    Pause {
        window: WindowNo,
        reason: String,
    },
    Resume {
        window: WindowNo,
    },
    /// Call the next ticket by the hall's rule. A called ticket still at the window that was
    /// never started becomes a no-show first.
    CallNext {
        window: WindowNo,
    },
    CallTicket {
        window: WindowNo,
        ticket: TicketNo,
    },
    /// Call the window's ticket again; past the hall's recall limit it becomes a no-show.
    Recall {
        window: WindowNo,
    },
    MarkNoShow {
        window: WindowNo,
    },
    Reactivate {
        ticket: TicketNo,
    },
    Transfer {
        window: WindowNo,
        to: TransferTarget,
        placement: Placement,
    },
    Start {
        window: WindowNo,
    },
    /// Finish the window's ticket and register its case as `kind` (by default the service's
    /// kind). The case's details (its verification code) go to the cases document.
    Finish {
        window: WindowNo,
        kind: Option<CaseKind>,
    },
    /// Rate the window's last finished case.
    Rate {
        window: WindowNo,
        rating: Rating,
    },
}

/// What the shell must do after the events are durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    PrintTicket {
        ticket: TicketNo,
        service: ServiceId,
        ahead: u32,
        wait_estimate_min: u32,
        issued_at: Timestamp,
    },
    /// Speak and show a call; `repeat` for a recall.
    Announce { ticket: TicketNo, window: WindowNo, repeat: bool },
    /// Invite the visitor at `window` to rate the case of `ticket`.
    AskRating { ticket: TicketNo, window: WindowNo },
}

impl Effect {
    /// The effect an event asks for, if any.
    pub fn of(event: &DayEvent) -> Option<Effect> {
        Some(match event {
            DayEvent::Issued { at, ticket, service, ahead, wait_estimate_min, .. } => Effect::PrintTicket {
                ticket: *ticket,
                service: service.clone(),
                ahead: *ahead,
                wait_estimate_min: *wait_estimate_min,
                issued_at: *at,
            },
            DayEvent::Called { ticket, window, .. } => {
                Effect::Announce { ticket: *ticket, window: *window, repeat: false }
            }
            DayEvent::Recalled { ticket, window, .. } => {
                Effect::Announce { ticket: *ticket, window: *window, repeat: true }
            }
            DayEvent::Finished { ticket, window, .. } => {
                Effect::AskRating { ticket: *ticket, window: *window }
            }
            _ => return None,
        })
    }
}

/// Where a ticket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Waiting,
    Called { window: WindowNo },
    Serving { window: WindowNo },
    NoShow,
    Done,
}

/// A ticket's place in a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueuePlace {
    /// The time its waiting is counted from (issue, or a transfer "to the back").
    pub arrival: Timestamp,
    /// Set when placed at the front: fronts go first, in the order they were placed.
    pub front: Option<u64>,
    /// Set when transferred to one window: only that window may call it.
    pub window: Option<WindowNo>,
}

/// A ticket and what has happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub no: TicketNo,
    /// Issue order within the day, from 0.
    pub seq: usize,
    /// The service it waits for now (a transfer may change it).
    pub service: ServiceId,
    pub source: Source,
    pub priority: Priority,
    pub issued_at: Timestamp,
    pub status: Status,
    pub place: QueuePlace,
    /// Recalls since it was last called.
    pub recalls: u32,
    /// The last call.
    pub called_at: Option<Timestamp>,
    /// The first call: a ticket's wait ends there ([`onestop_model::stats::wait_ms`]).
    pub first_called_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub case: Option<CaseNo>,
    pub rating: Option<Rating>,
}

impl Ticket {
    fn visitor(&self) -> Option<&VisitorId> {
        self.source.visitor().map(|v| &v.id)
    }
    fn is_active(&self) -> bool {
        matches!(self.status, Status::Waiting | Status::Called { .. } | Status::Serving { .. })
    }
}

/// A window's session.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WindowState {
    /// The staff member checked in, if the window is open.
    pub staff: Option<StaffId>,
    pub paused: Option<String>,
    /// The ticket called or being served here.
    pub current: Option<usize>,
    /// The last finished ticket, until it is rated or another is finished.
    pub to_rate: Option<usize>,
}

/// The queue engine of one hall for one business day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    config: HallConfig,
    day: Day,
    tickets: Vec<Ticket>,
    by_no: HashMap<TicketNo, usize>,
    counters: BTreeMap<char, u32>,
    windows: BTreeMap<WindowNo, WindowState>,
    waiting: BTreeSet<usize>,
    by_visitor: HashMap<VisitorId, Vec<usize>>,
    used_bookings: HashSet<BookingId>,
    fronts: u64,
    /// Per service: (sum of call-to-finish milliseconds, finished count), for estimates.
    handling: BTreeMap<ServiceId, (i64, u32)>,
}

/// A day document whose events do not fit together (a corrupt or foreign document).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {index} ({event}) does not fit the day so far: {why}")]
pub struct ReplayError {
    pub index: usize,
    pub event: &'static str,
    pub why: String,
}

impl Engine {
    /// An engine for `day` with nobody waiting and every window closed.
    pub fn new(config: HallConfig, day: Day) -> Engine {
        let windows = config.windows.keys().map(|w| (*w, WindowState::default())).collect();
        Engine {
            config,
            day,
            tickets: Vec::new(),
            by_no: HashMap::new(),
            counters: BTreeMap::new(),
            windows,
            waiting: BTreeSet::new(),
            by_visitor: HashMap::new(),
            used_bookings: HashSet::new(),
            fronts: 0,
            handling: BTreeMap::new(),
        }
    }

    /// Rebuilds the engine from a day's events (restart = replay).
    pub fn replay<'a>(
        config: HallConfig,
        day: Day,
        events: impl IntoIterator<Item = &'a DayEvent>,
    ) -> Result<Engine, ReplayError> {
        let mut e = Engine::new(config, day);
        for (index, ev) in events.into_iter().enumerate() {
            e.apply(ev).map_err(|why| ReplayError { index, event: ev.name(), why })?;
        }
        Ok(e)
    }

    pub fn config(&self) -> &HallConfig {
        &self.config
    }
    pub fn day(&self) -> Day {
        self.day
    }
    pub fn tickets(&self) -> &[Ticket] {
        &self.tickets
    }
    pub fn ticket(&self, no: TicketNo) -> Option<&Ticket> {
        self.by_no.get(&no).map(|i| &self.tickets[*i])
    }
    pub fn windows(&self) -> &BTreeMap<WindowNo, WindowState> {
        &self.windows
    }
    /// Tickets waiting now, in issue order.
    pub fn waiting(&self) -> impl Iterator<Item = &Ticket> {
        self.waiting.iter().map(|i| &self.tickets[*i])
    }

    /// Decides, applies and returns the events and effects: for callers that keep nothing
    /// durable (tests, simulations). The node uses `decide`, stores, then `apply`.
    pub fn handle(&mut self, cmd: &Command, now: Timestamp) -> Result<Vec<DayEvent>, Rejected> {
        let events = self.decide(cmd, now)?;
        for ev in &events {
            self.apply(ev).expect("events from decide always apply");
        }
        Ok(events)
    }

    /// The events `cmd` leads to at `now`, without changing anything.
    pub fn decide(&self, cmd: &Command, now: Timestamp) -> Result<Vec<DayEvent>, Rejected> {
        let at = now;
        Ok(match cmd {
            Command::Issue { service, source, priority } => {
                vec![self.decide_issue(service, source, *priority, now)?]
            }
            Command::CheckIn { window, staff } => {
                let w = self.window(*window)?;
                if let Some(by) = &w.staff {
                    return Err(Rejected::WindowTaken { window: *window, staff: by.clone() });
                }
                if !self.config.staff.contains(staff) {
                    return Err(Rejected::UnknownStaff(staff.clone()));
                }
                if let Some((other, _)) = self.windows.iter().find(|(_, s)| s.staff.as_ref() == Some(staff)) {
                    return Err(Rejected::StaffBusy { staff: staff.clone(), window: *other });
                }
                vec![DayEvent::CheckedIn { at, window: *window, staff: staff.clone() }]
            }
            Command::CheckOut { window } => {
                self.open_window(*window)?;
                self.idle(*window)?;
                vec![DayEvent::CheckedOut { at, window: *window }]
            }
            Command::Pause { window, reason } => {
                let w = self.open_window(*window)?;
                if w.paused.is_some() {
                    return Err(Rejected::WindowPaused(*window));
                }
                self.idle(*window)?;
                let reason = reason.trim();
                if reason.is_empty() {
                    return Err(Rejected::NoPauseReason);
                }
                vec![DayEvent::Paused { at, window: *window, reason: reason.to_string() }]
            }
            Command::Resume { window } => {
                let w = self.open_window(*window)?;
                if w.paused.is_none() {
                    return Err(Rejected::NotPaused(*window));
                }
                vec![DayEvent::Resumed { at, window: *window }]
            }
            Command::CallNext { window } => {
                let mut events = self.release_called(*window, at)?;
                let next = rank::next_for_window(self, *window, now).ok_or(Rejected::NoneWaiting(*window))?;
                events.push(DayEvent::Called { at, ticket: self.tickets[next].no, window: *window });
                events
            }
            Command::CallTicket { window, ticket } => {
                let mut events = self.release_called(*window, at)?;
                let i = self.index(*ticket)?;
                let t = &self.tickets[i];
                if t.status != Status::Waiting {
                    return Err(Rejected::NotWaiting { ticket: *ticket });
                }
                if !rank::eligible(self, t, *window) {
                    return Err(Rejected::NotServedHere { window: *window, ticket: *ticket });
                }
                events.push(DayEvent::Called { at, ticket: *ticket, window: *window });
                events
            }
            Command::Recall { window } => {
                let (i, started) = self.current(*window)?;
                let ticket = self.tickets[i].no;
                if started {
                    return Err(Rejected::AlreadyStarted { window: *window, ticket });
                }
                if self.tickets[i].recalls >= self.config.rules.max_recalls {
                    vec![DayEvent::NoShow { at, ticket, window: *window }]
                } else {
                    vec![DayEvent::Recalled { at, ticket, window: *window }]
                }
            }
            Command::MarkNoShow { window } => {
                let (i, started) = self.current(*window)?;
                let ticket = self.tickets[i].no;
                if started {
                    return Err(Rejected::AlreadyStarted { window: *window, ticket });
                }
                vec![DayEvent::NoShow { at, ticket, window: *window }]
            }
            Command::Reactivate { ticket } => {
                let t = &self.tickets[self.index(*ticket)?];
                if t.status != Status::NoShow {
                    return Err(Rejected::NotNoShow(*ticket));
                }
                if let Some(existing) = self.active_for(t.visitor(), &t.service) {
                    return Err(Rejected::AlreadyQueued { existing });
                }
                vec![DayEvent::Reactivated {
                    at,
                    ticket: *ticket,
                    placement: self.config.rules.reactivate_placement,
                }]
            }
            Command::Transfer { window, to, placement } => {
                let (i, _) = self.current(*window)?;
                match to {
                    TransferTarget::Window(w) if w == window => return Err(Rejected::TransferToSelf),
                    TransferTarget::Window(w) => {
                        self.window(*w)?;
                    }
                    TransferTarget::Service(s) => {
                        self.offered(s)?;
                        let t = &self.tickets[i];
                        if &t.service != s
                            && let Some(existing) = self.active_for(t.visitor(), s)
                        {
                            return Err(Rejected::AlreadyQueued { existing });
                        }
                    }
                }
                vec![DayEvent::Transferred {
                    at,
                    ticket: self.tickets[i].no,
                    window: *window,
                    to: to.clone(),
                    placement: *placement,
                }]
            }
            Command::Start { window } => {
                let (i, started) = self.current(*window)?;
                let ticket = self.tickets[i].no;
                if started {
                    return Err(Rejected::AlreadyStarted { window: *window, ticket });
                }
                vec![DayEvent::Started { at, ticket, window: *window }]
            }
            Command::Finish { window, kind } => {
                let (i, started) = self.current(*window)?;
                let t = &self.tickets[i];
                if !started {
                    return Err(Rejected::NotStarted { window: *window, ticket: t.no });
                }
                let service_kind = self.config.services.get(&t.service).map(|s| s.kind);
                let kind = kind.or(service_kind).unwrap_or(CaseKind::Immediate);
                vec![DayEvent::Finished { at, ticket: t.no, window: *window, kind }]
            }
            Command::Rate { window, rating } => {
                let w = self.window(*window)?;
                let i = w.to_rate.ok_or(Rejected::NothingToRate(*window))?;
                vec![DayEvent::Rated { at, ticket: self.tickets[i].no, window: *window, rating: *rating }]
            }
        })
    }

    /// The case number of a ticket finished today: `YYYYMMDD-hall-A023`.
    pub fn case_number(&self, ticket: TicketNo) -> CaseNo {
        CaseNo::for_ticket(self.day, &self.config.hall, ticket)
    }

    fn decide_issue(
        &self,
        service: &ServiceId,
        source: &Source,
        priority: Priority,
        now: Timestamp,
    ) -> Result<DayEvent, Rejected> {
        let info = self.offered(service)?;
        if let Some(existing) = self.active_for(source.visitor().map(|v| &v.id), service) {
            return Err(Rejected::AlreadyQueued { existing });
        }
        if let Source::Booking { booking, slot_start, .. } = source {
            if self.used_bookings.contains(booking) {
                return Err(Rejected::BookingUsed(booking.clone()));
            }
            let rules = &self.config.rules;
            let opens = slot_start.plus_minutes(-i64::from(rules.booking_early_minutes));
            let closes = slot_start.plus_minutes(i64::from(rules.booking_late_minutes));
            let hm = |t: Timestamp| t.local_hm(self.config.utc_offset_minutes);
            if now < opens {
                return Err(Rejected::BookingTooEarly { opens_hm: hm(opens) });
            }
            if now > closes {
                return Err(Rejected::BookingTooLate { closed_hm: hm(closes) });
            }
        }
        let number = self.counters.get(&info.prefix).copied().unwrap_or(0) + 1;
        let ticket = TicketNo::new(info.prefix, number);
        let (ahead, wait_estimate_min) = rank::estimate(self, service, source, priority, now);
        Ok(DayEvent::Issued {
            at: now,
            ticket,
            service: service.clone(),
            source: source.clone(),
            priority,
            ahead,
            wait_estimate_min,
        })
    }

    fn offered(&self, service: &ServiceId) -> Result<&ServiceInfo, Rejected> {
        self.config.services.get(service).ok_or_else(|| Rejected::ServiceNotOffered(service.clone()))
    }

    fn active_for(&self, visitor: Option<&VisitorId>, service: &ServiceId) -> Option<TicketNo> {
        let held = self.by_visitor.get(visitor?)?;
        held.iter().map(|i| &self.tickets[*i]).find(|t| t.is_active() && &t.service == service).map(|t| t.no)
    }

    fn index(&self, no: TicketNo) -> Result<usize, Rejected> {
        self.by_no.get(&no).copied().ok_or(Rejected::UnknownTicket(no))
    }

    fn window(&self, w: WindowNo) -> Result<&WindowState, Rejected> {
        self.windows.get(&w).ok_or(Rejected::UnknownWindow(w))
    }

    fn open_window(&self, w: WindowNo) -> Result<&WindowState, Rejected> {
        let s = self.window(w)?;
        if s.staff.is_none() {
            return Err(Rejected::WindowClosed(w));
        }
        Ok(s)
    }

    fn idle(&self, w: WindowNo) -> Result<(), Rejected> {
        match self.windows[&w].current {
            Some(i) => Err(Rejected::Busy { window: w, ticket: self.tickets[i].no }),
            None => Ok(()),
        }
    }

    /// The window's current ticket and whether it has been started.
    fn current(&self, w: WindowNo) -> Result<(usize, bool), Rejected> {
        let i = self.open_window(w)?.current.ok_or(Rejected::NothingCalled(w))?;
        Ok((i, matches!(self.tickets[i].status, Status::Serving { .. })))
    }

    /// Before a new call: the window must be open and not paused; a called ticket that was
    /// never started is released as a no-show; a ticket being served blocks the call.
    fn release_called(&self, w: WindowNo, at: Timestamp) -> Result<Vec<DayEvent>, Rejected> {
        let s = self.open_window(w)?;
        if s.paused.is_some() {
            return Err(Rejected::WindowPaused(w));
        }
        match s.current {
            None => Ok(Vec::new()),
            Some(i) => {
                let t = &self.tickets[i];
                match t.status {
                    Status::Serving { .. } => Err(Rejected::Busy { window: w, ticket: t.no }),
                    _ => Ok(vec![DayEvent::NoShow { at, ticket: t.no, window: w }]),
                }
            }
        }
    }

    /// Applies one event: the only way the engine's state changes.
    pub fn apply(&mut self, ev: &DayEvent) -> Result<(), String> {
        match ev {
            DayEvent::Issued { at, ticket, service, source, priority, .. } => {
                if self.by_no.contains_key(ticket) {
                    return Err(format!("ticket {ticket} was issued twice"));
                }
                let seq = self.tickets.len();
                let counter = self.counters.entry(ticket.prefix).or_insert(0);
                *counter = (*counter).max(ticket.number);
                if let Source::Booking { booking, .. } = source {
                    self.used_bookings.insert(booking.clone());
                }
                if let Some(v) = source.visitor() {
                    self.by_visitor.entry(v.id.clone()).or_default().push(seq);
                }
                self.tickets.push(Ticket {
                    no: *ticket,
                    seq,
                    service: service.clone(),
                    source: source.clone(),
                    priority: *priority,
                    issued_at: *at,
                    status: Status::Waiting,
                    place: QueuePlace { arrival: *at, front: None, window: None },
                    recalls: 0,
                    called_at: None,
                    first_called_at: None,
                    started_at: None,
                    case: None,
                    rating: None,
                });
                self.by_no.insert(*ticket, seq);
                self.waiting.insert(seq);
            }
            DayEvent::CheckedIn { window, staff, .. } => {
                let w = self.windows.entry(*window).or_default();
                w.staff = Some(staff.clone());
                w.paused = None;
            }
            DayEvent::CheckedOut { window, .. } => {
                let w = self.windows.entry(*window).or_default();
                w.staff = None;
                w.paused = None;
            }
            DayEvent::Paused { window, reason, .. } => {
                self.windows.entry(*window).or_default().paused = Some(reason.clone());
            }
            DayEvent::Resumed { window, .. } => {
                self.windows.entry(*window).or_default().paused = None;
            }
            DayEvent::Called { at, ticket, window } => {
                let i = self.known(*ticket)?;
                if self.tickets[i].status != Status::Waiting {
                    return Err(format!("ticket {ticket} was called while not waiting"));
                }
                let w = self.windows.entry(*window).or_default();
                if let Some(other) = w.current {
                    return Err(format!("window {window} called {ticket} while holding ticket #{other}"));
                }
                w.current = Some(i);
                self.waiting.remove(&i);
                let t = &mut self.tickets[i];
                t.status = Status::Called { window: *window };
                t.recalls = 0;
                t.called_at = Some(*at);
                t.first_called_at.get_or_insert(*at);
            }
            DayEvent::Recalled { ticket, .. } => {
                let i = self.known(*ticket)?;
                self.tickets[i].recalls += 1;
            }
            DayEvent::NoShow { ticket, window, .. } => {
                let i = self.known(*ticket)?;
                self.release(i, *window);
                self.tickets[i].status = Status::NoShow;
            }
            DayEvent::Reactivated { at, ticket, placement } => {
                let i = self.known(*ticket)?;
                let place = self.placed(i, *placement, *at, None);
                let t = &mut self.tickets[i];
                t.status = Status::Waiting;
                t.place = place;
                self.waiting.insert(i);
            }
            DayEvent::Transferred { at, ticket, window, to, placement } => {
                let i = self.known(*ticket)?;
                self.release(i, *window);
                let target = match to {
                    TransferTarget::Window(w) => Some(*w),
                    TransferTarget::Service(_) => None,
                };
                let place = self.placed(i, *placement, *at, target);
                let t = &mut self.tickets[i];
                if let TransferTarget::Service(s) = to {
                    t.service = s.clone();
                }
                t.status = Status::Waiting;
                t.place = place;
                t.started_at = None;
                self.waiting.insert(i);
            }
            DayEvent::Started { at, ticket, window } => {
                let i = self.known(*ticket)?;
                let t = &mut self.tickets[i];
                t.status = Status::Serving { window: *window };
                t.started_at = Some(*at);
            }
            DayEvent::Finished { at, ticket, window, .. } => {
                let i = self.known(*ticket)?;
                self.release(i, *window);
                let t = &mut self.tickets[i];
                t.status = Status::Done;
                t.case = Some(CaseNo::for_ticket(self.day, &self.config.hall, *ticket));
                if let Some(called) = t.called_at {
                    let h = self.handling.entry(t.service.clone()).or_insert((0, 0));
                    h.0 += at.since(called).max(0);
                    h.1 += 1;
                }
                self.windows.entry(*window).or_default().to_rate = Some(i);
            }
            DayEvent::Rated { ticket, window, rating, .. } => {
                let i = self.known(*ticket)?;
                self.tickets[i].rating = Some(*rating);
                let w = self.windows.entry(*window).or_default();
                if w.to_rate == Some(i) {
                    w.to_rate = None;
                }
            }
        }
        Ok(())
    }

    fn known(&self, no: TicketNo) -> Result<usize, String> {
        self.by_no.get(&no).copied().ok_or_else(|| format!("ticket {no} was never issued"))
    }

    /// Frees the window holding ticket `i`.
    fn release(&mut self, i: usize, window: WindowNo) {
        let w = self.windows.entry(window).or_default();
        if w.current == Some(i) {
            w.current = None;
        }
    }

    fn placed(
        &mut self,
        i: usize,
        placement: Placement,
        at: Timestamp,
        window: Option<WindowNo>,
    ) -> QueuePlace {
        match placement {
            Placement::Front => {
                self.fronts += 1;
                QueuePlace { arrival: self.tickets[i].place.arrival, front: Some(self.fronts), window }
            }
            Placement::Back => QueuePlace { arrival: at, front: None, window },
            Placement::Original => QueuePlace { arrival: self.tickets[i].issued_at, front: None, window },
        }
    }

    /// The mean call-to-finish time of `service` today, when enough cases give one.
    pub fn mean_handling_ms(&self, service: &ServiceId) -> Option<i64> {
        self.handling.get(service).filter(|(_, n)| *n >= 3).map(|(sum, n)| sum / i64::from(*n))
    }

    /// The next ticket `window` would call at `now`, without calling it.
    pub fn peek_next(&self, window: WindowNo, now: Timestamp) -> Option<&Ticket> {
        rank::next_for_window(self, window, now).map(|i| &self.tickets[i])
    }

    /// Where every waiting ticket stands in its queue at `now` (see [`Position`]).
    pub fn positions(&self, now: Timestamp) -> HashMap<TicketNo, Position> {
        rank::positions(self, now).into_iter().map(|(i, p)| (self.tickets[i].no, p)).collect()
    }
}

#[cfg(test)]
mod tests;
