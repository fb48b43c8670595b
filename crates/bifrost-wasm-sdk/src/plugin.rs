//! The [`Plugin`] trait: one method per hook, each passing through by default.

use std::fmt;

use serde::de::DeserializeOwned;

use crate::hooks::*;

/// An error a hook (or `init`) reports instead of trapping.
///
/// Any error type converts into it with `?`, so hooks can use `?` freely. The message reaches
/// the host in the hook's `error` (or `hook_error`) field; the request continues according
/// to Bifrost's rules for that hook.
pub struct HookError {
    message: String,
}

impl HookError {
    /// An error with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        HookError {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Debug for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HookError({:?})", self.message)
    }
}

impl<E: fmt::Display> From<E> for HookError {
    fn from(e: E) -> Self {
        HookError::new(e.to_string())
    }
}

/// Result of a hook: the output, or an error reported in the output's `error` field (the
/// SDK then passes the input through unchanged).
pub type HookResult<T> = Result<T, HookError>;

/// A Bifrost plugin. Implement the hooks you need; every other hook passes its input through.
///
/// The host calls `init` once with the plugin's `config` (from Bifrost's `config.json`), then
/// hooks for every request, then `cleanup` on shutdown. One instance serves one call at a
/// time, so `&mut self` state (counters, caches) needs no locking; a host may run several
/// instances, each with its own state.
///
/// ```
/// use bifrost_wasm_sdk::prelude::*;
///
/// #[derive(Default)]
/// struct Tagger;
///
/// impl Plugin for Tagger {
///     const NAME: &'static str = "tagger";
///     type Config = serde_json::Value;
///
///     fn new(_config: Self::Config) -> HookResult<Self> {
///         Ok(Tagger)
///     }
///
///     fn pre_hook(&mut self, mut input: PreHookInput) -> HookResult<PreHookOutput> {
///         input.context.set_value("tagged", true);
///         Ok(input.pass_through())
///     }
/// }
///
/// bifrost_wasm_sdk::export_plugin!(Tagger);
/// # fn main() {}
/// ```
pub trait Plugin: Sized + 'static {
    /// The name `get_name` returns (Bifrost registers the plugin under it).
    const NAME: &'static str;

    /// Configuration, deserialized from the `config` value. An empty config, `null` and `{}`
    /// all give `Config::default()`.
    type Config: DeserializeOwned + Default;

    /// Creates the plugin from its configuration (the `init` export). An error makes `init`
    /// return non-zero and is available to the host through `last_error`.
    fn new(config: Self::Config) -> HookResult<Self>;

    /// HTTP request before Bifrost parses it (`http_pre_hook`, also exported as the older
    /// `http_intercept`). Modify the request, or answer directly with
    /// [`HttpPreHookInput::respond`].
    fn http_pre_hook(&mut self, input: HttpPreHookInput) -> HookResult<HttpPreHookOutput> {
        Ok(input.pass_through())
    }

    /// HTTP response of a non-streaming request, after the LLM hooks (`http_post_hook`). The
    /// response cannot be changed here; record observations in the context.
    fn http_post_hook(&mut self, input: HttpPostHookInput) -> HookResult<HttpPostHookOutput> {
        Ok(input.pass_through())
    }

    /// One chunk of a streaming response (`http_stream_chunk_hook`): pass, replace or skip it.
    fn http_stream_chunk_hook(&mut self, input: StreamChunkInput) -> HookResult<StreamChunkOutput> {
        Ok(input.pass_through())
    }

    /// The parsed LLM request before the provider is called (`pre_hook`): modify it, or
    /// short-circuit with a response or an error.
    fn pre_hook(&mut self, input: PreHookInput) -> HookResult<PreHookOutput> {
        Ok(input.pass_through())
    }

    /// The provider's response or error (`post_hook`): modify, replace or recover.
    fn post_hook(&mut self, input: PostHookInput) -> HookResult<PostHookOutput> {
        Ok(input.pass_through())
    }

    /// Called once on shutdown (`cleanup`); an error makes `cleanup` return non-zero.
    fn cleanup(&mut self) -> HookResult<()> {
        Ok(())
    }
}
