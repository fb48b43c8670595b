//! Redacting a stream whose sensitive values may be split across chunks.
//!
//! A provider streams text in small pieces (often one word per chunk), so a secret, an
//! e-mail address or a phone number can arrive in two or more chunks, and no single chunk
//! shows enough of it to be recognised. For each choice of each stream the plugin therefore
//! **holds back the tail of the text that could still be the start of a match** and only
//! sends what can no longer change:
//!
//! * the last whitespace-free token (an e-mail, key or token is never split by whitespace);
//! * a trailing run of digits and number separators (`+1 555 123 `), since a phone or card
//!   number may continue in the next chunk;
//! * extended to the start of the token that run begins in, and to a `Bearer ` just before
//!   it (the word that makes the next token a secret).
//!
//! Everything before that point is redacted and sent; the held text is prepended to the next
//! chunk of the same choice, and flushed (redacted) into the chunk that carries the choice's
//! `finish_reason`. The cost is latency, not correctness: a word reaches the client one
//! chunk later than without the plugin (a number, when it ends). The held text is bounded
//! by `stream_max_hold` bytes: when the tail grows beyond it, the numeric run is given up
//! first and then the token itself is judged as it stands, so a single unbroken token longer
//! than the bound may be redacted in pieces.
//!
//! Held text is kept per request id in a bounded [`RequestMap`]; a stream that never
//! finishes is evicted when `max_streams` newer streams need room, and an error chunk drops
//! what was held for its request. Without a request id there is nothing to key the state
//! on, and each chunk is redacted on its own.

use bifrost_wasm_sdk::prelude::*;

use crate::detect::{Counts, Detector};

fn in_number(b: u8) -> bool {
    b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'.' | b'(' | b')' | b'+')
}

/// Where the held-back tail of `text` starts: everything before it can be redacted and sent
/// now, everything from it on could still be part of a match that continues in the next
/// chunk. At most `max_hold` bytes are held (see the module docs).
pub fn hold_start(text: &str, max_hold: usize) -> usize {
    let b = text.as_bytes();
    let n = b.len();
    let ws = |c: u8| c.is_ascii_whitespace();
    // The last whitespace-free token.
    let mut token = n;
    while token > 0 && !ws(b[token - 1]) {
        token -= 1;
    }
    // A trailing run of digits and number separators, when it holds a digit.
    let mut run = n;
    let mut digit = false;
    while run > 0 && in_number(b[run - 1]) {
        digit |= b[run - 1].is_ascii_digit();
        run -= 1;
    }
    let mut start = if digit { token.min(run) } else { token };
    const BEARER: &[u8] = b"bearer ";
    loop {
        let before = start;
        // Never cut a token in two: extend to the start of the token `start` falls in.
        if start < n && !ws(b[start]) {
            while start > 0 && !ws(b[start - 1]) {
                start -= 1;
            }
        }
        // `Bearer <token>`: the token is a secret because of the word before it, so keep both
        // (also when the held text starts at the space between them).
        let mut word = start;
        while word < n && ws(b[word]) {
            word += 1;
        }
        if word >= BEARER.len() && b[word - BEARER.len()..word].eq_ignore_ascii_case(BEARER) {
            start = start.min(word - BEARER.len());
        }
        // A number may end inside the held text (`123-4567 555,`): keep the run of digits and
        // separators just before it too.
        let mut back = start;
        let mut digit = false;
        while back > 0 && in_number(b[back - 1]) {
            digit |= b[back - 1].is_ascii_digit();
            back -= 1;
        }
        if digit {
            start = back;
        }
        if start == before {
            break;
        }
    }
    if n - start > max_hold {
        start = if n - token <= max_hold { token } else { n };
    }
    start
}

/// Text held back per stream and choice.
#[derive(Debug)]
pub struct StreamRedactor {
    pending: RequestMap<Vec<(u64, String)>>,
    max_hold: usize,
}

impl StreamRedactor {
    /// State for at most `max_streams` streams at once, holding at most `max_hold` bytes
    /// per choice.
    pub fn new(max_streams: usize, max_hold: usize) -> Self {
        StreamRedactor {
            pending: RequestMap::new(max_streams),
            max_hold,
        }
    }

    /// Bytes held back for `request_id`, over all its choices.
    pub fn held(&self, request_id: &str) -> usize {
        self.pending
            .get(request_id)
            .map_or(0, |v| v.iter().map(|(_, s)| s.len()).sum())
    }

    /// Streams with held text.
    pub fn streams(&self) -> usize {
        self.pending.len()
    }

    /// Streams evicted before they finished.
    pub fn evicted(&self) -> u64 {
        self.pending.evicted()
    }

    /// Forgets every stream.
    pub fn clear(&mut self) {
        self.pending.clear();
    }

    fn take(&mut self, request_id: &str, choice: u64) -> String {
        let Some(held) = self.pending.get_mut(request_id) else {
            return String::new();
        };
        match held.iter().position(|(k, _)| *k == choice) {
            Some(i) => held.swap_remove(i).1,
            None => String::new(),
        }
    }

    /// Redacts the content of every choice of `chunk` in place, holding back and flushing as
    /// the module docs describe. Returns whether the chunk changed.
    pub fn process(
        &mut self,
        request_id: Option<&str>,
        chunk: &mut RawJson,
        detector: &Detector,
        counts: &mut Counts,
    ) -> Result<bool, JsonError> {
        let choices = chunk.chunk_choices();
        if choices.is_empty() {
            // An error, or the end of a Responses stream: what is still held is dropped (a
            // Responses stream flushes at `response.output_text.done`; the whole text is in
            // `response.completed`, which is redacted as it stands).
            let ended = chunk.get("error").is_some()
                || chunk.responses_event().is_some_and(|e| {
                    matches!(
                        e.event_type().as_str(),
                        "error" | "response.failed" | "response.incomplete" | "response.completed"
                    )
                })
                || chunk.get_str("type").as_deref() == Some("error");
            if ended {
                if let Some(id) = request_id {
                    self.pending.remove(id);
                }
            }
            return Ok(false);
        }
        let mut changed = false;
        for choice in &choices {
            let key = choice.key();
            let mut text = match request_id {
                Some(id) => self.take(id, key),
                None => String::new(),
            };
            if choice.content.is_none() && text.is_empty() {
                continue;
            }
            text.push_str(choice.content.as_deref().unwrap_or(""));
            let cut = if choice.is_final() || request_id.is_none() {
                text.len()
            } else {
                hold_start(&text, self.max_hold)
            };
            let (send, keep) = text.split_at_checked(cut).unwrap_or((&text, ""));
            let out = detector.redact(send, counts).unwrap_or_else(|| send.to_string());
            if choice.content.as_deref() != Some(out.as_str())
                && (choice.content.is_some() || !out.is_empty())
            {
                chunk.set_chunk_content(choice.position, &out)?;
                changed = true;
            }
            if let (Some(id), false) = (request_id, keep.is_empty()) {
                self.pending
                    .get_or_insert_with(id, Vec::new)
                    .push((key, keep.to_string()));
            }
        }
        if let Some(id) = request_id {
            if self.pending.get(id).is_some_and(Vec::is_empty) {
                self.pending.remove(id);
            }
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_start_keeps_the_last_token_and_trailing_numbers() {
        assert_eq!(hold_start("hello wor", 512), 6);
        assert_eq!(hold_start("hello ", 512), 6);
        assert_eq!(hold_start("mail john@exa", 512), 5);
        assert_eq!(hold_start("call +1 555 123", 512), 4);
        assert_eq!(hold_start("call +1 555 123 ", 512), 4);
        assert_eq!(hold_start("key=abc-123 456", 512), 0);
        assert_eq!(hold_start("", 512), 0);
        assert_eq!(hold_start("done.\n", 512), 6);
        // A number that ends inside the last token starts before it.
        assert_eq!(hold_start("hello 123-4567 555,", 512), 5);
        assert_eq!(hold_start("call (555) 123-4567.", 512), 4);
        // `Bearer` before a token that a trailing number run starts inside.
        assert_eq!(hold_start("Bearer AKIAIOSFODNN7EXAMPLE555 ", 512), 0);
        assert_eq!(hold_start("hi Bearer 123-45672", 512), 3);
    }

    #[test]
    fn hold_start_is_bounded() {
        let long = format!("a {}", "x".repeat(100));
        assert_eq!(hold_start(&long, 50), long.len());
        let numbers = format!("a {}", "1 ".repeat(40));
        assert_eq!(hold_start(&numbers, 10), numbers.len());
        let numbers_then_word = format!("a {}b1", "1 ".repeat(40));
        assert_eq!(hold_start(&numbers_then_word, 10), numbers_then_word.len() - 2);
    }

    fn chunk(content: Option<&str>, finish: Option<&str>) -> RawJson {
        let delta = match content {
            Some(c) => serde_json::json!({"content": c}),
            None => serde_json::json!({}),
        };
        let v = serde_json::json!({"id": "c", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        RawJson::from_string(v.to_string()).unwrap()
    }

    fn content(chunk: &RawJson) -> String {
        let choices = chunk.chunk_choices();
        choices[0].content.clone().unwrap_or_default()
    }

    fn run_stream(pieces: &[&str], request_id: Option<&str>) -> (String, Counts) {
        let d = Detector::default();
        let mut s = StreamRedactor::new(8, 512);
        let mut counts = Counts::default();
        let mut out = String::new();
        for p in pieces {
            let mut c = chunk(Some(p), None);
            s.process(request_id, &mut c, &d, &mut counts).unwrap();
            out.push_str(&content(&c));
        }
        let mut last = chunk(None, Some("stop"));
        s.process(request_id, &mut last, &d, &mut counts).unwrap();
        out.push_str(&content(&last));
        if let Some(id) = request_id {
            assert_eq!(s.held(id), 0);
            assert_eq!(s.streams(), 0);
        }
        (out, counts)
    }

    #[test]
    fn a_secret_split_across_chunks_is_redacted_and_the_tail_flushed() {
        let (out, counts) = run_stream(
            &[
                "my key is sk-proj-abcdefgh",
                "ijklmnopqrstuvwxyz0123",
                " and mail bob@",
                "example.com",
                " ok",
            ],
            Some("r1"),
        );
        assert_eq!(out, "my key is [SECRET] and mail [EMAIL] ok");
        assert_eq!(counts.total(), 2);
    }

    #[test]
    fn word_by_word_phone_number_is_redacted() {
        let (out, _) = run_stream(&["call", " +1", " 555", " 123", " 4567", " now"], Some("r2"));
        assert_eq!(out, "call [PHONE] now");
    }

    #[test]
    fn without_a_request_id_each_chunk_stands_alone() {
        let (out, _) = run_stream(&["a@b.io ", "sk-abc", "defghijklmnopqrstuvwxyz"], None);
        assert_eq!(out, "[EMAIL] sk-abcdefghijklmnopqrstuvwxyz");
    }

    #[test]
    fn bearer_token_split_from_its_keyword_is_still_redacted() {
        let (out, _) = run_stream(
            &["Authorization: Bearer", " abcdefabcd", "efabcdef next"],
            Some("r3"),
        );
        assert_eq!(out, "Authorization: Bearer [SECRET] next");
    }

    proptest::proptest! {
        /// Streaming never changes the result: whatever the chunk boundaries, the client gets
        /// exactly what redacting the whole text at once gives.
        #[test]
        fn any_split_gives_the_same_text_as_redacting_the_whole(
            words in proptest::collection::vec(proptest::sample::select(vec![
                "hello", "bob@example.com", "a.b-c@mail.co.uk", "+1", "555", "123", "4567", "(555)", "123-4567",
                "4111", "1111", "sk-proj-abcdefghijklmnopqrstuvwxyz", "AKIAIOSFODNN7EXAMPLE", "Bearer",
                "abcdefabcdefabcdef", "Zx9Qm2Lr7Tb4Wk8Hn3Vc6Pf1Ys5Gd0Jq", "2024-01-15", "v1.2.3", "x",
                "-", ".", ",", "@", "é",
            ]), 0..24),
            seps in proptest::collection::vec(proptest::sample::select(vec![" ", "  ", "\n", ""]), 24),
            cuts in proptest::collection::vec(0usize..400, 0..12),
        ) {
            let mut text = String::new();
            for (w, s) in words.iter().zip(&seps) {
                text.push_str(w);
                text.push_str(s);
            }
            let d = Detector::default();
            let whole = d.redact(&text, &mut Counts::default()).unwrap_or_else(|| text.clone());
            let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c.min(text.len())).filter(|c| text.is_char_boundary(*c)).collect();
            bounds.push(0);
            bounds.push(text.len());
            bounds.sort_unstable();
            bounds.dedup();
            let pieces: Vec<&str> = bounds.windows(2).map(|w| &text[w[0]..w[1]]).collect();
            let (streamed, _) = run_stream(&pieces, Some("p"));
            proptest::prop_assert_eq!(streamed, whole);
        }
    }

    #[test]
    fn error_chunk_drops_held_text() {
        let d = Detector::default();
        let mut s = StreamRedactor::new(8, 512);
        let mut counts = Counts::default();
        let mut c = chunk(Some("partial tok"), None);
        s.process(Some("r"), &mut c, &d, &mut counts).unwrap();
        assert_eq!(s.held("r"), 3);
        let mut err = RawJson::from_string(r#"{"error":{"message":"upstream failed"}}"#.into()).unwrap();
        assert!(!s.process(Some("r"), &mut err, &d, &mut counts).unwrap());
        assert_eq!(s.held("r"), 0);
    }
}
