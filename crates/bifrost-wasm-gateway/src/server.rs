//! HTTP handlers: one request's way through the plugin chain and the provider.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use bifrost_wasm_chain::{
    ChunkHooks, ChunkOutcome, Hook, HookOutcome, HttpAnswer, HttpPostHooks, HttpPreHooks, HttpPreOutcome,
    LlmResult, PostHooks, PreHooks, PreOutcome, RequestRun,
};
use bifrost_wasm_types::http::decode_base64;
use bifrost_wasm_types::raw::{JsonKind, RawJson};
use bifrost_wasm_types::scan;
use bytes::Bytes;
use futures_util::StreamExt;

use bifrost_wasm_types::http::decode_base64 as decode_audio;
use bifrost_wasm_types::shape::RequestKind;

use crate::adapter::{self, answer_body, error_body, error_status, response_to_chunks, Api, ApiRequest};
use crate::anthropic;
use crate::http_json::{http_request_json, http_response_json};
use crate::metrics::Metrics;
use crate::multipart;
use crate::provider::{ChunkStream, Completed, Provider};
use crate::reload::{Current, Live};

/// Log target of the per-request line.
pub const REQUEST_LOG_TARGET: &str = "bifrost_wasm_gateway::request";

/// Shared by all handlers.
pub(crate) struct AppState {
    /// The chain requests run on; a request takes it once, when it arrives.
    pub(crate) current: Arc<Current>,
    pub(crate) provider: Provider,
    max_body: usize,
    id_prefix: String,
    counter: AtomicU64,
    pub(crate) metrics: Arc<Metrics>,
    /// One permit per request the gateway handles at once.
    admission: Arc<tokio::sync::Semaphore>,
    max_concurrent: usize,
    /// Gateway keys; empty: no key needed.
    keys: Vec<String>,
}

impl AppState {
    pub(crate) fn new(
        current: Arc<Current>,
        provider: Provider,
        max_body: usize,
        metrics: Arc<Metrics>,
        max_concurrent: usize,
        keys: Vec<String>,
    ) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        AppState {
            current,
            provider,
            max_body,
            id_prefix: format!("{:x}", nanos ^ u64::from(std::process::id())),
            counter: AtomicU64::new(0),
            metrics,
            admission: Arc::new(tokio::sync::Semaphore::new(max_concurrent.max(1))),
            max_concurrent: max_concurrent.max(1),
            keys,
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
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    // Requests the admission limit applies to; /health and /metrics stay answerable when full.
    let mut admitted = Router::new();
    for (path, api) in API_ROUTES {
        admitted = admitted.route(
            path,
            post(move |State(state): State<Arc<AppState>>, request: Request| serve_api(api, state, request)),
        );
    }
    let admitted = admitted
        .route("/v1/models", get(models))
        .route("/models", get(models))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), admit));
    let keyed = Router::new()
        .route("/metrics", get(metrics_page))
        .merge(admitted)
        .layer(axum::middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .route("/health", get(health))
        .route("/healthz", get(health))
        .merge(keyed)
        .with_state(state)
}

/// The key a request presents: `Authorization: Bearer <key>` or `x-bf-vk: <key>`.
fn presented_keys(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    let virtual_key = headers.get("x-bf-vk").map(HeaderValue::as_bytes);
    bearer.into_iter().chain(virtual_key)
}

/// Refuses a request without a gateway key (when keys are configured) before it reaches a
/// plugin or the provider. Keys are compared in constant time, every key every time.
async fn authenticate(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if state.keys.is_empty() {
        return next.run(request).await;
    }
    use subtle::ConstantTimeEq as _;
    let mut known = subtle::Choice::from(0);
    for presented in presented_keys(request.headers()) {
        for key in &state.keys {
            known |= key.as_bytes().ct_eq(presented);
        }
    }
    if bool::from(known) {
        return next.run(request).await;
    }
    let (route, _, kind) = route_of(request.uri().path());
    state.metrics.request(route, kind, 401);
    let mut response = Answer::error(
        401,
        "unauthorized",
        "this gateway needs a key: send `Authorization: Bearer <key>` or `x-bf-vk: <key>` with one of \
         its gateway.keys",
    )
    .into_response("unauthorized");
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Admits a request if fewer than the limit are in flight, else answers 503 at once with
/// `Retry-After`. The permit lives as long as the response body, so a stream counts until it
/// ends.
async fn admit(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Ok(permit) = state.admission.clone().try_acquire_owned() else {
        let (route, _, kind) = route_of(request.uri().path());
        state.metrics.request(route, kind, 503);
        let message = format!(
            "the gateway is handling its limit of {} requests at once; retry shortly \
             (gateway.limits.max_concurrent_requests)",
            state.max_concurrent
        );
        let mut response = Answer::error(503, "overloaded", &message).into_response("overloaded");
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    let (parts, body) = next.run(request).await.into_parts();
    Response::from_parts(
        parts,
        Body::new(Admitted {
            body,
            _permit: permit,
        }),
    )
}

/// A response body holding its request's admission permit.
struct Admitted {
    body: Body,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl axum::body::HttpBody for Admitted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        std::pin::Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
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
        Answer::json(status, error_body(status, error_type, message).into_string())
    }

    fn from_http(answer: HttpAnswer) -> Self {
        Answer {
            status: answer.status,
            headers: answer.headers,
            body: answer.body,
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

/// One request in flight: what the log line needs, and the chain it runs on.
struct Ctx {
    state: Arc<AppState>,
    live: Arc<Live>,
    /// The route matched, for metrics (`unmatched` for an unknown path).
    route: &'static str,
    /// The request kind, for metrics and the log (`chat_completion`, `list_models`, ...).
    kind: &'static str,
    /// The API of the route, which decides how errors are written (`None`: not an API route).
    api: Option<Api>,
    started: Instant,
    method: Method,
    path: String,
    request_id: String,
}

impl Ctx {
    /// The context of a request that has just arrived.
    fn new(state: &Arc<AppState>, method: &Method, uri: &axum::http::Uri, headers: &HeaderMap) -> Ctx {
        let (route, api, kind) = route_of(uri.path());
        Ctx {
            request_id: state.request_id(headers),
            live: state.current.get(),
            route,
            kind,
            api,
            state: state.clone(),
            started: Instant::now(),
            method: method.clone(),
            path: uri.path().to_string(),
        }
    }

    fn log(&self, status: u16, note: &str, run: Option<&RequestRun>) {
        self.state.metrics.request(self.route, self.kind, status);
        if let Some(run) = run {
            Metrics::hooks(&self.live.metrics, run.stats());
        }
        if !tracing::enabled!(target: REQUEST_LOG_TARGET, tracing::Level::INFO) {
            return;
        }
        let summary = run.map(RequestRun::summary).unwrap_or_default();
        tracing::info!(
            target: REQUEST_LOG_TARGET,
            request_id = %self.request_id,
            "{} {} {}{} {:?} kind={} id={}{}{}",
            self.method,
            self.path,
            status,
            note,
            self.started.elapsed(),
            self.kind,
            self.request_id,
            if summary.is_empty() { "" } else { " plugins: " },
            summary
        );
    }

    /// An error answer in the route's format: Bifrost's error JSON (which is also OpenAI's),
    /// or Anthropic's error body for Anthropic Messages.
    fn error_answer(&self, error: RawJson) -> Answer {
        let status = error_status(&error);
        match self.api {
            Some(Api::AnthropicMessages) => {
                Answer::json(status, anthropic::error_to_anthropic(error.as_str(), status))
            }
            _ => Answer::json(status, error.into_string()),
        }
    }

    /// An error the gateway answers with itself, in the route's format.
    fn error(&self, status: u16, error_type: &str, message: &str) -> Answer {
        self.error_answer(error_body(status, error_type, message))
    }

    /// Runs `http_post_hook` (non-streaming answers), logs, and builds the response.
    async fn finish(&self, run: Option<RequestRun>, answer: Answer) -> Response {
        let (run, answer) = match run {
            Some(run) if self.live.http_post_hooks => {
                let response = http_response_json(answer.status, &answer.headers, &answer.body);
                let (run, replaced) = self.live.turns.drive(run, HttpPostHooks::new(response)).await;
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
                ctx.error(
                    413,
                    "request_too_large",
                    &format!(
                        "the request body is larger than the gateway's limit of {} bytes; raise gateway.limits.max_body_bytes",
                        ctx.state.max_body
                    ),
                )
            } else {
                ctx.error(
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
    if !ctx.live.http_hooks {
        return Ok((run, body));
    }
    let request = http_request_json(
        &parts.method,
        parts.uri.path(),
        parts.uri.query(),
        &parts.headers,
        &body,
    );
    let (run, outcome) = ctx.live.turns.drive(run, HttpPreHooks::new(request)).await;
    let rewritten = run
        .stats()
        .iter()
        .any(|s| s.hook == Hook::HttpPreHook && s.count(HookOutcome::Changed) > 0);
    match outcome {
        HttpPreOutcome::Respond(answer) => Err(ctx.finish(Some(run), Answer::from_http(answer)).await),
        HttpPreOutcome::Continue(_) if !rewritten => Ok((run, body)),
        HttpPreOutcome::Continue(request) => {
            // A plugin rewrote the request: the body the gateway reads is the new one.
            let new_body = request
                .get("body")
                .filter(|b| JsonKind::of(b) == JsonKind::String)
                .and_then(scan::string_value)
                .map(|b| decode_base64(&b));
            match new_body {
                None => Ok((run, body)),
                Some(Ok(bytes)) => Ok((run, Bytes::from(bytes))),
                Some(Err(e)) => Err(ctx
                    .finish(
                        Some(run),
                        ctx.error(
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
    let mut run = RequestRun::new(ctx.live.chain.clone(), &ctx.request_id);
    seed_context_from_headers(&mut run, &parts.headers);
    let (run, body) = http_pre(&ctx, run, &parts, body).await?;
    Ok((ctx, run, body))
}

/// Whether a hook of the request changed its payload (not merely re-spelled it).
fn changed_by(run: &RequestRun, hook: Hook) -> bool {
    run.stats()
        .iter()
        .any(|s| s.hook == hook && s.count(HookOutcome::Changed) > 0)
}

/// What the client-facing answer needs to know of the request.
struct Meta {
    api: Api,
    stream: bool,
    /// `response_format` (speech's audio format, a transcription's `text`, `srt`, ...).
    response_format: Option<String>,
    /// The model (without its provider), for the events of an Anthropic stream.
    model: String,
}

impl Meta {
    fn of(request: &ApiRequest) -> Meta {
        Meta {
            api: request.api,
            stream: request.stream,
            response_format: request.param_str("response_format"),
            model: request.model.clone(),
        }
    }
}

/// Reads the client's body as a request of `api`.
async fn parse_request(
    api: Api,
    body: Bytes,
    content_type: Option<&str>,
    default_provider: &str,
) -> Result<ApiRequest, adapter::BadRequest> {
    match api {
        Api::Transcriptions => multipart::parse_transcription(body, content_type, default_provider).await,
        Api::AnthropicMessages => {
            let text = scan::utf8(&body)
                .map_err(|e| adapter::BadRequest(format!("the request body is not UTF-8: {e}")))?;
            scan::validate(text)
                .map_err(|e| adapter::BadRequest(format!("the request body is not valid JSON: {e}")))?;
            let (flat, stream) = anthropic::messages_to_responses_request(text, default_provider)
                .map_err(adapter::BadRequest)?;
            ApiRequest::from_bifrost(Api::AnthropicMessages, &flat, stream)
        }
        api => ApiRequest::parse(api, &body, default_provider),
    }
}

/// One request of an API route: the HTTP pre-hooks, the Bifrost request of the route's kind
/// through the pre-hooks, the provider, the post-hooks, and the answer in the route's format.
async fn serve_api(api: Api, state: Arc<AppState>, request: Request) -> Response {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (mut ctx, run, body) = match begin(&state, request).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    let request = match parse_request(api, body, content_type.as_deref(), state.provider.name()).await {
        Ok(r) => r,
        Err(e) => {
            let answer = ctx.error(400, "invalid_request_error", &e.0);
            return ctx.finish(Some(run), answer).await;
        }
    };
    let stream = request.stream;
    ctx.kind = api.request_type(stream);
    let meta = Meta::of(&request);
    if !ctx.live.llm_hooks {
        let result = call_provider(&ctx, Ok(request)).await;
        return respond(ctx, run, result, meta).await;
    }
    let shaped = request.to_bifrost(ctx.live.chain.shape());
    let (run, outcome) = ctx.live.turns.drive(run, PreHooks::new(shaped)).await;
    let result = match outcome {
        PreOutcome::ShortCircuit(result) => Provided::Done(result, None),
        // Nothing a plugin did changes what the provider gets: the client's request as parsed.
        PreOutcome::Continue(_) if !changed_by(&run, Hook::PreHook) => call_provider(&ctx, Ok(request)).await,
        PreOutcome::Continue(changed) => {
            let parsed = ApiRequest::from_chain(api, &changed, stream).map_err(|e| e.0);
            call_provider(&ctx, parsed).await
        }
    };
    respond(ctx, run, result, meta).await
}

/// What the provider (or a short-circuit) produced.
enum Provided {
    /// A result; for a provider's answer, its response as it came (and what the client gets
    /// for it when no plugin changes it, when that is not the response itself).
    Done(LlmResult, Option<Completed>),
    /// A stream of chunks or events.
    Stream(ChunkStream),
}

async fn call_provider(ctx: &Ctx, request: Result<ApiRequest, String>) -> Provided {
    let request = match request {
        Ok(r) => r,
        Err(message) => {
            return Provided::Done(
                LlmResult::Error(error_body(
                    500,
                    "invalid_plugin_request",
                    &format!("the plugins left a request the gateway cannot send: {message}"),
                )),
                None,
            )
        }
    };
    let provider = &ctx.state.provider;
    let started = Instant::now();
    let kind = request.api.kind();
    let provided = if request.stream {
        match provider.stream(&request, &ctx.request_id).await {
            Ok(s) => Provided::Stream(s),
            Err(e) => Provided::Done(LlmResult::Error(e), None),
        }
    } else {
        match provider.complete(&request, &ctx.request_id).await {
            Ok(completed) => Provided::Done(
                LlmResult::Response(adapter::wrap_kind_response(
                    &completed.inner,
                    &kind,
                    ctx.live.chain.shape(),
                    false,
                )),
                Some(completed),
            ),
            Err(e) => Provided::Done(LlmResult::Error(e), None),
        }
    };
    let ok = !matches!(provided, Provided::Done(LlmResult::Error(_), _));
    ctx.state.metrics.upstream(provider.name(), ok, started.elapsed());
    provided
}

/// The content type of audio bytes: sniffed for WAV, else from the requested format.
fn audio_content_type(bytes: &[u8], format: Option<&str>) -> &'static str {
    if bytes.starts_with(b"RIFF") {
        return "audio/wav";
    }
    match format {
        Some("mp3") | None => "audio/mpeg",
        Some("opus") => "audio/opus",
        Some("aac") => "audio/aac",
        Some("flac") => "audio/flac",
        Some("wav") => "audio/wav",
        Some("pcm") => "audio/pcm",
        Some(_) => "application/octet-stream",
    }
}

/// A string member of a response, unescaped.
fn member_string(inner: &RawJson, key: &str) -> Option<String> {
    inner
        .get(key)
        .filter(|v| JsonKind::of(v) == JsonKind::String)
        .and_then(scan::string_value)
        .map(|s| s.into_owned())
}

/// The client's answer for a response of the request's kind (`inner`), in the route's
/// format: the JSON itself; speech's audio bytes; a plain-text transcript when one was asked
/// for; an Anthropic message.
fn client_answer(ctx: &Ctx, meta: &Meta, inner: RawJson) -> Answer {
    match meta.api {
        Api::Speech => {
            let audio = member_string(&inner, "audio").map(|a| decode_audio(&a));
            match audio {
                Some(Ok(bytes)) => {
                    let content_type = audio_content_type(&bytes, meta.response_format.as_deref());
                    Answer {
                        status: 200,
                        headers: vec![("content-type".into(), content_type.into())],
                        body: bytes,
                    }
                }
                _ => ctx.error(
                    502,
                    "invalid_plugin_response",
                    "the speech response after the plugins has no base64 `audio`",
                ),
            }
        }
        Api::Transcriptions if matches!(meta.response_format.as_deref(), Some("text" | "srt" | "vtt")) => {
            Answer {
                status: 200,
                headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
                body: member_string(&inner, "text").unwrap_or_default().into_bytes(),
            }
        }
        Api::AnthropicMessages => Answer::json(200, anthropic::responses_to_message(inner.as_str())),
        _ => Answer::json(200, inner.into_string()),
    }
}

async fn respond(ctx: Ctx, run: RequestRun, provided: Provided, meta: Meta) -> Response {
    let (result, completed) = match provided {
        Provided::Stream(chunks) => return stream_response(ctx, run, chunks, true, meta),
        Provided::Done(result, completed) => (result, completed),
    };
    let (run, result) = if ctx.live.llm_hooks {
        ctx.live.turns.drive(run, PostHooks::new(result)).await
    } else {
        (run, result)
    };
    let kind = meta.api.kind();
    // The provider's own answer, unless a post-hook changed the response.
    let (body, client) = match (&result, completed) {
        (LlmResult::Response(_), Some(completed)) if !changed_by(&run, Hook::PostHook) => {
            (Some(completed.inner), completed.client)
        }
        _ => (answer_body(&result, None, &kind), None),
    };
    match (result, meta.stream) {
        (LlmResult::Response(_), true) => {
            // A short-circuit (or recovery) answering a stream: sent as the stream of it.
            let events = body
                .map(|inner| response_events(meta.api, &inner))
                .unwrap_or_default();
            stream_response(
                ctx,
                run,
                futures_util::stream::iter(events.into_iter().map(Ok)).boxed(),
                false,
                meta,
            )
        }
        (LlmResult::Response(_), false) => {
            let answer = match (body, client) {
                (_, Some((content_type, bytes))) => Answer {
                    status: 200,
                    headers: vec![("content-type".into(), content_type)],
                    body: bytes.to_vec(),
                },
                (Some(inner), None) => client_answer(&ctx, &meta, inner),
                (None, None) => ctx.error(
                    502,
                    "invalid_plugin_response",
                    &format!(
                        "the response after the plugins holds no {} response",
                        meta.api.noun()
                    ),
                ),
            };
            ctx.finish(Some(run), answer).await
        }
        (LlmResult::Error(e), _) => {
            let answer = ctx.error_answer(e);
            ctx.finish(Some(run), answer).await
        }
    }
}

/// A whole response of the API's kind as the stream that would have carried it (for a
/// short-circuit or a recovery answering a streaming request).
fn response_events(api: Api, inner: &RawJson) -> Vec<RawJson> {
    let event = |value: serde_json::Value| RawJson::from_validated(value.to_string());
    let value = || inner.to_value().unwrap_or_default();
    match api {
        Api::Chat => response_to_chunks(inner),
        Api::Completions | Api::Embeddings | Api::Images => vec![inner.clone()],
        Api::Responses | Api::AnthropicMessages => {
            let response = value();
            let mut out = vec![event(
                serde_json::json!({"type": "response.created", "sequence_number": 0, "response": response}),
            )];
            let output = response["output"].as_array().cloned().unwrap_or_default();
            for (output_index, item) in output.iter().enumerate() {
                let parts = item["content"].as_array().cloned().unwrap_or_default();
                for (content_index, part) in parts.iter().enumerate() {
                    if let Some(text) = part["text"].as_str() {
                        out.push(event(serde_json::json!({
                            "type": "response.output_text.delta",
                            "sequence_number": out.len(),
                            "item_id": item["id"],
                            "output_index": output_index,
                            "content_index": content_index,
                            "delta": text,
                        })));
                    }
                }
            }
            out.push(event(serde_json::json!({"type": "response.completed", "sequence_number": out.len(), "response": response})));
            out
        }
        Api::Speech => {
            let audio = value()["audio"].clone();
            vec![
                event(serde_json::json!({"type": "speech.audio.delta", "audio": audio})),
                event(serde_json::json!({"type": "speech.audio.done"})),
            ]
        }
        Api::Transcriptions => {
            let text = value()["text"].clone();
            vec![
                event(serde_json::json!({"type": "transcript.text.delta", "delta": text})),
                event(serde_json::json!({"type": "transcript.text.done", "text": text})),
            ]
        }
    }
}

fn sse_data(json: &str) -> Bytes {
    let mut out = String::with_capacity(json.len() + 8);
    out.push_str("data: ");
    out.push_str(json);
    out.push_str("\n\n");
    Bytes::from(out)
}

fn sse_event(name: &str, json: &str) -> Bytes {
    let mut out = String::with_capacity(json.len() + name.len() + 16);
    out.push_str("event: ");
    out.push_str(name);
    out.push_str("\ndata: ");
    out.push_str(json);
    out.push_str("\n\n");
    Bytes::from(out)
}

/// Writes chunks and events as the route's server-sent events.
enum SseOut {
    /// `data: {chunk}` lines ending with `data: [DONE]` (chat and text completions).
    Data,
    /// `event: {type}` + `data: {event}` (Responses, speech, transcription streams).
    Typed,
    /// Anthropic's events, converted from the Responses events the plugins saw.
    Anthropic(anthropic::ToAnthropicEvents),
}

impl SseOut {
    fn new(api: Api, model: &str) -> SseOut {
        match api {
            Api::Chat | Api::Completions | Api::Embeddings | Api::Images => SseOut::Data,
            Api::Responses | Api::Speech | Api::Transcriptions => SseOut::Typed,
            Api::AnthropicMessages => SseOut::Anthropic(anthropic::ToAnthropicEvents::new(model)),
        }
    }

    fn chunk(&mut self, chunk: &RawJson) -> Vec<Bytes> {
        match self {
            SseOut::Data => vec![sse_data(chunk.as_str())],
            SseOut::Typed => match chunk.get("type").and_then(scan::string_value) {
                Some(name) if !name.contains(['\n', '\r']) => vec![sse_event(&name, chunk.as_str())],
                _ => vec![sse_data(chunk.as_str())],
            },
            SseOut::Anthropic(to) => to
                .event(chunk.as_str())
                .into_iter()
                .map(|(name, data)| sse_event(name, &data))
                .collect(),
        }
    }

    fn error(&mut self, error: &RawJson) -> Bytes {
        match self {
            SseOut::Anthropic(to) => {
                let (name, data) = to.error(error.as_str(), error_status(error));
                sse_event(name, &data)
            }
            _ => sse_data(error.as_str()),
        }
    }

    fn done(&self) -> Option<Bytes> {
        matches!(self, SseOut::Data).then(|| Bytes::from_static(b"data: [DONE]\n\n"))
    }
}

/// One chunk through the plugins: `post_hook` (when the chunk comes from the provider) and
/// `http_stream_chunk_hook`.
async fn chunk_through_plugins(
    state: &Live,
    run: RequestRun,
    item: Result<RawJson, RawJson>,
    post_hooks: bool,
    kind: &RequestKind,
) -> (RequestRun, ChunkOutcome) {
    let (run, chunk) = match item {
        Ok(chunk) if post_hooks && state.llm_hooks => {
            let wrapped = adapter::wrap_kind_response(&chunk, kind, state.chain.shape(), true);
            let sent = wrapped.clone();
            let (run, result) = state
                .turns
                .drive(run, PostHooks::new(LlmResult::Response(wrapped)))
                .await;
            match result {
                LlmResult::Response(_) => match answer_body(&result, Some((&sent, &chunk)), kind) {
                    Some(chunk) => (run, chunk),
                    None => return (run, ChunkOutcome::Skip),
                },
                LlmResult::Error(e) => return (run, ChunkOutcome::End(e)),
            }
        }
        Ok(chunk) => (run, chunk),
        Err(e) if post_hooks && state.llm_hooks => {
            let (run, result) = state.turns.drive(run, PostHooks::new(LlmResult::Error(e))).await;
            return match result {
                LlmResult::Error(e) => (run, ChunkOutcome::End(e)),
                result => match answer_body(&result, None, kind) {
                    Some(chunk) => (run, ChunkOutcome::Send(chunk)),
                    None => (run, ChunkOutcome::Skip),
                },
            };
        }
        Err(e) => return (run, ChunkOutcome::End(e)),
    };
    if state.chunk_hooks {
        state.turns.drive(run, ChunkHooks::new(chunk)).await
    } else {
        (run, ChunkOutcome::Send(chunk))
    }
}

/// Streams chunks to the client in the route's event format: per chunk `post_hook` (when
/// `post_hooks`, i.e. the chunks come from the provider) and `http_stream_chunk_hook`, then the
/// end of the stream (`data: [DONE]` for chat and text completions) — or a final error event.
fn stream_response(
    ctx: Ctx,
    run: RequestRun,
    mut chunks: ChunkStream,
    post_hooks: bool,
    meta: Meta,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(32);
    let request_id = ctx.request_id.clone();
    tokio::spawn(async move {
        let state = ctx.live.clone();
        let kind = meta.api.kind();
        let mut out = SseOut::new(meta.api, &meta.model);
        let mut run = run;
        let mut note = String::new();
        let mut sent = 0u64;
        let mut client_gone = false;
        'chunks: loop {
            // A client that goes away is seen at once, not when the next chunk comes: dropping
            // `chunks` then cancels the upstream request.
            let item = tokio::select! {
                item = chunks.next() => item,
                () = tx.closed() => {
                    client_gone = true;
                    break;
                }
            };
            let Some(item) = item else { break };
            let (r, outcome) = chunk_through_plugins(&state, run, item, post_hooks, &kind).await;
            run = r;
            match outcome {
                ChunkOutcome::Send(chunk) => {
                    sent += 1;
                    for frame in out.chunk(&chunk) {
                        if tx.send(frame).await.is_err() {
                            client_gone = true;
                            break 'chunks;
                        }
                    }
                }
                ChunkOutcome::Skip => {}
                ChunkOutcome::End(error) => {
                    let message = error
                        .get_path(&["error", "message"])
                        .and_then(scan::string_value)
                        .unwrap_or_default();
                    note = format!(" (stream ended with error: {message})");
                    let _ = tx.send(out.error(&error)).await;
                    break;
                }
            }
        }
        if note.is_empty() && !client_gone {
            if let Some(done) = out.done() {
                let _ = tx.send(done).await;
            }
        }
        if client_gone {
            drop(chunks);
            note = format!(" (client disconnected after {sent} chunk(s))");
            // The plugins learn that the stream ended, as from an upstream error, so per-request
            // state they hold for it (redact's held-back text) is dropped now, not evicted later.
            let error = error_body(
                499,
                "client_disconnected",
                "the client disconnected before the stream ended",
            );
            if post_hooks && state.llm_hooks {
                run = state
                    .turns
                    .drive(run, PostHooks::new(LlmResult::Error(error.clone())))
                    .await
                    .0;
            }
            if state.chunk_hooks {
                run = state.turns.drive(run, ChunkHooks::new(error)).await.0;
            }
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
        Err(e) => ctx.error_answer(e),
    };
    ctx.finish(Some(run), answer).await
}

/// The POST routes and the API each speaks (with and without the `/v1` prefix for OpenAI's).
const API_ROUTES: [(&str, Api); 15] = [
    ("/v1/chat/completions", Api::Chat),
    ("/chat/completions", Api::Chat),
    ("/v1/completions", Api::Completions),
    ("/completions", Api::Completions),
    ("/v1/embeddings", Api::Embeddings),
    ("/embeddings", Api::Embeddings),
    ("/v1/responses", Api::Responses),
    ("/responses", Api::Responses),
    ("/v1/audio/speech", Api::Speech),
    ("/audio/speech", Api::Speech),
    ("/v1/audio/transcriptions", Api::Transcriptions),
    ("/audio/transcriptions", Api::Transcriptions),
    ("/v1/images/generations", Api::Images),
    ("/images/generations", Api::Images),
    ("/anthropic/v1/messages", Api::AnthropicMessages),
];

/// What a path is, looked up once: its metrics route (a fixed set, so that unknown paths
/// cannot grow the labels; `unmatched` for an unknown one), the API it speaks (API routes
/// only), and the request kind it serves (Bifrost's `RequestType` names; a request that asks
/// for a stream becomes the `_stream` kind once read).
fn route_of(path: &str) -> (&'static str, Option<Api>, &'static str) {
    if let Some((route, api)) = API_ROUTES.iter().find(|(route, _)| *route == path) {
        return (route, Some(*api), api.request_type(false));
    }
    match path {
        "/v1/models" => ("/v1/models", None, "list_models"),
        "/models" => ("/models", None, "list_models"),
        _ => ("unmatched", None, "none"),
    }
}

async fn metrics_page(State(state): State<Arc<AppState>>) -> Response {
    let live = state.current.get();
    let metrics = state.metrics.clone();
    // Reading a shared instance's memory waits for its current call: off the async workers.
    let page = tokio::task::spawn_blocking(move || metrics.render(&live.plugins))
        .await
        .unwrap_or_default();
    let mut response = Response::new(Body::from(page));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    let mut body = Vec::with_capacity(64);
    body.extend_from_slice(b"{\"status\":\"ok\",\"provider\":");
    scan::write_string(&mut body, state.provider.name());
    body.extend_from_slice(b",\"plugins\":[");
    for (i, p) in state.current.get().chain.plugins().iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        scan::write_string(&mut body, &p.name);
    }
    body.extend_from_slice(b"]}");
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
                "no route for {} {}; the gateway serves POST /v1/chat/completions, /v1/completions, \
                 /v1/embeddings, /v1/responses, /v1/audio/speech, /v1/audio/transcriptions, \
                 /v1/images/generations and /anthropic/v1/messages, GET /v1/models, GET /health and \
                 GET /metrics",
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
        run.set_context(name, RawJson::from_validated(scan::quote(value)));
    }
}
