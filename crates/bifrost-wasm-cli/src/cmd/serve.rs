//! `bifrost-wasm serve [CONFIG.json] [--plugin PATH]...`: a local OpenAI-compatible gateway that
//! sends every request through a plugin chain (a thin layer over `bifrost-wasm-gateway`).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use bifrost_wasm_gateway::{Gateway, GatewayConfig, GatewayError, ProviderConfig};

use crate::common::{resolve_config, usage, ShapeArg, EXIT_OK};

/// Which provider answers the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProviderArg {
    /// The embedded deterministic mock: no network, no key; echoes the last user message.
    Mock,
    /// An OpenAI-compatible API at --upstream-url, with the key from --api-key-env.
    Upstream,
}

/// Arguments of `serve`.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = crate::common::EXIT_CODES_HELP,
    long_about = "Run a local OpenAI- and Anthropic-compatible gateway that sends every request through \
                  the plugin chain in Bifrost's hook order, as the Bifrost request of its kind: POST \
                  /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/responses, \
                  /v1/audio/speech, /v1/audio/transcriptions (multipart), /v1/images/generations and \
                  /anthropic/v1/messages (streamed as server-sent events where the API streams); GET \
                  /v1/models; GET /health; GET /metrics. Plugins come from a Bifrost-style config.json \
                  (its `plugins` array, plus an optional `gateway` section) and from --plugin flags, which \
                  run after the configured ones. One log line per request says which plugins ran and \
                  what each did. Ctrl-C or SIGTERM stops it gracefully: requests in flight finish and \
                  every plugin's cleanup runs.\n\nExample: bifrost-wasm serve --plugin build/hello-world.wasm"
)]
pub struct Args {
    /// A Bifrost config.json: `plugins` array (path, name, enabled, config, placement, order)
    /// and an optional `gateway` section (listen, request_shape, provider, limits).
    #[arg(value_name = "CONFIG.json")]
    pub config: Option<PathBuf>,

    /// A plugin to run (repeatable; in the order given, after the config file's plugins).
    #[arg(long = "plugin", value_name = "PATH")]
    pub plugins: Vec<PathBuf>,

    /// Configuration for `init` of the --plugin given at the same position (repeatable):
    /// JSON text or a file holding it.
    #[arg(long = "plugin-config", value_name = "JSON|FILE")]
    pub plugin_configs: Vec<String>,

    /// Address to listen on [default: the config file's, else 127.0.0.1:8080]; port 0 picks a
    /// free port.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// The provider [default: the config file's, else mock].
    #[arg(long, value_enum)]
    pub provider: Option<ProviderArg>,

    /// Base URL of the OpenAI-compatible upstream, up to the version (e.g.
    /// https://api.openai.com/v1); implies --provider upstream.
    #[arg(long, value_name = "URL")]
    pub upstream_url: Option<String>,

    /// Environment variable holding the upstream API key [default: OPENAI_API_KEY].
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,

    /// Request layout sent to plugins [default: the config file's, else go-envelope].
    #[arg(long, value_enum, value_name = "SHAPE")]
    pub shape: Option<ShapeArg>,

    /// Largest accepted request body in bytes [default: the config file's, else 32 MiB].
    #[arg(long, value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,

    /// Deadline of one hook call in milliseconds [default: the config file's, else 1000].
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub hook_timeout_ms: Option<u64>,

    /// Largest linear memory of one plugin instance, in MiB [default: the config file's, else 256].
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_memory_mib: Option<u64>,

    /// Compile every plugin at start-up instead of using the compiled-module cache.
    #[arg(long)]
    pub no_cache: bool,

    /// Directory of the compiled-module cache
    /// [default: $XDG_CACHE_HOME/bifrost-wasm or ~/.cache/bifrost-wasm].
    #[arg(long, value_name = "DIR", env = "BIFROST_WASM_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Record every hook call (plugin, hook, input, output, outcome, time) as one JSON file in
    /// DIR, for `bifrost-wasm replay DIR plugin.wasm`. The values of the authorization,
    /// x-api-key and x-bf-vk headers are redacted.
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,

    /// Keep secret header values in recordings (with --record).
    #[arg(long, requires = "record")]
    pub record_secrets: bool,

    /// Reload plugins while serving: when a plugin's .wasm or the config file changes, the
    /// changed plugins are compiled and `init`ed off the request path and swapped in
    /// atomically (requests in flight finish on the old instances, whose `cleanup` then runs);
    /// a broken file or a failing `init` keeps the running plugin and logs why.
    #[arg(long)]
    pub watch: bool,

    /// Listen on a non-loopback address without gateway keys (`gateway.keys` or
    /// BIFROST_WASM_GATEWAY_KEYS): anyone who reaches the address can use the gateway.
    #[arg(long)]
    pub allow_unauthenticated: bool,

    /// How often --watch looks at the files, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 500, requires = "watch",
          value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub watch_interval_ms: u64,
}

/// The gateway configuration: the file (if any), then the flags on top.
pub fn gateway_config(args: &Args) -> anyhow::Result<GatewayConfig> {
    let mut config = match &args.config {
        Some(path) => GatewayConfig::from_file(path).map_err(|e| usage(e.to_string()))?,
        None => GatewayConfig::default(),
    };
    if args.plugin_configs.len() > args.plugins.len() {
        return Err(usage(format!(
            "{} --plugin-config value(s) but only {} --plugin: each --plugin-config belongs to the \
             --plugin at the same position",
            args.plugin_configs.len(),
            args.plugins.len()
        )));
    }
    for (i, path) in args.plugins.iter().enumerate() {
        let init = match args.plugin_configs.get(i) {
            Some(arg) => resolve_config(arg)?,
            None => None,
        };
        let entry = config.add_plugin(path.clone());
        if let Some(text) = init {
            entry.config = Some(
                serde_json::value::RawValue::from_string(text)
                    .map_err(|e| usage(format!("--plugin-config for {}: {e}", path.display())))?,
            );
        }
    }
    if let Some(listen) = args.listen {
        config = config.with_listen(listen);
    }
    if args.record.is_some() {
        config = config.with_record(args.record.clone(), args.record_secrets);
    }
    // Gateway keys from the environment, on top of the config file's.
    if let Ok(keys) = std::env::var("BIFROST_WASM_GATEWAY_KEYS") {
        config.keys.extend(
            keys.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(String::from),
        );
    }
    config.allow_unauthenticated = args.allow_unauthenticated;
    if let Some(shape) = args.shape {
        config = config.with_request_shape(shape.shape());
    }
    if let Some(bytes) = args.max_body_bytes {
        config = config.with_max_body_bytes(bytes);
    }
    if let Some(ms) = args.hook_timeout_ms {
        config.limits.hook_timeout_ms = Some(ms);
    }
    if let Some(mib) = args.max_memory_mib {
        config.limits.max_memory_bytes = Some(mib << 20);
    }
    if !args.no_cache {
        config = config.with_cache_dir(
            args.cache_dir
                .clone()
                .or_else(bifrost_wasm_host::HostConfig::default_cache_dir),
        );
    }
    let provider = match args.provider {
        Some(ProviderArg::Upstream) => Some(ProviderArg::Upstream),
        None if args.upstream_url.is_some() => Some(ProviderArg::Upstream),
        other => other,
    };
    match provider {
        Some(ProviderArg::Mock) => {
            if args.upstream_url.is_some() || args.api_key_env.is_some() {
                return Err(usage(
                    "--upstream-url and --api-key-env apply to --provider upstream, not mock",
                ));
            }
            if !matches!(config.provider, ProviderConfig::Mock { .. }) {
                config = config.with_provider(ProviderConfig::default());
            }
        }
        Some(ProviderArg::Upstream) => match &mut config.provider {
            // The config file's upstream, with the flags on top (its timeouts and name stay).
            ProviderConfig::OpenaiCompatible {
                base_url,
                api_key_env,
                ..
            } => {
                if let Some(url) = &args.upstream_url {
                    base_url.clone_from(url);
                }
                if let Some(key_env) = &args.api_key_env {
                    api_key_env.clone_from(key_env);
                }
            }
            ProviderConfig::Mock { .. } => {
                let Some(base_url) = args.upstream_url.clone() else {
                    return Err(usage(
                        "--provider upstream needs --upstream-url (e.g. https://api.openai.com/v1) or a \
                         `gateway.provider.base_url` in the config file",
                    ));
                };
                // Built through the config file's own format, so its defaults apply.
                let mut provider = serde_json::json!({"kind": "openai_compatible", "base_url": base_url});
                if let Some(key_env) = &args.api_key_env {
                    provider["api_key_env"] = key_env.clone().into();
                }
                let provider: ProviderConfig =
                    serde_json::from_value(provider).map_err(|e| usage(format!("upstream provider: {e}")))?;
                config = config.with_provider(provider);
            }
        },
        None => {
            if args.api_key_env.is_some()
                && !matches!(config.provider, ProviderConfig::OpenaiCompatible { .. })
            {
                return Err(usage("--api-key-env applies to --provider upstream"));
            }
            if let (Some(key_env), ProviderConfig::OpenaiCompatible { api_key_env, .. }) =
                (&args.api_key_env, &mut config.provider)
            {
                *api_key_env = key_env.clone();
            }
        }
    }
    Ok(config)
}

/// Starts the gateway and serves until Ctrl-C or SIGTERM.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = gateway_config(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bifrost-wasm-serve")
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async move {
        let provider = config.provider.name().to_string();
        let shape = config.request_shape;
        let mut gateway = Gateway::bind(config).await.map_err(gateway_error)?;
        if args.watch {
            let again = args.clone();
            gateway = gateway.with_watch(
                args.config.clone(),
                move || gateway_config(&again).map_err(|e| format!("{e:#}")),
                std::time::Duration::from_millis(args.watch_interval_ms),
            );
        }
        let plugins = gateway.plugin_names();
        println!(
            "bifrost-wasm gateway listening on http://{} (plugins: {}; provider: {provider}; request shape: {shape})",
            gateway.local_addr(),
            if plugins.is_empty() {
                "none".to_string()
            } else {
                plugins.join(", ")
            }
        );
        let _ = std::io::stdout().flush();
        gateway.serve().await.map_err(gateway_error)
    })?;
    Ok(ExitCode::from(EXIT_OK))
}

/// Configuration mistakes are usage errors (exit 2); everything else is a failure (exit 1).
fn gateway_error(error: GatewayError) -> anyhow::Error {
    match error {
        GatewayError::Config(_) | GatewayError::Provider(_) | GatewayError::Unauthenticated(_) => {
            usage(error.to_string())
        }
        other => anyhow::Error::new(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn config(argv: &[&str]) -> anyhow::Result<GatewayConfig> {
        let cli = Cli::try_parse_from(std::iter::once("serve").chain(argv.iter().copied()))?;
        gateway_config(&cli.args)
    }

    #[test]
    fn plugin_flags_append_entries_with_their_configs() {
        let c = config(&[
            "--plugin",
            "a/hello.wasm",
            "--plugin",
            "b/hello.wasm",
            "--plugin-config",
            "{\"mock\": false}",
        ])
        .unwrap();
        let names: Vec<&str> = c.plugins.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["hello", "hello-2"]);
        assert_eq!(
            c.plugins[0].config.as_ref().map(|c| c.get()),
            Some("{\"mock\": false}")
        );
        assert!(c.plugins[1].config.is_none());
        assert!(matches!(c.provider, ProviderConfig::Mock { .. }));
    }

    #[test]
    fn serve_uses_the_module_cache_unless_told_not_to() {
        let dir = config(&["--cache-dir", "/tmp/some-cache"]).unwrap().cache_dir;
        assert_eq!(dir, Some(PathBuf::from("/tmp/some-cache")));
        assert_eq!(config(&["--no-cache"]).unwrap().cache_dir, None);
    }

    #[test]
    fn upstream_url_implies_the_upstream_provider() {
        let c = config(&[
            "--upstream-url",
            "http://127.0.0.1:9/v1",
            "--api-key-env",
            "MY_KEY",
        ])
        .unwrap();
        match c.provider {
            ProviderConfig::OpenaiCompatible {
                base_url,
                api_key_env,
                ..
            } => {
                assert_eq!(base_url, "http://127.0.0.1:9/v1");
                assert_eq!(api_key_env, "MY_KEY");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn inconsistent_flags_are_usage_errors() {
        for argv in [
            &["--provider", "upstream"][..],
            &["--provider", "mock", "--upstream-url", "http://x/v1"],
            &["--api-key-env", "K"],
            &["--plugin-config", "{}"],
        ] {
            let e = config(argv).unwrap_err();
            assert!(e.is::<crate::common::UsageError>(), "{argv:?}: {e}");
        }
    }

    #[test]
    fn flags_override_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        std::fs::write(
            &file,
            r#"{"plugins": [{"path": "p.wasm", "name": "p", "enabled": true}],
                "gateway": {"listen": "127.0.0.1:9000", "request_shape": "snake"}}"#,
        )
        .unwrap();
        let c = config(&[
            file.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--shape",
            "flat",
        ])
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(c.request_shape, bifrost_wasm_gateway::RequestShape::Flat);
        assert_eq!(c.plugins[0].path, dir.path().join("p.wasm"));
    }
}
