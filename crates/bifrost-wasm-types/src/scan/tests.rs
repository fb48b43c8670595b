//! The scanner's unit tests (the serde_json oracle tests are in `tests/scan_oracle.rs`).

use super::*;

#[test]
fn inside_string_tells_string_bytes_from_the_rest() {
    let text = "{\"a\": \"x \\\" y\", \"b\":1}";
    let inside: String = (0..text.len())
        .map(|i| if inside_string(text, i) { 'S' } else { '.' })
        .collect();
    // {"a": "x \" y", "b":1}
    assert_eq!(inside, "..SS...SSSSSSS...SS...");
}

#[test]
fn validate_accepts_rfc_json_and_rejects_the_rest() {
    for ok in [
        "0",
        "-0",
        "1.5e-3",
        "\"a\\u00e9\\n\"",
        "[]",
        "{}",
        " {\"a\" : [1, {\"b\": null}] } ",
        "true",
        "\"\\ud800\"",
    ] {
        assert_eq!(validate(ok), Ok(()), "{ok}");
    }
    for bad in [
        "",
        "01",
        "1.",
        "-",
        "[1,]",
        "{\"a\":1,}",
        "{a:1}",
        "\"\t\"",
        "\"\\x\"",
        "nul",
        "[1 2]",
        "{} {}",
        "{\"a\"}",
        "\"\\u12\"",
        "[",
        "{\"a\":",
    ] {
        assert!(validate(bad).is_err(), "{bad}");
    }
}

#[test]
fn nesting_to_gos_limit_validates_and_deeper_is_refused_without_recursion() {
    let nested = |pairs: usize| format!("{}1{}", "[{\"k\":".repeat(pairs), "}]".repeat(pairs));
    let limit = nested(MAX_DEPTH / 2);
    assert_eq!(validate(&limit), Ok(()));
    assert_eq!(skip_value(&limit, 0), limit.len());
    let deep = nested(50_000);
    let err = validate(&deep).unwrap_err();
    assert!(err.to_string().contains("10000"), "{err}");
    assert_eq!(skip_value(&deep, 0), deep.len());
    assert!(parse_value(&deep).is_err());
}

#[test]
fn members_walk_keys_and_raw_values() {
    let text = r#" { "a" : 1 , "b\"c": {"x": "}"}, "d": [1, "]"] } "#;
    let m: Vec<(String, &str)> = Members::new(text)
        .map(|m| (m.key().into_owned(), m.value))
        .collect();
    assert_eq!(
        m,
        vec![
            ("a".into(), "1"),
            ("b\"c".into(), r#"{"x": "}"}"#),
            ("d".into(), r#"[1, "]"]"#)
        ]
    );
    assert_eq!(member(text, "b\"c", false), Some(r#"{"x": "}"}"#));
    assert_eq!(Members::new("[1]").count(), 0);
}

#[test]
fn unescape_decodes_pairs_and_rejects_lone_surrogates() {
    assert_eq!(unescape(r"a\u00e9\ud83d\ude00\n").unwrap(), "aé😀\n");
    assert!(unescape(r"\ud800").is_err());
    assert!(unescape(r"\udc00x").is_err());
}

#[test]
fn strings_are_written_as_serde_json_writes_them() {
    for s in [
        "plain",
        "q\"b\\",
        "\u{1}\u{1f}\n\t\r\u{8}\u{c}",
        "é😀/",
        "long enough to use the word loop \"",
    ] {
        let mut out = Vec::new();
        write_string(&mut out, s);
        assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(s).unwrap());
    }
}
