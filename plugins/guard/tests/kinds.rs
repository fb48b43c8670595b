//! guard on every request kind: the token cap reads each kind's own limit, Responses
//! requests get a system item, and the alias, lists and fallbacks work the same for every
//! kind in every shape; kinds with no cap or prompt pass through byte for byte.

use bifrost_wasm_sdk::testing::hooks::Pre;
use bifrost_wasm_sdk::testing::Harness;
use bifrost_wasm_sdk::types::shape::{wrap_request, RequestShape};
use bifrost_wasm_sdk::types::RequestKind;
use guard::Guard;
use serde_json::{json, Value};

const POLICY: &str = r#"{
    "allow_providers": ["openai", "anthropic"],
    "deny_models": ["*-32k"],
    "aliases": {"fast": "openai/gpt-4o-mini", "cheap-embed": "openai/text-embedding-3-small"},
    "max_completion_tokens": 1024,
    "system_prompt": "You are a helpful assistant.",
    "fallbacks": {"gpt-4o*": ["anthropic/claude-3-5-sonnet"]}
}"#;

fn harness() -> Harness<Guard> {
    Harness::new(POLICY).unwrap_or_else(|e| panic!("init: {e}"))
}

/// Runs `pre_hook` on `request` (JSON text); returns the raw output and its value.
fn pre(h: &Harness<Guard>, request: &str) -> (String, Value) {
    let out = h.call_raw::<Pre>(format!(r#"{{"context":{{}},"request":{request}}}"#).as_bytes());
    let v = serde_json::from_str(&out).expect("JSON output");
    (out, v)
}

/// Asserts that the output carries `expected` as its request, byte for byte.
fn assert_request(out: &str, expected: &str, what: &str) {
    assert!(
        out.contains(&format!(r#""request":{expected}"#)),
        "{what}: expected request\n{expected}\nin\n{out}"
    );
}

#[test]
fn text_completion_max_tokens_is_capped_in_every_shape_and_gets_no_system_prompt() {
    let h = harness();
    let flat = r#"{"provider":"openai","model":"davinci-002","input":"Once upon","params":{"max_tokens":8192,"temperature":1.0,"max_completion_tokens":99999},"x":123456789012345678901234567890}"#;
    let expected = flat.replace(r#""max_tokens":8192"#, r#""max_tokens":1024"#);
    for shape in RequestShape::ALL {
        let request = wrap_request(flat, &RequestKind::TextCompletion, shape, false);
        let (out, v) = pre(&h, &request);
        let want = wrap_request(&expected, &RequestKind::TextCompletion, shape, false);
        assert_request(&out, &want, &format!("{shape}"));
        assert_eq!(v["context"]["guard_changes"], json!(["max_tokens 8192 -> 1024"]));
    }
    // Absent, the cap is set.
    let request = wrap_request(
        r#"{"provider":"openai","model":"davinci-002","input":"x"}"#,
        &RequestKind::TextCompletion,
        RequestShape::Snake,
        false,
    );
    let (_, v) = pre(&h, &request);
    assert_eq!(
        v["request"]["text_completion_request"]["params"],
        json!({"max_tokens": 1024})
    );
}

const RESPONSES: &str = r#"{"provider":"anthropic","model":"claude-sonnet","input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}],"x":null}],"params":{"max_output_tokens":4096,"temperature":1.0}}"#;

#[test]
fn responses_request_gets_its_output_cap_and_a_system_item_in_envelope_and_snake_shapes() {
    let h = harness();
    let expected = RESPONSES
        .replace(r#""max_output_tokens":4096"#, r#""max_output_tokens":1024"#)
        .replace(
            r#""input":["#,
            r#""input":[{"type":"message","role":"system","content":"You are a helpful assistant."},"#,
        );
    for shape in [RequestShape::GoEnvelope, RequestShape::Snake] {
        for stream in [false, true] {
            let request = wrap_request(RESPONSES, &RequestKind::Responses, shape, stream);
            let (out, v) = pre(&h, &request);
            let want = wrap_request(&expected, &RequestKind::Responses, shape, stream);
            assert_request(&out, &want, &format!("{shape} stream={stream}"));
            assert_eq!(
                v["context"]["guard_changes"],
                json!(["max_output_tokens 4096 -> 1024", "system_prompt"])
            );
        }
    }
}

#[test]
fn responses_system_developer_item_or_instructions_keep_the_system_prompt_out() {
    let h = harness();
    for flat in [
        r#"{"provider":"openai","model":"m","input":[{"type":"message","role":"developer","content":"Rules."},{"role":"user","content":"hi"}],"params":{"max_output_tokens":10}}"#,
        r#"{"provider":"openai","model":"m","input":[{"role":"system","content":"Rules."}],"params":{"max_output_tokens":10}}"#,
        r#"{"provider":"openai","model":"m","input":[{"role":"user","content":"hi"}],"params":{"instructions":"Rules.","max_output_tokens":10}}"#,
    ] {
        let request = wrap_request(flat, &RequestKind::Responses, RequestShape::GoEnvelope, false);
        let (out, v) = pre(&h, &request);
        assert_request(&out, &request, flat);
        assert_eq!(v["context"]["guard_changes"], json!([]), "{flat}");
    }
    // Empty instructions are no system prompt.
    let flat =
        r#"{"provider":"openai","model":"m","input":[],"params":{"instructions":"","max_output_tokens":10}}"#;
    let request = wrap_request(flat, &RequestKind::Responses, RequestShape::Snake, false);
    let (_, v) = pre(&h, &request);
    assert_eq!(
        v["request"]["responses_request"]["input"],
        json!([{"type": "message", "role": "system", "content": "You are a helpful assistant."}])
    );
}

const OTHER_KINDS: [(RequestKind, &str); 4] = [
    (
        RequestKind::Embedding,
        r#"{"provider":"openai","model":"text-embedding-3-large","input":["a"],"params":{"dimensions":8,"max_tokens":99999}}"#,
    ),
    (
        RequestKind::Speech,
        r#"{"provider":"openai","model":"tts-1","input":{"input":"hi"},"params":{"voice":"alloy","speed":1.0}}"#,
    ),
    (
        RequestKind::Transcription,
        r#"{"provider":"openai","model":"whisper-1","input":{"file":"UklGRg==","filename":"a.wav"},"params":{"language":"en"}}"#,
    ),
    (
        RequestKind::ImageGeneration,
        r#"{"provider":"openai","model":"dall-e-3","input":{"prompt":"a fox"},"params":{"n":1}}"#,
    ),
];

#[test]
fn other_kinds_get_no_cap_or_prompt_and_pass_through_byte_for_byte() {
    let h = harness();
    for (kind, flat) in OTHER_KINDS {
        for shape in [RequestShape::GoEnvelope, RequestShape::Snake] {
            let request = wrap_request(flat, &kind, shape, false);
            let (out, v) = pre(&h, &request);
            assert_request(&out, &request, &format!("{kind:?} {shape}"));
            assert_eq!(v["context"]["guard"], "allowed");
            assert_eq!(v["context"]["guard_changes"], json!([]));
        }
    }
}

#[test]
fn alias_allow_and_deny_lists_apply_to_every_kind_in_every_shape() {
    let h = harness();
    let mut kinds: Vec<(RequestKind, String)> = OTHER_KINDS
        .iter()
        .map(|(k, f)| (k.clone(), f.to_string()))
        .collect();
    kinds.push((RequestKind::Responses, RESPONSES.to_string()));
    kinds.push((
        RequestKind::TextCompletion,
        r#"{"provider":"openai","model":"m","input":"x"}"#.to_string(),
    ));
    for (kind, flat) in kinds {
        let inner = |v: &Value, shape: RequestShape| match shape {
            RequestShape::GoEnvelope => v["request"][kind.go_request_member().unwrap()].clone(),
            RequestShape::Snake => v["request"][kind.snake_request_member().unwrap()].clone(),
            RequestShape::Flat => v["request"].clone(),
        };
        let shapes: &[RequestShape] = if kind == RequestKind::TextCompletion {
            &RequestShape::ALL
        } else {
            &[RequestShape::GoEnvelope, RequestShape::Snake]
        };
        for &shape in shapes {
            let error_key = if shape == RequestShape::GoEnvelope {
                "Error"
            } else {
                "error"
            };
            let mut value: Value = serde_json::from_str(&flat).unwrap();
            // A denied provider.
            value["provider"] = json!("groq");
            let request = wrap_request(&value.to_string(), &kind, shape, false);
            let (_, v) = pre(&h, &request);
            assert_eq!(v["context"]["guard"], "denied", "{kind:?} {shape}");
            assert_eq!(
                v["short_circuit"][error_key]["status_code"], 403,
                "{kind:?} {shape}: {v}"
            );
            // A denied model.
            value["provider"] = json!("openai");
            value["model"] = json!("gpt-4-32k");
            let request = wrap_request(&value.to_string(), &kind, shape, false);
            let (_, v) = pre(&h, &request);
            assert_eq!(
                v["context"]["guard_reason"],
                "model `gpt-4-32k` is denied by `*-32k`"
            );
            // An alias that sets the provider too.
            value["provider"] = json!("anthropic");
            value["model"] = json!("cheap-embed");
            let request = wrap_request(&value.to_string(), &kind, shape, false);
            let (_, v) = pre(&h, &request);
            assert_eq!(v["context"]["guard"], "allowed", "{kind:?} {shape}");
            let inner = inner(&v, shape);
            assert_eq!(inner["provider"], "openai", "{kind:?} {shape}: {v}");
            assert_eq!(inner["model"], "text-embedding-3-small");
        }
    }
}

#[test]
fn fallbacks_are_appended_to_every_kind() {
    let h = harness();
    let flat = r#"{"provider":"openai","model":"gpt-4o-mini-tts","input":{"input":"hi"}}"#;
    let request = wrap_request(flat, &RequestKind::Speech, RequestShape::GoEnvelope, false);
    let (_, v) = pre(&h, &request);
    assert_eq!(
        v["request"]["SpeechRequest"]["fallbacks"],
        json!([{"provider": "anthropic", "model": "claude-3-5-sonnet"}])
    );
}
