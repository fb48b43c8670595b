//! `BifrostError` and the short-circuit a `pre_hook` answers with.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::de::null_default;
use crate::response::BifrostResponse;

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
    pub extra: HashMap<String, Value>,
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
    pub extra: HashMap<String, Value>,
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

    /// True when the error carries nothing (no message, type, code or status): Bifrost
    /// treats such an error as absent.
    pub fn is_empty(&self) -> bool {
        self.error.message.is_empty()
            && self.error.error_type.is_none()
            && self.error.code.is_none()
            && self.status_code.is_none()
    }
}

/// What a `pre_hook` answers with instead of calling the provider: a response or an error.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct LLMPluginShortCircuit {
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
