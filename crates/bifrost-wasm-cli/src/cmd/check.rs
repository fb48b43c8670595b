//! `bifrost-wasm check PLUGIN.wasm [--config JSON|FILE] [--json]`: a conformance report any
//! plugin author can run, whatever language the plugin is written in.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use bifrost_wasm_host::{ErrorKind, Hook, HostError, LoadProblem, LoadedPlugin, PluginInstance};
use bifrost_wasm_types::shape::RequestShape;
use indicatif::{ProgressBar, ProgressStyle};

use crate::common::{
    fmt_bytes, fmt_duration, load_plugin, resolve_config, HostArgs, UsageError, EXIT_FAILURE, EXIT_OK,
};
use crate::contract::{self, Findings, Verdict};
use crate::corpus::{self, BadInput};
use crate::{json, seed};

/// Calls made before memory is measured (allocators settle, lazy statics initialise).
pub const WARMUP_CALLS: u32 = 200;

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = crate::common::EXIT_CODES_HELP,
    long_about = "Check a plugin against the Bifrost plugin contract and print one row per check \
                  (PASS, WARN or FAIL, with the reason and what to do). Exit code 0 when no row \
                  failed.\n\nChecks: exports and their types; get_name; init with an empty, null and {} \
                  config (and --config); every implemented hook on the seed's examples and on the three \
                  request shapes (go-envelope, flat, snake); lossless pass-through (inputs carrying \
                  sentinel fields named x_sentinel_* at the top level, in messages, params, choices and \
                  the chunk, with big integers, 1.0-style numbers and nulls: a sentinel lost or altered \
                  in an output that carries the payload fails the row (42 -> 42.0, which a Go int field \
                  refuses, and digits lost to a float round trip are alterations), a number only \
                  respelled with the same value (2.50 -> 2.5, 1e3 -> 1000.0) is a WARN, intended edits \
                  of known fields are listed as changes); a bad-input corpus (empty, invalid UTF-8, \
                  invalid JSON, null, not an object, wrong types, null fields, nesting 10,000 levels \
                  deep as Go's decoder accepts) that must never trap and must give a valid output; linear memory that does not grow over many calls; cleanup."
)]
pub struct Args {
    /// The plugin: a .wasm file (or .wat text).
    #[arg(value_name = "PLUGIN.wasm")]
    pub plugin: PathBuf,

    /// The plugin's configuration used for the hook checks: JSON text or a file holding it
    /// [default: none, i.e. length 0].
    #[arg(long, value_name = "JSON|FILE")]
    pub config: Option<String>,

    /// How to print the report: a table for people, JSON, or JUnit XML for a CI's test
    /// report (one test case per row; FAIL rows are failures, WARN rows pass and say why).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Same as `--format json`.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// Also write the report, in the chosen format, to this file (stdout still gets it).
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Calls per hook in the memory-growth check (after 200 warm-up calls).
    #[arg(long, value_name = "N", default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub calls: u32,

    #[command(flatten)]
    pub host: HostArgs,
}

/// The formats `check` prints its report in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The table for people.
    Human,
    /// The [`Report`] as JSON.
    Json,
    /// JUnit XML (one test suite, one test case per row).
    Junit,
}

/// One row of the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    /// What was checked.
    pub check: String,
    /// PASS, WARN or FAIL.
    pub result: Verdict,
    /// Why, and what to do about a WARN or FAIL.
    pub reason: String,
}

/// Counts per verdict.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Summary {
    /// Rows that passed.
    pub pass: usize,
    /// Rows with a warning.
    pub warn: usize,
    /// Rows that failed.
    pub fail: usize,
}

/// The whole report (what `--json` prints).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// The plugin's name, when it loaded.
    pub plugin: Option<String>,
    /// The file checked.
    pub file: String,
    /// True when no row failed.
    pub passed: bool,
    /// Counts per verdict.
    pub summary: Summary,
    /// The rows, in the order they were checked.
    pub rows: Vec<Row>,
}

impl Report {
    /// A report over `rows`, with its counts.
    pub fn new(plugin: Option<String>, file: String, rows: Vec<Row>) -> Report {
        let mut summary = Summary::default();
        for row in &rows {
            match row.result {
                Verdict::Pass => summary.pass += 1,
                Verdict::Warn => summary.warn += 1,
                Verdict::Fail => summary.fail += 1,
            }
        }
        Report {
            plugin,
            file,
            passed: summary.fail == 0,
            summary,
            rows,
        }
    }

    /// The human-readable table.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "check {} ({})\n",
            self.plugin
                .as_deref()
                .map_or("<not loaded>".to_string(), |n| format!("`{n}`")),
            self.file
        );
        let width = self
            .rows
            .iter()
            .map(|r| r.check.chars().count())
            .max()
            .unwrap_or(0)
            .max("CHECK".len());
        let _ = writeln!(out, "{:<width$}  RESULT  REASON", "CHECK");
        for row in &self.rows {
            let _ = writeln!(
                out,
                "{:<width$}  {:<6}  {}",
                row.check,
                row.result.label(),
                row.reason
            );
        }
        let s = &self.summary;
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let _ = writeln!(
            out,
            "\n{}: {} passed, {}, {} failed",
            plural(self.rows.len(), "check"),
            s.pass,
            plural(s.warn, "warning"),
            s.fail
        );
        if s.fail > 0 {
            let _ = writeln!(
                out,
                "FAILED: fix the rows marked FAIL; each reason says what went wrong and what to do"
            );
        }
        out
    }
}

/// Runs every check and prints the report.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(arg) => resolve_config(arg)?,
        None => None,
    };
    let host = args.host.host()?;
    let started = Instant::now();
    let report = match load_plugin(&host, &args.plugin) {
        Ok(plugin) => {
            let name = plugin.name().to_string();
            let mut checker = Checker::new(plugin, config, args.calls);
            checker.run_all();
            checker.progress.finish_and_clear();
            Report::new(Some(name), args.plugin.display().to_string(), checker.rows)
        }
        Err(e) if e.chain().any(|c| c.is::<UsageError>()) => return Err(e),
        Err(e) => Report::new(None, args.plugin.display().to_string(), load_failure_rows(&e)),
    };
    let format = if args.json { Format::Json } else { args.format };
    let text = match format {
        Format::Human => report.render(),
        Format::Json => serde_json::to_string_pretty(&report)? + "\n",
        Format::Junit => crate::junit::render(&report, started.elapsed().as_secs_f64()),
    };
    print!("{text}");
    if let Some(path) = &args.output {
        std::fs::write(path, &text)
            .map_err(|e| anyhow::anyhow!("cannot write the report to {}: {e}", path.display()))?;
    }
    eprintln!("checked in {}", fmt_duration(started.elapsed()));
    Ok(ExitCode::from(if report.passed { EXIT_OK } else { EXIT_FAILURE }))
}

fn row(check: impl Into<String>, result: Verdict, reason: impl Into<String>) -> Row {
    Row {
        check: check.into(),
        result,
        reason: reason.into(),
    }
}

/// Rows for a plugin that does not load: one per ABI problem.
fn load_failure_rows(error: &anyhow::Error) -> Vec<Row> {
    let host_error = error.downcast_ref::<HostError>();
    match host_error.map(HostError::kind) {
        Some(ErrorKind::InvalidPlugin { problems }) => {
            let mut rows = vec![row(
                "load",
                Verdict::Fail,
                format!(
                    "the plugin does not match the Bifrost plugin ABI ({} problem{}, listed below); no hook \
                     was run",
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" }
                ),
            )];
            for problem in problems {
                let check = match problem {
                    LoadProblem::MissingExport { name, .. } | LoadProblem::WrongExportType { name, .. } => {
                        format!("exports: {name}")
                    }
                    LoadProblem::UnsupportedImport { module, name, .. } => {
                        format!("imports: {module}.{name}")
                    }
                };
                rows.push(row(check, Verdict::Fail, problem.to_string()));
            }
            rows
        }
        Some(_) => vec![row(
            "load",
            Verdict::Fail,
            host_error.map(ToString::to_string).unwrap_or_default(),
        )],
        None => vec![row("load", Verdict::Fail, format!("{error:#}"))],
    }
}

/// The reason of an `init` row whose config the plugin refused, worded by what was refused
/// and what the plugin `accepted` (of "empty config", "null config", "{} config").
fn refusal(label: &str, code: i32, why: &str, accepted: &[&str]) -> String {
    let refused = format!("refused: init returned {code}{why}");
    if accepted.is_empty() {
        return format!(
            "{refused}; it accepts none of an empty, null or {{}} config, so it always needs a `config` \
             (Bifrost does not load a plugin whose init fails); an empty, null or {{}} config should mean \
             \"defaults\""
        );
    }
    let sent = match label {
        "init: null config" => {
            "the literal `null`, which `serve` sends for `\"config\": null` and a Go host may send for an \
             entry without `config` (Go marshals a missing value as null)"
        }
        "init: empty config" => {
            "an empty config (length 0), which `serve` sends for an entry without `config`"
        }
        _ => "`{}`, an empty JSON object",
    };
    format!(
        "{refused} for {sent}, though it accepts {}: Bifrost does not load a plugin whose init fails, so \
         treat this like the others (\"defaults\")",
        accepted.join(" and ")
    )
}

/// What to do about memory that grows (or will, for want of a `free`), fitted to the allocator
/// the plugin exports (`free(ptr, len)`, `free(ptr)`, none, TinyGo's `plugin_free`) and to its
/// toolchain: AssemblyScript's stub runtime never frees anything, whatever `free` does, and
/// upstream's TinyGo example frees nothing either.
fn memory_advice(info: &bifrost_wasm_host::PluginInfo) -> String {
    use bifrost_wasm_host::{AssemblyScriptRuntime, Toolchain};
    let (malloc, free) = info.allocator.export_names();
    // The free function, or the one to export.
    let free_name = free.unwrap_or(if malloc == "plugin_malloc" {
        "plugin_free"
    } else {
        "free"
    });
    // What the host does with the buffers, or cannot do.
    let host = match (free, info.allocator.free_arity()) {
        (Some(free), 2) => {
            format!("the host calls {free}(ptr, len) for the input and the output of every call")
        }
        (Some(free), _) => format!("the host calls {free}(ptr) for the input and the output of every call"),
        (None, _) => format!(
            "there is no `{free_name}` export, so the host can never hand the input and output buffers \
             back and memory grows with every call; export {free_name}(ptr, len) (or {free_name}(ptr)) \
             that releases what {malloc} handed out"
        ),
    };
    // A bump area for the host's buffers alone, rewound when the last one is freed.
    let bump = format!(
        "keep the host's buffers in a bump area of their own that {free_name} rewinds once none is live"
    );
    let collecting = format!(
        "build with `--runtime incremental` (or `--runtime minimal` and call `__collect()` at the start \
         of each hook), `__pin` in {malloc} and `__unpin` in {free_name}"
    );
    match info.toolchain.toolchain {
        Toolchain::AssemblyScript => match info.toolchain.assemblyscript_runtime {
            Some(AssemblyScriptRuntime::Stub) => format!(
                "{host}; this is an AssemblyScript build with the stub runtime, which never frees memory: \
                 nothing {malloc} hands out is given back, whatever {free_name} does; {collecting}, or \
                 {bump}"
            ),
            Some(AssemblyScriptRuntime::Collecting) => format!(
                "{host}; this is an AssemblyScript build with a collecting runtime (incremental or \
                 minimal): have {free_name} `__unpin` what {malloc} pinned with `__pin` so that the \
                 collector can take it back (with `--runtime minimal`, call `__collect()` at the start of \
                 each hook), and do not keep per-call data in globals"
            ),
            None => format!(
                "{host}; this is an AssemblyScript build: if it was built with `--runtime stub`, as \
                 upstream's example is, the stub runtime never frees memory and nothing {malloc} hands \
                 out is given back, whatever {free_name} does (upstream's free does nothing at all); \
                 {collecting}, or {bump}"
            ),
        },
        Toolchain::TinyGo => {
            let release = if free.is_some() {
                format!("; make {free_name} release what {malloc} handed out")
            } else {
                String::new()
            };
            format!(
                "{host}{release}: upstream's TinyGo example's plugin_free does nothing and its bump heap \
                 is only rewound by plugin_reset, which the host never calls; count the live buffers in \
                 {malloc} and {free_name} and rewind the heap when none is left, and do not keep per-call \
                 data"
            )
        }
        _ => match (free, info.allocator.free_arity()) {
            (Some(free), 2) => format!(
                "free what the host frees with {free}(ptr, len) (it calls it for the input and the output \
                 of every call) and do not keep per-call data"
            ),
            (Some(_), _) => format!(
                "{host}: make it release what {malloc} handed out (with one argument it must find the \
                 block's size itself, e.g. in a header {malloc} writes before the block), and do not keep \
                 per-call data"
            ),
            (None, _) => host,
        },
    }
}

/// The inputs of the example rows of `hook`: (label, input).
fn example_cases(hook: Hook) -> Vec<(&'static str, String)> {
    let example = |shape| seed::example_input(hook, shape);
    match hook {
        Hook::PreHook => vec![
            ("go-envelope request", example(RequestShape::GoEnvelope)),
            ("flat request (seed example)", example(RequestShape::Flat)),
            ("snake request", example(RequestShape::Snake)),
        ],
        Hook::PostHook => vec![
            ("go-envelope response", example(RequestShape::GoEnvelope)),
            ("chat_response (seed example)", example(RequestShape::Flat)),
        ],
        Hook::HttpPreHook => vec![("seed example", example(RequestShape::Flat))],
        Hook::HttpPostHook | Hook::HttpStreamChunkHook => {
            vec![("seed-based example", example(RequestShape::Flat))]
        }
    }
}

struct Checker {
    plugin: LoadedPlugin,
    config: Option<String>,
    calls: u32,
    rows: Vec<Row>,
    progress: ProgressBar,
    /// Implemented hooks with their export names.
    hooks: Vec<(Hook, &'static str)>,
    bad_inputs: Vec<BadInput>,
}

impl Checker {
    fn new(plugin: LoadedPlugin, config: Option<String>, calls: u32) -> Checker {
        let hooks: Vec<(Hook, &'static str)> =
            plugin.info().hooks.iter().map(|h| (h.hook, h.export)).collect();
        let bad_inputs = corpus::bad_inputs();
        let per_hook: u64 = hooks
            .iter()
            .map(|(hook, _)| {
                example_cases(*hook).len() as u64
                    + corpus::lossless_cases(*hook).len() as u64
                    + bad_inputs.len() as u64
                    + u64::from(WARMUP_CALLS)
                    + u64::from(calls)
            })
            .sum();
        let progress = ProgressBar::new(per_hook);
        progress.set_style(
            ProgressStyle::with_template("{msg} [{bar:25}] {pos}/{len} calls")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        Checker {
            plugin,
            config,
            calls,
            rows: Vec::new(),
            progress,
            hooks,
            bad_inputs,
        }
    }

    fn push(&mut self, check: impl Into<String>, (result, reason): (Verdict, String)) {
        self.rows.push(row(check, result, reason));
    }

    fn call(&self, instance: &mut PluginInstance, hook: Hook, input: &[u8]) -> Result<String, HostError> {
        self.progress.inc(1);
        instance.call(hook, input)
    }

    fn run_all(&mut self) {
        self.exports_rows();
        self.init_rows();
        let mut instance = match self.plugin.instantiate(self.config.as_deref()) {
            Ok(instance) => instance,
            Err(e) => {
                let reason = match (e.kind(), &self.config) {
                    (ErrorKind::InitFailed { .. }, None) => format!(
                        "not run: the plugin does not start without a configuration; pass one with \
                         --config JSON|FILE ({e})"
                    ),
                    (_, Some(_)) => format!("not run: no instance could be created with --config: {e}"),
                    (_, None) => format!("not run: no instance could be created with an empty config: {e}"),
                };
                self.push("hooks", (Verdict::Fail, reason));
                return;
            }
        };
        self.progress.set_message("hooks on examples");
        self.example_rows(&mut instance);
        self.progress.set_message("lossless pass-through");
        self.lossless_rows(&mut instance);
        self.progress.set_message("bad inputs");
        self.bad_input_rows(&mut instance);
        self.memory_rows();
        self.cleanup_row(instance);
    }

    fn exports_rows(&mut self) {
        let info = self.plugin.info().clone();
        let ty = |name: &str| {
            info.exports
                .iter()
                .find(|e| e.name == name)
                .map_or_else(String::new, |e| format!(" {}", e.ty))
        };
        self.push(
            "load",
            (
                Verdict::Pass,
                format!(
                    "compiled and validated; {} exports, {} imports",
                    info.exports.len(),
                    info.imports.len()
                ),
            ),
        );

        let (malloc, free) = info.allocator.export_names();
        let required = match free {
            Some(free) => (
                Verdict::Pass,
                format!(
                    "memory, {malloc}{}, {free}{}, get_name{}",
                    ty(malloc),
                    ty(free),
                    ty("get_name")
                ),
            ),
            None => (
                Verdict::Warn,
                format!(
                    "memory, {malloc}{}, get_name{}; {}",
                    ty(malloc),
                    ty("get_name"),
                    memory_advice(&info)
                ),
            ),
        };
        self.push("exports: required", required);

        let implemented: Vec<String> = self.hooks.iter().map(|(_, e)| e.to_string()).collect();
        let missing: Vec<&str> = Hook::ALL
            .iter()
            .filter(|h| !info.implements(**h))
            .map(|h| h.name())
            .collect();
        let gen2_only = info.exports.iter().any(|e| e.name == "http_intercept")
            && !info.exports.iter().any(|e| e.name == "http_pre_hook");
        let mut hooks_reason = if implemented.is_empty() {
            "implements no hook: Bifrost would load it and never call it".to_string()
        } else {
            format!("implements {}", implemented.join(", "))
        };
        if !missing.is_empty() && !implemented.is_empty() {
            let _ = write!(hooks_reason, "; pass-through: {}", missing.join(", "));
        }
        let hooks_verdict = if implemented.is_empty() {
            Verdict::Warn
        } else if gen2_only {
            hooks_reason.push_str(
                "; exports `http_intercept` (generation 2) but not `http_pre_hook`: hosts following the \
                 current Bifrost docs look up http_pre_hook; export both names (same function)",
            );
            Verdict::Warn
        } else {
            Verdict::Pass
        };
        self.push("exports: hooks", (hooks_verdict, hooks_reason));

        let mut present = Vec::new();
        let mut absent = Vec::new();
        for (name, has) in [
            ("init", info.has_init),
            ("cleanup", info.has_cleanup),
            ("last_error", info.has_last_error),
        ] {
            if has {
                present.push(name);
            } else {
                absent.push(name);
            }
        }
        let mut lifecycle = if present.is_empty() {
            "none of init, cleanup, last_error (all optional)".to_string()
        } else {
            present.join(", ")
        };
        if !absent.is_empty() && !present.is_empty() {
            let _ = write!(lifecycle, "; not exported (optional): {}", absent.join(", "));
        }
        if !info.has_last_error {
            lifecycle.push_str("; without last_error, traps are reported without the plugin's panic message");
        }
        self.push("exports: lifecycle", (Verdict::Pass, lifecycle));

        let imports = if info.imports.is_empty() {
            "none".to_string()
        } else {
            let mut kinds = Vec::new();
            if info.wasi {
                let n = info
                    .imports
                    .iter()
                    .filter(|i| i.module == "wasi_snapshot_preview1")
                    .count();
                kinds.push(format!(
                    "WASI preview 1 ({n} function{}; stdout/stderr become log lines)",
                    if n == 1 { "" } else { "s" }
                ));
            }
            if info.assemblyscript_abort {
                kinds.push("env.abort (AssemblyScript)".to_string());
            }
            kinds.join(", ")
        };
        self.push("imports", (Verdict::Pass, imports));

        let name = self.plugin.name();
        self.push(
            "get_name",
            if name.is_empty() {
                (
                    Verdict::Fail,
                    "returned an empty name: Bifrost registers a plugin under this name; return a non-empty \
                     UTF-8 name"
                        .to_string(),
                )
            } else {
                (Verdict::Pass, json::quote(name))
            },
        );
    }

    fn init_rows(&mut self) {
        if !self.plugin.info().has_init {
            self.push(
                "init",
                (
                    Verdict::Pass,
                    "not exported (optional): nothing to configure".into(),
                ),
            );
            return;
        }
        let mut cases: Vec<(&str, Option<String>)> = vec![
            ("init: empty config", None),
            ("init: null config", Some("null".into())),
            ("init: {} config", Some("{}".into())),
        ];
        if let Some(config) = &self.config {
            cases.push(("init: --config", Some(config.clone())));
        }
        // Each case's result first: a refusal is worded by what the plugin accepted.
        let results: Vec<(&str, Result<(), HostError>)> = cases
            .iter()
            .map(|(label, config)| (*label, self.plugin.instantiate(config.as_deref()).map(drop)))
            .collect();
        let accepted: Vec<&str> = results
            .iter()
            .filter(|(label, r)| r.is_ok() && *label != "init: --config")
            .map(|(label, _)| label.trim_start_matches("init: "))
            .collect();
        for (label, result) in results {
            let outcome = match result {
                Ok(()) => (Verdict::Pass, "returned 0".to_string()),
                // A deliberate refusal with a reason: allowed, but worded by what was refused.
                Err(e) => match e.kind() {
                    ErrorKind::InitFailed { code, last_error } if label != "init: --config" => {
                        let why = last_error.as_ref().map(|t| format!(" ({t})")).unwrap_or_default();
                        (Verdict::Warn, refusal(label, *code, &why, &accepted))
                    }
                    _ => (Verdict::Fail, e.to_string()),
                },
            };
            self.push(label, outcome);
        }
    }

    fn example_rows(&mut self, instance: &mut PluginInstance) {
        for (hook, export) in self.hooks.clone() {
            for (label, input) in example_cases(hook) {
                let outcome = match self.call(instance, hook, input.as_bytes()) {
                    Ok(output) => {
                        let tree = json::parse(&input).unwrap_or(json::Json::Null);
                        contract::examine(hook, &tree, &output).conclude("valid output, nothing changed")
                    }
                    Err(e) => (Verdict::Fail, e.to_string()),
                };
                self.push(format!("{export}: {label}"), outcome);
            }
        }
    }

    fn lossless_rows(&mut self, instance: &mut PluginInstance) {
        for (hook, export) in self.hooks.clone() {
            for case in corpus::lossless_cases(hook) {
                let label = match (hook, case.variant) {
                    (Hook::HttpPostHook, _) => format!("lossless: {export} (context)"),
                    (_, "") => format!("lossless: {export}"),
                    (_, variant) => format!("lossless: {export} {variant}"),
                };
                let outcome = match self.call(instance, hook, case.input.as_bytes()) {
                    Ok(output) => {
                        let tree = json::parse(&case.input).unwrap_or(json::Json::Null);
                        contract::lossless(hook, &tree, &output).conclude("nothing to compare")
                    }
                    Err(e) => (Verdict::Fail, e.to_string()),
                };
                self.push(label, outcome);
            }
        }
    }

    fn bad_input_rows(&mut self, instance: &mut PluginInstance) {
        let hooks = self.hooks.clone();
        if hooks.is_empty() {
            return;
        }
        for bad in self.bad_inputs.clone() {
            let mut failures = Vec::new();
            let mut warnings = Vec::new();
            let mut with_error = 0usize;
            for (hook, export) in &hooks {
                let findings = match self.call(instance, *hook, &bad.bytes) {
                    Ok(output) => contract::examine_bad(*hook, &output, bad.error_expected),
                    // The host words a trap by the input's syntax alone; this input is bad on
                    // purpose even where it is a valid JSON object ("wrong types").
                    Err(e) if matches!(e.kind(), ErrorKind::Trap { .. }) => Findings {
                        failures: vec![e
                            .with_hint(format!(
                                "The input was bad on purpose ({}): a hook must answer bad input with an \
                                 error field, never trap",
                                bad.name
                            ))
                            .to_string()],
                        ..Findings::default()
                    },
                    Err(e) => Findings {
                        failures: vec![e.to_string()],
                        ..Findings::default()
                    },
                };
                if !findings.failures.is_empty() {
                    failures.push(format!("{export}: {}", findings.failures.join("; ")));
                } else if !findings.warnings.is_empty() {
                    warnings.push(format!("{export}: {}", findings.warnings.join("; ")));
                } else if findings.notes.iter().any(|n| n == "error reported") {
                    with_error += 1;
                }
            }
            let n = hooks.len();
            let outcome = if !failures.is_empty() {
                let mut reason = failures.iter().take(2).cloned().collect::<Vec<_>>().join("; ");
                if failures.len() > 2 {
                    let _ = write!(reason, "; and {} more hooks", failures.len() - 2);
                }
                (Verdict::Fail, reason)
            } else if !warnings.is_empty() {
                (
                    Verdict::Warn,
                    format!(
                        "{}; a hook should say in its error field what was wrong with the input",
                        contract::list(&warnings, 2)
                    ),
                )
            } else {
                (
                    Verdict::Pass,
                    format!(
                        "{n} hook{} answered with a valid output ({with_error} with an error)",
                        if n == 1 { "" } else { "s" }
                    ),
                )
            };
            self.push(format!("bad input: {}", bad.name), outcome);
        }
    }

    fn memory_rows(&mut self) {
        for (hook, export) in self.hooks.clone() {
            self.progress.set_message(format!("memory: {export}"));
            let label = format!("memory: {export}");
            let outcome = self.memory_check(hook);
            self.push(label, outcome);
        }
    }

    fn memory_check(&self, hook: Hook) -> (Verdict, String) {
        let mut instance = match self.plugin.instantiate(self.config.as_deref()) {
            Ok(instance) => instance,
            Err(e) => return (Verdict::Fail, format!("cannot create a fresh instance: {e}")),
        };
        let input = seed::example_input(hook, RequestShape::GoEnvelope).into_bytes();
        for i in 0..WARMUP_CALLS {
            if let Err(e) = self.call(&mut instance, hook, &input) {
                self.progress
                    .inc(u64::from(WARMUP_CALLS - i - 1) + u64::from(self.calls));
                return (Verdict::Fail, format!("warm-up call {} failed: {e}", i + 1));
            }
        }
        let before = instance.memory_size();
        for i in 0..self.calls {
            if let Err(e) = self.call(&mut instance, hook, &input) {
                self.progress.inc(u64::from(self.calls - i - 1));
                return (
                    Verdict::Fail,
                    format!("call {} of {} failed: {e}", i + 1, self.calls),
                );
            }
        }
        let after = instance.memory_size();
        let calls = self.calls;
        if after > before {
            let grown = (after - before) as u64;
            (
                Verdict::Fail,
                format!(
                    "linear memory grew from {} to {} over {calls} calls after {WARMUP_CALLS} warm-up calls \
                     (about {} per call): {}",
                    fmt_bytes(before as u64),
                    fmt_bytes(after as u64),
                    fmt_bytes(grown / u64::from(calls).max(1)),
                    memory_advice(self.plugin.info())
                ),
            )
        } else {
            (
                Verdict::Pass,
                format!(
                    "stable at {} over {calls} calls after {WARMUP_CALLS} warm-up calls",
                    fmt_bytes(after as u64)
                ),
            )
        }
    }

    fn cleanup_row(&mut self, instance: PluginInstance) {
        let outcome = match instance.cleanup() {
            Ok(None) => (Verdict::Pass, "not exported (optional)".to_string()),
            Ok(Some(0)) => (Verdict::Pass, "returned 0".to_string()),
            Ok(Some(code)) => (
                Verdict::Warn,
                format!("returned {code}; 0 means success (Bifrost logs a non-zero result)"),
            ),
            Err(e) => (Verdict::Fail, e.to_string()),
        };
        self.push("cleanup", outcome);
    }
}
