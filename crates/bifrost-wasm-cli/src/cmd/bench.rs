//! `bifrost-wasm bench PLUGIN.wasm [--against OTHER.wasm]… [--hooks …] [--input FILE]
//! [--iterations N] [--json]`: warm per-hook latency, fresh-instance cost, module load time
//! and linear memory, optionally against one or more baseline plugins measured in the same
//! run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bifrost_wasm_host::{Hook, Host, PluginInstance};
use bifrost_wasm_types::bench_inputs::BENCH_INPUTS;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use crate::common::{fmt_bytes, load_plugin, read_input, resolve_config, usage, HookArg, HostArgs, EXIT_OK};

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = crate::common::EXIT_CODES_HELP,
    long_about = "Measure a plugin the way a host runs it: warm-instance latency of each hook \
                  (p50, p99, mean, calls/s) on built-in realistic inputs (a 225 B and a 7.9 KB chat \
                  pre_hook, a mock-model pre_hook, a 1 KB post_hook, 0.5 KB and 10 KB http_pre_hooks \
                  with base64 bodies, an http_post_hook, a stream chunk), the cost of a fresh \
                  instance (pooling allocator on and off), module load time with and without the \
                  compiled-module cache, and linear memory after the calls.\n\nWith --against, \
                  baseline plugins are measured in the same run (repeat --against for several: \
                  B, C, …): each iteration calls every plugin once, the order rotated every \
                  iteration so that each plugin takes each place equally often, and each row \
                  shows one ratio per baseline (OTHER time / PLUGIN time: above 1 means PLUGIN \
                  is faster).\n\nEach call is the \
                  host's full round trip (malloc, write, call, read, free both buffers, UTF-8 and \
                  JSON check of the output), timed one by one."
)]
pub struct Args {
    /// The plugin to measure: a .wasm file (or .wat text).
    #[arg(value_name = "PLUGIN.wasm")]
    pub plugin: PathBuf,

    /// A baseline plugin measured in the same run, interleaved call by call; repeat for
    /// several baselines (one ratio column each).
    #[arg(long, value_name = "OTHER.wasm")]
    pub against: Vec<PathBuf>,

    /// Only these hooks (comma-separated export names) [default: every hook with a built-in
    /// input; with --input: pre_hook].
    #[arg(long, value_enum, value_delimiter = ',', value_name = "HOOK,...")]
    pub hooks: Vec<HookArg>,

    /// Use this input (a JSON file, or - for standard input) instead of the built-in ones,
    /// sent to each hook of --hooks.
    #[arg(long, value_name = "FILE|-")]
    pub input: Option<PathBuf>,

    /// Timed calls per row and plugin.
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(10..))]
    pub iterations: u32,

    /// Untimed calls per row and plugin before timing [default: a tenth of --iterations].
    #[arg(long, value_name = "N")]
    pub warmup: Option<u32>,

    /// Fresh instances created per plugin and allocator mode for the instance cost.
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub instances: u32,

    /// Module loads per plugin and cache mode for the load time (compiling is slow).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub loads: u32,

    /// The plugin's configuration for `init`: JSON text or a file holding it [default: none].
    #[arg(long, value_name = "JSON|FILE")]
    pub config: Option<String>,

    /// The --against plugins' configuration [default: none]: given once, for every --against
    /// plugin; given once per --against, for each in the same order.
    #[arg(long, value_name = "JSON|FILE", requires = "against")]
    pub against_config: Vec<String>,

    /// Print the results as JSON on stdout instead of tables.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub host: HostArgs,
}

/// One measured input.
struct Row {
    name: String,
    hook: Hook,
    input: Vec<u8>,
}

/// Latency statistics of one plugin on one row.
#[derive(Debug, Clone, Copy)]
struct Stats {
    p50: Duration,
    p99: Duration,
    mean: Duration,
    min: Duration,
}

impl Stats {
    fn of(samples: &mut [Duration]) -> Stats {
        samples.sort_unstable();
        let n = samples.len();
        let total: Duration = samples.iter().sum();
        Stats {
            p50: samples[n / 2],
            p99: samples[(n * 99 / 100).min(n - 1)],
            mean: total / n as u32,
            min: samples[0],
        }
    }

    fn calls_per_sec(&self) -> f64 {
        1.0 / self.mean.as_secs_f64().max(1e-12)
    }

    fn to_json(self) -> Value {
        json!({
            "p50_ns": self.p50.as_nanos() as u64,
            "p99_ns": self.p99.as_nanos() as u64,
            "mean_ns": self.mean.as_nanos() as u64,
            "min_ns": self.min.as_nanos() as u64,
            "calls_per_sec": self.calls_per_sec().round(),
        })
    }
}

/// A plugin under measurement.
struct Subject {
    label: String,
    path: PathBuf,
    bytes: Vec<u8>,
    config: Option<String>,
    instance: PluginInstance,
    memory_after_init: usize,
}

impl Subject {
    fn load(host: &Host, path: &Path, config: Option<String>) -> anyhow::Result<Subject> {
        let bytes =
            std::fs::read(path).map_err(|e| usage(format!("cannot read plugin {}: {e}", path.display())))?;
        let plugin = load_plugin(host, path)?;
        let instance = plugin
            .instantiate(config.as_deref())
            .with_context(|| format!("cannot instantiate {}", path.display()))?;
        let memory_after_init = instance.memory_size();
        Ok(Subject {
            label: plugin.name().to_string(),
            path: path.to_path_buf(),
            bytes,
            config,
            instance,
            memory_after_init,
        })
    }
}

/// What a row measured.
struct RowResult {
    name: String,
    hook: Hook,
    bytes: usize,
    stats: Vec<Option<Stats>>,
    notes: Vec<String>,
}

/// Runs the benchmark and prints the report.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = args.config.as_deref().map(resolve_config).transpose()?.flatten();
    let against_configs = against_configs(&args)?;
    let rows = rows(&args)?;
    let host = args.host.host()?;
    let mut subjects = vec![Subject::load(&host, &args.plugin, config)?];
    for (other, config) in args.against.iter().zip(against_configs) {
        subjects.push(Subject::load(&host, other, config)?);
    }

    let warmup = args.warmup.unwrap_or(args.iterations / 10);
    let total_calls = rows.len() as u64 * u64::from(args.iterations + warmup) * subjects.len() as u64;
    let progress = ProgressBar::new(total_calls);
    progress.set_style(
        ProgressStyle::with_template("{spinner} {msg:<28} [{bar:30}] {pos}/{len} calls ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );

    let mut results = Vec::new();
    for row in &rows {
        progress.set_message(row.name.clone());
        results.push(measure_row(
            &mut subjects,
            row,
            args.iterations,
            warmup,
            &progress,
        ));
    }
    progress.set_message("fresh instances");
    let instances = subjects
        .iter()
        .map(|s| fresh_instances(&args.host, s, args.instances))
        .collect::<anyhow::Result<Vec<_>>>()?;
    progress.set_message("module loads");
    let loads = subjects
        .iter()
        .map(|s| module_loads(&args.host, s, args.loads))
        .collect::<anyhow::Result<Vec<_>>>()?;
    progress.finish_and_clear();

    let calls_per_row = u64::from(args.iterations + warmup);
    if args.json {
        let report = json_report(
            &subjects,
            &results,
            &instances,
            &loads,
            &args,
            warmup,
            calls_per_row,
        );
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(
            &subjects,
            &results,
            &instances,
            &loads,
            &args,
            warmup,
            calls_per_row,
        );
    }
    Ok(ExitCode::from(EXIT_OK))
}

/// The configuration of each --against plugin, in order.
fn against_configs(args: &Args) -> anyhow::Result<Vec<Option<String>>> {
    let configs = args
        .against_config
        .iter()
        .map(|c| resolve_config(c))
        .collect::<anyhow::Result<Vec<_>>>()?;
    match configs.len() {
        0 => Ok(vec![None; args.against.len()]),
        1 => Ok(vec![configs[0].clone(); args.against.len()]),
        n if n == args.against.len() => Ok(configs),
        n => Err(usage(format!(
            "--against-config was given {n} times for {} --against plugins; give it once (for \
             all of them) or once per --against, in the same order",
            args.against.len()
        ))),
    }
}

fn rows(args: &Args) -> anyhow::Result<Vec<Row>> {
    let hooks: Vec<Hook> = args.hooks.iter().map(|h| h.hook()).collect();
    if let Some(path) = &args.input {
        let input = read_input(path)?;
        serde_json::from_slice::<serde::de::IgnoredAny>(&input).map_err(|e| {
            usage(format!(
                "--input {} is not valid JSON: {e}; bench sends it to the hooks as it is",
                path.display()
            ))
        })?;
        let name = path
            .file_stem()
            .map_or_else(|| "stdin".to_string(), |s| s.to_string_lossy().into_owned());
        let hooks = if hooks.is_empty() {
            vec![Hook::PreHook]
        } else {
            hooks
        };
        return Ok(hooks
            .into_iter()
            .map(|hook| Row {
                name: name.clone(),
                hook,
                input: input.clone(),
            })
            .collect());
    }
    let rows: Vec<Row> = BENCH_INPUTS
        .iter()
        .filter_map(|b| {
            let hook = Hook::from_export_name(b.hook)?;
            (hooks.is_empty() || hooks.contains(&hook)).then(|| Row {
                name: b.name.to_string(),
                hook,
                input: b.json.as_bytes().to_vec(),
            })
        })
        .collect();
    if rows.is_empty() {
        return Err(usage("no built-in input for the selected --hooks"));
    }
    Ok(rows)
}

/// The error text a hook's output reports, if any.
fn reported_error(output: &str) -> Option<String> {
    let v: Value = serde_json::from_str(output).ok()?;
    ["error", "hook_error"]
        .iter()
        .filter_map(|k| v.get(k).and_then(Value::as_str))
        .find(|e| !e.is_empty())
        .map(str::to_string)
}

fn measure_row(
    subjects: &mut [Subject],
    row: &Row,
    iterations: u32,
    warmup: u32,
    progress: &ProgressBar,
) -> RowResult {
    let mut notes = Vec::new();
    let mut active = vec![true; subjects.len()];
    for (i, s) in subjects.iter_mut().enumerate() {
        if !s.instance.has_hook(row.hook) {
            notes.push(format!("{} does not export {}", s.label, row.hook));
            active[i] = false;
            continue;
        }
        match s.instance.call(row.hook, &row.input) {
            Ok(out) => {
                if let Some(e) = reported_error(&out) {
                    notes.push(format!("{} reports an error: {e}", s.label));
                }
            }
            Err(e) => {
                notes.push(format!("{} failed: {e}", s.label));
                active[i] = false;
            }
        }
    }
    let mut samples: Vec<Vec<Duration>> = subjects
        .iter()
        .map(|_| Vec::with_capacity(iterations as usize))
        .collect();
    let mut failed = vec![false; subjects.len()];
    for round in 0..(warmup + iterations) {
        let timed = round >= warmup;
        for i in turn_order(round, subjects.len()) {
            if !active[i] || failed[i] {
                continue;
            }
            let start = Instant::now();
            let result = subjects[i].instance.call(row.hook, &row.input);
            let elapsed = start.elapsed();
            match result {
                Ok(out) => drop(out),
                Err(e) => {
                    notes.push(format!("{} failed during the run: {e}", subjects[i].label));
                    failed[i] = true;
                }
            }
            if timed {
                samples[i].push(elapsed);
            }
            progress.inc(1);
        }
    }
    RowResult {
        name: row.name.clone(),
        hook: row.hook,
        bytes: row.input.len(),
        stats: samples
            .iter_mut()
            .zip(&failed)
            .map(|(s, failed)| (!s.is_empty() && !failed).then(|| Stats::of(s)))
            .collect(),
        notes,
    }
}

/// The order in which `n` plugins are called in iteration `round`: rotated by one every
/// iteration, so that each plugin takes each place (first: on the coldest cache) equally
/// often. With two plugins the order simply swaps.
fn turn_order(round: u32, n: usize) -> impl Iterator<Item = usize> {
    let start = round as usize % n.max(1);
    (0..n).map(move |k| (start + k) % n)
}

/// Fresh-instance cost (instantiate + `init`), with the pooling allocator on and off.
struct InstanceCost {
    pooling: Stats,
    on_demand: Stats,
}

fn fresh_instances(host_args: &HostArgs, subject: &Subject, n: u32) -> anyhow::Result<InstanceCost> {
    let measure = |pooling: bool| -> anyhow::Result<Stats> {
        let config = host_args
            .host_config()
            .with_pooling(pooling)
            .with_pooling_slots(8);
        let host = Host::new(config).map_err(|e| usage(e.to_string()))?;
        let plugin = host
            .load_bytes(&subject.bytes, &subject.path.display().to_string())
            .with_context(|| format!("cannot load {}", subject.path.display()))?;
        let mut samples = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let start = Instant::now();
            let instance = plugin.instantiate(subject.config.as_deref())?;
            samples.push(start.elapsed());
            drop(instance);
        }
        Ok(Stats::of(&mut samples))
    };
    Ok(InstanceCost {
        pooling: measure(true)?,
        on_demand: measure(false)?,
    })
}

/// Module load time: compiling vs taking the compiled module from the on-disk cache.
struct LoadCost {
    uncached: Stats,
    cached: Stats,
}

fn module_loads(host_args: &HostArgs, subject: &Subject, n: u32) -> anyhow::Result<LoadCost> {
    let label = subject.path.display().to_string();
    let uncached_host =
        Host::new(host_args.host_config().with_cache_dir(None)).map_err(|e| usage(e.to_string()))?;
    let mut uncached = Vec::new();
    for _ in 0..n {
        let start = Instant::now();
        uncached_host.load_bytes(&subject.bytes, &label)?;
        uncached.push(start.elapsed());
    }
    let dir = std::env::temp_dir().join(format!("bifrost-wasm-bench-cache-{}", std::process::id()));
    let cached_host = Host::new(host_args.host_config().with_cache_dir(Some(dir.clone())))
        .map_err(|e| usage(e.to_string()));
    let result = cached_host.and_then(|host| {
        host.load_bytes(&subject.bytes, &label)?; // fills the cache
        let mut cached = Vec::new();
        for _ in 0..n.max(5) {
            let start = Instant::now();
            let plugin = host.load_bytes(&subject.bytes, &label)?;
            cached.push(start.elapsed());
            if !plugin.load_report().cache_hit {
                anyhow::bail!(
                    "the compiled-module cache in {} did not serve {}; cached load times would be \
                     compile times",
                    dir.display(),
                    subject.path.display()
                );
            }
        }
        Ok(cached)
    });
    let _ = std::fs::remove_dir_all(&dir);
    Ok(LoadCost {
        uncached: Stats::of(&mut uncached),
        cached: Stats::of(&mut result?),
    })
}

fn micros(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 10.0 {
        format!("{us:.2} µs")
    } else if us < 1000.0 {
        format!("{us:.1} µs")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

fn ratio(base: Option<Stats>, other: Option<Stats>, pick: fn(&Stats) -> Duration) -> Option<f64> {
    let (base, other) = (base?, other?);
    Some(pick(&other).as_secs_f64() / pick(&base).as_secs_f64().max(1e-12))
}

/// The letter a plugin is shown under: A for the measured plugin, B, C, … for the baselines.
fn letter(index: usize) -> char {
    char::from(b'A' + (index % 26) as u8)
}

fn print_report(
    subjects: &[Subject],
    results: &[RowResult],
    instances: &[InstanceCost],
    loads: &[LoadCost],
    args: &Args,
    warmup: u32,
    calls_per_row: u64,
) {
    println!(
        "Warm-instance latency per call ({} timed calls per row and plugin after {warmup} warm-up calls{})",
        args.iterations,
        match subjects.len() {
            1 => String::new(),
            2 => ", the two plugins interleaved".to_string(),
            n => format!(", the {n} plugins interleaved"),
        }
    );
    for (i, s) in subjects.iter().enumerate() {
        println!("  [{}] {} ({})", letter(i), s.label, s.path.display());
    }
    println!();
    let mut header = format!("{:<22} {:>7}", "input", "bytes");
    for i in 0..subjects.len() {
        let t = letter(i);
        header.push_str(&format!(
            " | {:>10} {:>10} {:>10} {:>9}",
            format!("{t} p50"),
            format!("{t} p99"),
            format!("{t} mean"),
            format!("{t} calls/s")
        ));
    }
    for i in 1..subjects.len() {
        let t = letter(i);
        header.push_str(&format!(
            " | {:>8} {:>8}",
            format!("{t}/A p50"),
            format!("{t}/A mean")
        ));
    }
    println!("{header}");
    println!("{}", "-".repeat(header.chars().count()));
    for r in results {
        let mut line = format!("{:<22} {:>7}", r.name, r.bytes);
        for stats in &r.stats {
            match stats {
                Some(s) => line.push_str(&format!(
                    " | {:>10} {:>10} {:>10} {:>9.0}",
                    micros(s.p50),
                    micros(s.p99),
                    micros(s.mean),
                    s.calls_per_sec()
                )),
                None => line.push_str(&format!(" | {:>10} {:>10} {:>10} {:>9}", "-", "-", "-", "-")),
            }
        }
        let fmt = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |x| format!("{x:.2}x"));
        for other in &r.stats[1..] {
            line.push_str(&format!(
                " | {:>8} {:>8}",
                fmt(ratio(r.stats[0], *other, |s| s.p50)),
                fmt(ratio(r.stats[0], *other, |s| s.mean))
            ));
        }
        println!("{line}");
        for note in &r.notes {
            println!("    note ({}): {note}", r.hook);
        }
    }
    println!();
    println!(
        "Fresh instance (instantiate + init; {} per mode), p50 / mean",
        args.instances
    );
    for (s, c) in subjects.iter().zip(instances) {
        println!(
            "  {:<28} pooling: {} / {}   on-demand: {} / {}",
            s.label,
            micros(c.pooling.p50),
            micros(c.pooling.mean),
            micros(c.on_demand.p50),
            micros(c.on_demand.mean)
        );
    }
    println!();
    println!("Module load (compile or cache, validate, link, probe instance), median");
    for (s, l) in subjects.iter().zip(loads) {
        println!(
            "  {:<28} uncached: {}   cached: {}   ({} module)",
            s.label,
            micros(l.uncached.p50),
            micros(l.cached.p50),
            fmt_bytes(s.bytes.len() as u64)
        );
    }
    println!();
    println!("Linear memory (after init -> after {calls_per_row} calls per row)");
    for s in subjects {
        println!(
            "  {:<28} {} -> {}",
            s.label,
            fmt_bytes(s.memory_after_init as u64),
            fmt_bytes(s.instance.memory_size() as u64)
        );
    }
}

fn json_report(
    subjects: &[Subject],
    results: &[RowResult],
    instances: &[InstanceCost],
    loads: &[LoadCost],
    args: &Args,
    warmup: u32,
    calls_per_row: u64,
) -> Value {
    let plugins: Vec<Value> = subjects
        .iter()
        .zip(instances)
        .zip(loads)
        .map(|((s, i), l)| {
            json!({
                "name": s.label,
                "path": s.path.display().to_string(),
                "wasm_bytes": s.bytes.len(),
                "fresh_instance": {"pooling": i.pooling.to_json(), "on_demand": i.on_demand.to_json()},
                "module_load": {"uncached": l.uncached.to_json(), "cached": l.cached.to_json()},
                "memory_bytes_after_init": s.memory_after_init,
                "memory_bytes_after_calls": s.instance.memory_size(),
            })
        })
        .collect();
    let rows: Vec<Value> = results
        .iter()
        .map(|r| {
            let mut row = json!({
                "input": r.name,
                "hook": r.hook.name(),
                "bytes": r.bytes,
                "plugins": r.stats.iter().map(|s| s.map_or(Value::Null, Stats::to_json)).collect::<Vec<_>>(),
                "notes": r.notes,
            });
            if r.stats.len() > 1 {
                // The first baseline's ratios, as with a single --against.
                row["ratio_p50"] = json!(ratio(r.stats[0], r.stats[1], |s| s.p50));
                row["ratio_mean"] = json!(ratio(r.stats[0], r.stats[1], |s| s.mean));
                row["ratios"] = subjects[1..]
                    .iter()
                    .zip(&r.stats[1..])
                    .map(|(s, other)| {
                        json!({
                            "against": s.label,
                            "p50": ratio(r.stats[0], *other, |s| s.p50),
                            "mean": ratio(r.stats[0], *other, |s| s.mean),
                        })
                    })
                    .collect();
            }
            row
        })
        .collect();
    json!({
        "iterations": args.iterations,
        "warmup": warmup,
        "calls_per_row": calls_per_row,
        "interleaved": subjects.len() > 1,
        "ratio": "against time / plugin time (above 1: the plugin is faster); `ratios` has one \
                  entry per --against plugin, `ratio_p50`/`ratio_mean` are the first one's",
        "plugins": plugins,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_pick_median_p99_and_mean() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_micros).collect();
        let s = Stats::of(&mut samples);
        assert_eq!(s.p50, Duration::from_micros(51));
        assert_eq!(s.p99, Duration::from_micros(100));
        assert_eq!(s.min, Duration::from_micros(1));
        assert_eq!(s.mean, Duration::from_nanos(50_500));
        assert!((s.calls_per_sec() - 1e6 / 50.5).abs() < 1.0);
    }

    #[test]
    fn ratio_is_other_over_plugin() {
        let s = |us| Stats {
            p50: Duration::from_micros(us),
            p99: Duration::from_micros(us),
            mean: Duration::from_micros(us),
            min: Duration::from_micros(us),
        };
        let r = ratio(Some(s(2)), Some(s(10)), |s| s.p50).unwrap();
        assert!((r - 5.0).abs() < 1e-9, "{r}");
        assert_eq!(ratio(Some(s(2)), None, |s| s.p50), None);
    }

    #[test]
    fn turn_order_rotates_so_each_plugin_takes_each_place_equally_often() {
        let n = 3;
        let mut places = vec![vec![0; n]; n];
        for round in 0..30 {
            let order: Vec<usize> = turn_order(round, n).collect();
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, [0, 1, 2], "every plugin once per round");
            for (place, plugin) in order.into_iter().enumerate() {
                places[plugin][place] += 1;
            }
        }
        assert_eq!(places, vec![vec![10; n]; n]);
        assert_eq!(turn_order(0, 2).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(turn_order(1, 2).collect::<Vec<_>>(), [1, 0]);
        assert_eq!(turn_order(7, 1).collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn letters_name_the_plugin_then_the_baselines() {
        assert_eq!([letter(0), letter(1), letter(2)], ['A', 'B', 'C']);
    }

    #[test]
    fn reported_error_reads_error_or_hook_error() {
        assert_eq!(reported_error(r#"{"error":""}"#), None);
        assert_eq!(reported_error(r#"{"error":"bad"}"#).as_deref(), Some("bad"));
        assert_eq!(
            reported_error(r#"{"error":"","hook_error":"worse"}"#).as_deref(),
            Some("worse")
        );
    }
}
