//! `bifrost-wasm inspect`.

use crate::support::{hello, redact, run};
use crate::wat;

#[test]
fn inspect_describes_hello_world_in_tables() {
    let plugin = hello();
    let out = run(&["inspect", &plugin]);
    assert_eq!(out.code, 0, "{out:#?}");
    let text = &out.stdout;
    for expected in [
        "name           hello-world-wasm-rust",
        "generation 3 (http_pre_hook), also exports the generation 2 alias http_intercept",
        "allocator      malloc(size) + free(ptr, size)",
        "wasi           no",
        "init: yes, cleanup: yes, last_error: yes",
        "hooks (5 of 5)",
        "http_stream_chunk_hook  http_stream_chunk_hook",
        "pre_hook                func(i32, i32) -> i64",
        "malloc                  func(i32) -> i32",
        "imports (0)",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn inspect_json_is_the_host_plugin_info() {
    let plugin = hello();
    let out = run(&["inspect", &plugin, "--json"]);
    assert_eq!(out.code, 0, "{out:#?}");
    let info = out.json();
    assert_eq!(info["name"], "hello-world-wasm-rust");
    assert_eq!(info["source"], plugin.as_str());
    assert_eq!(info["abi_generation"], "gen3_http_pre_hook");
    assert_eq!(info["allocator"], "malloc_free_with_size");
    assert_eq!(info["wasi"], false);
    assert_eq!(info["imports"], serde_json::json!([]));
    let hooks: Vec<&str> = info["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hook"].as_str().unwrap())
        .collect();
    assert_eq!(
        hooks,
        [
            "http_pre_hook",
            "pre_hook",
            "post_hook",
            "http_post_hook",
            "http_stream_chunk_hook"
        ]
    );
    assert!(info["size_bytes"].as_u64().unwrap() > 1000);
}

#[test]
fn inspect_of_a_generation_2_plugin_with_one_argument_free() {
    let file = wat::file("echo", &wat::echo_plugin());
    let out = run(&["inspect", file.arg()]);
    assert_eq!(out.code, 0, "{out:#?}");
    insta::assert_snapshot!("inspect_echo_plugin", redact(&out.stdout, file.arg()));
    let out = run(&["inspect", "--json", file.arg()]);
    assert_eq!(out.code, 0, "{out:#?}");
    insta::assert_snapshot!("inspect_echo_plugin_json", redact(&out.stdout, file.arg()));
}
