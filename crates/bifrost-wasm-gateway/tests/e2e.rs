//! End-to-end: a real gateway on 127.0.0.1:0, real plugins, a real HTTP client.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bifrost_wasm_gateway::{
    FailurePolicy, Gateway, GatewayConfig, Placement, PluginEntry, ProviderConfig, RequestShape,
};
use serde_json::Value;

// ----- log capture -----

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An OpenAI-compatible upstream at `base_url`, its key in `key_env`, with the timeouts
/// `[total, connect, first byte, stream idle]` in milliseconds.
fn upstream_config(
    base_url: impl Into<String>,
    key_env: &str,
    [total, connect, first_byte, idle]: [u64; 4],
) -> ProviderConfig {
    let mut provider = ProviderConfig::openai_compatible(base_url);
    if let ProviderConfig::OpenaiCompatible {
        api_key_env,
        timeout_ms,
        connect_timeout_ms,
        first_byte_timeout_ms,
        stream_idle_timeout_ms,
        ..
    } = &mut provider
    {
        *api_key_env = key_env.to_string();
        (
            *timeout_ms,
            *connect_timeout_ms,
            *first_byte_timeout_ms,
            *stream_idle_timeout_ms,
        ) = (total, connect, first_byte, idle);
    }
    provider
}

fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        captured
    })
}

/// Waits for a log line containing every needle (streams log when they end).
fn log_line(needles: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = String::from_utf8_lossy(&logs().0.lock().unwrap()).into_owned();
        if let Some(line) = text.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
            return line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no log line with {needles:?} in:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The request log line of request `id`.
fn request_log(id: &str) -> String {
    log_line(&["bifrost_wasm_gateway::request", &format!(" id={id} ")])
}

// ----- servers -----

struct Server {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(config: GatewayConfig) -> Server {
        logs();
        let gateway = Gateway::bind(config.with_listen("127.0.0.1:0".parse().unwrap()))
            .await
            .expect("gateway starts");
        let base = format!("http://{}", gateway.local_addr());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let done = tokio::spawn(async move {
            gateway
                .serve_until(async {
                    let _ = rx.await;
                })
                .await
                .expect("serves");
        });
        Server {
            base,
            stop: Some(tx),
            done,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(20), &mut self.done)
            .await
            .expect("shuts down")
            .unwrap();
    }

    async fn chat(&self, id: &str, body: Value) -> (u16, Value) {
        let response = client()
            .post(format!("{}/v1/chat/completions", self.base))
            .header("x-request-id", id)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
        (status, value)
    }

    async fn chat_with_virtual_key(&self, id: &str, vk: &str, body: Value) -> u16 {
        client()
            .post(format!("{}/v1/chat/completions", self.base))
            .header("x-request-id", id)
            .header("x-bf-vk", vk)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Sends a streaming request; returns the status and the `data:` payloads in order.
    async fn stream(&self, id: &str, body: Value) -> (u16, String, Vec<String>) {
        let response = client()
            .post(format!("{}/v1/chat/completions", self.base))
            .header("x-request-id", id)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let text = response.text().await.unwrap();
        let data = text
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                e.strip_prefix("data: ")
                    .unwrap_or_else(|| panic!("not an SSE data event: {e:?}"))
                    .to_string()
            })
            .collect();
        (status, content_type, data)
    }
}

/// Serves a fake upstream's routes on a free loopback port, for the rest of the test.
async fn serve_upstream(router: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new)
}

fn hello_world() -> PathBuf {
    test_support::plugin_wasm("hello-world")
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn entry(name: &str, path: PathBuf, config: Option<&str>, order: i64) -> PluginEntry {
    PluginEntry {
        path,
        name: name.to_string(),
        enabled: true,
        config: config.map(|c| serde_json::value::RawValue::from_string(c.to_string()).unwrap()),
        placement: Placement::PostBuiltin,
        order,
        version: None,
        failure_policy: FailurePolicy::Default,
        pool: None,
        index: 0,
    }
}

fn config_with(entries: Vec<PluginEntry>) -> GatewayConfig {
    let mut config = GatewayConfig::default();
    for (i, mut e) in entries.into_iter().enumerate() {
        e.index = i;
        config.plugins.push(e);
    }
    config
}

fn user(model: &str, text: &str) -> Value {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

fn stream_text(data: &[String]) -> String {
    data.iter()
        .filter(|d| d.as_str() != "[DONE]")
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter_map(|v| v["choices"][0]["delta"]["content"].as_str().map(str::to_string))
        .collect()
}

// ----- tests -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_world_answers_mock_model_with_its_short_circuit() {
    let server = Server::start(config_with(vec![entry("hello", hello_world(), None, 0)])).await;
    let (status, body) = server.chat("mock-1", user("mock-model", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "This is a mock response!"
    );
    assert_eq!(body["id"], "mock-mock-1", "the request id seeds the context");
    assert_eq!(body["usage"]["total_tokens"], 25);
    assert_eq!(body["model"], "mock-model (via rust-wasm)");
    let line = request_log("mock-1");
    assert!(line.contains("POST /v1/chat/completions 200"), "{line}");
    assert!(line.contains("hello.pre_hook=short_circuited("), "{line}");
    assert!(line.contains("hello.post_hook=changed("), "{line}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_request_gets_status_429_with_the_plugins_error() {
    let server = Server::start(config_with(vec![entry(
        "limiter",
        hello_world(),
        Some(r#"{"rate_limit":{"budget":2}}"#),
        0,
    )]))
    .await;
    for i in 0..2 {
        let (status, body) = server.chat(&format!("rl-{i}"), user("mock-echo", "hello")).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = server.chat("rl-2", user("mock-echo", "hello")).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["type"], "rate_limit");
    assert_eq!(body["error"]["message"], "Rate limit exceeded (via rust plugin)");
    let line = request_log("rl-2");
    assert!(
        line.contains(" 429 ") && line.contains("limiter.pre_hook=short_circuited"),
        "{line}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_key_header_reaches_the_context_so_each_key_has_its_own_budget() {
    let server = Server::start(config_with(vec![entry(
        "limiter",
        hello_world(),
        Some(r#"{"rate_limit":{"budget":1}}"#),
        0,
    )]))
    .await;
    assert_eq!(
        server
            .chat_with_virtual_key("vk-a1", "team-a", user("mock-echo", "hi"))
            .await,
        200
    );
    assert_eq!(
        server
            .chat_with_virtual_key("vk-a2", "team-a", user("mock-echo", "hi"))
            .await,
        429
    );
    assert_eq!(
        server
            .chat_with_virtual_key("vk-b1", "team-b", user("mock-echo", "hi"))
            .await,
        200
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_hook_rewrites_reach_the_client_and_unknown_fields_survive() {
    let server = Server::start(config_with(vec![entry("hello", hello_world(), None, 0)])).await;
    let body = serde_json::json!({
        "model": "openai/gpt-4o",
        "messages": [{"role": "user", "content": "echo me please"}],
        "seed": 7,
    });
    let (status, body) = server.chat("post-1", body).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "gpt-4o (via rust-wasm)");
    assert_eq!(body["choices"][0]["message"]["content"], "echo me please");
    assert_eq!(body["usage"]["completion_tokens"], 3);
    // A provider error goes through post_hook too (hello-world annotates error messages).
    let (status, body) = server.chat("post-2", user("mock-error-503", "x")).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with(" (via rust plugin)"),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_shape_runs_hello_world_the_same_way() {
    for shape in RequestShape::ALL {
        let config = config_with(vec![entry("hello", hello_world(), None, 0)]).with_request_shape(shape);
        let server = Server::start(config).await;
        let (status, body) = server
            .chat(&format!("shape-{shape}"), user("mock-model", "hi"))
            .await;
        assert_eq!(status, 200, "{shape}: {body}");
        assert_eq!(
            body["choices"][0]["message"]["content"], "This is a mock response!",
            "{shape}"
        );
        assert_eq!(body["model"], "mock-model (via rust-wasm)", "{shape}");
        let (status, body) = server
            .chat(&format!("shape-echo-{shape}"), user("m", "plain"))
            .await;
        assert_eq!(
            (status, body["model"].as_str()),
            (200, Some("m (via rust-wasm)")),
            "{shape}"
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_drops_skipped_chunks_and_sends_rewritten_ones() {
    let server = Server::start(config_with(vec![
        entry("hello", hello_world(), None, 0),
        entry("skip", fixture("chunk-skip.wat"), None, 1),
        entry("rewrite", fixture("chunk-rewrite.wat"), None, 2),
    ]))
    .await;
    let mut body = user("mock-echo", "hello world skip-me again world");
    body["stream"] = Value::Bool(true);
    let (status, content_type, data) = server.stream("stream-a", body).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/event-stream");
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    assert_eq!(stream_text(&data), "hello WORLD again WORLD");
    // hello-world's post_hook runs per chunk.
    let first: Value = serde_json::from_str(&data[0]).unwrap();
    assert_eq!(first["model"], "mock-echo (via rust-wasm)");
    let line = request_log("stream-a");
    assert!(
        line.contains("skip.http_stream_chunk_hook=passedx6+droppedx1"),
        "{line}"
    );
    assert!(
        line.contains("rewrite.http_stream_chunk_hook=passedx5+changedx2"),
        "{line}"
    );
    assert!(!line.contains("http_post_hook"), "not called for streams: {line}");
    // Reverse order: rewrite (last) sees each chunk first, hello-world (first) last.
    let at = |needle: &str| line.find(needle).unwrap_or_else(|| panic!("{needle} in {line}"));
    assert!(at("rewrite.http_stream_chunk_hook") < at("skip.http_stream_chunk_hook"));
    assert!(at("skip.http_stream_chunk_hook") < at("hello.http_stream_chunk_hook"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_plugins_run_in_order_and_a_short_circuit_runs_only_the_post_hooks_of_plugins_that_ran() {
    let outer = || entry("outer", hello_world(), Some(r#"{"mock":false}"#), 0);
    let mocker = |order| entry("mocker", hello_world(), None, order);

    // outer then mocker: outer's pre_hook runs, mocker short-circuits, both post_hooks run
    // (mocker's first), so the model is rewritten twice.
    let server = Server::start(config_with(vec![outer(), mocker(1)])).await;
    let (status, body) = server.chat("order-1", user("mock-model", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "mock-model (via rust-wasm) (via rust-wasm)");
    let line = request_log("order-1");
    let at = |needle: &str| {
        line.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing in {line}"))
    };
    assert!(at("outer.http_pre_hook") < at("mocker.http_pre_hook"));
    assert!(at("mocker.http_pre_hook") < at("outer.pre_hook=passed"));
    assert!(at("outer.pre_hook") < at("mocker.pre_hook=short_circuited"));
    assert!(at("mocker.pre_hook") < at("mocker.post_hook"));
    assert!(at("mocker.post_hook") < at("outer.post_hook"));
    assert!(at("outer.post_hook") < at("mocker.http_post_hook"));
    assert!(at("mocker.http_post_hook") < at("outer.http_post_hook"));
    server.stop().await;

    // mocker first (lower order): it short-circuits before outer's pre_hook, so outer's
    // post_hook does not run and the model is rewritten once.
    let server = Server::start(config_with(vec![outer(), mocker(-1)])).await;
    let (status, body) = server.chat("order-2", user("mock-model", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "mock-model (via rust-wasm)");
    let line = request_log("order-2");
    assert!(line.contains("mocker.pre_hook=short_circuited"), "{line}");
    assert!(
        !line.contains("outer.pre_hook") && !line.contains("outer.post_hook"),
        "{line}"
    );
    // HTTP hooks are a separate level: both ran, so both http_post_hooks run.
    assert!(
        line.contains("outer.http_post_hook") && line.contains("mocker.http_post_hook"),
        "{line}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_plugin_is_skipped_by_default_and_fails_closed_when_asked() {
    let trap = |policy| {
        let mut e = entry("trap", fixture("trap.wat"), None, 0);
        e.failure_policy = policy;
        e
    };
    // Default: an LLM hook failure is logged and skipped; the request succeeds.
    let server = Server::start(config_with(vec![trap(FailurePolicy::Default)])).await;
    let (status, body) = server.chat("trap-default", user("mock-echo", "still here")).await;
    assert_eq!(
        (status, body["choices"][0]["message"]["content"].as_str()),
        (200, Some("still here"))
    );
    let line = request_log("trap-default");
    assert!(line.contains("trap.pre_hook=failed"), "{line}");
    log_line(&[
        "trap-default",
        "trap pre_hook failed; continuing with the previous value",
    ]);
    // ...and the server keeps serving after the trap (the instance was replaced).
    let (status, _) = server.chat("trap-default-2", user("mock-echo", "again")).await;
    assert_eq!(status, 200);
    // Default policy on an HTTP-level hook: a failing chunk hook ends the stream with an error.
    let mut body = user("mock-echo", "a b");
    body["stream"] = Value::Bool(true);
    let (status, _, data) = server.stream("trap-stream-default", body.clone()).await;
    assert_eq!(status, 200);
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("http_stream_chunk_hook"),
        "{last}"
    );
    assert!(!data.contains(&"[DONE]".to_string()));
    server.stop().await;

    // fail_open: the stream goes on without the plugin, loudly logged.
    let server = Server::start(config_with(vec![trap(FailurePolicy::FailOpen)])).await;
    let (_, _, data) = server.stream("trap-open", body.clone()).await;
    assert_eq!(stream_text(&data), "a b");
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    log_line(&["trap-open", "BYPASSED plugin trap"]);
    server.stop().await;

    // fail_closed: a well-formed JSON error, or a final SSE error event.
    let server = Server::start(config_with(vec![trap(FailurePolicy::FailClosed)])).await;
    let (status, body_json) = server.chat("trap-closed", user("mock-echo", "x")).await;
    assert_eq!(status, 500, "{body_json}");
    assert_eq!(body_json["error"]["type"], "plugin_failure");
    let message = body_json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("trap") && message.contains("pre_hook") && message.contains("fail_closed"),
        "{message}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_stream_ends_with_a_final_error_event() {
    let mut strict = entry("strict", fixture("trap-stream.wat"), None, 0);
    strict.failure_policy = FailurePolicy::FailClosed;
    let server = Server::start(config_with(vec![entry("hello", hello_world(), None, 0), strict])).await;
    let mut body = user("mock-echo", "x y");
    body["stream"] = Value::Bool(true);
    let (status, content_type, data) = server.stream("closed-stream", body).await;
    assert_eq!((status, content_type.as_str()), (200, "text/event-stream"));
    assert_eq!(data.len(), 1, "the first chunk already fails: {data:?}");
    let event: Value = serde_json::from_str(&data[0]).unwrap();
    assert_eq!(event["error"]["type"], "plugin_failure");
    assert!(
        event["error"]["message"].as_str().unwrap().contains("strict"),
        "{event}"
    );
    let line = request_log("closed-stream");
    assert!(line.contains("stream ended with error"), "{line}");
    assert!(line.contains("strict.http_stream_chunk_hook=failed"), "{line}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_limit_defaults_to_32_mib_and_is_configurable() {
    let server = Server::start(GatewayConfig::default()).await;
    let big = "x".repeat(20 * 1024 * 1024);
    let (status, body) = server.chat("big-1", user("mock-echo", &big)).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["choices"][0]["message"]["content"].as_str().map(str::len),
        Some(big.len())
    );
    server.stop().await;

    let server = Server::start(GatewayConfig::default().with_max_body_bytes(1024)).await;
    let (status, body) = server.chat("big-2", user("mock-echo", &"y".repeat(2048))).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("max_body_bytes"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_health_bad_requests_and_unknown_routes_answer_json() {
    let server = Server::start(config_with(vec![entry("hello", hello_world(), None, 0)])).await;
    let models: Value = client()
        .get(format!("{}/v1/models", server.base))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(models["object"], "list");
    assert!(models["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "mock/mock-model"));
    let health: Value = client()
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["plugins"], serde_json::json!(["hello"]));
    let (status, body) = server.chat("bad-1", serde_json::json!({"messages": []})).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("`model` is required"));
    let response = client()
        .get(format!("{}/v2/nothing", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_calls_every_plugins_cleanup() {
    let server = Server::start(config_with(vec![
        entry("cleanup-a", hello_world(), None, 0),
        entry("cleanup-b", hello_world(), None, 1),
    ]))
    .await;
    let (status, _) = server.chat("cleanup-req", user("mock-echo", "x")).await;
    assert_eq!(status, 200);
    server.stop().await;
    log_line(&["plugin cleanup-a: cleanup done"]);
    log_line(&["plugin cleanup-b: cleanup done"]);
}

// ----- upstream forwarder against a local fake OpenAI server -----

trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        serde_json::from_slice(&self.bytes().await.unwrap()).unwrap()
    }
}

/// A fake OpenAI-compatible upstream: checks the key, echoes what it received, streams events
/// in pieces cut in awkward places.
async fn fake_upstream() -> String {
    use axum::body::Body;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;

    async fn chat(headers: HeaderMap, body: String) -> axum::response::Response {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if auth != "Bearer upstream-secret" {
            return axum::response::Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .body(Body::from(r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key","param":null}}"#))
                .unwrap();
        }
        let request: Value = serde_json::from_str(&body).unwrap();
        if request["stream"] == Value::Bool(true) {
            let stream = "data: {\"id\":\"up\",\"object\":\"chat.completion.chunk\",\"model\":\"up-model\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"caf\u{e9} \"}}]}\r\n\r\n: comment\n\ndata: {\"id\":\"up\",\"object\":\"chat.completion.chunk\",\"model\":\"up-model\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\u{1f980}\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
            let bytes = stream.as_bytes().to_vec();
            // Cut into 7-byte pieces: splits inside keys, UTF-8 characters and CRLF.
            let pieces: Vec<Result<bytes::Bytes, std::io::Error>> = bytes
                .chunks(7)
                .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
                .collect();
            return axum::response::Response::builder()
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(futures_util::stream::iter(pieces)))
                .unwrap();
        }
        let reply = serde_json::json!({
            "id": "up-1", "object": "chat.completion", "created": 1, "model": request["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": format!("upstream saw {}", body)}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
        });
        axum::response::Response::builder()
            .header("content-type", "application/json")
            .body(Body::from(reply.to_string()))
            .unwrap()
    }

    let router = axum::Router::new().route("/v1/chat/completions", post(chat));
    format!("http://{}/v1", serve_upstream(router).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_forwarder_sends_the_key_keeps_bytes_and_streams_split_events() {
    let base_url = fake_upstream().await;
    // SAFETY-free in edition 2021: a variable only this test reads.
    std::env::set_var("E2E_UPSTREAM_KEY", "upstream-secret");
    let provider = |env: &str| upstream_config(base_url.clone(), env, [10_000, 10_000, 10_000, 10_000]);
    let config =
        config_with(vec![entry("hello", hello_world(), None, 0)]).with_provider(provider("E2E_UPSTREAM_KEY"));
    let server = Server::start(config).await;
    let body = serde_json::json!({
        "model": "openai/gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "seed": 123456789012345678u64,
        "x_vendor_flag": null
    });
    let (status, reply) = server.chat("up-1", body).await;
    assert_eq!(status, 200, "{reply}");
    let seen = reply["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(seen.contains(r#""model":"gpt-4o-mini""#), "{seen}");
    assert!(seen.contains(r#""seed":123456789012345678"#), "{seen}");
    assert!(seen.contains(r#""x_vendor_flag":null"#), "{seen}");
    assert_eq!(reply["model"], "gpt-4o-mini (via rust-wasm)");

    let mut body = user("openai/gpt-4o-mini", "hi");
    body["stream"] = Value::Bool(true);
    let (status, _, data) = server.stream("up-2", body).await;
    assert_eq!(status, 200);
    assert_eq!(stream_text(&data), "caf\u{e9} \u{1f980}");
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    server.stop().await;

    // A wrong key: the upstream's 401 error goes through post_hook with its status.
    let config = config_with(vec![entry("hello", hello_world(), None, 0)])
        .with_provider(provider("E2E_UPSTREAM_KEY_UNSET"));
    let server = Server::start(config).await;
    let (status, reply) = server.chat("up-3", user("gpt-4o", "hi")).await;
    assert_eq!(status, 401, "{reply}");
    assert_eq!(reply["error"]["code"], "invalid_api_key");
    assert_eq!(
        reply["error"]["message"],
        "Incorrect API key provided (via rust plugin)"
    );
    server.stop().await;

    // An upstream nobody listens on: a 502 Bifrost error.
    let dead = upstream_config(
        "http://127.0.0.1:9/v1",
        "E2E_UPSTREAM_KEY",
        [5_000, 5_000, 5_000, 5_000],
    );
    let server = Server::start(GatewayConfig::default().with_provider(dead)).await;
    let (status, reply) = server.chat("up-4", user("gpt-4o", "hi")).await;
    assert_eq!(status, 502, "{reply}");
    assert!(reply["error"]["message"]
        .as_str()
        .unwrap()
        .contains("cannot reach the upstream"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_clients_each_get_their_own_answer() {
    let mut stateless = entry("hello", hello_world(), None, 0);
    stateless.pool = Some(2);
    let server = Server::start(config_with(vec![
        entry("hello-shared", hello_world(), None, 0),
        stateless,
    ]))
    .await;
    let base = server.base.clone();
    let tasks: Vec<_> = (0..32)
        .map(|worker| {
            let base = base.clone();
            tokio::spawn(async move {
                for i in 0..20 {
                    let marker = format!("w{worker}-r{i}");
                    let mut body = user("mock-echo", &marker);
                    if i % 5 == 0 {
                        body["stream"] = Value::Bool(true);
                        let text = client()
                            .post(format!("{base}/v1/chat/completions"))
                            .body(body.to_string())
                            .send()
                            .await
                            .unwrap()
                            .text()
                            .await
                            .unwrap();
                        assert!(
                            text.contains(&format!("\"content\":\"{marker}\"")),
                            "{marker}: {text}"
                        );
                        assert!(text.ends_with("data: [DONE]\n\n"));
                    } else {
                        let reply: Value = client()
                            .post(format!("{base}/v1/chat/completions"))
                            .body(body.to_string())
                            .send()
                            .await
                            .unwrap()
                            .json_value()
                            .await;
                        assert_eq!(reply["choices"][0]["message"]["content"], marker.as_str());
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasi_plugin_runs_and_its_output_becomes_log_lines() {
    let wasm = test_support::plugin_wasm_for("wasi-printer", test_support::WasmTarget::Wasip1);
    let server = Server::start(config_with(vec![entry("printer", wasm, None, 0)])).await;
    for i in 0..3 {
        let (status, body) = server
            .chat(&format!("wasi-{i}"), user("mock-echo", "through wasi"))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["choices"][0]["message"]["content"], "through wasi");
    }
    let mut body = user("mock-echo", "a b c");
    body["stream"] = Value::Bool(true);
    let (_, _, data) = server.stream("wasi-stream", body).await;
    assert_eq!(stream_text(&data), "a b c");
    let line = request_log("wasi-2");
    assert!(line.contains("printer.pre_hook=passed"), "{line}");
    log_line(&["pre_hook: stderr line"]);
    server.stop().await;
    log_line(&["plugin printer: cleanup done"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bifrost_config_file_drives_plugins_order_shape_and_limits() {
    let dir = std::env::temp_dir().join(format!("bifrost-gateway-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hello = hello_world();
    // Relative plugin paths resolve against the config file's folder.
    std::fs::copy(&hello, dir.join("hello.wasm")).unwrap();
    let config = serde_json::json!({
        "providers": {"openai": {"keys": []}},
        "plugins": [
            {"path": "hello.wasm", "name": "second", "enabled": true, "order": 5,
             "config": {"mock": false}},
            {"path": "hello.wasm", "name": "disabled", "enabled": false},
            {"path": hello, "name": "first", "enabled": true, "placement": "pre_builtin",
             "failure_policy": "fail_open", "pool": 2}
        ],
        "gateway": {"listen": "127.0.0.1:0", "request_shape": "snake",
                    "limits": {"max_body_bytes": 4096, "hook_timeout_ms": 500}}
    });
    let path = dir.join("config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let server = Server::start(GatewayConfig::from_file(&path).unwrap()).await;
    let health: Value = client()
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(health["plugins"], serde_json::json!(["first", "second"]));
    let (status, body) = server.chat("file-1", user("mock-model", "hi")).await;
    assert_eq!(status, 200, "{body}");
    // "first" answers mock-model; "second" never runs its pre_hook, so one rewrite only.
    assert_eq!(body["model"], "mock-model (via rust-wasm)");
    let (status, _) = server.chat("file-2", user("mock-echo", &"z".repeat(5000))).await;
    assert_eq!(status, 413);
    server.stop().await;
    let err = GatewayConfig::from_file(dir.join("missing.json")).unwrap_err();
    assert!(err.to_string().contains("cannot read the config file"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_cannot_load_or_init_stops_startup_with_a_clear_error() {
    let bad_config = config_with(vec![entry(
        "limiter",
        hello_world(),
        Some(r#"{"rate_limit":{"budget":1,"key_from":""}}"#),
        0,
    )]);
    let err = Gateway::bind(bad_config).await.unwrap_err().to_string();
    assert!(err.contains(r#"plugins[0] ("limiter")"#), "{err}");
    assert!(err.contains("init"), "{err}");

    let missing = config_with(vec![entry(
        "ghost",
        PathBuf::from("/nonexistent/ghost.wasm"),
        None,
        0,
    )]);
    let err = Gateway::bind(missing).await.unwrap_err().to_string();
    assert!(
        err.contains(r#"plugins[0] ("ghost")"#) && err.contains("/nonexistent/ghost.wasm"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_cache_dir_the_second_start_takes_compiled_plugins_from_it() {
    let dir = std::env::temp_dir().join(format!("bifrost-wasm-gateway-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let plugin = dir.join("cached-hello.wasm");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(hello_world(), &plugin).unwrap();
    let config = || {
        config_with(vec![entry("cached-hello", plugin.clone(), None, 0)])
            .with_cache_dir(Some(dir.join("cache")))
    };
    let loaded = |how: &str| {
        String::from_utf8_lossy(&logs().0.lock().unwrap())
            .lines()
            .filter(|l| l.contains("loaded plugin cached-hello ") && l.contains(how))
            .count()
    };

    let first = Server::start(config()).await;
    first.stop().await;
    assert_eq!(loaded("(compiled, and cached)"), 1);
    let second = Server::start(config()).await;
    let (status, body) = second.chat("cached-1", user("mock-model", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "This is a mock response!"
    );
    second.stop().await;
    assert_eq!(loaded("(compiled module from the cache)"), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_hook_outcomes_replacements_and_upstream_time() {
    let server = Server::start(config_with(vec![
        entry("hello", hello_world(), None, 0),
        entry("trapper", fixture("trap.wat"), None, 1),
    ]))
    .await;
    // hello-world short-circuits mock-model; the trapper's pre_hook never runs then.
    let (status, _) = server.chat("m-1", user("mock-model", "hi")).await;
    assert_eq!(status, 200);
    // The trapper traps (skipped by default) and its instance is replaced.
    let (status, _) = server.chat("m-2", user("gpt-4o", "hi")).await;
    assert_eq!(status, 200);
    let (status, _, _) = server
        .stream("m-3", serde_json::json!({"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "a b"}]}))
        .await;
    assert_eq!(status, 200);
    let response = client()
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let page = response.text().await.unwrap();
    for line in [
        r#"bifrost_wasm_requests_total{kind="chat_completion",route="/v1/chat/completions",status="200"} 2"#,
        r#"bifrost_wasm_requests_total{kind="chat_completion_stream",route="/v1/chat/completions",status="200"} 1"#,
        r#"bifrost_wasm_hook_calls_total{hook="pre_hook",outcome="short_circuited",plugin="hello"} 1"#,
        r#"bifrost_wasm_hook_calls_total{hook="pre_hook",outcome="trap",plugin="trapper"} 2"#,
        r#"bifrost_wasm_hook_calls_total{hook="http_stream_chunk_hook",outcome="trap",plugin="trapper"} 1"#,
        // Two pre_hook traps and one chunk trap, each costing the instance.
        r#"bifrost_wasm_instance_replacements_total{plugin="trapper"} 3"#,
        r#"bifrost_wasm_upstream_duration_seconds_count{outcome="ok",provider="mock"} 2"#,
        r#"bifrost_wasm_plugin_memory_bytes{instance="0",plugin="hello"}"#,
    ] {
        assert!(page.contains(line), "missing {line:?} in\n{page}");
    }
    // The hook histogram counted every call of hello's post_hook (one per answer and per chunk).
    let count = page
        .lines()
        .find(|l| {
            l.starts_with(r#"bifrost_wasm_hook_duration_seconds_count{hook="post_hook",plugin="hello"}"#)
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("{page}"));
    assert!(count >= 3, "{count}");
    // The page itself is not a request through the chain.
    assert!(!page.contains(r#"route="unmatched""#), "{page}");
    server.stop().await;
}

/// An upstream that accepts and then: never answers a plain request; answers a stream with
/// one chunk and then nothing.
async fn stalling_upstream() -> String {
    use axum::body::Body;
    use axum::routing::post;

    async fn chat(body: String) -> axum::response::Response {
        use futures_util::StreamExt as _;
        let request: Value = serde_json::from_str(&body).unwrap();
        if request["stream"] == Value::Bool(true) {
            let first = "data: {\"id\":\"s\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"one \"}}]}\n\n";
            let pieces = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(bytes::Bytes::from(first))])
                .chain(futures_util::stream::pending());
            return axum::response::Response::builder()
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(pieces))
                .unwrap();
        }
        std::future::pending::<()>().await;
        unreachable!()
    }

    let router = axum::Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/embeddings", post(chat))
        .route("/v1/responses", post(chat));
    format!("http://{}/v1", serve_upstream(router).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_timeouts_answer_504_and_the_post_hooks_see_the_error() {
    let upstream = |base_url: String| upstream_config(base_url, "E2E_NO_KEY", [30_000, 300, 300, 300]);
    let stalling = stalling_upstream().await;
    let config = config_with(vec![entry("hello", hello_world(), None, 0)]).with_provider(upstream(stalling));
    let server = Server::start(config).await;

    // First byte: the upstream accepted and never answered.
    let started = Instant::now();
    let (status, reply) = server.chat("to-1", user("gpt-4o", "hi")).await;
    assert_eq!(status, 504, "{reply}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(reply["error"]["type"], "upstream_timeout");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("first_byte_timeout_ms"), "{message}");
    // hello-world's post_hook saw the error (it tags error messages).
    assert!(message.ends_with("(via rust plugin)"), "{message}");
    assert!(
        request_log("to-1").contains("hello.post_hook="),
        "{}",
        request_log("to-1")
    );

    // Stream idle: one chunk, then silence; the stream ends with the error as its last event.
    let mut body = user("gpt-4o", "hi");
    body["stream"] = Value::Bool(true);
    let (status, _, data) = server.stream("to-2", body).await;
    assert_eq!(status, 200);
    assert!(data[0].contains("one "), "{data:?}");
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["type"], "upstream_timeout", "{data:?}");
    assert!(last["error"]["message"]
        .as_str()
        .unwrap()
        .contains("stream_idle_timeout_ms"));

    // Every kind has the same timeouts: an embedding's first byte, a Responses stream's idle.
    let (status, _, b) = server
        .post(
            "/v1/embeddings",
            "to-1e",
            "application/json",
            br#"{"model":"e","input":"x"}"#.to_vec(),
        )
        .await;
    assert_eq!(status, 504);
    assert_eq!(json(&b)["error"]["type"], "upstream_timeout");
    let (status, _, b) = server
        .post(
            "/v1/responses",
            "to-2r",
            "application/json",
            br#"{"model":"m","input":"x","stream":true}"#.to_vec(),
        )
        .await;
    assert_eq!(status, 200);
    let last = sse_events(&b).last().unwrap().1.clone();
    assert_eq!(
        json(last.as_bytes())["error"]["type"],
        "upstream_timeout",
        "{last}"
    );
    server.stop().await;

    // Connect: a listener whose accept queue is full drops new connections' SYNs.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(c)) =
            tokio::time::timeout(Duration::from_millis(200), tokio::net::TcpStream::connect(addr)).await
        {
            held.push(c);
        }
    }
    let config = GatewayConfig::default().with_provider(upstream(format!("http://{addr}/v1")));
    let server = Server::start(config).await;
    let (status, reply) = server.chat("to-3", user("gpt-4o", "hi")).await;
    assert_eq!(status, 504, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("connect_timeout_ms"),
        "{reply}"
    );
    server.stop().await;
    drop((held, listener));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_request_limit_the_gateway_answers_503_at_once_and_health_stays_up() {
    // Two streams that stall hold the two admissions.
    let mut config = GatewayConfig::default().with_provider(upstream_config(
        stalling_upstream().await,
        "E2E_NO_KEY",
        [60_000, 5_000, 30_000, 30_000],
    ));
    config.limits.max_concurrent_requests = 2;
    let server = Server::start(config).await;
    let mut body = user("gpt-4o", "hi");
    body["stream"] = Value::Bool(true);
    let mut held = Vec::new();
    for i in 0..2 {
        let response = client()
            .post(format!("{}/v1/chat/completions", server.base))
            .header("x-request-id", format!("held-{i}"))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        held.push(response);
    }
    let started = Instant::now();
    let response = client()
        .post(format!("{}/v1/chat/completions", server.base))
        .body(user("gpt-4o", "hi").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert!(started.elapsed() < Duration::from_secs(2), "answered at once");
    assert_eq!(response.headers()["retry-after"], "1");
    let reply: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(reply["error"]["type"], "overloaded", "{reply}");
    assert!(reply["error"]["message"]
        .as_str()
        .unwrap()
        .contains("max_concurrent_requests"));
    let health = client()
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    // The held streams end: their admissions come back.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = client()
            .get(format!("{}/v1/models", server.base))
            .send()
            .await
            .unwrap();
        if response.status().as_u16() != 503 {
            break;
        }
        assert!(Instant::now() < deadline, "admissions were not given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_header_client_is_dropped_and_a_huge_header_gets_431() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut config = GatewayConfig::default();
    config.limits.header_read_timeout_ms = 300;
    let server = Server::start(config).await;
    let addr = server.base.trim_start_matches("http://").to_string();

    // Slowloris: a head that never ends.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the connection was not dropped");
    assert!(started.elapsed() < Duration::from_secs(5));

    // A 1 MB header.
    let mut big = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let _ = big.write_all(head.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), big.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.200}");

    // Ordinary requests are unaffected.
    let (status, _) = server.chat("fine", user("gpt-4o", "hi")).await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_loopback_address_needs_gateway_keys_or_an_explicit_opt_out() {
    let exposed = GatewayConfig::default().with_listen("0.0.0.0:0".parse().unwrap());
    let error = Gateway::bind(exposed.clone()).await.unwrap_err().to_string();
    assert!(
        error.contains("refusing to listen on 0.0.0.0:0 without gateway keys"),
        "{error}"
    );
    assert!(error.contains("--allow-unauthenticated"), "{error}");
    let mut keyed = exposed.clone();
    keyed.keys = vec!["k".into()];
    assert!(Gateway::bind(keyed).await.is_ok());
    let mut open = exposed;
    open.allow_unauthenticated = true;
    assert!(Gateway::bind(open).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_gateway_keys_a_request_without_one_never_reaches_a_plugin() {
    let mut config = config_with(vec![entry("hello", hello_world(), None, 0)]);
    config.keys = vec!["key-one".into(), "key-two".into()];
    let server = Server::start(config).await;
    let chat = |headers: Vec<(&'static str, &'static str)>| {
        let mut request = client()
            .post(format!("{}/v1/chat/completions", server.base))
            .body(user("gpt-4o", "hi").to_string());
        for (k, v) in headers {
            request = request.header(k, v);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let www = response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_string());
            let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
            (status, www, body)
        }
    };
    let (status, www, body) = chat(vec![]).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(www.as_deref(), Some("Bearer"));
    assert_eq!(body["error"]["type"], "unauthorized");
    assert_eq!(chat(vec![("authorization", "Bearer key-nine")]).await.0, 401);
    assert_eq!(chat(vec![("authorization", "Bearer key-two")]).await.0, 200);
    assert_eq!(chat(vec![("x-bf-vk", "key-one")]).await.0, 200);
    // /health answers without a key; /metrics does not.
    assert_eq!(
        client()
            .get(format!("{}/health", server.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client()
            .get(format!("{}/metrics", server.base))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let page = client()
        .get(format!("{}/metrics", server.base))
        .bearer_auth("key-one")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Only the two admitted requests reached the plugin.
    assert!(
        page.contains(
            r#"bifrost_wasm_hook_calls_total{hook="http_pre_hook",outcome="passed",plugin="hello"} 2"#
        ),
        "{page}"
    );
    assert!(page.contains(r#"bifrost_wasm_requests_total{kind="chat_completion",route="/v1/chat/completions",status="401"} 2"#), "{page}");
    server.stop().await;
}

/// An upstream that fails the way its `model` says.
async fn faulty_upstream() -> String {
    use axum::body::Body;
    use axum::routing::post;
    use futures_util::StreamExt as _;

    async fn chat(body: String) -> axum::response::Response {
        let request: Value = serde_json::from_str(&body).unwrap();
        let reply = |status: u16, content_type: &str, body: Body| {
            axum::response::Response::builder()
                .status(status)
                .header("content-type", content_type)
                .body(body)
                .unwrap()
        };
        match request["model"].as_str().unwrap() {
            "json-503" => reply(
                503,
                "application/json",
                Body::from(r#"{"error":{"message":"overloaded","type":"server_error"}}"#),
            ),
            "html-502" => reply(
                502,
                "text/html",
                Body::from("<html><body>Bad gateway</body></html>"),
            ),
            "invalid-json" => reply(200, "application/json", Body::from("not json {")),
            "cut-stream" => {
                let first = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"half \"}}]}\n\n";
                // The first chunk, then (once it is surely out) the connection breaks.
                let pieces = futures_util::stream::unfold(0, move |step| async move {
                    match step {
                        0 => Some((Ok(bytes::Bytes::from(first)), 1)),
                        1 => {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            Some((Err(std::io::Error::other("cut")), 2))
                        }
                        _ => None,
                    }
                });
                reply(200, "text/event-stream", Body::from_stream(pieces))
            }
            "huge" => {
                // 100 MB of JSON-ish bytes, no Content-Length.
                let piece = bytes::Bytes::from(vec![b' '; 1 << 20]);
                let pieces = futures_util::stream::repeat(piece)
                    .take(100)
                    .map(Ok::<_, std::io::Error>);
                reply(200, "application/json", Body::from_stream(pieces))
            }
            other => panic!("no fault {other}"),
        }
    }

    let router = axum::Router::new().route("/v1/chat/completions", post(chat));
    format!("http://{}/v1", serve_upstream(router).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_faults_become_bifrost_errors_the_post_hooks_see() {
    let provider = upstream_config(
        faulty_upstream().await,
        "E2E_NO_KEY",
        [60_000, 5_000, 30_000, 30_000],
    );
    let config = config_with(vec![entry("hello", hello_world(), None, 0)]).with_provider(provider);
    let server = Server::start(config).await;
    for (model, status, error_type, needle) in [
        ("json-503", 503, "server_error", "overloaded"),
        ("html-502", 502, "", "Bad gateway"),
        ("invalid-json", 502, "upstream_invalid_response", "invalid JSON"),
        (
            "huge",
            502,
            "upstream_response_too_large",
            "more than 67108864 bytes",
        ),
    ] {
        let (got, reply) = server.chat(&format!("fault-{model}"), user(model, "hi")).await;
        assert_eq!(got, status, "{model}: {reply}");
        let message = reply["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{model}: {reply}");
        // hello-world's post_hook saw the error.
        assert!(message.ends_with("(via rust plugin)"), "{model}: {reply}");
        if !error_type.is_empty() {
            assert_eq!(reply["error"]["type"], error_type, "{model}: {reply}");
        }
    }
    let mut body = user("cut-stream", "hi");
    body["stream"] = Value::Bool(true);
    let (status, _, data) = server.stream("fault-cut", body).await;
    assert_eq!(status, 200);
    assert!(data[0].contains("half "), "{data:?}");
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["type"], "upstream_stream_broken", "{data:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plugin_that_traps_on_one_request_in_a_hundred_leaves_every_answer_well_formed() {
    // pre_hook echoes, except every 100th call, which traps; the default policy skips it.
    let wat = r#"(module
  (memory (export "memory") 2)
  (data (i32.const 16) "flaky")
  (global $calls (mut i32) (i32.const 0))
  (func (export "malloc") (param $size i32) (result i32)
    (local $need i32) (local $have i32)
    (local.set $need (i32.add (i32.const 65552) (i32.shl (local.get $size) (i32.const 1))))
    (local.set $have (i32.shl (memory.size) (i32.const 16)))
    (if (i32.gt_u (local.get $need) (local.get $have))
      (then (drop (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $need) (local.get $have)) (i32.const 16)) (i32.const 1))))))
    (i32.const 65536))
  (func (export "free") (param i32 i32))
  (func $pack (param $ptr i32) (param $len i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32)) (i64.extend_i32_u (local.get $len))))
  (func (export "get_name") (result i64) (call $pack (i32.const 16) (i32.const 5)))
  (func (export "pre_hook") (param $p i32) (param $l i32) (result i64)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (if (i32.eqz (i32.rem_u (global.get $calls) (i32.const 100))) (then unreachable))
    (memory.copy (i32.add (local.get $p) (local.get $l)) (local.get $p) (local.get $l))
    (call $pack (i32.add (local.get $p) (local.get $l)) (local.get $l)))
)"#;
    let dir = tempfile_dir();
    let path = dir.join("flaky.wat");
    std::fs::write(&path, wat).unwrap();
    let server = Server::start(config_with(vec![entry("flaky", path, None, 0)])).await;
    let base = server.base.clone();
    let clients: Vec<_> = (0..32)
        .map(|c| {
            let base = base.clone();
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                for i in 0..10 {
                    let response = tokio::time::timeout(
                        Duration::from_secs(30),
                        client()
                            .post(format!("{base}/v1/chat/completions"))
                            .body(user("gpt-4o", &format!("m-{c}-{i}")).to_string())
                            .send(),
                    )
                    .await
                    .expect("no request hangs")
                    .unwrap();
                    let status = response.status().as_u16();
                    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap())
                        .expect("every answer is JSON");
                    assert!(
                        body["choices"][0]["message"]["content"] == format!("m-{c}-{i}")
                            || body["error"].is_object(),
                        "{body}"
                    );
                    statuses.push(status);
                }
                statuses
            })
        })
        .collect();
    let mut ok = 0;
    for client in clients {
        for status in client.await.unwrap() {
            assert!(status == 200, "{status}");
            ok += 1;
        }
    }
    assert_eq!(ok, 320);
    // The server kept serving: a last request after the burst.
    assert_eq!(server.chat("after", user("gpt-4o", "still up")).await.0, 200);
    server.stop().await;
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bifrost-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_mid_stream_ends_it_for_the_plugins_at_once() {
    use futures_util::StreamExt as _;
    let record = tempfile_dir().join("disconnect-record");
    let _ = std::fs::remove_dir_all(&record);
    let provider = upstream_config(
        stalling_upstream().await,
        "E2E_NO_KEY",
        [60_000, 5_000, 30_000, 30_000],
    );
    let config = config_with(vec![entry(
        "redact",
        test_support::plugin_wasm("redact"),
        None,
        0,
    )])
    .with_provider(provider)
    .with_record(Some(record.clone()), false);
    let server = Server::start(config).await;
    let mut body = user("gpt-4o", "hi");
    body["stream"] = Value::Bool(true);
    let response = client()
        .post(format!("{}/v1/chat/completions", server.base))
        .header("x-request-id", "leaver")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let mut chunks = response.bytes_stream();
    let first = chunks.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("one "));
    // The upstream stalls (its idle timeout is 30 s); the client leaves now.
    drop(chunks);
    let line = log_line(&[" id=leaver ", "client disconnected after 1 chunk(s)"]);
    assert!(line.contains("redact.http_stream_chunk_hook="), "{line}");
    server.stop().await;
    // redact's stream hook got the end of the stream: an error chunk for this request, which
    // drops what it held for it.
    let records = bifrost_wasm_chain::record::read_dir(&record).unwrap();
    assert!(
        records.iter().any(|r| r.request_id == "leaver"
            && r.hook == "http_stream_chunk_hook"
            && r.input.get().contains("client_disconnected")),
        "{records:#?}"
    );
}

// ----- every request kind -----

impl Server {
    /// Posts `body` to `path`; returns the status, the content type and the body.
    async fn post(&self, path: &str, id: &str, content_type: &str, body: Vec<u8>) -> (u16, String, Vec<u8>) {
        let response = client()
            .post(format!("{}{path}", self.base))
            .header("x-request-id", id)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, content_type, response.bytes().await.unwrap().to_vec())
    }
}

/// A `multipart/form-data` body: `(name, file name, value)` per field.
fn multipart(fields: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "e2e-boundary-7MA4YWxk";
    let mut body = Vec::new();
    for (name, filename, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes(),
        );
        if let Some(f) = filename {
            body.extend_from_slice(
                format!("; filename=\"{f}\"\r\nContent-Type: application/octet-stream").as_bytes(),
            );
        }
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(value);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// `event:` names and `data:` payloads of a server-sent events body, in order.
fn sse_events(body: &[u8]) -> Vec<(Option<String>, String)> {
    String::from_utf8_lossy(body)
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let mut name = None;
            let mut data = String::new();
            for line in e.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n.to_string());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            (name, data)
        })
        .collect()
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// One request per route and shape: `(path, kind, content type, body, check)`.
type KindCase = (&'static str, &'static str, String, Vec<u8>, fn(&str, &[u8]));

fn kind_cases() -> Vec<KindCase> {
    let j = |v: Value| ("application/json".to_string(), v.to_string().into_bytes());
    let mut cases: Vec<KindCase> = Vec::new();
    let (ct, body) = j(user("mock-echo", "chat words"));
    cases.push(("/v1/chat/completions", "chat_completion", ct, body, |_, b| {
        assert_eq!(json(b)["choices"][0]["message"]["content"], "chat words")
    }));
    let (ct, body) = j(
        serde_json::json!({"model": "mock-echo", "prompt": "completion words", "seed": 12345678901234567890u64}),
    );
    cases.push(("/v1/completions", "text_completion", ct, body, |_, b| {
        assert_eq!(json(b)["choices"][0]["text"], "completion words")
    }));
    let (ct, body) = j(serde_json::json!({"model": "mock-embed", "input": ["one", "two"], "dimensions": 4}));
    cases.push(("/v1/embeddings", "embedding", ct, body, |_, b| {
        let v = json(b);
        assert_eq!(v["data"].as_array().unwrap().len(), 2);
        assert_eq!(v["data"][1]["embedding"].as_array().unwrap().len(), 4);
    }));
    let (ct, body) = j(serde_json::json!({"model": "mock-echo", "input": "responses words"}));
    cases.push(("/v1/responses", "responses", ct, body, |_, b| {
        assert_eq!(json(b)["output"][0]["content"][0]["text"], "responses words")
    }));
    let (ct, body) = j(serde_json::json!({"model": "mock-tts", "input": "speech words", "voice": "alloy"}));
    cases.push(("/v1/audio/speech", "speech", ct, body, |ct, b| {
        assert_eq!(ct, "audio/wav");
        assert!(b.starts_with(b"RIFF") && &b[8..12] == b"WAVE");
    }));
    let (ct, body) = multipart(&[
        ("model", None, b"mock-whisper"),
        ("file", Some("note.txt"), b"transcribed words"),
        ("language", None, b"en"),
    ]);
    cases.push(("/v1/audio/transcriptions", "transcription", ct, body, |_, b| {
        assert_eq!(json(b)["text"], "transcribed words")
    }));
    let (ct, body) = j(
        serde_json::json!({"model": "mock-image", "prompt": "a square", "n": 2, "response_format": "b64_json"}),
    );
    cases.push(("/v1/images/generations", "image_generation", ct, body, |_, b| {
        let v = json(b);
        assert_eq!(v["data"].as_array().unwrap().len(), 2);
        let png =
            bifrost_wasm_types::http::decode_base64(v["data"][0]["b64_json"].as_str().unwrap()).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    }));
    let (ct, body) = j(serde_json::json!({
        "model": "mock-echo", "max_tokens": 32, "system": "be brief",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "anthropic words"}]}],
    }));
    cases.push(("/anthropic/v1/messages", "responses", ct, body, |_, b| {
        let v = json(b);
        assert_eq!(v["type"], "message");
        assert_eq!(v["content"][0]["text"], "anthropic words");
    }));
    // Streams.
    let (ct, body) =
        j(serde_json::json!({"model": "mock-echo", "prompt": "streamed completion", "stream": true}));
    cases.push(("/v1/completions", "text_completion_stream", ct, body, |ct, b| {
        assert_eq!(ct, "text/event-stream");
        let events = sse_events(b);
        assert_eq!(events.last().unwrap().1, "[DONE]");
        let text: String = events[..events.len() - 1]
            .iter()
            .map(|(_, d)| {
                json(d.as_bytes())["choices"][0]["text"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(text, "streamed completion");
    }));
    let (ct, body) =
        j(serde_json::json!({"model": "mock-echo", "input": "streamed responses", "stream": true}));
    cases.push(("/v1/responses", "responses_stream", ct, body, |_, b| {
        let events = sse_events(b);
        for (name, data) in &events {
            assert_eq!(name.as_deref(), json(data.as_bytes())["type"].as_str());
        }
        let text: String = events
            .iter()
            .filter(|(n, _)| n.as_deref() == Some("response.output_text.delta"))
            .map(|(_, d)| json(d.as_bytes())["delta"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(text, "streamed responses");
        assert_eq!(events.last().unwrap().0.as_deref(), Some("response.completed"));
    }));
    let (ct, body) =
        j(serde_json::json!({"model": "mock-tts", "input": "streamed speech", "stream_format": "sse"}));
    cases.push(("/v1/audio/speech", "speech_stream", ct, body, |_, b| {
        let events = sse_events(b);
        let audio: Vec<u8> = events
            .iter()
            .filter(|(n, _)| n.as_deref() == Some("speech.audio.delta"))
            .flat_map(|(_, d)| {
                bifrost_wasm_types::http::decode_base64(json(d.as_bytes())["audio"].as_str().unwrap())
                    .unwrap()
            })
            .collect();
        assert!(audio.starts_with(b"RIFF"));
        assert_eq!(events.last().unwrap().0.as_deref(), Some("speech.audio.done"));
    }));
    let (ct, body) = multipart(&[
        ("model", None, b"mock-whisper"),
        ("file", Some("note.txt"), b"streamed transcript"),
        ("stream", None, b"true"),
    ]);
    cases.push((
        "/v1/audio/transcriptions",
        "transcription_stream",
        ct,
        body,
        |_, b| {
            let events = sse_events(b);
            let (name, data) = events.last().unwrap();
            assert_eq!(name.as_deref(), Some("transcript.text.done"));
            assert_eq!(json(data.as_bytes())["text"], "streamed transcript");
        },
    ));
    let (ct, body) = j(serde_json::json!({
        "model": "mock-echo", "max_tokens": 32, "stream": true,
        "messages": [{"role": "user", "content": "streamed anthropic"}],
    }));
    cases.push(("/anthropic/v1/messages", "responses_stream", ct, body, |_, b| {
        let events = sse_events(b);
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
        assert_eq!(names.first(), Some(&"message_start"));
        assert_eq!(names.last(), Some(&"message_stop"));
        let text: String = events
            .iter()
            .filter(|(n, _)| n.as_deref() == Some("content_block_delta"))
            .map(|(_, d)| json(d.as_bytes())["delta"]["text"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(text, "streamed anthropic");
    }));
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_through_one_and_two_plugins_in_every_request_shape() {
    type Chain = fn() -> Vec<PluginEntry>;
    let chains: [(&str, Chain); 2] = [
        ("one", || vec![entry("hello", hello_world(), None, 0)]),
        ("two", || {
            vec![
                entry("hello", hello_world(), None, 0),
                entry("redact", test_support::plugin_wasm("redact"), None, 1),
            ]
        }),
    ];
    for shape in RequestShape::ALL {
        for (chain, plugins) in chains {
            let record = tempfile_dir().join(format!("kinds-{shape}-{chain}"));
            let _ = std::fs::remove_dir_all(&record);
            let config = config_with(plugins())
                .with_request_shape(shape)
                .with_record(Some(record.clone()), false);
            let server = Server::start(config).await;
            let mut sent = Vec::new();
            for (i, (path, kind, content_type, body, check)) in kind_cases().into_iter().enumerate() {
                let id = format!("kinds-{shape}-{chain}-{i}");
                let (status, ct, answer) = server.post(path, &id, &content_type, body).await;
                assert_eq!(
                    status,
                    200,
                    "{path} {kind} {shape}: {}",
                    String::from_utf8_lossy(&answer)
                );
                check(&ct, &answer);
                let log = request_log(&id);
                assert!(log.contains(&format!(" kind={kind} ")), "{log}");
                assert!(
                    log.contains("hello.pre_hook=") && log.contains("hello.post_hook="),
                    "{log}"
                );
                if chain == "two" {
                    assert!(log.contains("redact.pre_hook="), "{log}");
                }
                sent.push((id, kind));
            }
            server.stop().await;
            // What the first plugin's pre_hook got: the Bifrost request of the route's kind,
            // in the configured shape.
            let records = bifrost_wasm_chain::record::read_dir(&record).unwrap();
            for (id, kind) in sent {
                let pre = records
                    .iter()
                    .find(|r| r.request_id == id && r.plugin == "hello" && r.hook == "pre_hook")
                    .unwrap_or_else(|| panic!("no pre_hook record of {id}"));
                let request = &serde_json::from_str::<Value>(pre.input.get()).unwrap()["request"];
                let base = kind.trim_end_matches("_stream");
                let member = match base {
                    "chat_completion" => "ChatRequest",
                    "text_completion" => "TextCompletionRequest",
                    "embedding" => "EmbeddingRequest",
                    "responses" => "ResponsesRequest",
                    "speech" => "SpeechRequest",
                    "transcription" => "TranscriptionRequest",
                    "image_generation" => "ImageGenerationRequest",
                    other => panic!("{other}"),
                };
                let inner = match shape {
                    RequestShape::GoEnvelope => {
                        assert_eq!(request["RequestType"], kind, "{request}");
                        for (key, value) in request.as_object().unwrap() {
                            if key != "RequestType" && key != member {
                                assert!(value.is_null(), "{key} of {kind}: {request}");
                            }
                        }
                        &request[member]
                    }
                    RequestShape::Snake => {
                        let snake = match member {
                            "TextCompletionRequest" => "text_completion_request".to_string(),
                            "ImageGenerationRequest" => "image_generation_request".to_string(),
                            other => other.to_lowercase().replace("request", "_request"),
                        };
                        &request[snake.as_str()]
                    }
                    RequestShape::Flat => request,
                };
                assert!(inner["model"].is_string(), "{kind} {shape}: {request}");
                assert!(!inner["input"].is_null(), "{kind} {shape}: {request}");
                assert_eq!(inner["provider"], "mock");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_circuits_answer_each_route_in_its_own_format_plain_and_streamed() {
    let server = Server::start(config_with(vec![entry("hello", hello_world(), None, 0)])).await;
    let mock = "This is a mock response!";
    let post = |path: &'static str, body: Value| {
        let server = &server;
        async move {
            server
                .post(path, "sc", "application/json", body.to_string().into_bytes())
                .await
        }
    };
    let (_, _, b) = post(
        "/v1/completions",
        serde_json::json!({"model": "mock-model", "prompt": "x"}),
    )
    .await;
    assert_eq!(json(&b)["choices"][0]["text"], mock);
    let (_, _, b) = post(
        "/v1/responses",
        serde_json::json!({"model": "mock-model", "input": "x"}),
    )
    .await;
    assert_eq!(json(&b)["output"][0]["content"][0]["text"], mock);
    let messages = serde_json::json!([{"role": "user", "content": "x"}]);
    let (_, _, b) = post(
        "/anthropic/v1/messages",
        serde_json::json!({"model": "mock-model", "max_tokens": 8, "messages": messages}),
    )
    .await;
    assert_eq!(json(&b)["content"][0]["text"], mock);
    // Streamed: the short-circuit arrives as the route's stream.
    let (_, _, b) = post(
        "/v1/completions",
        serde_json::json!({"model": "mock-model", "prompt": "x", "stream": true}),
    )
    .await;
    let events = sse_events(&b);
    assert_eq!(json(events[0].1.as_bytes())["choices"][0]["text"], mock);
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let (_, _, b) = post(
        "/v1/responses",
        serde_json::json!({"model": "mock-model", "input": "x", "stream": true}),
    )
    .await;
    let events = sse_events(&b);
    let delta = events
        .iter()
        .find(|(n, _)| n.as_deref() == Some("response.output_text.delta"))
        .unwrap();
    assert_eq!(json(delta.1.as_bytes())["delta"], mock);
    let (_, _, b) = post(
        "/anthropic/v1/messages",
        serde_json::json!({"model": "mock-model", "max_tokens": 8, "stream": true, "messages": messages}),
    )
    .await;
    let events = sse_events(&b);
    let delta = events
        .iter()
        .find(|(n, _)| n.as_deref() == Some("content_block_delta"))
        .unwrap();
    assert_eq!(json(delta.1.as_bytes())["delta"]["text"], mock);
    assert_eq!(events.last().unwrap().0.as_deref(), Some("message_stop"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_circuit_of_another_kind_is_a_502_that_says_so() {
    let plugin = entry("chat-only", fixture("chat-short-circuit.wat"), None, 0);
    let server = Server::start(config_with(vec![plugin])).await;
    let (status, _, b) = server
        .post(
            "/v1/embeddings",
            "wrong-kind",
            "application/json",
            br#"{"model":"m","input":"x"}"#.to_vec(),
        )
        .await;
    assert_eq!(status, 502);
    let message = json(&b)["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("holds no embedding response"), "{message}");
    // On the chat route the same answer is right.
    let (status, reply) = server.chat("right-kind", user("m", "x")).await;
    assert_eq!(status, 200);
    assert_eq!(reply["choices"][0]["message"]["content"], "chat only");
    // Anthropic clients get Anthropic's error body.
    let (status, _, b) = server
        .post(
            "/anthropic/v1/messages",
            "wrong-kind-2",
            "application/json",
            br#"{"model":"m","max_tokens":4,"messages":[{"role":"user","content":"x"}]}"#.to_vec(),
        )
        .await;
    assert_eq!(status, 502);
    let error = json(&b);
    assert_eq!(error["type"], "error", "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Anthropic Messages"),
        "{error}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_of_every_route_get_a_400_that_names_the_problem() {
    let server = Server::start(GatewayConfig::default()).await;
    for (path, content_type, body, needle) in [
        (
            "/v1/completions",
            "application/json",
            r#"{"model":"m"}"#,
            "`prompt` is required",
        ),
        (
            "/v1/embeddings",
            "application/json",
            r#"{"model":"m","input":{}}"#,
            "`input` must be a string or an array",
        ),
        (
            "/v1/embeddings",
            "application/json",
            r#"{"model":"m","input":"x","stream":true}"#,
            "do not stream",
        ),
        (
            "/v1/responses",
            "application/json",
            r#"{"model":"m","input":5}"#,
            "`input` must be",
        ),
        (
            "/v1/audio/speech",
            "application/json",
            r#"{"model":"m","input":["x"]}"#,
            "`input` must be a string",
        ),
        (
            "/v1/images/generations",
            "application/json",
            r#"{"prompt":"x"}"#,
            "`model` is required",
        ),
        (
            "/v1/audio/transcriptions",
            "application/json",
            r#"{"model":"m"}"#,
            "multipart/form-data",
        ),
        (
            "/anthropic/v1/messages",
            "application/json",
            r#"{"model":"m","messages":[]}"#,
            "max_tokens",
        ),
        (
            "/anthropic/v1/messages",
            "application/json",
            r#"{"model":"m","#,
            "not valid JSON",
        ),
    ] {
        let (status, _, b) = server
            .post(path, "bad", content_type, body.as_bytes().to_vec())
            .await;
        assert_eq!(status, 400, "{path}: {}", String::from_utf8_lossy(&b));
        assert!(
            String::from_utf8_lossy(&b).contains(needle),
            "{path}: {needle}: {}",
            String::from_utf8_lossy(&b)
        );
    }
    server.stop().await;
}

/// An OpenAI- and Anthropic-compatible upstream that answers with what it received.
async fn echoing_upstream() -> String {
    use axum::body::Body;
    use axum::http::HeaderMap;
    use axum::routing::post;

    fn reply(content_type: &str, body: impl Into<Body>) -> axum::response::Response {
        axum::response::Response::builder()
            .header("content-type", content_type)
            .body(body.into())
            .unwrap()
    }
    async fn json_echo(body: String) -> axum::response::Response {
        let received: Value = serde_json::from_str(&body).unwrap();
        let answer = match received.get("prompt").or(received.get("input")) {
            // A Responses request gets a Responses object.
            Some(Value::Array(items)) if items.first().is_some_and(|i| i.get("role").is_some()) => {
                serde_json::json!({
                    "id": "resp_up", "object": "response", "status": "completed", "model": received["model"],
                    "output": [{"type": "message", "id": "m1", "role": "assistant",
                                "content": [{"type": "output_text", "text": "from the responses upstream"}]}],
                    "usage": {"input_tokens": 1, "output_tokens": 4, "total_tokens": 5},
                    "received": received,
                })
            }
            _ => serde_json::json!({"object": "echo", "model": received["model"], "received": received}),
        };
        reply("application/json", answer.to_string())
    }
    async fn speech(_: String) -> axum::response::Response {
        reply("audio/mpeg", b"ID3-not-really-mp3".to_vec())
    }
    async fn transcription(headers: HeaderMap, body: bytes::Bytes) -> axum::response::Response {
        let content_type = headers["content-type"].to_str().unwrap().to_string();
        let text = format!("{content_type}\n{}", String::from_utf8_lossy(&body));
        reply("text/plain", text)
    }
    async fn messages(headers: HeaderMap, body: String) -> axum::response::Response {
        let received: Value = serde_json::from_str(&body).unwrap();
        let said = format!(
            "key={} version={} model={} max_tokens={}",
            headers.get("x-api-key").map_or("-", |v| v.to_str().unwrap()),
            headers
                .get("anthropic-version")
                .map_or("-", |v| v.to_str().unwrap()),
            received["model"].as_str().unwrap(),
            received["max_tokens"]
        );
        if received["stream"] == Value::Bool(true) {
            let events = [
                (
                    "message_start",
                    serde_json::json!({"type": "message_start", "message": {"id": "msg_up", "type": "message", "role": "assistant", "model": received["model"], "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 3, "output_tokens": 1}}}),
                ),
                (
                    "content_block_start",
                    serde_json::json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                ),
                ("ping", serde_json::json!({"type": "ping"})),
                (
                    "content_block_delta",
                    serde_json::json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "streamed "}}),
                ),
                (
                    "content_block_delta",
                    serde_json::json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": said}}),
                ),
                (
                    "content_block_stop",
                    serde_json::json!({"type": "content_block_stop", "index": 0}),
                ),
                (
                    "message_delta",
                    serde_json::json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 7}}),
                ),
                ("message_stop", serde_json::json!({"type": "message_stop"})),
            ];
            let text: String = events
                .iter()
                .map(|(n, d)| format!("event: {n}\ndata: {d}\n\n"))
                .collect();
            return reply("text/event-stream", text);
        }
        let message = serde_json::json!({
            "id": "msg_up", "type": "message", "role": "assistant", "model": received["model"],
            "content": [{"type": "text", "text": said}], "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 3, "output_tokens": 7}, "x_upstream_extra": 12345678901234567890u64,
        });
        reply("application/json", message.to_string())
    }

    let router = axum::Router::new()
        .route("/v1/completions", post(json_echo))
        .route("/v1/embeddings", post(json_echo))
        .route("/v1/responses", post(json_echo))
        .route("/v1/images/generations", post(json_echo))
        .route("/v1/audio/speech", post(speech))
        .route("/v1/audio/transcriptions", post(transcription))
        .route("/anthropic/v1/messages", post(messages));
    format!("http://{}", serve_upstream(router).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_is_forwarded_to_openai_and_anthropic_compatible_upstreams() {
    let upstream = echoing_upstream().await;
    let mut provider = upstream_config(
        format!("{upstream}/v1"),
        "E2E_NO_KEY",
        [30_000, 5_000, 30_000, 30_000],
    );
    if let ProviderConfig::OpenaiCompatible {
        anthropic_base_url,
        anthropic_api_key_env,
        ..
    } = &mut provider
    {
        *anthropic_base_url = Some(format!("{upstream}/anthropic"));
        *anthropic_api_key_env = "E2E_ANTHROPIC_KEY".into();
    }
    std::env::set_var("E2E_ANTHROPIC_KEY", "sk-ant-e2e");
    let config = config_with(vec![entry("hello", hello_world(), None, 0)]).with_provider(provider);
    let server = Server::start(config).await;
    let body = |v: Value| v.to_string().into_bytes();

    // JSON kinds: the model without its provider prefix, every other member as written.
    for (path, sent, input_key) in [
        (
            "/v1/completions",
            serde_json::json!({"model": "openai/gpt-3.5-turbo-instruct", "prompt": "p", "max_tokens": 5}),
            "prompt",
        ),
        (
            "/v1/embeddings",
            serde_json::json!({"model": "openai/text-embedding-3-small", "input": ["a"], "dimensions": 3}),
            "input",
        ),
        (
            "/v1/images/generations",
            serde_json::json!({"model": "openai/gpt-image-1", "prompt": "p", "size": "1024x1024"}),
            "prompt",
        ),
    ] {
        let (status, _, b) = server
            .post(path, "fwd", "application/json", body(sent.clone()))
            .await;
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&b));
        let received = &json(&b)["received"];
        let mut expected = sent.clone();
        expected["model"] = Value::String(sent["model"].as_str().unwrap().split_once('/').unwrap().1.into());
        assert_eq!(received, &expected, "{path}");
        assert_eq!(received[input_key], sent[input_key]);
    }
    // Responses: a request no plugin changed goes as the client wrote it.
    let (status, _, b) = server
        .post(
            "/v1/responses",
            "fwd-r",
            "application/json",
            body(serde_json::json!({"model": "gpt-4o", "input": "hi", "store": false})),
        )
        .await;
    assert_eq!(status, 200);
    let reply = json(&b);
    assert_eq!(
        reply["received"],
        serde_json::json!({"model": "gpt-4o", "input": "hi", "store": false})
    );
    // Speech: the upstream's bytes and content type, as they came.
    let (status, ct, b) = server
        .post(
            "/v1/audio/speech",
            "fwd-s",
            "application/json",
            body(serde_json::json!({"model": "tts-1", "input": "x", "voice": "alloy"})),
        )
        .await;
    assert_eq!(
        (status, ct.as_str(), b.as_slice()),
        (200, "audio/mpeg", &b"ID3-not-really-mp3"[..])
    );
    // Transcriptions: a multipart upload again, with the file, model and fields.
    let (ct, upload) = multipart(&[
        ("model", None, b"openai/whisper-1"),
        ("file", Some("talk.wav"), b"RIFF-audio-bytes"),
        ("language", None, b"en"),
        ("response_format", None, b"text"),
    ]);
    let (status, answer_ct, b) = server
        .post("/v1/audio/transcriptions", "fwd-t", &ct, upload)
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&b));
    assert_eq!(answer_ct, "text/plain");
    let seen = String::from_utf8_lossy(&b);
    assert!(seen.starts_with("multipart/form-data; boundary="), "{seen}");
    for needle in [
        "name=\"model\"\r\n\r\nwhisper-1",
        "filename=\"talk.wav\"",
        "RIFF-audio-bytes",
        "name=\"language\"\r\n\r\nen",
    ] {
        assert!(seen.contains(needle), "{needle}: {seen}");
    }
    // Anthropic: to the Anthropic-compatible API with its headers; unchanged answers are the
    // upstream's own bytes.
    let anthropic = serde_json::json!({"model": "anthropic/claude-x", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, b) = server
        .post(
            "/anthropic/v1/messages",
            "fwd-a",
            "application/json",
            body(anthropic.clone()),
        )
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&b));
    let reply = json(&b);
    assert_eq!(
        reply["content"][0]["text"],
        "key=sk-ant-e2e version=2023-06-01 model=claude-x max_tokens=50"
    );
    let mut streamed = anthropic.clone();
    streamed["stream"] = Value::Bool(true);
    let (status, _, b) = server
        .post(
            "/anthropic/v1/messages",
            "fwd-as",
            "application/json",
            body(streamed),
        )
        .await;
    assert_eq!(status, 200);
    let events = sse_events(&b);
    let text: String = events
        .iter()
        .filter(|(n, _)| n.as_deref() == Some("content_block_delta"))
        .map(|(_, d)| json(d.as_bytes())["delta"]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        text,
        "streamed key=sk-ant-e2e version=2023-06-01 model=claude-x max_tokens=50"
    );
    assert_eq!(events.last().unwrap().0.as_deref(), Some("message_stop"));
    assert!(
        request_log("fwd-as").contains("hello.post_hook="),
        "{}",
        request_log("fwd-as")
    );
    server.stop().await;

    // Without an Anthropic-compatible API, Anthropic Messages go as a Responses request.
    let provider = upstream_config(
        format!("{upstream}/v1"),
        "E2E_NO_KEY",
        [30_000, 5_000, 30_000, 30_000],
    );
    let server = Server::start(GatewayConfig::default().with_provider(provider)).await;
    let (status, _, b) = server
        .post(
            "/anthropic/v1/messages",
            "fwd-ar",
            "application/json",
            body(anthropic),
        )
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&b));
    let reply = json(&b);
    assert_eq!(reply["type"], "message");
    assert_eq!(reply["content"][0]["text"], "from the responses upstream");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_circuits_of_the_media_kinds_answer_in_their_routes_format() {
    let plugin = entry("kinds", fixture("kind-short-circuit.wat"), None, 0);
    let server = Server::start(config_with(vec![plugin])).await;
    let post = |path: &'static str, content_type: String, body: Vec<u8>| {
        let server = &server;
        async move { server.post(path, "sc-media", &content_type, body).await }
    };
    let j = |v: Value| ("application/json".to_string(), v.to_string().into_bytes());
    let (ct, body) = j(serde_json::json!({"model": "m", "input": "x"}));
    let (status, _, b) = post("/v1/embeddings", ct, body).await;
    assert_eq!(status, 200);
    assert_eq!(json(&b)["data"][0]["embedding"], serde_json::json!([0.5, -0.5]));
    let (ct, body) = j(serde_json::json!({"model": "m", "input": "x", "voice": "alloy"}));
    let (status, content_type, b) = post("/v1/audio/speech", ct, body).await;
    assert_eq!((status, content_type.as_str()), (200, "audio/wav"));
    assert_eq!(b, b"RIFF$\0\0\0WAVE");
    let (ct, body) = j(serde_json::json!({"model": "m", "input": "x", "stream_format": "sse"}));
    let (_, _, b) = post("/v1/audio/speech", ct, body).await;
    let events = sse_events(&b);
    assert_eq!(events[0].0.as_deref(), Some("speech.audio.delta"));
    assert_eq!(json(events[0].1.as_bytes())["audio"], "UklGRiQAAABXQVZF");
    let (ct, body) = multipart(&[("model", None, b"m"), ("file", Some("a.wav"), b"x")]);
    let (_, _, b) = post("/v1/audio/transcriptions", ct, body).await;
    assert_eq!(json(&b)["text"], "short-circuited words");
    let (ct, body) = multipart(&[
        ("model", None, b"m"),
        ("file", Some("a.wav"), b"x"),
        ("response_format", None, b"text"),
    ]);
    let (_, content_type, b) = post("/v1/audio/transcriptions", ct, body).await;
    assert_eq!(
        (content_type.as_str(), b.as_slice()),
        ("text/plain; charset=utf-8", &b"short-circuited words"[..])
    );
    let (ct, body) = multipart(&[
        ("model", None, b"m"),
        ("file", Some("a.wav"), b"x"),
        ("stream", None, b"true"),
    ]);
    let (_, _, b) = post("/v1/audio/transcriptions", ct, body).await;
    let events = sse_events(&b);
    assert_eq!(events.last().unwrap().0.as_deref(), Some("transcript.text.done"));
    assert_eq!(
        json(events.last().unwrap().1.as_bytes())["text"],
        "short-circuited words"
    );
    let (ct, body) = j(serde_json::json!({"model": "m", "prompt": "x"}));
    let (_, _, b) = post("/v1/images/generations", ct, body).await;
    assert_eq!(
        json(&b)["data"][0]["url"],
        "https://example.invalid/short-circuited.png"
    );
    // The other kinds pass this plugin and reach the mock.
    let (status, reply) = server
        .chat("sc-media-chat", user("mock-echo", "still answered"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(reply["choices"][0]["message"]["content"], "still answered");
    server.stop().await;
}
