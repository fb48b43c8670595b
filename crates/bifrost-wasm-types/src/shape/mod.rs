//! The three wire shapes of requests, responses and short-circuits, recognised and written back.
//!
//! Upstream sends `pre_hook.request` in one of three shapes (design.md §1):
//!
//! | shape | request | response | short-circuit |
//! |---|---|---|---|
//! | [`RequestShape::GoEnvelope`] | `{"RequestType":"chat_completion","ChatRequest":{…},<other kinds>:null}` | `{"ChatResponse":{…},<others>:null}` | `{"Response":…,"Error":…}` |
//! | [`RequestShape::Snake`] | `{"chat_request":{…}}` | `{"chat_response":{…}}` | `{"response":…,"error":…}` |
//! | [`RequestShape::Flat`] | `{"provider","model","input","params",…}` | `{"chat_response":{…}}` | `{"response":…,"error":…}` |
//!
//! Go keys match case-insensitively (Go's decoder rule). [`LlmRequest`] and [`LlmResponse`]
//! find the inner chat request/response in any shape, read from it without parsing the rest,
//! and write edits back into the shape that came in.

use std::cell::OnceCell;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::chat::BifrostChatRequest;
use crate::error::BifrostError;
use crate::raw::{find_member, member_valid, JsonError, JsonKind, RawJson};
use crate::response::{BifrostChatResponse, BifrostResponse};
use crate::scan::{self, Members};

/// How a request (and the responses and short-circuits that answer it) is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestShape {
    /// Go's tag-less `schemas.BifrostRequest`, as a Go host marshals it (the default).
    #[default]
    GoEnvelope,
    /// The flat chat request of the docs and the seed.
    Flat,
    /// The snake-case wrapper `{"chat_request": …}`.
    Snake,
}

impl RequestShape {
    /// All shapes.
    pub const ALL: [RequestShape; 3] = [RequestShape::GoEnvelope, RequestShape::Flat, RequestShape::Snake];

    /// Name used in configuration (`go-envelope`, `flat`, `snake`).
    pub fn name(self) -> &'static str {
        match self {
            RequestShape::GoEnvelope => "go-envelope",
            RequestShape::Flat => "flat",
            RequestShape::Snake => "snake",
        }
    }

    /// Parses a configuration name (`go-envelope`/`go`, `flat`, `snake`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "go-envelope" | "go_envelope" | "go" | "envelope" => Some(RequestShape::GoEnvelope),
            "flat" => Some(RequestShape::Flat),
            "snake" | "snake-case" | "snake_case" => Some(RequestShape::Snake),
            _ => None,
        }
    }
}

impl fmt::Display for RequestShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The kind of request, named by Bifrost's `RequestType` where known.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// `chat_completion` (and `_stream`).
    Chat,
    /// `text_completion` (and `_stream`).
    TextCompletion,
    /// `responses` (and `_stream`).
    Responses,
    /// `embedding`.
    Embedding,
    /// `speech` (and `_stream`).
    Speech,
    /// `transcription` (and `_stream`).
    Transcription,
    /// `image_generation` (and `_stream`).
    ImageGeneration,
    /// Any other kind, named by its envelope member or request type.
    Other(String),
}

impl RequestKind {
    /// Kind from a Go envelope member name (`ChatRequest`) or snake member (`chat_request`).
    pub fn from_member(member: &str) -> Self {
        // Member names are ASCII identifiers; ASCII lowering keeps Unicode case tables out of
        // plugins.
        let norm: String = member
            .chars()
            .filter(|c| *c != '_')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match norm.strip_suffix("request").unwrap_or(&norm) {
            "chat" => RequestKind::Chat,
            "textcompletion" => RequestKind::TextCompletion,
            "responses" => RequestKind::Responses,
            "embedding" => RequestKind::Embedding,
            "speech" => RequestKind::Speech,
            "transcription" => RequestKind::Transcription,
            "imagegeneration" => RequestKind::ImageGeneration,
            _ => RequestKind::Other(member.to_string()),
        }
    }

    /// Kind from a `RequestType` value (`chat_completion_stream` → [`RequestKind::Chat`]).
    pub fn from_request_type(rt: &str) -> Self {
        match rt.strip_suffix("_stream").unwrap_or(rt) {
            "chat_completion" => RequestKind::Chat,
            "text_completion" => RequestKind::TextCompletion,
            "responses" => RequestKind::Responses,
            "embedding" => RequestKind::Embedding,
            "speech" => RequestKind::Speech,
            "transcription" => RequestKind::Transcription,
            "image_generation" => RequestKind::ImageGeneration,
            other => RequestKind::Other(other.to_string()),
        }
    }
}

/// What a known request kind is called on the wire.
struct KindNames {
    /// `RequestType` (`text_completion`).
    request_type: &'static str,
    /// `RequestType` of its stream (`text_completion_stream`; embeddings have none).
    stream_type: &'static str,
    /// Its member of Go's `BifrostRequest` (`TextCompletionRequest`).
    go_request: &'static str,
    /// Its snake-case request wrapper (`text_completion_request`).
    snake_request: &'static str,
    /// Its member of Go's `BifrostResponse` (`TextCompletionResponse`).
    go_response: &'static str,
    /// The member of its stream's events (the response's own for chat and text completions).
    go_stream_response: &'static str,
}

impl RequestKind {
    /// The kinds the gateway serves and [`wrap_request`] writes, in the order of Go's
    /// `BifrostRequest` members.
    pub const KNOWN: [RequestKind; 7] = [
        RequestKind::TextCompletion,
        RequestKind::Chat,
        RequestKind::Responses,
        RequestKind::Embedding,
        RequestKind::Speech,
        RequestKind::Transcription,
        RequestKind::ImageGeneration,
    ];

    /// The names of a known kind.
    fn names(&self) -> Option<KindNames> {
        Some(match self {
            RequestKind::Chat => KindNames {
                request_type: "chat_completion",
                stream_type: "chat_completion_stream",
                go_request: "ChatRequest",
                snake_request: "chat_request",
                go_response: "ChatResponse",
                go_stream_response: "ChatResponse",
            },
            RequestKind::TextCompletion => KindNames {
                request_type: "text_completion",
                stream_type: "text_completion_stream",
                go_request: "TextCompletionRequest",
                snake_request: "text_completion_request",
                go_response: "TextCompletionResponse",
                go_stream_response: "TextCompletionResponse",
            },
            RequestKind::Responses => KindNames {
                request_type: "responses",
                stream_type: "responses_stream",
                go_request: "ResponsesRequest",
                snake_request: "responses_request",
                go_response: "ResponsesResponse",
                go_stream_response: "ResponsesStreamResponse",
            },
            RequestKind::Embedding => KindNames {
                request_type: "embedding",
                stream_type: "embedding",
                go_request: "EmbeddingRequest",
                snake_request: "embedding_request",
                go_response: "EmbeddingResponse",
                go_stream_response: "EmbeddingResponse",
            },
            RequestKind::Speech => KindNames {
                request_type: "speech",
                stream_type: "speech_stream",
                go_request: "SpeechRequest",
                snake_request: "speech_request",
                go_response: "SpeechResponse",
                go_stream_response: "SpeechStreamResponse",
            },
            RequestKind::Transcription => KindNames {
                request_type: "transcription",
                stream_type: "transcription_stream",
                go_request: "TranscriptionRequest",
                snake_request: "transcription_request",
                go_response: "TranscriptionResponse",
                go_stream_response: "TranscriptionStreamResponse",
            },
            RequestKind::ImageGeneration => KindNames {
                request_type: "image_generation",
                stream_type: "image_generation_stream",
                go_request: "ImageGenerationRequest",
                snake_request: "image_generation_request",
                go_response: "ImageGenerationResponse",
                go_stream_response: "ImageGenerationStreamResponse",
            },
            RequestKind::Other(_) => return None,
        })
    }

    /// Bifrost's `RequestType` of this kind, with `_stream` when `stream` (embeddings have no
    /// stream variant). Another kind is named by what it was read from.
    pub fn request_type(&self, stream: bool) -> String {
        match (self, self.request_type_name(stream)) {
            (_, Some(name)) => name.to_string(),
            (RequestKind::Other(name), None) => name.clone(),
            (_, None) => String::new(),
        }
    }

    /// [`RequestKind::request_type`] of a kind in [`RequestKind::KNOWN`], without allocating;
    /// `None` for another kind.
    pub fn request_type_name(&self, stream: bool) -> Option<&'static str> {
        self.names()
            .map(|n| if stream { n.stream_type } else { n.request_type })
    }

    /// The member of Go's `BifrostRequest` that holds a request of this kind
    /// (`TextCompletionRequest`); `None` for another kind.
    pub fn go_request_member(&self) -> Option<&'static str> {
        self.names().map(|n| n.go_request)
    }

    /// The snake-case wrapper of a request of this kind (`text_completion_request`).
    pub fn snake_request_member(&self) -> Option<&'static str> {
        self.names().map(|n| n.snake_request)
    }

    /// The member of Go's `BifrostResponse` that holds a response of this kind; a stream's
    /// chunks of Responses, speech, transcription and image kinds have their own member
    /// (`ResponsesStreamResponse`), chat and text-completion chunks use the response's.
    pub fn go_response_member(&self, stream: bool) -> Option<&'static str> {
        self.names().map(|n| {
            if stream {
                n.go_stream_response
            } else {
                n.go_response
            }
        })
    }

    /// The snake-case wrapper of a response of this kind (`responses_stream_response`).
    pub fn snake_response_member(&self, stream: bool) -> Option<String> {
        self.go_response_member(stream).map(go_to_snake)
    }
}

/// `TextCompletionResponse` → `text_completion_response`.
fn go_to_snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The kind and stream-ness a response member names (`ResponsesStreamResponse`,
/// `chat_response`, any case), if it is one of the known kinds' members.
fn response_member_kind(key: &str) -> Option<(RequestKind, bool)> {
    let norm: String = key
        .chars()
        .filter(|c| *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let base = norm.strip_suffix("response")?;
    let (base, stream) = match base.strip_suffix("stream") {
        Some(b) => (b, true),
        None => (base, false),
    };
    match RequestKind::from_member(base) {
        RequestKind::Other(_) => None,
        kind => Some((kind, stream)),
    }
}

/// Members of Go's `BifrostRequest` at the time of the WASM examples, written as `null` when a
/// Go host marshals a chat request.
const GO_REQUEST_MEMBERS: &[&str] = &[
    "ListModelsRequest",
    "TextCompletionRequest",
    "ChatRequest",
    "ResponsesRequest",
    "CountTokensRequest",
    "EmbeddingRequest",
    "SpeechRequest",
    "TranscriptionRequest",
    "ImageGenerationRequest",
];

/// Members of Go's `BifrostResponse` written as `null` around a chat response.
const GO_RESPONSE_MEMBERS: &[&str] = &[
    "ListModelsResponse",
    "TextCompletionResponse",
    "ChatResponse",
    "ResponsesResponse",
    "ResponsesStreamResponse",
    "EmbeddingResponse",
    "SpeechResponse",
    "SpeechStreamResponse",
    "TranscriptionResponse",
    "TranscriptionStreamResponse",
    "ImageGenerationResponse",
    "ImageGenerationStreamResponse",
];

#[derive(Debug, Clone)]
struct RequestLayout {
    shape: RequestShape,
    /// Key (as written) of the member holding the inner request; `None` for flat.
    member: Option<String>,
    /// Byte range of that member's value in the request text.
    span: Option<(usize, usize)>,
    kind: RequestKind,
    request_type: Option<String>,
    /// For a flat request: the value spans of its `provider` and `model` members (first
    /// exact match), read while detecting, so reading them needs no second scan.
    flat_fields: Option<FlatFields>,
}

#[derive(Debug, Clone, Copy, Default)]
struct FlatFields {
    provider: Option<(usize, usize)>,
    model: Option<(usize, usize)>,
}

/// ASCII-case-insensitive `ends_with`, without allocating.
fn ends_with_ignore_case(text: &str, suffix: &str) -> bool {
    text.len() >= suffix.len()
        && text.as_bytes()[text.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

fn is_go_request_key(k: &str) -> bool {
    k.eq_ignore_ascii_case("RequestType")
        || (k.as_bytes().first().is_some_and(u8::is_ascii_uppercase)
            && k.len() > "Request".len()
            && ends_with_ignore_case(k, "request")
            && !k.contains('_'))
}

fn detect_request(text: &str) -> RequestLayout {
    if JsonKind::of(text) != JsonKind::Object {
        return detect_request_members::<Members<'_>>(None);
    }
    detect_request_members(Some(Members::new(text)))
}

/// Value span of a member, relative to the object text it was read from.
fn value_span(m: &scan::Member<'_>) -> (usize, usize) {
    (m.value_start, m.value_start + m.value.len())
}

/// Layout of a request from its members (`None` when it is not an object), in one pass.
fn detect_request_members<'a, I: Iterator<Item = scan::Member<'a>>>(members: Option<I>) -> RequestLayout {
    let flat = |kind, flat_fields| RequestLayout {
        shape: RequestShape::Flat,
        member: None,
        span: None,
        kind,
        request_type: None,
        flat_fields,
    };
    let Some(members) = members else {
        return flat(RequestKind::Other("invalid".into()), None);
    };
    let mut go = false;
    let mut request_type: Option<&'a str> = None;
    let mut go_member: Option<scan::Member<'a>> = None;
    let mut snake_member: Option<scan::Member<'a>> = None;
    let mut input_kind: Option<JsonKind> = None;
    let mut fields = FlatFields::default();
    for m in members {
        let key = m.key();
        if is_go_request_key(&key) {
            go = true;
        }
        if key.eq_ignore_ascii_case("RequestType") {
            request_type = request_type.or(Some(m.value));
            continue;
        }
        let object = JsonKind::of(m.value) == JsonKind::Object;
        if object && go_member.is_none() && ends_with_ignore_case(&key, "request") {
            go_member = Some(m);
        }
        if object && snake_member.is_none() && key.ends_with("_request") {
            snake_member = Some(m);
        }
        match key.as_ref() {
            "input" if input_kind.is_none() => input_kind = Some(JsonKind::of(m.value)),
            "provider" if fields.provider.is_none() => fields.provider = Some(value_span(&m)),
            "model" if fields.model.is_none() => fields.model = Some(value_span(&m)),
            _ => {}
        }
    }
    if go {
        let request_type = request_type
            .and_then(scan::string_value)
            .map(std::borrow::Cow::into_owned);
        let member = go_member.as_ref().map(|m| m.key().into_owned());
        let kind = match (&member, &request_type) {
            (Some(m), _) => RequestKind::from_member(m),
            (None, Some(rt)) => RequestKind::from_request_type(rt),
            (None, None) => RequestKind::Other("empty".into()),
        };
        // A member name wins for the kind, but `RequestType` distinguishes e.g. CountTokens.
        let kind = match (&kind, &request_type) {
            (RequestKind::Other(_), Some(rt)) => RequestKind::from_request_type(rt),
            _ => kind,
        };
        return RequestLayout {
            shape: RequestShape::GoEnvelope,
            member,
            span: go_member.as_ref().map(value_span),
            kind,
            request_type,
            flat_fields: None,
        };
    }
    if let Some(m) = snake_member {
        let key = m.key();
        return RequestLayout {
            shape: RequestShape::Snake,
            kind: RequestKind::from_member(&key),
            member: Some(key.into_owned()),
            span: Some(value_span(&m)),
            request_type: None,
            flat_fields: None,
        };
    }
    let kind = match input_kind {
        Some(JsonKind::Array) | Some(JsonKind::Null) | None => RequestKind::Chat,
        Some(JsonKind::String) => RequestKind::TextCompletion,
        Some(_) => RequestKind::Other("unknown".into()),
    };
    flat(kind, Some(fields))
}

/// Wraps the JSON text of a flat chat request in `shape`.
pub fn wrap_chat_request(flat: &str, shape: RequestShape, stream: bool) -> String {
    wrap_request(flat, &RequestKind::Chat, shape, stream)
}

/// Wraps the JSON text of a flat request of `kind` in `shape`: Go's envelope
/// (`{"RequestType":"text_completion","TextCompletionRequest":{…},<other kinds>:null}`), the
/// snake wrapper (`{"text_completion_request":{…}}`) or flat as it is. A kind outside
/// [`RequestKind::KNOWN`] has no member to go in and stays flat.
pub fn wrap_request(flat: &str, kind: &RequestKind, shape: RequestShape, stream: bool) -> String {
    let (Some(go), Some(snake)) = (kind.go_request_member(), kind.snake_request_member()) else {
        return flat.to_string();
    };
    match shape {
        RequestShape::Flat => flat.to_string(),
        RequestShape::Snake => {
            let mut out = String::with_capacity(flat.len() + snake.len() + 5);
            out.push_str("{\"");
            out.push_str(snake);
            out.push_str("\":");
            out.push_str(flat);
            out.push('}');
            out
        }
        RequestShape::GoEnvelope => {
            let rt = kind.request_type_name(stream).unwrap_or_default();
            let mut out = String::with_capacity(flat.len() + 256);
            out.push_str("{\"RequestType\":\"");
            out.push_str(rt);
            out.push('"');
            for m in GO_REQUEST_MEMBERS {
                out.push_str(",\"");
                out.push_str(m);
                out.push_str("\":");
                out.push_str(if *m == go { flat } else { "null" });
            }
            out.push('}');
            out
        }
    }
}

/// Wraps the JSON text of a chat completion response in the response shape that answers a
/// request of `shape` (Go envelope for Go, `{"chat_response": …}` otherwise).
pub fn wrap_chat_response(chat: &str, shape: RequestShape) -> String {
    wrap_response(chat, &RequestKind::Chat, shape, false)
}

/// Wraps the JSON text of a response (or, with `stream`, a stream chunk) of `kind` in the
/// response shape that answers a request of `shape`: Go's envelope
/// (`{"ResponsesStreamResponse":{…},<others>:null}`) for Go, the snake wrapper
/// (`{"responses_stream_response":{…}}`) otherwise. A kind outside [`RequestKind::KNOWN`] is
/// returned as it is.
pub fn wrap_response(inner: &str, kind: &RequestKind, shape: RequestShape, stream: bool) -> String {
    let Some(go) = kind.go_response_member(stream) else {
        return inner.to_string();
    };
    match shape {
        RequestShape::GoEnvelope => {
            let mut out = String::with_capacity(inner.len() + 320);
            out.push('{');
            for (i, m) in GO_RESPONSE_MEMBERS.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('"');
                out.push_str(m);
                out.push_str("\":");
                out.push_str(if *m == go { inner } else { "null" });
            }
            out.push('}');
            out
        }
        RequestShape::Flat | RequestShape::Snake => {
            let snake = go_to_snake(go);
            let mut out = String::with_capacity(inner.len() + snake.len() + 5);
            out.push_str("{\"");
            out.push_str(&snake);
            out.push_str("\":");
            out.push_str(inner);
            out.push('}');
            out
        }
    }
}

/// Builds a short-circuit JSON for a request of `shape`: Go `{"Response":…,"Error":…}` (both
/// present, `null` when unset) or the seed's `{"response":…}` / `{"error":…}`.
/// `response` is the JSON text of a whole response (already in the matching response shape).
pub fn short_circuit_json(response: Option<&str>, error: Option<&str>, shape: RequestShape) -> String {
    match shape {
        RequestShape::GoEnvelope => {
            let (response, error) = (response.unwrap_or("null"), error.unwrap_or("null"));
            let mut out = String::with_capacity(response.len() + error.len() + 24);
            out.push_str("{\"Response\":");
            out.push_str(response);
            out.push_str(",\"Error\":");
            out.push_str(error);
            out.push('}');
            out
        }
        RequestShape::Flat | RequestShape::Snake => {
            let mut out =
                String::with_capacity(response.map_or(0, str::len) + error.map_or(0, str::len) + 24);
            out.push('{');
            if let Some(r) = response {
                out.push_str("\"response\":");
                out.push_str(r);
            }
            if let Some(e) = error {
                if response.is_some() {
                    out.push(',');
                }
                out.push_str("\"error\":");
                out.push_str(e);
            }
            out.push('}');
            out
        }
    }
}

/// A short-circuit read from a plugin's output, in any shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ShortCircuitParts {
    /// The response (raw, in whatever response shape the plugin wrote), if not null.
    pub response: Option<RawJson>,
    /// The error (raw), if not null.
    pub error: Option<RawJson>,
}

impl ShortCircuitParts {
    /// Splits a short-circuit object (`response`/`Response`, `error`/`Error`, any case).
    pub fn parse(short_circuit: &str) -> Result<Self, JsonError> {
        if JsonKind::of(short_circuit) != JsonKind::Object {
            return Err(JsonError(format!(
                "short_circuit must be an object, found {}",
                JsonKind::of(short_circuit).name()
            )));
        }
        let pick = |key: &str| -> Result<Option<RawJson>, JsonError> {
            match find_member(short_circuit, key, true) {
                Some((_, v)) if JsonKind::of(v) != JsonKind::Null => {
                    Ok(Some(RawJson::from_string(v.to_string())?))
                }
                _ => Ok(None),
            }
        };
        Ok(ShortCircuitParts {
            response: pick("Response")?,
            error: pick("Error")?,
        })
    }
}

/// How a response is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseShape {
    /// Go's `{"ChatResponse": …, <others>: null}`.
    GoEnvelope,
    /// `{"chat_response": …}`.
    Snake,
    /// A bare chat completion object (`{"id","choices",…}`).
    Flat,
}

#[derive(Debug, Clone)]
struct ResponseLayout {
    shape: ResponseShape,
    /// Key holding the inner response (the first known member with an object value, else
    /// the chat member); `None` for flat or when there is none.
    member: Option<String>,
    /// Byte range of that member's value in the response text.
    span: Option<(usize, usize)>,
    /// The kind of the inner response and whether its member is a stream member, when there
    /// is an inner response object.
    kind: Option<(RequestKind, bool)>,
}

impl ResponseLayout {
    fn has_chat(&self) -> bool {
        matches!(self.kind, Some((RequestKind::Chat, _)))
    }
}

fn detect_response(text: &str) -> ResponseLayout {
    if JsonKind::of(text) != JsonKind::Object {
        return detect_response_members::<Members<'_>>(None);
    }
    detect_response_members(Some(Members::new(text)))
}

/// Layout of a response from its members (`None` when it is not an object), in one pass.
fn detect_response_members<'a, I: Iterator<Item = scan::Member<'a>>>(members: Option<I>) -> ResponseLayout {
    let none = ResponseLayout {
        shape: ResponseShape::Snake,
        member: None,
        span: None,
        kind: None,
    };
    let Some(members) = members else {
        return none;
    };
    // The first member of a known kind holding an object, per spelling; the chat member
    // even when null (so the shape is known).
    let mut snake: Option<(scan::Member<'a>, Option<(RequestKind, bool)>)> = None;
    let mut go = false;
    let mut go_found: Option<(scan::Member<'a>, Option<(RequestKind, bool)>)> = None;
    let mut choices = false;
    for m in members {
        let key = m.key();
        let object = JsonKind::of(m.value) == JsonKind::Object;
        if key.contains('_') {
            if key.ends_with("_response") {
                if let Some(kind) = response_member_kind(&key) {
                    let found = object.then_some(kind);
                    if snake.as_ref().is_none_or(|(_, k)| k.is_none() && found.is_some()) {
                        snake = Some((m, found));
                    }
                }
            }
        } else if ends_with_ignore_case(&key, "response") && key.len() > "response".len() {
            go = true;
            if let Some(kind) = response_member_kind(&key) {
                let found = object.then_some(kind.clone());
                let better = match &go_found {
                    None => found.is_some() || kind.0 == RequestKind::Chat,
                    Some((_, k)) => k.is_none() && found.is_some(),
                };
                if better {
                    go_found = Some((m, found));
                }
            }
        }
        choices |= key == "choices";
    }
    let layout = |shape, found: Option<(scan::Member<'a>, Option<(RequestKind, bool)>)>| match found {
        Some((m, kind)) => ResponseLayout {
            shape,
            member: Some(m.key().into_owned()),
            span: Some(value_span(&m)),
            kind,
        },
        None => ResponseLayout {
            shape,
            member: None,
            span: None,
            kind: None,
        },
    };
    if snake.is_some() {
        return layout(ResponseShape::Snake, snake);
    }
    if go {
        return layout(ResponseShape::GoEnvelope, go_found);
    }
    if choices {
        return ResponseLayout {
            shape: ResponseShape::Flat,
            member: None,
            span: None,
            kind: Some((RequestKind::Chat, false)),
        };
    }
    none
}

/// Serializes a [`BifrostError`] to raw JSON.
pub fn error_json(error: &BifrostError) -> Result<RawJson, JsonError> {
    RawJson::from_serialize(error)
}

mod request;
mod response;

pub use request::LlmRequest;
pub use response::LlmResponse;

#[cfg(test)]
mod tests;
