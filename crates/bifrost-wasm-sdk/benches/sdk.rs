//! The SDK's decode / run / encode paths, natively, each next to plain serde_json baselines
//! measured in the same group:
//!
//! * `hook/<input>`: a whole hook as the wasm export runs it (`Harness::call_raw`: decode,
//!   plugin, encode) for a plugin with hello-world's default behaviours, vs `serde_baseline`
//!   (the upstream example's typed-serde approach, same behaviours) and vs a bare
//!   `serde_json::Value` parse + serialize of the input (no plugin logic at all).
//! * `decode/<input>`: only the envelope decoding (`wire::DecodeInput`) vs serde_json into the
//!   baseline's typed input and into `Value`.
//! * `encode/<input>`: only writing the pass-through output (`wire::EncodeOutput`) vs
//!   `serde_json::to_vec` of the same output (the envelope types' serde derive).
//!
//! * `validate/<input>`: checking that a document is JSON: the SDK's scanner vs serde_json
//!   (`IgnoredAny`, what the host does with every output).
//!
//! Run: `cargo bench -p bifrost-wasm-sdk --bench sdk`.

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;

use bifrost_wasm_sdk::prelude::*;
use bifrost_wasm_sdk::testing::{hooks, Harness};
use bifrost_wasm_sdk::types::bench_inputs::{BenchInput, BENCH_INPUTS};
use bifrost_wasm_sdk::types::wire::{DecodeInput, EncodeOutput};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// hello-world's default behaviours, written against the SDK.
struct Marker;

impl Plugin for Marker {
    const NAME: &'static str = "marker";
    type Config = Value;

    fn new(_: Value) -> HookResult<Self> {
        Ok(Marker)
    }

    fn http_pre_hook(&mut self, mut input: HttpPreHookInput) -> HookResult<HttpPreHookOutput> {
        input.context.set_value("http_pre_hook_seen", true);
        Ok(input.pass_through())
    }

    fn pre_hook(&mut self, mut input: PreHookInput) -> HookResult<PreHookOutput> {
        input.context.set_value("plugin_processed", true);
        input.context.set_value("plugin_name", "hello-world-wasm-rust");
        if input.request.model().as_deref() == Some("mock-model") {
            let id = input.context.request_id().unwrap_or_default().to_string();
            let response = BifrostChatResponse {
                id: format!("mock-{id}"),
                model: "mock-model".into(),
                choices: vec![ResponseChoice {
                    index: 0,
                    message: Some(ChatMessage::text(
                        ChatMessageRole::Assistant,
                        "This is a mock response!",
                    )),
                    finish_reason: Some("stop".into()),
                    ..Default::default()
                }],
                usage: Some(LLMUsage::new(10, 15, 25)),
                ..Default::default()
            };
            return Ok(input.short_circuit_response(&response)?);
        }
        Ok(input.pass_through())
    }

    fn post_hook(&mut self, mut input: PostHookInput) -> HookResult<PostHookOutput> {
        input.context.set_value("post_hook_completed", true);
        if let Some(model) = input.response.chat_field_str("model") {
            input
                .response
                .set_chat_field("model", &format!("{model} (via rust-wasm)"))?;
        }
        Ok(input.pass_through())
    }

    fn http_post_hook(&mut self, mut input: HttpPostHookInput) -> HookResult<HttpPostHookOutput> {
        input.context.set_value("http_post_hook_seen", true);
        Ok(input.pass_through())
    }

    fn http_stream_chunk_hook(&mut self, mut input: StreamChunkInput) -> HookResult<StreamChunkOutput> {
        let seen = input.context.get_i64("stream_chunks_seen").unwrap_or(0);
        input.context.set_value("stream_chunks_seen", seen + 1);
        Ok(input.pass_through())
    }
}

fn sdk_call(h: &Harness<Marker>, input: &BenchInput) -> String {
    let bytes = input.json.as_bytes();
    match input.hook {
        "pre_hook" => h.call_raw::<hooks::Pre>(bytes),
        "post_hook" => h.call_raw::<hooks::Post>(bytes),
        "http_pre_hook" => h.call_raw::<hooks::HttpPre>(bytes),
        "http_post_hook" => h.call_raw::<hooks::HttpPost>(bytes),
        _ => h.call_raw::<hooks::StreamChunk>(bytes),
    }
}

fn baseline_call(input: &BenchInput) -> String {
    match input.hook {
        "pre_hook" => serde_baseline::pre_hook_json(input.json),
        "post_hook" => serde_baseline::post_hook_json(input.json),
        "http_pre_hook" => serde_baseline::http_pre_hook_json(input.json),
        "http_post_hook" => serde_baseline::http_post_hook_json(input.json),
        _ => serde_baseline::http_stream_chunk_hook_json(input.json),
    }
}

fn hook(c: &mut Criterion) {
    let h = Harness::<Marker>::new("{}").expect("init");
    for input in BENCH_INPUTS {
        let mut g = c.benchmark_group(format!("hook/{}", input.name));
        g.throughput(Throughput::Bytes(input.json.len() as u64));
        g.bench_function("sdk", |b| b.iter(|| sdk_call(&h, black_box(input))));
        g.bench_function("serde_typed_baseline", |b| {
            b.iter(|| baseline_call(black_box(input)))
        });
        g.bench_function("serde_value_roundtrip", |b| {
            b.iter(|| {
                let v: Value = serde_json::from_str(black_box(input.json)).unwrap();
                serde_json::to_vec(&v).unwrap()
            })
        });
        g.finish();
    }
}

fn decode_encode(c: &mut Criterion) {
    for input in BENCH_INPUTS
        .iter()
        .filter(|i| i.hook == "pre_hook" || i.hook == "post_hook")
    {
        let bytes = input.json.as_bytes();
        let mut g = c.benchmark_group(format!("decode/{}", input.name));
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        if input.hook == "pre_hook" {
            g.bench_function(BenchmarkId::new("sdk", "wire"), |b| {
                b.iter(|| PreHookInput::decode("pre_hook", black_box(bytes)).unwrap())
            });
            g.bench_function(BenchmarkId::new("serde_typed_baseline", "from_str"), |b| {
                b.iter(|| {
                    serde_json::from_str::<serde_baseline::types::PreHookInput>(black_box(input.json))
                        .unwrap()
                })
            });
        } else {
            g.bench_function(BenchmarkId::new("sdk", "wire"), |b| {
                b.iter(|| PostHookInput::decode("post_hook", black_box(bytes)).unwrap())
            });
            g.bench_function(BenchmarkId::new("serde_typed_baseline", "from_str"), |b| {
                b.iter(|| {
                    serde_json::from_str::<serde_baseline::types::PostHookInput>(black_box(input.json))
                        .unwrap()
                })
            });
        }
        g.bench_function(BenchmarkId::new("serde_value", "from_str"), |b| {
            b.iter(|| serde_json::from_str::<Value>(black_box(input.json)).unwrap())
        });
        g.finish();

        let mut g = c.benchmark_group(format!("encode/{}", input.name));
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        if input.hook == "pre_hook" {
            let out = PreHookInput::decode("pre_hook", bytes).unwrap().pass_through();
            g.bench_function("sdk_wire", |b| b.iter(|| black_box(&out).to_json()));
            g.bench_function("serde_json_to_vec", |b| {
                b.iter(|| serde_json::to_vec(black_box(&out)).unwrap())
            });
        } else {
            let out = PostHookInput::decode("post_hook", bytes).unwrap().pass_through();
            g.bench_function("sdk_wire", |b| b.iter(|| black_box(&out).to_json()));
            g.bench_function("serde_json_to_vec", |b| {
                b.iter(|| serde_json::to_vec(black_box(&out)).unwrap())
            });
        }
        g.finish();
    }
}

/// Validating a whole document: the scanner the SDK uses vs serde_json (what a host does to
/// every hook output).
fn validate(c: &mut Criterion) {
    for input in BENCH_INPUTS {
        let mut g = c.benchmark_group(format!("validate/{}", input.name));
        g.throughput(Throughput::Bytes(input.json.len() as u64));
        g.bench_function("sdk_scan", |b| {
            b.iter(|| bifrost_wasm_sdk::types::scan::validate(black_box(input.json)).unwrap())
        });
        g.bench_function("serde_json_ignored_any", |b| {
            b.iter(|| serde_json::from_str::<serde::de::IgnoredAny>(black_box(input.json)).unwrap())
        });
        g.finish();
    }
}

criterion_group!(benches, hook, decode_encode, validate);
criterion_main!(benches);
