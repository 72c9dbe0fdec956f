//! `preflight spaces` and `preflight subnets`.

use std::process::ExitCode;

/// Flags of `preflight spaces`.
#[derive(clap::Args, Debug)]
pub struct SpacesArgs {}

/// Flags of `preflight subnets`.
#[derive(clap::Args, Debug)]
pub struct SubnetsArgs {}

/// Runs `preflight spaces`.
pub async fn run_spaces(_args: SpacesArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`preflight spaces` is not implemented yet")
}

/// Runs `preflight subnets`.
pub async fn run_subnets(_args: SubnetsArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`preflight subnets` is not implemented yet")
}
