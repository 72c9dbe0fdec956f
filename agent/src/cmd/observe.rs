//! `preflight-agent observe`.

use std::process::ExitCode;

/// Flags of `preflight-agent observe`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs the subcommand.
pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`preflight-agent observe` is not implemented yet")
}
