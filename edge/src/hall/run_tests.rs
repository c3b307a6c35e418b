//! A real hall (`start`: the store on disk, the core thread, the pages on a socket) whose disk
//! fills up: every page answers as the error's kind says, the manager sees an incident, and
//! nothing is lost when the space returns.

use super::*;
use crate::clock::ManualClock;
use onestop_model::{Day, DayEvent, HallId};
use std::io::Write as _;
use std::sync::Mutex;

/// The log, kept for the test to read.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn lines(&self, containing: &str) -> Vec<String> {
        let text = String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned();
        text.lines().filter(|l| l.contains(containing)).map(str::to_string).collect()
    }
}

/// One HTTP/1.1 request on a fresh connection: the status and the whole answer.
async fn http(addr: SocketAddr, method: &str, path: &str, cookie: &str, body: &str) -> (u16, String) {
    let ctype = if body.starts_with('{') { "application/json" } else { "application/x-www-form-urlencoded" };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: hall\r\nCookie: {cookie}\r\nContent-Type: {ctype}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        (out[9..12].parse().unwrap(), out)
    })
    .await
    .unwrap()
}

fn json(answer: &str) -> serde_json::Value {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

/// A figure from `/metrics`.
fn metric(page: &str, name: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {page}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_500_and_an_incident_a_refusal_409_and_nothing_is_lost() {
    let logs = Logs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init()
        .expect("this test's process has no other log subscriber");

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("hall");
    std::fs::create_dir_all(&data).unwrap();
    let hall = HallId::new("main");
    let day = Day::new(2026, 11, 26).unwrap();
    let clock = ManualClock::new(day.start(480).plus_minutes(9 * 60));
    std::fs::write(
        data.join("node.toml"),
        format!("hall = \"main\"\nvisitor_key = \"{}\"\n", "03".repeat(32)),
    )
    .unwrap();
    {
        let mut store = Store::open(&nodedir::store_path(&data), Durability::Full).unwrap();
        node::publish_catalog(&mut store, &crate::sim::campus_catalog(&hall, 2), clock.now()).unwrap();
    }
    let config = RunConfig::parse(&format!(
        "data = \"{}\"\nlisten = \"127.0.0.1:0\"\nmanagers = [\"s001\"]\n",
        data.display()
    ))
    .unwrap();
    let running = start(config, Arc::new(clock.clone())).await.unwrap();
    let addr = running.addr;
    let path = data.display().to_string();

    // s001 logs in at window 1 (checking in), and is a hall manager.
    let (status, answer) = http(addr, "POST", "/counter/login", "", "window=1&staff=s001&pin=2468").await;
    assert_eq!(status, 303, "{answer}");
    let cookie = answer
        .lines()
        .find_map(|l| l.to_ascii_lowercase().starts_with("set-cookie:").then(|| l[11..].trim().to_string()))
        .and_then(|c| c.split(';').next().map(str::to_string))
        .expect("a session cookie");
    let (_, page) = http(addr, "GET", "/counter/window/1", &cookie, "").await;
    let csrf = page
        .split_once("name=\"csrf\" value=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(token, _)| token.to_string())
        .expect("the counter's forms carry a CSRF token");

    let (status, answer) = http(addr, "POST", "/api/tickets", "", r#"{"service":"registry-1"}"#).await;
    assert_eq!((status, json(&answer)["ticket"].as_str()), (200, Some("A001")), "{answer}");

    // Refusals: 409 with their own reason, counted as rejected, logged quietly.
    let (status, answer) = http(addr, "POST", "/api/tickets", "", r#"{"booking":"NOSUCH"}"#).await;
    assert_eq!(status, 409, "{answer}");
    let body = json(&answer);
    assert_eq!(body["kind"], "refused");
    assert!(body["error"].as_str().unwrap().contains("no booking with code NOSUCH"), "{answer}");
    let (status, answer) = http(addr, "POST", "/kiosk/issue", "", "service=&how=booking&code=NOSUCH").await;
    assert_eq!(status, 409, "{answer}");
    assert!(answer.contains("no booking with code NOSUCH"), "{answer}");
    let card = r#"{"service":"registry-2","card":"20260001"}"#;
    let (status, answer) = http(addr, "POST", "/api/tickets", "", card).await;
    assert_eq!((status, json(&answer)["ticket"].as_str()), (200, Some("B001")), "{answer}");
    let (status, answer) = http(addr, "POST", "/api/tickets", "", card).await;
    assert_eq!(status, 409, "a second ticket for the same card: {answer}");
    assert!(json(&answer)["error"].as_str().unwrap().contains("already holds ticket B001"), "{answer}");
    // At the counter: window 1 is s001's.
    let (status, answer) = http(addr, "POST", "/counter/login", "", "window=1&staff=s002&pin=2468").await;
    assert_eq!(status, 409, "{answer}");
    assert!(answer.contains("window 1 is already checked in by s001"), "{answer}");

    // The disk fills up.
    running.store.lock().unwrap().simulate_full_disk(true).unwrap();

    // A ticket from the API: 500, a bilingual message for the visitor, no path, no SQL.
    let (status, answer) = http(addr, "POST", "/api/tickets", "", r#"{"service":"registry-1"}"#).await;
    assert_eq!(status, 500, "{answer}");
    let body = json(&answer);
    assert_eq!(body["kind"], "storage");
    assert_eq!(
        body["error"],
        "系统暂时无法保存，请联系工作人员 / The hall cannot save right now; please ask staff"
    );
    // The kiosk's form: the same, as a page.
    let (status, answer) = http(addr, "POST", "/kiosk/issue", "", "service=registry-1&how=anonymous").await;
    assert_eq!(status, 500, "{answer}");
    assert!(answer.contains("系统暂时无法保存") && answer.contains("please ask staff"), "{answer}");
    // The counter calls: not a success message among others, a page that says it failed.
    let (status, answer) =
        http(addr, "POST", "/counter/window/1/call-next", &cookie, &format!("csrf={csrf}")).await;
    assert_eq!(status, 500, "{answer}");
    assert!(answer.contains("系统暂时无法保存") && !answer.contains("已叫"), "{answer}");
    let (_, view) = http(addr, "GET", "/api/view", "", "").await;
    let view = json(&view);
    assert!(view["windows"][0]["current"].is_null(), "A001 was not called: {view}");
    for answer in [&answer, &view.to_string()] {
        assert!(!answer.contains(&path) && !answer.contains("sqlite") && !answer.contains("disk is full\""));
        assert!(!answer.contains("database or disk is full"), "SQLite's words stay in the log: {answer}");
    }
    // The hall manager sees an incident, and so does /metrics.
    let incidents = view["incidents"].as_array().unwrap();
    assert!(
        incidents
            .iter()
            .any(|i| i["device"] == "store" && i["text"].as_str().unwrap().contains("the disk is full")),
        "{view}"
    );
    let (status, page) = http(addr, "GET", "/manager", &cookie, "").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("the disk is full and the hall cannot save"), "{page}");
    let (_, metrics) = http(addr, "GET", "/metrics", "", "").await;
    assert_eq!(metric(&metrics, "onestop_commands_failed_total"), 3.0, "{metrics}");
    assert_eq!(metric(&metrics, "onestop_commands_rejected_total"), 4.0, "{metrics}");
    assert_eq!(metric(&metrics, "onestop_incidents"), 1.0, "{metrics}");
    // A lookup of a case that is not there is 404 (reading works on a full disk).
    let (status, page) =
        http(addr, "GET", "/counter/window/1/case?number=20261126-main-A999", &cookie, "").await;
    assert_eq!(status, 404, "{page}");
    assert!(page.contains("id=\"no-case\""), "{page}");
    // The log has the details, at error level; the refusals are not errors.
    let failed = logs.lines("A command failed.");
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert!(
        failed
            .iter()
            .all(|l| l.contains("ERROR") && l.contains("database or disk is full") && l.contains(&path)),
        "{failed:?}"
    );
    let refused = logs.lines("NOSUCH");
    assert!(
        refused.len() >= 2 && refused.iter().all(|l| !l.contains("ERROR") && !l.contains("WARN")),
        "{refused:?}"
    );

    // Space returns: the next ticket is the next number, the incident goes.
    running.store.lock().unwrap().simulate_full_disk(false).unwrap();
    let (status, answer) = http(addr, "POST", "/api/tickets", "", r#"{"service":"registry-1"}"#).await;
    assert_eq!((status, json(&answer)["ticket"].as_str()), (200, Some("A002")), "{answer}");
    let (_, view) = http(addr, "GET", "/api/view", "", "").await;
    assert_eq!(json(&view)["incidents"], serde_json::json!([]), "{view}");
    let (_, metrics) = http(addr, "GET", "/metrics", "", "").await;
    assert_eq!(metric(&metrics, "onestop_incidents"), 0.0, "{metrics}");
    let (status, answer) =
        http(addr, "POST", "/counter/window/1/call-next", &cookie, &format!("csrf={csrf}")).await;
    assert_eq!(status, 303, "{answer}");
    let (_, page) = http(addr, "GET", "/counter/window/1", &cookie, "").await;
    assert!(page.contains("已叫 A001"), "{page}");

    // On disk: A001, B001 and A002, each once; A001 called once.
    let id = onestop_protocol::DocId::Day { hall: hall.clone(), day };
    let events = {
        let mut store = running.store.lock().unwrap();
        let doc = store.doc(&id).unwrap().expect("today's document");
        onestop_protocol::day::read(doc, "today").unwrap().events
    };
    let issued: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            DayEvent::Issued { ticket, .. } => Some(ticket.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(issued, ["A001", "B001", "A002"]);
    let called = events.iter().filter(|e| matches!(e, DayEvent::Called { .. })).count();
    assert_eq!(called, 1, "{events:?}");
    running.stop().await.unwrap();
}
