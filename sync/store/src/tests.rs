use crate::{Durability, Store, StoreError, StoreFault};
use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT, ReadDoc};
use onestop_model::*;
use onestop_protocol::docid::{DocId, Month};
use onestop_protocol::fixtures::*;
use onestop_protocol::{catalog, day};

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
    let header = onestop_protocol::wholedoc::read_header(&bytes).unwrap();
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

#[test]
fn a_cache_limit_keeps_memory_bounded_and_every_document_whole() {
    let mut store = Store::open_in_memory().unwrap();
    store.set_cache_limit(Some(crate::CacheLimit { docs: 3, bytes: u64::MAX }));
    let day_of = |i: u32| DocId::Day {
        hall: hall(),
        day: Day::from_days_since_epoch(d().days_since_epoch() + i as i32),
    };
    // One write touching five days: nothing is dropped under it, and every day's heads are
    // kept right.
    let stamp = store.next_stamp(at(0));
    store
        .write(stamp, |b| {
            for i in 0..5 {
                let day = Day::from_days_since_epoch(d().days_since_epoch() + i as i32);
                b.edit(&day_of(i), |tx| Ok(day::append(tx, &hall(), day, 480, &every_event()[..2])?))?;
            }
            Ok(())
        })
        .unwrap();
    assert!(store.cache_figures().0 <= 3, "trimmed after the write: {:?}", store.cache_figures());
    for i in 0..5 {
        let kept = store.heads(&day_of(i)).unwrap().unwrap();
        store.evict(&day_of(i));
        let loaded = store.doc(&day_of(i)).unwrap().unwrap().get_heads();
        assert_eq!(kept, loaded, "day {i}");
    }
    // Reading twenty documents one after the other keeps at most three loaded.
    for i in 5..25 {
        let stamp = store.next_stamp(at(i as i64));
        let day = Day::from_days_since_epoch(d().days_since_epoch() + i as i32);
        store
            .write(stamp, |b| {
                b.edit(&day_of(i), |tx| Ok(day::append(tx, &hall(), day, 480, &every_event()[..1])?))
            })
            .unwrap();
    }
    for i in 0..25 {
        assert!(store.doc(&day_of(i)).unwrap().is_some());
        assert!(store.cache_figures().0 <= 3);
    }
    assert!(store.cache_figures().1 > 20, "documents were dropped: {:?}", store.cache_figures());
    // A bound in bytes too.
    store.set_cache_limit(Some(crate::CacheLimit { docs: 100, bytes: 1 }));
    assert!(store.cache_figures().0 <= 1);
}
