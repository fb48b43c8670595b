//! Response types: `BifrostResponse` and the chat completion response inside it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::chat::ChatMessage;
use crate::de::null_default;

/// The seed's (and Go's) spelling of [`LlmUsage`].
pub type LLMUsage = LlmUsage;

/// Token usage of a response.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct LlmUsage {
    /// Prompt tokens.
    #[serde(default, deserialize_with = "null_default")]
    pub prompt_tokens: i32,
    /// Completion tokens.
    #[serde(default, deserialize_with = "null_default")]
    pub completion_tokens: i32,
    /// Total tokens.
    #[serde(default, deserialize_with = "null_default")]
    pub total_tokens: i32,
    /// Fields this type does not model (`prompt_tokens_details`, `cost`, ...).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl LlmUsage {
    /// Usage with the given counts.
    pub fn new(prompt_tokens: i32, completion_tokens: i32, total_tokens: i32) -> Self {
        LlmUsage {
            prompt_tokens,
            completion_tokens,
            total_tokens,
            extra: BTreeMap::new(),
        }
    }
}

/// One choice of a chat response: `message` when complete, `delta` when streaming.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct ResponseChoice {
    /// Position of the choice.
    #[serde(default, deserialize_with = "null_default")]
    pub index: i32,
    /// The complete message (non-streaming).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<ChatMessage>,
    /// The increment (streaming).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<ChatMessage>,
    /// Why generation stopped (`stop`, `length`, `tool_calls`, ...).
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Fields this type does not model (`logprobs`, ...).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A chat completion response (`BifrostChatResponse`).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct BifrostChatResponse {
    /// Response id.
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    /// Model that answered.
    #[serde(default, deserialize_with = "null_default")]
    pub model: String,
    /// The choices.
    #[serde(default, deserialize_with = "null_default")]
    pub choices: Vec<ResponseChoice>,
    /// Token usage.
    #[serde(default)]
    pub usage: Option<LlmUsage>,
    /// Creation time (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
    /// `chat.completion` or `chat.completion.chunk`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// Fields this type does not model (`extra_fields`, `system_fingerprint`, ...).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl BifrostChatResponse {
    /// Text of the first choice's message (or delta), if any.
    pub fn first_text(&self) -> Option<String> {
        let choice = self.choices.first()?;
        let msg = choice.message.as_ref().or(choice.delta.as_ref())?;
        Some(msg.content_text())
    }
}

/// A Bifrost response. Only the chat member is typed; see [`crate::shape`] for the raw forms
/// (`{"chat_response": …}` and Go's `{"ChatResponse": …, <other kinds>: null}`).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct BifrostResponse {
    /// The chat completion response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_response: Option<BifrostChatResponse>,
}
