//! Transcription uploads: a `multipart/form-data` body read into the flat Bifrost
//! transcription request.
//!
//! The `file` part becomes `input.file` (base64, as Go encodes `[]byte`) and its file name
//! `input.filename`; `model` is the model (`provider/model` split as everywhere); `stream`
//! says whether to stream; every other field goes into `params`: a field named `key[]` (as
//! OpenAI's clients send `timestamp_granularities[]`) collects into an array `key`,
//! `temperature` becomes a number, and the rest stay strings.

use bifrost_wasm_types::http::encode_base64;
use bifrost_wasm_types::scan;
use bytes::Bytes;

use crate::adapter::{split_model, Api, ApiRequest, BadRequest};

/// Fields that are numbers in Bifrost's transcription parameters.
const NUMBER_FIELDS: &[&str] = &["temperature"];

/// Reads a transcription upload (the whole body, already limited in size).
pub async fn parse_transcription(
    body: Bytes,
    content_type: Option<&str>,
    default_provider: &str,
) -> Result<ApiRequest, BadRequest> {
    let content_type = content_type.ok_or_else(|| {
        BadRequest("a transcription request must be multipart/form-data (no content-type was sent)".into())
    })?;
    let boundary = multer::parse_boundary(content_type).map_err(|e| {
        BadRequest(format!(
            "a transcription request must be multipart/form-data with a boundary (content-type `{content_type}`: {e})"
        ))
    })?;
    let mut form = multer::Multipart::new(
        futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) }),
        boundary,
    );
    let mut file: Option<(Vec<u8>, Option<String>)> = None;
    let mut model = None;
    let mut stream = false;
    let mut params: Vec<(String, Vec<String>, bool)> = Vec::new();
    let bad = |e: multer::Error| BadRequest(format!("the multipart body is malformed: {e}"));
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            let filename = field.file_name().map(str::to_string);
            let bytes = field.bytes().await.map_err(bad)?;
            file = Some((bytes.to_vec(), filename));
            continue;
        }
        let text = field.text().await.map_err(bad)?;
        match name.as_str() {
            "model" => model = Some(text),
            "stream" => {
                stream = match text.trim() {
                    "true" | "True" | "1" => true,
                    "false" | "False" | "0" | "" => false,
                    other => {
                        return Err(BadRequest(format!(
                            "`stream` must be true or false, not `{other}`"
                        )))
                    }
                }
            }
            "" => return Err(BadRequest("a multipart field has no name".into())),
            _ => {
                let (key, array) = match name.strip_suffix("[]") {
                    Some(key) => (key.to_string(), true),
                    None => (name.clone(), false),
                };
                match params.iter_mut().find(|(k, _, _)| *k == key) {
                    Some((_, values, is_array)) => {
                        values.push(text);
                        *is_array = true;
                    }
                    None => params.push((key, vec![text], array)),
                }
            }
        }
    }
    let (bytes, filename) =
        file.ok_or_else(|| BadRequest("`file` is required (the audio to transcribe)".into()))?;
    let model = model.ok_or_else(|| BadRequest("`model` is required".into()))?;
    let (provider, model) = split_model(&model, default_provider);
    let mut out = Vec::with_capacity(bytes.len() * 4 / 3 + 256);
    out.extend_from_slice(b"{\"provider\":");
    scan::write_string(&mut out, &provider);
    out.extend_from_slice(b",\"model\":");
    scan::write_string(&mut out, &model);
    out.extend_from_slice(b",\"input\":{\"file\":");
    scan::write_string(&mut out, &encode_base64(&bytes));
    if let Some(filename) = &filename {
        out.extend_from_slice(b",\"filename\":");
        scan::write_string(&mut out, filename);
    }
    out.push(b'}');
    if !params.is_empty() {
        out.extend_from_slice(b",\"params\":{");
        for (i, (key, values, array)) in params.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            scan::write_string(&mut out, key);
            out.push(b':');
            let write = |out: &mut Vec<u8>, v: &str| match v.trim().parse::<f64>() {
                Ok(n) if NUMBER_FIELDS.contains(&key.as_str()) && n.is_finite() => scan::write_f64(out, n),
                _ => scan::write_string(out, v),
            };
            if *array {
                out.push(b'[');
                for (j, v) in values.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    write(&mut out, v);
                }
                out.push(b']');
            } else {
                write(&mut out, &values[0]);
            }
        }
        out.push(b'}');
    }
    out.push(b'}');
    let flat = String::from_utf8(out).expect("written from UTF-8 parts");
    ApiRequest::from_bifrost(Api::Transcriptions, &flat, stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(parts: &[(&str, Option<&str>, &[u8])]) -> (Bytes, String) {
        let boundary = "XyZ-boundary";
        let mut body = Vec::new();
        for (name, filename, value) in parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            match filename {
                Some(f) => body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: audio/wav\r\n\r\n").as_bytes(),
                ),
                None => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
            }
            body.extend_from_slice(value);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        (
            Bytes::from(body),
            format!("multipart/form-data; boundary={boundary}"),
        )
    }

    #[tokio::test]
    async fn an_upload_becomes_the_flat_bifrost_transcription_request() {
        let (body, ct) = form(&[
            ("model", None, b"openai/whisper-1"),
            ("file", Some("a.wav"), b"RIFF\x00\xff"),
            ("language", None, b"en"),
            ("temperature", None, b"0.5"),
            ("timestamp_granularities[]", None, b"word"),
            ("timestamp_granularities[]", None, b"segment"),
            ("stream", None, b"true"),
        ]);
        let req = parse_transcription(body, Some(&ct), "mock").await.unwrap();
        assert_eq!(
            (req.provider.as_str(), req.model.as_str(), req.stream),
            ("openai", "whisper-1", true)
        );
        assert_eq!(
            req.to_flat(),
            r#"{"provider":"openai","model":"whisper-1","input":{"file":"UklGRgD/","filename":"a.wav"},"params":{"language":"en","temperature":0.5,"timestamp_granularities":["word","segment"]}}"#
        );
    }

    #[tokio::test]
    async fn bad_uploads_say_what_is_wrong() {
        let (no_file, ct) = form(&[("model", None, b"m")]);
        let (no_model, _) = form(&[("file", Some("a"), b"x")]);
        let (bad_stream, _) = form(&[
            ("model", None, b"m"),
            ("file", Some("a"), b"x"),
            ("stream", None, b"yes"),
        ]);
        for (body, ct, needle) in [
            (no_file, Some(ct.as_str()), "`file` is required"),
            (no_model, Some(ct.as_str()), "`model` is required"),
            (bad_stream, Some(ct.as_str()), "`stream` must be true or false"),
            (
                Bytes::from_static(b"{}"),
                Some("application/json"),
                "multipart/form-data",
            ),
            (Bytes::from_static(b"{}"), None, "no content-type"),
            (
                Bytes::from_static(b"--XyZ-boundary\r\nbroken"),
                Some(ct.as_str()),
                "malformed",
            ),
        ] {
            let err = parse_transcription(body, ct, "mock").await.unwrap_err();
            assert!(err.0.contains(needle), "{needle}: {}", err.0);
        }
    }
}
