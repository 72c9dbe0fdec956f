//! Probe results: what an agent saw when it probed its targets.
//!
//! Produced by `preflight-agent probe`, consumed by the coordinator's report step.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::plan::{Expectation, ProbeKind};

/// Schema string of [`ProbeReport`] documents.
pub const PROBE_SCHEMA: &str = "preflight.probe/v1";

/// The results of one probe run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// Always [`PROBE_SCHEMA`].
    pub schema: String,
    /// Id of the agent that probed, when it runs a plan.
    #[serde(default)]
    pub agent: Option<String>,
    /// The ICMP sockets used, one per family and source.
    #[serde(default)]
    pub sockets: Vec<SocketInfo>,
    /// When the run started, RFC 3339 UTC.
    pub started_at: String,
    /// How long the run took, in milliseconds.
    pub duration_ms: u64,
    /// One result per target.
    pub targets: Vec<TargetResult>,
}

/// Which kind of ICMP socket a probe used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SocketKind {
    /// Unprivileged ICMP datagram socket (net.ipv4.ping_group_range).
    Dgram,
    /// Raw ICMP socket (needs CAP_NET_RAW).
    Raw,
}

/// One socket used by a probe run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketInfo {
    /// Datagram or raw.
    pub kind: SocketKind,
    /// Address the socket is bound to, when bound.
    pub source: Option<IpAddr>,
    /// Device the socket is bound to, when bound.
    pub device: Option<String>,
    /// Receive buffer size the kernel granted, in bytes.
    pub recv_buffer_bytes: Option<u32>,
}

/// Round-trip time statistics, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RttStats {
    /// Minimum.
    pub min_ms: f64,
    /// Mean.
    pub avg_ms: f64,
    /// Maximum.
    pub max_ms: f64,
    /// Mean deviation, as ping computes it.
    pub mdev_ms: f64,
}

/// Why a target did not answer, as far as the kernel or the network said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "kebab-case")]
pub enum FailureCause {
    /// No reply and no error within the timeout.
    Timeout,
    /// ICMP host unreachable (or EHOSTUNREACH).
    HostUnreachable,
    /// ICMP network unreachable, or no route (ENETUNREACH).
    NetworkUnreachable,
    /// ICMP administratively prohibited (a firewall reject).
    AdminProhibited,
    /// Fragmentation needed / packet too big, with the next-hop MTU when given, or EMSGSIZE.
    FragmentationNeeded {
        /// MTU the network reported, when it did.
        mtu: Option<u32>,
    },
    /// The local socket could not send (bind failed, no such device, ...).
    LocalError {
        /// The error as the OS put it.
        message: String,
    },
    /// The agent did not run this plan item (invalid, or pointless such as its own address);
    /// it ran the rest of the plan.
    NotRun {
        /// Why, naming the plan field when a field is at fault.
        reason: String,
    },
    /// Any other ICMP error.
    Other {
        /// What was received.
        message: String,
    },
}

/// The one wording of a failure cause, shared by findings, reports and the agent's output.
impl std::fmt::Display for FailureCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailureCause::Timeout => f.write_str("no reply within the timeout"),
            FailureCause::HostUnreachable => f.write_str("host unreachable"),
            FailureCause::NetworkUnreachable => f.write_str("network unreachable (no route)"),
            FailureCause::AdminProhibited => {
                f.write_str("administratively prohibited (firewall reject)")
            }
            FailureCause::FragmentationNeeded { mtu: Some(m) } => {
                write!(f, "fragmentation needed (next-hop MTU {m})")
            }
            FailureCause::FragmentationNeeded { mtu: None } => f.write_str("fragmentation needed"),
            FailureCause::LocalError { message } => write!(f, "local error: {message}"),
            FailureCause::NotRun { reason } => write!(f, "not run: {reason}"),
            FailureCause::Other { message } => f.write_str(message),
        }
    }
}

/// Verdict of an MTU probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MtuVerdict {
    /// Both the small and the full-size DF probe passed.
    Ok,
    /// The small probe passed and the full-size DF probe got no answer: a silent blackhole.
    Blackhole,
    /// The small probe passed and the full-size DF probe got fragmentation-needed / EMSGSIZE.
    FragmentationNeeded,
    /// The small probe failed too, so nothing is known about the MTU.
    Unknown,
}

/// Result of an MTU probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MtuResult {
    /// The MTU the path was expected to carry.
    pub expected_mtu: u32,
    /// Whether a small echo passed.
    pub small_ok: bool,
    /// Whether a DF echo of the full expected size passed.
    pub large_ok: bool,
    /// Largest IP packet size (bytes, headers included) that passed with DF, when searched.
    pub largest_ok: Option<u32>,
    /// The verdict.
    pub verdict: MtuVerdict,
}

/// Outcome of one TCP connect attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum TcpOutcome {
    /// Connected, in this many milliseconds.
    Open {
        /// Connect time in milliseconds.
        connect_ms: f64,
    },
    /// Connection refused (RST).
    Refused,
    /// No answer within the timeout.
    Timeout,
    /// Unreachable (ICMP error or no route).
    Unreachable {
        /// The error as the OS put it.
        message: String,
    },
}

/// Result of a TCP probe to one port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TcpResult {
    /// The port.
    pub port: u16,
    /// What happened.
    #[serde(flatten)]
    pub outcome: TcpOutcome,
}

/// Result for one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetResult {
    /// The plan's probe id, when the run came from a plan.
    #[serde(default)]
    pub id: Option<String>,
    /// The space the probe proves, when known.
    #[serde(default)]
    pub space: Option<String>,
    /// Source address the probes left from, when bound.
    #[serde(default)]
    pub source: Option<IpAddr>,
    /// The probed address.
    pub target: IpAddr,
    /// What was expected of the target.
    #[serde(default)]
    pub expect: Expectation,
    /// Echo requests sent.
    pub sent: u32,
    /// Distinct echo replies received.
    pub received: u32,
    /// Duplicate replies received.
    pub duplicates: u32,
    /// Loss in percent (0–100).
    pub loss_pct: f64,
    /// RTT statistics, when anything was received.
    #[serde(default)]
    pub rtt: Option<RttStats>,
    /// Why it failed, when it did not answer every request.
    #[serde(default)]
    pub failure: Option<FailureCause>,
    /// MTU probe result, when an MTU was expected.
    #[serde(default)]
    pub mtu: Option<MtuResult>,
    /// TCP probe results.
    #[serde(default)]
    pub tcp: Vec<TcpResult>,
    /// What was probed (echo when absent).
    #[serde(default, skip_serializing_if = "is_echo")]
    pub kind: ProbeKind,
    /// Neighbour probes: every distinct MAC that answered for the target address on the
    /// link, in the order first seen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub macs: Vec<crate::vocab::MacAddr>,
    /// DNS probes: what the server answered for the source address (boxed: most results
    /// are echoes, and 65,536 of them should not each carry an empty answer's 100 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<Box<DnsAnswer>>,
}

/// What a DNS probe ([`crate::plan::ProbeKind::Dns`]) learnt from one server about the
/// prober's own address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsAnswer {
    /// The server answered (any response code): it is reachable from the source address.
    pub answered: bool,
    /// The names the PTR lookup of the source address ended at (after CNAMEs), without the
    /// trailing dot; empty when it has none (NXDOMAIN or no PTR).
    #[serde(default)]
    pub ptr: Vec<String>,
    /// Per PTR name, the addresses its forward lookup (A or AAAA, after CNAMEs) gave.
    #[serde(default)]
    pub forward: Vec<DnsForward>,
    /// The CNAMEs followed on the way (`from -> to`), for the reader.
    #[serde(default)]
    pub chain: Vec<String>,
    /// What went wrong, when something did (timeout, SERVFAIL, a CNAME loop).
    #[serde(default)]
    pub error: Option<String>,
}

/// One forward lookup of a DNS probe.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsForward {
    /// The name looked up (a PTR answer).
    pub name: String,
    /// The addresses it resolved to.
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
}

fn is_echo(k: &ProbeKind) -> bool {
    *k == ProbeKind::Echo
}

impl TargetResult {
    /// Whether at least one echo reply came back.
    pub fn answered(&self) -> bool {
        self.received > 0
    }
}
