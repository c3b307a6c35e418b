//! The sync session over durable stores ([`StoreDocs`]): what is received is written before
//! the session answers, sync states persist, and the store's failures end a session.

use crate::docs::{StoreDocs, store_error};
use crate::{Durability, Store, StoreError, StoreFault};
use onestop_model::{Day, HallId};
use onestop_protocol::docid::DocId;
use onestop_protocol::fixtures::{every_event, sample_catalog};
use onestop_protocol::session::{DocsError, Session, SessionError, Side};
use onestop_protocol::wire::Frame;
use onestop_protocol::{catalog, day};

fn hall(h: &str) -> HallId {
    HallId::new(h)
}
fn d() -> Day {
    Day::new(2026, 11, 26).unwrap()
}
fn day_id(h: &str) -> DocId {
    DocId::Day { hall: hall(h), day: d() }
}

#[test]
fn two_durable_stores_converge_and_remember_their_sync_states() {
    let dir = tempfile::tempdir().unwrap();
    let (ep, cp) = (dir.path().join("edge.sqlite"), dir.path().join("cloud.sqlite"));
    let mut edge_store = Store::open(&ep, Durability::Full).unwrap();
    let mut cloud_store = Store::open(&cp, Durability::Normal).unwrap();
    let stamp = edge_store.next_stamp(onestop_model::Timestamp(1));
    edge_store
        .write(stamp, |b| {
            b.edit(&day_id("main"), |tx| Ok(day::append(tx, &hall("main"), d(), 480, &every_event())?))
        })
        .unwrap();
    let stamp = cloud_store.next_stamp(onestop_model::Timestamp(1));
    cloud_store
        .write(stamp, |b| b.edit(&DocId::Catalog, |tx| Ok(catalog::write(tx, &sample_catalog())?)))
        .unwrap();
    let edge_actor = edge_store.actor().clone();

    let run = |edge_store: &mut Store, cloud_store: &mut Store| {
        let mut e = Session::new(Side::Edge { hall: hall("main") }, edge_store.actor().clone(), None);
        let side = Side::Cloud { node: "main-pi-1".into(), hall: hall("main") };
        let mut c = Session::new(side, cloud_store.actor().clone(), Some([edge_actor.clone()].into()));
        let mut ed = StoreDocs { store: edge_store, peer: "cloud".into() };
        let mut cd = StoreDocs { store: cloud_store, peer: "main-pi-1".into() };
        e.open(&mut ed, 0).unwrap();
        c.open(&mut cd, 0).unwrap();
        let mut frames = 0;
        loop {
            let mut moved = false;
            while let Some(f) = e.poll_transmit() {
                moved = true;
                frames += 1;
                c.receive(&mut cd, f).unwrap();
            }
            while let Some(f) = c.poll_transmit() {
                moved = true;
                frames += 1;
                e.receive(&mut ed, f).unwrap();
            }
            if !moved {
                return frames;
            }
        }
    };
    assert!(run(&mut edge_store, &mut cloud_store) > 2);
    drop((edge_store, cloud_store));

    let mut edge_store = Store::open(&ep, Durability::Full).unwrap();
    let mut cloud_store = Store::open(&cp, Durability::Normal).unwrap();
    for id in [day_id("main"), DocId::Catalog] {
        let a = edge_store.doc(&id).unwrap().unwrap().get_heads();
        let b = cloud_store.doc(&id).unwrap().unwrap().get_heads();
        assert_eq!(a, b, "{id} is durable on both sides");
        assert!(edge_store.load_sync_state("cloud", &id).unwrap().is_some());
        assert!(cloud_store.load_sync_state("main-pi-1", &id).unwrap().is_some());
    }
    // Reconnecting with nothing new costs the two hellos.
    assert_eq!(run(&mut edge_store, &mut cloud_store), 2);
}

/// A real store error of the kind a full disk gives (SQLite's own `SQLITE_FULL`).
fn full_disk_error() -> StoreError {
    let mut store = Store::open_in_memory().unwrap();
    store.simulate_full_disk(true).unwrap();
    store.put_meta("k", b"v").unwrap_err()
}

#[test]
fn the_store_s_refusals_are_invalid_data_and_its_failures_are_store_errors() {
    let full = DocsError::from(full_disk_error());
    assert!(
        matches!(&full, DocsError::Store(e) if e.downcast_ref::<StoreError>().map(StoreError::kind) == Some(StoreFault::Full)),
        "{full:?}"
    );
    let refused = DocsError::from(StoreError::rejected("the adopted document lacks changes"));
    assert!(matches!(&refused, DocsError::Invalid(m) if m.contains("lacks changes")), "{refused:?}");
    let session = SessionError::from(full);
    assert_eq!(store_error(&session).map(StoreError::kind), Some(StoreFault::Full));
    assert!(store_error(&SessionError::from(refused)).is_none());
}

#[test]
fn a_full_disk_on_the_cloud_ends_the_session_and_the_next_one_delivers_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut edge_store = Store::open(&dir.path().join("edge.sqlite"), Durability::Full).unwrap();
    let mut cloud_store = Store::open(&dir.path().join("cloud.sqlite"), Durability::Normal).unwrap();
    let stamp = edge_store.next_stamp(onestop_model::Timestamp(1));
    edge_store
        .write(stamp, |b| {
            b.edit(&day_id("main"), |tx| Ok(day::append(tx, &hall("main"), d(), 480, &every_event())?))
        })
        .unwrap();
    let edge_actor = edge_store.actor().clone();
    let run = |edge_store: &mut Store, cloud_store: &mut Store| -> Result<(), SessionError> {
        let mut e = Session::new(Side::Edge { hall: hall("main") }, edge_store.actor().clone(), None);
        let side = Side::Cloud { node: "main-pi-1".into(), hall: hall("main") };
        let mut c = Session::new(side, cloud_store.actor().clone(), Some([edge_actor.clone()].into()));
        let mut ed = StoreDocs { store: edge_store, peer: "cloud".into() };
        let mut cd = StoreDocs { store: cloud_store, peer: "main-pi-1".into() };
        e.open(&mut ed, 0)?;
        c.open(&mut cd, 0)?;
        loop {
            let mut moved = false;
            while let Some(f) = e.poll_transmit() {
                moved = true;
                c.receive(&mut cd, f)?;
            }
            while let Some(f) = c.poll_transmit() {
                moved = true;
                assert!(!matches!(f, Frame::Refused { .. }), "the cloud refuses nothing: {f:?}");
                e.receive(&mut ed, f)?;
            }
            if !moved {
                return Ok(());
            }
        }
    };
    cloud_store.simulate_full_disk(true).unwrap();
    let err = run(&mut edge_store, &mut cloud_store).unwrap_err();
    assert_eq!(store_error(&err).map(StoreError::kind), Some(StoreFault::Full), "{err}");
    assert!(cloud_store.heads(&day_id("main")).unwrap().is_none(), "nothing of the day is stored");
    // Space returns; the next connection delivers the day whole.
    cloud_store.simulate_full_disk(false).unwrap();
    run(&mut edge_store, &mut cloud_store).unwrap();
    let a = edge_store.doc(&day_id("main")).unwrap().unwrap().get_heads();
    let b = cloud_store.doc(&day_id("main")).unwrap().unwrap().get_heads();
    assert_eq!(a, b);
    assert_eq!(
        day::read(cloud_store.doc(&day_id("main")).unwrap().unwrap(), "d").unwrap().events,
        every_event()
    );
}
