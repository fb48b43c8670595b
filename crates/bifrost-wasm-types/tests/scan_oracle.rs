//! The hand-written scanner (`bifrost_wasm_types::scan`) against `serde_json` as the oracle:
//! the same texts are valid, the same values come out, the same JSON is written.

use bifrost_wasm_types::{reader, scan};
use proptest::prelude::*;
use serde_json::value::RawValue;
use serde_json::{json, Value};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        "[\\\\\"\\u{0}-\\u{1f}a-z\\u{e9}\\u{1f600}]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("[a-z\"\\\\]{0,6}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Valid JSON text in the spellings senders use: compact, pretty, with number spellings
/// `serde_json` never writes, and with escapes it never writes.
fn arb_valid_text() -> impl Strategy<Value = String> {
    (arb_json(), 0..4u8).prop_map(|(v, style)| match style {
        0 => v.to_string(),
        1 => serde_json::to_string_pretty(&v).unwrap(),
        2 => format!(
            " {{ \"n\" : [1.0, -0, 1E+2, 0.5e-3, 123456789012345678901234567890], \"s\": \"\\u00e9\\/\\ud83d\\ude00\", \"v\" : {v} }} "
        ),
        _ => format!("[{v},\t{v}\n]"),
    })
}

/// Corrupts text with a few edits drawn from JSON's own alphabet, so most results are
/// invalid in interesting ways (and some stay valid).
fn arb_mutated_text() -> impl Strategy<Value = String> {
    let edit = (
        any::<prop::sample::Index>(),
        0..3u8,
        prop::sample::select(vec![
            '{', '}', '[', ']', '"', '\\', ',', ':', '0', '-', '.', 'e', 'u', 'n', 't', ' ', '\u{1}', 'x',
        ]),
    );
    (arb_valid_text(), prop::collection::vec(edit, 1..4)).prop_map(|(text, edits)| {
        let mut chars: Vec<char> = text.chars().collect();
        for (at, kind, c) in edits {
            if chars.is_empty() {
                chars.push(c);
                continue;
            }
            let i = at.index(chars.len());
            match kind {
                0 => {
                    chars.remove(i);
                }
                1 => chars.insert(i, c),
                _ => chars[i] = c,
            }
        }
        chars.into_iter().collect()
    })
}

fn oracle_valid(text: &str) -> bool {
    serde_json::from_str::<Box<RawValue>>(text).is_ok()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn validate_agrees_with_serde_json_on_valid_text(text in arb_valid_text()) {
        prop_assert!(oracle_valid(&text));
        prop_assert_eq!(scan::validate(&text), Ok(()));
    }

    #[test]
    fn validate_agrees_with_serde_json_on_corrupted_text(text in arb_mutated_text()) {
        prop_assert_eq!(scan::validate(&text).is_ok(), oracle_valid(&text), "{:?}", text);
        let object = scan::validate_object(&text);
        prop_assert_eq!(object.is_ok(), oracle_valid(&text));
    }

    #[test]
    fn parse_value_matches_serde_json(text in arb_valid_text()) {
        let ours = scan::parse_value(&text).unwrap();
        let theirs: Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn members_and_skip_match_serde_json(text in arb_valid_text()) {
        prop_assert_eq!(scan::skip_value(&text, 0), text.trim_end().len());
        let theirs: Value = serde_json::from_str(&text).unwrap();
        if let Value::Object(map) = &theirs {
            let mut ours = serde_json::Map::new();
            for m in scan::Members::new(&text) {
                ours.insert(m.key().into_owned(), serde_json::from_str(m.value).unwrap());
            }
            prop_assert_eq!(&ours, map);
            let index = scan::validate_object(&text).unwrap().unwrap();
            let top: Vec<(String, &str)> = index.members().map(|(_, m)| (m.key().into_owned(), m.value)).collect();
            let walked: Vec<(String, &str)> = scan::Members::new(&text).map(|m| (m.key().into_owned(), m.value)).collect();
            prop_assert_eq!(top, walked);
            for (i, member) in index.members() {
                let (key, value) = (member.key(), member.value);
                prop_assert_eq!(&serde_json::from_str::<Value>(value).unwrap(), &map[key.as_ref()]);
                let children: Vec<(String, &str)> =
                    index.children(i).map(|c| (c.key().into_owned(), c.value)).collect();
                let expected: Vec<(String, &str)> =
                    scan::Members::new(value).map(|c| (c.key().into_owned(), c.value)).collect();
                prop_assert_eq!(children, expected);
                for c in index.children(i) {
                    prop_assert_eq!(&value[c.value_start..c.value_start + c.value.len()], c.value);
                    prop_assert_eq!(value.as_bytes()[c.key_start], b'"');
                }
            }
        } else {
            prop_assert_eq!(scan::Members::new(&text).count(), 0);
        }
    }

    #[test]
    fn writing_matches_serde_json(v in arb_json()) {
        let mut ours = Vec::new();
        scan::write_value(&mut ours, &v);
        prop_assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&v).unwrap());
    }

    #[test]
    fn unescape_matches_serde_json(s in any::<String>(), raw in "[a-z\\\\u0-9dDcCfF\"]{0,12}") {
        let quoted = serde_json::to_string(&s).unwrap();
        prop_assert_eq!(scan::unescape(&quoted[1..quoted.len() - 1]).unwrap(), s);
        // Arbitrary escape soup: same verdict and same string as serde_json.
        let text = format!("\"{raw}\"");
        if scan::validate(&text).is_ok() {
            let theirs = serde_json::from_str::<String>(&text).ok();
            prop_assert_eq!(scan::unescape(&raw).ok().map(|c| c.into_owned()), theirs);
        }
    }
}

/// Number spellings of every length: long significands, long fractions, big exponents.
fn arb_number_text() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        "[1-9][0-9]{0,24}|0",
        prop::option::of("[0-9]{1,25}"),
        prop::option::of(("[eE]", "[+-]?", "[0-9]{1,4}|[0-9]{11,12}")),
    )
        .prop_map(|(neg, int, frac, exp)| {
            let mut t = String::new();
            if neg {
                t.push('-');
            }
            t.push_str(&int);
            if let Some(f) = frac {
                t.push('.');
                t.push_str(&f);
            }
            if let Some((e, sign, digits)) = exp {
                t.push_str(&e);
                t.push_str(&sign);
                t.push_str(&digits);
            }
            t
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5000, ..ProptestConfig::default() })]

    #[test]
    fn numbers_parse_to_the_same_value_as_serde_json(text in arb_number_text()) {
        let theirs = serde_json::from_str::<Value>(&text).ok();
        let ours = scan::parse_value(&text).ok();
        prop_assert_eq!(ours.as_ref().map(|v| v.to_string()), theirs.as_ref().map(|v| v.to_string()), "{}", text);
        prop_assert_eq!(ours, theirs, "{}", text);
    }
}

/// A typed view exercising most of serde's data model.
#[derive(Debug, PartialEq, serde::Deserialize)]
struct Typed {
    #[serde(default)]
    flag: Option<bool>,
    #[serde(default)]
    small: Option<u8>,
    #[serde(default)]
    list: Vec<Value>,
    #[serde(default)]
    map: std::collections::HashMap<String, Value>,
    #[serde(default)]
    kind: Option<Kind>,
    #[serde(flatten)]
    rest: std::collections::HashMap<String, Value>,
}

#[derive(Debug, PartialEq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Plain,
    Wrapped(String),
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn reader_reads_values_as_serde_json_does(text in arb_valid_text()) {
        let ours = reader::from_str::<Value>(&text).ok();
        let theirs = serde_json::from_str::<Value>(&text).ok();
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn reader_rejects_what_serde_json_rejects(text in arb_mutated_text()) {
        prop_assert_eq!(
            reader::from_str::<Value>(&text).is_ok(),
            serde_json::from_str::<Value>(&text).is_ok(),
            "{:?}", text
        );
    }

    #[test]
    fn reader_fills_typed_views_as_serde_json_does(
        flag in prop::option::of(any::<bool>()),
        small in prop::option::of(0u16..300),
        list in prop::collection::vec(arb_json(), 0..3),
        extra in arb_json(),
        kind in 0..4u8,
    ) {
        let mut doc = json!({"list": list, "map": {"a": extra.clone()}, "other": extra});
        if let Some(f) = flag { doc["flag"] = json!(f); }
        if let Some(n) = small { doc["small"] = json!(n); }
        match kind {
            0 => doc["kind"] = json!("plain"),
            1 => doc["kind"] = json!({"wrapped": "w"}),
            2 => doc["kind"] = json!("unknown"),
            _ => {}
        }
        let text = doc.to_string();
        let ours = reader::from_str::<Typed>(&text);
        let theirs = serde_json::from_str::<Typed>(&text);
        prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{}", text);
        if let (Ok(a), Ok(b)) = (ours, theirs) {
            prop_assert_eq!(a, b);
        }
    }
}

#[test]
fn numbers_follow_serde_json_semantics() {
    for text in [
        "0",
        "-0",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "1e400",
        "0e400",
        "-1e-400",
        "1e99999999999",
        "0e99999999999",
        "1e-99999999999",
        "123456789012345678901234567890.123456789e-5",
        "18446744073709551615.5",
        "184467440737095516150.0",
        "2.5",
        "1.7976931348623157e308",
        "0.1e-400",
    ] {
        let theirs = serde_json::from_str::<Value>(text).ok();
        let ours = scan::parse_value(text).ok();
        assert_eq!(ours, theirs, "{text}");
    }
}

#[test]
fn nesting_up_to_gos_limit_validates_and_deeper_is_refused() {
    let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert!(scan::validate(&nested(scan::MAX_DEPTH)).is_ok());
    let err = scan::validate(&nested(scan::MAX_DEPTH + 1)).unwrap_err();
    assert!(
        err.to_string().contains("nested deeper than 10000 levels"),
        "{err}"
    );
    let object = format!(r#"{{"a":{}}}"#, nested(scan::MAX_DEPTH - 1));
    assert!(scan::validate_object(&object).is_ok());
    let object = format!(r#"{{"a":{{"b":{}}}}}"#, nested(scan::MAX_DEPTH - 1));
    assert!(scan::validate_object(&object).is_err());
}

#[test]
fn depth_limits_match_serde_json() {
    for depth in [127, 128, 129] {
        let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(
            scan::parse_value(&text).is_ok(),
            serde_json::from_str::<Value>(&text).is_ok(),
            "depth {depth}"
        );
    }
}

/// Byte strings that are mostly ASCII with a few multi-byte characters and stray bytes, at
/// every alignment around the 32-byte blocks the fast path skips.
fn arb_mostly_ascii_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        8 => proptest::collection::vec(0x20u8..0x7f, 0..70),
        1 => Just("é".as_bytes().to_vec()),
        1 => Just("😀".as_bytes().to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 1..3),
    ];
    proptest::collection::vec(piece, 0..8).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5000, ..ProptestConfig::default() })]

    #[test]
    fn utf8_check_agrees_with_std_including_error_offsets(bytes in arb_mostly_ascii_bytes()) {
        prop_assert_eq!(scan::utf8(&bytes), std::str::from_utf8(&bytes));
    }
}
