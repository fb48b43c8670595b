//! Wall-clock deadlines through epoch interruption.
//!
//! One ticker thread per [`crate::Host`] increments the engine's epoch every tick
//! while at least one call is in flight; each store sets its own deadline, in ticks,
//! before it enters the guest. When nothing runs the ticker parks, so an idle host
//! costs no wake-ups. Because a tick may already be under way when a call starts, a
//! deadline of `d` is `ceil(d / tick) + 1` ticks: it never fires early, and fires at
//! most about one tick late.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Longest uninterrupted sleep of the ticker (bounds how long stopping takes).
const STOP_SLICE: Duration = Duration::from_millis(10);

use wasmtime::Engine;

struct Shared {
    in_flight: AtomicUsize,
    stop: AtomicBool,
}

/// The engine's ticker thread. Stops (and is joined) on drop.
pub(crate) struct Ticker {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    tick: Duration,
}

impl Ticker {
    /// Starts the ticker thread for `engine`.
    pub(crate) fn start(engine: Engine, tick: Duration) -> std::io::Result<Ticker> {
        let shared = Arc::new(Shared {
            in_flight: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let thread_shared = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("bifrost-wasm-epoch".into())
            .spawn(move || run(engine, thread_shared, tick))?;
        Ok(Ticker {
            shared,
            thread: Some(thread),
            tick,
        })
    }

    /// Marks a call in flight until the returned guard is dropped; wakes the ticker
    /// if it was idle.
    pub(crate) fn enter(&self) -> InFlight<'_> {
        if self.shared.in_flight.fetch_add(1, Ordering::AcqRel) == 0 {
            if let Some(thread) = &self.thread {
                thread.thread().unpark();
            }
        }
        InFlight(self)
    }

    /// The deadline `d` expressed in ticks (never early; see the module docs).
    pub(crate) fn ticks_for(&self, d: Duration) -> u64 {
        let tick = self.tick.as_nanos().max(1);
        let ticks = d.as_nanos().div_ceil(tick);
        u64::try_from(ticks).unwrap_or(u64::MAX / 2).saturating_add(1)
    }
}

/// A call in flight (see [`Ticker::enter`]).
pub(crate) struct InFlight<'a>(&'a Ticker);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.shared.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            // The ticker never panics; a join error would only repeat a panic message.
            let _ = thread.join();
        }
    }
}

fn run(engine: Engine, shared: Arc<Shared>, tick: Duration) {
    loop {
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        if shared.in_flight.load(Ordering::Acquire) == 0 {
            // Idle: sleep until a call starts (`enter` unparks) or the host stops.
            thread::park();
            continue;
        }
        // Sleep one full tick. `sleep`, not `park_timeout`: a call starting while the
        // ticker sleeps then only sets the park token (no futex wake, no early tick).
        // Long ticks sleep in slices so a dropped host stops promptly.
        let mut remaining = tick;
        while !remaining.is_zero() {
            let slice = remaining.min(STOP_SLICE);
            thread::sleep(slice);
            remaining -= slice;
            if shared.stop.load(Ordering::Acquire) {
                return;
            }
        }
        engine.increment_epoch();
    }
}
