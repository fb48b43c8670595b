//! `bifrost-wasm`: inspect, call, check and serve Bifrost WASM plugins.
//!
//! The CLI is the top layer of the toolkit: argument parsing and printing over the libraries
//! (`bifrost-wasm-host` runs plugins for `inspect`, `call`, `check` and `bench`;
//! `bifrost-wasm-gateway`, over `bifrost-wasm-chain`, is `serve`; hook envelopes are written and
//! read with `bifrost_wasm_types::codec`). This file holds the command-line definition and the
//! dispatch only; each subcommand lives in `cmd/<name>.rs` with its own `Args` and `run`.

mod cmd;
mod common;
mod contract;
mod corpus;
mod json;
mod junit;
mod seed;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Run, inspect and check Bifrost WASM plugins locally, whatever language they are written in.
#[derive(Debug, Parser)]
#[command(name = "bifrost-wasm", version, after_help = common::EXIT_CODES_HELP)]
struct Cli {
    /// More log output on stderr: -v info, -vv debug, -vvv trace (RUST_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show a plugin's name, size, exports, imports, ABI generation, allocator and hooks.
    Inspect(cmd::inspect::Args),
    /// Run one hook of a plugin on an input (the seed's example by default) and print its output.
    Call(cmd::call::Args),
    /// Check a plugin against the Bifrost plugin contract and print a PASS/WARN/FAIL report.
    Check(cmd::check::Args),
    /// Run a local OpenAI-compatible gateway that sends requests through a plugin chain.
    Serve(cmd::serve::Args),
    /// Measure hook latency, instance and load cost, optionally against a second plugin.
    Bench(cmd::bench::Args),
    /// Run the hook calls `serve --record` recorded through a plugin and report what changed.
    Replay(cmd::replay::Args),
    /// Create a new plugin crate (SDK, Makefile, tests) that builds and passes its tests.
    New(cmd::new::Args),
}

impl Command {
    /// Log filter when neither RUST_LOG nor -v is given. `check` calls hooks thousands of
    /// times, so plugins' own output is shown only when asked for; `serve` logs one line per
    /// request.
    fn default_log_filter(&self) -> &'static str {
        match self {
            Command::Check(_) => "warn,bifrost_wasm::plugin=off",
            Command::Serve(_) => "warn,bifrost_wasm::plugin=info,bifrost_wasm_gateway=info",
            _ => "warn,bifrost_wasm::plugin=info",
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    common::init_logging(cli.verbose, cli.command.default_log_filter());
    let run = move || match cli.command {
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Call(args) => cmd::call::run(args),
        Command::Check(args) => cmd::check::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::New(args) => cmd::new::run(args),
        Command::Replay(args) => cmd::replay::run(args),
    };
    // On a thread with room for deep JSON trees (see `common::BIG_STACK`).
    let result = std::thread::Builder::new()
        .name("bifrost-wasm".into())
        .stack_size(common::BIG_STACK)
        .spawn(run)
        .map_err(anyhow::Error::from)
        .and_then(|thread| {
            thread
                .join()
                .map_err(|_| anyhow::anyhow!("the command panicked (see the message above)"))
        })
        .and_then(|result| result);
    common::finish(result)
}
