//! The chain's own work, without running any plugin: requests through a chain of one plugin
//! whose runner answers `pre_hook` and `post_hook` with recorded hello-world outputs
//! (`benches/fixtures/`). Everything left is the chain's: writing inputs, reading and
//! checking outputs, merging the context, deciding what changed, the log stats.
//!
//! Meant for a profiler or an instruction counter, e.g.
//!
//! ```text
//! cargo build --release -p bifrost-wasm-chain --example own
//! valgrind --tool=callgrind target/release/examples/own 20000
//! ```
//!
//! Prints the time per request.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use bifrost_wasm_chain::{Chain, ChainPlugin, FailurePolicy, RequestShape};
use bifrost_wasm_host::{Hook, HookRunner, HostError};

#[path = "../benches/support/mod.rs"]
mod support;

use support::{one_request, request_and_response};

const PRE_OUTPUT: &str = include_str!("../benches/fixtures/hello-world-pre-hook-output.json");
const POST_OUTPUT: &str = include_str!("../benches/fixtures/hello-world-post-hook-output.json");

/// The start time in the recorded outputs' context.
const RECORDED_START_TIME: &str = "1764760000000";

/// Answers with the recorded outputs.
struct Canned;

impl HookRunner for Canned {
    fn plugin_name(&self) -> &str {
        "hello-world"
    }
    fn implements(&self, hook: Hook) -> bool {
        matches!(hook, Hook::PreHook | Hook::PostHook)
    }
    fn call_hook(&self, hook: Hook, _: &[u8]) -> Result<Option<String>, HostError> {
        Ok(Some(
            if hook == Hook::PreHook {
                PRE_OUTPUT
            } else {
                POST_OUTPUT
            }
            .trim()
            .to_string(),
        ))
    }
    fn call_hook_into(&self, hook: Hook, input: &[u8], out: &mut Vec<u8>) -> Result<bool, HostError> {
        let output = if hook == Hook::PreHook {
            PRE_OUTPUT
        } else {
            POST_OUTPUT
        }
        .trim();
        let start = out.len();
        out.extend_from_slice(output.as_bytes());
        // The recording's start time becomes this request's, as the plugin would echo it.
        let key = br#""request_start_unix_ms":"#;
        let now = input
            .windows(key.len())
            .position(|w| w == key)
            .map(|i| i + key.len());
        let then = output.find(RECORDED_START_TIME);
        if let (Some(now), Some(then)) = (now, then) {
            let n = RECORDED_START_TIME.len();
            out[start + then..start + then + n].copy_from_slice(&input[now..now + n]);
        }
        Ok(true)
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(200_000, |a| a.parse().expect("REQUESTS"));
    let (request, response) = request_and_response();
    let chain = Arc::new(Chain::new(
        vec![ChainPlugin::new(
            "hello-world",
            FailurePolicy::Default,
            Arc::new(Canned),
        )],
        RequestShape::Flat,
    ));
    let started = Instant::now();
    for _ in 0..n {
        black_box(one_request(&chain, &request, &response));
    }
    let per = started.elapsed().as_secs_f64() * 1e9 / n as f64;
    println!("{n} requests, {per:.0} ns per request (the chain's own work)");
}
