//! The workspace's hello-world plugin (the seed's), built from source.

use bifrost_wasm_host::{AbiGeneration, AllocatorVariant, Hook};
use serde_json::{json, Value};

fn context_of(output: &str) -> serde_json::Map<String, Value> {
    let value: Value = serde_json::from_str(output).unwrap();
    value["context"].as_object().cloned().unwrap_or_default()
}

#[test]
fn hello_world_loads_with_no_imports_and_answers_every_hook() {
    let path = test_support::plugin_wasm("hello-world");
    let plugin = crate::small_host().load_file(&path).unwrap();
    let info = plugin.info();
    assert!(info.imports.is_empty(), "imports: {:?}", info.imports);
    assert!(!info.wasi);
    assert_eq!(info.allocator, AllocatorVariant::MallocFreeWithSize);
    assert_eq!(info.abi_generation, AbiGeneration::Gen3HttpPreHook);
    for hook in Hook::ALL {
        assert!(plugin.has_hook(hook), "hello-world implements {hook}");
    }
    assert!(info.has_init && info.has_cleanup && info.has_last_error);

    let mut instance = plugin.instantiate(Some(r#"{"custom_option":"value"}"#)).unwrap();
    let http = json!({
        "context": {"request_id": "abc-123"},
        "request": {"method": "POST", "path": "/v1/chat/completions",
                    "headers": {"Content-Type": "application/json"}, "query": {}, "body": ""}
    });
    let pre = json!({
        "context": {"request_id": "abc-123"},
        "request": {"provider": "openai", "model": "gpt-4",
                    "input": [{"role": "user", "content": "Hello"}], "params": {"temperature": 0.7}}
    });
    let post = json!({
        "context": {"request_id": "abc-123", "plugin_processed": true},
        "response": {"chat_response": {"id": "chatcmpl-123", "model": "gpt-4",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi!"}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 10, "total_tokens": 15}}},
        "error": {}, "has_error": false
    });
    let http_post = json!({
        "context": {"request_id": "abc-123"},
        "request": http["request"].clone(),
        "response": {"status_code": 200, "headers": {}, "body": ""}
    });
    let chunk = json!({
        "context": {"request_id": "abc-123"},
        "request": http["request"].clone(),
        "chunk": {"id": "c1", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}
    });
    for (hook, input) in [
        (Hook::HttpPreHook, &http),
        (Hook::PreHook, &pre),
        (Hook::PostHook, &post),
        (Hook::HttpPostHook, &http_post),
        (Hook::HttpStreamChunkHook, &chunk),
    ] {
        let output = instance.call(hook, input.to_string().as_bytes()).unwrap();
        let context = context_of(&output);
        assert_eq!(
            context.get("request_id"),
            Some(&json!("abc-123")),
            "{hook}: {output}"
        );
    }
    let pre_output = instance.call(Hook::PreHook, pre.to_string().as_bytes()).unwrap();
    assert_eq!(
        context_of(&pre_output).get("plugin_processed"),
        Some(&json!(true))
    );
    assert_eq!(instance.cleanup().unwrap(), Some(0));
}

#[test]
fn hello_world_answers_bad_input_without_trapping() {
    let path = test_support::plugin_wasm("hello-world");
    let plugin = crate::small_host().load_file(&path).unwrap();
    let mut instance = plugin.instantiate(None).unwrap();
    for input in [
        &b""[..],
        b"null",
        b"not json",
        b"\xff\xfe",
        b"[1,2,3]",
        b"{\"context\":null}",
    ] {
        for hook in Hook::ALL {
            instance
                .call(hook, input)
                .unwrap_or_else(|e| panic!("{hook} on {input:?}: {e}"));
        }
    }
    assert_eq!(instance.replacements(), 0);
}

#[test]
fn typed_calls_use_the_shared_codec() {
    use bifrost_wasm_types::codec::{post_hook, pre_hook};

    let path = test_support::plugin_wasm("hello-world");
    let plugin = crate::small_host().load_file(&path).unwrap();
    let mut instance = plugin.instantiate(None).unwrap();
    let input = pre_hook::Input {
        context: Some(r#"{"request_id":"abc-123"}"#),
        request: Some(r#"{"provider":"openai","model":"gpt-4","input":[{"role":"user","content":"Hello"}]}"#),
    };
    let output = instance
        .pre_hook(&input)
        .unwrap()
        .expect("hello-world has pre_hook");
    let envelope = output.envelope();
    let read = pre_hook::Output::read(&envelope).unwrap();
    let context: Value = serde_json::from_str(read.context.unwrap()).unwrap();
    assert_eq!(context["plugin_processed"], json!(true));
    assert_eq!(context["request_id"], json!("abc-123"));

    let post = post_hook::Input {
        context: Some(r#"{"request_id":"abc-123"}"#),
        response: Some(r#"{"chat_response":{"id":"c","model":"gpt-4","choices":[]}}"#),
        error: Some("{}"),
        has_error: false,
    };
    let output = instance
        .post_hook(&post)
        .unwrap()
        .expect("hello-world has post_hook");
    let envelope = output.envelope();
    let read = post_hook::Output::read(&envelope).unwrap();
    let context: Value = serde_json::from_str(read.context.unwrap()).unwrap();
    assert_eq!(context["post_hook_completed"], json!(true));
}
