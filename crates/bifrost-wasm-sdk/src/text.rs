//! Walk and edit every piece of text in requests, responses and stream chunks, losslessly.
//!
//! A plugin that inspects or rewrites text (redaction, moderation, translation, prompt
//! checks) needs to visit every text part of every message without caring which of the three
//! request shapes arrived, which request kind it is, whether `content` is a string or an
//! array of blocks, or whether a response is complete or streamed. The [`Texts`] methods (on
//! [`LlmRequest`] and [`LlmResponse`]) and the [`ChunkEdits`] methods (on a stream chunk's
//! [`RawJson`]) do that on the raw JSON: they find the strings by position, hand each one to
//! a callback, and splice the replacements back into the original text. Nothing else is
//! re-serialized: unknown fields, `null`s, key order and number spellings stay byte-identical.
//!
//! The text parts visited ([`TextField`]), per message object (a chat request's `input[i]`, a
//! Responses request's `input[i]` or response's `output[i]`, a chat choice's `message` or
//! `delta`):
//!
//! | field | JSON |
//! |---|---|
//! | [`TextField::Content`] | `content` when it is a string |
//! | [`TextField::Block`] | `content[i].text` of every content block that has a string `text` |
//! | [`TextField::Refusal`] | `refusal` (also of a Responses `refusal` content block) |
//! | [`TextField::Reasoning`] | `reasoning` (chat), `summary[i].text` (a Responses `reasoning` item) |
//! | [`TextField::ReasoningContent`] | `reasoning_content` (Bifrost writes reasoning under both keys) |
//! | [`TextField::ToolArguments`] | `tool_calls[i].function.arguments` (a JSON-encoded string) |
//! | [`TextField::FunctionArguments`] | `arguments` of a Responses `function_call` item (JSON-encoded) |
//! | [`TextField::FunctionOutput`] | `output` of a Responses `function_call_output` item, when a string |
//!
//! and per request kind:
//!
//! | kind | what is visited |
//! |---|---|
//! | chat | the messages of `input` |
//! | Responses | the items of `input` (a string `input` is [`TextField::Content`] of item 0) |
//! | text completion | [`TextField::Prompt`]: `input` when a string (item 0), or each string of the `input` array |
//! | embedding | [`TextField::Input`]: `input` when a string, or each string of the `input` array (token arrays are not text) |
//! | speech | [`TextField::Input`]: `input.input`, the text to speak |
//! | image generation | [`TextField::Prompt`]: `input.prompt` |
//! | transcription, others | nothing |
//!
//! Responses: the choices of a chat or text-completion response (`message`, `delta`, and
//! [`TextField::ChoiceText`], a choice's own `text`); the items of a Responses response's
//! `output`; a Responses stream event's texts (see [`ChunkEdits`]). Other kinds' responses
//! have none.
//!
//! A Responses request in the flat shape looks like a chat request (`input` is an array in
//! both), so it is walked as one; the message walk visits `function_call` and
//! `function_call_output` items too, so nothing is missed. Send Responses requests in the Go
//! envelope or the snake shape to have them recognised as Responses requests.
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
//!
//! let mut completion = LlmRequest::from_json(
//!     r#"{"RequestType":"text_completion","TextCompletionRequest":{"model":"m","input":["a BOB","b"]}}"#,
//! ).unwrap();
//! completion.edit_texts(|spot, text| {
//!     assert_eq!(spot.field, TextField::Prompt);
//!     Some(text.to_lowercase())
//! });
//! assert!(completion.as_str().contains(r#""input":["a bob","b"]"#));
//! ```
//!
//! For streams, [`ChunkEdits::chunk_choices`] reads each choice's streamed text (chat
//! `delta.content`, text-completion `text`, the `delta` of a Responses
//! `response.output_text.delta` event) and whether it ends there, and
//! [`ChunkEdits::set_chunk_content`] writes it back (creating it when the chunk had none, e.g.
//! to flush held-back text into the final chunk).

use std::borrow::Cow;
use std::ops::Range;

use crate::types::raw::{JsonError, JsonKind, RawJson};
use crate::types::scan;
use crate::types::shape::{LlmRequest, LlmResponse, RequestKind};

/// Which text field of a message (or choice, prompt, output item or stream event) a piece of
/// text comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextField {
    /// `content`, when it is a string.
    Content,
    /// `content[i].text`: the text of content block `i` (also the `text` of a Responses
    /// `response.output_text.done` event and the `part.text` of a `response.content_part.*`
    /// event, for content part `i`).
    Block(usize),
    /// `refusal`.
    Refusal,
    /// `reasoning` (chat), or a summary text of a Responses `reasoning` item.
    Reasoning,
    /// `reasoning_content`.
    ReasoningContent,
    /// `tool_calls[i].function.arguments`: the JSON-encoded arguments of tool call `i`.
    ToolArguments(usize),
    /// A response choice's own `text` (text completions, whole or streamed).
    ChoiceText,
    /// A text-completion prompt (`input`, or one string of the `input` array), or an image
    /// generation request's `input.prompt`.
    Prompt,
    /// An embedding request's input text (`input`, or one string of the `input` array), or a
    /// speech request's text to speak (`input.input`).
    Input,
    /// `arguments` of a Responses `function_call` item (a JSON-encoded string), and the
    /// `delta` / `arguments` of its `response.function_call_arguments.*` stream events.
    FunctionArguments,
    /// `output` of a Responses `function_call_output` item, when it is a string.
    FunctionOutput,
    /// The `delta` of a Responses `response.output_text.delta` stream event: the next piece
    /// of an output text.
    Delta,
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
            TextField::Prompt => "prompt",
            TextField::Input => "input",
            TextField::FunctionArguments => "function_arguments",
            TextField::FunctionOutput => "function_output",
            TextField::Delta => "delta",
        }
    }

    /// True for the message's content: [`TextField::Content`] and [`TextField::Block`].
    pub fn is_content(self) -> bool {
        matches!(self, TextField::Content | TextField::Block(_))
    }

    /// True for JSON-encoded arguments: [`TextField::ToolArguments`] and
    /// [`TextField::FunctionArguments`] (an edit that breaks their JSON breaks the call).
    pub fn is_arguments(self) -> bool {
        matches!(self, TextField::ToolArguments(_) | TextField::FunctionArguments)
    }

    /// True for the fields [`ChunkEdits::chunk_choices`] reports as a stream's running text
    /// (a chat chunk's [`TextField::Content`], a text-completion chunk's
    /// [`TextField::ChoiceText`], a Responses [`TextField::Delta`]), which a plugin that holds
    /// text back across chunks handles through [`ChunkEdits::set_chunk_content`].
    pub fn is_streamed_text(self) -> bool {
        matches!(
            self,
            TextField::Content | TextField::ChoiceText | TextField::Delta
        )
    }
}

/// Where a piece of text is: which message (position in the request's `input`), prompt
/// (position in a text-completion or embedding `input` array; 0 for a single string), output
/// item (position in a Responses `output`, or an event's `output_index`) or response choice
/// (position in `choices`), and which field of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TextSpot {
    /// Position of the message in `input`, of the choice in `choices`, of the item in
    /// `output`, or of the prompt in the `input` array.
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

/// The string member `key` of the valid object `text`, decoded.
pub(crate) fn member_str<'a>(text: &'a str, key: &str) -> Option<Cow<'a, str>> {
    member(text, key).and_then(scan::string_value)
}

/// The unsigned integer member `key` of the valid object `text`.
pub(crate) fn member_u64(text: &str, key: &str) -> Option<u64> {
    member(text, key).and_then(|v| v.parse::<u64>().ok())
}

/// True when the valid object `text` is a Responses stream event (`type` is `response.…`).
pub(crate) fn is_responses_event(text: &str) -> bool {
    member_str(text, "type").is_some_and(|t| t.starts_with("response."))
}

/// What a response (or a stream chunk) holds, for the walkers: the inner object's text.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Held<'a> {
    /// A chat or text-completion response (or chunk): its `choices` hold the texts.
    Choices(&'a str),
    /// A complete Responses response: its `output` items hold the texts.
    Responses(&'a str),
    /// One Responses stream event.
    Event(&'a str),
}

/// Finds the inner response of `response` in any shape: an envelope member, or a bare chat
/// or text-completion object (`choices`), Responses response (`"object":"response"`) or
/// Responses stream event (`"type":"response.…"`).
pub(crate) fn held(response: &LlmResponse) -> Option<Held<'_>> {
    let inner = response.inner_raw();
    match (response.kind(), inner) {
        (Some(RequestKind::Chat | RequestKind::TextCompletion), Some(inner)) => Some(Held::Choices(inner)),
        (Some(RequestKind::Responses), Some(inner)) if is_responses_event(inner) => Some(Held::Event(inner)),
        (Some(RequestKind::Responses), Some(inner)) => Some(Held::Responses(inner)),
        (Some(_), _) => None,
        (None, _) => {
            let raw = response.as_str();
            if !response.raw().is_object() {
                None
            } else if is_responses_event(raw) {
                Some(Held::Event(raw))
            } else if member_str(raw, "object").as_deref() == Some("response") {
                Some(Held::Responses(raw))
            } else {
                None
            }
        }
    }
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

    /// Offers a string at `raw` as `field` of item `item`.
    fn at(&mut self, raw: &'r str, item: usize, field: TextField) {
        self.string(raw, TextSpot { item, field });
    }

    /// Visits a content block (`text`, or a Responses `refusal` block's `refusal`).
    fn block(&mut self, block: &'r str, item: usize, i: usize) {
        if let Some(text) = member(block, "text") {
            self.at(text, item, TextField::Block(i));
        }
        if let Some(refusal) = member(block, "refusal") {
            self.at(refusal, item, TextField::Refusal);
        }
    }

    /// Visits the text fields of one message object (a chat message, a chat choice's
    /// `message` or `delta`, or a Responses input or output item).
    fn message(&mut self, message: &'r str, item: usize) {
        let kind = member_str(message, "type");
        let kind = kind.as_deref().unwrap_or("");
        for m in scan::Members::new(message) {
            let value = m.value;
            match m.key().as_ref() {
                "content" => match JsonKind::of(value) {
                    JsonKind::String => self.at(value, item, TextField::Content),
                    JsonKind::Array => {
                        for (i, block) in scan::Elements::new(value).enumerate() {
                            self.block(block, item, i);
                        }
                    }
                    _ => {}
                },
                "refusal" => self.at(value, item, TextField::Refusal),
                "reasoning" => self.at(value, item, TextField::Reasoning),
                "reasoning_content" => self.at(value, item, TextField::ReasoningContent),
                "tool_calls" => {
                    for (i, call) in scan::Elements::new(value).enumerate() {
                        if let Some(arguments) = member(call, "function").and_then(|f| member(f, "arguments"))
                        {
                            self.at(arguments, item, TextField::ToolArguments(i));
                        }
                    }
                }
                "arguments" if kind == "function_call" => self.at(value, item, TextField::FunctionArguments),
                "output" if kind == "function_call_output" => self.at(value, item, TextField::FunctionOutput),
                "summary" if kind == "reasoning" => {
                    for part in scan::Elements::new(value) {
                        if let Some(text) = member(part, "text") {
                            self.at(text, item, TextField::Reasoning);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Visits every message (or Responses item) of a request's `input` array; a string
    /// `input` is the content of item 0.
    fn messages(&mut self, input: &'r str) {
        if JsonKind::of(input) == JsonKind::String {
            self.at(input, 0, TextField::Content);
            return;
        }
        for (i, message) in scan::Elements::new(input).enumerate() {
            self.message(message, i);
        }
    }

    /// Visits a string, or each string of an array, as `field` (item = position).
    fn strings(&mut self, value: &'r str, field: TextField) {
        match JsonKind::of(value) {
            JsonKind::String => self.at(value, 0, field),
            JsonKind::Array => {
                for (i, element) in scan::Elements::new(value).enumerate() {
                    if JsonKind::of(element) == JsonKind::String {
                        self.at(element, i, field);
                    }
                }
            }
            _ => {}
        }
    }

    /// Visits the texts of the inner request `inner` of kind `kind`.
    fn request(&mut self, kind: &RequestKind, inner: &'r str) {
        let Some(input) = member(inner, "input") else {
            return;
        };
        match kind {
            RequestKind::Chat | RequestKind::Responses => self.messages(input),
            RequestKind::TextCompletion => self.strings(input, TextField::Prompt),
            RequestKind::Embedding => self.strings(input, TextField::Input),
            RequestKind::Speech => {
                if let Some(text) = member(input, "input") {
                    self.at(text, 0, TextField::Input);
                }
            }
            RequestKind::ImageGeneration => {
                if let Some(prompt) = member(input, "prompt") {
                    self.at(prompt, 0, TextField::Prompt);
                }
            }
            RequestKind::Transcription | RequestKind::Other(_) => {}
        }
    }

    /// Visits every choice of a chat or text-completion response (or chunk) object.
    fn choices(&mut self, chat: &'r str) {
        let Some(choices) = member(chat, "choices") else {
            return;
        };
        for (i, choice) in scan::Elements::new(choices).enumerate() {
            for m in scan::Members::new(choice) {
                match m.key().as_ref() {
                    "message" | "delta" => self.message(m.value, i),
                    "text" => self.at(m.value, i, TextField::ChoiceText),
                    _ => {}
                }
            }
        }
    }

    /// Visits every item of a Responses response's `output`.
    fn output(&mut self, response: &'r str) {
        if let Some(output) = member(response, "output") {
            for (i, item) in scan::Elements::new(output).enumerate() {
                self.message(item, i);
            }
        }
    }

    /// Visits the texts of one Responses stream event.
    fn event(&mut self, event: &'r str) {
        let kind = member_str(event, "type");
        let kind = kind.as_deref().unwrap_or("");
        let item = member_u64(event, "output_index").unwrap_or(0) as usize;
        let part = member_u64(event, "content_index").unwrap_or(0) as usize;
        // The field of a `delta` or `text` by event type; other events' deltas (audio, ...)
        // are not text.
        let piece = match kind {
            "response.output_text.delta" => Some(TextField::Delta),
            "response.output_text.done" => Some(TextField::Block(part)),
            "response.refusal.delta" | "response.refusal.done" => Some(TextField::Refusal),
            "response.function_call_arguments.delta" | "response.function_call_arguments.done" => {
                Some(TextField::FunctionArguments)
            }
            k if k.starts_with("response.reasoning") => Some(TextField::Reasoning),
            _ => None,
        };
        for m in scan::Members::new(event) {
            match (m.key().as_ref(), piece) {
                ("delta" | "text" | "refusal" | "arguments", Some(field)) => self.at(m.value, item, field),
                ("part", _) => self.block(m.value, item, part),
                ("item", _) => self.message(m.value, item),
                ("response", _) => self.output(m.value),
                _ => {}
            }
        }
    }

    /// Visits whatever `held` holds.
    fn held(&mut self, held: Held<'r>) {
        match held {
            Held::Choices(inner) => self.choices(inner),
            Held::Responses(inner) => self.output(inner),
            Held::Event(inner) => self.event(inner),
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

/// Every text of a request (see the module docs for which fields of which kinds count) or of
/// a response's choices, output items or stream event, visited in document order and edited
/// in place.
pub trait Texts {
    /// Calls `f` with every text (see the module docs for which fields count), in document
    /// order. A request of a kind without text (transcription, ...), or a response of such a
    /// kind, has none.
    fn for_each_text(&self, f: impl FnMut(TextSpot, &str));

    /// Offers every text to `f`; where `f` returns a new text, it replaces the old one in
    /// place (in whichever shape arrived). Returns how many texts changed.
    fn edit_texts(&mut self, f: impl FnMut(TextSpot, &str) -> Option<String>) -> usize;
}

impl Texts for LlmRequest {
    fn for_each_text(&self, mut f: impl FnMut(TextSpot, &str)) {
        if let Some(inner) = self.inner() {
            let mut walk = Walk::new(self.as_str(), |spot, text: &str| {
                f(spot, text);
                None
            });
            walk.request(&self.kind(), inner);
        }
    }

    fn edit_texts(&mut self, f: impl FnMut(TextSpot, &str) -> Option<String>) -> usize {
        let (edited, n) = match self.inner() {
            Some(inner) => {
                let mut walk = Walk::new(self.as_str(), f);
                walk.request(&self.kind(), inner);
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
        if let Some(inner) = held(self) {
            let mut walk = Walk::new(self.as_str(), |spot, text: &str| {
                f(spot, text);
                None
            });
            walk.held(inner);
        }
    }

    fn edit_texts(&mut self, f: impl FnMut(TextSpot, &str) -> Option<String>) -> usize {
        let (edited, n) = match held(self) {
            Some(inner) => {
                let mut walk = Walk::new(self.as_str(), f);
                walk.held(inner);
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

/// What a stream chunk says about one of its streamed texts: a chat or text-completion
/// choice, or the output text a Responses stream event belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkChoice {
    /// Position in the chunk's `choices` array (what [`ChunkEdits::set_chunk_content`]
    /// takes); 0 for a Responses event.
    pub position: usize,
    /// The choice's `index` member (which choice of the completion this is), if present. For
    /// a Responses event: `output_index << 32 | content_index`, which output text it is.
    pub index: Option<u64>,
    /// The streamed text: `delta.content` (or `message.content`) of a chat choice, `text` of
    /// a text-completion choice, `delta` of a Responses `response.output_text.delta` event;
    /// `None` when absent or not a string.
    pub content: Option<String>,
    /// `finish_reason` when it is a string: the last chunk of this choice. For a Responses
    /// `response.output_text.done` event, `"done"` (that output text is complete; the event
    /// itself carries the whole text, not a piece).
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

/// The key of the output text a Responses event belongs to.
fn event_key(event: &str) -> u64 {
    let item = member_u64(event, "output_index").unwrap_or(0);
    let part = member_u64(event, "content_index").unwrap_or(0);
    (item << 32) | (part & 0xffff_ffff)
}

/// Reading and editing a stream chunk (`http_stream_chunk_hook`'s `chunk`: a chat or
/// text-completion chunk object, a Responses stream event, or one wrapped like a response).
pub trait ChunkEdits {
    /// [`Texts::edit_texts`] for the chunk's choices (or the Responses event's texts).
    fn edit_chunk_texts(&mut self, f: impl FnMut(TextSpot, &str) -> Option<String>) -> usize;

    /// The chunk's streamed texts, one per choice; for a Responses event, one for a
    /// `response.output_text.delta` (its `delta`) or `response.output_text.done` (final, no
    /// content) and none for other events. Empty when it has none (a usage-only or error
    /// chunk).
    fn chunk_choices(&self) -> Vec<ChunkChoice>;

    /// Sets the streamed text of the choice at `position`: `delta.content` (or
    /// `message.content` when the choice has a `message` and no `delta`, or `text` for a
    /// text-completion choice, one with a `text` member and neither), created when absent.
    /// For a Responses event (position 0): the `delta` of a `response.output_text.delta`; a
    /// `response.output_text.done` is turned into a `response.output_text.delta` carrying
    /// `content` (its `text` removed, every other member kept), since a done event cannot
    /// carry a piece of text — the later `response.content_part.done`,
    /// `response.output_item.done` and `response.completed` events still carry the whole
    /// text. Everything else stays byte-identical. Errors when the chunk has no choice at
    /// `position`.
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
        let choices = match held(&response) {
            Some(Held::Choices(inner)) => member(inner, "choices"),
            Some(Held::Event(event)) => {
                let kind = member_str(event, "type");
                return match kind.as_deref() {
                    Some("response.output_text.delta") => vec![ChunkChoice {
                        position: 0,
                        index: Some(event_key(event)),
                        content: owned_string(member(event, "delta")),
                        finish_reason: None,
                    }],
                    Some("response.output_text.done") => vec![ChunkChoice {
                        position: 0,
                        index: Some(event_key(event)),
                        content: None,
                        finish_reason: Some("done".to_string()),
                    }],
                    _ => Vec::new(),
                };
            }
            _ => None,
        };
        let Some(choices) = choices else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (position, choice) in scan::Elements::new(choices).enumerate() {
            if JsonKind::of(choice) != JsonKind::Object {
                continue;
            }
            let content = ["delta", "message"]
                .iter()
                .filter_map(|k| member(choice, k))
                .find_map(|m| member(m, "content"))
                .or_else(|| member(choice, "text"));
            out.push(ChunkChoice {
                position,
                index: member_u64(choice, "index"),
                content: owned_string(content),
                finish_reason: owned_string(member(choice, "finish_reason")),
            });
        }
        out
    }

    fn set_chunk_content(&mut self, position: usize, content: &str) -> Result<(), JsonError> {
        let response = LlmResponse::new(self.clone());
        let root = response.as_str();
        let inner = match held(&response) {
            Some(Held::Choices(inner)) => inner,
            Some(Held::Event(event)) => {
                let text = set_event_delta(event, position, content)?;
                let text = splice(root, vec![(range_of(root, event), text)]);
                *self = RawJson::from_validated(text);
                return Ok(());
            }
            _ => return Err(JsonError("the chunk has no chat or text completion chunk".into())),
        };
        let choices =
            member(inner, "choices").ok_or_else(|| JsonError("the chunk has no `choices`".into()))?;
        if JsonKind::of(choices) != JsonKind::Array {
            return Err(JsonError("`choices` is not an array".into()));
        }
        let choice = scan::Elements::new(choices)
            .nth(position)
            .ok_or_else(|| JsonError(format!("the chunk has no choice at position {position}")))?;
        let has = |k| member(choice, k).is_some();
        let mut edited = RawJson::from_validated(choice.to_string());
        if !has("delta") && has("message") {
            edited.set_path_str(&["message", "content"], content)?;
        } else if !has("delta") && has("text") {
            edited.set_path_str(&["text"], content)?;
        } else {
            edited.set_path_str(&["delta", "content"], content)?;
        }
        let text = splice(root, vec![(range_of(root, choice), edited.into_string())]);
        *self = RawJson::from_validated(text);
        Ok(())
    }
}

/// The Responses event `event` with its output-text piece set to `content` (see
/// [`ChunkEdits::set_chunk_content`]).
fn set_event_delta(event: &str, position: usize, content: &str) -> Result<String, JsonError> {
    let kind = member_str(event, "type");
    if position != 0 {
        return Err(JsonError(format!(
            "a Responses event has no text at position {position}"
        )));
    }
    let mut edited = RawJson::from_validated(event.to_string());
    match kind.as_deref() {
        Some("response.output_text.delta") => {}
        Some("response.output_text.done") => {
            edited.set_path_str(&["type"], "response.output_text.delta")?;
            edited.remove("text")?;
        }
        other => {
            return Err(JsonError(format!(
                "the Responses event `{}` carries no output text piece",
                other.unwrap_or("")
            )))
        }
    }
    edited.set_path_str(&["delta"], content)?;
    Ok(edited.into_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::shape::{
        wrap_chat_request, wrap_chat_response, wrap_request, wrap_response, RequestShape,
    };

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
    fn textless_kinds_and_missing_payloads_have_no_texts() {
        let text = r#"{"RequestType":"transcription","TranscriptionRequest":{"model":"w","input":{"file":"Ym9i","filename":"bob.wav"},"params":{"prompt":"bob"}}}"#;
        let mut req = LlmRequest::from_json(text).unwrap();
        assert_eq!(req.edit_texts(upper_bob), 0);
        assert_eq!(req.as_str(), text);
        let speech = r#"{"SpeechResponse":{"audio":"Ym9i"}}"#;
        let mut resp = LlmResponse::from_json(speech).unwrap();
        assert_eq!(resp.edit_texts(upper_bob), 0);
        assert_eq!(resp.as_str(), speech);
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

    /// Every text the walk visits, as `(item, field, text)`.
    fn visits<T: Texts>(value: &T) -> Vec<(usize, TextField, String)> {
        let mut seen = Vec::new();
        value.for_each_text(|spot, text| seen.push((spot.item, spot.field, text.to_string())));
        seen
    }

    fn wrapped_request(flat: &str, kind: RequestKind, shape: RequestShape) -> LlmRequest {
        LlmRequest::from_json(&wrap_request(flat, &kind, shape, false)).unwrap()
    }

    #[test]
    fn text_completion_prompts_are_edited_as_string_or_array_in_every_shape() {
        let single = r#"{"provider":"openai","model":"davinci","input":"tell bob","params":{"max_tokens":16,"n":1.0},"x":123456789012345678901234567890}"#;
        let batch = r#"{"provider":"openai","model":"davinci","input":["tell bob",7,"bob again"],"params":{"n":1.0}}"#;
        for shape in RequestShape::ALL {
            let text = wrap_request(single, &RequestKind::TextCompletion, shape, false);
            let mut req = LlmRequest::from_json(&text).unwrap();
            assert_eq!(req.kind(), RequestKind::TextCompletion, "{shape}");
            assert_eq!(visits(&req), vec![(0, TextField::Prompt, "tell bob".to_string())]);
            assert_eq!(req.edit_texts(upper_bob), 1);
            assert_eq!(req.as_str(), text.replace("tell bob", "tell BOB"), "{shape}");
        }
        // An array prompt is recognised in the envelope and snake shapes (a flat request with
        // an array `input` reads as chat).
        for shape in [RequestShape::GoEnvelope, RequestShape::Snake] {
            let text = wrap_request(batch, &RequestKind::TextCompletion, shape, true);
            let mut req = LlmRequest::from_json(&text).unwrap();
            assert_eq!(
                visits(&req),
                vec![
                    (0, TextField::Prompt, "tell bob".to_string()),
                    (2, TextField::Prompt, "bob again".to_string()),
                ]
            );
            assert_eq!(req.edit_texts(upper_bob), 2);
            assert_eq!(req.as_str(), text.replace("bob", "BOB"), "{shape}");
        }
    }

    const RESPONSES_REQUEST: &str = r#"{"provider":"anthropic","model":"claude","input":[{"type":"message","role":"system","content":"Be brief, bob."},{"type":"message","role":"user","content":[{"type":"input_text","text":"mail bob"},{"type":"input_image","image_url":"https://x/bob.png"},{"type":"input_text","text":"now","n":1.50}]},{"type":"function_call","call_id":"c1","name":"send","arguments":"{\"to\":\"bob\"}"},{"type":"function_call_output","call_id":"c1","output":"sent to bob"},{"role":"assistant","content":[{"type":"output_text","text":"done, bob"}]}],"params":{"max_output_tokens":99,"z":1e2}}"#;

    #[test]
    fn responses_request_items_visit_content_blocks_arguments_and_outputs() {
        let expected = vec![
            (0, TextField::Content, "Be brief, bob.".to_string()),
            (1, TextField::Block(0), "mail bob".to_string()),
            (1, TextField::Block(2), "now".to_string()),
            (2, TextField::FunctionArguments, r#"{"to":"bob"}"#.to_string()),
            (3, TextField::FunctionOutput, "sent to bob".to_string()),
            (4, TextField::Block(0), "done, bob".to_string()),
        ];
        for shape in RequestShape::ALL {
            let text = wrap_request(RESPONSES_REQUEST, &RequestKind::Responses, shape, false);
            let mut req = LlmRequest::from_json(&text).unwrap();
            // Flat, a Responses request reads as chat; the walk finds the same texts.
            let kind = if shape == RequestShape::Flat {
                RequestKind::Chat
            } else {
                RequestKind::Responses
            };
            assert_eq!(req.kind(), kind, "{shape}");
            assert_eq!(visits(&req), expected, "{shape}");
            assert_eq!(req.edit_texts(upper_bob), 5, "{shape}");
            assert_eq!(
                req.as_str(),
                text.replace("bob", "BOB").replace("BOB.png", "bob.png"),
                "{shape}"
            );
        }
        let plain = wrapped_request(
            r#"{"model":"m","input":"hi bob"}"#,
            RequestKind::Responses,
            RequestShape::Snake,
        );
        assert_eq!(
            visits(&plain),
            vec![(0, TextField::Content, "hi bob".to_string())]
        );
    }

    #[test]
    fn embedding_speech_and_image_inputs_are_texts_and_token_inputs_are_not() {
        let cases = [
            (
                RequestKind::Embedding,
                r#"{"model":"e","input":"bob","params":{"dimensions":8}}"#,
                vec![(0, TextField::Input, "bob")],
            ),
            (
                RequestKind::Embedding,
                r#"{"model":"e","input":["a","bob"]}"#,
                vec![(0, TextField::Input, "a"), (1, TextField::Input, "bob")],
            ),
            (RequestKind::Embedding, r#"{"model":"e","input":[1,2,3]}"#, vec![]),
            (
                RequestKind::Embedding,
                r#"{"model":"e","input":[[1,2],[3]]}"#,
                vec![],
            ),
            (
                RequestKind::Speech,
                r#"{"model":"tts","input":{"input":"hello bob"},"params":{"voice":"alloy"}}"#,
                vec![(0, TextField::Input, "hello bob")],
            ),
            (
                RequestKind::ImageGeneration,
                r#"{"model":"img","input":{"prompt":"a bob"},"params":{"n":1}}"#,
                vec![(0, TextField::Prompt, "a bob")],
            ),
        ];
        for (kind, flat, expected) in cases {
            for shape in [RequestShape::GoEnvelope, RequestShape::Snake] {
                let text = wrap_request(flat, &kind, shape, false);
                let mut req = LlmRequest::from_json(&text).unwrap();
                let expected: Vec<_> = expected.iter().map(|(i, f, t)| (*i, *f, t.to_string())).collect();
                assert_eq!(visits(&req), expected, "{kind:?} {shape}");
                let n = req.edit_texts(upper_bob);
                let changed = expected.iter().filter(|(_, _, t)| t.contains("bob")).count();
                assert_eq!(n, changed, "{kind:?} {shape}");
                if changed == 0 {
                    assert_eq!(req.as_str(), text);
                } else {
                    assert_eq!(req.as_str(), text.replace("bob", "BOB"), "{kind:?} {shape}");
                }
            }
        }
    }

    const TEXT_COMPLETION: &str = r#"{"id":"cmpl-1","object":"text_completion","created":1,"model":"davinci","choices":[{"text":"hi bob","index":0,"logprobs":null,"finish_reason":"stop"},{"text":"bye bob","index":1,"logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#;

    const RESPONSES_RESPONSE: &str = r#"{"id":"resp_1","object":"response","created_at":1,"model":"gpt-4o","status":"completed","output":[{"type":"reasoning","id":"rs","summary":[{"type":"summary_text","text":"think of bob"}]},{"type":"message","id":"msg_1","role":"assistant","status":"completed","content":[{"type":"output_text","text":"hello bob","annotations":[]},{"type":"refusal","refusal":"not bob"}]},{"type":"function_call","id":"fc","call_id":"c","name":"f","arguments":"{\"who\":\"bob\"}"}],"usage":{"input_tokens":1,"output_tokens":2,"total_tokens":3},"x":0.10}"#;

    #[test]
    fn text_completion_and_responses_responses_are_edited_in_every_shape() {
        for shape in RequestShape::ALL {
            let text = wrap_response(TEXT_COMPLETION, &RequestKind::TextCompletion, shape, false);
            let mut resp = LlmResponse::from_json(&text).unwrap();
            assert_eq!(
                visits(&resp),
                vec![
                    (0, TextField::ChoiceText, "hi bob".to_string()),
                    (1, TextField::ChoiceText, "bye bob".to_string()),
                ],
                "{shape}"
            );
            assert_eq!(resp.edit_texts(upper_bob), 2);
            assert_eq!(resp.as_str(), text.replace("bob", "BOB"), "{shape}");

            let text = wrap_response(RESPONSES_RESPONSE, &RequestKind::Responses, shape, false);
            let mut resp = LlmResponse::from_json(&text).unwrap();
            assert_eq!(
                visits(&resp),
                vec![
                    (0, TextField::Reasoning, "think of bob".to_string()),
                    (1, TextField::Block(0), "hello bob".to_string()),
                    (1, TextField::Refusal, "not bob".to_string()),
                    (2, TextField::FunctionArguments, r#"{"who":"bob"}"#.to_string()),
                ],
                "{shape}"
            );
            assert_eq!(resp.edit_texts(upper_bob), 4);
            assert_eq!(resp.as_str(), text.replace("bob", "BOB"), "{shape}");
        }
        // A bare Responses response (as a chunk or a flat answer) is found too.
        let resp = LlmResponse::from_json(RESPONSES_RESPONSE).unwrap();
        assert_eq!(visits(&resp).len(), 4);
    }

    #[test]
    fn responses_stream_events_expose_their_texts_and_leave_others_alone() {
        let events = [
            (
                r#"{"type":"response.output_text.delta","sequence_number":4,"item_id":"m","output_index":1,"content_index":0,"delta":"bob"}"#,
                vec![(1, TextField::Delta, "bob")],
            ),
            (
                r#"{"type":"response.output_text.done","sequence_number":5,"item_id":"m","output_index":1,"content_index":2,"text":"hi bob"}"#,
                vec![(1, TextField::Block(2), "hi bob")],
            ),
            (
                r#"{"type":"response.content_part.done","output_index":0,"content_index":1,"part":{"type":"output_text","text":"hi bob","annotations":[]}}"#,
                vec![(0, TextField::Block(1), "hi bob")],
            ),
            (
                r#"{"type":"response.output_item.done","output_index":0,"item":{"type":"message","role":"assistant","content":[{"type":"output_text","text":"hi bob"}]}}"#,
                vec![(0, TextField::Block(0), "hi bob")],
            ),
            (
                r#"{"type":"response.function_call_arguments.delta","output_index":2,"delta":"{\"to\":\"bob"}"#,
                vec![(2, TextField::FunctionArguments, "{\"to\":\"bob")],
            ),
            (
                r#"{"type":"response.completed","sequence_number":9,"response":{"object":"response","status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"hi bob"}]}]}}"#,
                vec![(0, TextField::Block(0), "hi bob")],
            ),
            (
                r#"{"type":"response.created","response":{"object":"response","status":"in_progress","output":[]}}"#,
                vec![],
            ),
            (r#"{"type":"response.audio.delta","delta":"Ym9i"}"#, vec![]),
        ];
        for (event, expected) in events {
            let expected: Vec<_> = expected.iter().map(|(i, f, t)| (*i, *f, t.to_string())).collect();
            for text in [
                event.to_string(),
                wrap_response(event, &RequestKind::Responses, RequestShape::GoEnvelope, true),
                wrap_response(event, &RequestKind::Responses, RequestShape::Snake, true),
            ] {
                let mut chunk = RawJson::from_string(text.clone()).unwrap();
                assert_eq!(visits(&LlmResponse::new(chunk.clone())), expected, "{text}");
                let n = chunk.edit_chunk_texts(upper_bob);
                assert_eq!(n, expected.len(), "{text}");
                if n > 0 {
                    assert_eq!(chunk.as_str(), text.replace("bob", "BOB"));
                } else {
                    assert_eq!(chunk.as_str(), text);
                }
            }
        }
    }

    #[test]
    fn text_completion_chunks_report_and_take_their_text() {
        let text = r#"{"id":"c","object":"text_completion","choices":[{"text":"he","index":0,"logprobs":null,"finish_reason":null},{"index":1,"text":"","finish_reason":"stop"}],"x":1.0}"#;
        for wrapped in [
            text.to_string(),
            wrap_response(text, &RequestKind::TextCompletion, RequestShape::GoEnvelope, true),
            wrap_response(text, &RequestKind::TextCompletion, RequestShape::Snake, true),
        ] {
            let mut chunk = RawJson::from_string(wrapped.clone()).unwrap();
            let choices = chunk.chunk_choices();
            assert_eq!(choices.len(), 2);
            assert_eq!(choices[0].content.as_deref(), Some("he"));
            assert!(!choices[0].is_final());
            assert_eq!(choices[1].content.as_deref(), Some(""));
            assert!(choices[1].is_final());
            chunk.set_chunk_content(0, "HE").unwrap();
            chunk.set_chunk_content(1, "llo").unwrap();
            assert_eq!(
                chunk.as_str(),
                wrapped
                    .replace(r#""text":"he""#, r#""text":"HE""#)
                    .replace(r#""text":"","#, r#""text":"llo","#)
            );
        }
    }

    #[test]
    fn responses_delta_and_done_events_are_stream_choices_and_done_becomes_a_delta() {
        let delta = r#"{"type":"response.output_text.delta","sequence_number":4,"item_id":"m","output_index":1,"content_index":2,"delta":"he","obfuscation":"x"}"#;
        let done = r#"{"type":"response.output_text.done","sequence_number":5,"item_id":"m","output_index":1,"content_index":2,"text":"hello","logprobs":[]}"#;
        for shape in [None, Some(RequestShape::GoEnvelope), Some(RequestShape::Snake)] {
            let wrap = |e: &str| match shape {
                None => e.to_string(),
                Some(s) => wrap_response(e, &RequestKind::Responses, s, true),
            };
            let mut chunk = RawJson::from_string(wrap(delta)).unwrap();
            let choices = chunk.chunk_choices();
            assert_eq!(
                choices,
                vec![ChunkChoice {
                    position: 0,
                    index: Some(1 << 32 | 2),
                    content: Some("he".to_string()),
                    finish_reason: None,
                }]
            );
            chunk.set_chunk_content(0, "HE").unwrap();
            assert_eq!(
                chunk.as_str(),
                wrap(&delta.replace(r#""delta":"he""#, r#""delta":"HE""#))
            );

            let mut chunk = RawJson::from_string(wrap(done)).unwrap();
            let choices = chunk.chunk_choices();
            assert_eq!(choices.len(), 1);
            assert_eq!(choices[0].key(), 1 << 32 | 2);
            assert!(choices[0].is_final());
            assert_eq!(choices[0].content, None);
            chunk.set_chunk_content(0, "llo").unwrap();
            assert_eq!(
                chunk.as_str(),
                wrap(
                    r#"{"type":"response.output_text.delta","sequence_number":5,"item_id":"m","output_index":1,"content_index":2,"logprobs":[],"delta":"llo"}"#
                )
            );
            assert!(chunk.set_chunk_content(1, "x").is_err());
        }
        let mut other =
            RawJson::from_string(r#"{"type":"response.completed","response":{}}"#.into()).unwrap();
        assert!(other.chunk_choices().is_empty());
        assert!(other.set_chunk_content(0, "x").is_err());
    }
}
