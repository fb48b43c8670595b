//! The guest's decoding entry points: arbitrary bytes as the input of every hook of the
//! hello-world plugin, through the same code its wasm exports run. Every call must produce a
//! JSON object with a context and, when the input is not a usable envelope, an error.
#![no_main]

use bifrost_wasm_sdk::testing::{hooks, Harness};
use hello_world::HelloWorld;
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use std::collections::HashMap;

thread_local! {
    static PLUGIN: Harness<HelloWorld> =
        Harness::new(r#"{"rate_limit": {"budget": 1000000000}}"#).expect("init");
}

fn check(output: String, error_key: &str) {
    let members: HashMap<String, Box<RawValue>> =
        serde_json::from_str(&output).expect("hook output is a JSON object");
    assert!(members.contains_key("context"), "no context: {output}");
    let err = members.get(error_key).expect("error field present");
    assert!(err.get().starts_with('"'), "error is a string");
}

fuzz_target!(|data: &[u8]| {
    PLUGIN.with(|p| {
        check(p.call_raw::<hooks::HttpPre>(data), "error");
        check(p.call_raw::<hooks::HttpPost>(data), "error");
        check(p.call_raw::<hooks::StreamChunk>(data), "error");
        check(p.call_raw::<hooks::Pre>(data), "error");
        check(p.call_raw::<hooks::Post>(data), "hook_error");
    });
});
