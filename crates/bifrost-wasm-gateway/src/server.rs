//! HTTP handlers: one request's way through the plugin chain and the provider.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use bifrost_wasm_chain::{
    Chain, ChunkOutcome, HttpAnswer, HttpPreOutcome, LlmResult, PreOutcome, RequestRun,
};
use bifrost_wasm_host::Hook;
use bifrost_wasm_types::http::{decode_base64, encode_base64};
use bifrost_wasm_types::raw::{JsonKind, RawJson};
use bifrost_wasm_types::shape::{wrap_chat_request, wrap_chat_response, LlmRequest};
use bytes::Bytes;
use futures_util::StreamExt;

use crate::openai::{error_body, error_status, response_to_chunks, ChatRequest};
use crate::provider::Provider;

/// Log target of the per-request line.
pub const REQUEST_LOG_TARGET: &str = "bifrost_wasm_gateway::request";

/// Shared by all handlers.
pub(crate) struct AppState {
    chain: Arc<Chain>,
    pub(crate) provider: Provider,
    max_body: usize,
    /// Run chain steps on the blocking pool (WASI plugins).
    blocking: bool,
    /// Whether any plugin has an HTTP-level hook (else the HTTP request JSON is not built).
    http_hooks: bool,
    http_post_hooks: bool,
    id_prefix: String,
    counter: AtomicU64,
    /// One async lock per plugin that has a single shared instance: a chain step waits for
    /// them here, yielding its worker thread to other requests, instead of blocking the thread
    /// on the instance's own mutex.
    turns: Vec<tokio::sync::Mutex<()>>,
}

impl AppState {
    pub(crate) fn new(
        chain: Arc<Chain>,
        provider: Provider,
        max_body: usize,
        blocking: bool,
        shared_instances: usize,
    ) -> Self {
        let any = |hook: Hook| chain.any_implements(hook);
        let http_hooks = any(Hook::HttpPreHook) || any(Hook::HttpPostHook) || any(Hook::HttpStreamChunkHook);
        let http_post_hooks = any(Hook::HttpPostHook);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        AppState {
            chain,
            provider,
            max_body,
            blocking,
            http_hooks,
            http_post_hooks,
            id_prefix: format!("{:x}", nanos ^ u64::from(std::process::id())),
            counter: AtomicU64::new(0),
            turns: (0..shared_instances)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        }
    }

    fn request_id(&self, headers: &HeaderMap) -> String {
        if let Some(id) = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 200)
        {
            return id.to_string();
        }
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("req-{}-{n}", self.id_prefix)
    }

    /// Runs one synchronous chain step, off the async worker when a plugin needs that.
    async fn step<T, F>(&self, mut run: RequestRun, f: F) -> (RequestRun, T)
    where
        T: Send + 'static,
        F: FnOnce(&mut RequestRun) -> T + Send + 'static,
    {
        // Always taken in the same order, so two steps never wait for each other crosswise.
        let mut turns = Vec::with_capacity(self.turns.len());
        for turn in &self.turns {
            turns.push(turn.lock().await);
        }
        if !self.blocking {
            let out = f(&mut run);
            return (run, out);
        }
        let done = tokio::task::spawn_blocking(move || {
            let out = f(&mut run);
            (run, out)
        })
        .await
        .expect("chain steps do not panic");
        drop(turns);
        done
    }
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/chat/completions", post(chat_completions))
        .route("/v1/models", get(models))
        .route("/models", get(models))
        .route("/health", get(health))
        .route("/healthz", get(health))
        .fallback(not_found)
        .with_state(state)
}

/// What the client finally gets, before `http_post_hook`.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn json(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Answer {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
        }
    }

    fn error(status: u16, error_type: &str, message: &str) -> Self {
        Answer::json(status, error_body(status, error_type, message))
    }

    fn from_http(answer: HttpAnswer) -> Self {
        Answer {
            status: answer.status,
            headers: answer.headers,
            body: answer.body,
        }
    }

    fn from_result(result: &LlmResult) -> Self {
        match result {
            LlmResult::Response(_) => match result.chat_response() {
                Some(chat) => Answer::json(200, chat.into_string()),
                None => Answer::error(
                    502,
                    "invalid_plugin_response",
                    "the response after the plugins holds no chat completion",
                ),
            },
            LlmResult::Error(e) => Answer::json(error_status(e), e.as_str().as_bytes().to_vec()),
        }
    }

    fn into_response(self, request_id: &str) -> Response {
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        for (k, v) in self.headers {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
                if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
                    continue;
                }
                headers.append(name, value);
            }
        }
        if let Ok(v) = HeaderValue::try_from(request_id) {
            headers.insert("x-request-id", v);
        }
        response
    }
}

/// Go's canonical header key (`content-type` → `Content-Type`), which is how Bifrost's HTTP
/// server shows header names to plugins.
fn canonical_header(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

fn write_string_map<'a>(out: &mut String, pairs: impl Iterator<Item = (String, &'a str)>) {
    // Repeated keys are joined with ", " (as HTTP does for repeated headers).
    let mut merged: Vec<(String, String)> = Vec::new();
    for (k, v) in pairs {
        match merged.iter_mut().find(|(mk, _)| *mk == k) {
            Some((_, mv)) => {
                mv.push_str(", ");
                mv.push_str(v);
            }
            None => merged.push((k, v.to_string())),
        }
    }
    out.push('{');
    for (i, (k, v)) in merged.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&json_string(k));
        out.push(':');
        out.push_str(&json_string(v));
    }
    out.push('}');
}

/// The HTTP request as plugins see it: `{"method","path","headers","query","body"}`.
fn http_request_json(
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> RawJson {
    let mut out = String::with_capacity(body.len() * 4 / 3 + 512);
    out.push_str("{\"method\":");
    out.push_str(&json_string(method.as_str()));
    out.push_str(",\"path\":");
    out.push_str(&json_string(path));
    out.push_str(",\"headers\":");
    write_string_map(
        &mut out,
        headers
            .iter()
            .filter_map(|(k, v)| Some((canonical_header(k.as_str()), v.to_str().ok()?))),
    );
    out.push_str(",\"query\":");
    let pairs: Vec<(String, String)> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect();
    write_string_map(&mut out, pairs.iter().map(|(k, v)| (k.clone(), v.as_str())));
    out.push_str(",\"body\":");
    out.push_str(&json_string(&encode_base64(body)));
    out.push('}');
    RawJson::from_string(out).expect("built from escaped parts")
}

/// The HTTP response as `http_post_hook` sees it: `{"status_code","headers","body"}`.
fn http_response_json(answer: &Answer) -> RawJson {
    let mut out = String::with_capacity(answer.body.len() * 4 / 3 + 128);
    out.push_str("{\"status_code\":");
    out.push_str(&answer.status.to_string());
    out.push_str(",\"headers\":");
    write_string_map(
        &mut out,
        answer
            .headers
            .iter()
            .map(|(k, v)| (canonical_header(k), v.as_str())),
    );
    out.push_str(",\"body\":");
    out.push_str(&json_string(&encode_base64(&answer.body)));
    out.push('}');
    RawJson::from_string(out).expect("built from escaped parts")
}

/// One request in flight: what the log line needs.
struct Ctx {
    state: Arc<AppState>,
    started: Instant,
    method: Method,
    path: String,
    request_id: String,
}

impl Ctx {
    /// The context of a request that has just arrived.
    fn new(state: &Arc<AppState>, method: &Method, uri: &axum::http::Uri, headers: &HeaderMap) -> Ctx {
        Ctx {
            request_id: state.request_id(headers),
            state: state.clone(),
            started: Instant::now(),
            method: method.clone(),
            path: uri.path().to_string(),
        }
    }

    fn log(&self, status: u16, note: &str, run: Option<&RequestRun>) {
        if !tracing::enabled!(target: REQUEST_LOG_TARGET, tracing::Level::INFO) {
            return;
        }
        let summary = run.map(RequestRun::summary).unwrap_or_default();
        tracing::info!(
            target: REQUEST_LOG_TARGET,
            request_id = %self.request_id,
            "{} {} {}{} {:?} id={}{}{}",
            self.method,
            self.path,
            status,
            note,
            self.started.elapsed(),
            self.request_id,
            if summary.is_empty() { "" } else { " plugins: " },
            summary
        );
    }

    /// Runs `http_post_hook` (non-streaming answers), logs, and builds the response.
    async fn finish(&self, run: Option<RequestRun>, answer: Answer) -> Response {
        let (run, answer) = match run {
            Some(run) if self.state.http_post_hooks => {
                let response = http_response_json(&answer);
                let (run, replaced) = self
                    .state
                    .step(run, move |run| run.http_post_hook(&response))
                    .await;
                (Some(run), replaced.map(Answer::from_http).unwrap_or(answer))
            }
            other => (other, answer),
        };
        self.log(answer.status, "", run.as_ref());
        answer.into_response(&self.request_id)
    }
}

async fn read_body(ctx: &Ctx, body: Body) -> Result<Bytes, Response> {
    match axum::body::to_bytes(body, ctx.state.max_body).await {
        Ok(bytes) => Ok(bytes),
        Err(e) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.to_string().contains("length limit"))
                || e.to_string().contains("length limit");
            let answer = if too_large {
                Answer::error(
                    413,
                    "request_too_large",
                    &format!(
                        "the request body is larger than the gateway's limit of {} bytes; raise gateway.limits.max_body_bytes",
                        ctx.state.max_body
                    ),
                )
            } else {
                Answer::error(
                    400,
                    "invalid_request_error",
                    &format!("cannot read the request body: {e}"),
                )
            };
            Err(ctx.finish(None, answer).await)
        }
    }
}

/// Runs the `http_pre_hook` chain; `Err` is the finished response of a short-circuit.
async fn http_pre(
    ctx: &Ctx,
    run: RequestRun,
    parts: &axum::http::request::Parts,
    body: Bytes,
) -> Result<(RequestRun, Bytes), Response> {
    if !ctx.state.http_hooks {
        return Ok((run, body));
    }
    let request = http_request_json(
        &parts.method,
        parts.uri.path(),
        parts.uri.query(),
        &parts.headers,
        &body,
    );
    let sent = request.clone();
    let (run, outcome) = ctx.state.step(run, move |run| run.http_pre_hook(request)).await;
    match outcome {
        HttpPreOutcome::Respond(answer) => Err(ctx.finish(Some(run), Answer::from_http(answer)).await),
        HttpPreOutcome::Continue(request) if request.as_str() == sent.as_str() => Ok((run, body)),
        HttpPreOutcome::Continue(request) => {
            // A plugin rewrote the request: the body the gateway reads is the new one.
            let new_body = request
                .get("body")
                .filter(|b| JsonKind::of(b) == JsonKind::String)
                .and_then(|b| serde_json::from_str::<String>(b).ok())
                .map(|b| decode_base64(&b));
            match new_body {
                None => Ok((run, body)),
                Some(Ok(bytes)) => Ok((run, Bytes::from(bytes))),
                Some(Err(e)) => Err(ctx
                    .finish(
                        Some(run),
                        Answer::error(
                            500,
                            "plugin_error",
                            &format!(
                                "an http_pre_hook returned a request whose body is not valid base64: {e}"
                            ),
                        ),
                    )
                    .await),
            }
        }
    }
}

/// What every routed request does first: read the body, start the plugin run with the context
/// Bifrost seeds, and run the HTTP pre-hooks (which may answer, or replace the body).
async fn begin(state: &Arc<AppState>, request: Request) -> Result<(Ctx, RequestRun, Bytes), Response> {
    let (parts, body) = request.into_parts();
    let ctx = Ctx::new(state, &parts.method, &parts.uri, &parts.headers);
    let body = read_body(&ctx, body).await?;
    let mut run = RequestRun::new(state.chain.clone(), &ctx.request_id);
    seed_context_from_headers(&mut run, &parts.headers);
    let (run, body) = http_pre(&ctx, run, &parts, body).await?;
    Ok((ctx, run, body))
}

async fn chat_completions(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (ctx, run, body) = match begin(&state, request).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    let request = match ChatRequest::parse(&body, state.provider.name()) {
        Ok(r) => r,
        Err(e) => {
            return ctx
                .finish(Some(run), Answer::error(400, "invalid_request_error", &e.0))
                .await
        }
    };
    let stream = request.stream;
    let shape = state.chain.shape();
    let (run, result) = if state.chain.is_empty() {
        (run, call_provider(&ctx, Ok(request)).await)
    } else {
        let shaped = RawJson::from_string(wrap_chat_request(&request.to_bifrost(), shape, stream))
            .expect("built from raw parts");
        let (run, outcome) = state.step(run, move |run| run.pre_hook(shaped)).await;
        let result = match outcome {
            PreOutcome::ShortCircuit(result) => ProviderResult::Done(result),
            PreOutcome::Continue(request) => {
                let parsed = LlmRequest::new(request)
                    .inner()
                    .ok_or_else(|| "the request after the pre-hooks is not a chat request object".to_string())
                    .and_then(|inner| ChatRequest::from_bifrost(inner, stream).map_err(|e| e.0));
                call_provider(&ctx, parsed).await
            }
        };
        (run, result)
    };
    respond(ctx, run, result, stream).await
}

enum ProviderResult {
    Done(LlmResult),
    Stream(crate::provider::ChunkStream),
}

async fn call_provider(ctx: &Ctx, request: Result<ChatRequest, String>) -> ProviderResult {
    let request = match request {
        Ok(r) => r,
        Err(message) => {
            return ProviderResult::Done(LlmResult::Error(
                RawJson::from_string(error_body(
                    500,
                    "invalid_plugin_request",
                    &format!("the plugins left a request the gateway cannot send: {message}"),
                ))
                .expect("valid"),
            ))
        }
    };
    let shape = ctx.state.chain.shape();
    if request.stream {
        match ctx.state.provider.stream(&request, &ctx.request_id).await {
            Ok(s) => ProviderResult::Stream(s),
            Err(e) => ProviderResult::Done(LlmResult::Error(e)),
        }
    } else {
        match ctx.state.provider.complete(&request, &ctx.request_id).await {
            Ok(chat) => ProviderResult::Done(LlmResult::Response(
                RawJson::from_string(wrap_chat_response(chat.as_str(), shape)).expect("valid"),
            )),
            Err(e) => ProviderResult::Done(LlmResult::Error(e)),
        }
    }
}

async fn respond(ctx: Ctx, run: RequestRun, result: ProviderResult, stream: bool) -> Response {
    match result {
        ProviderResult::Done(result) => {
            let (run, result) = if ctx.state.chain.is_empty() {
                (run, result)
            } else {
                ctx.state.step(run, move |run| run.post_hook(result)).await
            };
            match (&result, stream) {
                (LlmResult::Response(_), true) => {
                    // A short-circuit (or recovery) answering a stream: send it as one chunk.
                    let chunks = match result.chat_response() {
                        Some(chat) => response_to_chunks(&chat),
                        None => Vec::new(),
                    };
                    stream_response(
                        ctx,
                        run,
                        futures_util::stream::iter(chunks.into_iter().map(Ok)).boxed(),
                        false,
                    )
                }
                _ => {
                    let answer = Answer::from_result(&result);
                    ctx.finish(Some(run), answer).await
                }
            }
        }
        ProviderResult::Stream(chunks) => stream_response(ctx, run, chunks, true),
    }
}

fn sse_data(json: &str) -> Bytes {
    let mut out = String::with_capacity(json.len() + 8);
    out.push_str("data: ");
    out.push_str(json);
    out.push_str("\n\n");
    Bytes::from(out)
}

/// Streams chunks to the client: per chunk `post_hook` (when `post_hooks`, i.e. the chunks come
/// from the provider) and `http_stream_chunk_hook`, then `data: [DONE]` — or a final error event.
fn stream_response(
    ctx: Ctx,
    run: RequestRun,
    mut chunks: crate::provider::ChunkStream,
    post_hooks: bool,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(32);
    let request_id = ctx.request_id.clone();
    tokio::spawn(async move {
        let state = ctx.state.clone();
        let shape = state.chain.shape();
        let has_plugins = !state.chain.is_empty();
        let mut run = run;
        let mut note = String::new();
        let mut sent = 0u64;
        let mut client_gone = false;
        while let Some(item) = chunks.next().await {
            let outcome = if !has_plugins {
                match item {
                    Ok(c) => ChunkOutcome::Send(c),
                    Err(e) => ChunkOutcome::End(e),
                }
            } else {
                let (r, outcome) = state
                    .step(run, move |run| {
                        let result = match item {
                            Ok(chunk) if post_hooks => {
                                let wrapped = RawJson::from_string(wrap_chat_response(chunk.as_str(), shape))
                                    .expect("valid");
                                run.post_hook(LlmResult::Response(wrapped))
                            }
                            Ok(chunk) => return run.stream_chunk(chunk),
                            Err(e) if post_hooks => run.post_hook(LlmResult::Error(e)),
                            Err(e) => LlmResult::Error(e),
                        };
                        match result {
                            LlmResult::Response(_) => match result.chat_response() {
                                Some(chunk) => run.stream_chunk(chunk),
                                None => ChunkOutcome::Skip,
                            },
                            LlmResult::Error(e) => ChunkOutcome::End(e),
                        }
                    })
                    .await;
                run = r;
                outcome
            };
            match outcome {
                ChunkOutcome::Send(chunk) => {
                    sent += 1;
                    if tx.send(sse_data(chunk.as_str())).await.is_err() {
                        client_gone = true;
                        break;
                    }
                }
                ChunkOutcome::Skip => {}
                ChunkOutcome::End(error) => {
                    let message = error
                        .get_path(&["error", "message"])
                        .and_then(|m| serde_json::from_str::<String>(m).ok())
                        .unwrap_or_default();
                    note = format!(" (stream ended with error: {message})");
                    let _ = tx.send(sse_data(error.as_str())).await;
                    break;
                }
            }
        }
        if note.is_empty() && !client_gone {
            let _ = tx.send(Bytes::from_static(b"data: [DONE]\n\n")).await;
        }
        if client_gone {
            note = format!(" (client disconnected after {sent} chunk(s))");
        }
        drop(tx);
        ctx.log(200, &note, Some(&run));
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    }));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::try_from(request_id) {
        headers.insert("x-request-id", v);
    }
    response
}

async fn models(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (ctx, run, _) = match begin(&state, request).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    let answer = match state.provider.models().await {
        Ok(list) => Answer::json(200, list.into_string()),
        Err(e) => Answer::json(error_status(&e), e.into_string()),
    };
    ctx.finish(Some(run), answer).await
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    let plugins: Vec<String> = state
        .chain
        .plugins()
        .iter()
        .map(|p| json_string(&p.name))
        .collect();
    let body = format!(
        "{{\"status\":\"ok\",\"provider\":{},\"plugins\":[{}]}}",
        json_string(state.provider.name()),
        plugins.join(",")
    );
    Answer::json(200, body).into_response("health")
}

async fn not_found(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let ctx = Ctx::new(&state, request.method(), request.uri(), request.headers());
    ctx.finish(
        None,
        Answer::error(
            404,
            "not_found",
            &format!(
                "no route for {} {}; the gateway serves POST /v1/chat/completions, GET /v1/models and GET /health",
                ctx.method, ctx.path
            ),
        ),
    )
    .await
}

/// Request headers Bifrost copies into the context, where plugins read them (a rate limiter or
/// cache keyed by virtual key reads `x-bf-vk`).
const CONTEXT_HEADERS: [&str; 1] = ["x-bf-vk"];

/// Seeds the context with the [`CONTEXT_HEADERS`] the client sent, as Bifrost does.
fn seed_context_from_headers(run: &mut RequestRun, headers: &HeaderMap) {
    for name in CONTEXT_HEADERS {
        let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        if let Ok(raw) = bifrost_wasm_types::RawJson::from_serialize(value) {
            run.set_context(name, raw);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_take_gos_canonical_form() {
        assert_eq!(canonical_header("content-type"), "Content-Type");
        assert_eq!(canonical_header("x-request-id"), "X-Request-Id");
        assert_eq!(canonical_header("AUTHORIZATION"), "Authorization");
    }

    #[test]
    fn http_request_json_has_base64_body_and_decoded_query() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.append("x-tag", HeaderValue::from_static("a"));
        headers.append("x-tag", HeaderValue::from_static("b"));
        let json = http_request_json(
            &Method::POST,
            "/v1/chat/completions",
            Some("a=1&b=x%20y+z&flag"),
            &headers,
            b"{}",
        );
        assert_eq!(
            json.as_str(),
            r#"{"method":"POST","path":"/v1/chat/completions","headers":{"Content-Type":"application/json","X-Tag":"a, b"},"query":{"a":"1","b":"x y z","flag":""},"body":"e30="}"#
        );
    }

    #[test]
    fn percent_decoding_keeps_invalid_escapes() {
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("%e2%82%ac"), "\u{20ac}");
    }
}
