//! The gateway's reading of client requests: OpenAI bodies of every route, Anthropic Messages
//! bodies, transcription uploads (multipart/form-data) and an Anthropic-compatible upstream's
//! event stream. The first byte picks what the rest is. Nothing may panic; whatever is
//! accepted must give valid JSON for the plugins and for the provider, and a request the
//! plugins hand back unchanged must read back into the same provider body.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bifrost_wasm_gateway::adapter::{Api, ApiRequest};
use bifrost_wasm_gateway::sse::SseParser;
use bifrost_wasm_gateway::{anthropic, multipart};
use bifrost_wasm_types::equal::json_equal;
use bifrost_wasm_types::scan;
use bifrost_wasm_types::shape::RequestShape;
use libfuzzer_sys::fuzz_target;

/// Runs a future whose input is all in memory: it never waits on anything.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1000 {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("a parse of an in-memory body kept waiting");
}

fn valid(json: &str, what: &str) {
    if let Err(e) = scan::validate(json) {
        panic!("{what} is not valid JSON ({e}): {json}");
    }
}

/// A request read from a client: its Bifrost form in every shape reads back into the same
/// provider body.
fn round_trip(request: &ApiRequest) {
    let flat = request.to_flat();
    valid(&flat, "the flat Bifrost request");
    let body = (request.api != Api::Transcriptions).then(|| request.to_openai());
    if let Some(body) = &body {
        valid(body, "the provider body");
    }
    for shape in RequestShape::ALL {
        let shaped = request.to_bifrost(shape);
        valid(shaped.as_str(), "the shaped Bifrost request");
        let back = ApiRequest::from_chain(request.api, &shaped, request.stream)
            .unwrap_or_else(|e| panic!("{shape}: the request does not read back: {}: {shaped}", e.0));
        assert_eq!((&back.provider, &back.model), (&request.provider, &request.model));
        if let Some(body) = &body {
            let again = back.to_openai();
            valid(&again, "the provider body read back");
            // A string `input` of the Responses API comes back as Bifrost's one user message.
            if !(request.api == Api::Responses && back.input_raw() != request.input_raw()) {
                assert!(json_equal(body, &again), "{shape}: {body} != {again}");
            }
        }
    }
}

const BOUNDARY: &str = "fuzz-boundary";

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 10 {
        n @ 0..=5 => {
            let api = [
                Api::Chat,
                Api::Completions,
                Api::Embeddings,
                Api::Responses,
                Api::Speech,
                Api::Images,
            ][usize::from(n)];
            if let Ok(request) = ApiRequest::parse(api, body, "mock") {
                round_trip(&request);
            }
        }
        6 => {
            let Ok(text) = std::str::from_utf8(body) else {
                return;
            };
            if scan::validate(text).is_err() {
                return;
            }
            if let Ok((flat, stream)) = anthropic::messages_to_responses_request(text, "mock") {
                valid(&flat, "the Responses request of an Anthropic body");
                let request = ApiRequest::from_bifrost(Api::AnthropicMessages, &flat, stream)
                    .unwrap_or_else(|e| panic!("{}: {flat}", e.0));
                round_trip(&request);
                let back = anthropic::responses_request_to_messages(&flat, stream)
                    .unwrap_or_else(|e| panic!("{e}: {flat}"));
                valid(&back, "the Anthropic body written back");
            }
        }
        7 | 8 => {
            let content_type = if which % 10 == 7 {
                format!("multipart/form-data; boundary={BOUNDARY}")
            } else {
                String::from_utf8_lossy(body.get(..body.len().min(80)).unwrap_or_default()).into_owned()
            };
            let bytes = bytes::Bytes::copy_from_slice(body);
            if let Ok(request) = ready(multipart::parse_transcription(bytes, Some(&content_type), "mock")) {
                round_trip(&request);
            }
        }
        _ => {
            // An Anthropic-compatible upstream's stream, through both event converters.
            let mut parser = SseParser::new();
            let mut events = parser.feed(body);
            events.extend(parser.finish());
            let mut from = anthropic::FromAnthropicEvents::new();
            let mut to = anthropic::ToAnthropicEvents::new("m");
            for event in events {
                let Ok(converted) = from.event(event.event.as_deref(), &event.data) else {
                    continue;
                };
                for responses_event in converted {
                    valid(&responses_event, "a Responses event");
                    for (_, anthropic_event) in to.event(&responses_event) {
                        valid(&anthropic_event, "an Anthropic event");
                    }
                }
            }
        }
    }
});
