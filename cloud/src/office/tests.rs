//! The back office through the website's router: logins, roles, CSRF, and each editing page
//! publishing to the catalogue document.

use crate::core::accounts::{Account, Role, create_account};

use crate::app::AppState;
use crate::site::Cache;
use crate::testkit::{Client, PASSWORD};
use crate::ui::office::PARTS;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use onestop_model::{
    CaseKind, Catalog, Department, DepartmentId, Hall, HallId, QueueRules, Service, ServiceId, Text, Window,
    WindowService,
};
use onestop_protocol::DocId;
use std::sync::Arc;

const EVIL: &str = "<script>alert('x')</script>";

fn catalog() -> Catalog {
    let mut c = Catalog::default();
    c.departments.insert(
        DepartmentId::new("registry"),
        Department { id: DepartmentId::new("registry"), name: Text::new("教务处", "Registry") },
    );
    c.services.insert(
        ServiceId::new("cert"),
        Service {
            id: ServiceId::new("cert"),
            department: DepartmentId::new("registry"),
            name: Text::new("在读证明", "Certificate of enrolment"),
            prefix: 'A',
            kind: CaseKind::Immediate,
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
                address: Text::default(),
                utc_offset_minutes: 480,
                windows: vec![Window {
                    number: 1,
                    name: Text::new("1号窗口", "Window 1"),
                    services: vec![WindowService { service: ServiceId::new("cert"), weight: 1 }],
                }],
                rules: QueueRules::default(),
                booking: Default::default(),
            },
        );
    }
    c
}

/// A website with a published catalogue and one account per role (hall-bound roles: `main`).
fn state() -> AppState {
    let core = crate::testkit::core();
    core.publish(|c| {
        *c = catalog();
        Ok(())
    })
    .unwrap();
    for role in Role::ALL {
        let halls = if matches!(role, Role::HallManager | Role::WindowStaff) {
            vec![HallId::new("main")]
        } else {
            vec![]
        };
        let acc = Account {
            login: role.as_str().replace('_', "-"),
            name: format!("{} {EVIL}", role.en()),
            role,
            halls,
            disabled: false,
        };
        create_account(&core.db(), &acc, PASSWORD, 0).unwrap();
    }
    AppState::new(Cache::default(), Arc::new(core), crate::stats::StatsDb::memory())
}

/// Every back-office page and form, with a role that may use it.
const ROUTES: &[(&str, &str, Role)] = &[
    ("GET", "/office/catalog", Role::Admin),
    ("POST", "/office/catalog/department", Role::Admin),
    ("POST", "/office/catalog/service", Role::Admin),
    ("GET", "/office/catalog/service/cert", Role::Admin),
    ("POST", "/office/catalog/service/cert/delete", Role::Admin),
    ("POST", "/office/catalog/hall", Role::Admin),
    ("GET", "/office/halls", Role::HallManager),
    ("GET", "/office/halls/main", Role::HallManager),
    ("POST", "/office/halls/main", Role::HallManager),
    ("POST", "/office/notices", Role::HallManager),
    ("POST", "/office/notices/n1/delete", Role::HallManager),
    ("GET", "/office/staff", Role::HallManager),
    ("POST", "/office/staff", Role::HallManager),
    ("POST", "/office/staff/s1/delete", Role::HallManager),
    ("GET", "/office/accounts", Role::Admin),
    ("POST", "/office/accounts", Role::Admin),
    ("POST", "/office/accounts/password", Role::Admin),
    ("POST", "/office/accounts/reviewer/toggle", Role::Admin),
    ("GET", "/office/cards", Role::Admin),
    ("GET", "/office/nodes", Role::HallManager),
    ("POST", "/office/nodes/n1/approve", Role::Admin),
];

#[tokio::test]
async fn every_office_route_wants_a_session_and_the_right_role() {
    let state = state();
    let mut anonymous = Client::new(&state);
    for (method, path, _) in ROUTES {
        let r = if *method == "GET" {
            anonymous.get(path).await
        } else {
            anonymous.post(path, &[("csrf", "x")]).await
        };
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{method} {path} without a session");
        assert!(r.location().starts_with("/office/login"), "{method} {path}");
    }
    for role in Role::ALL {
        let mut c = Client::new(&state);
        let csrf = c.login(&role.as_str().replace('_', "-")).await;
        for (method, path, needs) in ROUTES {
            let allowed = match needs {
                Role::Admin => role == Role::Admin,
                Role::HallManager => matches!(role, Role::Admin | Role::HallManager),
                _ => unreachable!(),
            };
            if allowed {
                continue;
            }
            let r = if *method == "GET" { c.get(path).await } else { c.post(path, &[("csrf", &csrf)]).await };
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path} as {role:?}: {}", r.body);
        }
        // The navigation offers only what the role may use.
        let home = c.get("/office").await.body;
        for (href, area, _, _) in PARTS {
            assert_eq!(home.contains(&format!("href=\"{href}\"")), role.may(*area), "{href} for {role:?}");
        }
        // The account's name is text, never markup.
        assert!(!home.contains(EVIL) && home.contains("&lt;script&gt;"));
    }
    // A hall manager of `main` cannot touch `east`.
    let mut m = Client::new(&state);
    let csrf = m.login("hall-manager").await;
    assert_eq!(m.get("/office/halls/east").await.status, StatusCode::FORBIDDEN);
    assert_eq!(m.post("/office/halls/east", &[("csrf", &csrf)]).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn every_office_form_wants_the_sessions_csrf_token() {
    let state = state();
    let mut c = Client::new(&state);
    let _ = c.login("admin").await;
    for (method, path, _) in ROUTES.iter().filter(|r| r.0 == "POST") {
        for forged in [vec![], vec![("csrf", "0".repeat(64))]] {
            let form: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = c.post(path, &form).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path} with {forged:?}");
        }
    }
    // Another session's token is not this session's.
    let mut other = Client::new(&state);
    let theirs = other.login("reviewer").await;
    let r = c.post("/office/catalog/department", &[("csrf", &theirs), ("id", "x"), ("zh", "x")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The login form too.
    let mut fresh = Client::new(&state);
    let r = fresh
        .post("/office/login", &[("csrf", &"a".repeat(64)), ("login", "admin"), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Logging out ends the session.
    let csrf = c.login("admin").await;
    assert_eq!(c.post("/office/logout", &[("csrf", &csrf)]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(c.get("/office").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn wrong_passwords_are_refused_and_then_locked() {
    let state = state();
    let mut c = Client::new(&state);
    let csrf = Client::csrf_in(&c.get("/office/login").await.body);
    for _ in 0..4 {
        let r = c
            .post("/office/login", &[("csrf", &csrf), ("login", "admin"), ("password", "wrong password")])
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.body.contains("wrong login or password"));
    }
    let r =
        c.post("/office/login", &[("csrf", &csrf), ("login", "admin"), ("password", "wrong password")]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let r = c.post("/office/login", &[("csrf", &csrf), ("login", "admin"), ("password", PASSWORD)]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "locked even with the right password");
    // Only this site's pages are followed after a login.
    let mut d = Client::new(&state);
    let csrf = Client::csrf_in(&d.get("/office/login?next=//evil.example/").await.body);
    let r = d
        .post(
            "/office/login",
            &[
                ("csrf", &csrf),
                ("login", "reviewer"),
                ("password", PASSWORD),
                ("next", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(r.location(), "/office");
}

#[tokio::test]
async fn catalogue_edits_are_published_escaped_and_validated() {
    let state = state();
    let mut changes = state.core.changes.subscribe();
    let mut c = Client::new(&state);
    let csrf = c.login("admin").await;
    let r = c
        .post(
            "/office/catalog/service",
            &[
                ("csrf", &csrf),
                ("new", "1"),
                ("id", "loan"),
                ("department", "registry"),
                ("name_zh", EVIL),
                ("name_en", "Student loan"),
                ("prefix", "l"),
                ("kind", "pending"),
                ("expected_minutes", "10"),
                ("guide_zh", "带身份证\n带校园卡"),
                ("guide_en", ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(changes.try_recv().unwrap(), DocId::Catalog, "the halls are told at once");
    let cat = state.core.catalog().unwrap();
    let loan = &cat.services[&ServiceId::new("loan")];
    assert_eq!((loan.prefix, loan.kind, loan.name.zh.as_str()), ('L', CaseKind::Pending, EVIL));
    let page = c.get("/office/catalog").await.body;
    assert!(!page.contains(EVIL) && page.contains("&lt;script&gt;"));
    // A second service with the same id as new is refused; so is a prefix clash at a hall.
    let again = c
        .post(
            "/office/catalog/service",
            &[
                ("csrf", &csrf),
                ("new", "1"),
                ("id", "loan"),
                ("department", "registry"),
                ("name_zh", "x"),
                ("prefix", "M"),
                ("kind", "immediate"),
                ("expected_minutes", "5"),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.body.contains("already exists"));
    let r = c
        .post(
            "/office/halls/main",
            &[
                ("csrf", &csrf),
                ("name_zh", "主楼大厅"),
                ("name_en", "Main hall"),
                ("address_zh", ""),
                ("address_en", ""),
                ("max_recalls", "2"),
                ("booking_early_minutes", "30"),
                ("booking_late_minutes", "15"),
                ("aging_minutes", "45"),
                ("target_wait_minutes", "20"),
                ("reactivate_placement", "back"),
                ("w0_no", "1"),
                ("w0_zh", "1号窗口"),
                ("w0_en", ""),
                ("w0_services", "cert, loan:2"),
                ("w1_no", "2"),
                ("w1_zh", "2号窗口"),
                ("w1_en", ""),
                ("w1_services", "loan"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let cat = state.core.catalog().unwrap();
    let main = &cat.halls[&HallId::new("main")];
    assert_eq!(main.windows.len(), 2);
    assert_eq!(main.windows[0].services[1].weight, 2);
    // Reservation rules, edited on the same page.
    let r = c
        .post(
            "/office/halls/east",
            &[
                ("csrf", &csrf),
                ("name_zh", "东区"),
                ("max_recalls", "2"),
                ("booking_early_minutes", "30"),
                ("booking_late_minutes", "15"),
                ("aging_minutes", "45"),
                ("target_wait_minutes", "20"),
                ("reactivate_placement", "back"),
                ("w0_no", "1"),
                ("w0_services", "cert"),
                ("booking_enabled", "1"),
                ("booking_periods", "09:00-12:00, 13:30-16:30"),
                ("booking_slot_minutes", "20"),
                ("booking_capacity", "6"),
                ("booking_days_ahead", "14"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let east = state.core.catalog().unwrap().halls[&HallId::new("east")].booking.clone();
    assert_eq!(
        (east.enabled, east.weekends, east.slot_minutes, east.capacity, east.days_ahead),
        (true, false, 20, 6, 14)
    );
    assert_eq!(
        east.periods.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        ["09:00-12:00", "13:30-16:30"]
    );
    assert!(c.get("/office/halls/east").await.body.contains("09:00-12:00, 13:30-16:30"));
    let bad = c
        .post(
            "/office/halls/east",
            &[
                ("csrf", &csrf),
                ("name_zh", "东区"),
                ("max_recalls", "2"),
                ("booking_early_minutes", "30"),
                ("booking_late_minutes", "15"),
                ("aging_minutes", "45"),
                ("target_wait_minutes", "20"),
                ("reactivate_placement", "back"),
                ("w0_no", "1"),
                ("w0_services", "cert"),
                ("booking_periods", "12:00-09:00"),
                ("booking_slot_minutes", "20"),
                ("booking_capacity", "6"),
                ("booking_days_ahead", "14"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("booking period"), "{}", bad.body);
    // A window serving a service that does not exist: refused, nothing published.
    let bad = c
        .post(
            "/office/halls/main",
            &[
                ("csrf", &csrf),
                ("name_zh", "主楼大厅"),
                ("max_recalls", "2"),
                ("booking_early_minutes", "30"),
                ("booking_late_minutes", "15"),
                ("aging_minutes", "45"),
                ("target_wait_minutes", "20"),
                ("reactivate_placement", "back"),
                ("w0_no", "1"),
                ("w0_services", "nosuch"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(state.core.catalog().unwrap().halls[&HallId::new("main")].windows.len(), 2);
    // A service still served somewhere cannot be deleted.
    let del = c.post("/office/catalog/service/loan/delete", &[("csrf", &csrf)]).await;
    assert_eq!(del.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(state.core.catalog().unwrap().services.contains_key(&ServiceId::new("loan")));
}

#[tokio::test]
async fn notices_and_staff_pins_within_a_managers_halls() {
    let state = state();
    let mut m = Client::new(&state);
    let csrf = m.login("hall-manager").await;
    // Campus-wide or another hall's notices are the admin's.
    let r = m.post("/office/notices", &[("csrf", &csrf), ("title_zh", "停电"), ("halls", "")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = m.post("/office/notices", &[("csrf", &csrf), ("title_zh", "停电"), ("halls", "east")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = m
        .post("/office/notices", &[("csrf", &csrf), ("title_zh", EVIL), ("body_zh", EVIL), ("halls", "main")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let cat = state.core.catalog().unwrap();
    assert_eq!(cat.notices.values().next().unwrap().halls, vec![HallId::new("main")]);
    assert!(!m.get("/office/halls").await.body.contains(EVIL));
    // A staff member with a PIN: only its hash is published.
    let r = m
        .post(
            "/office/staff",
            &[
                ("csrf", &csrf),
                ("id", "s9"),
                ("name", "李老师"),
                ("department", "registry"),
                ("halls", "main"),
                ("pin", "2468"),
                ("card", ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let s9 = state.core.catalog().unwrap().staff[&onestop_model::StaffId::new("s9")].clone();
    assert!(onestop_protocol::secrets::verify_pin(&s9.pin_hash, "2468"));
    assert!(!m.get("/office/staff").await.body.contains("2468"));
    // Changing the name without a PIN keeps the PIN.
    let r = m
        .post(
            "/office/staff",
            &[
                ("csrf", &csrf),
                ("id", "s9"),
                ("name", "李老师二"),
                ("department", "registry"),
                ("halls", "main"),
                ("pin", ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let s9b = state.core.catalog().unwrap().staff[&onestop_model::StaffId::new("s9")].clone();
    assert_eq!((s9b.name.as_str(), s9b.pin_hash.as_str()), ("李老师二", s9.pin_hash.as_str()));
    // A PIN of letters, a new person without a PIN, another hall: refused with the reason.
    for (form, why) in [
        (
            vec![("id", "s8"), ("name", "x"), ("department", "registry"), ("halls", "main"), ("pin", "abcd")],
            "4 to 12 digits",
        ),
        (
            vec![("id", "s8"), ("name", "x"), ("department", "registry"), ("halls", "main"), ("pin", "")],
            "needs a PIN",
        ),
        (
            vec![("id", "s8"), ("name", "x"), ("department", "registry"), ("halls", "east"), ("pin", "1234")],
            "own halls",
        ),
    ] {
        let mut f = vec![("csrf", csrf.as_str())];
        f.extend(form);
        let r = m.post("/office/staff", &f).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains(why), "{why}: {}", r.body);
    }
}

#[tokio::test]
async fn a_card_export_is_imported_with_a_report_of_rejected_rows() {
    let state = state();
    let mut c = Client::new(&state);
    let csrf = c.login("admin").await;
    let csv = "卡号,身份,学院\n2023010203,本科生,计算机学院\nbad!,本科生,x\n2023010204,研究生,<b>数学</b>\n";
    let boundary = "XyZ";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cards.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
    );
    let upload = || {
        Request::builder()
            .method("POST")
            .uri("/office/cards")
            .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
    };
    let r = c.send(upload(), Body::from(body.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("2 cards imported") && r.body.contains("1 rows rejected"), "{}", r.body);
    assert!(r.body.contains("bad!,本科生,x") && !r.body.contains("<b>数学"));
    {
        let mut store = state.core.store();
        let doc = store.doc(&DocId::Cards).unwrap().unwrap();
        assert_eq!(onestop_protocol::cards::count(doc).unwrap(), 2);
        let e = onestop_protocol::cards::lookup(doc, "2023010204").unwrap().unwrap();
        assert_eq!(e.college, "<b>数学</b>");
    }
    // Without the session's token nothing is imported.
    let forged = body.replace(&csrf, &"0".repeat(64));
    assert_eq!(c.send(upload(), Body::from(forged)).await.status, StatusCode::FORBIDDEN);
}

/// A hall id the halls' sync would refuse (documents, certificates) is refused here with the
/// rule; a new hall takes the campus's time zone; and a disk that is full is the cloud's
/// failure (500, logged), not the form's (422), and publishes nothing.
#[tokio::test]
async fn hall_ids_follow_the_sync_rule_and_a_full_disk_is_not_the_forms_fault() {
    let state = state();
    let mut c = Client::new(&state);
    let csrf = c.login("admin").await;
    let halls_before = state.core.catalog().unwrap().halls.len();
    for bad in ["east_wing", "East", &"h".repeat(33)] {
        let r = c.post("/office/catalog/hall", &[("csrf", &csrf), ("id", bad), ("zh", "东厅")]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {}", r.body);
        assert!(r.body.contains("1 到 32 个小写字母、数字或 -") && r.body.contains("1 to 32"), "{}", r.body);
    }
    assert_eq!(state.core.catalog().unwrap().halls.len(), halls_before, "no hall was added");
    // A campus in another time zone: a new hall takes the campus's offset.
    state
        .core
        .publish(|cat| {
            cat.utc_offset_minutes = 60;
            Ok(())
        })
        .unwrap();
    let r = c.post("/office/catalog/hall", &[("csrf", &csrf), ("id", "east-1"), ("zh", "东厅")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(state.core.catalog().unwrap().offset_of(&HallId::new("east-1")), 60);
    // The disk fills up: the same kind of edit is a 500 and changes nothing.
    state.core.store().simulate_full_disk(true).unwrap();
    let r = c.post("/office/catalog/hall", &[("csrf", &csrf), ("id", "west"), ("zh", "西厅")]).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.body);
    assert!(
        !r.body.contains("SQL") && !r.body.contains("sqlite") && !r.body.contains(".sqlite"),
        "{}",
        r.body
    );
    state.core.store().simulate_full_disk(false).unwrap();
    assert!(
        !state.core.catalog().unwrap().halls.contains_key(&HallId::new("west")),
        "nothing half-published"
    );
    let r = c.post("/office/catalog/hall", &[("csrf", &csrf), ("id", "west"), ("zh", "西厅")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "with room again, the same form goes through: {}", r.body);
}
