//! What a request through the chain costs, per number of plugins:
//!
//! * `chain/<plugin>/<n>`: one request through a chain of `n` instances of one plugin, as the
//!   gateway runs it (`RequestRun::new`, `pre_hook` on the 225 B request, `post_hook` on the
//!   1 KB response, flat request shape, one shared instance per plugin); `n` = 0 is the
//!   chain's own floor.
//!
//! The chain's overhead against the same hooks called alone is measured interleaved by the
//! `overhead` example (`cargo run --release -p bifrost-wasm-chain --example overhead`).
//!
//! Run: `cargo bench -p bifrost-wasm-chain --bench chain`.

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::sync::Arc;

use bifrost_wasm_chain::{Chain, ChainPlugin, FailurePolicy, RequestShape};
use bifrost_wasm_host::{Host, HostConfig, SharedInstance};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

mod support;

use support::{one_request, request_and_response, CONFIG};

fn chain(c: &mut Criterion) {
    let host = Host::new(HostConfig::default().with_pooling_slots(64)).expect("host");
    let (request, response) = request_and_response();
    let mut g = c.benchmark_group("chain");
    for package in ["hello-world", "serde-baseline"] {
        let plugin = host
            .load_file(test_support::plugin_wasm(package))
            .unwrap_or_else(|e| panic!("load {package}: {e}"));
        for n in [0usize, 1, 2, 4, 8] {
            let plugins = (0..n)
                .map(|i| {
                    let runner = SharedInstance::new(&plugin, Some(CONFIG)).expect("instance");
                    ChainPlugin::new(format!("{package}-{i}"), FailurePolicy::Default, Arc::new(runner))
                })
                .collect();
            let chain = Arc::new(Chain::new(plugins, RequestShape::Flat));
            g.bench_with_input(BenchmarkId::new(package, n), &n, |b, _| {
                b.iter(|| one_request(&chain, &request, &response))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, chain);
criterion_main!(benches);
