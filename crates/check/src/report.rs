//! Report: assemble the check's [`Report`] from the merge, the plan and the results.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use preflight_model::probe::{ProbeReport, TargetResult};
use preflight_model::provider::ProviderModel;
use preflight_model::report::{
    Checked, Finding, PairResult, Report, ReportKind, SpaceReport, SubnetRef,
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
    }
}

/// Builds the check report.
pub fn build_report(input: ReportInput<'_>) -> Report {
    let names: HashMap<&str, &str> = input
        .merged
        .agents
        .iter()
        .map(|a| (a.agent_id.as_str(), a.name.as_str()))
        .collect();
    let mut findings = input.merged.findings.clone();
    findings.extend(input.extra_findings);
    let mut checked = input.extra_checked;
    checked.extend(input.merged.checked.iter().cloned());

    // Space sections: every real space with a member, plus isolation pseudo-spaces.
    let mut sections: BTreeMap<String, SpaceReport> = BTreeMap::new();
    for a in &input.merged.agents {
        for addr in &a.addresses {
            let space = input.provider.spaces.get(&addr.space_id);
            let name = space
                .map(|s| s.name.clone())
                .unwrap_or_else(|| format!("space-{}", addr.space_id));
            let sec = sections.entry(name.clone()).or_insert_with(|| SpaceReport {
                name,
                id: Some(addr.space_id),
                subnets: input
                    .provider
                    .subnets_in_space(addr.space_id)
                    .map(|s| {
                        let vlan = input.provider.vlans.get(&s.vlan_id);
                        SubnetRef {
                            id: s.id,
                            cidr: s.cidr.to_string(),
                            fabric: vlan
                                .and_then(|v| input.provider.fabrics.get(&v.fabric_id))
                                .map(|f| f.name.clone()),
                            vid: vlan.map(|v| v.vid),
                            mtu: vlan.map(|v| v.mtu),
                        }
                    })
                    .collect(),
                machines: Vec::new(),
                pairs: Vec::new(),
            });
            if !sec.machines.contains(&a.name) {
                sec.machines.push(a.name.clone());
            }
        }
    }
    let mut probes_done = 0;
    let mut silent = Vec::new();
    for (agent_id, plan) in &input.plan.per_agent {
        let source_machine = names
            .get(agent_id.as_str())
            .copied()
            .unwrap_or(agent_id)
            .to_string();
        let res = input.results.get(agent_id);
        if res.is_none() {
            silent.push(source_machine.clone());
        }
        let by_id: HashMap<&str, &TargetResult> = res
            .map(|r| {
                r.targets
                    .iter()
                    .filter_map(|t| t.id.as_deref().map(|id| (id, t)))
                    .collect()
            })
            .unwrap_or_default();
        for t in &plan.targets {
            let r = by_id.get(t.id.as_str()).copied();
            if r.is_some() {
                probes_done += 1;
            }
            // Neighbour and gateway probes are judged per address (crate::infra), not as pairs.
            if t.kind != preflight_model::plan::ProbeKind::Echo {
                continue;
            }
            let sec = sections
                .entry(t.space.clone())
                .or_insert_with(|| SpaceReport {
                    name: t.space.clone(),
                    id: None,
                    subnets: Vec::new(),
                    machines: Vec::new(),
                    pairs: Vec::new(),
                });
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
                r,
            ));
        }
    }
    let mut spaces: Vec<SpaceReport> = sections.into_values().collect();
    for sec in &mut spaces {
        sec.machines.sort();
        sec.pairs.sort_by(|a, b| a.id.cmp(&b.id));
        let (f, c) = probe_findings(&sec.name, &sec.pairs);
        findings.extend(f);
        checked.extend(c);
    }
    findings.extend(untestable_findings(&input.plan.untestable));
    for (f, c) in [
        crate::infra::address_duplicate(
            input.provider,
            &input.merged.agents,
            &input.plan.per_agent,
            input.results,
        ),
        crate::infra::address_in_dynamic_range(input.provider, &input.merged.agents),
        crate::infra::controller_unreachable(
            input.provider,
            &input.merged.agents,
            &input.plan.per_agent,
            input.results,
            input.plan.controllers.as_ref(),
        ),
        crate::infra::gateway_unreachable(
            input.provider,
            &input.merged.agents,
            &input.plan.per_agent,
            input.results,
        ),
    ] {
        findings.extend(f);
        checked.extend(c);
    }
    let registered = input.merged.agents.len();
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
        .filter(|m| matches!(m.status.as_str(), "Deployed" | "Deploying" | "Allocated"))
        .filter(|m| !heard.contains(m.system_id.as_str()))
        .map(|m| (m.hostname.clone(), m.system_id.clone()))
        .collect();
    findings.extend(missing_agents(
        input.expected,
        registered,
        &silent,
        &unheard,
    ));
    checked.push(Checked {
        check: preflight_model::report::Code::AgentMissing,
        subject: Default::default(),
    });
    let mut report = Report::new(ReportKind::Check, now(), findings);
    report.summary.agents_expected = Some(input.expected);
    report.summary.agents_reported = Some(
        input
            .results
            .keys()
            .filter(|k| input.plan.per_agent.contains_key(*k))
            .count(),
    );
    report.summary.probes_planned = Some(input.plan.probes);
    report.summary.probes_done = Some(probes_done);
    report.spaces = spaces;
    report.inputs = input.inputs;
    report.checked = checked;
    report
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
    let mut report = Report::new(ReportKind::Check, now(), findings);
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
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].code, Code::ProbeAsymmetric);
        assert_eq!(r.findings[0].subject.source.as_deref(), Some("keystone/0"));
        assert_eq!(r.findings[0].subject.target.as_deref(), Some("keystone/1"));
        assert_eq!(r.summary.probes_done, Some(4));
        assert_eq!(r.exit_code(), 1);
    }

    #[test]
    fn report_from_probes_healthy_passes_and_bad_schema_is_an_error() {
        let results = vec![pr("a", vec![tr("s", "10.0.0.1", "10.0.0.2", 3)])];
        let r = from_probes(&results).unwrap();
        assert!(r.findings.is_empty());
        assert_eq!(r.exit_code(), 0);
        // target without a known owner is named by its address
        assert_eq!(r.spaces[0].machines, vec!["10.0.0.2", "a"]);
        let mut bad = results.clone();
        bad[0].schema = "nope/v9".into();
        assert!(from_probes(&bad).is_err());
        assert!(from_probes(&[]).is_err());
    }
}
