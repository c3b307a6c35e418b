//! A hall whose store is damaged (a failing SD card, a torn write) says so at start with what
//! to do; set aside, the node restores today from the cloud and numbers on.

use onestop_tests::campus::Campus;
use onestop_tests::hall::issue_ticket;
use onestop_tests::{bin, run};
use std::time::{Duration, Instant};

#[test]
fn a_damaged_store_is_found_at_start_and_today_comes_back_from_the_cloud() {
    let dir = tempfile::tempdir().unwrap();
    let campus = Campus::start(dir.path());
    let mut hall = campus.run_hall(dir.path(), "main", "main-pi-1");
    let (addr, data) = (hall.addr, hall.data.clone());
    let first = issue_ticket(addr, "transcript");
    issue_ticket(addr, "transcript");
    let number = |n: u32| format!("{}{n:03}", &first[..first.len() - 3]);
    // Both tickets reach the cloud before the card fails.
    let cloud_store = onestop_cloud::run::store_path(&campus.cloud_data);
    let today = onestop_model::clock::Clock::now(&onestop_model::clock::SystemClock).day(480);
    let started = Instant::now();
    while onestop_store::Store::open(&cloud_store, onestop_store::Durability::Normal)
        .ok()
        .and_then(|mut s| {
            onestop_store::ReadDocs::day_events(&mut s, &onestop_model::HallId::new("main"), today).ok()
        })
        .is_none_or(|e| e.len() < 2)
    {
        assert!(started.elapsed() < Duration::from_secs(30), "the day reaches the cloud");
        std::thread::sleep(Duration::from_millis(100));
    }
    hall.stop();

    // Everything after the first page of the file turns to garbage.
    let store = onestop_edge::nodedir::store_path(&data);
    let mut bytes = std::fs::read(&store).unwrap();
    assert!(bytes.len() > 8192, "a store of several pages");
    for b in &mut bytes[4096..] {
        *b = 0xA5;
    }
    std::fs::write(&store, &bytes).unwrap();

    // The hall does not start, and says why and what to do.
    let out = run("onestop-edge", &["run", "--config", data.join("edge.toml").to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(said.contains("damaged") && said.contains("--set-aside"), "{said}");
    let check = run("onestop-edge", &["store-check", "--data", data.to_str().unwrap()]);
    assert!(!check.status.success());
    assert!(String::from_utf8_lossy(&check.stderr).contains("damaged"));

    // Set aside as the message says; the damaged file is kept for a look.
    let aside = run("onestop-edge", &["store-check", "--data", data.to_str().unwrap(), "--set-aside"]);
    assert!(aside.status.success(), "{}", String::from_utf8_lossy(&aside.stderr));
    assert!(!store.exists());
    assert!(
        std::fs::read_dir(&data).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("damaged-"))
    );

    // Started again: today comes back from the cloud and the numbers go on.
    let _hall = campus.restart_hall(&data, addr, &[]);
    assert_eq!(issue_ticket(addr, "transcript"), number(3));
    let sound = run("onestop-edge", &["store-check", "--data", data.to_str().unwrap()]);
    assert!(sound.status.success(), "{}", String::from_utf8_lossy(&sound.stderr));
    let _ = bin("onestop-edge");
}
