//! `preflight demo`: builds a MAAS-shaped lab in network namespaces, serves its MAAS snapshot,
//! runs the coordinator and one agent per host, and prints the report.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use preflight_lab::lab::describe_fault;
use preflight_lab::supervise::{
    remove_stale_work_dirs, sibling_binary, CheckRun, CheckRunSpec, RunEvent, WorkDir,
};
use preflight_lab::{netns, scenarios, Lab, Topology};
use preflight_model::report::{Report, Status};

use super::common::{write_output, write_report, ReportFormat};

/// Work dirs of the demo are `<tmp>/preflight-demo-<pid>-<random>`.
const WORK_PREFIX: &str = "preflight-demo";

/// Flags of `preflight demo`.
#[derive(clap::Args, Debug)]
#[command(
    after_long_help = "How it works: the lab comes from one topology file (a scenario): the intended network becomes a MAAS
snapshot, served by the MAAS API stand-in; then the scenario's faults are applied to the
namespaces, so reality drifts from intent. The coordinator runs in the lab's management
namespace, one agent runs in each host namespace, and the report is printed. Everything is
removed afterwards (also on Ctrl-C).

The default scenario is the 4-node OpenStack layout (spaces default, internal-api,
admin-api, public-api, storage-data with MTU 9000, storage-cluster, compute-data) with two
faults, a jumbo-frame mismatch and a missing VLAN: the report it prints is a failing one.

Needs root (network namespaces).

Examples:
  preflight demo                         # the OpenStack layout, text report
  preflight demo --list                  # the shipped scenarios
  preflight demo --scenario healthy      # zero findings, exit 0
  preflight demo --scenario my-lab.toml --format html -o report.html
  preflight demo --cleanup               # remove namespaces left by killed runs

Exit code: the check's (0 pass, 1 error findings, 2 usage or input error)."
)]
pub(crate) struct Args {
    /// Shipped scenario name (see --list) or a topology file (TOML, see docs/lab.md).
    #[arg(long, value_name = "NAME|FILE", default_value = scenarios::DEFAULT)]
    pub scenario: String,
    /// List the shipped scenarios, one line each, and exit.
    #[arg(long)]
    pub list: bool,
    /// Remove namespaces left behind by earlier runs that were killed, and exit.
    #[arg(long)]
    pub cleanup: bool,
    /// Keep the lab after the report, until Ctrl-C (to look around with `ip netns exec`).
    #[arg(long)]
    pub keep: bool,
    /// Report format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Write the report to FILE instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also write the JSON report to FILE (whatever --format is).
    #[arg(long, value_name = "FILE")]
    pub json_output: Option<PathBuf>,
    /// Keep the run's files (MAAS snapshot, coordinator state dir, report.json, agent logs)
    /// in DIR instead of a temporary directory that is removed.
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// No progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Echo requests per probe (default: the scenario's `[check] count`, else 3).
    #[arg(long, value_name = "N")]
    pub count: Option<u32>,
    /// Milliseconds to wait for each echo reply.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub timeout_ms: u64,
    /// Seconds the coordinator waits for probe results once plans are out; agents that take
    /// longer are reported without their results.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub probe_deadline: u64,
    /// Run the agent API over TLS: the coordinator makes a self-signed certificate and the
    /// agents pin its fingerprint (`--tls` / `--fingerprint-file`).
    #[arg(long)]
    pub tls: bool,
}

/// Prints a progress line unless quiet.
struct Progress {
    quiet: bool,
    start: Instant,
}

impl Progress {
    fn say(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            eprintln!(
                "[{:>6.2}s] {}",
                self.start.elapsed().as_secs_f64(),
                msg.as_ref()
            );
        }
    }
}

/// Runs the subcommand.
pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.list {
        for (name, description) in scenarios::list() {
            let default = if name == scenarios::DEFAULT {
                " (default)"
            } else {
                ""
            };
            println!("{name:<26} {description}{default}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !netns::can_create() {
        eprintln!(
            "preflight demo: error: the lab builds network namespaces, which needs root and \
             iproute2. Run it as root: `sudo ./demo.sh` (or `sudo preflight demo`)."
        );
        return Ok(ExitCode::from(2));
    }
    if args.cleanup {
        let removed = netns::cleanup_stale().context("cannot clean up")?;
        let dirs = remove_stale_work_dirs(WORK_PREFIX);
        if removed.is_empty() && dirs.is_empty() {
            println!("nothing to clean up");
        }
        for d in dirs {
            println!("removed {}", d.display());
        }
        for n in removed {
            println!("removed namespace {n}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let topology = scenarios::load(&args.scenario).map_err(|e| anyhow::anyhow!("{e}"))?;
    let progress = Progress {
        quiet: args.quiet,
        start: Instant::now(),
    };

    // Ctrl-C / SIGTERM: from here on they end the run through the normal drop path. The
    // handlers are installed now (not when a task first runs), and replace an inherited
    // "ignore" (background jobs of a non-interactive shell ignore SIGINT).
    let stop = Arc::new(tokio::sync::Notify::new());
    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let stop = stop.clone();
        let interrupted = interrupted.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
                interrupted.store(true, std::sync::atomic::Ordering::SeqCst);
                stop.notify_one();
            }
        });
    }

    progress.say(format!(
        "scenario {} ({} hosts, {} spaces, {} subnets, {} faults): {}",
        topology.name,
        topology.hosts.len(),
        topology.spaces.len(),
        topology.subnets.len(),
        topology.faults.len(),
        topology.description
    ));
    let mut built = {
        let t = topology.clone();
        tokio::task::spawn_blocking(move || Lab::build(&t))
    };
    let mut lab = tokio::select! {
        r = &mut built => r.context("the lab builder crashed")??,
        _ = stop.notified() => {
            eprintln!("preflight demo: interrupted; removing the lab once its build stops");
            // The build cannot be cut short; wait for it and drop what it made.
            if let Ok(Ok(lab)) = built.await {
                drop(lab);
            }
            return Ok(ExitCode::from(130));
        }
    };
    progress.say(format!(
        "lab built: {} namespaces, {} host interfaces (each VLAN its own bridge)",
        lab.namespaces().len(),
        topology.interface_count()
    ));
    let mut work = match &args.work_dir {
        Some(dir) => {
            // The coordinator resumes from a state dir it finds: never mix two runs.
            WorkDir::given(dir).context("--work-dir")?
        }
        None => WorkDir::new(WORK_PREFIX)?,
    };
    work.keep(args.keep);
    let result = tokio::select! {
        r = drive(&args, &topology, &mut lab, &work, &progress) => r,
        _ = stop.notified() => {
            eprintln!("preflight demo: interrupted; stopping agents and removing the lab");
            Ok(ExitCode::from(130))
        }
    };
    if args.keep && result.is_ok() && !interrupted.load(std::sync::atomic::Ordering::SeqCst) {
        eprintln!("lab kept. Namespaces:");
        for n in lab.namespaces() {
            eprintln!("  {n}");
        }
        eprintln!(
            "snapshot, report and agent logs are in {} (kept)",
            work.path().display()
        );
        eprintln!("look around with `ip netns exec NAME ...`; press Ctrl-C to remove the lab");
        stop.notified().await;
    }
    progress.say("removing the lab");
    drop(lab);
    drop(work);
    result
}

async fn drive(
    args: &Args,
    topology: &Topology,
    lab: &mut Lab,
    work: &WorkDir,
    progress: &Progress,
) -> anyhow::Result<ExitCode> {
    // Intent: the MAAS snapshot, written before the faults.
    let snapshot = work.join("maas-snapshot.json");
    let text = serde_json::to_string_pretty(&lab.maas_snapshot())?;
    write_output(Some(&snapshot), &text)?;
    progress.say(format!(
        "MAAS snapshot written ({} machines)",
        topology.maas_machines()
    ));
    // Reality: the faults.
    lab.apply_faults()?;
    for f in &topology.faults {
        progress.say(format!("fault: {}", describe_fault(f)));
    }

    // The MAAS stand-in and the coordinator in the management namespace, an agent per host.
    let deadline = topology.check.deadline_secs.unwrap_or(60);
    let spec = CheckRunSpec {
        preflight: sibling_binary("preflight"),
        agent: sibling_binary("preflight-agent"),
        snapshot,
        count: args.count.or(topology.check.count).unwrap_or(3),
        timeout_ms: args.timeout_ms,
        deadline,
        probe_deadline: args.probe_deadline,
        tls: args.tls,
    };
    let lab: &Lab = lab;
    let mut run = tokio::task::block_in_place(|| {
        CheckRun::start(lab, topology, work, &spec, |e| match e {
            RunEvent::Maas(url) => progress.say(format!("MAAS API stand-in at {url}")),
            RunEvent::Coordinator(url) => {
                progress.say(format!("coordinator at {url} (management network)"))
            }
            RunEvent::AgentsStarted { started, without } => progress.say(format!(
                "{started} agents started{}; probing (deadline {deadline} s)",
                if without > 0 {
                    format!(", {without} host(s) without agent")
                } else {
                    String::new()
                }
            )),
        })
    })?;

    // Wait for the agents and the coordinator, reporting agents as they finish.
    let total = run.agents_started;
    let mut finished = 0usize;
    let mut failed_agents = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let (mut last_said, mut last_time) = (0usize, Instant::now());
    let status = loop {
        tick.tick().await;
        let (exited, coordinator) = run.poll()?;
        for a in exited {
            finished += 1;
            if total <= 12 {
                progress.say(format!("agent {} done ({finished}/{total})", a.name));
            }
            if !a.success {
                failed_agents.push(a);
            }
        }
        if total > 12 && finished != last_said && last_time.elapsed() >= Duration::from_secs(1) {
            progress.say(format!("agents done: {finished}/{total}"));
            last_said = finished;
            last_time = Instant::now();
        }
        if let Some(s) = coordinator {
            break s;
        }
    };
    for a in &failed_agents {
        progress.say(format!(
            "agent {} exited with {}: {}",
            a.name,
            a.status,
            a.log_tail.lines().collect::<Vec<_>>().join(" | ")
        ));
    }
    let report_json = run.report_json.clone();
    let code = status.code().unwrap_or(2);
    progress.say(format!("coordinator finished (exit {code})"));
    if code == 2 || !report_json.exists() {
        let log = run.coordinator_log(40);
        anyhow::bail!("the check failed to produce a report (exit {code}):\n{log}");
    }

    // The report.
    let text = std::fs::read_to_string(&report_json)
        .with_context(|| format!("cannot read {}", report_json.display()))?;
    let report: Report = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a preflight report", report_json.display()))?;
    if let Some(path) = &args.json_output {
        write_output(Some(path), &text)?;
    }
    write_report(args.output.as_deref(), &report, args.format)?;
    if let Some(path) = &args.output {
        progress.say(format!("report written to {}", path.display()));
    }

    // What the scenario meant to show.
    let verdict = match report.summary.status {
        Status::Pass => "PASSED".to_string(),
        Status::Fail => format!("FAILED with {} error finding(s)", report.summary.errors),
    };
    if !args.quiet {
        eprintln!();
        eprintln!("demo: the check {verdict}.");
        if !topology.faults.is_empty() {
            eprintln!(
                "demo: this scenario injects {} fault(s) on purpose, so a failing report is what it should show:",
                topology.faults.len()
            );
            for f in &topology.faults {
                eprintln!("        - {}", describe_fault(f));
            }
        }
        match preflight_lab::expect::compare(topology, &report.findings) {
            Ok(()) => eprintln!(
                "demo: the findings are exactly the ones the scenario expects ({}).",
                topology.expect.len()
            ),
            Err(m) => eprintln!("demo: the findings differ from what the scenario expects:\n{m}"),
        }
    }
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(2)))
}
