//! `check`'s verdicts judged the way a Go host (Bifrost) would: how deep a document may be,
//! which respelled numbers are real losses, what a refused `null` config means, and one
//! definition of "changed". Each behaviour has its own small WAT plugin.

use crate::check::{row, rows};
use crate::support::{run, TempFile};
use crate::wat;

/// Runs `check` on `wat` (with `extra` arguments, `--calls 20` unless given) and returns its rows.
pub fn check(name: &str, wat: &str, extra: &[&str]) -> (TempFile, Vec<(String, String, String)>) {
    let file = wat::file(name, wat);
    let mut args = vec!["check", file.arg()];
    if !extra.contains(&"--calls") {
        args.extend_from_slice(&["--calls", "20"]);
    }
    args.extend_from_slice(extra);
    let out = run(&args);
    let rows = rows(&out.stdout);
    assert!(!rows.is_empty(), "{out:#?}");
    (file, rows)
}

/// WAT text for a data segment holding `text` (quotes and backslashes escaped).
fn data(at: u32, text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('"', "\\\"");
    format!(r#"(data (i32.const {at}) "{escaped}")"#)
}

/// Memory, an allocator handing out one block at 64 KiB, a no-op `free(ptr, len)`,
/// `get_name` and the echo helpers (see `wat::base`).
fn base(name: &str) -> String {
    wat::base(name, r#"(func (export "free") (param i32 i32))"#)
}

/// A plugin whose hooks echo their input with same-length substitutions: `subst` lists, per
/// hook export, `(from, to)` pairs of equal length, applied wherever `from` occurs.
fn substituting_plugin(name: &str, subst: &[(&str, &[(&str, &str)])]) -> String {
    let mut parts = vec![base(name)];
    parts.push(
        r#"
  ;; Overwrites every occurrence of the n bytes at $pat in [$out, $out+$len) with those at $rep.
  (func $subst (param $out i32) (param $len i32) (param $pat i32) (param $rep i32) (param $n i32)
    (local $i i32) (local $j i32)
    (block $done
      (loop $next
        (br_if $done (i32.gt_u (i32.add (local.get $i) (local.get $n)) (local.get $len)))
        (local.set $j (i32.const 0))
        (block $nomatch
          (loop $cmp
            (if (i32.lt_u (local.get $j) (local.get $n))
              (then
                (br_if $nomatch
                  (i32.ne (i32.load8_u (i32.add (i32.add (local.get $out) (local.get $i)) (local.get $j)))
                          (i32.load8_u (i32.add (local.get $pat) (local.get $j)))))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $cmp))))
          (memory.copy (i32.add (local.get $out) (local.get $i)) (local.get $rep) (local.get $n)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))
"#
        .to_string(),
    );
    let mut at = 256u32;
    for (export, pairs) in subst {
        let mut calls = String::new();
        for (from, to) in *pairs {
            assert_eq!(from.len(), to.len(), "{from} / {to}");
            parts.push(data(at, from));
            parts.push(data(at + 128, to));
            calls.push_str(&format!(
                "(call $subst (local.get $o) (local.get $l) (i32.const {at}) (i32.const {}) (i32.const {}))\n",
                at + 128,
                from.len()
            ));
            at += 256;
        }
        parts.push(format!(
            r#"(func (export "{export}") (param $p i32) (param $l i32) (result i64) (local $o i32)
    (local.set $o (i32.add (local.get $p) (local.get $l)))
    (memory.copy (local.get $o) (local.get $p) (local.get $l))
    {calls}
    (call $pack (local.get $o) (local.get $l)))"#
        ));
    }
    format!("(module\n{}\n)\n", parts.join("\n"))
}

#[test]
fn an_echo_of_a_document_as_deep_as_go_accepts_passes_the_deep_nesting_row() {
    let (_file, rows) = check("echo", &wat::echo_plugin(), &[]);
    let deep = row(&rows, "bad input: deep nesting");
    assert_eq!(deep.1, "PASS", "{deep:?}");
    assert!(!deep.2.contains("recursion limit"), "{deep:?}");
}

#[test]
fn an_output_deeper_than_go_accepts_fails_and_says_whose_limit_it_is() {
    // 1 (the envelope) + 10,000 arrays: one level over Go's limit.
    let output = format!(
        r#"{{"context": {{"request_id": "abc-123"}}, "deep": {}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let wat = format!(
        "(module\n{}\n{}\n(func (export \"pre_hook\") (param i32 i32) (result i64) (call $pack (i32.const 1024) (i32.const {})))\n)",
        base("too-deep"),
        data(1024, &output),
        output.len()
    );
    let (_file, rows) = check("too-deep", &wat, &[]);
    let example = row(&rows, "pre_hook: go-envelope request");
    assert_eq!(example.1, "FAIL", "{example:?}");
    assert!(
        example.2.contains(
            "nested deeper than 10000 levels (the limit of Go's encoding/json, which Bifrost uses)"
        ),
        "{example:?}"
    );
}

#[test]
fn respelled_numbers_warn_and_numbers_a_go_host_reads_differently_fail() {
    let plugin = substituting_plugin(
        "respeller",
        &[
            // Same value, other spelling: `1.0 -> 1`, and the seed's `0.7 -> 0.70`.
            (
                "pre_hook",
                &[
                    ("\"f\": 1.0", "\"f\": 1  "),
                    ("\"temperature\": 0.7", "\"temperature\":0.70"),
                ],
            ),
            // An integer turned into a float.
            ("post_hook", &[("\"n\": 42, \"f\"", "\"n\":42.0,\"f\"")]),
            // A big integer through a float64.
            (
                "http_pre_hook",
                &[("98765432109876543210", "9.876543210987654e19")],
            ),
        ],
    );
    let (_file, rows) = check("respeller", &plugin, &[]);
    let pre = row(&rows, "lossless: pre_hook flat");
    assert_eq!(pre.1, "WARN", "{pre:?}");
    assert!(
        pre.2.contains("respelled context.x_sentinel_ctx.f: 1.0 -> 1"),
        "{pre:?}"
    );
    assert!(pre.2.contains("a Go host reads them alike"), "{pre:?}");
    let post = row(&rows, "lossless: post_hook snake");
    assert_eq!(post.1, "FAIL", "{post:?}");
    assert!(
        post.2.contains(
            "context.x_sentinel_ctx.n: 42 -> 42.0 (an integer became a float: a Go int field refuses it)"
        ),
        "{post:?}"
    );
    let http = row(&rows, "lossless: http_pre_hook");
    assert_eq!(http.1, "FAIL", "{http:?}");
    assert!(
        http.2
            .contains("98765432109876543210 -> 9.876543210987654e19 (digits lost: a float64 round trip)"),
        "{http:?}"
    );
    // `0.7 -> 0.70` is JSON-equal: the request is unchanged, as the gateway's log would say.
    let seed = row(&rows, "pre_hook: flat request (seed example)");
    assert_eq!(seed.1, "PASS", "{seed:?}");
    assert_eq!(seed.2, "request unchanged", "{seed:?}");
}

#[test]
fn a_plugin_refusing_only_a_null_config_is_told_exactly_that() {
    // init refuses the four bytes `null` and accepts anything else (empty included).
    let wat = format!(
        r#"(module
{}
  (func (export "init") (param $ptr i32) (param $len i32) (result i32)
    (i32.and (i32.eq (local.get $len) (i32.const 4))
             (i32.eq (i32.load8_u (local.get $ptr)) (i32.const 110))))
  (func (export "pre_hook") (param $p i32) (param $l i32) (result i64)
    (memory.copy (i32.add (local.get $p) (local.get $l)) (local.get $p) (local.get $l))
    (call $pack (i32.add (local.get $p) (local.get $l)) (local.get $l)))
)"#,
        base("no-null")
    );
    let (file, rows) = check("no-null", &wat, &[]);
    assert_eq!(row(&rows, "init: empty config").1, "PASS");
    assert_eq!(row(&rows, "init: {} config").1, "PASS");
    let null = row(&rows, "init: null config");
    assert_eq!(null.1, "WARN", "{null:?}");
    assert!(
        null.2
            .starts_with("refused: init returned 1 for the literal `null`"),
        "{null:?}"
    );
    assert!(
        null.2.contains("though it accepts empty config and {} config"),
        "{null:?}"
    );
    assert!(!null.2.contains("always needs"), "{null:?}");

    // `call --config null` sends the same four bytes `serve` sends for `"config": null`.
    let out = run(&["call", file.arg(), "pre_hook", "--config", "null"]);
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(out.stderr.contains("init"), "{out:#?}");
    let out = run(&["call", file.arg(), "pre_hook"]);
    assert_eq!(out.code, 0, "{out:#?}");
}
