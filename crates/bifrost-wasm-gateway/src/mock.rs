//! The embedded mock provider: every request kind answered deterministically, offline.
//!
//! | kind | answer |
//! |---|---|
//! | chat | the last user message echoed (streamed word by word) |
//! | text completion | each prompt echoed, one choice per prompt (streamed word by word) |
//! | embedding | one unit vector per input, from a hash of the input (`dimensions`, default 8; `encoding_format: "base64"` gives little-endian `f32`s) |
//! | Responses (and Anthropic messages) | the last user message echoed as one `output_text`; streamed as Responses events |
//! | speech | a small valid WAV (8 kHz, 16-bit mono) whose `ICMT` comment holds the text; streamed as `speech.audio.delta` events |
//! | transcription | the text a mock WAV carries, else the file as UTF-8 text, else `N bytes of audio` (streamed as `transcript.text.delta` events) |
//! | image generation | `n` 8×8 PNGs of one colour each, from a hash of the prompt |
//!
//! Usage counts words as tokens. A model named `mock-error-NNN` answers with an HTTP `NNN`
//! error, for trying out error handling.

use std::time::{SystemTime, UNIX_EPOCH};

use bifrost_wasm_types::http::{decode_base64, encode_base64};
use bifrost_wasm_types::raw::{JsonKind, RawJson};
use bifrost_wasm_types::scan::{self, Elements};
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};

use crate::adapter::{content_text, error_body, Api, ApiRequest};
use crate::provider::{ChunkStream, Completed};

/// The embedded mock provider.
#[derive(Debug, Clone)]
pub struct MockProvider {
    pub(crate) name: String,
}

/// Models the mock lists.
pub const MOCK_MODELS: &[&str] = &["mock-echo", "mock-model"];

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn raw(value: &Value) -> RawJson {
    RawJson::from_validated(value.to_string())
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// Splits a reply into stream pieces: the words, each after the first with its space.
fn pieces(text: &str) -> Vec<String> {
    text.split_whitespace()
        .enumerate()
        .map(|(i, w)| if i == 0 { w.to_string() } else { format!(" {w}") })
        .collect()
}

/// 64-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// splitmix64: a small deterministic generator for the embedding values.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A unit vector of `dims` values determined by `input`.
pub fn embedding(input: &str, dims: usize) -> Vec<f32> {
    let mut state = fnv1a(input.as_bytes());
    let mut v: Vec<f32> = (0..dims)
        .map(|_| (splitmix(&mut state) >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// A valid WAV file (8 kHz, 16-bit mono PCM): a soft tone as long as the text (50 ms per
/// character, at most 2 s), with the text in a `LIST`/`INFO`/`ICMT` comment chunk, which
/// readers skip and [`wav_comment`] reads back.
pub fn wav(text: &str) -> Vec<u8> {
    const RATE: u32 = 8000;
    let samples = (text.chars().count().clamp(1, 40) as u32) * RATE / 20;
    let mut comment = text.as_bytes().to_vec();
    comment.push(0);
    if comment.len() % 2 == 1 {
        comment.push(0);
    }
    let info_len = 4 + 8 + comment.len() as u32;
    let data_len = samples * 2;
    let mut out = Vec::with_capacity(64 + info_len as usize + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(4 + 24 + 8 + info_len + 8 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&RATE.to_le_bytes());
    out.extend_from_slice(&(RATE * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"LIST");
    out.extend_from_slice(&info_len.to_le_bytes());
    out.extend_from_slice(b"INFOICMT");
    out.extend_from_slice(&(comment.len() as u32).to_le_bytes());
    out.extend_from_slice(&comment);
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    // A 440 Hz triangle wave at low volume.
    let period = RATE / 440;
    for i in 0..samples {
        let phase = (i % period) as i32 * 4 * 2000 / period as i32;
        let value = if phase < 4000 { phase - 2000 } else { 6000 - phase };
        out.extend_from_slice(&(value as i16).to_le_bytes());
    }
    out
}

/// The chunks of a RIFF body between `at` and `end`: `(id, body)`, a cut-off body shortened.
fn riff_chunks(bytes: &[u8], mut at: usize, end: usize) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    std::iter::from_fn(move || {
        let head = bytes.get(at..at.checked_add(8)?.min(end))?;
        let [a, b, c, d, l0, l1, l2, l3] = <[u8; 8]>::try_from(head).ok()?;
        let len = u32::from_le_bytes([l0, l1, l2, l3]) as usize;
        let body_end = (at + 8).saturating_add(len).min(end);
        let body = bytes.get(at + 8..body_end)?;
        at = (at + 8).saturating_add(len).saturating_add(len % 2);
        Some(([a, b, c, d], body))
    })
}

/// The `ICMT` comment of a WAV file made by [`wav`] (or any WAV carrying one).
pub fn wav_comment(bytes: &[u8]) -> Option<String> {
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    for (id, body) in riff_chunks(bytes, 12, bytes.len()) {
        if &id == b"LIST" && body.starts_with(b"INFO") {
            for (sub, text) in riff_chunks(body, 4, body.len()) {
                if &sub == b"ICMT" {
                    let text = text.split(|b| *b == 0).next().unwrap_or_default();
                    return String::from_utf8(text.to_vec()).ok();
                }
            }
        }
    }
    None
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(bytes);
    hasher.finalize()
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for byte in bytes {
        a = (a + u32::from(*byte)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A valid 8×8 PNG of one colour (RGB), its pixels in one stored (uncompressed) zlib block.
pub fn png(rgb: [u8; 3]) -> Vec<u8> {
    const SIZE: u32 = 8;
    // Each row: filter byte 0 (none), then the pixels.
    let row: Vec<u8> = std::iter::once(0)
        .chain(rgb.iter().copied().cycle().take(SIZE as usize * 3))
        .collect();
    let pixels = row.repeat(SIZE as usize);
    let mut zlib = vec![0x78, 0x01, 0x01];
    let len = pixels.len() as u16;
    zlib.extend_from_slice(&len.to_le_bytes());
    zlib.extend_from_slice(&(!len).to_le_bytes());
    zlib.extend_from_slice(&pixels);
    zlib.extend_from_slice(&adler32(&pixels).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::with_capacity(13);
    header.extend_from_slice(&SIZE.to_be_bytes());
    header.extend_from_slice(&SIZE.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    png_chunk(&mut out, b"IHDR", &header);
    png_chunk(&mut out, b"IDAT", &zlib);
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// The text of the last `user` message of chat messages or Responses input items.
fn last_user_text(items: &str) -> String {
    Elements::new(items)
        .filter(|m| JsonKind::of(m) == JsonKind::Object)
        .filter(|m| {
            scan::member(m, "role", true)
                .and_then(scan::string_value)
                .is_some_and(|r| r == "user")
        })
        .last()
        .and_then(|m| scan::member(m, "content", true))
        .map(content_text)
        .unwrap_or_default()
}

/// Words of every message's text, counted as prompt tokens.
fn prompt_tokens(items: &str) -> u64 {
    Elements::new(items)
        .filter_map(|m| scan::member(m, "content", true))
        .map(|c| words(&content_text(c)))
        .sum()
}

fn usage(prompt: u64, completion: u64) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
}

fn responses_usage(input: u64, output: u64) -> Value {
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input + output,
    })
}

/// The input's strings: a string, or each element of an array (an array of token ids is one
/// input, written as its JSON).
fn input_strings(input: &str) -> Vec<String> {
    match JsonKind::of(input) {
        JsonKind::String => vec![scan::string_value(input).unwrap_or_default().into_owned()],
        JsonKind::Array => {
            let items: Vec<&str> = Elements::new(input).collect();
            if items.iter().all(|i| JsonKind::of(i) == JsonKind::Number) {
                return vec![input.to_string()];
            }
            items
                .iter()
                .map(|i| match JsonKind::of(i) {
                    JsonKind::String => scan::string_value(i).unwrap_or_default().into_owned(),
                    _ => i.to_string(),
                })
                .collect()
        }
        _ => vec![input.to_string()],
    }
}

impl MockProvider {
    /// The error a `mock-error-NNN` model asks for.
    fn requested_error(request: &ApiRequest) -> Result<(), RawJson> {
        let Some(code) = request.model.strip_prefix("mock-error-") else {
            return Ok(());
        };
        let status = code
            .parse::<u16>()
            .ok()
            .filter(|s| (400..=599).contains(s))
            .unwrap_or(500);
        Err(error_body(
            status,
            "mock_error",
            &format!(
                "the mock provider was asked for a {status} error by model `{}`",
                request.model
            ),
        ))
    }

    /// The client API's input member (borrowed: a transcription's is the whole file).
    fn input(request: &ApiRequest) -> Result<std::borrow::Cow<'_, str>, RawJson> {
        request
            .client_input_value()
            .map_err(|e| error_body(400, "invalid_request_error", &e.0))
    }

    /// One non-streaming answer.
    pub(crate) fn complete(&self, request: &ApiRequest, request_id: &str) -> Result<Completed, RawJson> {
        Self::requested_error(request)?;
        let input = Self::input(request)?;
        let model = &request.model;
        let created = now_secs();
        let inner = match request.api {
            Api::Chat => {
                let reply = last_user_text(&input);
                let (p, c) = (prompt_tokens(&input), words(&reply));
                json!({
                    "id": format!("chatcmpl-mock-{request_id}"),
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [{
                        "index": 0,
                        "message": {"role": "assistant", "content": reply},
                        "finish_reason": "stop",
                    }],
                    "usage": usage(p, c),
                })
            }
            Api::Completions => {
                let prompts = input_strings(&input);
                let p: u64 = prompts.iter().map(|t| words(t)).sum();
                let choices: Vec<Value> = prompts
                    .iter()
                    .enumerate()
                    .map(|(i, t)| json!({"text": t, "index": i, "logprobs": null, "finish_reason": "stop"}))
                    .collect();
                json!({
                    "id": format!("cmpl-mock-{request_id}"),
                    "object": "text_completion",
                    "created": created,
                    "model": model,
                    "choices": choices,
                    "usage": usage(p, p),
                })
            }
            Api::Embeddings => {
                let dims = request
                    .param("dimensions")
                    .and_then(|d| d.trim().parse::<usize>().ok())
                    .filter(|d| (1..=4096).contains(d))
                    .unwrap_or(8);
                let base64 = request.param_str("encoding_format").as_deref() == Some("base64");
                let inputs = input_strings(&input);
                let data: Vec<Value> = inputs
                    .iter()
                    .enumerate()
                    .map(|(i, text)| {
                        let v = embedding(text, dims);
                        let value = if base64 {
                            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                            Value::String(encode_base64(&bytes))
                        } else {
                            json!(v)
                        };
                        json!({"object": "embedding", "index": i, "embedding": value})
                    })
                    .collect();
                let p: u64 = inputs.iter().map(|t| words(t).max(1)).sum();
                json!({
                    "object": "list",
                    "data": data,
                    "model": model,
                    "usage": {"prompt_tokens": p, "total_tokens": p},
                })
            }
            Api::Responses | Api::AnthropicMessages => {
                Self::response_object(request_id, model, &request.bifrost_input(), created, "completed")
            }
            Api::Speech => {
                let text = scan::string_value(&input).unwrap_or_default().into_owned();
                json!({
                    "audio": encode_base64(&wav(&text)),
                    "usage": {"input_tokens": words(&text), "output_tokens": 0, "total_tokens": words(&text)},
                })
            }
            Api::Transcriptions => {
                let text = Self::transcript(&input);
                let format = request.param_str("response_format").unwrap_or_default();
                let duration = (text.chars().count().clamp(1, 40) as f64) / 20.0;
                if format == "verbose_json" {
                    json!({
                        "task": "transcribe",
                        "language": request.param_str("language").unwrap_or_else(|| "english".into()),
                        "duration": duration,
                        "text": text,
                        "segments": [{
                            "id": 0, "seek": 0, "start": 0.0, "end": duration, "text": text,
                            "tokens": [], "temperature": 0.0, "avg_logprob": 0.0,
                            "compression_ratio": 1.0, "no_speech_prob": 0.0,
                        }],
                    })
                } else {
                    json!({"text": text, "usage": {"type": "duration", "seconds": duration.ceil() as u64}})
                }
            }
            Api::Images => {
                let prompt = scan::string_value(&input).unwrap_or_default().into_owned();
                let n = request
                    .param("n")
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .unwrap_or(1)
                    .clamp(1, 10);
                let b64 = request.param_str("response_format").as_deref() == Some("b64_json");
                let data: Vec<Value> = (0..n)
                    .map(|i| {
                        let h = fnv1a(format!("{i}:{prompt}").as_bytes()).to_le_bytes();
                        let image = encode_base64(&png([h[0], h[1], h[2]]));
                        if b64 {
                            json!({"b64_json": image})
                        } else {
                            json!({"url": format!("data:image/png;base64,{image}")})
                        }
                    })
                    .collect();
                json!({"created": created, "data": data})
            }
        };
        Ok(Completed {
            inner: raw(&inner),
            client: None,
        })
    }

    /// The text a transcription of this file (base64 JSON string) reads.
    fn transcript(file: &str) -> String {
        let bytes = scan::string_value(file)
            .and_then(|b| decode_base64(&b).ok())
            .unwrap_or_default();
        wav_comment(&bytes)
            .or_else(|| {
                (!bytes.starts_with(b"RIFF"))
                    .then(|| String::from_utf8(bytes.clone()).ok())
                    .flatten()
            })
            .unwrap_or_else(|| format!("{} bytes of audio", bytes.len()))
    }

    /// A Responses API response echoing the last user item.
    fn response_object(request_id: &str, model: &str, input: &str, created: u64, status: &str) -> Value {
        let reply = last_user_text(input);
        let (p, c) = (prompt_tokens(input), words(&reply));
        json!({
            "id": format!("resp_mock_{request_id}"),
            "object": "response",
            "created_at": created,
            "status": status,
            "error": null,
            "incomplete_details": null,
            "instructions": null,
            "model": model,
            "output": [Self::output_message(request_id, &reply, status)],
            "parallel_tool_calls": true,
            "tool_choice": "auto",
            "tools": [],
            "usage": responses_usage(p, c),
        })
    }

    fn output_message(request_id: &str, text: &str, status: &str) -> Value {
        json!({
            "type": "message",
            "id": format!("msg_mock_{request_id}"),
            "status": status,
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        })
    }

    /// A streaming answer: chunks (chat, text completion) or events (the other kinds).
    pub(crate) fn stream(&self, request: &ApiRequest, request_id: &str) -> Result<ChunkStream, RawJson> {
        Self::requested_error(request)?;
        let input = Self::input(request)?;
        let model = request.model.as_str();
        let created = now_secs();
        let events: Vec<Value> = match request.api {
            Api::Chat => {
                let reply = last_user_text(&input);
                let chunk = |delta: Value, finish: Option<&str>| {
                    json!({
                        "id": format!("chatcmpl-mock-{request_id}"),
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                    })
                };
                let mut out = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
                out.extend(
                    pieces(&reply)
                        .into_iter()
                        .map(|p| chunk(json!({"content": p}), None)),
                );
                let mut last = chunk(json!({}), Some("stop"));
                last["usage"] = usage(prompt_tokens(&input), words(&reply));
                out.push(last);
                out
            }
            Api::Completions => {
                let prompts = input_strings(&input);
                let chunk = |i: usize, text: &str, finish: Option<&str>| {
                    json!({
                        "id": format!("cmpl-mock-{request_id}"),
                        "object": "text_completion",
                        "created": created,
                        "model": model,
                        "choices": [{"text": text, "index": i, "logprobs": null, "finish_reason": finish}],
                    })
                };
                let mut out = Vec::new();
                for (i, prompt) in prompts.iter().enumerate() {
                    out.extend(pieces(prompt).iter().map(|p| chunk(i, p, None)));
                    out.push(chunk(i, "", Some("stop")));
                }
                let p: u64 = prompts.iter().map(|t| words(t)).sum();
                if let Some(last) = out.last_mut() {
                    last["usage"] = usage(p, p);
                }
                out
            }
            Api::Responses | Api::AnthropicMessages => {
                Self::response_events(request_id, model, &request.bifrost_input(), created)
            }
            Api::Speech => {
                let text = scan::string_value(&input).unwrap_or_default().into_owned();
                let audio = wav(&text);
                let mut out: Vec<Value> = audio
                    .chunks(4096)
                    .map(|piece| json!({"type": "speech.audio.delta", "audio": encode_base64(piece)}))
                    .collect();
                out.push(json!({
                    "type": "speech.audio.done",
                    "usage": {"input_tokens": words(&text), "output_tokens": 0, "total_tokens": words(&text)},
                }));
                out
            }
            Api::Transcriptions => {
                let text = Self::transcript(&input);
                let mut out: Vec<Value> = pieces(&text)
                    .into_iter()
                    .map(|p| json!({"type": "transcript.text.delta", "delta": p}))
                    .collect();
                out.push(json!({"type": "transcript.text.done", "text": text}));
                out
            }
            Api::Embeddings | Api::Images => {
                return Err(error_body(
                    400,
                    "invalid_request_error",
                    &format!("{} requests do not stream", request.api.noun()),
                ))
            }
        };
        Ok(stream::iter(events.into_iter().map(|e| Ok(raw(&e)))).boxed())
    }

    /// The Responses API's stream events for an echo of the last user item.
    fn response_events(request_id: &str, model: &str, input: &str, created: u64) -> Vec<Value> {
        let done = Self::response_object(request_id, model, input, created, "completed");
        let mut started = done.clone();
        started["status"] = json!("in_progress");
        started["output"] = json!([]);
        let reply = last_user_text(input);
        let item_id = format!("msg_mock_{request_id}");
        let mut item = Self::output_message(request_id, "", "in_progress");
        item["content"] = json!([]);
        let mut out = vec![
            json!({"type": "response.created", "response": started}),
            json!({"type": "response.in_progress", "response": started}),
            json!({"type": "response.output_item.added", "output_index": 0, "item": item}),
            json!({
                "type": "response.content_part.added", "item_id": item_id, "output_index": 0,
                "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []},
            }),
        ];
        out.extend(pieces(&reply).into_iter().map(|p| {
            json!({
                "type": "response.output_text.delta", "item_id": item_id, "output_index": 0,
                "content_index": 0, "delta": p, "logprobs": [],
            })
        }));
        out.push(json!({
            "type": "response.output_text.done", "item_id": item_id, "output_index": 0,
            "content_index": 0, "text": reply, "logprobs": [],
        }));
        out.push(json!({
            "type": "response.content_part.done", "item_id": item_id, "output_index": 0,
            "content_index": 0, "part": {"type": "output_text", "text": reply, "annotations": []},
        }));
        out.push(json!({
            "type": "response.output_item.done", "output_index": 0,
            "item": Self::output_message(request_id, &reply, "completed"),
        }));
        out.push(json!({"type": "response.completed", "response": done}));
        for (i, event) in out.iter_mut().enumerate() {
            event["sequence_number"] = json!(i);
        }
        out
    }

    /// The `GET /v1/models` answer.
    pub(crate) fn models(&self) -> RawJson {
        let data: Vec<_> = MOCK_MODELS
            .iter()
            .map(|m| json!({"id": format!("{}/{m}", self.name), "object": "model", "created": 0, "owned_by": self.name}))
            .collect();
        raw(&json!({"object": "list", "data": data}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(api: Api, body: &str) -> ApiRequest {
        ApiRequest::parse(api, body.as_bytes(), "mock").unwrap()
    }

    fn mock() -> MockProvider {
        MockProvider { name: "mock".into() }
    }

    #[test]
    fn mock_echoes_the_last_user_message_with_usage() {
        let req = request(
            Api::Chat,
            r#"{"model":"mock-echo","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"first"},{"role":"assistant","content":"x"},{"role":"user","content":[{"type":"text","text":"hello"},{"type":"text","text":"there world"}]}]}"#,
        );
        let out = mock().complete(&req, "r1").unwrap().inner.to_value().unwrap();
        assert_eq!(out["choices"][0]["message"]["content"], "hello there world");
        assert_eq!(out["id"], "chatcmpl-mock-r1");
        assert_eq!(out["usage"]["prompt_tokens"], 7);
        assert_eq!(out["usage"]["completion_tokens"], 3);
        assert_eq!(out["usage"]["total_tokens"], 10);
    }

    #[tokio::test]
    async fn mock_streams_word_by_word_and_the_words_rebuild_the_reply() {
        let req = request(
            Api::Chat,
            r#"{"model":"m","messages":[{"role":"user","content":"one two  three"}]}"#,
        );
        let chunks: Vec<_> = mock().stream(&req, "r").unwrap().collect().await;
        assert_eq!(chunks.len(), 5);
        let mut text = String::new();
        for c in &chunks {
            let v = c.as_ref().unwrap().to_value().unwrap();
            text.push_str(v["choices"][0]["delta"]["content"].as_str().unwrap_or(""));
        }
        assert_eq!(text, "one two three");
        let last = chunks.last().unwrap().as_ref().unwrap().to_value().unwrap();
        assert_eq!(last["choices"][0]["finish_reason"], "stop");
        assert_eq!(last["usage"]["completion_tokens"], 3);
    }

    #[test]
    fn mock_error_models_answer_with_their_status_for_every_kind() {
        for (api, body) in [
            (Api::Chat, r#"{"model":"mock-error-503","messages":[]}"#),
            (Api::Embeddings, r#"{"model":"mock-error-429","input":"x"}"#),
            (Api::Images, r#"{"model":"mock-error-400","prompt":"x"}"#),
        ] {
            let err = mock().complete(&request(api, body), "r").map(|_| ()).unwrap_err();
            let status = err.get("status_code").unwrap().to_string();
            assert!(body.contains(&status), "{api:?}: {err}");
        }
    }

    #[test]
    fn embeddings_are_deterministic_unit_vectors_and_base64_decodes_to_the_same_floats() {
        let floats = mock()
            .complete(
                &request(
                    Api::Embeddings,
                    r#"{"model":"e","input":["a","b"],"dimensions":16}"#,
                ),
                "r",
            )
            .unwrap()
            .inner
            .to_value()
            .unwrap();
        let a: Vec<f32> = serde_json::from_value(floats["data"][0]["embedding"].clone()).unwrap();
        assert_eq!(a.len(), 16);
        assert!((a.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-4);
        assert_ne!(floats["data"][0]["embedding"], floats["data"][1]["embedding"]);
        let b64 = mock()
            .complete(
                &request(
                    Api::Embeddings,
                    r#"{"model":"e","input":"a","dimensions":16,"encoding_format":"base64"}"#,
                ),
                "r",
            )
            .unwrap()
            .inner
            .to_value()
            .unwrap();
        let bytes = decode_base64(b64["data"][0]["embedding"].as_str().unwrap()).unwrap();
        let back: Vec<f32> = bytes
            .chunks(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(back, a);
    }

    #[test]
    fn the_speech_wav_carries_its_text_and_its_sizes_add_up() {
        let audio = wav("héllo world");
        assert_eq!(&audio[..4], b"RIFF");
        let riff = u32::from_le_bytes([audio[4], audio[5], audio[6], audio[7]]) as usize;
        assert_eq!(riff + 8, audio.len());
        assert_eq!(wav_comment(&audio).as_deref(), Some("héllo world"));
        assert_eq!(wav_comment(b"not a wav"), None);
        // A truncated file is read without panicking.
        for cut in 0..audio.len() {
            let _ = wav_comment(&audio[..cut]);
        }
    }

    #[test]
    fn the_png_has_a_valid_signature_chunks_and_checksums() {
        let image = png([1, 2, 3]);
        assert_eq!(&image[..8], b"\x89PNG\r\n\x1a\n");
        let mut at = 8;
        let mut kinds = Vec::new();
        while at < image.len() {
            let len = u32::from_be_bytes(image[at..at + 4].try_into().unwrap()) as usize;
            let body = &image[at + 4..at + 8 + len];
            let crc = u32::from_be_bytes(image[at + 8 + len..at + 12 + len].try_into().unwrap());
            assert_eq!(crc, crc32(body));
            kinds.push(String::from_utf8(body[..4].to_vec()).unwrap());
            at += 12 + len;
        }
        assert_eq!(kinds, ["IHDR", "IDAT", "IEND"]);
    }

    #[tokio::test]
    async fn responses_events_rebuild_the_echo_and_end_with_the_whole_response() {
        let req = request(Api::Responses, r#"{"model":"m","input":"say it twice"}"#);
        let events: Vec<Value> = mock()
            .stream(&req, "r")
            .unwrap()
            .map(|e| e.unwrap().to_value().unwrap())
            .collect()
            .await;
        let text: String = events
            .iter()
            .filter(|e| e["type"] == "response.output_text.delta")
            .map(|e| e["delta"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(text, "say it twice");
        let last = events.last().unwrap();
        assert_eq!(last["type"], "response.completed");
        assert_eq!(
            last["response"]["output"][0]["content"][0]["text"],
            "say it twice"
        );
        let seq: Vec<u64> = events
            .iter()
            .map(|e| e["sequence_number"].as_u64().unwrap())
            .collect();
        assert_eq!(seq, (0..events.len() as u64).collect::<Vec<_>>());
    }
}
