//! Plugins from other toolchains judged fairly: a trap is worded by the input that was sent
//! (a valid example is not bad input; an AssemblyScript build that traps on valid input most
//! often lacks the json-as transform), memory advice fits the allocator and the runtime the
//! plugin has, and `inspect` names the toolchain from the signals the module carries. Each
//! case is a small WAT plugin that imitates what the toolchain emits.

use crate::check::row;
use crate::support::{hello, run, TempFile};
use crate::verdicts::check;
use crate::wat;

/// The `toolchain` line of `inspect` and the JSON's `toolchain` object.
fn inspect_toolchain(wat: &str) -> (String, serde_json::Value) {
    let file = wat::file("probe", wat);
    let out = run(&["inspect", file.arg()]);
    assert_eq!(out.code, 0, "{out:#?}");
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("toolchain"))
        .unwrap_or_else(|| panic!("{}", out.stdout))
        .to_string();
    let json = run(&["inspect", file.arg(), "--json"]).json();
    (line, json["toolchain"].clone())
}

const FREE_ONE_ARG: &str = r#"(func (export "free") (param i32))"#;

/// A plugin whose `pre_hook` traps (`unreachable`) and whose `post_hook` echoes, with a
/// one-argument `free` and extra module fields.
fn trapping(name: &str, extra: &str) -> String {
    format!(
        "(module\n{}\n{extra}\n{}\n{}\n)",
        wat::base(name, FREE_ONE_ARG),
        r#"(func (export "pre_hook") (param i32 i32) (result i64) unreachable)"#,
        r#"(func (export "post_hook") (param i32 i32) (result i64) (call $echo (local.get 0) (local.get 1)))"#
    )
}

/// Data segments holding AssemblyScript string objects as asc lays static strings out: a
/// 20-byte header (memory-manager and GC words, then the class id, 2 for `String`, and the
/// byte length) before UTF-16LE text. Placed from 1 KiB on, below the allocator's block.
fn as_strings(texts: &[&str]) -> String {
    let mut at = 1024;
    let mut segments = Vec::new();
    for text in texts {
        let mut bytes = vec![0u8; 12];
        bytes.extend(2u32.to_le_bytes());
        bytes.extend((text.len() as u32 * 2).to_le_bytes());
        for unit in text.encode_utf16() {
            bytes.extend(unit.to_le_bytes());
        }
        let escaped: String = bytes.iter().map(|b| format!("\\{b:02x}")).collect();
        segments.push(format!(r#"(data (i32.const {at}) "{escaped}")"#));
        at += (bytes.len() as u32 + 15) & !15;
    }
    segments.join("\n")
}

/// Upstream's AssemblyScript build (`--runtime stub --use abort=`): no `env.abort` import, no
/// runtime exports; only its strings in the data say what it is.
fn upstream_assemblyscript() -> String {
    as_strings(&["hello-world-wasm-typescript", "request"])
}

/// AssemblyScript's runtime exports as `--exportRuntime` gives them with the stub runtime:
/// `__unpin` and `__collect` do nothing. No `env.abort` (`--use abort=`).
const AS_STUB_RUNTIME: &str = r#"(func (export "__new") (param i32 i32) (result i32) (i32.const 0))
  (func (export "__pin") (param i32) (result i32) (local.get 0))
  (func (export "__unpin") (param i32))
  (func (export "__collect"))"#;

/// The same with a collecting runtime (incremental or minimal): `__collect` does something.
const AS_COLLECTING_RUNTIME: &str = r#"(global $collections (mut i32) (i32.const 0))
  (func (export "__new") (param i32 i32) (result i32) (i32.const 0))
  (func (export "__pin") (param i32) (result i32) (local.get 0))
  (func (export "__unpin") (param i32))
  (func (export "__collect") (global.set $collections (i32.add (global.get $collections) (i32.const 1))))"#;

// ---- 3. Traps, worded by the input that was sent ----------------------------------------

#[test]
fn a_trap_on_a_valid_example_does_not_blame_bad_input() {
    let (_file, rows) = check("trap", &trapping("trap", ""), &[]);
    for label in [
        "pre_hook: go-envelope request",
        "pre_hook: flat request (seed example)",
    ] {
        let example = row(&rows, label);
        assert_eq!(example.1, "FAIL", "{example:?}");
        assert!(
            example.2.contains(
                "It trapped on a valid input (a JSON object), so this is a bug in the plugin: a hook must \
                 answer every input it is given (with an error field when it cannot process one), never trap"
            ),
            "{example:?}"
        );
        assert!(!example.2.contains("bad input"), "{example:?}");
    }
}

#[test]
fn a_trap_on_bad_input_is_told_to_answer_with_an_error_field() {
    let (_file, rows) = check("trap", &trapping("trap", ""), &[]);
    // Bad input that is not JSON, and bad input that is a valid JSON object of the wrong shape.
    for (label, name) in [
        ("bad input: invalid JSON", "invalid JSON"),
        ("bad input: wrong types", "wrong types"),
    ] {
        let bad = row(&rows, label);
        assert_eq!(bad.1, "FAIL", "{bad:?}");
        assert!(
            bad.2.contains(&format!(
                "The input was bad on purpose ({name}): a hook must answer bad input with an error field, \
                 never trap"
            )),
            "{bad:?}"
        );
    }
}

#[test]
fn assemblyscript_trap_on_valid_input_suggests_the_json_as_transform() {
    // Built as upstream's example is: nothing but its strings says AssemblyScript.
    let plugin = trapping("as-trap", &upstream_assemblyscript());
    let (_file, rows) = check("as-trap", &plugin, &[]);
    let example = row(&rows, "pre_hook: flat request (seed example)");
    assert_eq!(example.1, "FAIL", "{example:?}");
    assert!(
        example.2.contains(
            "It trapped on a valid input (a JSON object), and this is an AssemblyScript build (data: 2 \
             UTF-16 string objects such as \"hello-world-wasm-typescript\", \"request\"): a trap on valid \
             input most often means the json-as transform was not applied when it was built (build with \
             `--transform json-as/transform`)"
        ),
        "{example:?}"
    );
    // Bad input is bad input, transform or not.
    let bad = row(&rows, "bad input: wrong types");
    assert!(!bad.2.contains("json-as"), "{bad:?}");
    assert!(
        bad.2.contains("The input was bad on purpose (wrong types)"),
        "{bad:?}"
    );
}

#[test]
fn call_words_a_trap_by_the_input_it_sent() {
    let file = wat::file("as-trap", &trapping("as-trap", AS_STUB_RUNTIME));
    let input = TempFile::new("bad.json", br#"{"context": "#);
    let out = run(&[
        "call",
        file.arg(),
        "pre_hook",
        "--input",
        input.arg(),
        "--raw-input",
    ]);
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(out.stderr.contains("The input was not valid JSON ("), "{out:#?}");
    assert!(
        out.stderr
            .contains("): a hook must answer bad input with an error field, never trap"),
        "{out:#?}"
    );
    assert!(!out.stderr.contains("json-as"), "{out:#?}");
}

// ---- 4. Memory advice that fits the allocator and the runtime --------------------------

/// A plugin that never gives memory back: `imports`, a bump allocator exported as `malloc`,
/// the free function `free` (WAT; empty for none), `extra` module fields, and a `pre_hook`
/// that copies its input into a fresh block.
fn leaking(name: &str, imports: &str, malloc: &str, free: &str, extra: &str) -> String {
    format!(
        r#"(module
  {imports}
  (memory (export "memory") 2)
  (data (i32.const 16) "{name}")
  (global $next (mut i32) (i32.const 65536))
  (func $malloc (export "{malloc}") (param $size i32) (result i32)
    (local $p i32) (local $have i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (global.get $next) (i32.and (i32.add (local.get $size) (i32.const 7)) (i32.const -8))))
    (local.set $have (i32.shl (memory.size) (i32.const 16)))
    (if (i32.gt_u (global.get $next) (local.get $have))
      (then
        (if (i32.eq (memory.grow (i32.add (i32.shr_u (i32.sub (global.get $next) (local.get $have)) (i32.const 16)) (i32.const 1)))
                    (i32.const -1))
          (then (return (i32.const 0))))))
    (local.get $p))
  {free}
  (func $pack (param $ptr i32) (param $len i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32)) (i64.extend_i32_u (local.get $len))))
  (func (export "get_name") (result i64) (call $pack (i32.const 16) (i32.const {len})))
  {extra}
  (func (export "pre_hook") (param $p i32) (param $l i32) (result i64) (local $o i32)
    (local.set $o (call $malloc (local.get $l)))
    (memory.copy (local.get $o) (local.get $p) (local.get $l))
    (call $pack (local.get $o) (local.get $l)))
)"#,
        len = name.len()
    )
}

/// `check --calls 300` of a leaking plugin: its memory row, which fails, and its required
/// exports row.
fn leak_rows(name: &str, wat: &str) -> ((String, String, String), (String, String, String)) {
    let (_file, rows) = check(name, wat, &["--calls", "300"]);
    let memory = row(&rows, "memory: pre_hook").clone();
    assert_eq!(memory.1, "FAIL", "{memory:?}");
    (memory, row(&rows, "exports: required").clone())
}

#[test]
fn memory_advice_fits_a_two_argument_free() {
    let plugin = leaking(
        "leak2",
        "",
        "malloc",
        r#"(func (export "free") (param i32 i32))"#,
        "",
    );
    let (memory, _) = leak_rows("leak2", &plugin);
    assert!(
        memory.2.ends_with(
            "free what the host frees with free(ptr, len) (it calls it for the input and the output of \
             every call) and do not keep per-call data"
        ),
        "{memory:?}"
    );
}

#[test]
fn memory_advice_fits_a_one_argument_free() {
    let (memory, required) = leak_rows("leak1", &leaking("leak1", "", "malloc", FREE_ONE_ARG, ""));
    assert!(
        memory.2.ends_with(
            "the host calls free(ptr) for the input and the output of every call: make it release what \
             malloc handed out (with one argument it must find the block's size itself, e.g. in a header \
             malloc writes before the block), and do not keep per-call data"
        ),
        "{memory:?}"
    );
    assert!(!memory.2.contains("free(ptr, len)"), "{memory:?}");
    assert_eq!(required.1, "PASS", "{required:?}");
}

#[test]
fn memory_advice_fits_a_missing_free_in_both_rows() {
    let (memory, required) = leak_rows("leak0", &leaking("leak0", "", "malloc", "", ""));
    let advice = "there is no `free` export, so the host can never hand the input and output buffers back \
                  and memory grows with every call; export free(ptr, len) (or free(ptr)) that releases what \
                  malloc handed out";
    assert!(memory.2.ends_with(advice), "{memory:?}");
    assert_eq!(required.1, "WARN", "{required:?}");
    assert!(required.2.ends_with(advice), "{required:?}");
}

#[test]
fn memory_advice_for_the_assemblyscript_stub_runtime_says_it_never_frees() {
    let plugin = leaking("as-stub", "", "malloc", FREE_ONE_ARG, AS_STUB_RUNTIME);
    let (memory, _) = leak_rows("as-stub", &plugin);
    assert!(
        memory.2.ends_with(
            "the host calls free(ptr) for the input and the output of every call; this is an \
             AssemblyScript build with the stub runtime, which never frees memory: nothing malloc hands \
             out is given back, whatever free does; build with `--runtime incremental` (or `--runtime \
             minimal` and call `__collect()` at the start of each hook), `__pin` in malloc and `__unpin` \
             in free, or keep the host's buffers in a bump area of their own that free rewinds once none \
             is live"
        ),
        "{memory:?}"
    );
}

#[test]
fn memory_advice_for_assemblyscript_of_an_unknown_runtime_names_the_stub_as_the_likely_cause() {
    let plugin = leaking(
        "as-upstream",
        "",
        "malloc",
        FREE_ONE_ARG,
        &upstream_assemblyscript(),
    );
    let (memory, _) = leak_rows("as-upstream", &plugin);
    assert!(
        memory.2.contains(
            "this is an AssemblyScript build: if it was built with `--runtime stub`, as upstream's example \
             is, the stub runtime never frees memory"
        ),
        "{memory:?}"
    );
    assert!(memory.2.contains("`--runtime incremental`"), "{memory:?}");
}

#[test]
fn memory_advice_for_a_collecting_assemblyscript_runtime_says_to_unpin() {
    let plugin = leaking("as-gc", "", "malloc", FREE_ONE_ARG, AS_COLLECTING_RUNTIME);
    let (memory, _) = leak_rows("as-gc", &plugin);
    assert!(
        memory.2.ends_with(
            "this is an AssemblyScript build with a collecting runtime (incremental or minimal): have free \
             `__unpin` what malloc pinned with `__pin` so that the collector can take it back (with \
             `--runtime minimal`, call `__collect()` at the start of each hook), and do not keep per-call \
             data in globals"
        ),
        "{memory:?}"
    );
    assert!(!memory.2.contains("stub"), "{memory:?}");
}

#[test]
fn memory_advice_for_tinygo_mentions_plugin_free() {
    // The TinyGo examples' shape: WASI, `_start`, plugin_malloc and a one-argument plugin_free.
    let plugin = leaking(
        "tinygo-leak",
        r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))"#,
        "plugin_malloc",
        r#"(func (export "plugin_free") (param i32))"#,
        r#"(func (export "_start"))"#,
    );
    let (memory, _) = leak_rows("tinygo-leak", &plugin);
    assert!(
        memory.2.ends_with(
            "the host calls plugin_free(ptr) for the input and the output of every call; make plugin_free \
             release what plugin_malloc handed out: upstream's TinyGo example's plugin_free does nothing \
             and its bump heap is only rewound by plugin_reset, which the host never calls; count the live \
             buffers in plugin_malloc and plugin_free and rewind the heap when none is left, and do not \
             keep per-call data"
        ),
        "{memory:?}"
    );
}

// ---- 5. inspect names the toolchain ----------------------------------------------------

#[test]
fn inspect_detects_assemblyscript_without_env_abort() {
    // Runtime exports (`--exportRuntime`) with the stub runtime.
    let (line, json) = inspect_toolchain(&trapping("as", AS_STUB_RUNTIME));
    assert_eq!(
        line,
        "toolchain      assemblyscript (exports __new, __pin, __unpin, __collect; __collect does nothing: \
         the stub runtime)"
    );
    assert_eq!(json["toolchain"], "assemblyscript");
    assert_eq!(json["assemblyscript_runtime"], "stub");
    // Upstream's build: its strings only.
    let (line, json) = inspect_toolchain(&trapping("as", &upstream_assemblyscript()));
    assert_eq!(
        line,
        "toolchain      assemblyscript (data: 2 UTF-16 string objects such as \
         \"hello-world-wasm-typescript\", \"request\")"
    );
    assert_eq!(json["toolchain"], "assemblyscript");
    assert!(json.get("assemblyscript_runtime").is_none(), "{json}");
}

#[test]
fn inspect_says_unknown_when_no_signal_matches() {
    let (line, json) = inspect_toolchain(&trapping("plain", ""));
    assert_eq!(line, "toolchain      unknown");
    assert_eq!(json, serde_json::json!({"toolchain": "unknown", "evidence": []}));
}

#[test]
fn inspect_reads_the_rust_producers_section() {
    // A producers section as rustc writes one (fields: language, processed-by).
    let producers =
        r#"(@custom "producers" "\02\08language\01\04Rust\00\0cprocessed-by\01\05rustc\061.95.0")"#;
    let (line, json) = inspect_toolchain(&trapping("rusty", producers));
    assert_eq!(
        line,
        "toolchain      rust (producers: language Rust, processed-by rustc 1.95.0)"
    );
    assert_eq!(json["toolchain"], "rust");
    assert_eq!(
        json["evidence"],
        serde_json::json!(["producers: language Rust, processed-by rustc 1.95.0"])
    );
}

#[test]
fn inspect_names_rust_for_the_stripped_hello_world_plugin() {
    // Built with `strip = true`: no producers section, but the standard library's paths.
    let out = run(&["inspect", &hello()]);
    assert_eq!(out.code, 0, "{out:#?}");
    let line = out.stdout.lines().find(|l| l.starts_with("toolchain")).unwrap();
    assert!(
        line.starts_with("toolchain      rust (data: Rust standard library paths /rustc/"),
        "{line}"
    );
    assert!(!out.stdout.contains("assemblyscript"), "{}", out.stdout);
}
