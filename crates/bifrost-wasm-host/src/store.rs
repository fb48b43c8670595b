//! Per-store data of an instance: the memory limiter and the WASI context.

use std::fmt;

use wasmtime::ResourceLimiter;
use wasmtime_wasi::p1::WasiP1Ctx;

/// Tracks linear-memory growth against the cap and remembers a refused growth, so a
/// trap or a failed `malloc` after it is reported as the memory cap.
pub(crate) struct Limiter {
    pub(crate) limit: usize,
    pub(crate) denied: Option<usize>,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.denied = Some(desired);
            Ok(false)
        } else {
            Ok(true)
        }
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Function tables of real plugins hold at most thousands of entries.
        Ok(desired <= 1_000_000)
    }
}

/// Per-store data.
pub(crate) struct StoreState {
    pub(crate) limiter: Limiter,
    /// WASI context; present exactly when the plugin imports WASI.
    pub(crate) wasi: Option<WasiP1Ctx>,
}

impl StoreState {
    /// A state for a throw-away store used to query the linker.
    pub(crate) fn for_linking(wasi: bool) -> StoreState {
        StoreState {
            limiter: Limiter {
                limit: usize::MAX,
                denied: None,
            },
            wasi: wasi.then(|| wasmtime_wasi::WasiCtxBuilder::new().build_p1()),
        }
    }
}

/// The error an AssemblyScript `env.abort` call raises (turned into a trap).
#[derive(Debug)]
pub(crate) struct GuestAbort(pub(crate) String);

impl fmt::Display for GuestAbort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GuestAbort {}
