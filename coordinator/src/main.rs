//! `preflight`: the coordinator binary. Parses flags, calls the libraries, prints.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// Network preflight for MAAS + Juju: prove the network matches the intent before you deploy.
///
/// Exit codes: 0 all checks passed, 1 checks failed, 2 usage or input error.
#[derive(Parser, Debug)]
#[command(
    name = "preflight",
    version,
    about,
    long_about,
    after_long_help = "Where to start:
  sudo preflight demo                       the whole check on a namespace lab (no MAAS needed)
  preflight maas snapshot --url URL --api-key-file KEY -o maas.json
  preflight spaces --provider maas.json     what MAAS says: spaces, subnets, VLANs, MTUs, machines
  preflight validate --bundle bundle.yaml --overlay spaces.yaml --provider maas.json
  preflight check --provider maas.json --listen 0.0.0.0:7700 --token-file token --expect 4
      (and on every machine: preflight-agent run --coordinator http://COORD:7700 --token-file token)
  preflight explain probe.mtu-blackhole     what a finding code means and what to do about it

Secrets (MAAS API key, agent token) are read from a file or the environment, never from a flag."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    #[command(about = "Read MAAS: take a snapshot, or serve one as a MAAS API stand-in.")]
    #[command(subcommand)]
    Maas(cmd::maas::Command),
    #[command(
        about = "List spaces with their subnets, VLANs, MTUs and machines (like `juju spaces`)."
    )]
    Spaces(cmd::listing::SpacesArgs),
    #[command(about = "List subnets with space, fabric, VLAN and MTU (like `juju subnets`).")]
    Subnets(cmd::listing::SubnetsArgs),
    #[command(about = "Check a bundle's bindings and constraints against MAAS, before deploying.")]
    Validate(cmd::validate::Args),
    #[command(about = "Run the connectivity check: gather agents, probe every space, report.")]
    Check(Box<cmd::check::Args>),
    #[command(about = "Re-render a saved JSON report as text, JSON, JUnit XML or HTML.")]
    Report(cmd::report::Args),
    #[command(
        about = "Build a MAAS-shaped lab in network namespaces and run the whole check on it."
    )]
    Demo(cmd::demo::Args),
    #[command(about = "Explain a finding code: what it means, how it is detected, what to do.")]
    Explain(cmd::codes::ExplainArgs),
    #[command(about = "List every finding code with its severity, step and description.")]
    Codes(cmd::codes::CodesArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Check(_) | Command::Demo(_)) {
        limit_malloc_arenas();
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PREFLIGHT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    // The registry commands need no runtime.
    let command = match cli.command {
        Command::Explain(a) => return finish(cmd::codes::run_explain(a)),
        Command::Codes(a) => return finish(cmd::codes::run_codes(a)),
        c => c,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("preflight: error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Maas(c) => cmd::maas::run(c).await,
            Command::Spaces(a) => cmd::listing::run_spaces(a).await,
            Command::Subnets(a) => cmd::listing::run_subnets(a).await,
            Command::Validate(a) => cmd::validate::run(a).await,
            Command::Check(a) => cmd::check::run(*a).await,
            Command::Report(a) => cmd::report::run(a).await,
            Command::Demo(a) => cmd::demo::run(a).await,
            Command::Explain(a) => cmd::codes::run_explain(a),
            Command::Codes(a) => cmd::codes::run_codes(a),
        }
    });
    finish(result)
}

/// Maps a subcommand's result to the exit code, printing the error (exit 2).
fn finish(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!(
                "preflight: error: {}",
                preflight_model::error_text(e.as_ref())
            );
            ExitCode::from(2)
        }
    }
}

/// The coordinator allocates from the many threads that serve agents; glibc gives each its own
/// malloc arena (up to 8 per core), and the freed upload buffers scattered over them kept ~40 MB
/// of a 200-machine full mesh resident. Two arenas keep the peak under 200 MB. Must run
/// before any thread starts.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
