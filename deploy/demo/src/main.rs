//! `onestop-demo`: the whole system on loopback. A campus CA and a cloud with its enrolment
//! desk; two halls, each enrolled through the real token → CSR → certificate path, taking its
//! catalogue from the cloud over the sync link, with simulated devices (a pseudo-terminal
//! printer, WAV voice, card readers and keypads fed from the pages). Prints the addresses.

use anyhow::{Context, Result, bail};
use clap::Parser;
use onestop_edge::clock::{Clock, SystemClock};
use onestop_edge::hall::config::RunConfig;
use onestop_edge::hall::run::Running;
use onestop_edge::script::Request;
use onestop_engine::Command;
use onestop_model::{Catalog, HallId, Level, Priority, Rating, Source, StaffId};
use onestop_protocol::{DocId, catalog};
use onestop_provision::{CampusCa, Registry, token};
use onestop_store::{Durability, Store};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Onestop demo: a campus cloud and two halls with simulated devices, on this machine.
///
/// Everything is kept in one folder (default ./onestop-demo), cleared by the next demo.
/// Ctrl-C stops it all.
#[derive(Parser)]
#[command(name = "onestop-demo", version, about, long_about)]
struct Cli {
    /// Where to keep the demo's data.
    #[arg(long, default_value = "onestop-demo")]
    data: PathBuf,
    /// The first hall's pages are served on this port, the second's on the next one, the
    /// campus website on the one after.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Simulated visitors arrive and staff serve them, so the pages have something to show.
    #[arg(long)]
    visitors: bool,
    /// Simulate this many past days in every hall before it opens (weekdays only, a few
    /// hundred visitors a day): the statistics and the back office have a history to show.
    /// The halls send it to the cloud over the sync link as they start. 30 is a month.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=366))]
    history: u32,
}

const MARK: &str = ".onestop-demo";
const PASSPHRASE: &str = "onestop demo passphrase";
const HALLS: [(&str, &str, &str, u16); 2] = [
    ("main", "一站式服务大厅", "One-stop service hall", 12),
    ("east", "东区服务大厅", "East campus service hall", 6),
];

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,onestop_demo=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("错误 / error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("错误 / error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// The campus catalogue: the generated services and staff, with both halls.
fn campus() -> Catalog {
    let mut c = onestop_edge::sim::campus_catalog(&HallId::new(HALLS[0].0), HALLS[0].3);
    for (id, zh, en, windows) in &HALLS[1..] {
        let other = onestop_edge::sim::campus_catalog(&HallId::new(*id), *windows);
        let mut hall = other.halls[&HallId::new(*id)].clone();
        hall.name = onestop_model::Text::new(*zh, *en);
        c.halls.insert(hall.id.clone(), hall);
    }
    c
}

fn fresh(dir: &Path) -> Result<()> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        if !dir.join(MARK).exists() {
            bail!("{} exists and was not made by the demo: choose another --data", dir.display());
        }
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot clear the old demo in {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(MARK), "made by onestop-demo; the next demo clears this folder\n")?;
    Ok(())
}

async fn run(cli: Cli) -> Result<()> {
    let wall = SystemClock.system_time();
    let dir = std::path::absolute(&cli.data)?;
    fresh(&dir)?;
    // The campus CA and the cloud's certificate, as `onestop-provision` makes them.
    let ca_dir = dir.join("ca");
    std::fs::create_dir_all(&ca_dir)?;
    let ca = CampusCa::create("Onestop demo campus CA", 3650, wall)?;
    ca.save(&ca_dir, PASSPHRASE)?;
    let server = ca.server_cert(&["localhost".to_string()], 30, wall)?;
    std::fs::write(dir.join("cloud.pem"), &server.cert_pem)?;
    std::fs::write(dir.join("cloud.key"), &server.key_pem)?;

    // The cloud: its store with the catalogue, its registry, its enrolment desk.
    let cloud_data = dir.join("cloud");
    std::fs::create_dir_all(&cloud_data)?;
    let mut store = Store::open(&cloud_data.join("cloud.sqlite"), Durability::Normal)?;
    let cat = campus();
    let stamp = store.next_stamp(SystemClock.now());
    store.write(stamp, |b| b.edit(&DocId::Catalog, |tx| Ok(catalog::write(tx, &cat)?)))?;
    // The cloud, started as `onestop-cloud serve` starts it (one way in): enrolment with the
    // demo's CA, the sync link on a free port, the website beside the halls' pages.
    let pass_file = dir.join("ca-passphrase");
    std::fs::write(&pass_file, PASSPHRASE)?;
    let web_addr: SocketAddr = format!("127.0.0.1:{}", cli.port + HALLS.len() as u16).parse()?;
    let config = onestop_cloud::config::CloudConfig {
        data: cloud_data.clone(),
        listen: "127.0.0.1:0".parse()?,
        ca: ca_dir.join("ca.pem"),
        cert: dir.join("cloud.pem"),
        key: dir.join("cloud.key"),
        revoked: Vec::new(),
        enroll: Some(onestop_cloud::config::EnrollConfig {
            ca: ca_dir.clone(),
            passphrase_file: pass_file,
            node_cert_days: 30,
            node_cert_seconds: None,
        }),
        web: Some(web_addr),
        trusted_proxies: Vec::new(),
    };
    // The back office's first administrator, with a password made for this demo.
    let admin_password = onestop_protocol::secrets::random_code(12);
    {
        use onestop_cloud::core::{accounts, open_office_db};
        let db = open_office_db(&cloud_data)?;
        let admin = accounts::Account {
            login: "admin".into(),
            name: "演示管理员 Demo admin".into(),
            role: accounts::Role::Admin,
            halls: vec![],
            disabled: false,
        };
        accounts::create_account(&db, &admin, &admin_password, SystemClock.now().0)?;
    }
    let cloud = onestop_cloud::run::start(config, Arc::new(SystemClock)).await?;
    let cloud_addr = cloud.sync_addr;
    let web_addr = cloud.web_addr.context("the demo's cloud serves its website")?;
    let registry = Registry::open(&onestop_cloud::registry_path(&cloud_data))?;
    let site = format!("http://{web_addr}");
    println!("校园云 / campus cloud: sync and enrolment on udp://{cloud_addr} (QUIC, mutual TLS)");

    // Voice clips, once, where espeak-ng and sox are installed.
    let clips = dir.join("voice-clips");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../voice/make-clips.sh");
    let voice_ok = std::process::Command::new("bash")
        .arg(&script)
        .arg(&clips)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !voice_ok {
        println!("语音 / voice: off (install espeak-ng and sox to hear calls as WAV files)");
    }

    // Each hall: a join token, enrolment through the real path, then the hall runs.
    let mut halls: Vec<(String, Running, PathBuf)> = Vec::new();
    for (i, (hall, _, _, _)) in HALLS.iter().enumerate() {
        let node = format!("{hall}-pi-1");
        let t = token::new_token();
        registry.add_token(
            &token::token_hash(&t),
            &HallId::new(*hall),
            &node,
            wall + Duration::from_secs(3600),
            false,
        )?;
        let data = dir.join(hall);
        let cloud = onestop_edge::enroll::CloudAddress {
            addr: cloud_addr,
            server_name: "localhost".into(),
            ca: ca_dir.join("ca.pem"),
        };
        let hardware = format!("demo-board-{i}");
        let enrolled =
            onestop_edge::enroll::enroll(&data, &cloud, t, None, &hardware, Duration::from_secs(1)).await?;
        if let onestop_edge::enroll::Enrolled::Issued { device_id, .. } = &enrolled {
            println!("大厅 {hall} 已加入 / hall {hall} enrolled as {node}, device {device_id}");
        }
        let voice = if voice_ok {
            format!("[voice]\noutput = \"wav\"\nclips = \"{}\"\nwav_dir = \"calls\"\n", clips.display())
        } else {
            String::new()
        };
        let listen: SocketAddr = format!("127.0.0.1:{}", cli.port + i as u16).parse()?;
        let text = format!(
            "data = \".\"\nlisten = \"{listen}\"\nwebsite = \"{site}\"\nmanagers = [\"s001\"]\nsimulate = true\n\
             [printer]\nkind = \"twin\"\ndir = \"receipts\"\n{voice}{}",
            onestop_edge::hall::config::SIMULATED_INPUTS
        );
        std::fs::write(data.join("edge.toml"), text)?;
        if cli.history > 0 {
            let started = std::time::Instant::now();
            let (days, tickets) = history(&data, &cat, &HallId::new(*hall), cli.history, i as u64)?;
            println!(
                "大厅 {hall} 历史 / hall {hall} history: {days} working days, {tickets} tickets, simulated in {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
        let config = RunConfig::load(&data.join("edge.toml"))?;
        let running = onestop_edge::hall::run::start(config, Arc::new(SystemClock)).await?;
        halls.push((hall.to_string(), running, data));
    }
    if cli.visitors {
        for (_, running, _) in &halls {
            tokio::spawn(visitors(running.hall.clone()));
        }
    }
    println!();
    println!("校园网站 / campus website    {site}/");
    println!(
        "后台 / back office           {site}/office   登录 login admin · 密码 password {admin_password}"
    );
    for (hall, running, data) in &halls {
        let base = format!("http://{}", running.addr);
        println!("大厅 / hall {hall}:");
        println!("  取号机 kiosk          {base}/kiosk");
        println!("  叫号显示屏 display    {base}/display");
        println!(
            "  窗口工作台 counter    {base}/counter   工号 staff s002 · PIN {}",
            onestop_edge::sim::DEMO_PIN
        );
        println!("  服务评价 rating       {base}/rate/2");
        println!(
            "  大厅管理 manager      {base}/counter   工号 s001 · PIN {} (no window)",
            onestop_edge::sim::DEMO_PIN
        );
        println!("  号票 printed tickets  {}", data.join("receipts").display());
    }
    let base = format!("http://{}", halls[0].1.addr);
    println!("模拟设备 / simulated devices (hall main):");
    println!("  curl -d reader=kiosk-reader -d card=20230001 {base}/sim/card");
    println!("  curl -d state=paper-out {base}/sim/printer");
    println!("校园 IT / campus IT:");
    println!("  onestop-provision nodes --cloud-data {}", cloud_data.display());
    println!("按 Ctrl-C 停止 / Ctrl-C stops everything.");
    onestop_link::shutdown_signal().await;
    for (_, running, _) in halls {
        running.stop().await?;
    }
    cloud.stop().await;
    Ok(())
}

/// Simulates `days` past days (weekdays) at the hall whose node directory is `data`, through
/// the node as at a real hall (the same commands, the same store), with its clock set to each
/// day, under the catalogue the cloud publishes (written into the hall's store for the
/// simulation, and removed after it). Returns the working days and tickets simulated.
fn history(data: &Path, cat: &Catalog, hall: &HallId, days: u32, seed: u64) -> Result<(u32, u64)> {
    use onestop_edge::{ManualClock, sim};
    let offset = cat.halls[hall].utc_offset_minutes;
    let today = SystemClock.now().day(offset);
    let first = today.plus_days(-(days as i32));
    let clock = ManualClock::new(first.start(offset));
    {
        let mut store = Store::open(&onestop_edge::nodedir::store_path(data), Durability::Normal)?;
        onestop_edge::node::publish_catalog(&mut store, cat, first.start(offset))?;
    }
    // Normal durability: a simulated month needs no fsync per command.
    let mut node = onestop_edge::nodedir::open_node_with(data, Box::new(clock.clone()), Durability::Normal)?;
    let windows = (cat.halls[hall].windows.len() as u16).min(6);
    let (mut worked, mut tickets) = (0, 0);
    for d in 0..days {
        let day = first.plus_days(d as i32);
        if day.weekday() >= 6 {
            continue;
        }
        let mut rng = sim::Rng::new(seed * 1000 + u64::from(d));
        let plan = sim::DayPlan {
            tickets: 150 + rng.below(200) as usize,
            windows,
            seed: rng.next_u64(),
            opens: day.start(offset).plus_minutes(8 * 60 + 30),
            hours: 7.5,
            until: Some(day.start(offset).plus_minutes(17 * 60 + 30)),
        };
        let stats =
            sim::run_day(&plan, cat, hall, |cmd, at| Ok(sim::on_node(&mut node, &clock, cmd, at)?.events));
        worked += 1;
        tickets += stats.issued;
    }
    // The hall takes its catalogue from the cloud as any new hall does: the copy written here
    // goes, so the running hall does not open with a copy the link is about to replace.
    drop(node);
    Store::open(&onestop_edge::nodedir::store_path(data), Durability::Normal)?.discard(&DocId::Catalog)?;
    Ok((worked, tickets))
}

/// Visitors arrive every few seconds; staff at the first four windows call, serve, finish;
/// visitors rate. Goes through the same requests as the pages.
async fn visitors(hall: onestop_edge::hall::Hall) {
    let windows: Vec<u16> = hall.view().windows.iter().map(|w| w.no).take(4).collect();
    for (i, w) in windows.iter().enumerate() {
        // Staff s010 onwards: s001 and s002 are left for a person trying the pages.
        let staff = StaffId::new(format!("s{:03}", i + 10));
        let _ = hall.run(Request::Command(Command::CheckIn { window: *w, staff })).await;
    }
    let mut n: u64 = 0;
    loop {
        n += 1;
        let view = hall.view();
        let services: Vec<String> = view.services.iter().filter(|s| s.open).map(|s| s.id.clone()).collect();
        if !services.is_empty() {
            let service = onestop_model::ServiceId::new(&services[(n as usize * 7) % services.len()]);
            // Two visitors in three swipe a campus card; the third takes an anonymous ticket.
            let req = if n.is_multiple_of(3) {
                Request::Command(Command::Issue {
                    service,
                    source: Source::Anonymous,
                    priority: Priority::Normal,
                })
            } else {
                Request::IssueByCard {
                    service,
                    card: format!("2023{:04}", n % 500),
                    priority: Priority::Normal,
                }
            };
            let _ = hall.run(req).await;
        }
        let w = windows[(n as usize) % windows.len()];
        let state = view.window(w).and_then(|x| x.state);
        let cmd = match state {
            Some("called") => Command::Start { window: w },
            Some("serving") => Command::Finish { window: w, kind: None },
            _ if view.window(w).and_then(|x| x.to_rate.as_ref()).is_some() && n.is_multiple_of(2) => {
                Command::Rate {
                    window: w,
                    rating: Rating::overall(if n.is_multiple_of(5) {
                        Level::Satisfied
                    } else {
                        Level::VerySatisfied
                    }),
                }
            }
            _ => Command::CallNext { window: w },
        };
        let _ = hall.run(Request::Command(cmd)).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}
