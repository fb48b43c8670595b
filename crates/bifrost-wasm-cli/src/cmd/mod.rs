//! The subcommands, one module each. A module exposes `Args` (clap) and
//! `run(Args) -> anyhow::Result<ExitCode>`; errors are printed by `common::finish` and
//! turned into exit codes (a `common::UsageError` anywhere in the chain means exit 2).

pub mod bench;
pub mod call;
pub mod check;
pub mod inspect;
pub mod new;
pub mod replay;
pub mod serve;
