//! `BifrostError` and the short-circuit a `pre_hook` answers with.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::de::null_default;
use crate::raw::RawJson;
use crate::response::BifrostResponse;
use crate::scan;

/// The `error` member of a [`BifrostError`].
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct ErrorField {
    /// Human-readable message.
    #[serde(default, deserialize_with = "null_default")]
    pub message: String,
    /// Error type, e.g. `rate_limit`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// Error code, e.g. `429` (Go accepts numbers and turns them into strings).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "code_string"
    )]
    pub code: Option<String>,
    /// Fields this type does not model (`param`, `event_id`, ...).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

fn code_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}

/// An error as Bifrost reports it (`schemas.BifrostError`).
///
/// Note: Go marks `AllowFallbacks` `json:"-"`, so a Go host ignores `allow_fallbacks`; it is
/// kept here because the seed has it and our host honours it.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct BifrostError {
    /// The error details.
    #[serde(default, deserialize_with = "null_default")]
    pub error: ErrorField,
    /// HTTP status to answer with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<i32>,
    /// Whether fallback providers may be tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_fallbacks: Option<bool>,
    /// Fields this type does not model (`is_bifrost_error`, `extra_fields`, ...).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl BifrostError {
    /// An error with `message`.
    pub fn new(message: &str) -> Self {
        BifrostError {
            error: ErrorField {
                message: message.to_string(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// Sets the error type.
    pub fn with_type(mut self, error_type: &str) -> Self {
        self.error.error_type = Some(error_type.to_string());
        self
    }

    /// Sets the error code.
    pub fn with_code(mut self, code: &str) -> Self {
        self.error.code = Some(code.to_string());
        self
    }

    /// Sets the HTTP status.
    pub fn with_status(mut self, status: i32) -> Self {
        self.status_code = Some(status);
        self
    }

    /// Sets whether fallbacks may be tried.
    pub fn with_allow_fallbacks(mut self, allow: bool) -> Self {
        self.allow_fallbacks = Some(allow);
        self
    }

    /// Appends this error as JSON (known fields first, then the ones this type does not
    /// model), with the same builder as every other error in this project ([`ErrorJson`]).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let render = |extra: &BTreeMap<String, Value>| -> Vec<(String, String)> {
            // A `BTreeMap` iterates in key order: the output is the same on every run.
            extra
                .iter()
                .map(|(k, v)| {
                    let mut text = Vec::new();
                    scan::write_value(&mut text, v);
                    (k.clone(), String::from_utf8(text).unwrap_or_default())
                })
                .collect()
        };
        let (top, inner) = if self.extra.is_empty() && self.error.extra.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            (render(&self.extra), render(&self.error.extra))
        };
        let mut top_pairs: Vec<(&str, &str)> = top.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        if let Some(allow) = self.allow_fallbacks {
            top_pairs.push(("allow_fallbacks", if allow { "true" } else { "false" }));
        }
        let inner_pairs: Vec<(&str, &str)> = inner.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        ErrorJson {
            is_bifrost_error: None,
            status_code: self.status_code.map(i64::from),
            error_type: self.error.error_type.as_deref(),
            code: self.error.code.as_deref(),
            message: &self.error.message,
        }
        .write_with(out, &top_pairs, &inner_pairs);
    }

    /// This error as raw JSON.
    pub fn to_raw(&self) -> RawJson {
        let mut out = Vec::with_capacity(96 + self.error.message.len());
        self.write_json(&mut out);
        RawJson::from_validated(String::from_utf8(out).unwrap_or_default())
    }

    /// True when the error carries nothing (no message, type, code or status): Bifrost
    /// treats such an error as absent.
    pub fn is_empty(&self) -> bool {
        self.error.message.is_empty()
            && self.error.error_type.is_none()
            && self.error.code.is_none()
            && self.status_code.is_none()
    }
}

/// Bifrost's error JSON (`schemas.BifrostError`) from borrowed parts: the one builder that
/// every part of this project (guest SDK, chain, gateway, providers) writes errors with.
///
/// ```
/// use bifrost_wasm_types::error::ErrorJson;
///
/// let json = ErrorJson::new("model not allowed").with_type("forbidden").with_status(403).to_json();
/// assert_eq!(json, r#"{"status_code":403,"error":{"type":"forbidden","message":"model not allowed"}}"#);
/// let json = ErrorJson::new("upstream down").bifrost(false).with_status(502).to_json();
/// assert_eq!(json, r#"{"is_bifrost_error":false,"status_code":502,"error":{"message":"upstream down"}}"#);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorJson<'a> {
    /// `is_bifrost_error`: true when Bifrost itself (not the provider) produced the error
    /// (omitted when `None`).
    pub is_bifrost_error: Option<bool>,
    /// `status_code`: the HTTP status to answer with (omitted when `None`).
    pub status_code: Option<i64>,
    /// `error.type` (omitted when `None`).
    pub error_type: Option<&'a str>,
    /// `error.code` (omitted when `None`).
    pub code: Option<&'a str>,
    /// `error.message`.
    pub message: &'a str,
}

impl<'a> ErrorJson<'a> {
    /// An error with `message` and nothing else.
    pub fn new(message: &'a str) -> Self {
        ErrorJson {
            message,
            ..Default::default()
        }
    }

    /// Sets `error.type`.
    pub fn with_type(mut self, error_type: &'a str) -> Self {
        self.error_type = Some(error_type);
        self
    }

    /// Sets `error.code`.
    pub fn with_code(mut self, code: &'a str) -> Self {
        self.code = Some(code);
        self
    }

    /// Sets `status_code`.
    pub fn with_status(mut self, status: i64) -> Self {
        self.status_code = Some(status);
        self
    }

    /// Sets `is_bifrost_error`.
    pub fn bifrost(mut self, is_bifrost_error: bool) -> Self {
        self.is_bifrost_error = Some(is_bifrost_error);
        self
    }

    /// Appends the JSON to `out`; `extra` members (raw `"key":value` pairs, already JSON)
    /// are written after the known ones, at the top level and inside `error`.
    pub fn write_with(&self, out: &mut Vec<u8>, top_extra: &[(&str, &str)], error_extra: &[(&str, &str)]) {
        out.push(b'{');
        if let Some(b) = self.is_bifrost_error {
            out.extend_from_slice(if b {
                b"\"is_bifrost_error\":true,"
            } else {
                b"\"is_bifrost_error\":false,"
            });
        }
        if let Some(status) = self.status_code {
            out.extend_from_slice(b"\"status_code\":");
            scan::write_i64(out, status);
            out.push(b',');
        }
        for (k, v) in top_extra {
            scan::write_string(out, k);
            out.push(b':');
            out.extend_from_slice(v.as_bytes());
            out.push(b',');
        }
        out.extend_from_slice(b"\"error\":{");
        if let Some(t) = self.error_type {
            out.extend_from_slice(b"\"type\":");
            scan::write_string(out, t);
            out.push(b',');
        }
        if let Some(c) = self.code {
            out.extend_from_slice(b"\"code\":");
            scan::write_string(out, c);
            out.push(b',');
        }
        out.extend_from_slice(b"\"message\":");
        scan::write_string(out, self.message);
        for (k, v) in error_extra {
            out.push(b',');
            scan::write_string(out, k);
            out.push(b':');
            out.extend_from_slice(v.as_bytes());
        }
        out.extend_from_slice(b"}}");
    }

    /// Appends the JSON to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        self.write_with(out, &[], &[]);
    }

    /// The JSON text.
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(96 + self.message.len());
        self.write(&mut out);
        // Built from escaped strings and ASCII punctuation.
        String::from_utf8(out).unwrap_or_default()
    }

    /// The JSON as a [`RawJson`].
    pub fn to_raw(&self) -> RawJson {
        RawJson::from_validated(self.to_json())
    }
}

/// The error of a failed request, kept as the JSON that arrived (`post_hook`'s `error`, a
/// short-circuit's `Error`): reading the message parses only the message, and an edit is
/// spliced into the original text, so fields this crate does not model survive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmError {
    raw: RawJson,
}

impl LlmError {
    /// Wraps raw error JSON.
    pub fn new(raw: RawJson) -> Self {
        LlmError { raw }
    }

    /// The error JSON of a typed [`BifrostError`].
    pub fn from_error(error: &BifrostError) -> Self {
        LlmError { raw: error.to_raw() }
    }

    /// The raw JSON.
    pub fn raw(&self) -> &RawJson {
        &self.raw
    }

    /// Consumes the error, returning its raw JSON.
    pub fn into_raw(self) -> RawJson {
        self.raw
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.raw.as_str()
    }

    fn error_member(&self, name: &str) -> Option<&str> {
        self.raw.get_path(&["error", name])
    }

    /// `error.message`, when it is a string.
    pub fn message(&self) -> Option<String> {
        self.error_member("message")
            .and_then(scan::string_value)
            .map(std::borrow::Cow::into_owned)
    }

    /// `error.type`, when it is a string.
    pub fn error_type(&self) -> Option<String> {
        self.error_member("type")
            .and_then(scan::string_value)
            .map(std::borrow::Cow::into_owned)
    }

    /// `error.code` as text (Go turns a numeric code into its decimal text).
    pub fn code(&self) -> Option<String> {
        let raw = self.error_member("code")?;
        match crate::raw::JsonKind::of(raw) {
            crate::raw::JsonKind::String => scan::string_value(raw).map(std::borrow::Cow::into_owned),
            crate::raw::JsonKind::Number => Some(raw.to_string()),
            _ => None,
        }
    }

    /// `status_code`, when it is an integer.
    pub fn status_code(&self) -> Option<i64> {
        self.raw.get("status_code")?.parse().ok()
    }

    /// Replaces `error.message`, splicing it in (everything else is kept byte for byte). An
    /// error that is not an object becomes `{"error":{"message":…}}`.
    pub fn set_message(&mut self, message: &str) {
        if !self.raw.is_object() {
            self.raw = RawJson::empty_object();
        }
        if self.raw.set_path_str(&["error", "message"], message).is_err() {
            self.raw = ErrorJson::new(message).to_raw();
        }
    }

    /// The typed error.
    pub fn to_typed(&self) -> Result<BifrostError, crate::raw::JsonError> {
        self.raw.parse()
    }

    /// True for `null`, `{}` and an error with no message, type, code or status: Bifrost
    /// treats such an error as absent.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty_value()
            || (self.message().is_none_or(|m| m.is_empty())
                && self.error_type().is_none()
                && self.code().is_none()
                && self.status_code().is_none())
    }
}

impl From<BifrostError> for LlmError {
    fn from(error: BifrostError) -> Self {
        LlmError::from_error(&error)
    }
}

impl crate::codec::WriteJson for LlmError {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.raw.as_str().as_bytes());
    }

    fn json_len(&self) -> usize {
        self.raw.as_str().len()
    }
}

/// The seed's (and Go's) spelling of [`LlmPluginShortCircuit`].
pub type LLMPluginShortCircuit = LlmPluginShortCircuit;

/// What a `pre_hook` answers with instead of calling the provider: a response or an error.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct LlmPluginShortCircuit {
    /// The response to return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<BifrostResponse>,
    /// The error to return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<BifrostError>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builder_produces_seed_rate_limit_error() {
        let e = BifrostError::new("Rate limit exceeded")
            .with_type("rate_limit")
            .with_code("429")
            .with_status(429);
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"error": {"message": "Rate limit exceeded", "type": "rate_limit", "code": "429"}, "status_code": 429})
        );
    }

    #[test]
    fn numeric_code_and_null_error_are_accepted() {
        let e: BifrostError = serde_json::from_value(
            json!({"error": {"message": "x", "code": 500}, "is_bifrost_error": false}),
        )
        .unwrap();
        assert_eq!(e.error.code.as_deref(), Some("500"));
        assert_eq!(e.extra["is_bifrost_error"], json!(false));
        let e: BifrostError = serde_json::from_value(json!({"error": null})).unwrap();
        assert!(e.is_empty());
    }
}
