//! Validation of hook output as JSON (RFC 8259) with Go's nesting limit.
//!
//! serde_json stops at 128 levels of nesting, but a plugin that passes a deeply nested
//! request through unchanged returns a valid document the host must accept, up to the
//! 10,000 levels Go's `encoding/json` (and so Bifrost) reads. The validator is iterative
//! (a bit stack of open containers), so depth costs one bit of heap per level and never
//! the host's stack. The input is already known to be UTF-8.

/// Where and why a document is not JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    /// Byte offset of the problem.
    pub(crate) offset: usize,
    /// What was expected or found.
    pub(crate) what: &'static str,
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.what, self.offset)
    }
}

impl std::error::Error for SyntaxError {}

impl SyntaxError {
    /// `what at line L, column C` (1-based, columns in bytes).
    pub(crate) fn describe(&self, text: &str) -> String {
        let before = &text.as_bytes()[..self.offset.min(text.len())];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let column = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
        format!("{} at line {line}, column {column}", self.what)
    }
}

/// Checks that `text` is exactly one JSON value, optionally surrounded by whitespace.
///
/// This is the SDK's own scanner ([`bifrost_wasm_types::scan::validate`]): iterative, and
/// it skips plain string bytes eight at a time, which matters because every hook output
/// passes through here and most of an output's bytes are string contents.
pub(crate) fn validate(text: &str) -> Result<(), SyntaxError> {
    bifrost_wasm_types::scan::validate(text).map_err(|e| SyntaxError {
        offset: e.offset,
        what: e.message,
    })
}

#[cfg(test)]
mod tests {
    use super::validate;

    const VALID: &[&str] = &[
        "{}",
        "[]",
        " \n\t{\"a\" : [1, -2.5e+10, 0, 0.0, 1E3, true, false, null, \"x\\u00e9\\n\"]}\r\n",
        "\"just a string\"",
        "12345678901234567890123456789",
        "-0",
        "{\"nested\":{\"k\":[[],{}],\"\u{1F600}\":\"\u{e9}\"}}",
        "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]",
        "null",
    ];

    const INVALID: &[&str] = &[
        "",
        "   ",
        "{",
        "}",
        "[1,]",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{a:1}",
        "[01]",
        "[1.]",
        "[.5]",
        "[1e]",
        "[+1]",
        "tru",
        "nul",
        "{} {}",
        "[\"tab\tinside\"]",
        "[\"bad \\x escape\"]",
        "[\"\\u12G4\"]",
        "\"unterminated",
        "[1 2]",
        "{\"a\":1]",
        "[1}",
        "NaN",
    ];

    #[test]
    fn accepts_what_serde_json_accepts() {
        for text in VALID {
            assert!(
                serde_json::from_str::<serde_json::Value>(text).is_ok(),
                "corpus: {text}"
            );
            assert_eq!(validate(text), Ok(()), "{text:?}");
        }
    }

    #[test]
    fn rejects_what_serde_json_rejects() {
        for text in INVALID {
            assert!(
                serde_json::from_str::<serde_json::Value>(text).is_err(),
                "corpus: {text}"
            );
            assert!(validate(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn nesting_up_to_gos_limit_is_valid_and_deeper_is_refused_without_using_the_stack() {
        let nested = |pairs: usize| {
            format!(
                "{}{}",
                "[{\"k\":".repeat(pairs),
                "}]".repeat(pairs).replacen("}", "0}", 1)
            )
        };
        // Two levels per pair: 10,000 levels is Go's limit and is accepted.
        assert_eq!(validate(&nested(bifrost_wasm_types::scan::MAX_DEPTH / 2)), Ok(()));
        let err = validate(&nested(500_000)).unwrap_err();
        assert!(err.what.contains("10000"), "{err}");
        let unbalanced = "[".repeat(1_000_000);
        assert!(validate(&unbalanced).is_err());
    }

    #[test]
    fn errors_say_where() {
        let err = validate("{\n  \"a\": 1,\n  \"b\" 2\n}").unwrap_err();
        assert_eq!(
            err.describe("{\n  \"a\": 1,\n  \"b\" 2\n}"),
            "expected `:` at line 3, column 7"
        );
    }
}
