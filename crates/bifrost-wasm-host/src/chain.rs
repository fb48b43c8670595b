//! The plugin chain: Bifrost's hook order, short-circuits and error semantics as a library.
//!
//! A [`Chain`] is the ordered list of plugins (see [`crate::config::order_entries`]). For each
//! HTTP request the gateway starts a [`RequestRun`], which carries the context (a JSON object
//! seeded with both `request_id` and `request-id`) through every hook and remembers which
//! plugins ran, so that the post-hooks mirror the pre-hooks:
//!
//! ```text
//! http_pre_hook   0 → n   (has_response short-circuits: later ones skipped)
//! pre_hook        0 → n   (short_circuit skips later pre-hooks and the provider)
//!   provider
//! post_hook       k → 0   (only plugins whose pre_hook ran)
//! http_post_hook  m → 0   (non-streaming; only plugins whose http_pre_hook ran)
//! stream: per chunk post_hook k → 0, then http_stream_chunk_hook m → 0
//! ```
//!
//! # Errors
//!
//! A *failure* is a trap, timeout, limit or invalid output ([`HostError`]); a *returned error* is
//! the plugin's own `error` / `hook_error` string. What the chain does with them depends on the
//! plugin's [`FailurePolicy`]:
//!
//! | | LLM hook returns error | LLM hook fails | HTTP hook returns error | HTTP hook fails |
//! |---|---|---|---|---|
//! | `default` | warn, keep previous value | warn, keep previous value | error answer | error answer |
//! | `fail_open` | warn, keep previous value | warn (bypass), keep previous value | error answer | warn (bypass), keep previous value |
//! | `fail_closed` | error answer | error answer | error answer | error answer |
//!
//! "Keep previous value" means the whole output is ignored (request/response and context).
//! Nothing is skipped silently: every such case is a `warn` event and a [`HookStat`] entry.
//!
//! # Losslessness
//!
//! Payloads are never parsed into `serde_json::Value` to be passed on: inputs are built by
//! splicing raw JSON text, outputs are split at the top level only, and a payload a plugin
//! returns is handed to the next plugin byte for byte. `null` (or `{}`) in place of a request,
//! response or chunk means "unchanged".

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bifrost_wasm_types::http::HTTPResponse;
use bifrost_wasm_types::raw::{JsonKind, RawJson};
use bifrost_wasm_types::scan;
use bifrost_wasm_types::shape::{
    wrap_chat_request, wrap_chat_response, LlmRequest, LlmResponse, RequestShape, ResponseShape,
    ShortCircuitParts,
};

use crate::config::FailurePolicy;
use crate::{Hook, HookRunner, HostError};

/// One plugin in a chain.
#[derive(Clone)]
pub struct ChainPlugin {
    /// The name used in logs and errors (the config entry's name).
    pub name: String,
    /// What happens when it fails.
    pub policy: FailurePolicy,
    /// Runs its hooks (one shared instance, or a pool).
    pub runner: Arc<dyn HookRunner>,
}

impl ChainPlugin {
    /// A chain member.
    pub fn new(name: impl Into<String>, policy: FailurePolicy, runner: Arc<dyn HookRunner>) -> Self {
        ChainPlugin {
            name: name.into(),
            policy,
            runner,
        }
    }
}

impl fmt::Debug for ChainPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainPlugin")
            .field("name", &self.name)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// The ordered plugins and the request shape sent to them.
#[derive(Debug, Clone)]
pub struct Chain {
    plugins: Vec<ChainPlugin>,
    shape: RequestShape,
}

impl Chain {
    /// A chain running `plugins` in this order (pre-hooks) and in reverse (post-hooks).
    pub fn new(plugins: Vec<ChainPlugin>, shape: RequestShape) -> Self {
        Chain { plugins, shape }
    }

    /// The plugins in pre-hook order.
    pub fn plugins(&self) -> &[ChainPlugin] {
        &self.plugins
    }

    /// The request shape sent to `pre_hook` (and the response shape sent to `post_hook`).
    pub fn shape(&self) -> RequestShape {
        self.shape
    }

    /// Number of plugins.
    pub fn len(&self) -> usize {
        self.plugins.len()
    }

    /// True when the chain has no plugins.
    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }
}

/// What one hook call did, as shown in the gateway's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookOutcome {
    /// The payload came back unchanged (context edits aside).
    Passed,
    /// The payload was replaced.
    Changed,
    /// `http_pre_hook` answered (`has_response`) or `pre_hook` short-circuited.
    ShortCircuited,
    /// `http_stream_chunk_hook` dropped the chunk (`skip`).
    Dropped,
    /// The plugin returned an error (`error` / `hook_error`).
    Error,
    /// The call failed (trap, timeout, limit, invalid output).
    Failed,
}

impl HookOutcome {
    const ALL: [HookOutcome; 6] = [
        HookOutcome::Passed,
        HookOutcome::Changed,
        HookOutcome::ShortCircuited,
        HookOutcome::Dropped,
        HookOutcome::Error,
        HookOutcome::Failed,
    ];

    /// Short name for logs.
    pub fn name(self) -> &'static str {
        match self {
            HookOutcome::Passed => "passed",
            HookOutcome::Changed => "changed",
            HookOutcome::ShortCircuited => "short_circuited",
            HookOutcome::Dropped => "dropped",
            HookOutcome::Error => "error",
            HookOutcome::Failed => "failed",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for HookOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the chain did about an error or failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorAction {
    /// Logged; the chain went on with the previous value.
    Continued,
    /// `fail_open`: the plugin was skipped.
    Bypassed,
    /// The client got an error answer.
    Answered,
}

/// Everything one plugin's hook did during one request (stream chunk calls are aggregated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookStat {
    /// Index of the plugin in the chain.
    pub plugin: usize,
    /// The hook.
    pub hook: Hook,
    /// Number of calls.
    pub calls: u32,
    /// Count per outcome, indexed like [`HookStat::count`].
    counts: [u32; 6],
    /// Time spent in the calls, including building the input and reading the output.
    pub duration: Duration,
    /// Context keys the hook added or changed.
    pub context_keys: Vec<String>,
    /// The first error or failure message, with what the chain did about it.
    pub error: Option<(String, ErrorAction)>,
}

impl HookStat {
    /// How many calls ended with `outcome`.
    pub fn count(&self, outcome: HookOutcome) -> u32 {
        self.counts[outcome.index()]
    }

    /// The most significant outcome (for a single call, the outcome).
    pub fn outcome(&self) -> HookOutcome {
        // Most severe first.
        [
            HookOutcome::Failed,
            HookOutcome::Error,
            HookOutcome::ShortCircuited,
            HookOutcome::Dropped,
            HookOutcome::Changed,
            HookOutcome::Passed,
        ]
        .into_iter()
        .find(|o| self.count(*o) > 0)
        .unwrap_or(HookOutcome::Passed)
    }
}

/// An HTTP answer the chain decided on: an `http_pre_hook` short-circuit, or an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    /// Status code.
    pub status: u16,
    /// Headers as the plugin gave them.
    pub headers: Vec<(String, String)>,
    /// Body bytes (decoded from base64 for a plugin's answer).
    pub body: Vec<u8>,
}

impl HttpAnswer {
    /// A JSON error answer with `body` (a Bifrost error JSON).
    pub fn json_error(status: u16, body: &RawJson) -> Self {
        HttpAnswer {
            status,
            headers: vec![("content-type".to_string(), "application/json".to_string())],
            body: body.as_str().as_bytes().to_vec(),
        }
    }
}

/// Result of the `http_pre_hook` chain.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpPreOutcome {
    /// Go on with this HTTP request JSON (changed or not).
    Continue(RawJson),
    /// Answer the client with this; nothing else runs except `http_post_hook` of the plugins
    /// whose `http_pre_hook` ran ([`RequestRun::http_post_hook`]).
    Respond(HttpAnswer),
}

/// The result of an LLM call as plugins see it.
#[derive(Debug, Clone, PartialEq)]
pub enum LlmResult {
    /// A response, in the chain's response shape (e.g. `{"ChatResponse": {...}, ...}`).
    Response(RawJson),
    /// A Bifrost error JSON (`{"error": {"message": ...}, "status_code": ...}`).
    Error(RawJson),
}

impl LlmResult {
    /// The chat completion object inside a response, if any.
    pub fn chat_response(&self) -> Option<RawJson> {
        match self {
            LlmResult::Response(raw) => {
                let response = LlmResponse::new(raw.clone());
                response
                    .chat_raw()
                    .and_then(|c| RawJson::from_string(c.to_string()).ok())
            }
            LlmResult::Error(_) => None,
        }
    }
}

/// Result of the `pre_hook` chain.
#[derive(Debug, Clone, PartialEq)]
pub enum PreOutcome {
    /// Call the provider with this request (in the chain's shape).
    Continue(RawJson),
    /// Do not call the provider; run [`RequestRun::post_hook`] on this.
    ShortCircuit(LlmResult),
}

/// What to do with one stream chunk.
#[derive(Debug, Clone, PartialEq)]
pub enum ChunkOutcome {
    /// Send this chunk (changed or not).
    Send(RawJson),
    /// Drop the chunk.
    Skip,
    /// End the stream with this error (a Bifrost error JSON) as the last event.
    End(RawJson),
}

/// Builds a Bifrost error JSON for a failure the chain turns into an answer.
pub fn plugin_error_json(status: u16, error_type: &str, message: &str) -> RawJson {
    let json = format!(
        "{{\"is_bifrost_error\":true,\"status_code\":{status},\"error\":{{\"type\":{},\"message\":{}}}}}",
        json_string(error_type),
        json_string(message)
    );
    RawJson::from_string(json).expect("built from escaped strings")
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("strings always serialise")
}

/// Context key [`RequestRun::new`] seeds with the time the request started, in Unix
/// milliseconds: a `wasm32-unknown-unknown` plugin has no clock of its own (the `rate-window`
/// example plugin reads its time here).
pub const START_TIME_KEY: &str = "request_start_unix_ms";

fn unix_ms_now() -> RawJson {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    RawJson::from_string(ms.to_string()).expect("an integer is JSON")
}

/// The context of one request: a JSON object kept as raw members, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    entries: Vec<(String, RawJson)>,
    /// The JSON text, built when first needed after a change (hooks mostly add nothing).
    json: std::cell::OnceCell<String>,
}

impl Context {
    /// A context seeded with the request id under both `request_id` (seed examples) and
    /// `request-id` (Bifrost's Go key).
    pub fn with_request_id(request_id: &str) -> Self {
        let id = RawJson::from_string(json_string(request_id)).expect("string");
        Context {
            entries: vec![
                ("request_id".to_string(), id.clone()),
                ("request-id".to_string(), id),
            ],
            json: Default::default(),
        }
    }

    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> Option<&RawJson> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key`; returns true if the value changed.
    pub fn set(&mut self, key: &str, value: RawJson) -> bool {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) if v.as_str() == value.as_str() => return false,
            Some((_, v)) => *v = value,
            None => self.entries.push((key.to_string(), value)),
        }
        self.json.take();
        true
    }

    /// The members, in order.
    pub fn entries(&self) -> &[(String, RawJson)] {
        &self.entries
    }

    /// The context as JSON text.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(64 + self.entries.len() * 32);
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) {
        out.push_str(self.json.get_or_init(|| {
            let mut json = String::with_capacity(64 + self.entries.len() * 32);
            json.push('{');
            for (i, (k, v)) in self.entries.iter().enumerate() {
                if i > 0 {
                    json.push(',');
                }
                json.push_str(&json_string(k));
                json.push(':');
                json.push_str(v.as_str());
            }
            json.push('}');
            json
        }));
    }

    /// Merges the members of the JSON object `raw` (add or overwrite; nothing is removed).
    /// Returns the keys that changed.
    fn merge(&mut self, raw: &str) -> Result<Vec<String>, String> {
        if JsonKind::of(raw) != JsonKind::Object {
            return Err(format!(
                "context is not an object: found {}",
                JsonKind::of(raw).name()
            ));
        }
        let mut changed = Vec::new();
        for (k, v) in valid_members(raw) {
            if self.get(&k).is_some_and(|old| old.as_str() == v) {
                continue;
            }
            if self.set(&k, validated(v)) {
                changed.push(k.into_owned());
            }
        }
        Ok(changed)
    }
}

/// A hook's output split at the top level.
struct Output<'a> {
    entries: Vec<(Cow<'a, str>, &'a str)>,
}

impl<'a> Output<'a> {
    fn parse(text: &'a str) -> Result<Self, String> {
        if JsonKind::of(text) != JsonKind::Object {
            return Err(format!(
                "the output must be a JSON object, found {}",
                JsonKind::of(text).name()
            ));
        }
        Ok(Output {
            entries: valid_members(text),
        })
    }

    /// Member `key`: exact match first, then ASCII case-insensitive (Go's decoder rule).
    fn get(&self, key: &str) -> Option<&'a str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .or_else(|| self.entries.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)))
            .map(|(_, v)| *v)
    }

    /// A payload member; `None` for missing, `null` and `{}` ("unchanged").
    fn payload(&self, key: &str) -> Option<&'a str> {
        let v = self.get(key)?;
        match JsonKind::of(v) {
            JsonKind::Null => None,
            JsonKind::Object if is_empty_object(v) => None,
            _ => Some(v),
        }
    }

    fn flag(&self, key: &str) -> Result<bool, String> {
        match self.get(key) {
            None => Ok(false),
            Some(v) => match v.trim() {
                "true" => Ok(true),
                "false" | "null" => Ok(false),
                other => Err(format!("`{key}` must be true or false, found {}", excerpt(other))),
            },
        }
    }

    /// An error text member: missing, `null` and `""` mean no error; a non-string value is
    /// reported as its JSON text.
    fn error_text(&self, key: &str) -> Option<String> {
        let v = self.get(key)?;
        match JsonKind::of(v) {
            JsonKind::Null => None,
            JsonKind::String => {
                let s: String = serde_json::from_str(v).ok()?;
                (!s.is_empty()).then_some(s)
            }
            JsonKind::Object if is_empty_object(v) => None,
            _ => Some(v.to_string()),
        }
    }
}

/// True for `{}` (with any whitespace). `text` must already be valid JSON.
fn is_empty_object(text: &str) -> bool {
    text.trim_start()
        .strip_prefix('{')
        .is_some_and(|rest| rest.trim_start().starts_with('}'))
}

fn excerpt(text: &str) -> String {
    const MAX: usize = 80;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
fn raw(text: &str) -> Result<RawJson, String> {
    RawJson::from_string(text.to_string()).map_err(|e| e.to_string())
}

/// The members of an object in a hook output (valid JSON: see [`validated`]), in order,
/// without scanning it for validity again.
fn valid_members(text: &str) -> Vec<(Cow<'_, str>, &str)> {
    scan::Members::new(text).map(|m| (m.key(), m.value)).collect()
}

/// A member of a hook output, or text written from such members. Outputs come from a
/// [`crate::HookRunner`], whose contract is that they were checked to be JSON when the hook returned
/// them, so they are not scanned again.
fn validated(text: &str) -> RawJson {
    RawJson::from_validated(text)
}

/// Whether `after` says something different from `before`: the same bytes, or the same bytes
/// apart from whitespace between tokens (a plugin that re-indents), count as unchanged. Any
/// other difference (even re-ordered keys or `1.0` written as `1`) counts as a change. Only
/// used to classify for the log, never to pass anything on.
fn differs(before: &str, after: &str) -> bool {
    if before == after {
        return false;
    }
    // The usual case, decided at the first differing byte: the prefixes are equal, so both
    // texts agree on whether that byte is inside a string. Inside one, or when neither byte is
    // whitespace, the byte counts and the texts differ; only whitespace between tokens needs
    // the full comparison.
    let first = before
        .bytes()
        .zip(after.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(before.len().min(after.len()));
    let is_ws = |b: Option<u8>| matches!(b, Some(b' ' | b'\n' | b'\r' | b'\t'));
    let (a, b) = (
        before.as_bytes().get(first).copied(),
        after.as_bytes().get(first).copied(),
    );
    if a.is_some() && b.is_some() && (!is_ws(a) && !is_ws(b) || scan::inside_string(before, first)) {
        return true;
    }
    fn significant(text: &str) -> impl Iterator<Item = u8> + '_ {
        let mut in_string = false;
        let mut escaped = false;
        text.bytes().filter(move |&b| {
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
                true
            } else {
                if b == b'"' {
                    in_string = true;
                }
                !matches!(b, b' ' | b'\n' | b'\r' | b'\t')
            }
        })
    }
    !significant(before).eq(significant(after))
}

enum Call {
    /// The plugin lacks the hook: pass-through, nothing recorded.
    Absent,
    Output(String),
    Failure(HostError),
}

/// What the policy says to do with a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Problem {
    /// The plugin returned an error.
    Returned,
    /// The call failed.
    Failed,
}

/// One request's journey through the chain. Create with [`RequestRun::new`], then call the
/// steps in order; each step runs the plugins Bifrost would run at that point.
pub struct RequestRun {
    chain: Arc<Chain>,
    request_id: String,
    context: Context,
    /// The HTTP request JSON as the last `http_pre_hook` left it (input of later HTTP hooks).
    http_request: RawJson,
    /// How many plugins' `http_pre_hook` ran (from the start of the chain).
    http_pre_ran: usize,
    /// How many plugins' `pre_hook` ran.
    pre_ran: usize,
    stats: Vec<HookStat>,
}

impl fmt::Debug for RequestRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestRun")
            .field("request_id", &self.request_id)
            .field("context", &self.context)
            .field("http_pre_ran", &self.http_pre_ran)
            .field("pre_ran", &self.pre_ran)
            .finish_non_exhaustive()
    }
}

/// Writes a hook's input envelope: `{"context":…,"<key>":<raw JSON>,…}`, payloads verbatim.
fn envelope(ctx: &Context, members: &[(&str, &str)]) -> String {
    let payload: usize = members.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
    let mut s = String::with_capacity(payload + 256);
    s.push_str("{\"context\":");
    ctx.write_json(&mut s);
    for (key, value) in members {
        s.push_str(",\"");
        s.push_str(key);
        s.push_str("\":");
        s.push_str(value);
    }
    s.push('}');
    s
}

impl RequestRun {
    /// Starts a request: the context is seeded with `request_id` and `request-id`, and the
    /// start time under [`START_TIME_KEY`].
    pub fn new(chain: Arc<Chain>, request_id: &str) -> Self {
        let n = chain.len();
        let mut context = Context::with_request_id(request_id);
        context.set(START_TIME_KEY, unix_ms_now());
        RequestRun {
            chain,
            request_id: request_id.to_string(),
            context,
            http_request: RawJson::null(),
            http_pre_ran: n,
            pre_ran: n,
            stats: Vec::new(),
        }
    }

    /// The chain this request runs through.
    pub fn chain(&self) -> &Arc<Chain> {
        &self.chain
    }

    /// The request id.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The context as it is now.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// Sets a context value (the gateway may add its own keys before the first hook).
    pub fn set_context(&mut self, key: &str, value: RawJson) {
        self.context.set(key, value);
    }

    /// The HTTP request JSON as the `http_pre_hook` chain left it.
    pub fn http_request(&self) -> &RawJson {
        &self.http_request
    }

    /// Per plugin and hook: what happened and how long it took, in call order.
    pub fn stats(&self) -> &[HookStat] {
        &self.stats
    }

    /// A one-line summary of [`RequestRun::stats`] for a log line, e.g.
    /// `hello-world.pre_hook=short_circuited(14µs) hello-world.post_hook=changed(9µs)`.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for stat in &self.stats {
            if !out.is_empty() {
                out.push(' ');
            }
            let name = &self.chain.plugins[stat.plugin].name;
            let _ = write!(out, "{name}.{}=", stat.hook);
            if stat.calls == 1 {
                out.push_str(stat.outcome().name());
            } else {
                let mut first = true;
                for o in HookOutcome::ALL {
                    let n = stat.count(o);
                    if n > 0 {
                        if !first {
                            out.push('+');
                        }
                        first = false;
                        let _ = write!(out, "{}x{n}", o.name());
                    }
                }
            }
            let _ = write!(out, "({:?})", stat.duration);
            if !stat.context_keys.is_empty() {
                let _ = write!(out, "[ctx:{}]", stat.context_keys.join(","));
            }
        }
        out
    }

    // ----- plumbing -----

    fn call(&self, index: usize, hook: Hook, input: impl FnOnce(&Context) -> String) -> Call {
        let runner = &self.chain.plugins[index].runner;
        if !runner.implements(hook) {
            return Call::Absent;
        }
        let input = input(&self.context);
        match runner.call_hook(hook, input.as_bytes()) {
            Ok(None) => Call::Absent,
            Ok(Some(out)) => Call::Output(out),
            Err(e) => Call::Failure(e),
        }
    }

    fn record(
        &mut self,
        plugin: usize,
        hook: Hook,
        outcome: HookOutcome,
        started: Instant,
        context_keys: Vec<String>,
    ) {
        let elapsed = started.elapsed();
        let stat = match self
            .stats
            .iter_mut()
            .position(|s| s.plugin == plugin && s.hook == hook)
        {
            Some(i) => &mut self.stats[i],
            None => {
                self.stats.push(HookStat {
                    plugin,
                    hook,
                    calls: 0,
                    counts: [0; 6],
                    duration: Duration::ZERO,
                    context_keys: Vec::new(),
                    error: None,
                });
                self.stats.last_mut().expect("just pushed")
            }
        };
        stat.calls += 1;
        stat.counts[outcome.index()] += 1;
        stat.duration += elapsed;
        for key in context_keys {
            if !stat.context_keys.contains(&key) {
                stat.context_keys.push(key);
            }
        }
    }

    /// Records a returned error or failure, logs it at warn level, and says what to do.
    fn problem(
        &mut self,
        plugin: usize,
        hook: Hook,
        problem: Problem,
        message: &str,
        started: Instant,
    ) -> ErrorAction {
        let p = &self.chain.plugins[plugin];
        let http = matches!(
            hook,
            Hook::HttpPreHook | Hook::HttpPostHook | Hook::HttpStreamChunkHook
        );
        let action = match (p.policy, problem, http) {
            (FailurePolicy::FailClosed, _, _) => ErrorAction::Answered,
            (_, Problem::Returned, true) => ErrorAction::Answered,
            (_, Problem::Returned, false) => ErrorAction::Continued,
            (FailurePolicy::FailOpen, Problem::Failed, _) => ErrorAction::Bypassed,
            (FailurePolicy::Default, Problem::Failed, true) => ErrorAction::Answered,
            (FailurePolicy::Default, Problem::Failed, false) => ErrorAction::Continued,
        };
        let what = match problem {
            Problem::Returned => "returned an error",
            Problem::Failed => "failed",
        };
        match action {
            ErrorAction::Continued => tracing::warn!(
                request_id = %self.request_id, plugin = %p.name, hook = %hook, policy = %p.policy,
                "plugin {} {hook} {what}; continuing with the previous value: {message}", p.name
            ),
            ErrorAction::Bypassed => tracing::warn!(
                request_id = %self.request_id, plugin = %p.name, hook = %hook, policy = %p.policy,
                "BYPASSED plugin {} ({hook} {what}, fail_open): the request continues without it: {message}",
                p.name
            ),
            ErrorAction::Answered => tracing::warn!(
                request_id = %self.request_id, plugin = %p.name, hook = %hook, policy = %p.policy,
                "plugin {} {hook} {what}; answering the client with an error: {message}", p.name
            ),
        }
        let outcome = match problem {
            Problem::Returned => HookOutcome::Error,
            Problem::Failed => HookOutcome::Failed,
        };
        self.record(plugin, hook, outcome, started, Vec::new());
        let stat = self
            .stats
            .iter_mut()
            .find(|s| s.plugin == plugin && s.hook == hook)
            .expect("recorded above");
        if stat.error.is_none() {
            stat.error = Some((message.to_string(), action));
        }
        action
    }

    fn error_json(&self, plugin: usize, hook: Hook, problem: Problem, message: &str) -> RawJson {
        let p = &self.chain.plugins[plugin];
        let (kind, text) = match problem {
            Problem::Returned => (
                "plugin_error",
                format!("plugin `{}` {hook} returned an error: {message}", p.name),
            ),
            Problem::Failed => (
                "plugin_failure",
                format!(
                    "plugin `{}` {hook} failed (failure policy {}): {message}",
                    p.name, p.policy
                ),
            ),
        };
        plugin_error_json(500, kind, &text)
    }

    fn shape_error(&self, plugin: usize, hook: Hook, output: &str, error: String) -> String {
        HostError::new(crate::ErrorKind::OutputShape {
            error,
            excerpt: excerpt(output),
        })
        .plugin_named(self.chain.plugins[plugin].name.as_str())
        .in_function(hook.name())
        .to_string()
    }

    fn apply_context(&mut self, output: &Output<'_>) -> Result<Vec<String>, String> {
        match output.get("context") {
            None => Ok(Vec::new()),
            Some(v) if JsonKind::of(v) == JsonKind::Null => Ok(Vec::new()),
            Some(v) => self.context.merge(v),
        }
    }

    /// Checks the context of an output without applying it.
    fn check_context(output: &Output<'_>) -> Result<(), String> {
        match output.get("context").map(JsonKind::of) {
            None | Some(JsonKind::Null) | Some(JsonKind::Object) => Ok(()),
            Some(other) => Err(format!("`context` must be an object, found {}", other.name())),
        }
    }

    fn normalize_response(&self, shaped: LlmResponse) -> Result<RawJson, String> {
        let wanted = match self.chain.shape {
            RequestShape::GoEnvelope => ResponseShape::GoEnvelope,
            RequestShape::Flat | RequestShape::Snake => ResponseShape::Snake,
        };
        if shaped.shape() == wanted || !shaped.has_chat() {
            return Ok(shaped.into_raw());
        }
        let chat = shaped.chat_raw().expect("has_chat");
        Ok(validated(&wrap_chat_response(chat, self.chain.shape)))
    }

    fn normalize_request(&self, request: &str, before: &RawJson) -> Result<RawJson, String> {
        let shaped = LlmRequest::new(validated(request));
        if shaped.shape() == self.chain.shape || !shaped.is_chat() {
            return Ok(shaped.into_raw());
        }
        let Some(inner) = shaped.inner() else {
            return Ok(shaped.into_raw());
        };
        let stream = LlmRequest::new(before.clone())
            .request_type()
            .is_some_and(|t| t.ends_with("_stream"));
        Ok(validated(&wrap_chat_request(inner, self.chain.shape, stream)))
    }

    // ----- HTTP pre-hooks -----

    /// Runs `http_pre_hook` of every plugin in order on `request` (the HTTP request JSON:
    /// `{"method","path","headers","query","body"}` with a base64 body).
    pub fn http_pre_hook(&mut self, request: RawJson) -> HttpPreOutcome {
        const HOOK: Hook = Hook::HttpPreHook;
        self.http_request = request;
        for i in 0..self.chain.len() {
            let started = Instant::now();
            let req = &self.http_request;
            let call = self.call(i, HOOK, |ctx| envelope(ctx, &[("request", req.as_str())]));
            let out = match call {
                Call::Absent => continue,
                Call::Failure(e) => {
                    if let Some(answer) = self.http_failure(i, HOOK, Problem::Failed, &e.to_string(), started)
                    {
                        self.http_pre_ran = i;
                        return HttpPreOutcome::Respond(answer);
                    }
                    continue;
                }
                Call::Output(out) => out,
            };
            match self.read_http_pre(i, &out) {
                Ok(step) => match step {
                    HttpPreStep::Error(message) => {
                        if let Some(answer) = self.http_failure(i, HOOK, Problem::Returned, &message, started)
                        {
                            self.http_pre_ran = i;
                            return HttpPreOutcome::Respond(answer);
                        }
                    }
                    HttpPreStep::Respond(answer, keys) => {
                        self.record(i, HOOK, HookOutcome::ShortCircuited, started, keys);
                        self.http_pre_ran = i + 1;
                        return HttpPreOutcome::Respond(answer);
                    }
                    HttpPreStep::Continue(new_request, keys) => {
                        let outcome = match new_request {
                            Some(r) if differs(self.http_request.as_str(), r.as_str()) => {
                                self.http_request = r;
                                HookOutcome::Changed
                            }
                            Some(r) => {
                                self.http_request = r;
                                HookOutcome::Passed
                            }
                            None => HookOutcome::Passed,
                        };
                        self.record(i, HOOK, outcome, started, keys);
                    }
                },
                Err(message) => {
                    let message = self.shape_error(i, HOOK, &out, message);
                    if let Some(answer) = self.http_failure(i, HOOK, Problem::Failed, &message, started) {
                        self.http_pre_ran = i;
                        return HttpPreOutcome::Respond(answer);
                    }
                }
            }
        }
        self.http_pre_ran = self.chain.len();
        HttpPreOutcome::Continue(self.http_request.clone())
    }

    /// Handles an HTTP hook problem: `Some(answer)` when the client gets an error.
    fn http_failure(
        &mut self,
        plugin: usize,
        hook: Hook,
        problem: Problem,
        message: &str,
        started: Instant,
    ) -> Option<HttpAnswer> {
        match self.problem(plugin, hook, problem, message, started) {
            ErrorAction::Answered => Some(HttpAnswer::json_error(
                500,
                &self.error_json(plugin, hook, problem, message),
            )),
            ErrorAction::Continued | ErrorAction::Bypassed => None,
        }
    }

    fn read_http_pre(&mut self, plugin: usize, out: &str) -> Result<HttpPreStep, String> {
        let output = Output::parse(out)?;
        Self::check_context(&output)?;
        if let Some(message) = output.error_text("error") {
            return Ok(HttpPreStep::Error(message));
        }
        if output.flag("has_response")? {
            let response = output
                .payload("response")
                .ok_or("`has_response` is true but `response` is missing or null")?;
            let answer = http_answer(response)?;
            let keys = self.apply_context(&output)?;
            return Ok(HttpPreStep::Respond(answer, keys));
        }
        let request = match output.payload("request") {
            None => None,
            Some(r) if r == self.http_request.as_str() => None,
            Some(r) if JsonKind::of(r) == JsonKind::Object => Some(validated(r)),
            Some(r) => {
                return Err(format!(
                    "`request` must be an HTTP request object or null, found {}",
                    JsonKind::of(r).name()
                ))
            }
        };
        let keys = self.apply_context(&output)?;
        let _ = plugin;
        Ok(HttpPreStep::Continue(request, keys))
    }

    // ----- LLM pre-hooks -----

    /// Runs `pre_hook` of every plugin in order on `request` (in the chain's shape). A
    /// short-circuit stops the loop: later pre-hooks and the provider are skipped, and
    /// [`RequestRun::post_hook`] will run only the plugins whose pre-hook ran.
    pub fn pre_hook(&mut self, request: RawJson) -> PreOutcome {
        const HOOK: Hook = Hook::PreHook;
        let mut current = request;
        for i in 0..self.chain.len() {
            let started = Instant::now();
            let req = &current;
            let call = self.call(i, HOOK, |ctx| envelope(ctx, &[("request", req.as_str())]));
            let out = match call {
                Call::Absent => continue,
                Call::Output(out) => out,
                Call::Failure(e) => {
                    if let Some(error) = self.llm_problem(i, HOOK, Problem::Failed, &e.to_string(), started) {
                        // Fail closed: an error answer in place of the provider; the failing
                        // plugin's own post_hook is not run.
                        self.pre_ran = i;
                        return PreOutcome::ShortCircuit(LlmResult::Error(error));
                    }
                    continue;
                }
            };
            let step = self.read_pre(&out, &current);
            match step {
                Ok(PreStep::Error(message)) => {
                    if let Some(error) = self.llm_problem(i, HOOK, Problem::Returned, &message, started) {
                        self.pre_ran = i;
                        return PreOutcome::ShortCircuit(LlmResult::Error(error));
                    }
                }
                Ok(PreStep::ShortCircuit(result, keys)) => {
                    self.record(i, HOOK, HookOutcome::ShortCircuited, started, keys);
                    self.pre_ran = i + 1;
                    return PreOutcome::ShortCircuit(result);
                }
                Ok(PreStep::Continue(new_request, keys)) => {
                    let outcome = match new_request {
                        Some(r) if differs(current.as_str(), r.as_str()) => {
                            current = r;
                            HookOutcome::Changed
                        }
                        Some(r) => {
                            current = r;
                            HookOutcome::Passed
                        }
                        None => HookOutcome::Passed,
                    };
                    self.record(i, HOOK, outcome, started, keys);
                }
                Err(message) => {
                    let message = self.shape_error(i, HOOK, &out, message);
                    if let Some(error) = self.llm_problem(i, HOOK, Problem::Failed, &message, started) {
                        self.pre_ran = i;
                        return PreOutcome::ShortCircuit(LlmResult::Error(error));
                    }
                }
            }
        }
        self.pre_ran = self.chain.len();
        PreOutcome::Continue(current)
    }

    /// Handles an LLM hook problem: `Some(error)` when it becomes an error answer.
    fn llm_problem(
        &mut self,
        plugin: usize,
        hook: Hook,
        problem: Problem,
        message: &str,
        started: Instant,
    ) -> Option<RawJson> {
        match self.problem(plugin, hook, problem, message, started) {
            ErrorAction::Answered => Some(self.error_json(plugin, hook, problem, message)),
            ErrorAction::Continued | ErrorAction::Bypassed => None,
        }
    }

    fn read_pre(&mut self, out: &str, before: &RawJson) -> Result<PreStep, String> {
        let output = Output::parse(out)?;
        Self::check_context(&output)?;
        if let Some(message) = output.error_text("error") {
            return Ok(PreStep::Error(message));
        }
        if output.flag("has_short_circuit")? {
            let sc = output
                .payload("short_circuit")
                .ok_or("`has_short_circuit` is true but `short_circuit` is missing or null")?;
            let parts = ShortCircuitParts::parse(sc).map_err(|e| e.to_string())?;
            let result =
                match (parts.response, parts.error) {
                    (_, Some(error)) if !error.is_empty_value() => {
                        if error.kind() != JsonKind::Object {
                            return Err(format!(
                                "`short_circuit.error` must be a Bifrost error object, found {}",
                                error.kind().name()
                            ));
                        }
                        LlmResult::Error(error)
                    }
                    (Some(response), _) if !response.is_empty_value() => {
                        LlmResult::Response(self.normalize_response(LlmResponse::new(response))?)
                    }
                    _ => return Err(
                        "`has_short_circuit` is true but `short_circuit` has neither a response nor an error"
                            .to_string(),
                    ),
                };
            let keys = self.apply_context(&output)?;
            return Ok(PreStep::ShortCircuit(result, keys));
        }
        let request = match output.payload("request") {
            None => None,
            Some(r) if r == before.as_str() => None,
            Some(r) if JsonKind::of(r) == JsonKind::Object => Some(self.normalize_request(r, before)?),
            Some(r) => {
                return Err(format!(
                    "`request` must be a request object or null, found {}",
                    JsonKind::of(r).name()
                ))
            }
        };
        let keys = self.apply_context(&output)?;
        Ok(PreStep::Continue(request, keys))
    }

    // ----- LLM post-hooks -----

    /// Runs `post_hook` in reverse for the plugins whose `pre_hook` ran, on the provider's
    /// result (or a short-circuit's). For a stream, call it once per chunk with the chunk
    /// wrapped as a response.
    pub fn post_hook(&mut self, result: LlmResult) -> LlmResult {
        const HOOK: Hook = Hook::PostHook;
        let mut current = result;
        for i in (0..self.pre_ran).rev() {
            let started = Instant::now();
            let cur = &current;
            let call = self.call(i, HOOK, |ctx| {
                let (response, error, has_error) = match cur {
                    LlmResult::Response(r) => (r.as_str(), "{}", "false"),
                    LlmResult::Error(e) => ("null", e.as_str(), "true"),
                };
                envelope(
                    ctx,
                    &[("response", response), ("error", error), ("has_error", has_error)],
                )
            });
            let out = match call {
                Call::Absent => continue,
                Call::Output(out) => out,
                Call::Failure(e) => {
                    if let Some(error) = self.llm_problem(i, HOOK, Problem::Failed, &e.to_string(), started) {
                        current = LlmResult::Error(error);
                    }
                    continue;
                }
            };
            match self.read_post(&out, &current) {
                Ok(PostStep::Error(message)) => {
                    if let Some(error) = self.llm_problem(i, HOOK, Problem::Returned, &message, started) {
                        current = LlmResult::Error(error);
                    }
                }
                Ok(PostStep::Continue(next, keys)) => {
                    let outcome = match next {
                        Some(next) => {
                            let changed = match (&current, &next) {
                                (LlmResult::Response(a), LlmResult::Response(b))
                                | (LlmResult::Error(a), LlmResult::Error(b)) => {
                                    differs(a.as_str(), b.as_str())
                                }
                                _ => true,
                            };
                            current = next;
                            if changed {
                                HookOutcome::Changed
                            } else {
                                HookOutcome::Passed
                            }
                        }
                        None => HookOutcome::Passed,
                    };
                    self.record(i, HOOK, outcome, started, keys);
                }
                Err(message) => {
                    let message = self.shape_error(i, HOOK, &out, message);
                    if let Some(error) = self.llm_problem(i, HOOK, Problem::Failed, &message, started) {
                        current = LlmResult::Error(error);
                    }
                }
            }
        }
        current
    }

    fn read_post(&mut self, out: &str, current: &LlmResult) -> Result<PostStep, String> {
        let output = Output::parse(out)?;
        Self::check_context(&output)?;
        if let Some(message) = output.error_text("hook_error") {
            return Ok(PostStep::Error(message));
        }
        let has_error = output.flag("has_error")?;
        let next = if has_error {
            let error = output
                .payload("error")
                .ok_or("`has_error` is true but `error` is missing, null or empty")?;
            if JsonKind::of(error) != JsonKind::Object {
                return Err(format!(
                    "`error` must be a Bifrost error object, found {}",
                    JsonKind::of(error).name()
                ));
            }
            Some(LlmResult::Error(validated(error)))
        } else {
            match output.payload("response") {
                Some(r) if matches!(current, LlmResult::Response(c) if c.as_str() == r) => None,
                // A response given back: kept (or, after an error, a recovery).
                Some(r) if JsonKind::of(r) == JsonKind::Object => {
                    let response = LlmResponse::new(validated(r));
                    let empty_envelope = response.shape() == ResponseShape::GoEnvelope
                        && !response.has_chat()
                        && valid_members(r)
                            .iter()
                            .all(|(_, v)| JsonKind::of(v) == JsonKind::Null);
                    if empty_envelope {
                        None
                    } else {
                        Some(LlmResult::Response(self.normalize_response(response)?))
                    }
                }
                Some(r) => {
                    return Err(format!(
                        "`response` must be a response object or null, found {}",
                        JsonKind::of(r).name()
                    ))
                }
                // No response and no error flag: unchanged (the Go and TypeScript examples pass
                // errors through with `has_error: false`).
                None => None,
            }
        };
        let keys = self.apply_context(&output)?;
        Ok(PostStep::Continue(next, keys))
    }

    // ----- HTTP post-hooks -----

    /// Runs `http_post_hook` in reverse for the plugins whose `http_pre_hook` ran (non-streaming
    /// responses only). `response` is the HTTP response JSON
    /// (`{"status_code","headers","body"}`, base64 body). A plugin cannot change the response;
    /// `Some(answer)` means a plugin's error replaced it with an error answer.
    pub fn http_post_hook(&mut self, response: &RawJson) -> Option<HttpAnswer> {
        const HOOK: Hook = Hook::HttpPostHook;
        for i in (0..self.http_pre_ran).rev() {
            let started = Instant::now();
            let req = &self.http_request;
            let call = self.call(i, HOOK, |ctx| {
                envelope(ctx, &[("request", req.as_str()), ("response", response.as_str())])
            });
            let out = match call {
                Call::Absent => continue,
                Call::Output(out) => out,
                Call::Failure(e) => {
                    if let Some(answer) = self.http_failure(i, HOOK, Problem::Failed, &e.to_string(), started)
                    {
                        return Some(answer);
                    }
                    continue;
                }
            };
            let read = Output::parse(&out).and_then(|output| {
                Self::check_context(&output)?;
                match output.error_text("error") {
                    Some(message) => Ok(Err(message)),
                    None => Ok(Ok(self.apply_context(&output)?)),
                }
            });
            match read {
                Ok(Ok(keys)) => self.record(i, HOOK, HookOutcome::Passed, started, keys),
                Ok(Err(message)) => {
                    if let Some(answer) = self.http_failure(i, HOOK, Problem::Returned, &message, started) {
                        return Some(answer);
                    }
                }
                Err(message) => {
                    let message = self.shape_error(i, HOOK, &out, message);
                    if let Some(answer) = self.http_failure(i, HOOK, Problem::Failed, &message, started) {
                        return Some(answer);
                    }
                }
            }
        }
        None
    }

    // ----- stream chunks -----

    /// Runs `http_stream_chunk_hook` in reverse on one chunk (a chat completion chunk object,
    /// no SSE framing). `skip` drops the chunk (later plugins do not see it), a replaced chunk
    /// goes on, an error without a chunk ends the stream.
    pub fn stream_chunk(&mut self, chunk: RawJson) -> ChunkOutcome {
        const HOOK: Hook = Hook::HttpStreamChunkHook;
        let mut current = chunk;
        for i in (0..self.http_pre_ran).rev() {
            let started = Instant::now();
            let req = &self.http_request;
            let cur = &current;
            let call = self.call(i, HOOK, |ctx| {
                envelope(ctx, &[("request", req.as_str()), ("chunk", cur.as_str())])
            });
            let out = match call {
                Call::Absent => continue,
                Call::Output(out) => out,
                Call::Failure(e) => {
                    if let Some(end) = self.chunk_problem(i, Problem::Failed, &e.to_string(), started) {
                        return end;
                    }
                    continue;
                }
            };
            match self.read_chunk(&out, &current) {
                Ok(ChunkStep::Skip(keys)) => {
                    self.record(i, HOOK, HookOutcome::Dropped, started, keys);
                    return ChunkOutcome::Skip;
                }
                Ok(ChunkStep::Continue(next, keys)) => {
                    let outcome = match next {
                        Some(next) if differs(current.as_str(), next.as_str()) => {
                            current = next;
                            HookOutcome::Changed
                        }
                        Some(next) => {
                            current = next;
                            HookOutcome::Passed
                        }
                        None => HookOutcome::Passed,
                    };
                    self.record(i, HOOK, outcome, started, keys);
                }
                Ok(ChunkStep::ErrorWithChunk(message, next, keys)) => {
                    // Go's `(chunk, err)`: log and go on with the chunk, unless fail_closed.
                    if self.chain.plugins[i].policy == FailurePolicy::FailClosed {
                        if let Some(end) = self.chunk_problem(i, Problem::Returned, &message, started) {
                            return end;
                        }
                    }
                    tracing::warn!(
                        request_id = %self.request_id, plugin = %self.chain.plugins[i].name, hook = %HOOK,
                        "plugin {} {HOOK} returned an error with a chunk; sending the chunk: {message}",
                        self.chain.plugins[i].name
                    );
                    if let Some(next) = next {
                        current = next;
                    }
                    self.record(i, HOOK, HookOutcome::Error, started, keys);
                    let stat = self
                        .stats
                        .iter_mut()
                        .find(|s| s.plugin == i && s.hook == HOOK)
                        .expect("recorded");
                    stat.error.get_or_insert((message, ErrorAction::Continued));
                }
                Ok(ChunkStep::Error(message)) => {
                    if let Some(end) = self.chunk_problem(i, Problem::Returned, &message, started) {
                        return end;
                    }
                }
                Err(message) => {
                    let message = self.shape_error(i, HOOK, &out, message);
                    if let Some(end) = self.chunk_problem(i, Problem::Failed, &message, started) {
                        return end;
                    }
                }
            }
        }
        ChunkOutcome::Send(current)
    }

    fn chunk_problem(
        &mut self,
        plugin: usize,
        problem: Problem,
        message: &str,
        started: Instant,
    ) -> Option<ChunkOutcome> {
        const HOOK: Hook = Hook::HttpStreamChunkHook;
        match self.problem(plugin, HOOK, problem, message, started) {
            ErrorAction::Answered => Some(ChunkOutcome::End(self.error_json(plugin, HOOK, problem, message))),
            ErrorAction::Continued | ErrorAction::Bypassed => None,
        }
    }

    fn read_chunk(&mut self, out: &str, current: &RawJson) -> Result<ChunkStep, String> {
        let output = Output::parse(out)?;
        Self::check_context(&output)?;
        // `Some(None)`: a chunk given back unchanged.
        let chunk = match output.get("chunk") {
            None => None,
            Some(c) if JsonKind::of(c) == JsonKind::Null => None,
            Some(c) if c == current.as_str() => Some(None),
            Some(c) if JsonKind::of(c) == JsonKind::Object => Some(Some(validated(c))),
            Some(c) => {
                return Err(format!(
                    "`chunk` must be a chunk object or null, found {}",
                    JsonKind::of(c).name()
                ))
            }
        };
        let has_chunk = output.flag("has_chunk")?;
        let skip = output.flag("skip")?;
        if let Some(message) = output.error_text("error") {
            if let (true, Some(chunk)) = (has_chunk, chunk) {
                let keys = self.apply_context(&output)?;
                return Ok(ChunkStep::ErrorWithChunk(message, chunk, keys));
            }
            return Ok(ChunkStep::Error(message));
        }
        let keys = self.apply_context(&output)?;
        if skip {
            return Ok(ChunkStep::Skip(keys));
        }
        Ok(ChunkStep::Continue(
            if has_chunk { chunk.flatten() } else { None },
            keys,
        ))
    }
}

enum HttpPreStep {
    Error(String),
    Respond(HttpAnswer, Vec<String>),
    Continue(Option<RawJson>, Vec<String>),
}

enum PreStep {
    Error(String),
    ShortCircuit(LlmResult, Vec<String>),
    Continue(Option<RawJson>, Vec<String>),
}

enum PostStep {
    Error(String),
    Continue(Option<LlmResult>, Vec<String>),
}

enum ChunkStep {
    Error(String),
    ErrorWithChunk(String, Option<RawJson>, Vec<String>),
    Skip(Vec<String>),
    Continue(Option<RawJson>, Vec<String>),
}

fn http_answer(response: &str) -> Result<HttpAnswer, String> {
    let parsed: HTTPResponse = serde_json::from_str(response)
        .map_err(|e| format!("`response` is not an HTTP response object: {e}"))?;
    let status = match parsed.status_code {
        0 => 200,
        s @ 100..=599 => s as u16,
        other => return Err(format!("`response.status_code` {other} is not an HTTP status")),
    };
    let body = parsed
        .body_bytes()
        .map_err(|e| format!("`response.body` is not valid base64: {e}"))?;
    let mut headers: Vec<(String, String)> = parsed.headers.into_iter().collect();
    headers.sort();
    Ok(HttpAnswer {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bifrost_wasm_types::raw::object_entries;
    use std::sync::Mutex;

    type HookFn = Box<dyn Fn(&str) -> Result<String, HostError> + Send + Sync>;
    type Log = Arc<Mutex<Vec<String>>>;

    /// A plugin whose hooks are closures; every call is logged as `name:hook`.
    struct Fake {
        name: String,
        hooks: Vec<(Hook, HookFn)>,
        log: Log,
        inputs: Arc<Mutex<Vec<(String, Hook, String)>>>,
    }

    impl HookRunner for Fake {
        fn plugin_name(&self) -> &str {
            &self.name
        }
        fn implements(&self, hook: Hook) -> bool {
            self.hooks.iter().any(|(h, _)| *h == hook)
        }
        fn call_hook(&self, hook: Hook, input: &[u8]) -> Result<Option<String>, HostError> {
            let input = std::str::from_utf8(input).expect("inputs are UTF-8");
            serde_json::from_str::<serde::de::IgnoredAny>(input).expect("inputs are JSON");
            self.log.lock().unwrap().push(format!("{}:{}", self.name, hook));
            self.inputs
                .lock()
                .unwrap()
                .push((self.name.clone(), hook, input.to_string()));
            match self.hooks.iter().find(|(h, _)| *h == hook) {
                Some((_, f)) => f(input).map(Some),
                None => Ok(None),
            }
        }
    }

    #[derive(Default)]
    struct Builder {
        log: Log,
        inputs: Arc<Mutex<Vec<(String, Hook, String)>>>,
        plugins: Vec<ChainPlugin>,
    }

    impl Builder {
        fn plugin(mut self, name: &str, policy: FailurePolicy, hooks: Vec<(Hook, HookFn)>) -> Self {
            let fake = Fake {
                name: name.to_string(),
                hooks,
                log: self.log.clone(),
                inputs: self.inputs.clone(),
            };
            self.plugins.push(ChainPlugin::new(name, policy, Arc::new(fake)));
            self
        }
        fn build(&self, shape: RequestShape) -> Arc<Chain> {
            Arc::new(Chain::new(self.plugins.clone(), shape))
        }
        fn calls(&self) -> Vec<String> {
            self.log.lock().unwrap().clone()
        }
        fn inputs_of(&self, name: &str, hook: Hook) -> Vec<String> {
            self.inputs
                .lock()
                .unwrap()
                .iter()
                .filter(|(n, h, _)| n == name && *h == hook)
                .map(|(_, _, i)| i.clone())
                .collect()
        }
    }

    fn member<'a>(json: &'a str, key: &str) -> &'a str {
        object_entries(json)
            .unwrap()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no `{key}` in {json}"))
    }

    /// `ctx` (raw object) with `key` set to the JSON string `value`.
    fn with_key(ctx: &str, key: &str, value: &str) -> String {
        let mut c = Context::default();
        c.merge(ctx).unwrap();
        c.set(key, raw(&json_string(value)).unwrap());
        c.to_json()
    }

    fn f(g: impl Fn(&str) -> Result<String, HostError> + Send + Sync + 'static) -> HookFn {
        Box::new(g)
    }

    fn ok(g: impl Fn(&str) -> String + Send + Sync + 'static) -> HookFn {
        Box::new(move |i| Ok(g(i)))
    }

    fn pass_http_pre(i: &str) -> String {
        format!(
            r#"{{"context":{},"request":null,"has_response":false,"error":""}}"#,
            member(i, "context")
        )
    }
    fn pass_pre(i: &str) -> String {
        format!(
            r#"{{"context":{},"request":{},"short_circuit":null,"has_short_circuit":false,"error":""}}"#,
            member(i, "context"),
            member(i, "request")
        )
    }
    fn pass_post(i: &str) -> String {
        format!(
            r#"{{"context":{},"response":{},"error":{},"has_error":{},"hook_error":""}}"#,
            member(i, "context"),
            member(i, "response"),
            member(i, "error"),
            member(i, "has_error")
        )
    }
    fn pass_http_post(i: &str) -> String {
        format!(r#"{{"context":{},"error":""}}"#, member(i, "context"))
    }
    fn pass_chunk(i: &str) -> String {
        format!(
            r#"{{"context":{},"chunk":{},"has_chunk":true,"skip":false,"error":""}}"#,
            member(i, "context"),
            member(i, "chunk")
        )
    }

    fn all_pass() -> Vec<(Hook, HookFn)> {
        vec![
            (Hook::HttpPreHook, ok(pass_http_pre)),
            (Hook::PreHook, ok(pass_pre)),
            (Hook::PostHook, ok(pass_post)),
            (Hook::HttpPostHook, ok(pass_http_post)),
            (Hook::HttpStreamChunkHook, ok(pass_chunk)),
        ]
    }

    fn trap(name: &str, function: &'static str) -> HostError {
        HostError::new(crate::ErrorKind::Trap {
            message: "wasm trap: wasm `unreachable` instruction executed".to_string(),
            last_error: Some("panicked at src/lib.rs:1: boom".to_string()),
        })
        .plugin_named(name)
        .in_function(function)
    }

    const HTTP_REQ: &str = r#"{"method":"POST","path":"/v1/chat/completions","headers":{"Content-Type":"application/json"},"query":{},"body":"e30="}"#;
    const FLAT_REQ: &str = r#"{"provider":"openai","model":"gpt-4","input":[{"role":"user","content":"Hello"}],"params":{"seed":123456789012345678901234567890,"x_unknown":null,"t":1.0}}"#;
    const CHAT: &str = r#"{"id":"chatcmpl-1","model":"gpt-4","choices":[{"index":0,"message":{"role":"assistant","content":"Hi!"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":10,"total_tokens":15},"big":98765432109876543210}"#;
    const HTTP_RESP: &str =
        r#"{"status_code":200,"headers":{"content-type":"application/json"},"body":"e30="}"#;

    fn go_request() -> RawJson {
        raw(&wrap_chat_request(FLAT_REQ, RequestShape::GoEnvelope, false)).unwrap()
    }
    fn go_response() -> RawJson {
        raw(&wrap_chat_response(CHAT, RequestShape::GoEnvelope)).unwrap()
    }

    /// Runs one whole non-streaming request: http pre, pre, provider (echo CHAT), post, http post.
    fn run_full(run: &mut RequestRun) -> Result<LlmResult, HttpAnswer> {
        match run.http_pre_hook(raw(HTTP_REQ).unwrap()) {
            HttpPreOutcome::Continue(_) => {}
            HttpPreOutcome::Respond(answer) => {
                if let Some(replaced) = run.http_post_hook(&raw(HTTP_RESP).unwrap()) {
                    return Err(replaced);
                }
                return Err(answer);
            }
        }
        let result = match run.pre_hook(go_request()) {
            PreOutcome::Continue(_) => LlmResult::Response(go_response()),
            PreOutcome::ShortCircuit(r) => r,
        };
        let result = run.post_hook(result);
        match run.http_post_hook(&raw(HTTP_RESP).unwrap()) {
            Some(answer) => Err(answer),
            None => Ok(result),
        }
    }

    #[test]
    fn pre_hooks_run_in_order_and_post_hooks_in_reverse() {
        let b = Builder::default()
            .plugin("a", FailurePolicy::Default, all_pass())
            .plugin("b", FailurePolicy::Default, all_pass())
            .plugin("c", FailurePolicy::Default, all_pass());
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r1");
        let result = run_full(&mut run).unwrap();
        assert_eq!(result, LlmResult::Response(go_response()));
        assert_eq!(
            b.calls(),
            [
                "a:http_pre_hook",
                "b:http_pre_hook",
                "c:http_pre_hook",
                "a:pre_hook",
                "b:pre_hook",
                "c:pre_hook",
                "c:post_hook",
                "b:post_hook",
                "a:post_hook",
                "c:http_post_hook",
                "b:http_post_hook",
                "a:http_post_hook",
            ]
        );
    }

    #[test]
    fn context_is_seeded_with_both_request_id_keys_and_flows_through_every_hook() {
        let set = |key: &'static str| {
            ok(move |i: &str| {
                format!(
                    r#"{{"context":{},"request":null,"has_response":false}}"#,
                    with_key(member(i, "context"), key, "1")
                )
            })
        };
        let b = Builder::default()
            .plugin(
                "a",
                FailurePolicy::Default,
                vec![
                    (Hook::HttpPreHook, set("from-http")),
                    (Hook::PreHook, ok(pass_pre)),
                ],
            )
            .plugin(
                "b",
                FailurePolicy::Default,
                vec![
                    (
                        Hook::PreHook,
                        ok(|i: &str| {
                            format!(
                                r#"{{"context":{},"request":null}}"#,
                                with_key(member(i, "context"), "from-pre-hook", "789")
                            )
                        }),
                    ),
                    (Hook::PostHook, ok(pass_post)),
                    (Hook::HttpPostHook, ok(pass_http_post)),
                ],
            );
        let mut run = RequestRun::new(b.build(RequestShape::Flat), "abc-123");
        run_full(&mut run).unwrap();
        let first = &b.inputs_of("a", Hook::HttpPreHook)[0];
        let context = member(first, "context");
        assert!(
            context.starts_with(r#"{"request_id":"abc-123","request-id":"abc-123","request_start_unix_ms":"#),
            "{context}"
        );
        let pre_b = &b.inputs_of("b", Hook::PreHook)[0];
        assert_eq!(member(member(pre_b, "context"), "from-http"), r#""1""#);
        let post_b = &b.inputs_of("b", Hook::PostHook)[0];
        assert_eq!(member(member(post_b, "context"), "from-pre-hook"), r#""789""#);
        let http_post_b = &b.inputs_of("b", Hook::HttpPostHook)[0];
        assert_eq!(member(member(http_post_b, "context"), "from-http"), r#""1""#);
        assert_eq!(member(http_post_b, "request"), HTTP_REQ);
        assert_eq!(run.context().get("request-id").unwrap().as_str(), r#""abc-123""#);
    }

    #[test]
    fn payloads_pass_between_plugins_byte_for_byte_including_big_integers() {
        let b = Builder::default()
            .plugin("a", FailurePolicy::Default, all_pass())
            .plugin("b", FailurePolicy::Default, all_pass());
        let chain = b.build(RequestShape::GoEnvelope);
        let mut run = RequestRun::new(chain, "r");
        let request = go_request();
        assert_eq!(
            run.pre_hook(request.clone()),
            PreOutcome::Continue(request.clone())
        );
        assert!(
            member(&b.inputs_of("b", Hook::PreHook)[0], "request").contains("123456789012345678901234567890")
        );
        let out = run.post_hook(LlmResult::Response(go_response()));
        assert_eq!(out, LlmResult::Response(go_response()));
        let chunk =
            raw(r#"{"id":"c","choices":[{"index":0,"delta":{"content":"x"}}],"n":18446744073709551616}"#)
                .unwrap();
        assert_eq!(run.stream_chunk(chunk.clone()), ChunkOutcome::Send(chunk));
        assert!(
            run.stats().iter().all(|s| s.outcome() == HookOutcome::Passed),
            "{}",
            run.summary()
        );
    }

    #[test]
    fn reindented_payload_counts_as_passed_and_edit_as_changed() {
        let b = Builder::default()
            .plugin(
                "pretty",
                FailurePolicy::Default,
                vec![(
                    Hook::PreHook,
                    ok(|i: &str| {
                        let pretty = member(i, "request").replace(',', ",\n  ").replace(':', ": ");
                        format!(r#"{{"context":{},"request":{pretty}}}"#, member(i, "context"))
                    }),
                )],
            )
            .plugin(
                "edit",
                FailurePolicy::Default,
                vec![(
                    Hook::PreHook,
                    ok(|i: &str| {
                        format!(
                            r#"{{"context":{},"request":{}}}"#,
                            member(i, "context"),
                            member(i, "request").replace("gpt-4", "gpt-4o")
                        )
                    }),
                )],
            );
        let mut run = RequestRun::new(b.build(RequestShape::Flat), "r");
        let PreOutcome::Continue(out) =
            run.pre_hook(raw(r#"{"provider":"openai","model":"gpt-4","input":[]}"#).unwrap())
        else {
            panic!("continue expected")
        };
        assert!(out.as_str().contains("gpt-4o"));
        assert_eq!(run.stats()[0].outcome(), HookOutcome::Passed);
        assert_eq!(run.stats()[1].outcome(), HookOutcome::Changed);
    }

    #[test]
    fn whitespace_inside_strings_and_reordered_keys_count_as_changes() {
        assert!(!differs(r#"{"a": [1, 2]}"#, "{\"a\":[1,2]}"));
        assert!(differs(r#"{"a":"x y"}"#, r#"{"a":"xy"}"#));
        assert!(differs(r#"{"a":"\" "}"#, r#"{"a":"\""}"#));
        assert!(differs(r#"{"a":1,"b":2}"#, r#"{"b":2,"a":1}"#));
        assert!(differs(r#"{"a":1.0}"#, r#"{"a":1}"#));
        // The fast path (first differing byte) agrees with the full comparison.
        assert!(!differs("{\"a\":1,\"b\":2}", "{\"a\":1, \"b\":2}"));
        assert!(differs("{\"a\":\"x\",\"b\":2}", "{\"a\":\"x \",\"b\":2}"));
        assert!(differs(
            "{\"model\":\"gpt-4\"}",
            "{\"model\":\"gpt-4 (via rust-wasm)\"}"
        ));
        assert!(!differs("[1,2]", "[1,2]\n"));
        assert!(differs("[1,2]", "[1,2,3]"));
    }

    #[test]
    fn null_or_empty_request_in_output_means_unchanged() {
        let b = Builder::default()
            .plugin(
                "null",
                FailurePolicy::Default,
                vec![(
                    Hook::PreHook,
                    ok(|i: &str| format!(r#"{{"context":{},"request":null}}"#, member(i, "context"))),
                )],
            )
            .plugin(
                "empty",
                FailurePolicy::Default,
                vec![(
                    Hook::PreHook,
                    ok(|i: &str| format!(r#"{{"context":{},"request":{{}}}}"#, member(i, "context"))),
                )],
            )
            .plugin(
                "missing",
                FailurePolicy::Default,
                vec![(Hook::PreHook, ok(|_: &str| "{}".to_string()))],
            );
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
        assert_eq!(run.pre_hook(go_request()), PreOutcome::Continue(go_request()));
        assert_eq!(run.stats().len(), 3);
    }

    #[test]
    fn pre_hook_short_circuit_skips_later_pre_hooks_and_runs_post_hooks_only_for_plugins_that_ran() {
        let sc = ok(|i: &str| {
            format!(
                r#"{{"context":{},"has_short_circuit":true,"short_circuit":{{"response":{{"chat_response":{CHAT}}}}}}}"#,
                member(i, "context")
            )
        });
        let b = Builder::default()
            .plugin("a", FailurePolicy::Default, all_pass())
            .plugin(
                "b",
                FailurePolicy::Default,
                vec![(Hook::PreHook, sc), (Hook::PostHook, ok(pass_post))],
            )
            .plugin("c", FailurePolicy::Default, all_pass());
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
        let PreOutcome::ShortCircuit(result) = run.pre_hook(go_request()) else {
            panic!("short-circuit expected")
        };
        // A snake-case short-circuit is re-wrapped in the chain's (Go) shape for the post-hooks.
        assert_eq!(result, LlmResult::Response(go_response()));
        let result = run.post_hook(result);
        assert_eq!(result.chat_response().unwrap().as_str(), CHAT);
        assert_eq!(
            b.calls(),
            ["a:pre_hook", "b:pre_hook", "b:post_hook", "a:post_hook"]
        );
        assert_eq!(run.stats()[1].outcome(), HookOutcome::ShortCircuited);
    }

    #[test]
    fn go_spelled_short_circuit_error_is_recognised() {
        let sc = ok(|i: &str| {
            format!(
                r#"{{"context":{},"has_short_circuit":true,"short_circuit":{{"Response":null,"Error":{{"error":{{"message":"Rate limit exceeded","type":"rate_limit","code":"429"}},"status_code":429}}}}}}"#,
                member(i, "context")
            )
        });
        let b = Builder::default()
            .plugin("limiter", FailurePolicy::Default, vec![(Hook::PreHook, sc)])
            .plugin("never", FailurePolicy::Default, all_pass());
        let mut run = RequestRun::new(b.build(RequestShape::Flat), "r");
        let PreOutcome::ShortCircuit(LlmResult::Error(e)) = run.pre_hook(raw(FLAT_REQ).unwrap()) else {
            panic!("error short-circuit expected")
        };
        assert_eq!(member(&e.to_string(), "status_code"), "429");
        assert_eq!(b.calls(), ["limiter:pre_hook"]);
    }

    #[test]
    fn go_shaped_short_circuit_response_is_rewrapped_for_a_snake_chain() {
        let sc = ok(move |i: &str| {
            format!(
                r#"{{"context":{},"has_short_circuit":true,"short_circuit":{{"Response":{},"Error":null}}}}"#,
                member(i, "context"),
                wrap_chat_response(CHAT, RequestShape::GoEnvelope)
            )
        });
        let b = Builder::default().plugin("mock", FailurePolicy::Default, vec![(Hook::PreHook, sc)]);
        let mut run = RequestRun::new(b.build(RequestShape::Snake), "r");
        let PreOutcome::ShortCircuit(LlmResult::Response(r)) =
            run.pre_hook(raw(r#"{"chat_request":{}}"#).unwrap())
        else {
            panic!("response expected")
        };
        assert_eq!(r.as_str(), format!(r#"{{"chat_response":{CHAT}}}"#));
    }

    #[test]
    fn http_pre_short_circuit_skips_later_plugins_and_http_post_runs_for_those_that_ran() {
        let answer = ok(|i: &str| {
            format!(
                r#"{{"context":{},"request":null,"response":{{"status_code":200,"headers":{{"X-Health":"yes"}},"body":"eyJzdGF0dXMiOiJvayJ9"}},"has_response":true,"error":""}}"#,
                member(i, "context")
            )
        });
        let b = Builder::default()
            .plugin("a", FailurePolicy::Default, all_pass())
            .plugin(
                "health",
                FailurePolicy::Default,
                vec![
                    (Hook::HttpPreHook, answer),
                    (Hook::HttpPostHook, ok(pass_http_post)),
                ],
            )
            .plugin("c", FailurePolicy::Default, all_pass());
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
        let HttpPreOutcome::Respond(answer) = run.http_pre_hook(raw(HTTP_REQ).unwrap()) else {
            panic!("respond expected")
        };
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, br#"{"status":"ok"}"#);
        assert_eq!(answer.headers, [("X-Health".to_string(), "yes".to_string())]);
        assert_eq!(run.http_post_hook(&raw(HTTP_RESP).unwrap()), None);
        assert_eq!(
            b.calls(),
            [
                "a:http_pre_hook",
                "health:http_pre_hook",
                "health:http_post_hook",
                "a:http_post_hook"
            ]
        );
    }

    #[test]
    fn http_pre_hook_can_rewrite_the_request_for_later_hooks() {
        let rewrite = ok(|i: &str| {
            format!(
                r#"{{"context":{},"request":{}}}"#,
                member(i, "context"),
                member(i, "request").replace("e30=", "eyJhIjoxfQ==")
            )
        });
        let b = Builder::default()
            .plugin(
                "rewrite",
                FailurePolicy::Default,
                vec![(Hook::HttpPreHook, rewrite)],
            )
            .plugin("see", FailurePolicy::Default, all_pass());
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
        let HttpPreOutcome::Continue(req) = run.http_pre_hook(raw(HTTP_REQ).unwrap()) else {
            panic!()
        };
        assert!(req.as_str().contains("eyJhIjoxfQ=="));
        assert!(member(&b.inputs_of("see", Hook::HttpPreHook)[0], "request").contains("eyJhIjoxfQ=="));
        assert_eq!(run.http_request(), &req);
        assert_eq!(run.stats()[0].outcome(), HookOutcome::Changed);
    }

    #[test]
    fn llm_hook_returned_error_is_logged_and_the_previous_value_kept() {
        let err_pre = ok(|i: &str| {
            format!(
                r#"{{"context":{},"request":{{"provider":"x","model":"changed","input":[]}},"has_short_circuit":false,"error":"cannot parse request"}}"#,
                with_key(member(i, "context"), "ignored", "yes")
            )
        });
        let err_post = ok(|i: &str| {
            format!(
                r#"{{"context":{},"response":null,"has_error":true,"error":{{"error":{{"message":"x"}}}},"hook_error":"bad"}}"#,
                member(i, "context")
            )
        });
        let b = Builder::default()
            .plugin(
                "a",
                FailurePolicy::Default,
                vec![(Hook::PreHook, err_pre), (Hook::PostHook, err_post)],
            )
            .plugin("b", FailurePolicy::Default, all_pass());
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
        assert_eq!(run.pre_hook(go_request()), PreOutcome::Continue(go_request()));
        assert!(run.context().get("ignored").is_none());
        assert_eq!(
            member(&b.inputs_of("b", Hook::PreHook)[0], "request"),
            go_request().as_str()
        );
        assert_eq!(
            run.post_hook(LlmResult::Response(go_response())),
            LlmResult::Response(go_response())
        );
        let stat = &run.stats()[0];
        assert_eq!(stat.outcome(), HookOutcome::Error);
        assert_eq!(
            stat.error,
            Some(("cannot parse request".to_string(), ErrorAction::Continued))
        );
        assert!(run.summary().contains("a.pre_hook=error"), "{}", run.summary());
    }

    #[test]
    fn llm_hook_failure_under_default_policy_continues_with_previous_value() {
        let b = Builder::default()
            .plugin(
                "trapper",
                FailurePolicy::Default,
                vec![
                    (Hook::PreHook, f(|_| Err(trap("trapper", "pre_hook")))),
                    (Hook::PostHook, f(|_| Err(trap("trapper", "post_hook")))),
                ],
            )
            .plugin("b", FailurePolicy::Default, all_pass());
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
        assert_eq!(run.pre_hook(go_request()), PreOutcome::Continue(go_request()));
        assert_eq!(
            run.post_hook(LlmResult::Response(go_response())),
            LlmResult::Response(go_response())
        );
        let stat = &run.stats()[0];
        assert_eq!(stat.outcome(), HookOutcome::Failed);
        let (message, action) = stat.error.clone().unwrap();
        assert!(message.contains("boom"), "{message}");
        assert_eq!(action, ErrorAction::Continued);
        assert_eq!(
            b.calls(),
            [
                "trapper:pre_hook",
                "b:pre_hook",
                "b:post_hook",
                "trapper:post_hook"
            ]
        );
    }

    #[test]
    fn garbage_outputs_are_failures_with_the_reason() {
        for (garbage, reason) in [
            ("[1,2,3]", "must be a JSON object"),
            (
                r#"{"has_short_circuit":"yes"}"#,
                "`has_short_circuit` must be true or false",
            ),
            (r#"{"has_short_circuit":true}"#, "`short_circuit` is missing"),
            (
                r#"{"has_short_circuit":true,"short_circuit":{"response":null,"error":null}}"#,
                "neither a response nor an error",
            ),
            (r#"{"request":"text"}"#, "`request` must be a request object"),
            (r#"{"context":[1]}"#, "`context` must be an object"),
        ] {
            let b = Builder::default().plugin(
                "junk",
                FailurePolicy::Default,
                vec![(Hook::PreHook, ok(move |_: &str| garbage.to_string()))],
            );
            let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
            assert_eq!(
                run.pre_hook(go_request()),
                PreOutcome::Continue(go_request()),
                "{garbage}"
            );
            let (message, _) = run.stats()[0].error.clone().unwrap();
            assert!(message.contains(reason), "{garbage}: {message}");
            assert!(
                message.contains("junk") && message.contains("pre_hook"),
                "{message}"
            );
            assert_eq!(run.stats()[0].outcome(), HookOutcome::Failed);
        }
    }

    #[test]
    fn fail_closed_pre_hook_failure_answers_with_error_and_runs_post_hooks_of_earlier_plugins() {
        let b = Builder::default()
            .plugin("a", FailurePolicy::Default, all_pass())
            .plugin(
                "strict",
                FailurePolicy::FailClosed,
                vec![
                    (Hook::PreHook, f(|_| Err(trap("strict", "pre_hook")))),
                    (Hook::PostHook, ok(pass_post)),
                ],
            )
            .plugin("c", FailurePolicy::Default, all_pass());
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
        let PreOutcome::ShortCircuit(LlmResult::Error(error)) = run.pre_hook(go_request()) else {
            panic!("error expected")
        };
        let message = error.get_path(&["error", "message"]).unwrap().to_string();
        assert!(
            message.contains("strict") && message.contains("fail_closed"),
            "{message}"
        );
        assert_eq!(error.get("status_code"), Some("500"));
        let out = run.post_hook(LlmResult::Error(error.clone()));
        assert_eq!(out, LlmResult::Error(error));
        assert_eq!(b.calls(), ["a:pre_hook", "strict:pre_hook", "a:post_hook"]);
        assert_eq!(run.stats()[1].error.as_ref().unwrap().1, ErrorAction::Answered);
    }

    #[test]
    fn fail_closed_turns_a_returned_llm_error_into_an_error_answer() {
        let b = Builder::default().plugin(
            "strict",
            FailurePolicy::FailClosed,
            vec![(
                Hook::PostHook,
                ok(|i: &str| {
                    format!(
                        r#"{{"context":{},"hook_error":"cannot read response"}}"#,
                        member(i, "context")
                    )
                }),
            )],
        );
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
        assert_eq!(run.pre_hook(go_request()), PreOutcome::Continue(go_request()));
        let LlmResult::Error(e) = run.post_hook(LlmResult::Response(go_response())) else {
            panic!()
        };
        assert!(e.as_str().contains("cannot read response"));
    }

    #[test]
    fn http_hook_failure_answers_by_default_and_is_bypassed_when_fail_open() {
        for (policy, expect_answer) in [
            (FailurePolicy::Default, true),
            (FailurePolicy::FailOpen, false),
            (FailurePolicy::FailClosed, true),
        ] {
            let b = Builder::default()
                .plugin(
                    "flaky",
                    policy,
                    vec![(Hook::HttpPreHook, f(|_| Err(trap("flaky", "http_pre_hook"))))],
                )
                .plugin("b", FailurePolicy::Default, all_pass());
            let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
            match run.http_pre_hook(raw(HTTP_REQ).unwrap()) {
                HttpPreOutcome::Respond(answer) => {
                    assert!(expect_answer, "{policy}");
                    assert_eq!(answer.status, 500);
                    let body = String::from_utf8(answer.body).unwrap();
                    assert!(body.contains("flaky") && body.contains("http_pre_hook"), "{body}");
                    assert_eq!(b.calls(), ["flaky:http_pre_hook"]);
                    // The failing plugin's http_pre_hook did not complete: no http_post_hook.
                    assert_eq!(run.http_post_hook(&raw(HTTP_RESP).unwrap()), None);
                    assert_eq!(b.calls(), ["flaky:http_pre_hook"]);
                }
                HttpPreOutcome::Continue(req) => {
                    assert!(!expect_answer, "{policy}");
                    assert_eq!(req.as_str(), HTTP_REQ);
                    assert_eq!(run.stats()[0].error.as_ref().unwrap().1, ErrorAction::Bypassed);
                    assert_eq!(b.calls(), ["flaky:http_pre_hook", "b:http_pre_hook"]);
                }
            }
        }
    }

    #[test]
    fn fail_open_bypasses_llm_failures_but_http_returned_errors_still_answer() {
        let b = Builder::default().plugin(
            "open",
            FailurePolicy::FailOpen,
            vec![
                (Hook::PreHook, f(|_| Err(trap("open", "pre_hook")))),
                (
                    Hook::HttpPreHook,
                    ok(|i: &str| {
                        format!(
                            r#"{{"context":{},"has_response":false,"error":"unauthorized"}}"#,
                            member(i, "context")
                        )
                    }),
                ),
            ],
        );
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
        assert_eq!(run.pre_hook(go_request()), PreOutcome::Continue(go_request()));
        assert_eq!(run.stats()[0].error.as_ref().unwrap().1, ErrorAction::Bypassed);
        let HttpPreOutcome::Respond(answer) = run.http_pre_hook(raw(HTTP_REQ).unwrap()) else {
            panic!()
        };
        assert!(String::from_utf8(answer.body).unwrap().contains("unauthorized"));
    }

    #[test]
    fn post_hook_can_turn_a_response_into_an_error_and_recover_an_error() {
        let to_error = ok(|i: &str| {
            format!(
                r#"{{"context":{},"response":null,"error":{{"error":{{"message":"blocked"}},"status_code":403}},"has_error":true}}"#,
                member(i, "context")
            )
        });
        let recover = ok(|i: &str| {
            format!(
                r#"{{"context":{},"response":{{"chat_response":{CHAT}}},"error":{{}},"has_error":false}}"#,
                member(i, "context")
            )
        });
        // Reverse order: "inner" (index 1) runs first and errors, "outer" (index 0) recovers.
        let b = Builder::default()
            .plugin("outer", FailurePolicy::Default, vec![(Hook::PostHook, recover)])
            .plugin("inner", FailurePolicy::Default, vec![(Hook::PostHook, to_error)]);
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
        let _ = run.pre_hook(go_request());
        let out = run.post_hook(LlmResult::Response(go_response()));
        assert_eq!(out, LlmResult::Response(go_response()));
        let outer_input = &b.inputs_of("outer", Hook::PostHook)[0];
        assert_eq!(member(outer_input, "has_error"), "true");
        assert_eq!(member(outer_input, "response"), "null");
        assert!(member(outer_input, "error").contains("blocked"));
        assert_eq!(run.stats()[0].outcome(), HookOutcome::Changed);
        assert_eq!(run.stats()[1].outcome(), HookOutcome::Changed);
    }

    #[test]
    fn post_hook_passing_an_error_through_with_has_error_false_keeps_the_error() {
        // The TinyGo example always answers has_error:false, echoing response and error.
        let tinygo = ok(|i: &str| {
            format!(
                r#"{{"context":{},"response":{},"error":{},"has_error":false,"hook_error":""}}"#,
                member(i, "context"),
                member(i, "response"),
                member(i, "error")
            )
        });
        let b = Builder::default().plugin("go", FailurePolicy::Default, vec![(Hook::PostHook, tinygo)]);
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
        let _ = run.pre_hook(go_request());
        let error = raw(r#"{"error":{"message":"upstream down"},"status_code":502}"#).unwrap();
        assert_eq!(
            run.post_hook(LlmResult::Error(error.clone())),
            LlmResult::Error(error)
        );
        let input = &b.inputs_of("go", Hook::PostHook)[0];
        assert_eq!(member(input, "response"), "null");
    }

    #[test]
    fn post_hook_input_has_empty_error_object_when_there_is_no_error() {
        let b = Builder::default().plugin("p", FailurePolicy::Default, vec![(Hook::PostHook, ok(pass_post))]);
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
        let _ = run.pre_hook(go_request());
        run.post_hook(LlmResult::Response(go_response()));
        let input = &b.inputs_of("p", Hook::PostHook)[0];
        assert_eq!(member(input, "error"), "{}");
        assert_eq!(member(input, "has_error"), "false");
        assert_eq!(member(input, "response"), go_response().as_str());
    }

    #[test]
    fn http_post_returned_error_replaces_the_response_and_skips_remaining_plugins() {
        let b = Builder::default()
            .plugin("a", FailurePolicy::Default, all_pass())
            .plugin(
                "b",
                FailurePolicy::Default,
                vec![(
                    Hook::HttpPostHook,
                    ok(|i: &str| {
                        format!(
                            r#"{{"context":{},"error":"audit log unavailable"}}"#,
                            member(i, "context")
                        )
                    }),
                )],
            );
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
        let err = run_full(&mut run).unwrap_err();
        assert_eq!(err.status, 500);
        assert!(String::from_utf8(err.body)
            .unwrap()
            .contains("audit log unavailable"));
        assert_eq!(b.calls().last().unwrap(), "b:http_post_hook");
    }

    #[test]
    fn http_post_hook_context_edits_are_recorded_for_the_log() {
        let b = Builder::default().plugin(
            "audit",
            FailurePolicy::Default,
            vec![(
                Hook::HttpPostHook,
                ok(|i: &str| {
                    format!(
                        r#"{{"context":{},"error":""}}"#,
                        with_key(member(i, "context"), "audited", "yes")
                    )
                }),
            )],
        );
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
        run_full(&mut run).unwrap();
        assert_eq!(run.stats()[0].context_keys, ["audited"]);
        assert!(
            run.summary().contains("audit.http_post_hook=passed"),
            "{}",
            run.summary()
        );
        assert!(run.summary().contains("[ctx:audited]"), "{}", run.summary());
    }

    #[test]
    fn missing_hooks_are_pass_through_and_not_recorded() {
        let b = Builder::default().plugin(
            "only-post",
            FailurePolicy::Default,
            vec![(Hook::PostHook, ok(pass_post))],
        );
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
        run_full(&mut run).unwrap();
        assert_eq!(b.calls(), ["only-post:post_hook"]);
        assert_eq!(run.stats().len(), 1);
    }

    fn chunk(text: &str) -> RawJson {
        raw(&format!(r#"{{"id":"c1","object":"chat.completion.chunk","choices":[{{"index":0,"delta":{{"content":{}}}}}]}}"#, json_string(text))).unwrap()
    }

    #[test]
    fn stream_chunk_hooks_run_in_reverse_and_skip_stops_the_chunk() {
        let skip_secret = ok(|i: &str| {
            let c = member(i, "chunk");
            if c.contains("secret") {
                format!(
                    r#"{{"context":{},"chunk":null,"has_chunk":false,"skip":true,"error":""}}"#,
                    member(i, "context")
                )
            } else {
                pass_chunk(i)
            }
        });
        let upper = ok(|i: &str| {
            format!(
                r#"{{"context":{},"chunk":{},"has_chunk":true,"skip":false}}"#,
                member(i, "context"),
                member(i, "chunk").to_uppercase()
            )
        });
        // Reverse order: "skipper" (index 1) sees chunks first; "upper" (index 0) last.
        let b = Builder::default()
            .plugin(
                "upper",
                FailurePolicy::Default,
                vec![(Hook::HttpStreamChunkHook, upper)],
            )
            .plugin(
                "skipper",
                FailurePolicy::Default,
                vec![(Hook::HttpStreamChunkHook, skip_secret)],
            );
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
        let ChunkOutcome::Send(c) = run.stream_chunk(chunk("hello")) else {
            panic!()
        };
        assert!(c.as_str().contains("\"HELLO\""), "{c}");
        assert_eq!(run.stream_chunk(chunk("secret")), ChunkOutcome::Skip);
        assert_eq!(
            b.calls(),
            [
                "skipper:http_stream_chunk_hook",
                "upper:http_stream_chunk_hook",
                "skipper:http_stream_chunk_hook"
            ]
        );
        let skipper = run.stats().iter().find(|s| s.plugin == 1).unwrap();
        assert_eq!(
            (
                skipper.calls,
                skipper.count(HookOutcome::Dropped),
                skipper.count(HookOutcome::Passed)
            ),
            (2, 1, 1)
        );
        assert!(
            run.summary()
                .contains("skipper.http_stream_chunk_hook=passedx1+droppedx1"),
            "{}",
            run.summary()
        );
    }

    #[test]
    fn stream_chunk_null_chunk_means_unchanged() {
        let b = Builder::default().plugin(
            "n",
            FailurePolicy::Default,
            vec![(
                Hook::HttpStreamChunkHook,
                ok(|i: &str| {
                    format!(
                        r#"{{"context":{},"chunk":null,"has_chunk":false,"skip":false,"error":""}}"#,
                        member(i, "context")
                    )
                }),
            )],
        );
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
        assert_eq!(run.stream_chunk(chunk("x")), ChunkOutcome::Send(chunk("x")));
    }

    #[test]
    fn stream_chunk_error_without_chunk_ends_the_stream_and_with_chunk_continues() {
        let b = Builder::default().plugin(
            "e",
            FailurePolicy::Default,
            vec![(
                Hook::HttpStreamChunkHook,
                ok(|i: &str| {
                    if member(i, "chunk").contains("stop") {
                        format!(
                            r#"{{"context":{},"chunk":null,"has_chunk":false,"error":"policy violation"}}"#,
                            member(i, "context")
                        )
                    } else {
                        format!(
                            r#"{{"context":{},"chunk":{},"has_chunk":true,"error":"minor issue"}}"#,
                            member(i, "context"),
                            member(i, "chunk")
                        )
                    }
                }),
            )],
        );
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
        assert_eq!(run.stream_chunk(chunk("ok")), ChunkOutcome::Send(chunk("ok")));
        let ChunkOutcome::End(e) = run.stream_chunk(chunk("stop")) else {
            panic!()
        };
        assert!(e.as_str().contains("policy violation"));
    }

    #[test]
    fn stream_chunk_failure_ends_the_stream_unless_fail_open() {
        for (policy, ends) in [
            (FailurePolicy::Default, true),
            (FailurePolicy::FailOpen, false),
            (FailurePolicy::FailClosed, true),
        ] {
            let b = Builder::default()
                .plugin(
                    "a",
                    FailurePolicy::Default,
                    vec![(Hook::HttpStreamChunkHook, ok(pass_chunk))],
                )
                .plugin(
                    "bad",
                    policy,
                    vec![(
                        Hook::HttpStreamChunkHook,
                        f(|_| Err(trap("bad", "http_stream_chunk_hook"))),
                    )],
                );
            let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
            match run.stream_chunk(chunk("x")) {
                ChunkOutcome::End(e) => {
                    assert!(ends, "{policy}");
                    assert!(e.as_str().contains("bad"));
                    assert_eq!(b.calls(), ["bad:http_stream_chunk_hook"]);
                }
                ChunkOutcome::Send(c) => {
                    assert!(!ends, "{policy}");
                    assert_eq!(c, chunk("x"));
                    assert_eq!(
                        b.calls(),
                        ["bad:http_stream_chunk_hook", "a:http_stream_chunk_hook"]
                    );
                }
                ChunkOutcome::Skip => panic!("nothing skips here"),
            }
        }
    }

    #[test]
    fn stream_chunks_only_reach_plugins_whose_http_pre_hook_ran() {
        let answer = ok(|i: &str| {
            format!(
                r#"{{"context":{},"has_response":true,"response":{{"status_code":204,"body":""}}}}"#,
                member(i, "context")
            )
        });
        let b = Builder::default()
            .plugin("a", FailurePolicy::Default, all_pass())
            .plugin("stop", FailurePolicy::Default, vec![(Hook::HttpPreHook, answer)])
            .plugin("c", FailurePolicy::Default, all_pass());
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
        let HttpPreOutcome::Respond(a) = run.http_pre_hook(raw(HTTP_REQ).unwrap()) else {
            panic!()
        };
        assert_eq!(a.status, 204);
        let _ = run.stream_chunk(chunk("x"));
        assert_eq!(
            b.calls(),
            [
                "a:http_pre_hook",
                "stop:http_pre_hook",
                "a:http_stream_chunk_hook"
            ]
        );
    }

    #[test]
    fn request_returned_in_another_shape_is_rewrapped_in_the_chain_shape() {
        let flatten = ok(|i: &str| {
            let inner = LlmRequest::new(raw(member(i, "request")).unwrap())
                .inner()
                .unwrap()
                .to_string();
            format!(r#"{{"context":{},"request":{inner}}}"#, member(i, "context"))
        });
        let b = Builder::default()
            .plugin(
                "flattener",
                FailurePolicy::Default,
                vec![(Hook::PreHook, flatten)],
            )
            .plugin("b", FailurePolicy::Default, all_pass());
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
        let PreOutcome::Continue(out) = run.pre_hook(go_request()) else {
            panic!()
        };
        assert_eq!(out, go_request());
    }

    #[test]
    fn summary_names_plugin_hook_outcome_and_time() {
        let b = Builder::default().plugin("hello", FailurePolicy::Default, all_pass());
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
        run_full(&mut run).unwrap();
        let s = run.summary();
        for part in [
            "hello.http_pre_hook=passed(",
            "hello.pre_hook=passed(",
            "hello.post_hook=passed(",
            "hello.http_post_hook=passed(",
        ] {
            assert!(s.contains(part), "{s}");
        }
    }
}
