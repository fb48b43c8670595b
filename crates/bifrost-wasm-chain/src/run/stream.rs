//! Stream chunks: `http_stream_chunk_hook` in reverse, once per chunk.

use bifrost_wasm_host::{Hook, HostError};
use bifrost_wasm_types::codec::http_stream_chunk_hook;
use bifrost_wasm_types::raw::RawJson;

use super::{take_payload, ChunkOutcome, Cursor, Poll, Read, RequestRun, Step};
use crate::config::FailurePolicy;
use crate::outputs::{self, ChunkRead};
use crate::policy::{ErrorAction, Problem};
use crate::stats::HookOutcome;

/// `http_stream_chunk_hook` in reverse for the plugins whose `http_pre_hook` ran, on one chunk
/// (a chat completion chunk object, no SSE framing).
///
/// `skip` drops the chunk (earlier plugins do not see it); a replaced chunk goes on; an error
/// without a chunk ends the stream with an error event; an error *with* a chunk (Go's
/// `(chunk, err)`) is logged and the chunk sent, unless the plugin is `fail_closed`.
#[derive(Debug)]
pub struct ChunkHooks {
    current: RawJson,
    cursor: Cursor,
    done: Option<ChunkOutcome>,
}

impl ChunkHooks {
    const HOOK: Hook = Hook::HttpStreamChunkHook;

    /// The step for `chunk`.
    pub fn new(chunk: RawJson) -> Self {
        ChunkHooks {
            current: chunk,
            cursor: Cursor::reverse(),
            done: None,
        }
    }

    fn problem(&mut self, run: &mut RequestRun, problem: Problem, message: &str) {
        let (i, started) = (self.cursor.calling, self.cursor.started);
        if let Some(error) = run.answer_if_needed(i, Self::HOOK, problem, message, started) {
            self.done = Some(ChunkOutcome::End(error));
        }
    }
}

impl Step for ChunkHooks {
    type Output = ChunkOutcome;

    fn poll(&mut self, run: &mut RequestRun) -> Poll<ChunkOutcome> {
        if let Some(done) = self.done.take() {
            return Poll::Ready(done);
        }
        if self.cursor.next(run, Self::HOOK, run.http_pre_ran).is_some() {
            let chunk = &self.current;
            return run.ask(&self.cursor, Self::HOOK, |context, request, out| {
                http_stream_chunk_hook::Input {
                    context: Some(context),
                    request: Some(request.as_str()),
                    chunk: Some(chunk.as_str()),
                }
                .write(out)
            });
        }
        Poll::Ready(ChunkOutcome::Send(std::mem::replace(
            &mut self.current,
            RawJson::null(),
        )))
    }

    fn resume(&mut self, run: &mut RequestRun, result: Result<bool, HostError>) {
        const HOOK: Hook = ChunkHooks::HOOK;
        let (i, started) = (self.cursor.calling, self.cursor.started);
        let current = &self.current;
        match run.read(i, HOOK, result, |env| outputs::read_chunk(env, current.as_str())) {
            Read::Absent => {}
            Read::Failed(message) => self.problem(run, Problem::Failed, &message),
            Read::Returned(message) => self.problem(run, Problem::Returned, &message),
            Read::Output(ChunkRead::Skip, keys) => {
                run.record(i, HOOK, HookOutcome::Dropped, started, keys);
                self.done = Some(ChunkOutcome::Skip);
            }
            Read::Output(ChunkRead::Continue(chunk), keys) => {
                let outcome = take_payload(&mut self.current, chunk);
                run.record(i, HOOK, outcome, started, keys);
            }
            Read::Output(ChunkRead::ErrorWithChunk(message, chunk), keys) => {
                // Go's `(chunk, err)`: log and go on with the chunk, unless fail_closed.
                if run.chain.plugins()[i].policy == FailurePolicy::FailClosed {
                    return self.problem(run, Problem::Returned, &message);
                }
                let plugin = run.name(i);
                tracing::warn!(
                    request_id = %run.request_id(), plugin, hook = %HOOK,
                    "plugin {plugin} {HOOK} returned an error with a chunk; sending the chunk: {message}"
                );
                if let Some(chunk) = chunk {
                    self.current = chunk;
                }
                let stat = run.record(i, HOOK, HookOutcome::Error, started, keys);
                stat.error.get_or_insert((message, ErrorAction::Continued));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{ChunkOutcome, HttpPreOutcome, RequestRun};
    use crate::config::FailurePolicy;
    use crate::stats::HookOutcome;
    use bifrost_wasm_host::Hook;
    use bifrost_wasm_types::shape::RequestShape;

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
        let HttpPreOutcome::Respond(a) = run.http_pre_hook(raw(HTTP_REQ)) else {
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
}
