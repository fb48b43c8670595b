//! Structural edits of chat requests that keep every other byte as it arrived, and
//! short-circuits built from a raw chat response.
//!
//! [`LlmRequest::edit_chat`] rewrites a whole array when its length changes (inserting a
//! message re-serializes every message through the typed view). These helpers splice instead:
//! the new element is inserted into the original text and the existing elements are not
//! touched.
//!
//! ```
//! use bifrost_wasm_sdk::prelude::*;
//! use bifrost_wasm_sdk::edit::{append_to_request_array, insert_message};
//!
//! let mut request = LlmRequest::from_json(
//!     r#"{"model":"m","input":[{"role":"user","content":"hi","n":1.0}]}"#,
//! ).unwrap();
//! insert_message(&mut request, 0, &ChatMessage::text(ChatMessageRole::System, "Be brief.")).unwrap();
//! append_to_request_array(&mut request, "fallbacks", &[Fallback::new("anthropic", "claude")]).unwrap();
//! assert_eq!(
//!     request.as_str(),
//!     r#"{"model":"m","input":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi","n":1.0}],"fallbacks":[{"provider":"anthropic","model":"claude"}]}"#
//! );
//! ```

use serde::Serialize;

use crate::text::{array_elements, splice};
use crate::types::hooks::{PreHookInput, PreHookOutput};
use crate::types::raw::{find_member, JsonError, JsonKind, RawJson};
use crate::types::shape::{short_circuit_json, wrap_chat_response, LlmRequest};

/// Byte range of the sub-slice `part` inside `root`.
fn range_of(root: &str, part: &str) -> std::ops::Range<usize> {
    let start = part.as_ptr() as usize - root.as_ptr() as usize;
    start..start + part.len()
}

/// Inserts `items` into the array member `field` of the inner request at `position`
/// (clamped to the array's length). A missing or `null` member becomes a new array.
fn insert_into_array<T: Serialize>(
    request: &mut LlmRequest,
    field: &str,
    position: Option<usize>,
    items: &[T],
) -> Result<(), JsonError> {
    if items.is_empty() {
        return Ok(());
    }
    let encoded: Vec<String> = items
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<_, _>>()?;
    let joined = encoded.join(",");
    let root = request.as_str();
    let inner = request
        .inner()
        .ok_or_else(|| JsonError("the request has no inner request object".into()))?;
    let array = find_member(inner, field, false).map(|(_, v)| v);
    let text = match array {
        Some(array) if JsonKind::of(array) == JsonKind::Array => {
            let elements = array_elements(array)?.unwrap_or_default();
            let at = position.unwrap_or(elements.len()).min(elements.len());
            if elements.is_empty() {
                splice(root, vec![(range_of(root, array), format!("[{joined}]"))])
            } else if at < elements.len() {
                let start = range_of(root, elements[at]).start;
                splice(root, vec![(start..start, format!("{joined},"))])
            } else {
                let end = range_of(root, elements[elements.len() - 1]).end;
                splice(root, vec![(end..end, format!(",{joined}"))])
            }
        }
        Some(other) if JsonKind::of(other) != JsonKind::Null => {
            return Err(JsonError(format!(
                "`{field}` is a {}, not an array",
                JsonKind::of(other).name()
            )))
        }
        _ => {
            let value = RawJson::from_string(format!("[{joined}]"))?;
            request.set_field(field, &value)?;
            return Ok(());
        }
    };
    *request = LlmRequest::new(RawJson::from_string(text)?);
    Ok(())
}

/// Inserts `message` into the request's `input` at `position` (0 = first; past the end =
/// last). The other messages stay byte-identical. Errors when `input` is not an array.
pub fn insert_message<T: Serialize>(
    request: &mut LlmRequest,
    position: usize,
    message: &T,
) -> Result<(), JsonError> {
    insert_into_array(request, "input", Some(position), std::slice::from_ref(message))
}

/// Appends `items` to the array member `field` of the inner request (e.g. `fallbacks`),
/// creating it when missing or `null`. Existing elements stay byte-identical.
pub fn append_to_request_array<T: Serialize>(
    request: &mut LlmRequest,
    field: &str,
    items: &[T],
) -> Result<(), JsonError> {
    insert_into_array(request, field, None, items)
}

/// Answers a `pre_hook` with a chat completion response given as raw JSON text (for example
/// one kept from an earlier `post_hook`), byte for byte, wrapped in the response and
/// short-circuit shape that matches the request's shape.
pub fn short_circuit_with_chat(input: PreHookInput, chat: &str) -> Result<PreHookOutput, JsonError> {
    if JsonKind::of(chat) != JsonKind::Object {
        return Err(JsonError(format!(
            "a chat response must be a JSON object, found {}",
            JsonKind::of(chat).name()
        )));
    }
    let shape = input.request.shape();
    let response = wrap_chat_response(chat, shape);
    let short_circuit = RawJson::from_string(short_circuit_json(Some(&response), None, shape))?;
    Ok(PreHookOutput {
        context: input.context,
        request: None,
        short_circuit: Some(short_circuit),
        has_short_circuit: true,
        error: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::chat::{ChatMessage, ChatMessageRole, Fallback};
    use crate::types::shape::{wrap_chat_request, RequestShape};
    use serde_json::json;

    const FLAT: &str = r#"{"provider":"openai","model":"gpt-4","input":[{"role":"user","content":"Hello","name":null,"x":1.0}],"fallbacks":[{"provider":"a","model":"b","weight":0.50}]}"#;

    #[test]
    fn insert_message_splices_in_every_shape_and_keeps_other_messages() {
        for shape in RequestShape::ALL {
            let text = wrap_chat_request(FLAT, shape, false);
            let mut req = LlmRequest::from_json(&text).unwrap();
            insert_message(&mut req, 0, &ChatMessage::text(ChatMessageRole::System, "S")).unwrap();
            assert_eq!(
                req.as_str(),
                text.replace(r#""input":["#, r#""input":[{"role":"system","content":"S"},"#),
                "{shape}"
            );
            assert_eq!(req.shape(), shape);
        }
    }

    #[test]
    fn insert_message_at_end_into_empty_and_into_missing_input() {
        let mut req = LlmRequest::from_json(FLAT).unwrap();
        insert_message(&mut req, 99, &json!({"role": "user", "content": "last"})).unwrap();
        assert_eq!(req.chat().unwrap().unwrap().input[1].content_text(), "last");
        let mut empty = LlmRequest::from_json(r#"{"model":"m","input":[ ]}"#).unwrap();
        insert_message(&mut empty, 0, &ChatMessage::text(ChatMessageRole::User, "x")).unwrap();
        assert_eq!(
            empty.as_str(),
            r#"{"model":"m","input":[{"role":"user","content":"x"}]}"#
        );
        let mut missing = LlmRequest::from_json(r#"{"model":"m","input":null}"#).unwrap();
        insert_message(&mut missing, 0, &ChatMessage::text(ChatMessageRole::User, "x")).unwrap();
        assert_eq!(
            missing.as_str(),
            r#"{"model":"m","input":[{"role":"user","content":"x"}]}"#
        );
    }

    #[test]
    fn append_keeps_existing_elements_byte_identical() {
        let mut req = LlmRequest::from_json(FLAT).unwrap();
        append_to_request_array(&mut req, "fallbacks", &[Fallback::new("c", "d")]).unwrap();
        assert!(req.as_str().ends_with(
            r#""fallbacks":[{"provider":"a","model":"b","weight":0.50},{"provider":"c","model":"d"}]}"#
        ));
        let mut none = LlmRequest::from_json(r#"{"model":"m"}"#).unwrap();
        append_to_request_array(&mut none, "fallbacks", &[Fallback::new("c", "d")]).unwrap();
        assert_eq!(
            none.as_str(),
            r#"{"model":"m","fallbacks":[{"provider":"c","model":"d"}]}"#
        );
        let mut wrong = LlmRequest::from_json(r#"{"model":"m","fallbacks":"x"}"#).unwrap();
        assert!(append_to_request_array(&mut wrong, "fallbacks", &[Fallback::new("c", "d")]).is_err());
    }

    #[test]
    fn short_circuit_with_chat_keeps_the_response_bytes_and_mirrors_the_shape() {
        let chat = r#"{"id":"x","choices":[],"n":123456789012345678901234567890}"#;
        for shape in RequestShape::ALL {
            let input = PreHookInput {
                context: Default::default(),
                request: LlmRequest::from_json(&wrap_chat_request(FLAT, shape, false)).unwrap(),
            };
            let out = short_circuit_with_chat(input, chat).unwrap();
            assert!(out.has_short_circuit);
            let sc = out.short_circuit.unwrap();
            assert!(sc.as_str().contains(chat), "{shape}: {sc}");
            let key = if shape == RequestShape::GoEnvelope {
                "Response"
            } else {
                "response"
            };
            assert!(sc.get(key).is_some(), "{shape}: {sc}");
        }
    }
}
