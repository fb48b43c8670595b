//! What the chain does when a plugin fails or returns an error, per [`FailurePolicy`].
//!
//! A *failure* is a trap, timeout, limit or invalid output ([`crate::HostError`], or an output
//! the chain cannot use); a *returned error* is the plugin's own `error` / `hook_error` text.
//!
//! | | LLM hook returns error | LLM hook fails | HTTP hook returns error | HTTP hook fails |
//! |---|---|---|---|---|
//! | `default` | warn, keep previous value | warn, keep previous value | error answer | error answer |
//! | `fail_open` | warn, keep previous value | warn (bypass), keep previous value | error answer | warn (bypass), keep previous value |
//! | `fail_closed` | error answer | error answer | error answer | error answer |
//!
//! "Keep previous value" means the whole output is ignored (payload and context). Nothing is
//! skipped silently: every case is a `warn` event and a [`crate::HookStat`] entry.

use bifrost_wasm_host::Hook;
use bifrost_wasm_types::error::ErrorJson;
use bifrost_wasm_types::raw::RawJson;

use crate::config::FailurePolicy;

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

/// Which kind of problem a hook had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Problem {
    /// The plugin returned an error.
    Returned,
    /// The call failed.
    Failed,
}

impl Problem {
    fn what(self) -> &'static str {
        match self {
            Problem::Returned => "returned an error",
            Problem::Failed => "failed",
        }
    }
}

fn is_http(hook: Hook) -> bool {
    matches!(
        hook,
        Hook::HttpPreHook | Hook::HttpPostHook | Hook::HttpStreamChunkHook
    )
}

/// What `policy` says to do about `problem` in `hook`.
pub(crate) fn action(policy: FailurePolicy, problem: Problem, hook: Hook) -> ErrorAction {
    match (policy, problem, is_http(hook)) {
        (FailurePolicy::FailClosed, _, _) => ErrorAction::Answered,
        (_, Problem::Returned, true) => ErrorAction::Answered,
        (_, Problem::Returned, false) => ErrorAction::Continued,
        (FailurePolicy::FailOpen, Problem::Failed, _) => ErrorAction::Bypassed,
        (FailurePolicy::Default, Problem::Failed, true) => ErrorAction::Answered,
        (FailurePolicy::Default, Problem::Failed, false) => ErrorAction::Continued,
    }
}

/// Logs a problem at warn level with the plugin, the hook and what the chain does about it.
pub(crate) fn warn(
    request_id: &str,
    plugin: &str,
    policy: FailurePolicy,
    hook: Hook,
    problem: Problem,
    action: ErrorAction,
    message: &str,
) {
    let what = problem.what();
    match action {
        ErrorAction::Continued => tracing::warn!(
            request_id, plugin, hook = %hook, policy = %policy,
            "plugin {plugin} {hook} {what}; continuing with the previous value: {message}"
        ),
        ErrorAction::Bypassed => tracing::warn!(
            request_id, plugin, hook = %hook, policy = %policy,
            "BYPASSED plugin {plugin} ({hook} {what}, fail_open): the request continues without it: {message}"
        ),
        ErrorAction::Answered => tracing::warn!(
            request_id, plugin, hook = %hook, policy = %policy,
            "plugin {plugin} {hook} {what}; answering the client with an error: {message}"
        ),
    }
}

/// A Bifrost error JSON for a failure the chain (or the gateway) turns into an answer:
/// `{"is_bifrost_error":true,"status_code":…,"error":{"type":…,"message":…}}`.
pub fn plugin_error_json(status: u16, error_type: &str, message: &str) -> RawJson {
    ErrorJson::new(message)
        .with_type(error_type)
        .with_status(i64::from(status))
        .bifrost(true)
        .to_raw()
}

/// The error answer for `problem` of `plugin`'s `hook`.
pub(crate) fn error_answer(
    plugin: &str,
    policy: FailurePolicy,
    hook: Hook,
    problem: Problem,
    message: &str,
) -> RawJson {
    match problem {
        Problem::Returned => plugin_error_json(
            500,
            "plugin_error",
            &format!("plugin `{plugin}` {hook} returned an error: {message}"),
        ),
        Problem::Failed => plugin_error_json(
            500,
            "plugin_failure",
            &format!("plugin `{plugin}` {hook} failed (failure policy {policy}): {message}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_table_holds() {
        use ErrorAction::*;
        use FailurePolicy::*;
        use Problem::*;
        let (llm, http) = (Hook::PreHook, Hook::HttpPreHook);
        for (policy, expected) in [
            (Default, [Continued, Continued, Answered, Answered]),
            (FailOpen, [Continued, Bypassed, Answered, Bypassed]),
            (FailClosed, [Answered, Answered, Answered, Answered]),
        ] {
            let got = [
                action(policy, Returned, llm),
                action(policy, Failed, llm),
                action(policy, Returned, http),
                action(policy, Failed, http),
            ];
            assert_eq!(got, expected, "{policy}");
        }
    }

    #[test]
    fn error_answers_are_bifrost_errors_naming_plugin_hook_and_policy() {
        let json = error_answer(
            "strict",
            FailurePolicy::FailClosed,
            Hook::PreHook,
            Problem::Failed,
            "boom",
        );
        assert_eq!(
            json.as_str(),
            r#"{"is_bifrost_error":true,"status_code":500,"error":{"type":"plugin_failure","message":"plugin `strict` pre_hook failed (failure policy fail_closed): boom"}}"#
        );
    }
}
