//! Typed serde structures, as the upstream Rust example declares them: every hook input is
//! parsed whole into an envelope struct whose payloads (request, response, error, chunk) are
//! `serde_json::Value`, and whose context is a `HashMap<String, Value>`.
//!
//! The only typed payloads are the ones upstream types too: the mock answer a `pre_hook`
//! builds, and the typed request view upstream's `get_provider_model` parses a copy of the
//! request into to find the model.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The request context, a transparent map as upstream's (`map[string]any` in Go).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct BifrostContext(pub HashMap<String, Value>);

impl BifrostContext {
    /// Sets `key` to `value`.
    pub fn set_value(&mut self, key: &str, value: impl Into<Value>) {
        self.0.insert(key.to_string(), value.into());
    }

    /// The value of `key` if it is a string.
    pub fn get_string(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    /// The value of `key` if it is an integer.
    pub fn get_i64(&self, key: &str) -> Option<i64> {
        self.0.get(key).and_then(Value::as_i64)
    }
}

/// A chat message (only built for the mock answer, and read inside the typed request view).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ChatMessage {
    /// Role.
    #[serde(default)]
    pub role: String,
    /// Content: text or blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

/// A chat request, as upstream's typed view of `chat_request`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct BifrostChatRequest {
    /// Provider.
    #[serde(default)]
    pub provider: String,
    /// Model.
    #[serde(default)]
    pub model: String,
    /// Messages.
    #[serde(default)]
    pub input: Vec<ChatMessage>,
    /// Parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
    /// Fallbacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallbacks: Option<Vec<Value>>,
}

/// Upstream's typed request view: the snake-case `chat_request` typed, every other member
/// kept in a flattened map.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct BifrostRequest {
    /// The chat request, when wrapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_request: Option<BifrostChatRequest>,
    /// Every other member.
    #[serde(flatten)]
    pub extra: HashMap<String, Value>,
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
}

/// A response (only the chat member, as the mock answer needs).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct BifrostResponse {
    /// The chat response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_response: Option<BifrostChatResponse>,
}

/// A pre-hook short-circuit.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct LLMPluginShortCircuit {
    /// The response to answer with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<BifrostResponse>,
    /// The error to answer with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

/// `http_intercept` / `http_pre_hook` input.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct HTTPInterceptInput {
    /// Context.
    #[serde(default)]
    pub context: BifrostContext,
    /// The request.
    #[serde(default)]
    pub request: Value,
}

/// `http_intercept` / `http_pre_hook` output.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct HTTPInterceptOutput {
    /// Context.
    pub context: BifrostContext,
    /// The request to continue with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<Value>,
    /// The response to answer with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    /// Whether `response` answers the request.
    #[serde(default)]
    pub has_response: bool,
    /// Hook error.
    #[serde(default)]
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
    pub request: Value,
    /// The response.
    #[serde(default)]
    pub response: Value,
}

/// `http_post_hook` output.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct HTTPPostHookOutput {
    /// Context.
    pub context: BifrostContext,
    /// Hook error.
    #[serde(default)]
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
    pub request: Value,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk: Option<Value>,
    /// Whether `chunk` is set.
    #[serde(default)]
    pub has_chunk: bool,
    /// Drop the chunk.
    #[serde(default)]
    pub skip: bool,
    /// Hook error.
    #[serde(default)]
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
    /// The request parsed into upstream's typed view (from a copy of the payload, as upstream).
    pub fn parse_request(&self) -> Option<BifrostRequest> {
        serde_json::from_value(self.request.clone()).ok()
    }

    /// `(provider, model)` as upstream's example finds them: the typed `chat_request` first,
    /// then the request's own members; the Go envelope's `ChatRequest` is read as the flat
    /// shape is (upstream's example does not know that shape).
    pub fn get_provider_model(&self) -> (String, String) {
        if let Some(chat) = self.parse_request().and_then(|r| r.chat_request) {
            if !chat.provider.is_empty() || !chat.model.is_empty() {
                return (chat.provider, chat.model);
            }
        }
        let inner = match self.request.get("ChatRequest") {
            Some(go) if go.is_object() => go,
            _ => &self.request,
        };
        let field = |k: &str| inner.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        (field("provider"), field("model"))
    }
}

/// `pre_hook` output.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct PreHookOutput {
    /// Context.
    pub context: BifrostContext,
    /// The request to continue with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<Value>,
    /// The short-circuit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short_circuit: Option<LLMPluginShortCircuit>,
    /// Whether `short_circuit` answers the request.
    #[serde(default)]
    pub has_short_circuit: bool,
    /// Hook error.
    #[serde(default)]
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

/// `post_hook` output.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct PostHookOutput {
    /// Context.
    pub context: BifrostContext,
    /// The response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    /// The error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// Whether the request ends in `error`.
    #[serde(default)]
    pub has_error: bool,
    /// Hook error.
    #[serde(default)]
    pub hook_error: String,
}
