use crate::codec::DocError;
use crate::docid::{DocId, Month};
use crate::store::{Durability, Store, StoreError, StoreFault};
use crate::{bookings, cards, cases, catalog, day};
use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT, ReadDoc};
use onestop_model::*;

fn d() -> Day {
    Day::new(2026, 11, 26).unwrap()
}
fn hall() -> HallId {
    HallId::new("main")
}
fn day_id() -> DocId {
    DocId::Day { hall: hall(), day: d() }
}
fn at(m: i64) -> Timestamp {
    d().start(480).plus_minutes(8 * 60 + m)
}
fn visitor(id: &str) -> Visitor {
    Visitor { id: VisitorId::new(id), kind: PersonKind::Graduate, college: "外国语学院".into() }
}

/// One event of every kind, with every optional part used somewhere.
pub(crate) fn every_event() -> Vec<DayEvent> {
    let a = TicketNo::new('A', 1);
    let b = TicketNo::new('B', 12);
    vec![
        DayEvent::Issued {
            at: at(0),
            ticket: a,
            service: ServiceId::new("cert"),
            source: Source::Card(visitor("v1")),
            priority: Priority::Normal,
            ahead: 3,
            wait_estimate_min: 7,
        },
        DayEvent::Issued {
            at: at(1),
            ticket: b,
            service: ServiceId::new("visa"),
            source: Source::Booking {
                booking: BookingId::new("bk-7"),
                slot_start: at(30),
                slot_end: at(60),
                visitor: Some(visitor("v2")),
            },
            priority: Priority::Care,
            ahead: 0,
            wait_estimate_min: 0,
        },
        DayEvent::Issued {
            at: at(1),
            ticket: TicketNo::new('C', 1),
            service: ServiceId::new("fees"),
            source: Source::Anonymous,
            priority: Priority::Green,
            ahead: 0,
            wait_estimate_min: 0,
        },
        DayEvent::CheckedIn { at: at(2), window: 5, staff: StaffId::new("s1") },
        DayEvent::Paused { at: at(3), window: 5, reason: "系统维护".into() },
        DayEvent::Resumed { at: at(4), window: 5 },
        DayEvent::Called { at: at(5), ticket: a, window: 5 },
        DayEvent::Recalled { at: at(6), ticket: a, window: 5 },
        DayEvent::NoShow { at: at(7), ticket: a, window: 5 },
        DayEvent::Reactivated { at: at(8), ticket: a, placement: Placement::Back },
        DayEvent::Called { at: at(9), ticket: a, window: 5 },
        DayEvent::Transferred {
            at: at(10),
            ticket: a,
            window: 5,
            to: TransferTarget::Service(ServiceId::new("visa")),
            placement: Placement::Front,
        },
        DayEvent::Called { at: at(11), ticket: a, window: 5 },
        DayEvent::Transferred {
            at: at(12),
            ticket: a,
            window: 5,
            to: TransferTarget::Window(7),
            placement: Placement::Original,
        },
        DayEvent::CheckedIn { at: at(12), window: 7, staff: StaffId::new("s2") },
        DayEvent::Called { at: at(13), ticket: a, window: 7 },
        DayEvent::Started { at: at(14), ticket: a, window: 7 },
        DayEvent::Finished { at: at(20), ticket: a, window: 7, kind: CaseKind::Pending },
        DayEvent::Rated {
            at: at(21),
            ticket: a,
            window: 7,
            rating: Rating {
                level: Level::Basic,
                attitude: Some(Level::VerySatisfied),
                efficiency: None,
                quality: Some(Level::Unsatisfied),
            },
        },
        DayEvent::CheckedOut { at: at(30), window: 5 },
    ]
}

fn write_events(store: &mut Store, wall: Timestamp, events: &[DayEvent]) {
    let stamp = store.next_stamp(wall);
    store.write(stamp, |b| b.edit(&day_id(), |tx| Ok(day::append(tx, &hall(), d(), 480, events)?))).unwrap();
}

#[test]
fn every_event_round_trips_through_the_day_document() {
    let mut store = Store::open_in_memory().unwrap();
    let events = every_event();
    for (i, ev) in events.iter().enumerate() {
        write_events(&mut store, at(i as i64), std::slice::from_ref(ev));
    }
    let doc = store.doc(&day_id()).unwrap().unwrap();
    let read = day::read(doc, "day").unwrap();
    assert_eq!(read.hall, hall());
    assert_eq!(read.day, d());
    assert_eq!(read.events, events);
}

#[test]
fn writes_survive_reopening_and_the_actor_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.sqlite");
    let actor = {
        let mut store = Store::open(&path, Durability::Full).unwrap();
        write_events(&mut store, at(0), &every_event()[..3]);
        write_events(&mut store, at(1), &every_event()[3..6]);
        store.actor().clone()
    };
    let mut store = Store::open(&path, Durability::Full).unwrap();
    assert_eq!(store.actor(), &actor, "the actor id is made once and kept");
    assert_eq!(store.list_docs().unwrap(), vec![day_id()]);
    let doc = store.doc(&day_id()).unwrap().unwrap();
    assert_eq!(day::read(doc, "d").unwrap().events, every_event()[..6].to_vec());
    // New changes continue this actor's sequence after a reload.
    write_events(&mut store, at(2), &every_event()[6..7]);
    drop(store);
    let mut store = Store::open(&path, Durability::Full).unwrap();
    assert_eq!(day::read(store.doc(&day_id()).unwrap().unwrap(), "d").unwrap().events.len(), 7);

    let other = Store::open(&dir.path().join("other.sqlite"), Durability::Full).unwrap();
    assert_ne!(other.actor(), &actor, "every node makes its own actor");
}

#[test]
fn the_clock_never_goes_back_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.sqlite");
    let first = {
        let mut store = Store::open(&path, Durability::Full).unwrap();
        write_events(&mut store, at(60), &every_event()[..1]);
        store.last_stamp()
    };
    let mut store = Store::open(&path, Durability::Full).unwrap();
    assert_eq!(store.last_stamp(), first);
    // The Pi reboots with its clock in 1970.
    let stamp = store.next_stamp(Timestamp(0));
    assert!(stamp > first);
    assert_eq!(stamp.time(), first.time(), "the time stays at the last known one");
    assert_eq!(stamp.time().day(480), d(), "the business day does not move back");
    store.write(stamp, |_| Ok(())).unwrap();
    let err = store.write(first, |_| Ok(())).unwrap_err();
    assert!(matches!(err, StoreError::StampNotAfter { .. }), "{err}");
}

#[test]
fn a_failed_write_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.sqlite");
    let mut store = Store::open(&path, Durability::Full).unwrap();
    write_events(&mut store, at(0), &every_event()[..1]);
    let before = store.last_stamp();
    let stamp = store.next_stamp(at(1));
    let cases_id = DocId::Cases { hall: hall(), month: Month::of(d()) };
    let err = store
        .write(stamp, |b| {
            b.edit(&day_id(), |tx| Ok(day::append(tx, &hall(), d(), 480, &every_event()[1..2])?))?;
            b.edit(&cases_id, |tx| {
                tx.put(ROOT, "junk", 1)?;
                Ok(())
            })?;
            Err::<(), _>(StoreError::rejected("the printer spool refused"))
        })
        .unwrap_err();
    assert_eq!(err.to_string(), "the printer spool refused");
    assert_eq!(store.last_stamp(), before);
    assert_eq!(day::read(store.doc(&day_id()).unwrap().unwrap(), "d").unwrap().events.len(), 1);
    assert!(store.doc(&cases_id).unwrap().is_none());
    drop(store);
    let mut store = Store::open(&path, Durability::Full).unwrap();
    assert_eq!(day::read(store.doc(&day_id()).unwrap().unwrap(), "d").unwrap().events.len(), 1);
}

#[test]
fn a_full_disk_fails_a_write_whole_and_writes_resume_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.sqlite");
    let mut store = Store::open(&path, Durability::Full).unwrap();
    write_events(&mut store, at(0), &every_event()[..1]);
    let before = store.last_stamp();
    let chunks = store.chunk_bytes(&day_id()).unwrap();
    let cases_id = DocId::Cases { hall: hall(), month: Month::of(d()) };
    store.simulate_full_disk(true).unwrap();
    store.simulate_full_disk(true).unwrap();
    let stamp = store.next_stamp(at(1));
    let err = store
        .write(stamp, |b| {
            b.edit(&day_id(), |tx| Ok(day::append(tx, &hall(), d(), 480, &every_event()[1..2])?))?;
            b.edit(&cases_id, |tx| {
                tx.put(ROOT, "case", 1)?;
                Ok(())
            })
        })
        .unwrap_err();
    // SQLite's own SQLITE_FULL, from the write's transaction.
    assert!(
        matches!(&err, StoreError::Sql { source, .. }
            if source.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)),
        "{err:?}"
    );
    assert_eq!(err.kind(), StoreFault::Full);
    assert!(err.kind().is_storage());
    // Nothing half-written: not the clock, not a chunk, and the touched documents were
    // dropped from memory, to be read again from disk as they were.
    assert_eq!(store.last_stamp(), before);
    assert!(!store.is_loaded(&day_id()) && !store.is_loaded(&cases_id));
    assert_eq!(store.chunk_bytes(&day_id()).unwrap(), chunks);
    assert_eq!(day::read(store.doc(&day_id()).unwrap().unwrap(), "d").unwrap().events, every_event()[..1]);
    assert!(store.doc(&cases_id).unwrap().is_none());
    // Every other kind of write is refused the same way.
    assert_eq!(store.put_meta("k", b"v").unwrap_err().kind(), StoreFault::Full);
    assert_eq!(store.save_sync_state("cloud", &day_id(), b"s").unwrap_err().kind(), StoreFault::Full);
    assert_eq!(store.compact(&day_id()).unwrap_err().kind(), StoreFault::Full);
    assert_eq!(store.discard(&day_id()).unwrap_err().kind(), StoreFault::Full);
    assert_eq!(store.chunk_bytes(&day_id()).unwrap(), chunks);
    // Space returns: the same write goes through, with the clock where it was.
    store.simulate_full_disk(false).unwrap();
    store.simulate_full_disk(false).unwrap();
    write_events(&mut store, at(1), &every_event()[1..2]);
    assert!(store.last_stamp() > before);
    store.put_meta("k", b"v").unwrap();
    drop(store);
    let mut store = Store::open(&path, Durability::Full).unwrap();
    assert_eq!(day::read(store.doc(&day_id()).unwrap().unwrap(), "d").unwrap().events, every_event()[..2]);
    assert!(store.doc(&cases_id).unwrap().is_none());
    assert_eq!(store.get_meta("k").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn store_errors_are_told_apart_by_kind() {
    use rusqlite::ffi;
    let sql = |code| StoreError::Sql {
        path: "x".into(),
        source: Box::new(rusqlite::Error::SqliteFailure(ffi::Error::new(code), None)),
    };
    for (code, kind) in [
        (ffi::SQLITE_FULL, StoreFault::Full),
        (ffi::SQLITE_READONLY, StoreFault::Unavailable),
        (ffi::SQLITE_IOERR, StoreFault::Unavailable),
        (ffi::SQLITE_IOERR_FSYNC, StoreFault::Unavailable),
        (ffi::SQLITE_BUSY, StoreFault::Unavailable),
        (ffi::SQLITE_LOCKED, StoreFault::Unavailable),
        (ffi::SQLITE_CANTOPEN, StoreFault::Unavailable),
        (ffi::SQLITE_CORRUPT, StoreFault::Corrupt),
        (ffi::SQLITE_NOTADB, StoreFault::Corrupt),
        (ffi::SQLITE_CONSTRAINT, StoreFault::Internal),
        (ffi::SQLITE_MISUSE, StoreFault::Internal),
        (ffi::SQLITE_ERROR, StoreFault::Internal),
    ] {
        assert_eq!(sql(code).kind(), kind, "SQLite result code {code}");
    }
    let not_sqlite = StoreError::Sql { path: "x".into(), source: Box::new(rusqlite::Error::InvalidQuery) };
    assert_eq!(not_sqlite.kind(), StoreFault::Internal);
    assert_eq!(StoreError::rejected("no").kind(), StoreFault::Refused);
    assert!(!StoreFault::Refused.is_storage() && !StoreFault::Internal.is_storage());
    assert_eq!(StoreError::NewerStore { found: 9, supported: 1 }.kind(), StoreFault::Internal);
    assert_eq!(StoreError::from(automerge::AutomergeError::Fail).kind(), StoreFault::Internal);
    // Real ones: a stamp out of order is a bug; a file that is no database is corrupt.
    let mut store = Store::open_in_memory().unwrap();
    let stamp = store.next_stamp(at(0));
    store.write(stamp, |_| Ok(())).unwrap();
    assert_eq!(store.write(stamp, |_| Ok(())).unwrap_err().kind(), StoreFault::Internal);
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.sqlite");
    std::fs::write(&junk, vec![0x5a; 8192]).unwrap();
    assert_eq!(Store::open(&junk, Durability::Full).unwrap_err().kind(), StoreFault::Corrupt);
    let missing = dir.path().join("no-such-dir").join("x.sqlite");
    assert_eq!(Store::open(&missing, Durability::Full).unwrap_err().kind(), StoreFault::Unavailable);
}

#[test]
fn compaction_replaces_chunks_by_one_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.sqlite");
    let mut store = Store::open(&path, Durability::Normal).unwrap();
    store.set_compact_floor(2_000);
    let events = every_event();
    for n in 0..200 {
        write_events(&mut store, at(n), &events[n as usize % events.len()..][..1]);
    }
    assert!(store.compactions() > 0, "the floor was crossed, so compaction ran");
    let bytes = store.chunk_bytes(&day_id()).unwrap();
    assert!(bytes.snapshot > 0);
    assert!(bytes.incremental <= bytes.snapshot.max(2_000), "{bytes:?}");
    assert!(bytes.chunks < 200, "{bytes:?}");
    store.compact(&day_id()).unwrap();
    assert_eq!(store.chunk_bytes(&day_id()).unwrap().chunks, 1);
    drop(store);
    let mut store = Store::open(&path, Durability::Normal).unwrap();
    let read = day::read(store.doc(&day_id()).unwrap().unwrap(), "d").unwrap();
    assert_eq!(read.events.len(), 200);
}

#[test]
fn sync_state_is_kept_per_peer_and_document() {
    let store = Store::open_in_memory().unwrap();
    assert_eq!(store.load_sync_state("cloud", &day_id()).unwrap(), None);
    store.save_sync_state("cloud", &day_id(), b"state-1").unwrap();
    store.save_sync_state("cloud", &DocId::Catalog, b"state-2").unwrap();
    store.save_sync_state("cloud", &day_id(), b"state-3").unwrap();
    assert_eq!(store.load_sync_state("cloud", &day_id()).unwrap(), Some(b"state-3".to_vec()));
    assert_eq!(store.load_sync_state("cloud", &DocId::Catalog).unwrap(), Some(b"state-2".to_vec()));
    assert_eq!(store.load_sync_state("other", &DocId::Catalog).unwrap(), None);
}

pub(crate) fn sample_catalog() -> Catalog {
    let mut c = Catalog::default();
    c.departments.insert(
        DepartmentId::new("registry"),
        Department { id: DepartmentId::new("registry"), name: Text::new("教务处", "Registry") },
    );
    for (id, prefix, kind) in [("cert", 'A', CaseKind::Immediate), ("visa", 'B', CaseKind::Pending)] {
        c.services.insert(
            ServiceId::new(id),
            Service {
                id: ServiceId::new(id),
                department: DepartmentId::new("registry"),
                name: Text::new(format!("{id} 服务"), id),
                prefix,
                kind,
                guide: Text::new("携带校园卡", "Bring your campus card"),
                expected_minutes: 6,
            },
        );
    }
    c.halls.insert(
        hall(),
        Hall {
            id: hall(),
            name: Text::new("主服务大厅", "Main hall"),
            address: Text::new("行政楼一层", ""),
            utc_offset_minutes: 480,
            windows: vec![
                Window {
                    number: 1,
                    name: Text::new("1号窗口", "Window 1"),
                    services: vec![
                        WindowService { service: ServiceId::new("cert"), weight: 2 },
                        WindowService { service: ServiceId::new("visa"), weight: 1 },
                    ],
                },
                Window {
                    number: 2,
                    name: Text::default(),
                    services: vec![WindowService { service: ServiceId::new("visa"), weight: 1 }],
                },
            ],
            rules: QueueRules { max_recalls: 3, ..QueueRules::default() },
            booking: onestop_model::BookingRules::default(),
        },
    );
    c.notices.insert(
        NoticeId::new("n1"),
        Notice {
            id: NoticeId::new("n1"),
            title: Text::new("元旦放假通知", "New Year closure"),
            body: Text::new("1月1日闭厅", "Closed on 1 January"),
            published: at(0),
            halls: vec![hall()],
        },
    );
    c.staff.insert(
        StaffId::new("s1"),
        Staff {
            id: StaffId::new("s1"),
            name: "王老师".into(),
            department: DepartmentId::new("registry"),
            pin_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            halls: vec![],
            card: Some("20230001".into()),
        },
    );
    c
}

#[test]
fn the_catalog_round_trips_and_republishing_costs_nothing() {
    let mut store = Store::open_in_memory().unwrap();
    let mut c = sample_catalog();
    c.validate().unwrap();
    let stamp = store.next_stamp(at(0));
    store.write(stamp, |b| b.edit(&DocId::Catalog, |tx| Ok(catalog::write(tx, &c)?))).unwrap();
    assert_eq!(catalog::read(store.doc(&DocId::Catalog).unwrap().unwrap()).unwrap(), c);
    let before = store.chunk_bytes(&DocId::Catalog).unwrap();
    let stamp = store.next_stamp(at(1));
    store.write(stamp, |b| b.edit(&DocId::Catalog, |tx| Ok(catalog::write(tx, &c)?))).unwrap();
    assert_eq!(store.chunk_bytes(&DocId::Catalog).unwrap(), before, "an unchanged catalogue writes nothing");
    // Remove a window and a notice, change a weight: the document follows exactly.
    let h = c.halls.get_mut(&hall()).unwrap();
    h.windows.pop();
    h.windows[0].services[0].weight = 5;
    c.notices.clear();
    let stamp = store.next_stamp(at(2));
    store.write(stamp, |b| b.edit(&DocId::Catalog, |tx| Ok(catalog::write(tx, &c)?))).unwrap();
    assert_eq!(catalog::read(store.doc(&DocId::Catalog).unwrap().unwrap()).unwrap(), c);
}

#[test]
fn booking_rules_and_key_round_trip_and_old_catalogues_read_with_defaults() {
    let mut store = Store::open_in_memory().unwrap();
    let mut c = sample_catalog();
    let h = c.halls.get_mut(&hall()).unwrap();
    h.booking.periods = vec!["09:00-10:00".parse().unwrap()];
    h.booking.capacity = 2;
    h.booking.weekends = true;
    c.booking_key = Some("ab".repeat(32));
    let stamp = store.next_stamp(at(0));
    store.write(stamp, |b| b.edit(&DocId::Catalog, |tx| Ok(catalog::write(tx, &c)?))).unwrap();
    assert_eq!(catalog::read(store.doc(&DocId::Catalog).unwrap().unwrap()).unwrap(), c);
    // A catalogue file carries no key: publishing it keeps the cloud's.
    let mut from_file = c.clone();
    from_file.booking_key = None;
    let stamp = store.next_stamp(at(1));
    store.write(stamp, |b| b.edit(&DocId::Catalog, |tx| Ok(catalog::write(tx, &from_file)?))).unwrap();
    assert_eq!(
        catalog::read(store.doc(&DocId::Catalog).unwrap().unwrap()).unwrap().booking_key,
        c.booking_key
    );

    // A catalogue written before reservations: no key, each hall on the default rules.
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    catalog::write(&mut tx, &sample_catalog()).unwrap();
    let (_, halls) = tx.get(ROOT, "halls").unwrap().unwrap();
    let (_, main) = tx.get(&halls, "main").unwrap().unwrap();
    tx.delete(&main, "booking").unwrap();
    tx.commit();
    let old = catalog::read(&doc).unwrap();
    assert_eq!(old.booking_key, None);
    assert_eq!(old.halls[&hall()].booking, onestop_model::BookingRules::default());
    assert_eq!(old.halls[&hall()].booking.slots().first(), Some(&(8 * 60 + 30, 9 * 60)));
    assert_eq!(old.halls[&hall()].booking.slots().len(), 12);
}

fn case() -> Case {
    Case {
        number: CaseNo::for_ticket(d(), &hall(), TicketNo::new('B', 3)),
        code: "K7QM2P".into(),
        kind: CaseKind::Pending,
        hall: hall(),
        service: ServiceId::new("visa"),
        ticket: TicketNo::new('B', 3),
        window: 2,
        staff: Some(StaffId::new("s1")),
        visitor: Some(VisitorId::new("abc")),
        history: vec![CaseStep { at: at(10), status: CaseStatus::Registered, by: "s1".into(), reason: None }],
    }
}

#[test]
fn concurrent_case_steps_from_window_and_back_office_both_survive() {
    let mut edge = Automerge::new();
    let mut tx = edge.transaction();
    cases::register(&mut tx, &hall(), "2026-11", &case()).unwrap();
    tx.commit();
    let mut cloud = edge.fork();
    let review = CaseStep { at: at(20), status: CaseStatus::UnderReview, by: "s1".into(), reason: None };
    let reject = CaseStep { at: at(25), status: CaseStatus::Rejected, by: "reviewer".into(), reason: None };
    let mut tx = cloud.transaction();
    assert!(matches!(
        cases::add_step(&mut tx, &case().number, &reject),
        Err(cases::StepError::RejectWithoutReason)
    ));
    let reject = CaseStep { reason: Some("材料不全 / documents missing".into()), ..reject };
    cases::add_step(&mut tx, &case().number, &reject).unwrap();
    tx.commit();
    let mut tx = edge.transaction();
    cases::add_step(&mut tx, &case().number, &review).unwrap();
    assert!(matches!(
        cases::add_step(&mut tx, &CaseNo::new("nope"), &review),
        Err(cases::StepError::UnknownCase(_))
    ));
    tx.commit();
    edge.merge(&mut cloud).unwrap();
    cloud.merge(&mut edge).unwrap();
    let on_edge = cases::read(&edge, "cases").unwrap();
    assert_eq!(on_edge, cases::read(&cloud, "cases").unwrap());
    assert_eq!(on_edge[0].history.len(), 3);
    assert_eq!(on_edge[0].status(), CaseStatus::Rejected);
    let mut without_steps = on_edge[0].clone();
    without_steps.history.truncate(1);
    assert_eq!(without_steps, case());
}

#[test]
fn a_booking_checked_in_and_cancelled_at_once_ends_checked_in() {
    let booking = Booking {
        id: BookingId::new("bk-1"),
        hall: hall(),
        day: d(),
        service: ServiceId::new("visa"),
        slot_start: at(60),
        slot_end: at(90),
        visitor: Some(visitor("v9")),
        code: "449301".into(),
        history: vec![BookingStep { at: at(-600), status: BookingStatus::Booked, by: "web".into() }],
    };
    let mut cloud = Automerge::new();
    let mut tx = cloud.transaction();
    bookings::put(&mut tx, &booking).unwrap();
    tx.commit();
    let mut edge = cloud.fork();
    let mut tx = cloud.transaction();
    bookings::add_step(
        &mut tx,
        &booking.id,
        &BookingStep { at: at(55), status: BookingStatus::Cancelled, by: "web".into() },
    )
    .unwrap();
    tx.commit();
    let mut tx = edge.transaction();
    assert!(
        bookings::add_step(
            &mut tx,
            &booking.id,
            &BookingStep { at: at(50), status: BookingStatus::CheckedIn, by: "main".into() }
        )
        .unwrap()
    );
    assert!(!bookings::add_step(&mut tx, &BookingId::new("x"), &booking.history[0]).unwrap());
    tx.commit();
    edge.merge(&mut cloud).unwrap();
    cloud.merge(&mut edge).unwrap();
    let read = bookings::read(&cloud, "b").unwrap();
    assert_eq!(read, bookings::read(&edge, "b").unwrap());
    assert_eq!(read[0].history.len(), 3);
    assert_eq!(read[0].status(), BookingStatus::CheckedIn);
}

#[test]
fn the_card_directory_imports_and_looks_up() {
    let mut doc = Automerge::new();
    let entry =
        |card: &str, kind, college: &str| CardEntry { card: card.into(), kind, college: college.into() };
    let first = vec![
        entry("20230001", PersonKind::Undergraduate, "计算机学院"),
        entry("20230002", PersonKind::Graduate, "法学院"),
        entry("T0001", PersonKind::Staff, "财务处"),
    ];
    let mut tx = doc.transaction();
    cards::replace_all(&mut tx, &first).unwrap();
    tx.commit();
    assert_eq!(cards::count(&doc).unwrap(), 3);
    assert_eq!(cards::lookup(&doc, " 20230002 ").unwrap(), Some(first[1].clone()));
    assert_eq!(cards::lookup(&doc, "99999").unwrap(), None);
    let second = vec![first[0].clone(), entry("T0001", PersonKind::Staff, "校长办公室")];
    let mut tx = doc.transaction();
    cards::replace_all(&mut tx, &second).unwrap();
    tx.commit();
    assert_eq!(cards::count(&doc).unwrap(), 2);
    assert_eq!(cards::lookup(&doc, "20230002").unwrap(), None);
    assert_eq!(cards::lookup(&doc, "T0001").unwrap().unwrap().college, "校长办公室");
}

#[test]
fn schema_versions_are_checked_and_older_documents_load() {
    // A document from a newer build is refused with a clear message.
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    day::append(&mut tx, &hall(), d(), 480, &every_event()[..1]).unwrap();
    tx.put(ROOT, "schema", 2).unwrap();
    tx.commit();
    let err = day::read(&doc, "hall/main/day/2026-11-26").unwrap_err();
    assert!(matches!(err, DocError::NewerSchema { found: 2, supported: 1, .. }), "{err}");
    assert!(err.to_string().contains("upgrade Onestop"), "{err}");
    // A day read as a catalogue is refused.
    let err = catalog::read(&doc).unwrap_err();
    assert!(matches!(err, DocError::WrongKind { .. }), "{err}");

    // An older writer that knew no rating dimensions, and a newer one that adds a field at
    // the end: both read.
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    day::append(&mut tx, &hall(), d(), 480, &[]).unwrap();
    let (_, events) = tx.get(ROOT, "events").unwrap().unwrap();
    let t = (at(9).since(d().start(480))) / 1000;
    tx.insert(&events, 0, format!("RT {t} A001 3 5").as_str()).unwrap();
    tx.insert(&events, 1, format!("C {t} A001 3 later-field").as_str()).unwrap();
    tx.commit();
    let read = day::read(&doc, "old").unwrap();
    assert_eq!(
        read.events[0],
        DayEvent::Rated {
            at: at(9),
            ticket: TicketNo::new('A', 1),
            window: 3,
            rating: Rating::overall(Level::VerySatisfied)
        }
    );
    assert_eq!(read.events[1], DayEvent::Called { at: at(9), ticket: TicketNo::new('A', 1), window: 3 });
    // A broken event says which event is wrong and why.
    let mut tx = doc.transaction();
    tx.insert(&events, 2, "C 10 A1x 3").unwrap();
    tx.commit();
    assert_eq!(
        day::read(&doc, "old").unwrap_err().to_string(),
        "event #2: field 'event' has an unknown value 'C 10 A1x 3 ('A1x' is not a ticket number)'"
    );
}

#[test]
fn adopting_a_larger_copy_stores_it_whole_and_refuses_a_smaller_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.sqlite");
    let mut store = Store::open(&path, Durability::Normal).unwrap();
    for (i, ev) in every_event()[..3].iter().enumerate() {
        write_events(&mut store, at(i as i64), std::slice::from_ref(ev));
    }
    let older = store.doc(&day_id()).unwrap().unwrap().fork();
    let mut bigger = older.fork();
    let mut tx = bigger.transaction();
    day::append(&mut tx, &hall(), d(), 480, &every_event()[3..]).unwrap();
    tx.commit();
    let stamp = store.next_stamp(at(30));
    store.write(stamp, |b| b.adopt(&day_id(), bigger.fork(), None)).unwrap();
    let bytes = store.chunk_bytes(&day_id()).unwrap();
    assert_eq!((bytes.chunks, bytes.incremental), (1, 0), "one snapshot replaces the chunks");
    // A copy that lacks what the store holds is refused, and nothing changes.
    let stamp = store.next_stamp(at(31));
    assert!(store.write(stamp, |b| b.adopt(&day_id(), older.fork(), None)).is_err());
    drop(store);
    let mut store = Store::open(&path, Durability::Normal).unwrap();
    assert_eq!(day::read(store.doc(&day_id()).unwrap().unwrap(), "d").unwrap().events, every_event());
}

#[test]
fn a_whole_document_is_stored_unread_and_heads_are_kept_beside_the_chunks() {
    let dir = tempfile::tempdir().unwrap();
    // The sender's day, saved whole (what a whole-document sync message carries).
    let mut sender = Store::open(&dir.path().join("edge.sqlite"), Durability::Normal).unwrap();
    write_events(&mut sender, at(1), &every_event());
    let doc = sender.doc(&day_id()).unwrap().unwrap();
    let (bytes, heads) = (doc.save(), doc.get_heads());
    let header = crate::wholedoc::read_header(&bytes).unwrap();
    assert_eq!(header.heads, heads);

    let path = dir.path().join("cloud.sqlite");
    let mut store = Store::open(&path, Durability::Normal).unwrap();
    assert_eq!(store.heads(&day_id()).unwrap(), None);
    let stamp = store.next_stamp(at(2));
    store.write(stamp, |b| b.adopt_saved(&day_id(), bytes.clone(), heads.clone())).unwrap();
    assert!(!store.is_loaded(&day_id()), "stored as it came, not loaded");
    assert_eq!(store.heads(&day_id()).unwrap(), Some(heads.clone()));
    assert!(!store.is_loaded(&day_id()), "its heads are read without loading it");
    // A document the store holds is never replaced unread.
    let stamp = store.next_stamp(at(3));
    assert!(store.write(stamp, |b| b.adopt_saved(&day_id(), bytes.clone(), heads.clone())).is_err());
    // It loads on first use, whole; later writes keep the heads up to date, across reopening.
    assert_eq!(day::read(store.doc(&day_id()).unwrap().unwrap(), "d").unwrap().events, every_event());
    write_events(&mut store, at(40), &every_event()[..1]);
    let now = store.doc(&day_id()).unwrap().unwrap().get_heads();
    assert_ne!(now, heads);
    drop(store);
    let mut store = Store::open(&path, Durability::Normal).unwrap();
    assert_eq!(store.heads(&day_id()).unwrap(), Some(now));
    assert!(!store.is_loaded(&day_id()));
    store.discard(&day_id()).unwrap();
    assert_eq!(store.heads(&day_id()).unwrap(), None);
}

#[test]
fn a_store_takes_in_what_another_process_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.sqlite");
    let mut linked = Store::open(&path, Durability::Normal).unwrap();
    let mut other = Store::open(&path, Durability::Normal).unwrap();
    write_events(&mut linked, at(0), &every_event()[..2]);
    assert_eq!(day::read(linked.doc(&day_id()).unwrap().unwrap(), "d").unwrap().events.len(), 2);
    // Another process (a command run beside the link) appends and compacts.
    let stamp = other.next_stamp(at(5));
    other
        .write(stamp, |b| {
            b.edit(&day_id(), |tx| Ok(day::append(tx, &hall(), d(), 480, &every_event()[2..6])?))
        })
        .unwrap();
    assert!(linked.refresh().unwrap().contains(&day_id()));
    assert_eq!(day::read(linked.doc(&day_id()).unwrap().unwrap(), "d").unwrap().events.len(), 6);
    other.compact(&day_id()).unwrap();
    let stamp = other.next_stamp(at(6));
    other
        .write(stamp, |b| {
            b.edit(&day_id(), |tx| Ok(day::append(tx, &hall(), d(), 480, &every_event()[6..7])?))
        })
        .unwrap();
    linked.refresh().unwrap();
    assert_eq!(
        day::read(linked.doc(&day_id()).unwrap().unwrap(), "d").unwrap().events,
        every_event()[..7].to_vec()
    );
    assert!(linked.refresh().unwrap().is_empty(), "nothing new, nothing reloaded");
}
