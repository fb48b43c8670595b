//! Run any Bifrost WASM plugin (Rust, TinyGo, AssemblyScript) on wasmtime, with limits.
//!
//! This is the bottom layer of the toolkit: the runner. It loads and validates plugins, makes
//! instances and pools of them, calls one hook at a time within limits, and reports failures
//! as [`HostError`]s. It knows nothing of plugin chains, HTTP, providers, listen addresses or
//! upstreams:
//!
//! ```text
//! bifrost-wasm-host     THIS CRATE: load, validate, instances, pools, limits, HostError
//! bifrost-wasm-chain    Bifrost's hook order, failure policies, per-request context (over HookRunner)
//! bifrost-wasm-gateway  HTTP, OpenAI <-> Bifrost translation, providers, SSE, listen/limits config
//! bifrost-wasm-cli      argument parsing and printing over the libraries
//! ```
//!
//! # Overview
//!
//! ```text
//! HostConfig ──> Host ──load_file/load_bytes──> LoadedPlugin ──instantiate──> PluginInstance
//!                (engine, epoch ticker,          (module + InstancePre +       (store; call(hook, json))
//!                 module cache)                   PluginInfo; cheap Clone)
//!                                                      │
//!                                                      ├── SharedInstance  (one instance, callers take turns)
//!                                                      └── InstancePool    (bounded, checkout by move)
//! ```
//!
//! * [`Host`] owns one wasmtime [`wasmtime::Engine`] configured from [`HostConfig`]:
//!   memory cap, per-call deadline (epoch interruption, one ticker thread per host,
//!   per-store deadlines), output cap, wasm stack size, pooling allocator, and an
//!   optional on-disk cache of compiled modules ([`LoadReport::cache_hit`]).
//! * [`Host::load_file`] / [`Host::load_bytes`] compile (or take from the cache),
//!   validate every export and import against the plugin ABI — reporting **all**
//!   problems at once in [`ErrorKind::InvalidPlugin`] — link WASI preview 1 or
//!   AssemblyScript's `env.abort` when imported, and read the plugin's name.
//!   [`LoadedPlugin::info`] describes the plugin ([`PluginInfo`]: exports, imports, ABI
//!   generation, allocator variant, hooks).
//! * [`PluginInstance::call`] runs one hook: `malloc` the input, write it, call the
//!   hook, read the packed `u64` as unsigned, bounds-check, cap, validate UTF-8 and JSON,
//!   copy out, `free` input and output. [`PluginInstance::call_hook`] returns `Ok(None)`
//!   for a hook the plugin lacks (pass-through); [`PluginInstance::call_into`] appends the
//!   raw output to a buffer for callers that validate it while reading it; `call_json`/
//!   `call_typed` wrap serde, and [`PluginInstance::pre_hook`], [`PluginInstance::post_hook`],
//!   [`PluginInstance::http_pre_hook`], [`PluginInstance::http_post_hook`] and
//!   [`PluginInstance::http_stream_chunk_hook`] write their input with the one codec of hook
//!   envelopes ([`bifrost_wasm_types::codec`]) and return a checked [`HookOutput`].
//! * Every failure is a [`HostError`]: the plugin and the function, once, around an
//!   [`ErrorKind`] saying what happened, a message saying what to do, and
//!   [`std::error::Error::source`] leading to the I/O or wasmtime error behind it. After a
//!   trap, timeout, stack overflow or memory-cap hit the instance is replaced by a fresh
//!   `init`ed one before the error is returned ([`HostError::instance_replaced`]), so the
//!   next call works.
//! * [`HookRunner`] is the object-safe, thread-safe interface the layers above program
//!   against; [`SharedInstance`] (serialised calls to one instance) and [`InstancePool`]
//!   (bounded pool with back-pressure) implement it.
//!
//! # Threads
//!
//! Calls block the calling thread for at most the deadline. From async code, call
//! through `tokio::task::spawn_blocking` (or `block_in_place`): WASI plugins reach
//! wasmtime-wasi, which enters a Tokio runtime itself and must not run on an async
//! worker thread.
//!
//! # Logging
//!
//! WASI plugins' stdout and stderr lines become `tracing` events with target
//! [`PLUGIN_LOG_TARGET`] and fields `plugin` and `stream`.
//!
//! # Example
//!
//! ```no_run
//! use bifrost_wasm_host::{Hook, Host, HostConfig};
//!
//! let host = Host::new(HostConfig::default())?;
//! let plugin = host.load_file("build/hello-world.wasm")?;
//! let mut instance = plugin.instantiate(Some(r#"{"custom_option":"value"}"#))?;
//! let output = instance.call(Hook::PreHook, br#"{"context":{},"request":{}}"#)?;
//! println!("{output}");
//! # Ok::<(), bifrost_wasm_host::HostError>(())
//! ```

mod abi;
mod cache;
mod config;
mod epoch;
mod error;
mod host;
mod instance;
mod json;
mod live;
mod load;
mod plugin;
mod pool;
mod store;
mod toolchain;
mod typed;
mod wasi;

pub use abi::{
    AbiGeneration, AllocatorVariant, ExportInfo, HookExport, ImportInfo, ModuleInterface, PluginInfo,
};
pub use bifrost_wasm_types::hook::{Hook, UnknownHook};
pub use config::{HostConfig, WARM_SLOTS};
pub use error::{ErrorKind, HostError, LoadProblem};
pub use host::Host;
pub use instance::{PluginInstance, RECYCLE_PERCENT};
pub use plugin::{LoadReport, LoadedPlugin};
pub use pool::{InstancePool, PoolCleanup, PoolConfig, PoolStats, PooledInstance, SharedInstance};
pub use toolchain::{AssemblyScriptRuntime, Toolchain, ToolchainGuess};
pub use typed::HookOutput;
pub use wasi::PLUGIN_LOG_TARGET;

/// Runs hooks of one plugin for any number of threads: the interface the layers above the
/// runner (the plugin chain, the gateway) program against.
///
/// Implemented by [`SharedInstance`] (one instance, calls serialised) and
/// [`InstancePool`] (bounded pool). Tests may implement it with a mock.
pub trait HookRunner: Send + Sync {
    /// The plugin's name (from `get_name`).
    fn plugin_name(&self) -> &str;

    /// Whether the plugin implements `hook`.
    fn implements(&self, hook: Hook) -> bool;

    /// Calls `hook` with `input` (a JSON document). `Ok(None)` means the plugin does
    /// not implement the hook: pass the data through unchanged. `Ok(Some(json))` is
    /// the hook's output, already checked to be UTF-8 JSON within the output cap.
    fn call_hook(&self, hook: Hook, input: &[u8]) -> Result<Option<String>, HostError>;

    /// Like [`HookRunner::call_hook`], but appends the output to `out` as the plugin wrote
    /// it (within the output cap, **not** checked to be UTF-8 or JSON: see
    /// [`PluginInstance::call_into`]) and returns whether the plugin implements the hook.
    /// For callers that validate the output while reading it, so that it is scanned once.
    fn call_hook_into(&self, hook: Hook, input: &[u8], out: &mut Vec<u8>) -> Result<bool, HostError> {
        match self.call_hook(hook, input)? {
            Some(output) => {
                out.extend_from_slice(output.as_bytes());
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

impl<T: HookRunner + ?Sized> HookRunner for std::sync::Arc<T> {
    fn plugin_name(&self) -> &str {
        (**self).plugin_name()
    }

    fn implements(&self, hook: Hook) -> bool {
        (**self).implements(hook)
    }

    fn call_hook(&self, hook: Hook, input: &[u8]) -> Result<Option<String>, HostError> {
        (**self).call_hook(hook, input)
    }

    fn call_hook_into(&self, hook: Hook, input: &[u8], out: &mut Vec<u8>) -> Result<bool, HostError> {
        (**self).call_hook_into(hook, input, out)
    }
}
