//! The one translation between the client APIs (OpenAI's, and Anthropic's Messages) and
//! Bifrost's requests and responses of every kind, on bytes validated once.
//!
//! Inbound, the client's body is validated and indexed in one pass ([`ApiRequest::parse`]);
//! `model` and the API's input member (`messages`, `prompt` or `input`) become the Bifrost
//! request's `model` and `input`, `stream` is taken out, and every other member goes into
//! `params` exactly as written (unknown fields, big integers and `null`s survive). That
//! request is written once, in the chain's shape ([`ApiRequest::to_bifrost`]). If the
//! pre-hooks give it back unchanged the provider is called with the client's parsed request
//! as it is; only a changed request is read back ([`ApiRequest::from_bifrost`], no second
//! validation: plugin outputs are validated when they are read). The provider's body
//! ([`ApiRequest::to_openai`]) is written from the same spans.
//!
//! | route | [`Api`] | Bifrost `input` | kind |
//! |---|---|---|---|
//! | `/v1/chat/completions` | [`Api::Chat`] | `messages` | `chat_completion` |
//! | `/v1/completions` | [`Api::Completions`] | `prompt` (string or array) | `text_completion` |
//! | `/v1/embeddings` | [`Api::Embeddings`] | `input` | `embedding` |
//! | `/v1/responses` | [`Api::Responses`] | `input` (a string becomes one user message) | `responses` |
//! | `/v1/audio/speech` | [`Api::Speech`] | `{"input": input}` | `speech` |
//! | `/v1/audio/transcriptions` | [`Api::Transcriptions`] | `{"file": base64, "filename"}` (multipart) | `transcription` |
//! | `/v1/images/generations` | [`Api::Images`] | `{"prompt": prompt}` | `image_generation` |
//! | `/anthropic/v1/messages` | [`Api::AnthropicMessages`] | Responses input items ([`crate::anthropic`]) | `responses` |
//!
//! Outbound, the provider's response is wrapped once in the chain's response shape
//! ([`wrap_response`]); the client gets the provider's bytes unless a post-hook changed the
//! response, and then the response inside it ([`answer_body`]).

use std::borrow::Cow;
use std::ops::Range;

use bifrost_wasm_chain::{LlmResult, RequestShape};
use bifrost_wasm_types::error::ErrorJson;
use bifrost_wasm_types::raw::{JsonKind, RawJson};
use bifrost_wasm_types::scan::{self, Elements, Members};
use bifrost_wasm_types::shape::{self, LlmRequest, LlmResponse, RequestKind};

/// Why a request body cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest(pub String);

/// The client API a route speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// OpenAI chat completions.
    Chat,
    /// OpenAI (legacy) text completions.
    Completions,
    /// OpenAI embeddings.
    Embeddings,
    /// OpenAI Responses API.
    Responses,
    /// OpenAI text to speech.
    Speech,
    /// OpenAI transcriptions (multipart upload).
    Transcriptions,
    /// OpenAI image generation.
    Images,
    /// Anthropic Messages (plugins see a Bifrost Responses request, as Bifrost's Anthropic
    /// integration sends it).
    AnthropicMessages,
}

impl Api {
    /// Every API.
    pub const ALL: [Api; 8] = [
        Api::Chat,
        Api::Completions,
        Api::Embeddings,
        Api::Responses,
        Api::Speech,
        Api::Transcriptions,
        Api::Images,
        Api::AnthropicMessages,
    ];

    /// The Bifrost request kind plugins see.
    pub fn kind(self) -> RequestKind {
        match self {
            Api::Chat => RequestKind::Chat,
            Api::Completions => RequestKind::TextCompletion,
            Api::Embeddings => RequestKind::Embedding,
            Api::Responses | Api::AnthropicMessages => RequestKind::Responses,
            Api::Speech => RequestKind::Speech,
            Api::Transcriptions => RequestKind::Transcription,
            Api::Images => RequestKind::ImageGeneration,
        }
    }

    /// Bifrost's `RequestType` name of a request (`responses_stream`, ...).
    pub fn request_type(self, stream: bool) -> &'static str {
        self.kind()
            .request_type_name(stream)
            .expect("every API's kind is a known kind")
    }

    /// What a request of this API is called in messages (`a text completion request`).
    pub fn noun(self) -> &'static str {
        match self {
            Api::Chat => "chat completion",
            Api::Completions => "text completion",
            Api::Embeddings => "embedding",
            Api::Responses => "Responses API",
            Api::Speech => "speech",
            Api::Transcriptions => "transcription",
            Api::Images => "image generation",
            Api::AnthropicMessages => "Anthropic Messages",
        }
    }

    /// The client body's member that carries the input.
    pub fn input_key(self) -> &'static str {
        match self {
            Api::Chat | Api::AnthropicMessages => "messages",
            Api::Completions | Api::Images => "prompt",
            Api::Embeddings | Api::Responses | Api::Speech => "input",
            Api::Transcriptions => "file",
        }
    }

    /// The JSON kinds the input member may have.
    fn input_kinds(self) -> &'static [JsonKind] {
        match self {
            Api::Chat | Api::AnthropicMessages => &[JsonKind::Array],
            Api::Completions | Api::Embeddings | Api::Responses => &[JsonKind::String, JsonKind::Array],
            Api::Speech | Api::Images | Api::Transcriptions => &[JsonKind::String],
        }
    }

    /// The path under an OpenAI-compatible base URL.
    pub fn upstream_path(self) -> &'static str {
        match self {
            Api::Chat => "/chat/completions",
            Api::Completions => "/completions",
            Api::Embeddings => "/embeddings",
            Api::Responses | Api::AnthropicMessages => "/responses",
            Api::Speech => "/audio/speech",
            Api::Transcriptions => "/audio/transcriptions",
            Api::Images => "/images/generations",
        }
    }

    /// Whether a stream is asked for with `"stream": true` (speech asks with
    /// `"stream_format": "sse"`, embeddings and images do not stream here).
    fn streams_with_member(self) -> bool {
        matches!(
            self,
            Api::Chat | Api::Completions | Api::Responses | Api::Transcriptions | Api::AnthropicMessages
        )
    }
}

/// A request of one [`Api`], kept as the JSON text it came in with and the places of its
/// parts: the client's body, or the flat Bifrost request a plugin gave back.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiRequest {
    /// The API it was made for.
    pub api: Api,
    text: RawJson,
    /// Provider from a `provider/model` name (or the Bifrost request), or the default one.
    pub provider: String,
    /// Model without the provider prefix.
    pub model: String,
    input: Range<usize>,
    /// `input` is the client's member (`messages`, `prompt`, ...), not Bifrost's `input`.
    client_input: bool,
    /// `(key with its quotes, value)` of every other member, in order.
    params: Vec<(Range<usize>, Range<usize>)>,
    /// The client asked for a stream.
    pub stream: bool,
}

/// Splits `provider/model`; a name without `/` uses `default_provider`.
pub fn split_model(name: &str, default_provider: &str) -> (String, String) {
    match name.split_once('/') {
        Some((provider, model)) if !provider.is_empty() && !model.is_empty() => {
            (provider.to_string(), model.to_string())
        }
        _ => (default_provider.to_string(), name.to_string()),
    }
}

/// The place of `part` (a slice of `text`) in `text`.
fn span(text: &str, part: &str) -> Range<usize> {
    let start = part.as_ptr() as usize - text.as_ptr() as usize;
    start..start + part.len()
}

/// The key of a member with its quotes (`raw_key` is the text between them).
fn quoted_key(text: &str, raw_key: &str) -> Range<usize> {
    let inner = span(text, raw_key);
    inner.start - 1..inner.end + 1
}

fn kinds_text(kinds: &[JsonKind]) -> String {
    let names: Vec<&str> = kinds
        .iter()
        .map(|k| match k {
            JsonKind::Array => "an array",
            JsonKind::String => "a string",
            _ => "an object",
        })
        .collect();
    names.join(" or ")
}

impl ApiRequest {
    /// Parses the JSON body of an OpenAI-style `api` request: one pass validates it and
    /// indexes its members. (Transcriptions come as multipart and Anthropic messages are
    /// converted: see [`crate::multipart`] and [`crate::anthropic`].)
    pub fn parse(api: Api, body: &[u8], default_provider: &str) -> Result<ApiRequest, BadRequest> {
        let text = scan::utf8(body).map_err(|e| BadRequest(format!("the request body is not UTF-8: {e}")))?;
        let input_key = api.input_key();
        let not_object = || {
            BadRequest(format!(
                "the request body must be a JSON object with `model` and `{input_key}`"
            ))
        };
        if JsonKind::of(text) != JsonKind::Object {
            return Err(not_object());
        }
        let index = scan::validate_object(text)
            .map_err(|e| BadRequest(format!("the request body is not valid JSON: {e}")))?
            .ok_or_else(not_object)?;
        let mut model = None;
        let mut input = None;
        let mut stream = false;
        let mut params = Vec::new();
        for (_, member) in index.members() {
            let (key, value) = (member.key(), member.value);
            match key.as_ref() {
                "model" => {
                    model = Some(
                        scan::string_value(value)
                            .filter(|_| JsonKind::of(value) == JsonKind::String)
                            .ok_or_else(|| {
                                BadRequest(
                                    "`model` must be a string like \"gpt-4o\" or \"openai/gpt-4o\"".into(),
                                )
                            })?
                            .into_owned(),
                    )
                }
                k if k == input_key => {
                    let kinds = api.input_kinds();
                    if !kinds.contains(&JsonKind::of(value)) {
                        return Err(BadRequest(format!(
                            "`{input_key}` must be {} for a {} request",
                            kinds_text(kinds),
                            api.noun()
                        )));
                    }
                    input = Some(span(text, value));
                }
                "stream" if api.streams_with_member() => {
                    stream = match value.trim() {
                        "true" => true,
                        "false" | "null" => false,
                        _ => return Err(BadRequest("`stream` must be true or false".into())),
                    }
                }
                "stream" if matches!(value.trim(), "true") => {
                    return Err(BadRequest(format!(
                        "{} requests do not stream here; leave out `stream`",
                        api.noun()
                    )))
                }
                "stream_format" if api == Api::Speech => {
                    stream = scan::string_value(value).is_some_and(|f| f == "sse");
                    params.push((quoted_key(text, member.raw_key), span(text, value)));
                }
                _ => params.push((quoted_key(text, member.raw_key), span(text, value))),
            }
        }
        let model = model.ok_or_else(|| BadRequest("`model` is required".into()))?;
        let input = input.ok_or_else(|| BadRequest(format!("`{input_key}` is required")))?;
        let (provider, model) = split_model(&model, default_provider);
        Ok(ApiRequest {
            api,
            provider,
            model,
            input,
            client_input: true,
            params,
            stream,
            text: RawJson::from_validated(text),
        })
    }

    /// Reads a flat Bifrost request of `api`'s kind (`{"provider","model","input","params"}`,
    /// as a plugin gave it back, or as a converter wrote it: already validated).
    pub fn from_bifrost(api: Api, flat: &str, stream: bool) -> Result<ApiRequest, BadRequest> {
        let noun = api.noun();
        if JsonKind::of(flat) != JsonKind::Object {
            return Err(BadRequest(format!("the {noun} request is not a JSON object")));
        }
        let text = RawJson::from_validated(flat);
        let t = text.as_str();
        let mut provider = String::new();
        let mut model = None;
        let mut input = None;
        let mut params = Vec::new();
        for m in Members::new(t) {
            match m.key().as_ref() {
                "provider" => {
                    provider = scan::string_value(m.value)
                        .map(|p| p.into_owned())
                        .unwrap_or_default()
                }
                "model" => model = scan::string_value(m.value).map(|p| p.into_owned()),
                "input" if JsonKind::of(m.value) != JsonKind::Null => input = Some(span(t, m.value)),
                "params" if JsonKind::of(m.value) == JsonKind::Object => {
                    params
                        .extend(Members::new(m.value).map(|p| (quoted_key(t, p.raw_key), span(t, p.value))));
                }
                _ => {}
            }
        }
        let request = ApiRequest {
            api,
            provider,
            model: model.ok_or_else(|| BadRequest(format!("the {noun} request has no `model` string")))?,
            input: input.ok_or_else(|| BadRequest(format!("the {noun} request has no `input`")))?,
            client_input: false,
            params,
            stream,
            text,
        };
        // The provider's body must be writable from it.
        request.client_input_value()?;
        Ok(request)
    }

    /// Reads the request the pre-hooks left (in the chain's shape) for the provider.
    pub fn from_chain(api: Api, request: &RawJson, stream: bool) -> Result<ApiRequest, BadRequest> {
        let shaped = LlmRequest::new(request.clone());
        let inner = shaped.inner().ok_or_else(|| {
            BadRequest(format!(
                "the request after the pre-hooks is not a {} request object",
                api.noun()
            ))
        })?;
        ApiRequest::from_bifrost(api, inner, stream)
    }

    /// The input raw, as it stands: the client's member (`messages`, `prompt`, `input`) for a
    /// request read from a client, Bifrost's `input` for one read back from the plugins.
    pub fn input_raw(&self) -> &str {
        &self.text.as_str()[self.input.clone()]
    }

    /// Bifrost's `input`: the client's member, wrapped as the kind wants it.
    pub fn bifrost_input(&self) -> Cow<'_, str> {
        let raw = self.input_raw();
        if !self.client_input {
            return Cow::Borrowed(raw);
        }
        match self.api {
            Api::Responses if JsonKind::of(raw) == JsonKind::String => {
                Cow::Owned(format!("[{{\"role\":\"user\",\"content\":{raw}}}]"))
            }
            Api::Speech => Cow::Owned(format!("{{\"input\":{raw}}}")),
            Api::Images => Cow::Owned(format!("{{\"prompt\":{raw}}}")),
            _ => Cow::Borrowed(raw),
        }
    }

    /// The client API's input member value (`messages`, `prompt`, `input`), from either
    /// origin; for a transcription, the file's base64.
    pub fn client_input_value(&self) -> Result<Cow<'_, str>, BadRequest> {
        let raw = self.input_raw();
        if self.client_input {
            return Ok(Cow::Borrowed(raw));
        }
        let noun = self.api.noun();
        let inner = |key: &str, kinds: &[JsonKind]| {
            let ok = JsonKind::of(raw) == JsonKind::Object;
            ok.then(|| scan::member(raw, key, false))
                .flatten()
                .filter(|v| kinds.contains(&JsonKind::of(v)))
                .map(Cow::Borrowed)
                .ok_or_else(|| {
                    BadRequest(format!(
                        "the {noun} request's `input` must be an object with `{key}` as {}",
                        kinds_text(kinds)
                    ))
                })
        };
        match self.api {
            Api::Speech => inner("input", &[JsonKind::String]),
            Api::Images => inner("prompt", &[JsonKind::String]),
            Api::Transcriptions => inner("file", &[JsonKind::String]),
            api => {
                let kinds = match api {
                    Api::Responses | Api::AnthropicMessages => &[JsonKind::Array][..],
                    other => other.input_kinds(),
                };
                if kinds.contains(&JsonKind::of(raw)) {
                    Ok(Cow::Borrowed(raw))
                } else {
                    Err(BadRequest(format!(
                        "the {noun} request's `input` must be {}",
                        kinds_text(kinds)
                    )))
                }
            }
        }
    }

    /// A string member of Bifrost's `input` object (`filename` of a transcription).
    pub fn input_member_str(&self, key: &str) -> Option<String> {
        let input = self.bifrost_input();
        if JsonKind::of(&input) != JsonKind::Object {
            return None;
        }
        scan::member(&input, key, false)
            .filter(|v| JsonKind::of(v) == JsonKind::String)
            .and_then(scan::string_value)
            .map(Cow::into_owned)
    }

    /// A parameter, raw (`key` as it is written between the quotes).
    pub fn param(&self, key: &str) -> Option<&str> {
        let text = self.text.as_str();
        self.params
            .iter()
            .find(|(k, _)| &text[k.start + 1..k.end - 1] == key)
            .map(|(_, v)| &text[v.clone()])
    }

    /// A string parameter, unescaped.
    pub fn param_str(&self, key: &str) -> Option<String> {
        self.param(key)
            .filter(|v| JsonKind::of(v) == JsonKind::String)
            .and_then(scan::string_value)
            .map(Cow::into_owned)
    }

    /// Every parameter: `(key as written, raw value)`.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let text = self.text.as_str();
        self.params
            .iter()
            .map(move |(k, v)| (&text[k.start + 1..k.end - 1], &text[v.clone()]))
    }

    fn write_params(&self, out: &mut Vec<u8>) {
        let text = self.text.as_str();
        for (i, (k, v)) in self.params.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(text[k.clone()].as_bytes());
            out.push(b':');
            out.extend_from_slice(text[v.clone()].as_bytes());
        }
    }

    fn approximate_len(&self) -> usize {
        self.text.as_str().len() + self.provider.len() + self.model.len() + 64
    }

    /// The flat Bifrost request `{"provider","model","input","params"}` (`params` left out
    /// when empty).
    pub fn to_flat(&self) -> String {
        let mut out = Vec::with_capacity(self.approximate_len());
        out.extend_from_slice(b"{\"provider\":");
        scan::write_string(&mut out, &self.provider);
        out.extend_from_slice(b",\"model\":");
        scan::write_string(&mut out, &self.model);
        out.extend_from_slice(b",\"input\":");
        out.extend_from_slice(self.bifrost_input().as_bytes());
        if !self.params.is_empty() {
            out.extend_from_slice(b",\"params\":{");
            self.write_params(&mut out);
            out.push(b'}');
        }
        out.push(b'}');
        String::from_utf8(out).expect("written from UTF-8 parts")
    }

    /// The Bifrost request in the chain's `shape`: flat, wrapped as `shape` asks, with
    /// `RequestType` telling the kind and whether it streams.
    pub fn to_bifrost(&self, shape: RequestShape) -> RawJson {
        let flat = self.to_flat();
        match shape {
            RequestShape::Flat => RawJson::from_validated(flat),
            shape => {
                RawJson::from_validated(shape::wrap_request(&flat, &self.api.kind(), shape, self.stream))
            }
        }
    }

    /// The OpenAI body sent to an upstream provider (JSON APIs; not transcriptions).
    pub fn to_openai(&self) -> String {
        let input = self.client_input_value().unwrap_or(Cow::Borrowed("null"));
        let mut out = Vec::with_capacity(self.approximate_len());
        out.extend_from_slice(b"{\"model\":");
        scan::write_string(&mut out, &self.model);
        out.extend_from_slice(b",\"");
        // Anthropic Messages sent to an OpenAI-compatible API go as the Responses request.
        let key = match self.api {
            Api::AnthropicMessages => "input",
            api => api.input_key(),
        };
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        out.extend_from_slice(input.as_bytes());
        if !self.params.is_empty() {
            out.push(b',');
            self.write_params(&mut out);
        }
        if self.stream && self.api.streams_with_member() {
            out.extend_from_slice(b",\"stream\":true");
        }
        out.push(b'}');
        String::from_utf8(out).expect("written from UTF-8 parts")
    }
}

/// The text of a message `content`: a string, or the `text` of its blocks joined by spaces.
pub fn content_text(content: &str) -> String {
    match JsonKind::of(content) {
        JsonKind::String => scan::string_value(content).unwrap_or_default().into_owned(),
        JsonKind::Array => Elements::new(content)
            .filter_map(|block| scan::member(block, "text", true))
            .filter(|t| JsonKind::of(t) == JsonKind::String)
            .filter_map(scan::string_value)
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// A provider's chat completion in the response shape that answers a request of `shape`.
pub fn wrap_response(chat: &RawJson, shape: RequestShape) -> RawJson {
    wrap_kind_response(chat, &RequestKind::Chat, shape, false)
}

/// A provider's response of `kind` (with `stream`, one stream chunk or event of it) in the
/// response shape that answers a request of `shape`.
pub fn wrap_kind_response(inner: &RawJson, kind: &RequestKind, shape: RequestShape, stream: bool) -> RawJson {
    RawJson::from_validated(shape::wrap_response(inner.as_str(), kind, shape, stream))
}

/// The body the client gets for a response after the post-hooks: the provider's response as
/// it came when the hooks left the response as it was sent (`sent`), else the response
/// inside the (changed) response, of whichever kind. `None` when there is none.
/// A response of another kind than the request's counts as none.
pub fn answer_body(
    result: &LlmResult,
    sent: Option<(&RawJson, &RawJson)>,
    kind: &RequestKind,
) -> Option<RawJson> {
    match (result, sent) {
        (LlmResult::Response(r), Some((wrapped, inner))) if r.as_str() == wrapped.as_str() => {
            Some(inner.clone())
        }
        (LlmResult::Response(r), _) => {
            let response = LlmResponse::new(r.clone());
            if response.kind().as_ref() != Some(kind) {
                return None;
            }
            response.inner_raw().map(RawJson::from_validated)
        }
        (LlmResult::Error(_), _) => None,
    }
}

/// A Bifrost error JSON the gateway answers with itself (also OpenAI's error shape:
/// `error.message`, `error.type`, `error.code`).
pub fn error_body(status: u16, error_type: &str, message: &str) -> RawJson {
    let code = status.to_string();
    ErrorJson::new(message)
        .with_type(error_type)
        .with_code(&code)
        .with_status(i64::from(status))
        .bifrost(true)
        .to_raw()
}

/// The HTTP status an error JSON asks for: `status_code`, else a numeric `error.code`, else 500.
pub fn error_status(error: &RawJson) -> u16 {
    let valid = |n: u64| (400..=599).contains(&n).then_some(n as u16);
    if let Some(n) = error
        .get_ignore_case("status_code")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .and_then(valid)
    {
        return n;
    }
    error
        .get_path(&["error", "code"])
        .and_then(|v| {
            scan::string_value(v)
                .and_then(|s| s.parse::<u64>().ok())
                .or_else(|| v.trim().parse::<u64>().ok())
        })
        .and_then(valid)
        .unwrap_or(500)
}

/// Turns a (non-streaming) chat completion into the chunk a stream would have carried: the
/// whole message as its delta, with the finish reason and the usage.
pub fn response_to_chunks(chat: &RawJson) -> Vec<RawJson> {
    let text = chat.as_str();
    if JsonKind::of(text) != JsonKind::Object {
        return vec![chat.clone()];
    }
    let mut out = Vec::with_capacity(text.len() + 16);
    out.push(b'{');
    let mut first = true;
    let mut has_object = false;
    let mut member = |out: &mut Vec<u8>, key: &[u8], value: &[u8]| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
        out.extend_from_slice(key);
        out.push(b':');
        out.extend_from_slice(value);
    };
    for m in Members::new(text) {
        let key = &text.as_bytes()[quoted_key(text, m.raw_key)];
        match m.key().as_ref() {
            "object" => {
                has_object = true;
                member(&mut out, key, b"\"chat.completion.chunk\"");
            }
            "choices" if JsonKind::of(m.value) == JsonKind::Array => {
                let mut choices = vec![b'['];
                for choice in Elements::new(m.value).filter(|c| JsonKind::of(c) == JsonKind::Object) {
                    if choices.len() > 1 {
                        choices.push(b',');
                    }
                    choices.push(b'{');
                    for (j, f) in Members::new(choice).enumerate() {
                        if j > 0 {
                            choices.push(b',');
                        }
                        if f.key_is("message") {
                            choices.extend_from_slice(b"\"delta\"");
                        } else {
                            choices.extend_from_slice(&choice.as_bytes()[quoted_key(choice, f.raw_key)]);
                        }
                        choices.push(b':');
                        choices.extend_from_slice(f.value.as_bytes());
                    }
                    choices.push(b'}');
                }
                choices.push(b']');
                member(&mut out, key, &choices);
            }
            _ => member(&mut out, key, m.value.as_bytes()),
        }
    }
    if !has_object {
        member(&mut out, b"\"object\"", b"\"chat.completion.chunk\"");
    }
    out.push(b'}');
    vec![RawJson::from_validated(
        String::from_utf8(out).expect("written from UTF-8 parts"),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use bifrost_wasm_chain::json_equal;

    #[test]
    fn openai_body_round_trips_losslessly_through_the_bifrost_request() {
        let body = br#"{"model":"openai/gpt-4o","messages":[{"role":"user","content":"hi","x-extra":null}],"seed":123456789012345678901234567890,"temperature":1.0,"stream":true,"stream_options":{"include_usage":true}}"#;
        let req = ApiRequest::parse(Api::Chat, body, "mock").unwrap();
        assert_eq!(
            (req.provider.as_str(), req.model.as_str(), req.stream),
            ("openai", "gpt-4o", true)
        );
        let flat = req.to_bifrost(RequestShape::Flat);
        assert_eq!(
            flat.as_str(),
            r#"{"provider":"openai","model":"gpt-4o","input":[{"role":"user","content":"hi","x-extra":null}],"params":{"seed":123456789012345678901234567890,"temperature":1.0,"stream_options":{"include_usage":true}}}"#
        );
        let back = ApiRequest::from_bifrost(Api::Chat, flat.as_str(), true).unwrap();
        let openai = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi","x-extra":null}],"seed":123456789012345678901234567890,"temperature":1.0,"stream_options":{"include_usage":true},"stream":true}"#;
        assert_eq!(back.to_openai(), openai);
        // Unchanged by any plugin, the client's own parse writes the same provider body.
        assert_eq!(req.to_openai(), openai);
        assert_eq!(req.param("seed"), Some("123456789012345678901234567890"));
    }

    #[test]
    fn a_go_shaped_request_from_the_chain_is_read_back() {
        let req = ApiRequest::parse(Api::Chat, br#"{"model":"m","messages":[],"n":2}"#, "mock").unwrap();
        let shaped = req.to_bifrost(RequestShape::GoEnvelope);
        assert!(shaped.as_str().starts_with(r#"{"RequestType":"chat_completion""#));
        let back = ApiRequest::from_chain(Api::Chat, &shaped, false).unwrap();
        assert_eq!((back.provider.as_str(), back.model.as_str()), ("mock", "m"));
        assert_eq!(back.to_openai(), r#"{"model":"m","messages":[],"n":2}"#);
    }

    #[test]
    fn escaped_keys_and_strings_keep_their_spelling() {
        let body = br#"{"model":"m\u002fx","messages":[],"\u0074op_p":0.5}"#;
        let req = ApiRequest::parse(Api::Chat, body, "mock").unwrap();
        assert_eq!((req.provider.as_str(), req.model.as_str()), ("m", "x"));
        assert_eq!(req.to_openai(), r#"{"model":"x","messages":[],"\u0074op_p":0.5}"#);
    }

    #[test]
    fn model_without_provider_uses_the_default_provider() {
        let req = ApiRequest::parse(Api::Chat, br#"{"model":"mock-model","messages":[]}"#, "mock").unwrap();
        assert_eq!(
            (req.provider.as_str(), req.model.as_str()),
            ("mock", "mock-model")
        );
        assert_eq!(split_model("/x", "d"), ("d".to_string(), "/x".to_string()));
        assert_eq!(split_model("a/b/c", "d"), ("a".to_string(), "b/c".to_string()));
    }

    #[test]
    fn bad_bodies_say_what_is_wrong() {
        for (body, needle) in [
            (&b"[1]"[..], "JSON object"),
            (b"{\"messages\":[]}", "`model` is required"),
            (b"{\"model\":\"m\"}", "`messages` is required"),
            (b"{\"model\":1,\"messages\":[]}", "`model` must be a string"),
            (
                b"{\"model\":\"m\",\"messages\":{}}",
                "`messages` must be an array",
            ),
            (
                b"{\"model\":\"m\",\"messages\":[],\"stream\":\"yes\"}",
                "`stream`",
            ),
            (b"{\"model\":", "not valid JSON"),
            (b"\xff", "not UTF-8"),
        ] {
            let err = ApiRequest::parse(Api::Chat, body, "mock").unwrap_err();
            assert!(
                err.0.contains(needle),
                "{}: {}",
                String::from_utf8_lossy(body),
                err.0
            );
        }
    }

    #[test]
    fn error_status_reads_status_code_then_numeric_code() {
        let e = |s: &str| RawJson::from_string(s.to_string()).unwrap();
        assert_eq!(
            error_status(&e(r#"{"status_code":429,"error":{"message":"x"}}"#)),
            429
        );
        assert_eq!(error_status(&e(r#"{"error":{"message":"x","code":"403"}}"#)), 403);
        assert_eq!(
            error_status(&e(r#"{"error":{"message":"x","code":"rate_limit"}}"#)),
            500
        );
        assert_eq!(error_status(&e(r#"{"status_code":200,"error":{}}"#)), 500);
        assert_eq!(error_status(&error_body(413, "request_too_large", "big")), 413);
    }

    #[test]
    fn a_response_becomes_one_chunk_with_the_message_as_delta() {
        let chat = RawJson::from_string(
            r#"{"id":"x","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"total_tokens":3}}"#.into(),
        )
        .unwrap();
        let chunks = response_to_chunks(&chat);
        assert_eq!(
            chunks[0].as_str(),
            r#"{"id":"x","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"total_tokens":3}}"#
        );
    }

    #[test]
    fn the_answer_is_the_providers_bytes_unless_a_post_hook_changed_the_response() {
        let chat = RawJson::from_validated(r#"{"id":"c","model":"m","choices":[]}"#);
        let wrapped = wrap_response(&chat, RequestShape::GoEnvelope);
        let same = LlmResult::Response(wrapped.clone());
        assert_eq!(
            answer_body(&same, Some((&wrapped, &chat)), &RequestKind::Chat),
            Some(chat.clone())
        );
        let edited = LlmResult::Response(wrap_response(
            &RawJson::from_validated(r#"{"id":"c","model":"m2","choices":[]}"#),
            RequestShape::GoEnvelope,
        ));
        let body = answer_body(&edited, Some((&wrapped, &chat)), &RequestKind::Chat).unwrap();
        assert!(json_equal(
            body.as_str(),
            r#"{"id":"c","model":"m2","choices":[]}"#
        ));
        // A response of another kind than the request's is no answer.
        assert_eq!(answer_body(&edited, None, &RequestKind::TextCompletion), None);
        assert_eq!(
            answer_body(&LlmResult::Error(chat), None, &RequestKind::Chat),
            None
        );
    }
}
