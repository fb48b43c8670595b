//! Translation between the OpenAI wire format and Bifrost's chat request, without losing bytes.
//!
//! The client's body is split at the top level only: `model` and `messages` become the Bifrost
//! request's `model` and `input`, `stream` is taken out, and every other member goes into
//! `params` exactly as written (unknown fields, big integers and `null`s survive). On the way to
//! the provider the same members are written back.

use bifrost_wasm_types::raw::{object_entries, JsonKind, RawJson};

/// A client's chat completion request, split into what the gateway needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// Provider from a `provider/model` name, or the default provider.
    pub provider: String,
    /// Model without the provider prefix.
    pub model: String,
    /// The `messages` array, raw.
    pub messages: RawJson,
    /// Every other member except `stream`, in order, raw.
    pub params: Vec<(String, RawJson)>,
    /// `stream: true`.
    pub stream: bool,
}

/// Why a request body is not a chat completion request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest(pub String);

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

/// Splits `provider/model`; a name without `/` uses `default_provider`.
pub fn split_model(name: &str, default_provider: &str) -> (String, String) {
    match name.split_once('/') {
        Some((provider, model)) if !provider.is_empty() && !model.is_empty() => {
            (provider.to_string(), model.to_string())
        }
        _ => (default_provider.to_string(), name.to_string()),
    }
}

impl ChatRequest {
    /// Parses an OpenAI chat completion body.
    pub fn parse(body: &[u8], default_provider: &str) -> Result<ChatRequest, BadRequest> {
        let text = std::str::from_utf8(body)
            .map_err(|e| BadRequest(format!("the request body is not UTF-8: {e}")))?;
        if JsonKind::of(text) != JsonKind::Object {
            return Err(BadRequest(
                "the request body must be a JSON object with `model` and `messages`".into(),
            ));
        }
        let entries = object_entries(text)
            .map_err(|e| BadRequest(format!("the request body is not valid JSON: {e}")))?;
        let mut model = None;
        let mut messages = None;
        let mut stream = false;
        let mut params = Vec::new();
        for (k, v) in entries {
            match k.as_ref() {
                "model" => {
                    model = Some(serde_json::from_str::<String>(v).map_err(|_| {
                        BadRequest("`model` must be a string like \"gpt-4o\" or \"openai/gpt-4o\"".into())
                    })?)
                }
                "messages" => {
                    if JsonKind::of(v) != JsonKind::Array {
                        return Err(BadRequest("`messages` must be an array of messages".into()));
                    }
                    messages = Some(RawJson::from_string(v.to_string()).map_err(|e| BadRequest(e.0))?);
                }
                "stream" => {
                    stream = match v.trim() {
                        "true" => true,
                        "false" | "null" => false,
                        _ => return Err(BadRequest("`stream` must be true or false".into())),
                    }
                }
                _ => params.push((
                    k.into_owned(),
                    RawJson::from_string(v.to_string()).map_err(|e| BadRequest(e.0))?,
                )),
            }
        }
        let model = model.ok_or_else(|| BadRequest("`model` is required".into()))?;
        let messages = messages.ok_or_else(|| BadRequest("`messages` is required".into()))?;
        let (provider, model) = split_model(&model, default_provider);
        Ok(ChatRequest {
            provider,
            model,
            messages,
            params,
            stream,
        })
    }

    /// The flat Bifrost chat request `{"provider","model","input","params"}` (`params` left
    /// out when empty).
    pub fn to_bifrost(&self) -> String {
        let mut out = String::with_capacity(self.messages.as_str().len() + 256);
        out.push_str("{\"provider\":");
        out.push_str(&json_string(&self.provider));
        out.push_str(",\"model\":");
        out.push_str(&json_string(&self.model));
        out.push_str(",\"input\":");
        out.push_str(self.messages.as_str());
        if !self.params.is_empty() {
            out.push_str(",\"params\":");
            write_object(&mut out, &self.params);
        }
        out.push('}');
        out
    }

    /// Reads a flat Bifrost chat request (after the plugins) back.
    pub fn from_bifrost(flat: &str, stream: bool) -> Result<ChatRequest, BadRequest> {
        let entries = object_entries(flat)
            .map_err(|e| BadRequest(format!("the chat request is not a JSON object: {e}")))?;
        let mut provider = String::new();
        let mut model = None;
        let mut messages = None;
        let mut params = Vec::new();
        for (k, v) in entries {
            match k.as_ref() {
                "provider" => {
                    provider = serde_json::from_str::<Option<String>>(v)
                        .ok()
                        .flatten()
                        .unwrap_or_default()
                }
                "model" => model = serde_json::from_str::<String>(v).ok(),
                "input" if JsonKind::of(v) == JsonKind::Array => {
                    messages = Some(RawJson::from_string(v.to_string()).map_err(|e| BadRequest(e.0))?)
                }
                "params" if JsonKind::of(v) == JsonKind::Object => {
                    for (pk, pv) in object_entries(v).map_err(|e| BadRequest(e.0))? {
                        params.push((
                            pk.into_owned(),
                            RawJson::from_string(pv.to_string()).map_err(|e| BadRequest(e.0))?,
                        ));
                    }
                }
                _ => {}
            }
        }
        Ok(ChatRequest {
            provider,
            model: model.ok_or_else(|| BadRequest("the chat request has no `model` string".into()))?,
            messages: messages
                .ok_or_else(|| BadRequest("the chat request has no `input` array of messages".into()))?,
            params,
            stream,
        })
    }

    /// The OpenAI body sent to an upstream provider.
    pub fn to_openai(&self) -> String {
        let mut out = String::with_capacity(self.messages.as_str().len() + 256);
        out.push_str("{\"model\":");
        out.push_str(&json_string(&self.model));
        out.push_str(",\"messages\":");
        out.push_str(self.messages.as_str());
        for (k, v) in &self.params {
            out.push(',');
            out.push_str(&json_string(k));
            out.push(':');
            out.push_str(v.as_str());
        }
        if self.stream {
            out.push_str(",\"stream\":true");
        }
        out.push('}');
        out
    }

    /// A parameter, raw.
    pub fn param(&self, key: &str) -> Option<&RawJson> {
        self.params.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

fn write_object(out: &mut String, members: &[(String, RawJson)]) {
    out.push('{');
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&json_string(k));
        out.push(':');
        out.push_str(v.as_str());
    }
    out.push('}');
}

/// An OpenAI-style error body (also a Bifrost error: `error.message`, `error.type`, `status_code`).
pub fn error_body(status: u16, error_type: &str, message: &str) -> String {
    format!(
        "{{\"error\":{{\"message\":{},\"type\":{},\"code\":{}}},\"status_code\":{status},\"is_bifrost_error\":true}}",
        json_string(message),
        json_string(error_type),
        json_string(&status.to_string())
    )
}

/// The HTTP status an error JSON asks for: `status_code`, else a numeric `error.code`, else 500.
pub fn error_status(error: &RawJson) -> u16 {
    let valid = |n: u64| (400..=599).contains(&n).then_some(n as u16);
    if let Some(n) = error
        .get_ignore_case("status_code")
        .and_then(|v| serde_json::from_str::<u64>(v).ok())
        .and_then(valid)
    {
        return n;
    }
    error
        .get_path(&["error", "code"])
        .and_then(|v| {
            serde_json::from_str::<String>(v)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .or_else(|| serde_json::from_str::<u64>(v).ok())
        })
        .and_then(valid)
        .unwrap_or(500)
}

/// Turns a (non-streaming) chat completion into the chunks a stream would have carried:
/// one with the whole message as its delta and the finish reason, with the usage.
pub fn response_to_chunks(chat: &RawJson) -> Vec<RawJson> {
    let entries = match object_entries(chat.as_str()) {
        Ok(e) => e,
        Err(_) => return vec![chat.clone()],
    };
    let mut members: Vec<(String, String)> = Vec::new();
    for (k, v) in entries {
        match k.as_ref() {
            "object" => members.push(("object".into(), "\"chat.completion.chunk\"".into())),
            "choices" => {
                let mut choices = Vec::new();
                if let Ok(items) = serde_json::from_str::<Vec<Box<serde_json::value::RawValue>>>(v) {
                    for item in items {
                        let Ok(fields) = object_entries(item.get()) else {
                            continue;
                        };
                        let mut out = Vec::new();
                        for (fk, fv) in fields {
                            if fk == "message" {
                                out.push(format!("\"delta\":{fv}"));
                            } else {
                                out.push(format!("{}:{fv}", json_string(&fk)));
                            }
                        }
                        choices.push(format!("{{{}}}", out.join(",")));
                    }
                }
                members.push(("choices".into(), format!("[{}]", choices.join(","))));
            }
            _ => members.push((k.into_owned(), v.to_string())),
        }
    }
    if !members.iter().any(|(k, _)| k == "object") {
        members.push(("object".into(), "\"chat.completion.chunk\"".into()));
    }
    let body = members
        .iter()
        .map(|(k, v)| format!("{}:{v}", json_string(k)))
        .collect::<Vec<_>>()
        .join(",");
    vec![RawJson::from_string(format!("{{{body}}}")).unwrap_or_else(|_| chat.clone())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_body_round_trips_losslessly_through_the_bifrost_request() {
        let body = br#"{"model":"openai/gpt-4o","messages":[{"role":"user","content":"hi","x-extra":null}],"seed":123456789012345678901234567890,"temperature":1.0,"stream":true,"stream_options":{"include_usage":true}}"#;
        let req = ChatRequest::parse(body, "mock").unwrap();
        assert_eq!(
            (req.provider.as_str(), req.model.as_str(), req.stream),
            ("openai", "gpt-4o", true)
        );
        let flat = req.to_bifrost();
        assert_eq!(
            flat,
            r#"{"provider":"openai","model":"gpt-4o","input":[{"role":"user","content":"hi","x-extra":null}],"params":{"seed":123456789012345678901234567890,"temperature":1.0,"stream_options":{"include_usage":true}}}"#
        );
        let back = ChatRequest::from_bifrost(&flat, true).unwrap();
        assert_eq!(
            back.to_openai(),
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi","x-extra":null}],"seed":123456789012345678901234567890,"temperature":1.0,"stream_options":{"include_usage":true},"stream":true}"#
        );
    }

    #[test]
    fn model_without_provider_uses_the_default_provider() {
        let req = ChatRequest::parse(br#"{"model":"mock-model","messages":[]}"#, "mock").unwrap();
        assert_eq!(
            (req.provider.as_str(), req.model.as_str()),
            ("mock", "mock-model")
        );
        assert_eq!(split_model("/x", "d"), ("d".to_string(), "/x".to_string()));
        assert_eq!(split_model("a/b/c", "d"), ("a".to_string(), "b/c".to_string()));
    }

    #[test]
    fn bad_bodies_say_what_is_wrong() {
        for (body, needle) in [
            (&b"[1]"[..], "JSON object"),
            (b"{\"messages\":[]}", "`model` is required"),
            (b"{\"model\":\"m\"}", "`messages` is required"),
            (b"{\"model\":1,\"messages\":[]}", "`model` must be a string"),
            (
                b"{\"model\":\"m\",\"messages\":{}}",
                "`messages` must be an array",
            ),
            (
                b"{\"model\":\"m\",\"messages\":[],\"stream\":\"yes\"}",
                "`stream`",
            ),
            (b"{\"model\":", "not valid JSON"),
            (b"\xff", "not UTF-8"),
        ] {
            let err = ChatRequest::parse(body, "mock").unwrap_err();
            assert!(
                err.0.contains(needle),
                "{}: {}",
                String::from_utf8_lossy(body),
                err.0
            );
        }
    }

    #[test]
    fn error_status_reads_status_code_then_numeric_code() {
        let e = |s: &str| RawJson::from_string(s.to_string()).unwrap();
        assert_eq!(
            error_status(&e(r#"{"status_code":429,"error":{"message":"x"}}"#)),
            429
        );
        assert_eq!(error_status(&e(r#"{"error":{"message":"x","code":"403"}}"#)), 403);
        assert_eq!(
            error_status(&e(r#"{"error":{"message":"x","code":"rate_limit"}}"#)),
            500
        );
        assert_eq!(error_status(&e(r#"{"status_code":200,"error":{}}"#)), 500);
    }

    #[test]
    fn a_response_becomes_one_chunk_with_the_message_as_delta() {
        let chat = RawJson::from_string(
            r#"{"id":"x","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"total_tokens":3}}"#.into(),
        )
        .unwrap();
        let chunks = response_to_chunks(&chat);
        assert_eq!(
            chunks[0].as_str(),
            r#"{"id":"x","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"total_tokens":3}}"#
        );
    }
}
