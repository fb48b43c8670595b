//! The codec's reading of every hook's output envelope and the raw-JSON editing primitives:
//! arbitrary bytes as every output envelope, as a short-circuit, and as a request/response
//! whose fields are read and spliced. Nothing may panic, and every edit must leave valid JSON
//! behind.
#![no_main]

use bifrost_wasm_types::codec::{self, Direction, Envelope};
use bifrost_wasm_types::raw::RawJson;
use bifrost_wasm_types::shape::{LlmRequest, LlmResponse, ShortCircuitParts};
use bifrost_wasm_types::Hook;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for hook in Hook::ALL {
        if let Ok(env) = Envelope::parse_as(hook, Direction::Output, data) {
            let _ = (env.get("context"), env.member("request").map(|(_, m)| m.count()));
            match hook {
                Hook::HttpPreHook => drop(codec::http_pre_hook::Output::read(&env)),
                Hook::HttpPostHook => drop(codec::http_post_hook::Output::read(&env)),
                Hook::HttpStreamChunkHook => drop(codec::http_stream_chunk_hook::Output::read(&env)),
                Hook::PreHook => drop(codec::pre_hook::Output::read(&env)),
                Hook::PostHook => drop(codec::post_hook::Output::read(&env)),
            }
        }
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = ShortCircuitParts::parse(text);
    if let Ok(mut req) = LlmRequest::from_json(text) {
        let _ = (req.shape(), req.kind(), req.get_provider_model(), req.chat());
        if req.set_field("model", "fuzzed").is_ok() {
            serde_json::from_str::<&serde_json::value::RawValue>(req.as_str())
                .expect("valid after set_field");
            assert_eq!(req.model().as_deref(), Some("fuzzed"));
        }
        if req.edit_chat(|c| c.model.push('!')).is_ok() {
            serde_json::from_str::<&serde_json::value::RawValue>(req.as_str())
                .expect("valid after edit_chat");
        }
    }
    if let Ok(mut resp) = LlmResponse::from_json(text) {
        let _ = resp.chat();
        if resp.set_chat_field("model", "m").is_ok() {
            assert_eq!(resp.chat_field::<String>("model").as_deref(), Some("m"));
        }
    }
    if let Ok(mut raw) = RawJson::from_string(text.to_string()) {
        let _ = raw.remove("a");
        let _ = raw.set_path(&["a", "b"], &1);
        serde_json::from_str::<&serde_json::value::RawValue>(raw.as_str()).expect("valid after edits");
    }
});
