//! The guard plugin driven natively through the SDK's harness: each rule, their order, every
//! request shape, and losslessness of the edits.

use bifrost_wasm_sdk::testing::hooks::Pre;
use bifrost_wasm_sdk::testing::Harness;
use bifrost_wasm_sdk::types::shape::{wrap_chat_request, RequestShape};
use guard::Guard;
use serde_json::{json, Value};

const POLICY: &str = r#"{
    "allow_providers": ["openai", "anthropic", "mock"],
    "deny_models": ["*-32k", "anthropic/claude-2*"],
    "aliases": {"fast": "openai/gpt-4o-mini", "smart": "gpt-4o", "legacy": "openai/gpt-4-32k"},
    "max_completion_tokens": 1024,
    "system_prompt": "You are a helpful assistant.",
    "fallbacks": {"gpt-4o*": ["anthropic/claude-3-5-sonnet", "anthropic/claude-2.1", "openai/gpt-4o"]}
}"#;

fn harness(config: &str) -> Harness<Guard> {
    Harness::new(config).unwrap_or_else(|e| panic!("init: {e}"))
}

fn pre(h: &Harness<Guard>, request: Value) -> Value {
    h.pre_hook(&json!({"context": {"request_id": "r1"}, "request": request}))
}

#[test]
fn default_config_changes_nothing() {
    let h = harness("{}");
    let request = r#"{"provider":"openai","model":"gpt-4","input":[{"role":"user","content":"hi"}],"params":{"max_completion_tokens":99999,"x":1.0}}"#;
    let out = h.call_raw::<Pre>(format!(r#"{{"context":{{}},"request":{request}}}"#).as_bytes());
    assert!(out.contains(&format!(r#""request":{request}"#)), "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["context"]["guard"], "allowed");
    assert_eq!(v["context"]["guard_changes"], json!([]));
}

#[test]
fn denied_provider_and_model_get_a_403_bifrost_error() {
    let h = harness(POLICY);
    for (request, reason) in [
        (
            json!({"provider": "groq", "model": "llama3", "input": []}),
            "provider `groq` is not in the allow list",
        ),
        (
            json!({"provider": "openai", "model": "gpt-4-32k", "input": []}),
            "model `gpt-4-32k` is denied by `*-32k`",
        ),
        (
            json!({"provider": "anthropic", "model": "claude-2.1", "input": []}),
            "model `anthropic/claude-2.1` is denied by `anthropic/claude-2*`",
        ),
    ] {
        let out = pre(&h, request);
        assert_eq!(out["has_short_circuit"], true, "{out}");
        let error = &out["short_circuit"]["error"];
        assert_eq!(error["status_code"], 403);
        assert_eq!(error["error"]["type"], "forbidden");
        assert_eq!(error["error"]["code"], "403");
        assert!(
            error["error"]["message"].as_str().unwrap().ends_with(reason),
            "{error}"
        );
        assert_eq!(out["context"]["guard"], "denied");
        assert_eq!(out["context"]["guard_reason"], reason);
    }
}

#[test]
fn alias_is_resolved_before_the_lists_are_checked() {
    let h = harness(POLICY);
    let out = pre(&h, json!({"provider": "openai", "model": "legacy", "input": []}));
    assert_eq!(out["context"]["guard"], "denied");
    assert_eq!(
        out["context"]["guard_changes"],
        json!(["alias legacy -> openai/gpt-4-32k"])
    );
    let out = pre(&h, json!({"provider": "mock", "model": "fast", "input": []}));
    assert_eq!(out["context"]["guard"], "allowed");
    assert_eq!(out["request"]["provider"], "openai");
    assert_eq!(out["request"]["model"], "gpt-4o-mini");
}

#[test]
fn allowed_chat_request_gets_cap_system_prompt_and_fallbacks_in_every_shape() {
    let h = harness(POLICY);
    let flat = r#"{"provider":"openai","model":"smart","input":[{"role":"user","content":"hi","name":null}],"params":{"max_completion_tokens":8192,"temperature":1.0,"seed":123456789012345678901234567890},"fallbacks":[{"provider":"anthropic","model":"claude-3-5-sonnet"}],"x-sentinel":{"keep":null}}"#;
    let expected = r#"{"provider":"openai","model":"gpt-4o","input":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"hi","name":null}],"params":{"max_completion_tokens":1024,"temperature":1.0,"seed":123456789012345678901234567890},"fallbacks":[{"provider":"anthropic","model":"claude-3-5-sonnet"}],"x-sentinel":{"keep":null}}"#;
    for shape in RequestShape::ALL {
        let request = wrap_chat_request(flat, shape, false);
        let out = h.call_raw::<Pre>(format!(r#"{{"context":{{}},"request":{request}}}"#).as_bytes());
        let want = wrap_chat_request(expected, shape, false);
        assert!(out.contains(&format!(r#""request":{want}"#)), "{shape}:\n{out}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v["context"]["guard_changes"],
            json!([
                "alias smart -> openai/gpt-4o",
                "max_completion_tokens 8192 -> 1024",
                "system_prompt"
            ]),
            "{shape}: claude-3-5-sonnet was already there, claude-2.1 is denied, gpt-4o is the model itself"
        );
    }
}

#[test]
fn missing_cap_is_set_and_a_present_system_message_is_kept() {
    let h = harness(POLICY);
    let out = pre(
        &h,
        json!({"provider": "openai", "model": "gpt-4o-mini", "input": [
            {"role": "developer", "content": "Rules."}, {"role": "user", "content": "hi"}
        ]}),
    );
    assert_eq!(out["request"]["params"], json!({"max_completion_tokens": 1024}));
    assert_eq!(out["request"]["input"].as_array().unwrap().len(), 2);
    assert_eq!(
        out["request"]["fallbacks"],
        json!([{"provider": "anthropic", "model": "claude-3-5-sonnet"}, {"provider": "openai", "model": "gpt-4o"}])
    );
    assert_eq!(
        out["context"]["guard_changes"],
        json!(["max_completion_tokens unset -> 1024", "fallbacks +2"])
    );
}

#[test]
fn smaller_token_limits_are_left_alone_and_legacy_max_tokens_is_capped() {
    let h = harness(r#"{"max_completion_tokens": 100}"#);
    let out = pre(
        &h,
        json!({"provider": "openai", "model": "m", "input": [], "params": {"max_completion_tokens": 50, "max_tokens": 500}}),
    );
    assert_eq!(
        out["request"]["params"],
        json!({"max_completion_tokens": 50, "max_tokens": 100})
    );
}

#[test]
fn non_chat_requests_are_checked_and_aliased_but_not_given_chat_edits() {
    let h = harness(POLICY);
    let out = pre(
        &h,
        json!({"RequestType": "embedding", "ChatRequest": null, "EmbeddingRequest": {"provider": "openai", "model": "fast", "input": "hi"}}),
    );
    assert_eq!(out["context"]["guard"], "allowed");
    let inner = &out["request"]["EmbeddingRequest"];
    assert_eq!(inner["model"], "gpt-4o-mini");
    assert!(inner.get("params").is_none());
    assert!(inner.get("fallbacks").is_some(), "fallbacks apply to every kind");
    let out = pre(
        &h,
        json!({"RequestType": "embedding", "EmbeddingRequest": {"provider": "cohere", "model": "embed", "input": "hi"}}),
    );
    assert_eq!(out["context"]["guard"], "denied");
}

#[test]
fn bad_configs_are_refused_with_the_key_named() {
    for (config, needle) in [
        (
            r#"{"fallbacks": {"gpt-4o": ["claude"]}}"#,
            "fallbacks.gpt-4o: `claude` must be `provider/model`",
        ),
        (r#"{"aliases": {"x": ""}}"#, "aliases.x"),
        (
            r#"{"max_completion_tokens": 0}"#,
            "max_completion_tokens must be at least 1",
        ),
        (r#"{"system_prompt": "  "}"#, "system_prompt must not be empty"),
        (r#"{"deny": ["x"]}"#, "unknown field `deny`"),
    ] {
        let err = Harness::<Guard>::new(config).err().expect(config);
        assert!(err.contains(needle), "{config}: {err}");
    }
}
