//! Online reservations end to end, against a real cloud (`onestop-cloud serve` with its
//! website) and a real hall (`onestop-edge run`) enrolled with a join token:
//!
//! - in headless Chromium a visitor books a slot on the campus website and gets a code and a
//!   QR code; the booking reaches the hall through real sync; at the hall's kiosk the QR code's
//!   token is scanned (typed, as a keyboard-like scanner does) on the first page; a ticket is
//!   issued from the booking and window 1 calls, serves and finishes it; the visitor rates it
//!   非常满意 and the campus statistics count the rating; the check-in comes back to the
//!   cloud, which then refuses to cancel the booking;
//! - a hall offline since before the booking (its cloud address unreachable) still checks the
//!   token in, with the key it got in the catalogue; its 6-character code is unknown there.
//!
//! The catalogue is the demo's with bookings all day, every day, in 5-minute slots, so a slot
//! is always about to start whatever the time of the test. Screenshots go to
//! `target/screenshots/booking-*.png`.

use fantoccini::{Client, Locator};
use onestop_model::{Day, DayEvent, HallId, Source};
use onestop_protocol::{DocId, day};
use onestop_store::{Durability, Store};
use onestop_tests::bin;
use onestop_tests::browser::{Driver, screenshot, wait_on};
use onestop_tests::campus::{Campus, CloudOptions};
use onestop_tests::hall::{HallProcess, counter_action, get, request, staff_cookie, with_cookie};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(40);

fn catalog(dir: &Path) -> PathBuf {
    onestop_tests::campus::bookable_catalog(dir, None)
}

fn campus(dir: &Path) -> Campus {
    Campus::start_with_options(
        dir,
        CloudOptions { web: true, catalog: Some(catalog(dir)), ..CloudOptions::default() },
    )
}

fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < LIMIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How many chunks of `doc` the hall's store holds (read beside the running hall).
fn chunks(hall: &HallProcess, doc: &str) -> i64 {
    let db = rusqlite::Connection::open_with_flags(
        hall.data.join("onestop.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    db.query_row("SELECT count(*) FROM chunks WHERE doc = ?1", [doc], |r| r.get(0)).unwrap_or(0)
}

/// Staff member `wang` logs in at window 1 (the check-in) and calls the next visitor;
/// returns the staff session.
fn check_in_and_call(hall: &HallProcess) -> String {
    let (status, answer) =
        with_cookie(hall.addr, "POST", "/counter/login", "", "window=1&staff=wang&pin=2468");
    assert_eq!(status, 303, "the login: {answer}");
    let cookie = staff_cookie(&answer).expect("a staff session");
    counter_action(hall.addr, &cookie, 1, "call-next");
    cookie
}

fn view(hall: &HallProcess) -> serde_json::Value {
    serde_json::from_str(&get(hall.addr, "/api/view").unwrap().1).unwrap()
}

/// The text of an element, or "" while it is absent.
async fn text(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}")).click().await.unwrap();
}

/// The ticket a hall's day document says came from a booking, with its source.
fn booked_ticket(hall: &mut HallProcess, today: Day) -> Vec<(String, Source)> {
    assert!(hall.stop().success(), "a clean stop");
    let mut store = Store::open(&hall.data.join("onestop.sqlite"), Durability::Full).unwrap();
    let id = DocId::Day { hall: HallId::new("main"), day: today };
    let events =
        day::read(store.doc(&id).unwrap().expect("today's document"), &id.to_string()).unwrap().events;
    events
        .into_iter()
        .filter_map(|e| match e {
            DayEvent::Issued { ticket, source: s @ Source::Booking { .. }, .. } => {
                Some((ticket.to_string(), s))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_booked_online_is_checked_in_called_served_and_its_rating_counted() {
    let dir = tempfile::tempdir().unwrap();
    let campus = campus(dir.path());
    let mut hall = campus.run_hall(dir.path(), "main", "main-pi-1");
    let today: Day = view(&hall)["day"].as_str().unwrap().parse().unwrap();
    let web = |path: &str| campus.web_url(path);

    // The visitor books on the campus website: hall → service → the first open slot.
    let driver = Driver::start();
    let visitor = driver.browser("zh-CN").await;
    visitor.goto(&web("/")).await.unwrap();
    click(&visitor, "header.site a[href='/book']").await;
    wait_on(&visitor, "the halls", LIMIT, || async {
        !text(&visitor, "li[data-hall='main']").await.is_empty()
    })
    .await;
    screenshot(&visitor, "booking-halls-zh").await;
    click(&visitor, "li[data-hall='main'] a").await;
    click(&visitor, "li[data-service='enrolment-cert'] a").await;
    wait_on(&visitor, "the slots", LIMIT, || async {
        visitor.find(Locator::Css("#book-form")).await.is_ok()
    })
    .await;
    screenshot(&visitor, "booking-slots-zh").await;
    let day =
        visitor.find(Locator::Css("input[name='day']")).await.unwrap().attr("value").await.unwrap().unwrap();
    assert_eq!(day, today.to_string(), "today still has slots to come");
    click(&visitor, "input[name='slot']:not([disabled])").await;
    visitor.find(Locator::Css("#card")).await.unwrap().send_keys("20230001").await.unwrap();
    click(&visitor, "#book-button").await;
    wait_on(&visitor, "the confirmation", LIMIT, || async {
        !text(&visitor, "#booking-code").await.is_empty()
    })
    .await;
    let code = text(&visitor, "#booking-code").await;
    let token = visitor.find(Locator::Css("#qr")).await.unwrap().attr("data-token").await.unwrap().unwrap();
    assert!(token.starts_with("OSB1."), "{token}");
    assert!(visitor.find(Locator::Css("#qr svg")).await.is_ok(), "the QR code is drawn");
    assert!(text(&visitor, "#booking-address").await.contains("行政楼一层"));
    screenshot(&visitor, "booking-confirmation-zh").await;

    // The booking reaches the hall through sync.
    let bookings_doc = format!("hall/main/bookings/{today}");
    eventually("the booking at the hall", || chunks(&hall, &bookings_doc) > 0);

    // At the kiosk the visitor scans the QR code on the first page: no service to choose.
    let kiosk = driver.browser("zh-CN").await;
    kiosk.goto(&hall.url("/kiosk")).await.unwrap();
    kiosk.find(Locator::Css("#scan")).await.unwrap().send_keys(&token).await.unwrap();
    screenshot(&kiosk, "booking-kiosk-scan-zh").await;
    click(&kiosk, "#scan-button").await;
    wait_on(&kiosk, "the ticket on screen", LIMIT, || async {
        !text(&kiosk, "#ticket-number").await.is_empty()
    })
    .await;
    let ticket = text(&kiosk, "#ticket-number").await;
    assert!(ticket.starts_with('A'), "an enrolment-certificate ticket: {ticket}");
    screenshot(&kiosk, "booking-kiosk-ticket-zh").await;

    // The same booking again: refused, by code or by token.
    let (status, body) = request(
        hall.addr,
        "POST",
        "/api/tickets",
        &format!("{{\"booking\":\"{code}\"}}"),
        "application/json",
    )
    .unwrap();
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("已签到") || body.contains("already holds"), "{body}");

    // Window 1 calls: the booked ticket.
    let cookie = check_in_and_call(&hall);
    eventually("the call at window 1", || {
        let v = view(&hall);
        v["calls"][0]["ticket"] == ticket.as_str() && v["calls"][0]["window"] == 1
    });

    // Served, finished and rated 非常满意 at window 1's rating tablet: the campus statistics
    // count the booked visitor's rating (through sync and the cloud's projection).
    counter_action(hall.addr, &cookie, 1, "start");
    counter_action(hall.addr, &cookie, 1, "finish-immediate");
    let (status, answer) = with_cookie(hall.addr, "POST", "/rate/1", "", "level=5");
    assert_eq!(status, 200, "the rating: {answer}");
    eventually("the rating in the campus statistics", || {
        campus.stats_row("halls", "main").is_some_and(|r| r["rated"] == "1" && r["very_satisfied"] == "1")
    });
    let stats = driver.browser("zh-CN").await;
    stats.goto(&web("/stats")).await.unwrap();
    wait_on(&stats, "the hall's satisfaction on the statistics page", LIMIT, || async {
        text(&stats, "#stats-halls").await.contains("100.0%")
    })
    .await;
    screenshot(&stats, "booking-rating-in-stats-zh").await;

    // The check-in comes back to the cloud: the booking can no longer be cancelled.
    let cancel = driver.browser("zh-CN").await;
    let mut refused = String::new();
    let started = Instant::now();
    while !refused.contains("已在大厅签到") {
        assert!(started.elapsed() < LIMIT, "the check-in never reached the cloud: {refused}");
        cancel.goto(&web("/book/cancel")).await.unwrap();
        cancel.find(Locator::Css("#code")).await.unwrap().send_keys(&code).await.unwrap();
        cancel.find(Locator::Css("#card")).await.unwrap().send_keys("20230001").await.unwrap();
        click(&cancel, "#cancel-button").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        refused = text(&cancel, "#booking-error").await;
    }
    screenshot(&cancel, "booking-cancel-refused-zh").await;

    // English pages too.
    visitor.goto(&web("/lang/en")).await.unwrap();
    visitor.goto(&web("/book/main/enrolment-cert")).await.unwrap();
    assert!(text(&visitor, "h2").await.starts_with("Slots on"), "{}", text(&visitor, "h2").await);
    screenshot(&visitor, "booking-slots-en").await;

    for c in [visitor, kiosk, cancel, stats] {
        let _ = c.close().await;
    }

    // The day's document: the ticket came from the booking, with the visitor's pseudonym.
    let booked = booked_ticket(&mut hall, today);
    assert_eq!(booked.len(), 1, "{booked:?}");
    assert_eq!(booked[0].0, ticket);
    let Source::Booking { visitor, .. } = &booked[0].1 else { unreachable!() };
    assert!(visitor.as_ref().is_some_and(|v| !v.id.as_str().contains("2023")), "{visitor:?}");
}

/// Books the first open slot of `service` today over plain HTTP; returns (code, token).
fn book_over_http(campus: &Campus, service: &str, card: &str) -> (String, String) {
    let addr = campus.web.unwrap();
    let cookie = format!("csrf={}", "c".repeat(64));
    let (status, page) = with_cookie(addr, "GET", &format!("/book/main/{service}"), &cookie, "");
    assert_eq!(status, 200, "{page}");
    let day = page.split("name=\"day\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let slot = page
        .split("name=\"slot\" value=\"")
        .skip(1)
        .find(|rest| !rest[..rest.find('>').unwrap()].contains("disabled"))
        .expect("an open slot")
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let form = format!("csrf={}&day={day}&slot={slot}&card={card}", "c".repeat(64));
    let (status, page) = with_cookie(addr, "POST", &format!("/book/main/{service}"), &cookie, &form);
    assert_eq!(status, 200, "{page}");
    let code = page.split("id=\"booking-code\">").nth(1).unwrap().split('<').next().unwrap().to_string();
    let token = page.split("data-token=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    (code, token)
}

#[test]
fn a_hall_offline_since_before_the_booking_checks_the_token_in() {
    let dir = tempfile::tempdir().unwrap();
    let campus = campus(dir.path());
    // The hall meets its cloud once (the catalogue with the booking key), then goes offline.
    let mut hall = campus.run_hall(dir.path(), "main", "main-pi-1");
    let today: Day = view(&hall)["day"].as_str().unwrap().parse().unwrap();
    assert!(hall.stop().success());
    let node_toml = hall.data.join("node.toml");
    let nowhere = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let text = std::fs::read_to_string(&node_toml).unwrap();
    let cut = text.replace(&campus.addr.to_string(), &nowhere.local_addr().unwrap().to_string());
    assert_ne!(cut, text, "node.toml names the cloud");
    std::fs::write(&node_toml, cut).unwrap();

    // Booked while the hall is away.
    let (code, token) = book_over_http(&campus, "transcript", "20231234");

    // The hall comes back, still offline.
    let child = Command::new(bin("onestop-edge"))
        .args(["run", "--config", hall.data.join("edge.toml").to_str().unwrap()])
        .env("RUST_LOG", "info,tower_http=warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(hall.data.join("edge-offline.log")).unwrap())
        .spawn()
        .unwrap();
    // The old process was stopped above; reap it as the new one takes its place.
    let _ = std::mem::replace(&mut hall.child, child).wait();
    eventually("the hall serving again", || get(hall.addr, "/healthz").is_ok_and(|(s, _)| s == 200));
    assert_ne!(view(&hall)["online"], true, "the hall is offline");
    assert_eq!(chunks(&hall, &format!("hall/main/bookings/{today}")), 0, "it never received the booking");

    // The code means nothing here; the token is checked offline and issues the ticket.
    let issue = |booking: &str| {
        request(
            hall.addr,
            "POST",
            "/api/tickets",
            &format!("{{\"booking\":\"{booking}\"}}"),
            "application/json",
        )
        .unwrap()
    };
    let (status, body) = issue(&code);
    assert_eq!(status, 409);
    assert!(body.contains(&format!("no booking with code {code}")), "{body}");
    let (status, body) = issue(&token);
    assert_eq!(status, 200, "{body}");
    let ticket =
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["ticket"].as_str().unwrap().to_string();
    assert!(ticket.starts_with('B'), "a transcript ticket: {ticket}");
    let (status, body) = issue(&token);
    assert_eq!(status, 409, "only once: {body}");
    // A token changed by one character is refused.
    let mut forged = token.clone().into_bytes();
    let i = forged.len() / 2;
    forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
    let (status, body) = issue(std::str::from_utf8(&forged).unwrap());
    assert_eq!(status, 409);
    assert!(body.contains("签名无效") || body.contains("无法识别"), "{body}");

    let booked = booked_ticket(&mut hall, today);
    assert_eq!(booked.iter().map(|b| b.0.as_str()).collect::<Vec<_>>(), [ticket.as_str()]);
}
