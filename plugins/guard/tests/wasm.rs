//! The built `guard.wasm` through the real ABI (the workspace's host) and in a chain.

use std::sync::Arc;

use bifrost_wasm_chain::FailurePolicy;
use bifrost_wasm_chain::{Chain, ChainPlugin, LlmResult, PreOutcome, RequestRun};
use bifrost_wasm_host::{Hook, Host, HostConfig, LoadedPlugin, SharedInstance};
use bifrost_wasm_sdk::types::raw::RawJson;
use bifrost_wasm_sdk::types::shape::{wrap_chat_request, RequestShape};
use serde_json::{json, Value};

const POLICY: &str = r#"{"deny_models": ["gpt-3.5*"], "aliases": {"fast": "openai/gpt-4o-mini"},
    "max_completion_tokens": 256, "system_prompt": "Be brief."}"#;

fn plugin() -> LoadedPlugin {
    let host = Host::new(HostConfig::default().with_pooling(false)).expect("host");
    host.load_file(test_support::plugin_wasm("guard"))
        .expect("load guard.wasm")
}

#[test]
fn loads_with_no_imports() {
    let plugin = plugin();
    assert_eq!(plugin.name(), "guard");
    assert!(plugin.info().imports.is_empty());
    assert!(plugin.has_hook(Hook::PreHook));
}

#[test]
fn go_envelope_request_is_denied_with_a_go_shaped_short_circuit() {
    let mut instance = plugin().instantiate(Some(POLICY)).unwrap();
    let request = wrap_chat_request(
        r#"{"provider":"openai","model":"gpt-3.5-turbo","input":[]}"#,
        RequestShape::GoEnvelope,
        false,
    );
    let out = instance
        .call(
            Hook::PreHook,
            format!(r#"{{"context":{{"request-id":"g1"}},"request":{request}}}"#).as_bytes(),
        )
        .unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["has_short_circuit"], true);
    assert_eq!(v["short_circuit"]["Response"], Value::Null);
    assert_eq!(v["short_circuit"]["Error"]["status_code"], 403);
    assert_eq!(v["context"]["guard"], "denied");
}

#[test]
fn chain_sends_the_edited_request_on_and_answers_refusals_with_403() {
    let runner = Arc::new(SharedInstance::new(&plugin(), Some(POLICY)).unwrap());
    let chain = Arc::new(Chain::new(
        vec![ChainPlugin::new("guard", FailurePolicy::Default, runner)],
        RequestShape::Flat,
    ));
    let request = |model: &str| {
        RawJson::from_string(
            json!({"provider": "mock", "model": model, "input": [{"role": "user", "content": "hi"}]})
                .to_string(),
        )
        .unwrap()
    };
    let mut run = RequestRun::new(chain.clone(), "ok-1");
    match run.pre_hook(request("fast")) {
        PreOutcome::Continue(sent) => {
            let v: Value = serde_json::from_str(sent.as_str()).unwrap();
            assert_eq!(
                (v["provider"].as_str(), v["model"].as_str()),
                (Some("openai"), Some("gpt-4o-mini"))
            );
            assert_eq!(v["params"]["max_completion_tokens"], 256);
            assert_eq!(v["input"][0], json!({"role": "system", "content": "Be brief."}));
        }
        other => panic!("expected the request to go on: {other:?}"),
    }
    let mut run = RequestRun::new(chain, "no-1");
    match run.pre_hook(request("gpt-3.5-turbo")) {
        PreOutcome::ShortCircuit(LlmResult::Error(error)) => {
            let v: Value = serde_json::from_str(error.as_str()).unwrap();
            assert_eq!(v["status_code"], 403);
            assert_eq!(v["error"]["type"], "forbidden");
        }
        other => panic!("expected a 403 short-circuit: {other:?}"),
    }
}
