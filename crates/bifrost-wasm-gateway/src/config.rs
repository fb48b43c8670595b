//! Bifrost's `config.json` as the gateway reads it: the `plugins` array (parsed by
//! [`bifrost_wasm_chain::config`]) plus the gateway's own `gateway` section (listen address,
//! request shape, provider, limits).
//!
//! ```json
//! {
//!   "plugins": [
//!     {"path": "build/hello-world.wasm", "name": "hello-world", "enabled": true,
//!      "config": {"custom_option": "value"}, "placement": "post_builtin", "order": 0,
//!      "failure_policy": "fail_open", "pool": null}
//!   ],
//!   "gateway": {
//!     "listen": "127.0.0.1:8080",
//!     "request_shape": "go-envelope",
//!     "provider": {"kind": "mock"},
//!     "limits": {"max_body_bytes": 33554432}
//!   }
//! }
//! ```
//!
//! An upstream instead of the mock: `{"kind": "openai_compatible", "base_url":
//! "https://api.openai.com/v1", "api_key_env": "OPENAI_API_KEY", "connect_timeout_ms": 10000,
//! "first_byte_timeout_ms": 120000, "stream_idle_timeout_ms": 60000, "timeout_ms": 300000}`
//! (those are the defaults). When a timeout fires the client gets Bifrost's error JSON with
//! status 504 and type `upstream_timeout`, saying which timeout it was, and the post hooks
//! see that error; a stream that stalls ends with it as its last event.
//!
//! Everything else at the top level of the file (Bifrost's `providers`, `client`, ...) is
//! ignored, so one file can serve both Bifrost and the local gateway. [`FileConfig::parse`]
//! reports every mistake with where it is (`plugins[2] ("redact").placement`,
//! `gateway.provider`) and what would be accepted.

use std::net::SocketAddr;
use std::path::Path;

use bifrost_wasm_chain::config::{order_entries, parse_entries, resolve_paths, strip_position, truncate};
pub use bifrost_wasm_chain::config::{ConfigError, FailurePolicy, Placement, PluginEntry};
pub use bifrost_wasm_chain::RequestShape;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// Default request body limit of the gateway: 32 MiB (long-context requests are real).
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Default listen address of the gateway.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Which LLM provider the gateway calls.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ProviderConfig {
    /// The embedded deterministic mock: no network, no key. Echoes the last user message.
    Mock {
        /// Provider name used when a request's `model` has no `provider/` prefix (default `mock`).
        #[serde(default = "default_mock_name")]
        name: String,
    },
    /// Any OpenAI-compatible HTTP API.
    OpenaiCompatible {
        /// Provider name used when a request's `model` has no `provider/` prefix (default `openai`).
        #[serde(default = "default_upstream_name")]
        name: String,
        /// Base URL up to and including the version, e.g. `https://api.openai.com/v1`.
        base_url: String,
        /// Name of the environment variable that holds the API key (default `OPENAI_API_KEY`).
        /// An unset variable means requests are sent without `Authorization`.
        #[serde(default = "default_key_env")]
        api_key_env: String,
        /// Timeout of one upstream request as a whole, in milliseconds (default 300000).
        #[serde(default = "default_upstream_timeout_ms")]
        timeout_ms: u64,
        /// How long connecting to the upstream may take, in milliseconds (default 10000).
        #[serde(default = "default_connect_timeout_ms")]
        connect_timeout_ms: u64,
        /// How long the upstream may take to start answering (its response headers) once the
        /// request is sent, in milliseconds (default 120000: a non-streaming completion's
        /// headers come when it is done).
        #[serde(default = "default_first_byte_timeout_ms")]
        first_byte_timeout_ms: u64,
        /// Longest silence between two pieces of a stream, in milliseconds (default 60000).
        #[serde(default = "default_stream_idle_timeout_ms")]
        stream_idle_timeout_ms: u64,
        /// Base URL of an Anthropic-compatible API for `/anthropic/v1/messages`, e.g.
        /// `https://api.anthropic.com` (requests go to `{url}/v1/messages`). Unset: Anthropic
        /// Messages are sent as Responses requests to `{base_url}/responses`.
        #[serde(default)]
        anthropic_base_url: Option<String>,
        /// Environment variable holding the Anthropic API key, sent as `x-api-key` (default
        /// `ANTHROPIC_API_KEY`).
        #[serde(default = "default_anthropic_key_env")]
        anthropic_api_key_env: String,
    },
}

/// The upstream's timeouts, in the config's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamTimeouts {
    /// The whole request (`timeout_ms`).
    pub total: std::time::Duration,
    /// Connecting (`connect_timeout_ms`).
    pub connect: std::time::Duration,
    /// To the response headers (`first_byte_timeout_ms`).
    pub first_byte: std::time::Duration,
    /// Between two pieces of a stream (`stream_idle_timeout_ms`).
    pub stream_idle: std::time::Duration,
}

impl Default for UpstreamTimeouts {
    fn default() -> Self {
        let ms = std::time::Duration::from_millis;
        UpstreamTimeouts {
            total: ms(default_upstream_timeout_ms()),
            connect: ms(default_connect_timeout_ms()),
            first_byte: ms(default_first_byte_timeout_ms()),
            stream_idle: ms(default_stream_idle_timeout_ms()),
        }
    }
}

fn default_mock_name() -> String {
    "mock".to_string()
}
fn default_upstream_name() -> String {
    "openai".to_string()
}
fn default_anthropic_key_env() -> String {
    "ANTHROPIC_API_KEY".into()
}

fn default_key_env() -> String {
    "OPENAI_API_KEY".to_string()
}
fn default_upstream_timeout_ms() -> u64 {
    300_000
}
fn default_connect_timeout_ms() -> u64 {
    10_000
}
fn default_first_byte_timeout_ms() -> u64 {
    120_000
}
fn default_stream_idle_timeout_ms() -> u64 {
    60_000
}

impl Default for ProviderConfig {
    fn default() -> Self {
        ProviderConfig::Mock {
            name: default_mock_name(),
        }
    }
}

impl ProviderConfig {
    /// An OpenAI-compatible upstream at `base_url` with every other setting at its default
    /// (key from `OPENAI_API_KEY`, the default timeouts, no Anthropic-compatible API).
    pub fn openai_compatible(base_url: impl Into<String>) -> ProviderConfig {
        ProviderConfig::OpenaiCompatible {
            name: default_upstream_name(),
            base_url: base_url.into(),
            api_key_env: default_key_env(),
            timeout_ms: default_upstream_timeout_ms(),
            connect_timeout_ms: default_connect_timeout_ms(),
            first_byte_timeout_ms: default_first_byte_timeout_ms(),
            stream_idle_timeout_ms: default_stream_idle_timeout_ms(),
            anthropic_base_url: None,
            anthropic_api_key_env: default_anthropic_key_env(),
        }
    }

    /// An upstream's timeouts (`None` for the mock).
    pub fn upstream_timeouts(&self) -> Option<UpstreamTimeouts> {
        match self {
            ProviderConfig::Mock { .. } => None,
            ProviderConfig::OpenaiCompatible {
                timeout_ms,
                connect_timeout_ms,
                first_byte_timeout_ms,
                stream_idle_timeout_ms,
                ..
            } => {
                let ms = std::time::Duration::from_millis;
                Some(UpstreamTimeouts {
                    total: ms(*timeout_ms),
                    connect: ms(*connect_timeout_ms),
                    first_byte: ms(*first_byte_timeout_ms),
                    stream_idle: ms(*stream_idle_timeout_ms),
                })
            }
        }
    }

    /// The name used for requests whose `model` has no `provider/` prefix.
    pub fn name(&self) -> &str {
        match self {
            ProviderConfig::Mock { name } | ProviderConfig::OpenaiCompatible { name, .. } => name,
        }
    }
}

/// Limits of the gateway and of plugin calls. `None` means the host's default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest accepted request body in bytes (default 32 MiB).
    pub max_body_bytes: usize,
    /// Per-call wall-clock deadline of a plugin hook, in milliseconds.
    pub hook_timeout_ms: Option<u64>,
    /// Linear memory cap of one plugin instance, in bytes.
    pub max_memory_bytes: Option<u64>,
    /// Largest output a hook may return, in bytes.
    pub max_output_bytes: Option<u64>,
    /// Requests handled at once (a stream counts until it ends); past it the gateway answers
    /// 503 with `Retry-After` at once instead of queueing (default 1024).
    pub max_concurrent_requests: usize,
    /// How long a client may take to send a request's headers before the connection is
    /// dropped, in milliseconds (default 10000; a slowloris client holds nothing longer).
    pub header_read_timeout_ms: u64,
    /// Largest request head (request line and headers) in bytes; a larger one is answered 431
    /// (default 65536; at least 8192).
    pub max_header_bytes: usize,
}

/// Default of [`LimitsConfig::max_concurrent_requests`].
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 1024;
/// Default of [`LimitsConfig::header_read_timeout_ms`].
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// Default of [`LimitsConfig::max_header_bytes`].
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            hook_timeout_ms: None,
            max_memory_bytes: None,
            max_output_bytes: None,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            header_read_timeout_ms: DEFAULT_HEADER_READ_TIMEOUT_MS,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
        }
    }
}

/// The gateway's own section (`"gateway"` at the top level of config.json).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySection {
    /// Listen address (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// Which request shape is sent to plugins (`go-envelope`, `flat` or `snake`; default Go envelope).
    #[serde(deserialize_with = "de_shape")]
    pub request_shape: RequestShape,
    /// The LLM provider.
    pub provider: ProviderConfig,
    /// Limits.
    pub limits: LimitsConfig,
    /// Gateway keys: when set, every request but `/health` must carry one, as
    /// `Authorization: Bearer <key>` or `x-bf-vk: <key>`. Required to listen on a
    /// non-loopback address (unless `--allow-unauthenticated`).
    pub keys: Vec<String>,
}

impl Default for GatewaySection {
    fn default() -> Self {
        GatewaySection {
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            request_shape: RequestShape::default(),
            provider: ProviderConfig::default(),
            limits: LimitsConfig::default(),
            keys: Vec::new(),
        }
    }
}

fn de_shape<'de, D: Deserializer<'de>>(d: D) -> Result<RequestShape, D::Error> {
    let name = String::deserialize(d)?;
    RequestShape::from_name(&name).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "unknown request shape `{name}`; expected \"go-envelope\", \"flat\" or \"snake\""
        ))
    })
}

/// A parsed config.json.
#[derive(Debug, Clone, Default)]
pub struct FileConfig {
    /// Every plugin entry in file order, including disabled ones.
    pub plugins: Vec<PluginEntry>,
    /// The gateway section (defaults when absent).
    pub gateway: GatewaySection,
}

#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    plugins: Option<Vec<Box<RawValue>>>,
    #[serde(default)]
    gateway: Option<Box<RawValue>>,
}

impl FileConfig {
    /// Reads and parses a config file; relative plugin paths are resolved against its folder.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(
                path.display().to_string(),
                format!("cannot read the config file: {e}"),
            )
        })?;
        let mut config = FileConfig::parse(&text).map_err(|mut e| {
            e.location = format!("{}: {}", path.display(), e.location);
            e
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        config.resolve_paths(base);
        Ok(config)
    }

    /// Parses config.json text. Paths are kept as written.
    pub fn parse(text: &str) -> Result<FileConfig, ConfigError> {
        let raw: RawFile = serde_json::from_str(text).map_err(|e| {
            ConfigError::new(
                "config.json",
                format!("not a valid config file ({e}); expected a JSON object with a `plugins` array"),
            )
        })?;
        let plugins = parse_entries(&raw.plugins.unwrap_or_default())?;
        let gateway = match raw.gateway {
            None => GatewaySection::default(),
            Some(raw) if raw.get() == "null" => GatewaySection::default(),
            Some(raw) => parse_gateway(&raw)?,
        };
        Ok(FileConfig { plugins, gateway })
    }

    /// Makes relative plugin paths relative to `base` (the config file's folder).
    pub fn resolve_paths(&mut self, base: &Path) {
        resolve_paths(&mut self.plugins, base);
    }

    /// The enabled plugins in chain order: `pre_builtin` before `post_builtin`, then by `order`
    /// (lower first); ties keep file order. Pre-hooks run in this order, post-hooks in reverse.
    pub fn ordered_plugins(&self) -> Vec<&PluginEntry> {
        order_entries(&self.plugins)
    }
}

fn parse_gateway(raw: &RawValue) -> Result<GatewaySection, ConfigError> {
    serde_json::from_str::<GatewaySection>(raw.get()).map_err(|e| {
        let text = e.to_string();
        let message = strip_position(&text);
        let fields = serde_json::from_str::<std::collections::BTreeMap<String, Box<RawValue>>>(
            raw.get(),
        )
        .unwrap_or_default();
        // Narrow the location to the sub-section that fails on its own.
        let sub = fields.iter().find_map(|(k, v)| {
            let bad = match k.as_str() {
                "listen" => serde_json::from_str::<SocketAddr>(v.get()).err().map(|e| e.to_string()),
                "request_shape" => serde_json::from_str::<String>(v.get())
                    .ok()
                    .and_then(|name| RequestShape::from_name(&name))
                    .is_none()
                    .then(|| format!("`{}` is not a request shape; expected \"go-envelope\", \"flat\" or \"snake\"", truncate(v.get(), 60))),
                "provider" => serde_json::from_str::<ProviderConfig>(v.get()).err().map(|e| {
                    format!(
                        "{}; expected {{\"kind\": \"mock\"}} or {{\"kind\": \"openai_compatible\", \"base_url\": \"https://...\", \"api_key_env\": \"OPENAI_API_KEY\"}}",
                        strip_position(&e.to_string())
                    )
                }),
                "limits" => serde_json::from_str::<LimitsConfig>(v.get()).err().map(|e| {
                    format!(
                        "{}; limits accept max_body_bytes, hook_timeout_ms, max_memory_bytes, max_output_bytes, \
                         max_concurrent_requests, header_read_timeout_ms, max_header_bytes",
                        strip_position(&e.to_string())
                    )
                }),
                _ => None,
            }?;
            Some((k.clone(), bad))
        });
        match sub {
            Some((field, msg)) => ConfigError::new(format!("gateway.{field}"), msg),
            None => ConfigError::new(
                "gateway",
                format!("{message}; the gateway section accepts listen, request_shape, provider, limits, keys"),
            ),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn plugin_entries_come_through_and_the_gateway_section_defaults() {
        let config = FileConfig::parse(
            r#"{"plugins":[{"path":"/path/to/hello-world.wasm","name":"hello-world-wasm-rust","enabled":true}]}"#,
        )
        .unwrap();
        assert_eq!(config.plugins[0].path, PathBuf::from("/path/to/hello-world.wasm"));
        assert_eq!(config.ordered_plugins().len(), 1);
        assert_eq!(config.gateway, GatewaySection::default());
        assert_eq!(config.gateway.limits.max_body_bytes, 32 * 1024 * 1024);
        // Entry mistakes are the chain's to report, with their place in the file.
        let err = FileConfig::parse(
            r#"{"plugins":[{"path":"a","name":"x","enabled":true},{"path":"b","name":"x","enabled":true}]}"#,
        )
        .unwrap_err();
        assert_eq!(err.location, r#"plugins[1] ("x")"#);
    }

    #[test]
    fn gateway_section_parses_all_fields() {
        let config = FileConfig::parse(
            r#"{"providers":{"openai":{}},"plugins":[{"path":"a","name":"x","enabled":true,"failure_policy":"fail_closed","pool":4}],
                "gateway":{"listen":"127.0.0.1:0","request_shape":"snake",
                  "provider":{"kind":"openai_compatible","base_url":"http://127.0.0.1:9/v1","api_key_env":"MY_KEY"},
                  "limits":{"max_body_bytes":1024,"hook_timeout_ms":50,"max_memory_bytes":1048576,"max_output_bytes":4096}}}"#,
        )
        .unwrap();
        assert_eq!(config.plugins[0].failure_policy, FailurePolicy::FailClosed);
        assert_eq!(config.plugins[0].pool, Some(4));
        let g = &config.gateway;
        assert_eq!(g.listen.port(), 0);
        assert_eq!(g.request_shape, RequestShape::Snake);
        assert_eq!(
            g.provider,
            ProviderConfig::OpenaiCompatible {
                name: "openai".into(),
                base_url: "http://127.0.0.1:9/v1".into(),
                api_key_env: "MY_KEY".into(),
                timeout_ms: 300_000,
                connect_timeout_ms: 10_000,
                first_byte_timeout_ms: 120_000,
                stream_idle_timeout_ms: 60_000,
                anthropic_base_url: None,
                anthropic_api_key_env: "ANTHROPIC_API_KEY".into(),
            }
        );
        assert_eq!(g.limits.max_body_bytes, 1024);
        assert_eq!(g.limits.hook_timeout_ms, Some(50));
    }

    #[test]
    fn gateway_errors_name_the_sub_section() {
        let err = FileConfig::parse(r#"{"gateway":{"request_shape":"xml"}}"#).unwrap_err();
        assert_eq!(err.location, "gateway.request_shape");
        let err = FileConfig::parse(r#"{"gateway":{"provider":{"kind":"openai_compatible"}}}"#).unwrap_err();
        assert_eq!(err.location, "gateway.provider");
        assert!(err.message.contains("base_url"), "{err}");
        let err = FileConfig::parse(r#"{"gateway":{"limits":{"max_body":1}}}"#).unwrap_err();
        assert_eq!(err.location, "gateway.limits");
        let err = FileConfig::parse(r#"{"gateway":{"listen":"nowhere"}}"#).unwrap_err();
        assert_eq!(err.location, "gateway.listen");
        let err = FileConfig::parse(r#"{"gateway":{"port":1}}"#).unwrap_err();
        assert_eq!(err.location, "gateway");
    }

    #[test]
    fn invalid_json_is_a_clear_error() {
        let err = FileConfig::parse("{plugins: []}").unwrap_err();
        assert!(err.message.contains("not a valid config file"), "{err}");
    }

    #[test]
    fn relative_paths_resolve_against_config_folder() {
        let mut config = FileConfig::parse(
            r#"{"plugins":[{"path":"build/a.wasm","name":"a","enabled":true},{"path":"/abs/b.wasm","name":"b","enabled":true}]}"#,
        )
        .unwrap();
        config.resolve_paths(Path::new("/etc/bifrost"));
        assert_eq!(config.plugins[0].path, PathBuf::from("/etc/bifrost/build/a.wasm"));
        assert_eq!(config.plugins[1].path, PathBuf::from("/abs/b.wasm"));
    }

    #[test]
    fn request_shape_accepts_kebab_and_snake_spellings() {
        for (text, shape) in [
            ("go-envelope", RequestShape::GoEnvelope),
            ("go_envelope", RequestShape::GoEnvelope),
            ("flat", RequestShape::Flat),
            ("snake", RequestShape::Snake),
        ] {
            let config =
                FileConfig::parse(&format!(r#"{{"gateway":{{"request_shape":"{text}"}}}}"#)).unwrap();
            assert_eq!(config.gateway.request_shape, shape, "{text}");
        }
    }
}
