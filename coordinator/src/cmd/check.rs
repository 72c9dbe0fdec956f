//! `preflight check`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use preflight_check::plan::PlanOptions;
use preflight_check::report::{build_report, ReportInput};
use preflight_check::server::{serve, ServerConfig};
use preflight_check::state::CheckState;
use preflight_model::plan::ProbeSettings;

use super::common::{read_secret, write_output, ProviderArgs, ReportFormat};

/// Flags of `preflight check`.
#[derive(clap::Args, Debug)]
#[command(long_about = "Run the connectivity check.

The coordinator loads MAAS's model, waits for `--expect N` agents (`preflight-agent run`)
to register with what they observe, merges both (drift findings), plans probes per space
(every pair of machines with an address in a space, both directions, MTU at the VLAN MTU),
hands each agent its plan, gathers the results and writes one report.

Examples:
  preflight check --provider maas.json --listen 0.0.0.0:7700 --token-file token --expect 4
  preflight check --maas-url http://maas:5240/MAAS --api-key-file key \\
      --bundle bundle.yaml --overlay spaces.yaml \\
      --listen 10.0.0.1:7700 --token-file token --expect 30 --isolate storage:public \\
      --format json -o report.json --state-dir /var/lib/preflight

Exit codes: 0 pass, 1 error findings, 2 usage or input error.")]
pub struct Args {
    /// Where MAAS's model comes from.
    #[command(flatten)]
    pub provider: Box<ProviderArgs>,
    /// A bundle to validate against MAAS as well (every `preflight validate` check joins the report).
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,
    /// An overlay of the bundle, applied in the order given (repeatable).
    #[arg(long, value_name = "FILE", requires = "bundle")]
    pub overlay: Vec<PathBuf>,
    /// A charm directory (or a directory of them) for the unknown-endpoint check (repeatable).
    #[arg(long, value_name = "DIR", requires = "bundle")]
    pub charm_dir: Vec<PathBuf>,
    /// Pin bundle machine N to MAAS machine SYSTEM_ID (repeatable), as in `preflight validate`.
    #[arg(long, value_name = "N=SYSTEM_ID", requires = "bundle")]
    pub machine_map: Vec<String>,
    /// Address and port to listen on for agents (port 0 picks a free port, printed on stderr).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: SocketAddr,
    /// File holding the bearer token agents must present; or set PREFLIGHT_TOKEN.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Number of agents to wait for before planning.
    #[arg(long, value_name = "N")]
    pub expect: usize,
    /// Seconds to wait for the agents to register; when it passes, the check goes on with
    /// those that came and reports the others as `agent.missing`.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub deadline: u64,
    /// Seconds to wait for results once the plans are handed out.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub probe_deadline: u64,
    /// Spaces that must NOT reach each other, as SPACE_A:SPACE_B (repeatable); probes that
    /// get through are `probe.isolation-breach`.
    #[arg(long, value_name = "SPACE_A:SPACE_B")]
    pub isolate: Vec<String>,
    /// Juju controller API addresses, ADDR[,ADDR...] (repeatable): every machine must open
    /// TCP 17070 to one of them from its address in --mgmt-space (`controller.unreachable`).
    #[arg(long, value_name = "ADDR[,ADDR...]", value_delimiter = ',')]
    pub controller: Vec<std::net::IpAddr>,
    /// Read the controller addresses from `juju show-controller --format json` output (its
    /// `api-endpoints`).
    #[arg(long, value_name = "FILE")]
    pub controller_file: Option<PathBuf>,
    /// Juju's `juju-mgmt-space`: the space machines reach the controllers in (default: any
    /// of their addresses, as Juju does without it).
    #[arg(long, value_name = "SPACE")]
    pub mgmt_space: Option<String>,
    /// Juju's `juju-ha-space`: the space the controllers (machines holding a controller
    /// address) must reach each other in, TCP 37017 (`controller.ha-unreachable`).
    #[arg(long, value_name = "SPACE")]
    pub ha_space: Option<String>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Write the report to FILE instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Keep registrations, the plan and results here; restarting with the same dir resumes.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// No progress display.
    #[arg(long)]
    pub quiet: bool,
    /// Largest number of machines in a space probed as a full mesh; above it the plan is
    /// sparse (every machine and every subnet pair still gets at least --sparse-k probes
    /// each way).
    #[arg(long, value_name = "N", default_value_t = 128)]
    pub full_mesh_max: usize,
    /// Minimum probes per machine and per subnet pair, each way, in a sparse plan.
    #[arg(long, value_name = "K", default_value_t = 3)]
    pub sparse_k: usize,
    /// Echo requests per probe.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub count: u32,
    /// Milliseconds to wait for each echo reply.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub timeout_ms: u64,
}

/// The controllers to check, from `--controller` and `--controller-file`, with the spaces
/// checked against MAAS.
fn controllers(
    args: &Args,
    provider: &preflight_model::provider::ProviderModel,
) -> anyhow::Result<Option<preflight_check::infra::Controllers>> {
    let mut addresses = args.controller.clone();
    if let Some(f) = &args.controller_file {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read --controller-file {}", f.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: not JSON (`juju show-controller --format json`)",
                f.display()
            )
        })?;
        let found = preflight_check::infra::controller_addresses_from_json(&v)
            .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
        for a in found {
            if !addresses.contains(&a) {
                addresses.push(a);
            }
        }
    }
    for (flag, s) in [
        ("--mgmt-space", &args.mgmt_space),
        ("--ha-space", &args.ha_space),
    ] {
        if let Some(s) = s {
            if addresses.is_empty() {
                anyhow::bail!("{flag} needs --controller or --controller-file");
            }
            if provider.space_by_name(s).is_none() {
                anyhow::bail!("{flag}: MAAS has no space named {s:?}");
            }
        }
    }
    if addresses.is_empty() {
        return Ok(None);
    }
    Ok(Some(preflight_check::infra::Controllers {
        addresses,
        mgmt_space: args.mgmt_space.clone(),
        ha_space: args.ha_space.clone(),
    }))
}

fn parse_isolate(raw: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    raw.iter()
        .map(|s| match s.split_once(':') {
            Some((a, b)) if !a.is_empty() && !b.is_empty() && a != b => {
                Ok((a.to_string(), b.to_string()))
            }
            _ => anyhow::bail!(
                "--isolate {s:?}: expected two different space names as SPACE_A:SPACE_B"
            ),
        })
        .collect()
}

fn progress_bar(quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let pb =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    pb.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    pb
}

/// Waits until `done()` or the deadline, updating the progress line; true when done.
async fn wait_until(
    state: &CheckState,
    deadline: Instant,
    pb: &indicatif::ProgressBar,
    mut done: impl FnMut() -> (bool, String),
) -> bool {
    let mut rx = state.subscribe();
    loop {
        let (ok, msg) = done();
        let left = deadline.saturating_duration_since(Instant::now());
        pb.set_message(format!("{msg}, {} s left", left.as_secs()));
        pb.tick();
        if ok {
            return true;
        }
        if left.is_zero() {
            return false;
        }
        let _ = tokio::time::timeout(left.min(Duration::from_millis(250)), rx.changed()).await;
    }
}

/// Runs the subcommand.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let token = read_secret(args.token_file.as_deref(), "PREFLIGHT_TOKEN")
        .context("the agents' bearer token is needed (--token-file FILE or PREFLIGHT_TOKEN)")?;
    if args.expect == 0 {
        anyhow::bail!("--expect must be at least 1");
    }
    let isolate = parse_isolate(&args.isolate)?;
    let source = args.provider.source()?;
    let provider = preflight_maas::load_provider(&source)
        .await
        .context("cannot load the provider (MAAS) model")?;
    for (a, b) in &isolate {
        for s in [a, b] {
            if provider.space_by_name(s).is_none() {
                anyhow::bail!("--isolate: MAAS has no space named {s:?}");
            }
        }
    }
    let controllers = controllers(&args, &provider)?;
    // Bundle validation first: bad input stops the check before any agent is kept waiting.
    let mut inputs = Vec::new();
    let (extra_findings, extra_checked) = match &args.bundle {
        None => (Vec::new(), Vec::new()),
        Some(path) => {
            let bundle = preflight_bundle::load(path, &args.overlay)?;
            for w in &bundle.warnings {
                eprintln!("preflight: warning: {w}");
            }
            let charms = if args.charm_dir.is_empty() {
                None
            } else {
                Some(preflight_bundle::CharmSet::load_dirs(&args.charm_dir)?)
            };
            let map = preflight_validate::parse_machine_map(&args.machine_map)?;
            preflight_validate::check_machine_map(&bundle, &provider, &map)?;
            let outcome = preflight_validate::validate(&bundle, charms.as_ref(), &provider, &map);
            inputs.extend(bundle.sources.iter().map(|p| p.display().to_string()));
            inputs.extend(
                args.charm_dir
                    .iter()
                    .map(|d| format!("charms: {}", d.display())),
            );
            (outcome.findings, outcome.checked)
        }
    };
    let state = Arc::new(CheckState::open(args.state_dir.as_deref())?);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    eprintln!("preflight: listening on http://{local}");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        state.clone(),
        ServerConfig::new(token),
        async {
            let _ = stop_rx.await;
        },
    ));

    let pb = progress_bar(args.quiet);
    pb.enable_steady_tick(Duration::from_millis(200));
    let expect = args.expect;
    if state.lock().plan.is_none() {
        let deadline = Instant::now() + Duration::from_secs(args.deadline);
        wait_until(&state, deadline, &pb, || {
            let n = state.registered();
            (n >= expect, format!("agents registered {n}/{expect}"))
        })
        .await;
    }
    let opts = PlanOptions {
        full_mesh_max: args.full_mesh_max,
        k: args.sparse_k.max(1),
        isolate,
        settings: ProbeSettings {
            count: args.count.max(1),
            timeout_ms: args.timeout_ms.max(1),
            ..ProbeSettings::default()
        },
        controllers,
        ..PlanOptions::default()
    };
    state.plan(&provider, &opts)?;
    let deadline = Instant::now() + Duration::from_secs(args.probe_deadline);
    wait_until(&state, deadline, &pb, || {
        let (want, have, planned, done) = state.progress();
        (
            have >= want,
            format!("probes done {done}/{planned}, agents reported {have}/{want}"),
        )
    })
    .await;
    state.finish();
    pb.finish_and_clear();

    let report = {
        let inner = state.lock();
        let no_merge = Default::default();
        let no_plan = Default::default();
        let merged = inner.merged.as_ref().unwrap_or(&no_merge);
        let plan = inner.plan.as_ref().unwrap_or(&no_plan);
        inputs.push(match &source {
            preflight_maas::ProviderSource::File(p) => format!("maas: {}", p.display()),
            preflight_maas::ProviderSource::Live { url, .. } => format!("maas: {url}"),
        });
        inputs.push(format!(
            "agents: {} of {expect} expected",
            inner.agents.len()
        ));
        build_report(ReportInput {
            provider: &provider,
            merged,
            plan,
            results: &inner.results,
            expected: expect,
            extra_findings,
            extra_checked,
            inputs,
        })
    };
    write_output(
        args.output.as_deref(),
        &preflight_report::render(&report, args.format.into()),
    )?;
    // Let agents still polling hear that the check is over, then stop serving.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    Ok(ExitCode::from(report.exit_code()))
}
