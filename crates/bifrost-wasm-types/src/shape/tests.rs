//! The shapes' unit tests.

use super::*;
use serde_json::json;

const FLAT: &str = r#"{"provider":"openai","model":"gpt-4","input":[{"role":"user","content":"Hello"}],"params":{"temperature":0.7}}"#;

fn all_shapes() -> Vec<(RequestShape, LlmRequest)> {
    RequestShape::ALL
        .iter()
        .map(|s| {
            (
                *s,
                LlmRequest::from_json(&wrap_chat_request(FLAT, *s, false)).unwrap(),
            )
        })
        .collect()
}

#[test]
fn every_shape_is_recognised_with_provider_and_model() {
    for (shape, req) in all_shapes() {
        assert_eq!(req.shape(), shape);
        assert!(req.is_chat(), "{shape}");
        assert_eq!(req.get_provider_model(), ("openai".into(), "gpt-4".into()));
        assert_eq!(req.chat().unwrap().unwrap().input.len(), 1);
    }
}

#[test]
fn go_envelope_keys_match_case_insensitively() {
    let req = LlmRequest::from_json(
        r#"{"requesttype":"chat_completion","TextCompletionRequest":null,"chatrequest":{"provider":"p","model":"m","input":[]}}"#,
    )
    .unwrap();
    assert_eq!(req.shape(), RequestShape::GoEnvelope);
    assert_eq!(req.request_type(), Some("chat_completion"));
    assert_eq!(req.model().as_deref(), Some("m"));
}

#[test]
fn edits_are_written_back_in_the_shape_that_came_in() {
    for (shape, mut req) in all_shapes() {
        req.edit_chat(|c| c.model = "gpt-4o".into()).unwrap();
        let again = LlmRequest::from_json(req.as_str()).unwrap();
        assert_eq!(again.shape(), shape);
        assert_eq!(again.model().as_deref(), Some("gpt-4o"));
        let v: serde_json::Value = serde_json::from_str(req.as_str()).unwrap();
        let inner = match shape {
            RequestShape::Flat => v.clone(),
            RequestShape::Snake => v["chat_request"].clone(),
            RequestShape::GoEnvelope => {
                assert_eq!(v["TextCompletionRequest"], json!(null));
                v["ChatRequest"].clone()
            }
        };
        assert_eq!(inner["params"], json!({"temperature": 0.7}));
    }
}

#[test]
fn non_chat_kinds_are_recognised_and_untouched() {
    let req = LlmRequest::from_json(
        r#"{"RequestType":"embedding","ChatRequest":null,"EmbeddingRequest":{"provider":"openai","model":"text-embedding-3","input":"hi"}}"#,
    )
    .unwrap();
    assert_eq!(req.kind(), RequestKind::Embedding);
    assert_eq!(
        req.get_provider_model(),
        ("openai".into(), "text-embedding-3".into())
    );
    assert!(req.chat().is_none());
    let snake = LlmRequest::from_json(
        r#"{"speech_request":{"provider":"openai","model":"tts-1","input":{"input":"hi"}}}"#,
    )
    .unwrap();
    assert_eq!(snake.kind(), RequestKind::Speech);
    assert_eq!(snake.model().as_deref(), Some("tts-1"));
}

#[test]
fn responses_in_every_shape_expose_the_chat_response() {
    let chat = r#"{"id":"chatcmpl-123","model":"gpt-4","choices":[{"index":0,"message":{"role":"assistant","content":"Hi!"}}],"usage":{"prompt_tokens":5,"completion_tokens":10,"total_tokens":15}}"#;
    for text in [
        wrap_chat_response(chat, RequestShape::GoEnvelope),
        wrap_chat_response(chat, RequestShape::Snake),
        chat.to_string(),
    ] {
        let mut r = LlmResponse::from_json(&text).unwrap();
        assert_eq!(r.chat_field::<String>("model").as_deref(), Some("gpt-4"));
        r.set_chat_field("model", "gpt-4 (via rust-wasm)").unwrap();
        assert_eq!(r.chat().unwrap().unwrap().model, "gpt-4 (via rust-wasm)");
        assert_eq!(r.chat().unwrap().unwrap().first_text().as_deref(), Some("Hi!"));
    }
}

#[test]
fn set_chat_field_replaces_in_place_or_appends_to_the_chat_object() {
    let chat = r#"{"id":"x","model":"m","choices":[],"extra":{"model":"keep"}}"#;
    for shape in [RequestShape::GoEnvelope, RequestShape::Snake] {
        let mut r = LlmResponse::from_json(&wrap_chat_response(chat, shape)).unwrap();
        r.set_chat_field("model", "m2").unwrap();
        let expected = chat.replace(r#""model":"m","#, r#""model":"m2","#);
        assert_eq!(r.chat_raw(), Some(expected.as_str()), "{shape}");
        r.set_chat_field("system_fingerprint", "fp").unwrap();
        assert_eq!(r.chat_field_str("system_fingerprint").as_deref(), Some("fp"));
        assert_eq!(r.chat_field_str("model").as_deref(), Some("m2"));
        assert_eq!(
            r.shape(),
            if shape == RequestShape::Snake {
                ResponseShape::Snake
            } else {
                ResponseShape::GoEnvelope
            }
        );
    }
}

#[test]
fn short_circuit_parts_accept_both_key_spellings() {
    let go = short_circuit_json(
        None,
        Some(r#"{"error":{"message":"x"}}"#),
        RequestShape::GoEnvelope,
    );
    let p = ShortCircuitParts::parse(&go).unwrap();
    assert!(p.response.is_none());
    assert!(p.error.is_some());
    let seed = short_circuit_json(Some(r#"{"chat_response":{}}"#), None, RequestShape::Flat);
    let p = ShortCircuitParts::parse(&seed).unwrap();
    assert!(p.response.is_some() && p.error.is_none());
}

#[test]
fn every_known_kind_is_wrapped_in_every_shape_and_read_back_as_that_kind() {
    let inner = r#"{"provider":"openai","model":"m","input":{"input":"hi"},"params":{"x":1.0}}"#;
    for kind in RequestKind::KNOWN {
        for stream in [false, true] {
            for shape in RequestShape::ALL {
                let text = wrap_request(inner, &kind, shape, stream);
                let req = LlmRequest::from_json(&text).unwrap();
                assert_eq!(req.shape(), shape, "{text}");
                assert_eq!(req.inner(), Some(inner), "{text}");
                if shape == RequestShape::Flat {
                    continue;
                }
                assert_eq!(req.kind(), kind, "{text}");
                if shape == RequestShape::GoEnvelope {
                    assert_eq!(req.request_type(), Some(kind.request_type(stream).as_str()));
                }
            }
        }
    }
    assert_eq!(
        RequestKind::TextCompletion.request_type(true),
        "text_completion_stream"
    );
    assert_eq!(RequestKind::Embedding.request_type(true), "embedding");
    assert_eq!(
        RequestKind::Responses.snake_response_member(true).as_deref(),
        Some("responses_stream_response")
    );
    assert_eq!(
        RequestKind::ImageGeneration.go_response_member(false),
        Some("ImageGenerationResponse")
    );
}

#[test]
fn every_known_kind_of_response_is_found_with_its_kind_and_stream_member() {
    let inner = r#"{"id":"r","output":[],"n":12345678901234567890}"#;
    for kind in RequestKind::KNOWN {
        for stream in [false, true] {
            for shape in RequestShape::ALL {
                let text = wrap_response(inner, &kind, shape, stream);
                let mut r = LlmResponse::from_json(&text).unwrap();
                assert_eq!(r.kind(), Some(kind.clone()), "{text}");
                assert_eq!(r.inner_raw(), Some(inner), "{text}");
                let stream_member = kind.go_response_member(true) != kind.go_response_member(false);
                assert_eq!(r.is_stream_event(), stream && stream_member, "{text}");
                assert_eq!(r.has_chat(), kind == RequestKind::Chat);
                r.set_inner_raw(r#"{"id":"s"}"#).unwrap();
                assert_eq!(r.inner_raw(), Some(r#"{"id":"s"}"#));
                assert_eq!(r.kind(), Some(kind.clone()));
            }
        }
    }
    // The Go envelope marks the non-null member, wherever it is.
    let r = LlmResponse::from_json(
        r#"{"ChatResponse":null,"EmbeddingResponse":{"data":[]},"SpeechResponse":null}"#,
    )
    .unwrap();
    assert_eq!(r.kind(), Some(RequestKind::Embedding));
    assert!(r.chat_raw().is_none());
    let none = LlmResponse::from_json(r#"{"ChatResponse":null}"#).unwrap();
    assert_eq!((none.kind(), none.inner_raw()), (None, None));
    assert_eq!(none.shape(), ResponseShape::GoEnvelope);
}
