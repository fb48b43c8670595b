//! value-baseline's hooks: the whole input parsed into one `serde_json::Value`, hello-world's
//! default behaviours applied on it, and the same Value written back with
//! `serde_json::to_string`.
//!
//! No typed envelope, no copy of a payload: each hook edits the input envelope in place and
//! sets the output members the host reads (`has_chunk` for a chunk; `short_circuit` and
//! `has_short_circuit`, in place of `request`, for the mock answer). Members the host does
//! not read for that hook's output (e.g. a stream chunk's `request`) are written back as they
//! came.
//!
//! Behaviours are those of [`crate::typed`]: `http_pre_hook_seen`, `plugin_processed` /
//! `plugin_name`, the mock answer for `mock-model` (flat, `{"chat_request": …}` or Go
//! `{"ChatRequest": …}` request), `post_hook_completed` with the model suffix or the error
//! annotation, `http_post_hook_seen`, the `stream_chunks_seen` counter. A malformed input
//! gets an error output instead of a trap.

use serde_json::{json, Map, Value};

use crate::{ERROR_SUFFIX, MOCK_MODEL, MOCK_TEXT, MODEL_SUFFIX, PLUGIN_NAME_MARK};

/// The input envelope, with its context object (an absent or `null` context becomes `{}`).
fn parse(input: &str) -> Result<Value, String> {
    let mut envelope: Value = serde_json::from_str(input).map_err(|e| format!("invalid input: {e}"))?;
    let Some(members) = envelope.as_object_mut() else {
        return Err("invalid input: the envelope is not a JSON object".to_string());
    };
    match members.get("context") {
        None | Some(Value::Null) => {
            members.insert("context".to_string(), Value::Object(Map::new()));
        }
        Some(Value::Object(_)) => {}
        Some(_) => return Err("invalid input: `context` is not an object".to_string()),
    }
    Ok(envelope)
}

/// The envelope's context (present after [`parse`]).
fn context(envelope: &mut Value) -> &mut Map<String, Value> {
    match envelope.get_mut("context") {
        Some(Value::Object(context)) => context,
        _ => unreachable!("parse checked the context"),
    }
}

/// An output that reports `message` in the hook's error member.
fn error_output(error_member: &str, message: String) -> String {
    let mut output = Map::new();
    output.insert("context".to_string(), Value::Object(Map::new()));
    output.insert(error_member.to_string(), Value::String(message));
    Value::Object(output).to_string()
}

/// Runs `edit` on the parsed envelope and writes it back.
fn edit_envelope(input: &str, error_member: &str, edit: fn(&mut Value)) -> String {
    match parse(input) {
        Ok(mut envelope) => {
            edit(&mut envelope);
            serde_json::to_string(&envelope).unwrap_or_else(|e| error_output(error_member, e.to_string()))
        }
        Err(message) => error_output(error_member, message),
    }
}

/// Appends `suffix` to `value` if it is a string.
fn append(value: Option<&mut Value>, suffix: &str) {
    if let Some(Value::String(text)) = value {
        text.push_str(suffix);
    }
}

/// The model of a flat, `{"chat_request": …}` or Go `{"ChatRequest": …}` request.
fn model(request: &Value) -> Option<&str> {
    let chat = ["chat_request", "ChatRequest"]
        .iter()
        .find_map(|key| request.get(key).filter(|v| v.is_object()))
        .unwrap_or(request);
    chat.get("model").and_then(Value::as_str)
}

/// The seed's mock answer, as a `BifrostResponse`.
pub fn mock_response(request_id: &str) -> Value {
    json!({
        "chat_response": {
            "id": format!("mock-{request_id}"),
            "model": MOCK_MODEL,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": MOCK_TEXT},
                "finish_reason": "stop",
            }],
            "usage": {"prompt_tokens": 10, "completion_tokens": 15, "total_tokens": 25},
        }
    })
}

/// `http_pre_hook` on JSON text.
pub fn http_pre_hook_json(input: &str) -> String {
    edit_envelope(input, "error", |envelope| {
        context(envelope).insert("http_pre_hook_seen".to_string(), Value::Bool(true));
    })
}

/// `http_post_hook` on JSON text.
pub fn http_post_hook_json(input: &str) -> String {
    edit_envelope(input, "error", |envelope| {
        context(envelope).insert("http_post_hook_seen".to_string(), Value::Bool(true));
    })
}

/// `http_stream_chunk_hook` on JSON text.
pub fn http_stream_chunk_hook_json(input: &str) -> String {
    edit_envelope(input, "error", |envelope| {
        let context = context(envelope);
        let seen = context
            .get("stream_chunks_seen")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        context.insert("stream_chunks_seen".to_string(), Value::from(seen + 1));
        envelope["has_chunk"] = Value::Bool(true);
    })
}

/// `pre_hook` on JSON text.
pub fn pre_hook_json(input: &str) -> String {
    edit_envelope(input, "error", |envelope| {
        let context = context(envelope);
        context.insert("plugin_processed".to_string(), Value::Bool(true));
        context.insert("plugin_name".to_string(), Value::from(PLUGIN_NAME_MARK));
        let mock = envelope.get("request").and_then(model) == Some(MOCK_MODEL);
        if mock {
            let id = envelope["context"]["request_id"].as_str().unwrap_or_default();
            let response = mock_response(id);
            envelope["short_circuit"] = json!({ "response": response });
            envelope["has_short_circuit"] = Value::Bool(true);
            if let Some(members) = envelope.as_object_mut() {
                members.remove("request");
            }
        }
    })
}

/// `post_hook` on JSON text.
pub fn post_hook_json(input: &str) -> String {
    edit_envelope(input, "hook_error", |envelope| {
        context(envelope).insert("post_hook_completed".to_string(), Value::Bool(true));
        if envelope["has_error"] == Value::Bool(true) {
            let message = envelope
                .get_mut("error")
                .and_then(|e| e.get_mut("error"))
                .and_then(|e| e.get_mut("message"));
            append(message, ERROR_SUFFIX);
        } else {
            let model = envelope
                .get_mut("response")
                .and_then(|r| r.get_mut("chat_response"))
                .and_then(|c| c.get_mut("model"));
            append(model, MODEL_SUFFIX);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(hook: fn(&str) -> String, input: Value) -> Value {
        serde_json::from_str(&hook(&input.to_string())).unwrap()
    }

    #[test]
    fn pre_hook_passes_the_envelope_through_and_marks_context() {
        let request = json!({"provider": "openai", "model": "gpt-4", "input": [{"role": "user", "content": "Hello"}], "x_unknown": [1.5, null]});
        let out = call(
            pre_hook_json,
            json!({"context": {"request_id": "abc"}, "request": request}),
        );
        assert_eq!(out["request"], request);
        assert_eq!(out["context"]["plugin_processed"], true);
        assert_eq!(out["context"]["plugin_name"], PLUGIN_NAME_MARK);
        assert_eq!(out["context"]["request_id"], "abc");
        assert_eq!(out.get("has_short_circuit"), None);
    }

    #[test]
    fn pre_hook_mocks_mock_model_in_every_request_shape() {
        for request in [
            json!({"model": "mock-model"}),
            json!({"chat_request": {"model": "mock-model"}}),
            json!({"RequestType": "chat_completion", "ChatRequest": {"model": "mock-model"}}),
        ] {
            let out = call(
                pre_hook_json,
                json!({"context": {"request_id": "r1"}, "request": request}),
            );
            assert_eq!(out["short_circuit"]["response"]["chat_response"]["id"], "mock-r1");
            assert_eq!(out["has_short_circuit"], true);
            assert_eq!(out.get("request"), None);
        }
    }

    #[test]
    fn post_hook_rewrites_model_or_annotates_error() {
        let out = call(
            post_hook_json,
            json!({"context": {}, "response": {"chat_response": {"model": "gpt-4", "x_extra": 1}}, "error": null, "has_error": false}),
        );
        assert_eq!(out["response"]["chat_response"]["model"], "gpt-4 (via rust-wasm)");
        assert_eq!(out["response"]["chat_response"]["x_extra"], 1);
        assert_eq!(out["context"]["post_hook_completed"], true);
        let out = call(
            post_hook_json,
            json!({"context": {}, "response": null, "error": {"error": {"message": "boom"}}, "has_error": true}),
        );
        assert_eq!(out["error"]["error"]["message"], "boom (via rust plugin)");
    }

    #[test]
    fn stream_chunk_hook_keeps_the_chunk_and_counts() {
        let out = call(
            http_stream_chunk_hook_json,
            json!({"context": {"stream_chunks_seen": 2}, "request": null, "chunk": {"id": "c"}}),
        );
        assert_eq!(out["chunk"], json!({"id": "c"}));
        assert_eq!(out["has_chunk"], true);
        assert_eq!(out["context"]["stream_chunks_seen"], 3);
    }

    #[test]
    fn a_missing_or_null_context_becomes_an_empty_one() {
        let out = call(
            http_post_hook_json,
            json!({"context": null, "request": {}, "response": {}}),
        );
        assert_eq!(out["context"], json!({"http_post_hook_seen": true}));
        let out = call(http_pre_hook_json, json!({"request": {}}));
        assert_eq!(out["context"], json!({"http_pre_hook_seen": true}));
    }

    #[test]
    fn malformed_input_gets_an_error_output() {
        for (hook, member) in [
            (pre_hook_json as fn(&str) -> String, "error"),
            (post_hook_json, "hook_error"),
            (http_pre_hook_json, "error"),
            (http_stream_chunk_hook_json, "error"),
        ] {
            for input in ["{not json", "[1, 2]", r#"{"context": 3}"#] {
                let out: Value = serde_json::from_str(&hook(input)).unwrap();
                let message = out[member].as_str().unwrap_or_default();
                assert!(message.starts_with("invalid input"), "{input}: {out}");
            }
        }
    }
}
