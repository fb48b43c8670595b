//! The SDK's own paths, natively, each next to plain serde_json measured in the same group
//! (whole hooks against the baselines are in `crates/baselines/benches/versus_sdk.rs`):
//!
//! * `pass_through/<input>`: a whole hook of a plugin that overrides nothing (validate and
//!   index the envelope, splice the payloads into the output) vs a `serde_json::Value` parse
//!   and `to_vec` of the same document.
//! * `index/<input>`: the envelope's one validating pass that indexes its top two levels
//!   (`codec::Envelope`) vs serde_json into `Value`.
//! * `validate/<input>`: checking that a document is JSON: the SDK's scanner vs serde_json
//!   (`IgnoredAny`, what the host does with every output).
//!
//! Run: `cargo bench -p bifrost-wasm-sdk --bench sdk`.

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;

use bifrost_wasm_sdk::prelude::*;
use bifrost_wasm_sdk::testing::{hooks, Harness};
use bifrost_wasm_sdk::types::bench_inputs::BENCH_INPUTS;
use bifrost_wasm_sdk::types::codec::Envelope;
use bifrost_wasm_sdk::types::Hook;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// A plugin that overrides no hook: the SDK's floor.
struct Nothing;

impl Plugin for Nothing {
    const NAME: &'static str = "nothing";
    type Config = Value;
    fn new(_: Value) -> HookResult<Self> {
        Ok(Nothing)
    }
}

fn call(h: &Harness<Nothing>, hook: &str, input: &[u8]) -> String {
    match hook {
        "pre_hook" => h.call_raw::<hooks::Pre>(input),
        "post_hook" => h.call_raw::<hooks::Post>(input),
        "http_pre_hook" => h.call_raw::<hooks::HttpPre>(input),
        "http_post_hook" => h.call_raw::<hooks::HttpPost>(input),
        _ => h.call_raw::<hooks::StreamChunk>(input),
    }
}

fn pass_through(c: &mut Criterion) {
    let h = Harness::<Nothing>::new("{}").unwrap();
    for input in BENCH_INPUTS {
        let mut g = c.benchmark_group(format!("pass_through/{}", input.name));
        g.throughput(Throughput::Bytes(input.json.len() as u64));
        g.bench_function("sdk", |b| {
            b.iter(|| call(&h, input.hook, black_box(input.json.as_bytes())))
        });
        g.bench_function("serde_value_round_trip", |b| {
            b.iter(|| {
                let v: Value = serde_json::from_str(black_box(input.json)).unwrap();
                serde_json::to_vec(&v).unwrap()
            })
        });
        g.finish();
    }
}

fn index(c: &mut Criterion) {
    for input in BENCH_INPUTS {
        let hook: Hook = input.hook.parse().unwrap();
        let mut g = c.benchmark_group(format!("index/{}", input.name));
        g.throughput(Throughput::Bytes(input.json.len() as u64));
        g.bench_function("sdk_envelope", |b| {
            b.iter(|| {
                Envelope::parse(hook, black_box(input.json.as_bytes()))
                    .unwrap()
                    .get("context")
                    .is_some()
            })
        });
        g.bench_function("serde_value", |b| {
            b.iter(|| serde_json::from_str::<Value>(black_box(input.json)).unwrap())
        });
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

criterion_group!(benches, pass_through, index, validate);
criterion_main!(benches);
