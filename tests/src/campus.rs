//! A provisioned campus for end-to-end tests: a campus CA made by `onestop-provision`, a
//! cloud process (`onestop-cloud serve`) with its enrolment desk, and helpers to make join
//! tokens and enrol nodes through the real token → CSR → certificate path; optionally the
//! cloud's public website.

use crate::{bin, ok, run};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const PASSPHRASE: &str = "correct horse battery";
pub const SERVER_NAME: &str = "localhost";

/// A running cloud with its CA; the process is killed on drop.
pub struct Campus {
    pub dir: PathBuf,
    pub ca_dir: PathBuf,
    pub cloud_data: PathBuf,
    pub addr: SocketAddr,
    /// The public website's address, when the cloud serves one ([`CloudOptions::web`]).
    pub web: Option<SocketAddr>,
    pub cloud: Child,
}

/// How a test's cloud is set up.
#[derive(Debug, Clone)]
pub struct CloudOptions {
    /// The node certificates' lifetime.
    pub cert_seconds: u64,
    /// Serve the public website on a free loopback TCP port.
    pub web: bool,
    /// The catalogue file the cloud publishes (default: deploy/demo/catalog.toml).
    pub catalog: Option<PathBuf>,
}

impl Default for CloudOptions {
    fn default() -> CloudOptions {
        CloudOptions { cert_seconds: 30 * 86_400, web: false, catalog: None }
    }
}

/// The demo catalogue in `dir/catalog.toml`, bookable all day every day in 5-minute slots,
/// with `places` places a slot if given (the demo's own otherwise).
pub fn bookable_catalog(dir: &Path, places: Option<u32>) -> PathBuf {
    let demo =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/demo/catalog.toml")).unwrap();
    let mut text = demo
        .replace("periods = [\"08:30-11:30\", \"14:00-17:00\"]", "periods = [\"00:00-24:00\"]")
        .replace("slot_minutes = 30", "slot_minutes = 5")
        .replace("weekends = false", "weekends = true");
    assert_ne!(text, demo, "the demo catalogue has a [hall.booking] table");
    if let Some(places) = places {
        text = text.replace("capacity = 4", &format!("capacity = {places}"));
        assert_eq!(
            text.matches(&format!("capacity = {places}")).count(),
            1,
            "the demo's [hall.booking] changed"
        );
    }
    let path = dir.join("catalog.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

impl Campus {
    /// Makes the CA and the cloud (catalogue: deploy/demo/catalog.toml) in `dir` and starts
    /// the cloud on a free loopback UDP port.
    pub fn start(dir: &Path) -> Campus {
        Campus::start_with(dir, 30 * 86_400)
    }

    /// As [`Campus::start`], with node certificates living `cert_seconds` seconds (a few:
    /// they expire at once, as after a long holiday).
    pub fn start_with(dir: &Path, cert_seconds: u64) -> Campus {
        Campus::start_with_options(dir, CloudOptions { cert_seconds, ..CloudOptions::default() })
    }

    /// As [`Campus::start`], set up as `options` say.
    pub fn start_with_options(dir: &Path, options: CloudOptions) -> Campus {
        let CloudOptions { cert_seconds, web, catalog } = options;
        let ca_dir = dir.join("ca");
        let pass = dir.join("passphrase");
        std::fs::write(&pass, PASSPHRASE).unwrap();
        ok("onestop-provision", &["ca-init", "--dir", s(&ca_dir), "--passphrase-file", s(&pass)]);
        let cert = dir.join("cloud.pem");
        ok(
            "onestop-provision",
            &[
                "server-cert",
                "--ca",
                s(&ca_dir),
                "--passphrase-file",
                s(&pass),
                "--name",
                SERVER_NAME,
                "--out",
                s(&cert),
            ],
        );
        let cloud_data = dir.join("cloud");
        let catalog = catalog
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/demo/catalog.toml"));
        ok("onestop-cloud", &["init", "--data", s(&cloud_data), "--catalog", s(&catalog)]);
        let port = UdpSocket::bind("127.0.0.1:0").and_then(|u| u.local_addr()).unwrap().port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let web = web.then(|| {
            let port =
                std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).unwrap().port();
            SocketAddr::from(([127, 0, 0, 1], port))
        });
        let web_line = web.map(|w| format!("web = \"{w}\"\n")).unwrap_or_default();
        let config = dir.join("cloud.toml");
        std::fs::write(
            &config,
            format!(
                "data = \"cloud\"\nlisten = \"{addr}\"\nca = \"ca/ca.pem\"\ncert = \"cloud.pem\"\nkey = \"cloud.key\"\n{web_line}\
                 [enroll]\nca = \"ca\"\npassphrase_file = \"passphrase\"\nnode_cert_seconds = {cert_seconds}\n"
            ),
        )
        .unwrap();
        let log = dir.join("cloud.log");
        let cloud = Command::new(bin("onestop-cloud"))
            .args(["serve", "--config", s(&config)])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("onestop-cloud runs");
        let started = Instant::now();
        let ready = |log: &str| {
            log.contains("Serving the halls' sync link")
                && (web.is_none() || log.contains("Serving the public website"))
        };
        while !ready(&std::fs::read_to_string(&log).unwrap_or_default()) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the cloud did not start:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Campus { dir: dir.to_path_buf(), ca_dir, cloud_data, addr, web, cloud }
    }

    /// A page of the cloud's website.
    pub fn web_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.web.expect("a cloud started with a website"))
    }

    /// Runs `onestop-provision` against this cloud's registry.
    pub fn provision(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--cloud-data", s(&self.cloud_data)]);
        run("onestop-provision", &all)
    }

    /// A new join token (extra arguments: `--hours N`, `--require-approval`).
    pub fn token(&self, hall: &str, node: &str, extra: &[&str]) -> String {
        let mut args = vec!["token", "--hall", hall, "--node", node];
        args.extend(extra);
        let out = self.provision(&args);
        assert!(out.status.success(), "token: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// The arguments of `onestop-edge enroll` for a node in `data` (without the token).
    pub fn enroll_args(&self, data: &Path) -> Vec<String> {
        [
            "enroll",
            "--data",
            s(data),
            "--cloud",
            &self.addr.to_string(),
            "--server-name",
            SERVER_NAME,
            "--ca",
            s(&self.ca_dir.join("ca.pem")),
            "--poll",
            "1",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    }

    /// Starts `onestop-edge enroll` for `data` with `token` and `hardware` and leaves it
    /// running (it waits while the node's approval is pending).
    pub fn enroll_in_background(&self, data: &Path, token: String, hardware: &str) -> Child {
        let mut args = self.enroll_args(data);
        args.extend(["--token".into(), token, "--hardware".into(), hardware.into()]);
        Command::new(bin("onestop-edge"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Makes a back-office account on this cloud (`onestop-cloud account add`); returns its
    /// password. `halls` is comma-separated ("" for every hall).
    pub fn account(&self, login: &str, role: &str, halls: &str) -> String {
        let password = format!("{login}-password-1");
        let file = self.dir.join(format!("{login}.password"));
        std::fs::write(&file, &password).unwrap();
        ok(
            "onestop-cloud",
            &[
                "account",
                "add",
                "--data",
                s(&self.cloud_data),
                "--login",
                login,
                "--name",
                login,
                "--role",
                role,
                "--halls",
                halls,
                "--password-file",
                s(&file),
            ],
        );
        password
    }

    /// Enrols node `node` of `hall` in `dir/<node>` and runs its hall (`onestop-edge run`,
    /// simulated printer, the cloud's website in its QR codes), once it is online with the
    /// cloud's catalogue.
    pub fn run_hall(&self, dir: &Path, hall: &str, node: &str) -> crate::hall::HallProcess {
        let data = dir.join(node);
        let token = self.token(hall, node, &[]);
        let out = self.enroll(&data, &token, &format!("serial={node}"));
        assert!(out.status.success(), "enrolment: {}", String::from_utf8_lossy(&out.stderr));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = data.join("edge.toml");
        let website = self.web.map(|w| format!("website = \"http://{w}\"\n")).unwrap_or_default();
        std::fs::write(
            &config,
            format!(
                "data = \".\"\nlisten = \"127.0.0.1:{port}\"\n{website}[printer]\nkind = \"twin\"\ndir = \"receipts\"\n"
            ),
        )
        .unwrap();
        self.restart_hall(&data, format!("127.0.0.1:{port}").parse().unwrap(), &[])
    }

    /// Runs the enrolled node in `data` again (made by [`Campus::run_hall`], stopped since) on
    /// `addr`, with `env` added (e.g. [`crate::faketime`]); returns once it is online with the
    /// cloud's catalogue.
    pub fn restart_hall(
        &self,
        data: &Path,
        addr: SocketAddr,
        env: &[(String, String)],
    ) -> crate::hall::HallProcess {
        let config = data.join("edge.toml");
        let mut command = Command::new(bin("onestop-edge"));
        command.envs(env.iter().cloned());
        let log = std::fs::OpenOptions::new().create(true).append(true).open(data.join("edge.log")).unwrap();
        let child = command
            .args(["run", "--config", s(&config)])
            .env("RUST_LOG", "info,tower_http=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let hall = crate::hall::HallProcess { child, addr, data: data.to_path_buf() };
        let started = Instant::now();
        while !crate::hall::get(hall.addr, "/api/view")
            .is_ok_and(|(st, b)| st == 200 && b.contains("\"online\":true") && b.contains("\"services\":[{"))
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the hall did not come online with a catalogue:\n{}",
                std::fs::read_to_string(data.join("edge.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        hall
    }

    /// Stops the cloud (SIGKILL) and starts it again from its files with `env` added (e.g.
    /// [`crate::faketime`]); returns once it serves the sync link again (and its website, when
    /// it has one).
    pub fn restart_cloud(&mut self, env: &[(String, String)]) {
        let _ = self.cloud.kill();
        let _ = self.cloud.wait();
        let config = self.dir.join("cloud.toml");
        let mut command = Command::new(bin("onestop-cloud"));
        command.envs(env.iter().cloned());
        let log = self.dir.join("cloud.log");
        let serving = |line: &str| std::fs::read_to_string(&log).unwrap_or_default().matches(line).count();
        let before = serving("Serving the halls' sync link");
        let web_before = serving("Serving the public website");
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        self.cloud = command
            .args(["serve", "--config", s(&config)])
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("onestop-cloud runs");
        let started = Instant::now();
        while serving("Serving the halls' sync link") <= before
            || (self.web.is_some() && serving("Serving the public website") <= web_before)
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the cloud did not start again:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A row of the public statistics' CSV `table` (`halls`, `daily`) whose first column is
    /// `key`, by column name; `None` while there is none.
    pub fn stats_row(&self, table: &str, key: &str) -> Option<std::collections::HashMap<String, String>> {
        let web = self.web.expect("a cloud started with a website");
        let (status, body) = crate::hall::get(web, &format!("/stats?format=csv&table={table}")).ok()?;
        if status != 200 {
            return None;
        }
        let mut lines = body.trim_start_matches('\u{feff}').split("\r\n");
        let header: Vec<String> = lines.next()?.split(',').map(str::to_string).collect();
        let row = lines.find(|l| l.starts_with(&format!("{key},")))?;
        Some(header.into_iter().zip(row.split(',').map(str::to_string)).collect())
    }

    /// Enrols a node in `data` with `token`, as the node's first boot does.
    pub fn enroll(&self, data: &Path, token: &str, hardware: &str) -> Output {
        let mut args = self.enroll_args(data);
        args.extend(["--token".into(), token.into(), "--hardware".into(), hardware.into()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run("onestop-edge", &args)
    }
}

impl Drop for Campus {
    fn drop(&mut self) {
        let _ = self.cloud.kill();
        let _ = self.cloud.wait();
    }
}
