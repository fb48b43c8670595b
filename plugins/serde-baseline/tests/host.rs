//! The built `serde_baseline.wasm` through the host, as Bifrost runs it: hello-world's default
//! behaviours on the benchmark inputs and on small envelopes (mock short-circuit in every
//! request shape, model rewrite, error annotation, context marks), and an error output
//! instead of a trap for a malformed input. plugins/serde-baseline and plugins/value-baseline
//! run the same checks.

const PACKAGE: &str = "serde-baseline";

include!("../../../crates/baselines/host_checks.rs");
