//! The hall's devices through a real `onestop-edge run` process and its simulated twins: the
//! printer runs out of paper mid-day (tickets are held, the hall goes on, nothing is lost or
//! printed twice), a staff card logs in at its window, a keypad rates, and each call is spoken
//! into a WAV file.

use onestop_tests::hall::{HallProcess, get, post_form, request};
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

fn issue(hall: &HallProcess, service: &str) -> String {
    let (status, body) = request(
        hall.addr,
        "POST",
        "/api/tickets",
        &format!("{{\"service\":\"{service}\"}}"),
        "application/json",
    )
    .unwrap();
    assert_eq!(status, 200, "a ticket is issued even when the printer cannot print: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["ticket"].as_str().unwrap().to_string()
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

/// The CSRF token in a staff page.
fn csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    page[at..at + 32].to_string()
}

/// A request with the staff session's cookie.
fn with_cookie(hall: &HallProcess, method: &str, path: &str, cookie: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(hall.addr).unwrap();
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

#[test]
fn paper_runs_out_mid_day_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let mut hall = HallProcess::start(dir.path(), 4, "");
    let receipts = dir.path().join("receipts");
    let service = view(&hall)["services"][0]["id"].as_str().unwrap().to_string();

    let first = issue(&hall, &service);
    eventually("the first ticket printed", || printed(&receipts) == [first.clone()]);

    // Out of paper: the staff see it, the hall keeps issuing, the tickets wait.
    assert_eq!(post_form(hall.addr, "/sim/printer", "state=paper-out").unwrap().0, 204);
    eventually("the paper-out incident", || view(&hall)["incidents"].to_string().contains("缺纸"));
    let held: Vec<String> = (0..3).map(|_| issue(&hall, &service)).collect();
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
        let (status, out) = with_cookie(&hall, "POST", "/counter/login-card", "", "window=1");
        if status == 200 {
            let line =
                out.lines().find(|l| l.to_lowercase().starts_with("set-cookie: onestop_staff=")).unwrap();
            cookie = line["set-cookie: ".len()..].split(';').next().unwrap().to_string();
        }
        status == 200
    });
    assert_eq!(view(&hall)["windows"][0]["staff_id"], "s001", "the card login is the check-in");

    // A visitor, called, served, finished; then the keypad's fourth key rates 满意.
    let ticket = issue(&hall, &service);
    let (_, page) = with_cookie(&hall, "GET", "/counter/window/1", &cookie, "");
    let token = csrf(&page);
    for action in ["call-next", "start", "finish-immediate"] {
        let (status, _) = with_cookie(
            &hall,
            "POST",
            &format!("/counter/window/1/{action}"),
            &cookie,
            &format!("csrf={token}"),
        );
        assert_eq!(status, 303, "{action} redirects back to the counter");
    }
    let (status, _) = with_cookie(&hall, "POST", "/counter/window/1/call-next", &cookie, "csrf=forged");
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
