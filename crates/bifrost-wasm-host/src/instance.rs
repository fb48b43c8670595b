//! Plugin instances: one wasm instance that heals itself after a failure.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::abi::AllocatorVariant;
use crate::error::{ErrorKind, HostError};
use crate::live::{excerpt, Live};
use crate::plugin::{LoadedPlugin, PluginShared};
use bifrost_wasm_types::Hook;

/// The live instance, created (and `init`ed) first if a failed replacement left none.
fn live_of<'a>(
    shared: &PluginShared,
    live: &'a mut Option<Live>,
    config: Option<&str>,
) -> Result<&'a mut Live, HostError> {
    if live.is_none() {
        *live = Some(Live::create(shared, config)?);
    }
    // Borrowing `live` in place (no move of the instance on every call).
    live.as_mut().ok_or_else(|| {
        shared.error(ErrorKind::Instantiate {
            message: "no live instance after creating one".into(),
            hint: "this is a host bug; please report it".into(),
        })
    })
}

/// One instance of a plugin: its own linear memory and state, serving one call at a
/// time (`&mut self`).
///
/// An instance heals itself: when a call traps, times out, overflows the stack or hits
/// the memory cap, the wasm instance is thrown away and a fresh one is created and
/// `init`ed with the same configuration before the error is returned, so the next call
/// works (the plugin's in-memory state starts over). If re-creation fails, the next call
/// tries again and returns that failure until it succeeds.
///
/// It also degrades gracefully: an instance whose linear memory has grown past
/// [`RECYCLE_PERCENT`] of the memory cap after a call (a plugin that leaks per call) is
/// replaced by a fresh one right after that call, between requests, before the cap fails one;
/// and a call that fails on the memory cap is retried once on the fresh instance before the
/// error is returned. Both are counted ([`PluginInstance::recycles`],
/// [`PluginInstance::retries`]) and logged.
///
/// Dropping an instance calls the plugin's `cleanup` (a non-zero result or a failure
/// is logged as a warning); [`PluginInstance::cleanup`] does it explicitly.
pub struct PluginInstance {
    plugin: LoadedPlugin,
    config: Option<String>,
    live: Option<Live>,
    replacements: u64,
    recycles: u64,
    retries: u64,
}

/// The share of the memory cap (in percent) past which an instance is recycled after a call.
pub const RECYCLE_PERCENT: usize = 80;

impl fmt::Debug for PluginInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginInstance")
            .field("plugin", &self.plugin.name())
            .field("live", &self.live.is_some())
            .field("replacements", &self.replacements)
            .finish_non_exhaustive()
    }
}

impl PluginInstance {
    pub(crate) fn new(plugin: LoadedPlugin, config: Option<String>) -> Result<PluginInstance, HostError> {
        let live = Live::create(&plugin.inner, config.as_deref())?;
        Ok(PluginInstance {
            plugin,
            config,
            live: Some(live),
            replacements: 0,
            recycles: 0,
            retries: 0,
        })
    }

    /// The plugin this is an instance of.
    pub fn plugin(&self) -> &LoadedPlugin {
        &self.plugin
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        self.plugin.name()
    }

    /// The configuration JSON the instance was `init`ed with.
    pub fn config(&self) -> Option<&str> {
        self.config.as_deref()
    }

    /// Whether the plugin implements `hook`.
    pub fn has_hook(&self, hook: Hook) -> bool {
        self.plugin.has_hook(hook)
    }

    /// How many times the wasm instance was replaced after a failure.
    pub fn replacements(&self) -> u64 {
        self.replacements
    }

    /// How many times the instance was recycled for using most of the memory cap.
    pub fn recycles(&self) -> u64 {
        self.recycles
    }

    /// How many calls that hit the memory cap were retried on a fresh instance.
    pub fn retries(&self) -> u64 {
        self.retries
    }

    /// Current linear memory size in bytes (0 while no live instance exists).
    pub fn memory_size(&self) -> usize {
        self.live
            .as_ref()
            .map_or(0, |live| live.memory.data_size(&live.store))
    }

    fn live(&mut self) -> Result<&mut Live, HostError> {
        live_of(&self.plugin.inner, &mut self.live, self.config.as_deref())
    }

    fn after_failure(&mut self, error: &HostError) {
        if !error.instance_replaced() {
            return;
        }
        self.live = None;
        self.replacements += 1;
        match Live::create(&self.plugin.inner, self.config.as_deref()) {
            Ok(live) => self.live = Some(live),
            Err(e) => tracing::warn!(
                plugin = self.plugin.name(),
                "could not replace the failed instance (the next call retries): {e}"
            ),
        }
    }

    /// Calls `hook` with `input` (normally a JSON document) and returns its output,
    /// checked to be UTF-8 JSON within the output cap.
    ///
    /// A hook the plugin lacks is [`ErrorKind::HookNotImplemented`]; see
    /// [`PluginInstance::call_hook`] for the pass-through form.
    pub fn call(&mut self, hook: Hook, input: &[u8]) -> Result<String, HostError> {
        self.guarded(hook, |live, shared, export| {
            live.call_hook(shared, hook, export, input)
        })
    }

    /// Calls `hook` with `input` and appends its output to `out` exactly as the plugin wrote
    /// it: bounds-checked and within the output cap, but **not** checked to be UTF-8 or JSON.
    /// For callers that validate the output anyway while reading it (as the plugin chain does
    /// with [`bifrost_wasm_types::codec::Envelope::parse_as`]), so that it is scanned once;
    /// everyone else wants [`PluginInstance::call`].
    pub fn call_into(&mut self, hook: Hook, input: &[u8], out: &mut Vec<u8>) -> Result<(), HostError> {
        let start = out.len();
        self.guarded(hook, |live, shared, export| {
            out.truncate(start);
            live.call_hook_raw(shared, hook, export, input, out)
        })
    }

    /// Runs one hook call with the instance's self-healing: replacement after a failure, one
    /// retry on the fresh instance when the failure was the memory cap, and recycling when the
    /// call left the instance near the cap.
    fn guarded<T>(
        &mut self,
        hook: Hook,
        mut call: impl FnMut(&mut Live, &crate::plugin::PluginShared, &'static str) -> Result<T, HostError>,
    ) -> Result<T, HostError> {
        let Some(export) = self.plugin.inner.abi.hooks[hook.index()] else {
            return Err(self.plugin.inner.not_implemented(hook));
        };
        let mut retried = false;
        loop {
            let shared = &*self.plugin.inner;
            let result = call(
                live_of(shared, &mut self.live, self.config.as_deref())?,
                shared,
                export,
            );
            match result {
                Ok(value) => {
                    self.recycle_if_near_cap(export);
                    return Ok(value);
                }
                Err(e) => {
                    self.after_failure(&e);
                    let memory = matches!(e.kind(), ErrorKind::MemoryLimit { .. });
                    if !memory || retried || self.live.is_none() {
                        return Err(e);
                    }
                    retried = true;
                    self.retries += 1;
                    tracing::warn!(
                        plugin = self.plugin.name(),
                        "plugin {}: `{export}` hit the memory cap; retrying it once on a fresh instance: {e}",
                        self.plugin.name()
                    );
                }
            }
        }
    }

    /// Replaces the instance (between calls) when its memory has grown past
    /// [`RECYCLE_PERCENT`] of the cap.
    fn recycle_if_near_cap(&mut self, export: &str) {
        let cap = self.plugin.inner.host.config.memory_limit;
        let used = self.memory_size();
        if used.saturating_mul(100) <= cap.saturating_mul(RECYCLE_PERCENT) {
            return;
        }
        self.recycles += 1;
        tracing::warn!(
            plugin = self.plugin.name(),
            "plugin {}: its instance uses {used} of its {cap}-byte memory cap after `{export}`; recycled \
             (fresh instance, init again) before a call fails on the cap; a plugin whose memory grows \
             per call leaks",
            self.plugin.name()
        );
        // The old instance is done with: its `cleanup` runs (errors are logged inside).
        let _ = self.run_cleanup();
        match Live::create(&self.plugin.inner, self.config.as_deref()) {
            Ok(live) => self.live = Some(live),
            Err(e) => tracing::warn!(
                plugin = self.plugin.name(),
                "could not recycle the instance (the next call retries): {e}"
            ),
        }
    }

    /// Like [`PluginInstance::call`], but a hook the plugin does not implement gives
    /// `Ok(None)` (pass-through).
    pub fn call_hook(&mut self, hook: Hook, input: &[u8]) -> Result<Option<String>, HostError> {
        if !self.has_hook(hook) {
            return Ok(None);
        }
        self.call(hook, input).map(Some)
    }

    /// Calls `hook` with a JSON value and parses the output.
    pub fn call_json(
        &mut self,
        hook: Hook,
        input: &serde_json::Value,
    ) -> Result<serde_json::Value, HostError> {
        self.call_typed(hook, input)
    }

    /// Calls `hook` with any serialisable input and deserialises the output into `O`
    /// (a JSON document of another shape is [`ErrorKind::OutputShape`]).
    pub fn call_typed<I, O>(&mut self, hook: Hook, input: &I) -> Result<O, HostError>
    where
        I: Serialize + ?Sized,
        O: DeserializeOwned,
    {
        let shared = &*self.plugin.inner;
        let bytes = serde_json::to_vec(input).map_err(|e| {
            shared
                .error(ErrorKind::InputEncoding { error: e.to_string() })
                .in_function(hook.name())
                .caused_by(e)
        })?;
        let text = self.call(hook, &bytes)?;
        serde_json::from_str(&text).map_err(|e| {
            self.plugin
                .inner
                .error(ErrorKind::OutputShape {
                    error: e.to_string(),
                    excerpt: excerpt(text.as_bytes()),
                })
                .in_function(hook.name())
                .caused_by(e)
        })
    }

    /// Calls `get_name` on this instance.
    pub fn get_name(&mut self) -> Result<String, HostError> {
        let shared = self.plugin.inner.clone();
        let result = self.live()?.read_name(&shared);
        if let Err(e) = &result {
            self.after_failure(e);
        }
        result
    }

    /// Calls the plugin's `last_error` (if exported) and returns its text.
    pub fn last_error(&mut self) -> Result<Option<String>, HostError> {
        let shared = self.plugin.inner.clone();
        let live = self.live()?;
        let host = &*shared.host;
        let _in_flight = host.ticker.as_ref().map(|t| t.enter());
        let funcs = (live.last_error.clone(), live.memory, live.free.clone());
        let text = Live::fetch_last_error(&mut live.store, &shared, funcs);
        live.flush_log();
        Ok(text)
    }

    /// Calls `cleanup` and ends the instance. Returns the plugin's status (`None`
    /// when it exports no `cleanup`). A non-zero status is also logged as a warning.
    pub fn cleanup(mut self) -> Result<Option<i32>, HostError> {
        self.run_cleanup()
    }

    fn run_cleanup(&mut self) -> Result<Option<i32>, HostError> {
        let Some(mut live) = self.live.take() else {
            return Ok(None);
        };
        let shared = self.plugin.inner.clone();
        let result = live.run_cleanup(&shared);
        match &result {
            Ok(Some(code)) if *code != 0 => tracing::warn!(
                plugin = self.plugin.name(),
                "cleanup returned {code} (0 means success)"
            ),
            Err(e) => tracing::warn!(plugin = self.plugin.name(), "cleanup failed: {e}"),
            _ => {}
        }
        result
    }

    /// The allocator variant in use (for diagnostics).
    pub fn allocator(&self) -> AllocatorVariant {
        self.plugin.inner.abi.allocator
    }
}

impl Drop for PluginInstance {
    fn drop(&mut self) {
        // Errors are logged inside.
        let _ = self.run_cleanup();
    }
}

impl LoadedPlugin {
    /// Creates a fresh instance and `init`s it with `config` (JSON text; `None`
    /// passes length 0; `null` and `{}` are passed as given). A non-zero `init` is
    /// [`ErrorKind::InitFailed`] with the plugin's `last_error` text.
    pub fn instantiate(&self, config: Option<&str>) -> Result<PluginInstance, HostError> {
        PluginInstance::new(self.clone(), config.map(str::to_string))
    }
}
