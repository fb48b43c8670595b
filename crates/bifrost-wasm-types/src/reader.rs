//! A small serde [`Deserializer`](serde::Deserializer) over the [`crate::scan`] scanner:
//! typed reads (plugin config, typed views of payloads) in a plugin without `serde_json`'s
//! deserializer.
//!
//! It accepts exactly the JSON `serde_json` accepts, gives values the same shape (numbers as
//! `u64`/`i64` when they are integers that fit, `f64` otherwise; strings borrowed when they
//! have no escapes; the same 128-level recursion limit) and supports `RawValue` fields. What
//! it leaves out is code size: every `deserialize_*` funnels into one `deserialize_any`, and
//! its errors never format a float, so a plugin built with it links neither `serde_json`'s
//! per-type deserializers nor the float-printing machinery of `core::fmt`. Error texts read
//! like `serde_json`'s with a byte offset instead of a line and column.
//!
//! [`from_str`] is the crate's typed read on `wasm32`; natively (hosts, tests) the crate uses
//! `serde_json`, and `tests/scan_oracle.rs` holds this module to it (as does the `json_scan` fuzz
//! target).

use std::borrow::Cow;
use std::fmt::{self, Display};

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess, Unexpected,
    VariantAccess, Visitor,
};

use crate::json_error::JsonError;
use crate::scan;

/// The name `serde_json` gives its `RawValue` newtype (how a `RawValue` asks for raw text).
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// Containers `serde_json` allows inside each other before it reports a recursion limit.
const RECURSION_LIMIT: usize = 128;

/// A deserialization error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// `Unexpected` as `serde` writes it, except that floats are not printed (which would link
/// the float formatter) and strings are quoted without escaping.
struct Shown<'a>(Unexpected<'a>);

impl Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Unexpected::Bool(b) => write!(f, "boolean `{b}`"),
            Unexpected::Unsigned(n) => write!(f, "integer `{n}`"),
            Unexpected::Signed(n) => write!(f, "integer `{n}`"),
            Unexpected::Float(_) => f.write_str("floating point number"),
            Unexpected::Char(c) => write!(f, "character `{c}`"),
            Unexpected::Str(s) => write!(f, "string \"{s}\""),
            Unexpected::Bytes(_) => f.write_str("byte array"),
            Unexpected::Unit => f.write_str("null"),
            Unexpected::Option => f.write_str("Option value"),
            Unexpected::NewtypeStruct => f.write_str("newtype struct"),
            Unexpected::Seq => f.write_str("sequence"),
            Unexpected::Map => f.write_str("map"),
            Unexpected::Enum => f.write_str("enum"),
            Unexpected::UnitVariant => f.write_str("unit variant"),
            Unexpected::NewtypeVariant => f.write_str("newtype variant"),
            Unexpected::TupleVariant => f.write_str("tuple variant"),
            Unexpected::StructVariant => f.write_str("struct variant"),
            Unexpected::Other(other) => f.write_str(other),
        }
    }
}

impl de::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Error(msg.to_string())
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Error(format!("invalid type: {}, expected {exp}", Shown(unexp)))
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Error(format!("invalid value: {}, expected {exp}", Shown(unexp)))
    }
}

impl From<scan::ScanError> for Error {
    fn from(e: scan::ScanError) -> Self {
        Error(e.message.to_string())
    }
}

/// Deserializes `T` from JSON text (one value, optional surrounding whitespace).
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, JsonError> {
    let mut de = Deserializer {
        text,
        pos: 0,
        depth: 0,
    };
    let result = T::deserialize(&mut de).and_then(|value| {
        let end = scan::skip_ws(text.as_bytes(), de.pos);
        if end == text.len() {
            Ok(value)
        } else {
            de.pos = end;
            Err(Error("trailing characters".into()))
        }
    });
    result.map_err(|e| JsonError(format!("{e} at byte {}", de.pos)))
}

/// The crate's typed read: [`from_str`] in a plugin (`wasm32`), `serde_json` natively.
pub fn typed<T: DeserializeOwned>(text: &str) -> Result<T, JsonError> {
    #[cfg(target_arch = "wasm32")]
    {
        from_str(text)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        serde_json::from_str(text).map_err(JsonError::from)
    }
}

/// The deserializer: a position in JSON text.
struct Deserializer<'de> {
    text: &'de str,
    pos: usize,
    depth: usize,
}

impl<'de> Deserializer<'de> {
    fn bytes(&self) -> &'de [u8] {
        self.text.as_bytes()
    }

    /// Skips whitespace and returns the next byte.
    fn peek(&mut self) -> Option<u8> {
        self.pos = scan::skip_ws(self.bytes(), self.pos);
        self.bytes().get(self.pos).copied()
    }

    fn fail<T>(&self, message: &str) -> Result<T, Error> {
        Err(Error(message.to_string()))
    }

    /// Parses the string at `pos` (which is `"`).
    fn string(&mut self) -> Result<Cow<'de, str>, Error> {
        let start = self.pos;
        let end = scan::string_end(self.bytes(), start)?;
        self.pos = end;
        let text: &'de str = self.text;
        Ok(scan::unescape(scan::sub(text, start + 1, end - 1))?)
    }

    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth >= RECURSION_LIMIT {
            return self.fail("recursion limit exceeded");
        }
        self.pos += 1;
        Ok(())
    }

    fn expect(&mut self, byte: u8, what: &str) -> Result<(), Error> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            self.fail(what)
        }
    }
}

/// The next value's first token; containers are entered (see [`Deserializer::close`]).
enum Token<'de> {
    Null,
    Bool(bool),
    Str(Cow<'de, str>),
    U64(u64),
    I64(i64),
    F64(f64),
    Seq,
    Map,
}

impl<'de> Deserializer<'de> {
    /// Reads the next token (not generic, so it exists once in a plugin).
    fn token(&mut self) -> Result<Token<'de>, Error> {
        let b = self.bytes();
        Ok(match self.peek() {
            Some(b'n') => {
                self.pos = scan::literal_end(b, self.pos, b"null")?;
                Token::Null
            }
            Some(b't') => {
                self.pos = scan::literal_end(b, self.pos, b"true")?;
                Token::Bool(true)
            }
            Some(b'f') => {
                self.pos = scan::literal_end(b, self.pos, b"false")?;
                Token::Bool(false)
            }
            Some(b'"') => Token::Str(self.string()?),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                self.pos = scan::number_end(b, start)?;
                let n = scan::parse_number(scan::sub(self.text, start, self.pos))
                    .ok_or_else(|| Error("number out of range".into()))?;
                match (n.as_u64(), n.as_i64()) {
                    (Some(u), _) => Token::U64(u),
                    (None, Some(i)) => Token::I64(i),
                    _ => Token::F64(n.as_f64().unwrap_or(f64::NAN)),
                }
            }
            Some(b'[') => {
                self.enter()?;
                Token::Seq
            }
            Some(b'{') => {
                self.enter()?;
                Token::Map
            }
            Some(_) => return self.fail("expected value"),
            None => return self.fail("EOF while parsing a value"),
        })
    }

    /// Leaves a container entered by [`Deserializer::token`], expecting its closing `byte`.
    fn close(&mut self, byte: u8) -> Result<(), Error> {
        self.depth -= 1;
        self.expect(
            byte,
            if byte == b']' {
                "expected `,` or `]`"
            } else {
                "expected `,` or `}`"
            },
        )
    }
}

impl<'de> de::Deserializer<'de> for &mut Deserializer<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        // The generic part stays small: one match on an already-read token.
        match self.token()? {
            Token::Null => visitor.visit_unit(),
            Token::Bool(b) => visitor.visit_bool(b),
            Token::Str(Cow::Borrowed(s)) => visitor.visit_borrowed_str(s),
            Token::Str(Cow::Owned(s)) => visitor.visit_string(s),
            Token::U64(n) => visitor.visit_u64(n),
            Token::I64(n) => visitor.visit_i64(n),
            Token::F64(n) => visitor.visit_f64(n),
            Token::Seq => {
                let value = visitor.visit_seq(Seq {
                    de: self,
                    first: true,
                })?;
                self.close(b']')?;
                Ok(value)
            }
            Token::Map => {
                let value = visitor.visit_map(Map {
                    de: self,
                    first: true,
                })?;
                self.close(b'}')?;
                Ok(value)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.peek() == Some(b'n') {
            self.pos = scan::literal_end(self.bytes(), self.pos, b"null")?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == RAW_VALUE_TOKEN {
            let start = scan::skip_ws(self.bytes(), self.pos);
            let end = scan::value_end(self.bytes(), start)?;
            self.pos = end;
            return visitor.visit_map(RawValueAccess {
                raw: Some(scan::sub(self.text, start, end)),
            });
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.peek() {
            Some(b'"') => {
                let name = self.string()?;
                visitor.visit_enum(name.into_owned().into_deserializer())
            }
            Some(b'{') => {
                self.enter()?;
                let value = visitor.visit_enum(Variant { de: self })?;
                self.depth -= 1;
                self.expect(b'}', "expected `}` after the enum variant")?;
                Ok(value)
            }
            _ => Err(de::Error::invalid_type(
                Unexpected::Other("non-enum value"),
                &visitor,
            )),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let start = scan::skip_ws(self.bytes(), self.pos);
        self.pos = scan::value_end(self.bytes(), start)?;
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

struct Seq<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    first: bool,
}

impl<'de> SeqAccess<'de> for Seq<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        match self.de.peek() {
            Some(b']') => return Ok(None),
            Some(b',') if !self.first => self.de.pos += 1,
            _ if self.first => {}
            _ => return self.de.fail("expected `,` or `]`"),
        }
        self.first = false;
        seed.deserialize(&mut *self.de).map(Some)
    }
}

struct Map<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    first: bool,
}

impl<'de> MapAccess<'de> for Map<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        match self.de.peek() {
            Some(b'}') => return Ok(None),
            Some(b',') if !self.first => {
                self.de.pos += 1;
            }
            _ if self.first => {}
            _ => return self.de.fail("expected `,` or `}`"),
        }
        self.first = false;
        if self.de.peek() != Some(b'"') {
            return self.de.fail("key must be a string");
        }
        let key = self.de.string()?;
        seed.deserialize(Key(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        self.de.expect(b':', "expected `:`")?;
        seed.deserialize(&mut *self.de)
    }
}

/// A map key: always a string.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserializer<'de> for Key<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Cow::Borrowed(s) => visitor.visit_borrowed_str(s),
            Cow::Owned(s) => visitor.visit_string(s),
        }
    }

    /// A key names a unit variant, as in a map keyed by an enum.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_enum(self.0.into_owned().into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// The `{"Variant": value}` form of an enum.
struct Variant<'a, 'de> {
    de: &'a mut Deserializer<'de>,
}

impl<'de> EnumAccess<'de> for Variant<'_, 'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        if self.de.peek() != Some(b'"') {
            return self.de.fail("key must be a string");
        }
        let key = self.de.string()?;
        let value = seed.deserialize(Key(key))?;
        self.de.expect(b':', "expected `:`")?;
        Ok((value, self))
    }
}

impl<'de> VariantAccess<'de> for Variant<'_, 'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        de::Deserialize::deserialize(&mut *self.de)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(&mut *self.de)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(&mut *self.de, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_map(&mut *self.de, visitor)
    }
}

/// Hands a `RawValue` its text the way `serde_json` does: a one-entry map whose key is the
/// token and whose value is the raw text.
struct RawValueAccess<'de> {
    raw: Option<&'de str>,
}

impl<'de> MapAccess<'de> for RawValueAccess<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        if self.raw.is_none() {
            return Ok(None);
        }
        seed.deserialize(Key(Cow::Borrowed(RAW_VALUE_TOKEN))).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let raw = self.raw.take().unwrap_or("null");
        seed.deserialize(Key(Cow::Borrowed(raw)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::value::RawValue;

    #[derive(Debug, Deserialize)]
    struct Config {
        mock: bool,
        name: String,
        #[serde(default)]
        budget: Option<u32>,
        raw: Box<RawValue>,
    }

    #[test]
    fn typed_reads_match_serde_json_including_raw_values() {
        let text = r#" {"mock": true, "name": "a\u00e9", "budget": 3, "raw": [1.0, {"x": null}]} "#;
        let ours: Config = from_str(text).unwrap();
        let theirs: Config = serde_json::from_str(text).unwrap();
        assert_eq!(ours.raw.get(), theirs.raw.get());
        assert_eq!(
            (ours.mock, ours.name, ours.budget),
            (theirs.mock, theirs.name, theirs.budget)
        );
    }

    #[test]
    fn errors_name_the_problem_without_printing_floats() {
        let e = from_str::<Config>(r#"{"mock": "yes"}"#).unwrap_err();
        assert!(e.0.contains("expected a boolean"), "{e}");
        let e = from_str::<Config>(r#"{"mock": 1.5}"#).unwrap_err();
        assert!(e.0.contains("floating point number"), "{e}");
        assert!(from_str::<u8>("300").is_err());
        assert!(from_str::<Vec<u8>>("[1,]").is_err());
        assert!(from_str::<u8>("1 2").is_err());
    }

    #[test]
    fn maps_keyed_by_an_enum_read_like_serde_json() {
        #[derive(Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
        #[serde(rename_all = "lowercase")]
        enum Kind {
            Email,
            Phone,
        }
        let text = r#"{"email": "[EMAIL]", "phone": "[PHONE]"}"#;
        let ours: std::collections::BTreeMap<Kind, String> = from_str(text).unwrap();
        let theirs: std::collections::BTreeMap<Kind, String> = serde_json::from_str(text).unwrap();
        assert_eq!(ours, theirs);
        let e = from_str::<std::collections::BTreeMap<Kind, String>>(r#"{"fax": "x"}"#).unwrap_err();
        assert!(e.0.contains("fax"), "{e}");
    }
}
