//! Report: assemble the check's [`Report`] from the merge, the plan and the results.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use preflight_model::plan::ProbeKind;
use preflight_model::probe::{ProbeReport, TargetResult};
use preflight_model::provider::ProviderModel;
use preflight_model::report::{
    judge, Checked, Finding, Measurement, PairResult, Report, ReportKind, SpaceReport, SubnetRef,
};

use crate::findings::{missing_agents, probe_findings, untestable_findings};
use crate::merge::Merged;
use crate::plan::CheckPlan;
use crate::CheckError;

/// Everything the check's report is made from.
#[derive(Debug)]
pub struct ReportInput<'a> {
    /// MAAS's model.
    pub provider: &'a ProviderModel,
    /// The merge of the agents that registered.
    pub merged: &'a Merged,
    /// The plan handed out.
    pub plan: &'a CheckPlan,
    /// Results per agent id.
    pub results: &'a BTreeMap<String, ProbeReport>,
    /// Agents expected (`--expect`).
    pub expected: usize,
    /// `--unit-label`: hostname → the unit that runs there (names missing agents).
    pub unit_labels: BTreeMap<String, String>,
    /// Findings from other steps (bundle validation).
    pub extra_findings: Vec<Finding>,
    /// Checks evaluated by other steps.
    pub extra_checked: Vec<Checked>,
    /// Inputs, for the reader.
    pub inputs: Vec<String>,
}

/// Current time, RFC 3339 UTC.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn pair_from(
    id: String,
    source_machine: String,
    target_machine: String,
    t: &preflight_model::plan::PlannedTarget,
    r: Option<&TargetResult>,
) -> PairResult {
    PairResult {
        id,
        source_machine,
        target_machine,
        source: t.source,
        target: t.target,
        expect: t.expect,
        done: r.is_some(),
        sent: r.map(|r| r.sent).unwrap_or(0),
        received: r.map(|r| r.received).unwrap_or(0),
        loss_pct: r.map(|r| r.loss_pct).unwrap_or(0.0),
        rtt: r.and_then(|r| r.rtt),
        failure: r.and_then(|r| r.failure.clone()),
        mtu: r.and_then(|r| r.mtu),
        tcp: r.map(|r| r.tcp.clone()).unwrap_or_default(),
        // Judged here, once: the findings, renderers and exit code all follow this.
        state: judge(t.expect, r.map(Measurement::from)),
    }
}

/// Builds the check report (every result folded at once; see [`PairFold`]).
pub fn build_report(input: ReportInput<'_>) -> Report {
    let mut fold = PairFold::new(input.provider, input.merged, input.plan);
    for (agent_id, r) in input.results {
        fold.add(input.plan, agent_id, r);
    }
    fold.finish(Finish {
        provider: input.provider,
        merged: input.merged,
        plan: input.plan,
        expected: input.expected,
        unit_labels: input.unit_labels,
        extra_findings: input.extra_findings,
        extra_checked: input.extra_checked,
        inputs: input.inputs,
    })
}

/// What the report needs besides the folded pairs.
#[derive(Debug)]
pub struct Finish<'a> {
    /// MAAS's model.
    pub provider: &'a ProviderModel,
    /// The merge of the agents that registered.
    pub merged: &'a Merged,
    /// The plan handed out.
    pub plan: &'a CheckPlan,
    /// Agents expected (`--expect`).
    pub expected: usize,
    /// `--unit-label`: hostname → the unit that runs there (names missing agents).
    pub unit_labels: BTreeMap<String, String>,
    /// Findings from other steps (bundle validation).
    pub extra_findings: Vec<Finding>,
    /// Checks evaluated by other steps.
    pub extra_checked: Vec<Checked>,
    /// Inputs, for the reader.
    pub inputs: Vec<String>,
}

/// Where a plan item's pair is (section, index), `None` for an item judged by
/// [`crate::infra`] instead of as a pair.
type Slot = Option<(usize, usize)>;

/// The report's space sections and pairs, built when the plan is and filled in as each
/// agent's results arrive, so the coordinator keeps one pair per probe instead of every
/// upload and then every pair.
#[derive(Debug, Default)]
pub struct PairFold {
    /// Space sections by name, in name order at the end.
    sections: Vec<SpaceReport>,
    /// Per agent: its source machine name, and for each of its plan's targets, where the
    /// pair is (section, index).
    slots: HashMap<String, (String, Vec<Slot>)>,
    /// Agents whose results were folded.
    reported: BTreeSet<String>,
    /// Probes with a result.
    probes_done: usize,
    /// Per agent, the results of its non-echo plan items (neighbour, gateway, controller):
    /// the [`crate::infra`] rules judge them at the end. A few per agent, so kept whole.
    infra: BTreeMap<String, ProbeReport>,
}

impl PairFold {
    /// Sections for every real space with a member (plus isolation pseudo-spaces), and a
    /// not-yet-done pair for every planned probe.
    pub fn new(provider: &ProviderModel, merged: &Merged, plan: &CheckPlan) -> PairFold {
        let names: HashMap<&str, &str> = merged
            .agents
            .iter()
            .map(|a| (a.agent_id.as_str(), a.name.as_str()))
            .collect();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut sections: Vec<SpaceReport> = Vec::new();
        let mut section =
            |sections: &mut Vec<SpaceReport>, name: &str, make: &dyn Fn() -> SpaceReport| {
                *index.entry(name.to_string()).or_insert_with(|| {
                    sections.push(make());
                    sections.len() - 1
                })
            };
        for a in &merged.agents {
            for addr in &a.addresses {
                let space = provider.spaces.get(&addr.space_id);
                let name = space
                    .map(|s| s.name.clone())
                    .unwrap_or_else(|| format!("space-{}", addr.space_id));
                let i = section(&mut sections, &name, &|| SpaceReport {
                    name: name.clone(),
                    id: Some(addr.space_id),
                    subnets: provider
                        .subnets_in_space(addr.space_id)
                        .map(|s| {
                            let vlan = provider.vlans.get(&s.vlan_id);
                            SubnetRef {
                                id: s.id,
                                cidr: s.cidr.to_string(),
                                fabric: vlan
                                    .and_then(|v| provider.fabrics.get(&v.fabric_id))
                                    .map(|f| f.name.clone()),
                                vid: vlan.map(|v| v.vid),
                                mtu: vlan.map(|v| v.mtu),
                            }
                        })
                        .collect(),
                    machines: Vec::new(),
                    pairs: Vec::new(),
                });
                let sec = &mut sections[i];
                if !sec.machines.contains(&a.name) {
                    sec.machines.push(a.name.clone());
                }
            }
        }
        let mut slots = HashMap::new();
        for (agent_id, plan) in &plan.per_agent {
            let source_machine = names
                .get(agent_id.as_str())
                .copied()
                .unwrap_or(agent_id)
                .to_string();
            let mut at = Vec::with_capacity(plan.targets.len());
            for t in &plan.targets {
                // Neighbour, gateway and controller probes are judged per address or subnet
                // (crate::infra), not as pairs: no slot; their results are kept as they come.
                if t.kind != ProbeKind::Echo {
                    at.push(None);
                    continue;
                }
                let i = section(&mut sections, &t.space, &|| SpaceReport {
                    name: t.space.clone(),
                    id: None,
                    subnets: Vec::new(),
                    machines: Vec::new(),
                    pairs: Vec::new(),
                });
                let sec = &mut sections[i];
                let target_machine = t
                    .target_machine
                    .clone()
                    .unwrap_or_else(|| t.target.to_string());
                for m in [&source_machine, &target_machine] {
                    if !sec.machines.contains(m) {
                        sec.machines.push(m.clone());
                    }
                }
                sec.pairs.push(pair_from(
                    t.id.clone(),
                    source_machine.clone(),
                    target_machine,
                    t,
                    None,
                ));
                at.push(Some((i, sec.pairs.len() - 1)));
            }
            slots.insert(agent_id.clone(), (source_machine, at));
        }
        PairFold {
            sections,
            slots,
            reported: BTreeSet::new(),
            probes_done: 0,
            infra: BTreeMap::new(),
        }
    }

    /// Folds one agent's results into its pairs (results of agents not in the plan, and
    /// target results not in the agent's plan, are ignored; the state refuses those anyway).
    pub fn add(&mut self, plan: &CheckPlan, agent_id: &str, report: &ProbeReport) {
        let (Some(p), Some((_, at))) = (plan.per_agent.get(agent_id), self.slots.get(agent_id))
        else {
            return;
        };
        if !self.reported.insert(agent_id.to_string()) {
            return;
        }
        let by_id: HashMap<&str, &TargetResult> = report
            .targets
            .iter()
            .filter_map(|t| t.id.as_deref().map(|id| (id, t)))
            .collect();
        let mut infra = Vec::new();
        for (t, &slot) in p.targets.iter().zip(at) {
            let Some(r) = by_id.get(t.id.as_str()).copied() else {
                continue;
            };
            self.probes_done += 1;
            let Some((i, j)) = slot else {
                infra.push(r.clone());
                continue;
            };
            let pair = &mut self.sections[i].pairs[j];
            *pair = pair_from(
                std::mem::take(&mut pair.id),
                std::mem::take(&mut pair.source_machine),
                std::mem::take(&mut pair.target_machine),
                t,
                Some(r),
            );
        }
        if !infra.is_empty() {
            self.infra.insert(
                agent_id.to_string(),
                ProbeReport {
                    schema: report.schema.clone(),
                    agent: report.agent.clone(),
                    sockets: Vec::new(),
                    started_at: report.started_at.clone(),
                    duration_ms: report.duration_ms,
                    targets: infra,
                },
            );
        }
    }

    /// Probes with a result so far.
    pub fn probes_done(&self) -> usize {
        self.probes_done
    }

    /// The report: the sections in name order, each space's probe findings, the missing
    /// agents, the summary.
    pub fn finish(self, input: Finish<'_>) -> Report {
        let mut findings = input.merged.findings.clone();
        findings.extend(input.extra_findings);
        let mut checked = input.extra_checked;
        checked.extend(input.merged.checked.iter().cloned());
        let silent: Vec<String> = {
            let mut s: Vec<(&String, &String)> = self
                .slots
                .iter()
                .filter(|(id, _)| !self.reported.contains(*id))
                .map(|(id, (name, _))| (id, name))
                .collect();
            s.sort();
            s.into_iter().map(|(_, name)| name.clone()).collect()
        };
        let mut spaces = self.sections;
        spaces.sort_by(|a, b| a.name.cmp(&b.name));
        for sec in &mut spaces {
            sec.machines.sort();
            sec.pairs.sort_by(|a, b| a.id.cmp(&b.id));
            let (f, c) = crate::cross_space::section_findings(&input.plan.cross, sec)
                .unwrap_or_else(|| probe_findings(&sec.name, &sec.pairs));
            findings.extend(f);
            checked.extend(c);
        }
        let space_pairs = crate::cross_space::space_pairs(&input.plan.cross, &spaces);
        findings.extend(untestable_findings(&input.plan.untestable));
        for (f, c) in [
            crate::infra::address_duplicate(
                input.provider,
                &input.merged.agents,
                &input.plan.per_agent,
                &self.infra,
            ),
            crate::infra::address_in_dynamic_range(input.provider, &input.merged.agents),
            crate::infra::infra_not_run(&input.merged.agents, &input.plan.per_agent, &self.infra),
            crate::infra::controller_unreachable(
                input.provider,
                &input.merged.agents,
                &input.plan.per_agent,
                &self.infra,
                input.plan.controllers.as_ref(),
            ),
            crate::infra::gateway_unreachable(
                input.provider,
                &input.merged.agents,
                &input.plan.per_agent,
                &self.infra,
            ),
            crate::infra::dns_server_unreachable(
                &input.merged.agents,
                &input.plan.per_agent,
                &self.infra,
            ),
            crate::infra::dns_reverse_mismatch(
                &input.merged.agents,
                &input.plan.per_agent,
                &self.infra,
            ),
            crate::infra::dns_forward_mismatch(
                &input.merged.agents,
                &input.plan.per_agent,
                &self.infra,
            ),
        ] {
            findings.extend(f);
            checked.extend(c);
        }
        let endpoints = crate::localize::EndpointModel::from_maas(input.provider, input.merged);
        let diagnosis = crate::localize::localize(&spaces, &endpoints, &input.merged.findings);
        findings.extend(crate::localize::cause_findings(&diagnosis));
        // Agents MAAS does not know (drift.machine-unknown) stand for no expected machine.
        let registered = input
            .merged
            .agents
            .iter()
            .filter(|a| a.system_id.is_some())
            .count();
        let heard: std::collections::HashSet<&str> = input
            .merged
            .agents
            .iter()
            .filter_map(|a| a.system_id.as_deref())
            .collect();
        let unheard: Vec<(String, String)> = input
            .provider
            .machines
            .iter()
            .filter(|m| m.status.is_in_deployment())
            .filter(|m| !heard.contains(m.system_id.as_str()))
            .map(|m| (m.hostname.clone(), m.system_id.clone()))
            .collect();
        findings.extend(missing_agents(
            input.expected,
            registered,
            &silent,
            &unheard,
            &input.unit_labels,
        ));
        checked.push(Checked {
            check: preflight_model::report::Code::AgentMissing,
            subject: Default::default(),
        });
        let mut report = Report::new(ReportKind::Check, now(), findings);
        report.summary.agents_expected = Some(input.expected);
        report.summary.agents_reported = Some(self.reported.len());
        report.summary.probes_planned = Some(input.plan.probes);
        report.summary.probes_done = Some(self.probes_done);
        report.spaces = spaces;
        report.space_pairs = space_pairs;
        report.diagnosis = Some(diagnosis);
        report.inputs = input.inputs;
        report.checked = checked;
        report
    }
}

/// Builds a check report from probe results alone; see [`crate::report_from_probes`].
pub fn from_probes(results: &[ProbeReport]) -> Result<Report, CheckError> {
    if results.is_empty() {
        return Err(CheckError::Input("no probe results given".into()));
    }
    for (i, r) in results.iter().enumerate() {
        preflight_model::check_schema(preflight_model::probe::PROBE_SCHEMA, &r.schema)
            .map_err(|e| CheckError::Input(format!("probe result {}: {e}", i + 1)))?;
    }
    // Address → machine name, from every report's sources.
    let mut owner: HashMap<std::net::IpAddr, String> = HashMap::new();
    for r in results {
        if let Some(agent) = &r.agent {
            for t in &r.targets {
                if let Some(s) = t.source {
                    owner.entry(s).or_insert_with(|| agent.clone());
                }
            }
            for s in r.sockets.iter().filter_map(|s| s.source) {
                owner.entry(s).or_insert_with(|| agent.clone());
            }
        }
    }
    let mut sections: BTreeMap<String, SpaceReport> = BTreeMap::new();
    let mut seen_ids = BTreeSet::new();
    for (ri, r) in results.iter().enumerate() {
        for (ti, t) in r.targets.iter().enumerate() {
            // Without the MAAS model there is nobody to compare neighbour answers with.
            if t.kind != preflight_model::plan::ProbeKind::Echo {
                continue;
            }
            let space = t.space.clone().unwrap_or_else(|| "default".to_string());
            let source_machine = r
                .agent
                .clone()
                .or_else(|| t.source.map(|s| s.to_string()))
                .unwrap_or_else(|| format!("report-{}", ri + 1));
            let target_machine = owner
                .get(&t.target)
                .cloned()
                .unwrap_or_else(|| t.target.to_string());
            let mut id =
                t.id.clone()
                    .unwrap_or_else(|| format!("{space}/{source_machine}>{}", t.target));
            if !seen_ids.insert(id.clone()) {
                id = format!("{id}#{}.{}", ri + 1, ti + 1);
                seen_ids.insert(id.clone());
            }
            let planned = preflight_model::plan::PlannedTarget {
                id: id.clone(),
                space: space.clone(),
                source: t.source.unwrap_or(t.target),
                target: t.target,
                device: None,
                mtu: None,
                tcp_ports: Vec::new(),
                target_machine: Some(target_machine.clone()),
                expect: t.expect,
                kind: Default::default(),
            };
            let mut pair = pair_from(
                id,
                source_machine.clone(),
                target_machine.clone(),
                &planned,
                Some(t),
            );
            if t.source.is_none() {
                // Without a bound source, the machine's name stands in (no reverse lookup).
                pair.source = t.target;
            }
            let sec = sections
                .entry(space.clone())
                .or_insert_with(|| SpaceReport {
                    name: space,
                    id: None,
                    subnets: Vec::new(),
                    machines: Vec::new(),
                    pairs: Vec::new(),
                });
            for m in [source_machine, target_machine] {
                if !sec.machines.contains(&m) {
                    sec.machines.push(m);
                }
            }
            sec.pairs.push(pair);
        }
    }
    let mut findings = Vec::new();
    let mut checked = Vec::new();
    let mut probes = 0;
    let mut spaces: Vec<SpaceReport> = sections.into_values().collect();
    for sec in &mut spaces {
        sec.machines.sort();
        probes += sec.pairs.len();
        let (f, c) = probe_findings(&sec.name, &sec.pairs);
        findings.extend(f);
        checked.extend(c);
    }
    let diagnosis =
        crate::localize::localize(&spaces, &crate::localize::EndpointModel::default(), &[]);
    findings.extend(crate::localize::cause_findings(&diagnosis));
    let mut report = Report::new(ReportKind::Check, now(), findings);
    report.diagnosis = Some(diagnosis);
    let agents: BTreeSet<&String> = results.iter().filter_map(|r| r.agent.as_ref()).collect();
    report.summary.agents_reported = Some(agents.len().max(results.len().min(1)));
    report.summary.probes_planned = Some(probes);
    report.summary.probes_done = Some(probes);
    report.spaces = spaces;
    report.checked = checked;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use preflight_model::plan::Expectation;
    use preflight_model::probe::PROBE_SCHEMA;
    use preflight_model::report::Code;

    fn tr(space: &str, src: &str, dst: &str, received: u32) -> TargetResult {
        TargetResult {
            id: None,
            space: Some(space.into()),
            source: Some(src.parse().unwrap()),
            target: dst.parse().unwrap(),
            expect: Expectation::Reachable,
            sent: 3,
            received,
            duplicates: 0,
            loss_pct: 100.0 * f64::from(3 - received) / 3.0,
            rtt: None,
            failure: None,
            mtu: None,
            tcp: vec![],
            kind: Default::default(),
            macs: Vec::new(),
            dns: None,
        }
    }

    fn pr(agent: &str, targets: Vec<TargetResult>) -> ProbeReport {
        ProbeReport {
            schema: PROBE_SCHEMA.into(),
            agent: Some(agent.into()),
            sockets: vec![],
            started_at: "2026-01-01T00:00:00Z".into(),
            duration_ms: 5,
            targets,
        }
    }

    #[test]
    fn report_from_probes_names_machines_and_applies_the_rules() {
        let results = vec![
            pr(
                "keystone/0",
                vec![
                    tr("internal", "10.0.0.1", "10.0.0.2", 3),
                    tr("public", "10.1.0.1", "10.1.0.2", 0),
                ],
            ),
            pr(
                "keystone/1",
                vec![
                    tr("internal", "10.0.0.2", "10.0.0.1", 3),
                    tr("public", "10.1.0.2", "10.1.0.1", 3),
                ],
            ),
        ];
        let r = from_probes(&results).unwrap();
        assert_eq!(r.kind, ReportKind::Check);
        let names: Vec<&str> = r.spaces.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["internal", "public"]);
        assert_eq!(r.spaces[0].machines, vec!["keystone/0", "keystone/1"]);
        assert_eq!(r.spaces[0].pairs.len(), 2);
        // The pair finding, and the one cause explaining it: a policy, the reverse passes.
        assert_eq!(r.findings.len(), 2, "{:#?}", r.findings);
        let asym = r
            .findings
            .iter()
            .find(|f| f.code == Code::ProbeAsymmetric)
            .unwrap();
        assert_eq!(asym.subject.source.as_deref(), Some("keystone/0"));
        assert_eq!(asym.subject.target.as_deref(), Some("keystone/1"));
        let d = r.diagnosis.as_ref().unwrap();
        assert_eq!((d.failing_pairs, d.explained_pairs), (1, 1));
        assert_eq!(d.causes.len(), 1);
        assert_eq!(d.causes[0].code, Code::CausePolicy);
        assert_eq!(d.causes[0].subject.target.as_deref(), Some("keystone/1"));
        assert!(r.findings.iter().any(|f| f.code == Code::CausePolicy));
        assert_eq!(r.summary.probes_done, Some(4));
        assert_eq!(r.exit_code(), 1);
    }

    #[test]
    fn report_from_probes_healthy_passes_and_bad_schema_is_an_error() {
        let results = vec![pr("a", vec![tr("s", "10.0.0.1", "10.0.0.2", 3)])];
        let r = from_probes(&results).unwrap();
        assert!(r.findings.is_empty());
        assert!(r.diagnosis.as_ref().is_some_and(|d| d.causes.is_empty()));
        assert_eq!(r.exit_code(), 0);
        // target without a known owner is named by its address
        assert_eq!(r.spaces[0].machines, vec!["10.0.0.2", "a"]);
        let mut bad = results.clone();
        bad[0].schema = "nope/v9".into();
        assert!(from_probes(&bad).is_err());
        assert!(from_probes(&[]).is_err());
    }
}
