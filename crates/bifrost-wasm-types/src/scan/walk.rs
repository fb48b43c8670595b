//! Walking valid JSON: object members, array elements, string contents.

use super::{err, skip_value, skip_ws, string_end_valid_escaped, sub, ScanError};
use std::borrow::Cow;

/// One member of an object: key text (between the quotes, still escaped) and raw value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member<'a> {
    /// The key as written, without quotes, escapes not decoded.
    pub raw_key: &'a str,
    /// The value's JSON text.
    pub value: &'a str,
    /// Byte offset of the key's opening quote in the object text.
    pub key_start: usize,
    /// Byte offset of the value in the object text.
    pub value_start: usize,
    /// Whether the key has an escape (`raw_key` is the key itself when not).
    pub key_escaped: bool,
}

impl<'a> Member<'a> {
    /// The key, unescaped.
    pub fn key(&self) -> Cow<'a, str> {
        if !self.key_escaped {
            return Cow::Borrowed(self.raw_key);
        }
        unescape(self.raw_key).unwrap_or(Cow::Borrowed(self.raw_key))
    }

    /// Whether the key equals `key` (escapes decoded).
    pub fn key_is(&self, key: &str) -> bool {
        if self.key_escaped {
            self.key() == key
        } else {
            self.raw_key == key
        }
    }

    /// Whether the key equals `key` ignoring ASCII case.
    pub fn key_is_ignore_case(&self, key: &str) -> bool {
        if self.key_escaped {
            self.key().eq_ignore_ascii_case(key)
        } else {
            self.raw_key.eq_ignore_ascii_case(key)
        }
    }
}

/// The members of a valid JSON object, in document order. Yields nothing for other values.
#[derive(Debug, Clone)]
pub struct Members<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Members<'a> {
    /// Members of `text`, which must be valid JSON (anything but an object yields nothing).
    pub fn new(text: &'a str) -> Self {
        let b = text.as_bytes();
        let start = skip_ws(b, 0);
        let pos = if b.get(start) == Some(&b'{') {
            start + 1
        } else {
            b.len()
        };
        Members { text, pos }
    }
}

impl<'a> Iterator for Members<'a> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Member<'a>> {
        let b = self.text.as_bytes();
        let mut i = skip_ws(b, self.pos);
        if b.get(i) == Some(&b',') {
            i = skip_ws(b, i + 1);
        }
        if b.get(i) != Some(&b'"') {
            self.pos = b.len();
            return None;
        }
        let key_start = i;
        let (key_end, key_escaped) = string_end_valid_escaped(b, i);
        let colon = skip_ws(b, key_end);
        let value_start = skip_ws(b, colon + 1);
        let value_end = skip_value(self.text, value_start);
        self.pos = value_end;
        Some(Member {
            key_escaped,
            raw_key: self.text.get(key_start + 1..key_end - 1)?,
            value: self.text.get(value_start..value_end)?,
            key_start,
            value_start,
        })
    }
}

/// The elements of a valid JSON array, in order, as raw value text. Yields nothing for
/// other values.
#[derive(Debug, Clone)]
pub struct Elements<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Elements<'a> {
    /// Elements of `text`, which must be valid JSON (anything but an array yields nothing).
    pub fn new(text: &'a str) -> Self {
        let b = text.as_bytes();
        let start = skip_ws(b, 0);
        let pos = if b.get(start) == Some(&b'[') {
            start + 1
        } else {
            b.len()
        };
        Elements { text, pos }
    }
}

impl<'a> Iterator for Elements<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let b = self.text.as_bytes();
        let mut i = skip_ws(b, self.pos);
        if b.get(i) == Some(&b',') {
            i = skip_ws(b, i + 1);
        }
        if matches!(b.get(i), None | Some(b']')) {
            self.pos = b.len();
            return None;
        }
        let end = skip_value(self.text, i);
        self.pos = end;
        self.text.get(i..end)
    }
}

/// The raw value of member `key` of the valid object `text` (last occurrence wins when
/// `last` is set, as Go and `serde_json` maps do; otherwise the first).
pub fn member<'a>(text: &'a str, key: &str, last: bool) -> Option<&'a str> {
    let mut found = None;
    for m in Members::new(text) {
        if m.key_is(key) {
            found = Some(m.value);
            if !last {
                break;
            }
        }
    }
    found
}

fn hex4(b: &[u8]) -> Option<u32> {
    let mut n = 0u32;
    for &c in b.get(..4)? {
        n = n * 16 + (c as char).to_digit(16)?;
    }
    Some(n)
}

/// Decodes the contents of a JSON string (the text between the quotes). Borrows when there
/// are no escapes. Lone surrogates are an error (as `serde_json` reports for `String`).
pub fn unescape(raw: &str) -> Result<Cow<'_, str>, ScanError> {
    let b = raw.as_bytes();
    // `contains` is word-at-a-time; most strings have no escape at all.
    if !b.contains(&b'\\') {
        return Ok(Cow::Borrowed(raw));
    }
    let first = b.iter().position(|&c| c == b'\\').unwrap_or(b.len());
    let mut out = String::with_capacity(raw.len());
    out.push_str(sub(raw, 0, first));
    let mut i = first;
    while i < b.len() {
        if b[i] != b'\\' {
            let next = b[i..].iter().position(|&c| c == b'\\').map_or(b.len(), |p| i + p);
            out.push_str(sub(raw, i, next));
            i = next;
            continue;
        }
        let c = match b.get(i + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let hi = hex4(&b[i + 2..]).ok_or(ScanError {
                    offset: i,
                    message: "invalid \\u escape",
                })?;
                i += 6;
                let code = if (0xD800..0xDC00).contains(&hi) {
                    let lo = if b.get(i) == Some(&b'\\') && b.get(i + 1) == Some(&b'u') {
                        hex4(&b[i + 2..])
                    } else {
                        None
                    };
                    match lo {
                        Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                            i += 6;
                            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                        }
                        _ => return err(i, "lone leading surrogate in hex escape"),
                    }
                } else if (0xDC00..0xE000).contains(&hi) {
                    return err(i, "lone trailing surrogate in hex escape");
                } else {
                    hi
                };
                out.push(char::from_u32(code).ok_or(ScanError {
                    offset: i,
                    message: "invalid \\u escape",
                })?);
                continue;
            }
            _ => return err(i, "invalid escape"),
        };
        out.push(c);
        i += 2;
    }
    Ok(Cow::Owned(out))
}

/// Decodes the JSON string value `raw` (with quotes); `None` for other values.
pub fn string_value(raw: &str) -> Option<Cow<'_, str>> {
    let inner = raw.trim().strip_prefix('"')?.strip_suffix('"')?;
    unescape(inner).ok()
}
