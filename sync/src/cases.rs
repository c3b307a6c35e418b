//! The `hall/H/cases/YYYY-MM` document: cases registered in a month and their histories.
//!
//! The edge registers a case when a ticket is finished; the back office and the window append
//! steps. Histories are append-only lists, so concurrent steps from both sides survive and the
//! current status is derived ([`onestop_model::Case::status`]).

use crate::codec::{self, DocError, Fields, child, i, opt_s, s, ts};
use automerge::transaction::Transactable;
use automerge::{AutomergeError, ObjType, ROOT, ReadDoc, ScalarValue};
use onestop_model::{
    Case, CaseKind, CaseNo, CaseStatus, CaseStep, HallId, ServiceId, StaffId, TicketNo, Timestamp, VisitorId,
};

fn step_fields(step: &CaseStep) -> Vec<(&'static str, Option<ScalarValue>)> {
    vec![
        ("at", ts(step.at)),
        ("st", s(step.status.as_str())),
        ("by", s(&step.by)),
        ("r", opt_s(step.reason.as_ref())),
    ]
}

/// Registers a new case (its first history step included). A case number already present is
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
    let fields = [
        ("code", s(&case.code)),
        ("kind", s(case.kind.as_str())),
        ("s", s(&case.service)),
        ("t", s(case.ticket.to_string())),
        ("w", i(case.window)),
        ("staff", opt_s(case.staff.as_ref())),
        ("v", opt_s(case.visitor.as_ref())),
    ];
    for (k, v) in fields {
        if let Some(v) = v {
            tx.put(&obj, k, v)?;
        }
    }
    let history = tx.put_object(&obj, "history", ObjType::List)?;
    for step in &case.history {
        codec::append_map(tx, &history, &step_fields(step))?;
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
    let Some((_, history)) = tx.get(&case, "history")? else { return Err(unknown()) };
    codec::append_map(tx, &history, &step_fields(step))?;
    Ok(())
}

fn read_case(number: &str, hall: &HallId, f: &Fields<'_>) -> Result<Case, DocError> {
    let ticket_raw = f.str("t")?;
    let mut history = Vec::new();
    for item in codec::items(f.list("history")?, "case step") {
        let h = item?;
        history.push(CaseStep {
            at: Timestamp(h.int("at")?),
            status: h.parsed("st", CaseStatus::parse)?,
            by: h.str("by")?.to_string(),
            reason: h.opt_str("r")?.map(str::to_string),
        });
    }
    Ok(Case {
        number: CaseNo::new(number),
        code: f.str("code")?.to_string(),
        kind: f.parsed("kind", CaseKind::parse)?,
        hall: hall.clone(),
        service: ServiceId::new(f.str("s")?),
        ticket: ticket_raw.parse::<TicketNo>().map_err(|_| f.bad("t", ticket_raw))?,
        window: f.num("w")?,
        staff: f.opt_str("staff")?.map(StaffId::new),
        visitor: f.opt_str("v")?.map(VisitorId::new),
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
