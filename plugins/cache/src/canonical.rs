//! A canonical JSON text: the same for every spelling of the same value.
//!
//! Object keys are sorted (by their UTF-8 bytes), no whitespace is written, strings are
//! escaped the way `serde_json` escapes them, and numbers are written by value: an integral
//! number (`1`, `1.0`, `1e0`, `-0.0`) as an integer, any other as the shortest text that
//! reads back as the same `f64`.

use serde_json::Value;

/// Appends the canonical text of `value` to `out`.
pub fn write(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else {
                let f = n.as_f64().unwrap_or(0.0);
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    out.push_str(&(f as i64).to_string());
                } else {
                    out.push_str(&Value::from(f).to_string());
                }
            }
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write(v, out);
            }
            out.push('}');
        }
    }
}

/// Appends `s` as a JSON string.
pub fn write_string(s: &str, out: &mut String) {
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string()));
}

/// The canonical text of `value`.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(text: &str) -> String {
        to_string(&serde_json::from_str(text).unwrap())
    }

    #[test]
    fn key_order_whitespace_and_number_spelling_do_not_matter() {
        let a = canon(r#"{"b": [1.0, 2e0, -0.0], "a": {"y": "é\n", "x": null}, "c": 0.1}"#);
        let b = canon(r#"{"a":{"x":null,"y":"\u00e9\n"},"c":1e-1,"b":[1,2,0]}"#);
        assert_eq!(a, b);
        assert_eq!(a, r#"{"a":{"x":null,"y":"é\n"},"b":[1,2,0],"c":0.1}"#);
    }

    #[test]
    fn different_values_stay_different() {
        assert_ne!(canon(r#"{"a":[1,2]}"#), canon(r#"{"a":[2,1]}"#));
        assert_ne!(canon(r#"{"a":"1"}"#), canon(r#"{"a":1}"#));
        assert_ne!(canon(r#"{"a":0.5}"#), canon(r#"{"a":0.25}"#));
    }
}
