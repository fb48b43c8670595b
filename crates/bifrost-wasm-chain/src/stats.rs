//! What each hook did during one request, for the gateway's log line.

use std::fmt::{self, Write as _};
use std::time::Duration;

use bifrost_wasm_host::Hook;

use crate::policy::ErrorAction;

/// What one hook call did, as shown in the gateway's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookOutcome {
    /// The payload came back unchanged (JSON-equal; context edits aside).
    Passed,
    /// The payload was replaced by one that is not JSON-equal to it.
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
    /// Every outcome, in the order counts are kept.
    pub const ALL: [HookOutcome; 6] = [
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

/// Everything one plugin's hook did during one request (stream chunk calls are aggregated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookStat {
    /// Index of the plugin in the chain.
    pub plugin: usize,
    /// The hook.
    pub hook: Hook,
    /// Number of calls.
    pub calls: u32,
    /// Count per outcome, indexed like [`HookOutcome::ALL`].
    counts: [u32; 6],
    /// Time spent in the calls, from writing the input to reading the output (in the gateway
    /// this includes waiting for the plugin's instance).
    pub duration: Duration,
    /// Context keys the hook added or changed.
    pub context_keys: Vec<String>,
    /// The first error or failure message, with what the chain did about it.
    pub error: Option<(String, ErrorAction)>,
    /// For a failed call: the host's error code of the first failure (`trap`, `timeout`,
    /// `memory_limit`, ... see `HostError::code`; `invalid_output` when the output could not
    /// be read).
    pub failure: Option<&'static str>,
    /// How many failed calls cost the plugin its instance (replaced by a fresh one).
    pub replacements: u32,
}

impl HookStat {
    fn new(plugin: usize, hook: Hook) -> Self {
        HookStat {
            plugin,
            hook,
            calls: 0,
            counts: [0; 6],
            duration: Duration::ZERO,
            context_keys: Vec::new(),
            error: None,
            failure: None,
            replacements: 0,
        }
    }

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

/// The stats of one request, in call order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    stats: Vec<HookStat>,
}

impl Stats {
    /// Room for `n` entries.
    pub(crate) fn with_capacity(n: usize) -> Self {
        Stats {
            stats: Vec::with_capacity(n),
        }
    }

    pub(crate) fn as_slice(&self) -> &[HookStat] {
        &self.stats
    }

    fn entry(&mut self, plugin: usize, hook: Hook) -> &mut HookStat {
        match self
            .stats
            .iter()
            .position(|s| s.plugin == plugin && s.hook == hook)
        {
            Some(i) => &mut self.stats[i],
            None => {
                self.stats.push(HookStat::new(plugin, hook));
                self.stats.last_mut().expect("just pushed")
            }
        }
    }

    /// Counts one call of `hook` of `plugin`.
    pub(crate) fn record(
        &mut self,
        plugin: usize,
        hook: Hook,
        outcome: HookOutcome,
        elapsed: Duration,
        context_keys: Vec<String>,
    ) -> &mut HookStat {
        let stat = self.entry(plugin, hook);
        stat.calls += 1;
        stat.counts[outcome.index()] += 1;
        stat.duration += elapsed;
        if stat.context_keys.is_empty() {
            stat.context_keys = context_keys;
        } else {
            for key in context_keys {
                if !stat.context_keys.contains(&key) {
                    stat.context_keys.push(key);
                }
            }
        }
        stat
    }

    /// A one-line summary for a log line, e.g.
    /// `hello-world.pre_hook=short_circuited(14µs) hello-world.post_hook=changed(9µs)`;
    /// `name(i)` is the name of plugin `i`.
    pub(crate) fn summary<'a>(&self, name: impl Fn(usize) -> &'a str) -> String {
        let mut out = String::new();
        for stat in &self.stats {
            if !out.is_empty() {
                out.push(' ');
            }
            let _ = write!(out, "{}.{}=", name(stat.plugin), stat.hook);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_calls_are_counted_per_outcome_and_keys_are_listed_once() {
        let mut stats = Stats::default();
        let ms = Duration::from_millis(1);
        stats.record(
            0,
            Hook::HttpStreamChunkHook,
            HookOutcome::Passed,
            ms,
            vec!["a".into()],
        );
        stats.record(
            0,
            Hook::HttpStreamChunkHook,
            HookOutcome::Dropped,
            ms,
            vec!["a".into(), "b".into()],
        );
        stats.record(1, Hook::PreHook, HookOutcome::ShortCircuited, ms, Vec::new());
        let stat = &stats.as_slice()[0];
        assert_eq!((stat.calls, stat.outcome()), (2, HookOutcome::Dropped));
        assert_eq!(stat.context_keys, ["a", "b"]);
        assert_eq!(stat.duration, 2 * ms);
        let names = ["chunky", "mock"];
        assert_eq!(
            stats.summary(|i| names[i]),
            "chunky.http_stream_chunk_hook=passedx1+droppedx1(2ms)[ctx:a,b] mock.pre_hook=short_circuited(1ms)"
        );
    }

    #[test]
    fn the_most_severe_outcome_wins() {
        let mut stats = Stats::default();
        for o in [HookOutcome::Changed, HookOutcome::Failed, HookOutcome::Passed] {
            stats.record(0, Hook::PostHook, o, Duration::ZERO, Vec::new());
        }
        assert_eq!(stats.as_slice()[0].outcome(), HookOutcome::Failed);
    }
}
