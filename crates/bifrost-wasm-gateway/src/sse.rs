//! An incremental server-sent events parser that is indifferent to how the bytes are split.
//!
//! Network reads cut an event stream anywhere: inside a field name, inside a multi-byte UTF-8
//! character, between the `\r` and `\n` of a line ending. [`SseParser::feed`] buffers the
//! unfinished tail and only decodes complete lines, so the events it returns are the same for
//! every way of splitting the same bytes. Line endings `\n`, `\r\n` and `\r` are all accepted
//! (as the SSE specification requires), comments (`:`) are ignored, a leading byte order mark is
//! dropped, and an event is dispatched at a blank line.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The `id:` field, if any.
    pub id: Option<String>,
}

/// Incremental parser; feed it bytes as they arrive.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    /// Bytes of `buf` already scanned for a line ending (all before it are part of a line).
    scanned: usize,
    started: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    id: Option<String>,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        SseParser::default()
    }

    /// Bytes held for an event not yet complete (the unfinished line and the event's data so
    /// far): what a stream that never ends its event costs in memory.
    pub fn pending_bytes(&self) -> usize {
        self.buf.len() + self.data.len()
    }

    /// Adds bytes; returns the events completed by them.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.buf.extend_from_slice(bytes);
        let mut events = Vec::new();
        self.drain_lines(false, &mut events);
        events
    }

    /// Ends the stream: a last line without a terminator is processed; an event without the
    /// final blank line is dispatched (servers that close right after the last `data:` line
    /// lose nothing).
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut events = Vec::new();
        self.drain_lines(true, &mut events);
        if !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            self.scanned = 0;
            self.line(&line, &mut events);
        }
        self.dispatch(&mut events);
        events
    }

    fn drain_lines(&mut self, at_end: bool, events: &mut Vec<SseEvent>) {
        if !self.started {
            // Wait for three bytes (or the end) to decide about a byte order mark.
            if self.buf.len() < 3 && !at_end {
                if !b"\xEF\xBB\xBF".starts_with(&self.buf) {
                    self.started = true;
                } else {
                    return;
                }
            }
            if self.buf.starts_with(b"\xEF\xBB\xBF") {
                self.buf.drain(..3);
            }
            self.started = true;
        }
        let mut start = 0;
        let mut i = self.scanned;
        while i < self.buf.len() {
            match self.buf[i] {
                b'\n' => {
                    let line = self.buf[start..i].to_vec();
                    self.line(&line, events);
                    start = i + 1;
                    i += 1;
                }
                b'\r' => {
                    if i + 1 == self.buf.len() && !at_end {
                        // Maybe `\r\n` split across reads: decide when more bytes come.
                        break;
                    }
                    let line = self.buf[start..i].to_vec();
                    self.line(&line, events);
                    i += if self.buf.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
                    start = i;
                }
                _ => i += 1,
            }
        }
        self.buf.drain(..start);
        self.scanned = i - start;
    }

    fn line(&mut self, line: &[u8], events: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(events);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.find(':') {
            Some(i) => {
                let value = &text[i + 1..];
                (&text[..i], value.strip_prefix(' ').unwrap_or(value))
            }
            None => (&text[..], ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_string()),
            "id" if !value.contains('\0') => self.id = Some(value.to_string()),
            _ => {}
        }
    }

    fn dispatch(&mut self, events: &mut Vec<SseEvent>) {
        if !self.has_data {
            self.event = None;
            return;
        }
        events.push(SseEvent {
            event: self.event.take(),
            data: std::mem::take(&mut self.data),
            id: self.id.clone(),
        });
        self.has_data = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recorded OpenAI-style stream with every feature that splitting can break: multi-byte
    /// UTF-8 (2, 3 and 4 bytes), CRLF and bare CR line endings, comments, multi-line data,
    /// named events and ids, and a final event without its blank line.
    const RECORDED: &[u8] = b"\xEF\xBB\xBF: keep-alive\r\n\r\n\
data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n\
data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\xA6\x80\"}}]}\r\n\r\n\
event: message\rid: 7\rdata: line one\rdata: line two\r\r\
data:no-space\n\
data: {\"error\":{\"message\":\"x\"}}\n\n\
data: [DONE]\n\n\
data: trailing";

    fn whole() -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut events = p.feed(RECORDED);
        events.extend(p.finish());
        events
    }

    #[test]
    fn recorded_stream_parses_into_the_expected_events() {
        let events = whole();
        let data: Vec<&str> = events.iter().map(|e| e.data.as_str()).collect();
        assert_eq!(data.len(), 6, "{events:#?}");
        assert!(data[0].starts_with("{\"id\":\"c1\""));
        assert!(data[1].contains("h\u{e9}llo \u{20ac} \u{1f980}"));
        assert_eq!(data[2], "line one\nline two");
        assert_eq!(events[2].event.as_deref(), Some("message"));
        assert_eq!(events[2].id.as_deref(), Some("7"));
        assert_eq!(data[3], "no-space\n{\"error\":{\"message\":\"x\"}}");
        assert_eq!(data[4], "[DONE]");
        assert_eq!(data[5], "trailing");
    }

    #[test]
    fn splitting_at_every_byte_offset_gives_the_same_events() {
        let expected = whole();
        for cut in 0..=RECORDED.len() {
            let mut p = SseParser::new();
            let mut events = p.feed(&RECORDED[..cut]);
            events.extend(p.feed(&RECORDED[cut..]));
            events.extend(p.finish());
            assert_eq!(events, expected, "split at byte {cut}");
        }
    }

    #[test]
    fn splitting_at_every_pair_of_offsets_gives_the_same_events() {
        let expected = whole();
        for a in 0..=RECORDED.len() {
            for b in a..=RECORDED.len() {
                let mut p = SseParser::new();
                let mut events = p.feed(&RECORDED[..a]);
                events.extend(p.feed(&RECORDED[a..b]));
                events.extend(p.feed(&RECORDED[b..]));
                events.extend(p.finish());
                assert_eq!(events, expected, "split at bytes {a} and {b}");
            }
        }
    }

    #[test]
    fn byte_by_byte_feeding_gives_the_same_events() {
        let mut p = SseParser::new();
        let mut events = Vec::new();
        for b in RECORDED {
            events.extend(p.feed(std::slice::from_ref(b)));
        }
        events.extend(p.finish());
        assert_eq!(events, whole());
    }

    #[test]
    fn events_are_returned_as_soon_as_their_blank_line_arrives() {
        let mut p = SseParser::new();
        assert!(p.feed(b"data: a\n").is_empty());
        assert_eq!(p.feed(b"\n")[0].data, "a");
        // A lone CR may be the first half of CRLF: the event waits for the next byte.
        assert!(p.feed(b"data: b\r\n\r").is_empty());
        assert_eq!(p.feed(b"\n")[0].data, "b");
    }

    #[test]
    fn event_without_data_is_not_dispatched() {
        let mut p = SseParser::new();
        assert!(p.feed(b"event: ping\n\n: comment\n\n").is_empty());
        let e = p.feed(b"data: x\n\n");
        assert_eq!(e[0].event, None);
    }
}
