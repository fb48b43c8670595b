//! Handles for concurrent callers: one serialised instance, or a bounded pool.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{ErrorKind, HostError};
use crate::instance::PluginInstance;
use crate::plugin::LoadedPlugin;
use crate::HookRunner;
use bifrost_wasm_types::Hook;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // No code panics while holding these locks; recover the data regardless.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// One instance shared by many callers, who take turns (what a chain uses by default: a
/// plugin's state lives in one instance, and a hook costs microseconds).
///
/// The plugin's in-memory state (counters, caches, half-seen stream data) lives in
/// this one instance. After a trap, timeout or memory-cap failure the instance is
/// replaced by a fresh, re-`init`ed one, so that state starts over. Bifrost itself may
/// run several instances of a plugin; a plugin must not rely on seeing every request.
pub struct SharedInstance {
    plugin: LoadedPlugin,
    instance: Mutex<PluginInstance>,
}

impl std::fmt::Debug for SharedInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedInstance")
            .field("plugin", &self.plugin.name())
            .finish_non_exhaustive()
    }
}

impl SharedInstance {
    /// Creates and `init`s the instance.
    pub fn new(plugin: &LoadedPlugin, config: Option<&str>) -> Result<SharedInstance, HostError> {
        Ok(SharedInstance {
            plugin: plugin.clone(),
            instance: Mutex::new(plugin.instantiate(config)?),
        })
    }

    /// The plugin.
    pub fn plugin(&self) -> &LoadedPlugin {
        &self.plugin
    }

    /// Runs `f` with exclusive access to the instance (waits for other callers).
    pub fn with<R>(&self, f: impl FnOnce(&mut PluginInstance) -> R) -> R {
        f(&mut lock(&self.instance))
    }

    /// Calls `hook` (see [`PluginInstance::call`]), waiting for other callers first.
    pub fn call(&self, hook: Hook, input: &[u8]) -> Result<String, HostError> {
        lock(&self.instance).call(hook, input)
    }

    /// Ends the instance, calling `cleanup` (see [`PluginInstance::cleanup`]).
    pub fn cleanup(self) -> Result<Option<i32>, HostError> {
        self.instance
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .cleanup()
    }
}

impl HookRunner for SharedInstance {
    fn plugin_name(&self) -> &str {
        self.plugin.name()
    }

    fn implements(&self, hook: Hook) -> bool {
        self.plugin.has_hook(hook)
    }

    fn call_hook(&self, hook: Hook, input: &[u8]) -> Result<Option<String>, HostError> {
        if !self.plugin.has_hook(hook) {
            return Ok(None);
        }
        self.call(hook, input).map(Some)
    }

    fn call_hook_into(&self, hook: Hook, input: &[u8], out: &mut Vec<u8>) -> Result<bool, HostError> {
        if !self.plugin.has_hook(hook) {
            return Ok(false);
        }
        lock(&self.instance).call_into(hook, input, out).map(|()| true)
    }
}

/// Settings of an [`InstancePool`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Most instances alive at once (default: the number of CPUs).
    pub max_instances: usize,
    /// Instances created up front (default 1, which also proves `init` accepts the
    /// configuration).
    pub min_instances: usize,
    /// How long [`InstancePool::checkout`] waits for a free instance (default 5 s).
    pub checkout_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_instances: std::thread::available_parallelism().map_or(2, |n| n.get()),
            min_instances: 1,
            checkout_timeout: Duration::from_secs(5),
        }
    }
}

impl PoolConfig {
    /// Sets [`PoolConfig::max_instances`].
    pub fn with_max_instances(mut self, n: usize) -> Self {
        self.max_instances = n;
        self
    }

    /// Sets [`PoolConfig::min_instances`].
    pub fn with_min_instances(mut self, n: usize) -> Self {
        self.min_instances = n;
        self
    }

    /// Sets [`PoolConfig::checkout_timeout`].
    pub fn with_checkout_timeout(mut self, timeout: Duration) -> Self {
        self.checkout_timeout = timeout;
        self
    }
}

struct PoolState {
    idle: Vec<PluginInstance>,
    /// Instances alive: idle, checked out, or being created.
    total: usize,
    /// Set by [`InstancePool::cleanup`]: no more checkouts.
    closed: bool,
}

struct PoolInner {
    plugin: LoadedPlugin,
    config: Option<String>,
    settings: PoolConfig,
    state: Mutex<PoolState>,
    returned: Condvar,
}

/// A bounded pool of instances of one plugin, for stateless plugins under concurrent
/// load. Instances are checked out by move ([`PooledInstance`], returned on drop);
/// the pool grows on demand up to `max_instances`, after which callers wait (up to the
/// checkout timeout) or, with [`InstancePool::try_checkout`], get `None`.
///
/// Each instance has its own state; a plugin that keeps state across calls (counters,
/// caches) sees a different instance per call.
#[derive(Clone)]
pub struct InstancePool {
    inner: Arc<PoolInner>,
}

impl std::fmt::Debug for InstancePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstancePool")
            .field("plugin", &self.inner.plugin.name())
            .field("settings", &self.inner.settings)
            .field("stats", &self.stats())
            .finish()
    }
}

/// A snapshot of a pool's occupancy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Instances waiting for work.
    pub idle: usize,
    /// Instances alive (idle, checked out or being created).
    pub total: usize,
    /// The bound.
    pub max: usize,
}

impl InstancePool {
    /// Creates the pool and its first `min_instances` instances (`init`ed with `config`).
    pub fn new(
        plugin: &LoadedPlugin,
        config: Option<&str>,
        settings: PoolConfig,
    ) -> Result<InstancePool, HostError> {
        if settings.max_instances == 0 {
            return Err(HostError::invalid_config(
                "a pool needs max_instances of at least 1",
            ));
        }
        let min = settings.min_instances.min(settings.max_instances);
        let mut idle = Vec::with_capacity(settings.max_instances);
        for _ in 0..min {
            idle.push(plugin.instantiate(config)?);
        }
        Ok(InstancePool {
            inner: Arc::new(PoolInner {
                plugin: plugin.clone(),
                config: config.map(str::to_string),
                settings,
                state: Mutex::new(PoolState {
                    total: min,
                    idle,
                    closed: false,
                }),
                returned: Condvar::new(),
            }),
        })
    }

    /// The plugin.
    pub fn plugin(&self) -> &LoadedPlugin {
        &self.inner.plugin
    }

    /// Current occupancy.
    pub fn stats(&self) -> PoolStats {
        let state = lock(&self.inner.state);
        PoolStats {
            idle: state.idle.len(),
            total: state.total,
            max: self.inner.settings.max_instances,
        }
    }

    /// The linear memory size in bytes of each instance idle now (checked-out instances are
    /// busy and not looked at), for metrics.
    pub fn idle_memory_sizes(&self) -> Vec<usize> {
        lock(&self.inner.state)
            .idle
            .iter()
            .map(PluginInstance::memory_size)
            .collect()
    }

    /// Takes an instance, creating one if the pool is below its bound, else waiting
    /// up to the configured checkout timeout ([`ErrorKind::PoolExhausted`] after it).
    pub fn checkout(&self) -> Result<PooledInstance, HostError> {
        self.checkout_within(self.inner.settings.checkout_timeout)
    }

    /// Like [`InstancePool::checkout`] with an explicit timeout.
    pub fn checkout_within(&self, timeout: Duration) -> Result<PooledInstance, HostError> {
        let started = Instant::now();
        let deadline = started.checked_add(timeout);
        let mut state = lock(&self.inner.state);
        loop {
            if state.closed {
                return Err(self.closed());
            }
            if let Some(instance) = state.idle.pop() {
                return Ok(self.wrap(instance));
            }
            if state.total < self.inner.settings.max_instances {
                state.total += 1;
                drop(state);
                return self.create();
            }
            let now = Instant::now();
            let remaining = match deadline {
                Some(deadline) if now < deadline => deadline - now,
                Some(_) => {
                    return Err(self.inner.plugin.inner.error(ErrorKind::PoolExhausted {
                        waited: started.elapsed(),
                        max_instances: self.inner.settings.max_instances,
                    }))
                }
                None => Duration::from_secs(3600),
            };
            state = self.wait_for_return(state, remaining);
        }
    }

    /// Takes an instance without waiting: `Ok(None)` when all `max_instances` are busy.
    pub fn try_checkout(&self) -> Result<Option<PooledInstance>, HostError> {
        let mut state = lock(&self.inner.state);
        if state.closed {
            return Err(self.closed());
        }
        if let Some(instance) = state.idle.pop() {
            return Ok(Some(self.wrap(instance)));
        }
        if state.total < self.inner.settings.max_instances {
            state.total += 1;
            drop(state);
            return self.create().map(Some);
        }
        Ok(None)
    }

    /// Creates an instance for a slot already counted in `total`.
    fn create(&self) -> Result<PooledInstance, HostError> {
        match self.inner.plugin.instantiate(self.inner.config.as_deref()) {
            Ok(instance) => Ok(self.wrap(instance)),
            Err(e) => {
                lock(&self.inner.state).total -= 1;
                self.inner.returned.notify_one();
                Err(e)
            }
        }
    }

    fn wrap(&self, instance: PluginInstance) -> PooledInstance {
        PooledInstance {
            instance: Some(instance),
            pool: Arc::clone(&self.inner),
        }
    }

    /// Checks an instance out, calls `hook`, and returns the instance.
    pub fn call(&self, hook: Hook, input: &[u8]) -> Result<String, HostError> {
        self.checkout()?.call(hook, input)
    }

    /// Waits up to `timeout` for an instance to come back (or a slot to free up).
    fn wait_for_return<'a>(
        &self,
        state: std::sync::MutexGuard<'a, PoolState>,
        timeout: Duration,
    ) -> std::sync::MutexGuard<'a, PoolState> {
        self.inner
            .returned
            .wait_timeout(state, timeout)
            .unwrap_or_else(|e| e.into_inner())
            .0
    }

    fn closed(&self) -> HostError {
        self.inner.plugin.inner.error(ErrorKind::PoolClosed)
    }

    /// Closes the pool and calls `cleanup` on every instance: idle ones at once, checked-out
    /// ones as they come back, waiting up to `grace` for them. Later checkouts fail with
    /// [`ErrorKind::PoolClosed`]. Calling it again cleans up nothing more.
    pub fn cleanup(&self, grace: Duration) -> PoolCleanup {
        let deadline = Instant::now().checked_add(grace);
        let mut report = PoolCleanup::default();
        let mut state = lock(&self.inner.state);
        state.closed = true;
        loop {
            let idle = std::mem::take(&mut state.idle);
            state.total -= idle.len();
            if !idle.is_empty() {
                drop(state);
                for instance in idle {
                    match instance.cleanup() {
                        Ok(Some(0)) | Ok(None) => report.cleaned += 1,
                        Ok(Some(code)) => report.non_zero.push(code),
                        Err(e) => report.errors.push(e),
                    }
                }
                state = lock(&self.inner.state);
                continue;
            }
            if state.total == 0 {
                return report;
            }
            let remaining = match deadline.map(|d| d.saturating_duration_since(Instant::now())) {
                Some(remaining) if remaining.is_zero() => {
                    report.still_busy = state.total;
                    return report;
                }
                Some(remaining) => remaining,
                None => Duration::from_secs(3600),
            };
            state = self.wait_for_return(state, remaining);
        }
    }
}

/// What [`InstancePool::cleanup`] did.
#[derive(Debug, Default)]
pub struct PoolCleanup {
    /// Instances whose `cleanup` returned 0 (or that export none).
    pub cleaned: usize,
    /// Non-zero codes returned by `cleanup`.
    pub non_zero: Vec<i32>,
    /// Instances whose `cleanup` failed (trap, timeout, ...).
    pub errors: Vec<HostError>,
    /// Instances still checked out when the grace period ended (not cleaned up).
    pub still_busy: usize,
}

impl HookRunner for InstancePool {
    fn plugin_name(&self) -> &str {
        self.inner.plugin.name()
    }

    fn implements(&self, hook: Hook) -> bool {
        self.inner.plugin.has_hook(hook)
    }

    fn call_hook(&self, hook: Hook, input: &[u8]) -> Result<Option<String>, HostError> {
        if !self.inner.plugin.has_hook(hook) {
            return Ok(None);
        }
        self.call(hook, input).map(Some)
    }

    fn call_hook_into(&self, hook: Hook, input: &[u8], out: &mut Vec<u8>) -> Result<bool, HostError> {
        if !self.inner.plugin.has_hook(hook) {
            return Ok(false);
        }
        self.checkout()?.call_into(hook, input, out).map(|()| true)
    }
}

/// An instance checked out of an [`InstancePool`]; goes back to the pool when dropped.
pub struct PooledInstance {
    instance: Option<PluginInstance>,
    pool: Arc<PoolInner>,
}

impl std::fmt::Debug for PooledInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PooledInstance").field(&self.instance).finish()
    }
}

impl Deref for PooledInstance {
    type Target = PluginInstance;

    fn deref(&self) -> &PluginInstance {
        self.instance
            .as_ref()
            .expect("a pooled instance is present until dropped")
    }
}

impl DerefMut for PooledInstance {
    fn deref_mut(&mut self) -> &mut PluginInstance {
        self.instance
            .as_mut()
            .expect("a pooled instance is present until dropped")
    }
}

impl Drop for PooledInstance {
    fn drop(&mut self) {
        if let Some(instance) = self.instance.take() {
            lock(&self.pool.state).idle.push(instance);
            self.pool.returned.notify_one();
        }
    }
}
