//! The cache plugin driven natively through the SDK's harness: fill, hit, key stability,
//! partitioning, bypasses and bounds.

use bifrost_wasm_sdk::testing::hooks::{Post, Pre};
use bifrost_wasm_sdk::testing::Harness;
use bifrost_wasm_sdk::types::shape::{wrap_chat_request, wrap_chat_response, RequestShape};
use cache::Cache;
use serde_json::{json, Value};

const FLAT: &str = r#"{"provider":"openai","model":"gpt-4o","input":[{"role":"user","content":"What is 2+2?"}],"params":{"temperature":0.0,"max_completion_tokens":50}}"#;
/// The same request with keys reordered, numbers respelled and a fallback added.
const FLAT_REORDERED: &str = r#"{"params":{"max_completion_tokens":5e1,"temperature":0},"input":[{"content":"What is 2+2?","role":"user"}],"model":"gpt-4o","provider":"openai","fallbacks":[{"provider":"anthropic","model":"claude"}]}"#;
const CHAT: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"4"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":1,"total_tokens":8},"x-big":123456789012345678901234567890}"#;

fn harness(config: &str) -> Harness<Cache> {
    Harness::new(config).unwrap_or_else(|e| panic!("init: {e}"))
}

fn pre(h: &Harness<Cache>, id: &str, request: &str, context_extra: &str) -> Value {
    let input = format!(r#"{{"context":{{"request_id":"{id}"{context_extra}}},"request":{request}}}"#);
    let out = h.call_raw::<Pre>(input.as_bytes());
    serde_json::from_str(&out).unwrap()
}

/// post_hook with the response built as raw text (a `Value` would reorder keys and round
/// big integers, hiding whether the plugin stores the bytes it was given).
fn post(h: &Harness<Cache>, context: &Value, chat: &str, shape: RequestShape) -> Value {
    let response = wrap_chat_response(chat, shape);
    let input = format!(r#"{{"context":{context},"response":{response},"error":{{}},"has_error":false}}"#);
    serde_json::from_str(&h.call_raw::<Post>(input.as_bytes())).unwrap()
}

/// Runs one request through pre_hook and, on a miss, post_hook with `CHAT`.
fn round_trip(h: &Harness<Cache>, id: &str, request: &str, shape: RequestShape) -> Value {
    let out = pre(h, id, request, "");
    if out["context"]["cache"] == "miss" {
        let after = post(h, &out["context"], CHAT, shape);
        assert_eq!(after["context"]["cache_stored"], true, "{after}");
    }
    out
}

#[test]
fn second_identical_request_is_answered_from_the_cache_byte_for_byte() {
    let h = harness("{}");
    let first = round_trip(&h, "r1", FLAT, RequestShape::Flat);
    assert_eq!(first["context"]["cache"], "miss");
    assert_eq!(first["has_short_circuit"], false);
    let input = format!(r#"{{"context":{{"request_id":"r2"}},"request":{FLAT}}}"#);
    let out = h.call_raw::<Pre>(input.as_bytes());
    assert!(
        out.contains(&format!(
            r#""short_circuit":{{"response":{{"chat_response":{CHAT}}}}}"#
        )),
        "{out}"
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["has_short_circuit"], true);
    assert_eq!(v["context"]["cache"], "hit");
    assert_eq!(v["context"]["cache_key"], first["context"]["cache_key"]);
}

#[test]
fn key_is_stable_across_the_three_shapes_key_order_number_spelling_and_fallbacks() {
    let h = harness("{}");
    let key = round_trip(&h, "a", FLAT, RequestShape::Flat)["context"]["cache_key"].clone();
    for (i, shape) in RequestShape::ALL.into_iter().enumerate() {
        for flat in [FLAT, FLAT_REORDERED] {
            let out = pre(&h, &format!("b{i}"), &wrap_chat_request(flat, shape, false), "");
            assert_eq!(out["context"]["cache"], "hit", "{shape}: {flat}");
            assert_eq!(out["context"]["cache_key"], key);
            let sc = &out["short_circuit"];
            let chat = match shape {
                RequestShape::GoEnvelope => &sc["Response"]["ChatResponse"],
                _ => &sc["response"]["chat_response"],
            };
            assert_eq!(chat["choices"][0]["message"]["content"], "4", "{shape}");
        }
    }
}

#[test]
fn different_questions_and_tenants_miss() {
    let h = harness("{}");
    round_trip(&h, "a", FLAT, RequestShape::Flat);
    let other_question = FLAT.replace("2+2", "3+3");
    assert_eq!(pre(&h, "b", &other_question, "")["context"]["cache"], "miss");
    let other_params = FLAT.replace("0.0", "0.7");
    assert_eq!(pre(&h, "c", &other_params, "")["context"]["cache"], "miss");
    // The virtual key partitions the cache by default.
    assert_eq!(
        pre(&h, "d", FLAT, r#","x-bf-vk":"tenant-b""#)["context"]["cache"],
        "miss"
    );
}

#[test]
fn ignore_params_and_key_context_are_configurable() {
    let h = harness(r#"{"ignore_params": ["user"], "key_context": []}"#);
    round_trip(
        &h,
        "a",
        &FLAT.replace(r#""temperature""#, r#""user":"u1","temperature""#),
        RequestShape::Flat,
    );
    let out = pre(
        &h,
        "b",
        &FLAT.replace(r#""temperature""#, r#""user":"u2","temperature""#),
        r#","x-bf-vk":"other""#,
    );
    assert_eq!(out["context"]["cache"], "hit");
}

#[test]
fn streams_other_kinds_and_bypass_flag_skip_the_cache() {
    let h = harness("{}");
    round_trip(&h, "a", FLAT, RequestShape::Flat);
    let stream = wrap_chat_request(FLAT, RequestShape::GoEnvelope, true);
    let embedding =
        r#"{"RequestType":"embedding","EmbeddingRequest":{"provider":"openai","model":"e","input":"x"}}"#;
    for (request, extra, reason) in [
        (stream.as_str(), "", "streaming requests are not cached"),
        (embedding, "", "embedding requests are not cached"),
        (FLAT, r#","cache_bypass":true"#, "`cache_bypass` is set"),
    ] {
        let out = pre(&h, "x", request, extra);
        assert_eq!(out["context"]["cache"], "bypass", "{request}");
        assert_eq!(out["context"]["cache_reason"], reason);
        assert_eq!(out["has_short_circuit"], false);
    }
}

#[test]
fn errors_and_unknown_requests_are_not_stored() {
    let h = harness("{}");
    let out = pre(&h, "e1", FLAT, "");
    let after = h.post_hook(&json!({"context": out["context"], "response": null,
        "error": {"error": {"message": "upstream down"}, "status_code": 502}, "has_error": true}));
    assert_eq!(after["context"]["cache_stored"], false);
    assert_eq!(pre(&h, "e2", FLAT, "")["context"]["cache"], "miss");
    // A response for a request id the plugin never saw is passed through and not stored.
    let stray = post(&h, &json!({"request_id": "never-seen"}), CHAT, RequestShape::Flat);
    assert!(stray["context"].get("cache_stored").is_none());
}

#[test]
fn entries_are_bounded_least_recently_used_first() {
    let h = harness(r#"{"max_entries": 2}"#);
    let q = |n: u32| FLAT.replace("2+2", &format!("{n}+{n}"));
    round_trip(&h, "1", &q(1), RequestShape::Flat);
    round_trip(&h, "2", &q(2), RequestShape::Flat);
    assert_eq!(pre(&h, "1b", &q(1), "")["context"]["cache"], "hit"); // 2 is now least recent
    round_trip(&h, "3", &q(3), RequestShape::Flat);
    assert_eq!(pre(&h, "2b", &q(2), "")["context"]["cache"], "miss");
    assert_eq!(pre(&h, "1c", &q(1), "")["context"]["cache"], "hit");
    assert_eq!(pre(&h, "3b", &q(3), "")["context"]["cache"], "hit");
}

#[test]
fn oversized_responses_and_forgotten_requests_are_not_stored() {
    let h = harness(r#"{"max_entry_bytes": 100, "max_pending": 1}"#);
    let out = pre(&h, "big", FLAT, "");
    assert_eq!(
        post(&h, &out["context"], CHAT, RequestShape::Flat)["context"]["cache_stored"],
        false
    );
    let first = pre(&h, "p1", &FLAT.replace("2+2", "5+5"), "");
    let _second = pre(&h, "p2", &FLAT.replace("2+2", "6+6"), "");
    let small = r#"{"id":"s","choices":[{"index":0,"message":{"content":"10"}}]}"#;
    let after = post(&h, &first["context"], small, RequestShape::Flat);
    assert!(
        after["context"].get("cache_stored").is_none(),
        "p1 was forgotten for p2"
    );
}

#[test]
fn bad_configs_are_refused() {
    for (config, needle) in [
        (r#"{"max_entries": 0}"#, "must be at least 1"),
        (
            r#"{"max_entry_bytes": 10, "max_total_bytes": 5}"#,
            "cannot exceed max_total_bytes",
        ),
        (r#"{"ttl": 5}"#, "unknown field `ttl`"),
    ] {
        let err = Harness::<Cache>::new(config).err().expect(config);
        assert!(err.contains(needle), "{config}: {err}");
    }
}
