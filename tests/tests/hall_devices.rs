//! The hall's devices through a real `onestop-edge run` process and its simulated twins: the
//! printer runs out of paper mid-day (tickets are held, the hall goes on, nothing is lost or
//! printed twice), a staff card logs in at its window, a keypad rates, and each call is spoken
//! into a WAV file.

use onestop_tests::hall::{HallProcess, csrf, get, issue_ticket, post_form, staff_cookie, with_cookie};
use std::path::Path;
use std::time::{Duration, Instant};

fn view(hall: &HallProcess) -> serde_json::Value {
    serde_json::from_str(&get(hall.addr, "/api/view").unwrap().1).expect("the view is JSON")
}

fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The tickets printed so far (one `.txt` per receipt), in order.
fn printed(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.retain(|n| n.ends_with(".txt"));
    names.sort();
    names
        .iter()
        .filter_map(|n| n.trim_end_matches(".txt").split_once('-').map(|(_, t)| t.to_string()))
        .collect()
}

#[test]
fn paper_runs_out_mid_day_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let mut hall = HallProcess::start(dir.path(), 4, "");
    let receipts = dir.path().join("receipts");
    let service = view(&hall)["services"][0]["id"].as_str().unwrap().to_string();

    let first = issue_ticket(hall.addr, &service);
    eventually("the first ticket printed", || printed(&receipts) == [first.clone()]);

    // Out of paper: the staff see it, the hall keeps issuing, the tickets wait.
    assert_eq!(post_form(hall.addr, "/sim/printer", "state=paper-out").unwrap().0, 204);
    eventually("the paper-out incident", || view(&hall)["incidents"].to_string().contains("缺纸"));
    let held: Vec<String> = (0..3).map(|_| issue_ticket(hall.addr, &service)).collect();
    let (_, kiosk) =
        post_form(hall.addr, "/kiosk/issue", &format!("service={service}&how=anonymous")).unwrap();
    assert!(kiosk.contains("打印机故障"), "the kiosk tells the visitor to note the number:\n{kiosk}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        printed(&receipts).as_slice(),
        std::slice::from_ref(&first),
        "nothing prints while the paper is out"
    );

    // Paper back: every held ticket prints once, in order.
    assert_eq!(post_form(hall.addr, "/sim/printer", "state=ok").unwrap().0, 204);
    eventually("the held tickets printed", || printed(&receipts).len() == 5);
    let all = printed(&receipts);
    assert_eq!(&all[..4], &[first.clone(), held[0].clone(), held[1].clone(), held[2].clone()]);
    eventually("the incident cleared", || !view(&hall)["incidents"].to_string().contains("缺纸"));
    assert!(hall.stop().success());
}

#[test]
fn a_staff_card_logs_in_a_keypad_rates_and_calls_are_spoken() {
    let dir = tempfile::tempdir().unwrap();
    let clips = dir.path().join("clips");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/voice/make-clips.sh");
    let made = std::process::Command::new("bash").arg(&script).arg(&clips).output().expect("bash runs");
    assert!(
        made.status.success(),
        "the voice clips are made (espeak-ng and sox are needed; scripts/test installs them): {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let voice = format!(
        "[voice]\noutput = \"wav\"\nclips = \"{}\"\nwav_dir = \"calls\"\nenglish = true\n",
        clips.display()
    );
    let mut hall = HallProcess::start(dir.path(), 4, &voice);
    let v = view(&hall);
    let service = v["windows"][0]["services"][0].as_str().unwrap().to_string();

    // Staff member s001's card at window 1's reader: the card goes through the key decoder.
    assert_eq!(post_form(hall.addr, "/sim/card", "reader=window-1-reader&card=90000001").unwrap().0, 204);
    let mut cookie = String::new();
    eventually("the card login", || {
        let (status, out) = with_cookie(hall.addr, "POST", "/counter/login-card", "", "window=1");
        if status == 200 {
            cookie = staff_cookie(&out).expect("a staff session");
        }
        status == 200
    });
    assert_eq!(view(&hall)["windows"][0]["staff_id"], "s001", "the card login is the check-in");

    // A visitor, called, served, finished; then the keypad's fourth key rates 满意.
    let ticket = issue_ticket(hall.addr, &service);
    let (_, page) = with_cookie(hall.addr, "GET", "/counter/window/1", &cookie, "");
    let token = csrf(&page);
    for action in ["call-next", "start", "finish-immediate"] {
        let (status, _) = with_cookie(
            hall.addr,
            "POST",
            &format!("/counter/window/1/{action}"),
            &cookie,
            &format!("csrf={token}"),
        );
        assert_eq!(status, 303, "{action} redirects back to the counter");
    }
    let (status, _) = with_cookie(hall.addr, "POST", "/counter/window/1/call-next", &cookie, "csrf=forged");
    assert_eq!(status, 403, "a form without the session's token is refused");
    assert_eq!(post_form(hall.addr, "/sim/key", "device=window-1-keypad&key=KEY_4").unwrap().0, 204);
    eventually("the rating", || view(&hall)["figures"]["rated"] == 1);

    // The call was spoken: Mandarin then English, with a chime, into one WAV file.
    let calls = dir.path().join("calls");
    let mut wav = None;
    eventually("the call's audio", || {
        wav = std::fs::read_dir(&calls)
            .ok()
            .and_then(|d| {
                d.filter_map(|e| e.ok())
                    .find(|e| e.file_name().to_string_lossy().contains(&format!("{ticket}-w1")))
            })
            .map(|e| e.path());
        wav.is_some()
    });
    let bytes = std::fs::read(wav.unwrap()).unwrap();
    assert_eq!(&bytes[..4], b"RIFF");
    let seconds = (bytes.len() - 44) as f64 / (22050.0 * 2.0);
    assert!((3.0..20.0).contains(&seconds), "a bilingual call lasts a few seconds, not {seconds:.1}");
    assert!(hall.stop().success());
}
