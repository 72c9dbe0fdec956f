//! Findings and the report: the one output shape of `validate` and `check`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::plan::Expectation;
use crate::probe::{FailureCause, MtuResult, RttStats, TcpResult};

/// Schema string of [`Report`] documents.
pub const REPORT_SCHEMA: &str = "preflight.report/v1";

/// Stable finding codes.
pub mod codes {
    /// A binding names a space MAAS does not have.
    pub const BINDING_UNKNOWN_SPACE: &str = "binding.unknown-space";
    /// A binding names an endpoint the charm does not have.
    pub const BINDING_UNKNOWN_ENDPOINT: &str = "binding.unknown-endpoint";
    /// Constraints exclude a space the bindings need.
    pub const CONSTRAINT_SPACE_CONFLICT: &str = "constraint.space-conflict";
    /// No machine satisfies the constraints plus the bound spaces.
    pub const CONSTRAINT_UNSATISFIABLE: &str = "constraint.unsatisfiable";
    /// A placed unit's machine lacks a bound space.
    pub const PLACEMENT_MISSING_SPACE: &str = "placement.missing-space";
    /// More new-machine units than machines that fit.
    pub const BINDING_CAPACITY: &str = "binding.capacity";
    /// A linked subnet is in no space.
    pub const SUBNET_NO_SPACE: &str = "subnet.no-space";
    /// Two subnets overlap.
    pub const SUBNET_OVERLAP: &str = "subnet.overlap";
    /// A bound space has no subnets or no machines.
    pub const SPACE_EMPTY: &str = "space.empty";
    /// An agent matched no MAAS machine, or several.
    pub const DRIFT_MACHINE_UNKNOWN: &str = "drift.machine-unknown";
    /// MAAS has an interface the machine lacks.
    pub const DRIFT_INTERFACE_MISSING: &str = "drift.interface-missing";
    /// A MAAS link IP is not on the machine.
    pub const DRIFT_ADDRESS_MISSING: &str = "drift.address-missing";
    /// An address in a known subnet that MAAS does not list.
    pub const DRIFT_ADDRESS_UNEXPECTED: &str = "drift.address-unexpected";
    /// Observed MTU below the VLAN's MTU.
    pub const DRIFT_MTU_MISMATCH: &str = "drift.mtu-mismatch";
    /// A MAAS-linked interface is not up.
    pub const DRIFT_LINK_DOWN: &str = "drift.link-down";
    /// A peer did not answer.
    pub const PROBE_UNREACHABLE: &str = "probe.unreachable";
    /// A peer answered some requests only.
    pub const PROBE_PACKET_LOSS: &str = "probe.packet-loss";
    /// Small probes pass, full-size DF probes fail.
    pub const PROBE_MTU_BLACKHOLE: &str = "probe.mtu-blackhole";
    /// A→B fails while B→A passes.
    pub const PROBE_ASYMMETRIC: &str = "probe.asymmetric";
    /// Traffic passed between spaces meant to be isolated.
    pub const PROBE_ISOLATION_BREACH: &str = "probe.isolation-breach";
    /// An expected agent never reported.
    pub const AGENT_MISSING: &str = "agent.missing";
    /// A planned probe would mean nothing (self-address, isolation answered locally).
    pub const PROBE_UNTESTABLE: &str = "probe.untestable";
    /// An agent could not run one item of its plan (and ran the rest).
    pub const PROBE_NOT_RUN: &str = "probe.not-run";
    /// Two machines (or MACs) answer for one address in one subnet.
    pub const ADDRESS_DUPLICATE: &str = "address.duplicate";
    /// A static or observed address lies in a MAAS dynamic range, or a reserved range holds an assigned address.
    pub const ADDRESS_IN_DYNAMIC_RANGE: &str = "address.in-dynamic-range";
    /// A subnet's gateway answers neither ARP nor ICMP from a machine in the subnet.
    pub const GATEWAY_UNREACHABLE: &str = "gateway.unreachable";
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Blocks the deployment: the check fails.
    Error,
    /// Worth fixing, does not fail the check.
    Warning,
    /// For information.
    Info,
}

/// What a finding is about; only the fields that apply are set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Subject {
    /// Application (bundle) name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    /// Endpoint (binding) name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Space name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space: Option<String>,
    /// Machine (system_id, hostname, agent id or bundle machine number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    /// Subnet (CIDR, with id when ambiguous).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    /// Interface name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Source address or machine of a probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Target address or machine of a probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable code, one of [`codes`].
    pub code: String,
    /// Severity.
    pub severity: Severity,
    /// What it is about.
    pub subject: Subject,
    /// What is wrong, in one sentence.
    pub message: String,
    /// What the operator should do, when there is advice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// Overall status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// No error findings.
    Pass,
    /// At least one error finding.
    Fail,
}

/// Which command produced a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportKind {
    /// `preflight validate`: bundle against provider, no probes.
    Validate,
    /// `preflight check`: connectivity check (may include validate findings).
    Check,
}

/// Counts and verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Pass when there are no error findings.
    pub status: Status,
    /// Number of error findings.
    pub errors: usize,
    /// Number of warning findings.
    pub warnings: usize,
    /// Number of info findings.
    pub infos: usize,
    /// Agents expected (check only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents_expected: Option<usize>,
    /// Agents that reported (check only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents_reported: Option<usize>,
    /// Probes planned (check only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probes_planned: Option<usize>,
    /// Probes with results (check only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probes_done: Option<usize>,
}

impl Summary {
    /// Counts the findings and derives the status.
    pub fn of(findings: &[Finding]) -> Summary {
        let count = |s| findings.iter().filter(|f| f.severity == s).count();
        let errors = count(Severity::Error);
        Summary {
            status: if errors == 0 {
                Status::Pass
            } else {
                Status::Fail
            },
            errors,
            warnings: count(Severity::Warning),
            infos: count(Severity::Info),
            agents_expected: None,
            agents_reported: None,
            probes_planned: None,
            probes_done: None,
        }
    }
}

/// A subnet as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetRef {
    /// MAAS id.
    pub id: i64,
    /// CIDR.
    pub cidr: String,
    /// Fabric name.
    pub fabric: Option<String>,
    /// 802.1Q vid.
    pub vid: Option<u16>,
    /// VLAN MTU.
    pub mtu: Option<u32>,
}

/// One probed pair (source → target) in a space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairResult {
    /// Plan probe id.
    pub id: String,
    /// Source machine (agent) name.
    pub source_machine: String,
    /// Target machine name.
    pub target_machine: String,
    /// Source address.
    pub source: IpAddr,
    /// Target address.
    pub target: IpAddr,
    /// Reachable or isolated.
    pub expect: Expectation,
    /// Whether a result arrived for this probe.
    pub done: bool,
    /// Requests sent.
    pub sent: u32,
    /// Replies received.
    pub received: u32,
    /// Loss in percent.
    pub loss_pct: f64,
    /// RTT statistics.
    #[serde(default)]
    pub rtt: Option<RttStats>,
    /// Failure cause.
    #[serde(default)]
    pub failure: Option<FailureCause>,
    /// MTU probe result.
    #[serde(default)]
    pub mtu: Option<MtuResult>,
    /// TCP probe results.
    #[serde(default)]
    pub tcp: Vec<TcpResult>,
}

/// Per-space section of a check report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpaceReport {
    /// Space name.
    pub name: String,
    /// MAAS id, when known.
    pub id: Option<i64>,
    /// Subnets in the space.
    pub subnets: Vec<SubnetRef>,
    /// Machines (agents) with an address in the space.
    pub machines: Vec<String>,
    /// Every probed pair.
    pub pairs: Vec<PairResult>,
}

/// The report of `validate` or `check`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`REPORT_SCHEMA`].
    pub schema: String,
    /// Validate or check.
    pub kind: ReportKind,
    /// When it was generated, RFC 3339 UTC.
    pub generated_at: String,
    /// Version of preflight that generated it.
    pub tool_version: String,
    /// Counts and verdict.
    pub summary: Summary,
    /// Findings, errors first.
    pub findings: Vec<Finding>,
    /// Per-space connectivity (check only).
    #[serde(default)]
    pub spaces: Vec<SpaceReport>,
    /// Inputs the report was made from (bundle paths, provider source), for the reader.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Every (check, subject) pair that was evaluated, so JUnit can list the passing cases too.
    #[serde(default)]
    pub checked: Vec<Checked>,
}

/// One check evaluated on one subject (e.g. `binding.unknown-space` on application `keystone`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checked {
    /// The check's finding code.
    pub check: String,
    /// What it was evaluated on.
    pub subject: Subject,
}

impl Report {
    /// Builds a report from findings, sorting them (errors first) and computing the summary.
    pub fn new(kind: ReportKind, generated_at: String, mut findings: Vec<Finding>) -> Report {
        findings.sort_by(|a, b| {
            (a.severity, &a.code, &a.subject).cmp(&(b.severity, &b.code, &b.subject))
        });
        Report {
            schema: REPORT_SCHEMA.to_string(),
            kind,
            generated_at,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            summary: Summary::of(&findings),
            findings,
            spaces: Vec::new(),
            inputs: Vec::new(),
            checked: Vec::new(),
        }
    }

    /// Exit code the CLI returns for this report: 0 pass, 1 error findings.
    pub fn exit_code(&self) -> u8 {
        match self.summary.status {
            Status::Pass => 0,
            Status::Fail => 1,
        }
    }
}
