//! `preflight demo`: builds a MAAS-shaped lab in network namespaces, serves its MAAS snapshot,
//! runs the coordinator and one agent per host, and prints the report.

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use preflight_lab::lab::describe_fault;
use preflight_lab::{netns, scenarios, Lab, Topology};
use preflight_model::report::{Report, Status};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::common::{write_output, ReportFormat};

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
pub struct Args {
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

/// A scratch directory removed on drop (unless kept).
struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl WorkDir {
    fn new() -> anyhow::Result<WorkDir> {
        // A fresh directory every run: a leftover of an earlier run whose pid we now have
        // would otherwise hand the coordinator that run's state dir to resume from.
        let path = std::env::temp_dir().join(format!(
            "preflight-demo-{}-{}",
            std::process::id(),
            random_hex(4)?
        ));
        std::fs::create_dir(&path).with_context(|| format!("cannot create {}", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(WorkDir { path, keep: false })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Removes `preflight-demo-<pid>` work dirs of processes that are gone.
fn remove_stale_work_dirs() -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return removed;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("preflight-demo-"))
            .and_then(|p| p.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        if std::fs::remove_dir_all(e.path()).is_ok() {
            removed.push(e.path());
        }
    }
    removed
}

fn random_hex(bytes: usize) -> anyhow::Result<String> {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("cannot read /dev/urandom")?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn write_secret(path: &Path, value: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(value.as_bytes())?;
    Ok(())
}

/// Path of a sibling binary (same directory as this one), else the bare name (PATH).
fn sibling_binary(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// A command run inside a namespace with `ip netns exec`, killed when dropped.
fn in_ns(ns: &netns::Netns, program: &Path) -> Command {
    let mut c = Command::new("ip");
    c.arg("netns")
        .arg("exec")
        .arg(ns.name())
        .arg(program)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    c
}

/// A command run as host `hostname`: inside its network namespace and in a new UTS
/// namespace with that hostname (so the agent reports the lab's hostname, not the real
/// machine's), killed when dropped.
fn as_host(ns: &netns::Netns, hostname: &str, program: &Path) -> Command {
    let mut c = Command::new("ip");
    c.args([
        "netns",
        "exec",
        ns.name(),
        "unshare",
        "--uts",
        "--",
        "sh",
        "-c",
    ])
    .arg(r#"hostname "$1" && shift && exec "$@""#)
    .arg("sh")
    .arg(hostname)
    .arg(program)
    .stdin(Stdio::null())
    .kill_on_drop(true);
    c
}

/// Waits for a line containing `marker` on a child's stream; returns the rest of the line
/// after the marker and the reader for further lines. Lines before it are kept in `seen`.
async fn wait_for_line<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut tokio::io::Lines<BufReader<R>>,
    marker: &str,
    seen: &mut Vec<String>,
    timeout: Duration,
) -> Option<String> {
    let fut = async {
        while let Ok(Some(line)) = reader.next_line().await {
            if let Some((_, rest)) = line.split_once(marker) {
                return Some(rest.trim().to_string());
            }
            seen.push(line);
        }
        None
    };
    tokio::time::timeout(timeout, fut).await.ok().flatten()
}

/// Starts `preflight maas serve` in the management namespace; returns the child and URL.
async fn start_maas(
    lab: &Lab,
    preflight: &Path,
    snapshot: &Path,
    key_file: &Path,
) -> anyhow::Result<(Child, String)> {
    let mut child = in_ns(lab.mgmt(), preflight)
        .args(["maas", "serve"])
        .arg(snapshot)
        .args(["--listen", "127.0.0.1:0", "--api-key-file"])
        .arg(key_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start `preflight maas serve`")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    match wait_for_line(
        &mut lines,
        "listening on ",
        &mut seen,
        Duration::from_secs(10),
    )
    .await
    {
        Some(url) => {
            // Keep draining stdout so the server never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            Ok((child, url))
        }
        None => {
            let _ = child.start_kill();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use tokio::io::AsyncReadExt;
                let _ =
                    tokio::time::timeout(Duration::from_secs(2), e.read_to_string(&mut err)).await;
            }
            anyhow::bail!(
                "`preflight maas serve` did not say where it listens: {}",
                err.trim()
            )
        }
    }
}

/// Everything the run needs, in drop order: children first, then the lab, then the files.
struct Run {
    agents: Vec<(String, Child)>,
    coordinator: Option<Child>,
    maas: Option<Child>,
}

/// Runs the subcommand.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
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
        let dirs = remove_stale_work_dirs();
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
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            // The coordinator resumes from a state dir it finds: never mix two runs.
            if std::fs::read_dir(dir)?.next().is_some() {
                anyhow::bail!(
                    "--work-dir {}: not empty (the coordinator would resume an earlier run); give an empty or new directory",
                    dir.display()
                );
            }
            WorkDir {
                path: dir.clone(),
                keep: true,
            }
        }
        None => WorkDir::new()?,
    };
    work.keep |= args.keep;
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
            work.path.display()
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
    let preflight = sibling_binary("preflight");
    let agent = sibling_binary("preflight-agent");
    let mut run = Run {
        agents: Vec::new(),
        coordinator: None,
        maas: None,
    };

    // Intent: the MAAS snapshot, written before the faults.
    let snapshot = work.path.join("maas-snapshot.json");
    let text = serde_json::to_string_pretty(&lab.maas_snapshot())?;
    std::fs::write(&snapshot, text)
        .with_context(|| format!("cannot write {}", snapshot.display()))?;
    progress.say(format!(
        "MAAS snapshot written ({} machines)",
        topology.maas_machines()
    ));
    // Reality: the faults.
    lab.apply_faults()?;
    for f in &topology.faults {
        progress.say(format!("fault: {}", describe_fault(f)));
    }

    // Hosts that play Juju controllers listen on the API (and HA) port, on every address.
    let mut listeners = Vec::new();
    let mut controller_addrs = Vec::new();
    for name in &topology.check.controllers {
        let h = lab
            .host(name)
            .with_context(|| format!("[check] controllers: no host {name:?}"))?;
        for port in [17070u16, 37017] {
            listeners.push(
                netns::listen_in(h.ns(), std::net::SocketAddr::from(([0, 0, 0, 0], port)))
                    .with_context(|| format!("cannot listen on port {port} in {name}"))?,
            );
        }
        let host = topology.host(name).context("controller host")?;
        for i in &host.interfaces {
            let space = topology.vlans[topology.subnets[i.subnet].vlan]
                .space
                .map(|s| topology.spaces[s].name.as_str());
            let wanted = match &topology.check.mgmt_space {
                Some(m) => space == Some(m.as_str()),
                None => space.is_some(),
            };
            if let (true, Some(a)) = (wanted, i.address) {
                controller_addrs.push(a.to_string());
            }
        }
    }

    // The MAAS API stand-in, in the management namespace.
    let key_file = work.path.join("maas-api-key");
    write_secret(
        &key_file,
        &format!(
            "{}:{}:{}",
            &random_hex(9)?,
            &random_hex(9)?,
            &random_hex(16)?
        ),
    )?;
    let (maas_child, maas_url) = start_maas(lab, &preflight, &snapshot, &key_file).await?;
    run.maas = Some(maas_child);
    progress.say(format!("MAAS API stand-in at {maas_url}"));

    // The coordinator, in the management namespace.
    let token_file = work.path.join("agent-token");
    write_secret(&token_file, &random_hex(24)?)?;
    let report_json = work.path.join("report.json");
    let deadline = topology.check.deadline_secs.unwrap_or(60);
    let mut cmd = in_ns(lab.mgmt(), &preflight);
    cmd.arg("check")
        .args(["--maas-url", &maas_url, "--api-key-file"])
        .arg(&key_file)
        .args(["--listen", &format!("{}:0", lab.mgmt_address())])
        .arg("--token-file")
        .arg(&token_file)
        // Every host of the lab is a machine that should run an agent (also one MAAS does
        // not know, and one whose agent a `no-agent` fault keeps away).
        .args(["--expect", &topology.hosts.len().to_string()])
        .args(["--deadline", &deadline.to_string()])
        .args(["--probe-deadline", &args.probe_deadline.to_string()])
        .args([
            "--count",
            &args.count.or(topology.check.count).unwrap_or(3).to_string(),
        ])
        .args(["--timeout-ms", &args.timeout_ms.to_string()])
        .args(["--format", "json", "-o"])
        .arg(&report_json)
        .arg("--state-dir")
        .arg(work.path.join("state"))
        .arg("--quiet");
    for (a, b) in &topology.check.isolate {
        cmd.args(["--isolate", &format!("{a}:{b}")]);
    }
    if !controller_addrs.is_empty() {
        cmd.args(["--controller", &controller_addrs.join(",")]);
    }
    if let Some(m) = &topology.check.mgmt_space {
        cmd.args(["--mgmt-space", m]);
    }
    if let Some(h) = &topology.check.ha_space {
        cmd.args(["--ha-space", h]);
    }
    let mut coordinator = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start `preflight check`")?;
    let stderr = coordinator.stderr.take().context("no stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let url = wait_for_line(
        &mut lines,
        "listening on ",
        &mut seen,
        Duration::from_secs(30),
    )
    .await;
    let Some(url) = url else {
        let status = coordinator.wait().await.ok();
        anyhow::bail!(
            "the coordinator did not start ({}): {}",
            status.map(|s| s.to_string()).unwrap_or_default(),
            seen.join("\n")
        );
    };
    let coordinator_log = Arc::new(std::sync::Mutex::new(seen));
    {
        let log = coordinator_log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(mut l) = log.lock() {
                    l.push(line);
                }
            }
        });
    }
    run.coordinator = Some(coordinator);
    progress.say(format!("coordinator at {url} (management network)"));

    // One agent per host namespace.
    for h in topology.agent_hosts() {
        let Some(lh) = lab.host(&h.name) else {
            continue;
        };
        let log = std::fs::File::create(work.path.join(format!("agent-{}.log", h.name)))?;
        let child = as_host(lh.ns(), &h.name, &agent)
            .args(["run", "--coordinator", &url, "--token-file"])
            .arg(&token_file)
            .args(["--machine-id", &h.system_id])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("cannot start `preflight-agent run`")?;
        run.agents.push((h.name.clone(), child));
    }
    let skipped = topology.hosts.len() - run.agents.len();
    progress.say(format!(
        "{} agents started{}; probing (deadline {deadline} s)",
        run.agents.len(),
        if skipped > 0 {
            format!(", {skipped} host(s) without agent")
        } else {
            String::new()
        }
    ));

    // Wait for the agents and the coordinator, reporting agents as they finish.
    let total = run.agents.len();
    let mut finished = 0usize;
    let mut failed_agents = Vec::new();
    let mut agents = std::mem::take(&mut run.agents);
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let (mut last_said, mut last_time) = (0usize, Instant::now());
    let status = loop {
        tick.tick().await;
        let mut still = Vec::new();
        for (name, mut child) in agents {
            match child.try_wait() {
                Ok(Some(s)) => {
                    finished += 1;
                    if !s.success() {
                        failed_agents.push((name.clone(), s.to_string()));
                    }
                    if total <= 12 {
                        progress.say(format!("agent {name} done ({finished}/{total})"));
                    }
                }
                Ok(None) => still.push((name, child)),
                Err(_) => finished += 1,
            }
        }
        agents = still;
        if total > 12 && finished != last_said && last_time.elapsed() >= Duration::from_secs(1) {
            progress.say(format!("agents done: {finished}/{total}"));
            last_said = finished;
            last_time = Instant::now();
        }
        let coordinator = run.coordinator.as_mut().context("no coordinator")?;
        if let Some(s) = coordinator.try_wait()? {
            break s;
        }
    };
    run.agents = agents; // killed on drop if any are still running
    for (name, s) in &failed_agents {
        let log = std::fs::read_to_string(work.path.join(format!("agent-{name}.log")))
            .unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(3).collect();
        progress.say(format!(
            "agent {name} exited with {s}: {}",
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    }
    let code = status.code().unwrap_or(2);
    progress.say(format!("coordinator finished (exit {code})"));
    if code == 2 || !report_json.exists() {
        let log = coordinator_log
            .lock()
            .map(|l| l.join("\n"))
            .unwrap_or_default();
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
    let rendered = preflight_report::render(&report, args.format.into());
    write_output(args.output.as_deref(), &rendered)?;
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
