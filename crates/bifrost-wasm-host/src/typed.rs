//! Typed hook calls over the shared wire types of `bifrost-wasm-types`.
//!
//! Each wrapper serialises the input envelope with `serde_json`, runs the raw call
//! ([`PluginInstance::call`]) and parses the output envelope. `Ok(None)` means the
//! plugin does not implement the hook (pass-through). Payloads the types keep as raw
//! JSON (requests, responses, chunks) cross unchanged.

use bifrost_wasm_types::hooks::{
    HttpPostHookInput, HttpPostHookOutput, HttpPreHookInput, HttpPreHookOutput, PostHookInput,
    PostHookOutput, PreHookInput, PreHookOutput, StreamChunkInput, StreamChunkOutput,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::HostError;
use bifrost_wasm_types::Hook;
use crate::instance::PluginInstance;

impl PluginInstance {
    fn typed_hook<I: Serialize, O: DeserializeOwned>(
        &mut self,
        hook: Hook,
        input: &I,
    ) -> Result<Option<O>, HostError> {
        if !self.has_hook(hook) {
            return Ok(None);
        }
        self.call_typed(hook, input).map(Some)
    }

    /// Calls `http_pre_hook` (or `http_intercept`).
    pub fn http_pre_hook(
        &mut self,
        input: &HttpPreHookInput,
    ) -> Result<Option<HttpPreHookOutput>, HostError> {
        self.typed_hook(Hook::HttpPreHook, input)
    }

    /// Calls `http_post_hook`.
    pub fn http_post_hook(
        &mut self,
        input: &HttpPostHookInput,
    ) -> Result<Option<HttpPostHookOutput>, HostError> {
        self.typed_hook(Hook::HttpPostHook, input)
    }

    /// Calls `http_stream_chunk_hook`.
    pub fn http_stream_chunk_hook(
        &mut self,
        input: &StreamChunkInput,
    ) -> Result<Option<StreamChunkOutput>, HostError> {
        self.typed_hook(Hook::HttpStreamChunkHook, input)
    }

    /// Calls `pre_hook`.
    pub fn pre_hook(&mut self, input: &PreHookInput) -> Result<Option<PreHookOutput>, HostError> {
        self.typed_hook(Hook::PreHook, input)
    }

    /// Calls `post_hook`.
    pub fn post_hook(&mut self, input: &PostHookInput) -> Result<Option<PostHookOutput>, HostError> {
        self.typed_hook(Hook::PostHook, input)
    }
}
