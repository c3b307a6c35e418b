//! Power cuts, with real processes:
//!
//! - the campus cloud (`onestop-cloud serve` with its website) is killed with SIGKILL several
//!   times during a burst of online bookings (visitors posting the website's booking form at
//!   once, with the CSRF token its page gives, against slots of 3 places) and of case review
//!   steps (two reviewers logged in to the back office, moving pending cases a hall registered
//!   through its counter). After the last start, the cloud's documents hold every booking a
//!   visitor was shown a code for and every step the back office answered "recorded" for; no
//!   slot holds more bookings than its places; the office table of bookings and the bookings
//!   documents agree; a visitor told "already booked" holds a booking;
//! - a hall node under ticket load is killed with SIGKILL 20 times (the short version of
//!   `benches/kill_loop.rs`): every acknowledged ticket is in the day's document, no number
//!   twice, numbers gapless.
//!
//! Nothing here asserts a time; the pauses only spread the cuts over the burst.

use onestop_model::{CaseNo, CaseStatus, Day, HallId};
use onestop_store::{Durability, ReadDocs, Store};
use onestop_tests::campus::{Campus, CloudOptions};
use onestop_tests::hall::{issue_ticket, register_pending_case, staff_cookie, with_cookie};
use onestop_tests::kill_loop::{self, Rng};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Places per slot: few, so that the visitors compete for them.
const PLACES: usize = 3;
/// Booking attempts aimed at one slot before the clients move to the next.
const PER_SLOT: usize = 5;
const CLIENTS: usize = 4;
const CUTS: usize = 4;
const CASES: usize = 6;
const SERVICE: &str = "transcript";
/// Found by this test: the booking's office row was committed before the document, so a cut
/// between the two kept a row whose booking was in no document, and that visitor was refused
/// as "already booked" for the day. The row now commits after the document (and a cut between
/// them is mended from the documents at the next start): no office row without its booking.
const OFFICE_ROWS_SURVIVE_A_CUT_ALONE: bool = true;
/// The steps a reviewer takes, in order, from registered.
const STEPS: [CaseStatus; 5] = [
    CaseStatus::UnderReview,
    CaseStatus::Approved,
    CaseStatus::Processing,
    CaseStatus::Completed,
    CaseStatus::Collected,
];

/// The demo catalogue, bookable all day every day in 5-minute slots of `PLACES` places.
fn catalog(dir: &Path) -> PathBuf {
    onestop_tests::campus::bookable_catalog(dir, Some(PLACES as u32))
}

/// One HTTP/1.1 request on loopback that may fail (the cloud may be dying): the status and
/// the whole answer, headers included. `from` is the client's address as the campus reverse
/// proxy passes it on (`X-Forwarded-For`, believed from a loopback peer).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: &str,
    from: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if !cookie.is_empty() {
        head.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    if !from.is_empty() {
        head.push_str(&format!("X-Forwarded-For: {from}\r\n"));
    }
    if method == "POST" {
        head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    write!(s, "{head}Content-Length: {}\r\n\r\n{body}", body.len())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let out = String::from_utf8_lossy(&out).to_string();
    let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    if status == 0 {
        return Err(std::io::Error::other(format!("no status line: {out:?}")));
    }
    Ok((status, out))
}

/// A header of an answer (the first with that name), without its name.
fn header(answer: &str, name: &str) -> Option<String> {
    let head = answer.split("\r\n\r\n").next()?;
    head.lines()
        .find(|l| l.to_ascii_lowercase().starts_with(&format!("{}:", name.to_ascii_lowercase())))
        .map(|l| l[name.len() + 1..].trim().to_string())
}

/// The value of cookie `name` an answer sets.
fn set_cookie(answer: &str, name: &str) -> Option<String> {
    let head = answer.split("\r\n\r\n").next()?;
    head.lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .map(|l| l["set-cookie:".len()..].trim())
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap_or("").to_string())
}

/// The value of attribute `attr` right after the first `marker` in `page`.
fn after(page: &str, marker: &str, attr: &str) -> Option<String> {
    let rest = &page[page.find(marker)?..];
    let rest = &rest[rest.find(&format!("{attr}=\""))? + attr.len() + 2..];
    Some(rest[..rest.find('"')?].to_string())
}

/// Window 1 (staff `wang`) registers `n` transcript requests as pending cases; their numbers.
fn register_cases(hall: SocketAddr, n: usize) -> Vec<String> {
    let (status, answer) = with_cookie(hall, "POST", "/counter/login", "", "window=1&staff=wang&pin=2468");
    assert_eq!(status, 303, "the login: {answer}");
    let cookie = staff_cookie(&answer).expect("a staff session");
    let mut numbers = Vec::new();
    for _ in 0..n {
        let ticket = issue_ticket(hall, SERVICE);
        let (number, _) = register_pending_case(hall, &cookie);
        assert!(number.ends_with(&format!("-main-{ticket}")), "{number}");
        numbers.push(number);
    }
    numbers
}

/// A back-office login over HTTP with the login page's CSRF token; the session cookie.
fn office_login(web: SocketAddr, login: &str, password: &str) -> Option<String> {
    let (status, page) = http(web, "GET", "/office/login", "", "", "").ok()?;
    if status != 200 {
        return None;
    }
    let token = set_cookie(&page, "csrf")?;
    let field = after(&page, "action=\"/office/login\"", "value")?;
    let form = format!("csrf={field}&login={login}&password={password}&next=%2Foffice%2Fcases");
    let (status, answer) = http(web, "POST", "/office/login", &format!("csrf={token}"), "", &form).ok()?;
    if status != 303 {
        return None;
    }
    set_cookie(&answer, "office").map(|t| format!("office={t}"))
}

/// What a reviewer did: the steps the back office answered "recorded" for, and how many
/// steps got no answer (the cloud was cut) or a refusal.
#[derive(Default, Debug)]
struct Review {
    recorded: Vec<(String, CaseStatus)>,
    unanswered: usize,
    refused: Vec<String>,
    logins: usize,
}

/// A reviewer moves each of `cases` through every step, in turns, until all are collected,
/// logging in again whenever the cloud forgot the session (a restart), reading each case's
/// status from its page before each step (a step cut off may have been recorded).
fn reviewer(web: SocketAddr, login: &str, password: &str, cases: Vec<String>, pace: Duration) -> Review {
    let mut review = Review::default();
    let mut session: Option<String> = None;
    let mut open = cases;
    let started = Instant::now();
    while !open.is_empty() {
        assert!(started.elapsed() < Duration::from_secs(300), "{login} never finished: {review:?}");
        let Some(cookie) = session.clone() else {
            session = office_login(web, login, password);
            if session.is_some() {
                review.logins += 1;
            } else {
                std::thread::sleep(Duration::from_millis(100));
            }
            continue;
        };
        let number = open[0].clone();
        let page = match http(web, "GET", &format!("/office/cases/{number}"), &cookie, "", "") {
            Ok((200, page)) => page,
            Ok((303, _)) => {
                session = None; // a new cloud process: log in again
                continue;
            }
            Ok((status, answer)) => panic!("the case page of {number}: {status} {answer}"),
            Err(_) => {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let status = after(&page, "id=\"case-status\"", "data-status").and_then(|s| CaseStatus::parse(&s));
        let status = status.unwrap_or_else(|| panic!("no status on the case page: {page}"));
        let Some(next) =
            STEPS.iter().position(|s| *s == status).map_or(Some(STEPS[0]), |i| STEPS.get(i + 1).copied())
        else {
            open.remove(0);
            continue;
        };
        let token = after(&page, "name=\"csrf\"", "value").expect("the step form's CSRF token");
        let form = format!("csrf={token}&status={}", next.as_str());
        match http(web, "POST", &format!("/office/cases/{number}/step"), &cookie, "", &form) {
            Ok((303, answer)) => {
                let to = header(&answer, "location").unwrap_or_default();
                if to == format!("/office/cases/{number}?done={}", next.as_str()) {
                    review.recorded.push((number.clone(), next));
                    // The next case: steps of the reviewers' cases interleave.
                    open.rotate_left(1);
                } else {
                    session = None; // sent to the login page
                }
            }
            Ok((status, answer)) => {
                review.refused.push(format!("{number} {}: {status}", next.as_str()));
                if status >= 500 {
                    review.unanswered += 1;
                } else if status != 409 {
                    panic!("step {} of {number}: {status} {answer}", next.as_str());
                }
            }
            Err(_) => review.unanswered += 1,
        }
        std::thread::sleep(pace);
    }
    review
}

/// One visitor's booking attempt and what the website answered.
#[derive(Debug, Clone)]
enum Answer {
    /// The confirmation page with its code: acknowledged.
    Booked {
        code: String,
    },
    Full,
    Twice,
    /// Another status and the page's message. Known: for a moment after each start the
    /// website serves its empty cache (the first rebuild runs beside it), so a visitor is told
    /// 404 "no such hall"; the visitor tries again below.
    Other(u16, String),
    /// No answer: the connection broke (the cloud was cut).
    None,
}

#[derive(Debug, Clone)]
struct Attempt {
    card: String,
    slot: String,
    answer: Answer,
}

fn book(web: SocketAddr, csrf_token: &str, day: &str, slot: &str, card: &str, from: &str) -> Answer {
    let form = format!("csrf={csrf_token}&day={day}&slot={slot}&card={card}");
    match http(web, "POST", &format!("/book/main/{SERVICE}"), &format!("csrf={csrf_token}"), from, &form) {
        Ok((200, page)) => {
            let code = page.split("id=\"booking-code\"").nth(1).and_then(|r| r.split('>').nth(1));
            let code = code.and_then(|c| c.split('<').next()).unwrap_or_else(|| panic!("no code: {page}"));
            Answer::Booked { code: code.to_string() }
        }
        Ok((409, page)) if page.contains("刚刚约满") => Answer::Full,
        Ok((409, page)) if page.contains("已预约过") => Answer::Twice,
        Ok((status, page)) => {
            // The alert's text, without its tags (each language is a span of its own).
            let alert =
                page.split("role=\"alert\"").nth(1).and_then(|m| m.split("</p>").next()).unwrap_or("");
            let text: String =
                alert.split('<').map(|part| part.split_once('>').map_or("", |(_, t)| t)).collect();
            Answer::Other(status, text)
        }
        Err(_) => Answer::None,
    }
}

#[test]
fn a_cloud_cut_during_bookings_and_case_steps_keeps_every_acknowledged_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut campus = Campus::start_with_options(
        d,
        CloudOptions { web: true, catalog: Some(catalog(d)), ..CloudOptions::default() },
    );
    let passwords =
        [campus.account("reviewer1", "reviewer", ""), campus.account("reviewer2", "reviewer", "")];
    let hall = campus.run_hall(d, "main", "main-pi-1");
    let web = campus.web.unwrap();

    // Pending cases registered at the hall, in the back office's queue once synced.
    let cases = register_cases(hall.addr, CASES);
    let cookie = office_login(web, "reviewer1", &passwords[0]).expect("the reviewer logs in");
    let started = Instant::now();
    while !cases.iter().all(|n| {
        http(web, "GET", "/office/cases", &cookie, "", "")
            .is_ok_and(|(_, page)| page.contains(&format!("data-case=\"{n}\"")))
    }) {
        assert!(started.elapsed() < Duration::from_secs(60), "the cases never reached the cloud");
        std::thread::sleep(Duration::from_millis(200));
    }

    // The booking page: its CSRF cookie and field, and tomorrow's slots (none begins during
    // the test, whatever its time of day).
    let (status, page) = http(web, "GET", &format!("/book/main/{SERVICE}"), "", "", "").unwrap();
    assert_eq!(status, 200, "{page}");
    let token = set_cookie(&page, "csrf").expect("the page sets its CSRF cookie");
    assert_eq!(after(&page, "id=\"book-form\"", "value").as_deref(), Some(token.as_str()));
    let days: Vec<String> =
        page.split("data-day=\"").skip(1).map(|r| r.split('"').next().unwrap().to_string()).collect();
    let day = days.get(1).expect("tomorrow is bookable").clone();
    let (_, page) = http(web, "GET", &format!("/book/main/{SERVICE}?day={day}"), "", "", "").unwrap();
    let slots: Vec<String> = page
        .split("name=\"slot\" value=\"")
        .skip(1)
        .map(|r| r.split('"').next().unwrap().to_string())
        .collect();
    assert!(slots.len() >= 100, "a day of 5-minute slots: {}", slots.len());

    // The burst: visitors booking (PER_SLOT attempts at each slot of PLACES places, in turn),
    // reviewers stepping cases, the cloud cut CUTS times in the middle of it.
    let stop = Arc::new(AtomicBool::new(false));
    let attempts: Arc<Mutex<Vec<Attempt>>> = Arc::default();
    let counter = Arc::new(AtomicUsize::new(0));
    let visitors: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (stop, attempts, counter, slots) =
                (stop.clone(), attempts.clone(), counter.clone(), slots.clone());
            let (token, day) = (token.clone(), day.clone());
            std::thread::spawn(move || {
                while !stop.load(Relaxed) {
                    let n = counter.fetch_add(1, Relaxed);
                    let slot = slots[(n / PER_SLOT) % slots.len()].clone();
                    let card = format!("2024{n:06}");
                    // Each visitor from an address of their own (the per-client limit).
                    let from = format!("10.{}.{}.{}", n >> 16 & 255, n >> 8 & 255, n & 255);
                    let answer = book(web, &token, &day, &slot, &card, &from);
                    let failed = matches!(answer, Answer::None | Answer::Other(..));
                    attempts.lock().unwrap().push(Attempt { card, slot, answer });
                    std::thread::sleep(Duration::from_millis(if failed { 50 } else { 20 }));
                }
            })
        })
        .collect();
    let reviewers: Vec<_> = (0..2)
        .map(|r| {
            let mine: Vec<String> = cases.iter().skip(r).step_by(2).cloned().collect();
            let (login, password) = (format!("reviewer{}", r + 1), passwords[r].clone());
            std::thread::spawn(move || reviewer(web, &login, &password, mine, Duration::from_millis(150)))
        })
        .collect();

    let mut rng = Rng::new(onestop_model::clock::Clock::now(&onestop_model::clock::SystemClock).0 as u64);
    for _ in 0..CUTS {
        std::thread::sleep(Duration::from_millis(rng.between(300, 1_500)));
        // The power cut: SIGKILL, nothing flushed, no goodbye.
        campus.cloud.kill().unwrap();
        campus.cloud.wait().unwrap();
        std::thread::sleep(Duration::from_millis(rng.between(0, 300)));
        campus.restart_cloud(&[]);
    }
    let reviews: Vec<Review> = reviewers.into_iter().map(|r| r.join().expect("a reviewer")).collect();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Relaxed);
    for v in visitors {
        v.join().expect("a visitor");
    }
    let mut attempts = std::mem::take(&mut *attempts.lock().unwrap());

    // Visitors who got no answer try again, now that the cloud is back.
    let unanswered: Vec<usize> = (0..attempts.len())
        .filter(|i| matches!(attempts[*i].answer, Answer::None | Answer::Other(..)))
        .collect();
    let mut retries = Vec::new();
    for (k, i) in unanswered.iter().enumerate() {
        let a = &attempts[*i];
        let answer =
            book(web, &token, &day, &a.slot, &a.card, &format!("10.200.{}.{}", k >> 8 & 255, k & 255));
        retries.push(Attempt { card: a.card.clone(), slot: a.slot.clone(), answer });
    }
    attempts.extend(retries.iter().cloned());

    // The last cut, then the files as the next start would find them.
    campus.cloud.kill().unwrap();
    campus.cloud.wait().unwrap();
    let count = |f: fn(&Answer) -> bool| attempts.iter().filter(|a| f(&a.answer)).count();
    let recorded: Vec<(String, CaseStatus)> =
        reviews.iter().flat_map(|r| r.recorded.iter().cloned()).collect();
    eprintln!(
        "{} booking attempts: {} booked, {} full, {} already booked, other answers {:?}, {} unanswered ({} retried); \
         {} case steps recorded, {} unanswered, refused {:?}; {} reviewer logins",
        attempts.len(),
        count(|a| matches!(a, Answer::Booked { .. })),
        count(|a| matches!(a, Answer::Full)),
        count(|a| matches!(a, Answer::Twice)),
        attempts
            .iter()
            .filter_map(|a| match &a.answer {
                Answer::Other(status, message) => Some(format!("{status} {message}")),
                _ => None,
            })
            .collect::<Vec<_>>(),
        count(|a| matches!(a, Answer::None)),
        retries.len(),
        recorded.len(),
        reviews.iter().map(|r| r.unanswered).sum::<usize>(),
        reviews.iter().flat_map(|r| r.refused.iter()).collect::<Vec<_>>(),
        reviews.iter().map(|r| r.logins).sum::<usize>(),
    );
    assert!(count(|a| matches!(a, Answer::Booked { .. })) > 0 && count(|a| matches!(a, Answer::Full)) > 0);

    let mut store =
        Store::open(&onestop_cloud::run::store_path(&campus.cloud_data), Durability::Full).unwrap();
    let hall_id = HallId::new("main");
    let the_day: Day = day.parse().unwrap();
    let bookings = store.bookings(&hall_id, the_day).unwrap();
    let by_code: HashMap<&str, &onestop_model::Booking> =
        bookings.iter().map(|b| (b.code.as_str(), b)).collect();

    // Every booking a visitor was shown a code for is in the documents, in the slot chosen.
    let offset = store.catalog().unwrap().expect("the catalogue").offset_of(&hall_id);
    for a in &attempts {
        if let Answer::Booked { code } = &a.answer {
            let b = by_code
                .get(code.as_str())
                .unwrap_or_else(|| panic!("booking {code} was acknowledged but is not in the documents"));
            let minute = (b.slot_start.0 - the_day.start(offset).0) / 60_000;
            assert_eq!((b.service.as_str(), minute.to_string()), (SERVICE, a.slot.clone()), "booking {code}");
        }
    }
    // No slot holds more bookings than its places.
    let mut per_slot: BTreeMap<(String, i64), usize> = BTreeMap::new();
    for b in bookings.iter().filter(|b| onestop_cloud::core::booking::holds_place(b)) {
        *per_slot.entry((b.service.to_string(), b.slot_start.0)).or_default() += 1;
    }
    let oversold: Vec<_> = per_slot.iter().filter(|(_, n)| **n > PLACES).collect();
    assert!(oversold.is_empty(), "slots holding more than {PLACES} bookings: {oversold:?}");
    let acked_per_slot = attempts.iter().filter(|a| matches!(a.answer, Answer::Booked { .. })).fold(
        HashMap::<&str, usize>::new(),
        |mut m, a| {
            *m.entry(a.slot.as_str()).or_default() += 1;
            m
        },
    );
    assert!(acked_per_slot.values().all(|n| *n <= PLACES), "{acked_per_slot:?}");

    // The office table and the documents agree: the row is written inside the booking's write.
    let db = rusqlite::Connection::open(onestop_cloud::core::office_path(&campus.cloud_data)).unwrap();
    let rows: Vec<(String, String, String)> = db
        .prepare("SELECT code, id, visitor FROM bookings WHERE day = ?1")
        .unwrap()
        .query_map([&day], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let row_codes: HashMap<&str, &str> = rows.iter().map(|(c, id, _)| (c.as_str(), id.as_str())).collect();
    for b in &bookings {
        assert_eq!(
            row_codes.get(b.code.as_str()).copied(),
            Some(b.id.as_str()),
            "booking {} has no office row",
            b.code
        );
    }
    let orphans: Vec<&(String, String, String)> =
        rows.iter().filter(|(code, _, _)| !by_code.contains_key(code.as_str())).collect();
    // A visitor told "already booked" holds a booking.
    let key = std::fs::read_to_string(campus.cloud_data.join("visitor.key")).unwrap();
    let key = onestop_protocol::secrets::VisitorKey::from_hex(key.trim()).unwrap();
    let holders: HashSet<String> =
        bookings.iter().filter_map(|b| b.visitor.as_ref().map(|v| v.id.to_string())).collect();
    let refused_wrongly: Vec<&str> = attempts
        .iter()
        .filter(|a| matches!(a.answer, Answer::Twice))
        .filter(|a| !holders.contains(&key.pseudonym(&a.card).to_string()))
        .map(|a| a.card.as_str())
        .collect();
    if !orphans.is_empty() || !refused_wrongly.is_empty() {
        eprintln!(
            "KNOWN PRODUCT BUG (see `a_booking_the_store_could_not_write_leaves_no_office_row`): office \
             rows of bookings that are in no document: {orphans:?}; cards refused as already booked \
             without a booking: {refused_wrongly:?}"
        );
    }
    if OFFICE_ROWS_SURVIVE_A_CUT_ALONE {
        assert!(
            orphans.is_empty() && refused_wrongly.is_empty(),
            "office rows of bookings that are in no document: {orphans:?}; cards refused as already \
             booked without a booking: {refused_wrongly:?}"
        );
    }

    // Every step the back office said it recorded is in its case's history, once, by its
    // reviewer; every case went the whole way.
    for (r, review) in reviews.iter().enumerate() {
        for (number, status) in &review.recorded {
            let case = store.case(&CaseNo::new(number.clone())).unwrap().expect("the case");
            let steps: Vec<_> = case.history.iter().filter(|s| s.status == *status).collect();
            assert_eq!(steps.len(), 1, "step {} of {number}: {:?}", status.as_str(), case.history);
            assert_eq!(steps[0].by, format!("reviewer{}", r + 1));
        }
    }
    for number in &cases {
        let case = store.case(&CaseNo::new(number.clone())).unwrap().expect("the case");
        let statuses: Vec<CaseStatus> = case.history.iter().map(|s| s.status).collect();
        assert_eq!(statuses[0], CaseStatus::Registered, "{number}");
        assert_eq!(&statuses[1..], &STEPS, "{number}: every step once, in order");
    }
}

/// The same without a cut, in process: the store fails to commit (a full disk) after the
/// booking's office row was written. The booking is refused as a failure and its row must go
/// with it, or the visitor's next attempt is refused as "already booked" with no booking.
#[test]
fn a_booking_the_store_could_not_write_leaves_no_office_row() {
    use onestop_cloud::core::booking::{BookRefusal, BookRequest, book, bookable_days, publish_key};
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(catalog(dir.path())).unwrap();
    let cat = onestop_protocol::seed::parse(&text, "catalog.toml").unwrap();
    let clock = Arc::new(onestop_protocol::clock::SystemClock);
    let core = onestop_cloud::core::Core::in_memory(clock);
    core.publish(|c| {
        *c = cat.clone();
        Ok(())
    })
    .unwrap();
    publish_key(&core).unwrap();
    let hall = cat.halls[&HallId::new("main")].clone();
    let service = cat.services[&onestop_model::ServiceId::new(SERVICE)].clone();
    let day = bookable_days(&hall, core.now())[1];
    let req = BookRequest {
        client: "10.0.0.1".into(),
        day: day.to_string(),
        slot: "720".into(),
        card: "20240001".into(),
    };

    core.store().simulate_full_disk(true).unwrap();
    let failed = book(&core, &hall, &service, &req);
    assert!(matches!(failed, Err(BookRefusal::Failed(_))), "{failed:?}");
    core.store().simulate_full_disk(false).unwrap();
    assert!(core.store().bookings(&hall.id, day).unwrap().is_empty(), "nothing was booked");
    let rows: i64 = core.db().query_row("SELECT count(*) FROM bookings", [], |r| r.get(0)).unwrap();
    let again = book(&core, &hall, &service, &req);
    assert_eq!(rows, 0, "an office row of a booking that was not written; the next attempt: {again:?}");
    assert!(again.is_ok(), "the visitor books once the disk has room: {again:?}");
}

#[test]
fn a_hall_node_killed_twenty_times_under_ticket_load_keeps_every_acknowledged_ticket() {
    let dir = tempfile::tempdir().unwrap();
    let options = kill_loop::Options { cycles: 20, ..kill_loop::Options::default() };
    let figures = kill_loop::run(dir.path(), &options);
    eprintln!("{figures}");
    assert!(figures.acknowledged > 0, "tickets were issued: {figures}");
    assert!(figures.sound(), "{figures}");
    assert!(figures.in_documents >= figures.acknowledged, "{figures}");
}
