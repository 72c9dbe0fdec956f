//! `preflight demo`.

use std::process::ExitCode;

/// Flags of `preflight demo`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs the subcommand.
pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`preflight demo` is not implemented yet")
}
