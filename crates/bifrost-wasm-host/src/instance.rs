//! Plugin instances and the call protocol (malloc, write, call, read, free).

use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use wasmtime::{Memory, ResourceLimiter, Store, Trap, TypedFunc, WasmBacktrace};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::I32Exit;

use crate::abi::AllocatorVariant;
use crate::error::HostError;
use bifrost_wasm_types::Hook;
use crate::host::{LoadedPlugin, PluginShared};
use crate::wasi::PluginLog;

/// Longest `get_name` / `last_error` text the host reads.
const MAX_TEXT: usize = 64 * 1024;
/// Most characters of a bad output quoted in an error.
const EXCERPT_CHARS: usize = 160;

/// Tracks linear-memory growth against the cap and remembers a refused growth, so a
/// trap or a failed `malloc` after it is reported as the memory cap.
pub(crate) struct Limiter {
    limit: usize,
    denied: Option<usize>,
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
    limiter: Limiter,
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

#[derive(Clone)]
enum FreeFn {
    None,
    One(TypedFunc<u32, ()>),
    Two(TypedFunc<(u32, u32), ()>),
}

/// A live wasm instance with its store and resolved exports.
pub(crate) struct Live {
    store: Store<StoreState>,
    memory: Memory,
    malloc: TypedFunc<u32, u32>,
    free: FreeFn,
    init: Option<TypedFunc<(u32, u32), i32>>,
    last_error: Option<TypedFunc<(), u64>>,
    /// Hook functions, resolved on first use.
    hooks: [Option<TypedFunc<(u32, u32), u64>>; 5],
    instance: wasmtime::Instance,
    log: Option<PluginLog>,
}

/// Describes a guest failure that is not a limit (trap text plus innermost frames).
fn describe(err: &wasmtime::Error) -> String {
    let mut message = if let Some(abort) = err.downcast_ref::<GuestAbort>() {
        abort.0.clone()
    } else if let Some(exit) = err.downcast_ref::<I32Exit>() {
        format!("the plugin called proc_exit({})", exit.0)
    } else if let Some(trap) = err.downcast_ref::<Trap>() {
        trap.to_string()
    } else {
        err.to_string()
    };
    if let Some(backtrace) = err.downcast_ref::<WasmBacktrace>() {
        let frames: Vec<String> = backtrace
            .frames()
            .iter()
            .filter_map(|f| f.func_name().map(str::to_string))
            .take(4)
            .collect();
        if !frames.is_empty() {
            message.push_str(" (in ");
            message.push_str(&frames.join(" <- "));
            message.push(')');
        }
    }
    message
}

/// Classifies a failed guest call. `last_error` is consulted for traps.
fn classify(
    store: &mut Store<StoreState>,
    shared: &PluginShared,
    err: wasmtime::Error,
    function: &'static str,
    deadline: Duration,
    last_error: impl FnOnce(&mut Store<StoreState>) -> Option<String>,
) -> HostError {
    let plugin = shared.name.to_string();
    match err.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => {
            return HostError::Timeout {
                plugin,
                function,
                deadline,
            }
        }
        Some(Trap::StackOverflow) => return HostError::StackOverflow { plugin, function },
        _ => {}
    }
    let denied = store.data().limiter.denied;
    let message = describe(&err);
    let last_error = last_error(store);
    match denied {
        Some(requested) => HostError::MemoryLimit {
            plugin,
            function,
            limit: shared.host.config.memory_limit,
            requested,
            last_error,
        },
        None => HostError::Trap {
            plugin,
            function,
            message,
            last_error,
        },
    }
}

fn excerpt(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .take(EXCERPT_CHARS)
        .collect()
}

/// An export that validation accepted could not be resolved on an instance.
fn resolve_error(shared: &PluginShared, export: &str, e: wasmtime::Error) -> HostError {
    HostError::Instantiate {
        plugin: shared.name.to_string(),
        message: format!("export `{export}`: {e:#}"),
        hint: "the module changed between validation and instantiation; reload it".into(),
    }
}

impl Live {
    /// Instantiates, resolves exports and runs the WASI start function. No `init`.
    pub(crate) fn new(shared: &PluginShared) -> Result<Live, HostError> {
        let host = &*shared.host;
        let log = shared
            .abi
            .wasi
            .then(|| PluginLog::new(shared.name.clone(), host.config.max_log_bytes_per_call));
        let state = StoreState {
            limiter: Limiter {
                limit: host.config.memory_limit,
                denied: None,
            },
            wasi: log.as_ref().map(PluginLog::wasi_ctx),
        };
        let mut store = Store::new(&host.engine, state);
        store.limiter(|s| &mut s.limiter);
        let _in_flight = host.ticker.as_ref().map(|t| t.enter());
        if let Some(ticks) = host.init_ticks() {
            store.set_epoch_deadline(ticks);
        }
        let deadline = host.config.init_deadline;
        let instance = match shared.pre.instantiate(&mut store) {
            Ok(instance) => instance,
            Err(e) => {
                if e.downcast_ref::<Trap>().is_some() || store.data().limiter.denied.is_some() {
                    return Err(classify(&mut store, shared, e, "instantiate", deadline, |_| None));
                }
                return Err(HostError::Instantiate {
                    plugin: shared.name.to_string(),
                    message: format!("{e:#}"),
                    hint: if host.config.pooling {
                        format!(
                            "with the pooling allocator at most {} instances (of all plugins) \
                             can be alive at once: raise pooling_slots or turn pooling off",
                            host.config.pooling_slots
                        )
                    } else {
                        "check the module's memory and table sizes against the host limits".to_string()
                    },
                });
            }
        };
        let abi = &shared.abi;
        let resolve_error = |what: &str, e| resolve_error(shared, what, e);
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| resolve_error("memory", wasmtime::format_err!("not a memory")))?;
        let (malloc_name, free_name) = abi.allocator.export_names();
        let malloc = instance
            .get_typed_func::<u32, u32>(&mut store, malloc_name)
            .map_err(|e| resolve_error(malloc_name, e))?;
        let free = match (free_name, abi.allocator.free_arity()) {
            (Some(name), 2) => FreeFn::Two(
                instance
                    .get_typed_func::<(u32, u32), ()>(&mut store, name)
                    .map_err(|e| resolve_error(name, e))?,
            ),
            (Some(name), 1) => FreeFn::One(
                instance
                    .get_typed_func::<u32, ()>(&mut store, name)
                    .map_err(|e| resolve_error(name, e))?,
            ),
            _ => FreeFn::None,
        };
        let init = match abi.has_init {
            true => Some(
                instance
                    .get_typed_func::<(u32, u32), i32>(&mut store, "init")
                    .map_err(|e| resolve_error("init", e))?,
            ),
            false => None,
        };
        let last_error = match abi.has_last_error {
            true => Some(
                instance
                    .get_typed_func::<(), u64>(&mut store, "last_error")
                    .map_err(|e| resolve_error("last_error", e))?,
            ),
            false => None,
        };
        // Hooks are resolved on their first call (see `Live::hook`): looking an export up
        // and checking its type costs ~0.2 µs each, and a fresh instance may never see most
        // of its hooks. Their presence and types were checked when the module was loaded.
        let hooks = [const { None }; 5];
        if let Some(start) = abi.start {
            let func = instance
                .get_typed_func::<(), ()>(&mut store, start)
                .map_err(|e| resolve_error(start, e))?;
            if let Err(e) = func.call(&mut store, ()) {
                let clean_exit = e.downcast_ref::<I32Exit>().is_some_and(|exit| exit.0 == 0);
                if !clean_exit {
                    if let Some(log) = &log {
                        log.flush();
                    }
                    return Err(classify(&mut store, shared, e, start, deadline, |_| None));
                }
            }
        }
        let live = Live {
            store,
            memory,
            malloc,
            free,
            init,
            last_error,
            hooks,
            instance,
            log,
        };
        live.flush_log();
        Ok(live)
    }

    /// Instantiates and `init`s with `config`.
    pub(crate) fn create(shared: &PluginShared, config: Option<&str>) -> Result<Live, HostError> {
        let mut live = Live::new(shared)?;
        live.run_init(shared, config)?;
        Ok(live)
    }

    fn flush_log(&self) {
        if let Some(log) = &self.log {
            log.flush();
        }
    }

    fn set_deadline(&mut self, ticks: Option<u64>) {
        if let Some(ticks) = ticks {
            self.store.set_epoch_deadline(ticks);
        }
        self.store.data_mut().limiter.denied = None;
    }

    /// Calls `last_error` (if exported) and reads its text. Failures yield `None`.
    fn fetch_last_error(
        store: &mut Store<StoreState>,
        shared: &PluginShared,
        funcs: (Option<TypedFunc<(), u64>>, Memory, FreeFn),
    ) -> Option<String> {
        let (last_error, memory, free) = funcs;
        let last_error = last_error?;
        if let Some(ticks) = shared.host.call_ticks() {
            store.set_epoch_deadline(ticks);
        }
        let packed = last_error.call(&mut *store, ()).ok()?;
        if packed == 0 {
            return None;
        }
        let (ptr, len) = unpack(packed);
        let data = memory.data(&*store);
        let start = usize::try_from(ptr).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        let text = data.get(start..end.min(start + MAX_TEXT).min(data.len()))?;
        let text = String::from_utf8_lossy(text).into_owned();
        if end <= data.len() {
            let _ = call_free(store, &free, ptr, len);
        }
        Some(text)
    }

    fn classify(
        &mut self,
        shared: &PluginShared,
        err: wasmtime::Error,
        function: &'static str,
        deadline: Duration,
    ) -> HostError {
        let funcs = (self.last_error.clone(), self.memory, self.free.clone());
        let e = classify(&mut self.store, shared, err, function, deadline, |store| {
            Live::fetch_last_error(store, shared, funcs)
        });
        self.flush_log();
        e
    }

    fn call_deadline(shared: &PluginShared) -> Duration {
        shared.host.config.deadline.unwrap_or(Duration::MAX)
    }

    fn free(
        &mut self,
        shared: &PluginShared,
        ptr: u32,
        len: u32,
        deadline: Duration,
    ) -> Result<(), HostError> {
        call_free(&mut self.store, &self.free, ptr, len)
            .map_err(|e| self.classify(shared, e, "free", deadline))
    }

    /// Allocates a guest buffer and copies `input` into it; returns `(ptr, allocated)`.
    fn write_input(
        &mut self,
        shared: &PluginShared,
        function: &'static str,
        input: &[u8],
        deadline: Duration,
    ) -> Result<(u32, u32), HostError> {
        let limit = shared.host.config.memory_limit.min(u32::MAX as usize);
        if input.len() > limit {
            return Err(HostError::InputTooLarge {
                plugin: shared.name.to_string(),
                function,
                len: input.len(),
                limit,
            });
        }
        // Always allocate at least one byte: a guest may not build a slice from a null
        // pointer, even for length 0.
        let alloc = input.len().max(1) as u32;
        let ptr = match self.malloc.call(&mut self.store, alloc) {
            Ok(ptr) => ptr,
            Err(e) => return Err(self.classify(shared, e, "malloc", deadline)),
        };
        let memory_size = self.memory.data_size(&self.store);
        let denied = self.store.data().limiter.denied.is_some();
        let failure = |what: String| HostError::MallocFailed {
            plugin: shared.name.to_string(),
            function,
            size: alloc as usize,
            what,
            hint: if denied {
                "the memory cap was reached: raise the host's memory limit"
            } else {
                "the plugin's allocator could not serve the request"
            },
        };
        if ptr == 0 {
            return Err(failure("malloc returned 0".into()));
        }
        let start = ptr as usize;
        let Some(end) = start.checked_add(input.len()).filter(|&end| end <= memory_size) else {
            return Err(failure(format!(
                "malloc returned pointer {ptr:#x}, outside the {memory_size}-byte memory"
            )));
        };
        self.memory.data_mut(&mut self.store)[start..end].copy_from_slice(input);
        Ok((ptr, alloc))
    }

    /// Reads and frees a packed output buffer. `skip_free` is a pointer that must not
    /// be freed again (the input buffer, if the plugin echoed it back).
    fn take_output(
        &mut self,
        shared: &PluginShared,
        function: &'static str,
        packed: u64,
        max: usize,
        skip_free: Option<u32>,
        deadline: Duration,
    ) -> Result<Vec<u8>, HostError> {
        let plugin = || shared.name.to_string();
        if packed == 0 {
            return Err(HostError::EmptyOutput {
                plugin: plugin(),
                function,
            });
        }
        let (ptr, len) = unpack(packed);
        let memory_size = self.memory.data_size(&self.store);
        let start = ptr as usize;
        let end = start + len as usize;
        if end > memory_size {
            return Err(HostError::OutOfBounds {
                plugin: plugin(),
                function,
                ptr,
                len,
                memory_size,
            });
        }
        let free_it = skip_free != Some(ptr);
        if len as usize > max {
            if free_it {
                self.free(shared, ptr, len, deadline)?;
            }
            return Err(HostError::OutputTooLarge {
                plugin: plugin(),
                function,
                len: len as usize,
                limit: max,
            });
        }
        let bytes = self.memory.data(&self.store)[start..end].to_vec();
        if free_it {
            self.free(shared, ptr, len, deadline)?;
        }
        Ok(bytes)
    }

    /// Runs `init` with `config` (no-op without an `init` export).
    fn run_init(&mut self, shared: &PluginShared, config: Option<&str>) -> Result<(), HostError> {
        let Some(init) = self.init.clone() else {
            return Ok(());
        };
        let host = &*shared.host;
        let deadline = host.config.init_deadline;
        let _in_flight = host.ticker.as_ref().map(|t| t.enter());
        self.set_deadline(host.init_ticks());
        let config = config.unwrap_or("").as_bytes();
        let (ptr, alloc) = self.write_input(shared, "init", config, deadline)?;
        let code = match init.call(&mut self.store, (ptr, config.len() as u32)) {
            Ok(code) => code,
            Err(e) => return Err(self.classify(shared, e, "init", deadline)),
        };
        self.free(shared, ptr, alloc, deadline)?;
        let result = if code == 0 {
            Ok(())
        } else {
            let funcs = (self.last_error.clone(), self.memory, self.free.clone());
            Err(HostError::InitFailed {
                plugin: shared.name.to_string(),
                code,
                last_error: Live::fetch_last_error(&mut self.store, shared, funcs),
            })
        };
        self.flush_log();
        result
    }

    /// Calls `get_name` and reads the name.
    pub(crate) fn read_name(&mut self, shared: &PluginShared) -> Result<String, HostError> {
        let host = &*shared.host;
        let deadline = host.config.init_deadline;
        let _in_flight = host.ticker.as_ref().map(|t| t.enter());
        self.set_deadline(host.init_ticks());
        // Looked up here, not at instantiation: the name is read once, when loading.
        let get_name = self
            .instance
            .get_typed_func::<(), u64>(&mut self.store, "get_name")
            .map_err(|e| resolve_error(shared, "get_name", e))?;
        let packed = match get_name.call(&mut self.store, ()) {
            Ok(packed) => packed,
            Err(e) => return Err(self.classify(shared, e, "get_name", deadline)),
        };
        let bytes = self.take_output(shared, "get_name", packed, MAX_TEXT, None, deadline)?;
        self.flush_log();
        String::from_utf8(bytes).map_err(|e| HostError::InvalidUtf8 {
            plugin: shared.name.to_string(),
            function: "get_name",
            valid_up_to: e.utf8_error().valid_up_to(),
        })
    }

    /// Looks up `hook`'s export on its first call.
    #[cold]
    fn resolve_hook(&mut self, shared: &PluginShared, hook: Hook) -> Result<(), HostError> {
        let Some(name) = shared.abi.hooks[hook.index()] else {
            return Err(HostError::HookNotImplemented {
                plugin: shared.name.to_string(),
                hook,
            });
        };
        let func = self
            .instance
            .get_typed_func::<(u32, u32), u64>(&mut self.store, name)
            .map_err(|e| resolve_error(shared, name, e))?;
        self.hooks[hook.index()] = Some(func);
        Ok(())
    }

    /// One hook round trip.
    fn call_hook(
        &mut self,
        shared: &PluginShared,
        hook: Hook,
        export: &'static str,
        input: &[u8],
    ) -> Result<String, HostError> {
        if self.hooks[hook.index()].is_none() {
            self.resolve_hook(shared, hook)?;
        }
        let host = &*shared.host;
        let deadline = Live::call_deadline(shared);
        let _in_flight = host.ticker.as_ref().map(|t| t.enter());
        self.set_deadline(host.call_ticks());
        let (in_ptr, in_alloc) = self.write_input(shared, export, input, deadline)?;
        // Field-level borrows: the hook by reference (cloning a TypedFunc clones its
        // registered type, a measurable cost per call), the store mutably.
        let called = match &self.hooks[hook.index()] {
            Some(func) => func.call(&mut self.store, (in_ptr, input.len() as u32)),
            None => Err(wasmtime::format_err!("hook export disappeared")),
        };
        let packed = match called {
            Ok(packed) => packed,
            Err(e) => return Err(self.classify(shared, e, export, deadline)),
        };
        let output = self.take_output(
            shared,
            export,
            packed,
            host.config.max_output_bytes,
            Some(in_ptr),
            deadline,
        );
        let freed = self.free(shared, in_ptr, in_alloc, deadline);
        self.flush_log();
        let output = output?;
        freed?;
        let text = String::from_utf8(output).map_err(|e| HostError::InvalidUtf8 {
            plugin: shared.name.to_string(),
            function: export,
            valid_up_to: e.utf8_error().valid_up_to(),
        })?;
        if let Err(e) = crate::json::validate(&text) {
            return Err(HostError::InvalidJson {
                plugin: shared.name.to_string(),
                function: export,
                error: e.describe(&text),
                excerpt: excerpt(text.as_bytes()),
            });
        }
        Ok(text)
    }

    fn run_cleanup(&mut self, shared: &PluginShared) -> Result<Option<i32>, HostError> {
        if !shared.abi.has_cleanup {
            return Ok(None);
        }
        let cleanup = self
            .instance
            .get_typed_func::<(), i32>(&mut self.store, "cleanup")
            .map_err(|e| resolve_error(shared, "cleanup", e))?;
        let host = &*shared.host;
        let deadline = Live::call_deadline(shared);
        let _in_flight = host.ticker.as_ref().map(|t| t.enter());
        self.set_deadline(host.call_ticks());
        let result = match cleanup.call(&mut self.store, ()) {
            Ok(code) => Ok(Some(code)),
            Err(e) => Err(self.classify(shared, e, "cleanup", deadline)),
        };
        self.flush_log();
        result
    }
}

fn unpack(packed: u64) -> (u32, u32) {
    ((packed >> 32) as u32, packed as u32)
}

fn call_free(store: &mut Store<StoreState>, free: &FreeFn, ptr: u32, len: u32) -> wasmtime::Result<()> {
    match free {
        FreeFn::None => Ok(()),
        FreeFn::One(f) => f.call(store, ptr),
        FreeFn::Two(f) => f.call(store, (ptr, len)),
    }
}

/// The live instance, created (and `init`ed) first if a failed replacement left none.
fn live_of<'a>(
    shared: &PluginShared,
    live: &'a mut Option<Live>,
    config: Option<&str>,
) -> Result<&'a mut Live, HostError> {
    if live.is_none() {
        *live = Some(Live::create(shared, config)?);
    }
    // Borrowing `live` in place (no move of the instance on every call).
    live.as_mut().ok_or_else(|| HostError::Instantiate {
        plugin: shared.name.to_string(),
        message: "no live instance after creating one".into(),
        hint: "this is a host bug; please report it".into(),
    })
}

/// One instance of a plugin: its own linear memory and state, serving one call at a
/// time (`&mut self`).
///
/// An instance heals itself: when a call traps, times out, overflows the stack or hits
/// the memory cap, the wasm instance is thrown away and a fresh one is created and
/// `init`ed with the same configuration before the error is returned, so the next call
/// works (the plugin's in-memory state starts over). If re-creation fails, the next call
/// tries again and returns that failure until it succeeds.
///
/// Dropping an instance calls the plugin's `cleanup` (a non-zero result or a failure
/// is logged as a warning); [`PluginInstance::cleanup`] does it explicitly.
pub struct PluginInstance {
    plugin: LoadedPlugin,
    config: Option<String>,
    live: Option<Live>,
    replacements: u64,
}

impl fmt::Debug for PluginInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginInstance")
            .field("plugin", &self.plugin.name())
            .field("live", &self.live.is_some())
            .field("replacements", &self.replacements)
            .finish_non_exhaustive()
    }
}

impl PluginInstance {
    pub(crate) fn new(plugin: LoadedPlugin, config: Option<String>) -> Result<PluginInstance, HostError> {
        let live = Live::create(&plugin.inner, config.as_deref())?;
        Ok(PluginInstance {
            plugin,
            config,
            live: Some(live),
            replacements: 0,
        })
    }

    /// The plugin this is an instance of.
    pub fn plugin(&self) -> &LoadedPlugin {
        &self.plugin
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        self.plugin.name()
    }

    /// The configuration JSON the instance was `init`ed with.
    pub fn config(&self) -> Option<&str> {
        self.config.as_deref()
    }

    /// Whether the plugin implements `hook`.
    pub fn has_hook(&self, hook: Hook) -> bool {
        self.plugin.has_hook(hook)
    }

    /// How many times the wasm instance was replaced after a failure.
    pub fn replacements(&self) -> u64 {
        self.replacements
    }

    /// Current linear memory size in bytes (0 while no live instance exists).
    pub fn memory_size(&self) -> usize {
        self.live
            .as_ref()
            .map_or(0, |live| live.memory.data_size(&live.store))
    }

    fn live(&mut self) -> Result<&mut Live, HostError> {
        live_of(&self.plugin.inner, &mut self.live, self.config.as_deref())
    }

    fn after_failure(&mut self, error: &HostError) {
        if !error.instance_replaced() {
            return;
        }
        self.live = None;
        self.replacements += 1;
        match Live::create(&self.plugin.inner, self.config.as_deref()) {
            Ok(live) => self.live = Some(live),
            Err(e) => tracing::warn!(
                plugin = self.plugin.name(),
                "could not replace the failed instance (the next call retries): {e}"
            ),
        }
    }

    /// Calls `hook` with `input` (normally a JSON document) and returns its output,
    /// checked to be UTF-8 JSON within the output cap.
    ///
    /// A hook the plugin lacks is [`HostError::HookNotImplemented`]; see
    /// [`PluginInstance::call_hook`] for the pass-through form.
    pub fn call(&mut self, hook: Hook, input: &[u8]) -> Result<String, HostError> {
        let shared = &*self.plugin.inner;
        let Some(export) = shared.abi.hooks[hook.index()] else {
            return Err(HostError::HookNotImplemented {
                plugin: shared.name.to_string(),
                hook,
            });
        };
        let result =
            live_of(shared, &mut self.live, self.config.as_deref())?.call_hook(shared, hook, export, input);
        if let Err(e) = &result {
            self.after_failure(e);
        }
        result
    }

    /// Like [`PluginInstance::call`], but a hook the plugin does not implement gives
    /// `Ok(None)` (pass-through).
    pub fn call_hook(&mut self, hook: Hook, input: &[u8]) -> Result<Option<String>, HostError> {
        if !self.has_hook(hook) {
            return Ok(None);
        }
        self.call(hook, input).map(Some)
    }

    /// Calls `hook` with a JSON value and parses the output.
    pub fn call_json(
        &mut self,
        hook: Hook,
        input: &serde_json::Value,
    ) -> Result<serde_json::Value, HostError> {
        self.call_typed(hook, input)
    }

    /// Calls `hook` with any serialisable input and deserialises the output into `O`
    /// (a JSON document of another shape is [`HostError::OutputShape`]).
    pub fn call_typed<I, O>(&mut self, hook: Hook, input: &I) -> Result<O, HostError>
    where
        I: Serialize + ?Sized,
        O: DeserializeOwned,
    {
        let bytes = serde_json::to_vec(input).map_err(|e| HostError::InputEncoding {
            plugin: self.name().to_string(),
            function: hook.name(),
            error: e.to_string(),
        })?;
        let text = self.call(hook, &bytes)?;
        serde_json::from_str(&text).map_err(|e| HostError::OutputShape {
            plugin: self.name().to_string(),
            function: hook.name(),
            error: e.to_string(),
            excerpt: excerpt(text.as_bytes()),
        })
    }

    /// Calls `get_name` on this instance.
    pub fn get_name(&mut self) -> Result<String, HostError> {
        let shared = self.plugin.inner.clone();
        let result = self.live()?.read_name(&shared);
        if let Err(e) = &result {
            self.after_failure(e);
        }
        result
    }

    /// Calls the plugin's `last_error` (if exported) and returns its text.
    pub fn last_error(&mut self) -> Result<Option<String>, HostError> {
        let shared = self.plugin.inner.clone();
        let live = self.live()?;
        let host = &*shared.host;
        let _in_flight = host.ticker.as_ref().map(|t| t.enter());
        let funcs = (live.last_error.clone(), live.memory, live.free.clone());
        let text = Live::fetch_last_error(&mut live.store, &shared, funcs);
        live.flush_log();
        Ok(text)
    }

    /// Calls `cleanup` and ends the instance. Returns the plugin's status (`None`
    /// when it exports no `cleanup`). A non-zero status is also logged as a warning.
    pub fn cleanup(mut self) -> Result<Option<i32>, HostError> {
        self.run_cleanup()
    }

    fn run_cleanup(&mut self) -> Result<Option<i32>, HostError> {
        let Some(mut live) = self.live.take() else {
            return Ok(None);
        };
        let shared = self.plugin.inner.clone();
        let result = live.run_cleanup(&shared);
        match &result {
            Ok(Some(code)) if *code != 0 => tracing::warn!(
                plugin = self.plugin.name(),
                "cleanup returned {code} (0 means success)"
            ),
            Err(e) => tracing::warn!(plugin = self.plugin.name(), "cleanup failed: {e}"),
            _ => {}
        }
        result
    }

    /// The allocator variant in use (for diagnostics).
    pub fn allocator(&self) -> AllocatorVariant {
        self.plugin.inner.abi.allocator
    }
}

impl Drop for PluginInstance {
    fn drop(&mut self) {
        // Errors are logged inside.
        let _ = self.run_cleanup();
    }
}
