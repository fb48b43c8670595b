//! The built `http-gate.wasm` through the real ABI and in a chain: a 401 answer, the health
//! path, and the header reported by `http_post_hook`.

use std::sync::Arc;

use bifrost_wasm_chain::FailurePolicy;
use bifrost_wasm_chain::{Chain, ChainPlugin, HttpPreOutcome, RequestRun};
use bifrost_wasm_host::{Hook, Host, HostConfig, LoadedPlugin, SharedInstance};
use bifrost_wasm_sdk::types::raw::RawJson;
use bifrost_wasm_sdk::types::shape::RequestShape;
use serde_json::{json, Value};

const CONFIG: &str = r#"{"keys": [{"id": "ops", "key": "s3cr3t-ops-key"}]}"#;

fn plugin() -> LoadedPlugin {
    let host = Host::new(HostConfig::default().with_pooling(false)).expect("host");
    host.load_file(test_support::plugin_wasm("http-gate"))
        .expect("load http-gate.wasm")
}

fn http_request(path: &str, headers: Value) -> RawJson {
    let v = json!({"method": "GET", "path": path, "headers": headers, "query": {}, "body": null});
    RawJson::from_string(v.to_string()).unwrap()
}

#[test]
fn loads_with_no_imports_and_both_http_pre_hook_names() {
    let plugin = plugin();
    assert_eq!(plugin.name(), "http-gate");
    assert!(plugin.info().imports.is_empty());
    let exports: Vec<&str> = plugin.info().exports.iter().map(|e| e.name.as_str()).collect();
    assert!(exports.contains(&"http_intercept") && exports.contains(&"http_pre_hook"));
}

#[test]
fn init_without_keys_fails_with_the_reason() {
    let err = plugin().instantiate(None).expect_err("no keys");
    assert!(
        err.to_string().contains("`keys` must list at least one API key"),
        "{err}"
    );
}

#[test]
fn chain_answers_401_health_and_reports_the_header_for_an_allowed_request() {
    let runner = Arc::new(SharedInstance::new(&plugin(), Some(CONFIG)).unwrap());
    let chain = Arc::new(Chain::new(
        vec![ChainPlugin::new("http-gate", FailurePolicy::Default, runner)],
        RequestShape::GoEnvelope,
    ));

    let mut denied = RequestRun::new(chain.clone(), "d1");
    match denied.http_pre_hook(http_request("/v1/models", json!({"X-API-Key": "wrong"}))) {
        HttpPreOutcome::Respond(answer) => {
            assert_eq!(answer.status, 401);
            let body: Value = serde_json::from_slice(&answer.body).unwrap();
            assert_eq!(body["error"]["type"], "unauthorized");
        }
        other => panic!("expected 401: {other:?}"),
    }

    let mut health = RequestRun::new(chain.clone(), "h1");
    match health.http_pre_hook(http_request("/gate/health", json!({}))) {
        HttpPreOutcome::Respond(answer) => {
            assert_eq!(answer.status, 200);
            assert_eq!(
                serde_json::from_slice::<Value>(&answer.body).unwrap(),
                json!({"status": "ok", "plugin": "http-gate"})
            );
        }
        other => panic!("expected the health answer: {other:?}"),
    }

    let mut allowed = RequestRun::new(chain, "a1");
    let HttpPreOutcome::Continue(_) = allowed.http_pre_hook(http_request(
        "/v1/models",
        json!({"Authorization": "Bearer s3cr3t-ops-key"}),
    )) else {
        panic!("a valid key must pass");
    };
    let response = RawJson::from_string(r#"{"status_code":200,"headers":{},"body":""}"#.into()).unwrap();
    assert!(allowed.http_post_hook(&response).is_none());
    assert_eq!(
        allowed.context().get("http_gate_reported").unwrap().as_str(),
        r#""X-Gateway-Key-Id: ops""#
    );
}

#[test]
fn every_hook_survives_garbage() {
    let mut instance = plugin().instantiate(Some(CONFIG)).unwrap();
    for hook in Hook::ALL {
        let out: Value = serde_json::from_str(&instance.call(hook, b"\xff\xfe").unwrap()).unwrap();
        assert!(out["context"].is_object(), "{hook}: {out}");
    }
}
