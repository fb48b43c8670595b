//! `redact`: a Bifrost plugin that replaces e-mail addresses, phone numbers, card numbers and
//! secrets with labelled placeholders (`[EMAIL]`, `[PHONE]`, `[CARD]`, `[SECRET]`).
//!
//! * `pre_hook`: every text of a request before the provider sees it: every message of a chat
//!   request and every item of a Responses request (content strings, text blocks, refusals,
//!   reasoning, function-call outputs, and — when `tool_arguments` is on — tool-call and
//!   function-call arguments), a text completion's prompt(s), an embedding's input texts, a
//!   speech request's text and an image prompt (transcription requests carry audio, and pass
//!   through);
//! * `post_hook`: every text of a complete chat or text-completion response's choices and of a
//!   Responses response's output items (streamed chunks and events are left to the stream
//!   hook, which sees them in order);
//! * `http_stream_chunk_hook`: each chunk's running text — a chat `delta.content`, a text
//!   completion's `text`, a Responses `response.output_text.delta` — holding back a tail that
//!   could still be the start of a match until the next chunk of the same request shows how
//!   it ends ([`stream`] explains the rule and its latency cost), flushed into the chunk that
//!   carries `finish_reason` (for Responses, the `response.output_text.done` event, which
//!   then becomes the delta that carries the tail); every other text a chunk or event
//!   carries (`.done` texts, `response.completed`'s whole response, refusals, ...) on its
//!   own.
//!
//! Detection rules are in [`detect`]. Every edit is spliced into the raw JSON: everything
//! else in the request, response or chunk stays byte-identical. Counts per category are
//! added to the context under `redactions` (`{"email":1,"phone":0,…,"total":1}`), summed over
//! the request's hooks.
//!
//! A hook that fails (malformed payload) passes its input through unredacted and reports the
//! error, which Bifrost logs; run the plugin with the `fail_closed` policy where an
//! unredacted request must never reach a provider.

pub mod detect;
pub mod stream;

use std::collections::BTreeMap;

use bifrost_wasm_sdk::prelude::*;
use bifrost_wasm_sdk::types::{reader, scan};

use crate::detect::{Category, Counts, Detector};
use crate::stream::StreamRedactor;

/// The context key the counts are reported under.
pub const CONTEXT_KEY: &str = "redactions";

/// The plugin's configuration (every key optional).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Which categories to redact (default: all four: `email`, `phone`, `card`, `secret`).
    pub categories: Vec<Category>,
    /// Redact requests in `pre_hook` (default true).
    pub requests: bool,
    /// Redact complete chat, text-completion and Responses responses in `post_hook` (default
    /// true).
    pub responses: bool,
    /// Redact streamed chunks in `http_stream_chunk_hook` (default true).
    pub streams: bool,
    /// Also redact tool-call and Responses function-call arguments (JSON-encoded strings;
    /// default false, because a placeholder in place of a JSON number makes the arguments
    /// invalid JSON).
    pub tool_arguments: bool,
    /// Placeholder per category, replacing the default `[EMAIL]`, `[PHONE]`, `[CARD]`,
    /// `[SECRET]`.
    pub placeholders: BTreeMap<Category, String>,
    /// Values never redacted (compared ASCII case-insensitively), e.g. a public support address.
    pub allow: Vec<String>,
    /// Shortest token the generic secret rule considers (default 32, at least 16).
    pub secret_min_length: usize,
    /// Least Shannon entropy, in bits per character, of a generic secret (default 4.0).
    pub secret_min_entropy: f64,
    /// Most bytes held back per streamed choice (default 512).
    pub stream_max_hold: usize,
    /// Most streams with held-back text at once; the oldest is evicted beyond (default 1024).
    pub max_streams: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            categories: Category::ALL.to_vec(),
            requests: true,
            responses: true,
            streams: true,
            tool_arguments: false,
            placeholders: BTreeMap::new(),
            allow: Vec::new(),
            secret_min_length: 32,
            secret_min_entropy: 4.0,
            stream_max_hold: 512,
            max_streams: 1024,
        }
    }
}

/// The redaction plugin.
#[derive(Debug)]
pub struct Redact {
    config: Config,
    detector: Detector,
    streams: StreamRedactor,
}

impl Redact {
    /// The replacement for one text of a message, when the field is covered and something
    /// matched.
    fn redact_text(&self, spot: TextSpot, text: &str, counts: &mut Counts) -> Option<String> {
        if spot.field.is_arguments() && !self.config.tool_arguments {
            return None;
        }
        self.detector.redact(text, counts)
    }

    /// Adds `counts` to the context's running totals.
    fn record(&self, context: &mut BifrostContext, counts: &Counts) {
        let mut totals: serde_json::Map<String, Value> = context
            .get_as(CONTEXT_KEY)
            .and_then(Result::ok)
            .unwrap_or_default();
        let mut add = |name: &str, n: u64| {
            let before = totals.get(name).and_then(Value::as_u64).unwrap_or(0);
            totals.insert(name.to_string(), Value::from(before + n));
        };
        for category in Category::ALL {
            if self.detector.is_enabled(category) {
                add(category.name(), counts.get(category));
            }
        }
        add("total", counts.total());
        context.set_value(CONTEXT_KEY, Value::Object(totals));
    }
}

/// A choice's `finish_reason` and whether it has a `delta` (everything else is skipped unread).
#[derive(Deserialize)]
struct ChoiceEnd {
    #[serde(default)]
    finish_reason: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    delta: Option<serde::de::IgnoredAny>,
}

/// `extra_fields.request_type`, which Bifrost sets on every response and chunk.
#[derive(Deserialize)]
struct ExtraFields {
    #[serde(default)]
    request_type: Option<String>,
}

/// Member `name` of the response inside `response`, read into `T` (`None` when absent or of
/// another type).
fn inner_field<T: serde::de::DeserializeOwned>(response: &LlmResponse, name: &str) -> Option<T> {
    let value = scan::member(response.inner_raw()?, name, false)?;
    reader::typed(value).ok()
}

/// True when a response is one chunk or event of a stream, which the stream hook redacts in
/// order: a Responses stream event; a chunk whose `extra_fields.request_type` ends in
/// `_stream`; a chat chunk (`object` `chat.completion.chunk`, or choices with `delta`s); a
/// text-completion chunk (OpenAI spells both `text_completion`: a choice without a
/// `finish_reason` is a chunk, a complete response has one on every choice).
fn is_stream_chunk(response: &LlmResponse) -> bool {
    match response.response_kind() {
        Some((RequestKind::Responses, event)) => return event,
        Some((RequestKind::Chat | RequestKind::TextCompletion, _)) => {}
        _ => return false,
    }
    if let Some(ExtraFields {
        request_type: Some(rt),
    }) = inner_field(response, "extra_fields")
    {
        return rt.ends_with("_stream");
    }
    let choices: Vec<ChoiceEnd> = inner_field(response, "choices").unwrap_or_default();
    match inner_field::<String>(response, "object").as_deref() {
        Some("chat.completion.chunk") => true,
        Some("text_completion") => choices.iter().any(|c| c.finish_reason.is_none()),
        _ => choices.iter().any(|c| c.delta.is_some()),
    }
}

/// True for the kinds whose requests carry text the walker visits.
fn has_request_text(kind: &RequestKind) -> bool {
    !matches!(kind, RequestKind::Transcription | RequestKind::Other(_))
}

impl Plugin for Redact {
    const NAME: &'static str = "redact";
    type Config = Config;

    fn new(config: Config) -> HookResult<Self> {
        if config.secret_min_length < 16 {
            return Err(HookError::new(format!(
                "secret_min_length must be at least 16 (got {}); shorter tokens are mostly ordinary words",
                config.secret_min_length
            )));
        }
        if !(0.0..=8.0).contains(&config.secret_min_entropy) {
            return Err(HookError::new(format!(
                "secret_min_entropy is in bits per character and must be between 0 and 8 (got {})",
                config.secret_min_entropy
            )));
        }
        if let Some((category, _)) = config.placeholders.iter().find(|(_, p)| p.is_empty()) {
            return Err(HookError::new(format!(
                "placeholders.{} must not be empty",
                category.name()
            )));
        }
        let detector = Detector::new(
            &config.categories,
            config.placeholders.iter().map(|(c, p)| (*c, p.clone())).collect(),
            &config.allow,
            config.secret_min_length,
            config.secret_min_entropy,
        );
        let streams = StreamRedactor::new(config.max_streams, config.stream_max_hold);
        Ok(Redact {
            config,
            detector,
            streams,
        })
    }

    fn pre_hook(&mut self, mut input: PreHookInput) -> HookResult<PreHookOutput> {
        if self.config.requests && has_request_text(&input.request.kind()) {
            let mut counts = Counts::default();
            input
                .request
                .edit_texts(|spot, text| self.redact_text(spot, text, &mut counts));
            self.record(&mut input.context, &counts);
        }
        Ok(input.pass_through())
    }

    fn post_hook(&mut self, mut input: PostHookInput) -> HookResult<PostHookOutput> {
        if !self.config.responses {
            return Ok(input.pass_through());
        }
        if let LlmResult::Response(response) = &mut input.result {
            let text_kind = matches!(
                response.kind(),
                Some(RequestKind::Chat | RequestKind::TextCompletion | RequestKind::Responses)
            );
            if text_kind && !is_stream_chunk(response) {
                let mut counts = Counts::default();
                response.edit_texts(|spot, text| self.redact_text(spot, text, &mut counts));
                self.record(&mut input.context, &counts);
            }
        }
        Ok(input.pass_through())
    }

    fn http_stream_chunk_hook(&mut self, mut input: StreamChunkInput) -> HookResult<StreamChunkOutput> {
        if !self.config.streams || !input.chunk.is_object() {
            return Ok(input.pass_through());
        }
        let mut counts = Counts::default();
        let mut chunk = input.chunk.clone();
        let request_id = input.context.request_id();
        let mut changed = self
            .streams
            .process(request_id, &mut chunk, &self.detector, &mut counts)?;
        // The other texts (a delta's refusal, reasoning, tool arguments; a Responses event's
        // whole texts) chunk by chunk; the running text was handled above.
        changed |= chunk.edit_chunk_texts(|spot, text| {
            if spot.field.is_streamed_text() {
                return None;
            }
            self.redact_text(spot, text, &mut counts)
        }) > 0;
        self.record(&mut input.context, &counts);
        if changed {
            Ok(input.replace(chunk))
        } else {
            Ok(input.pass_through())
        }
    }

    fn cleanup(&mut self) -> HookResult<()> {
        self.streams.clear();
        Ok(())
    }
}

bifrost_wasm_sdk::export_plugin!(Redact);

#[cfg(test)]
mod tests {
    use super::*;
    use bifrost_wasm_sdk::testing::Harness;
    use serde_json::json;

    #[test]
    fn default_config_redacts_all_categories_in_requests() {
        let h = Harness::<Redact>::new("{}").unwrap();
        let out = h.pre_hook(&json!({
            "context": {"request_id": "r"},
            "request": {"provider": "openai", "model": "gpt-4", "input": [
                {"role": "user", "content": "I am bob@example.com, +1 555 123 4567, card 4111 1111 1111 1111, key AKIAIOSFODNN7EXAMPLE"}
            ]}
        }));
        assert_eq!(
            out["request"]["input"][0]["content"],
            "I am [EMAIL], [PHONE], card [CARD], key [SECRET]"
        );
        assert_eq!(
            out["context"][CONTEXT_KEY],
            json!({"email": 1, "phone": 1, "card": 1, "secret": 1, "total": 4})
        );
    }

    #[test]
    fn config_errors_say_what_is_wrong() {
        let err = Harness::<Redact>::new(r#"{"categories": ["emails"]}"#)
            .err()
            .unwrap();
        assert!(err.contains("unknown variant `emails`"), "{err}");
        let err = Harness::<Redact>::new(r#"{"secret_min_length": 4}"#)
            .err()
            .unwrap();
        assert!(err.contains("secret_min_length must be at least 16"), "{err}");
        let err = Harness::<Redact>::new(r#"{"categoriez": []}"#).err().unwrap();
        assert!(err.contains("unknown field `categoriez`"), "{err}");
    }
}
