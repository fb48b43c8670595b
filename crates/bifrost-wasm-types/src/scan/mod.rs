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

use std::fmt;

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
                return err(
                    i,
                    "nested deeper than 10000 levels (the limit of Go's encoding/json, which Bifrost uses)",
                );
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

/// One member recorded by [`validate_object`]: a member of the top-level object (`depth` 1) or
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

mod tree;
mod walk;
mod write;

pub use tree::{parse_f64, parse_number, parse_value, parse_value_nested};
pub use walk::{member, string_value, unescape, Elements, Member, Members};
pub use write::{quote, write_f64, write_i64, write_string, write_u64, write_value};

#[cfg(test)]
mod tests;
