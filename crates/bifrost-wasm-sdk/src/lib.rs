//! Write Bifrost WASM plugins in safe Rust.
//!
//! Implement [`Plugin`] (every hook passes through by default) and call
//! [`export_plugin!`] once: it generates every export a Bifrost host looks for — `malloc`,
//! `free`, `get_name`, `init`, `http_intercept` and `http_pre_hook`, `http_post_hook`,
//! `http_stream_chunk_hook`, `pre_hook`, `post_hook`, `cleanup`, and `last_error` (the text of
//! the last `init` failure or panic, so a host can say why a call failed). You write no
//! `unsafe` and no `extern "C"`. Everything a plugin needs comes from one import,
//! [`prelude`].
//!
//! ```
//! use bifrost_wasm_sdk::prelude::*;
//!
//! /// Configuration, from the plugin's entry in Bifrost's `config.json`.
//! #[derive(Default, Deserialize)]
//! #[serde(default)]
//! struct Config {
//!     blocked_model: String,
//! }
//!
//! struct Blocker {
//!     config: Config,
//!     blocked: u64,
//! }
//!
//! impl Plugin for Blocker {
//!     const NAME: &'static str = "blocker";
//!     type Config = Config;
//!
//!     fn new(config: Config) -> HookResult<Self> {
//!         Ok(Blocker { config, blocked: 0 })
//!     }
//!
//!     // The LLM request, before the provider is called.
//!     fn pre_hook(&mut self, mut input: PreHookInput) -> HookResult<PreHookOutput> {
//!         input.context.set_value("blocker_seen", true);
//!         // Reads the model, and nothing else of the request.
//!         if input.request.model().as_deref() == Some(self.config.blocked_model.as_str()) {
//!             self.blocked += 1;
//!             let error = BifrostError::new("model not allowed").with_type("forbidden").with_status(403);
//!             return Ok(input.short_circuit_error(&error));
//!         }
//!         Ok(input.pass_through())
//!     }
//!
//!     // The response or the error, after the provider (or a short-circuit) answered.
//!     fn post_hook(&mut self, mut input: PostHookInput) -> HookResult<PostHookOutput> {
//!         match &mut input.result {
//!             LlmResult::Response(response) => {
//!                 if let Some(model) = response.chat_field_str("model") {
//!                     response.set_chat_field("model", &format!("{model} (checked)"))?;
//!                 }
//!             }
//!             LlmResult::Error(error) => {
//!                 if let Some(message) = error.message() {
//!                     error.set_message(&format!("{message} (seen by blocker)"));
//!                 }
//!             }
//!         }
//!         Ok(input.pass_through())
//!     }
//! }
//!
//! bifrost_wasm_sdk::export_plugin!(Blocker);
//!
//! // The same code the wasm exports run, natively:
//! use bifrost_wasm_sdk::testing::Harness;
//! let plugin = Harness::<Blocker>::new(r#"{"blocked_model":"gpt-4"}"#).unwrap();
//! let out = plugin.pre_hook(&json!({
//!     "context": {"request_id": "r1"},
//!     "request": {"provider": "openai", "model": "gpt-4", "input": []}
//! }));
//! assert_eq!(out["has_short_circuit"], true);
//! assert_eq!(out["short_circuit"]["error"]["status_code"], 403);
//! assert_eq!(out["context"], json!({"request_id": "r1", "blocker_seen": true}));
//! ```
//!
//! # What every generated hook guarantees
//!
//! * **It never traps on input**: empty, invalid UTF-8, invalid JSON, wrong types, `null`s,
//!   deep nesting, or an input too large for the plugin's memory all produce a valid output
//!   whose `error` (`hook_error` for `post_hook`) says what was wrong, echoing the context
//!   when it could be read.
//! * **Nothing is decoded that the hook does not read.** The input is validated once; the
//!   hook's views ([`BifrostContext`], [`LlmRequest`], [`LlmResponse`], [`LlmError`],
//!   [`RawJson`]) share its bytes and parse a member only when asked for it.
//! * **Lossless pass-through**: whatever the hook does not change is written back byte for
//!   byte (unknown fields, `null`s, key order, number spellings); edits are spliced in, in
//!   the request shape that came in ([`types::shape`]), and context edits are appended.
//! * A hook returning `Err` passes its input through and reports the error.
//!
//! # Building
//!
//! Build for `wasm32-unknown-unknown` (the result imports nothing) with the workspace's
//! `wasm` profile. Test natively with [`testing::Harness`], which runs the same code the
//! exports run. A `wasm32-wasip1` build works too (for WASI's clock, say); there the allocator
//! pair is exported as `plugin_malloc`/`plugin_free`, because wasi-libc owns `malloc`/`free`.
//!
//! On `wasm32` the SDK also installs the global allocator: std's dlmalloc, fed first from a
//! 256 KiB arena inside the module's initial memory, so that `init` and ordinary hooks never
//! grow linear memory (a host that pools instances then reuses their memory slots without
//! changing page protections). Turn off the default `allocator` feature to bring your own.
//!
//! # Changes for plugin authors (0.2)
//!
//! * [`BifrostContext`] is a view over the received JSON, no longer a public
//!   `HashMap<String, serde_json::Value>`: read with [`BifrostContext::get_string`],
//!   `get_bool`, `get_i64`, `get_u64`, `get_f64`, `get_as`, `get_raw`, `request_id`,
//!   `virtual_key`; write with [`BifrostContext::set_value`] (any [`ToJson`] value) and
//!   `remove`. The seed's helpers keep their names and meaning.
//! * `post_hook`'s input says what the request ended in: [`PostHookInput::result`] is an
//!   [`LlmResult`] (`Response` or `Error`) instead of a `has_error` flag beside two fields.
//! * Short-circuits and other answers that cannot fail no longer return `Result`:
//!   `Ok(input.short_circuit_error(&e))`.
//! * Acronyms are one word in Rust names (`HttpRequest`, `LlmUsage`,
//!   `LlmPluginShortCircuit`); the seed's spellings remain as type aliases and the wire
//!   names are unchanged.
//! * Text walkers and structural edits are methods ([`Texts`], [`RequestEdits`],
//!   [`ChunkEdits`]); per-request state has a helper ([`RequestMap`]).
//! * Every request kind, not only chat: [`kinds`] has a typed view of each kind's request
//!   and response ([`RequestKinds`], [`ResponseKinds`]: text completions, Responses-API
//!   requests and stream events, embeddings, speech, transcriptions, images), and [`Texts`] /
//!   [`ChunkEdits`] walk the texts of text completions and Responses requests, responses and
//!   streams too.
//! * Everything a plugin needs is in [`prelude`]; the memory ABI and the runtime are
//!   implementation details of [`export_plugin!`].

#[cfg(all(
    target_arch = "wasm32",
    not(target_feature = "atomics"),
    feature = "allocator"
))]
mod allocator;
mod context;
pub mod edit;
pub mod hooks;
mod json;
pub mod kinds;
#[doc(hidden)]
pub mod memory;
mod plugin;
#[doc(hidden)]
pub mod runtime;
pub mod state;
pub mod testing;
pub mod text;

/// The wire types (re-exported from `bifrost-wasm-types`).
pub use bifrost_wasm_types as types;

pub use context::{BifrostContext, GO_REQUEST_ID_KEY, REQUEST_ID_KEY, VIRTUAL_KEY};
pub use edit::RequestEdits;
pub use hooks::*;
pub use json::ToJson;
pub use kinds::{RequestKinds, ResponseKinds};
pub use plugin::{HookError, HookResult, Plugin};
pub use state::RequestMap;
pub use text::{ChunkChoice, ChunkEdits, TextField, TextSpot, Texts};
pub use types::{
    BifrostChatRequest, BifrostChatResponse, BifrostError, BifrostResponse, ChatContentBlock, ChatMessage,
    ChatMessageContent, ChatMessageRole, ChatParameters, ChatTool, ChatToolFunction, ErrorField, Fallback,
    HTTPRequest, HTTPResponse, HttpRequest, HttpResponse, JsonError, JsonKind, LLMPluginShortCircuit,
    LLMUsage, LlmError, LlmPluginShortCircuit, LlmRequest, LlmResponse, LlmUsage, RawJson, RequestKind,
    RequestShape, ResponseChoice, ResponseShape, ToolCall, ToolCallFunction,
};

/// Everything a plugin needs: `use bifrost_wasm_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::context::{BifrostContext, GO_REQUEST_ID_KEY, REQUEST_ID_KEY, VIRTUAL_KEY};
    pub use crate::edit::RequestEdits;
    pub use crate::hooks::{
        HttpPostHookInput, HttpPostHookOutput, HttpPreHookInput, HttpPreHookOutput, HttpRequestView,
        LlmResult, PostHookInput, PostHookOutput, PreHookInput, PreHookOutput, StreamChunkInput,
        StreamChunkOutput,
    };
    pub use crate::json::ToJson;
    pub use crate::kinds::{
        CompletionChoice, EmbeddingInput, EmbeddingRequest, EmbeddingResponse, GeneratedImage,
        ImageGenerationRequest, ImageGenerationResponse, RequestKinds, ResponseKinds, ResponsesItem,
        ResponsesRequest, ResponsesResponse, ResponsesStreamEvent, SpeechRequest, SpeechResponse,
        TextCompletionRequest, TextCompletionResponse, TranscriptionRequest, TranscriptionResponse,
    };
    pub use crate::plugin::{HookError, HookResult, Plugin};
    pub use crate::state::RequestMap;
    pub use crate::text::{ChunkChoice, ChunkEdits, TextField, TextSpot, Texts};
    pub use crate::types::{
        BifrostChatRequest, BifrostChatResponse, BifrostError, BifrostResponse, ChatContentBlock,
        ChatMessage, ChatMessageContent, ChatMessageRole, ChatParameters, ChatTool, ChatToolFunction,
        ErrorField, Fallback, HTTPRequest, HTTPResponse, HttpRequest, HttpResponse, JsonError, JsonKind,
        LLMPluginShortCircuit, LLMUsage, LlmError, LlmPluginShortCircuit, LlmRequest, LlmResponse, LlmUsage,
        RawJson, RequestKind, RequestShape, ResponseChoice, ResponseShape, ToolCall, ToolCallFunction,
    };
    pub use serde::{Deserialize, Serialize};
    pub use serde_json::{json, Value};
}

/// Implementation details of [`export_plugin!`]; not a stable API.
#[doc(hidden)]
pub mod __private {
    use crate::runtime::Hook;
    pub use crate::runtime::{HttpPost, HttpPre, PluginCell, Post, Pre, StreamChunk};
    use crate::Plugin;

    /// `malloc` export.
    pub fn malloc(size: u32) -> u32 {
        crate::memory::malloc(size)
    }

    /// `free` export. Only ever called by a host with buffers it got from `malloc` or a
    /// packed result; on wasm32 an out-of-range pointer traps instead of corrupting anything.
    pub fn free(ptr: u32, size: u32) {
        // SAFETY: see above; the host owns these buffers and frees each once.
        unsafe { crate::memory::free(ptr, size) }
    }

    /// A hook export: reads the host's input, runs the hook, hands back the output.
    pub fn hook<P: Plugin, K: Hook>(cell: &PluginCell<P>, ptr: u32, len: u32) -> u64 {
        // SAFETY: the host wrote `len` bytes at `ptr` (from `malloc`) and keeps them until
        // the call returns.
        let input = unsafe { crate::memory::input(ptr, len) };
        crate::memory::output(cell.run::<K>(input))
    }

    /// `init` export.
    pub fn init<P: Plugin>(cell: &PluginCell<P>, ptr: u32, len: u32) -> i32 {
        // SAFETY: as for `hook`.
        let config = unsafe { crate::memory::input(ptr, len) };
        cell.init(config)
    }

    /// `get_name` export.
    pub fn get_name<P: Plugin>() -> u64 {
        crate::memory::output(P::NAME.as_bytes().to_vec())
    }

    /// `last_error` export: 0 when there is none.
    pub fn last_error() -> u64 {
        match crate::runtime::last_error() {
            Some(text) => crate::memory::output(text.into_bytes()),
            None => 0,
        }
    }
}

/// Generates every export of the Bifrost WASM plugin ABI for a [`Plugin`] type.
///
/// Use it once per plugin crate (`crate-type = ["cdylib", "rlib"]`). The `#[no_mangle]`
/// exports exist only when compiling for `wasm32`; native builds (unit tests) get plain
/// functions so they never replace the process's own `malloc`/`free`. On `wasm32-wasip1`,
/// where wasi-libc already defines `malloc`/`free`, the allocator pair is exported as
/// `plugin_malloc`/`plugin_free(ptr, size)` (the names TinyGo plugins use, which hosts accept).
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            ::std::thread_local! {
                static __BIFROST_PLUGIN: $crate::__private::PluginCell<$plugin> =
                    const { $crate::__private::PluginCell::new() };
            }

            /// Allocates `size` bytes for the host (0 on failure; `malloc(0)` is valid).
            /// Exported as `plugin_malloc` on WASI targets, where wasi-libc owns `malloc`.
            #[cfg_attr(all(target_arch = "wasm32", not(target_os = "wasi")), no_mangle)]
            #[cfg_attr(
                all(target_arch = "wasm32", target_os = "wasi"),
                export_name = "plugin_malloc"
            )]
            #[allow(dead_code)]
            pub extern "C" fn malloc(size: u32) -> u32 {
                $crate::__private::malloc(size)
            }

            /// Frees a buffer from `malloc` or a packed result. Exported as `plugin_free`
            /// on WASI targets.
            #[cfg_attr(all(target_arch = "wasm32", not(target_os = "wasi")), no_mangle)]
            #[cfg_attr(
                all(target_arch = "wasm32", target_os = "wasi"),
                export_name = "plugin_free"
            )]
            #[allow(dead_code)]
            pub extern "C" fn free(ptr: u32, size: u32) {
                $crate::__private::free(ptr, size)
            }

            /// Packed name of the plugin.
            #[cfg_attr(target_arch = "wasm32", no_mangle)]
            #[allow(dead_code)]
            pub extern "C" fn get_name() -> u64 {
                $crate::__private::get_name::<$plugin>()
            }

            /// Initialises the plugin with its JSON config; 0 = ok.
            #[cfg_attr(target_arch = "wasm32", no_mangle)]
            #[allow(dead_code)]
            pub extern "C" fn init(ptr: u32, len: u32) -> i32 {
                __BIFROST_PLUGIN.with(|cell| $crate::__private::init::<$plugin>(cell, ptr, len))
            }

            /// HTTP pre-hook, older name.
            #[cfg_attr(target_arch = "wasm32", no_mangle)]
            #[allow(dead_code)]
            pub extern "C" fn http_intercept(ptr: u32, len: u32) -> u64 {
                __BIFROST_PLUGIN.with(|cell| {
                    $crate::__private::hook::<$plugin, $crate::__private::HttpPre>(cell, ptr, len)
                })
            }

            /// HTTP pre-hook.
            #[cfg_attr(target_arch = "wasm32", no_mangle)]
            #[allow(dead_code)]
            pub extern "C" fn http_pre_hook(ptr: u32, len: u32) -> u64 {
                __BIFROST_PLUGIN.with(|cell| {
                    $crate::__private::hook::<$plugin, $crate::__private::HttpPre>(cell, ptr, len)
                })
            }

            /// HTTP post-hook.
            #[cfg_attr(target_arch = "wasm32", no_mangle)]
            #[allow(dead_code)]
            pub extern "C" fn http_post_hook(ptr: u32, len: u32) -> u64 {
                __BIFROST_PLUGIN.with(|cell| {
                    $crate::__private::hook::<$plugin, $crate::__private::HttpPost>(cell, ptr, len)
                })
            }

            /// Streaming chunk hook.
            #[cfg_attr(target_arch = "wasm32", no_mangle)]
            #[allow(dead_code)]
            pub extern "C" fn http_stream_chunk_hook(ptr: u32, len: u32) -> u64 {
                __BIFROST_PLUGIN.with(|cell| {
                    $crate::__private::hook::<$plugin, $crate::__private::StreamChunk>(cell, ptr, len)
                })
            }

            /// LLM pre-hook.
            #[cfg_attr(target_arch = "wasm32", no_mangle)]
            #[allow(dead_code)]
            pub extern "C" fn pre_hook(ptr: u32, len: u32) -> u64 {
                __BIFROST_PLUGIN
                    .with(|cell| $crate::__private::hook::<$plugin, $crate::__private::Pre>(cell, ptr, len))
            }

            /// LLM post-hook.
            #[cfg_attr(target_arch = "wasm32", no_mangle)]
            #[allow(dead_code)]
            pub extern "C" fn post_hook(ptr: u32, len: u32) -> u64 {
                __BIFROST_PLUGIN
                    .with(|cell| $crate::__private::hook::<$plugin, $crate::__private::Post>(cell, ptr, len))
            }

            /// Releases the plugin's resources; 0 = ok.
            #[cfg_attr(target_arch = "wasm32", no_mangle)]
            #[allow(dead_code)]
            pub extern "C" fn cleanup() -> i32 {
                __BIFROST_PLUGIN.with(|cell| cell.cleanup())
            }

            /// Packed text of the last init failure or panic (0 if none).
            #[cfg_attr(target_arch = "wasm32", no_mangle)]
            #[allow(dead_code)]
            pub extern "C" fn last_error() -> u64 {
                $crate::__private::last_error()
            }
        };
    };
}
