//! Property: a simulated day run through a node with its real SQLite store leaves a document
//! that holds exactly the events decided, in order, and a node reopened on it has the same
//! engine state as the one that ran the day.

use onestop_edge::clock::ManualClock;
use onestop_edge::node::{self, Node};
use onestop_edge::sim::{self, DayPlan};
use onestop_model::{Day, DayEvent, HallId};
use onestop_protocol::secrets::VisitorKey;
use onestop_protocol::{DocId, day};
use onestop_store::{Durability, Store};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn the_document_rebuilds_the_live_state(seed in any::<u64>(), tickets in 20usize..160, windows in 2u16..8) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.sqlite");
        let hall = HallId::new("main");
        let catalog = sim::campus_catalog(&hall, windows);
        let d = Day::new(2026, 11, 26).unwrap();
        let opens = d.start(480).plus_minutes(8 * 60 + 30);
        let clock = ManualClock::new(opens);
        let key = VisitorKey::new([9; 32]);
        let mut store = Store::open(&path, Durability::Normal).unwrap();
        // A small compaction floor so compaction happens inside the day too.
        store.set_compact_floor(4_096);
        node::publish_catalog(&mut store, &catalog, opens.plus_ms(-1000)).unwrap();
        let mut node = Node::open(node::share(store), hall.clone(), Box::new(clock.clone()), key.clone()).unwrap();
        let plan = DayPlan { tickets, windows, seed, opens, hours: 2.0, until: None };
        let mut decided: Vec<DayEvent> = Vec::new();
        let stats = sim::run_day(&plan, &catalog, &hall, |cmd, at| {
            let out = sim::on_node(&mut node, &clock, cmd, at)?;
            decided.extend(out.events.iter().cloned());
            Ok(out.events)
        });
        // A card already waiting for a service is refused a second ticket, so a few arrivals
        // may not get one.
        prop_assert!(stats.issued as usize <= tickets && stats.issued as usize * 10 >= tickets * 9);
        prop_assert!(stats.finished > 0);
        let live = node.engine().clone();
        drop(node);

        let mut store = Store::open(&path, Durability::Normal).unwrap();
        let id = DocId::Day { hall: hall.clone(), day: d };
        let stored = day::read(store.doc(&id).unwrap().unwrap(), "day").unwrap();
        prop_assert_eq!(&stored.events, &decided);
        let node = Node::open(node::share(store), hall, Box::new(clock), key).unwrap();
        prop_assert_eq!(node.engine(), &live);
    }
}
