//! The campus website under load, run by hand: the cloud's website served in this process on
//! loopback (its router and cache exactly as `onestop-cloud serve` builds them), over a hall
//! whose day is half done (3,000 tickets, 12 windows, people waiting), loaded by `wrk` from a
//! second process (`apt-get install wrk`).
//!
//! ```text
//! cargo bench -p onestop-tests --bench web                  # 10 s a page, 64 connections
//! cargo bench -p onestop-tests --bench web -- 30 256        # 30 s a page, 256 connections
//! ```
//!
//! Pages: the hall's status JSON (what the status page polls), the hall's status page (HTML),
//! a ticket's page and the service catalogue. Figures only: nothing here asserts a time.

use onestop_cloud::app::AppState;
use onestop_cloud::site::{Cache, HallLive, Heard, Site};
use onestop_edge::sim::{self, DayPlan};
use onestop_engine::{Engine, HallConfig};
use onestop_model::{DayEvent, HallId, Timestamp};
use std::process::Command;
use std::sync::Arc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let seconds: u32 = args.first().and_then(|s| s.parse().ok()).unwrap_or(10);
    let connections: u32 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(64);
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed: apt-get install wrk");
        std::process::exit(2);
    }

    // A day at the main hall: 3,000 tickets from 08:30, stopped at 13:00.
    let hall = HallId::new("main");
    let catalog = sim::campus_catalog(&hall, 12);
    let now_ms = onestop_model::clock::Clock::now(&onestop_model::clock::SystemClock).0;
    let day = Timestamp(now_ms).day(480);
    let opens = day.start(480).plus_minutes(8 * 60 + 30);
    let until = day.start(480).plus_minutes(13 * 60);
    let mut engine = Engine::new(HallConfig::from_catalog(&catalog, &hall).unwrap(), day);
    let mut events: Vec<DayEvent> = Vec::new();
    let plan = DayPlan { tickets: 3_000, windows: 12, seed: 7, opens, hours: 8.0, until: Some(until) };
    let stats = sim::run_day(&plan, &catalog, &hall, |cmd, at| {
        let evs = engine.decide(cmd, at)?;
        for e in &evs {
            engine.apply(e).unwrap();
        }
        events.extend(evs.iter().cloned());
        Ok(evs)
    });
    let heard = Heard { online: true, last_event_ms: Some(until.0), last_seen_ms: Some(until.0) };
    let live = HallLive::build(&catalog, &hall, day, &events, until, heard, 1).unwrap();
    let ticket = live.tickets.keys().next().cloned().unwrap();
    println!("hall main: {stats}");
    let site = Site { catalog: Arc::new(catalog), halls: [(hall, Arc::new(live))].into_iter().collect() };
    let core = onestop_cloud::core::Core::in_memory(Arc::new(onestop_protocol::clock::SystemClock));
    let state = AppState::new(Cache::with(site), Arc::new(core), onestop_cloud::stats::StatsDb::memory());

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let addr = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            onestop_cloud::app::serve(listener, state, std::future::pending()).await.unwrap();
        });
        addr
    });
    let pages = [
        ("status JSON", "/api/halls/main/status".to_string()),
        ("status page", "/halls/main".to_string()),
        ("ticket page", format!("/ticket/main/{day}/{ticket}")),
        ("catalogue", "/services".to_string()),
    ];
    println!(
        "wrk: 2 threads, {connections} connections, {seconds} s a page, on loopback (2 cores shared with the server)"
    );
    println!("{:<14} {:>12} {:>10} {:>10} {:>10}", "page", "requests/s", "p50", "p99", "max");
    for (name, path) in pages {
        let out = Command::new("wrk")
            .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency"])
            .arg(format!("http://{addr}{path}"))
            .output()
            .expect("wrk runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |prefix: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(prefix))
                .and_then(|l| l.split_whitespace().nth(1).map(String::from))
                .unwrap_or_else(|| "?".into())
        };
        let max = text
            .lines()
            .find(|l| l.trim_start().starts_with("Latency"))
            .and_then(|l| l.split_whitespace().nth(3).map(String::from))
            .unwrap_or_else(|| "?".into());
        let errors = text.lines().find(|l| l.contains("Non-2xx") || l.contains("Socket errors"));
        println!(
            "{name:<14} {:>12} {:>10} {:>10} {:>10}",
            field("Requests/sec:"),
            field("50%"),
            field("99%"),
            max
        );
        if let Some(e) = errors {
            println!("  {}", e.trim());
        }
    }
    let _ = addr;
}
