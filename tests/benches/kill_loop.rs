//! Power cuts at a hall, run by hand: a hall node (`onestop-edge run`) under ticket load from
//! a few client threads (`POST /api/tickets`), killed with SIGKILL 50–500 ms (at random) after
//! each start and started again from its files, 1,000 times unless told otherwise; then the
//! day's document is read from the node's store: every acknowledged ticket (HTTP 200) must be
//! in it, no number twice, each prefix's numbers gapless from 001.
//!
//! ```text
//! cargo bench --profile dev -p onestop-tests --bench kill_loop            # 1,000 cycles
//! cargo bench --profile dev -p onestop-tests --bench kill_loop -- 5000    # another count
//! cargo bench --profile dev -p onestop-tests --bench kill_loop -- 1000 42 # and a seed
//! ```
//!
//! Prints the figures (cycles, tickets acknowledged, tickets in the document, duplicates,
//! gaps, time) and exits non-zero when a ticket was lost, numbered twice or skipped. The loop
//! itself is `onestop_tests::kill_loop`, which `tests/power_cut.rs` runs for 20 cycles.

use onestop_tests::kill_loop::{Options, run};

fn main() {
    // `cargo bench` passes `--bench`; the numbers are ours.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let mut options = Options { progress_every: 100, ..Options::default() };
    if let Some(n) = args.first() {
        options.cycles = n.parse().expect("the number of cycles");
    }
    options.seed = match args.get(1) {
        Some(s) => s.parse().expect("a seed"),
        None => onestop_model::clock::Clock::now(&onestop_model::clock::SystemClock).0 as u64,
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    println!(
        "kill loop: {} cycles, {} clients, a ticket each {} ms per client, SIGKILL {}–{} ms after each start, seed {}",
        options.cycles,
        options.clients,
        options.pace.as_millis(),
        options.kill_after_ms.0,
        options.kill_after_ms.1,
        options.seed
    );
    let figures = run(dir.path(), &options);
    println!("{figures}");
    if !figures.sound() {
        eprintln!("FAILED: the node's data is not what it acknowledged (kept in {})", dir.keep().display());
        std::process::exit(1);
    }
}
