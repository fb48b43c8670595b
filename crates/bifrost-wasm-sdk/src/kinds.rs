//! Typed views of every request kind's request and response, and edits that keep every other
//! byte as it arrived.
//!
//! Bifrost sends a plugin more than chat: text completions, Responses-API requests (Anthropic
//! `/v1/messages` requests reach plugins as Responses requests), embeddings, speech,
//! transcriptions and image generations. Each sits in the request's Go envelope member
//! (`TextCompletionRequest`, ...), its snake wrapper (`text_completion_request`, ...) or, flat,
//! on its own. [`RequestKinds`] (on [`LlmRequest`]) and [`ResponseKinds`] (on [`LlmResponse`]
//! and a stream chunk's [`RawJson`]) give a view per kind that reads members on demand from
//! the raw JSON, so nothing is parsed that is not asked for and nothing is re-serialized.
//!
//! | kind | request view: reads | request edits | response view: reads |
//! |---|---|---|---|
//! | text completion | [`TextCompletionRequest`]: `prompts` (`input` string or array) | [`RequestKinds::set_prompt`], [`RequestKinds::set_prompts`] | [`TextCompletionResponse`]: `choices[].text` (also stream chunks) |
//! | Responses | [`ResponsesRequest`]: `items` (role, type, texts of `input`), `instructions` | [`crate::RequestEdits::insert_message`] | [`ResponsesResponse`]: `output_text`, `output_items`; [`ResponsesStreamEvent`]: `delta`, `text`, ... |
//! | embedding | [`EmbeddingRequest`]: [`EmbeddingInput`] | [`RequestKinds::set_embedding_input`] | [`EmbeddingResponse`]: `count`, `dims`, `vectors` |
//! | speech | [`SpeechRequest`]: `text`, `voice` | [`RequestKinds::set_speech_input`] | [`SpeechResponse`]: `audio` bytes (also `speech.audio.delta` events) |
//! | transcription | [`TranscriptionRequest`]: `filename`, `file` bytes, `language` | — | [`TranscriptionResponse`]: `text` (also `transcript.text.*` events) |
//! | image generation | [`ImageGenerationRequest`]: `prompt`, `n`, `size` | [`RequestKinds::set_image_prompt`] | [`ImageGenerationResponse`]: `images` |
//!
//! Every view has the inner object's `raw()` text; request views also read `provider`,
//! `model` and `params` members; [`RequestKinds::set_param`] sets one `params` member of any
//! kind. The texts of every kind are walked and edited in place by [`crate::Texts`].
//!
//! Which kind a request is comes from its envelope member (or `RequestType`). Flat, only a
//! text completion is recognised, by its string `input`; a flat request with an array `input`
//! reads as chat (a Responses request in the flat shape cannot be told from a chat request:
//! send Responses requests in the Go envelope or the snake shape).
//!
//! ```
//! use bifrost_wasm_sdk::prelude::*;
//!
//! let mut request = LlmRequest::from_json(
//!     r#"{"RequestType":"text_completion","TextCompletionRequest":{"model":"m","input":"Say hi","params":{"max_tokens":5}}}"#,
//! ).unwrap();
//! let view = request.text_completion().unwrap();
//! assert_eq!(view.prompts(), ["Say hi"]);
//! assert_eq!(view.param_u64("max_tokens"), Some(5));
//! request.set_prompt("Say hello").unwrap();
//! assert_eq!(
//!     request.as_str(),
//!     r#"{"RequestType":"text_completion","TextCompletionRequest":{"model":"m","input":"Say hello","params":{"max_tokens":5}}}"#
//! );
//!
//! let response = LlmResponse::from_json(
//!     r#"{"responses_response":{"object":"response","status":"completed","output":[{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Hi!"}]}]}}"#,
//! ).unwrap();
//! assert_eq!(response.responses().unwrap().output_text(), "Hi!");
//! ```

use std::borrow::Cow;

use serde::Serialize;

use crate::text::{member, member_str, member_u64, range_of, splice};
use crate::types::http::decode_base64;
use crate::types::raw::{JsonError, JsonKind, RawJson};
use crate::types::scan;
use crate::types::shape::{LlmRequest, LlmResponse, RequestKind};

fn owned(value: Option<Cow<'_, str>>) -> Option<String> {
    value.map(Cow::into_owned)
}

/// The strings of a JSON string or array of strings (other elements skipped).
fn strings(value: &str) -> Vec<String> {
    match JsonKind::of(value) {
        JsonKind::String => scan::string_value(value)
            .map(Cow::into_owned)
            .into_iter()
            .collect(),
        JsonKind::Array => scan::Elements::new(value)
            .filter_map(scan::string_value)
            .map(Cow::into_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// The integers of a JSON array (`None` when it is not an array of integers).
fn integers(value: &str) -> Option<Vec<i64>> {
    if JsonKind::of(value) != JsonKind::Array {
        return None;
    }
    scan::Elements::new(value)
        .map(|n| n.parse::<i64>().ok())
        .collect()
}

/// Members every inner request has: `provider`, `model`, `params`.
macro_rules! request_view {
    ($name:ident) => {
        impl<'a> $name<'a> {
            /// The inner (flat) request object's JSON text.
            pub fn raw(&self) -> &'a str {
                self.inner
            }

            /// The provider id (`provider`).
            pub fn provider(&self) -> Option<String> {
                owned(member_str(self.inner, "provider"))
            }

            /// The model name (`model`).
            pub fn model(&self) -> Option<String> {
                owned(member_str(self.inner, "model"))
            }

            /// Raw JSON text of `params.<name>`.
            pub fn param_raw(&self, name: &str) -> Option<&'a str> {
                member(self.inner, "params").and_then(|p| member(p, name))
            }

            /// `params.<name>` when it is a string.
            pub fn param_str(&self, name: &str) -> Option<String> {
                owned(self.param_raw(name).and_then(scan::string_value))
            }

            /// `params.<name>` when it is an unsigned integer.
            pub fn param_u64(&self, name: &str) -> Option<u64> {
                self.param_raw(name).and_then(|v| v.parse().ok())
            }
        }
    };
}

/// A text-completion request (`TextCompletionRequest`): `input` is the prompt, a string or an
/// array of strings.
#[derive(Debug, Clone, Copy)]
pub struct TextCompletionRequest<'a> {
    inner: &'a str,
}

request_view!(TextCompletionRequest);

impl<'a> TextCompletionRequest<'a> {
    /// The prompts: one for a string `input`, each string of an array `input`.
    pub fn prompts(&self) -> Vec<String> {
        member(self.inner, "input").map(strings).unwrap_or_default()
    }

    /// True when `input` is an array of prompts (a batch).
    pub fn is_batch(&self) -> bool {
        member(self.inner, "input").is_some_and(|v| JsonKind::of(v) == JsonKind::Array)
    }

    /// `params.max_tokens`, the completion's token limit.
    pub fn max_tokens(&self) -> Option<u64> {
        self.param_u64("max_tokens")
    }
}

/// One item of a Responses request's `input` or a Responses response's `output`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResponsesItem {
    /// `type` (`message`, `function_call`, `function_call_output`, `reasoning`, ...); `None`
    /// for a message written without one (`{"role","content"}`).
    pub item_type: Option<String>,
    /// `role` of a message (`user`, `system`, `developer`, `assistant`).
    pub role: Option<String>,
    /// `name` of a function call.
    pub name: Option<String>,
    /// The item's texts: a string `content`, or each content block's `text` (and a refusal
    /// block's `refusal`); a function call's `arguments`; a function call output's `output`
    /// (when a string); a reasoning item's summary texts.
    pub texts: Vec<String>,
}

impl ResponsesItem {
    fn read(item: &str) -> Self {
        let item_type = owned(member_str(item, "type"));
        let mut texts = Vec::new();
        match member(item, "content") {
            Some(c) if JsonKind::of(c) == JsonKind::Array => {
                for block in scan::Elements::new(c) {
                    let text = member_str(block, "text").or_else(|| member_str(block, "refusal"));
                    texts.extend(owned(text));
                }
            }
            Some(c) => texts.extend(owned(scan::string_value(c))),
            None => {}
        }
        match item_type.as_deref() {
            Some("function_call") => texts.extend(owned(member_str(item, "arguments"))),
            Some("function_call_output") => texts.extend(owned(member_str(item, "output"))),
            Some("reasoning") => {
                for part in member(item, "summary")
                    .map(scan::Elements::new)
                    .into_iter()
                    .flatten()
                {
                    texts.extend(owned(member_str(part, "text")));
                }
            }
            _ => {}
        }
        ResponsesItem {
            item_type,
            role: owned(member_str(item, "role")),
            name: owned(member_str(item, "name")),
            texts,
        }
    }

    /// True for a message (`type` `message`, or no `type` and a `role`).
    pub fn is_message(&self) -> bool {
        match self.item_type.as_deref() {
            Some(t) => t == "message",
            None => self.role.is_some(),
        }
    }

    /// True for a `system` or `developer` message.
    pub fn is_system(&self) -> bool {
        self.is_message() && matches!(self.role.as_deref(), Some("system" | "developer"))
    }

    /// The texts joined with newlines.
    pub fn text(&self) -> String {
        self.texts.join("\n")
    }
}

/// The items of a Responses `input` or `output` array (a string is one user message).
fn items(value: Option<&str>) -> Vec<ResponsesItem> {
    let Some(value) = value else {
        return Vec::new();
    };
    if JsonKind::of(value) == JsonKind::String {
        return vec![ResponsesItem {
            item_type: None,
            role: Some("user".to_string()),
            name: None,
            texts: strings(value),
        }];
    }
    scan::Elements::new(value)
        .filter(|i| JsonKind::of(i) == JsonKind::Object)
        .map(ResponsesItem::read)
        .collect()
}

/// A Responses-API request (`ResponsesRequest`; also what an Anthropic `/v1/messages` request
/// becomes): `input` is an array of items.
#[derive(Debug, Clone, Copy)]
pub struct ResponsesRequest<'a> {
    inner: &'a str,
}

request_view!(ResponsesRequest);

impl<'a> ResponsesRequest<'a> {
    /// The items of `input`, in order (a string `input` reads as one user message).
    pub fn items(&self) -> Vec<ResponsesItem> {
        items(member(self.inner, "input"))
    }

    /// True when a `system` or `developer` message is among the items, or `params.instructions`
    /// is set (the Responses API's system prompt).
    pub fn has_system_prompt(&self) -> bool {
        self.instructions().is_some_and(|i| !i.is_empty())
            || self.items().iter().any(ResponsesItem::is_system)
    }

    /// `params.instructions`.
    pub fn instructions(&self) -> Option<String> {
        self.param_str("instructions")
    }

    /// `params.max_output_tokens`, the response's token limit.
    pub fn max_output_tokens(&self) -> Option<u64> {
        self.param_u64("max_output_tokens")
    }
}

/// What an embedding request embeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbeddingInput {
    /// One text.
    Text(String),
    /// Several texts.
    Texts(Vec<String>),
    /// One list of token ids.
    Tokens(Vec<i64>),
    /// Several lists of token ids.
    TokenBatches(Vec<Vec<i64>>),
    /// Anything else (a newer Bifrost's item objects, ...), as raw JSON text.
    Other(String),
}

impl EmbeddingInput {
    /// The texts embedded (none for token inputs).
    pub fn texts(&self) -> Vec<String> {
        match self {
            EmbeddingInput::Text(t) => vec![t.clone()],
            EmbeddingInput::Texts(t) => t.clone(),
            _ => Vec::new(),
        }
    }
}

/// An embedding request (`EmbeddingRequest`).
#[derive(Debug, Clone, Copy)]
pub struct EmbeddingRequest<'a> {
    inner: &'a str,
}

request_view!(EmbeddingRequest);

impl<'a> EmbeddingRequest<'a> {
    /// The input: a text, texts, token ids or batches of token ids.
    pub fn input(&self) -> EmbeddingInput {
        let Some(value) = member(self.inner, "input") else {
            return EmbeddingInput::Other("null".to_string());
        };
        if let Some(text) = scan::string_value(value) {
            return EmbeddingInput::Text(text.into_owned());
        }
        if JsonKind::of(value) == JsonKind::Array {
            let elements: Vec<&str> = scan::Elements::new(value).collect();
            if elements.iter().all(|e| JsonKind::of(e) == JsonKind::String) {
                return EmbeddingInput::Texts(strings(value));
            }
            if let Some(tokens) = integers(value) {
                return EmbeddingInput::Tokens(tokens);
            }
            if let Some(batches) = elements.iter().map(|e| integers(e)).collect::<Option<Vec<_>>>() {
                return EmbeddingInput::TokenBatches(batches);
            }
        }
        EmbeddingInput::Other(value.to_string())
    }

    /// `params.dimensions`, the requested vector size.
    pub fn dimensions(&self) -> Option<u64> {
        self.param_u64("dimensions")
    }
}

/// A speech (text-to-speech) request (`SpeechRequest`): `input.input` is the text to speak.
#[derive(Debug, Clone, Copy)]
pub struct SpeechRequest<'a> {
    inner: &'a str,
}

request_view!(SpeechRequest);

impl<'a> SpeechRequest<'a> {
    /// The text to speak (`input.input`).
    pub fn text(&self) -> Option<String> {
        owned(member(self.inner, "input").and_then(|i| member_str(i, "input")))
    }

    /// `params.voice` when it is one voice name (`alloy`).
    pub fn voice(&self) -> Option<String> {
        self.param_str("voice")
    }

    /// Every voice of `params.voice`: the one name, or each `voice` of a multi-speaker list
    /// (`[{"speaker","voice"}]`).
    pub fn voices(&self) -> Vec<String> {
        match self.param_raw("voice") {
            Some(v) if JsonKind::of(v) == JsonKind::Array => scan::Elements::new(v)
                .filter_map(|e| owned(member_str(e, "voice")))
                .collect(),
            Some(v) => strings(v),
            None => Vec::new(),
        }
    }

    /// `params.response_format` (`mp3`, `wav`, ...).
    pub fn response_format(&self) -> Option<String> {
        self.param_str("response_format")
    }
}

/// A transcription (speech-to-text) request (`TranscriptionRequest`): `input.file` is the
/// audio, base64-encoded (Go's `[]byte`).
#[derive(Debug, Clone, Copy)]
pub struct TranscriptionRequest<'a> {
    inner: &'a str,
}

request_view!(TranscriptionRequest);

impl<'a> TranscriptionRequest<'a> {
    /// `input.filename`.
    pub fn filename(&self) -> Option<String> {
        owned(member(self.inner, "input").and_then(|i| member_str(i, "filename")))
    }

    /// `input.file` as sent (base64).
    pub fn file_base64(&self) -> Option<String> {
        owned(member(self.inner, "input").and_then(|i| member_str(i, "file")))
    }

    /// The audio bytes (`input.file` decoded); `Some(Err)` when it is not valid base64.
    pub fn file(&self) -> Option<Result<Vec<u8>, String>> {
        self.file_base64().map(|b| decode_base64(&b))
    }

    /// `params.language` (or, in older Bifrost versions, `input.language`).
    pub fn language(&self) -> Option<String> {
        self.param_str("language")
            .or_else(|| owned(member(self.inner, "input").and_then(|i| member_str(i, "language"))))
    }

    /// `params.prompt` (or `input.prompt`): text that guides the transcription.
    pub fn prompt(&self) -> Option<String> {
        self.param_str("prompt")
            .or_else(|| owned(member(self.inner, "input").and_then(|i| member_str(i, "prompt"))))
    }
}

/// An image-generation request (`ImageGenerationRequest`): `input.prompt` describes the image.
#[derive(Debug, Clone, Copy)]
pub struct ImageGenerationRequest<'a> {
    inner: &'a str,
}

request_view!(ImageGenerationRequest);

impl<'a> ImageGenerationRequest<'a> {
    /// The prompt (`input.prompt`).
    pub fn prompt(&self) -> Option<String> {
        owned(member(self.inner, "input").and_then(|i| member_str(i, "prompt")))
    }

    /// `params.n`, how many images.
    pub fn n(&self) -> Option<u64> {
        self.param_u64("n")
    }

    /// `params.size` (`1024x1024`).
    pub fn size(&self) -> Option<String> {
        self.param_str("size")
    }
}

/// Views and edits of a request by kind.
pub trait RequestKinds {
    /// The text-completion view, when this is a text-completion request.
    fn text_completion(&self) -> Option<TextCompletionRequest<'_>>;
    /// The Responses view, when this is a Responses request (Go envelope or snake shape).
    fn responses(&self) -> Option<ResponsesRequest<'_>>;
    /// The embedding view, when this is an embedding request.
    fn embedding(&self) -> Option<EmbeddingRequest<'_>>;
    /// The speech view, when this is a speech request.
    fn speech(&self) -> Option<SpeechRequest<'_>>;
    /// The transcription view, when this is a transcription request.
    fn transcription(&self) -> Option<TranscriptionRequest<'_>>;
    /// The image-generation view, when this is an image-generation request.
    fn image_generation(&self) -> Option<ImageGenerationRequest<'_>>;

    /// Sets a text completion's prompt (`input`) to one string. Errors for another kind.
    fn set_prompt(&mut self, prompt: &str) -> Result<(), JsonError>;
    /// Sets a text completion's prompts (`input`) to an array of strings. Errors for another
    /// kind. (In the flat shape a request with an array `input` then reads as chat: flat,
    /// only a string prompt tells a text completion.)
    fn set_prompts(&mut self, prompts: &[&str]) -> Result<(), JsonError>;
    /// Sets an embedding request's `input` to one text. Errors for another kind.
    fn set_embedding_input(&mut self, text: &str) -> Result<(), JsonError>;
    /// Sets a speech request's text to speak (`input.input`). Errors for another kind.
    fn set_speech_input(&mut self, text: &str) -> Result<(), JsonError>;
    /// Sets an image-generation request's prompt (`input.prompt`). Errors for another kind.
    fn set_image_prompt(&mut self, prompt: &str) -> Result<(), JsonError>;
    /// Sets `params.<name>` of a request of any kind (creating `params` when missing or
    /// `null`); every other byte stays as it was.
    fn set_param<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), JsonError>;
}

/// The inner request when it is of `kind`.
fn inner_of(request: &LlmRequest, kind: RequestKind) -> Option<&str> {
    if request.kind() != kind {
        return None;
    }
    request.inner().filter(|i| JsonKind::of(i) == JsonKind::Object)
}

fn wrong_kind(request: &LlmRequest, wanted: &str) -> JsonError {
    JsonError(format!("not {wanted} request ({:?})", request.kind()))
}

/// Sets member `path` of the object member `field` of the inner request (which must exist
/// and be of `kind`), splicing the string `value` in.
fn set_nested_str(
    request: &mut LlmRequest,
    kind: RequestKind,
    wanted: &str,
    field: &str,
    path: &str,
    value: &str,
) -> Result<(), JsonError> {
    let inner = inner_of(request, kind).ok_or_else(|| wrong_kind(request, wanted))?;
    let mut object = match member(inner, field) {
        Some(v) if JsonKind::of(v) == JsonKind::Object => RawJson::from_validated(v.to_string()),
        _ => RawJson::empty_object(),
    };
    object.set_path_str(&[path], value)?;
    request.set_field(field, &object)
}

impl RequestKinds for LlmRequest {
    fn text_completion(&self) -> Option<TextCompletionRequest<'_>> {
        inner_of(self, RequestKind::TextCompletion).map(|inner| TextCompletionRequest { inner })
    }

    fn responses(&self) -> Option<ResponsesRequest<'_>> {
        inner_of(self, RequestKind::Responses).map(|inner| ResponsesRequest { inner })
    }

    fn embedding(&self) -> Option<EmbeddingRequest<'_>> {
        inner_of(self, RequestKind::Embedding).map(|inner| EmbeddingRequest { inner })
    }

    fn speech(&self) -> Option<SpeechRequest<'_>> {
        inner_of(self, RequestKind::Speech).map(|inner| SpeechRequest { inner })
    }

    fn transcription(&self) -> Option<TranscriptionRequest<'_>> {
        inner_of(self, RequestKind::Transcription).map(|inner| TranscriptionRequest { inner })
    }

    fn image_generation(&self) -> Option<ImageGenerationRequest<'_>> {
        inner_of(self, RequestKind::ImageGeneration).map(|inner| ImageGenerationRequest { inner })
    }

    fn set_prompt(&mut self, prompt: &str) -> Result<(), JsonError> {
        if self.text_completion().is_none() {
            return Err(wrong_kind(self, "a text completion"));
        }
        self.set_field("input", prompt)
    }

    fn set_prompts(&mut self, prompts: &[&str]) -> Result<(), JsonError> {
        if self.text_completion().is_none() {
            return Err(wrong_kind(self, "a text completion"));
        }
        self.set_field("input", prompts)
    }

    fn set_embedding_input(&mut self, text: &str) -> Result<(), JsonError> {
        if self.embedding().is_none() {
            return Err(wrong_kind(self, "an embedding"));
        }
        self.set_field("input", text)
    }

    fn set_speech_input(&mut self, text: &str) -> Result<(), JsonError> {
        set_nested_str(self, RequestKind::Speech, "a speech", "input", "input", text)
    }

    fn set_image_prompt(&mut self, prompt: &str) -> Result<(), JsonError> {
        set_nested_str(
            self,
            RequestKind::ImageGeneration,
            "an image generation",
            "input",
            "prompt",
            prompt,
        )
    }

    fn set_param<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), JsonError> {
        let inner = self
            .inner()
            .ok_or_else(|| JsonError("the request has no inner request object".into()))?;
        let mut params = match member(inner, "params") {
            Some(p) if JsonKind::of(p) == JsonKind::Object => RawJson::from_validated(p.to_string()),
            _ => RawJson::empty_object(),
        };
        params.set_path(&[name], value)?;
        self.set_field("params", &params)
    }
}

/// Members every inner response has.
macro_rules! response_view {
    ($name:ident) => {
        impl<'a> $name<'a> {
            /// The inner response object's JSON text.
            pub fn raw(&self) -> &'a str {
                self.inner
            }

            /// String member `name` of the inner response (`id`, `model`, `type`, ...).
            pub fn get_str(&self, name: &str) -> Option<String> {
                owned(member_str(self.inner, name))
            }
        }
    };
}

/// One choice of a text completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionChoice {
    /// `index`, when present.
    pub index: Option<u64>,
    /// `text`: the completion (a piece of it in a stream chunk).
    pub text: String,
    /// `finish_reason`, when a string.
    pub finish_reason: Option<String>,
}

/// A text-completion response, or one chunk of a text-completion stream
/// (`{"object":"text_completion","choices":[{"text",...}]}`).
#[derive(Debug, Clone, Copy)]
pub struct TextCompletionResponse<'a> {
    inner: &'a str,
}

response_view!(TextCompletionResponse);

impl<'a> TextCompletionResponse<'a> {
    /// The choices, in order.
    pub fn choices(&self) -> Vec<CompletionChoice> {
        let Some(choices) = member(self.inner, "choices") else {
            return Vec::new();
        };
        scan::Elements::new(choices)
            .filter(|c| JsonKind::of(c) == JsonKind::Object)
            .map(|c| CompletionChoice {
                index: member_u64(c, "index"),
                text: owned(member_str(c, "text")).unwrap_or_default(),
                finish_reason: owned(member_str(c, "finish_reason")),
            })
            .collect()
    }

    /// The text of each choice, in order.
    pub fn texts(&self) -> Vec<String> {
        self.choices().into_iter().map(|c| c.text).collect()
    }
}

/// A complete Responses-API response (`{"object":"response","output":[...]}`).
#[derive(Debug, Clone, Copy)]
pub struct ResponsesResponse<'a> {
    inner: &'a str,
}

response_view!(ResponsesResponse);

impl<'a> ResponsesResponse<'a> {
    /// `status` (`completed`, `in_progress`, `incomplete`, `failed`).
    pub fn status(&self) -> Option<String> {
        self.get_str("status")
    }

    /// The items of `output`, in order.
    pub fn output_items(&self) -> Vec<ResponsesItem> {
        items(member(self.inner, "output"))
    }

    /// The output text: every `output_text` block of every message item, concatenated (what
    /// OpenAI's SDKs call `output_text`).
    pub fn output_text(&self) -> String {
        let mut out = String::new();
        let Some(output) = member(self.inner, "output") else {
            return out;
        };
        for item in scan::Elements::new(output) {
            if member_str(item, "type").is_some_and(|t| t != "message") {
                continue;
            }
            for block in member(item, "content")
                .map(scan::Elements::new)
                .into_iter()
                .flatten()
            {
                if member_str(block, "type").as_deref() == Some("output_text") {
                    out.push_str(&member_str(block, "text").unwrap_or_default());
                }
            }
        }
        out
    }

    /// `usage.input_tokens`, `usage.output_tokens` and `usage.total_tokens`.
    pub fn usage(&self) -> Option<(u64, u64, u64)> {
        let usage = member(self.inner, "usage")?;
        Some((
            member_u64(usage, "input_tokens")?,
            member_u64(usage, "output_tokens")?,
            member_u64(usage, "total_tokens")?,
        ))
    }
}

/// One event of a Responses-API stream (`{"type":"response.output_text.delta",...}`).
#[derive(Debug, Clone, Copy)]
pub struct ResponsesStreamEvent<'a> {
    inner: &'a str,
}

response_view!(ResponsesStreamEvent);

impl<'a> ResponsesStreamEvent<'a> {
    /// `type` (`response.created`, `response.output_text.delta`, `response.completed`, ...).
    pub fn event_type(&self) -> String {
        self.get_str("type").unwrap_or_default()
    }

    /// `sequence_number`.
    pub fn sequence_number(&self) -> Option<u64> {
        member_u64(self.inner, "sequence_number")
    }

    /// `item_id`.
    pub fn item_id(&self) -> Option<String> {
        self.get_str("item_id")
    }

    /// `output_index`: which output item the event is about.
    pub fn output_index(&self) -> Option<u64> {
        member_u64(self.inner, "output_index")
    }

    /// `content_index`: which content part of the item.
    pub fn content_index(&self) -> Option<u64> {
        member_u64(self.inner, "content_index")
    }

    /// `delta` of a `response.output_text.delta` (the next piece of output text).
    pub fn delta(&self) -> Option<String> {
        if self.event_type() != "response.output_text.delta" {
            return None;
        }
        self.get_str("delta")
    }

    /// The whole text an event carries: `text` of `response.output_text.done`, `part.text` of
    /// `response.content_part.done`, the item's texts of `response.output_item.done`, the
    /// output text of `response.completed`.
    pub fn text(&self) -> Option<String> {
        match self.event_type().as_str() {
            "response.output_text.done" => self.get_str("text"),
            "response.content_part.done" => {
                owned(member(self.inner, "part").and_then(|p| member_str(p, "text")))
            }
            "response.output_item.done" => member(self.inner, "item").map(|i| ResponsesItem::read(i).text()),
            _ => self.response().map(|r| r.output_text()),
        }
    }

    /// The whole response of a lifecycle event (`response.created`, `response.completed`,
    /// `response.failed`, ...).
    pub fn response(&self) -> Option<ResponsesResponse<'a>> {
        member(self.inner, "response")
            .filter(|r| JsonKind::of(r) == JsonKind::Object)
            .map(|inner| ResponsesResponse { inner })
    }
}

/// An embedding response (`{"object":"list","data":[{"embedding":[...]}]}`).
#[derive(Debug, Clone, Copy)]
pub struct EmbeddingResponse<'a> {
    inner: &'a str,
}

response_view!(EmbeddingResponse);

impl<'a> EmbeddingResponse<'a> {
    fn embeddings(&self) -> impl Iterator<Item = &'a str> {
        member(self.inner, "data")
            .map(scan::Elements::new)
            .into_iter()
            .flatten()
            .filter_map(|d| member(d, "embedding"))
    }

    /// How many embeddings `data` holds.
    pub fn count(&self) -> usize {
        member(self.inner, "data").map_or(0, |d| scan::Elements::new(d).count())
    }

    /// The length of the first vector (`None` when there is none, or it is base64-encoded).
    pub fn dims(&self) -> Option<usize> {
        let first = self.embeddings().next()?;
        (JsonKind::of(first) == JsonKind::Array).then(|| scan::Elements::new(first).count())
    }

    /// Every vector of numbers (base64-encoded embeddings are skipped).
    pub fn vectors(&self) -> Vec<Vec<f64>> {
        self.embeddings()
            .filter(|e| JsonKind::of(e) == JsonKind::Array)
            .map(|e| scan::Elements::new(e).filter_map(scan::parse_f64).collect())
            .collect()
    }
}

/// A speech response (`{"audio":"<base64>"}`) or speech stream event
/// (`{"type":"speech.audio.delta","audio":"<base64>"}`).
#[derive(Debug, Clone, Copy)]
pub struct SpeechResponse<'a> {
    inner: &'a str,
}

response_view!(SpeechResponse);

impl<'a> SpeechResponse<'a> {
    /// `type` of a stream event (`speech.audio.delta`, `speech.audio.done`).
    pub fn event_type(&self) -> Option<String> {
        self.get_str("type")
    }

    /// `audio` as sent (base64).
    pub fn audio_base64(&self) -> Option<String> {
        self.get_str("audio")
    }

    /// The audio bytes; `Some(Err)` when `audio` is not valid base64.
    pub fn audio(&self) -> Option<Result<Vec<u8>, String>> {
        self.audio_base64().map(|b| decode_base64(&b))
    }
}

/// A transcription response (`{"text":"..."}`) or transcription stream event
/// (`{"type":"transcript.text.delta","delta":"..."}`, `transcript.text.done` with `text`).
#[derive(Debug, Clone, Copy)]
pub struct TranscriptionResponse<'a> {
    inner: &'a str,
}

response_view!(TranscriptionResponse);

impl<'a> TranscriptionResponse<'a> {
    /// `type` of a stream event.
    pub fn event_type(&self) -> Option<String> {
        self.get_str("type")
    }

    /// The whole transcript (`text`).
    pub fn text(&self) -> Option<String> {
        self.get_str("text")
    }

    /// `delta` of a `transcript.text.delta` event.
    pub fn delta(&self) -> Option<String> {
        self.get_str("delta")
    }

    /// `language`.
    pub fn language(&self) -> Option<String> {
        self.get_str("language")
    }
}

/// One generated image.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GeneratedImage {
    /// `b64_json`: the image, base64-encoded.
    pub b64_json: Option<String>,
    /// `url`: where the image is.
    pub url: Option<String>,
    /// `revised_prompt`: the prompt the model used.
    pub revised_prompt: Option<String>,
}

/// An image-generation response (`{"created","data":[{"b64_json"|"url",...}]}`).
#[derive(Debug, Clone, Copy)]
pub struct ImageGenerationResponse<'a> {
    inner: &'a str,
}

response_view!(ImageGenerationResponse);

impl<'a> ImageGenerationResponse<'a> {
    /// The images of `data`, in order.
    pub fn images(&self) -> Vec<GeneratedImage> {
        member(self.inner, "data")
            .map(scan::Elements::new)
            .into_iter()
            .flatten()
            .map(|d| GeneratedImage {
                b64_json: owned(member_str(d, "b64_json")),
                url: owned(member_str(d, "url")),
                revised_prompt: owned(member_str(d, "revised_prompt")),
            })
            .collect()
    }
}

/// What a response or chunk holds: its kind (as far as known) and the inner object's byte
/// range in the text.
fn locate(response: &LlmResponse) -> Option<(RequestKind, bool, std::ops::Range<usize>)> {
    let root = response.as_str();
    if let (Some(kind), Some(inner)) = (response.kind(), response.inner_raw()) {
        let event = match kind {
            RequestKind::Responses => crate::text::is_responses_event(inner),
            _ => response.is_stream_event() || member(inner, "type").is_some(),
        };
        let kind = match kind {
            // A bare object with `choices` reads as chat; its `object` tells a completion.
            RequestKind::Chat if member_str(inner, "object").as_deref() == Some("text_completion") => {
                RequestKind::TextCompletion
            }
            k => k,
        };
        return Some((kind, event, range_of(root, inner)));
    }
    if !response.raw().is_object() {
        return None;
    }
    // A bare stream event or response, as a stream chunk arrives.
    let ty = member_str(root, "type").unwrap_or_default();
    let object = member_str(root, "object").unwrap_or_default();
    let kind = if ty.starts_with("response.") {
        (RequestKind::Responses, true)
    } else if ty.starts_with("speech.") {
        (RequestKind::Speech, true)
    } else if ty.starts_with("transcript.") {
        (RequestKind::Transcription, true)
    } else if ty.starts_with("image_generation.") {
        (RequestKind::ImageGeneration, true)
    } else if object == "response" {
        (RequestKind::Responses, false)
    } else if object == "list" && member(root, "data").is_some() {
        (RequestKind::Embedding, false)
    } else {
        return None;
    };
    Some((kind.0, kind.1, 0..root.len()))
}

/// Views of a response (or a stream chunk) by kind, in any of the three shapes, and an edit
/// that works for every kind.
pub trait ResponseKinds {
    /// The response inside, found once: its kind, whether it is one event of a stream, and its
    /// JSON text. Every view below is read from it.
    fn located(&self) -> Option<(RequestKind, bool, &str)>;

    /// Sets member `name` of the response inside, whatever its kind, splicing it in: every
    /// other byte stays as it was. Errors when there is no response inside.
    fn set_response_field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), JsonError>;

    /// The kind of the response inside, and whether it is one event of a stream (`None` when
    /// there is no response of a known kind).
    fn response_kind(&self) -> Option<(RequestKind, bool)> {
        self.located().map(|(k, e, _)| (k, e))
    }

    /// The text-completion view (a whole response or a stream chunk).
    fn text_completion(&self) -> Option<TextCompletionResponse<'_>> {
        view(self, RequestKind::TextCompletion, None).map(|inner| TextCompletionResponse { inner })
    }

    /// The Responses view of a complete Responses response.
    fn responses(&self) -> Option<ResponsesResponse<'_>> {
        view(self, RequestKind::Responses, Some(false)).map(|inner| ResponsesResponse { inner })
    }

    /// The Responses stream event view.
    fn responses_event(&self) -> Option<ResponsesStreamEvent<'_>> {
        view(self, RequestKind::Responses, Some(true)).map(|inner| ResponsesStreamEvent { inner })
    }

    /// The embedding view.
    fn embedding(&self) -> Option<EmbeddingResponse<'_>> {
        view(self, RequestKind::Embedding, None).map(|inner| EmbeddingResponse { inner })
    }

    /// The speech view (a whole response or a stream event).
    fn speech(&self) -> Option<SpeechResponse<'_>> {
        view(self, RequestKind::Speech, None).map(|inner| SpeechResponse { inner })
    }

    /// The transcription view (a whole response or a stream event).
    fn transcription(&self) -> Option<TranscriptionResponse<'_>> {
        view(self, RequestKind::Transcription, None).map(|inner| TranscriptionResponse { inner })
    }

    /// The image-generation view.
    fn image_generation(&self) -> Option<ImageGenerationResponse<'_>> {
        view(self, RequestKind::ImageGeneration, None).map(|inner| ImageGenerationResponse { inner })
    }

    /// `model` of the response inside, whatever its kind.
    fn response_model(&self) -> Option<String> {
        owned(member_str(self.located()?.2, "model"))
    }
}

/// The inner text of `response` when it is of `kind` and (when given) stream-ness.
fn view<R: ResponseKinds + ?Sized>(response: &R, kind: RequestKind, event: Option<bool>) -> Option<&str> {
    let (k, e, inner) = response.located()?;
    (k == kind && event.is_none_or(|want| want == e)).then_some(inner)
}

impl ResponseKinds for LlmResponse {
    fn located(&self) -> Option<(RequestKind, bool, &str)> {
        let (kind, event, range) = locate(self)?;
        Some((kind, event, self.as_str().get(range)?))
    }

    fn set_response_field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), JsonError> {
        let (_, _, range) =
            locate(self).ok_or_else(|| JsonError("the response has no inner response".into()))?;
        let root = self.as_str();
        let inner = root.get(range.clone()).unwrap_or("{}");
        let mut edited = RawJson::from_validated(inner.to_string());
        edited.set_path(&[name], value)?;
        let text = splice(root, vec![(range, edited.into_string())]);
        *self = LlmResponse::new(RawJson::from_validated(text));
        Ok(())
    }
}

/// A stream chunk is read as a response: the same views apply (the place of the response
/// inside is found in a copy, and sliced from the chunk itself).
impl ResponseKinds for RawJson {
    fn located(&self) -> Option<(RequestKind, bool, &str)> {
        let (kind, event, range) = locate(&LlmResponse::new(self.clone()))?;
        Some((kind, event, self.as_str().get(range)?))
    }

    fn set_response_field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), JsonError> {
        let mut response = LlmResponse::new(self.clone());
        response.set_response_field(name, value)?;
        *self = response.into_raw();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
