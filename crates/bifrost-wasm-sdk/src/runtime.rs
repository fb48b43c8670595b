//! What the exports do: decode the input, call the plugin, encode the output — never trapping
//! on input. Used by [`export_plugin!`](crate::export_plugin) and by [`crate::testing`].

use std::cell::RefCell;

use crate::types::wire::{DecodeInput, EncodeOutput};

use crate::plugin::{HookResult, Plugin};
use crate::types::hooks::*;
use crate::types::BifrostContext;

/// Extra memory, beyond three times the input, that a hook must be able to allocate before it
/// starts; otherwise it answers "input too large" instead of running out of memory midway.
const HEADROOM_SLACK: usize = 64 * 1024;

thread_local! {
    static LAST_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
    static PANIC_HOOK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Records the text `last_error` hands to the host.
pub fn set_last_error(message: Option<String>) {
    LAST_ERROR.with(|e| {
        if let Ok(mut e) = e.try_borrow_mut() {
            *e = message;
        }
    });
}

/// The last init failure or panic message, if any.
pub fn last_error() -> Option<String> {
    LAST_ERROR.with(|e| e.try_borrow().ok().and_then(|e| e.clone()))
}

/// Installs (once) a panic hook that keeps the panic message for `last_error`, so a host can
/// say *why* a call trapped.
pub fn install_panic_hook() {
    if PANIC_HOOK.with(|p| p.replace(true)) {
        return;
    }
    #[cfg(target_arch = "wasm32")]
    std::panic::set_hook(Box::new(|info| {
        set_last_error(Some(format!("plugin panicked: {info}")));
    }));
    // Natively (unit tests) keep the previous hook too, so test failures still print.
    #[cfg(not(target_arch = "wasm32"))]
    {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            set_last_error(Some(format!("plugin panicked: {info}")));
            previous(info);
        }));
    }
}

enum State<P> {
    Uninit,
    Ready(P),
    Failed(String),
}

/// Holds the plugin instance of a wasm instance.
pub struct PluginCell<P> {
    state: RefCell<State<P>>,
}

impl<P> Default for PluginCell<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> PluginCell<P> {
    /// An uninitialised cell.
    pub const fn new() -> Self {
        PluginCell {
            state: RefCell::new(State::Uninit),
        }
    }
}

fn is_default_config(bytes: &[u8]) -> bool {
    let trimmed = bytes.trim_ascii();
    if trimmed.is_empty() || trimmed == b"null" {
        return true;
    }
    trimmed.first() == Some(&b'{')
        && std::str::from_utf8(trimmed).is_ok_and(|t| {
            crate::types::scan::validate(t).is_ok() && crate::types::scan::Members::new(t).next().is_none()
        })
}

impl<P: Plugin> PluginCell<P> {
    /// Runs `init`: 0 on success, 1 on a bad config or a failing [`Plugin::new`] (the reason
    /// goes to `last_error`).
    pub fn init(&self, config: &[u8]) -> i32 {
        install_panic_hook();
        match Self::create(config) {
            Ok(plugin) => {
                *self.state.borrow_mut() = State::Ready(plugin);
                set_last_error(None);
                0
            }
            Err(message) => {
                set_last_error(Some(message.clone()));
                *self.state.borrow_mut() = State::Failed(message);
                1
            }
        }
    }

    fn create(config: &[u8]) -> Result<P, String> {
        let config: P::Config = if is_default_config(config) {
            P::Config::default()
        } else {
            let text = std::str::from_utf8(config)
                .map_err(|_| format!("invalid config for plugin `{}`: not UTF-8 text", P::NAME))?;
            crate::types::reader::typed(text)
                .map_err(|e| format!("invalid config for plugin `{}`: {e}", P::NAME))?
        };
        P::new(config).map_err(|e| format!("plugin `{}` failed to initialise: {}", P::NAME, e.message()))
    }

    /// Runs `cleanup`: 0 on success, 1 if [`Plugin::cleanup`] failed.
    pub fn cleanup(&self) -> i32 {
        let mut state = self.state.borrow_mut();
        let result = match &mut *state {
            State::Ready(p) => p.cleanup(),
            _ => Ok(()),
        };
        match result {
            Ok(()) => 0,
            Err(e) => {
                set_last_error(Some(format!("cleanup failed: {}", e.message())));
                1
            }
        }
    }

    /// Runs one hook on raw input bytes and returns the output JSON bytes. Always returns a
    /// valid output document, whatever the input.
    pub fn run<K: Hook>(&self, input: &[u8]) -> Vec<u8> {
        // Everything that does not depend on the hook lives in non-generic functions, so the
        // five instances of this one stay small.
        if let Some(message) = prologue(K::EXPORT, input.len()) {
            return encode(&K::error_only(BifrostContext::default(), message));
        }
        let parsed = match decode::<K>(input) {
            Ok(parsed) => parsed,
            Err(output) => return encode(&output),
        };
        if let Err(message) = K::check(&parsed) {
            return encode(&K::pass_with_error(parsed, message));
        }
        let mut state = self.state.borrow_mut();
        let plugin = match Self::ready(&mut state) {
            Ok(plugin) => plugin,
            Err(message) => return encode(&K::pass_with_error(parsed, message)),
        };
        match K::call(plugin, parsed) {
            Ok(output) => encode(&output),
            Err(e) => match decode::<K>(input) {
                Ok(again) => encode(&K::pass_with_error(again, e.message().to_string())),
                Err(output) => encode(&output),
            },
        }
    }

    /// The plugin, created with the default config if `init` was never called; or why there
    /// is none.
    fn ready(state: &mut State<P>) -> Result<&mut P, String> {
        if matches!(state, State::Uninit) {
            *state = match Self::create(b"") {
                Ok(p) => State::Ready(p),
                Err(e) => State::Failed(e),
            };
        }
        match state {
            State::Ready(p) => Ok(p),
            State::Failed(reason) => Err(not_initialised(P::NAME, reason)),
            State::Uninit => Err(not_initialised(P::NAME, "no configuration")),
        }
    }
}

/// Per-call checks before decoding: installs the panic hook and refuses inputs the plugin's
/// memory could not process (an allocation failure would abort).
#[inline(never)]
fn prologue(export: &str, len: usize) -> Option<String> {
    install_panic_hook();
    if crate::memory::has_headroom(len.saturating_mul(3).saturating_add(HEADROOM_SLACK)) {
        return None;
    }
    Some(format!(
        "{export} input of {len} bytes is too large for this plugin's memory limit"
    ))
}

#[inline(never)]
fn not_initialised(name: &str, reason: &str) -> String {
    format!("plugin `{name}` is not initialised: {reason}")
}

fn decode<K: Hook>(input: &[u8]) -> Result<K::Input, K::Output> {
    K::Input::decode(K::EXPORT, input).map_err(|e| K::error_only(e.context, e.message))
}

fn encode<T: EncodeOutput>(output: &T) -> Vec<u8> {
    output.to_json()
}

/// One hook's input/output contract. Implemented by the marker types in this module.
pub trait Hook {
    /// The export name (for messages).
    const EXPORT: &'static str;
    /// Input envelope.
    type Input: DecodeInput;
    /// Output envelope.
    type Output: EncodeOutput;
    /// Rejects inputs whose payloads have the wrong JSON type.
    fn check(input: &Self::Input) -> Result<(), String>;
    /// Calls the plugin's hook.
    fn call<P: Plugin>(plugin: &mut P, input: Self::Input) -> HookResult<Self::Output>;
    /// The pass-through output carrying an error message.
    fn pass_with_error(input: Self::Input, message: String) -> Self::Output;
    /// An error output when the input could not be read (context as far as readable).
    fn error_only(context: BifrostContext, message: String) -> Self::Output;
}

/// `http_pre_hook` / `http_intercept`.
pub struct HttpPre;
/// `http_post_hook`.
pub struct HttpPost;
/// `http_stream_chunk_hook`.
pub struct StreamChunk;
/// `pre_hook`.
pub struct Pre;
/// `post_hook`.
pub struct Post;

impl Hook for HttpPre {
    const EXPORT: &'static str = "http_pre_hook";
    type Input = HttpPreHookInput;
    type Output = HttpPreHookOutput;
    fn check(input: &Self::Input) -> Result<(), String> {
        expect_object("http_pre_hook `request`", &input.request, false)
    }
    fn call<P: Plugin>(plugin: &mut P, input: Self::Input) -> HookResult<Self::Output> {
        plugin.http_pre_hook(input)
    }
    fn pass_with_error(input: Self::Input, message: String) -> Self::Output {
        let mut out = input.pass_through();
        out.error = message;
        out
    }
    fn error_only(context: BifrostContext, message: String) -> Self::Output {
        HttpPreHookOutput {
            context,
            error: message,
            ..Default::default()
        }
    }
}

impl Hook for HttpPost {
    const EXPORT: &'static str = "http_post_hook";
    type Input = HttpPostHookInput;
    type Output = HttpPostHookOutput;
    fn check(input: &Self::Input) -> Result<(), String> {
        expect_object("http_post_hook `request`", &input.request, false)?;
        expect_object("http_post_hook `response`", &input.response, false)
    }
    fn call<P: Plugin>(plugin: &mut P, input: Self::Input) -> HookResult<Self::Output> {
        plugin.http_post_hook(input)
    }
    fn pass_with_error(input: Self::Input, message: String) -> Self::Output {
        let mut out = input.pass_through();
        out.error = message;
        out
    }
    fn error_only(context: BifrostContext, message: String) -> Self::Output {
        HttpPostHookOutput {
            context,
            error: message,
        }
    }
}

impl Hook for StreamChunk {
    const EXPORT: &'static str = "http_stream_chunk_hook";
    type Input = StreamChunkInput;
    type Output = StreamChunkOutput;
    fn check(input: &Self::Input) -> Result<(), String> {
        expect_object("http_stream_chunk_hook `chunk`", &input.chunk, false)?;
        expect_object("http_stream_chunk_hook `request`", &input.request, true)
    }
    fn call<P: Plugin>(plugin: &mut P, input: Self::Input) -> HookResult<Self::Output> {
        plugin.http_stream_chunk_hook(input)
    }
    fn pass_with_error(input: Self::Input, message: String) -> Self::Output {
        let mut out = input.pass_through();
        out.error = message;
        out
    }
    fn error_only(context: BifrostContext, message: String) -> Self::Output {
        StreamChunkOutput {
            context,
            error: message,
            ..Default::default()
        }
    }
}

impl Hook for Pre {
    const EXPORT: &'static str = "pre_hook";
    type Input = PreHookInput;
    type Output = PreHookOutput;
    fn check(input: &Self::Input) -> Result<(), String> {
        expect_object("pre_hook `request`", input.request.raw(), false)
    }
    fn call<P: Plugin>(plugin: &mut P, input: Self::Input) -> HookResult<Self::Output> {
        plugin.pre_hook(input)
    }
    fn pass_with_error(input: Self::Input, message: String) -> Self::Output {
        let mut out = input.pass_through();
        out.error = message;
        out
    }
    fn error_only(context: BifrostContext, message: String) -> Self::Output {
        PreHookOutput {
            context,
            error: message,
            ..Default::default()
        }
    }
}

impl Hook for Post {
    const EXPORT: &'static str = "post_hook";
    type Input = PostHookInput;
    type Output = PostHookOutput;
    fn check(input: &Self::Input) -> Result<(), String> {
        expect_object("post_hook `response`", input.response.raw(), true)?;
        expect_object("post_hook `error`", &input.error, true)?;
        if input.response.raw().is_null() && !input.has_error {
            return Err("post_hook input has neither a response nor an error".to_string());
        }
        Ok(())
    }
    fn call<P: Plugin>(plugin: &mut P, input: Self::Input) -> HookResult<Self::Output> {
        plugin.post_hook(input)
    }
    fn pass_with_error(input: Self::Input, message: String) -> Self::Output {
        let mut out = input.pass_through();
        out.hook_error = message;
        out
    }
    fn error_only(context: BifrostContext, message: String) -> Self::Output {
        PostHookOutput {
            context,
            hook_error: message,
            ..Default::default()
        }
    }
}
