//! A short pass of the fuzzer over every parser a peer or a visitor reaches (the long run,
//! ten million inputs per parser, is `cargo bench -p onestop-tests --bench fuzz`).

use onestop_tests::fuzz::{Seeds, Target, run, seeds_are_valid};

#[test]
fn every_parser_answers_mutated_input_without_panicking() {
    let seeds = Seeds::new();
    assert!(seeds_are_valid(&seeds), "every seed is accepted as it is");
    for target in Target::ALL {
        // Document loads are slower: fewer of them.
        let inputs = if matches!(target, Target::DayDoc | Target::CaseDoc) { 2_000 } else { 20_000 };
        let report = run(&seeds, target, inputs, 0xC1);
        assert_eq!(report.panic_count, 0, "{}: panics on {:?}", target.name(), report.panics);
        assert_eq!(report.inputs, inputs);
        // Mutations must not all be thrown out at the first byte: some are still accepted.
        assert!(report.accepted > 0, "{}: nothing accepted, the mutations test nothing", target.name());
    }
}
