//! Finding sensitive values in text: the detection rules.
//!
//! All rules work on ASCII structure (non-ASCII characters never belong to a match and act as
//! separators), run in one linear pass per category, and need no regular-expression engine
//! (which would triple the plugin's size).
//!
//! * **E-mail** ([`Category::Email`]): `local@domain` where the local part is made of
//!   letters, digits and `._%+-` (leading dots dropped), and the domain has at least two
//!   dot-separated labels of letters, digits and `-` (not at a label's ends), the last one
//!   alphabetic and at least 2 letters long.
//! * **Card number** ([`Category::Card`]): 13 to 19 digits, optionally grouped by single
//!   spaces or hyphens, that pass the Luhn check.
//! * **Phone number** ([`Category::Phone`]): digit groups separated by single spaces,
//!   hyphens or dots, optionally with one parenthesised area code, either starting with `+`
//!   and holding 8 to 15 digits, or holding 10 to 15 digits in at least two groups whose
//!   last group has 3 or 4 digits (`555-123-4567`, `(555) 123-4567`, `020 7946 0958`).
//!   Not matched on purpose: a bare run of digits without `+` or separators (more often an
//!   id or a timestamp), dates and times (`2024-01-15 10:30`), decimals, and dotted quads
//!   (IP addresses).
//! * **Secret** ([`Category::Secret`]), in tokens made of letters, digits and `_-.+/`
//!   (plus trailing `=` padding):
//!   - known key formats: `sk-…` (OpenAI, Anthropic: at least 20 more characters),
//!     `AKIA`/`ASIA` + 16 upper-case letters or digits (AWS access key ids), `ghp_`, `gho_`,
//!     `ghu_`, `ghs_`, `ghr_` + 30 or more (GitHub), `github_pat_…`, `glpat-…` (GitLab),
//!     `xoxb-`/`xoxp-`/`xoxa-`/`xoxr-`/`xoxs-…` (Slack), `AIza` + 35 (Google), and JSON Web
//!     Tokens (`eyJ…` with three dot-separated parts of 10 or more characters);
//!   - the token after `Bearer ` when it is 16 characters or longer;
//!   - any other token at least `secret_min_length` (32) characters long that contains a
//!     letter and a digit, has fewer than 3 `/` (so file paths do not count), and whose
//!     Shannon entropy is at least `secret_min_entropy` (4.0) bits per character. Random
//!     base64 or alphanumeric keys score about 4.5 and above; hexadecimal strings (hashes,
//!     commit ids, UUIDs) can never exceed 4.0 and are left alone.
//!
//! When matches overlap, the one that starts first (then the longest) wins.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// A kind of sensitive value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// E-mail addresses.
    Email,
    /// Phone numbers.
    Phone,
    /// Payment card numbers (Luhn-checked).
    Card,
    /// API keys, tokens and other secrets.
    Secret,
}

impl Category {
    /// Every category, in reporting order.
    pub const ALL: [Category; 4] = [Category::Email, Category::Phone, Category::Card, Category::Secret];

    /// The name used in the config and the context (`email`, `phone`, `card`, `secret`).
    pub fn name(self) -> &'static str {
        match self {
            Category::Email => "email",
            Category::Phone => "phone",
            Category::Card => "card",
            Category::Secret => "secret",
        }
    }

    /// The default placeholder (`[EMAIL]`, `[PHONE]`, `[CARD]`, `[SECRET]`).
    pub fn default_placeholder(self) -> &'static str {
        match self {
            Category::Email => "[EMAIL]",
            Category::Phone => "[PHONE]",
            Category::Card => "[CARD]",
            Category::Secret => "[SECRET]",
        }
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// One sensitive value found in a text: byte range and category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// Start byte offset.
    pub start: usize,
    /// End byte offset (exclusive).
    pub end: usize,
    /// What it is.
    pub category: Category,
}

/// How many values of each category were replaced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts([u64; 4]);

impl Counts {
    /// Adds one for `category`.
    pub fn add(&mut self, category: Category) {
        self.0[category.slot()] += 1;
    }

    /// The count of `category`.
    pub fn get(&self, category: Category) -> u64 {
        self.0[category.slot()]
    }

    /// The sum over all categories.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Counts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }
}

/// The detector: which categories are on, their placeholders, the secret thresholds and the
/// allow list.
#[derive(Debug, Clone)]
pub struct Detector {
    enabled: [bool; 4],
    placeholders: [String; 4],
    allow: HashSet<String>,
    secret_min_length: usize,
    secret_min_entropy: f64,
}

impl Default for Detector {
    fn default() -> Self {
        Detector::new(&Category::ALL, Vec::new(), &[], 32, 4.0)
    }
}

impl Detector {
    /// A detector for `categories`, with `placeholders` overriding the defaults, values in
    /// `allow` (compared ASCII case-insensitively) never redacted, and the generic-secret
    /// thresholds.
    pub fn new(
        categories: &[Category],
        placeholders: Vec<(Category, String)>,
        allow: &[String],
        secret_min_length: usize,
        secret_min_entropy: f64,
    ) -> Self {
        let mut enabled = [false; 4];
        for c in categories {
            enabled[c.slot()] = true;
        }
        let mut slots = Category::ALL.map(|c| c.default_placeholder().to_string());
        for (c, p) in placeholders {
            slots[c.slot()] = p;
        }
        Detector {
            enabled,
            placeholders: slots,
            allow: allow.iter().map(|a| a.to_ascii_lowercase()).collect(),
            secret_min_length,
            secret_min_entropy,
        }
    }

    /// Whether `category` is detected.
    pub fn is_enabled(&self, category: Category) -> bool {
        self.enabled[category.slot()]
    }

    /// The placeholder for `category`.
    pub fn placeholder(&self, category: Category) -> &str {
        &self.placeholders[category.slot()]
    }

    /// Every sensitive value in `text`, in order, not overlapping.
    pub fn find(&self, text: &str) -> Vec<Match> {
        let mut found = Vec::new();
        if self.is_enabled(Category::Email) {
            find_emails(text, &mut found);
        }
        if self.is_enabled(Category::Card) || self.is_enabled(Category::Phone) {
            find_numbers(
                text,
                self.is_enabled(Category::Card),
                self.is_enabled(Category::Phone),
                &mut found,
            );
        }
        if self.is_enabled(Category::Secret) {
            find_secrets(text, self.secret_min_length, self.secret_min_entropy, &mut found);
        }
        if !self.allow.is_empty() {
            found.retain(|m| {
                !self
                    .allow
                    .contains(&slice(text, m.start, m.end).to_ascii_lowercase())
            });
        }
        found.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        let mut kept: Vec<Match> = Vec::with_capacity(found.len());
        for m in found {
            if kept.last().is_none_or(|last| m.start >= last.end) {
                kept.push(m);
            }
        }
        kept
    }

    /// `text` with every sensitive value replaced by its placeholder, counting them in
    /// `counts`; `None` when there is nothing to replace.
    pub fn redact(&self, text: &str, counts: &mut Counts) -> Option<String> {
        let matches = self.find(text);
        if matches.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for m in matches {
            out.push_str(slice(text, at, m.start));
            out.push_str(self.placeholder(m.category));
            counts.add(m.category);
            at = m.end;
        }
        out.push_str(slice(text, at, text.len()));
        Some(out)
    }
}

/// `text[start..end]` without a panic path: matches always start and end on ASCII bytes, so
/// this never falls back; avoiding `str` indexing keeps the panic formatting code (and the
/// Unicode tables it links) out of the plugin.
fn slice(text: &str, start: usize, end: usize) -> &str {
    text.get(start..end).unwrap_or("")
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

// ----- e-mail -----

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    let label_ok = |l: &&str| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-');
    let tld = labels[labels.len() - 1];
    labels.iter().all(label_ok) && tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic())
}

fn find_emails(text: &str, out: &mut Vec<Match>) {
    let b = text.as_bytes();
    for (at, _) in text.match_indices('@') {
        let mut start = at;
        while start > 0 && is_local(b[start - 1]) {
            start -= 1;
        }
        while start < at && b[start] == b'.' {
            start += 1;
        }
        if start == at {
            continue;
        }
        let mut end = at + 1;
        while end < b.len() && is_domain(b[end]) {
            end += 1;
        }
        while end > at + 1 && matches!(b[end - 1], b'.' | b'-') {
            end -= 1;
        }
        if valid_domain(slice(text, at + 1, end)) {
            out.push(Match {
                start,
                end,
                category: Category::Email,
            });
        }
    }
}

// ----- card and phone numbers -----

/// The longest digit count any number rule accepts (card numbers: 19).
const MAX_DIGITS: usize = 19;

/// A few bytes on the stack (number runs are short; no allocation per candidate).
#[derive(Clone, Copy)]
struct Bytes {
    buf: [u8; 32],
    len: usize,
}

impl Bytes {
    const fn new() -> Self {
        Bytes { buf: [0; 32], len: 0 }
    }

    /// Appends `b`; false when full.
    fn push(&mut self, b: u8) -> bool {
        if self.len == self.buf.len() {
            return false;
        }
        self.buf[self.len] = b;
        self.len += 1;
        true
    }

    fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// A run of digit groups read from a start position.
struct NumberRun {
    end: usize,
    /// False when the run cannot be a number of any rule (too many digits, an unclosed
    /// parenthesis, glued to a following word).
    valid: bool,
    digits: Bytes,
    /// Digits per group.
    groups: Bytes,
    separators: Bytes,
    plus: bool,
    parens: bool,
}

fn read_number(b: &[u8], start: usize) -> NumberRun {
    let n = b.len();
    let digit = |i: usize| i < n && b[i].is_ascii_digit();
    let mut p = start;
    let plus = b[p] == b'+';
    if plus {
        p += 1;
    }
    let mut run = NumberRun {
        end: start,
        valid: true,
        digits: Bytes::new(),
        groups: Bytes::new(),
        separators: Bytes::new(),
        plus,
        parens: false,
    };
    let mut current = 0usize;
    let mut open = false;
    while p < n {
        let c = b[p];
        if c.is_ascii_digit() {
            if run.digits.len == MAX_DIGITS {
                run.valid = false; // too long to be a card or phone number
            } else {
                run.digits.push(c - b'0');
            }
            current += 1;
            p += 1;
            run.end = p;
        } else if c == b'(' && !run.parens && current == 0 && digit(p + 1) {
            open = true;
            run.parens = true;
            p += 1;
        } else if c == b')' && open && current > 0 {
            open = false;
            run.valid &= run.groups.push(current.min(255) as u8);
            current = 0;
            p += 1;
            run.end = p;
            if p < n && b[p] == b' ' && digit(p + 1) {
                run.valid &= run.separators.push(b' ');
                p += 1;
            }
        } else if matches!(c, b' ' | b'-' | b'.')
            && !open
            && p > start
            && (b[p - 1].is_ascii_digit() || b[p - 1] == b')')
            && digit(p + 1)
        {
            if current > 0 {
                run.valid &= run.groups.push(current.min(255) as u8);
                current = 0;
            }
            run.valid &= run.separators.push(c);
            p += 1;
        } else {
            break;
        }
    }
    if current > 0 {
        run.valid &= run.groups.push(current.min(255) as u8);
    }
    if open || run.digits.len == 0 || (run.end < n && is_word(b[run.end])) {
        run.valid = false;
    }
    run
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn classify(run: &NumberRun, card: bool, phone: bool) -> Option<Category> {
    if !run.valid {
        return None;
    }
    let n = run.digits.len;
    if card
        && !run.plus
        && !run.parens
        && (13..=19).contains(&n)
        && run.separators.as_slice().iter().all(|s| matches!(s, b' ' | b'-'))
        && luhn(run.digits.as_slice())
    {
        return Some(Category::Card);
    }
    if !phone {
        return None;
    }
    let groups = run.groups.as_slice();
    let dotted_quad = groups.len() == 4
        && groups.iter().all(|g| *g <= 3)
        && run.separators.as_slice().iter().all(|s| *s == b'.');
    let last = groups.last().copied().unwrap_or(0);
    let ok = if run.plus {
        (8..=15).contains(&n)
    } else {
        (10..=15).contains(&n) && groups.len() >= 2 && (3..=4).contains(&last) && !dotted_quad
    };
    ok.then_some(Category::Phone)
}

fn number_start(b: &[u8], i: usize) -> bool {
    let c = b[i];
    let opens = c.is_ascii_digit()
        || ((c == b'+' || c == b'(') && i + 1 < b.len() && (b[i + 1].is_ascii_digit() || b[i + 1] == b'('));
    if !opens {
        return false;
    }
    if i == 0 {
        return true;
    }
    let prev = b[i - 1];
    if is_word(prev) || prev == b'+' || prev == b'(' {
        return false;
    }
    // `v1.2.3`, `x-555…`: a dot or hyphen glued to a word continues that word.
    !(matches!(prev, b'.' | b'-') && i >= 2 && is_word(b[i - 2]))
}

/// Numbers are judged as whole runs of digit groups: a run that is neither a card nor a
/// phone number is skipped in full (no part of it is matched on its own).
fn find_numbers(text: &str, card: bool, phone: bool, out: &mut Vec<Match>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !number_start(b, i) {
            i += 1;
            continue;
        }
        let run = read_number(b, i);
        if let Some(category) = classify(&run, card, phone) {
            out.push(Match {
                start: i,
                end: run.end,
                category,
            });
        }
        i = run.end.max(i + 1);
    }
}

// ----- secrets -----

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+' | b'/')
}

/// Length of the longest prefix of `s` made of bytes satisfying `f`.
fn span(s: &[u8], f: impl Fn(u8) -> bool) -> usize {
    s.iter().take_while(|&&b| f(b)).count()
}

fn key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Length of a known key format at the start of `t`, if there is one.
fn known_secret(t: &[u8]) -> Option<usize> {
    if !matches!(t.first(), Some(b's' | b'A' | b'g' | b'x' | b'e')) {
        return None;
    }
    let rest_at = |prefix: &[u8], f: fn(u8) -> bool, min: usize| -> Option<usize> {
        let rest = t.strip_prefix(prefix)?;
        let len = span(rest, f);
        (len >= min).then_some(prefix.len() + len)
    };
    if let Some(n) = rest_at(b"sk-", key_char, 20) {
        return Some(n);
    }
    for prefix in [&b"AKIA"[..], b"ASIA"] {
        if let Some(rest) = t.strip_prefix(prefix) {
            let len = span(rest, |b| b.is_ascii_uppercase() || b.is_ascii_digit());
            if len == 16 {
                return Some(20);
            }
        }
    }
    for prefix in [&b"ghp_"[..], b"gho_", b"ghu_", b"ghs_", b"ghr_"] {
        if let Some(n) = rest_at(prefix, |b| b.is_ascii_alphanumeric(), 30) {
            return Some(n);
        }
    }
    if let Some(n) = rest_at(b"github_pat_", |b| b.is_ascii_alphanumeric() || b == b'_', 22) {
        return Some(n);
    }
    if let Some(n) = rest_at(b"glpat-", key_char, 20) {
        return Some(n);
    }
    for prefix in [&b"xoxb-"[..], b"xoxp-", b"xoxa-", b"xoxr-", b"xoxs-"] {
        if let Some(n) = rest_at(prefix, |b| b.is_ascii_alphanumeric() || b == b'-', 10) {
            return Some(n);
        }
    }
    if let Some(n) = rest_at(b"AIza", key_char, 35) {
        return Some(n);
    }
    if t.starts_with(b"eyJ") {
        let mut len = 0;
        for (i, part) in t.split(|&b| b == b'.').take(3).enumerate() {
            let ok = part.len() >= 10 && part.iter().all(|&b| key_char(b));
            if !ok {
                return None;
            }
            len += part.len() + usize::from(i > 0);
            if i == 2 {
                return Some(len);
            }
        }
    }
    None
}

/// Shannon entropy of `t` in bits per byte.
pub fn entropy(t: &[u8]) -> f64 {
    if t.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in t {
        counts[b as usize] += 1;
    }
    let n = t.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

fn generic_secret(t: &[u8], min_length: usize, min_entropy: f64) -> bool {
    t.len() >= min_length
        && t.iter().any(u8::is_ascii_digit)
        && t.iter().any(u8::is_ascii_alphabetic)
        && t.iter().filter(|&&b| b == b'/').count() < 3
        && entropy(t) >= min_entropy
}

fn preceded_by_bearer(b: &[u8], start: usize) -> bool {
    const WORD: &[u8] = b"bearer ";
    start >= WORD.len()
        && b[start - WORD.len()..start].eq_ignore_ascii_case(WORD)
        && (start == WORD.len() || !is_word(b[start - WORD.len() - 1]))
}

/// The shortest token any secret rule accepts.
const SHORTEST_SECRET: usize = 15;

fn find_secrets(text: &str, min_length: usize, min_entropy: f64, out: &mut Vec<Match>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !is_token(b[i]) {
            i += 1;
            continue;
        }
        let core_end = i + span(&b[i..], is_token);
        let padding = span(&b[core_end..], |c| c == b'=').min(3);
        // Punctuation at the edges belongs to the sentence, not the token.
        let mut start = i;
        while start < core_end && matches!(b[start], b'.' | b'-' | b'+' | b'/') {
            start += 1;
        }
        let mut end = core_end;
        if padding == 0 {
            while end > start && matches!(b[end - 1], b'.' | b'-' | b'+' | b'/') {
                end -= 1;
            }
        } else {
            end += padding;
        }
        let next = (core_end + padding).max(i + 1);
        let t = &b[start..end];
        // Every rule needs 15 or more characters (`xoxb-` + 10 is the shortest): most words
        // are done here.
        if t.len() < SHORTEST_SECRET {
            i = next;
            continue;
        }
        if let Some(len) = known_secret(t) {
            out.push(Match {
                start,
                end: start + len,
                category: Category::Secret,
            });
        } else if generic_secret(t, min_length, min_entropy)
            || (t.len() >= 16 && preceded_by_bearer(b, start))
        {
            out.push(Match {
                start,
                end: start + t.len(),
                category: Category::Secret,
            });
        }
        i = next;
    }
}

#[cfg(test)]
mod tests;
