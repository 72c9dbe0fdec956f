//! `preflight-agent probe`.

use std::process::ExitCode;

/// Flags of `preflight-agent probe`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs the subcommand.
pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`preflight-agent probe` is not implemented yet")
}
