//! Reading and writing typed values in Automerge documents.
//!
//! Readers work on a hydrated copy of the document (one pass, no per-field lookups) and say
//! exactly which field of which object is missing or wrong. Writers put scalars only where the
//! value changed, so re-publishing an unchanged catalogue makes no operations.

use automerge::hydrate;
use automerge::transaction::Transactable;
use automerge::{AutomergeError, ObjId, ObjType, ScalarValue};
use std::borrow::Cow;

/// The document schema this build writes. Readers accept this and every older version:
/// fields added after version 1 are optional and read as their defaults when absent.
pub const SCHEMA: i64 = 1;

/// A document that cannot be read as what it claims to be.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error("{what}: field '{field}' is missing")]
    Missing { what: String, field: &'static str },
    #[error("{what}: field '{field}' should be {expected}")]
    WrongType { what: String, field: &'static str, expected: &'static str },
    #[error("{what}: field '{field}' has an unknown value '{value}'")]
    BadValue { what: String, field: &'static str, value: String },
    #[error(
        "document {doc} has schema {found}, newer than this node understands ({supported}): upgrade Onestop on this node"
    )]
    NewerSchema { doc: String, found: i64, supported: i64 },
    #[error("document {doc} is a '{found}' document, not a '{expected}' document")]
    WrongKind { doc: String, found: String, expected: &'static str },
    #[error("automerge: {0}")]
    Automerge(#[from] AutomergeError),
}

/// A map being read, named for error messages.
pub struct Fields<'a> {
    pub map: &'a hydrate::Map,
    pub what: Cow<'a, str>,
}

impl<'a> Fields<'a> {
    pub fn new(map: &'a hydrate::Map, what: impl Into<Cow<'a, str>>) -> Fields<'a> {
        Fields { map, what: what.into() }
    }

    fn missing(&self, field: &'static str) -> DocError {
        DocError::Missing { what: self.what.to_string(), field }
    }
    fn wrong(&self, field: &'static str, expected: &'static str) -> DocError {
        DocError::WrongType { what: self.what.to_string(), field, expected }
    }
    pub fn bad(&self, field: &'static str, value: impl ToString) -> DocError {
        DocError::BadValue { what: self.what.to_string(), field, value: value.to_string() }
    }

    fn scalar(&self, field: &'static str) -> Result<Option<&'a ScalarValue>, DocError> {
        match self.map.get(field) {
            None => Ok(None),
            Some(hydrate::Value::Scalar(ScalarValue::Null)) => Ok(None),
            Some(hydrate::Value::Scalar(s)) => Ok(Some(s)),
            Some(_) => Err(self.wrong(field, "a plain value")),
        }
    }

    pub fn opt_str(&self, field: &'static str) -> Result<Option<&'a str>, DocError> {
        match self.map.get(field) {
            None | Some(hydrate::Value::Scalar(ScalarValue::Null)) => Ok(None),
            Some(hydrate::Value::Scalar(ScalarValue::Str(s))) => Ok(Some(s.as_str())),
            Some(_) => Err(self.wrong(field, "a string")),
        }
    }
    pub fn str(&self, field: &'static str) -> Result<&'a str, DocError> {
        self.opt_str(field)?.ok_or_else(|| self.missing(field))
    }
    pub fn opt_int(&self, field: &'static str) -> Result<Option<i64>, DocError> {
        match self.scalar(field)? {
            None => Ok(None),
            Some(ScalarValue::Int(i) | ScalarValue::Timestamp(i)) => Ok(Some(*i)),
            Some(ScalarValue::Uint(u)) => {
                i64::try_from(*u).map(Some).map_err(|_| self.wrong(field, "an integer"))
            }
            Some(_) => Err(self.wrong(field, "an integer")),
        }
    }
    pub fn int(&self, field: &'static str) -> Result<i64, DocError> {
        self.opt_int(field)?.ok_or_else(|| self.missing(field))
    }
    /// An integer that must fit `T` (window numbers, counts).
    pub fn num<T: TryFrom<i64>>(&self, field: &'static str) -> Result<T, DocError> {
        let i = self.int(field)?;
        T::try_from(i).map_err(|_| self.bad(field, i))
    }
    pub fn opt_map(&self, field: &'static str) -> Result<Option<&'a hydrate::Map>, DocError> {
        match self.map.get(field) {
            None => Ok(None),
            Some(hydrate::Value::Map(m)) => Ok(Some(m)),
            Some(_) => Err(self.wrong(field, "a map")),
        }
    }
    pub fn map(&self, field: &'static str) -> Result<&'a hydrate::Map, DocError> {
        self.opt_map(field)?.ok_or_else(|| self.missing(field))
    }
    pub fn list(&self, field: &'static str) -> Result<&'a hydrate::List, DocError> {
        match self.map.get(field) {
            None => Err(self.missing(field)),
            Some(hydrate::Value::List(l)) => Ok(l),
            Some(_) => Err(self.wrong(field, "a list")),
        }
    }
    /// A string field parsed by `parse` (enums stored as their snake_case names).
    pub fn parsed<T>(&self, field: &'static str, parse: impl Fn(&str) -> Option<T>) -> Result<T, DocError> {
        let s = self.str(field)?;
        parse(s).ok_or_else(|| self.bad(field, s))
    }
    pub fn opt_parsed<T>(
        &self,
        field: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, DocError> {
        match self.opt_str(field)? {
            None => Ok(None),
            Some(s) => parse(s).map(Some).ok_or_else(|| self.bad(field, s)),
        }
    }
}

/// Each map value of `map`, as fields named after `what` and the key.
pub fn entries<'a>(
    map: &'a hydrate::Map,
    what: &'a str,
) -> impl Iterator<Item = Result<(&'a str, Fields<'a>), DocError>> + 'a {
    map.iter().map(move |(k, v)| match &v.value {
        hydrate::Value::Map(m) => Ok((k.as_str(), Fields::new(m, format!("{what} {k}")))),
        _ => Err(DocError::WrongType { what: format!("{what} {k}"), field: "(entry)", expected: "a map" }),
    })
}

/// Each element of `list` as a map.
pub fn items<'a>(
    list: &'a hydrate::List,
    what: &'a str,
) -> impl Iterator<Item = Result<Fields<'a>, DocError>> + 'a {
    list.iter().enumerate().map(move |(i, v)| match &v.value {
        hydrate::Value::Map(m) => Ok(Fields::new(m, format!("{what} #{i}"))),
        _ => Err(DocError::WrongType { what: format!("{what} #{i}"), field: "(item)", expected: "a map" }),
    })
}

/// Reads the root of a document, checking its kind and schema version.
pub fn root<'a>(
    value: &'a hydrate::Value,
    doc: &str,
    expected: &'static str,
) -> Result<Fields<'a>, DocError> {
    let hydrate::Value::Map(m) = value else {
        return Err(DocError::WrongType { what: doc.to_string(), field: "(root)", expected: "a map" });
    };
    let f = Fields::new(m, doc.to_string());
    let found = f.str("type")?;
    if found != expected {
        return Err(DocError::WrongKind { doc: doc.to_string(), found: found.to_string(), expected });
    }
    let schema = f.int("schema")?;
    if schema > SCHEMA {
        return Err(DocError::NewerSchema { doc: doc.to_string(), found: schema, supported: SCHEMA });
    }
    Ok(f)
}

/// Writes the root header (`type`, `schema`) if the document is new.
pub fn init_root(tx: &mut impl Transactable, kind: &'static str) -> Result<(), AutomergeError> {
    if tx.get(automerge::ROOT, "type")?.is_none() {
        tx.put(automerge::ROOT, "type", kind)?;
        tx.put(automerge::ROOT, "schema", SCHEMA)?;
    }
    Ok(())
}

/// The child object `key` of `obj`, created with `kind` if absent.
pub fn child(
    tx: &mut impl Transactable,
    obj: &ObjId,
    key: &str,
    kind: ObjType,
) -> Result<ObjId, AutomergeError> {
    match tx.get(obj, key)? {
        Some((automerge::Value::Object(k), id)) if k == kind => Ok(id),
        _ => tx.put_object(obj, key, kind),
    }
}

/// Puts `value` at `key` unless it is already there; `None` deletes the key.
pub fn put_if_changed(
    tx: &mut impl Transactable,
    obj: &ObjId,
    key: &str,
    value: Option<ScalarValue>,
) -> Result<(), AutomergeError> {
    let current = tx.get(obj, key)?;
    match (value, current) {
        (None, None) => Ok(()),
        (None, Some(_)) => tx.delete(obj, key),
        (Some(v), Some((automerge::Value::Scalar(cur), _))) if *cur == v => Ok(()),
        (Some(v), _) => tx.put(obj, key, v),
    }
}

/// Makes the map `obj` hold exactly `fields` (scalar values), touching only what differs.
pub fn reconcile_scalars(
    tx: &mut impl Transactable,
    obj: &ObjId,
    fields: &[(&str, Option<ScalarValue>)],
) -> Result<(), AutomergeError> {
    for (k, v) in fields {
        put_if_changed(tx, obj, k, v.clone())?;
    }
    Ok(())
}

/// Deletes the keys of map `obj` that are not in `keep`.
pub fn delete_others(
    tx: &mut impl Transactable,
    obj: &ObjId,
    keep: impl Fn(&str) -> bool,
) -> Result<(), AutomergeError> {
    let stale: Vec<String> = tx.keys(obj).filter(|k| !keep(k)).collect();
    for k in stale {
        tx.delete(obj, k.as_str())?;
    }
    Ok(())
}

/// Appends a map of `fields` (in order, `None` skipped) to the list `list`.
pub fn append_map(
    tx: &mut impl Transactable,
    list: &ObjId,
    fields: &[(&str, Option<ScalarValue>)],
) -> Result<ObjId, AutomergeError> {
    let at = tx.length(list);
    let obj = tx.insert_object(list, at, ObjType::Map)?;
    for (k, v) in fields {
        if let Some(v) = v {
            tx.put(&obj, *k, v.clone())?;
        }
    }
    Ok(obj)
}

/// Shorthands for field values.
pub fn s(v: impl AsRef<str>) -> Option<ScalarValue> {
    Some(ScalarValue::Str(v.as_ref().into()))
}
pub fn i(v: impl Into<i64>) -> Option<ScalarValue> {
    Some(ScalarValue::Int(v.into()))
}
pub fn ts(v: onestop_model::Timestamp) -> Option<ScalarValue> {
    Some(ScalarValue::Timestamp(v.0))
}
pub fn opt_s(v: Option<impl AsRef<str>>) -> Option<ScalarValue> {
    v.and_then(s)
}

/// Appends a space and free text to a compact record: `%` and white space escaped, an empty
/// text written as `%-`, so a record splits on spaces.
pub fn text(out: &mut String, s: &str) {
    out.push(' ');
    if s.is_empty() {
        out.push_str("%-");
        return;
    }
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            ' ' | '\t' | '\n' | '\r' => out.push_str("%20"),
            c => out.push(c),
        }
    }
}

/// Reads back free text written by [`text`].
pub fn untext(s: &str) -> String {
    if s == "%-" {
        return String::new();
    }
    s.replace("%20", " ").replace("%25", "%")
}
