//! Case progress, case review and Q&A through the website's router: timelines, the one answer
//! for every failed lookup, rate limits, CSRF on every form, roles on every back-office route,
//! and script injection in every text field.

use crate::app::{AppState, app};
use crate::core::accounts::{Account, Role, create_account};
use crate::core::{Core, qa};
use crate::site::{Cache, Site};
use axum::Router;
use axum::http::{StatusCode, header};
use onestop_model::{
    Case, CaseKind, CaseNo, CaseStatus, CaseStep, Catalog, Day, Department, DepartmentId, Hall, HallId,
    QueueRules, Service, ServiceId, Text, TicketNo, Window, WindowService,
};
use onestop_protocol::{DocId, Month, cases};
use std::sync::Arc;

const EVIL: &str = "<script>alert('x')</script>";
const PASSWORD: &str = "correct horse battery";
/// A public form's double-submit token (any 64 characters the cookie and the field share).
const PUBLIC: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn catalog() -> Catalog {
    let mut c = Catalog::default();
    c.departments.insert(
        DepartmentId::new("registry"),
        Department { id: DepartmentId::new("registry"), name: Text::new("教务处", "Registry") },
    );
    c.services.insert(
        ServiceId::new("transcript"),
        Service {
            id: ServiceId::new("transcript"),
            department: DepartmentId::new("registry"),
            name: Text::new("成绩单", "Transcript"),
            prefix: 'B',
            kind: CaseKind::Pending,
            guide: Text::default(),
            expected_minutes: 4,
        },
    );
    for h in ["main", "east"] {
        c.halls.insert(
            HallId::new(h),
            Hall {
                id: HallId::new(h),
                name: Text::new(format!("{h}大厅"), format!("{h} hall")),
                address: Text::new("行政楼一层", "Administration Building"),
                utc_offset_minutes: 480,
                windows: vec![Window {
                    number: 3,
                    name: Text::new("3号窗口", "Window 3"),
                    services: vec![WindowService { service: ServiceId::new("transcript"), weight: 1 }],
                }],
                rules: QueueRules::default(),
                booking: Default::default(),
            },
        );
    }
    c
}

struct Web {
    app: Router,
    core: Arc<Core>,
}

/// A website with accounts: `admin`, `reviewer`, `window-staff`, `manager-east` (a hall
/// manager of `east`), `manager-main`.
fn web() -> Web {
    let core = Arc::new(crate::testkit::core());
    let accounts = [
        ("admin", Role::Admin, vec![]),
        ("reviewer", Role::Reviewer, vec![]),
        ("window-staff", Role::WindowStaff, vec![HallId::new("main")]),
        ("manager-east", Role::HallManager, vec![HallId::new("east")]),
        ("manager-main", Role::HallManager, vec![HallId::new("main")]),
    ];
    for (login, role, halls) in accounts {
        let acc =
            Account { login: login.into(), name: format!("{login} {EVIL}"), role, halls, disabled: false };
        create_account(&core.db(), &acc, PASSWORD, 0).unwrap();
    }
    let site = Site { catalog: Arc::new(catalog()), halls: Default::default() };
    let app = app(AppState::new(Cache::with(site), core.clone(), crate::stats::StatsDb::memory()));
    Web { app, core }
}

fn today() -> Day {
    crate::testkit::now().day(480)
}

/// Registers a pending case for `ticket` in `hall` today, `minutes_ago` ago.
fn register(core: &Core, hall: &str, ticket: &str, code: &str, minutes_ago: i64) -> CaseNo {
    let hall = HallId::new(hall);
    let ticket: TicketNo = ticket.parse().unwrap();
    let number = CaseNo::for_ticket(today(), &hall, ticket);
    let at = crate::testkit::now().plus_minutes(-minutes_ago);
    let case = Case {
        number: number.clone(),
        code: code.into(),
        kind: CaseKind::Pending,
        hall: hall.clone(),
        service: ServiceId::new("transcript"),
        ticket,
        window: 3,
        staff: None,
        visitor: None,
        history: vec![CaseStep { at, status: CaseStatus::Registered, by: "s001".into(), reason: None }],
    };
    let month = Month::of(today());
    let id = DocId::Cases { hall: hall.clone(), month };
    core.write_doc(std::slice::from_ref(&id), |b| {
        b.edit(&id, |tx| Ok(cases::register(tx, &hall, &month.to_string(), &case)?))
    })
    .unwrap();
    number
}

fn history(core: &Core, number: &CaseNo) -> Vec<CaseStep> {
    let (day, hall, _) = number.parts().unwrap();
    let id = DocId::Cases { hall, month: Month::of(day) };
    let mut store = core.store();
    cases::find(store.doc(&id).unwrap().unwrap(), "t", number).unwrap().unwrap().history
}

use crate::testkit::Resp;

/// A request from client `ip` (through the local proxy's `X-Forwarded-For`).
async fn send(app: &Router, method: &str, uri: &str, cookie: &str, ip: &str, form: &str) -> Resp {
    crate::testkit::send_from(app, method, uri, cookie, ip, form).await
}

fn enc(s: &str) -> String {
    crate::ui::auth::urlencode(s)
}

fn csrf_in(page: &str) -> String {
    crate::testkit::Client::csrf_in(page)
}

/// A back-office session: its cookie and CSRF token.
struct Officer {
    cookie: String,
    csrf: String,
}

async fn login(app: &Router, login: &str) -> Officer {
    let cookie = format!("csrf={PUBLIC}");
    let r = send(
        app,
        "POST",
        "/office/login",
        &cookie,
        "10.0.0.1",
        &format!("csrf={PUBLIC}&login={login}&password={}", enc(PASSWORD)),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{login} logs in: {}", r.body);
    let set = r.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    let cookie = set.split(';').next().unwrap().to_string();
    let page = send(app, "GET", "/office", &cookie, "10.0.0.1", "").await;
    Officer { csrf: csrf_in(&page.body), cookie }
}

async fn lookup(app: &Router, ip: &str, number: &str, code: &str) -> Resp {
    let form = format!("csrf={PUBLIC}&number={}&code={}", enc(number), enc(code));
    send(app, "POST", "/progress", &format!("csrf={PUBLIC}"), ip, &form).await
}

async fn step(app: &Router, o: &Officer, number: &CaseNo, status: &str, reason: &str) -> Resp {
    let form = format!("csrf={}&status={status}&reason={}", o.csrf, enc(reason));
    send(app, "POST", &format!("/office/cases/{number}/step"), &o.cookie, "10.0.0.1", &form).await
}

#[tokio::test]
async fn a_visitor_sees_the_timeline_with_the_number_and_code() {
    let w = web();
    let form = send(&w.app, "GET", "/progress", "", "10.1.0.1", "").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.headers[header::SET_COOKIE].to_str().unwrap().starts_with("csrf="),
        "the form sets its token"
    );
    assert!(form.body.contains("name=\"number\"") && form.body.contains("name=\"code\""));
    let number = register(&w.core, "main", "B001", "K7QM2P", 30);
    let reviewer = login(&w.app, "reviewer").await;
    for s in ["under_review", "approved", "processing", "completed"] {
        assert_eq!(step(&w.app, &reviewer, &number, s, "").await.status, StatusCode::SEE_OTHER, "{s}");
    }
    // Typed loosely: lowercase ticket, spaces in the code.
    let r = lookup(&w.app, "10.1.0.1", &number.as_str().replace("B001", "b001"), " k7qm 2p ").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    assert!(r.body.contains(&format!("<dd id=\"case-number\">{number}</dd>")), "{}", r.body);
    assert!(r.body.contains("data-status=\"completed\""), "the current status");
    for (zh, en) in [
        ("已受理", "registered"),
        ("审核中", "under review"),
        ("审核通过", "approved"),
        ("办理中", "being processed"),
        ("已办结", "completed"),
    ] {
        assert!(r.body.contains(zh) && r.body.contains(en), "{zh} / {en} in the timeline");
    }
    let registered = crate::testkit::now().plus_minutes(-30);
    let local = format!("{} {}", registered.day(480), registered.local_hm(480));
    assert!(r.body.contains(&local), "times in the hall's local time ({local})");
    assert!(r.body.contains("main大厅 3 号窗口") && r.body.contains("行政楼一层"), "where to collect it");
    assert!(!r.body.contains("reviewer"), "no staff login on the public page");
    assert!(!r.body.contains("K7QM2P"), "the code is not shown back");
}

#[tokio::test]
async fn a_wrong_code_and_an_unknown_number_get_the_same_answer() {
    let w = web();
    let number = register(&w.core, "main", "B001", "K7QM2P", 5);
    let wrong = lookup(&w.app, "10.2.0.1", number.as_str(), "AAAAAA").await;
    let unknown = lookup(&w.app, "10.2.0.2", &number.as_str().replace("B001", "B002"), "K7QM2P").await;
    let other_hall = lookup(&w.app, "10.2.0.3", &number.as_str().replace("main", "east"), "K7QM2P").await;
    let nonsense = lookup(&w.app, "10.2.0.4", "../../etc/passwd", "").await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND);
    for r in [&unknown, &other_hall, &nonsense] {
        assert_eq!(r.status, wrong.status);
        assert_eq!(r.body, wrong.body, "one answer, byte for byte");
    }
    assert!(wrong.body.contains("未找到该办件，或查询码不正确"), "{}", wrong.body);
    let ghost = DocId::Cases { hall: HallId::new("east"), month: Month::of(today()) };
    assert!(!w.core.store().is_loaded(&ghost), "a guessed document is not kept in memory");
}

#[tokio::test]
async fn guessing_codes_locks_the_number_and_guessing_numbers_is_limited_per_client() {
    let w = web();
    let number = register(&w.core, "main", "B001", "K7QM2P", 5);
    // Five wrong codes from five clients lock the number, even for the right code.
    for i in 0..5 {
        let r = lookup(&w.app, &format!("10.3.0.{i}"), number.as_str(), &format!("WRONG{i}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
    let r = lookup(&w.app, "10.3.1.1", number.as_str(), "K7QM2P").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    let retry: u64 = r.headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=1800).contains(&retry), "{retry}");
    assert!(r.body.contains("分钟后再试") && r.body.contains("try again in"), "{}", r.body);
    // A number that does not exist locks the same way (a lock says nothing about existence).
    let ghost = number.as_str().replace("B001", "B777");
    for i in 0..5 {
        lookup(&w.app, &format!("10.4.0.{i}"), &ghost, "X").await;
    }
    assert_eq!(lookup(&w.app, "10.4.1.1", &ghost, "X").await.status, StatusCode::TOO_MANY_REQUESTS);
    // One client trying many numbers: ten lookups, then refused.
    let other = register(&w.core, "main", "B002", "ZZZZZZ", 5);
    for i in 0..10 {
        let r = lookup(&w.app, "10.5.0.1", &format!("{}-main-B{:03}", today().compact(), 100 + i), "X").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "lookup {i}");
    }
    let r = lookup(&w.app, "10.5.0.1", other.as_str(), "ZZZZZZ").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "the eleventh lookup from one client");
    assert_eq!(
        lookup(&w.app, "10.5.0.2", other.as_str(), "ZZZZZZ").await.status,
        StatusCode::OK,
        "another client"
    );
}

#[tokio::test]
async fn the_review_moves_a_case_step_by_step_and_refuses_impossible_steps() {
    let w = web();
    let number = register(&w.core, "main", "B001", "K7QM2P", 5);
    let mut changes = w.core.changes.subscribe();
    let o = login(&w.app, "manager-main").await;
    let page = send(&w.app, "GET", &format!("/office/cases/{number}"), &o.cookie, "10.0.0.1", "").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"step-under_review\"") && page.body.contains("id=\"step-rejected\""));
    assert!(!page.body.contains("id=\"step-completed\""), "only the steps valid now are offered");
    let r = step(&w.app, &o, &number, "approved", "").await;
    assert_eq!(
        (r.status, r.location()),
        (StatusCode::SEE_OTHER, format!("/office/cases/{number}?done=approved").as_str())
    );
    let (day, hall, _) = number.parts().unwrap();
    assert_eq!(
        changes.try_recv().unwrap(),
        DocId::Cases { hall, month: Month::of(day) },
        "the sync listener is told"
    );
    // Approved again, or rejected after approval: refused with the reason, nothing written.
    for (s, reason) in [("approved", ""), ("rejected", "late"), ("collected", ""), ("registered", "")] {
        let r = step(&w.app, &o, &number, s, reason).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{s}: {}", r.body);
        assert!(r.body.contains("不能再标记为") && r.body.contains("cannot be marked"), "{}", r.body);
    }
    assert_eq!(step(&w.app, &o, &number, "flying", "").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    for s in ["processing", "completed", "collected"] {
        assert_eq!(step(&w.app, &o, &number, s, "").await.status, StatusCode::SEE_OTHER, "{s}");
    }
    let h = history(&w.core, &number);
    let steps: Vec<_> = h.iter().map(|s| s.status).collect();
    use CaseStatus::*;
    assert_eq!(steps, [Registered, Approved, Processing, Completed, Collected]);
    assert!(h[1..].iter().all(|s| s.by == "manager-main"), "each step is by the account's login");
    let page = send(&w.app, "GET", &format!("/office/cases/{number}"), &o.cookie, "10.0.0.1", "").await;
    assert!(page.body.contains("id=\"closed\""), "a collected case is closed");
    // A rejection needs its reason.
    let other = register(&w.core, "main", "B002", "ZZZZZZ", 5);
    let r = step(&w.app, &o, &other, "rejected", "   ").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("驳回须填写原因"), "{}", r.body);
    assert_eq!(
        step(&w.app, &o, &other, "rejected", "材料不全\n请补交成绩单").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        history(&w.core, &other)[1].reason.as_deref(),
        Some("材料不全 请补交成绩单"),
        "one line in the case's step"
    );
    assert_eq!(
        step(&w.app, &o, &CaseNo::new("20261126-main-Z999"), "approved", "").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_queue_lists_open_cases_oldest_first_by_hall_and_status() {
    let w = web();
    let newer = register(&w.core, "main", "B002", "AAAAAA", 10);
    let older = register(&w.core, "main", "B001", "BBBBBB", 50);
    let east = register(&w.core, "east", "B001", "CCCCCC", 30);
    let done = register(&w.core, "main", "B003", "DDDDDD", 60);
    let o = login(&w.app, "reviewer").await;
    step(&w.app, &o, &done, "rejected", "不符合条件").await;
    let q = send(&w.app, "GET", "/office/cases", &o.cookie, "10.0.0.1", "").await;
    assert_eq!(q.status, StatusCode::OK);
    let pos = |n: &CaseNo| q.body.find(&format!("data-case=\"{n}\"")).unwrap_or_else(|| panic!("{n} listed"));
    assert!(pos(&older) < pos(&east) && pos(&east) < pos(&newer), "oldest first");
    assert!(!q.body.contains(&format!("data-case=\"{done}\"")), "a rejected case is closed");
    let q = send(&w.app, "GET", "/office/cases?hall=east", &o.cookie, "10.0.0.1", "").await;
    assert!(
        q.body.contains(&format!("data-case=\"{east}\""))
            && !q.body.contains(&format!("data-case=\"{older}\""))
    );
    let q = send(&w.app, "GET", "/office/cases?status=rejected", &o.cookie, "10.0.0.1", "").await;
    assert!(
        q.body.contains(&format!("data-case=\"{done}\""))
            && !q.body.contains(&format!("data-case=\"{older}\""))
    );
    // A hall manager sees their halls only.
    let m = login(&w.app, "manager-east").await;
    let q = send(&w.app, "GET", "/office/cases", &m.cookie, "10.0.0.1", "").await;
    assert!(
        q.body.contains(&format!("data-case=\"{east}\""))
            && !q.body.contains(&format!("data-case=\"{older}\""))
    );
}

#[tokio::test]
async fn a_long_queue_is_shown_fifty_at_a_time_oldest_first() {
    let w = web();
    let numbers: Vec<CaseNo> = (1..=120)
        .map(|i| register(&w.core, "main", &format!("B{i:03}"), "AAAAAA", 200 - i64::from(i)))
        .collect();
    let o = login(&w.app, "reviewer").await;
    let listed = |body: &str| numbers.iter().filter(|n| body.contains(&format!("data-case=\"{n}\""))).count();
    let first = send(&w.app, "GET", "/office/cases", &o.cookie, "10.0.0.1", "").await;
    assert_eq!(listed(&first.body), 50);
    assert!(first.body.contains(&format!("data-case=\"{}\"", numbers[0])), "the oldest on page 1");
    assert!(first.body.contains("page 1 of 3") && first.body.contains("rel=\"next\""));
    let last = send(&w.app, "GET", "/office/cases?hall=&status=open&page=3", &o.cookie, "10.0.0.1", "").await;
    assert_eq!(listed(&last.body), 20);
    assert!(last.body.contains(&format!("data-case=\"{}\"", numbers[119])));
    assert!(!last.body.contains("rel=\"next\"") && last.body.contains("rel=\"prev\""));
    // A page past the end shows the last one.
    let past = send(&w.app, "GET", "/office/cases?page=99", &o.cookie, "10.0.0.1", "").await;
    assert_eq!(listed(&past.body), 20);
}

#[tokio::test]
async fn every_back_office_route_needs_a_session_and_the_role() {
    let w = web();
    let number = register(&w.core, "main", "B001", "K7QM2P", 5);
    let id = qa::ask(&w.core, None, "问题标题", "问题的内容").unwrap();
    let gets = [
        "/office/cases".to_string(),
        format!("/office/cases/{number}"),
        "/office/qa".into(),
        format!("/office/qa/{id}"),
    ];
    let posts = [
        (format!("/office/cases/{number}/step"), "status=approved"),
        (format!("/office/qa/{id}/answer"), "body=x"),
        (format!("/office/qa/{id}/publish"), ""),
        (format!("/office/qa/{id}/hide"), "reason=x"),
    ];
    for path in &gets {
        let r = send(&w.app, "GET", path, "", "10.0.0.1", "").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert!(r.location().starts_with("/office/login?next="), "{path}: {}", r.location());
    }
    for (path, form) in &posts {
        let r = send(&w.app, "POST", path, "", "10.0.0.1", &format!("csrf=x&{form}")).await;
        assert!(r.location().starts_with("/office/login"), "{path} without a session");
    }
    // Window staff: neither cases nor Q&A. A hall manager: cases of their halls, no Q&A.
    let staff = login(&w.app, "window-staff").await;
    let east = login(&w.app, "manager-east").await;
    for (o, paths) in [(&staff, &gets[..]), (&east, &gets[1..])] {
        for path in paths {
            let r = send(&w.app, "GET", path, &o.cookie, "10.0.0.1", "").await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        }
    }
    for (o, list) in [(&staff, &posts[..]), (&east, &posts[..])] {
        for (path, form) in list {
            let r =
                send(&w.app, "POST", path, &o.cookie, "10.0.0.1", &format!("csrf={}&{form}", o.csrf)).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        }
    }
    assert_eq!(
        send(&w.app, "GET", "/office/cases", &east.cookie, "10.0.0.1", "").await.status,
        StatusCode::OK
    );
    assert_eq!(history(&w.core, &number).len(), 1, "nothing was written");
    assert_eq!(qa::question(&w.core, id).unwrap().unwrap().status, qa::QaStatus::Pending);
}

#[tokio::test]
async fn every_form_refuses_a_missing_or_forged_csrf_token() {
    let w = web();
    let number = register(&w.core, "main", "B001", "K7QM2P", 5);
    let id = qa::ask(&w.core, None, "问题标题", "问题的内容").unwrap();
    let o = login(&w.app, "admin").await;
    let forged = "f".repeat(64);
    for csrf in ["".to_string(), forged.clone()] {
        for (path, form) in [
            (format!("/office/cases/{number}/step"), "status=approved".to_string()),
            (format!("/office/qa/{id}/answer"), "body=answer".into()),
            (format!("/office/qa/{id}/publish"), String::new()),
            (format!("/office/qa/{id}/hide"), "reason=spam".into()),
        ] {
            let r = send(&w.app, "POST", &path, &o.cookie, "10.0.0.1", &format!("csrf={csrf}&{form}")).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path} with csrf '{csrf}'");
        }
        // Public forms: the field must equal the cookie, and a cookie must have come.
        for (path, form) in [
            ("/progress", format!("number={number}&code=K7QM2P")),
            ("/qa/ask", "title=标题标题&body=内容内容内容".to_string()),
        ] {
            for cookie in [format!("csrf={PUBLIC}"), String::new()] {
                let r = send(&w.app, "POST", path, &cookie, "10.9.0.1", &format!("csrf={csrf}&{form}")).await;
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{path} with csrf '{csrf}', cookie '{cookie}'");
            }
        }
        let r = send(
            &w.app,
            "POST",
            "/progress",
            "",
            "10.9.0.1",
            &format!("csrf={PUBLIC}&number={number}&code=K7QM2P"),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "a field without its cookie");
    }
    assert_eq!(history(&w.core, &number).len(), 1, "nothing was written");
    assert_eq!(qa::question(&w.core, id).unwrap().unwrap().status, qa::QaStatus::Pending);
    assert_eq!(qa::with_status(&w.core, qa::QaStatus::Pending).unwrap().len(), 1, "no question was added");
}

#[tokio::test]
async fn script_in_every_text_field_comes_back_as_text() {
    let w = web();
    let escaped = "&lt;script&gt;alert('x')&lt;/script&gt;";
    // A question's title and body.
    let form = format!(
        "csrf={PUBLIC}&service=transcript&title={}&body={}",
        enc(EVIL),
        enc(&format!("{EVIL}\n{EVIL}"))
    );
    let r = send(&w.app, "POST", "/qa/ask", &format!("csrf={PUBLIC}"), "10.6.0.1", &form).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let id = qa::with_status(&w.core, qa::QaStatus::Pending).unwrap()[0].id;
    let o = login(&w.app, "reviewer").await;
    // The answer.
    let form = format!("csrf={}&body={}", o.csrf, enc(EVIL));
    assert_eq!(
        send(&w.app, "POST", &format!("/office/qa/{id}/answer"), &o.cookie, "10.0.0.1", &form).await.status,
        StatusCode::SEE_OTHER
    );
    // A rejection's reason.
    let number = register(&w.core, "main", "B001", "K7QM2P", 5);
    assert_eq!(step(&w.app, &o, &number, "rejected", EVIL).await.status, StatusCode::SEE_OTHER);
    let pages = [
        send(&w.app, "GET", "/qa", "", "10.6.0.1", "").await,
        send(&w.app, "GET", &format!("/qa/{id}"), "", "10.6.0.1", "").await,
        send(&w.app, "GET", &format!("/office/qa/{id}"), &o.cookie, "10.0.0.1", "").await,
        send(&w.app, "GET", &format!("/office/cases/{number}"), &o.cookie, "10.0.0.1", "").await,
        lookup(&w.app, "10.6.0.2", number.as_str(), "K7QM2P").await,
    ];
    for (i, p) in pages.iter().enumerate() {
        assert_eq!(p.status, StatusCode::OK, "page {i}: {}", p.body);
        assert!(!p.body.contains("<script>alert"), "page {i} lets text become a script:\n{}", p.body);
        assert!(p.body.contains(escaped), "page {i} shows the text, escaped");
        assert_eq!(
            p.body.matches("<script").count(),
            p.body.matches("<script src=\"/site.js\"").count(),
            "page {i}: no inline script"
        );
    }
    assert!(pages[1].body.contains("class=\"plain body\""), "line breaks kept by CSS, not by markup");
    // A hide reason (staff only) and a refused, echoed question.
    let form = format!("csrf={}&reason={}", o.csrf, enc(EVIL));
    send(&w.app, "POST", &format!("/office/qa/{id}/hide"), &o.cookie, "10.0.0.1", &form).await;
    let p = send(&w.app, "GET", &format!("/office/qa/{id}"), &o.cookie, "10.0.0.1", "").await;
    assert!(p.body.contains("id=\"hide-reason\"") && !p.body.contains("<script>alert"));
    let form = format!("csrf={PUBLIC}&title={}&body=x", enc(EVIL));
    let p = send(&w.app, "POST", "/qa/ask", &format!("csrf={PUBLIC}"), "10.6.0.3", &form).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        p.body.contains(escaped) && !p.body.contains("<script>alert"),
        "the form is shown again, escaped"
    );
}

#[tokio::test]
async fn questions_wait_for_moderation_and_are_limited_per_client() {
    let w = web();
    let ask = |ip: &'static str, title: &'static str| {
        let app = w.app.clone();
        async move {
            let form =
                format!("csrf={PUBLIC}&service=&title={}&body={}", enc(title), enc("怎么办理？\n第二行"));
            send(&app, "POST", "/qa/ask", &format!("csrf={PUBLIC}"), ip, &form).await
        }
    };
    let r = ask("10.7.0.1", "成绩单多久能拿到").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("id=\"held\""), "the page says the question waits for moderation");
    let id = qa::with_status(&w.core, qa::QaStatus::Pending).unwrap()[0].id;
    assert!(!send(&w.app, "GET", "/qa", "", "10.7.0.1", "").await.body.contains("成绩单多久能拿到"));
    assert_eq!(
        send(&w.app, "GET", &format!("/qa/{id}"), "", "10.7.0.1", "").await.status,
        StatusCode::NOT_FOUND
    );
    let too_short = send(
        &w.app,
        "POST",
        "/qa/ask",
        &format!("csrf={PUBLIC}"),
        "10.7.0.1",
        &format!("csrf={PUBLIC}&title=x&body=y"),
    )
    .await;
    assert_eq!(too_short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(too_short.body.contains("标题须为 2 到 100 个字"), "{}", too_short.body);
    ask("10.7.0.1", "第二个问题").await;
    ask("10.7.0.1", "第三个问题").await;
    let r = ask("10.7.0.1", "第四个问题").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "three questions an hour per client");
    assert!(r.headers.contains_key(header::RETRY_AFTER));
    assert_eq!(ask("10.7.0.2", "别人的问题").await.status, StatusCode::OK);
    // Staff answer: published with the answer, newest first.
    let o = login(&w.app, "reviewer").await;
    let queue = send(&w.app, "GET", "/office/qa", &o.cookie, "10.0.0.1", "").await;
    assert!(queue.body.contains(&format!("data-question=\"{id}\"")), "the pending queue");
    let form = format!("csrf={}&body={}", o.csrf, enc("约三个工作日。\n请凭回执领取。"));
    let r = send(&w.app, "POST", &format!("/office/qa/{id}/answer"), &o.cookie, "10.0.0.1", &form).await;
    assert_eq!(r.location(), format!("/office/qa/{id}?done=answer"));
    let p = send(&w.app, "GET", &format!("/qa/{id}"), "", "10.7.0.1", "").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("约三个工作日。\n请凭回执领取。") && !p.body.contains("reviewer"), "{}", p.body);
    let r = send(
        &w.app,
        "POST",
        &format!("/office/qa/{id}/answer"),
        &o.cookie,
        "10.0.0.1",
        &format!("csrf={}&body=", o.csrf),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "an empty answer");
    let second = qa::with_status(&w.core, qa::QaStatus::Pending).unwrap()[0].id;
    let r = send(
        &w.app,
        "POST",
        &format!("/office/qa/{second}/publish"),
        &o.cookie,
        "10.0.0.1",
        &format!("csrf={}", o.csrf),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let list = send(&w.app, "GET", "/qa", "", "10.7.0.1", "").await;
    assert!(
        list.body.find("第二个问题").unwrap() < list.body.find("成绩单多久能拿到").unwrap(),
        "newest first"
    );
    assert!(list.body.contains("尚未答复"), "published without an answer");
    let r = send(
        &w.app,
        "POST",
        &format!("/office/qa/{id}/hide"),
        &o.cookie,
        "10.0.0.1",
        &format!("csrf={}&reason=", o.csrf),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "hiding needs a reason");
    let r = send(
        &w.app,
        "POST",
        &format!("/office/qa/{id}/hide"),
        &o.cookie,
        "10.0.0.1",
        &format!("csrf={}&reason=dup", o.csrf),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        send(&w.app, "GET", &format!("/qa/{id}"), "", "10.7.0.1", "").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_site_header_links_progress_and_qa() {
    let w = web();
    let r = send(&w.app, "GET", "/qa", "", "10.8.0.1", "").await;
    assert!(r.body.contains("href=\"/progress\"") && r.body.contains("href=\"/qa\""));
}

/// A failure of the store is not "no such case": a missing case is 404, a case step on a full
/// disk is 500 (logged, nothing of the store shown), leaves the case as it was, and goes
/// through once the disk has room again.
#[tokio::test]
async fn a_full_disk_is_a_failure_and_a_missing_case_is_not_found() {
    let w = web();
    let number = register(&w.core, "main", "B001", "K7QM2P", 30);
    let reviewer = login(&w.app, "reviewer").await;
    let missing = CaseNo::new(number.as_str().replace("B001", "B099"));
    assert_eq!(step(&w.app, &reviewer, &missing, "under_review", "").await.status, StatusCode::NOT_FOUND);
    w.core.store().simulate_full_disk(true).unwrap();
    let r = step(&w.app, &reviewer, &number, "under_review", "").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.body);
    assert!(!r.body.to_lowercase().contains("sql") && !r.body.contains("没有这个办件"), "{}", r.body);
    w.core.store().simulate_full_disk(false).unwrap();
    assert_eq!(history(&w.core, &number).len(), 1, "nothing half-written");
    assert_eq!(step(&w.app, &reviewer, &number, "under_review", "").await.status, StatusCode::SEE_OTHER);
    assert_eq!(history(&w.core, &number).len(), 2);
}
