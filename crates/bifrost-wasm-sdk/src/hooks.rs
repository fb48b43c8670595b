//! What each hook receives and returns, as a plugin sees it.
//!
//! Every input is a view over the JSON the host sent: the [`BifrostContext`] and the payloads
//! ([`RawJson`], [`LlmRequest`], [`LlmResponse`], [`LlmError`]) share the input's bytes, and
//! nothing is parsed until the hook reads it. Every input has a `pass_through()` that returns
//! the payloads exactly as received; the other constructors (`short_circuit_error`,
//! `respond`, `skip`, `fail`, ...) build the other answers Bifrost allows, and cannot fail.
//!
//! | export | input | output |
//! |---|---|---|
//! | `http_pre_hook` (`http_intercept`) | [`HttpPreHookInput`] | [`HttpPreHookOutput`] |
//! | `http_post_hook` | [`HttpPostHookInput`] | [`HttpPostHookOutput`] |
//! | `http_stream_chunk_hook` | [`StreamChunkInput`] | [`StreamChunkOutput`] |
//! | `pre_hook` | [`PreHookInput`] | [`PreHookOutput`] |
//! | `post_hook` | [`PostHookInput`] | [`PostHookOutput`] |

use std::borrow::Cow;

use crate::context::BifrostContext;
use crate::types::error::{BifrostError, LlmError};
use crate::types::http::{HttpRequest, HttpResponse};
use crate::types::raw::{JsonError, JsonKind};
use crate::types::response::{BifrostChatResponse, BifrostResponse};
use crate::types::shape::{short_circuit_json, wrap_chat_response, wrap_response, LlmRequest, LlmResponse};
use crate::types::{scan, BifrostChatRequest, RawJson};

/// The string member `name` of the object `raw` (`None` if absent or not a string).
fn string_member(raw: &RawJson, name: &str) -> Option<String> {
    raw.get(name).and_then(scan::string_value).map(Cow::into_owned)
}

/// The value of `name` in the string map `map_key` of an HTTP request or response, matching
/// the name ASCII-case-insensitively (header and query names keep the client's casing).
fn map_lookup(raw: &RawJson, map_key: &str, name: &str) -> Option<String> {
    let map = raw.get(map_key)?;
    let mut found = None;
    for m in scan::Members::new(map) {
        if m.key_is_ignore_case(name) {
            found = scan::string_value(m.value);
            if m.key_is(name) {
                break;
            }
        }
    }
    found.map(Cow::into_owned)
}

/// Reading an HTTP request (`http_pre_hook`, `http_post_hook`, `http_stream_chunk_hook`)
/// member by member, without decoding the rest (a base64 body can be large).
pub trait HttpRequestView {
    /// The raw `HTTPRequest` JSON.
    fn raw_request(&self) -> &RawJson;

    /// The HTTP method, e.g. `POST`.
    fn method(&self) -> Option<String> {
        string_member(self.raw_request(), "method")
    }

    /// The request path, e.g. `/v1/chat/completions`.
    fn path(&self) -> Option<String> {
        string_member(self.raw_request(), "path")
    }

    /// A header by name, ignoring ASCII case.
    fn header(&self, name: &str) -> Option<String> {
        map_lookup(self.raw_request(), "headers", name)
    }

    /// A query parameter by name, ignoring ASCII case.
    fn query_param(&self, name: &str) -> Option<String> {
        map_lookup(self.raw_request(), "query", name)
    }

    /// The whole typed request (decodes every member).
    fn http_request(&self) -> Result<HttpRequest, JsonError> {
        self.raw_request().parse()
    }
}

/// Input of `http_pre_hook` (also exported as `http_intercept`): the HTTP request before
/// Bifrost parses it.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpPreHookInput {
    /// The request context.
    pub context: BifrostContext,
    /// The HTTP request (`HTTPRequest` JSON: method, path, headers, query, base64 body).
    pub request: RawJson,
}

impl HttpRequestView for HttpPreHookInput {
    fn raw_request(&self) -> &RawJson {
        &self.request
    }
}

impl HttpPreHookInput {
    /// Continue with the request unchanged.
    pub fn pass_through(self) -> HttpPreHookOutput {
        HttpPreHookOutput {
            context: self.context,
            request: Some(self.request),
            response: None,
            has_response: false,
            error: String::new(),
        }
    }

    /// Continue with `request` instead (later plugins and Bifrost see it).
    pub fn with_request(self, request: &HttpRequest) -> HttpPreHookOutput {
        HttpPreHookOutput {
            context: self.context,
            request: Some(to_raw(request)),
            response: None,
            has_response: false,
            error: String::new(),
        }
    }

    /// Answer the client with `response` at once; no later plugin and no provider runs.
    pub fn respond(self, response: &HttpResponse) -> HttpPreHookOutput {
        HttpPreHookOutput {
            context: self.context,
            request: None,
            response: Some(to_raw(response)),
            has_response: true,
            error: String::new(),
        }
    }
}

/// Output of `http_pre_hook` / `http_intercept`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpPreHookOutput {
    /// The context, with this plugin's additions.
    pub context: BifrostContext,
    /// The request to continue with; `None` (written `null`) means unchanged.
    pub request: Option<RawJson>,
    /// The response to answer with when `has_response`.
    pub response: Option<RawJson>,
    /// True when the plugin answers the request itself.
    pub has_response: bool,
    /// Non-empty when the hook failed: Bifrost answers with an error.
    pub error: String,
}

/// Input of `http_post_hook`: the HTTP response of a non-streaming request, about to be
/// sent. The response cannot be changed here; record what you saw in the context.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpPostHookInput {
    /// The request context.
    pub context: BifrostContext,
    /// The HTTP request.
    pub request: RawJson,
    /// The HTTP response (`HTTPResponse` JSON: status_code, headers, base64 body).
    pub response: RawJson,
}

impl HttpRequestView for HttpPostHookInput {
    fn raw_request(&self) -> &RawJson {
        &self.request
    }
}

impl HttpPostHookInput {
    /// The response's status code.
    pub fn status_code(&self) -> Option<i64> {
        self.response.get("status_code")?.parse().ok()
    }

    /// A response header by name, ignoring ASCII case.
    pub fn response_header(&self, name: &str) -> Option<String> {
        map_lookup(&self.response, "headers", name)
    }

    /// The whole typed response.
    pub fn http_response(&self) -> Result<HttpResponse, JsonError> {
        self.response.parse()
    }

    /// Continue.
    pub fn pass_through(self) -> HttpPostHookOutput {
        HttpPostHookOutput {
            context: self.context,
            error: String::new(),
        }
    }
}

/// Output of `http_post_hook`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpPostHookOutput {
    /// The context, with this plugin's additions.
    pub context: BifrostContext,
    /// Non-empty when the hook failed: Bifrost answers with an error.
    pub error: String,
}

/// Input of `http_stream_chunk_hook`, called once per streamed chunk before it is sent, in
/// reverse plugin order.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamChunkInput {
    /// The request context.
    pub context: BifrostContext,
    /// The HTTP request.
    pub request: RawJson,
    /// The chunk: a JSON object (a chat completion chunk, or an error) without SSE framing.
    pub chunk: RawJson,
}

impl HttpRequestView for StreamChunkInput {
    fn raw_request(&self) -> &RawJson {
        &self.request
    }
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
#[derive(Debug, Clone, PartialEq)]
pub struct StreamChunkOutput {
    /// The context, with this plugin's additions.
    pub context: BifrostContext,
    /// The chunk to send (when `has_chunk`).
    pub chunk: Option<RawJson>,
    /// True when `chunk` carries the chunk to send.
    pub has_chunk: bool,
    /// True to drop the chunk.
    pub skip: bool,
    /// Non-empty when the hook failed: with a chunk, logged; without, the stream ends.
    pub error: String,
}

/// Input of `pre_hook`: the LLM request before the provider is called.
#[derive(Debug, Clone, PartialEq)]
pub struct PreHookInput {
    /// The request context.
    pub context: BifrostContext,
    /// The request, in whichever shape the host sends (see [`crate::types::shape`]).
    pub request: LlmRequest,
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

    /// Continue with the request (unchanged, or as edited through [`PreHookInput::request`]).
    pub fn pass_through(self) -> PreHookOutput {
        PreHookOutput {
            context: self.context,
            request: Some(self.request),
            short_circuit: None,
            has_short_circuit: false,
            error: String::new(),
        }
    }

    /// Answer with `response` instead of calling the provider, written in the response
    /// shape that matches the request's shape.
    pub fn short_circuit_response(self, response: &BifrostChatResponse) -> PreHookOutput {
        match LlmResponse::from_chat(response, self.request.shape()) {
            Ok(shaped) => self.short_circuit_with(shaped),
            Err(e) => self.unwritable("response", e),
        }
    }

    /// Answer with the seed's typed [`BifrostResponse`] instead of calling the provider.
    pub fn short_circuit_typed(self, response: &BifrostResponse) -> PreHookOutput {
        match LlmResponse::from_typed(response, self.request.shape()) {
            Ok(shaped) => self.short_circuit_with(shaped),
            Err(e) => self.unwritable("response", e),
        }
    }

    /// Answer with a response that is already in its wire shape.
    pub fn short_circuit_with(self, response: LlmResponse) -> PreHookOutput {
        let sc = short_circuit_json(Some(response.as_str()), None, self.request.shape());
        self.short_circuit_raw(RawJson::from_validated(sc))
    }

    /// Answer with a chat completion response given as raw JSON text (for example one kept
    /// from an earlier `post_hook`), byte for byte, wrapped in the response and
    /// short-circuit shape that matches the request's shape. Errors when `chat` is not a JSON
    /// object.
    pub fn short_circuit_with_chat(self, chat: &str) -> Result<PreHookOutput, JsonError> {
        if JsonKind::of(chat) != JsonKind::Object || scan::validate(chat).is_err() {
            return Err(JsonError(format!(
                "a chat response must be a JSON object, found {}",
                JsonKind::of(chat).name()
            )));
        }
        let response = wrap_chat_response(chat, self.request.shape());
        Ok(self.short_circuit_with(LlmResponse::new(RawJson::from_validated(response))))
    }

    /// Answer with a response of the request's own kind, given as the JSON text of the inner
    /// (flat) response object — a text completion, a Responses response, an embedding list,
    /// ... — byte for byte, wrapped in the response member of that kind
    /// (`TextCompletionResponse` / `text_completion_response`, ...) and the short-circuit
    /// shape that match the request's shape. Errors when `inner` is not a JSON object or the
    /// request's kind has no response member (an unknown kind).
    pub fn short_circuit_with_inner(self, inner: &str) -> Result<PreHookOutput, JsonError> {
        if JsonKind::of(inner) != JsonKind::Object || scan::validate(inner).is_err() {
            return Err(JsonError(format!(
                "a response must be a JSON object, found {}",
                JsonKind::of(inner).name()
            )));
        }
        let kind = self.request.kind();
        if kind.go_response_member(false).is_none() {
            // The kind's name as received, not `{:?}` (Debug string escaping would link
            // Unicode tables into every plugin that calls this).
            return Err(JsonError(format!(
                "no response member for a request of kind `{}`",
                kind.request_type(false)
            )));
        }
        let response = wrap_response(inner, &kind, self.request.shape(), false);
        Ok(self.short_circuit_with(LlmResponse::new(RawJson::from_validated(response))))
    }

    /// Fail the request with `error` instead of calling the provider.
    pub fn short_circuit_error(self, error: &BifrostError) -> PreHookOutput {
        let error = error.to_raw();
        let sc = short_circuit_json(None, Some(error.as_str()), self.request.shape());
        self.short_circuit_raw(RawJson::from_validated(sc))
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

    /// A typed value that cannot be written as JSON (a custom `Serialize` failed): the
    /// request continues and the hook reports why.
    fn unwritable(self, what: &str, e: JsonError) -> PreHookOutput {
        let mut out = self.pass_through();
        out.error = format!("the short-circuit {what} cannot be written as JSON: {e}");
        out
    }
}

/// Output of `pre_hook`.
#[derive(Debug, Clone, PartialEq)]
pub struct PreHookOutput {
    /// The context, with this plugin's additions.
    pub context: BifrostContext,
    /// The request to continue with; `None` (written `null`) means unchanged.
    pub request: Option<LlmRequest>,
    /// What to answer with when `has_short_circuit`.
    pub short_circuit: Option<RawJson>,
    /// True when the plugin answers instead of the provider.
    pub has_short_circuit: bool,
    /// Non-empty when the hook failed: Bifrost logs it and continues.
    pub error: String,
}

/// What a request ended in, as `post_hook` sees it: the provider's (or a short-circuit's)
/// response, or an error.
#[derive(Debug, Clone, PartialEq)]
pub enum LlmResult {
    /// The request has a response.
    Response(LlmResponse),
    /// The request failed.
    Error(LlmError),
}

impl LlmResult {
    /// The response, if the request has one.
    pub fn response(&self) -> Option<&LlmResponse> {
        match self {
            LlmResult::Response(r) => Some(r),
            LlmResult::Error(_) => None,
        }
    }

    /// The error, if the request failed.
    pub fn error(&self) -> Option<&LlmError> {
        match self {
            LlmResult::Error(e) => Some(e),
            LlmResult::Response(_) => None,
        }
    }

    /// True when the request failed.
    pub fn is_error(&self) -> bool {
        matches!(self, LlmResult::Error(_))
    }
}

/// Input of `post_hook`: the response or error, in reverse plugin order.
#[derive(Debug, Clone, PartialEq)]
pub struct PostHookInput {
    /// The request context.
    pub context: BifrostContext,
    /// The response or the error.
    pub result: LlmResult,
    /// The wire member `result` does not describe (`error` beside a response, usually `{}`;
    /// `response` beside an error, usually `null`), echoed as received.
    other: RawJson,
}

impl PostHookInput {
    pub(crate) fn new(context: BifrostContext, result: LlmResult, other: RawJson) -> Self {
        PostHookInput {
            context,
            result,
            other,
        }
    }

    /// True when the request failed.
    pub fn has_error(&self) -> bool {
        self.result.is_error()
    }

    /// The `response` and `error` members as they arrived.
    pub(crate) fn payloads(&self) -> (&RawJson, &RawJson) {
        match &self.result {
            LlmResult::Response(r) => (r.raw(), &self.other),
            LlmResult::Error(e) => (&self.other, e.raw()),
        }
    }

    /// The response, if the request has one.
    pub fn response(&self) -> Option<&LlmResponse> {
        self.result.response()
    }

    /// The response, to edit in place.
    pub fn response_mut(&mut self) -> Option<&mut LlmResponse> {
        match &mut self.result {
            LlmResult::Response(r) => Some(r),
            LlmResult::Error(_) => None,
        }
    }

    /// The error, if the request failed.
    pub fn error(&self) -> Option<&LlmError> {
        self.result.error()
    }

    /// The error, to edit in place.
    pub fn error_mut(&mut self) -> Option<&mut LlmError> {
        match &mut self.result {
            LlmResult::Error(e) => Some(e),
            LlmResult::Response(_) => None,
        }
    }

    /// The seed's typed response view (`None` when the request failed or the response
    /// does not parse).
    pub fn parse_response(&self) -> Option<BifrostResponse> {
        self.response()?.to_typed().ok()
    }

    /// The typed error, when the request failed and the error parses.
    pub fn parse_error(&self) -> Option<BifrostError> {
        self.error()?.to_typed().ok()
    }

    /// The error's message (`error.message`), when the request failed.
    pub fn error_message(&self) -> Option<String> {
        self.error()?.message()
    }

    /// Replaces the error's message, when the request failed (otherwise does nothing).
    pub fn set_error_message(&mut self, message: &str) {
        if let Some(e) = self.error_mut() {
            e.set_message(message);
        }
    }

    /// Continue with the result (unchanged, or as edited in place).
    pub fn pass_through(self) -> PostHookOutput {
        PostHookOutput {
            context: self.context,
            result: self.result,
            other: Some(self.other),
            hook_error: String::new(),
        }
    }

    /// Recover: answer with `response` instead of the error (or replace the response).
    pub fn recover(self, response: &BifrostChatResponse) -> PostHookOutput {
        let shape = match &self.result {
            LlmResult::Response(r) => r.shape(),
            LlmResult::Error(_) => crate::types::shape::ResponseShape::Snake,
        };
        let request_shape = match shape {
            crate::types::shape::ResponseShape::GoEnvelope => crate::types::RequestShape::GoEnvelope,
            _ => crate::types::RequestShape::Snake,
        };
        match LlmResponse::from_chat(response, request_shape) {
            Ok(r) => self.recover_with(r),
            Err(e) => {
                let mut out = self.pass_through();
                out.hook_error = format!("the recovered response cannot be written as JSON: {e}");
                out
            }
        }
    }

    /// Recover with a response already in its wire shape.
    pub fn recover_with(self, response: LlmResponse) -> PostHookOutput {
        PostHookOutput {
            context: self.context,
            result: LlmResult::Response(response),
            other: None,
            hook_error: String::new(),
        }
    }

    /// Fail the request with `error` (turning a response into an error, or replacing the
    /// error).
    pub fn fail(self, error: &BifrostError) -> PostHookOutput {
        PostHookOutput {
            context: self.context,
            result: LlmResult::Error(LlmError::from_error(error)),
            other: None,
            hook_error: String::new(),
        }
    }
}

/// Output of `post_hook`.
#[derive(Debug, Clone, PartialEq)]
pub struct PostHookOutput {
    /// The context, with this plugin's additions.
    pub context: BifrostContext,
    /// The (possibly changed) response or error.
    pub result: LlmResult,
    /// The wire member `result` does not describe, when echoed from the input.
    pub(crate) other: Option<RawJson>,
    /// Non-empty when the hook itself failed: Bifrost logs it and continues.
    pub hook_error: String,
}

impl PostHookOutput {
    /// Replaces the result with `error`.
    pub fn set_error(&mut self, error: &BifrostError) {
        self.result = LlmResult::Error(LlmError::from_error(error));
        self.other = None;
    }
}

/// A typed value as raw JSON. The wire types cannot fail to serialize; should a custom type
/// fail, the value is `null` (the hook's answer stays valid JSON).
fn to_raw<T: serde::Serialize>(value: &T) -> RawJson {
    crate::types::writer::to_string(value)
        .map(RawJson::from_validated)
        .unwrap_or_else(|_| RawJson::null())
}

/// Checks that a payload is an object (or, when `allow_null`, null) and says what it was.
pub(crate) fn expect_object(what: &str, raw: &RawJson, allow_null: bool) -> Result<(), String> {
    match raw.kind() {
        JsonKind::Object => Ok(()),
        JsonKind::Null if allow_null => Ok(()),
        other => Err(format!("{what} must be a JSON object, found {}", other.name())),
    }
}
