//! What a hook's output must look like (design.md §1), checked the way `check` reports it.
//!
//! [`examine`] reads one output against the input it answers: envelope shape, context echo,
//! flags, request/response shapes, and what changed. [`lossless`] follows every sentinel field
//! of the input into the output. [`examine_bad`] is the lighter reading used for bad inputs.

use bifrost_wasm_host::Hook;
use bifrost_wasm_types::codec::{
    self, http_post_hook, http_pre_hook, http_stream_chunk_hook, post_hook, pre_hook, Direction, Envelope,
};
use bifrost_wasm_types::shape::{LlmRequest, LlmResponse, RequestShape, ResponseShape};

use crate::corpus::SENTINEL_PREFIX;
use crate::json::{self, ChangeKind, Json, Path, Respelling};

/// The result of one check row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// The plugin does what the contract asks.
    Pass,
    /// Allowed, but likely to surprise a host or a user.
    Warn,
    /// Breaks the contract.
    Fail,
}

impl Verdict {
    /// `PASS`, `WARN` or `FAIL`.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        }
    }
}

/// Findings about one output, sorted by severity.
#[derive(Debug, Default)]
pub struct Findings {
    /// Contract violations.
    pub failures: Vec<String>,
    /// Surprises.
    pub warnings: Vec<String>,
    /// What the hook did (for a PASS reason).
    pub notes: Vec<String>,
}

impl Findings {
    /// The verdict and reason of a row built from these findings; `fallback` is the reason
    /// when there is nothing to say.
    pub fn conclude(self, fallback: &str) -> (Verdict, String) {
        if !self.failures.is_empty() {
            let mut parts = self.failures;
            parts.extend(self.warnings);
            (Verdict::Fail, parts.join("; "))
        } else if !self.warnings.is_empty() {
            let mut parts = self.warnings;
            parts.extend(self.notes);
            (Verdict::Warn, parts.join("; "))
        } else if self.notes.is_empty() {
            (Verdict::Pass, fallback.to_string())
        } else {
            (Verdict::Pass, self.notes.join("; "))
        }
    }
}

/// The output member in which `hook` reports its own failure (`hook_error` for `post_hook`,
/// whose `error` is the request's error).
pub fn error_field(hook: Hook) -> &'static str {
    codec::failure_member(hook)
}

/// The hook's own error message, if its output reports one.
pub fn reported_error(hook: Hook, output: &Json) -> Option<String> {
    match output.get(error_field(hook))? {
        Json::Null => None,
        Json::String(s) if s.is_empty() => None,
        Json::String(s) => Some(s.clone()),
        other => Some(other.excerpt(200)),
    }
}

/// Whether a host can read the output with the one codec of hook envelopes (as the gateway
/// does): one JSON object whose flags are booleans.
fn decodes(hook: Hook, text: &str) -> Result<(), String> {
    let envelope = Envelope::parse_as(hook, Direction::Output, text.as_bytes())
        .map_err(|e| format!("a host cannot decode the output ({e})"))?;
    let read = match hook {
        Hook::HttpPreHook => http_pre_hook::Output::read(&envelope).map(drop),
        Hook::HttpPostHook => http_post_hook::Output::read(&envelope).map(drop),
        Hook::HttpStreamChunkHook => http_stream_chunk_hook::Output::read(&envelope).map(drop),
        Hook::PreHook => pre_hook::Output::read(&envelope).map(drop),
        Hook::PostHook => post_hook::Output::read(&envelope).map(drop),
    };
    read.map_err(|e| format!("a host cannot decode the output ({e})"))
}

/// Lists up to `max` items, then how many more.
pub fn list(items: &[String], max: usize) -> String {
    let mut text = items.iter().take(max).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > max {
        text.push_str(&format!(" and {} more", items.len() - max));
    }
    text
}

fn prefixed(prefix: &str, path: &Path) -> String {
    if path.0.is_empty() {
        return prefix.to_string();
    }
    let path = path.to_string();
    if path.starts_with('[') {
        format!("{prefix}{path}")
    } else {
        format!("{prefix}.{path}")
    }
}

fn is_sentinel_path(path: &Path) -> bool {
    path.0
        .iter()
        .any(|s| matches!(s, json::Seg::Key(k) if k.starts_with(SENTINEL_PREFIX)))
}

/// Parses an output and checks it is a JSON object a host can decode.
pub fn read_output(hook: Hook, text: &str) -> Result<Json, String> {
    let tree = json::parse(text);
    if let Ok(tree) = &tree {
        if !matches!(tree, Json::Object(_)) {
            return Err(format!(
                "the output is {}, not a JSON object: {}",
                tree.kind(),
                tree.excerpt(80)
            ));
        }
    }
    // Before our own reading: the codec a host reads it with explains best why it cannot use
    // the output.
    decodes(hook, text)?;
    tree.map_err(|e| format!("the output cannot be read: {e}"))
}

fn check_context(input: &Json, output: &Json, f: &mut Findings) {
    let sent = input.get("context");
    match output.get("context") {
        None => f.failures.push(
            "no `context` in the output: a hook must return the context it received, plus its own keys"
                .into(),
        ),
        Some(returned @ Json::Object(_)) => {
            let Some(sent @ Json::Object(_)) = sent else {
                return;
            };
            let mut dropped = Vec::new();
            let mut changed = Vec::new();
            for (key, value) in sent.members() {
                match returned.get(key) {
                    None => dropped.push(key.clone()),
                    Some(v) if !json::same(value, v) => changed.push(format!("context.{key}")),
                    Some(_) => {}
                }
            }
            // Sorted: a context is a map (Go's is unordered), so its order means nothing.
            let mut added: Vec<String> = returned
                .members()
                .iter()
                .filter(|(k, _)| sent.get(k).is_none())
                .map(|(k, _)| k.clone())
                .collect();
            added.sort();
            if !dropped.is_empty() {
                f.failures.push(format!(
                    "dropped context key(s) {}: return every key received (Bifrost may rely on them)",
                    list(&dropped, 4)
                ));
            }
            if !changed.is_empty() {
                f.notes.push(format!("changed {}", list(&changed, 3)));
            }
            if !added.is_empty() {
                f.notes.push(format!("context +{}", list(&added, 3)));
            }
        }
        Some(other) if sent.is_some_and(|s| !s.is_null()) => f.failures.push(format!(
            "`context` is {} instead of the object received: return the context (plus your own keys)",
            other.kind()
        )),
        Some(_) => {}
    }
}

/// Notes the changes between a payload sent and the one returned.
fn note_changes(prefix: &str, sent: &Json, returned: &Json, f: &mut Findings) {
    let changes: Vec<String> = json::diff(sent, returned)
        .into_iter()
        .map(|c| match c.kind {
            ChangeKind::Changed => prefixed(prefix, &c.path),
            ChangeKind::Added => format!("{} (added)", prefixed(prefix, &c.path)),
            ChangeKind::Removed => format!("{} (removed)", prefixed(prefix, &c.path)),
        })
        .collect();
    if changes.is_empty() {
        f.notes.push(format!("{prefix} unchanged"));
    } else {
        f.notes.push(format!("changed {}", list(&changes, 3)));
    }
}

fn bool_flag(output: &Json, key: &str) -> bool {
    matches!(output.get(key), Some(Json::Bool(true)))
}

/// The shape name of a response for messages.
fn response_shape_name(shape: ResponseShape) -> &'static str {
    match shape {
        ResponseShape::GoEnvelope => "a Go envelope ({\"ChatResponse\": …})",
        ResponseShape::Snake => "{\"chat_response\": …}",
        ResponseShape::Flat => "a bare chat completion",
    }
}

fn check_pre_hook(input: &Json, output: &Json, f: &mut Findings) {
    let sent = input.get("request").unwrap_or(&Json::Null);
    let sent_shape = LlmRequest::from_json(&sent.compact()).ok().map(|r| r.shape());
    if bool_flag(output, "has_short_circuit") {
        let Some(sc @ Json::Object(_)) = output.get("short_circuit") else {
            f.failures.push(
                "has_short_circuit is true but short_circuit is not an object: put {\"response\": …} or \
                 {\"error\": …} in it"
                    .into(),
            );
            return;
        };
        let response = sc.get_ignore_case("Response").filter(|r| !r.is_null());
        let error = sc.get_ignore_case("Error").filter(|e| !e.is_null());
        match (response, error) {
            (None, None) => f.failures.push(
                "has_short_circuit is true but short_circuit has neither a response nor an error".into(),
            ),
            (Some(response), _) => {
                f.notes.push("short-circuited with a response".into());
                let shape = LlmResponse::from_json(&response.compact()).ok();
                let expected = match sent_shape {
                    Some(RequestShape::GoEnvelope) => ResponseShape::GoEnvelope,
                    _ => ResponseShape::Snake,
                };
                match shape {
                    Some(r) if !r.has_chat() => f.warnings.push(
                        "the short-circuit response carries no chat response (expected ChatResponse or \
                         chat_response)"
                            .into(),
                    ),
                    Some(r) if r.shape() != expected && expected == ResponseShape::GoEnvelope => {
                        f.failures.push(format!(
                            "the request came as a Go envelope but the short-circuit response is {}: a Go \
                             host does not match chat_response to ChatResponse, so the answer is lost; answer \
                             in the request's shape ({{\"Response\": {{\"ChatResponse\": …}}}})",
                            response_shape_name(r.shape())
                        ))
                    }
                    Some(r) if r.shape() != expected => f.warnings.push(format!(
                        "the request came {} but the short-circuit response is {}; the seed answers with \
                         {{\"response\": {{\"chat_response\": …}}}}",
                        sent_shape.map_or("flat", RequestShape::name),
                        response_shape_name(r.shape())
                    )),
                    _ => {}
                }
            }
            (None, Some(error)) => {
                let message = error
                    .get_ignore_case("error")
                    .and_then(|e| e.get_ignore_case("message"))
                    .and_then(Json::as_str)
                    .unwrap_or("");
                f.notes
                    .push(format!("short-circuited with error {}", json::quote(message)));
            }
        }
        return;
    }
    if output.get("short_circuit").is_some_and(|s| !s.is_null()) {
        f.warnings.push(
            "short_circuit is set but has_short_circuit is not true: hosts ignore it; set \
             has_short_circuit: true to answer"
                .into(),
        );
    }
    match output.get("request") {
        None | Some(Json::Null) => f.notes.push("request unchanged (null)".into()),
        Some(returned @ Json::Object(_)) => {
            if let (Some(sent_shape), Ok(req)) = (sent_shape, LlmRequest::from_json(&returned.compact())) {
                if req.shape() != sent_shape {
                    f.failures.push(format!(
                        "the request came as {sent_shape} and went back as {}: a host looking for the \
                         original layout loses it; write edits back in the shape that came in",
                        req.shape()
                    ));
                    return;
                }
            }
            note_changes("request", sent, returned, f);
        }
        Some(other) => f.failures.push(format!(
            "`request` is {}: return the request object (or null for unchanged)",
            other.kind()
        )),
    }
}

fn check_post_hook(input: &Json, output: &Json, f: &mut Findings) {
    let sent = input.get("response").unwrap_or(&Json::Null);
    match output.get("response") {
        None | Some(Json::Null) => {
            if !sent.is_null() {
                f.notes.push("response unchanged (null)".into());
            }
        }
        Some(returned @ Json::Object(_)) => {
            let sent_shape = LlmResponse::from_json(&sent.compact())
                .ok()
                .filter(|r| r.has_chat())
                .map(|r| r.shape());
            let returned_shape = LlmResponse::from_json(&returned.compact())
                .ok()
                .map(|r| r.shape());
            match (sent_shape, returned_shape) {
                (Some(a), Some(b)) if a != b => f.failures.push(format!(
                    "the response came as {} and went back as {}: a host looking for the original layout \
                     loses it; write edits back in the shape that came in",
                    response_shape_name(a),
                    response_shape_name(b)
                )),
                _ => note_changes("response", sent, returned, f),
            }
        }
        Some(other) => f.failures.push(format!(
            "`response` is {}: return the response object (or null)",
            other.kind()
        )),
    }
    let had_error = bool_flag(input, "has_error");
    let has_error = bool_flag(output, "has_error");
    if has_error {
        match output.get("error") {
            Some(returned @ Json::Object(_)) => {
                if let Some(sent) = input.get("error") {
                    note_changes("error", sent, returned, f);
                }
            }
            _ => f.failures.push(
                "has_error is true but `error` is not an object: return the Bifrost error (or clear \
                 has_error)"
                    .into(),
            ),
        }
    }
    if had_error != has_error {
        f.notes.push(if has_error {
            "turned the response into an error".into()
        } else {
            "recovered from the error".into()
        });
    }
}

fn check_http_pre_hook(input: &Json, output: &Json, f: &mut Findings) {
    if bool_flag(output, "has_response") {
        match output.get("response") {
            Some(r @ Json::Object(_)) => match r.get("status_code") {
                Some(Json::Number(n)) => f.notes.push(format!("answered with HTTP {n}")),
                _ => f.failures.push(
                    "has_response is true but response.status_code is not a number: set the HTTP status"
                        .into(),
                ),
            },
            _ => f.failures.push(
                "has_response is true but `response` is not an object: return {\"status_code\", \
                 \"headers\", \"body\"}"
                    .into(),
            ),
        }
        return;
    }
    let sent = input.get("request").unwrap_or(&Json::Null);
    match output.get("request") {
        None | Some(Json::Null) => f.notes.push("request unchanged (null)".into()),
        Some(returned @ Json::Object(_)) => note_changes("request", sent, returned, f),
        Some(other) => f.failures.push(format!(
            "`request` is {}: return the HTTP request object (or null for unchanged)",
            other.kind()
        )),
    }
}

fn check_http_post_hook(output: &Json, f: &mut Findings) {
    if output.get("response").is_some_and(|r| !r.is_null()) {
        f.warnings.push(
            "returned a `response`, which http_post_hook cannot change in Bifrost (it is ignored); record \
             findings in the context instead"
                .into(),
        );
    }
}

fn check_stream_chunk(input: &Json, output: &Json, f: &mut Findings) {
    let skip = bool_flag(output, "skip");
    let has_chunk = bool_flag(output, "has_chunk");
    if skip {
        if has_chunk {
            f.warnings
                .push("both skip and has_chunk are true; skip wins".into());
        }
        f.notes.push("dropped the chunk (skip)".into());
        return;
    }
    match output.get("chunk") {
        Some(returned @ Json::Object(_)) => {
            if !has_chunk {
                f.warnings.push(
                    "returned a chunk with has_chunk false and skip false: set has_chunk: true to send \
                     it or skip: true to drop it"
                        .into(),
                );
            }
            let sent = input.get("chunk").unwrap_or(&Json::Null);
            note_changes("chunk", sent, returned, f);
        }
        None | Some(Json::Null) if has_chunk => f
            .failures
            .push("has_chunk is true but `chunk` is null: return the chunk object".into()),
        None | Some(Json::Null) => f.warnings.push(
            "neither a chunk nor skip: set has_chunk: true with the chunk, or skip: true to drop it".into(),
        ),
        Some(other) => f.failures.push(format!(
            "`chunk` is {}: a chunk is a JSON object (not base64 text)",
            other.kind()
        )),
    }
}

/// Examines the output of `hook` for a valid input.
pub fn examine(hook: Hook, input: &Json, output_text: &str) -> Findings {
    let mut f = Findings::default();
    let output = match read_output(hook, output_text) {
        Ok(tree) => tree,
        Err(e) => {
            f.failures.push(e);
            return f;
        }
    };
    check_context(input, &output, &mut f);
    match hook {
        Hook::PreHook => check_pre_hook(input, &output, &mut f),
        Hook::PostHook => check_post_hook(input, &output, &mut f),
        Hook::HttpPreHook => check_http_pre_hook(input, &output, &mut f),
        Hook::HttpPostHook => check_http_post_hook(&output, &mut f),
        Hook::HttpStreamChunkHook => check_stream_chunk(input, &output, &mut f),
    }
    if let Some(message) = reported_error(hook, &output) {
        f.warnings.push(format!(
            "the hook reported an error for a valid input: {}",
            json::quote(&message)
        ));
    }
    f
}

/// Examines the output of `hook` for a bad input: a JSON object a host can decode, and (when
/// `error_expected`) an error saying what was wrong.
pub fn examine_bad(hook: Hook, output_text: &str, error_expected: bool) -> Findings {
    let mut f = Findings::default();
    match read_output(hook, output_text) {
        Err(e) => f.failures.push(e),
        Ok(output) => match reported_error(hook, &output) {
            Some(_) => f.notes.push("error reported".into()),
            None if error_expected => f
                .warnings
                .push(format!("accepted it without setting `{}`", error_field(hook))),
            None => f.notes.push("no error".into()),
        },
    }
    f
}

/// The payloads of `hook` that an output may carry back: `(member, carried)`, where
/// `carried` is false when the output legitimately does not return it (short-circuit, skip).
fn carried_payloads(hook: Hook, input: &Json, output: &Json) -> Vec<(&'static str, bool)> {
    match hook {
        Hook::PreHook => vec![("request", !bool_flag(output, "has_short_circuit"))],
        Hook::HttpPreHook => vec![("request", !bool_flag(output, "has_response"))],
        Hook::PostHook => {
            if bool_flag(input, "has_error") {
                vec![("error", true), ("response", true)]
            } else {
                vec![("response", true)]
            }
        }
        Hook::HttpStreamChunkHook => vec![("chunk", !bool_flag(output, "skip"))],
        Hook::HttpPostHook => vec![],
    }
}

/// Follows every sentinel of `input` into `output_text` (context and the payloads the output
/// carries). Lost or altered sentinels fail; other edits are reported as changes.
pub fn lossless(hook: Hook, input: &Json, output_text: &str) -> Findings {
    let mut f = Findings::default();
    let output = match read_output(hook, output_text) {
        Ok(tree) => tree,
        Err(e) => {
            f.failures.push(e);
            return f;
        }
    };
    let mut pairs: Vec<(&str, &Json, &Json)> = Vec::new();
    let mut checked = 0usize;
    let mut lost = Vec::new();
    let mut altered = Vec::new();
    let mut reformatted = Vec::new();
    let mut unchanged_by_null = Vec::new();
    let mut not_carried = Vec::new();
    match output.get("context") {
        Some(ctx @ Json::Object(_)) => {
            pairs.push(("context", input.get("context").unwrap_or(&Json::Null), ctx))
        }
        _ => lost.push("context (the whole context is missing)".to_string()),
    }
    for (member, carried) in carried_payloads(hook, input, &output) {
        let sent = input.get(member).unwrap_or(&Json::Null);
        if !carried {
            not_carried.push(member);
            continue;
        }
        match output.get(member) {
            None | Some(Json::Null) if !sent.is_null() => unchanged_by_null.push(member),
            Some(returned) => pairs.push((member, sent, returned)),
            None => {}
        }
    }
    let mut changes = Vec::new();
    for (member, sent, returned) in &pairs {
        for (path, value) in sent.find_members(&|k| k.starts_with(SENTINEL_PREFIX)) {
            // A sentinel inside another sentinel is covered by its parent.
            if path.0[..path.0.len() - 1]
                .iter()
                .any(|s| matches!(s, json::Seg::Key(k) if k.starts_with(SENTINEL_PREFIX)))
            {
                continue;
            }
            checked += 1;
            let name = prefixed(member, &path);
            match returned.at(&path) {
                Some(got) if json::identical(value, got) => {}
                Some(got) => match json::number_respellings(value, got) {
                    Some(numbers) => {
                        for number in numbers {
                            let at = prefixed(&name, &number.path);
                            let line = format!("{at}: {} -> {}", number.sent, number.got);
                            match number.kind() {
                                Respelling::Formatting => reformatted.push(line),
                                Respelling::IntegerBecameFloat => altered.push(format!(
                                    "{line} (an integer became a float: a Go int field refuses it)"
                                )),
                                Respelling::PrecisionLost => {
                                    altered.push(format!("{line} (digits lost: a float64 round trip)"))
                                }
                                Respelling::ValueChanged => {
                                    altered.push(format!("{line} (a different value)"))
                                }
                            }
                        }
                    }
                    None => altered.push(format!(
                        "{name}: sent {}, got {}",
                        value.excerpt(60),
                        got.excerpt(60)
                    )),
                },
                None => {
                    let key = path.last_key().unwrap_or_default();
                    let elsewhere = returned.find_members(&|k| k == key);
                    if let Some((moved_to, _)) = elsewhere.iter().find(|(_, v)| json::same(value, v)) {
                        changes.push(format!("{name} (moved to {})", prefixed(member, moved_to)));
                    } else if let Some((at, got)) = elsewhere.first() {
                        altered.push(format!(
                            "{name}: sent {}, got {} at {}",
                            value.excerpt(60),
                            got.excerpt(60),
                            prefixed(member, at)
                        ));
                    } else {
                        lost.push(name);
                    }
                }
            }
        }
        if *member != "context" {
            for change in json::diff(sent, returned) {
                if !is_sentinel_path(&change.path) {
                    changes.push(prefixed(member, &change.path));
                }
            }
        }
    }
    if !lost.is_empty() {
        f.failures.push(format!(
            "lost {}: keep fields you do not know (decode into raw JSON or a catch-all map, not only typed \
             fields)",
            list(&lost, 3)
        ));
    }
    if !altered.is_empty() {
        f.failures.push(format!(
            "altered {}: values must come back as they came (keep numbers as raw JSON or json.Number, \
             not float64)",
            list(&altered, 2)
        ));
    }
    if !reformatted.is_empty() {
        f.warnings.push(format!(
            "respelled {}: the same values, only formatted differently, so a Go host reads them alike; \
             passing them through as written keeps byte-level comparisons (signatures, caches) stable",
            list(&reformatted, 2)
        ));
    }
    if f.failures.is_empty() {
        f.notes.push(format!(
            "{checked} sentinel{} intact",
            if checked == 1 { "" } else { "s" }
        ));
        for member in unchanged_by_null {
            f.notes.push(format!("{member} returned as null (unchanged)"));
        }
        for member in not_carried {
            f.notes
                .push(format!("{member} not returned (the hook answered itself)"));
        }
        if !changes.is_empty() {
            f.notes.push(format!("changed on purpose: {}", list(&changes, 3)));
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::lossless_cases;

    fn input(hook: Hook, variant: &str) -> (Json, String) {
        let case = lossless_cases(hook)
            .into_iter()
            .find(|c| c.variant == variant)
            .unwrap();
        (json::parse(&case.input).unwrap(), case.input)
    }

    #[test]
    fn echoing_the_input_is_lossless_and_unchanged() {
        for hook in Hook::ALL {
            for case in lossless_cases(hook) {
                let tree = json::parse(&case.input).unwrap();
                let (verdict, reason) = lossless(hook, &tree, &case.input).conclude("");
                assert_eq!(verdict, Verdict::Pass, "{hook} {}: {reason}", case.variant);
                assert!(!reason.contains("changed"), "{reason}");
            }
        }
    }

    #[test]
    fn a_float_round_trip_of_a_big_integer_is_an_alteration() {
        let (tree, text) = input(Hook::PreHook, "flat");
        let out = text.replace(
            "\"x_sentinel_msg1\": 98765432109876543210",
            "\"x_sentinel_msg1\": 9.876543210987654e19",
        );
        let (verdict, reason) = lossless(Hook::PreHook, &tree, &out).conclude("");
        assert_eq!(verdict, Verdict::Fail);
        assert!(
            reason.contains("altered request.input[1].x_sentinel_msg1"),
            "{reason}"
        );
    }

    #[test]
    fn respelled_numbers_warn_and_lost_numbers_fail() {
        let (tree, text) = input(Hook::PreHook, "flat");
        // `1.0 -> 1` keeps the value: a WARN that names it.
        let out = text.replacen("\"f\": 1.0", "\"f\": 1", 1);
        assert_ne!(out, text);
        let (verdict, reason) = lossless(Hook::PreHook, &tree, &out).conclude("");
        assert_eq!(verdict, Verdict::Warn, "{reason}");
        assert!(
            reason.contains("respelled context.x_sentinel_ctx.f: 1.0 -> 1"),
            "{reason}"
        );
        assert!(reason.contains("a Go host reads them alike"), "{reason}");
        // `42 -> 42.0`: a Go int field refuses it, a FAIL that says why.
        let out = text.replacen("\"n\": 42", "\"n\": 42.0", 1);
        assert_ne!(out, text);
        let (verdict, reason) = lossless(Hook::PreHook, &tree, &out).conclude("");
        assert_eq!(verdict, Verdict::Fail, "{reason}");
        assert!(
            reason.contains(
                "context.x_sentinel_ctx.n: 42 -> 42.0 (an integer became a float: a Go int field refuses it)"
            ),
            "{reason}"
        );
    }

    #[test]
    fn a_dropped_unknown_field_is_a_loss_and_an_edited_model_is_a_change() {
        let (tree, text) = input(Hook::PreHook, "go-envelope");
        let edited = text.replace("\"model\": \"gpt-4\"", "\"model\": \"gpt-4o\"");
        let (verdict, reason) = lossless(Hook::PreHook, &tree, &edited).conclude("");
        assert_eq!(verdict, Verdict::Pass, "{reason}");
        assert!(
            reason.contains("changed on purpose: request.ChatRequest.model"),
            "{reason}"
        );
        let dropped = text.replace(", \"x_sentinel_fallback\": true", "");
        let (verdict, reason) = lossless(Hook::PreHook, &tree, &dropped).conclude("");
        assert_eq!(verdict, Verdict::Fail);
        assert!(
            reason.contains("lost request.ChatRequest.fallbacks[0].x_sentinel_fallback"),
            "{reason}"
        );
    }

    #[test]
    fn a_short_circuit_does_not_have_to_carry_the_request() {
        let (tree, _) = input(Hook::PreHook, "flat");
        let out = r#"{"context": {"request_id": "abc-123", "request-id": "abc-123", "x_sentinel_ctx": {"n": 42, "f": 1.0, "z": null, "s": "été"}},
            "has_short_circuit": true, "short_circuit": {"error": {"error": {"message": "no"}}}}"#;
        let (verdict, reason) = lossless(Hook::PreHook, &tree, out).conclude("");
        assert_eq!(verdict, Verdict::Pass, "{reason}");
        assert!(reason.contains("request not returned"), "{reason}");
    }

    #[test]
    fn a_snake_short_circuit_for_a_go_request_fails() {
        let tree = json::parse(&crate::seed::example_input(
            Hook::PreHook,
            RequestShape::GoEnvelope,
        ))
        .unwrap();
        let out = r#"{"context": {"request_id": "abc-123"}, "has_short_circuit": true,
            "short_circuit": {"response": {"chat_response": {"id": "x", "choices": []}}}}"#;
        let (verdict, reason) = examine(Hook::PreHook, &tree, out).conclude("");
        assert_eq!(verdict, Verdict::Fail);
        assert!(
            reason.contains("a Go host does not match chat_response"),
            "{reason}"
        );
    }

    #[test]
    fn a_request_returned_in_another_shape_fails() {
        let tree = json::parse(&crate::seed::example_input(
            Hook::PreHook,
            RequestShape::GoEnvelope,
        ))
        .unwrap();
        let out = format!(
            r#"{{"context": {{"request_id": "abc-123"}}, "request": {}, "has_short_circuit": false}}"#,
            crate::seed::CHAT_REQUEST
        );
        let (verdict, reason) = examine(Hook::PreHook, &tree, &out).conclude("");
        assert_eq!(verdict, Verdict::Fail);
        assert!(
            reason.contains("came as go-envelope and went back as flat"),
            "{reason}"
        );
    }

    #[test]
    fn dropping_context_keys_fails_and_adding_them_is_noted() {
        let tree = json::parse(&crate::seed::example_input(
            Hook::HttpPostHook,
            RequestShape::Flat,
        ))
        .unwrap();
        let (verdict, reason) =
            examine(Hook::HttpPostHook, &tree, r#"{"context": {}, "error": ""}"#).conclude("");
        assert_eq!(verdict, Verdict::Fail);
        assert!(reason.contains("dropped context key(s) request_id"), "{reason}");
        let (verdict, reason) = examine(
            Hook::HttpPostHook,
            &tree,
            r#"{"context": {"request_id": "abc-123", "seen": true}, "error": ""}"#,
        )
        .conclude("");
        assert_eq!(verdict, Verdict::Pass);
        assert_eq!(reason, "context +seen");
    }

    #[test]
    fn bad_input_outputs_must_be_decodable_objects() {
        let (verdict, _) =
            examine_bad(Hook::PreHook, r#"{"context": {}, "error": "invalid JSON"}"#, true).conclude("");
        assert_eq!(verdict, Verdict::Pass);
        let (verdict, reason) =
            examine_bad(Hook::PreHook, r#"{"context": {}, "error": ""}"#, true).conclude("");
        assert_eq!(verdict, Verdict::Warn, "{reason}");
        let (verdict, reason) = examine_bad(Hook::PreHook, "[]", false).conclude("");
        assert_eq!(verdict, Verdict::Fail);
        assert!(reason.contains("not a JSON object"), "{reason}");
        let (verdict, reason) =
            examine_bad(Hook::PreHook, r#"{"has_short_circuit": "yes"}"#, false).conclude("");
        assert_eq!(verdict, Verdict::Fail);
        assert!(reason.contains("a host cannot decode"), "{reason}");
    }
}
