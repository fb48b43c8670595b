//! What every subcommand shares: exit codes, error reporting, logging, host options,
//! loading a plugin, reading `--config` and `--input`.

use std::io::{IsTerminal as _, Read as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use bifrost_wasm_host::{ErrorKind, Hook, Host, HostConfig, LoadedPlugin};
use bifrost_wasm_types::shape::RequestShape;

/// Success: the command did what was asked (for `check`: no row failed).
pub const EXIT_OK: u8 = 0;

/// Stack size of the thread that runs a command: JSON trees in reports (outputs echoing a
/// document 10,000 levels deep, as Go's decoder accepts) are walked recursively. Only the pages
/// touched are ever committed.
pub const BIG_STACK: usize = 512 << 20;
/// The plugin failed: it does not load, a hook failed, `check` found a FAIL row, or the
/// server stopped with an error.
pub const EXIT_FAILURE: u8 = 1;
/// Usage error: bad arguments, a file that cannot be read, JSON given on the command line
/// or in a file that does not parse.
pub const EXIT_USAGE: u8 = 2;

/// The exit-code table shown in `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success (check: no row failed)
  1  the plugin failed: it does not load, a hook failed, check found a FAIL row,
     or the server stopped with an error
  2  usage error: bad arguments, an unreadable file, invalid JSON in --input/--config

Logging: RUST_LOG (e.g. RUST_LOG=debug) overrides -v; logs and timings go to stderr.";

/// An error caused by how the command was invoked (exit code [`EXIT_USAGE`]).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A usage error as an [`anyhow::Error`].
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}

/// Prints a failed command's error (`error: …` and one `caused by: …` line per cause) and
/// returns its exit code; passes a successful command's code through.
pub fn finish(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            // A cause whose text the message before it already quotes adds nothing.
            let mut said = error.to_string();
            for cause in error.chain().skip(1) {
                let text = cause.to_string();
                if !said.contains(&text) {
                    eprintln!("  caused by: {text}");
                }
                said = text;
            }
            if error.chain().any(|c| c.is::<UsageError>()) {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::from(EXIT_FAILURE)
            }
        }
    }
}

/// Installs the `tracing` subscriber (stderr; colours only on a terminal and without
/// `NO_COLOR`). `RUST_LOG` wins; otherwise `default_filter` at verbosity 0, then `info`,
/// `debug`, `trace` for `-v`, `-vv`, `-vvv`.
pub fn init_logging(verbose: u8, default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(&spec).unwrap_or_else(|e| {
            eprintln!("warning: ignoring RUST_LOG={spec:?}: {e}");
            EnvFilter::new(default_filter)
        }),
        _ => EnvFilter::new(match verbose {
            0 => default_filter,
            1 => "info",
            2 => "debug",
            _ => "trace",
        }),
    };
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// A hook named by one of its export names (`http_intercept` is the old name of
/// `http_pre_hook`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HookArg {
    /// The LLM request, before the provider is called.
    #[value(name = "pre_hook")]
    PreHook,
    /// The LLM response or error.
    #[value(name = "post_hook")]
    PostHook,
    /// The raw HTTP request.
    #[value(name = "http_pre_hook")]
    HttpPreHook,
    /// The generation 2 name of http_pre_hook.
    #[value(name = "http_intercept")]
    HttpIntercept,
    /// The HTTP response (non-streaming).
    #[value(name = "http_post_hook")]
    HttpPostHook,
    /// One streamed chunk.
    #[value(name = "http_stream_chunk_hook")]
    HttpStreamChunkHook,
}

impl HookArg {
    /// The hook.
    pub fn hook(self) -> Hook {
        match self {
            HookArg::PreHook => Hook::PreHook,
            HookArg::PostHook => Hook::PostHook,
            HookArg::HttpPreHook | HookArg::HttpIntercept => Hook::HttpPreHook,
            HookArg::HttpPostHook => Hook::HttpPostHook,
            HookArg::HttpStreamChunkHook => Hook::HttpStreamChunkHook,
        }
    }
}

/// The request shape sent to plugins (see `bifrost_wasm_types::shape`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ShapeArg {
    /// Go's `{"RequestType": …, "ChatRequest": {…}}`, as a Go host marshals it.
    #[default]
    GoEnvelope,
    /// The seed's flat `{"provider", "model", "input", "params"}`.
    Flat,
    /// `{"chat_request": {…}}`.
    Snake,
}

impl ShapeArg {
    /// The shape.
    pub fn shape(self) -> RequestShape {
        match self {
            ShapeArg::GoEnvelope => RequestShape::GoEnvelope,
            ShapeArg::Flat => RequestShape::Flat,
            ShapeArg::Snake => RequestShape::Snake,
        }
    }
}

/// Host limits and the compiled-module cache, shared by the commands that load a plugin.
#[derive(Debug, Clone, clap::Args)]
pub struct HostArgs {
    /// Deadline of one hook call in milliseconds; 0 turns it off.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub timeout_ms: u64,

    /// Largest linear memory a plugin instance may grow to, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_memory_mib: u64,

    /// Do not read or write the compiled-module cache.
    #[arg(long)]
    pub no_cache: bool,

    /// Directory of the compiled-module cache
    /// [default: $XDG_CACHE_HOME/bifrost-wasm or ~/.cache/bifrost-wasm].
    #[arg(long, value_name = "DIR", env = "BIFROST_WASM_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
}

impl HostArgs {
    /// The host configuration these options describe. The pooling allocator is off: a
    /// command-line run uses few instances, and pooling reserves memory for many.
    pub fn host_config(&self) -> HostConfig {
        let cache_dir = if self.no_cache {
            None
        } else {
            self.cache_dir.clone().or_else(HostConfig::default_cache_dir)
        };
        HostConfig::default()
            .with_deadline((self.timeout_ms > 0).then(|| Duration::from_millis(self.timeout_ms)))
            .with_memory_limit(usize::try_from(self.max_memory_mib << 20).unwrap_or(usize::MAX))
            .with_pooling(false)
            .with_cache_dir(cache_dir)
    }

    /// Creates the host.
    pub fn host(&self) -> anyhow::Result<Host> {
        Host::new(self.host_config()).map_err(|e| usage(e.to_string()))
    }

    /// Creates the host and loads the plugin at `path`.
    pub fn load(&self, path: &Path) -> anyhow::Result<LoadedPlugin> {
        let host = self.host()?;
        load_plugin(&host, path)
    }
}

/// Loads `path`; an unreadable file is a usage error, a module that does not load is a
/// plugin failure (its message lists every problem and what to do).
pub fn load_plugin(host: &Host, path: &Path) -> anyhow::Result<LoadedPlugin> {
    if path.is_dir() {
        return Err(usage(format!(
            "{} is a directory; pass the plugin's .wasm file (for a Rust plugin: \
             target/wasm32-unknown-unknown/release/<name>.wasm)",
            path.display()
        )));
    }
    match host.load_file(path) {
        Ok(plugin) => {
            let report = plugin.load_report();
            tracing::debug!(
                plugin = plugin.name(),
                cache_hit = report.cache_hit,
                compile = ?report.compile_time,
                total = ?report.total_time,
                "loaded"
            );
            Ok(plugin)
        }
        Err(e) if matches!(e.kind(), ErrorKind::ReadFile { .. }) => Err(usage(e.to_string())),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot load plugin {}", path.display()))),
    }
}

/// The plugin configuration given with `--config`: JSON text, or the path of a file holding
/// it. An empty value means "no configuration" (`init` gets length 0).
///
/// The value is taken as JSON when it parses as JSON; otherwise it must name a readable file
/// whose content parses as JSON (or is empty).
pub fn resolve_config(arg: &str) -> anyhow::Result<Option<String>> {
    let trimmed = arg.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let json_error = match serde_json::from_str::<serde::de::IgnoredAny>(trimmed) {
        Ok(_) => return Ok(Some(trimmed.to_string())),
        Err(e) => e,
    };
    let path = Path::new(arg);
    if !path.is_file() {
        let looks_like_json = trimmed.starts_with(['{', '[', '"']);
        return Err(usage(if looks_like_json {
            format!("--config is not valid JSON ({json_error}); quote it for the shell, e.g. --config '{{\"key\": \"value\"}}'")
        } else {
            format!(
                "--config {arg:?} is neither JSON ({json_error}) nor a file that exists; pass the \
                 plugin's configuration as JSON text or as the path of a .json file"
            )
        }));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("cannot read --config file {}: {e}", path.display())))?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str::<serde::de::IgnoredAny>(&text).map_err(|e| {
        usage(format!(
            "--config file {} is not valid JSON: {e}; the file must hold the plugin's `config` value",
            path.display()
        ))
    })?;
    Ok(Some(text))
}

/// Reads `--input`: a file path, or `-` for standard input.
pub fn read_input(arg: &Path) -> anyhow::Result<Vec<u8>> {
    if arg == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read the input from standard input")
            .map_err(|e| usage(format!("{e:#}")))?;
        return Ok(bytes);
    }
    std::fs::read(arg).map_err(|e| {
        usage(format!(
            "cannot read --input file {}: {e}; pass a JSON file, or - to read standard input",
            arg.display()
        ))
    })
}

/// A duration for people: `84.2 µs`, `1.23 ms`, `2.50 s`.
pub fn fmt_duration(d: Duration) -> String {
    let micros = d.as_secs_f64() * 1e6;
    if micros < 1000.0 {
        format!("{micros:.1} µs")
    } else if micros < 1e6 {
        format!("{:.2} ms", micros / 1e3)
    } else {
        format!("{:.2} s", micros / 1e6)
    }
}

/// A byte count for people: `812 B`, `37.5 KiB`, `1.06 MiB`.
pub fn fmt_bytes(n: u64) -> String {
    const KIB: f64 = 1024.0;
    let f = n as f64;
    if n < 1024 {
        format!("{n} B")
    } else if f < KIB * KIB {
        format!("{:.1} KiB", f / KIB)
    } else if f < KIB * KIB * KIB {
        format!("{:.2} MiB", f / (KIB * KIB))
    } else {
        format!("{:.2} GiB", f / (KIB * KIB * KIB))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_accepts_json_text_files_and_empty() {
        assert_eq!(resolve_config("").unwrap(), None);
        assert_eq!(resolve_config("null").unwrap().as_deref(), Some("null"));
        assert_eq!(resolve_config(" {} ").unwrap().as_deref(), Some("{}"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.json");
        std::fs::write(&file, "{\"a\": 1}\n").unwrap();
        assert_eq!(
            resolve_config(file.to_str().unwrap()).unwrap().as_deref(),
            Some("{\"a\": 1}\n")
        );
        std::fs::write(&file, "  \n").unwrap();
        assert_eq!(resolve_config(file.to_str().unwrap()).unwrap(), None);
    }

    #[test]
    fn config_errors_are_usage_errors_that_say_what_was_expected() {
        let e = resolve_config("{\"a\":").unwrap_err();
        assert!(e.is::<UsageError>());
        assert!(e.to_string().contains("not valid JSON"), "{e}");
        let e = resolve_config("no-such-file.json").unwrap_err();
        assert!(e.to_string().contains("neither JSON"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.json");
        std::fs::write(&file, "{oops}").unwrap();
        let e = resolve_config(file.to_str().unwrap()).unwrap_err();
        assert!(e.to_string().contains("is not valid JSON"), "{e}");
    }

    #[test]
    fn durations_and_sizes_read_naturally() {
        assert_eq!(fmt_duration(Duration::from_nanos(84_200)), "84.2 µs");
        assert_eq!(fmt_duration(Duration::from_micros(1234)), "1.23 ms");
        assert_eq!(fmt_duration(Duration::from_millis(2500)), "2.50 s");
        assert_eq!(fmt_bytes(812), "812 B");
        assert_eq!(fmt_bytes(38_400), "37.5 KiB");
        assert_eq!(fmt_bytes(1_114_112), "1.06 MiB");
    }
}
