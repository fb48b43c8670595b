//! Lossless raw JSON: keep the bytes, parse only what is read, write back only what changed.
//!
//! Hook payloads (requests, responses, chunks, errors) travel through a plugin as [`RawJson`]:
//! the exact text the host sent. A hook that does not touch a payload returns it byte for byte,
//! so fields this crate does not model, `null`s, key spellings and numbers (`1.0`, integers
//! beyond `u64`) survive. Reads parse only the part asked for; writes splice the new value
//! into the original text ([`RawJson::set_path`]) or merge a typed edit back so that only the
//! fields the edit changed are re-serialized ([`RawJson::edit`]).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::scan;

pub use crate::json_error::JsonError;

/// A JSON value kept as its original text.
///
/// Serializes verbatim. Equality is textual; use [`RawJson::to_value`] to compare meaning.
/// The text is always valid JSON: constructors validate it (with the [`crate::scan`]
/// scanner) or build it from parts that are valid by construction.
///
/// A value read out of a larger document (a hook's payload) shares that document's buffer
/// instead of copying it ([`RawJson::from_shared`]), so cloning and passing payloads on is
/// cheap; a value built or edited here owns its text.
pub struct RawJson {
    repr: Repr,
}

enum Repr {
    Owned(Box<str>),
    Shared { buf: Arc<str>, start: usize, end: usize },
}

impl Clone for RawJson {
    fn clone(&self) -> Self {
        match &self.repr {
            Repr::Owned(text) => RawJson::trusted(text.clone()),
            Repr::Shared { buf, start, end } => RawJson {
                repr: Repr::Shared {
                    buf: Arc::clone(buf),
                    start: *start,
                    end: *end,
                },
            },
        }
    }
}

impl RawJson {
    /// Wraps text that is valid JSON by construction (validated by the caller or written by
    /// this crate from valid parts).
    pub(crate) fn trusted(text: impl Into<Box<str>>) -> Self {
        RawJson {
            repr: Repr::Owned(text.into()),
        }
    }

    /// The value at `buf[start..end]`, sharing `buf` (no copy). The caller guarantees that
    /// the range is one valid JSON value, e.g. a member of a document it validated; a range
    /// that is out of bounds or not on character boundaries reads as `null`.
    pub fn from_shared(buf: &Arc<str>, start: usize, end: usize) -> Self {
        if buf.get(start..end).is_none() {
            return RawJson::null();
        }
        RawJson {
            repr: Repr::Shared {
                buf: Arc::clone(buf),
                start,
                end,
            },
        }
    }

    /// Wraps JSON text after validating it (surrounding whitespace is kept as is).
    pub fn from_string(json: String) -> Result<Self, JsonError> {
        scan::validate(&json).map_err(|e| JsonError(e.to_string()))?;
        Ok(RawJson::trusted(json))
    }

    /// Wraps text that the caller already knows to be valid JSON (a member of a document it
    /// validated, say), without scanning it again. Text that is not JSON is not undefined
    /// behaviour, but it is passed on as given: use [`RawJson::from_string`] when unsure.
    pub fn from_validated(json: impl Into<Box<str>>) -> Self {
        RawJson::trusted(json)
    }

    /// Copies a borrowed raw value.
    pub fn from_raw(raw: &RawValue) -> Self {
        RawJson::trusted(raw.get())
    }

    /// Serializes `value` into a new raw value.
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Self, JsonError> {
        Ok(RawJson::trusted(to_json_string(value)?))
    }

    /// The JSON `null`.
    pub fn null() -> Self {
        RawJson::trusted("null")
    }

    /// An empty JSON object `{}`.
    pub fn empty_object() -> Self {
        RawJson::trusted("{}")
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        match &self.repr {
            Repr::Owned(text) => text,
            Repr::Shared { buf, start, end } => buf.get(*start..*end).unwrap_or("null"),
        }
    }

    /// Consumes the value, returning its text.
    pub fn into_string(self) -> String {
        match self.repr {
            Repr::Owned(text) => text.into(),
            Repr::Shared { .. } => self.as_str().to_string(),
        }
    }

    /// What kind of JSON value this is (looks at the first byte only).
    pub fn kind(&self) -> JsonKind {
        JsonKind::of(self.as_str())
    }

    /// True for `null`.
    pub fn is_null(&self) -> bool {
        self.kind() == JsonKind::Null
    }

    /// True for a JSON object.
    pub fn is_object(&self) -> bool {
        self.kind() == JsonKind::Object
    }

    /// True for `null`, `{}` (with any inner whitespace) or an empty string.
    pub fn is_empty_value(&self) -> bool {
        match self.kind() {
            JsonKind::Null => true,
            JsonKind::Object => scan::Members::new(self.as_str()).next().is_none(),
            JsonKind::String => self.as_str().trim() == "\"\"",
            _ => false,
        }
    }

    /// Parses the whole value into `T`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, JsonError> {
        crate::reader::typed(self.as_str())
    }

    /// Parses the whole value into a [`serde_json::Value`] (numbers beyond `f64`/`u64`
    /// lose precision there; prefer the raw accessors when passing data on).
    pub fn to_value(&self) -> Result<Value, JsonError> {
        self.parse()
    }

    /// The raw text of member `key` of this object (exact key match). `None` when this is
    /// not an object or has no such key.
    pub fn get(&self, key: &str) -> Option<&str> {
        scan::member(self.as_str(), key, false)
    }

    /// Like [`RawJson::get`] with ASCII-case-insensitive key matching (Go's decoder rule).
    pub fn get_ignore_case(&self, key: &str) -> Option<&str> {
        member_valid(self.as_str(), key, true).map(|(_, v)| v)
    }

    /// Follows a path of object keys (exact match) and returns the raw text found there.
    pub fn get_path(&self, path: &[&str]) -> Option<&str> {
        let mut cur = self.as_str();
        for key in path {
            cur = scan::member(cur, key, false)?;
        }
        Some(cur)
    }

    /// Parses member `key` into `T`: `None` when absent, `Some(Err)` when of the wrong type.
    pub fn get_as<T: DeserializeOwned>(&self, key: &str) -> Option<Result<T, JsonError>> {
        self.get(key).map(crate::reader::typed)
    }

    /// Reads member `key` as a string, if it is one.
    pub fn get_str(&self, key: &str) -> Option<String> {
        self.get(key).and_then(scan::string_value).map(Cow::into_owned)
    }

    /// The members of this object in document order, keys unescaped, values raw.
    pub fn entries(&self) -> Result<Vec<(Cow<'_, str>, &str)>, JsonError> {
        if !self.is_object() {
            return Err(not_an_object(self.as_str()));
        }
        Ok(scan::Members::new(self.as_str())
            .map(|m| (m.key(), m.value))
            .collect())
    }

    /// Sets the value at `path` (object keys, exact match) to the JSON text `value`,
    /// splicing it into the original text: everything else stays byte-identical.
    /// A missing last key is appended to its object; missing intermediate objects are created.
    pub fn set_path_raw(&mut self, path: &[&str], value: &str) -> Result<(), JsonError> {
        scan::validate(value).map_err(|e| JsonError(format!("invalid JSON value to set: {e}")))?;
        let new = splice_path(self.as_str(), path, value)?;
        *self = RawJson::trusted(new);
        Ok(())
    }

    /// Serializes `value` and sets it at `path`; see [`RawJson::set_path_raw`].
    pub fn set_path<T: Serialize + ?Sized>(&mut self, path: &[&str], value: &T) -> Result<(), JsonError> {
        let text = to_json_string(value)?;
        let new = splice_path(self.as_str(), path, &text)?;
        *self = RawJson::trusted(new);
        Ok(())
    }

    /// Splices the JSON text `value` (valid by construction) at `path`.
    pub(crate) fn set_path_trusted(&mut self, path: &[&str], value: &str) -> Result<(), JsonError> {
        let new = splice_path(self.as_str(), path, value)?;
        *self = RawJson::trusted(new);
        Ok(())
    }

    /// Replaces the value of member `name` of the object at `start..end` of this text with
    /// the JSON text `value` (valid by construction), in one copy. `false` (nothing changed)
    /// when the range is not an object with that member.
    pub(crate) fn replace_member_in(&mut self, start: usize, end: usize, name: &str, value: &str) -> bool {
        let text = self.as_str();
        let Some(container) = text.get(start..end) else {
            return false;
        };
        let Some((_, range)) = find_member_span(container, name, false) else {
            return false;
        };
        let (vs, ve) = (start + range.start, start + range.end);
        let mut out = String::with_capacity(text.len() - (ve - vs) + value.len());
        out.push_str(scan::sub(text, 0, vs));
        out.push_str(value);
        out.push_str(scan::sub(text, ve, text.len()));
        *self = RawJson::trusted(out);
        true
    }

    /// Sets the string value at `path` (like [`RawJson::set_path`] with a `&str`, without
    /// going through serde).
    pub fn set_path_str(&mut self, path: &[&str], value: &str) -> Result<(), JsonError> {
        let mut text = Vec::with_capacity(value.len() + 2);
        scan::write_string(&mut text, value);
        let text = String::from_utf8(text).map_err(|_| JsonError("invalid UTF-8".into()))?;
        let new = splice_path(self.as_str(), path, &text)?;
        *self = RawJson::trusted(new);
        Ok(())
    }

    /// Removes member `key` from this object, keeping everything else byte-identical.
    /// Returns whether the key was present.
    pub fn remove(&mut self, key: &str) -> Result<bool, JsonError> {
        let text = self.as_str();
        let Some((range, _)) = find_member_span(text, key, false) else {
            return Ok(false);
        };
        let new = remove_member(text, range);
        *self = RawJson::trusted(new);
        Ok(true)
    }

    /// Edits this value through a typed view `T` and writes back only what the edit changed.
    ///
    /// The value is parsed into `T`, `f` edits it, and the difference between `T` before and
    /// after the edit is merged into the original text: unchanged fields, unknown fields,
    /// `null`s and number spellings stay byte-identical. Returns `f`'s result.
    pub fn edit<T, R>(&mut self, f: impl FnOnce(&mut T) -> R) -> Result<R, JsonError>
    where
        T: DeserializeOwned + Serialize,
    {
        let mut typed: T = self.parse()?;
        let before = serde_json::to_value(&typed)?;
        let result = f(&mut typed);
        let after = serde_json::to_value(&typed)?;
        if before != after {
            let mut out = String::with_capacity(self.as_str().len() + 64);
            merge_into(self.as_str(), &before, &after, &mut out)?;
            *self = RawJson::from_string(out)?;
        }
        Ok(result)
    }
}

/// Serializes `value` to JSON text. Serializing the wire types cannot fail in practice (string
/// keys, no fallible `Serialize` impls); in a plugin the rare failure's text is kept short so
/// that `serde_json`'s error-code messages are not linked in.
pub(crate) fn to_json_string<T: Serialize + ?Sized>(value: &T) -> Result<String, JsonError> {
    crate::writer::to_string(value)
}

fn not_an_object(text: &str) -> JsonError {
    JsonError(format!(
        "invalid type: {}, expected a JSON object",
        JsonKind::of(text).name()
    ))
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawJson({})", self.as_str())
    }
}

impl fmt::Display for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RawJson {}

impl Default for RawJson {
    fn default() -> Self {
        RawJson::null()
    }
}

impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct(crate::writer::RAW_VALUE_TOKEN, 1)?;
        s.serialize_field(crate::writer::RAW_VALUE_TOKEN, self.as_str())?;
        s.end()
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(RawJson::from)
    }
}

impl From<Box<RawValue>> for RawJson {
    fn from(raw: Box<RawValue>) -> Self {
        let text: Box<str> = raw.into();
        RawJson::trusted(text)
    }
}

impl TryFrom<&Value> for RawJson {
    type Error = JsonError;
    fn try_from(value: &Value) -> Result<Self, JsonError> {
        RawJson::from_serialize(value)
    }
}

/// The kind of a JSON value, from its first non-blank byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    /// `null`
    Null,
    /// `true` / `false`
    Bool,
    /// a number
    Number,
    /// a string
    String,
    /// an array
    Array,
    /// an object
    Object,
}

impl JsonKind {
    /// Classifies valid JSON text by its first non-blank byte.
    pub fn of(text: &str) -> JsonKind {
        let b = text.as_bytes();
        match b.get(scan::skip_ws(b, 0)) {
            Some(b'{') => JsonKind::Object,
            Some(b'[') => JsonKind::Array,
            Some(b'"') => JsonKind::String,
            Some(b't') | Some(b'f') => JsonKind::Bool,
            Some(b'n') | None => JsonKind::Null,
            _ => JsonKind::Number,
        }
    }

    /// A short name for messages ("object", "array", ...).
    pub fn name(self) -> &'static str {
        match self {
            JsonKind::Null => "null",
            JsonKind::Bool => "boolean",
            JsonKind::Number => "number",
            JsonKind::String => "string",
            JsonKind::Array => "array",
            JsonKind::Object => "object",
        }
    }
}

/// Members of an object, in order, borrowing from the text.
struct Entries<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(key) = map.next_key::<CowStr<'de>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    out.push((key.0, value));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A string that borrows when it has no escapes.
struct CowStr<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Elements of an array, borrowing from the text.
struct Elements<'a>(Vec<&'a RawValue>);

impl<'de> Deserialize<'de> for Elements<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Elements<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(8));
                while let Some(v) = seq.next_element::<&'de RawValue>()? {
                    out.push(v);
                }
                Ok(Elements(out))
            }
        }
        d.deserialize_seq(V)
    }
}

/// Parses the members of the JSON object `text`, in order.
pub fn object_entries(text: &str) -> Result<Vec<(Cow<'_, str>, &str)>, JsonError> {
    scan::validate(text).map_err(|e| JsonError(e.to_string()))?;
    if JsonKind::of(text) != JsonKind::Object {
        return Err(not_an_object(text));
    }
    Ok(scan::Members::new(text).map(|m| (m.key(), m.value)).collect())
}

/// Like [`object_entries`], returning [`RawValue`]s (which copy into [`RawJson`] without
/// re-validation).
pub fn object_entries_raw(text: &str) -> Result<Vec<(Cow<'_, str>, &RawValue)>, JsonError> {
    let entries: Entries<'_> = serde_json::from_str(text)?;
    Ok(entries.0)
}

/// Finds member `key` of the object `text` (`None` if `text` is not an object or lacks it).
/// Returns the key as written and the raw value. With `ignore_case`, keys match ASCII
/// case-insensitively and an exact match wins over a case-insensitive one.
pub fn find_member<'a>(text: &'a str, key: &str, ignore_case: bool) -> Option<(Cow<'a, str>, &'a str)> {
    if JsonKind::of(text) != JsonKind::Object || scan::validate(text).is_err() {
        return None;
    }
    member_valid(text, key, ignore_case)
}

/// [`find_member`] on text known to be valid JSON.
pub(crate) fn member_valid<'a>(
    text: &'a str,
    key: &str,
    ignore_case: bool,
) -> Option<(Cow<'a, str>, &'a str)> {
    let mut loose = None;
    for m in scan::Members::new(text) {
        if m.key_is(key) {
            return Some((m.key(), m.value));
        }
        if ignore_case && loose.is_none() && m.key_is_ignore_case(key) {
            loose = Some((m.key(), m.value));
        }
    }
    loose
}

/// Span of a member (from the start of its key to the end of its value) and of its value.
type MemberSpan = (std::ops::Range<usize>, std::ops::Range<usize>);

/// The first member `key` of the valid object `text`.
fn find_member_span(text: &str, key: &str, ignore_case: bool) -> Option<MemberSpan> {
    let mut loose = None;
    for m in scan::Members::new(text) {
        let span = (
            m.key_start..m.value_start + m.value.len(),
            m.value_start..m.value_start + m.value.len(),
        );
        if m.key_is(key) {
            return Some(span);
        }
        if ignore_case && loose.is_none() && m.key_is_ignore_case(key) {
            loose = Some(span);
        }
    }
    loose
}

fn remove_member(text: &str, member: std::ops::Range<usize>) -> String {
    // Remove the member plus one adjacent comma (the following one, else the preceding one).
    let after = scan::sub(text, member.end, text.len());
    let trimmed_after = after.trim_start();
    let mut out = String::with_capacity(text.len());
    if let Some(rest) = trimmed_after.strip_prefix(',') {
        out.push_str(scan::sub(text, 0, member.start));
        out.push_str(rest.trim_start());
    } else {
        let before = scan::sub(text, 0, member.start);
        let trimmed = before.trim_end();
        let before = trimmed.strip_suffix(',').unwrap_or(before);
        out.push_str(before);
        out.push_str(after);
    }
    out
}

fn push_json_string(out: &mut String, s: &str) {
    let mut bytes = Vec::with_capacity(s.len() + 2);
    scan::write_string(&mut bytes, s);
    // `write_string` writes valid UTF-8 (the input's characters and ASCII escapes).
    out.push_str(std::str::from_utf8(&bytes).unwrap_or("\"\""));
}

/// Splices the valid JSON `value` at `path` into the valid JSON `text`.
fn splice_path(text: &str, path: &[&str], value: &str) -> Result<String, JsonError> {
    let Some((first, rest)) = path.split_first() else {
        // Replace the whole value.
        return Ok(value.to_string());
    };
    if JsonKind::of(text) != JsonKind::Object {
        return Err(JsonError(format!(
            "cannot set `{first}`: the value there is a {}, not an object",
            JsonKind::of(text).name()
        )));
    }
    match find_member_span(text, first, false) {
        Some((_, vrange)) => {
            let inner = scan::sub(text, vrange.start, vrange.end);
            let replaced = if rest.is_empty() {
                value.to_string()
            } else if JsonKind::of(inner) == JsonKind::Object {
                splice_path(inner, rest, value)?
            } else {
                splice_path("{}", rest, value)?
            };
            let mut out = String::with_capacity(text.len() + replaced.len());
            out.push_str(scan::sub(text, 0, vrange.start));
            out.push_str(&replaced);
            out.push_str(scan::sub(text, vrange.end, text.len()));
            Ok(out)
        }
        None => {
            let new_value = if rest.is_empty() {
                value.to_string()
            } else {
                splice_path("{}", rest, value)?
            };
            let close = text
                .rfind('}')
                .ok_or_else(|| JsonError("object without `}`".into()))?;
            let empty = scan::Members::new(text).next().is_none();
            let mut out = String::with_capacity(text.len() + new_value.len() + first.len() + 4);
            out.push_str(scan::sub(text, 0, close).trim_end());
            if !empty {
                out.push(',');
            }
            push_json_string(&mut out, first);
            out.push(':');
            out.push_str(&new_value);
            out.push_str(scan::sub(text, close, text.len()));
            Ok(out)
        }
    }
}

/// Writes into `out` the JSON that `after` describes, reusing the original text `raw`
/// (whose typed reading was `before`) wherever `before` and `after` agree.
///
/// Rules: equal subtrees are copied from `raw` verbatim; for objects, members are visited
/// in `raw`'s order: members the typed view did not know (absent from both `before` and
/// `after`) are kept verbatim, members removed by the edit (in `before`, not in `after`) are
/// dropped, new members are appended; arrays of unchanged length are merged element-wise;
/// anything else is written from `after`.
pub fn merge_into(raw: &str, before: &Value, after: &Value, out: &mut String) -> Result<(), JsonError> {
    if before == after {
        out.push_str(raw);
        return Ok(());
    }
    match (before, after) {
        (Value::Object(b), Value::Object(a)) if JsonKind::of(raw) == JsonKind::Object => {
            let entries: Entries<'_> = serde_json::from_str(raw)?;
            out.push('{');
            let mut first = true;
            let mut seen: Vec<&str> = Vec::with_capacity(entries.0.len());
            for (k, v) in &entries.0 {
                let key: &str = k;
                let emitted = match (b.get(key), a.get(key)) {
                    (Some(bv), Some(av)) => Some(Emit::Merge(bv, av)),
                    (Some(_), None) => None,
                    (None, Some(av)) => Some(Emit::Value(av)),
                    (None, None) => Some(Emit::Raw),
                };
                seen.push(key);
                if let Some(emit) = emitted {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    push_json_string(out, key);
                    out.push(':');
                    match emit {
                        Emit::Merge(bv, av) => merge_into(v.get(), bv, av, out)?,
                        Emit::Value(av) => out.push_str(&serde_json::to_string(av)?),
                        Emit::Raw => out.push_str(v.get()),
                    }
                }
            }
            for (k, av) in a {
                if seen.iter().any(|s| *s == k) {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                push_json_string(out, k);
                out.push(':');
                out.push_str(&serde_json::to_string(av)?);
            }
            out.push('}');
            Ok(())
        }
        (Value::Array(b), Value::Array(a)) if b.len() == a.len() && JsonKind::of(raw) == JsonKind::Array => {
            let elements: Elements<'_> = serde_json::from_str(raw)?;
            if elements.0.len() != b.len() {
                out.push_str(&serde_json::to_string(after)?);
                return Ok(());
            }
            out.push('[');
            for (i, ((bv, av), rv)) in b.iter().zip(a).zip(&elements.0).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                merge_into(rv.get(), bv, av, out)?;
            }
            out.push(']');
            Ok(())
        }
        _ => {
            out.push_str(&serde_json::to_string(after)?);
            Ok(())
        }
    }
}

enum Emit<'v> {
    Merge(&'v Value, &'v Value),
    Value(&'v Value),
    Raw,
}

#[cfg(test)]
mod tests;
