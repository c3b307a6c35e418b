//! Headless Chromium driven through chromedriver (WebDriver), for the pages' tests.
//!
//! Chromium and chromedriver are Debian's (`apt-get install chromium chromium-driver`;
//! `.ci/run` installs them). A test that needs them fails when they are missing.

use fantoccini::{Client, ClientBuilder};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running chromedriver; killed on drop.
pub struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "chromedriver did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver { child, port }
    }

    /// A new headless browser session, with its language set to `lang` ("zh-CN" or "en").
    pub async fn browser(&self, lang: &str) -> Client {
        let mut caps = serde_json::Map::new();
        let chromium = find(&["chromium", "chromium-browser"]).expect("chromium is installed");
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900", format!("--lang={lang}")],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a browser session")
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
