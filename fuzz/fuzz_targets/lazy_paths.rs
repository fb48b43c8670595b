//! The SDK's lazy paths against serde_json as the oracle.
//!
//! * **Envelope index and splice writer**: arbitrary bytes go through every hook of a plugin
//!   that overrides nothing. When serde_json reads the bytes as an object (with no two
//!   top-level keys equal ignoring case, where Go's rule and serde_json's differ), every
//!   payload the output carries equals the input's as serde_json reads both; otherwise the
//!   output carries an error. The output is always one JSON object.
//! * **Context edits**: the bytes after the first `0x00` are a context, the bytes before it a
//!   list of edits (`set_value` of a string, integer, boolean or JSON value; `remove`) on
//!   keys that are partly taken from the context itself, so that edits replace received
//!   members. The context written back equals serde_json's map with the same edits applied,
//!   and every read agrees with that map.
#![no_main]

use std::collections::HashSet;

use bifrost_wasm_sdk::prelude::*;
use bifrost_wasm_sdk::testing::{hooks, Harness};
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use serde_json::Map;

/// A plugin that overrides no hook.
struct Nothing;

impl Plugin for Nothing {
    const NAME: &'static str = "nothing";
    type Config = Value;
    fn new(_: Value) -> HookResult<Self> {
        Ok(Nothing)
    }
}

thread_local! {
    static PLUGIN: Harness<Nothing> = Harness::new("{}").expect("init");
}

/// The member `name` of `input`, matched ignoring ASCII case as Go's `encoding/json` does
/// (the oracle skips inputs with two such keys).
fn member<'a>(input: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    input
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// Calls one hook and checks the output against the input as serde_json reads it.
fn pass_through(output: String, input: Option<&Map<String, Value>>, payloads: &[&str], error_key: &str) {
    let raw: std::collections::BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(&output).expect("hook output is a JSON object");
    let Ok(out) = serde_json::from_str::<Map<String, Value>>(&output) else {
        // Valid JSON that serde_json will not decode into `Value` (a lone surrogate escape,
        // which Go reads as U+FFFD) is only echoed from an input with the same text.
        assert!(
            input.is_none(),
            "output not decodable from a decodable input: {output}"
        );
        assert!(raw.contains_key("context"), "{output}");
        return;
    };
    let Some(input) = input else {
        let error = out.get(error_key).and_then(Value::as_str).unwrap_or_default();
        assert!(!error.is_empty(), "no error for unusable input: {output}");
        return;
    };
    if out
        .get(error_key)
        .and_then(Value::as_str)
        .is_some_and(|e| !e.is_empty())
    {
        // Refused: only for a payload of the wrong JSON type, which the oracle does not model.
        return;
    }
    for name in payloads {
        let sent = member(input, name).filter(|v| !v.is_null());
        let got = out.get(*name).filter(|v| !v.is_null());
        if let Some(sent) = sent {
            assert_eq!(got, Some(sent), "`{name}` changed in pass-through: {output}");
        }
    }
    let sent = member(input, "context").filter(|v| !v.is_null());
    let got = out
        .get("context")
        .filter(|v| !v.is_null() && *v != &Value::Object(Map::new()));
    assert_eq!(
        got,
        sent.filter(|v| *v != &Value::Object(Map::new())),
        "context changed: {output}"
    );
}

fn envelope(data: &[u8]) {
    let grammatical = serde_json::from_slice::<Box<RawValue>>(data).is_ok();
    let decodable = serde_json::from_slice::<Value>(data).is_ok();
    if grammatical && !decodable {
        // A lone surrogate escape: valid JSON text that serde_json will not decode into
        // `Value`. The hooks must still answer with one JSON object.
        PLUGIN.with(|p| {
            for out in [
                p.call_raw::<hooks::HttpPre>(data),
                p.call_raw::<hooks::HttpPost>(data),
                p.call_raw::<hooks::StreamChunk>(data),
                p.call_raw::<hooks::Pre>(data),
                p.call_raw::<hooks::Post>(data),
            ] {
                serde_json::from_str::<std::collections::BTreeMap<String, Box<RawValue>>>(&out)
                    .expect("hook output is a JSON object");
            }
        });
        return;
    }
    let oracle = serde_json::from_slice::<Value>(data).ok().and_then(|v| match v {
        Value::Object(m) => Some(m),
        _ => None,
    });
    if let Some(m) = &oracle {
        let mut seen = HashSet::new();
        if !m.keys().all(|k| seen.insert(k.to_ascii_lowercase())) {
            return;
        }
        // Repeated keys collapse in serde_json's map; the oracle skips them.
        let text = std::str::from_utf8(data).expect("serde_json read it");
        if bifrost_wasm_types::scan::Members::new(text).count() != m.len() {
            return;
        }
    }
    let input = oracle.as_ref();
    PLUGIN.with(|p| {
        pass_through(p.call_raw::<hooks::HttpPre>(data), input, &["request"], "error");
        pass_through(p.call_raw::<hooks::HttpPost>(data), input, &[], "error");
        pass_through(p.call_raw::<hooks::StreamChunk>(data), input, &["chunk"], "error");
        pass_through(p.call_raw::<hooks::Pre>(data), input, &["request"], "error");
        pass_through(
            p.call_raw::<hooks::Post>(data),
            input,
            &["response", "error"],
            "hook_error",
        );
    });
}

fn context(data: &[u8]) {
    let Some(split) = data.iter().position(|&b| b == 0) else {
        return;
    };
    let (ops, text) = (&data[..split], &data[split + 1..]);
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(Value::Object(mut model)) = serde_json::from_str::<Value>(text) else {
        let grammatical_object =
            serde_json::from_str::<Box<RawValue>>(text).is_ok_and(|r| r.get().starts_with('{'));
        if !grammatical_object {
            assert!(BifrostContext::from_json(text).is_err() || text.trim() == "null");
        }
        return;
    };
    let Ok(mut ctx) = BifrostContext::from_json(text) else {
        panic!("context refused but serde_json reads an object: {text:?}")
    };
    let mut keys: Vec<String> = ["a", REQUEST_ID_KEY, GO_REQUEST_ID_KEY, VIRTUAL_KEY, "é\"\\"]
        .iter()
        .map(|k| k.to_string())
        .collect();
    keys.extend(model.keys().take(4).cloned());
    for op in ops.chunks(2) {
        let (kind, arg) = (op[0], op.get(1).copied().unwrap_or(0));
        let key = keys[arg as usize % keys.len()].clone();
        let value = match kind % 6 {
            0 => {
                assert_eq!(ctx.remove(&key), model.remove(&key).is_some(), "remove {key:?}");
                continue;
            }
            1 => Value::from(format!("v{arg}\u{7f}\"\n")),
            2 => Value::from(i64::from(arg as i8) * 1_000_000_007),
            3 => Value::from(arg % 2 == 0),
            4 => serde_json::json!({"n": arg, "list": [1.5, null, "x"]}),
            _ => Value::Null,
        };
        match &value {
            Value::String(s) => ctx.set_value(&key, s.as_str()),
            Value::Number(n) => ctx.set_value(&key, n.as_i64().unwrap()),
            Value::Bool(b) => ctx.set_value(&key, *b),
            other => ctx.set_value(&key, other.clone()),
        }
        model.insert(key, value);
    }
    let written: Value = serde_json::from_str(&ctx.to_json()).expect("written context is JSON");
    assert_eq!(
        written,
        Value::Object(model.clone()),
        "context after edits: {}",
        ctx.to_json()
    );
    for key in &keys {
        let raw = ctx
            .get_raw(key)
            .map(|r| serde_json::from_str::<Value>(r).expect("raw value is JSON"));
        assert_eq!(raw.as_ref(), model.get(key), "get_raw({key:?})");
        assert_eq!(
            ctx.get_string(key),
            model.get(key).and_then(Value::as_str),
            "get_string({key:?})"
        );
        assert_eq!(
            ctx.get_bool(key),
            model.get(key).and_then(Value::as_bool),
            "get_bool({key:?})"
        );
        let int = model
            .get(key)
            .and_then(Value::as_i64)
            .filter(|_| !ctx.get_raw(key).unwrap().contains(['.', 'e', 'E']));
        assert_eq!(ctx.get_i64(key), int, "get_i64({key:?})");
    }
    assert_eq!(ctx.len(), model.len());
}

fuzz_target!(|data: &[u8]| {
    envelope(data);
    context(data);
});
