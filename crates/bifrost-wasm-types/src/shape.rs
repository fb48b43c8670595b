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

/// The `request` of a `pre_hook`, kept as raw JSON, in whichever shape it arrived.
///
/// Passing it on costs nothing (the bytes are echoed); reading the provider or model parses
/// only as much as needed; edits are written back into the same shape.
#[derive(Clone)]
pub struct LlmRequest {
    raw: RawJson,
    layout: OnceCell<RequestLayout>,
}

impl LlmRequest {
    /// Wraps a raw request.
    pub fn new(raw: RawJson) -> Self {
        LlmRequest {
            raw,
            layout: OnceCell::new(),
        }
    }

    /// Wraps JSON text after validating it.
    pub fn from_json(json: &str) -> Result<Self, JsonError> {
        Ok(LlmRequest::new(RawJson::from_string(json.to_string())?))
    }

    /// Wraps a raw request whose members are already known (as [`crate::scan::Members`] or
    /// [`crate::codec::Envelope::children`] list them, offsets relative to `raw`): its shape
    /// is read from them without scanning the text again.
    pub fn from_indexed<'a>(raw: RawJson, members: impl Iterator<Item = scan::Member<'a>>) -> Self {
        let layout = OnceCell::new();
        let object = raw.is_object();
        let _ = layout.set(detect_request_members(object.then_some(members)));
        LlmRequest { raw, layout }
    }

    /// Builds a request of `shape` carrying the flat chat request `chat`.
    pub fn from_chat(
        chat: &BifrostChatRequest,
        shape: RequestShape,
        stream: bool,
    ) -> Result<Self, JsonError> {
        let flat = crate::raw::to_json_string(chat)?;
        Ok(LlmRequest::new(RawJson::from_string(wrap_chat_request(
            &flat, shape, stream,
        ))?))
    }

    fn layout(&self) -> &RequestLayout {
        self.layout.get_or_init(|| detect_request(self.raw.as_str()))
    }

    /// The raw JSON, as it will be written.
    pub fn raw(&self) -> &RawJson {
        &self.raw
    }

    /// Consumes the request, returning its raw JSON.
    pub fn into_raw(self) -> RawJson {
        self.raw
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.raw.as_str()
    }

    /// Which shape it arrived in.
    pub fn shape(&self) -> RequestShape {
        self.layout().shape
    }

    /// Which kind of request it is.
    pub fn kind(&self) -> RequestKind {
        self.layout().kind.clone()
    }

    /// `RequestType` of a Go envelope (`chat_completion`, `chat_completion_stream`, ...).
    pub fn request_type(&self) -> Option<&str> {
        self.layout().request_type.as_deref()
    }

    /// True when the request is a chat completion.
    pub fn is_chat(&self) -> bool {
        self.layout().kind == RequestKind::Chat
    }

    /// Raw text of the inner (flat) request object: the envelope member, or the whole value.
    pub fn inner(&self) -> Option<&str> {
        let layout = self.layout();
        if let Some((start, end)) = layout.span {
            return self.raw.as_str().get(start..end);
        }
        match &layout.member {
            Some(m) => member_valid(self.raw.as_str(), m, false).map(|(_, v)| v),
            None if self.raw.is_object() => Some(self.raw.as_str()),
            None => None,
        }
    }

    /// Reads field `name` of the inner request into `T` (`None` if absent or of another type).
    pub fn field<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        let inner = self.inner()?;
        let (_, v) = member_valid(inner, name, false)?;
        crate::reader::typed(v).ok()
    }

    /// Reads string field `name` of the inner request (`None` if absent or not a string),
    /// without going through serde.
    pub fn field_str(&self, name: &str) -> Option<String> {
        if let Some(fields) = self.layout().flat_fields {
            let span = match name {
                "provider" => Some(fields.provider),
                "model" => Some(fields.model),
                _ => None,
            };
            if let Some(span) = span {
                let (start, end) = span?;
                return scan::string_value(self.raw.as_str().get(start..end)?)
                    .map(std::borrow::Cow::into_owned);
            }
        }
        let (_, v) = member_valid(self.inner()?, name, false)?;
        scan::string_value(v).map(std::borrow::Cow::into_owned)
    }

    /// `(provider, model)` of the request; empty strings when absent.
    pub fn get_provider_model(&self) -> (String, String) {
        (
            self.provider().unwrap_or_default(),
            self.model().unwrap_or_default(),
        )
    }

    /// The provider id.
    pub fn provider(&self) -> Option<String> {
        self.field_str("provider")
    }

    /// The model name.
    pub fn model(&self) -> Option<String> {
        self.field_str("model")
    }

    /// Sets field `name` of the inner request, splicing it in (everything else unchanged).
    pub fn set_field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), JsonError> {
        let member = self.layout().member.clone();
        self.layout = OnceCell::new();
        match member {
            Some(m) => self.raw.set_path(&[&m, name], value),
            None => self.raw.set_path(&[name], value),
        }
    }

    /// The typed chat request, when this is a chat request.
    pub fn chat(&self) -> Option<Result<BifrostChatRequest, JsonError>> {
        if !self.is_chat() {
            return None;
        }
        let inner = self.inner()?;
        Some(crate::reader::typed(inner))
    }

    /// Edits the chat request through its typed view; only what `f` changed is rewritten,
    /// in the shape the request came in. Errors if this is not a chat request.
    pub fn edit_chat<R>(&mut self, f: impl FnOnce(&mut BifrostChatRequest) -> R) -> Result<R, JsonError> {
        if !self.is_chat() {
            return Err(JsonError(format!("not a chat request ({:?})", self.kind())));
        }
        let member = self.layout().member.clone();
        let inner = self
            .inner()
            .ok_or_else(|| JsonError("request has no chat request object".into()))?;
        let mut inner = RawJson::trusted(inner);
        let result = inner.edit(f)?;
        self.layout = OnceCell::new();
        match member {
            Some(m) => self.raw.set_path_raw(&[&m], inner.as_str())?,
            None => self.raw = inner,
        }
        Ok(result)
    }
}

impl fmt::Debug for LlmRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LlmRequest").field(&self.raw.as_str()).finish()
    }
}

impl PartialEq for LlmRequest {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Serialize for LlmRequest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for LlmRequest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RawJson::deserialize(d).map(LlmRequest::new)
    }
}

/// Wraps the JSON text of a flat chat request in `shape`.
pub fn wrap_chat_request(flat: &str, shape: RequestShape, stream: bool) -> String {
    match shape {
        RequestShape::Flat => flat.to_string(),
        RequestShape::Snake => format!("{{\"chat_request\":{flat}}}"),
        RequestShape::GoEnvelope => {
            let rt = if stream {
                "chat_completion_stream"
            } else {
                "chat_completion"
            };
            let mut out = String::with_capacity(flat.len() + 256);
            out.push_str("{\"RequestType\":\"");
            out.push_str(rt);
            out.push('"');
            for m in GO_REQUEST_MEMBERS {
                out.push_str(",\"");
                out.push_str(m);
                out.push_str("\":");
                out.push_str(if *m == "ChatRequest" { flat } else { "null" });
            }
            out.push('}');
            out
        }
    }
}

/// Wraps the JSON text of a chat completion response in the response shape that answers a
/// request of `shape` (Go envelope for Go, `{"chat_response": …}` otherwise).
pub fn wrap_chat_response(chat: &str, shape: RequestShape) -> String {
    match shape {
        RequestShape::GoEnvelope => {
            let mut out = String::with_capacity(chat.len() + 320);
            out.push('{');
            for (i, m) in GO_RESPONSE_MEMBERS.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('"');
                out.push_str(m);
                out.push_str("\":");
                out.push_str(if *m == "ChatResponse" { chat } else { "null" });
            }
            out.push('}');
            out
        }
        RequestShape::Flat | RequestShape::Snake => format!("{{\"chat_response\":{chat}}}"),
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
    /// Key holding the chat response; `None` for flat or when there is no chat response.
    member: Option<String>,
    /// Byte range of that member's value in the response text.
    span: Option<(usize, usize)>,
    has_chat: bool,
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
        has_chat: false,
    };
    let Some(members) = members else {
        return none;
    };
    let mut snake: Option<scan::Member<'a>> = None;
    let mut go = false;
    let mut go_chat: Option<scan::Member<'a>> = None;
    let mut choices = false;
    for m in members {
        let key = m.key();
        if key == "chat_response" {
            snake = Some(m);
            break;
        }
        if !key.contains('_') && ends_with_ignore_case(&key, "response") && key.len() > "response".len() {
            go = true;
            if go_chat.is_none() && key.eq_ignore_ascii_case("ChatResponse") {
                go_chat = Some(m);
            }
        }
        choices |= key == "choices";
    }
    let layout = |shape, m: Option<scan::Member<'a>>| ResponseLayout {
        shape,
        member: m.as_ref().map(|m| m.key().into_owned()),
        span: m.as_ref().map(value_span),
        has_chat: m.is_some_and(|m| JsonKind::of(m.value) == JsonKind::Object),
    };
    if snake.is_some() {
        return layout(ResponseShape::Snake, snake);
    }
    if go {
        return layout(ResponseShape::GoEnvelope, go_chat);
    }
    if choices {
        return ResponseLayout {
            shape: ResponseShape::Flat,
            member: None,
            span: None,
            has_chat: true,
        };
    }
    none
}

/// A response (post_hook input/output, short-circuit response), kept as raw JSON in whichever
/// shape it arrived.
#[derive(Clone)]
pub struct LlmResponse {
    raw: RawJson,
    layout: OnceCell<ResponseLayout>,
}

impl LlmResponse {
    /// Wraps a raw response.
    pub fn new(raw: RawJson) -> Self {
        LlmResponse {
            raw,
            layout: OnceCell::new(),
        }
    }

    /// Wraps JSON text after validating it.
    pub fn from_json(json: &str) -> Result<Self, JsonError> {
        Ok(LlmResponse::new(RawJson::from_string(json.to_string())?))
    }

    /// Wraps a raw response whose members are already known (offsets relative to `raw`); see
    /// [`LlmRequest::from_indexed`].
    pub fn from_indexed<'a>(raw: RawJson, members: impl Iterator<Item = scan::Member<'a>>) -> Self {
        let layout = OnceCell::new();
        let object = raw.is_object();
        let _ = layout.set(detect_response_members(object.then_some(members)));
        LlmResponse { raw, layout }
    }

    /// A response carrying `chat`, in the response shape that answers a request of `shape`.
    pub fn from_chat(chat: &BifrostChatResponse, shape: RequestShape) -> Result<Self, JsonError> {
        let text = crate::raw::to_json_string(chat)?;
        Ok(LlmResponse::new(RawJson::from_string(wrap_chat_response(
            &text, shape,
        ))?))
    }

    /// A response built from the seed's typed [`BifrostResponse`], in the response shape that
    /// answers a request of `shape`.
    pub fn from_typed(response: &BifrostResponse, shape: RequestShape) -> Result<Self, JsonError> {
        match &response.chat_response {
            Some(chat) => LlmResponse::from_chat(chat, shape),
            None => match shape {
                RequestShape::GoEnvelope => LlmResponse::from_json(&wrap_chat_response("null", shape)),
                _ => LlmResponse::from_json("{}"),
            },
        }
    }

    fn layout(&self) -> &ResponseLayout {
        self.layout.get_or_init(|| detect_response(self.raw.as_str()))
    }

    /// The raw JSON.
    pub fn raw(&self) -> &RawJson {
        &self.raw
    }

    /// Consumes the response, returning its raw JSON.
    pub fn into_raw(self) -> RawJson {
        self.raw
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.raw.as_str()
    }

    /// Which shape it is in.
    pub fn shape(&self) -> ResponseShape {
        self.layout().shape
    }

    /// True when there is a chat response object inside.
    pub fn has_chat(&self) -> bool {
        self.layout().has_chat
    }

    /// Raw text of the chat response object, if any.
    pub fn chat_raw(&self) -> Option<&str> {
        let layout = self.layout();
        if !layout.has_chat {
            return None;
        }
        if let Some((start, end)) = layout.span {
            return self.raw.as_str().get(start..end);
        }
        match &layout.member {
            Some(m) => member_valid(self.raw.as_str(), m, false).map(|(_, v)| v),
            None => Some(self.raw.as_str()),
        }
    }

    /// Reads field `name` of the chat response into `T`.
    pub fn chat_field<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        let (_, v) = member_valid(self.chat_raw()?, name, false)?;
        crate::reader::typed(v).ok()
    }

    /// Reads string field `name` of the chat response (`None` if absent or not a string),
    /// without going through serde.
    pub fn chat_field_str(&self, name: &str) -> Option<String> {
        let (_, v) = member_valid(self.chat_raw()?, name, false)?;
        scan::string_value(v).map(std::borrow::Cow::into_owned)
    }

    /// Sets field `name` of the chat response, splicing it in. Errors if there is none.
    pub fn set_chat_field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), JsonError> {
        let layout = self.layout();
        if !layout.has_chat {
            return Err(JsonError("response has no chat response".into()));
        }
        let (span, member) = (layout.span, layout.member.clone());
        let text = crate::raw::to_json_string(value)?;
        self.layout = OnceCell::new();
        // The chat object's place is known: replace the member in one copy.
        if let Some((start, end)) = span {
            if self.raw.replace_member_in(start, end, name, &text) {
                return Ok(());
            }
        }
        match member {
            Some(m) => self.raw.set_path_trusted(&[&m, name], &text),
            None => self.raw.set_path_trusted(&[name], &text),
        }
    }

    /// The typed chat response, if there is one.
    pub fn chat(&self) -> Option<Result<BifrostChatResponse, JsonError>> {
        let raw = self.chat_raw()?;
        Some(crate::reader::typed(raw))
    }

    /// The seed's typed view: `BifrostResponse { chat_response }`.
    pub fn to_typed(&self) -> Result<BifrostResponse, JsonError> {
        Ok(BifrostResponse {
            chat_response: self.chat().transpose()?,
        })
    }

    /// Edits the chat response through its typed view; only what `f` changed is rewritten.
    pub fn edit_chat<R>(&mut self, f: impl FnOnce(&mut BifrostChatResponse) -> R) -> Result<R, JsonError> {
        let layout = self.layout().clone();
        let inner = self
            .chat_raw()
            .ok_or_else(|| JsonError("response has no chat response".into()))?;
        let mut inner = RawJson::trusted(inner);
        let result = inner.edit(f)?;
        self.layout = OnceCell::new();
        match layout.member {
            Some(m) => self.raw.set_path_raw(&[&m], inner.as_str())?,
            None => self.raw = inner,
        }
        Ok(result)
    }
}

impl fmt::Debug for LlmResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LlmResponse").field(&self.raw.as_str()).finish()
    }
}

impl PartialEq for LlmResponse {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Serialize for LlmResponse {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for LlmResponse {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RawJson::deserialize(d).map(LlmResponse::new)
    }
}

impl crate::codec::WriteJson for LlmRequest {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_str().as_bytes());
    }

    fn json_len(&self) -> usize {
        self.as_str().len()
    }
}

impl crate::codec::WriteJson for LlmResponse {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_str().as_bytes());
    }

    fn json_len(&self) -> usize {
        self.as_str().len()
    }
}

/// Serializes a [`BifrostError`] to raw JSON.
pub fn error_json(error: &BifrostError) -> Result<RawJson, JsonError> {
    RawJson::from_serialize(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FLAT: &str = r#"{"provider":"openai","model":"gpt-4","input":[{"role":"user","content":"Hello"}],"params":{"temperature":0.7}}"#;

    fn all_shapes() -> Vec<(RequestShape, LlmRequest)> {
        RequestShape::ALL
            .iter()
            .map(|s| {
                (
                    *s,
                    LlmRequest::from_json(&wrap_chat_request(FLAT, *s, false)).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn every_shape_is_recognised_with_provider_and_model() {
        for (shape, req) in all_shapes() {
            assert_eq!(req.shape(), shape);
            assert!(req.is_chat(), "{shape}");
            assert_eq!(req.get_provider_model(), ("openai".into(), "gpt-4".into()));
            assert_eq!(req.chat().unwrap().unwrap().input.len(), 1);
        }
    }

    #[test]
    fn go_envelope_keys_match_case_insensitively() {
        let req = LlmRequest::from_json(
            r#"{"requesttype":"chat_completion","TextCompletionRequest":null,"chatrequest":{"provider":"p","model":"m","input":[]}}"#,
        )
        .unwrap();
        assert_eq!(req.shape(), RequestShape::GoEnvelope);
        assert_eq!(req.request_type(), Some("chat_completion"));
        assert_eq!(req.model().as_deref(), Some("m"));
    }

    #[test]
    fn edits_are_written_back_in_the_shape_that_came_in() {
        for (shape, mut req) in all_shapes() {
            req.edit_chat(|c| c.model = "gpt-4o".into()).unwrap();
            let again = LlmRequest::from_json(req.as_str()).unwrap();
            assert_eq!(again.shape(), shape);
            assert_eq!(again.model().as_deref(), Some("gpt-4o"));
            let v: serde_json::Value = serde_json::from_str(req.as_str()).unwrap();
            let inner = match shape {
                RequestShape::Flat => v.clone(),
                RequestShape::Snake => v["chat_request"].clone(),
                RequestShape::GoEnvelope => {
                    assert_eq!(v["TextCompletionRequest"], json!(null));
                    v["ChatRequest"].clone()
                }
            };
            assert_eq!(inner["params"], json!({"temperature": 0.7}));
        }
    }

    #[test]
    fn non_chat_kinds_are_recognised_and_untouched() {
        let req = LlmRequest::from_json(
            r#"{"RequestType":"embedding","ChatRequest":null,"EmbeddingRequest":{"provider":"openai","model":"text-embedding-3","input":"hi"}}"#,
        )
        .unwrap();
        assert_eq!(req.kind(), RequestKind::Embedding);
        assert_eq!(
            req.get_provider_model(),
            ("openai".into(), "text-embedding-3".into())
        );
        assert!(req.chat().is_none());
        let snake = LlmRequest::from_json(
            r#"{"speech_request":{"provider":"openai","model":"tts-1","input":{"input":"hi"}}}"#,
        )
        .unwrap();
        assert_eq!(snake.kind(), RequestKind::Speech);
        assert_eq!(snake.model().as_deref(), Some("tts-1"));
    }

    #[test]
    fn responses_in_every_shape_expose_the_chat_response() {
        let chat = r#"{"id":"chatcmpl-123","model":"gpt-4","choices":[{"index":0,"message":{"role":"assistant","content":"Hi!"}}],"usage":{"prompt_tokens":5,"completion_tokens":10,"total_tokens":15}}"#;
        for text in [
            wrap_chat_response(chat, RequestShape::GoEnvelope),
            wrap_chat_response(chat, RequestShape::Snake),
            chat.to_string(),
        ] {
            let mut r = LlmResponse::from_json(&text).unwrap();
            assert_eq!(r.chat_field::<String>("model").as_deref(), Some("gpt-4"));
            r.set_chat_field("model", "gpt-4 (via rust-wasm)").unwrap();
            assert_eq!(r.chat().unwrap().unwrap().model, "gpt-4 (via rust-wasm)");
            assert_eq!(r.chat().unwrap().unwrap().first_text().as_deref(), Some("Hi!"));
        }
    }

    #[test]
    fn set_chat_field_replaces_in_place_or_appends_to_the_chat_object() {
        let chat = r#"{"id":"x","model":"m","choices":[],"extra":{"model":"keep"}}"#;
        for shape in [RequestShape::GoEnvelope, RequestShape::Snake] {
            let mut r = LlmResponse::from_json(&wrap_chat_response(chat, shape)).unwrap();
            r.set_chat_field("model", "m2").unwrap();
            let expected = chat.replace(r#""model":"m","#, r#""model":"m2","#);
            assert_eq!(r.chat_raw(), Some(expected.as_str()), "{shape}");
            r.set_chat_field("system_fingerprint", "fp").unwrap();
            assert_eq!(r.chat_field_str("system_fingerprint").as_deref(), Some("fp"));
            assert_eq!(r.chat_field_str("model").as_deref(), Some("m2"));
            assert_eq!(
                r.shape(),
                if shape == RequestShape::Snake {
                    ResponseShape::Snake
                } else {
                    ResponseShape::GoEnvelope
                }
            );
        }
    }

    #[test]
    fn short_circuit_parts_accept_both_key_spellings() {
        let go = short_circuit_json(
            None,
            Some(r#"{"error":{"message":"x"}}"#),
            RequestShape::GoEnvelope,
        );
        let p = ShortCircuitParts::parse(&go).unwrap();
        assert!(p.response.is_none());
        assert!(p.error.is_some());
        let seed = short_circuit_json(Some(r#"{"chat_response":{}}"#), None, RequestShape::Flat);
        let p = ShortCircuitParts::parse(&seed).unwrap();
        assert!(p.response.is_some() && p.error.is_none());
    }
}
