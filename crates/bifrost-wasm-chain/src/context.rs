//! The context of one request: a JSON object every hook receives and may add to.
//!
//! The chain seeds it (request id under both spellings, start time), sends it with every hook
//! input and merges what each hook returns: members are added or overwritten, never removed.
//! Values are kept as the raw JSON the plugin wrote. The object's text is kept too and only
//! rebuilt after a change, so writing a hook's input costs one copy.

use std::cell::OnceCell;

use bifrost_wasm_types::raw::RawJson;
use bifrost_wasm_types::scan::{self, Member};

/// Context key [`crate::RequestRun::new`] seeds with the time the request started, in Unix
/// milliseconds: a `wasm32-unknown-unknown` plugin has no clock of its own (the `rate-window`
/// example plugin reads its time here).
pub const START_TIME_KEY: &str = "request_start_unix_ms";

/// The context of one request: a JSON object kept as raw members, in order.
#[derive(Debug, Clone, Default)]
pub struct Context {
    entries: Vec<(String, RawJson)>,
    /// The JSON text, built when first needed after a change (hooks mostly add little).
    json: OnceCell<String>,
}

impl PartialEq for Context {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl Context {
    /// A context seeded with the request id under both `request_id` (seed examples) and
    /// `request-id` (Bifrost's Go key).
    pub fn with_request_id(request_id: &str) -> Self {
        let id = RawJson::from_validated(scan::quote(request_id));
        Context {
            entries: vec![
                ("request_id".to_string(), id.clone()),
                ("request-id".to_string(), id),
            ],
            json: OnceCell::new(),
        }
    }

    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> Option<&RawJson> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key`; returns true if the value changed.
    pub fn set(&mut self, key: &str, value: RawJson) -> bool {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) if v.as_str() == value.as_str() => return false,
            Some((_, v)) => *v = value,
            None => self.entries.push((key.to_string(), value)),
        }
        self.json.take();
        true
    }

    /// The members, in order.
    pub fn entries(&self) -> &[(String, RawJson)] {
        &self.entries
    }

    /// The context as JSON text.
    pub fn as_json(&self) -> &str {
        self.json.get_or_init(|| {
            let len: usize = self
                .entries
                .iter()
                .map(|(k, v)| k.len() + v.as_str().len() + 4)
                .sum();
            let mut json = Vec::with_capacity(len + 2);
            json.push(b'{');
            for (i, (k, v)) in self.entries.iter().enumerate() {
                if i > 0 {
                    json.push(b',');
                }
                scan::write_string(&mut json, k);
                json.push(b':');
                json.extend_from_slice(v.as_str().as_bytes());
            }
            json.push(b'}');
            String::from_utf8(json).expect("built from UTF-8 parts")
        })
    }

    /// The context as an owned JSON string.
    pub fn to_json(&self) -> String {
        self.as_json().to_string()
    }

    /// Merges the members of a hook's output context: `text` is the object's JSON text and
    /// `members` its members (as the codec indexed them, offsets relative to `text`). Adds or
    /// overwrites, never removes; returns the keys that changed.
    ///
    /// A plugin usually echoes the context it received and appends its own keys; then only
    /// the appended members are looked at, and the text is kept as it is.
    pub(crate) fn merge(&mut self, text: &str, members: &[Member<'_>]) -> Vec<String> {
        let current = self.as_json();
        if text == current {
            return Vec::new();
        }
        // `{<the members we sent>` followed by `,` and more members?
        let echoed = &current[..current.len() - 1];
        let appended_from = match text.strip_prefix(echoed) {
            Some(rest) if echoed.len() > 1 && rest.trim_start().starts_with(',') => Some(echoed.len()),
            _ => None,
        };
        let mut changed = Vec::new();
        let mut only_added = appended_from.is_some();
        for m in members {
            if appended_from.is_some_and(|from| m.key_start < from) {
                continue;
            }
            let key = m.key();
            match self.entries.iter_mut().find(|(k, _)| *k == *key) {
                Some((_, v)) if v.as_str() == m.value => continue,
                Some((_, v)) => {
                    *v = RawJson::from_validated(m.value);
                    only_added = false;
                }
                None => self
                    .entries
                    .push((key.to_string(), RawJson::from_validated(m.value))),
            }
            if !changed.iter().any(|k: &String| *k == *key) {
                changed.push(key.into_owned());
            }
        }
        if changed.is_empty() {
            return changed;
        }
        self.json.take();
        if only_added {
            // The plugin's text is exactly our members plus the new ones.
            let _ = self.json.set(text.to_string());
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bifrost_wasm_types::scan::Members;

    fn merge(ctx: &mut Context, text: &str) -> Vec<String> {
        let members: Vec<_> = Members::new(text).collect();
        ctx.merge(text, &members)
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
    fn merge_adds_and_overwrites_but_never_removes() {
        let mut ctx = Context::with_request_id("r");
        let keys = merge(&mut ctx, r#"{"request_id":"changed","new":[1, 2]}"#);
        assert_eq!(keys, ["request_id", "new"]);
        assert_eq!(
            ctx.as_json(),
            r#"{"request_id":"changed","request-id":"r","new":[1, 2]}"#
        );
        assert!(merge(&mut ctx, "{}").is_empty());
        assert_eq!(ctx.entries().len(), 3);
    }

    #[test]
    fn an_echo_with_appended_members_is_kept_as_written() {
        let mut ctx = Context::with_request_id("r");
        let text = r#"{"request_id":"r","request-id":"r" , "seen":true}"#;
        assert_eq!(merge(&mut ctx, text), ["seen"]);
        assert_eq!(ctx.as_json(), text);
        assert_eq!(ctx.get("seen").unwrap().as_str(), "true");
        // The same text again changes nothing.
        assert!(merge(&mut ctx, text).is_empty());
        // An appended member that overwrites an echoed one is applied, and the text rebuilt.
        let text = r#"{"request_id":"r","request-id":"r" , "seen":true,"request_id":"x"}"#;
        assert_eq!(merge(&mut ctx, text), ["request_id"]);
        assert_eq!(
            ctx.as_json(),
            r#"{"request_id":"x","request-id":"r","seen":true}"#
        );
    }

    #[test]
    fn escaped_keys_are_merged_by_their_value() {
        let mut ctx = Context::default();
        assert_eq!(merge(&mut ctx, r#"{"k\u0065y":"v"}"#), ["key"]);
        assert_eq!(ctx.as_json(), r#"{"key":"v"}"#);
        assert!(merge(&mut ctx, r#"{"key":"v"}"#).is_empty());
    }

    #[test]
    fn set_reports_whether_the_value_changed() {
        let mut ctx = Context::default();
        assert!(ctx.set("a", RawJson::from_validated("1")));
        assert!(!ctx.set("a", RawJson::from_validated("1")));
        assert!(ctx.set("a", RawJson::from_validated("2")));
        assert_eq!(ctx.to_json(), r#"{"a":2}"#);
    }
}
