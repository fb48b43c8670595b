//! Lossless JSON for reports and comparisons.
//!
//! Plugin outputs are shown and compared exactly as the plugin wrote them: numbers keep their
//! text (`1.0`, `98765432109876543210`), objects keep their key order. `serde_json::Value`
//! would turn big integers into floats and sort keys, which would misreport a plugin.
//!
//! * [`pretty`] re-indents JSON text token by token (no value is re-encoded; no recursion, so
//!   any depth is fine).
//! * [`parse`] builds a [`Json`] tree (as deep as Go's decoder accepts) on the shared scanner
//!   ([`bifrost_wasm_types::scan`]: one validating pass, then the members' spans) for
//!   comparisons: [`same`] is JSON equality as the chain defines it, [`identical`] compares
//!   numbers as written, [`number_respellings`] says how a Go host reads respelled numbers, [`diff`] lists what changed,
//!   [`Json::find_members`] finds sentinel fields.

use std::fmt;

use bifrost_wasm_types::equal;
use bifrost_wasm_types::scan::{self, Elements, Members};

/// Deepest nesting [`parse`] accepts: Go's `encoding/json` limit (10,000 levels), which the
/// shared scanner applies, so a document Bifrost can read is never refused here. The tree's
/// functions recurse, so the CLI runs its commands on a thread with a large stack
/// ([`crate::common::BIG_STACK`]).
pub const MAX_DEPTH: usize = scan::MAX_DEPTH;

/// A JSON value that keeps numbers as written and object members in order.
#[derive(Debug, Clone)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, exactly as written.
    Number(String),
    /// A string, unescaped.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, members in document order.
    Object(Vec<(String, Json)>),
}

/// One step of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// An object member.
    Key(String),
    /// An array element.
    Index(usize),
}

/// A path into a document, displayed as `request.input[0].content`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Path(pub Vec<Seg>);

impl Path {
    /// The path with `seg` appended.
    pub fn child(&self, seg: Seg) -> Path {
        let mut segs = self.0.clone();
        segs.push(seg);
        Path(segs)
    }

    /// The last key of the path, if it ends in an object member.
    pub fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Seg::Key(k)) => Some(k),
            _ => None,
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(root)");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k)
                    if !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
                {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                Seg::Key(k) => write!(f, "[{}]", quote(k))?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// `s` as a JSON string literal.
pub fn quote(s: &str) -> String {
    scan::quote(s)
}

impl Json {
    /// The kind of value, as JSON names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    /// Member `key` of an object (exact spelling, first occurrence).
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Member `key` of an object, matching the key case-insensitively (Go's decoder rule).
    pub fn get_ignore_case(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => self.get(key).or_else(|| {
                members
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v)
            }),
            _ => None,
        }
    }

    /// The value at `path`.
    pub fn at(&self, path: &Path) -> Option<&Json> {
        let mut node = self;
        for seg in &path.0 {
            node = match (seg, node) {
                (Seg::Key(k), Json::Object(_)) => node.get(k)?,
                (Seg::Index(i), Json::Array(items)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// The members of an object (empty for other values).
    pub fn members(&self) -> &[(String, Json)] {
        match self {
            Json::Object(members) => members,
            _ => &[],
        }
    }

    /// True for `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// Every object member (at any depth, including this value) whose key satisfies
    /// `pred`, with its path relative to this value.
    pub fn find_members(&self, pred: &dyn Fn(&str) -> bool) -> Vec<(Path, &Json)> {
        let mut found = Vec::new();
        // Explicit stack: documents here come from plugins and may be deep.
        let mut stack = vec![(Path::default(), self)];
        while let Some((path, node)) = stack.pop() {
            match node {
                Json::Object(members) => {
                    for (k, v) in members.iter().rev() {
                        let p = path.child(Seg::Key(k.clone()));
                        if pred(k) {
                            found.push((p.clone(), v));
                        }
                        stack.push((p, v));
                    }
                }
                Json::Array(items) => {
                    for (i, v) in items.iter().enumerate().rev() {
                        stack.push((path.child(Seg::Index(i)), v));
                    }
                }
                _ => {}
            }
        }
        found.sort_by_key(|(p, _)| p.to_string());
        found
    }

    /// Compact JSON text of the value (numbers as written).
    pub fn compact(&self) -> String {
        let mut out = String::new();
        self.write_compact(&mut out);
        out
    }

    fn write_compact(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(n),
            Json::String(s) => out.push_str(&quote(s)),
            Json::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_compact(out);
                }
                out.push(']');
            }
            Json::Object(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&quote(k));
                    out.push(':');
                    v.write_compact(out);
                }
                out.push('}');
            }
        }
    }

    /// Compact text shortened to about `max` characters, for messages.
    pub fn excerpt(&self, max: usize) -> String {
        let text = self.compact();
        if text.chars().count() <= max {
            text
        } else {
            let mut short: String = text.chars().take(max).collect();
            short.push('…');
            short
        }
    }
}

/// JSON equality, the one definition shared with the chain's log
/// ([`bifrost_wasm_types::equal::json_equal`]): member order, string escapes and number
/// spelling (`2.50` / `2.5`) do not count. Whether a respelled number still decodes the same
/// in a Go host is [`number_respellings`]' question.
pub fn same(a: &Json, b: &Json) -> bool {
    identical(a, b) || equal::json_equal(&a.compact(), &b.compact())
}

/// JSON equality with numbers compared as written (`1.0` differs from `1`) and object members
/// compared regardless of order: what a lossless round trip must give back.
pub fn identical(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Null, Json::Null) => true,
        (Json::Bool(x), Json::Bool(y)) => x == y,
        (Json::Number(x), Json::Number(y)) => x == y,
        (Json::String(x), Json::String(y)) => x == y,
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| identical(p, q))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| b.get(k).is_some_and(|w| identical(v, w)))
        }
        _ => false,
    }
}

/// One number written differently in two documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Respelled {
    /// Where.
    pub path: Path,
    /// The number sent.
    pub sent: String,
    /// The number returned.
    pub got: String,
}

/// How a respelled number reads in a Go host (Bifrost decodes with `encoding/json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Respelling {
    /// Same exact value, and a Go field of any type that accepted the number sent accepts
    /// the one returned with the same value (`2.50` -> `2.5`, `1e3` -> `1000.0`, `1.0` -> `1`).
    Formatting,
    /// An integer came back with a fraction or exponent (`42` -> `42.0`): a Go `int` field
    /// refuses it.
    IntegerBecameFloat,
    /// The value changed, but a Go `float64` reads both alike (a float round trip lost
    /// digits: `98765432109876543210` -> `9.876543210987654e19`).
    PrecisionLost,
    /// A different value.
    ValueChanged,
}

impl Respelled {
    /// How a Go host reads this respelling.
    pub fn kind(&self) -> Respelling {
        let integer = |n: &str| !n.contains(['.', 'e', 'E']);
        if equal::numbers_equal(&self.sent, &self.got) {
            if integer(&self.sent) && !integer(&self.got) {
                Respelling::IntegerBecameFloat
            } else {
                Respelling::Formatting
            }
        } else {
            match (self.sent.parse::<f64>(), self.got.parse::<f64>()) {
                (Ok(a), Ok(b)) if a == b => Respelling::PrecisionLost,
                _ => Respelling::ValueChanged,
            }
        }
    }
}

impl fmt::Display for Respelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.kind() {
            Respelling::Formatting => {
                "same value, only formatting: a Go float64 or json.Number reads both alike"
            }
            Respelling::IntegerBecameFloat => "an integer became a float: a Go int field refuses it",
            Respelling::PrecisionLost => "digits lost (a float64 round trip)",
            Respelling::ValueChanged => "a different value",
        };
        write!(f, "{}: {} -> {} ({why})", self.path, self.sent, self.got)
    }
}

/// When `a` and `b` differ in how numbers are written and nothing else (same structure, keys,
/// strings, booleans and nulls), every number written differently; `None` when something else
/// differs. Objects are matched by key, arrays by position.
pub fn number_respellings(a: &Json, b: &Json) -> Option<Vec<Respelled>> {
    let mut found = Vec::new();
    respellings_into(a, b, &Path::default(), &mut found).then_some(found)
}

fn respellings_into(a: &Json, b: &Json, path: &Path, out: &mut Vec<Respelled>) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => {
            if x != y {
                out.push(Respelled {
                    path: path.clone(),
                    sent: x.clone(),
                    got: y.clone(),
                });
            }
            true
        }
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .enumerate()
                    .all(|(i, (p, q))| respellings_into(p, q, &path.child(Seg::Index(i)), out))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    b.get(k)
                        .is_some_and(|w| respellings_into(v, w, &path.child(Seg::Key(k.clone())), out))
                })
        }
        _ => identical(a, b),
    }
}

/// What happened to one path between two documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// Present in the second document only.
    Added,
    /// Present in the first document only.
    Removed,
    /// Present in both with different values.
    Changed,
}

/// One difference found by [`diff`].
#[derive(Debug, Clone)]
pub struct Change {
    /// Where.
    pub path: Path,
    /// What.
    pub kind: ChangeKind,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Changed => "changed",
        };
        write!(f, "{} ({what})", self.path)
    }
}

/// The differences from `before` to `after`: objects member by member, arrays element by
/// element when their lengths match (otherwise the whole array is one change).
pub fn diff(before: &Json, after: &Json) -> Vec<Change> {
    let mut changes = Vec::new();
    diff_into(before, after, &Path::default(), &mut changes);
    changes
}

fn diff_into(before: &Json, after: &Json, path: &Path, out: &mut Vec<Change>) {
    match (before, after) {
        (Json::Object(a), Json::Object(b)) => {
            for (k, v) in a {
                let p = path.child(Seg::Key(k.clone()));
                match after.get(k) {
                    Some(w) => diff_into(v, w, &p, out),
                    None => out.push(Change {
                        path: p,
                        kind: ChangeKind::Removed,
                    }),
                }
            }
            for (k, _) in b {
                if before.get(k).is_none() {
                    out.push(Change {
                        path: path.child(Seg::Key(k.clone())),
                        kind: ChangeKind::Added,
                    });
                }
            }
        }
        (Json::Array(a), Json::Array(b)) if a.len() == b.len() => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                diff_into(v, w, &path.child(Seg::Index(i)), out);
            }
        }
        _ => {
            if !same(before, after) {
                out.push(Change {
                    path: path.clone(),
                    kind: ChangeKind::Changed,
                });
            }
        }
    }
}

/// Parses JSON text into a [`Json`] tree. Errors say where and what (the shared scanner,
/// [`bifrost_wasm_types::scan`], validates; the tree is built from its spans); documents nested
/// deeper than [`MAX_DEPTH`] are refused.
pub fn parse(text: &str) -> Result<Json, String> {
    scan::validate(text).map_err(|e| e.to_string())?;
    build(text.trim_ascii(), 0, text)
}

/// The tree of the valid JSON value `value` (a slice of `whole`), `depth` containers deep.
fn build(value: &str, depth: usize, whole: &str) -> Result<Json, String> {
    let at = || value.as_ptr() as usize - whole.as_ptr() as usize;
    if depth > MAX_DEPTH {
        return Err(format!("nested deeper than {MAX_DEPTH} levels at byte {}", at()));
    }
    Ok(match value.as_bytes().first() {
        Some(b'{') => Json::Object(
            Members::new(value)
                .map(|m| Ok((m.key().into_owned(), build(m.value, depth + 1, whole)?)))
                .collect::<Result<_, String>>()?,
        ),
        Some(b'[') => Json::Array(
            Elements::new(value)
                .map(|item| build(item, depth + 1, whole))
                .collect::<Result<_, String>>()?,
        ),
        Some(b'"') => Json::String(
            scan::string_value(value)
                .ok_or_else(|| format!("invalid string at byte {}", at()))?
                .into_owned(),
        ),
        Some(b't') => Json::Bool(true),
        Some(b'f') => Json::Bool(false),
        Some(b'n') => Json::Null,
        _ => Json::Number(value.to_string()),
    })
}

/// Re-indents JSON text (two spaces) without re-encoding anything: strings, numbers and key
/// order stay exactly as written. Meant for valid JSON; other text comes out re-spaced but
/// otherwise unchanged.
pub fn pretty(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    let mut depth = 0usize;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let mut j = i + 1;
                while j < bytes.len() {
                    match bytes[j] {
                        b'\\' => j += 2,
                        b'"' => {
                            j += 1;
                            break;
                        }
                        _ => j += 1,
                    }
                }
                let mut j = j.min(bytes.len());
                while !text.is_char_boundary(j) {
                    j += 1;
                }
                out.push_str(&text[i..j]);
                i = j;
                continue;
            }
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                let mut j = i + 1;
                while matches!(bytes.get(j), Some(b' ' | b'\n' | b'\r' | b'\t')) {
                    j += 1;
                }
                if bytes.get(j) == Some(&close) {
                    out.push(open as char);
                    out.push(close as char);
                    i = j + 1;
                    continue;
                }
                out.push(open as char);
                depth += 1;
                newline(&mut out, depth);
            }
            close @ (b'}' | b']') => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(close as char);
            }
            b',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            b':' => out.push_str(": "),
            b' ' | b'\n' | b'\r' | b'\t' => {}
            _ => {
                let c = text[i..].chars().next().unwrap_or('\u{FFFD}');
                out.push(c);
                i += c.len_utf8();
                continue;
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_keeps_numbers_as_written_and_member_order() {
        let v = parse(r#"{"b": 1.0, "a": [98765432109876543210, -0.0, 1e3], "c": null}"#).unwrap();
        assert_eq!(
            v.compact(),
            r#"{"b":1.0,"a":[98765432109876543210,-0.0,1e3],"c":null}"#
        );
        assert_eq!(v.members()[0].0, "b");
    }

    #[test]
    fn strings_are_compared_unescaped() {
        let a = parse(r#""\u00e9t\u00e9 \ud83d\ude00""#).unwrap();
        let b = parse("\"été 😀\"").unwrap();
        assert!(same(&a, &b));
    }

    #[test]
    fn same_ignores_number_spelling_and_identical_does_not() {
        assert!(same(&parse("1.0").unwrap(), &parse("1").unwrap()));
        assert!(same(
            &parse("[2.50, 1e3]").unwrap(),
            &parse("[2.5, 1000.0]").unwrap()
        ));
        assert!(!identical(&parse("1.0").unwrap(), &parse("1").unwrap()));
        assert!(!same(&parse("1.5").unwrap(), &parse("1").unwrap()));
        assert!(identical(
            &parse(r#"{"a":1,"b":2}"#).unwrap(),
            &parse(r#"{"b":2,"a":1}"#).unwrap()
        ));
        assert!(same(
            &parse(r#"{"a":1,"b":2}"#).unwrap(),
            &parse(r#"{"b":2,"a":1}"#).unwrap()
        ));
        assert!(!same(
            &parse(r#"{"a":1}"#).unwrap(),
            &parse(r#"{"a":1,"b":2}"#).unwrap()
        ));
    }

    #[test]
    fn invalid_json_and_excess_depth_are_refused() {
        for bad in [
            "",
            "{",
            r#"{"a" 1}"#,
            "[1,]",
            "01",
            "1.",
            "\"\u{1}\"",
            "nul",
            "{} x",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn respellings_are_told_apart_from_losses() {
        let kinds = |a: &str, b: &str| -> Vec<Respelling> {
            number_respellings(&parse(a).unwrap(), &parse(b).unwrap())
                .unwrap()
                .iter()
                .map(Respelled::kind)
                .collect()
        };
        use Respelling::*;
        assert_eq!(
            kinds("[2.50, 1e3, 1.0]", "[2.5, 1000.0, 1]"),
            [Formatting, Formatting, Formatting]
        );
        assert_eq!(
            kinds("[42, 0]", "[42.0, 0e0]"),
            [IntegerBecameFloat, IntegerBecameFloat]
        );
        assert_eq!(
            kinds("[98765432109876543210]", "[9.876543210987654e19]"),
            [PrecisionLost]
        );
        assert_eq!(
            kinds("[98765432109876543210]", "[98765432109876543000]"),
            [PrecisionLost]
        );
        assert_eq!(
            kinds(r#"{"n": 1, "m": [3]}"#, r#"{"m": [4], "n": 1}"#),
            [ValueChanged]
        );
        assert!(kinds(r#"{"n": 1}"#, r#"{"n": 1}"#).is_empty());
        // Anything but a number differing is not a respelling.
        assert!(
            number_respellings(&parse(r#"[1, "a"]"#).unwrap(), &parse(r#"[1.0, "b"]"#).unwrap()).is_none()
        );
        assert!(number_respellings(&parse("[1]").unwrap(), &parse("[1, 2]").unwrap()).is_none());
        let r = &number_respellings(
            &parse(r#"{"a":[42]}"#).unwrap(),
            &parse(r#"{"a":[42.0]}"#).unwrap(),
        )
        .unwrap()[0];
        assert_eq!(
            r.to_string(),
            "a[0]: 42 -> 42.0 (an integer became a float: a Go int field refuses it)"
        );
    }

    #[test]
    fn a_document_as_deep_as_go_accepts_is_parsed() {
        let run = || {
            let depth = MAX_DEPTH;
            let doc = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let tree = parse(&doc).unwrap();
            assert!(same(&tree, &tree.clone()));
            let deeper = format!("[{doc}]");
            assert!(parse(&deeper).unwrap_err().contains("nested deeper than 10000"));
        };
        std::thread::Builder::new()
            .stack_size(crate::common::BIG_STACK)
            .spawn(run)
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn diff_reports_added_removed_and_changed_paths() {
        let a = parse(r#"{"m":"gpt-4","in":[{"c":"hi"}],"gone":1}"#).unwrap();
        let b = parse(r#"{"m":"gpt-4o","in":[{"c":"hi"}],"new":true}"#).unwrap();
        let changes: Vec<String> = diff(&a, &b).iter().map(ToString::to_string).collect();
        assert_eq!(changes, ["m (changed)", "gone (removed)", "new (added)"]);
    }

    #[test]
    fn find_members_reports_paths_through_arrays() {
        let v = parse(r#"{"input":[{"x_s":1},{"y":{"x_s2":null}}]}"#).unwrap();
        let found: Vec<String> = v
            .find_members(&|k| k.starts_with("x_s"))
            .iter()
            .map(|(p, _)| p.to_string())
            .collect();
        assert_eq!(found, ["input[0].x_s", "input[1].y.x_s2"]);
    }

    #[test]
    fn pretty_reindents_without_touching_values() {
        let text = r#"{"a":[1.0,98765432109876543210,{}],"b":{ },"s":"x, {y}: \"z\"","é":[ ]}"#;
        let expected = "{\n  \"a\": [\n    1.0,\n    98765432109876543210,\n    {}\n  ],\n  \"b\": {},\n  \
                        \"s\": \"x, {y}: \\\"z\\\"\",\n  \"é\": []\n}";
        assert_eq!(pretty(text), expected);
        // Re-indenting is idempotent.
        assert_eq!(pretty(&pretty(text)), expected);
    }

    #[test]
    fn path_display_quotes_unusual_keys() {
        let p = Path(vec![Seg::Key("request".into()), Seg::Key("a b".into())]).child(Seg::Index(2));
        assert_eq!(p.to_string(), r#"request["a b"][2]"#);
    }
}
