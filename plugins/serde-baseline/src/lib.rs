//! The benchmark baseline: hello-world's default behaviours written the way the upstream
//! Rust example writes a plugin, with no SDK.
//!
//! Every hook parses its whole input into typed serde structs ([`types`], payloads it does
//! not inspect as `serde_json::Value`), edits them, and serializes a typed output; the memory
//! ABI is hand-written ([`memory`]). `bifrost-wasm bench hello_world.wasm --against
//! serde_baseline.wasm` measures the SDK against it.
//!
//! Behaviours (hello-world's defaults): `http_pre_hook`/`http_intercept` records
//! `http_pre_hook_seen`; `pre_hook` records `plugin_processed`/`plugin_name` and answers
//! model `mock-model` with the seed's mock response; `post_hook` records
//! `post_hook_completed` and appends ` (via rust plugin)` to an error message or
//! ` (via rust-wasm)` to a chat response's model (through the typed response, so fields the
//! types do not declare are dropped, as upstream); `http_post_hook` records
//! `http_post_hook_seen`; `http_stream_chunk_hook` counts `stream_chunks_seen`.
//! Unlike upstream, a malformed input gets an error output instead of a trap.

pub mod memory;
pub mod types;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use types::*;

/// The name `get_name` returns.
pub const NAME: &str = "serde-baseline";

fn parse<T: DeserializeOwned>(input: &str) -> Result<T, String> {
    serde_json::from_str(input).map_err(|e| format!("invalid input: {e}"))
}

fn to_json<T: Serialize>(output: &T) -> String {
    serde_json::to_string(output).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// The seed's mock answer.
pub fn mock_response(request_id: &str) -> BifrostResponse {
    BifrostResponse {
        chat_response: Some(BifrostChatResponse {
            id: format!("mock-{request_id}"),
            model: "mock-model".to_string(),
            choices: vec![ResponseChoice {
                index: 0,
                message: Some(ChatMessage {
                    role: "assistant".to_string(),
                    content: Some(Value::String("This is a mock response!".to_string())),
                    ..Default::default()
                }),
                finish_reason: Some("stop".to_string()),
                ..Default::default()
            }],
            usage: Some(LLMUsage {
                prompt_tokens: 10,
                completion_tokens: 15,
                total_tokens: 25,
            }),
            ..Default::default()
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
    input.context.set_value("plugin_name", "hello-world-wasm-rust");
    let (_provider, model) = input.get_provider_model();
    if model == "mock-model" {
        let id = input
            .context
            .get_string("request_id")
            .unwrap_or_default()
            .to_string();
        return to_json(&PreHookOutput {
            context: input.context,
            short_circuit: Some(LLMPluginShortCircuit {
                response: Some(mock_response(&id)),
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
    let mut output = PostHookOutput {
        context: input.context.clone(),
        response: Some(input.response.clone()),
        error: Some(input.error.clone()),
        has_error: input.has_error,
        hook_error: String::new(),
    };
    if input.has_error {
        if let Some(mut error) = input.parse_error() {
            error.error.message = format!("{} (via rust plugin)", error.error.message);
            output.error = serde_json::to_value(&error).ok();
        }
        return to_json(&output);
    }
    if let Some(mut response) = input.parse_response() {
        if let Some(chat) = &mut response.chat_response {
            chat.model = format!("{} (via rust-wasm)", chat.model);
        }
        output.response = serde_json::to_value(&response).ok();
    }
    to_json(&output)
}

fn run(ptr: u32, len: u32, hook: fn(&str) -> String) -> u64 {
    // SAFETY: the host wrote `len` bytes at `ptr` (from `malloc`).
    let input = unsafe { memory::read_string(ptr, len) };
    memory::write_string(&hook(&input))
}

/// Allocates memory for the host.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn malloc(size: u32) -> u32 {
    memory::allocate(size)
}

/// Frees memory the host got from `malloc` or a hook.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn free(ptr: u32, size: u32) {
    // SAFETY: the host frees only buffers this module handed out, once each.
    unsafe { memory::deallocate(ptr, size) }
}

/// Packed name of the plugin.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn get_name() -> u64 {
    memory::write_string(NAME)
}

/// Accepts any JSON config (or none).
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn init(ptr: u32, len: u32) -> i32 {
    // SAFETY: as in `run`.
    let config = unsafe { memory::read_string(ptr, len) };
    if config.trim().is_empty() || serde_json::from_str::<Value>(&config).is_ok() {
        0
    } else {
        1
    }
}

/// HTTP pre-hook (generation 2 name).
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn http_intercept(ptr: u32, len: u32) -> u64 {
    run(ptr, len, http_pre_hook_json)
}

/// HTTP pre-hook.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn http_pre_hook(ptr: u32, len: u32) -> u64 {
    run(ptr, len, http_pre_hook_json)
}

/// HTTP post-hook.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn http_post_hook(ptr: u32, len: u32) -> u64 {
    run(ptr, len, http_post_hook_json)
}

/// Stream chunk hook.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn http_stream_chunk_hook(ptr: u32, len: u32) -> u64 {
    run(ptr, len, http_stream_chunk_hook_json)
}

/// LLM pre-hook.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn pre_hook(ptr: u32, len: u32) -> u64 {
    run(ptr, len, pre_hook_json)
}

/// LLM post-hook.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn post_hook(ptr: u32, len: u32) -> u64 {
    run(ptr, len, post_hook_json)
}

/// Nothing to release.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn cleanup() -> i32 {
    0
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
        }
    }

    #[test]
    fn post_hook_rewrites_model_or_annotates_error() {
        let out = call(
            post_hook_json,
            json!({"context": {}, "response": {"chat_response": {"id": "x", "model": "gpt-4", "choices": []}}, "error": {}, "has_error": false}),
        );
        assert_eq!(out["response"]["chat_response"]["model"], "gpt-4 (via rust-wasm)");
        assert_eq!(out["context"]["post_hook_completed"], true);
        let out = call(
            post_hook_json,
            json!({"context": {}, "response": null, "error": {"error": {"message": "boom"}}, "has_error": true}),
        );
        assert_eq!(out["error"]["error"]["message"], "boom (via rust plugin)");
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
