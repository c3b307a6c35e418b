//! The `hall/H/cases/YYYY-MM` document: cases registered in a month and their histories.
//!
//! ```text
//! { type: "cases", schema: 1, hall: "main", month: "2026-11",
//!   cases: { "20261126-main-B003": { c: "p visa B003 2 s001 k3v9… K7QM2P",
//!                                    h: ["1795660000000 registered s001", …] } } }
//! ```
//!
//! The edge registers a case when a ticket is finished; the back office and the window append
//! steps. Each case's fields are one compact string and each history step one string (a busy
//! month holds over 100,000 cases: as maps of fields it loaded several times slower). The
//! history is an append-only list, so concurrent steps from both sides survive and the
//! current status is derived ([`onestop_model::Case::status`]).

use crate::codec::{self, DocError, child, text, untext};
use automerge::transaction::Transactable;
use automerge::{AutomergeError, ObjType, ROOT, ReadDoc, ScalarValue, hydrate};
use onestop_model::{
    Case, CaseKind, CaseNo, CaseStatus, CaseStep, HallId, ServiceId, StaffId, TicketNo, Timestamp, VisitorId,
};

fn step_string(step: &CaseStep) -> String {
    let mut s = format!("{} {}", step.at.0, step.status.as_str());
    text(&mut s, &step.by);
    if let Some(r) = &step.reason {
        text(&mut s, r);
    }
    s
}

fn case_string(case: &Case) -> String {
    let mut s = String::from(match case.kind {
        CaseKind::Immediate => "i",
        CaseKind::Pending => "p",
    });
    text(&mut s, case.service.as_str());
    s.push(' ');
    s.push_str(&case.ticket.to_string());
    s.push(' ');
    s.push_str(&case.window.to_string());
    text(&mut s, case.staff.as_ref().map_or("", |x| x.as_str()));
    text(&mut s, case.visitor.as_ref().map_or("", |x| x.as_str()));
    text(&mut s, &case.code);
    s
}

/// Registers a new case (its first history steps included). A case number already present is
/// left as it is: registering is idempotent.
pub fn register(
    tx: &mut impl Transactable,
    hall: &HallId,
    month: &str,
    case: &Case,
) -> Result<(), AutomergeError> {
    codec::init_root(tx, "cases")?;
    if tx.get(ROOT, "hall")?.is_none() {
        tx.put(ROOT, "hall", hall.as_str())?;
        tx.put(ROOT, "month", month)?;
    }
    let cases = child(tx, &ROOT, "cases", ObjType::Map)?;
    if tx.get(&cases, case.number.as_str())?.is_some() {
        return Ok(());
    }
    let obj = tx.put_object(&cases, case.number.as_str(), ObjType::Map)?;
    tx.put(&obj, "c", case_string(case))?;
    let history = tx.put_object(&obj, "h", ObjType::List)?;
    for (i, step) in case.history.iter().enumerate() {
        tx.insert(&history, i, step_string(step))?;
    }
    Ok(())
}

/// A step that cannot be added.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("没有案件 {0} / there is no case {0} in this month's document")]
    UnknownCase(CaseNo),
    #[error("驳回须说明原因 / a rejection needs a reason")]
    RejectWithoutReason,
    #[error(transparent)]
    Automerge(#[from] AutomergeError),
}

/// Appends a step to a case's history.
pub fn add_step(tx: &mut impl Transactable, number: &CaseNo, step: &CaseStep) -> Result<(), StepError> {
    if step.status == CaseStatus::Rejected && step.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(StepError::RejectWithoutReason);
    }
    let unknown = || StepError::UnknownCase(number.clone());
    let Some((_, cases)) = tx.get(ROOT, "cases")? else { return Err(unknown()) };
    let Some((_, case)) = tx.get(&cases, number.as_str())? else { return Err(unknown()) };
    let Some((_, history)) = tx.get(&case, "h")? else { return Err(unknown()) };
    let at = tx.length(&history);
    tx.insert(&history, at, step_string(step))?;
    Ok(())
}

fn bad(number: &str, value: &str, why: &str) -> DocError {
    DocError::BadValue { what: format!("case {number}"), field: "c", value: format!("{value} ({why})") }
}

fn read_step(number: &str, raw: &str) -> Result<CaseStep, DocError> {
    let mut parts = raw.split_ascii_whitespace();
    let at = parts.next().and_then(|t| t.parse::<i64>().ok()).ok_or_else(|| bad(number, raw, "no time"))?;
    let status =
        parts.next().and_then(CaseStatus::parse).ok_or_else(|| bad(number, raw, "unknown status"))?;
    let by = untext(parts.next().ok_or_else(|| bad(number, raw, "no author"))?);
    let reason = parts.next().map(untext);
    Ok(CaseStep { at: Timestamp(at), status, by, reason })
}

fn read_case(number: &str, hall: &HallId, f: &codec::Fields<'_>) -> Result<Case, DocError> {
    let raw = f.str("c")?;
    let p: Vec<&str> = raw.split_ascii_whitespace().collect();
    let [kind, service, ticket, window, staff, visitor, code, ..] = p[..] else {
        return Err(bad(number, raw, "missing fields"));
    };
    let kind = match kind {
        "i" => CaseKind::Immediate,
        "p" => CaseKind::Pending,
        _ => return Err(bad(number, raw, "unknown kind")),
    };
    let opt = |s: &str| Some(untext(s)).filter(|s| !s.is_empty());
    let mut history = Vec::new();
    for item in f.list("h")?.iter() {
        let hydrate::Value::Scalar(ScalarValue::Str(s)) = &item.value else {
            return Err(bad(number, "(history)", "a step is not a string"));
        };
        history.push(read_step(number, s)?);
    }
    Ok(Case {
        number: CaseNo::new(number),
        code: untext(code),
        kind,
        hall: hall.clone(),
        service: ServiceId::new(untext(service)),
        ticket: ticket.parse::<TicketNo>().map_err(|_| bad(number, raw, "bad ticket"))?,
        window: window.parse().map_err(|_| bad(number, raw, "bad window"))?,
        staff: opt(staff).map(StaffId::new),
        visitor: opt(visitor).map(VisitorId::new),
        history,
    })
}

/// Reads every case of the document, sorted by number.
pub fn read(doc: &impl ReadDoc, name: &str) -> Result<Vec<Case>, DocError> {
    let value = doc.hydrate(automerge::ROOT, None)?;
    let root = codec::root(&value, name, "cases")?;
    let hall = HallId::new(root.str("hall")?);
    let mut out = Vec::new();
    if let Some(m) = root.opt_map("cases")? {
        for e in codec::entries(m, "case") {
            let (number, f) = e?;
            out.push(read_case(number, &hall, &f)?);
        }
    }
    out.sort_by(|a, b| a.number.cmp(&b.number));
    Ok(out)
}

/// Reads one case, without reading the others (`None` when the document has no such case).
pub fn find(doc: &impl ReadDoc, name: &str, number: &CaseNo) -> Result<Option<Case>, DocError> {
    let scalar = |key: &'static str| -> Result<Option<ScalarValue>, DocError> {
        Ok(match doc.get(ROOT, key)? {
            Some((automerge::Value::Scalar(v), _)) => Some(v.into_owned()),
            _ => None,
        })
    };
    // The root's header, checked as `read` checks it (without hydrating every case).
    let missing = |field| DocError::Missing { what: name.to_string(), field };
    match scalar("type")? {
        Some(ScalarValue::Str(t)) if t.as_str() == "cases" => {}
        Some(ScalarValue::Str(t)) => {
            return Err(DocError::WrongKind { doc: name.into(), found: t.to_string(), expected: "cases" });
        }
        _ => return Err(missing("type")),
    }
    match scalar("schema")? {
        Some(ScalarValue::Int(v)) if v > codec::SCHEMA => {
            return Err(DocError::NewerSchema { doc: name.into(), found: v, supported: codec::SCHEMA });
        }
        Some(ScalarValue::Int(_) | ScalarValue::Uint(_)) => {}
        _ => return Err(missing("schema")),
    }
    let hall = match scalar("hall")? {
        Some(ScalarValue::Str(h)) => HallId::new(h.as_str()),
        _ => return Err(missing("hall")),
    };
    let Some((_, cases)) = doc.get(ROOT, "cases")? else { return Ok(None) };
    let Some((automerge::Value::Object(ObjType::Map), obj)) = doc.get(&cases, number.as_str())? else {
        return Ok(None);
    };
    let hydrate::Value::Map(m) = doc.hydrate(&obj, None)? else { return Ok(None) };
    let what = format!("case {number}");
    read_case(number.as_str(), &hall, &codec::Fields::new(&m, what)).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::Automerge;

    #[test]
    fn a_case_without_staff_or_visitor_and_awkward_text_round_trips() {
        let case = Case {
            number: CaseNo::new("20261126-main-A001"),
            code: "AB12CD".into(),
            kind: CaseKind::Immediate,
            hall: HallId::new("main"),
            service: ServiceId::new("cert"),
            ticket: TicketNo::new('A', 1),
            window: 12,
            staff: None,
            visitor: None,
            history: vec![
                CaseStep {
                    at: Timestamp(1),
                    status: CaseStatus::Registered,
                    by: "system".into(),
                    reason: None,
                },
                CaseStep {
                    at: Timestamp(2),
                    status: CaseStatus::Rejected,
                    by: "王 老师".into(),
                    reason: Some("100% 材料不全 %20 / missing".into()),
                },
            ],
        };
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        register(&mut tx, &HallId::new("main"), "2026-11", &case).unwrap();
        tx.commit();
        assert_eq!(read(&doc, "cases").unwrap(), vec![case.clone()]);
        assert_eq!(find(&doc, "cases", &case.number).unwrap(), Some(case));
        assert_eq!(find(&doc, "cases", &CaseNo::new("20261126-main-A002")).unwrap(), None);
        assert_eq!(find(&Automerge::new(), "cases", &CaseNo::new("x")).ok().flatten(), None);
    }
}
