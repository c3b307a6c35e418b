//! A power cut, over and over: a hall node (`onestop-edge run`, a standalone hall made by
//! `onestop-edge init --demo-catalog`) under ticket load from a few client threads through
//! `POST /api/tickets`, killed with SIGKILL at a random moment (50–500 ms after it serves
//! again) and started again from its files, cycle after cycle. Every ticket a client got an
//! answer for (HTTP 200 with the ticket) is noted; at the end the day documents in the node's
//! store are read back and checked: every acknowledged ticket is there, no number twice, the
//! numbers of each prefix gapless from 001.
//!
//! The by-hand benchmark (`benches/kill_loop.rs`, 1,000 cycles and more) and the short
//! version in `tests/power_cut.rs` (CI) both run [`run`].

use crate::{bin, ok};
use onestop_model::{Day, DayEvent, HallId, TicketNo};
use onestop_protocol::DocId;
use onestop_store::{Durability, ReadDocs, Store};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the loop is run.
#[derive(Debug, Clone)]
pub struct Options {
    /// SIGKILLs, each followed by a restart.
    pub cycles: usize,
    /// Client threads issuing tickets.
    pub clients: usize,
    /// Pause between one client's tickets (a hall's kiosks, not a flood: the day must stay a
    /// day's size over a thousand cycles).
    pub pace: Duration,
    /// The node is killed this long after it serves again: uniformly in this range, in ms.
    pub kill_after_ms: (u64, u64),
    /// The random generator's seed (printed, so a run can be repeated).
    pub seed: u64,
    /// Print a line every this many cycles (0: never).
    pub progress_every: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            cycles: 1_000,
            clients: 3,
            pace: Duration::from_millis(30),
            kill_after_ms: (50, 500),
            seed: 0x5eed,
            progress_every: 0,
        }
    }
}

/// What a loop found.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub cycles: usize,
    /// Tickets answered with HTTP 200.
    pub acknowledged: usize,
    /// Requests that got no answer or another status (the node was dying or starting).
    pub unanswered: usize,
    /// Issued events in the day documents.
    pub in_documents: usize,
    /// Acknowledged tickets missing from the documents, as "day ticket".
    pub missing: Vec<String>,
    /// Numbers issued twice in one day's document, or acknowledged twice.
    pub duplicates: Vec<String>,
    /// Numbers missing from a prefix's 001..=last, as "day ticket".
    pub gaps: Vec<String>,
    /// The day documents read (a run may cross midnight).
    pub days: usize,
    /// The highest number of each prefix per day, as "day prefix last".
    pub last_numbers: Vec<String>,
    /// SQLite's integrity check of the store at the end.
    pub integrity: String,
    pub elapsed: Duration,
    /// Time from spawning the node to its first `/healthz` answer: mean and max.
    pub restart_mean: Duration,
    pub restart_max: Duration,
}

impl Figures {
    /// Nothing lost, nothing twice, no gap, a sound store.
    pub fn sound(&self) -> bool {
        self.missing.is_empty()
            && self.duplicates.is_empty()
            && self.gaps.is_empty()
            && self.integrity == "ok"
    }
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "cycles (SIGKILL + restart)           {}", self.cycles)?;
        writeln!(f, "tickets acknowledged (HTTP 200)      {}", self.acknowledged)?;
        writeln!(f, "requests unanswered or refused       {}", self.unanswered)?;
        writeln!(f, "tickets in the day document(s)       {} ({} day(s))", self.in_documents, self.days)?;
        writeln!(f, "acknowledged but missing             {}", self.missing.len())?;
        writeln!(f, "numbers twice                        {}", self.duplicates.len())?;
        writeln!(f, "gaps                                 {}", self.gaps.len())?;
        writeln!(f, "last numbers                         {}", self.last_numbers.join(", "))?;
        writeln!(f, "store integrity_check                {}", self.integrity)?;
        writeln!(
            f,
            "restart to serving, mean / max       {:.0} ms / {:.0} ms",
            self.restart_mean.as_secs_f64() * 1e3,
            self.restart_max.as_secs_f64() * 1e3
        )?;
        write!(f, "time                                 {:.1} s", self.elapsed.as_secs_f64())?;
        for (what, list) in [("missing", &self.missing), ("twice", &self.duplicates), ("gap", &self.gaps)] {
            for x in list.iter().take(20) {
                write!(f, "\n  {what}: {x}")?;
            }
        }
        Ok(())
    }
}

pub use crate::fuzz::Rng;

/// A standalone hall node in a directory, started and killed again and again.
pub struct Node {
    pub data: PathBuf,
    pub config: PathBuf,
    pub log: PathBuf,
    pub addr: SocketAddr,
    pub child: Option<Child>,
}

impl Node {
    /// Makes hall `main` (the demo catalogue, 8 windows) in `dir/hall`, with a printer twin.
    pub fn make(dir: &Path) -> Node {
        let data = dir.join("hall");
        ok(
            "onestop-edge",
            &["init", "--data", data.to_str().unwrap(), "--hall", "main", "--demo-catalog", "8"],
        );
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let config = dir.join("edge.toml");
        std::fs::write(
            &config,
            format!(
                "data = \"hall\"\nlisten = \"127.0.0.1:{port}\"\nwebsite = \"https://onestop.example.edu\"\n\
                 [printer]\nkind = \"twin\"\ndir = \"receipts\"\n"
            ),
        )
        .unwrap();
        Node {
            data,
            config,
            log: dir.join("edge.log"),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child: None,
        }
    }

    /// Starts the node and waits until it answers `/healthz`; returns how long that took.
    pub fn start(&mut self) -> Duration {
        let started = Instant::now();
        let mut attempts = 0;
        loop {
            let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
            let mut child = Command::new(bin("onestop-edge"))
                .args(["run", "--config", self.config.to_str().unwrap()])
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("onestop-edge runs");
            loop {
                if let Ok((200, _)) = crate::hall::get(self.addr, "/healthz") {
                    self.child = Some(child);
                    return started.elapsed();
                }
                if let Some(status) = child.try_wait().unwrap() {
                    // The port may still be held by the killed process's sockets a moment.
                    attempts += 1;
                    assert!(
                        attempts < 20,
                        "the node exits at start ({status}); its log:\n{}",
                        tail(&self.log)
                    );
                    std::thread::sleep(Duration::from_millis(100));
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "the node did not start; its log:\n{}",
                    tail(&self.log)
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    /// SIGKILL: no destructor, no flush, no goodbye.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// The services the hall offers (its view's `services`).
fn services(addr: SocketAddr) -> Vec<String> {
    let (status, body) = crate::hall::get(addr, "/api/view").expect("the view");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

/// Runs the loop in `dir` (made fresh: a new hall) as `options` say, then reads the store.
pub fn run(dir: &Path, options: &Options) -> Figures {
    let mut node = Node::make(dir);
    let mut rng = Rng::new(options.seed);
    let started = Instant::now();
    let mut restarts = vec![node.start()];
    let services = Arc::new(services(node.addr));

    // (day, ticket) of every 200, in the order the answers came.
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let unanswered = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..options.clients)
        .map(|c| {
            let (acked, unanswered, stop, services) =
                (acked.clone(), unanswered.clone(), stop.clone(), services.clone());
            let (addr, pace) = (node.addr, options.pace);
            let mut rng = Rng::new(options.seed.wrapping_add(1 + c as u64));
            std::thread::spawn(move || {
                while !stop.load(Relaxed) {
                    let service = &services[rng.next_u64() as usize % services.len()];
                    let answer = crate::hall::request(
                        addr,
                        "POST",
                        "/api/tickets",
                        &format!("{{\"service\":\"{service}\"}}"),
                        "application/json",
                    );
                    match answer {
                        Ok((200, body)) => {
                            let v: serde_json::Value =
                                serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
                            let ticket = v["ticket"].as_str().expect("a ticket").to_string();
                            let day = v["issued_at"]
                                .as_str()
                                .and_then(|s| s.split(' ').next())
                                .expect("the ticket's day")
                                .to_string();
                            acked.lock().unwrap().push((day, ticket));
                            std::thread::sleep(pace);
                        }
                        Ok(_) | Err(_) => {
                            unanswered.fetch_add(1, Relaxed);
                            // Dying or starting: try again soon, without spinning.
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                }
            })
        })
        .collect();

    for cycle in 1..=options.cycles {
        let (lo, hi) = options.kill_after_ms;
        std::thread::sleep(Duration::from_millis(rng.between(lo, hi)));
        node.kill();
        restarts.push(node.start());
        if options.progress_every > 0 && cycle % options.progress_every == 0 {
            eprintln!(
                "cycle {cycle}: {} tickets acknowledged, {:.0} s",
                acked.lock().unwrap().len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    // A last moment of load on the last start, then the last cut.
    std::thread::sleep(Duration::from_millis(rng.between(options.kill_after_ms.0, options.kill_after_ms.1)));
    node.kill();
    stop.store(true, Relaxed);
    for c in clients {
        c.join().expect("a client thread");
    }
    let elapsed = started.elapsed();

    let acked = std::mem::take(&mut *acked.lock().unwrap());
    let mut figures = check(&onestop_edge::nodedir::store_path(&node.data), &acked);
    figures.cycles = options.cycles;
    figures.unanswered = unanswered.load(Relaxed);
    figures.elapsed = elapsed;
    figures.restart_mean = restarts.iter().sum::<Duration>() / restarts.len() as u32;
    figures.restart_max = restarts.iter().max().copied().unwrap_or_default();
    figures
}

/// Reads hall `main`'s day documents in the store at `path` and checks `acked` against them.
pub fn check(path: &Path, acked: &[(String, String)]) -> Figures {
    let mut figures = Figures { acknowledged: acked.len(), ..Figures::default() };
    let conn = rusqlite::Connection::open(path).unwrap();
    figures.integrity = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    drop(conn);

    let hall = HallId::new("main");
    let mut store = Store::open(path, Durability::Full).expect("the node's store opens");
    let days: Vec<Day> = store
        .list_docs()
        .unwrap()
        .into_iter()
        .filter_map(|id| match id {
            DocId::Day { hall: h, day } if h == hall => Some(day),
            _ => None,
        })
        .collect();
    figures.days = days.len();
    // day → prefix → numbers, in document order.
    let mut issued: BTreeMap<String, BTreeMap<char, Vec<u32>>> = BTreeMap::new();
    for day in days {
        for e in store.day_events(&hall, day).expect("the day reads") {
            if let DayEvent::Issued { ticket, .. } = e {
                figures.in_documents += 1;
                issued
                    .entry(day.to_string())
                    .or_default()
                    .entry(ticket.prefix)
                    .or_default()
                    .push(ticket.number);
            }
        }
    }
    let mut present: HashSet<(String, String)> = HashSet::new();
    for (day, prefixes) in &issued {
        for (prefix, numbers) in prefixes {
            let mut seen = HashSet::new();
            for n in numbers {
                let t = TicketNo::new(*prefix, *n).to_string();
                if !seen.insert(*n) {
                    figures.duplicates.push(format!("{day} {t} in the document"));
                }
                present.insert((day.clone(), t));
            }
            let last = numbers.iter().copied().max().unwrap_or(0);
            figures.last_numbers.push(format!("{day} {prefix}{last:03}"));
            for n in 1..=last {
                if !seen.contains(&n) {
                    figures.gaps.push(format!("{day} {}", TicketNo::new(*prefix, n)));
                }
            }
        }
    }
    let mut answered: HashMap<&(String, String), usize> = HashMap::new();
    for a in acked {
        *answered.entry(a).or_default() += 1;
        if !present.contains(a) {
            figures.missing.push(format!("{} {}", a.0, a.1));
        }
    }
    for (a, n) in answered {
        if n > 1 {
            figures.duplicates.push(format!("{} {} acknowledged {n} times", a.0, a.1));
        }
    }
    figures
}
