//! What a chain step ends in: an HTTP answer, or the LLM call's response or error. Both the
//! steps (`run`) and the reading of plugin outputs (`outputs`) use them.

use bifrost_wasm_types::raw::RawJson;
use bifrost_wasm_types::shape::LlmResponse;

/// An HTTP answer the chain decided on: an `http_pre_hook` short-circuit, or an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    /// Status code.
    pub status: u16,
    /// Headers as the plugin gave them.
    pub headers: Vec<(String, String)>,
    /// Body bytes (decoded from base64 for a plugin's answer).
    pub body: Vec<u8>,
}

impl HttpAnswer {
    /// A JSON error answer with `body` (a Bifrost error JSON).
    pub fn json_error(status: u16, body: &RawJson) -> Self {
        HttpAnswer {
            status,
            headers: vec![("content-type".to_string(), "application/json".to_string())],
            body: body.as_str().as_bytes().to_vec(),
        }
    }
}

/// The result of an LLM call as plugins see it.
#[derive(Debug, Clone, PartialEq)]
pub enum LlmResult {
    /// A response, in the chain's response shape (e.g. `{"ChatResponse": {...}, ...}`).
    Response(RawJson),
    /// A Bifrost error JSON (`{"error": {"message": ...}, "status_code": ...}`).
    Error(RawJson),
}

impl LlmResult {
    /// The chat completion object inside a response, if any.
    pub fn chat_response(&self) -> Option<RawJson> {
        match self {
            LlmResult::Response(raw) => LlmResponse::new(raw.clone())
                .chat_raw()
                .map(RawJson::from_validated),
            LlmResult::Error(_) => None,
        }
    }
}
