//! The rate-window plugin driven natively through the SDK's harness.

use bifrost_wasm_sdk::testing::Harness;
use rate_window::RateWindow;
use serde_json::{json, Value};

fn harness(config: &str) -> Harness<RateWindow> {
    Harness::new(config).unwrap_or_else(|e| panic!("init {config}: {e}"))
}

fn request_at(h: &Harness<RateWindow>, now_ms: u64, vk: Option<&str>, model: &str) -> Value {
    let mut context = json!({"request_id": "r", "request_start_unix_ms": now_ms});
    if let Some(vk) = vk {
        context["x-bf-vk"] = json!(vk);
    }
    h.pre_hook(&json!({"context": context,
        "request": {"provider": "openai", "model": model, "input": [{"role": "user", "content": "hi"}]}}))
}

#[test]
fn over_the_limit_is_answered_with_the_seed_rate_limit_error_until_the_window_moves() {
    let h = harness(r#"{"limit": 2, "window_ms": 1000, "mode": "fixed"}"#);
    let a = request_at(&h, 5_000, None, "m");
    assert_eq!(
        (
            a["has_short_circuit"].as_bool(),
            &a["context"]["rate_window_remaining"]
        ),
        (Some(false), &json!(1))
    );
    assert_eq!(a["request"]["model"], "m", "allowed requests pass unchanged");
    request_at(&h, 5_100, None, "m");
    let limited = request_at(&h, 5_900, None, "m");
    assert_eq!(limited["has_short_circuit"], true);
    let error = &limited["short_circuit"]["error"];
    assert_eq!(error["status_code"], 429);
    assert_eq!(error["error"]["type"], "rate_limit");
    assert_eq!(error["error"]["code"], "429");
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Rate limit exceeded"));
    assert_eq!(error["retry_after_ms"], 100);
    assert_eq!(limited["context"]["rate_window"], "limited");
    assert_eq!(limited["context"]["rate_window_retry_after_ms"], 100);
    assert_eq!(limited["context"]["rate_window_reset_ms"], 6_000);
    assert_eq!(
        request_at(&h, 6_000, None, "m")["context"]["rate_window"],
        "allowed"
    );
}

#[test]
fn keys_come_from_the_virtual_key_and_optionally_the_model() {
    let h = harness(r#"{"limit": 1, "window_ms": 60000}"#);
    assert_eq!(
        request_at(&h, 0, Some("vk-a"), "m")["context"]["rate_window"],
        "allowed"
    );
    assert_eq!(
        request_at(&h, 1, Some("vk-b"), "m")["context"]["rate_window"],
        "allowed"
    );
    assert_eq!(
        request_at(&h, 2, None, "m")["context"]["rate_window"],
        "allowed",
        "anonymous"
    );
    assert_eq!(
        request_at(&h, 3, Some("vk-a"), "other")["context"]["rate_window"],
        "limited"
    );
    let per_model = harness(r#"{"limit": 1, "window_ms": 60000, "per_model": true}"#);
    assert_eq!(
        request_at(&per_model, 0, Some("vk-a"), "m1")["context"]["rate_window"],
        "allowed"
    );
    assert_eq!(
        request_at(&per_model, 1, Some("vk-a"), "m2")["context"]["rate_window"],
        "allowed"
    );
    assert_eq!(
        request_at(&per_model, 2, Some("vk-a"), "m1")["context"]["rate_window"],
        "limited"
    );
}

#[test]
fn context_clock_without_a_time_reports_why_and_lets_the_request_through() {
    let h = harness(r#"{"clock": "context"}"#);
    let out = h.pre_hook(&json!({"context": {"request_id": "r"}, "request": {"model": "m"}}));
    let error = out["error"].as_str().unwrap();
    assert!(error.contains("`request_start_unix_ms`"), "{error}");
    assert_eq!(out["request"]["model"], "m");
    assert_eq!(out["has_short_circuit"], false);
}

#[test]
fn auto_clock_uses_the_system_clock_when_the_context_has_no_time() {
    // Natively (as in a wasm32-wasip1 build) there is a system clock. One request per hour:
    // two back-to-back requests are limited whether or not they straddle a window boundary
    // (the sliding window carries the first into the next window).
    let h = harness(r#"{"limit": 1, "window_ms": 3600000}"#);
    let call = || h.pre_hook(&json!({"context": {}, "request": {"model": "m"}}));
    assert_eq!(call()["context"]["rate_window"], "allowed");
    assert_eq!(call()["context"]["rate_window"], "limited");
}

#[test]
fn bad_configs_are_refused() {
    for (config, needle) in [
        (r#"{"limit": 0}"#, "limit must be at least 1"),
        (r#"{"window_ms": 0}"#, "window_ms must be at least 1"),
        (r#"{"mode": "rolling"}"#, "unknown variant `rolling`"),
        (r#"{"clock_key": ""}"#, "clock_key must name a context key"),
    ] {
        let err = Harness::<RateWindow>::new(config).err().expect(config);
        assert!(err.contains(needle), "{config}: {err}");
    }
}
