//! redact on every request kind: text completions and Responses requests, responses and
//! streams (including values split across `response.output_text.delta` events at any point),
//! embedding / speech / image inputs; transcriptions and other kinds' responses pass through
//! byte for byte.

use bifrost_wasm_sdk::testing::hooks::{Post, Pre, StreamChunk};
use bifrost_wasm_sdk::testing::Harness;
use bifrost_wasm_sdk::types::shape::{wrap_request, wrap_response, RequestShape};
use bifrost_wasm_sdk::types::RequestKind;
use redact::detect::{Counts, Detector};
use redact::Redact;
use serde_json::{json, Value};

const SECRET_TEXT: &str = "mail bob@example.com or call +1 555 123 4567";
const REDACTED_TEXT: &str = "mail [EMAIL] or call [PHONE]";

fn harness(config: &str) -> Harness<Redact> {
    Harness::new(config).unwrap_or_else(|e| panic!("init {config}: {e}"))
}

fn json_str(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// Runs `pre_hook` on `request` (JSON text); returns the raw output and its value.
fn pre(h: &Harness<Redact>, request: &str) -> (String, Value) {
    let input = format!(r#"{{"context":{{"request_id":"r"}},"request":{request}}}"#);
    let out = h.call_raw::<Pre>(input.as_bytes());
    let v = serde_json::from_str(&out).expect("JSON output");
    (out, v)
}

fn assert_request(out: &str, expected: &str, what: &str) {
    assert!(
        out.contains(&format!(r#""request":{expected}"#)),
        "{what}: expected request\n{expected}\nin\n{out}"
    );
}

fn text_completion(prompt: &str) -> String {
    let p = json_str(prompt);
    format!(
        r#"{{"provider":"openai","model":"davinci-002","input":{p},"params":{{"max_tokens":16,"temperature":1.0}},"x":123456789012345678901234567890}}"#
    )
}

#[test]
fn text_completion_prompts_are_redacted_in_every_shape() {
    let h = harness("{}");
    for shape in RequestShape::ALL {
        let request = wrap_request(
            &text_completion(SECRET_TEXT),
            &RequestKind::TextCompletion,
            shape,
            false,
        );
        let (out, v) = pre(&h, &request);
        let want = wrap_request(
            &text_completion(REDACTED_TEXT),
            &RequestKind::TextCompletion,
            shape,
            false,
        );
        assert_request(&out, &want, &format!("{shape}"));
        assert_eq!(v["context"]["redactions"]["total"], 2, "{shape}");
    }
    // A batch of prompts (an array `input` is told from chat in the envelope and snake shapes).
    let batch = format!(
        r#"{{"model":"davinci-002","input":[{},"clean",{}]}}"#,
        json_str(SECRET_TEXT),
        json_str("key sk-proj-abcdefghijklmnopqrstuvwxyz")
    );
    let redacted = format!(
        r#"{{"model":"davinci-002","input":[{},"clean","key [SECRET]"]}}"#,
        json_str(REDACTED_TEXT)
    );
    for shape in [RequestShape::GoEnvelope, RequestShape::Snake] {
        let request = wrap_request(&batch, &RequestKind::TextCompletion, shape, true);
        let (out, v) = pre(&h, &request);
        assert_request(
            &out,
            &wrap_request(&redacted, &RequestKind::TextCompletion, shape, true),
            &format!("{shape}"),
        );
        assert_eq!(v["context"]["redactions"]["total"], 3);
    }
}

fn responses_request(text: &str, args: &str) -> String {
    let (t, a) = (json_str(text), json_str(args));
    format!(
        r#"{{"provider":"anthropic","model":"claude-sonnet","input":[{{"type":"message","role":"user","content":{t}}},{{"type":"message","role":"user","content":[{{"type":"input_text","text":{t}}},{{"type":"input_image","image_url":"https://x/a.png"}}],"x":null}},{{"type":"function_call","call_id":"c","name":"send","arguments":{a}}},{{"type":"function_call_output","call_id":"c","output":{t}}}],"params":{{"max_output_tokens":64,"temperature":1.0}}}}"#
    )
}

#[test]
fn responses_requests_are_redacted_item_by_item_in_envelope_and_snake_shapes() {
    let args = r#"{"to":"bob@example.com"}"#;
    let args_redacted = r#"{"to":"[EMAIL]"}"#;
    for (config, want_args, total) in [("{}", args, 6), (r#"{"tool_arguments": true}"#, args_redacted, 7)] {
        let h = harness(config);
        for shape in [RequestShape::GoEnvelope, RequestShape::Snake] {
            let request = wrap_request(
                &responses_request(SECRET_TEXT, args),
                &RequestKind::Responses,
                shape,
                false,
            );
            let (out, v) = pre(&h, &request);
            let want = wrap_request(
                &responses_request(REDACTED_TEXT, want_args),
                &RequestKind::Responses,
                shape,
                false,
            );
            assert_request(&out, &want, &format!("{config} {shape}"));
            assert_eq!(v["context"]["redactions"]["total"], total, "{config} {shape}");
        }
    }
}

#[test]
fn embedding_speech_and_image_inputs_are_redacted_and_transcriptions_pass_through() {
    let h = harness("{}");
    let s = json_str(SECRET_TEXT);
    let r = json_str(REDACTED_TEXT);
    let cases = [
        (
            RequestKind::Embedding,
            format!(r#"{{"model":"e","input":[{s},"x"],"params":{{"dimensions":8}}}}"#),
            format!(r#"{{"model":"e","input":[{r},"x"],"params":{{"dimensions":8}}}}"#),
        ),
        (
            RequestKind::Embedding,
            format!(r#"{{"model":"e","input":{s}}}"#),
            format!(r#"{{"model":"e","input":{r}}}"#),
        ),
        (
            RequestKind::Speech,
            format!(r#"{{"model":"tts","input":{{"input":{s}}},"params":{{"voice":"alloy","speed":1.0}}}}"#),
            format!(r#"{{"model":"tts","input":{{"input":{r}}},"params":{{"voice":"alloy","speed":1.0}}}}"#),
        ),
        (
            RequestKind::ImageGeneration,
            format!(r#"{{"model":"img","input":{{"prompt":{s}}},"params":{{"n":1}}}}"#),
            format!(r#"{{"model":"img","input":{{"prompt":{r}}},"params":{{"n":1}}}}"#),
        ),
    ];
    for (kind, flat, redacted) in cases {
        for shape in [RequestShape::GoEnvelope, RequestShape::Snake] {
            let (out, _) = pre(&h, &wrap_request(&flat, &kind, shape, false));
            assert_request(
                &out,
                &wrap_request(&redacted, &kind, shape, false),
                &format!("{kind:?} {shape}"),
            );
        }
    }
    let transcription = format!(
        r#"{{"model":"whisper-1","input":{{"file":"UklGRg==","filename":"a.wav"}},"params":{{"prompt":{s}}}}}"#
    );
    let tokens = r#"{"model":"e","input":[[1,2],[3]]}"#;
    for (kind, flat) in [
        (RequestKind::Transcription, transcription.as_str()),
        (RequestKind::Embedding, tokens),
    ] {
        for shape in [RequestShape::GoEnvelope, RequestShape::Snake] {
            let request = wrap_request(flat, &kind, shape, false);
            let (out, _) = pre(&h, &request);
            assert_request(&out, &request, &format!("{kind:?} {shape}"));
        }
    }
}

/// Runs `post_hook` on `response` (JSON text) and returns the raw output.
fn post(h: &Harness<Redact>, response: &str) -> String {
    let input =
        format!(r#"{{"context":{{"request_id":"r"}},"response":{response},"error":{{}},"has_error":false}}"#);
    h.call_raw::<Post>(input.as_bytes())
}

fn completion(text: &str, finish: &str) -> String {
    format!(
        r#"{{"id":"cmpl-1","object":"text_completion","created":1,"model":"davinci-002","choices":[{{"text":{},"index":0,"logprobs":null,"finish_reason":{finish}}}],"usage":{{"total_tokens":1.0}}}}"#,
        json_str(text)
    )
}

fn responses_response(text: &str) -> String {
    format!(
        r#"{{"id":"resp_1","object":"response","created_at":1,"model":"gpt-4o","status":"completed","output":[{{"type":"message","id":"m","role":"assistant","status":"completed","content":[{{"type":"output_text","text":{},"annotations":[]}}]}}],"usage":{{"input_tokens":1,"output_tokens":2,"total_tokens":3}},"x":0.10}}"#,
        json_str(text)
    )
}

#[test]
fn complete_text_completion_and_responses_responses_are_redacted_in_post_hook() {
    let h = harness("{}");
    for shape in [RequestShape::GoEnvelope, RequestShape::Snake] {
        for (kind, secret, redacted) in [
            (
                RequestKind::TextCompletion,
                completion(SECRET_TEXT, r#""stop""#),
                completion(REDACTED_TEXT, r#""stop""#),
            ),
            (
                RequestKind::Responses,
                responses_response(SECRET_TEXT),
                responses_response(REDACTED_TEXT),
            ),
        ] {
            let out = post(&h, &wrap_response(&secret, &kind, shape, false));
            let want = wrap_response(&redacted, &kind, shape, false);
            assert!(
                out.contains(&format!(r#""response":{want}"#)),
                "{kind:?} {shape}: {out}"
            );
        }
    }
}

#[test]
fn post_hook_leaves_stream_chunks_and_events_and_other_kinds_to_pass_through() {
    let h = harness("{}");
    let delta = format!(
        r#"{{"type":"response.output_text.delta","sequence_number":3,"item_id":"m","output_index":0,"content_index":0,"delta":{}}}"#,
        json_str("bob@example.com")
    );
    let completed = format!(
        r#"{{"type":"response.completed","response":{}}}"#,
        responses_response(SECRET_TEXT)
    );
    let tc_stream = completion(SECRET_TEXT, "null").replace(
        r#""usage""#,
        r#""extra_fields":{"request_type":"text_completion_stream"},"usage""#,
    );
    let chunks = [
        wrap_response(
            &completion("bob@example.com", "null"),
            &RequestKind::TextCompletion,
            RequestShape::GoEnvelope,
            true,
        ),
        wrap_response(
            &tc_stream.replace("null", r#""stop""#),
            &RequestKind::TextCompletion,
            RequestShape::Snake,
            true,
        ),
        wrap_response(&delta, &RequestKind::Responses, RequestShape::GoEnvelope, true),
        wrap_response(&completed, &RequestKind::Responses, RequestShape::Snake, true),
        wrap_response(
            r#"{"object":"list","data":[{"embedding":[0.10]}],"model":"bob@example.com"}"#,
            &RequestKind::Embedding,
            RequestShape::GoEnvelope,
            false,
        ),
        wrap_response(
            &format!(r#"{{"text":{}}}"#, json_str(SECRET_TEXT)),
            &RequestKind::Transcription,
            RequestShape::Snake,
            false,
        ),
        wrap_response(
            r#"{"audio":"UklGRg=="}"#,
            &RequestKind::Speech,
            RequestShape::GoEnvelope,
            false,
        ),
    ];
    for chunk in chunks {
        let out = post(&h, &chunk);
        assert!(out.contains(&format!(r#""response":{chunk}"#)), "{out}");
    }
}

/// Sends `chunks` (JSON texts) through the stream hook of `h` for request `id`; returns the
/// chunks the client receives.
fn stream(h: &Harness<Redact>, id: &str, chunks: &[String]) -> Vec<Value> {
    let mut context = json!({"request_id": id});
    let mut received = Vec::new();
    for chunk in chunks {
        let input = format!(r#"{{"context":{context},"request":{{}},"chunk":{chunk}}}"#);
        let out: Value = serde_json::from_str(&h.call_raw::<StreamChunk>(input.as_bytes())).unwrap();
        assert_eq!(out["error"], "", "{out}");
        assert_eq!(out["has_chunk"], true);
        context = out["context"].clone();
        received.push(out["chunk"].clone());
    }
    received
}

#[test]
fn text_completion_stream_holds_back_a_split_secret_and_flushes_it_at_finish() {
    let h = harness("{}");
    let chunk = |text: &str, finish: &str| completion(text, finish);
    let chunks = [
        chunk("Your key: sk-proj-abcd", "null"),
        chunk("efghijklmnopqrstuvwxyz0123 and mail bob@exa", "null"),
        chunk("mple.com ok", "null"),
        chunk("", r#""stop""#),
    ];
    let received = stream(&h, "tc", &chunks);
    let text: String = received
        .iter()
        .map(|c| c["choices"][0]["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Your key: [SECRET] and mail [EMAIL] ok");
    assert_eq!(received[3]["choices"][0]["finish_reason"], "stop");
    assert_eq!(received[0]["usage"]["total_tokens"], 1.0);
}

/// The events of a Responses stream whose output text arrives in `pieces`.
fn responses_events(pieces: &[&str]) -> Vec<String> {
    let whole: String = pieces.concat();
    let mut seq = 0;
    let mut next = || {
        seq += 1;
        seq
    };
    let mut events = vec![
        format!(
            r#"{{"type":"response.created","sequence_number":{},"response":{{"id":"resp_1","object":"response","status":"in_progress","output":[]}}}}"#,
            next()
        ),
        format!(
            r#"{{"type":"response.output_item.added","sequence_number":{},"output_index":0,"item":{{"type":"message","id":"m","role":"assistant","status":"in_progress","content":[]}}}}"#,
            next()
        ),
        format!(
            r#"{{"type":"response.content_part.added","sequence_number":{},"item_id":"m","output_index":0,"content_index":0,"part":{{"type":"output_text","text":"","annotations":[]}}}}"#,
            next()
        ),
    ];
    for piece in pieces {
        events.push(format!(
            r#"{{"type":"response.output_text.delta","sequence_number":{},"item_id":"m","output_index":0,"content_index":0,"delta":{}}}"#,
            next(),
            json_str(piece)
        ));
    }
    let w = json_str(&whole);
    events.push(format!(r#"{{"type":"response.output_text.done","sequence_number":{},"item_id":"m","output_index":0,"content_index":0,"text":{w}}}"#, next()));
    events.push(format!(r#"{{"type":"response.content_part.done","sequence_number":{},"item_id":"m","output_index":0,"content_index":0,"part":{{"type":"output_text","text":{w},"annotations":[]}}}}"#, next()));
    events.push(format!(r#"{{"type":"response.output_item.done","sequence_number":{},"output_index":0,"item":{{"type":"message","id":"m","role":"assistant","status":"completed","content":[{{"type":"output_text","text":{w},"annotations":[]}}]}}}}"#, next()));
    events.push(format!(
        r#"{{"type":"response.completed","sequence_number":{},"response":{}}}"#,
        next(),
        responses_response(&whole)
    ));
    events
}

/// What a client makes of a Responses stream: the deltas concatenated, and every whole text
/// the `.done` / `completed` events carry.
fn client_view(received: &[Value]) -> (String, Vec<String>) {
    let mut deltas = String::new();
    let mut whole = Vec::new();
    for e in received {
        match e["type"].as_str().unwrap() {
            "response.output_text.delta" => deltas.push_str(e["delta"].as_str().unwrap()),
            "response.output_text.done" => whole.push(e["text"].as_str().unwrap().to_string()),
            "response.content_part.done" => whole.push(e["part"]["text"].as_str().unwrap().to_string()),
            "response.output_item.done" => {
                whole.push(e["item"]["content"][0]["text"].as_str().unwrap().to_string())
            }
            "response.completed" => whole.push(
                e["response"]["output"][0]["content"][0]["text"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            ),
            _ => {}
        }
    }
    (deltas, whole)
}

#[test]
fn responses_stream_redacts_values_split_across_deltas_and_every_whole_text() {
    let h = harness("{}");
    let pieces = [
        "Your key: sk-proj-abcd",
        "efghijklmnopqrstuvwxyz0123 - mail bob@",
        "example.com",
        " now",
    ];
    let events = responses_events(&pieces);
    let received = stream(&h, "resp", &events);
    assert_eq!(received.len(), events.len(), "one chunk out per chunk in");
    let (deltas, whole) = client_view(&received);
    let expected = "Your key: [SECRET] - mail [EMAIL] now";
    assert_eq!(deltas, expected);
    // The tail held back at the last delta (`now`) is flushed by turning `.done` into a delta;
    // the content part, item and completed response still carry the whole redacted text.
    assert_eq!(whole, vec![expected; 3]);
    let flushed = &received[events.len() - 4];
    assert_eq!(flushed["type"], "response.output_text.delta");
    assert_eq!(flushed["sequence_number"], events.len() as u64 - 3);
    assert!(flushed.get("text").is_none());
    for e in &received {
        let text = e.to_string();
        assert!(
            !text.contains("bob@") && !text.contains("sk-proj"),
            "leaked: {text}"
        );
    }
    // The other events keep every member as sent.
    assert_eq!(received[0], serde_json::from_str::<Value>(&events[0]).unwrap());
}

#[test]
fn responses_done_without_held_text_passes_with_its_text_redacted() {
    let h = harness("{}");
    // A last delta that ends in whitespace leaves nothing held.
    let events = responses_events(&["mail bob@example.com ", "ok\n"]);
    let received = stream(&h, "r2", &events);
    let done = &received[events.len() - 4];
    assert_eq!(done["type"], "response.output_text.done");
    assert_eq!(done["text"], "mail [EMAIL] ok\n");
    assert_eq!(client_view(&received).0, "mail [EMAIL] ok\n");
}

#[test]
fn responses_stream_events_wrapped_like_responses_are_redacted_too() {
    let h = harness("{}");
    let events: Vec<String> = responses_events(&["call +1 555", " 123 4567", " now"])
        .iter()
        .map(|e| wrap_response(e, &RequestKind::Responses, RequestShape::GoEnvelope, true))
        .collect();
    let received: Vec<Value> = stream(&h, "r3", &events)
        .into_iter()
        .map(|c| c["ResponsesStreamResponse"].clone())
        .collect();
    let (deltas, whole) = client_view(&received);
    assert_eq!(deltas, "call [PHONE] now");
    assert_eq!(whole, vec!["call [PHONE] now"; 3]);
}

#[test]
fn speech_and_transcription_stream_events_pass_through_byte_for_byte() {
    let h = harness("{}");
    for chunk in [
        r#"{"type":"speech.audio.delta","audio":"Ym9iQGV4YW1wbGUuY29t"}"#,
        r#"{"type":"transcript.text.delta","delta":"bob@example.com"}"#,
        r#"{"type":"response.audio.delta","delta":"Ym9i","x":1.0}"#,
    ] {
        let input = format!(r#"{{"context":{{"request_id":"s"}},"request":{{}},"chunk":{chunk}}}"#);
        let out = h.call_raw::<StreamChunk>(input.as_bytes());
        assert!(out.contains(&format!(r#""chunk":{chunk}"#)), "{out}");
    }
}

proptest::proptest! {
    /// Wherever a Responses output text is cut into deltas, the client's deltas add up to the
    /// whole text redacted at once, and every whole text is redacted the same way.
    #[test]
    fn any_split_of_responses_deltas_gives_the_whole_text_redacted(
        words in proptest::collection::vec(proptest::sample::select(vec![
            "hello", "bob@example.com", "+1", "555", "123", "4567", "4111", "1111",
            "sk-proj-abcdefghijklmnopqrstuvwxyz", "Bearer", "abcdefabcdefabcdef", "x", ".", "é",
        ]), 0..16),
        seps in proptest::collection::vec(proptest::sample::select(vec![" ", "\n", ""]), 16),
        cuts in proptest::collection::vec(0usize..300, 0..10),
    ) {
        let mut text = String::new();
        for (w, s) in words.iter().zip(&seps) {
            text.push_str(w);
            text.push_str(s);
        }
        let whole = Detector::default().redact(&text, &mut Counts::default()).unwrap_or_else(|| text.clone());
        let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c.min(text.len())).filter(|c| text.is_char_boundary(*c)).collect();
        bounds.extend([0, text.len()]);
        bounds.sort_unstable();
        bounds.dedup();
        let pieces: Vec<&str> = bounds.windows(2).map(|w| &text[w[0]..w[1]]).collect();
        let h = harness("{}");
        let received = stream(&h, "p", &responses_events(&pieces));
        let (deltas, texts) = client_view(&received);
        proptest::prop_assert_eq!(&deltas, &whole);
        for t in texts {
            proptest::prop_assert_eq!(&t, &whole);
        }
    }
}
