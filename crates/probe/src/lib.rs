//! Step 5 of the data line: probe targets (ICMP echo, DF-bit MTU, TCP connect) from a
//! bound source address and report a [`preflight_model::probe::ProbeReport`].
//!
//! [`run_plan`] runs a wire-model plan; [`run_targets`] runs targets with explicit
//! [`EngineOptions`]. The ICMP part is one thread driving few sockets (see [`engine`]); the
//! TCP part runs on the async runtime at the same time.

pub mod engine;
pub mod icmp;
mod mtu;
pub mod plan;
pub mod sock;
pub mod stats;
pub mod targets;
mod tcp;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use preflight_model::plan::{Expectation, PlannedTarget, ProbePlan, ProbeSettings};
use preflight_model::probe::{
    FailureCause, ProbeReport, SocketInfo, SocketKind, TargetResult, TcpResult, PROBE_SCHEMA,
};

pub use plan::{parse_plan, validate_plan};

/// ICMP payload of a plain echo request when nothing else is asked (as ping).
pub const DEFAULT_SIZE: usize = 56;
/// Largest ICMP payload of an IPv4 echo request.
pub const MAX_SIZE: usize = 65_507;
/// Default number of requests in flight at once.
pub const DEFAULT_WINDOW: usize = 8_192;
/// Receive buffer asked for each socket.
pub const DEFAULT_RECV_BUFFER: usize = 8 << 20;
/// TCP connects in flight at once.
const TCP_CONCURRENCY: usize = 256;

/// Errors of a probe run that stop it as a whole (per-target failures are results, not errors).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// An option is out of range.
    #[error("invalid {option}: {reason}")]
    InvalidOption {
        /// The option.
        option: String,
        /// Why.
        reason: String,
    },
    /// A device does not exist.
    #[error("unknown interface `{name}`: {message}")]
    Interface {
        /// The device name.
        name: String,
        /// The OS error.
        message: String,
    },
    /// A source address cannot be bound (not an address of this machine).
    #[error("cannot use source address {addr}: {message}")]
    Source {
        /// The address.
        addr: IpAddr,
        /// The OS error.
        message: String,
    },
    /// A plan is unreadable or invalid.
    #[error("{origin}: {field}: {message}")]
    Plan {
        /// File (or other origin) of the plan.
        origin: String,
        /// Path of the offending field (`targets[2].mtu`), or `(document)`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The probe thread failed.
    #[error("probe run failed: {0}")]
    Runtime(String),
}

/// One target with everything needed to probe it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The plan's probe id, when any.
    pub id: Option<String>,
    /// The space the probe proves, when known.
    pub space: Option<String>,
    /// Source address to bind, when any.
    pub source: Option<IpAddr>,
    /// Device to bind, when any (also the scope of link-local addresses).
    pub device: Option<String>,
    /// Address to probe.
    pub addr: IpAddr,
    /// Expected path MTU: run the MTU probe.
    pub mtu: Option<u32>,
    /// TCP ports to connect to.
    pub tcp_ports: Vec<u16>,
    /// What is expected.
    pub expect: Expectation,
}

impl Target {
    /// A bare address, probed from wherever the routing table says.
    pub fn new(addr: IpAddr) -> Target {
        Target {
            id: None,
            space: None,
            source: None,
            device: None,
            addr,
            mtu: None,
            tcp_ports: Vec::new(),
            expect: Expectation::Reachable,
        }
    }
}

impl From<&PlannedTarget> for Target {
    fn from(p: &PlannedTarget) -> Target {
        Target {
            id: Some(p.id.clone()),
            space: Some(p.space.clone()),
            source: Some(p.source),
            device: p.device.clone(),
            addr: p.target,
            mtu: p.mtu,
            tcp_ports: p.tcp_ports.clone(),
            expect: p.expect,
        }
    }
}

/// How a run probes.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineOptions {
    /// Echo requests per target.
    pub count: u32,
    /// Between requests to one target.
    pub interval: Duration,
    /// Wait for each reply (and each TCP connect).
    pub timeout: Duration,
    /// Extra requests for a target that answered none.
    pub retries: u32,
    /// ICMP payload bytes (raised to 16, the size of our matching token).
    pub size: usize,
    /// Set DF on the plain echo requests.
    pub df: bool,
    /// Global cap, packets per second.
    pub rate: Option<u32>,
    /// Requests in flight at most.
    pub window: usize,
    /// Force a socket kind (default: datagram when allowed, else raw).
    pub socket_kind: Option<SocketKind>,
    /// Receive buffer to ask for, bytes.
    pub recv_buffer: usize,
    /// Agent id to put in the report.
    pub agent: Option<String>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions::from_settings(&ProbeSettings::default())
    }
}

impl EngineOptions {
    /// Options from a plan's settings, the rest at their defaults.
    pub fn from_settings(s: &ProbeSettings) -> EngineOptions {
        EngineOptions {
            count: s.count,
            interval: Duration::from_millis(s.interval_ms),
            timeout: Duration::from_millis(s.timeout_ms),
            retries: s.retries,
            size: DEFAULT_SIZE,
            df: false,
            rate: s.rate,
            window: DEFAULT_WINDOW,
            socket_kind: None,
            recv_buffer: DEFAULT_RECV_BUFFER,
            agent: None,
        }
    }

    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), ProbeError> {
        let bad = |option: &str, reason: &str| {
            Err(ProbeError::InvalidOption {
                option: option.into(),
                reason: reason.into(),
            })
        };
        if self.count == 0 || self.count > 100_000 {
            return bad("count", "must be 1 to 100000");
        }
        if self.retries > 100 {
            return bad("retries", "must be at most 100");
        }
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(3600) {
            return bad("timeout", "must be 1 ms to 1 hour");
        }
        if self.interval > Duration::from_secs(3600) {
            return bad("interval", "must be at most 1 hour");
        }
        if self.size > MAX_SIZE {
            return bad("size", "must be at most 65507 bytes");
        }
        if self.rate == Some(0) {
            return bad("rate", "must be at least 1 packet/s");
        }
        if self.window == 0 || self.window > engine::MAX_WINDOW {
            return bad("window", "must be 1 to 60000");
        }
        Ok(())
    }
}

/// Checks that a device exists.
pub fn check_interface(name: &str) -> Result<u32, ProbeError> {
    sock::if_index(name).map_err(|e| ProbeError::Interface {
        name: name.to_string(),
        message: e.to_string(),
    })
}

/// Checks that an address belongs to this machine (it can be bound).
pub fn check_source(addr: IpAddr, device: Option<&str>) -> Result<(), ProbeError> {
    let scope = match device {
        Some(d) => check_interface(d)?,
        None => 0,
    };
    let sa = match sock::sockaddr(addr, scope).as_socket() {
        Some(sa) => sa,
        None => SocketAddr::new(addr, 0),
    };
    UdpSocket::bind(sa)
        .map(|_| ())
        .map_err(|e| ProbeError::Source {
            addr,
            message: e.to_string(),
        })
}

/// Runs every target of a plan and returns one result per target.
pub async fn run_plan(plan: &ProbePlan) -> Result<ProbeReport, ProbeError> {
    validate_plan(plan, "plan")?;
    let mut opts = EngineOptions::from_settings(&plan.settings);
    opts.agent = plan.agent.clone();
    let targets: Vec<Target> = plan.targets.iter().map(Target::from).collect();
    run_targets(targets, &opts).await
}

/// Probes `targets` (ICMP, MTU when asked, TCP ports) and returns the report.
pub async fn run_targets(
    targets: Vec<Target>,
    opts: &EngineOptions,
) -> Result<ProbeReport, ProbeError> {
    opts.validate()?;
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let start = Instant::now();
    let targets = Arc::new(targets);
    let icmp = {
        let targets = Arc::clone(&targets);
        let opts = opts.clone();
        tokio::task::spawn_blocking(move || run_icmp(&targets, &opts))
    };
    let tcp = run_tcp(&targets, opts.timeout);
    let (icmp, tcp) = tokio::join!(icmp, tcp);
    let (sockets, outcomes) = icmp.map_err(|e| ProbeError::Runtime(e.to_string()))?;
    let mut tcp_by_target: Vec<Vec<TcpResult>> = vec![Vec::new(); targets.len()];
    for (i, r) in tcp {
        tcp_by_target[i].push(r);
    }
    for v in &mut tcp_by_target {
        v.sort_by_key(|r| r.port);
    }
    let results = targets
        .iter()
        .zip(outcomes)
        .zip(tcp_by_target)
        .map(|((t, o), tcp)| TargetResult {
            id: t.id.clone(),
            space: t.space.clone(),
            source: t.source,
            target: t.addr,
            expect: t.expect,
            sent: o.stats.sent,
            received: o.stats.received,
            duplicates: o.stats.duplicates,
            loss_pct: stats::loss_pct(o.stats.sent, o.stats.received),
            rtt: o.stats.rtt.stats(),
            failure: o.failure,
            mtu: o.mtu,
            tcp,
        })
        .collect();
    Ok(ProbeReport {
        schema: PROBE_SCHEMA.to_string(),
        agent: opts.agent.clone(),
        sockets,
        started_at,
        duration_ms: start.elapsed().as_millis() as u64,
        targets: results,
    })
}

async fn run_tcp(targets: &[Target], timeout: Duration) -> Vec<(usize, TcpResult)> {
    let jobs: Vec<(usize, u16)> = targets
        .iter()
        .enumerate()
        .flat_map(|(i, t)| t.tcp_ports.iter().map(move |&p| (i, p)))
        .collect();
    futures::stream::iter(jobs)
        .map(|(i, port)| {
            let t = &targets[i];
            let scope = t
                .device
                .as_deref()
                .and_then(|d| sock::if_index(d).ok())
                .unwrap_or(0);
            async move {
                let outcome =
                    tcp::connect(t.source, t.device.as_deref(), scope, t.addr, port, timeout).await;
                (i, TcpResult { port, outcome })
            }
        })
        .buffer_unordered(TCP_CONCURRENCY)
        .collect()
        .await
}

/// ICMP outcome of one target.
pub(crate) struct IcmpOutcome {
    pub stats: engine::JobStats,
    pub failure: Option<FailureCause>,
    pub mtu: Option<preflight_model::probe::MtuResult>,
}

/// The sockets of a run, opened on demand, one per family, source, device and DF.
pub(crate) struct SocketSet {
    pub socks: Vec<sock::IcmpSocket>,
    index: BTreeMap<sock::SockKey, Result<usize, String>>,
    force: Option<SocketKind>,
    recv_buffer: usize,
}

impl SocketSet {
    fn new(opts: &EngineOptions) -> SocketSet {
        SocketSet {
            socks: Vec::new(),
            index: BTreeMap::new(),
            force: opts.socket_kind,
            recv_buffer: opts.recv_buffer,
        }
    }

    /// The socket for `t` (opened on first use), or why it cannot be opened.
    pub fn get(&mut self, t: &Target, df: bool) -> Result<usize, String> {
        let key = sock::SockKey {
            v6: t.addr.is_ipv6(),
            source: t.source,
            device: t.device.clone(),
            df,
        };
        if let Some(r) = self.index.get(&key) {
            return r.clone();
        }
        if let Some(src) = t.source {
            if src.is_ipv6() != t.addr.is_ipv6() {
                let r = Err(format!(
                    "source {src} and target {} are of different families",
                    t.addr
                ));
                self.index.insert(key, r.clone());
                return r;
            }
        }
        let id: u16 = rand::random();
        let r = match sock::open(&key, self.force, self.recv_buffer, id) {
            Ok(s) => {
                self.socks.push(s);
                Ok(self.socks.len() - 1)
            }
            Err(e) => Err(e.to_string()),
        };
        self.index.insert(key.clone(), r.clone());
        r
    }

    fn infos(&self) -> Vec<SocketInfo> {
        let mut by_index: Vec<(usize, SocketInfo)> = self
            .index
            .iter()
            .filter_map(|(k, r)| r.as_ref().ok().map(|&i| (i, k)))
            .map(|(i, k)| {
                let s = &self.socks[i];
                (
                    i,
                    SocketInfo {
                        kind: s.kind,
                        source: k.source,
                        device: k.device.clone(),
                        recv_buffer_bytes: s.rcvbuf,
                    },
                )
            })
            .collect();
        by_index.sort_by_key(|x| x.0);
        by_index.into_iter().map(|x| x.1).collect()
    }
}

/// Runs the ICMP part (echo, then MTU search) of every target.
fn run_icmp(targets: &[Target], opts: &EngineOptions) -> (Vec<SocketInfo>, Vec<IcmpOutcome>) {
    let mut set = SocketSet::new(opts);
    let nonce: u32 = rand::random();
    let params = engine::Params {
        interval: opts.interval,
        timeout: opts.timeout,
        rate: opts.rate,
        window: opts.window,
    };
    // Phase 1: the echo job of every target, plus the small and full-size DF jobs of
    // targets with an expected MTU, all in one engine run.
    let mut jobs = Vec::with_capacity(targets.len());
    let mut owners: Vec<(usize, mtu::Role)> = Vec::with_capacity(targets.len());
    let mut outcomes: Vec<IcmpOutcome> = Vec::with_capacity(targets.len());
    for (i, t) in targets.iter().enumerate() {
        let mut out = IcmpOutcome {
            stats: engine::JobStats::default(),
            failure: None,
            mtu: None,
        };
        match set.get(t, opts.df) {
            Ok(s) => {
                jobs.push(engine::Job {
                    sock: s,
                    dest: t.addr,
                    payload: opts.size.max(icmp::TOKEN_LEN),
                    count: opts.count,
                    retries: opts.retries,
                });
                owners.push((i, mtu::Role::Echo));
            }
            Err(message) => out.failure = Some(FailureCause::LocalError { message }),
        }
        outcomes.push(out);
    }
    let mut mtu_state = mtu::plan_jobs(
        targets,
        &mut set,
        opts,
        &mut jobs,
        &mut owners,
        &mut outcomes,
    );
    let results = engine::run(&set.socks, &jobs, params, nonce);
    for ((i, role), r) in owners.iter().zip(results) {
        match role {
            mtu::Role::Echo => {
                outcomes[*i].failure = r.failure();
                outcomes[*i].stats = r;
            }
            _ => mtu_state.record(*i, *role, &r),
        }
    }
    mtu_state.search(targets, &set, opts, params, nonce, &mut outcomes);
    (set.infos(), outcomes)
}
#[cfg(test)]
mod size_tests {
    #[test]
    fn sizes() {
        eprintln!(
            "TargetResult {} Target {} JobStats {} Job {} FailureCause {} MtuResult {} Outcome {}",
            std::mem::size_of::<preflight_model::probe::TargetResult>(),
            std::mem::size_of::<super::Target>(),
            std::mem::size_of::<super::engine::JobStats>(),
            std::mem::size_of::<super::engine::Job>(),
            std::mem::size_of::<preflight_model::probe::FailureCause>(),
            std::mem::size_of::<preflight_model::probe::MtuResult>(),
            std::mem::size_of::<super::IcmpOutcome>()
        );
    }
}
