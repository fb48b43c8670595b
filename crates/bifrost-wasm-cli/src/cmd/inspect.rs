//! `bifrost-wasm inspect PLUGIN.wasm [--json]`: what a plugin is, as the host sees it.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use bifrost_wasm_host::{
    AbiGeneration, AllocatorVariant, ErrorKind, ExportInfo, Hook, HostError, ImportInfo, ModuleInterface,
    PluginInfo,
};

use crate::common::{fmt_bytes, HostArgs, EXIT_OK};

/// Arguments of `inspect`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = crate::common::EXIT_CODES_HELP,
    long_about = "Show a plugin's name, size, ABI generation, allocator, WASI use, toolchain, memory, \
                  lifecycle exports, hooks, and every export and import with its type.\n\n`toolchain` \
                  says which toolchain built the plugin as far as the module shows it, and, in \
                  parentheses, from what: the `producers` custom section (rustc, clang and TinyGo write \
                  one unless the build strips it); AssemblyScript's runtime exports (__new, __pin, \
                  __collect, ...), its env imports (env.abort, absent when built with --use abort=) or \
                  its UTF-16 string objects in the data; the Rust standard library's source paths in \
                  the data (panic locations, kept by stripped builds); TinyGo's plugin_malloc with \
                  WASI. For AssemblyScript it also names the runtime when the module shows it (an \
                  exported __collect that does nothing is the stub runtime's). `unknown` when nothing \
                  says (a WAT fixture, say). It fits the advice of `check` and of trap messages to the \
                  toolchain. In --json: `toolchain.toolchain`, `toolchain.evidence` and, when known, \
                  `toolchain.assemblyscript_runtime` (stub or collecting)."
)]
pub struct Args {
    /// The plugin: a .wasm file (or .wat text).
    #[arg(value_name = "PLUGIN.wasm")]
    pub plugin: PathBuf,

    /// Print the description as JSON (the host's `PluginInfo`) instead of tables.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub host: HostArgs,
}

/// Loads the plugin and prints its description. A module that does not fit the plugin ABI
/// still gets its exports and imports listed (what it does offer), with every problem, and
/// the command fails.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let host = args.host.host()?;
    let plugin = match crate::common::load_plugin(&host, &args.plugin) {
        Ok(plugin) => plugin,
        Err(e) => {
            if let Some(ErrorKind::InvalidPlugin { problems }) =
                e.downcast_ref::<HostError>().map(HostError::kind)
            {
                if let Ok(interface) = std::fs::read(&args.plugin).map_err(|_| ()).and_then(|bytes| {
                    host.interface(&bytes, &args.plugin.display().to_string())
                        .map_err(|_| ())
                }) {
                    if args.json {
                        let report = serde_json::json!({
                            "source": args.plugin.display().to_string(),
                            "valid": false,
                            "problems": problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
                            "exports": interface.exports,
                            "imports": interface.imports,
                        });
                        println!("{}", serde_json::to_string_pretty(&report)?);
                    } else {
                        print!("{}", render_interface(&interface));
                    }
                }
            }
            return Err(e);
        }
    };
    let info = plugin.info();
    if args.json {
        println!("{}", serde_json::to_string_pretty(info)?);
    } else {
        print!("{}", render(info));
    }
    Ok(ExitCode::from(EXIT_OK))
}

/// How the ABI generation reads in the report.
pub fn describe_generation(info: &PluginInfo) -> String {
    let exports = |name: &str| info.exports.iter().any(|e| e.name == name);
    match info.abi_generation {
        AbiGeneration::Gen3HttpPreHook if exports("http_intercept") => {
            "generation 3 (http_pre_hook), also exports the generation 2 alias http_intercept".into()
        }
        AbiGeneration::Gen3HttpPreHook => "generation 3 (http_pre_hook)".into(),
        AbiGeneration::Gen2HttpIntercept => {
            "generation 2 (http_intercept, the seed's name; current Bifrost documents http_pre_hook)".into()
        }
        AbiGeneration::NoHttpPreHook => {
            "cannot tell: no HTTP pre-hook (http_pre_hook / http_intercept)".into()
        }
    }
}

/// How the allocator variant reads in the report.
pub fn describe_allocator(allocator: AllocatorVariant) -> &'static str {
    match allocator {
        AllocatorVariant::MallocFreeWithSize => "malloc(size) + free(ptr, size)",
        AllocatorVariant::MallocFree => "malloc(size) + free(ptr)",
        AllocatorVariant::MallocOnly => "malloc(size), no free (buffers are never returned)",
        AllocatorVariant::PluginMallocFree => "plugin_malloc(size) + plugin_free(ptr) (TinyGo style)",
        AllocatorVariant::PluginMallocFreeWithSize => "plugin_malloc(size) + plugin_free(ptr, size)",
        AllocatorVariant::PluginMallocOnly => {
            "plugin_malloc(size), no plugin_free (buffers are never returned)"
        }
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = |cells: Vec<&str>| {
        let mut text = String::from("  ");
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<w$}  ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// The exports and imports of a module that failed validation.
pub fn render_interface(interface: &ModuleInterface) -> String {
    let mut out = String::from("not a valid Bifrost plugin (the problems follow); what the module has:\n");
    render_exports_imports(&mut out, &interface.exports, &interface.imports);
    out
}

fn render_exports_imports(out: &mut String, exports: &[ExportInfo], imports: &[ImportInfo]) {
    let _ = writeln!(out, "\nexports ({})", exports.len());
    let rows: Vec<Vec<String>> = exports
        .iter()
        .map(|e| vec![e.name.clone(), e.ty.clone()])
        .collect();
    table(out, &["NAME", "TYPE"], &rows);

    let _ = writeln!(out, "\nimports ({})", imports.len());
    if imports.is_empty() {
        out.push_str("  (none)\n");
    } else {
        let rows: Vec<Vec<String>> = imports
            .iter()
            .map(|i| vec![format!("{}.{}", i.module, i.name), i.ty.clone()])
            .collect();
        table(out, &["NAME", "TYPE"], &rows);
    }
}

/// The human-readable report.
pub fn render(info: &PluginInfo) -> String {
    let mut out = String::new();
    let memory = match info.maximum_memory_bytes {
        Some(max) => format!(
            "{} initial, {} maximum",
            fmt_bytes(info.initial_memory_bytes),
            fmt_bytes(max)
        ),
        None => format!("{} initial, no maximum", fmt_bytes(info.initial_memory_bytes)),
    };
    let wasi = if info.wasi {
        let n = info
            .imports
            .iter()
            .filter(|i| i.module == "wasi_snapshot_preview1")
            .count();
        format!(
            "yes: imports {n} WASI preview 1 function{}",
            if n == 1 { "" } else { "s" }
        )
    } else {
        "no".to_string()
    };
    let fields = [
        ("name", info.name.clone()),
        ("file", info.source.clone()),
        (
            "size",
            format!(
                "{} bytes ({})",
                info.size_bytes,
                fmt_bytes(info.size_bytes as u64)
            ),
        ),
        ("abi", describe_generation(info)),
        ("allocator", describe_allocator(info.allocator).to_string()),
        ("wasi", wasi),
        // The toolchain that built it, with the signals it was read from (producers section,
        // runtime exports, imports, data); `unknown` when none says.
        ("toolchain", info.toolchain.describe()),
        ("memory", memory),
        (
            "lifecycle",
            format!(
                "init: {}, cleanup: {}, last_error: {}, start function: {}",
                yes_no(info.has_init),
                yes_no(info.has_cleanup),
                yes_no(info.has_last_error),
                info.start_function.as_deref().unwrap_or("none")
            ),
        ),
    ];
    for (key, value) in fields {
        let _ = writeln!(out, "{key:<15}{value}");
    }

    let implemented = Hook::ALL.iter().filter(|h| info.implements(**h)).count();
    let _ = writeln!(out, "\nhooks ({implemented} of {})", Hook::ALL.len());
    let rows: Vec<Vec<String>> = Hook::ALL
        .iter()
        .map(|hook| match info.hooks.iter().find(|h| h.hook == *hook) {
            Some(h) => vec![hook.name().to_string(), h.export.to_string()],
            None => vec![
                hook.name().to_string(),
                "- (not exported: pass-through)".to_string(),
            ],
        })
        .collect();
    table(&mut out, &["HOOK", "EXPORT"], &rows);

    render_exports_imports(&mut out, &info.exports, &info.imports);
    out
}
