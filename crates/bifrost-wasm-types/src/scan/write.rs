//! Writing JSON the way `serde_json` does.

use std::fmt;

use super::find_special;
use serde_json::{Number, Value};

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
