//! The host's limits and engine settings.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::HostError;

/// Most idle pooling-allocator slots that keep their memory resident.
pub const WARM_SLOTS: u32 = 16;

/// Limits and engine settings of a [`Host`](crate::Host).
///
/// Construct with [`HostConfig::default`] and adjust with the `with_*` methods (or
/// the public fields).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HostConfig {
    /// Largest linear memory an instance may grow to, in bytes (default 256 MiB,
    /// enough for the gateway's 32 MiB request bodies and the copies a plugin makes).
    pub memory_limit: usize,
    /// Wall-clock deadline of one hook call (malloc, hook, free), default 1 s.
    /// `None` disables epoch interruption altogether (compiled code then has no
    /// interruption checks; a runaway plugin can hang its caller).
    pub deadline: Option<Duration>,
    /// Deadline for instantiation, the WASI start function and `init` (default 10 s).
    /// Only enforced when `deadline` is `Some`.
    pub init_deadline: Duration,
    /// Longest epoch tick (default 10 ms). The ticker runs at this period, or at a
    /// tenth of the shortest deadline if that is shorter (never below 100 µs), so a
    /// deadline fires at most about 10% late. It only runs while a call is in flight:
    /// measured here, a 10 ms tick costs ~0.15% of a core while calls run, 1 ms ~1.5%,
    /// 100 µs ~9%, and an idle host nothing.
    pub epoch_tick: Duration,
    /// Largest output a hook may return, in bytes (default 64 MiB).
    pub max_output_bytes: usize,
    /// Largest wasm stack, in bytes (default 1 MiB); overflowing it is a typed error.
    pub max_wasm_stack: usize,
    /// Use wasmtime's pooling allocator (default on): faster fresh instances, memory
    /// slots reserved up front.
    pub pooling: bool,
    /// Instance slots of the pooling allocator (default 256): the most instances of
    /// all plugins of this host alive at once.
    pub pooling_slots: u32,
    /// Bytes of each pooled linear memory (and table) kept resident and reset with
    /// `memset` when a slot is reused, instead of being returned to the kernel and
    /// faulted in again (default 2 MiB, which halves hello-world's fresh-instance
    /// cost). At most [`WARM_SLOTS`] idle slots keep memory, bounding the resident
    /// cost at `WARM_SLOTS * pooling_keep_resident`.
    pub pooling_keep_resident: usize,
    /// Directory of the compiled-module cache; `None` (the default) disables it.
    pub cache_dir: Option<PathBuf>,
    /// Most bytes of stdout/stderr a WASI plugin may log per call (default 64 KiB).
    pub max_log_bytes_per_call: usize,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            memory_limit: 256 << 20,
            deadline: Some(Duration::from_secs(1)),
            init_deadline: Duration::from_secs(10),
            epoch_tick: Duration::from_millis(10),
            max_output_bytes: 64 << 20,
            max_wasm_stack: 1 << 20,
            pooling: true,
            pooling_slots: 256,
            pooling_keep_resident: 2 << 20,
            cache_dir: None,
            max_log_bytes_per_call: 64 << 10,
        }
    }
}

impl HostConfig {
    /// Sets [`HostConfig::memory_limit`].
    pub fn with_memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// Sets [`HostConfig::deadline`].
    pub fn with_deadline(mut self, deadline: Option<Duration>) -> Self {
        self.deadline = deadline;
        self
    }

    /// Sets [`HostConfig::init_deadline`].
    pub fn with_init_deadline(mut self, deadline: Duration) -> Self {
        self.init_deadline = deadline;
        self
    }

    /// Sets [`HostConfig::epoch_tick`].
    pub fn with_epoch_tick(mut self, tick: Duration) -> Self {
        self.epoch_tick = tick;
        self
    }

    /// Sets [`HostConfig::max_output_bytes`].
    pub fn with_max_output_bytes(mut self, bytes: usize) -> Self {
        self.max_output_bytes = bytes;
        self
    }

    /// Sets [`HostConfig::max_wasm_stack`].
    pub fn with_max_wasm_stack(mut self, bytes: usize) -> Self {
        self.max_wasm_stack = bytes;
        self
    }

    /// Sets [`HostConfig::pooling`].
    pub fn with_pooling(mut self, pooling: bool) -> Self {
        self.pooling = pooling;
        self
    }

    /// Sets [`HostConfig::pooling_slots`].
    pub fn with_pooling_slots(mut self, slots: u32) -> Self {
        self.pooling_slots = slots;
        self
    }

    /// Sets [`HostConfig::pooling_keep_resident`].
    pub fn with_pooling_keep_resident(mut self, bytes: usize) -> Self {
        self.pooling_keep_resident = bytes;
        self
    }

    /// Sets [`HostConfig::cache_dir`].
    pub fn with_cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.cache_dir = dir;
        self
    }

    /// Sets [`HostConfig::max_log_bytes_per_call`].
    pub fn with_max_log_bytes_per_call(mut self, bytes: usize) -> Self {
        self.max_log_bytes_per_call = bytes;
        self
    }

    /// The conventional cache directory: `$XDG_CACHE_HOME/bifrost-wasm` or
    /// `$HOME/.cache/bifrost-wasm`, if either variable is set.
    pub fn default_cache_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|home| PathBuf::from(home).join(".cache"))
            })?;
        Some(base.join("bifrost-wasm"))
    }

    /// The ticker period actually used (see [`HostConfig::epoch_tick`]).
    pub fn effective_tick(&self) -> Duration {
        let shortest = match self.deadline {
            Some(deadline) => deadline.min(self.init_deadline),
            None => self.init_deadline,
        };
        self.epoch_tick.min(shortest / 10).max(Duration::from_micros(100))
    }

    pub(crate) fn validate(&self) -> Result<(), HostError> {
        let bad = |message: &str| Err(HostError::invalid_config(message));
        if self.memory_limit < 64 * 1024 {
            return bad("memory_limit must be at least one wasm page (65536 bytes)");
        }
        if u64::try_from(self.memory_limit).map_or(true, |m| m > 4 << 30) {
            return bad("memory_limit must be at most 4 GiB (32-bit wasm memories)");
        }
        if self.epoch_tick.is_zero() {
            return bad("epoch_tick must be greater than zero");
        }
        if self.deadline.is_some_and(|d| d.is_zero()) {
            return bad("deadline must be greater than zero (or None to disable it)");
        }
        if self.max_wasm_stack < 64 * 1024 {
            return bad("max_wasm_stack must be at least 64 KiB");
        }
        if self.pooling && self.pooling_slots == 0 {
            return bad("pooling_slots must be at least 1 when pooling is on");
        }
        Ok(())
    }
}
