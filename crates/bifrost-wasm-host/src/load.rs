//! Loading a plugin: compile (or take from the cache), validate against the ABI, link, probe.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use wasmtime::{Caller, InstancePre, Linker, Module};

use crate::abi::{self, ModuleInterface, PluginInfo, ResolvedAbi};
use crate::cache::Lookup;
use crate::error::{ErrorKind, HostError, LoadProblem};
use crate::host::{Host, HostInner};
use crate::live::Live;
use crate::plugin::{LoadReport, LoadedPlugin, PluginShared};
use crate::store::{GuestAbort, StoreState};
use bifrost_wasm_types::Hook;

impl Host {
    /// Loads a plugin from a `.wasm` (or `.wat`) file.
    pub fn load_file(&self, path: impl AsRef<Path>) -> Result<LoadedPlugin, HostError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| {
            HostError::new(ErrorKind::ReadFile {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
            .caused_by(e)
        })?;
        self.load_bytes(&bytes, &path.display().to_string())
    }

    /// Compiles `bytes` (binary wasm or WAT text) and lists its exports and imports without
    /// checking them against the plugin ABI: what a module that fails to load does offer.
    pub fn interface(&self, bytes: &[u8], label: &str) -> Result<ModuleInterface, HostError> {
        let module = Module::new(&self.inner.engine, bytes).map_err(|e| compile_error(label, e))?;
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
                let m = Module::new(&host.engine, bytes).map_err(|e| compile_error(label, e))?;
                if let Some((cache, path)) = &entry {
                    cache.store(&m, path);
                }
                m
            }
        };
        let compile_time = compile_started.elapsed();

        let analysis = abi::analyse(&module)
            .map_err(|problems| HostError::new(ErrorKind::InvalidPlugin { problems }).plugin_named(label))?;
        let pre = link(host, &module, &analysis.abi, label)?;

        let toolchain = crate::toolchain::detect(bytes, &analysis.exports, &analysis.imports);
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
                toolchain,
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
        .map_err(|e| HostError::invalid_config(format!("cannot provide WASI preview 1: {e}")).caused_by(e))?;
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
            .map_err(|e| HostError::invalid_config(format!("cannot provide env.abort: {e}")).caused_by(e))?;
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
        HostError::new(ErrorKind::InvalidPlugin { problems })
            .plugin_named(label)
            .caused_by(e)
    })
}

fn compile_error(label: &str, e: wasmtime::Error) -> HostError {
    HostError::new(ErrorKind::Compile {
        message: format!("{e:#}"),
    })
    .plugin_named(label)
    .caused_by(e)
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
