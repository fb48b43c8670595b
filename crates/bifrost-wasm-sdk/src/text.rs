//! Walk and edit every piece of text in chat requests, responses and stream chunks, losslessly.
//!
//! A plugin that inspects or rewrites text (redaction, moderation, translation, prompt
//! checks) needs to visit every text part of every message without caring which of the three
//! request shapes arrived, whether `content` is a string or an array of blocks, or whether a
//! response is complete (`message`) or streamed (`delta`). The [`Texts`] methods (on
//! [`LlmRequest`] and [`LlmResponse`]) and the [`ChunkEdits`] methods (on a stream chunk's
//! [`RawJson`]) do that on the raw JSON: they find the strings by position, hand each one to
//! a callback, and splice the replacements back into the original text. Nothing else is
//! re-serialized: unknown fields, `null`s, key order and number spellings stay byte-identical.
//!
//! The text parts visited ([`TextField`]), per message object (a request's `input[i]`, a
//! response choice's `message` or `delta`):
//!
//! | field | JSON |
//! |---|---|
//! | [`TextField::Content`] | `content` when it is a string |
//! | [`TextField::Block`] | `content[i].text` of every content block that has a string `text` |
//! | [`TextField::Refusal`] | `refusal` |
//! | [`TextField::Reasoning`] | `reasoning` |
//! | [`TextField::ReasoningContent`] | `reasoning_content` (Bifrost writes reasoning under both keys) |
//! | [`TextField::ToolArguments`] | `tool_calls[i].function.arguments` (a JSON-encoded string) |
//!
//! plus, per response choice, [`TextField::ChoiceText`]: the choice's own `text` (text
//! completions).
//!
//! ```
//! use bifrost_wasm_sdk::prelude::*;
//!
//! let mut request = LlmRequest::from_json(
//!     r#"{"model":"m","input":[{"role":"user","content":"hi BOB","x":1.0}]}"#,
//! ).unwrap();
//! let changed = request.edit_texts(|spot, text| {
//!     (spot.field == TextField::Content).then(|| text.to_lowercase())
//! });
//! assert_eq!(changed, 1);
//! assert_eq!(request.as_str(), r#"{"model":"m","input":[{"role":"user","content":"hi bob","x":1.0}]}"#);
//! ```
//!
//! For streams, [`ChunkEdits::chunk_choices`] reads each choice's `delta.content` and
//! `finish_reason`, and [`ChunkEdits::set_chunk_content`] writes a choice's content back
//! (creating it when the chunk had none, e.g. to flush held-back text into the final chunk).

use std::borrow::Cow;
use std::ops::Range;

use crate::types::raw::{JsonError, JsonKind, RawJson};
use crate::types::scan;
use crate::types::shape::{LlmRequest, LlmResponse};

/// Which text field of a message (or choice) a piece of text comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextField {
    /// `content`, when it is a string.
    Content,
    /// `content[i].text`: the text of content block `i`.
    Block(usize),
    /// `refusal`.
    Refusal,
    /// `reasoning`.
    Reasoning,
    /// `reasoning_content`.
    ReasoningContent,
    /// `tool_calls[i].function.arguments`: the JSON-encoded arguments of tool call `i`.
    ToolArguments(usize),
    /// A response choice's own `text` (text completions).
    ChoiceText,
}

impl TextField {
    /// A short name for logs and context values (`content`, `block`, `refusal`, ...).
    pub fn name(self) -> &'static str {
        match self {
            TextField::Content => "content",
            TextField::Block(_) => "block",
            TextField::Refusal => "refusal",
            TextField::Reasoning => "reasoning",
            TextField::ReasoningContent => "reasoning_content",
            TextField::ToolArguments(_) => "tool_arguments",
            TextField::ChoiceText => "text",
        }
    }

    /// True for the message's content: [`TextField::Content`] and [`TextField::Block`].
    pub fn is_content(self) -> bool {
        matches!(self, TextField::Content | TextField::Block(_))
    }
}

/// Where a piece of text is: which message (position in the request's `input`) or which
/// response choice (position in `choices`), and which field of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TextSpot {
    /// Position of the message in `input`, or of the choice in `choices`.
    pub item: usize,
    /// The field.
    pub field: TextField,
}

/// Byte range of the sub-slice `part` inside `root`; `part` must be a sub-slice of `root`.
pub(crate) fn range_of(root: &str, part: &str) -> Range<usize> {
    let start = (part.as_ptr() as usize).wrapping_sub(root.as_ptr() as usize);
    start..start + part.len()
}

/// Replaces byte ranges of `root` (non-overlapping, any order) with new text.
pub(crate) fn splice(root: &str, mut edits: Vec<(Range<usize>, String)>) -> String {
    edits.sort_by_key(|(r, _)| r.start);
    let extra: usize = edits.iter().map(|(_, s)| s.len()).sum();
    let mut out = String::with_capacity(root.len() + extra);
    let mut at = 0;
    for (range, text) in edits {
        // `get` instead of indexing: no panic path (and none of the formatting code it drags
        // into a plugin). The ranges come from the scanner and always fall on boundaries.
        out.push_str(root.get(at..range.start).unwrap_or(""));
        out.push_str(&text);
        at = range.end;
    }
    out.push_str(root.get(at..).unwrap_or(""));
    out
}

/// The raw value of member `key` of the valid object `text` (exact key match, first).
pub(crate) fn member<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    scan::member(text, key, false)
}

/// Collects the replacements a walk produces.
struct Walk<'r, F> {
    root: &'r str,
    f: F,
    edits: Vec<(Range<usize>, String)>,
}

impl<'r, F: FnMut(TextSpot, &str) -> Option<String>> Walk<'r, F> {
    fn new(root: &'r str, f: F) -> Self {
        Walk {
            root,
            f,
            edits: Vec::new(),
        }
    }

    /// Offers the string at `raw` (a sub-slice of the root) to the callback.
    fn string(&mut self, raw: &'r str, spot: TextSpot) {
        let Some(text) = scan::string_value(raw) else {
            return;
        };
        if let Some(new) = (self.f)(spot, &text) {
            if new != *text {
                let mut encoded = Vec::with_capacity(new.len() + 2);
                scan::write_string(&mut encoded, &new);
                let encoded = String::from_utf8(encoded).unwrap_or_default();
                self.edits.push((range_of(self.root, raw), encoded));
            }
        }
    }

    /// Visits the text fields of one message object.
    fn message(&mut self, message: &'r str, item: usize) {
        for m in scan::Members::new(message) {
            let spot = |field| TextSpot { item, field };
            let value = m.value;
            match m.key().as_ref() {
                "content" => match JsonKind::of(value) {
                    JsonKind::String => self.string(value, spot(TextField::Content)),
                    JsonKind::Array => {
                        for (i, block) in scan::Elements::new(value).enumerate() {
                            if let Some(text) = member(block, "text") {
                                self.string(text, spot(TextField::Block(i)));
                            }
                        }
                    }
                    _ => {}
                },
                "refusal" => self.string(value, spot(TextField::Refusal)),
                "reasoning" => self.string(value, spot(TextField::Reasoning)),
                "reasoning_content" => self.string(value, spot(TextField::ReasoningContent)),
                "tool_calls" => {
                    for (i, call) in scan::Elements::new(value).enumerate() {
                        if let Some(arguments) = member(call, "function").and_then(|f| member(f, "arguments"))
                        {
                            self.string(arguments, spot(TextField::ToolArguments(i)));
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Visits every message of a request's `input` array.
    fn messages(&mut self, input: &'r str) {
        for (i, message) in scan::Elements::new(input).enumerate() {
            self.message(message, i);
        }
    }

    /// Visits every choice of a chat response (or chunk) object.
    fn choices(&mut self, chat: &'r str) {
        let Some(choices) = member(chat, "choices") else {
            return;
        };
        for (i, choice) in scan::Elements::new(choices).enumerate() {
            for m in scan::Members::new(choice) {
                match m.key().as_ref() {
                    "message" | "delta" => self.message(m.value, i),
                    "text" => self.string(
                        m.value,
                        TextSpot {
                            item: i,
                            field: TextField::ChoiceText,
                        },
                    ),
                    _ => {}
                }
            }
        }
    }

    /// The edited root text, if anything changed, and how many texts were replaced.
    fn finish(self) -> (Option<String>, usize) {
        let n = self.edits.len();
        if n == 0 {
            (None, 0)
        } else {
            (Some(splice(self.root, self.edits)), n)
        }
    }
}

/// The raw `input` array of a chat request, if it has one.
fn request_input(request: &LlmRequest) -> Option<&str> {
    if !request.is_chat() {
        return None;
    }
    request.inner().and_then(|inner| member(inner, "input"))
}

/// Every text of a chat request's messages or of a response's choices, visited in document
/// order and edited in place.
pub trait Texts {
    /// Calls `f` with every text (see the module docs for which fields count), in document
    /// order. A request that is not a chat request, or a response without a chat response,
    /// has none.
    fn for_each_text(&self, f: impl FnMut(TextSpot, &str));

    /// Offers every text to `f`; where `f` returns a new text, it replaces the old one in
    /// place (in whichever shape arrived). Returns how many texts changed.
    fn edit_texts(&mut self, f: impl FnMut(TextSpot, &str) -> Option<String>) -> usize;
}

impl Texts for LlmRequest {
    fn for_each_text(&self, mut f: impl FnMut(TextSpot, &str)) {
        if let Some(input) = request_input(self) {
            let mut walk = Walk::new(self.as_str(), |spot, text: &str| {
                f(spot, text);
                None
            });
            walk.messages(input);
        }
    }

    fn edit_texts(&mut self, f: impl FnMut(TextSpot, &str) -> Option<String>) -> usize {
        let (edited, n) = match request_input(self) {
            Some(input) => {
                let mut walk = Walk::new(self.as_str(), f);
                walk.messages(input);
                walk.finish()
            }
            None => (None, 0),
        };
        if let Some(text) = edited {
            *self = LlmRequest::new(RawJson::from_validated(text));
        }
        n
    }
}

impl Texts for LlmResponse {
    fn for_each_text(&self, mut f: impl FnMut(TextSpot, &str)) {
        if let Some(chat) = self.chat_raw() {
            let mut walk = Walk::new(self.as_str(), |spot, text: &str| {
                f(spot, text);
                None
            });
            walk.choices(chat);
        }
    }

    fn edit_texts(&mut self, f: impl FnMut(TextSpot, &str) -> Option<String>) -> usize {
        let (edited, n) = match self.chat_raw() {
            Some(chat) => {
                let mut walk = Walk::new(self.as_str(), f);
                walk.choices(chat);
                walk.finish()
            }
            None => (None, 0),
        };
        if let Some(text) = edited {
            *self = LlmResponse::new(RawJson::from_validated(text));
        }
        n
    }
}

/// What a stream chunk says about one of its choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkChoice {
    /// Position in the chunk's `choices` array (what [`ChunkEdits::set_chunk_content`]
    /// takes).
    pub position: usize,
    /// The choice's `index` member (which choice of the completion this is), if present.
    pub index: Option<u64>,
    /// `delta.content` (or `message.content`) when it is a string.
    pub content: Option<String>,
    /// `finish_reason` when it is a string: the last chunk of this choice.
    pub finish_reason: Option<String>,
}

impl ChunkChoice {
    /// The choice's `index`, or its position when the chunk has none.
    pub fn key(&self) -> u64 {
        self.index.unwrap_or(self.position as u64)
    }

    /// True when this chunk ends the choice (it carries a `finish_reason`).
    pub fn is_final(&self) -> bool {
        self.finish_reason.is_some()
    }
}

fn owned_string(raw: Option<&str>) -> Option<String> {
    raw.and_then(scan::string_value).map(Cow::into_owned)
}

/// Reading and editing a stream chunk (`http_stream_chunk_hook`'s `chunk`: a chat
/// completion chunk object, or one wrapped like a response).
pub trait ChunkEdits {
    /// [`Texts::edit_texts`] for the chunk's choices.
    fn edit_chunk_texts(&mut self, f: impl FnMut(TextSpot, &str) -> Option<String>) -> usize;

    /// The chunk's choices; empty when it has none (a usage-only or error chunk).
    fn chunk_choices(&self) -> Vec<ChunkChoice>;

    /// Sets the content of the choice at `position`: `delta.content` (or `message.content`
    /// when the choice has a `message` and no `delta`), created when absent. Everything else
    /// stays byte-identical. Errors when the chunk has no choice at `position`.
    fn set_chunk_content(&mut self, position: usize, content: &str) -> Result<(), JsonError>;
}

impl ChunkEdits for RawJson {
    fn edit_chunk_texts(&mut self, f: impl FnMut(TextSpot, &str) -> Option<String>) -> usize {
        let mut response = LlmResponse::new(self.clone());
        let n = response.edit_texts(f);
        if n > 0 {
            *self = response.into_raw();
        }
        n
    }

    fn chunk_choices(&self) -> Vec<ChunkChoice> {
        let response = LlmResponse::new(self.clone());
        let Some(choices) = response.chat_raw().and_then(|chat| member(chat, "choices")) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (position, choice) in scan::Elements::new(choices).enumerate() {
            if JsonKind::of(choice) != JsonKind::Object {
                continue;
            }
            let index = member(choice, "index").and_then(|v| v.parse::<u64>().ok());
            let content = ["delta", "message"]
                .iter()
                .filter_map(|k| member(choice, k))
                .find_map(|m| member(m, "content"));
            out.push(ChunkChoice {
                position,
                index,
                content: owned_string(content),
                finish_reason: owned_string(member(choice, "finish_reason")),
            });
        }
        out
    }

    fn set_chunk_content(&mut self, position: usize, content: &str) -> Result<(), JsonError> {
        let response = LlmResponse::new(self.clone());
        let root = response.as_str();
        let chat = response
            .chat_raw()
            .ok_or_else(|| JsonError("the chunk has no chat completion chunk".into()))?;
        let choices =
            member(chat, "choices").ok_or_else(|| JsonError("the chunk has no `choices`".into()))?;
        if JsonKind::of(choices) != JsonKind::Array {
            return Err(JsonError("`choices` is not an array".into()));
        }
        let choice = scan::Elements::new(choices)
            .nth(position)
            .ok_or_else(|| JsonError(format!("the chunk has no choice at position {position}")))?;
        let key = if member(choice, "delta").is_none() && member(choice, "message").is_some() {
            "message"
        } else {
            "delta"
        };
        let mut edited = RawJson::from_validated(choice.to_string());
        edited.set_path_str(&[key, "content"], content)?;
        let text = splice(root, vec![(range_of(root, choice), edited.into_string())]);
        *self = RawJson::from_validated(text);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::shape::{wrap_chat_request, wrap_chat_response, RequestShape};

    const FLAT: &str = r#"{"provider":"openai","model":"gpt-4","input":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"mail bob"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"now","n":1.50}],"name":null},{"role":"assistant","content":null,"refusal":"no bob","tool_calls":[{"id":"t","function":{"name":"f","arguments":"{\"to\":\"bob\"}"}}]}],"params":{"n":123456789012345678901234567890}}"#;

    fn upper_bob(_: TextSpot, text: &str) -> Option<String> {
        text.contains("bob").then(|| text.replace("bob", "BOB"))
    }

    #[test]
    fn request_walk_visits_every_text_field_in_order() {
        let req = LlmRequest::from_json(FLAT).unwrap();
        let mut seen = Vec::new();
        req.for_each_text(|spot, text| seen.push((spot.item, spot.field, text.to_string())));
        assert_eq!(
            seen,
            vec![
                (0, TextField::Content, "Be brief.".to_string()),
                (1, TextField::Block(0), "mail bob".to_string()),
                (1, TextField::Block(2), "now".to_string()),
                (2, TextField::Refusal, "no bob".to_string()),
                (2, TextField::ToolArguments(0), r#"{"to":"bob"}"#.to_string()),
            ]
        );
    }

    #[test]
    fn request_edits_splice_only_changed_strings_in_every_shape() {
        for shape in RequestShape::ALL {
            let text = wrap_chat_request(FLAT, shape, false);
            let mut req = LlmRequest::from_json(&text).unwrap();
            let n = req.edit_texts(upper_bob);
            assert_eq!(n, 3, "{shape}");
            let expected = text
                .replace("mail bob", "mail BOB")
                .replace("no bob", "no BOB")
                .replace(r#"{\"to\":\"bob\"}"#, r#"{\"to\":\"BOB\"}"#);
            assert_eq!(req.as_str(), expected, "{shape}");
            assert_eq!(req.shape(), shape);
        }
    }

    #[test]
    fn unchanged_walk_keeps_request_bytes() {
        let mut req = LlmRequest::from_json(FLAT).unwrap();
        assert_eq!(req.edit_texts(|_, t| Some(t.to_string())), 0);
        assert_eq!(req.as_str(), FLAT);
    }

    #[test]
    fn escaped_strings_are_decoded_and_re_encoded() {
        let mut req =
            LlmRequest::from_json(r#"{"model":"m","input":[{"role":"user","content":"a \"bob\"\n\u00e9"}]}"#)
                .unwrap();
        req.edit_texts(|_, t| {
            assert_eq!(t, "a \"bob\"\né");
            Some(t.replace("bob", "x"))
        });
        assert_eq!(req.chat().unwrap().unwrap().input[0].content_text(), "a \"x\"\né");
    }

    #[test]
    fn response_walk_covers_message_delta_and_text_in_every_shape() {
        let chat = r#"{"id":"c","choices":[{"index":0,"message":{"role":"assistant","content":"hi bob"},"logprobs":null},{"index":1,"delta":{"content":"bob?"}},{"index":2,"text":"bob!"}],"usage":{"total_tokens":1e2}}"#;
        for text in [
            wrap_chat_response(chat, RequestShape::GoEnvelope),
            wrap_chat_response(chat, RequestShape::Snake),
            chat.to_string(),
        ] {
            let mut resp = LlmResponse::from_json(&text).unwrap();
            assert_eq!(resp.edit_texts(upper_bob), 3);
            assert_eq!(resp.as_str(), text.replace("bob", "BOB"));
        }
    }

    #[test]
    fn non_chat_and_missing_payloads_have_no_texts() {
        let mut req = LlmRequest::from_json(
            r#"{"RequestType":"embedding","EmbeddingRequest":{"model":"e","input":"bob"}}"#,
        )
        .unwrap();
        assert_eq!(req.edit_texts(upper_bob), 0);
        let mut resp = LlmResponse::new(RawJson::null());
        assert_eq!(resp.edit_texts(upper_bob), 0);
        let mut chunk = RawJson::from_string(r#"{"error":{"message":"bob"}}"#.into()).unwrap();
        assert_eq!(chunk.edit_chunk_texts(upper_bob), 0);
        assert!(chunk.chunk_choices().is_empty());
    }

    #[test]
    fn chunk_choices_read_content_and_finish_reason() {
        let chunk = RawJson::from_string(
            r#"{"id":"c","choices":[{"index":0,"delta":{"content":"he"},"finish_reason":null},{"index":3,"delta":{},"finish_reason":"stop"}]}"#.into(),
        )
        .unwrap();
        let choices = chunk.chunk_choices();
        assert_eq!(choices.len(), 2);
        assert_eq!(choices[0].content.as_deref(), Some("he"));
        assert!(!choices[0].is_final());
        assert_eq!(choices[1].key(), 3);
        assert_eq!(choices[1].content, None);
        assert!(choices[1].is_final());
    }

    #[test]
    fn set_chunk_content_replaces_or_creates_content_and_keeps_the_rest() {
        let text = r#"{"id":"c","choices":[{"index":0,"delta":{"content":"he","x":1.0}},{"index":1,"delta":{},"finish_reason":"stop"},{"index":2,"delta":null}],"n":123456789012345678901234567890}"#;
        let mut chunk = RawJson::from_string(text.into()).unwrap();
        chunk.set_chunk_content(0, "HE").unwrap();
        chunk.set_chunk_content(1, "tail").unwrap();
        chunk.set_chunk_content(2, "z").unwrap();
        assert_eq!(
            chunk.as_str(),
            r#"{"id":"c","choices":[{"index":0,"delta":{"content":"HE","x":1.0}},{"index":1,"delta":{"content":"tail"},"finish_reason":"stop"},{"index":2,"delta":{"content":"z"}}],"n":123456789012345678901234567890}"#
        );
        assert!(chunk.set_chunk_content(9, "x").is_err());
    }
}
