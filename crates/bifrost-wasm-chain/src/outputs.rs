//! Reading hook outputs: what each hook's output asks the chain to do.
//!
//! Every output is read with the one codec of hook envelopes
//! ([`bifrost_wasm_types::codec`]): one validating pass indexes the envelope and its payloads'
//! members; flags and error texts are read as Go's decoder would. Then the rules of each hook:
//! absent, `null` and `{}` in place of a payload mean "unchanged"; the hook's own error wins
//! over everything else; a short-circuit or an answer needs its payload. An output the chain
//! cannot use is a *failure* of the hook, with a message saying why.

use std::borrow::Cow;

use bifrost_wasm_host::{ErrorKind, Hook, HostError};
use bifrost_wasm_types::codec::{
    changed_payload, http_post_hook, http_pre_hook, http_stream_chunk_hook, post_hook, pre_hook, CodecError,
    Direction, Envelope,
};
use bifrost_wasm_types::http::decode_base64;
use bifrost_wasm_types::raw::{JsonKind, RawJson};
use bifrost_wasm_types::scan::{self, Member};
use bifrost_wasm_types::shape::{
    wrap_request, wrap_response, LlmRequest, LlmResponse, RequestShape, ResponseShape,
};

use crate::answer::{HttpAnswer, LlmResult};

/// Most characters of a bad output quoted in a message.
const EXCERPT_CHARS: usize = 160;

fn excerpt(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .take(EXCERPT_CHARS)
        .collect()
}

/// Why an output cannot be used, as the message of a failure of `plugin`'s `hook`.
fn unusable(plugin: &str, hook: Hook, kind: ErrorKind) -> String {
    HostError::new(kind)
        .plugin_named(plugin)
        .in_function(hook.name())
        .to_string()
}

/// A shape problem in an output that is valid JSON.
pub(crate) fn shape_error(plugin: &str, hook: Hook, output: &[u8], error: impl Into<String>) -> String {
    unusable(
        plugin,
        hook,
        ErrorKind::OutputShape {
            error: error.into(),
            excerpt: excerpt(output),
        },
    )
}

/// Indexes `output` as `hook`'s output envelope; the error is the failure message.
pub(crate) fn envelope<'a>(plugin: &str, hook: Hook, output: &'a [u8]) -> Result<Envelope<'a>, String> {
    Envelope::parse_as(hook, Direction::Output, output).map_err(|e| classify(plugin, hook, output, e))
}

/// Says precisely why an output is not an envelope (the rare path: it is scanned again).
#[cold]
fn classify(plugin: &str, hook: Hook, output: &[u8], e: CodecError) -> String {
    let kind = match scan::utf8(output) {
        Err(utf8) => ErrorKind::InvalidUtf8 {
            valid_up_to: utf8.valid_up_to(),
        },
        Ok(text) => match scan::validate(text) {
            Err(json) => ErrorKind::InvalidJson {
                error: json.to_string(),
                excerpt: excerpt(output),
            },
            Ok(()) => ErrorKind::OutputShape {
                error: format!(
                    "the output must be a JSON object, found {}",
                    JsonKind::of(text).name()
                ),
                excerpt: excerpt(output),
            },
        },
    };
    let _ = e;
    unusable(plugin, hook, kind)
}

/// An output's context: its text and members when it is an object; absent or `null` is
/// none; anything else cannot be used.
pub(crate) fn context<'a, 'e>(
    env: &'e Envelope<'a>,
) -> Result<Option<(&'a str, impl Iterator<Item = Member<'a>> + Clone + 'e)>, String> {
    match env.member("context") {
        None => Ok(None),
        Some((text, members)) => match JsonKind::of(text) {
            JsonKind::Object => Ok(Some((text, members))),
            JsonKind::Null => Ok(None),
            other => Err(format!("`context` must be an object, found {}", other.name())),
        },
    }
}

/// What an output says: `Err` when it cannot be used (why), `Ok(Err(_))` when the plugin
/// returned an error (its text), else what the hook asks for.
pub(crate) type Reading<'a, T> = Result<Result<T, Cow<'a, str>>, String>;

fn codec(e: CodecError) -> String {
    e.into_message()
}

fn non_empty(error: Cow<'_, str>) -> Option<Cow<'_, str>> {
    (!error.is_empty()).then_some(error)
}

/// What an `http_pre_hook` output asks for.
pub(crate) enum HttpPreRead {
    /// Answer the client with this.
    Respond(HttpAnswer),
    /// Go on, with this request if it changed.
    Continue(Option<RawJson>),
}

pub(crate) fn read_http_pre<'a>(env: &Envelope<'a>, current: &str) -> Reading<'a, HttpPreRead> {
    let out = http_pre_hook::Output::read(env).map_err(codec)?;
    if let Some(error) = non_empty(out.error) {
        return Ok(Err(error));
    }
    if out.has_response {
        let response = changed_payload(out.response)
            .ok_or("`has_response` is true but `response` is missing or null")?;
        return http_answer(response, env.children("response")).map(|a| Ok(HttpPreRead::Respond(a)));
    }
    match changed_payload(out.request) {
        None => Ok(Ok(HttpPreRead::Continue(None))),
        Some(r) if r == current => Ok(Ok(HttpPreRead::Continue(None))),
        Some(r) if JsonKind::of(r) == JsonKind::Object => {
            Ok(Ok(HttpPreRead::Continue(Some(RawJson::from_validated(r)))))
        }
        Some(r) => Err(format!(
            "`request` must be an HTTP request object or null, found {}",
            JsonKind::of(r).name()
        )),
    }
}

/// An `http_pre_hook`'s answer (`HTTPResponse` JSON: `status_code`, `headers`, base64 `body`).
fn http_answer<'a>(
    response: &str,
    members: impl Iterator<Item = Member<'a>> + Clone,
) -> Result<HttpAnswer, String> {
    if JsonKind::of(response) != JsonKind::Object {
        return Err(format!(
            "`response` is not an HTTP response object: found {}",
            JsonKind::of(response).name()
        ));
    }
    let member = |name: &str| {
        members
            .clone()
            .filter(|m| m.key_is_ignore_case(name))
            .last()
            .map(|m| m.value)
            .filter(|v| JsonKind::of(v) != JsonKind::Null)
    };
    let status = match member("status_code") {
        None => 200,
        Some(v) => match v.trim().parse::<i64>() {
            Ok(0) => 200,
            Ok(s @ 100..=599) => s as u16,
            Ok(other) => return Err(format!("`response.status_code` {other} is not an HTTP status")),
            Err(_) => return Err(format!("`response.status_code` must be an integer, found `{v}`")),
        },
    };
    let mut headers = Vec::new();
    if let Some(map) = member("headers") {
        if JsonKind::of(map) != JsonKind::Object {
            return Err("`response.headers` must be an object of strings".into());
        }
        for m in scan::Members::new(map) {
            let value = scan::string_value(m.value)
                .ok_or_else(|| format!("`response.headers.{}` must be a string", m.key()))?;
            headers.push((m.key().into_owned(), value.into_owned()));
        }
        headers.sort();
    }
    let body = match member("body") {
        None => Vec::new(),
        Some(b) => {
            let text = scan::string_value(b).ok_or("`response.body` must be a base64 string")?;
            decode_base64(&text).map_err(|e| format!("`response.body` is not valid base64: {e}"))?
        }
    };
    Ok(HttpAnswer {
        status,
        headers,
        body,
    })
}

/// What a `pre_hook` output asks for.
pub(crate) enum PreRead {
    /// Answer instead of the provider.
    ShortCircuit(LlmResult),
    /// Go on, with this request if it changed (already in the chain's shape).
    Continue(Option<RawJson>),
}

pub(crate) fn read_pre<'a>(
    env: &Envelope<'a>,
    before: &RawJson,
    shape: RequestShape,
) -> Reading<'a, PreRead> {
    let out = pre_hook::Output::read(env).map_err(codec)?;
    if let Some(error) = non_empty(out.error) {
        return Ok(Err(error));
    }
    if out.has_short_circuit {
        let sc = changed_payload(out.short_circuit)
            .ok_or("`has_short_circuit` is true but `short_circuit` is missing or null")?;
        if JsonKind::of(sc) != JsonKind::Object {
            return Err(format!(
                "short_circuit must be an object, found {}",
                JsonKind::of(sc).name()
            ));
        }
        // `response`/`error` as the seed writes them, `Response`/`Error` as Go does.
        let part = |name: &str| {
            env.children("short_circuit")
                .filter(|m| m.key_is_ignore_case(name))
                .last()
                .map(|m| m.value)
                .filter(|v| !is_empty_value(v))
        };
        let result = match (part("response"), part("error")) {
            (_, Some(error)) => {
                if JsonKind::of(error) != JsonKind::Object {
                    return Err(format!(
                        "`short_circuit.error` must be a Bifrost error object, found {}",
                        JsonKind::of(error).name()
                    ));
                }
                LlmResult::Error(RawJson::from_validated(error))
            }
            (Some(response), _) => LlmResult::Response(normalize_response(
                LlmResponse::new(RawJson::from_validated(response)),
                shape,
            )),
            _ => {
                return Err(
                    "`has_short_circuit` is true but `short_circuit` has neither a response nor an error"
                        .into(),
                )
            }
        };
        return Ok(Ok(PreRead::ShortCircuit(result)));
    }
    match changed_payload(out.request) {
        None => Ok(Ok(PreRead::Continue(None))),
        Some(r) if r == before.as_str() => Ok(Ok(PreRead::Continue(None))),
        Some(r) if JsonKind::of(r) == JsonKind::Object => {
            Ok(Ok(PreRead::Continue(Some(normalize_request(r, before, shape)))))
        }
        Some(r) => Err(format!(
            "`request` must be a request object or null, found {}",
            JsonKind::of(r).name()
        )),
    }
}

/// `null`, `{}` or `""`: a short-circuit part that is not there.
fn is_empty_value(v: &str) -> bool {
    match JsonKind::of(v) {
        JsonKind::Null => true,
        JsonKind::Object => scan::Members::new(v).next().is_none(),
        JsonKind::String => v.trim() == "\"\"",
        _ => false,
    }
}

/// A request given back in another shape, re-wrapped in the chain's shape.
fn normalize_request(request: &str, before: &RawJson, shape: RequestShape) -> RawJson {
    let shaped = LlmRequest::new(RawJson::from_validated(request));
    let kind = shaped.kind();
    if shaped.shape() == shape || kind.go_request_member().is_none() {
        return shaped.into_raw();
    }
    let Some(inner) = shaped.inner() else {
        return shaped.into_raw();
    };
    let stream = LlmRequest::new(before.clone())
        .request_type()
        .is_some_and(|t| t.ends_with("_stream"));
    RawJson::from_validated(wrap_request(inner, &kind, shape, stream))
}

/// A response in another shape, re-wrapped in the shape that answers the chain's requests.
fn normalize_response(response: LlmResponse, shape: RequestShape) -> RawJson {
    let wanted = match shape {
        RequestShape::GoEnvelope => ResponseShape::GoEnvelope,
        RequestShape::Flat | RequestShape::Snake => ResponseShape::Snake,
    };
    let (Some(kind), Some(inner)) = (response.kind(), response.inner_raw()) else {
        return response.into_raw();
    };
    if response.shape() == wanted {
        return response.into_raw();
    }
    RawJson::from_validated(wrap_response(inner, &kind, shape, response.is_stream_event()))
}

/// What a `post_hook` output asks for: go on, with this result if it changed.
pub(crate) fn read_post<'a>(
    env: &Envelope<'a>,
    current: &LlmResult,
    shape: RequestShape,
) -> Reading<'a, Option<LlmResult>> {
    let out = post_hook::Output::read(env).map_err(codec)?;
    if let Some(error) = non_empty(out.hook_error) {
        return Ok(Err(error));
    }
    if out.has_error {
        let error =
            changed_payload(out.error).ok_or("`has_error` is true but `error` is missing, null or empty")?;
        if JsonKind::of(error) != JsonKind::Object {
            return Err(format!(
                "`error` must be a Bifrost error object, found {}",
                JsonKind::of(error).name()
            ));
        }
        return Ok(Ok(match current {
            LlmResult::Error(e) if e.as_str() == error => None,
            _ => Some(LlmResult::Error(RawJson::from_validated(error))),
        }));
    }
    let next = match changed_payload(out.response) {
        Some(r) if matches!(current, LlmResult::Response(c) if c.as_str() == r) => None,
        // A response given back: kept (or, after an error, a recovery).
        Some(r) if JsonKind::of(r) == JsonKind::Object => {
            let members = env.children("response");
            // Go's empty `BifrostResponse` (every member null) means "no response".
            let empty_envelope = members.clone().next().is_some()
                && members.clone().all(|m| JsonKind::of(m.value) == JsonKind::Null)
                && members.clone().any(|m| is_go_response_key(&m.key()));
            if empty_envelope {
                None
            } else if in_response_shape(members, shape) {
                Some(LlmResult::Response(RawJson::from_validated(r)))
            } else {
                Some(LlmResult::Response(normalize_response(
                    LlmResponse::new(RawJson::from_validated(r)),
                    shape,
                )))
            }
        }
        Some(r) => {
            return Err(format!(
                "`response` must be a response object or null, found {}",
                JsonKind::of(r).name()
            ))
        }
        // No response and no error flag: unchanged (the Go and TypeScript examples pass
        // errors through with `has_error: false`).
        None => None,
    };
    Ok(Ok(next))
}

/// Whether a response whose members are `members` is already in the shape that answers a
/// request of `shape`, as [`LlmResponse::shape`] would find (`chat_response` makes the snake
/// shape; any other `…Response` member, Go's), decided from the index without a scan.
fn in_response_shape<'a>(members: impl Iterator<Item = Member<'a>> + Clone, shape: RequestShape) -> bool {
    let snake = members.clone().any(|m| m.key_is("chat_response"));
    match shape {
        RequestShape::Flat | RequestShape::Snake => snake,
        RequestShape::GoEnvelope => !snake && members.clone().any(|m| is_go_response_key(&m.key())),
    }
}

/// A member name of Go's `BifrostResponse` (`ChatResponse`, `EmbeddingResponse`, ...).
fn is_go_response_key(k: &str) -> bool {
    !k.contains('_')
        && k.len() > "response".len()
        && k[k.len() - "response".len()..].eq_ignore_ascii_case("response")
}

/// What an `http_post_hook` output says: nothing but its error, if any.
pub(crate) fn read_http_post<'a>(env: &Envelope<'a>) -> Reading<'a, ()> {
    let out = http_post_hook::Output::read(env).map_err(codec)?;
    Ok(non_empty(out.error).map_or(Ok(()), Err))
}

/// What an `http_stream_chunk_hook` output asks for (an error *without* a chunk is the
/// returned error: the stream ends, Go's `(nil, err)`).
pub(crate) enum ChunkRead {
    /// An error with a chunk (Go's `(chunk, err)`): logged, the chunk goes on.
    ErrorWithChunk(String, Option<RawJson>),
    /// Drop the chunk.
    Skip,
    /// Send the chunk, this one if it changed.
    Continue(Option<RawJson>),
}

pub(crate) fn read_chunk<'a>(env: &Envelope<'a>, current: &str) -> Reading<'a, ChunkRead> {
    let out = http_stream_chunk_hook::Output::read(env).map_err(codec)?;
    // `Some(None)`: a chunk given back unchanged.
    let chunk = match out.chunk {
        None => None,
        Some(c) if JsonKind::of(c) == JsonKind::Null => None,
        Some(c) if c == current => Some(None),
        Some(c) if JsonKind::of(c) == JsonKind::Object => Some(Some(c)),
        Some(c) => {
            return Err(format!(
                "`chunk` must be a chunk object or null, found {}",
                JsonKind::of(c).name()
            ))
        }
    };
    let copy = |c: Option<&str>| c.map(RawJson::from_validated);
    if let Some(error) = non_empty(out.error) {
        return Ok(match (out.has_chunk, chunk) {
            (true, Some(chunk)) => Ok(ChunkRead::ErrorWithChunk(error.into_owned(), copy(chunk))),
            _ => Err(error),
        });
    }
    if out.skip {
        return Ok(Ok(ChunkRead::Skip));
    }
    Ok(Ok(ChunkRead::Continue(copy(if out.has_chunk {
        chunk.flatten()
    } else {
        None
    }))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(hook: Hook, text: &str) -> Envelope<'_> {
        Envelope::parse_as(hook, Direction::Output, text.as_bytes()).unwrap()
    }

    #[test]
    fn outputs_that_are_not_envelopes_are_failures_that_say_why() {
        for (output, reason) in [
            (&b"[1,2,3]"[..], "must be a JSON object, found array"),
            (b"{\"a\":}", "returned invalid JSON"),
            (b"\xff", "returned invalid UTF-8"),
            (b"  ", "returned invalid JSON"),
        ] {
            let message = envelope("junk", Hook::PreHook, output).unwrap_err();
            assert!(message.contains(reason), "{message}");
            assert!(message.starts_with("plugin `junk`: `pre_hook`"), "{message}");
        }
    }

    #[test]
    fn an_http_answer_is_read_from_the_response_members() {
        let text = r#"{"has_response":true,"response":{"status_code":0,"headers":{"X-B":"2","X-A":"1"},"body":"eyJvayI6dHJ1ZX0="}}"#;
        let e = env(Hook::HttpPreHook, text);
        let Ok(Ok(HttpPreRead::Respond(answer))) = read_http_pre(&e, "{}") else {
            panic!("an answer")
        };
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.headers,
            [
                ("X-A".to_string(), "1".to_string()),
                ("X-B".to_string(), "2".to_string())
            ]
        );
        assert_eq!(answer.body, br#"{"ok":true}"#);
        for (response, reason) in [
            (r#"{"status_code":700}"#, "700 is not an HTTP status"),
            (r#"{"body":"***"}"#, "not valid base64"),
            (r#"{"headers":{"a":1}}"#, "`response.headers.a` must be a string"),
            ("[]", "not an HTTP response object"),
        ] {
            let text = format!(r#"{{"has_response":true,"response":{response}}}"#);
            let e = env(Hook::HttpPreHook, &text);
            let Err(message) = read_http_pre(&e, "{}") else {
                panic!("{response} is not an answer")
            };
            assert!(message.contains(reason), "{message}");
        }
    }

    #[test]
    fn a_chunk_error_with_a_chunk_keeps_the_chunk() {
        let e = env(
            Hook::HttpStreamChunkHook,
            r#"{"chunk":{"x":1},"has_chunk":true,"error":"minor"}"#,
        );
        assert!(matches!(
            read_chunk(&e, "{}"),
            Ok(Ok(ChunkRead::ErrorWithChunk(m, Some(c)))) if m == "minor" && c.as_str() == r#"{"x":1}"#
        ));
        let e = env(Hook::HttpStreamChunkHook, r#"{"chunk":null,"error":"stop"}"#);
        assert!(matches!(read_chunk(&e, "{}"), Ok(Err(m)) if m == "stop"));
    }

    #[test]
    fn an_all_null_go_response_means_no_response() {
        let current = LlmResult::Error(RawJson::from_validated(r#"{"error":{"message":"x"}}"#));
        let e = env(
            Hook::PostHook,
            r#"{"response":{"ChatResponse":null,"EmbeddingResponse":null},"has_error":false}"#,
        );
        assert!(matches!(
            read_post(&e, &current, RequestShape::GoEnvelope),
            Ok(Ok(None))
        ));
    }
}
