//! [`ToJson`]: Rust values a plugin stores in the context or a payload, written as JSON
//! without going through `serde_json` (so a plugin that never builds a `serde_json::Value`
//! carries none of its code).

use crate::types::scan;
use crate::types::RawJson;

/// A value that can be written as one JSON value.
///
/// Implemented for booleans, integers, floats (non-finite ones are written `null`, as
/// `serde_json` does), strings, `Option` (`None` is `null`), slices and `Vec`s, [`RawJson`]
/// (written verbatim) and `serde_json::Value`.
///
/// ```
/// use bifrost_wasm_sdk::prelude::*;
///
/// assert_eq!(true.to_json(), "true");
/// assert_eq!("a \"b\"".to_json(), r#""a \"b\"""#);
/// assert_eq!(Some(1.5).to_json(), "1.5");
/// assert_eq!(vec![1u32, 2].to_json(), "[1,2]");
/// ```
pub trait ToJson {
    /// Whether every value of this type writes one valid JSON value by construction (then
    /// the context does not check what it wrote). Leave it `false` in your own impls.
    #[doc(hidden)]
    const ALWAYS_VALID: bool = false;

    /// Appends this value's JSON text to `out`.
    fn write_json_value(&self, out: &mut Vec<u8>);

    /// This value's JSON text.
    fn to_json(&self) -> String {
        let mut out = Vec::new();
        self.write_json_value(&mut out);
        // Every implementation writes UTF-8 (escaped strings, ASCII punctuation, valid JSON
        // text).
        String::from_utf8(out).unwrap_or_default()
    }
}

impl<T: ToJson + ?Sized> ToJson for &T {
    const ALWAYS_VALID: bool = T::ALWAYS_VALID;

    fn write_json_value(&self, out: &mut Vec<u8>) {
        (**self).write_json_value(out)
    }
}

impl<T: ToJson + ?Sized> ToJson for &mut T {
    const ALWAYS_VALID: bool = T::ALWAYS_VALID;

    fn write_json_value(&self, out: &mut Vec<u8>) {
        (**self).write_json_value(out)
    }
}

impl<T: ToJson + ?Sized> ToJson for Box<T> {
    const ALWAYS_VALID: bool = T::ALWAYS_VALID;

    fn write_json_value(&self, out: &mut Vec<u8>) {
        (**self).write_json_value(out)
    }
}

impl ToJson for bool {
    const ALWAYS_VALID: bool = true;

    fn write_json_value(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if *self { b"true" } else { b"false" });
    }
}

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl ToJson for $t {
            const ALWAYS_VALID: bool = true;

            fn write_json_value(&self, out: &mut Vec<u8>) {
                scan::write_u64(out, *self as u64);
            }
        }
    )*};
}

macro_rules! signed {
    ($($t:ty),*) => {$(
        impl ToJson for $t {
            const ALWAYS_VALID: bool = true;

            fn write_json_value(&self, out: &mut Vec<u8>) {
                scan::write_i64(out, *self as i64);
            }
        }
    )*};
}

unsigned!(u8, u16, u32, u64, usize);
signed!(i8, i16, i32, i64, isize);

impl ToJson for f64 {
    const ALWAYS_VALID: bool = true;

    fn write_json_value(&self, out: &mut Vec<u8>) {
        scan::write_f64(out, *self);
    }
}

impl ToJson for f32 {
    const ALWAYS_VALID: bool = true;

    fn write_json_value(&self, out: &mut Vec<u8>) {
        scan::write_f64(out, f64::from(*self));
    }
}

impl ToJson for str {
    const ALWAYS_VALID: bool = true;

    fn write_json_value(&self, out: &mut Vec<u8>) {
        scan::write_string(out, self);
    }
}

impl ToJson for String {
    const ALWAYS_VALID: bool = true;

    fn write_json_value(&self, out: &mut Vec<u8>) {
        scan::write_string(out, self);
    }
}

impl<T: ToJson> ToJson for Option<T> {
    const ALWAYS_VALID: bool = T::ALWAYS_VALID;

    fn write_json_value(&self, out: &mut Vec<u8>) {
        match self {
            Some(v) => v.write_json_value(out),
            None => out.extend_from_slice(b"null"),
        }
    }
}

impl<T: ToJson> ToJson for [T] {
    const ALWAYS_VALID: bool = T::ALWAYS_VALID;

    fn write_json_value(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, v) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            v.write_json_value(out);
        }
        out.push(b']');
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    const ALWAYS_VALID: bool = T::ALWAYS_VALID;

    fn write_json_value(&self, out: &mut Vec<u8>) {
        self.as_slice().write_json_value(out)
    }
}

impl ToJson for RawJson {
    const ALWAYS_VALID: bool = true;

    fn write_json_value(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_str().as_bytes());
    }
}

impl ToJson for serde_json::Value {
    const ALWAYS_VALID: bool = true;

    fn write_json_value(&self, out: &mut Vec<u8>) {
        scan::write_value(out, self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_as_serde_json_writes_them() {
        for v in [0.0, 1.0, -2.5, 1e-7, 1e21, 123456.789, f64::MIN_POSITIVE] {
            assert_eq!(v.to_json(), serde_json::to_string(&v).unwrap(), "{v}");
        }
        assert_eq!(f64::NAN.to_json(), "null");
        assert_eq!(i64::MIN.to_json(), i64::MIN.to_string());
        assert_eq!(u64::MAX.to_json(), u64::MAX.to_string());
        assert_eq!((-7i8).to_json(), "-7");
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let s = "q\"b\\n\n\t\u{1}é😀";
        assert_eq!(s.to_json(), serde_json::to_string(s).unwrap());
    }

    #[test]
    fn containers_and_raw_values() {
        let v: Vec<Option<&str>> = vec![Some("a"), None];
        assert_eq!(v.to_json(), r#"["a",null]"#);
        let raw = RawJson::from_string(r#"{"n":1.50}"#.into()).unwrap();
        assert_eq!(raw.to_json(), r#"{"n":1.50}"#);
        assert_eq!(serde_json::json!({"a": [1, "x"]}).to_json(), r#"{"a":[1,"x"]}"#);
    }
}
