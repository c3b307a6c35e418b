use super::*;
use crate::fixtures::{every_event, sample_catalog};
use crate::{catalog, day};
use onestop_model::{Day, HallId};

fn hall(h: &str) -> HallId {
    HallId::new(h)
}
fn d() -> Day {
    Day::new(2026, 11, 26).unwrap()
}
fn day_id(h: &str) -> DocId {
    DocId::Day { hall: hall(h), day: d() }
}

struct End {
    session: Session,
    docs: MemDocs,
}

fn edge_actor() -> ActorId {
    ActorId::from([0xE1u8; 16])
}
fn cloud_actor() -> ActorId {
    ActorId::from([0xC1u8; 16])
}

fn edge(h: &str, docs: MemDocs) -> End {
    End { session: Session::new(Side::Edge { hall: hall(h) }, edge_actor(), None), docs }
}
fn cloud(h: &str, docs: MemDocs, bound: ActorId) -> End {
    let side = Side::Cloud { node: format!("{h}-pi-1"), hall: hall(h) };
    End { session: Session::new(side, cloud_actor(), Some([bound].into())), docs }
}

/// Moves frames both ways until both sides are quiet; `drop` decides which frames are lost.
/// Returns the frames and bytes delivered and the events seen on each side.
fn pump(a: &mut End, b: &mut End, mut drop: impl FnMut(usize) -> bool) -> (usize, usize, Vec<SessionEvent>) {
    let (mut frames, mut bytes, mut n) = (0, 0, 0);
    let mut events = Vec::new();
    // A session says hello once, when its connection opens.
    if !a.session.is_greeted() {
        a.session.open(&mut a.docs, 1_000).unwrap();
        b.session.open(&mut b.docs, 2_000).unwrap();
    }
    loop {
        let mut moved = false;
        for forward in [true, false] {
            let (from, to) = if forward { (&mut *a, &mut *b) } else { (&mut *b, &mut *a) };
            while let Some(f) = from.session.poll_transmit() {
                moved = true;
                n += 1;
                if drop(n) {
                    continue;
                }
                frames += 1;
                bytes += f.encode().len();
                events.extend(to.session.receive(&mut to.docs, f).unwrap());
            }
        }
        if !moved {
            return (frames, bytes, events);
        }
    }
}

fn edge_docs(h: &str, events: &[onestop_model::DayEvent]) -> MemDocs {
    let mut doc = Automerge::new().with_actor(edge_actor());
    let mut tx = doc.transaction();
    day::append(&mut tx, &hall(h), d(), 480, events).unwrap();
    tx.commit();
    let mut docs = MemDocs::default();
    docs.docs.insert(day_id(h), doc);
    docs
}

fn cloud_docs() -> MemDocs {
    let mut doc = Automerge::new().with_actor(cloud_actor());
    let mut tx = doc.transaction();
    catalog::write(&mut tx, &sample_catalog()).unwrap();
    tx.commit();
    let mut docs = MemDocs::default();
    docs.docs.insert(DocId::Catalog, doc);
    docs
}

fn heads(docs: &MemDocs, id: &DocId) -> Vec<ChangeHash> {
    let mut h = docs.docs.get(id).map(|d| d.get_heads()).unwrap_or_default();
    h.sort();
    h
}

fn append(end: &mut End, events: &[onestop_model::DayEvent], h: &str) {
    let doc = end.docs.docs.get_mut(&day_id(h)).unwrap();
    let mut tx = doc.transaction();
    day::append(&mut tx, &hall(h), d(), 480, events).unwrap();
    tx.commit();
}

#[test]
fn both_sides_converge_and_agreeing_documents_cost_only_the_hello() {
    let mut e = edge("main", edge_docs("main", &every_event()));
    let mut c = cloud("main", cloud_docs(), edge_actor());
    let (_, _, events) = pump(&mut e, &mut c, |_| false);
    assert!(events.contains(&SessionEvent::Applied { doc: day_id("main") }));
    assert!(events.contains(&SessionEvent::Applied { doc: DocId::Catalog }));
    for id in [day_id("main"), DocId::Catalog] {
        assert_eq!(heads(&e.docs, &id), heads(&c.docs, &id), "{id}");
    }
    assert_eq!(day::read(&c.docs.docs[&day_id("main")], "d").unwrap().events, every_event());

    // A new session over the same documents: the hellos are all there is.
    let mut e2 = edge("main", std::mem::take(&mut e.docs));
    let mut c2 = cloud("main", std::mem::take(&mut c.docs), edge_actor());
    let (frames, _, _) = pump(&mut e2, &mut c2, |_| false);
    assert_eq!(frames, 2);

    // Live: a local change is pushed at once over the open session.
    append(&mut e2, &every_event()[..1], "main");
    e2.session.local_change(&mut e2.docs, &day_id("main")).unwrap();
    let (_, _, events) = pump(&mut e2, &mut c2, |_| false);
    assert!(events.contains(&SessionEvent::Applied { doc: day_id("main") }));
    assert_eq!(heads(&e2.docs, &day_id("main")), heads(&c2.docs, &day_id("main")));
}

#[test]
fn a_node_may_not_write_another_hall_or_the_catalogue() {
    // A node of hall east holds (somehow) a main day and a catalogue of its own making.
    let mut docs = edge_docs("main", &every_event());
    let mut forged = Automerge::new().with_actor(edge_actor());
    let mut tx = forged.transaction();
    catalog::write(&mut tx, &sample_catalog()).unwrap();
    tx.commit();
    docs.docs.insert(DocId::Catalog, forged);
    // The node is enrolled for east, so its session only offers east's documents and the
    // catalogue; push main's day by hand as a rogue node would.
    // A rogue node: its software does not drop a catalogue it did not write as itself.
    let rogue = ActorId::from([0x99u8; 16]);
    let mut e = End { session: Session::new(Side::Edge { hall: hall("east") }, rogue.clone(), None), docs };
    let mut c = cloud("east", MemDocs::default(), rogue);
    let (_, _, events) = pump(&mut e, &mut c, |_| false);
    assert!(events.iter().any(|ev| matches!(ev, SessionEvent::Refused { doc: DocId::Catalog, by_peer: true, reason } if reason.contains("read-only"))), "{events:?}");
    assert!(!c.docs.docs.contains_key(&DocId::Catalog), "nothing of the forged catalogue is applied");

    let msg = e.docs.docs[&day_id("main")].generate_sync_message(&mut State::new()).unwrap();
    let events =
        c.session.receive(&mut c.docs, Frame::Sync { doc: day_id("main"), message: msg.encode() }).unwrap();
    assert!(
        matches!(&events[..], [SessionEvent::Refused { reason, .. }] if reason.contains("may not sync hall/main/day")),
        "{events:?}"
    );
    assert!(c.docs.docs.is_empty());
}

#[test]
fn changes_by_an_actor_that_is_not_the_node_are_refused() {
    // The edge's day holds a change made by some other actor.
    let mut docs = edge_docs("main", &every_event()[..2]);
    let mut other = docs.docs[&day_id("main")].fork().with_actor(ActorId::from([0x66u8; 16]));
    let mut tx = other.transaction();
    day::append(&mut tx, &hall("main"), d(), 480, &every_event()[2..3]).unwrap();
    tx.commit();
    docs.docs.insert(day_id("main"), other);
    let mut e = edge("main", docs);
    let mut c = cloud("main", MemDocs::default(), edge_actor());
    let (_, _, events) = pump(&mut e, &mut c, |_| false);
    assert!(
        events.iter().any(
            |ev| matches!(ev, SessionEvent::Refused { reason, .. } if reason.contains("not this node's"))
        ),
        "{events:?}"
    );
    assert!(!c.docs.docs.contains_key(&day_id("main")), "all or nothing");

    // A hello declaring an actor the cloud has not bound to the node ends the session.
    let mut c = cloud("main", MemDocs::default(), ActorId::from([0x77u8; 16]));
    let mut e = edge("main", edge_docs("main", &every_event()));
    e.session.open(&mut e.docs, 0).unwrap();
    let hello = e.session.poll_transmit().unwrap();
    assert!(matches!(c.session.receive(&mut c.docs, hello), Err(SessionError::Actor(_))));
}

#[test]
fn lost_frames_and_a_new_connection_still_converge() {
    let mut e = edge("main", edge_docs("main", &every_event()));
    let mut c = cloud("main", cloud_docs(), edge_actor());
    // The link dies after the hellos and one more frame.
    pump(&mut e, &mut c, |n| n > 3);
    // More happens offline on both sides.
    append(&mut e, &every_event()[..5], "main");
    let mut tx = c.docs.docs.get_mut(&DocId::Catalog).unwrap().transaction();
    let mut cat = sample_catalog();
    cat.notices.clear();
    catalog::write(&mut tx, &cat).unwrap();
    tx.commit();
    // Reconnect: fresh sessions, sync states from their persisted form.
    let mut e = edge("main", std::mem::take(&mut e.docs));
    let mut c = cloud("main", std::mem::take(&mut c.docs), edge_actor());
    // Drop and duplicate nothing this time, but lose a frame in the middle once more…
    pump(&mut e, &mut c, |n| n == 4);
    let mut e = edge("main", std::mem::take(&mut e.docs));
    let mut c = cloud("main", std::mem::take(&mut c.docs), edge_actor());
    pump(&mut e, &mut c, |_| false);
    for id in [day_id("main"), DocId::Catalog] {
        assert_eq!(heads(&e.docs, &id), heads(&c.docs, &id), "{id}");
    }
    assert_eq!(catalog::read(&e.docs.docs[&DocId::Catalog]).unwrap(), cat);
}

#[test]
fn a_peer_restored_from_an_old_backup_still_converges() {
    let mut e = edge("main", edge_docs("main", &every_event()[..4]));
    let mut c = cloud("main", cloud_docs(), edge_actor());
    let backup = e.docs.docs[&day_id("main")].fork();
    pump(&mut e, &mut c, |_| false);
    append(&mut e, &every_event()[4..9], "main");
    let mut e = edge("main", std::mem::take(&mut e.docs));
    let mut c = cloud("main", std::mem::take(&mut c.docs), edge_actor());
    pump(&mut e, &mut c, |_| false);
    // The node's disk dies; it comes back from the old backup, with its old sync states,
    // while the cloud remembers having shared newer heads with it.
    let mut restored = MemDocs::default();
    restored.docs.insert(day_id("main"), backup);
    let mut e = edge("main", restored);
    let mut c = cloud("main", std::mem::take(&mut c.docs), edge_actor());
    pump(&mut e, &mut c, |_| false);
    assert_eq!(heads(&e.docs, &day_id("main")), heads(&c.docs, &day_id("main")));
    assert_eq!(day::read(&e.docs.docs[&day_id("main")], "d").unwrap().events, every_event()[..9].to_vec());
}

#[test]
fn the_cloud_offers_a_new_node_what_is_current_not_the_whole_history() {
    let old_day = Day::new(2026, 1, 5).unwrap();
    let old_id = DocId::Day { hall: hall("main"), day: old_day };
    let mut docs = edge_docs("main", &every_event());
    let mut old = Automerge::new().with_actor(edge_actor());
    let mut tx = old.transaction();
    day::append(&mut tx, &hall("main"), old_day, 480, &every_event()[..2]).unwrap();
    tx.commit();
    docs.docs.insert(old_id.clone(), old);
    // The cloud holds last January's day and today's; a new Pi holds nothing.
    let side = Side::Cloud { node: "main-pi-2".into(), hall: hall("main") };
    let mut c = End { session: Session::new(side, cloud_actor(), None).offer_from(d()), docs };
    let mut e = edge("main", MemDocs::default());
    pump(&mut e, &mut c, |_| false);
    assert_eq!(heads(&e.docs, &day_id("main")), heads(&c.docs, &day_id("main")), "today is restored");
    assert!(!e.docs.docs.contains_key(&old_id), "last January stays in the cloud");

    // A node that lists an old day of its own still gets it synced.
    let mut mine = edge_docs("main", &[]);
    let mut changed = c.docs.docs[&old_id].fork().with_actor(edge_actor());
    let mut tx = changed.transaction();
    day::append(&mut tx, &hall("main"), old_day, 480, &every_event()[2..4]).unwrap();
    tx.commit();
    mine.docs.insert(old_id.clone(), changed);
    let side = Side::Cloud { node: "main-pi-1".into(), hall: hall("main") };
    let mut c = End {
        session: Session::new(side, cloud_actor(), None).offer_from(d()),
        docs: std::mem::take(&mut c.docs),
    };
    let mut e = edge("main", mine);
    pump(&mut e, &mut c, |_| false);
    assert_eq!(heads(&e.docs, &old_id), heads(&c.docs, &old_id));
}

#[test]
fn a_catalogue_seeded_on_the_node_is_replaced_by_the_cloud_s() {
    // The hall was set up from a catalogue file (written by the node itself) before it met
    // its cloud, whose catalogue differs.
    let mut docs = edge_docs("main", &every_event());
    let mut seed = Automerge::new().with_actor(edge_actor());
    let mut tx = seed.transaction();
    let mut local = sample_catalog();
    local.notices.clear();
    catalog::write(&mut tx, &local).unwrap();
    tx.commit();
    docs.docs.insert(DocId::Catalog, seed);
    let mut e = edge("main", docs);
    let mut c = cloud("main", cloud_docs(), edge_actor());
    let (_, _, events) = pump(&mut e, &mut c, |_| false);
    assert!(!events.iter().any(|ev| matches!(ev, SessionEvent::Refused { .. })), "{events:?}");
    assert_eq!(heads(&e.docs, &DocId::Catalog), heads(&c.docs, &DocId::Catalog));
    assert_eq!(catalog::read(&e.docs.docs[&DocId::Catalog]).unwrap(), sample_catalog());
    assert_eq!(heads(&e.docs, &day_id("main")), heads(&c.docs, &day_id("main")));
}

/// Documents whose `receive_without_changes` fails as told; everything else is `MemDocs`.
struct Failing {
    docs: MemDocs,
    fail: Option<DocsError>,
}

impl Docs for Failing {
    fn held(&mut self, side: &Side) -> Result<Vec<DocHeads>, DocsError> {
        self.docs.held(side)
    }
    fn doc(&mut self, id: &DocId) -> Result<Option<&Automerge>, DocsError> {
        self.docs.doc(id)
    }
    fn apply(&mut self, id: &DocId, changes: Vec<Change>) -> Result<(), DocsError> {
        self.docs.apply(id, changes)
    }
    fn adopt(&mut self, id: &DocId, doc: Automerge, saved: Option<Vec<u8>>) -> Result<(), DocsError> {
        self.docs.adopt(id, doc, saved)
    }
    fn adopt_saved(&mut self, id: &DocId, bytes: Vec<u8>, heads: Vec<ChangeHash>) -> Result<(), DocsError> {
        self.docs.adopt_saved(id, bytes, heads)
    }
    fn receive_without_changes(
        &mut self,
        id: &DocId,
        state: &mut State,
        msg: Message,
    ) -> Result<bool, DocsError> {
        match self.fail.take() {
            Some(e) => Err(e),
            None => self.docs.receive_without_changes(id, state, msg),
        }
    }
    fn heads(&mut self, id: &DocId) -> Result<Option<Vec<ChangeHash>>, DocsError> {
        self.docs.heads(id)
    }
    fn discard(&mut self, id: &DocId) -> Result<(), DocsError> {
        self.docs.discard(id)
    }
    fn load_state(&mut self, id: &DocId) -> Option<State> {
        self.docs.load_state(id)
    }
    fn save_state(&mut self, id: &DocId, state: &State) {
        self.docs.save_state(id, state)
    }
}

#[test]
fn a_message_that_does_not_apply_is_refused_but_a_failing_store_ends_the_session() {
    let mut e = edge("main", edge_docs("main", &every_event()));
    let mut c = cloud("main", MemDocs::default(), edge_actor());
    pump(&mut e, &mut c, |_| false);
    // A request (a message without changes) for a document the cloud holds.
    let msg = e.docs.docs[&day_id("main")].generate_sync_message(&mut State::new()).unwrap();
    assert!(msg.changes.is_empty());
    let bytes = msg.encode();
    let request = || Frame::Sync { doc: day_id("main"), message: bytes.clone() };

    // The store fails (its disk is full): the session ends; nothing is refused, so the next
    // session syncs the document as usual.
    let full = DocsError::Store(Box::new(std::io::Error::other("database or disk is full")));
    let mut docs = Failing { docs: std::mem::take(&mut c.docs), fail: Some(full) };
    let err = c.session.receive(&mut docs, request()).unwrap_err();
    assert!(err.store_error().is_some_and(|e| e.to_string().contains("full")), "{err}");
    assert!(c.session.poll_transmit().is_none(), "no Refused frame for the store's failure");
    let mut c = cloud("main", std::mem::take(&mut docs.docs), edge_actor());
    c.session.open(&mut c.docs, 0).unwrap();
    let hello = e.session.open(&mut e.docs, 0).map(|()| e.session.poll_transmit().unwrap()).unwrap();
    c.session.receive(&mut c.docs, hello).unwrap();
    while c.session.poll_transmit().is_some() {}
    let events = c.session.receive(&mut c.docs, request()).unwrap();
    assert_eq!(events, [SessionEvent::Acknowledged { doc: day_id("main") }]);

    while c.session.poll_transmit().is_some() {}

    // What arrived does not apply: the document is refused, and the peer is told.
    let invalid = DocsError::Invalid("hall/main/day/2026-11-26: the sync message does not apply".into());
    let mut docs = Failing { docs: std::mem::take(&mut c.docs), fail: Some(invalid) };
    let events = c.session.receive(&mut docs, request()).unwrap();
    assert!(
        matches!(&events[..], [SessionEvent::Refused { by_peer: false, reason, .. }] if reason.contains("does not apply")),
        "{events:?}"
    );
    let frames: Vec<Frame> = std::iter::from_fn(|| c.session.poll_transmit()).collect();
    assert!(matches!(&frames[..], [Frame::Refused { doc, .. }] if *doc == day_id("main")), "{frames:?}");
}

/// A hello from the edge with `actor` declared, for the cloud to receive.
fn hello_with(actor: Vec<u8>) -> Frame {
    Frame::Hello { version: PROTOCOL_VERSION, time_ms: 0, actor, docs: Vec::new() }
}

#[test]
fn the_clouds_actor_odd_actor_ids_and_a_second_hello_are_refused() {
    // No actor bound yet (a node's first hello): still, the cloud's own actor is not for it.
    let side = || Side::Cloud { node: "main-pi-1".into(), hall: hall("main") };
    let mut docs = MemDocs::default();
    let mut c = Session::new(side(), cloud_actor(), None);
    let err = c.receive(&mut docs, hello_with(cloud_actor().to_bytes().to_vec())).unwrap_err();
    assert!(err.to_string().contains("own"), "{err}");
    // 32 bytes: once split into two 16-byte actors, one of them anybody's.
    let mut two = edge_actor().to_bytes().to_vec();
    two.extend_from_slice(cloud_actor().to_bytes());
    let mut c = Session::new(side(), cloud_actor(), None);
    assert!(c.receive(&mut docs, hello_with(two)).unwrap_err().to_string().contains("32 bytes"));
    let mut c = Session::new(side(), cloud_actor(), None);
    assert!(c.receive(&mut docs, hello_with(Vec::new())).is_err());
    // A second hello (to rebind before the first is recorded) ends the session.
    let mut c = Session::new(side(), cloud_actor(), None);
    c.receive(&mut docs, hello_with(edge_actor().to_bytes().to_vec())).unwrap();
    let other = ActorId::from([0x55u8; 16]).to_bytes().to_vec();
    assert!(c.receive(&mut docs, hello_with(other)).unwrap_err().to_string().contains("second hello"));
}

/// A sync message bringing `bytes` as its one change entry, for a document the receiver does
/// not hold.
fn whole_message(bytes: Vec<u8>, heads: Vec<ChangeHash>) -> Vec<u8> {
    use automerge::sync::{Have, MessageVersion};
    Message {
        heads,
        need: Vec::new(),
        have: vec![Have::default()],
        changes: vec![bytes].into(),
        flags: None,
        version: MessageVersion::V2,
    }
    .encode()
}

#[test]
fn a_forged_whole_document_is_refused_and_nothing_is_stored() {
    let docs = edge_docs("main", &every_event());
    let doc = &docs.docs[&day_id("main")];
    let saved = doc.save();
    let (forged, forged_head) = crate::fixtures::forged_whole_document(&saved);
    assert_eq!(
        crate::wholedoc::read_header(&forged).unwrap().heads,
        vec![forged_head],
        "a header that reads well"
    );

    let mut c = cloud("main", MemDocs::default(), edge_actor());
    c.session.receive(&mut c.docs, hello_with(edge_actor().to_bytes().to_vec())).unwrap();
    let frame = Frame::Sync { doc: day_id("main"), message: whole_message(forged, vec![forged_head]) };
    let events = c.session.receive(&mut c.docs, frame).unwrap();
    assert!(
        matches!(&events[..], [SessionEvent::Refused { reason, .. }] if reason.contains("whole document")),
        "{events:?}"
    );
    assert!(!c.docs.docs.contains_key(&day_id("main")), "nothing stored");

    // The true document, in a fresh session, is taken whole.
    let mut c = cloud("main", MemDocs::default(), edge_actor());
    c.session.receive(&mut c.docs, hello_with(edge_actor().to_bytes().to_vec())).unwrap();
    let frame = Frame::Sync { doc: day_id("main"), message: whole_message(saved, doc.get_heads()) };
    let events = c.session.receive(&mut c.docs, frame).unwrap();
    assert_eq!(events, vec![SessionEvent::Applied { doc: day_id("main") }]);
    assert_eq!(heads(&c.docs, &day_id("main")), heads(&docs, &day_id("main")));
}

#[test]
fn a_message_beyond_the_limits_or_the_quota_is_refused_before_it_is_applied() {
    // Limits: a day of many events in one message, against a small limit.
    let mut e = edge("main", edge_docs("main", &every_event()));
    let side = Side::Cloud { node: "main-pi-1".into(), hall: hall("main") };
    let limits = inspect::Limits { ops: 5, ..inspect::Limits::default() };
    let session = Session::new(side.clone(), cloud_actor(), Some([edge_actor()].into())).with_limits(limits);
    let mut c = End { session, docs: MemDocs::default() };
    let (_, _, events) = pump(&mut e, &mut c, |_| false);
    assert!(
        events
            .iter()
            .any(|ev| matches!(ev, SessionEvent::Refused { reason, .. } if reason.contains("operations"))),
        "{events:?}"
    );
    assert!(!c.docs.docs.contains_key(&day_id("main")));

    // A quota of one new document: the second is refused, the first kept.
    struct OneNewDoc(usize);
    impl Quota for OneNewDoc {
        fn admit(&mut self, _doc: &DocId, new_doc: bool, _bytes: u64) -> Result<(), String> {
            if new_doc {
                self.0 += 1;
            }
            if self.0 > 1 {
                Err("the node's quota of new documents for today is used up".into())
            } else {
                Ok(())
            }
        }
    }
    let mut docs = edge_docs("main", &every_event());
    let other_day = DocId::Day { hall: hall("main"), day: d().next() };
    docs.docs.insert(other_day.clone(), docs.docs[&day_id("main")].fork());
    let mut e = edge("main", docs);
    let session =
        Session::new(side, cloud_actor(), Some([edge_actor()].into())).with_quota(Box::new(OneNewDoc(0)));
    let mut c = End { session, docs: MemDocs::default() };
    let (_, _, events) = pump(&mut e, &mut c, |_| false);
    let refused: Vec<_> = events
        .iter()
        .filter(|ev| matches!(ev, SessionEvent::Refused { reason, by_peer: false, .. } if reason.contains("quota")))
        .collect();
    assert_eq!(refused.len(), 1, "{events:?}");
    assert_eq!(c.docs.docs.len(), 1, "one new document kept");
}

#[test]
fn a_fresh_node_is_caught_up_only_once_it_holds_what_the_cloud_listed() {
    // The cloud holds the hall's day (from the card the node replaces) and the catalogue.
    let mut cdocs = cloud_docs();
    let day = edge_docs("main", &every_event()).docs.remove(&day_id("main")).unwrap();
    cdocs.docs.insert(day_id("main"), day);
    let mut c = cloud("main", cdocs, ActorId::from([0x31u8; 16]));
    let fresh = ActorId::from([0x31u8; 16]);
    let mut e = End {
        session: Session::new(Side::Edge { hall: hall("main") }, fresh, None),
        docs: MemDocs::default(),
    };
    // By hand, to tell the edge's events from the cloud's.
    e.session.open(&mut e.docs, 1_000).unwrap();
    c.session.open(&mut c.docs, 2_000).unwrap();
    let mut edge_events = Vec::new();
    loop {
        let mut moved = false;
        while let Some(f) = e.session.poll_transmit() {
            moved = true;
            c.session.receive(&mut c.docs, f).unwrap();
        }
        while let Some(f) = c.session.poll_transmit() {
            moved = true;
            let before = e.docs.docs.contains_key(&day_id("main"));
            for ev in e.session.receive(&mut e.docs, f).unwrap() {
                if ev == SessionEvent::CaughtUp {
                    assert!(before || e.docs.docs.contains_key(&day_id("main")), "caught up without the day");
                }
                edge_events.push(ev);
            }
        }
        if !moved {
            break;
        }
    }
    assert_eq!(edge_events.iter().filter(|ev| **ev == SessionEvent::CaughtUp).count(), 1, "{edge_events:?}");
    assert_eq!(heads(&e.docs, &day_id("main")), heads(&c.docs, &day_id("main")));
}
