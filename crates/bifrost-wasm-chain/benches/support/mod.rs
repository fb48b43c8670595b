//! What the chain benchmark and the measuring examples share: the request they send, the
//! runner that records what a chain sends its plugin.

// Each user takes what it needs.
#![allow(dead_code)]

use std::hint::black_box;
use std::sync::{Arc, Mutex};

use bifrost_wasm_chain::{Chain, LlmResult, PreOutcome, RequestRun};
use bifrost_wasm_host::{Hook, HookRunner, HostError};
use bifrost_wasm_types::bench_inputs::bench_input;
use bifrost_wasm_types::raw::object_entries;
use bifrost_wasm_types::RawJson;

/// `mock: false` keeps hello-world from answering; other plugins ignore it.
pub const CONFIG: &str = r#"{"mock": false}"#;

/// Member `key` of the built-in benchmark input `input`.
pub fn payload(input: &str, key: &str) -> RawJson {
    let text = bench_input(input).expect("bench input").json;
    let (_, value) = object_entries(text)
        .expect("JSON")
        .into_iter()
        .find(|(k, _)| k == key)
        .expect("member");
    RawJson::from_validated(value)
}

/// The request of the benchmarks: the 225 B chat request and the 1 KB chat response.
pub fn request_and_response() -> (RawJson, RawJson) {
    (
        payload("pre_hook_225b", "request"),
        payload("post_hook_1kb", "response"),
    )
}

/// One request as the gateway runs it: `pre_hook` on `request`, then `post_hook` on
/// `response` as the provider's answer.
pub fn one_request(chain: &Arc<Chain>, request: &RawJson, response: &RawJson) -> LlmResult {
    let mut run = RequestRun::new(chain.clone(), "bench-request");
    match run.pre_hook(black_box(request.clone())) {
        PreOutcome::Continue(_) => {}
        PreOutcome::ShortCircuit(_) => panic!("the chain answered instead of the provider"),
    }
    run.post_hook(LlmResult::Response(response.clone()))
}

/// A runner that remembers the inputs it was given.
pub struct Recorder<R> {
    /// The runner that answers.
    pub inner: R,
    /// Every input, with its hook.
    pub inputs: Mutex<Vec<(Hook, Vec<u8>)>>,
}

impl<R: HookRunner> Recorder<R> {
    /// Records the calls made to `inner`.
    pub fn new(inner: R) -> Self {
        Recorder {
            inner,
            inputs: Mutex::new(Vec::new()),
        }
    }

    /// The last `n` inputs.
    pub fn last(&self, n: usize) -> Vec<(Hook, Vec<u8>)> {
        let mut all = self.inputs.lock().unwrap();
        let len = all.len();
        all.split_off(len - n)
    }
}

impl<R: HookRunner> HookRunner for Recorder<R> {
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
