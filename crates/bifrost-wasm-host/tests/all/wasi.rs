//! A real `wasm32-wasip1` plugin: WASI imports, start function, output as log lines.

use bifrost_wasm_host::{AllocatorVariant, Hook, PLUGIN_LOG_TARGET};
use test_support::WasmTarget;

use crate::logs::{capture, Event};

fn plugin_lines(events: &[Event]) -> Vec<(String, String, tracing::Level)> {
    events
        .iter()
        .filter(|e| e.target == PLUGIN_LOG_TARGET && e.fields.contains_key("stream"))
        .map(|e| {
            assert_eq!(e.fields.get("plugin").map(String::as_str), Some("wasi-printer"));
            (e.fields["stream"].clone(), e.message.clone(), e.level)
        })
        .collect()
}

#[test]
fn wasi_plugin_output_becomes_log_lines_tagged_with_the_plugin_name() {
    let path = test_support::plugin_wasm_for("wasi-printer", WasmTarget::Wasip1);
    let plugin = crate::small_host().load_file(&path).unwrap();
    let info = plugin.info();
    assert!(info.wasi);
    assert_eq!(info.name, "wasi-printer");
    assert_eq!(info.allocator, AllocatorVariant::PluginMallocFree);
    assert!(info.imports.iter().all(|i| i.module == "wasi_snapshot_preview1"));

    let (output, events) = capture(|| {
        let mut instance = plugin.instantiate(Some(r#"{"verbose":true}"#)).unwrap();
        let output = instance.call(Hook::PreHook, br#"{"context":{}}"#).unwrap();
        drop(instance);
        output
    });
    assert_eq!(output, r#"{"context":{}}"#);
    let info = tracing::Level::INFO;
    let warn = tracing::Level::WARN;
    assert_eq!(
        plugin_lines(&events),
        [
            ("stdout".into(), r#"init: {"verbose":true}"#.into(), info),
            ("stdout".into(), "pre_hook: 14 bytes".into(), info),
            ("stderr".into(), "pre_hook: stderr line".into(), warn),
            // A partial line is flushed when the call ends.
            ("stdout".into(), "tail without newline".into(), info),
            ("stdout".into(), "cleanup".into(), info),
        ]
    );
}

#[test]
fn wasi_plugin_log_volume_per_call_is_bounded() {
    let path = test_support::plugin_wasm_for("wasi-printer", WasmTarget::Wasip1);
    let host = bifrost_wasm_host::Host::new(
        bifrost_wasm_host::HostConfig::default()
            .with_max_log_bytes_per_call(30)
            .with_pooling_slots(8),
    )
    .unwrap();
    let plugin = host.load_file(&path).unwrap();
    let mut instance = plugin.instantiate(None).unwrap();
    let (_, events) = capture(|| instance.call(Hook::PreHook, b"{}").unwrap());
    let lines = plugin_lines(&events);
    // 30 bytes: "pre_hook: 2 bytes\n" (18) and the first 12 bytes of the stderr line.
    assert_eq!(lines[0].1, "pre_hook: 2 bytes");
    assert_eq!(lines[1].1, "pre_hook: st");
    assert!(
        events.iter().any(|e| e.message.contains("per-call log limit")),
        "{events:#?}"
    );
}

#[test]
fn start_function_runs_once_per_instance_and_may_proc_exit_zero() {
    // `_start` sets a flag and exits with 0; pre_hook reports whether it ran.
    let plugin = crate::load(&crate::wat::module(
        r#"(import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))"#,
        &[
            &crate::wat::alloc(),
            r#"(global $started (mut i32) (i32.const 0))
               (data (i32.const 500) "{\"started\":1}")
               (func (export "_start")
                 (global.set $started (i32.add (global.get $started) (i32.const 1)))
                 (call $exit (i32.const 0)))"#,
            &crate::wat::hook(
                "pre_hook",
                "(if (result i64) (i32.eq (global.get $started) (i32.const 1))
                   (then (call $out (i32.const 500) (i32.const 13)))
                   (else (i64.const 0)))",
            ),
        ],
    ));
    assert_eq!(plugin.info().start_function.as_deref(), Some("_start"));
    let mut instance = plugin.instantiate(None).unwrap();
    assert_eq!(instance.call(Hook::PreHook, b"{}").unwrap(), r#"{"started":1}"#);
    assert_eq!(instance.call(Hook::PreHook, b"{}").unwrap(), r#"{"started":1}"#);
}

#[test]
fn failing_start_function_fails_the_load_with_its_exit_code() {
    let err = crate::small_host()
        .load_bytes(
            crate::wat::module(
                r#"(import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))"#,
                &[
                    &crate::wat::alloc(),
                    r#"(func (export "_initialize") (call $exit (i32.const 2)))"#,
                ],
            )
            .as_bytes(),
            "exits.wat",
        )
        .unwrap_err();
    assert_eq!(err.function(), Some("_initialize"), "{err}");
    match err.kind() {
        bifrost_wasm_host::ErrorKind::Trap { message, .. } => {
            assert!(message.contains("proc_exit(2)"), "{message}")
        }
        other => panic!("expected a trap in _initialize, got {other:?}"),
    }
}

/// The SDK exports `plugin_malloc`/`plugin_free` on WASI (wasi-libc owns `malloc`), so an SDK
/// plugin builds for `wasm32-wasip1` and behaves as its `wasm32-unknown-unknown` build does.
#[test]
fn sdk_plugin_built_for_wasip1_answers_like_its_unknown_unknown_build() {
    let wasi = crate::small_host()
        .load_file(test_support::plugin_wasm_for("hello-world", WasmTarget::Wasip1))
        .unwrap();
    assert!(wasi.info().wasi);
    assert_eq!(wasi.info().allocator, AllocatorVariant::PluginMallocFreeWithSize);
    let plain = crate::small_host()
        .load_file(test_support::plugin_wasm("hello-world"))
        .unwrap();
    let input = bifrost_wasm_types::bench_inputs::BENCH_INPUTS;
    let mut a = wasi.instantiate(None).unwrap();
    let mut b = plain.instantiate(None).unwrap();
    for case in input {
        let hook: Hook = case.hook.parse().unwrap();
        let left: serde_json::Value =
            serde_json::from_str(&a.call(hook, case.json.as_bytes()).unwrap()).unwrap();
        let right: serde_json::Value =
            serde_json::from_str(&b.call(hook, case.json.as_bytes()).unwrap()).unwrap();
        assert_eq!(left, right, "{}", case.name);
    }
}
