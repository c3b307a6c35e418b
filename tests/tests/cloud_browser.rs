//! The cloud's public website in headless Chromium, fed by a real hall through real sync: a
//! campus CA and a cloud serving its website (`web = …`), a node enrolled with a join token
//! running its hall (`onestop-edge run`, its printed QR codes leading to the cloud). A visitor
//! takes a ticket at the hall, follows the printed QR code to the cloud's ticket page and sees
//! their place in the queue; window 1 checks in and calls; the ticket page then says to go to
//! window 1, and the hall's status page shows the call and who is waiting. The catalogue is
//! searched from the home page. Screenshots of every page in both languages go to
//! `target/screenshots/cloud-*.png`.

use fantoccini::{Client, Locator};
use onestop_tests::bin;
use onestop_tests::browser::{Driver, screenshot, wait_on};
use onestop_tests::campus::{Campus, CloudOptions};
use onestop_tests::hall::{csrf, get, issue_ticket, request, staff_cookie, with_cookie};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Hall → cloud → page: a push, a rebuild, a poll every 5 s.
const LIMIT: Duration = Duration::from_secs(40);

/// The hall process; killed on drop.
struct Hall {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Hall {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < LIMIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Enrols node `main-pi-1` for hall `main` and runs it, its website the cloud's.
fn run_hall(campus: &Campus, dir: &Path) -> Hall {
    let node = dir.join("node");
    let token = campus.token("main", "main-pi-1", &[]);
    let out = campus.enroll(&node, &token, "serial=0001");
    assert!(out.status.success(), "enrolment: {}", String::from_utf8_lossy(&out.stderr));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = node.join("edge.toml");
    std::fs::write(
        &config,
        format!(
            "data = \".\"\nlisten = \"127.0.0.1:{port}\"\nwebsite = \"{}\"\n[printer]\nkind = \"twin\"\ndir = \"receipts\"\n",
            campus.web_url("")
        ),
    )
    .unwrap();
    let child = Command::new(bin("onestop-edge"))
        .args(["run", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "info,tower_http=warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("edge.log")).unwrap())
        .spawn()
        .unwrap();
    let hall = Hall { child, addr: format!("127.0.0.1:{port}").parse().unwrap() };
    eventually("the hall online with the cloud's catalogue", || {
        get(hall.addr, "/api/view")
            .is_ok_and(|(s, b)| s == 200 && b.contains("\"online\":true") && b.contains("enrolment-cert"))
    });
    hall
}

/// The QR code printed on `ticket`'s receipt.
fn printed_qr(receipts: &Path, ticket: &str) -> String {
    let mut found = None;
    eventually(&format!("{ticket} printed"), || {
        found = std::fs::read_dir(receipts).ok().and_then(|d| {
            d.filter_map(|e| e.ok()).map(|e| e.path()).find(|p| {
                p.file_name().is_some_and(|n| n.to_string_lossy().ends_with(&format!("-{ticket}.txt")))
            })
        });
        found.is_some()
    });
    let text = std::fs::read_to_string(found.unwrap()).unwrap();
    let line =
        text.lines().find_map(|l| l.strip_prefix("[QR] ")).unwrap_or_else(|| panic!("no QR code:\n{text}"));
    line.trim().to_string()
}

/// Staff member `wang` logs in at window 1 (the check-in) and calls the next visitor.
fn check_in_and_call(hall: &Hall) {
    let (status, answer) =
        with_cookie(hall.addr, "POST", "/counter/login", "", "window=1&staff=wang&pin=2468");
    assert_eq!(status, 303, "the login: {answer}");
    let cookie = staff_cookie(&answer).expect("a staff session");
    let (_, page) = with_cookie(hall.addr, "GET", "/counter/window/1", &cookie, "");
    let csrf = csrf(&page);
    let (status, _) =
        with_cookie(hall.addr, "POST", "/counter/window/1/call-next", &cookie, &format!("csrf={csrf}"));
    assert_eq!(status, 303, "call-next redirects back to the counter");
}

/// The text of an element, or "" while it is absent.
async fn text(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn attr(c: &Client, css: &str, name: &str) -> Option<String> {
    c.find(Locator::Css(css)).await.ok()?.attr(name).await.ok()?
}

/// The page fits a phone's width (tables scroll inside their own box).
async fn fits(c: &Client) -> bool {
    let v = c
        .execute("return document.documentElement.scrollWidth <= window.innerWidth + 1", vec![])
        .await
        .unwrap();
    v.as_bool() == Some(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_follows_their_ticket_on_the_campus_website() {
    let dir = tempfile::tempdir().unwrap();
    let campus =
        Campus::start_with_options(dir.path(), CloudOptions { web: true, ..CloudOptions::default() });
    let hall = run_hall(&campus, dir.path());
    let receipts = dir.path().join("node/receipts");
    let web = |path: &str| campus.web_url(path);

    // Three visitors take tickets at the hall.
    let first = issue_ticket(hall.addr, "enrolment-cert");
    let second = issue_ticket(hall.addr, "enrolment-cert");
    let other = issue_ticket(hall.addr, "transcript");
    let view: serde_json::Value = serde_json::from_str(&get(hall.addr, "/api/view").unwrap().1).unwrap();
    let today = view["day"].as_str().unwrap().to_string();

    // The second visitor scans the QR code on their ticket: it leads to the cloud.
    let qr = printed_qr(&receipts, &second);
    assert_eq!(qr, web(&format!("/ticket/main/{today}/{second}")), "the printed QR code");
    let driver = Driver::start();
    let visitor = driver.browser("zh-CN").await;
    visitor.goto(&qr).await.unwrap();
    wait_on(&visitor, "the ticket's place in the queue", LIMIT, || async {
        attr(&visitor, "#ahead", "data-ahead").await.as_deref() == Some("1")
    })
    .await;
    assert!(
        text(&visitor, "#position").await.contains("您排在第 2 位"),
        "{}",
        text(&visitor, "#position").await
    );
    assert!(text(&visitor, "#wait").await.contains("预计等候约"));
    assert_eq!(text(&visitor, "#ticket-number").await, second);
    screenshot(&visitor, "cloud-ticket-waiting-zh").await;

    // The first visitor's page, open before the call.
    let first_page = driver.browser("zh-CN").await;
    first_page.goto(&web(&format!("/ticket/main/{today}/{first}"))).await.unwrap();
    wait_on(&first_page, "the first ticket waiting", LIMIT, || async {
        attr(&first_page, "#ahead", "data-ahead").await.as_deref() == Some("0")
    })
    .await;

    // Window 1 checks in and calls: the first visitor. The pages follow by themselves.
    check_in_and_call(&hall);
    wait_on(&first_page, "the ticket page saying: go to window 1", LIMIT, || async {
        attr(&first_page, "#called", "data-window").await.as_deref() == Some("1")
    })
    .await;
    assert!(text(&first_page, "#called").await.contains("请到 1 号窗口"));
    assert_eq!(attr(&first_page, "#ticket-status", "data-state").await.as_deref(), Some("called"));
    screenshot(&first_page, "cloud-ticket-called-zh").await;
    wait_on(&visitor, "the second visitor moving up", LIMIT, || async {
        attr(&visitor, "#ahead", "data-ahead").await.as_deref() == Some("0")
    })
    .await;
    assert!(text(&visitor, "#ahead").await.contains("下一位就是您"));

    // The hall's status page: the call at window 1, who waits for what.
    let status = driver.browser("zh-CN").await;
    status.goto(&web("/halls/main")).await.unwrap();
    wait_on(&status, "the call on the hall's status page", LIMIT, || async {
        text(&status, "tr[data-window='1'] td.current").await == first
    })
    .await;
    assert_eq!(text(&status, "tr[data-service='enrolment-cert'] td.waiting").await, "1");
    assert_eq!(text(&status, "tr[data-service='transcript'] td.waiting").await, "1");
    assert!(text(&status, "#calls li").await.contains(&first));
    assert!(text(&status, "#liveness").await.contains("在线"), "{}", text(&status, "#liveness").await);
    // The page follows the hall: a new ticket shows up without a reload.
    let third = issue_ticket(hall.addr, "enrolment-cert");
    wait_on(&status, "the new ticket counted on the status page", LIMIT, || async {
        text(&status, "tr[data-service='enrolment-cert'] td.waiting").await == "2"
    })
    .await;
    assert!(attr(&status, "#main", "data-version").await.is_some(), "updated by its script");
    screenshot(&status, "cloud-hall-zh").await;
    let json: serde_json::Value = serde_json::from_str(
        &request(campus.web.unwrap(), "GET", "/api/halls/main/status", "", "text/plain").unwrap().1,
    )
    .unwrap();
    assert_eq!(json["windows"][0]["current"], first.as_str(), "{json}");
    let _ = (other, third);

    // An unknown ticket: a clear bilingual "not found", with its status.
    let (code, body) =
        request(campus.web.unwrap(), "GET", &format!("/ticket/main/{today}/Z999"), "", "text/plain").unwrap();
    assert_eq!(code, 404);
    assert!(body.contains("未找到这张号票") && body.contains("Ticket not found"));
    let lost = driver.browser("zh-CN").await;
    lost.goto(&web(&format!("/ticket/main/{today}/Z999"))).await.unwrap();
    assert!(text(&lost, "#not-found").await.contains("未找到这张号票"));
    screenshot(&lost, "cloud-ticket-not-found-zh").await;

    // Searching the catalogue from the home page.
    let browse = driver.browser("zh-CN").await;
    browse.goto(&web("/")).await.unwrap();
    assert!(text(&browse, "li.hall[data-hall='main']").await.contains("等候"), "the hall's line of status");
    assert!(text(&browse, "#main").await.contains("元旦放假安排"), "the latest notice");
    screenshot(&browse, "cloud-home-zh").await;
    let q = browse.find(Locator::Css("#q")).await.unwrap();
    q.send_keys("TRANSCRIPT").await.unwrap();
    browse.find(Locator::Css("#search-button")).await.unwrap().click().await.unwrap();
    wait_on(&browse, "the search results", LIMIT, || async {
        browse.current_url().await.is_ok_and(|u| u.path() == "/services")
            && browse.find(Locator::Css("li[data-service='transcript']")).await.is_ok()
    })
    .await;
    assert!(
        browse.find(Locator::Css("li[data-service='enrolment-cert']")).await.is_err(),
        "only what matches"
    );
    screenshot(&browse, "cloud-services-search-zh").await;
    browse.goto(&web("/services?q=%E8%AF%81%E6%98%8E")).await.unwrap(); // 证明
    assert!(browse.find(Locator::Css("li[data-service='enrolment-cert']")).await.is_ok());
    browse.goto(&web("/services")).await.unwrap();
    screenshot(&browse, "cloud-services-zh").await;
    browse.find(Locator::Css("li[data-service='transcript'] a")).await.unwrap().click().await.unwrap();
    wait_on(&browse, "the guide", LIMIT, || async {
        attr(&browse, "#kind", "data-kind").await.as_deref() == Some("pending")
    })
    .await;
    assert!(text(&browse, "#main").await.contains("三个工作日内办结"), "the guide text");
    assert!(text(&browse, "#main").await.contains("1号窗口 教务"), "the windows serving it");
    screenshot(&browse, "cloud-service-zh").await;
    browse.goto(&web("/notices")).await.unwrap();
    screenshot(&browse, "cloud-notices-zh").await;

    // On a phone: the pages fit the screen.
    browse.set_window_size(390, 844).await.unwrap();
    for (path, name) in [
        ("/".to_string(), "cloud-home-phone-zh"),
        ("/halls/main".to_string(), "cloud-hall-phone-zh"),
        (format!("/ticket/main/{today}/{second}"), "cloud-ticket-phone-zh"),
        ("/book/main".to_string(), "cloud-book-phone-zh"),
        ("/progress".to_string(), "cloud-progress-phone-zh"),
        ("/qa".to_string(), "cloud-qa-phone-zh"),
        ("/qa/ask".to_string(), "cloud-qa-ask-phone-zh"),
        ("/stats".to_string(), "cloud-stats-phone-zh"),
    ] {
        browse.goto(&web(&path)).await.unwrap();
        assert!(fits(&browse).await, "{path} is wider than a phone");
        screenshot(&browse, name).await;
    }
    browse.set_window_size(1280, 900).await.unwrap();

    // Every page in English too.
    for (path, name) in [
        ("/book".to_string(), "cloud-book-en"),
        ("/progress".to_string(), "cloud-progress-en"),
        ("/qa".to_string(), "cloud-qa-en"),
        ("/stats".to_string(), "cloud-stats-en"),
        ("/".to_string(), "cloud-home-en"),
        ("/services?q=transcript".to_string(), "cloud-services-search-en"),
        ("/services/transcript".to_string(), "cloud-service-en"),
        ("/notices".to_string(), "cloud-notices-en"),
        ("/halls/main".to_string(), "cloud-hall-en"),
        (format!("/ticket/main/{today}/{second}"), "cloud-ticket-waiting-en"),
        (format!("/ticket/main/{today}/{first}"), "cloud-ticket-called-en"),
        (format!("/ticket/main/{today}/Z999"), "cloud-ticket-not-found-en"),
    ] {
        browse.goto(&web("/lang/en")).await.unwrap();
        browse.goto(&web(&path)).await.unwrap();
        let lang = browse.execute("return document.documentElement.lang", vec![]).await.unwrap();
        assert_eq!(lang.as_str(), Some("en"), "{path} switches to English");
        let h1 = text(&browse, "h1").await;
        assert!(h1.starts_with(|c: char| c.is_ascii_alphabetic()), "{path}: English first: {h1}");
        screenshot(&browse, name).await;
    }
    assert!(text(&browse, "#not-found").await.starts_with("Ticket not found"));
    browse.goto(&web(&format!("/ticket/main/{today}/{first}"))).await.unwrap();
    assert!(text(&browse, "#called").await.starts_with("Please go to window 1"));

    for c in [visitor, first_page, status, lost, browse] {
        let _ = c.close().await;
    }
}
