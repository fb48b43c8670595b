//! hello-world on every request kind, not only chat: the mock answers a text completion with a
//! text completion and a Responses request with a Responses response, in the request's shape;
//! the model rewrite reaches those responses; every other kind passes through byte for byte.

use bifrost_wasm_sdk::testing::hooks::{Post, Pre};
use bifrost_wasm_sdk::testing::Harness;
use bifrost_wasm_sdk::types::shape::{wrap_request, wrap_response, RequestShape};
use bifrost_wasm_sdk::types::RequestKind;
use hello_world::{HelloWorld, MOCK_TEXT};
use serde_json::{json, Value};

fn plugin() -> Harness<HelloWorld> {
    Harness::new("{}").expect("init")
}

/// Runs `pre_hook` on `request` (JSON text) and returns the raw output and its value.
fn pre(h: &Harness<HelloWorld>, request: &str) -> (String, Value) {
    let input = format!(r#"{{"context":{{"request_id":"r1"}},"request":{request}}}"#);
    let out = h.call_raw::<Pre>(input.as_bytes());
    let v = serde_json::from_str(&out).expect("JSON output");
    (out, v)
}

fn text_completion(model: &str) -> String {
    format!(r#"{{"provider":"openai","model":"{model}","input":"Say hi","params":{{"max_tokens":5}}}}"#)
}

fn responses(model: &str) -> String {
    format!(
        r#"{{"provider":"anthropic","model":"{model}","input":[{{"type":"message","role":"user","content":[{{"type":"input_text","text":"Say hi"}}]}}],"params":{{"max_output_tokens":5}}}}"#
    )
}

/// The short-circuit's response member (`Response`/`response`), and the member of `go`
/// (Go envelope) or `snake` inside it; asserts no chat member is there.
fn answered<'a>(out: &'a Value, shape: RequestShape, go: &str, snake: &str) -> &'a Value {
    assert_eq!(out["has_short_circuit"], true, "{out}");
    assert_eq!(out["error"], "");
    let (response, member) = match shape {
        RequestShape::GoEnvelope => (&out["short_circuit"]["Response"], go),
        _ => (&out["short_circuit"]["response"], snake),
    };
    if shape == RequestShape::GoEnvelope {
        assert_eq!(out["short_circuit"]["Error"], Value::Null);
        assert_eq!(response["ChatResponse"], Value::Null, "{response}");
    } else {
        assert!(response.get("chat_response").is_none(), "{response}");
    }
    &response[member]
}

#[test]
fn mock_model_text_completion_is_answered_with_a_text_completion_in_every_shape() {
    let h = plugin();
    for shape in RequestShape::ALL {
        let request = wrap_request(
            &text_completion("mock-model"),
            &RequestKind::TextCompletion,
            shape,
            false,
        );
        let (_, out) = pre(&h, &request);
        let tc = answered(&out, shape, "TextCompletionResponse", "text_completion_response");
        assert_eq!(tc["object"], "text_completion", "{shape}: {tc}");
        assert_eq!(tc["id"], "mock-r1");
        assert_eq!(tc["model"], "mock-model");
        assert_eq!(tc["choices"][0]["text"], MOCK_TEXT);
        assert_eq!(tc["choices"][0]["finish_reason"], "stop");
        assert_eq!(
            tc["usage"],
            json!({"prompt_tokens": 10, "completion_tokens": 15, "total_tokens": 25})
        );
        assert_eq!(out["context"]["plugin_processed"], true);
    }
}

#[test]
fn mock_model_responses_request_is_answered_with_a_responses_response() {
    let h = plugin();
    for shape in [RequestShape::GoEnvelope, RequestShape::Snake] {
        let request = wrap_request(&responses("mock-model"), &RequestKind::Responses, shape, true);
        let (_, out) = pre(&h, &request);
        let r = answered(&out, shape, "ResponsesResponse", "responses_response");
        assert_eq!(r["object"], "response", "{shape}: {r}");
        assert_eq!(r["status"], "completed");
        assert_eq!(r["model"], "mock-model");
        assert_eq!(r["output"][0]["type"], "message");
        assert_eq!(r["output"][0]["role"], "assistant");
        assert_eq!(r["output"][0]["content"][0]["type"], "output_text");
        assert_eq!(r["output"][0]["content"][0]["text"], MOCK_TEXT);
        assert_eq!(
            r["usage"],
            json!({"input_tokens": 10, "output_tokens": 15, "total_tokens": 25})
        );
    }
}

#[test]
fn flat_responses_request_reads_as_chat_and_gets_the_chat_mock() {
    // Flat, a Responses request cannot be told from a chat request (documented).
    let (_, out) = pre(&plugin(), &responses("mock-model"));
    assert_eq!(
        out["short_circuit"]["response"]["chat_response"]["choices"][0]["message"]["content"],
        MOCK_TEXT
    );
}

const OTHER_KINDS: [(RequestKind, &str); 4] = [
    (
        RequestKind::Embedding,
        r#"{"provider":"openai","model":"mock-model","input":["a","b"],"params":{"dimensions":8}}"#,
    ),
    (
        RequestKind::Speech,
        r#"{"provider":"openai","model":"mock-model","input":{"input":"hi"},"params":{"voice":"alloy","speed":1.0}}"#,
    ),
    (
        RequestKind::Transcription,
        r#"{"provider":"openai","model":"mock-model","input":{"file":"UklGRg==","filename":"a.wav"},"params":{"language":"en"}}"#,
    ),
    (
        RequestKind::ImageGeneration,
        r#"{"provider":"openai","model":"mock-model","input":{"prompt":"a fox"},"params":{"n":1}}"#,
    ),
];

#[test]
fn other_kinds_for_the_mock_model_pass_through_byte_for_byte() {
    let h = plugin();
    for (kind, flat) in OTHER_KINDS {
        for shape in [RequestShape::GoEnvelope, RequestShape::Snake] {
            let request = wrap_request(flat, &kind, shape, false);
            let (raw, out) = pre(&h, &request);
            assert_eq!(out["has_short_circuit"], false, "{kind:?} {shape}");
            assert!(
                raw.contains(&format!(r#""request":{request}"#)),
                "{kind:?} {shape}: {raw}"
            );
        }
    }
}

#[test]
fn other_models_of_every_kind_pass_through_byte_for_byte() {
    let h = plugin();
    let mut cases = vec![
        (
            RequestKind::TextCompletion,
            text_completion("gpt-3.5-turbo-instruct"),
        ),
        (RequestKind::Responses, responses("claude-sonnet")),
    ];
    cases.extend(
        OTHER_KINDS
            .iter()
            .map(|(k, f)| (k.clone(), f.replace("mock-model", "real"))),
    );
    for (kind, flat) in cases {
        for shape in RequestShape::ALL {
            let request = wrap_request(&flat, &kind, shape, false);
            let (raw, out) = pre(&h, &request);
            assert_eq!(out["has_short_circuit"], false);
            assert!(
                raw.contains(&format!(r#""request":{request}"#)),
                "{kind:?} {shape}: {raw}"
            );
        }
    }
}

/// Runs `post_hook` on `response` (JSON text) and returns the raw output.
fn post(h: &Harness<HelloWorld>, response: &str) -> String {
    let input = format!(
        r#"{{"context":{{"request_id":"r1"}},"response":{response},"error":{{}},"has_error":false}}"#
    );
    h.call_raw::<Post>(input.as_bytes())
}

#[test]
fn post_hook_rewrites_the_model_of_text_completion_and_responses_responses_in_place() {
    let h = plugin();
    let tc = r#"{"id":"c","object":"text_completion","created":1,"model":"davinci","choices":[{"text":"hi","index":0,"logprobs":null,"finish_reason":"stop"}],"usage":{"total_tokens":1.0}}"#;
    let rs = r#"{"id":"r","object":"response","created_at":1,"model":"gpt-4o","status":"completed","output":[],"x":123456789012345678901234567890}"#;
    for (inner, kind, model) in [
        (tc, RequestKind::TextCompletion, "davinci"),
        (rs, RequestKind::Responses, "gpt-4o"),
    ] {
        for shape in [RequestShape::GoEnvelope, RequestShape::Snake] {
            let response = wrap_response(inner, &kind, shape, false);
            let out = post(&h, &response);
            let expected = response.replace(
                &format!(r#""model":"{model}""#),
                &format!(r#""model":"{model} (via rust-wasm)""#),
            );
            assert!(
                out.contains(&format!(r#""response":{expected}"#)),
                "{kind:?} {shape}: {out}"
            );
        }
    }
}

#[test]
fn post_hook_leaves_other_kinds_responses_untouched() {
    let h = plugin();
    for (inner, kind) in [
        (
            r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.10,2e-3]}],"model":"e","usage":null}"#,
            RequestKind::Embedding,
        ),
        (r#"{"audio":"UklGRg==","model":"tts"}"#, RequestKind::Speech),
        (
            r#"{"text":"hello","model":"whisper"}"#,
            RequestKind::Transcription,
        ),
        (
            r#"{"created":1,"data":[{"url":"https://x/y.png"}],"model":"img"}"#,
            RequestKind::ImageGeneration,
        ),
    ] {
        for shape in [RequestShape::GoEnvelope, RequestShape::Snake] {
            let response = wrap_response(inner, &kind, shape, false);
            let out = post(&h, &response);
            assert!(
                out.contains(&format!(r#""response":{response}"#)),
                "{kind:?} {shape}: {out}"
            );
        }
    }
}
