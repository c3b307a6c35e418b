//! The frames edges and the cloud exchange: length-prefixed, with an explicit size cap.
//!
//! ```text
//! frame   = length:u32be kind:u8 payload          (length counts kind + payload)
//! Hello   = 1 version:u16 time:i64 actor:bytes docs:u32 (id:str heads:u16 (hash:32)*)*
//! Sync    = 2 doc:str message:bytes               (an Automerge sync message)
//! Refused = 3 doc:str reason:str                  (the cloud did not apply a change)
//! str     = len:u16 utf8      bytes = len:u32 raw
//! ```
//!
//! Decoding never panics and never allocates more than the frame it was given: a malformed or
//! oversized frame is a [`WireError`] that names what is wrong.

use crate::docid::DocId;
use automerge::ChangeHash;

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;

/// The largest frame accepted (kind + payload): a week of a busy hall's changes to one
/// document fits; anything larger is refused before it is read.
pub const MAX_FRAME: usize = 32 * 1024 * 1024;

/// One document as announced in a hello: its id and its heads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocHeads {
    pub id: DocId,
    pub heads: Vec<ChangeHash>,
}

/// A message between an edge and the cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The first frame each side sends: who writes (its actor), its clock, what it holds.
    Hello { version: u16, time_ms: i64, actor: Vec<u8>, docs: Vec<DocHeads> },
    /// One step of Automerge's sync protocol for one document.
    Sync { doc: DocId, message: Vec<u8> },
    /// The cloud refused a change to a document, and why.
    Refused { doc: DocId, reason: String },
}

/// A frame that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("frame of {0} bytes is larger than the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
    #[error("empty frame")]
    Empty,
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("frame ends inside {0}")]
    Truncated(&'static str),
    #[error("{0} is not UTF-8")]
    NotUtf8(&'static str),
    #[error("bad document id: {0}")]
    BadDocId(String),
    #[error("{0} bytes left over after the frame's fields")]
    Trailing(usize),
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    let len = u16::try_from(b.len()).expect("strings in frames are short");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

impl Frame {
    /// The frame with its length prefix, ready to write.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        match self {
            Frame::Hello { version, time_ms, actor, docs } => {
                body.push(1);
                body.extend_from_slice(&version.to_be_bytes());
                body.extend_from_slice(&time_ms.to_be_bytes());
                put_bytes(&mut body, actor);
                body.extend_from_slice(&(docs.len() as u32).to_be_bytes());
                for d in docs {
                    put_str(&mut body, &d.id.to_string());
                    body.extend_from_slice(&(d.heads.len() as u16).to_be_bytes());
                    for h in &d.heads {
                        body.extend_from_slice(&h.0);
                    }
                }
            }
            Frame::Sync { doc, message } => {
                body.push(2);
                put_str(&mut body, &doc.to_string());
                put_bytes(&mut body, message);
            }
            Frame::Refused { doc, reason } => {
                body.push(3);
                put_str(&mut body, &doc.to_string());
                let reason: String = reason.chars().take(1000).collect();
                put_str(&mut body, &reason);
            }
        }
        let mut out = Vec::with_capacity(body.len() + 4);
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Reads a frame body (kind + payload, without the length prefix).
    pub fn decode(body: &[u8]) -> Result<Frame, WireError> {
        if body.len() > MAX_FRAME {
            return Err(WireError::TooLarge(body.len()));
        }
        let mut r = Reader { buf: body };
        let kind = r.u8("the kind").map_err(|_| WireError::Empty)?;
        let frame = match kind {
            1 => {
                let version = u16::from_be_bytes(r.array("the version")?);
                let time_ms = i64::from_be_bytes(r.array("the time")?);
                let actor = r.bytes("the actor")?.to_vec();
                let count = u32::from_be_bytes(r.array("the document count")?) as usize;
                // Each document takes at least 4 bytes: a count beyond that is a lie.
                if count > r.buf.len() / 4 {
                    return Err(WireError::Truncated("the document list"));
                }
                let mut docs = Vec::with_capacity(count);
                for _ in 0..count {
                    let id = r.doc_id()?;
                    let n = u16::from_be_bytes(r.array("a head count")?) as usize;
                    let mut heads = Vec::with_capacity(n.min(r.buf.len() / 32));
                    for _ in 0..n {
                        heads.push(ChangeHash(r.array("a head")?));
                    }
                    docs.push(DocHeads { id, heads });
                }
                Frame::Hello { version, time_ms, actor, docs }
            }
            2 => Frame::Sync { doc: r.doc_id()?, message: r.bytes("the sync message")?.to_vec() },
            3 => Frame::Refused { doc: r.doc_id()?, reason: r.str("the reason")?.to_string() },
            k => return Err(WireError::UnknownKind(k)),
        };
        if !r.buf.is_empty() {
            return Err(WireError::Trailing(r.buf.len()));
        }
        Ok(frame)
    }
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        if self.buf.len() < n {
            return Err(WireError::Truncated(what));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.take(1, what)?[0])
    }
    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], WireError> {
        Ok(self.take(N, what)?.try_into().expect("N bytes"))
    }
    fn str(&mut self, what: &'static str) -> Result<&'a str, WireError> {
        let n = u16::from_be_bytes(self.array(what)?) as usize;
        std::str::from_utf8(self.take(n, what)?).map_err(|_| WireError::NotUtf8(what))
    }
    fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], WireError> {
        let n = u32::from_be_bytes(self.array(what)?) as usize;
        self.take(n, what)
    }
    fn doc_id(&mut self) -> Result<DocId, WireError> {
        let s = self.str("a document id")?;
        s.parse().map_err(|e: crate::docid::BadDocId| WireError::BadDocId(e.to_string()))
    }
}

/// Splits a byte stream into frames: feed it what arrives, take whole frames out.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    pub fn new() -> FrameReader {
        FrameReader::default()
    }

    /// Adds bytes that arrived.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, `Ok(None)` if more bytes are needed. After an error the stream
    /// cannot be trusted: close it.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, WireError> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes(self.buf[..4].try_into().expect("4 bytes")) as usize;
        if len > MAX_FRAME {
            return Err(WireError::TooLarge(len));
        }
        if len == 0 {
            return Err(WireError::Empty);
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let frame = Frame::decode(&self.buf[4..4 + len]);
        self.buf.drain(..4 + len);
        frame.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use onestop_model::{Day, HallId};
    use proptest::prelude::*;

    fn frames() -> Vec<Frame> {
        let day = DocId::Day { hall: HallId::new("main"), day: Day::new(2026, 11, 26).unwrap() };
        vec![
            Frame::Hello {
                version: PROTOCOL_VERSION,
                time_ms: 1_795_660_000_000,
                actor: vec![1, 2, 3],
                docs: vec![
                    DocHeads { id: DocId::Catalog, heads: vec![] },
                    DocHeads { id: day.clone(), heads: vec![ChangeHash([7; 32]), ChangeHash([9; 32])] },
                ],
            },
            Frame::Sync { doc: day.clone(), message: vec![0x42; 1000] },
            Frame::Refused {
                doc: DocId::Catalog, reason: "目录只读 / the catalogue is read-only".into()
            },
        ]
    }

    #[test]
    fn frames_round_trip_through_a_byte_stream() {
        let mut stream = Vec::new();
        for f in frames() {
            stream.extend(f.encode());
        }
        let mut reader = FrameReader::new();
        let mut got = Vec::new();
        // Arrive in awkward pieces.
        for chunk in stream.chunks(7) {
            reader.push(chunk);
            while let Some(f) = reader.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, frames());
    }

    #[test]
    fn bad_frames_are_named() {
        let mut r = FrameReader::new();
        r.push(&(MAX_FRAME as u32 + 1).to_be_bytes());
        assert_eq!(r.next_frame(), Err(WireError::TooLarge(MAX_FRAME + 1)));
        assert_eq!(Frame::decode(&[9]), Err(WireError::UnknownKind(9)));
        assert_eq!(Frame::decode(&[]), Err(WireError::Empty));
        assert_eq!(Frame::decode(&[2, 0, 3, b'c', b'a']), Err(WireError::Truncated("a document id")));
        let mut sync = frames()[1].encode()[4..].to_vec();
        sync.push(0);
        assert_eq!(Frame::decode(&sync), Err(WireError::Trailing(1)));
        let bad_id = [2, 0, 3, b'x', b'/', b'y', 0, 0, 0, 0];
        assert!(matches!(Frame::decode(&bad_id), Err(WireError::BadDocId(_))));
        // A hello claiming four billion documents in a few bytes.
        let mut hello = vec![1, 0, 1];
        hello.extend_from_slice(&0i64.to_be_bytes());
        hello.extend_from_slice(&0u32.to_be_bytes());
        hello.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(Frame::decode(&hello), Err(WireError::Truncated("the document list")));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Frame::decode(&bytes);
            let mut r = FrameReader::new();
            r.push(&bytes);
            while let Ok(Some(_)) = r.next_frame() {}
        }

        #[test]
        fn mutated_frames_never_panic(which in 0usize..3, pos in any::<usize>(), byte in any::<u8>()) {
            let mut enc = frames()[which].encode();
            let i = pos % enc.len();
            enc[i] = byte;
            let mut r = FrameReader::new();
            r.push(&enc);
            let _ = r.next_frame();
        }
    }
}
