//! What a saved Automerge document says about itself, read without loading it.
//!
//! A whole document arriving over sync (a week's backlog, a new hall's history) is stored as
//! it came; to check who wrote it and to answer the peer, the receiver needs only its actors
//! and heads, which the document chunk's header lists before its columns. Loading a busy day
//! costs tens of milliseconds; reading its header, a checksum over its bytes.
//!
//! The layout (Automerge's binary format, document chunk): magic `85 6f 4a 83`, a 4-byte
//! checksum (the first bytes of SHA-256 over the chunk type, the LEB128 length and the data),
//! the chunk type (0: document), the data's LEB128 length, then the data: the actors
//! (a LEB128 count of LEB128-length-prefixed ids), the heads (a LEB128 count of 32-byte
//! hashes), then the columns. Every change in the document names its author by an index into
//! the actors, so the actors are every author of the document.

use automerge::{ActorId, ChangeHash};
use sha2::{Digest, Sha256};

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT: u8 = 0;

/// A document chunk's actors and heads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub actors: Vec<ActorId>,
    pub heads: Vec<ChangeHash>,
}

fn uleb(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn take<'a>(bytes: &'a [u8], at: &mut usize, n: usize) -> Option<&'a [u8]> {
    let end = at.checked_add(n)?;
    let out = bytes.get(*at..end)?;
    *at = end;
    Some(out)
}

/// The header of `bytes` if they are exactly one document chunk with a valid checksum
/// (nothing before or after it); `None` for anything else (the caller then loads the bytes
/// the ordinary way, which checks everything).
pub fn read_header(bytes: &[u8]) -> Option<Header> {
    let mut at = 0;
    if take(bytes, &mut at, 4)? != MAGIC {
        return None;
    }
    let checksum = take(bytes, &mut at, 4)?;
    let kind_at = at;
    if *bytes.get(at)? != DOCUMENT {
        return None;
    }
    at += 1;
    let len = usize::try_from(uleb(bytes, &mut at)?).ok()?;
    let data_at = at;
    if data_at.checked_add(len)? != bytes.len() {
        return None;
    }
    let digest = Sha256::new().chain_update(&bytes[kind_at..]).finalize();
    if digest[..4] != *checksum {
        return None;
    }
    let count = uleb(bytes, &mut at)?;
    let mut actors = Vec::new();
    for _ in 0..count {
        let n = usize::try_from(uleb(bytes, &mut at)?).ok()?;
        actors.push(ActorId::from(take(bytes, &mut at, n)?));
    }
    let count = uleb(bytes, &mut at)?;
    let mut heads = Vec::new();
    for _ in 0..count {
        heads.push(ChangeHash::try_from(take(bytes, &mut at, 32)?).ok()?);
    }
    Some(Header { actors, heads })
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};
    use proptest::prelude::*;

    fn doc_by(actors: &[&[u8]]) -> AutoCommit {
        let mut doc = AutoCommit::new();
        for (i, a) in actors.iter().enumerate() {
            let mut other = doc.fork().with_actor(ActorId::from(*a));
            other.put(ROOT, format!("k{i}"), i as i64).unwrap();
            other.commit();
            doc.merge(&mut other).unwrap();
        }
        doc
    }

    #[test]
    fn the_header_names_every_author_and_the_heads() {
        let mut doc = doc_by(&[b"node-a", b"cloud", b"node-a"]);
        let bytes = doc.save();
        let h = read_header(&bytes).unwrap();
        let mut actors: Vec<String> = h.actors.iter().map(|a| a.to_string()).collect();
        actors.sort();
        let mut expected = vec![
            ActorId::from(b"cloud".as_slice()).to_string(),
            ActorId::from(b"node-a".as_slice()).to_string(),
        ];
        expected.sort();
        assert_eq!(actors, expected);
        let mut heads = doc.get_heads();
        heads.sort();
        let mut read = h.heads.clone();
        read.sort();
        assert_eq!(read, heads);
    }

    #[test]
    fn anything_but_one_whole_valid_document_chunk_is_not_read() {
        let mut doc = doc_by(&[b"node-a"]);
        let bytes = doc.save();
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(read_header(&longer).is_none(), "trailing bytes");
        assert!(read_header(&bytes[..bytes.len() - 1]).is_none(), "cut short");
        // A change chunk (what an incremental save holds) is not a document.
        doc.put(ROOT, "x", 1).unwrap();
        let change = doc.save_incremental();
        assert!(read_header(&change).is_none());
        assert!(read_header(&[]).is_none());
    }

    proptest! {
        #[test]
        fn any_changed_byte_is_caught_or_harmless(at in 0usize..4096, bit in 0u8..8) {
            let bytes = doc_by(&[b"node-a", b"cloud"]).save();
            let at = at % bytes.len();
            let mut bad = bytes.clone();
            bad[at] ^= 1 << bit;
            // The checksum covers everything after the checksum itself; a flipped bit in the
            // magic or the checksum fails their comparison.
            prop_assert!(read_header(&bad).is_none());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = read_header(&bytes);
        }
    }
}
