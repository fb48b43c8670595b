//! The seed's hello-world Bifrost plugin, built on `bifrost-wasm-sdk`.
//!
//! Every hook does what the seed's usage examples show, each behaviour switchable in the
//! plugin's JSON config (see [`Config`]):
//!
//! * `http_pre_hook` / `http_intercept`: passes the request through and records
//!   `http_pre_hook_seen: true` in the context;
//! * `pre_hook`: sets `plugin_processed: true` and `plugin_name`; a per-key rate limiter (off
//!   until a budget is set) answers `Rate limit exceeded` (type `rate_limit`, code `429`,
//!   status 429); model `mock-model` is answered with the seed's mock response, as a response
//!   of the request's kind: a chat completion for chat, a text completion for a text
//!   completion, a Responses-API response for a Responses request (other kinds go on to the
//!   provider);
//! * `post_hook`: sets `post_hook_completed: true`; appends ` (via rust plugin)` to an error
//!   message, or ` (via rust-wasm)` to the model of a chat, text-completion or Responses
//!   response (other kinds' responses pass through untouched);
//! * `http_post_hook`, `http_stream_chunk_hook`: pass through, recording
//!   `http_post_hook_seen: true` and a running `stream_chunks_seen` count;
//! * `cleanup` returns 0.

use std::collections::BTreeMap;

use bifrost_wasm_sdk::prelude::*;
use bifrost_wasm_sdk::types::scan::quote;

/// The plugin's configuration (the `config` value of its Bifrost plugin entry).
/// Unknown keys (such as the seed's `custom_option`) are accepted and ignored. (They are not
/// kept: a `#[serde(flatten)]` map of `serde_json::Value`s would link serde_json's whole
/// deserializer and float formatting into the plugin, about a quarter of its size.)
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Answer requests for [`Config::mock_model`] with the seed's mock response.
    pub mock: bool,
    /// Which model is mocked.
    pub mock_model: String,
    /// Append ` (via rust-wasm)` to the model of chat, text-completion and Responses
    /// responses.
    pub rewrite_model: bool,
    /// Append ` (via rust plugin)` to error messages.
    pub annotate_errors: bool,
    /// Record hook markers in the context.
    pub mark_context: bool,
    /// The rate limiter; off when absent.
    pub rate_limit: Option<RateLimitConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mock: true,
            mock_model: "mock-model".to_string(),
            rewrite_model: true,
            annotate_errors: true,
            mark_context: true,
            rate_limit: None,
        }
    }
}

/// A request budget per key, for the life of the plugin instance.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    /// Requests each key may make.
    pub budget: u64,
    /// Context value that names the key (Bifrost's virtual key by default).
    pub key_from: String,
    /// Key used when the context has no such value.
    pub default_key: String,
    /// At most this many distinct keys are tracked; further keys share one overflow budget.
    pub max_keys: usize,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            budget: 0,
            key_from: VIRTUAL_KEY.to_string(),
            default_key: "anonymous".to_string(),
            max_keys: 10_000,
        }
    }
}

const OVERFLOW_KEY: &str = "\u{0}overflow";

/// Counts requests per key against a fixed budget.
#[derive(Debug, Default)]
pub struct RateLimiter {
    config: RateLimitConfig,
    used: BTreeMap<String, u64>,
}

impl RateLimiter {
    /// A limiter with `config`.
    pub fn new(config: RateLimitConfig) -> Self {
        RateLimiter {
            config,
            used: BTreeMap::new(),
        }
    }

    /// The key a request is counted under.
    pub fn key_for(&self, context: &BifrostContext) -> String {
        let key = &self.config.key_from;
        match (context.get_string(key), context.get_raw(key)) {
            (Some(s), _) if !s.is_empty() => s.to_string(),
            (None, Some(raw)) if JsonKind::of(raw) == JsonKind::Number => raw.to_string(),
            _ => self.config.default_key.clone(),
        }
    }

    /// Takes one request from `key`'s budget; returns the remaining budget, or `None` when
    /// the budget is spent (nothing is taken then).
    pub fn take(&mut self, key: &str) -> Option<u64> {
        let key = if self.used.contains_key(key) || self.used.len() < self.config.max_keys {
            key
        } else {
            OVERFLOW_KEY
        };
        let used = self.used.entry(key.to_string()).or_insert(0);
        if *used >= self.config.budget {
            return None;
        }
        *used += 1;
        Some(self.config.budget - *used)
    }
}

/// The hello-world plugin.
#[derive(Debug)]
pub struct HelloWorld {
    config: Config,
    limiter: Option<RateLimiter>,
}

/// The text of every mock answer.
pub const MOCK_TEXT: &str = "This is a mock response!";

/// The seed's mock answer for `request_id` (a chat request).
pub fn mock_response(request_id: &str, model: &str) -> BifrostChatResponse {
    BifrostChatResponse {
        id: format!("mock-{request_id}"),
        model: model.to_string(),
        choices: vec![ResponseChoice {
            index: 0,
            message: Some(ChatMessage::text(ChatMessageRole::Assistant, MOCK_TEXT)),
            finish_reason: Some("stop".to_string()),
            ..Default::default()
        }],
        usage: Some(LlmUsage::new(10, 15, 25)),
        ..Default::default()
    }
}

/// The seed's mock answer for a text-completion request: the JSON text of an OpenAI text
/// completion.
pub fn mock_text_completion(request_id: &str, model: &str) -> String {
    format!(
        r#"{{"id":{},"object":"text_completion","created":0,"model":{},"choices":[{{"text":{},"index":0,"logprobs":null,"finish_reason":"stop"}}],"usage":{{"prompt_tokens":10,"completion_tokens":15,"total_tokens":25}}}}"#,
        quote(&format!("mock-{request_id}")),
        quote(model),
        quote(MOCK_TEXT),
    )
}

/// The seed's mock answer for a Responses-API request: the JSON text of a completed response
/// with one assistant message.
pub fn mock_responses_response(request_id: &str, model: &str) -> String {
    format!(
        r#"{{"id":{},"object":"response","created_at":0,"model":{},"status":"completed","output":[{{"type":"message","id":{},"role":"assistant","status":"completed","content":[{{"type":"output_text","text":{},"annotations":[]}}]}}],"usage":{{"input_tokens":10,"output_tokens":15,"total_tokens":25}}}}"#,
        quote(&format!("mock-{request_id}")),
        quote(model),
        quote(&format!("msg-mock-{request_id}")),
        quote(MOCK_TEXT),
    )
}

/// The seed's rate-limit error.
pub fn rate_limit_error() -> BifrostError {
    BifrostError::new("Rate limit exceeded")
        .with_type("rate_limit")
        .with_code("429")
        .with_status(429)
}

impl Plugin for HelloWorld {
    const NAME: &'static str = "hello-world-wasm-rust";
    type Config = Config;

    fn new(config: Config) -> HookResult<Self> {
        let limiter = match &config.rate_limit {
            Some(rl) if rl.key_from.is_empty() => {
                return Err(HookError::new("rate_limit.key_from must name a context key"))
            }
            Some(rl) => Some(RateLimiter::new(rl.clone())),
            None => None,
        };
        Ok(HelloWorld { config, limiter })
    }

    fn http_pre_hook(&mut self, mut input: HttpPreHookInput) -> HookResult<HttpPreHookOutput> {
        if self.config.mark_context {
            input.context.set_value("http_pre_hook_seen", true);
        }
        Ok(input.pass_through())
    }

    fn pre_hook(&mut self, mut input: PreHookInput) -> HookResult<PreHookOutput> {
        if self.config.mark_context {
            input.context.set_value("plugin_processed", true);
            input.context.set_value("plugin_name", Self::NAME);
        }
        if let Some(limiter) = &mut self.limiter {
            let key = limiter.key_for(&input.context);
            match limiter.take(&key) {
                Some(remaining) => input.context.set_value("rate_limit_remaining", remaining),
                None => {
                    input.context.set_value("rate_limit_remaining", 0);
                    return Ok(input.short_circuit_error(&rate_limit_error()));
                }
            }
        }
        if self.config.mock && input.request.model().as_deref() == Some(self.config.mock_model.as_str()) {
            let id = input.context.request_id().unwrap_or_default().to_string();
            let model = &self.config.mock_model;
            return Ok(match input.request.kind() {
                RequestKind::Chat => input.short_circuit_response(&mock_response(&id, model)),
                RequestKind::TextCompletion => {
                    input.short_circuit_with_inner(&mock_text_completion(&id, model))?
                }
                RequestKind::Responses => {
                    input.short_circuit_with_inner(&mock_responses_response(&id, model))?
                }
                // Embeddings, speech, ...: no mock of that kind; the provider answers.
                _ => input.pass_through(),
            });
        }
        Ok(input.pass_through())
    }

    fn post_hook(&mut self, mut input: PostHookInput) -> HookResult<PostHookOutput> {
        if self.config.mark_context {
            input.context.set_value("post_hook_completed", true);
        }
        match &mut input.result {
            LlmResult::Error(error) if self.config.annotate_errors => {
                if let Some(message) = error.message() {
                    error.set_message(&format!("{message} (via rust plugin)"));
                }
            }
            LlmResult::Response(response) if self.config.rewrite_model => {
                let text_kind = matches!(
                    response.kind(),
                    Some(RequestKind::Chat | RequestKind::TextCompletion | RequestKind::Responses)
                );
                if let Some(model) = response.response_model().filter(|_| text_kind) {
                    response.set_response_field("model", &format!("{model} (via rust-wasm)"))?;
                }
            }
            _ => {}
        }
        Ok(input.pass_through())
    }

    fn http_post_hook(&mut self, mut input: HttpPostHookInput) -> HookResult<HttpPostHookOutput> {
        if self.config.mark_context {
            input.context.set_value("http_post_hook_seen", true);
        }
        Ok(input.pass_through())
    }

    fn http_stream_chunk_hook(&mut self, mut input: StreamChunkInput) -> HookResult<StreamChunkOutput> {
        if self.config.mark_context {
            let seen = input.context.get_i64("stream_chunks_seen").unwrap_or(0);
            input.context.set_value("stream_chunks_seen", seen + 1);
        }
        Ok(input.pass_through())
    }
}

bifrost_wasm_sdk::export_plugin!(HelloWorld);
