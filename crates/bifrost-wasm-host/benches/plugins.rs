//! Real plugins through the host, each next to a baseline measured in the same run:
//!
//! * `hook/<input>`: one warm `PluginInstance::call` per built-in benchmark input
//!   (`bifrost_wasm_types::bench_inputs`) for `hello-world` (the SDK), `serde-baseline` (the
//!   upstream example's typed-serde approach) and `pass-through` (the SDK with no plugin
//!   logic: its floor). `bifrost-wasm bench` measures the same pairs interleaved.
//! * `chain/<plugin>/<n>`: a request through a chain of `n` instances of one plugin, as the
//!   gateway runs it (`RequestRun::pre_hook` then `post_hook`, flat request shape), for
//!   `n` = 1, 2, 4, 8; `n` = 0 is the chain's own cost.
//!
//! Run: `cargo bench -p bifrost-wasm-host --bench plugins`.

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use bifrost_wasm_host::chain::{Chain, ChainPlugin, LlmResult, PreOutcome, RequestRun};
use bifrost_wasm_host::config::FailurePolicy;
use bifrost_wasm_host::{Hook, Host, HostConfig, LoadedPlugin, SharedInstance};
use bifrost_wasm_types::bench_inputs::{bench_input, BENCH_INPUTS};
use bifrost_wasm_types::{RawJson, RequestShape};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const PLUGINS: [&str; 3] = ["hello-world", "serde-baseline", "pass-through"];

fn host() -> Host {
    Host::new(HostConfig::default().with_pooling_slots(64)).expect("host")
}

fn load(host: &Host, package: &str) -> LoadedPlugin {
    host.load_file(test_support::plugin_wasm(package))
        .unwrap_or_else(|e| panic!("load {package}: {e}"))
}

fn hook(c: &mut Criterion) {
    let host = host();
    let mut instances: Vec<_> = PLUGINS
        .iter()
        .map(|p| (*p, load(&host, p).instantiate(None).expect("instantiate")))
        .collect();
    for input in BENCH_INPUTS {
        let hook = Hook::from_export_name(input.hook).expect("known hook");
        let mut g = c.benchmark_group(format!("hook/{}", input.name));
        g.throughput(Throughput::Bytes(input.json.len() as u64));
        for (name, instance) in &mut instances {
            g.bench_function(*name, |b| {
                b.iter(|| {
                    instance
                        .call(hook, black_box(input.json.as_bytes()))
                        .expect("call")
                })
            });
        }
        g.finish();
    }
}

fn payload(input: &str, key: &str) -> RawJson {
    let text = bench_input(input).expect("bench input").json;
    let value: serde_json::Value = serde_json::from_str(text).expect("JSON");
    RawJson::from_string(value[key].to_string()).expect("payload")
}

fn chain(c: &mut Criterion) {
    let host = host();
    let request = payload("pre_hook_225b", "request");
    let response = payload("post_hook_1kb", "response");
    let mut g = c.benchmark_group("chain");
    for package in ["hello-world", "serde-baseline"] {
        let plugin = load(&host, package);
        for n in [0usize, 1, 2, 4, 8] {
            let plugins = (0..n)
                .map(|i| {
                    // `mock: false` keeps hello-world from answering; the baseline ignores it.
                    let runner = SharedInstance::new(&plugin, Some(r#"{"mock": false}"#)).expect("instance");
                    ChainPlugin::new(format!("{package}-{i}"), FailurePolicy::Default, Arc::new(runner))
                })
                .collect();
            let chain = Arc::new(Chain::new(plugins, RequestShape::Flat));
            g.bench_with_input(BenchmarkId::new(package, n), &n, |b, _| {
                b.iter(|| {
                    let mut run = RequestRun::new(chain.clone(), "bench-request");
                    match run.pre_hook(black_box(request.clone())) {
                        PreOutcome::Continue(_) => {}
                        PreOutcome::ShortCircuit(_) => panic!("the chain answered instead of the provider"),
                    }
                    run.post_hook(LlmResult::Response(response.clone()))
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, hook, chain);
criterion_main!(benches);
