//! The hall node's core: the queue engine around the durable store.
//!
//! A command runs as: stamp the time (hybrid logical clock) → the engine decides the events →
//! the events, the case they register and the booking they check in are written in one
//! durable write → the engine applies them → the effects (print, announce) are returned to
//! the caller. A ticket is therefore on disk before it can be printed, and a crash at any
//! point loses nothing that was acknowledged.

use crate::clock::{BoundedClock, Clock, ClockAlarm, TimeBounds};
use crate::script::Request;
use onestop_engine::{Command, ConfigError, Effect, Engine, HallConfig, Rejected, ReplayError, Status};
use onestop_model::{
    BookingStatus, BookingStep, Case, CaseKind, CaseStatus, CaseStep, Catalog, Day, DayEvent, HallId,
    PersonKind, Source, Timestamp, Visitor,
};
use onestop_protocol::booking_token::{self, BookingClaim, BookingVerifier, TokenError};
use onestop_protocol::secrets::{VisitorKey, random_code};
use onestop_protocol::{DocError, DocId, Month, bookings, cases, catalog, day};
use onestop_store::{ReadDocs, Store};
use onestop_store::{StoreError, StoreFault};
use std::sync::{Arc, Mutex, MutexGuard};

/// Why a command did not run. Nothing was stored in any case.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Rejected(#[from] Rejected),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("文档无法读取 / a document cannot be read: {0}")]
    Doc(#[from] DocError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("当天记录无法重建 / today's record cannot be replayed: {0}")]
    Replay(#[from] ReplayError),
    #[error("今天没有预约码 {0} / there is no booking with code {0} for today in this hall")]
    UnknownBooking(String),
    #[error("预约 {code} 已取消 / booking {code} was cancelled")]
    BookingCancelled { code: String },
    #[error("预约 {code} 办理的是 {booked}，不是 {asked} / booking {code} is for {booked}, not {asked}")]
    BookingForOtherService { code: String, booked: String, asked: String },
    #[error(
        "预约 {code} 是 {hall} 大厅的预约，不在本大厅 / booking {code} is for hall {hall}, not this hall"
    )]
    BookingForOtherHall { code: String, hall: String },
    #[error("预约 {code} 的日期是 {day}，不是今天 / booking {code} is for {day}, not today")]
    BookingForOtherDay { code: String, day: Day },
    #[error(transparent)]
    BookingToken(#[from] TokenError),
    #[error(
        "本节点尚无服务目录 / this node has no catalogue yet: run `onestop-edge init --catalog FILE` or connect it to the cloud"
    )]
    NoCatalog,
}

/// What kind of failure an error is: how the pages answer it, how `/metrics` counts it, how
/// loudly it is logged, and whether it is an incident. Decided here, beside the variants, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The queue rules or the booking refused the request: whoever asked can act on the
    /// message (it is bilingual and says why). Nothing was stored. Not an error of the hall.
    Refused,
    /// The store cannot save (or read) now: a full disk, a read-only or damaged database, an
    /// I/O error. Nothing was stored; an incident for the hall manager until a write succeeds.
    Storage(StoreFault),
    /// The hall cannot take requests now (it is stopping, or has no catalogue yet).
    Unavailable,
    /// A bug, or data this build cannot read.
    Internal,
}

impl ErrorKind {
    /// A refusal: counted as rejected, logged quietly, answered with its own message.
    pub fn is_refusal(self) -> bool {
        self == ErrorKind::Refused
    }
}

impl NodeError {
    /// What kind of failure this is (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            NodeError::Rejected(_)
            | NodeError::UnknownBooking(_)
            | NodeError::BookingCancelled { .. }
            | NodeError::BookingForOtherService { .. }
            | NodeError::BookingForOtherHall { .. }
            | NodeError::BookingForOtherDay { .. }
            | NodeError::BookingToken(_) => ErrorKind::Refused,
            NodeError::Store(e) => match e.kind() {
                fault if fault.is_storage() => ErrorKind::Storage(fault),
                StoreFault::Refused => ErrorKind::Refused,
                _ => ErrorKind::Internal,
            },
            NodeError::NoCatalog => ErrorKind::Unavailable,
            NodeError::Doc(_) | NodeError::Config(_) | NodeError::Replay(_) => ErrorKind::Internal,
        }
    }

    /// Refused by the rules (the queue's or the booking's), not a failure: nothing was stored,
    /// and the message tells the visitor or the staff member why.
    pub fn is_refusal(&self) -> bool {
        self.kind().is_refusal()
    }
}

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub events: Vec<DayEvent>,
    pub effects: Vec<Effect>,
    /// The case registered by a finish, with its verification code.
    pub case: Option<Case>,
}

/// Called with each document a command changed.
type ChangeHook = Box<dyn Fn(&DocId) + Send>;

/// The store shared by the node and its link to the cloud.
pub type SharedStore = Arc<Mutex<Store>>;

/// Wraps a store for sharing between the node and its link.
pub fn share(store: Store) -> SharedStore {
    Arc::new(Mutex::new(store))
}

/// A hall node: one hall's engine, store and clock.
pub struct Node {
    store: SharedStore,
    on_change: Option<ChangeHook>,
    hall: HallId,
    engine: Engine,
    clock: Box<dyn Clock>,
    visitor_key: VisitorKey,
    /// The cloud's booking key from the catalogue, to verify booking tokens offline.
    booking_key: Option<BookingVerifier>,
    clock_alarm: Option<String>,
}

/// The catalogue's booking key, if it has a readable one.
fn booking_key(catalog: &Catalog) -> Option<BookingVerifier> {
    catalog.booking_key.as_deref().and_then(BookingVerifier::from_hex)
}

/// The clock a node runs on: `raw` bounded by the last time the store wrote (see
/// [`BoundedClock`]). One per running node, shared by the node, its link and its pages.
pub fn bounded_clock(raw: Arc<dyn Clock>, store: &Store, bounds: TimeBounds) -> Arc<BoundedClock> {
    Arc::new(BoundedClock::new(raw, bounds, store.last_stamp().time()))
}

/// Reads the catalogue document of the store.
pub fn load_catalog(store: &mut Store) -> Result<Catalog, NodeError> {
    store.catalog()?.ok_or(NodeError::NoCatalog)
}

/// Writes `catalog` into the store's catalogue document (what the cloud does over sync; used
/// to set up a node that has not met its cloud yet, and by tests and the demo).
pub fn publish_catalog(store: &mut Store, catalog: &Catalog, wall: Timestamp) -> Result<(), NodeError> {
    catalog.validate().map_err(ConfigError::from)?;
    let stamp = store.next_stamp(wall);
    store.write(stamp, |b| b.edit(&DocId::Catalog, |tx| Ok(catalog::write(tx, catalog)?)))?;
    Ok(())
}

impl Node {
    /// Opens the node for `hall`: reads the catalogue and rebuilds today's engine by replaying
    /// today's document.
    pub fn open(
        store: SharedStore,
        hall: HallId,
        clock: Box<dyn Clock>,
        visitor_key: VisitorKey,
    ) -> Result<Node, NodeError> {
        let (engine, booking_key) = {
            let mut s = lock(&store);
            let catalog = load_catalog(&mut s)?;
            let config = HallConfig::from_catalog(&catalog, &hall)?;
            let today = s.next_stamp(clock.now()).time().day(config.utc_offset_minutes);
            compact_closed_days(&mut s, &hall, today);
            (replay_day(&mut s, config, today)?, booking_key(&catalog))
        };
        let mut node =
            Node { store, on_change: None, hall, engine, clock, visitor_key, booking_key, clock_alarm: None };
        node.check_clock();
        Ok(node)
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }
    pub fn hall(&self) -> &HallId {
        &self.hall
    }
    /// The store, locked (the link to the cloud shares it).
    pub fn store(&mut self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }
    /// The shared store, for the link to the cloud.
    pub fn shared_store(&self) -> SharedStore {
        self.store.clone()
    }
    /// Called with every document a command changed, after the change is durable (the link
    /// pushes it to the cloud).
    pub fn on_change(&mut self, f: impl Fn(&DocId) + Send + 'static) {
        self.on_change = Some(Box::new(f));
    }
    /// Why the wall clock is not believed now, if it is not (shown to the hall manager).
    pub fn clock_alarm(&self) -> Option<String> {
        self.clock.alarm().map(ClockAlarm::message)
    }

    fn check_clock(&mut self) -> Timestamp {
        let wall = self.clock.now();
        let alarm = self.clock_alarm();
        let was_alarmed = self.clock_alarm.is_some();
        match &alarm {
            Some(text) if !was_alarmed => {
                tracing::warn!(message = "The wall clock is not believed.", hall = %self.hall, alarm = %text)
            }
            None if was_alarmed => {
                tracing::info!(message = "The wall clock is believed again.", hall = %self.hall)
            }
            _ => {}
        }
        self.clock_alarm = alarm;
        wall
    }

    /// The visitor a campus card stands for: its pseudonym and, when the directory knows the
    /// card, the person's kind and college.
    pub fn visitor_for_card(&mut self, card: &str) -> Result<Visitor, NodeError> {
        let id = self.visitor_key.pseudonym(card);
        let mut store = lock(&self.store);
        Ok(match store.card(card)?.entry() {
            Some(e) => Visitor { id, kind: e.kind, college: e.college },
            None => Visitor { id, kind: PersonKind::Other, college: String::new() },
        })
    }

    /// Turns a parsed request into a command: a card becomes a pseudonymous visitor, a booking
    /// code becomes today's booking.
    pub fn resolve(&mut self, request: Request) -> Result<Command, NodeError> {
        Ok(match request {
            Request::Command(c) => c,
            Request::IssueByCard { service, card, priority } => {
                Command::Issue { service, source: Source::Card(self.visitor_for_card(&card)?), priority }
            }
            Request::IssueByBooking { service, code, priority } => {
                let booking = self.booking(&code)?;
                if let Some(asked) = service
                    && asked != booking.service
                {
                    return Err(NodeError::BookingForOtherService {
                        code: booking.code,
                        booked: booking.service.to_string(),
                        asked: asked.to_string(),
                    });
                }
                Command::Issue { service: booking.service.clone(), source: booking.source(), priority }
            }
        })
    }

    /// Today's booking that `code` names: a 6-character code is looked up in today's bookings
    /// document; a signed token is verified with the catalogue's booking key and needs no
    /// document (the hall may have been offline since it was booked), but a cancellation the
    /// hall has received is honoured. Reuse is the engine's to refuse.
    fn booking(&mut self, code: &str) -> Result<BookingClaim, NodeError> {
        let code = code.trim();
        let mut store = lock(&self.store);
        let today = store.next_stamp(self.clock.now()).time().day(self.engine.config().utc_offset_minutes);
        let known = store.bookings(&self.hall, today)?;
        let (claim, local) = if booking_token::is_token(code) {
            let claim = self.booking_key.as_ref().ok_or(TokenError::NoKey)?.verify(code)?;
            if claim.hall != self.hall {
                return Err(NodeError::BookingForOtherHall {
                    code: claim.code,
                    hall: claim.hall.to_string(),
                });
            }
            if claim.day != today {
                return Err(NodeError::BookingForOtherDay { code: claim.code, day: claim.day });
            }
            let local = known.into_iter().find(|b| b.id == claim.booking);
            (claim, local)
        } else {
            let upper = code.to_uppercase();
            let b = known
                .into_iter()
                .find(|b| b.code == upper)
                .ok_or_else(|| NodeError::UnknownBooking(code.to_string()))?;
            (BookingClaim::of(&b), Some(b))
        };
        if local.is_some_and(|b| b.status() == BookingStatus::Cancelled) {
            return Err(NodeError::BookingCancelled { code: claim.code });
        }
        Ok(claim)
    }

    /// Runs one command durably; see the module documentation.
    pub fn execute(&mut self, cmd: &Command) -> Result<Outcome, NodeError> {
        let wall = self.check_clock();
        // The store stays locked from the stamp to the write: the link to the cloud writes to
        // it too (and moves the clock), and a stamp must be the next one when it is written.
        let shared = self.store.clone();
        let (mut store, stamp) = loop {
            let store = lock(&shared);
            let stamp = store.next_stamp(wall);
            let today = stamp.time().day(self.engine.config().utc_offset_minutes);
            if today > self.engine.day() {
                drop(store);
                self.roll_over(today)?;
                continue;
            }
            break (store, stamp);
        };
        // Event times are whole seconds (see onestop_protocol::day); the stamp keeps the order.
        let now = Timestamp(stamp.physical.div_euclid(1000) * 1000);
        let today = now.day(self.engine.config().utc_offset_minutes);
        let events = self.engine.decide(cmd, now)?;
        let case = self.case_for(&events, now);
        let day_id = DocId::Day { hall: self.hall.clone(), day: today };
        let hall = self.hall.clone();
        let offset = self.engine.config().utc_offset_minutes;
        let mut touched = vec![day_id.clone()];
        store.write(stamp, |b| {
            b.edit(&day_id, |tx| Ok(day::append(tx, &hall, today, offset, &events)?))?;
            if let Some(case) = &case {
                let month = Month::of(today);
                let cases_id = DocId::Cases { hall: hall.clone(), month };
                b.edit(&cases_id, |tx| Ok(cases::register(tx, &hall, &month.to_string(), case)?))?;
                touched.push(cases_id);
            }
            for ev in &events {
                if let DayEvent::Issued { source: Source::Booking { booking, .. }, .. } = ev {
                    let bookings_id = DocId::Bookings { hall: hall.clone(), day: today };
                    if b.doc(&bookings_id)?.is_some() {
                        let step =
                            BookingStep { at: now, status: BookingStatus::CheckedIn, by: hall.to_string() };
                        b.edit(&bookings_id, |tx| Ok(bookings::add_step(tx, booking, &step)?))?;
                        touched.push(bookings_id);
                    }
                }
            }
            Ok(())
        })?;
        drop(store);
        for ev in &events {
            self.engine.apply(ev).expect("events from decide always apply");
        }
        if let Some(f) = &self.on_change {
            for id in &touched {
                f(id);
            }
        }
        let effects = events.iter().filter_map(Effect::of).collect();
        Ok(Outcome { events, effects, case })
    }

    /// The case a finish registers: number, fresh verification code, first steps.
    fn case_for(&self, events: &[DayEvent], now: Timestamp) -> Option<Case> {
        let (ticket, window, kind) = events.iter().find_map(|e| match e {
            DayEvent::Finished { ticket, window, kind, .. } => Some((*ticket, *window, *kind)),
            _ => None,
        })?;
        let t = self.engine.ticket(ticket)?;
        debug_assert!(matches!(t.status, Status::Serving { .. }));
        let staff = self.engine.windows().get(&window).and_then(|w| w.staff.clone());
        let by = staff.as_ref().map_or_else(|| "system".to_string(), |s| s.to_string());
        let mut history =
            vec![CaseStep { at: now, status: CaseStatus::Registered, by: by.clone(), reason: None }];
        if kind == CaseKind::Immediate {
            history.push(CaseStep { at: now, status: CaseStatus::Completed, by, reason: None });
        }
        Some(Case {
            number: self.engine.case_number(ticket),
            code: random_code(6),
            kind,
            hall: self.hall.clone(),
            service: t.service.clone(),
            ticket,
            window,
            staff,
            visitor: t.source.visitor().map(|v| v.id.clone()),
            history,
        })
    }

    /// Today's events as the day's document holds them (what the website replays too).
    pub fn today_events(&mut self) -> Result<Vec<onestop_model::DayEvent>, NodeError> {
        let day = self.engine.day();
        Ok(lock(&self.store).day_events(&self.hall, day)?)
    }

    /// Takes up a catalogue that changed in the store (the cloud published a new one): the
    /// hall's configuration is rebuilt and today is replayed under it. Returns the catalogue
    /// when it changed, or `None` when it is the one in use.
    pub fn reload_catalog(&mut self, in_use: &Catalog) -> Result<Option<Catalog>, NodeError> {
        let mut store = lock(&self.store);
        store.refresh()?;
        let catalog = load_catalog(&mut store)?;
        if &catalog == in_use {
            return Ok(None);
        }
        let config = HallConfig::from_catalog(&catalog, &self.hall)?;
        let today = self.engine.day();
        self.engine = replay_day(&mut store, config, today)?;
        self.booking_key = booking_key(&catalog);
        tracing::info!(message = "New catalogue taken up.", hall = %self.hall);
        Ok(Some(catalog))
    }

    /// Opens a new business day; the closed day's document is compacted.
    fn roll_over(&mut self, today: Day) -> Result<(), NodeError> {
        let closed = DocId::Day { hall: self.hall.clone(), day: self.engine.day() };
        let mut store = lock(&self.store);
        if store.doc(&closed)?.is_some()
            && let Err(error) = store.compact(&closed)
        {
            tracing::warn!(message = "Could not compact a closed day.", doc = %closed, %error);
        }
        let config = self.engine.config().clone();
        self.engine = replay_day(&mut store, config, today)?;
        tracing::info!(message = "New business day.", hall = %self.hall, day = %today);
        Ok(())
    }
}

fn lock(store: &SharedStore) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|e| e.into_inner())
}

/// Compacts this hall's days before `today` still held in chunks: a node switched off at
/// night never rolls over, so its closed day is compacted on the next start. A failure is
/// logged; the days stay readable as they are.
fn compact_closed_days(store: &mut Store, hall: &HallId, today: Day) {
    let closed = match store.fragmented_docs() {
        Ok(ids) => ids,
        Err(error) => {
            tracing::warn!(message = "Could not list the days to compact.", %error);
            return;
        }
    };
    for id in closed {
        if let DocId::Day { hall: h, day } = &id
            && h == hall
            && *day < today
        {
            match store.compact(&id) {
                Ok(()) => tracing::info!(message = "Compacted a closed day.", doc = %id),
                Err(error) => tracing::warn!(message = "Could not compact a closed day.", doc = %id, %error),
            }
        }
    }
}

/// Today's engine, rebuilt from today's document (or empty if there is none).
fn replay_day(store: &mut Store, config: HallConfig, today: Day) -> Result<Engine, NodeError> {
    let id = DocId::Day { hall: config.hall.clone(), day: today };
    if store.doc(&id)?.is_none() {
        return Ok(Engine::new(config, today));
    }
    let events = store.day_events(&config.hall, today)?;
    Ok(Engine::replay(config, today, &events)?)
}

#[cfg(test)]
#[path = "node_tests.rs"]
mod tests;
