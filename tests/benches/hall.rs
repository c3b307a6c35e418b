//! Hall benchmarks, run by hand: a real hall started in-process (`hall::run::start`: durable
//! store, the core thread, the pages on loopback, the serial printer service talking to a
//! pseudo-terminal printer twin this bench watches), and the voice's clips and announcer.
//!
//! ```text
//! cargo bench -p onestop-tests --bench hall                  # all four
//! cargo bench -p onestop-tests --bench hall -- tickets       # one of: printer, calls, tickets, voice
//! cargo bench -p onestop-tests --bench hall -- tickets no-printer   # the hall without a printer
//! ```
//!
//! - printer: `POST /api/tickets` to the twin holding the cut receipt, one ticket at a time;
//! - calls: a call on the hall's handle to its `call` event on `/display/events`;
//! - tickets: tickets per second through `POST /api/tickets` at 1, 8 and 32 keep-alive
//!   connections, every returned number checked for repeats;
//! - voice: a call's clips joined, and an announcer's announce-to-ready time.
//!
//! Figures only: nothing here asserts a time.

use onestop_edge::SystemClock;
use onestop_edge::devices::printer::escpos::{self, TicketPrint};
use onestop_edge::devices::printer::twin::PtyPrinter;
use onestop_edge::devices::voice::{Announcer, CLIP_GAP_MS, ClipLibrary, WavDirOut, join, script};
use onestop_edge::hall::config::RunConfig;
use onestop_edge::hall::run::{self, Running};
use onestop_edge::script::Request;
use onestop_engine::Command;
use onestop_model::{DayEvent, Priority, ServiceId, Source, StaffId};
use onestop_tests::ok;
use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Tickets a concurrency level issues in all (split evenly over its connections).
const PER_LEVEL: usize = 2_048;
const LEVELS: [usize; 3] = [1, 8, 32];
const CALLS: usize = 300;
const PRINTS: usize = 200;
const VOICE_CALLS: usize = 300;
/// The window the calls are made at, and its staff member.
const WINDOW: u16 = 1;
const STAFF: &str = "s001";

/// One line of the summary: figure, measured, target.
type Row = (String, String, String);

/// p50, p99 and max of `samples`, in milliseconds.
fn spread(samples: &mut [Duration]) -> (f64, f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    (at(0.5), at(0.99), at(1.0))
}

fn ms3(s: (f64, f64, f64)) -> String {
    format!("{:.2} ms / {:.2} ms / {:.2} ms", s.0, s.1, s.2)
}

// ---------------------------------------------------------------------------------------------
// A plain HTTP/1.1 keep-alive client and a server-sent-events reader over tokio's TcpStream.

struct Client {
    io: BufReader<TcpStream>,
    addr: SocketAddr,
}

impl Client {
    async fn connect(addr: SocketAddr) -> io::Result<Client> {
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Ok(Client { io: BufReader::new(s), addr })
    }

    /// Sends one request on the kept-alive connection and reads the whole answer.
    async fn request(&mut self, method: &str, path: &str, body: &str) -> io::Result<(u16, Vec<u8>)> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        let s = self.io.get_mut();
        s.write_all(format!("{head}{body}").as_bytes()).await?;
        let (status, chunked, length) = read_head(&mut self.io).await?;
        let mut out = Vec::new();
        if chunked {
            while let Some(chunk) = read_chunk(&mut self.io).await? {
                out.extend_from_slice(&chunk);
            }
        } else {
            out.resize(length.unwrap_or(0), 0);
            self.io.read_exact(&mut out).await?;
        }
        Ok((status, out))
    }

    async fn post_ticket(&mut self, service: &str) -> io::Result<(u16, Vec<u8>)> {
        self.request("POST", "/api/tickets", &format!(r#"{{"service":"{service}"}}"#)).await
    }
}

/// Reads a status line and headers: (status, chunked, content length).
async fn read_head(r: &mut BufReader<TcpStream>) -> io::Result<(u16, bool, Option<usize>)> {
    let mut line = String::new();
    if r.read_line(&mut line).await? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the hall closed the connection"));
    }
    let status = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let (mut chunked, mut length) = (false, None);
    loop {
        line.clear();
        r.read_line(&mut line).await?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            let v = v.trim();
            if k.eq_ignore_ascii_case("content-length") {
                length = v.parse().ok();
            } else if k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    Ok((status, chunked, length))
}

/// One chunk of a chunked body; `None` at the last (empty) chunk.
async fn read_chunk(r: &mut BufReader<TcpStream>) -> io::Result<Option<Vec<u8>>> {
    let mut line = String::new();
    if r.read_line(&mut line).await? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the body ended early"));
    }
    let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk size {line:?}")))?;
    let mut chunk = vec![0; size + 2];
    r.read_exact(&mut chunk).await?;
    chunk.truncate(size);
    Ok((size > 0).then_some(chunk))
}

enum DisplayEvent {
    View,
    /// A `call` event: the ticket and when its bytes arrived.
    Call(String, Instant),
}

/// Follows `GET /display/events` as the display page does, sending each event on `tx`.
async fn follow_display(addr: SocketAddr, tx: mpsc::UnboundedSender<DisplayEvent>) -> io::Result<()> {
    let mut c = Client::connect(addr).await?;
    let head = format!("GET /display/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
    c.io.get_mut().write_all(head.as_bytes()).await?;
    let (status, chunked, _) = read_head(&mut c.io).await?;
    assert_eq!(status, 200, "the display's event stream answered {status}");
    let (mut pending, mut event, mut data) = (Vec::<u8>::new(), String::new(), String::new());
    loop {
        let bytes = if chunked {
            match read_chunk(&mut c.io).await? {
                Some(b) => b,
                None => return Ok(()),
            }
        } else {
            let mut b = vec![0; 64 * 1024];
            let n = c.io.read(&mut b).await?;
            if n == 0 {
                return Ok(());
            }
            b.truncate(n);
            b
        };
        let arrived = Instant::now();
        pending.extend_from_slice(&bytes);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                let sent = match event.as_str() {
                    "call" => {
                        let v: serde_json::Value = serde_json::from_str(&data).expect("a call is JSON");
                        let ticket = v["ticket"].as_str().expect("a call names its ticket").to_string();
                        tx.send(DisplayEvent::Call(ticket, arrived))
                    }
                    "view" => tx.send(DisplayEvent::View),
                    _ => Ok(()),
                };
                if sent.is_err() {
                    return Ok(());
                }
                event.clear();
                data.clear();
            } else if let Some(e) = line.strip_prefix("event:") {
                event = e.trim().to_string();
            } else if let Some(d) = line.strip_prefix("data:") {
                data.push_str(d.strip_prefix(' ').unwrap_or(d));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The hall under test.

struct Bench {
    running: Running,
    /// The printer twin, unless the hall runs without a printer.
    twin: Option<Arc<PtyPrinter>>,
    /// The services the hall offers (`GET /api/view`).
    services: Arc<Vec<String>>,
    /// Every (day, ticket) the pages returned, to find repeats.
    seen: HashSet<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Bench {
    async fn start(with_printer: bool) -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("hall");
        let data_arg = data.to_str().unwrap();
        ok("onestop-edge", &["init", "--data", data_arg, "--hall", "main", "--demo-catalog", "8"]);
        // No receipt directory: the twin keeps receipts in memory and draws no PNGs.
        let twin =
            with_printer.then(|| Arc::new(PtyPrinter::start(None).expect("a pseudo-terminal printer")));
        let mut config =
            format!("data = \"{}\"\nlisten = \"127.0.0.1:0\"\nsimulate = true\n", data.display());
        if let Some(twin) = &twin {
            config.push_str(&format!("[printer]\nkind = \"serial\"\npath = \"{}\"\n", twin.path().display()));
        }
        let config = RunConfig::parse(&config).expect("a valid configuration");
        let running = run::start(config, Arc::new(SystemClock)).await.expect("the hall starts");
        // The printer service is connected once it has asked the twin its status.
        let t = Instant::now();
        while twin.as_ref().is_some_and(|twin| twin.status_queries() < 3) {
            assert!(t.elapsed() < Duration::from_secs(10), "the printer service never asked the twin");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (status, body) =
            Client::connect(running.addr).await.unwrap().request("GET", "/api/view", "").await.unwrap();
        assert_eq!(status, 200);
        let view: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let services: Vec<String> = view["services"]
            .as_array()
            .expect("services in the view")
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect();
        println!(
            "hall: {} (in-process), 8 windows, {} services offered, {}",
            running.addr,
            services.len(),
            match &twin {
                Some(twin) => format!("serial printer on the twin's {}", twin.path().display()),
                None => "no printer".to_string(),
            }
        );
        Bench { running, twin, services: Arc::new(services), seen: HashSet::new(), _dir: dir }
    }

    /// Waits until the twin has printed every ticket issued so far; returns how many that is
    /// (none without a printer).
    async fn printer_caught_up(&self, limit: Duration) -> usize {
        let Some(twin) = self.twin.clone() else { return 0 };
        let want = self.running.hall.stats().issued.load(Relaxed) as usize;
        let got = tokio::task::spawn_blocking(move || twin.wait_for(want, limit).len()).await.unwrap();
        assert!(got >= want, "the printer twin has {got} of {want} tickets after {limit:?}");
        got
    }

    /// Notes a ticket the pages returned; false when the day already had that number.
    fn note(&mut self, body: &[u8]) -> bool {
        let v: serde_json::Value = serde_json::from_slice(body).expect("a ticket is JSON");
        let ticket = v["ticket"].as_str().expect("a ticket number").to_string();
        let day = v["issued_at"].as_str().and_then(|s| s.split(' ').next()).unwrap_or("").to_string();
        self.seen.insert((day, ticket))
    }
}

async fn printer(b: &mut Bench, rows: &mut Vec<Row>) {
    let Some(twin) = b.twin.clone() else { return };
    let base = b.printer_caught_up(Duration::from_secs(30)).await;
    let mut client = Client::connect(b.running.addr).await.unwrap();
    let (mut answered, mut printed, mut mismatched) = (Vec::new(), Vec::new(), 0);
    for i in 0..PRINTS {
        let service = &b.services[i % b.services.len()];
        let t = Instant::now();
        let (status, body) = client.post_ticket(service).await.unwrap();
        answered.push(t.elapsed());
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        b.note(&body);
        let ticket = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["ticket"]
            .as_str()
            .unwrap()
            .to_string();
        let twin = twin.clone();
        let want = base + i + 1;
        let (number, at) = tokio::task::spawn_blocking(move || {
            let receipts = twin.wait_for(want, Duration::from_secs(10));
            let at = Instant::now();
            (receipts.get(want - 1).and_then(|r| r.big_text().map(str::to_string)), at)
        })
        .await
        .unwrap();
        let number = number.expect("the twin printed the ticket within 10 s");
        if number != ticket {
            mismatched += 1;
        }
        printed.push(at - t);
    }
    // What a real 19,200-baud line would add: the ticket's bytes at 1,920 bytes a second.
    let sample = escpos::ticket(&TicketPrint {
        hall: "一站式服务大厅".into(),
        hall_en: "One-stop service hall".into(),
        number: "A123".into(),
        service: "教务处业务1".into(),
        service_en: "Registry service 1".into(),
        ahead: 12,
        wait_minutes: 25,
        issued_at: "2026-11-26 09:41".into(),
        url: "onestop:main:2026-11-26:A123".into(),
        footer: "请留意叫号，过号请到服务台\nListen for your number; if missed, ask at the help desk".into(),
    });
    let (answered, printed) = (spread(&mut answered), spread(&mut printed));
    println!("printer: {PRINTS} tickets one at a time, POST /api/tickets to the cut receipt in the twin");
    println!("  HTTP answer      p50 / p99 / max  {}", ms3(answered));
    println!("  last printer byte p50 / p99 / max {}", ms3(printed));
    println!("  receipts whose big number differs from the ticket: {mismatched}");
    println!(
        "  (the twin is a pseudo-terminal: no baud rate. A ticket is {} bytes; at 19,200 baud the line alone \
         takes about {:.0} ms)",
        sample.len(),
        sample.len() as f64 / 1.92
    );
    rows.push((
        format!("ticket request to the last printer byte (twin), p50 / p99 / max ({PRINTS} sequential)"),
        ms3(printed),
        String::new(),
    ));
    rows.push(("… of which the HTTP answer, p50 / p99 / max".into(), ms3(answered), String::new()));
}

async fn calls(b: &mut Bench, rows: &mut Vec<Row>) {
    let hall = b.running.hall.clone();
    hall.run(Request::Command(Command::CheckIn { window: WINDOW, staff: StaffId::new(STAFF) }))
        .await
        .expect("the staff member checks in");
    let served = hall.view().windows.iter().find(|w| w.no == WINDOW).expect("window 1").services.clone();
    for i in 0..CALLS {
        let service = ServiceId::new(&served[i % served.len()]);
        hall.run(Request::Command(Command::Issue {
            service,
            source: Source::Anonymous,
            priority: Priority::Normal,
        }))
        .await
        .expect("a ticket for window 1");
    }
    // The printer prints those first, so that it does not compete with the calls.
    b.printer_caught_up(Duration::from_secs(60)).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let display = tokio::spawn(follow_display(b.running.addr, tx));
    loop {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(DisplayEvent::View)) => break,
            Ok(Some(DisplayEvent::Call(..))) => {}
            other => panic!("no view on the display's event stream: {}", other.is_ok()),
        }
    }
    let (mut shown, mut answered) = (Vec::new(), Vec::new());
    for _ in 0..CALLS {
        while rx.try_recv().is_ok() {}
        let t = Instant::now();
        // The window's previous ticket was never started: the engine releases it as a no-show.
        let done = hall.run(Request::Command(Command::CallNext { window: WINDOW })).await.expect("a call");
        answered.push(t.elapsed());
        let ticket = done
            .outcome
            .events
            .iter()
            .find_map(|e| match e {
                DayEvent::Called { ticket, .. } => Some(ticket.to_string()),
                _ => None,
            })
            .expect("the call calls a ticket");
        loop {
            match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
                Ok(Some(DisplayEvent::Call(t2, at))) if t2 == ticket => {
                    shown.push(at - t);
                    break;
                }
                Ok(Some(_)) => {}
                other => panic!("the call of {ticket} never reached the display: {}", other.is_ok()),
            }
        }
        // Calls at a window are seconds apart; let the view event that follows go out.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    display.abort();
    let slow = shown.iter().filter(|d| *d >= &Duration::from_millis(20)).count();
    let (shown, answered) = (spread(&mut shown), spread(&mut answered));
    println!(
        "calls: {CALLS} calls at window {WINDOW}, Hall::run(CallNext) to the `call` event on /display/events"
    );
    println!("  to the display's event stream p50 / p99 / max  {}", ms3(shown));
    println!("  the command's answer          p50 / p99 / max  {}", ms3(answered));
    println!("  calls that took 20 ms or more to reach the display: {slow} of {CALLS}");
    println!("  (up to the page's event stream, read off the socket: not the browser's painting)");
    rows.push((
        format!("call to the display's event stream (`call` event read off the socket), p50 / p99 / max ({CALLS} calls)"),
        format!("{} ({slow} of {CALLS} took 20 ms or more)", ms3(shown)),
        if shown.1 < 20.0 { "p99 < 20 ms: met".into() } else { "p99 < 20 ms: not met".into() },
    ));
}

/// What one connection did: latencies, ticket bodies, errors.
type ConnResult = (Vec<Duration>, Vec<Vec<u8>>, usize);

async fn tickets(b: &mut Bench, rows: &mut Vec<Row>) {
    println!(
        "tickets: POST /api/tickets, {PER_LEVEL} a level, requests back to back on keep-alive connections"
    );
    println!(
        "  {:>5}  {:>10}  {:>9}  {:>9}  {:>9}  {:>6}  {:>10}  {:>8}  {:>6}",
        "conns", "tickets/s", "p50 ms", "p99 ms", "max ms", "errors", "duplicates", "core ms", "busy"
    );
    let issued_before = b.running.hall.stats().issued.load(Relaxed);
    let mut last_answer = Instant::now();
    for conns in LEVELS {
        let per = PER_LEVEL / conns;
        let mut clients = Vec::new();
        for _ in 0..conns {
            clients.push(Client::connect(b.running.addr).await.unwrap());
        }
        let stats = b.running.hall.stats();
        let (commands0, us0) = (stats.commands.load(Relaxed), stats.command_us_sum.load(Relaxed));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for (c, mut client) in clients.into_iter().enumerate() {
            let services = b.services.clone();
            tasks.push(tokio::spawn(async move {
                let (mut lat, mut bodies, mut errors): ConnResult = (Vec::new(), Vec::new(), 0);
                for j in 0..per {
                    let service = &services[(c * 7 + j) % services.len()];
                    let t = Instant::now();
                    match client.post_ticket(service).await {
                        Ok((200, body)) => {
                            lat.push(t.elapsed());
                            bodies.push(body);
                        }
                        Ok(_) => errors += 1,
                        Err(_) => {
                            errors += 1;
                            if let Ok(c) = Client::connect(client.addr).await {
                                client = c;
                            }
                        }
                    }
                }
                (lat, bodies, errors)
            }));
        }
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        let took = start.elapsed();
        last_answer = Instant::now();
        let commands = stats.commands.load(Relaxed) - commands0;
        let core_ms = (stats.command_us_sum.load(Relaxed) - us0) as f64 / 1e3;
        let (mut lat, mut errors, mut dup, mut n) = (Vec::new(), 0, 0, 0);
        for (l, bodies, e) in results {
            lat.extend(l);
            errors += e;
            for body in bodies {
                n += 1;
                if !b.note(&body) {
                    dup += 1;
                }
            }
        }
        let rate = n as f64 / took.as_secs_f64();
        let s = spread(&mut lat);
        println!(
            "  {conns:>5}  {rate:>10.0}  {:>9.2}  {:>9.2}  {:>9.2}  {errors:>6}  {dup:>10}  {:>8.3}  {:>5.0}%",
            s.0,
            s.1,
            s.2,
            core_ms / commands.max(1) as f64,
            core_ms / took.as_secs_f64() / 10.0
        );
        let target = match conns {
            8 if rate >= 2_000.0 => "≥ 2,000/s: met",
            8 => "≥ 2,000/s: not met",
            _ => "",
        };
        rows.push((
            format!(
                "tickets through `POST /api/tickets`, {conns} connection{}{}",
                if conns == 1 { "" } else { "s" },
                if b.twin.is_none() { " (no printer)" } else { "" }
            ),
            format!(
                "{rate:.0}/s, p50 {:.2} ms, p99 {:.2} ms; {errors} errors, {dup} duplicate numbers",
                s.0, s.1
            ),
            target.into(),
        ));
    }
    let issued = b.running.hall.stats().issued.load(Relaxed) - issued_before;
    let Some(twin) = b.twin.clone() else {
        println!("  {issued} tickets issued (no printer)");
        return;
    };
    let printed = b.printer_caught_up(Duration::from_secs(120)).await;
    let drained = last_answer.elapsed();
    let receipts = twin.receipts();
    let numbers: HashSet<&str> = receipts.iter().filter_map(|r| r.big_text()).collect();
    println!(
        "  {issued} tickets issued; the printer twin has all {printed} receipts of the run {:.2} s after the last answer",
        drained.as_secs_f64()
    );
    println!(
        "  receipts printed twice: {}; tickets numbered past 999 in one prefix: {}",
        receipts.len() - numbers.len(),
        b.seen.iter().filter(|(_, t)| t.len() > 4).count()
    );
    rows.push((
        "printer twin caught up after the last answer (all receipts, none twice)".into(),
        format!(
            "{:.2} s, {} receipts, {} printed twice",
            drained.as_secs_f64(),
            printed,
            receipts.len() - numbers.len()
        ),
        String::new(),
    ));
}

fn voice(rows: &mut Vec<Row>) {
    let dir = tempfile::tempdir().unwrap();
    let clips = dir.path().join("clips");
    let make = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/voice/make-clips.sh");
    let out = std::process::Command::new("bash").arg(&make).arg(&clips).output().expect("bash runs");
    assert!(out.status.success(), "make-clips.sh failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let lib = ClipLibrary::load(&clips).expect("the clips load");
    let call =
        |i: usize| (format!("{}{:03}", (b'A' + (i % 15) as u8) as char, i % 999 + 1), (i % 31 + 1) as u32);
    let (mut joined, mut seconds) = (Vec::new(), 0.0);
    for i in 0..VOICE_CALLS {
        let (ticket, window) = call(i);
        let t = Instant::now();
        let audio = join(&lib, &script(&ticket, window, true), CLIP_GAP_MS).expect("every clip is there");
        joined.push(t.elapsed());
        seconds += audio.duration().as_secs_f64();
        std::hint::black_box(audio);
    }
    // One call at a time through the announcer (WAV files for a speaker).
    let announcer =
        Announcer::spawn(lib.clone(), Box::new(WavDirOut::new(dir.path().join("calls")).unwrap()), true);
    let mut ready = Vec::new();
    for i in 0..VOICE_CALLS {
        let (ticket, window) = call(i);
        announcer.announce(&ticket, window, false);
        assert!(announcer.wait_idle(Duration::from_secs(10)), "the announcer is stuck");
        ready.push(announcer.stats().last_ready.expect("a ready time"));
    }
    let stats = announcer.shutdown(Duration::from_secs(10));
    // Eight windows calling at once: the last waits for the seven before it to be written.
    let burst = Announcer::spawn(lib, Box::new(WavDirOut::new(dir.path().join("burst")).unwrap()), true);
    for i in 0..8 {
        let (ticket, _) = call(i);
        burst.announce(&ticket, i as u32 + 1, false);
    }
    burst.wait_idle(Duration::from_secs(30));
    let burst = burst.shutdown(Duration::from_secs(10));
    let (joined, ready) = (spread(&mut joined), spread(&mut ready));
    let max_ready = stats.max_ready.unwrap_or_default().as_secs_f64() * 1e3;
    let burst_max = burst.max_ready.unwrap_or_default().as_secs_f64() * 1e3;
    println!("voice: {VOICE_CALLS} calls, Mandarin then English, clips made by deploy/voice/make-clips.sh");
    println!("  join(script(..), CLIP_GAP_MS) p50 / p99 / max  {}", ms3(joined));
    println!("  a call's audio lasts on average {:.1} s", seconds / VOICE_CALLS as f64);
    println!(
        "  Announcer + WavDirOut, one call at a time: announce to ready p50 / p99 / max  {} (AnnouncerStats max_ready {max_ready:.2} ms; {} played, {} failed)",
        ms3(ready),
        stats.played,
        stats.failed
    );
    println!(
        "  8 windows calling at once: max_ready {burst_max:.2} ms (the last waits for seven WAV files to be written)"
    );
    rows.push((
        format!("call to audio ready: `join` of a call's clips, p50 / p99 / max ({VOICE_CALLS} calls)"),
        ms3(joined),
        String::new(),
    ));
    rows.push((
        "… through the `Announcer` (`WavDirOut`), announce to ready, p50 / p99 / max".into(),
        ms3(ready),
        String::new(),
    ));
    rows.push((
        "… 8 windows calling at once: `max_ready`".into(),
        format!("{burst_max:.2} ms"),
        String::new(),
    ));
}

fn main() {
    let mut which: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let with_printer = !which.iter().any(|w| w == "no-printer");
    which.retain(|w| w != "no-printer");
    let wants = |name: &str| which.is_empty() || which.iter().any(|w| w == name);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut rows = Vec::new();
    if wants("printer") || wants("calls") || wants("tickets") {
        rt.block_on(async {
            let mut b = Bench::start(with_printer).await;
            if wants("printer") {
                printer(&mut b, &mut rows).await;
            }
            if wants("calls") {
                calls(&mut b, &mut rows).await;
            }
            if wants("tickets") {
                tickets(&mut b, &mut rows).await;
            }
            b.running.stop().await.expect("the hall stops");
        });
    }
    if wants("voice") {
        voice(&mut rows);
    }
    println!("\n| figure | measured | target |\n|---|---|---|");
    for (figure, measured, target) in rows {
        println!("| {figure} | {measured} | {target} |");
    }
}
