//! `redact`: a Bifrost plugin that replaces e-mail addresses, phone numbers, card numbers and
//! secrets with labelled placeholders (`[EMAIL]`, `[PHONE]`, `[CARD]`, `[SECRET]`).
//!
//! * `pre_hook`: every text of every message of a chat request (content strings, text
//!   blocks, refusals, reasoning, and — when `tool_arguments` is on — tool-call arguments),
//!   before the provider sees it;
//! * `post_hook`: every text of every choice of a complete chat response (streamed chunks are
//!   left to the stream hook, which sees them in order);
//! * `http_stream_chunk_hook`: each chunk's `delta.content`, holding back a tail that could
//!   still be the start of a match until the next chunk of the same request shows how it
//!   ends ([`stream`] explains the rule and its latency cost), flushed into the chunk that
//!   carries `finish_reason`.
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
    /// Redact chat requests in `pre_hook` (default true).
    pub requests: bool,
    /// Redact complete chat responses in `post_hook` (default true).
    pub responses: bool,
    /// Redact streamed chunks in `http_stream_chunk_hook` (default true).
    pub streams: bool,
    /// Also redact tool-call arguments (JSON-encoded strings; default false, because a
    /// placeholder in place of a JSON number makes the arguments invalid JSON).
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
        if matches!(spot.field, TextField::ToolArguments(_)) && !self.config.tool_arguments {
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

/// True when a response is one chunk of a stream (`object` is `chat.completion.chunk`, or its
/// choices carry `delta`s).
fn is_stream_chunk(response: &LlmResponse) -> bool {
    match response.chat_field::<String>("object").as_deref() {
        Some("chat.completion.chunk") => true,
        Some(_) => false,
        None => response
            .chat_field::<Vec<std::collections::HashMap<String, serde::de::IgnoredAny>>>("choices")
            .is_some_and(|choices| choices.iter().any(|c| c.contains_key("delta"))),
    }
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
        if self.config.requests && input.request.is_chat() {
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
            if response.has_chat() && !is_stream_chunk(response) {
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
        // The other text fields of a delta (refusal, reasoning, tool arguments) chunk by chunk.
        changed |= chunk.edit_chunk_texts(|spot, text| {
            if spot.field == TextField::Content {
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
