//! `/book`: online reservations. A visitor chooses a hall, a service, a day and a slot, and
//! books it with their campus card number; the confirmation shows a 6-character code and a QR
//! code carrying a token the cloud signed ([`onestop_sync::booking_token`]), which the hall
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

use super::limit::{ClientIp, Limiter, lock, too_many};
use super::{Lang, WebState, now, page};
use crate::office::Backend;
use crate::office::auth::{PublicCsrf, csrf_refused};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, PreEscaped, html};
use onestop_model::{
    Booking, BookingId, BookingStatus, BookingStep, Catalog, Day, DayEvent, Hall, HallId, PersonKind,
    Service, ServiceId, Source, Timestamp, Visitor,
};
use onestop_sync::booking_token::{BookingClaim, BookingSigner};
use onestop_sync::secrets::random_code;
use onestop_sync::{DocId, bookings, cards};
use rusqlite::{OptionalExtension, params};
use std::sync::Mutex;
use std::time::Duration;

#[cfg(test)]
#[path = "booking_tests.rs"]
mod tests;

/// The office table of bookings made here (see the module documentation).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS bookings (
    code TEXT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    hall TEXT NOT NULL,
    day TEXT NOT NULL,
    service TEXT NOT NULL,
    visitor TEXT NOT NULL,
    slot_start_ms INTEGER NOT NULL,
    made_ms INTEGER NOT NULL,
    cancelled_ms INTEGER
);
CREATE INDEX IF NOT EXISTS bookings_by_visitor ON bookings (visitor, day, service);
";

/// The booking desk: the cloud's signing key and the limits on booking and cancelling.
pub struct Desk {
    signer: BookingSigner,
    /// Booking and cancelling attempts per client: 20 in 10 minutes (a dormitory may share
    /// an address).
    per_client: Mutex<Limiter>,
    /// Attempts per card (by pseudonym): 10 an hour (book, cancel, book again fit easily).
    per_card: Mutex<Limiter>,
}

impl Desk {
    pub fn new(signer: BookingSigner) -> Desk {
        Desk {
            signer,
            per_client: Mutex::new(Limiter::new(20, Duration::from_secs(600))),
            per_card: Mutex::new(Limiter::new(10, Duration::from_secs(3600))),
        }
    }

    /// The public key the halls need, as the catalogue carries it.
    pub fn public_hex(&self) -> String {
        self.signer.public_hex()
    }

    /// The token of a booking.
    pub fn token(&self, b: &Booking) -> Result<String, onestop_sync::booking_token::TokenError> {
        self.signer.sign(&BookingClaim::of(b))
    }
}

/// Puts the booking key into the published catalogue if it is not there yet, so every hall
/// holds it before it is offline. Nothing is written before a catalogue is published
/// (`onestop-cloud init` publishes the key with it).
pub fn publish_key(backend: &Backend, now: Timestamp) -> Result<(), String> {
    let key = backend.bookings.public_hex();
    let exists = backend.store().doc(&DocId::Catalog).map_err(|e| e.to_string())?.is_some();
    if !exists || backend.catalog().map_err(|e| e.to_string())?.booking_key.as_deref() == Some(key.as_str()) {
        return Ok(());
    }
    backend.publish(now, |c| {
        c.booking_key = Some(key);
        Ok(())
    })?;
    tracing::info!(message = "Booking key published in the catalogue.");
    Ok(())
}

// ----- Slots -----

/// A slot of a day, with its places left for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    /// Local minutes since midnight.
    start_min: u16,
    end_min: u16,
    start: Timestamp,
    end: Timestamp,
    left: u32,
    /// Started already (or about to): not bookable.
    past: bool,
}

impl Slot {
    fn label(&self) -> String {
        let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        format!("{}–{}", hm(self.start_min), hm(self.end_min))
    }
}

/// The hall's local day now.
fn today(hall: &Hall, now: Timestamp) -> Day {
    now.day(hall.utc_offset_minutes)
}

/// The days a visitor may book at `hall` now, in order.
fn bookable_days(hall: &Hall, now: Timestamp) -> Vec<Day> {
    let first = today(hall, now);
    (0..=hall.booking.days_ahead as i32)
        .map(|n| first.plus_days(n))
        .filter(|d| hall.booking.open_on(*d))
        .collect()
}

/// Bookings that still hold a place.
fn holds_place(b: &Booking) -> bool {
    b.status() != BookingStatus::Cancelled
}

fn slots(hall: &Hall, day: Day, service: &ServiceId, known: &[Booking], now: Timestamp) -> Vec<Slot> {
    let midnight = day.start(hall.utc_offset_minutes);
    hall.booking
        .slots()
        .into_iter()
        .map(|(s, e)| {
            let start = midnight.plus_minutes(i64::from(s));
            let taken = known
                .iter()
                .filter(|b| &b.service == service && b.slot_start == start && holds_place(b))
                .count() as u32;
            Slot {
                start_min: s,
                end_min: e,
                start,
                end: midnight.plus_minutes(i64::from(e)),
                left: hall.booking.capacity.saturating_sub(taken),
                past: start <= now,
            }
        })
        .collect()
}

/// The bookings of a hall's day (none when there is no document yet).
fn read_day(store: &mut onestop_sync::Store, hall: &HallId, day: Day) -> Result<Vec<Booking>, String> {
    let id = DocId::Bookings { hall: hall.clone(), day };
    match store.doc(&id).map_err(|e| e.to_string())? {
        Some(doc) => bookings::read(doc, &id.to_string()).map_err(|e| e.to_string()),
        None => Ok(Vec::new()),
    }
}

/// The services a hall serves (at any window), in catalogue order.
fn served<'a>(catalog: &'a Catalog, hall: &Hall) -> Vec<&'a Service> {
    catalog
        .services
        .values()
        .filter(|s| hall.windows.iter().any(|w| w.services.iter().any(|ws| ws.service == s.id)))
        .collect()
}

// ----- Pages -----

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
pub async fn halls(State(web): State<WebState>, lang: Lang) -> Response {
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
pub async fn services(State(web): State<WebState>, lang: Lang, Path(hall): Path<String>) -> Response {
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
    State(web): State<WebState>,
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
    let t = now();
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
    let backend = web.backend.clone();
    let (hall_id, service_id, hall_c) = (h.id.clone(), s.id.clone(), h.clone());
    let found = tokio::task::spawn_blocking(move || -> Result<(Option<Day>, Vec<Slot>), String> {
        let mut store = backend.store();
        let candidates: Vec<Day> = chosen.map_or(days, |d| vec![d]);
        let mut first = None;
        for d in candidates {
            let list = slots(&hall_c, d, &service_id, &read_day(&mut store, &hall_id, d)?, t);
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

/// A card number as typed: spaces dropped, at most 32 characters.
fn normalize_card(raw: &str) -> String {
    raw.chars().filter(|c| !c.is_whitespace()).take(33).collect()
}

/// Why a booking was not made.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    Full,
    Twice,
    Store(String),
}

/// Checks the slot's places and the visitor's other bookings and writes the booking, all
/// under the store's lock.
fn make(backend: &Backend, b: &mut Booking, capacity: u32, now: Timestamp) -> Result<(), Refusal> {
    let id = DocId::Bookings { hall: b.hall.clone(), day: b.day };
    let visitor = b.visitor.as_ref().map(|v| v.id.to_string()).unwrap_or_default();
    let mut store = backend.store();
    let known = read_day(&mut store, &b.hall, b.day).map_err(Refusal::Store)?;
    let taken = known
        .iter()
        .filter(|k| k.service == b.service && k.slot_start == b.slot_start && holds_place(k))
        .count();
    if taken as u32 >= capacity {
        return Err(Refusal::Full);
    }
    let db = backend.db();
    let twice: Option<String> = db
        .query_row(
            "SELECT code FROM bookings WHERE visitor = ?1 AND day = ?2 AND service = ?3 AND cancelled_ms IS NULL",
            params![visitor, b.day.to_string(), b.service.as_str()],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| Refusal::Store(e.to_string()))?;
    if twice.is_some() {
        return Err(Refusal::Twice);
    }
    // A code no other booking has (the hall looks today's bookings up by code).
    loop {
        let taken: bool = db
            .query_row("SELECT 1 FROM bookings WHERE code = ?1", params![b.code], |_| Ok(true))
            .optional()
            .map_err(|e| Refusal::Store(e.to_string()))?
            .unwrap_or(false);
        if !taken {
            break;
        }
        b.code = random_code(6);
    }
    let stamp = store.next_stamp(now);
    store
        .write(stamp, |batch| batch.edit(&id, |tx| Ok(bookings::put(tx, b)?)))
        .map_err(|e| Refusal::Store(e.to_string()))?;
    db.execute(
        "INSERT INTO bookings (code, id, hall, day, service, visitor, slot_start_ms, made_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            b.code,
            b.id.as_str(),
            b.hall.as_str(),
            b.day.to_string(),
            b.service.as_str(),
            visitor,
            b.slot_start.0,
            now.0
        ],
    )
    .map_err(|e| Refusal::Store(e.to_string()))?;
    drop(db);
    drop(store);
    let _ = backend.changes.send(id);
    Ok(())
}

/// Checks the per-client limit (and counts the attempt).
fn client_limit(desk: &Desk, lang: Lang, client: ClientIp, t: Timestamp) -> Result<(), Response> {
    let mut l = lock(&desk.per_client);
    if let Some(until) = l.blocked_until(&client.key(), t) {
        tracing::info!(message = "Booking attempts limited.", client = %client.key());
        return Err(private(too_many(lang, "预约操作", "booking attempts", until, t)));
    }
    l.hit(&client.key(), t);
    Ok(())
}

/// Checks the per-card limit (and counts the attempt).
fn card_limit(desk: &Desk, lang: Lang, visitor: &str, t: Timestamp) -> Result<(), Response> {
    let mut l = lock(&desk.per_card);
    if let Some(until) = l.blocked_until(visitor, t) {
        return Err(private(too_many(
            lang,
            "该校园卡的预约操作",
            "booking attempts with this card",
            until,
            t,
        )));
    }
    l.hit(visitor, t);
    Ok(())
}

/// The visitor a card stands for; `None` when the cloud's card directory does not know it.
fn visitor_of(backend: &Backend, card: &str) -> Result<Option<Visitor>, String> {
    let id = backend.visitor_key.pseudonym(card);
    let mut store = backend.store();
    Ok(match store.doc(&DocId::Cards).map_err(|e| e.to_string())? {
        Some(doc) => cards::lookup(doc, card).map_err(|e| e.to_string())?.map(|e| Visitor {
            id,
            kind: e.kind,
            college: e.college,
        }),
        None => Some(Visitor { id, kind: PersonKind::Other, college: String::new() }),
    })
}

/// `POST /book/{hall}/{service}`: books the slot; answers with the confirmation.
pub async fn book(
    State(web): State<WebState>,
    lang: Lang,
    csrf: PublicCsrf,
    client: ClientIp,
    Path((hall, service)): Path<(String, String)>,
    axum::Form(f): axum::Form<BookForm>,
) -> Response {
    if !csrf.check(&f.csrf) {
        return csrf_refused(lang);
    }
    let t = now();
    let desk = &web.backend.bookings;
    if let Err(r) = client_limit(desk, lang, client, t) {
        return r;
    }
    let site = web.cache.get();
    let (h, s) = match hall_and_service(lang, &site.catalog, &hall, &service) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let back = format!("/book/{}/{}?day={}", h.id, s.id, f.day);
    let Some(day) = f.day.parse::<Day>().ok().filter(|d| bookable_days(h, t).contains(d)) else {
        return refuse(
            lang,
            StatusCode::BAD_REQUEST,
            "这一天不能预约：请从列出的日期中选择。",
            "That day cannot be booked: choose one of the days listed.",
            &format!("/book/{}/{}", h.id, s.id),
        );
    };
    let Some(slot) = f
        .slot
        .parse::<u16>()
        .ok()
        .and_then(|m| slots(h, day, &s.id, &[], t).into_iter().find(|sl| sl.start_min == m))
    else {
        return refuse(lang, StatusCode::BAD_REQUEST, "请选择一个时段。", "Choose a slot.", &back);
    };
    if slot.past {
        return refuse(
            lang,
            StatusCode::CONFLICT,
            "这个时段已经开始，不能再预约：请选择稍后的时段。",
            "This slot has already begun: choose a later one.",
            &back,
        );
    }
    let card = normalize_card(&f.card);
    if card.is_empty() || card.len() > 32 || !card.chars().all(|c| c.is_ascii_alphanumeric()) {
        return refuse(
            lang,
            StatusCode::BAD_REQUEST,
            "请填写校园卡号（字母和数字，最多 32 位）。",
            "Enter your campus card number (letters and digits, at most 32).",
            &back,
        );
    }
    let backend = web.backend.clone();
    let visitor = {
        let card = card.clone();
        tokio::task::spawn_blocking(move || visitor_of(&backend, &card)).await
    };
    let visitor = match visitor {
        Ok(Ok(Some(v))) => v,
        Ok(Ok(None)) => {
            // Counted against the card too: guessing numbers is slowed down.
            if let Err(r) = card_limit(desk, lang, web.backend.visitor_key.pseudonym(&card).as_str(), t) {
                return r;
            }
            return refuse(
                lang,
                StatusCode::BAD_REQUEST,
                "校园卡号不在校园卡名录中，请核对后重试。",
                "This campus card number is not in the card directory: check it and try again.",
                &back,
            );
        }
        Ok(Err(error)) => {
            tracing::error!(message = "Cannot read the card directory.", %error);
            return refuse(
                lang,
                StatusCode::INTERNAL_SERVER_ERROR,
                "暂时无法预约，请稍后再试。",
                "Booking is not possible just now: try again later.",
                &back,
            );
        }
        Err(error) => {
            tracing::error!(message = "Cannot read the card directory.", %error);
            return refuse(
                lang,
                StatusCode::INTERNAL_SERVER_ERROR,
                "暂时无法预约，请稍后再试。",
                "Booking is not possible just now: try again later.",
                &back,
            );
        }
    };
    if let Err(r) = card_limit(desk, lang, visitor.id.as_str(), t) {
        return r;
    }
    let mut b = Booking {
        id: BookingId::new(random_code(10).to_lowercase()),
        hall: h.id.clone(),
        day,
        service: s.id.clone(),
        slot_start: slot.start,
        slot_end: slot.end,
        visitor: Some(visitor),
        code: random_code(6),
        history: vec![BookingStep { at: t, status: BookingStatus::Booked, by: "web".into() }],
    };
    let backend = web.backend.clone();
    let capacity = h.booking.capacity;
    let made = tokio::task::spawn_blocking(move || {
        if let Err(error) = publish_key(&backend, t) {
            tracing::warn!(message = "Cannot publish the booking key.", %error);
        }
        make(&backend, &mut b, capacity, t).map(|()| b)
    })
    .await
    .unwrap_or_else(|e| Err(Refusal::Store(e.to_string())));
    let b = match made {
        Ok(b) => b,
        Err(Refusal::Full) => {
            return refuse(
                lang,
                StatusCode::CONFLICT,
                "这个时段刚刚约满了，请选择其他时段。",
                "This slot has just filled up: choose another one.",
                &back,
            );
        }
        Err(Refusal::Twice) => {
            return refuse(
                lang,
                StatusCode::CONFLICT,
                "您当天已预约过这个事项（每人每天每个事项限一次）。如需改时段，请先取消原预约。",
                "You have already booked this service on that day (one booking per person, service and day). To change the slot, cancel the other booking first.",
                &back,
            );
        }
        Err(Refusal::Store(error)) => {
            tracing::error!(message = "Cannot write a booking.", %error);
            return refuse(
                lang,
                StatusCode::INTERNAL_SERVER_ERROR,
                "暂时无法预约，请稍后再试。",
                "Booking is not possible just now: try again later.",
                &back,
            );
        }
    };
    tracing::info!(message = "Booked.", hall = %b.hall, day = %b.day, service = %b.service);
    private(confirmation(lang, desk, h, s, &b))
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

#[derive(Debug, PartialEq, Eq)]
enum CancelRefusal {
    NotFound,
    Already,
    CheckedIn,
    Started,
    Store(String),
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
            CancelRefusal::Store(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "暂时无法取消，请稍后再试。",
                "The booking cannot be cancelled just now: try again later.",
            ),
        }
    }
}

/// Cancels the booking with `code` made with `visitor`'s card.
fn cancel(backend: &Backend, code: &str, visitor: &str, now: Timestamp) -> Result<Booking, CancelRefusal> {
    let row: Option<(String, String, String, Option<i64>, String)> = backend
        .db()
        .query_row(
            "SELECT id, hall, day, cancelled_ms, visitor FROM bookings WHERE code = ?1",
            params![code],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()
        .map_err(|e| CancelRefusal::Store(e.to_string()))?;
    let Some((id, hall, day, cancelled, owner)) = row else { return Err(CancelRefusal::NotFound) };
    if !crate::office::auth::same_secret(&owner, visitor) {
        return Err(CancelRefusal::NotFound);
    }
    if cancelled.is_some() {
        return Err(CancelRefusal::Already);
    }
    let hall = HallId::new(hall);
    let day: Day = day.parse().map_err(|_| CancelRefusal::Store(format!("bad day {day}")))?;
    let doc = DocId::Bookings { hall: hall.clone(), day };
    let mut store = backend.store();
    let b = read_day(&mut store, &hall, day)
        .map_err(CancelRefusal::Store)?
        .into_iter()
        .find(|b| b.id.as_str() == id)
        .ok_or(CancelRefusal::NotFound)?;
    // A hall that did not hold the bookings document when the visitor scanned the token
    // records the check-in only as the ticket it issued: look in its day too.
    let ticketed = match store.doc(&DocId::Day { hall: hall.clone(), day }) {
        Ok(Some(doc)) => onestop_sync::day::read(doc, "day")
            .map_err(|e| CancelRefusal::Store(e.to_string()))?
            .events
            .iter()
            .any(|e| matches!(e, DayEvent::Issued { source: Source::Booking { booking, .. }, .. } if booking.as_str() == id)),
        Ok(None) => false,
        Err(e) => return Err(CancelRefusal::Store(e.to_string())),
    };
    if ticketed {
        return Err(CancelRefusal::CheckedIn);
    }
    match b.status() {
        BookingStatus::CheckedIn => return Err(CancelRefusal::CheckedIn),
        BookingStatus::Cancelled => return Err(CancelRefusal::Already),
        _ if b.slot_start <= now => return Err(CancelRefusal::Started),
        _ => {}
    }
    let step = BookingStep { at: now, status: BookingStatus::Cancelled, by: "web".into() };
    let stamp = store.next_stamp(now);
    store
        .write(stamp, |batch| batch.edit(&doc, |tx| Ok(bookings::add_step(tx, &b.id, &step)?)))
        .map_err(|e| CancelRefusal::Store(e.to_string()))?;
    backend
        .db()
        .execute("UPDATE bookings SET cancelled_ms = ?1 WHERE code = ?2", params![now.0, code])
        .map_err(|e| CancelRefusal::Store(e.to_string()))?;
    drop(store);
    let _ = backend.changes.send(doc);
    Ok(b)
}

/// `POST /book/cancel`.
pub async fn cancel_post(
    State(web): State<WebState>,
    lang: Lang,
    csrf: PublicCsrf,
    client: ClientIp,
    axum::Form(f): axum::Form<CancelForm>,
) -> Response {
    if !csrf.check(&f.csrf) {
        return csrf_refused(lang);
    }
    let t = now();
    let desk = &web.backend.bookings;
    if let Err(r) = client_limit(desk, lang, client, t) {
        return r;
    }
    let card = normalize_card(&f.card);
    let code: String =
        f.code.chars().filter(|c| !c.is_whitespace()).take(16).collect::<String>().to_uppercase();
    let visitor = web.backend.visitor_key.pseudonym(&card);
    if let Err(r) = card_limit(desk, lang, visitor.as_str(), t) {
        return r;
    }
    let backend = web.backend.clone();
    let done = tokio::task::spawn_blocking(move || cancel(&backend, &code, visitor.as_str(), t))
        .await
        .unwrap_or_else(|e| Err(CancelRefusal::Store(e.to_string())));
    let back = "/book/cancel";
    let b = match done {
        Ok(b) => b,
        Err(refusal) => {
            if let CancelRefusal::Store(error) = &refusal {
                tracing::error!(message = "Cannot cancel a booking.", %error);
            }
            let (status, zh, en) = refusal.message();
            return refuse(lang, status, zh, en, back);
        }
    };
    let site = web.cache.get();
    let offset = site.catalog.halls.get(&b.hall).map_or(480, |h| h.utc_offset_minutes);
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
