//! Unit tests of `writer`.

use super::*;
use std::collections::BTreeMap;

#[derive(serde::Serialize)]
enum E {
    Unit,
    New(u8),
    Tuple(u8, bool),
    Struct { a: i32 },
}

#[derive(serde::Serialize)]
struct All {
    b: bool,
    i: i64,
    u: u64,
    f: f64,
    f32: f32,
    big: i128,
    s: String,
    c: char,
    o: Option<u8>,
    v: Vec<E>,
    m: BTreeMap<u32, &'static str>,
    t: (u8, &'static str),
    raw: crate::RawJson,
    nan: f64,
}

#[test]
fn writes_what_serde_json_writes() {
    let value = All {
        b: true,
        i: -42,
        u: u64::MAX,
        f: 0.1 + 0.2,
        f32: 1.5,
        big: -170141183460469231731687303715884105728,
        s: "q\"\\\n\u{1}é😀".into(),
        c: '\n',
        o: None,
        v: vec![E::Unit, E::New(1), E::Tuple(2, false), E::Struct { a: -1 }],
        m: [(1, "one"), (20, "twenty")].into_iter().collect(),
        t: (7, "x"),
        raw: crate::RawJson::from_string(r#"{ "kept" : 1.50 }"#.into()).unwrap(),
        nan: f64::NAN,
    };
    assert_eq!(to_string(&value).unwrap(), serde_json::to_string(&value).unwrap());
}

#[test]
fn map_keys_that_are_not_strings_or_integers_are_an_error() {
    let mut m = BTreeMap::new();
    m.insert(vec![1u8], 1);
    assert_eq!(to_string(&m).unwrap_err().0, "key must be a string");
    assert!(serde_json::to_string(&m).is_err());
}
