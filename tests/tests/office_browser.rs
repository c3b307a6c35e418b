//! The back office in headless Chromium, against a real cloud and a real hall enrolled with a
//! join token: an administrator logs in, renames a service and gives a new staff member a
//! PIN (both reach the hall through the catalogue document over sync: the hall shows the new
//! name and takes the new PIN at its counter), imports the campus-card export (with a report
//! of the rows it rejected), publishes a notice (shown on the public website) and sees the
//! hall's node in the inventory. A reviewer is refused the administrator's pages.
//! Screenshots go to `target/screenshots/office-*.png`.

use fantoccini::{Client, Locator};
use onestop_tests::browser::{Driver, screenshot, wait_on};
use onestop_tests::campus::{Campus, CloudOptions};
use onestop_tests::hall::{get, with_cookie};
use std::time::{Duration, Instant};

/// A catalogue change: published, synced, taken up by the hall's 15-second check.
const LIMIT: Duration = Duration::from_secs(60);

async fn text(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn fill(c: &Client, name: &str, value: &str) {
    let e =
        c.find(Locator::Css(&format!("[name='{name}']"))).await.unwrap_or_else(|_| panic!("a field {name}"));
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

async fn submit(c: &Client, form: &str) {
    c.find(Locator::Css(&format!("{form} button[type='submit']"))).await.unwrap().click().await.unwrap();
}

async fn login(c: &Client, base: &str, login: &str, password: &str) {
    c.goto(&format!("{base}/office")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().starts_with("/office/login"), "sent to the login page");
    fill(c, "login", login).await;
    fill(c, "password", password).await;
    submit(c, "form[action='/office/login']").await;
    wait_on(c, "the back office's home page", LIMIT, || async {
        c.current_url().await.unwrap().path() == "/office"
    })
    .await;
}

fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < LIMIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_runs_the_campus_from_the_back_office() {
    let dir = tempfile::tempdir().unwrap();
    let campus =
        Campus::start_with_options(dir.path(), CloudOptions { web: true, ..CloudOptions::default() });
    let admin_password = campus.account("admin", "admin", "");
    let reviewer_password = campus.account("reviewer", "reviewer", "");
    let hall = campus.run_hall(dir.path(), "main", "main-pi-1");
    let base = campus.web_url("");
    let driver = Driver::start();
    let admin = driver.browser("zh-CN").await;
    login(&admin, &base, "admin", &admin_password).await;
    assert!(text(&admin, "nav.office").await.contains("后台账号"), "the administrator sees every part");
    screenshot(&admin, "office-home-zh").await;

    // Rename a service: the hall shows the new name once it takes up the catalogue.
    admin.goto(&format!("{base}/office/catalog/service/enrolment-cert")).await.unwrap();
    fill(&admin, "name_zh", "在读证明（新版）").await;
    screenshot(&admin, "office-service-zh").await;
    submit(&admin, "form[action='/office/catalog/service']").await;
    wait_on(&admin, "the saved notice", LIMIT, || async { text(&admin, "p.ok").await.contains("已保存") })
        .await;
    eventually("the hall showing the new service name", || {
        get(hall.addr, "/api/view").is_ok_and(|(_, b)| b.contains("在读证明（新版）"))
    });

    // A new staff member with a PIN: they log in at the hall's counter with it.
    admin.goto(&format!("{base}/office/staff")).await.unwrap();
    fill(&admin, "id", "zhao").await;
    fill(&admin, "name", "赵老师").await;
    fill(&admin, "halls", "main").await;
    fill(&admin, "pin", "1357").await;
    submit(&admin, "form[action='/office/staff']").await;
    wait_on(&admin, "the staff list with zhao", LIMIT, || async {
        text(&admin, "table").await.contains("赵老师")
    })
    .await;
    assert!(!admin.source().await.unwrap().contains("1357"), "a PIN is never shown");
    eventually("the hall taking zhao's PIN at window 1", || {
        with_cookie(hall.addr, "POST", "/counter/login", "", "window=1&staff=zhao&pin=1357").0 == 303
    });

    // The campus-card export, one row of it wrong.
    let csv = dir.path().join("cards.csv");
    std::fs::write(&csv, "卡号,姓名,身份,学院\n2023010203,张三,本科生,计算机学院\n2023010204,李四,外星人,数学学院\n2023010205,王五,研究生,物理学院\n").unwrap();
    admin.goto(&format!("{base}/office/cards")).await.unwrap();
    admin
        .find(Locator::Css("input[type='file']"))
        .await
        .unwrap()
        .send_keys(csv.to_str().unwrap())
        .await
        .unwrap();
    submit(&admin, "form[action='/office/cards']").await;
    wait_on(&admin, "the import report", LIMIT, || async { text(&admin, "p.ok").await.contains("2 张卡") })
        .await;
    let report = text(&admin, "table.rejected").await;
    assert!(report.contains("外星人") && report.contains('3'), "{report}");
    screenshot(&admin, "office-cards-report-zh").await;

    // A notice for the hall, on the public website.
    admin.goto(&format!("{base}/office/halls")).await.unwrap();
    fill(&admin, "title_zh", "周五下午闭厅").await;
    fill(&admin, "title_en", "Closed on Friday afternoon").await;
    fill(&admin, "halls", "main").await;
    submit(&admin, "form[action='/office/notices']").await;
    wait_on(&admin, "the notice listed", LIMIT, || async {
        text(&admin, "table").await.contains("周五下午闭厅")
    })
    .await;
    let public = driver.browser("zh-CN").await;
    public.goto(&format!("{base}/notices")).await.unwrap();
    wait_on(&public, "the notice on the public site", LIMIT, || async {
        let found = text(&public, "main").await.contains("周五下午闭厅");
        if !found {
            public.refresh().await.unwrap();
        }
        found
    })
    .await;

    // The hall's node in the inventory, online, with its version.
    admin.goto(&format!("{base}/office/nodes")).await.unwrap();
    let nodes = text(&admin, "table.nodes").await;
    assert!(nodes.contains("main-pi-1") && nodes.contains("在用"), "{nodes}");
    screenshot(&admin, "office-nodes-zh").await;

    // A reviewer has no business with accounts or the catalogue.
    let reviewer = driver.browser("en").await;
    login(&reviewer, &base, "reviewer", &reviewer_password).await;
    assert!(!text(&reviewer, "nav.office").await.contains("Accounts"));
    reviewer.goto(&format!("{base}/office/accounts")).await.unwrap();
    assert!(
        text(&reviewer, "main").await.contains("may not use this part"),
        "{}",
        text(&reviewer, "main").await
    );
    screenshot(&reviewer, "office-refused-en").await;
}
