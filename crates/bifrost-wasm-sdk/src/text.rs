//! Walk and edit every piece of text in chat requests, responses and stream chunks, losslessly.
//!
//! A plugin that inspects or rewrites text (redaction, moderation, translation, prompt
//! checks) needs to visit every text part of every message without caring which of the three
//! request shapes arrived, whether `content` is a string or an array of blocks, or whether a
//! response is complete (`message`) or streamed (`delta`). The walkers here do that on the raw
//! JSON: they find the strings by position, hand each one to a callback, and splice the
//! replacements back into the original text. Nothing else is re-serialized: unknown fields,
//! `null`s, key order and number spellings stay byte-identical.
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
//! use bifrost_wasm_sdk::text::{edit_request_texts, TextField};
//!
//! let mut request = LlmRequest::from_json(
//!     r#"{"model":"m","input":[{"role":"user","content":"hi BOB","x":1.0}]}"#,
//! ).unwrap();
//! let changed = edit_request_texts(&mut request, |spot, text| {
//!     (spot.field == TextField::Content).then(|| text.to_lowercase())
//! }).unwrap();
//! assert_eq!(changed, 1);
//! assert_eq!(request.as_str(), r#"{"model":"m","input":[{"role":"user","content":"hi bob","x":1.0}]}"#);
//! ```
//!
//! For streams, [`chunk_choices`] reads each choice's `delta.content` and `finish_reason`, and
//! [`set_chunk_content`] writes a choice's content back (creating it when the chunk had none,
//! e.g. to flush held-back text into the final chunk).

use std::ops::Range;

use serde_json::value::RawValue;

use crate::types::raw::{find_member, object_entries, JsonError, JsonKind, RawJson};
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

/// Byte offset of `part` inside `root`; `part` must be a sub-slice of `root`.
fn offset(root: &str, part: &str) -> usize {
    let start = part.as_ptr() as usize - root.as_ptr() as usize;
    debug_assert!(start + part.len() <= root.len());
    start
}

/// Byte range of the sub-slice `part` inside `root`.
fn range_of(root: &str, part: &str) -> Range<usize> {
    let start = offset(root, part);
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
        // into a plugin). The ranges come from the parser and always fall on boundaries.
        out.push_str(root.get(at..range.start).unwrap_or(""));
        out.push_str(&text);
        at = range.end;
    }
    out.push_str(root.get(at..).unwrap_or(""));
    out
}

/// The elements of the JSON array `text`, borrowed from it (`None` if it is not an array).
pub(crate) fn array_elements(text: &str) -> Result<Option<Vec<&str>>, JsonError> {
    if JsonKind::of(text) != JsonKind::Array {
        return Ok(None);
    }
    let elements: Vec<&RawValue> = serde_json::from_str(text)?;
    Ok(Some(elements.into_iter().map(RawValue::get).collect()))
}

/// The raw value of member `key` of the object `text` (exact key match).
fn member<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    find_member(text, key, false).map(|(_, v)| v)
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
    fn string(&mut self, raw: &'r str, spot: TextSpot) -> Result<(), JsonError> {
        if JsonKind::of(raw) != JsonKind::String {
            return Ok(());
        }
        let text: String = serde_json::from_str(raw)?;
        if let Some(new) = (self.f)(spot, &text) {
            if new != text {
                let encoded = serde_json::to_string(&new)?;
                self.edits.push((range_of(self.root, raw), encoded));
            }
        }
        Ok(())
    }

    /// Visits the text fields of one message object.
    fn message(&mut self, message: &'r str, item: usize) -> Result<(), JsonError> {
        if JsonKind::of(message) != JsonKind::Object {
            return Ok(());
        }
        for (key, value) in object_entries(message)? {
            let spot = |field| TextSpot { item, field };
            match key.as_ref() {
                "content" => match JsonKind::of(value) {
                    JsonKind::String => self.string(value, spot(TextField::Content))?,
                    JsonKind::Array => {
                        let blocks = array_elements(value)?.unwrap_or_default();
                        for (i, block) in blocks.into_iter().enumerate() {
                            if let Some(text) = member(block, "text") {
                                self.string(text, spot(TextField::Block(i)))?;
                            }
                        }
                    }
                    _ => {}
                },
                "refusal" => self.string(value, spot(TextField::Refusal))?,
                "reasoning" => self.string(value, spot(TextField::Reasoning))?,
                "reasoning_content" => self.string(value, spot(TextField::ReasoningContent))?,
                "tool_calls" => {
                    let calls = array_elements(value)?.unwrap_or_default();
                    for (i, call) in calls.into_iter().enumerate() {
                        if let Some(arguments) = member(call, "function").and_then(|f| member(f, "arguments"))
                        {
                            self.string(arguments, spot(TextField::ToolArguments(i)))?;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Visits every message of a request's `input` array.
    fn messages(&mut self, input: &'r str) -> Result<(), JsonError> {
        let messages = array_elements(input)?.unwrap_or_default();
        for (i, message) in messages.into_iter().enumerate() {
            self.message(message, i)?;
        }
        Ok(())
    }

    /// Visits every choice of a chat response (or chunk) object.
    fn choices(&mut self, chat: &'r str) -> Result<(), JsonError> {
        let Some(choices) = member(chat, "choices") else {
            return Ok(());
        };
        let choices = array_elements(choices)?.unwrap_or_default();
        for (i, choice) in choices.into_iter().enumerate() {
            if JsonKind::of(choice) != JsonKind::Object {
                continue;
            }
            for (key, value) in object_entries(choice)? {
                match key.as_ref() {
                    "message" | "delta" => self.message(value, i)?,
                    "text" => self.string(
                        value,
                        TextSpot {
                            item: i,
                            field: TextField::ChoiceText,
                        },
                    )?,
                    _ => {}
                }
            }
        }
        Ok(())
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

/// Calls `f` with every text of every message of a chat request (see the module docs for
/// which fields count), in document order. Non-chat requests have no messages.
pub fn for_each_request_text(
    request: &LlmRequest,
    mut f: impl FnMut(TextSpot, &str),
) -> Result<(), JsonError> {
    if let Some(input) = request_input(request) {
        let mut walk = Walk::new(request.as_str(), |spot, text: &str| {
            f(spot, text);
            None
        });
        walk.messages(input)?;
    }
    Ok(())
}

/// Offers every text of every message of a chat request to `f`; where `f` returns a new
/// text, it replaces the old one in place (in whichever request shape arrived). Returns how
/// many texts changed. Non-chat requests are left alone (0).
pub fn edit_request_texts(
    request: &mut LlmRequest,
    f: impl FnMut(TextSpot, &str) -> Option<String>,
) -> Result<usize, JsonError> {
    let (edited, n) = match request_input(request) {
        Some(input) => {
            let mut walk = Walk::new(request.as_str(), f);
            walk.messages(input)?;
            walk.finish()
        }
        None => (None, 0),
    };
    if let Some(text) = edited {
        *request = LlmRequest::new(RawJson::from_string(text)?);
    }
    Ok(n)
}

/// Calls `f` with every text of every choice of a response (`message`, `delta`, `text`).
pub fn for_each_response_text(
    response: &LlmResponse,
    mut f: impl FnMut(TextSpot, &str),
) -> Result<(), JsonError> {
    if let Some(chat) = response.chat_raw() {
        let mut walk = Walk::new(response.as_str(), |spot, text: &str| {
            f(spot, text);
            None
        });
        walk.choices(chat)?;
    }
    Ok(())
}

/// Offers every text of every choice of a chat response (complete or streamed) to `f` and
/// splices the replacements in. Returns how many texts changed.
pub fn edit_response_texts(
    response: &mut LlmResponse,
    f: impl FnMut(TextSpot, &str) -> Option<String>,
) -> Result<usize, JsonError> {
    let (edited, n) = match response.chat_raw() {
        Some(chat) => {
            let mut walk = Walk::new(response.as_str(), f);
            walk.choices(chat)?;
            walk.finish()
        }
        None => (None, 0),
    };
    if let Some(text) = edited {
        *response = LlmResponse::new(RawJson::from_string(text)?);
    }
    Ok(n)
}

/// [`edit_response_texts`] for a stream chunk (`http_stream_chunk_hook`'s `chunk`: a chat
/// completion chunk object, or one wrapped like a response).
pub fn edit_chunk_texts(
    chunk: &mut RawJson,
    f: impl FnMut(TextSpot, &str) -> Option<String>,
) -> Result<usize, JsonError> {
    let response = LlmResponse::new(chunk.clone());
    let (edited, n) = match response.chat_raw() {
        Some(chat) => {
            let mut walk = Walk::new(response.as_str(), f);
            walk.choices(chat)?;
            walk.finish()
        }
        None => (None, 0),
    };
    if let Some(text) = edited {
        *chunk = RawJson::from_string(text)?;
    }
    Ok(n)
}

/// What a stream chunk says about one of its choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkChoice {
    /// Position in the chunk's `choices` array (what [`set_chunk_content`] takes).
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

/// The choices of a stream chunk; empty when it has none (a usage-only or error chunk).
pub fn chunk_choices(chunk: &RawJson) -> Result<Vec<ChunkChoice>, JsonError> {
    let response = LlmResponse::new(chunk.clone());
    let Some(chat) = response.chat_raw() else {
        return Ok(Vec::new());
    };
    let Some(choices) = member(chat, "choices") else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (position, choice) in array_elements(choices)?
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        if JsonKind::of(choice) != JsonKind::Object {
            continue;
        }
        let index = member(choice, "index").and_then(|v| serde_json::from_str::<u64>(v).ok());
        let content = ["delta", "message"]
            .iter()
            .filter_map(|k| member(choice, k))
            .find_map(|m| member(m, "content"))
            .and_then(|c| serde_json::from_str::<String>(c).ok());
        let finish_reason =
            member(choice, "finish_reason").and_then(|v| serde_json::from_str::<String>(v).ok());
        out.push(ChunkChoice {
            position,
            index,
            content,
            finish_reason,
        });
    }
    Ok(out)
}

/// Sets the content of the choice at `position` of a stream chunk: `delta.content` (or
/// `message.content` when the choice has a `message` and no `delta`), created when absent.
/// Everything else stays byte-identical.
pub fn set_chunk_content(chunk: &mut RawJson, position: usize, content: &str) -> Result<(), JsonError> {
    let response = LlmResponse::new(chunk.clone());
    let root = response.as_str();
    let chat = response
        .chat_raw()
        .ok_or_else(|| JsonError("the chunk has no chat completion chunk".into()))?;
    let choices = member(chat, "choices").ok_or_else(|| JsonError("the chunk has no `choices`".into()))?;
    let elements = array_elements(choices)?.ok_or_else(|| JsonError("`choices` is not an array".into()))?;
    let choice = *elements
        .get(position)
        .ok_or_else(|| JsonError(format!("the chunk has no choice at position {position}")))?;
    let key = if member(choice, "delta").is_none() && member(choice, "message").is_some() {
        "message"
    } else {
        "delta"
    };
    let mut edited = RawJson::from_string(choice.to_string())?;
    edited.set_path(&[key, "content"], content)?;
    let text = splice(root, vec![(range_of(root, choice), edited.into_string())]);
    *chunk = RawJson::from_string(text)?;
    Ok(())
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
        for_each_request_text(&req, |spot, text| {
            seen.push((spot.item, spot.field, text.to_string()))
        })
        .unwrap();
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
            let n = edit_request_texts(&mut req, upper_bob).unwrap();
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
        assert_eq!(
            edit_request_texts(&mut req, |_, t| Some(t.to_string())).unwrap(),
            0
        );
        assert_eq!(req.as_str(), FLAT);
    }

    #[test]
    fn escaped_strings_are_decoded_and_re_encoded() {
        let mut req =
            LlmRequest::from_json(r#"{"model":"m","input":[{"role":"user","content":"a \"bob\"\n\u00e9"}]}"#)
                .unwrap();
        edit_request_texts(&mut req, |_, t| {
            assert_eq!(t, "a \"bob\"\né");
            Some(t.replace("bob", "x"))
        })
        .unwrap();
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
            assert_eq!(edit_response_texts(&mut resp, upper_bob).unwrap(), 3);
            assert_eq!(resp.as_str(), text.replace("bob", "BOB"));
        }
    }

    #[test]
    fn non_chat_and_missing_payloads_have_no_texts() {
        let mut req = LlmRequest::from_json(
            r#"{"RequestType":"embedding","EmbeddingRequest":{"model":"e","input":"bob"}}"#,
        )
        .unwrap();
        assert_eq!(edit_request_texts(&mut req, upper_bob).unwrap(), 0);
        let mut resp = LlmResponse::new(RawJson::null());
        assert_eq!(edit_response_texts(&mut resp, upper_bob).unwrap(), 0);
        let mut chunk = RawJson::from_string(r#"{"error":{"message":"bob"}}"#.into()).unwrap();
        assert_eq!(edit_chunk_texts(&mut chunk, upper_bob).unwrap(), 0);
        assert!(chunk_choices(&chunk).unwrap().is_empty());
    }

    #[test]
    fn chunk_choices_read_content_and_finish_reason() {
        let chunk = RawJson::from_string(
            r#"{"id":"c","choices":[{"index":0,"delta":{"content":"he"},"finish_reason":null},{"index":3,"delta":{},"finish_reason":"stop"}]}"#.into(),
        )
        .unwrap();
        let choices = chunk_choices(&chunk).unwrap();
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
        set_chunk_content(&mut chunk, 0, "HE").unwrap();
        set_chunk_content(&mut chunk, 1, "tail").unwrap();
        set_chunk_content(&mut chunk, 2, "z").unwrap();
        assert_eq!(
            chunk.as_str(),
            r#"{"id":"c","choices":[{"index":0,"delta":{"content":"HE","x":1.0}},{"index":1,"delta":{"content":"tail"},"finish_reason":"stop"},{"index":2,"delta":{"content":"z"}}],"n":123456789012345678901234567890}"#
        );
        assert!(set_chunk_content(&mut chunk, 9, "x").is_err());
    }
}
