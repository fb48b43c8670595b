//! A loaded plugin: the compiled module and everything its instances share.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::{InstancePre, Module};

use crate::abi::{PluginInfo, ResolvedAbi};
use crate::error::{ErrorKind, HostError};
use crate::host::{Host, HostInner};
use crate::store::StoreState;
use bifrost_wasm_types::Hook;

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

impl PluginShared {
    /// An error about this plugin.
    pub(crate) fn error(&self, kind: ErrorKind) -> HostError {
        HostError::new(kind).plugin_named(self.name.clone())
    }

    /// The error for calling `hook`, which the plugin does not export.
    pub(crate) fn not_implemented(&self, hook: Hook) -> HostError {
        self.error(ErrorKind::HookNotImplemented { hook })
            .in_function(hook.name())
    }
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
}
