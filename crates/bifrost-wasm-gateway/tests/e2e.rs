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

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            axum::Router::new().route("/v1/chat/completions", post(chat)),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}/v1")
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

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            axum::Router::new().route("/v1/chat/completions", post(chat)),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}/v1")
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

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            axum::Router::new().route("/v1/chat/completions", post(chat)),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}/v1")
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
