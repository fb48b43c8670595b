//! JSON equality on raw text, without building a tree: the one definition of "changed" that
//! the chain's log (`pre_hook=changed`) and `check`'s reports share.
//!
//! "Changed" means *not JSON-equal* (design.md §5): whitespace between tokens, the order of
//! object members, how a string is escaped (`"é"` / `"\u00e9"`) and how a number is spelled
//! (`1.0` / `1` / `10e-1`: numbers compare by exact decimal value, [`numbers_equal`]) are not
//! changes. Whether a respelled number still decodes the same in a Go host is a different
//! question, which `check`'s losslessness rows answer.
//!
//! The comparison is cheap where hooks are: equal bytes are equal at once (one `memcmp`), and
//! inside two documents only the members whose bytes differ are descended into. Objects whose
//! members come in the same order are compared member by member (so a duplicate key counts as
//! written); once the order differs, the rest is compared as a map in which the last of
//! duplicate keys counts, as in Go's decoder and `serde_json`.

use std::borrow::Cow;

use crate::scan::{self, Members};

/// Deepest nesting compared structurally; deeper values are compared by their significant
/// bytes (everything but whitespace between tokens), which only errs towards "changed".
const MAX_DEPTH: usize = 128;

/// Whether the valid JSON texts `a` and `b` are JSON-equal.
pub fn json_equal(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match differing_string_value(a, b) {
        Some(equal) => equal,
        None => values_equal(a.trim_ascii(), b.trim_ascii(), 0),
    }
}

/// The usual edit, decided without walking both documents: when the first byte at which
/// they differ lies inside a string *value* (the same one in both, as everything before it
/// is the same), the documents differ exactly when the two strings do. `None` when the
/// difference is elsewhere (a key, a number, structure) or the strings are equal but spelled
/// differently: then the full comparison decides.
fn differing_string_value(a: &str, b: &str) -> Option<bool> {
    let p = common_prefix(a.as_bytes(), b.as_bytes());
    let start = string_value_around(a, p)?;
    let (end_a, end_b) = (scan::skip_value(a, start), scan::skip_value(b, start));
    let (sa, sb) = (a.get(start + 1..end_a - 1)?, b.get(start + 1..end_b - 1)?);
    if !sa.contains('\\') && !sb.contains('\\') {
        return Some(false);
    }
    match (scan::unescape(sa), scan::unescape(sb)) {
        (Ok(x), Ok(y)) if x != y => Some(false),
        _ => None,
    }
}

/// Length of the common prefix of `a` and `b`, eight bytes at a time.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n && a[i..i + 8] == b[i..i + 8] {
        i += 8;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// If byte `p` of the valid JSON `text` is inside a string that is a value (not an object
/// key), the position of that string's opening quote. Nesting deeper than 64 levels gives
/// `None` (the caller then compares in full).
fn string_value_around(text: &str, p: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    // One bit per open container, innermost lowest: 1 for an object.
    let (mut objects, mut depth) = (0u64, 0u32);
    // Whether the next string in the innermost object is a key.
    let mut expect_key = false;
    let mut i = 0;
    while i < p {
        match bytes[i] {
            b'"' => {
                let end = scan::skip_value(text, i);
                if p < end {
                    let is_key = depth > 0 && objects & 1 == 1 && expect_key;
                    return (!is_key).then_some(i);
                }
                i = end;
                continue;
            }
            open @ (b'{' | b'[') => {
                if depth == 64 {
                    return None;
                }
                objects = objects << 1 | u64::from(open == b'{');
                depth += 1;
                expect_key = open == b'{';
            }
            b'}' | b']' => {
                objects >>= 1;
                depth = depth.saturating_sub(1);
                expect_key = false;
            }
            b':' => expect_key = false,
            b',' => expect_key = objects & 1 == 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn values_equal(a: &str, b: &str, depth: usize) -> bool {
    if a == b {
        return true;
    }
    let (Some(&x), Some(&y)) = (a.as_bytes().first(), b.as_bytes().first()) else {
        return false;
    };
    if depth >= MAX_DEPTH && matches!(x, b'{' | b'[') {
        return significant(a).eq(significant(b));
    }
    match (x, y) {
        (b'{', b'{') => objects_equal(a, b, depth),
        (b'[', b'[') => arrays_equal(a, b, depth),
        (b'"', b'"') => strings_equal(a, b),
        (b'-' | b'0'..=b'9', b'-' | b'0'..=b'9') => numbers_equal(a, b),
        // `true`, `false` and `null` have one spelling each, and differ from everything else.
        _ => false,
    }
}

fn strings_equal(a: &str, b: &str) -> bool {
    let (a, b) = (&a[1..a.len() - 1], &b[1..b.len() - 1]);
    if !a.contains('\\') && !b.contains('\\') {
        return false;
    }
    match (scan::unescape(a), scan::unescape(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn objects_equal(a: &str, b: &str, depth: usize) -> bool {
    let (mut ma, mut mb) = (Members::new(a), Members::new(b));
    // Members in the same order: compare pairwise (the usual case after an edit), and stop at
    // the first difference.
    loop {
        match (ma.next(), mb.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x.raw_key == y.raw_key => {
                if !values_equal(x.value, y.value, depth + 1) {
                    return false;
                }
            }
            (Some(x), Some(y)) => {
                // Reordered (or a key escaped differently): compare the rest as maps.
                let rest_a: Vec<_> = std::iter::once(x).chain(ma).collect();
                let rest_b: Vec<_> = std::iter::once(y).chain(mb).collect();
                return maps_equal(&rest_a, &rest_b, depth);
            }
            _ => return false,
        }
    }
}

/// Compares members as maps; of duplicate keys the last counts (as in Go's decoder and
/// `serde_json`).
fn maps_equal(a: &[scan::Member<'_>], b: &[scan::Member<'_>], depth: usize) -> bool {
    // The usual object (keys written plainly, none twice): look each key up in the other.
    let plain = |members: &[scan::Member<'_>]| {
        members.len() <= 64
            && members.iter().all(|m| !m.key_escaped)
            && members
                .iter()
                .enumerate()
                .all(|(i, m)| members[..i].iter().all(|n| n.raw_key != m.raw_key))
    };
    if plain(a) && plain(b) {
        return a.len() == b.len()
            && a.iter().all(|x| {
                b.iter()
                    .find(|y| y.raw_key == x.raw_key)
                    .is_some_and(|y| values_equal(x.value, y.value, depth + 1))
            });
    }
    let (a, b) = (last_wins(a), last_wins(b));
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(x, y)| x.0 == y.0 && values_equal(x.1, y.1, depth + 1))
}

/// The members by key, of duplicate keys the last.
fn last_wins<'a>(members: &[scan::Member<'a>]) -> Vec<(Cow<'a, str>, &'a str)> {
    let mut entries: Vec<(Cow<'a, str>, usize, &'a str)> = members
        .iter()
        .enumerate()
        .map(|(i, m)| (m.key(), i, m.value))
        .collect();
    // By key, the last occurrence first; then keep the first of each key.
    entries.sort_unstable_by(|x, y| x.0.cmp(&y.0).then(y.1.cmp(&x.1)));
    entries.dedup_by(|later, earlier| later.0 == earlier.0);
    entries.into_iter().map(|(k, _, v)| (k, v)).collect()
}

fn arrays_equal(a: &str, b: &str, depth: usize) -> bool {
    let (mut ea, mut eb) = (scan::Elements::new(a), scan::Elements::new(b));
    loop {
        match (ea.next(), eb.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if values_equal(x, y, depth + 1) => {}
            _ => return false,
        }
    }
}

/// Whether two valid JSON number texts have the same exact decimal value (`2.50` and `2.5`,
/// `1e3` and `1000.0`, `-0` and `0`), however long: no float conversion is involved.
pub fn numbers_equal(a: &str, b: &str) -> bool {
    a == b || Decimal::of(a) == Decimal::of(b)
}

/// The bytes of valid JSON text that are not whitespace between tokens.
fn significant(text: &str) -> impl Iterator<Item = u8> + '_ {
    let mut in_string = false;
    let mut escaped = false;
    text.bytes().filter(move |&b| {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            true
        } else {
            if b == b'"' {
                in_string = true;
            }
            !matches!(b, b' ' | b'\n' | b'\r' | b'\t')
        }
    })
}

/// A JSON number's exact value: `0.d₁d₂… × 10^point`, digits without leading or trailing
/// zeros (none at all for zero, whose sign is ignored).
#[derive(Debug)]
struct Decimal<'a> {
    negative: bool,
    digits: Vec<&'a [u8]>,
    point: i64,
}

impl<'a> Decimal<'a> {
    fn of(text: &'a str) -> Self {
        let b = text.as_bytes();
        let negative = b.first() == Some(&b'-');
        let body = &b[usize::from(negative)..];
        let mantissa_end = body
            .iter()
            .position(|c| matches!(c, b'e' | b'E'))
            .unwrap_or(body.len());
        let (mantissa, exponent) = body.split_at(mantissa_end);
        let (int, frac) = match mantissa.iter().position(|&c| c == b'.') {
            Some(dot) => (&mantissa[..dot], &mantissa[dot + 1..]),
            None => (mantissa, &mantissa[mantissa.len()..]),
        };
        let exponent = parse_exponent(exponent.get(1..).unwrap_or_default());
        // Leading zeros move the point left; trailing zeros change nothing.
        let lead_int = int.iter().take_while(|&&c| c == b'0').count();
        let mut point = (int.len() - lead_int) as i64;
        let (int, mut frac) = (&int[lead_int..], frac);
        if int.is_empty() {
            let lead_frac = frac.iter().take_while(|&&c| c == b'0').count();
            point -= lead_frac as i64;
            frac = &frac[lead_frac..];
        }
        let mut parts = vec![int, frac];
        // Trailing zeros of the whole digit string (across both parts).
        for part in parts.iter_mut().rev() {
            let keep = part.len() - part.iter().rev().take_while(|&&c| c == b'0').count();
            let all_zero = keep == 0;
            *part = &part[..keep];
            if !all_zero {
                break;
            }
        }
        parts.retain(|p| !p.is_empty());
        if parts.is_empty() {
            return Decimal {
                negative: false,
                digits: Vec::new(),
                point: 0,
            };
        }
        Decimal {
            negative,
            digits: parts,
            point: point.saturating_add(exponent),
        }
    }

    fn digit_bytes(&self) -> impl Iterator<Item = u8> + '_ {
        self.digits.iter().flat_map(|p| p.iter().copied())
    }
}

impl PartialEq for Decimal<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.negative == other.negative
            && self.point == other.point
            && self.digit_bytes().eq(other.digit_bytes())
    }
}

fn parse_exponent(text: &[u8]) -> i64 {
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = digits.iter().fold(0i64, |n, &c| {
        n.saturating_mul(10).saturating_add(i64::from(c - b'0'))
    });
    if negative {
        -magnitude
    } else {
        magnitude
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_bytes_and_whitespace_between_tokens_are_not_changes() {
        assert!(json_equal(r#"{"a": [1, 2]}"#, "{\"a\":[1,2]}"));
        assert!(json_equal("[1,2]", "[1,2]\n"));
        assert!(json_equal("{\"a\":1,\"b\":2}", "{\"a\":1, \"b\":2}"));
    }

    #[test]
    fn key_order_alone_is_not_a_change() {
        assert!(json_equal(r#"{"a":1,"b":2}"#, r#"{"b":2,"a":1}"#));
        assert!(json_equal(
            r#"{"m":{"x":[{"p":1,"q":2}],"y":null}}"#,
            r#"{"m":{"y":null,"x":[{"q":2,"p":1}]}}"#
        ));
        assert!(!json_equal(r#"{"a":1,"b":2}"#, r#"{"b":2,"a":1,"c":3}"#));
        assert!(!json_equal(r#"{"a":1,"b":2}"#, r#"{"b":2}"#));
    }

    #[test]
    fn whitespace_inside_strings_and_edited_values_are_changes() {
        assert!(!json_equal(r#"{"a":"x y"}"#, r#"{"a":"xy"}"#));
        assert!(!json_equal(r#"{"a":"\" "}"#, r#"{"a":"\""}"#));
        assert!(!json_equal("{\"a\":\"x\",\"b\":2}", "{\"a\":\"x \",\"b\":2}"));
        assert!(!json_equal(
            "{\"model\":\"gpt-4\"}",
            "{\"model\":\"gpt-4 (via rust-wasm)\"}"
        ));
        assert!(!json_equal("[1,2]", "[1,2,3]"));
        assert!(!json_equal("[1,2]", "[2,1]"));
        assert!(!json_equal("null", "false"));
        assert!(!json_equal("{}", "[]"));
    }

    #[test]
    fn strings_compare_unescaped() {
        assert!(json_equal(r#"["\u00e9t\u00e9", "\/"]"#, r#"["été", "/"]"#));
        assert!(json_equal(r#"{"k\u0065y":1}"#, r#"{"key":1}"#));
        assert!(!json_equal(r#""\u00e9""#, r#""e""#));
    }

    #[test]
    fn numbers_compare_by_exact_value() {
        for (a, b) in [
            ("1.0", "1"),
            ("1e2", "100"),
            ("10e-1", "1"),
            ("0.0010", "1e-3"),
            ("-0", "0"),
            ("0.0", "0e5"),
            (
                "123456789012345678901234567890",
                "1.2345678901234567890123456789e29",
            ),
        ] {
            assert!(json_equal(a, b), "{a} == {b}");
        }
        for (a, b) in [
            ("1", "-1"),
            ("1.5", "15"),
            ("98765432109876543210", "98765432109876543211"),
            ("1e-400", "0"),
            ("0.1", "0.01"),
        ] {
            assert!(!json_equal(a, b), "{a} != {b}");
        }
    }

    #[test]
    fn reordered_members_compare_as_a_map_where_the_last_duplicate_counts() {
        assert!(json_equal(r#"{"b":0,"a":1,"a":2}"#, r#"{"a":2,"b":0}"#));
        assert!(!json_equal(r#"{"b":0,"a":1,"a":2}"#, r#"{"a":1,"b":0}"#));
    }

    #[test]
    fn an_edited_string_value_is_found_without_walking_the_documents() {
        let a = r#"{"id":"x","model":"gpt-4","choices":[{"text":"caf\u00e9"}],"n":1}"#;
        assert_eq!(
            differing_string_value(a, &a.replace("gpt-4", "gpt-4o")),
            Some(false)
        );
        assert_eq!(
            differing_string_value(a, &a.replace("\\u00e9", "\\u00e8")),
            Some(false)
        );
        // The same text spelled differently, a key, a number: left to the full comparison.
        assert_eq!(differing_string_value(a, &a.replace("\\u00e9", "é")), None);
        assert_eq!(
            differing_string_value(a, &a.replace("\"model\"", "\"mode1\"")),
            None
        );
        assert_eq!(differing_string_value(a, &a.replace(":1}", ":1.0}")), None);
        assert!(json_equal(a, &a.replace("\\u00e9", "é")));
        assert!(!json_equal(a, &a.replace("\"model\"", "\"mode1\"")));
        // A string in an array inside an object is a value; a key after a comma is a key.
        assert_eq!(
            differing_string_value(r#"{"a":["x","y"]}"#, r#"{"a":["x","z"]}"#),
            Some(false)
        );
        assert_eq!(
            differing_string_value(r#"{"a":1,"bc":2}"#, r#"{"a":1,"bd":2}"#),
            None
        );
    }

    #[test]
    fn array_elements_are_the_raw_items() {
        let items: Vec<&str> = scan::Elements::new(r#" [1, {"a":[2,3]} ,"x,y", [] ]"#).collect();
        assert_eq!(items, ["1", r#"{"a":[2,3]}"#, r#""x,y""#, "[]"]);
        assert_eq!(scan::Elements::new("[]").count(), 0);
        assert_eq!(scan::Elements::new(r#"{"a":1}"#).count(), 0);
    }

    #[test]
    fn very_deep_documents_are_compared_without_exhausting_the_stack() {
        let depth = 10_000;
        let a = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let b = format!("{}1{}", "[ ".repeat(depth), "]".repeat(depth));
        assert!(json_equal(&a, &b));
        let c = format!("{}2{}", "[".repeat(depth), "]".repeat(depth));
        assert!(!json_equal(&a, &c));
    }
}
