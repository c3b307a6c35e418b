//! The `hall/H/day/D` document: an append-only list of the day's events.
//!
//! ```text
//! { type: "day", schema: 1, hall: "main", day: "2026-11-26", t0: <local midnight, ms>,
//!   events: [ "I 30600 A001 cert n 0 0 c k3v9… u 计算机学院", "CI 30605 5 s001", … ] }
//! ```
//!
//! Each event is one compact string: a kind code, the second of the day (from `t0`), then the
//! kind's fields in a fixed order, separated by spaces (free text escapes `%` and space). A
//! busy day holds some 27,000 events; as maps of fields they took 384 KB compacted, as these
//! strings about half (see BENCHMARKS.md). Event times therefore have whole-second
//! resolution; the node gives the engine whole seconds.
//!
//! Evolution: a newer writer may append fields at the end of an event; readers ignore fields
//! they do not know and give absent trailing fields their defaults, so older and newer nodes
//! read each other's days.

use crate::codec::{self, DocError, text, untext};
use automerge::transaction::Transactable;
use automerge::{AutomergeError, ObjType, ROOT, ReadDoc, ScalarValue, hydrate};
use onestop_model::{
    BookingId, CaseKind, Day, DayEvent, HallId, Level, PersonKind, Placement, Priority, Rating, ServiceId,
    Source, StaffId, TicketNo, Timestamp, TransferTarget, Visitor, VisitorId, WindowNo,
};
use std::fmt::Write;

/// A day document, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayDoc {
    pub hall: HallId,
    pub day: Day,
    pub events: Vec<DayEvent>,
}

/// The origin of event times in the document: local midnight of the day.
fn t0(day: Day, utc_offset_minutes: i32) -> Timestamp {
    day.start(utc_offset_minutes)
}

/// Appends `events` to the day document, creating its header if the document is new.
/// Event times are stored in whole seconds.
pub fn append(
    tx: &mut impl Transactable,
    hall: &HallId,
    day: Day,
    utc_offset_minutes: i32,
    events: &[DayEvent],
) -> Result<(), AutomergeError> {
    let (list, origin) = match (tx.get(ROOT, "events")?, tx.get(ROOT, "t0")?) {
        (Some((automerge::Value::Object(ObjType::List), id)), Some((automerge::Value::Scalar(t), _))) => {
            let origin = match t.as_ref() {
                ScalarValue::Timestamp(ms) | ScalarValue::Int(ms) => Timestamp(*ms),
                _ => t0(day, utc_offset_minutes),
            };
            (id, origin)
        }
        _ => {
            codec::init_root(tx, "day")?;
            tx.put(ROOT, "hall", hall.as_str())?;
            tx.put(ROOT, "day", day.to_string())?;
            let origin = t0(day, utc_offset_minutes);
            tx.put(ROOT, "t0", ScalarValue::Timestamp(origin.0))?;
            (tx.put_object(ROOT, "events", ObjType::List)?, origin)
        }
    };
    let len = tx.length(&list);
    for (i, ev) in events.iter().enumerate() {
        tx.insert(&list, len + i, encode(ev, origin))?;
    }
    Ok(())
}

fn person(k: PersonKind) -> &'static str {
    match k {
        PersonKind::Undergraduate => "u",
        PersonKind::Graduate => "g",
        PersonKind::Staff => "s",
        PersonKind::Other => "o",
    }
}

fn placement(p: Placement) -> &'static str {
    match p {
        Placement::Front => "f",
        Placement::Back => "b",
        Placement::Original => "o",
    }
}

fn level(l: Option<Level>) -> String {
    l.map_or("-".into(), |l| l.score().to_string())
}

/// One event as its compact string.
pub fn encode(ev: &DayEvent, origin: Timestamp) -> String {
    let code = match ev {
        DayEvent::Issued { .. } => "I",
        DayEvent::CheckedIn { .. } => "CI",
        DayEvent::CheckedOut { .. } => "CO",
        DayEvent::Paused { .. } => "P",
        DayEvent::Resumed { .. } => "R",
        DayEvent::Called { .. } => "C",
        DayEvent::Recalled { .. } => "RC",
        DayEvent::NoShow { .. } => "N",
        DayEvent::Reactivated { .. } => "RA",
        DayEvent::Transferred { .. } => "T",
        DayEvent::Started { .. } => "S",
        DayEvent::Finished { .. } => "F",
        DayEvent::Rated { .. } => "RT",
    };
    let secs = |t: Timestamp| t.since(origin).div_euclid(1000);
    let mut out = format!("{code} {}", secs(ev.at()));
    if let Some(t) = ev.ticket() {
        let _ = write!(out, " {t}");
    }
    let visitor = |out: &mut String, v: &Visitor| {
        text(out, v.id.as_str());
        let _ = write!(out, " {}", person(v.kind));
        text(out, &v.college);
    };
    match ev {
        DayEvent::Issued { service, source, priority, ahead, wait_estimate_min, .. } => {
            text(&mut out, service.as_str());
            let p = match priority {
                Priority::Normal => "n",
                Priority::Care => "c",
                Priority::Green => "g",
            };
            let _ = write!(out, " {p} {ahead} {wait_estimate_min}");
            match source {
                Source::Anonymous => out.push_str(" a"),
                Source::Card(v) => {
                    out.push_str(" c");
                    visitor(&mut out, v);
                }
                Source::Booking { booking, slot_start, slot_end, visitor: v } => {
                    out.push_str(" b");
                    text(&mut out, booking.as_str());
                    let _ = write!(out, " {} {}", secs(*slot_start), secs(*slot_end));
                    if let Some(v) = v {
                        visitor(&mut out, v);
                    }
                }
            }
        }
        DayEvent::CheckedIn { window, staff, .. } => {
            let _ = write!(out, " {window}");
            text(&mut out, staff.as_str());
        }
        DayEvent::Paused { window, reason, .. } => {
            let _ = write!(out, " {window}");
            text(&mut out, reason);
        }
        DayEvent::CheckedOut { window, .. } | DayEvent::Resumed { window, .. } => {
            let _ = write!(out, " {window}");
        }
        DayEvent::Called { window, .. }
        | DayEvent::Recalled { window, .. }
        | DayEvent::NoShow { window, .. }
        | DayEvent::Started { window, .. } => {
            let _ = write!(out, " {window}");
        }
        DayEvent::Reactivated { placement: p, .. } => {
            let _ = write!(out, " {}", placement(*p));
        }
        DayEvent::Transferred { window, to, placement: p, .. } => {
            let _ = write!(out, " {window} {}", placement(*p));
            match to {
                TransferTarget::Window(w) => {
                    let _ = write!(out, " w {w}");
                }
                TransferTarget::Service(s) => {
                    out.push_str(" s");
                    text(&mut out, s.as_str());
                }
            }
        }
        DayEvent::Finished { window, kind, .. } => {
            let k = match kind {
                CaseKind::Immediate => "i",
                CaseKind::Pending => "p",
            };
            let _ = write!(out, " {window} {k}");
        }
        DayEvent::Rated { window, rating, .. } => {
            let _ = write!(out, " {window} {}", rating.level.score());
            // Dimensions are optional: absent ones at the end are left out.
            let dims = [rating.attitude, rating.efficiency, rating.quality];
            let given = dims.iter().rposition(Option::is_some).map_or(0, |i| i + 1);
            for d in &dims[..given] {
                let _ = write!(out, " {}", level(*d));
            }
        }
    }
    out
}

/// Reads the fields of one event string in order.
struct Tokens<'a> {
    raw: &'a str,
    what: &'a str,
    parts: std::str::SplitAsciiWhitespace<'a>,
}

impl<'a> Tokens<'a> {
    fn bad(&self, why: &str) -> DocError {
        DocError::BadValue {
            what: self.what.to_string(),
            field: "event",
            value: format!("{} ({why})", self.raw),
        }
    }
    fn next(&mut self, name: &str) -> Result<&'a str, DocError> {
        let raw = self.raw;
        self.parts.next().ok_or_else(|| DocError::BadValue {
            what: self.what.to_string(),
            field: "event",
            value: format!("{raw} (missing {name})"),
        })
    }
    fn opt(&mut self) -> Option<&'a str> {
        self.parts.next()
    }
    fn num<T: std::str::FromStr>(&mut self, name: &str) -> Result<T, DocError> {
        let t = self.next(name)?;
        t.parse().map_err(|_| self.bad(&format!("{name} '{t}' is not a number")))
    }
    fn ticket(&mut self) -> Result<TicketNo, DocError> {
        let t = self.next("ticket")?;
        t.parse().map_err(|_| self.bad(&format!("'{t}' is not a ticket number")))
    }
    fn window(&mut self) -> Result<WindowNo, DocError> {
        self.num("window")
    }
    fn text(&mut self, name: &str) -> Result<String, DocError> {
        Ok(untext(self.next(name)?))
    }
    fn placement(&mut self) -> Result<Placement, DocError> {
        match self.next("placement")? {
            "f" => Ok(Placement::Front),
            "b" => Ok(Placement::Back),
            "o" => Ok(Placement::Original),
            other => Err(self.bad(&format!("placement '{other}'"))),
        }
    }
    fn level(&mut self, name: &str) -> Result<Option<Level>, DocError> {
        match self.opt() {
            None | Some("-") => Ok(None),
            Some(n) => n
                .parse::<i64>()
                .ok()
                .and_then(Level::from_score)
                .map(Some)
                .ok_or_else(|| self.bad(&format!("{name} '{n}' is not a level 1-5"))),
        }
    }
    fn visitor(&mut self) -> Result<Option<Visitor>, DocError> {
        let Some(id) = self.opt() else { return Ok(None) };
        let kind = match self.next("person kind")? {
            "u" => PersonKind::Undergraduate,
            "g" => PersonKind::Graduate,
            "s" => PersonKind::Staff,
            "o" => PersonKind::Other,
            other => return Err(self.bad(&format!("person kind '{other}'"))),
        };
        Ok(Some(Visitor { id: VisitorId::new(untext(id)), kind, college: self.text("college")? }))
    }
}

/// Reads one event string.
pub fn decode(raw: &str, origin: Timestamp, what: &str) -> Result<DayEvent, DocError> {
    let mut t = Tokens { raw, what, parts: raw.split_ascii_whitespace() };
    let code = t.next("kind")?;
    // Times are seconds from the day's start: anything beyond a year either way is no time of
    // this day (and would overflow).
    let time = |s: i64| -> Result<Timestamp, DocError> {
        if s.abs() > 366 * 86_400 {
            return Err(DocError::BadValue {
                what: what.to_string(),
                field: "event",
                value: format!("{raw} (time {s} s from the day's start is out of range)"),
            });
        }
        Ok(origin.plus_ms(s * 1000))
    };
    let at = time(t.num("time")?)?;
    Ok(match code {
        "I" => {
            let ticket = t.ticket()?;
            let service = ServiceId::new(t.text("service")?);
            let priority = match t.next("priority")? {
                "n" => Priority::Normal,
                "c" => Priority::Care,
                "g" => Priority::Green,
                other => return Err(t.bad(&format!("priority '{other}'"))),
            };
            let ahead = t.num("ahead")?;
            let wait_estimate_min = t.num("estimate")?;
            let source = match t.next("source")? {
                "a" => Source::Anonymous,
                "c" => Source::Card(t.visitor()?.ok_or_else(|| t.bad("a card ticket without its visitor"))?),
                "b" => {
                    let booking = BookingId::new(t.text("booking")?);
                    let slot_start = time(t.num("slot start")?)?;
                    let slot_end = time(t.num("slot end")?)?;
                    Source::Booking { booking, slot_start, slot_end, visitor: t.visitor()? }
                }
                other => return Err(t.bad(&format!("source '{other}'"))),
            };
            DayEvent::Issued { at, ticket, service, source, priority, ahead, wait_estimate_min }
        }
        "CI" => DayEvent::CheckedIn { at, window: t.window()?, staff: StaffId::new(t.text("staff")?) },
        "CO" => DayEvent::CheckedOut { at, window: t.window()? },
        "P" => DayEvent::Paused { at, window: t.window()?, reason: t.text("reason")? },
        "R" => DayEvent::Resumed { at, window: t.window()? },
        "C" => DayEvent::Called { at, ticket: t.ticket()?, window: t.window()? },
        "RC" => DayEvent::Recalled { at, ticket: t.ticket()?, window: t.window()? },
        "N" => DayEvent::NoShow { at, ticket: t.ticket()?, window: t.window()? },
        "RA" => DayEvent::Reactivated { at, ticket: t.ticket()?, placement: t.placement()? },
        "T" => {
            let ticket = t.ticket()?;
            let window = t.window()?;
            let placement = t.placement()?;
            let to = match t.next("target")? {
                "w" => TransferTarget::Window(t.window()?),
                "s" => TransferTarget::Service(ServiceId::new(t.text("service")?)),
                other => return Err(t.bad(&format!("transfer target '{other}'"))),
            };
            DayEvent::Transferred { at, ticket, window, to, placement }
        }
        "S" => DayEvent::Started { at, ticket: t.ticket()?, window: t.window()? },
        "F" => {
            let ticket = t.ticket()?;
            let window = t.window()?;
            let kind = match t.next("case kind")? {
                "i" => CaseKind::Immediate,
                "p" => CaseKind::Pending,
                other => return Err(t.bad(&format!("case kind '{other}'"))),
            };
            DayEvent::Finished { at, ticket, window, kind }
        }
        "RT" => {
            let ticket = t.ticket()?;
            let window = t.window()?;
            let level = t.level("level")?.ok_or_else(|| t.bad("a rating without its level"))?;
            let rating = Rating {
                level,
                attitude: t.level("attitude")?,
                efficiency: t.level("efficiency")?,
                quality: t.level("quality")?,
            };
            DayEvent::Rated { at, ticket, window, rating }
        }
        other => return Err(t.bad(&format!("unknown kind '{other}'"))),
    })
}

/// Reads a whole day document.
pub fn read(doc: &impl ReadDoc, name: &str) -> Result<DayDoc, DocError> {
    let value = doc.hydrate(automerge::ROOT, None)?;
    let root = codec::root(&value, name, "day")?;
    let hall = HallId::new(root.str("hall")?);
    let day_raw = root.str("day")?;
    let day: Day = day_raw.parse().map_err(|_| root.bad("day", day_raw))?;
    let origin = Timestamp(root.int("t0")?);
    let list = root.list("events")?;
    let mut events = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let hydrate::Value::Scalar(ScalarValue::Str(s)) = &item.value else {
            return Err(DocError::WrongType {
                what: format!("event #{i}"),
                field: "(item)",
                expected: "a string",
            });
        };
        events.push(decode(s, origin, &format!("event #{i}"))?);
    }
    Ok(DayDoc { hall, day, events })
}

/// A day document's header and its events from some index on ([`read_from`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayTail {
    pub hall: HallId,
    pub day: Day,
    /// The document's `t0`: local midnight, the origin of event times.
    pub origin: Timestamp,
    /// The index of the first event in `events`.
    pub start: usize,
    /// The events from `start` to the end; the list's length is `start + events.len()`.
    pub events: Vec<DayEvent>,
}

/// Reads the events from index `start` on (none when `start` is at or past the end), without
/// reading the ones before: the list is append-only, so the count of events already read is a
/// cursor a reader can go on from.
pub fn read_from(doc: &impl ReadDoc, name: &str, start: usize) -> Result<DayTail, DocError> {
    let scalar = |field: &'static str| -> Result<ScalarValue, DocError> {
        match doc.get(ROOT, field)? {
            Some((automerge::Value::Scalar(s), _)) => Ok(s.into_owned()),
            Some(_) => Err(DocError::WrongType { what: name.to_string(), field, expected: "a scalar" }),
            None => Err(DocError::Missing { what: name.to_string(), field }),
        }
    };
    let text = |field: &'static str| -> Result<String, DocError> {
        match scalar(field)? {
            ScalarValue::Str(s) => Ok(s.to_string()),
            _ => Err(DocError::WrongType { what: name.to_string(), field, expected: "a string" }),
        }
    };
    let int = |field: &'static str| -> Result<i64, DocError> {
        match scalar(field)? {
            ScalarValue::Int(n) | ScalarValue::Timestamp(n) => Ok(n),
            ScalarValue::Uint(n) => Ok(n as i64),
            _ => Err(DocError::WrongType { what: name.to_string(), field, expected: "an integer" }),
        }
    };
    let found = text("type")?;
    if found != "day" {
        return Err(DocError::WrongKind { doc: name.to_string(), found, expected: "day" });
    }
    let schema = int("schema")?;
    if schema > codec::SCHEMA {
        return Err(DocError::NewerSchema { doc: name.to_string(), found: schema, supported: codec::SCHEMA });
    }
    let hall = HallId::new(text("hall")?);
    let day_raw = text("day")?;
    let day: Day = day_raw.parse().map_err(|_| DocError::BadValue {
        what: name.to_string(),
        field: "day",
        value: day_raw.clone(),
    })?;
    let origin = Timestamp(int("t0")?);
    let list = match doc.get(ROOT, "events")? {
        Some((automerge::Value::Object(ObjType::List), id)) => id,
        _ => return Err(DocError::WrongType { what: name.to_string(), field: "events", expected: "a list" }),
    };
    let mut events = Vec::new();
    for item in doc.list_range(&list, start..) {
        let automerge::ValueRef::Scalar(automerge::ScalarValueRef::Str(s)) = &item.value else {
            return Err(DocError::WrongType {
                what: format!("event #{}", item.index),
                field: "(item)",
                expected: "a string",
            });
        };
        events.push(decode(s, origin, &format!("event #{}", item.index))?);
    }
    Ok(DayTail { hall, day, origin, start, events })
}

#[cfg(test)]
mod tail_tests {
    use super::*;
    use automerge::Automerge;

    #[test]
    fn reading_from_a_cursor_returns_only_the_events_after_it() {
        let day = Day::new(2026, 11, 26).unwrap();
        let hall = HallId::new("main");
        let origin = day.start(480);
        let ev = |i: u32| DayEvent::Called {
            at: origin.plus_minutes(i64::from(i) + 480),
            ticket: TicketNo::new('A', i + 1),
            window: 3,
        };
        let mut doc = Automerge::new();
        for batch in [0..3u32, 3..5] {
            let mut tx = doc.transaction();
            let events: Vec<DayEvent> = batch.map(ev).collect();
            append(&mut tx, &hall, day, 480, &events).unwrap();
            tx.commit();
        }
        let whole = read(&doc, "d").unwrap();
        let all = read_from(&doc, "d", 0).unwrap();
        assert_eq!((all.hall, all.day, all.origin), (hall.clone(), day, origin));
        assert_eq!(all.events, whole.events);
        let tail = read_from(&doc, "d", 3).unwrap();
        assert_eq!(tail.start, 3);
        assert_eq!(tail.events, whole.events[3..]);
        assert!(read_from(&doc, "d", 5).unwrap().events.is_empty());
        assert!(read_from(&doc, "d", 9).unwrap().events.is_empty());
        let mut other = Automerge::new();
        let mut tx = other.transaction();
        tx.put(ROOT, "type", "cases").unwrap();
        tx.commit();
        assert!(matches!(read_from(&other, "x", 0), Err(DocError::WrongKind { .. })));
    }
}
