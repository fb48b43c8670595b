//! The code of the benchmark baselines: hello-world's default behaviours written with
//! serde_json and no SDK, the way the upstream Rust example writes a plugin.
//!
//! | module | plugin | what each hook does |
//! |---|---|---|
//! | [`typed`] | `plugins/serde-baseline` | upstream's approach: `from_str` into typed envelopes with `serde_json::Value` payloads, edit, `to_string` of a typed output |
//! | [`value`] | `plugins/value-baseline` | the whole input parsed into one `serde_json::Value`, edited, written back with `to_string` |
//! | [`abi`] | both | the hand-written memory ABI: one owned copy of the input in, one copy of the output out |
//!
//! The hooks live here, not in the plugin crates, so that those can be `cdylib`-only, as
//! upstream's example is: cargo applies the profile's LTO only to a crate that is not also an
//! `rlib`, and a baseline built without LTO would be slower than upstream's own build. The
//! plugin crates hold only the exports. `benches/versus_sdk.rs` compares the hooks natively
//! with the SDK's (`cargo bench -p baselines --bench versus_sdk`).

pub mod abi;
pub mod typed;
pub mod value;

/// The model `pre_hook` answers itself with the seed's mock response.
pub const MOCK_MODEL: &str = "mock-model";

/// What `post_hook` appends to a chat response's model.
pub const MODEL_SUFFIX: &str = " (via rust-wasm)";

/// What `post_hook` appends to an error's message.
pub const ERROR_SUFFIX: &str = " (via rust plugin)";

/// The text of the seed's mock answer.
pub const MOCK_TEXT: &str = "This is a mock response!";

/// The value `pre_hook` records as `plugin_name`.
pub const PLUGIN_NAME_MARK: &str = "hello-world-wasm-rust";

/// Whether `config` is an acceptable `init` configuration: empty, or any JSON document (the
/// baselines' behaviours are fixed).
pub fn config_is_valid(config: &str) -> bool {
    config.trim().is_empty() || serde_json::from_str::<serde::de::IgnoredAny>(config).is_ok()
}
