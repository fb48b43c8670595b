//! Inputs `check` feeds to plugins beyond the seed's examples: documents carrying sentinel
//! fields (for the losslessness rows) and a corpus of bad inputs.
//!
//! Every sentinel is an object member whose key starts with [`SENTINEL_PREFIX`]; its value
//! mixes what typed decoders lose: integers beyond 64 bits, `1.0` and `-0.0`, exponents,
//! `null`s, escaped Unicode. A plugin that passes a payload on must keep each sentinel where
//! it was, with the same value, numbers written the same way.

use bifrost_wasm_host::Hook;
use bifrost_wasm_types::shape::{wrap_chat_request, wrap_chat_response, RequestShape};

use crate::seed;

/// Key prefix of sentinel fields.
pub const SENTINEL_PREFIX: &str = "x_sentinel";

/// A context with a sentinel (and both spellings of the request id). Its numbers stay within
/// what a float64 holds exactly: a Go host decodes context values into `interface{}`, where
/// every number is a float64, so bigger integers could not survive the host anyway.
const CONTEXT: &str = r#"{"request_id": "abc-123", "request-id": "abc-123", "x_sentinel_ctx": {"n": 42, "f": 1.0, "z": null, "s": "\u00e9t\u00e9"}}"#;

/// The seed's chat request with sentinels at the top level, in messages, params and fallbacks.
const CHAT_REQUEST: &str = r#"{
    "provider": "openai",
    "model": "gpt-4",
    "input": [
      {"role": "system", "content": "Be brief.", "x_sentinel_msg0": {"keep": [1.0, null, -0.0]}},
      {"role": "user", "content": "Hello", "name": null, "x_sentinel_msg1": 98765432109876543210}
    ],
    "params": {
      "temperature": 0.7,
      "seed": 12345678901234567890123,
      "x_sentinel_param": [1.0, -0.0, 2.50, 1e3, 1E-7, -9223372036854775809],
      "x_sentinel_param_null": null
    },
    "fallbacks": [{"provider": "anthropic", "model": "claude-3-5-haiku", "x_sentinel_fallback": true}],
    "x_sentinel_top": {"nested": [null, true, "\u00e9t\u00e9 \ud83d\ude00 \"q\" \\ </script>"]}
  }"#;

/// The seed's chat response with sentinels in the choice, the message, usage and extra fields.
const CHAT_RESPONSE: &str = r#"{
    "id": "chatcmpl-123",
    "model": "gpt-4",
    "object": "chat.completion",
    "created": 1764000000,
    "choices": [{
      "index": 0,
      "finish_reason": "stop",
      "logprobs": null,
      "message": {"role": "assistant", "content": "Hi!", "refusal": null, "x_sentinel_message": [1.0, null]},
      "x_sentinel_choice": 98765432109876543210
    }],
    "usage": {"prompt_tokens": 5, "completion_tokens": 10, "total_tokens": 15, "x_sentinel_usage": {"cost": 5.85e-06}},
    "extra_fields": {"provider": "openai", "latency": 412, "x_sentinel_extra": 12345678901234567890123},
    "x_sentinel_response": {"nested": [null, true, "\u00e9t\u00e9"]}
  }"#;

/// A Bifrost error with sentinels (the `post_hook` error path).
const BIFROST_ERROR: &str = r#"{
    "is_bifrost_error": false,
    "status_code": 429,
    "error": {"message": "Rate limit exceeded", "type": "rate_limit", "code": "429", "x_sentinel_error_field": [1.0, null]},
    "extra_fields": {"provider": "openai", "x_sentinel_error_extra": 98765432109876543210},
    "x_sentinel_error": {"n": null}
  }"#;

/// An HTTP request with sentinels.
const HTTP_REQUEST: &str = r#"{
    "method": "POST",
    "path": "/v1/chat/completions",
    "headers": {"Content-Type": "application/json", "X-Request-Id": "abc-123"},
    "query": {"x_sentinel_query": "1"},
    "body": "eyJtb2RlbCI6ImdwdC00In0=",
    "path_params": null,
    "x_sentinel_http": {"n": 98765432109876543210, "f": 1.0}
  }"#;

/// A chat completion chunk with sentinels in the delta, the choice, the top level and extra fields.
const CHAT_CHUNK: &str = r#"{
    "id": "chatcmpl-123",
    "model": "gpt-4",
    "object": "chat.completion.chunk",
    "created": 1764000000,
    "system_fingerprint": null,
    "choices": [{
      "index": 0,
      "finish_reason": null,
      "logprobs": null,
      "delta": {"role": "assistant", "content": "Hi", "x_sentinel_delta": [1.10, null]},
      "x_sentinel_chunk_choice": 1.0
    }],
    "usage": null,
    "extra_fields": {"request_type": "chat_completion_stream", "chunk_index": 3, "x_sentinel_chunk_extra": 123456789012345678901},
    "x_sentinel_chunk": {"z": null}
  }"#;

/// Adds an envelope-level sentinel to a wrapped request or response object.
fn with_envelope_sentinel(wrapped: &str) -> String {
    let body = wrapped.trim_end();
    let body = body.strip_suffix('}').unwrap_or(body);
    format!("{body},\"x_sentinel_envelope\":{{\"v\":1.0,\"big\":98765432109876543210}}}}")
}

/// One lossless case: a label and the input document.
#[derive(Debug, Clone)]
pub struct LosslessCase {
    /// Which variant (`go-envelope`, `error path`, ...); empty when the hook has one case.
    pub variant: &'static str,
    /// The input document.
    pub input: String,
}

/// The lossless cases of `hook`.
pub fn lossless_cases(hook: Hook) -> Vec<LosslessCase> {
    let case = |variant, input| LosslessCase { variant, input };
    match hook {
        Hook::PreHook => RequestShape::ALL
            .into_iter()
            .map(|shape| {
                let request = match shape {
                    RequestShape::Flat => CHAT_REQUEST.to_string(),
                    _ => with_envelope_sentinel(&wrap_chat_request(CHAT_REQUEST, shape, false)),
                };
                case(
                    shape.name(),
                    format!("{{\"context\": {CONTEXT}, \"request\": {request}}}"),
                )
            })
            .collect(),
        Hook::PostHook => vec![
            case(
                "go-envelope",
                format!(
                    "{{\"context\": {CONTEXT}, \"response\": {}, \"error\": {{}}, \"has_error\": false}}",
                    with_envelope_sentinel(&wrap_chat_response(CHAT_RESPONSE, RequestShape::GoEnvelope))
                ),
            ),
            case(
                "snake",
                format!(
                    "{{\"context\": {CONTEXT}, \"response\": {}, \"error\": {{}}, \"has_error\": false}}",
                    with_envelope_sentinel(&wrap_chat_response(CHAT_RESPONSE, RequestShape::Snake))
                ),
            ),
            case(
                "error",
                format!(
                    "{{\"context\": {CONTEXT}, \"response\": null, \"error\": {BIFROST_ERROR}, \"has_error\": true}}"
                ),
            ),
        ],
        Hook::HttpPreHook => vec![case(
            "",
            format!("{{\"context\": {CONTEXT}, \"request\": {HTTP_REQUEST}}}"),
        )],
        Hook::HttpPostHook => vec![case(
            "",
            format!(
                "{{\"context\": {CONTEXT}, \"request\": {HTTP_REQUEST}, \"response\": {}}}",
                seed::HTTP_RESPONSE
            ),
        )],
        Hook::HttpStreamChunkHook => vec![case(
            "",
            format!("{{\"context\": {CONTEXT}, \"request\": {HTTP_REQUEST}, \"chunk\": {CHAT_CHUNK}}}"),
        )],
    }
}

/// One bad input.
#[derive(Debug, Clone)]
pub struct BadInput {
    /// Short name for the report.
    pub name: &'static str,
    /// The bytes sent.
    pub bytes: Vec<u8>,
    /// Whether a well-behaved hook must say in its error field that the input was bad
    /// (input that is not a JSON object at all). Inputs that a lenient plugin may reasonably
    /// read as "empty" do not require it.
    pub error_expected: bool,
}

/// Nesting depth of the deep-nesting input, counted from the envelope: Go's `encoding/json`
/// limit, so a Go host (Bifrost) reads the input, and an echo of it, and a plugin must too.
pub const DEEP_NESTING: usize = 10_000;

/// The bad-input corpus: each must give a valid output JSON object, never a trap.
pub fn bad_inputs() -> Vec<BadInput> {
    let bad = |name, bytes: Vec<u8>, error_expected| BadInput {
        name,
        bytes,
        error_expected,
    };
    let mut invalid_utf8 = br#"{"context": {"request_id": "abc-"#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    invalid_utf8.extend_from_slice(br#""}, "request": {"path": "/v1/"#);
    invalid_utf8.extend_from_slice(&[0xed, 0xa0, 0x80]);
    invalid_utf8.extend_from_slice(br#""}}"#);
    let deep = format!(
        "{{\"context\": {{\"request_id\": \"abc-123\", \"deep\": {}{}}}, \"request\": {{}}}}",
        // The envelope and the context are two of the levels.
        "[".repeat(DEEP_NESTING - 2),
        "]".repeat(DEEP_NESTING - 2)
    );
    vec![
        bad("empty", Vec::new(), true),
        bad("invalid UTF-8", invalid_utf8, false),
        bad("invalid JSON", br#"{"context": {"request_id": "abc-123"}, "request": "#.to_vec(), true),
        bad("null", b"null".to_vec(), false),
        bad("not an object", br#"["context", {"request_id": "abc-123"}]"#.to_vec(), true),
        bad(
            "wrong types",
            br#"{"context": "not-an-object", "request": 42, "response": [1], "error": 7, "has_error": "yes", "chunk": "x", "has_response": 1, "has_short_circuit": {}}"#
                .to_vec(),
            false,
        ),
        bad(
            "null fields",
            br#"{"context": null, "request": null, "response": null, "error": null, "has_error": null, "chunk": null}"#
                .to_vec(),
            false,
        ),
        bad("deep nesting", deep.into_bytes(), false),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

    #[test]
    fn every_lossless_case_is_valid_json_with_sentinels_in_the_payload() {
        for hook in Hook::ALL {
            for case in lossless_cases(hook) {
                let doc = json::parse(&case.input).unwrap_or_else(|e| panic!("{hook} {}: {e}", case.variant));
                let sentinels = doc.find_members(&|k| k.starts_with(SENTINEL_PREFIX));
                assert!(sentinels.len() >= 2, "{hook} {}", case.variant);
            }
        }
    }

    #[test]
    fn every_lossless_pre_hook_request_keeps_its_shape() {
        use bifrost_wasm_types::codec::{pre_hook, Envelope};
        use bifrost_wasm_types::shape::LlmRequest;
        for (case, shape) in lossless_cases(Hook::PreHook).iter().zip(RequestShape::ALL) {
            let envelope = Envelope::parse(Hook::PreHook, case.input.as_bytes()).unwrap();
            let raw = pre_hook::Input::read(&envelope).request.unwrap();
            let request = LlmRequest::new(bifrost_wasm_types::RawJson::from_validated(raw));
            assert_eq!(request.shape(), shape);
            assert_eq!(request.model().as_deref(), Some("gpt-4"));
        }
    }

    #[test]
    fn bad_inputs_are_really_bad() {
        for input in bad_inputs() {
            let valid_object = std::str::from_utf8(&input.bytes)
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(t).ok())
                .is_some();
            // Only the "null fields" and "wrong types" inputs are well-formed objects.
            assert_eq!(
                valid_object,
                matches!(input.name, "null fields" | "wrong types"),
                "{}",
                input.name
            );
        }
    }

    #[test]
    fn the_deep_input_is_as_deep_as_go_accepts_and_no_deeper() {
        use bifrost_wasm_types::scan;
        let deep = bad_inputs()
            .into_iter()
            .find(|b| b.name == "deep nesting")
            .unwrap();
        let text = std::str::from_utf8(&deep.bytes).unwrap();
        assert!(scan::validate(text).is_ok());
        let max_open = text
            .bytes()
            .scan(0i64, |depth, b| {
                *depth += match b {
                    b'{' | b'[' => 1,
                    b'}' | b']' => -1,
                    _ => 0,
                };
                Some(*depth)
            })
            .max();
        assert_eq!(max_open, Some(DEEP_NESTING as i64));
        let deeper = text
            .replacen("\"deep\": [", "\"deep\": [[", 1)
            .replacen("]}", "]]}", 1);
        assert!(scan::validate(&deeper).is_err());
    }
}
