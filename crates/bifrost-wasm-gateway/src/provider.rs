//! LLM providers: the embedded deterministic mock and an OpenAI-compatible upstream.
//!
//! Both answer with raw JSON: a chat completion (or a stream of chunks) on success, a Bifrost
//! error JSON (`{"error": {...}, "status_code": N}`) on failure, which the gateway runs through
//! the plugins' `post_hook` like any other result.

use std::time::{SystemTime, UNIX_EPOCH};

use bifrost_wasm_types::error::ErrorJson;
use bifrost_wasm_types::raw::{JsonKind, RawJson};
use bifrost_wasm_types::scan::{self, Elements, Members};
use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use serde_json::json;

use crate::adapter::{error_body, ChatRequest};
use crate::config::{ProviderConfig, UpstreamTimeouts};
use crate::sse::SseParser;

/// A stream of chunks (raw chat completion chunk objects) or one final error.
pub type ChunkStream = BoxStream<'static, Result<RawJson, RawJson>>;

/// The configured provider.
#[derive(Debug, Clone)]
pub enum Provider {
    /// The embedded mock.
    Mock(MockProvider),
    /// An OpenAI-compatible HTTP API.
    Upstream(UpstreamProvider),
}

fn raw(text: String) -> RawJson {
    RawJson::from_validated(text)
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
                ..
            } => UpstreamProvider::new(
                name,
                base_url,
                api_key_env,
                config.upstream_timeouts().unwrap_or_default(),
            )
            .map(Provider::Upstream),
        }
    }

    /// The provider name used for `model` values without a `provider/` prefix.
    pub fn name(&self) -> &str {
        match self {
            Provider::Mock(m) => &m.name,
            Provider::Upstream(u) => &u.name,
        }
    }

    /// One non-streaming completion.
    pub async fn complete(&self, request: &ChatRequest, request_id: &str) -> Result<RawJson, RawJson> {
        match self {
            Provider::Mock(m) => m.complete(request, request_id),
            Provider::Upstream(u) => u.complete(request).await,
        }
    }

    /// A streaming completion. `Err` when the provider refuses before the first chunk.
    pub async fn stream(&self, request: &ChatRequest, request_id: &str) -> Result<ChunkStream, RawJson> {
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

/// The embedded mock: no network, no key, the same answer for the same messages.
///
/// It echoes the text of the last user message, streams it word by word, and reports usage
/// (words counted as tokens). A model named `mock-error-NNN` answers with an HTTP `NNN` error,
/// for trying out error handling.
#[derive(Debug, Clone)]
pub struct MockProvider {
    name: String,
}

/// Models the mock lists.
pub const MOCK_MODELS: &[&str] = &["mock-echo", "mock-model"];

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Text of a message content: a string, or the `text` of its text blocks joined by spaces.
fn content_text(content: &str) -> String {
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

impl MockProvider {
    /// `(role, text)` of each message (the request was validated when it was parsed).
    fn messages(request: &ChatRequest) -> Vec<(String, String)> {
        Elements::new(request.messages())
            .filter(|m| JsonKind::of(m) == JsonKind::Object)
            .map(|m| {
                let role = scan::member(m, "role", true)
                    .and_then(scan::string_value)
                    .map(|r| r.into_owned())
                    .unwrap_or_default();
                let content = scan::member(m, "content", true)
                    .map(content_text)
                    .unwrap_or_default();
                (role, content)
            })
            .collect()
    }

    fn answer(request: &ChatRequest) -> Result<(String, u64), RawJson> {
        if let Some(code) = request.model.strip_prefix("mock-error-") {
            let status = code
                .parse::<u16>()
                .ok()
                .filter(|s| (400..=599).contains(s))
                .unwrap_or(500);
            return Err(error_json(
                status,
                "mock_error",
                &format!(
                    "the mock provider was asked for a {status} error by model `{}`",
                    request.model
                ),
            ));
        }
        let messages = Self::messages(request);
        let reply = messages
            .iter()
            .rev()
            .find(|(role, _)| role == "user")
            .map(|(_, text)| text.clone())
            .unwrap_or_default();
        let prompt_tokens = messages
            .iter()
            .map(|(_, t)| t.split_whitespace().count() as u64)
            .sum();
        Ok((reply, prompt_tokens))
    }

    fn id(request_id: &str) -> String {
        format!("chatcmpl-mock-{request_id}")
    }

    fn complete(&self, request: &ChatRequest, request_id: &str) -> Result<RawJson, RawJson> {
        let (reply, prompt_tokens) = Self::answer(request)?;
        let completion_tokens = reply.split_whitespace().count() as u64;
        let body = json!({
            "id": Self::id(request_id),
            "object": "chat.completion",
            "created": now_secs(),
            "model": request.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": reply},
                "finish_reason": "stop",
            }],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        });
        Ok(raw(body.to_string()))
    }

    fn stream(&self, request: &ChatRequest, request_id: &str) -> Result<ChunkStream, RawJson> {
        let (reply, prompt_tokens) = Self::answer(request)?;
        let id = Self::id(request_id);
        let created = now_secs();
        let chunk = |delta: serde_json::Value, finish: Option<&str>, usage: Option<serde_json::Value>| {
            let mut c = json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": request.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            });
            if let Some(u) = usage {
                c["usage"] = u;
            }
            Ok(raw(c.to_string()))
        };
        let words: Vec<&str> = reply.split_whitespace().collect();
        let mut chunks = vec![chunk(json!({"role": "assistant", "content": ""}), None, None)];
        for (i, word) in words.iter().enumerate() {
            let text = if i == 0 {
                word.to_string()
            } else {
                format!(" {word}")
            };
            chunks.push(chunk(json!({"content": text}), None, None));
        }
        let completion_tokens = words.len() as u64;
        chunks.push(chunk(
            json!({}),
            Some("stop"),
            Some(json!({
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            })),
        ));
        Ok(stream::iter(chunks).boxed())
    }

    fn models(&self) -> RawJson {
        let data: Vec<_> = MOCK_MODELS
            .iter()
            .map(|m| json!({"id": format!("{}/{m}", self.name), "object": "model", "created": 0, "owned_by": self.name}))
            .collect();
        raw(json!({"object": "list", "data": data}).to_string())
    }
}

/// Largest upstream answer the gateway reads (a non-streaming body, or one stream event):
/// larger ones end with a 502 instead of holding their size in memory.
pub const MAX_UPSTREAM_RESPONSE_BYTES: usize = 64 << 20;

/// Forwards to an OpenAI-compatible API (`{base_url}/chat/completions`, `{base_url}/models`).
#[derive(Debug, Clone)]
pub struct UpstreamProvider {
    name: String,
    base_url: String,
    api_key: Option<String>,
    client: reqwest::Client,
    timeouts: UpstreamTimeouts,
}

impl UpstreamProvider {
    /// A forwarder; the key is read from `api_key_env` now (unset: no `Authorization`).
    pub fn new(
        name: &str,
        base_url: &str,
        api_key_env: &str,
        timeouts: UpstreamTimeouts,
    ) -> Result<Self, String> {
        let base_url = base_url.trim_end_matches('/').to_string();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(format!(
                "upstream base_url `{base_url}` must start with http:// or https:// (e.g. https://api.openai.com/v1)"
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(timeouts.total)
            .connect_timeout(timeouts.connect)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(UpstreamProvider {
            name: name.to_string(),
            base_url,
            api_key: std::env::var(api_key_env).ok().filter(|k| !k.is_empty()),
            client,
            timeouts,
        })
    }

    fn post(&self, body: String) -> reqwest::RequestBuilder {
        let mut req = self
            .client
            .post(format!("{}/chat/completions", self.base_url))
            .header("content-type", "application/json")
            .body(body);
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key);
        }
        req
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

    async fn complete(&self, request: &ChatRequest) -> Result<RawJson, RawJson> {
        let response = self.send(self.post(request.to_openai())).await?;
        let status = response.status().as_u16();
        let body = self.bounded_body(response).await?;
        if !(200..300).contains(&status) {
            return Err(upstream_error(status, &body));
        }
        let text = String::from_utf8(body.to_vec()).map_err(|_| {
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

    async fn stream(&self, request: &ChatRequest) -> Result<ChunkStream, RawJson> {
        let response = self
            .send(
                self.post(request.to_openai())
                    .header("accept", "text/event-stream"),
            )
            .await?;
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
    raw(String::from_utf8(out).expect("written from UTF-8 parts"))
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
    struct State<S> {
        bytes: S,
        parser: SseParser,
        pending: std::collections::VecDeque<Result<RawJson, RawJson>>,
        done: bool,
    }
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
    let state = State {
        bytes: Box::pin(bytes),
        parser: SseParser::new(),
        pending: Default::default(),
        done: false,
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
                match event_item(&event.data) {
                    None => {
                        st.done = true;
                        break;
                    }
                    Some(item) => st.pending.push_back(item),
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(model: &str, messages: &str) -> ChatRequest {
        ChatRequest::parse(
            format!(r#"{{"model":"{model}","messages":{messages}}}"#).as_bytes(),
            "mock",
        )
        .unwrap()
    }

    #[test]
    fn mock_echoes_the_last_user_message_with_usage() {
        let mock = MockProvider { name: "mock".into() };
        let req = request(
            "mock-echo",
            r#"[{"role":"system","content":"be brief"},{"role":"user","content":"first"},{"role":"assistant","content":"x"},{"role":"user","content":[{"type":"text","text":"hello"},{"type":"text","text":"there world"}]}]"#,
        );
        let out = mock.complete(&req, "r1").unwrap().to_value().unwrap();
        assert_eq!(out["choices"][0]["message"]["content"], "hello there world");
        assert_eq!(out["id"], "chatcmpl-mock-r1");
        assert_eq!(out["usage"]["prompt_tokens"], 7);
        assert_eq!(out["usage"]["completion_tokens"], 3);
        assert_eq!(out["usage"]["total_tokens"], 10);
    }

    #[tokio::test]
    async fn mock_streams_word_by_word_and_the_words_rebuild_the_reply() {
        let mock = MockProvider { name: "mock".into() };
        let req = request("mock-echo", r#"[{"role":"user","content":"one two  three"}]"#);
        let chunks: Vec<_> = mock.stream(&req, "r").unwrap().collect().await;
        assert_eq!(chunks.len(), 5);
        let mut text = String::new();
        for c in &chunks {
            let v = c.as_ref().unwrap().to_value().unwrap();
            text.push_str(v["choices"][0]["delta"]["content"].as_str().unwrap_or(""));
        }
        assert_eq!(text, "one two three");
        let last = chunks.last().unwrap().as_ref().unwrap().to_value().unwrap();
        assert_eq!(last["choices"][0]["finish_reason"], "stop");
        assert_eq!(last["usage"]["completion_tokens"], 3);
    }

    #[test]
    fn mock_error_models_answer_with_their_status() {
        let mock = MockProvider { name: "mock".into() };
        let err = mock.complete(&request("mock-error-503", "[]"), "r").unwrap_err();
        assert_eq!(err.get("status_code"), Some("503"));
    }

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
