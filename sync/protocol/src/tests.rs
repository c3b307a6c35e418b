use crate::codec::DocError;
use crate::fixtures::*;
use crate::{bookings, cards, cases, catalog, day};
use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT, ReadDoc};
use onestop_model::*;

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
fn an_event_time_beyond_reason_is_refused_not_overflowed() {
    // Found by the fuzzer: these panicked (an overflow) instead of being refused.
    for raw in ["T 2940029162940029160 A0010 A0 5", "F 30000730003000007", "CI 289202916892029160 A00 A00100"]
    {
        let err = day::decode(raw, d().start(480), "fuzz").unwrap_err();
        assert!(err.to_string().contains("out of range") || err.to_string().contains("event"), "{err}");
    }
}
