//! The chain's own cost, measured interleaved: one request through a chain of one plugin
//! (`RequestRun::new`, `pre_hook` on the 225 B request, `post_hook` on the 1 KB response, flat
//! shape, one shared instance) against the same two hook calls made directly on another
//! instance of the plugin (`PluginInstance::call`), with the very inputs the chain sent
//! (context included).
//!
//! The two alternate in short blocks, so a busy machine slows both alike; the result is the
//! median over blocks of each side's time per request, and the median of the per-block ratios.
//!
//! ```text
//! cargo run --release -p bifrost-wasm-chain --example overhead -- [PLUGIN] [BLOCKS] [REQUESTS-PER-BLOCK]
//! ```
//!
//! `PLUGIN` is a workspace plugin package (default `hello-world`); prints one line per measure
//! and a machine-readable `RESULT {json}` line. With `ONLY=chain` or `ONLY=alone` in the
//! environment only that side runs (for a profiler).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use bifrost_wasm_chain::{Chain, ChainPlugin, FailurePolicy, RequestShape};
use bifrost_wasm_host::{Host, HostConfig, SharedInstance};

#[path = "../benches/support/mod.rs"]
mod support;

use support::{one_request, request_and_response, Recorder, CONFIG};

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let package = args.next().unwrap_or_else(|| "hello-world".to_string());
    let blocks: usize = args.next().map_or(400, |a| a.parse().expect("BLOCKS"));
    let per_block: usize = args.next().map_or(50, |a| a.parse().expect("REQUESTS-PER-BLOCK"));
    let only = std::env::var("ONLY").unwrap_or_default();
    let (run_chain, run_alone) = (only != "alone", only != "chain");

    let host = Host::new(HostConfig::default().with_pooling_slots(16)).expect("host");
    let plugin = host
        .load_file(test_support::plugin_wasm(&package))
        .unwrap_or_else(|e| panic!("load {package}: {e}"));
    let (request, response) = request_and_response();
    let one = |runner: Arc<dyn bifrost_wasm_host::HookRunner>| {
        Arc::new(Chain::new(
            vec![ChainPlugin::new(&package, FailurePolicy::Default, runner)],
            RequestShape::Flat,
        ))
    };
    let chain = one(Arc::new(
        SharedInstance::new(&plugin, Some(CONFIG)).expect("instance"),
    ));
    // What the chain sends its plugin, recorded on a warm instance.
    let recorder = Arc::new(Recorder::new(
        SharedInstance::new(&plugin, Some(CONFIG)).expect("instance"),
    ));
    let recording = one(recorder.clone());
    for _ in 0..10 {
        one_request(&recording, &request, &response);
    }
    let inputs = recorder.last(2);
    let mut alone = plugin.instantiate(Some(CONFIG)).expect("instance");

    let (mut chain_us, mut alone_us, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for block in 0..blocks + 20 {
        let started = Instant::now();
        for _ in 0..per_block * usize::from(run_chain) {
            black_box(one_request(&chain, &request, &response));
        }
        let c = started.elapsed().as_secs_f64() * 1e6 / per_block as f64;
        let started = Instant::now();
        for _ in 0..per_block * usize::from(run_alone) {
            for (hook, input) in &inputs {
                black_box(alone.call(*hook, black_box(input)).expect("call"));
            }
        }
        let a = started.elapsed().as_secs_f64() * 1e6 / per_block as f64;
        // The first blocks warm caches and allocators.
        if block >= 20 {
            chain_us.push(c);
            alone_us.push(a);
            ratios.push(c / a);
        }
    }
    let (c, a, r) = (median(&mut chain_us), median(&mut alone_us), median(&mut ratios));
    println!("plugin {package}: {blocks} blocks of {per_block} requests, interleaved");
    println!("chain of one plugin (pre_hook + post_hook): {c:.2} µs per request (median of blocks)");
    println!("the same hooks called alone:                 {a:.2} µs per request (median of blocks)");
    println!("chain / alone: {r:.3}x (median of per-block ratios)");
    println!("RESULT {{\"plugin\":\"{package}\",\"chain_us\":{c:.3},\"alone_us\":{a:.3},\"ratio\":{r:.4}}}");
}
