//! Recording every hook call, to replay real traffic through another build of a plugin.
//!
//! A [`Chain`](crate::Chain) with an observer ([`Chain::with_observer`](crate::Chain::with_observer))
//! reports each call it makes ([`ObservedCall`]: plugin, hook, the exact input and output
//! bytes, outcome, time). The [`Recorder`] observer writes each call as one JSON file
//! ([`HookRecord`]) into a folder, on a thread of its own, so the request path only copies the
//! two buffers. `bifrost-wasm serve --record DIR` uses it; `bifrost-wasm replay DIR plugin.wasm`
//! reads the files back with [`read_dir`].
//!
//! Secrets stay out of recordings by default: the values of the `authorization`, `x-api-key`
//! and `x-bf-vk` headers (any case) in the `request` and `response` members of inputs and
//! outputs are written as `"[REDACTED]"` ([`redact_headers`]), and so is the virtual key the
//! gateway copies into the context (`context["x-bf-vk"]`). The rest is kept byte for byte.

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bifrost_wasm_host::Hook;
use bifrost_wasm_types::scan::{self, Members};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::stats::HookOutcome;

/// Header names whose values recordings redact by default (compared ignoring ASCII case).
pub const SECRET_HEADERS: [&str; 3] = ["authorization", "x-api-key", "x-bf-vk"];

/// The context key holding the virtual key (copied from the `x-bf-vk` header), redacted too.
pub const CONTEXT_SECRET: &str = "x-bf-vk";

/// What a redacted header value is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// One hook call as the chain made it.
#[derive(Debug, Clone, Copy)]
pub struct ObservedCall<'a> {
    /// The request's id.
    pub request_id: &'a str,
    /// The plugin's name in the chain.
    pub plugin: &'a str,
    /// The hook.
    pub hook: Hook,
    /// The input sent, byte for byte.
    pub input: &'a [u8],
    /// What the plugin returned (`None` when the call failed before returning).
    pub output: Option<&'a [u8]>,
    /// What the call did.
    pub outcome: HookOutcome,
    /// The error, for a call that failed or whose plugin reported one.
    pub error: Option<&'a str>,
    /// How long the call took, reading its output included.
    pub duration: Duration,
}

/// Sees every hook call a chain makes, on the request's thread: keep it cheap.
pub trait HookObserver: Send + Sync {
    /// One call, right after the chain read its output.
    fn observe(&self, call: &ObservedCall<'_>);
}

/// One recorded call: the file format of `serve --record`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HookRecord {
    /// Order of the call among all recorded calls (from 1).
    pub seq: u64,
    /// When the call ended, in Unix milliseconds.
    pub time_unix_ms: u64,
    /// The request's id.
    pub request_id: String,
    /// The plugin's name in the chain.
    pub plugin: String,
    /// The hook's name (`pre_hook`, ...).
    pub hook: String,
    /// What the call did (`passed`, `changed`, `short_circuited`, `dropped`, `error`, `failed`).
    pub outcome: String,
    /// How long the call took, in microseconds.
    pub duration_us: u64,
    /// The error, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The input, as JSON.
    pub input: Box<RawValue>,
    /// The output when it was JSON (`null` when there was none).
    pub output: Option<Box<RawValue>>,
    /// The output as text when it was not JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_text: Option<String>,
}

impl HookRecord {
    /// The hook, if the name is one.
    pub fn hook(&self) -> Option<Hook> {
        self.hook.parse().ok()
    }
}

/// A call copied off the request path.
struct Pending {
    seq: u64,
    time_unix_ms: u64,
    request_id: String,
    plugin: String,
    hook: Hook,
    outcome: HookOutcome,
    duration: Duration,
    error: Option<String>,
    input: Vec<u8>,
    output: Option<Vec<u8>>,
}

enum Message {
    Call(Box<Pending>),
    Flush(mpsc::Sender<()>),
}

/// Writes every observed call into a folder, one JSON file each
/// (`<seq>-<plugin>-<hook>.json`), on its own thread.
pub struct Recorder {
    dir: PathBuf,
    seq: AtomicU64,
    sender: Mutex<Option<mpsc::Sender<Message>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("dir", &self.dir)
            .field("recorded", &self.seq.load(Ordering::Relaxed))
            .finish()
    }
}

impl Recorder {
    /// Records into `dir` (created if missing). With `keep_secrets` false (the default of
    /// `serve --record`), secret header values are redacted.
    pub fn new(dir: impl Into<PathBuf>, keep_secrets: bool) -> io::Result<Recorder> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        // Fail now, not on the first request, if the folder cannot be written.
        let probe = dir.join(".bifrost-wasm-record-probe");
        std::fs::write(&probe, b"")?;
        std::fs::remove_file(&probe)?;
        let (sender, receiver) = mpsc::channel::<Message>();
        let target = dir.clone();
        let writer = std::thread::Builder::new()
            .name("bifrost-wasm-recorder".into())
            .spawn(move || {
                for message in receiver {
                    match message {
                        Message::Call(call) => {
                            if let Err(e) = write_record(&target, &call, keep_secrets) {
                                tracing::warn!(
                                    "cannot record call {} ({} {}) in {}: {e}",
                                    call.seq,
                                    call.plugin,
                                    call.hook,
                                    target.display()
                                );
                            }
                        }
                        Message::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            })?;
        Ok(Recorder {
            dir,
            seq: AtomicU64::new(0),
            sender: Mutex::new(Some(sender)),
            writer: Mutex::new(Some(writer)),
        })
    }

    /// The folder recorded into.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Calls recorded so far.
    pub fn recorded(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }

    /// Waits until every call observed so far is written.
    pub fn flush(&self) {
        let (done, wait) = mpsc::channel();
        let sent = self
            .sender
            .lock()
            .ok()
            .and_then(|s| s.as_ref().map(|s| s.send(Message::Flush(done)).is_ok()));
        if sent == Some(true) {
            let _ = wait.recv();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Closing the channel ends the writer once it has written everything.
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        if let Some(writer) = self.writer.lock().ok().and_then(|mut w| w.take()) {
            let _ = writer.join();
        }
    }
}

impl HookObserver for Recorder {
    fn observe(&self, call: &ObservedCall<'_>) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let pending = Pending {
            seq,
            time_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            request_id: call.request_id.to_string(),
            plugin: call.plugin.to_string(),
            hook: call.hook,
            outcome: call.outcome,
            duration: call.duration,
            error: call.error.map(str::to_string),
            input: call.input.to_vec(),
            output: call.output.map(<[u8]>::to_vec),
        };
        if let Ok(sender) = self.sender.lock() {
            if let Some(sender) = sender.as_ref() {
                let _ = sender.send(Message::Call(Box::new(pending)));
            }
        }
    }
}

/// A file-name-safe version of `name`.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Valid JSON text, redacted unless `keep_secrets`.
fn json_text(bytes: &[u8], keep_secrets: bool) -> Option<Box<RawValue>> {
    let text = std::str::from_utf8(bytes).ok()?;
    scan::validate(text).ok()?;
    let text = if keep_secrets {
        Cow::Borrowed(text)
    } else {
        redact_headers(text)
    };
    RawValue::from_string(text.trim().to_string()).ok()
}

fn write_record(dir: &Path, call: &Pending, keep_secrets: bool) -> io::Result<()> {
    let input = json_text(&call.input, keep_secrets)
        .unwrap_or_else(|| RawValue::from_string("null".into()).expect("null is JSON"));
    let (output, output_text) = match &call.output {
        None => (None, None),
        Some(bytes) => match json_text(bytes, keep_secrets) {
            Some(json) => (Some(json), None),
            None => (None, Some(String::from_utf8_lossy(bytes).into_owned())),
        },
    };
    let record = HookRecord {
        seq: call.seq,
        time_unix_ms: call.time_unix_ms,
        request_id: call.request_id.clone(),
        plugin: call.plugin.clone(),
        hook: call.hook.name().to_string(),
        outcome: call.outcome.name().to_string(),
        duration_us: call.duration.as_micros() as u64,
        error: call.error.clone(),
        input,
        output,
        output_text,
    };
    let name = format!(
        "{:08}-{}-{}.json",
        call.seq,
        file_safe(&call.plugin),
        call.hook.name()
    );
    let text = serde_json::to_vec_pretty(&record).map_err(io::Error::other)?;
    // Written under a temporary name and renamed, so a reader never sees half a file.
    let partial = dir.join(format!(".{name}.partial"));
    std::fs::write(&partial, text)?;
    std::fs::rename(&partial, dir.join(name))
}

/// `text` (valid JSON) with the values of [`SECRET_HEADERS`] in `request.headers` and
/// `response.headers`, and of [`CONTEXT_SECRET`] in `context`, replaced by `"[REDACTED]"`;
/// borrowed when there is nothing to redact.
pub fn redact_headers(text: &str) -> Cow<'_, str> {
    let base = text.as_ptr() as usize;
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let object = text.trim();
    if !object.starts_with('{') {
        return Cow::Borrowed(text);
    }
    for member in Members::new(object) {
        if !member.value.starts_with('{') {
            continue;
        }
        if &*member.key() == "context" {
            // The virtual key, which the gateway copies from its header into the context.
            for entry in Members::new(member.value) {
                if entry.key().eq_ignore_ascii_case(CONTEXT_SECRET)
                    && entry.value != format!("\"{REDACTED}\"")
                {
                    let start = entry.value.as_ptr() as usize - base;
                    spans.push((start, start + entry.value.len()));
                }
            }
            continue;
        }
        if !matches!(&*member.key(), "request" | "response") {
            continue;
        }
        for field in Members::new(member.value) {
            if !field.key().eq_ignore_ascii_case("headers") || !field.value.starts_with('{') {
                continue;
            }
            for header in Members::new(field.value) {
                let secret = SECRET_HEADERS
                    .iter()
                    .any(|s| header.key().eq_ignore_ascii_case(s));
                if secret && header.value != format!("\"{REDACTED}\"") {
                    let start = header.value.as_ptr() as usize - base;
                    spans.push((start, start + header.value.len()));
                }
            }
        }
    }
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in spans {
        out.push_str(&text[at..start]);
        out.push('"');
        out.push_str(REDACTED);
        out.push('"');
        at = end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// Every record in `dir` (files `*.json`), in call order. An unreadable or malformed file is
/// an error naming it.
pub fn read_dir(dir: &Path) -> io::Result<Vec<HookRecord>> {
    let mut records = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json")
            || path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let record: HookRecord = serde_json::from_str(&text).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not a hook recording: {e}", path.display()),
            )
        })?;
        records.push(record);
    }
    records.sort_by_key(|r| r.seq);
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_headers_are_redacted_in_any_case_and_the_rest_is_kept_as_written() {
        let text = r#"{"context":{"authorization":"not a header","x-bf-vk":"vk"},"request":{"method":"POST","headers":{"Authorization":"Bearer sk-1","X-Api-Key":"k","x-bf-vk":"vk","accept":"*/*"},"n":1.0},"response":{"headers":{"AUTHORIZATION":"x"}}}"#;
        let redacted = redact_headers(text);
        assert_eq!(
            redacted,
            r#"{"context":{"authorization":"not a header","x-bf-vk":"[REDACTED]"},"request":{"method":"POST","headers":{"Authorization":"[REDACTED]","X-Api-Key":"[REDACTED]","x-bf-vk":"[REDACTED]","accept":"*/*"},"n":1.0},"response":{"headers":{"AUTHORIZATION":"[REDACTED]"}}}"#
        );
        assert!(matches!(redact_headers(&redacted), Cow::Borrowed(_)));
        let plain = r#"{"request":{"headers":{"accept":"*/*"}}}"#;
        assert!(matches!(redact_headers(plain), Cow::Borrowed(_)));
    }

    #[test]
    fn recorded_calls_are_written_in_order_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let recorder = Recorder::new(dir.path(), false).unwrap();
        let input = br#"{"context":{},"request":{"headers":{"x-api-key":"secret"}}}"#;
        for (i, output) in [Some(&b"{\"context\":{}}"[..]), Some(b"not json"), None]
            .into_iter()
            .enumerate()
        {
            recorder.observe(&ObservedCall {
                request_id: "r-1",
                plugin: "my plugin",
                hook: Hook::HttpPreHook,
                input,
                output,
                outcome: if i == 0 {
                    HookOutcome::Passed
                } else {
                    HookOutcome::Failed
                },
                error: (i > 0).then_some("trapped"),
                duration: Duration::from_micros(12),
            });
        }
        recorder.flush();
        let records = read_dir(dir.path()).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(records[0].hook(), Some(Hook::HttpPreHook));
        assert!(records[0].input.get().contains(r#""x-api-key":"[REDACTED]""#));
        assert_eq!(records[0].output.as_ref().unwrap().get(), r#"{"context":{}}"#);
        assert_eq!(records[1].output_text.as_deref(), Some("not json"));
        assert!(records[2].output.is_none() && records[2].output_text.is_none());
        assert_eq!(records[2].error.as_deref(), Some("trapped"));
        assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| e
            .unwrap()
            .file_name()
            .to_str()
            .unwrap()
            .contains("-my_plugin-http_pre_hook")));
    }

    #[test]
    fn a_folder_that_is_not_a_folder_is_refused_at_once() {
        let file = tempfile::NamedTempFile::new().unwrap();
        assert!(Recorder::new(file.path(), false).is_err());
    }
}
