//! `/office/cases`: the review queue of pending cases (承诺件) and each case's page, where a
//! reviewer moves the case on: under review, approved or rejected (with a reason), processing,
//! completed, collected.
//!
//! Each step is appended to the case's history in its hall's `hall/H/cases/YYYY-MM` document
//! ([`cases::add_step`]) through [`super::Backend::write_doc`], so the hall receives it at once
//! over sync and the visitor sees it on `/progress`. The step is checked against the case's
//! status inside the same write ([`check_step`]): a case another reviewer (or the window)
//! moved on meanwhile is refused with a message, never given a step out of order.

use crate::core::accounts::Area;
use crate::core::cases::*;
use crate::ui::auth::{OfficeForm, Officer};
use crate::ui::cases::{local_time, timeline};
use crate::ui::office::{flash, office_page};
use crate::ui::{AppState, Lang, problem};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use onestop_model::{Case, CaseKind, CaseNo, CaseStatus, Catalog, HallId};

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
pub async fn queue(State(web): State<AppState>, o: Officer, Query(q): Query<QueueQuery>) -> Response {
    if let Err(r) = o.require(Area::Cases) {
        return r;
    }
    let lang = o.lang;
    let catalog_offset = web.cache.get().catalog.campus_offset();
    let hall_filter = Some(HallId::new(q.hall.trim())).filter(|h| !h.as_str().is_empty());
    let status_filter = q.status.trim().to_string();
    let backend = web.core.clone();
    let officer = o.clone();
    let hall_f = hall_filter.clone();
    let read = tokio::task::spawn_blocking(move || {
        recent_cases(&backend, catalog_offset, |h| {
            officer.may_hall(h) && hall_f.as_ref().is_none_or(|f| f == h)
        })
    })
    .await;
    let mut list = match read {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return crate::ui::error::respond(lang, &e),
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
            crate::ui::auth::urlencode(q.hall.trim()),
            crate::ui::auth::urlencode(&status_filter)
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
                                td { (local_time(registered_at(c), catalog.offset_of(&c.hall))) }
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
    let offset = catalog.offset_of(&case.hall);
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
    State(web): State<AppState>,
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
    let backend = web.core.clone();
    let read = tokio::task::spawn_blocking({
        let number = number.clone();
        move || one_case(&backend, &number)
    })
    .await;
    let case = match read {
        Ok(Ok(Some(c))) => c,
        Ok(Ok(None)) => return not_found(lang),
        Ok(Err(e)) => return crate::ui::error::respond(lang, &e),
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

/// `POST /office/cases/{number}/step`: one step (the form's `status`, and `reason`).
pub async fn step(
    State(web): State<AppState>,
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
    let backend = web.core.clone();
    let by = o.account.login.clone();
    let reason = form.reason.clone();
    let done = tokio::task::spawn_blocking({
        let number = number.clone();
        move || record_step(&backend, &number, to, &reason, &by)
    })
    .await;
    match done {
        Ok(Ok(())) => {
            tracing::info!(message = "Case step recorded.", case = %number, status = to.as_str(), by = %o.account.login);
            Redirect::to(&format!("/office/cases/{number}?done={}", to.as_str())).into_response()
        }
        Ok(Err(StepError::NotFound)) => not_found(lang),
        Ok(Err(StepError::Failed(e))) => crate::ui::error::respond(lang, &e),
        Ok(Err(StepError::Refused(refused))) => {
            // The page again, as it is now, with why the step was refused.
            let backend = web.core.clone();
            let case = tokio::task::spawn_blocking({
                let number = number.clone();
                move || one_case(&backend, &number)
            })
            .await;
            let case = match case {
                Ok(Ok(Some(case))) => case,
                Ok(Ok(None)) => return not_found(lang),
                Ok(Err(e)) => return crate::ui::error::respond(lang, &e),
                Err(e) => {
                    return crate::ui::error::respond(lang, &crate::core::Error::Internal(e.to_string()));
                }
            };
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
