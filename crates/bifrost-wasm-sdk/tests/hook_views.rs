//! The hook views through the same code the wasm exports run (`testing::Harness`): the seed's
//! post_hook input, null payloads, byte-for-byte pass-through, and short circuits written in
//! the shape of the request they answer.

use std::cell::RefCell;

use bifrost_wasm_sdk::prelude::*;
use bifrost_wasm_sdk::testing::{hooks, Harness};

/// What the probe plugin saw in its last `post_hook`.
#[derive(Debug, Default, Clone, PartialEq)]
struct Seen {
    is_error: bool,
    total_tokens: Option<u64>,
    error_message: Option<String>,
}

thread_local! {
    static SEEN: RefCell<Seen> = RefCell::new(Seen::default());
}

/// Records what `post_hook` reads; answers `mock-model` in `pre_hook`.
struct Probe;

impl Plugin for Probe {
    const NAME: &'static str = "probe";
    type Config = Value;

    fn new(_: Value) -> HookResult<Self> {
        Ok(Probe)
    }

    fn pre_hook(&mut self, input: PreHookInput) -> HookResult<PreHookOutput> {
        if input.request.model().as_deref() == Some("mock-model") {
            let response = BifrostChatResponse {
                id: "mocked".into(),
                ..Default::default()
            };
            return Ok(input.short_circuit_response(&response));
        }
        Ok(input.pass_through())
    }

    fn post_hook(&mut self, input: PostHookInput) -> HookResult<PostHookOutput> {
        let seen = Seen {
            is_error: input.result.is_error(),
            total_tokens: input
                .parse_response()
                .and_then(|r| r.chat_response)
                .and_then(|c| c.usage)
                .map(|u| u.total_tokens as u64),
            error_message: input.error_message(),
        };
        SEEN.with(|s| *s.borrow_mut() = seen);
        Ok(input.pass_through())
    }
}

fn harness() -> Harness<Probe> {
    Harness::new("{}").unwrap()
}

#[test]
fn seed_post_hook_input_with_an_empty_error_object_reads_as_a_response() {
    let out = harness().post_hook(&json!({
        "context": { "request_id": "abc-123", "plugin_processed": true },
        "response": {
            "chat_response": {
                "id": "chatcmpl-123",
                "model": "gpt-4",
                "choices": [{ "index": 0, "message": { "role": "assistant", "content": "Hi!" } }],
                "usage": { "prompt_tokens": 5, "completion_tokens": 10, "total_tokens": 15 }
            }
        },
        "error": {},
        "has_error": false
    }));
    assert_eq!(out["hook_error"], "");
    let seen = SEEN.with(|s| s.borrow().clone());
    assert_eq!(
        seen,
        Seen {
            is_error: false,
            total_tokens: Some(15),
            error_message: None
        }
    );
}

#[test]
fn post_hook_with_has_error_reads_as_an_error() {
    harness().post_hook(&json!({
        "context": {},
        "response": null,
        "error": { "error": { "message": "upstream failed" } },
        "has_error": true
    }));
    let seen = SEEN.with(|s| s.borrow().clone());
    assert!(seen.is_error);
    assert_eq!(seen.error_message.as_deref(), Some("upstream failed"));
}

#[test]
fn null_context_reads_as_empty_and_a_null_request_is_an_error_naming_it() {
    let h = harness();
    let out = h.pre_hook(&json!({ "context": null, "request": {"model": "m"} }));
    assert_eq!(
        (out["error"].as_str(), out["has_short_circuit"].as_bool()),
        (Some(""), Some(false))
    );
    assert_eq!(out["request"], json!({"model": "m"}));
    let out = h.pre_hook(&json!({ "context": {"request_id": "r"}, "request": null }));
    assert_eq!(
        out["error"],
        "pre_hook `request` must be a JSON object, found null"
    );
    assert_eq!(
        out["context"],
        json!({"request_id": "r"}),
        "the context is echoed with the error"
    );
}

#[test]
fn pass_through_echoes_payload_bytes_untouched() {
    let text = r#"{"context":{"request_id":"r"},"request":{"model":"m","n":123456789012345678901234567890,"x":1.0}}"#;
    let out = harness().call_raw::<hooks::Pre>(text.as_bytes());
    assert!(
        out.contains(r#""request":{"model":"m","n":123456789012345678901234567890,"x":1.0}"#),
        "{out}"
    );
    assert!(out.contains(r#""context":{"request_id":"r"}"#), "{out}");
}

#[test]
fn short_circuit_is_written_in_the_shape_of_the_request() {
    let h = harness();
    let go = h.pre_hook(&json!({
        "context": {},
        "request": {"RequestType": "chat_completion", "ChatRequest": {"provider": "openai", "model": "mock-model", "input": []}}
    }));
    assert_eq!(go["short_circuit"]["Response"]["ChatResponse"]["id"], "mocked");
    let flat = h.pre_hook(&json!({"context": {}, "request": {"model": "mock-model", "input": []}}));
    assert_eq!(flat["short_circuit"]["response"]["chat_response"]["id"], "mocked");
    assert_eq!(flat["has_short_circuit"], true);
    let snake = h.pre_hook(&json!({"context": {}, "request": {"chat_request": {"model": "mock-model"}}}));
    assert_eq!(
        snake["short_circuit"]["response"]["chat_response"]["id"],
        "mocked"
    );
}
