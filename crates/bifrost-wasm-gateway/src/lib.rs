//! A local OpenAI- and Anthropic-compatible gateway that runs a chain of Bifrost WASM plugins
//! on real traffic, for every request kind Bifrost's plugins see.
//!
//! The gateway is the HTTP layer over the plugin chain ([`bifrost_wasm_chain`], which runs over
//! the wasm runner, [`bifrost_wasm_host`]). It owns what the layers below know nothing of: the
//! HTTP server and its routes, the configuration of listen address, provider and body limits
//! ([`config`]), the one translation between the client APIs and Bifrost's requests and
//! responses ([`adapter`], [`anthropic`], [`multipart`]), the providers ([`provider`]) and
//! server-sent events ([`sse`]).
//!
//! | route | plugins see (`RequestType`) | the client gets |
//! |---|---|---|
//! | `POST /v1/chat/completions` | `chat_completion(_stream)` | a chat completion, or chunks ending `data: [DONE]` |
//! | `POST /v1/completions` | `text_completion(_stream)` | a text completion, or chunks ending `data: [DONE]` |
//! | `POST /v1/embeddings` | `embedding` | the embedding list |
//! | `POST /v1/responses` | `responses(_stream)` | a Responses object, or its typed events (`response.output_text.delta` … `response.completed`) |
//! | `POST /v1/audio/speech` | `speech(_stream)` | audio bytes, or `speech.audio.delta` events (`"stream_format": "sse"`) |
//! | `POST /v1/audio/transcriptions` (multipart) | `transcription(_stream)` | JSON, plain text (`response_format` `text`, `srt`, `vtt`), or `transcript.text.*` events |
//! | `POST /v1/images/generations` | `image_generation` | the image list (`b64_json` or `url`) |
//! | `POST /anthropic/v1/messages` | `responses(_stream)`, as Bifrost's Anthropic integration sends it | an Anthropic message, or Anthropic's events (`message_start` … `message_stop`) |
//! | `GET /v1/models` | `list_models` (HTTP hooks only) | the model list |
//!
//! The OpenAI routes also answer without `/v1`; `GET /health` and `GET /metrics` (Prometheus
//! text format; the metrics are listed below) run no plugin. Each request goes through the
//! hooks in Bifrost's order (see [`bifrost_wasm_chain`]):
//!
//! ```text
//! http_pre_hook (raw HTTP request, base64 body) → Bifrost request of the route's kind → pre_hook
//!   → provider → post_hook (reverse) → http_post_hook (reverse)           non-streaming
//!   → per chunk or event: post_hook, http_stream_chunk_hook (reverse)     streaming
//! ```
//!
//! `pre_hook` gets the request in the configured shape (Go's envelope by default:
//! `{"RequestType":"embedding","EmbeddingRequest":{…},<the other kinds>:null}`), `post_hook`
//! the response of that kind (`{"EmbeddingResponse":{…},…}`; a stream's events in their stream
//! member, `ResponsesStreamResponse` and the like). A short-circuit answers in the route's
//! format (as a stream when one was asked for); one holding a response of another kind is a
//! 502 that says so.
//!
//! The default provider is an embedded deterministic mock (no network, no key; see
//! [`provider::MockProvider`]: echoes, hash embeddings, a WAV that carries its text, the
//! transcript of such a WAV, small PNGs); an OpenAI-compatible upstream can be configured,
//! and an Anthropic-compatible one for Anthropic Messages. `model` may be `provider/model`;
//! without a prefix the configured provider's name is used.
//!
//! Every request produces one log line (target `bifrost_wasm_gateway::request`) with the method,
//! path, status, total time, the request kind (`kind=responses_stream`) and, per plugin and
//! hook, what happened and how long it took.
//!
//! ```no_run
//! use bifrost_wasm_gateway::{Gateway, GatewayConfig};
//!
//! # async fn run() -> Result<(), bifrost_wasm_gateway::GatewayError> {
//! let mut config = GatewayConfig::default().with_listen("127.0.0.1:0".parse().unwrap());
//! config.add_plugin("build/hello-world.wasm");
//! let gateway = Gateway::bind(config).await?;
//! println!("listening on http://{}", gateway.local_addr());
//! gateway.serve_until(bifrost_wasm_gateway::shutdown_signal()).await?;
//! # Ok(()) }
//! ```
//!
//! # Instances and concurrency
//!
//! Plugin state lives in its instance: each plugin gets **one instance** by default, so its
//! state stays consistent. A stateless plugin may ask for a pool in its config entry
//! (`"pool": N`: up to N instances, N of its hooks at once). A request holds a plugin only
//! while that plugin's hook runs: it waits (without blocking a worker thread) for a free
//! instance of the plugin, calls the hook, and gives the instance back before reading the
//! output, so requests at different plugins run in parallel on different cores and no request
//! ever holds two plugins. Hooks of WASI plugins run on the blocking thread pool. An instance
//! that traps or times out is replaced by a fresh one (fresh state). On shutdown every plugin's
//! `cleanup` runs.
//!
//! # Metrics
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `bifrost_wasm_requests_total` | counter | `route`, `kind`, `status` |
//! | `bifrost_wasm_hook_duration_seconds` | histogram | `plugin`, `hook` |
//! | `bifrost_wasm_hook_calls_total` | counter | `plugin`, `hook`, `outcome` |
//! | `bifrost_wasm_instance_replacements_total` | counter | `plugin` |
//! | `bifrost_wasm_plugin_memory_bytes` | gauge | `plugin`, `instance` |
//! | `bifrost_wasm_upstream_duration_seconds` | histogram | `provider`, `outcome` |
//! | `bifrost_wasm_reloads_total` | counter | `result` |
//!
//! `route` is one of the routes above or `unmatched`; `kind` is Bifrost's `RequestType` name
//! (`chat_completion`, `text_completion_stream`, `embedding`, `responses_stream`, `speech`,
//! `transcription`, `image_generation`, `list_models`, ...; `none` for an unmatched path). Hook outcomes are `passed`, `changed`, `short_circuited`, `dropped`, `error` (reported
//! by the plugin) and, for failed calls, `trap`, `timeout`, `limit` (memory, stack, input or
//! output cap) and `invalid_output`; a stream's chunk calls enter the duration histogram at
//! their per-request mean. A replacement is a failed call that cost the instance. Memory is
//! read at scrape time (a pool's idle instances). The upstream histogram's `outcome` is `ok` or
//! `error`, and a stream's time is the time to its start; a reload's `result` is `ok` or
//! `failed`. `GET /metrics` itself runs no plugin and is not counted.
//!
//! # Reloading
//!
//! A request takes the chain current when it arrives and keeps it to its end.
//! [`Gateway::with_watch`] (`serve --watch`) replaces the chain while the gateway serves, when a
//! plugin file or the config file changes: changed plugins are loaded and `init`ed off the
//! request path, unchanged ones are kept with their instances and state, and the new chain is
//! swapped in only once everything loaded; requests in flight finish on the old one, and the
//! replaced instances are cleaned up when the last of them is done.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use config::{
    ConfigError, FailurePolicy, FileConfig, LimitsConfig, Placement, PluginEntry, ProviderConfig,
    RequestShape, UpstreamTimeouts,
};

pub mod adapter;
pub mod anthropic;
pub mod config;
mod http_json;
mod listen;
mod metrics;
mod mock;
pub mod multipart;
mod plugins;
pub mod provider;
mod reload;
mod server;
pub mod sse;
mod turns;

/// Everything the gateway needs: the listen address, provider, limits, request shape and the
/// plugin entries. Build it from a config file ([`GatewayConfig::from_file`]) and override with
/// command-line flags.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Listen address; port 0 picks a free port (see [`Gateway::local_addr`]).
    pub listen: SocketAddr,
    /// Which shape `pre_hook` requests (and `post_hook` responses) take.
    pub request_shape: RequestShape,
    /// The LLM provider.
    pub provider: ProviderConfig,
    /// Body limit and plugin limits.
    pub limits: LimitsConfig,
    /// Plugin entries (all of them; disabled ones are skipped; order from placement/order).
    pub plugins: Vec<PluginEntry>,
    /// Directory of the compiled-module cache (`None`: compile every plugin at start-up).
    /// `bifrost-wasm serve` uses the same cache as the other commands.
    pub cache_dir: Option<PathBuf>,
    /// For measuring only: hold one lock over every whole chain step, for all plugins at
    /// once, as the gateway did before each plugin was locked only while its own hook runs.
    /// Off by default; it makes the gateway run one chain step at a time.
    pub serialize_plugin_steps: bool,
    /// Record every hook call into this folder (`serve --record DIR`; see
    /// [`bifrost_wasm_chain::record`]).
    pub record_dir: Option<PathBuf>,
    /// Keep secret header values in recordings (off: they are redacted).
    pub record_secrets: bool,
    /// Gateway keys clients must present (see [`config::GatewaySection::keys`]).
    pub keys: Vec<String>,
    /// Listen on a non-loopback address without keys (`--allow-unauthenticated`).
    pub allow_unauthenticated: bool,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig::from_file_config(FileConfig::default())
    }
}

impl GatewayConfig {
    /// Reads a Bifrost-style config.json (its `plugins` array and our `gateway` section).
    pub fn from_file(path: impl AsRef<Path>) -> Result<GatewayConfig, GatewayError> {
        Ok(GatewayConfig::from_file_config(FileConfig::load(path.as_ref())?))
    }

    /// Takes a parsed config file.
    pub fn from_file_config(file: FileConfig) -> GatewayConfig {
        GatewayConfig {
            listen: file.gateway.listen,
            request_shape: file.gateway.request_shape,
            provider: file.gateway.provider,
            limits: file.gateway.limits,
            plugins: file.plugins,
            cache_dir: None,
            serialize_plugin_steps: false,
            record_dir: None,
            record_secrets: false,
            keys: file.gateway.keys,
            allow_unauthenticated: false,
        }
    }

    /// Appends an enabled plugin from a `.wasm` path (the `--plugin` flag). It is named after
    /// the file (`hello-world` for `build/hello-world.wasm`, with `-2`, `-3`... for repeats) and
    /// runs after the plugins already configured.
    pub fn add_plugin(&mut self, path: impl Into<PathBuf>) -> &mut PluginEntry {
        let path = path.into();
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "plugin".to_string());
        let mut name = stem.clone();
        let mut n = 1;
        while self.plugins.iter().any(|p| p.name == name) {
            n += 1;
            name = format!("{stem}-{n}");
        }
        let order = self
            .plugins
            .iter()
            .filter(|p| p.placement == Placement::PostBuiltin)
            .map(|p| p.order)
            .max()
            .unwrap_or(0);
        let index = self.plugins.len();
        self.plugins.push(PluginEntry {
            path,
            name,
            enabled: true,
            config: None,
            placement: Placement::PostBuiltin,
            order,
            version: None,
            failure_policy: FailurePolicy::Default,
            pool: None,
            index,
        });
        self.plugins.last_mut().expect("just pushed")
    }

    /// Sets the directory of the compiled-module cache (`None` turns it off).
    pub fn with_cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.cache_dir = dir;
        self
    }

    /// Records every hook call into `dir`, one JSON file per call (secret header values
    /// redacted unless `keep_secrets`); `bifrost-wasm replay` runs them through a plugin again.
    pub fn with_record(mut self, dir: Option<PathBuf>, keep_secrets: bool) -> Self {
        self.record_dir = dir;
        self.record_secrets = keep_secrets;
        self
    }

    /// Sets the listen address.
    pub fn with_listen(mut self, listen: SocketAddr) -> Self {
        self.listen = listen;
        self
    }

    /// Sets the request shape sent to plugins.
    pub fn with_request_shape(mut self, shape: RequestShape) -> Self {
        self.request_shape = shape;
        self
    }

    /// Sets the provider.
    pub fn with_provider(mut self, provider: ProviderConfig) -> Self {
        self.provider = provider;
        self
    }

    /// Sets the largest accepted request body.
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.limits.max_body_bytes = bytes;
        self
    }
}

/// Why the gateway could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The config file is wrong.
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    /// The wasm host could not be created with these limits.
    #[error("cannot create the plugin host: {0}")]
    Host(String),
    /// A plugin could not be loaded or initialised.
    #[error("{location}: cannot load plugin {path}: {message}")]
    Plugin {
        /// The config entry (`plugins[0] ("hello-world")`).
        location: String,
        /// The `.wasm` path.
        path: String,
        /// The host's error.
        message: String,
    },
    /// The provider configuration is unusable.
    #[error("provider: {0}")]
    Provider(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}; is another server using the port?")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("server error: {0}")]
    Serve(std::io::Error),
    /// Re-reading the configuration for a reload failed.
    #[error("cannot read the configuration again: {0}")]
    Reconfigure(String),
    /// A non-loopback listen address without gateway keys.
    #[error(
        "refusing to listen on {0} without gateway keys: anyone who can reach it could use the \
         provider and the plugins; set `gateway.keys` in the config file or \
         BIFROST_WASM_GATEWAY_KEYS (comma-separated), listen on 127.0.0.1, or pass \
         --allow-unauthenticated"
    )]
    Unauthenticated(SocketAddr),
    /// The recording folder cannot be written.
    #[error("cannot record hook calls in {dir}: {source}")]
    Record {
        /// The folder.
        dir: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// A bound gateway, ready to serve.
pub struct Gateway {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    state: Arc<server::AppState>,
    current: Arc<reload::Current>,
    recorder: Option<Arc<bifrost_wasm_chain::record::Recorder>>,
    watch: Option<reload::Watch>,
    shape: RequestShape,
    serialize_steps: bool,
    limits: listen::ConnectionLimits,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("addr", &self.addr)
            .field("plugins", &self.plugin_names())
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Loads and `init`s the plugins, builds the provider and binds the listen address.
    pub async fn bind(config: GatewayConfig) -> Result<Gateway, GatewayError> {
        if !config.listen.ip().is_loopback() && config.keys.is_empty() && !config.allow_unauthenticated {
            return Err(GatewayError::Unauthenticated(config.listen));
        }
        let provider = provider::Provider::from_config(&config.provider).map_err(GatewayError::Provider)?;
        let load_config = config.clone();
        let (loaded, recorder) = tokio::task::spawn_blocking(move || {
            Ok::<_, GatewayError>((
                plugins::load(&load_config, &[])?,
                plugins::recorder(&load_config)?,
            ))
        })
        .await
        .map_err(|e| GatewayError::Host(format!("plugin loading panicked: {e}")))??;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| GatewayError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(GatewayError::Serve)?;
        let metrics = Arc::new(metrics::Metrics::new());
        let live = reload::Live::new(
            loaded.plugins,
            config.request_shape,
            recorder.as_ref(),
            &metrics,
            config.serialize_plugin_steps,
        );
        let plugins = live.plugins.len();
        let current = Arc::new(reload::Current::new(live));
        let state = Arc::new(server::AppState::new(
            current.clone(),
            provider,
            config.limits.max_body_bytes,
            metrics,
            config.limits.max_concurrent_requests,
            config.keys.clone(),
        ));
        tracing::info!(
            "bifrost-wasm gateway listening on http://{addr} (provider {}, request shape {}, {plugins} plugin(s), body limit {} bytes)",
            state.provider.name(),
            config.request_shape,
            config.limits.max_body_bytes
        );
        if let Some(recorder) = &recorder {
            tracing::info!("recording every hook call in {}", recorder.dir().display());
        }
        Ok(Gateway {
            listener,
            addr,
            state,
            current,
            recorder,
            watch: None,
            shape: config.request_shape,
            serialize_steps: config.serialize_plugin_steps,
            limits: listen::ConnectionLimits {
                header_read_timeout: Duration::from_millis(config.limits.header_read_timeout_ms),
                max_header_bytes: config.limits.max_header_bytes,
            },
        })
    }

    /// Reloads plugins while serving (`serve --watch`): every `every`, the config file (if
    /// any) and every plugin file are looked at; when one changed, `reconfigure` builds the
    /// configuration again and the plugins are reloaded off the request path. Plugins whose
    /// entry and file did not change keep their instances and state; the others are compiled
    /// and `init`ed and swapped in atomically (requests in flight finish on the old ones, whose
    /// `cleanup` runs once they are done). A broken file, a config that does not parse or an
    /// `init` that fails keeps the running plugins and logs why.
    pub fn with_watch(
        mut self,
        config_file: Option<PathBuf>,
        reconfigure: impl Fn() -> Result<GatewayConfig, String> + Send + Sync + 'static,
        every: Duration,
    ) -> Self {
        self.watch = Some(reload::Watch {
            config_file,
            reconfigure: Arc::new(reconfigure),
            every,
        });
        self
    }

    /// The bound address (the real port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Names of the plugins in chain order.
    pub fn plugin_names(&self) -> Vec<String> {
        self.current
            .get()
            .plugins
            .iter()
            .map(|p| p.entry.name.clone())
            .collect()
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight and calls every
    /// plugin's `cleanup`.
    pub async fn serve_until<F>(self, shutdown: F) -> Result<(), GatewayError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Gateway {
            listener,
            state,
            current,
            recorder,
            watch,
            shape,
            serialize_steps,
            limits,
            ..
        } = self;
        let watcher = watch.map(|watch| {
            tokio::spawn(reload::watch(
                watch,
                current.clone(),
                recorder.clone(),
                state.metrics.clone(),
                shape,
                serialize_steps,
            ))
        });
        let router = server::router(state.clone());
        listen::serve(listener, router, limits, shutdown).await;
        if let Some(watcher) = watcher {
            watcher.abort();
            let _ = watcher.await;
        }
        // Only the instances are kept: cleanup waits for the chain's last holder to go.
        let slots = current.get().slots();
        drop(state);
        drop(current);
        tracing::info!("shutting down: calling cleanup of {} plugin(s)", slots.len());
        let cleaned = tokio::task::spawn_blocking(move || plugins::cleanup(slots, Duration::from_secs(5)))
            .await
            .unwrap_or(0);
        if let Some(recorder) = recorder {
            tokio::task::spawn_blocking(move || {
                recorder.flush();
                tracing::info!(
                    "recorded {} hook call(s) in {}",
                    recorder.recorded(),
                    recorder.dir().display()
                );
            })
            .await
            .ok();
        }
        tracing::info!("gateway stopped ({cleaned} plugin(s) cleaned up)");
        Ok(())
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn serve(self) -> Result<(), GatewayError> {
        self.serve_until(shutdown_signal()).await
    }
}

/// Completes on Ctrl-C or (on Unix) SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
