//! Helpers for the end-to-end tests: finding the workspace's binaries and running them.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Mutex;

static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The path of a workspace binary (`onestop-edge`, …; each is the only binary of the package
/// of the same name) in this test run's target directory.
/// The first call in a test process runs `cargo build` for it, so a test never runs a binary
/// older than the code (cargo does nothing when it is fresh).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe.parent().and_then(|d| d.parent()).expect("a target directory").to_path_buf();
    let path = dir.join(name);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == name) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let release = dir.file_name().is_some_and(|n| n == "release");
        let mut build = Command::new(cargo);
        build.args(["build", "-p", name, "--bin", name]);
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "could not build {name}");
        built.push(name.to_string());
    }
    assert!(path.exists(), "{} is missing after the build", path.display());
    path
}

/// Runs a binary with arguments and returns its output (whatever its exit status).
pub fn run(name: &str, args: &[&str]) -> Output {
    Command::new(bin(name)).args(args).output().unwrap_or_else(|e| panic!("cannot run {name}: {e}"))
}

/// Runs a binary that must succeed; returns its standard output.
pub fn ok(name: &str, args: &[&str]) -> String {
    let out = run(name, args);
    assert!(
        out.status.success(),
        "{name} {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The environment that runs a program with its wall clock at `at` (UTC, ticking on from
/// there) and its monotonic clock untouched: Debian's libfaketime (`apt install faketime`),
/// preloaded into the program itself (the `faketime` command would run it as a child, which
/// a test's signals would miss).
pub fn faketime(at: onestop_model::Timestamp) -> Vec<(String, String)> {
    use onestop_model::clock::Clock;
    let lib = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib"]
        .iter()
        .map(|d| format!("{d}/faketime/libfaketime.so.1"))
        .find(|p| std::path::Path::new(p).exists())
        .expect("libfaketime is installed (apt install faketime; scripts/test does)");
    let offset_s = (at.0 - onestop_model::clock::SystemClock.now().0) / 1000;
    vec![
        ("LD_PRELOAD".into(), lib),
        ("FAKETIME".into(), format!("{offset_s:+}")),
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
    ]
}

/// Waits until `f` holds, checking every 50 ms; after `limit`, prints `logs` and fails
/// saying what was awaited.
pub fn wait(what: &str, limit: std::time::Duration, mut f: impl FnMut() -> bool, logs: &[PathBuf]) {
    let start = std::time::Instant::now();
    while !f() {
        if start.elapsed() > limit {
            for l in logs {
                eprintln!("--- {}:\n{}", l.display(), std::fs::read_to_string(l).unwrap_or_default());
            }
            panic!("timed out after {limit:?} waiting for: {what}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

pub mod browser;
pub mod campus;
pub mod days;
pub mod fuzz;
pub mod hall;
pub mod kill_loop;
pub mod net;
pub mod pki;
pub mod proxy;
