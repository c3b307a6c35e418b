//! The `hall/H/bookings/D` document: reservations for one hall and day.
//!
//! The cloud creates bookings and records cancellations; the hall records check-ins. Each
//! booking's history is an append-only list; [`onestop_model::Booking::status`] derives the
//! state (a check-in wins over a concurrent cancellation).

use crate::codec::{self, DocError, child, opt_s, s, ts};
use automerge::transaction::Transactable;
use automerge::{AutomergeError, ObjType, ROOT, ReadDoc};
use onestop_model::{
    Booking, BookingId, BookingStatus, BookingStep, Day, HallId, PersonKind, ServiceId, Timestamp, Visitor,
    VisitorId,
};

fn step_fields(step: &BookingStep) -> Vec<(&'static str, Option<automerge::ScalarValue>)> {
    vec![("at", ts(step.at)), ("st", s(step.status.as_str())), ("by", s(&step.by))]
}

/// Adds a booking (idempotent on its id).
pub fn put(tx: &mut impl Transactable, b: &Booking) -> Result<(), AutomergeError> {
    codec::init_root(tx, "bookings")?;
    if tx.get(ROOT, "hall")?.is_none() {
        tx.put(ROOT, "hall", b.hall.as_str())?;
        tx.put(ROOT, "day", b.day.to_string())?;
    }
    let all = child(tx, &ROOT, "bookings", ObjType::Map)?;
    if tx.get(&all, b.id.as_str())?.is_some() {
        return Ok(());
    }
    let obj = tx.put_object(&all, b.id.as_str(), ObjType::Map)?;
    let v = b.visitor.as_ref();
    let fields = [
        ("s", s(&b.service)),
        ("bs", ts(b.slot_start)),
        ("be", ts(b.slot_end)),
        ("code", s(&b.code)),
        ("v", opt_s(v.map(|v| &v.id))),
        ("vk", opt_s(v.map(|v| v.kind.as_str()))),
        ("vc", opt_s(v.map(|v| &v.college))),
    ];
    for (k, val) in fields {
        if let Some(val) = val {
            tx.put(&obj, k, val)?;
        }
    }
    let history = tx.put_object(&obj, "history", ObjType::List)?;
    for step in &b.history {
        codec::append_map(tx, &history, &step_fields(step))?;
    }
    Ok(())
}

/// Appends a step (check-in, cancellation, missed) to a booking. `false` if there is no such booking.
pub fn add_step(
    tx: &mut impl Transactable,
    id: &BookingId,
    step: &BookingStep,
) -> Result<bool, AutomergeError> {
    let Some((_, all)) = tx.get(ROOT, "bookings")? else { return Ok(false) };
    let Some((_, b)) = tx.get(&all, id.as_str())? else { return Ok(false) };
    let Some((_, history)) = tx.get(&b, "history")? else { return Ok(false) };
    codec::append_map(tx, &history, &step_fields(step))?;
    Ok(true)
}

/// Reads every booking of the document, sorted by slot then id.
pub fn read(doc: &impl ReadDoc, name: &str) -> Result<Vec<Booking>, DocError> {
    let value = doc.hydrate(automerge::ROOT, None)?;
    let root = codec::root(&value, name, "bookings")?;
    let hall = HallId::new(root.str("hall")?);
    let day_raw = root.str("day")?;
    let day: Day = day_raw.parse().map_err(|_| root.bad("day", day_raw))?;
    let mut out = Vec::new();
    if let Some(m) = root.opt_map("bookings")? {
        for e in codec::entries(m, "booking") {
            let (id, f) = e?;
            let visitor = match f.opt_str("v")? {
                None => None,
                Some(v) => Some(Visitor {
                    id: VisitorId::new(v),
                    kind: f.opt_parsed("vk", PersonKind::parse)?.unwrap_or(PersonKind::Other),
                    college: f.opt_str("vc")?.unwrap_or_default().to_string(),
                }),
            };
            let mut history = Vec::new();
            for item in codec::items(f.list("history")?, "booking step") {
                let h = item?;
                history.push(BookingStep {
                    at: Timestamp(h.int("at")?),
                    status: h.parsed("st", BookingStatus::parse)?,
                    by: h.str("by")?.to_string(),
                });
            }
            out.push(Booking {
                id: BookingId::new(id),
                hall: hall.clone(),
                day,
                service: ServiceId::new(f.str("s")?),
                slot_start: Timestamp(f.int("bs")?),
                slot_end: Timestamp(f.int("be")?),
                visitor,
                code: f.str("code")?.to_string(),
                history,
            });
        }
    }
    out.sort_by(|a, b| (a.slot_start, &a.id).cmp(&(b.slot_start, &b.id)));
    Ok(out)
}
