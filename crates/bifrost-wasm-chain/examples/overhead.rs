//! The chain's own cost, measured interleaved: one request through a chain of one plugin
//! (`RequestRun::new`, `pre_hook` on the 225 B request, `post_hook` on the 1 KB response, flat
//! shape, one shared instance) against the same two hook calls made directly on another
//! instance of the plugin, with the very inputs the chain sent (context included).
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
//! environment only that side runs (`ONLY=canned`: the chain's own work; for a profiler).

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bifrost_wasm_chain::{
    Chain, ChainPlugin, FailurePolicy, LlmResult, PreOutcome, RequestRun, RequestShape,
};
use bifrost_wasm_host::{Hook, HookRunner, Host, HostConfig, HostError, SharedInstance};
use bifrost_wasm_types::bench_inputs::bench_input;
use bifrost_wasm_types::raw::object_entries;
use bifrost_wasm_types::RawJson;

/// `mock: false` keeps hello-world from answering; other plugins ignore it.
const CONFIG: &str = r#"{"mock": false}"#;

fn payload(input: &str, key: &str) -> RawJson {
    let text = bench_input(input).expect("bench input").json;
    let (_, value) = object_entries(text)
        .expect("JSON")
        .into_iter()
        .find(|(k, _)| k == key)
        .expect("member");
    RawJson::from_validated(value)
}

/// A runner that remembers the inputs it was given and the outputs it returned.
struct Recorder {
    inner: SharedInstance,
    inputs: Mutex<Vec<(Hook, Vec<u8>)>>,
    outputs: Mutex<Vec<Vec<u8>>>,
}

/// A runner that answers with recorded outputs, without running any plugin: what is left of
/// a request's time is the chain's own work.
struct Canned {
    name: String,
    pre: Vec<u8>,
    post: Vec<u8>,
}

impl HookRunner for Canned {
    fn plugin_name(&self) -> &str {
        &self.name
    }
    fn implements(&self, hook: Hook) -> bool {
        matches!(hook, Hook::PreHook | Hook::PostHook)
    }
    fn call_hook(&self, _: Hook, _: &[u8]) -> Result<Option<String>, HostError> {
        unreachable!("the chain calls call_hook_into")
    }
    fn call_hook_into(&self, hook: Hook, _: &[u8], out: &mut Vec<u8>) -> Result<bool, HostError> {
        out.extend_from_slice(if hook == Hook::PreHook {
            &self.pre
        } else {
            &self.post
        });
        Ok(true)
    }
}

impl HookRunner for Recorder {
    fn plugin_name(&self) -> &str {
        self.inner.plugin_name()
    }
    fn implements(&self, hook: Hook) -> bool {
        self.inner.implements(hook)
    }
    fn call_hook(&self, hook: Hook, input: &[u8]) -> Result<Option<String>, HostError> {
        self.inputs.lock().unwrap().push((hook, input.to_vec()));
        self.inner.call_hook(hook, input)
    }
    fn call_hook_into(&self, hook: Hook, input: &[u8], out: &mut Vec<u8>) -> Result<bool, HostError> {
        self.inputs.lock().unwrap().push((hook, input.to_vec()));
        let start = out.len();
        let r = self.inner.call_hook_into(hook, input, out);
        self.outputs.lock().unwrap().push(out[start..].to_vec());
        r
    }
}

/// A runner that adds up the time spent inside the plugin's calls.
struct Timed {
    inner: SharedInstance,
    nanos: std::sync::atomic::AtomicU64,
}

impl HookRunner for Timed {
    fn plugin_name(&self) -> &str {
        self.inner.plugin_name()
    }
    fn implements(&self, hook: Hook) -> bool {
        self.inner.implements(hook)
    }
    fn call_hook(&self, hook: Hook, input: &[u8]) -> Result<Option<String>, HostError> {
        self.inner.call_hook(hook, input)
    }
    fn call_hook_into(&self, hook: Hook, input: &[u8], out: &mut Vec<u8>) -> Result<bool, HostError> {
        let started = Instant::now();
        let r = self.inner.call_hook_into(hook, input, out);
        self.nanos.fetch_add(
            started.elapsed().as_nanos() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        r
    }
}

fn one_request(chain: &Arc<Chain>, request: &RawJson, response: &RawJson) -> LlmResult {
    let mut run = RequestRun::new(chain.clone(), "bench-request");
    match run.pre_hook(black_box(request.clone())) {
        PreOutcome::Continue(_) => {}
        PreOutcome::ShortCircuit(_) => panic!("the chain answered instead of the provider"),
    }
    run.post_hook(LlmResult::Response(response.clone()))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let package = args.next().unwrap_or_else(|| "hello-world".to_string());
    let blocks: usize = args.next().map_or(400, |a| a.parse().expect("BLOCKS"));
    let per_block: usize = args.next().map_or(50, |a| a.parse().expect("REQUESTS-PER-BLOCK"));

    let host = Host::new(HostConfig::default().with_pooling_slots(16)).expect("host");
    let plugin = host
        .load_file(test_support::plugin_wasm(&package))
        .unwrap_or_else(|e| panic!("load {package}: {e}"));
    let request = payload("pre_hook_225b", "request");
    let response = payload("post_hook_1kb", "response");

    let runner = Arc::new(Timed {
        inner: SharedInstance::new(&plugin, Some(CONFIG)).expect("instance"),
        nanos: Default::default(),
    });
    let chain = Arc::new(Chain::new(
        vec![ChainPlugin::new(&package, FailurePolicy::Default, runner.clone())],
        RequestShape::Flat,
    ));
    // What the chain sends its plugin, recorded on a warm instance.
    let recorder = Arc::new(Recorder {
        inner: SharedInstance::new(&plugin, Some(CONFIG)).expect("instance"),
        inputs: Mutex::new(Vec::new()),
        outputs: Mutex::new(Vec::new()),
    });
    let recording = Arc::new(Chain::new(
        vec![ChainPlugin::new(
            &package,
            FailurePolicy::Default,
            recorder.clone(),
        )],
        RequestShape::Flat,
    ));
    for _ in 0..10 {
        one_request(&recording, &request, &response);
    }
    let inputs = {
        let mut all = recorder.inputs.lock().unwrap();
        let n = all.len();
        all.split_off(n - 2)
    };
    let outputs = {
        let mut all = recorder.outputs.lock().unwrap();
        let n = all.len();
        all.split_off(n - 2)
    };
    let canned = Arc::new(Chain::new(
        vec![ChainPlugin::new(
            &package,
            FailurePolicy::Default,
            Arc::new(Canned {
                name: package.clone(),
                pre: outputs[0].clone(),
                post: outputs[1].clone(),
            }),
        )],
        RequestShape::Flat,
    ));
    let mut alone = plugin.instantiate(Some(CONFIG)).expect("instance");

    let only = std::env::var("ONLY").unwrap_or_default();
    let run = |side: &str| only.is_empty() || only == side;
    let (run_chain, run_alone, run_canned) = (run("chain"), run("alone"), run("canned"));
    let (mut chain_us, mut alone_us, mut ratios, mut canned_us) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
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
        let started = Instant::now();
        for _ in 0..per_block * usize::from(run_canned) {
            black_box(one_request(&canned, &request, &response));
        }
        let own = started.elapsed().as_secs_f64() * 1e6 / per_block as f64;
        // The first blocks warm caches and allocators.
        if block >= 20 {
            canned_us.push(own);
            chain_us.push(c);
            alone_us.push(a);
            ratios.push(c / a);
        }
    }
    let inside = runner.nanos.load(std::sync::atomic::Ordering::Relaxed) as f64
        / 1e3
        / ((blocks + 20) * per_block * usize::from(run_chain)).max(1) as f64;
    let (c, a, r) = (median(&mut chain_us), median(&mut alone_us), median(&mut ratios));
    println!("(of the chain's time, inside the plugin's calls: {inside:.2} µs per request, mean)");
    println!("plugin {package}: {blocks} blocks of {per_block} requests, interleaved");
    println!("chain of one plugin (pre_hook + post_hook): {c:.2} µs per request (median of blocks)");
    println!("the same hooks called alone:                 {a:.2} µs per request (median of blocks)");
    println!("chain / alone: {r:.3}x (median of per-block ratios)");
    let own = median(&mut canned_us);
    println!("the chain's own work (recorded outputs, no plugin run): {own:.2} µs per request (median)");
    println!("RESULT {{\"plugin\":\"{package}\",\"chain_us\":{c:.3},\"alone_us\":{a:.3},\"ratio\":{r:.4}}}");
}
