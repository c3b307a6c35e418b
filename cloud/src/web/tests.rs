//! The website through its router (`app` with `oneshot`), on a cache built from events.

use crate::app::{AppState, app};
use crate::site::{Cache, HallLive, Heard, Site, Sources};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use onestop_model::{
    CaseKind, Catalog, Day, DayEvent, Department, DepartmentId, Hall, HallId, Notice, NoticeId, Priority,
    QueueRules, Service, ServiceId, Source, Staff, StaffId, Text, TicketNo, Timestamp, Window, WindowService,
};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

const EVIL: &str = "<script>alert('x')</script>";

fn day() -> Day {
    Day::new(2026, 11, 26).unwrap()
}

/// 09:00 in the hall on the test day, plus `m` minutes.
fn t(m: i64) -> Timestamp {
    day().start(480).plus_minutes(9 * 60 + m)
}

fn catalog() -> Catalog {
    let mut c = Catalog::default();
    c.departments.insert(
        DepartmentId::new("registry"),
        Department { id: DepartmentId::new("registry"), name: Text::new("教务处", "Registry") },
    );
    let service = |id: &str, zh: &str, en: &str, prefix, kind| Service {
        id: ServiceId::new(id),
        department: DepartmentId::new("registry"),
        name: Text::new(zh, en),
        prefix,
        kind,
        guide: Text::new("携带校园卡", "Bring your campus card"),
        expected_minutes: 4,
    };
    for s in [
        service("cert", "在读证明", "Certificate of enrolment", 'A', CaseKind::Immediate),
        service("transcript", "成绩单", "Transcript", 'B', CaseKind::Pending),
        service("evil", EVIL, EVIL, 'C', CaseKind::Immediate),
    ] {
        c.services.insert(s.id.clone(), s);
    }
    let ws = |s: &str| WindowService { service: ServiceId::new(s), weight: 1 };
    c.halls.insert(
        HallId::new("main"),
        Hall {
            id: HallId::new("main"),
            name: Text::new("一站式服务大厅", "One-stop service hall"),
            address: Text::new("行政楼一层", "Administration Building"),
            utc_offset_minutes: 480,
            windows: vec![
                Window {
                    number: 1,
                    name: Text::new("1号窗口 教务", "Window 1 Registry"),
                    services: vec![ws("cert"), ws("transcript")],
                },
                Window { number: 2, name: Text::new(EVIL, ""), services: vec![ws("cert"), ws("evil")] },
            ],
            rules: QueueRules::default(),
            booking: onestop_model::BookingRules::default(),
        },
    );
    c.notices.insert(
        NoticeId::new("n1"),
        Notice {
            id: NoticeId::new("n1"),
            title: Text::new("元旦放假安排", "New Year closure"),
            body: Text::new(EVIL, "Closed on 1 January."),
            published: t(0),
            halls: Vec::new(),
        },
    );
    c.staff.insert(
        StaffId::new("s1"),
        Staff {
            id: StaffId::new("s1"),
            name: "王老师".into(),
            department: DepartmentId::new("registry"),
            pin_hash: "x".into(),
            halls: Vec::new(),
            card: None,
        },
    );
    c
}

fn issued(m: i64, ticket: &str, service: &str) -> DayEvent {
    DayEvent::Issued {
        at: t(m),
        ticket: ticket.parse::<TicketNo>().unwrap(),
        service: ServiceId::new(service),
        source: Source::Anonymous,
        priority: Priority::Normal,
        ahead: 0,
        wait_estimate_min: 0,
    }
}

/// A morning: three tickets, window 1 open, A001 called there.
fn events() -> Vec<DayEvent> {
    vec![
        issued(0, "A001", "cert"),
        issued(1, "A002", "cert"),
        issued(2, "B001", "transcript"),
        DayEvent::CheckedIn { at: t(3), window: 1, staff: StaffId::new("s1") },
        DayEvent::Called { at: t(4), ticket: "A001".parse().unwrap(), window: 1 },
    ]
}

fn site(events: &[DayEvent], online: bool) -> Site {
    let c = catalog();
    let hall = HallId::new("main");
    let heard = Heard { online, last_event_ms: None, last_seen_ms: Some(t(5).0) };
    let live = HallLive::build(&c, &hall, day(), events, t(6), heard, 1).unwrap();
    Site { catalog: Arc::new(c), halls: [(hall, Arc::new(live))].into_iter().collect() }
}

async fn get_with(
    site: Site,
    path: &str,
    cookie: Option<&str>,
) -> (StatusCode, String, axum::http::HeaderMap) {
    let mut req = Request::builder().uri(path);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let resp = app(AppState::new(
        Cache::with(site),
        Arc::new(crate::testkit::core()),
        crate::stats::StatsDb::memory(),
    ))
    .oneshot(req.body(Body::empty()).unwrap())
    .await
    .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap(), headers)
}

async fn get(path: &str) -> (StatusCode, String) {
    let (s, b, _) = get_with(site(&events(), true), path, None).await;
    (s, b)
}

#[tokio::test]
async fn catalogue_text_is_never_markup() {
    for path in [
        "/",
        "/services",
        "/services?q=script",
        "/services/evil",
        "/notices",
        "/halls/main",
        "/ticket/main/2026-11-26/C001",
    ] {
        let (status, body) = get(path).await;
        assert!(status == StatusCode::OK || status == StatusCode::NOT_FOUND, "{path}: {status}");
        assert!(!body.contains("<script>alert"), "{path} lets a catalogue name become a script:\n{body}");
        assert!(!body.contains("alert('x')</script>"), "{path}");
    }
    let (_, body) = get("/services/evil").await;
    assert!(body.contains("&lt;script&gt;alert("), "the name is shown, escaped:\n{body}");
    let (_, body) = get("/halls/main").await;
    assert!(body.contains("&lt;script&gt;"), "the window's name is shown, escaped");
    // The JSON carries it as data; the script builds text nodes from it.
    let (_, json) = get("/api/halls/main/status").await;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["windows"][1]["name"]["zh"], EVIL);
    let (_, js, _) = get_with(site(&events(), true), "/site.js", None).await;
    assert!(!js.contains("innerHTML") && !js.contains("insertAdjacentHTML"), "site.js never parses markup");
}

#[tokio::test]
async fn scripts_only_from_this_site() {
    let (_, body, headers) = get_with(site(&events(), true), "/halls/main", None).await;
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(
        body.matches("<script").count(),
        body.matches("<script src=\"/site.js\"").count(),
        "no inline script"
    );
}

#[tokio::test]
async fn home_lists_halls_notices_and_a_search_box() {
    let (status, body) = get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("href=\"/halls/main\""), "{body}");
    assert!(body.contains("在线 · 实时"), "the hall's line says it is online");
    assert!(body.contains("等候 2 人") && body.contains("最新叫号 A001"), "{body}");
    assert!(body.contains("元旦放假安排"));
    assert!(body.contains("<label for=\"q\">") && body.contains("id=\"q\""), "the search box has a label");
    assert!(body.contains("<main id=\"main\""), "a main landmark");
    assert!(body.contains("<html lang=\"zh-CN\">"), "Chinese first by default");
}

#[tokio::test]
async fn english_first_with_the_cookie() {
    let (_, body, _) = get_with(site(&events(), true), "/", Some("lang=en")).await;
    assert!(body.contains("<html lang=\"en\">"));
    let en = body.find("The halls now").unwrap();
    let zh = body.find("服务大厅实时状态").unwrap();
    assert!(en < zh, "English first, Chinese second");
}

#[tokio::test]
async fn search_and_department_filter() {
    let (_, body) = get("/services?q=TRANSCRIPT").await;
    assert!(
        body.contains("data-service=\"transcript\"") && !body.contains("data-service=\"cert\""),
        "{body}"
    );
    let (_, body) = get("/services?q=%E8%AF%81%E6%98%8E").await; // 证明
    assert!(body.contains("data-service=\"cert\"") && !body.contains("data-service=\"transcript\""));
    let (_, body) = get("/services?q=nothing").await;
    assert!(body.contains("id=\"no-results\""));
    let (_, body) = get("/services?dept=registry").await;
    assert_eq!(body.matches("<li class=\"service\"").count(), 3);
    let (_, body) = get("/services?dept=none").await;
    assert!(body.contains("id=\"no-results\""));
}

#[tokio::test]
async fn a_service_guide_says_where_and_how_long() {
    let (status, body) = get("/services/transcript").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("携带校园卡") && body.contains("Bring your campus card"));
    assert!(body.contains("data-kind=\"pending\"") && body.contains("约 4 分钟"));
    assert!(body.contains("1号窗口 教务"), "the window serving it");
    assert!(body.contains("现在等候 1 人"), "live waiting from the hall: {body}");
    assert_eq!(get("/services/nope").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn hall_status_shows_calls_and_waiting() {
    let (status, body) = get("/halls/main").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("data-live=\"hall\"") && body.contains("data-poll=\"/api/halls/main/status\""));
    assert!(body.contains("<tr data-window=\"1\" class=\"open\">"), "{body}");
    assert!(body.contains("<strong>A001</strong>"), "now serving at window 1");
    assert!(body.contains("<tr data-service=\"cert\">"));
    let (_, json) = get("/api/halls/main/status").await;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["windows"][0]["current"], "A001");
    assert_eq!(v["windows"][0]["open"], true);
    assert_eq!(v["windows"][1]["open"], false);
    assert!(v["windows"][0].get("staff").is_none(), "no staff names on the public site");
    let cert = v["services"].as_array().unwrap().iter().find(|s| s["id"] == "cert").unwrap();
    assert_eq!((cert["waiting"].as_u64(), cert["wait_min"].as_u64()), (Some(1), Some(4)));
    assert_eq!(v["calls"][0]["ticket"], "A001");
    assert_eq!(v["online"], true);
    assert_eq!(get("/halls/nowhere").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get("/api/halls/nowhere/status").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_offline_hall_says_when_it_was_last_heard_from() {
    let (_, body, _) = get_with(site(&events(), false), "/halls/main", None).await;
    assert!(body.contains("离线：最后联系于"), "{body}");
    assert!(body.contains("（09:05）"), "the registry's last report is the latest sign: {body}");
}

#[tokio::test]
async fn a_ticket_page_follows_the_ticket() {
    let (status, body) = get("/ticket/main/2026-11-26/A002").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("data-state=\"waiting\""), "{body}");
    assert!(body.contains("您排在第 1 位") && body.contains("下一位就是您"), "A001 was called: A002 is next");
    let (_, body) = get("/ticket/main/2026-11-26/B001").await;
    assert!(body.contains("data-state=\"waiting\""));
    let (_, body) = get("/ticket/main/2026-11-26/A001").await;
    assert!(body.contains("data-state=\"called\"") && body.contains("请到 1 号窗口"), "{body}");
    assert!(body.contains("data-poll=\"/api/tickets/main/2026-11-26/A001\""), "it refreshes itself");
    let (_, json) = get("/api/tickets/main/2026-11-26/A001").await;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!((v["ticket"]["state"].as_str(), v["ticket"]["window"].as_u64()), (Some("called"), Some(1)));
}

#[tokio::test]
async fn an_unknown_ticket_is_a_clear_not_found() {
    for path in
        ["/ticket/main/2026-11-26/A999", "/ticket/main/2026-11-25/A001", "/ticket/main/not-a-day/A001"]
    {
        let (status, body) = get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(body.contains("未找到这张号票") && body.contains("Ticket not found"), "{path}: {body}");
        assert!(body.contains("role=\"alert\""));
    }
    let (_, body) = get("/ticket/main/2026-11-26/A999").await;
    assert!(body.contains("data-live=\"ticket\""), "the page keeps looking: a new ticket may still arrive");
    assert_eq!(get("/api/tickets/main/2026-11-26/A999").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get("/ticket/nowhere/2026-11-26/A001").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn language_switch_returns_to_this_site_only() {
    let app = app(AppState::new(
        Cache::with(site(&events(), true)),
        Arc::new(crate::testkit::core()),
        crate::stats::StatsDb::memory(),
    ));
    for (referer, back) in [
        ("http://cloud.example.edu/halls/main", "/halls/main"),
        ("https://evil.example//evil.example/x", "/"),
        ("nonsense", "/"),
    ] {
        let req =
            Request::builder().uri("/lang/en").header(header::REFERER, referer).body(Body::empty()).unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.headers()[header::LOCATION], back, "{referer}");
        assert!(resp.headers()[header::SET_COOKIE].to_str().unwrap().starts_with("lang=en"));
    }
}

#[tokio::test]
async fn the_cache_follows_the_store() {
    use onestop_protocol::{DocId, catalog as catdoc, day as daydoc};
    use onestop_store::Store;
    let store = Arc::new(Mutex::new(Store::open_in_memory().unwrap()));
    let write = |f: &dyn Fn(&mut onestop_store::Batch<'_>) -> Result<(), onestop_store::StoreError>| {
        let mut s = store.lock().unwrap();
        let stamp = s.next_stamp(Timestamp(crate::testkit::now().0));
        s.write(stamp, |b| f(b)).unwrap();
    };
    let cat = catalog();
    write(&|b| b.edit(&DocId::Catalog, |tx| Ok(catdoc::write(tx, &cat)?)));
    let today = crate::testkit::now().day(480);
    let hall = HallId::new("main");
    let cache = Cache::default();
    let (changes, rx) = tokio::sync::broadcast::channel(16);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let sources = Sources {
        store: store.clone(),
        online: Arc::new(|| BTreeSet::from([HallId::new("main")])),
        registry: None,
        clock: Arc::new(onestop_protocol::clock::SystemClock),
    };
    let task = tokio::spawn(crate::site::follow(cache.clone(), sources, rx, stopped, None));
    let wait_for = |what: &'static str, check: Box<dyn Fn(&Site) -> bool + Send>| {
        let cache = cache.clone();
        async move {
            for _ in 0..100 {
                if check(&cache.get()) {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("timed out waiting for {what}");
        }
    };
    wait_for(
        "the hall built",
        Box::new(|s| s.halls.get(&HallId::new("main")).is_some_and(|h| h.view.figures.issued == 0)),
    )
    .await;
    let now = crate::testkit::now();
    let ev = DayEvent::Issued {
        at: now,
        ticket: "A001".parse().unwrap(),
        service: ServiceId::new("cert"),
        source: Source::Anonymous,
        priority: Priority::Normal,
        ahead: 0,
        wait_estimate_min: 0,
    };
    write(&|b| {
        b.edit(&DocId::Day { hall: hall.clone(), day: today }, |tx| {
            Ok(daydoc::append(tx, &hall, today, 480, std::slice::from_ref(&ev))?)
        })
    });
    changes.send(DocId::Day { hall: hall.clone(), day: today }).unwrap();
    wait_for(
        "the ticket in the cache",
        Box::new(|s| {
            s.halls
                .get(&HallId::new("main"))
                .is_some_and(|h| h.tickets.contains_key("A001") && h.heard.online)
        }),
    )
    .await;
    let site = cache.get();
    let live = &site.halls[&hall];
    assert_eq!(live.tickets["A001"].state, "waiting");
    assert!(live.heard.last_event_ms.is_some(), "the event's time is the latest sign of life");
    let _ = stop.send(true);
    task.await.unwrap();
}

/// A campus in another time zone (UTC+1) gets its own business days: at 17:30 there on
/// 6 December it is already 7 December in China, and the statistics' period ends on the 6th.
#[tokio::test]
async fn a_campus_in_another_time_zone_gets_its_own_business_days() {
    use onestop_model::clock::ManualClock;
    // 2026-12-06T16:30:00Z
    let clock = ManualClock::new(Timestamp(1_796_574_600_000));
    let period_end = |offset: i32| {
        let clock = clock.clone();
        async move {
            let mut catalog = site(&events(), true).catalog.as_ref().clone();
            // The campus's zone, not a hall's, decides the campus-wide figures' days.
            catalog.utc_offset_minutes = offset;
            let core = crate::core::Core::in_memory(Arc::new(clock));
            let cache = Cache::with(Site { catalog: Arc::new(catalog), halls: Default::default() });
            let app = app(AppState::new(cache, Arc::new(core), crate::stats::StatsDb::memory()));
            let req = Request::builder().uri("/stats").body(Body::empty()).unwrap();
            let resp = app.oneshot(req).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            let body = axum::body::to_bytes(resp.into_body(), 1 << 22).await.unwrap();
            let body = String::from_utf8_lossy(&body).into_owned();
            let start = body.find("统计区间").expect("the period is shown");
            body[start..].chars().take(120).collect::<String>()
        }
    };
    assert_eq!(Timestamp(1_796_574_600_000).day(0).to_string(), "2026-12-06", "the clock reads 16:30 UTC");
    let plus_one = period_end(60).await;
    assert!(plus_one.contains("– 2026-12-06"), "UTC+1: {plus_one}");
    let china = period_end(480).await;
    assert!(china.contains("– 2026-12-07"), "UTC+8: {china}");
}
