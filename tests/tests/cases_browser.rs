//! A pending case from the window to the visitor, across real processes and real sync: a
//! campus cloud serving its website and a hall (`onestop-edge run`) enrolled with a join token.
//! Window 1 registers a pending case (承诺件); a reviewer, in headless Chromium, finds it in the
//! back office's queue and approves, processes and completes it; the visitor enters the number
//! and code from the receipt on `/progress` and sees the timeline; the window's case lookup
//! shows the steps, which reached the hall through sync. Screenshots go to
//! `target/screenshots/cases-*.png`.

use fantoccini::{Client, Locator};
use onestop_tests::browser::{Driver, screenshot, wait_on};
use onestop_tests::campus::{Campus, CloudOptions};
use onestop_tests::hall::{issue_ticket, register_pending_case, staff_cookie, with_cookie};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Hall → cloud and back: pushes, plus the link's five-second offers.
const LIMIT: Duration = Duration::from_secs(40);

async fn text(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn attr(c: &Client, css: &str, name: &str) -> Option<String> {
    c.find(Locator::Css(css)).await.ok()?.attr(name).await.ok()?
}

async fn fill(c: &Client, css: &str, value: &str) {
    let e = c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}")).click().await.unwrap();
}

fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < LIMIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Window 1 (staff `wang`) calls, serves and registers the waiting transcript request as a
/// pending case; returns the staff cookie, the case number and the code the window announces.
fn register_at_the_window(hall: SocketAddr) -> (String, String, String) {
    let (status, answer) = with_cookie(hall, "POST", "/counter/login", "", "window=1&staff=wang&pin=2468");
    assert_eq!(status, 303, "the login: {answer}");
    let cookie = staff_cookie(&answer).expect("a staff session");
    let (number, code) = register_pending_case(hall, &cookie);
    (cookie, number, code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_case_is_reviewed_online_and_followed_by_the_visitor_and_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let campus =
        Campus::start_with_options(dir.path(), CloudOptions { web: true, ..CloudOptions::default() });
    let password = campus.account("reviewer1", "reviewer", "");
    let hall = campus.run_hall(dir.path(), "main", "main-pi-1");
    let web = |path: &str| campus.web_url(path);

    // The visitor's request is registered as a pending case at window 1.
    let ticket = issue_ticket(hall.addr, "transcript");
    let (staff, number, code) = register_at_the_window(hall.addr);
    assert!(number.ends_with(&format!("-main-{ticket}")), "{number}");
    assert_eq!(code.len(), 6);

    // The reviewer logs in and finds the case in the queue once the hall has pushed it.
    let driver = Driver::start();
    let office = driver.browser("zh-CN").await;
    office.goto(&web("/office/cases")).await.unwrap();
    assert!(office.current_url().await.unwrap().path().starts_with("/office/login"), "a session is needed");
    fill(&office, "input[name='login']", "reviewer1").await;
    fill(&office, "input[name='password']", &password).await;
    click(&office, "form[action='/office/login'] button[type='submit']").await;
    wait_on(&office, "the queue after logging in", LIMIT, || async {
        office.current_url().await.is_ok_and(|u| u.path() == "/office/cases")
    })
    .await;
    let row = format!("tr[data-case='{number}']");
    wait_on(&office, "the case in the queue", LIMIT, || async {
        if office.find(Locator::Css(&row)).await.is_ok() {
            return true;
        }
        let _ = office.refresh().await;
        false
    })
    .await;
    assert_eq!(attr(&office, &row, "data-status").await.as_deref(), Some("registered"));
    screenshot(&office, "cases-queue-zh").await;
    click(&office, &format!("{row} a")).await;
    for (button, status) in
        [("approved", "approved"), ("processing", "processing"), ("completed", "completed")]
    {
        wait_on(&office, &format!("the {button} button"), LIMIT, || async {
            office.find(Locator::Css(&format!("#step-{button}"))).await.is_ok()
        })
        .await;
        click(&office, &format!("#step-{button}")).await;
        wait_on(&office, &format!("the case {status}"), LIMIT, || async {
            attr(&office, "#case-status", "data-status").await.as_deref() == Some(status)
        })
        .await;
        assert!(text(&office, "p.ok").await.contains("已记录"), "a notice says it was recorded");
    }
    assert!(office.find(Locator::Css("#step-approved")).await.is_err(), "no step back");
    assert_eq!(office.find_all(Locator::Css("ol.timeline li")).await.unwrap().len(), 4);
    screenshot(&office, "cases-case-zh").await;

    // The visitor follows the case with the number and code from the receipt.
    let visitor = driver.browser("zh-CN").await;
    visitor.goto(&web("/")).await.unwrap();
    click(&visitor, "header.site a[href='/progress']").await;
    wait_on(&visitor, "the lookup form", LIMIT, || async {
        visitor.find(Locator::Css("#number")).await.is_ok()
    })
    .await;
    fill(&visitor, "#number", &number).await;
    fill(&visitor, "#code", "WRONG1").await;
    click(&visitor, "#lookup").await;
    wait_on(&visitor, "the one answer for a miss", LIMIT, || async {
        text(&visitor, "#lookup-error").await.contains("未找到该办件")
    })
    .await;
    fill(&visitor, "#number", &number).await;
    fill(&visitor, "#code", &code.to_lowercase()).await;
    click(&visitor, "#lookup").await;
    wait_on(&visitor, "the timeline", LIMIT, || async {
        attr(&visitor, "#case-status", "data-status").await.as_deref() == Some("completed")
    })
    .await;
    assert_eq!(text(&visitor, "#case-number").await, number);
    let steps = visitor.find_all(Locator::Css("ol.timeline li")).await.unwrap();
    let mut statuses = Vec::new();
    for s in &steps {
        statuses.push(s.attr("data-status").await.unwrap().unwrap_or_default());
    }
    assert_eq!(statuses, ["registered", "approved", "processing", "completed"]);
    assert!(text(&visitor, "p.next").await.contains("1 号窗口领取"), "where to collect it");
    assert!(!text(&visitor, "#main").await.contains("reviewer1"), "no staff login in public");
    screenshot(&visitor, "cases-progress-zh").await;

    // The window sees the same steps: they reached the hall through sync.
    let path = format!("/counter/window/1/case?number={number}");
    eventually("the steps at the hall", || {
        with_cookie(hall.addr, "GET", &path, &staff, "").1.contains("data-status=\"completed\"")
    });
    let (_, page) = with_cookie(hall.addr, "GET", &path, &staff, "");
    assert!(page.contains("reviewer1") && page.contains("审核通过"), "{page}");
    let counter = driver.browser("zh-CN").await;
    counter.goto(&format!("http://{}/counter", hall.addr)).await.unwrap();
    counter.find(Locator::Css("#window")).await.unwrap().select_by_value("1").await.unwrap();
    fill(&counter, "#staff", "wang").await;
    fill(&counter, "#pin", "2468").await;
    click(&counter, "#login-button").await;
    wait_on(&counter, "the counter page", LIMIT, || async {
        counter.current_url().await.is_ok_and(|u| u.path() == "/counter/window/1")
    })
    .await;
    fill(&counter, "#case-number", &number).await;
    click(&counter, "#do-case").await;
    wait_on(&counter, "the case at the window", LIMIT, || async {
        attr(&counter, "#case-status", "data-status").await.as_deref() == Some("completed")
    })
    .await;
    screenshot(&counter, "cases-counter-zh").await;
}
