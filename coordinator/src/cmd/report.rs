//! `preflight report`.

use std::process::ExitCode;

/// Flags of `preflight report`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs the subcommand.
pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`preflight report` is not implemented yet")
}
