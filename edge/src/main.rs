//! `onestop-edge`: the hall node's command line.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use onestop_edge::clock::{Clock, ManualClock, SystemClock};
use onestop_edge::hall::config::RunConfig;
use onestop_edge::node::{self, Node};
use onestop_edge::nodedir::{NodeFile, SyncFile, open_node, read_node_file, read_node_toml, store_path};
use onestop_edge::{script, sim};
use onestop_engine::{Effect, Engine, Status};
use onestop_model::{Day, DayEvent, HallId, Timestamp};
use onestop_protocol::DocId;
use onestop_protocol::secrets::VisitorKey;
use onestop_protocol::seed;
use onestop_store::{Durability, ReadDocs, Store};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Onestop hall node: ticketing, calling and acceptance for one service hall, working offline.
///
/// A node keeps its data in a directory: `onestop.sqlite` (the documents) and `node.toml`
/// (which hall it serves and the campus visitor key). `init` makes one.
#[derive(Parser)]
#[command(name = "onestop-edge", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a node's data directory for a hall, with its catalogue.
    Init {
        /// The node's data directory (created if missing).
        #[arg(long)]
        data: PathBuf,
        /// The hall this node serves (an id from the catalogue).
        #[arg(long)]
        hall: String,
        /// The catalogue TOML file (see deploy/demo/catalog.toml).
        #[arg(long, conflicts_with = "demo_catalog")]
        catalog: Option<PathBuf>,
        /// Use a generated campus catalogue with this many windows instead of a file.
        #[arg(long)]
        demo_catalog: Option<u16>,
        /// The campus visitor key (64 hex digits), the same in every hall. Made if absent.
        #[arg(long)]
        visitor_key: Option<String>,
        /// The cloud's sync address (UDP), e.g. 10.0.0.5:4433; with the four options below.
        /// Without a catalogue here, the node takes the cloud's on first contact.
        #[arg(long, requires_all = ["server_name", "ca", "cert", "key"])]
        cloud: Option<std::net::SocketAddr>,
        /// The name in the cloud's certificate.
        #[arg(long, requires = "cloud")]
        server_name: Option<String>,
        /// The campus CA certificate (PEM).
        #[arg(long, requires = "cloud")]
        ca: Option<PathBuf>,
        /// This node's certificate (PEM).
        #[arg(long, requires = "cloud")]
        cert: Option<PathBuf>,
        /// This node's private key (PEM).
        #[arg(long, requires = "cloud")]
        key: Option<PathBuf>,
    },
    /// Keep this node in sync with the cloud until stopped (Ctrl-C or SIGTERM); needs the
    /// cloud's address and certificates given to `init`.
    Sync {
        /// The node's data directory.
        #[arg(long)]
        data: PathBuf,
    },
    /// Run one hall command, e.g. `issue cert card=20230001`, `call 3`, `finish 3 pending`.
    ///
    /// Commands:
    ///   issue SERVICE [card=NUMBER | booking=CODE] [priority=normal|care|green]
    ///   check-in WINDOW STAFF · check-out WINDOW · pause WINDOW REASON… · resume WINDOW
    ///   call WINDOW [TICKET] · recall WINDOW · no-show WINDOW · reactivate TICKET
    ///   transfer WINDOW window=N|service=ID [front|back|original]
    ///   start WINDOW · finish WINDOW [immediate|pending] · rate WINDOW 1-5
    #[command(verbatim_doc_comment)]
    Do {
        /// The node's data directory.
        #[arg(long)]
        data: PathBuf,
        /// The command, as words.
        #[arg(required = true, trailing_var_arg = true)]
        line: Vec<String>,
    },
    /// Show a day of the hall: windows, the waiting queue, the day's figures.
    Status {
        /// The node's data directory.
        #[arg(long)]
        data: PathBuf,
        /// The day to show (YYYY-MM-DD); today by default.
        #[arg(long)]
        date: Option<Day>,
    },
    /// Run a simulated busy period through the node's real engine and store, in simulated
    /// time starting from the node's clock: afterwards the node's clock is ahead of the wall
    /// clock by the simulated hours. For demo and test nodes, never a hall in service.
    Simulate {
        /// The node's data directory.
        #[arg(long)]
        data: PathBuf,
        /// Visitors arriving.
        #[arg(long, default_value_t = 1000)]
        tickets: usize,
        /// Over this many hours.
        #[arg(long, default_value_t = 3.0)]
        hours: f64,
        /// The seed of the simulated day (the same seed gives the same day).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print each ticket number as soon as it is durable (used by tests).
        #[arg(long)]
        echo: bool,
    },
    /// Enrol this node with the cloud: make the device key here, send a certificate request
    /// with the one-time join token, and install the certificate for the hall the token names
    /// (waiting while the node is pending IT's approval). Then `run` starts the hall.
    Enroll {
        /// The node's data directory (created if missing).
        #[arg(long)]
        data: PathBuf,
        /// The cloud's address (UDP), e.g. 10.0.0.5:4433.
        #[arg(long)]
        cloud: std::net::SocketAddr,
        /// The name in the cloud's certificate.
        #[arg(long)]
        server_name: String,
        /// The campus CA certificate (PEM), pinned.
        #[arg(long)]
        ca: PathBuf,
        /// A file holding the join token (removed once the token is used).
        #[arg(long, conflicts_with = "token")]
        token_file: Option<PathBuf>,
        /// The join token itself.
        #[arg(long)]
        token: Option<String>,
        /// Facts that identify the hardware (default: the board's serial number).
        #[arg(long)]
        hardware: Option<String>,
        /// Seconds between asking again while pending approval.
        #[arg(long, default_value_t = 10)]
        poll: u64,
    },
    /// Renew this node's certificate now (`run` renews by itself at about two thirds of its
    /// lifetime); works after the certificate expired, proven by the device's key.
    Renew {
        /// The node's data directory.
        #[arg(long)]
        data: PathBuf,
    },
    /// Run the hall: the queue, the devices, the pages on the LAN and the link to the cloud,
    /// until Ctrl-C or SIGTERM. See deploy/edge/edge.toml for the configuration.
    Run {
        /// The node's configuration (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Check the node's store (SQLite's quick check, then the catalogue and every day of the
    /// hall read back). With --set-aside, a damaged store is renamed so the next start makes a
    /// new one and restores today from the cloud.
    StoreCheck {
        /// The node's data directory.
        #[arg(long)]
        data: PathBuf,
        /// Move a damaged store aside (never a sound one).
        #[arg(long)]
        set_aside: bool,
    },
    /// Show the node's time: the wall clock, the last time written and whether the clock is
    /// believed. With --reset, campus IT corrects a node whose stamps a wrong clock carried
    /// ahead (stop the node first; confirm the right time with another source).
    Clock {
        /// The node's data directory.
        #[arg(long)]
        data: PathBuf,
        /// Set the last time written back to the wall clock's time now.
        #[arg(long)]
        reset: bool,
    },
    /// Check a configuration file, and that its devices are connected now.
    CheckConfig {
        /// The node's configuration (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Check this build on this machine (device key, store, queue, printer encoding) in a
    /// temporary directory; prints one OK line a check, exits non-zero at the first failure.
    SelfTest,
    /// Make a demo hall in a directory, simulate a busy morning ending now, then restart the
    /// node from its documents and show the hall.
    Demo {
        /// Where to keep the demo hall (default: ./onestop-demo).
        #[arg(long, default_value = "onestop-demo")]
        data: PathBuf,
        /// Visitors arriving during the morning.
        #[arg(long, default_value_t = 1500)]
        tickets: usize,
        /// Where to serve the hall's pages.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
    },
}

/// What `init` is asked to do.
struct InitArgs<'a> {
    hall: &'a str,
    catalog: Option<&'a Path>,
    demo: Option<u16>,
    key: Option<&'a str>,
    sync: Option<SyncFile>,
}

fn init(data: &Path, args: InitArgs<'_>, wall: Timestamp) -> Result<()> {
    let InitArgs { hall, catalog, demo, key, sync } = args;
    let hall = HallId::parse(hall)?;
    let catalog = match (catalog, demo) {
        (Some(path), None) => Some(seed::load(path)?),
        (None, Some(windows)) => Some(sim::campus_catalog(&hall, windows)),
        (None, None) if sync.is_some() => None,
        _ => bail!(
            "give the catalogue with --catalog FILE or --demo-catalog WINDOWS, or the cloud to take it from"
        ),
    };
    if let Some(catalog) = &catalog
        && !catalog.halls.contains_key(&hall)
    {
        bail!(
            "the catalogue has no hall '{hall}' (it has: {})",
            catalog.halls.keys().map(|h| h.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    if let Some(s) = &sync {
        for (what, path) in [("CA certificate", &s.ca), ("certificate", &s.cert), ("key", &s.key)] {
            if !path.exists() {
                bail!("the {what} file {} does not exist", path.display());
            }
        }
    }
    std::fs::create_dir_all(data).with_context(|| format!("cannot create {}", data.display()))?;
    let node_file = data.join("node.toml");
    let existing = if node_file.exists() { Some(read_node_toml(data)?) } else { None };
    if let Some(f) = &existing
        && f.hall != hall
    {
        bail!(
            "{} already serves hall '{}': a node serves one hall, use another --data",
            data.display(),
            f.hall
        );
    }
    let sync = sync.or_else(|| existing.as_ref().and_then(|f| f.sync.clone()));
    let key_hex = match (key, existing) {
        (Some(k), Some(f)) if k.trim() != f.visitor_key => bail!(
            "{} already has a visitor key: changing it would make every visitor a stranger to the statistics",
            node_file.display()
        ),
        (Some(k), _) => {
            VisitorKey::from_hex(k).context("--visitor-key must be 64 hexadecimal digits")?;
            k.trim().to_string()
        }
        (None, Some(f)) => f.visitor_key,
        (None, None) => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        }
    };
    let file = NodeFile { hall: hall.clone(), visitor_key: key_hex, sync };
    std::fs::write(&node_file, toml::to_string(&file)?)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&node_file, std::fs::Permissions::from_mode(0o600))?;
    }
    let mut store = Store::open(&store_path(data), Durability::Full)?;
    match catalog {
        Some(catalog) => {
            node::publish_catalog(&mut store, &catalog, wall)?;
            println!(
                "节点已就绪 / node ready: hall {hall}, {} windows, {} services, data in {}",
                catalog.halls[&hall].windows.len(),
                catalog.services.len(),
                data.display()
            );
        }
        None => println!(
            "节点已就绪 / node ready: hall {hall}, data in {}; the catalogue comes from the cloud (run `onestop-edge sync`)",
            data.display()
        ),
    }
    Ok(())
}

fn run_line(data: &Path, line: &str) -> Result<()> {
    let request = script::parse(line)?;
    let mut node = open_node(data, std::sync::Arc::new(SystemClock))?;
    let cmd = node.resolve(request)?;
    let outcome = node.execute(&cmd)?;
    if let Some(alarm) = node.clock_alarm() {
        eprintln!("⚠ {alarm}");
    }
    let offset = node.engine().config().utc_offset_minutes;
    for ev in &outcome.events {
        println!("{} {}", ev.at().local_hm(offset), describe(ev));
    }
    for effect in &outcome.effects {
        match effect {
            Effect::PrintTicket { ticket, service, ahead, wait_estimate_min, .. } => println!(
                "→ 打印 / print: {ticket} · {service} · 前面 {ahead} 人 / {ahead} ahead · 约 {} 分钟 / about {} min",
                wait_estimate_min, wait_estimate_min
            ),
            Effect::Announce { ticket, window, repeat } => println!(
                "→ 播报 / announce{}: 请 {ticket} 号到 {window} 号窗口办理 / number {ticket} to window {window}",
                if *repeat { " (重呼 / recall)" } else { "" }
            ),
            Effect::AskRating { ticket, window } => {
                println!("→ 请评价 / rating invited at window {window} for {ticket}")
            }
        }
    }
    if let Some(case) = &outcome.case {
        println!(
            "→ 案件 / case {} ({}), 查询码 / code {}",
            case.number,
            if case.kind == onestop_model::CaseKind::Pending {
                "承诺件 / pending"
            } else {
                "即办件 / immediate"
            },
            case.code
        );
    }
    Ok(())
}

fn describe(ev: &DayEvent) -> String {
    match ev {
        DayEvent::Issued { ticket, service, .. } => format!("取号 / issued {ticket} for {service}"),
        DayEvent::CheckedIn { window, staff, .. } => {
            format!("{window} 号窗口签到 / window {window} checked in by {staff}")
        }
        DayEvent::CheckedOut { window, .. } => format!("{window} 号窗口签退 / window {window} checked out"),
        DayEvent::Paused { window, reason, .. } => {
            format!("{window} 号窗口暂停 / window {window} paused: {reason}")
        }
        DayEvent::Resumed { window, .. } => format!("{window} 号窗口恢复 / window {window} resumed"),
        DayEvent::Called { ticket, window, .. } => format!("叫号 / called {ticket} to window {window}"),
        DayEvent::Recalled { ticket, window, .. } => format!("重呼 / recalled {ticket} to window {window}"),
        DayEvent::NoShow { ticket, .. } => format!("过号 / {ticket} did not come"),
        DayEvent::Reactivated { ticket, .. } => format!("恢复 / {ticket} is waiting again"),
        DayEvent::Transferred { ticket, to, .. } => format!("转移 / {ticket} transferred to {to:?}"),
        DayEvent::Started { ticket, window, .. } => format!("开始办理 / {ticket} started at window {window}"),
        DayEvent::Finished { ticket, kind, .. } => format!("办结 / {ticket} finished ({})", kind.as_str()),
        DayEvent::Rated { ticket, rating, .. } => {
            format!("评价 / {ticket} rated {} {}", rating.level.zh(), rating.level.en())
        }
    }
}

fn clock_command(data: &Path, reset: bool) -> Result<()> {
    let mut store = Store::open(&store_path(data), Durability::Full)?;
    let wall = SystemClock.now();
    let last = store.last_stamp().time();
    let fmt = |t: Timestamp| format!("{} {} UTC", t.day(0), t.local_hm(0));
    println!("系统时钟 / wall clock:          {}", fmt(wall));
    println!("最后写入时间 / last time written: {}", fmt(last));
    let clock = node::bounded_clock(
        std::sync::Arc::new(SystemClock),
        &store,
        onestop_edge::clock::TimeBounds::default(),
    );
    match onestop_edge::Clock::alarm(&*clock) {
        Some(alarm) => println!("⚠ {}", alarm.message()),
        None => println!("时钟可信 / the clock is believed"),
    }
    if reset {
        if wall < onestop_edge::clock::EARLIEST_PLAUSIBLE {
            bail!("the wall clock is not set ({}): set it before --reset", fmt(wall));
        }
        let before = store.reset_stamp(wall)?;
        println!(
            "已重置 / reset: the last time written goes from {} back to {}; new facts are stamped from now",
            fmt(before.time()),
            fmt(wall)
        );
    } else if last > wall.plus_ms(5 * 60_000) {
        println!(
            "若已确认系统时钟正确，停止节点后运行 / if the wall clock is confirmed right, stop the node and run: onestop-edge clock --data {} --reset",
            data.display()
        );
    }
    Ok(())
}

fn status(data: &Path, date: Option<Day>) -> Result<()> {
    let (hall, key) = read_node_file(data)?;
    let store = Store::open(&store_path(data), Durability::Full)?;
    let started = std::time::Instant::now();
    let clock = node::bounded_clock(
        std::sync::Arc::new(SystemClock),
        &store,
        onestop_edge::clock::TimeBounds::default(),
    );
    let mut node = Node::open(node::share(store), hall.clone(), Box::new(clock), key)?;
    let engine = match date {
        Some(d) if d != node.engine().day() => {
            let config = node.engine().config().clone();
            let id = DocId::Day { hall: hall.clone(), day: d };
            let mut store = node.store();
            if store.doc(&id)?.is_none() {
                bail!("no record of {d} in this node (no document {id})");
            }
            Engine::replay(config, d, &store.day_events(&hall, d)?)?
        }
        _ => node.engine().clone(),
    };
    print_status(&hall, &engine, started.elapsed());
    Ok(())
}

fn print_status(hall: &HallId, e: &Engine, load: std::time::Duration) {
    let offset = e.config().utc_offset_minutes;
    println!(
        "服务大厅 / hall {hall} · {} · rebuilt from its document in {:.1} ms",
        e.day(),
        load.as_secs_f64() * 1e3
    );
    println!("窗口 / windows:");
    for (w, s) in e.windows() {
        let state = match (&s.staff, &s.paused, s.current.map(|i| &e.tickets()[i])) {
            (None, _, _) => "未签到 / closed".to_string(),
            (Some(_), Some(reason), _) => format!("暂停 / paused: {reason}"),
            (Some(_), None, Some(t)) => match t.status {
                Status::Serving { .. } => format!("办理中 / serving {}", t.no),
                _ => format!("已叫号 / called {}", t.no),
            },
            (Some(_), None, None) => "空闲 / free".to_string(),
        };
        let staff = s.staff.as_ref().map_or("-".to_string(), |s| s.to_string());
        println!("  {w:>3}  {staff:<6} {state}");
    }
    let mut waiting: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in e.waiting() {
        waiting.entry(t.service.to_string()).or_default().push(t.no.to_string());
    }
    println!("等候 / waiting: {}", waiting.values().map(Vec::len).sum::<usize>());
    for (service, tickets) in &waiting {
        let shown: Vec<&str> = tickets.iter().take(8).map(String::as_str).collect();
        let more = if tickets.len() > 8 { format!(" … +{}", tickets.len() - 8) } else { String::new() };
        println!("  {service:<12} {:>3}  {}{more}", tickets.len(), shown.join(" "));
    }
    let done = e.tickets().iter().filter(|t| t.status == Status::Done).count();
    let no_show = e.tickets().iter().filter(|t| t.status == Status::NoShow).count();
    let rated: Vec<_> = e.tickets().iter().filter_map(|t| t.rating).collect();
    let satisfied = rated.iter().filter(|r| r.level.is_satisfied()).count();
    println!(
        "今日 / today: {} 取号 issued, {done} 办结 finished, {no_show} 过号 no-shows, {} 评价 rated, 满意率 satisfaction {}",
        e.tickets().len(),
        rated.len(),
        if rated.is_empty() {
            "-".into()
        } else {
            format!("{:.2}%", 100.0 * satisfied as f64 / rated.len() as f64)
        }
    );
    if let Some(last) = e.tickets().last() {
        println!("最后取号 / last ticket: {} at {}", last.no, last.issued_at.local_hm(offset));
    }
}

/// Simulates `hours` of a busy hall from `opens`: arrivals keep coming until the end, so the
/// hall is mid-stream when it stops.
fn simulate(
    data: &Path,
    tickets: usize,
    hours: f64,
    seed: u64,
    opens: Option<Timestamp>,
    echo: bool,
) -> Result<()> {
    let clock = ManualClock::new(SystemClock.now());
    let mut node = onestop_edge::nodedir::open_node_with(data, Box::new(clock.clone()), Durability::Full)?;
    let opens = opens.unwrap_or_else(|| node.store().last_stamp().time().max(SystemClock.now()));
    clock.set(opens);
    let hall = node.hall().clone();
    let catalog = node::load_catalog(&mut node.store())?;
    let windows = catalog.halls[&hall].windows.len() as u16;
    let until = opens.plus_ms((hours * 3_600_000.0) as i64);
    let plan = sim::DayPlan { tickets, windows, seed, opens, hours: hours * 1.2, until: Some(until) };
    let started = std::time::Instant::now();
    let stats = sim::run_day(&plan, &catalog, &hall, |cmd, at| {
        let outcome = sim::on_node(&mut node, &clock, cmd, at)?;
        if echo {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            for ev in &outcome.events {
                if let DayEvent::Issued { ticket, .. } = ev {
                    let _ = writeln!(out, "issued {ticket}");
                }
            }
            let _ = out.flush();
        }
        Ok(outcome.events)
    });
    println!("模拟 / simulated in {:.2} s: {stats}", started.elapsed().as_secs_f64());
    Ok(())
}

/// Runs the link to the cloud for this node's store until Ctrl-C or SIGTERM.
fn sync_link(data: &Path) -> Result<()> {
    use onestop_link::{EdgeLink, FloorTime, LinkStatus, Traffic, tls};
    let f = read_node_toml(data)?;
    let Some(sync) = f.sync.clone() else {
        bail!(
            "{} has no [sync] section: give `onestop-edge init` the cloud's address and certificates",
            data.join("node.toml").display()
        );
    };
    let files = tls::read_pem_files(&sync.ca, &sync.cert, &sync.key)?;
    let store = Store::open(&store_path(data), Durability::Full)?;
    let clock: std::sync::Arc<dyn onestop_edge::Clock> = node::bounded_clock(
        std::sync::Arc::new(SystemClock),
        &store,
        onestop_edge::clock::TimeBounds::default(),
    );
    let store = node::share(store);
    let time = FloorTime::new(clock.clone());
    let client = tls::client_config(&files.ca, files.chain, files.key, time.clone())?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let endpoint = quinn::Endpoint::client("0.0.0.0:0".parse()?)?;
        let (changes, _) = tokio::sync::broadcast::channel(4096);
        let (status_tx, status) = tokio::sync::watch::channel(LinkStatus::default());
        let link = EdgeLink {
            endpoint: endpoint.clone(),
            client,
            cloud: sync.cloud,
            server_name: sync.server_name.clone(),
            hall: f.hall.clone(),
            store,
            changes,
            status: status_tx,
            time,
            traffic: Traffic::default(),
            backoff_min: std::time::Duration::from_millis(500),
            backoff_max: std::time::Duration::from_secs(30),
            clock,
        };
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(link.run(stopped));
        let watch = tokio::spawn(onestop_edge::hall::run::follow_link(status, |_| {}));
        onestop_link::shutdown_signal().await;
        let _ = stop.send(true);
        let _ = running.await;
        watch.abort();
        endpoint.close(quinn::VarInt::from_u32(0), b"node stopping");
        endpoint.wait_idle().await;
        anyhow::Ok(())
    })
}

/// Marks a directory made by `demo`, which a later `demo` may clear.
const DEMO_MARK: &str = ".onestop-demo";

fn demo(data: &Path, tickets: usize, listen: std::net::SocketAddr) -> Result<()> {
    if data.exists() && std::fs::read_dir(data)?.next().is_some() {
        if !data.join(DEMO_MARK).exists() {
            bail!("{} exists and was not made by `demo`: choose another --data", data.display());
        }
        std::fs::remove_dir_all(data)
            .with_context(|| format!("cannot clear the old demo in {}", data.display()))?;
    }
    std::fs::create_dir_all(data).with_context(|| format!("cannot create {}", data.display()))?;
    std::fs::write(data.join(DEMO_MARK), "made by onestop-edge demo; a new demo clears this directory\n")?;
    // The morning ends now: the demo hall is then live in real time.
    let opens = SystemClock.now().plus_ms(-3 * 3_600_000);
    let args = InitArgs { hall: "main", catalog: None, demo: Some(31), key: None, sync: None };
    init(data, args, opens)?;
    simulate(data, tickets, 3.0, 7, Some(opens), false)?;
    println!("重启节点 / restarting the node from its documents …");
    status(data, None)?;
    let voice = demo_voice(data);
    let config = format!(
        r#"# Made by `onestop-edge demo`: a hall with simulated devices.
data = "."
listen = "{listen}"
managers = ["s001"]
simulate = true

[printer]
kind = "twin"
dir = "receipts"

{voice}

{inputs}"#,
        inputs = onestop_edge::hall::config::SIMULATED_INPUTS
    );
    let config_path = data.join("edge.toml");
    std::fs::write(&config_path, config)?;
    let config = RunConfig::load(&config_path)?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let running = onestop_edge::hall::run::start(config, std::sync::Arc::new(SystemClock)).await?;
        let base = format!("http://{}", running.addr);
        println!();
        println!("大厅已运行 / the hall is running (Ctrl-C stops it):");
        println!("  取号机 kiosk          {base}/kiosk");
        println!("  叫号显示屏 display    {base}/display");
        println!("  窗口工作台 counter    {base}/counter   工号 staff s002 · PIN {}", sim::DEMO_PIN);
        println!("  服务评价 rating       {base}/rate/2");
        println!("  大厅管理 manager      {base}/counter   工号 s001 · PIN {}, no window", sim::DEMO_PIN);
        println!("  指标 metrics          {base}/metrics");
        println!("模拟设备 / simulated devices:");
        println!("  号票 printed tickets  {}", data.join("receipts").display());
        println!("  刷卡 swipe a card     curl -d reader=kiosk-reader -d card=20230001 {base}/sim/card");
        println!(
            "  工作证 staff card     curl -d reader=window-1-reader -d card={} {base}/sim/card",
            sim::staff_card(1)
        );
        onestop_link::shutdown_signal().await;
        running.stop().await
    })
}

/// The demo's voice: clips made with deploy/voice/make-clips.sh where espeak-ng and sox are
/// installed, calls written as WAV files; otherwise no voice (said so).
fn demo_voice(data: &Path) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/voice/make-clips.sh");
    let clips = data.join("voice-clips");
    let made = script.exists()
        && std::process::Command::new("bash")
            .arg(&script)
            .arg(&clips)
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if made {
        "[voice]\noutput = \"wav\"\nclips = \"voice-clips\"\nwav_dir = \"calls\"\n".to_string()
    } else {
        println!("语音 / voice: off (install espeak-ng and sox to hear calls as WAV files)");
        "[voice]\noutput = \"none\"\n".to_string()
    }
}

fn run_hall(config: &Path) -> Result<()> {
    let config = RunConfig::load(config)?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(onestop_edge::hall::run::run(config, onestop_link::shutdown_signal()))
}

fn check_config(path: &Path) -> Result<()> {
    let config = RunConfig::load(path)?;
    read_node_file(&config.data)?;
    let missing = config.missing_devices();
    if !missing.is_empty() {
        bail!("{}: {}", path.display(), missing.join("; "));
    }
    println!("配置正确 / {} is valid and its devices are connected", path.display());
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The long-running link reports its comings and goings; one-shot commands stay quiet.
    let level = if matches!(
        cli.command,
        Cmd::Sync { .. } | Cmd::Run { .. } | Cmd::Demo { .. } | Cmd::Enroll { .. }
    ) {
        "info,tower_http=warn"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("错误 / error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Cmd::Init { data, hall, catalog, demo_catalog, visitor_key, cloud, server_name, ca, cert, key } => {
            let abs = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
            let sync = match (cloud, server_name, ca, cert, key) {
                (Some(cloud), Some(server_name), Some(ca), Some(cert), Some(key)) => {
                    Some(SyncFile { cloud, server_name, ca: abs(ca), cert: abs(cert), key: abs(key) })
                }
                _ => None,
            };
            let args = InitArgs {
                hall: &hall,
                catalog: catalog.as_deref(),
                demo: demo_catalog,
                key: visitor_key.as_deref(),
                sync,
            };
            init(&data, args, SystemClock.now())
        }
        Cmd::Do { data, line } => run_line(&data, &line.join(" ")),
        Cmd::Status { data, date } => status(&data, date),
        Cmd::Sync { data } => sync_link(&data),
        Cmd::Simulate { data, tickets, hours, seed, echo } => {
            simulate(&data, tickets, hours, seed, None, echo)
        }
        Cmd::Demo { data, tickets, listen } => demo(&data, tickets, listen),
        Cmd::Run { config } => run_hall(&config),
        Cmd::Renew { data } => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            match rt.block_on(onestop_edge::enroll::renew(&data, SystemClock.system_time()))? {
                onestop_edge::enroll::Enrolled::Issued { node, hall, .. } => {
                    println!("证书已更新 / certificate renewed for node {node} of hall {hall}")
                }
                onestop_edge::enroll::Enrolled::Pending { device_id } => {
                    println!("等待审批 / device {device_id} waits for approval")
                }
            }
            Ok(())
        }
        Cmd::Enroll { data, cloud, server_name, ca, token_file, token, hardware, poll } => {
            let token = match (token, &token_file) {
                (Some(t), None) => t,
                (None, Some(f)) => std::fs::read_to_string(f)
                    .with_context(|| format!("cannot read the join token from {}", f.display()))?
                    .trim()
                    .to_string(),
                _ => bail!("give the join token with --token-file FILE or --token TOKEN"),
            };
            let cloud = onestop_edge::enroll::CloudAddress { addr: cloud, server_name, ca };
            let key = onestop_edge::enroll::device_key(&data)?;
            println!("设备编号 / device id: {}", onestop_edge::enroll::device_id(&key)?);
            let hardware = hardware.unwrap_or_else(onestop_edge::enroll::hardware_facts);
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let done = rt.block_on(onestop_edge::enroll::enroll(
                &data,
                &cloud,
                token,
                token_file.as_deref(),
                &hardware,
                std::time::Duration::from_secs(poll),
            ))?;
            if let onestop_edge::enroll::Enrolled::Issued { hall, node, device_id } = done {
                println!(
                    "已加入 / enrolled: node {node} of hall {hall} (device {device_id}); data in {}",
                    data.display()
                );
            }
            Ok(())
        }
        Cmd::CheckConfig { config } => check_config(&config),
        Cmd::Clock { data, reset } => clock_command(&data, reset),
        Cmd::StoreCheck { data, set_aside } => {
            println!("{}", onestop_edge::nodedir::store_check(&data, set_aside, SystemClock.now().0 / 1000)?);
            Ok(())
        }
        Cmd::SelfTest => {
            let dir = std::env::temp_dir().join(format!("onestop-self-test-{}", std::process::id()));
            let result = onestop_edge::selftest::run(&dir, &mut std::io::stdout());
            let _ = std::fs::remove_dir_all(&dir);
            result?;
            println!("自检通过 / self-test passed (onestop-edge {})", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
    }
}
