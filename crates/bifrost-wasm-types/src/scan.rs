//! A small validating JSON scanner for the hot paths of hook decoding.
//!
//! A hook reads the top level of its input, a few members of its payloads and the context;
//! everything else is passed on as raw text. This scanner does exactly that work and no
//! more, without building a tree:
//!
//! * [`validate`] checks that text is one JSON value (RFC 8259, as `serde_json` accepts it),
//!   iteratively, so nesting depth is not bounded by the stack; containers nested deeper
//!   than [`MAX_DEPTH`] (Go's `encoding/json` limit) are refused, since Bifrost could not
//!   read them back;
//! * [`Members`] walks the members of an object that is already known to be valid, giving
//!   raw key and value text; [`skip_value`] finds the end of a valid value;
//! * [`unescape`] decodes a string's contents (`\uXXXX` pairs included);
//! * [`parse_value`] builds a [`serde_json::Value`] (depth-limited like `serde_json`);
//! * [`write_value`] and [`write_string`] write JSON the way `serde_json` does.
//!
//! Strings are skipped eight bytes at a time. `serde_json` is the oracle in the property tests
//! (`tests/scan_oracle.rs`), and `fuzz/fuzz_targets/json_scan.rs` fuzzes the scanner against it.

use std::borrow::Cow;
use std::fmt;

use serde_json::{Map, Number, Value};

/// Why text is not valid JSON, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanError {
    /// Byte offset of the problem.
    pub offset: usize,
    /// What is wrong.
    pub message: &'static str,
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message)?;
        f.write_str(" at byte ")?;
        fmt::Display::fmt(&self.offset, f)
    }
}

impl std::error::Error for ScanError {}

fn err<T>(offset: usize, message: &'static str) -> Result<T, ScanError> {
    Err(ScanError { offset, message })
}

/// Deepest nesting [`parse_value`] accepts (127 levels, as `serde_json`'s default recursion
/// limit of 128).
pub const MAX_TREE_DEPTH: usize = 127;

/// `text[start..end]` (or `""` when the range is not on character boundaries) without a panic path (the scanner's ranges always fall on ASCII
/// delimiters, so this never returns the fallback; avoiding `str` indexing keeps `core`'s
/// char-boundary panic message, and the Unicode tables its `Debug` output needs, out of
/// plugins).
#[inline(always)]
pub fn sub(text: &str, start: usize, end: usize) -> &str {
    text.get(start..end).unwrap_or("")
}

#[inline(always)]
pub(crate) fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(&c) = b.get(i) {
        if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
            break;
        }
        i += 1;
    }
    i
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Bit mask (high bit of each byte) of the bytes of `v` that end or interrupt a string's
/// plain run: `"`, `\` or a control character. Only the lowest flagged byte is exact.
#[inline(always)]
fn special_bytes(v: u64) -> u64 {
    // A byte underflows in one of the subtractions exactly when it is `"`, `\` or below
    // 0x20; `& !v` drops bytes >= 0x80. Borrows can flag a byte above a real hit, never
    // below one, so the lowest flag is exact.
    let control = v.wrapping_sub(ONES * 0x20);
    let quote = (v ^ (ONES * u64::from(b'"'))).wrapping_sub(ONES);
    let backslash = (v ^ (ONES * u64::from(b'\\'))).wrapping_sub(ONES);
    (control | quote | backslash) & !v & HIGHS
}

/// Reads the little-endian word at `b[i..i + 8]`.
#[inline(always)]
fn word_at(b: &[u8; 32], i: usize) -> u64 {
    match b[i..].first_chunk::<8>() {
        Some(w) => u64::from_le_bytes(*w),
        None => 0,
    }
}

/// Index of the first `"`, `\` or control byte at or after `i` (or `b.len()`).
///
/// Most strings (keys, short values) end within their first eight bytes: that word is
/// tested inline; longer runs go to [`find_special_long`].
#[inline(always)]
fn find_special(b: &[u8], i: usize) -> usize {
    if let Some((word, _)) = b.get(i..).and_then(<[u8]>::split_first_chunk::<8>) {
        let mask = special_bytes(u64::from_le_bytes(*word));
        if mask != 0 {
            return i + (mask.trailing_zeros() / 8) as usize;
        }
        return find_special_long(b, i + 8);
    }
    find_special_long(b, i)
}

/// [`find_special`] out of line: 32 bytes per iteration while nothing is found, then word
/// by word. Long strings (base64 bodies, message text) are most of a hook's input, and on
/// wasm every loop iteration also pays the host's interruption check.
#[inline(never)]
fn find_special_long(b: &[u8], mut i: usize) -> usize {
    while let Some((block, _)) = b.get(i..).and_then(<[u8]>::split_first_chunk::<32>) {
        let any = special_bytes(word_at(block, 0))
            | special_bytes(word_at(block, 8))
            | special_bytes(word_at(block, 16))
            | special_bytes(word_at(block, 24));
        if any != 0 {
            break;
        }
        i += 32;
    }
    while let Some((word, _)) = b.get(i..).and_then(<[u8]>::split_first_chunk::<8>) {
        let mask = special_bytes(u64::from_le_bytes(*word));
        if mask != 0 {
            return i + (mask.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            return i;
        }
        i += 1;
    }
    i
}

/// Index of the first `"`, `{`, `}`, `[` or `]` at or after `i` (or `b.len()`).
#[inline(always)]
fn find_structural(b: &[u8], mut i: usize) -> usize {
    let zero_in = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    while let Some((word, _)) = b.get(i..).and_then(<[u8]>::split_first_chunk::<8>) {
        let v = u64::from_le_bytes(*word);
        // `[`/`]` are `{`/`}` without bit 5: fold them together.
        let folded = v | (ONES * 0x20);
        let mask = zero_in(v ^ (ONES * u64::from(b'"')))
            | zero_in(folded ^ (ONES * u64::from(b'{')))
            | zero_in(folded ^ (ONES * u64::from(b'}')));
        if mask != 0 {
            return i + (mask.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if matches!(c, b'"' | b'{' | b'}' | b'[' | b']') {
            return i;
        }
        i += 1;
    }
    i
}

/// End (one past the closing quote) of the string starting at `b[i] == '"'`, validating
/// escapes and rejecting control characters. UTF-8 is checked by the caller (the input is a
/// `&str`).
#[inline(always)]
pub(crate) fn string_end(b: &[u8], i: usize) -> Result<usize, ScanError> {
    string_end_escaped(b, i).map(|(end, _)| end)
}

/// [`string_end`], also telling whether the string has an escape.
#[inline(always)]
fn string_end_escaped(b: &[u8], i: usize) -> Result<(usize, bool), ScanError> {
    let j = find_special(b, i + 1);
    if b.get(j) == Some(&b'"') {
        return Ok((j + 1, false));
    }
    string_end_slow(b, j)
}

/// The rest of a string from its first special byte at `j`: escapes, control characters, or
/// the end of the input.
#[inline(never)]
fn string_end_slow(b: &[u8], mut j: usize) -> Result<(usize, bool), ScanError> {
    let mut escaped = false;
    loop {
        match b.get(j) {
            None => return err(j, "unterminated string"),
            Some(b'"') => return Ok((j + 1, escaped)),
            Some(b'\\') => {
                escaped = true;
                match b.get(j + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => j += 2,
                    Some(b'u') => {
                        let hex = b.get(j + 2..j + 6).ok_or(ScanError {
                            offset: j,
                            message: "unterminated string",
                        })?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return err(j, "invalid \\u escape");
                        }
                        j += 6;
                    }
                    Some(_) => return err(j, "invalid escape"),
                    None => return err(j, "unterminated string"),
                }
            }
            Some(_) => return err(j, "control character in string"),
        }
        j = find_special(b, j);
    }
}

/// [`string_end_valid`], also telling whether the string has an escape.
#[inline(always)]
fn string_end_valid_escaped(b: &[u8], i: usize) -> (usize, bool) {
    let mut j = i + 1;
    let mut escaped = false;
    loop {
        j = find_special(b, j);
        match b.get(j) {
            Some(b'\\') => {
                escaped = true;
                j += 2;
            }
            Some(b'"') => return (j + 1, escaped),
            Some(_) => j += 1,
            None => return (b.len(), escaped),
        }
    }
}

/// End of the string at `b[i] == '"'` in text already known to be valid.
#[inline(always)]
fn string_end_valid(b: &[u8], i: usize) -> usize {
    string_end_valid_escaped(b, i).0
}

fn digits_end(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

/// End of the number starting at `i`.
pub(crate) fn number_end(b: &[u8], mut i: usize) -> Result<usize, ScanError> {
    let start = i;
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits_end(b, i + 1),
        _ => return err(start, "invalid number"),
    }
    if b.get(i) == Some(&b'.') {
        let after = digits_end(b, i + 1);
        if after == i + 1 {
            return err(i, "invalid number");
        }
        i = after;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let after = digits_end(b, i);
        if after == i {
            return err(i, "invalid number");
        }
        i = after;
    }
    Ok(i)
}

pub(crate) fn literal_end(b: &[u8], i: usize, word: &[u8]) -> Result<usize, ScanError> {
    if b.get(i..i + word.len()) == Some(word) {
        Ok(i + word.len())
    } else {
        err(i, "invalid literal")
    }
}

/// Open containers of a scan: one bit per level (1 = object), 64 levels inline.
struct Nesting {
    inline: u64,
    spill: Vec<u64>,
    depth: usize,
}

impl Nesting {
    fn new() -> Self {
        Nesting {
            inline: 0,
            spill: Vec::new(),
            depth: 0,
        }
    }

    #[inline(always)]
    fn push(&mut self, object: bool) {
        if self.depth < 64 {
            let bit = 1u64 << self.depth;
            self.inline = if object {
                self.inline | bit
            } else {
                self.inline & !bit
            };
        } else {
            self.push_deep(object);
        }
        self.depth += 1;
    }

    #[inline(never)]
    fn push_deep(&mut self, object: bool) {
        let (word, bit) = (self.depth / 64 - 1, self.depth % 64);
        if self.spill.len() <= word {
            self.spill.push(0);
        }
        if object {
            self.spill[word] |= 1 << bit;
        } else {
            self.spill[word] &= !(1 << bit);
        }
    }

    /// Whether the innermost open container is an object (depth must be > 0).
    #[inline(always)]
    fn top_is_object(&self) -> bool {
        let d = self.depth - 1;
        if d < 64 {
            self.inline >> d & 1 == 1
        } else {
            self.spill[d / 64 - 1] >> (d % 64) & 1 == 1
        }
    }
}

/// What a scan records of the members it passes: nothing (plain validation), or the spans of
/// the members of the top-level object and of its members' object values ([`Index`]).
trait Recorder {
    /// A key at container `depth` (1 = the top-level object) whose enclosing containers are
    /// all objects: its span (quotes included) and where its value starts.
    fn key(&mut self, depth: usize, key_start: usize, key_end: usize, escaped: bool, value_start: usize);
    /// The value of the member last recorded at `depth` ends at `end`.
    fn value_end(&mut self, depth: usize, end: usize);
}

struct NoRecord;

impl Recorder for NoRecord {
    #[inline(always)]
    fn key(&mut self, _: usize, _: usize, _: usize, _: bool, _: usize) {}
    #[inline(always)]
    fn value_end(&mut self, _: usize, _: usize) {}
}

/// Validates the value starting at `i` (after optional whitespace) and returns its end.
pub(crate) fn value_end(b: &[u8], i: usize) -> Result<usize, ScanError> {
    scan_value(b, i, &mut NoRecord)
}

/// Whether the containers at depths `1..=depth` are all objects (members there are
/// recorded), for depth 1 and 2.
#[inline(always)]
fn recorded(nest: &Nesting) -> bool {
    let d = nest.depth;
    (d == 1 && nest.inline & 1 == 1) || (d == 2 && nest.inline & 3 == 3)
}

/// Deepest nesting of arrays and objects the scanner accepts: Go's `encoding/json` refuses
/// deeper documents, so Bifrost could not read a plugin output that repeated them.
pub const MAX_DEPTH: usize = 10_000;

/// The scanner's one loop: validates one JSON value starting at `i`, iteratively (nesting
/// depth is not bounded by the stack; see [`MAX_DEPTH`]), and tells `rec` about the members
/// of the first two object levels.
#[inline(always)]
fn scan_value<R: Recorder>(b: &[u8], i: usize, rec: &mut R) -> Result<usize, ScanError> {
    let mut nest = Nesting::new();
    let mut i = skip_ws(b, i);
    'value: loop {
        // Expecting a value at `i`.
        match b.get(i) {
            Some(b'"') => i = string_end(b, i)?,
            Some(b'{' | b'[') if nest.depth >= MAX_DEPTH => {
                return err(i, "nested deeper than 10000 levels");
            }
            Some(b'{') => {
                i = skip_ws(b, i + 1);
                if b.get(i) == Some(&b'}') {
                    i += 1;
                } else {
                    nest.push(true);
                    i = key_colon(b, i, &nest, rec)?;
                    continue 'value;
                }
            }
            Some(b'[') => {
                i = skip_ws(b, i + 1);
                if b.get(i) == Some(&b']') {
                    i += 1;
                } else {
                    nest.push(false);
                    continue 'value;
                }
            }
            Some(b'-' | b'0'..=b'9') => i = number_end(b, i)?,
            Some(b't') => i = literal_end(b, i, b"true")?,
            Some(b'f') => i = literal_end(b, i, b"false")?,
            Some(b'n') => i = literal_end(b, i, b"null")?,
            Some(_) => return err(i, "expected a JSON value"),
            None => return err(i, "unexpected end of input"),
        }
        // After a value: close containers until a comma continues one.
        loop {
            if nest.depth == 0 {
                return Ok(i);
            }
            let object = nest.top_is_object();
            if recorded(&nest) {
                rec.value_end(nest.depth, i);
            }
            i = skip_ws(b, i);
            match (b.get(i), object) {
                (Some(b','), true) => {
                    let key = skip_ws(b, i + 1);
                    i = key_colon(b, key, &nest, rec)?;
                    continue 'value;
                }
                (Some(b','), false) => {
                    i = skip_ws(b, i + 1);
                    continue 'value;
                }
                (Some(b'}'), true) | (Some(b']'), false) => {
                    nest.depth -= 1;
                    i += 1;
                }
                (None, _) => return err(i, "unexpected end of input"),
                (Some(_), true) => return err(i, "expected `,` or `}`"),
                (Some(_), false) => return err(i, "expected `,` or `]`"),
            }
        }
    }
}

/// Validates `"key"` `:` at `i`, records the key when its level is recorded, and returns the
/// position of the value (whitespace skipped).
#[inline(always)]
fn key_colon<R: Recorder>(b: &[u8], i: usize, nest: &Nesting, rec: &mut R) -> Result<usize, ScanError> {
    if b.get(i) != Some(&b'"') {
        return err(i, "expected a string key");
    }
    let (key_end, escaped) = string_end_escaped(b, i)?;
    let mut j = key_end;
    if b.get(j) != Some(&b':') {
        j = skip_ws(b, j);
        if b.get(j) != Some(&b':') {
            return err(j, "expected `:`");
        }
    }
    let value = skip_ws(b, j + 1);
    if recorded(nest) {
        rec.key(nest.depth, i, key_end, escaped, value);
    }
    Ok(value)
}

/// Whether byte `pos` of the valid JSON `text` is inside a string, after its opening quote
/// (the closing quote counts as inside).
pub fn inside_string(text: &str, pos: usize) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let j = find_special(b, i);
        if j >= pos {
            return false;
        }
        if b[j] != b'"' {
            // Whitespace between tokens (JSON has no other special bytes outside strings).
            i = j + 1;
            continue;
        }
        let end = string_end_valid(b, j);
        if pos < end {
            return true;
        }
        i = end;
    }
    false
}

/// `bytes` as UTF-8 text, like [`std::str::from_utf8`], but skipping the leading ASCII 32
/// bytes at a time first (JSON is mostly ASCII, and the standard check works in 4-byte
/// words on wasm32).
pub fn utf8(bytes: &[u8]) -> Result<&str, std::str::Utf8Error> {
    let mut i = 0;
    while let Some((block, _)) = bytes.get(i..).and_then(<[u8]>::split_first_chunk::<32>) {
        let high = (word_at(block, 0) | word_at(block, 8) | word_at(block, 16) | word_at(block, 24)) & HIGHS;
        if high != 0 {
            break;
        }
        i += 32;
    }
    // `bytes[..i]` is ASCII, so `i` is a character boundary and the rest is checked alone.
    if std::str::from_utf8(&bytes[i..]).is_err() {
        // Re-run on the whole input so that the error's offsets are the caller's.
        return std::str::from_utf8(bytes);
    }
    // SAFETY: `bytes[..i]` is ASCII (every byte below 0x80, checked above) and `bytes[i..]`
    // is valid UTF-8 (checked just above); `i` is a character boundary, so the whole slice
    // is valid UTF-8.
    Ok(unsafe { std::str::from_utf8_unchecked(bytes) })
}

/// Checks that `text` is exactly one JSON value, optionally surrounded by whitespace.
pub fn validate(text: &str) -> Result<(), ScanError> {
    let b = text.as_bytes();
    // Scalars (what a context value usually is) without the container machinery.
    let end = match b.first() {
        Some(b'"') => string_end(b, 0)?,
        Some(b't') => literal_end(b, 0, b"true")?,
        Some(b'f') => literal_end(b, 0, b"false")?,
        Some(b'n') => literal_end(b, 0, b"null")?,
        Some(b'-' | b'0'..=b'9') => number_end(b, 0)?,
        _ => value_end(b, 0)?,
    };
    let end = skip_ws(b, end);
    if end != b.len() {
        return err(end, "trailing characters after the JSON value");
    }
    Ok(())
}

/// One member recorded by [`index_object`]: a member of the top-level object (`depth` 1) or
/// of one of its members' object values (`depth` 2), as byte offsets into the indexed text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// 1 for a member of the top-level object, 2 for a member of a member's object value.
    pub depth: u8,
    /// Whether the key has an escape.
    pub key_escaped: bool,
    /// Offset of the key's opening quote.
    pub key_start: u32,
    /// Offset one past the key's closing quote.
    pub key_end: u32,
    /// Offset of the value.
    pub value_start: u32,
    /// Offset one past the value.
    pub value_end: u32,
}

impl Span {
    /// The member in `text` (the indexed text), with offsets relative to `base` (the start of
    /// the object that holds it).
    pub fn member<'a>(&self, text: &'a str, base: usize) -> Member<'a> {
        let (ks, ke) = (self.key_start as usize, self.key_end as usize);
        let (vs, ve) = (self.value_start as usize, self.value_end as usize);
        Member {
            raw_key: sub(text, ks + 1, ke.saturating_sub(1)),
            value: sub(text, vs, ve),
            key_start: ks.wrapping_sub(base),
            value_start: vs.wrapping_sub(base),
            key_escaped: self.key_escaped,
        }
    }
}

/// The members of a validated JSON object, and of its members' object values, in document
/// order: the children of a top-level member are the depth-2 spans right after it.
#[derive(Debug, Clone, Default)]
pub struct ObjectIndex<'a> {
    text: &'a str,
    spans: Vec<Span>,
}

impl<'a> ObjectIndex<'a> {
    /// The indexed text.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// Every recorded span, in document order.
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    /// Positions (in [`ObjectIndex::spans`]) and members of the top-level object.
    pub fn members(&self) -> impl DoubleEndedIterator<Item = (usize, Member<'a>)> + '_ {
        self.spans
            .iter()
            .enumerate()
            .filter(|(_, s)| s.depth == 1)
            .map(|(i, s)| (i, s.member(self.text, 0)))
    }

    /// The value text of the span at `position`.
    pub fn value(&self, position: usize) -> &'a str {
        self.spans.get(position).map_or("null", |s| {
            sub(self.text, s.value_start as usize, s.value_end as usize)
        })
    }

    /// Span position of the last top-level member whose key equals `name` ignoring ASCII case
    /// (decoding escapes in keys that have them).
    pub fn find_last_ignore_case(&self, name: &str) -> Option<usize> {
        let b = self.text.as_bytes();
        self.spans.iter().rposition(|s| {
            if s.depth != 1 {
                return false;
            }
            let (ks, ke) = (s.key_start as usize + 1, (s.key_end as usize).saturating_sub(1));
            if s.key_escaped {
                return unescape(sub(self.text, ks, ke)).is_ok_and(|k| k.eq_ignore_ascii_case(name));
            }
            b.get(ks..ke)
                .is_some_and(|k| k.eq_ignore_ascii_case(name.as_bytes()))
        })
    }

    /// The members of the value of the top-level member at span position `position`
    /// (nothing when it is not an object), with offsets relative to that value's text.
    pub fn children(&self, position: usize) -> impl Iterator<Item = Member<'a>> + Clone + '_ {
        let base = self.spans.get(position).map_or(0, |s| s.value_start as usize);
        let text = self.text;
        self.spans
            .get(position + 1..)
            .unwrap_or_default()
            .iter()
            .take_while(|s| s.depth == 2)
            .map(move |s| s.member(text, base))
    }
}

struct IndexRecorder {
    spans: Vec<Span>,
    last_top: usize,
}

impl Recorder for IndexRecorder {
    #[inline(always)]
    fn key(&mut self, depth: usize, key_start: usize, key_end: usize, escaped: bool, value_start: usize) {
        if depth == 1 {
            self.last_top = self.spans.len();
        }
        self.spans.push(Span {
            depth: depth as u8,
            key_escaped: escaped,
            key_start: key_start as u32,
            key_end: key_end as u32,
            value_start: value_start as u32,
            value_end: value_start as u32,
        });
    }

    #[inline(always)]
    fn value_end(&mut self, depth: usize, end: usize) {
        let i = if depth == 1 {
            self.last_top
        } else {
            self.spans.len().wrapping_sub(1)
        };
        if let Some(span) = self.spans.get_mut(i) {
            span.value_end = end as u32;
        }
    }
}

/// Validates `text` as one JSON value and, when it is an object, indexes its top two levels
/// in the same pass. `Ok(None)` when `text` is valid JSON but not an object. Text longer than
/// 4 GiB is refused (offsets are 32-bit).
pub fn validate_object(text: &str) -> Result<Option<ObjectIndex<'_>>, ScanError> {
    let b = text.as_bytes();
    if u32::try_from(b.len()).is_err() {
        return err(0, "document larger than 4 GiB");
    }
    let start = skip_ws(b, 0);
    if b.get(start) != Some(&b'{') {
        return validate(text).map(|()| None);
    }
    let mut rec = IndexRecorder {
        spans: Vec::with_capacity(24),
        last_top: 0,
    };
    let end = skip_ws(b, scan_value(b, start, &mut rec)?);
    if end != b.len() {
        return err(end, "trailing characters after the JSON value");
    }
    Ok(Some(ObjectIndex {
        text,
        spans: rec.spans,
    }))
}

/// End of the value starting at `i` (leading whitespace skipped) in text known to be valid.
pub fn skip_value(text: &str, i: usize) -> usize {
    let b = text.as_bytes();
    let i = skip_ws(b, i);
    match b.get(i) {
        Some(b'"') => string_end_valid(b, i),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                j = find_structural(b, j);
                match b.get(j) {
                    Some(b'"') => {
                        j = string_end_valid(b, j);
                        continue;
                    }
                    Some(b'{' | b'[') => depth += 1,
                    Some(_) => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    None => return b.len(),
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while b
                .get(j)
                .is_some_and(|c| !matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'))
            {
                j += 1;
            }
            j
        }
    }
}

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

/// Builds a [`Value`] from valid JSON `text`, with `serde_json`'s number semantics
/// (integers as `u64`/`i64` when they fit, otherwise `f64`). Nesting deeper than
/// [`MAX_TREE_DEPTH`] is an error, as in `serde_json`.
pub fn parse_value(text: &str) -> Result<Value, ScanError> {
    parse_value_nested(text, 0)
}

/// [`parse_value`] for a value already `depth` containers deep (they count against the
/// limit).
pub fn parse_value_nested(text: &str, depth: usize) -> Result<Value, ScanError> {
    build(text, skip_ws(text.as_bytes(), 0), depth).map(|(v, _)| v)
}

fn build(text: &str, i: usize, depth: usize) -> Result<(Value, usize), ScanError> {
    let b = text.as_bytes();
    match b.get(i) {
        Some(b'{') | Some(b'[') if depth >= MAX_TREE_DEPTH => err(i, "recursion limit exceeded"),
        Some(b'{') => {
            let end = skip_value(text, i);
            let mut map = Map::new();
            for m in Members::new(sub(text, i, end)) {
                let (v, _) = build(text, i + m.value_start, depth + 1)?;
                let key = unescape(m.raw_key)?.into_owned();
                map.insert(key, v);
            }
            Ok((Value::Object(map), end))
        }
        Some(b'[') => {
            let mut items = Vec::new();
            let mut j = skip_ws(b, i + 1);
            if b.get(j) == Some(&b']') {
                return Ok((Value::Array(items), j + 1));
            }
            loop {
                let (v, end) = build(text, j, depth + 1)?;
                items.push(v);
                j = skip_ws(b, end);
                match b.get(j) {
                    Some(b',') => j = skip_ws(b, j + 1),
                    _ => return Ok((Value::Array(items), j + 1)),
                }
            }
        }
        Some(b'"') => {
            let end = string_end_valid(b, i);
            let s = unescape(sub(text, i + 1, end - 1))?.into_owned();
            Ok((Value::String(s), end))
        }
        Some(b't') => Ok((Value::Bool(true), i + 4)),
        Some(b'f') => Ok((Value::Bool(false), i + 5)),
        Some(b'n') => Ok((Value::Null, i + 4)),
        Some(_) => {
            let end = skip_value(text, i);
            let n = parse_number(sub(text, i, end)).ok_or(ScanError {
                offset: i,
                message: "number out of range",
            })?;
            Ok((Value::Number(n), end))
        }
        None => err(i, "unexpected end of input"),
    }
}

/// A JSON number with `serde_json`'s semantics: a `u64`/`i64` when it is an integer that
/// fits, else an `f64` (`None` when it overflows `f64`).
pub fn parse_number(text: &str) -> Option<Number> {
    let integer = !text.bytes().any(|c| matches!(c, b'.' | b'e' | b'E'));
    if integer {
        if let Some(digits) = text.strip_prefix('-') {
            if let Ok(n) = digits.parse::<u64>() {
                // `-0` is a float in serde_json.
                if n != 0 && n <= i64::MAX as u64 + 1 {
                    return Some(Number::from((n as i64).wrapping_neg()));
                }
            }
        } else if let Ok(n) = text.parse::<u64>() {
            return Some(Number::from(n));
        }
    }
    parse_f64(text).and_then(Number::from_f64)
}

/// Powers of ten `1e0..=1e308`, as written (each correctly rounded).
#[rustfmt::skip]
const POW10: [f64; 309] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31, 1e32, 1e33, 1e34, 1e35, 1e36, 1e37, 1e38, 1e39, 1e40, 1e41, 1e42, 1e43, 1e44, 1e45, 1e46, 1e47, 1e48, 1e49, 1e50, 1e51, 1e52, 1e53, 1e54, 1e55, 1e56, 1e57, 1e58, 1e59, 1e60, 1e61, 1e62, 1e63, 1e64, 1e65, 1e66, 1e67, 1e68, 1e69, 1e70, 1e71, 1e72, 1e73, 1e74, 1e75, 1e76, 1e77, 1e78, 1e79, 1e80, 1e81, 1e82, 1e83, 1e84, 1e85, 1e86, 1e87, 1e88, 1e89, 1e90, 1e91, 1e92, 1e93, 1e94, 1e95, 1e96, 1e97, 1e98, 1e99, 1e100, 1e101, 1e102, 1e103, 1e104, 1e105, 1e106, 1e107, 1e108, 1e109, 1e110, 1e111, 1e112, 1e113, 1e114, 1e115, 1e116, 1e117, 1e118, 1e119, 1e120, 1e121, 1e122, 1e123, 1e124, 1e125, 1e126, 1e127, 1e128, 1e129, 1e130, 1e131, 1e132, 1e133, 1e134, 1e135, 1e136, 1e137, 1e138, 1e139, 1e140, 1e141, 1e142, 1e143, 1e144, 1e145, 1e146, 1e147, 1e148, 1e149, 1e150, 1e151, 1e152, 1e153, 1e154, 1e155, 1e156, 1e157, 1e158, 1e159, 1e160, 1e161, 1e162, 1e163, 1e164, 1e165, 1e166, 1e167, 1e168, 1e169, 1e170, 1e171, 1e172, 1e173, 1e174, 1e175, 1e176, 1e177, 1e178, 1e179, 1e180, 1e181, 1e182, 1e183, 1e184, 1e185, 1e186, 1e187, 1e188, 1e189, 1e190, 1e191, 1e192, 1e193, 1e194, 1e195, 1e196, 1e197, 1e198, 1e199, 1e200, 1e201, 1e202, 1e203, 1e204, 1e205, 1e206, 1e207, 1e208, 1e209, 1e210, 1e211, 1e212, 1e213, 1e214, 1e215, 1e216, 1e217, 1e218, 1e219, 1e220, 1e221, 1e222, 1e223, 1e224, 1e225, 1e226, 1e227, 1e228, 1e229, 1e230, 1e231, 1e232, 1e233, 1e234, 1e235, 1e236, 1e237, 1e238, 1e239, 1e240, 1e241, 1e242, 1e243, 1e244, 1e245, 1e246, 1e247, 1e248, 1e249, 1e250, 1e251, 1e252, 1e253, 1e254, 1e255, 1e256, 1e257, 1e258, 1e259, 1e260, 1e261, 1e262, 1e263, 1e264, 1e265, 1e266, 1e267, 1e268, 1e269, 1e270, 1e271, 1e272, 1e273, 1e274, 1e275, 1e276, 1e277, 1e278, 1e279, 1e280, 1e281, 1e282, 1e283, 1e284, 1e285, 1e286, 1e287, 1e288, 1e289, 1e290, 1e291, 1e292, 1e293, 1e294, 1e295, 1e296, 1e297, 1e298, 1e299, 1e300, 1e301, 1e302, 1e303, 1e304, 1e305, 1e306, 1e307, 1e308];

/// Valid JSON number text to `f64` the way `serde_json` (without `float_roundtrip`) does it:
/// up to 19 significant digits in a `u64`, further digits folded into the exponent or
/// dropped, then one multiplication or division by a power of ten. `None` when the result
/// overflows `f64` (`serde_json`: "number out of range").
/// The value of a valid JSON number as an `f64`, rounded as `serde_json` rounds it (`None` for
/// text that is not a number, or out of range).
pub fn parse_f64(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    let positive = b.first() != Some(&b'-');
    let mut i = usize::from(!positive);
    let digit = |i: usize| {
        b.get(i)
            .filter(|c| c.is_ascii_digit())
            .map(|c| u64::from(c - b'0'))
    };
    let mut significand: u64 = 0;
    let mut exponent: i32 = 0;
    // Integer part: once the significand is full, every further digit is a power of ten.
    let mut full = false;
    while let Some(d) = digit(i) {
        match significand.checked_mul(10).and_then(|s| s.checked_add(d)) {
            Some(s) if !full => significand = s,
            _ => {
                full = true;
                exponent += 1;
            }
        }
        i += 1;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while let Some(d) = digit(i) {
            match significand.checked_mul(10).and_then(|s| s.checked_add(d)) {
                Some(s) => {
                    significand = s;
                    exponent -= 1;
                    i += 1;
                }
                None => {
                    // Digits beyond a full significand are dropped.
                    while digit(i).is_some() {
                        i += 1;
                    }
                }
            }
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        let positive_exp = match b.get(i) {
            Some(b'-') => {
                i += 1;
                false
            }
            Some(b'+') => {
                i += 1;
                true
            }
            _ => true,
        };
        let mut exp: i32 = 0;
        while let Some(d) = digit(i) {
            match exp.checked_mul(10).and_then(|e| e.checked_add(d as i32)) {
                Some(e) => exp = e,
                None if significand != 0 && positive_exp => return None,
                None => return Some(if positive { 0.0 } else { -0.0 }),
            }
            i += 1;
        }
        exponent = if positive_exp {
            exponent.saturating_add(exp)
        } else {
            exponent.saturating_sub(exp)
        };
    }
    let mut f = significand as f64;
    loop {
        match POW10.get(exponent.unsigned_abs() as usize) {
            Some(&pow) => {
                if exponent >= 0 {
                    f *= pow;
                    if f.is_infinite() {
                        return None;
                    }
                } else {
                    f /= pow;
                }
                break;
            }
            None => {
                if f == 0.0 {
                    break;
                }
                if exponent >= 0 {
                    return None;
                }
                f /= 1e308;
                exponent += 308;
            }
        }
    }
    Some(if positive { f } else { -f })
}

/// Appends `s` as a JSON string, escaped as `serde_json` escapes it.
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let b = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        let next = find_special(b, i);
        if next >= b.len() {
            break;
        }
        let c = b[next];
        out.extend_from_slice(&b[start..next]);
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(c >> 4) as usize],
                HEX[(c & 15) as usize],
            ]),
        }
        i = next + 1;
        start = i;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

/// `s` as a JSON string literal (quoted and escaped as [`write_string`] writes it).
pub fn quote(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len() + 2);
    write_string(&mut out, s);
    // Escaping only inserts ASCII around whole characters of valid UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends `value` as compact JSON, as `serde_json::to_writer` writes it.
pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, v);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, k);
                out.push(b':');
                write_value(out, v);
            }
            out.push(b'}');
        }
    }
}

fn write_number(out: &mut Vec<u8>, n: &Number) {
    if let Some(u) = n.as_u64() {
        write_u64(out, u);
    } else if let Some(i) = n.as_i64() {
        out.push(b'-');
        write_u64(out, i.unsigned_abs());
    } else {
        // Floats: serde_json's own shortest round-trip formatting.
        let mut w = VecWriter(out);
        let _ = fmt::Write::write_fmt(&mut w, format_args!("{n}"));
    }
}

/// Appends `n` as JSON: the shortest text that reads back as the same `f64` (`serde_json`'s
/// spelling: `1.0`, `1e-7`); `null` for infinities and NaN, as `serde_json` writes them.
pub fn write_f64(out: &mut Vec<u8>, n: f64) {
    if n.is_finite() {
        let mut buffer = zmij::Buffer::new();
        out.extend_from_slice(buffer.format_finite(n).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

/// Appends the decimal digits of `n`, with a `-` when negative.
pub fn write_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    write_u64(out, n.unsigned_abs());
}

/// Appends the decimal digits of `n`.
pub fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

struct VecWriter<'a>(&'a mut Vec<u8>);

impl fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
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
}
