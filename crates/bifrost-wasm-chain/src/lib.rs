//! Bifrost's plugin chain as a library: hook order, short-circuit symmetry, failure policies
//! and the per-request context, over any [`HookRunner`].
//!
//! # Where this sits
//!
//! ```text
//! bifrost-wasm-types    wire format: the codec of hook envelopes, raw JSON, request shapes
//!        │
//! bifrost-wasm-host     the wasm runner: load, validate, instances, pools, limits, HostError
//!        │                (knows plugins and hooks; nothing of chains, HTTP or providers)
//! bifrost-wasm-chain    THIS CRATE: which plugin's hook runs when, with what input, and what
//!        │                its output means (knows nothing of HTTP servers or providers)
//! bifrost-wasm-gateway  HTTP, OpenAI <-> Bifrost translation, providers, SSE, listen/limits
//!        │
//! bifrost-wasm-cli      argument parsing and printing over the libraries
//! ```
//!
//! # Hook order
//!
//! A [`Chain`] is the ordered list of plugins (see [`config::order_entries`]). For each HTTP
//! request the caller starts a [`RequestRun`], which carries the context (a JSON object seeded
//! with both `request_id` and `request-id`, and [`START_TIME_KEY`]) through every hook and
//! remembers which plugins ran, so that the post-hooks mirror the pre-hooks:
//!
//! ```text
//! http_pre_hook   0 → n   (has_response short-circuits: later ones skipped)
//! pre_hook        0 → n   (short_circuit skips later pre-hooks and the provider)
//!   provider
//! post_hook       k → 0   (only plugins whose pre_hook ran)
//! http_post_hook  m → 0   (non-streaming; only plugins whose http_pre_hook ran)
//! stream: per chunk post_hook k → 0, then http_stream_chunk_hook m → 0
//! ```
//!
//! # Steps and locking
//!
//! Each point of that order is a [`Step`] that asks for one hook call at a time, so the one
//! who drives it decides how calls are made: [`RequestRun::drive`] (behind
//! [`RequestRun::pre_hook`] and friends) calls on the current thread; the gateway waits for the
//! plugin's own instance before each call and releases it right after, so one request never
//! holds two plugins and requests at different plugins run in parallel.
//!
//! # Errors
//!
//! A *failure* is a trap, timeout, limit or unusable output; a *returned error* is the
//! plugin's own `error` / `hook_error`. The plugin's [`FailurePolicy`] decides (see
//! [`policy`]): by default an LLM hook's problem is logged and the previous value kept, an
//! HTTP hook's problem answers the client with an error; `fail_open` bypasses failures;
//! `fail_closed` answers every problem with an error. Every case is a `warn` event and a
//! [`HookStat`] entry.
//!
//! # Losslessness and cost
//!
//! Payloads are never parsed into a tree to be passed on: inputs are written with the one
//! codec of hook envelopes ([`bifrost_wasm_types::codec`]) into one buffer reused for every
//! call, outputs are validated and indexed in one pass, and a payload a plugin returns is
//! handed to the next plugin byte for byte. `null` (or `{}`) in place of a request, response
//! or chunk means "unchanged". Whether a hook *changed* a payload (for the log) means "not
//! JSON-equal" ([`json_equal`]): re-indenting or re-ordering keys is not a change.
//!
//! ```
//! use std::sync::Arc;
//! use bifrost_wasm_chain::{Chain, PreOutcome, RequestRun, RequestShape};
//! use bifrost_wasm_types::RawJson;
//!
//! // A chain without plugins passes the request through.
//! let chain = Arc::new(Chain::new(Vec::new(), RequestShape::Flat));
//! let mut run = RequestRun::new(chain, "req-1");
//! let request = RawJson::from_validated(r#"{"provider":"openai","model":"gpt-4o","input":[]}"#);
//! assert_eq!(run.pre_hook(request.clone()), PreOutcome::Continue(request));
//! ```

mod answer;
mod chain;
pub mod config;
mod context;
mod outputs;
pub mod policy;
pub mod record;
mod run;
mod stats;

pub use bifrost_wasm_host::{Hook, HookRunner, HostError};
pub use bifrost_wasm_types::equal::json_equal;
pub use bifrost_wasm_types::shape::RequestShape;
pub use chain::{Chain, ChainPlugin};
pub use config::{ConfigError, FailurePolicy, Placement, PluginEntry};
pub use context::{Context, HOST_OWNED_KEYS, START_TIME_KEY};
pub use policy::{plugin_error_json, ErrorAction};
pub use run::{
    ChunkHooks, ChunkOutcome, HookCall, HttpAnswer, HttpPostHooks, HttpPreHooks, HttpPreOutcome, LlmResult,
    Poll, PostHooks, PreHooks, PreOutcome, RequestRun, Step,
};
pub use stats::{HookOutcome, HookStat};
