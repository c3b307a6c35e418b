//! Online reservations through the website's router: booking with a signed QR code, capacity
//! (also under concurrent requests), one booking per visitor, service and day, cancelling,
//! the card directory, rate limits, CSRF and escaping.

use crate::app::{AppState, app};
use crate::core::Core;
use crate::site::{Cache, Site};
use axum::Router;
use axum::http::{StatusCode, header};
use onestop_model::{
    BookingRules, BookingStatus, BookingStep, CardEntry, CaseKind, Catalog, Day, Department, DepartmentId,
    Hall, HallId, PersonKind, QueueRules, Service, ServiceId, Text, Window, WindowService,
};
use onestop_protocol::booking_token::BookingVerifier;
use onestop_protocol::{DocId, bookings, cards};
use std::sync::Arc;

const EVIL: &str = "<script>alert('x')</script>";
/// A public form's double-submit token (any 64 characters the cookie and the field share).
const PUBLIC: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn catalog() -> Catalog {
    let mut c = Catalog::default();
    c.departments.insert(
        DepartmentId::new("registry"),
        Department { id: DepartmentId::new("registry"), name: Text::new("教务处", "Registry") },
    );
    for (id, name, prefix) in [("transcript", "成绩单", 'B'), ("evil", EVIL, 'C')] {
        c.services.insert(
            ServiceId::new(id),
            Service {
                id: ServiceId::new(id),
                department: DepartmentId::new("registry"),
                name: Text::new(name, name),
                prefix,
                kind: CaseKind::Pending,
                guide: Text::default(),
                expected_minutes: 4,
            },
        );
    }
    let ws = |s: &str| WindowService { service: ServiceId::new(s), weight: 1 };
    c.halls.insert(
        HallId::new("main"),
        Hall {
            id: HallId::new("main"),
            name: Text::new("一站式服务大厅", "One-stop hall"),
            address: Text::new(EVIL, "Administration Building"),
            utc_offset_minutes: 480,
            windows: vec![Window {
                number: 1,
                name: Text::default(),
                services: vec![ws("transcript"), ws("evil")],
            }],
            rules: QueueRules::default(),
            // Every day, all day: the tests book tomorrow, whatever the time now.
            booking: BookingRules {
                periods: vec!["00:00-24:00".parse().unwrap()],
                slot_minutes: 30,
                capacity: 2,
                days_ahead: 7,
                weekends: true,
                enabled: true,
            },
        },
    );
    c
}

struct Web {
    app: Router,
    core: Arc<Core>,
}

/// A website whose store holds the published catalogue.
fn web() -> Web {
    let core = Arc::new(crate::testkit::core());
    core.publish(|c| {
        *c = catalog();
        Ok(())
    })
    .unwrap();
    let site = Site { catalog: Arc::new(catalog()), halls: Default::default() };
    let app = app(AppState::new(Cache::with(site), core.clone(), crate::stats::StatsDb::memory()));
    Web { app, core }
}

fn tomorrow() -> Day {
    crate::testkit::now().day(480).next()
}

use crate::testkit::Resp;

/// A request from client `ip` (through the local proxy's `X-Forwarded-For`).
async fn send(app: &Router, method: &str, uri: &str, cookie: &str, ip: &str, form: &str) -> Resp {
    crate::testkit::send_from(app, method, uri, cookie, ip, form).await
}

/// Books `slot` ("HH:MM") of `day` for `service` with `card`, from client `ip`.
async fn book(app: &Router, ip: &str, service: &str, day: Day, slot: &str, card: &str) -> Resp {
    let (h, m) = slot.split_once(':').unwrap();
    let minutes: u16 = h.parse::<u16>().unwrap() * 60 + m.parse::<u16>().unwrap();
    let form = format!("csrf={PUBLIC}&day={day}&slot={minutes}&card={card}");
    send(app, "POST", &format!("/book/main/{service}"), &format!("csrf={PUBLIC}"), ip, &form).await
}

async fn cancel(app: &Router, ip: &str, code: &str, card: &str) -> Resp {
    let form = format!("csrf={PUBLIC}&code={code}&card={card}");
    send(app, "POST", "/book/cancel", &format!("csrf={PUBLIC}"), ip, &form).await
}

fn between<'a>(body: &'a str, start: &str, end: &str) -> &'a str {
    let i = body.find(start).unwrap_or_else(|| panic!("no {start} in:\n{body}")) + start.len();
    &body[i..i + body[i..].find(end).unwrap()]
}

/// The code on a confirmation page.
fn code_of(body: &str) -> String {
    between(body, "id=\"booking-code\">", "<").to_string()
}

fn stored(core: &Core, day: Day) -> Vec<onestop_model::Booking> {
    let id = DocId::Bookings { hall: HallId::new("main"), day };
    let mut store = core.store();
    store.doc(&id).unwrap().map(|d| bookings::read(d, "t").unwrap()).unwrap_or_default()
}

#[tokio::test]
async fn a_visitor_books_a_slot_and_gets_a_code_and_a_signed_qr_code() {
    let w = web();
    let mut changes = w.core.changes.subscribe();
    let r = send(&w.app, "GET", "/book", "", "10.0.0.1", "").await;
    assert!(r.body.contains("href=\"/book/main\""), "{}", r.body);
    let r = send(&w.app, "GET", "/book/main", "", "10.0.0.1", "").await;
    assert!(r.body.contains("href=\"/book/main/transcript\""));
    let r =
        send(&w.app, "GET", &format!("/book/main/transcript?day={}", tomorrow()), "", "10.0.0.1", "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers[header::SET_COOKIE].to_str().unwrap().starts_with("csrf="), "the form's cookie");
    assert!(r.body.contains("data-slot=\"09:00–09:30\" data-left=\"2\""), "{}", r.body);
    assert!(r.body.contains("余 2 个"));

    let r = book(&w.app, "10.0.0.1", "transcript", tomorrow(), "09:00", "20230001").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    let code = code_of(&r.body);
    assert_eq!(code.len(), 6);
    assert!(r.body.contains(&format!("{} 09:00–09:30", tomorrow())), "the slot");
    assert!(r.body.contains("&lt;script&gt;"), "the hall's address, escaped");
    assert!(r.body.contains("<svg") && r.body.contains("<path"), "an inline QR code");
    assert!(!r.body.contains("<?xml"));
    let token = between(&r.body, "data-token=\"", "\"");
    // The catalogue carries the key the token verifies with.
    let key = w.core.catalog().unwrap().booking_key.expect("the booking key is published");
    let claim = BookingVerifier::from_hex(&key).unwrap().verify(token).unwrap();
    assert_eq!((claim.code.as_str(), claim.hall.as_str(), claim.day), (code.as_str(), "main", tomorrow()));
    assert_eq!(claim.visitor.as_ref().unwrap().id, w.core.visitor_key.pseudonym("20230001"));

    // Stored in the hall's bookings document, the sync listener told; no card number kept.
    let list = stored(&w.core, tomorrow());
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].code, code);
    assert_eq!(list[0].status(), BookingStatus::Booked);
    assert_eq!(claim.booking, list[0].id);
    let mut told = Vec::new();
    while let Ok(id) = changes.try_recv() {
        told.push(id);
    }
    assert!(told.contains(&DocId::Bookings { hall: HallId::new("main"), day: tomorrow() }), "{told:?}");
    assert!(!format!("{list:?}").contains("20230001"), "the card number is not in the document");
    let in_db: i64 = w
        .core
        .db()
        .query_row(
            "SELECT count(*) FROM bookings WHERE visitor LIKE '%20230001%' OR code LIKE '%20230001%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(in_db, 0);

    // The page shows one place fewer.
    let r =
        send(&w.app, "GET", &format!("/book/main/transcript?day={}", tomorrow()), "", "10.0.0.1", "").await;
    assert!(r.body.contains("data-slot=\"09:00–09:30\" data-left=\"1\""));
}

#[tokio::test]
async fn capacity_is_never_exceeded_even_when_visitors_race() {
    let w = web();
    // Eight visitors at once for the same slot (capacity 2), each from their own address.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let app = w.app.clone();
        tasks.push(tokio::spawn(async move {
            book(&app, &format!("10.1.0.{i}"), "transcript", tomorrow(), "10:00", &format!("2023100{i}"))
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            StatusCode::OK => ok += 1,
            StatusCode::CONFLICT => assert!(r.body.contains("刚刚约满") && r.body.contains("just filled up")),
            other => panic!("{other}: {}", r.body),
        }
    }
    assert_eq!(ok, 2);
    assert_eq!(stored(&w.core, tomorrow()).len(), 2);
    let r =
        send(&w.app, "GET", &format!("/book/main/transcript?day={}", tomorrow()), "", "10.0.0.1", "").await;
    assert!(r.body.contains("data-slot=\"10:00–10:30\" data-left=\"0\""));
    assert!(r.body.contains("已约满"));
    // Another service's places are its own.
    assert_eq!(
        book(&w.app, "10.1.1.1", "evil", tomorrow(), "10:00", "20231009").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn one_booking_per_visitor_service_and_day_and_a_cancellation_frees_the_place() {
    let w = web();
    let first = book(&w.app, "10.2.0.1", "transcript", tomorrow(), "11:00", "20232001").await;
    assert_eq!(first.status, StatusCode::OK);
    let again = book(&w.app, "10.2.0.1", "transcript", tomorrow(), "15:00", "20232001").await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("每人每天每个事项限一次") && again.body.contains("one booking per person"));
    // Another day, or another service: fine.
    let other_day = tomorrow().next();
    assert_eq!(
        book(&w.app, "10.2.0.1", "transcript", other_day, "11:00", "20232001").await.status,
        StatusCode::OK
    );
    assert_eq!(
        book(&w.app, "10.2.0.1", "evil", tomorrow(), "11:00", "20232001").await.status,
        StatusCode::OK
    );
    // Full slot, then a cancellation frees a place.
    assert_eq!(
        book(&w.app, "10.2.0.2", "transcript", tomorrow(), "11:00", "20232002").await.status,
        StatusCode::OK
    );
    assert_eq!(
        book(&w.app, "10.2.0.3", "transcript", tomorrow(), "11:00", "20232003").await.status,
        StatusCode::CONFLICT
    );
    let code = code_of(&first.body);
    let wrong = cancel(&w.app, "10.2.0.1", &code, "20232999").await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND, "only with the card it was booked with");
    assert!(wrong.body.contains("校园卡号与预约不符"));
    let done = cancel(&w.app, "10.2.0.1", &code.to_lowercase(), "20232001").await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("id=\"cancelled\""));
    let b = stored(&w.core, tomorrow()).into_iter().find(|b| b.code == code).unwrap();
    assert_eq!(b.status(), BookingStatus::Cancelled, "a cancelled step in the document");
    let twice = cancel(&w.app, "10.2.0.1", &code, "20232001").await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    assert!(twice.body.contains("已经取消"));
    assert_eq!(
        book(&w.app, "10.2.0.3", "transcript", tomorrow(), "11:00", "20232003").await.status,
        StatusCode::OK
    );
    // The visitor may book that service that day again.
    assert_eq!(
        book(&w.app, "10.2.0.1", "transcript", tomorrow(), "16:00", "20232001").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_booking_checked_in_at_the_hall_cannot_be_cancelled() {
    let w = web();
    let r = book(&w.app, "10.3.0.1", "transcript", tomorrow(), "09:30", "20233001").await;
    let code = code_of(&r.body);
    let b = stored(&w.core, tomorrow()).remove(0);
    let id = DocId::Bookings { hall: HallId::new("main"), day: tomorrow() };
    let step = BookingStep { at: crate::testkit::now(), status: BookingStatus::CheckedIn, by: "main".into() };
    w.core
        .write_doc(std::slice::from_ref(&id), |batch| {
            batch.edit(&id, |tx| Ok(bookings::add_step(tx, &b.id, &step)?))
        })
        .unwrap();
    let r = cancel(&w.app, "10.3.0.1", &code, "20233001").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("已在大厅签到") && r.body.contains("checked in at the hall"));
}

#[tokio::test]
async fn a_booking_a_hall_ticketed_from_its_token_alone_cannot_be_cancelled() {
    // The hall did not hold the bookings document: its only record is the ticket's source.
    let w = web();
    let r = book(&w.app, "10.3.0.2", "transcript", tomorrow(), "10:00", "20233002").await;
    let code = code_of(&r.body);
    let b = stored(&w.core, tomorrow()).remove(0);
    let id = DocId::Day { hall: HallId::new("main"), day: tomorrow() };
    let issued = onestop_model::DayEvent::Issued {
        at: b.slot_start.plus_minutes(-10),
        ticket: onestop_model::TicketNo::new('B', 1),
        service: b.service.clone(),
        source: onestop_model::Source::Booking {
            booking: b.id.clone(),
            slot_start: b.slot_start,
            slot_end: b.slot_end,
            visitor: b.visitor.clone(),
        },
        priority: onestop_model::Priority::Normal,
        ahead: 0,
        wait_estimate_min: 0,
    };
    w.core
        .write_doc(std::slice::from_ref(&id), |batch| {
            batch.edit(&id, |tx| {
                Ok(onestop_protocol::day::append(tx, &HallId::new("main"), tomorrow(), 480, &[issued])?)
            })
        })
        .unwrap();
    let r = cancel(&w.app, "10.3.0.2", &code, "20233002").await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body.contains("已在大厅签到"));
}

#[tokio::test]
async fn with_a_card_directory_only_its_cards_book() {
    let w = web();
    let entry =
        CardEntry { card: "20234001".into(), kind: PersonKind::Graduate, college: "法学院".into() };
    w.core
        .write_doc(&[DocId::Cards], |b| b.edit(&DocId::Cards, |tx| Ok(cards::replace_all(tx, &[entry])?)))
        .unwrap();
    let r = book(&w.app, "10.4.0.1", "transcript", tomorrow(), "09:00", "99999999").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("不在校园卡名录中") && r.body.contains("not in the card directory"));
    let r = book(&w.app, "10.4.0.1", "transcript", tomorrow(), "09:00", "20234001").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v = stored(&w.core, tomorrow()).remove(0).visitor.unwrap();
    assert_eq!((v.kind, v.college.as_str()), (PersonKind::Graduate, "法学院"));
    let r = book(&w.app, "10.4.0.1", "transcript", tomorrow(), "09:00", "2023%3Cb%3E").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "a card number is letters and digits");
    assert!(r.body.contains("请填写校园卡号"));
}

#[tokio::test]
async fn bad_days_and_slots_say_what_is_wrong() {
    let w = web();
    let far = tomorrow().plus_days(30);
    let r = book(&w.app, "10.5.0.1", "transcript", far, "09:00", "20235001").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("这一天不能预约") && r.body.contains("That day cannot be booked"));
    let r = book(&w.app, "10.5.0.1", "transcript", tomorrow(), "09:10", "20235001").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("请选择一个时段"));
    let yesterday = tomorrow().plus_days(-2);
    let r = book(&w.app, "10.5.0.1", "transcript", yesterday, "09:00", "20235001").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = book(&w.app, "10.5.0.1", "nothing", tomorrow(), "09:00", "20235001").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("该大厅不办理这个事项"));
    let r = send(&w.app, "GET", "/book/nowhere", "", "10.5.0.1", "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("没有这个大厅"));
    let r = send(&w.app, "GET", "/book/main/transcript?day=%3Cscript%3E", "", "10.5.0.1", "").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(!r.body.contains("<script>"), "nothing typed comes back as markup");
}

#[tokio::test]
async fn booking_is_rate_limited_per_client_and_per_card() {
    let w = web();
    for i in 0..20 {
        let r = book(&w.app, "10.6.0.1", "transcript", tomorrow(), "13:00", &format!("2023600{i}")).await;
        assert_ne!(r.status, StatusCode::TOO_MANY_REQUESTS, "attempt {i}");
    }
    let r = book(&w.app, "10.6.0.1", "transcript", tomorrow(), "13:00", "20236099").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.contains_key(header::RETRY_AFTER));
    assert!(
        r.body.contains("预约操作过于频繁") && r.body.contains("Too many booking attempts"),
        "{}",
        r.body
    );
    let r = cancel(&w.app, "10.6.0.1", "ABCDEF", "20236099").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "cancelling counts too");
    assert_eq!(
        book(&w.app, "10.6.0.2", "transcript", tomorrow(), "13:30", "20236098").await.status,
        StatusCode::OK,
        "another client is not limited"
    );
    // One card from many addresses: ten attempts an hour.
    for i in 0..9 {
        let r = cancel(&w.app, &format!("10.7.0.{i}"), "ABCDEF", "20237001").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(
        book(&w.app, "10.7.1.1", "transcript", tomorrow(), "14:00", "20237001").await.status,
        StatusCode::OK
    );
    let r = book(&w.app, "10.7.1.2", "evil", tomorrow(), "14:00", "20237001").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.body.contains("该校园卡的预约操作过于频繁"));
}

#[tokio::test]
async fn booking_forms_refuse_a_missing_or_forged_csrf_token() {
    let w = web();
    let forged = "f".repeat(64);
    let day = tomorrow();
    for (path, form) in [
        ("/book/main/transcript".to_string(), format!("day={day}&slot=540&card=20238001")),
        ("/book/cancel".to_string(), "code=ABCDEF&card=20238001".to_string()),
    ] {
        for csrf in [String::new(), forged.clone()] {
            for cookie in [format!("csrf={PUBLIC}"), String::new()] {
                let r =
                    send(&w.app, "POST", &path, &cookie, "10.8.0.1", &format!("csrf={csrf}&{form}")).await;
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{path} csrf '{csrf}' cookie '{cookie}'");
            }
        }
    }
    assert!(stored(&w.core, day).is_empty());
}

#[tokio::test]
async fn catalogue_text_is_escaped_on_every_booking_page() {
    let w = web();
    for path in ["/book".to_string(), "/book/main".to_string(), format!("/book/main/evil?day={}", tomorrow())]
    {
        let r = send(&w.app, "GET", &path, "", "10.9.0.1", "").await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(!r.body.contains("<script>alert"), "{path}:\n{}", r.body);
    }
    let r = send(&w.app, "GET", &format!("/book/main/evil?day={}", tomorrow()), "", "10.9.0.1", "").await;
    assert!(r.body.contains("&lt;script&gt;alert"), "the name is shown, escaped");
    let r = book(&w.app, "10.9.0.1", "evil", tomorrow(), "09:00", "20239001").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.body.contains("<script>alert") && r.body.contains("&lt;script&gt;alert"));
    assert_eq!(r.body.matches("<script").count(), r.body.matches("<script src=\"/site.js\"").count());
    // The site's header links here.
    assert!(r.body.contains("<a href=\"/book\">"));
}
