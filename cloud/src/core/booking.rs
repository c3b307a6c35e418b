//! Online reservations: the rules of slots and places, making and cancelling a booking.
//!
//! - A booking is written to the hall's `hall/H/bookings/D` document through
//!   [`Core::write_doc`], so the sync listener is told at once and a connected hall has it
//!   within a moment.
//! - The card number is never stored: the visitor is its pseudonym, as the halls make it. When
//!   the cloud has a card directory, only a card in it may book.
//! - Capacity and "one booking per visitor, service and day" are checked and the booking
//!   written in one write under the store's lock, so two visitors can never take the last
//!   place together; the office table's row is written inside the same write, so a failure of
//!   either leaves neither. Lock order: the store, then the office database.
//! - The office table `bookings` indexes every booking by its code (codes are unique across
//!   halls and days) and by visitor; the documents stay the truth about statuses.
//! - Booking and cancelling are rate-limited per client and per card ([`Desk`]).

use super::limit::Limiter;
use super::{Core, Error};
use onestop_model::{
    Booking, BookingStatus, BookingStep, Catalog, Day, DayEvent, Hall, HallId, PersonKind, Service,
    ServiceId, Source, Timestamp, Visitor,
};
use onestop_protocol::booking_token::{BookingClaim, BookingSigner};
use onestop_protocol::secrets::random_code;
use onestop_protocol::{DocId, bookings};
use onestop_store::{CardLookup, ReadDocs, StoreError};
use rusqlite::{OptionalExtension, params};
use std::sync::Mutex;
use std::time::Duration;

/// The office table of bookings made here (see the module documentation).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS bookings (
    code TEXT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    hall TEXT NOT NULL,
    day TEXT NOT NULL,
    service TEXT NOT NULL,
    visitor TEXT NOT NULL,
    slot_start_ms INTEGER NOT NULL,
    made_ms INTEGER NOT NULL,
    cancelled_ms INTEGER
);
CREATE INDEX IF NOT EXISTS bookings_by_visitor ON bookings (visitor, day, service);
";

/// The booking desk: the cloud's signing key and the limits on booking and cancelling.
pub struct Desk {
    signer: BookingSigner,
    /// Booking and cancelling attempts per client: 20 in 10 minutes (a dormitory may share
    /// an address).
    pub per_client: Mutex<Limiter>,
    /// Attempts per card (by pseudonym): 10 an hour (book, cancel, book again fit easily).
    pub per_card: Mutex<Limiter>,
}

impl Desk {
    pub fn new(signer: BookingSigner) -> Desk {
        Desk {
            signer,
            per_client: Mutex::new(Limiter::new(20, Duration::from_secs(600))),
            per_card: Mutex::new(Limiter::new(10, Duration::from_secs(3600))),
        }
    }

    /// The public key the halls need, as the catalogue carries it.
    pub fn public_hex(&self) -> String {
        self.signer.public_hex()
    }

    /// The token of a booking.
    pub fn token(&self, b: &Booking) -> Result<String, onestop_protocol::booking_token::TokenError> {
        self.signer.sign(&BookingClaim::of(b))
    }
}

/// Puts the booking key into the published catalogue if it is not there yet, so every hall
/// holds it before it is offline. Nothing is written before a catalogue is published
/// (`onestop-cloud init` publishes the key with it).
pub fn publish_key(core: &Core) -> Result<(), Error> {
    let key = core.bookings.public_hex();
    let published = core.store().catalog()?;
    if published.is_none_or(|c| c.booking_key.as_deref() == Some(key.as_str())) {
        return Ok(());
    }
    core.publish(|c| {
        c.booking_key = Some(key);
        Ok(())
    })?;
    tracing::info!(message = "Booking key published in the catalogue.");
    Ok(())
}

/// A slot of a day, with its places left for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Local minutes since midnight.
    pub start_min: u16,
    pub end_min: u16,
    pub start: Timestamp,
    pub end: Timestamp,
    pub left: u32,
    /// Started already (or about to): not bookable.
    pub past: bool,
}

impl Slot {
    pub fn label(&self) -> String {
        let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        format!("{}–{}", hm(self.start_min), hm(self.end_min))
    }
}

/// The hall's local day now.
pub fn today(hall: &Hall, now: Timestamp) -> Day {
    now.day(hall.utc_offset_minutes)
}

/// The days a visitor may book at `hall` now, in order.
pub fn bookable_days(hall: &Hall, now: Timestamp) -> Vec<Day> {
    let first = today(hall, now);
    (0..=hall.booking.days_ahead as i32)
        .map(|n| first.plus_days(n))
        .filter(|d| hall.booking.open_on(*d))
        .collect()
}

/// Bookings that still hold a place.
pub fn holds_place(b: &Booking) -> bool {
    b.status() != BookingStatus::Cancelled
}

pub fn slots(hall: &Hall, day: Day, service: &ServiceId, known: &[Booking], now: Timestamp) -> Vec<Slot> {
    let midnight = day.start(hall.utc_offset_minutes);
    hall.booking
        .slots()
        .into_iter()
        .map(|(s, e)| {
            let start = midnight.plus_minutes(i64::from(s));
            let taken = known
                .iter()
                .filter(|b| &b.service == service && b.slot_start == start && holds_place(b))
                .count() as u32;
            Slot {
                start_min: s,
                end_min: e,
                start,
                end: midnight.plus_minutes(i64::from(e)),
                left: hall.booking.capacity.saturating_sub(taken),
                past: start <= now,
            }
        })
        .collect()
}

/// The bookings of a hall's day (none when there is no document yet).
pub fn read_day(core: &Core, hall: &HallId, day: Day) -> Result<Vec<Booking>, Error> {
    day_of(&mut core.store(), hall, day)
}

fn day_of(store: &mut onestop_store::Store, hall: &HallId, day: Day) -> Result<Vec<Booking>, Error> {
    Ok(store.bookings(hall, day)?)
}

/// The first of `days` with a slot still to come for `service` at `hall` (what the slot page
/// opens on), read under one lock.
pub fn first_open_day(
    core: &Core,
    hall: &Hall,
    service: &ServiceId,
    days: &[Day],
    now: Timestamp,
) -> Result<Option<Day>, Error> {
    let mut store = core.store();
    for d in days {
        let known = day_of(&mut store, &hall.id, *d)?;
        if slots(hall, *d, service, &known, now).iter().any(|s| !s.past && s.left > 0) {
            return Ok(Some(*d));
        }
    }
    Ok(None)
}

/// The services a hall serves (at any window), in catalogue order.
pub fn served<'a>(catalog: &'a Catalog, hall: &Hall) -> Vec<&'a Service> {
    catalog
        .services
        .values()
        .filter(|s| hall.windows.iter().any(|w| w.services.iter().any(|ws| ws.service == s.id)))
        .collect()
}

/// A card number as typed: spaces dropped, at most 32 characters.
pub fn normalize_card(raw: &str) -> String {
    raw.chars().filter(|c| !c.is_whitespace()).take(33).collect()
}

/// Why a booking was not made.
#[derive(Debug)]
pub enum Refusal {
    Full,
    Twice,
    Failed(Error),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Refusal {
        Refusal::Failed(e.into())
    }
}

impl From<rusqlite::Error> for Refusal {
    fn from(e: rusqlite::Error) -> Refusal {
        Refusal::Failed(e.into())
    }
}

/// Checks the slot's places and the visitor's other bookings and writes the booking and its
/// office row, in one write under the store's lock.
pub fn make(core: &Core, b: &mut Booking, capacity: u32) -> Result<(), Refusal> {
    let now = core.now();
    let id = DocId::Bookings { hall: b.hall.clone(), day: b.day };
    let visitor = b.visitor.as_ref().map(|v| v.id.to_string()).unwrap_or_default();
    core.write_doc_with_office(std::slice::from_ref(&id), |batch, db| {
        let known = batch.bookings(&b.hall, b.day)?;
        let taken = known
            .iter()
            .filter(|k| k.service == b.service && k.slot_start == b.slot_start && holds_place(k))
            .count();
        if taken as u32 >= capacity {
            return Err(Refusal::Full);
        }
        let failed = |e: rusqlite::Error| Refusal::Failed(e.into());
        let twice: Option<String> = db
            .query_row(
                "SELECT code FROM bookings WHERE visitor = ?1 AND day = ?2 AND service = ?3 AND cancelled_ms IS NULL",
                params![visitor, b.day.to_string(), b.service.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(failed)?;
        if twice.is_some() {
            return Err(Refusal::Twice);
        }
        // A code no other booking has (the hall looks today's bookings up by code).
        loop {
            let taken: bool = db
                .query_row("SELECT 1 FROM bookings WHERE code = ?1", params![b.code], |_| Ok(true))
                .optional()
                .map_err(failed)?
                .unwrap_or(false);
            if !taken {
                break;
            }
            b.code = random_code(6);
        }
        batch.edit(&id, |tx| Ok(bookings::put(tx, b)?))?;
        // In the office transaction, committed only once the document is: if either cannot be
        // written, neither is kept (a cut between the two leaves the document, and the row is
        // put back from it at the next start: `reconcile_office`).
        db.execute(
            "INSERT INTO bookings (code, id, hall, day, service, visitor, slot_start_ms, made_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                b.code,
                b.id.as_str(),
                b.hall.as_str(),
                b.day.to_string(),
                b.service.as_str(),
                visitor,
                b.slot_start.0,
                now.0
            ],
        )
        .map_err(failed)?;
        Ok(())
    })
}

/// Puts the office's booking rows of yesterday on back in line with the bookings documents
/// (the truth): a booking whose row is missing (a cut between the document's commit and the
/// row's) gets it, a row whose booking is in no document goes. Returns (added, removed).
pub fn reconcile_office(core: &Core) -> Result<(usize, usize), Error> {
    let from = onestop_model::Day::from_days_since_epoch(
        core.now().day(core.catalog()?.campus_offset()).days_since_epoch() - 1,
    );
    let ids: Vec<DocId> = core
        .store()
        .list_docs()?
        .into_iter()
        .filter(|id| matches!(id, DocId::Bookings { day, .. } if *day >= from))
        .collect();
    let mut in_docs = Vec::new();
    for id in &ids {
        let DocId::Bookings { hall, day } = id else { continue };
        let mut store = core.store();
        in_docs.extend(store.bookings(hall, *day)?);
        store.evict(id);
    }
    let db = core.db();
    let mut added = 0;
    for b in &in_docs {
        let made = b.history.first().map_or(0, |s| s.at.0);
        let cancelled = b.history.iter().find(|s| s.status == BookingStatus::Cancelled).map(|s| s.at.0);
        let visitor = b.visitor.as_ref().map(|v| v.id.to_string()).unwrap_or_default();
        added += db.execute(
            "INSERT OR IGNORE INTO bookings (code, id, hall, day, service, visitor, slot_start_ms, made_ms, cancelled_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![b.code, b.id.as_str(), b.hall.as_str(), b.day.to_string(), b.service.as_str(), visitor, b.slot_start.0, made, cancelled],
        )?;
        // A cancellation whose row was not marked (a cut after the document's commit).
        if let Some(at) = cancelled {
            db.execute(
                "UPDATE bookings SET cancelled_ms = ?1 WHERE id = ?2 AND cancelled_ms IS NULL",
                params![at, b.id.as_str()],
            )?;
        }
    }
    let known: std::collections::BTreeSet<&str> = in_docs.iter().map(|b| b.id.as_str()).collect();
    let rows: Vec<String> = db
        .prepare("SELECT id FROM bookings WHERE day >= ?1")?
        .query_map(params![from.to_string()], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut removed = 0;
    for row in rows.iter().filter(|r| !known.contains(r.as_str())) {
        removed += db.execute("DELETE FROM bookings WHERE id = ?1", params![row])?;
    }
    Ok((added, removed))
}

/// The visitor a card stands for; `None` when the cloud's card directory does not know it.
pub fn visitor_of(core: &Core, card: &str) -> Result<Option<Visitor>, Error> {
    let id = core.visitor_key.pseudonym(card);
    Ok(match core.store().card(card)? {
        CardLookup::Known(e) => Some(Visitor { id, kind: e.kind, college: e.college }),
        CardLookup::Unknown => None,
        CardLookup::NoDirectory => Some(Visitor { id, kind: PersonKind::Other, college: String::new() }),
    })
}

#[derive(Debug)]
pub enum CancelRefusal {
    /// Too many attempts from this client, or with this card, until then.
    Limited {
        until: onestop_model::Timestamp,
        by_card: bool,
    },
    NotFound,
    Already,
    CheckedIn,
    Started,
    Failed(Error),
}

impl From<StoreError> for CancelRefusal {
    fn from(e: StoreError) -> CancelRefusal {
        CancelRefusal::Failed(e.into())
    }
}

impl From<rusqlite::Error> for CancelRefusal {
    fn from(e: rusqlite::Error) -> CancelRefusal {
        CancelRefusal::Failed(e.into())
    }
}

/// Cancels the booking with `code` made with `visitor`'s card.
pub fn cancel(core: &Core, code: &str, visitor: &str) -> Result<Booking, CancelRefusal> {
    let now = core.now();
    let row: Option<(String, String, String, Option<i64>, String)> = core
        .db()
        .query_row(
            "SELECT id, hall, day, cancelled_ms, visitor FROM bookings WHERE code = ?1",
            params![code],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()
        .map_err(|e| CancelRefusal::Failed(e.into()))?;
    let Some((id, hall, day, cancelled, owner)) = row else { return Err(CancelRefusal::NotFound) };
    if !super::accounts::same_secret(&owner, visitor) {
        return Err(CancelRefusal::NotFound);
    }
    if cancelled.is_some() {
        return Err(CancelRefusal::Already);
    }
    let hall = HallId::new(hall);
    let day: Day = day.parse().map_err(|_| {
        CancelRefusal::Failed(Error::Internal(format!("the office row of booking {code} has day {day}")))
    })?;
    let doc = DocId::Bookings { hall: hall.clone(), day };
    core.write_doc_with_office(std::slice::from_ref(&doc), |batch, db| {
        let b = batch
            .bookings(&hall, day)?
            .into_iter()
        .find(|b| b.id.as_str() == id)
        .ok_or(CancelRefusal::NotFound)?;
        // A hall that did not hold the bookings document when the visitor scanned the token
        // records the check-in only as the ticket it issued: look in its day too.
        let ticketed = batch.day_events(&hall, day)?.iter().any(
            |e| matches!(e, DayEvent::Issued { source: Source::Booking { booking, .. }, .. } if booking.as_str() == id),
        );
        if ticketed {
            return Err(CancelRefusal::CheckedIn);
        }
        match b.status() {
            BookingStatus::CheckedIn => return Err(CancelRefusal::CheckedIn),
            BookingStatus::Cancelled => return Err(CancelRefusal::Already),
            _ if b.slot_start <= now => return Err(CancelRefusal::Started),
            _ => {}
        }
        let step = BookingStep { at: now, status: BookingStatus::Cancelled, by: "web".into() };
        batch.edit(&doc, |tx| Ok(bookings::add_step(tx, &b.id, &step)?))?;
        db.execute("UPDATE bookings SET cancelled_ms = ?1 WHERE code = ?2", params![now.0, code])?;
        Ok(b)
    })
}

/// A visitor's request to book, as the form gives it.
#[derive(Debug, Clone)]
pub struct BookRequest {
    /// Who is asking (the client's address or its /64), for the per-client limit.
    pub client: String,
    pub day: String,
    /// The slot's start, local minutes since midnight.
    pub slot: String,
    pub card: String,
}

/// Why a booking was not made (each with what the visitor is told by the page).
#[derive(Debug)]
pub enum BookRefusal {
    /// Too many attempts from this client, or with this card, until then.
    Limited {
        until: onestop_model::Timestamp,
        by_card: bool,
    },
    /// Not a day this hall takes bookings on now.
    DayNotOpen,
    /// No such slot that day.
    NoSlot,
    /// The slot has begun.
    SlotBegun,
    /// Not a campus card number (letters and digits, at most 32).
    BadCard,
    /// The card directory does not know the card.
    UnknownCard,
    Full,
    Twice,
    Failed(Error),
}

impl From<Refusal> for BookRefusal {
    fn from(r: Refusal) -> BookRefusal {
        match r {
            Refusal::Full => BookRefusal::Full,
            Refusal::Twice => BookRefusal::Twice,
            Refusal::Failed(e) => BookRefusal::Failed(e),
        }
    }
}

/// Counts an attempt against `limiter` for `key` at `now`, unless it is full.
fn count(
    limiter: &Mutex<Limiter>,
    key: &str,
    now: onestop_model::Timestamp,
) -> Option<onestop_model::Timestamp> {
    let mut l = super::limit::lock(limiter);
    let until = l.blocked_until(key, now);
    if until.is_none() {
        l.hit(key, now);
    }
    until
}

/// Books a slot of `service` at `hall` for the visitor whose card the request gives, at the
/// core's time: the per-client limit, a bookable day, a slot that has not begun, a card number
/// (never stored: the visitor is its pseudonym) that the card directory knows (counted
/// against the card either way, so guessing numbers is slowed down), the per-card limit, then
/// places and "one per visitor, service and day" in one write ([`make`]). The booking key is
/// published first if the halls do not hold it yet.
pub fn book(core: &Core, hall: &Hall, service: &Service, req: &BookRequest) -> Result<Booking, BookRefusal> {
    let now = core.now();
    let desk = &core.bookings;
    if let Some(until) = count(&desk.per_client, &req.client, now) {
        tracing::info!(message = "Booking attempts limited.", client = %req.client);
        return Err(BookRefusal::Limited { until, by_card: false });
    }
    let Some(day) = req.day.parse::<Day>().ok().filter(|d| bookable_days(hall, now).contains(d)) else {
        return Err(BookRefusal::DayNotOpen);
    };
    let Some(slot) = req
        .slot
        .parse::<u16>()
        .ok()
        .and_then(|m| slots(hall, day, &service.id, &[], now).into_iter().find(|sl| sl.start_min == m))
    else {
        return Err(BookRefusal::NoSlot);
    };
    if slot.past {
        return Err(BookRefusal::SlotBegun);
    }
    let card = normalize_card(&req.card);
    if card.is_empty() || card.len() > 32 || !card.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(BookRefusal::BadCard);
    }
    let Some(visitor) = visitor_of(core, &card).map_err(BookRefusal::Failed)? else {
        let pseudonym = core.visitor_key.pseudonym(&card);
        if let Some(until) = count(&desk.per_card, pseudonym.as_str(), now) {
            return Err(BookRefusal::Limited { until, by_card: true });
        }
        return Err(BookRefusal::UnknownCard);
    };
    if let Some(until) = count(&desk.per_card, visitor.id.as_str(), now) {
        return Err(BookRefusal::Limited { until, by_card: true });
    }
    let mut b = Booking {
        id: onestop_model::BookingId::new(random_code(10).to_lowercase()),
        hall: hall.id.clone(),
        day,
        service: service.id.clone(),
        slot_start: slot.start,
        slot_end: slot.end,
        visitor: Some(visitor),
        code: random_code(6),
        history: vec![BookingStep { at: now, status: BookingStatus::Booked, by: "web".into() }],
    };
    if let Err(error) = publish_key(core) {
        tracing::warn!(message = "Cannot publish the booking key.", %error);
    }
    make(core, &mut b, hall.booking.capacity)?;
    Ok(b)
}

/// A visitor's request to cancel: who asks (for the per-client limit), the booking's code and
/// the card it was made with.
pub fn cancel_request(core: &Core, client: &str, code: &str, card: &str) -> Result<Booking, CancelRefusal> {
    let now = core.now();
    let desk = &core.bookings;
    if let Some(until) = count(&desk.per_client, client, now) {
        tracing::info!(message = "Booking attempts limited.", %client);
        return Err(CancelRefusal::Limited { until, by_card: false });
    }
    let card = normalize_card(card);
    let code: String =
        code.chars().filter(|c| !c.is_whitespace()).take(16).collect::<String>().to_uppercase();
    let visitor = core.visitor_key.pseudonym(&card);
    if let Some(until) = count(&desk.per_card, visitor.as_str(), now) {
        return Err(CancelRefusal::Limited { until, by_card: true });
    }
    cancel(core, &code, visitor.as_str())
}
