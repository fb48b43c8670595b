//! Integration tests of the host library: one binary, a module per area.
//!
//! Plugins are inline WAT built from the fragments in [`wat`], plus the real
//! `wasi-printer` and `hello-world` plugins built from source by `test-support`.

mod abi;
mod cache;
mod calls;
mod concurrency;
mod degrade;
mod hello_world;
mod hostile;
mod logs;
mod wasi;
mod wat;

use std::time::Duration;

use bifrost_wasm_host::{Host, HostConfig, LoadedPlugin};

/// A host with small limits so hostile plugins fail fast.
pub fn small_host() -> Host {
    Host::new(
        HostConfig::default()
            .with_memory_limit(4 << 20)
            .with_deadline(Some(Duration::from_millis(100)))
            .with_init_deadline(Duration::from_secs(2))
            .with_max_output_bytes(1 << 20)
            .with_pooling_slots(64),
    )
    .expect("host")
}

/// Loads WAT text with the small host.
pub fn load(wat: &str) -> LoadedPlugin {
    small_host()
        .load_bytes(wat.as_bytes(), "test-plugin")
        .unwrap_or_else(|e| panic!("load failed: {e}"))
}
