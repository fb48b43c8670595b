//! Typed serde structures, as the upstream Rust example declares them: every hook input is
//! parsed whole into these, payloads the plugin does not inspect are `serde_json::Value`.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Go writes nil maps, slices and byte slices as `null`: read them as the default value.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The request context: `request_id` plus every other key.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct BifrostContext {
    /// The request id, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Every other key.
    #[serde(flatten)]
    pub values: HashMap<String, Value>,
}

impl BifrostContext {
    /// Sets `key` to `value`.
    pub fn set_value(&mut self, key: &str, value: impl Into<Value>) {
        self.values.insert(key.to_string(), value.into());
    }

    /// The value of `key` if it is a string (`request_id` included).
    pub fn get_string(&self, key: &str) -> Option<&str> {
        if key == "request_id" {
            return self.request_id.as_deref();
        }
        self.values.get(key).and_then(Value::as_str)
    }

    /// The value of `key` if it is an integer.
    pub fn get_i64(&self, key: &str) -> Option<i64> {
        self.values.get(key).and_then(Value::as_i64)
    }
}

/// An HTTP request (body base64-encoded).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct HTTPRequest {
    /// Method.
    #[serde(default, deserialize_with = "nullable")]
    pub method: String,
    /// Path.
    #[serde(default, deserialize_with = "nullable")]
    pub path: String,
    /// Headers.
    #[serde(default, deserialize_with = "nullable")]
    pub headers: HashMap<String, String>,
    /// Query parameters.
    #[serde(default, deserialize_with = "nullable")]
    pub query: HashMap<String, String>,
    /// Body, base64.
    #[serde(default, deserialize_with = "nullable")]
    pub body: String,
}

/// An HTTP response (body base64-encoded).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct HTTPResponse {
    /// Status code.
    #[serde(default)]
    pub status_code: i32,
    /// Headers.
    #[serde(default, deserialize_with = "nullable")]
    pub headers: HashMap<String, String>,
    /// Body, base64.
    #[serde(default, deserialize_with = "nullable")]
    pub body: String,
}

/// A chat message.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ChatMessage {
    /// Role.
    #[serde(default)]
    pub role: String,
    /// Content: text or blocks.
    #[serde(default)]
    pub content: Option<Value>,
    /// Participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tool call answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Tool calls made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<Value>>,
}

/// Token usage.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct LLMUsage {
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_tokens: i32,
    /// Completion tokens.
    #[serde(default)]
    pub completion_tokens: i32,
    /// Total tokens.
    #[serde(default)]
    pub total_tokens: i32,
}

/// One choice of a response.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ResponseChoice {
    /// Index.
    #[serde(default)]
    pub index: i32,
    /// The message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<ChatMessage>,
    /// The streaming delta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<ChatMessage>,
    /// Why generation stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
}

/// A chat completion response.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct BifrostChatResponse {
    /// Id.
    #[serde(default)]
    pub id: String,
    /// Model.
    #[serde(default)]
    pub model: String,
    /// Choices.
    #[serde(default)]
    pub choices: Vec<ResponseChoice>,
    /// Usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<LLMUsage>,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
    /// Object type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
}

/// A response (only the chat member is typed, as upstream).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct BifrostResponse {
    /// The chat response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_response: Option<BifrostChatResponse>,
}

/// The error body.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ErrorField {
    /// Message.
    #[serde(default)]
    pub message: String,
    /// Type.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// Code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// A Bifrost error.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct BifrostError {
    /// The error body.
    #[serde(default)]
    pub error: ErrorField,
    /// HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<i32>,
}

/// A pre-hook short-circuit.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct LLMPluginShortCircuit {
    /// The response to answer with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<BifrostResponse>,
    /// The error to answer with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<BifrostError>,
}

/// `http_intercept` / `http_pre_hook` input.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct HTTPInterceptInput {
    /// Context.
    #[serde(default)]
    pub context: BifrostContext,
    /// The request.
    #[serde(default)]
    pub request: HTTPRequest,
}

/// `http_intercept` / `http_pre_hook` output.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct HTTPInterceptOutput {
    /// Context.
    pub context: BifrostContext,
    /// The request to continue with.
    pub request: Option<HTTPRequest>,
    /// The response to answer with.
    pub response: Option<HTTPResponse>,
    /// Whether `response` answers the request.
    pub has_response: bool,
    /// Hook error.
    pub error: String,
}

/// `http_post_hook` input.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct HTTPPostHookInput {
    /// Context.
    #[serde(default)]
    pub context: BifrostContext,
    /// The request.
    #[serde(default)]
    pub request: HTTPRequest,
    /// The response.
    #[serde(default)]
    pub response: HTTPResponse,
}

/// `http_post_hook` output.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct HTTPPostHookOutput {
    /// Context.
    pub context: BifrostContext,
    /// Hook error.
    pub error: String,
}

/// `http_stream_chunk_hook` input.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct StreamChunkInput {
    /// Context.
    #[serde(default)]
    pub context: BifrostContext,
    /// The request.
    #[serde(default)]
    pub request: Option<HTTPRequest>,
    /// The chunk.
    #[serde(default)]
    pub chunk: Value,
}

/// `http_stream_chunk_hook` output.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct StreamChunkOutput {
    /// Context.
    pub context: BifrostContext,
    /// The chunk to send.
    pub chunk: Option<Value>,
    /// Whether `chunk` is set.
    pub has_chunk: bool,
    /// Drop the chunk.
    pub skip: bool,
    /// Hook error.
    pub error: String,
}

/// `pre_hook` input.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct PreHookInput {
    /// Context.
    #[serde(default)]
    pub context: BifrostContext,
    /// The request.
    #[serde(default)]
    pub request: Value,
}

impl PreHookInput {
    /// `(provider, model)` from a flat, snake-wrapped or Go-envelope request.
    pub fn get_provider_model(&self) -> (String, String) {
        let inner = ["chat_request", "ChatRequest"]
            .iter()
            .find_map(|k| self.request.get(k).filter(|v| v.is_object()))
            .unwrap_or(&self.request);
        let field = |k: &str| {
            inner
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        (field("provider"), field("model"))
    }
}

/// `pre_hook` output.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct PreHookOutput {
    /// Context.
    pub context: BifrostContext,
    /// The request to continue with.
    pub request: Option<Value>,
    /// The short-circuit.
    pub short_circuit: Option<LLMPluginShortCircuit>,
    /// Whether `short_circuit` answers the request.
    pub has_short_circuit: bool,
    /// Hook error.
    pub error: String,
}

/// `post_hook` input.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct PostHookInput {
    /// Context.
    #[serde(default)]
    pub context: BifrostContext,
    /// The response.
    #[serde(default)]
    pub response: Value,
    /// The error.
    #[serde(default)]
    pub error: Value,
    /// Whether `error` holds an error.
    #[serde(default)]
    pub has_error: bool,
}

impl PostHookInput {
    /// The typed response, if it parses.
    pub fn parse_response(&self) -> Option<BifrostResponse> {
        serde_json::from_value(self.response.clone()).ok()
    }

    /// The typed error, if there is one and it parses.
    pub fn parse_error(&self) -> Option<BifrostError> {
        if !self.has_error {
            return None;
        }
        serde_json::from_value(self.error.clone()).ok()
    }
}

/// `post_hook` output.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct PostHookOutput {
    /// Context.
    pub context: BifrostContext,
    /// The response.
    pub response: Option<Value>,
    /// The error.
    pub error: Option<Value>,
    /// Whether the request ends in `error`.
    pub has_error: bool,
    /// Hook error.
    pub hook_error: String,
}
