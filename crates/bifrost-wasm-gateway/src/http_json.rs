//! The HTTP request and response as the HTTP hooks see them (Bifrost's `HTTPRequest` and
//! `HTTPResponse` JSON: base64 bodies, header names in Go's canonical form).

use axum::http::{HeaderMap, Method};
use bifrost_wasm_types::http::encode_base64;
use bifrost_wasm_types::raw::RawJson;
use bifrost_wasm_types::scan;

/// Go's canonical header key (`content-type` → `Content-Type`), which is how Bifrost's HTTP
/// server shows header names to plugins.
pub(crate) fn canonical_header(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    out
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A JSON object of strings; repeated keys are joined with `", "` (as HTTP does for
/// repeated headers).
fn write_string_map<'a>(out: &mut Vec<u8>, pairs: impl Iterator<Item = (String, &'a str)>) {
    let mut merged: Vec<(String, String)> = Vec::new();
    for (k, v) in pairs {
        match merged.iter_mut().find(|(mk, _)| *mk == k) {
            Some((_, mv)) => {
                mv.push_str(", ");
                mv.push_str(v);
            }
            None => merged.push((k, v.to_string())),
        }
    }
    out.push(b'{');
    for (i, (k, v)) in merged.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        scan::write_string(out, k);
        out.push(b':');
        scan::write_string(out, v);
    }
    out.push(b'}');
}

/// A base64 body as a JSON string (base64 needs no escaping).
fn write_body(out: &mut Vec<u8>, body: &[u8]) {
    out.push(b'"');
    out.extend_from_slice(encode_base64(body).as_bytes());
    out.push(b'"');
}

fn finish(out: Vec<u8>) -> RawJson {
    RawJson::from_validated(String::from_utf8(out).expect("written from UTF-8 parts"))
}

/// The HTTP request as plugins see it: `{"method","path","headers","query","body"}`.
pub(crate) fn http_request_json(
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> RawJson {
    let mut out = Vec::with_capacity(body.len() * 4 / 3 + 512);
    out.extend_from_slice(b"{\"method\":");
    scan::write_string(&mut out, method.as_str());
    out.extend_from_slice(b",\"path\":");
    scan::write_string(&mut out, path);
    out.extend_from_slice(b",\"headers\":");
    write_string_map(
        &mut out,
        headers
            .iter()
            .filter_map(|(k, v)| Some((canonical_header(k.as_str()), v.to_str().ok()?))),
    );
    out.extend_from_slice(b",\"query\":");
    let pairs: Vec<(String, String)> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect();
    write_string_map(&mut out, pairs.iter().map(|(k, v)| (k.clone(), v.as_str())));
    out.extend_from_slice(b",\"body\":");
    write_body(&mut out, body);
    out.push(b'}');
    finish(out)
}

/// The HTTP response as `http_post_hook` sees it: `{"status_code","headers","body"}`.
pub(crate) fn http_response_json(status: u16, headers: &[(String, String)], body: &[u8]) -> RawJson {
    let mut out = Vec::with_capacity(body.len() * 4 / 3 + 128);
    out.extend_from_slice(b"{\"status_code\":");
    scan::write_u64(&mut out, u64::from(status));
    out.extend_from_slice(b",\"headers\":");
    write_string_map(
        &mut out,
        headers.iter().map(|(k, v)| (canonical_header(k), v.as_str())),
    );
    out.extend_from_slice(b",\"body\":");
    write_body(&mut out, body);
    out.push(b'}');
    finish(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn header_names_take_gos_canonical_form() {
        assert_eq!(canonical_header("content-type"), "Content-Type");
        assert_eq!(canonical_header("x-request-id"), "X-Request-Id");
        assert_eq!(canonical_header("AUTHORIZATION"), "Authorization");
    }

    #[test]
    fn http_request_json_has_base64_body_and_decoded_query() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.append("x-tag", HeaderValue::from_static("a"));
        headers.append("x-tag", HeaderValue::from_static("b"));
        let json = http_request_json(
            &Method::POST,
            "/v1/chat/completions",
            Some("a=1&b=x%20y+z&flag"),
            &headers,
            b"{}",
        );
        assert_eq!(
            json.as_str(),
            r#"{"method":"POST","path":"/v1/chat/completions","headers":{"Content-Type":"application/json","X-Tag":"a, b"},"query":{"a":"1","b":"x y z","flag":""},"body":"e30="}"#
        );
        scan::validate(json.as_str()).unwrap();
    }

    #[test]
    fn http_response_json_quotes_what_needs_quoting() {
        let json = http_response_json(200, &[("x-note".into(), "say \"hi\"".into())], b"ok");
        assert_eq!(
            json.as_str(),
            r#"{"status_code":200,"headers":{"X-Note":"say \"hi\""},"body":"b2s="}"#
        );
    }

    #[test]
    fn percent_decoding_keeps_invalid_escapes() {
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("%e2%82%ac"), "\u{20ac}");
    }
}
