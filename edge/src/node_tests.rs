use super::*;
use crate::clock::ManualClock;
use crate::script;
use onestop_engine::Command;
use onestop_model::*;
use onestop_protocol::cards;
use onestop_store::Durability;

fn hall() -> HallId {
    HallId::new("main")
}
fn day() -> Day {
    Day::new(2026, 11, 26).unwrap()
}
fn at(m: i64) -> Timestamp {
    day().start(480).plus_minutes(8 * 60 + m)
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    clock: ManualClock,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.sqlite");
        let clock = ManualClock::new(at(0));
        let mut store = Store::open(&path, Durability::Full).unwrap();
        publish_catalog(&mut store, &crate::sim::campus_catalog(&hall(), 4), at(-1)).unwrap();
        Fixture { _dir: dir, path, clock }
    }
    fn open(&self) -> Node {
        let store = Store::open(&self.path, Durability::Full).unwrap();
        let clock = bounded_clock(std::sync::Arc::new(self.clock.clone()), &store, TimeBounds::default());
        Node::open(share(store), hall(), Box::new(clock), VisitorKey::new([3; 32])).unwrap()
    }
}

fn run(node: &mut Node, line: &str) -> Outcome {
    let cmd = node.resolve(script::parse(line).unwrap()).unwrap();
    node.execute(&cmd).unwrap_or_else(|e| panic!("{line}: {e}"))
}

#[test]
fn a_restarted_node_carries_on_where_it_stopped() {
    let f = Fixture::new();
    let mut node = f.open();
    run(&mut node, "check-in 1 s001");
    let first = run(&mut node, "issue registry-1");
    assert!(matches!(first.effects[..], [Effect::PrintTicket { .. }]));
    run(&mut node, "issue registry-1 card=20230001");
    f.clock.set(at(3));
    run(&mut node, "call 1");
    let live = node.engine().clone();
    drop(node);

    let mut node = f.open();
    assert_eq!(node.engine(), &live, "restart = replay of today's document");
    let next = run(&mut node, "issue registry-1");
    let DayEvent::Issued { ticket, .. } = &next.events[0] else { panic!() };
    assert_eq!(ticket.to_string(), "A003", "numbering continues after the restart");
}

#[test]
fn finishing_registers_the_case_with_a_code() {
    let f = Fixture::new();
    let mut node = f.open();
    run(&mut node, "check-in 1 s001");
    run(&mut node, "issue registry-1 card=20230001");
    run(&mut node, "call 1");
    run(&mut node, "start 1");
    f.clock.set(at(7));
    let out = run(&mut node, "finish 1 pending");
    let case = out.case.expect("a finish registers a case");
    assert_eq!(case.number.as_str(), "20261126-main-A001");
    assert_eq!(case.code.len(), 6);
    assert_eq!(case.staff, Some(StaffId::new("s001")));
    assert!(case.visitor.is_some());
    let stored = node.store().cases(&hall(), Month::of(day())).unwrap();
    assert_eq!(stored, vec![case.clone()]);
    assert_eq!(stored[0].status(), CaseStatus::Registered);
    // An immediate case is completed on the spot.
    run(&mut node, "issue registry-1");
    run(&mut node, "call 1");
    run(&mut node, "start 1");
    let out = run(&mut node, "finish 1 immediate");
    assert_eq!(out.case.unwrap().status(), CaseStatus::Completed);
}

#[test]
fn cards_are_pseudonymised_and_looked_up_in_the_directory() {
    let f = Fixture::new();
    let mut node = f.open();
    let stamp = node.store().next_stamp(at(0));
    let entry =
        CardEntry { card: "20230001".into(), kind: PersonKind::Graduate, college: "法学院".into() };
    node.store().write(stamp, |b| b.edit(&DocId::Cards, |tx| Ok(cards::replace_all(tx, &[entry])?))).unwrap();
    let known = node.visitor_for_card("20230001").unwrap();
    assert_eq!((known.kind, known.college.as_str()), (PersonKind::Graduate, "法学院"));
    assert!(!known.id.as_str().contains("2023"));
    let unknown = node.visitor_for_card("99990000").unwrap();
    assert_eq!((unknown.kind, unknown.college.as_str()), (PersonKind::Other, ""));
    assert_ne!(known.id, unknown.id);
}

#[test]
fn bookings_are_checked_in_by_code() {
    let f = Fixture::new();
    let mut node = f.open();
    let booking = |id: &str, code: &str, service: &str| Booking {
        id: BookingId::new(id),
        hall: hall(),
        day: day(),
        service: ServiceId::new(service),
        slot_start: at(10),
        slot_end: at(40),
        visitor: None,
        code: code.into(),
        history: vec![BookingStep { at: at(-900), status: BookingStatus::Booked, by: "web".into() }],
    };
    let id = DocId::Bookings { hall: hall(), day: day() };
    let stamp = node.store().next_stamp(at(0));
    node.store()
        .write(stamp, |b| {
            b.edit(&id, |tx| {
                bookings::put(tx, &booking("b1", "111111", "registry-1"))?;
                bookings::put(tx, &booking("b2", "222222", "registry-1"))?;
                bookings::add_step(
                    tx,
                    &BookingId::new("b2"),
                    &BookingStep { at: at(-5), status: BookingStatus::Cancelled, by: "web".into() },
                )?;
                Ok(())
            })
        })
        .unwrap();
    let err =
        |node: &mut Node, line: &str| node.resolve(script::parse(line).unwrap()).unwrap_err().to_string();
    assert!(err(&mut node, "issue registry-1 booking=999999").contains("no booking with code 999999"));
    assert!(err(&mut node, "issue registry-1 booking=222222").contains("was cancelled"));
    assert!(err(&mut node, "issue grad-1 booking=111111").contains("is for registry-1, not grad-1"));
    let out = run(&mut node, "issue registry-1 booking=111111");
    assert!(matches!(&out.events[0], DayEvent::Issued { source: Source::Booking { .. }, .. }));
    let stored = bookings::read(node.store().doc(&id).unwrap().unwrap(), "b").unwrap();
    assert_eq!(stored[0].status(), BookingStatus::CheckedIn);
    // The same booking cannot be used twice.
    let cmd = node.resolve(script::parse("issue registry-1 booking=111111").unwrap()).unwrap();
    assert!(matches!(node.execute(&cmd), Err(NodeError::Rejected(Rejected::BookingUsed(_)))));
}

#[test]
fn a_new_business_day_starts_numbering_again() {
    let f = Fixture::new();
    let mut node = f.open();
    run(&mut node, "issue registry-1");
    run(&mut node, "issue registry-1");
    f.clock.set(day().next().start(480).plus_minutes(8 * 60));
    let out = run(&mut node, "issue registry-1");
    let DayEvent::Issued { ticket, .. } = &out.events[0] else { panic!() };
    assert_eq!(ticket.to_string(), "A001");
    assert_eq!(node.engine().day(), day().next());
    let closed = DocId::Day { hall: hall(), day: day() };
    assert_eq!(node.store().chunk_bytes(&closed).unwrap().chunks, 1, "the closed day is compacted");
}

#[test]
fn a_node_started_the_next_morning_compacts_yesterday() {
    let f = Fixture::new();
    let mut node = f.open();
    for _ in 0..5 {
        run(&mut node, "issue registry-1");
    }
    let closed = DocId::Day { hall: hall(), day: day() };
    assert!(node.store().chunk_bytes(&closed).unwrap().chunks > 1, "a running day is written in chunks");
    let before = node.engine().clone();
    // Switched off for the night; switched on the next morning.
    drop(node);
    f.clock.set(day().next().start(480).plus_minutes(8 * 60));
    let mut node = f.open();
    assert_eq!(node.engine().day(), day().next());
    assert_eq!(node.store().chunk_bytes(&closed).unwrap().chunks, 1, "yesterday is one snapshot");
    let events = node.store().day_events(&hall(), day()).unwrap();
    let replayed = onestop_engine::Engine::replay(before.config().clone(), day(), &events).unwrap();
    assert_eq!(replayed, before, "nothing of yesterday was lost");
}

#[test]
fn a_clock_years_ahead_for_one_start_leaves_the_business_day_alone() {
    let f = Fixture::new();
    let mut node = f.open();
    run(&mut node, "issue registry-1");
    drop(node);
    // One command under a clock set to 2031 (a typo in `date`, one bad NTP answer).
    f.clock.set(Timestamp(day().start(480).plus_minutes(8 * 60).0 + 4 * 365 * 86_400_000));
    let mut node = f.open();
    let out = run(&mut node, "issue registry-1");
    assert_eq!(node.engine().day(), day(), "the business day stays today");
    assert_eq!(out.events[0].at().day(480), day());
    assert!(node.clock_alarm().unwrap().contains("ahead unconfirmed"), "{:?}", node.clock_alarm());
    drop(node);
    // Back on the right clock: believed again, numbering goes on.
    f.clock.set(at(5));
    let mut node = f.open();
    let out = run(&mut node, "issue registry-1");
    let DayEvent::Issued { ticket, .. } = &out.events[0] else { panic!() };
    assert_eq!(ticket.to_string(), "A003");
    assert_eq!(node.clock_alarm(), None);
    assert_eq!(node.store().last_stamp().time().day(480), day());
}

#[test]
fn a_clock_that_jumps_back_raises_an_alarm_and_time_does_not_go_back() {
    let f = Fixture::new();
    let mut node = f.open();
    f.clock.set(at(60));
    run(&mut node, "issue registry-1");
    assert_eq!(node.clock_alarm(), None);
    // A power cut: the Pi boots with its clock at 1970.
    f.clock.set(Timestamp(0));
    let out = run(&mut node, "issue registry-1");
    assert!(node.clock_alarm().unwrap().contains("clock is not set"));
    assert_eq!(out.events[0].at(), at(60), "times stay at the last known time");
    assert_eq!(node.engine().day(), day(), "the business day does not move back");
    f.clock.set(at(61));
    run(&mut node, "issue registry-1");
    assert_eq!(node.clock_alarm(), None);
}

#[test]
fn a_refused_command_stores_nothing() {
    let f = Fixture::new();
    let mut node = f.open();
    let before = node.store().last_stamp();
    let err = node.execute(&Command::CallNext { window: 1 }).unwrap_err();
    assert_eq!(err.to_string(), "1 号窗口未签到 / window 1 is not checked in");
    assert_eq!(node.store().last_stamp(), before);
    assert!(node.store().list_docs().unwrap().iter().all(|d| !matches!(d, DocId::Day { .. })));
}

#[test]
fn every_error_has_one_kind_and_only_the_rules_refuse() {
    use onestop_engine::ReplayError;
    use onestop_store::StoreFault;
    let full = {
        let mut store = Store::open_in_memory().unwrap();
        store.simulate_full_disk(true).unwrap();
        store.put_meta("k", b"v").unwrap_err()
    };
    let stamp = {
        let mut store = Store::open_in_memory().unwrap();
        let stamp = store.next_stamp(at(0));
        store.write(stamp, |_| Ok(())).unwrap();
        store.write(stamp, |_| Ok(())).unwrap_err()
    };
    let code = || "K7QX2M".to_string();
    let cases: Vec<(NodeError, ErrorKind)> = vec![
        (NodeError::Rejected(Rejected::NoneWaiting(1)), ErrorKind::Refused),
        (NodeError::UnknownBooking(code()), ErrorKind::Refused),
        (NodeError::BookingCancelled { code: code() }, ErrorKind::Refused),
        (
            NodeError::BookingForOtherService { code: code(), booked: "a".into(), asked: "b".into() },
            ErrorKind::Refused,
        ),
        (NodeError::BookingForOtherHall { code: code(), hall: "east".into() }, ErrorKind::Refused),
        (NodeError::BookingForOtherDay { code: code(), day: day() }, ErrorKind::Refused),
        (NodeError::BookingToken(TokenError::BadSignature), ErrorKind::Refused),
        (NodeError::BookingToken(TokenError::NoKey), ErrorKind::Refused),
        (NodeError::Store(full), ErrorKind::Storage(StoreFault::Full)),
        (NodeError::Store(StoreError::rejected("abandoned")), ErrorKind::Refused),
        (NodeError::Store(stamp), ErrorKind::Internal),
        (NodeError::Doc(DocError::Missing { what: "day".into(), field: "t0" }), ErrorKind::Internal),
        (NodeError::Config(ConfigError::UnknownHall(hall())), ErrorKind::Internal),
        (
            NodeError::Replay(ReplayError { index: 3, event: "called", why: "no such ticket".into() }),
            ErrorKind::Internal,
        ),
        (NodeError::NoCatalog, ErrorKind::Unavailable),
    ];
    // Every variant is listed above: a new one does not compile here until it is classified.
    let listed = |e: &NodeError| match e {
        NodeError::Rejected(_)
        | NodeError::Store(_)
        | NodeError::Doc(_)
        | NodeError::Config(_)
        | NodeError::Replay(_)
        | NodeError::UnknownBooking(_)
        | NodeError::BookingCancelled { .. }
        | NodeError::BookingForOtherService { .. }
        | NodeError::BookingForOtherHall { .. }
        | NodeError::BookingForOtherDay { .. }
        | NodeError::BookingToken(_)
        | NodeError::NoCatalog => (),
    };
    for (e, kind) in &cases {
        listed(e);
        assert_eq!(e.kind(), *kind, "{e}");
        assert_eq!(e.is_refusal(), *kind == ErrorKind::Refused, "{e}");
    }
}

#[test]
fn a_full_disk_fails_a_command_whole_and_the_next_ticket_has_the_next_number() {
    let f = Fixture::new();
    let mut node = f.open();
    let first = run(&mut node, "issue registry-1");
    node.store().simulate_full_disk(true).unwrap();
    let cmd = node.resolve(script::parse("issue registry-1").unwrap()).unwrap();
    let err = node.execute(&cmd).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage(onestop_store::StoreFault::Full), "{err}");
    assert!(!err.is_refusal());
    assert_eq!(node.engine().tickets().len(), 1, "the engine did not apply what was not stored");
    node.store().simulate_full_disk(false).unwrap();
    let next = run(&mut node, "issue registry-1");
    let no = |o: &Outcome| match &o.events[..] {
        [DayEvent::Issued { ticket, .. }] => *ticket,
        other => panic!("{other:?}"),
    };
    assert_eq!((no(&first).to_string(), no(&next).to_string()), ("A001".into(), "A002".into()));
    // What is on disk is what was answered: a restart replays two tickets, A001 and A002.
    drop(node);
    let node = f.open();
    let issued: Vec<String> = node.engine().tickets().iter().map(|t| t.no.to_string()).collect();
    assert_eq!(issued, ["A001", "A002"]);
}

#[test]
fn commands_and_a_link_writing_to_the_same_store_do_not_trip_over_the_clock() {
    let f = Fixture::new();
    let mut node = f.open();
    let shared = node.shared_store();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let link = {
        let (shared, stop) = (shared.clone(), stop.clone());
        std::thread::spawn(move || {
            // What the link does: writes the cloud's changes, stamped on its own.
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut s = shared.lock().unwrap();
                let last = s.last_stamp().time();
                let stamp = s.next_stamp(last);
                s.write(stamp, |b| {
                    b.edit(&DocId::Cards, |tx| {
                        use automerge::transaction::Transactable;
                        tx.put(automerge::ROOT, "n", n as i64)?;
                        Ok(())
                    })
                })
                .unwrap();
                n += 1;
            }
        })
    };
    for i in 0..200 {
        f.clock.set(at(i / 10));
        let cmd = node.resolve(script::parse("issue registry-1").unwrap()).unwrap();
        node.execute(&cmd).unwrap_or_else(|e| panic!("command {i}: {e}"));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    link.join().unwrap();
    assert_eq!(node.engine().tickets().len(), 200);
}

#[test]
fn a_new_catalogue_is_taken_up_without_losing_today() {
    let f = Fixture::new();
    let mut node = f.open();
    run(&mut node, "check-in 1 s001");
    run(&mut node, "issue registry-1");
    let old = load_catalog(&mut node.store()).unwrap();
    assert_eq!(node.reload_catalog(&old).unwrap(), None, "the same catalogue changes nothing");

    // The cloud adds a fifth window.
    let mut new = crate::sim::campus_catalog(&hall(), 5);
    new.notices = old.notices.clone();
    let wall = f.clock.now();
    publish_catalog(&mut node.store(), &new, wall).unwrap();
    let taken = node.reload_catalog(&old).unwrap().expect("a changed catalogue");
    assert_eq!(taken.halls[&hall()].windows.len(), 5);
    assert!(node.engine().windows().contains_key(&5), "the new window can be used");
    assert_eq!(node.engine().tickets().len(), 1, "today's tickets are still there");
    assert!(node.engine().windows()[&1].staff.is_some(), "and so is window 1's session");
    run(&mut node, "check-in 5 s002");
}

mod tokens {
    use super::*;
    use onestop_protocol::booking_token::{BookingClaim, BookingSigner, TokenError};

    fn signer() -> BookingSigner {
        BookingSigner::from_seed_hex(&"11".repeat(32)).unwrap()
    }

    /// A node whose catalogue carries `signer`'s public key.
    fn node_with_key(f: &Fixture) -> Node {
        let mut store = Store::open(&f.path, Durability::Full).unwrap();
        let mut c = crate::sim::campus_catalog(&hall(), 4);
        c.booking_key = Some(signer().public_hex());
        publish_catalog(&mut store, &c, at(-1)).unwrap();
        drop(store);
        f.open()
    }

    fn claim(id: &str, hall: &str, day: Day, service: &str) -> BookingClaim {
        BookingClaim {
            booking: BookingId::new(id),
            hall: HallId::new(hall),
            day,
            service: ServiceId::new(service),
            slot_start: at(10),
            slot_end: at(40),
            code: format!("CODE{}", id.to_uppercase()),
            visitor: Some(Visitor {
                id: VisitorId::new(format!("visitor-{id}")),
                kind: PersonKind::Graduate,
                college: "法学院".into(),
            }),
        }
    }

    fn scan(node: &mut Node, service: Option<&str>, token: &str) -> Result<Outcome, NodeError> {
        let req = Request::IssueByBooking {
            service: service.map(ServiceId::new),
            code: token.to_string(),
            priority: Priority::Normal,
        };
        let cmd = node.resolve(req)?;
        node.execute(&cmd)
    }

    #[test]
    fn a_token_checks_in_with_no_bookings_document_and_only_once() {
        let f = Fixture::new();
        let mut node = node_with_key(&f);
        let id = DocId::Bookings { hall: hall(), day: day() };
        assert!(node.store().doc(&id).unwrap().is_none(), "the hall never received the booking");
        let anonymous = BookingClaim { visitor: None, ..claim("b1", "main", day(), "registry-1") };
        let token = signer().sign(&anonymous).unwrap();
        // Scanned on the kiosk's first page: the booking names the service.
        let out = scan(&mut node, None, &token).unwrap();
        let DayEvent::Issued { service, source, .. } = &out.events[0] else { panic!("{:?}", out.events) };
        assert_eq!(service.as_str(), "registry-1");
        assert_eq!(source, &anonymous.source());
        assert!(node.store().doc(&id).unwrap().is_none(), "no bookings document is made at the hall");
        let again = scan(&mut node, None, &token).unwrap_err();
        assert!(matches!(again, NodeError::Rejected(Rejected::BookingUsed(_))), "{again}");
        // The script language takes a token too, for the service it names.
        let t2 = signer().sign(&claim("b2", "main", day(), "registry-1")).unwrap();
        let out = run(&mut node, &format!("issue registry-1 booking={t2}"));
        assert!(matches!(&out.events[0], DayEvent::Issued { source: Source::Booking { .. }, .. }));
    }

    #[test]
    fn forged_other_hall_other_day_and_other_service_tokens_are_refused() {
        let f = Fixture::new();
        let mut node = node_with_key(&f);
        let err =
            |node: &mut Node, service: Option<&str>, t: &str| scan(node, service, t).unwrap_err().to_string();
        let forger = BookingSigner::from_seed_hex(&"22".repeat(32)).unwrap();
        let forged = forger.sign(&claim("b1", "main", day(), "registry-1")).unwrap();
        assert!(err(&mut node, None, &forged).contains("signature is not valid"));
        let good = signer().sign(&claim("b1", "main", day(), "registry-1")).unwrap();
        let mut tampered = good.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(scan(&mut node, None, std::str::from_utf8(&tampered).unwrap()).is_err());
        let east = signer().sign(&claim("b3", "east", day(), "registry-1")).unwrap();
        assert_eq!(
            err(&mut node, None, &east),
            "预约 CODEB3 是 east 大厅的预约，不在本大厅 / booking CODEB3 is for hall east, not this hall"
        );
        let tomorrow = signer().sign(&claim("b4", "main", day().next(), "registry-1")).unwrap();
        assert_eq!(
            err(&mut node, None, &tomorrow),
            "预约 CODEB4 的日期是 2026-11-27，不是今天 / booking CODEB4 is for 2026-11-27, not today"
        );
        assert!(err(&mut node, Some("grad-1"), &good).contains("is for registry-1, not grad-1"));
        assert!(err(&mut node, None, "OSB9.AAAA").contains("newer than this hall understands"));
        // None of these used the booking up.
        scan(&mut node, Some("registry-1"), &good).unwrap();
    }

    #[test]
    fn a_cancellation_the_hall_has_received_is_honoured() {
        let f = Fixture::new();
        let mut node = node_with_key(&f);
        let c = claim("b5", "main", day(), "registry-1");
        let id = DocId::Bookings { hall: hall(), day: day() };
        let booking = Booking {
            id: c.booking.clone(),
            hall: hall(),
            day: day(),
            service: c.service.clone(),
            slot_start: c.slot_start,
            slot_end: c.slot_end,
            visitor: c.visitor.clone(),
            code: c.code.clone(),
            history: vec![
                BookingStep { at: at(-900), status: BookingStatus::Booked, by: "web".into() },
                BookingStep { at: at(-5), status: BookingStatus::Cancelled, by: "web".into() },
            ],
        };
        let stamp = node.store().next_stamp(at(0));
        node.store().write(stamp, |b| b.edit(&id, |tx| Ok(bookings::put(tx, &booking)?))).unwrap();
        let token = signer().sign(&c).unwrap();
        assert!(matches!(scan(&mut node, None, &token), Err(NodeError::BookingCancelled { .. })));
    }

    #[test]
    fn without_the_cloud_key_a_token_says_to_type_the_code() {
        let f = Fixture::new();
        let mut node = f.open();
        let token = signer().sign(&claim("b1", "main", day(), "registry-1")).unwrap();
        let e = scan(&mut node, None, &token).unwrap_err();
        assert!(matches!(e, NodeError::BookingToken(TokenError::NoKey)), "{e}");
    }
}

/// A restarted hall knows the day's calls as the website does: finished calls and recalls
/// included (the core derives its recent calls from these events with `CallView::recent`).
#[test]
fn a_reopened_node_reads_the_days_calls_finished_and_recalled_included() {
    let f = Fixture::new();
    {
        let mut node = f.open();
        run(&mut node, "check-in 1 s001");
        run(&mut node, "issue registry-1");
        run(&mut node, "issue registry-1");
        run(&mut node, "call 1");
        run(&mut node, "start 1");
        run(&mut node, "finish 1 immediate");
        run(&mut node, "call 1");
        run(&mut node, "recall 1");
    }
    let mut node = f.open();
    let events = node.today_events().unwrap();
    let catalog = load_catalog(&mut node.store()).unwrap();
    let calls = onestop_engine::view::CallView::recent(&events, &catalog, &hall(), 480, 12);
    let shown: Vec<(String, bool)> = calls.iter().map(|c| (c.ticket.clone(), c.repeat)).collect();
    assert_eq!(
        shown,
        [("A002".to_string(), true), ("A002".to_string(), false), ("A001".to_string(), false)],
        "newest first: the recall, the call, and the finished A001's call"
    );
}
