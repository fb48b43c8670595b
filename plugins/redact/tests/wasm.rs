//! The built `redact.wasm` through the real ABI, loaded by the workspace's host: exports and
//! imports, each hook, state kept between stream chunks in one instance, and the plugin in a
//! chain that runs hooks the way Bifrost orders them for a streamed response.

use std::sync::Arc;

use bifrost_wasm_chain::FailurePolicy;
use bifrost_wasm_chain::{Chain, ChainPlugin, ChunkOutcome, LlmResult, RequestRun};
use bifrost_wasm_host::{Hook, Host, HostConfig, LoadedPlugin, SharedInstance};
use bifrost_wasm_sdk::types::raw::RawJson;
use bifrost_wasm_sdk::types::shape::RequestShape;
use serde_json::{json, Value};

fn plugin() -> LoadedPlugin {
    let host = Host::new(HostConfig::default().with_pooling(false)).expect("host");
    host.load_file(test_support::plugin_wasm("redact"))
        .expect("load redact.wasm")
}

fn call(instance: &mut bifrost_wasm_host::PluginInstance, hook: Hook, input: &Value) -> Value {
    let out = instance
        .call(hook, input.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{hook}: {e}"));
    serde_json::from_str(&out).expect("output is JSON")
}

#[test]
fn loads_with_no_imports_and_exports_every_hook() {
    let plugin = plugin();
    assert_eq!(plugin.name(), "redact");
    assert!(plugin.info().imports.is_empty(), "{:?}", plugin.info().imports);
    for hook in Hook::ALL {
        assert!(plugin.has_hook(hook), "{hook}");
    }
}

#[test]
fn bad_config_fails_init_with_the_reason() {
    let err = plugin()
        .instantiate(Some(r#"{"categories": ["mail"]}"#))
        .expect_err("unknown category");
    assert!(err.to_string().contains("unknown variant `mail`"), "{err}");
}

#[test]
fn placeholders_from_the_config_replace_the_defaults_through_the_abi() {
    let mut instance = plugin()
        .instantiate(Some(r#"{"placeholders": {"email": "<mail>"}}"#))
        .expect("a map keyed by category is a valid config");
    let out = call(
        &mut instance,
        Hook::PreHook,
        &json!({"context": {"request_id": "r"}, "request": {"RequestType": "chat_completion", "ChatRequest": {
            "provider": "openai", "model": "gpt-4o",
            "input": [{"role": "user", "content": "mail ada@example.com"}]}}}),
    );
    assert_eq!(
        out["request"]["ChatRequest"]["input"][0]["content"],
        "mail <mail>"
    );
}

#[test]
fn request_and_response_are_redacted_through_the_abi() {
    let mut instance = plugin().instantiate(None).unwrap();
    let out = call(
        &mut instance,
        Hook::PreHook,
        &json!({"context": {"request_id": "r"}, "request": {"RequestType": "chat_completion", "ChatRequest": {
            "provider": "openai", "model": "gpt-4o",
            "input": [{"role": "user", "content": "card 4111-1111-1111-1111, key AKIAIOSFODNN7EXAMPLE"}]}}}),
    );
    assert_eq!(
        out["request"]["ChatRequest"]["input"][0]["content"],
        "card [CARD], key [SECRET]"
    );
    assert_eq!(out["context"]["redactions"]["card"], 1);
    let out = call(
        &mut instance,
        Hook::PostHook,
        &json!({"context": out["context"], "response": {"chat_response": {"id": "c", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "write to ann@corp.example.org"}}]}},
            "error": {}, "has_error": false}),
    );
    assert_eq!(
        out["response"]["chat_response"]["choices"][0]["message"]["content"],
        "write to [EMAIL]"
    );
    assert_eq!(out["context"]["redactions"]["total"], 3);
}

#[test]
fn split_secret_is_held_in_the_instance_between_chunk_calls() {
    let mut instance = plugin().instantiate(None).unwrap();
    let mut received = String::new();
    let pieces = [
        Some("token ghp_0123456789abcd"),
        Some("efghijklmnopqrstuvwxyz done"),
        None,
    ];
    for (i, piece) in pieces.iter().enumerate() {
        let finish = (i == pieces.len() - 1).then_some("stop");
        let delta = piece.map_or(json!({}), |p| json!({"content": p}));
        let out = call(
            &mut instance,
            Hook::HttpStreamChunkHook,
            &json!({"context": {"request-id": "go-style-id"}, "request": {},
                    "chunk": {"id": "x", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}}),
        );
        received.push_str(
            out["chunk"]["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap_or(""),
        );
    }
    assert_eq!(received, "token [SECRET] done");
}

fn chunk(content: Option<&str>, finish: Option<&str>) -> RawJson {
    let delta = content.map_or(json!({}), |c| json!({"content": c}));
    let v = json!({"id": "chatcmpl-9", "object": "chat.completion.chunk", "model": "m",
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    RawJson::from_string(v.to_string()).unwrap()
}

#[test]
fn in_a_chain_a_streamed_answer_is_redacted_once_with_post_hook_leaving_chunks_alone() {
    let plugin = plugin();
    let runner = Arc::new(SharedInstance::new(&plugin, Some(r#"{"requests": false}"#)).unwrap());
    let chain = Arc::new(Chain::new(
        vec![ChainPlugin::new("redact", FailurePolicy::FailClosed, runner)],
        RequestShape::GoEnvelope,
    ));
    let mut run = RequestRun::new(chain, "req-1");
    let http = RawJson::from_string(
        json!({"method": "POST", "path": "/v1/chat/completions", "headers": {}, "query": {}, "body": ""})
            .to_string(),
    )
    .unwrap();
    run.http_pre_hook(http);
    let mut received = String::new();
    let pieces = [
        Some("Reach me at jane"),
        Some(".doe@exam"),
        Some("ple.com or +44 20"),
        Some(" 7946 0958"),
        None,
    ];
    for (i, piece) in pieces.iter().enumerate() {
        let finish = (i == pieces.len() - 1).then_some("stop");
        let c = chunk(*piece, finish);
        // Bifrost runs post_hook on every chunk (wrapped as a response), then the chunk hook.
        let wrapped = RawJson::from_string(format!(r#"{{"ChatResponse":{}}}"#, c.as_str())).unwrap();
        match run.post_hook(LlmResult::Response(wrapped.clone())) {
            LlmResult::Response(r) => assert_eq!(r, wrapped, "post_hook must leave chunks to the chunk hook"),
            LlmResult::Error(e) => panic!("post_hook error: {e}"),
        }
        match run.stream_chunk(c) {
            ChunkOutcome::Send(sent) => {
                let v: Value = serde_json::from_str(sent.as_str()).unwrap();
                received.push_str(v["choices"][0]["delta"]["content"].as_str().unwrap_or(""));
            }
            other => panic!("chunk {i}: {other:?}"),
        }
    }
    assert_eq!(received, "Reach me at [EMAIL] or [PHONE]");
    let counts: Value = serde_json::from_str(run.context().get("redactions").unwrap().as_str()).unwrap();
    assert_eq!(counts["email"], 1);
    assert_eq!(counts["phone"], 1);
}

#[test]
fn malformed_inputs_get_an_error_output_and_the_instance_keeps_working() {
    let mut instance = plugin().instantiate(None).unwrap();
    for input in [
        &b""[..],
        b"not json",
        b"{\"context\":5}",
        b"{\"context\":{},\"request\":[1]}",
    ] {
        let out: Value = serde_json::from_str(&instance.call(Hook::PreHook, input).unwrap()).unwrap();
        assert!(!out["error"].as_str().unwrap_or_default().is_empty(), "{out}");
    }
    let out = call(
        &mut instance,
        Hook::PreHook,
        &json!({"context": {}, "request": {"model": "m", "input": [{"role": "user", "content": "x@y.io"}]}}),
    );
    assert_eq!(out["request"]["input"][0]["content"], "[EMAIL]");
}
