//! The public Q&A board: `/qa` (published questions with their answers, newest first),
//! `/qa/{id}`, and `/qa/ask` (a new question, held for moderation; a few an hour per client).
//! The rows and the back office's moderation are in `office::qa`.

use crate::core::limit::lock;
use crate::core::qa::{self, BODY, QaError, Question, TITLE};
use crate::ui::auth::{PublicCsrf, csrf_refused};
use crate::ui::client::{ClientIp, too_many};
use crate::ui::{AppState, Lang, page, problem};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use onestop_model::{Catalog, ServiceId};

const PER_PAGE: u32 = 10;

fn failed(lang: Lang, e: QaError) -> Response {
    crate::ui::error::respond(lang, &e.into())
}

/// One published question with its answer.
fn article(lang: Lang, catalog: &Catalog, x: &Question, link: bool) -> Markup {
    let offset = catalog.campus_offset();
    html! {
        article.qa data-question=(x.id) {
            @if link { h2 { a href={ "/qa/" (x.id) } { (x.title) } } } @else { h1 #question-title { (x.title) } }
            p.meta {
                (lang.t("提问于 ", "Asked ")) (crate::ui::cases::local_time(x.asked, offset))
                @if let Some(s) = x.service.as_ref().and_then(|s| catalog.services.get(s)) {
                    " · " a href={ "/services/" (s.id) } { (lang.text(&s.name)) }
                }
            }
            p.plain.body { (x.body) }
            @match &x.answer {
                Some(a) => {
                    section.answer {
                        h3 { (lang.t("工作人员答复", "Staff answer")) }
                        p.plain { (a.body) }
                        p.meta { (crate::ui::cases::local_time(a.edited.unwrap_or(a.at), offset)) }
                    }
                }
                None => { p.hint { (lang.t("尚未答复。", "Not answered yet.")) } }
            }
        }
    }
}

#[derive(serde::Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    page: Option<u32>,
}

/// `GET /qa`: the published questions, newest first, [`PER_PAGE`] a page.
pub async fn list(State(web): State<AppState>, lang: Lang, Query(q): Query<ListQuery>) -> Response {
    let page_no = q.page.unwrap_or(1).clamp(1, 100_000);
    let core = web.core.clone();
    let (items, total) = match crate::ui::blocking(move || qa::published(&core, page_no - 1, PER_PAGE)).await
    {
        Ok(r) => r,
        Err(e) => return failed(lang, e),
    };
    let pages = total.div_ceil(PER_PAGE).max(1);
    let catalog = web.cache.get().catalog.clone();
    page(
        lang,
        lang.one("咨询", "Q&A"),
        None,
        html! {
            h1 { (lang.t("咨询问答", "Questions and answers")) }
            p { a.button #ask-link href="/qa/ask" { (lang.t("我要提问", "Ask a question")) } }
            @if items.is_empty() {
                p #no-questions { (lang.t("暂无公开的问题。", "No questions have been published yet.")) }
            }
            @for x in &items { (article(lang, &catalog, x, true)) }
            @if pages > 1 {
                nav.pages aria-label=(lang.one("分页", "Pages")) {
                    @if page_no > 1 { a rel="prev" href={ "/qa?page=" (page_no - 1) } { (lang.t("上一页", "Previous")) } " " }
                    span { (lang.t(&format!("第 {page_no} / {pages} 页"), &format!("page {page_no} of {pages}"))) }
                    @if page_no < pages { " " a rel="next" href={ "/qa?page=" (page_no + 1) } { (lang.t("下一页", "Next")) } }
                }
            }
        },
    )
    .into_response()
}

/// `GET /qa/{id}`: one published question (others are not found).
pub async fn question(State(web): State<AppState>, lang: Lang, Path(id): Path<String>) -> Response {
    let missing = || {
        problem(
            lang,
            StatusCode::NOT_FOUND,
            "没有这个问题，或尚未公开。",
            "There is no such published question.",
        )
    };
    let Ok(id) = id.parse::<i64>() else { return missing() };
    let core = web.core.clone();
    let x = match crate::ui::blocking(move || qa::public_question(&core, id)).await {
        Ok(Some(x)) => x,
        Ok(_) => return missing(),
        Err(e) => return failed(lang, e),
    };
    let catalog = web.cache.get().catalog.clone();
    page(
        lang,
        &x.title,
        None,
        html! {
            (article(lang, &catalog, &x, false))
            p { a href="/qa" { (lang.t("返回咨询列表", "All questions")) } }
        },
    )
    .into_response()
}

fn ask_page(lang: Lang, csrf: &PublicCsrf, catalog: &Catalog, error: Option<&str>, f: &AskForm) -> Markup {
    page(
        lang,
        lang.one("我要提问", "Ask a question"),
        None,
        html! {
            h1 { (lang.t("我要提问", "Ask a question")) }
            p.hint { (lang.t(
                "问题经工作人员审核后公开，请勿填写姓名、学号、电话等个人信息。",
                "Questions are published after staff have read them. Do not include your name, student number or phone number.",
            )) }
            @if let Some(e) = error { p.error role="alert" #ask-error { (e) } }
            form.stack #ask method="post" action="/qa/ask" {
                (csrf.field())
                label for="service" { (lang.t("相关事项（可选）", "Service (optional)")) }
                select #service name="service" {
                    option value="" { (lang.one("（不限）", "(any)")) }
                    @for s in catalog.services.values() {
                        option value=(s.id) selected[f.service == s.id.as_str()] { (lang.one(&s.name.zh, &s.name.en)) }
                    }
                }
                label for="title" { (lang.t("标题", "Title")) }
                input #title name="title" required minlength=(TITLE.start()) maxlength=(TITLE.end()) value=(f.title);
                label for="body" { (lang.t("问题内容", "Your question")) }
                textarea #body name="body" required minlength=(BODY.start()) maxlength=(BODY.end()) rows="6" { (f.body) }
                button #submit type="submit" { (lang.t("提交", "Submit")) }
            }
        },
    )
}

#[derive(serde::Deserialize, Default)]
pub struct AskForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
}

/// `GET /qa/ask`.
pub async fn ask_form(State(web): State<AppState>, lang: Lang, csrf: PublicCsrf) -> Response {
    let catalog = web.cache.get().catalog.clone();
    csrf.respond(ask_page(lang, &csrf, &catalog, None, &AskForm::default()))
}

/// `POST /qa/ask`: the question is kept for moderation.
pub async fn ask(
    State(web): State<AppState>,
    lang: Lang,
    csrf: PublicCsrf,
    client: ClientIp,
    axum::Form(f): axum::Form<AskForm>,
) -> Response {
    if !csrf.check(&f.csrf) {
        return csrf_refused(lang);
    }
    let t = web.core.now();
    if let Some(until) = lock(&web.core.limits.questions).blocked_until(&client.key(), t) {
        return too_many(lang, "提问", "questions", until, t);
    }
    let catalog = web.cache.get().catalog.clone();
    let service = Some(ServiceId::new(f.service.trim())).filter(|s| catalog.services.contains_key(s));
    let core = web.core.clone();
    let (title, body) = (f.title.clone(), f.body.clone());
    let asked = crate::ui::blocking(move || qa::ask(&core, service.as_ref(), &title, &body)).await;
    match asked {
        Ok(id) => {
            lock(&web.core.limits.questions).hit(&client.key(), t);
            tracing::info!(message = "A question was asked.", question = id);
            page(
                lang,
                lang.one("已提交", "Submitted"),
                None,
                html! {
                    h1 { (lang.t("问题已提交", "Your question was sent")) }
                    p #held role="status" { (lang.t(
                        "问题需经工作人员审核，审核并答复后将在咨询页公开。",
                        "Staff will read it first: it appears on the Q&A page once it has been checked and answered.",
                    )) }
                    p { a href="/qa" { (lang.t("返回咨询列表", "All questions")) } }
                },
            )
            .into_response()
        }
        Err(e @ QaError::Length { .. }) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            csrf.respond(ask_page(lang, &csrf, &catalog, Some(&e.to_string()), &f)),
        )
            .into_response(),
        Err(e) => failed(lang, e),
    }
}
