//! The host: engine, limits, ticker and module cache; loading plugins.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{
    Caller, Enabled, Engine, InstanceAllocationStrategy, InstancePre, Linker, Module, OptLevel,
    PoolingAllocationConfig,
};

use crate::abi::{self, ModuleInterface, PluginInfo, ResolvedAbi};
use crate::cache::{Lookup, ModuleCache};
use crate::epoch::Ticker;
use crate::error::{HostError, LoadProblem};
use bifrost_wasm_types::Hook;
use crate::instance::{GuestAbort, Live, PluginInstance, StoreState};

/// Most idle pooling-allocator slots that keep their memory resident.
pub const WARM_SLOTS: u32 = 16;

/// Limits and engine settings of a [`Host`].
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

    fn validate(&self) -> Result<(), HostError> {
        let bad = |message: &str| {
            Err(HostError::InvalidConfig {
                message: message.to_string(),
            })
        };
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

/// Shared state of a host (engine, ticker, cache).
pub(crate) struct HostInner {
    pub(crate) engine: Engine,
    pub(crate) config: HostConfig,
    pub(crate) ticker: Option<Ticker>,
    cache: Option<ModuleCache>,
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
        let engine = Engine::new(&wasm).map_err(|e| HostError::InvalidConfig {
            message: format!("the wasm engine rejected the configuration: {e}"),
        })?;
        let ticker = match config.deadline {
            Some(_) => Some(
                Ticker::start(engine.clone(), config.effective_tick()).map_err(|e| {
                    HostError::InvalidConfig {
                        message: format!("cannot start the epoch ticker thread: {e}"),
                    }
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

    /// Loads a plugin from a `.wasm` (or `.wat`) file.
    pub fn load_file(&self, path: impl AsRef<Path>) -> Result<LoadedPlugin, HostError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| HostError::ReadFile {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        self.load_bytes(&bytes, &path.display().to_string())
    }

    /// Compiles `bytes` (binary wasm or WAT text) and lists its exports and imports without
    /// checking them against the plugin ABI: what a module that fails to load does offer.
    pub fn interface(&self, bytes: &[u8], label: &str) -> Result<ModuleInterface, HostError> {
        let module = Module::new(&self.inner.engine, bytes).map_err(|e| HostError::Compile {
            plugin: label.to_string(),
            message: format!("{e:#}"),
        })?;
        Ok(abi::interface(&module))
    }

    /// Loads a plugin from bytes (binary wasm or WAT text). `label` names the plugin
    /// in errors until its `get_name` is known (a file path, `<stdin>`, a test name).
    ///
    /// Compiles (or takes the module from the cache), validates every export and import
    /// (reporting all problems at once), links, and instantiates once to run the WASI
    /// start function and read `get_name`.
    pub fn load_bytes(&self, bytes: &[u8], label: &str) -> Result<LoadedPlugin, HostError> {
        let started = Instant::now();
        let host = &self.inner;

        let mut cache_hit = false;
        let mut cache_rejected = None;
        let entry = host.cache.as_ref().map(|c| (c, c.entry_path(bytes)));
        let mut module = None;
        let compile_started = Instant::now();
        if let Some((cache, path)) = &entry {
            match cache.lookup(&host.engine, path) {
                Lookup::Hit(m) => {
                    cache_hit = true;
                    module = Some(m);
                }
                Lookup::Miss => {}
                Lookup::Rejected(reason) => {
                    tracing::warn!(
                        plugin = label,
                        path = %path.display(),
                        "ignoring compiled-module cache entry: {reason}; recompiling"
                    );
                    cache_rejected = Some(reason);
                }
            }
        }
        let module = match module {
            Some(m) => m,
            None => {
                let m = Module::new(&host.engine, bytes).map_err(|e| HostError::Compile {
                    plugin: label.to_string(),
                    message: format!("{e:#}"),
                })?;
                if let Some((cache, path)) = &entry {
                    cache.store(&m, path);
                }
                m
            }
        };
        let compile_time = compile_started.elapsed();

        let analysis = abi::analyse(&module).map_err(|problems| HostError::InvalidPlugin {
            plugin: label.to_string(),
            problems,
        })?;
        let pre = link(host, &module, &analysis.abi, label)?;

        let mut shared = PluginShared {
            host: self.inner.clone(),
            pre,
            abi: analysis.abi.clone(),
            name: Arc::from(label),
            info: PluginInfo {
                name: String::new(),
                source: label.to_string(),
                size_bytes: bytes.len(),
                exports: analysis.exports,
                imports: analysis.imports,
                abi_generation: if analysis.abi.hooks[Hook::HttpPreHook.index()] == Some("http_pre_hook") {
                    abi::AbiGeneration::Gen3HttpPreHook
                } else if analysis.abi.hooks[Hook::HttpPreHook.index()].is_some() {
                    abi::AbiGeneration::Gen2HttpIntercept
                } else {
                    abi::AbiGeneration::NoHttpPreHook
                },
                allocator: analysis.abi.allocator,
                hooks: Hook::ALL
                    .into_iter()
                    .filter_map(|hook| {
                        analysis.abi.hooks[hook.index()].map(|export| abi::HookExport { hook, export })
                    })
                    .collect(),
                has_init: analysis.abi.has_init,
                has_cleanup: analysis.abi.has_cleanup,
                has_last_error: analysis.abi.has_last_error,
                start_function: analysis.abi.start.map(str::to_string),
                wasi: analysis.abi.wasi,
                assemblyscript_abort: analysis.abi.abort,
                initial_memory_bytes: analysis.initial_memory_bytes,
                maximum_memory_bytes: analysis.maximum_memory_bytes,
            },
            report: LoadReport::default(),
            module,
        };

        // One probe instance: proves the module instantiates, runs its start function
        // and reads its name. Not `init`ed; dropped without `cleanup`.
        let name = {
            let mut probe = Live::new(&shared)?;
            probe.read_name(&shared)?
        };
        shared.name = Arc::from(name.as_str());
        shared.info.name = name;
        shared.report = LoadReport {
            cache_hit,
            cache_rejected,
            cache_path: entry.map(|(_, p)| p),
            compile_time,
            total_time: started.elapsed(),
        };
        Ok(LoadedPlugin {
            inner: Arc::new(shared),
        })
    }
}

fn link(
    host: &HostInner,
    module: &Module,
    abi: &ResolvedAbi,
    label: &str,
) -> Result<InstancePre<StoreState>, HostError> {
    let mut linker: Linker<StoreState> = Linker::new(&host.engine);
    if abi.wasi {
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |state: &mut StoreState| {
            state
                .wasi
                .as_mut()
                .expect("a store of a WASI plugin always has a WASI context")
        })
        .map_err(|e| HostError::InvalidConfig {
            message: format!("cannot provide WASI preview 1: {e}"),
        })?;
    }
    if abi.abort {
        linker
            .func_wrap(
                "env",
                "abort",
                |mut caller: Caller<'_, StoreState>,
                 msg: u32,
                 file: u32,
                 line: u32,
                 column: u32|
                 -> wasmtime::Result<()> {
                    let read = |caller: &mut Caller<'_, StoreState>, ptr: u32| {
                        caller
                            .get_export("memory")
                            .and_then(|e| e.into_memory())
                            .and_then(|m| read_assemblyscript_string(m.data(&*caller), ptr))
                    };
                    let message = read(&mut caller, msg).unwrap_or_else(|| "(no message)".into());
                    let file = read(&mut caller, file).unwrap_or_else(|| "?".into());
                    Err(wasmtime::Error::new(GuestAbort(format!(
                        "abort: {message} at {file}:{line}:{column}"
                    ))))
                },
            )
            .map_err(|e| HostError::InvalidConfig {
                message: format!("cannot provide env.abort: {e}"),
            })?;
    }
    linker.instantiate_pre(module).map_err(|e| {
        // Name every import the linker could not satisfy, all at once.
        let mut store = wasmtime::Store::new(&host.engine, StoreState::for_linking(abi.wasi));
        let mut problems: Vec<LoadProblem> = module
            .imports()
            .filter(|i| linker.get_by_import(&mut store, i).is_none())
            .map(|i| LoadProblem::UnsupportedImport {
                module: i.module().to_string(),
                name: i.name().to_string(),
                ty: abi::extern_type_name(&i.ty()),
                hint: abi::unsupported_import_hint(i.module(), i.name()),
            })
            .collect();
        if problems.is_empty() {
            problems.push(LoadProblem::UnsupportedImport {
                module: "*".into(),
                name: "*".into(),
                ty: "-".into(),
                hint: format!("the host could not link the module's imports: {e:#}"),
            });
        }
        HostError::InvalidPlugin {
            plugin: label.to_string(),
            problems,
        }
    })
}

/// Reads an AssemblyScript string (UTF-16, byte length in the 4 bytes before `ptr`).
fn read_assemblyscript_string(memory: &[u8], ptr: u32) -> Option<String> {
    let ptr = usize::try_from(ptr).ok()?;
    if ptr < 4 {
        return None;
    }
    let len_bytes: [u8; 4] = memory.get(ptr - 4..ptr)?.try_into().ok()?;
    let len = usize::try_from(u32::from_le_bytes(len_bytes)).ok()?.min(4096);
    let bytes = memory.get(ptr..ptr.checked_add(len)?)?;
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    Some(String::from_utf16_lossy(&units))
}

/// How a load went.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// The compiled module came from the on-disk cache.
    pub cache_hit: bool,
    /// A cache entry existed but was rejected (corrupt or incompatible) and replaced;
    /// the reason.
    pub cache_rejected: Option<String>,
    /// The cache entry's path, when the cache is enabled.
    pub cache_path: Option<PathBuf>,
    /// Time spent obtaining the compiled module: the cache lookup (read, checksum,
    /// deserialise) plus, on a miss, compiling and writing the entry.
    pub compile_time: Duration,
    /// Time of the whole load (read, compile, validate, link, probe instance).
    pub total_time: Duration,
}

/// Everything shared by the instances of one plugin.
pub(crate) struct PluginShared {
    pub(crate) host: Arc<HostInner>,
    pub(crate) module: Module,
    pub(crate) pre: InstancePre<StoreState>,
    pub(crate) abi: ResolvedAbi,
    pub(crate) name: Arc<str>,
    pub(crate) info: PluginInfo,
    pub(crate) report: LoadReport,
}

/// A compiled, validated plugin: cheap to clone, shared by all its instances.
#[derive(Clone)]
pub struct LoadedPlugin {
    pub(crate) inner: Arc<PluginShared>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.name())
            .field("source", &self.inner.info.source)
            .finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    /// The plugin's name (from `get_name`).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Everything known about the plugin.
    pub fn info(&self) -> &PluginInfo {
        &self.inner.info
    }

    /// How loading went (cache hit, timings).
    pub fn load_report(&self) -> &LoadReport {
        &self.inner.report
    }

    /// Whether the plugin implements `hook`.
    pub fn has_hook(&self, hook: Hook) -> bool {
        self.inner.abi.hooks[hook.index()].is_some()
    }

    /// The host this plugin was loaded by.
    pub fn host(&self) -> Host {
        Host {
            inner: self.inner.host.clone(),
        }
    }

    /// The compiled module.
    pub fn module(&self) -> &Module {
        &self.inner.module
    }

    /// Creates a fresh instance and `init`s it with `config` (JSON text; `None`
    /// passes length 0; `null` and `{}` are passed as given). A non-zero `init` is
    /// [`HostError::InitFailed`] with the plugin's `last_error` text.
    pub fn instantiate(&self, config: Option<&str>) -> Result<PluginInstance, HostError> {
        PluginInstance::new(self.clone(), config.map(str::to_string))
    }
}
