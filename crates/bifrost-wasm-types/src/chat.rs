//! Chat completion request types, mirroring Bifrost's Go `schemas` package.
//!
//! Every struct keeps the fields it does not model in an `extra` map, tolerates `null`
//! wherever Go may send it, and keeps unknown enum values (a role or content-block type this
//! crate does not know survives a round trip).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::de::null_default;

/// The role of a chat message. Unknown roles are kept in [`ChatMessageRole::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum ChatMessageRole {
    /// `user`
    #[default]
    User,
    /// `assistant`
    Assistant,
    /// `system`
    System,
    /// `tool`
    Tool,
    /// `developer`
    Developer,
    /// Any other role, as written.
    Other(String),
}

impl ChatMessageRole {
    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            ChatMessageRole::User => "user",
            ChatMessageRole::Assistant => "assistant",
            ChatMessageRole::System => "system",
            ChatMessageRole::Tool => "tool",
            ChatMessageRole::Developer => "developer",
            ChatMessageRole::Other(s) => s,
        }
    }

    /// Parses a wire spelling (exact, lowercase as Bifrost writes it).
    pub fn parse(s: &str) -> Self {
        match s {
            "user" => ChatMessageRole::User,
            "assistant" => ChatMessageRole::Assistant,
            "system" => ChatMessageRole::System,
            "tool" => ChatMessageRole::Tool,
            "developer" => ChatMessageRole::Developer,
            other => ChatMessageRole::Other(other.to_string()),
        }
    }
}

impl fmt::Display for ChatMessageRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ChatMessageRole {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ChatMessageRole {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ChatMessageRole::parse(&String::deserialize(d)?))
    }
}

/// One block of multi-part message content (`text`, `image_url`, `input_audio`, `file`,
/// `refusal`, `video_url`, or a type this crate does not know).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct ChatContentBlock {
    /// The block type as written (`text`, `image_url`, ...).
    #[serde(rename = "type", default, deserialize_with = "null_default")]
    pub block_type: String,
    /// Text of a `text` block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Image of an `image_url` block (`{url, detail}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<Value>,
    /// Every other field, kept as received.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl ChatContentBlock {
    /// A `text` block.
    pub fn text(text: impl Into<String>) -> Self {
        ChatContentBlock {
            block_type: "text".to_string(),
            text: Some(text.into()),
            ..Default::default()
        }
    }
}

/// Message content: a string, or an array of content blocks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ChatMessageContent {
    /// Plain text.
    Text(String),
    /// Multi-part content.
    Blocks(Vec<ChatContentBlock>),
}

impl ChatMessageContent {
    /// All text of this content: the string, or the `text` blocks joined with newlines.
    pub fn text(&self) -> String {
        match self {
            ChatMessageContent::Text(s) => s.clone(),
            ChatMessageContent::Blocks(blocks) => blocks
                .iter()
                .filter_map(|b| b.text.as_deref())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// Applies `f` to every piece of text (the string, or each block's `text`).
    pub fn map_text(&mut self, mut f: impl FnMut(&str) -> String) {
        match self {
            ChatMessageContent::Text(s) => *s = f(s),
            ChatMessageContent::Blocks(blocks) => {
                for b in blocks {
                    if let Some(t) = &mut b.text {
                        *t = f(t);
                    }
                }
            }
        }
    }
}

/// The function a tool call invokes.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct ToolCallFunction {
    /// Function name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Arguments as a JSON-encoded string.
    #[serde(default, deserialize_with = "null_default")]
    pub arguments: String,
    /// Fields this type does not model.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A tool call made by the assistant.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct ToolCall {
    /// Position of the call (streaming deltas use it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Call id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Call type, `function`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub call_type: Option<String>,
    /// The function invoked.
    #[serde(default)]
    pub function: ToolCallFunction,
    /// Fields this type does not model.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A chat message.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct ChatMessage {
    /// Who wrote it.
    #[serde(default, deserialize_with = "null_default")]
    pub role: ChatMessageRole,
    /// Its content (`null` when absent, as Bifrost writes it).
    #[serde(default)]
    pub content: Option<ChatMessageContent>,
    /// Optional participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// For `tool` messages: the call answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// For `assistant` messages: the tools called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Fields this type does not model (`refusal`, `reasoning`, ...).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl ChatMessage {
    /// A message with text content.
    pub fn text(role: ChatMessageRole, text: impl Into<String>) -> Self {
        ChatMessage {
            role,
            content: Some(ChatMessageContent::Text(text.into())),
            ..Default::default()
        }
    }

    /// All text of the content (empty when there is none).
    pub fn content_text(&self) -> String {
        self.content
            .as_ref()
            .map(ChatMessageContent::text)
            .unwrap_or_default()
    }
}

/// The function a tool offers.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct ChatToolFunction {
    /// Function name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON schema of its parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Fields this type does not model (`strict`, ...).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A tool the model may call.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct ChatTool {
    /// Tool type (`function`, `custom`, ...).
    #[serde(rename = "type", default, deserialize_with = "null_default")]
    pub tool_type: String,
    /// The function, for `function` tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<ChatToolFunction>,
    /// Fields this type does not model.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Chat parameters (`params`). Parameters this type does not name are in `extra`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct ChatParameters {
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Cap on generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<i32>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Frequency penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Presence penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    /// Tools offered to the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<ChatTool>>,
    /// Every other parameter, as received.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A fallback provider/model tried when the primary fails.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct Fallback {
    /// Provider id (`openai`, `anthropic`, ...).
    #[serde(default, deserialize_with = "null_default")]
    pub provider: String,
    /// Model name.
    #[serde(default, deserialize_with = "null_default")]
    pub model: String,
    /// Fields this type does not model.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl Fallback {
    /// A fallback to `provider`/`model`.
    pub fn new(provider: impl Into<String>, model: impl Into<String>) -> Self {
        Fallback {
            provider: provider.into(),
            model: model.into(),
            extra: BTreeMap::new(),
        }
    }
}

/// A chat completion request (`BifrostChatRequest`): the flat form, which every request shape
/// carries somewhere (see [`crate::shape`]).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct BifrostChatRequest {
    /// Provider id.
    #[serde(default, deserialize_with = "null_default")]
    pub provider: String,
    /// Model name.
    #[serde(default, deserialize_with = "null_default")]
    pub model: String,
    /// The conversation.
    #[serde(default, deserialize_with = "null_default")]
    pub input: Vec<ChatMessage>,
    /// Parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<ChatParameters>,
    /// Fallbacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallbacks: Option<Vec<Fallback>>,
    /// Fields this type does not model.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl BifrostChatRequest {
    /// The last message with role `user`, if any.
    pub fn last_user_message(&self) -> Option<&ChatMessage> {
        self.input.iter().rev().find(|m| m.role == ChatMessageRole::User)
    }

    /// The parameters, created empty if absent.
    pub fn params_mut(&mut self) -> &mut ChatParameters {
        self.params.get_or_insert_with(ChatParameters::default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn seed_pre_hook_request_parses() {
        let req: BifrostChatRequest = serde_json::from_value(json!({
            "provider": "openai",
            "model": "gpt-4",
            "input": [{ "role": "user", "content": "Hello" }],
            "params": { "temperature": 0.7 }
        }))
        .unwrap();
        assert_eq!(req.model, "gpt-4");
        assert_eq!(req.input[0].content_text(), "Hello");
        assert_eq!(req.params.unwrap().temperature, Some(0.7));
    }

    #[test]
    fn unknown_role_and_block_type_survive_round_trip() {
        let msg = json!({"role": "critic", "content": [{"type": "hologram", "text": "x", "depth": 3}], "refusal": null});
        let parsed: ChatMessage = serde_json::from_value(msg.clone()).unwrap();
        assert_eq!(parsed.role, ChatMessageRole::Other("critic".into()));
        assert_eq!(serde_json::to_value(&parsed).unwrap(), msg);
    }

    #[test]
    fn nulls_where_go_sends_them_are_accepted() {
        let req: BifrostChatRequest = serde_json::from_value(json!({
            "provider": null, "model": null, "input": null, "params": null, "fallbacks": null
        }))
        .unwrap();
        assert!(req.input.is_empty());
        let msg: ChatMessage = serde_json::from_value(json!({"role": null, "content": null})).unwrap();
        assert_eq!(msg.content, None);
    }

    #[test]
    fn params_keep_unmodelled_parameters() {
        let p: ChatParameters =
            serde_json::from_value(json!({"temperature": 1, "seed": 42, "reasoning": {"effort": "high"}}))
                .unwrap();
        assert_eq!(p.extra["seed"], json!(42));
        assert_eq!(serde_json::to_value(&p).unwrap()["reasoning"]["effort"], "high");
    }
}
