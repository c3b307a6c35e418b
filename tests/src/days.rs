//! Simulated hall days on a node over a shared store, for the sync tests and benchmarks.

use onestop_edge::clock::ManualClock;
use onestop_edge::node::{self, Node, SharedStore};
use onestop_edge::sim::{self, DayPlan};
use onestop_model::{Day, HallId};
use onestop_protocol::DocId;
use onestop_protocol::secrets::VisitorKey;
use std::time::Duration;
use tokio::sync::broadcast;

/// Tomorrow in Beijing. A link's hello carries the real time into the node's hybrid logical
/// clock, so simulated days must lie after it (an earlier day would be a clock going back).
pub fn tomorrow() -> Day {
    use onestop_model::clock::Clock;
    onestop_model::clock::SystemClock.now().day(480).next()
}

/// How to run the simulated days.
pub struct Days {
    pub hall: HallId,
    pub first: Day,
    pub days: u32,
    pub tickets: usize,
    pub windows: u16,
    /// Hours of arrivals per day.
    pub hours: f64,
    /// Told about every changed document (the edge link's notices).
    pub notify: Option<broadcast::Sender<DocId>>,
    /// Real time spent per command, to keep a link busy while it is disturbed.
    pub pace: Option<Duration>,
}

/// Runs the days on a node over `store` (which must hold the catalogue); returns its clock.
pub fn run(store: &SharedStore, d: &Days) -> ManualClock {
    let clock = ManualClock::new(d.first.start(480).plus_minutes(8 * 60));
    let mut node =
        Node::open(store.clone(), d.hall.clone(), Box::new(clock.clone()), VisitorKey::new([5; 32])).unwrap();
    if let Some(tx) = d.notify.clone() {
        node.on_change(move |id| {
            let _ = tx.send(id.clone());
        });
    }
    let catalog = node::load_catalog(&mut node.store()).unwrap();
    let mut day = d.first;
    for i in 0..d.days {
        let opens = day.start(480).plus_minutes(8 * 60 + 30);
        let plan = DayPlan {
            tickets: d.tickets,
            windows: d.windows,
            seed: u64::from(i) + 1,
            opens,
            hours: d.hours,
            until: None,
        };
        let stats = sim::run_day(&plan, &catalog, &d.hall, |cmd, at| {
            if let Some(p) = d.pace {
                std::thread::sleep(p);
            }
            sim::on_node(&mut node, &clock, cmd, at).map(|o| o.events)
        });
        assert!(stats.issued as usize * 10 >= d.tickets * 9, "{stats}");
        day = day.next();
    }
    clock
}
