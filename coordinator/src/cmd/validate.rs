//! `preflight validate`.

use std::process::ExitCode;

/// Flags of `preflight validate`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs the subcommand.
pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`preflight validate` is not implemented yet")
}
