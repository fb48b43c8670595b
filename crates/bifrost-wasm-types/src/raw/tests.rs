//! Unit tests of `raw`.

use super::*;
use serde_json::json;

fn raw(s: &str) -> RawJson {
    RawJson::from_string(s.to_string()).unwrap()
}

#[test]
fn set_path_splices_and_keeps_other_bytes_identical() {
    let mut r = raw(r#"{"a": 1.0, "b": {"model": "gpt-4", "x": 123456789012345678901234567890}}"#);
    r.set_path(&["b", "model"], "m2").unwrap();
    assert_eq!(
        r.as_str(),
        r#"{"a": 1.0, "b": {"model": "m2", "x": 123456789012345678901234567890}}"#
    );
}

#[test]
fn set_path_appends_missing_key_and_creates_objects() {
    let mut r = raw(r#"{"a":1}"#);
    r.set_path(&["b", "c"], &true).unwrap();
    assert_eq!(r.as_str(), r#"{"a":1,"b":{"c":true}}"#);
    let mut e = raw("{ }");
    e.set_path(&["k"], "v").unwrap();
    assert_eq!(e.to_value().unwrap(), json!({"k": "v"}));
}

#[test]
fn remove_drops_member_and_one_comma() {
    for (input, key, expected) in [
        (r#"{"a":1,"b":2,"c":3}"#, "b", json!({"a":1,"c":3})),
        (r#"{"a":1,"b":2}"#, "b", json!({"a":1})),
        (r#"{"a":1,"b":2}"#, "a", json!({"b":2})),
        (r#"{"a":1}"#, "a", json!({})),
    ] {
        let mut r = raw(input);
        assert!(r.remove(key).unwrap());
        assert_eq!(r.to_value().unwrap(), expected, "{input}");
    }
    assert!(!raw(r#"{"a":1}"#).remove("zz").unwrap());
}

#[test]
fn get_ignore_case_prefers_exact_key() {
    let r = raw(r#"{"chatrequest": 1, "ChatRequest": 2}"#);
    assert_eq!(r.get_ignore_case("ChatRequest"), Some("2"));
    assert_eq!(r.get_ignore_case("CHATREQUEST"), Some("1"));
    assert_eq!(r.get("CHATREQUEST"), None);
}

#[test]
fn edit_rewrites_only_changed_fields() {
    #[derive(Serialize, Deserialize)]
    struct View {
        model: String,
        #[serde(default)]
        n: Option<u32>,
    }
    let mut r = raw(r#"{"model":"a", "big": 123456789012345678901234567890, "f": 1.0, "n": null}"#);
    r.edit(|v: &mut View| v.model = "b".into()).unwrap();
    assert_eq!(
        r.as_str(),
        r#"{"model":"b","big":123456789012345678901234567890,"f":1.0,"n":null}"#
    );
}

#[test]
fn edit_without_change_keeps_text() {
    let text = r#"{ "model" : "a" , "z": [1, 2.50] }"#;
    let mut r = raw(text);
    r.edit(|v: &mut Value| {
        let _ = v.get("model");
    })
    .unwrap();
    assert_eq!(r.as_str(), text);
}

#[test]
fn merge_arrays_elementwise_and_replace_on_length_change() {
    let text = r#"[{"a":1,"k":1.50},{"a":2}]"#;
    let before = json!([{"a":1},{"a":2}]);
    let after = json!([{"a":1},{"a":3}]);
    let mut out = String::new();
    merge_into(text, &before, &after, &mut out).unwrap();
    assert_eq!(out, r#"[{"a":1,"k":1.50},{"a":3}]"#);
    let mut out = String::new();
    merge_into(text, &before, &json!([1]), &mut out).unwrap();
    assert_eq!(out, "[1]");
}
