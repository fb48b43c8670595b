//! What the chain itself costs, next to the same hook calls made directly, in the same run:
//!
//! * `chain/<plugin>/<n>`: one request through a chain of `n` instances of one plugin, as the
//!   gateway runs it (`RequestRun::new`, `pre_hook` on the 225 B request, `post_hook` on the
//!   1 KB response, flat request shape, one shared instance per plugin); `n` = 0 is the
//!   chain's own floor.
//! * `alone/<plugin>`: the very inputs the chain sent to its one plugin in `chain/<plugin>/1`
//!   (recorded once, context included), sent straight to an instance with
//!   `PluginInstance::call`: the hooks called alone. `chain/<plugin>/1` ÷ `alone/<plugin>` is
//!   the chain's overhead.
//!
//! Run: `cargo bench -p bifrost-wasm-chain --bench chain`.

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::{Arc, Mutex};

use bifrost_wasm_chain::{
    Chain, ChainPlugin, FailurePolicy, LlmResult, PreOutcome, RequestRun, RequestShape,
};
use bifrost_wasm_host::{Hook, HookRunner, Host, HostConfig, HostError, LoadedPlugin, SharedInstance};
use bifrost_wasm_types::bench_inputs::bench_input;
use bifrost_wasm_types::raw::object_entries;
use bifrost_wasm_types::RawJson;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

/// `mock: false` keeps hello-world from answering; the baseline ignores it.
const CONFIG: &str = r#"{"mock": false}"#;

fn host() -> Host {
    Host::new(HostConfig::default().with_pooling_slots(64)).expect("host")
}

fn load(host: &Host, package: &str) -> LoadedPlugin {
    host.load_file(test_support::plugin_wasm(package))
        .unwrap_or_else(|e| panic!("load {package}: {e}"))
}

fn payload(input: &str, key: &str) -> RawJson {
    let text = bench_input(input).expect("bench input").json;
    let (_, value) = object_entries(text)
        .expect("JSON")
        .into_iter()
        .find(|(k, _)| k == key)
        .expect("member");
    RawJson::from_validated(value)
}

/// A runner that remembers the inputs it was given.
struct Recorder {
    inner: SharedInstance,
    inputs: Mutex<Vec<(Hook, Vec<u8>)>>,
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
        self.inner.call_hook_into(hook, input, out)
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

fn chain(c: &mut Criterion) {
    let host = host();
    let request = payload("pre_hook_225b", "request");
    let response = payload("post_hook_1kb", "response");
    let mut g = c.benchmark_group("chain");
    let mut alone = Vec::new();
    for package in ["hello-world", "serde-baseline"] {
        let plugin = load(&host, package);
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
        // What the chain sends its one plugin, recorded on a warm instance.
        let recorder = Arc::new(Recorder {
            inner: SharedInstance::new(&plugin, Some(CONFIG)).expect("instance"),
            inputs: Mutex::new(Vec::new()),
        });
        let chain = Arc::new(Chain::new(
            vec![ChainPlugin::new(
                package,
                FailurePolicy::Default,
                recorder.clone(),
            )],
            RequestShape::Flat,
        ));
        for _ in 0..10 {
            one_request(&chain, &request, &response);
        }
        let inputs = recorder.inputs.lock().unwrap().split_off(18);
        alone.push((package, plugin, inputs));
    }
    g.finish();
    let mut g = c.benchmark_group("alone");
    for (package, plugin, inputs) in alone {
        let mut instance = plugin.instantiate(Some(CONFIG)).expect("instance");
        g.bench_function(package, |b| {
            b.iter(|| {
                for (hook, input) in &inputs {
                    black_box(instance.call(*hook, black_box(input)).expect("call"));
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, chain);
criterion_main!(benches);
