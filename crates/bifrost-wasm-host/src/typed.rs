//! Typed hook calls through the one codec of hook envelopes ([`bifrost_wasm_types::codec`]).
//!
//! Each wrapper writes the hook's input envelope, runs the call and checks that the output
//! is that hook's output envelope (a JSON object whose flags are booleans), so the caller
//! reads it with the codec's `Output::read` and cannot get a shape error later. `Ok(None)`
//! means the plugin does not implement the hook (pass-through). Payloads cross as raw JSON,
//! byte for byte.
//!
//! ```no_run
//! use bifrost_wasm_host::{Host, HostConfig};
//! use bifrost_wasm_types::codec::pre_hook;
//!
//! let plugin = Host::new(HostConfig::default())?.load_file("build/hello-world.wasm")?;
//! let mut instance = plugin.instantiate(None)?;
//! let input = pre_hook::Input { context: Some(r#"{"request_id":"r1"}"#), request: Some("{}") };
//! if let Some(output) = instance.pre_hook(&input)? {
//!     let envelope = output.envelope();
//!     let read = pre_hook::Output::read(&envelope).expect("checked by the call");
//!     println!("context after the hook: {:?}", read.context);
//! }
//! # Ok::<(), bifrost_wasm_host::HostError>(())
//! ```

use bifrost_wasm_types::codec::{
    http_post_hook, http_pre_hook, http_stream_chunk_hook, post_hook, pre_hook, CodecError, Direction,
    Envelope, WriteJson,
};

use crate::error::{ErrorKind, HostError};
use crate::instance::PluginInstance;
use crate::live::excerpt;
use bifrost_wasm_types::Hook;

/// A hook's output, checked to be its hook's output envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookOutput {
    hook: Hook,
    text: String,
}

impl HookOutput {
    /// The hook that returned it.
    pub fn hook(&self) -> Hook {
        self.hook
    }

    /// The output as the plugin wrote it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The output text, owned.
    pub fn into_text(self) -> String {
        self.text
    }

    /// The output envelope, indexed for reading with the hook's `Output::read`.
    pub fn envelope(&self) -> Envelope<'_> {
        Envelope::parse_as(self.hook, Direction::Output, self.text.as_bytes())
            .expect("checked when the call returned")
    }
}

impl PluginInstance {
    /// Writes an input envelope, calls `hook` and checks its output with `read` (the hook's
    /// `Output::read`).
    fn typed_hook(
        &mut self,
        hook: Hook,
        write: impl FnOnce(&mut Vec<u8>),
        read: fn(&Envelope<'_>) -> Result<(), CodecError>,
    ) -> Result<Option<HookOutput>, HostError> {
        if !self.has_hook(hook) {
            return Ok(None);
        }
        let mut input = Vec::new();
        write(&mut input);
        let mut output = Vec::new();
        self.call_into(hook, &input, &mut output)?;
        let shape_error = |e: CodecError, output: &[u8], kind: fn(String, String) -> ErrorKind| {
            HostError::new(kind(e.message().to_string(), excerpt(output)))
                .plugin_named(self.name())
                .in_function(hook.name())
                .caused_by(e)
        };
        let envelope = match Envelope::parse_as(hook, Direction::Output, &output) {
            Ok(envelope) => envelope,
            Err(e) => {
                return Err(shape_error(e, &output, |error, excerpt| ErrorKind::InvalidJson {
                    error,
                    excerpt,
                }))
            }
        };
        if let Err(e) = read(&envelope) {
            return Err(shape_error(e, &output, |error, excerpt| ErrorKind::OutputShape {
                error,
                excerpt,
            }));
        }
        drop(envelope);
        let text = String::from_utf8(output).expect("checked by the codec");
        Ok(Some(HookOutput { hook, text }))
    }

    /// Calls `http_pre_hook` (or `http_intercept`).
    pub fn http_pre_hook<J: WriteJson>(
        &mut self,
        input: &http_pre_hook::Input<J>,
    ) -> Result<Option<HookOutput>, HostError> {
        self.typed_hook(
            Hook::HttpPreHook,
            |out| input.write(out),
            |env| http_pre_hook::Output::read(env).map(drop),
        )
    }

    /// Calls `http_post_hook`.
    pub fn http_post_hook<J: WriteJson>(
        &mut self,
        input: &http_post_hook::Input<J>,
    ) -> Result<Option<HookOutput>, HostError> {
        self.typed_hook(
            Hook::HttpPostHook,
            |out| input.write(out),
            |env| http_post_hook::Output::read(env).map(drop),
        )
    }

    /// Calls `http_stream_chunk_hook`.
    pub fn http_stream_chunk_hook<J: WriteJson>(
        &mut self,
        input: &http_stream_chunk_hook::Input<J>,
    ) -> Result<Option<HookOutput>, HostError> {
        self.typed_hook(
            Hook::HttpStreamChunkHook,
            |out| input.write(out),
            |env| http_stream_chunk_hook::Output::read(env).map(drop),
        )
    }

    /// Calls `pre_hook`.
    pub fn pre_hook<J: WriteJson>(
        &mut self,
        input: &pre_hook::Input<J>,
    ) -> Result<Option<HookOutput>, HostError> {
        self.typed_hook(
            Hook::PreHook,
            |out| input.write(out),
            |env| pre_hook::Output::read(env).map(drop),
        )
    }

    /// Calls `post_hook`.
    pub fn post_hook<J: WriteJson>(
        &mut self,
        input: &post_hook::Input<J>,
    ) -> Result<Option<HookOutput>, HostError> {
        self.typed_hook(
            Hook::PostHook,
            |out| input.write(out),
            |env| post_hook::Output::read(env).map(drop),
        )
    }
}
