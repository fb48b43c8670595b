//! Anthropic's Messages API (`POST /anthropic/v1/messages`) over Bifrost's Responses request,
//! as real Bifrost's Anthropic integration does it: the client's Messages body reaches the
//! plugins as a Bifrost **Responses** request, the plugins see Responses responses and
//! Responses stream events, and the client gets Anthropic JSON or Anthropic server-sent events
//! back. Everything here is pure translation on JSON text (no I/O).
//!
//! ```text
//! client Messages body ──messages_to_responses_request──▶ flat Responses request ─▶ pre_hooks
//!   ─▶ responses_request_to_messages ─▶ Anthropic-compatible upstream
//!   upstream message ──message_to_responses──▶ Responses response ─▶ post_hooks
//!   ─▶ responses_to_message ─▶ client
//!   upstream SSE ──FromAnthropicEvents──▶ Responses events ─▶ stream hooks
//!   ─▶ ToAnthropicEvents ─▶ client SSE
//! ```
//!
//! Members that pass through (`metadata`, `tools`, `temperature`, unknown ones, unknown content
//! blocks such as `image`, `tool_use`, `tool_result`, `document`, `thinking`) are spliced as
//! the text they came in with, so numbers keep their spelling (`1.0` stays `1.0`, integers
//! beyond 64 bits survive) and nothing unknown is lost.

use std::borrow::Cow;

use bifrost_wasm_types::raw::JsonKind;
use bifrost_wasm_types::scan::{self, Elements, Member, Members};

use crate::adapter::split_model;

/// The `max_tokens` an Anthropic body gets when the Responses request has no
/// `max_output_tokens` (Anthropic requires one).
pub const DEFAULT_MAX_TOKENS: u64 = 1024;

/// The message id used when a response or stream carries none.
const FALLBACK_ID: &str = "msg_bifrost";

// ---------------------------------------------------------------------------------------------
// Reading and writing JSON text
// ---------------------------------------------------------------------------------------------

/// A JSON object written member by member, values spliced as given.
struct Obj(String);

impl Obj {
    fn new() -> Obj {
        Obj(String::from("{"))
    }

    fn sep(&mut self) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
    }

    /// Adds `key` (quoted here) with the JSON text `value`.
    fn put(&mut self, key: &str, value: &str) {
        self.sep();
        self.0.push_str(&scan::quote(key));
        self.0.push(':');
        self.0.push_str(value);
    }

    /// Adds `key` with the string `value`.
    fn put_str(&mut self, key: &str, value: &str) {
        self.put(key, &scan::quote(value));
    }

    /// Adds a member as it was written (its key keeps its spelling).
    fn put_member(&mut self, m: &Member<'_>) {
        self.sep();
        self.0.push('"');
        self.0.push_str(m.raw_key);
        self.0.push_str("\":");
        self.0.push_str(m.value);
    }

    fn raw(mut self, key: &str, value: &str) -> Obj {
        self.put(key, value);
        self
    }

    fn str(mut self, key: &str, value: &str) -> Obj {
        self.put_str(key, value);
        self
    }

    fn done(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

/// A JSON array of the JSON texts `items`.
fn array<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let mut out = String::from("[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item.as_ref());
    }
    out.push(']');
    out
}

/// `text` when it is a valid JSON object.
fn object(text: &str) -> Option<&str> {
    (scan::validate(text).is_ok() && JsonKind::of(text) == JsonKind::Object).then_some(text)
}

/// The kind of the (valid) JSON text `value`.
fn kind(value: &str) -> JsonKind {
    JsonKind::of(value)
}

/// Member `key` of the valid JSON `obj` (the last of duplicates, as `serde_json` reads them).
fn get<'a>(obj: &'a str, key: &str) -> Option<&'a str> {
    scan::member(obj, key, true)
}

/// Member `key` of `obj` when it is a string, decoded.
fn get_str<'a>(obj: &'a str, key: &str) -> Option<Cow<'a, str>> {
    get(obj, key).and_then(scan::string_value)
}

/// Member `key` of `obj` when it is a non-negative integer, as written.
fn get_count<'a>(obj: &'a str, key: &str) -> Option<&'a str> {
    get(obj, key)
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
}

/// The `"type"` of a content block, output item or event.
fn type_of(obj: &str) -> Option<Cow<'_, str>> {
    get_str(obj, "type")
}

/// A copy of the object `block` with its `type` set to `new_type` (in place, or first when it
/// had none) and the members named in `drop` left out; every other member as written.
fn retype(block: &str, new_type: &str, drop: &[&str]) -> String {
    let mut out = Obj::new();
    let mut typed = false;
    for m in Members::new(block) {
        if m.key_is("type") {
            if !typed {
                out.put_str("type", new_type);
                typed = true;
            }
        } else if !drop.iter().any(|d| m.key_is(d)) {
            out.put_member(&m);
        }
    }
    if !typed {
        let rest = out.done();
        let mut first = Obj::new().str("type", new_type);
        if rest.len() > 2 {
            first.0.push(',');
            first.0.push_str(&rest[1..rest.len() - 1]);
        }
        return first.done();
    }
    out.done()
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// Anthropic Messages body (the client's JSON text) → the flat Bifrost Responses request
/// `{"provider","model","input":[...],"params":{...}}` and whether it asked for a stream.
///
/// - `model` may be `provider/model` (split at the first `/`, see [`split_model`]); without a
///   prefix the request goes to `default_provider`.
/// - `system` (a string, or an array of `{"type":"text","text"}` blocks) becomes the first
///   input item, `{"type":"message","role":"system","content":…}`: a string stays a string,
///   blocks become `input_text` blocks (their other members, such as `cache_control`, kept).
/// - Each message becomes `{"type":"message","role":R,"content":C, …its other members}`: a
///   string content stays a string; in an array, `text` blocks become `input_text` (user) or
///   `output_text` (assistant) blocks, and every other block (`image`, `tool_use`,
///   `tool_result`, `document`, `thinking`, unknown ones) is kept inside `content` exactly as
///   written, so nothing is lost on the way to an Anthropic-compatible upstream.
/// - `max_tokens` becomes the param `max_output_tokens`; `stream` is taken out; every other
///   member (`temperature`, `top_p`, `top_k`, `stop_sequences`, `metadata`, `tools`,
///   `tool_choice`, unknown ones) goes into `params` as written, in order.
///
/// The error (a message for a 400 answer) says what is wrong: a body that is not a JSON
/// object, a missing or non-string `model`, missing or non-array `messages`, a message that is
/// not an object or has no string `role` or no string/array `content`, a `system` that is
/// neither a string nor an array, a missing `max_tokens` or one that is not a positive
/// integer, a `stream` that is not a boolean.
pub fn messages_to_responses_request(body: &str, default_provider: &str) -> Result<(String, bool), String> {
    scan::validate(body).map_err(|e| format!("the request body is not valid JSON: {e}"))?;
    if kind(body) != JsonKind::Object {
        return Err(format!(
            "the request body must be a JSON object, not {} {}",
            article(kind(body)),
            kind(body).name()
        ));
    }
    let (mut model, mut messages, mut system, mut max_tokens, mut stream) = (None, None, None, None, None);
    // Params in order; `None` marks where `max_tokens` was.
    let mut params: Vec<Option<Member<'_>>> = Vec::new();
    for m in Members::new(body) {
        match m.key().as_ref() {
            "model" => model = Some(m.value),
            "messages" => messages = Some(m.value),
            "system" => system = Some(m.value),
            "stream" => stream = Some(m.value),
            "max_tokens" => {
                if max_tokens.replace(m.value).is_none() {
                    params.push(None);
                }
            }
            _ => params.push(Some(m)),
        }
    }
    let model = match model {
        None => return Err("`model` is required".into()),
        Some(v) => scan::string_value(v).ok_or_else(|| not_a("model", "string", v))?,
    };
    let messages = match messages {
        None => return Err("`messages` is required".into()),
        Some(v) if kind(v) == JsonKind::Array => v,
        Some(v) => return Err(not_a("messages", "array", v)),
    };
    let max_tokens = match max_tokens {
        None => return Err("`max_tokens` is required".into()),
        Some(v) if v.bytes().all(|b| b.is_ascii_digit()) && v != "0" => v,
        Some(v) => {
            return Err(format!(
                "`max_tokens` must be a positive integer, not {}",
                short(v)
            ))
        }
    };
    let stream = match stream.map(str::trim) {
        None | Some("false") => false,
        Some("true") => true,
        Some(v) => return Err(not_a("stream", "boolean", v)),
    };
    let mut input = Vec::new();
    if let Some(system) = system {
        let content = match kind(system) {
            JsonKind::String => system.to_string(),
            JsonKind::Array => retype_blocks(system, &["text"], "input_text", &[]),
            _ => return Err(not_a("system", "string or an array of text blocks", system)),
        };
        input.push(
            Obj::new()
                .str("type", "message")
                .str("role", "system")
                .raw("content", &content)
                .done(),
        );
    }
    for (i, message) in Elements::new(messages).enumerate() {
        input.push(message_to_item(message, i)?);
    }
    let (provider, model) = split_model(&model, default_provider);
    let mut out_params = Obj::new();
    for p in &params {
        match p {
            Some(m) => out_params.put_member(m),
            None => out_params.put("max_output_tokens", max_tokens),
        }
    }
    let flat = Obj::new()
        .str("provider", &provider)
        .str("model", &model)
        .raw("input", &array(input))
        .raw("params", &out_params.done())
        .done();
    Ok((flat, stream))
}

/// "a" or "an" before a kind's name.
fn article(k: JsonKind) -> &'static str {
    if k == JsonKind::Array || k == JsonKind::Object {
        "an"
    } else {
        "a"
    }
}

/// The start of a value for a message.
fn short(value: &str) -> String {
    let value = value.trim();
    match value.char_indices().nth(40) {
        Some((end, _)) => format!("{}…", &value[..end]),
        None => value.to_string(),
    }
}

/// "`name` must be a …, not …".
fn not_a(name: &str, what: &str, value: &str) -> String {
    let k = kind(value);
    format!("`{name}` must be a {what}, not {} {}", article(k), k.name())
}

/// An Anthropic message → a Responses input message item.
fn message_to_item(message: &str, i: usize) -> Result<String, String> {
    if kind(message) != JsonKind::Object {
        return Err(not_a(&format!("messages[{i}]"), "object", message));
    }
    let role_raw = get(message, "role").ok_or_else(|| format!("`messages[{i}].role` is required"))?;
    let role = scan::string_value(role_raw)
        .ok_or_else(|| not_a(&format!("messages[{i}].role"), "string", role_raw))?;
    let content = get(message, "content").ok_or_else(|| format!("`messages[{i}].content` is required"))?;
    let content = match kind(content) {
        JsonKind::String => content.to_string(),
        JsonKind::Array => {
            let text_type = if role == "assistant" {
                "output_text"
            } else {
                "input_text"
            };
            retype_blocks(content, &["text"], text_type, &[])
        }
        _ => {
            return Err(not_a(
                &format!("messages[{i}].content"),
                "string or an array of content blocks",
                content,
            ))
        }
    };
    let mut item = Obj::new()
        .str("type", "message")
        .raw("role", role_raw)
        .raw("content", &content);
    for m in Members::new(message) {
        if !(m.key_is("role") || m.key_is("content") || m.key_is("type")) {
            item.put_member(&m);
        }
    }
    Ok(item.done())
}

/// The array `blocks` with every object block whose type is one of `from` retyped to `to`
/// (members in `drop` left out); other elements as written.
fn retype_blocks(blocks: &str, from: &[&str], to: &str, drop: &[&str]) -> String {
    array(Elements::new(blocks).map(|block| {
        let matches =
            kind(block) == JsonKind::Object && type_of(block).is_some_and(|t| from.contains(&t.as_ref()));
        if matches {
            Cow::Owned(retype(block, to, drop))
        } else {
            Cow::Borrowed(block)
        }
    }))
}

/// Responses content blocks → Anthropic content blocks: `input_text` and `output_text` become
/// `text` (without `annotations`/`logprobs`), `input_image` becomes an `image` block with a
/// `base64` (data URL) or `url` source; other blocks as written.
fn blocks_to_anthropic(blocks: &str) -> String {
    array(Elements::new(blocks).map(|block| {
        if kind(block) != JsonKind::Object {
            return Cow::Borrowed(block);
        }
        match type_of(block).as_deref() {
            Some("input_text" | "output_text") => {
                Cow::Owned(retype(block, "text", &["annotations", "logprobs"]))
            }
            Some("input_image") => match get_str(block, "image_url") {
                Some(url) => Cow::Owned(image_block(&url)),
                None => Cow::Borrowed(block),
            },
            _ => Cow::Borrowed(block),
        }
    }))
}

/// An Anthropic `image` block for a Responses `image_url` (a `data:` URL or a web address).
fn image_block(url: &str) -> String {
    let source = url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(";base64,"))
        .map(|(media_type, data)| {
            Obj::new()
                .str("type", "base64")
                .str("media_type", media_type)
                .str("data", data)
                .done()
        })
        .unwrap_or_else(|| Obj::new().str("type", "url").str("url", url).done());
    Obj::new().str("type", "image").raw("source", &source).done()
}

/// One part of the Anthropic `system` gathered from system input items.
enum SystemPart<'a> {
    /// A string content.
    Text(Cow<'a, str>),
    /// Anthropic text blocks (a JSON array).
    Blocks(String),
}

/// The (possibly plugin-edited) flat Bifrost Responses request → an Anthropic Messages body for
/// an Anthropic-compatible upstream: `model` without the provider prefix, `system` from the
/// `system` (and `developer`) input items (one string item stays a string, several strings are
/// joined with a newline, blocks stay blocks), the other message items as `messages`
/// (`input_text`/`output_text` blocks back to `text` blocks, `input_image` to `image`),
/// `function_call` / `function_call_output` items as assistant `tool_use` / user `tool_result`
/// blocks, the param `max_output_tokens` as `max_tokens` (default [`DEFAULT_MAX_TOKENS`] when
/// there is neither), every other param as a top-level member as written (a `stream` param is
/// dropped), and `"stream":true` when `stream`.
///
/// `input` may also be a string (one user message). Errors name what cannot be sent: no
/// string `model`, no `input`, an item that is not an object or of a type Anthropic has no
/// place for, `params` that is not an object.
pub fn responses_request_to_messages(flat: &str, stream: bool) -> Result<String, String> {
    scan::validate(flat).map_err(|e| format!("the request is not valid JSON: {e}"))?;
    if kind(flat) != JsonKind::Object {
        return Err("the request is not a JSON object".into());
    }
    let model = get_str(flat, "model").ok_or("the request has no string `model`")?;
    let (_, model) = split_model(&model, "");
    let input = get(flat, "input").ok_or("the request has no `input`")?;
    let params = match get(flat, "params") {
        None => None,
        Some(p) if kind(p) == JsonKind::Null => None,
        Some(p) if kind(p) == JsonKind::Object => Some(p),
        Some(p) => return Err(not_a("params", "object", p)),
    };
    let mut system: Vec<SystemPart<'_>> = Vec::new();
    let mut messages: Vec<String> = Vec::new();
    match kind(input) {
        JsonKind::String => messages.push(Obj::new().str("role", "user").raw("content", input).done()),
        JsonKind::Array => {
            for (i, item) in Elements::new(input).enumerate() {
                item_to_message(item, i, &mut system, &mut messages)?;
            }
        }
        _ => return Err(not_a("input", "string or an array", input)),
    }
    let mut out = Obj::new().str("model", &model);
    match system.as_slice() {
        [] => {}
        parts if parts.iter().all(|p| matches!(p, SystemPart::Text(_))) => {
            let texts: Vec<&str> = parts
                .iter()
                .map(|p| match p {
                    SystemPart::Text(t) => t.as_ref(),
                    SystemPart::Blocks(_) => "",
                })
                .collect();
            out.put_str("system", &texts.join("\n"));
        }
        parts => {
            let mut blocks = Vec::new();
            for p in parts {
                match p {
                    SystemPart::Text(t) => blocks.push(Obj::new().str("type", "text").str("text", t).done()),
                    SystemPart::Blocks(b) => blocks.extend(Elements::new(b).map(str::to_string)),
                }
            }
            out.put("system", &array(blocks));
        }
    }
    out.put("messages", &array(messages));
    let has_output_max = params.is_some_and(|p| get(p, "max_output_tokens").is_some());
    let mut has_max = false;
    for m in params.map(Members::new).into_iter().flatten() {
        let key = m.key();
        match key.as_ref() {
            "max_output_tokens" => {
                if !has_max {
                    out.put(
                        "max_tokens",
                        get(params.unwrap_or("{}"), "max_output_tokens").unwrap_or(m.value),
                    );
                    has_max = true;
                }
            }
            "max_tokens" if has_output_max => {}
            "max_tokens" => {
                out.put_member(&m);
                has_max = true;
            }
            "stream" | "model" | "messages" | "system" => {}
            _ => out.put_member(&m),
        }
    }
    if !has_max {
        out.put("max_tokens", &DEFAULT_MAX_TOKENS.to_string());
    }
    if stream {
        out.put("stream", "true");
    }
    Ok(out.done())
}

/// One Responses input item → an Anthropic message (or a part of `system`).
fn item_to_message<'a>(
    item: &'a str,
    i: usize,
    system: &mut Vec<SystemPart<'a>>,
    messages: &mut Vec<String>,
) -> Result<(), String> {
    if kind(item) != JsonKind::Object {
        return Err(not_a(&format!("input[{i}]"), "object", item));
    }
    let item_type = type_of(item);
    let role_raw = get(item, "role");
    let role = role_raw.and_then(scan::string_value);
    match (item_type.as_deref(), role) {
        (None | Some("message"), Some(role)) => {
            let content = get(item, "content").ok_or_else(|| format!("`input[{i}].content` is required"))?;
            let content_kind = kind(content);
            if !matches!(content_kind, JsonKind::String | JsonKind::Array) {
                return Err(not_a(
                    &format!("input[{i}].content"),
                    "string or an array",
                    content,
                ));
            }
            if role == "system" || role == "developer" {
                system.push(match scan::string_value(content) {
                    Some(text) => SystemPart::Text(text),
                    None => SystemPart::Blocks(blocks_to_anthropic(content)),
                });
                return Ok(());
            }
            let content = if content_kind == JsonKind::Array {
                Cow::Owned(blocks_to_anthropic(content))
            } else {
                Cow::Borrowed(content)
            };
            let mut message = Obj::new()
                .raw("role", role_raw.unwrap_or("\"user\""))
                .raw("content", &content);
            for m in Members::new(item) {
                let skip = ["type", "role", "content", "id", "status"];
                if !skip.iter().any(|k| m.key_is(k)) {
                    message.put_member(&m);
                }
            }
            messages.push(message.done());
        }
        (Some("function_call"), _) => {
            let arguments = get_str(item, "arguments").unwrap_or(Cow::Borrowed("{}"));
            let input = object(arguments.trim()).unwrap_or("{}");
            let block = Obj::new()
                .str("type", "tool_use")
                .str("id", &get_str(item, "call_id").unwrap_or_default())
                .str("name", &get_str(item, "name").unwrap_or_default())
                .raw("input", input)
                .done();
            messages.push(
                Obj::new()
                    .str("role", "assistant")
                    .raw("content", &array([block]))
                    .done(),
            );
        }
        (Some("function_call_output"), _) => {
            let output = get(item, "output").unwrap_or("\"\"");
            let output = if kind(output) == JsonKind::Array {
                Cow::Owned(blocks_to_anthropic(output))
            } else {
                Cow::Borrowed(output)
            };
            let block = Obj::new()
                .str("type", "tool_result")
                .str("tool_use_id", &get_str(item, "call_id").unwrap_or_default())
                .raw("content", &output)
                .done();
            messages.push(
                Obj::new()
                    .str("role", "user")
                    .raw("content", &array([block]))
                    .done(),
            );
        }
        (Some("message"), None) => return Err(format!("`input[{i}].role` is required")),
        (Some(other), _) => {
            return Err(format!(
                "`input[{i}]` is a `{other}` item, which an Anthropic-compatible provider cannot take"
            ))
        }
        (None, None) => return Err(format!("`input[{i}]` has neither a `type` nor a `role`")),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/// Stop reasons a Responses response cannot say with its `status`; they travel in an extra
/// `stop_reason` member (and `stop_sequence`) so that a round trip keeps them.
const CARRIED_STOP_REASONS: [&str; 2] = ["stop_sequence", "pause_turn"];

/// Anthropic's `stop_reason` and `stop_sequence` (JSON texts) for a Responses response.
fn stop_reason_of(response: &str, has_tool_use: bool) -> (String, String) {
    let status = get_str(response, "status");
    if status.as_deref() == Some("incomplete") {
        let reason = get(response, "incomplete_details").and_then(|d| get_str(d, "reason"));
        let stop = if reason.as_deref() == Some("content_filter") {
            "refusal"
        } else {
            "max_tokens"
        };
        return (scan::quote(stop), "null".into());
    }
    if has_tool_use {
        return (scan::quote("tool_use"), "null".into());
    }
    if let Some(carried) = get_str(response, "stop_reason") {
        if CARRIED_STOP_REASONS.contains(&carried.as_ref()) {
            let sequence = get(response, "stop_sequence")
                .filter(|s| kind(s) == JsonKind::String)
                .unwrap_or("null");
            return (scan::quote(&carried), sequence.to_string());
        }
    }
    (scan::quote("end_turn"), "null".into())
}

/// A Responses `usage` → Anthropic's: `input_tokens`, `output_tokens` (0 when absent),
/// `input_tokens_details.cached_tokens` as `cache_read_input_tokens`, other members (such as
/// `cache_creation_input_tokens` carried by [`usage_to_responses`]) as written.
fn usage_to_anthropic(usage: Option<&str>) -> String {
    let usage = usage.filter(|u| kind(u) == JsonKind::Object).unwrap_or("{}");
    let mut out = Obj::new()
        .raw("input_tokens", get_count(usage, "input_tokens").unwrap_or("0"))
        .raw("output_tokens", get_count(usage, "output_tokens").unwrap_or("0"));
    if let Some(cached) = get(usage, "input_tokens_details").and_then(|d| get_count(d, "cached_tokens")) {
        out.put("cache_read_input_tokens", cached);
    }
    let known = [
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "input_tokens_details",
        "output_tokens_details",
        "cache_read_input_tokens",
    ];
    for m in Members::new(usage) {
        if !known.iter().any(|k| m.key_is(k)) {
            out.put_member(&m);
        }
    }
    out.done()
}

/// An Anthropic `usage` → a Responses one: `input_tokens`, `output_tokens`, `total_tokens`
/// (their sum), `cache_read_input_tokens` as `input_tokens_details.cached_tokens`, other
/// members as written.
fn usage_to_responses(usage: Option<&str>) -> String {
    let usage = usage.filter(|u| kind(u) == JsonKind::Object).unwrap_or("{}");
    let input = get_count(usage, "input_tokens").unwrap_or("0");
    let output = get_count(usage, "output_tokens").unwrap_or("0");
    let mut out = Obj::new().raw("input_tokens", input).raw("output_tokens", output);
    if let (Ok(a), Ok(b)) = (input.parse::<u64>(), output.parse::<u64>()) {
        if let Some(total) = a.checked_add(b) {
            out.put("total_tokens", &total.to_string());
        }
    }
    if let Some(cached) = get_count(usage, "cache_read_input_tokens") {
        out.put(
            "input_tokens_details",
            &Obj::new().raw("cached_tokens", cached).done(),
        );
    }
    for m in Members::new(usage) {
        let known = ["input_tokens", "output_tokens", "cache_read_input_tokens"];
        if !known.iter().any(|k| m.key_is(k)) {
            out.put_member(&m);
        }
    }
    out.done()
}

/// A Responses `function_call` item → an Anthropic `tool_use` block (`arguments`, a JSON
/// string, parsed into `input`; `{}` when it is not a JSON object).
fn function_call_to_tool_use(item: &str) -> String {
    let arguments = get_str(item, "arguments").unwrap_or(Cow::Borrowed("{}"));
    Obj::new()
        .str("type", "tool_use")
        .str("id", &get_str(item, "call_id").unwrap_or_default())
        .str("name", &get_str(item, "name").unwrap_or_default())
        .raw("input", object(arguments.trim()).unwrap_or("{}"))
        .done()
}

/// A Responses response (`{"id","object":"response","model","output":[…],"usage":{…},"status",
/// "incomplete_details"?}`) → an Anthropic message `{"id","type":"message","role":"assistant",
/// "model","content":[…],"stop_reason","stop_sequence","usage":{"input_tokens",
/// "output_tokens",…}}`.
///
/// Output message items give their parts: `output_text` → `text` blocks (other members such as
/// `citations` kept, `annotations` and `logprobs` dropped), `refusal` → a `text` block, any
/// other part (a `redacted_thinking` block put there by [`message_to_responses`]) as written.
/// `function_call` items become `tool_use` blocks, `reasoning` items `thinking` blocks (the
/// summary texts, `encrypted_content` as the signature); other items are left out.
/// `stop_reason`: status `incomplete` → `max_tokens` (`refusal` when the reason is
/// `content_filter`); a function call → `tool_use`; a carried `stop_sequence`/`pause_turn`;
/// else `end_turn`. Text that is not a JSON object gives an empty message.
pub fn responses_to_message(response: &str) -> String {
    let r = object(response).unwrap_or("{}");
    let mut content = Vec::new();
    let mut has_tool_use = false;
    for item in Elements::new(get(r, "output").unwrap_or("[]")) {
        if kind(item) != JsonKind::Object {
            continue;
        }
        match type_of(item).as_deref() {
            Some("message") => {
                let parts = get(item, "content").unwrap_or("[]");
                if let Some(text) = scan::string_value(parts) {
                    content.push(Obj::new().str("type", "text").str("text", &text).done());
                    continue;
                }
                for part in Elements::new(parts) {
                    if kind(part) != JsonKind::Object {
                        continue;
                    }
                    match type_of(part).as_deref() {
                        Some("output_text") => {
                            content.push(retype(part, "text", &["annotations", "logprobs"]))
                        }
                        Some("refusal") => content.push(
                            Obj::new()
                                .str("type", "text")
                                .str("text", &get_str(part, "refusal").unwrap_or_default())
                                .done(),
                        ),
                        _ => content.push(part.to_string()),
                    }
                }
            }
            Some("function_call") => {
                has_tool_use = true;
                content.push(function_call_to_tool_use(item));
            }
            Some("reasoning") => {
                content.push(
                    Obj::new()
                        .str("type", "thinking")
                        .str("thinking", &reasoning_text(item))
                        .str(
                            "signature",
                            &get_str(item, "encrypted_content").unwrap_or_default(),
                        )
                        .done(),
                );
            }
            _ => {}
        }
    }
    let (stop_reason, stop_sequence) = stop_reason_of(r, has_tool_use);
    Obj::new()
        .str("id", &get_str(r, "id").unwrap_or(Cow::Borrowed(FALLBACK_ID)))
        .str("type", "message")
        .str("role", "assistant")
        .str("model", &get_str(r, "model").unwrap_or_default())
        .raw("content", &array(content))
        .raw("stop_reason", &stop_reason)
        .raw("stop_sequence", &stop_sequence)
        .raw("usage", &usage_to_anthropic(get(r, "usage")))
        .done()
}

/// The id of output item `index` of the response `id` (the same in a response and in the
/// stream events that built it).
fn item_id(id: &str, index: usize) -> String {
    format!("{id}_{index}")
}

/// A Responses `message` output item holding `parts`.
fn message_item(id: &str, status: &str, parts: &[String]) -> String {
    Obj::new()
        .str("id", id)
        .str("type", "message")
        .str("role", "assistant")
        .str("status", status)
        .raw("content", &array(parts))
        .done()
}

/// A Responses `function_call` output item.
fn function_call_item(id: &str, status: &str, call_id: &str, name: &str, arguments: &str) -> String {
    Obj::new()
        .str("id", id)
        .str("type", "function_call")
        .str("status", status)
        .str("call_id", call_id)
        .str("name", name)
        .str("arguments", arguments)
        .done()
}

/// A Responses `reasoning` output item: the thinking text as its one `summary_text` (no
/// summary yet when `None`), the signature as `encrypted_content` (left out when empty).
fn reasoning_item(id: &str, text: Option<&str>, signature: &str) -> String {
    let summary = match text {
        Some(text) => array([Obj::new().str("type", "summary_text").str("text", text).done()]),
        None => "[]".to_string(),
    };
    let mut item = Obj::new()
        .str("id", id)
        .str("type", "reasoning")
        .raw("summary", &summary);
    if !signature.is_empty() {
        item.put_str("encrypted_content", signature);
    }
    item.done()
}

/// The summary texts of a `reasoning` item, joined with newlines.
fn reasoning_text(item: &str) -> String {
    let summary: Vec<Cow<'_, str>> = Elements::new(get(item, "summary").unwrap_or("[]"))
        .filter_map(|s| get_str(s, "text"))
        .collect();
    summary.join("\n")
}

/// An Anthropic `text` block → a Responses `output_text` part (`annotations: []` added).
fn text_to_output_text(block: &str) -> String {
    let part = retype(block, "output_text", &[]);
    if get(block, "annotations").is_some() {
        return part;
    }
    let mut part = Obj(part[..part.len() - 1].to_string());
    part.put("annotations", "[]");
    part.done()
}

/// An Anthropic message → a Responses response (the inverse of [`responses_to_message`]):
/// `{"id","object":"response","model","status","output":[…],"usage":{…}}`.
///
/// Consecutive content blocks other than `tool_use` and `thinking` form one `message` output
/// item (`text` blocks as `output_text` parts with `annotations: []`, other blocks such as
/// `redacted_thinking` as written); each `tool_use` block becomes a `function_call` item
/// (`call_id`, `name`, `arguments` = the `input` as a JSON string), each `thinking` block a
/// `reasoning` item (the thinking as its one `summary_text`, the signature as
/// `encrypted_content`). Output items are numbered `<id>_<n>`; there is no `created_at`.
/// `stop_reason` `max_tokens` → status `incomplete` with `incomplete_details.reason`
/// `max_output_tokens` (`refusal` → `content_filter`); other stop reasons → `completed`,
/// `stop_sequence` and `pause_turn` also kept as `stop_reason`/`stop_sequence` members.
/// `usage`: `input_tokens`, `output_tokens`, `total_tokens`, `cache_read_input_tokens` as
/// `input_tokens_details.cached_tokens`, other members as written.
pub fn message_to_responses(message: &str) -> String {
    let m = object(message).unwrap_or("{}");
    let id = get_str(m, "id").unwrap_or(Cow::Borrowed(FALLBACK_ID));
    let mut output: Vec<String> = Vec::new();
    let mut parts: Vec<String> = Vec::new();
    let flush = |output: &mut Vec<String>, parts: &mut Vec<String>| {
        if !parts.is_empty() {
            let item = message_item(&item_id(&id, output.len()), "completed", parts);
            output.push(item);
            parts.clear();
        }
    };
    let content = get(m, "content").unwrap_or("[]");
    if let Some(text) = scan::string_value(content) {
        parts.push(text_to_output_text(
            &Obj::new().str("type", "text").str("text", &text).done(),
        ));
    }
    for block in Elements::new(content) {
        match type_of(block).as_deref() {
            Some("text") => parts.push(text_to_output_text(block)),
            Some("tool_use") => {
                flush(&mut output, &mut parts);
                let input = get(block, "input").unwrap_or("{}");
                output.push(function_call_item(
                    &item_id(&id, output.len()),
                    "completed",
                    &get_str(block, "id").unwrap_or_default(),
                    &get_str(block, "name").unwrap_or_default(),
                    input,
                ));
            }
            Some("thinking") => {
                flush(&mut output, &mut parts);
                output.push(reasoning_item(
                    &item_id(&id, output.len()),
                    Some(&get_str(block, "thinking").unwrap_or_default()),
                    &get_str(block, "signature").unwrap_or_default(),
                ));
            }
            _ => parts.push(block.to_string()),
        }
    }
    flush(&mut output, &mut parts);
    let stop_reason = get_str(m, "stop_reason");
    let mut out = Obj::new()
        .str("id", &id)
        .str("object", "response")
        .str("model", &get_str(m, "model").unwrap_or_default());
    match stop_reason.as_deref() {
        Some(reason @ ("max_tokens" | "refusal")) => {
            let why = if reason == "max_tokens" {
                "max_output_tokens"
            } else {
                "content_filter"
            };
            out.put_str("status", "incomplete");
            out.put("incomplete_details", &Obj::new().str("reason", why).done());
        }
        _ => out.put_str("status", "completed"),
    }
    out.put("output", &array(output));
    out.put("usage", &usage_to_responses(get(m, "usage")));
    if let Some(reason) = stop_reason.filter(|r| CARRIED_STOP_REASONS.contains(&r.as_ref())) {
        out.put_str("stop_reason", &reason);
        out.put("stop_sequence", get(m, "stop_sequence").unwrap_or("null"));
    }
    out.done()
}

/// Anthropic's error type for an HTTP status.
fn anthropic_error_type(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        _ => "api_error",
    }
}

/// A Bifrost error JSON (`{"error":{"message","type","code"},"status_code":N,…}`) → Anthropic's
/// error body `{"type":"error","error":{"type","message"}}`, the type chosen by `status`
/// (400 `invalid_request_error`, 401 `authentication_error`, 403 `permission_error`, 404
/// `not_found_error`, 413 `request_too_large`, 429 `rate_limit_error`, 503 and 529
/// `overloaded_error`, anything else `api_error`). The message is `error.message` (else a
/// top-level `message`, else the error text itself when it is not JSON).
pub fn error_to_anthropic(error: &str, status: u16) -> String {
    let message = match object(error) {
        Some(e) => get(e, "error")
            .and_then(|inner| get_str(inner, "message"))
            .or_else(|| get_str(e, "message"))
            .or_else(|| get(e, "error").and_then(scan::string_value))
            .map(Cow::into_owned)
            .unwrap_or_else(|| format!("the request failed with status {status}")),
        None => error.trim().to_string(),
    };
    let inner = Obj::new()
        .str("type", anthropic_error_type(status))
        .str("message", &message)
        .done();
    Obj::new().str("type", "error").raw("error", &inner).done()
}

// ---------------------------------------------------------------------------------------------
// Streams: Responses events → Anthropic events
// ---------------------------------------------------------------------------------------------

/// One Anthropic content block of a stream being written.
#[derive(Debug)]
struct OutBlock {
    /// `(output_index, Some(content_index))` for text, `(output_index, None)` for a tool call.
    key: (u64, Option<u64>),
    /// Not stopped yet.
    open: bool,
    /// A delta was written into it.
    wrote: bool,
}

/// Turns the Responses stream events plugins saw into Anthropic SSE events `(event name, data
/// JSON)`.
///
/// `response.created` → `message_start`; `response.content_part.added` (an `output_text` or
/// `refusal` part) → `content_block_start` of a `text` block; `response.output_text.delta` →
/// `content_block_delta` (`text_delta`); `response.content_part.done` →
/// `content_block_stop`; a `function_call` item (`response.output_item.added`,
/// `response.function_call_arguments.delta`, `response.output_item.done`) → a `tool_use`
/// block with `input_json_delta`s; a `reasoning` item
/// (`response.reasoning_summary_text.delta`, `response.output_item.done` with the whole summary
/// and `encrypted_content`) → a `thinking` block with `thinking_delta`s and a
/// `signature_delta`; `response.completed` / `response.incomplete` →
/// `message_delta` (stop reason, output tokens) then `message_stop`; `response.failed` and
/// `error` events → an `error` event. Other events give nothing.
///
/// It copes with edited or partial streams: `message_start` always comes first (a default one
/// when `response.created` is missing), a delta without a preceding
/// `response.content_part.added` opens its block, a block that got no delta gets the text of
/// its `…done` event, blocks still open are stopped before `message_delta`, blocks are
/// numbered in order of appearance (keyed by output and content index), and nothing follows
/// `message_stop` or an error.
#[derive(Debug)]
pub struct ToAnthropicEvents {
    model: String,
    started: bool,
    finished: bool,
    blocks: Vec<OutBlock>,
    tool_use: bool,
}

/// An index member of an event (0 when absent).
fn index_of(event: &str, key: &str) -> u64 {
    get_count(event, key).and_then(|v| v.parse().ok()).unwrap_or(0)
}

impl ToAnthropicEvents {
    /// A converter for a stream answering a request for `model` (used in `message_start` when
    /// the `response.created` event names none).
    pub fn new(model: &str) -> Self {
        ToAnthropicEvents {
            model: model.to_string(),
            started: false,
            finished: false,
            blocks: Vec::new(),
            tool_use: false,
        }
    }

    /// One Responses event (`{"type":"response.created",…}` etc.) → zero or more Anthropic
    /// events. Text that is not a JSON object gives nothing.
    pub fn event(&mut self, event: &str) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let Some(ev) = object(event) else {
            return out;
        };
        if self.finished {
            return out;
        }
        let output_index = index_of(ev, "output_index");
        let text_key = (output_index, Some(index_of(ev, "content_index")));
        match type_of(ev).as_deref().unwrap_or("") {
            "response.created" | "response.in_progress" => self.start(get(ev, "response"), &mut out),
            "response.output_item.added" => {
                let item = get(ev, "item").unwrap_or("{}");
                if type_of(item).as_deref() == Some("function_call") {
                    self.open_tool(output_index, item, &mut out);
                }
            }
            "response.content_part.added" => {
                let part = get(ev, "part").unwrap_or("{}");
                if let Some(t @ ("output_text" | "refusal")) = type_of(part).as_deref() {
                    let i = self.open_text(text_key, &mut out);
                    let key = if t == "refusal" { "refusal" } else { "text" };
                    self.text_delta(i, &get_str(part, key).unwrap_or_default(), &mut out);
                }
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                let i = self.open_text(text_key, &mut out);
                self.text_delta(i, &get_str(ev, "delta").unwrap_or_default(), &mut out);
            }
            t @ ("response.output_text.done" | "response.refusal.done") => {
                let key = if t == "response.refusal.done" {
                    "refusal"
                } else {
                    "text"
                };
                self.text_done(text_key, &get_str(ev, key).unwrap_or_default(), &mut out);
            }
            "response.content_part.done" => {
                let part = get(ev, "part").unwrap_or("{}");
                if let Some(t @ ("output_text" | "refusal")) = type_of(part).as_deref() {
                    let key = if t == "refusal" { "refusal" } else { "text" };
                    self.text_done(text_key, &get_str(part, key).unwrap_or_default(), &mut out);
                }
                self.stop(text_key, &mut out);
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                let i = self.open_thinking(output_index, &mut out);
                self.thinking_delta(i, &get_str(ev, "delta").unwrap_or_default(), &mut out);
            }
            "response.reasoning_summary_part.added" if index_of(ev, "summary_index") > 0 => {
                // Summary parts are joined with a newline, as `responses_to_message` joins them.
                if let Some(i) = self.find((output_index, None)).filter(|&i| self.blocks[i].wrote) {
                    self.thinking_delta(i, "\n", &mut out);
                }
            }
            "response.function_call_arguments.delta" => {
                let i = self.open_tool(output_index, "{}", &mut out);
                self.json_delta(i, &get_str(ev, "delta").unwrap_or_default(), &mut out);
            }
            "response.function_call_arguments.done" => {
                let i = self.open_tool(output_index, "{}", &mut out);
                if !self.blocks[i].wrote {
                    self.json_delta(i, &get_str(ev, "arguments").unwrap_or_default(), &mut out);
                }
            }
            "response.output_item.done" => {
                self.item_done(output_index, get(ev, "item").unwrap_or("{}"), &mut out)
            }
            "response.completed" | "response.incomplete" => {
                self.finish(get(ev, "response").unwrap_or("{}"), &mut out);
            }
            "response.failed" => {
                let response = get(ev, "response").unwrap_or("{}");
                let error = get(response, "error").unwrap_or("{}");
                let message = get_str(error, "message").unwrap_or(Cow::Borrowed("the response failed"));
                let body = Obj::new()
                    .raw("error", &Obj::new().str("message", &message).done())
                    .done();
                out.push(self.error(&body, 500));
            }
            "error" => {
                let message = get_str(ev, "message").unwrap_or(Cow::Borrowed("the stream failed"));
                let body = Obj::new()
                    .raw("error", &Obj::new().str("message", &message).done())
                    .done();
                out.push(self.error(&body, 500));
            }
            _ => {}
        }
        out
    }

    /// A final error → the `error` event (Anthropic's error body, see [`error_to_anthropic`]).
    /// Nothing follows it.
    pub fn error(&mut self, bifrost_error: &str, status: u16) -> (&'static str, String) {
        self.finished = true;
        ("error", error_to_anthropic(bifrost_error, status))
    }

    /// `message_start`, once, before anything else.
    fn start(&mut self, response: Option<&str>, out: &mut Vec<(&'static str, String)>) {
        if self.started {
            return;
        }
        self.started = true;
        let r = response.filter(|r| kind(r) == JsonKind::Object).unwrap_or("{}");
        let model = get_str(r, "model").filter(|m| !m.is_empty());
        let input_tokens = get(r, "usage")
            .and_then(|u| get_count(u, "input_tokens"))
            .unwrap_or("0");
        let message = Obj::new()
            .str("id", &get_str(r, "id").unwrap_or(Cow::Borrowed(FALLBACK_ID)))
            .str("type", "message")
            .str("role", "assistant")
            .str("model", model.as_deref().unwrap_or(&self.model))
            .raw("content", "[]")
            .raw("stop_reason", "null")
            .raw("stop_sequence", "null")
            .raw(
                "usage",
                &Obj::new()
                    .raw("input_tokens", input_tokens)
                    .raw("output_tokens", "0")
                    .done(),
            )
            .done();
        out.push((
            "message_start",
            Obj::new()
                .str("type", "message_start")
                .raw("message", &message)
                .done(),
        ));
    }

    /// The block of `key`, if any.
    fn find(&self, key: (u64, Option<u64>)) -> Option<usize> {
        self.blocks.iter().position(|b| b.key == key)
    }

    /// Opens a block (after `message_start`) with `content_block_start`.
    fn open(&mut self, key: (u64, Option<u64>), block: &str, out: &mut Vec<(&'static str, String)>) -> usize {
        self.start(None, out);
        let i = self.blocks.len();
        self.blocks.push(OutBlock {
            key,
            open: true,
            wrote: false,
        });
        out.push((
            "content_block_start",
            Obj::new()
                .str("type", "content_block_start")
                .raw("index", &i.to_string())
                .raw("content_block", block)
                .done(),
        ));
        i
    }

    /// The text block of `key`, opened when new.
    fn open_text(&mut self, key: (u64, Option<u64>), out: &mut Vec<(&'static str, String)>) -> usize {
        match self.find(key) {
            Some(i) => i,
            None => self.open(key, r#"{"type":"text","text":""}"#, out),
        }
    }

    /// The tool-use block of output item `output_index` (`item` its `function_call` item, when
    /// known), opened when new.
    fn open_tool(&mut self, output_index: u64, item: &str, out: &mut Vec<(&'static str, String)>) -> usize {
        let key = (output_index, None);
        if let Some(i) = self.find(key) {
            return i;
        }
        self.tool_use = true;
        let block = Obj::new()
            .str("type", "tool_use")
            .str("id", &get_str(item, "call_id").unwrap_or_default())
            .str("name", &get_str(item, "name").unwrap_or_default())
            .raw("input", "{}")
            .done();
        self.open(key, &block, out)
    }

    /// The thinking block of the `reasoning` item `output_index`, opened when new.
    fn open_thinking(&mut self, output_index: u64, out: &mut Vec<(&'static str, String)>) -> usize {
        let key = (output_index, None);
        match self.find(key) {
            Some(i) => i,
            None => self.open(key, r#"{"type":"thinking","thinking":"","signature":""}"#, out),
        }
    }

    /// A `thinking_delta` of `text` into block `i` (nothing for an empty text).
    fn thinking_delta(&mut self, i: usize, text: &str, out: &mut Vec<(&'static str, String)>) {
        if !text.is_empty() && self.blocks[i].open {
            let delta = Obj::new()
                .str("type", "thinking_delta")
                .str("thinking", text)
                .done();
            self.delta(i, delta, out);
        }
    }

    /// A `content_block_delta` of the block `i` with `delta` (an object).
    fn delta(&mut self, i: usize, delta: String, out: &mut Vec<(&'static str, String)>) {
        self.blocks[i].wrote = true;
        out.push((
            "content_block_delta",
            Obj::new()
                .str("type", "content_block_delta")
                .raw("index", &i.to_string())
                .raw("delta", &delta)
                .done(),
        ));
    }

    /// A `text_delta` of `text` into block `i` (nothing for an empty text).
    fn text_delta(&mut self, i: usize, text: &str, out: &mut Vec<(&'static str, String)>) {
        if !text.is_empty() && self.blocks[i].open {
            let delta = Obj::new().str("type", "text_delta").str("text", text).done();
            self.delta(i, delta, out);
        }
    }

    /// An `input_json_delta` of `json` into block `i` (nothing for an empty piece).
    fn json_delta(&mut self, i: usize, json: &str, out: &mut Vec<(&'static str, String)>) {
        if !json.is_empty() && self.blocks[i].open {
            let delta = Obj::new()
                .str("type", "input_json_delta")
                .str("partial_json", json)
                .done();
            self.delta(i, delta, out);
        }
    }

    /// The whole text of block `key` is known: written when no delta carried any.
    fn text_done(&mut self, key: (u64, Option<u64>), text: &str, out: &mut Vec<(&'static str, String)>) {
        match self.find(key) {
            Some(i) if self.blocks[i].wrote => {}
            Some(i) => self.text_delta(i, text, out),
            None if !text.is_empty() => {
                let i = self.open_text(key, out);
                self.text_delta(i, text, out);
            }
            None => {}
        }
    }

    /// `content_block_stop` for block `key` if it is open.
    fn stop(&mut self, key: (u64, Option<u64>), out: &mut Vec<(&'static str, String)>) {
        if let Some(i) = self.find(key) {
            self.stop_index(i, out);
        }
    }

    fn stop_index(&mut self, i: usize, out: &mut Vec<(&'static str, String)>) {
        if std::mem::replace(&mut self.blocks[i].open, false) {
            out.push((
                "content_block_stop",
                Obj::new()
                    .str("type", "content_block_stop")
                    .raw("index", &i.to_string())
                    .done(),
            ));
        }
    }

    /// `response.output_item.done`: what the item carries that no event did is written, and
    /// its blocks are stopped.
    fn item_done(&mut self, output_index: u64, item: &str, out: &mut Vec<(&'static str, String)>) {
        match type_of(item).as_deref() {
            Some("function_call") => {
                let i = self.open_tool(output_index, item, out);
                if !self.blocks[i].wrote {
                    self.json_delta(i, &get_str(item, "arguments").unwrap_or_default(), out);
                }
            }
            Some("reasoning") => {
                let text = reasoning_text(item);
                let signature = get_str(item, "encrypted_content").unwrap_or_default();
                let known = self.find((output_index, None)).is_some();
                if known || !text.is_empty() || !signature.is_empty() {
                    let i = self.open_thinking(output_index, out);
                    if !self.blocks[i].wrote {
                        self.thinking_delta(i, &text, out);
                    }
                    if !signature.is_empty() && self.blocks[i].open {
                        let delta = Obj::new()
                            .str("type", "signature_delta")
                            .str("signature", &signature)
                            .done();
                        self.delta(i, delta, out);
                    }
                }
            }
            Some("message") => {
                for (ci, part) in Elements::new(get(item, "content").unwrap_or("[]")).enumerate() {
                    let text = match type_of(part).as_deref() {
                        Some("output_text") => get_str(part, "text"),
                        Some("refusal") => get_str(part, "refusal"),
                        _ => continue,
                    };
                    self.text_done((output_index, Some(ci as u64)), &text.unwrap_or_default(), out);
                }
            }
            _ => {}
        }
        for i in 0..self.blocks.len() {
            if self.blocks[i].key.0 == output_index {
                self.stop_index(i, out);
            }
        }
    }

    /// `message_delta` and `message_stop` for the final `response` (open blocks stopped first).
    fn finish(&mut self, response: &str, out: &mut Vec<(&'static str, String)>) {
        self.start(Some(response), out);
        for i in 0..self.blocks.len() {
            self.stop_index(i, out);
        }
        let response = if kind(response) == JsonKind::Object {
            response
        } else {
            "{}"
        };
        let (stop_reason, stop_sequence) = stop_reason_of(response, self.tool_use);
        let output_tokens = get(response, "usage")
            .and_then(|u| get_count(u, "output_tokens"))
            .unwrap_or("0");
        let delta = Obj::new()
            .raw("stop_reason", &stop_reason)
            .raw("stop_sequence", &stop_sequence)
            .done();
        out.push((
            "message_delta",
            Obj::new()
                .str("type", "message_delta")
                .raw("delta", &delta)
                .raw("usage", &Obj::new().raw("output_tokens", output_tokens).done())
                .done(),
        ));
        out.push(("message_stop", r#"{"type":"message_stop"}"#.to_string()));
        self.finished = true;
    }
}

// ---------------------------------------------------------------------------------------------
// Streams: Anthropic events → Responses events
// ---------------------------------------------------------------------------------------------

/// What an upstream content block is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    /// A `text` block: an `output_text` part of a message item.
    Text,
    /// A `tool_use` block: a `function_call` item.
    Tool,
    /// A `thinking` block: a `reasoning` item with one summary text.
    Thinking,
    /// Anything else (`redacted_thinking`, `server_tool_use`, …): not streamed to the plugins.
    Other,
}

/// One upstream content block being read.
#[derive(Debug)]
struct InBlock {
    /// Anthropic's `index`.
    index: u64,
    kind: BlockKind,
    output_index: usize,
    content_index: usize,
    item_id: String,
    /// The text or the arguments so far.
    text: String,
    call_id: String,
    name: String,
    /// A thinking block's signature so far.
    signature: String,
    /// A non-empty `input` given at `content_block_start`.
    initial_input: Option<String>,
    open: bool,
    /// Its place in the final message's content (filled when it stops).
    slot: usize,
}

impl InBlock {
    /// Its `item_id` (quoted), `output_index` and `content_index`, as JSON texts.
    fn place(&self) -> (String, String, String) {
        (
            scan::quote(&self.item_id),
            self.output_index.to_string(),
            self.content_index.to_string(),
        )
    }
}

/// The open `message` output item.
#[derive(Debug)]
struct OpenMessage {
    output_index: usize,
    item_id: String,
    /// Parts added so far.
    parts: usize,
    /// Finished parts (`output_text` JSON).
    done: Vec<String>,
}

/// Turns an Anthropic-compatible upstream's SSE events into Responses stream events for the
/// plugins.
///
/// `message_start` → `response.created` (its `response` with the id, model and usage);
/// `content_block_start` of a `text` block → `response.output_item.added` (a `message` item,
/// for the first of consecutive text blocks) and `response.content_part.added`; `text_delta`
/// → `response.output_text.delta` (`item_id`, `output_index`, `content_index`, `delta`);
/// `content_block_stop` → `response.output_text.done` (the whole text) and
/// `response.content_part.done`; a `tool_use` block → a `function_call` item
/// (`response.output_item.added`, `response.function_call_arguments.delta` per
/// `input_json_delta`, `…arguments.done`, `response.output_item.done`); a `thinking` block →
/// a `reasoning` item (`response.reasoning_summary_part.added`,
/// `response.reasoning_summary_text.delta` per `thinking_delta`, `…text.done`, `…part.done`,
/// `response.output_item.done` with the signature as `encrypted_content`); `message_delta`
/// remembers the stop reason and usage; `message_stop` → `response.output_item.done` of the
/// open message item and `response.completed` (or `response.incomplete`), whose `response` is
/// the whole response as [`message_to_responses`] writes it for the accumulated message.
/// Every event has a `sequence_number` counting from 0. `ping` and blocks of other types
/// (`redacted_thinking`, `server_tool_use`, …) give nothing; a delta without its
/// `content_block_start` opens the block it implies, and a block before `message_start` comes
/// after a default `response.created`.
#[derive(Debug, Default)]
pub struct FromAnthropicEvents {
    seq: u64,
    started: bool,
    id: String,
    model: String,
    /// Anthropic usage members so far (later ones replace earlier ones of the same key).
    usage: Vec<(String, String)>,
    stop_reason: Option<String>,
    stop_sequence: Option<String>,
    blocks: Vec<InBlock>,
    /// The final message's content blocks, in order of their start.
    content: Vec<Option<String>>,
    items: usize,
    message: Option<OpenMessage>,
}

impl FromAnthropicEvents {
    /// A converter for one upstream stream.
    pub fn new() -> Self {
        FromAnthropicEvents::default()
    }

    /// One upstream SSE event (`event:` name if any, `data:` text) → zero or more Responses
    /// events (JSON text), or `Err(message)` for an `error` event (the upstream error's
    /// message) or data that is not a JSON object. The data's `type` names the event; the
    /// `event:` name counts when it has none.
    pub fn event(&mut self, name: Option<&str>, data: &str) -> Result<Vec<String>, String> {
        let Some(data) = object(data.trim()) else {
            return Err(format!(
                "the upstream sent an event whose data is not a JSON object: {}",
                short(data)
            ));
        };
        let event_type = type_of(data)
            .map(Cow::into_owned)
            .or_else(|| name.map(str::to_string));
        let mut out = Vec::new();
        match event_type.as_deref().unwrap_or("") {
            "message_start" => self.start(get(data, "message"), &mut out),
            "content_block_start" => {
                let block = get(data, "content_block").unwrap_or("{}");
                let index = self.index_in(data);
                self.open(index, block, &mut out);
            }
            "content_block_delta" => {
                let index = self.index_in(data);
                let delta = get(data, "delta").unwrap_or("{}");
                self.delta(index, delta, &mut out);
            }
            "content_block_stop" => {
                let index = self.index_in(data);
                if let Some(b) = self.blocks.iter().position(|b| b.index == index) {
                    self.stop(b, &mut out);
                }
            }
            "message_delta" => {
                if let Some(delta) = get(data, "delta") {
                    if let Some(reason) = get(delta, "stop_reason") {
                        self.stop_reason = Some(reason.to_string());
                    }
                    if let Some(sequence) = get(delta, "stop_sequence") {
                        self.stop_sequence = Some(sequence.to_string());
                    }
                }
                self.merge_usage(get(data, "usage"));
            }
            "message_stop" => self.finish(&mut out),
            "error" => {
                let error = get(data, "error").unwrap_or("{}");
                let message = get_str(error, "message")
                    .or_else(|| get_str(data, "message"))
                    .map_or_else(|| data.to_string(), Cow::into_owned);
                return Err(message);
            }
            _ => {}
        }
        Ok(out)
    }

    /// The `index` of a block event (the next new index when absent).
    fn index_in(&self, data: &str) -> u64 {
        get_count(data, "index")
            .and_then(|v| v.parse().ok())
            .unwrap_or(self.blocks.len() as u64)
    }

    /// Appends the Responses event `event_type` with `members` and the next sequence number.
    fn emit(&mut self, out: &mut Vec<String>, event_type: &str, members: &[(&str, &str)]) {
        let mut event = Obj::new()
            .str("type", event_type)
            .raw("sequence_number", &self.seq.to_string());
        self.seq += 1;
        for (key, value) in members {
            event.put(key, value);
        }
        out.push(event.done());
    }

    fn merge_usage(&mut self, usage: Option<&str>) {
        for m in Members::new(usage.unwrap_or("{}")) {
            let key = m.key().into_owned();
            match self.usage.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = m.value.to_string(),
                None => self.usage.push((key, m.value.to_string())),
            }
        }
    }

    fn usage_json(&self) -> String {
        let mut usage = Obj::new();
        for (key, value) in &self.usage {
            usage.put(key, value);
        }
        usage.done()
    }

    /// `response.created`, once, before anything else.
    fn start(&mut self, message: Option<&str>, out: &mut Vec<String>) {
        if self.started {
            return;
        }
        self.started = true;
        let message = message.filter(|m| kind(m) == JsonKind::Object).unwrap_or("{}");
        self.id = get_str(message, "id").map_or_else(|| FALLBACK_ID.to_string(), Cow::into_owned);
        self.model = get_str(message, "model").unwrap_or_default().into_owned();
        self.merge_usage(get(message, "usage"));
        let usage = usage_to_responses(Some(&self.usage_json()));
        let response = Obj::new()
            .str("id", &self.id)
            .str("object", "response")
            .str("model", &self.model)
            .str("status", "in_progress")
            .raw("output", "[]")
            .raw("usage", &usage)
            .done();
        self.emit(out, "response.created", &[("response", &response)]);
    }

    /// `response.output_item.done` for the open message item, if any.
    fn close_message(&mut self, out: &mut Vec<String>) {
        if let Some(message) = self.message.take() {
            let item = message_item(&message.item_id, "completed", &message.done);
            let index = message.output_index.to_string();
            self.emit(
                out,
                "response.output_item.done",
                &[("output_index", &index), ("item", &item)],
            );
        }
    }

    /// A new output item's index and id.
    fn new_item(&mut self) -> (usize, String) {
        let output_index = self.items;
        self.items += 1;
        (output_index, item_id(&self.id, output_index))
    }

    /// `content_block_start`.
    fn open(&mut self, index: u64, block: &str, out: &mut Vec<String>) {
        self.start(None, out);
        let block_type = type_of(block);
        let kind_of_block = match block_type.as_deref() {
            Some("text") => BlockKind::Text,
            Some("tool_use") => BlockKind::Tool,
            Some("thinking") => BlockKind::Thinking,
            _ => BlockKind::Other,
        };
        let slot = self.content.len();
        let mut new = InBlock {
            index,
            kind: kind_of_block,
            output_index: 0,
            content_index: 0,
            item_id: String::new(),
            text: String::new(),
            call_id: String::new(),
            name: String::new(),
            signature: String::new(),
            initial_input: None,
            open: true,
            slot,
        };
        match kind_of_block {
            BlockKind::Text => {
                if self.message.is_none() {
                    let (output_index, id) = self.new_item();
                    let item = message_item(&id, "in_progress", &[]);
                    let index = output_index.to_string();
                    self.emit(
                        out,
                        "response.output_item.added",
                        &[("output_index", &index), ("item", &item)],
                    );
                    self.message = Some(OpenMessage {
                        output_index,
                        item_id: id,
                        parts: 0,
                        done: Vec::new(),
                    });
                }
                let message = self.message.as_mut().expect("opened above");
                new.output_index = message.output_index;
                new.item_id.clone_from(&message.item_id);
                new.content_index = message.parts;
                message.parts += 1;
                let (item_id, output_index, content_index) = new.place();
                self.emit(
                    out,
                    "response.content_part.added",
                    &[
                        ("item_id", &item_id),
                        ("output_index", &output_index),
                        ("content_index", &content_index),
                        ("part", r#"{"type":"output_text","text":"","annotations":[]}"#),
                    ],
                );
                self.content.push(None);
                let initial = get_str(block, "text").unwrap_or_default().into_owned();
                self.blocks.push(new);
                if !initial.is_empty() {
                    let b = self.blocks.len() - 1;
                    self.text_delta(b, &initial, out);
                }
            }
            BlockKind::Tool => {
                self.close_message(out);
                let (output_index, id) = self.new_item();
                new.output_index = output_index;
                new.item_id = id;
                new.call_id = get_str(block, "id").unwrap_or_default().into_owned();
                new.name = get_str(block, "name").unwrap_or_default().into_owned();
                new.initial_input = get(block, "input")
                    .filter(|i| kind(i) == JsonKind::Object && Members::new(i).next().is_some())
                    .map(str::to_string);
                let item = function_call_item(&new.item_id, "in_progress", &new.call_id, &new.name, "");
                let index = output_index.to_string();
                self.emit(
                    out,
                    "response.output_item.added",
                    &[("output_index", &index), ("item", &item)],
                );
                self.content.push(None);
                self.blocks.push(new);
            }
            BlockKind::Thinking => {
                self.close_message(out);
                let (output_index, id) = self.new_item();
                new.output_index = output_index;
                new.item_id = id;
                new.signature = get_str(block, "signature").unwrap_or_default().into_owned();
                let item = reasoning_item(&new.item_id, None, "");
                let (index, item_id) = (output_index.to_string(), scan::quote(&new.item_id));
                self.emit(
                    out,
                    "response.output_item.added",
                    &[("output_index", &index), ("item", &item)],
                );
                self.emit(
                    out,
                    "response.reasoning_summary_part.added",
                    &[
                        ("item_id", &item_id),
                        ("output_index", &index),
                        ("summary_index", "0"),
                        ("part", r#"{"type":"summary_text","text":""}"#),
                    ],
                );
                self.content.push(None);
                let initial = get_str(block, "thinking").unwrap_or_default().into_owned();
                self.blocks.push(new);
                let b = self.blocks.len() - 1;
                self.thinking_delta(b, &initial, out);
            }
            BlockKind::Other => self.blocks.push(new),
        }
    }

    /// `content_block_delta`.
    fn delta(&mut self, index: u64, delta: &str, out: &mut Vec<String>) {
        let b = match self.blocks.iter().position(|b| b.index == index) {
            Some(b) => b,
            None => {
                // A delta without its start: open the block it implies.
                let block = match type_of(delta).as_deref() {
                    Some("input_json_delta") => r#"{"type":"tool_use","id":"","name":"","input":{}}"#,
                    Some("text_delta") => r#"{"type":"text","text":""}"#,
                    _ => r#"{"type":"unknown"}"#,
                };
                self.open(index, block, out);
                self.blocks.len() - 1
            }
        };
        if !self.blocks[b].open {
            return;
        }
        match (self.blocks[b].kind, type_of(delta).as_deref()) {
            (BlockKind::Text, Some("text_delta")) => {
                self.text_delta(b, &get_str(delta, "text").unwrap_or_default(), out);
            }
            (BlockKind::Tool, Some("input_json_delta")) => {
                let piece = get_str(delta, "partial_json").unwrap_or_default();
                if piece.is_empty() {
                    return;
                }
                self.blocks[b].text.push_str(&piece);
                let block = &self.blocks[b];
                let (item_id, output_index) = (scan::quote(&block.item_id), block.output_index.to_string());
                self.emit(
                    out,
                    "response.function_call_arguments.delta",
                    &[
                        ("item_id", &item_id),
                        ("output_index", &output_index),
                        ("delta", &scan::quote(&piece)),
                    ],
                );
            }
            (BlockKind::Thinking, Some("thinking_delta")) => {
                self.thinking_delta(b, &get_str(delta, "thinking").unwrap_or_default(), out);
            }
            (BlockKind::Thinking, Some("signature_delta")) => {
                let signature = get_str(delta, "signature").unwrap_or_default();
                self.blocks[b].signature.push_str(&signature);
            }
            _ => {}
        }
    }

    /// `response.reasoning_summary_text.delta` of `text` into the thinking block `b`.
    fn thinking_delta(&mut self, b: usize, text: &str, out: &mut Vec<String>) {
        if text.is_empty() {
            return;
        }
        self.blocks[b].text.push_str(text);
        let block = &self.blocks[b];
        let (item_id, output_index) = (scan::quote(&block.item_id), block.output_index.to_string());
        self.emit(
            out,
            "response.reasoning_summary_text.delta",
            &[
                ("item_id", &item_id),
                ("output_index", &output_index),
                ("summary_index", "0"),
                ("delta", &scan::quote(text)),
            ],
        );
    }

    /// `response.output_text.delta` of `text` into block `b`.
    fn text_delta(&mut self, b: usize, text: &str, out: &mut Vec<String>) {
        if text.is_empty() {
            return;
        }
        self.blocks[b].text.push_str(text);
        let block = &self.blocks[b];
        let (item_id, output_index, content_index) = block.place();
        self.emit(
            out,
            "response.output_text.delta",
            &[
                ("item_id", &item_id),
                ("output_index", &output_index),
                ("content_index", &content_index),
                ("delta", &scan::quote(text)),
            ],
        );
    }

    /// `content_block_stop` of block `b`.
    fn stop(&mut self, b: usize, out: &mut Vec<String>) {
        if !std::mem::replace(&mut self.blocks[b].open, false) {
            return;
        }
        let block = &self.blocks[b];
        let (item_id, output_index, content_index) = block.place();
        match block.kind {
            BlockKind::Text => {
                let text = scan::quote(&block.text);
                let anthropic = Obj::new().str("type", "text").raw("text", &text).done();
                let part = text_to_output_text(&anthropic);
                self.content[block.slot] = Some(anthropic);
                let members = [
                    ("item_id", item_id.as_str()),
                    ("output_index", &output_index),
                    ("content_index", &content_index),
                ];
                let mut done = members.to_vec();
                done.push(("text", &text));
                self.emit(out, "response.output_text.done", &done);
                let mut part_done = members.to_vec();
                part_done.push(("part", &part));
                self.emit(out, "response.content_part.done", &part_done);
                if let Some(message) = self.message.as_mut() {
                    message.done.push(part);
                }
            }
            BlockKind::Tool => {
                let arguments = if block.text.is_empty() {
                    block.initial_input.clone().unwrap_or_else(|| "{}".to_string())
                } else {
                    block.text.clone()
                };
                let input = object(arguments.trim()).unwrap_or("{}");
                self.content[block.slot] = Some(
                    Obj::new()
                        .str("type", "tool_use")
                        .str("id", &block.call_id)
                        .str("name", &block.name)
                        .raw("input", input)
                        .done(),
                );
                let item = function_call_item(
                    &block.item_id,
                    "completed",
                    &block.call_id,
                    &block.name,
                    &arguments,
                );
                self.emit(
                    out,
                    "response.function_call_arguments.done",
                    &[
                        ("item_id", &item_id),
                        ("output_index", &output_index),
                        ("arguments", &scan::quote(&arguments)),
                    ],
                );
                self.emit(
                    out,
                    "response.output_item.done",
                    &[("output_index", &output_index), ("item", &item)],
                );
            }
            BlockKind::Thinking => {
                let text = scan::quote(&block.text);
                self.content[block.slot] = Some(
                    Obj::new()
                        .str("type", "thinking")
                        .raw("thinking", &text)
                        .str("signature", &block.signature)
                        .done(),
                );
                let item = reasoning_item(&block.item_id, Some(&block.text), &block.signature);
                let part = Obj::new().str("type", "summary_text").raw("text", &text).done();
                let members = [
                    ("item_id", item_id.as_str()),
                    ("output_index", &output_index),
                    ("summary_index", "0"),
                ];
                let mut done = members.to_vec();
                done.push(("text", &text));
                self.emit(out, "response.reasoning_summary_text.done", &done);
                let mut part_done = members.to_vec();
                part_done.push(("part", &part));
                self.emit(out, "response.reasoning_summary_part.done", &part_done);
                self.emit(
                    out,
                    "response.output_item.done",
                    &[("output_index", &output_index), ("item", &item)],
                );
            }
            BlockKind::Other => {}
        }
    }

    /// `message_stop`: open blocks and the open message item are closed, then the whole
    /// response is sent as `response.completed` (or `response.incomplete`).
    fn finish(&mut self, out: &mut Vec<String>) {
        self.start(None, out);
        for b in 0..self.blocks.len() {
            self.stop(b, out);
        }
        self.close_message(out);
        let content: Vec<&str> = self.content.iter().flatten().map(String::as_str).collect();
        let message = Obj::new()
            .str("id", &self.id)
            .str("type", "message")
            .str("role", "assistant")
            .str("model", &self.model)
            .raw("content", &array(content))
            .raw("stop_reason", self.stop_reason.as_deref().unwrap_or("null"))
            .raw("stop_sequence", self.stop_sequence.as_deref().unwrap_or("null"))
            .raw("usage", &self.usage_json())
            .done();
        let response = message_to_responses(&message);
        let event_type = if get_str(&response, "status").as_deref() == Some("incomplete") {
            "response.incomplete"
        } else {
            "response.completed"
        };
        self.emit(out, event_type, &[("response", &response)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upstream Anthropic events (data only) through [`FromAnthropicEvents`] and back
    /// through [`ToAnthropicEvents`]: the Responses events, the Anthropic events, and the
    /// Responses events' types.
    fn through_both(upstream: &[&str]) -> (Vec<String>, Vec<(&'static str, String)>, Vec<String>) {
        let mut from = FromAnthropicEvents::new();
        let mut to = ToAnthropicEvents::new("c");
        let mut responses = Vec::new();
        let mut anthropic = Vec::new();
        for data in upstream {
            for event in from.event(None, data).unwrap() {
                anthropic.extend(to.event(&event));
                responses.push(event);
            }
        }
        let types = responses
            .iter()
            .map(|e| type_of(e).unwrap().into_owned())
            .collect();
        (responses, anthropic, types)
    }
    use bifrost_wasm_types::equal::json_equal;

    fn assert_json_eq(a: &str, b: &str) {
        assert!(json_equal(a, b), "not JSON-equal:\n  {a}\n  {b}");
    }

    const BODY: &str = r#"{"model":"anthropic/claude-sonnet-4-5","max_tokens":1024,"system":"Be brief.","messages":[{"role":"user","content":"Hello"},{"role":"assistant","content":[{"type":"text","text":"Hi!"}]},{"role":"user","content":[{"type":"text","text":"Look","cache_control":{"type":"ephemeral"}},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBOR"}}]}],"temperature":1.0,"metadata":{"user_id":"u-1"},"tools":[{"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],"tool_choice":{"type":"auto"},"x_unknown":123456789012345678901234567890,"stream":true}"#;

    #[test]
    fn messages_body_becomes_the_flat_responses_request_with_params_as_written() {
        let (flat, stream) = messages_to_responses_request(BODY, "mock").unwrap();
        assert!(stream);
        assert_eq!(
            flat,
            r#"{"provider":"anthropic","model":"claude-sonnet-4-5","input":[{"type":"message","role":"system","content":"Be brief."},{"type":"message","role":"user","content":"Hello"},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Hi!"}]},{"type":"message","role":"user","content":[{"type":"input_text","text":"Look","cache_control":{"type":"ephemeral"}},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBOR"}}]}],"params":{"max_output_tokens":1024,"temperature":1.0,"metadata":{"user_id":"u-1"},"tools":[{"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],"tool_choice":{"type":"auto"},"x_unknown":123456789012345678901234567890}}"#
        );
    }

    #[test]
    fn request_round_trip_is_json_equal_to_the_body_without_the_provider_prefix() {
        let (flat, stream) = messages_to_responses_request(BODY, "mock").unwrap();
        let back = responses_request_to_messages(&flat, stream).unwrap();
        let expected = BODY.replacen("anthropic/claude", "claude", 1);
        assert_json_eq(&back, &expected);
        // Numbers keep their spelling, not only their value.
        assert!(back.contains(r#""temperature":1.0"#), "{back}");
        assert!(back.contains("123456789012345678901234567890"), "{back}");
    }

    #[test]
    fn request_round_trip_keeps_system_blocks_tool_blocks_and_unknown_blocks() {
        let body = r#"{"model":"claude","max_tokens":10,"system":[{"type":"text","text":"A","cache_control":{"type":"ephemeral"}},{"type":"text","text":"B"}],"messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"sig"},{"type":"tool_use","id":"tu_1","name":"get_weather","input":{"city":"Paris"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"tu_1","content":"sunny"},{"type":"document","source":{"type":"text","media_type":"text/plain","data":"d"}},{"type":"future_block","x":1e400}]}],"stop_sequences":["END"],"top_k":5,"top_p":0.9}"#;
        let (flat, stream) = messages_to_responses_request(body, "anthropic").unwrap();
        assert!(!stream);
        assert!(flat.starts_with(r#"{"provider":"anthropic","model":"claude","input":[{"type":"message","role":"system","content":[{"type":"input_text","text":"A","cache_control":{"type":"ephemeral"}},{"type":"input_text","text":"B"}]}"#), "{flat}");
        let back = responses_request_to_messages(&flat, stream).unwrap();
        assert_json_eq(&back, body);
        assert!(back.contains("1e400"), "{back}");
        assert!(!back.contains("\"stream\""), "{back}");
    }

    #[test]
    fn every_invalid_messages_body_is_refused_with_a_reason() {
        let cases: &[(&str, &str)] = &[
            ("not json", "not valid JSON"),
            ("[1,2]", "must be a JSON object"),
            (r#"{"max_tokens":1,"messages":[]}"#, "`model` is required"),
            (
                r#"{"model":7,"max_tokens":1,"messages":[]}"#,
                "`model` must be a string",
            ),
            (r#"{"model":"m","max_tokens":1}"#, "`messages` is required"),
            (
                r#"{"model":"m","max_tokens":1,"messages":{}}"#,
                "`messages` must be a array",
            ),
            (r#"{"model":"m","messages":[]}"#, "`max_tokens` is required"),
            (
                r#"{"model":"m","max_tokens":0,"messages":[]}"#,
                "positive integer",
            ),
            (
                r#"{"model":"m","max_tokens":-5,"messages":[]}"#,
                "positive integer",
            ),
            (
                r#"{"model":"m","max_tokens":1.5,"messages":[]}"#,
                "positive integer",
            ),
            (
                r#"{"model":"m","max_tokens":"10","messages":[]}"#,
                "positive integer",
            ),
            (
                r#"{"model":"m","max_tokens":1,"messages":[],"stream":"yes"}"#,
                "`stream` must be a boolean",
            ),
            (
                r#"{"model":"m","max_tokens":1,"messages":[],"system":5}"#,
                "`system` must be",
            ),
            (
                r#"{"model":"m","max_tokens":1,"messages":[3]}"#,
                "`messages[0]` must be a object",
            ),
            (
                r#"{"model":"m","max_tokens":1,"messages":[{"content":"x"}]}"#,
                "`messages[0].role` is required",
            ),
            (
                r#"{"model":"m","max_tokens":1,"messages":[{"role":"user"}]}"#,
                "`messages[0].content` is required",
            ),
            (
                r#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":1}]}"#,
                "`messages[0].content` must be",
            ),
        ];
        for (body, expected) in cases {
            let err = messages_to_responses_request(body, "mock").unwrap_err();
            assert!(err.contains(expected), "{body}: {err}");
        }
        let ok = r#"{"model":"m","max_tokens":1,"messages":[],"stream":false}"#;
        assert_eq!(
            messages_to_responses_request(ok, "mock").unwrap(),
            (
                r#"{"provider":"mock","model":"m","input":[],"params":{"max_output_tokens":1}}"#.to_string(),
                false
            )
        );
    }

    #[test]
    fn a_plugin_edited_responses_request_becomes_a_valid_anthropic_body() {
        let flat = r#"{"provider":"anthropic","model":"claude","input":[{"role":"developer","content":"Rule 1"},{"type":"message","role":"system","content":"Rule 2"},{"type":"message","id":"m1","status":"completed","role":"user","content":[{"type":"input_text","text":"hi"},{"type":"input_image","image_url":"data:image/png;base64,AAA"}]},{"type":"function_call","call_id":"c1","name":"f","arguments":"{\"a\":1}"},{"type":"function_call_output","call_id":"c1","output":"ok"}],"params":{"temperature":0.5,"stream":true}}"#;
        let body = responses_request_to_messages(flat, true).unwrap();
        assert_eq!(
            body,
            r#"{"model":"claude","system":"Rule 1\nRule 2","messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAA"}}]},{"role":"assistant","content":[{"type":"tool_use","id":"c1","name":"f","input":{"a":1}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"c1","content":"ok"}]}],"temperature":0.5,"max_tokens":1024,"stream":true}"#
        );
        let string_input = r#"{"model":"openai/x","input":"hello","params":{"max_output_tokens":7}}"#;
        assert_eq!(
            responses_request_to_messages(string_input, false).unwrap(),
            r#"{"model":"x","messages":[{"role":"user","content":"hello"}],"max_tokens":7}"#
        );
        for bad in [
            r#"{"input":[]}"#,
            r#"{"model":"m"}"#,
            r#"{"model":"m","input":[{"type":"web_search_call"}]}"#,
            r#"{"model":"m","input":[],"params":[]}"#,
            r#"{"model":"m","input":[1]}"#,
        ] {
            assert!(responses_request_to_messages(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn responses_response_becomes_an_anthropic_message() {
        let response = r#"{"id":"resp_1","object":"response","created_at":1,"model":"gpt-4o","status":"completed","output":[{"id":"msg_1","type":"message","role":"assistant","status":"completed","content":[{"type":"output_text","text":"Hello","annotations":[]},{"type":"output_text","text":" world","annotations":[]}]}],"usage":{"input_tokens":12,"output_tokens":2,"total_tokens":14}}"#;
        assert_eq!(
            responses_to_message(response),
            r#"{"id":"resp_1","type":"message","role":"assistant","model":"gpt-4o","content":[{"type":"text","text":"Hello"},{"type":"text","text":" world"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":2}}"#
        );
        let cut = r#"{"id":"r","model":"m","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"output":[],"usage":{"input_tokens":1,"output_tokens":9,"input_tokens_details":{"cached_tokens":1}}}"#;
        let message = responses_to_message(cut);
        assert_eq!(get_str(&message, "stop_reason").as_deref(), Some("max_tokens"));
        assert_eq!(
            get(&message, "usage"),
            Some(r#"{"input_tokens":1,"output_tokens":9,"cache_read_input_tokens":1}"#)
        );
        let called = r#"{"id":"r","model":"m","status":"completed","output":[{"type":"function_call","id":"fc","call_id":"call_1","name":"f","arguments":"{\"x\":[1,2]}"}]}"#;
        assert_eq!(
            responses_to_message(called),
            r#"{"id":"r","type":"message","role":"assistant","model":"m","content":[{"type":"tool_use","id":"call_1","name":"f","input":{"x":[1,2]}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}"#
        );
        // Not JSON at all: still an Anthropic message the client can read.
        assert!(responses_to_message("oops").contains(r#""content":[]"#));
    }

    #[test]
    fn message_to_responses_round_trip_is_json_equal() {
        let messages = [
            r#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hi there"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":3,"cache_creation_input_tokens":0,"cache_read_input_tokens":4,"service_tier":"standard"}}"#,
            r#"{"id":"msg_02","type":"message","role":"assistant","model":"c","content":[{"type":"text","text":"Let me check."},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris","days":1.0}},{"type":"tool_use","id":"toolu_2","name":"noop","input":{}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":2}}"#,
            r#"{"id":"msg_03","type":"message","role":"assistant","model":"c","content":[{"type":"text","text":"cut"}],"stop_reason":"max_tokens","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":2}}"#,
            r#"{"id":"msg_04","type":"message","role":"assistant","model":"c","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"text","text":"x","citations":null}],"stop_reason":"stop_sequence","stop_sequence":"END","usage":{"input_tokens":1,"output_tokens":2}}"#,
            r#"{"id":"msg_05","type":"message","role":"assistant","model":"c","content":[],"stop_reason":"refusal","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":0}}"#,
        ];
        for message in messages {
            let response = message_to_responses(message);
            assert!(scan::validate(&response).is_ok(), "{response}");
            assert_json_eq(&responses_to_message(&response), message);
        }
        let response = message_to_responses(messages[1]);
        assert_eq!(
            get(&response, "output"),
            Some(
                r#"[{"id":"msg_02_0","type":"message","role":"assistant","status":"completed","content":[{"type":"output_text","text":"Let me check.","annotations":[]}]},{"id":"msg_02_1","type":"function_call","status":"completed","call_id":"toolu_1","name":"get_weather","arguments":"{\"city\":\"Paris\",\"days\":1.0}"},{"id":"msg_02_2","type":"function_call","status":"completed","call_id":"toolu_2","name":"noop","arguments":"{}"}]"#
            )
        );
        let cut = message_to_responses(messages[2]);
        assert_eq!(get_str(&cut, "status").as_deref(), Some("incomplete"));
        assert_eq!(
            get(&cut, "incomplete_details"),
            Some(r#"{"reason":"max_output_tokens"}"#)
        );
        assert_eq!(
            get_str(&message_to_responses(messages[0]), "status").as_deref(),
            Some("completed")
        );
    }

    #[test]
    fn errors_get_anthropic_types_by_status() {
        let bifrost = r#"{"is_bifrost_error":true,"status_code":429,"error":{"message":"slow down","type":"rate_limit","code":"429"}}"#;
        assert_eq!(
            error_to_anthropic(bifrost, 429),
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#
        );
        for (status, expected) in [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (413, "request_too_large"),
            (429, "rate_limit_error"),
            (503, "overloaded_error"),
            (529, "overloaded_error"),
            (500, "api_error"),
            (504, "api_error"),
        ] {
            let body = error_to_anthropic(r#"{"error":{"message":"m"}}"#, status);
            assert_eq!(
                get(&body, "error").and_then(|e| get_str(e, "type")).as_deref(),
                Some(expected)
            );
        }
        assert!(error_to_anthropic("plain text", 500).contains(r#""message":"plain text""#));
    }

    /// An Anthropic stream as the real API sends it.
    const ANTHROPIC_STREAM: &[(&str, &str)] = &[
        (
            "message_start",
            r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}"#,
        ),
        (
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        ),
        ("ping", r#"{"type": "ping"}"#),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" world!"}}"#,
        ),
        ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
        (
            "message_delta",
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}"#,
        ),
        ("message_stop", r#"{"type":"message_stop"}"#),
    ];

    fn texts(events: &[(&str, String)]) -> String {
        events
            .iter()
            .filter(|(name, _)| *name == "content_block_delta")
            .filter_map(|(_, data)| {
                get(data, "delta")
                    .and_then(|d| get_str(d, "text"))
                    .map(Cow::into_owned)
            })
            .collect()
    }

    #[test]
    fn anthropic_stream_through_responses_events_and_back_keeps_event_names_and_text() {
        let mut from = FromAnthropicEvents::new();
        let mut to = ToAnthropicEvents::new("anthropic/claude-sonnet-4-5");
        let mut responses = Vec::new();
        let mut anthropic = Vec::new();
        for (name, data) in ANTHROPIC_STREAM {
            for event in from.event(Some(name), data).unwrap() {
                assert!(scan::validate(&event).is_ok(), "{event}");
                anthropic.extend(to.event(&event));
                responses.push(event);
            }
        }
        let types: Vec<String> = responses
            .iter()
            .map(|e| type_of(e).unwrap().into_owned())
            .collect();
        assert_eq!(
            types,
            [
                "response.created",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        for (n, event) in responses.iter().enumerate() {
            assert_eq!(get(event, "sequence_number"), Some(n.to_string().as_str()));
        }
        assert_eq!(
            responses[3],
            r#"{"type":"response.output_text.delta","sequence_number":3,"item_id":"msg_1_0","output_index":0,"content_index":0,"delta":"Hello"}"#
        );
        assert_eq!(get_str(&responses[5], "text").as_deref(), Some("Hello world!"));
        let completed = get(&responses[8], "response").unwrap();
        assert_eq!(get_str(completed, "status").as_deref(), Some("completed"));
        assert_eq!(
            get(completed, "usage"),
            Some(
                r#"{"input_tokens":25,"output_tokens":15,"total_tokens":40,"input_tokens_details":{"cached_tokens":0},"cache_creation_input_tokens":0}"#
            )
        );
        assert_eq!(
            responses_to_message(completed),
            r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hello world!"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":15,"cache_read_input_tokens":0,"cache_creation_input_tokens":0}}"#
        );

        let names: Vec<&str> = anthropic.iter().map(|(name, _)| *name).collect();
        let original: Vec<&str> = ANTHROPIC_STREAM
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| *n != "ping")
            .collect();
        assert_eq!(names, original);
        assert_eq!(texts(&anthropic), "Hello world!");
        for (name, data) in &anthropic {
            assert_eq!(type_of(data).as_deref(), Some(*name));
        }
        assert_eq!(
            anthropic[0].1,
            r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":0}}}"#
        );
        assert_eq!(
            anthropic[5].1,
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}"#
        );
    }

    #[test]
    fn openai_style_responses_stream_becomes_anthropic_events_with_usage() {
        let events = [
            r#"{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","created_at":1,"status":"in_progress","model":"gpt-4o","output":[],"usage":null}}"#,
            r#"{"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"id":"msg_1","type":"message","status":"in_progress","role":"assistant","content":[]}}"#,
            r#"{"type":"response.content_part.added","sequence_number":2,"item_id":"msg_1","output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}}"#,
            r#"{"type":"response.output_text.delta","sequence_number":3,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hello"}"#,
            r#"{"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1","output_index":0,"content_index":0,"delta":" there"}"#,
            r#"{"type":"response.output_text.delta","sequence_number":5,"item_id":"msg_1","output_index":0,"content_index":0,"delta":" friend"}"#,
            r#"{"type":"response.output_text.done","sequence_number":6,"item_id":"msg_1","output_index":0,"content_index":0,"text":"Hello there friend"}"#,
            r#"{"type":"response.content_part.done","sequence_number":7,"item_id":"msg_1","output_index":0,"content_index":0,"part":{"type":"output_text","text":"Hello there friend","annotations":[]}}"#,
            r#"{"type":"response.output_item.done","sequence_number":8,"output_index":0,"item":{"id":"msg_1","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hello there friend","annotations":[]}]}}"#,
            r#"{"type":"response.completed","sequence_number":9,"response":{"id":"resp_1","object":"response","created_at":1,"status":"completed","model":"gpt-4o","output":[{"id":"msg_1","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hello there friend","annotations":[]}]}],"usage":{"input_tokens":7,"output_tokens":3,"total_tokens":10}}}"#,
        ];
        let mut to = ToAnthropicEvents::new("openai/gpt-4o");
        let out: Vec<(&str, String)> = events.iter().flat_map(|e| to.event(e)).collect();
        let names: Vec<&str> = out.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop",
            ]
        );
        assert_eq!(texts(&out), "Hello there friend");
        assert_eq!(
            out[1].1,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#
        );
        assert_eq!(
            out[2].1,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#
        );
        assert_eq!(out[5].1, r#"{"type":"content_block_stop","index":0}"#);
        assert_eq!(
            out[6].1,
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":3}}"#
        );
        assert_eq!(out[7].1, r#"{"type":"message_stop"}"#);
        assert!(out[0].1.contains(r#""id":"resp_1""#) && out[0].1.contains(r#""model":"gpt-4o""#));
        // Nothing follows message_stop.
        assert!(to.event(events[3]).is_empty());
    }

    #[test]
    fn partial_responses_streams_still_give_a_well_formed_anthropic_stream() {
        // No response.created, no content_part.added; two text parts; an incomplete end.
        let mut to = ToAnthropicEvents::new("claude");
        let mut out = Vec::new();
        for e in [
            r#"{"type":"response.output_text.delta","output_index":0,"content_index":0,"delta":"a"}"#,
            r#"{"type":"response.output_text.delta","output_index":0,"content_index":1,"delta":"b"}"#,
            r#"{"type":"response.output_text.delta","output_index":0,"content_index":0,"delta":"c"}"#,
            r#"{"type":"response.incomplete","response":{"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"usage":{"input_tokens":1,"output_tokens":2}}}"#,
        ] {
            out.extend(to.event(e));
        }
        let names: Vec<&str> = out.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_stop",
                "message_delta",
                "message_stop",
            ]
        );
        assert!(out[0].1.contains(r#""model":"claude""#));
        assert_eq!(get(&out[5].1, "index"), Some("0"));
        assert_eq!(get(&out[4].1, "index"), Some("1"));
        assert!(out[8].1.contains(r#""stop_reason":"max_tokens""#), "{}", out[8].1);

        // A plugin turned output_text.done into a delta: the later done events add nothing.
        let mut to = ToAnthropicEvents::new("m");
        let mut out = Vec::new();
        for e in [
            r#"{"type":"response.content_part.added","output_index":0,"content_index":0,"part":{"type":"output_text","text":""}}"#,
            r#"{"type":"response.output_text.delta","output_index":0,"content_index":0,"delta":"[redacted]"}"#,
            r#"{"type":"response.content_part.done","output_index":0,"content_index":0,"part":{"type":"output_text","text":"secret"}}"#,
            r#"{"type":"response.output_item.done","output_index":0,"item":{"type":"message","content":[{"type":"output_text","text":"secret"}]}}"#,
        ] {
            out.extend(to.event(e));
        }
        assert_eq!(texts(&out), "[redacted]");
        // Only whole items: the text comes from output_item.done.
        let mut to = ToAnthropicEvents::new("m");
        let out = to.event(r#"{"type":"response.output_item.done","output_index":0,"item":{"type":"message","content":[{"type":"output_text","text":"whole"}]}}"#);
        let names: Vec<&str> = out.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop"
            ]
        );
        assert_eq!(texts(&out), "whole");
    }

    #[test]
    fn tool_calls_stream_both_ways_as_input_json_deltas() {
        let upstream = [
            r#"{"type":"message_start","message":{"id":"msg_t","model":"c","usage":{"input_tokens":3,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}}"#,
            r#"{"type":"content_block_stop","index":1}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":9}}"#,
            r#"{"type":"message_stop"}"#,
        ];
        let (responses, anthropic, types) = through_both(&upstream);
        assert_eq!(
            types,
            [
                "response.created",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        assert_eq!(
            get_str(&responses[10], "arguments").as_deref(),
            Some(r#"{"city":"Paris"}"#)
        );
        let completed = get(responses.last().unwrap(), "response").unwrap();
        let output = get(completed, "output").unwrap();
        // The ids of the final response are the ids the events used.
        assert_eq!(
            get(&responses[7], "item")
                .and_then(|i| get_str(i, "id"))
                .as_deref(),
            Some("msg_t_1")
        );
        assert!(
            output.contains(r#""id":"msg_t_1","type":"function_call""#),
            "{output}"
        );
        assert!(responses_to_message(completed).contains(r#""stop_reason":"tool_use""#));

        let names: Vec<&str> = anthropic.iter().map(|(n, _)| *n).collect();
        // The empty partial_json delta (upstream[5]) is not repeated; everything else is.
        let expected: Vec<String> = upstream
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 5)
            .map(|(_, d)| type_of(d).unwrap().into_owned())
            .collect();
        assert_eq!(names, expected);
        assert_eq!(
            anthropic[4].1,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}"#
        );
        assert_eq!(
            anthropic[5].1,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}"#
        );
        assert!(anthropic[8].1.contains(r#""stop_reason":"tool_use""#));
    }

    #[test]
    fn thinking_streams_as_a_reasoning_item_and_comes_back_with_its_signature() {
        let upstream = [
            r#"{"type":"message_start","message":{"id":"msg_r","model":"c","usage":{"input_tokens":3,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":" think."}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBsig"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"42"}}"#,
            r#"{"type":"content_block_stop","index":1}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":7}}"#,
            r#"{"type":"message_stop"}"#,
        ];
        let (responses, anthropic, types) = through_both(&upstream);
        assert_eq!(
            types,
            [
                "response.created",
                "response.output_item.added",
                "response.reasoning_summary_part.added",
                "response.reasoning_summary_text.delta",
                "response.reasoning_summary_text.delta",
                "response.reasoning_summary_text.done",
                "response.reasoning_summary_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        assert_eq!(
            get(&responses[7], "item"),
            Some(
                r#"{"id":"msg_r_0","type":"reasoning","summary":[{"type":"summary_text","text":"Let me think."}],"encrypted_content":"EqQBsig"}"#
            )
        );
        let completed = get(responses.last().unwrap(), "response").unwrap();
        assert_eq!(
            get(&responses_to_message(completed), "content"),
            Some(
                r#"[{"type":"thinking","thinking":"Let me think.","signature":"EqQBsig"},{"type":"text","text":"42"}]"#
            )
        );

        let names: Vec<&str> = anthropic.iter().map(|(n, _)| *n).collect();
        let expected: Vec<String> = upstream
            .iter()
            .map(|d| type_of(d).unwrap().into_owned())
            .collect();
        assert_eq!(names, expected);
        assert_eq!(
            anthropic[1].1,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#
        );
        assert_eq!(
            anthropic[2].1,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me"}}"#
        );
        assert_eq!(
            anthropic[4].1,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBsig"}}"#
        );
        assert_eq!(get(&anthropic[6].1, "index"), Some("1"));
    }

    #[test]
    fn upstream_errors_pings_and_bad_data_are_reported_or_skipped() {
        let mut from = FromAnthropicEvents::new();
        assert_eq!(from.event(Some("ping"), r#"{"type":"ping"}"#), Ok(vec![]));
        assert_eq!(
            from.event(
                Some("error"),
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
            ),
            Err("Overloaded".to_string())
        );
        assert!(from.event(None, "not json").is_err());
        assert!(from.event(Some("message_start"), "[1]").is_err());
        // Blocks before message_start still come after response.created.
        let mut from = FromAnthropicEvents::new();
        let events = from
            .event(
                None,
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}"#,
            )
            .unwrap();
        let types: Vec<String> = events.iter().map(|e| type_of(e).unwrap().into_owned()).collect();
        assert_eq!(
            types,
            [
                "response.created",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta"
            ]
        );
        // A max_tokens stop ends with response.incomplete.
        let mut from = FromAnthropicEvents::new();
        from.event(
            None,
            r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":5}}"#,
        )
        .unwrap();
        let end = from.event(None, r#"{"type":"message_stop"}"#).unwrap();
        let last = end.last().unwrap();
        assert_eq!(type_of(last).as_deref(), Some("response.incomplete"));

        let mut to = ToAnthropicEvents::new("m");
        let (name, data) = to.error(
            r#"{"error":{"message":"upstream timed out"},"status_code":504}"#,
            504,
        );
        assert_eq!(name, "error");
        assert_eq!(
            data,
            r#"{"type":"error","error":{"type":"api_error","message":"upstream timed out"}}"#
        );
        assert!(to
            .event(r#"{"type":"response.created","response":{}}"#)
            .is_empty());
        let mut to = ToAnthropicEvents::new("m");
        let out = to.event(r#"{"type":"error","code":"x","message":"boom"}"#);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, "error");
        assert!(out[0].1.contains("boom"));
    }
}
