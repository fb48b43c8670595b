//! The built `hello-world.wasm`, loaded in wasmtime directly: the exact ABI a Bifrost host
//! sees — exports and their types, no imports, every hook through `malloc`/write/call/read/
//! `free`, and the guarantees of design.md §1 (never trap on input, lossless pass-through,
//! bounded memory).

use std::collections::HashMap;

use proptest::prelude::*;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use wasmtime::{Engine, Instance, Memory, Module, Store, StoreLimits, StoreLimitsBuilder, TypedFunc};

const HOOKS: [&str; 6] = [
    "http_intercept",
    "http_pre_hook",
    "http_post_hook",
    "http_stream_chunk_hook",
    "pre_hook",
    "post_hook",
];

fn engine() -> &'static Engine {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(Engine::default)
}

fn module() -> &'static Module {
    static MODULE: std::sync::OnceLock<Module> = std::sync::OnceLock::new();
    MODULE.get_or_init(|| {
        let path = test_support::plugin_wasm("hello-world");
        Module::from_file(engine(), path).expect("compile hello-world.wasm")
    })
}

/// A plugin instance driven through the raw ABI, like a Bifrost host drives it.
struct Guest {
    store: Store<StoreLimits>,
    memory: Memory,
    instance: Instance,
    malloc: TypedFunc<u32, u32>,
    free: TypedFunc<(u32, u32), ()>,
}

#[derive(Debug)]
enum CallError {
    MallocFailed,
    #[allow(dead_code)] // read through Debug in failure messages
    Trap(String),
    EmptyOutput,
}

impl Guest {
    fn new(config: &str, memory_cap: Option<usize>) -> Guest {
        let limits = match memory_cap {
            Some(cap) => StoreLimitsBuilder::new().memory_size(cap).build(),
            None => StoreLimitsBuilder::new().build(),
        };
        let mut store = Store::new(engine(), limits);
        store.limiter(|l| l);
        let instance = Instance::new(&mut store, module(), &[]).expect("instantiate with no imports");
        let memory = instance.get_memory(&mut store, "memory").expect("memory export");
        let malloc = instance.get_typed_func(&mut store, "malloc").unwrap();
        let free = instance.get_typed_func(&mut store, "free").unwrap();
        let mut g = Guest {
            store,
            memory,
            instance,
            malloc,
            free,
        };
        assert_eq!(g.init(config).unwrap(), 0, "init({config})");
        g
    }

    fn write(&mut self, bytes: &[u8]) -> Result<u32, CallError> {
        let ptr = self
            .malloc
            .call(&mut self.store, bytes.len() as u32)
            .map_err(|e| CallError::Trap(e.to_string()))?;
        if ptr == 0 {
            return Err(CallError::MallocFailed);
        }
        self.memory.write(&mut self.store, ptr as usize, bytes).unwrap();
        Ok(ptr)
    }

    fn take_packed(&mut self, packed: u64) -> Option<String> {
        if packed == 0 {
            return None;
        }
        let (ptr, len) = ((packed >> 32) as u32, packed as u32);
        let mut buf = vec![0u8; len as usize];
        self.memory
            .read(&self.store, ptr as usize, &mut buf)
            .expect("output in bounds");
        self.free.call(&mut self.store, (ptr, len)).unwrap();
        Some(String::from_utf8(buf).expect("output is UTF-8"))
    }

    fn init(&mut self, config: &str) -> Result<i32, CallError> {
        let ptr = self.write(config.as_bytes())?;
        let init: TypedFunc<(u32, u32), i32> = self.instance.get_typed_func(&mut self.store, "init").unwrap();
        let rc = init
            .call(&mut self.store, (ptr, config.len() as u32))
            .map_err(|e| CallError::Trap(e.to_string()))?;
        self.free
            .call(&mut self.store, (ptr, config.len() as u32))
            .unwrap();
        Ok(rc)
    }

    fn call_raw(&mut self, hook: &str, input: &[u8]) -> Result<String, CallError> {
        let f: TypedFunc<(u32, u32), u64> = self.instance.get_typed_func(&mut self.store, hook).unwrap();
        let ptr = self.write(input)?;
        let packed = f
            .call(&mut self.store, (ptr, input.len() as u32))
            .map_err(|e| CallError::Trap(format!("{e:?}")))?;
        self.free
            .call(&mut self.store, (ptr, input.len() as u32))
            .unwrap();
        self.take_packed(packed).ok_or(CallError::EmptyOutput)
    }

    fn call(&mut self, hook: &str, input: &Value) -> Value {
        let out = self.call_raw(hook, input.to_string().as_bytes()).expect(hook);
        serde_json::from_str(&out).expect("output is JSON")
    }

    fn packed_text(&mut self, export: &str) -> Option<String> {
        let f: TypedFunc<(), u64> = self.instance.get_typed_func(&mut self.store, export).unwrap();
        let packed = f.call(&mut self.store, ()).unwrap();
        self.take_packed(packed)
    }

    fn memory_bytes(&self) -> usize {
        self.memory.data_size(&self.store)
    }
}

/// The raw text of each top-level member of an output.
fn raw_members(output: &str) -> HashMap<String, Box<RawValue>> {
    serde_json::from_str(output).expect("output is a JSON object")
}

#[test]
fn exports_have_exact_types_and_module_imports_nothing() {
    let m = module();
    assert_eq!(
        m.imports().count(),
        0,
        "a wasm32-unknown-unknown plugin must import nothing"
    );
    let exports: HashMap<String, String> = m
        .exports()
        .map(|e| (e.name().to_string(), format!("{:?}", e.ty())))
        .collect();
    let func = |params: &str, results: &str| format!("{params} -> {results}");
    let expected = [
        ("malloc", func("[I32]", "[I32]")),
        ("free", func("[I32, I32]", "[]")),
        ("get_name", func("[]", "[I64]")),
        ("init", func("[I32, I32]", "[I32]")),
        ("http_intercept", func("[I32, I32]", "[I64]")),
        ("http_pre_hook", func("[I32, I32]", "[I64]")),
        ("http_post_hook", func("[I32, I32]", "[I64]")),
        ("http_stream_chunk_hook", func("[I32, I32]", "[I64]")),
        ("pre_hook", func("[I32, I32]", "[I64]")),
        ("post_hook", func("[I32, I32]", "[I64]")),
        ("cleanup", func("[]", "[I32]")),
        ("last_error", func("[]", "[I64]")),
    ];
    for (name, signature) in expected {
        let ty = m
            .get_export(name)
            .unwrap_or_else(|| panic!("missing export {name}"));
        let f = ty.func().unwrap_or_else(|| panic!("{name} is not a function"));
        let params: Vec<String> = f.params().map(|p| format!("{p:?}").to_uppercase()).collect();
        let results: Vec<String> = f.results().map(|p| format!("{p:?}").to_uppercase()).collect();
        let found = format!("[{}] -> [{}]", params.join(", "), results.join(", "));
        assert_eq!(found, signature, "export {name}");
    }
    assert!(exports.contains_key("memory"));
}

#[test]
fn name_init_cleanup_and_last_error_follow_the_contract() {
    let mut g = Guest::new(r#"{"custom_option": "value"}"#, None);
    assert_eq!(
        g.packed_text("get_name").as_deref(),
        Some("hello-world-wasm-rust")
    );
    assert_eq!(g.packed_text("last_error"), None);
    assert_eq!(g.init("null").unwrap(), 0);
    assert_eq!(g.init("").unwrap(), 0);
    assert_eq!(g.init("{}").unwrap(), 0);
    assert_eq!(g.init(r#"{"mock": 3}"#).unwrap(), 1);
    let reason = g.packed_text("last_error").expect("reason for the failed init");
    assert!(reason.contains("invalid config"), "{reason}");
    // Hooks after a failed init report it instead of trapping.
    let out = g.call("pre_hook", &json!({"context": {}, "request": {"model": "m"}}));
    assert!(
        out["error"].as_str().unwrap().contains("not initialised"),
        "{out}"
    );
    assert_eq!(g.init("{}").unwrap(), 0);
    assert_eq!(g.packed_text("last_error"), None);
    let cleanup: TypedFunc<(), i32> = g.instance.get_typed_func(&mut g.store, "cleanup").unwrap();
    assert_eq!(cleanup.call(&mut g.store, ()).unwrap(), 0);
}

#[test]
fn malloc_zero_is_valid_and_free_of_zero_is_a_no_op() {
    let mut g = Guest::new("{}", None);
    let p = g.malloc.call(&mut g.store, 0).unwrap();
    assert_ne!(p, 0);
    g.free.call(&mut g.store, (p, 0)).unwrap();
    g.free.call(&mut g.store, (0, 16)).unwrap();
}

#[test]
fn every_hook_runs_through_the_real_abi() {
    let mut g = Guest::new("{}", None);
    let http = json!({"context": {"request_id": "abc-123"}, "request": {"method": "POST", "path": "/v1/chat/completions", "headers": {"Content-Type": "application/json"}, "query": {}, "body": ""}});
    for hook in ["http_intercept", "http_pre_hook"] {
        let out = g.call(hook, &http);
        assert_eq!(out["context"]["http_pre_hook_seen"], true, "{hook}");
        assert_eq!(out["request"], http["request"]);
    }
    let pre = json!({"context": {"request_id": "abc-123"}, "request": {"provider": "openai", "model": "mock-model", "input": [{"role": "user", "content": "Hello"}]}});
    let out = g.call("pre_hook", &pre);
    assert_eq!(
        out["short_circuit"]["response"]["chat_response"]["id"],
        "mock-abc-123"
    );
    let post = json!({"context": {}, "response": {"chat_response": {"id": "x", "model": "gpt-4", "choices": []}}, "error": {}, "has_error": false});
    assert_eq!(
        g.call("post_hook", &post)["response"]["chat_response"]["model"],
        "gpt-4 (via rust-wasm)"
    );
    let hpost = json!({"context": {}, "request": http["request"], "response": {"status_code": 200, "headers": {}, "body": ""}});
    assert_eq!(
        g.call("http_post_hook", &hpost)["context"]["http_post_hook_seen"],
        true
    );
    let chunk = json!({"context": {}, "request": http["request"], "chunk": {"id": "c", "choices": []}});
    assert_eq!(g.call("http_stream_chunk_hook", &chunk)["has_chunk"], true);
}

fn garbage_corpus() -> Vec<(String, Vec<u8>)> {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut corpus: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), b"".to_vec()),
        ("whitespace".into(), b"  \n ".to_vec()),
        ("invalid utf-8".into(), b"\xff\xfe\x00{".to_vec()),
        (
            "invalid utf-8 in a string".into(),
            b"{\"context\":{\"k\":\"\xc3\x28\"}}".to_vec(),
        ),
        ("not json".into(), b"hello".to_vec()),
        (
            "truncated".into(),
            br#"{"context":{"request_id":"a"},"request":{"model":"#.to_vec(),
        ),
        ("null".into(), b"null".to_vec()),
        ("array".into(), b"[]".to_vec()),
        ("number".into(), b"5".to_vec()),
        ("string".into(), b"\"{}\"".to_vec()),
        ("deeply nested".into(), deep.clone().into_bytes()),
        ("trailing garbage".into(), br#"{"context":{}} x"#.to_vec()),
    ];
    for (name, v) in [
        (
            "null everywhere",
            json!({"context": null, "request": null, "response": null, "error": null, "has_error": null, "chunk": null}),
        ),
        ("empty object", json!({})),
        (
            "wrong types",
            json!({"context": 5, "request": "x", "response": [1], "error": true, "has_error": "yes", "chunk": 7}),
        ),
        ("context array", json!({"context": [], "request": {}})),
        (
            "payload wrong types with good context",
            json!({"context": {"request_id": "keep"}, "request": 1, "response": 2, "error": 3, "has_error": 4, "chunk": 5}),
        ),
    ] {
        corpus.push((name.into(), v.to_string().into_bytes()));
    }
    corpus
}

#[test]
fn garbage_inputs_get_a_valid_output_with_an_error_never_a_trap() {
    let mut g = Guest::new("{}", None);
    for (name, input) in garbage_corpus() {
        for hook in HOOKS {
            let out = g
                .call_raw(hook, &input)
                .unwrap_or_else(|e| panic!("{hook} on {name}: {e:?}"));
            let short = &out[..out.len().min(400)];
            let v: Value =
                serde_json::from_str(&out).unwrap_or_else(|e| panic!("{hook} on {name}: {e}: {short}"));
            let err_key = if hook == "post_hook" {
                "hook_error"
            } else {
                "error"
            };
            let err = v[err_key].as_str().unwrap_or_default();
            assert!(!err.is_empty(), "{hook} on {name}: no error in {short}");
            assert!(
                v["context"].is_object(),
                "{hook} on {name}: context not echoed: {short}"
            );
        }
    }
    // Nesting in a payload or the context up to Go's limit (10,000 levels) passes through
    // untouched (no stack overflow, no trap).
    let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let deep = nested(9_990);
    let deep_payloads = format!(
        r#"{{"context":{{"k":{deep}}},"request":{{"x":{deep}}},"response":{deep},"chunk":{{"d":{deep}}},"error":{{}},"has_error":true}}"#
    );
    for hook in HOOKS {
        let out = g
            .call_raw(hook, deep_payloads.as_bytes())
            .unwrap_or_else(|e| panic!("{hook}: {e:?}"));
        let members = raw_members(&out);
        let context = members["context"].get();
        assert!(
            context.starts_with(&format!(r#"{{"k":{deep}"#)),
            "{hook}: deep context not echoed"
        );
    }
    // Deeper input could not be read back by Bifrost's decoder: refused, with the reason.
    let too_deep = format!(r#"{{"context":{{}},"request":{{"x":{}}}}}"#, nested(100_000));
    for hook in HOOKS {
        let out = g
            .call_raw(hook, too_deep.as_bytes())
            .unwrap_or_else(|e| panic!("{hook}: {e:?}"));
        let v: Value = serde_json::from_str(&out).unwrap();
        let err_key = if hook == "post_hook" {
            "hook_error"
        } else {
            "error"
        };
        let err = v[err_key].as_str().unwrap_or_default();
        assert!(err.contains("nested deeper than 10000 levels"), "{hook}: {err}");
    }
    // A lone surrogate escape is valid JSON text (Go decodes it as U+FFFD); a context the
    // hook does not read is echoed exactly as received.
    let surrogate = br#"{"context":{"k":"\ud800"},"request":{}}"#;
    let out = g.call_raw("http_pre_hook", surrogate).unwrap();
    assert!(
        out.starts_with(r#"{"context":{"k":"\ud800","http_pre_hook_seen":true},"#),
        "{out}"
    );
    // The instance is still healthy.
    let out = g.call(
        "pre_hook",
        &json!({"context": {}, "request": {"model": "mock-model"}}),
    );
    assert_eq!(out["has_short_circuit"], true);
}

#[test]
fn readable_context_is_echoed_when_the_payload_is_wrong() {
    let mut g = Guest::new("{}", None);
    let input = json!({"context": {"request_id": "keep"}, "request": 1, "response": 2, "error": 3, "has_error": 4, "chunk": 5});
    for hook in HOOKS {
        let out = g.call(hook, &input);
        assert_eq!(out["context"]["request_id"], "keep", "{hook}: {out}");
    }
}

fn big_chat_request(target_bytes: usize) -> String {
    let filler = "lorem ipsum dolor sit amet ".repeat(1024);
    let mut messages = Vec::new();
    let mut size = 0;
    while size < target_bytes {
        messages.push(json!({"role": "user", "content": filler}));
        size += filler.len() + 30;
    }
    json!({"context": {"request_id": "big"}, "request": {"provider": "openai", "model": "gpt-4", "input": messages}}).to_string()
}

#[test]
fn sixteen_mib_chat_request_passes_through_unchanged() {
    let mut g = Guest::new("{}", None);
    let input = big_chat_request(16 << 20);
    assert!(input.len() >= 16 << 20);
    let out = g.call_raw("pre_hook", input.as_bytes()).expect("16 MiB pre_hook");
    let members = raw_members(&out);
    let sent = raw_members(&input);
    assert_eq!(members["request"].get(), sent["request"].get());
    assert_eq!(members["error"].get(), "\"\"");
}

#[test]
fn request_too_big_for_a_32_mib_memory_cap_gives_an_error_output_not_a_trap() {
    let mut g = Guest::new("{}", Some(32 << 20));
    // Fits in memory as input, but not three times over: the hook must say so.
    let input = big_chat_request(12 << 20);
    let out = g.call_raw("pre_hook", input.as_bytes()).expect("no trap");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["error"].as_str().unwrap().contains("too large"),
        "{}",
        &out[..out.len().min(300)]
    );
    // Larger than the cap altogether: malloc reports failure with 0 instead of trapping.
    let huge = vec![b' '; 40 << 20];
    assert!(matches!(
        g.call_raw("pre_hook", &huge),
        Err(CallError::MallocFailed)
    ));
    // And the instance keeps serving.
    let out = g.call("pre_hook", &json!({"context": {}, "request": {"model": "gpt-4"}}));
    assert_eq!(out["error"], "");
}

#[test]
fn hundred_thousand_calls_with_host_freeing_both_buffers_do_not_grow_memory() {
    let mut g = Guest::new(r#"{"rate_limit": {"budget": 1000000000}}"#, None);
    let pre = json!({"context": {"request_id": "r", "x-bf-vk": "k"}, "request": {"provider": "openai", "model": "gpt-4", "input": [{"role": "user", "content": "Hello"}]}}).to_string();
    let post = json!({"context": {}, "response": {"chat_response": {"id": "x", "model": "gpt-4", "choices": []}}, "error": {}, "has_error": false}).to_string();
    for _ in 0..1000 {
        g.call_raw("pre_hook", pre.as_bytes()).unwrap();
        g.call_raw("post_hook", post.as_bytes()).unwrap();
    }
    let before = g.memory_bytes();
    for _ in 0..50_000 {
        g.call_raw("pre_hook", pre.as_bytes()).unwrap();
        g.call_raw("post_hook", post.as_bytes()).unwrap();
    }
    assert_eq!(g.memory_bytes(), before, "linear memory grew over 100k calls");
}

/// The SDK's allocator starts from an arena inside the initial memory, so a fresh instance
/// neither grows its memory for `init` nor for ordinary hooks (a pooled host then reuses the
/// slot without changing its protection; see the SDK's `allocator` module).
#[test]
fn fresh_instance_serves_init_and_ordinary_hooks_without_growing_memory() {
    let initial = {
        let mut store = Store::new(engine(), StoreLimitsBuilder::new().build());
        let instance = Instance::new(&mut store, module(), &[]).unwrap();
        let memory = instance.get_memory(&mut store, "memory").unwrap();
        memory.data_size(&store)
    };
    let mut g = Guest::new("", None);
    assert_eq!(g.memory_bytes(), initial, "init grew linear memory");
    for input in bifrost_wasm_sdk::types::bench_inputs::BENCH_INPUTS {
        g.call_raw(input.hook, input.json.as_bytes()).unwrap();
        assert_eq!(g.memory_bytes(), initial, "{} grew linear memory", input.name);
    }
}

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn go_shaped_payloads_pass_through_byte_for_byte() {
    let mut g = Guest::new(r#"{"rewrite_model": false}"#, None);
    for (hook, file, payload) in [
        ("pre_hook", "go_pre_hook.json", "request"),
        ("http_pre_hook", "go_http_pre_hook.json", "request"),
        ("http_stream_chunk_hook", "go_stream_chunk.json", "chunk"),
        ("post_hook", "go_post_hook.json", "response"),
    ] {
        let input = fixture(file);
        let out = g.call_raw(hook, input.as_bytes()).unwrap();
        let sent = raw_members(&input);
        let got = raw_members(&out);
        assert_eq!(
            got[payload].get(),
            sent[payload].get(),
            "{hook} changed its {payload}"
        );
        // Every context key sent comes back.
        let sent_ctx: Value = serde_json::from_str(sent["context"].get()).unwrap();
        let got_ctx: Value = serde_json::from_str(got["context"].get()).unwrap();
        for (k, v) in sent_ctx.as_object().unwrap() {
            assert_eq!(&got_ctx[k], v, "{hook} lost context key {k}");
        }
    }
}

#[test]
fn go_post_hook_model_rewrite_changes_only_the_model() {
    let mut g = Guest::new("{}", None);
    let input = fixture("go_post_hook.json");
    let out = g.call_raw("post_hook", input.as_bytes()).unwrap();
    let sent = raw_members(&input)["response"].get().to_string();
    let got = raw_members(&out)["response"].get().to_string();
    let expected = sent.replace(
        r#""model": "gpt-4o-mini-2024-07-18""#,
        r#""model": "gpt-4o-mini-2024-07-18 (via rust-wasm)""#,
    );
    assert_ne!(expected, sent);
    assert_eq!(got, expected);
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".*".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("[a-zA-Z_]{0,8}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Renders a value as JSON text the way arbitrary senders might: compact or pretty, with a
/// big integer and `1.0` spellings mixed in.
fn arb_json_text() -> impl Strategy<Value = String> {
    (arb_json(), any::<bool>(), any::<bool>()).prop_map(|(v, pretty, extra)| {
        let text = if pretty {
            serde_json::to_string_pretty(&v).unwrap()
        } else {
            v.to_string()
        };
        if extra && text.starts_with('{') && text.len() > 2 {
            format!(
                r#"{{"big": 123456789012345678901234567890, "one": 1.0, "esc": "\u00e9\n", {}"#,
                &text[1..]
            )
        } else {
            text
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_json_payload_survives_every_hook_byte_for_byte(payload in arb_json_text()) {
        thread_local! {
            static GUEST: std::cell::RefCell<Guest> =
                std::cell::RefCell::new(Guest::new(r#"{"mock": false, "rewrite_model": false, "annotate_errors": false}"#, None));
        }
        GUEST.with(|g| {
            let mut g = g.borrow_mut();
            for (hook, key, extra) in [
                ("pre_hook", "request", ""),
                ("http_pre_hook", "request", ""),
                ("http_stream_chunk_hook", "chunk", r#","request":{}"#),
                ("post_hook", "response", r#","error":{},"has_error":false"#),
            ] {
                let input = format!(r#"{{"context":{{"k":[1.5]}},"{key}":{payload}{extra}}}"#);
                let out = g.call_raw(hook, input.as_bytes()).unwrap();
                let got = raw_members(&out);
                prop_assert_eq!(got[key].get(), payload.trim(), "{} changed its {}", hook, key);
            }
            Ok(())
        })?;
    }
}
