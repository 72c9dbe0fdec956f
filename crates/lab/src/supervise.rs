//! Running the real binaries around a lab: a private work dir, secret files, children started
//! inside namespaces (optionally as a lab host, with its hostname), readiness read from a
//! `--ready-file` the child writes atomically (never scraped from its output), and children
//! killed and reaped when dropped. Used by `preflight demo`, the end-to-end tests and the
//! load benchmark.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::netns::Netns;

/// Errors of supervising children.
#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    /// A file or directory could not be made or read.
    #[error("{path}: {error}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        error: std::io::Error,
    },
    /// A child could not be started.
    #[error("cannot start {name}: {error}")]
    Spawn {
        /// The child's name.
        name: String,
        /// What went wrong.
        error: std::io::Error,
    },
    /// A child exited before it said it was ready.
    #[error("{name} exited ({status}) before it was ready{}", tail_suffix(.log_tail))]
    Exited {
        /// The child's name.
        name: String,
        /// How it exited.
        status: ExitStatus,
        /// The last lines of its log.
        log_tail: String,
    },
    /// A child did not say it was ready in time.
    #[error("{name} was not ready after {} s{}", .after.as_secs(), tail_suffix(.log_tail))]
    NotReady {
        /// The child's name.
        name: String,
        /// The wait.
        after: Duration,
        /// The last lines of its log.
        log_tail: String,
    },
    /// The `[dns]` host is not in the lab, or cannot serve UDP 53.
    #[error("DNS server {host}: {message}")]
    Dns {
        /// The host named in `[dns]`.
        host: String,
        /// What went wrong.
        message: String,
    },
    /// A `[check] controllers` host is not in the lab, or cannot listen on a controller port.
    #[error("controller {host}: {message}")]
    Controller {
        /// The host named in `[check] controllers`.
        host: String,
        /// What went wrong.
        message: String,
    },
}

fn tail_suffix(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!(":\n{tail}")
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SuperviseError + '_ {
    move |error| SuperviseError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// A scratch directory (mode 0700) removed on drop unless kept.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl WorkDir {
    /// A fresh `<tmp>/<prefix>-<pid>-<random>` directory, removed on drop. A fresh one every
    /// run: a leftover of an earlier run whose pid we now have would otherwise hand the
    /// coordinator that run's state dir to resume from.
    pub fn new(prefix: &str) -> Result<WorkDir, SuperviseError> {
        let path = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}",
            std::process::id(),
            random_hex(4)?
        ));
        std::fs::create_dir(&path).map_err(io(&path))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
                .map_err(io(&path))?;
        }
        Ok(WorkDir { path, keep: false })
    }

    /// A directory the caller chose, kept afterwards; created when missing, refused when
    /// not empty (a coordinator would resume an earlier run's state dir found in it).
    pub fn given(dir: &Path) -> Result<WorkDir, SuperviseError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        if std::fs::read_dir(dir).map_err(io(dir))?.next().is_some() {
            return Err(SuperviseError::Io {
                path: dir.to_path_buf(),
                error: std::io::Error::other(
                    "not empty (the coordinator would resume an earlier run); give an empty or new directory",
                ),
            });
        }
        Ok(WorkDir {
            path: dir.to_path_buf(),
            keep: true,
        })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside it.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Keep it after drop (or not).
    pub fn keep(&mut self, keep: bool) {
        self.keep |= keep;
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Removes `<prefix>-<pid>-…` work dirs of processes that are gone; returns what it removed.
pub fn remove_stale_work_dirs(prefix: &str) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return removed;
    };
    let head = format!("{prefix}-");
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(head.as_str()))
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

/// `bytes` random bytes from /dev/urandom, as hex.
pub fn random_hex(bytes: usize) -> Result<String, SuperviseError> {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    let dev = Path::new("/dev/urandom");
    std::fs::File::open(dev)
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(io(dev))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes a secret to a new file only its owner can read (0600), replacing an old one.
pub fn write_secret(path: &Path, value: &str) -> Result<(), SuperviseError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(path).map_err(io(path))?;
    f.write_all(value.as_bytes()).map_err(io(path))?;
    Ok(())
}

/// Path of a sibling binary (same directory as this one), else the bare name (PATH).
pub fn sibling_binary(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Where a child runs.
#[derive(Debug, Clone, Copy)]
pub enum Place<'a> {
    /// In this process's namespaces.
    Here,
    /// Inside a network namespace (`ip netns exec`).
    Netns(&'a Netns),
    /// As a lab host: inside its network namespace and in a new UTS namespace with its
    /// hostname (so an agent reports the lab's hostname, not the real machine's).
    Host(&'a Netns, &'a str),
}

/// A command for `program` at `place`, with standard input closed. Every wrapper execs, so
/// the child's pid is the program's.
pub fn command(place: Place<'_>, program: &Path) -> Command {
    let mut c = match place {
        Place::Here => Command::new(program),
        Place::Netns(ns) => {
            let mut c = Command::new("ip");
            c.arg("netns").arg("exec").arg(ns.name()).arg(program);
            c
        }
        Place::Host(ns, hostname) => {
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
            .arg(program);
            c
        }
    };
    c.stdin(Stdio::null());
    c
}

/// A running child: killed and reaped when dropped.
#[derive(Debug)]
pub struct Supervised {
    name: String,
    child: Option<Child>,
    log: Option<PathBuf>,
    ready_file: Option<PathBuf>,
    status: Option<ExitStatus>,
}

impl Supervised {
    /// Starts `cmd` as `name`. With `log`, its stdout and stderr go to that file (else they
    /// are discarded); with `ready_file`, `--ready-file FILE` is appended to its arguments and
    /// [`Supervised::wait_ready`] waits for that file.
    pub fn spawn(
        name: &str,
        mut cmd: Command,
        log: Option<&Path>,
        ready_file: Option<&Path>,
    ) -> Result<Supervised, SuperviseError> {
        if let Some(r) = ready_file {
            let _ = std::fs::remove_file(r);
            cmd.arg("--ready-file").arg(r);
        }
        match log {
            Some(p) => {
                let f = std::fs::File::create(p).map_err(io(p))?;
                let g = f.try_clone().map_err(io(p))?;
                cmd.stdout(f).stderr(g);
            }
            None => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let child = cmd.spawn().map_err(|error| SuperviseError::Spawn {
            name: name.to_string(),
            error,
        })?;
        Ok(Supervised {
            name: name.to_string(),
            child: Some(child),
            log: log.map(Path::to_path_buf),
            ready_file: ready_file.map(Path::to_path_buf),
            status: None,
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its pid (0 once reaped).
    pub fn id(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// The last `n` lines of its log (empty without one).
    pub fn log_tail(&self, n: usize) -> String {
        let Some(p) = &self.log else {
            return String::new();
        };
        let text = std::fs::read_to_string(p).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Its exit status if it has exited (reaping it), without waiting.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, SuperviseError> {
        if self.status.is_some() {
            return Ok(self.status);
        }
        let Some(child) = self.child.as_mut() else {
            return Ok(None);
        };
        match child.try_wait() {
            Ok(Some(s)) => {
                self.status = Some(s);
                Ok(Some(s))
            }
            Ok(None) => Ok(None),
            Err(error) => Err(SuperviseError::Spawn {
                name: self.name.clone(),
                error,
            }),
        }
    }

    /// Waits up to `limit` for it to exit.
    pub fn wait_timeout(&mut self, limit: Duration) -> Result<Option<ExitStatus>, SuperviseError> {
        let start = Instant::now();
        loop {
            if let Some(s) = self.try_wait()? {
                return Ok(Some(s));
            }
            if start.elapsed() >= limit {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// One look at readiness: the ready file's content (trimmed) once it is there, `None`
    /// while it is not, an error when the child exited first.
    pub fn poll_ready(&mut self) -> Result<Option<String>, SuperviseError> {
        if let Some(r) = &self.ready_file {
            // The child writes it with temp file + rename: present means complete.
            if let Ok(text) = std::fs::read_to_string(r) {
                return Ok(Some(text.trim().to_string()));
            }
        }
        if let Some(status) = self.try_wait()? {
            return Err(SuperviseError::Exited {
                name: self.name.clone(),
                status,
                log_tail: self.log_tail(20),
            });
        }
        Ok(None)
    }

    /// Waits up to `limit` for the ready file; returns its content (for servers, their URL).
    pub fn wait_ready(&mut self, limit: Duration) -> Result<String, SuperviseError> {
        let start = Instant::now();
        loop {
            if let Some(text) = self.poll_ready()? {
                return Ok(text);
            }
            if start.elapsed() >= limit {
                return Err(SuperviseError::NotReady {
                    name: self.name.clone(),
                    after: limit,
                    log_tail: self.log_tail(20),
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends a signal (e.g. `libc::SIGTERM`) unless it has exited.
    pub fn signal(&mut self, sig: i32) {
        if self.status.is_none() {
            if let Ok(pid) = i32::try_from(self.id()) {
                if pid > 0 {
                    // SAFETY: kill(2) on our own unreaped child's pid has no memory effects.
                    unsafe {
                        libc::kill(pid, sig);
                    }
                }
            }
        }
    }

    /// Kills it (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            if self.status.is_none() {
                let _ = c.kill();
                if let Ok(s) = c.wait() {
                    self.status = Some(s);
                }
            }
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Settings of a whole check run on a lab (see [`CheckRun::start`]).
#[derive(Debug, Clone)]
pub struct CheckRunSpec {
    /// The `preflight` binary.
    pub preflight: PathBuf,
    /// The `preflight-agent` binary.
    pub agent: PathBuf,
    /// The MAAS snapshot the stand-in serves (the lab's intent).
    pub snapshot: PathBuf,
    /// `--count`: echo requests per probe.
    pub count: u32,
    /// `--timeout-ms`: wait for each echo reply.
    pub timeout_ms: u64,
    /// `--deadline`: seconds to wait for agents to register.
    pub deadline: u64,
    /// `--probe-deadline`: seconds to wait for results.
    pub probe_deadline: u64,
    /// Serve the agent API over TLS (`--tls`); agents pin the fingerprint from its file.
    pub tls: bool,
}

/// A step of a check run, for the caller's progress lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEvent {
    /// The MAAS API stand-in answers at this URL.
    Maas(String),
    /// The coordinator answers at this URL.
    Coordinator(String),
    /// This many agents were started; so many hosts have none (a `no-agent` fault).
    AgentsStarted {
        /// Agents started.
        started: usize,
        /// Hosts without an agent.
        without: usize,
    },
}

/// An agent that exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentExit {
    /// Its host.
    pub name: String,
    /// Whether it exited 0.
    pub success: bool,
    /// How it exited.
    pub status: String,
    /// The last lines of its log.
    pub log_tail: String,
}

/// The whole check running on a lab: the MAAS API stand-in and the coordinator in the
/// management namespace, one agent per host namespace (as that host), every file in the work
/// dir. Dropping it kills and reaps whatever still runs.
#[derive(Debug)]
pub struct CheckRun {
    agents: Vec<Supervised>,
    coordinator: Supervised,
    #[allow(dead_code)] // kept to be killed last, on drop
    maas: Supervised,
    #[allow(dead_code)] // the controllers' API and HA ports stay open while the check runs
    controller_ports: Vec<std::net::TcpListener>,
    #[allow(dead_code)] // the lab's DNS server answers while the check runs
    dns: Option<crate::dns::Responder>,
    /// Where the coordinator writes its JSON report.
    pub report_json: PathBuf,
    /// Agents started.
    pub agents_started: usize,
}

/// The hosts that play Juju controllers (`[check] controllers`): each listens on the API port
/// (17070) and the HA port (37017) on every address; their addresses in the management space
/// (every address in a space when none is named) are what `--controller` is given.
fn controllers(
    lab: &crate::Lab,
    topology: &crate::Topology,
) -> Result<(Vec<std::net::TcpListener>, Vec<String>), SuperviseError> {
    let mut listeners = Vec::new();
    let mut addrs = Vec::new();
    for name in &topology.check.controllers {
        let err = |message: String| SuperviseError::Controller {
            host: name.clone(),
            message,
        };
        let (Some(h), Some(host)) = (lab.host(name), topology.host(name)) else {
            return Err(err("no such host in the lab".into()));
        };
        for port in [17070u16, 37017] {
            listeners.push(
                crate::netns::listen_in(h.ns(), std::net::SocketAddr::from(([0, 0, 0, 0], port)))
                    .map_err(|e| err(format!("cannot listen on port {port}: {e}")))?,
            );
        }
        for i in &host.interfaces {
            let space = topology.vlans[topology.subnets[i.subnet].vlan]
                .space
                .map(|s| topology.spaces[s].name.as_str());
            let wanted = match &topology.check.mgmt_space {
                Some(m) => space == Some(m.as_str()),
                None => space.is_some(),
            };
            if let (true, Some(a)) = (wanted, i.address) {
                addrs.push(a.to_string());
            }
        }
    }
    Ok((listeners, addrs))
}

/// The lab's DNS server (`[dns]`): UDP 53 on every address of its host, answering the
/// lab's zone ([`crate::dns::records`]).
fn dns_server(
    lab: &crate::Lab,
    topology: &crate::Topology,
) -> Result<Option<crate::dns::Responder>, SuperviseError> {
    let Some(d) = &topology.dns else {
        return Ok(None);
    };
    let err = |message: String| SuperviseError::Dns {
        host: d.host.clone(),
        message,
    };
    let h = lab
        .host(&d.host)
        .ok_or_else(|| err("no such host in the lab".into()))?;
    let sock = crate::netns::udp_in(h.ns(), std::net::SocketAddr::from(([0, 0, 0, 0], 53)))
        .map_err(|e| err(format!("cannot bind UDP 53: {e}")))?;
    crate::dns::Responder::start(sock, crate::dns::records(topology))
        .map(Some)
        .map_err(|e| err(e.to_string()))
}

impl CheckRun {
    /// Writes the secrets, starts the MAAS stand-in and the coordinator (each waited for
    /// through its ready file), then the agents.
    pub fn start(
        lab: &crate::Lab,
        topology: &crate::Topology,
        work: &WorkDir,
        spec: &CheckRunSpec,
        mut event: impl FnMut(RunEvent),
    ) -> Result<CheckRun, SuperviseError> {
        let (controller_ports, controller_addrs) = controllers(lab, topology)?;
        let dns = dns_server(lab, topology)?;
        let key_file = work.join("maas-api-key");
        write_secret(
            &key_file,
            &format!(
                "{}:{}:{}",
                &random_hex(9)?,
                &random_hex(9)?,
                &random_hex(16)?
            ),
        )?;
        let mut cmd = command(Place::Netns(lab.mgmt()), &spec.preflight);
        cmd.args(["maas", "serve"])
            .arg(&spec.snapshot)
            .args(["--listen", "127.0.0.1:0", "--api-key-file"])
            .arg(&key_file);
        let mut maas = Supervised::spawn(
            "`preflight maas serve`",
            cmd,
            Some(&work.join("maas.log")),
            Some(&work.join("maas.ready")),
        )?;
        let maas_url = maas.wait_ready(Duration::from_secs(10))?;
        event(RunEvent::Maas(maas_url.clone()));

        let token_file = work.join("agent-token");
        write_secret(&token_file, &random_hex(24)?)?;
        let report_json = work.join("report.json");
        let mut cmd = command(Place::Netns(lab.mgmt()), &spec.preflight);
        cmd.arg("check")
            .args(["--maas-url", &maas_url, "--api-key-file"])
            .arg(&key_file)
            .args(["--listen", &format!("{}:0", lab.mgmt_address())])
            .arg("--token-file")
            .arg(&token_file)
            // Every machine MAAS knows should run an agent (also one whose agent a `no-agent`
            // fault keeps away); a host MAAS does not know is reported, not counted.
            .args(["--expect", &topology.maas_machines().to_string()])
            .args(["--deadline", &spec.deadline.to_string()])
            .args(["--probe-deadline", &spec.probe_deadline.to_string()])
            .args(["--count", &spec.count.to_string()])
            .args(["--timeout-ms", &spec.timeout_ms.to_string()])
            .args(["--format", "json", "-o"])
            .arg(&report_json)
            .arg("--state-dir")
            .arg(work.join("state"))
            .arg("--quiet");
        let fingerprint_file = work.join("coordinator-fingerprint");
        if spec.tls {
            cmd.arg("--tls")
                .arg("--fingerprint-file")
                .arg(&fingerprint_file);
        }
        for (a, b) in &topology.check.isolate {
            cmd.args(["--isolate", &format!("{a}:{b}")]);
        }
        if let Some(bundle) = &topology.check.bundle {
            let path = work.join("bundle.yaml");
            std::fs::write(&path, bundle).map_err(io(&path))?;
            cmd.arg("--bundle").arg(&path);
            if let Some(i) = &topology.check.isolation {
                cmd.args(["--isolation", i]);
            }
            for (a, b) in &topology.check.allow {
                cmd.args(["--allow", &format!("{a}:{b}")]);
            }
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
        let mut coordinator = Supervised::spawn(
            "the coordinator (`preflight check`)",
            cmd,
            Some(&work.join("coordinator.log")),
            Some(&work.join("coordinator.ready")),
        )?;
        let url = coordinator.wait_ready(Duration::from_secs(30))?;
        event(RunEvent::Coordinator(url.clone()));

        // The lab hosts have no resolver of their own (not the machine's): the DNS servers
        // checked are the ones MAAS gives the subnets (the lab's `[dns]` host).
        let resolv_conf = work.join("resolv.conf");
        std::fs::write(&resolv_conf, "# lab hosts: no resolver of their own\n")
            .map_err(io(&resolv_conf))?;
        let mut agents = Vec::new();
        for h in topology.agent_hosts() {
            let Some(lh) = lab.host(&h.name) else {
                continue;
            };
            let mut cmd = command(Place::Host(lh.ns(), &h.name), &spec.agent);
            cmd.args(["run", "--coordinator", &url, "--token-file"])
                .arg(&token_file)
                .args(["--machine-id", &h.system_id])
                .arg("--resolv-conf")
                .arg(&resolv_conf);
            if spec.tls {
                cmd.arg("--fingerprint-file").arg(&fingerprint_file);
            }
            agents.push(Supervised::spawn(
                &h.name,
                cmd,
                Some(&work.join(&format!("agent-{}.log", h.name))),
                None,
            )?);
        }
        let started = agents.len();
        event(RunEvent::AgentsStarted {
            started,
            without: topology.hosts.len() - started,
        });
        Ok(CheckRun {
            agents,
            coordinator,
            maas,
            controller_ports,
            dns,
            report_json,
            agents_started: started,
        })
    }

    /// One look, without waiting: the agents that exited since the last look, and the
    /// coordinator's exit status once it has exited.
    pub fn poll(&mut self) -> Result<(Vec<AgentExit>, Option<ExitStatus>), SuperviseError> {
        let mut exited = Vec::new();
        let mut still = Vec::new();
        for mut child in std::mem::take(&mut self.agents) {
            match child.try_wait() {
                Ok(Some(s)) => exited.push(AgentExit {
                    name: child.name().to_string(),
                    success: s.success(),
                    status: s.to_string(),
                    log_tail: if s.success() {
                        String::new()
                    } else {
                        child.log_tail(3)
                    },
                }),
                Ok(None) => still.push(child),
                Err(_) => exited.push(AgentExit {
                    name: child.name().to_string(),
                    success: false,
                    status: "unknown".into(),
                    log_tail: String::new(),
                }),
            }
        }
        self.agents = still;
        Ok((exited, self.coordinator.try_wait()?))
    }

    /// The last `n` lines of the coordinator's log.
    pub fn coordinator_log(&self, n: usize) -> String {
        self.coordinator.log_tail(n)
    }
}
