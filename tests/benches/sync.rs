//! Sync benchmarks, run by hand (real quinn and mutual TLS on loopback, durable stores):
//!
//! ```text
//! cargo bench -p onestop-tests --bench sync                 # all three
//! cargo bench -p onestop-tests --bench sync -- outage       # one of: outage, halls, live
//! ```
//!
//! - outage: a 5,000-ticket-a-day hall offline for 7 days reconnects: time to converge and
//!   bytes on the wire, next to the compacted size of the documents it had to send;
//! - halls: 50 halls, each with a busy morning unsent, reconnect to one cloud at once;
//! - live: one event from the edge to the cloud's store, p50 and p99;
//! - year (by name only): four halls each send the cloud a year of busy days (250 days of
//!   5,000 tickets; `ONESTOP_YEAR_DAYS` and `ONESTOP_YEAR_TICKETS` change them), written
//!   straight into each hall's day documents (issued, called, started, finished, three in five
//!   rated: what a served ticket leaves) rather than simulated, so a year takes minutes: the
//!   process's resident memory after each hall, with the cloud's document cache.

use onestop_edge::clock::ManualClock;
use onestop_edge::node::{self, Node, SharedStore};
use onestop_edge::sim;
use onestop_model::{Catalog, HallId, Priority, ServiceId, Source};
use onestop_protocol::DocId;
use onestop_protocol::secrets::VisitorKey;
use onestop_store::{Durability, Store};
use onestop_tests::days::{self, Days};
use onestop_tests::net::{converged, start_cloud, start_edge};
use onestop_tests::pki::TestCa;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn open(path: &std::path::Path, durability: Durability) -> SharedStore {
    Arc::new(Mutex::new(Store::open(path, durability).unwrap()))
}

/// Copies the cloud's catalogue document into a hall's store, as the first sync would.
fn seed_catalog(cloud: &SharedStore, edge: &SharedStore) {
    let bytes = cloud.lock().unwrap().doc(&DocId::Catalog).unwrap().unwrap().save();
    let mut s = edge.lock().unwrap();
    let stamp = s.next_stamp(onestop_model::Timestamp(1));
    s.write(stamp, |b| {
        b.change(&DocId::Catalog, |doc| {
            doc.load_incremental(&bytes)?;
            Ok(())
        })
    })
    .unwrap();
}

async fn wait_converged(a: &SharedStore, b: &SharedStore, limit: Duration) -> Duration {
    let start = Instant::now();
    while !converged(a, b) {
        assert!(start.elapsed() < limit, "no convergence within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

async fn outage() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Campus CA");
    let cloud = start_cloud(&ca, dir.path());
    let hall = HallId::new("main");
    let at = days::tomorrow().start(480);
    node::publish_catalog(&mut cloud.store.lock().unwrap(), &sim::campus_catalog(&hall, 31), at).unwrap();
    let edge_store = open(&dir.path().join("edge.sqlite"), Durability::Full);
    seed_catalog(&cloud.store, &edge_store);
    let t = Instant::now();
    let plan = Days {
        hall: hall.clone(),
        first: days::tomorrow(),
        days: 7,
        tickets: 5_000,
        windows: 31,
        hours: 8.0,
        notify: None,
        pace: None,
    };
    days::run(&edge_store, &plan);
    let generated = t.elapsed();
    let (compacted, docs) = {
        let mut s = edge_store.lock().unwrap();
        let ids: Vec<DocId> = s.list_docs().unwrap().into_iter().filter(|d| *d != DocId::Catalog).collect();
        let total: usize = ids.iter().map(|id| s.doc(id).unwrap().unwrap().save().len()).sum();
        (total, ids.len())
    };
    let edge = start_edge(&ca, &ca.node("main", "main-pi-1"), "main", cloud.addr, edge_store.clone());
    let took = wait_converged(&edge_store, &cloud.store, Duration::from_secs(300)).await;
    let wire = edge.traffic.sent() + edge.traffic.received();
    println!(
        "outage: 7 days x 5,000 tickets offline ({docs} documents, generated in {:.1} s), then reconnected",
        generated.as_secs_f64()
    );
    println!("  time to converge           {:>10.3} s", took.as_secs_f64());
    println!(
        "  bytes on the wire (frames) {:>10} B  ({:.2}x the compacted size)",
        wire,
        wire as f64 / compacted as f64
    );
    println!("  compacted size of the docs {:>10} B", compacted);
}

async fn halls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Campus CA");
    let cloud = start_cloud(&ca, dir.path());
    let n = 50;
    let mut catalog = Catalog::default();
    for i in 0..n {
        let h = HallId::new(format!("hall-{i:02}"));
        let c = sim::campus_catalog(&h, 4);
        catalog.departments = c.departments;
        catalog.services = c.services;
        catalog.staff = c.staff;
        catalog.halls.extend(c.halls);
    }
    node::publish_catalog(&mut cloud.store.lock().unwrap(), &catalog, days::tomorrow().start(480)).unwrap();
    let mut stores = Vec::new();
    let t = Instant::now();
    for i in 0..n {
        let store = open(&dir.path().join(format!("edge-{i}.sqlite")), Durability::Normal);
        seed_catalog(&cloud.store, &store);
        let plan = Days {
            hall: HallId::new(format!("hall-{i:02}")),
            first: days::tomorrow(),
            days: 1,
            tickets: 300,
            windows: 4,
            hours: 3.0,
            notify: None,
            pace: None,
        };
        days::run(&store, &plan);
        stores.push(store);
    }
    let generated = t.elapsed();
    let start = Instant::now();
    let mut edges = Vec::new();
    for (i, store) in stores.iter().enumerate() {
        let hall = format!("hall-{i:02}");
        edges.push(start_edge(&ca, &ca.node(&hall, &format!("{hall}-pi")), &hall, cloud.addr, store.clone()));
    }
    for store in &stores {
        let left = Duration::from_secs(120).saturating_sub(start.elapsed());
        wait_converged(store, &cloud.store, left).await;
    }
    let took = start.elapsed();
    let wire: u64 = edges.iter().map(|e| e.traffic.sent() + e.traffic.received()).sum();
    println!(
        "halls: {n} halls with a 300-ticket morning each (generated in {:.1} s) reconnect at once",
        generated.as_secs_f64()
    );
    println!("  time until all converge    {:>10.3} s", took.as_secs_f64());
    println!("  bytes on the wire (frames) {:>10} B", wire);
}

async fn live() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Campus CA");
    let cloud = start_cloud(&ca, dir.path());
    let hall = HallId::new("main");
    node::publish_catalog(
        &mut cloud.store.lock().unwrap(),
        &sim::campus_catalog(&hall, 4),
        days::tomorrow().start(480),
    )
    .unwrap();
    let edge_store = open(&dir.path().join("edge.sqlite"), Durability::Full);
    seed_catalog(&cloud.store, &edge_store);
    let edge = start_edge(&ca, &ca.node("main", "main-pi-1"), "main", cloud.addr, edge_store.clone());
    wait_converged(&edge_store, &cloud.store, Duration::from_secs(30)).await;
    let clock = ManualClock::new(days::tomorrow().start(480).plus_minutes(9 * 60));
    let mut node =
        Node::open(edge_store.clone(), hall.clone(), Box::new(clock.clone()), VisitorKey::new([1; 32]))
            .unwrap();
    let tx = edge.changes.clone();
    node.on_change(move |id| {
        let _ = tx.send(id.clone());
    });
    let mut applied = cloud.sync.changes.subscribe();
    let mut samples = Vec::new();
    let services: Vec<ServiceId> = node.engine().config().services.keys().cloned().collect();
    for i in 0..400 {
        clock.advance_ms(1_000);
        let cmd = onestop_engine::Command::Issue {
            service: services[i % services.len()].clone(),
            source: Source::Anonymous,
            priority: Priority::Normal,
        };
        while applied.try_recv().is_ok() {}
        let t = Instant::now();
        node.execute(&cmd).unwrap();
        // The day document's change applied in the cloud's store.
        loop {
            match tokio::time::timeout(Duration::from_secs(5), applied.recv()).await {
                Ok(Ok(DocId::Day { .. })) => break,
                Ok(Ok(_)) => continue,
                other => panic!("no change reached the cloud: {other:?}"),
            }
        }
        samples.push(t.elapsed());
    }
    samples.sort();
    let p = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    println!("live: one ticket from the edge's command to the cloud's store ({} samples)", samples.len());
    println!("  p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms", p(0.5), p(0.99), p(1.0));
}

/// This process's resident memory now and at its peak, in MiB.
fn rss_mib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            / 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A busy day's served tickets, as the events they leave: issued 08:30–17:00, called after a
/// wait of up to 40 minutes at one of 31 windows, started, finished, and three in five rated.
fn busy_day(day: onestop_model::Day, tickets: usize) -> Vec<onestop_model::DayEvent> {
    use onestop_model::{CaseKind, DayEvent, Level, Rating, TicketNo};
    let opens = day.start(480).plus_minutes(8 * 60 + 30);
    let span_ms = 8.5 * 3_600_000.0;
    let mut events = Vec::with_capacity(tickets * 5);
    for i in 0..tickets {
        let at = opens.plus_ms((i as f64 * span_ms / tickets as f64) as i64);
        let letter = (b'A' + (i % 5) as u8) as char;
        let ticket = TicketNo::new(letter, (i / 5 + 1) as u32);
        let window = (i % 31 + 1) as u16;
        let called = at.plus_ms(((i * 7_919) % 2_400) as i64 * 1_000);
        events.push(DayEvent::Issued {
            at,
            ticket,
            service: ServiceId::new(["registry-1", "registry-2", "finance-1", "finance-2", "grad-1"][i % 5]),
            source: Source::Anonymous,
            priority: Priority::Normal,
            ahead: (i % 20) as u32,
            wait_estimate_min: (i % 30) as u32,
        });
        events.push(DayEvent::Called { at: called, ticket, window });
        events.push(DayEvent::Started { at: called.plus_ms(30_000), ticket, window });
        events.push(DayEvent::Finished {
            at: called.plus_ms(330_000),
            ticket,
            window,
            kind: CaseKind::Immediate,
        });
        if i % 5 < 3 {
            let rating =
                Rating { level: Level::VerySatisfied, attitude: None, efficiency: None, quality: None };
            events.push(DayEvent::Rated { at: called.plus_ms(345_000), ticket, window, rating });
        }
    }
    events.sort_by_key(|e| e.at());
    events
}

async fn year() {
    let env =
        |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (n_days, tickets) =
        (env("ONESTOP_YEAR_DAYS", 250) as u32, env("ONESTOP_YEAR_TICKETS", 5_000) as usize);
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Campus CA");
    let cloud = start_cloud(&ca, dir.path());
    cloud.store.lock().unwrap().set_cache_limit(Some(onestop_cloud::run::DOCUMENT_CACHE));
    let halls: Vec<HallId> = (0..4).map(|i| HallId::new(format!("hall-{i}"))).collect();
    let mut catalog = Catalog::default();
    for h in &halls {
        let c = sim::campus_catalog(h, 8);
        catalog.departments = c.departments;
        catalog.services = c.services;
        catalog.staff = c.staff;
        catalog.halls.extend(c.halls);
    }
    node::publish_catalog(&mut cloud.store.lock().unwrap(), &catalog, days::tomorrow().start(480)).unwrap();
    // The halls' years, written first (the halls' own stores keep a bounded cache too).
    let t = Instant::now();
    let mut stores = Vec::new();
    for h in &halls {
        let store = open(&dir.path().join(format!("{h}.sqlite")), Durability::Normal);
        store.lock().unwrap().set_cache_limit(Some(onestop_store::CacheLimit { docs: 8, bytes: 16 << 20 }));
        seed_catalog(&cloud.store, &store);
        let mut day = days::tomorrow();
        for _ in 0..n_days {
            let events = busy_day(day, tickets);
            let id = DocId::Day { hall: h.clone(), day };
            let mut s = store.lock().unwrap();
            let stamp = s.next_stamp(day.start(480).plus_minutes(17 * 60));
            s.write(stamp, |b| {
                b.edit(&id, |tx| Ok(onestop_protocol::day::append(tx, h, day, 480, &events)?))
            })
            .unwrap();
            s.compact(&id).unwrap();
            s.evict(&id);
            day = day.next();
        }
        stores.push(store);
    }
    println!(
        "year: 4 halls x {n_days} days x {tickets} tickets (generated in {:.0} s); the cloud keeps at most {} documents / {} MiB of chunks loaded",
        t.elapsed().as_secs_f64(),
        onestop_cloud::run::DOCUMENT_CACHE.docs,
        onestop_cloud::run::DOCUMENT_CACHE.bytes >> 20
    );
    let (rss, _) = rss_mib();
    println!("  before the halls connect: resident {rss} MiB");
    for (h, store) in halls.iter().zip(&stores) {
        let started = Instant::now();
        let edge =
            start_edge(&ca, &ca.node(h.as_str(), &format!("{h}-pi")), h.as_str(), cloud.addr, store.clone());
        wait_converged(store, &cloud.store, Duration::from_secs(3_600)).await;
        let _ = edge.kill();
        store.lock().unwrap().evict_all();
        let (rss, peak) = rss_mib();
        let (loaded, dropped) = cloud.store.lock().unwrap().cache_figures();
        println!(
            "  {h} converged in {:>6.1} s: resident {rss} MiB (peak {peak} MiB); cloud holds {loaded} documents loaded, dropped {dropped}",
            started.elapsed().as_secs_f64()
        );
    }
}

fn main() {
    let which: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wants = |name: &str| which.is_empty() || which.iter().any(|w| w == name);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        if wants("live") {
            live().await;
        }
        if wants("halls") {
            halls().await;
        }
        if wants("outage") {
            outage().await;
        }
        // Long: only when asked for by name.
        if which.iter().any(|w| w == "year") {
            year().await;
        }
    });
}
