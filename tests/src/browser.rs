//! Headless Chromium driven through chromedriver (WebDriver), for the pages' tests.
//!
//! Chromium and chromedriver are Debian's (`apt-get install chromium chromium-driver`;
//! `.ci/run` installs them). A test that needs them fails when they are missing.
//!
//! Nothing outlives a test: every browser session is closed over WebDriver before its
//! chromedriver goes (killing chromedriver alone leaves its Chromium running, reparented), then
//! chromedriver's whole process group is killed, and the driver waits until no process of its
//! browsers' profile folders is left. Each browser runs with its own profile folder named
//! [`PROFILE_PREFIX`]…, so a left-over browser can be found (`leftover_browsers`).

use fantoccini::{Client, ClientBuilder};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The start of every test browser's profile folder name (under the temporary folder).
pub const PROFILE_PREFIX: &str = "onestop-test-chromium-";

/// A running chromedriver and the browsers it started; all of them stopped on drop.
pub struct Driver {
    child: Child,
    port: u16,
    /// (WebDriver session id, profile folder) of every browser started.
    sessions: Mutex<Vec<(Option<String>, PathBuf)>>,
}

static PROFILES: AtomicUsize = AtomicUsize::new(0);

impl Drop for Driver {
    fn drop(&mut self) {
        let sessions = std::mem::take(&mut *self.sessions.lock().unwrap_or_else(|e| e.into_inner()));
        for (id, _) in &sessions {
            if let Some(id) = id {
                // Closing the session is what stops its Chromium (and its helpers) cleanly.
                let _ = delete_session(self.port, id);
            }
        }
        // Then chromedriver and anything still in its process group.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        for (_, profile) in &sessions {
            let started = Instant::now();
            loop {
                let left = processes_using(profile);
                if left.is_empty() {
                    break;
                }
                if started.elapsed() > Duration::from_secs(5) {
                    for pid in left {
                        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
                    }
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = std::fs::remove_dir_all(profile);
        }
    }
}

/// `DELETE /session/{id}` on chromedriver, blocking (drop cannot await), with short time-outs.
fn delete_session(port: u16, id: &str) -> std::io::Result<()> {
    let mut stream = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(2),
    )?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "DELETE /session/{id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    Ok(())
}

/// The processes whose command line names `profile` (a browser's profile folder).
fn processes_using(profile: &Path) -> Vec<u32> {
    let needle = profile.to_string_lossy().into_owned();
    processes_matching(|cmdline| cmdline.contains(&needle))
}

/// The processes of test browsers still running (their command line names a profile folder
/// that starts with [`PROFILE_PREFIX`]), as (pid, command line).
pub fn leftover_browsers() -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for pid in processes_matching(|cmdline| cmdline.contains(PROFILE_PREFIX)) {
        if let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            found.push((pid, String::from_utf8_lossy(&raw).replace('\0', " ")));
        }
    }
    found
}

fn processes_matching(mut matches: impl FnMut(&str) -> bool) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    let me = std::process::id();
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|raw| matches(&String::from_utf8_lossy(&raw).replace('\0', " ")))
        })
        .collect()
}

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).flat_map(|d| names.iter().map(move |n| d.join(n))).find(|p| p.exists())
}

impl Driver {
    /// Starts chromedriver on a free loopback port.
    pub fn start() -> Driver {
        let exe = find(&["chromedriver"]).expect(
            "chromedriver is not installed: `apt-get install chromium chromium-driver` (the page tests need a real browser)",
        );
        find(&["chromium", "chromium-browser"])
            .expect("chromium is not installed: `apt-get install chromium chromium-driver`");
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let child = Command::new(exe)
            .arg(format!("--port={port}"))
            // Its own process group, so that whatever it started can be stopped with it.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "chromedriver did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver { child, port, sessions: Mutex::new(Vec::new()) }
    }

    /// A new headless browser session, with its language set to `lang` ("zh-CN" or "en").
    /// It is closed when the driver is dropped, if the test has not closed it.
    pub async fn browser(&self, lang: &str) -> Client {
        let profile = std::env::temp_dir().join(format!(
            "{PROFILE_PREFIX}{}-{}",
            std::process::id(),
            PROFILES.fetch_add(1, Ordering::Relaxed)
        ));
        let mut caps = serde_json::Map::new();
        let chromium = find(&["chromium", "chromium-browser"]).expect("chromium is installed");
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900", format!("--lang={lang}"),
                         format!("--user-data-dir={}", profile.display())],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a browser session");
        let id = client.session_id().await.ok().flatten();
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).push((id, profile));
        client
    }

    /// The profile folders of the browsers this driver started.
    pub fn profiles(&self) -> Vec<PathBuf> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(_, p)| p.clone()).collect()
    }
}

/// Saves a screenshot of the current page under `target/screenshots/` for a person to look at.
pub async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("a screenshot");
    let dir = screenshots_dir();
    std::fs::create_dir_all(&dir).expect("the screenshots folder");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("the screenshot is written");
}

/// `target/screenshots` of this workspace.
pub fn screenshots_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    // target/<profile>/deps/<test> → target/screenshots
    exe.parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(|t| t.join("screenshots"))
        .expect("a target directory")
}

/// Waits until `check` holds, polling; panics with `what` after `limit`.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `check` holds on `client`'s page; on time-out, panics with the page's address
/// and text so the failure says what the browser showed.
pub async fn wait_on<F, Fut>(client: &fantoccini::Client, what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        if started.elapsed() > limit {
            let url = client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
            let body = match client.find(fantoccini::Locator::Css("body")).await {
                Ok(b) => b.text().await.unwrap_or_default(),
                Err(e) => format!("(no body: {e})"),
            };
            panic!("timed out waiting for {what}; the browser shows {url}:\n{body}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
