//! The one translation between the OpenAI wire format and Bifrost's chat request/response,
//! on bytes validated once.
//!
//! Inbound, the client's body is validated and indexed in one pass ([`ChatRequest::parse`]);
//! `model` and `messages` become the Bifrost request's `model` and `input`, `stream` is taken
//! out, and every other member goes into `params` exactly as written (unknown fields, big
//! integers and `null`s survive). That request is written once, in the chain's shape
//! ([`ChatRequest::to_bifrost`]). If the pre-hooks give it back unchanged the provider is
//! called with the client's parsed request as it is; only a changed request is read back
//! ([`ChatRequest::from_bifrost`], no second validation: plugin outputs are validated when
//! they are read). The provider's body ([`ChatRequest::to_openai`]) is written from the same
//! spans.
//!
//! Outbound, the provider's chat completion is wrapped once in the chain's response shape
//! ([`wrap_response`]); the client gets the provider's bytes unless a post-hook changed the
//! response, and then the chat completion inside it ([`answer_body`]).

use std::ops::Range;

use bifrost_wasm_chain::{LlmResult, RequestShape};
use bifrost_wasm_types::error::ErrorJson;
use bifrost_wasm_types::raw::{JsonKind, RawJson};
use bifrost_wasm_types::scan::{self, Elements, Members};
use bifrost_wasm_types::shape::{wrap_chat_request, wrap_chat_response, LlmRequest, LlmResponse};

/// Why a request body is not a chat completion request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest(pub String);

/// A chat completion request, kept as the JSON text it came in with and the places of its
/// parts: the client's body, or the flat Bifrost request a plugin gave back.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    text: RawJson,
    /// Provider from a `provider/model` name (or the Bifrost request), or the default one.
    pub provider: String,
    /// Model without the provider prefix.
    pub model: String,
    messages: Range<usize>,
    /// `(key with its quotes, value)` of every other member, in order.
    params: Vec<(Range<usize>, Range<usize>)>,
    /// `stream: true`.
    pub stream: bool,
}

/// Splits `provider/model`; a name without `/` uses `default_provider`.
pub fn split_model(name: &str, default_provider: &str) -> (String, String) {
    match name.split_once('/') {
        Some((provider, model)) if !provider.is_empty() && !model.is_empty() => {
            (provider.to_string(), model.to_string())
        }
        _ => (default_provider.to_string(), name.to_string()),
    }
}

/// The place of `part` (a slice of `text`) in `text`.
fn span(text: &str, part: &str) -> Range<usize> {
    let start = part.as_ptr() as usize - text.as_ptr() as usize;
    start..start + part.len()
}

/// The key of a member with its quotes (`raw_key` is the text between them).
fn quoted_key(text: &str, raw_key: &str) -> Range<usize> {
    let inner = span(text, raw_key);
    inner.start - 1..inner.end + 1
}

impl ChatRequest {
    /// Parses an OpenAI chat completion body: one pass validates it and indexes its members.
    pub fn parse(body: &[u8], default_provider: &str) -> Result<ChatRequest, BadRequest> {
        let text = scan::utf8(body).map_err(|e| BadRequest(format!("the request body is not UTF-8: {e}")))?;
        let not_object =
            || BadRequest("the request body must be a JSON object with `model` and `messages`".into());
        if JsonKind::of(text) != JsonKind::Object {
            return Err(not_object());
        }
        let index = scan::validate_object(text)
            .map_err(|e| BadRequest(format!("the request body is not valid JSON: {e}")))?
            .ok_or_else(not_object)?;
        let mut model = None;
        let mut messages = None;
        let mut stream = false;
        let mut params = Vec::new();
        for (_, member) in index.members() {
            let (key, value) = (member.key(), member.value);
            match key.as_ref() {
                "model" => {
                    model = Some(
                        scan::string_value(value)
                            .filter(|_| JsonKind::of(value) == JsonKind::String)
                            .ok_or_else(|| {
                                BadRequest(
                                    "`model` must be a string like \"gpt-4o\" or \"openai/gpt-4o\"".into(),
                                )
                            })?
                            .into_owned(),
                    )
                }
                "messages" => {
                    if JsonKind::of(value) != JsonKind::Array {
                        return Err(BadRequest("`messages` must be an array of messages".into()));
                    }
                    messages = Some(span(text, value));
                }
                "stream" => {
                    stream = match value.trim() {
                        "true" => true,
                        "false" | "null" => false,
                        _ => return Err(BadRequest("`stream` must be true or false".into())),
                    }
                }
                _ => params.push((quoted_key(text, member.raw_key), span(text, value))),
            }
        }
        let model = model.ok_or_else(|| BadRequest("`model` is required".into()))?;
        let messages = messages.ok_or_else(|| BadRequest("`messages` is required".into()))?;
        let (provider, model) = split_model(&model, default_provider);
        Ok(ChatRequest {
            provider,
            model,
            messages,
            params,
            stream,
            text: RawJson::from_validated(text),
        })
    }

    /// Reads a flat Bifrost chat request (`{"provider","model","input","params"}`, as a
    /// plugin gave it back: already validated) for the provider.
    pub fn from_bifrost(flat: &str, stream: bool) -> Result<ChatRequest, BadRequest> {
        if JsonKind::of(flat) != JsonKind::Object {
            return Err(BadRequest("the chat request is not a JSON object".into()));
        }
        let text = RawJson::from_validated(flat);
        let t = text.as_str();
        let mut provider = String::new();
        let mut model = None;
        let mut messages = None;
        let mut params = Vec::new();
        for m in Members::new(t) {
            match m.key().as_ref() {
                "provider" => {
                    provider = scan::string_value(m.value)
                        .map(|p| p.into_owned())
                        .unwrap_or_default()
                }
                "model" => model = scan::string_value(m.value).map(|p| p.into_owned()),
                "input" if JsonKind::of(m.value) == JsonKind::Array => messages = Some(span(t, m.value)),
                "params" if JsonKind::of(m.value) == JsonKind::Object => {
                    params
                        .extend(Members::new(m.value).map(|p| (quoted_key(t, p.raw_key), span(t, p.value))));
                }
                _ => {}
            }
        }
        Ok(ChatRequest {
            provider,
            model: model.ok_or_else(|| BadRequest("the chat request has no `model` string".into()))?,
            messages: messages
                .ok_or_else(|| BadRequest("the chat request has no `input` array of messages".into()))?,
            params,
            stream,
            text,
        })
    }

    /// Reads the request the pre-hooks left (in the chain's shape) for the provider.
    pub fn from_chain(request: &RawJson, stream: bool) -> Result<ChatRequest, BadRequest> {
        let shaped = LlmRequest::new(request.clone());
        let inner = shaped.inner().ok_or_else(|| {
            BadRequest("the request after the pre-hooks is not a chat request object".into())
        })?;
        ChatRequest::from_bifrost(inner, stream)
    }

    /// The `messages` array, raw.
    pub fn messages(&self) -> &str {
        &self.text.as_str()[self.messages.clone()]
    }

    /// A parameter, raw (`key` as it is written between the quotes).
    pub fn param(&self, key: &str) -> Option<&str> {
        let text = self.text.as_str();
        self.params
            .iter()
            .find(|(k, _)| &text[k.start + 1..k.end - 1] == key)
            .map(|(_, v)| &text[v.clone()])
    }

    fn write_params(&self, out: &mut Vec<u8>) {
        let text = self.text.as_str();
        for (i, (k, v)) in self.params.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(text[k.clone()].as_bytes());
            out.push(b':');
            out.extend_from_slice(text[v.clone()].as_bytes());
        }
    }

    fn approximate_len(&self) -> usize {
        self.text.as_str().len() + self.provider.len() + self.model.len() + 64
    }

    /// The Bifrost chat request in the chain's `shape`: flat
    /// `{"provider","model","input","params"}` (`params` left out when empty), wrapped as
    /// `shape` asks.
    pub fn to_bifrost(&self, shape: RequestShape) -> RawJson {
        let mut out = Vec::with_capacity(self.approximate_len());
        out.extend_from_slice(b"{\"provider\":");
        scan::write_string(&mut out, &self.provider);
        out.extend_from_slice(b",\"model\":");
        scan::write_string(&mut out, &self.model);
        out.extend_from_slice(b",\"input\":");
        out.extend_from_slice(self.messages().as_bytes());
        if !self.params.is_empty() {
            out.extend_from_slice(b",\"params\":{");
            self.write_params(&mut out);
            out.push(b'}');
        }
        out.push(b'}');
        let flat = String::from_utf8(out).expect("written from UTF-8 parts");
        match shape {
            RequestShape::Flat => RawJson::from_validated(flat),
            shape => RawJson::from_validated(wrap_chat_request(&flat, shape, self.stream)),
        }
    }

    /// The OpenAI body sent to an upstream provider.
    pub fn to_openai(&self) -> String {
        let mut out = Vec::with_capacity(self.approximate_len());
        out.extend_from_slice(b"{\"model\":");
        scan::write_string(&mut out, &self.model);
        out.extend_from_slice(b",\"messages\":");
        out.extend_from_slice(self.messages().as_bytes());
        if !self.params.is_empty() {
            out.push(b',');
            self.write_params(&mut out);
        }
        if self.stream {
            out.extend_from_slice(b",\"stream\":true");
        }
        out.push(b'}');
        String::from_utf8(out).expect("written from UTF-8 parts")
    }
}

/// A provider's chat completion in the response shape that answers a request of `shape`.
pub fn wrap_response(chat: &RawJson, shape: RequestShape) -> RawJson {
    RawJson::from_validated(wrap_chat_response(chat.as_str(), shape))
}

/// The body the client gets for a response after the post-hooks: the provider's chat
/// completion as it came when the hooks left the response as it was sent (`sent`), else the
/// chat completion inside the (changed) response. `None` when there is none.
pub fn answer_body(result: &LlmResult, sent: Option<(&RawJson, &RawJson)>) -> Option<RawJson> {
    match (result, sent) {
        (LlmResult::Response(r), Some((wrapped, chat))) if r.as_str() == wrapped.as_str() => {
            Some(chat.clone())
        }
        (LlmResult::Response(r), _) => LlmResponse::new(r.clone())
            .chat_raw()
            .map(RawJson::from_validated),
        (LlmResult::Error(_), _) => None,
    }
}

/// A Bifrost error JSON the gateway answers with itself (also OpenAI's error shape:
/// `error.message`, `error.type`, `error.code`).
pub fn error_body(status: u16, error_type: &str, message: &str) -> RawJson {
    let code = status.to_string();
    ErrorJson::new(message)
        .with_type(error_type)
        .with_code(&code)
        .with_status(i64::from(status))
        .bifrost(true)
        .to_raw()
}

/// The HTTP status an error JSON asks for: `status_code`, else a numeric `error.code`, else 500.
pub fn error_status(error: &RawJson) -> u16 {
    let valid = |n: u64| (400..=599).contains(&n).then_some(n as u16);
    if let Some(n) = error
        .get_ignore_case("status_code")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .and_then(valid)
    {
        return n;
    }
    error
        .get_path(&["error", "code"])
        .and_then(|v| {
            scan::string_value(v)
                .and_then(|s| s.parse::<u64>().ok())
                .or_else(|| v.trim().parse::<u64>().ok())
        })
        .and_then(valid)
        .unwrap_or(500)
}

/// Turns a (non-streaming) chat completion into the chunk a stream would have carried: the
/// whole message as its delta, with the finish reason and the usage.
pub fn response_to_chunks(chat: &RawJson) -> Vec<RawJson> {
    let text = chat.as_str();
    if JsonKind::of(text) != JsonKind::Object {
        return vec![chat.clone()];
    }
    let mut out = Vec::with_capacity(text.len() + 16);
    out.push(b'{');
    let mut first = true;
    let mut has_object = false;
    let mut member = |out: &mut Vec<u8>, key: &[u8], value: &[u8]| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
        out.extend_from_slice(key);
        out.push(b':');
        out.extend_from_slice(value);
    };
    for m in Members::new(text) {
        let key = &text.as_bytes()[quoted_key(text, m.raw_key)];
        match m.key().as_ref() {
            "object" => {
                has_object = true;
                member(&mut out, key, b"\"chat.completion.chunk\"");
            }
            "choices" if JsonKind::of(m.value) == JsonKind::Array => {
                let mut choices = vec![b'['];
                for choice in Elements::new(m.value).filter(|c| JsonKind::of(c) == JsonKind::Object) {
                    if choices.len() > 1 {
                        choices.push(b',');
                    }
                    choices.push(b'{');
                    for (j, f) in Members::new(choice).enumerate() {
                        if j > 0 {
                            choices.push(b',');
                        }
                        if f.key_is("message") {
                            choices.extend_from_slice(b"\"delta\"");
                        } else {
                            choices.extend_from_slice(&choice.as_bytes()[quoted_key(choice, f.raw_key)]);
                        }
                        choices.push(b':');
                        choices.extend_from_slice(f.value.as_bytes());
                    }
                    choices.push(b'}');
                }
                choices.push(b']');
                member(&mut out, key, &choices);
            }
            _ => member(&mut out, key, m.value.as_bytes()),
        }
    }
    if !has_object {
        member(&mut out, b"\"object\"", b"\"chat.completion.chunk\"");
    }
    out.push(b'}');
    vec![RawJson::from_validated(
        String::from_utf8(out).expect("written from UTF-8 parts"),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use bifrost_wasm_chain::json_equal;

    #[test]
    fn openai_body_round_trips_losslessly_through_the_bifrost_request() {
        let body = br#"{"model":"openai/gpt-4o","messages":[{"role":"user","content":"hi","x-extra":null}],"seed":123456789012345678901234567890,"temperature":1.0,"stream":true,"stream_options":{"include_usage":true}}"#;
        let req = ChatRequest::parse(body, "mock").unwrap();
        assert_eq!(
            (req.provider.as_str(), req.model.as_str(), req.stream),
            ("openai", "gpt-4o", true)
        );
        let flat = req.to_bifrost(RequestShape::Flat);
        assert_eq!(
            flat.as_str(),
            r#"{"provider":"openai","model":"gpt-4o","input":[{"role":"user","content":"hi","x-extra":null}],"params":{"seed":123456789012345678901234567890,"temperature":1.0,"stream_options":{"include_usage":true}}}"#
        );
        let back = ChatRequest::from_bifrost(flat.as_str(), true).unwrap();
        let openai = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi","x-extra":null}],"seed":123456789012345678901234567890,"temperature":1.0,"stream_options":{"include_usage":true},"stream":true}"#;
        assert_eq!(back.to_openai(), openai);
        // Unchanged by any plugin, the client's own parse writes the same provider body.
        assert_eq!(req.to_openai(), openai);
        assert_eq!(req.param("seed"), Some("123456789012345678901234567890"));
    }

    #[test]
    fn a_go_shaped_request_from_the_chain_is_read_back() {
        let req = ChatRequest::parse(br#"{"model":"m","messages":[],"n":2}"#, "mock").unwrap();
        let shaped = req.to_bifrost(RequestShape::GoEnvelope);
        assert!(shaped.as_str().starts_with(r#"{"RequestType":"chat_completion""#));
        let back = ChatRequest::from_chain(&shaped, false).unwrap();
        assert_eq!((back.provider.as_str(), back.model.as_str()), ("mock", "m"));
        assert_eq!(back.to_openai(), r#"{"model":"m","messages":[],"n":2}"#);
    }

    #[test]
    fn escaped_keys_and_strings_keep_their_spelling() {
        let body = br#"{"model":"m\u002fx","messages":[],"\u0074op_p":0.5}"#;
        let req = ChatRequest::parse(body, "mock").unwrap();
        assert_eq!((req.provider.as_str(), req.model.as_str()), ("m", "x"));
        assert_eq!(req.to_openai(), r#"{"model":"x","messages":[],"\u0074op_p":0.5}"#);
    }

    #[test]
    fn model_without_provider_uses_the_default_provider() {
        let req = ChatRequest::parse(br#"{"model":"mock-model","messages":[]}"#, "mock").unwrap();
        assert_eq!(
            (req.provider.as_str(), req.model.as_str()),
            ("mock", "mock-model")
        );
        assert_eq!(split_model("/x", "d"), ("d".to_string(), "/x".to_string()));
        assert_eq!(split_model("a/b/c", "d"), ("a".to_string(), "b/c".to_string()));
    }

    #[test]
    fn bad_bodies_say_what_is_wrong() {
        for (body, needle) in [
            (&b"[1]"[..], "JSON object"),
            (b"{\"messages\":[]}", "`model` is required"),
            (b"{\"model\":\"m\"}", "`messages` is required"),
            (b"{\"model\":1,\"messages\":[]}", "`model` must be a string"),
            (
                b"{\"model\":\"m\",\"messages\":{}}",
                "`messages` must be an array",
            ),
            (
                b"{\"model\":\"m\",\"messages\":[],\"stream\":\"yes\"}",
                "`stream`",
            ),
            (b"{\"model\":", "not valid JSON"),
            (b"\xff", "not UTF-8"),
        ] {
            let err = ChatRequest::parse(body, "mock").unwrap_err();
            assert!(
                err.0.contains(needle),
                "{}: {}",
                String::from_utf8_lossy(body),
                err.0
            );
        }
    }

    #[test]
    fn error_status_reads_status_code_then_numeric_code() {
        let e = |s: &str| RawJson::from_string(s.to_string()).unwrap();
        assert_eq!(
            error_status(&e(r#"{"status_code":429,"error":{"message":"x"}}"#)),
            429
        );
        assert_eq!(error_status(&e(r#"{"error":{"message":"x","code":"403"}}"#)), 403);
        assert_eq!(
            error_status(&e(r#"{"error":{"message":"x","code":"rate_limit"}}"#)),
            500
        );
        assert_eq!(error_status(&e(r#"{"status_code":200,"error":{}}"#)), 500);
        assert_eq!(error_status(&error_body(413, "request_too_large", "big")), 413);
    }

    #[test]
    fn a_response_becomes_one_chunk_with_the_message_as_delta() {
        let chat = RawJson::from_string(
            r#"{"id":"x","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"total_tokens":3}}"#.into(),
        )
        .unwrap();
        let chunks = response_to_chunks(&chat);
        assert_eq!(
            chunks[0].as_str(),
            r#"{"id":"x","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"total_tokens":3}}"#
        );
    }

    #[test]
    fn the_answer_is_the_providers_bytes_unless_a_post_hook_changed_the_response() {
        let chat = RawJson::from_validated(r#"{"id":"c","model":"m","choices":[]}"#);
        let wrapped = wrap_response(&chat, RequestShape::GoEnvelope);
        let same = LlmResult::Response(wrapped.clone());
        assert_eq!(answer_body(&same, Some((&wrapped, &chat))), Some(chat.clone()));
        let edited = LlmResult::Response(wrap_response(
            &RawJson::from_validated(r#"{"id":"c","model":"m2","choices":[]}"#),
            RequestShape::GoEnvelope,
        ));
        let body = answer_body(&edited, Some((&wrapped, &chat))).unwrap();
        assert!(json_equal(
            body.as_str(),
            r#"{"id":"c","model":"m2","choices":[]}"#
        ));
        assert_eq!(answer_body(&LlmResult::Error(chat), None), None);
    }
}
