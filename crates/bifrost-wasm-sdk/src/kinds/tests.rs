use super::*;
use crate::types::shape::{wrap_request, wrap_response, RequestShape};

/// The shapes a request of `kind` is recognised in: all three for a text completion with a
/// string prompt, the envelope and snake shapes for the rest.
fn shapes(kind: &RequestKind) -> Vec<RequestShape> {
    if *kind == RequestKind::TextCompletion {
        RequestShape::ALL.to_vec()
    } else {
        vec![RequestShape::GoEnvelope, RequestShape::Snake]
    }
}

fn request(flat: &str, kind: &RequestKind, shape: RequestShape) -> (String, LlmRequest) {
    let text = wrap_request(flat, kind, shape, false);
    let request = LlmRequest::from_json(&text).unwrap();
    assert_eq!(request.kind(), *kind, "{shape}: {text}");
    (text, request)
}

const TEXT_COMPLETION: &str = r#"{"provider":"openai","model":"davinci-002","input":"Once upon","params":{"max_tokens":64,"temperature":1.0},"x":123456789012345678901234567890}"#;
const RESPONSES: &str = r#"{"provider":"anthropic","model":"claude-sonnet","input":[{"type":"message","role":"developer","content":"Be brief."},{"role":"user","content":[{"type":"input_text","text":"Hi"},{"type":"input_text","text":"there"}]},{"type":"function_call","call_id":"c","name":"lookup","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"42"}],"params":{"max_output_tokens":300,"instructions":"","n":1.0}}"#;
const EMBEDDING: &str =
    r#"{"provider":"openai","model":"text-embedding-3-small","input":["a","b"],"params":{"dimensions":256}}"#;
const SPEECH: &str = r#"{"provider":"openai","model":"tts-1","input":{"input":"Hello there","x":null},"params":{"voice":"alloy","response_format":"wav","speed":1.0}}"#;
const TRANSCRIPTION: &str = r#"{"provider":"openai","model":"whisper-1","input":{"file":"UklGRg==","filename":"a.wav"},"params":{"language":"en","prompt":"names: Bob"}}"#;
const IMAGE: &str = r#"{"provider":"openai","model":"dall-e-3","input":{"prompt":"a red fox"},"params":{"n":2,"size":"1024x1024","response_format":"b64_json"}}"#;

#[test]
fn each_request_kind_has_its_own_view_in_every_shape_that_carries_it() {
    let kind = RequestKind::TextCompletion;
    for shape in shapes(&kind) {
        let (_, r) = request(TEXT_COMPLETION, &kind, shape);
        let v = r.text_completion().expect("text completion view");
        assert_eq!(v.prompts(), ["Once upon"]);
        assert!(!v.is_batch());
        assert_eq!(v.max_tokens(), Some(64));
        assert_eq!(v.model().as_deref(), Some("davinci-002"));
        assert_eq!(v.provider().as_deref(), Some("openai"));
        assert_eq!(v.param_raw("temperature"), Some("1.0"));
        assert!(r.responses().is_none() && r.embedding().is_none() && r.chat().is_none());
    }
    let kind = RequestKind::Responses;
    for shape in shapes(&kind) {
        let (_, r) = request(RESPONSES, &kind, shape);
        let v = r.responses().expect("responses view");
        let items = v.items();
        assert_eq!(items.len(), 4);
        assert!(items[0].is_system());
        assert_eq!(items[0].text(), "Be brief.");
        assert!(items[1].is_message() && !items[1].is_system());
        assert_eq!(items[1].role.as_deref(), Some("user"));
        assert_eq!(items[1].texts, ["Hi", "there"]);
        assert_eq!(items[2].item_type.as_deref(), Some("function_call"));
        assert_eq!(items[2].name.as_deref(), Some("lookup"));
        assert_eq!(items[2].texts, ["{}"]);
        assert_eq!(items[3].texts, ["42"]);
        assert!(!items[3].is_message());
        assert!(v.has_system_prompt());
        assert_eq!(v.instructions().as_deref(), Some(""));
        assert_eq!(v.max_output_tokens(), Some(300));
        assert!(r.text_completion().is_none());
    }
    let kind = RequestKind::Embedding;
    for shape in shapes(&kind) {
        let (_, r) = request(EMBEDDING, &kind, shape);
        let v = r.embedding().expect("embedding view");
        assert_eq!(v.input(), EmbeddingInput::Texts(vec!["a".into(), "b".into()]));
        assert_eq!(v.input().texts(), ["a", "b"]);
        assert_eq!(v.dimensions(), Some(256));
    }
    let kind = RequestKind::Speech;
    for shape in shapes(&kind) {
        let (_, r) = request(SPEECH, &kind, shape);
        let v = r.speech().expect("speech view");
        assert_eq!(v.text().as_deref(), Some("Hello there"));
        assert_eq!(v.voice().as_deref(), Some("alloy"));
        assert_eq!(v.voices(), ["alloy"]);
        assert_eq!(v.response_format().as_deref(), Some("wav"));
    }
    let kind = RequestKind::Transcription;
    for shape in shapes(&kind) {
        let (_, r) = request(TRANSCRIPTION, &kind, shape);
        let v = r.transcription().expect("transcription view");
        assert_eq!(v.filename().as_deref(), Some("a.wav"));
        assert_eq!(v.file_base64().as_deref(), Some("UklGRg=="));
        assert_eq!(v.file(), Some(Ok(b"RIFF".to_vec())));
        assert_eq!(v.language().as_deref(), Some("en"));
        assert_eq!(v.prompt().as_deref(), Some("names: Bob"));
    }
    let kind = RequestKind::ImageGeneration;
    for shape in shapes(&kind) {
        let (_, r) = request(IMAGE, &kind, shape);
        let v = r.image_generation().expect("image view");
        assert_eq!(v.prompt().as_deref(), Some("a red fox"));
        assert_eq!(v.n(), Some(2));
        assert_eq!(v.size().as_deref(), Some("1024x1024"));
        assert!(r.speech().is_none());
    }
}

#[test]
fn embedding_inputs_of_every_form_are_told_apart() {
    let input = |json: &str| {
        let flat = format!(r#"{{"model":"e","input":{json}}}"#);
        let (_, r) = request(&flat, &RequestKind::Embedding, RequestShape::Snake);
        let input = r.embedding().unwrap().input();
        input
    };
    assert_eq!(input(r#""one""#), EmbeddingInput::Text("one".into()));
    assert_eq!(input("[1,2,3]"), EmbeddingInput::Tokens(vec![1, 2, 3]));
    assert_eq!(
        input("[[1,2],[3]]"),
        EmbeddingInput::TokenBatches(vec![vec![1, 2], vec![3]])
    );
    assert_eq!(
        input(r#"[{"type":"text"}]"#),
        EmbeddingInput::Other(r#"[{"type":"text"}]"#.into())
    );
    assert!(input("[1,2]").texts().is_empty());
}

#[test]
fn speech_voices_read_a_multi_speaker_list_and_a_broken_file_is_an_error() {
    let flat = r#"{"model":"tts","input":{"input":"hi"},"params":{"voice":[{"speaker":"A","voice":"alloy"},{"speaker":"B","voice":"echo"}]}}"#;
    let (_, r) = request(flat, &RequestKind::Speech, RequestShape::GoEnvelope);
    assert_eq!(r.speech().unwrap().voice(), None);
    assert_eq!(r.speech().unwrap().voices(), ["alloy", "echo"]);
    let flat = r#"{"model":"w","input":{"file":"not base64!"}}"#;
    let (_, r) = request(flat, &RequestKind::Transcription, RequestShape::Snake);
    assert!(r.transcription().unwrap().file().unwrap().is_err());
}

/// A request edit: the kind and flat request it applies to, the edit, and the text it
/// replaces with what.
type EditCase<'a> = (
    &'a RequestKind,
    &'a str,
    fn(&mut LlmRequest) -> Result<(), JsonError>,
    &'a str,
    &'a str,
);

#[test]
fn request_edits_change_only_their_string_in_every_shape() {
    let cases: [EditCase; 6] = [
        (
            &RequestKind::TextCompletion,
            TEXT_COMPLETION,
            |r| r.set_prompt("Long ago"),
            r#""input":"Once upon""#,
            r#""input":"Long ago""#,
        ),
        (
            &RequestKind::TextCompletion,
            TEXT_COMPLETION,
            |r| r.set_prompts(&["a", "b\"c"]),
            r#""input":"Once upon""#,
            r#""input":["a","b\"c"]"#,
        ),
        (
            &RequestKind::Embedding,
            EMBEDDING,
            |r| r.set_embedding_input("only"),
            r#""input":["a","b"]"#,
            r#""input":"only""#,
        ),
        (
            &RequestKind::Speech,
            SPEECH,
            |r| r.set_speech_input("Bye"),
            r#""input":"Hello there""#,
            r#""input":"Bye""#,
        ),
        (
            &RequestKind::ImageGeneration,
            IMAGE,
            |r| r.set_image_prompt("a blue fox"),
            r#""prompt":"a red fox""#,
            r#""prompt":"a blue fox""#,
        ),
        (
            &RequestKind::Responses,
            RESPONSES,
            |r| r.set_param("max_output_tokens", &100),
            r#""max_output_tokens":300"#,
            r#""max_output_tokens":100"#,
        ),
    ];
    for (kind, flat, edit, before, after) in cases {
        for shape in shapes(kind) {
            let (text, mut r) = request(flat, kind, shape);
            edit(&mut r).unwrap();
            assert_eq!(r.as_str(), text.replacen(before, after, 1), "{kind:?} {shape}");
            assert_eq!(r.shape(), shape);
            // Flat, only a string prompt tells a text completion: a batch reads as chat.
            if !(shape == RequestShape::Flat && after.contains('[')) {
                assert_eq!(r.kind(), *kind, "{shape}");
            }
        }
    }
}

#[test]
fn edits_for_another_kind_are_refused_and_change_nothing() {
    let (text, mut r) = request(SPEECH, &RequestKind::Speech, RequestShape::GoEnvelope);
    assert!(r.set_prompt("x").is_err());
    assert!(r.set_prompts(&["x"]).is_err());
    assert!(r.set_embedding_input("x").is_err());
    assert!(r.set_image_prompt("x").is_err());
    let (_, mut chat) = request(
        r#"{"model":"m","input":[{"role":"user","content":"hi"}]}"#,
        &RequestKind::Chat,
        RequestShape::Flat,
    );
    let err = chat.set_speech_input("x").unwrap_err();
    assert!(err.to_string().contains("not a speech request"), "{err}");
    assert_eq!(r.as_str(), text);
}

#[test]
fn set_param_creates_params_when_missing_or_null() {
    for (flat, expected) in [
        (
            r#"{"model":"m","input":"p"}"#,
            r#"{"model":"m","input":"p","params":{"max_tokens":5}}"#,
        ),
        (
            r#"{"model":"m","input":"p","params":null}"#,
            r#"{"model":"m","input":"p","params":{"max_tokens":5}}"#,
        ),
        (
            r#"{"model":"m","input":"p","params":{"a":1.0}}"#,
            r#"{"model":"m","input":"p","params":{"a":1.0,"max_tokens":5}}"#,
        ),
    ] {
        let mut r = LlmRequest::from_json(flat).unwrap();
        r.set_param("max_tokens", &5).unwrap();
        assert_eq!(r.as_str(), expected);
    }
}

const COMPLETION_RESPONSE: &str = r#"{"id":"cmpl-1","object":"text_completion","created":1,"model":"davinci-002","choices":[{"text":" a time","index":0,"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":2,"completion_tokens":3,"total_tokens":5}}"#;
const RESPONSES_RESPONSE: &str = r#"{"id":"resp_1","object":"response","created_at":1,"model":"gpt-4o","status":"completed","output":[{"type":"message","id":"m","role":"assistant","status":"completed","content":[{"type":"output_text","text":"Hello","annotations":[]},{"type":"output_text","text":" world","annotations":[]}]}],"usage":{"input_tokens":4,"output_tokens":2,"total_tokens":6}}"#;
const EMBEDDING_RESPONSE: &str = r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,-2e-3,3]},{"object":"embedding","index":1,"embedding":[1,2,3]}],"model":"e","usage":{"prompt_tokens":2,"total_tokens":2}}"#;
const SPEECH_RESPONSE: &str = r#"{"audio":"UklGRg==","usage":null}"#;
const TRANSCRIPTION_RESPONSE: &str = r#"{"text":"hello","language":"en","duration":1.5}"#;
const IMAGE_RESPONSE: &str =
    r#"{"created":1,"data":[{"b64_json":"iVBO","revised_prompt":"a fox"},{"url":"https://x/y.png"}]}"#;

/// `inner` wrapped as the response of `kind` in the Go envelope and the snake shape.
fn responses_of(inner: &str, kind: &RequestKind, stream: bool) -> Vec<LlmResponse> {
    [RequestShape::GoEnvelope, RequestShape::Snake]
        .iter()
        .map(|s| LlmResponse::from_json(&wrap_response(inner, kind, *s, stream)).unwrap())
        .collect()
}

#[test]
fn each_response_kind_has_its_own_view_in_every_shape() {
    for r in responses_of(COMPLETION_RESPONSE, &RequestKind::TextCompletion, false) {
        let v = r.text_completion().expect("completion");
        assert_eq!(v.texts(), [" a time"]);
        assert_eq!(v.choices()[0].finish_reason.as_deref(), Some("stop"));
        assert_eq!(r.response_model().as_deref(), Some("davinci-002"));
        assert_eq!(r.response_kind(), Some((RequestKind::TextCompletion, false)));
        assert!(r.responses().is_none());
    }
    for r in responses_of(RESPONSES_RESPONSE, &RequestKind::Responses, false) {
        let v = r.responses().expect("responses");
        assert_eq!(v.output_text(), "Hello world");
        assert_eq!(v.status().as_deref(), Some("completed"));
        assert_eq!(v.usage(), Some((4, 2, 6)));
        assert_eq!(v.output_items()[0].texts, ["Hello", " world"]);
        assert!(r.responses_event().is_none());
        assert!(r.text_completion().is_none());
    }
    for r in responses_of(EMBEDDING_RESPONSE, &RequestKind::Embedding, false) {
        let v = r.embedding().expect("embedding");
        assert_eq!(v.count(), 2);
        assert_eq!(v.dims(), Some(3));
        assert_eq!(v.vectors(), vec![vec![0.1, -0.002, 3.0], vec![1.0, 2.0, 3.0]]);
    }
    for r in responses_of(SPEECH_RESPONSE, &RequestKind::Speech, false) {
        let v = r.speech().expect("speech");
        assert_eq!(v.audio(), Some(Ok(b"RIFF".to_vec())));
        assert_eq!(v.event_type(), None);
    }
    for r in responses_of(TRANSCRIPTION_RESPONSE, &RequestKind::Transcription, false) {
        let v = r.transcription().expect("transcription");
        assert_eq!(v.text().as_deref(), Some("hello"));
        assert_eq!(v.language().as_deref(), Some("en"));
    }
    for r in responses_of(IMAGE_RESPONSE, &RequestKind::ImageGeneration, false) {
        let images = r.image_generation().expect("image").images();
        assert_eq!(images.len(), 2);
        assert_eq!(images[0].b64_json.as_deref(), Some("iVBO"));
        assert_eq!(images[0].revised_prompt.as_deref(), Some("a fox"));
        assert_eq!(images[1].url.as_deref(), Some("https://x/y.png"));
    }
}

#[test]
fn stream_events_are_read_bare_or_wrapped() {
    let delta = r#"{"type":"response.output_text.delta","sequence_number":3,"item_id":"m","output_index":0,"content_index":1,"delta":"Hel"}"#;
    let completed =
        format!(r#"{{"type":"response.completed","sequence_number":9,"response":{RESPONSES_RESPONSE}}}"#);
    let part = r#"{"type":"response.content_part.done","output_index":0,"content_index":0,"part":{"type":"output_text","text":"Hello"}}"#;
    for (event, check) in [
        (delta.to_string(), 0),
        (completed.clone(), 1),
        (part.to_string(), 2),
    ] {
        let mut chunks = vec![RawJson::from_string(event.clone()).unwrap()];
        for r in responses_of(&event, &RequestKind::Responses, true) {
            chunks.push(r.into_raw());
        }
        for chunk in chunks {
            let e = chunk
                .responses_event()
                .unwrap_or_else(|| panic!("event in {chunk}"));
            assert_eq!(chunk.response_kind(), Some((RequestKind::Responses, true)));
            match check {
                0 => {
                    assert_eq!(e.event_type(), "response.output_text.delta");
                    assert_eq!(e.delta().as_deref(), Some("Hel"));
                    assert_eq!(
                        (e.sequence_number(), e.output_index(), e.content_index()),
                        (Some(3), Some(0), Some(1))
                    );
                    assert_eq!(e.item_id().as_deref(), Some("m"));
                    assert_eq!(e.text(), None);
                }
                1 => {
                    assert_eq!(e.text().as_deref(), Some("Hello world"));
                    assert_eq!(e.response().unwrap().status().as_deref(), Some("completed"));
                    assert_eq!(e.delta(), None);
                }
                _ => assert_eq!(e.text().as_deref(), Some("Hello")),
            }
            assert!(chunk.responses().is_none());
        }
    }
    let speech = RawJson::from_string(r#"{"type":"speech.audio.delta","audio":"UklGRg=="}"#.into()).unwrap();
    assert_eq!(speech.speech().unwrap().audio(), Some(Ok(b"RIFF".to_vec())));
    assert_eq!(
        speech.speech().unwrap().event_type().as_deref(),
        Some("speech.audio.delta")
    );
    let transcript =
        RawJson::from_string(r#"{"type":"transcript.text.delta","delta":"hel"}"#.into()).unwrap();
    assert_eq!(
        transcript.transcription().unwrap().delta().as_deref(),
        Some("hel")
    );
    let chunk = RawJson::from_string(COMPLETION_RESPONSE.into()).unwrap();
    assert_eq!(chunk.text_completion().unwrap().texts(), [" a time"]);
}

#[test]
fn set_response_field_splices_into_any_kind_in_any_shape() {
    for (inner, kind) in [
        (COMPLETION_RESPONSE, RequestKind::TextCompletion),
        (RESPONSES_RESPONSE, RequestKind::Responses),
        (EMBEDDING_RESPONSE, RequestKind::Embedding),
    ] {
        let model = member_str(inner, "model").unwrap().into_owned();
        let texts = [RequestShape::GoEnvelope, RequestShape::Snake]
            .iter()
            .map(|s| wrap_response(inner, &kind, *s, false))
            .chain([inner.to_string()]);
        for text in texts {
            let mut r = LlmResponse::from_json(&text).unwrap();
            r.set_response_field("model", &format!("{model} (x)")).unwrap();
            assert_eq!(
                r.as_str(),
                text.replacen(
                    &format!(r#""model":"{model}""#),
                    &format!(r#""model":"{model} (x)""#),
                    1
                ),
                "{kind:?}"
            );
        }
    }
    let mut none = LlmResponse::from_json(r#"{"nothing":1}"#).unwrap();
    assert!(none.set_response_field("model", "x").is_err());
    assert_eq!(none.as_str(), r#"{"nothing":1}"#);
}

#[test]
fn short_circuit_with_inner_answers_in_the_request_kind_and_shape() {
    use crate::hooks::PreHookInput;
    for (flat, kind, go, snake) in [
        (
            TEXT_COMPLETION,
            RequestKind::TextCompletion,
            "TextCompletionResponse",
            "text_completion_response",
        ),
        (
            RESPONSES,
            RequestKind::Responses,
            "ResponsesResponse",
            "responses_response",
        ),
        (
            EMBEDDING,
            RequestKind::Embedding,
            "EmbeddingResponse",
            "embedding_response",
        ),
    ] {
        let inner = r#"{"id":"x","n":123456789012345678901234567890}"#;
        for shape in shapes(&kind) {
            let (_, request) = request(flat, &kind, shape);
            let input = PreHookInput {
                context: Default::default(),
                request,
            };
            let out = input.short_circuit_with_inner(inner).unwrap();
            assert!(out.has_short_circuit);
            let sc = out.short_circuit.unwrap();
            let (outer, member) = match shape {
                RequestShape::GoEnvelope => ("Response", go),
                _ => ("response", snake),
            };
            assert_eq!(
                sc.get_path(&[outer, member]),
                Some(inner),
                "{kind:?} {shape}: {sc}"
            );
        }
    }
    let (_, request) = request(IMAGE, &RequestKind::ImageGeneration, RequestShape::Snake);
    let input = PreHookInput {
        context: Default::default(),
        request,
    };
    assert!(input.short_circuit_with_inner("[1]").is_err());
}
