//! `preflight maas snapshot|serve`.

use std::process::ExitCode;

/// Subcommands of `preflight maas`.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Read every MAAS endpoint preflight needs and write them to one JSON snapshot file.
    Snapshot(SnapshotArgs),
}

/// Flags of `preflight maas snapshot`.
#[derive(clap::Args, Debug)]
pub struct SnapshotArgs {}

/// Runs the subcommand.
pub async fn run(_cmd: Command) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`preflight maas` is not implemented yet")
}
