//! Q&A: questions the public asks (`/qa/ask`), held for moderation, answered by staff in the
//! back office (`/office/qa`, [`Area::Qa`]) and then shown on `/qa`.
//!
//! Questions and answers are the cloud's own rows in `office.sqlite` (`qa_questions`,
//! `qa_answers`: one answer per question, which staff may edit), not synced documents: the
//! halls do not need them. Everything is plain text: stored as typed (line ends made `\n`,
//! other control characters dropped), escaped by maud when shown, line breaks kept by CSS
//! (`.plain { white-space: pre-line }`). A question is public only once published; a hidden
//! one keeps the reason it was hidden, for the staff.

use crate::core::accounts::Area;
use crate::core::qa::*;
use crate::ui::auth::{OfficeForm, Officer};
use crate::ui::cases::local_time;
use crate::ui::office::{flash, office_page};
use crate::ui::{AppState, Lang, problem};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use onestop_model::Catalog;

#[derive(serde::Deserialize, Default)]
pub struct QueueQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    done: Option<String>,
}

fn failed(lang: Lang, e: QaError) -> Response {
    crate::ui::error::respond(lang, &e.into())
}

fn not_found(lang: Lang) -> Response {
    problem(lang, StatusCode::NOT_FOUND, "没有这个问题。", "There is no such question.")
}

/// `GET /office/qa`: the moderation queue (or the published or hidden questions).
pub async fn queue(State(web): State<AppState>, o: Officer, Query(q): Query<QueueQuery>) -> Response {
    if let Err(r) = o.require(Area::Qa) {
        return r;
    }
    let lang = o.lang;
    let status = QaStatus::parse(q.status.trim()).unwrap_or(QaStatus::Pending);
    let core = web.core.clone();
    let list = match crate::ui::blocking(move || with_status(&core, status)).await {
        Ok(l) => l,
        Err(e) => return failed(lang, e),
    };
    let offset = web.cache.get().catalog.campus_offset();
    office_page(
        &o,
        "咨询答复",
        "Q&A",
        html! {
            nav.tabs aria-label=(lang.one("问题状态", "Question status")) {
                ul {
                    @for s in QaStatus::ALL {
                        li { a href={ "/office/qa?status=" (s.as_str()) } aria-current=[(s == status).then_some("page")] { (lang.t(s.zh(), s.en())) } }
                    }
                }
            }
            @if list.is_empty() {
                p #no-questions { (lang.t("没有问题。", "No questions.")) }
            } @else {
                ul.questions #questions {
                    @for x in &list {
                        li data-question=(x.id) {
                            a href={ "/office/qa/" (x.id) } { (x.title) }
                            " "
                            span.meta { (local_time(x.asked, offset)) @if x.answer.is_some() { " · " (lang.t("已答复", "answered")) } }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

fn question_body(
    o: &Officer,
    catalog: &Catalog,
    x: &Question,
    notice: Markup,
    draft: Option<&str>,
) -> Markup {
    let lang = o.lang;
    let offset = catalog.campus_offset();
    let base = format!("/office/qa/{}", x.id);
    html! {
        (notice)
        article.question {
            h2 #question-title { (x.title) }
            p.meta {
                (local_time(x.asked, offset))
                @if let Some(s) = x.service.as_ref() {
                    " · "
                    @match catalog.services.get(s) { Some(s) => (lang.text(&s.name)), None => (s) }
                }
                " · " span #question-status data-status=(x.status.as_str()) { (lang.t(x.status.zh(), x.status.en())) }
            }
            p.plain #question-body { (x.body) }
            @if let Some(r) = &x.hide_reason { @if x.status == QaStatus::Hidden {
                p.plain #hide-reason { (lang.t("隐藏原因：", "Hidden because: ")) (r) }
            } }
            @if let Some(a) = &x.answer {
                section.answer {
                    h3 { (lang.t("答复", "Answer")) }
                    p.plain #answer-body { (a.body) }
                    p.meta { (a.login) " · " (local_time(a.edited.unwrap_or(a.at), offset)) }
                }
            }
        }
        form.stack #answer method="post" action={ (base) "/answer" } {
            (o.csrf_field())
            label for="body" { (lang.t("答复（公开）", "Answer (public)")) }
            textarea #body name="body" required maxlength=(ANSWER.end()) rows="6" {
                (draft.or(x.answer.as_ref().map(|a| a.body.as_str())).unwrap_or(""))
            }
            button #do-answer type="submit" {
                @if x.answer.is_some() { (lang.t("保存答复并公开", "Save the answer and publish")) }
                @else { (lang.t("答复并公开", "Answer and publish")) }
            }
        }
        @if x.status != QaStatus::Published {
            form.inline #publish method="post" action={ (base) "/publish" } {
                (o.csrf_field())
                button #do-publish type="submit" { (lang.t("直接公开（不答复）", "Publish without an answer")) }
            }
        }
        @if x.status != QaStatus::Hidden {
            form.stack #hide method="post" action={ (base) "/hide" } {
                (o.csrf_field())
                label for="reason" { (lang.t("隐藏原因（仅工作人员可见）", "Reason for hiding (staff only)")) }
                input #reason name="reason" required maxlength=(REASON.end());
                button #do-hide.danger type="submit" { (lang.t("隐藏", "Hide")) }
            }
        }
        p { a href="/office/qa" { (lang.t("返回问题列表", "Back to the questions")) } }
    }
}

/// `GET /office/qa/{id}`: a question with its answer form and moderation.
pub async fn question_page(
    State(web): State<AppState>,
    o: Officer,
    Path(id): Path<i64>,
    Query(q): Query<QueueQuery>,
) -> Response {
    if let Err(r) = o.require(Area::Qa) {
        return r;
    }
    let lang = o.lang;
    let core = web.core.clone();
    let x = match crate::ui::blocking(move || question(&core, id)).await {
        Ok(Some(x)) => x,
        Ok(None) => return not_found(lang),
        Err(e) => return failed(lang, e),
    };
    let notice = match q.done.as_deref() {
        Some("answer") => flash(lang, true, "答复已保存并公开。", "The answer is saved and published."),
        Some("publish") => flash(lang, true, "问题已公开。", "The question is published."),
        Some("hide") => flash(lang, true, "问题已隐藏。", "The question is hidden."),
        _ => html! {},
    };
    let catalog = web.cache.get().catalog.clone();
    office_page(&o, "咨询答复", "Q&A", question_body(&o, &catalog, &x, notice, None)).into_response()
}

#[derive(serde::Deserialize)]
pub struct ActForm {
    #[serde(default)]
    body: String,
    #[serde(default)]
    reason: String,
}

/// `POST /office/qa/{id}/{answer|publish|hide}`.
pub async fn act(
    State(web): State<AppState>,
    Path((id, action)): Path<(i64, String)>,
    OfficeForm { officer: o, form }: OfficeForm<ActForm>,
) -> Response {
    if let Err(r) = o.require(Area::Qa) {
        return r;
    }
    let lang = o.lang;
    let login = o.account.login.clone();
    let moderation = match action.as_str() {
        "answer" => Moderation::Answer(form.body.clone()),
        "publish" => Moderation::Publish,
        "hide" => Moderation::Hide(form.reason.clone()),
        _ => return problem(lang, StatusCode::NOT_FOUND, "没有这个操作。", "There is no such action."),
    };
    let core = web.core.clone();
    let by = login.clone();
    let done = crate::ui::blocking(move || moderate_as(&core, id, &moderation, &by)).await;
    match done {
        Ok(()) => {
            tracing::info!(message = "Q&A moderated.", question = id, action = %action, by = %login);
            Redirect::to(&format!("/office/qa/{id}?done={action}")).into_response()
        }
        Err(QaError::Unknown) => not_found(lang),
        Err(e @ QaError::Length { .. }) => {
            let core = web.core.clone();
            let x = match crate::ui::blocking(move || question(&core, id)).await {
                Ok(Some(x)) => x,
                Ok(None) => return not_found(lang),
                Err(e) => return failed(lang, e),
            };
            let text = e.to_string();
            let (zh, en) = text.split_once(" / ").unwrap_or((&text, ""));
            let catalog = web.cache.get().catalog.clone();
            let draft = (action == "answer").then_some(form.body.as_str());
            let body = question_body(&o, &catalog, &x, flash(lang, false, zh, en), draft);
            (StatusCode::UNPROCESSABLE_ENTITY, office_page(&o, "咨询答复", "Q&A", body)).into_response()
        }
        Err(e) => failed(lang, e),
    }
}
