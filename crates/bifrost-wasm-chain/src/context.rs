//! The context of one request: a JSON object every hook receives and may add to.
//!
//! The chain seeds it (request id under both spellings, start time), sends it with every hook
//! input and merges what each hook returns: members are added or overwritten, never removed.
//! The members the chain seeds are *host-owned* ([`HOST_OWNED_KEYS`]): a plugin reads them, but
//! what it returns for them is not taken (a plugin that re-encodes the start time as a float,
//! as AssemblyScript's json-as does, would otherwise break the next plugin that reads it as an
//! integer); the chain keeps its own value and logs the attempt.
//! It is kept as one JSON text, values exactly as the plugins wrote them, with the position of
//! each member: writing a hook's input is one copy, and the usual merge (the plugin echoed the
//! context and appended its own keys) takes the plugin's text as it is.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use bifrost_wasm_types::raw::RawJson;
use bifrost_wasm_types::scan::{self, Member};

/// Context key [`crate::RequestRun::new`] seeds with the time the request started, in Unix
/// milliseconds: a `wasm32-unknown-unknown` plugin has no clock of its own (the `rate-window`
/// example plugin reads its time here).
pub const START_TIME_KEY: &str = "request_start_unix_ms";

/// The context keys the chain seeds and keeps: the request id under both spellings and
/// [`START_TIME_KEY`]. Every plugin sees the host's values, whatever an earlier plugin
/// returned for them.
pub const HOST_OWNED_KEYS: [&str; 3] = ["request_id", "request-id", START_TIME_KEY];

/// What merging a hook's output context did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Merged {
    /// Keys added or overwritten, in output order.
    pub changed: Vec<String>,
    /// Host-owned keys the output gave another value, which were not taken.
    pub kept: Vec<String>,
}

/// A member's place in the context's text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    /// The key between its quotes, as written (escapes not decoded).
    key: Range<usize>,
    /// Whether the key has an escape.
    escaped: bool,
    /// The value.
    value: Range<usize>,
}

/// The raw JSON text of a context value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct JsonText<'a>(&'a str);

impl<'a> JsonText<'a> {
    /// The JSON text.
    pub fn as_str(&self) -> &'a str {
        self.0
    }

    /// An owned copy.
    pub fn to_raw(self) -> RawJson {
        RawJson::from_validated(self.0)
    }
}

impl fmt::Debug for JsonText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Display for JsonText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The context of one request: a JSON object kept as text, members in order.
#[derive(Clone, PartialEq, Eq)]
pub struct Context {
    text: String,
    slots: Vec<Slot>,
}

impl Default for Context {
    fn default() -> Self {
        Context {
            text: "{}".to_string(),
            slots: Vec::new(),
        }
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Context").field(&self.text).finish()
    }
}

impl Context {
    /// A context seeded with the request id under both `request_id` (seed examples) and
    /// `request-id` (Bifrost's Go key).
    pub fn with_request_id(request_id: &str) -> Self {
        let mut context = Context {
            text: String::with_capacity(160 + 2 * request_id.len()),
            slots: Vec::with_capacity(8),
        };
        context.text.push('{');
        let id = scan::quote(request_id);
        context.text.push('}');
        context.append("request_id", &id);
        context.append("request-id", &id);
        context
    }

    fn key_of(&self, slot: &Slot) -> Cow<'_, str> {
        let raw = &self.text[slot.key.clone()];
        if slot.escaped {
            scan::unescape(raw).unwrap_or(Cow::Borrowed(raw))
        } else {
            Cow::Borrowed(raw)
        }
    }

    fn find(&self, key: &str) -> Option<usize> {
        let text = self.text.as_bytes();
        self.slots.iter().position(|s| {
            if s.escaped {
                self.key_of(s) == key
            } else {
                text.get(s.key.clone()) == Some(key.as_bytes())
            }
        })
    }

    fn value_at(&self, i: usize) -> &str {
        &self.text[self.slots[i].value.clone()]
    }

    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> Option<JsonText<'_>> {
        self.find(key)
            .map(|i| JsonText(&self.text[self.slots[i].value.clone()]))
    }

    /// Adds a number member at the end (the key must be new).
    pub(crate) fn append_number(&mut self, key: &str, value: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut n = value;
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.append(key, std::str::from_utf8(&digits[i..]).expect("digits"));
    }

    /// Adds a member at the end (the key must be new).
    fn append(&mut self, key: &str, value: &str) {
        self.text.pop();
        if !self.slots.is_empty() {
            self.text.push(',');
        }
        let key_start = self.text.len() + 1;
        if key.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            self.text.push('"');
            self.text.push_str(key);
            self.text.push('"');
        } else {
            self.text.push_str(&scan::quote(key));
        }
        let key_end = self.text.len() - 1;
        self.text.push(':');
        let value_start = self.text.len();
        self.text.push_str(value);
        let value_end = self.text.len();
        self.text.push('}');
        self.slots.push(Slot {
            escaped: self.text[key_start..key_end].contains('\\'),
            key: key_start..key_end,
            value: value_start..value_end,
        });
    }

    /// Sets `key`; returns true if the value changed.
    pub fn set(&mut self, key: &str, value: RawJson) -> bool {
        match self.find(key) {
            Some(i) if self.text[self.slots[i].value.clone()] == *value.as_str() => false,
            Some(i) => {
                self.rebuild(i, value.as_str());
                true
            }
            None => {
                self.append(key, value.as_str());
                true
            }
        }
    }

    /// The members (keys unescaped, raw values), in order.
    pub fn entries(&self) -> impl Iterator<Item = (Cow<'_, str>, JsonText<'_>)> + '_ {
        self.slots
            .iter()
            .map(|s| (self.key_of(s), JsonText(&self.text[s.value.clone()])))
    }

    /// The context as JSON text.
    pub fn as_json(&self) -> &str {
        &self.text
    }

    /// The context as an owned JSON string.
    pub fn to_json(&self) -> String {
        self.text.clone()
    }

    /// Rewrites the text with member `replaced`'s value replaced by `value`.
    fn rebuild(&mut self, replaced: usize, value: &str) {
        let old = std::mem::take(&mut self.text);
        let slots = std::mem::take(&mut self.slots);
        self.text = String::with_capacity(old.len() + value.len());
        self.text.push_str("{}");
        for (i, slot) in slots.iter().enumerate() {
            let raw_key = &old[slot.key.clone()];
            let key = if slot.escaped {
                scan::unescape(raw_key).unwrap_or(Cow::Borrowed(raw_key))
            } else {
                Cow::Borrowed(raw_key)
            };
            let value = if i == replaced {
                value
            } else {
                &old[slot.value.clone()]
            };
            self.append(&key, value);
        }
    }

    /// Merges the members of a hook's output context: `text` is the object's JSON text and
    /// `members` its members (as the codec indexed them, offsets relative to `text`). Adds or
    /// overwrites, never removes, and never takes another value for a host-owned key
    /// ([`HOST_OWNED_KEYS`]).
    ///
    /// A plugin usually echoes the context it received and appends its own keys; then only
    /// the appended members are looked at, and the plugin's text becomes the context's.
    pub(crate) fn merge<'m>(&mut self, text: &str, members: impl IntoIterator<Item = Member<'m>>) -> Merged {
        let mut merged = Merged::default();
        if text == self.text {
            return merged;
        }
        // `{<the members we sent>` followed by `,` and more members?
        let echoed = &self.text[..self.text.len() - 1];
        let appended_from = match text.strip_prefix(echoed) {
            Some(rest) if !self.slots.is_empty() && rest.trim_start().starts_with(',') => echoed.len(),
            _ => 0,
        };
        let mut adopted = appended_from > 0;
        if adopted {
            // Our members are a prefix of the new text, so their places stay valid.
            self.text.clear();
            self.text.push_str(text);
        }
        for m in members.into_iter().filter(|m| m.key_start >= appended_from) {
            let key = m.key();
            match self.find(&key) {
                Some(i) if self.value_at(i) == m.value => continue,
                Some(_) if HOST_OWNED_KEYS.contains(&&*key) => {
                    if !merged.kept.iter().any(|k| *k == *key) {
                        merged.kept.push(key.into_owned());
                    }
                    // The adopted text carries the plugin's value: written again below.
                    adopted = false;
                    continue;
                }
                // Overwritten (rare): the text is rebuilt.
                Some(_) => {
                    self.set(&key, RawJson::from_validated(m.value));
                    adopted = false;
                }
                // After an exact echo the member is already in the text.
                None if adopted => self.slots.push(Slot {
                    key: m.key_start + 1..m.key_start + 1 + m.raw_key.len(),
                    escaped: m.key_escaped,
                    value: m.value_start..m.value_start + m.value.len(),
                }),
                None => self.append(&key, m.value),
            }
            if !merged.changed.iter().any(|k| *k == *key) {
                merged.changed.push(key.into_owned());
            }
        }
        if !merged.kept.is_empty() {
            // The text from the members' places only: no trace of the refused values.
            self.rebuild(usize::MAX, "");
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bifrost_wasm_types::scan::Members;

    fn merge(ctx: &mut Context, text: &str) -> Vec<String> {
        let members: Vec<_> = Members::new(text).collect();
        let merged = ctx.merge(text, members);
        assert!(merged.kept.is_empty(), "{merged:?}");
        merged.changed
    }

    /// `{"id":"r","id2":"r"}`: two keys that are not host-owned.
    fn plain_ids() -> Context {
        let mut ctx = Context::default();
        ctx.append("id", r#""r""#);
        ctx.append("id2", r#""r""#);
        ctx
    }

    #[test]
    fn host_owned_keys_keep_the_hosts_values() {
        let mut ctx = Context::with_request_id("r");
        ctx.append_number(START_TIME_KEY, 1_764_760_000_000);
        // A json-as style re-encoding: the start time as a float, the request id changed,
        // one key of its own.
        let text =
            r#"{"request_id":"other","request-id":"r","request_start_unix_ms":1764760000000.0,"seen":true}"#;
        let members: Vec<_> = Members::new(text).collect();
        let merged = ctx.merge(text, members);
        assert_eq!(merged.kept, ["request_id", START_TIME_KEY]);
        assert_eq!(merged.changed, ["seen"]);
        assert_eq!(
            ctx.as_json(),
            r#"{"request_id":"r","request-id":"r","request_start_unix_ms":1764760000000,"seen":true}"#
        );
        // The same with the overwrite appended after an exact echo: no trace of it either.
        let echo = ctx.as_json().to_string();
        let text = format!(
            r#"{}, "request_start_unix_ms": 1.5, "more": 1}}"#,
            &echo[..echo.len() - 1]
        );
        let members: Vec<_> = Members::new(&text).collect();
        let merged = ctx.merge(&text, members);
        assert_eq!(merged.kept, [START_TIME_KEY]);
        assert_eq!(merged.changed, ["more"]);
        assert_eq!(ctx.get(START_TIME_KEY).unwrap().as_str(), "1764760000000");
        assert!(!ctx.as_json().contains("1.5"), "{}", ctx.as_json());
        assert_eq!(ctx.get("more").unwrap().as_str(), "1");
    }

    #[test]
    fn seeded_context_carries_both_request_id_spellings() {
        let ctx = Context::with_request_id("abc-\"1\"");
        assert_eq!(
            ctx.as_json(),
            r#"{"request_id":"abc-\"1\"","request-id":"abc-\"1\""}"#
        );
        assert_eq!(ctx.get("request-id").unwrap().as_str(), r#""abc-\"1\"""#);
    }

    #[test]
    fn numbers_are_appended_as_written() {
        let mut ctx = Context::default();
        ctx.append_number("t", 1_764_760_000_000);
        ctx.append_number("z", 0);
        assert_eq!(ctx.as_json(), r#"{"t":1764760000000,"z":0}"#);
    }

    #[test]
    fn merge_adds_and_overwrites_but_never_removes() {
        let mut ctx = plain_ids();
        let keys = merge(&mut ctx, r#"{"id":"changed","new":[1, 2]}"#);
        assert_eq!(keys, ["id", "new"]);
        assert_eq!(ctx.as_json(), r#"{"id":"changed","id2":"r","new":[1, 2]}"#);
        assert!(merge(&mut ctx, "{}").is_empty());
        assert_eq!(ctx.entries().count(), 3);
        assert_eq!(ctx.get("new").unwrap().as_str(), "[1, 2]");
    }

    #[test]
    fn an_echo_with_appended_members_is_kept_as_written() {
        let mut ctx = plain_ids();
        let text = r#"{"id":"r","id2":"r" , "seen":true}"#;
        assert_eq!(merge(&mut ctx, text), ["seen"]);
        assert_eq!(ctx.as_json(), text);
        assert_eq!(ctx.get("seen").unwrap().as_str(), "true");
        assert_eq!(ctx.get("id2").unwrap().as_str(), r#""r""#);
        // The same text again changes nothing.
        assert!(merge(&mut ctx, text).is_empty());
        // An appended member that overwrites an echoed one is applied, and the text rebuilt.
        let text = r#"{"id":"r","id2":"r" , "seen":true,"id":"x"}"#;
        assert_eq!(merge(&mut ctx, text), ["id"]);
        assert_eq!(ctx.as_json(), r#"{"id":"x","id2":"r","seen":true}"#);
    }

    #[test]
    fn a_reordered_echo_with_new_members_appends_them() {
        let mut ctx = plain_ids();
        let text = r#"{"id":"r","seen":true,"id2":"r"}"#;
        assert_eq!(merge(&mut ctx, text), ["seen"]);
        assert_eq!(ctx.as_json(), r#"{"id":"r","id2":"r","seen":true}"#);
    }

    #[test]
    fn an_overwrite_among_appended_members_keeps_the_rest() {
        let mut ctx = plain_ids();
        let text = r#"{"id":"r","id2":"r","a":1,"id":"x","b":2}"#;
        assert_eq!(merge(&mut ctx, text), ["a", "id", "b"]);
        assert_eq!(ctx.as_json(), r#"{"id":"x","id2":"r","a":1,"b":2}"#);
        assert_eq!(ctx.get("b").unwrap().as_str(), "2");
    }

    #[test]
    fn duplicate_keys_in_an_output_merge_to_the_last_value() {
        let mut ctx = Context::with_request_id("r");
        let text = r#"{"request_id":"r","request-id":"r","n":1,"n":2}"#;
        assert_eq!(merge(&mut ctx, text), ["n"]);
        assert_eq!(ctx.get("n").unwrap().as_str(), "2");
        assert_eq!(ctx.as_json(), r#"{"request_id":"r","request-id":"r","n":2}"#);
    }

    #[test]
    fn escaped_keys_are_merged_by_their_value() {
        let mut ctx = Context::default();
        assert_eq!(merge(&mut ctx, r#"{"k\u0065y":"v"}"#), ["key"]);
        assert_eq!(ctx.as_json(), r#"{"key":"v"}"#);
        assert!(merge(&mut ctx, r#"{"key":"v"}"#).is_empty());
        let mut ctx = Context::with_request_id("r");
        let text = r#"{"request_id":"r","request-id":"r","\u0061":1}"#;
        assert_eq!(merge(&mut ctx, text), ["a"]);
        assert_eq!(ctx.get("a").unwrap().as_str(), "1");
    }

    #[test]
    fn set_reports_whether_the_value_changed() {
        let mut ctx = Context::default();
        assert!(ctx.set("a", RawJson::from_validated("1")));
        assert!(!ctx.set("a", RawJson::from_validated("1")));
        assert!(ctx.set("b\"", RawJson::from_validated("[]")));
        assert!(ctx.set("a", RawJson::from_validated("2")));
        assert_eq!(ctx.to_json(), r#"{"a":2,"b\"":[]}"#);
        assert_eq!(ctx.get("b\"").unwrap().as_str(), "[]");
    }
}
