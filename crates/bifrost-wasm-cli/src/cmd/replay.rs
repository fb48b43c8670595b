//! `bifrost-wasm replay DIR PLUGIN.wasm`: runs the hook calls `serve --record DIR` recorded
//! through a plugin again, and reports per call whether its output is unchanged (JSON-equal to
//! the recorded one), changed (with the paths that differ) or failed.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use bifrost_wasm_chain::record::{self, HookRecord};
use bifrost_wasm_host::{HookRunner, SharedInstance};
use bifrost_wasm_types::equal::json_equal;

use crate::common::{fmt_duration, load_plugin, resolve_config, usage, HostArgs, EXIT_FAILURE, EXIT_OK};
use crate::json::{self, ChangeKind, Json};

/// Arguments of `replay`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = crate::common::EXIT_CODES_HELP,
    long_about = "Run the hook calls recorded by `serve --record DIR` through a plugin (a new build \
                  of the recorded one, say) and report, per call, `unchanged` (the output is \
                  JSON-equal to the recorded one), `changed` (with the paths that differ) or `failed`. \
                  Calls run in recorded order on one instance, so a plugin with state sees what it \
                  saw then. Exit code 0 when every call is unchanged, 1 otherwise.\n\nRecordings \
                  redact secret header values (authorization, x-api-key, x-bf-vk), so a plugin that \
                  reads them sees \"[REDACTED]\"; record with `serve --record-secrets` to keep them."
)]
pub struct Args {
    /// The folder `serve --record` wrote.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// The plugin to run the recorded calls through: a .wasm file (or .wat text).
    #[arg(value_name = "PLUGIN.wasm")]
    pub plugin: PathBuf,

    /// Whose recorded calls to replay: the plugin's name in the recorded chain [default: the
    /// only one recorded].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// The plugin's configuration for `init`: JSON text or a file holding it [default: none].
    #[arg(long, value_name = "JSON|FILE")]
    pub config: Option<String>,

    /// Changed paths shown per call.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub max_diffs: usize,

    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub host: HostArgs,
}

/// What replaying one call gave.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum Verdict {
    /// The output is JSON-equal to the recorded one.
    Unchanged,
    /// The output differs: the paths that changed, as `path: before -> after`.
    Changed {
        /// What differs.
        differences: Vec<String>,
    },
    /// The call failed.
    Failed {
        /// Why.
        error: String,
    },
}

/// One replayed call.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Replayed {
    /// The recorded call's number.
    pub seq: u64,
    /// The recorded request's id.
    pub request_id: String,
    /// The hook.
    pub hook: String,
    /// What replaying it gave.
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// The paths at which `after` differs from `before`, as `path: before -> after`.
fn differences(before: &str, after: &str, max: usize) -> Vec<String> {
    let (Ok(a), Ok(b)) = (json::parse(before), json::parse(after)) else {
        return vec![format!("{} -> {}", excerpt(before), excerpt(after))];
    };
    let changes = json::diff(&a, &b);
    let mut out: Vec<String> = changes
        .iter()
        .take(max)
        .map(|c| {
            let at = |doc: &Json| doc.at(&c.path).map_or_else(String::new, |v| v.excerpt(80));
            match c.kind {
                ChangeKind::Changed => format!("{}: {} -> {}", c.path, at(&a), at(&b)),
                ChangeKind::Added => format!("{}: added {}", c.path, at(&b)),
                ChangeKind::Removed => format!("{}: removed (was {})", c.path, at(&a)),
            }
        })
        .collect();
    if changes.len() > max {
        out.push(format!("and {} more", changes.len() - max));
    }
    if out.is_empty() {
        // JSON-unequal but no path differs: duplicate keys or the like.
        out.push(format!("{} -> {}", excerpt(before), excerpt(after)));
    }
    out
}

fn excerpt(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= 80 {
        text.to_string()
    } else {
        text.chars().take(80).chain(std::iter::once('…')).collect()
    }
}

/// Replays one record on `runner`.
fn replay_one(runner: &SharedInstance, record: &HookRecord, max_diffs: usize) -> Verdict {
    let Some(hook) = record.hook() else {
        return Verdict::Failed {
            error: format!("the recording names an unknown hook `{}`", record.hook),
        };
    };
    let recorded = record.output.as_ref().map(|o| o.get());
    match runner.call_hook(hook, record.input.get().as_bytes()) {
        Err(e) => Verdict::Failed { error: e.to_string() },
        Ok(None) => Verdict::Changed {
            differences: vec![format!(
                "the plugin does not implement {hook}; the recorded plugin answered it"
            )],
        },
        Ok(Some(output)) => match recorded {
            Some(recorded) if json_equal(recorded, &output) => Verdict::Unchanged,
            Some(recorded) => Verdict::Changed {
                differences: differences(recorded, &output, max_diffs),
            },
            None => Verdict::Changed {
                differences: vec![format!(
                    "answers now; when recorded the call {}",
                    match (&record.error, &record.output_text) {
                        (Some(e), _) => format!("failed: {e}"),
                        (None, Some(text)) => format!("returned no JSON: {}", excerpt(text)),
                        (None, None) => "returned nothing".to_string(),
                    }
                )],
            },
        },
    }
}

/// Replays the recording and prints the report.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let records = record::read_dir(&args.dir)
        .map_err(|e| usage(format!("cannot read the recording {}: {e}", args.dir.display())))?;
    if records.is_empty() {
        return Err(usage(format!(
            "{} holds no recorded calls (serve --record DIR writes one <seq>-<plugin>-<hook>.json per call)",
            args.dir.display()
        )));
    }
    let names: BTreeSet<&str> = records.iter().map(|r| r.plugin.as_str()).collect();
    let name = match &args.name {
        Some(name) if names.contains(name.as_str()) => name.clone(),
        Some(name) => {
            return Err(usage(format!(
                "no calls of a plugin named {name:?} in {}; recorded: {}",
                args.dir.display(),
                names.into_iter().collect::<Vec<_>>().join(", ")
            )))
        }
        None if names.len() == 1 => names.first().copied().unwrap_or_default().to_string(),
        None => {
            return Err(usage(format!(
                "{} holds calls of several plugins ({}); choose one with --name",
                args.dir.display(),
                names.into_iter().collect::<Vec<_>>().join(", ")
            )))
        }
    };
    let config = match &args.config {
        Some(arg) => resolve_config(arg)?,
        None => None,
    };
    let host = args.host.host()?;
    let plugin = load_plugin(&host, &args.plugin)?;
    let runner = SharedInstance::new(&plugin, config.as_deref())
        .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", args.plugin.display()))?;
    let started = Instant::now();
    let results: Vec<Replayed> = records
        .iter()
        .filter(|r| r.plugin == name)
        .map(|r| Replayed {
            seq: r.seq,
            request_id: r.request_id.clone(),
            hook: r.hook.clone(),
            verdict: replay_one(&runner, r, args.max_diffs),
        })
        .collect();
    let unchanged = results.iter().filter(|r| r.verdict == Verdict::Unchanged).count();
    let failed = results
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Failed { .. }))
        .count();
    let changed = results.len() - unchanged - failed;
    if args.json {
        let report = serde_json::json!({
            "plugin": plugin.name(),
            "recorded_as": name,
            "calls": results.len(),
            "unchanged": unchanged,
            "changed": changed,
            "failed": failed,
            "results": results,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "replay {} through `{}` ({})\n",
            args.dir.display(),
            plugin.name(),
            args.plugin.display()
        );
        for r in &results {
            let head = format!("#{:<6} {:<22} {:<22}", r.seq, r.request_id, r.hook);
            match &r.verdict {
                Verdict::Unchanged => {
                    let _ = writeln!(out, "{head} unchanged");
                }
                Verdict::Changed { differences } => {
                    let _ = writeln!(out, "{head} changed");
                    for d in differences {
                        let _ = writeln!(out, "        {d}");
                    }
                }
                Verdict::Failed { error } => {
                    let _ = writeln!(out, "{head} failed: {error}");
                }
            }
        }
        let _ = writeln!(
            out,
            "\n{} call(s) of {name}: {unchanged} unchanged, {changed} changed, {failed} failed",
            results.len()
        );
        print!("{out}");
    }
    eprintln!("replayed in {}", fmt_duration(started.elapsed()));
    Ok(ExitCode::from(if unchanged == results.len() {
        EXIT_OK
    } else {
        EXIT_FAILURE
    }))
}
