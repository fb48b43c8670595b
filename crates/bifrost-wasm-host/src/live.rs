//! A live wasm instance and the call protocol (malloc, write, call, read, free).

use std::time::Duration;

use wasmtime::{Memory, Store, Trap, TypedFunc, WasmBacktrace};
use wasmtime_wasi::I32Exit;

use crate::error::{ErrorKind, HostError};
use crate::plugin::PluginShared;
use crate::store::{GuestAbort, Limiter, StoreState};
use crate::wasi::PluginLog;
use bifrost_wasm_types::Hook;

/// Longest `get_name` / `last_error` text the host reads.
const MAX_TEXT: usize = 64 * 1024;
/// Most characters of a bad output quoted in an error.
pub(crate) const EXCERPT_CHARS: usize = 160;

#[derive(Clone)]
pub(crate) enum FreeFn {
    None,
    One(TypedFunc<u32, ()>),
    Two(TypedFunc<(u32, u32), ()>),
}

/// A live wasm instance with its store and resolved exports.
pub(crate) struct Live {
    pub(crate) store: Store<StoreState>,
    pub(crate) memory: Memory,
    malloc: TypedFunc<u32, u32>,
    pub(crate) free: FreeFn,
    init: Option<TypedFunc<(u32, u32), i32>>,
    pub(crate) last_error: Option<TypedFunc<(), u64>>,
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
    let kind = match err.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => ErrorKind::Timeout { deadline },
        Some(Trap::StackOverflow) => ErrorKind::StackOverflow,
        _ => {
            let denied = store.data().limiter.denied;
            let message = describe(&err);
            let last_error = last_error(store);
            match denied {
                Some(requested) => ErrorKind::MemoryLimit {
                    limit: shared.host.config.memory_limit,
                    requested,
                    last_error,
                },
                None => ErrorKind::Trap { message, last_error },
            }
        }
    };
    shared.error(kind).in_function(function).caused_by(err)
}

/// For a trap in a hook: advice that fits the input that was sent. A trap on a valid JSON
/// object is a failure on input the plugin must handle (for an AssemblyScript build, most
/// often a missing json-as transform); a trap on bad input is a failure to reject it. Only
/// the input's syntax is looked at: a caller that knows more (that the input was bad on
/// purpose, say) replaces the hint with [`HostError::with_hint`].
fn trap_hint(error: HostError, shared: &PluginShared, input: &[u8]) -> HostError {
    if !matches!(error.kind(), ErrorKind::Trap { .. }) {
        return error;
    }
    let problem = match std::str::from_utf8(input) {
        Err(e) => Some(format!("not UTF-8 ({e})")),
        Ok(text) => match bifrost_wasm_types::scan::validate(text) {
            Err(e) => Some(format!("not valid JSON ({e})")),
            Ok(()) if !text.trim_start().starts_with('{') => Some("JSON but not an object".to_string()),
            Ok(()) => None,
        },
    };
    let toolchain = &shared.info.toolchain;
    let hint = match problem {
        Some(problem) => {
            format!("The input was {problem}: a hook must answer bad input with an error field, never trap")
        }
        None if toolchain.toolchain == crate::Toolchain::AssemblyScript => format!(
            "It trapped on a valid input (a JSON object), and this is an AssemblyScript build ({}): a trap \
             on valid input most often means the json-as transform was not applied when it was built \
             (build with `--transform json-as/transform`); otherwise it is a bug in the plugin, which \
             must answer every input, never trap",
            toolchain.signals()
        ),
        None => "It trapped on a valid input (a JSON object), so this is a bug in the plugin: a hook must \
                 answer every input it is given (with an error field when it cannot process one), never trap"
            .to_string(),
    };
    error.with_hint(hint)
}

/// The first characters of a bad output, for an error message.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .take(EXCERPT_CHARS)
        .collect()
}

/// An export that validation accepted could not be resolved on an instance.
fn resolve_error(shared: &PluginShared, export: &str, e: wasmtime::Error) -> HostError {
    shared
        .error(ErrorKind::Instantiate {
            message: format!("export `{export}`: {e:#}"),
            hint: "the module changed between validation and instantiation; reload it".into(),
        })
        .caused_by(e)
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
                return Err(shared
                    .error(ErrorKind::Instantiate {
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
                    })
                    .caused_by(e));
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

    pub(crate) fn flush_log(&self) {
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
    pub(crate) fn fetch_last_error(
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
            return Err(shared
                .error(ErrorKind::InputTooLarge {
                    len: input.len(),
                    limit,
                })
                .in_function(function));
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
        let failure = |what: String| {
            shared
                .error(ErrorKind::MallocFailed {
                    size: alloc as usize,
                    what,
                    hint: if denied {
                        "the memory cap was reached: raise the host's memory limit"
                    } else {
                        "the plugin's allocator could not serve the request"
                    },
                })
                .in_function(function)
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

    /// Copies a packed output buffer to the end of `out` and frees it. `skip_free` is a
    /// pointer that must not be freed again (the input buffer, if the plugin echoed it back).
    #[allow(clippy::too_many_arguments)]
    fn take_output(
        &mut self,
        shared: &PluginShared,
        function: &'static str,
        packed: u64,
        max: usize,
        skip_free: Option<u32>,
        deadline: Duration,
        out: &mut Vec<u8>,
    ) -> Result<(), HostError> {
        if packed == 0 {
            return Err(shared.error(ErrorKind::EmptyOutput).in_function(function));
        }
        let (ptr, len) = unpack(packed);
        let memory_size = self.memory.data_size(&self.store);
        let start = ptr as usize;
        let end = start + len as usize;
        if end > memory_size {
            return Err(shared
                .error(ErrorKind::OutOfBounds {
                    ptr,
                    len,
                    memory_size,
                })
                .in_function(function));
        }
        let free_it = skip_free != Some(ptr);
        if len as usize > max {
            if free_it {
                self.free(shared, ptr, len, deadline)?;
            }
            return Err(shared
                .error(ErrorKind::OutputTooLarge {
                    len: len as usize,
                    limit: max,
                })
                .in_function(function));
        }
        out.extend_from_slice(&self.memory.data(&self.store)[start..end]);
        if free_it {
            self.free(shared, ptr, len, deadline)?;
        }
        Ok(())
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
            Err(e) => {
                return Err(self.classify(shared, e, "init", deadline).with_hint(
                    "init must return a non-zero status (and say why in last_error) for a configuration \
                     it cannot use, never trap",
                ))
            }
        };
        self.free(shared, ptr, alloc, deadline)?;
        let result = if code == 0 {
            Ok(())
        } else {
            let funcs = (self.last_error.clone(), self.memory, self.free.clone());
            Err(shared.error(ErrorKind::InitFailed {
                code,
                last_error: Live::fetch_last_error(&mut self.store, shared, funcs),
            }))
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
        let mut bytes = Vec::new();
        self.take_output(shared, "get_name", packed, MAX_TEXT, None, deadline, &mut bytes)?;
        self.flush_log();
        String::from_utf8(bytes).map_err(|e| invalid_utf8(shared, "get_name", e.utf8_error()))
    }

    /// Looks up `hook`'s export on its first call.
    #[cold]
    fn resolve_hook(&mut self, shared: &PluginShared, hook: Hook) -> Result<(), HostError> {
        let Some(name) = shared.abi.hooks[hook.index()] else {
            return Err(shared.not_implemented(hook));
        };
        let func = self
            .instance
            .get_typed_func::<(u32, u32), u64>(&mut self.store, name)
            .map_err(|e| resolve_error(shared, name, e))?;
        self.hooks[hook.index()] = Some(func);
        Ok(())
    }

    /// One hook round trip, checked: the output must be UTF-8 JSON.
    pub(crate) fn call_hook(
        &mut self,
        shared: &PluginShared,
        hook: Hook,
        export: &'static str,
        input: &[u8],
    ) -> Result<String, HostError> {
        let mut output = Vec::new();
        self.call_hook_raw(shared, hook, export, input, &mut output)?;
        let text = String::from_utf8(output).map_err(|e| invalid_utf8(shared, export, e.utf8_error()))?;
        if let Err(e) = crate::json::validate(&text) {
            return Err(shared
                .error(ErrorKind::InvalidJson {
                    error: e.describe(&text),
                    excerpt: excerpt(text.as_bytes()),
                })
                .in_function(export)
                .caused_by(e));
        }
        Ok(text)
    }

    /// One hook round trip: the output's bytes are appended to `out` as the plugin wrote
    /// them (bounds-checked and capped, but not checked as UTF-8 or JSON).
    pub(crate) fn call_hook_raw(
        &mut self,
        shared: &PluginShared,
        hook: Hook,
        export: &'static str,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), HostError> {
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
            Err(e) => {
                return Err(trap_hint(
                    self.classify(shared, e, export, deadline),
                    shared,
                    input,
                ))
            }
        };
        let output = self.take_output(
            shared,
            export,
            packed,
            host.config.max_output_bytes,
            Some(in_ptr),
            deadline,
            out,
        );
        let freed = self.free(shared, in_ptr, in_alloc, deadline);
        self.flush_log();
        output?;
        freed
    }

    pub(crate) fn run_cleanup(&mut self, shared: &PluginShared) -> Result<Option<i32>, HostError> {
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

fn invalid_utf8(shared: &PluginShared, function: &'static str, e: std::str::Utf8Error) -> HostError {
    shared
        .error(ErrorKind::InvalidUtf8 {
            valid_up_to: e.valid_up_to(),
        })
        .in_function(function)
        .caused_by(e)
}
