//! The guest's hand-written JSON scanner and deserializer against serde_json as the oracle:
//! arbitrary bytes must get the same valid/invalid verdict, the same values, the same member
//! index, and nothing may panic (deep nesting included). The UTF-8 check and the
//! inside-a-string test are held to std and to a byte-by-byte walk.
#![no_main]

use bifrost_wasm_types::{reader, scan};
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use serde_json::Value;

/// Byte `pos` of valid JSON `text` is inside a string (after its opening quote), by a plain
/// byte-by-byte walk: the reference for `scan::inside_string`.
fn inside_string_reference(text: &str, pos: usize) -> bool {
    let (mut in_string, mut escaped) = (false, false);
    for (i, b) in text.bytes().enumerate() {
        let opening = !in_string && b == b'"';
        if i == pos {
            return in_string && !opening;
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if opening {
            in_string = true;
        }
    }
    false
}

fuzz_target!(|data: &[u8]| {
    // The guest's UTF-8 check (ASCII prefix in blocks, then std) must be std's, errors included.
    assert_eq!(scan::utf8(data), std::str::from_utf8(data));
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ours = scan::validate(text).is_ok();
    // Deeper than Go's limit the scanner refuses what serde_json accepts; the oracle is bracket
    // depth (an upper bound of the real depth, since brackets in strings count too).
    let mut depth = 0usize;
    let mut max_depth = 0usize;
    for b in text.bytes() {
        match b {
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        max_depth = max_depth.max(depth);
    }
    if max_depth > scan::MAX_DEPTH {
        return;
    }
    let theirs = serde_json::from_str::<Box<RawValue>>(text).is_ok();
    assert_eq!(ours, theirs, "validate disagrees on {text:?}");
    assert_eq!(scan::validate_object(text).is_ok(), theirs);
    if !ours {
        assert!(reader::from_str::<Value>(text).is_err());
        return;
    }
    assert_eq!(scan::skip_value(text, 0), text.trim_end().len());
    for pos in 0..text.len().min(512) {
        assert_eq!(
            scan::inside_string(text, pos),
            inside_string_reference(text, pos),
            "inside_string({text:?}, {pos})"
        );
    }
    let tree = serde_json::from_str::<Value>(text);
    assert_eq!(
        scan::parse_value(text).ok(),
        tree.as_ref().ok().cloned(),
        "parse_value on {text:?}"
    );
    assert_eq!(
        reader::from_str::<Value>(text).ok(),
        tree.as_ref().ok().cloned(),
        "reader on {text:?}"
    );
    if let Ok(Some(index)) = scan::validate_object(text) {
        let top: Vec<_> = index.members().map(|(_, m)| (m.raw_key, m.value)).collect();
        let expected_top: Vec<_> = scan::Members::new(text).map(|m| (m.raw_key, m.value)).collect();
        assert_eq!(top, expected_top);
        for (i, member) in index.members() {
            let expected: Vec<_> = scan::Members::new(member.value)
                .map(|m| (m.raw_key, m.value))
                .collect();
            let got: Vec<_> = index.children(i).map(|m| (m.raw_key, m.value)).collect();
            assert_eq!(got, expected);
        }
    }
    if let Ok(v) = tree {
        let mut out = Vec::new();
        scan::write_value(&mut out, &v);
        assert_eq!(out, serde_json::to_vec(&v).unwrap());
    }
});
