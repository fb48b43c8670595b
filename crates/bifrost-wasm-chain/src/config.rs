//! The plugin entries of Bifrost's `config.json`: which plugins run, in which order, with
//! which configuration and failure policy.
//!
//! The entries use Bifrost's `schemas.PluginConfig` shape (`path`, `name`, `enabled`,
//! `config`, `placement`, `order`, `version`) and accept two keys of ours: `failure_policy`
//! (`default` | `fail_open` | `fail_closed`, see [`FailurePolicy`]) and `pool` (how many
//! instances a stateless plugin may use at once; without it the plugin has one instance, so
//! its state stays consistent). [`parse_plugins`] reports every mistake with the entry it is in
//! (`plugins[2] ("redact")`) and the field (`placement`), and what would be accepted.
//!
//! ```
//! use bifrost_wasm_chain::config::{order_entries, parse_plugins};
//!
//! let entries = parse_plugins(r#"[
//!     {"path": "build/hello-world.wasm", "name": "hello-world", "enabled": true,
//!      "config": {"custom_option": "value"}, "placement": "post_builtin", "order": 0,
//!      "failure_policy": "fail_open"},
//!     {"path": "build/redact.wasm", "name": "redact", "enabled": true,
//!      "placement": "pre_builtin", "pool": 4}
//! ]"#).unwrap();
//! let names: Vec<&str> = order_entries(&entries).iter().map(|e| e.name.as_str()).collect();
//! assert_eq!(names, ["redact", "hello-world"]);
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::value::RawValue;

/// A configuration error: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where the problem is, e.g. `plugins[1] ("rate-limit").placement` or `gateway.provider`.
    pub location: String,
    /// What is wrong and what would be accepted.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// An error at `location` (e.g. `gateway.provider`) saying `message`.
    pub fn new(location: impl Into<String>, message: impl Into<String>) -> Self {
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
    /// by [`resolve_paths`]).
    pub path: PathBuf,
    /// Display/config name (the registered name is what the plugin's `get_name` returns).
    pub name: String,
    /// Disabled entries are kept by [`parse_plugins`] but skipped by [`order_entries`].
    pub enabled: bool,
    /// The plugin's own configuration, exactly as written (passed to `init` byte for byte,
    /// `"config": null` as the four bytes `null`, as `bifrost-wasm call --config null` sends
    /// them). `None` when the entry has no `config` key: `init` then gets length 0.
    pub config: Option<Box<RawValue>>,
    /// Placement group relative to Bifrost's built-in plugins.
    pub placement: Placement,
    /// Order inside the placement group (lower first; ties keep file order).
    pub order: i64,
    /// Bifrost's optional plugin version number.
    pub version: Option<i16>,
    /// What the chain does when this plugin fails.
    pub failure_policy: FailurePolicy,
    /// Instances that may serve this plugin's hooks at once (config key `pool`). `None` (the
    /// default) means one instance whose calls take turns, so its state stays consistent; ask
    /// for a pool only for a stateless plugin.
    pub pool: Option<usize>,
    /// Position in the file's `plugins` array.
    pub index: usize,
}

impl PluginEntry {
    /// The plugin's config as bytes for `init`: the value's JSON text as written (`null`
    /// included), empty when the entry has no `config` key.
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
    /// `Some("null")` for `"config": null`: what is written is what `init` gets.
    #[serde(default, deserialize_with = "present")]
    config: Option<Box<RawValue>>,
    placement: Option<Placement>,
    order: Option<i64>,
    version: Option<i16>,
    failure_policy: Option<FailurePolicy>,
    pool: Option<usize>,
}

/// A member that is present, `null` included (serde's `Option` would read `null` as absent).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(deserializer).map(Some)
}

/// Parses the `plugins` array of a config file (its JSON text). Paths are kept as written;
/// enabled entries must have distinct names.
pub fn parse_plugins(text: &str) -> Result<Vec<PluginEntry>, ConfigError> {
    let raw: Vec<Box<RawValue>> = serde_json::from_str(text).map_err(|e| {
        ConfigError::new(
            "plugins",
            format!(
                "not a list of plugin entries ({}); expected an array of objects",
                strip_position(&e.to_string())
            ),
        )
    })?;
    parse_entries(&raw)
}

/// Parses plugin entries already split out of a config file (each entry's JSON text).
pub fn parse_entries(raw: &[Box<RawValue>]) -> Result<Vec<PluginEntry>, ConfigError> {
    let mut plugins = Vec::with_capacity(raw.len());
    for (index, entry) in raw.iter().enumerate() {
        plugins.push(parse_entry(index, entry)?);
    }
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
    Ok(plugins)
}

/// Makes relative plugin paths relative to `base` (the config file's folder).
pub fn resolve_paths(entries: &mut [PluginEntry], base: &Path) {
    for entry in entries {
        if entry.path.is_relative() {
            entry.path = base.join(&entry.path);
        }
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
    Ok(PluginEntry {
        path,
        name,
        enabled: entry.enabled.unwrap_or(false),
        config: entry.config,
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

/// A serde message without its ` at line L column C` suffix.
pub fn strip_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    }
}

/// `text` cut to at most `max` bytes (at a character boundary), with `...` when cut.
pub fn truncate(text: &str, max: usize) -> String {
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

    fn parse(entries: &str) -> Result<Vec<PluginEntry>, ConfigError> {
        parse_plugins(entries)
    }

    fn names(entries: &[PluginEntry]) -> Vec<&str> {
        order_entries(entries).iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn seed_example_entry_parses_with_defaults() {
        let plugins = parse(
            r#"[{"path":"/path/to/hello-world.wasm","name":"hello-world-wasm-rust","enabled":true,"config":{"custom_option":"value"}}]"#,
        )
        .unwrap();
        let entry = &plugins[0];
        assert_eq!(entry.path, PathBuf::from("/path/to/hello-world.wasm"));
        assert_eq!(entry.placement, Placement::PostBuiltin);
        assert_eq!(entry.order, 0);
        assert_eq!(entry.failure_policy, FailurePolicy::Default);
        assert_eq!(entry.pool, None);
        assert_eq!(entry.config_bytes(), br#"{"custom_option":"value"}"#);
    }

    #[test]
    fn plugin_config_is_kept_byte_for_byte_including_big_integers() {
        let plugins = parse(
            r#"[{"path":"a.wasm","name":"a","enabled":true,"config":{"limit": 123456789012345678901234567890, "x": 1.0}}]"#,
        )
        .unwrap();
        assert_eq!(
            plugins[0].config_bytes(),
            br#"{"limit": 123456789012345678901234567890, "x": 1.0}"#
        );
    }

    #[test]
    fn a_null_config_is_sent_as_null_and_a_missing_one_as_nothing() {
        let plugins = parse(
            r#"[{"path":"a.wasm","name":"a","enabled":true,"config":null},{"path":"b.wasm","name":"b","enabled":true}]"#,
        )
        .unwrap();
        assert_eq!(plugins[0].config_bytes(), b"null");
        assert!(plugins[1].config_bytes().is_empty());
    }

    #[test]
    fn ordering_is_placement_then_order_then_file_order_and_disabled_are_skipped() {
        let plugins = parse(
            r#"[
                {"path":"a.wasm","name":"post-5","enabled":true,"order":5},
                {"path":"a.wasm","name":"post-0-first","enabled":true},
                {"path":"a.wasm","name":"pre-9","enabled":true,"placement":"pre_builtin","order":9},
                {"path":"a.wasm","name":"disabled","enabled":false,"placement":"pre_builtin","order":-100},
                {"path":"a.wasm","name":"post-0-second","enabled":true,"order":0},
                {"path":"a.wasm","name":"pre-minus-1","enabled":true,"placement":"pre_builtin","order":-1},
                {"path":"a.wasm","name":"post-minus-3","enabled":true,"placement":"post_builtin","order":-3}
            ]"#,
        )
        .unwrap();
        assert_eq!(
            names(&plugins),
            [
                "pre-minus-1",
                "pre-9",
                "post-minus-3",
                "post-0-first",
                "post-0-second",
                "post-5"
            ]
        );
        assert_eq!(plugins.len(), 7);
    }

    #[test]
    fn enabled_defaults_to_false_like_go_zero_value() {
        let plugins = parse(r#"[{"path":"a.wasm","name":"a"}]"#).unwrap();
        assert!(names(&plugins).is_empty());
    }

    #[test]
    fn bad_placement_names_entry_field_and_accepted_values() {
        let err = parse(
            r#"[{"path":"a.wasm","name":"ok","enabled":true},{"path":"b.wasm","name":"limiter","enabled":true,"placement":"middle"}]"#,
        )
        .unwrap_err();
        assert_eq!(err.location, r#"plugins[1] ("limiter")"#);
        assert!(err.message.contains("`placement`"), "{err}");
        assert!(err.message.contains("pre_builtin"), "{err}");
    }

    #[test]
    fn unknown_entry_field_is_reported_with_its_name() {
        let err = parse(r#"[{"path":"a.wasm","name":"a","enabled":true,"failur_policy":"fail_open"}]"#)
            .unwrap_err();
        assert_eq!(err.location, r#"plugins[0] ("a").failur_policy"#);
        assert!(err.message.contains("failure_policy"), "{err}");
    }

    #[test]
    fn missing_name_and_path_are_reported() {
        let err = parse(r#"[{"path":"a.wasm","enabled":true}]"#).unwrap_err();
        assert_eq!(err.location, "plugins[0].name");
        let err = parse(r#"[{"name":"x","enabled":true}]"#).unwrap_err();
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
            let err = parse(&format!("[{entry}]")).unwrap_err();
            assert_eq!(err.location, r#"plugins[0] ("x")"#, "{entry}");
            assert!(err.message.contains(field), "{entry}: {err}");
        }
    }

    #[test]
    fn non_object_entry_and_zero_pool_and_url_paths_are_rejected() {
        let err = parse(r#"["a.wasm"]"#).unwrap_err();
        assert_eq!(err.location, "plugins[0]");
        let err = parse(r#"[{"path":"a","name":"x","pool":0}]"#).unwrap_err();
        assert_eq!(err.location, r#"plugins[0] ("x").pool"#);
        let err = parse(r#"[{"path":"https://x/p.wasm","name":"x"}]"#).unwrap_err();
        assert_eq!(err.location, r#"plugins[0] ("x").path"#);
    }

    #[test]
    fn duplicate_enabled_names_are_rejected() {
        let err = parse(r#"[{"path":"a","name":"x","enabled":true},{"path":"b","name":"x","enabled":true}]"#)
            .unwrap_err();
        assert_eq!(err.location, r#"plugins[1] ("x")"#);
        assert!(err.message.contains("plugins[0]"));
    }

    #[test]
    fn a_plugins_value_that_is_not_an_array_is_a_clear_error() {
        let err = parse(r#"{"path":"a"}"#).unwrap_err();
        assert_eq!(err.location, "plugins");
        assert!(err.message.contains("array"), "{err}");
    }

    #[test]
    fn relative_paths_resolve_against_config_folder() {
        let mut plugins = parse(
            r#"[{"path":"build/a.wasm","name":"a","enabled":true},{"path":"/abs/b.wasm","name":"b","enabled":true}]"#,
        )
        .unwrap();
        resolve_paths(&mut plugins, Path::new("/etc/bifrost"));
        assert_eq!(plugins[0].path, PathBuf::from("/etc/bifrost/build/a.wasm"));
        assert_eq!(plugins[1].path, PathBuf::from("/abs/b.wasm"));
    }
}
