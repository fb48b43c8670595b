//! [`BifrostContext`]: the request-scoped context, read on demand and edited in place.

use std::borrow::Cow;
use std::cell::UnsafeCell;
use std::fmt;

use serde::de::DeserializeOwned;

use crate::json::ToJson;
use crate::types::codec::WriteJson;
use crate::types::raw::{JsonError, JsonKind};
use crate::types::{scan, RawJson};

/// Context key holding Bifrost's request id in Go (`BifrostContextKeyRequestID`).
pub const GO_REQUEST_ID_KEY: &str = "request-id";

/// Context key holding the request id in the seed's examples.
pub const REQUEST_ID_KEY: &str = "request_id";

/// Context key holding Bifrost's virtual key (`x-bf-vk`).
pub const VIRTUAL_KEY: &str = "x-bf-vk";

/// The Bifrost context: a JSON object of request-scoped values that flows through every hook.
///
/// Hooks receive it in their input and return it in their output; values set by one hook are
/// visible to every later hook of the same request. `null` reads as an empty context.
///
/// It is a view over the JSON the host sent, not a decoded map: a read ([`get_string`],
/// [`get_i64`], ...) looks up one member and parses only its value, and a write
/// ([`set_value`], [`remove`]) is recorded as an edit. The output repeats the received
/// members byte for byte (their spelling, order and numbers untouched), with edited members
/// replaced in place and new ones appended. A hook that does not touch the context returns
/// it exactly as received.
///
/// The request id is `request_id` in the seed's examples and `request-id` in Bifrost's Go
/// code; [`request_id`] reads both.
///
/// ```
/// use bifrost_wasm_sdk::prelude::*;
///
/// let mut ctx = BifrostContext::from_json(r#"{"request-id":"r1","n":1.50}"#).unwrap();
/// assert_eq!(ctx.request_id(), Some("r1"));
/// ctx.set_value("plugin_processed", true);
/// ctx.set_value("plugin_name", "my-rust-plugin");
/// assert_eq!(ctx.get_bool("plugin_processed"), Some(true));
/// assert_eq!(
///     ctx.to_json(),
///     r#"{"request-id":"r1","n":1.50,"plugin_processed":true,"plugin_name":"my-rust-plugin"}"#
/// );
/// ```
///
/// [`get_string`]: BifrostContext::get_string
/// [`get_i64`]: BifrostContext::get_i64
/// [`set_value`]: BifrostContext::set_value
/// [`remove`]: BifrostContext::remove
/// [`request_id`]: BifrostContext::request_id
pub struct BifrostContext {
    /// The object as received (`{}` when there was none or it was `null`).
    original: RawJson,
    /// Where each received member is in `original`, in order (from the envelope's index, so
    /// reads and the output never scan the received text again).
    received: Vec<Received>,
    /// The edits' plain keys and their members as they will be written (`"key":value`).
    buf: String,
    /// One edit per key, in the order the keys were first set.
    edits: Vec<Edit>,
    /// Strings decoded from escaped JSON, kept so that reads can lend them out.
    decoded: Arena,
}

#[derive(Clone, Copy)]
struct Edit {
    /// The key (plain text) in `buf`.
    key: (u32, u32),
    /// The member `"key":value` in `buf`, and where its value starts; `None` when the key
    /// was removed.
    member: Option<(u32, u32, u32)>,
}

/// A received member: its opening quote, its key's length as written, its value's range, and
/// whether the key has an escape.
#[derive(Clone, Copy)]
struct Received {
    start: u32,
    key_len: u32,
    value: (u32, u32),
    escaped: bool,
}

impl Received {
    fn of(m: &scan::Member<'_>) -> Self {
        Received {
            start: m.key_start as u32,
            key_len: m.raw_key.len() as u32,
            value: range(m.value_start, m.value_start + m.value.len()),
            escaped: m.key_escaped,
        }
    }

    /// The key as written (escapes not decoded).
    fn raw_key<'t>(&self, text: &'t str) -> &'t str {
        let start = self.start as usize + 1;
        text.get(start..start + self.key_len as usize).unwrap_or_default()
    }

    fn key<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let raw = self.raw_key(text);
        if self.escaped {
            scan::unescape(raw).unwrap_or(Cow::Borrowed(raw))
        } else {
            Cow::Borrowed(raw)
        }
    }

    fn key_is(&self, text: &str, key: &str) -> bool {
        if self.escaped {
            self.key(text) == key
        } else {
            self.raw_key(text) == key
        }
    }

    fn value<'t>(&self, text: &'t str) -> &'t str {
        text.get(self.value.0 as usize..self.value.1 as usize)
            .unwrap_or("null")
    }

    /// The member as written, `"key":value`.
    fn member<'t>(&self, text: &'t str) -> &'t str {
        text.get(self.start as usize..self.value.1 as usize)
            .unwrap_or_default()
    }
}

impl Edit {
    fn value(&self) -> Option<(u32, u32)> {
        self.member.map(|(_, value, end)| (value, end))
    }
}

/// Append-only storage for decoded strings: `&self` reads push into it and lend out `&str`s
/// that stay valid until the context is dropped or mutably borrowed.
#[derive(Default)]
struct Arena(UnsafeCell<Vec<Box<str>>>);

impl Arena {
    fn keep(&self, text: String) -> &str {
        let text: Box<str> = text.into_boxed_str();
        let ptr: *const str = &*text;
        // SAFETY: the arena only ever grows while shared borrows exist: no element is
        // removed, replaced or mutably borrowed through `&self`, and a `Box<str>`'s text does
        // not move when the vector reallocates. `Vec::push` needs the `&mut Vec` only for the
        // push itself; no other reference to the vector is alive during it (the type is not
        // `Sync` and this method does not reenter). The returned `&str` points into the
        // boxed text, which lives until `clear` (which takes `&mut self`) or drop.
        unsafe {
            (*self.0.get()).push(text);
            &*ptr
        }
    }

    fn clear(&mut self) {
        self.0.get_mut().clear();
    }
}

fn range(start: usize, end: usize) -> (u32, u32) {
    (start as u32, end as u32)
}

impl Default for BifrostContext {
    fn default() -> Self {
        BifrostContext::new()
    }
}

impl Clone for BifrostContext {
    fn clone(&self) -> Self {
        BifrostContext {
            original: self.original.clone(),
            received: self.received.clone(),
            buf: self.buf.clone(),
            edits: self.edits.clone(),
            decoded: Arena::default(),
        }
    }
}

impl BifrostContext {
    /// An empty context.
    pub fn new() -> Self {
        BifrostContext {
            original: RawJson::empty_object(),
            received: Vec::new(),
            buf: String::new(),
            edits: Vec::new(),
            decoded: Arena::default(),
        }
    }

    /// A context over a received JSON value that is known to be valid: an object, or `null`
    /// (empty). Anything else is an error naming its type.
    pub(crate) fn from_received(raw: RawJson) -> Result<Self, String> {
        let received = scan::Members::new(raw.as_str())
            .map(|m| Received::of(&m))
            .collect();
        Self::with_received(raw, received)
    }

    /// [`BifrostContext::from_received`] with the object's members as the envelope's index
    /// found them (offsets relative to `raw`'s text).
    pub(crate) fn from_indexed<'m>(
        raw: RawJson,
        members: impl Iterator<Item = scan::Member<'m>>,
    ) -> Result<Self, String> {
        let received = members.map(|m| Received::of(&m)).collect();
        Self::with_received(raw, received)
    }

    fn with_received(raw: RawJson, received: Vec<Received>) -> Result<Self, String> {
        match raw.kind() {
            JsonKind::Object => Ok(BifrostContext {
                received,
                original: raw,
                ..BifrostContext::new()
            }),
            JsonKind::Null => Ok(BifrostContext::new()),
            other => Err(format!("must be a JSON object, found {}", other.name())),
        }
    }

    /// Reads a context from JSON text: an object, or `null` (empty).
    pub fn from_json(text: &str) -> Result<Self, JsonError> {
        let raw = RawJson::from_string(text.to_string())?;
        Self::from_received(raw).map_err(|e| JsonError(format!("context {e}")))
    }

    fn text(&self, (start, end): (u32, u32)) -> &str {
        // Edits store whole strings and JSON texts, so the ranges are on boundaries.
        self.buf.get(start as usize..end as usize).unwrap_or_default()
    }

    fn edit(&self, key: &str) -> Option<&Edit> {
        self.edits.iter().find(|e| self.text(e.key) == key)
    }

    /// The last received member named `key` (Go and `serde_json` keep the last duplicate).
    fn received(&self, key: &str) -> Option<&str> {
        let text = self.original.as_str();
        self.received
            .iter()
            .rev()
            .find(|r| r.key_is(text, key))
            .map(|r| r.value(text))
    }

    /// The raw JSON text of the value under `key`, if present.
    pub fn get_raw(&self, key: &str) -> Option<&str> {
        match self.edit(key) {
            Some(edit) => edit.value().map(|v| self.text(v)),
            None => self.received(key),
        }
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.get_raw(key).is_some()
    }

    /// The value under `key` if it is a string.
    pub fn get_string(&self, key: &str) -> Option<&str> {
        let raw = self.get_raw(key)?;
        let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
        if !inner.contains('\\') {
            return Some(inner);
        }
        let decoded = scan::unescape(inner).ok()?.into_owned();
        Some(self.decoded.keep(decoded))
    }

    /// The value under `key` if it is a boolean.
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        match self.get_raw(key)? {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    /// The value under `key` if it is an integer that fits `i64` (`1.0` is not an integer).
    pub fn get_i64(&self, key: &str) -> Option<i64> {
        self.get_raw(key)?.parse().ok()
    }

    /// The value under `key` if it is a non-negative integer that fits `u64`.
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get_raw(key)?.parse().ok()
    }

    /// The value under `key` if it is a number.
    pub fn get_f64(&self, key: &str) -> Option<f64> {
        let raw = self.get_raw(key)?;
        if JsonKind::of(raw) != JsonKind::Number {
            return None;
        }
        scan::parse_f64(raw)
    }

    /// The value under `key` read into `T`: `None` when absent, `Some(Err)` when it does not
    /// fit `T`.
    pub fn get_as<T: DeserializeOwned>(&self, key: &str) -> Option<Result<T, JsonError>> {
        self.get_raw(key).map(crate::types::reader::typed)
    }

    /// The request id: `request_id`, else Bifrost's `request-id`.
    pub fn request_id(&self) -> Option<&str> {
        self.get_string(REQUEST_ID_KEY)
            .or_else(|| self.get_string(GO_REQUEST_ID_KEY))
    }

    /// Bifrost's virtual key (`x-bf-vk`), which the gateway copies from the request header.
    pub fn virtual_key(&self) -> Option<&str> {
        self.get_string(VIRTUAL_KEY)
    }

    fn record(&mut self, key: &str, member: Option<(u32, u32, u32)>) {
        self.decoded.clear();
        match self.edits.iter().position(|e| self.text(e.key) == key) {
            Some(i) => self.edits[i].member = member,
            None => {
                let start = self.buf.len();
                self.buf.push_str(key);
                let key = range(start, self.buf.len());
                if self.edits.capacity() == 0 {
                    self.edits.reserve(4);
                }
                self.edits.push(Edit { key, member });
            }
        }
    }

    /// Sets `key` to `value` (overwriting). The value is written as JSON now; the rest of
    /// the context is left as it is. A value whose own [`ToJson`] writes something that is
    /// not one JSON value is stored as `null`.
    pub fn set_value<V: ToJson>(&mut self, key: &str, value: V) {
        if self.buf.capacity() == 0 {
            self.buf.reserve(96);
        }
        let start = self.buf.len();
        // SAFETY: what is appended below is checked to be UTF-8 before `buf` is used as a
        // `String` again; if it is not, it is cut off at `start`, a character boundary.
        let bytes = unsafe { self.buf.as_mut_vec() };
        scan::write_string(bytes, key);
        bytes.push(b':');
        let value_start = bytes.len();
        value.write_json_value(bytes);
        let valid = V::ALWAYS_VALID || {
            let written = bytes.get(value_start..).unwrap_or_default();
            std::str::from_utf8(written).is_ok_and(|text| scan::validate(text).is_ok())
        };
        if !valid {
            bytes.truncate(value_start);
            bytes.extend_from_slice(b"null");
        }
        let member = (start as u32, value_start as u32, self.buf.len() as u32);
        self.record(key, Some(member));
    }

    /// Removes `key`; returns whether it was present.
    pub fn remove(&mut self, key: &str) -> bool {
        let present = self.contains(key);
        if present {
            self.record(key, None);
        }
        present
    }

    /// Every key and raw value, in output order (received members first, then new keys).
    pub fn entries(&self) -> Vec<(Cow<'_, str>, &str)> {
        let mut out = Vec::new();
        let mut seen = Vec::new();
        let text = self.original.as_str();
        for r in &self.received {
            let key = r.key(text);
            if let Some(i) = self.edits.iter().position(|e| self.text(e.key) == key) {
                if !seen.contains(&i) {
                    seen.push(i);
                    if let Some(v) = self.edits[i].value() {
                        out.push((Cow::Borrowed(self.text(self.edits[i].key)), self.text(v)));
                    }
                }
                continue;
            }
            out.push((key, r.value(text)));
        }
        for (i, e) in self.edits.iter().enumerate() {
            if let (false, Some(v)) = (seen.contains(&i), e.value()) {
                out.push((Cow::Borrowed(self.text(e.key)), self.text(v)));
            }
        }
        // A received key that appears twice is listed once, with the value that counts.
        let mut unique: Vec<(Cow<'_, str>, &str)> = Vec::with_capacity(out.len());
        for (k, v) in out {
            match unique.iter_mut().find(|(uk, _)| *uk == k) {
                Some(slot) => slot.1 = v,
                None => unique.push((k, v)),
            }
        }
        unique
    }

    /// The keys, in output order.
    pub fn keys(&self) -> Vec<String> {
        self.entries().into_iter().map(|(k, _)| k.into_owned()).collect()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// True when there are no keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when this hook changed the context.
    pub fn is_changed(&self) -> bool {
        !self.edits.is_empty()
    }

    /// The context as JSON text (what the hook's output will carry).
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(self.json_len());
        self.write_json(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// Whether a received member has a key that an edit names.
    fn shadows(&self) -> bool {
        let text = self.original.as_str();
        self.received
            .iter()
            .any(|r| self.edits.iter().any(|e| r.key_is(text, self.text(e.key))))
    }

    fn write_edit(&self, out: &mut Vec<u8>, edit: &Edit, first: &mut bool) {
        if let Some((start, _, end)) = edit.member {
            if !*first {
                out.push(b',');
            }
            *first = false;
            out.extend_from_slice(self.text((start, end)).as_bytes());
        }
    }
}

impl WriteJson for BifrostContext {
    fn write_json(&self, out: &mut Vec<u8>) {
        let text = self.original.as_str();
        if self.edits.is_empty() {
            out.extend_from_slice(text.as_bytes());
            return;
        }
        let mut first = true;
        if !self.shadows() {
            // Only new keys: the received members verbatim, then the edits.
            let body = text.trim_end().strip_suffix('}').unwrap_or("{").trim_end();
            out.extend_from_slice(body.as_bytes());
            first = body.trim_start() == "{";
            for edit in &self.edits {
                self.write_edit(out, edit, &mut first);
            }
            out.push(b'}');
            return;
        }
        // Some received member is replaced or removed: copy the others member by member,
        // write each edit where its key first appeared, and append the new keys.
        let mut written = vec![false; self.edits.len()];
        out.push(b'{');
        for r in &self.received {
            let key = r.key(text);
            match self.edits.iter().position(|e| self.text(e.key) == key) {
                Some(i) => {
                    if !written[i] {
                        written[i] = true;
                        self.write_edit(out, &self.edits[i], &mut first);
                    }
                }
                None => {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    out.extend_from_slice(r.member(text).as_bytes());
                }
            }
        }
        for (i, edit) in self.edits.iter().enumerate() {
            if !written[i] {
                self.write_edit(out, edit, &mut first);
            }
        }
        out.push(b'}');
    }

    fn json_len(&self) -> usize {
        self.original.as_str().len() + self.buf.len() + 6 * self.edits.len() + 2
    }
}

impl fmt::Debug for BifrostContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BifrostContext").field(&self.to_json()).finish()
    }
}

impl PartialEq for BifrostContext {
    /// Two contexts are equal when they would be written identically.
    fn eq(&self, other: &Self) -> bool {
        self.to_json() == other.to_json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn ctx(text: &str) -> BifrostContext {
        BifrostContext::from_json(text).unwrap()
    }

    fn value(c: &BifrostContext) -> Value {
        serde_json::from_str(&c.to_json()).unwrap()
    }

    #[test]
    fn edits_to_an_empty_object_with_surrounding_whitespace_write_valid_json() {
        let mut ctx = BifrostContext::from_json("\r\n {} \n").unwrap();
        ctx.set_value("a", 1);
        ctx.set_value("b", "x");
        let written: serde_json::Value = serde_json::from_str(&ctx.to_json()).unwrap();
        assert_eq!(written, serde_json::json!({"a": 1, "b": "x"}));
    }

    #[test]
    fn null_reads_as_empty_and_other_types_are_refused() {
        assert!(ctx("null").is_empty());
        assert_eq!(ctx("null").to_json(), "{}");
        let e = BifrostContext::from_json("[1]").unwrap_err();
        assert_eq!(e.to_string(), "context must be a JSON object, found array");
    }

    #[test]
    fn untouched_context_is_written_byte_for_byte() {
        let text = r#"{ "request_id" : "r",  "n": 1.50, "big": 123456789012345678901234567890 }"#;
        assert_eq!(ctx(text).to_json(), text);
    }

    #[test]
    fn new_keys_are_appended_after_the_received_members() {
        let mut c = ctx(r#"{"a":1.0 , "b":null }"#);
        c.set_value("x", "y");
        c.set_value("n", 7u64);
        assert_eq!(c.to_json(), r#"{"a":1.0 , "b":null,"x":"y","n":7}"#);
        let mut empty = ctx("{ }");
        empty.set_value("k", false);
        assert_eq!(empty.to_json(), r#"{"k":false}"#);
        let mut fresh = BifrostContext::new();
        fresh.set_value("k", 1);
        assert_eq!(fresh.to_json(), r#"{"k":1}"#);
    }

    #[test]
    fn replaced_and_removed_keys_keep_the_order_of_the_rest() {
        let mut c = ctx(r#"{"a":1,"b":2,"c":{"d":[1,2]}}"#);
        c.set_value("b", "two");
        c.remove("a");
        c.set_value("e", true);
        assert_eq!(c.to_json(), r#"{"b":"two","c":{"d":[1,2]},"e":true}"#);
        assert_eq!(c.get_raw("a"), None);
        assert_eq!(c.get_string("b"), Some("two"));
        assert_eq!(c.keys(), ["b", "c", "e"]);
    }

    #[test]
    fn duplicate_received_keys_read_as_the_last_and_collapse_when_set() {
        let mut c = ctx(r#"{"k":1,"k":2}"#);
        assert_eq!(c.get_i64("k"), Some(2));
        assert_eq!(c.len(), 1);
        c.set_value("k", 3);
        assert_eq!(c.to_json(), r#"{"k":3}"#);
    }

    #[test]
    fn escaped_keys_and_values_are_matched_and_decoded() {
        let mut c = ctx(r#"{"pl\u0075gin":"caf\u00e9 \"x\"","s":"plain"}"#);
        assert_eq!(c.get_string("plugin"), Some("café \"x\""));
        assert_eq!(c.get_string("s"), Some("plain"));
        c.set_value("plugin", "new");
        assert_eq!(value(&c), json!({"plugin": "new", "s": "plain"}));
    }

    #[test]
    fn a_key_that_only_appears_inside_a_value_is_not_a_member() {
        let mut c = ctx(r#"{"note":"the \"k\" key","z":1}"#);
        c.set_value("k", 2);
        assert_eq!(value(&c), json!({"note": "the \"k\" key", "z": 1, "k": 2}));
    }

    #[test]
    fn typed_getters_read_only_values_of_their_type() {
        let c = ctx(r#"{"b":true,"i":-5,"u":18446744073709551615,"f":2.5,"s":"x","one":1.0}"#);
        assert_eq!(c.get_bool("b"), Some(true));
        assert_eq!(c.get_bool("s"), None);
        assert_eq!(c.get_i64("i"), Some(-5));
        assert_eq!(c.get_u64("u"), Some(u64::MAX));
        assert_eq!(c.get_i64("one"), None);
        assert_eq!(c.get_f64("f"), Some(2.5));
        assert_eq!(c.get_f64("i"), Some(-5.0));
        assert_eq!(c.get_f64("s"), None);
        assert!(c.get_as::<Vec<u8>>("s").unwrap().is_err());
        assert_eq!(c.get_as::<String>("s").unwrap().unwrap(), "x");
    }

    #[test]
    fn request_id_reads_the_seed_key_then_the_go_key() {
        assert_eq!(
            ctx(r#"{"request-id":"go","request_id":"seed"}"#).request_id(),
            Some("seed")
        );
        assert_eq!(ctx(r#"{"request-id":"go"}"#).request_id(), Some("go"));
        assert_eq!(
            ctx(r#"{"request_id":7,"request-id":"go"}"#).request_id(),
            Some("go")
        );
        assert_eq!(ctx(r#"{"x-bf-vk":"vk-1"}"#).virtual_key(), Some("vk-1"));
    }

    #[test]
    fn setting_a_key_twice_keeps_one_member_with_the_last_value() {
        let mut c = BifrostContext::new();
        c.set_value("n", 1);
        c.set_value("n", 2);
        c.remove("missing");
        assert_eq!(c.to_json(), r#"{"n":2}"#);
        assert!(c.remove("n"));
        assert_eq!(c.to_json(), "{}");
    }
}
