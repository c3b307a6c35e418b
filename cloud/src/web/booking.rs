//! `/book`: online reservations. A visitor chooses a hall, a service, a day and a slot, and
//! books it with their campus card number; the confirmation shows a 6-character code and a QR
//! code carrying a token the cloud signed ([`onestop_protocol::booking_token`]), which the hall
//! checks offline at its kiosk. `/book/cancel` cancels with the code and the card number.
//!
//! - The booking is written to the hall's `hall/H/bookings/D` document through the store,
//!   and the sync listener is told at once, so a connected hall has it within a moment.
//! - The card number is never stored: the visitor is its pseudonym, as the halls make it. When
//!   the cloud has a card directory, only a card in it may book.
//! - Capacity and "one booking per visitor, service and day" are checked and the booking
//!   written under the store's lock, so two visitors can never take the last place together.
//!   Lock order: the store, then the office database.
//! - The office table `bookings` indexes every booking by its code (codes are unique across
//!   halls and days) and by visitor; the documents stay the truth about statuses.
//! - Booking and cancelling are rate-limited per client and per card ([`Desk`]); the forms
//!   carry the public CSRF token.

use crate::core::booking::*;
use crate::ui::auth::{PublicCsrf, csrf_refused};
use crate::ui::client::{ClientIp, too_many};
use crate::ui::{AppState, Lang, page};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, PreEscaped, html};
use onestop_model::{Booking, Catalog, Day, Hall, HallId, Service};

#[cfg(test)]
#[path = "booking_tests.rs"]
mod tests;

/// Personal answers are never kept by a browser's or a proxy's cache.
fn private(mut r: Response) -> Response {
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A refusal that says what is wrong, with a way back.
fn refuse(lang: Lang, status: StatusCode, zh: &str, en: &str, back: &str) -> Response {
    let body = page(
        lang,
        lang.one("无法预约", "Cannot book"),
        None,
        html! {
            h1 { (lang.t("无法完成", "This could not be done")) }
            p.error role="alert" #booking-error { (lang.t(zh, en)) }
            p { a href=(back) { (lang.t("返回", "Back")) } }
        },
    );
    private((status, body).into_response())
}

fn weekday(lang: Lang, d: Day) -> &'static str {
    const ZH: [&str; 7] = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"];
    const EN: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let i = usize::from(d.weekday() - 1);
    lang.one(ZH[i], EN[i])
}

/// `GET /book`: the halls that take bookings.
pub async fn halls(State(web): State<AppState>, lang: Lang) -> Response {
    let site = web.cache.get();
    let open: Vec<&Hall> = site.catalog.halls.values().filter(|h| h.booking.enabled).collect();
    page(
        lang,
        lang.one("在线预约", "Book a visit"),
        None,
        html! {
            h1 { (lang.t("在线预约", "Book a visit")) }
            p { (lang.t(
                "选择大厅、事项和时段，凭校园卡号预约。到大厅后在自助机扫描预约二维码或输入预约码即可取号。",
                "Choose a hall, a service and a slot, and book with your campus card number. At the hall, scan your booking's QR code or type its code at the kiosk to take your ticket.",
            )) }
            @if open.is_empty() {
                p #no-halls { (lang.t("目前没有大厅开放预约。", "No hall takes bookings at the moment.")) }
            }
            ul.halls {
                @for h in &open {
                    li data-hall=(h.id) {
                        a href={ "/book/" (h.id) } { (lang.text(&h.name)) }
                        @if !h.address.zh.is_empty() { " · " span.meta { (lang.text(&h.address)) } }
                    }
                }
            }
            p { a #cancel-link href="/book/cancel" { (lang.t("取消预约", "Cancel a booking")) } }
        },
    )
    .into_response()
}

/// `GET /book/{hall}`: the hall's services.
pub async fn services(State(web): State<AppState>, lang: Lang, Path(hall): Path<String>) -> Response {
    let site = web.cache.get();
    let Some(h) = site.catalog.halls.get(&HallId::new(&hall)).filter(|h| h.booking.enabled) else {
        return refuse(
            lang,
            StatusCode::NOT_FOUND,
            "没有这个大厅，或该大厅不接受预约。",
            "There is no such hall, or it does not take bookings.",
            "/book",
        );
    };
    page(
        lang,
        lang.one(&h.name.zh, &h.name.en),
        None,
        html! {
            h1 { (lang.text(&h.name)) }
            @if !h.address.zh.is_empty() { p.meta { (lang.text(&h.address)) } }
            h2 { (lang.t("选择事项", "Choose a service")) }
            ul.services {
                @for s in served(&site.catalog, h) {
                    li data-service=(s.id) { a href={ "/book/" (h.id) "/" (s.id) } { (lang.text(&s.name)) } }
                }
            }
            p { a href="/book" { (lang.t("其他大厅", "Other halls")) } }
        },
    )
    .into_response()
}

#[derive(serde::Deserialize)]
pub struct DayQuery {
    #[serde(default)]
    day: Option<String>,
}

/// The hall and service of a booking address, or the refusal.
fn hall_and_service<'a>(
    lang: Lang,
    catalog: &'a Catalog,
    hall: &str,
    service: &str,
) -> Result<(&'a Hall, &'a Service), Response> {
    let Some(h) = catalog.halls.get(&HallId::new(hall)).filter(|h| h.booking.enabled) else {
        return Err(refuse(
            lang,
            StatusCode::NOT_FOUND,
            "没有这个大厅，或该大厅不接受预约。",
            "There is no such hall, or it does not take bookings.",
            "/book",
        ));
    };
    let Some(s) = served(catalog, h).into_iter().find(|s| s.id.as_str() == service) else {
        return Err(refuse(
            lang,
            StatusCode::NOT_FOUND,
            "该大厅不办理这个事项。",
            "This hall does not offer this service.",
            &format!("/book/{}", h.id),
        ));
    };
    Ok((h, s))
}

/// `GET /book/{hall}/{service}?day=…`: the bookable days, and the chosen day's slots with
/// their places left.
pub async fn slots_page(
    State(web): State<AppState>,
    lang: Lang,
    csrf: PublicCsrf,
    Path((hall, service)): Path<(String, String)>,
    Query(q): Query<DayQuery>,
) -> Response {
    let site = web.cache.get();
    let (h, s) = match hall_and_service(lang, &site.catalog, &hall, &service) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let t = web.core.now();
    let days = bookable_days(h, t);
    let chosen = match q.day.as_deref().map(str::parse::<Day>) {
        Some(Ok(d)) if days.contains(&d) => Some(d),
        Some(_) => {
            return refuse(
                lang,
                StatusCode::BAD_REQUEST,
                "这一天不能预约：请从列出的日期中选择。",
                "That day cannot be booked: choose one of the days listed.",
                &format!("/book/{}/{}", h.id, s.id),
            );
        }
        None => None,
    };
    // The first day with a slot still to come, when none was chosen.
    let backend = web.core.clone();
    let (hall_id, service_id, hall_c) = (h.id.clone(), s.id.clone(), h.clone());
    let found =
        tokio::task::spawn_blocking(move || -> Result<(Option<Day>, Vec<Slot>), crate::core::Error> {
            let candidates: Vec<Day> = chosen.map_or(days, |d| vec![d]);
            let mut first = None;
            for d in candidates {
                let list = slots(&hall_c, d, &service_id, &read_day(&backend, &hall_id, d)?, t);
                if chosen.is_some() || list.iter().any(|s| !s.past) {
                    return Ok((Some(d), list));
                }
                first.get_or_insert(d);
            }
            Ok((first, Vec::new()))
        })
        .await;
    let (day, list) = match found {
        Ok(Ok(x)) => x,
        Ok(Err(error)) => {
            tracing::error!(message = "Cannot read the bookings.", %error);
            return refuse(
                lang,
                StatusCode::INTERNAL_SERVER_ERROR,
                "暂时无法读取预约情况，请稍后再试。",
                "The bookings cannot be read just now: try again later.",
                "/book",
            );
        }
        Err(error) => {
            tracing::error!(message = "Cannot read the bookings.", %error);
            return refuse(
                lang,
                StatusCode::INTERNAL_SERVER_ERROR,
                "暂时无法读取预约情况，请稍后再试。",
                "The bookings cannot be read just now: try again later.",
                "/book",
            );
        }
    };
    let days = bookable_days(h, t);
    let action = format!("/book/{}/{}", h.id, s.id);
    let body = html! {
        h1 { (lang.text(&s.name)) }
        p.meta { (lang.text(&h.name)) @if !h.address.zh.is_empty() { " · " (lang.text(&h.address)) } }
        @if days.is_empty() {
            p #no-days { (lang.t("近期没有可预约的日期。", "There are no days open for booking soon.")) }
        } @else {
            nav.days aria-label=(lang.one("日期", "Days")) {
                ul {
                    @for d in &days {
                        li { a href={ (action) "?day=" (d) } data-day=(d)
                            aria-current=[(Some(*d) == day).then_some("date")] {
                            (format!("{:02}-{:02}", d.month, d.day)) " " (weekday(lang, *d))
                        } }
                    }
                }
            }
        }
        @if let Some(d) = day {
            h2 { (lang.t(&format!("{d} 的时段", ), &format!("Slots on {d}"))) }
            @if list.iter().all(|s| s.past || s.left == 0) {
                p #no-slots { (lang.t("这一天已没有可预约的时段，请选择其他日期。", "No slot is left on this day: choose another day.")) }
            }
            form.stack #book-form method="post" action=(action) {
                (csrf.field())
                input type="hidden" name="day" value=(d);
                fieldset.slots {
                    legend { (lang.t("选择时段（剩余名额）", "Choose a slot (places left)")) }
                    // Slots that have begun are not shown.
                    @for sl in list.iter().filter(|s| !s.past) {
                        @let open = sl.left > 0;
                        label.slot data-slot=(sl.label()) data-left=(sl.left) {
                            input type="radio" name="slot" value=(sl.start_min) required disabled[!open];
                            " " (sl.label()) " "
                            span.left {
                                @if sl.left == 0 { (lang.t("已约满", "full")) }
                                @else { (lang.t(&format!("余 {} 个", sl.left), &format!("{} left", sl.left))) }
                            }
                        }
                    }
                }
                label for="card" { (lang.t("校园卡号", "Campus card number")) }
                input #card name="card" required maxlength="32" autocomplete="off" inputmode="text" spellcheck="false";
                p.meta { (lang.t(
                    "每人每天同一事项限预约一次。卡号只用于确认身份，不会保存。",
                    "One booking per person, service and day. The card number only proves who you are; it is not kept.",
                )) }
                button #book-button type="submit" { (lang.t("预约", "Book")) }
            }
        }
        p { a href={ "/book/" (h.id) } { (lang.t("其他事项", "Other services")) } }
    };
    private(csrf.respond(page(lang, lang.one("预约时段", "Choose a slot"), None, body)))
}

#[derive(serde::Deserialize)]
pub struct BookForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    day: String,
    #[serde(default)]
    slot: String,
    #[serde(default)]
    card: String,
}

/// The 429 page for too many booking or cancelling attempts (from a client, or with a card).
fn limited(
    lang: Lang,
    until: onestop_model::Timestamp,
    by_card: bool,
    now: onestop_model::Timestamp,
) -> Response {
    let (zh, en) = if by_card {
        ("该校园卡的预约操作", "booking attempts with this card")
    } else {
        ("预约操作", "booking attempts")
    };
    private(too_many(lang, zh, en, until, now))
}

/// What a visitor is told when a booking was not made, with the page's status.
fn book_message(r: &BookRefusal) -> (StatusCode, &'static str, &'static str) {
    match r {
        BookRefusal::DayNotOpen => (
            StatusCode::BAD_REQUEST,
            "这一天不能预约：请从列出的日期中选择。",
            "That day cannot be booked: choose one of the days listed.",
        ),
        BookRefusal::NoSlot => (StatusCode::BAD_REQUEST, "请选择一个时段。", "Choose a slot."),
        BookRefusal::SlotBegun => (
            StatusCode::CONFLICT,
            "这个时段已经开始，不能再预约：请选择稍后的时段。",
            "This slot has already begun: choose a later one.",
        ),
        BookRefusal::BadCard => (
            StatusCode::BAD_REQUEST,
            "请填写校园卡号（字母和数字，最多 32 位）。",
            "Enter your campus card number (letters and digits, at most 32).",
        ),
        BookRefusal::UnknownCard => (
            StatusCode::BAD_REQUEST,
            "校园卡号不在校园卡名录中，请核对后重试。",
            "This campus card number is not in the card directory: check it and try again.",
        ),
        BookRefusal::Full => (
            StatusCode::CONFLICT,
            "这个时段刚刚约满了，请选择其他时段。",
            "This slot has just filled up: choose another one.",
        ),
        BookRefusal::Twice => (
            StatusCode::CONFLICT,
            "您当天已预约过这个事项（每人每天每个事项限一次）。如需改时段，请先取消原预约。",
            "You have already booked this service on that day (one booking per person, service and day). To change the slot, cancel the other booking first.",
        ),
        BookRefusal::Limited { .. } => {
            (StatusCode::TOO_MANY_REQUESTS, "操作过于频繁。", "Too many attempts.")
        }
        BookRefusal::Failed(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "暂时无法预约，请稍后再试。",
            "Booking is not possible just now: try again later.",
        ),
    }
}

/// `POST /book/{hall}/{service}`: books the slot; answers with the confirmation.
pub async fn book(
    State(web): State<AppState>,
    lang: Lang,
    csrf: PublicCsrf,
    client: ClientIp,
    Path((hall, service)): Path<(String, String)>,
    axum::Form(f): axum::Form<BookForm>,
) -> Response {
    if !csrf.check(&f.csrf) {
        return csrf_refused(lang);
    }
    let site = web.cache.get();
    let (h, s) = match hall_and_service(lang, &site.catalog, &hall, &service) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let back = format!("/book/{}/{}?day={}", h.id, s.id, f.day);
    let req =
        BookRequest { client: client.key(), day: f.day.clone(), slot: f.slot.clone(), card: f.card.clone() };
    let core = web.core.clone();
    let (hall_c, service_c) = (h.clone(), s.clone());
    let made =
        tokio::task::spawn_blocking(move || crate::core::booking::book(&core, &hall_c, &service_c, &req))
            .await
            .unwrap_or_else(|e| Err(BookRefusal::Failed(crate::core::Error::Internal(e.to_string()))));
    let b = match made {
        Ok(b) => b,
        Err(BookRefusal::Limited { until, by_card }) => {
            return limited(lang, until, by_card, web.core.now());
        }
        Err(refusal) => {
            if let BookRefusal::Failed(error) = &refusal {
                tracing::error!(message = "Cannot write a booking.", %error);
            }
            let (status, zh, en) = book_message(&refusal);
            let back = if matches!(refusal, BookRefusal::DayNotOpen) {
                format!("/book/{}/{}", h.id, s.id)
            } else {
                back
            };
            return refuse(lang, status, zh, en, &back);
        }
    };
    tracing::info!(message = "Booked.", hall = %b.hall, day = %b.day, service = %b.service);
    private(confirmation(lang, &web.core.bookings, h, s, &b))
}

/// An SVG QR code of `text` (inline markup: the page's policy allows no inline style or
/// script, and the SVG has neither).
fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(260, 260)
        .dark_color(qrcode::render::svg::Color("#000"))
        .light_color(qrcode::render::svg::Color("#fff"))
        .build();
    Some(svg.find("<svg").map_or(svg.clone(), |i| svg[i..].to_string()))
}

fn confirmation(lang: Lang, desk: &Desk, h: &Hall, s: &Service, b: &Booking) -> Response {
    let offset = h.utc_offset_minutes;
    let slot = format!("{} {}–{}", b.day, b.slot_start.local_hm(offset), b.slot_end.local_hm(offset));
    let opens = b.slot_start.plus_minutes(-i64::from(h.rules.booking_early_minutes)).local_hm(offset);
    let closes = b.slot_start.plus_minutes(i64::from(h.rules.booking_late_minutes)).local_hm(offset);
    let token = match desk.token(b) {
        Ok(t) => Some(t),
        Err(error) => {
            tracing::error!(message = "Cannot make a booking token.", %error);
            None
        }
    };
    let svg = token.as_deref().and_then(qr_svg);
    let body = html! {
        h1 #booked { (lang.t("预约成功", "Booked")) }
        dl.booking {
            dt { (lang.t("预约码", "Booking code")) } dd #booking-code.code { (b.code) }
            dt { (lang.t("事项", "Service")) } dd #booking-service { (lang.text(&s.name)) }
            dt { (lang.t("时段", "Slot")) } dd #booking-slot { (slot) }
            dt { (lang.t("大厅", "Hall")) } dd #booking-hall { (lang.text(&h.name)) }
            @if !h.address.zh.is_empty() { dt { (lang.t("地址", "Address")) } dd #booking-address { (lang.text(&h.address)) } }
        }
        @if let (Some(token), Some(svg)) = (&token, &svg) {
            figure #qr.qr data-token=(token) {
                div role="img" aria-label=(lang.one("预约二维码", "Booking QR code")) { (PreEscaped(svg)) }
                figcaption { (lang.t("到大厅后在自助机扫描此二维码签到取号（大厅断网时也可用）。", "At the hall, scan this code at the kiosk to check in and take your ticket (it works even when the hall is offline).")) }
            }
        }
        p { (lang.t(
            &format!("请于 {opens} 至 {closes} 之间签到；也可在自助机输入预约码。请截图或记下预约码。"),
            &format!("Check in between {opens} and {closes}; you can also type the booking code at the kiosk. Keep a screenshot or note the code."),
        )) }
        p { a href="/book/cancel" { (lang.t("取消预约", "Cancel this booking")) } }
    };
    page(lang, lang.one("预约成功", "Booked"), None, body).into_response()
}

// ----- Cancelling -----

fn cancel_form(lang: Lang, csrf: &PublicCsrf) -> Markup {
    page(
        lang,
        lang.one("取消预约", "Cancel a booking"),
        None,
        html! {
            h1 { (lang.t("取消预约", "Cancel a booking")) }
            p { (lang.t("请输入预约码和预约时使用的校园卡号。", "Enter the booking code and the campus card number you booked with.")) }
            form.stack #cancel-form method="post" action="/book/cancel" {
                (csrf.field())
                label for="code" { (lang.t("预约码", "Booking code")) }
                input #code name="code" required maxlength="16" autocomplete="off" spellcheck="false";
                label for="card" { (lang.t("校园卡号", "Campus card number")) }
                input #card name="card" required maxlength="32" autocomplete="off" spellcheck="false";
                button #cancel-button type="submit" { (lang.t("取消预约", "Cancel the booking")) }
            }
        },
    )
}

/// `GET /book/cancel`.
pub async fn cancel_page(lang: Lang, csrf: PublicCsrf) -> Response {
    private(csrf.respond(cancel_form(lang, &csrf)))
}

#[derive(serde::Deserialize)]
pub struct CancelForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    card: String,
}

impl CancelRefusal {
    /// What the visitor is told, with the page's status.
    fn message(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            CancelRefusal::NotFound => (
                StatusCode::NOT_FOUND,
                "未找到该预约，或校园卡号与预约不符。请核对后重试。",
                "No booking was found with this code and card number: check them and try again.",
            ),
            CancelRefusal::Already => {
                (StatusCode::CONFLICT, "该预约已经取消。", "This booking is already cancelled.")
            }
            CancelRefusal::CheckedIn => (
                StatusCode::CONFLICT,
                "该预约已在大厅签到，不能取消。",
                "This booking has been checked in at the hall: it cannot be cancelled.",
            ),
            CancelRefusal::Started => (
                StatusCode::CONFLICT,
                "预约时段已经开始，不能再取消。",
                "The booked slot has already begun: it can no longer be cancelled.",
            ),
            CancelRefusal::Limited { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "操作过于频繁。", "Too many attempts.")
            }
            CancelRefusal::Failed(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "暂时无法取消，请稍后再试。",
                "The booking cannot be cancelled just now: try again later.",
            ),
        }
    }
}

/// `POST /book/cancel`.
pub async fn cancel_post(
    State(web): State<AppState>,
    lang: Lang,
    csrf: PublicCsrf,
    client: ClientIp,
    axum::Form(f): axum::Form<CancelForm>,
) -> Response {
    if !csrf.check(&f.csrf) {
        return csrf_refused(lang);
    }
    let core = web.core.clone();
    let done = tokio::task::spawn_blocking(move || cancel_request(&core, &client.key(), &f.code, &f.card))
        .await
        .unwrap_or_else(|e| Err(CancelRefusal::Failed(crate::core::Error::Internal(e.to_string()))));
    let back = "/book/cancel";
    let b = match done {
        Ok(b) => b,
        Err(CancelRefusal::Limited { until, by_card }) => {
            return limited(lang, until, by_card, web.core.now());
        }
        Err(refusal) => {
            if let CancelRefusal::Failed(error) = &refusal {
                tracing::error!(message = "Cannot cancel a booking.", %error);
            }
            let (status, zh, en) = refusal.message();
            return refuse(lang, status, zh, en, back);
        }
    };
    let site = web.cache.get();
    let offset = site.catalog.offset_of(&b.hall);
    let slot = format!("{} {}–{}", b.day, b.slot_start.local_hm(offset), b.slot_end.local_hm(offset));
    private(
        page(
            lang,
            lang.one("预约已取消", "Booking cancelled"),
            None,
            html! {
                h1 #cancelled { (lang.t("预约已取消", "Booking cancelled")) }
                p { (lang.t(&format!("{slot} 的预约已取消，名额已释放。"), &format!("Your booking for {slot} is cancelled and its place is free again."))) }
                p { a href="/book" { (lang.t("重新预约", "Book again")) } }
            },
        )
        .into_response(),
    )
}
