//! What the exports do: read the input, call the plugin, write the output — never trapping
//! on input. Used by [`export_plugin!`](crate::export_plugin) and by [`crate::testing`].
//!
//! One call: the input is checked as UTF-8, copied once into a shared buffer, validated and
//! indexed in one pass ([`codec::Envelope`]); the hook's views share that buffer (nothing
//! else is parsed until the hook reads it); the output is written by [`codec`], repeating
//! every payload the hook did not replace byte for byte.

use std::cell::RefCell;
use std::sync::Arc;

use crate::context::BifrostContext;
use crate::hooks::*;
use crate::plugin::{HookResult, Plugin};
use crate::types::codec::{self, Direction, Envelope, WriteJson};
use crate::types::error::LlmError;
use crate::types::shape::{LlmRequest, LlmResponse};
use crate::types::{scan, Hook as HookKind, RawJson};

/// Inputs above this size are refused unless the plugin's memory could hold three times
/// their size more (an allocation failure would abort the instance).
const HEADROOM_CHECK_ABOVE: usize = 32 * 1024;

/// Extra memory, beyond three times the input, that a large input needs before processing.
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
        && std::str::from_utf8(trimmed)
            .is_ok_and(|t| scan::validate(t).is_ok() && scan::Members::new(t).next().is_none())
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
        let src = match prologue(K::KIND, input) {
            Ok(src) => src,
            Err(output) => return output,
        };
        let parsed = match read::<K>(&src) {
            Ok(parsed) => parsed,
            Err(output) => return output,
        };
        if let Err(message) = K::check(&parsed) {
            return write::<K>(&K::pass_with_error(parsed, message));
        }
        let mut state = self.state.borrow_mut();
        let plugin = match Self::ready(&mut state) {
            Ok(plugin) => plugin,
            Err(message) => return write::<K>(&K::pass_with_error(parsed, message)),
        };
        match K::call(plugin, parsed) {
            Ok(output) => write::<K>(&output),
            Err(e) => match read::<K>(&src) {
                Ok(again) => write::<K>(&K::pass_with_error(again, e.message().to_string())),
                Err(output) => output,
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

/// A failure output for `hook` carrying `message` (and the context, when it was readable).
#[inline(never)]
fn failure(hook: HookKind, context: Option<&str>, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + message.len() + context.map_or(0, str::len));
    codec::write_failure(
        hook,
        context.as_ref().map(|c| c as &dyn WriteJson),
        message,
        &mut out,
    );
    out
}

/// Per-call work before reading: installs the panic hook, refuses inputs the plugin's
/// memory could not process, checks UTF-8, and copies the input into the buffer the hook's
/// views share.
#[inline(never)]
fn prologue(hook: HookKind, input: &[u8]) -> Result<Arc<str>, Vec<u8>> {
    install_panic_hook();
    let len = input.len();
    if len > HEADROOM_CHECK_ABOVE
        && !crate::memory::has_headroom(len.saturating_mul(3).saturating_add(HEADROOM_SLACK))
    {
        let message = format!(
            "{} input of {len} bytes is too large for this plugin's memory limit",
            hook.name()
        );
        return Err(failure(hook, None, &message));
    }
    let text = scan::utf8(input).map_err(|e| {
        let message = if input.trim_ascii().is_empty() {
            format!("{} input is empty", hook.name())
        } else {
            format!("{} input is not valid UTF-8: {e}", hook.name())
        };
        failure(hook, None, &message)
    })?;
    Ok(Arc::from(text))
}

/// The hook's view of its input, or the failure output that answers an unreadable one.
fn read<K: Hook>(src: &Arc<str>) -> Result<K::Input, Vec<u8>> {
    let env = Envelope::parse_text(K::KIND, Direction::Input, src)
        .map_err(|e| failure(K::KIND, None, e.message()))?;
    let reader = Reader { src, env: &env };
    K::decode(&reader).map_err(|e| failure(K::KIND, e.context, &e.message))
}

fn write<K: Hook>(output: &K::Output) -> Vec<u8> {
    let mut out = Vec::new();
    K::write(output, &mut out);
    out
}

#[inline(never)]
fn not_initialised(name: &str, reason: &str) -> String {
    format!("plugin `{name}` is not initialised: {reason}")
}

/// Why an input could not be handed to the plugin.
pub struct Unreadable<'a> {
    message: String,
    /// The context to echo, when it could be read.
    context: Option<&'a str>,
}

/// Builds the hook views of one input: members of the validated envelope, sharing `src`.
pub struct Reader<'a> {
    src: &'a Arc<str>,
    env: &'a Envelope<'a>,
}

impl<'a> Reader<'a> {
    /// Member `name` as a value sharing the input's buffer; `null` when absent.
    fn raw(&self, name: &str) -> RawJson {
        match self.env.get(name) {
            Some(part) => self.shared(part),
            None => RawJson::null(),
        }
    }

    fn shared(&self, part: &str) -> RawJson {
        let start = (part.as_ptr() as usize).wrapping_sub(self.src.as_ptr() as usize);
        RawJson::from_shared(self.src, start, start.wrapping_add(part.len()))
    }

    fn context(&self) -> Result<BifrostContext, Unreadable<'a>> {
        match self.env.member("context") {
            None => Ok(BifrostContext::new()),
            Some((part, members)) => {
                BifrostContext::from_indexed(self.shared(part), members).map_err(|e| Unreadable {
                    message: format!("{} `context` {e}", self.env.hook().name()),
                    context: None,
                })
            }
        }
    }

    fn request(&self) -> LlmRequest {
        match self.env.member("request") {
            Some((part, members)) => LlmRequest::from_indexed(self.shared(part), members),
            None => LlmRequest::from_indexed(RawJson::null(), std::iter::empty()),
        }
    }

    fn response(&self) -> LlmResponse {
        match self.env.member("response") {
            Some((part, members)) => LlmResponse::from_indexed(self.shared(part), members),
            None => LlmResponse::from_indexed(RawJson::null(), std::iter::empty()),
        }
    }

    /// An input that cannot be read into the hook's view: reported, echoing the context.
    fn reject(&self, message: String) -> Unreadable<'a> {
        Unreadable {
            message,
            context: self.env.get("context").filter(|c| c.starts_with('{')),
        }
    }
}

/// One hook's input/output contract. Implemented by the marker types in this module.
pub trait Hook {
    /// Which hook.
    const KIND: HookKind;
    /// Input view.
    type Input;
    /// Output.
    type Output;
    /// Builds the input view.
    fn decode<'a>(reader: &Reader<'a>) -> Result<Self::Input, Unreadable<'a>>;
    /// Rejects inputs whose payloads have the wrong JSON type (they are echoed, with the
    /// reason in the output's error).
    fn check(input: &Self::Input) -> Result<(), String>;
    /// Calls the plugin's hook.
    fn call<P: Plugin>(plugin: &mut P, input: Self::Input) -> HookResult<Self::Output>;
    /// The pass-through output carrying an error message.
    fn pass_with_error(input: Self::Input, message: String) -> Self::Output;
    /// Writes the output envelope.
    fn write(output: &Self::Output, out: &mut Vec<u8>);
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

fn json<T: WriteJson>(value: &Option<T>) -> Option<&dyn WriteJson> {
    value.as_ref().map(|v| v as &dyn WriteJson)
}

impl Hook for HttpPre {
    const KIND: HookKind = HookKind::HttpPreHook;
    type Input = HttpPreHookInput;
    type Output = HttpPreHookOutput;

    fn decode<'a>(r: &Reader<'a>) -> Result<Self::Input, Unreadable<'a>> {
        Ok(HttpPreHookInput {
            context: r.context()?,
            request: r.raw("request"),
        })
    }

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

    fn write(o: &Self::Output, out: &mut Vec<u8>) {
        codec::http_pre_hook::Output {
            context: Some(&o.context as &dyn WriteJson),
            request: json(&o.request),
            response: json(&o.response),
            has_response: o.has_response,
            error: o.error.as_str().into(),
        }
        .write(out)
    }
}

impl Hook for HttpPost {
    const KIND: HookKind = HookKind::HttpPostHook;
    type Input = HttpPostHookInput;
    type Output = HttpPostHookOutput;

    fn decode<'a>(r: &Reader<'a>) -> Result<Self::Input, Unreadable<'a>> {
        Ok(HttpPostHookInput {
            context: r.context()?,
            request: r.raw("request"),
            response: r.raw("response"),
        })
    }

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

    fn write(o: &Self::Output, out: &mut Vec<u8>) {
        codec::http_post_hook::Output {
            context: Some(&o.context as &dyn WriteJson),
            error: o.error.as_str().into(),
        }
        .write(out)
    }
}

impl Hook for StreamChunk {
    const KIND: HookKind = HookKind::HttpStreamChunkHook;
    type Input = StreamChunkInput;
    type Output = StreamChunkOutput;

    fn decode<'a>(r: &Reader<'a>) -> Result<Self::Input, Unreadable<'a>> {
        Ok(StreamChunkInput {
            context: r.context()?,
            request: r.raw("request"),
            chunk: r.raw("chunk"),
        })
    }

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

    fn write(o: &Self::Output, out: &mut Vec<u8>) {
        codec::http_stream_chunk_hook::Output {
            context: Some(&o.context as &dyn WriteJson),
            chunk: json(&o.chunk),
            has_chunk: o.has_chunk,
            skip: o.skip,
            error: o.error.as_str().into(),
        }
        .write(out)
    }
}

impl Hook for Pre {
    const KIND: HookKind = HookKind::PreHook;
    type Input = PreHookInput;
    type Output = PreHookOutput;

    fn decode<'a>(r: &Reader<'a>) -> Result<Self::Input, Unreadable<'a>> {
        Ok(PreHookInput {
            context: r.context()?,
            request: r.request(),
        })
    }

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

    fn write(o: &Self::Output, out: &mut Vec<u8>) {
        codec::pre_hook::Output {
            context: Some(&o.context as &dyn WriteJson),
            request: json(&o.request),
            short_circuit: json(&o.short_circuit),
            has_short_circuit: o.has_short_circuit,
            error: o.error.as_str().into(),
        }
        .write(out)
    }
}

impl Hook for Post {
    const KIND: HookKind = HookKind::PostHook;
    type Input = PostHookInput;
    type Output = PostHookOutput;

    fn decode<'a>(r: &Reader<'a>) -> Result<Self::Input, Unreadable<'a>> {
        let has_error = r.env.flag("has_error").map_err(|e| r.reject(e.into_message()))?;
        let response = r.response();
        let error = r.raw("error");
        let context = r.context()?;
        Ok(if has_error {
            PostHookInput::new(
                context,
                LlmResult::Error(LlmError::new(error)),
                response.into_raw(),
            )
        } else {
            PostHookInput::new(context, LlmResult::Response(response), error)
        })
    }

    fn check(input: &Self::Input) -> Result<(), String> {
        let (response, error) = input.payloads();
        expect_object("post_hook `response`", response, true)?;
        expect_object("post_hook `error`", error, true)?;
        if response.is_null() && !input.has_error() {
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

    fn write(o: &Self::Output, out: &mut Vec<u8>) {
        let (response, error): (&dyn WriteJson, &dyn WriteJson) = match &o.result {
            LlmResult::Response(r) => (r, o.other.as_ref().map_or(&"{}" as &dyn WriteJson, |v| v)),
            LlmResult::Error(e) => (o.other.as_ref().map_or(&"null" as &dyn WriteJson, |v| v), e),
        };
        codec::post_hook::Output {
            context: Some(&o.context as &dyn WriteJson),
            response: Some(response),
            error: Some(error),
            has_error: o.result.is_error(),
            hook_error: o.hook_error.as_str().into(),
        }
        .write(out)
    }
}
