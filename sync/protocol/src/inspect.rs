//! A sync message measured before anything in it is decoded, inflated or applied.
//!
//! Automerge decodes a sync message into a structure per entry, inflates compressed chunks and
//! columns without a limit and takes a Bloom filter's parameters as they come: a frame under
//! the wire's cap could expand to gigabytes, or ask for a 16 GiB allocation, inside the
//! receiver. So every message from a peer is walked here first, within [`Limits`]: the
//! envelope (heads, needs, haves and their Bloom filters, the change entries), then each
//! chunk of each entry (its checksum, its type: documents and changes only, never
//! compressed changes or bundles), counting changes and operations and measuring the columns
//! as inflated by streaming them through a counter (nothing inflated is kept). What comes out
//! is the message's size and its authors: the actors of the changes it carries, checked before
//! the message is applied anywhere (a document chunk's actors are checked on the changes
//! that turn out new: the receiver may hold some of them already).
//!
//! The layouts (Automerge's binary format): a sync message is a type byte (`0x42` or `0x43`),
//! the heads and the needs (each a LEB128 count of 32-byte hashes), the haves (a count of:
//! last-sync hashes, then a length-prefixed Bloom filter: entries, bits per entry, probes,
//! bits), the change entries (a count of length-prefixed byte strings) and optional flags. A
//! chunk is the magic `85 6f 4a 83`, a 4-byte checksum (SHA-256 of type, length and data), a
//! type byte, a LEB128 length and the data. A change's data: its dependencies, its actor, seq,
//! start op, time, message, other actors, column metadata (pairs of spec and length) and the
//! columns; a document's: its actors, heads, the change and operation column metadata and
//! their columns. A column spec with bit `0x08` is deflated; the action column (`0x42`) has
//! a row per operation, a document's sequence column (`0x03`) a row per change.

use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::io::Read;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const CHUNK_DOCUMENT: u8 = 0;
const CHUNK_CHANGE: u8 = 1;
const DEFLATED: u64 = 0x08;
const ACTION_COLUMN: u64 = 0x42;
const SEQ_COLUMN: u64 = 0x03;
const HASH: u64 = 32;

/// What a peer's sync message may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of all chunks' columns once inflated.
    pub inflated_bytes: u64,
    /// Changes (a document counts its changes).
    pub changes: u64,
    /// Operations.
    pub ops: u64,
    /// Hashes in the heads, the needs and each have's last-sync list.
    pub hashes: u64,
    /// Haves.
    pub haves: u64,
    /// Bits of one Bloom filter.
    pub bloom_bits: u64,
    /// Actors named by one chunk.
    pub actors: u64,
}

impl Default for Limits {
    /// Ten times what the busiest hall's week offline sends in one message, and far below
    /// what hurts a cloud: 64 MiB inflated, 200,000 changes, 4 million operations.
    fn default() -> Limits {
        Limits {
            inflated_bytes: 64 << 20,
            changes: 200_000,
            ops: 4_000_000,
            hashes: 10_000,
            haves: 64,
            bloom_bits: 8 * (4 << 20),
            actors: 10_000,
        }
    }
}

/// A message's size and authors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inspection {
    /// Change entries (each one or more chunks).
    pub entries: u64,
    pub changes: u64,
    pub ops: u64,
    /// Column bytes once inflated.
    pub inflated_bytes: u64,
    /// Whole documents among the chunks.
    pub documents: u64,
    /// The actors of the change chunks: the authors of those changes.
    pub authors: BTreeSet<Vec<u8>>,
    /// The actors the document chunks name: authors of some of their changes, of which the
    /// receiver may hold some already (its own, for instance), so these are checked on the
    /// changes that turn out new.
    pub document_actors: BTreeSet<Vec<u8>>,
}

/// Why a message is refused, in words for the peer's log and the node inventory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

fn refused(what: impl Into<String>) -> Refused {
    Refused(what.into())
}

/// Bytes read one at a time: from memory, or from a deflate stream.
trait Source {
    fn byte(&mut self) -> Result<u8, Refused>;
    fn at_end(&mut self) -> Result<bool, Refused>;
}

struct Slice<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Slice<'a> {
    fn new(bytes: &'a [u8]) -> Slice<'a> {
        Slice { bytes, at: 0 }
    }
    fn take(&mut self, n: u64) -> Result<&'a [u8], Refused> {
        let n = usize::try_from(n).map_err(|_| refused("a length beyond memory"))?;
        let end = self.at.checked_add(n).ok_or_else(|| refused("a length beyond memory"))?;
        let out = self.bytes.get(self.at..end).ok_or_else(|| refused("truncated"))?;
        self.at = end;
        Ok(out)
    }
    fn rest(&self) -> &'a [u8] {
        &self.bytes[self.at..]
    }
}

impl Source for Slice<'_> {
    fn byte(&mut self) -> Result<u8, Refused> {
        let b = *self.bytes.get(self.at).ok_or_else(|| refused("truncated"))?;
        self.at += 1;
        Ok(b)
    }
    fn at_end(&mut self) -> Result<bool, Refused> {
        Ok(self.at >= self.bytes.len())
    }
}

/// A deflated column read through a fixed buffer, counting what it inflates to, within a
/// budget.
struct Inflating<'a> {
    decoder: flate2::read::DeflateDecoder<&'a [u8]>,
    buf: Box<[u8; 16 * 1024]>,
    len: usize,
    at: usize,
    inflated: u64,
    budget: u64,
}

impl<'a> Inflating<'a> {
    fn new(deflated: &'a [u8], budget: u64) -> Inflating<'a> {
        Inflating {
            decoder: flate2::read::DeflateDecoder::new(deflated),
            buf: Box::new([0; 16 * 1024]),
            len: 0,
            at: 0,
            inflated: 0,
            budget,
        }
    }
    fn fill(&mut self) -> Result<bool, Refused> {
        if self.at < self.len {
            return Ok(true);
        }
        let n = self
            .decoder
            .read(&mut self.buf[..])
            .map_err(|e| refused(format!("a column does not inflate: {e}")))?;
        self.inflated += n as u64;
        if self.inflated > self.budget {
            return Err(refused("the message inflates beyond its limit"));
        }
        self.len = n;
        self.at = 0;
        Ok(n > 0)
    }
    /// Reads to the end, counting.
    fn drain(&mut self) -> Result<u64, Refused> {
        while self.fill()? {
            self.at = self.len;
        }
        Ok(self.inflated)
    }
}

impl Source for Inflating<'_> {
    fn byte(&mut self) -> Result<u8, Refused> {
        if !self.fill()? {
            return Err(refused("truncated column"));
        }
        let b = self.buf[self.at];
        self.at += 1;
        Ok(b)
    }
    fn at_end(&mut self) -> Result<bool, Refused> {
        Ok(!self.fill()?)
    }
}

/// An unsigned LEB128 number, refused where Automerge refuses it (too large, or padded with
/// a zero byte).
fn uleb(src: &mut impl Source) -> Result<u64, Refused> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = src.byte()?;
        let part = u64::from(b & 0x7f);
        if shift == 63 && part > 1 {
            return Err(refused("a number too large"));
        }
        value |= part << shift;
        if b & 0x80 == 0 {
            if shift > 0 && b == 0 {
                return Err(refused("a number written with padding"));
            }
            return Ok(value);
        }
    }
    Err(refused("a number too large"))
}

fn sleb(src: &mut impl Source) -> Result<i64, Refused> {
    let mut value: i64 = 0;
    let mut shift = 0;
    loop {
        let b = src.byte()?;
        if shift >= 64 {
            return Err(refused("a number too large"));
        }
        value |= i64::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            if shift < 64 && b & 0x40 != 0 {
                value |= -1i64 << shift;
            }
            return Ok(value);
        }
    }
}

/// A count, refused above `max`.
fn count(src: &mut impl Source, max: u64, what: &str) -> Result<u64, Refused> {
    let n = uleb(src)?;
    if n > max {
        return Err(refused(format!("{n} {what} (at most {max})")));
    }
    Ok(n)
}

/// The rows of a run-length-encoded column (a run, literals, or nulls, repeated).
fn rle_rows(src: &mut impl Source) -> Result<u64, Refused> {
    let mut rows = 0u64;
    while !src.at_end()? {
        let c = sleb(src)?;
        let n = if c > 0 {
            uleb(src)?;
            c.unsigned_abs()
        } else if c < 0 {
            let n = c.unsigned_abs();
            for _ in 0..n {
                uleb(src)?;
            }
            n
        } else {
            uleb(src)?
        };
        rows = rows.checked_add(n).ok_or_else(|| refused("a column too long"))?;
    }
    Ok(rows)
}

struct Walk<'l> {
    limits: &'l Limits,
    out: Inspection,
}

impl Walk<'_> {
    fn check_totals(&self) -> Result<(), Refused> {
        let (l, o) = (self.limits, &self.out);
        if o.changes > l.changes {
            return Err(refused(format!("more than {} changes in one message", l.changes)));
        }
        if o.ops > l.ops {
            return Err(refused(format!("more than {} operations in one message", l.ops)));
        }
        if o.inflated_bytes > l.inflated_bytes {
            return Err(refused("the message inflates beyond its limit"));
        }
        Ok(())
    }

    /// Column metadata: (spec, length) pairs.
    fn column_meta(&self, src: &mut Slice) -> Result<Vec<(u64, u64)>, Refused> {
        let n = count(src, 256, "columns")?;
        (0..n).map(|_| Ok((uleb(src)?, uleb(src)?))).collect()
    }

    /// Measures the columns of `meta`; returns the rows of the column `rows_of`.
    fn columns(&mut self, src: &mut Slice, meta: &[(u64, u64)], rows_of: u64) -> Result<u64, Refused> {
        let mut rows = 0;
        for &(spec, len) in meta {
            let raw = src.take(len)?;
            let budget = self.limits.inflated_bytes.saturating_sub(self.out.inflated_bytes);
            let counted = spec & !DEFLATED == rows_of;
            if spec & DEFLATED != 0 {
                let mut col = Inflating::new(raw, budget);
                if counted {
                    rows = rle_rows(&mut col)?;
                }
                self.out.inflated_bytes += col.drain()?;
            } else {
                if counted {
                    rows = rle_rows(&mut Slice::new(raw))?;
                }
                self.out.inflated_bytes += len;
            }
            self.check_totals()?;
        }
        Ok(rows)
    }

    fn actor(&mut self, src: &mut Slice) -> Result<Vec<u8>, Refused> {
        let n = count(src, 64, "bytes in an actor id")?;
        Ok(src.take(n)?.to_vec())
    }

    fn change(&mut self, data: &[u8]) -> Result<(), Refused> {
        let mut src = Slice::new(data);
        let deps = count(&mut src, self.limits.hashes, "dependencies")?;
        src.take(deps * HASH)?;
        let author = self.actor(&mut src)?;
        uleb(&mut src)?; // seq
        uleb(&mut src)?; // start op
        sleb(&mut src)?; // time
        let message = uleb(&mut src)?;
        src.take(message)?;
        let others = count(&mut src, self.limits.actors, "actors")?;
        for _ in 0..others {
            self.actor(&mut src)?;
        }
        let meta = self.column_meta(&mut src)?;
        if meta.iter().any(|(spec, _)| spec & DEFLATED != 0) {
            return Err(refused("a change with compressed columns"));
        }
        self.out.ops += self.columns(&mut src, &meta, ACTION_COLUMN)?;
        self.out.changes += 1;
        self.out.authors.insert(author);
        self.check_totals()
    }

    fn document(&mut self, data: &[u8]) -> Result<(), Refused> {
        let mut src = Slice::new(data);
        let actors = count(&mut src, self.limits.actors, "actors")?;
        for _ in 0..actors {
            let actor = self.actor(&mut src)?;
            self.out.document_actors.insert(actor);
        }
        let heads = count(&mut src, self.limits.hashes, "heads")?;
        src.take(heads * HASH)?;
        let change_meta = self.column_meta(&mut src)?;
        let op_meta = self.column_meta(&mut src)?;
        self.out.changes += self.columns(&mut src, &change_meta, SEQ_COLUMN)?;
        self.out.ops += self.columns(&mut src, &op_meta, ACTION_COLUMN)?;
        self.out.documents += 1;
        self.check_totals()
    }

    /// One change entry: one or more chunks, back to back, nothing else.
    fn entry(&mut self, bytes: &[u8]) -> Result<(), Refused> {
        let mut src = Slice::new(bytes);
        while !src.at_end()? {
            if src.take(4)? != MAGIC {
                return Err(refused("not an Automerge chunk"));
            }
            let checksum = src.take(4)?;
            let kind_at = src.at;
            let kind = src.byte()?;
            let len = uleb(&mut src)?;
            let data = src.take(len)?;
            let digest = Sha256::new().chain_update(&bytes[kind_at..src.at]).finalize();
            if digest[..4] != *checksum {
                return Err(refused("a chunk whose checksum does not match"));
            }
            match kind {
                CHUNK_CHANGE => self.change(data)?,
                CHUNK_DOCUMENT => self.document(data)?,
                2 => return Err(refused("a compressed change chunk (not accepted)")),
                3 => return Err(refused("a bundle chunk (not accepted)")),
                k => return Err(refused(format!("an unknown chunk type {k}"))),
            }
        }
        Ok(())
    }

    fn hashes(&mut self, src: &mut Slice, what: &str) -> Result<(), Refused> {
        let n = count(src, self.limits.hashes, what)?;
        src.take(n * HASH).map(|_| ())
    }

    fn bloom(&mut self, bytes: &[u8]) -> Result<(), Refused> {
        if bytes.is_empty() {
            return Ok(());
        }
        let mut src = Slice::new(bytes);
        let entries = uleb(&mut src)?;
        let bits_per_entry = uleb(&mut src)?;
        let probes = uleb(&mut src)?;
        if !(1..=64).contains(&bits_per_entry)
            || !(1..=64).contains(&probes)
            || !(1..=u64::from(u32::MAX)).contains(&entries)
        {
            return Err(refused(format!(
                "a Bloom filter of {entries} entries, {bits_per_entry} bits each, {probes} probes"
            )));
        }
        let bits = entries.saturating_mul(bits_per_entry);
        if bits > self.limits.bloom_bits {
            return Err(refused(format!(
                "a Bloom filter of {bits} bits (at most {})",
                self.limits.bloom_bits
            )));
        }
        if (src.rest().len() as u64) < bits.div_ceil(8) {
            return Err(refused("a truncated Bloom filter"));
        }
        Ok(())
    }
}

/// Walks the sync message `bytes` within `limits`.
pub fn message(bytes: &[u8], limits: &Limits) -> Result<Inspection, Refused> {
    let mut walk = Walk { limits, out: Inspection::default() };
    let mut src = Slice::new(bytes);
    let kind = src.byte()?;
    if kind != 0x42 && kind != 0x43 {
        return Err(refused(format!("not a sync message (type {kind:#x})")));
    }
    walk.hashes(&mut src, "heads")?;
    walk.hashes(&mut src, "needs")?;
    let haves = count(&mut src, limits.haves, "haves")?;
    for _ in 0..haves {
        walk.hashes(&mut src, "last-sync hashes")?;
        let len = uleb(&mut src)?;
        let bloom = src.take(len)?;
        walk.bloom(bloom)?;
    }
    let entries = count(&mut src, limits.changes, "change entries")?;
    for _ in 0..entries {
        let len = uleb(&mut src)?;
        let entry = src.take(len)?;
        walk.entry(entry)?;
        walk.out.entries += 1;
    }
    if !src.at_end()? {
        let len = count(&mut src, 64, "bytes of flags")?;
        src.take(len)?;
    }
    if !src.at_end()? {
        return Err(refused("bytes after the message"));
    }
    Ok(walk.out)
}

#[cfg(test)]
#[path = "inspect_tests.rs"]
mod tests;
