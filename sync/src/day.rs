//! The `hall/H/day/D` document: an append-only list of the day's events.
//!
//! ```text
//! { type: "day", schema: 1, hall: "main", day: "2026-11-26",
//!   events: [ { k: "issued", at: <ms>, t: "A001", s: "cert", src: "card", v: "…", … }, … ] }
//! ```
//! Each event is one flat map with short keys: a busy day holds tens of thousands of them.

use crate::codec::{self, DocError, Fields, i, s, ts};
use automerge::transaction::Transactable;
use automerge::{AutomergeError, ObjType, ROOT, ReadDoc, ScalarValue};
use onestop_model::{
    BookingId, CaseKind, Day, DayEvent, HallId, Level, PersonKind, Placement, Priority, Rating, ServiceId,
    Source, StaffId, TicketNo, Timestamp, TransferTarget, Visitor, VisitorId,
};

/// A day document, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayDoc {
    pub hall: HallId,
    pub day: Day,
    pub events: Vec<DayEvent>,
}

/// Appends `events` to the day document, creating its header if the document is new.
pub fn append(
    tx: &mut impl Transactable,
    hall: &HallId,
    day: Day,
    events: &[DayEvent],
) -> Result<(), AutomergeError> {
    let list = match tx.get(ROOT, "events")? {
        Some((automerge::Value::Object(ObjType::List), id)) => id,
        _ => {
            codec::init_root(tx, "day")?;
            tx.put(ROOT, "hall", hall.as_str())?;
            tx.put(ROOT, "day", day.to_string())?;
            tx.put_object(ROOT, "events", ObjType::List)?
        }
    };
    for ev in events {
        codec::append_map(tx, &list, &fields(ev))?;
    }
    Ok(())
}

fn level(l: Option<Level>) -> Option<ScalarValue> {
    l.map(|l| ScalarValue::Int(i64::from(l.score())))
}

/// The flat fields of an event, in a fixed order (stable columns compress well).
fn fields(ev: &DayEvent) -> Vec<(&'static str, Option<ScalarValue>)> {
    let mut f = vec![("k", s(ev.name())), ("at", ts(ev.at()))];
    if let Some(t) = ev.ticket() {
        f.push(("t", s(t.to_string())));
    }
    match ev {
        DayEvent::Issued { service, source, priority, ahead, wait_estimate_s, .. } => {
            f.push(("s", s(service)));
            let visitor = source.visitor();
            match source {
                Source::Card(_) => f.push(("src", s("card"))),
                Source::Anonymous => f.push(("src", s("anon"))),
                Source::Booking { booking, slot_start, slot_end, .. } => {
                    f.push(("src", s("booking")));
                    f.push(("b", s(booking)));
                    f.push(("bs", ts(*slot_start)));
                    f.push(("be", ts(*slot_end)));
                }
            }
            if let Some(v) = visitor {
                f.push(("v", s(&v.id)));
                f.push(("vk", s(v.kind.as_str())));
                f.push(("vc", s(&v.college)));
            }
            if *priority != Priority::Normal {
                f.push(("p", s(priority.as_str())));
            }
            f.push(("ah", i(*ahead)));
            f.push(("est", i(*wait_estimate_s)));
        }
        DayEvent::CheckedIn { window, staff, .. } => {
            f.push(("w", i(*window)));
            f.push(("st", s(staff)));
        }
        DayEvent::Paused { window, reason, .. } => {
            f.push(("w", i(*window)));
            f.push(("r", s(reason)));
        }
        DayEvent::CheckedOut { window, .. }
        | DayEvent::Resumed { window, .. }
        | DayEvent::Called { window, .. }
        | DayEvent::Recalled { window, .. }
        | DayEvent::NoShow { window, .. }
        | DayEvent::Started { window, .. } => f.push(("w", i(*window))),
        DayEvent::Reactivated { placement, .. } => f.push(("pl", s(placement.as_str()))),
        DayEvent::Transferred { window, to, placement, .. } => {
            f.push(("w", i(*window)));
            match to {
                TransferTarget::Window(w) => f.push(("tw", i(*w))),
                TransferTarget::Service(sv) => f.push(("ts", s(sv))),
            }
            f.push(("pl", s(placement.as_str())));
        }
        DayEvent::Finished { window, kind, .. } => {
            f.push(("w", i(*window)));
            f.push(("ck", s(kind.as_str())));
        }
        DayEvent::Rated { window, rating, .. } => {
            f.push(("w", i(*window)));
            f.push(("l", level(Some(rating.level))));
            f.push(("la", level(rating.attitude)));
            f.push(("le", level(rating.efficiency)));
            f.push(("lq", level(rating.quality)));
        }
    }
    f
}

fn ticket(f: &Fields<'_>) -> Result<TicketNo, DocError> {
    let raw = f.str("t")?;
    raw.parse().map_err(|_| f.bad("t", raw))
}

fn opt_level(f: &Fields<'_>, field: &'static str) -> Result<Option<Level>, DocError> {
    match f.opt_int(field)? {
        None => Ok(None),
        Some(n) => Level::from_score(n).map(Some).ok_or_else(|| f.bad(field, n)),
    }
}

/// Reads one event.
pub fn event(f: &Fields<'_>) -> Result<DayEvent, DocError> {
    let at = Timestamp(f.int("at")?);
    let kind = f.str("k")?;
    let window = || f.num::<u16>("w");
    let placement = || f.parsed("pl", Placement::parse);
    Ok(match kind {
        "issued" => {
            let visitor = match f.opt_str("v")? {
                None => None,
                Some(v) => Some(Visitor {
                    id: VisitorId::new(v),
                    kind: f.parsed("vk", PersonKind::parse)?,
                    college: f.opt_str("vc")?.unwrap_or_default().to_string(),
                }),
            };
            let source = match f.str("src")? {
                "card" => Source::Card(visitor.ok_or_else(|| f.bad("v", "(missing for a card)"))?),
                "anon" => Source::Anonymous,
                "booking" => Source::Booking {
                    booking: BookingId::new(f.str("b")?),
                    slot_start: Timestamp(f.int("bs")?),
                    slot_end: Timestamp(f.int("be")?),
                    visitor,
                },
                other => return Err(f.bad("src", other)),
            };
            DayEvent::Issued {
                at,
                ticket: ticket(f)?,
                service: ServiceId::new(f.str("s")?),
                source,
                priority: f.opt_parsed("p", Priority::parse)?.unwrap_or(Priority::Normal),
                ahead: f.opt_int("ah")?.unwrap_or(0).try_into().map_err(|_| f.bad("ah", "(out of range)"))?,
                wait_estimate_s: f
                    .opt_int("est")?
                    .unwrap_or(0)
                    .try_into()
                    .map_err(|_| f.bad("est", "(out of range)"))?,
            }
        }
        "checked_in" => DayEvent::CheckedIn { at, window: window()?, staff: StaffId::new(f.str("st")?) },
        "checked_out" => DayEvent::CheckedOut { at, window: window()? },
        "paused" => DayEvent::Paused { at, window: window()?, reason: f.str("r")?.to_string() },
        "resumed" => DayEvent::Resumed { at, window: window()? },
        "called" => DayEvent::Called { at, ticket: ticket(f)?, window: window()? },
        "recalled" => DayEvent::Recalled { at, ticket: ticket(f)?, window: window()? },
        "no_show" => DayEvent::NoShow { at, ticket: ticket(f)?, window: window()? },
        "reactivated" => DayEvent::Reactivated { at, ticket: ticket(f)?, placement: placement()? },
        "transferred" => {
            let to = match (f.opt_int("tw")?, f.opt_str("ts")?) {
                (Some(w), None) => TransferTarget::Window(u16::try_from(w).map_err(|_| f.bad("tw", w))?),
                (None, Some(sv)) => TransferTarget::Service(ServiceId::new(sv)),
                _ => return Err(f.bad("tw", "(a transfer names one window or one service)")),
            };
            DayEvent::Transferred { at, ticket: ticket(f)?, window: window()?, to, placement: placement()? }
        }
        "started" => DayEvent::Started { at, ticket: ticket(f)?, window: window()? },
        "finished" => DayEvent::Finished {
            at,
            ticket: ticket(f)?,
            window: window()?,
            kind: f.parsed("ck", CaseKind::parse)?,
        },
        "rated" => DayEvent::Rated {
            at,
            ticket: ticket(f)?,
            window: window()?,
            rating: Rating {
                level: opt_level(f, "l")?.ok_or_else(|| f.bad("l", "(missing)"))?,
                attitude: opt_level(f, "la")?,
                efficiency: opt_level(f, "le")?,
                quality: opt_level(f, "lq")?,
            },
        },
        other => return Err(f.bad("k", other)),
    })
}

/// Reads a whole day document.
pub fn read(doc: &impl ReadDoc, name: &str) -> Result<DayDoc, DocError> {
    let value = doc.hydrate(automerge::ROOT, None)?;
    let root = codec::root(&value, name, "day")?;
    let hall = HallId::new(root.str("hall")?);
    let day_raw = root.str("day")?;
    let day: Day = day_raw.parse().map_err(|_| root.bad("day", day_raw))?;
    let list = root.list("events")?;
    let mut events = Vec::with_capacity(list.len());
    for item in codec::items(list, "event") {
        events.push(event(&item?)?);
    }
    Ok(DayDoc { hall, day, events })
}
