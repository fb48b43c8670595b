//! The benchmark baseline: hello-world's default behaviours written the way the upstream
//! Rust example writes a plugin, with no SDK: `serde_json::from_str` into typed envelopes whose
//! payloads are `serde_json::Value`, the hook's body on those Values, `serde_json::to_string`
//! of a typed output. `bifrost-wasm bench hello_world.wasm --against serde_baseline.wasm`
//! measures the SDK against it; BENCHMARKS.md ("The baselines") shows it measured against
//! upstream's own example in the same run.
//!
//! This crate holds only the exports, written by hand: `malloc`/`free` and the input and
//! output copies are [`baselines::abi`], the hooks are [`baselines::typed`].

use baselines::abi::{allocate, deallocate, read_string, run, write_string};
use baselines::typed as hooks;

/// The name `get_name` returns.
pub const NAME: &str = "serde-baseline";

/// Allocates memory for the host.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn malloc(size: u32) -> u32 {
    allocate(size)
}

/// Frees memory the host got from `malloc` or a hook.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn free(ptr: u32, size: u32) {
    // SAFETY: the host frees only buffers this module handed out, once each.
    unsafe { deallocate(ptr, size) }
}

/// Packed name of the plugin.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn get_name() -> u64 {
    write_string(NAME)
}

/// Accepts any JSON config (or none); the behaviours are fixed.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn init(ptr: u32, len: u32) -> i32 {
    // SAFETY: the host wrote `len` bytes at `ptr` (from `malloc`).
    let config = unsafe { read_string(ptr, len) };
    i32::from(!baselines::config_is_valid(&config))
}

/// HTTP pre-hook (generation 2 name).
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn http_intercept(ptr: u32, len: u32) -> u64 {
    // SAFETY: the host wrote `len` bytes at `ptr` (from `malloc`); so for every hook below.
    unsafe { run(ptr, len, hooks::http_pre_hook_json) }
}

/// HTTP pre-hook.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn http_pre_hook(ptr: u32, len: u32) -> u64 {
    // SAFETY: as in `http_intercept`.
    unsafe { run(ptr, len, hooks::http_pre_hook_json) }
}

/// HTTP post-hook.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn http_post_hook(ptr: u32, len: u32) -> u64 {
    // SAFETY: as in `http_intercept`.
    unsafe { run(ptr, len, hooks::http_post_hook_json) }
}

/// Stream chunk hook.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn http_stream_chunk_hook(ptr: u32, len: u32) -> u64 {
    // SAFETY: as in `http_intercept`.
    unsafe { run(ptr, len, hooks::http_stream_chunk_hook_json) }
}

/// LLM pre-hook.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn pre_hook(ptr: u32, len: u32) -> u64 {
    // SAFETY: as in `http_intercept`.
    unsafe { run(ptr, len, hooks::pre_hook_json) }
}

/// LLM post-hook.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn post_hook(ptr: u32, len: u32) -> u64 {
    // SAFETY: as in `http_intercept`.
    unsafe { run(ptr, len, hooks::post_hook_json) }
}

/// Nothing to release.
#[cfg_attr(target_arch = "wasm32", no_mangle)]
pub extern "C" fn cleanup() -> i32 {
    0
}
