//! The seed document's JSON examples, used literally as hook inputs.
//!
//! The seed shows inputs for `http_intercept`, `pre_hook` and `post_hook`. The other two hooks
//! have no example there; theirs are assembled from the seed's own pieces (its HTTP request,
//! the HTTP response of its `http_intercept` output, its chat response as a stream chunk) in
//! the envelopes upstream documents.

use bifrost_wasm_host::Hook;
use bifrost_wasm_types::shape::{wrap_chat_request, wrap_chat_response, RequestShape};

/// The seed's context.
pub const CONTEXT: &str = r#"{ "request_id": "abc-123" }"#;

/// The seed's context as `post_hook` receives it.
pub const POST_CONTEXT: &str = r#"{ "request_id": "abc-123", "plugin_processed": true }"#;

/// The seed's HTTP request (`http_intercept` input).
pub const HTTP_REQUEST: &str = r#"{
    "method": "POST",
    "path": "/v1/chat/completions",
    "headers": { "Content-Type": "application/json" },
    "query": {},
    "body": "<base64-encoded>"
  }"#;

/// The HTTP response of the seed's `http_intercept` output example.
pub const HTTP_RESPONSE: &str = r#"{ "status_code": 200, "headers": {}, "body": "<base64>" }"#;

/// The seed's flat chat request (`pre_hook` input).
pub const CHAT_REQUEST: &str = r#"{
    "provider": "openai",
    "model": "gpt-4",
    "input": [{ "role": "user", "content": "Hello" }],
    "params": { "temperature": 0.7 }
  }"#;

/// The seed's chat response (`post_hook` input).
pub const CHAT_RESPONSE: &str = r#"{
      "id": "chatcmpl-123",
      "model": "gpt-4",
      "choices": [{ "index": 0, "message": { "role": "assistant", "content": "Hi!" } }],
      "usage": { "prompt_tokens": 5, "completion_tokens": 10, "total_tokens": 15 }
    }"#;

/// The seed's chat response as one streamed chunk (`chat.completion.chunk`).
pub const CHAT_CHUNK: &str = r#"{
    "id": "chatcmpl-123",
    "model": "gpt-4",
    "object": "chat.completion.chunk",
    "choices": [{ "index": 0, "delta": { "role": "assistant", "content": "Hi!" }, "finish_reason": null }]
  }"#;

/// The example input of `hook`. `shape` lays out `pre_hook`'s request and `post_hook`'s
/// response (the seed's own layout is [`RequestShape::Flat`]: a flat request and a
/// `{"chat_response": …}` response); the HTTP hooks do not carry either.
pub fn example_input(hook: Hook, shape: RequestShape) -> String {
    match hook {
        Hook::HttpPreHook => format!("{{\n  \"context\": {CONTEXT},\n  \"request\": {HTTP_REQUEST}\n}}"),
        Hook::PreHook => format!(
            "{{\n  \"context\": {CONTEXT},\n  \"request\": {}\n}}",
            wrap_chat_request(CHAT_REQUEST, shape, false)
        ),
        Hook::PostHook => format!(
            "{{\n  \"context\": {POST_CONTEXT},\n  \"response\": {},\n  \"error\": {{}},\n  \"has_error\": false\n}}",
            wrap_chat_response(CHAT_RESPONSE, shape)
        ),
        Hook::HttpPostHook => format!(
            "{{\n  \"context\": {CONTEXT},\n  \"request\": {HTTP_REQUEST},\n  \"response\": {HTTP_RESPONSE}\n}}"
        ),
        Hook::HttpStreamChunkHook => {
            format!("{{\n  \"context\": {CONTEXT},\n  \"request\": {HTTP_REQUEST},\n  \"chunk\": {CHAT_CHUNK}\n}}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bifrost_wasm_types::codec::{post_hook, pre_hook, Envelope};
    use bifrost_wasm_types::shape::{LlmRequest, LlmResponse, ResponseShape};
    use bifrost_wasm_types::RawJson;

    fn request_of(text: &str) -> LlmRequest {
        let envelope = Envelope::parse(Hook::PreHook, text.as_bytes()).unwrap();
        LlmRequest::new(RawJson::from_validated(
            pre_hook::Input::read(&envelope).request.unwrap(),
        ))
    }

    fn response_of(text: &str) -> LlmResponse {
        let envelope = Envelope::parse(Hook::PostHook, text.as_bytes()).unwrap();
        let input = post_hook::Input::read(&envelope).unwrap();
        LlmResponse::new(RawJson::from_validated(input.response.unwrap()))
    }

    #[test]
    fn every_example_is_valid_json_in_every_shape() {
        for hook in Hook::ALL {
            for shape in RequestShape::ALL {
                let text = example_input(hook, shape);
                serde_json::from_str::<serde_json::Value>(&text)
                    .unwrap_or_else(|e| panic!("{hook} {shape}: {e}\n{text}"));
            }
        }
    }

    #[test]
    fn pre_hook_example_arrives_in_the_requested_shape() {
        for shape in RequestShape::ALL {
            let request = request_of(&example_input(Hook::PreHook, shape));
            assert_eq!(request.shape(), shape);
            assert_eq!(
                request.get_provider_model(),
                ("openai".to_string(), "gpt-4".to_string())
            );
        }
    }

    #[test]
    fn post_hook_example_uses_the_matching_response_shape() {
        let go = response_of(&example_input(Hook::PostHook, RequestShape::GoEnvelope));
        assert_eq!(go.shape(), ResponseShape::GoEnvelope);
        let seed = response_of(&example_input(Hook::PostHook, RequestShape::Flat));
        assert_eq!(seed.shape(), ResponseShape::Snake);
        assert_eq!(seed.chat_field::<String>("model").as_deref(), Some("gpt-4"));
    }
}
