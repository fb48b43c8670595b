//! Run a plugin natively, through the same code its wasm exports run (minus the memory ABI).
//!
//! ```
//! use bifrost_wasm_sdk::prelude::*;
//! use bifrost_wasm_sdk::testing::Harness;
//!
//! struct Echo;
//! impl Plugin for Echo {
//!     const NAME: &'static str = "echo";
//!     type Config = Value;
//!     fn new(_: Value) -> HookResult<Self> { Ok(Echo) }
//! }
//!
//! let h = Harness::<Echo>::new("{}").unwrap();
//! let out = h.pre_hook(&json!({"context": {"request_id": "r"}, "request": {"model": "m"}}));
//! assert_eq!(out["request"]["model"], "m");
//! assert_eq!(out["error"], "");
//! ```

use serde_json::Value;

use crate::runtime::{self, Hook, HttpPost, HttpPre, PluginCell, Post, Pre, StreamChunk};
use crate::Plugin;

/// A plugin instance driven natively.
pub struct Harness<P: Plugin> {
    cell: PluginCell<P>,
}

impl<P: Plugin> Harness<P> {
    /// Creates and `init`s the plugin with `config` (JSON text; `""`, `null`, `{}` = defaults).
    pub fn new(config: &str) -> Result<Self, String> {
        let h = Harness {
            cell: PluginCell::new(),
        };
        match h.cell.init(config.as_bytes()) {
            0 => Ok(h),
            _ => Err(runtime::last_error().unwrap_or_else(|| "init failed".to_string())),
        }
    }

    /// Calls the hook `K` with raw input bytes; returns the output text.
    pub fn call_raw<K: Hook>(&self, input: &[u8]) -> String {
        String::from_utf8(self.cell.run::<K>(input)).expect("hook outputs are UTF-8")
    }

    fn call<K: Hook>(&self, input: &Value) -> Value {
        let out = self.call_raw::<K>(input.to_string().as_bytes());
        serde_json::from_str(&out).expect("hook outputs are JSON")
    }

    /// `http_pre_hook` / `http_intercept`.
    pub fn http_pre_hook(&self, input: &Value) -> Value {
        self.call::<HttpPre>(input)
    }

    /// `http_post_hook`.
    pub fn http_post_hook(&self, input: &Value) -> Value {
        self.call::<HttpPost>(input)
    }

    /// `http_stream_chunk_hook`.
    pub fn http_stream_chunk_hook(&self, input: &Value) -> Value {
        self.call::<StreamChunk>(input)
    }

    /// `pre_hook`.
    pub fn pre_hook(&self, input: &Value) -> Value {
        self.call::<Pre>(input)
    }

    /// `post_hook`.
    pub fn post_hook(&self, input: &Value) -> Value {
        self.call::<Post>(input)
    }

    /// `cleanup`: 0 on success.
    pub fn cleanup(&self) -> i32 {
        self.cell.cleanup()
    }
}

/// Hook markers for [`Harness::call_raw`].
pub mod hooks {
    pub use crate::runtime::{HttpPost, HttpPre, Post, Pre, StreamChunk};
}
