//! A full visit through the hall's pages in headless Chromium, against a real `onestop-edge run`
//! process with its simulated printer: take a ticket at the kiosk, call it from the counter,
//! watch the display, finish, rate; then the day's document and the printed ticket are checked.
//! Screenshots of each page in both languages go to `target/screenshots/`.

use fantoccini::{Client, Locator};
use onestop_model::{Day, DayEvent, HallId};
use onestop_protocol::{DocId, day};
use onestop_store::{Durability, Store};
use onestop_tests::browser::{Driver, screenshot, wait_for, wait_on};
use onestop_tests::hall::{HallProcess, get};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

/// Clicks an element, retrying while the page reloads underneath.
async fn click(c: &Client, css: &str) {
    let started = std::time::Instant::now();
    loop {
        let r = async { c.find(Locator::Css(css)).await?.click().await }.await;
        match r {
            Ok(()) => return,
            Err(e) => {
                assert!(started.elapsed() < LIMIT, "cannot click {css}: {e}");
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        }
    }
}

/// The text of an element, or "" while it is absent.
async fn text(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn fill(c: &Client, css: &str, value: &str) {
    let e = c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
    e.clear().await.expect("clear");
    e.send_keys(value).await.expect("typing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_visit_through_the_pages() {
    let dir = tempfile::tempdir().unwrap();
    let mut hall = HallProcess::start(dir.path(), 4, "");
    let driver = Driver::start();
    let view: serde_json::Value = serde_json::from_str(&get(hall.addr, "/api/view").unwrap().1).unwrap();
    let service = view["windows"][0]["services"][0].as_str().expect("window 1 serves a service").to_string();
    let today: Day = view["day"].as_str().unwrap().parse().unwrap();

    // The staff member logs in at window 1 (this is the check-in).
    let counter = driver.browser("zh-CN").await;
    counter.goto(&hall.url("/counter")).await.unwrap();
    screenshot(&counter, "counter-login-zh").await;
    counter.find(Locator::Css("#window")).await.unwrap().select_by_value("1").await.unwrap();
    fill(&counter, "#staff", "s001").await;
    fill(&counter, "#pin", "2468").await;
    click(&counter, "#login-button").await;
    wait_for("the counter page", LIMIT, || async {
        counter.current_url().await.map(|u| u.path() == "/counter/window/1").unwrap_or(false)
    })
    .await;

    // The display follows the hall.
    let display = driver.browser("zh-CN").await;
    display.goto(&hall.url("/display")).await.unwrap();

    // A visitor takes an anonymous ticket at the kiosk.
    let kiosk = driver.browser("zh-CN").await;
    kiosk.goto(&hall.url("/kiosk")).await.unwrap();
    screenshot(&kiosk, "kiosk-zh").await;
    click(&kiosk, &format!("a[data-service='{service}']")).await;
    screenshot(&kiosk, "kiosk-service-zh").await;
    click(&kiosk, "#anonymous").await;
    wait_on(&kiosk, "the ticket on screen", LIMIT, || async {
        !text(&kiosk, "#ticket-number").await.is_empty()
    })
    .await;
    let ticket = text(&kiosk, "#ticket-number").await;
    assert!(
        ticket.len() == 4 && ticket.chars().skip(1).all(|c| c.is_ascii_digit()),
        "a ticket number: {ticket}"
    );
    screenshot(&kiosk, "kiosk-ticket-zh").await;

    // Window 1 calls the next visitor: that ticket.
    counter.goto(&hall.url("/counter/window/1")).await.unwrap();
    click(&counter, "#do-call-next").await;
    wait_on(&counter, "the called ticket at the counter", LIMIT, || async {
        text(&counter, "#current").await == ticket
    })
    .await;
    screenshot(&counter, "counter-called-zh").await;

    // The display shows the call, by itself.
    wait_on(&display, "the call on the display", LIMIT, || async {
        text(&display, "#latest .no").await == ticket
    })
    .await;
    let flashing = display.find(Locator::Css("#latest .call.flash")).await;
    assert!(flashing.is_ok(), "the newest call flashes for visitors who cannot hear");
    screenshot(&display, "display-zh").await;

    // Served and finished as an immediate case.
    click(&counter, "#do-start").await;
    wait_on(&counter, "serving", LIMIT, || async {
        text(&counter, "#message").await.contains("开始办理")
    })
    .await;
    click(&counter, "#do-finish-immediate").await;
    wait_on(&counter, "the case registered", LIMIT, || async {
        text(&counter, "#message").await.contains("已登记办件")
    })
    .await;

    // The visitor rates on the window's tablet.
    kiosk.goto(&hall.url("/rate/1")).await.unwrap();
    screenshot(&kiosk, "rate-zh").await;
    click(&kiosk, "#level-5").await;
    wait_on(&kiosk, "thanks", LIMIT, || async { text(&kiosk, "#thanks").await.contains("感谢") }).await;

    // The hall manager's page.
    let manager = driver.browser("zh-CN").await;
    manager.goto(&hall.url("/counter")).await.unwrap();
    manager.find(Locator::Css("#window")).await.unwrap().select_by_value("").await.unwrap();
    fill(&manager, "#staff", "s001").await;
    fill(&manager, "#pin", "2468").await;
    click(&manager, "#login-button").await;
    wait_on(&manager, "the manager page", LIMIT, || async { text(&manager, "#figures").await.contains('1') })
        .await;
    screenshot(&manager, "manager-zh").await;

    // The same pages in English.
    for (client, path, name) in [
        (&kiosk, "/kiosk".to_string(), "kiosk-en"),
        (&kiosk, format!("/kiosk/service/{service}"), "kiosk-service-en"),
        (&display, "/display".to_string(), "display-en"),
        (&counter, "/counter/window/1".to_string(), "counter-en"),
        (&kiosk, "/rate/1".to_string(), "rate-en"),
        (&manager, "/manager".to_string(), "manager-en"),
    ] {
        client.goto(&hall.url("/lang/en")).await.unwrap();
        client.goto(&hall.url(&path)).await.unwrap();
        let lang = client.execute("return document.documentElement.lang", vec![]).await.unwrap();
        assert_eq!(lang.as_str(), Some("en"), "{path} switches to English");
        tokio::time::sleep(Duration::from_millis(300)).await;
        screenshot(client, name).await;
    }
    for c in [counter, display, kiosk, manager] {
        c.close().await.unwrap();
    }

    // The printed ticket, parsed back from the bytes the printer twin received.
    let receipts = dir.path().join("receipts");
    let printed = std::fs::read_dir(&receipts)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "txt"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .find(|t| t.contains(&ticket))
        .unwrap_or_else(|| panic!("no receipt with {ticket} in {}", receipts.display()));
    assert!(printed.contains("一站式服务大厅"), "the hall's name in Chinese on the ticket:\n{printed}");

    // The hall stops cleanly, and the day's document tells the visit.
    assert!(hall.stop().success(), "a clean stop on SIGTERM");
    let mut store = Store::open(&hall.data.join("onestop.sqlite"), Durability::Full).unwrap();
    let id = DocId::Day { hall: HallId::new("main"), day: today };
    let doc = store.doc(&id).unwrap().expect("today's document");
    let events = day::read(doc, &id.to_string()).unwrap().events;
    let story: Vec<&str> = events
        .iter()
        .filter(|e| e.ticket().is_some_and(|t| t.to_string() == ticket))
        .map(|e| match e {
            DayEvent::Issued { .. } => "issued",
            DayEvent::Called { .. } => "called",
            DayEvent::Started { .. } => "started",
            DayEvent::Finished { .. } => "finished",
            DayEvent::Rated { .. } => "rated",
            _ => "other",
        })
        .collect();
    assert_eq!(story, ["issued", "called", "started", "finished", "rated"]);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, DayEvent::CheckedIn { window: 1, staff, .. } if staff.as_str() == "s001")),
        "the login is the attendance record"
    );
}
