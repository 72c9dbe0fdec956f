//! `preflight maas snapshot|serve`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use preflight_maas::server::{ServerOptions, TestServer};

use super::common::{read_secret, write_output};

/// Subcommands of `preflight maas`.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum Command {
    /// Read every MAAS endpoint preflight needs and write them to one JSON snapshot file.
    ///
    /// Reads version/, spaces/, fabrics/, each fabric's vlans/, subnets/, machines/ (with their
    /// interfaces, links, tags, zone, pool, storage), zones/, tags/ and resourcepools/, signing
    /// each request with OAuth 1.0 PLAINTEXT. The file holds MAAS's responses verbatim, keyed
    /// by endpoint, so it can be handed around and read by anyone; every command that reads
    /// provider data takes it with --provider FILE.
    ///
    /// Example:
    ///   MAAS_API_KEY=$(cat ~/maas.key) preflight maas snapshot --url http://maas:5240/MAAS -o maas.json
    #[command(verbatim_doc_comment)]
    Snapshot(SnapshotArgs),
    /// Serve a snapshot at MAAS's API paths, as a stand-in for MAAS (tests, demos).
    ///
    /// Serves /MAAS/api/2.0/{version,spaces,subnets,fabrics,fabrics/ID/vlans,machines,
    /// machines/ID,nodes/ID/interfaces,zones,tags,resourcepools}/ and checks the OAuth header
    /// the way MAAS does (all six oauth_* parameters, PLAINTEXT signature, timestamps no older
    /// than 300 s, no reused nonce). Prints `listening on URL` as the first line of stdout (and
    /// writes the URL to `--ready-file FILE`) and serves until killed.
    ///
    /// Example:
    ///   preflight maas serve maas.json --listen 127.0.0.1:5240 --api-key-file maas.key
    #[command(verbatim_doc_comment)]
    Serve(ServeArgs),
}

/// Flags of `preflight maas snapshot`.
#[derive(clap::Args, Debug)]
pub(crate) struct SnapshotArgs {
    /// MAAS URL, e.g. http://maas.example:5240/MAAS
    #[arg(long, value_name = "URL", env = "MAAS_URL")]
    pub url: String,
    /// File holding the MAAS API key (consumer:token:secret); without it, MAAS_API_KEY is read.
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
    /// Write the snapshot here (atomically) instead of to stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Flags of `preflight maas serve`.
#[derive(clap::Args, Debug)]
pub(crate) struct ServeArgs {
    /// Snapshot file to serve (or a directory laid out like the MAAS fixtures).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Address to listen on; an ephemeral port on 127.0.0.1 by default.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// File holding the API key clients must use (consumer:token:secret); without it,
    /// MAAS_API_KEY is read.
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
    /// Once listening, write the URL to FILE (atomically: a supervisor waiting for the file
    /// never reads half of it).
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
}

/// Runs the subcommand.
pub(crate) async fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Snapshot(a) => snapshot(a).await,
        Command::Serve(a) => serve(a).await,
    }
}

async fn snapshot(a: SnapshotArgs) -> anyhow::Result<ExitCode> {
    let key = read_secret(a.api_key_file.as_deref(), "MAAS_API_KEY")
        .context("`preflight maas snapshot` needs the MAAS API key")?;
    let client = preflight_maas::MaasClient::new(&a.url, &key)?;
    let bytes = client.snapshot_bytes().await?;
    // Check it reads before writing it: a snapshot nobody can load is no use.
    let model = preflight_maas::model_from_slice(&bytes, client.url())?;
    let mut text = String::from_utf8(bytes).context("MAAS sent a body that is not UTF-8")?;
    text.push('\n');
    write_output(a.output.as_deref(), &text)?;
    eprintln!(
        "snapshot of MAAS {} at {}: {} spaces, {} fabrics, {} VLANs, {} subnets, {} machines{}",
        model.version.as_deref().unwrap_or("(unknown version)"),
        client.url(),
        model.spaces.len(),
        model.fabrics.len(),
        model.vlans.len(),
        model.subnets.len(),
        model.machines.len(),
        a.output
            .as_ref()
            .map(|p| format!(" → {}", p.display()))
            .unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

async fn serve(a: ServeArgs) -> anyhow::Result<ExitCode> {
    let key = read_secret(a.api_key_file.as_deref(), "MAAS_API_KEY")
        .context("`preflight maas serve` needs the API key clients will use")?;
    let snap = if a.file.is_dir() {
        preflight_maas::snapshot_from_fixture_dir(&a.file)?
    } else {
        preflight_maas::read_snapshot_file(&a.file)?
    };
    // Refuse to serve what the parser would reject, with the same error.
    preflight_maas::model_from_snapshot_in(&snap, &a.file.display().to_string())?;
    let server = TestServer::start(
        snap,
        &key,
        ServerOptions {
            listen: a.listen,
            faults: Vec::new(),
        },
    )
    .await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", server.url())?;
        out.flush()?;
    }
    if let Some(path) = &a.ready_file {
        write_output(Some(path), &format!("{}\n", server.url()))?;
    }
    server.wait().await;
    Ok(ExitCode::SUCCESS)
}
