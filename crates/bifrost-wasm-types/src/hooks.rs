//! Input and output envelopes of every hook.
//!
//! Payloads stay raw JSON ([`RawJson`], [`LlmRequest`], [`LlmResponse`]) so a hook that does not
//! change them returns them byte for byte. Every envelope is `Serialize + Deserialize`: the
//! guest decodes inputs and encodes outputs, the host does the opposite. Decoding tolerates
//! `null` and missing members; an output's `null` payload means "unchanged".
//!
//! | export | input | output |
//! |---|---|---|
//! | `http_pre_hook` (`http_intercept`) | [`HttpPreHookInput`] | [`HttpPreHookOutput`] |
//! | `http_post_hook` | [`HttpPostHookInput`] | [`HttpPostHookOutput`] |
//! | `http_stream_chunk_hook` | [`StreamChunkInput`] | [`StreamChunkOutput`] |
//! | `pre_hook` | [`PreHookInput`] | [`PreHookOutput`] |
//! | `post_hook` | [`PostHookInput`] | [`PostHookOutput`] |

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::chat::BifrostChatRequest;
use crate::context::BifrostContext;
use crate::de::null_default;
use crate::error::BifrostError;
use crate::http::{HTTPRequest, HTTPResponse};
use crate::raw::{JsonError, JsonKind, RawJson};
use crate::response::{BifrostChatResponse, BifrostResponse};
use crate::shape::{short_circuit_json, LlmRequest, LlmResponse, RequestShape, ShortCircuitParts};

/// A string field that tolerates `null` (→ empty) and non-strings (→ their JSON text), so a
/// plugin that writes `"error": {"message": …}` still has its error seen.
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
    })
}

/// Output payloads: `null` or absent → `None` ("unchanged").
fn raw_or_none<'de, D: Deserializer<'de>, T: From<RawJson>>(d: D) -> Result<Option<T>, D::Error> {
    let raw = Option::<RawJson>::deserialize(d)?;
    Ok(raw.filter(|r| !r.is_null()).map(T::from))
}

impl From<RawJson> for LlmRequest {
    fn from(raw: RawJson) -> Self {
        LlmRequest::new(raw)
    }
}

impl From<RawJson> for LlmResponse {
    fn from(raw: RawJson) -> Self {
        LlmResponse::new(raw)
    }
}

/// Input of `http_pre_hook` / `http_intercept`: the raw HTTP request before Bifrost parses it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HttpPreHookInput {
    /// The request context.
    #[serde(default)]
    pub context: BifrostContext,
    /// The HTTP request (JSON of [`HTTPRequest`]).
    #[serde(default)]
    pub request: RawJson,
}

impl HttpPreHookInput {
    /// The typed HTTP request.
    pub fn http_request(&self) -> Result<HTTPRequest, JsonError> {
        self.request.parse()
    }

    /// Continue unchanged.
    pub fn pass_through(self) -> HttpPreHookOutput {
        HttpPreHookOutput {
            context: self.context,
            request: Some(self.request),
            ..Default::default()
        }
    }

    /// Answer the client directly with `response`; no later plugin or provider runs.
    pub fn respond(self, response: &HTTPResponse) -> Result<HttpPreHookOutput, JsonError> {
        Ok(HttpPreHookOutput {
            context: self.context,
            request: None,
            response: Some(RawJson::from_serialize(response)?),
            has_response: true,
            error: String::new(),
        })
    }
}

/// Output of `http_pre_hook` / `http_intercept`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HttpPreHookOutput {
    /// The context, with this plugin's additions.
    #[serde(default)]
    pub context: BifrostContext,
    /// The (possibly modified) request; `None`/`null` means unchanged.
    #[serde(default, deserialize_with = "raw_or_none")]
    pub request: Option<RawJson>,
    /// The response to answer with when `has_response` is true.
    #[serde(default, deserialize_with = "raw_or_none")]
    pub response: Option<RawJson>,
    /// True when the plugin answers the request itself.
    #[serde(default, deserialize_with = "null_default")]
    pub has_response: bool,
    /// Non-empty when the hook failed; Bifrost answers with an error response.
    #[serde(default, deserialize_with = "lenient_string")]
    pub error: String,
}

/// Input of `http_post_hook` (non-streaming responses only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HttpPostHookInput {
    /// The request context.
    #[serde(default)]
    pub context: BifrostContext,
    /// The HTTP request.
    #[serde(default)]
    pub request: RawJson,
    /// The HTTP response about to be sent.
    #[serde(default)]
    pub response: RawJson,
}

impl HttpPostHookInput {
    /// The typed HTTP request.
    pub fn http_request(&self) -> Result<HTTPRequest, JsonError> {
        self.request.parse()
    }

    /// The typed HTTP response.
    pub fn http_response(&self) -> Result<HTTPResponse, JsonError> {
        self.response.parse()
    }

    /// Continue unchanged.
    pub fn pass_through(self) -> HttpPostHookOutput {
        HttpPostHookOutput {
            context: self.context,
            error: String::new(),
        }
    }
}

/// Output of `http_post_hook`. It cannot change the response: record things in the context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HttpPostHookOutput {
    /// The context, with this plugin's additions.
    #[serde(default)]
    pub context: BifrostContext,
    /// Non-empty when the hook failed.
    #[serde(default, deserialize_with = "lenient_string")]
    pub error: String,
}

/// Input of `http_stream_chunk_hook`, called once per streamed chunk, before it is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StreamChunkInput {
    /// The request context.
    #[serde(default)]
    pub context: BifrostContext,
    /// The HTTP request.
    #[serde(default)]
    pub request: RawJson,
    /// The chunk: a JSON object (a chat completion chunk, or an error), without SSE framing.
    #[serde(default)]
    pub chunk: RawJson,
}

impl StreamChunkInput {
    /// The chunk as a typed chat completion chunk.
    pub fn chat_chunk(&self) -> Result<BifrostChatResponse, JsonError> {
        self.chunk.parse()
    }

    /// Send the chunk unchanged.
    pub fn pass_through(self) -> StreamChunkOutput {
        let has_chunk = !self.chunk.is_null();
        StreamChunkOutput {
            context: self.context,
            chunk: Some(self.chunk),
            has_chunk,
            skip: false,
            error: String::new(),
        }
    }

    /// Drop this chunk: the client never sees it.
    pub fn skip(self) -> StreamChunkOutput {
        StreamChunkOutput {
            context: self.context,
            chunk: None,
            has_chunk: false,
            skip: true,
            error: String::new(),
        }
    }

    /// Send `chunk` instead.
    pub fn replace(self, chunk: RawJson) -> StreamChunkOutput {
        StreamChunkOutput {
            context: self.context,
            chunk: Some(chunk),
            has_chunk: true,
            skip: false,
            error: String::new(),
        }
    }
}

/// Output of `http_stream_chunk_hook`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StreamChunkOutput {
    /// The context, with this plugin's additions.
    #[serde(default)]
    pub context: BifrostContext,
    /// The chunk to send (when `has_chunk`).
    #[serde(default, deserialize_with = "raw_or_none")]
    pub chunk: Option<RawJson>,
    /// True when `chunk` carries the chunk to send.
    #[serde(default, deserialize_with = "null_default")]
    pub has_chunk: bool,
    /// True to drop the chunk.
    #[serde(default, deserialize_with = "null_default")]
    pub skip: bool,
    /// Non-empty when the hook failed: with a chunk, logged; without, the stream ends.
    #[serde(default, deserialize_with = "lenient_string")]
    pub error: String,
}

/// Input of `pre_hook`: the parsed LLM request, before the provider is called.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreHookInput {
    /// The request context.
    #[serde(default)]
    pub context: BifrostContext,
    /// The request, in whichever shape the host sends (see [`crate::shape`]).
    #[serde(default = "null_request")]
    pub request: LlmRequest,
}

fn null_request() -> LlmRequest {
    LlmRequest::new(RawJson::null())
}

impl PreHookInput {
    /// `(provider, model)` of the request; empty strings when absent.
    pub fn get_provider_model(&self) -> (String, String) {
        self.request.get_provider_model()
    }

    /// The typed chat request, if this is a chat request.
    pub fn chat_request(&self) -> Option<Result<BifrostChatRequest, JsonError>> {
        self.request.chat()
    }

    /// Continue with the request unchanged.
    pub fn pass_through(self) -> PreHookOutput {
        PreHookOutput {
            context: self.context,
            request: Some(self.request),
            short_circuit: None,
            has_short_circuit: false,
            error: String::new(),
        }
    }

    /// Answer with `response` instead of calling the provider; written in the response shape
    /// that matches the request's shape.
    pub fn short_circuit_response(self, response: &BifrostChatResponse) -> Result<PreHookOutput, JsonError> {
        let shape = self.request.shape();
        let resp = LlmResponse::from_chat(response, shape)?;
        let sc = short_circuit_json(Some(resp.as_str()), None, shape);
        Ok(self.short_circuit_raw(RawJson::from_string(sc)?))
    }

    /// Answer with the seed's typed [`BifrostResponse`] instead of calling the provider.
    pub fn short_circuit_typed(self, response: &BifrostResponse) -> Result<PreHookOutput, JsonError> {
        let shape = self.request.shape();
        let resp = LlmResponse::from_typed(response, shape)?;
        let sc = short_circuit_json(Some(resp.as_str()), None, shape);
        Ok(self.short_circuit_raw(RawJson::from_string(sc)?))
    }

    /// Fail the request with `error` instead of calling the provider.
    pub fn short_circuit_error(self, error: &BifrostError) -> Result<PreHookOutput, JsonError> {
        let shape = self.request.shape();
        let err = RawJson::from_serialize(error)?;
        let sc = short_circuit_json(None, Some(err.as_str()), shape);
        Ok(self.short_circuit_raw(RawJson::from_string(sc)?))
    }

    fn short_circuit_raw(self, short_circuit: RawJson) -> PreHookOutput {
        PreHookOutput {
            context: self.context,
            request: None,
            short_circuit: Some(short_circuit),
            has_short_circuit: true,
            error: String::new(),
        }
    }
}

/// Output of `pre_hook`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PreHookOutput {
    /// The context, with this plugin's additions.
    #[serde(default)]
    pub context: BifrostContext,
    /// The (possibly modified) request; `None`/`null` means unchanged.
    #[serde(default, deserialize_with = "raw_or_none")]
    pub request: Option<LlmRequest>,
    /// What to answer with when `has_short_circuit` (see [`ShortCircuitParts`]).
    #[serde(default, deserialize_with = "raw_or_none")]
    pub short_circuit: Option<RawJson>,
    /// True when the plugin answers instead of the provider.
    #[serde(default, deserialize_with = "null_default")]
    pub has_short_circuit: bool,
    /// Non-empty when the hook failed; Bifrost logs it and continues.
    #[serde(default, deserialize_with = "lenient_string")]
    pub error: String,
}

impl PreHookOutput {
    /// The short-circuit split into response and error, if the plugin short-circuited.
    pub fn short_circuit_parts(&self) -> Option<Result<ShortCircuitParts, JsonError>> {
        if !self.has_short_circuit {
            return None;
        }
        self.short_circuit
            .as_ref()
            .map(|sc| ShortCircuitParts::parse(sc.as_str()))
    }
}

/// Input of `post_hook`: the provider's response or error (or a short-circuit's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostHookInput {
    /// The request context.
    #[serde(default)]
    pub context: BifrostContext,
    /// The response (`null` when there is only an error).
    #[serde(default = "null_response")]
    pub response: LlmResponse,
    /// The error (`{}` or `null` when there is none: `has_error` is the flag that counts).
    #[serde(default)]
    pub error: RawJson,
    /// True when `error` holds an error.
    #[serde(default, deserialize_with = "null_default")]
    pub has_error: bool,
}

fn null_response() -> LlmResponse {
    LlmResponse::new(RawJson::null())
}

impl PostHookInput {
    /// The seed's typed response view (`None` when there is no response object).
    pub fn parse_response(&self) -> Option<BifrostResponse> {
        if !self.response.raw().is_object() {
            return None;
        }
        self.response.to_typed().ok()
    }

    /// The typed error, when `has_error` and it parses.
    pub fn parse_error(&self) -> Option<BifrostError> {
        if !self.has_error || !self.error.is_object() {
            return None;
        }
        self.error.parse().ok()
    }

    /// The error's message (`error.message`), when `has_error`; read without parsing the rest.
    pub fn error_message(&self) -> Option<String> {
        if !self.has_error {
            return None;
        }
        self.error
            .get_path(&["error", "message"])
            .and_then(crate::scan::string_value)
            .map(std::borrow::Cow::into_owned)
    }

    /// Replaces the error's message (`error.message`), splicing it in.
    pub fn set_error_message(&mut self, message: &str) -> Result<(), JsonError> {
        if !self.error.is_object() {
            self.error = RawJson::empty_object();
        }
        self.error.set_path(&["error", "message"], message)
    }

    /// Continue unchanged: response, error and `has_error` echoed.
    pub fn pass_through(self) -> PostHookOutput {
        PostHookOutput {
            context: self.context,
            response: Some(self.response),
            error: Some(self.error),
            has_error: self.has_error,
            hook_error: String::new(),
        }
    }
}

/// Output of `post_hook`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PostHookOutput {
    /// The context, with this plugin's additions.
    #[serde(default)]
    pub context: BifrostContext,
    /// The (possibly modified) response.
    #[serde(default, deserialize_with = "raw_or_none")]
    pub response: Option<LlmResponse>,
    /// The (possibly modified) error.
    #[serde(default, deserialize_with = "raw_or_none")]
    pub error: Option<RawJson>,
    /// True when the request ends in `error`.
    #[serde(default, deserialize_with = "null_default")]
    pub has_error: bool,
    /// Non-empty when the hook itself failed; Bifrost logs it and continues.
    #[serde(default, deserialize_with = "lenient_string")]
    pub hook_error: String,
}

impl PostHookOutput {
    /// Replaces the error with `error` and sets `has_error`.
    pub fn set_error(&mut self, error: &BifrostError) -> Result<(), JsonError> {
        self.error = Some(RawJson::from_serialize(error)?);
        self.has_error = true;
        Ok(())
    }
}

/// Checks that a payload is an object (or, when `allow_null`, null) and says what it was.
pub fn expect_object(what: &str, raw: &RawJson, allow_null: bool) -> Result<(), String> {
    match raw.kind() {
        JsonKind::Object => Ok(()),
        JsonKind::Null if allow_null => Ok(()),
        other => Err(format!("{what} must be a JSON object, found {}", other.name())),
    }
}

/// The request shape a response written by a plugin should use, given the request it answers.
pub fn response_shape_for(request: &LlmRequest) -> RequestShape {
    request.shape()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn seed_post_hook_input_parses_with_empty_error_object() {
        let input: PostHookInput = serde_json::from_value(json!({
            "context": { "request_id": "abc-123", "plugin_processed": true },
            "response": {
                "chat_response": {
                    "id": "chatcmpl-123",
                    "model": "gpt-4",
                    "choices": [{ "index": 0, "message": { "role": "assistant", "content": "Hi!" } }],
                    "usage": { "prompt_tokens": 5, "completion_tokens": 10, "total_tokens": 15 }
                }
            },
            "error": {},
            "has_error": false
        }))
        .unwrap();
        assert!(input.parse_error().is_none());
        let resp = input.parse_response().unwrap();
        assert_eq!(resp.chat_response.unwrap().usage.unwrap().total_tokens, 15);
    }

    #[test]
    fn outputs_treat_null_payloads_as_unchanged_and_lenient_errors() {
        let out: PreHookOutput = serde_json::from_value(json!({
            "context": null, "request": null, "short_circuit": null, "has_short_circuit": null, "error": {"message": "x"}
        }))
        .unwrap();
        assert!(out.request.is_none() && out.short_circuit.is_none() && !out.has_short_circuit);
        assert_eq!(out.error, r#"{"message":"x"}"#);
    }

    #[test]
    fn pass_through_output_echoes_payload_bytes() {
        let text = r#"{"context":{"request_id":"r"},"request":{"model":"m","n":123456789012345678901234567890,"x":1.0}}"#;
        let input: PreHookInput = serde_json::from_str(text).unwrap();
        let out = serde_json::to_string(&input.pass_through()).unwrap();
        assert!(
            out.contains(r#""request":{"model":"m","n":123456789012345678901234567890,"x":1.0}"#),
            "{out}"
        );
    }

    #[test]
    fn short_circuit_mirrors_request_shape() {
        let go: PreHookInput = serde_json::from_value(json!({
            "context": {}, "request": {"RequestType": "chat_completion", "ChatRequest": {"provider": "openai", "model": "mock-model", "input": []}}
        }))
        .unwrap();
        let out = go
            .short_circuit_response(&BifrostChatResponse {
                id: "x".into(),
                ..Default::default()
            })
            .unwrap();
        let v: Value = serde_json::to_value(&out).unwrap();
        assert_eq!(v["short_circuit"]["Response"]["ChatResponse"]["id"], "x");
        let flat: PreHookInput =
            serde_json::from_value(json!({"context": {}, "request": {"model": "mock-model", "input": []}}))
                .unwrap();
        let out = flat
            .short_circuit_response(&BifrostChatResponse {
                id: "y".into(),
                ..Default::default()
            })
            .unwrap();
        let v: Value = serde_json::to_value(&out).unwrap();
        assert_eq!(v["short_circuit"]["response"]["chat_response"]["id"], "y");
        assert_eq!(v["has_short_circuit"], true);
    }
}
