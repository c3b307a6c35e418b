//! The `cards` document: the campus-card directory the halls hold offline.
//!
//! `{ type: "cards", schema: 1, cards: { "<card number>": "<kind>|<college>" } }`: one string
//! per card keeps tens of thousands of entries small. Looking one card up reads one key.

use crate::codec::{self, DocError, child};
use automerge::transaction::Transactable;
use automerge::{AutomergeError, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use onestop_model::{CardEntry, PersonKind};

fn encode(e: &CardEntry) -> String {
    format!("{}|{}", e.kind.as_str(), e.college)
}

fn decode(card: &str, v: &str) -> Option<CardEntry> {
    let (kind, college) = v.split_once('|')?;
    Some(CardEntry { card: card.to_string(), kind: PersonKind::parse(kind)?, college: college.to_string() })
}

/// Makes the directory hold exactly `entries` (a full import): changed rows are put, rows
/// no longer present are deleted, unchanged rows cost nothing.
pub fn replace_all(tx: &mut impl Transactable, entries: &[CardEntry]) -> Result<(), AutomergeError> {
    codec::init_root(tx, "cards")?;
    let cards = child(tx, &ROOT, "cards", ObjType::Map)?;
    let wanted: std::collections::HashMap<&str, String> =
        entries.iter().map(|e| (e.card.as_str(), encode(e))).collect();
    for (card, value) in &wanted {
        codec::put_if_changed(tx, &cards, card, Some(ScalarValue::Str(value.as_str().into())))?;
    }
    codec::delete_others(tx, &cards, |k| wanted.contains_key(k))
}

/// The directory entry of one card, if the directory knows it.
pub fn lookup(doc: &impl ReadDoc, card: &str) -> Result<Option<CardEntry>, DocError> {
    let Some((_, cards)) = doc.get(ROOT, "cards")? else { return Ok(None) };
    match doc.get(&cards, card.trim())? {
        Some((Value::Scalar(v), _)) => match v.as_ref() {
            ScalarValue::Str(s) => decode(card.trim(), s).map(Some).ok_or_else(|| DocError::BadValue {
                what: format!("card {card}"),
                field: "entry",
                value: s.to_string(),
            }),
            _ => Err(DocError::WrongType {
                what: format!("card {card}"),
                field: "entry",
                expected: "a string",
            }),
        },
        _ => Ok(None),
    }
}

/// How many cards the directory holds.
pub fn count(doc: &impl ReadDoc) -> Result<usize, DocError> {
    Ok(doc.get(ROOT, "cards")?.map_or(0, |(_, cards)| doc.length(&cards)))
}
