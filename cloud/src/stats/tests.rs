//! The projection (incremental = rebuild, rollups = facts) and the statistics and follow-up
//! pages through the website's router (roles, CSRF, escaping, CSV).

use super::project::Projection;
use super::query::{self, Filter, Group};
use crate::app::AppState;
use crate::core::accounts::{Account, Role, create_account};
use crate::core::followups;
use crate::site::{Cache, Site};
use crate::testkit::{Client, PASSWORD};
use axum::http::{StatusCode, header};
use onestop_model::{
    CaseKind, Catalog, Day, DayEvent, Department, DepartmentId, Hall, HallId, Level, PersonKind, Priority,
    QueueRules, Rating, Service, ServiceId, Source, StaffId, Text, TicketNo, Timestamp, Visitor, VisitorId,
    Window, WindowService,
};
use onestop_protocol::{DocId, day};
use onestop_store::Store;
use proptest::prelude::*;
use std::sync::{Arc, Mutex};

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
                rules: QueueRules { target_wait_minutes: 10, ..QueueRules::default() },
                booking: Default::default(),
            },
        );
    }
    c
}

fn today() -> Day {
    crate::testkit::now().day(480)
}

fn at(day: Day, min: i64) -> Timestamp {
    day.start(480).plus_minutes(8 * 60 + min)
}

fn write(store: &mut Store, hall: &str, d: Day, events: &[DayEvent]) {
    let hall = HallId::new(hall);
    let id = DocId::Day { hall: hall.clone(), day: d };
    let stamp = store.next_stamp(at(d, 0));
    store.write(stamp, |b| b.edit(&id, |tx| Ok(day::append(tx, &hall, d, 480, events)?))).unwrap();
}

/// One visit: issued, called after `wait` minutes, started, finished, rated at `level`.
fn visit(
    d: Day,
    start: i64,
    n: u32,
    wait: i64,
    staff_window: u16,
    college: &str,
    level: Level,
) -> Vec<DayEvent> {
    let t = TicketNo::new('A', n);
    vec![
        DayEvent::Issued {
            at: at(d, start),
            ticket: t,
            service: ServiceId::new("cert"),
            source: Source::Card(Visitor {
                id: VisitorId::new(format!("v{n}")),
                kind: PersonKind::Undergraduate,
                college: college.into(),
            }),
            priority: Priority::Normal,
            ahead: 0,
            wait_estimate_min: 0,
        },
        DayEvent::Called { at: at(d, start + wait), ticket: t, window: staff_window },
        DayEvent::Started { at: at(d, start + wait + 1), ticket: t, window: staff_window },
        DayEvent::Finished {
            at: at(d, start + wait + 4),
            ticket: t,
            window: staff_window,
            kind: CaseKind::Immediate,
        },
        DayEvent::Rated {
            at: at(d, start + wait + 5),
            ticket: t,
            window: staff_window,
            rating: Rating::overall(level),
        },
    ]
}

/// Every projected row, in a fixed order.
fn dump(conn: &rusqlite::Connection) -> Vec<String> {
    let mut out = Vec::new();
    for (table, order) in [
        ("tickets", "hall, day, ticket"),
        ("shifts", "hall, day, seq"),
        ("pauses", "hall, day, seq"),
        ("rollup", "dim, day, hall, key"),
        ("bookings", "hall, day, booking"),
    ] {
        let mut st = conn.prepare(&format!("SELECT * FROM {table} ORDER BY {order}")).unwrap();
        let n = st.column_count();
        let rows = st
            .query_map([], |r| {
                let cells: Vec<String> =
                    (0..n).map(|i| format!("{:?}", r.get_ref(i).unwrap())).collect::<Vec<_>>();
                Ok(format!("{table}: {}", cells.join(" | ")))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

fn arb_event(d: Day) -> impl Strategy<Value = DayEvent> {
    (0u8..11, 1u32..7, 1u16..3, 0i64..500, 1i64..6).prop_map(move |(k, n, w, m, lv)| {
        let ticket = TicketNo::new('A', n);
        let at = at(d, m);
        match k {
            0 | 1 => DayEvent::Issued {
                at,
                ticket,
                service: ServiceId::new("cert"),
                source: if n % 2 == 0 {
                    Source::Card(Visitor {
                        id: VisitorId::new("v"),
                        kind: PersonKind::Graduate,
                        college: "理 学院".into(),
                    })
                } else {
                    Source::Anonymous
                },
                priority: Priority::Normal,
                ahead: 0,
                wait_estimate_min: 0,
            },
            2 => DayEvent::Called { at, ticket, window: w },
            3 => DayEvent::Started { at, ticket, window: w },
            4 => DayEvent::Finished { at, ticket, window: w, kind: CaseKind::Immediate },
            5 => DayEvent::Rated {
                at,
                ticket,
                window: w,
                rating: Rating {
                    attitude: Level::from_score(6 - lv),
                    ..Rating::overall(Level::from_score(lv).unwrap())
                },
            },
            6 => DayEvent::NoShow { at, ticket, window: w },
            7 => DayEvent::CheckedIn { at, window: w, staff: StaffId::new(format!("s{n}")) },
            8 => DayEvent::Paused { at, window: w, reason: "午休 lunch".into() },
            9 => DayEvent::Resumed { at, window: w },
            _ => DayEvent::CheckedOut { at, window: w },
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Projecting after every write gives the same tables as one projection of the end, and
    /// the rollups give the same figures as the ticket facts for every grouping.
    #[test]
    fn incremental_projection_equals_a_rebuild(
        batches in proptest::collection::vec(proptest::collection::vec(arb_event(Day::new(2026, 11, 26).unwrap()), 1..8), 1..6)
    ) {
        let d = Day::new(2026, 11, 26).unwrap();
        let cat = catalog();
        let store = Mutex::new(Store::open_in_memory().unwrap());
        let mut live = Projection::open_in_memory().unwrap();
        let mut bad = std::collections::BTreeSet::new();
        for (i, b) in batches.iter().enumerate() {
            write(&mut store.lock().unwrap(), if i % 3 == 2 { "east" } else { "main" }, d, b);
            bad.extend(live.catch_up(&store, &cat).unwrap().bad_ratings.into_iter().map(|r| (r.hall, r.ticket)));
        }
        let mut fresh = Projection::open_in_memory().unwrap();
        let rebuilt = fresh.catch_up(&store, &cat).unwrap();
        prop_assert_eq!(dump(&live.conn), dump(&fresh.conn));
        let again: std::collections::BTreeSet<_> = rebuilt.bad_ratings.into_iter().map(|r| (r.hall, r.ticket)).collect();
        prop_assert!(again.is_subset(&bad), "a low rating the rebuild finds was found as it arrived");
        // Nothing changed: nothing is read again.
        prop_assert_eq!(fresh.catch_up(&store, &cat).unwrap().docs, 0);
        let filter = Filter { halls: None, from: d, to: d, staff: None };
        for g in Group::ALL {
            let a = query::grouped(&fresh.conn, &filter, g, &cat).unwrap();
            let b = query::grouped_from_facts(&fresh.conn, &filter, g, &cat).unwrap();
            prop_assert_eq!(a, b, "grouped by {:?}", g);
        }
        // One staff member's figures: the staff rollup agrees with their ticket facts.
        for n in 1..7 {
            let own = Filter { staff: Some(StaffId::new(format!("s{n}"))), ..filter.clone() };
            for g in [Group::Day, Group::Hall] {
                let a = query::grouped(&fresh.conn, &own, g, &cat).unwrap();
                let b = query::grouped_from_facts(&fresh.conn, &own, g, &cat).unwrap();
                prop_assert_eq!(a, b, "s{}'s figures by {:?}", n, g);
            }
        }
    }
}

#[test]
fn a_rating_is_projected_with_the_halls_definitions() {
    let d = Day::new(2026, 11, 26).unwrap();
    let store = Mutex::new(Store::open_in_memory().unwrap());
    let mut events = vec![DayEvent::CheckedIn { at: at(d, 0), window: 1, staff: StaffId::new("s1") }];
    events.extend(visit(d, 1, 1, 6, 1, "计算机学院", Level::VerySatisfied));
    events.extend(visit(d, 2, 2, 12, 1, "计算机学院", Level::Unsatisfied));
    events.push(DayEvent::Paused { at: at(d, 30), window: 1, reason: "午休".into() });
    events.push(DayEvent::Resumed { at: at(d, 40), window: 1 });
    events.push(DayEvent::CheckedOut { at: at(d, 120), window: 1 });
    write(&mut store.lock().unwrap(), "main", d, &events);
    let mut p = Projection::open_in_memory().unwrap();
    let done = p.catch_up(&store, &catalog()).unwrap();
    assert_eq!(done.bad_ratings.len(), 1);
    assert_eq!(done.bad_ratings[0].ticket, "A002");
    let filter = Filter { halls: None, from: d, to: d, staff: None };
    let t = query::overall(&p.conn, &filter, &catalog()).unwrap();
    assert_eq!((t.issued, t.served, t.rated), (2, 2, 2));
    assert_eq!(t.satisfaction_pct(), Some(50.0));
    assert_eq!(t.mean_wait_min(), Some(9.0));
    assert_eq!(t.within_target_pct(), Some(50.0), "the hall's target is 10 minutes");
    assert_eq!(t.p90_wait_min(), Some(12));
    let by_dept = query::grouped(&p.conn, &filter, Group::Department, &catalog()).unwrap();
    assert_eq!((by_dept[0].key.as_str(), by_dept[0].zh.as_str()), ("registry", "教务处"));
    let shifts = query::shifts(&p.conn, &filter).unwrap();
    assert_eq!(shifts.len(), 1);
    assert_eq!((shifts[0].pauses, shifts[0].paused_ms), (1, 10 * 60_000));
    let staff = Filter { staff: Some(StaffId::new("s1")), ..filter.clone() };
    assert_eq!(query::overall(&p.conn, &staff, &catalog()).unwrap().issued, 2);
    let nobody = Filter { staff: Some(StaffId::new("s9")), ..filter };
    assert_eq!(query::overall(&p.conn, &nobody, &catalog()).unwrap().issued, 0);
}

// ----- Pages -----

/// A website with a published catalogue, one account per role (hall-bound roles: `main`),
/// and two halls' day projected: `main` served by `window-staff`, `east` by `s2`.
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
            name: role.en().into(),
            role,
            halls,
            disabled: false,
        };
        create_account(&core.db(), &acc, PASSWORD, 0).unwrap();
    }
    let d = today();
    {
        let mut store = core.store();
        let mut main =
            vec![DayEvent::CheckedIn { at: at(d, 0), window: 1, staff: StaffId::new("window-staff") }];
        main.extend(visit(d, 1, 1, 5, 1, EVIL, Level::Unsatisfied));
        main.extend(visit(d, 2, 2, 5, 1, "计算机学院", Level::Satisfied));
        write(&mut store, "main", d, &main);
        let mut east = vec![DayEvent::CheckedIn { at: at(d, 0), window: 1, staff: StaffId::new("s2") }];
        east.extend(visit(d, 1, 1, 3, 1, "理学院", Level::VeryUnsatisfied));
        write(&mut store, "east", d, &east);
    }
    let stats = super::StatsDb::memory();
    let super::StatsDb::Memory(p) = &stats else { panic!("in memory") };
    super::pass(&mut p.lock().unwrap(), &core.store, &core.db, None).unwrap();
    let cache = Cache::with(Site { catalog: Arc::new(catalog()), halls: Default::default() });
    AppState::new(cache, Arc::new(core), stats)
}

/// The number in the "Issued" column of a table's total (or only) row.
fn issued_in(body: &str, table: &str) -> Vec<String> {
    let start = body.find(&format!("id=\"{table}\"")).expect(table);
    let t = &body[start..start + body[start..].find("</table>").unwrap()];
    t.split("<tr>")
        .skip(2)
        .map(|row| row.split("<td class=\"num\">").nth(1).unwrap().split('<').next().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_public_statistics_show_every_hall_with_charts_and_csv() {
    let state = state();
    let mut c = Client::new(&state);
    let r = c.get("/stats").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("href=\"/stats\""), "the header links to the statistics");
    assert!(r.body.contains("<svg role=\"img\""));
    assert!(r.body.contains("main大厅") && r.body.contains("east大厅"));
    assert_eq!(issued_in(&r.body, "stats-halls"), vec!["2", "1", "3"]);
    let csv = c.get("/stats?format=csv&table=halls").await;
    assert_eq!(csv.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert!(csv.body.starts_with('\u{feff}'));
    assert!(csv.body.contains("main,main大厅,main hall,2,2,2,0,0.0,"));
    let daily = c.get("/stats?format=csv").await;
    assert!(daily.body.contains(&format!("\r\n{},", today())));
}

#[tokio::test]
async fn office_statistics_follow_the_role() {
    let state = state();
    let mut anon = Client::new(&state);
    assert_eq!(anon.get("/office/stats").await.status, StatusCode::SEE_OTHER);
    let mut admin = Client::new(&state);
    admin.login("admin").await;
    let r = admin.get("/office/stats?group=hall").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(issued_in(&r.body, "stats-figures"), vec!["2", "1", "3"]);
    // Visitors' colleges are escaped.
    let r = admin.get("/office/stats?group=college").await;
    assert!(!r.body.contains(EVIL) && r.body.contains("&lt;script&gt;"));
    let csv = admin.get("/office/stats?group=college&format=csv").await;
    assert!(csv.body.contains("<script>alert('x')</script>"), "CSV is text, not markup");
    let att = admin.get("/office/stats?format=csv&table=attendance").await;
    assert!(att.body.contains("window-staff") && att.body.contains(",s2,"));
    // A hall manager: their hall only.
    let mut mgr = Client::new(&state);
    mgr.login("hall-manager").await;
    let r = mgr.get("/office/stats?group=hall").await;
    assert_eq!(issued_in(&r.body, "stats-figures"), vec!["2"]);
    assert_eq!(mgr.get("/office/stats?hall=east").await.status, StatusCode::FORBIDDEN);
    // Window staff: their own tickets and attendance (login = staff id).
    let mut staff = Client::new(&state);
    staff.login("window-staff").await;
    let r = staff.get("/office/stats?group=staff").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(issued_in(&r.body, "stats-figures"), vec!["2"]);
    let att = staff.get("/office/stats?format=csv&table=attendance").await;
    assert!(att.body.contains("window-staff") && !att.body.contains(",s2,"));
    // A reviewer may read statistics too.
    let mut rev = Client::new(&state);
    rev.login("reviewer").await;
    assert_eq!(rev.get("/office/stats").await.status, StatusCode::OK);
}

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

#[tokio::test]
async fn low_ratings_are_followed_up_within_the_managers_halls() {
    let state = state();
    // Two bad ratings were projected: one per hall.
    assert_eq!(followups::list(&state.core.db()).unwrap().len(), 2);
    for role in ["reviewer", "window-staff"] {
        let mut c = Client::new(&state);
        c.login(role).await;
        assert_eq!(c.get("/office/followups").await.status, StatusCode::FORBIDDEN, "{role}");
    }
    let mut mgr = Client::new(&state);
    let csrf = mgr.login("hall-manager").await;
    let page = mgr.get("/office/followups").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("main") && !page.body.contains(">east<"), "only the manager's hall");
    let all = followups::list(&state.core.db()).unwrap();
    let main = all.iter().find(|f| f.hall.as_str() == "main").unwrap();
    let east = all.iter().find(|f| f.hall.as_str() == "east").unwrap();
    let when = format!("{}T15:00", today());
    let record = |csrf: &str, id: i64, note: &str| -> Vec<(String, String)> {
        vec![
            ("csrf".into(), csrf.into()),
            ("id".into(), id.to_string()),
            ("called_back".into(), when.clone()),
            ("note".into(), note.into()),
            ("outcome".into(), "resolved".into()),
        ]
    };
    let wrong = "0".repeat(64);
    let bad = record(&wrong, main.id, EVIL);
    assert_eq!(mgr.post("/office/followups/record", &pairs(&bad)).await.status, StatusCode::FORBIDDEN);
    assert!(followups::get(&state.core.db(), main.id).unwrap().unwrap().outcome.is_none());
    // Not the manager's hall.
    let other = record(&csrf, east.id, "x");
    assert_eq!(mgr.post("/office/followups/record", &pairs(&other)).await.status, StatusCode::FORBIDDEN);
    let ok = record(&csrf, main.id, EVIL);
    let r = mgr.post("/office/followups/record", &pairs(&ok)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let f = followups::get(&state.core.db(), main.id).unwrap().unwrap();
    assert_eq!(f.outcome, Some(followups::FollowOutcome::Resolved));
    assert_eq!(f.called_back.unwrap().local_hm(480), "15:00");
    let page = mgr.get("/office/followups?done=recorded").await;
    assert!(!page.body.contains(EVIL) && page.body.contains("&lt;script&gt;"), "notes are escaped");
    // Settings are the administrator's.
    let s = [("csrf", csrf.as_str()), ("working_days", "5")];
    assert_eq!(mgr.post("/office/followups/settings", &s).await.status, StatusCode::FORBIDDEN);
    let mut admin = Client::new(&state);
    let a = admin.login("admin").await;
    let r = admin.post("/office/followups/settings", &[("csrf", a.as_str()), ("working_days", "5")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(followups::working_days(&state.core.db()), 5);
}
