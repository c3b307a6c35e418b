//! The fuzzer by hand: `cargo bench -p onestop-tests --bench fuzz [-- INPUTS [TARGET]]`
//! (ten million inputs per target by default; targets: frame, frame-stream, whole-doc,
//! sync-message, booking-token, day-event, day-doc, case-doc). Prints each target's inputs,
//! how many were accepted, the time taken and every panic; exits non-zero on a panic.

use onestop_tests::fuzz::{Seeds, Target, run};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let inputs: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000_000);
    let only = args.get(1).cloned();
    let seeds = Seeds::new();
    let mut failed = false;
    println!("{:<14} {:>12} {:>10} {:>9} {:>7}", "target", "inputs", "accepted", "seconds", "panics");
    for target in Target::ALL {
        if only.as_deref().is_some_and(|o| o != target.name()) {
            continue;
        }
        let started = Instant::now();
        let report = run(&seeds, target, inputs, 0x5EED);
        println!(
            "{:<14} {:>12} {:>10} {:>9.1} {:>7}",
            target.name(),
            report.inputs,
            report.accepted,
            started.elapsed().as_secs_f64(),
            report.panic_count
        );
        for p in &report.panics {
            println!("  panic on input {p}");
            failed = true;
        }
    }
    if failed {
        std::process::exit(1);
    }
}
