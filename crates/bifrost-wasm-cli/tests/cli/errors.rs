//! Bad paths, bad JSON, bad arguments and broken plugins: clear messages and exit codes.

use crate::support::{hello, redact, run, TempFile};
use crate::wat;

#[test]
fn help_documents_the_exit_codes() {
    for args in [
        &["--help"][..],
        &["check", "--help"],
        &["call", "--help"],
        &["inspect", "--help"],
    ] {
        let out = run(args);
        assert_eq!(out.code, 0, "{args:?}");
        assert!(out.stdout.contains("Exit codes:"), "{args:?}:\n{}", out.stdout);
        assert!(out.stdout.contains("2  usage error"), "{args:?}");
    }
}

#[test]
fn a_missing_plugin_file_is_a_usage_error() {
    for command in ["inspect", "call", "check"] {
        let mut args = vec![command, "no/such/plugin.wasm"];
        if command == "call" {
            args.push("pre_hook");
        }
        let out = run(&args);
        assert_eq!(out.code, 2, "{command}: {out:#?}");
        assert!(
            out.stderr
                .starts_with("error: cannot read plugin file no/such/plugin.wasm: "),
            "{command}: {}",
            out.stderr
        );
        assert!(out.stderr.contains("check the path"), "{}", out.stderr);
    }
}

#[test]
fn a_directory_is_not_a_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["inspect", dir.path().to_str().unwrap()]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(
        out.stderr
            .contains("is a directory; pass the plugin's .wasm file"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_file_that_is_not_wasm_is_reported_as_such() {
    let file = TempFile::new("notes.wasm", "this is not a module");
    let out = run(&["inspect", file.arg()]);
    assert_eq!(out.code, 1, "{out:#?}");
    let err = redact(&out.stderr, file.arg());
    assert!(err.starts_with("error: cannot load plugin [PLUGIN]\n  caused by: plugin `[PLUGIN]` is not a valid WebAssembly module"), "{err}");
    assert!(err.contains("build it for wasm32-unknown-unknown"), "{err}");
    let out = run(&["check", file.arg()]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stdout.contains("load   FAIL    plugin `"), "{}", out.stdout);
}

#[test]
fn missing_and_mistyped_exports_are_all_listed_by_inspect() {
    let file = wat::file("broken", &wat::abi_broken_plugin());
    let out = run(&["inspect", file.arg()]);
    assert_eq!(out.code, 1, "{out:#?}");
    insta::assert_snapshot!(
        "inspect_abi_broken_plugin_stderr",
        redact(&out.stderr, file.arg())
    );
    // What the module does have is listed too, so the author sees the mismatch side by side.
    insta::assert_snapshot!(
        "inspect_abi_broken_plugin_stdout",
        redact(&out.stdout, file.arg())
    );
    let out = run(&["inspect", "--json", file.arg()]);
    assert_eq!(out.code, 1, "{out:#?}");
    let report = out.json();
    assert_eq!(report["valid"], false);
    assert_eq!(report["problems"].as_array().map(Vec::len), Some(3), "{report}");
    assert_eq!(report["exports"][1]["name"], "pre_hook");
    assert_eq!(report["exports"][1]["ty"], "func(i32) -> i32");
}

#[test]
fn invalid_input_json_is_a_usage_error_that_says_where() {
    let plugin = hello();
    let file = TempFile::new("input.json", "{\"context\": {},\n \"request\": [1, 2,]}");
    let out = run(&["call", &plugin, "pre_hook", "--input", file.arg()]);
    assert_eq!(out.code, 2, "{out:#?}");
    let err = redact(&out.stderr, file.arg());
    assert_eq!(
        err.trim_end(),
        "error: --input [PLUGIN] is not valid JSON (expected value at line 2 column 19); fix it, or pass \
         --raw-input to send it anyway"
    );
    let empty = TempFile::new("empty.json", "");
    let out = run(&["call", &plugin, "pre_hook", "--input", empty.arg()]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("is empty; pass a JSON document"),
        "{}",
        out.stderr
    );
    let out = run(&["call", &plugin, "pre_hook", "--input", "no/such/input.json"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .starts_with("error: cannot read --input file no/such/input.json: "),
        "{}",
        out.stderr
    );
}

#[test]
fn invalid_config_arguments_are_usage_errors() {
    let plugin = hello();
    let out = run(&["call", &plugin, "pre_hook", "--config", "{\"mock\": tru}"]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(
        out.stderr.contains("--config is not valid JSON"),
        "{}",
        out.stderr
    );
    let out = run(&["check", &plugin, "--config", "settings.json"]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(
        out.stderr.contains("--config \"settings.json\" is neither JSON")
            && out.stderr.contains("nor a file that exists"),
        "{}",
        out.stderr
    );
    let file = TempFile::new("config.json", "{mock: false}");
    let out = run(&["call", &plugin, "pre_hook", "--config", file.arg()]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(
        out.stderr.contains("is not valid JSON: key must be a string"),
        "{}",
        out.stderr
    );
}

#[test]
fn unknown_hooks_and_shapes_list_the_valid_values() {
    let plugin = hello();
    let out = run(&["call", &plugin, "prehook"]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.contains("invalid value 'prehook'"), "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "pre_hook, post_hook, http_pre_hook, http_intercept, http_post_hook, http_stream_chunk_hook"
        ),
        "{}",
        out.stderr
    );
    let out = run(&["call", &plugin, "pre_hook", "--shape", "camel"]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.contains("go-envelope, flat, snake"), "{}", out.stderr);
}
