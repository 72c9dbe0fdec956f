//! `preflight-agent run`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use preflight_agent::client::{Client, ClientError};
use preflight_model::api::PlanResponse;
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
pub(crate) struct Args {
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

fn fail(e: ClientError) -> anyhow::Result<ExitCode> {
    eprintln!("preflight-agent: error: {e}");
    Ok(ExitCode::from(2))
}

/// Runs the subcommand.
pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let token = read_token(args.token_file.as_deref())?;
    let client = Client::new(
        &args.coordinator,
        token,
        Duration::from_secs(args.give_up_after.max(1)),
    )?;
    let observed = observe(&args).await?;
    let mut agent_id = match client.register(&observed).await {
        Ok(id) => id,
        Err(e) => return fail(e),
    };
    eprintln!("preflight-agent: registered as {agent_id}");
    let start = Instant::now();
    let mut reregistered = false;
    let plan = loop {
        match client.plan(&agent_id).await {
            Ok(PlanResponse::Ready { plan }) => break plan,
            Ok(PlanResponse::Done) => {
                eprintln!("preflight-agent: the coordinator says the check is over");
                return Ok(ExitCode::SUCCESS);
            }
            Ok(PlanResponse::Waiting { retry_after_ms }) => {
                if start.elapsed() > Duration::from_secs(args.plan_wait) {
                    eprintln!(
                        "preflight-agent: error: no plan after {} s of waiting",
                        args.plan_wait
                    );
                    return Ok(ExitCode::from(2));
                }
                tokio::time::sleep(Duration::from_millis(retry_after_ms.clamp(50, 30_000))).await;
            }
            // A coordinator restarted without its state forgot us: register again, once.
            Err(ClientError::Refused { status: 404, .. }) if !reregistered => {
                reregistered = true;
                agent_id = match client.register(&observed).await {
                    Ok(id) => id,
                    Err(e) => return fail(e),
                };
            }
            Err(e) => return fail(e),
        }
    };
    eprintln!("preflight-agent: probing {} targets", plan.targets.len());
    let mut report = if plan.targets.is_empty() {
        // Nothing to probe (no address in any space): report that without opening sockets.
        preflight_model::probe::ProbeReport {
            schema: preflight_model::probe::PROBE_SCHEMA.to_string(),
            agent: None,
            sockets: Vec::new(),
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            duration_ms: 0,
            targets: Vec::new(),
        }
    } else {
        match tokio::time::timeout(
            Duration::from_secs(args.probe_timeout.max(1)),
            preflight_probe::run_plan(&plan),
        )
        .await
        {
            Ok(r) => r.context("the probe run failed")?,
            Err(_) => {
                eprintln!(
                    "preflight-agent: error: probing {} targets did not finish within {} s",
                    plan.targets.len(),
                    args.probe_timeout
                );
                return Ok(ExitCode::from(2));
            }
        }
    };
    report.agent = Some(agent_id.clone());
    match client.results(&agent_id, &report).await {
        Ok(ack) => {
            eprintln!(
                "preflight-agent: results sent ({} accepted{})",
                ack.accepted,
                if ack.duplicate {
                    ", already stored"
                } else {
                    ""
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => fail(e),
    }
}
