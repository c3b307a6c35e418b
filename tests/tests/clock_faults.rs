//! A wrong clock, at a hall or at the cloud, for one command or for a whole run (real
//! processes under `faketime`): the business day never leaves today, the link stays up, and
//! once the clock is right again everything carries on.

use onestop_model::Day;
use onestop_protocol::DocId;
use onestop_store::{Durability, ReadDocs, Store};
use onestop_tests::bin;
use onestop_tests::campus::Campus;
use onestop_tests::hall::{get, issue_ticket};
use std::path::Path;
use std::time::{Duration, Instant};

/// 2031-06-01T09:00Z: four and a half years ahead.
fn in_2031() -> Vec<(String, String)> {
    onestop_tests::faketime(onestop_model::Timestamp(1_938_070_800_000))
}

use onestop_model::clock::Clock;

fn today() -> Day {
    onestop_model::clock::SystemClock.now().day(480)
}

/// The business days the store at `path` has day documents for.
fn days_in(path: &Path) -> Vec<Day> {
    let store = Store::open(path, Durability::Normal).unwrap();
    store
        .list_docs()
        .unwrap()
        .into_iter()
        .filter_map(|id| match id {
            DocId::Day { day, .. } => Some(day),
            _ => None,
        })
        .collect()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let started = Instant::now();
    while !f() {
        assert!(started.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn metric(addr: std::net::SocketAddr, name: &str) -> f64 {
    let (_, body) = get(addr, "/metrics").unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{body}"))
}

#[test]
fn a_hall_clock_set_to_2031_never_moves_the_business_day_and_the_link_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let campus = Campus::start(dir.path());
    let mut hall = campus.run_hall(dir.path(), "main", "main-pi-1");
    let (addr, data) = (hall.addr, hall.data.clone());
    let first = issue_ticket(addr, "transcript");
    assert!(first.ends_with("001"), "{first}");
    let number = |n: u32| format!("{}{n:03}", &first[..first.len() - 3]);
    hall.stop();
    let store = onestop_edge::nodedir::store_path(&data);

    // One command under a clock set to 2031 (what once opened business day 2031-06-01).
    let out = std::process::Command::new(bin("onestop-edge"))
        .args(["do", "--data", data.to_str().unwrap(), "issue", "transcript"])
        .envs(in_2031())
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(&number(2)), "numbering goes on: {stdout}");
    assert!(stderr.contains("ahead unconfirmed"), "the command says the clock is not believed: {stderr}");
    assert_eq!(days_in(&store), vec![today()], "no day in 2031");

    // The whole hall under that clock: today's numbers, the link up, the alarm raised.
    let mut hall = campus.restart_hall(&data, addr, &in_2031());
    assert_eq!(issue_ticket(addr, "transcript"), number(3));
    assert_eq!(metric(addr, "onestop_clock_alarm"), 1.0);
    assert_eq!(metric(addr, "onestop_cloud_online"), 1.0);
    let (_, view) = get(addr, "/api/view").unwrap();
    assert!(view.contains("ahead unconfirmed"), "the manager sees the alarm: {view}");
    // What the hall wrote reaches the cloud under today.
    let cloud_store = onestop_cloud::run::store_path(&campus.cloud_data);
    wait_for("the day at the cloud", || {
        Store::open(&cloud_store, Durability::Normal)
            .ok()
            .and_then(|mut s| s.day_events(&onestop_model::HallId::new("main"), today()).ok())
            .is_some_and(|events| events.len() >= 3)
    });
    hall.stop();
    assert_eq!(days_in(&store), vec![today()], "no day in 2031");
    assert!(days_in(&cloud_store).iter().all(|d| *d <= today()));

    // Back on the right clock: believed again, no alarm, numbering goes on.
    let _hall = campus.restart_hall(&data, addr, &[]);
    assert_eq!(issue_ticket(addr, "transcript"), number(4));
    let (_, view) = get(addr, "/api/view").unwrap();
    assert_eq!(metric(addr, "onestop_clock_alarm"), 0.0, "{view}");
    let stamp = Store::open(&store, Durability::Normal).unwrap().last_stamp().time();
    let now = onestop_model::clock::SystemClock.now();
    assert!((stamp.0 - now.0).abs() < 60_000, "the stamps follow the right clock: {stamp:?} vs {now:?}");
}

#[test]
fn a_cloud_clock_set_to_2031_moves_nothing_and_keeps_the_halls_linked() {
    let dir = tempfile::tempdir().unwrap();
    let mut campus = Campus::start(dir.path());
    let hall = campus.run_hall(dir.path(), "main", "main-pi-1");
    let addr = hall.addr;
    let first = issue_ticket(addr, "transcript");
    assert!(first.ends_with("001"), "{first}");
    let number = |n: u32| format!("{}{n:03}", &first[..first.len() - 3]);
    let cloud_store = onestop_cloud::run::store_path(&campus.cloud_data);
    wait_for("the day at the cloud", || days_in(&cloud_store).contains(&today()));

    // The cloud comes back with its clock in 2031: its certificates' checks, its hello and
    // its own writes keep to its last believed time, so the hall stays linked.
    campus.restart_cloud(&in_2031());
    wait_for("the hall linked again", || {
        get(addr, "/api/view").is_ok_and(|(_, b)| b.contains("\"online\":true"))
    });
    assert_eq!(issue_ticket(addr, "transcript"), number(2));
    wait_for("the new ticket at the cloud", || {
        Store::open(&cloud_store, Durability::Normal)
            .ok()
            .and_then(|mut s| s.day_events(&onestop_model::HallId::new("main"), today()).ok())
            .is_some_and(|events| events.len() >= 2)
    });
    assert_eq!(metric(addr, "onestop_clock_alarm"), 0.0, "the hall's own clock is right");
    let stamp = Store::open(&onestop_edge::nodedir::store_path(&hall.data), Durability::Normal)
        .unwrap()
        .last_stamp()
        .time();
    assert_eq!(stamp.day(480), today(), "the cloud's 2031 did not carry the hall's clock");
    let cloud_stamp = Store::open(&cloud_store, Durability::Normal).unwrap().last_stamp().time();
    assert!(cloud_stamp.day(480) <= today(), "nor the cloud's own stamps: {cloud_stamp:?}");
}
