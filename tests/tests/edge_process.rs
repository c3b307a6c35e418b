//! The hall node as real processes: every command is a separate process that opens the store,
//! replays the day and writes durably; a node killed with SIGKILL loses no acknowledged ticket.

use onestop_engine::{Engine, HallConfig, Status};
use onestop_model::{DayEvent, HallId, TicketNo};
use onestop_protocol::{DocId, catalog, day};
use onestop_store::{Durability, Store};
use onestop_tests::{ok, run};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// The day documents in a node's store, replayed.
fn replay_days(path: &std::path::Path) -> Vec<(Engine, Vec<DayEvent>)> {
    let mut store = Store::open(path, Durability::Full).unwrap();
    let cat = catalog::read(store.doc(&DocId::Catalog).unwrap().unwrap()).unwrap();
    let config = HallConfig::from_catalog(&cat, &HallId::new("main")).unwrap();
    let mut out = Vec::new();
    for id in store.list_docs().unwrap() {
        if let DocId::Day { day: d, .. } = &id {
            let d = *d;
            let read = day::read(store.doc(&id).unwrap().unwrap(), &id.to_string()).unwrap();
            let engine = Engine::replay(config.clone(), d, &read.events).expect("the day replays");
            out.push((engine, read.events));
        }
    }
    out
}

#[test]
fn every_command_is_a_process_and_the_day_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("hall");
    let data = data.to_str().unwrap();
    let init = ok("onestop-edge", &["init", "--data", data, "--hall", "main", "--demo-catalog", "4"]);
    assert!(init.contains("node ready: hall main, 4 windows"), "{init}");
    let edge = |line: &str| {
        let mut args = vec!["do", "--data", data];
        args.extend(line.split(' '));
        ok("onestop-edge", &args)
    };
    assert!(edge("check-in 1 s001").contains("window 1 checked in by s001"));
    assert!(edge("issue registry-1").contains("issued A001"));
    let printed = edge("issue registry-1 card=20230001");
    assert!(printed.contains("issued A002") && printed.contains("打印 / print: A002"), "{printed}");
    // The same card cannot hold two tickets for one service: a clear error, exit code 2.
    let refused = run("onestop-edge", &["do", "--data", data, "issue", "registry-1", "card=20230001"]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("this card already holds ticket A002"), "{stderr}");
    assert!(edge("call 1").contains("called A001 to window 1"));
    edge("start 1");
    let finished = edge("finish 1 pending");
    assert!(finished.contains("case 20") && finished.contains("-main-A001"), "{finished}");
    assert!(edge("rate 1 5").contains("非常满意"));
    assert!(edge("issue registry-1").contains("issued A003"), "numbering carries on across processes");
    let status = ok("onestop-edge", &["status", "--data", data]);
    assert!(status.contains("3 取号 issued, 1 办结 finished"), "{status}");
    assert!(status.contains("registry-1") && status.contains("A002 A003"), "{status}");

    let days = replay_days(&dir.path().join("hall/onestop.sqlite"));
    assert_eq!(days.len(), 1);
    let (engine, events) = &days[0];
    assert_eq!(engine.tickets().len(), 3);
    assert_eq!(engine.ticket(TicketNo::new('A', 1)).unwrap().status, Status::Done);
    assert!(matches!(events.last(), Some(DayEvent::Issued { .. })));
}

#[test]
fn bad_input_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("hall");
    let data = data.to_str().unwrap();
    let catalog = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/demo/catalog.toml").to_string();
    let cases: &[(&[&str], &str)] = &[
        (&["status", "--data", data], "is this a node directory?"),
        (
            &["init", "--data", data, "--hall", "nowhere", "--catalog", &catalog],
            "the catalogue has no hall 'nowhere' (it has: main)",
        ),
        (
            &["init", "--data", data, "--hall", "main", "--catalog", "/nonexistent.toml"],
            "cannot read /nonexistent.toml",
        ),
    ];
    for (args, expected) in cases {
        let out = run("onestop-edge", args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let init = ok("onestop-edge", &["init", "--data", data, "--hall", "main", "--catalog", &catalog]);
    assert!(init.contains("hall main, 5 windows, 6 services"), "{init}");
    // A node directory is never turned into another hall's, nor cleared by the demo.
    let guarded: &[(&[&str], &str)] = &[
        (&["init", "--data", data, "--hall", "east", "--demo-catalog", "2"], "already serves hall 'main'"),
        (
            &[
                "init",
                "--data",
                data,
                "--hall",
                "main",
                "--catalog",
                &catalog,
                "--visitor-key",
                &"ab".repeat(32),
            ],
            "already has a visitor key",
        ),
        (&["demo", "--data", data], "was not made by `demo`"),
    ];
    for (args, expected) in guarded {
        let out = run("onestop-edge", args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(expected), "{args:?}");
    }
    assert!(dir.path().join("hall/onestop.sqlite").exists(), "the hall's data is still there");
    for (line, expected) in [
        ("dance 3", "unknown command 'dance'"),
        ("call 9", "there is no window 9"),
        ("call 3", "window 3 is not checked in"),
        ("check-in 3 nobody", "staff member nobody may not work at this hall's windows"),
        ("issue nope", "service 'nope' is not offered in this hall"),
        ("rate 1 7", "'7' is not a level"),
    ] {
        let mut args = vec!["do", "--data", data];
        args.extend(line.split(' '));
        let out = run("onestop-edge", &args);
        assert_eq!(out.status.code(), Some(2), "{line}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{line}: {stderr}");
    }
}

#[test]
fn a_node_killed_mid_day_loses_no_acknowledged_ticket() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("hall");
    let data_s = data.to_str().unwrap();
    ok("onestop-edge", &["init", "--data", data_s, "--hall", "main", "--demo-catalog", "8"]);
    let mut child = Command::new(onestop_tests::bin("onestop-edge"))
        .args(["simulate", "--data", data_s, "--tickets", "5000", "--hours", "8", "--echo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acknowledged = Vec::new();
    while acknowledged.len() < 200 {
        let line = lines.next().expect("the simulation prints tickets").unwrap();
        if let Some(t) = line.strip_prefix("issued ") {
            acknowledged.push(t.parse::<TicketNo>().unwrap());
        }
    }
    // SIGKILL: no destructor, no flush, no goodbye.
    child.kill().unwrap();
    for line in lines {
        if let Some(t) = line.unwrap().strip_prefix("issued ") {
            acknowledged.push(t.parse::<TicketNo>().unwrap());
        }
    }
    child.wait().unwrap();

    let path = data.join("onestop.sqlite");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    drop(conn);
    // Simulated time may cross midnight: look in every day document (ordered by day).
    let days = replay_days(&path);
    assert!(!days.is_empty());
    let stored: usize = days.iter().map(|(e, _)| e.tickets().len()).sum();
    assert!(stored >= acknowledged.len(), "{stored} stored, {} acknowledged", acknowledged.len());
    for t in &acknowledged {
        assert!(
            days.iter().any(|(e, _)| e.ticket(*t).is_some()),
            "ticket {t} was acknowledged but is not in any day document"
        );
    }
    let (engine, _) = days.last().unwrap();

    // The node starts again and numbers after the last ticket it issued.
    let last_a =
        engine.tickets().iter().filter(|t| t.no.prefix == 'A').map(|t| t.no.number).max().unwrap_or(0);
    let out = ok("onestop-edge", &["do", "--data", data_s, "issue", "registry-1"]);
    let expected = TicketNo::new('A', last_a + 1).to_string();
    assert!(out.contains(&format!("issued {expected}")), "expected {expected}: {out}");
}
