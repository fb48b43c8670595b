//! LLM providers: the embedded deterministic mock ([`MockProvider`]) and an OpenAI-compatible
//! upstream (with, optionally, an Anthropic-compatible one for Anthropic Messages).
//!
//! Both answer with raw JSON: the Bifrost response of the request's kind (or a stream of its
//! chunks or events) on success, a Bifrost error JSON (`{"error": {...}, "status_code": N}`)
//! on failure, which the gateway runs through the plugins' `post_hook` like any other result.

use bifrost_wasm_types::error::ErrorJson;
use bifrost_wasm_types::http::{decode_base64, encode_base64};
use bifrost_wasm_types::raw::{JsonKind, RawJson};
use bifrost_wasm_types::scan::{self, Members};
use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};

pub use crate::mock::{MockProvider, MOCK_MODELS};

use crate::adapter::{error_body, Api, ApiRequest};
use crate::anthropic;
use crate::config::{ProviderConfig, UpstreamTimeouts};
use crate::sse::{SseEvent, SseParser};

/// A stream of chunks or events (raw JSON objects of the request's kind) or one final error.
pub type ChunkStream = BoxStream<'static, Result<RawJson, RawJson>>;

/// A provider's non-streaming answer.
#[derive(Debug, Clone)]
pub struct Completed {
    /// The Bifrost response of the request's kind, which the post-hooks see.
    pub inner: RawJson,
    /// What the client gets when no plugin changed the response, when that is not the
    /// response itself: an upstream's audio bytes, its plain-text transcript, or its Anthropic
    /// message, with their content type.
    pub client: Option<(String, Bytes)>,
}

/// The configured provider.
#[derive(Debug, Clone)]
pub enum Provider {
    /// The embedded mock.
    Mock(MockProvider),
    /// An OpenAI-compatible HTTP API.
    Upstream(UpstreamProvider),
}

fn error_json(status: u16, error_type: &str, message: &str) -> RawJson {
    error_body(status, error_type, message)
}

impl Provider {
    /// Builds the provider from its configuration.
    pub fn from_config(config: &ProviderConfig) -> Result<Provider, String> {
        match config {
            ProviderConfig::Mock { name } => Ok(Provider::Mock(MockProvider { name: name.clone() })),
            ProviderConfig::OpenaiCompatible {
                name,
                base_url,
                api_key_env,
                anthropic_base_url,
                anthropic_api_key_env,
                ..
            } => {
                let mut upstream = UpstreamProvider::new(
                    name,
                    base_url,
                    api_key_env,
                    config.upstream_timeouts().unwrap_or_default(),
                )?;
                if let Some(url) = anthropic_base_url {
                    upstream = upstream.with_anthropic(url, anthropic_api_key_env)?;
                }
                Ok(Provider::Upstream(upstream))
            }
        }
    }

    /// The provider name used for `model` values without a `provider/` prefix.
    pub fn name(&self) -> &str {
        match self {
            Provider::Mock(m) => &m.name,
            Provider::Upstream(u) => &u.name,
        }
    }

    /// One non-streaming answer.
    pub async fn complete(&self, request: &ApiRequest, request_id: &str) -> Result<Completed, RawJson> {
        match self {
            Provider::Mock(m) => m.complete(request, request_id),
            Provider::Upstream(u) => u.complete(request).await,
        }
    }

    /// A streaming answer. `Err` when the provider refuses before the first chunk.
    pub async fn stream(&self, request: &ApiRequest, request_id: &str) -> Result<ChunkStream, RawJson> {
        match self {
            Provider::Mock(m) => m.stream(request, request_id),
            Provider::Upstream(u) => u.stream(request).await,
        }
    }

    /// The `GET /v1/models` answer.
    pub async fn models(&self) -> Result<RawJson, RawJson> {
        match self {
            Provider::Mock(m) => Ok(m.models()),
            Provider::Upstream(u) => u.models().await,
        }
    }
}

/// Largest upstream answer the gateway reads (a non-streaming body, or one stream event):
/// larger ones end with a 502 instead of holding their size in memory.
pub const MAX_UPSTREAM_RESPONSE_BYTES: usize = 64 << 20;

/// The version header Anthropic's API asks for.
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// An Anthropic-compatible API for Anthropic Messages.
#[derive(Debug, Clone)]
struct AnthropicUpstream {
    base_url: String,
    api_key: Option<String>,
}

/// Forwards to an OpenAI-compatible API (`{base_url}/chat/completions`, `/completions`,
/// `/embeddings`, `/responses`, `/audio/speech`, `/audio/transcriptions`,
/// `/images/generations`, `/models`), and Anthropic Messages to an Anthropic-compatible API
/// when one is configured (else as a Responses request to `{base_url}/responses`).
#[derive(Debug, Clone)]
pub struct UpstreamProvider {
    name: String,
    base_url: String,
    api_key: Option<String>,
    anthropic: Option<AnthropicUpstream>,
    client: reqwest::Client,
    timeouts: UpstreamTimeouts,
}

fn check_url(url: &str, example: &str) -> Result<String, String> {
    let url = url.trim_end_matches('/').to_string();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "upstream base_url `{url}` must start with http:// or https:// (e.g. {example})"
        ));
    }
    Ok(url)
}

fn key_from(env: &str) -> Option<String> {
    std::env::var(env).ok().filter(|k| !k.is_empty())
}

impl UpstreamProvider {
    /// A forwarder; the key is read from `api_key_env` now (unset: no `Authorization`).
    pub fn new(
        name: &str,
        base_url: &str,
        api_key_env: &str,
        timeouts: UpstreamTimeouts,
    ) -> Result<Self, String> {
        let base_url = check_url(base_url, "https://api.openai.com/v1")?;
        let client = reqwest::Client::builder()
            .timeout(timeouts.total)
            .connect_timeout(timeouts.connect)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(UpstreamProvider {
            name: name.to_string(),
            base_url,
            api_key: key_from(api_key_env),
            anthropic: None,
            client,
            timeouts,
        })
    }

    /// Sends Anthropic Messages to an Anthropic-compatible API (`{base_url}/v1/messages`,
    /// key from `api_key_env` sent as `x-api-key`).
    pub fn with_anthropic(mut self, base_url: &str, api_key_env: &str) -> Result<Self, String> {
        self.anthropic = Some(AnthropicUpstream {
            base_url: check_url(base_url, "https://api.anthropic.com")?,
            api_key: key_from(api_key_env),
        });
        Ok(self)
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        let mut req = self.client.post(format!("{}{path}", self.base_url));
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key);
        }
        req
    }

    fn post_json(&self, path: &str, body: String) -> reqwest::RequestBuilder {
        self.post(path)
            .header("content-type", "application/json")
            .body(body)
    }

    /// The request for `request` to the right upstream, and whether the answer is Anthropic's.
    fn build(&self, request: &ApiRequest) -> Result<(reqwest::RequestBuilder, bool), RawJson> {
        let bad = |e: crate::adapter::BadRequest| {
            error_json(
                500,
                "invalid_plugin_request",
                &format!("the request cannot be sent upstream: {}", e.0),
            )
        };
        let builder = match (request.api, &self.anthropic) {
            (Api::AnthropicMessages, Some(anthropic)) => {
                let body = anthropic::responses_request_to_messages(&request.to_flat(), request.stream)
                    .map_err(|e| bad(crate::adapter::BadRequest(e)))?;
                let mut req = self
                    .client
                    .post(format!("{}/v1/messages", anthropic.base_url))
                    .header("content-type", "application/json")
                    .header("anthropic-version", ANTHROPIC_VERSION)
                    .body(body);
                if let Some(key) = &anthropic.api_key {
                    req = req.header("x-api-key", key);
                }
                return Ok((req, true));
            }
            (Api::Transcriptions, _) => {
                let form = transcription_form(request).map_err(bad)?;
                self.post(request.api.upstream_path()).multipart(form)
            }
            (api, _) => self.post_json(api.upstream_path(), request.to_openai()),
        };
        Ok((builder, false))
    }

    /// Sends `request`, waiting at most the first-byte timeout for the response headers.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, RawJson> {
        match tokio::time::timeout(self.timeouts.first_byte, request.send()).await {
            Ok(sent) => sent.map_err(|e| self.transport_error(&e)),
            Err(_) => Err(error_json(
                504,
                "upstream_timeout",
                &format!(
                    "the upstream {} did not start answering within {} ms (first_byte_timeout_ms)",
                    self.base_url,
                    self.timeouts.first_byte.as_millis()
                ),
            )),
        }
    }

    /// The response body, refused (502) past [`MAX_UPSTREAM_RESPONSE_BYTES`] without reading
    /// more of it than that.
    async fn bounded_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, RawJson> {
        let too_large = || {
            error_json(
                502,
                "upstream_response_too_large",
                &format!(
                    "the upstream {} answered with more than {} bytes; the gateway reads at most that",
                    self.base_url, MAX_UPSTREAM_RESPONSE_BYTES
                ),
            )
        };
        if response
            .content_length()
            .is_some_and(|n| n > MAX_UPSTREAM_RESPONSE_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.transport_error(&e))? {
            if body.len() + chunk.len() > MAX_UPSTREAM_RESPONSE_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn transport_error(&self, e: &reqwest::Error) -> RawJson {
        if e.is_connect() && e.is_timeout() {
            error_json(
                504,
                "upstream_timeout",
                &format!(
                    "cannot connect to the upstream {} within {} ms (connect_timeout_ms): {e}",
                    self.base_url,
                    self.timeouts.connect.as_millis()
                ),
            )
        } else if e.is_timeout() {
            error_json(
                504,
                "upstream_timeout",
                &format!("the upstream {} timed out: {e}", self.base_url),
            )
        } else {
            error_json(
                502,
                "upstream_unreachable",
                &format!("cannot reach the upstream {}: {e}", self.base_url),
            )
        }
    }

    fn json_body(body: Vec<u8>) -> Result<RawJson, RawJson> {
        let text = String::from_utf8(body).map_err(|_| {
            error_json(
                502,
                "upstream_invalid_response",
                "the upstream answered with a body that is not UTF-8",
            )
        })?;
        RawJson::from_string(text).map_err(|e| {
            error_json(
                502,
                "upstream_invalid_response",
                &format!("the upstream answered with invalid JSON: {e}"),
            )
        })
    }

    async fn complete(&self, request: &ApiRequest) -> Result<Completed, RawJson> {
        let (builder, anthropic_answer) = self.build(request)?;
        let response = self.send(builder).await?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = self.bounded_body(response).await?;
        if !(200..300).contains(&status) {
            return Err(upstream_error(status, &body));
        }
        let is_json = content_type.is_empty() || content_type.contains("json");
        match request.api {
            Api::AnthropicMessages if anthropic_answer => {
                let message = Self::json_body(body)?;
                let inner = RawJson::from_validated(anthropic::message_to_responses(message.as_str()));
                let client = Bytes::from(message.into_string());
                Ok(Completed {
                    inner,
                    client: Some(("application/json".into(), client)),
                })
            }
            Api::Speech => {
                let mut inner = Vec::with_capacity(body.len() * 4 / 3 + 16);
                inner.extend_from_slice(b"{\"audio\":");
                scan::write_string(&mut inner, &encode_base64(&body));
                inner.push(b'}');
                let inner = String::from_utf8(inner).expect("written from UTF-8 parts");
                let content_type = if content_type.is_empty() {
                    "application/octet-stream".into()
                } else {
                    content_type
                };
                Ok(Completed {
                    inner: RawJson::from_validated(inner),
                    client: Some((content_type, Bytes::from(body))),
                })
            }
            Api::Transcriptions if !is_json => {
                let text = String::from_utf8_lossy(&body).into_owned();
                let mut inner = b"{\"text\":".to_vec();
                scan::write_string(&mut inner, &text);
                inner.push(b'}');
                Ok(Completed {
                    inner: RawJson::from_validated(String::from_utf8(inner).expect("UTF-8")),
                    client: Some((content_type, Bytes::from(body))),
                })
            }
            _ => Ok(Completed {
                inner: Self::json_body(body)?,
                client: None,
            }),
        }
    }

    async fn stream(&self, request: &ApiRequest) -> Result<ChunkStream, RawJson> {
        let (builder, anthropic_answer) = self.build(request)?;
        let response = self.send(builder.header("accept", "text/event-stream")).await?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let body = self.bounded_body(response).await.unwrap_or_default();
            return Err(upstream_error(status, &body));
        }
        let base_url = self.base_url.clone();
        let idle = self.timeouts.stream_idle;
        // Each piece must come within the idle timeout; a silence ends the stream with a 504.
        let bytes = stream::unfold(
            (response.bytes_stream().boxed(), false),
            move |(mut bytes, ended)| {
                let base_url = base_url.clone();
                async move {
                    if ended {
                        return None;
                    }
                    match tokio::time::timeout(idle, bytes.next()).await {
                        Ok(Some(Ok(piece))) => Some((Ok(piece), (bytes, false))),
                        Ok(Some(Err(e))) => Some((
                            Err(error_json(
                                502,
                                "upstream_stream_broken",
                                &format!("the stream from {base_url} broke: {e}"),
                            )),
                            (bytes, true),
                        )),
                        Ok(None) => None,
                        Err(_) => Some((
                            Err(error_json(
                                504,
                                "upstream_timeout",
                                &format!(
                                    "the stream from {base_url} stalled: nothing for {} ms (stream_idle_timeout_ms)",
                                    idle.as_millis()
                                ),
                            )),
                            (bytes, true),
                        )),
                    }
                }
            },
        );
        if anthropic_answer {
            let mut converter = anthropic::FromAnthropicEvents::new();
            return Ok(sse_items(bytes, move |event| {
                match converter.event(event.event.as_deref(), &event.data) {
                    Ok(events) => Some(
                        events
                            .into_iter()
                            .map(|e| Ok(RawJson::from_validated(e)))
                            .collect(),
                    ),
                    Err(message) => Some(vec![Err(error_json(502, "upstream_error", &message))]),
                }
            }));
        }
        Ok(sse_chunks(bytes))
    }

    async fn models(&self) -> Result<RawJson, RawJson> {
        let mut req = self.client.get(format!("{}/models", self.base_url));
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key);
        }
        let response = self.send(req).await?;
        let status = response.status().as_u16();
        let body = self.bounded_body(response).await?;
        if !(200..300).contains(&status) {
            return Err(upstream_error(status, &body));
        }
        RawJson::from_string(String::from_utf8_lossy(&body).into_owned()).map_err(|e| {
            error_json(
                502,
                "upstream_invalid_response",
                &format!("the upstream's model list is not JSON: {e}"),
            )
        })
    }
}

/// The multipart form of a transcription request: the file (decoded from the Bifrost
/// request's base64), `model`, and every parameter (strings as they are, arrays as repeated
/// `key[]` fields, other values as their JSON).
fn transcription_form(request: &ApiRequest) -> Result<reqwest::multipart::Form, crate::adapter::BadRequest> {
    let file = request.client_input_value()?;
    let bytes = scan::string_value(&file)
        .map(|b| decode_base64(&b))
        .transpose()
        .map_err(|e| crate::adapter::BadRequest(format!("`input.file` is not base64: {e}")))?
        .unwrap_or_default();
    let filename = request
        .input_member_str("filename")
        .unwrap_or_else(|| "audio.wav".to_string());
    let mut form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(bytes).file_name(filename))
        .text("model", request.model.clone());
    for (key, value) in request.params() {
        let key =
            scan::string_value(&format!("\"{key}\"")).map_or_else(|| key.to_string(), |k| k.into_owned());
        match JsonKind::of(value) {
            JsonKind::String => {
                form = form.text(key, scan::string_value(value).unwrap_or_default().into_owned())
            }
            JsonKind::Array => {
                for item in scan::Elements::new(value) {
                    let text = scan::string_value(item).map_or_else(|| item.to_string(), |s| s.into_owned());
                    form = form.text(format!("{key}[]"), text);
                }
            }
            JsonKind::Null => {}
            _ => form = form.text(key, value.trim().to_string()),
        }
    }
    if request.stream {
        form = form.text("stream", "true");
    }
    Ok(form)
}

/// A Bifrost error carrying an upstream's own `error` object: its `message`, `type` and
/// `code` strings in place, every other member as the upstream wrote it.
fn with_upstream_error(status: u16, error: &str) -> RawJson {
    let (mut message, mut error_type, mut code) = (None, None, None);
    let mut extra = Vec::new();
    for m in Members::new(error) {
        let key = m.key();
        let text = (JsonKind::of(m.value) == JsonKind::String)
            .then(|| scan::string_value(m.value))
            .flatten();
        match (key.as_ref(), text) {
            ("message", Some(t)) => message = Some(t),
            ("type", Some(t)) => error_type = Some(t),
            ("code", Some(t)) => code = Some(t),
            _ => extra.push((key, m.value)),
        }
    }
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (k.as_ref(), *v)).collect();
    let mut json = ErrorJson::new(message.as_deref().unwrap_or(""))
        .bifrost(false)
        .with_status(i64::from(status));
    json.error_type = error_type.as_deref();
    json.code = code.as_deref();
    let mut out = Vec::with_capacity(error.len() + 64);
    json.write_with(&mut out, &[], &extra);
    RawJson::from_validated(String::from_utf8(out).expect("written from UTF-8 parts"))
}

/// A Bifrost error for an upstream's non-2xx answer; keeps the upstream's own `error` object.
pub fn upstream_error(status: u16, body: &[u8]) -> RawJson {
    let text = String::from_utf8_lossy(body);
    if JsonKind::of(&text) == JsonKind::Object && scan::validate(&text).is_ok() {
        if let Some(error) =
            scan::member(&text, "error", true).filter(|e| JsonKind::of(e) == JsonKind::Object)
        {
            return with_upstream_error(status, error);
        }
    }
    let mut message = text.trim().to_string();
    if message.len() > 2000 {
        let mut end = 2000;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push_str("...");
    }
    if message.is_empty() {
        message = format!("the upstream answered HTTP {status} with an empty body");
    }
    let code = status.to_string();
    ErrorJson::new(&message)
        .with_type("upstream_error")
        .with_code(&code)
        .with_status(i64::from(status))
        .bifrost(false)
        .to_raw()
}

/// Turns an SSE byte stream into chunks: `data: [DONE]` ends it, an event carrying an `error`
/// object becomes the final `Err`, a broken or garbled stream ends with a 502 error.
pub fn sse_chunks(
    bytes: impl futures_util::Stream<Item = Result<Bytes, RawJson>> + Send + 'static,
) -> ChunkStream {
    sse_items(bytes, |event| event_item(&event.data).map(|item| vec![item]))
}

/// One OpenAI-style event's data as a chunk; `None` for `[DONE]`.
fn event_item(data: &str) -> Option<Result<RawJson, RawJson>> {
    if data.trim() == "[DONE]" {
        return None;
    }
    match RawJson::from_string(data.to_string()) {
        Ok(v) if v.is_object() => {
            if let Some(error) = v.get("error").filter(|e| JsonKind::of(e) == JsonKind::Object) {
                let status = v
                    .get("status_code")
                    .and_then(|s| s.parse::<u16>().ok())
                    .filter(|s| (400..=599).contains(s))
                    .unwrap_or(502);
                return Some(Err(with_upstream_error(status, error)));
            }
            Some(Ok(v))
        }
        _ => Some(Err(error_json(
            502,
            "upstream_invalid_stream",
            &format!(
                "the upstream sent a stream event that is not a JSON object: {:.200}",
                data
            ),
        ))),
    }
}

/// Turns an SSE byte stream into items, `convert` deciding per event (`None` ends the
/// stream); an `Err` item ends it, a broken stream ends with its error.
fn sse_items(
    bytes: impl futures_util::Stream<Item = Result<Bytes, RawJson>> + Send + 'static,
    convert: impl FnMut(&SseEvent) -> Option<Vec<Result<RawJson, RawJson>>> + Send + 'static,
) -> ChunkStream {
    struct State<S, F> {
        bytes: S,
        parser: SseParser,
        pending: std::collections::VecDeque<Result<RawJson, RawJson>>,
        done: bool,
        convert: F,
    }
    let state = State {
        bytes: Box::pin(bytes),
        parser: SseParser::new(),
        pending: Default::default(),
        done: false,
        convert,
    };
    stream::unfold(state, |mut st| async move {
        loop {
            if let Some(item) = st.pending.pop_front() {
                if item.is_err() {
                    st.done = true;
                    st.pending.clear();
                }
                return Some((item, st));
            }
            if st.done {
                return None;
            }
            let events = match st.bytes.next().await {
                Some(Ok(b)) => {
                    let events = st.parser.feed(&b);
                    if st.parser.pending_bytes() > MAX_UPSTREAM_RESPONSE_BYTES {
                        st.done = true;
                        let message = format!(
                            "the upstream sent a stream event larger than {MAX_UPSTREAM_RESPONSE_BYTES} bytes"
                        );
                        return Some((Err(error_json(502, "upstream_response_too_large", &message)), st));
                    }
                    events
                }
                Some(Err(error)) => {
                    st.done = true;
                    return Some((Err(error), st));
                }
                None => {
                    st.done = true;
                    st.parser.finish()
                }
            };
            for event in events {
                match (st.convert)(&event) {
                    None => {
                        st.done = true;
                        break;
                    }
                    Some(items) => st.pending.extend(items),
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_error_keeps_the_upstream_error_object() {
        let e = upstream_error(401, br#"{"error":{"message":"bad key","type":"invalid_request_error","code":"invalid_api_key","param":null}}"#);
        assert!(
            bifrost_wasm_chain::json_equal(
                e.as_str(),
                r#"{"is_bifrost_error":false,"status_code":401,"error":{"message":"bad key","type":"invalid_request_error","code":"invalid_api_key","param":null}}"#
            ),
            "{e}"
        );
        let e = upstream_error(503, b"Service Unavailable");
        assert_eq!(e.get_path(&["error", "message"]), Some("\"Service Unavailable\""));
    }

    const RECORDED: &[u8] = b"data: {\"id\":\"a\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"caf\xC3\xA9\"}}]}\r\n\r\n: ping\n\ndata: {\"id\":\"a\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" \xF0\x9F\x9A\x80\"}}],\"n\":123456789012345678901234567890}\n\ndata: [DONE]\n\ndata: {\"after\":\"done\"}\n\n";

    async fn collect(parts: Vec<Vec<u8>>) -> Vec<Result<RawJson, RawJson>> {
        let s = stream::iter(parts.into_iter().map(|p| Ok(Bytes::from(p))));
        sse_chunks(s).collect().await
    }

    #[tokio::test]
    async fn upstream_stream_split_at_every_byte_offset_yields_the_same_chunks() {
        let whole = collect(vec![RECORDED.to_vec()]).await;
        assert_eq!(whole.len(), 2);
        assert!(whole[1]
            .as_ref()
            .unwrap()
            .as_str()
            .contains("123456789012345678901234567890"));
        assert!(whole[0].as_ref().unwrap().as_str().contains("caf\u{e9}"));
        for cut in 0..=RECORDED.len() {
            let parts = vec![RECORDED[..cut].to_vec(), RECORDED[cut..].to_vec()];
            assert_eq!(collect(parts).await, whole, "split at {cut}");
        }
        let bytes: Vec<Vec<u8>> = RECORDED.iter().map(|b| vec![*b]).collect();
        assert_eq!(collect(bytes).await, whole);
    }

    #[tokio::test]
    async fn upstream_error_event_and_broken_stream_end_with_an_error() {
        let out = collect(vec![
            b"data: {\"error\":{\"message\":\"overloaded\"}}\n\ndata: {\"x\":1}\n\n".to_vec(),
        ])
        .await;
        assert_eq!(out.len(), 1);
        assert!(out[0].as_ref().unwrap_err().as_str().contains("overloaded"));
        let s = stream::iter(vec![
            Ok(Bytes::from_static(b"data: {\"a\":1}\n\n")),
            Err(error_json(502, "upstream_stream_broken", "connection reset")),
        ]);
        let out: Vec<_> = sse_chunks(s).collect().await;
        assert_eq!(out.len(), 2);
        assert!(out[1].as_ref().unwrap_err().as_str().contains("connection reset"));
        let out = collect(vec![b"data: not json\n\n".to_vec()]).await;
        assert!(out[0]
            .as_ref()
            .unwrap_err()
            .as_str()
            .contains("not a JSON object"));
    }
}
