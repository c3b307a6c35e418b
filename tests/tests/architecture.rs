//! ARCHITECTURE.md's layout rules, checked from `cargo metadata`: the pure crates (the model,
//! the queue engine, the credentials) never gain IO dependencies, provisioning needs neither
//! QUIC nor Automerge, and the hall and the cloud never depend on each other.

use std::collections::{BTreeMap, BTreeSet};

/// Every package's normal (non-dev, non-build) dependencies, by name, from the resolved graph.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // The host's graph only: other platforms' crates (never built here) need not be fetched.
    let host = std::process::Command::new("rustc").arg("-vV").output().expect("rustc runs");
    let host = String::from_utf8_lossy(&host.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("rustc names its host");
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline", "--filter-platform", &host])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("cargo metadata's JSON");
    let name_of: BTreeMap<String, String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap().to_string(), p["name"].as_str().unwrap().to_string()))
        .collect();
    let mut g = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let me = name_of[node["id"].as_str().unwrap()].clone();
        let deps: BTreeSet<String> = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null()))
            .map(|d| name_of[d["pkg"].as_str().unwrap()].clone())
            .collect();
        g.entry(me).or_insert_with(BTreeSet::new).extend(deps);
    }
    g
}

/// Everything `root` pulls in for its build (not its tests).
fn closure(g: &BTreeMap<String, BTreeSet<String>>, root: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![root.to_string()];
    while let Some(p) = todo.pop() {
        for d in g.get(&p).into_iter().flatten() {
            if seen.insert(d.clone()) {
                todo.push(d.clone());
            }
        }
    }
    seen
}

fn assert_none(g: &BTreeMap<String, BTreeSet<String>>, krate: &str, banned: &[&str]) {
    assert!(g.contains_key(krate), "{krate} is in the workspace");
    let deps = closure(g, krate);
    let found: Vec<&&str> = banned.iter().filter(|b| deps.contains(**b)).collect();
    assert!(found.is_empty(), "{krate} must not depend on {found:?} (ARCHITECTURE.md, code map)");
}

const IO: &[&str] =
    &["tokio", "rusqlite", "quinn", "axum", "hyper", "evdev", "serialport", "automerge", "maud", "mio"];

#[test]
fn the_pure_crates_stay_pure_and_the_hall_and_the_cloud_stay_apart() {
    let g = graph();
    assert_none(&g, "onestop-model", IO);
    assert_none(&g, "onestop-engine", IO);
    assert_none(&g, "onestop-credentials", IO);
    assert_none(
        &g,
        "onestop-provision",
        &["quinn", "automerge", "tokio", "onestop-protocol", "onestop-store", "onestop-link"],
    );
    // The protocol is pure: documents, codecs, frames and the session, no storage or network.
    assert_none(
        &g,
        "onestop-protocol",
        &["rusqlite", "quinn", "tokio", "axum", "onestop-store", "onestop-link"],
    );
    // The store is SQLite and the protocol, no network.
    assert_none(&g, "onestop-store", &["quinn", "axum", "tokio", "onestop-link"]);
    assert_none(&g, "onestop-edge", &["onestop-cloud", "onestop-provision"]);
    assert_none(&g, "onestop-cloud", &["onestop-edge"]);
    // The engine sees the model and nothing else of ours.
    let ours: Vec<String> =
        closure(&g, "onestop-engine").into_iter().filter(|d| d.starts_with("onestop-")).collect();
    assert_eq!(ours, ["onestop-model"]);
}

/// The Rust sources under `dir` (relative to the workspace), as (path, text).
fn sources(dir: &str) -> Vec<(String, String)> {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let mut out = Vec::new();
    let mut todo = vec![root.join(dir)];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "target") {
                    todo.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    assert!(!out.is_empty(), "{dir} has Rust sources");
    out
}

/// Lines of `text` that use `what` in code (not in a comment).
fn uses(text: &str, what: &str) -> Vec<String> {
    text.lines()
        .filter(|l| {
            let code = l.split("//").next().unwrap_or("");
            code.contains(what)
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn only_the_clock_reads_the_system_clock() {
    let mut found = Vec::new();
    for dir in ["sync", "edge", "cloud", "provisioning", "deploy", "tests"] {
        for (path, text) in sources(dir) {
            if path.ends_with("sync/model/src/clock.rs") || path.ends_with("tests/tests/architecture.rs") {
                continue;
            }
            for what in ["SystemTime::now()", "UnixTime::now()"] {
                for l in uses(&text, what) {
                    found.push(format!("{path}: {}", l.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "read the injected Clock (SystemClock at a binary's edge) instead:\n{}",
        found.join("\n")
    );
    // The engine takes no clock at all: its time comes with each command.
    for (path, text) in sources("edge/engine") {
        assert!(uses(&text, "Clock").is_empty(), "{path} reads a clock");
    }
}

#[test]
fn the_clouds_modules_keep_to_their_layers() {
    // The core holds the rules: no HTTP, no pages.
    for (path, text) in sources("cloud/src/core") {
        for what in ["axum", "maud", "crate::web", "crate::office", "crate::ui", "crate::app", "crate::stats"]
        {
            assert!(uses(&text, what).is_empty(), "{path} uses {what}: the core has no HTTP and no pages");
        }
    }
    // The statistics' projection and queries: no pages either.
    for (path, text) in sources("cloud/src/stats") {
        if path.ends_with("tests.rs") {
            continue;
        }
        for what in ["axum", "crate::web", "crate::office", "crate::ui"] {
            assert!(uses(&text, what).is_empty(), "{path} uses {what}");
        }
    }
    // The public website and the back office never import one another.
    for (dir, other) in [("cloud/src/web", "crate::office"), ("cloud/src/office", "crate::web")] {
        for (path, text) in sources(dir) {
            assert!(uses(&text, other).is_empty(), "{path} uses {other}");
        }
    }
    // What pages share does not reach back into the pages.
    for (path, text) in sources("cloud/src/ui") {
        for what in ["crate::web", "crate::office"] {
            assert!(uses(&text, what).is_empty(), "{path} uses {what}");
        }
    }
}
