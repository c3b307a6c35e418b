//! `/progress`: a visitor follows their case with its number and verification code (both on
//! the receipt from the window).
//!
//! Nobody can list cases or learn whether a number exists: a wrong code and an unknown number
//! get the same answer, byte for byte, after the same work (the month's document is read and a
//! code compared either way). Guessing is slowed by two limits ([`super::limit::Limits`]): lookups
//! per client, and wrong codes per case number (which lock that number's lookups for a while,
//! whether it exists or not). The lookup is a POST, so codes stay out of addresses and logs.

use crate::core::cases::{self, normalize_code, normalize_number};
use crate::core::limit::lock;
use crate::ui::auth::{PublicCsrf, csrf_refused};
use crate::ui::cases::timeline;
use crate::ui::client::{ClientIp, too_many};
use crate::ui::{AppState, Lang, page};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use onestop_model::{Case, CaseStatus, Catalog};

fn form_page(lang: Lang, csrf: &PublicCsrf, error: bool) -> Markup {
    page(
        lang,
        lang.one("办件查询", "Case progress"),
        None,
        html! {
            h1 { (lang.t("办件进度查询", "Follow your case")) }
            p { (lang.t(
                "请输入受理回执上的办件编号和查询码。",
                "Enter the case number and verification code from the receipt the window gave you.",
            )) }
            @if error {
                p.error role="alert" #lookup-error { (lang.t(
                    "未找到该办件，或查询码不正确。请核对回执后重试。",
                    "No case was found with this number and code. Check your receipt and try again.",
                )) }
            }
            form.stack #progress-form method="post" action="/progress" {
                (csrf.field())
                label for="number" { (lang.t("办件编号", "Case number")) }
                input #number name="number" required maxlength="64" autocomplete="off"
                    placeholder="20261126-main-B003" spellcheck="false";
                label for="code" { (lang.t("查询码", "Verification code")) }
                input #code name="code" required maxlength="32" autocomplete="off" spellcheck="false";
                button #lookup type="submit" { (lang.t("查询", "Look up")) }
            }
        },
    )
}

/// Personal answers are never kept by a browser's or a proxy's cache.
fn private(mut r: Response) -> Response {
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `GET /progress`: the form.
pub async fn form(lang: Lang, csrf: PublicCsrf) -> Response {
    private(csrf.respond(form_page(lang, &csrf, false)))
}

#[derive(serde::Deserialize)]
pub struct LookupForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    code: String,
}

/// `POST /progress`: the case's timeline, or the one answer for "no such case or wrong code".
pub async fn lookup(
    State(web): State<AppState>,
    lang: Lang,
    csrf: PublicCsrf,
    client: ClientIp,
    axum::Form(f): axum::Form<LookupForm>,
) -> Response {
    if !csrf.check(&f.csrf) {
        return csrf_refused(lang);
    }
    let number = normalize_number(&f.number);
    let code = normalize_code(&f.code);
    let t = web.core.now();
    let limits = &web.core.limits;
    {
        let mut by_client = lock(&limits.lookups);
        if let Some(until) = by_client.blocked_until(&client.key(), t) {
            return too_many(lang, "查询", "lookups", until, t);
        }
        if let Some(until) = lock(&limits.wrong_codes).blocked_until(&number, t) {
            return too_many(lang, "该办件查询错误", "wrong codes for this case", until, t);
        }
        by_client.hit(&client.key(), t);
    }
    let core = web.core.clone();
    let found = {
        let number = number.clone();
        tokio::task::spawn_blocking(move || cases::lookup(&core, &number, &code)).await
    };
    let found = match found {
        Ok(Ok(found)) => found,
        // A failure of ours is not the visitor's wrong code: nothing is counted against them.
        Ok(Err(e)) => return private(crate::ui::error::respond(lang, &e)),
        Err(e) => {
            return private(crate::ui::error::respond(lang, &crate::core::Error::Internal(e.to_string())));
        }
    };
    let Some(case) = found else {
        lock(&limits.wrong_codes).hit(&number, t);
        tracing::info!(message = "A case lookup did not match.", client = %client.key());
        return private((StatusCode::NOT_FOUND, csrf.respond(form_page(lang, &csrf, true))).into_response());
    };
    let catalog = web.cache.get().catalog.clone();
    private(csrf.respond(timeline_page(lang, &catalog, &case)))
}

/// What the visitor should do now, by the case's status.
fn next_for_visitor(lang: Lang, status: CaseStatus, place: &str, place_en: &str) -> Markup {
    match status {
        CaseStatus::Completed => lang.t(
            &format!("已办结，请携带回执到{place}领取。"),
            &format!("Ready: collect it at {place_en}; bring your receipt."),
        ),
        CaseStatus::Collected => lang.t("已领取，本办件已结束。", "Collected: this case is closed."),
        CaseStatus::Rejected => lang.t(
            "未通过审核，原因见下方。如有疑问请到窗口咨询。",
            "Not approved: the reason is below. Ask at the window if anything is unclear.",
        ),
        _ => lang.t(
            &format!("正在办理中。办结后请到{place}领取。"),
            &format!("In progress. When it is ready, collect it at {place_en}."),
        ),
    }
}

fn timeline_page(lang: Lang, catalog: &Catalog, case: &Case) -> Markup {
    let offset = catalog.offset_of(&case.hall);
    let hall = catalog.halls.get(&case.hall);
    let hall_zh = hall.map_or(case.hall.to_string(), |h| h.name.zh.clone());
    let hall_en = hall.map_or(case.hall.to_string(), |h| {
        if h.name.en.is_empty() { h.name.zh.clone() } else { h.name.en.clone() }
    });
    let place = format!("{hall_zh} {} 号窗口", case.window);
    let place_en = format!("window {} of {hall_en}", case.window);
    let service = catalog.services.get(&case.service);
    let status = case.status();
    page(
        lang,
        lang.one("办件进度", "Case progress"),
        None,
        html! {
            h1 { (lang.t("办件进度", "Case progress")) }
            dl.facts {
                dt { (lang.t("办件编号", "Case number")) }
                dd #case-number { (case.number) }
                dt { (lang.t("事项", "Service")) }
                dd { @match service { Some(s) => (lang.text(&s.name)), None => (case.service) } }
                dt { (lang.t("当前状态", "Status")) }
                dd #case-status data-status=(status.as_str()) { strong { (lang.t(status.zh(), status.en())) } }
                dt { (lang.t("办理地点", "Where")) }
                dd {
                    (lang.t(&place, &place_en))
                    @if let Some(h) = hall { @if !h.address.zh.is_empty() { br; span.address { (lang.text(&h.address)) } } }
                }
            }
            p.next role="status" { (next_for_visitor(lang, status, &place, &place_en)) }
            h2 { (lang.t("办理记录", "Timeline")) }
            (timeline(lang, case, offset, false))
            p { a href="/progress" { (lang.t("查询其他办件", "Look up another case")) } }
        },
    )
}
