//! serde-baseline's hooks: hello-world's default behaviours written the way the upstream Rust
//! example writes a plugin.
//!
//! Each hook does what upstream's example does and no more: `serde_json::from_str` of the
//! input (one owned copy, made by [`crate::abi`]) into a typed envelope ([`types`]) whose
//! payloads are `serde_json::Value` and whose context is a `HashMap<String, Value>`, the
//! hook's body on those Values, and `serde_json::to_string` of a typed output. `pre_hook` finds
//! the model as upstream's `get_provider_model` does, by parsing a copy of the request into a
//! typed view ([`types::PreHookInput::get_provider_model`]).
//!
//! Behaviours (hello-world's defaults): `http_pre_hook` records `http_pre_hook_seen`;
//! `pre_hook` records `plugin_processed`/`plugin_name` and answers model `mock-model` (flat,
//! `{"chat_request": …}` or Go `{"ChatRequest": …}` request) with the seed's mock response;
//! `post_hook` records `post_hook_completed` and appends ` (via rust plugin)` to an error's
//! `error.message` or ` (via rust-wasm)` to `chat_response.model`, edited in place on the
//! `Value`; `http_post_hook` records `http_post_hook_seen`; `http_stream_chunk_hook` counts
//! `stream_chunks_seen`. A malformed input gets an error output instead of a trap.

pub mod types;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use types::*;

use crate::{ERROR_SUFFIX, MOCK_MODEL, MOCK_TEXT, MODEL_SUFFIX, PLUGIN_NAME_MARK};

fn parse<T: DeserializeOwned>(input: &str) -> Result<T, String> {
    serde_json::from_str(input).map_err(|e| format!("invalid input: {e}"))
}

fn to_json<T: Serialize>(output: &T) -> String {
    serde_json::to_string(output).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// Appends `suffix` to `value` if it is a string.
fn append(value: Option<&mut Value>, suffix: &str) {
    if let Some(Value::String(text)) = value {
        text.push_str(suffix);
    }
}

/// The seed's mock answer.
pub fn mock_response(request_id: &str) -> BifrostResponse {
    BifrostResponse {
        chat_response: Some(BifrostChatResponse {
            id: format!("mock-{request_id}"),
            model: MOCK_MODEL.to_string(),
            choices: vec![ResponseChoice {
                index: 0,
                message: Some(ChatMessage {
                    role: "assistant".to_string(),
                    content: Some(Value::String(MOCK_TEXT.to_string())),
                    ..Default::default()
                }),
                finish_reason: Some("stop".to_string()),
            }],
            usage: Some(LLMUsage {
                prompt_tokens: 10,
                completion_tokens: 15,
                total_tokens: 25,
            }),
        }),
    }
}

/// `http_pre_hook` on JSON text.
pub fn http_pre_hook_json(input: &str) -> String {
    match parse::<HTTPInterceptInput>(input) {
        Ok(mut input) => {
            input.context.set_value("http_pre_hook_seen", true);
            to_json(&HTTPInterceptOutput {
                context: input.context,
                request: Some(input.request),
                ..Default::default()
            })
        }
        Err(error) => to_json(&HTTPInterceptOutput {
            error,
            ..Default::default()
        }),
    }
}

/// `http_post_hook` on JSON text.
pub fn http_post_hook_json(input: &str) -> String {
    match parse::<HTTPPostHookInput>(input) {
        Ok(mut input) => {
            input.context.set_value("http_post_hook_seen", true);
            to_json(&HTTPPostHookOutput {
                context: input.context,
                error: String::new(),
            })
        }
        Err(error) => to_json(&HTTPPostHookOutput {
            error,
            ..Default::default()
        }),
    }
}

/// `http_stream_chunk_hook` on JSON text.
pub fn http_stream_chunk_hook_json(input: &str) -> String {
    match parse::<StreamChunkInput>(input) {
        Ok(mut input) => {
            let seen = input.context.get_i64("stream_chunks_seen").unwrap_or(0);
            input.context.set_value("stream_chunks_seen", seen + 1);
            to_json(&StreamChunkOutput {
                context: input.context,
                chunk: Some(input.chunk),
                has_chunk: true,
                skip: false,
                error: String::new(),
            })
        }
        Err(error) => to_json(&StreamChunkOutput {
            error,
            ..Default::default()
        }),
    }
}

/// `pre_hook` on JSON text.
pub fn pre_hook_json(input: &str) -> String {
    let mut input = match parse::<PreHookInput>(input) {
        Ok(input) => input,
        Err(error) => {
            return to_json(&PreHookOutput {
                error,
                ..Default::default()
            })
        }
    };
    input.context.set_value("plugin_processed", true);
    input.context.set_value("plugin_name", PLUGIN_NAME_MARK);
    let (_provider, model) = input.get_provider_model();
    if model == MOCK_MODEL {
        let response = mock_response(input.context.get_string("request_id").unwrap_or_default());
        return to_json(&PreHookOutput {
            context: input.context,
            short_circuit: Some(LLMPluginShortCircuit {
                response: Some(response),
                error: None,
            }),
            has_short_circuit: true,
            ..Default::default()
        });
    }
    to_json(&PreHookOutput {
        context: input.context,
        request: Some(input.request),
        ..Default::default()
    })
}

/// `post_hook` on JSON text.
pub fn post_hook_json(input: &str) -> String {
    let mut input = match parse::<PostHookInput>(input) {
        Ok(input) => input,
        Err(hook_error) => {
            return to_json(&PostHookOutput {
                hook_error,
                ..Default::default()
            })
        }
    };
    input.context.set_value("post_hook_completed", true);
    if input.has_error {
        let message = input.error.get_mut("error").and_then(|e| e.get_mut("message"));
        append(message, ERROR_SUFFIX);
    } else {
        let model = input
            .response
            .get_mut("chat_response")
            .and_then(|c| c.get_mut("model"));
        append(model, MODEL_SUFFIX);
    }
    to_json(&PostHookOutput {
        context: input.context,
        response: Some(input.response),
        error: Some(input.error),
        has_error: input.has_error,
        hook_error: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(hook: fn(&str) -> String, input: Value) -> Value {
        serde_json::from_str(&hook(&input.to_string())).unwrap()
    }

    #[test]
    fn pre_hook_passes_request_through_and_marks_context() {
        let request = json!({"provider": "openai", "model": "gpt-4", "input": [{"role": "user", "content": "Hello"}], "params": {"temperature": 0.7}});
        let out = call(
            pre_hook_json,
            json!({"context": {"request_id": "abc"}, "request": request}),
        );
        assert_eq!(out["request"], request);
        assert_eq!(out["context"]["plugin_processed"], true);
        assert_eq!(out["context"]["request_id"], "abc");
        assert_eq!(out["has_short_circuit"], false);
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
        }
    }

    #[test]
    fn post_hook_rewrites_model_or_annotates_error() {
        let out = call(
            post_hook_json,
            json!({"context": {}, "response": {"chat_response": {"id": "x", "model": "gpt-4", "choices": [], "x_extra": 1}}, "error": {}, "has_error": false}),
        );
        assert_eq!(out["response"]["chat_response"]["model"], "gpt-4 (via rust-wasm)");
        assert_eq!(out["response"]["chat_response"]["x_extra"], 1);
        assert_eq!(out["context"]["post_hook_completed"], true);
        let out = call(
            post_hook_json,
            json!({"context": {}, "response": null, "error": {"error": {"message": "boom"}}, "has_error": true}),
        );
        assert_eq!(out["error"]["error"]["message"], "boom (via rust plugin)");
        assert_eq!(out["has_error"], true);
    }

    #[test]
    fn post_hook_leaves_payloads_without_the_edited_member_alone() {
        for response in [json!(null), json!([1]), json!({"chat_response": "text"})] {
            let out = call(
                post_hook_json,
                json!({"context": {}, "response": response, "error": null, "has_error": false}),
            );
            assert_eq!(out["response"], response);
            assert_eq!(out["hook_error"], "");
        }
    }

    #[test]
    fn http_hooks_pass_through_and_record_context() {
        let request = json!({"method": "POST", "path": "/v1/chat/completions", "headers": {"Content-Type": "application/json"}, "query": {}, "body": "e30="});
        let out = call(http_pre_hook_json, json!({"context": {}, "request": request}));
        assert_eq!(out["request"], request);
        assert_eq!(out["context"]["http_pre_hook_seen"], true);
        let out = call(
            http_post_hook_json,
            json!({"context": {}, "request": request, "response": {"status_code": 200, "headers": {}, "body": ""}}),
        );
        assert_eq!(out["context"]["http_post_hook_seen"], true);
        let out = call(
            http_stream_chunk_hook_json,
            json!({"context": {"stream_chunks_seen": 2}, "request": null, "chunk": {"id": "c"}}),
        );
        assert_eq!(out["chunk"], json!({"id": "c"}));
        assert_eq!(out["context"]["stream_chunks_seen"], 3);
    }

    #[test]
    fn malformed_input_gets_an_error_output() {
        for hook in [pre_hook_json, post_hook_json, http_pre_hook_json] {
            let out: Value = serde_json::from_str(&hook("{not json")).unwrap();
            let err = out
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
                + out.get("hook_error").and_then(Value::as_str).unwrap_or_default();
            assert!(err.contains("invalid input"), "{out}");
        }
    }
}
