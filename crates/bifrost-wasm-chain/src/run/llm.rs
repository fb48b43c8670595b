//! The LLM hooks: `pre_hook` in chain order, `post_hook` in reverse.

use bifrost_wasm_host::{Hook, HostError};
use bifrost_wasm_types::codec::{post_hook, pre_hook};
use bifrost_wasm_types::raw::RawJson;

use super::{take_payload, Cursor, LlmResult, Poll, PreOutcome, Read, RequestRun, Step};
use crate::outputs::{self, PreRead};
use crate::policy::Problem;
use crate::stats::HookOutcome;
use bifrost_wasm_types::equal::json_equal;

/// `pre_hook` of every plugin in order, on a request in the chain's shape.
///
/// A short-circuit stops the step: later pre-hooks and the provider are skipped, and
/// [`PostHooks`] will run only the plugins whose pre-hook ran (including the one that
/// answered). A failure under `fail_closed` ends the step with an error answer; the failing
/// plugin's own `post_hook` is not run.
#[derive(Debug)]
pub struct PreHooks {
    current: RawJson,
    cursor: Cursor,
    done: Option<PreOutcome>,
}

impl PreHooks {
    const HOOK: Hook = Hook::PreHook;

    /// The step for `request`.
    pub fn new(request: RawJson) -> Self {
        PreHooks {
            current: request,
            cursor: Cursor::forward(),
            done: None,
        }
    }

    fn stop(&mut self, run: &mut RequestRun, ran: usize, outcome: PreOutcome) {
        run.pre_ran = ran;
        self.done = Some(outcome);
    }
}

impl Step for PreHooks {
    type Output = PreOutcome;

    fn poll(&mut self, run: &mut RequestRun) -> Poll<PreOutcome> {
        if let Some(done) = self.done.take() {
            return Poll::Ready(done);
        }
        if self.cursor.next(run, Self::HOOK, run.chain.len()).is_some() {
            let request = &self.current;
            return run.ask(&self.cursor, Self::HOOK, |context, _, out| {
                pre_hook::Input {
                    context: Some(context),
                    request: Some(request.as_str()),
                }
                .write(out)
            });
        }
        run.pre_ran = run.chain.len();
        Poll::Ready(PreOutcome::Continue(std::mem::replace(
            &mut self.current,
            RawJson::null(),
        )))
    }

    fn resume(&mut self, run: &mut RequestRun, result: Result<bool, HostError>) {
        const HOOK: Hook = PreHooks::HOOK;
        let (i, started) = (self.cursor.calling, self.cursor.started);
        let (shape, current) = (run.chain.shape(), &self.current);
        let (problem, message) = match run.read(i, HOOK, result, |env| outputs::read_pre(env, current, shape))
        {
            Read::Absent => return,
            Read::Output(PreRead::ShortCircuit(result), keys) => {
                run.record(i, HOOK, HookOutcome::ShortCircuited, started, keys);
                return self.stop(run, i + 1, PreOutcome::ShortCircuit(result));
            }
            Read::Output(PreRead::Continue(request), keys) => {
                let outcome = take_payload(&mut self.current, request);
                run.record(i, HOOK, outcome, started, keys);
                return;
            }
            Read::Returned(message) => (Problem::Returned, message),
            Read::Failed(message) => (Problem::Failed, message),
        };
        if let Some(error) = run.answer_if_needed(i, HOOK, problem, &message, started) {
            self.stop(run, i, PreOutcome::ShortCircuit(LlmResult::Error(error)));
        }
    }
}

/// `post_hook` in reverse for the plugins whose `pre_hook` ran, on the provider's result (or
/// a short-circuit's). For a stream, run it once per chunk with the chunk wrapped as a
/// response.
///
/// A hook may turn a response into an error or recover from one. A failure or returned error
/// keeps the previous result, unless the plugin is `fail_closed`: then the result becomes an
/// error answer, which the remaining (earlier) plugins still see.
#[derive(Debug)]
pub struct PostHooks {
    current: LlmResult,
    cursor: Cursor,
}

impl PostHooks {
    const HOOK: Hook = Hook::PostHook;

    /// The step for `result`.
    pub fn new(result: LlmResult) -> Self {
        PostHooks {
            current: result,
            cursor: Cursor::reverse(),
        }
    }
}

impl Step for PostHooks {
    type Output = LlmResult;

    fn poll(&mut self, run: &mut RequestRun) -> Poll<LlmResult> {
        if self.cursor.next(run, Self::HOOK, run.pre_ran).is_some() {
            let current = &self.current;
            return run.ask(&self.cursor, Self::HOOK, |context, _, out| {
                let input = match current {
                    LlmResult::Response(r) => post_hook::Input {
                        context: Some(context),
                        response: Some(r.as_str()),
                        error: Some("{}"),
                        has_error: false,
                    },
                    LlmResult::Error(e) => post_hook::Input {
                        context: Some(context),
                        response: None,
                        error: Some(e.as_str()),
                        has_error: true,
                    },
                };
                input.write(out)
            });
        }
        Poll::Ready(std::mem::replace(
            &mut self.current,
            LlmResult::Error(RawJson::null()),
        ))
    }

    fn resume(&mut self, run: &mut RequestRun, result: Result<bool, HostError>) {
        const HOOK: Hook = PostHooks::HOOK;
        let (i, started) = (self.cursor.calling, self.cursor.started);
        let (shape, current) = (run.chain.shape(), &self.current);
        let (problem, message) =
            match run.read(i, HOOK, result, |env| outputs::read_post(env, current, shape)) {
                Read::Absent => return,
                Read::Output(next, keys) => {
                    let outcome = match next {
                        Some(next) => {
                            let changed = match (&self.current, &next) {
                                (LlmResult::Response(a), LlmResult::Response(b))
                                | (LlmResult::Error(a), LlmResult::Error(b)) => {
                                    !json_equal(a.as_str(), b.as_str())
                                }
                                _ => true,
                            };
                            self.current = next;
                            if changed {
                                HookOutcome::Changed
                            } else {
                                HookOutcome::Passed
                            }
                        }
                        None => HookOutcome::Passed,
                    };
                    run.record(i, HOOK, outcome, started, keys);
                    return;
                }
                Read::Returned(message) => (Problem::Returned, message),
                Read::Failed(message) => (Problem::Failed, message),
            };
        if let Some(error) = run.answer_if_needed(i, HOOK, problem, &message, started) {
            self.current = LlmResult::Error(error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{LlmResult, PreOutcome, RequestRun};
    use crate::config::FailurePolicy;
    use crate::policy::ErrorAction;
    use crate::stats::HookOutcome;
    use bifrost_wasm_host::Hook;
    use bifrost_wasm_types::shape::{wrap_chat_response, LlmRequest, RequestShape};

    #[test]
    fn payloads_pass_between_plugins_byte_for_byte_including_big_integers() {
        let b = Builder::default()
            .plugin("a", FailurePolicy::Default, all_pass())
            .plugin("b", FailurePolicy::Default, all_pass());
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
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
            raw(r#"{"id":"c","choices":[{"index":0,"delta":{"content":"x"}}],"n":18446744073709551616}"#);
        assert_eq!(
            run.stream_chunk(chunk.clone()),
            super::super::ChunkOutcome::Send(chunk)
        );
        assert!(
            run.stats().iter().all(|s| s.outcome() == HookOutcome::Passed),
            "{}",
            run.summary()
        );
    }

    #[test]
    fn reindented_or_reordered_payload_counts_as_passed_and_an_edit_as_changed() {
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
                "reorder",
                FailurePolicy::Default,
                vec![(
                    Hook::PreHook,
                    ok(|i: &str| {
                        format!(
                            r#"{{"context":{},"request":{{"input":[],"model":"gpt-4","provider":"openai"}}}}"#,
                            member(i, "context")
                        )
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
            run.pre_hook(raw(r#"{"provider":"openai","model":"gpt-4","input":[]}"#))
        else {
            panic!("continue expected")
        };
        assert!(out.as_str().contains("gpt-4o"));
        assert_eq!(run.stats()[0].outcome(), HookOutcome::Passed);
        assert_eq!(run.stats()[1].outcome(), HookOutcome::Passed);
        assert_eq!(run.stats()[2].outcome(), HookOutcome::Changed);
        // What the plugin wrote is what the next one gets, even when it means the same.
        assert!(member(&b.inputs_of("edit", Hook::PreHook)[0], "request").starts_with(r#"{"input""#));
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
        let PreOutcome::ShortCircuit(LlmResult::Error(e)) = run.pre_hook(raw(FLAT_REQ)) else {
            panic!("error short-circuit expected")
        };
        assert_eq!(member(e.as_str(), "status_code"), "429");
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
        let PreOutcome::ShortCircuit(LlmResult::Response(r)) = run.pre_hook(raw(r#"{"chat_request":{}}"#))
        else {
            panic!("response expected")
        };
        assert_eq!(r.as_str(), format!(r#"{{"chat_response":{CHAT}}}"#));
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
            ("{\"request\":", "returned invalid JSON"),
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
    fn fail_open_bypasses_llm_failures() {
        let b = Builder::default().plugin(
            "open",
            FailurePolicy::FailOpen,
            vec![(Hook::PreHook, f(|_| Err(trap("open", "pre_hook"))))],
        );
        let mut run = RequestRun::new(b.build(RequestShape::GoEnvelope), "r");
        assert_eq!(run.pre_hook(go_request()), PreOutcome::Continue(go_request()));
        assert_eq!(run.stats()[0].error.as_ref().unwrap().1, ErrorAction::Bypassed);
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
        let error = raw(r#"{"error":{"message":"upstream down"},"status_code":502}"#);
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
    fn request_returned_in_another_shape_is_rewrapped_in_the_chain_shape() {
        let flatten = ok(|i: &str| {
            let inner = LlmRequest::new(raw(member(i, "request")))
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
}
