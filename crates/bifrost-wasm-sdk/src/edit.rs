//! Structural edits of chat requests that keep every other byte as it arrived.
//!
//! [`LlmRequest::edit_chat`] rewrites a whole array when its length changes (inserting a
//! message re-serializes every message through the typed view). The [`RequestEdits`] methods
//! splice instead: the new element is inserted into the original text and the existing
//! elements are not touched.
//!
//! ```
//! use bifrost_wasm_sdk::prelude::*;
//!
//! let mut request = LlmRequest::from_json(
//!     r#"{"model":"m","input":[{"role":"user","content":"hi","n":1.0}]}"#,
//! ).unwrap();
//! request.insert_message(0, &ChatMessage::text(ChatMessageRole::System, "Be brief.")).unwrap();
//! request.append_to_array("fallbacks", &[Fallback::new("anthropic", "claude")]).unwrap();
//! assert_eq!(
//!     request.as_str(),
//!     r#"{"model":"m","input":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi","n":1.0}],"fallbacks":[{"provider":"anthropic","model":"claude"}]}"#
//! );
//! ```

use serde::Serialize;

use crate::text::{member, range_of, splice};
use crate::types::raw::{JsonError, JsonKind, RawJson};
use crate::types::scan;
use crate::types::shape::LlmRequest;

/// Inserts `items` into the array member `field` of the inner request at `position`
/// (clamped to the array's length; `None` = at the end). A missing or `null` member becomes a
/// new array.
fn insert_into_array<T: Serialize>(
    request: &mut LlmRequest,
    field: &str,
    position: Option<usize>,
    items: &[T],
) -> Result<(), JsonError> {
    if items.is_empty() {
        return Ok(());
    }
    let mut joined = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            joined.push(',');
        }
        joined.push_str(&crate::types::writer::to_string(item)?);
    }
    let root = request.as_str();
    let inner = request
        .inner()
        .ok_or_else(|| JsonError("the request has no inner request object".into()))?;
    let text = match member(inner, field) {
        Some(array) if JsonKind::of(array) == JsonKind::Array => {
            let elements: Vec<&str> = scan::Elements::new(array).collect();
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
            let value = RawJson::from_validated(format!("[{joined}]"));
            request.set_field(field, &value)?;
            return Ok(());
        }
    };
    *request = LlmRequest::new(RawJson::from_validated(text));
    Ok(())
}

/// Structural edits of a chat request that splice new elements in.
pub trait RequestEdits {
    /// Inserts `message` into the request's `input` at `position` (0 = first; past the end =
    /// last). The other messages stay byte-identical. Errors when `input` is not an array.
    fn insert_message<T: Serialize>(&mut self, position: usize, message: &T) -> Result<(), JsonError>;

    /// Appends `items` to the array member `field` of the inner request (e.g. `fallbacks`),
    /// creating it when missing or `null`. Existing elements stay byte-identical.
    fn append_to_array<T: Serialize>(&mut self, field: &str, items: &[T]) -> Result<(), JsonError>;
}

impl RequestEdits for LlmRequest {
    fn insert_message<T: Serialize>(&mut self, position: usize, message: &T) -> Result<(), JsonError> {
        insert_into_array(self, "input", Some(position), std::slice::from_ref(message))
    }

    fn append_to_array<T: Serialize>(&mut self, field: &str, items: &[T]) -> Result<(), JsonError> {
        insert_into_array(self, field, None, items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::PreHookInput;
    use crate::types::chat::{ChatMessage, ChatMessageRole, Fallback};
    use crate::types::shape::{wrap_chat_request, RequestShape};
    use serde_json::json;

    const FLAT: &str = r#"{"provider":"openai","model":"gpt-4","input":[{"role":"user","content":"Hello","name":null,"x":1.0}],"fallbacks":[{"provider":"a","model":"b","weight":0.50}]}"#;

    #[test]
    fn insert_message_splices_in_every_shape_and_keeps_other_messages() {
        for shape in RequestShape::ALL {
            let text = wrap_chat_request(FLAT, shape, false);
            let mut req = LlmRequest::from_json(&text).unwrap();
            req.insert_message(0, &ChatMessage::text(ChatMessageRole::System, "S"))
                .unwrap();
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
        req.insert_message(99, &json!({"role": "user", "content": "last"}))
            .unwrap();
        assert_eq!(req.chat().unwrap().unwrap().input[1].content_text(), "last");
        let mut empty = LlmRequest::from_json(r#"{"model":"m","input":[ ]}"#).unwrap();
        empty
            .insert_message(0, &ChatMessage::text(ChatMessageRole::User, "x"))
            .unwrap();
        assert_eq!(
            empty.as_str(),
            r#"{"model":"m","input":[{"role":"user","content":"x"}]}"#
        );
        let mut missing = LlmRequest::from_json(r#"{"model":"m","input":null}"#).unwrap();
        missing
            .insert_message(0, &ChatMessage::text(ChatMessageRole::User, "x"))
            .unwrap();
        assert_eq!(
            missing.as_str(),
            r#"{"model":"m","input":[{"role":"user","content":"x"}]}"#
        );
    }

    #[test]
    fn append_keeps_existing_elements_byte_identical() {
        let mut req = LlmRequest::from_json(FLAT).unwrap();
        req.append_to_array("fallbacks", &[Fallback::new("c", "d")])
            .unwrap();
        assert!(req.as_str().ends_with(
            r#""fallbacks":[{"provider":"a","model":"b","weight":0.50},{"provider":"c","model":"d"}]}"#
        ));
        let mut none = LlmRequest::from_json(r#"{"model":"m"}"#).unwrap();
        none.append_to_array("fallbacks", &[Fallback::new("c", "d")])
            .unwrap();
        assert_eq!(
            none.as_str(),
            r#"{"model":"m","fallbacks":[{"provider":"c","model":"d"}]}"#
        );
        let mut wrong = LlmRequest::from_json(r#"{"model":"m","fallbacks":"x"}"#).unwrap();
        assert!(wrong
            .append_to_array("fallbacks", &[Fallback::new("c", "d")])
            .is_err());
    }

    #[test]
    fn short_circuit_with_chat_keeps_the_response_bytes_and_mirrors_the_shape() {
        let chat = r#"{"id":"x","choices":[],"n":123456789012345678901234567890}"#;
        for shape in RequestShape::ALL {
            let input = PreHookInput {
                context: Default::default(),
                request: LlmRequest::from_json(&wrap_chat_request(FLAT, shape, false)).unwrap(),
            };
            let out = input.short_circuit_with_chat(chat).unwrap();
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
