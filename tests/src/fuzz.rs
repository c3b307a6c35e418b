//! A mutation fuzzer for every parser that reads what a peer or a visitor sends: sync frames
//! (hello included) whole and as a stream, whole-document headers, sync messages before
//! Automerge sees them, booking tokens, and the day and case codecs (from event strings and
//! from documents loaded from mutated bytes). Inputs are valid seeds changed by a few random
//! edits (bit flips, interesting bytes, insertions, deletions, truncations, duplications and
//! splices between seeds); a parser may refuse an input, never panic.
//!
//! `cargo bench -p onestop-tests --bench fuzz` runs ten million inputs per target (by hand);
//! the tests run a short pass of every target.

use automerge::Automerge;
use onestop_model::*;
use onestop_protocol::booking_token::{BookingClaim, BookingSigner, BookingVerifier};
use onestop_protocol::wire::{DocHeads, Frame, FrameReader, PROTOCOL_VERSION};
use onestop_protocol::{DocId, cases, day, fixtures, inspect, wholedoc};
use std::panic::AssertUnwindSafe;

/// A fast pseudo-random generator (xorshift64*), seeded: a run can be repeated.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next_u64() % n as u64) as usize }
    }
    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// `seed` changed by one to four random edits, sometimes spliced with `other`.
pub fn mutate(seed: &[u8], other: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x42, 0x43, 0x85][rng.below(8)];
            }
            2 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                v.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(32));
                v.drain(i..i + n);
            }
            4 => v.truncate(rng.below(len + 1)),
            5 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                let copy = v[i..i + n].to_vec();
                let at = rng.below(len + 1);
                v.splice(at..at, copy);
            }
            6 if !other.is_empty() => {
                let cut = rng.below(len + 1);
                let from = rng.below(other.len());
                v.truncate(cut);
                v.extend_from_slice(&other[from..]);
            }
            7 if len >= 8 => {
                // A LEB128 length or count made huge.
                let i = rng.below(len - 8);
                v[i..i + 8].copy_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
            }
            _ => {
                let n = rng.below(64);
                v = (0..n).map(|_| rng.next_u64() as u8).collect();
            }
        }
    }
    v
}

/// What is fuzzed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `Frame::decode` on a frame's body (hello, sync, refused).
    Frame,
    /// `FrameReader` on a byte stream cut at random places.
    FrameStream,
    /// `wholedoc::read_header` on a saved document.
    WholeDoc,
    /// `inspect::message` on a sync message (and `Message::decode` on what it passes).
    SyncMessage,
    /// `BookingVerifier::verify` on a signed token.
    BookingToken,
    /// `day::decode` on an event's stored form.
    DayEvent,
    /// `day::read` on a day document loaded from mutated bytes.
    DayDoc,
    /// `cases::read` on a cases document loaded from mutated bytes.
    CaseDoc,
}

impl Target {
    pub const ALL: [Target; 8] = [
        Target::Frame,
        Target::FrameStream,
        Target::WholeDoc,
        Target::SyncMessage,
        Target::BookingToken,
        Target::DayEvent,
        Target::DayDoc,
        Target::CaseDoc,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Target::Frame => "frame",
            Target::FrameStream => "frame-stream",
            Target::WholeDoc => "whole-doc",
            Target::SyncMessage => "sync-message",
            Target::BookingToken => "booking-token",
            Target::DayEvent => "day-event",
            Target::DayDoc => "day-doc",
            Target::CaseDoc => "case-doc",
        }
    }
}

/// Valid inputs to start from.
pub struct Seeds {
    frames: Vec<Vec<u8>>,
    docs: Vec<Vec<u8>>,
    messages: Vec<Vec<u8>>,
    tokens: Vec<Vec<u8>>,
    events: Vec<Vec<u8>>,
    cases: Vec<Vec<u8>>,
    verifier: BookingVerifier,
    origin: Timestamp,
}

fn day_doc() -> Automerge {
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    day::append(&mut tx, &fixtures::hall(), fixtures::d(), 480, &fixtures::every_event()).unwrap();
    tx.commit();
    doc
}

fn cases_doc() -> Automerge {
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    let case = Case {
        number: CaseNo::for_ticket(fixtures::d(), &fixtures::hall(), TicketNo::new('B', 3)),
        code: "K7QM2P".into(),
        kind: CaseKind::Pending,
        hall: fixtures::hall(),
        service: ServiceId::new("visa"),
        ticket: TicketNo::new('B', 3),
        window: 2,
        staff: Some(StaffId::new("s1")),
        visitor: Some(VisitorId::new("abc")),
        history: vec![CaseStep {
            at: fixtures::at(10),
            status: CaseStatus::Registered,
            by: "s1".into(),
            reason: None,
        }],
    };
    cases::register(&mut tx, &fixtures::hall(), "2026-11", &case).unwrap();
    tx.commit();
    doc
}

impl Seeds {
    pub fn new() -> Seeds {
        let day = day_doc();
        let saved = day.save();
        let mut state = automerge::sync::State::new();
        let hello = Automerge::new();
        let request = automerge::sync::SyncDoc::generate_sync_message(&hello, &mut state).unwrap();
        let mut ours = automerge::sync::State::new();
        let mut copy = day.clone();
        automerge::sync::SyncDoc::receive_sync_message(&mut copy, &mut ours, request.clone()).unwrap();
        let changes = automerge::sync::SyncDoc::generate_sync_message(&copy, &mut ours).unwrap().encode();
        let frames = [
            Frame::Hello {
                version: PROTOCOL_VERSION,
                time_ms: 1_796_518_800_000,
                actor: vec![0x42; 16],
                docs: vec![DocHeads { id: fixtures::day_id(), heads: day.get_heads() }],
            },
            Frame::Sync { doc: fixtures::day_id(), message: changes.clone() },
            Frame::Refused { doc: DocId::Catalog, reason: "read-only".into() },
        ]
        .iter()
        .map(|f| f.encode()[4..].to_vec())
        .collect();
        let (signer, _) = BookingSigner::generate();
        let claim = BookingClaim {
            booking: BookingId::new("b-0001"),
            hall: fixtures::hall(),
            day: fixtures::d(),
            service: ServiceId::new("cert"),
            slot_start: fixtures::at(60),
            slot_end: fixtures::at(90),
            code: "K7QM2P".into(),
            visitor: Some(fixtures::visitor("v1")),
        };
        let token = signer.sign(&claim).unwrap();
        let origin = fixtures::d().start(480);
        let events = fixtures::every_event().iter().map(|e| day::encode(e, origin).into_bytes()).collect();
        Seeds {
            frames,
            docs: vec![saved.clone(), day.save_nocompress()],
            messages: vec![changes, request.encode(), fixtures::sync_message_with(&[saved])],
            tokens: vec![token.into_bytes()],
            events,
            cases: vec![cases_doc().save(), cases_doc().save_nocompress()],
            verifier: signer.verifier(),
            origin,
        }
    }

    fn pool(&self, target: Target) -> &[Vec<u8>] {
        match target {
            Target::Frame | Target::FrameStream => &self.frames,
            Target::WholeDoc | Target::DayDoc => &self.docs,
            Target::SyncMessage => &self.messages,
            Target::BookingToken => &self.tokens,
            Target::DayEvent => &self.events,
            Target::CaseDoc => &self.cases,
        }
    }

    /// Runs one input through `target`'s parser; `true` if it was accepted.
    fn run_one(&self, target: Target, input: &[u8], rng: &mut Rng) -> bool {
        match target {
            Target::Frame => Frame::decode(input).is_ok(),
            Target::FrameStream => {
                let mut framed = (input.len() as u32).to_be_bytes().to_vec();
                framed.extend_from_slice(input);
                framed.extend_from_slice(input);
                let mut reader = FrameReader::new();
                let mut ok = false;
                let mut at = 0;
                while at < framed.len() {
                    let n = 1 + rng.below(framed.len() - at);
                    reader.push(&framed[at..at + n]);
                    at += n;
                    loop {
                        match reader.next_frame() {
                            Ok(Some(_)) => ok = true,
                            Ok(None) => break,
                            Err(_) => return ok,
                        }
                    }
                }
                ok
            }
            Target::WholeDoc => wholedoc::read_header(input).is_some(),
            Target::SyncMessage => {
                let passed = inspect::message(input, &inspect::Limits::default()).is_ok();
                if passed {
                    assert!(
                        automerge::sync::Message::decode(input).is_ok(),
                        "the walk passed what Automerge cannot decode"
                    );
                }
                passed
            }
            Target::BookingToken => {
                let text = String::from_utf8_lossy(input);
                self.verifier.verify(&text).is_ok()
            }
            Target::DayEvent => {
                let text = String::from_utf8_lossy(input);
                day::decode(&text, self.origin, "fuzz").is_ok()
            }
            Target::DayDoc => Automerge::load(input).is_ok_and(|d| day::read(&d, "fuzz").is_ok()),
            Target::CaseDoc => Automerge::load(input).is_ok_and(|d| cases::read(&d, "fuzz").is_ok()),
        }
    }
}

impl Default for Seeds {
    fn default() -> Seeds {
        Seeds::new()
    }
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Report {
    pub inputs: u64,
    pub accepted: u64,
    /// Inputs that made the parser panic (hex), at most ten kept.
    pub panics: Vec<String>,
    pub panic_count: u64,
}

/// Runs `inputs` generated inputs through `target`, from PRNG seed `seed`.
pub fn run(seeds: &Seeds, target: Target, inputs: u64, seed: u64) -> Report {
    let mut rng = Rng::new(seed ^ (target as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let pool = seeds.pool(target);
    let mut report = Report::default();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for _ in 0..inputs {
        let seed_input = &pool[rng.below(pool.len())];
        let other = &pool[rng.below(pool.len())];
        let input = mutate(seed_input, other, &mut rng);
        let mut inner = Rng::new(rng.next_u64());
        match std::panic::catch_unwind(AssertUnwindSafe(|| seeds.run_one(target, &input, &mut inner))) {
            Ok(true) => report.accepted += 1,
            Ok(false) => {}
            Err(_) => {
                report.panic_count += 1;
                if report.panics.len() < 10 {
                    report.panics.push(input.iter().map(|b| format!("{b:02x}")).collect());
                }
            }
        }
        report.inputs += 1;
    }
    std::panic::set_hook(hook);
    report
}

/// Whether every seed is accepted as it is (the fuzzer starts from valid inputs).
pub fn seeds_are_valid(seeds: &Seeds) -> bool {
    let mut rng = Rng::new(7);
    Target::ALL.iter().all(|t| seeds.pool(*t).iter().all(|s| seeds.run_one(*t, s, &mut rng)))
}
