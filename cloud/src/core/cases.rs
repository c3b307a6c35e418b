//! Cases: the steps a pending case goes through in review (each only forward, checked against
//! the case as the store holds it inside the same write), the review queue's listing, and a
//! visitor's lookup by number and verification code.

use super::{Core, Error};
use onestop_model::{Case, CaseKind, CaseNo, CaseStatus, CaseStep, HallId, Timestamp};
use onestop_protocol::docid::Month;
use onestop_protocol::{DocId, cases};
use onestop_store::{ReadDocs, StoreError};

/// How many months of cases the queue looks through (this month and the two before).
pub const MONTHS: i32 = 3;

/// The steps a case may take from `status`. Rejected and collected cases are closed.
pub fn next_steps(status: CaseStatus) -> &'static [CaseStatus] {
    use CaseStatus::*;
    match status {
        Registered => &[UnderReview, Approved, Rejected],
        UnderReview => &[Approved, Rejected],
        Approved => &[Processing, Completed],
        Processing => &[Completed],
        Completed => &[Collected],
        Rejected | Collected => &[],
    }
}

/// Why a step was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepRefused {
    #[error("该办件已{from_zh}，不能再标记为{to_zh} / the case is {from_en}: it cannot be marked {to_en}")]
    NotNow { from_zh: &'static str, from_en: &'static str, to_zh: &'static str, to_en: &'static str },
    #[error("驳回须填写原因 / a rejection needs a reason")]
    NoReason,
    #[error("原因最多 500 字 / a reason is at most 500 characters")]
    LongReason,
    #[error("这不是承诺件，无需审核 / this case was finished at the window: it has no review")]
    Immediate,
}

/// May a case of `kind` whose status is `from` take the step `to` with `reason`?
pub fn check_step(kind: CaseKind, from: CaseStatus, to: CaseStatus, reason: &str) -> Result<(), StepRefused> {
    if kind == CaseKind::Immediate {
        return Err(StepRefused::Immediate);
    }
    if !next_steps(from).contains(&to) {
        return Err(StepRefused::NotNow {
            from_zh: from.zh(),
            from_en: from.en(),
            to_zh: to.zh(),
            to_en: to.en(),
        });
    }
    if to == CaseStatus::Rejected && reason.trim().is_empty() {
        return Err(StepRefused::NoReason);
    }
    if reason.chars().count() > 500 {
        return Err(StepRefused::LongReason);
    }
    Ok(())
}

/// The month `n` months before `m`.
fn months_before(m: Month, n: i32) -> Month {
    let i = m.year * 12 + i32::from(m.month) - 1 - n;
    Month { year: i.div_euclid(12), month: (i.rem_euclid(12) + 1) as u8 }
}

/// The pending cases of the last [`MONTHS`] months (by the campus's `offset`) in the halls
/// `may` allows: what the review queue lists.
pub fn recent_cases(core: &Core, offset: i32, may: impl Fn(&HallId) -> bool) -> Result<Vec<Case>, Error> {
    let oldest = months_before(Month::of(core.now().day(offset)), MONTHS - 1);
    let mut store = core.store();
    let ids: Vec<DocId> = store
        .list_docs()?
        .into_iter()
        .filter(|id| matches!(id, DocId::Cases { hall, month } if *month >= oldest && may(hall)))
        .collect();
    let mut out = Vec::new();
    for id in ids {
        let DocId::Cases { hall, month } = &id else { continue };
        match store.cases(hall, *month) {
            Ok(list) => out.extend(list.into_iter().filter(|c| c.kind == CaseKind::Pending)),
            Err(error @ StoreError::Doc { .. }) => {
                tracing::warn!(message = "A cases document cannot be read.", doc = %id, %error)
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// One case, by its number (which names its hall and month). A document that does not exist
/// is not kept in memory: guessed halls and months would otherwise each leave an empty one.
pub fn one_case(core: &Core, number: &CaseNo) -> Result<Option<Case>, Error> {
    Ok(core.store().case(number)?)
}

/// When a case was registered (its first step).
pub fn registered_at(c: &Case) -> Timestamp {
    c.history.iter().map(|s| s.at).min().unwrap_or_default()
}

/// Records the step `to` (with `reason`) on case `number`, by `by`, at the core's time:
/// checked against the case as the store holds it inside the same write, so a step someone
/// else recorded meanwhile turns a late click into a refusal.
pub fn record_step(
    core: &Core,
    number: &CaseNo,
    to: CaseStatus,
    reason: &str,
    by: &str,
) -> Result<(), StepError> {
    let Some((day, hall, _)) = number.parts() else { return Err(StepError::NotFound) };
    let id = DocId::Cases { hall, month: Month::of(day) };
    let reason = reason.trim();
    let at = core.now();
    core.write_doc(std::slice::from_ref(&id), |b| {
        let Some(case) = b.case(number)? else { return Err(StepError::NotFound) };
        check_step(case.kind, case.status(), to, reason).map_err(StepError::Refused)?;
        let step = CaseStep {
            at,
            status: to,
            by: by.to_string(),
            reason: Some(reason.to_string()).filter(|r| !r.is_empty()),
        };
        b.edit(&id, |tx| cases::add_step(tx, number, &step).map_err(StoreError::rejected))?;
        Ok(())
    })
}

/// Why a step was not recorded: refused by the rules, no such case, or a failure.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Refused(StepRefused),
    #[error("没有这个办件 / there is no such case")]
    NotFound,
    #[error(transparent)]
    Failed(Error),
}

impl From<StoreError> for StepError {
    fn from(e: StoreError) -> StepError {
        StepError::Failed(e.into())
    }
}

impl From<StepError> for Error {
    fn from(e: StepError) -> Error {
        match e {
            StepError::Refused(r) => Error::Conflict(r.to_string()),
            StepError::NotFound => Error::NotFound,
            StepError::Failed(e) => e,
        }
    }
}

/// A case number as typed: spaces dropped, the hall in lowercase and the ticket in capitals
/// (`20261126-MAIN-b003` is `20261126-main-B003`); at most 64 characters are kept.
pub fn normalize_number(raw: &str) -> String {
    let s: String = raw.chars().filter(|c| !c.is_whitespace()).take(64).collect();
    match s.rsplit_once('-') {
        Some((head, ticket)) => format!("{}-{}", head.to_lowercase(), ticket.to_uppercase()),
        None => s,
    }
}

/// A verification code as typed: spaces and dashes dropped, in capitals.
pub fn normalize_code(raw: &str) -> String {
    raw.chars().filter(|c| !c.is_whitespace() && *c != '-').take(32).collect::<String>().to_uppercase()
}

/// A code that matches nothing, compared when there is no case (the same work either way).
const NO_CODE: &str = "\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}";

/// The case with this number and code, if both are right. The month's document is read
/// whether or not the case exists, and the code compared in constant time either way; a
/// store that fails is an error, never "not found" (nor a wrong code counted against the
/// visitor).
pub fn lookup(core: &Core, number: &str, code: &str) -> Result<Option<Case>, Error> {
    let number = CaseNo::new(number);
    let found = match number.parts() {
        Some(_) => one_case(core, &number)?,
        None => None,
    };
    let right = super::accounts::same_secret(found.as_ref().map_or(NO_CODE, |c| c.code.as_str()), code);
    Ok(found.filter(|_| right))
}

#[cfg(test)]
mod tests {
    use super::*;
    use CaseStatus::*;

    #[test]
    fn steps_only_move_a_case_forward() {
        for from in CaseStatus::ALL {
            for &to in next_steps(from) {
                assert!(to.stage() > from.stage(), "{from:?} → {to:?} would not change the derived status");
            }
        }
        let p = CaseKind::Pending;
        assert_eq!(check_step(p, Registered, UnderReview, ""), Ok(()));
        assert_eq!(check_step(p, UnderReview, Approved, ""), Ok(()));
        assert_eq!(check_step(p, Approved, Processing, ""), Ok(()));
        assert_eq!(check_step(p, Processing, Completed, ""), Ok(()));
        assert_eq!(check_step(p, Completed, Collected, ""), Ok(()));
        assert_eq!(check_step(p, UnderReview, Rejected, "材料不全"), Ok(()));
        assert_eq!(check_step(p, UnderReview, Rejected, "  "), Err(StepRefused::NoReason));
        assert_eq!(check_step(p, UnderReview, Rejected, &"长".repeat(501)), Err(StepRefused::LongReason));
        assert!(matches!(check_step(p, Registered, Completed, ""), Err(StepRefused::NotNow { .. })));
        assert!(matches!(check_step(p, Approved, Approved, ""), Err(StepRefused::NotNow { .. })));
        assert!(matches!(check_step(p, Rejected, Processing, ""), Err(StepRefused::NotNow { .. })));
        assert!(matches!(check_step(p, Collected, Completed, ""), Err(StepRefused::NotNow { .. })));
        assert!(matches!(check_step(p, Processing, Rejected, "late"), Err(StepRefused::NotNow { .. })));
        assert_eq!(check_step(CaseKind::Immediate, Completed, Collected, ""), Err(StepRefused::Immediate));
        let msg = check_step(p, Rejected, Approved, "").unwrap_err().to_string();
        assert!(msg.contains("未通过") && msg.contains("approved"), "{msg}");
    }

    #[test]
    fn months_back_cross_the_year() {
        let m = |year, month| Month { year, month };
        assert_eq!(months_before(m(2026, 3), 2), m(2026, 1));
        assert_eq!(months_before(m(2026, 1), 2), m(2025, 11));
        assert_eq!(months_before(m(2026, 12), 0), m(2026, 12));
    }
}
