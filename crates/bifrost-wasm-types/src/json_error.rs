//! The error of reading or editing JSON, shared by the raw values ([`crate::raw`]) and the
//! typed reader ([`crate::reader`]) so that neither depends on the other for it.

use std::fmt;

/// An error reading or editing raw JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError(pub String);

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JsonError {}

impl From<serde_json::Error> for JsonError {
    fn from(e: serde_json::Error) -> Self {
        JsonError(e.to_string())
    }
}
