//! The seed's JSON examples, used literally as inputs, through the same code the wasm
//! exports run (natively, via `bifrost_wasm_sdk::testing::Harness`).

use bifrost_wasm_sdk::testing::Harness;
use hello_world::HelloWorld;
use serde_json::{json, Value};

fn plugin(config: &str) -> Harness<HelloWorld> {
    Harness::new(config).expect("init")
}

fn seed_http_input() -> Value {
    json!({
      "context": { "request_id": "abc-123" },
      "request": {
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": { "Content-Type": "application/json" },
        "query": {},
        "body": "<base64-encoded>"
      }
    })
}

fn seed_pre_input() -> Value {
    json!({
      "context": { "request_id": "abc-123" },
      "request": {
        "provider": "openai",
        "model": "gpt-4",
        "input": [{ "role": "user", "content": "Hello" }],
        "params": { "temperature": 0.7 }
      }
    })
}

fn seed_post_input() -> Value {
    json!({
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
    })
}

#[test]
fn seed_config_with_custom_option_is_accepted() {
    plugin(r#"{"custom_option": "value"}"#);
}

#[test]
fn empty_null_and_empty_object_configs_mean_defaults() {
    for config in ["", "null", "{}", "  { }  "] {
        let h = plugin(config);
        let out = h.pre_hook(&json!({"context": {}, "request": {"model": "mock-model", "input": []}}));
        assert_eq!(out["has_short_circuit"], true, "config {config:?}");
    }
}

#[test]
fn invalid_config_fails_init_with_a_reason() {
    let err = Harness::<HelloWorld>::new(r#"{"mock": "yes"}"#).err().unwrap();
    assert!(
        err.contains("invalid config") && err.contains("expected a boolean"),
        "{err}"
    );
    let err = Harness::<HelloWorld>::new(r#"{"rate_limit": {"budget": 1, "key_from": ""}}"#)
        .err()
        .unwrap();
    assert!(err.contains("key_from"), "{err}");
}

#[test]
fn http_intercept_passes_seed_request_through_and_marks_context() {
    let out = plugin("{}").http_pre_hook(&seed_http_input());
    assert_eq!(out["request"], seed_http_input()["request"]);
    assert_eq!(out["context"]["request_id"], "abc-123");
    assert_eq!(out["context"]["http_pre_hook_seen"], true);
    assert_eq!(out["has_response"], false);
    assert_eq!(out["error"], "");
}

#[test]
fn pre_hook_marks_context_and_passes_seed_request_through() {
    let out = plugin("{}").pre_hook(&seed_pre_input());
    assert_eq!(out["context"]["plugin_processed"], true);
    assert_eq!(out["context"]["plugin_name"], "hello-world-wasm-rust");
    assert_eq!(out["context"]["request_id"], "abc-123");
    assert_eq!(out["request"], seed_pre_input()["request"]);
    assert_eq!(out["has_short_circuit"], false);
    assert_eq!(out["error"], "");
}

#[test]
fn pre_hook_answers_mock_model_with_seed_mock_response() {
    let mut input = seed_pre_input();
    input["request"]["model"] = json!("mock-model");
    let out = plugin("{}").pre_hook(&input);
    assert_eq!(out["has_short_circuit"], true);
    assert_eq!(out["request"], Value::Null);
    let chat = &out["short_circuit"]["response"]["chat_response"];
    assert_eq!(chat["id"], "mock-abc-123");
    assert_eq!(chat["model"], "mock-model");
    assert_eq!(chat["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        chat["choices"][0]["message"]["content"],
        "This is a mock response!"
    );
    assert_eq!(chat["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        chat["usage"],
        json!({"prompt_tokens": 10, "completion_tokens": 15, "total_tokens": 25})
    );
}

#[test]
fn mock_short_circuit_uses_go_keys_for_go_envelope_requests() {
    let input = json!({
        "context": {"request-id": "go-7"},
        "request": {"RequestType": "chat_completion", "TextCompletionRequest": null,
                    "ChatRequest": {"provider": "openai", "model": "mock-model", "input": []}}
    });
    let out = plugin("{}").pre_hook(&input);
    assert_eq!(
        out["short_circuit"]["Response"]["ChatResponse"]["id"],
        "mock-go-7"
    );
    assert_eq!(out["short_circuit"]["Error"], Value::Null);
}

#[test]
fn mock_can_be_switched_off_or_moved_to_another_model() {
    let mut input = seed_pre_input();
    input["request"]["model"] = json!("mock-model");
    assert_eq!(
        plugin(r#"{"mock": false}"#).pre_hook(&input)["has_short_circuit"],
        false
    );
    input["request"]["model"] = json!("fake-1");
    let out = plugin(r#"{"mock_model": "fake-1"}"#).pre_hook(&input);
    assert_eq!(
        out["short_circuit"]["response"]["chat_response"]["model"],
        "fake-1"
    );
}

#[test]
fn rate_limiter_allows_budget_per_key_then_answers_seed_error() {
    let h = plugin(r#"{"rate_limit": {"budget": 2}}"#);
    let with_key = |vk: &str| {
        let mut input = seed_pre_input();
        input["context"]["x-bf-vk"] = json!(vk);
        input
    };
    for remaining in [1, 0] {
        let out = h.pre_hook(&with_key("team-a"));
        assert_eq!(out["has_short_circuit"], false);
        assert_eq!(out["context"]["rate_limit_remaining"], remaining);
    }
    let out = h.pre_hook(&with_key("team-a"));
    assert_eq!(out["has_short_circuit"], true);
    assert_eq!(
        out["short_circuit"]["error"],
        json!({"error": {"message": "Rate limit exceeded", "type": "rate_limit", "code": "429"}, "status_code": 429})
    );
    // Another key has its own budget.
    assert_eq!(h.pre_hook(&with_key("team-b"))["has_short_circuit"], false);
}

#[test]
fn rate_limiter_reads_a_configurable_context_key_and_defaults_missing_keys() {
    let h = plugin(r#"{"rate_limit": {"budget": 1, "key_from": "user"}}"#);
    let mut input = seed_pre_input();
    input["context"]["user"] = json!("u1");
    assert_eq!(h.pre_hook(&input)["has_short_circuit"], false);
    assert_eq!(h.pre_hook(&input)["has_short_circuit"], true);
    // No key in the context: the anonymous bucket, separate from u1.
    let anon = seed_pre_input();
    assert_eq!(h.pre_hook(&anon)["has_short_circuit"], false);
    assert_eq!(h.pre_hook(&anon)["has_short_circuit"], true);
}

#[test]
fn rate_limiter_bounds_tracked_keys_with_a_shared_overflow_budget() {
    let h = plugin(r#"{"rate_limit": {"budget": 1, "max_keys": 2, "key_from": "k"}}"#);
    let call = |k: &str| {
        let mut input = seed_pre_input();
        input["context"]["k"] = json!(k);
        h.pre_hook(&input)["has_short_circuit"].as_bool().unwrap()
    };
    assert!(!call("a"));
    assert!(!call("b"));
    assert!(!call("c")); // overflow bucket's one request
    assert!(call("d")); // overflow bucket spent
}

#[test]
fn post_hook_appends_via_rust_wasm_to_model_and_marks_context() {
    let out = plugin("{}").post_hook(&seed_post_input());
    assert_eq!(out["context"]["post_hook_completed"], true);
    assert_eq!(out["context"]["plugin_processed"], true);
    assert_eq!(out["response"]["chat_response"]["model"], "gpt-4 (via rust-wasm)");
    let mut expected = seed_post_input()["response"].clone();
    expected["chat_response"]["model"] = json!("gpt-4 (via rust-wasm)");
    assert_eq!(out["response"], expected);
    assert_eq!(out["has_error"], false);
    assert_eq!(out["error"], json!({}));
    assert_eq!(out["hook_error"], "");
}

#[test]
fn post_hook_appends_via_rust_plugin_to_error_message() {
    let mut input = seed_post_input();
    input["response"] = Value::Null;
    input["error"] = json!({"error": {"message": "upstream failed", "type": "server_error"}, "status_code": 502, "is_bifrost_error": false});
    input["has_error"] = json!(true);
    let out = plugin("{}").post_hook(&input);
    assert_eq!(out["has_error"], true);
    assert_eq!(
        out["error"],
        json!({"error": {"message": "upstream failed (via rust plugin)", "type": "server_error"}, "status_code": 502, "is_bifrost_error": false})
    );
}

#[test]
fn post_hook_rewrites_can_be_switched_off() {
    let h = plugin(r#"{"rewrite_model": false, "annotate_errors": false, "mark_context": false}"#);
    let out = h.post_hook(&seed_post_input());
    assert_eq!(out["response"], seed_post_input()["response"]);
    assert_eq!(out["context"], seed_post_input()["context"]);
}

#[test]
fn post_hook_rewrites_go_envelope_responses_in_place() {
    let input = json!({
        "context": {},
        "response": {"ChatResponse": {"id": "x", "model": "gpt-4", "choices": [], "usage": null, "extra_fields": {"latency": 12}},
                     "TextCompletionResponse": null},
        "error": null, "has_error": false
    });
    let out = plugin("{}").post_hook(&input);
    assert_eq!(out["response"]["ChatResponse"]["model"], "gpt-4 (via rust-wasm)");
    assert_eq!(
        out["response"]["ChatResponse"]["extra_fields"],
        json!({"latency": 12})
    );
    assert_eq!(out["response"]["TextCompletionResponse"], Value::Null);
}

#[test]
fn http_post_and_stream_chunk_hooks_pass_through_and_record_context() {
    let h = plugin("{}");
    let post = json!({"context": {"request_id": "r"}, "request": seed_http_input()["request"], "response": {"status_code": 200, "headers": {}, "body": ""}});
    let out = h.http_post_hook(&post);
    assert_eq!(
        out,
        json!({"context": {"request_id": "r", "http_post_hook_seen": true}, "error": ""})
    );
    let chunk = json!({"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "Hel"}}]});
    let mut input = json!({"context": {}, "request": null, "chunk": chunk});
    for n in 1..=3 {
        let out = h.http_stream_chunk_hook(&input);
        assert_eq!(out["chunk"], chunk);
        assert_eq!(out["has_chunk"], true);
        assert_eq!(out["skip"], false);
        assert_eq!(out["context"]["stream_chunks_seen"], n);
        input["context"] = out["context"].clone();
    }
}

#[test]
fn cleanup_returns_zero() {
    assert_eq!(plugin("{}").cleanup(), 0);
}
