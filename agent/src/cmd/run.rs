//! `preflight-agent run`.

use std::process::ExitCode;

/// Flags of `preflight-agent run`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs the subcommand.
pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`preflight-agent run` is not implemented yet")
}
