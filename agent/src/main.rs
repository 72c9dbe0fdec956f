//! `preflight-agent`: the per-machine binary. Parses flags, calls the libraries, prints.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// Network preflight agent: observe this machine's network, probe peers, report to the coordinator.
#[derive(Parser, Debug)]
#[command(name = "preflight-agent", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    #[command(about = "Print this machine's links, addresses and routes (read through netlink).")]
    Observe(cmd::observe::Args),
    #[command(
        about = "Probe targets (addresses, CIDRs or a plan) with ICMP, DF-bit MTU and TCP probes."
    )]
    Probe(cmd::probe::Args),
    #[command(
        about = "Register with a coordinator, run the plan it gives, and send back the results."
    )]
    Run(Box<cmd::run::Args>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PREFLIGHT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("preflight-agent: error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Observe(args) => cmd::observe::run(args).await,
            Command::Probe(args) => cmd::probe::run(args).await,
            Command::Run(args) => cmd::run::run(*args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!(
                "preflight-agent: error: {}",
                preflight_model::error_text(e.as_ref())
            );
            ExitCode::from(2)
        }
    }
}
