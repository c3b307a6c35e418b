//! `/office/cases`: the review queue of pending cases (承诺件) and each case's page, where a
//! reviewer moves the case on: under review, approved or rejected (with a reason), processing,
//! completed, collected.
//!
//! Each step is appended to the case's history in its hall's `hall/H/cases/YYYY-MM` document
//! ([`cases::add_step`]) through [`super::Backend::write_doc`], so the hall receives it at once
//! over sync and the visitor sees it on `/progress`. The step is checked against the case's
//! status inside the same write ([`check_step`]): a case another reviewer (or the window)
//! moved on meanwhile is refused with a message, never given a step out of order.

use super::Backend;
use super::auth::{Area, OfficeForm, Officer};
use super::shell::{flash, office_page};
use crate::web::progress::{hall_offset, local_time, timeline};
use crate::web::{Lang, WebState, now, problem};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use onestop_model::{Case, CaseKind, CaseNo, CaseStatus, CaseStep, Catalog, HallId, Timestamp};
use onestop_sync::docid::Month;
use onestop_sync::{DocId, StoreError, cases};

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
    #[error("没有这个办件 / there is no such case")]
    Unknown,
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

/// The pending cases of the last [`MONTHS`] months in the halls `may` allows.
fn recent_cases(
    backend: &Backend,
    now: Timestamp,
    may: impl Fn(&HallId) -> bool,
) -> Result<Vec<Case>, String> {
    // A day or so either way does not matter here: the queue spans whole months.
    let oldest = months_before(Month::of(now.day(480)), MONTHS - 1);
    let mut store = backend.store();
    let ids: Vec<DocId> = store
        .list_docs()
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|id| matches!(id, DocId::Cases { hall, month } if *month >= oldest && may(hall)))
        .collect();
    let mut out = Vec::new();
    for id in ids {
        let Some(doc) = store.doc(&id).map_err(|e| e.to_string())? else { continue };
        match cases::read(doc, &id.to_string()) {
            Ok(list) => out.extend(list.into_iter().filter(|c| c.kind == CaseKind::Pending)),
            Err(error) => tracing::warn!(message = "A cases document cannot be read.", doc = %id, %error),
        }
    }
    Ok(out)
}

/// One case, by its number (which names its hall and month).
fn one_case(backend: &Backend, number: &CaseNo) -> Result<Option<Case>, String> {
    let Some((day, hall, _)) = number.parts() else { return Ok(None) };
    let id = DocId::Cases { hall, month: Month::of(day) };
    let mut store = backend.store();
    let loaded = store.is_loaded(&id);
    match store.doc(&id).map_err(|e| e.to_string())? {
        Some(doc) => cases::find(doc, &id.to_string(), number).map_err(|e| e.to_string()),
        None => {
            if !loaded {
                store.evict(&id);
            }
            Ok(None)
        }
    }
}

fn registered_at(c: &Case) -> Timestamp {
    c.history.iter().map(|s| s.at).min().unwrap_or_default()
}

#[derive(serde::Deserialize, Default)]
pub struct QueueQuery {
    #[serde(default)]
    hall: String,
    /// "open" (default: not rejected or collected), "all", or one status.
    #[serde(default)]
    status: String,
    /// The page of the list, from 1.
    #[serde(default)]
    page: Option<usize>,
}

/// Cases a page of the queue shows.
const PER_PAGE: usize = 50;

fn open(status: CaseStatus) -> bool {
    !matches!(status, CaseStatus::Rejected | CaseStatus::Collected)
}

fn hall_name(lang: Lang, catalog: &Catalog, hall: &HallId) -> Markup {
    match catalog.halls.get(hall) {
        Some(h) => lang.text(&h.name),
        None => html! { (hall) },
    }
}

fn service_name(lang: Lang, catalog: &Catalog, case: &Case) -> Markup {
    match catalog.services.get(&case.service) {
        Some(s) => lang.text(&s.name),
        None => html! { (case.service) },
    }
}

fn failed(lang: Lang, e: &str) -> Response {
    tracing::error!(message = "The cases cannot be read.", error = %e);
    problem(
        lang,
        StatusCode::INTERNAL_SERVER_ERROR,
        "办件数据暂时无法读取。",
        "The cases cannot be read now.",
    )
}

/// `GET /office/cases`: the queue, oldest first, by hall and status.
pub async fn queue(State(web): State<WebState>, o: Officer, Query(q): Query<QueueQuery>) -> Response {
    if let Err(r) = o.require(Area::Cases) {
        return r;
    }
    let lang = o.lang;
    let t = now();
    let hall_filter = Some(HallId::new(q.hall.trim())).filter(|h| !h.as_str().is_empty());
    let status_filter = q.status.trim().to_string();
    let backend = web.backend.clone();
    let officer = o.clone();
    let hall_f = hall_filter.clone();
    let read = tokio::task::spawn_blocking(move || {
        recent_cases(&backend, t, |h| officer.may_hall(h) && hall_f.as_ref().is_none_or(|f| f == h))
    })
    .await;
    let mut list = match read {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return failed(lang, &e),
        Err(e) => return failed(lang, &e.to_string()),
    };
    list.retain(|c| match status_filter.as_str() {
        "" | "open" => open(c.status()),
        "all" => true,
        s => CaseStatus::parse(s) == Some(c.status()),
    });
    list.sort_by(|a, b| registered_at(a).cmp(&registered_at(b)).then_with(|| a.number.cmp(&b.number)));
    let total = list.len();
    let pages = total.div_ceil(PER_PAGE).max(1);
    let page = q.page.unwrap_or(1).clamp(1, pages);
    let list: Vec<Case> = list.into_iter().skip((page - 1) * PER_PAGE).take(PER_PAGE).collect();
    let page_link = |p: usize| {
        format!(
            "/office/cases?hall={}&status={}&page={p}",
            crate::office::auth::urlencode(q.hall.trim()),
            crate::office::auth::urlencode(&status_filter)
        )
    };
    let catalog = web.cache.get().catalog.clone();
    let halls: Vec<_> = catalog.halls.values().filter(|h| o.may_hall(&h.id)).collect();
    let selected = |v: &str| {
        if status_filter == v || (v == "open" && status_filter.is_empty()) { Some("selected") } else { None }
    };
    office_page(
        &o,
        "待审事项",
        "Case review",
        html! {
            form.filters method="get" action="/office/cases" {
                label { (lang.t("大厅", "Hall"))
                    select name="hall" {
                        option value="" { (lang.one("全部大厅", "All halls")) }
                        @for h in &halls {
                            option value=(h.id) selected[hall_filter.as_ref() == Some(&h.id)] { (lang.one(&h.name.zh, &h.name.en)) }
                        }
                    }
                }
                label { (lang.t("状态", "Status"))
                    select name="status" {
                        option value="open" selected=[selected("open")] { (lang.one("未结办件", "Open cases")) }
                        @for s in CaseStatus::ALL {
                            option value=(s.as_str()) selected=[selected(s.as_str())] { (lang.one(s.zh(), s.en())) }
                        }
                        option value="all" selected=[selected("all")] { (lang.one("全部", "All")) }
                    }
                }
                button type="submit" { (lang.t("筛选", "Filter")) }
            }
            p.hint { (lang.t(
                &format!("近 {MONTHS} 个月的承诺件，最早受理的在前。"),
                &format!("Pending cases of the last {MONTHS} months, oldest first."),
            )) }
            @if list.is_empty() {
                p #no-cases { (lang.t("没有符合条件的办件。", "No cases match.")) }
            } @else {
                div.scroll { table #cases {
                    thead { tr {
                        th scope="col" { (lang.t("办件编号", "Case")) }
                        th scope="col" { (lang.t("大厅", "Hall")) }
                        th scope="col" { (lang.t("事项", "Service")) }
                        th scope="col" { (lang.t("受理时间", "Registered")) }
                        th scope="col" { (lang.t("状态", "Status")) }
                    } }
                    tbody {
                        @for c in &list {
                            @let status = c.status();
                            tr data-case=(c.number) data-status=(status.as_str()) {
                                td { a href={ "/office/cases/" (c.number) } { (c.number) } }
                                td { (hall_name(lang, &catalog, &c.hall)) }
                                td { (service_name(lang, &catalog, c)) }
                                td { (local_time(registered_at(c), hall_offset(&catalog, c))) }
                                td { (lang.t(status.zh(), status.en())) }
                            }
                        }
                    }
                } }
                @if pages > 1 {
                    nav.pages aria-label=(lang.one("分页", "Pages")) {
                        span { (lang.t(&format!("共 {total} 件，第 {page}/{pages} 页", ), &format!("{total} cases, page {page} of {pages}"))) }
                        @if page > 1 { a rel="prev" href=(page_link(page - 1)) { (lang.t("上一页", "Previous")) } }
                        @if page < pages { a rel="next" href=(page_link(page + 1)) { (lang.t("下一页", "Next")) } }
                    }
                }
            }
        },
    )
    .into_response()
}

#[derive(serde::Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

fn case_body(o: &Officer, catalog: &Catalog, case: &Case, notice: Markup, reason: &str) -> Markup {
    let lang = o.lang;
    let status = case.status();
    let offset = hall_offset(catalog, case);
    let action = format!("/office/cases/{}/step", case.number);
    html! {
        (notice)
        dl.facts {
            dt { (lang.t("办件编号", "Case number")) } dd #case-number { (case.number) }
            dt { (lang.t("大厅", "Hall")) } dd { (hall_name(lang, catalog, &case.hall)) " · " (lang.t(&format!("{} 号窗口", case.window), &format!("window {}", case.window))) }
            dt { (lang.t("事项", "Service")) } dd { (service_name(lang, catalog, case)) }
            dt { (lang.t("号票", "Ticket")) } dd { (case.ticket) }
            dt { (lang.t("当前状态", "Status")) } dd #case-status data-status=(status.as_str()) { strong { (lang.t(status.zh(), status.en())) } }
        }
        h2 { (lang.t("办理记录", "Timeline")) }
        (timeline(lang, case, offset, true))
        h2 { (lang.t("办理", "Next step")) }
        @let steps = next_steps(status);
        @if case.kind == CaseKind::Immediate {
            p { (lang.t("即办件已在窗口办结，无需审核。", "Finished at the window: nothing to review.")) }
        } @else if steps.is_empty() {
            p #closed { (lang.t("本办件已结束。", "This case is closed.")) }
        } @else {
            div.actions {
                @for s in steps.iter().filter(|s| **s != CaseStatus::Rejected) {
                    form.inline method="post" action=(action) {
                        (o.csrf_field())
                        input type="hidden" name="status" value=(s.as_str());
                        button id={ "step-" (s.as_str()) } type="submit" { (lang.t(s.zh(), s.en())) }
                    }
                }
            }
            @if steps.contains(&CaseStatus::Rejected) {
                form.stack #reject method="post" action=(action) {
                    (o.csrf_field())
                    input type="hidden" name="status" value="rejected";
                    label for="reason" { (lang.t("驳回原因（申请人可见）", "Reason for rejection (the applicant sees it)")) }
                    textarea #reason name="reason" required maxlength="500" rows="3" { (reason) }
                    button #step-rejected.danger type="submit" { (lang.t("驳回", "Reject")) }
                }
            }
        }
        p { a href="/office/cases" { (lang.t("返回待审列表", "Back to the queue")) } }
    }
}

fn not_found(lang: Lang) -> Response {
    problem(lang, StatusCode::NOT_FOUND, "没有这个办件。", "There is no such case.")
}

/// `GET /office/cases/{number}`: the case, its timeline and the steps it may take.
pub async fn case_page(
    State(web): State<WebState>,
    o: Officer,
    Path(number): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Response {
    if let Err(r) = o.require(Area::Cases) {
        return r;
    }
    let lang = o.lang;
    let number = CaseNo::new(number);
    let Some((_, hall, _)) = number.parts() else { return not_found(lang) };
    if let Err(r) = o.require_hall(&hall) {
        return r;
    }
    let backend = web.backend.clone();
    let read = tokio::task::spawn_blocking({
        let number = number.clone();
        move || one_case(&backend, &number)
    })
    .await;
    let case = match read {
        Ok(Ok(Some(c))) => c,
        Ok(Ok(None)) => return not_found(lang),
        Ok(Err(e)) => return failed(lang, &e),
        Err(e) => return failed(lang, &e.to_string()),
    };
    let notice = match q.done.as_deref().and_then(CaseStatus::parse) {
        Some(s) => flash(lang, true, &format!("已记录：{}", s.zh()), &format!("Recorded: {}", s.en())),
        None => html! {},
    };
    let catalog = web.cache.get().catalog.clone();
    office_page(&o, "办件审核", "Case", case_body(&o, &catalog, &case, notice, "")).into_response()
}

#[derive(serde::Deserialize)]
pub struct StepForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    reason: String,
}

/// Appends `to` to the case's history at `at` by `by`, if the case's status allows it now.
pub fn record_step(
    backend: &Backend,
    number: &CaseNo,
    to: CaseStatus,
    reason: &str,
    by: &str,
    at: Timestamp,
) -> Result<(), StepRefused> {
    let Some((day, hall, _)) = number.parts() else { return Err(StepRefused::Unknown) };
    let id = DocId::Cases { hall, month: Month::of(day) };
    let reason = reason.trim();
    let mut refused = None;
    let written = backend.write_doc(at, std::slice::from_ref(&id), |b| {
        let name = id.to_string();
        let case = match b.doc(&id)? {
            Some(doc) => cases::find(doc, &name, number).map_err(StoreError::rejected)?,
            None => None,
        };
        let check = match &case {
            Some(c) => check_step(c.kind, c.status(), to, reason),
            None => Err(StepRefused::Unknown),
        };
        if let Err(e) = check {
            refused = Some(e.clone());
            return Err(StoreError::rejected(e));
        }
        let step = CaseStep {
            at,
            status: to,
            by: by.to_string(),
            reason: Some(reason.to_string()).filter(|r| !r.is_empty()),
        };
        b.edit(&id, |tx| cases::add_step(tx, number, &step).map_err(StoreError::rejected))
    });
    match (written, refused) {
        (Ok(()), _) => Ok(()),
        (Err(_), Some(r)) => Err(r),
        (Err(e), None) => {
            tracing::error!(message = "A case step could not be written.", case = %number, error = %e);
            Err(StepRefused::Unknown)
        }
    }
}

/// `POST /office/cases/{number}/step`: one step (the form's `status`, and `reason`).
pub async fn step(
    State(web): State<WebState>,
    Path(number): Path<String>,
    OfficeForm { officer: o, form }: OfficeForm<StepForm>,
) -> Response {
    if let Err(r) = o.require(Area::Cases) {
        return r;
    }
    let lang = o.lang;
    let number = CaseNo::new(number);
    let Some((_, hall, _)) = number.parts() else { return not_found(lang) };
    if let Err(r) = o.require_hall(&hall) {
        return r;
    }
    let Some(to) = CaseStatus::parse(form.status.trim()) else {
        return problem(lang, StatusCode::UNPROCESSABLE_ENTITY, "未知的办理步骤。", "Unknown step.");
    };
    let backend = web.backend.clone();
    let by = o.account.login.clone();
    let reason = form.reason.clone();
    let done = tokio::task::spawn_blocking({
        let number = number.clone();
        move || record_step(&backend, &number, to, &reason, &by, now())
    })
    .await;
    match done {
        Ok(Ok(())) => {
            tracing::info!(message = "Case step recorded.", case = %number, status = to.as_str(), by = %o.account.login);
            Redirect::to(&format!("/office/cases/{number}?done={}", to.as_str())).into_response()
        }
        Ok(Err(StepRefused::Unknown)) => not_found(lang),
        Ok(Err(refused)) => {
            // The page again, as it is now, with why the step was refused.
            let backend = web.backend.clone();
            let case = tokio::task::spawn_blocking({
                let number = number.clone();
                move || one_case(&backend, &number)
            })
            .await;
            let Ok(Ok(Some(case))) = case else { return not_found(lang) };
            let text = refused.to_string();
            let (zh, en) = text.split_once(" / ").unwrap_or((&text, ""));
            let catalog = web.cache.get().catalog.clone();
            let notice = flash(lang, false, zh, en);
            let body = case_body(&o, &catalog, &case, notice, &form.reason);
            (StatusCode::CONFLICT, office_page(&o, "办件审核", "Case", body)).into_response()
        }
        Err(e) => failed(lang, &e.to_string()),
    }
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
