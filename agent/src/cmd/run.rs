//! `preflight-agent run`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use preflight_agent::session::{self, AgentConfig, Event, Outcome, SessionError};
use preflight_model::observed::ObservedConfig;

/// Flags of `preflight-agent run`.
#[derive(clap::Args, Debug)]
#[command(
    long_about = "Register with a coordinator, run the plan it gives, and send back the results.

The agent observes this machine's links, addresses and routes, registers with the
coordinator (`preflight check`), waits for its probe plan, probes its peers from its own
address in every space, sends the results and exits 0. Transient errors are retried with
jittered backoff; if the coordinator never answers within --give-up-after seconds the agent
says so and exits 2.

Example:
  PREFLIGHT_TOKEN=... preflight-agent run --coordinator http://10.0.0.1:7700 --machine-id abc123"
)]
pub struct Args {
    /// URL of the coordinator, e.g. http://10.0.0.1:7700
    #[arg(long, value_name = "URL")]
    pub coordinator: String,
    /// File holding the bearer token; or set PREFLIGHT_TOKEN.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// This machine's MAAS system_id (matches it to MAAS without guessing by hostname or MAC).
    #[arg(long, value_name = "SYSTEM_ID")]
    pub machine_id: Option<String>,
    /// Give up (exit 2) when the coordinator has not answered for this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub give_up_after: u64,
    /// Longest wait for the plan while the coordinator says it is still gathering agents.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub plan_wait: u64,
    /// Longest the probe run may take before the agent gives up on it (exit 2).
    #[arg(long, value_name = "SECS", default_value_t = 900)]
    pub probe_timeout: u64,
    /// Send this observed config (JSON from `preflight-agent observe`) instead of observing.
    #[arg(long, value_name = "FILE")]
    pub observed: Option<PathBuf>,
}

fn read_token(file: Option<&std::path::Path>) -> anyhow::Result<String> {
    let value = match file {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("cannot read token file {}", p.display()))?,
        None => std::env::var("PREFLIGHT_TOKEN")
            .context("no --token-file given and PREFLIGHT_TOKEN is not set")?,
    };
    let value = value.trim().to_string();
    if value.is_empty() {
        anyhow::bail!("the token is empty");
    }
    Ok(value)
}

async fn observe(args: &Args) -> anyhow::Result<ObservedConfig> {
    let mut obs = match &args.observed {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            serde_json::from_str::<ObservedConfig>(&text)
                .with_context(|| format!("{} is not an observed config", p.display()))?
        }
        None => preflight_inventory::observe(&preflight_inventory::ObserveOptions {
            system_id: args.machine_id.clone(),
        })
        .await
        .context("cannot observe this machine's network")?,
    };
    if args.machine_id.is_some() {
        obs.identity.system_id = args.machine_id.clone();
    }
    Ok(obs)
}

/// Runs the subcommand.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = AgentConfig {
        coordinator: args.coordinator.clone(),
        token: read_token(args.token_file.as_deref())?,
        give_up_after: Duration::from_secs(args.give_up_after),
        plan_wait: Duration::from_secs(args.plan_wait),
        probe_timeout: Duration::from_secs(args.probe_timeout),
    };
    let observed = observe(&args).await?;
    let events = |e: Event| match e {
        Event::Registered(id) => eprintln!("preflight-agent: registered as {id}"),
        Event::Reregistered(id) => {
            eprintln!(
                "preflight-agent: the coordinator forgot this agent; registered again as {id}"
            )
        }
        Event::Probing(n) => eprintln!("preflight-agent: probing {n} targets"),
    };
    match session::run(&config, &observed, events, shutdown_signal()).await {
        Ok(Outcome::Sent {
            accepted,
            duplicate,
            ..
        }) => {
            eprintln!(
                "preflight-agent: results sent ({accepted} accepted{})",
                if duplicate { ", already stored" } else { "" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(Outcome::CheckOver { .. }) => {
            eprintln!("preflight-agent: the coordinator says the check is over");
            Ok(ExitCode::SUCCESS)
        }
        Err(SessionError::Cancelled) => {
            eprintln!("preflight-agent: interrupted");
            Ok(ExitCode::from(130))
        }
        Err(e) => {
            eprintln!("preflight-agent: error: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

/// Completes on SIGINT or SIGTERM (never, if the handlers cannot be installed).
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}
