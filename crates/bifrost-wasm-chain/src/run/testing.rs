//! Test plugins whose hooks are closures, and the inputs the steps' tests share.

use std::sync::{Arc, Mutex};

use bifrost_wasm_host::{ErrorKind, Hook, HookRunner, HostError};
use bifrost_wasm_types::raw::{object_entries, RawJson};
use bifrost_wasm_types::scan;
use bifrost_wasm_types::shape::{wrap_chat_request, wrap_chat_response, RequestShape};

use super::{HttpAnswer, HttpPreOutcome, LlmResult, PreOutcome, RequestRun};
use crate::chain::{Chain, ChainPlugin};
use crate::config::FailurePolicy;
use crate::context::Context;

pub(crate) type HookFn = Box<dyn Fn(&str) -> Result<String, HostError> + Send + Sync>;
type Log = Arc<Mutex<Vec<String>>>;
type Inputs = Arc<Mutex<Vec<(String, Hook, String)>>>;

/// A plugin whose hooks are closures; every call is logged as `name:hook`.
struct Fake {
    name: String,
    hooks: Vec<(Hook, HookFn)>,
    log: Log,
    inputs: Inputs,
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
        scan::validate(input).expect("inputs are JSON");
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

/// Builds a chain of fake plugins and remembers what they were called with.
#[derive(Default)]
pub(crate) struct Builder {
    log: Log,
    inputs: Inputs,
    plugins: Vec<ChainPlugin>,
}

impl Builder {
    pub(crate) fn plugin(mut self, name: &str, policy: FailurePolicy, hooks: Vec<(Hook, HookFn)>) -> Self {
        let fake = Fake {
            name: name.to_string(),
            hooks,
            log: self.log.clone(),
            inputs: self.inputs.clone(),
        };
        self.plugins.push(ChainPlugin::new(name, policy, Arc::new(fake)));
        self
    }
    pub(crate) fn build(&self, shape: RequestShape) -> Arc<Chain> {
        Arc::new(Chain::new(self.plugins.clone(), shape))
    }
    pub(crate) fn calls(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
    pub(crate) fn inputs_of(&self, name: &str, hook: Hook) -> Vec<String> {
        self.inputs
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, h, _)| n == name && *h == hook)
            .map(|(_, _, i)| i.clone())
            .collect()
    }
}

pub(crate) fn raw(text: &str) -> RawJson {
    RawJson::from_string(text.to_string()).expect("test JSON")
}

pub(crate) fn member<'a>(json: &'a str, key: &str) -> &'a str {
    object_entries(json)
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no `{key}` in {json}"))
}

/// `ctx` (raw object) with `key` set to the JSON string `value`.
pub(crate) fn with_key(ctx: &str, key: &str, value: &str) -> String {
    let mut c = Context::default();
    for (k, v) in object_entries(ctx).unwrap() {
        c.set(&k, RawJson::from_validated(v));
    }
    c.set(key, RawJson::from_validated(scan::quote(value)));
    c.to_json()
}

pub(crate) fn f(g: impl Fn(&str) -> Result<String, HostError> + Send + Sync + 'static) -> HookFn {
    Box::new(g)
}

pub(crate) fn ok(g: impl Fn(&str) -> String + Send + Sync + 'static) -> HookFn {
    Box::new(move |i| Ok(g(i)))
}

pub(crate) fn pass_http_pre(i: &str) -> String {
    format!(
        r#"{{"context":{},"request":null,"has_response":false,"error":""}}"#,
        member(i, "context")
    )
}
pub(crate) fn pass_pre(i: &str) -> String {
    format!(
        r#"{{"context":{},"request":{},"short_circuit":null,"has_short_circuit":false,"error":""}}"#,
        member(i, "context"),
        member(i, "request")
    )
}
pub(crate) fn pass_post(i: &str) -> String {
    format!(
        r#"{{"context":{},"response":{},"error":{},"has_error":{},"hook_error":""}}"#,
        member(i, "context"),
        member(i, "response"),
        member(i, "error"),
        member(i, "has_error")
    )
}
pub(crate) fn pass_http_post(i: &str) -> String {
    format!(r#"{{"context":{},"error":""}}"#, member(i, "context"))
}
pub(crate) fn pass_chunk(i: &str) -> String {
    format!(
        r#"{{"context":{},"chunk":{},"has_chunk":true,"skip":false,"error":""}}"#,
        member(i, "context"),
        member(i, "chunk")
    )
}

pub(crate) fn all_pass() -> Vec<(Hook, HookFn)> {
    vec![
        (Hook::HttpPreHook, ok(pass_http_pre)),
        (Hook::PreHook, ok(pass_pre)),
        (Hook::PostHook, ok(pass_post)),
        (Hook::HttpPostHook, ok(pass_http_post)),
        (Hook::HttpStreamChunkHook, ok(pass_chunk)),
    ]
}

pub(crate) fn trap(name: &str, function: &'static str) -> HostError {
    HostError::new(ErrorKind::Trap {
        message: "wasm trap: wasm `unreachable` instruction executed".to_string(),
        last_error: Some("panicked at src/lib.rs:1: boom".to_string()),
    })
    .plugin_named(name)
    .in_function(function)
}

pub(crate) const HTTP_REQ: &str = r#"{"method":"POST","path":"/v1/chat/completions","headers":{"Content-Type":"application/json"},"query":{},"body":"e30="}"#;
pub(crate) const FLAT_REQ: &str = r#"{"provider":"openai","model":"gpt-4","input":[{"role":"user","content":"Hello"}],"params":{"seed":123456789012345678901234567890,"x_unknown":null,"t":1.0}}"#;
pub(crate) const CHAT: &str = r#"{"id":"chatcmpl-1","model":"gpt-4","choices":[{"index":0,"message":{"role":"assistant","content":"Hi!"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":10,"total_tokens":15},"big":98765432109876543210}"#;
pub(crate) const HTTP_RESP: &str =
    r#"{"status_code":200,"headers":{"content-type":"application/json"},"body":"e30="}"#;

pub(crate) fn go_request() -> RawJson {
    raw(&wrap_chat_request(FLAT_REQ, RequestShape::GoEnvelope, false))
}
pub(crate) fn go_response() -> RawJson {
    raw(&wrap_chat_response(CHAT, RequestShape::GoEnvelope))
}

/// Runs one whole non-streaming request: http pre, pre, provider (echo CHAT), post, http post.
pub(crate) fn run_full(run: &mut RequestRun) -> Result<LlmResult, HttpAnswer> {
    match run.http_pre_hook(raw(HTTP_REQ)) {
        HttpPreOutcome::Continue(_) => {}
        HttpPreOutcome::Respond(answer) => {
            if let Some(replaced) = run.http_post_hook(&raw(HTTP_RESP)) {
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
    match run.http_post_hook(&raw(HTTP_RESP)) {
        Some(answer) => Err(answer),
        None => Ok(result),
    }
}

/// A chunk of a streamed chat completion carrying `text`.
pub(crate) fn chunk(text: &str) -> RawJson {
    raw(&format!(
        r#"{{"id":"c1","object":"chat.completion.chunk","choices":[{{"index":0,"delta":{{"content":{}}}}}]}}"#,
        scan::quote(text)
    ))
}
