//! One request's way through the chain.
//!
//! A [`RequestRun`] carries the request's context, remembers which plugins' pre-hooks ran (so
//! that post-hooks mirror them) and collects what each hook did. Each point at which Bifrost
//! runs hooks is a [`Step`] ([`HttpPreHooks`], [`PreHooks`], [`PostHooks`], [`HttpPostHooks`],
//! [`ChunkHooks`]): a small state machine that asks for one hook call at a time
//! ([`Poll::Call`], its input already written) and is given the call's result
//! ([`Step::resume`]). Whoever drives it decides how a call is made:
//!
//! * [`RequestRun::drive`] (and the shortcuts [`RequestRun::pre_hook`], ...) makes each call
//!   on the current thread;
//! * the gateway waits (asynchronously) for the plugin's own instance, makes the call, and
//!   releases the instance before the next plugin's hook, so requests at different plugins run
//!   in parallel and nothing holds more than one plugin at a time.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bifrost_wasm_host::{Hook, HookRunner, HostError};
use bifrost_wasm_types::codec::Envelope;
use bifrost_wasm_types::raw::RawJson;

use crate::chain::Chain;
use crate::context::{Context, START_TIME_KEY};
use crate::outputs;
use crate::policy::{self, ErrorAction, Problem};
use crate::record::ObservedCall;
use crate::stats::{HookOutcome, HookStat, Stats};

mod http;
mod llm;
mod stream;
#[cfg(test)]
pub(crate) mod testing;

pub use http::{HttpPostHooks, HttpPreHooks};
pub use llm::{PostHooks, PreHooks};
pub use stream::ChunkHooks;

pub use crate::answer::{HttpAnswer, LlmResult};

/// Result of the `http_pre_hook` chain.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpPreOutcome {
    /// Go on with this HTTP request JSON (changed or not).
    Continue(RawJson),
    /// Answer the client with this; nothing else runs except `http_post_hook` of the plugins
    /// whose `http_pre_hook` ran ([`RequestRun::http_post_hook`]).
    Respond(HttpAnswer),
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

/// A hook call a [`Step`] needs made: `hook` of the chain's plugin number `plugin`, with the
/// input the step has written ([`RequestRun::call`] makes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookCall {
    /// Index of the plugin in the chain.
    pub plugin: usize,
    /// The hook.
    pub hook: Hook,
}

/// What a [`Step`] wants next.
#[derive(Debug)]
pub enum Poll<T> {
    /// Make this call, then hand its result to [`Step::resume`].
    Call(HookCall),
    /// The step is done.
    Ready(T),
}

/// One point of a request at which Bifrost runs a hook of each plugin in turn.
///
/// Drive it by calling [`Step::poll`]; for each [`Poll::Call`], make the call (normally with
/// [`RequestRun::call`]) and pass the result to [`Step::resume`]; stop at [`Poll::Ready`].
/// [`RequestRun::drive`] does exactly this.
pub trait Step {
    /// What the step ends with.
    type Output;

    /// Writes the input of the next hook call and asks for it, or ends the step.
    fn poll(&mut self, run: &mut RequestRun) -> Poll<Self::Output>;

    /// Takes the result of the call the last [`Step::poll`] asked for: `Ok(true)` with the
    /// output in the run's buffer, `Ok(false)` when the plugin lacks the hook, or the failure.
    fn resume(&mut self, run: &mut RequestRun, result: Result<bool, HostError>);
}

/// One request's journey through the chain. Create with [`RequestRun::new`], then run the
/// steps in order; each step runs the plugins Bifrost would run at that point.
pub struct RequestRun {
    pub(crate) chain: Arc<Chain>,
    request_id: String,
    /// The host's error code of the call that just failed, and whether it cost the instance.
    failure: Option<(&'static str, bool)>,
    pub(crate) context: Context,
    /// The HTTP request JSON as the last `http_pre_hook` left it (input of later HTTP hooks).
    pub(crate) http_request: RawJson,
    /// How many plugins' `http_pre_hook` ran (from the start of the chain).
    pub(crate) http_pre_ran: usize,
    /// How many plugins' `pre_hook` ran.
    pub(crate) pre_ran: usize,
    pub(crate) stats: Stats,
    /// The input of the call being made (reused from call to call).
    pub(crate) input: Vec<u8>,
    /// The output of the last call (reused from call to call).
    pub(crate) output: Vec<u8>,
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

thread_local! {
    /// Input and output buffers of finished requests, kept for the next requests on this
    /// thread: a request then costs no allocation for its hook calls, and the buffers are warm.
    static SPARE_BUFFERS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// Most spare buffers kept per thread.
const SPARE_BUFFERS_KEPT: usize = 16;
/// Larger buffers (a request with a huge body) go back to the allocator.
const SPARE_BUFFER_MAX_BYTES: usize = 1 << 20;

fn take_buffer() -> Vec<u8> {
    SPARE_BUFFERS
        .try_with(|spare| spare.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_default()
}

fn give_back_buffer(mut buffer: Vec<u8>) {
    if buffer.capacity() == 0 || buffer.capacity() > SPARE_BUFFER_MAX_BYTES {
        return;
    }
    buffer.clear();
    let _ = SPARE_BUFFERS.try_with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() < SPARE_BUFFERS_KEPT {
            spare.push(buffer);
        }
    });
}

impl Drop for RequestRun {
    fn drop(&mut self) {
        give_back_buffer(std::mem::take(&mut self.input));
        give_back_buffer(std::mem::take(&mut self.output));
    }
}

fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What a hook call led to, as a step reads it.
pub(crate) enum Read<T> {
    /// The plugin lacks the hook: pass-through, nothing recorded.
    Absent,
    /// The call failed, or its output cannot be used: why.
    Failed(String),
    /// The plugin returned an error: its text.
    Returned(String),
    /// What the output asks for, and the context keys it changed (already merged).
    Output(T, Vec<String>),
}

/// Which plugins a step calls, one after the other: those implementing its hook, in chain
/// order or in reverse.
#[derive(Debug)]
pub(crate) struct Cursor {
    reverse: bool,
    /// The next position to look at (forward), or one past it (reverse); set on first use.
    position: Option<usize>,
    /// The plugin being called.
    pub(crate) calling: usize,
    /// When the call was asked for (its input written).
    pub(crate) started: Instant,
}

impl Cursor {
    /// Plugins `0..n` in order.
    pub(crate) fn forward() -> Self {
        Cursor {
            reverse: false,
            position: None,
            calling: 0,
            started: Instant::now(),
        }
    }

    /// Plugins `n-1..=0`, where `n` is given on first use.
    pub(crate) fn reverse() -> Self {
        Cursor {
            reverse: true,
            ..Cursor::forward()
        }
    }

    /// The next plugin implementing `hook` among the first `n`.
    pub(crate) fn next(&mut self, run: &RequestRun, hook: Hook, n: usize) -> Option<usize> {
        let position = self.position.get_or_insert(if self.reverse { n } else { 0 });
        loop {
            let i = if self.reverse {
                *position = position.checked_sub(1)?;
                *position
            } else {
                let i = *position;
                if i >= n {
                    return None;
                }
                *position += 1;
                i
            };
            if run.implements(i, hook) {
                self.calling = i;
                self.started = Instant::now();
                return Some(i);
            }
        }
    }
}

/// Replaces `current` with the payload a hook gave back, and says whether that was a change.
pub(crate) fn take_payload(current: &mut RawJson, next: Option<RawJson>) -> HookOutcome {
    match next {
        Some(next) => {
            let changed = !bifrost_wasm_types::equal::json_equal(current.as_str(), next.as_str());
            *current = next;
            if changed {
                HookOutcome::Changed
            } else {
                HookOutcome::Passed
            }
        }
        None => HookOutcome::Passed,
    }
}

impl RequestRun {
    /// Starts a request: the context is seeded with `request_id` and `request-id`, and the
    /// start time under [`START_TIME_KEY`].
    pub fn new(chain: Arc<Chain>, request_id: &str) -> Self {
        let n = chain.len();
        let mut context = Context::with_request_id(request_id);
        context.append_number(START_TIME_KEY, unix_ms_now());
        RequestRun {
            chain,
            request_id: request_id.to_string(),
            failure: None,
            context,
            http_request: RawJson::null(),
            http_pre_ran: n,
            pre_ran: n,
            // Most requests run four hooks of each plugin.
            stats: Stats::with_capacity(4 * n),
            input: take_buffer(),
            output: take_buffer(),
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
        self.stats.as_slice()
    }

    /// A one-line summary of [`RequestRun::stats`] for a log line, e.g.
    /// `hello-world.pre_hook=short_circuited(14µs) hello-world.post_hook=changed(9µs)`.
    pub fn summary(&self) -> String {
        self.stats.summary(|i| &self.chain.plugins()[i].name)
    }

    /// The runner of the chain's plugin number `plugin`.
    pub fn runner(&self, plugin: usize) -> &Arc<dyn HookRunner> {
        &self.chain.plugins()[plugin].runner
    }

    /// Makes `call` with the input the step wrote, on the current thread; the output stays in
    /// the run for the step to read.
    pub fn call(&mut self, call: HookCall) -> Result<bool, HostError> {
        let RequestRun {
            chain, input, output, ..
        } = self;
        output.clear();
        chain.plugins()[call.plugin]
            .runner
            .call_hook_into(call.hook, input, output)
    }

    /// Runs `step` to its end, making every call on the current thread.
    pub fn drive<S: Step>(&mut self, mut step: S) -> S::Output {
        loop {
            match step.poll(self) {
                Poll::Ready(output) => return output,
                Poll::Call(call) => {
                    let result = self.call(call);
                    step.resume(self, result);
                }
            }
        }
    }

    /// Runs `http_pre_hook` of every plugin in order on `request` (the HTTP request JSON:
    /// `{"method","path","headers","query","body"}` with a base64 body). See [`HttpPreHooks`].
    pub fn http_pre_hook(&mut self, request: RawJson) -> HttpPreOutcome {
        self.drive(HttpPreHooks::new(request))
    }

    /// Runs `pre_hook` of every plugin in order on `request` (in the chain's shape). See
    /// [`PreHooks`].
    pub fn pre_hook(&mut self, request: RawJson) -> PreOutcome {
        self.drive(PreHooks::new(request))
    }

    /// Runs `post_hook` in reverse for the plugins whose `pre_hook` ran. See [`PostHooks`].
    pub fn post_hook(&mut self, result: LlmResult) -> LlmResult {
        self.drive(PostHooks::new(result))
    }

    /// Runs `http_post_hook` in reverse for the plugins whose `http_pre_hook` ran. See
    /// [`HttpPostHooks`].
    pub fn http_post_hook(&mut self, response: &RawJson) -> Option<HttpAnswer> {
        self.drive(HttpPostHooks::new(response.clone()))
    }

    /// Runs `http_stream_chunk_hook` in reverse on one chunk. See [`ChunkHooks`].
    pub fn stream_chunk(&mut self, chunk: RawJson) -> ChunkOutcome {
        self.drive(ChunkHooks::new(chunk))
    }

    // ----- plumbing shared by the steps -----

    /// Whether plugin `plugin` implements `hook`.
    pub(crate) fn implements(&self, plugin: usize, hook: Hook) -> bool {
        self.chain.plugins()[plugin].implements(hook)
    }

    /// The name of plugin `plugin`.
    pub(crate) fn name(&self, plugin: usize) -> &str {
        &self.chain.plugins()[plugin].name
    }

    /// Writes the input of `hook` for the cursor's plugin and asks for the call.
    pub(crate) fn ask<T>(
        &mut self,
        cursor: &Cursor,
        hook: Hook,
        write: impl FnOnce(&str, &RawJson, &mut Vec<u8>),
    ) -> Poll<T> {
        self.write_input(write);
        Poll::Call(HookCall {
            plugin: cursor.calling,
            hook,
        })
    }

    /// Writes a hook's input: `write` gets the context's JSON text and the (cleared) buffer.
    pub(crate) fn write_input(&mut self, write: impl FnOnce(&str, &RawJson, &mut Vec<u8>)) {
        let RequestRun {
            context,
            http_request,
            input,
            ..
        } = self;
        input.clear();
        write(context.as_json(), http_request, input);
    }

    /// Reads the result of `plugin`'s call of `hook`: the output is indexed with the codec
    /// and interpreted by `read` (one of [`crate::outputs`]' readers); when it asks for
    /// something, its context is merged.
    pub(crate) fn read<T>(
        &mut self,
        plugin: usize,
        hook: Hook,
        result: Result<bool, HostError>,
        read: impl for<'e> FnOnce(&Envelope<'e>) -> outputs::Reading<'e, T>,
    ) -> Read<T> {
        let output = match result {
            Ok(false) => return Read::Absent,
            Ok(true) => std::mem::take(&mut self.output),
            Err(e) => {
                self.failure = Some((e.code(), e.instance_replaced()));
                return Read::Failed(e.to_string());
            }
        };
        let name = &self.chain.plugins()[plugin].name;
        let read = match outputs::envelope(name, hook, &output) {
            Err(failure) => Read::Failed(failure),
            Ok(env) => match outputs::context(&env).and_then(|context| Ok((context, read(&env)?))) {
                Err(e) => Read::Failed(outputs::shape_error(name, hook, &output, e)),
                Ok((_, Err(message))) => Read::Returned(message.into_owned()),
                Ok((context, Ok(asked))) => {
                    let merged = match context {
                        Some((text, members)) => self.context.merge(text, members),
                        None => Default::default(),
                    };
                    if !merged.kept.is_empty() {
                        tracing::warn!(
                            request_id = %self.request_id, plugin = %name, hook = %hook,
                            "plugin {name} {hook} returned other values for host-owned context key(s) {}; \
                             kept the host's (plugins may read these keys, not change them)",
                            merged.kept.join(", ")
                        );
                    }
                    Read::Output(asked, merged.changed)
                }
            },
        };
        // The buffer serves the next call.
        self.output = output;
        read
    }

    /// Counts one call.
    pub(crate) fn record(
        &mut self,
        plugin: usize,
        hook: Hook,
        outcome: HookOutcome,
        started: Instant,
        context_keys: Vec<String>,
    ) -> &mut HookStat {
        self.record_call(plugin, hook, outcome, started, context_keys, None)
    }

    /// Counts one call, and tells the chain's observer (if any) about it with the input and
    /// output still in the run's buffers.
    fn record_call(
        &mut self,
        plugin: usize,
        hook: Hook,
        outcome: HookOutcome,
        started: Instant,
        context_keys: Vec<String>,
        error: Option<&str>,
    ) -> &mut HookStat {
        let elapsed = started.elapsed();
        if let Some(observer) = self.chain.observer() {
            let failed = outcome == HookOutcome::Failed;
            observer.observe(&ObservedCall {
                request_id: &self.request_id,
                plugin: &self.chain.plugins()[plugin].name,
                hook,
                input: &self.input,
                output: (!failed || !self.output.is_empty()).then_some(self.output.as_slice()),
                outcome,
                error,
                duration: elapsed,
            });
        }
        self.stats.record(plugin, hook, outcome, elapsed, context_keys)
    }

    /// Records a returned error or failure, logs it at warn level, and says what to do.
    pub(crate) fn problem(
        &mut self,
        plugin: usize,
        hook: Hook,
        problem: Problem,
        message: &str,
        started: Instant,
    ) -> ErrorAction {
        let p = &self.chain.plugins()[plugin];
        let action = policy::action(p.policy, problem, hook);
        policy::warn(
            &self.request_id,
            &p.name,
            p.policy,
            hook,
            problem,
            action,
            message,
        );
        let outcome = match problem {
            Problem::Returned => HookOutcome::Error,
            Problem::Failed => HookOutcome::Failed,
        };
        let failure = self.failure.take();
        let stat = self.record_call(plugin, hook, outcome, started, Vec::new(), Some(message));
        if problem == Problem::Failed {
            let (code, replaced) = failure.unwrap_or(("invalid_output", false));
            stat.failure.get_or_insert(code);
            stat.replacements += u32::from(replaced);
        }
        if stat.error.is_none() {
            stat.error = Some((message.to_string(), action));
        }
        action
    }

    /// Handles a problem; `Some(error JSON)` when the policy turns it into an error answer.
    pub(crate) fn answer_if_needed(
        &mut self,
        plugin: usize,
        hook: Hook,
        problem: Problem,
        message: &str,
        started: Instant,
    ) -> Option<RawJson> {
        match self.problem(plugin, hook, problem, message, started) {
            ErrorAction::Answered => {
                let p = &self.chain.plugins()[plugin];
                Some(policy::error_answer(&p.name, p.policy, hook, problem, message))
            }
            ErrorAction::Continued | ErrorAction::Bypassed => None,
        }
    }
}
