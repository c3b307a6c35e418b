//! The sync link between real processes: `onestop-cloud serve` and `onestop-edge sync`, both
//! killed with SIGKILL in the middle of a backlog and started again from their files.

use onestop_protocol::DocId;
use onestop_store::{Durability, Store};
use onestop_tests::pki::TestCa;
use onestop_tests::{bin, ok};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A child process killed with SIGKILL when dropped (also when the test fails).
struct Proc(Child);

impl Proc {
    fn spawn(name: &str, args: &[&str], log: &Path) -> Proc {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let child = Command::new(bin(name))
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .env("RUST_LOG", "info")
            .spawn()
            .unwrap();
        Proc(child)
    }
    /// SIGKILL: no destructor, no flush, no goodbye to the peer.
    fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every document of `edge` is in `cloud` with the same heads (fresh reads of both files).
fn converged(edge: &Path, cloud: &Path) -> bool {
    let (Ok(mut e), Ok(mut c)) =
        (Store::open(edge, Durability::Normal), Store::open(cloud, Durability::Normal))
    else {
        return false;
    };
    let Ok(ids) = e.list_docs() else { return false };
    ids.len() > 1
        && ids.iter().all(|id| {
            let a = e.doc(id).ok().flatten().map(|d| {
                let mut h = d.get_heads();
                h.sort();
                h
            });
            let b = c.doc(id).ok().flatten().map(|d| {
                let mut h = d.get_heads();
                h.sort();
                h
            });
            a.is_some() && a == b
        })
}

fn has(store: &Path, pred: impl Fn(&DocId) -> bool) -> bool {
    Store::open(store, Durability::Normal)
        .ok()
        .and_then(|s| s.list_docs().ok())
        .is_some_and(|ids| ids.iter().any(pred))
}

use onestop_tests::wait;

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn cloud_and_edge_processes_killed_mid_sync_still_converge() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = TestCa::new("Campus CA");
    let [ca_pem, cloud_pem, cloud_key] = ca.write(d, "cloud", &ca.server("cloud.onestop.test"));
    let [_, node_pem, node_key] = ca.write(d, "node", &ca.node("main", "main-pi-1"));
    let catalog = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/demo/catalog.toml");
    let cloud_data = d.join("cloud");
    let edge_data = d.join("edge");
    let (cloud_db, edge_db) = (cloud_data.join("cloud.sqlite"), edge_data.join("onestop.sqlite"));
    let (cloud_log, edge_log) = (d.join("cloud.log"), d.join("edge.log"));
    let logs = [cloud_log.clone(), edge_log.clone()];

    let out = ok("onestop-cloud", &["init", "--data", cloud_data.to_str().unwrap(), "--catalog", catalog]);
    assert!(out.contains("catalogue published: 1 halls"), "{out}");
    let port = free_udp_port();
    let config = d.join("cloud.toml");
    std::fs::write(
        &config,
        format!(
            "data = \"cloud\"\nlisten = \"127.0.0.1:{port}\"\nca = {:?}\ncert = {:?}\nkey = {:?}\n",
            ca_pem, cloud_pem, cloud_key
        ),
    )
    .unwrap();
    let serve = || Proc::spawn("onestop-cloud", &["serve", "--config", config.to_str().unwrap()], &cloud_log);
    let cloud = serve();

    let cloud_addr = format!("127.0.0.1:{port}");
    let init = ok(
        "onestop-edge",
        &[
            "init",
            "--data",
            edge_data.to_str().unwrap(),
            "--hall",
            "main",
            "--cloud",
            &cloud_addr,
            "--server-name",
            "cloud.onestop.test",
            "--ca",
            ca_pem.to_str().unwrap(),
            "--cert",
            node_pem.to_str().unwrap(),
            "--key",
            node_key.to_str().unwrap(),
        ],
    );
    assert!(init.contains("the catalogue comes from the cloud"), "{init}");
    let sync = || Proc::spawn("onestop-edge", &["sync", "--data", edge_data.to_str().unwrap()], &edge_log);

    // First contact: the node takes the cloud's catalogue.
    let edge = sync();
    wait(
        "the catalogue reaches the node",
        Duration::from_secs(60),
        || has(&edge_db, |id| *id == DocId::Catalog),
        &logs,
    );
    edge.kill();

    // Offline, the hall works for two days: a backlog of tickets, calls and ratings.
    let out = ok(
        "onestop-edge",
        &["simulate", "--data", edge_data.to_str().unwrap(), "--tickets", "3000", "--hours", "48"],
    );
    assert!(out.contains("issued"), "{out}");

    // Back online; both processes die in the middle of the backlog and come back.
    let edge = sync();
    wait(
        "the backlog starts arriving",
        Duration::from_secs(60),
        || has(&cloud_db, |id| matches!(id, DocId::Day { .. })),
        &logs,
    );
    edge.kill();
    cloud.kill();
    eprintln!(
        "killed with the sync {}",
        if converged(&edge_db, &cloud_db) { "already complete" } else { "half done" }
    );
    let _cloud = serve();
    let _edge = sync();
    wait("everything converges", Duration::from_secs(120), || converged(&edge_db, &cloud_db), &logs);
}
