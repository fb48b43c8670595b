//! The request-scoped context every hook receives and returns.

use std::collections::HashMap;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::raw::JsonKind;
use crate::scan;

/// The Bifrost context: a JSON object of request-scoped values that flows through every hook.
///
/// Hooks receive it in their input and return it in their output; values set by one hook are
/// visible to every later hook of the same request. `null` reads as an empty context. The
/// request id is `request_id` in the seed's examples and `request-id` in Bifrost's Go code;
/// [`BifrostContext::request_id`] reads both.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BifrostContext {
    /// The `request_id` key, when it holds a string.
    pub request_id: Option<String>,
    /// Every other key (including a `request_id` that is not a string).
    pub values: HashMap<String, Value>,
}

/// Context key holding Bifrost's request id in Go (`BifrostContextKeyRequestID`).
pub const GO_REQUEST_ID_KEY: &str = "request-id";

/// Context key holding Bifrost's virtual key (`x-bf-vk`).
pub const VIRTUAL_KEY: &str = "x-bf-vk";

impl BifrostContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// The request id: `request_id`, else Bifrost's `request-id`.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id
            .as_deref()
            .or_else(|| self.get_string(GO_REQUEST_ID_KEY))
    }

    /// Sets `key` to `value` (overwriting). Setting `request_id` to a string sets the field.
    pub fn set_value(&mut self, key: &str, value: impl Into<Value>) {
        let value = value.into();
        if key == "request_id" {
            if let Value::String(s) = value {
                self.request_id = Some(s);
                self.values.remove(key);
                return;
            }
            self.request_id = None;
        }
        self.values.insert(key.to_string(), value);
    }

    /// The value under `key`, if any (`request_id` included).
    pub fn get(&self, key: &str) -> Option<Value> {
        if key == "request_id" {
            if let Some(id) = &self.request_id {
                return Some(Value::String(id.clone()));
            }
        }
        self.values.get(key).cloned()
    }

    /// Borrows the value under `key` from [`BifrostContext::values`].
    pub fn get_value(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// The value under `key` if it is a string.
    pub fn get_string(&self, key: &str) -> Option<&str> {
        if key == "request_id" {
            if let Some(id) = &self.request_id {
                return Some(id);
            }
        }
        self.values.get(key).and_then(Value::as_str)
    }

    /// The value under `key` if it is a boolean.
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        self.values.get(key).and_then(Value::as_bool)
    }

    /// The value under `key` if it is an integer that fits `i64`.
    pub fn get_i64(&self, key: &str) -> Option<i64> {
        self.values.get(key).and_then(Value::as_i64)
    }

    /// The value under `key` if it is a number.
    pub fn get_f64(&self, key: &str) -> Option<f64> {
        self.values.get(key).and_then(Value::as_f64)
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        (key == "request_id" && self.request_id.is_some()) || self.values.contains_key(key)
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        if key == "request_id" {
            if let Some(id) = self.request_id.take() {
                return Some(Value::String(id));
            }
        }
        self.values.remove(key)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.values.len() + usize::from(self.request_id.is_some())
    }

    /// True when there are no keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads a context from JSON text that is known to be valid (`null` reads as empty).
    /// Any other non-object value is an error naming its type. Same result as
    /// deserializing with serde, without serde.
    pub fn from_valid_json(text: &str) -> Result<Self, String> {
        match JsonKind::of(text) {
            JsonKind::Null => return Ok(BifrostContext::default()),
            JsonKind::Object => {}
            other => return Err(format!("invalid type: {}, expected a JSON object", other.name())),
        }
        let members: Vec<scan::Member<'_>> = scan::Members::new(text).collect();
        Self::from_members(&members)
    }

    /// The context from the members of its (valid) JSON object, as an envelope index
    /// ([`crate::scan::ObjectIndex`]) lists them.
    pub fn from_members(members: &[scan::Member<'_>]) -> Result<Self, String> {
        let mut ctx = BifrostContext::default();
        // Room for every key plus the few a hook usually adds: one allocation.
        if members.len() > 1 || members.first().is_some_and(|m| !m.key_is("request_id")) {
            ctx.values.reserve(members.len() + 3);
        }
        for m in members {
            let key = if m.key_escaped {
                scan::unescape(m.raw_key).map_err(|e| e.to_string())?
            } else {
                std::borrow::Cow::Borrowed(m.raw_key)
            };
            if key == "request_id" && m.value.starts_with('"') {
                if let Some(id) = scan::string_value(m.value) {
                    ctx.request_id = Some(id.into_owned());
                    continue;
                }
            }
            let value = scan::parse_value_nested(m.value, 1).map_err(|e| e.to_string())?;
            ctx.values.insert(key.into_owned(), value);
        }
        Ok(ctx)
    }

    /// Appends the context as compact JSON (`request_id` first), as its `Serialize` writes it.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        let mut first = true;
        if let Some(id) = &self.request_id {
            scan::write_string(out, "request_id");
            out.push(b':');
            scan::write_string(out, id);
            first = false;
        }
        for (k, v) in &self.values {
            if !first {
                out.push(b',');
            }
            first = false;
            scan::write_string(out, k);
            out.push(b':');
            scan::write_value(out, v);
        }
        out.push(b'}');
    }
}

impl Serialize for BifrostContext {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        if let Some(id) = &self.request_id {
            map.serialize_entry("request_id", id)?;
        }
        for (k, v) in &self.values {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for BifrostContext {
    /// Accepts an object or `null` (empty). Any other JSON type is an error.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BifrostContext;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object (or null) as the context")
            }
            fn visit_unit<E>(self) -> Result<BifrostContext, E> {
                Ok(BifrostContext::default())
            }
            fn visit_none<E>(self) -> Result<BifrostContext, E> {
                Ok(BifrostContext::default())
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<BifrostContext, D::Error> {
                d.deserialize_any(V)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BifrostContext, A::Error> {
                let mut ctx = BifrostContext::default();
                ctx.values.reserve(map.size_hint().unwrap_or(4));
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    if k == "request_id" {
                        if let Value::String(s) = v {
                            ctx.request_id = Some(s);
                            continue;
                        }
                    }
                    ctx.values.insert(k, v);
                }
                Ok(ctx)
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn context_null_reads_as_empty() {
        let ctx: BifrostContext = serde_json::from_str("null").unwrap();
        assert!(ctx.is_empty());
    }

    #[test]
    fn context_rejects_non_object() {
        assert!(serde_json::from_str::<BifrostContext>("[1]").is_err());
        assert!(serde_json::from_str::<BifrostContext>("5").is_err());
    }

    #[test]
    fn context_round_trips_every_key() {
        let input = json!({"request_id": "abc-123", "request-id": "go-1", "n": 1, "x": {"y": [null]}});
        let ctx: BifrostContext = serde_json::from_value(input.clone()).unwrap();
        assert_eq!(ctx.request_id(), Some("abc-123"));
        assert_eq!(serde_json::to_value(&ctx).unwrap(), input);
    }

    #[test]
    fn request_id_falls_back_to_go_key() {
        let ctx: BifrostContext = serde_json::from_value(json!({"request-id": "go-1"})).unwrap();
        assert_eq!(ctx.request_id(), Some("go-1"));
    }

    #[test]
    fn non_string_request_id_is_kept_as_value() {
        let ctx: BifrostContext = serde_json::from_value(json!({"request_id": 7})).unwrap();
        assert_eq!(ctx.request_id, None);
        assert_eq!(serde_json::to_value(&ctx).unwrap(), json!({"request_id": 7}));
    }

    #[test]
    fn set_value_and_typed_getters() {
        let mut ctx = BifrostContext::new();
        ctx.set_value("plugin_processed", true);
        ctx.set_value("plugin_name", "my-rust-plugin");
        ctx.set_value("request_id", "r1");
        assert_eq!(ctx.get_bool("plugin_processed"), Some(true));
        assert_eq!(ctx.get_string("plugin_name"), Some("my-rust-plugin"));
        assert_eq!(ctx.request_id(), Some("r1"));
        assert_eq!(ctx.len(), 3);
    }
}
