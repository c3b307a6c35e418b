//! Statistics through real processes and real sync: a campus cloud serving its website and a
//! hall (`onestop-edge run`) enrolled with a join token. Two visitors are issued tickets,
//! called, served, finished and rated at window 1 (非常满意 and 不满意); within seconds the
//! cloud's statistics count them (by HTTP, the CSV of `/stats`), the public page shows the
//! hall's satisfaction in headless Chromium, and the 不满意 rating has opened a follow-up in
//! the back office. Screenshots go to `target/screenshots/stats-*.png`.

use fantoccini::{Client, Locator};
use onestop_tests::browser::{Driver, screenshot, wait_on};
use onestop_tests::campus::{Campus, CloudOptions};
use onestop_tests::hall::{counter_action, issue_ticket, staff_cookie, with_cookie};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Hall → cloud: pushes, plus the link's five-second offers, then the projector.
const LIMIT: Duration = Duration::from_secs(40);

async fn text(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn fill(c: &Client, css: &str, value: &str) {
    let e = c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}")).click().await.unwrap();
}

/// Window 1 (staff `wang`) calls, serves and finishes the next ticket; the visitor rates it.
fn serve_and_rate(hall: SocketAddr, cookie: &str, level: u8) {
    for action in ["call-next", "start", "finish-immediate"] {
        counter_action(hall, cookie, 1, action);
    }
    let (status, answer) = with_cookie(hall, "POST", "/rate/1", "", &format!("level={level}"));
    assert_eq!(status, 200, "the rating: {answer}");
    assert!(answer.contains("thanks"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rating_at_the_hall_reaches_the_statistics_and_a_low_one_is_followed_up() {
    let dir = tempfile::tempdir().unwrap();
    let campus =
        Campus::start_with_options(dir.path(), CloudOptions { web: true, ..CloudOptions::default() });
    let password = campus.account("manager1", "hall_manager", "main");
    let hall = campus.run_hall(dir.path(), "main", "main-pi-1");

    let first = issue_ticket(hall.addr, "transcript");
    let second = issue_ticket(hall.addr, "transcript");
    let (status, answer) =
        with_cookie(hall.addr, "POST", "/counter/login", "", "window=1&staff=wang&pin=2468");
    assert_eq!(status, 303, "the login: {answer}");
    let cookie = staff_cookie(&answer).expect("a staff session");
    let started = Instant::now();
    serve_and_rate(hall.addr, &cookie, 5);
    serve_and_rate(hall.addr, &cookie, 2);

    // By HTTP: both tickets, served and rated, with the halls' definition of satisfaction.
    let row = loop {
        if let Some(r) = campus.stats_row("halls", "main")
            && r["rated"] == "2"
        {
            break r;
        }
        assert!(
            started.elapsed() < LIMIT,
            "the ratings never reached /stats: {:?}",
            campus.stats_row("halls", "main")
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    eprintln!("ratings in /stats after {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(row["issued"], "2");
    assert_eq!(row["served"], "2");
    assert_eq!(row["very_satisfied"], "1");
    assert_eq!(row["unsatisfied"], "1");
    assert_eq!(row["satisfaction_pct"], "50.0");

    // In a browser: the public page, reached from the header.
    let driver = Driver::start();
    let visitor = driver.browser("zh-CN").await;
    visitor.goto(&campus.web_url("/")).await.unwrap();
    click(&visitor, "header.site a[href='/stats']").await;
    wait_on(&visitor, "the statistics page", LIMIT, || async {
        text(&visitor, "#stats-halls").await.contains("50.0%")
    })
    .await;
    assert!(visitor.find(Locator::Css("#chart-volume svg")).await.is_ok(), "a chart");
    screenshot(&visitor, "stats-public-zh").await;

    // The hall manager finds the 不满意 rating's follow-up, due in three working days.
    let office = driver.browser("zh-CN").await;
    office.goto(&campus.web_url("/office/followups")).await.unwrap();
    fill(&office, "input[name='login']", "manager1").await;
    fill(&office, "input[name='password']", &password).await;
    click(&office, "form[action='/office/login'] button[type='submit']").await;
    wait_on(&office, "the follow-ups", LIMIT, || async {
        office.current_url().await.is_ok_and(|u| u.path() == "/office/followups")
    })
    .await;
    let table = text(&office, "table.followups").await;
    assert!(table.contains(&second) && table.contains("不满意"), "{table}");
    assert!(!table.contains(&first), "a 非常满意 rating opens nothing: {table}");
    screenshot(&office, "stats-followups-zh").await;
    office.goto(&campus.web_url("/office/stats?group=staff")).await.unwrap();
    wait_on(&office, "the staff figures", LIMIT, || async {
        text(&office, "#stats-figures").await.contains("wang")
    })
    .await;
    screenshot(&office, "stats-office-zh").await;
}
