//! 好差评 follow-ups (`/office/followups`): every rating of 不满意 or worse opens a follow-up
//! with a deadline some working days later (Monday to Friday; 3 unless an administrator sets
//! another number on the page). Staff record the call-back (when, a note) and the outcome:
//! resolved, unresolved or unreachable, which closes it.
//!
//! Follow-ups are opened by the statistics projector as it reads the ratings from the halls'
//! day documents ([`open_for`], idempotent on hall, day and ticket: a rebuild opens nothing
//! twice). Hall managers see and work on their halls' follow-ups only.

use crate::core::accounts::{Area, Role};
use crate::core::followups::*;
use crate::ui::auth::{OfficeForm, Officer};
use crate::ui::office::{flash, office_page};
use crate::ui::{AppState, problem};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use onestop_model::Level;

#[derive(serde::Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    done: Option<String>,
}

/// `/office/followups`: open (overdue first marked), then closed.
pub async fn page(State(web): State<AppState>, o: Officer, Query(q): Query<ListQuery>) -> Response {
    if let Err(r) = o.require(Area::FollowUps) {
        return r;
    }
    let lang = o.lang;
    let core = web.core.clone();
    let (all, n, catalog) = match crate::ui::blocking(move || overview(&core)).await {
        Ok(x) => x,
        Err(e) => return crate::ui::error::respond(lang, &e),
    };
    let mine: Vec<FollowUp> = all.into_iter().filter(|f| o.may_hall(&f.hall)).collect();
    let t = web.core.now();
    let (open, closed): (Vec<&FollowUp>, Vec<&FollowUp>) = mine.iter().partition(|f| f.outcome.is_none());
    let level = |l: Level| lang.t(l.zh(), l.en());
    let body = html! {
        @if let Some(d) = &q.done {
            @match d.as_str() {
                "recorded" => (flash(lang, true, "回访已记录。", "The call-back was recorded.")),
                "settings" => (flash(lang, true, "期限已更新。", "The deadline was updated.")),
                _ => (flash(lang, false, "该回访已结束或不存在。", "This follow-up is closed or does not exist.")),
            }
        }
        p { (lang.t(
            &format!("评价为“不满意”或“非常不满意”的办件，须在 {n} 个工作日内回访。"),
            &format!("Every rating of Unsatisfied or worse is followed up within {n} working days."),
        )) }
        h2 { (lang.t("待回访", "Open")) " (" (open.len()) ")" }
        @if open.is_empty() {
            p { (lang.t("没有待回访的评价。", "No open follow-ups.")) }
        } @else {
            table.followups {
                thead { tr {
                    th { (lang.t("大厅", "Hall")) } th { (lang.t("日期", "Day")) } th { (lang.t("号码", "Ticket")) }
                    th { (lang.t("窗口", "Window")) } th { (lang.t("工作人员", "Staff")) } th { (lang.t("评价", "Rating")) }
                    th { (lang.t("期限", "Due")) } th { (lang.t("回访", "Call-back")) }
                } }
                tbody {
                    @for f in &open {
                        @let off = catalog.offset_of(&f.hall);
                        @let late = f.overdue(t.day(off));
                        tr.overdue[late] id=(format!("followup-{}", f.id)) {
                            td { (f.hall) } td { (f.day) } td { (f.ticket) }
                            td { (f.window.map(|w| w.to_string()).unwrap_or_default()) }
                            td { (f.staff.clone().unwrap_or_default()) }
                            td { (level(f.level)) }
                            td { (f.due) @if late { " " strong.error { (lang.t("已逾期", "overdue")) } } }
                            td {
                                form.stack method="post" action="/office/followups/record" {
                                    (o.csrf_field())
                                    input type="hidden" name="id" value=(f.id);
                                    label { (lang.t("回访时间", "Called back at"))
                                        input type="datetime-local" name="called_back" required; }
                                    label { (lang.t("回访记录", "Note"))
                                        textarea name="note" maxlength="2000" { (f.note) } }
                                    label { (lang.t("结果", "Outcome"))
                                        select name="outcome" {
                                            option value="" { (lang.one("暂存（不结束）", "Save (keep open)")) }
                                            @for oc in FollowOutcome::ALL {
                                                option value=(oc.as_str()) { (lang.one(oc.zh(), oc.en())) }
                                            }
                                        }
                                    }
                                    button type="submit" { (lang.t("保存", "Save")) }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { (lang.t("已结束", "Closed")) " (" (closed.len()) ")" }
        @if !closed.is_empty() {
            table.followups-closed {
                thead { tr {
                    th { (lang.t("大厅", "Hall")) } th { (lang.t("日期", "Day")) } th { (lang.t("号码", "Ticket")) }
                    th { (lang.t("评价", "Rating")) } th { (lang.t("回访时间", "Called back")) }
                    th { (lang.t("记录", "Note")) } th { (lang.t("结果", "Outcome")) } th { (lang.t("经办", "By")) }
                } }
                tbody {
                    @for f in &closed {
                        @let off = catalog.offset_of(&f.hall);
                        tr {
                            td { (f.hall) } td { (f.day) } td { (f.ticket) } td { (level(f.level)) }
                            td { (f.called_back.map(|c| format!("{} {}", c.day(off), c.local_hm(off))).unwrap_or_default()) }
                            td { (f.note) }
                            td { @if let Some(oc) = f.outcome { (lang.t(oc.zh(), oc.en())) } }
                            td { (f.closed_by.clone().unwrap_or_default()) }
                        }
                    }
                }
            }
        }
        @if o.account.role == Role::Admin {
            h2 { (lang.t("回访期限", "Deadline")) }
            form.inline method="post" action="/office/followups/settings" {
                (o.csrf_field())
                label { (lang.t("工作日数", "Working days"))
                    input type="number" name="working_days" min="1" max="30" value=(n) required; }
                button type="submit" { (lang.t("保存", "Save")) }
            }
        }
    };
    office_page(&o, "好差评回访", "Rating follow-ups", body).into_response()
}

#[derive(serde::Deserialize)]
pub struct RecordForm {
    id: i64,
    #[serde(default)]
    called_back: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    outcome: String,
}

/// POST `/office/followups/record`.
pub async fn record_form(
    State(web): State<AppState>,
    OfficeForm { officer: o, form }: OfficeForm<RecordForm>,
) -> Response {
    if let Err(r) = o.require(Area::FollowUps) {
        return r;
    }
    let lang = o.lang;
    let outcome = match form.outcome.as_str() {
        "" => None,
        s => match FollowOutcome::parse(s) {
            Some(oc) => Some(oc),
            None => return problem(lang, StatusCode::UNPROCESSABLE_ENTITY, "结果无效。", "Unknown outcome."),
        },
    };
    let core = web.core.clone();
    let login = o.account.login.clone();
    let officer = o.clone();
    let input =
        CallBack { id: form.id, called_back: form.called_back.clone(), note: form.note.clone(), outcome };
    let done =
        crate::ui::blocking(move || record_call_back(&core, &input, &login, |h| officer.may_hall(h))).await;
    match done {
        Ok(Recorded::Recorded) => Redirect::to("/office/followups?done=recorded").into_response(),
        Ok(Recorded::Gone) => Redirect::to("/office/followups?done=gone").into_response(),
        Err(e) => crate::ui::error::respond(lang, &e),
    }
}

#[derive(serde::Deserialize)]
pub struct SettingsForm {
    working_days: u32,
}

/// POST `/office/followups/settings` (administrators).
pub async fn settings_form(
    State(web): State<AppState>,
    OfficeForm { officer: o, form }: OfficeForm<SettingsForm>,
) -> Response {
    let core = web.core.clone();
    let admin = o.account.role == Role::Admin;
    if let Err(e) = crate::ui::blocking(move || set_deadline_days(&core, admin, form.working_days)).await {
        return crate::ui::error::respond(o.lang, &e);
    }
    Redirect::to("/office/followups?done=settings").into_response()
}
