//! The SDK next to the baselines, natively, each group measured in the same run:
//!
//! * `hook/<input>`: a whole hook on a built-in benchmark input: hello-world on the SDK
//!   (`Harness::call_raw`: decode, plugin, encode), serde-baseline's hook ([`baselines::typed`]),
//!   value-baseline's hook ([`baselines::value`]), and a bare `serde_json::Value` parse +
//!   serialize of the input (no plugin logic at all).
//! * `decode/<input>`: only reading a `pre_hook`/`post_hook` envelope: serde_json into
//!   serde-baseline's typed input vs into `Value` (the SDK's own decoder is in the SDK's
//!   `sdk` bench).
//!
//! Run: `cargo bench -p baselines --bench versus_sdk`.

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;

use baselines::{typed, value};
use bifrost_wasm_sdk::testing::{hooks, Harness};
use bifrost_wasm_sdk::types::bench_inputs::{BenchInput, BENCH_INPUTS};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hello_world::HelloWorld;
use serde_json::Value;

fn sdk_call(h: &Harness<HelloWorld>, input: &BenchInput) -> String {
    let bytes = input.json.as_bytes();
    match input.hook {
        "pre_hook" => h.call_raw::<hooks::Pre>(bytes),
        "post_hook" => h.call_raw::<hooks::Post>(bytes),
        "http_pre_hook" => h.call_raw::<hooks::HttpPre>(bytes),
        "http_post_hook" => h.call_raw::<hooks::HttpPost>(bytes),
        _ => h.call_raw::<hooks::StreamChunk>(bytes),
    }
}

/// serde-baseline's hook for `hook`.
fn typed_hook(hook: &str) -> fn(&str) -> String {
    match hook {
        "pre_hook" => typed::pre_hook_json,
        "post_hook" => typed::post_hook_json,
        "http_pre_hook" => typed::http_pre_hook_json,
        "http_post_hook" => typed::http_post_hook_json,
        _ => typed::http_stream_chunk_hook_json,
    }
}

/// value-baseline's hook for `hook`.
fn value_hook(hook: &str) -> fn(&str) -> String {
    match hook {
        "pre_hook" => value::pre_hook_json,
        "post_hook" => value::post_hook_json,
        "http_pre_hook" => value::http_pre_hook_json,
        "http_post_hook" => value::http_post_hook_json,
        _ => value::http_stream_chunk_hook_json,
    }
}

fn hook(c: &mut Criterion) {
    let h = Harness::<HelloWorld>::new("{}").expect("init");
    for input in BENCH_INPUTS {
        let mut g = c.benchmark_group(format!("hook/{}", input.name));
        g.throughput(Throughput::Bytes(input.json.len() as u64));
        g.bench_function("sdk", |b| b.iter(|| sdk_call(&h, black_box(input))));
        let serde_baseline = typed_hook(input.hook);
        g.bench_function("serde_typed_baseline", |b| {
            b.iter(|| serde_baseline(black_box(input.json)))
        });
        let value_baseline = value_hook(input.hook);
        g.bench_function("value_baseline", |b| {
            b.iter(|| value_baseline(black_box(input.json)))
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

fn decode(c: &mut Criterion) {
    for input in BENCH_INPUTS
        .iter()
        .filter(|i| i.hook == "pre_hook" || i.hook == "post_hook")
    {
        let mut g = c.benchmark_group(format!("decode/{}", input.name));
        g.throughput(Throughput::Bytes(input.json.len() as u64));
        let id = BenchmarkId::new("serde_typed_baseline", "from_str");
        if input.hook == "pre_hook" {
            g.bench_function(id, |b| {
                b.iter(|| serde_json::from_str::<typed::types::PreHookInput>(black_box(input.json)).unwrap())
            });
        } else {
            g.bench_function(id, |b| {
                b.iter(|| serde_json::from_str::<typed::types::PostHookInput>(black_box(input.json)).unwrap())
            });
        }
        g.bench_function(BenchmarkId::new("serde_value", "from_str"), |b| {
            b.iter(|| serde_json::from_str::<Value>(black_box(input.json)).unwrap())
        });
        g.finish();
    }
}

criterion_group!(benches, hook, decode);
criterion_main!(benches);
