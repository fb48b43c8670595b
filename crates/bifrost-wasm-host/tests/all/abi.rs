//! Load-time validation: every problem reported at once, named, with what to do.

use bifrost_wasm_host::{ErrorKind, HostError, LoadProblem};

use crate::wat;

fn load_err(wat: &str) -> HostError {
    crate::small_host()
        .load_bytes(wat.as_bytes(), "broken.wasm")
        .expect_err("the module must be rejected")
}

#[test]
fn missing_and_wrong_typed_exports_are_all_reported_at_once() {
    let err = load_err(
        r#"(module
             (memory (export "mem") 1)
             (func (export "free") (param i32 i32))
             (func (export "get_name") (result i32) (i32.const 0))
             (func (export "pre_hook") (param i32) (result i64) (i64.const 0))
             (func (export "init") (param i32 i32) (result i64) (i64.const 0))
             (global (export "post_hook") i32 (i32.const 0)))"#,
    );
    let ErrorKind::InvalidPlugin { problems } = err.kind() else {
        panic!("expected InvalidPlugin, got {err}");
    };
    assert_eq!(err.plugin(), Some("broken.wasm"));
    let missing: Vec<&str> = problems
        .iter()
        .filter_map(|p| match p {
            LoadProblem::MissingExport { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(missing, ["memory", "malloc"]);
    let wrong: Vec<(&str, &str, &str)> = problems
        .iter()
        .filter_map(|p| match p {
            LoadProblem::WrongExportType {
                name,
                expected,
                found,
                ..
            } => Some((name.as_str(), expected.as_str(), found.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        wrong,
        [
            ("get_name", "func() -> i64", "func() -> i32"),
            ("init", "func(i32, i32) -> i32", "func(i32, i32) -> i64"),
            ("pre_hook", "func(i32, i32) -> i64", "func(i32) -> i64"),
            ("post_hook", "func(i32, i32) -> i64", "global i32"),
        ]
    );
    let message = err.to_string();
    assert!(message.contains("6 problems"), "{message}");
    assert!(
        message.contains("#[no_mangle]"),
        "the message says what to do: {message}"
    );
}

#[test]
fn unknown_imports_are_named() {
    let err = load_err(&wat::module(
        r#"(import "env" "now_ms" (func (result i64)))
           (import "wasi_snapshot_preview2" "fd_write" (func (param i32)))
           (import "env" "abort" (func (param i32)))"#,
        &[&wat::alloc()],
    ));
    let ErrorKind::InvalidPlugin { problems } = err.kind() else {
        panic!("expected InvalidPlugin, got {err}");
    };
    let named: Vec<String> = problems
        .iter()
        .map(|p| match p {
            LoadProblem::UnsupportedImport { module, name, .. } => format!("{module}.{name}"),
            other => panic!("unexpected problem {other}"),
        })
        .collect();
    assert_eq!(
        named,
        ["env.now_ms", "wasi_snapshot_preview2.fd_write", "env.abort"]
    );
    assert!(err.to_string().contains("env.now_ms"));
}

#[test]
fn unknown_wasi_function_is_named() {
    let err = load_err(&wat::module(
        r#"(import "wasi_snapshot_preview1" "teleport" (func (param i32) (result i32)))"#,
        &[&wat::alloc()],
    ));
    let ErrorKind::InvalidPlugin { problems } = err.kind() else {
        panic!("expected InvalidPlugin, got {err}");
    };
    assert!(
        matches!(&problems[..], [LoadProblem::UnsupportedImport { name, .. }] if name == "teleport"),
        "{err}"
    );
}

#[test]
fn get_name_is_required() {
    let err = load_err(
        r#"(module (memory (export "memory") 1)
             (func (export "malloc") (param i32) (result i32) (i32.const 8)))"#,
    );
    assert!(
        matches!(err.kind(), ErrorKind::InvalidPlugin { problems }
            if matches!(&problems[..], [LoadProblem::MissingExport { name, .. }] if name == "get_name")),
        "{err}"
    );
}

#[test]
fn bytes_that_are_not_wasm_are_a_compile_error() {
    let err = crate::small_host()
        .load_bytes(b"\0asm\x01\0\0\0garbage", "garbage.wasm")
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Compile { .. }) && err.plugin() == Some("garbage.wasm"),
        "{err}"
    );
}

#[test]
fn missing_file_is_a_read_error_naming_the_path() {
    let err = crate::small_host()
        .load_file("/nonexistent/plugin.wasm")
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::ReadFile { .. }), "{err}");
    let io = std::error::Error::source(&err).and_then(|s| s.downcast_ref::<std::io::Error>());
    assert_eq!(io.map(std::io::Error::kind), Some(std::io::ErrorKind::NotFound));
    assert!(err.to_string().contains("/nonexistent/plugin.wasm"));
}

#[test]
fn trap_in_get_name_fails_the_load() {
    let err = load_err(
        r#"(module (memory (export "memory") 1)
             (func (export "malloc") (param i32) (result i32) (i32.const 8))
             (func (export "get_name") (result i64) unreachable))"#,
    );
    assert!(
        matches!(err.kind(), ErrorKind::Trap { .. }) && err.function() == Some("get_name"),
        "{err}"
    );
}
