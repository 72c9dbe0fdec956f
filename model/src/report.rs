//! Findings and the report: the one output shape of `validate` and `check`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use crate::code::{Code, CodeInfo, Step};
pub use crate::judge::{judge, Measurement, PairState};
use crate::plan::Expectation;
use crate::probe::{FailureCause, MtuResult, RttStats, TcpResult};

/// Schema string of [`Report`] documents.
pub const REPORT_SCHEMA: &str = "preflight.report/v1";

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
    /// Stable code (see [`Code`] for the registry).
    pub code: Code,
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

impl Finding {
    /// A finding with the code's default severity and no hint.
    pub fn new(code: Code, subject: Subject, message: impl Into<String>) -> Finding {
        Finding {
            severity: code.severity(),
            code,
            subject,
            message: message.into(),
            hint: None,
        }
    }

    /// The same finding with this hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Finding {
        self.hint = Some(hint.into());
        self
    }

    /// The same finding with this severity (for rules that lower the default).
    pub fn with_severity(mut self, severity: Severity) -> Finding {
        self.severity = severity;
        self
    }
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
#[serde(from = "PairWire")]
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
    /// The verdict ([`judge`] of the expectation and the measurement above): what every
    /// renderer shows and the probe findings are derived from. Added to `preflight.report/v1`
    /// after its first release: a document without it (or with a state this build does not
    /// know) is judged again when read.
    pub state: PairState,
}

impl PairResult {
    /// What the probe measured, `None` when no result arrived.
    pub fn measurement(&self) -> Option<Measurement<'_>> {
        self.done.then_some(Measurement {
            sent: self.sent,
            received: self.received,
            mtu: self.mtu.as_ref(),
            not_run: matches!(self.failure, Some(FailureCause::NotRun { .. })),
        })
    }

    /// Judges the pair from its expectation and measurement (see [`judge`]).
    pub fn judged(&self) -> PairState {
        judge(self.expect, self.measurement())
    }

    /// The same pair with its [`PairResult::state`] judged from its measurement.
    pub fn rejudged(mut self) -> PairResult {
        self.state = self.judged();
        self
    }
}

/// [`PairResult`] as read: the state is optional (documents written before it existed) and
/// free-form (a newer producer's state), so an absent or unknown one is judged again.
#[derive(Deserialize)]
struct PairWire {
    id: String,
    source_machine: String,
    target_machine: String,
    source: IpAddr,
    target: IpAddr,
    expect: Expectation,
    done: bool,
    sent: u32,
    received: u32,
    loss_pct: f64,
    #[serde(default)]
    rtt: Option<RttStats>,
    #[serde(default)]
    failure: Option<FailureCause>,
    #[serde(default)]
    mtu: Option<MtuResult>,
    #[serde(default)]
    tcp: Vec<TcpResult>,
    #[serde(default)]
    state: Option<String>,
}

impl From<PairWire> for PairResult {
    fn from(w: PairWire) -> PairResult {
        let mut p = PairResult {
            id: w.id,
            source_machine: w.source_machine,
            target_machine: w.target_machine,
            source: w.source,
            target: w.target,
            expect: w.expect,
            done: w.done,
            sent: w.sent,
            received: w.received,
            loss_pct: w.loss_pct,
            rtt: w.rtt,
            failure: w.failure,
            mtu: w.mtu,
            tcp: w.tcp,
            state: PairState::Pending,
        };
        p.state = w
            .state
            .and_then(|s| PairState::ALL.into_iter().find(|k| k.as_str() == s))
            .unwrap_or_else(|| p.judged());
        p
    }
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
    /// Space × space: which pairs the bundle's relations need, which must stay isolated, and
    /// what the probes between them saw (empty without a bundle or isolation policy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub space_pairs: Vec<SpacePair>,
    /// The causes that explain the failing pairs (check only; absent in older reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<Diagnosis>,
}

/// The localization of a check's failing pairs: the fewest independent faults explaining them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// Probed pairs that failed (unreachable, one-way, loss or MTU), counted once each.
    pub failing_pairs: usize,
    /// Failing pairs some cause explains.
    pub explained_pairs: usize,
    /// One per independent fault, the most pairs first.
    pub causes: Vec<Cause>,
}

/// One independent fault and the failing pairs it explains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    /// Finding code (`cause.*`); the same cause is also in the report's findings.
    pub code: Code,
    /// The culprit: machine, interface and space (the VLAN) when they apply.
    pub subject: Subject,
    /// Symptoms explained: `unreachable`, `one-way`, `loss`, `mtu`.
    pub symptoms: Vec<String>,
    /// What is wrong, in one sentence.
    pub message: String,
    /// What to do about it.
    pub fix: String,
    /// Spaces whose pairs it explains.
    pub spaces: Vec<String>,
    /// Ids of the failing pairs it explains (`spaces[].pairs[].id`).
    pub pairs: Vec<String>,
    /// Why this component and not another (passing paths, drift, the reverse direction).
    pub evidence: Vec<String>,
    /// Components the probes cannot tell apart from the culprit (empty: pinned down).
    pub indistinguishable: Vec<String>,
}

/// What the intent says about traffic between two spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PairPolicy {
    /// A relation of the bundle joins the two spaces: they must reach each other.
    Needed,
    /// No relation joins them and `--isolation bundle` is on: they must not reach each other.
    Isolated,
    /// `--isolate A:B`: the operator says they must not reach each other.
    IsolatedExplicit,
    /// `--allow A:B`: exempt from the bundle-derived isolation.
    Allowed,
    /// No relation joins them and no policy applies: not probed.
    Unconstrained,
}

/// One unordered pair of spaces (`a` < `b`) and what the probes between them saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpacePair {
    /// First space (alphabetically).
    pub a: String,
    /// Second space.
    pub b: String,
    /// What the intent says.
    pub policy: PairPolicy,
    /// The relations that need the pair (`app:endpoint ↔ app:endpoint`), when any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relations: Vec<String>,
    /// Name of the report section holding the pair's probes, when probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    /// Probes planned between the two spaces (both directions).
    pub probes: usize,
    /// Probes with a result.
    pub done: usize,
    /// Probes that got at least one answer.
    pub answered: usize,
    /// Why the pair was not probed, when it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One check evaluated on one subject (e.g. `binding.unknown-space` on application `keystone`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checked {
    /// The check's finding code.
    pub check: Code,
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
            diagnosis: None,
            space_pairs: Vec::new(),
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
