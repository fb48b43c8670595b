//! Hostile and broken plugins: each gets its typed error and the host keeps serving.

use bifrost_wasm_host::{ErrorKind, Hook, PluginInstance};

use crate::wat::{self, INPUT};

/// A plugin whose `pre_hook` has `body`, with an echoing `post_hook` and a
/// live-block counting `http_post_hook` to prove the instance still works afterwards.
fn hostile(extra: &[&str], pre_hook_body: &str) -> PluginInstance {
    let mut parts = vec![wat::alloc()];
    parts.extend(extra.iter().map(|s| s.to_string()));
    parts.push(wat::hook("pre_hook", pre_hook_body));
    parts.push(wat::echo("post_hook"));
    parts.push(wat::live_blocks("http_post_hook"));
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    crate::load(&wat::module("", &parts)).instantiate(None).unwrap()
}

fn assert_serves_next_call(instance: &mut PluginInstance) {
    assert_eq!(instance.call(Hook::PostHook, INPUT).unwrap().as_bytes(), INPUT);
}

#[test]
fn deadline_fires_and_next_call_succeeds() {
    let mut instance = hostile(&[], "(loop $forever (br $forever)) (i64.const 0)");
    let err = instance.call(Hook::PreHook, INPUT).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Timeout { .. })
            && err.plugin() == Some("wat-plugin")
            && err.function() == Some("pre_hook"),
        "{err}"
    );
    assert!(err.instance_replaced());
    assert_eq!(instance.replacements(), 1);
    assert_serves_next_call(&mut instance);
    // The replacement is interrupted as well.
    let again = instance.call(Hook::PreHook, INPUT).unwrap_err();
    assert!(matches!(again.kind(), ErrorKind::Timeout { .. }), "{again}");
    assert_serves_next_call(&mut instance);
}

#[test]
fn memory_bomb_hits_the_cap_and_next_call_succeeds() {
    let mut instance = hostile(
        &[],
        "(loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable",
    );
    let err = instance.call(Hook::PreHook, INPUT).unwrap_err();
    assert_eq!(err.function(), Some("pre_hook"));
    match err.kind() {
        ErrorKind::MemoryLimit { limit, requested, .. } => {
            assert_eq!(*limit, 4 << 20);
            assert!(requested > limit);
        }
        other => panic!("expected MemoryLimit, got {other:?}"),
    }
    assert_serves_next_call(&mut instance);
    assert!(instance.memory_size() < 4 << 20);
}

#[test]
fn output_pointer_outside_memory_is_rejected() {
    for packed in ["0xFFFF000000000064", "0x00001000FFFFFFFF"] {
        let mut instance = hostile(&[], &format!("(i64.const {packed})"));
        let err = instance.call(Hook::PreHook, INPUT).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::OutOfBounds {
                    memory_size: 65536,
                    ..
                }
            ) && err.function() == Some("pre_hook"),
            "{err}"
        );
        assert!(!err.instance_replaced());
        assert_serves_next_call(&mut instance);
    }
}

#[test]
fn huge_output_is_rejected_and_its_buffer_freed() {
    let mut instance = hostile(
        &[],
        "(call $pack (call $alloc (i32.const 2097152)) (i32.const 2097152))",
    );
    let err = instance.call(Hook::PreHook, INPUT).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::OutputTooLarge {
                len: 2097152,
                limit: 1048576,
            }
        ),
        "{err}"
    );
    assert_eq!(instance.replacements(), 0);
    // Input and the oversized output were both freed.
    assert_eq!(instance.call(Hook::HttpPostHook, b"{}").unwrap(), r#"{"live":1}"#);
}

#[test]
fn trap_in_init_is_reported_and_other_configs_still_instantiate() {
    let plugin = crate::load(&wat::module(
        "",
        &[
            &wat::alloc(),
            &wat::echo("pre_hook"),
            r#"(func (export "init") (param i32 i32) (result i32)
                 (if (local.get 1) (then unreachable)) (i32.const 0))"#,
        ],
    ));
    let err = plugin.instantiate(Some(r#"{"explode":true}"#)).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Trap { .. }) && err.function() == Some("init"),
        "{err}"
    );
    let mut instance = plugin.instantiate(None).unwrap();
    assert_serves_next_call_on(&mut instance, Hook::PreHook);
}

fn assert_serves_next_call_on(instance: &mut PluginInstance, hook: Hook) {
    assert_eq!(instance.call(hook, INPUT).unwrap().as_bytes(), INPUT);
}

const PANIC_MESSAGE: &str = "panicked at src/lib.rs:12:5: index out of bounds";

fn last_error_parts() -> (String, String) {
    let (segment, out) = wat::text_at(600, PANIC_MESSAGE);
    let export = format!(
        r#"(global $panicked (mut i32) (i32.const 0))
           (func (export "last_error") (result i64)
             (if (result i64) (global.get $panicked) (then {out}) (else (i64.const 0))))"#
    );
    (segment, export)
}

#[test]
fn panic_message_is_read_from_last_error() {
    let (segment, export) = last_error_parts();
    let mut instance = hostile(
        &[&segment, &export],
        "(global.set $panicked (i32.const 1)) unreachable",
    );
    let err = instance.call(Hook::PreHook, INPUT).unwrap_err();
    assert_eq!(err.function(), Some("pre_hook"));
    match err.kind() {
        ErrorKind::Trap { message, last_error } => {
            assert_eq!(last_error.as_deref(), Some(PANIC_MESSAGE));
            assert!(message.contains("unreachable"), "{message}");
        }
        other => panic!("expected Trap, got {other:?}"),
    }
    assert!(err.to_string().contains(PANIC_MESSAGE));
    // The cause is wasmtime's own error, with the trap in its chain.
    let mut causes = Vec::new();
    let mut cause = std::error::Error::source(&err);
    while let Some(c) = cause {
        causes.push(c.to_string());
        cause = c.source();
    }
    assert!(causes.iter().any(|c| c.contains("unreachable")), "{causes:?}");
    assert_serves_next_call(&mut instance);
}

#[test]
fn init_failure_carries_the_last_error_text() {
    let (segment, export) = last_error_parts();
    let plugin = crate::load(&wat::module(
        "",
        &[
            &wat::alloc(),
            &segment,
            &export,
            r#"(func (export "init") (param i32 i32) (result i32)
                 (if (result i32) (local.get 1)
                   (then (global.set $panicked (i32.const 1)) (i32.const 3))
                   (else (i32.const 0))))"#,
        ],
    ));
    let err = plugin.instantiate(Some("{}")).unwrap_err();
    match err.kind() {
        ErrorKind::InitFailed { code, last_error } => {
            assert_eq!(*code, 3);
            assert_eq!(last_error.as_deref(), Some(PANIC_MESSAGE));
        }
        other => panic!("expected InitFailed, got {other:?}"),
    }
    plugin.instantiate(None).unwrap();
}

#[test]
fn malloc_returning_zero_is_a_typed_error_and_small_inputs_still_work() {
    let plugin = crate::load(&wat::module(
        "",
        &[
            r#"(func (export "malloc") (param $s i32) (result i32)
                 (if (i32.gt_u (local.get $s) (i32.const 1000)) (then (return (i32.const 0))))
                 (call $alloc (local.get $s)))"#,
            wat::FREE2,
            &wat::echo("pre_hook"),
        ],
    ));
    let mut instance = plugin.instantiate(None).unwrap();
    let big = vec![b' '; 5000];
    let err = instance.call(Hook::PreHook, &big).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::MallocFailed { size: 5000, .. })
            && err.function() == Some("pre_hook"),
        "{err}"
    );
    assert_serves_next_call_on(&mut instance, Hook::PreHook);
}

#[test]
fn empty_output_is_a_typed_error() {
    let mut instance = hostile(&[], "(i64.const 0)");
    let err = instance.call(Hook::PreHook, INPUT).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::EmptyOutput) && err.function() == Some("pre_hook"),
        "{err}"
    );
    assert_serves_next_call(&mut instance);
}

#[test]
fn invalid_utf8_output_is_rejected() {
    let mut instance = hostile(
        &[r#"(data (i32.const 700) "{\"a\":\"\ff\fe\"}")"#],
        "(call $out (i32.const 700) (i32.const 10))",
    );
    let err = instance.call(Hook::PreHook, INPUT).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidUtf8 { valid_up_to: 6 }) && err.function() == Some("pre_hook"),
        "{err}"
    );
    assert_eq!(instance.call(Hook::HttpPostHook, b"{}").unwrap(), r#"{"live":1}"#);
}

#[test]
fn invalid_json_output_is_rejected_with_an_excerpt() {
    let (segment, out) = wat::text_at(700, "this is not json");
    let mut instance = hostile(&[&segment], &out);
    let err = instance.call(Hook::PreHook, INPUT).unwrap_err();
    match err.kind() {
        ErrorKind::InvalidJson { excerpt, .. } => assert_eq!(excerpt, "this is not json"),
        other => panic!("expected InvalidJson, got {other:?}"),
    }
    assert_serves_next_call(&mut instance);
}

#[test]
fn call_into_hands_over_the_output_unchecked_for_a_validating_reader() {
    let (segment, out) = wat::text_at(700, "this is not json");
    let mut instance = hostile(&[&segment], &out);
    let mut output = b"kept:".to_vec();
    instance.call_into(Hook::PreHook, INPUT, &mut output).unwrap();
    assert_eq!(output, b"kept:this is not json");
}

#[test]
fn stack_overflow_is_a_typed_error() {
    let mut instance = hostile(
        &[r#"(func $recurse (param i32) (result i32)
               (call $recurse (i32.add (local.get 0) (i32.const 1))))"#],
        "(drop (call $recurse (i32.const 0))) (i64.const 0)",
    );
    let err = instance.call(Hook::PreHook, INPUT).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::StackOverflow) && err.function() == Some("pre_hook"),
        "{err}"
    );
    assert_serves_next_call(&mut instance);
}

#[test]
fn assemblyscript_abort_becomes_a_trap_with_its_message() {
    // AssemblyScript strings: UTF-16LE with the byte length in the 4 bytes before.
    let utf16 = |text: &str| -> String {
        let mut bytes = (text.len() as u32 * 2).to_le_bytes().to_vec();
        for unit in text.encode_utf16() {
            bytes.extend(unit.to_le_bytes());
        }
        bytes.iter().map(|b| format!("\\{b:02x}")).collect()
    };
    let segments = format!(
        r#"(data (i32.const 796) "{}") (data (i32.const 896) "{}")"#,
        utf16("config is not an object"),
        utf16("assembly/index.ts")
    );
    let plugin = crate::load(&wat::module(
        r#"(import "env" "abort" (func $abort (param i32 i32 i32 i32)))"#,
        &[
            &wat::alloc(),
            &segments,
            &wat::hook(
                "pre_hook",
                "(call $abort (i32.const 800) (i32.const 900) (i32.const 42) (i32.const 7)) (i64.const 0)",
            ),
            &wat::echo("post_hook"),
        ],
    ));
    assert!(plugin.info().assemblyscript_abort);
    let mut instance = plugin.instantiate(None).unwrap();
    let err = instance.call(Hook::PreHook, INPUT).unwrap_err();
    match err.kind() {
        ErrorKind::Trap { message, .. } => assert!(
            message.contains("abort: config is not an object at assembly/index.ts:42:7"),
            "{message}"
        ),
        other => panic!("expected Trap, got {other:?}"),
    }
    assert_serves_next_call(&mut instance);
}

#[test]
fn input_larger_than_the_memory_cap_is_rejected_before_the_plugin_sees_it() {
    let mut instance = hostile(&[], "(i64.const 0)");
    let input = vec![b' '; (4 << 20) + 1];
    let err = instance.call(Hook::PostHook, &input).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InputTooLarge { limit, .. } if *limit == 4 << 20),
        "{err}"
    );
    assert_serves_next_call(&mut instance);
}

#[test]
fn proc_exit_in_a_hook_is_a_trap() {
    let plugin = crate::load(&wat::module(
        r#"(import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))"#,
        &[
            &wat::alloc(),
            &wat::hook("pre_hook", "(call $exit (i32.const 3)) (i64.const 0)"),
        ],
    ));
    assert!(plugin.info().wasi);
    let mut instance = plugin.instantiate(None).unwrap();
    let err = instance.call(Hook::PreHook, INPUT).unwrap_err();
    match err.kind() {
        ErrorKind::Trap { message, .. } => assert!(message.contains("proc_exit(3)"), "{message}"),
        other => panic!("expected Trap, got {other:?}"),
    }
}

#[test]
fn endless_init_hits_the_init_deadline() {
    let host = bifrost_wasm_host::Host::new(
        bifrost_wasm_host::HostConfig::default()
            .with_init_deadline(std::time::Duration::from_millis(50))
            .with_pooling_slots(8),
    )
    .unwrap();
    let plugin = host
        .load_bytes(
            wat::module(
                "",
                &[
                    &wat::alloc(),
                    r#"(func (export "init") (param i32 i32) (result i32)
                         (if (local.get 1) (then (loop $forever (br $forever))))
                         (i32.const 0))"#,
                ],
            )
            .as_bytes(),
            "slow-init",
        )
        .unwrap();
    let err = plugin.instantiate(Some("{}")).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Timeout { .. }) && err.function() == Some("init"),
        "{err}"
    );
    plugin.instantiate(None).unwrap();
}

#[test]
fn exhausted_pooling_slots_are_a_clear_instantiation_error() {
    let host =
        bifrost_wasm_host::Host::new(bifrost_wasm_host::HostConfig::default().with_pooling_slots(2)).unwrap();
    let plugin = host
        .load_bytes(wat::module("", &[&wat::alloc()]).as_bytes(), "slots")
        .unwrap();
    let first = plugin.instantiate(None).unwrap();
    let _second = plugin.instantiate(None).unwrap();
    let err = plugin.instantiate(None).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Instantiate { hint, .. } if hint.contains("pooling_slots")),
        "{err}"
    );
    drop(first);
    plugin.instantiate(None).unwrap();
}

#[test]
fn a_trap_on_valid_input_is_not_blamed_on_bad_input() {
    let mut instance = hostile(&[], "unreachable");
    let err = instance.call(Hook::PreHook, INPUT).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Trap { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.ends_with(
            "the instance was discarded. It trapped on a valid input (a JSON object), so this is a bug in \
             the plugin: a hook must answer every input it is given (with an error field when it cannot \
             process one), never trap"
        ),
        "{text}"
    );
    assert!(!text.contains("bad input"), "{text}");
    // The cause is still wasmtime's error.
    assert!(std::error::Error::source(&err).is_some());
    assert_serves_next_call(&mut instance);
}

#[test]
fn a_trap_on_bad_input_says_what_was_wrong_with_it() {
    let mut instance = hostile(&[], "unreachable");
    let err = instance.call(Hook::PreHook, br#"{"context": "#).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("The input was not valid JSON ("), "{text}");
    assert!(
        text.ends_with("a hook must answer bad input with an error field, never trap"),
        "{text}"
    );
    let err = instance.call(Hook::PreHook, b"[1, 2]").unwrap_err();
    assert!(
        err.to_string()
            .contains("The input was JSON but not an object: a hook must answer bad input"),
        "{err}"
    );
    // A caller that knows more about the input rewords the hint; the rest stays.
    let reworded = err.clone().with_hint("Bad on purpose.");
    assert_eq!(reworded.hint(), Some("Bad on purpose."));
    assert!(reworded
        .to_string()
        .ends_with("the instance was discarded. Bad on purpose."));
    assert!(std::error::Error::source(&reworded).is_some());
}

#[test]
fn an_assemblyscript_trap_on_valid_input_points_at_the_json_as_transform() {
    let mut instance = hostile(
        &[
            r#"(func (export "__new") (param i32 i32) (result i32) (i32.const 0))
             (func (export "__pin") (param i32) (result i32) (local.get 0))"#,
        ],
        "unreachable",
    );
    let err = instance.call(Hook::PreHook, INPUT).unwrap_err();
    assert!(
        err.to_string().contains(
            "It trapped on a valid input (a JSON object), and this is an AssemblyScript build (exports \
             __new, __pin): a trap on valid input most often means the json-as transform was not applied \
             when it was built (build with `--transform json-as/transform`)"
        ),
        "{err}"
    );
    // On bad input, the transform is not the suspect.
    let err = instance.call(Hook::PreHook, b"").unwrap_err();
    assert!(!err.to_string().contains("json-as"), "{err}");
    assert!(
        err.to_string()
            .contains("a hook must answer bad input with an error field"),
        "{err}"
    );
}

#[test]
fn a_trap_outside_a_hook_keeps_the_general_advice() {
    // `malloc` traps on the call's input buffer, before any hook runs.
    let plugin = crate::load(&wat::module(
        "",
        &[
            r#"(func (export "malloc") (param i32) (result i32) unreachable)
               (func (export "free") (param i32 i32))"#,
            &wat::echo("pre_hook"),
        ],
    ));
    let mut instance = plugin.instantiate(None).unwrap();
    let err = instance.call(Hook::PreHook, INPUT).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Trap { .. }), "{err}");
    assert_eq!(err.function(), Some("malloc"));
    assert!(
        err.to_string()
            .ends_with("This is a bug in the plugin: a plugin must never trap"),
        "{err}"
    );
}
