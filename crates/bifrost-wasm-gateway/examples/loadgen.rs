//! A bounded loopback load generator for the gateway.
//!
//! Opens `--concurrency` keep-alive HTTP/1.1 connections, each sending chat completions one after
//! another until `--duration` seconds have passed (or `--requests` per connection were sent). Every
//! request carries a unique marker as its user message; the mock provider echoes it, so a response
//! that is lost, fails, or carries another request's marker is counted as an error. Prints
//! requests/s and latency percentiles, and a machine-readable `RESULT {json}` line; exits non-zero
//! when any request failed or was mixed up.
//!
//! ```text
//! cargo run --release -p bifrost-wasm-gateway --example loadgen -- \
//!     --url http://127.0.0.1:8080/v1/chat/completions --concurrency 32 --duration 5
//! ```
//!
//! Only loopback addresses are accepted.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

struct Args {
    addr: SocketAddr,
    path: String,
    concurrency: usize,
    duration: Duration,
    requests: Option<u64>,
    model: String,
    label: String,
    /// Every Nth request of a connection asks for a stream (0: none).
    stream_every: u64,
}

fn usage() -> ! {
    eprintln!(
        "usage: loadgen --url http://127.0.0.1:PORT/v1/chat/completions [--concurrency N] [--duration SECS] [--requests N-per-connection] [--model NAME] [--label TEXT] [--stream-every N]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut url = None;
    let mut concurrency = 32;
    let mut duration = 5.0f64;
    let mut requests = None;
    let mut model = "mock-echo".to_string();
    let mut label = String::new();
    let mut stream_every = 0;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--url" => url = Some(value()),
            "--concurrency" | "-c" => concurrency = value().parse().unwrap_or_else(|_| usage()),
            "--duration" | "-d" => duration = value().parse().unwrap_or_else(|_| usage()),
            "--requests" | "-n" => requests = Some(value().parse().unwrap_or_else(|_| usage())),
            "--model" => model = value(),
            "--label" => label = value(),
            "--stream-every" => stream_every = value().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let url = url.unwrap_or_else(|| usage());
    let rest = url.strip_prefix("http://").unwrap_or_else(|| usage());
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/v1/chat/completions".to_string()),
    };
    let addr: SocketAddr = host.parse().unwrap_or_else(|_| {
        eprintln!("--url must name a loopback IP address and port, e.g. 127.0.0.1:8080");
        std::process::exit(2)
    });
    if !addr.ip().is_loopback() {
        eprintln!("refusing to send load to {addr}: only loopback addresses are allowed");
        std::process::exit(2);
    }
    if !(1..=1024).contains(&concurrency) || !(0.1..=120.0).contains(&duration) {
        eprintln!("--concurrency must be 1..=1024 and --duration 0.1..=120 seconds");
        std::process::exit(2);
    }
    Args {
        addr,
        path,
        concurrency,
        duration: Duration::from_secs_f64(duration),
        requests,
        model,
        label,
        stream_every,
    }
}

#[derive(Default)]
struct WorkerResult {
    latencies_us: Vec<u64>,
    errors: u64,
    mixed_up: u64,
    first_error: Option<String>,
}

async fn worker(id: usize, args: &Args, deadline: Instant) -> WorkerResult {
    let mut out = WorkerResult::default();
    let stream = match tokio::net::TcpStream::connect(args.addr).await {
        Ok(s) => s,
        Err(e) => {
            out.errors += 1;
            out.first_error = Some(format!("connect: {e}"));
            return out;
        }
    };
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
        Ok(v) => v,
        Err(e) => {
            out.errors += 1;
            out.first_error = Some(format!("handshake: {e}"));
            return out;
        }
    };
    tokio::spawn(conn);
    let mut seq = 0u64;
    while Instant::now() < deadline && args.requests.is_none_or(|n| seq < n) {
        seq += 1;
        let marker = format!("lg-{id}-{seq}");
        let stream = args.stream_every > 0 && seq.is_multiple_of(args.stream_every);
        let body = format!(
            r#"{{"model":"{}","stream":{stream},"messages":[{{"role":"user","content":"{marker}"}}]}}"#,
            args.model
        );
        let request = Request::post(args.path.as_str())
            .header("host", args.addr.to_string())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("valid request");
        let started = Instant::now();
        let result = async {
            sender.ready().await.map_err(|e| format!("connection: {e}"))?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| format!("send: {e}"))?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("body: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, body))
        }
        .await;
        let elapsed = started.elapsed();
        match result {
            Ok((status, body)) if status.is_success() => {
                out.latencies_us.push(elapsed.as_micros() as u64);
                // A stream's chunk may carry the word with a space; it must also end.
                let expected = if stream {
                    format!("\"content\":\"{marker}")
                } else {
                    format!("\"content\":\"{marker}\"")
                };
                let complete = !stream || body.ends_with(b"data: [DONE]\n\n");
                if !complete || !body.windows(expected.len()).any(|w| w == expected.as_bytes()) {
                    out.mixed_up += 1;
                    out.first_error.get_or_insert_with(|| {
                        format!(
                            "response to {marker} lacks it: {}",
                            String::from_utf8_lossy(&body)
                        )
                    });
                }
            }
            Ok((status, body)) => {
                out.errors += 1;
                out.first_error
                    .get_or_insert_with(|| format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
            }
            Err(e) => {
                out.errors += 1;
                out.first_error.get_or_insert(e);
                break;
            }
        }
    }
    out
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() {
    let args = parse_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let args = std::sync::Arc::new(args);
    let started = Instant::now();
    let deadline = started + args.duration;
    let results: Vec<WorkerResult> = runtime.block_on(async {
        let handles: Vec<_> = (0..args.concurrency)
            .map(|id| {
                let args = args.clone();
                tokio::spawn(async move { worker(id, &args, deadline).await })
            })
            .collect();
        let mut results = Vec::new();
        for h in handles {
            results.push(h.await.expect("worker task"));
        }
        results
    });
    let elapsed = started.elapsed();
    let mut latencies: Vec<u64> = results
        .iter()
        .flat_map(|r| r.latencies_us.iter().copied())
        .collect();
    latencies.sort_unstable();
    let ok = latencies.len() as u64;
    let errors: u64 = results.iter().map(|r| r.errors).sum();
    let mixed_up: u64 = results.iter().map(|r| r.mixed_up).sum();
    let rps = ok as f64 / elapsed.as_secs_f64();
    let (p50, p90, p99, max) = (
        percentile(&latencies, 50.0),
        percentile(&latencies, 90.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or(0),
    );
    println!(
        "{}{} requests ok, {errors} failed, {mixed_up} mixed up in {:.2}s over {} connections: {rps:.0} req/s, latency p50 {p50} us, p90 {p90} us, p99 {p99} us, max {max} us",
        if args.label.is_empty() { String::new() } else { format!("[{}] ", args.label) },
        ok,
        elapsed.as_secs_f64(),
        args.concurrency
    );
    println!(
        "RESULT {{\"label\":{:?},\"ok\":{ok},\"failed\":{errors},\"mixed_up\":{mixed_up},\"seconds\":{:.3},\"concurrency\":{},\"rps\":{rps:.1},\"p50_us\":{p50},\"p90_us\":{p90},\"p99_us\":{p99},\"max_us\":{max}}}",
        args.label,
        elapsed.as_secs_f64(),
        args.concurrency
    );
    if let Some(e) = results.iter().find_map(|r| r.first_error.clone()) {
        eprintln!("first problem: {e}");
    }
    if errors > 0 || mixed_up > 0 || ok == 0 {
        std::process::exit(1);
    }
}
