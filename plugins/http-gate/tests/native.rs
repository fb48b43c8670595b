//! The http-gate plugin driven natively through the SDK's harness.

use bifrost_wasm_sdk::testing::Harness;
use bifrost_wasm_sdk::types::http::{decode_base64, encode_base64};
use http_gate::HttpGate;
use serde_json::{json, Value};

const CONFIG: &str =
    r#"{"keys": ["k-alpha-123", {"id": "team-b", "key": "k-beta-456"}], "public_paths": ["/v1/models"]}"#;

fn harness() -> Harness<HttpGate> {
    Harness::new(CONFIG).unwrap_or_else(|e| panic!("init: {e}"))
}

fn request(method: &str, path: &str, headers: Value) -> Value {
    json!({
        "context": {"request_id": "r1"},
        "request": {"method": method, "path": path, "headers": headers, "query": {},
                    "body": encode_base64(br#"{"model":"gpt-4o","messages":[]}"#), "x-sentinel": [1.0, null]}
    })
}

fn body(out: &Value) -> Value {
    let bytes = decode_base64(out["response"]["body"].as_str().unwrap()).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn valid_keys_pass_in_either_header_and_record_the_key_id() {
    let h = harness();
    for (headers, id) in [
        (json!({"X-Api-Key": "k-alpha-123"}), "key-1"),
        (json!({"authorization": "Bearer k-beta-456"}), "team-b"),
        (json!({"Authorization": "bearer  k-beta-456 "}), "team-b"),
    ] {
        let input = request("POST", "/v1/chat/completions", headers.clone());
        let out = h.http_pre_hook(&input);
        assert_eq!(out["has_response"], false, "{headers}");
        assert_eq!(out["request"], input["request"], "the request passes unchanged");
        assert_eq!(out["context"]["http_gate"], "allowed");
        assert_eq!(out["context"]["http_gate_key_id"], id);
        assert_eq!(
            out["context"]["http_gate_response_header"],
            json!({"name": "X-Gateway-Key-Id", "value": id})
        );
        let context = out["context"].to_string();
        assert!(
            !context.contains("k-alpha") && !context.contains("k-beta"),
            "keys never reach the context"
        );
    }
}

#[test]
fn missing_or_wrong_key_is_answered_with_401() {
    let h = harness();
    for (headers, reason) in [
        (json!({}), "missing API key"),
        (json!({"x-api-key": ""}), "missing API key"),
        (json!({"x-api-key": "k-alpha-12"}), "invalid API key"),
        (json!({"Authorization": "Bearer k-alpha-1234"}), "invalid API key"),
    ] {
        let out = h.http_pre_hook(&request("POST", "/v1/chat/completions", headers.clone()));
        assert_eq!(out["has_response"], true, "{headers}");
        assert_eq!(out["response"]["status_code"], 401);
        assert_eq!(out["response"]["headers"]["WWW-Authenticate"], "Bearer");
        let error = body(&out);
        assert_eq!(error["status_code"], 401);
        assert_eq!(error["error"]["type"], "unauthorized");
        assert!(error["error"]["message"].as_str().unwrap().starts_with(reason));
        assert_eq!(out["context"]["http_gate"], "denied");
        assert_eq!(out["context"]["http_gate_reason"], reason);
    }
}

#[test]
fn health_path_is_answered_without_a_key_and_public_paths_pass() {
    let h = harness();
    let out = h.http_pre_hook(&request("GET", "/gate/health?deep=1", json!({})));
    assert_eq!(out["has_response"], true);
    assert_eq!(out["response"]["status_code"], 200);
    assert_eq!(body(&out), json!({"status": "ok", "plugin": "http-gate"}));
    let out = h.http_pre_hook(&request("POST", "/gate/health", json!({})));
    assert_eq!(
        out["response"]["status_code"], 401,
        "only GET and HEAD are health checks"
    );
    let out = h.http_pre_hook(&request("GET", "/v1/models", json!({})));
    assert_eq!(out["has_response"], false);
    assert_eq!(out["context"]["http_gate"], "public");
}

#[test]
fn post_hook_reports_the_response_header_from_the_context() {
    let h = harness();
    let pre = h.http_pre_hook(&request(
        "POST",
        "/v1/chat/completions",
        json!({"x-api-key": "k-beta-456"}),
    ));
    let out = h.http_post_hook(&json!({
        "context": pre["context"],
        "request": pre["request"],
        "response": {"status_code": 200, "headers": {}, "body": ""}
    }));
    assert_eq!(out["error"], "");
    assert_eq!(out["context"]["http_gate_reported"], "X-Gateway-Key-Id: team-b");
    assert_eq!(out["context"]["http_gate_status"], 200);
}

#[test]
fn configuration_errors_are_explained() {
    for (config, needle) in [
        ("{}", "`keys` must list at least one API key"),
        (r#"{"keys": ["  "]}"#, "keys[0] (`key-1`) is empty"),
        (
            r#"{"keys": ["k"], "headers": []}"#,
            "`headers` must name at least one header",
        ),
        (
            r#"{"keys": ["k"], "health_path": "health"}"#,
            "must start with `/`",
        ),
        (r#"{"keys": [1]}"#, "invalid config"),
    ] {
        let err = Harness::<HttpGate>::new(config).err().expect(config);
        assert!(err.contains(needle), "{config}: {err}");
    }
}
