//! The built `cache.wasm` through the real ABI, in a chain: the first request goes to the
//! provider and fills the cache, the second is answered by short-circuit.

use std::sync::Arc;

use bifrost_wasm_chain::FailurePolicy;
use bifrost_wasm_chain::{Chain, ChainPlugin, LlmResult, PreOutcome, RequestRun};
use bifrost_wasm_host::{Hook, Host, HostConfig, LoadedPlugin, SharedInstance};
use bifrost_wasm_sdk::types::raw::RawJson;
use bifrost_wasm_sdk::types::shape::{wrap_chat_request, wrap_chat_response, RequestShape};
use serde_json::Value;

fn plugin() -> LoadedPlugin {
    let host = Host::new(HostConfig::default().with_pooling(false)).expect("host");
    host.load_file(test_support::plugin_wasm("cache"))
        .expect("load cache.wasm")
}

const FLAT: &str = r#"{"provider":"openai","model":"gpt-4o","input":[{"role":"user","content":"ping"}]}"#;
const CHAT: &str = r#"{"id":"chatcmpl-7","object":"chat.completion","model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"pong"},"finish_reason":"stop"}],"n":1.50}"#;

#[test]
fn loads_with_no_imports() {
    let plugin = plugin();
    assert_eq!(plugin.name(), "cache");
    assert!(plugin.info().imports.is_empty());
}

#[test]
fn chain_fills_the_cache_then_short_circuits_the_repeat() {
    let runner = Arc::new(SharedInstance::new(&plugin(), None).unwrap());
    let chain = Arc::new(Chain::new(
        vec![ChainPlugin::new("cache", FailurePolicy::Default, runner)],
        RequestShape::GoEnvelope,
    ));
    let request = || RawJson::from_string(wrap_chat_request(FLAT, RequestShape::GoEnvelope, false)).unwrap();

    let mut first = RequestRun::new(chain.clone(), "req-1");
    let PreOutcome::Continue(_) = first.pre_hook(request()) else {
        panic!("an empty cache cannot answer");
    };
    assert_eq!(first.context().get("cache").unwrap().as_str(), r#""miss""#);
    let provider_answer = RawJson::from_string(wrap_chat_response(CHAT, RequestShape::GoEnvelope)).unwrap();
    let LlmResult::Response(_) = first.post_hook(LlmResult::Response(provider_answer)) else {
        panic!("post_hook turned the response into an error");
    };
    assert_eq!(first.context().get("cache_stored").unwrap().as_str(), "true");

    let mut second = RequestRun::new(chain, "req-2");
    match second.pre_hook(request()) {
        PreOutcome::ShortCircuit(result @ LlmResult::Response(_)) => {
            let chat = result.chat_response().expect("a chat response");
            assert_eq!(
                chat.as_str(),
                CHAT,
                "the stored response comes back byte for byte"
            );
        }
        other => panic!("expected a cache hit: {other:?}"),
    }
    assert_eq!(second.context().get("cache").unwrap().as_str(), r#""hit""#);
}

#[test]
fn bad_input_gets_an_error_output_not_a_trap() {
    let mut instance = plugin().instantiate(None).unwrap();
    let out: Value = serde_json::from_str(&instance.call(Hook::PostHook, b"{]").unwrap()).unwrap();
    assert!(!out["hook_error"].as_str().unwrap().is_empty());
}
