//! Loading the configured plugins into a chain, and calling their `cleanup` at shutdown.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bifrost_wasm_chain::config::{order_entries, PluginEntry};
use bifrost_wasm_chain::record::Recorder;
use bifrost_wasm_chain::ChainPlugin;
use bifrost_wasm_host::{HookRunner, Host, HostConfig, InstancePool, PoolConfig, SharedInstance};

use crate::turns::Gate;
use crate::{GatewayConfig, GatewayError};

/// How a plugin's instances are held.
#[derive(Clone)]
pub(crate) enum Slot {
    /// One instance; calls take turns (state lives in it).
    Shared(Arc<SharedInstance>),
    /// A bounded pool (stateless plugins that asked for one).
    Pool(Arc<InstancePool>),
}

impl Slot {
    /// Whether both hold the same instances.
    pub(crate) fn same(&self, other: &Slot) -> bool {
        match (self, other) {
            (Slot::Shared(a), Slot::Shared(b)) => Arc::ptr_eq(a, b),
            (Slot::Pool(a), Slot::Pool(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// A loaded plugin, for `cleanup`.
pub(crate) struct LoadedSlot {
    pub name: String,
    pub slot: Slot,
}

/// When a plugin file was last written, as far as reloading cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    modified: Option<std::time::SystemTime>,
    len: u64,
}

impl Stamp {
    /// The file's stamp now (`None` when it cannot be read).
    pub(crate) fn of(path: &Path) -> Option<Stamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(Stamp {
            modified: meta.modified().ok(),
            len: meta.len(),
        })
    }
}

/// One plugin of a running chain, with what a reload needs to keep it or replace it.
#[derive(Clone)]
pub(crate) struct LivePlugin {
    /// Its config entry.
    pub entry: PluginEntry,
    /// Its file's stamp when it was loaded.
    pub stamp: Option<Stamp>,
    /// The chain member (its runner is the slot's instance or pool).
    pub member: ChainPlugin,
    /// Its instances.
    pub slot: Slot,
    /// Its turns (one per instance), shared with a reloaded chain that keeps the plugin.
    pub gate: Arc<Gate>,
    /// Its hooks run on the blocking pool (WASI).
    pub wasi: bool,
}

impl LivePlugin {
    /// Whether this plugin can serve `entry` unchanged: the same entry and the same file.
    fn serves(&self, entry: &PluginEntry, stamp: Option<Stamp>) -> bool {
        let a = &self.entry;
        a.path == entry.path
            && a.name == entry.name
            && a.config.as_deref().map(|c| c.get()) == entry.config.as_deref().map(|c| c.get())
            && a.pool == entry.pool
            && a.failure_policy == entry.failure_policy
            && self.stamp.is_some()
            && self.stamp == stamp
    }

    /// For `cleanup`.
    pub(crate) fn loaded_slot(&self) -> LoadedSlot {
        LoadedSlot {
            name: self.entry.name.clone(),
            slot: self.slot.clone(),
        }
    }
}

/// The plugins of a chain as loaded (or kept), in chain order.
pub(crate) struct Loaded {
    pub plugins: Vec<LivePlugin>,
    /// How many of them were kept from the previous chain (a reload).
    pub kept: usize,
}

fn host_config(config: &GatewayConfig) -> HostConfig {
    let limits = &config.limits;
    let mut host = HostConfig::default().with_cache_dir(config.cache_dir.clone());
    if let Some(ms) = limits.hook_timeout_ms {
        host = host.with_deadline(Some(Duration::from_millis(ms)));
    }
    if let Some(bytes) = limits.max_memory_bytes {
        host = host.with_memory_limit(usize::try_from(bytes).unwrap_or(usize::MAX));
    }
    if let Some(bytes) = limits.max_output_bytes {
        host = host.with_max_output_bytes(usize::try_from(bytes).unwrap_or(usize::MAX));
    }
    host
}

/// Loads, instantiates and `init`s every enabled plugin, in chain order, keeping those of
/// `previous` whose entry and file did not change (their instances and state carry over).
/// Blocking (compiles). Nothing is kept half-done: on any error the previous plugins stay as
/// they are.
pub(crate) fn load(config: &GatewayConfig, previous: &[LivePlugin]) -> Result<Loaded, GatewayError> {
    let ordered: Vec<&PluginEntry> = order_entries(&config.plugins);
    let mut plugins = Vec::with_capacity(ordered.len());
    let mut kept = 0;
    if ordered.is_empty() {
        return Ok(Loaded { plugins, kept });
    }
    let mut host: Option<Host> = None;
    for entry in ordered {
        let stamp = Stamp::of(&entry.path);
        if let Some(old) = previous.iter().find(|p| p.serves(entry, stamp)) {
            plugins.push(old.clone());
            kept += 1;
            continue;
        }
        let host = match &mut host {
            Some(host) => host,
            None => {
                host.insert(Host::new(host_config(config)).map_err(|e| GatewayError::Host(e.to_string()))?)
            }
        };
        plugins.push(load_one(host, entry, stamp)?);
    }
    Ok(Loaded { plugins, kept })
}

/// Loads one plugin: compile (or the cache), instantiate, `init`.
fn load_one(host: &Host, entry: &PluginEntry, stamp: Option<Stamp>) -> Result<LivePlugin, GatewayError> {
    let fail = |e: bifrost_wasm_host::HostError| GatewayError::Plugin {
        location: entry.location(),
        path: entry.path.display().to_string(),
        message: e.to_string(),
    };
    let started = Instant::now();
    let plugin = host.load_file(&entry.path).map_err(fail)?;
    let init = entry.config.as_ref().map(|c| c.get());
    let instances = entry.pool.unwrap_or(1);
    let (slot, runner): (Slot, Arc<dyn HookRunner>) = match entry.pool {
        None => {
            let shared = Arc::new(SharedInstance::new(&plugin, init).map_err(fail)?);
            (Slot::Shared(shared.clone()), shared)
        }
        Some(n) => {
            let pool = Arc::new(
                InstancePool::new(&plugin, init, PoolConfig::default().with_max_instances(n))
                    .map_err(fail)?,
            );
            (Slot::Pool(pool.clone()), pool)
        }
    };
    let hooks: Vec<&str> = plugin.info().hooks.iter().map(|h| h.hook.name()).collect();
    tracing::info!(
        plugin = %entry.name,
        "loaded plugin {} (get_name {:?}) from {} in {:?} ({}): hooks [{}], {}, failure policy {}",
        entry.name,
        plugin.name(),
        entry.path.display(),
        started.elapsed(),
        match plugin.load_report() {
            r if r.cache_hit => "compiled module from the cache",
            r if r.cache_path.is_some() => "compiled, and cached",
            _ => "compiled; module cache off",
        },
        hooks.join(", "),
        match entry.pool {
            None => "one instance".to_string(),
            Some(n) => format!("pool of up to {n} instances"),
        },
        entry.failure_policy
    );
    Ok(LivePlugin {
        entry: entry.clone(),
        stamp,
        member: ChainPlugin::new(entry.name.clone(), entry.failure_policy, runner),
        slot,
        gate: Arc::new(Gate::new(instances)),
        wasi: plugin.info().wasi,
    })
}

/// The recorder of `config`, if it asks for one.
pub(crate) fn recorder(config: &GatewayConfig) -> Result<Option<Arc<Recorder>>, GatewayError> {
    match &config.record_dir {
        Some(dir) => Recorder::new(dir, config.record_secrets)
            .map(|r| Some(Arc::new(r)))
            .map_err(|source| GatewayError::Record {
                dir: dir.clone(),
                source,
            }),
        None => Ok(None),
    }
}

/// Logs a `cleanup` that returned a non-zero code (`Ok`) or failed (`Err`).
fn warn_cleanup(name: &str, outcome: Result<i32, &bifrost_wasm_host::HostError>) {
    match outcome {
        Ok(code) => tracing::warn!(
            plugin = %name,
            "plugin {name}: cleanup returned {code} (non-zero means it could not clean up)"
        ),
        Err(e) => tracing::warn!(plugin = %name, "plugin {name}: cleanup failed: {e}"),
    }
}

/// Calls every plugin's `cleanup`, in chain order. Waits up to `grace` for requests still
/// holding an instance. Blocking. Returns the number of plugins cleaned up.
pub(crate) fn cleanup(slots: Vec<LoadedSlot>, grace: Duration) -> usize {
    let deadline = Instant::now() + grace;
    let mut cleaned = 0;
    for LoadedSlot { name, slot } in slots {
        match slot {
            Slot::Shared(mut shared) => loop {
                match Arc::try_unwrap(shared) {
                    Ok(instance) => {
                        match instance.cleanup() {
                            Ok(Some(0)) | Ok(None) => {
                                tracing::info!(plugin = %name, "plugin {name}: cleanup done")
                            }
                            Ok(Some(code)) => warn_cleanup(&name, Ok(code)),
                            Err(e) => warn_cleanup(&name, Err(&e)),
                        }
                        cleaned += 1;
                        break;
                    }
                    Err(still_shared) if Instant::now() < deadline => {
                        shared = still_shared;
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(_) => {
                        tracing::warn!(
                            plugin = %name,
                            "plugin {name}: a request still holds the instance after {grace:?}; cleanup not called"
                        );
                        break;
                    }
                }
            },
            Slot::Pool(pool) => {
                let report = pool.cleanup(deadline.saturating_duration_since(Instant::now()));
                for code in &report.non_zero {
                    warn_cleanup(&name, Ok(*code));
                }
                for e in &report.errors {
                    warn_cleanup(&name, Err(e));
                }
                if report.still_busy > 0 {
                    tracing::warn!(
                        plugin = %name,
                        "plugin {name}: {} pooled instances were still in use after {grace:?}; cleanup not called on them",
                        report.still_busy
                    );
                }
                tracing::info!(
                    plugin = %name,
                    "plugin {name}: cleanup done on {} pooled instances",
                    report.cleaned
                );
                cleaned += 1;
            }
        }
    }
    cleaned
}
