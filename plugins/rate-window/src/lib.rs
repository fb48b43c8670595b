//! `rate-window`: a Bifrost plugin that limits requests per key over time windows.
//!
//! In `pre_hook`, each request is counted against its **key** (the values of the context
//! keys in `key_from`, by default Bifrost's virtual key `x-bf-vk`, optionally with
//! `provider/model`). A request over the limit is answered with Bifrost's rate-limit error
//! (`Rate limit exceeded`, type `rate_limit`, code `429`, status 429) and never reaches a
//! provider. Two window modes:
//!
//! * `fixed`: at most `limit` requests in each window `[k·window_ms, (k+1)·window_ms)`;
//!   simple, but a client may send `2·limit` requests around a window boundary.
//! * `sliding` (default): the sliding-window counter: the previous window's count weighted
//!   by how much of it still overlaps the last `window_ms`, plus the current window's count,
//!   must stay below `limit`. It smooths the boundary burst with two counters per key
//!   (an approximation of a true sliding log, which would keep one timestamp per request).
//!
//! The context gets `rate_window` (`allowed` or `limited`), `rate_window_limit`,
//! `rate_window_remaining`, `rate_window_reset_ms` (Unix ms at which the current window
//! ends) and, when limited, `rate_window_retry_after_ms`.
//!
//! # Time
//!
//! A `wasm32-unknown-unknown` plugin has no clock (no imports at all). The plugin reads the
//! time from the context instead: the workspace's host chain (and so `bifrost-wasm serve`)
//! puts the request's start time in Unix milliseconds under `request_start_unix_ms`. With
//! `clock: "auto"` (default) that value is used when present and the system clock
//! otherwise, which exists natively and in a `wasm32-wasip1` build (WASI `clock_time_get`).
//! `clock: "context"` requires the context value; `clock: "system"` ignores it. When no
//! time is available the hook returns an error saying so, and Bifrost lets the request
//! through (run the plugin with `fail_closed` to refuse instead). Times that go backwards
//! (hosts stamping requests on several threads) are clamped to the latest seen.
//!
//! # Bounds and caveats
//!
//! At most `max_keys` keys are tracked; beyond that the least recently seen key is
//! forgotten (its next request starts a fresh count). Counters live in the plugin instance:
//! a restarted or replaced instance starts from zero, and several instances count
//! separately. Bifrost re-runs `pre_hook` for each fallback attempt, so a request that falls
//! back is counted once per attempt.

use std::collections::{BTreeMap, HashMap};

use bifrost_wasm_sdk::prelude::*;

/// The context key the host's chain seeds with the request's start time (Unix ms).
pub const DEFAULT_CLOCK_KEY: &str = "request_start_unix_ms";

/// How windows are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Fixed windows aligned to multiples of `window_ms`.
    Fixed,
    /// The sliding-window counter (previous window weighted by overlap).
    #[default]
    Sliding,
}

/// Where the time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Clock {
    /// The context value when present, else the system clock.
    #[default]
    Auto,
    /// Only the context value.
    Context,
    /// Only the system clock (native and `wasm32-wasip1` builds).
    System,
}

/// The plugin's configuration (every key optional).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Requests allowed per key per window (default 60).
    pub limit: u64,
    /// Window length in milliseconds (default 60000).
    pub window_ms: u64,
    /// `fixed` or `sliding` (default `sliding`).
    pub mode: Mode,
    /// Context keys whose values make up the rate-limit key (default `["x-bf-vk"]`).
    pub key_from: Vec<String>,
    /// Count each `provider/model` separately (default false).
    pub per_model: bool,
    /// Key used when none of `key_from` is in the context (default `anonymous`).
    pub default_key: String,
    /// Most keys tracked at once (default 10000).
    pub max_keys: usize,
    /// `auto`, `context` or `system` (default `auto`).
    pub clock: Clock,
    /// Context key holding the current time in Unix milliseconds (default
    /// `request_start_unix_ms`).
    pub clock_key: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limit: 60,
            window_ms: 60_000,
            mode: Mode::Sliding,
            key_from: vec![VIRTUAL_KEY.to_string()],
            per_model: false,
            default_key: "anonymous".to_string(),
            max_keys: 10_000,
            clock: Clock::Auto,
            clock_key: DEFAULT_CLOCK_KEY.to_string(),
        }
    }
}

/// True when this build has a system clock (everything but `wasm32-unknown-unknown`).
pub const HAS_SYSTEM_CLOCK: bool = !cfg!(all(target_arch = "wasm32", target_os = "unknown"));

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
fn system_now_ms() -> Result<u64, String> {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| format!("the system clock is before 1970: {e}"))?;
    Ok(elapsed.as_millis() as u64)
}

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
fn system_now_ms() -> Result<u64, String> {
    Err("this wasm32-unknown-unknown build has no clock".to_string())
}

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go on.
    pub allowed: bool,
    /// Requests left in the window after this one (0 when limited).
    pub remaining: u64,
    /// Unix ms at which the current window ends.
    pub reset_ms: u64,
    /// When limited: milliseconds until a request would be allowed.
    pub retry_after_ms: u64,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    window: u64,
    current: u64,
    previous: u64,
    /// This key's entry in `Limiter::seen`.
    seen: (u64, u64),
}

/// Per-key counters over time windows, bounded in the number of keys.
#[derive(Debug)]
pub struct Limiter {
    limit: u64,
    window_ms: u64,
    mode: Mode,
    max_keys: usize,
    slots: HashMap<String, Slot>,
    /// (last seen ms, sequence) → key, least recently seen first.
    seen: BTreeMap<(u64, u64), String>,
    sequence: u64,
    latest: u64,
}

impl Limiter {
    /// A limiter of `limit` requests per `window_ms` per key.
    pub fn new(limit: u64, window_ms: u64, mode: Mode, max_keys: usize) -> Self {
        Limiter {
            limit,
            window_ms,
            mode,
            max_keys: max_keys.max(1),
            slots: HashMap::new(),
            seen: BTreeMap::new(),
            sequence: 0,
            latest: 0,
        }
    }

    /// Keys tracked now.
    pub fn keys(&self) -> usize {
        self.slots.len()
    }

    fn touch(&mut self, key: &str, now: u64) -> Slot {
        let window = now / self.window_ms;
        let mut slot = match self.slots.get(key) {
            Some(slot) => {
                self.seen.remove(&slot.seen);
                *slot
            }
            None => {
                if self.slots.len() >= self.max_keys {
                    if let Some((_, oldest)) = self.seen.pop_first() {
                        self.slots.remove(&oldest);
                    }
                }
                Slot {
                    window,
                    current: 0,
                    previous: 0,
                    seen: (0, 0),
                }
            }
        };
        if slot.window != window {
            slot.previous = if slot.window + 1 == window {
                slot.current
            } else {
                0
            };
            slot.current = 0;
            slot.window = window;
        }
        self.sequence += 1;
        slot.seen = (now, self.sequence);
        self.seen.insert(slot.seen, key.to_string());
        slot
    }

    /// Counts a request of `key` at `now` (Unix ms) if the limit allows it.
    pub fn check(&mut self, key: &str, now: u64) -> Decision {
        let now = now.max(self.latest);
        self.latest = now;
        let mut slot = self.touch(key, now);
        let w = self.window_ms;
        let start = slot.window * w;
        let reset_ms = start + w;
        let (used, allowed) = match self.mode {
            Mode::Fixed => (slot.current as f64, slot.current < self.limit),
            Mode::Sliding => {
                let overlap = 1.0 - (now - start) as f64 / w as f64;
                let estimate = slot.previous as f64 * overlap + slot.current as f64;
                (estimate, estimate + 1.0 <= self.limit as f64)
            }
        };
        let decision = if allowed {
            slot.current += 1;
            Decision {
                allowed: true,
                remaining: (self.limit as f64 - used - 1.0).floor().max(0.0) as u64,
                reset_ms,
                retry_after_ms: 0,
            }
        } else {
            Decision {
                allowed: false,
                remaining: 0,
                reset_ms,
                retry_after_ms: self.retry_after(&slot, now),
            }
        };
        self.slots.insert(key.to_string(), slot);
        decision
    }

    /// Milliseconds until a request of a limited key would be allowed.
    fn retry_after(&self, slot: &Slot, now: u64) -> u64 {
        let w = self.window_ms as f64;
        let start = (slot.window * self.window_ms) as f64;
        let limit = self.limit as f64;
        let at = match self.mode {
            Mode::Fixed => start + w,
            Mode::Sliding if (slot.current as f64) + 1.0 > limit => {
                // In the next window the current count becomes the weighted previous one.
                let fraction = 1.0 - (limit - 1.0) / slot.current as f64;
                start + w + fraction.clamp(0.0, 1.0) * w
            }
            Mode::Sliding => {
                let fraction = 1.0 - (limit - 1.0 - slot.current as f64) / slot.previous.max(1) as f64;
                start + fraction.clamp(0.0, 1.0) * w
            }
        };
        (at - now as f64).ceil().max(1.0) as u64
    }
}

/// The seed's rate-limit error, with what the client can do about it.
pub fn rate_limit_error(limit: u64, window_ms: u64, retry_after_ms: u64) -> BifrostError {
    let mut error = BifrostError::new(&format!(
        "Rate limit exceeded: {limit} requests per {window_ms} ms for this key; retry in {retry_after_ms} ms"
    ))
    .with_type("rate_limit")
    .with_code("429")
    .with_status(429);
    error
        .extra
        .insert("retry_after_ms".to_string(), Value::from(retry_after_ms));
    error
}

/// The rate-window plugin.
#[derive(Debug)]
pub struct RateWindow {
    config: Config,
    limiter: Limiter,
}

impl RateWindow {
    /// The current time for a request, per the `clock` setting.
    pub fn now_ms(&self, context: &BifrostContext) -> Result<u64, String> {
        let from_context = || -> Option<u64> {
            let key = &self.config.clock_key;
            context
                .get_u64(key)
                .or_else(|| context.get_f64(key).filter(|f| *f >= 0.0).map(|f| f as u64))
                .or_else(|| context.get_string(key)?.trim().parse().ok())
        };
        let missing = || {
            format!(
                "no time for the rate limiter: the context has no `{}` (Unix ms) — run the plugin under a host that seeds it (`bifrost-wasm serve` does), or a wasm32-wasip1 build with `clock: \"system\"`",
                self.config.clock_key
            )
        };
        match self.config.clock {
            Clock::Context => from_context().ok_or_else(missing),
            Clock::System => system_now_ms(),
            Clock::Auto => match from_context() {
                Some(t) => Ok(t),
                None if HAS_SYSTEM_CLOCK => system_now_ms(),
                None => Err(missing()),
            },
        }
    }

    /// The rate-limit key of a request.
    pub fn key_for(&self, context: &BifrostContext, request: &LlmRequest) -> String {
        let mut parts: Vec<String> = self
            .config
            .key_from
            .iter()
            .filter_map(|k| match context.get_string(k) {
                Some(s) if !s.is_empty() => Some(s.to_string()),
                // Any other value counts as its compact JSON text; `null` as absent.
                _ => match context.get_as::<Value>(k)?.ok()? {
                    Value::Null => None,
                    other => Some(other.to_string()),
                },
            })
            .collect();
        if parts.is_empty() {
            parts.push(self.config.default_key.clone());
        }
        if self.config.per_model {
            let (provider, model) = request.get_provider_model();
            parts.push(format!("{provider}/{model}"));
        }
        parts.join("\u{1f}")
    }
}

impl Plugin for RateWindow {
    const NAME: &'static str = "rate-window";
    type Config = Config;

    fn new(config: Config) -> HookResult<Self> {
        if config.limit == 0 {
            return Err(HookError::new("limit must be at least 1 request per window"));
        }
        if config.window_ms == 0 {
            return Err(HookError::new("window_ms must be at least 1"));
        }
        if config.clock == Clock::System && !HAS_SYSTEM_CLOCK {
            return Err(HookError::new(
                "clock \"system\" is not available in a wasm32-unknown-unknown build (it has no clock): use \"auto\" or \"context\" with a host that seeds the time, or build for wasm32-wasip1",
            ));
        }
        if config.clock != Clock::System && config.clock_key.is_empty() {
            return Err(HookError::new("clock_key must name a context key"));
        }
        let limiter = Limiter::new(config.limit, config.window_ms, config.mode, config.max_keys);
        Ok(RateWindow { config, limiter })
    }

    fn pre_hook(&mut self, mut input: PreHookInput) -> HookResult<PreHookOutput> {
        let now = self.now_ms(&input.context)?;
        let key = self.key_for(&input.context, &input.request);
        let d = self.limiter.check(&key, now);
        input.context.set_value("rate_window_limit", self.config.limit);
        input.context.set_value("rate_window_remaining", d.remaining);
        input.context.set_value("rate_window_reset_ms", d.reset_ms);
        if d.allowed {
            input.context.set_value("rate_window", "allowed");
            return Ok(input.pass_through());
        }
        input.context.set_value("rate_window", "limited");
        input
            .context
            .set_value("rate_window_retry_after_ms", d.retry_after_ms);
        let error = rate_limit_error(self.config.limit, self.config.window_ms, d.retry_after_ms);
        Ok(input.short_circuit_error(&error))
    }
}

bifrost_wasm_sdk::export_plugin!(RateWindow);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_window_allows_limit_then_resets_at_the_boundary() {
        let mut l = Limiter::new(2, 1000, Mode::Fixed, 10);
        assert!(l.check("k", 10_000).allowed);
        assert_eq!(l.check("k", 10_500).remaining, 0);
        let d = l.check("k", 10_999);
        assert!(!d.allowed);
        assert_eq!((d.reset_ms, d.retry_after_ms), (11_000, 1));
        assert!(l.check("k", 11_000).allowed);
        assert!(l.check("other", 10_999).allowed, "keys are counted apart");
    }

    #[test]
    fn sliding_window_weights_the_previous_window() {
        let mut l = Limiter::new(10, 1000, Mode::Sliding, 10);
        for t in 0..10 {
            assert!(l.check("k", 500 + t).allowed);
        }
        assert!(!l.check("k", 900).allowed);
        // At 1250, 75% of the previous window overlaps: 10 · 0.75 = 7.5 → 2 more fit.
        assert!(l.check("k", 1250).allowed);
        assert!(l.check("k", 1250).allowed);
        let d = l.check("k", 1250);
        assert!(!d.allowed);
        // 2 in this window: a request fits once 10·(1-f) + 2 + 1 ≤ 10, i.e. f ≥ 0.3 → 1300.
        assert_eq!(d.retry_after_ms, 50);
        assert!(l.check("k", 1300).allowed);
        // A gap longer than a window forgets everything.
        assert_eq!(l.check("k", 5000).remaining, 9);
    }

    #[test]
    fn sliding_retry_after_counts_into_the_next_window_when_this_one_is_full() {
        let mut l = Limiter::new(2, 1000, Mode::Sliding, 10);
        assert!(l.check("k", 0).allowed);
        assert!(l.check("k", 0).allowed);
        let d = l.check("k", 100);
        assert!(!d.allowed);
        // Next window: 2·(1-f) + 1 ≤ 2 → f ≥ 0.5 → at 1500.
        assert_eq!(d.retry_after_ms, 1400);
        assert!(!l.check("k", 1499).allowed);
        assert!(l.check("k", 1500).allowed);
    }

    #[test]
    fn time_going_backwards_is_clamped() {
        let mut l = Limiter::new(1, 1000, Mode::Fixed, 10);
        assert!(l.check("k", 1999).allowed);
        assert!(
            !l.check("k", 1500).allowed,
            "an earlier stamp does not reopen the window"
        );
    }

    #[test]
    fn least_recently_seen_key_is_forgotten_beyond_max_keys() {
        let mut l = Limiter::new(1, 1000, Mode::Fixed, 2);
        assert!(l.check("a", 0).allowed);
        assert!(l.check("b", 1).allowed);
        assert!(!l.check("a", 2).allowed); // a is now the most recently seen
        assert!(l.check("c", 3).allowed); // evicts b
        assert_eq!(l.keys(), 2);
        assert!(l.check("b", 4).allowed, "b starts afresh");
        assert!(!l.check("c", 5).allowed);
    }
}
