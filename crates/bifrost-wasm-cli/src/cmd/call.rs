//! `bifrost-wasm call PLUGIN.wasm HOOK [--input FILE|-] [--config JSON|FILE] [--shape SHAPE]`:
//! run one hook and print its output.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;

use crate::common::{fmt_duration, read_input, resolve_config, usage, HookArg, HostArgs, ShapeArg, EXIT_OK};
use crate::{contract, json, seed};

/// Arguments of `call`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = crate::common::EXIT_CODES_HELP,
    long_about = "Run one hook of a plugin and print its output JSON (pretty, exactly as the plugin \
                  wrote it: numbers and key order untouched) on stdout; how long the call took goes to \
                  stderr.\n\nWithout --input the hook gets the seed document's example input: pre_hook's \
                  flat request wrapped in --shape, post_hook's response in the matching layout; \
                  http_post_hook and http_stream_chunk_hook get inputs built from the seed's HTTP \
                  request, HTTP response and chat response."
)]
pub struct Args {
    /// The plugin: a .wasm file (or .wat text).
    #[arg(value_name = "PLUGIN.wasm")]
    pub plugin: PathBuf,

    /// The hook to run (its export name).
    #[arg(value_name = "HOOK", value_enum, hide_possible_values = false)]
    pub hook: HookArg,

    /// The input JSON: a file, or - for standard input [default: the seed's example].
    #[arg(long, value_name = "FILE|-")]
    pub input: Option<PathBuf>,

    /// The plugin's configuration for `init`: JSON text or a file holding it [default: none,
    /// i.e. length 0].
    #[arg(long, value_name = "JSON|FILE")]
    pub config: Option<String>,

    /// Request layout of the example input (pre_hook's request, post_hook's response).
    #[arg(long, value_enum, value_name = "SHAPE", conflicts_with = "input")]
    pub shape: Option<ShapeArg>,

    /// Send the --input bytes as they are, even if they are not valid JSON (to see how the
    /// plugin handles bad input).
    #[arg(long, requires = "input")]
    pub raw_input: bool,

    /// Print the output exactly as the plugin returned it instead of re-indented.
    #[arg(long)]
    pub compact: bool,

    #[command(flatten)]
    pub host: HostArgs,
}

/// Runs the hook and prints its output.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let hook = args.hook.hook();
    let config = match &args.config {
        Some(arg) => resolve_config(arg)?,
        None => None,
    };
    let input = match &args.input {
        Some(path) => {
            let bytes = read_input(path)?;
            if !args.raw_input {
                check_input_json(&bytes, path)?;
            }
            bytes
        }
        None => seed::example_input(hook, args.shape.unwrap_or_default().shape()).into_bytes(),
    };

    let started = Instant::now();
    let plugin = args.host.load(&args.plugin)?;
    let load_time = started.elapsed();
    let who = format!("plugin `{}` ({})", plugin.name(), args.plugin.display());
    if !plugin.has_hook(hook) {
        let implemented: Vec<&str> = plugin.info().hooks.iter().map(|h| h.export).collect();
        let list = if implemented.is_empty() {
            "none".to_string()
        } else {
            implemented.join(", ")
        };
        anyhow::bail!(
            "{who} does not export `{}` (it implements: {list}); Bifrost passes data through a hook a \
             plugin lacks. Call one of the hooks it implements",
            hook.export_names().join("` or `")
        );
    }

    let started = Instant::now();
    let mut instance = plugin
        .instantiate(config.as_deref())
        .with_context(|| format!("cannot start {who}"))?;
    let init_time = started.elapsed();

    let started = Instant::now();
    let output = instance
        .call(hook, &input)
        .with_context(|| format!("`{hook}` of {who} failed"))?;
    let call_time = started.elapsed();

    if args.compact {
        println!("{output}");
    } else {
        println!("{}", json::pretty(&output));
    }
    eprintln!(
        "{hook} took {} (load {}{}, instantiate + init {})",
        fmt_duration(call_time),
        fmt_duration(load_time),
        if plugin.load_report().cache_hit {
            ", from the compiled-module cache"
        } else {
            ""
        },
        fmt_duration(init_time)
    );
    if let Ok(tree) = json::parse(&output) {
        if let Some(message) = contract::reported_error(hook, &tree) {
            eprintln!(
                "note: the hook reported an error in `{}`: {message}",
                contract::error_field(hook)
            );
        }
    }
    Ok(ExitCode::from(EXIT_OK))
}

/// Refuses input that is not JSON, saying where it breaks.
fn check_input_json(bytes: &[u8], path: &std::path::Path) -> anyhow::Result<()> {
    let name = if path == std::path::Path::new("-") {
        "standard input".to_string()
    } else {
        path.display().to_string()
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        usage(format!(
            "--input {name} is not UTF-8 ({e}); pass --raw-input to send it anyway"
        ))
    })?;
    if text.trim().is_empty() {
        return Err(usage(format!(
            "--input {name} is empty; pass a JSON document (or --raw-input to send empty input)"
        )));
    }
    serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| {
        usage(format!(
            "--input {name} is not valid JSON ({e}); fix it, or pass --raw-input to send it anyway"
        ))
    })?;
    Ok(())
}
