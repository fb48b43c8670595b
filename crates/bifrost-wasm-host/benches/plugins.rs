//! Real plugins through the host, each next to a baseline measured in the same run:
//!
//! * `hook/<input>`: one warm `PluginInstance::call` per built-in benchmark input
//!   (`bifrost_wasm_types::bench_inputs`) for `hello-world` (the SDK), `serde-baseline` (the
//!   upstream example's typed-serde approach) and `pass-through` (the SDK with no plugin
//!   logic: its floor). `bifrost-wasm bench` measures the same pairs interleaved.
//!
//! The plugin chain's own cost is measured in `bifrost-wasm-chain`'s `chain` bench.
//!
//! Run: `cargo bench -p bifrost-wasm-host --bench plugins`.

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;

use bifrost_wasm_host::{Hook, Host, HostConfig, LoadedPlugin};
use bifrost_wasm_types::bench_inputs::BENCH_INPUTS;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

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

criterion_group!(benches, hook);
criterion_main!(benches);
