//! The probe plan: what one agent must probe, from which of its own addresses.
//!
//! Built by the coordinator's plan step (or by the charm from peer data, or by hand) and
//! consumed by `preflight-agent probe --plan FILE`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Schema string of [`ProbePlan`] documents.
pub const PLAN_SCHEMA: &str = "preflight.plan/v1";

/// The probes one agent runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbePlan {
    /// Always [`PLAN_SCHEMA`].
    pub schema: String,
    /// Id of the agent that runs this plan (as the coordinator knows it), when any.
    #[serde(default)]
    pub agent: Option<String>,
    /// Settings shared by every target of the plan.
    #[serde(default)]
    pub settings: ProbeSettings,
    /// The targets, each probed from its own source address.
    pub targets: Vec<PlannedTarget>,
}

/// Settings of a probe run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProbeSettings {
    /// Echo requests per target.
    pub count: u32,
    /// Interval between requests to one target, in milliseconds.
    pub interval_ms: u64,
    /// Time to wait for a reply, in milliseconds.
    pub timeout_ms: u64,
    /// Extra attempts for a target that did not answer at all.
    pub retries: u32,
    /// Global cap on packets per second, when any.
    pub rate: Option<u32>,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            count: 3,
            interval_ms: 100,
            timeout_ms: 1000,
            retries: 1,
            rate: None,
        }
    }
}

/// What a probe is expected to show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expectation {
    /// The target must answer (the normal case).
    #[default]
    Reachable,
    /// The target must not answer: the two spaces are meant to be isolated.
    Isolated,
}

/// What a plan item probes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeKind {
    /// ICMP echo (plus the MTU probe and TCP ports when asked): reachability of a peer.
    #[default]
    Echo,
    /// Who answers for the address on the link: RFC 5227 ARP probes (sender 0.0.0.0) for
    /// IPv4, Neighbor Solicitations to the solicited-node group (source ::) for IPv6, from
    /// `device`; every distinct MAC that answers is recorded. No ICMP echo.
    Neighbour,
    /// A subnet's gateway: the neighbour probe and an ICMP echo.
    Gateway,
    /// A Juju controller API (or HA replication) address: TCP connects to `tcp_ports` from
    /// the source address, no ICMP.
    Controller,
    /// A DNS server (`target`, UDP 53): from `source`, the PTR query for `source` and the
    /// forward (A / AAAA) queries for the names it gives, following CNAME chains (RFC 2317
    /// reverse zones). No ICMP.
    Dns,
    /// A kind this build does not know (from a newer coordinator): the agent reports the item
    /// as not run and runs the rest of the plan.
    #[serde(other)]
    Unknown,
}

impl ProbeKind {
    /// Whether the ICMP echo runs for this kind.
    pub fn echoes(self) -> bool {
        matches!(self, ProbeKind::Echo | ProbeKind::Gateway)
    }
    /// Whether the neighbour (ARP / NS) probe runs for this kind.
    pub fn neighbours(self) -> bool {
        matches!(self, ProbeKind::Neighbour | ProbeKind::Gateway)
    }
}

/// One target of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedTarget {
    /// Stable id of this probe within the whole check (so results map back to the plan).
    pub id: String,
    /// Name of the space (or binding, in the charm) this probe proves.
    pub space: String,
    /// The agent's own address to probe from.
    pub source: IpAddr,
    /// The address to probe.
    pub target: IpAddr,
    /// Device to bind to, when the plan names one.
    #[serde(default)]
    pub device: Option<String>,
    /// Expected MTU of the path; when set, the MTU probe runs.
    #[serde(default)]
    pub mtu: Option<u32>,
    /// TCP ports to try connecting to.
    #[serde(default)]
    pub tcp_ports: Vec<u16>,
    /// Name of the machine (agent) that owns the target address, when known.
    #[serde(default)]
    pub target_machine: Option<String>,
    /// Whether the target should answer or not.
    #[serde(default)]
    pub expect: Expectation,
    /// What to probe (echo when absent).
    #[serde(default, skip_serializing_if = "is_echo")]
    pub kind: ProbeKind,
}

fn is_echo(k: &ProbeKind) -> bool {
    *k == ProbeKind::Echo
}
