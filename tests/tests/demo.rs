//! The README's first command: `onestop-demo` starts a cloud and two halls enrolled through
//! the real token path, serves their pages, and leaves nothing running when stopped.

use onestop_tests::bin;
use onestop_tests::hall::{get, with_cookie};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn the_demo_runs_a_cloud_and_two_halls_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        // Three consecutive free ports: two halls and the website.
        let mut p = 0;
        for _ in 0..50 {
            let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let candidate = a.local_addr().unwrap().port();
            if std::net::TcpListener::bind(("127.0.0.1", candidate + 1)).is_ok()
                && std::net::TcpListener::bind(("127.0.0.1", candidate + 2)).is_ok()
            {
                p = candidate;
                break;
            }
        }
        assert_ne!(p, 0, "three free ports");
        p
    };
    let mut child = Command::new(bin("onestop-demo"))
        .args([
            "--data",
            dir.path().join("demo").to_str().unwrap(),
            "--port",
            &port.to_string(),
            "--visitors",
            "--history",
            "3",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    let started = Instant::now();
    while !printed.contains("Ctrl-C") {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            panic!("the demo ended early:\n{printed}");
        }
        printed.push_str(&line);
        assert!(started.elapsed() < Duration::from_secs(120), "the demo did not start:\n{printed}");
    }
    assert!(printed.contains("hall main enrolled") && printed.contains("hall east enrolled"), "{printed}");
    for p in [port, port + 1] {
        let addr = format!("127.0.0.1:{p}").parse().unwrap();
        assert!(
            printed.contains(&format!("http://127.0.0.1:{p}/kiosk")),
            "the addresses are printed:\n{printed}"
        );
        let started = Instant::now();
        loop {
            let (status, body) = get(addr, "/api/view").unwrap();
            if status == 200 && body.contains("\"online\":true") {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "hall on port {p} never came online: {body}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    // The campus website shows both halls.
    let site = format!("127.0.0.1:{}", port + 2).parse().unwrap();
    assert!(printed.contains(&format!("http://{site}/")), "the website's address is printed:\n{printed}");
    let (status, home) = get(site, "/").unwrap();
    assert_eq!(status, 200);
    assert!(home.contains("东区服务大厅") && home.contains("一站式服务大厅"), "{home}");
    // A short history was simulated in each hall before it opened.
    assert!(printed.contains("hall main history:") && printed.contains("hall east history:"), "{printed}");
    // The back office: its address and the administrator's password are printed, and they log in.
    let line = printed.lines().find(|l| l.contains("/office")).expect("the back office's address is printed");
    assert!(line.contains(&format!("http://{site}/office")), "{line}");
    let password = line.split_whitespace().last().unwrap();
    let (status, page) = with_cookie(site, "GET", "/office/login", "", "");
    assert_eq!(status, 200);
    let cookie = page
        .lines()
        .find_map(|l| {
            l.to_lowercase()
                .starts_with("set-cookie: csrf=")
                .then(|| l[12..].split(';').next().unwrap().to_string())
        })
        .expect("the login form's cookie");
    let token = &cookie["csrf=".len()..];
    let (status, answer) = with_cookie(
        site,
        "POST",
        "/office/login",
        &cookie,
        &format!("csrf={token}&login=admin&password={password}"),
    );
    assert_eq!(status, 303, "{answer}");
    assert!(answer.to_lowercase().contains("set-cookie: office="), "{answer}");
    // Ctrl-C: everything stops, and the ports are free again.
    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the demo did not stop");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "a clean stop: {status}");
    for p in [port, port + 1, port + 2] {
        assert!(std::net::TcpListener::bind(("127.0.0.1", p)).is_ok(), "port {p} is free after the demo");
    }
}
