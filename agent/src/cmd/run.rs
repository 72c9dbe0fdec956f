//! `preflight-agent run`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use preflight_agent::client::ClientOptions;
use preflight_agent::guard::{GuardRails, MAX_DISTINCT_TCP_PORTS, MAX_TCP_PORTS_PER_TARGET};
use preflight_agent::session::{self, AgentConfig, Event, Outcome, SessionError};
use preflight_model::limits::{
    printable, read_bounded_text, DEFAULT_RATE_CAP, MAX_COUNT, MAX_INPUT_FILE, MAX_PLAN_PACKETS,
    MAX_RETRIES, MAX_SECRET_FILE, MAX_TIMEOUT_MS,
};
use preflight_model::observed::ObservedConfig;

/// The long help, with the guard rails' limits filled in.
fn long_about() -> String {
    format!(
        "Register with a coordinator, run the plan it gives, and send back the results.

The agent observes this machine's links, addresses and routes, registers with the
coordinator (`preflight check`), waits for its probe plan, probes its peers from its own
address in every space, sends the results and exits 0. Transient errors are retried with
jittered backoff; if the coordinator never answers within --give-up-after seconds the agent
says so and exits 2.

Guard rails (a coordinator cannot lift them): a target must be in one of this machine's
on-link subnets, in a subnet it has a specific route to, or inside an --allow CIDR (an
isolation probe, which must NOT be answered, may leave them: ICMP only, private addresses
only); never multicast, broadcast, unspecified or loopback; sources must be this machine's addresses;
TCP only to the ports the plan lists (at most {ports} per target, {distinct} distinct per
plan, never port 0); at most --max-rate packets/s (default {rate}) and --max-packets echo
requests per plan (default {packets}); count is capped at {count}, retries at {retries},
the reply timeout at {timeout} ms. A refused target is reported back as refused; the rest of
the plan still runs.

Over https:// pin the coordinator's certificate with --fingerprint SHA256:... (printed by
`preflight check --tls` and written to its --fingerprint-file). Plain http:// works for labs
but sends the token and results unencrypted (said on stderr).

Example:
  PREFLIGHT_TOKEN=... preflight-agent run --coordinator https://10.0.0.1:7700 \\
      --fingerprint SHA256:3f5a... --machine-id abc123",
        ports = MAX_TCP_PORTS_PER_TARGET,
        distinct = MAX_DISTINCT_TCP_PORTS,
        rate = DEFAULT_RATE_CAP,
        packets = MAX_PLAN_PACKETS,
        count = MAX_COUNT,
        retries = MAX_RETRIES,
        timeout = MAX_TIMEOUT_MS,
    )
}

/// Flags of `preflight-agent run`.
#[derive(clap::Args, Debug)]
#[command(long_about = long_about())]
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
    /// Read this machine's DNS resolvers (checked where MAAS gives a subnet no DNS servers)
    /// from FILE instead of /etc/resolv.conf.
    #[arg(long, value_name = "FILE")]
    pub resolv_conf: Option<PathBuf>,
    /// Accept only this coordinator certificate (https:// only): SHA256: and 64 hex digits.
    #[arg(long, value_name = "SHA256:HEX", conflicts_with = "fingerprint_file")]
    pub fingerprint: Option<String>,
    /// Keep this agent's key in FILE (made, mode 0600, when missing), so that an agent that
    /// restarts is still the agent that registered; without it each run makes a new key.
    #[arg(long, value_name = "FILE")]
    pub agent_key_file: Option<PathBuf>,
    /// Read the --fingerprint from this file (as `preflight check --fingerprint-file` writes it).
    #[arg(long, value_name = "FILE")]
    pub fingerprint_file: Option<PathBuf>,
    /// Also allow targets inside this network (repeatable), beyond this machine's on-link and
    /// routed subnets.
    #[arg(long, value_name = "CIDR")]
    pub allow: Vec<ipnet::IpNet>,
    /// Packets per second at most, whatever the plan asks.
    #[arg(long, value_name = "PPS", default_value_t = DEFAULT_RATE_CAP,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_rate: u32,
    /// Echo requests per plan at most (count × (1 + retries) × targets); targets past it are
    /// refused.
    #[arg(long, value_name = "N", default_value_t = MAX_PLAN_PACKETS)]
    pub max_packets: u64,
}

fn read_token(file: Option<&std::path::Path>) -> anyhow::Result<String> {
    let value = match file {
        Some(p) => {
            let v = read_bounded_text(p, MAX_SECRET_FILE).context("cannot read the token file")?;
            warn_if_readable_by_others(p);
            v
        }
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
            let text = read_bounded_text(p, MAX_INPUT_FILE)?;
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
    if let Some(p) = &args.resolv_conf {
        let text = read_bounded_text(p, MAX_INPUT_FILE)
            .with_context(|| format!("cannot read --resolv-conf {}", p.display()))?;
        obs.resolvers = preflight_inventory::parse_resolv_conf(&text);
    }
    Ok(obs)
}

/// Says so on stderr when a secret file can be read by group or others.
fn warn_if_readable_by_others(p: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(p) {
        if m.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "preflight-agent: warning: {} is readable by others (mode {:o}); chmod 600 it",
                p.display(),
                m.permissions().mode() & 0o777
            );
        }
    }
}

fn client_options(args: &Args) -> anyhow::Result<ClientOptions> {
    let raw = match (&args.fingerprint, &args.fingerprint_file) {
        (Some(f), _) => Some(f.clone()),
        (None, Some(p)) => Some(read_bounded_text(p, MAX_SECRET_FILE)?),
        (None, None) => None,
    };
    let fingerprint = raw
        .map(|r| preflight_model::limits::parse_fingerprint(&r))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--fingerprint: {e}"))?;
    if args.coordinator.starts_with("http://") {
        eprintln!(
            "preflight-agent: warning: plain HTTP to {}: the token and results travel unencrypted (labs only; use https:// with --fingerprint)",
            printable(&args.coordinator, 200)
        );
    } else if fingerprint.is_none() {
        eprintln!(
            "preflight-agent: note: no --fingerprint: the coordinator's certificate must be signed by a public CA"
        );
    }
    let agent_key = match &args.agent_key_file {
        None => None,
        Some(p) if p.exists() => Some(read_bounded_text(p, MAX_SECRET_FILE)?.trim().to_string()),
        Some(p) => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let b: [u8; 32] = rand::random();
            let k: String = b.iter().map(|b| format!("{b:02x}")).collect();
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(p)
                .with_context(|| format!("cannot create {}", p.display()))?;
            f.write_all(k.as_bytes())?;
            Some(k)
        }
    };
    if agent_key
        .as_deref()
        .is_some_and(|k| !preflight_model::api::valid_agent_key(k))
    {
        anyhow::bail!("--agent-key-file: a key is 32 to 128 characters of A-Z, a-z, 0-9, - and _");
    }
    Ok(ClientOptions {
        fingerprint,
        agent_key,
    })
}

/// This machine as the guard rails see it: netlink, even when --observed replays a file.
async fn guard_view(args: &Args, registered: &ObservedConfig) -> ObservedConfig {
    if args.observed.is_none() {
        return registered.clone();
    }
    match preflight_inventory::observe(&preflight_inventory::ObserveOptions { system_id: None })
        .await
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("preflight-agent: warning: cannot observe this machine ({e}); the guard rails use the --observed file");
            registered.clone()
        }
    }
}

/// Runs the subcommand.
pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = AgentConfig {
        coordinator: args.coordinator.clone(),
        token: read_token(args.token_file.as_deref())?,
        give_up_after: Duration::from_secs(args.give_up_after),
        plan_wait: Duration::from_secs(args.plan_wait),
        probe_timeout: Duration::from_secs(args.probe_timeout),
        client: client_options(&args)?,
        rails: GuardRails {
            allow: args.allow.clone(),
            max_rate: args.max_rate,
            max_packets: args.max_packets,
        },
        guard_view: None,
    };
    let observed = observe(&args).await?;
    let mut config = config;
    if args.observed.is_some() {
        config.guard_view = Some(guard_view(&args, &observed).await);
    }
    let events = |e: Event| match e {
        Event::Registered(id) => eprintln!("preflight-agent: registered as {id}"),
        Event::Reregistered(id) => {
            eprintln!(
                "preflight-agent: the coordinator forgot this agent; registered again as {id}"
            )
        }
        Event::Probing(n) => eprintln!("preflight-agent: probing {n} targets"),
        Event::Clamped(c) => eprintln!("preflight-agent: plan settings: {c}"),
        Event::Refused(id, target, reason) => {
            eprintln!("preflight-agent: refused target {id} ({target}): {reason}")
        }
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
