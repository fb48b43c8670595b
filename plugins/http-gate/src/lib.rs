//! `http-gate`: a Bifrost plugin that guards the HTTP entrance.
//!
//! * `http_pre_hook` (also exported as `http_intercept`):
//!   - `GET`/`HEAD` on `health_path` is answered directly: `200`,
//!     `{"status":"ok","plugin":"http-gate"}`;
//!   - a path matching `public_paths` goes on without a key;
//!   - every other request must carry one of the configured API keys in the first present
//!     header of `headers` (`Authorization: Bearer <key>` is understood); otherwise it is
//!     answered with `401` and a Bifrost-style JSON error, and never reaches Bifrost's
//!     parsing, the LLM hooks or a provider.
//!
//!   The key is compared **without timing leaks**: the presented key and every configured
//!   key are hashed with SHA-256 (so the comparison does not depend on their lengths), and
//!   the digests are compared with an XOR fold that looks at every byte of every configured
//!   key, whatever matches.
//! * On success the context gets `http_gate: "allowed"`, `http_gate_key_id` (the key's id,
//!   never the key) and `http_gate_response_header` (`{"name": …, "value": <key id>}`).
//!   Refusals set `http_gate: "denied"` and `http_gate_reason`; health answers
//!   `http_gate: "health"`.
//! * `http_post_hook` cannot change a response in Bifrost (its output has no `response`), so
//!   it **reports** the header the gate wants on the response: `http_gate_reported` =
//!   `"<name>: <value>"`, plus `http_gate_status`, the status of the response sent. (Not
//!   called for streamed responses; Bifrost does not run `http_post_hook` for streams.)

use bifrost_wasm_sdk::prelude::*;
use sha2::{Digest, Sha256};

/// A configured API key: a bare string (its id is `key-<n>`, counting from 1) or
/// `{"id": …, "key": …}`.
#[derive(Debug, Clone)]
pub enum KeyEntry {
    /// Just the key.
    Key(String),
    /// A key with the id reported in the context.
    Named {
        /// The id (reported; never the key).
        id: String,
        /// The key.
        key: String,
    },
}

// Written by hand rather than `#[serde(untagged)]`, whose buffering code would add ~20 KB
// to the plugin.
impl<'de> Deserialize<'de> for KeyEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{self, MapAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an API key string or {\"id\": …, \"key\": …}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyEntry, E> {
                Ok(KeyEntry::Key(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyEntry, A::Error> {
                let (mut id, mut key) = (None, None);
                while let Some(name) = map.next_key::<String>()? {
                    match name.as_str() {
                        "id" => id = Some(map.next_value::<String>()?),
                        "key" => key = Some(map.next_value::<String>()?),
                        other => return Err(de::Error::unknown_field(other, &["id", "key"])),
                    }
                }
                Ok(KeyEntry::Named {
                    id: id.ok_or_else(|| de::Error::missing_field("id"))?,
                    key: key.ok_or_else(|| de::Error::missing_field("key"))?,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// The plugin's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The accepted API keys (required: at least one).
    pub keys: Vec<KeyEntry>,
    /// Headers that may carry the key, first present wins (default `x-api-key`,
    /// `authorization`; a `Bearer ` prefix is removed). Names are case-insensitive.
    pub headers: Vec<String>,
    /// Path answered with 200 and a JSON status for `GET`/`HEAD` (default `/gate/health`;
    /// `null` turns it off).
    pub health_path: Option<String>,
    /// Paths that need no key: exact, or a prefix ending in `*` (default none).
    pub public_paths: Vec<String>,
    /// Name of the response header whose value (the key id) `http_post_hook` reports
    /// (default `X-Gateway-Key-Id`; `null` turns it off).
    pub response_header: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            keys: Vec::new(),
            headers: vec!["x-api-key".to_string(), "authorization".to_string()],
            health_path: Some("/gate/health".to_string()),
            public_paths: Vec::new(),
            response_header: Some("X-Gateway-Key-Id".to_string()),
        }
    }
}

/// SHA-256 of a key.
type Digest32 = [u8; 32];

/// The gate plugin.
#[derive(Debug)]
pub struct HttpGate {
    keys: Vec<(String, Digest32)>,
    headers: Vec<String>,
    health_path: Option<String>,
    public_paths: Vec<String>,
    response_header: Option<String>,
}

fn digest(key: &str) -> Digest32 {
    Sha256::digest(key.as_bytes()).into()
}

/// Compares two digests in time independent of where they differ.
fn digests_equal(a: &Digest32, b: &Digest32) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The path without its query string.
fn bare_path(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or(path)
}

fn path_matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => path == pattern,
    }
}

/// An HTTP answer with a JSON body and `Content-Type: application/json`, plus `extra_header`
/// when given (written as `{"status_code","headers","body"}`, the body base64).
pub fn json_answer(status: u16, body: &str, extra_header: Option<(&str, &str)>) -> HttpResponse {
    let answer =
        HttpResponse::new(i32::from(status), body.as_bytes()).with_header("Content-Type", "application/json");
    match extra_header {
        Some((name, value)) => answer.with_header(name, value),
        None => answer,
    }
}

/// The Bifrost-style error body of a refused request.
pub fn unauthorized_body(reason: &str) -> String {
    let message =
        format!("{reason}: send a valid API key in the X-API-Key header or as Authorization: Bearer <key>");
    format!(
        "{{\"is_bifrost_error\":true,\"status_code\":401,\"error\":{{\"type\":\"unauthorized\",\"code\":\"401\",\"message\":{}}}}}",
        message.to_json()
    )
}

impl HttpGate {
    /// The key the request presents, if any. Only the `headers` member is read (header
    /// names compared ASCII case-insensitively); the rest of the request stays unparsed.
    fn presented_key(&self, request: &impl HttpRequestView) -> Option<String> {
        self.headers.iter().find_map(|name| {
            let value = request.header(name)?;
            let value = value.trim();
            let value = if name.eq_ignore_ascii_case("authorization") {
                match (value.get(..7), value.get(7..)) {
                    (Some(p), Some(rest)) if p.eq_ignore_ascii_case("bearer ") => rest.trim(),
                    _ => value,
                }
            } else {
                value
            };
            (!value.is_empty()).then(|| value.to_string())
        })
    }

    /// The id of the configured key equal to `presented`. Every configured key is compared,
    /// in full, whatever matches.
    fn match_key(&self, presented: &str) -> Option<&str> {
        let d = digest(presented);
        let mut found: Option<&str> = None;
        for (id, key) in &self.keys {
            let equal = digests_equal(&d, key);
            if equal && found.is_none() {
                found = Some(id);
            }
        }
        found
    }
}

impl Plugin for HttpGate {
    const NAME: &'static str = "http-gate";
    type Config = Config;

    fn new(config: Config) -> HookResult<Self> {
        if config.keys.is_empty() {
            return Err(HookError::new(
                "`keys` must list at least one API key (e.g. {\"keys\": [\"my-key\"]}); without one every request would be refused",
            ));
        }
        let mut keys = Vec::with_capacity(config.keys.len());
        for (i, entry) in config.keys.iter().enumerate() {
            let (id, key) = match entry {
                KeyEntry::Key(key) => (format!("key-{}", i + 1), key.as_str()),
                KeyEntry::Named { id, key } => (id.clone(), key.as_str()),
            };
            if key.trim().is_empty() {
                return Err(HookError::new(format!("keys[{i}] (`{id}`) is empty")));
            }
            keys.push((id, digest(key.trim())));
        }
        if config.headers.is_empty() {
            return Err(HookError::new(
                "`headers` must name at least one header that carries the key",
            ));
        }
        if let Some(p) = config.health_path.as_deref().filter(|p| !p.starts_with('/')) {
            return Err(HookError::new(format!("health_path `{p}` must start with `/`")));
        }
        Ok(HttpGate {
            keys,
            headers: config.headers,
            health_path: config.health_path,
            public_paths: config.public_paths,
            response_header: config.response_header.filter(|h| !h.is_empty()),
        })
    }

    fn http_pre_hook(&mut self, mut input: HttpPreHookInput) -> HookResult<HttpPreHookOutput> {
        if !input.request.is_object() {
            return Err(HookError::new(format!(
                "request must be an HTTP request object, found {}",
                input.request.kind().name()
            )));
        }
        let full_path = input.path().unwrap_or_default();
        let path = bare_path(&full_path);
        let method = input.method().unwrap_or_default().to_ascii_uppercase();
        if self.health_path.as_deref() == Some(path) && (method == "GET" || method == "HEAD") {
            input.context.set_value("http_gate", "health");
            let body = format!("{{\"status\":\"ok\",\"plugin\":{}}}", Self::NAME.to_json());
            return Ok(input.respond(&json_answer(200, &body, None)));
        }
        if self.public_paths.iter().any(|p| path_matches(p, path)) {
            input.context.set_value("http_gate", "public");
            return Ok(input.pass_through());
        }
        let reason = match self.presented_key(&input) {
            None => "missing API key",
            Some(key) => match self.match_key(&key) {
                Some(id) => {
                    let id = id.to_string();
                    input.context.set_value("http_gate", "allowed");
                    input.context.set_value("http_gate_key_id", id.as_str());
                    if let Some(name) = &self.response_header {
                        input
                            .context
                            .set_value("http_gate_response_header", json!({"name": name, "value": id}));
                    }
                    return Ok(input.pass_through());
                }
                None => "invalid API key",
            },
        };
        input.context.set_value("http_gate", "denied");
        input.context.set_value("http_gate_reason", reason);
        let answer = json_answer(
            401,
            &unauthorized_body(reason),
            Some(("WWW-Authenticate", "Bearer")),
        );
        Ok(input.respond(&answer))
    }

    fn http_post_hook(&mut self, mut input: HttpPostHookInput) -> HookResult<HttpPostHookOutput> {
        let header = input
            .context
            .get_as::<Value>("http_gate_response_header")
            .and_then(Result::ok)
            .and_then(|h| {
                Some((
                    h.get("name")?.as_str()?.to_string(),
                    h.get("value")?.as_str()?.to_string(),
                ))
            });
        if let Some((name, value)) = header {
            input
                .context
                .set_value("http_gate_reported", format!("{name}: {value}"));
            if let Some(status) = input.status_code() {
                input.context.set_value("http_gate_status", status);
            }
        }
        Ok(input.pass_through())
    }
}

bifrost_wasm_sdk::export_plugin!(HttpGate);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_comparison_is_exact() {
        assert!(digests_equal(&digest("k1"), &digest("k1")));
        assert!(!digests_equal(&digest("k1"), &digest("k2")));
        assert!(!digests_equal(&digest("k1"), &digest("k1 ")));
    }

    #[test]
    fn paths_match_exactly_or_by_prefix_and_ignore_the_query() {
        assert!(path_matches("/v1/models", "/v1/models"));
        assert!(!path_matches("/v1/models", "/v1/models/x"));
        assert!(path_matches("/public/*", "/public/a/b"));
        assert_eq!(bare_path("/gate/health?verbose=1"), "/gate/health");
    }
}
