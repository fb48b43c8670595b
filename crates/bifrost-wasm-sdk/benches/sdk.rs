//! The SDK's decode / encode paths, natively, each next to plain serde_json measured in the
//! same group (whole hooks against the baselines are in `crates/baselines/benches/versus_sdk.rs`):
//!
//! * `decode/<input>`: only the envelope decoding (`wire::DecodeInput`) vs serde_json into
//!   `Value`.
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
use bifrost_wasm_sdk::types::bench_inputs::BENCH_INPUTS;
use bifrost_wasm_sdk::types::wire::{DecodeInput, EncodeOutput};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

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
        } else {
            g.bench_function(BenchmarkId::new("sdk", "wire"), |b| {
                b.iter(|| PostHookInput::decode("post_hook", black_box(bytes)).unwrap())
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

criterion_group!(benches, decode_encode, validate);
criterion_main!(benches);
