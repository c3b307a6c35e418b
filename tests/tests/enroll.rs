//! Enrolment end to end on loopback, with real processes: campus CA → cloud → join token →
//! the node makes its key and sends a CSR → certificate bound to its hall → the hall runs and
//! syncs (its catalogue comes from the cloud). Refusals, approval, renewal (also after
//! expiry, by the device key), revocation and the re-flashed card.

use onestop_tests::campus::Campus;
use onestop_tests::hall::get;
use onestop_tests::{bin, ok};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn tokens_certificates_approval_renewal_revocation() {
    let dir = tempfile::tempdir().unwrap();
    let campus = Campus::start(dir.path());

    // A token: the node enrols, with a key made on the device.
    let token = campus.token("main", "main-pi-1", &[]);
    let node = dir.path().join("node1");
    let out = campus.enroll(&node, &token, "serial=0001");
    assert!(out.status.success(), "enrolment: {}", text(&out));
    assert!(text(&out).contains("device id"), "the device id is shown: {}", text(&out));
    let node_toml = std::fs::read_to_string(node.join("node.toml")).unwrap();
    assert!(node_toml.contains("hall = \"main\""), "{node_toml}");
    let key_mode = std::fs::metadata(node.join("node.key")).unwrap();
    #[cfg(unix)]
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&key_mode.permissions()) & 0o777, 0o600);

    // The same token again, from another card: refused, and says why.
    let other = dir.path().join("node-x");
    let again = campus.enroll(&other, &token, "serial=0009");
    assert!(!again.status.success());
    assert!(text(&again).contains("already used"), "{}", text(&again));
    // An expired token; a made-up token; a name taken in another hall.
    let expired = campus.token("main", "main-pi-9", &["--hours", "0"]);
    std::thread::sleep(Duration::from_millis(1100));
    let out = campus.enroll(&other, &expired, "serial=0009");
    assert!(text(&out).contains("expired"), "{}", text(&out));
    let out = campus.enroll(&other, "ostk_aaaaaaaaaaaaaaaaaaaaaaaaaa", "serial=0009");
    assert!(!out.status.success() && text(&out).contains("not known"), "{}", text(&out));
    let out = campus.provision(&["token", "--hall", "east", "--node", "main-pi-1"]);
    assert!(!out.status.success(), "a node name belongs to one hall: {}", text(&out));

    // The node runs its hall: the catalogue arrives over the sync link.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = node.join("edge.toml");
    std::fs::write(&config, format!("data = \".\"\nlisten = \"127.0.0.1:{port}\"\n")).unwrap();
    let mut hall = Command::new(bin("onestop-edge"))
        .args(["run", "--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("edge.log")).unwrap())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    eventually("the hall running on the cloud's catalogue", Duration::from_secs(60), || {
        get(addr, "/api/view").is_ok_and(|(s, b)| s == 200 && b.contains("\"online\":true"))
    });

    // The inventory hears from the running node: its version, when it was last seen.
    eventually("the node's report in the inventory", Duration::from_secs(30), || {
        let inventory = text(&campus.provision(&["nodes"]));
        inventory.lines().any(|l| {
            l.starts_with("main-pi-1") && l.contains(env!("CARGO_PKG_VERSION")) && l.contains("active")
        })
    });

    // Renewal over the authenticated link: a new certificate, same key.
    let before = std::fs::read_to_string(node.join("node.pem")).unwrap();
    let out =
        Command::new(bin("onestop-edge")).args(["renew", "--data", node.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "renewal: {}", text(&out));
    assert_ne!(std::fs::read_to_string(node.join("node.pem")).unwrap(), before, "a new certificate");

    // Revocation takes effect at once: the running hall is cut off, and keeps working.
    let out = campus.provision(&["revoke", "--node", "main-pi-1"]);
    assert!(out.status.success(), "{}", text(&out));
    eventually("the hall cut off", Duration::from_secs(20), || {
        get(addr, "/api/view").is_ok_and(|(_, b)| b.contains("\"online\":false"))
    });
    let (status, _) = onestop_tests::hall::request(
        addr,
        "POST",
        "/api/tickets",
        "{\"service\":\"transcript\"}",
        "application/json",
    )
    .unwrap();
    assert_eq!(status, 200, "an offline hall still issues tickets");
    let out =
        Command::new(bin("onestop-edge")).args(["renew", "--data", node.to_str().unwrap()]).output().unwrap();
    assert!(
        !out.status.success() && text(&out).contains("revoked"),
        "a revoked node cannot renew: {}",
        text(&out)
    );
    let _ = hall.kill();
    let _ = hall.wait();

    // A token that requires approval: pending, then approved while the node waits.
    let token = campus.token("main", "main-pi-2", &["--require-approval"]);
    let node2 = dir.path().join("node2");
    let mut args = campus.enroll_args(&node2);
    args.extend(["--token".into(), token, "--hardware".into(), "serial=0002".into()]);
    let mut waiting = Command::new(bin("onestop-edge"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    eventually("the pending node in the inventory", Duration::from_secs(30), || {
        text(&campus.provision(&["nodes"])).contains("pending")
    });
    assert!(!node2.join("node.pem").exists(), "no certificate before approval");
    // The node restarts while it waits: its token is spent, but the cloud knows its key.
    let _ = waiting.kill();
    let _ = waiting.wait();
    let mut waiting = Command::new(bin("onestop-edge"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert!(waiting.try_wait().unwrap().is_none(), "the restarted node waits for approval again");
    let out = campus.provision(&["approve", "--node", "main-pi-2"]);
    assert!(out.status.success(), "{}", text(&out));
    eventually("the approved node enrolled", Duration::from_secs(30), || {
        waiting.try_wait().unwrap().is_some()
    });
    assert!(waiting.wait().unwrap().success());
    assert!(node2.join("node.pem").exists());

    // A re-flashed card on known hardware (same board, new key): pending, never a silent
    // replacement; the old node stays as it was.
    let token = campus.token("main", "main-pi-2", &[]);
    let reflashed = dir.path().join("node2-reflashed");
    let mut child = campus.enroll_in_background(&reflashed, token, "serial=0002");
    eventually("the re-flash held pending", Duration::from_secs(30), || {
        let inventory = text(&campus.provision(&["nodes"]));
        inventory.contains("active+pending") && inventory.contains("pending device")
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(!reflashed.join("node.pem").exists(), "the re-flashed card has no certificate yet");

    let inventory = ok("onestop-provision", &["nodes", "--cloud-data", campus.cloud_data.to_str().unwrap()]);
    assert!(inventory.contains("main-pi-2") && inventory.contains("revoked"), "{inventory}");
}

#[test]
fn an_expired_certificate_renews_by_the_device_key() {
    let dir = tempfile::tempdir().unwrap();
    // Certificates that expire at once: the hall was closed for a long holiday.
    let campus = Campus::start_with(dir.path(), 2);
    let node = dir.path().join("node");
    let token = campus.token("main", "main-pi-1", &[]);
    let out = campus.enroll(&node, &token, "serial=0001");
    assert!(out.status.success(), "{}", text(&out));
    let before = std::fs::read_to_string(node.join("node.pem")).unwrap();
    let out =
        Command::new(bin("onestop-edge")).args(["renew", "--data", node.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "an expired node renews by its key: {}", text(&out));
    assert_ne!(std::fs::read_to_string(node.join("node.pem")).unwrap(), before);
    // Another device cannot renew as that node: it has no approved key.
    let stranger = dir.path().join("stranger");
    std::fs::create_dir_all(&stranger).unwrap();
    for f in ["node.toml", "node.pem", "ca.pem"] {
        std::fs::copy(node.join(f), stranger.join(f)).unwrap();
    }
    let toml = std::fs::read_to_string(stranger.join("node.toml"))
        .unwrap()
        .replace(node.to_str().unwrap(), stranger.to_str().unwrap());
    std::fs::write(stranger.join("node.toml"), toml).unwrap();
    let out = Command::new(bin("onestop-edge"))
        .args(["renew", "--data", stranger.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success() && text(&out).contains("unknown device"), "{}", text(&out));
}

#[test]
fn a_running_hall_renews_its_certificate_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    // Ten-second certificates: renewal is due after about seven.
    let campus = Campus::start_with(dir.path(), 10);
    let node = dir.path().join("node");
    let token = campus.token("main", "main-pi-1", &[]);
    let out = campus.enroll(&node, &token, "serial=0001");
    assert!(out.status.success(), "{}", text(&out));
    let first = std::fs::read_to_string(node.join("node.pem")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    std::fs::write(node.join("edge.toml"), format!("data = \".\"\nlisten = \"127.0.0.1:{port}\"\n")).unwrap();
    let mut hall = Command::new(bin("onestop-edge"))
        .args(["run", "--config", node.join("edge.toml").to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("edge.log")).unwrap())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    eventually("a renewed certificate", Duration::from_secs(40), || {
        std::fs::read_to_string(node.join("node.pem")).unwrap() != first
    });
    // The link came back with the new certificate.
    std::thread::sleep(Duration::from_secs(1));
    eventually("online with the new certificate", Duration::from_secs(20), || {
        get(addr, "/api/view").is_ok_and(|(_, b)| b.contains("\"online\":true"))
    });
    let _ = hall.kill();
    let _ = hall.wait();
}

#[test]
fn a_re_flashed_pi_approved_by_it_syncs_and_the_old_card_cannot() {
    use onestop_tests::hall::issue_ticket;
    let dir = tempfile::tempdir().unwrap();
    let campus = Campus::start(dir.path());
    let mut hall = campus.run_hall(dir.path(), "main", "main-pi-1");
    let (addr, old) = (hall.addr, hall.data.clone());
    issue_ticket(addr, "transcript");
    let cloud_store = onestop_cloud::run::store_path(&campus.cloud_data);
    let today = onestop_model::clock::Clock::now(&onestop_model::clock::SystemClock).day(480);
    eventually("the old card's day at the cloud", Duration::from_secs(30), || {
        onestop_store::Store::open(&cloud_store, onestop_store::Durability::Normal)
            .ok()
            .and_then(|mut s| {
                onestop_store::ReadDocs::day_events(&mut s, &onestop_model::HallId::new("main"), today).ok()
            })
            .is_some_and(|events| !events.is_empty())
    });
    hall.stop();

    // The SD card is re-flashed: a new key, a new store (so a new Automerge actor), the same
    // node name; IT approves the new device.
    let token = campus.token("main", "main-pi-1", &[]);
    let new = dir.path().join("main-pi-1-reflashed");
    let mut waiting = campus.enroll_in_background(&new, token, "serial=main-pi-1");
    eventually("the new device waits for approval", Duration::from_secs(30), || {
        text(&campus.provision(&["nodes"])).contains("pending device")
    });
    let out = campus.provision(&["approve", "--node", "main-pi-1"]);
    assert!(out.status.success(), "{}", text(&out));
    eventually("the new device enrolled", Duration::from_secs(30), || waiting.try_wait().unwrap().is_some());
    std::fs::copy(old.join("edge.toml"), new.join("edge.toml")).unwrap();

    // It syncs: online, the day it gets back from the cloud, and its new tickets reach it.
    let hall = campus.restart_hall(&new, addr, &[]);
    let first = issue_ticket(addr, "transcript");
    assert!(first.ends_with("002"), "the day came back from the cloud: {first}");
    let (_, view) = get(addr, "/api/view").unwrap();
    assert!(view.contains("\"online\":true"), "{view}");
    drop(hall);

    // The old card, its certificate still valid, may not sync any more.
    let mut old_link = Command::new(bin("onestop-edge"))
        .args(["sync", "--data", old.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    eventually("the cloud refuses the old card", Duration::from_secs(30), || {
        std::fs::read_to_string(dir.path().join("cloud.log")).unwrap_or_default().contains("was replaced")
    });
    let _ = old_link.kill();
    let _ = old_link.wait();
}
