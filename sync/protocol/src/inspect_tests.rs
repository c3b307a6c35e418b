use super::*;
use crate::fixtures::{chunk, compression_bomb, leb, sync_message_with as message_with};
use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, Automerge, ROOT};

/// A document of `changes` changes of `ops` operations each, by `actor`.
fn doc(actor: u8, changes: usize, ops: usize) -> Automerge {
    let mut d = AutoCommit::new().with_actor(ActorId::from([actor; 16]));
    let list = d.put_object(ROOT, "l", automerge::ObjType::List).unwrap();
    d.commit();
    for c in 0..changes {
        for o in 0..ops {
            d.insert(&list, 0, (c * ops + o) as i64).unwrap();
        }
        d.commit();
    }
    d.document().clone()
}

/// The first message `from` sends to a peer that has nothing.
fn first_message(from: &Automerge) -> Vec<u8> {
    let mut theirs = sync::State::new();
    let mut ours = sync::State::new();
    let empty = Automerge::new();
    let hello = empty.generate_sync_message(&mut theirs).unwrap();
    let mut copy = from.clone();
    copy.receive_sync_message(&mut ours, hello).unwrap();
    copy.generate_sync_message(&mut ours).unwrap().encode()
}

#[test]
fn real_messages_are_measured_as_automerge_counts_them() {
    let d = doc(1, 20, 50);
    let bytes = first_message(&d);
    let got = message(&bytes, &Limits::default()).unwrap();
    let changes = d.get_changes(&[]);
    assert_eq!(got.changes, changes.len() as u64);
    let ops: u64 = changes.iter().map(|c| c.len() as u64).sum();
    assert_eq!(got.ops, ops);
    let named: BTreeSet<_> = got.authors.union(&got.document_actors).cloned().collect();
    assert_eq!(named, BTreeSet::from([vec![1u8; 16]]));

    // A saved document (deflated columns) as one entry.
    let saved = d.save();
    let got = message(&message_with(std::slice::from_ref(&saved)), &Limits::default()).unwrap();
    assert_eq!((got.documents, got.changes, got.ops), (1, changes.len() as u64, ops));
    assert_eq!(got.document_actors, BTreeSet::from([vec![1u8; 16]]));
    assert!(got.authors.is_empty(), "a document's actors are checked on its new changes");
    assert!(got.inflated_bytes >= saved.len() as u64 / 2);
    // The same without compression.
    let got = message(&message_with(&[d.save_nocompress()]), &Limits::default()).unwrap();
    assert_eq!((got.changes, got.ops), (changes.len() as u64, ops));

    // Answers and requests carry no changes.
    let mut state = sync::State::new();
    let hello = Automerge::new().generate_sync_message(&mut state).unwrap().encode();
    assert_eq!(message(&hello, &Limits::default()).unwrap(), Inspection::default());
}

#[test]
fn limits_on_changes_and_operations_refuse_before_anything_is_applied() {
    let d = doc(2, 30, 10);
    let bytes = first_message(&d);
    let few = Limits { changes: 10, ..Limits::default() };
    assert!(message(&bytes, &few).unwrap_err().0.contains("changes"));
    let few = Limits { ops: 100, ..Limits::default() };
    assert!(message(&bytes, &few).unwrap_err().0.contains("operations"));
}

#[test]
fn a_compression_bomb_is_refused_while_it_inflates_without_keeping_it() {
    // A document chunk whose one (sequence) column inflates to 200 MiB of zeros.
    let bytes = compression_bomb(200);
    assert!(bytes.len() < 1 << 20, "the bomb is small on the wire: {}", bytes.len());
    let err = message(&bytes, &Limits::default()).unwrap_err();
    assert!(err.0.contains("inflates beyond"), "{err}");
    let bomb = vec![0x12; 64];
    // A compressed change chunk is never accepted.
    let err = message(&message_with(&[chunk(2, &bomb)]), &Limits::default()).unwrap_err();
    assert!(err.0.contains("compressed change"), "{err}");
}

#[test]
fn hostile_bloom_filters_and_envelopes_are_refused() {
    let bloom = |entries: u64, bits: u64, probes: u64, len: usize| {
        let mut f = Vec::new();
        leb(&mut f, entries);
        leb(&mut f, bits);
        leb(&mut f, probes);
        f.extend(std::iter::repeat_n(0u8, len));
        let mut m = vec![0x42, 0, 0, 1, 0];
        leb(&mut m, f.len() as u64);
        m.extend_from_slice(&f);
        m.push(0);
        m
    };
    assert!(message(&bloom(10, 10, 7, 13), &Limits::default()).is_ok());
    // Automerge would divide by zero, or try to allocate 16 GiB.
    assert!(message(&bloom(10, 0, 7, 0), &Limits::default()).is_err());
    assert!(message(&bloom(10, 10, u64::from(u32::MAX), 13), &Limits::default()).is_err());
    assert!(message(&bloom(10, 10, 7, 5), &Limits::default()).unwrap_err().0.contains("truncated"));
    // Thirty million empty entries in 30 MB: refused at the count, not decoded one by one.
    let mut m = vec![0x42, 0, 0, 0];
    leb(&mut m, 30_000_000);
    assert!(message(&m, &Limits::default()).unwrap_err().0.contains("change entries"));
    let mut m = vec![0x42];
    leb(&mut m, 1 << 40);
    assert!(message(&m, &Limits::default()).unwrap_err().0.contains("heads"));
    assert!(message(&[0x99], &Limits::default()).unwrap_err().0.contains("not a sync message"));
    assert!(message(&[], &Limits::default()).is_err());
}

#[test]
fn a_document_with_bytes_after_it_or_a_bad_checksum_is_refused() {
    let mut saved = doc(3, 3, 3).save();
    saved.push(0);
    assert!(message(&message_with(&[saved.clone()]), &Limits::default()).is_err());
    saved.pop();
    let last = saved.len() - 1;
    saved[last] ^= 1;
    assert!(message(&message_with(&[saved]), &Limits::default()).unwrap_err().0.contains("checksum"));
}

proptest::proptest! {
    /// Whatever the bytes, the walk answers (no panic) and never passes what Automerge then
    /// cannot decode as a message.
    #[test]
    fn any_bytes_are_answered(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
        if message(&bytes, &Limits::default()).is_ok() {
            proptest::prop_assert!(sync::Message::decode(&bytes).is_ok());
        }
    }

    /// A real message cut or changed anywhere is answered without panicking.
    #[test]
    fn a_changed_real_message_is_answered(cut in 0usize..4000, flip in 0usize..4000, bit in 0u8..8) {
        let mut bytes = first_message(&doc(4, 5, 5));
        let i = flip % bytes.len();
        bytes[i] ^= 1 << bit;
        bytes.truncate(cut.max(1));
        let _ = message(&bytes, &Limits::default());
    }
}
