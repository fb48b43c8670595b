//! The hook envelopes: the one place that knows how each hook's input and output is laid out.
//!
//! Every hook takes one JSON object and returns one. A host *writes* inputs and *reads*
//! outputs; a plugin *reads* inputs and *writes* outputs. Both sides use the structs of this
//! module, one per hook and direction, so the two can never disagree:
//!
//! | hook | input ([`http_pre_hook::Input`], ...) | output ([`http_pre_hook::Output`], ...) |
//! |---|---|---|
//! | `http_pre_hook` (`http_intercept`) | `context`, `request` | `context`, `request`, `response`, `has_response`, `error` |
//! | `http_post_hook` | `context`, `request`, `response` | `context`, `error` |
//! | `http_stream_chunk_hook` | `context`, `request`, `chunk` | `context`, `chunk`, `has_chunk`, `skip`, `error` |
//! | `pre_hook` | `context`, `request` | `context`, `request`, `short_circuit`, `has_short_circuit`, `error` |
//! | `post_hook` | `context`, `response`, `error`, `has_error` | `context`, `response`, `error`, `has_error`, `hook_error` |
//!
//! The structs are generic over how a JSON member is held: reading gives `&str` slices of the
//! validated text ([`Envelope`] finds them in one pass), writing takes anything that
//! implements [`WriteJson`] (a `&str`, a [`RawJson`], a plugin's context view). Reading
//! follows Go's `encoding/json` (keys match ASCII-case-insensitively, the last duplicate
//! wins, `null` flags are `false`) and is lenient where upstream is inconsistent: an error
//! member that is not a string is reported as its JSON text rather than dropped.
//!
//! ```
//! use bifrost_wasm_types::codec::{pre_hook, Envelope};
//! use bifrost_wasm_types::Hook;
//!
//! // A host writes the input...
//! let mut input = Vec::new();
//! pre_hook::Input { context: Some(r#"{"request_id":"r1"}"#), request: Some(r#"{"model":"m"}"#) }
//!     .write(&mut input);
//! assert_eq!(input, br#"{"context":{"request_id":"r1"},"request":{"model":"m"}}"#);
//!
//! // ...a plugin reads it...
//! let envelope = Envelope::parse(Hook::PreHook, &input).unwrap();
//! let read = pre_hook::Input::read(&envelope);
//! assert_eq!(read.request, Some(r#"{"model":"m"}"#));
//!
//! // ...and writes its output, which the host reads back.
//! let mut output = Vec::new();
//! pre_hook::Output { context: read.context, request: read.request, short_circuit: None,
//!                    has_short_circuit: false, error: "".into() }
//!     .write(&mut output);
//! let envelope = Envelope::parse(Hook::PreHook, &output).unwrap();
//! let out = pre_hook::Output::read(&envelope).unwrap();
//! assert_eq!(out.request, Some(r#"{"model":"m"}"#));
//! assert!(!out.has_short_circuit && out.error.is_empty());
//! ```

use std::borrow::Cow;
use std::fmt;

use crate::hook::Hook;
use crate::raw::{JsonKind, RawJson};
use crate::scan::{self, Member, ObjectIndex};

/// Something that can write itself as JSON text into an envelope.
pub trait WriteJson {
    /// Appends the JSON text of this value to `out`.
    fn write_json(&self, out: &mut Vec<u8>);

    /// How many bytes [`WriteJson::write_json`] appends (a close guess is enough: it sizes
    /// the output buffer once).
    fn json_len(&self) -> usize;
}

impl WriteJson for str {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }

    fn json_len(&self) -> usize {
        self.len()
    }
}

impl WriteJson for String {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }

    fn json_len(&self) -> usize {
        self.len()
    }
}

impl WriteJson for RawJson {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_str().as_bytes());
    }

    fn json_len(&self) -> usize {
        self.as_str().len()
    }
}

impl<T: WriteJson + ?Sized> WriteJson for &T {
    fn write_json(&self, out: &mut Vec<u8>) {
        (**self).write_json(out)
    }

    fn json_len(&self) -> usize {
        (**self).json_len()
    }
}

/// Why an envelope could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError {
    message: String,
}

impl CodecError {
    fn new(message: String) -> Self {
        CodecError { message }
    }

    /// What is wrong, naming the hook and the member.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The message, owned.
    pub fn into_message(self) -> String {
        self.message
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CodecError {}

/// Which side of a hook call a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// What the host sends.
    Input,
    /// What the plugin returns.
    Output,
}

impl Direction {
    fn name(self) -> &'static str {
        match self {
            Direction::Input => "input",
            Direction::Output => "output",
        }
    }
}

/// The members of `hook`'s envelope in `direction`, in the order they are written.
pub fn members(hook: Hook, direction: Direction) -> &'static [&'static str] {
    match (hook, direction) {
        (Hook::HttpPreHook, Direction::Input) => &["context", "request"],
        (Hook::HttpPreHook, Direction::Output) => {
            &["context", "request", "response", "has_response", "error"]
        }
        (Hook::HttpPostHook, Direction::Input) => &["context", "request", "response"],
        (Hook::HttpPostHook, Direction::Output) => &["context", "error"],
        (Hook::HttpStreamChunkHook, Direction::Input) => &["context", "request", "chunk"],
        (Hook::HttpStreamChunkHook, Direction::Output) => &["context", "chunk", "has_chunk", "skip", "error"],
        (Hook::PreHook, Direction::Input) => &["context", "request"],
        (Hook::PreHook, Direction::Output) => &[
            "context",
            "request",
            "short_circuit",
            "has_short_circuit",
            "error",
        ],
        (Hook::PostHook, Direction::Input) => &["context", "response", "error", "has_error"],
        (Hook::PostHook, Direction::Output) => &["context", "response", "error", "has_error", "hook_error"],
    }
}

/// The member in which `hook`'s output reports the hook's own failure: `hook_error` for
/// `post_hook` (whose `error` is the request's error), `error` for the others.
pub fn failure_member(hook: Hook) -> &'static str {
    match hook {
        Hook::PostHook => "hook_error",
        _ => "error",
    }
}

/// One hook envelope, validated and indexed in a single pass: its members and, for members
/// whose value is an object, that object's members.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    hook: Hook,
    index: ObjectIndex<'a>,
}

impl<'a> Envelope<'a> {
    /// Validates `bytes` as one UTF-8 JSON object and indexes it. The error says what is
    /// wrong in words that name the hook ("pre_hook input is empty", ...), whichever side
    /// wrote it.
    pub fn parse(hook: Hook, bytes: &'a [u8]) -> Result<Self, CodecError> {
        Self::parse_as(hook, Direction::Input, bytes)
    }

    /// [`Envelope::parse`] for a document of the given direction (the word used in errors).
    pub fn parse_as(hook: Hook, direction: Direction, bytes: &'a [u8]) -> Result<Self, CodecError> {
        let what = direction.name();
        let name = hook.name();
        if bytes.trim_ascii().is_empty() {
            return Err(CodecError::new(format!("{name} {what} is empty")));
        }
        let text = scan::utf8(bytes)
            .map_err(|e| CodecError::new(format!("{name} {what} is not valid UTF-8: {e}")))?;
        Self::parse_text(hook, direction, text)
    }

    /// [`Envelope::parse_as`] for text already known to be UTF-8.
    pub fn parse_text(hook: Hook, direction: Direction, text: &'a str) -> Result<Self, CodecError> {
        let (what, name) = (direction.name(), hook.name());
        if text.trim_ascii().is_empty() {
            return Err(CodecError::new(format!("{name} {what} is empty")));
        }
        if !text.trim_start().starts_with('{') {
            return Err(CodecError::new(format!("{name} {what} must be a JSON object")));
        }
        match scan::validate_object(text) {
            Ok(Some(index)) => Ok(Envelope { hook, index }),
            Ok(None) => Err(CodecError::new(format!("{name} {what} must be a JSON object"))),
            Err(e) => Err(CodecError::new(format!("invalid {name} {what}: {e}"))),
        }
    }

    /// The hook this envelope belongs to.
    pub fn hook(&self) -> Hook {
        self.hook
    }

    /// The last member whose key equals `name` ignoring ASCII case (Go's decoder assigns
    /// every matching key in turn, so the last one wins), and its position in the index.
    fn find(&self, name: &str) -> Option<usize> {
        self.index.find_last_ignore_case(name)
    }

    /// The raw JSON text of member `name`, if present.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.find(name).map(|i| self.index.value(i))
    }

    /// The raw JSON text of member `name` and the members of its value (none when it is not
    /// an object; offsets relative to the value's text), with one lookup.
    pub fn member(&self, name: &str) -> Option<(&'a str, impl Iterator<Item = Member<'a>> + Clone + '_)> {
        self.find(name)
            .map(|i| (self.index.value(i), self.index.children(i)))
    }

    /// The members of member `name`'s value (none when absent or not an object), with
    /// offsets relative to that value's text.
    pub fn children(&self, name: &str) -> impl Iterator<Item = Member<'a>> + Clone + '_ {
        self.index.children(self.find(name).unwrap_or(usize::MAX))
    }

    /// Member `name` as a flag: absent or `null` is `false`; anything but a boolean is an
    /// error naming the member.
    pub fn flag(&self, name: &str) -> Result<bool, CodecError> {
        match self.get(name).map(str::trim) {
            None | Some("null") | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(CodecError::new(format!(
                "{} `{name}` must be true or false, found {}",
                self.hook.name(),
                JsonKind::of(other).name()
            ))),
        }
    }

    /// Member `name` as an error text: absent, `null`, `""` and `{}` are no error (empty);
    /// a string is its contents; any other value is reported as its JSON text, so a plugin
    /// that writes `"error": {"message": …}` still has its error seen.
    pub fn text(&self, name: &str) -> Cow<'a, str> {
        match self.get(name) {
            None => Cow::Borrowed(""),
            Some(raw) => match JsonKind::of(raw) {
                JsonKind::Null => Cow::Borrowed(""),
                JsonKind::String => scan::string_value(raw).unwrap_or(Cow::Borrowed("")),
                JsonKind::Object if is_empty_object(raw) => Cow::Borrowed(""),
                _ => Cow::Borrowed(raw.trim()),
            },
        }
    }
}

/// True for `{}` (with any whitespace inside); `text` must be valid JSON.
pub fn is_empty_object(text: &str) -> bool {
    text.trim_start()
        .strip_prefix('{')
        .is_some_and(|rest| rest.trim_start().starts_with('}'))
}

/// A payload member of an output as the host interprets it: absent, `null` and `{}` mean
/// "unchanged" (`None`).
pub fn changed_payload(raw: Option<&str>) -> Option<&str> {
    let raw = raw?;
    match JsonKind::of(raw) {
        JsonKind::Null => None,
        JsonKind::Object if is_empty_object(raw) => None,
        _ => Some(raw),
    }
}

/// Writes an envelope member by member. Keys are passed already quoted and followed by
/// the colon (`"context":`), so that each member costs one copy for its key.
struct Writer<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> Writer<'o> {
    fn new(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Writer { out, first: true }
    }

    #[inline(always)]
    fn key(&mut self, quoted_key: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.extend_from_slice(quoted_key.as_bytes());
    }

    fn json<J: WriteJson>(&mut self, quoted_key: &str, value: &Option<J>) -> &mut Self {
        self.key(quoted_key);
        match value {
            Some(v) => v.write_json(self.out),
            None => self.out.extend_from_slice(b"null"),
        }
        self
    }

    fn flag(&mut self, quoted_key: &str, value: bool) -> &mut Self {
        self.key(quoted_key);
        self.out.extend_from_slice(if value { b"true" } else { b"false" });
        self
    }

    fn text(&mut self, quoted_key: &str, value: &str) -> &mut Self {
        self.key(quoted_key);
        scan::write_string(self.out, value);
        self
    }

    fn end(&mut self) {
        self.out.push(b'}');
    }
}

/// `"name":` for a member name.
macro_rules! key {
    ($name:ident) => {
        concat!("\"", stringify!($name), "\":")
    };
}

fn len<J: WriteJson>(value: &Option<J>) -> usize {
    value.as_ref().map_or(4, WriteJson::json_len)
}

/// Room for the keys and punctuation of an envelope.
const FRAME: usize = 96;

/// Declares an envelope: the struct (JSON members as `Option<J>`, flags as `bool`, the error
/// text as `Cow<str>`), its `Default` (all absent), `read` from an [`Envelope`] and `write`
/// to a buffer, members in the order given. Member names on the wire are the field names.
macro_rules! envelope {
    // JSON members only: reading cannot fail.
    ($(#[$doc:meta])* $name:ident { $($(#[$jdoc:meta])* $json:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name<J> {
            $($(#[$jdoc])* pub $json: Option<J>,)+
        }

        impl<J> Default for $name<J> {
            fn default() -> Self {
                $name { $($json: None,)+ }
            }
        }

        impl<'a> $name<&'a str> {
            /// Reads the members from an envelope.
            pub fn read(env: &Envelope<'a>) -> Self {
                $name { $($json: env.get(stringify!($json)),)+ }
            }
        }

        impl<J: WriteJson> $name<J> {
            /// Appends the envelope to `out`.
            pub fn write(&self, out: &mut Vec<u8>) {
                out.reserve(FRAME $(+ len(&self.$json))+);
                Writer::new(out)$(.json(key!($json), &self.$json))+.end();
            }
        }
    };
    // JSON members and flags: a flag that is not a boolean is an error.
    ($(#[$doc:meta])* $name:ident {
        $($(#[$jdoc:meta])* $json:ident),+ ;
        flags: $($(#[$fdoc:meta])* $flag:ident),+ $(,)?
    }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name<J> {
            $($(#[$jdoc])* pub $json: Option<J>,)+
            $($(#[$fdoc])* pub $flag: bool,)+
        }

        impl<J> Default for $name<J> {
            fn default() -> Self {
                $name { $($json: None,)+ $($flag: false,)+ }
            }
        }

        impl<'a> $name<&'a str> {
            /// Reads the members from an envelope.
            pub fn read(env: &Envelope<'a>) -> Result<Self, CodecError> {
                Ok($name {
                    $($json: env.get(stringify!($json)),)+
                    $($flag: env.flag(stringify!($flag))?,)+
                })
            }
        }

        impl<J: WriteJson> $name<J> {
            /// Appends the envelope to `out`.
            pub fn write(&self, out: &mut Vec<u8>) {
                out.reserve(FRAME $(+ len(&self.$json))+);
                Writer::new(out)
                    $(.json(key!($json), &self.$json))+
                    $(.flag(key!($flag), self.$flag))+
                    .end();
            }
        }
    };
    // An output: JSON members, flags and the hook's error text.
    ($(#[$doc:meta])* $name:ident<'e> {
        $($(#[$jdoc:meta])* $json:ident),+ ;
        flags: $($(#[$fdoc:meta])* $flag:ident),* ;
        text: $(#[$tdoc:meta])* $text:ident $(,)?
    }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name<'e, J> {
            $($(#[$jdoc])* pub $json: Option<J>,)+
            $($(#[$fdoc])* pub $flag: bool,)*
            $(#[$tdoc])* pub $text: Cow<'e, str>,
        }

        impl<J> Default for $name<'_, J> {
            fn default() -> Self {
                $name { $($json: None,)+ $($flag: false,)* $text: Cow::Borrowed("") }
            }
        }

        impl<'a> $name<'a, &'a str> {
            /// Reads the members from an envelope.
            pub fn read(env: &Envelope<'a>) -> Result<Self, CodecError> {
                Ok($name {
                    $($json: env.get(stringify!($json)),)+
                    $($flag: env.flag(stringify!($flag))?,)*
                    $text: env.text(stringify!($text)),
                })
            }
        }

        impl<J: WriteJson> $name<'_, J> {
            /// Appends the envelope to `out`.
            pub fn write(&self, out: &mut Vec<u8>) {
                out.reserve(FRAME $(+ len(&self.$json))+ + self.$text.len());
                Writer::new(out)
                    $(.json(key!($json), &self.$json))+
                    $(.flag(key!($flag), self.$flag))*
                    .text(key!($text), &self.$text)
                    .end();
            }
        }
    };
}

/// The envelopes of `http_pre_hook` (also exported as `http_intercept`): the HTTP request
/// before Bifrost parses it.
pub mod http_pre_hook {
    use super::*;

    envelope! {
        /// Input: the request context and the HTTP request (`HttpRequest` JSON: method, path,
        /// headers, query, base64 body).
        Input {
            /// The request context (a JSON object).
            context,
            /// The HTTP request.
            request,
        }
    }

    envelope! {
        /// Output: the context, the (possibly rewritten) request, or a response that answers
        /// the client at once (`has_response`).
        Output<'e> {
            /// The context, with the plugin's additions.
            context,
            /// The request to continue with (`null` = unchanged).
            request,
            /// The HTTP response to answer with when `has_response`.
            response;
            flags:
            /// True when the plugin answers the request itself.
            has_response;
            text:
            /// Non-empty when the hook failed: Bifrost answers with an error.
            error,
        }
    }
}

/// The envelopes of `http_post_hook`. It runs for non-streaming responses only and cannot change the response: a plugin
/// records what it saw in the context.
pub mod http_post_hook {
    use super::*;

    envelope! {
        /// Input: the context, the HTTP request and the HTTP response about to be sent.
        Input {
            /// The request context.
            context,
            /// The HTTP request.
            request,
            /// The HTTP response (`HttpResponse` JSON: status_code, headers, base64 body).
            response,
        }
    }

    envelope! {
        /// Output: the context and the hook's own error.
        Output<'e> {
            /// The context, with the plugin's additions.
            context;
            flags: ;
            text:
            /// Non-empty when the hook failed: Bifrost answers with an error.
            error,
        }
    }
}

/// The envelopes of `http_stream_chunk_hook`: one chunk of a streaming response (a JSON
/// object without SSE framing), before it is sent.
pub mod http_stream_chunk_hook {
    use super::*;

    envelope! {
        /// Input: the context, the HTTP request and the chunk.
        Input {
            /// The request context.
            context,
            /// The HTTP request.
            request,
            /// The chunk.
            chunk,
        }
    }

    envelope! {
        /// Output: the chunk to send, or `skip` to drop it.
        Output<'e> {
            /// The context, with the plugin's additions.
            context,
            /// The chunk to send (`null` = unchanged).
            chunk;
            flags:
            /// True when `chunk` carries the chunk to send.
            has_chunk,
            /// True to drop the chunk.
            skip;
            text:
            /// Non-empty when the hook failed: with a chunk, logged; without, the stream ends.
            error,
        }
    }
}

/// The envelopes of `pre_hook` (Bifrost's `PreLLMHook`): the parsed LLM request before the
/// provider is called.
pub mod pre_hook {
    use super::*;

    envelope! {
        /// Input: the context and the request (in one of the three shapes of [`crate::shape`]).
        Input {
            /// The request context.
            context,
            /// The request.
            request,
        }
    }

    envelope! {
        /// Output: the request to continue with, or a short-circuit that answers instead of the
        /// provider.
        Output<'e> {
            /// The context, with the plugin's additions.
            context,
            /// The request to continue with (`null` = unchanged).
            request,
            /// The answer when `has_short_circuit`: `{"response": …}` or `{"error": …}`
            /// (`Response`/`Error` in Go's spelling; see [`crate::shape::ShortCircuitParts`]).
            short_circuit;
            flags:
            /// True when the plugin answers instead of the provider.
            has_short_circuit;
            text:
            /// Non-empty when the hook failed: Bifrost logs it and continues.
            error,
        }
    }
}

/// The envelopes of `post_hook` (Bifrost's `PostLLMHook`): the provider's response or
/// error (or a short-circuit's), in reverse plugin order.
pub mod post_hook {
    use super::*;

    envelope! {
        /// Input: the context and the response or error. `error` is `{}` when there is none:
        /// `has_error` is the flag that counts.
        Input {
            /// The request context.
            context,
            /// The response (`null` when there is only an error).
            response,
            /// The error (`{}` or `null` when there is none).
            error;
            flags:
            /// True when the request failed.
            has_error,
        }
    }

    envelope! {
        /// Output: the (possibly changed) response or error, and the hook's own failure.
        Output<'e> {
            /// The context, with the plugin's additions.
            context,
            /// The response.
            response,
            /// The request's error.
            error;
            flags:
            /// True when the request ends in `error`.
            has_error;
            text:
            /// Non-empty when the hook itself failed: Bifrost logs it and continues.
            hook_error,
        }
    }
}

/// The output of a hook that could not run at all (its input was unreadable, the plugin
/// failed to start, ...): an empty context or the one given, no payloads, and `message` in
/// the hook's failure member. Hosts use it to report a failure in the hook's own format.
pub fn write_failure(hook: Hook, context: Option<&dyn WriteJson>, message: &str, out: &mut Vec<u8>) {
    let context = Some(context.unwrap_or(&"{}" as &dyn WriteJson));
    match hook {
        Hook::HttpPreHook => http_pre_hook::Output {
            context,
            error: message.into(),
            ..Default::default()
        }
        .write(out),
        Hook::HttpPostHook => http_post_hook::Output {
            context,
            error: message.into(),
        }
        .write(out),
        Hook::HttpStreamChunkHook => http_stream_chunk_hook::Output {
            context,
            error: message.into(),
            ..Default::default()
        }
        .write(out),
        Hook::PreHook => pre_hook::Output {
            context,
            error: message.into(),
            ..Default::default()
        }
        .write(out),
        Hook::PostHook => post_hook::Output {
            context,
            hook_error: message.into(),
            ..Default::default()
        }
        .write(out),
    }
}

#[cfg(test)]
mod tests;
