//! What requests run on, and replacing it while the gateway serves (`serve --watch`).
//!
//! A request takes the current [`Live`] (the chain, the turns at its plugins) when it arrives
//! and keeps it to its end. A reload builds a new one off the request path: plugins whose
//! config entry and file did not change are kept (same instances, same state, same turns);
//! the others are compiled, instantiated and `init`ed; only when every one of them loaded is
//! the new `Live` swapped in. Requests in flight finish on the old plugins, new requests get the
//! new ones, and once the last request on the old ones has finished, `cleanup` runs on the
//! instances that were replaced. A broken file, a config that does not parse or an `init`
//! that fails keeps the running plugins and logs why.
//!
//! The watcher polls the stamps (modification time and length) of the config file and of every
//! plugin file: a handful of `stat` calls twice a second, which also sees a file replaced by a
//! rename, as editors and `cargo` do.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bifrost_wasm_chain::record::Recorder;
use bifrost_wasm_chain::{Chain, Hook, RequestShape};

use crate::metrics::{Metrics, PluginMetrics};
use crate::plugins::{self, LivePlugin, LoadedSlot, Stamp};
use crate::turns::Turns;
use crate::{GatewayConfig, GatewayError};

/// The chain requests run on, with what the handlers need to know about it.
pub(crate) struct Live {
    pub(crate) chain: Arc<Chain>,
    pub(crate) turns: Turns,
    /// Whether any plugin has an HTTP-level hook (else the HTTP request JSON is not built).
    pub(crate) http_hooks: bool,
    pub(crate) http_post_hooks: bool,
    pub(crate) chunk_hooks: bool,
    /// Whether any plugin has `pre_hook` or `post_hook` (else no Bifrost request is built).
    pub(crate) llm_hooks: bool,
    /// The plugins, in chain order.
    pub(crate) plugins: Vec<LivePlugin>,
    /// Their metrics handles, in chain order.
    pub(crate) metrics: Vec<PluginMetrics>,
}

impl Live {
    /// A chain of `plugins` (recorded by `recorder`, if any).
    pub(crate) fn new(
        plugins: Vec<LivePlugin>,
        shape: RequestShape,
        recorder: Option<&Arc<Recorder>>,
        metrics: &Metrics,
        serialize_steps: bool,
    ) -> Live {
        let mut chain = Chain::new(plugins.iter().map(|p| p.member.clone()).collect(), shape);
        if let Some(recorder) = recorder {
            chain = chain.with_observer(recorder.clone());
        }
        let any = |hook: Hook| chain.any_implements(hook);
        let turns = Turns::with_gates(
            plugins.iter().map(|p| p.gate.clone()).collect(),
            plugins.iter().map(|p| p.wasi).collect(),
            serialize_steps,
        );
        Live {
            http_hooks: any(Hook::HttpPreHook) || any(Hook::HttpPostHook) || any(Hook::HttpStreamChunkHook),
            http_post_hooks: any(Hook::HttpPostHook),
            chunk_hooks: any(Hook::HttpStreamChunkHook),
            llm_hooks: any(Hook::PreHook) || any(Hook::PostHook),
            chain: Arc::new(chain),
            turns,
            metrics: plugins.iter().map(|p| metrics.plugin(&p.entry.name)).collect(),
            plugins,
        }
    }

    /// Every plugin's instances, for `cleanup`.
    pub(crate) fn slots(&self) -> Vec<LoadedSlot> {
        self.plugins.iter().map(LivePlugin::loaded_slot).collect()
    }
}

/// The current [`Live`], replaced as a whole.
pub(crate) struct Current(RwLock<Arc<Live>>);

impl Current {
    pub(crate) fn new(live: Live) -> Self {
        Current(RwLock::new(Arc::new(live)))
    }

    /// What a request arriving now runs on.
    pub(crate) fn get(&self) -> Arc<Live> {
        match self.0.read() {
            Ok(live) => live.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Swaps in `live`; returns the one it replaces.
    fn replace(&self, live: Arc<Live>) -> Arc<Live> {
        match self.0.write() {
            Ok(mut current) => std::mem::replace(&mut *current, live),
            Err(poisoned) => std::mem::replace(&mut *poisoned.into_inner(), live),
        }
    }
}

/// Builds the gateway's configuration again (the config file re-read, the command line's
/// flags applied on top), for a reload.
pub type Reconfigure = Arc<dyn Fn() -> Result<GatewayConfig, String> + Send + Sync>;

/// What `serve --watch` watches and how.
pub(crate) struct Watch {
    /// The config file, if the gateway has one.
    pub(crate) config_file: Option<PathBuf>,
    pub(crate) reconfigure: Reconfigure,
    pub(crate) every: Duration,
}

/// How long a reload waits for requests still on replaced plugins before their `cleanup`.
const DRAIN: Duration = Duration::from_secs(60);

/// Watches the files until the process ends (the task is aborted at shutdown).
pub(crate) async fn watch(
    watch: Watch,
    current: Arc<Current>,
    recorder: Option<Arc<Recorder>>,
    metrics: Arc<Metrics>,
    shape: RequestShape,
    serialize_steps: bool,
) {
    let mut config_stamp = watch.config_file.as_deref().and_then(Stamp::of);
    // Stamps of files a failed reload saw, so a broken file is tried again only once changed.
    let mut failed: Vec<(PathBuf, Option<Stamp>)> = Vec::new();
    loop {
        tokio::time::sleep(watch.every).await;
        let live = current.get();
        let config_now = watch.config_file.as_deref().and_then(Stamp::of);
        let config_changed = config_now != config_stamp;
        let changed_files: Vec<PathBuf> = live
            .plugins
            .iter()
            .filter(|p| Stamp::of(&p.entry.path) != p.stamp)
            .map(|p| p.entry.path.clone())
            .filter(|path| !failed.iter().any(|(f, s)| f == path && *s == Stamp::of(path)))
            .collect();
        drop(live);
        if !config_changed && changed_files.is_empty() {
            continue;
        }
        config_stamp = config_now;
        let why = if config_changed {
            "the config file changed".to_string()
        } else {
            format!(
                "{} changed",
                changed_files
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let reconfigure = watch.reconfigure.clone();
        let previous = current.get().plugins.clone();
        let loaded = tokio::task::spawn_blocking(move || -> Result<_, GatewayError> {
            let config = reconfigure().map_err(GatewayError::Reconfigure)?;
            let loaded = plugins::load(&config, &previous)?;
            Ok((config, loaded))
        })
        .await;
        let (config, loaded) = match loaded {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => {
                metrics.reload(false);
                tracing::error!("reload after {why} failed; the running plugins stay: {e}");
                failed = changed_files.iter().map(|p| (p.clone(), Stamp::of(p))).collect();
                continue;
            }
            Err(e) => {
                metrics.reload(false);
                tracing::error!("reload after {why} panicked; the running plugins stay: {e}");
                continue;
            }
        };
        failed.clear();
        if config.request_shape != shape {
            tracing::warn!(
                "the request shape changed to {}; it applies after a restart (still {shape})",
                config.request_shape
            );
        }
        let kept = loaded.kept;
        let new = Arc::new(Live::new(
            loaded.plugins,
            shape,
            recorder.as_ref(),
            &metrics,
            serialize_steps,
        ));
        metrics.reload(true);
        let old = current.replace(new.clone());
        let replaced: Vec<LoadedSlot> = old
            .plugins
            .iter()
            .filter(|p| !new.plugins.iter().any(|n| n.slot.same(&p.slot)))
            .map(LivePlugin::loaded_slot)
            .collect();
        tracing::info!(
            "reloaded after {why}: {} plugin(s) [{}], {kept} kept as they were, {} replaced; requests in \
             flight finish on the plugins they started with",
            new.plugins.len(),
            new.plugins
                .iter()
                .map(|p| p.entry.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            replaced.len()
        );
        drop(new);
        // The old chain goes when its last request does; then the replaced instances are
        // cleaned up (the wait happens on the blocking pool).
        drop(old);
        if !replaced.is_empty() {
            tokio::task::spawn_blocking(move || plugins::cleanup(replaced, DRAIN));
        }
    }
}
