//! The host: one wasmtime engine with its limits, epoch ticker and module cache.

use std::sync::Arc;

use wasmtime::{Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

use crate::cache::ModuleCache;
use crate::config::{HostConfig, WARM_SLOTS};
use crate::epoch::Ticker;
use crate::error::HostError;

/// Shared state of a host (engine, ticker, cache).
pub(crate) struct HostInner {
    pub(crate) engine: Engine,
    pub(crate) config: HostConfig,
    pub(crate) ticker: Option<Ticker>,
    pub(crate) cache: Option<ModuleCache>,
}

impl HostInner {
    /// Epoch ticks for the per-call deadline.
    pub(crate) fn call_ticks(&self) -> Option<u64> {
        let ticker = self.ticker.as_ref()?;
        self.config.deadline.map(|d| ticker.ticks_for(d))
    }

    /// Epoch ticks for instantiation and `init`.
    pub(crate) fn init_ticks(&self) -> Option<u64> {
        let ticker = self.ticker.as_ref()?;
        Some(ticker.ticks_for(self.config.init_deadline))
    }
}

/// A plugin host: one wasmtime [`Engine`] with its limits, its epoch ticker thread
/// and its compiled-module cache.
///
/// Cheap to clone (all clones share the engine). Loaded plugins keep the host alive;
/// the ticker thread stops when the last of them and the host are dropped.
#[derive(Clone)]
pub struct Host {
    pub(crate) inner: Arc<HostInner>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Host {
    /// Creates a host (compiler, allocator, ticker thread) from `config`.
    pub fn new(config: HostConfig) -> Result<Host, HostError> {
        config.validate()?;
        let mut wasm = wasmtime::Config::new();
        wasm.epoch_interruption(config.deadline.is_some())
            .max_wasm_stack(config.max_wasm_stack)
            .cranelift_opt_level(OptLevel::Speed)
            .parallel_compilation(true);
        if config.pooling {
            let mut pool = PoolingAllocationConfig::new();
            pool.total_core_instances(config.pooling_slots)
                .total_memories(config.pooling_slots)
                .total_tables(config.pooling_slots)
                .max_memory_size(config.memory_limit)
                .linear_memory_keep_resident(config.pooling_keep_resident)
                .table_keep_resident(config.pooling_keep_resident)
                .max_unused_warm_slots(WARM_SLOTS.min(config.pooling_slots))
                // Reset only the pages an instance dirtied, where the kernel can tell.
                .pagemap_scan(Enabled::Auto);
            wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&wasm).map_err(|e| {
            HostError::invalid_config(format!("the wasm engine rejected the configuration: {e}")).caused_by(e)
        })?;
        let ticker = match config.deadline {
            Some(_) => Some(
                Ticker::start(engine.clone(), config.effective_tick()).map_err(|e| {
                    HostError::invalid_config(format!("cannot start the epoch ticker thread: {e}"))
                        .caused_by(e)
                })?,
            ),
            None => None,
        };
        let cache = config.cache_dir.clone().map(|dir| ModuleCache::new(dir, &engine));
        Ok(Host {
            inner: Arc::new(HostInner {
                engine,
                config,
                ticker,
                cache,
            }),
        })
    }

    /// The configuration this host was built with.
    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }

    /// The wasmtime engine (for embedders that need lower-level access).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }
}
