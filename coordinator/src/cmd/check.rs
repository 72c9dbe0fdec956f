//! `preflight check`.

use std::process::ExitCode;

/// Flags of `preflight check`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs the subcommand.
pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`preflight check` is not implemented yet")
}
