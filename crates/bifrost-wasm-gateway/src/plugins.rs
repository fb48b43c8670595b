//! Loading the configured plugins into a chain, and calling their `cleanup` at shutdown.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bifrost_wasm_chain::config::{order_entries, PluginEntry};
use bifrost_wasm_chain::record::Recorder;
use bifrost_wasm_chain::{Chain, ChainPlugin};
use bifrost_wasm_host::{HookRunner, Host, HostConfig, InstancePool, PoolConfig, SharedInstance};

use crate::{GatewayConfig, GatewayError};

/// How a plugin's instances are held.
pub(crate) enum Slot {
    /// One instance; calls take turns (state lives in it).
    Shared(Arc<SharedInstance>),
    /// A bounded pool (stateless plugins that asked for one).
    Pool(Arc<InstancePool>),
}

/// A loaded plugin.
pub(crate) struct LoadedSlot {
    pub name: String,
    pub slot: Slot,
}

/// The chain and what is needed to run and shut it down.
pub(crate) struct LoadedChain {
    pub chain: Arc<Chain>,
    pub slots: Vec<LoadedSlot>,
    /// Per plugin in chain order: how many of its hooks may run at once (its instances).
    pub instances: Vec<usize>,
    /// Per plugin in chain order: it uses WASI, so its calls must not run on an async worker.
    pub wasi: Vec<bool>,
    /// The chain's recorder, when hook calls are recorded.
    pub recorder: Option<Arc<Recorder>>,
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

/// Loads, instantiates and `init`s every enabled plugin, in chain order. Blocking (compiles).
pub(crate) fn load(config: &GatewayConfig) -> Result<LoadedChain, GatewayError> {
    let ordered: Vec<&PluginEntry> = order_entries(&config.plugins);
    let mut slots = Vec::new();
    let mut members = Vec::new();
    let (mut instances, mut wasi) = (Vec::new(), Vec::new());
    if ordered.is_empty() {
        return Ok(LoadedChain {
            chain: Arc::new(Chain::new(Vec::new(), config.request_shape)),
            slots,
            instances,
            wasi,
            recorder: None,
        });
    }
    let host = Host::new(host_config(config)).map_err(|e| GatewayError::Host(e.to_string()))?;
    for entry in ordered {
        let fail = |e: bifrost_wasm_host::HostError| GatewayError::Plugin {
            location: entry.location(),
            path: entry.path.display().to_string(),
            message: e.to_string(),
        };
        let started = Instant::now();
        let plugin = host.load_file(&entry.path).map_err(fail)?;
        let init = entry.config.as_ref().map(|c| c.get());
        wasi.push(plugin.info().wasi);
        instances.push(entry.pool.unwrap_or(1));
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
        members.push(ChainPlugin::new(entry.name.clone(), entry.failure_policy, runner));
        slots.push(LoadedSlot {
            name: entry.name.clone(),
            slot,
        });
    }
    let mut chain = Chain::new(members, config.request_shape);
    let recorder = match &config.record_dir {
        Some(dir) => {
            let recorder = Arc::new(Recorder::new(dir, config.record_secrets).map_err(|source| {
                GatewayError::Record {
                    dir: dir.clone(),
                    source,
                }
            })?);
            chain = chain.with_observer(recorder.clone());
            Some(recorder)
        }
        None => None,
    };
    Ok(LoadedChain {
        chain: Arc::new(chain),
        slots,
        instances,
        wasi,
        recorder,
    })
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
