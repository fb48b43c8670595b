//! `GET /metrics`: the gateway's counters in the Prometheus text format.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `bifrost_wasm_requests_total` | counter | `route`, `kind`, `status` |
//! | `bifrost_wasm_hook_duration_seconds` | histogram | `plugin`, `hook` |
//! | `bifrost_wasm_hook_calls_total` | counter | `plugin`, `hook`, `outcome` |
//! | `bifrost_wasm_instance_replacements_total` | counter | `plugin` |
//! | `bifrost_wasm_plugin_memory_bytes` | gauge | `plugin`, `instance` |
//! | `bifrost_wasm_upstream_duration_seconds` | histogram | `provider`, `outcome` |
//! | `bifrost_wasm_reloads_total` | counter | `result` |
//!
//! Hook outcomes: `passed`, `changed`, `short_circuited`, `dropped` (a stream chunk skipped),
//! `error` (the plugin reported one), and for calls that failed: `trap`, `timeout`, `limit`
//! (memory, stack, input or output cap) and `invalid_output`. A hook's duration includes
//! waiting for the plugin's instance; the stream chunk calls of one request are aggregated by
//! the chain, so they enter the histogram as that many observations of their mean. A
//! replacement is counted per failed call that cost the instance (trap, timeout, memory cap,
//! stack overflow); the host's own recycling of an instance near its memory cap, and a
//! memory-cap failure whose retry on the fresh instance succeeded, are not (the chain sees no
//! failed call). Memory is read when the page is scraped: the shared instance of each plugin
//! (`instance="0"`), or a pool's instances that are idle then (numbered in the order they
//! wait, not a stable identity).
//!
//! Per-request recording takes the run's per-hook stats (what the log line shows) and
//! updates handles resolved once per plugin and hook when the chain is built: hooks cost no
//! label lookup. The request counter and the upstream histogram take one hashed lookup of
//! borrowed labels under a read lock each (no allocation). Measured (`cost_per_request`, release, one
//! thread): ~170 ns per request for two plugins' `pre_hook` and `post_hook`, the request and
//! the upstream call (~400 ns with both cores recording into the same series at once), where
//! a hello-world request takes ~110 µs of the machine's two cores in the load test.

use std::time::Duration;

use bifrost_wasm_chain::{Hook, HookOutcome, HookStat};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::plugins::{LivePlugin, Slot};

/// Buckets of hook durations, in seconds (10 µs to 1 s).
const HOOK_BUCKETS: [f64; 12] = [
    10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 10e-3, 50e-3, 250e-3, 1.0,
];

/// Buckets of upstream durations, in seconds (100 µs to 60 s).
const UPSTREAM_BUCKETS: [f64; 13] = [
    100e-6, 500e-6, 1e-3, 5e-3, 10e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0, 5.0, 15.0, 60.0,
];

/// The outcome labels of a hook call.
const OUTCOMES: [&str; 9] = [
    "passed",
    "changed",
    "short_circuited",
    "dropped",
    "error",
    "trap",
    "timeout",
    "limit",
    "invalid_output",
];

/// The outcome label of a failed call, from the host's error code.
fn failure_label(code: &str) -> &'static str {
    match code {
        "trap" => "trap",
        "timeout" => "timeout",
        "memory_limit" | "stack_overflow" | "output_too_large" | "input_too_large" | "pool_exhausted" => {
            "limit"
        }
        _ => "invalid_output",
    }
}

fn outcome_index(label: &str) -> usize {
    OUTCOMES
        .iter()
        .position(|o| *o == label)
        .unwrap_or(OUTCOMES.len() - 1)
}

/// The gateway's metrics.
pub(crate) struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    hook_seconds: HistogramVec,
    hook_calls: IntCounterVec,
    replacements: IntCounterVec,
    memory: IntGaugeVec,
    upstream_seconds: HistogramVec,
    reloads: IntCounterVec,
}

/// One plugin's handles, resolved when a chain is built.
pub(crate) struct PluginMetrics {
    /// Per hook, in [`Hook::ALL`] order: the duration histogram and a counter per outcome.
    hooks: Vec<(Histogram, Vec<IntCounter>)>,
    replacements: IntCounter,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("registered once");
            c
        };
        let histogram = |name: &str, help: &str, labels: &[&str], buckets: &[f64]| {
            let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels)
                .expect("valid metric");
            registry.register(Box::new(h.clone())).expect("registered once");
            h
        };
        let memory = IntGaugeVec::new(
            Opts::new(
                "bifrost_wasm_plugin_memory_bytes",
                "Linear memory of a plugin instance, in bytes (read at scrape time)",
            ),
            &["plugin", "instance"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(memory.clone()))
            .expect("registered once");
        let metrics = Metrics {
            requests: counter(
                "bifrost_wasm_requests_total",
                "Requests answered, by route, request kind and HTTP status",
                &["route", "kind", "status"],
            ),
            hook_seconds: histogram(
                "bifrost_wasm_hook_duration_seconds",
                "Time of one plugin hook call, waiting for the instance included",
                &["plugin", "hook"],
                &HOOK_BUCKETS,
            ),
            hook_calls: counter(
                "bifrost_wasm_hook_calls_total",
                "Plugin hook calls by outcome",
                &["plugin", "hook", "outcome"],
            ),
            replacements: counter(
                "bifrost_wasm_instance_replacements_total",
                "Plugin instances replaced by a fresh one after a trap, timeout or limit",
                &["plugin"],
            ),
            memory,
            upstream_seconds: histogram(
                "bifrost_wasm_upstream_duration_seconds",
                "Time of a provider call (to the answer, or to the start of a stream)",
                &["provider", "outcome"],
                &UPSTREAM_BUCKETS,
            ),
            reloads: counter(
                "bifrost_wasm_reloads_total",
                "Plugin reloads by serve --watch, by result",
                &["result"],
            ),
            registry,
        };
        // Shown from the start (at 0), so a dashboard or alert never sees the series missing.
        for result in ["ok", "failed"] {
            metrics.reloads.with_label_values(&[result]);
        }
        metrics
    }

    /// The handles of `plugin`'s hooks.
    pub(crate) fn plugin(&self, plugin: &str) -> PluginMetrics {
        PluginMetrics {
            hooks: Hook::ALL
                .iter()
                .map(|hook| {
                    (
                        self.hook_seconds.with_label_values(&[plugin, hook.name()]),
                        OUTCOMES
                            .iter()
                            .map(|o| self.hook_calls.with_label_values(&[plugin, hook.name(), o]))
                            .collect(),
                    )
                })
                .collect(),
            replacements: self.replacements.with_label_values(&[plugin]),
        }
    }

    /// Counts one answered request.
    pub(crate) fn request(&self, route: &str, kind: &str, status: u16) {
        let digits = itoa_status(status);
        let status = std::str::from_utf8(&digits).unwrap_or("0");
        self.requests.with_label_values(&[route, kind, status]).inc();
    }

    /// Records the hook calls of one request (`stats` of its run; `plugins` the metrics of
    /// the chain it ran on).
    pub(crate) fn hooks(plugins: &[PluginMetrics], stats: &[HookStat]) {
        for stat in stats {
            let Some(plugin) = plugins.get(stat.plugin) else {
                continue;
            };
            let Some((seconds, outcomes)) = Hook::ALL
                .iter()
                .position(|h| *h == stat.hook)
                .and_then(|i| plugin.hooks.get(i))
            else {
                continue;
            };
            if stat.calls > 0 {
                let each = stat.duration.as_secs_f64() / f64::from(stat.calls);
                for _ in 0..stat.calls {
                    seconds.observe(each);
                }
            }
            for outcome in HookOutcome::ALL {
                let n = stat.count(outcome);
                if n == 0 {
                    continue;
                }
                let label = match outcome {
                    HookOutcome::Passed => "passed",
                    HookOutcome::Changed => "changed",
                    HookOutcome::ShortCircuited => "short_circuited",
                    HookOutcome::Dropped => "dropped",
                    HookOutcome::Error => "error",
                    HookOutcome::Failed => failure_label(stat.failure.unwrap_or("invalid_output")),
                };
                outcomes[outcome_index(label)].inc_by(u64::from(n));
            }
            if stat.replacements > 0 {
                plugin.replacements.inc_by(u64::from(stat.replacements));
            }
        }
    }

    /// Records one provider call.
    pub(crate) fn upstream(&self, provider: &str, ok: bool, took: Duration) {
        self.upstream_seconds
            .with_label_values(&[provider, if ok { "ok" } else { "error" }])
            .observe(took.as_secs_f64());
    }

    /// Counts one reload.
    pub(crate) fn reload(&self, ok: bool) {
        self.reloads
            .with_label_values(&[if ok { "ok" } else { "failed" }])
            .inc();
    }

    /// The page: every metric, with the memory of `plugins`' instances read now. Blocking
    /// (a shared instance is read between two of its calls).
    pub(crate) fn render(&self, plugins: &[LivePlugin]) -> String {
        self.memory.reset();
        for p in plugins {
            let name = p.entry.name.as_str();
            match &p.slot {
                Slot::Shared(shared) => {
                    let bytes = shared.with(|i| i.memory_size());
                    self.memory.with_label_values(&[name, "0"]).set(bytes as i64);
                }
                Slot::Pool(pool) => {
                    for (i, bytes) in pool.idle_memory_sizes().into_iter().enumerate() {
                        self.memory
                            .with_label_values(&[name, &i.to_string()])
                            .set(bytes as i64);
                    }
                }
            }
        }
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!("cannot encode the metrics: {e}");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// An HTTP status as three ASCII digits.
fn itoa_status(status: u16) -> [u8; 3] {
    let s = status.min(999);
    [
        b'0' + (s / 100) as u8,
        b'0' + (s / 10 % 10) as u8,
        b'0' + (s % 10) as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_map_to_the_outcomes_an_operator_alerts_on() {
        assert_eq!(failure_label("trap"), "trap");
        assert_eq!(failure_label("timeout"), "timeout");
        assert_eq!(failure_label("memory_limit"), "limit");
        assert_eq!(failure_label("output_too_large"), "limit");
        assert_eq!(failure_label("invalid_json"), "invalid_output");
        assert_eq!(itoa_status(200), *b"200");
        assert_eq!(itoa_status(54), *b"054");
    }

    #[test]
    fn the_page_has_every_family_once_requests_were_counted() {
        let metrics = Metrics::new();
        metrics.request("/v1/chat/completions", "chat_completion", 200);
        metrics.upstream("mock", true, Duration::from_millis(3));
        metrics.reload(true);
        let _ = metrics.plugin("p");
        let page = metrics.render(&[]);
        for line in [
            "bifrost_wasm_requests_total{kind=\"chat_completion\",route=\"/v1/chat/completions\",status=\"200\"} 1",
            "bifrost_wasm_upstream_duration_seconds_count{outcome=\"ok\",provider=\"mock\"} 1",
            "bifrost_wasm_reloads_total{result=\"ok\"} 1",
            "bifrost_wasm_hook_calls_total{hook=\"pre_hook\",outcome=\"trap\",plugin=\"p\"} 0",
            "# TYPE bifrost_wasm_hook_duration_seconds histogram",
        ] {
            assert!(page.contains(line), "missing {line:?} in\n{page}");
        }
    }

    /// A plugin that implements `pre_hook` and `post_hook` and passes both through.
    struct Pass;

    impl bifrost_wasm_chain::HookRunner for Pass {
        fn plugin_name(&self) -> &str {
            "pass"
        }
        fn implements(&self, hook: Hook) -> bool {
            matches!(hook, Hook::PreHook | Hook::PostHook)
        }
        fn call_hook(&self, _: Hook, input: &[u8]) -> Result<Option<String>, bifrost_wasm_chain::HostError> {
            let input = std::str::from_utf8(input).expect("UTF-8");
            let context = bifrost_wasm_types::scan::member(input, "context", true).expect("context");
            Ok(Some(format!(r#"{{"context":{context}}}"#)))
        }
    }

    fn drive<S: bifrost_wasm_chain::Step>(
        run: &mut bifrost_wasm_chain::RequestRun,
        mut step: S,
    ) -> S::Output {
        loop {
            match step.poll(run) {
                bifrost_wasm_chain::Poll::Ready(output) => return output,
                bifrost_wasm_chain::Poll::Call(call) => {
                    let result = run.call(call);
                    step.resume(run, result);
                }
            }
        }
    }

    /// What recording one request costs: `cargo test --release -p bifrost-wasm-gateway --lib
    /// cost_per_request -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement"]
    fn cost_per_request() {
        use bifrost_wasm_chain::{
            Chain, ChainPlugin, FailurePolicy, LlmResult, PostHooks, PreHooks, RequestRun,
        };
        use bifrost_wasm_types::{RawJson, RequestShape};
        use std::sync::Arc;
        let chain = Arc::new(Chain::new(
            vec![
                ChainPlugin::new("a", FailurePolicy::Default, Arc::new(Pass)),
                ChainPlugin::new("b", FailurePolicy::Default, Arc::new(Pass)),
            ],
            RequestShape::Flat,
        ));
        let mut run = RequestRun::new(chain, "r");
        drive(
            &mut run,
            PreHooks::new(RawJson::from_validated(r#"{"model":"m","input":[]}"#)),
        );
        drive(
            &mut run,
            PostHooks::new(LlmResult::Response(RawJson::from_validated(r#"{"id":"x"}"#))),
        );
        let stats = run.stats();
        assert_eq!(stats.len(), 4);
        let metrics = Metrics::new();
        let plugins = [metrics.plugin("a"), metrics.plugin("b")];
        let one_request = || {
            metrics.request("/v1/chat/completions", "chat_completion", 200);
            Metrics::hooks(&plugins, std::hint::black_box(stats));
            metrics.upstream("mock", true, Duration::from_micros(40));
        };
        let n = 1_000_000u32;
        for _ in 0..3 {
            let started = std::time::Instant::now();
            (0..n).for_each(|_| one_request());
            eprintln!("one thread: {:?} per request", started.elapsed() / n);
        }
        // Both cores recording into the same series at once (the worst case for the atomics).
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    let started = std::time::Instant::now();
                    (0..n).for_each(|_| one_request());
                    eprintln!("two threads: {:?} per request", started.elapsed() / n);
                });
            }
        });
        let page = metrics.render(&[]);
        let line = format!(
            r#"bifrost_wasm_hook_calls_total{{hook="pre_hook",outcome="passed",plugin="a"}} {}"#,
            5 * n
        );
        assert!(page.contains(&line), "missing {line:?} in\n{page}");
    }
}
