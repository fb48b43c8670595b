// The host checks both benchmark baselines run (plugins/serde-baseline/tests/host.rs and
// plugins/value-baseline/tests/host.rs include this file after defining `PACKAGE`, the
// plugin's package and name): one copy, so the two baselines are held to the same behaviour.

use bifrost_wasm_host::{Hook, Host, HostConfig, PluginInstance};
use bifrost_wasm_types::bench_inputs::bench_input;
use serde_json::{json, Value};

fn instance() -> PluginInstance {
    let host = Host::new(HostConfig::default().with_cache_dir(None)).expect("host");
    let plugin = host
        .load_file(test_support::plugin_wasm(PACKAGE))
        .expect("load the plugin");
    assert_eq!(plugin.name(), PACKAGE);
    plugin.instantiate(None).expect("instantiate")
}

fn call(instance: &mut PluginInstance, hook: Hook, input: &Value) -> Value {
    let output = instance.call(hook, input.to_string().as_bytes()).expect("call");
    serde_json::from_str(&output).expect("the output is JSON")
}

/// A built-in benchmark input and its hook.
fn bench(name: &str) -> (Hook, Value) {
    let input = bench_input(name).expect("bench input");
    let hook = Hook::from_export_name(input.hook).expect("known hook");
    (hook, serde_json::from_str(input.json).expect("JSON input"))
}

#[test]
fn every_hook_is_exported() {
    let instance = instance();
    for hook in [
        Hook::HttpPreHook,
        Hook::HttpPostHook,
        Hook::HttpStreamChunkHook,
        Hook::PreHook,
        Hook::PostHook,
    ] {
        assert!(instance.plugin().has_hook(hook), "{hook}");
    }
}

#[test]
fn mock_model_is_answered_with_the_mock_response_in_every_request_shape() {
    let mut instance = instance();
    let (hook, input) = bench("pre_hook_mock");
    let mut inputs = vec![input];
    for request in [
        json!({"chat_request": {"provider": "openai", "model": "mock-model", "input": []}}),
        json!({"RequestType": "chat_completion", "ChatRequest": {"provider": "openai", "model": "mock-model", "input": []}}),
    ] {
        inputs.push(json!({"context": {"request_id": "abc-123"}, "request": request}));
    }
    for input in inputs {
        let out = call(&mut instance, hook, &input);
        assert_eq!(out["has_short_circuit"], true, "{input}: {out}");
        let chat = &out["short_circuit"]["response"]["chat_response"];
        assert_eq!(chat["id"], "mock-abc-123", "{out}");
        assert_eq!(chat["model"], "mock-model");
        assert_eq!(
            chat["choices"][0]["message"]["content"],
            "This is a mock response!"
        );
        assert_eq!(chat["usage"]["total_tokens"], 25);
        assert_eq!(out["context"]["plugin_processed"], true);
    }
}

#[test]
fn other_models_pass_through_with_the_context_marked() {
    let mut instance = instance();
    for name in ["pre_hook_225b", "pre_hook_7_9kb"] {
        let (hook, input) = bench(name);
        let out = call(&mut instance, hook, &input);
        assert_eq!(out["request"], input["request"], "{name}");
        assert_ne!(out["has_short_circuit"], true, "{name}");
        assert_eq!(out["context"]["plugin_processed"], true, "{name}");
        assert_eq!(out["context"]["plugin_name"], "hello-world-wasm-rust", "{name}");
        assert_eq!(
            out["context"]["request_id"], input["context"]["request_id"],
            "{name}"
        );
    }
}

#[test]
fn post_hook_rewrites_the_model_and_keeps_the_rest_of_the_response() {
    let mut instance = instance();
    let (hook, input) = bench("post_hook_1kb");
    let out = call(&mut instance, hook, &input);
    let mut expected = input["response"].clone();
    let model = expected["chat_response"]["model"].as_str().unwrap().to_string();
    expected["chat_response"]["model"] = json!(format!("{model} (via rust-wasm)"));
    assert_eq!(out["response"], expected);
    assert_eq!(out["context"]["post_hook_completed"], true);
    assert_ne!(out["has_error"], true);
}

#[test]
fn post_hook_annotates_an_error() {
    let mut instance = instance();
    let input = json!({
        "context": {"request_id": "r"},
        "response": null,
        "error": {"error": {"message": "upstream failed", "type": "server_error"}, "status_code": 502},
        "has_error": true,
    });
    let out = call(&mut instance, Hook::PostHook, &input);
    assert_eq!(out["has_error"], true);
    assert_eq!(
        out["error"]["error"]["message"],
        "upstream failed (via rust plugin)"
    );
    assert_eq!(out["error"]["error"]["type"], "server_error");
    assert_eq!(out["error"]["status_code"], 502);
}

#[test]
fn http_and_stream_hooks_mark_the_context_and_keep_their_payloads() {
    let mut instance = instance();
    let (hook, input) = bench("http_pre_hook_10kb");
    let out = call(&mut instance, hook, &input);
    assert_eq!(out["request"], input["request"]);
    assert_ne!(out["has_response"], true);
    assert_eq!(out["context"]["http_pre_hook_seen"], true);

    let (hook, input) = bench("http_post_hook_1kb");
    let out = call(&mut instance, hook, &input);
    assert_eq!(out["context"]["http_post_hook_seen"], true);

    let (hook, input) = bench("stream_chunk");
    let out = call(&mut instance, hook, &input);
    assert_eq!(out["chunk"], input["chunk"]);
    assert_eq!(out["has_chunk"], true);
    assert_ne!(out["skip"], true);
    let seen = input["context"]["stream_chunks_seen"].as_i64().unwrap();
    assert_eq!(out["context"]["stream_chunks_seen"], seen + 1);
}

#[test]
fn malformed_input_gets_an_error_output_instead_of_a_trap() {
    let mut instance = instance();
    for (hook, member) in [
        (Hook::PreHook, "error"),
        (Hook::PostHook, "hook_error"),
        (Hook::HttpPreHook, "error"),
        (Hook::HttpStreamChunkHook, "error"),
    ] {
        for input in [&b"{not json"[..], b"[1, 2]", b"\xff\xfe"] {
            let output = instance.call(hook, input).expect("no trap");
            let out: Value = serde_json::from_str(&output).expect("JSON output");
            let message = out[member].as_str().unwrap_or_default();
            assert!(message.starts_with("invalid input"), "{hook} {input:?}: {out}");
        }
    }
    // The instance still works.
    let (hook, input) = bench("pre_hook_225b");
    assert_eq!(call(&mut instance, hook, &input)["request"], input["request"]);
}
