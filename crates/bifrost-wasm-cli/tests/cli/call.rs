//! `bifrost-wasm call`.

use serde_json::{json, Value};

use crate::support::{hello, redact, run, run_with_stdin, TempFile};
use crate::wat;

const HOOKS: [&str; 6] = [
    "http_pre_hook",
    "http_intercept",
    "pre_hook",
    "post_hook",
    "http_post_hook",
    "http_stream_chunk_hook",
];

#[test]
fn every_hook_runs_on_the_seed_example_by_default() {
    let plugin = hello();
    for hook in HOOKS {
        let out = run(&["call", &plugin, hook]);
        assert_eq!(out.code, 0, "{hook}: {out:#?}");
        assert!(
            out.stderr.contains(" took "),
            "{hook}: no timing in {:?}",
            out.stderr
        );
        out.json();
        // The whole output matters and is deterministic; timings go to stderr only.
        insta::assert_snapshot!(format!("call_seed_{hook}"), out.stdout);
    }
}

/// One input per hook, as a file, each with something the output must reflect.
fn inputs() -> Vec<(&'static str, Value, &'static str)> {
    let http = json!({"method": "GET", "path": "/v1/models", "headers": {}, "query": {}, "body": null});
    vec![
        (
            "http_pre_hook",
            json!({"context": {"request_id": "r1"}, "request": http}),
            "http_pre_hook_seen",
        ),
        (
            "http_intercept",
            json!({"context": {"request_id": "r1"}, "request": http}),
            "http_pre_hook_seen",
        ),
        (
            "pre_hook",
            json!({"context": {"request_id": "r2"}, "request": {"provider": "openai", "model": "mock-model", "input": []}}),
            "This is a mock response!",
        ),
        (
            "post_hook",
            json!({"context": {}, "response": null, "has_error": true,
                   "error": {"error": {"message": "upstream down"}, "status_code": 502}}),
            "upstream down (via rust plugin)",
        ),
        (
            "http_post_hook",
            json!({"context": {"request_id": "r3"}, "request": http,
                   "response": {"status_code": 404, "headers": {}, "body": null}}),
            "http_post_hook_seen",
        ),
        (
            "http_stream_chunk_hook",
            json!({"context": {"stream_chunks_seen": 41}, "request": http,
                   "chunk": {"id": "c", "choices": [{"index": 0, "delta": {"content": "x"}}]}}),
            "\"stream_chunks_seen\": 42",
        ),
    ]
}

#[test]
fn every_hook_runs_on_an_input_file() {
    let plugin = hello();
    for (hook, input, expected) in inputs() {
        let file = TempFile::new("input.json", input.to_string());
        let out = run(&["call", &plugin, hook, "--input", file.arg()]);
        assert_eq!(out.code, 0, "{hook}: {out:#?}");
        assert!(
            out.stdout.contains(expected),
            "{hook}: {expected:?} not in\n{}",
            out.stdout
        );
    }
}

#[test]
fn input_from_stdin_short_circuits_the_mock_model_in_the_go_shape() {
    let plugin = hello();
    let input = json!({
        "context": {"request_id": "abc-123"},
        "request": {"RequestType": "chat_completion", "ChatRequest":
            {"provider": "openai", "model": "mock-model", "input": [{"role": "user", "content": "Hi"}]}}
    });
    let out = run_with_stdin(
        &["call", &plugin, "pre_hook", "--input", "-"],
        input.to_string().as_bytes(),
    );
    assert_eq!(out.code, 0, "{out:#?}");
    let output = out.json();
    assert_eq!(output["has_short_circuit"], true);
    assert_eq!(
        output["short_circuit"]["Response"]["ChatResponse"]["id"], "mock-abc-123",
        "{output:#}"
    );
}

#[test]
fn shape_flag_lays_out_the_example_request() {
    let plugin = hello();
    for (shape, probe) in [
        ("go-envelope", "/request/ChatRequest/model"),
        ("flat", "/request/model"),
        ("snake", "/request/chat_request/model"),
    ] {
        let out = run(&["call", &plugin, "pre_hook", "--shape", shape]);
        assert_eq!(out.code, 0, "{shape}: {out:#?}");
        assert_eq!(
            out.json().pointer(probe),
            Some(&json!("gpt-4")),
            "{shape}:\n{}",
            out.stdout
        );
    }
    let out = run(&["call", &plugin, "post_hook", "--shape", "flat"]);
    assert_eq!(
        out.json().pointer("/response/chat_response/model"),
        Some(&json!("gpt-4 (via rust-wasm)"))
    );
}

#[test]
fn output_keeps_numbers_and_key_order_as_the_plugin_wrote_them() {
    let plugin = hello();
    let input = r#"{"context": {}, "request": {"provider": "p", "model": "m", "input": [],
        "params": {"zeta": 98765432109876543210, "alpha": 1.0, "seed": -0.0}}}"#;
    let file = TempFile::new("big.json", input);
    let out = run(&[
        "call",
        &plugin,
        "pre_hook",
        "--input",
        file.arg(),
        "--shape",
        "flat",
    ]);
    // --shape only applies to the built-in example.
    assert_eq!(out.code, 2, "{out:#?}");
    let out = run(&["call", &plugin, "pre_hook", "--input", file.arg()]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(
        out.stdout.contains(
            "\"params\": {\n      \"zeta\": 98765432109876543210,\n      \"alpha\": 1.0,\n      \"seed\": -0.0\n    }"
        ),
        "{}",
        out.stdout
    );
    let out = run(&["call", &plugin, "pre_hook", "--input", file.arg(), "--compact"]);
    assert!(
        out.stdout.starts_with("{\"context\":"),
        "not as the plugin wrote it: {}",
        out.stdout
    );
}

#[test]
fn config_reaches_init_as_json_text_or_file() {
    let plugin = hello();
    let out = run(&[
        "call",
        &plugin,
        "post_hook",
        "--config",
        r#"{"rewrite_model": false}"#,
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(
        out.json().pointer("/response/ChatResponse/model"),
        Some(&json!("gpt-4"))
    );
    let file = TempFile::new("config.json", r#"{"mark_context": false}"#);
    let out = run(&["call", &plugin, "pre_hook", "--config", file.arg()]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.json()["context"], json!({"request_id": "abc-123"}));
}

#[test]
fn a_config_the_plugin_rejects_fails_with_its_reason() {
    let plugin = hello();
    let out = run(&["call", &plugin, "pre_hook", "--config", r#"{"mock": "yes"}"#]);
    assert_eq!(out.code, 1, "{out:#?}");
    let err = &out.stderr;
    assert!(
        err.starts_with("error: cannot start plugin `hello-world-wasm-rust`"),
        "{err}"
    );
    assert!(err.contains("rejected its configuration"), "{err}");
    assert!(
        err.contains("expected a boolean"),
        "the plugin's last_error is shown: {err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_trapping_hook_fails_with_plugin_hook_and_cause() {
    let file = wat::file("trap", &wat::trapping_plugin());
    let out = run(&["call", file.arg(), "pre_hook"]);
    assert_eq!(out.code, 1, "{out:#?}");
    let err = redact(&out.stderr, file.arg());
    let mut lines = err.lines();
    assert_eq!(
        lines.next(),
        Some("error: `pre_hook` of plugin `trap-plugin` ([PLUGIN]) failed"),
        "{err}"
    );
    let cause = lines.next().unwrap_or_default();
    assert!(
        cause.starts_with("  caused by: plugin `trap-plugin`: `pre_hook` trapped: "),
        "{err}"
    );
    assert!(cause.contains("unreachable"), "{err}");
    assert!(out.stdout.is_empty());
    // The plugin's other hooks still work.
    let out = run(&["call", file.arg(), "post_hook"]);
    assert_eq!(out.code, 0, "{out:#?}");
}

#[test]
fn a_hook_the_plugin_lacks_names_the_hooks_it_has() {
    let file = wat::file("trap", &wat::trapping_plugin());
    let out = run(&["call", file.arg(), "http_stream_chunk_hook"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stderr
            .contains("does not export `http_stream_chunk_hook` (it implements: pre_hook, post_hook)"),
        "{}",
        out.stderr
    );
}

#[test]
fn raw_input_sends_bad_bytes_to_the_plugin() {
    let plugin = hello();
    let file = TempFile::new("bad.json", "{\"context\": ");
    let out = run(&["call", &plugin, "pre_hook", "--input", file.arg(), "--raw-input"]);
    assert_eq!(out.code, 0, "{out:#?}");
    let error = out.json()["error"].as_str().unwrap().to_string();
    assert!(!error.is_empty());
    assert!(
        out.stderr.contains("note: the hook reported an error in `error`"),
        "{}",
        out.stderr
    );
}
