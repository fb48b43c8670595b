//! `cache`: a Bifrost plugin that answers repeated chat requests from an in-plugin cache.
//!
//! * `pre_hook` computes the request's **key** (below). On a hit it short-circuits with the
//!   stored chat response, byte for byte, wrapped in the shape of the request (the provider
//!   is not called). On a miss it remembers request id → key and lets the request go on.
//! * `post_hook` looks the request id up and, when the request produced a complete chat
//!   response without error, stores that response under the key.
//! * The context gets `cache` (`hit`, `miss` or `bypass`), `cache_key` (hex) and, in
//!   `post_hook`, `cache_stored` (true or false).
//!
//! **The key** is the SHA-256 of a canonical JSON text of the normalised request: the inner
//! chat request whichever of the three shapes carried it (Go envelope, snake wrapper,
//! flat), with `fallbacks` and the configured `ignore_params` removed, object keys sorted,
//! numbers written by value (`1`, `1.0` and `1e0` are the same), plus the values of the
//! configured `key_context` keys (by default Bifrost's virtual key `x-bf-vk`, so tenants
//! never see each other's answers). Two requests with the same key are the same question.
//!
//! **Bounds**: at most `max_entries` responses and `max_total_bytes` bytes; the least
//! recently used entry is evicted first; a response larger than `max_entry_bytes` is not
//! stored. The request id → key map holds at most `max_pending` requests in flight (the
//! oldest is forgotten beyond that, and its response is then not stored).
//!
//! **Bypassed**: non-chat requests, streaming requests (`RequestType` ending in `_stream`,
//! or `stream: true`), and requests whose context has `cache_bypass: true`.
//!
//! The cache lives in the plugin instance: it is empty after a restart, not shared between
//! instances (run one instance per plugin, the gateway's default), and entries do not expire
//! by time (a `wasm32-unknown-unknown` plugin has no clock): size the bounds for the
//! staleness you accept, or send `cache_bypass`.

pub mod canonical;
pub mod lru;

use bifrost_wasm_sdk::prelude::*;
use sha2::{Digest, Sha256};

use crate::lru::Lru;

/// Context key set to `true` by an earlier plugin (or the host) to skip the cache.
pub const BYPASS_KEY: &str = "cache_bypass";

/// The plugin's configuration (every key optional).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Most responses kept (default 256).
    pub max_entries: usize,
    /// Most bytes kept over all responses (default 32 MiB).
    pub max_total_bytes: usize,
    /// Largest response kept, in bytes (default 1 MiB).
    pub max_entry_bytes: usize,
    /// Most requests in flight remembered between `pre_hook` and `post_hook` (default 1024).
    pub max_pending: usize,
    /// Parameters left out of the key (default none), e.g. `["user"]` to share answers
    /// across end users.
    pub ignore_params: Vec<String>,
    /// Context values made part of the key (default `["x-bf-vk"]`, Bifrost's virtual key).
    pub key_context: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_entries: 256,
            max_total_bytes: 32 << 20,
            max_entry_bytes: 1 << 20,
            max_pending: 1024,
            ignore_params: Vec::new(),
            key_context: vec![VIRTUAL_KEY.to_string()],
        }
    }
}

/// A cache key: SHA-256 of the canonical request.
pub type Key = [u8; 32];

/// Hex form of a key, as written to the context.
pub fn hex(key: &Key) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cache plugin.
#[derive(Debug)]
pub struct Cache {
    config: Config,
    entries: Lru,
    pending: RequestMap<Key>,
}

impl Cache {
    /// The key of `request` in `context`, or why the request is not cached.
    pub fn key_for(&self, request: &LlmRequest, context: &BifrostContext) -> Result<Key, String> {
        if context.get_bool(BYPASS_KEY) == Some(true) {
            return Err(format!("`{BYPASS_KEY}` is set"));
        }
        if !request.is_chat() {
            return Err(format!("{} requests are not cached", kind_name(&request.kind())));
        }
        if request.request_type().is_some_and(|t| t.ends_with("_stream")) {
            return Err("streaming requests are not cached".into());
        }
        let inner = request.inner().ok_or("the request has no chat request object")?;
        let mut value: Value =
            serde_json::from_str(inner).map_err(|e| format!("the request is not valid JSON: {e}"))?;
        let object = value.as_object_mut().ok_or("the chat request is not an object")?;
        let streaming = |v: Option<&Value>| v.and_then(Value::as_bool) == Some(true);
        if streaming(object.get("stream")) || streaming(object.get("params").and_then(|p| p.get("stream"))) {
            return Err("streaming requests are not cached".into());
        }
        object.remove("fallbacks");
        if let Some(Value::Object(params)) = object.get_mut("params") {
            for p in &self.config.ignore_params {
                params.remove(p);
            }
        }
        let mut text = String::with_capacity(inner.len() + 64);
        text.push_str("{\"context\":{");
        for (i, k) in self.config.key_context.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            canonical::write_string(k, &mut text);
            text.push(':');
            let value = context
                .get_as::<Value>(k)
                .and_then(Result::ok)
                .unwrap_or(Value::Null);
            canonical::write(&value, &mut text);
        }
        text.push_str("},\"request\":");
        canonical::write(&value, &mut text);
        text.push('}');
        Ok(Sha256::digest(text.as_bytes()).into())
    }
}

/// A request kind as the context reports it.
fn kind_name(kind: &RequestKind) -> &str {
    match kind {
        RequestKind::Chat => "chat",
        RequestKind::TextCompletion => "text completion",
        RequestKind::Responses => "responses",
        RequestKind::Embedding => "embedding",
        RequestKind::Speech => "speech",
        RequestKind::Transcription => "transcription",
        RequestKind::ImageGeneration => "image generation",
        RequestKind::Other(name) => name,
    }
}

/// True when a response is a stream chunk rather than a complete response.
fn is_chunk(response: &LlmResponse) -> bool {
    response.chat_field::<String>("object").as_deref() == Some("chat.completion.chunk")
}

impl Plugin for Cache {
    const NAME: &'static str = "cache";
    type Config = Config;

    fn new(config: Config) -> HookResult<Self> {
        if config.max_entries == 0 || config.max_total_bytes == 0 || config.max_entry_bytes == 0 {
            return Err(HookError::new(
                "max_entries, max_total_bytes and max_entry_bytes must be at least 1 (remove the plugin to turn caching off)",
            ));
        }
        if config.max_entry_bytes > config.max_total_bytes {
            return Err(HookError::new(format!(
                "max_entry_bytes ({}) cannot exceed max_total_bytes ({})",
                config.max_entry_bytes, config.max_total_bytes
            )));
        }
        Ok(Cache {
            entries: Lru::new(config.max_entries, config.max_total_bytes),
            pending: RequestMap::new(config.max_pending),
            config,
        })
    }

    fn pre_hook(&mut self, mut input: PreHookInput) -> HookResult<PreHookOutput> {
        let key = match self.key_for(&input.request, &input.context) {
            Ok(key) => key,
            Err(reason) => {
                input.context.set_value("cache", "bypass");
                input.context.set_value("cache_reason", reason);
                return Ok(input.pass_through());
            }
        };
        input.context.set_value("cache_key", hex(&key));
        if let Some(chat) = self.entries.get(&key) {
            let chat = chat.to_string();
            input.context.set_value("cache", "hit");
            return Ok(input.short_circuit_with_chat(&chat)?);
        }
        input.context.set_value("cache", "miss");
        // Without a request id there is no way to match the response: nothing is kept.
        let _ = self.pending.insert_for(&input.context, key);
        Ok(input.pass_through())
    }

    fn post_hook(&mut self, mut input: PostHookInput) -> HookResult<PostHookOutput> {
        if input.response().is_some_and(is_chunk) {
            return Ok(input.pass_through());
        }
        let Some(key) = self.pending.remove_for(&input.context) else {
            return Ok(input.pass_through());
        };
        // Only a complete response is stored; an error is not.
        let stored = match &input.result {
            LlmResult::Response(response) => {
                response
                    .chat_field::<Vec<Value>>("choices")
                    .is_some_and(|c| !c.is_empty())
                    && response.chat_raw().is_some_and(|chat| {
                        chat.len() <= self.config.max_entry_bytes && self.entries.put(key, chat.to_string())
                    })
            }
            LlmResult::Error(_) => false,
        };
        input.context.set_value("cache_stored", stored);
        Ok(input.pass_through())
    }

    fn cleanup(&mut self) -> HookResult<()> {
        self.entries.clear();
        self.pending.clear();
        Ok(())
    }
}

bifrost_wasm_sdk::export_plugin!(Cache);
