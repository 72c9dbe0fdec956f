//! Step 5 of the data line: probe targets (ICMP echo, DF-bit MTU, TCP connect) from a
//! bound source address and report a [`preflight_model::probe::ProbeReport`].
//!
//! [`run_plan`] runs a wire-model plan; [`run_targets`] runs targets with explicit
//! [`EngineOptions`]. The ICMP part is one thread driving few sockets (see [`engine`]); the
//! TCP part runs on the async runtime at the same time.

pub mod dns;
pub mod engine;
pub mod icmp;
mod mtu;
pub mod neighbour;
pub mod plan;
pub mod sock;
pub mod stats;
pub mod targets;
mod tcp;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use futures::StreamExt;
use preflight_model::plan::{Expectation, PlannedTarget, ProbeKind, ProbePlan, ProbeSettings};
use preflight_model::probe::{
    DnsAnswer, FailureCause, ProbeReport, SocketInfo, SocketKind, TargetResult, TcpResult,
    PROBE_SCHEMA,
};
use preflight_model::vocab::MacAddr;

/// The port DNS probes ask servers on.
pub const DNS_PORT: u16 = 53;

pub use plan::{check_target, parse_plan, validate_document, validate_plan};

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
    /// Stop probing here: the ICMP thread and TCP connects end, and whatever did not finish
    /// is reported as not answered.
    pub deadline: Option<Instant>,
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
            deadline: None,
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

/// Runs a plan and returns one result per target id.
///
/// Only a bad document (schema, settings, size) stops the run. A bad item (an invalid field,
/// or a target that is this machine's own address, which would only answer itself) gets a
/// result with [`FailureCause::NotRun`] saying why, and the rest of the plan runs as usual; a
/// repeated id runs once.
pub async fn run_plan(plan: &ProbePlan) -> Result<ProbeReport, ProbeError> {
    run_plan_until(plan, None).await
}

/// [`run_plan`], stopping at `deadline` when given (see [`EngineOptions::deadline`]).
pub async fn run_plan_until(
    plan: &ProbePlan,
    deadline: Option<Instant>,
) -> Result<ProbeReport, ProbeError> {
    let mut opts = EngineOptions::from_settings(&plan.settings);
    opts.agent = plan.agent.clone();
    opts.deadline = deadline;
    run_plan_with(plan, &opts).await
}

/// [`run_plan`] with engine options of the caller's (the plan's settings still pace the
/// neighbour probes).
pub async fn run_plan_with(
    plan: &ProbePlan,
    opts: &EngineOptions,
) -> Result<ProbeReport, ProbeError> {
    plan::validate_document(plan, "plan")?;
    let mut seen = std::collections::HashSet::new();
    let mut targets = Vec::with_capacity(plan.targets.len());
    let mut not_run = Vec::new();
    let own = sock::local_addresses();
    for (i, t) in plan.targets.iter().enumerate() {
        if !t.id.is_empty() && !seen.insert(t.id.as_str()) {
            continue;
        }
        let reason = match plan::check_target(t) {
            Err((field, message)) => Some(format!("targets[{i}].{field}: {message}")),
            Ok(()) if t.kind == ProbeKind::Echo && is_own_address(t.target, own.as_ref()) => Some(format!(
                "targets[{i}].target: {} is this machine's own address; probing it would only reach this machine",
                t.target
            )),
            Ok(()) => None,
        };
        match reason {
            None => targets.push(t),
            Some(reason) => not_run.push(not_run_result(t, i, reason)),
        }
    }
    // Echo kinds go to the ICMP engine, neighbour kinds to the ARP/NS prober, both at once.
    let echo: Vec<Target> = targets
        .iter()
        .filter(|t| t.kind.echoes())
        .map(|t| Target::from(*t))
        .collect();
    let neigh: Vec<neighbour::NeighbourJob> = targets
        .iter()
        .filter(|t| t.kind.neighbours())
        .filter_map(|t| {
            t.device.as_ref().map(|d| neighbour::NeighbourJob {
                device: d.clone(),
                target: t.target,
            })
        })
        .collect();
    let s = &plan.settings;
    let (rounds, interval, wait) = (
        s.count.clamp(1, 10),
        Duration::from_millis(s.interval_ms.max(10)),
        Duration::from_millis(s.timeout_ms),
    );
    let neigh_run = tokio::task::spawn_blocking(move || {
        if neigh.is_empty() {
            Vec::new()
        } else {
            neighbour::probe(&neigh, rounds, interval, wait)
        }
    });
    // Controller kinds: TCP connects only.
    let tcp_jobs: Vec<TcpJob> = targets
        .iter()
        .enumerate()
        .filter(|(_, t)| t.kind == ProbeKind::Controller)
        .flat_map(|(index, t)| {
            t.tcp_ports.iter().map(move |&port| TcpJob {
                index,
                addr: t.target,
                source: Some(t.source),
                device: t.device.clone(),
                port,
            })
        })
        .collect();
    // DNS kinds: the PTR and forward lookups from the source, one target at a time per
    // server is enough (a handful of queries each), all targets at once.
    let dns_jobs = futures::future::join_all(
        targets
            .iter()
            .enumerate()
            .filter(|(_, t)| t.kind == ProbeKind::Dns)
            .map(|(index, t)| {
                let server = SocketAddr::new(t.target, DNS_PORT);
                async move { (index, dns::lookup(t.source, server, opts.timeout).await) }
            }),
    );
    let (report, neigh_out, tcp_out, dns_out) = tokio::join!(
        run_targets(echo, opts),
        neigh_run,
        run_tcp(tcp_jobs, opts.timeout, opts.deadline),
        dns_jobs
    );
    let mut dns_by_index: BTreeMap<usize, DnsAnswer> = dns_out.into_iter().collect();
    let mut tcp_by_index: BTreeMap<usize, Vec<TcpResult>> = BTreeMap::new();
    for (i, r) in tcp_out {
        tcp_by_index.entry(i).or_default().push(r);
    }
    let mut report = report?;
    let neigh_out = neigh_out.map_err(|e| ProbeError::Runtime(e.to_string()))?;
    let mut echoed = report.targets.drain(..);
    let mut asked = neigh_out.into_iter();
    let mut results = Vec::with_capacity(targets.len() + not_run.len());
    for (index, t) in targets.into_iter().enumerate() {
        let mut r = if t.kind.echoes() {
            match echoed.next() {
                Some(r) => r,
                None => continue,
            }
        } else {
            let mut r = not_run_result(t, 0, String::new());
            r.failure = None;
            r
        };
        r.kind = t.kind;
        if t.kind == ProbeKind::Controller {
            let mut tcp = tcp_by_index.remove(&index).unwrap_or_default();
            tcp.sort_by_key(|x| x.port);
            r.sent = tcp.len() as u32;
            r.received = tcp
                .iter()
                .filter(|x| matches!(x.outcome, preflight_model::probe::TcpOutcome::Open { .. }))
                .count() as u32;
            r.loss_pct = if r.received > 0 { 0.0 } else { 100.0 };
            r.tcp = tcp;
        }
        if t.kind == ProbeKind::Dns {
            if let Some(a) = dns_by_index.remove(&index) {
                r.sent = 1;
                r.received = u32::from(a.answered);
                r.loss_pct = if a.answered { 0.0 } else { 100.0 };
                r.failure = (!a.answered).then_some(FailureCause::Timeout);
                r.dns = Some(Box::new(a));
            }
        }
        if t.kind.neighbours() {
            if let Some(o) = asked.next() {
                r.macs = o.macs.iter().copied().map(MacAddr::Eui48).collect();
                if !t.kind.echoes() {
                    r.sent = o.sent;
                    r.received = r.macs.len() as u32;
                    r.loss_pct = if r.received > 0 { 0.0 } else { 100.0 };
                    r.failure = o.error.map(|message| FailureCause::LocalError { message });
                }
            }
        }
        results.push(r);
    }
    drop(echoed);
    results.extend(not_run);
    report.targets = results;
    Ok(report)
}

/// Whether `addr` is an address of this machine, loopback excepted: one of `own` (the
/// interfaces' addresses), or, when those could not be listed, an address that can be bound.
fn is_own_address(addr: IpAddr, own: Option<&std::collections::HashSet<IpAddr>>) -> bool {
    if addr.is_loopback() || addr.is_unspecified() || addr.is_multicast() {
        return false;
    }
    // Link-local addresses need a scope to bind; they are never planned as peers here.
    if let IpAddr::V6(v6) = addr {
        if v6.segments()[0] & 0xffc0 == 0xfe80 {
            return false;
        }
    }
    match own {
        Some(own) => own.contains(&addr),
        None => UdpSocket::bind(SocketAddr::new(addr, 0)).is_ok(),
    }
}

fn not_run_result(t: &PlannedTarget, index: usize, reason: String) -> TargetResult {
    TargetResult {
        id: Some(if t.id.is_empty() {
            format!("targets[{index}]")
        } else {
            t.id.clone()
        }),
        space: Some(t.space.clone()),
        source: Some(t.source),
        target: t.target,
        expect: t.expect,
        sent: 0,
        received: 0,
        duplicates: 0,
        loss_pct: 100.0,
        rtt: None,
        failure: Some(FailureCause::NotRun { reason }),
        mtu: None,
        tcp: Vec::new(),
        // The item's own kind, so readers judge it with its kind's rules.
        kind: t.kind,
        macs: Vec::new(),
        dns: None,
    }
}

/// What the ICMP phase needs beyond the report skeleton: devices and expected MTUs, kept
/// in side tables so that 65k targets cost little more than their results.
pub(crate) struct View<'a> {
    results: &'a [TargetResult],
    /// 0 = no device, else index + 1 into `names`.
    devices: &'a [u32],
    names: &'a [String],
    /// 0 = no MTU probe.
    mtus: &'a [u32],
}

impl View<'_> {
    fn len(&self) -> usize {
        self.results.len()
    }
    fn addr(&self, i: usize) -> IpAddr {
        self.results[i].target
    }
    fn source(&self, i: usize) -> Option<IpAddr> {
        self.results[i].source
    }
    fn device(&self, i: usize) -> Option<&str> {
        match self.devices[i] {
            0 => None,
            d => self.names.get(d as usize - 1).map(String::as_str),
        }
    }
    fn mtu(&self, i: usize) -> Option<u32> {
        Some(self.mtus[i]).filter(|&m| m != 0)
    }
}

struct TcpJob {
    index: usize,
    addr: IpAddr,
    source: Option<IpAddr>,
    device: Option<String>,
    port: u16,
}

/// Probes `targets` (ICMP, MTU when asked, TCP ports) and returns the report.
pub async fn run_targets(
    targets: Vec<Target>,
    opts: &EngineOptions,
) -> Result<ProbeReport, ProbeError> {
    opts.validate()?;
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let start = Instant::now();
    // Turn the targets into the report's skeleton plus small side tables, consuming them.
    let n = targets.len();
    let mut results = Vec::with_capacity(n);
    let mut devices = Vec::with_capacity(n);
    let mut mtus = Vec::with_capacity(n);
    let mut names: Vec<String> = Vec::new();
    let mut tcp_jobs = Vec::new();
    for (index, t) in targets.into_iter().enumerate() {
        let dev = match &t.device {
            None => 0,
            Some(d) => match names.iter().position(|x| x == d) {
                Some(p) => p as u32 + 1,
                None => {
                    names.push(d.clone());
                    names.len() as u32
                }
            },
        };
        for &port in &t.tcp_ports {
            tcp_jobs.push(TcpJob {
                index,
                addr: t.addr,
                source: t.source,
                device: t.device.clone(),
                port,
            });
        }
        devices.push(dev);
        mtus.push(t.mtu.unwrap_or(0));
        results.push(TargetResult {
            id: t.id,
            space: t.space,
            source: t.source,
            target: t.addr,
            expect: t.expect,
            sent: 0,
            received: 0,
            duplicates: 0,
            loss_pct: 100.0,
            rtt: None,
            failure: None,
            mtu: None,
            tcp: Vec::new(),
            kind: Default::default(),
            macs: Vec::new(),
            dns: None,
        });
    }
    let icmp = {
        let opts = opts.clone();
        tokio::task::spawn_blocking(move || {
            let sockets = run_icmp(&mut results, &devices, &names, &mtus, &opts);
            (sockets, results)
        })
    };
    let tcp = run_tcp(tcp_jobs, opts.timeout, opts.deadline);
    let (icmp, tcp) = tokio::join!(icmp, tcp);
    let (sockets, mut results) = icmp.map_err(|e| ProbeError::Runtime(e.to_string()))?;
    for (i, r) in tcp {
        results[i].tcp.push(r);
    }
    for r in &mut results {
        r.tcp.sort_by_key(|t| t.port);
    }
    Ok(ProbeReport {
        schema: PROBE_SCHEMA.to_string(),
        agent: opts.agent.clone(),
        sockets,
        started_at,
        duration_ms: start.elapsed().as_millis() as u64,
        targets: results,
    })
}

async fn run_tcp(
    jobs: Vec<TcpJob>,
    timeout: Duration,
    deadline: Option<Instant>,
) -> Vec<(usize, TcpResult)> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let all = futures::stream::iter(jobs)
        .map(|j| async move {
            let scope = j
                .device
                .as_deref()
                .and_then(|d| sock::if_index(d).ok())
                .unwrap_or(0);
            let outcome = tcp::connect(
                j.source,
                j.device.as_deref(),
                scope,
                j.addr,
                j.port,
                timeout,
            )
            .await;
            (
                j.index,
                TcpResult {
                    port: j.port,
                    outcome,
                },
            )
        })
        .buffer_unordered(TCP_CONCURRENCY)
        .for_each(|r| {
            let _ = tx.send(r);
            async {}
        });
    match deadline {
        None => all.await,
        Some(d) => {
            let _ = tokio::time::timeout_at(d.into(), all).await;
        }
    }
    let mut out = Vec::new();
    while let Ok(r) = rx.try_recv() {
        out.push(r);
    }
    out
}

/// The sockets of a run, opened on demand, one per family, source, device and DF.
pub(crate) struct SocketSet {
    pub socks: Vec<sock::IcmpSocket>,
    index: BTreeMap<sock::SockKey, Result<u16, String>>,
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

    /// The socket for probing `addr` from `source` through `device` (opened on first
    /// use), or why it cannot be opened.
    pub(crate) fn get(
        &mut self,
        addr: IpAddr,
        source: Option<IpAddr>,
        device: Option<&str>,
        df: bool,
    ) -> Result<u16, String> {
        let key = sock::SockKey {
            v6: addr.is_ipv6(),
            source,
            device: device.map(str::to_string),
            df,
        };
        if let Some(r) = self.index.get(&key) {
            return r.clone();
        }
        let r = if source.is_some_and(|s| s.is_ipv6() != addr.is_ipv6()) {
            Err(format!(
                "source {} and target {addr} are of different families",
                source.map(|s| s.to_string()).unwrap_or_default()
            ))
        } else if self.socks.len() >= usize::from(u16::MAX) {
            Err("too many distinct sources and devices".to_string())
        } else {
            let id: u16 = rand::random();
            match sock::open(&key, self.force, self.recv_buffer, id) {
                Ok(s) => {
                    self.socks.push(s);
                    Ok((self.socks.len() - 1) as u16)
                }
                Err(e) => Err(e.to_string()),
            }
        };
        self.index.insert(key, r.clone());
        r
    }

    fn infos(&self) -> Vec<SocketInfo> {
        let mut by_index: Vec<(u16, SocketInfo)> = self
            .index
            .iter()
            .filter_map(|(k, r)| r.as_ref().ok().map(|&i| (i, k)))
            .map(|(i, k)| {
                let s = &self.socks[usize::from(i)];
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

/// Runs the ICMP part (echo, then MTU search) of every target, filling `results`.
fn run_icmp(
    results: &mut [TargetResult],
    devices: &[u32],
    names: &[String],
    mtus: &[u32],
    opts: &EngineOptions,
) -> Vec<SocketInfo> {
    let mut set = SocketSet::new(opts);
    let nonce: u32 = rand::random();
    let params = engine::Params {
        interval: opts.interval,
        timeout: opts.timeout,
        rate: opts.rate,
        window: opts.window,
        deadline: opts.deadline,
    };
    let view = View {
        results,
        devices,
        names,
        mtus,
    };
    // The first run: the echo job of every target, plus the small and full-size DF jobs of
    // targets with an expected MTU, all in one engine run. A job nothing has answered one
    // interval after its last request retries then (see `engine`), inside the same
    // timeout, so a silent target costs one timeout whatever the mix.
    let mut jobs = Vec::with_capacity(view.len());
    let mut owners: Vec<(u32, mtu::Role)> = Vec::with_capacity(view.len());
    let mut local_errors: Vec<(usize, String)> = Vec::new();
    let payload = opts.size.clamp(icmp::TOKEN_LEN, MAX_SIZE) as u16;
    let retries = opts.retries.min(u32::from(u16::MAX)) as u16;
    // Echo requests no larger than the MTU probe's small one also tell whether small packets
    // pass, so the MTU probe sends no small echoes of its own then.
    let echo_is_small = payload <= DEFAULT_SIZE as u16;
    // A small echo never needs fragmenting, so DF changes nothing on the wire: it shares the
    // MTU probe's DF socket, and each reply is read once, not once per socket bound to the
    // same source (raw sockets each get a copy).
    let echo_df = opts.df || echo_is_small;
    for i in 0..view.len() {
        match set.get(view.addr(i), view.source(i), view.device(i), echo_df) {
            Ok(s) => {
                jobs.push(engine::Job {
                    dest: view.addr(i),
                    sock: s,
                    payload,
                    retries,
                    count: opts.count,
                });
                owners.push((i as u32, mtu::Role::Echo));
            }
            Err(message) => local_errors.push((i, message)),
        }
    }
    let (mtu_state, mut mtu_results) =
        mtu::plan_jobs(&view, &mut set, opts, echo_is_small, &mut jobs, &mut owners);
    // Per target, the job that tells whether small packets pass: its echo (when small) or
    // its small DF probe.
    let mut small_of: Vec<u32> = vec![u32::MAX; view.len()];
    for (k, &(i, role)) in owners.iter().enumerate() {
        if role == mtu::Role::Small || (role == mtu::Role::Echo && echo_is_small) {
            small_of[i as usize] = k as u32;
        }
    }
    // A full-size probe still silent at its retry check while small packets passed starts
    // its search's first round right there, inside this run (see `MtuState::early_round`).
    let mut early: Vec<(usize, u32)> = Vec::new();
    let mut searched = vec![false; view.len()];
    let mut expand = |j: usize, st: &[engine::JobStats]| -> Vec<engine::Job> {
        let Some(&(i, mtu::Role::Large)) = owners.get(j) else {
            return Vec::new();
        };
        let i = i as usize;
        let small_passed = st.get(small_of[i] as usize).is_some_and(|s| s.received > 0);
        // Silence only: a frag-needed names the next-hop MTU, which a round after this run
        // tries first.
        let silent = st.get(j).is_some_and(|s| s.error.is_none());
        if !small_passed || !silent || std::mem::replace(&mut searched[i], true) {
            return Vec::new();
        }
        let Some(round) = mtu_state.early_round(i, jobs[j].dest) else {
            return Vec::new();
        };
        round
            .into_iter()
            .map(|(size, job)| {
                early.push((i, size));
                job
            })
            .collect()
    };
    let all = engine::run_expanding(&set.socks, &jobs, params, nonce, &mut expand);
    let (stats, early_stats) = all.split_at(jobs.len().min(all.len()));
    let mut mtu_state = mtu_state;
    for (&(i, role), r) in owners.iter().zip(stats) {
        let i = i as usize;
        match role {
            mtu::Role::Echo => {
                let t = &mut results[i];
                t.sent = r.sent;
                t.received = r.received;
                t.duplicates = r.duplicates;
                t.loss_pct = stats::loss_pct(r.sent, r.received);
                t.rtt = r.rtt.stats();
                t.failure = r.failure();
                if echo_is_small {
                    mtu_state.record(i, mtu::Role::Small, r);
                }
            }
            _ => mtu_state.record(i, role, r),
        }
    }
    // Every blackholed MTU probe's search, its first round already done if it ran early.
    let mut search = mtu_state.begin();
    mtu::MtuState::apply_round(&mut search, &early, early_stats);
    drop(jobs);
    for (i, message) in local_errors {
        results[i].failure = Some(FailureCause::LocalError { message });
    }
    let view = View {
        results,
        devices,
        names,
        mtus,
    };
    // The rounds still open, one engine run (one timeout) each.
    mtu_state.finish_search(&mut search, &view, &set, params, nonce);
    mtu_state.results(&search, &mut mtu_results);
    for (i, m) in mtu_results {
        results[i].mtu = Some(m);
    }
    set.infos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use preflight_model::plan::PLAN_SCHEMA;

    fn item(id: &str, target: &str, mtu: Option<u32>) -> PlannedTarget {
        PlannedTarget {
            id: id.into(),
            space: "s".into(),
            source: "127.0.0.1".parse().unwrap(),
            target: target.parse().unwrap(),
            device: None,
            mtu,
            tcp_ports: Vec::new(),
            target_machine: None,
            expect: Expectation::Reachable,
            kind: Default::default(),
        }
    }

    /// One bad item, a repeated id and a good item: the good one runs, the bad one is
    /// reported as not run with the field, the repeat runs once.
    #[tokio::test]
    async fn one_bad_item_never_invalidates_the_plan() {
        let plan = ProbePlan {
            schema: PLAN_SCHEMA.into(),
            agent: Some("a1".into()),
            settings: ProbeSettings {
                count: 1,
                interval_ms: 10,
                timeout_ms: 500,
                retries: 0,
                rate: None,
            },
            targets: vec![
                item("good", "127.0.0.1", None),
                item("bad-mtu", "127.0.0.1", Some(20)),
                item("good", "127.0.0.1", None),
                item("family", "::1", None),
            ],
        };
        let r = run_plan(&plan).await.expect("the run goes on");
        let ids: Vec<&str> = r.targets.iter().filter_map(|t| t.id.as_deref()).collect();
        assert_eq!(ids, ["good", "bad-mtu", "family"]);
        let good = &r.targets[0];
        assert_eq!(good.received, 1, "{good:?}");
        match &r.targets[1].failure {
            Some(FailureCause::NotRun { reason }) => {
                assert!(reason.starts_with("targets[1].mtu"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        match &r.targets[2].failure {
            Some(FailureCause::NotRun { reason }) => {
                assert!(reason.starts_with("targets[3].source"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.targets[1].sent, 0);
        // A bad document still stops the run, naming the field.
        let mut bad = plan.clone();
        bad.settings.count = 0;
        assert!(
            matches!(run_plan(&bad).await, Err(ProbeError::Plan { field, .. }) if field == "settings.count")
        );
    }

    #[test]
    fn loopback_and_foreign_addresses_are_not_own_addresses() {
        let own = sock::local_addresses().expect("getifaddrs");
        for own in [Some(&own), None] {
            assert!(!is_own_address("127.0.0.1".parse().unwrap(), own));
            assert!(!is_own_address("192.0.2.123".parse().unwrap(), own));
        }
    }
}
