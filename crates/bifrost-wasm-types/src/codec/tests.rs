//! The codec's unit tests.

use super::*;
use serde_json::{json, Value};

fn parse(hook: Hook, text: &str) -> Envelope<'_> {
    Envelope::parse(hook, text.as_bytes()).unwrap()
}

#[test]
fn every_envelope_writes_its_members_in_the_documented_order() {
    for hook in Hook::ALL {
        for direction in [Direction::Input, Direction::Output] {
            let mut out = Vec::new();
            let ctx = Some("{}");
            match (hook, direction) {
                (Hook::HttpPreHook, Direction::Input) => http_pre_hook::Input {
                    context: ctx,
                    request: ctx,
                }
                .write(&mut out),
                (Hook::HttpPreHook, Direction::Output) => http_pre_hook::Output {
                    context: ctx,
                    ..Default::default()
                }
                .write(&mut out),
                (Hook::HttpPostHook, Direction::Input) => http_post_hook::Input {
                    context: ctx,
                    ..Default::default()
                }
                .write(&mut out),
                (Hook::HttpPostHook, Direction::Output) => http_post_hook::Output {
                    context: ctx,
                    ..Default::default()
                }
                .write(&mut out),
                (Hook::HttpStreamChunkHook, Direction::Input) => http_stream_chunk_hook::Input {
                    context: ctx,
                    ..Default::default()
                }
                .write(&mut out),
                (Hook::HttpStreamChunkHook, Direction::Output) => http_stream_chunk_hook::Output {
                    context: ctx,
                    ..Default::default()
                }
                .write(&mut out),
                (Hook::PreHook, Direction::Input) => pre_hook::Input {
                    context: ctx,
                    ..Default::default()
                }
                .write(&mut out),
                (Hook::PreHook, Direction::Output) => pre_hook::Output {
                    context: ctx,
                    ..Default::default()
                }
                .write(&mut out),
                (Hook::PostHook, Direction::Input) => post_hook::Input {
                    context: ctx,
                    ..Default::default()
                }
                .write(&mut out),
                (Hook::PostHook, Direction::Output) => post_hook::Output {
                    context: ctx,
                    ..Default::default()
                }
                .write(&mut out),
            }
            let text = String::from_utf8(out).unwrap();
            let keys: Vec<String> = scan::Members::new(&text).map(|m| m.key().into_owned()).collect();
            assert_eq!(keys, members(hook, direction), "{hook} {direction:?}: {text}");
            let _: Value = serde_json::from_str(&text).unwrap();
        }
    }
}

#[test]
fn outputs_round_trip_through_write_and_read() {
    let ctx = r#"{"request_id":"r","n":1.50}"#;
    let mut out = Vec::new();
    pre_hook::Output {
        context: Some(ctx),
        request: None,
        short_circuit: Some(r#"{"error":{"error":{"message":"no"}}}"#),
        has_short_circuit: true,
        error: "bad \"thing\"\n".into(),
    }
    .write(&mut out);
    let env = Envelope::parse_as(Hook::PreHook, Direction::Output, &out).unwrap();
    let read = pre_hook::Output::read(&env).unwrap();
    assert_eq!(read.context, Some(ctx));
    assert_eq!(read.request, Some("null"));
    assert!(read.has_short_circuit);
    assert_eq!(read.error, "bad \"thing\"\n");

    let mut out = Vec::new();
    post_hook::Output {
        context: Some("{}"),
        response: Some(r#"{"chat_response":{"id":"x"}}"#),
        error: Some("{}"),
        has_error: false,
        hook_error: "".into(),
    }
    .write(&mut out);
    let env = parse(Hook::PostHook, std::str::from_utf8(&out).unwrap());
    let read = post_hook::Output::read(&env).unwrap();
    assert_eq!(read.response, Some(r#"{"chat_response":{"id":"x"}}"#));
    assert_eq!(changed_payload(read.error), None);
    assert!(read.hook_error.is_empty());
}

#[test]
fn reading_follows_go_key_matching_and_last_duplicate_wins() {
    let text = r#"{"Context":{"a":1},"REQUEST":{"x":1},"request":{"x":2},"Has_Short_Circuit":true}"#;
    let env = parse(Hook::PreHook, text);
    let out = pre_hook::Output::read(&env).unwrap();
    assert_eq!(out.context, Some(r#"{"a":1}"#));
    assert_eq!(out.request, Some(r#"{"x":2}"#));
    assert!(out.has_short_circuit);
    assert_eq!(env.children("context").count(), 1);
    let escaped = parse(Hook::PreHook, r#"{"cont\u0065xt":{"k":true}}"#);
    assert_eq!(escaped.get("context"), Some(r#"{"k":true}"#));
    let (text, members) = escaped.member("Context").unwrap();
    let members: Vec<_> = members.collect();
    assert_eq!(
        (text, members.len(), members[0].raw_key),
        (r#"{"k":true}"#, 1, "k")
    );
    assert!(env.member("response").is_none());
}

#[test]
fn flags_accept_null_and_name_the_member_when_wrong() {
    let env = parse(Hook::PostHook, r#"{"has_error":null}"#);
    assert!(!post_hook::Input::read(&env).unwrap().has_error);
    let env = parse(Hook::PostHook, r#"{"has_error":"yes"}"#);
    let e = post_hook::Input::read(&env).unwrap_err();
    assert_eq!(
        e.message(),
        "post_hook `has_error` must be true or false, found string"
    );
}

#[test]
fn error_texts_are_read_leniently() {
    for (raw, expected) in [
        (r#""boom""#, "boom"),
        (r#""""#, ""),
        ("null", ""),
        ("{}", ""),
        (r#"{"message":"x"}"#, r#"{"message":"x"}"#),
        ("42", "42"),
    ] {
        let text = format!(r#"{{"error":{raw}}}"#);
        let env = parse(Hook::PreHook, &text);
        assert_eq!(pre_hook::Output::read(&env).unwrap().error, expected, "{raw}");
    }
}

#[test]
fn parse_says_what_is_wrong_and_names_the_hook() {
    let cases: [(&[u8], &str); 4] = [
        (b"  ", "pre_hook input is empty"),
        (b"\xff\xfe", "pre_hook input is not valid UTF-8"),
        (b"[1]", "pre_hook input must be a JSON object"),
        (
            b"{\"a\":}",
            "invalid pre_hook input: expected a JSON value at byte 5",
        ),
    ];
    for (bytes, message) in cases {
        let e = Envelope::parse(Hook::PreHook, bytes).unwrap_err();
        assert!(e.message().starts_with(message), "{}", e.message());
    }
    let e = Envelope::parse_as(Hook::PostHook, Direction::Output, b"").unwrap_err();
    assert_eq!(e.message(), "post_hook output is empty");
}

#[test]
fn failure_output_puts_the_message_in_the_hooks_failure_member() {
    for hook in Hook::ALL {
        let mut out = Vec::new();
        write_failure(hook, None, "cannot read input", &mut out);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v[failure_member(hook)], json!("cannot read input"), "{hook}");
        assert_eq!(v["context"], json!({}));
    }
}
