//! A busy day of a 31-window hall through the engine and the durable store, one durable write
//! per command as in real use. Run by hand:
//!
//! ```text
//! cargo bench -p onestop-edge --bench busy_day            # 5,000 tickets
//! cargo bench -p onestop-edge --bench busy_day -- 20000   # another size
//! ```
//!
//! Prints total time, commands per second, p50/p99 of one durable command, chunk bytes before
//! compaction, the compacted day's size, the time to serve again after a restart, peak memory.

use onestop_edge::clock::ManualClock;
use onestop_edge::node::{self, Node};
use onestop_edge::sim::{self, DayPlan};
use onestop_model::{Day, HallId};
use onestop_protocol::secrets::VisitorKey;
use onestop_protocol::{DocId, Month};
use onestop_store::{Durability, Store};
use std::time::{Duration, Instant};

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let tickets: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(5_000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("bench.sqlite");
    let hall = HallId::new("main");
    let catalog = sim::campus_catalog(&hall, 31);
    let day = Day::new(2026, 11, 26).unwrap();
    let opens = day.start(480).plus_minutes(8 * 60 + 30);
    let clock = ManualClock::new(opens.plus_ms(-60_000));
    let key = VisitorKey::new([7; 32]);

    let mut store = Store::open(&path, Durability::Full).expect("open the store");
    node::publish_catalog(&mut store, &catalog, clock.now_ts()).expect("publish the catalogue");
    let mut node = Node::open(node::share(store), hall.clone(), Box::new(clock.clone()), key.clone())
        .expect("open the node");

    let plan = DayPlan { tickets, windows: 31, seed: 2026, opens, hours: 8.0, until: None };
    let mut latencies = Vec::with_capacity(tickets * 8);
    let started = Instant::now();
    let stats = sim::run_day(&plan, &catalog, &hall, |cmd, at| {
        let t = Instant::now();
        let r = sim::on_node(&mut node, &clock, cmd, at);
        latencies.push(t.elapsed());
        r.map(|o| o.events)
    });
    let total = started.elapsed();
    let compactions = node.store().compactions();
    let day_id = DocId::Day { hall: hall.clone(), day };
    let cases_id = DocId::Cases { hall: hall.clone(), month: Month::of(day) };
    let written = node.store().appended_bytes();
    let before = node.store().chunk_bytes(&day_id).unwrap();
    node.store().compact(&day_id).unwrap();
    node.store().compact(&cases_id).unwrap();
    let day_size = node.store().chunk_bytes(&day_id).unwrap().snapshot;
    let cases_size = node.store().chunk_bytes(&cases_id).unwrap().snapshot;
    let live = node.engine().clone();
    drop(node);

    // Restart: open the store, load the catalogue and the day, rebuild the engine.
    let restart = Instant::now();
    let store = Store::open(&path, Durability::Full).unwrap();
    let node = Node::open(node::share(store), hall.clone(), Box::new(clock.clone()), key).unwrap();
    let restart = restart.elapsed();
    assert_eq!(node.engine(), &live, "the rebuilt engine must equal the live one");

    latencies.sort();
    let n = latencies.len();
    println!("busy day: {tickets} tickets, 31 windows, one durable write (synchronous=FULL) per command");
    println!("  mix: {stats}");
    println!("  total time                 {:>10.2} s", total.as_secs_f64());
    println!("  commands per second        {:>10.0}", n as f64 / total.as_secs_f64());
    println!("  durable command p50        {:>10.3} ms", pct(&latencies, 0.50).as_secs_f64() * 1e3);
    println!("  durable command p99        {:>10.3} ms", pct(&latencies, 0.99).as_secs_f64() * 1e3);
    println!("  durable command max        {:>10.3} ms", latencies[n - 1].as_secs_f64() * 1e3);
    println!("  compactions during the day {:>10}", compactions);
    println!(
        "  day chunks before final compaction {:>6} chunks, {} B incremental + {} B snapshot",
        before.chunks, before.incremental, before.snapshot
    );
    println!("  incremental chunk bytes appended over the day {:>8} B (day and cases documents)", written);
    println!("  day document compacted    {:>10} B", day_size);
    println!("  cases document compacted  {:>10} B", cases_size);
    println!("  restart to serving again   {:>10.1} ms", restart.as_secs_f64() * 1e3);
    println!("  peak memory (VmHWM)        {:>10.1} MiB", peak_rss_kib() as f64 / 1024.0);
}

trait NowTs {
    fn now_ts(&self) -> onestop_model::Timestamp;
}
impl NowTs for ManualClock {
    fn now_ts(&self) -> onestop_model::Timestamp {
        use onestop_edge::Clock;
        self.now()
    }
}
