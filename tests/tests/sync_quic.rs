//! The sync link for real: quinn on loopback, mutual TLS with a campus CA, durable stores on
//! both sides.

use onestop_model::{Day, DayEvent, HallId, ServiceId, Source, TicketNo, Timestamp};
use onestop_protocol::{DocId, day};
use onestop_store::{Durability, Store};
use onestop_tests::net::{eventually, heads, start_cloud, start_edge};
use onestop_tests::pki::TestCa;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn d() -> Day {
    Day::new(2026, 11, 26).unwrap()
}

fn issued(n: u32) -> DayEvent {
    DayEvent::Issued {
        at: d().start(480).plus_minutes(9 * 60 + i64::from(n)),
        ticket: TicketNo::new('A', n),
        service: ServiceId::new("cert"),
        source: Source::Anonymous,
        priority: onestop_model::Priority::Normal,
        ahead: 0,
        wait_estimate_min: 0,
    }
}

fn write_events(store: &Mutex<Store>, hall: &str, events: &[DayEvent]) -> DocId {
    let id = DocId::Day { hall: HallId::new(hall), day: d() };
    let mut s = store.lock().unwrap();
    let stamp = s.next_stamp(Timestamp(1));
    s.write(stamp, |b| b.edit(&id, |tx| Ok(day::append(tx, &HallId::new(hall), d(), 480, events)?))).unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_and_the_cloud_converge_then_push_live() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Campus CA");
    let cloud = start_cloud(&ca, dir.path());
    let edge_store =
        Arc::new(Mutex::new(Store::open(&dir.path().join("edge.sqlite"), Durability::Full).unwrap()));
    let id = write_events(&edge_store, "main", &(1..=50).map(issued).collect::<Vec<_>>());
    let edge = start_edge(&ca, &ca.node("main", "main-pi-1"), "main", cloud.addr, edge_store);

    eventually("the day reaches the cloud", || heads(&cloud.store, &id) == heads(&edge.store, &id)).await;
    let read = day::read(cloud.store.lock().unwrap().doc(&id).unwrap().unwrap(), "day").unwrap();
    assert_eq!(read.events.len(), 50);
    assert!(edge.status.borrow().online);
    assert!(edge.status.borrow().clock_offset_ms.is_some());

    // Live: a new ticket is pushed as it is written.
    write_events(&edge.store, "main", &[issued(51)]);
    edge.changes.send(id.clone()).unwrap();
    eventually("the live change reaches the cloud", || heads(&cloud.store, &id) == heads(&edge.store, &id))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_revoked_nodes_and_other_halls_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Campus CA");
    let cloud = start_cloud(&ca, dir.path());

    // A certificate from another CA: refused at the handshake, nothing applied.
    let other_ca = TestCa::new("Someone else's CA");
    let s1 = Arc::new(Mutex::new(Store::open(&dir.path().join("s1.sqlite"), Durability::Full).unwrap()));
    let id = write_events(&s1, "main", &[issued(1)]);
    let stranger = start_edge(&ca, &other_ca.node("main", "intruder"), "main", cloud.addr, s1);
    let mut st = stranger.status.clone();
    eventually("the stranger fails", || st.borrow_and_update().last_error.is_some()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!stranger.status.borrow().online);
    assert!(cloud.store.lock().unwrap().doc(&id).unwrap().is_none());

    // A node of hall east that holds hall main's day: the cloud refuses to take it.
    let s2 = Arc::new(Mutex::new(Store::open(&dir.path().join("s2.sqlite"), Durability::Full).unwrap()));
    write_events(&s2, "main", &[issued(2)]);
    let rogue = start_edge(&ca, &ca.node("east", "east-pi-1"), "main", cloud.addr, s2);
    let mut st = rogue.status.clone();
    eventually("the rogue hears the refusal", || {
        st.borrow_and_update().last_error.as_deref().is_some_and(|e| e.contains("may not sync hall/main/day"))
    })
    .await;
    assert!(cloud.store.lock().unwrap().doc(&id).unwrap().is_none());

    // A revoked node: its open connection is closed and it cannot come back.
    let s3 = Arc::new(Mutex::new(Store::open(&dir.path().join("s3.sqlite"), Durability::Full).unwrap()));
    let west = write_events(&s3, "west", &[issued(3)]);
    let node = start_edge(&ca, &ca.node("west", "west-pi-1"), "west", cloud.addr, s3);
    eventually("the west node syncs", || heads(&cloud.store, &west) == heads(&node.store, &west)).await;
    cloud.sync.revoke("west-pi-1");
    let mut st = node.status.clone();
    eventually("the revoked node goes offline", || !st.borrow_and_update().online).await;
    write_events(&node.store, "west", &[issued(4)]);
    // No session listens while offline: the notice goes nowhere, the next hello would carry it.
    let _ = node.changes.send(west.clone());
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!node.status.borrow().online, "a revoked node never comes back online");
    assert_ne!(heads(&cloud.store, &west), heads(&node.store, &west), "nothing more is taken from it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_node_is_caught_up_once_it_holds_its_halls_day() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Campus CA");
    let cloud = start_cloud(&ca, dir.path());
    let old = Arc::new(Mutex::new(Store::open(&dir.path().join("old.sqlite"), Durability::Full).unwrap()));
    // Today's day: the cloud offers a node what is current.
    let today = onestop_model::clock::Clock::now(&onestop_model::clock::SystemClock).day(480);
    let id = DocId::Day { hall: HallId::new("main"), day: today };
    {
        let mut s = old.lock().unwrap();
        let stamp = s.next_stamp(Timestamp(1));
        s.write(stamp, |b| {
            b.edit(&id, |tx| Ok(day::append(tx, &HallId::new("main"), today, 480, &[issued(1)])?))
        })
        .unwrap();
    }
    let first = start_edge(&ca, &ca.node("main", "main-pi-1"), "main", cloud.addr, old);
    eventually("the old card's day at the cloud", || heads(&cloud.store, &id) == heads(&first.store, &id))
        .await;
    first.kill();

    let fresh = Arc::new(Mutex::new(Store::open(&dir.path().join("new.sqlite"), Durability::Full).unwrap()));
    let node = start_edge(&ca, &ca.node("main", "main-pi-1"), "main", cloud.addr, fresh);
    let mut st = node.status.clone();
    eventually("caught up", || st.borrow_and_update().caught_up).await;
    assert_eq!(heads(&node.store, &id), heads(&cloud.store, &id), "caught up means the day is here");
}
