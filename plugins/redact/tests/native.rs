//! The redact plugin driven natively through the SDK's harness (the same code its wasm
//! exports run): every hook, every request shape, the config switches, losslessness.

use bifrost_wasm_sdk::testing::hooks::Pre;
use bifrost_wasm_sdk::testing::Harness;
use bifrost_wasm_sdk::types::shape::{wrap_chat_request, wrap_chat_response, RequestShape};
use redact::Redact;
use serde_json::{json, Value};

const SECRET_TEXT: &str = "mail bob@example.com or call +1 555 123 4567";
const REDACTED_TEXT: &str = "mail [EMAIL] or call [PHONE]";

fn harness(config: &str) -> Harness<Redact> {
    Harness::new(config).unwrap_or_else(|e| panic!("init {config}: {e}"))
}

/// A flat chat request with unknown fields, a null, a big integer and a float spelled `1.0`
/// around the texts, so any loss would show.
fn flat_request(text: &str) -> String {
    let text = serde_json::to_string(text).unwrap();
    format!(
        r#"{{"provider":"openai","model":"gpt-4o","input":[{{"role":"system","content":"Be brief.","x-sentinel":null}},{{"role":"user","content":[{{"type":"text","text":{text}}},{{"type":"image_url","image_url":{{"url":"https://example.com/a.png"}}}}],"name":"u1"}},{{"role":"assistant","content":{text},"refusal":null}}],"params":{{"temperature":1.0,"seed":123456789012345678901234567890}},"extra_top":{{"keep":[1,2.50]}}}}"#
    )
}

#[test]
fn every_request_shape_is_redacted_in_place_and_everything_else_kept() {
    let h = harness("{}");
    for shape in RequestShape::ALL {
        let request = wrap_chat_request(&flat_request(SECRET_TEXT), shape, false);
        let input = format!(r#"{{"context":{{"request_id":"r-{shape}"}},"request":{request}}}"#);
        let out = h.call_raw::<Pre>(input.as_bytes());
        let expected_request = wrap_chat_request(&flat_request(REDACTED_TEXT), shape, false);
        assert!(
            out.contains(&format!(r#""request":{expected_request}"#)),
            "{shape}: request not redacted byte-exactly:\n{out}"
        );
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["context"]["redactions"]["email"], 2, "{shape}");
        assert_eq!(v["context"]["redactions"]["phone"], 2, "{shape}");
        assert_eq!(v["context"]["redactions"]["total"], 4, "{shape}");
        assert_eq!(v["context"]["request_id"], format!("r-{shape}"));
    }
}

#[test]
fn a_clean_request_passes_through_byte_for_byte() {
    let h = harness("{}");
    let request = flat_request("nothing to see here, version 1.2.3 on 2024-01-15");
    let input = format!(r#"{{"context":{{"request_id":"r"}},"request":{request}}}"#);
    let out = h.call_raw::<Pre>(input.as_bytes());
    assert!(out.contains(&format!(r#""request":{request}"#)), "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["context"]["redactions"]["total"], 0);
}

#[test]
fn categories_and_placeholders_are_configurable() {
    let h = harness(r#"{"categories": ["phone"], "placeholders": {"phone": "<number>"}}"#);
    let out = h.pre_hook(&json!({
        "context": {},
        "request": {"model": "m", "input": [{"role": "user", "content": SECRET_TEXT}]}
    }));
    assert_eq!(
        out["request"]["input"][0]["content"],
        "mail bob@example.com or call <number>"
    );
    assert_eq!(out["context"]["redactions"], json!({"phone": 1, "total": 1}));
}

#[test]
fn tool_arguments_are_redacted_only_when_asked() {
    let request = json!({"model": "m", "input": [{"role": "assistant", "content": null, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "send", "arguments": "{\"to\":\"bob@example.com\"}"}}
    ]}]});
    let args = |out: &Value| out["request"]["input"][0]["tool_calls"][0]["function"]["arguments"].clone();
    let off = harness("{}").pre_hook(&json!({"context": {}, "request": request}));
    assert_eq!(args(&off), "{\"to\":\"bob@example.com\"}");
    let on = harness(r#"{"tool_arguments": true}"#).pre_hook(&json!({"context": {}, "request": request}));
    assert_eq!(args(&on), "{\"to\":\"[EMAIL]\"}");
}

#[test]
fn requests_switch_off_leaves_requests_alone() {
    let h = harness(r#"{"requests": false}"#);
    let out = h.pre_hook(&json!({"context": {}, "request": {"model": "m", "input": [{"role": "user", "content": SECRET_TEXT}]}}));
    assert_eq!(out["request"]["input"][0]["content"], SECRET_TEXT);
    assert!(out["context"].get("redactions").is_none());
}

#[test]
fn complete_responses_are_redacted_in_every_shape_and_counts_add_up() {
    let h = harness("{}");
    let chat = json!({"id": "c", "object": "chat.completion", "model": "gpt-4o", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": SECRET_TEXT}, "finish_reason": "stop"}
    ]})
    .to_string();
    for shape in RequestShape::ALL {
        let response = wrap_chat_response(&chat, shape);
        let out = h.post_hook(&json!({
            "context": {"request_id": "r", "redactions": {"email": 1, "total": 1}},
            "response": serde_json::from_str::<Value>(&response).unwrap(),
            "error": {}, "has_error": false
        }));
        let inner = match shape {
            RequestShape::GoEnvelope => &out["response"]["ChatResponse"],
            _ => &out["response"]["chat_response"],
        };
        assert_eq!(
            inner["choices"][0]["message"]["content"], REDACTED_TEXT,
            "{shape}"
        );
        assert_eq!(
            out["context"]["redactions"]["email"], 2,
            "{shape}: counts add to the request's"
        );
        assert_eq!(out["context"]["redactions"]["total"], 3, "{shape}");
        assert_eq!(out["has_error"], false);
    }
}

#[test]
fn post_hook_leaves_stream_chunks_and_errors_to_their_own_paths() {
    let h = harness("{}");
    let chunk = json!({"chat_response": {"id": "c", "object": "chat.completion.chunk", "choices": [
        {"index": 0, "delta": {"content": "bob@example.com"}}
    ]}});
    let out = h.post_hook(&json!({"context": {}, "response": chunk, "error": {}, "has_error": false}));
    assert_eq!(out["response"], chunk);
    let error =
        json!({"error": {"message": "bad key sk-proj-abcdefghijklmnopqrstuvwxyz"}, "status_code": 401});
    let out = h.post_hook(&json!({"context": {}, "response": null, "error": error, "has_error": true}));
    assert_eq!(out["error"], error);
    assert_eq!(out["has_error"], true);
}

fn stream_chunk(content: Option<&str>, finish: Option<&str>) -> Value {
    let delta = content.map_or(json!({}), |c| json!({"content": c}));
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], "x-sentinel": 123456789012345678_u64})
}

/// Sends `pieces` as a stream through the chunk hook and returns what the client receives.
fn stream(h: &Harness<Redact>, request_id: &str, pieces: &[&str]) -> (String, Value) {
    let mut context = json!({"request_id": request_id});
    let mut received = String::new();
    let chunks = pieces
        .iter()
        .map(|p| stream_chunk(Some(p), None))
        .chain([stream_chunk(None, Some("stop"))]);
    for chunk in chunks {
        let out = h.http_stream_chunk_hook(&json!({
            "context": context,
            "request": {"method": "POST", "path": "/v1/chat/completions", "headers": {}, "query": {}, "body": ""},
            "chunk": chunk
        }));
        assert_eq!(out["error"], "", "{out}");
        assert_eq!(out["has_chunk"], true);
        assert_eq!(out["chunk"]["x-sentinel"], 123456789012345678_u64);
        received.push_str(
            out["chunk"]["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap_or(""),
        );
        context = out["context"].clone();
    }
    (received, context)
}

#[test]
fn a_secret_split_across_two_chunks_never_reaches_the_client() {
    let h = harness("{}");
    let (received, context) = stream(
        &h,
        "s1",
        &[
            "Your key: sk-proj-abcd",
            "efghijklmnopqrstuvwxyz0123 - keep",
            " it safe",
        ],
    );
    assert_eq!(received, "Your key: [SECRET] - keep it safe");
    assert!(!received.contains("sk-proj"));
    assert_eq!(context["redactions"]["secret"], 1);
}

#[test]
fn interleaved_streams_keep_their_held_text_apart() {
    let h = harness("{}");
    let send = |id: &str, chunk: Value| {
        h.http_stream_chunk_hook(&json!({"context": {"request_id": id}, "request": {}, "chunk": chunk}))
            ["chunk"]["choices"][0]["delta"]["content"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let mut a = send("A", stream_chunk(Some("mail bob@exa"), None));
    let mut b = send("B", stream_chunk(Some("call 555-123"), None));
    a += &send("A", stream_chunk(Some("mple.com now"), None));
    b += &send("B", stream_chunk(Some("-4567 now"), None));
    a += &send("A", stream_chunk(None, Some("stop")));
    b += &send("B", stream_chunk(None, Some("stop")));
    assert_eq!(a, "mail [EMAIL] now");
    assert_eq!(b, "call [PHONE] now");
}

#[test]
fn streams_switch_off_passes_chunks_through() {
    let h = harness(r#"{"streams": false}"#);
    let (received, _) = stream(&h, "s", &["bob@", "example.com"]);
    assert_eq!(received, "bob@example.com");
}
