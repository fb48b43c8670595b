//! HTTP transport types (`HttpRequest`, `HttpResponse`) as Bifrost's Go SDK encodes them.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::de::null_default;

/// Standard base64, as Go's `encoding/json` writes a `[]byte`.
fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Decodes standard base64 (padding optional, surrounding whitespace ignored).
pub fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    let text = text.trim();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text.trim_end_matches('=')))
        .map_err(|e| format!("body is not valid base64: {e}"))
}

/// Encodes bytes as standard base64.
pub fn encode_base64(bytes: &[u8]) -> String {
    b64().encode(bytes)
}

fn lookup<'a>(map: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    map.get(name)
        .or_else(|| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .map(String::as_str)
}

/// The seed's (and Go's) spelling of [`HttpRequest`].
pub type HTTPRequest = HttpRequest;

/// The seed's (and Go's) spelling of [`HttpResponse`].
pub type HTTPResponse = HttpResponse;

/// An HTTP request as seen by `http_pre_hook` (`http_intercept`), `http_post_hook` and
/// `http_stream_chunk_hook`. Header and query keys keep the client's casing; look them up
/// with [`HttpRequest::header`] / [`HttpRequest::query_param`], which ignore case.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct HttpRequest {
    /// HTTP method, e.g. `POST`.
    #[serde(default, deserialize_with = "null_default")]
    pub method: String,
    /// Request path, e.g. `/v1/chat/completions`.
    #[serde(default, deserialize_with = "null_default")]
    pub path: String,
    /// Headers (one value per name).
    #[serde(default, deserialize_with = "null_default")]
    pub headers: BTreeMap<String, String>,
    /// Query parameters.
    #[serde(default, deserialize_with = "null_default")]
    pub query: BTreeMap<String, String>,
    /// Body, base64 encoded (see [`HttpRequest::body_bytes`]).
    #[serde(default, deserialize_with = "null_default")]
    pub body: String,
    /// Fields this type does not model (e.g. `path_params`), kept as received.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl HttpRequest {
    /// Header value by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        lookup(&self.headers, name)
    }

    /// Query parameter by case-insensitive name.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        lookup(&self.query, name)
    }

    /// Sets a header, replacing any existing header of the same name in any casing.
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        self.headers.retain(|k, _| !k.eq_ignore_ascii_case(name));
        self.headers.insert(name.to_string(), value.into());
    }

    /// The decoded body.
    pub fn body_bytes(&self) -> Result<Vec<u8>, String> {
        decode_base64(&self.body)
    }

    /// The decoded body as UTF-8 text.
    pub fn body_text(&self) -> Result<String, String> {
        String::from_utf8(self.body_bytes()?).map_err(|_| "body is not UTF-8 text".to_string())
    }

    /// Replaces the body with `bytes` (base64-encodes them).
    pub fn set_body(&mut self, bytes: &[u8]) {
        self.body = encode_base64(bytes);
    }
}

/// An HTTP response: what an `http_pre_hook` short-circuit answers with, and what
/// `http_post_hook` sees.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HttpResponse {
    /// Status code.
    #[serde(default = "default_status", deserialize_with = "status_or_default")]
    pub status_code: i32,
    /// Headers.
    #[serde(default, deserialize_with = "null_default")]
    pub headers: BTreeMap<String, String>,
    /// Body, base64 encoded.
    #[serde(default, deserialize_with = "null_default")]
    pub body: String,
    /// Fields this type does not model.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

fn default_status() -> i32 {
    200
}

fn status_or_default<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    Ok(Option::<i32>::deserialize(d)?.unwrap_or(200))
}

impl Default for HttpResponse {
    fn default() -> Self {
        HttpResponse {
            status_code: 200,
            headers: BTreeMap::new(),
            body: String::new(),
            extra: BTreeMap::new(),
        }
    }
}

impl HttpResponse {
    /// A response with `status` and a body (base64-encoded for you).
    pub fn new(status: i32, body: &[u8]) -> Self {
        HttpResponse {
            status_code: status,
            body: encode_base64(body),
            ..Default::default()
        }
    }

    /// A JSON response: sets `Content-Type: application/json`.
    pub fn json(status: i32, body: &Value) -> Self {
        let mut r = HttpResponse::new(status, body.to_string().as_bytes());
        r.headers
            .insert("Content-Type".to_string(), "application/json".to_string());
        r
    }

    /// Header value by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        lookup(&self.headers, name)
    }

    /// Sets a header (replacing any casing of the same name); returns `self` for chaining.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.retain(|k, _| !k.eq_ignore_ascii_case(name));
        self.headers.insert(name.to_string(), value.into());
        self
    }

    /// The decoded body.
    pub fn body_bytes(&self) -> Result<Vec<u8>, String> {
        decode_base64(&self.body)
    }

    /// Replaces the body with `bytes` (base64-encodes them).
    pub fn set_body(&mut self, bytes: &[u8]) {
        self.body = encode_base64(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn http_request_seed_example_parses_with_case_insensitive_lookup() {
        let req: HttpRequest = serde_json::from_value(json!({
            "method": "POST",
            "path": "/v1/chat/completions",
            "headers": { "Content-Type": "application/json" },
            "query": {},
            "body": "eyJzdGF0dXMiOiJvayJ9"
        }))
        .unwrap();
        assert_eq!(req.header("content-type"), Some("application/json"));
        assert_eq!(req.body_text().unwrap(), r#"{"status":"ok"}"#);
    }

    #[test]
    fn http_request_tolerates_go_nulls_and_keeps_unknown_fields() {
        let input = json!({"method": "GET", "path": "/", "headers": null, "query": null, "body": null, "path_params": {"id": "1"}});
        let req: HttpRequest = serde_json::from_value(input).unwrap();
        assert!(req.headers.is_empty());
        assert_eq!(req.body_bytes().unwrap(), Vec::<u8>::new());
        assert_eq!(req.extra["path_params"], json!({"id": "1"}));
    }

    #[test]
    fn invalid_base64_body_is_an_error_not_a_panic() {
        let req = HttpRequest {
            body: "%%%".into(),
            ..Default::default()
        };
        assert!(req.body_bytes().is_err());
    }

    #[test]
    fn response_defaults_to_200() {
        let r: HttpResponse = serde_json::from_str(r#"{"status_code": null}"#).unwrap();
        assert_eq!(r.status_code, 200);
        let r = HttpResponse::new(429, b"slow down").with_header("Retry-After", "1");
        assert_eq!(r.body_bytes().unwrap(), b"slow down");
        assert_eq!(r.header("retry-after"), Some("1"));
    }
}
