//! The cloud's backup and restore with real processes: a backup taken while a hall issues
//! tickets restores, and the hall sends again what the cloud lost, until every document of
//! the hall is in the cloud's store with the same heads. And the refusals: a backup into a
//! folder that is not empty, a restore while the cloud runs, a restore of a damaged backup
//! (which replaces nothing).

use onestop_store::{Durability, Store};
use onestop_tests::campus::Campus;
use onestop_tests::hall::issue_ticket;
use onestop_tests::{ok, run};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Each document of the store in `path` with its sorted heads (a fresh read of the file).
fn heads(path: &Path) -> Vec<(String, Vec<String>)> {
    let Ok(mut store) = Store::open(path, Durability::Normal) else { return Vec::new() };
    let Ok(ids) = store.list_docs() else { return Vec::new() };
    ids.iter()
        .filter_map(|id| {
            let doc = store.doc(id).ok().flatten()?;
            let mut h: Vec<String> = doc.get_heads().iter().map(|h| h.to_string()).collect();
            h.sort();
            Some((id.to_string(), h))
        })
        .collect()
}

/// Every document of the hall is in the cloud with the same heads.
fn converged(edge: &Path, cloud: &Path) -> bool {
    let (e, c) = (heads(edge), heads(cloud));
    e.iter().any(|(id, _)| id.contains("/day/")) && e.iter().all(|d| c.contains(d))
}

use onestop_tests::wait;

fn failed(args: &[&str]) -> String {
    let out = run("onestop-cloud", args);
    assert!(
        !out.status.success(),
        "onestop-cloud {args:?} should fail: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// The data directory's files with their contents.
fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| (e.file_name().to_string_lossy().to_string(), std::fs::read(e.path()).unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn a_backup_taken_under_load_restores_and_the_hall_sends_again_what_the_cloud_lost() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut campus = Campus::start(d);
    let hall = campus.run_hall(d, "main", "main-pi-1");
    let config = d.join("cloud.toml");
    let cloud_db = campus.cloud_data.join("cloud.sqlite");
    let edge_db = d.join("main-pi-1").join("onestop.sqlite");
    let logs = [d.join("cloud.log"), d.join("main-pi-1").join("edge.log")];
    for _ in 0..5 {
        issue_ticket(hall.addr, "transcript");
    }
    wait(
        "the first tickets reach the cloud",
        Duration::from_secs(60),
        || converged(&edge_db, &cloud_db),
        &logs,
    );

    // A backup while a visitor after another takes a ticket.
    let stop = Arc::new(AtomicBool::new(false));
    let issuer = std::thread::spawn({
        let (stop, addr) = (stop.clone(), hall.addr);
        move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                issue_ticket(addr, "transcript");
                n += 1;
            }
            n
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let backup = d.join("backup");
    let out = ok("onestop-cloud", &["backup", "--config", s(&config), "--out", s(&backup)]);
    assert!(out.contains("backup made"), "{out}");
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let during = issuer.join().unwrap();
    assert!(during > 0, "tickets were issued during the backup");

    // What a backup holds, and how it is kept.
    use std::os::unix::fs::PermissionsExt;
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(backup.join("manifest.json")).unwrap()).unwrap();
    let files: Vec<&str> =
        manifest["files"].as_array().unwrap().iter().map(|f| f["file"].as_str().unwrap()).collect();
    for f in [
        "data/cloud.sqlite",
        "data/provision.sqlite",
        "data/visitor.key",
        "data/booking.key",
        "tls/ca.pem",
        "tls/cloud.pem",
        "tls/cloud.key",
        "enroll-ca/ca.key",
        "cloud.toml",
    ] {
        assert!(files.contains(&f), "{f} is in the backup: {files:?}");
        let mode = std::fs::metadata(backup.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    assert!(!files.contains(&"enroll-ca/ca.pem"), "the CA certificate named twice is copied once: {files:?}");
    assert_eq!(std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777, 0o700);

    // As the timer runs it: dated folders in a parent, the newest kept.
    let parent = d.join("backups");
    for _ in 0..2 {
        ok("onestop-cloud", &["backup", "--config", s(&config), "--into", s(&parent), "--keep", "1"]);
        std::thread::sleep(Duration::from_millis(1100));
    }
    let kept: Vec<String> = std::fs::read_dir(&parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(kept.len() == 1 && kept[0].starts_with("onestop-cloud-"), "{kept:?}");
    assert!(parent.join(&kept[0]).join("manifest.json").is_file());

    // The backup's folder must be new or empty.
    let err = failed(&["backup", "--config", s(&config), "--out", s(&backup)]);
    assert!(err.contains("is not empty"), "{err}");

    // More tickets after the backup: the cloud has them, the backup has not.
    let mut after: Vec<String> = (0..5).map(|_| issue_ticket(hall.addr, "transcript")).collect();
    wait(
        "the later tickets reach the cloud",
        Duration::from_secs(60),
        || converged(&edge_db, &cloud_db),
        &logs,
    );
    // (Opening a database writes to it: looked at in a copy, so the backup stays as taken.)
    let look = d.join("look.sqlite");
    std::fs::copy(backup.join("data/cloud.sqlite"), &look).unwrap();
    assert!(!converged(&edge_db, &look), "the backup lacks the later tickets");

    // A restore while the cloud runs is refused.
    let err = failed(&["restore", "--config", s(&config), "--from", s(&backup)]);
    assert!(err.contains("the cloud is running") && err.contains("stop it first"), "{err}");

    // The disk is lost: the cloud stops; the hall carries on alone.
    let _ = std::process::Command::new("kill").args(["-TERM", &campus.cloud.id().to_string()]).status();
    let _ = campus.cloud.wait();
    after.extend((0..3).map(|_| issue_ticket(hall.addr, "transcript")));

    // A damaged backup is refused whole and replaces nothing.
    let damaged = d.join("damaged");
    std::fs::create_dir(&damaged).unwrap();
    for entry in walk(&backup) {
        let to = damaged.join(entry.strip_prefix(&backup).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &to).unwrap();
    }
    let mut bytes = std::fs::read(damaged.join("data/visitor.key")).unwrap();
    bytes[0] ^= 1;
    std::fs::write(damaged.join("data/visitor.key"), bytes).unwrap();
    let before = listing(&campus.cloud_data);
    let err = failed(&["restore", "--config", s(&config), "--from", s(&damaged)]);
    assert!(
        err.contains("data/visitor.key: the checksum does not match") && err.contains("nothing was restored"),
        "{err}"
    );
    assert_eq!(listing(&campus.cloud_data), before, "nothing was replaced");

    // The restore.
    let actor_before = Store::open(&cloud_db, Durability::Normal).unwrap().actor().clone();
    let out = ok("onestop-cloud", &["restore", "--config", s(&config), "--from", s(&backup)]);
    assert!(out.contains("restored the backup"), "{out}");
    assert!(
        out.contains("unchanged") && out.contains("cloud.pem"),
        "certificates in place are left alone: {out}"
    );
    let aside: Vec<String> = std::fs::read_dir(&campus.cloud_data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.contains(".before-restore-"))
        .collect();
    assert!(aside.iter().any(|n| n.starts_with("cloud.sqlite.before-restore-")), "{aside:?}");
    assert!(!campus.cloud_data.join("cloud.sqlite-wal").exists(), "no stale WAL beside the restored store");
    let restored = Store::open(&cloud_db, Durability::Normal).unwrap();
    assert_ne!(*restored.actor(), actor_before, "the restored store writes as a new actor");
    drop(restored);
    assert!(!converged(&edge_db, &cloud_db), "the restored cloud lacks the later tickets");

    // The cloud starts again; the hall sends what it lost, and what it made meanwhile.
    campus.restart_cloud(&[]);
    wait(
        "the hall and the restored cloud converge",
        Duration::from_secs(120),
        || converged(&edge_db, &cloud_db),
        &logs,
    );
    // And it goes on: a ticket after the restore arrives too.
    after.push(issue_ticket(hall.addr, "transcript"));
    wait(
        "a new ticket reaches the restored cloud",
        Duration::from_secs(60),
        || converged(&edge_db, &cloud_db),
        &logs,
    );
    eprintln!("{during} tickets during the backup, {} after it; all in the restored cloud", after.len());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

/// What a restore does not bring back by itself (the sync rules as they are, at the session):
/// a document the cloud wrote after the backup (here a bookings document: a booking made
/// online, then the hall's check-in) is refused when the hall sends it back, because the cloud
/// takes from a node only the node's own changes, and the lost booking is the cloud's. The
/// hall keeps it (and its check-in); the cloud does not get it until the sync rules accept the
/// cloud's own former changes (deploy/README.md, "Backup and restore").
#[test]
fn the_clouds_own_changes_after_the_backup_come_back_from_a_hall_and_only_as_former_actors() {
    use automerge::transaction::Transactable;
    use automerge::{ActorId, Automerge, ROOT};
    use onestop_protocol::DocId;
    use onestop_protocol::session::{MemDocs, Session, SessionEvent, Side};
    let hall = onestop_model::HallId::new("main");
    let id = DocId::Bookings { hall: hall.clone(), day: onestop_model::Day::new(2026, 3, 2).unwrap() };
    let (cloud_actor, restored_actor, edge_actor) =
        (ActorId::from([0xC1u8; 16]), ActorId::from([0xC2u8; 16]), ActorId::from([0xE1u8; 16]));
    let put = |doc: &mut Automerge, key: &str| {
        let mut tx = doc.transaction();
        tx.put(ROOT, key, "x").unwrap();
        tx.commit();
    };
    let mut cloud_doc = Automerge::new().with_actor(cloud_actor.clone());
    put(&mut cloud_doc, "booking-1");
    let backup = cloud_doc.save();
    put(&mut cloud_doc, "booking-2");
    let mut edge_doc = Automerge::load(&cloud_doc.save()).unwrap().with_actor(edge_actor.clone());
    put(&mut edge_doc, "check-in-2");
    let restored = Automerge::load(&backup).unwrap().with_actor(restored_actor.clone());

    // Sync the hall's document with the restored cloud's; `former` are the actors the
    // restore recorded. Returns the refusals and whether both ended with the same heads.
    let sync = |former: Vec<ActorId>| {
        let mut edge_docs = MemDocs::default();
        edge_docs.docs.insert(id.clone(), edge_doc.clone());
        let mut cloud_docs = MemDocs::default();
        cloud_docs.docs.insert(id.clone(), restored.clone());
        let mut edge = Session::new(Side::Edge { hall: hall.clone() }, edge_actor.clone(), None);
        let mut cloud = Session::new(
            Side::Cloud { node: "main-pi-1".into(), hall: hall.clone() },
            restored_actor.clone(),
            Some([edge_actor.clone()].into()),
        )
        .with_former_actors(former);
        edge.open(&mut edge_docs, 1_000).unwrap();
        cloud.open(&mut cloud_docs, 1_000).unwrap();
        let mut refused = Vec::new();
        loop {
            let mut moved = false;
            while let Some(f) = edge.poll_transmit() {
                moved = true;
                refused.extend(cloud.receive(&mut cloud_docs, f).unwrap().into_iter().filter_map(
                    |e| match e {
                        SessionEvent::Refused { reason, .. } => Some(reason),
                        _ => None,
                    },
                ));
            }
            while let Some(f) = cloud.poll_transmit() {
                moved = true;
                edge.receive(&mut edge_docs, f).unwrap();
            }
            if !moved {
                break;
            }
        }
        (refused, cloud_docs.docs[&id].get_heads() == edge_docs.docs[&id].get_heads())
    };
    // The restore recorded the old actor: the booking made after the backup comes back with
    // the hall's check-in.
    let (refused, same) = sync(vec![cloud_actor.clone()]);
    assert!(refused.is_empty() && same, "{refused:?}");
    // Without that record (or for any other actor) the changes are refused, all or nothing.
    let (refused, same) = sync(Vec::new());
    assert!(refused.iter().any(|r| r.contains("which is not this node's")) && !same, "{refused:?}");
}
