//! A small, fast codec for the hook envelopes.
//!
//! Decoding reads the envelope's top level once, keeps every payload as raw JSON (copied, not
//! re-parsed) and parses only the context. Encoding writes the fields in order, payloads
//! verbatim. One code path serves every hook, which keeps plugins small; the serde derives
//! on the envelope types remain for hosts and tools.

use serde_json::value::RawValue;

use crate::context::BifrostContext;
use crate::hooks::*;
use crate::raw::{JsonKind, RawJson};
use crate::scan;
use crate::shape::{LlmRequest, LlmResponse};

/// A decoding failure, with the context when it could still be read.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    /// What was wrong.
    pub message: String,
    /// The context, as far as it could be read (empty otherwise).
    pub context: BifrostContext,
}

/// The top-level members of an envelope.
pub struct Envelope<'a> {
    index: scan::ObjectIndex<'a>,
}

impl<'a> Envelope<'a> {
    /// Reads the top level of `input` (which must be a UTF-8 JSON object): one validating
    /// pass over the whole input, then the members' raw text.
    pub fn parse(hook: &str, input: &'a [u8]) -> Result<Self, DecodeError> {
        let fail = |message: String| DecodeError {
            message,
            context: BifrostContext::default(),
        };
        if input.trim_ascii().is_empty() {
            return Err(fail(format!("{hook} input is empty")));
        }
        let text = scan::utf8(input).map_err(|e| fail(format!("{hook} input is not valid UTF-8: {e}")))?;
        if !text.trim_start().starts_with('{') {
            return Err(fail(format!("{hook} input must be a JSON object")));
        }
        match scan::validate_object(text) {
            Ok(Some(index)) => Ok(Envelope { index }),
            Ok(None) => Err(fail(format!("{hook} input must be a JSON object"))),
            Err(e) => Err(fail(format!("invalid {hook} input: {e}"))),
        }
    }

    /// The raw text of member `key` (last occurrence wins, as in Go), if present.
    pub fn member(&self, key: &str) -> Option<&'a str> {
        self.position(key).map(|i| self.index.members[i].1)
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.index
            .members
            .iter()
            .rposition(|(k, _)| *k == key || (k.contains('\\') && scan::unescape(k).is_ok_and(|u| u == key)))
    }

    /// The member `key` as a request (`null` when absent), its layout read from the index.
    fn request(&self, key: &str) -> LlmRequest {
        match self.position(key) {
            Some(i) => LlmRequest::indexed(
                RawJson::trusted(self.index.members[i].1),
                self.index.children_of(i),
            ),
            None => LlmRequest::new(RawJson::null()),
        }
    }

    /// The member `key` as a response (`null` when absent), its layout read from the index.
    fn response(&self, key: &str) -> LlmResponse {
        match self.position(key) {
            Some(i) => LlmResponse::indexed(
                RawJson::trusted(self.index.members[i].1),
                self.index.children_of(i),
            ),
            None => LlmResponse::new(RawJson::null()),
        }
    }

    /// The raw member `key` (last occurrence wins, as in Go), if present.
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.member(key).and_then(|v| serde_json::from_str(v).ok())
    }

    /// The member `key` as owned raw JSON; `null` when absent.
    pub fn raw(&self, key: &str) -> RawJson {
        self.member(key).map(RawJson::trusted).unwrap_or_default()
    }

    /// The member `key` as a boolean (`null`/absent → false); other types are an error.
    pub fn bool(&self, hook: &str, key: &str) -> Result<bool, String> {
        match self.member(key) {
            None | Some("null") | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(format!(
                "{hook} `{key}` must be a boolean, found {}",
                JsonKind::of(other).name()
            )),
        }
    }

    /// The context (`null`/absent → empty).
    pub fn context(&self, hook: &str) -> Result<BifrostContext, DecodeError> {
        let Some(i) = self.position("context") else {
            return Ok(BifrostContext::default());
        };
        let raw = self.index.members[i].1;
        let read = if raw.starts_with('{') {
            BifrostContext::from_members(self.index.children_of(i))
        } else {
            BifrostContext::from_valid_json(raw)
        };
        read.map_err(|e| DecodeError {
            message: format!("{hook} `context` must be a JSON object: {e}"),
            context: BifrostContext::default(),
        })
    }
}

fn with_context(context: &BifrostContext) -> impl Fn(String) -> DecodeError + '_ {
    move |message| DecodeError {
        message,
        context: context.clone(),
    }
}

/// An envelope that can be decoded with [`Envelope`].
pub trait DecodeInput: Sized {
    /// Decodes `input` (the bytes the host wrote).
    fn decode(hook: &str, input: &[u8]) -> Result<Self, DecodeError>;
}

/// An envelope that can be written with [`Writer`].
pub trait EncodeOutput {
    /// Appends the JSON of this output to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// Bytes the output is expected to take (payloads plus room for the rest), so that
    /// [`EncodeOutput::to_json`] allocates once.
    fn size_hint(&self) -> usize {
        256
    }

    /// The JSON of this output.
    fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size_hint());
        self.encode(&mut out);
        out
    }
}

fn len_of(raw: Option<&str>) -> usize {
    raw.map_or(4, str::len)
}

/// Room for the context and the envelope's own keys.
fn context_hint(context: &BifrostContext) -> usize {
    192 + 48 * context.len()
}

impl DecodeInput for HttpPreHookInput {
    fn decode(hook: &str, input: &[u8]) -> Result<Self, DecodeError> {
        let env = Envelope::parse(hook, input)?;
        Ok(HttpPreHookInput {
            context: env.context(hook)?,
            request: env.raw("request"),
        })
    }
}

impl DecodeInput for HttpPostHookInput {
    fn decode(hook: &str, input: &[u8]) -> Result<Self, DecodeError> {
        let env = Envelope::parse(hook, input)?;
        Ok(HttpPostHookInput {
            context: env.context(hook)?,
            request: env.raw("request"),
            response: env.raw("response"),
        })
    }
}

impl DecodeInput for StreamChunkInput {
    fn decode(hook: &str, input: &[u8]) -> Result<Self, DecodeError> {
        let env = Envelope::parse(hook, input)?;
        Ok(StreamChunkInput {
            context: env.context(hook)?,
            request: env.raw("request"),
            chunk: env.raw("chunk"),
        })
    }
}

impl DecodeInput for PreHookInput {
    fn decode(hook: &str, input: &[u8]) -> Result<Self, DecodeError> {
        let env = Envelope::parse(hook, input)?;
        Ok(PreHookInput {
            context: env.context(hook)?,
            request: env.request("request"),
        })
    }
}

impl DecodeInput for PostHookInput {
    fn decode(hook: &str, input: &[u8]) -> Result<Self, DecodeError> {
        let env = Envelope::parse(hook, input)?;
        let context = env.context(hook)?;
        let has_error = env.bool(hook, "has_error").map_err(with_context(&context))?;
        Ok(PostHookInput {
            response: env.response("response"),
            error: env.raw("error"),
            has_error,
            context,
        })
    }
}

/// Writes an envelope object field by field.
pub struct Writer<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> Writer<'o> {
    /// Starts an object.
    pub fn new(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Writer { out, first: true }
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// A context member.
    pub fn context(&mut self, context: &BifrostContext) -> &mut Self {
        self.key("context");
        context.write_json(self.out);
        self
    }

    /// A raw payload member (`null` when `None`).
    pub fn raw(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        self.key(key);
        self.out.extend_from_slice(value.unwrap_or("null").as_bytes());
        self
    }

    /// A boolean member.
    pub fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.key(key);
        self.out.extend_from_slice(if value { b"true" } else { b"false" });
        self
    }

    /// A string member.
    pub fn string(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        scan::write_string(self.out, value);
        self
    }

    /// Closes the object.
    pub fn finish(&mut self) {
        self.out.push(b'}');
    }
}

impl EncodeOutput for HttpPreHookOutput {
    fn size_hint(&self) -> usize {
        context_hint(&self.context)
            + len_of(self.request.as_ref().map(RawJson::as_str))
            + len_of(self.response.as_ref().map(RawJson::as_str))
            + self.error.len()
    }

    fn encode(&self, out: &mut Vec<u8>) {
        Writer::new(out)
            .context(&self.context)
            .raw("request", self.request.as_ref().map(RawJson::as_str))
            .raw("response", self.response.as_ref().map(RawJson::as_str))
            .bool("has_response", self.has_response)
            .string("error", &self.error)
            .finish();
    }
}

impl EncodeOutput for HttpPostHookOutput {
    fn encode(&self, out: &mut Vec<u8>) {
        Writer::new(out)
            .context(&self.context)
            .string("error", &self.error)
            .finish();
    }
}

impl EncodeOutput for StreamChunkOutput {
    fn size_hint(&self) -> usize {
        context_hint(&self.context) + len_of(self.chunk.as_ref().map(RawJson::as_str)) + self.error.len()
    }

    fn encode(&self, out: &mut Vec<u8>) {
        Writer::new(out)
            .context(&self.context)
            .raw("chunk", self.chunk.as_ref().map(RawJson::as_str))
            .bool("has_chunk", self.has_chunk)
            .bool("skip", self.skip)
            .string("error", &self.error)
            .finish();
    }
}

impl EncodeOutput for PreHookOutput {
    fn size_hint(&self) -> usize {
        context_hint(&self.context)
            + len_of(self.request.as_ref().map(LlmRequest::as_str))
            + len_of(self.short_circuit.as_ref().map(RawJson::as_str))
            + self.error.len()
    }

    fn encode(&self, out: &mut Vec<u8>) {
        Writer::new(out)
            .context(&self.context)
            .raw("request", self.request.as_ref().map(LlmRequest::as_str))
            .raw("short_circuit", self.short_circuit.as_ref().map(RawJson::as_str))
            .bool("has_short_circuit", self.has_short_circuit)
            .string("error", &self.error)
            .finish();
    }
}

impl EncodeOutput for PostHookOutput {
    fn size_hint(&self) -> usize {
        context_hint(&self.context)
            + len_of(self.response.as_ref().map(LlmResponse::as_str))
            + len_of(self.error.as_ref().map(RawJson::as_str))
            + self.hook_error.len()
    }

    fn encode(&self, out: &mut Vec<u8>) {
        Writer::new(out)
            .context(&self.context)
            .raw("response", self.response.as_ref().map(LlmResponse::as_str))
            .raw("error", self.error.as_ref().map(RawJson::as_str))
            .bool("has_error", self.has_error)
            .string("hook_error", &self.hook_error)
            .finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn codec_matches_serde_derive() {
        let input =
            json!({"context": {"request_id": "r", "n": 1}, "request": {"model": "m", "x": [1.0, null]}});
        let text = input.to_string();
        let fast = PreHookInput::decode("pre_hook", text.as_bytes()).unwrap();
        let slow: PreHookInput = serde_json::from_str(&text).unwrap();
        assert_eq!(fast, slow);
        let out = fast.pass_through();
        let a: Value = serde_json::from_slice(&out.to_json()).unwrap();
        let b = serde_json::to_value(&out).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn decode_reports_what_is_wrong_and_keeps_context() {
        let e = PreHookInput::decode("pre_hook", b"").unwrap_err();
        assert!(e.message.contains("empty"));
        let e = PreHookInput::decode("pre_hook", b"\xff\xfe").unwrap_err();
        assert!(e.message.contains("UTF-8"));
        let e = PreHookInput::decode("pre_hook", b"[1]").unwrap_err();
        assert!(e.message.contains("object"));
        let e = PostHookInput::decode("post_hook", br#"{"context":{"k":1},"has_error":"yes"}"#).unwrap_err();
        assert_eq!(e.context.get_i64("k"), Some(1));
        assert!(e.message.contains("boolean"));
    }
}
