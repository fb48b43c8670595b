//! Bifrost's `config.json`: the `plugins` array, plus the gateway's own small sections.
//!
//! The plugin entries use Bifrost's `schemas.PluginConfig` shape
//! (`path`, `name`, `enabled`, `config`, `placement`, `order`, `version`) and accept two keys of ours:
//! `failure_policy` (`default` | `fail_open` | `fail_closed`) and `pool` (how many instances a
//! stateless plugin may use at once). Everything else at the top level of the file (Bifrost's
//! `providers`, `client`, ...) is ignored, so one file can serve both Bifrost and the local gateway.
//!
//! ```json
//! {
//!   "plugins": [
//!     {"path": "build/hello-world.wasm", "name": "hello-world", "enabled": true,
//!      "config": {"custom_option": "value"}, "placement": "post_builtin", "order": 0,
//!      "failure_policy": "fail_open"}
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
//! [`FileConfig::parse`] reports every mistake with the entry it is in (`plugins[2] ("redact")`)
//! and the field (`placement`), and what would be accepted.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

pub use bifrost_wasm_types::shape::RequestShape;

/// Default request body limit of the gateway: 32 MiB (long-context requests are real).
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Default listen address of the gateway.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// A configuration error: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ConfigError {
    /// Where the problem is, e.g. `plugins[1] ("rate-limit").placement` or `gateway.provider`.
    pub location: String,
    /// What is wrong and what would be accepted.
    pub message: String,
}

impl ConfigError {
    fn new(location: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            location: location.into(),
            message: message.into(),
        }
    }
}

/// Where Bifrost runs a plugin relative to its built-in plugins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// Before the built-in plugins (pre-hooks earlier, post-hooks later).
    PreBuiltin,
    /// After the built-in plugins (Bifrost's default).
    #[default]
    PostBuiltin,
}

/// What the chain does when a plugin fails (trap, timeout, limit, invalid output) or returns an error.
///
/// Every skip is logged at warn level with the plugin, the hook and the cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicy {
    /// Bifrost's behaviour: an LLM hook (`pre_hook`, `post_hook`) that fails or returns an error is
    /// logged and skipped; an HTTP hook that fails or returns an error answers with an error.
    #[default]
    Default,
    /// Skip the plugin on any failure of any hook (logged loudly as a bypass). An error the plugin
    /// *returns* keeps its default meaning.
    FailOpen,
    /// Any failure or returned error of any hook becomes an error answer to the client.
    FailClosed,
}

impl fmt::Display for FailurePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailurePolicy::Default => "default",
            FailurePolicy::FailOpen => "fail_open",
            FailurePolicy::FailClosed => "fail_closed",
        })
    }
}

/// One entry of the `plugins` array.
#[derive(Debug, Clone)]
pub struct PluginEntry {
    /// Local path of the `.wasm` file (relative paths are resolved against the config file's folder
    /// by [`FileConfig::resolve_paths`]).
    pub path: PathBuf,
    /// Display/config name (the registered name is what the plugin's `get_name` returns).
    pub name: String,
    /// Disabled entries are kept in [`FileConfig::plugins`] but skipped by [`FileConfig::ordered_plugins`].
    pub enabled: bool,
    /// The plugin's own configuration, exactly as written (passed to `init` byte for byte).
    /// `None` when the entry has no `config` key.
    pub config: Option<Box<RawValue>>,
    /// Placement group relative to Bifrost's built-in plugins.
    pub placement: Placement,
    /// Order inside the placement group (lower first; ties keep file order).
    pub order: i64,
    /// Bifrost's optional plugin version number.
    pub version: Option<i16>,
    /// What the chain does when this plugin fails.
    pub failure_policy: FailurePolicy,
    /// Instances the gateway may run at once for this plugin. `None` (the default) means one
    /// instance whose calls are serialised, so state lives in it; ask for a pool only for a
    /// stateless plugin.
    pub pool: Option<usize>,
    /// Position in the file's `plugins` array.
    pub index: usize,
}

impl PluginEntry {
    /// The plugin's config as bytes for `init` (empty when the entry has none).
    pub fn config_bytes(&self) -> &[u8] {
        self.config.as_deref().map_or(&[][..], |c| c.get().as_bytes())
    }

    /// `plugins[1] ("rate-limit")`: how errors name this entry.
    pub fn location(&self) -> String {
        entry_location(self.index, Some(&self.name))
    }
}

fn entry_location(index: usize, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("plugins[{index}] ({name:?})"),
        None => format!("plugins[{index}]"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    path: Option<PathBuf>,
    name: Option<String>,
    enabled: Option<bool>,
    config: Option<Box<RawValue>>,
    placement: Option<Placement>,
    order: Option<i64>,
    version: Option<i16>,
    failure_policy: Option<FailurePolicy>,
    pool: Option<usize>,
}

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
        /// Timeout of one upstream request in milliseconds (default 300000).
        #[serde(default = "default_upstream_timeout_ms")]
        timeout_ms: u64,
    },
}

fn default_mock_name() -> String {
    "mock".to_string()
}
fn default_upstream_name() -> String {
    "openai".to_string()
}
fn default_key_env() -> String {
    "OPENAI_API_KEY".to_string()
}
fn default_upstream_timeout_ms() -> u64 {
    300_000
}

impl Default for ProviderConfig {
    fn default() -> Self {
        ProviderConfig::Mock {
            name: default_mock_name(),
        }
    }
}

impl ProviderConfig {
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
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            hook_timeout_ms: None,
            max_memory_bytes: None,
            max_output_bytes: None,
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
}

impl Default for GatewaySection {
    fn default() -> Self {
        GatewaySection {
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            request_shape: RequestShape::default(),
            provider: ProviderConfig::default(),
            limits: LimitsConfig::default(),
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
        let mut plugins = Vec::new();
        for (index, entry) in raw.plugins.unwrap_or_default().iter().enumerate() {
            plugins.push(parse_entry(index, entry)?);
        }
        let gateway = match raw.gateway {
            None => GatewaySection::default(),
            Some(raw) if raw.get() == "null" => GatewaySection::default(),
            Some(raw) => parse_gateway(&raw)?,
        };
        let mut names = std::collections::HashMap::new();
        for entry in plugins.iter().filter(|e| e.enabled) {
            if let Some(first) = names.insert(entry.name.clone(), entry.index) {
                return Err(ConfigError::new(
                    entry.location(),
                    format!(
                        "the name is already used by plugins[{first}]; give each enabled plugin its own name"
                    ),
                ));
            }
        }
        Ok(FileConfig { plugins, gateway })
    }

    /// Makes relative plugin paths relative to `base` (the config file's folder).
    pub fn resolve_paths(&mut self, base: &Path) {
        for entry in &mut self.plugins {
            if entry.path.is_relative() {
                entry.path = base.join(&entry.path);
            }
        }
    }

    /// The enabled plugins in chain order: `pre_builtin` before `post_builtin`, then by `order`
    /// (lower first); ties keep file order. Pre-hooks run in this order, post-hooks in reverse.
    pub fn ordered_plugins(&self) -> Vec<&PluginEntry> {
        order_entries(&self.plugins)
    }
}

/// Orders enabled entries as Bifrost does: placement group, then `order`, ties in file order.
pub fn order_entries(entries: &[PluginEntry]) -> Vec<&PluginEntry> {
    let mut enabled: Vec<&PluginEntry> = entries.iter().filter(|e| e.enabled).collect();
    // A stable sort keeps file order for ties.
    enabled.sort_by_key(|e| (e.placement, e.order));
    enabled
}

fn field_of_serde_message(message: &str) -> Option<&str> {
    // serde's messages name the field as `name` in backticks for unknown/missing fields.
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(&message[start..end])
}

fn parse_entry(index: usize, raw: &RawValue) -> Result<PluginEntry, ConfigError> {
    // Find the name first so every later error can mention it.
    #[derive(Deserialize)]
    struct NameOnly {
        name: Option<serde_json::Value>,
    }
    let name_hint = serde_json::from_str::<NameOnly>(raw.get())
        .ok()
        .and_then(|n| n.name)
        .and_then(|v| v.as_str().map(str::to_owned));
    let location = entry_location(index, name_hint.as_deref());
    if !raw.get().trim_start().starts_with('{') {
        return Err(ConfigError::new(
            location,
            format!(
                "expected an object like {{\"path\": \"plugin.wasm\", \"name\": \"my-plugin\", \"enabled\": true}}, found `{}`",
                truncate(raw.get(), 60)
            ),
        ));
    }
    let entry: RawEntry = serde_json::from_str(raw.get()).map_err(|e| {
        let text = e.to_string();
        let message = strip_position(&text);
        match field_of_serde_message(message) {
            Some(field) if message.starts_with("unknown field") => ConfigError::new(
                format!("{location}.{field}"),
                "unknown field; plugin entries accept path, name, enabled, config, placement, order, \
                 version, failure_policy, pool",
            ),
            _ => ConfigError::new(location.clone(), describe_entry_error(raw.get(), message)),
        }
    })?;
    let name = match entry.name {
        Some(name) if !name.trim().is_empty() => name,
        _ => {
            return Err(ConfigError::new(
                format!("{location}.name"),
                "missing or empty; every plugin entry needs a name",
            ))
        }
    };
    let path = match entry.path {
        Some(path) if !path.as_os_str().is_empty() => path,
        _ => {
            return Err(ConfigError::new(
                format!("{location}.path"),
                "missing or empty; give the path of the plugin's .wasm file",
            ))
        }
    };
    if let Some(url) = path
        .to_str()
        .filter(|p| p.starts_with("http://") || p.starts_with("https://"))
    {
        return Err(ConfigError::new(
            format!("{location}.path"),
            format!("`{url}` is a URL; the local gateway loads plugins from local files only: download it and give its path"),
        ));
    }
    if entry.pool == Some(0) {
        return Err(ConfigError::new(
            format!("{location}.pool"),
            "must be at least 1 (leave it out for one stateful instance)",
        ));
    }
    let config = entry.config.filter(|c| c.get() != "null");
    Ok(PluginEntry {
        path,
        name,
        enabled: entry.enabled.unwrap_or(false),
        config,
        placement: entry.placement.unwrap_or_default(),
        order: entry.order.unwrap_or(0),
        version: entry.version,
        failure_policy: entry.failure_policy.unwrap_or_default(),
        pool: entry.pool,
        index,
    })
}

/// Says which field a type error is about by re-parsing each known field on its own.
fn describe_entry_error(raw: &str, message: &str) -> String {
    let Ok(fields) = serde_json::from_str::<std::collections::BTreeMap<String, Box<RawValue>>>(raw) else {
        return message.to_string();
    };
    let check = |field: &str, value: &RawValue| -> Option<String> {
        let v = value.get();
        let ok = match field {
            "path" | "name" => serde_json::from_str::<Option<String>>(v).is_ok(),
            "enabled" => serde_json::from_str::<Option<bool>>(v).is_ok(),
            "placement" => serde_json::from_str::<Option<Placement>>(v).is_ok(),
            "order" => serde_json::from_str::<Option<i64>>(v).is_ok(),
            "version" => serde_json::from_str::<Option<i16>>(v).is_ok(),
            "failure_policy" => serde_json::from_str::<Option<FailurePolicy>>(v).is_ok(),
            "pool" => serde_json::from_str::<Option<usize>>(v).is_ok(),
            _ => true,
        };
        if ok {
            return None;
        }
        let expected = match field {
            "path" => "a file path string",
            "name" => "a string",
            "enabled" => "true or false",
            "placement" => "\"pre_builtin\" or \"post_builtin\"",
            "order" => "an integer",
            "version" => "an integer between -32768 and 32767",
            "failure_policy" => "\"default\", \"fail_open\" or \"fail_closed\"",
            "pool" => "a positive integer",
            _ => "a valid value",
        };
        Some(format!("`{field}` is `{}`; expected {expected}", truncate(v, 60)))
    };
    for (field, value) in &fields {
        if let Some(m) = check(field, value) {
            return m;
        }
    }
    message.to_string()
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
                        "{}; limits accept max_body_bytes, hook_timeout_ms, max_memory_bytes, max_output_bytes",
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
                format!("{message}; the gateway section accepts listen, request_shape, provider, limits"),
            ),
        }
    })
}

fn strip_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(config: &FileConfig) -> Vec<&str> {
        config.ordered_plugins().iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn seed_example_entry_parses_with_defaults() {
        let config = FileConfig::parse(
            r#"{"plugins":[{"path":"/path/to/hello-world.wasm","name":"hello-world-wasm-rust","enabled":true,"config":{"custom_option":"value"}}]}"#,
        )
        .unwrap();
        let entry = &config.plugins[0];
        assert_eq!(entry.path, PathBuf::from("/path/to/hello-world.wasm"));
        assert_eq!(entry.placement, Placement::PostBuiltin);
        assert_eq!(entry.order, 0);
        assert_eq!(entry.failure_policy, FailurePolicy::Default);
        assert_eq!(entry.pool, None);
        assert_eq!(entry.config_bytes(), br#"{"custom_option":"value"}"#);
        assert_eq!(config.gateway, GatewaySection::default());
        assert_eq!(config.gateway.limits.max_body_bytes, 32 * 1024 * 1024);
    }

    #[test]
    fn plugin_config_is_kept_byte_for_byte_including_big_integers() {
        let config = FileConfig::parse(
            r#"{"plugins":[{"path":"a.wasm","name":"a","enabled":true,"config":{"limit": 123456789012345678901234567890, "x": 1.0}}]}"#,
        )
        .unwrap();
        assert_eq!(
            config.plugins[0].config_bytes(),
            br#"{"limit": 123456789012345678901234567890, "x": 1.0}"#
        );
    }

    #[test]
    fn null_or_missing_config_gives_empty_init_bytes() {
        let config = FileConfig::parse(
            r#"{"plugins":[{"path":"a.wasm","name":"a","enabled":true,"config":null},{"path":"b.wasm","name":"b","enabled":true}]}"#,
        )
        .unwrap();
        assert!(config.plugins.iter().all(|p| p.config_bytes().is_empty()));
    }

    #[test]
    fn ordering_is_placement_then_order_then_file_order_and_disabled_are_skipped() {
        let config = FileConfig::parse(
            r#"{"plugins":[
                {"path":"a.wasm","name":"post-5","enabled":true,"order":5},
                {"path":"a.wasm","name":"post-0-first","enabled":true},
                {"path":"a.wasm","name":"pre-9","enabled":true,"placement":"pre_builtin","order":9},
                {"path":"a.wasm","name":"disabled","enabled":false,"placement":"pre_builtin","order":-100},
                {"path":"a.wasm","name":"post-0-second","enabled":true,"order":0},
                {"path":"a.wasm","name":"pre-minus-1","enabled":true,"placement":"pre_builtin","order":-1},
                {"path":"a.wasm","name":"post-minus-3","enabled":true,"placement":"post_builtin","order":-3}
            ]}"#,
        )
        .unwrap();
        assert_eq!(
            names(&config),
            [
                "pre-minus-1",
                "pre-9",
                "post-minus-3",
                "post-0-first",
                "post-0-second",
                "post-5"
            ]
        );
        assert_eq!(config.plugins.len(), 7);
    }

    #[test]
    fn enabled_defaults_to_false_like_go_zero_value() {
        let config = FileConfig::parse(r#"{"plugins":[{"path":"a.wasm","name":"a"}]}"#).unwrap();
        assert!(names(&config).is_empty());
    }

    #[test]
    fn bad_placement_names_entry_field_and_accepted_values() {
        let err = FileConfig::parse(
            r#"{"plugins":[{"path":"a.wasm","name":"ok","enabled":true},{"path":"b.wasm","name":"limiter","enabled":true,"placement":"middle"}]}"#,
        )
        .unwrap_err();
        assert_eq!(err.location, r#"plugins[1] ("limiter")"#);
        assert!(err.message.contains("`placement`"), "{err}");
        assert!(err.message.contains("pre_builtin"), "{err}");
    }

    #[test]
    fn unknown_entry_field_is_reported_with_its_name() {
        let err = FileConfig::parse(
            r#"{"plugins":[{"path":"a.wasm","name":"a","enabled":true,"failur_policy":"fail_open"}]}"#,
        )
        .unwrap_err();
        assert_eq!(err.location, r#"plugins[0] ("a").failur_policy"#);
        assert!(err.message.contains("failure_policy"), "{err}");
    }

    #[test]
    fn missing_name_and_path_are_reported() {
        let err = FileConfig::parse(r#"{"plugins":[{"path":"a.wasm","enabled":true}]}"#).unwrap_err();
        assert_eq!(err.location, "plugins[0].name");
        let err = FileConfig::parse(r#"{"plugins":[{"name":"x","enabled":true}]}"#).unwrap_err();
        assert_eq!(err.location, r#"plugins[0] ("x").path"#);
    }

    #[test]
    fn wrong_types_are_reported_per_field() {
        for (entry, field) in [
            (r#"{"path":"a","name":"x","enabled":"yes"}"#, "`enabled`"),
            (r#"{"path":"a","name":"x","order":"first"}"#, "`order`"),
            (r#"{"path":"a","name":"x","version":70000}"#, "`version`"),
            (
                r#"{"path":"a","name":"x","failure_policy":"open"}"#,
                "`failure_policy`",
            ),
            (r#"{"path":"a","name":"x","pool":-1}"#, "`pool`"),
        ] {
            let err = FileConfig::parse(&format!(r#"{{"plugins":[{entry}]}}"#)).unwrap_err();
            assert_eq!(err.location, r#"plugins[0] ("x")"#, "{entry}");
            assert!(err.message.contains(field), "{entry}: {err}");
        }
    }

    #[test]
    fn non_object_entry_and_zero_pool_and_url_paths_are_rejected() {
        let err = FileConfig::parse(r#"{"plugins":["a.wasm"]}"#).unwrap_err();
        assert_eq!(err.location, "plugins[0]");
        let err = FileConfig::parse(r#"{"plugins":[{"path":"a","name":"x","pool":0}]}"#).unwrap_err();
        assert_eq!(err.location, r#"plugins[0] ("x").pool"#);
        let err = FileConfig::parse(r#"{"plugins":[{"path":"https://x/p.wasm","name":"x"}]}"#).unwrap_err();
        assert_eq!(err.location, r#"plugins[0] ("x").path"#);
    }

    #[test]
    fn duplicate_enabled_names_are_rejected() {
        let err = FileConfig::parse(
            r#"{"plugins":[{"path":"a","name":"x","enabled":true},{"path":"b","name":"x","enabled":true}]}"#,
        )
        .unwrap_err();
        assert_eq!(err.location, r#"plugins[1] ("x")"#);
        assert!(err.message.contains("plugins[0]"));
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
                timeout_ms: 300_000
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
