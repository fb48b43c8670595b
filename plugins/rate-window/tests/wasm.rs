//! The built `rate-window.wasm` (wasm32-unknown-unknown: no imports, no clock) through the
//! real ABI, reading its time from the context that the host's chain seeds.

use std::sync::Arc;

use bifrost_wasm_chain::FailurePolicy;
use bifrost_wasm_chain::{Chain, ChainPlugin, LlmResult, PreOutcome, RequestRun, START_TIME_KEY};
use bifrost_wasm_host::{Hook, Host, HostConfig, LoadedPlugin, SharedInstance};
use bifrost_wasm_sdk::types::raw::RawJson;
use bifrost_wasm_sdk::types::shape::RequestShape;
use serde_json::{json, Value};

fn plugin() -> LoadedPlugin {
    let host = Host::new(HostConfig::default().with_pooling(false)).expect("host");
    host.load_file(test_support::plugin_wasm("rate-window"))
        .expect("load rate-window.wasm")
}

#[test]
fn loads_with_no_imports_and_refuses_a_system_clock_it_does_not_have() {
    let plugin = plugin();
    assert_eq!(plugin.name(), "rate-window");
    assert!(plugin.info().imports.is_empty());
    let err = plugin
        .instantiate(Some(r#"{"clock": "system"}"#))
        .expect_err("no clock");
    assert!(
        err.to_string()
            .contains("not available in a wasm32-unknown-unknown build"),
        "{err}"
    );
}

#[test]
fn without_a_time_in_the_context_the_hook_explains_instead_of_trapping() {
    let mut instance = plugin().instantiate(None).unwrap();
    let out = instance
        .call(
            Hook::PreHook,
            br#"{"context":{"request_id":"r"},"request":{"model":"m"}}"#,
        )
        .unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["error"].as_str().unwrap().contains("request_start_unix_ms"),
        "{v}"
    );
}

#[test]
fn windows_follow_the_time_given_in_the_context() {
    let mut instance = plugin()
        .instantiate(Some(r#"{"limit": 1, "window_ms": 1000, "mode": "fixed"}"#))
        .unwrap();
    let mut at = |t: u64| -> Value {
        let input = json!({"context": {"request_id": "r", "request_start_unix_ms": t, "x-bf-vk": "vk"}, "request": {"model": "m"}});
        serde_json::from_str(
            &instance
                .call(Hook::PreHook, input.to_string().as_bytes())
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(at(1_000)["context"]["rate_window"], "allowed");
    assert_eq!(at(1_999)["context"]["rate_window"], "limited");
    assert_eq!(at(2_000)["context"]["rate_window"], "allowed");
}

#[test]
fn in_a_chain_the_seeded_start_time_drives_the_limiter() {
    let runner =
        Arc::new(SharedInstance::new(&plugin(), Some(r#"{"limit": 2, "window_ms": 3600000}"#)).unwrap());
    let chain = Arc::new(Chain::new(
        vec![ChainPlugin::new("rate-window", FailurePolicy::Default, runner)],
        RequestShape::Flat,
    ));
    let request =
        RawJson::from_string(json!({"provider": "mock", "model": "m", "input": []}).to_string()).unwrap();
    let mut outcomes = Vec::new();
    for i in 0..3 {
        let mut run = RequestRun::new(chain.clone(), &format!("r{i}"));
        assert!(run.context().get(START_TIME_KEY).is_some());
        outcomes.push(match run.pre_hook(request.clone()) {
            PreOutcome::Continue(_) => "allowed".to_string(),
            PreOutcome::ShortCircuit(LlmResult::Error(e)) => {
                let v: Value = serde_json::from_str(e.as_str()).unwrap();
                format!("limited {}", v["status_code"])
            }
            other => panic!("{other:?}"),
        });
    }
    assert_eq!(outcomes, ["allowed", "allowed", "limited 429"]);
}

/// Built for `wasm32-wasip1`, the plugin has WASI's clock and limits with `clock: "system"`
/// and no time in the context, as it would under upstream Bifrost (which seeds none).
#[test]
fn wasip1_build_limits_on_the_system_clock_without_a_context_time() {
    let host = Host::new(HostConfig::default().with_pooling(false)).expect("host");
    let plugin = host
        .load_file(test_support::plugin_wasm_for(
            "rate-window",
            test_support::WasmTarget::Wasip1,
        ))
        .expect("load the wasm32-wasip1 build");
    assert!(plugin.info().wasi);
    let mut instance = plugin
        .instantiate(Some(
            r#"{"clock": "system", "limit": 2, "window_ms": 3600000, "mode": "sliding"}"#,
        ))
        .expect("a WASI build has a clock");
    let input = br#"{"context":{"request_id":"r","x-bf-vk":"vk"},"request":{"model":"m"}}"#;
    let mut call =
        || -> Value { serde_json::from_str(&instance.call(Hook::PreHook, input).unwrap()).unwrap() };
    // A sliding hour has no boundary the three calls could straddle.
    for _ in 0..2 {
        let allowed = call();
        assert_eq!(allowed["context"]["rate_window"], "allowed", "{allowed}");
        assert_eq!(allowed["error"], "", "{allowed}");
    }
    let limited = call();
    assert_eq!(limited["context"]["rate_window"], "limited", "{limited}");
    assert_eq!(limited["has_short_circuit"], true, "{limited}");
}
