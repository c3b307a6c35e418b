//! A hall node process (`onestop-edge run`) with simulated devices, for end-to-end tests.

use crate::{bin, ok};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running hall; stopped with SIGTERM (or killed) on drop.
pub struct HallProcess {
    pub child: Child,
    pub addr: SocketAddr,
    pub data: PathBuf,
}

impl HallProcess {
    /// Makes a hall of `windows` windows in `dir/hall` and runs it with a simulated printer
    /// (receipts in `dir/receipts`), simulated card readers and a rating keypad at window 1,
    /// and `extra` appended to its configuration.
    pub fn start(dir: &Path, windows: u16, extra: &str) -> HallProcess {
        let data = dir.join("hall");
        ok(
            "onestop-edge",
            &[
                "init",
                "--data",
                data.to_str().unwrap(),
                "--hall",
                "main",
                "--demo-catalog",
                &windows.to_string(),
            ],
        );
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let config = format!(
            r#"data = "hall"
listen = "127.0.0.1:{port}"
managers = ["s001"]
simulate = true
website = "https://onestop.example.edu"
[printer]
kind = "twin"
dir = "receipts"
{inputs}
{extra}
"#,
            inputs = onestop_edge::hall::config::SIMULATED_INPUTS
        );
        let path = dir.join("edge.toml");
        std::fs::write(&path, config).expect("the configuration is written");
        let child = Command::new(bin("onestop-edge"))
            .args(["run", "--config", path.to_str().unwrap()])
            .env("RUST_LOG", "info,tower_http=warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("edge.log")).expect("a log file"))
            .spawn()
            .expect("onestop-edge runs");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let started = Instant::now();
        loop {
            if let Ok((200, _)) = get(addr, "/healthz") {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the hall did not start; its log:\n{}",
                std::fs::read_to_string(dir.join("edge.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        HallProcess { child, addr, data }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the process as systemd would (SIGTERM) and waits for it.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let started = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return s;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "the hall did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for HallProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 request on loopback: (status, body).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    content_type: &str,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    request(addr, "GET", path, "", "text/plain")
}

pub fn post_form(addr: SocketAddr, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    request(addr, "POST", path, body, "application/x-www-form-urlencoded")
}

/// Issues an anonymous ticket through the kiosk's API; returns its number.
pub fn issue_ticket(addr: SocketAddr, service: &str) -> String {
    let (status, body) =
        request(addr, "POST", "/api/tickets", &format!("{{\"service\":\"{service}\"}}"), "application/json")
            .unwrap();
    assert_eq!(status, 200, "a ticket is issued: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["ticket"].as_str().unwrap().to_string()
}

/// A form request with a cookie: (status, the whole answer with its headers).
pub fn with_cookie(addr: SocketAddr, method: &str, path: &str, cookie: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, out)
}

/// The staff session cookie an answer sets (`onestop_staff=…`), if any.
pub fn staff_cookie(answer: &str) -> Option<String> {
    let line = answer.lines().find(|l| l.to_lowercase().starts_with("set-cookie: onestop_staff="))?;
    Some(line["set-cookie: ".len()..].split(';').next()?.to_string())
}

/// Does `action` (call-next, start, finish-immediate, …) at `window`'s counter as the staff
/// member whose session `cookie` is, with the page's CSRF token; panics unless it redirects.
pub fn counter_action(addr: SocketAddr, cookie: &str, window: u16, action: &str) {
    let (_, page) = with_cookie(addr, "GET", &format!("/counter/window/{window}"), cookie, "");
    let (status, answer) = with_cookie(
        addr,
        "POST",
        &format!("/counter/window/{window}/{action}"),
        cookie,
        &format!("csrf={}", csrf(&page)),
    );
    assert_eq!(status, 303, "{action}: {answer}");
}

/// The CSRF token in a staff page.
pub fn csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    page[at..at + 32].to_string()
}

/// Window 1 of the hall at `addr`, its staff logged in with `cookie`, calls the next ticket,
/// starts it and finishes it as a pending case; the case's number and its verification code,
/// as the window announces them ("已登记办件 20261126-main-B001 · 查询码 K7QM2P / …").
pub fn register_pending_case(addr: SocketAddr, cookie: &str) -> (String, String) {
    for action in ["call-next", "start", "finish-pending"] {
        let (_, page) = with_cookie(addr, "GET", "/counter/window/1", cookie, "");
        let (status, answer) = with_cookie(
            addr,
            "POST",
            &format!("/counter/window/1/{action}"),
            cookie,
            &format!("csrf={}", csrf(&page)),
        );
        assert_eq!(status, 303, "{action}: {answer}");
    }
    let (_, page) = with_cookie(addr, "GET", "/counter/window/1", cookie, "");
    let message = page.split("已登记办件 ").nth(1).expect("the window announces the case");
    let number = message.split_whitespace().next().expect("a case number").to_string();
    let code = message
        .split("查询码 ")
        .nth(1)
        .and_then(|m| m.split_whitespace().next())
        .expect("a code")
        .to_string();
    (number, code)
}
