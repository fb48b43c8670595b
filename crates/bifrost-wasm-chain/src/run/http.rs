//! The HTTP hooks: `http_pre_hook` in chain order, `http_post_hook` in reverse.

use bifrost_wasm_host::{Hook, HostError};
use bifrost_wasm_types::codec::{http_post_hook, http_pre_hook};
use bifrost_wasm_types::raw::RawJson;

use super::{take_payload, Cursor, HttpAnswer, HttpPreOutcome, Poll, Read, RequestRun, Step};
use crate::outputs::{self, HttpPreRead};
use crate::policy::Problem;
use crate::stats::HookOutcome;

/// `http_pre_hook` of every plugin in order, on the HTTP request JSON
/// (`{"method","path","headers","query","body"}`, base64 body).
///
/// A plugin may rewrite the request for the plugins after it, or answer the client itself
/// (`has_response`): then later plugins are skipped and only the `http_post_hook`s of the
/// plugins that ran are called. A returned error, or a failure unless the plugin is
/// `fail_open`, answers the client with an error.
#[derive(Debug)]
pub struct HttpPreHooks {
    request: Option<RawJson>,
    cursor: Cursor,
    done: Option<HttpPreOutcome>,
}

impl HttpPreHooks {
    const HOOK: Hook = Hook::HttpPreHook;

    /// The step for `request`.
    pub fn new(request: RawJson) -> Self {
        HttpPreHooks {
            request: Some(request),
            cursor: Cursor::forward(),
            done: None,
        }
    }
}

impl Step for HttpPreHooks {
    type Output = HttpPreOutcome;

    fn poll(&mut self, run: &mut RequestRun) -> Poll<HttpPreOutcome> {
        if let Some(request) = self.request.take() {
            run.http_request = request;
        }
        if let Some(done) = self.done.take() {
            return Poll::Ready(done);
        }
        if self.cursor.next(run, Self::HOOK, run.chain.len()).is_some() {
            return run.ask(&self.cursor, Self::HOOK, |context, request, out| {
                http_pre_hook::Input {
                    context: Some(context),
                    request: Some(request.as_str()),
                }
                .write(out)
            });
        }
        run.http_pre_ran = run.chain.len();
        Poll::Ready(HttpPreOutcome::Continue(run.http_request.clone()))
    }

    fn resume(&mut self, run: &mut RequestRun, result: Result<bool, HostError>) {
        const HOOK: Hook = HttpPreHooks::HOOK;
        let (i, started) = (self.cursor.calling, self.cursor.started);
        // Taken out while the output is read (which needs the run), and put back.
        let mut current = std::mem::replace(&mut run.http_request, RawJson::null());
        let mut read = run.read(i, HOOK, result, |env| {
            outputs::read_http_pre(env, current.as_str())
        });
        let mut outcome = HookOutcome::Passed;
        if let Read::Output(HttpPreRead::Continue(request), _) = &mut read {
            outcome = take_payload(&mut current, request.take());
        }
        run.http_request = current;
        let (problem, message) = match read {
            Read::Absent => return,
            Read::Output(HttpPreRead::Respond(answer), keys) => {
                run.record(i, HOOK, HookOutcome::ShortCircuited, started, keys);
                run.http_pre_ran = i + 1;
                self.done = Some(HttpPreOutcome::Respond(answer));
                return;
            }
            Read::Output(HttpPreRead::Continue(_), keys) => {
                run.record(i, HOOK, outcome, started, keys);
                return;
            }
            Read::Returned(message) => (Problem::Returned, message),
            Read::Failed(message) => (Problem::Failed, message),
        };
        if let Some(error) = run.answer_if_needed(i, HOOK, problem, &message, started) {
            run.http_pre_ran = i;
            self.done = Some(HttpPreOutcome::Respond(HttpAnswer::json_error(500, &error)));
        }
    }
}

/// `http_post_hook` in reverse for the plugins whose `http_pre_hook` ran (non-streaming
/// responses only), on the HTTP response JSON (`{"status_code","headers","body"}`, base64
/// body). A plugin cannot change the response; its context edits are recorded for the log.
/// The step ends with `Some(answer)` when a plugin's error replaced the response with an
/// error answer (the remaining plugins are not called).
#[derive(Debug)]
pub struct HttpPostHooks {
    response: RawJson,
    cursor: Cursor,
    done: Option<HttpAnswer>,
}

impl HttpPostHooks {
    const HOOK: Hook = Hook::HttpPostHook;

    /// The step for `response`.
    pub fn new(response: RawJson) -> Self {
        HttpPostHooks {
            response,
            cursor: Cursor::reverse(),
            done: None,
        }
    }
}

impl Step for HttpPostHooks {
    type Output = Option<HttpAnswer>;

    fn poll(&mut self, run: &mut RequestRun) -> Poll<Option<HttpAnswer>> {
        if self.done.is_some() {
            return Poll::Ready(self.done.take());
        }
        if self.cursor.next(run, Self::HOOK, run.http_pre_ran).is_some() {
            let response = &self.response;
            return run.ask(&self.cursor, Self::HOOK, |context, request, out| {
                http_post_hook::Input {
                    context: Some(context),
                    request: Some(request.as_str()),
                    response: Some(response.as_str()),
                }
                .write(out)
            });
        }
        Poll::Ready(None)
    }

    fn resume(&mut self, run: &mut RequestRun, result: Result<bool, HostError>) {
        const HOOK: Hook = HttpPostHooks::HOOK;
        let (i, started) = (self.cursor.calling, self.cursor.started);
        let (problem, message) = match run.read(i, HOOK, result, outputs::read_http_post) {
            Read::Absent => return,
            Read::Output((), keys) => {
                run.record(i, HOOK, HookOutcome::Passed, started, keys);
                return;
            }
            Read::Returned(message) => (Problem::Returned, message),
            Read::Failed(message) => (Problem::Failed, message),
        };
        if let Some(error) = run.answer_if_needed(i, HOOK, problem, &message, started) {
            self.done = Some(HttpAnswer::json_error(500, &error));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{HttpPreOutcome, RequestRun};
    use crate::config::FailurePolicy;
    use crate::policy::ErrorAction;
    use crate::stats::HookOutcome;
    use bifrost_wasm_host::{ErrorKind, Hook, HostError};
    use bifrost_wasm_types::shape::RequestShape;
    use std::sync::Arc;

    #[test]
    fn pre_hooks_run_in_order_and_post_hooks_in_reverse() {
        let b = Builder::default()
            .plugin("a", FailurePolicy::Default, all_pass())
            .plugin("b", FailurePolicy::Default, all_pass())
            .plugin("c", FailurePolicy::Default, all_pass());
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r1");
        let result = run_full(&mut run).unwrap();
        assert_eq!(result, super::super::LlmResult::Response(go_response()));
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
    fn a_plugin_that_rewrites_host_owned_keys_does_not_change_what_the_next_plugin_reads() {
        // Like an AssemblyScript json-as plugin: the whole context re-encoded, the start time
        // as a float, the request id replaced; plus a key of its own.
        let rewrite = ok(|i: &str| {
            let context = member(i, "context");
            let start = member(context, crate::START_TIME_KEY);
            format!(
                r#"{{"context":{{"request_id":"forged","request-id":"abc-123","request_start_unix_ms":{start}.0,"mine":1}},"request":null,"has_response":false}}"#
            )
        });
        let b = Builder::default()
            .plugin(
                "json-as",
                FailurePolicy::Default,
                vec![(Hook::HttpPreHook, rewrite)],
            )
            .plugin(
                "reader",
                FailurePolicy::Default,
                vec![(Hook::HttpPreHook, ok(pass_http_pre))],
            );
        let mut run = RequestRun::new(b.build(RequestShape::Flat), "abc-123");
        run_full(&mut run).unwrap();
        let sent = member(&b.inputs_of("json-as", Hook::HttpPreHook)[0], "context").to_string();
        let seen = member(&b.inputs_of("reader", Hook::HttpPreHook)[0], "context").to_string();
        let start = member(&sent, crate::START_TIME_KEY);
        assert!(start.bytes().all(|c| c.is_ascii_digit()), "{sent}");
        assert_eq!(member(&seen, crate::START_TIME_KEY), start, "{seen}");
        assert_eq!(member(&seen, "request_id"), r#""abc-123""#, "{seen}");
        assert_eq!(member(&seen, "mine"), "1", "{seen}");
        for key in crate::HOST_OWNED_KEYS {
            assert_eq!(run.context().get(key).unwrap().as_str(), member(&sent, key));
        }
    }

    #[test]
    fn an_observer_sees_every_call_with_the_exact_input_and_output() {
        use crate::record::{HookObserver, ObservedCall};
        /// Plugin, hook, input, output, outcome.
        type Call = (String, Hook, String, Option<String>, HookOutcome);
        #[derive(Default)]
        struct Seen(std::sync::Mutex<Vec<Call>>);
        impl HookObserver for Seen {
            fn observe(&self, c: &ObservedCall<'_>) {
                let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
                self.0.lock().unwrap().push((
                    c.plugin.to_string(),
                    c.hook,
                    text(c.input),
                    c.output.map(text),
                    c.outcome,
                ));
            }
        }
        let b = Builder::default().plugin(
            "a",
            FailurePolicy::Default,
            vec![
                (Hook::HttpPreHook, ok(pass_http_pre)),
                (Hook::PreHook, ok(pass_pre)),
                (Hook::PostHook, f(|_| Err(HostError::new(ErrorKind::EmptyOutput)))),
            ],
        );
        let seen = Arc::new(Seen::default());
        let chain = Arc::new((*b.build(RequestShape::Flat)).clone().with_observer(seen.clone()));
        let mut run = RequestRun::new(chain, "abc-123");
        run_full(&mut run).unwrap();
        let seen = seen.0.lock().unwrap();
        let hooks: Vec<(Hook, HookOutcome)> = seen.iter().map(|s| (s.1, s.4)).collect();
        assert_eq!(
            hooks,
            [
                (Hook::HttpPreHook, HookOutcome::Passed),
                (Hook::PreHook, HookOutcome::Passed),
                (Hook::PostHook, HookOutcome::Failed)
            ]
        );
        let inputs = b.inputs_of("a", Hook::PreHook);
        assert_eq!(seen[1].2, inputs[0]);
        assert_eq!(seen[1].3.as_deref(), Some(pass_pre(&inputs[0]).as_str()));
        assert_eq!(seen[2].3, None);
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
        let HttpPreOutcome::Respond(answer) = run.http_pre_hook(raw(HTTP_REQ)) else {
            panic!("respond expected")
        };
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, br#"{"status":"ok"}"#);
        assert_eq!(answer.headers, [("X-Health".to_string(), "yes".to_string())]);
        assert_eq!(run.http_post_hook(&raw(HTTP_RESP)), None);
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
        let HttpPreOutcome::Continue(req) = run.http_pre_hook(raw(HTTP_REQ)) else {
            panic!()
        };
        assert!(req.as_str().contains("eyJhIjoxfQ=="));
        assert!(member(&b.inputs_of("see", Hook::HttpPreHook)[0], "request").contains("eyJhIjoxfQ=="));
        assert_eq!(run.http_request(), &req);
        assert_eq!(run.stats()[0].outcome(), HookOutcome::Changed);
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
            let outcome = run.http_pre_hook(raw(HTTP_REQ));
            // What a metrics exporter reads: the host's error code, and that the trap cost
            // the instance.
            assert_eq!(run.stats()[0].failure, Some("trap"));
            assert_eq!(run.stats()[0].replacements, 1);
            match outcome {
                HttpPreOutcome::Respond(answer) => {
                    assert!(expect_answer, "{policy}");
                    assert_eq!(answer.status, 500);
                    let body = String::from_utf8(answer.body).unwrap();
                    assert!(body.contains("flaky") && body.contains("http_pre_hook"), "{body}");
                    assert_eq!(b.calls(), ["flaky:http_pre_hook"]);
                    // The failing plugin's http_pre_hook did not complete: no http_post_hook.
                    assert_eq!(run.http_post_hook(&raw(HTTP_RESP)), None);
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
    fn http_returned_errors_answer_even_when_fail_open() {
        let b = Builder::default().plugin(
            "open",
            FailurePolicy::FailOpen,
            vec![(
                Hook::HttpPreHook,
                ok(|i: &str| {
                    format!(
                        r#"{{"context":{},"has_response":false,"error":"unauthorized"}}"#,
                        member(i, "context")
                    )
                }),
            )],
        );
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
        let HttpPreOutcome::Respond(answer) = run.http_pre_hook(raw(HTTP_REQ)) else {
            panic!()
        };
        assert!(String::from_utf8(answer.body).unwrap().contains("unauthorized"));
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
