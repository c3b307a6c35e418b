//! Statistics benchmark, run by hand: one year of four halls at 5,000 tickets a day (about
//! 7.3 million tickets) in `stats.sqlite`, then the dashboard's queries timed.
//!
//! ```text
//! cargo bench -p onestop-tests --bench stats               # 365 days
//! cargo bench -p onestop-tests --bench stats -- 30         # fewer days (a quick look)
//! STATS_DIR=/tmp/stats cargo bench -p onestop-tests --bench stats   # keep (and reuse) the file
//! ```
//!
//! The year is generated straight into the projection's tables (ticket facts through the
//! projector's own `put_tickets`, each hall-day's rollup through its own `write_rollup`, shifts,
//! pauses, bookings), not through Automerge: syncing and folding a year of documents is not
//! what is measured here (the projector's cost per document is: the last part folds a real
//! 5,000-ticket day document from a store, then ten more events from its cursor).
//!
//! Figures only: nothing here asserts a time.

use onestop_cloud::stats::project::{self, Projection, put_tickets, write_attendance, write_rollup};
use onestop_cloud::stats::query::{self, Filter, Group};
use onestop_model::stats::{DayFacts, Outcome, Pause, Shift, SourceKind, TicketFacts};
use onestop_model::{
    BookingId, CaseKind, Catalog, Day, DayEvent, HallId, Level, PersonKind, Priority, Rating, ServiceId,
    StaffId, TicketNo, Timestamp,
};
use onestop_protocol::{DocId, day};
use onestop_store::Store;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const HALLS: [&str; 4] = ["main", "east", "west", "med"];
const PER_DAY: u32 = 5_000;
const SERVICES: u32 = 12;
const WINDOWS: u16 = 10;
const COLLEGES: u32 = 30;
const RUNS: usize = 40;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn catalog() -> Catalog {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/demo/catalog.toml");
    onestop_protocol::seed::load(&path).unwrap_or_default()
}

/// One hall-day of tickets: arrivals over 08:30–17:00, waits of 0–40 min, 3–12 min of
/// handling, 4% no-shows, 60% rated.
fn day_of(rng: &mut Rng, d: Day) -> (Vec<TicketFacts>, Vec<Shift>, Vec<Pause>) {
    let origin = d.start(480);
    let mut tickets = Vec::with_capacity(PER_DAY as usize);
    for n in 0..PER_DAY {
        let issued = origin.plus_ms((8 * 3600 + 1800 + rng.below(8 * 3600 + 1800) as i64) * 1000);
        let wait = rng.below(40 * 60) as i64 * 1000;
        let called = issued.plus_ms(wait);
        let window = 1 + rng.below(u64::from(WINDOWS)) as u16;
        let no_show = rng.below(100) < 4;
        let started = called.plus_ms(30_000);
        let finished = started.plus_ms((3 * 60 + rng.below(9 * 60) as i64) * 1000);
        let rated = !no_show && rng.below(100) < 60;
        let level = Level::from_score(match rng.below(100) {
            0..=54 => 5,
            55..=84 => 4,
            85..=94 => 3,
            95..=98 => 2,
            _ => 1,
        })
        .unwrap();
        let source = match rng.below(10) {
            0..=5 => SourceKind::Card,
            6 => SourceKind::Booking,
            _ => SourceKind::Anonymous,
        };
        let prefix = (b'A' + (n % SERVICES) as u8) as char;
        tickets.push(TicketFacts {
            ticket: TicketNo::new(prefix, n / SERVICES + 1),
            service: ServiceId::new(format!("svc{}", n % SERVICES)),
            priority: Priority::Normal,
            source,
            booking: (source == SourceKind::Booking).then(|| BookingId::new(format!("b{n}"))),
            visitor_kind: (source != SourceKind::Anonymous).then_some(PersonKind::Undergraduate),
            college: (source != SourceKind::Anonymous)
                .then(|| format!("学院{}", rng.below(u64::from(COLLEGES)))),
            issued_at: issued,
            hour: (issued.since(origin) / 3_600_000) as u8,
            first_called_at: Some(called),
            started_at: (!no_show).then_some(started),
            finished_at: (!no_show).then_some(finished),
            no_show_at: no_show.then_some(called.plus_ms(120_000)),
            window: Some(window),
            staff: Some(StaffId::new(format!("s{window:02}"))),
            outcome: if no_show { Outcome::NoShow } else { Outcome::Done },
            calls: 1,
            transfers: 0,
            rating: rated.then_some(Rating {
                level,
                attitude: Some(level),
                efficiency: Some(level),
                quality: None,
            }),
            rated_at: rated.then_some(finished.plus_ms(20_000)),
        });
    }
    let at = |h: i64, m: i64| origin.plus_minutes(h * 60 + m);
    let shifts = (1..=WINDOWS)
        .map(|w| Shift {
            window: w,
            staff: StaffId::new(format!("s{w:02}")),
            checked_in: at(8, 25),
            checked_out: Some(at(17, 5)),
        })
        .collect();
    let pauses = (1..=WINDOWS / 2)
        .map(|w| Pause {
            window: w,
            staff: Some(StaffId::new(format!("s{w:02}"))),
            reason: if w % 2 == 0 { "午休".into() } else { "系统故障 system".into() },
            paused_at: at(12, 0),
            resumed_at: Some(at(12, 30 + i64::from(w))),
        })
        .collect();
    (tickets, shifts, pauses)
}

fn generate(p: &mut Projection, days: i32, to: Day, catalog: &Catalog) {
    let started = Instant::now();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let from = to.plus_days(-days + 1);
    for i in 0..days {
        let d = from.plus_days(i);
        let tx = p.conn.transaction().unwrap();
        for h in HALLS {
            let hall = HallId::new(h);
            let (tickets, shifts, pauses) = day_of(&mut rng, d);
            put_tickets(&tx, &hall, &d.to_string(), tickets.iter(), catalog).unwrap();
            write_attendance(&tx, &hall, &d.to_string(), &shifts, &pauses).unwrap();
            write_rollup(&tx, &hall, &d.to_string(), &tickets).unwrap();
            let mut put = tx
                .prepare_cached(
                    "INSERT INTO bookings (hall, day, booking, service, slot_start_ms, slot_end_ms, status)
                     VALUES (?1, ?2, ?3, 'svc0', ?4, ?5, ?6)",
                )
                .unwrap();
            for t in tickets.iter().filter(|t| t.booking.is_some()).take(200) {
                put.execute(rusqlite::params![
                    h,
                    d.to_string(),
                    t.booking.as_ref().unwrap().as_str(),
                    t.issued_at.0,
                    t.issued_at.0 + 1_800_000,
                    "checked_in"
                ])
                .unwrap();
            }
            for k in 0..40 {
                put.execute(rusqlite::params![
                    h,
                    d.to_string(),
                    format!("m{k}"),
                    d.start(480).0 + 9 * 3_600_000,
                    d.start(480).0 + 9 * 3_600_000 + 1_800_000,
                    if k % 4 == 0 { "cancelled" } else { "booked" }
                ])
                .unwrap();
            }
        }
        tx.commit().unwrap();
        if (i + 1) % 30 == 0 {
            eprintln!("  {} days generated ({:.0} s)", i + 1, started.elapsed().as_secs_f64());
        }
    }
    eprintln!(
        "generated {days} days × {} halls × {PER_DAY} tickets in {:.0} s",
        HALLS.len(),
        started.elapsed().as_secs_f64()
    );
}

fn spread(samples: &mut [Duration]) -> (f64, f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    (at(0.5), at(0.99), at(1.0))
}

fn time<R>(
    name: &str,
    rows: &mut Vec<(String, f64, f64, f64, usize)>,
    mut f: impl FnMut() -> R,
    size: impl Fn(&R) -> usize,
) {
    let mut samples = Vec::with_capacity(RUNS);
    let mut n = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let r = f();
        samples.push(t.elapsed());
        n = size(&r);
    }
    let (p50, p99, max) = spread(&mut samples);
    eprintln!("{name:<58} p50 {p50:>8.2} ms  p99 {p99:>8.2} ms  max {max:>8.2} ms  ({n} rows)");
    rows.push((name.to_string(), p50, p99, max, n));
}

/// The projector on a real day document: 5,000 tickets (25,000 events) folded from a store,
/// then ten more events from the cursor.
fn projector_pass(catalog: &Catalog) {
    let d = Day::new(2026, 11, 26).unwrap();
    let hall = HallId::new("main");
    let origin = d.start(480);
    let mut events = Vec::new();
    for n in 0..PER_DAY {
        let t = TicketNo::new('A', n + 1);
        let at = |m: i64| origin.plus_ms((8 * 3600 + i64::from(n) * 6 + m) * 1000);
        events.push(DayEvent::Issued {
            at: at(0),
            ticket: t,
            service: ServiceId::new("transcript"),
            source: onestop_model::Source::Anonymous,
            priority: Priority::Normal,
            ahead: 0,
            wait_estimate_min: 0,
        });
        events.push(DayEvent::Called { at: at(300), ticket: t, window: 1 });
        events.push(DayEvent::Started { at: at(310), ticket: t, window: 1 });
        events.push(DayEvent::Finished { at: at(500), ticket: t, window: 1, kind: CaseKind::Immediate });
        events.push(DayEvent::Rated {
            at: at(510),
            ticket: t,
            window: 1,
            rating: Rating::overall(Level::Satisfied),
        });
    }
    let id = DocId::Day { hall: hall.clone(), day: d };
    let mut store = Store::open_in_memory().unwrap();
    let (head, tail) = events.split_at(events.len() - 10);
    let stamp = store.next_stamp(origin.plus_minutes(600));
    store.write(stamp, |b| b.edit(&id, |tx| Ok(day::append(tx, &hall, d, 480, head)?))).unwrap();
    let store = Mutex::new(store);
    let mut p = Projection::open_in_memory().unwrap();
    let t = Instant::now();
    p.project(&store, &id, catalog).unwrap();
    let whole = t.elapsed();
    {
        let mut s = store.lock().unwrap();
        let stamp = s.next_stamp(origin.plus_minutes(601));
        s.write(stamp, |b| b.edit(&id, |tx| Ok(day::append(tx, &hall, d, 480, tail)?))).unwrap();
    }
    let t = Instant::now();
    let done = p.project(&store, &id, catalog).unwrap();
    let incremental = t.elapsed();
    assert_eq!(done.events, 10);
    let check = DayFacts::of(origin, &events);
    assert_eq!(check.tickets.len(), PER_DAY as usize);
    eprintln!(
        "projector: a {PER_DAY}-ticket day ({} events) folded whole in {:.0} ms; 10 more events from the cursor in {:.1} ms",
        events.len() - 10,
        whole.as_secs_f64() * 1e3,
        incremental.as_secs_f64() * 1e3
    );
}

fn main() {
    let days: i32 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(365);
    let catalog = catalog();
    projector_pass(&catalog);
    let keep = std::env::var_os("STATS_DIR").map(std::path::PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    let dir = keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).unwrap();
    let path = project::stats_path(&dir);
    let to = Day::new(2026, 12, 31).unwrap();
    let mut p = Projection::open(&path).unwrap();
    let have: i64 = p.conn.query_row("SELECT COUNT(DISTINCT day) FROM rollup", [], |r| r.get(0)).unwrap();
    if have != i64::from(days) {
        p.clear().unwrap();
        generate(&mut p, days, to, &catalog);
    }
    p.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); ANALYZE;").unwrap();
    let tickets: i64 = p.conn.query_row("SELECT COUNT(*) FROM tickets", [], |r| r.get(0)).unwrap();
    let rollups: i64 = p.conn.query_row("SELECT COUNT(*) FROM rollup", [], |r| r.get(0)).unwrap();
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    eprintln!("{tickets} tickets, {rollups} rollup rows, {:.0} MB", bytes as f64 / 1e6);
    drop(p);

    // The pages open their own connection per request (as `StatsDb::File`).
    let conn = project::open_reader(&path).unwrap();
    let now = Timestamp(to.start(480).0 + 20 * 3_600_000);
    let month = Filter { halls: None, from: to.plus_days(-29), to, staff: None };
    let year = Filter { halls: None, from: to.plus_days(-(days) + 1), to, staff: None };
    let one_hall = Filter { halls: Some([HallId::new("main")].into()), ..year.clone() };
    let staff_month = Filter { staff: Some(StaffId::new("s03")), ..month.clone() };
    let staff_month31 = Filter { from: to.plus_days(-30), ..staff_month.clone() };
    let staff_year = Filter { staff: Some(StaffId::new("s03")), ..year.clone() };
    let mut rows = Vec::new();
    time(
        "public /stats: days + halls, 30 days",
        &mut rows,
        || {
            let a = query::grouped(&conn, &month, Group::Day, &catalog).unwrap();
            let b = query::grouped(&conn, &month, Group::Hall, &catalog).unwrap();
            a.len() + b.len()
        },
        |n| *n,
    );
    time(
        "public /stats: days + halls, 365 days",
        &mut rows,
        || {
            let a = query::grouped(&conn, &year, Group::Day, &catalog).unwrap();
            let b = query::grouped(&conn, &year, Group::Hall, &catalog).unwrap();
            a.len() + b.len()
        },
        |n| *n,
    );
    for g in Group::ALL {
        time(
            &format!("office: a year, all halls, by {}", g.as_str()),
            &mut rows,
            || query::grouped(&conn, &year, g, &catalog).unwrap(),
            Vec::len,
        );
    }
    time(
        "office: a year, one hall, by service",
        &mut rows,
        || query::grouped(&conn, &one_hall, Group::Service, &catalog).unwrap(),
        Vec::len,
    );
    time(
        "office (window staff): own figures, 30 days, by day",
        &mut rows,
        || query::grouped(&conn, &staff_month, Group::Day, &catalog).unwrap(),
        Vec::len,
    );
    time(
        "office (window staff): own figures, a year, by day",
        &mut rows,
        || query::grouped(&conn, &staff_year, Group::Day, &catalog).unwrap(),
        Vec::len,
    );
    time(
        "office (window staff): own figures, 31 days, by service (ticket facts)",
        &mut rows,
        || query::grouped(&conn, &staff_month31, Group::Service, &catalog).unwrap(),
        Vec::len,
    );
    time("office: attendance shifts, 30 days", &mut rows, || query::shifts(&conn, &month).unwrap(), Vec::len);
    time(
        "office: pause reasons, a year",
        &mut rows,
        || query::pause_reasons(&conn, &year).unwrap(),
        Vec::len,
    );
    time(
        "office: bookings kept/missed, 30 days",
        &mut rows,
        || query::bookings(&conn, &month, now).unwrap(),
        |b| b.booked as usize,
    );
    time(
        "office: the whole default page (30 days, by day)",
        &mut rows,
        || {
            let a = query::grouped(&conn, &month, Group::Day, &catalog).unwrap();
            let b = query::shifts(&conn, &month).unwrap();
            let c = query::pause_reasons(&conn, &month).unwrap();
            let d = query::bookings(&conn, &month, now).unwrap();
            a.len() + b.len() + c.len() + d.booked as usize
        },
        |n| *n,
    );
    println!("\n| query | p50 | p99 | max | rows |\n|---|---|---|---|---|");
    for (name, p50, p99, max, n) in &rows {
        println!("| {name} | {p50:.1} ms | {p99:.1} ms | {max:.1} ms | {n} |");
    }
    let worst = rows.iter().map(|r| r.2).fold(0f64, f64::max);
    println!("\nworst p99: {worst:.1} ms (target: under 200 ms)");
}
