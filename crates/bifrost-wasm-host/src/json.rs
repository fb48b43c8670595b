//! Validation of hook output as JSON (RFC 8259) without a nesting limit.
//!
//! serde_json stops at 128 levels of nesting, but a plugin that passes a deeply nested
//! request through unchanged returns a valid document the host must accept. This
//! validator is iterative (an explicit stack of open containers), so depth costs one
//! byte of heap per level and never the host's stack. The input is already known to be
//! UTF-8.

/// Where and why a document is not JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    /// Byte offset of the problem.
    pub(crate) offset: usize,
    /// What was expected or found.
    pub(crate) what: &'static str,
}

impl SyntaxError {
    /// `what at line L, column C` (1-based, columns in bytes).
    pub(crate) fn describe(&self, text: &str) -> String {
        let before = &text.as_bytes()[..self.offset.min(text.len())];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let column = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
        format!("{} at line {line}, column {column}", self.what)
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err<T>(&self, what: &'static str) -> Result<T, SyntaxError> {
        Err(SyntaxError { offset: self.i, what })
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn expect(&mut self, byte: u8, what: &'static str) -> Result<(), SyntaxError> {
        if self.peek() == Some(byte) {
            self.i += 1;
            Ok(())
        } else {
            self.err(what)
        }
    }

    fn string(&mut self) -> Result<(), SyntaxError> {
        self.expect(b'"', "expected a string")?;
        loop {
            // Skip plain characters in one tight loop.
            let rest = &self.s[self.i..];
            self.i += rest
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .unwrap_or(rest.len());
            match self.peek() {
                None => return self.err("unterminated string"),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
                        Some(b'u') => {
                            self.i += 1;
                            for _ in 0..4 {
                                match self.peek() {
                                    Some(b) if b.is_ascii_hexdigit() => self.i += 1,
                                    _ => return self.err("invalid \\u escape"),
                                }
                            }
                        }
                        _ => return self.err("invalid escape"),
                    }
                }
                Some(0x00..=0x1f) => return self.err("control character in string"),
                Some(_) => self.i += 1,
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<(), SyntaxError> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return self.err("invalid number"),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return self.err("expected digits after the decimal point");
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return self.err("expected digits in the exponent");
            }
        }
        Ok(())
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), SyntaxError> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            self.err("expected a value")
        }
    }

    /// Parses `"key" :` and leaves the cursor at the value.
    fn key(&mut self) -> Result<(), SyntaxError> {
        if self.peek() != Some(b'"') {
            return self.err("expected a string key");
        }
        self.string()?;
        self.skip_ws();
        self.expect(b':', "expected `:` after an object key")?;
        self.skip_ws();
        Ok(())
    }
}

/// Checks that `text` is exactly one JSON value, optionally surrounded by whitespace.
pub(crate) fn validate(text: &str) -> Result<(), SyntaxError> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    // Open containers: b'{' or b'['.
    let mut open: Vec<u8> = Vec::new();
    p.skip_ws();
    loop {
        // A value starts here.
        match p.peek() {
            Some(b'{') => {
                p.i += 1;
                p.skip_ws();
                if p.peek() == Some(b'}') {
                    p.i += 1;
                } else {
                    open.push(b'{');
                    p.key()?;
                    continue;
                }
            }
            Some(b'[') => {
                p.i += 1;
                p.skip_ws();
                if p.peek() == Some(b']') {
                    p.i += 1;
                } else {
                    open.push(b'[');
                    continue;
                }
            }
            Some(b'"') => p.string()?,
            Some(b'-' | b'0'..=b'9') => p.number()?,
            Some(b't') => p.literal(b"true")?,
            Some(b'f') => p.literal(b"false")?,
            Some(b'n') => p.literal(b"null")?,
            None => return p.err("expected a value, found the end of the document"),
            Some(_) => return p.err("expected a value"),
        }
        // A value ended: close containers or move to the next element.
        loop {
            p.skip_ws();
            match (open.last(), p.peek()) {
                (None, None) => return Ok(()),
                (None, Some(_)) => return p.err("trailing characters after the document"),
                (Some(b'{'), Some(b',')) => {
                    p.i += 1;
                    p.skip_ws();
                    p.key()?;
                    break;
                }
                (Some(b'['), Some(b',')) => {
                    p.i += 1;
                    p.skip_ws();
                    break;
                }
                (Some(b'{'), Some(b'}')) | (Some(b'['), Some(b']')) => {
                    p.i += 1;
                    open.pop();
                }
                (Some(b'{'), _) => return p.err("expected `,` or `}` in an object"),
                (Some(_), _) => return p.err("expected `,` or `]` in an array"),
            }
        }
    }
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
    fn deep_nesting_is_valid_and_does_not_use_the_stack() {
        let depth = 1_000_000;
        let text = format!(
            "{}{}",
            "[{\"k\":".repeat(depth),
            "}]".repeat(depth).replacen("}", "0}", 1)
        );
        assert_eq!(validate(&text), Ok(()));
        let unbalanced = "[".repeat(depth);
        assert!(validate(&unbalanced).is_err());
    }

    #[test]
    fn errors_say_where() {
        let err = validate("{\n  \"a\": 1,\n  \"b\" 2\n}").unwrap_err();
        assert_eq!(
            err.describe("{\n  \"a\": 1,\n  \"b\" 2\n}"),
            "expected `:` after an object key at line 3, column 7"
        );
    }
}
