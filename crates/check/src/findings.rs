//! Probe finding rules, shared by `preflight check` and `preflight report --probes`.
//!
//! They read the report's own [`PairResult`]s and their judged [`PairState`], so both paths
//! report the same data the same way.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use preflight_model::plan::Expectation;
use preflight_model::probe::{FailureCause, MtuVerdict};
use preflight_model::report::{Checked, Code, Finding, PairResult, PairState, Severity, Subject};

fn subject(space: &str, p: &PairResult) -> Subject {
    Subject {
        space: Some(space.to_string()),
        source: Some(p.source_machine.clone()),
        target: Some(p.target_machine.clone()),
        ..Subject::default()
    }
}

/// The failure cause as findings word it (`None`: no cause was reported, i.e. a timeout).
pub(crate) fn cause(f: &Option<FailureCause>) -> String {
    f.as_ref().unwrap_or(&FailureCause::Timeout).to_string()
}

/// `"A (addr) → B (addr) in space"`, the head of every probe finding's message.
fn what(space: &str, p: &PairResult) -> String {
    format!(
        "{} ({}) → {} ({}) in {space}",
        p.source_machine, p.source, p.target_machine, p.target
    )
}

/// `probe.isolation-breach`: an isolated pair answered.
fn isolation_breach(space: &str, p: &PairResult) -> Finding {
    Finding::new(
        Code::ProbeIsolationBreach,
        subject(space, p),
        format!(
            "{}: {} of {} echo requests answered, but these spaces must be isolated",
            what(space, p),
            p.received,
            p.sent
        ),
    )
    .with_hint("find the router or firewall rule that forwards between the two spaces")
}

/// `probe.asymmetric`: an unreachable pair whose reverse direction answers.
fn asymmetric(space: &str, p: &PairResult) -> Finding {
    Finding::new(
        Code::ProbeAsymmetric,
        subject(space, p),
        format!(
            "{} fails ({}) while the reverse direction passes",
            what(space, p),
            cause(&p.failure)
        ),
    )
    .with_hint("look for a one-way firewall rule, reverse-path filtering or an asymmetric route")
}

/// `probe.unreachable`: an unreachable pair whose reverse direction fails too (or was not probed).
fn unreachable(space: &str, p: &PairResult) -> Finding {
    Finding::new(
        Code::ProbeUnreachable,
        subject(space, p),
        format!(
            "{}: no answer to {} echo requests ({})",
            what(space, p),
            p.sent,
            cause(&p.failure)
        ),
    )
    .with_hint("check the link, VLAN tagging, addressing and firewalls on both machines")
}

/// `probe.packet-loss`: an answered pair that lost some requests.
fn packet_loss(space: &str, p: &PairResult) -> Finding {
    Finding::new(
        Code::ProbePacketLoss,
        subject(space, p),
        format!(
            "{}: {:.0}% loss ({} of {} answered)",
            what(space, p),
            p.loss_pct,
            p.received,
            p.sent
        ),
    )
    .with_hint("check for errors on the ports, duplex, congestion or rate-limiting firewalls")
}

/// `probe.mtu-blackhole`: an answered pair whose full-size DF probe vanished or needed
/// fragmentation.
fn mtu_blackhole(space: &str, p: &PairResult) -> Option<Finding> {
    let m = p.mtu.as_ref()?;
    let largest = m
        .largest_ok
        .map(|l| format!("; the largest packet that passed was {l} bytes"))
        .unwrap_or_default();
    Some(
        Finding::new(
            Code::ProbeMtuBlackhole,
            subject(space, p),
            format!(
                "{}: small packets pass but {}-byte packets with DF {}{largest}",
                what(space, p),
                m.expected_mtu,
                if m.verdict == MtuVerdict::Blackhole {
                    "vanish"
                } else {
                    "need fragmentation"
                }
            ),
        )
        .with_hint(format!(
            "set MTU {} on every interface and switch port of the path",
            m.expected_mtu
        )),
    )
}

/// `probe.not-run`: the agent refused one plan item (and ran the rest).
fn not_run(space: &str, p: &PairResult) -> Finding {
    let reason = match &p.failure {
        Some(FailureCause::NotRun { reason }) => reason.as_str(),
        _ => "no reason given",
    };
    Finding::new(
        Code::ProbeNotRun,
        subject(space, p),
        format!("{} was not run by the agent: {reason}", what(space, p)),
    )
    .with_hint(
        "the rest of the plan ran; fix the plan item (or the address it names) and check again",
    )
}

/// The checks a pair takes part in, by what was planned for it (a pair the agent did not run
/// takes part in none but `probe.not-run`).
fn checks_of(p: &PairResult) -> &'static [Code] {
    if p.state == PairState::NotRun {
        return &[Code::ProbeNotRun];
    }
    match (p.expect, p.mtu.is_some()) {
        (Expectation::Isolated, _) => &[Code::ProbeIsolationBreach],
        (Expectation::Reachable, true) => &[
            Code::ProbeUnreachable,
            Code::ProbeAsymmetric,
            Code::ProbePacketLoss,
            Code::ProbeMtuBlackhole,
        ],
        (Expectation::Reachable, false) => &[
            Code::ProbeUnreachable,
            Code::ProbeAsymmetric,
            Code::ProbePacketLoss,
        ],
    }
}

/// Findings and evaluated checks for the probed pairs of one space, derived from each pair's
/// judged [`PairState`]: every failing pair gets at least one finding, a passing one none.
pub fn probe_findings(space: &str, pairs: &[PairResult]) -> (Vec<Finding>, Vec<Checked>) {
    let mut findings = Vec::new();
    let by_addr: HashMap<(IpAddr, IpAddr), &PairResult> = pairs
        .iter()
        .filter(|p| p.done)
        .map(|p| ((p.source, p.target), p))
        .collect();
    // Checks are recorded once per (code, space): a checked subject without source/target
    // covers every pair of the space, and the report lists each pair on its own anyway.
    let mut evaluated: Vec<Code> = Vec::new();
    for p in pairs.iter().filter(|p| p.done) {
        for code in checks_of(p) {
            if !evaluated.contains(code) {
                evaluated.push(code.clone());
            }
        }
        match p.state {
            PairState::Ok | PairState::Pending => {}
            PairState::NotRun => findings.push(not_run(space, p)),
            PairState::IsolationBreach => findings.push(isolation_breach(space, p)),
            PairState::Unreachable => {
                let reverse_answers = by_addr
                    .get(&(p.target, p.source))
                    .is_some_and(|r| r.expect == Expectation::Reachable && r.state.answered());
                findings.push(if reverse_answers {
                    asymmetric(space, p)
                } else {
                    unreachable(space, p)
                });
            }
            PairState::Loss => findings.push(packet_loss(space, p)),
            PairState::MtuBlackhole => {
                if p.received < p.sent {
                    findings.push(packet_loss(space, p));
                }
                findings.extend(mtu_blackhole(space, p));
            }
        }
    }
    let checked = evaluated
        .into_iter()
        .map(|check| Checked {
            check,
            subject: Subject {
                space: Some(space.to_string()),
                ..Subject::default()
            },
        })
        .collect();
    (findings, checked)
}

/// `probe.untestable` (info): one per probe the plan left out, with the plan's reason.
pub fn untestable_findings(items: &[crate::plan::Untestable]) -> Vec<Finding> {
    items
        .iter()
        .map(|u| Finding {
            code: Code::ProbeUntestable,
            severity: Severity::Info,
            subject: Subject {
                space: Some(u.space.clone()),
                source: Some(u.source_machine.clone()),
                target: Some(format!("{} ({})", u.target_machine, u.target)),
                ..Subject::default()
            },
            message: format!(
                "{} ({}) → {} ({}) in {} was not probed: {}",
                u.source_machine, u.source, u.target_machine, u.target, u.space, u.reason
            ),
            hint: Some(
                "give the machine an address that is unique on both sides, or prove this pair another way".into(),
            ),
        })
        .collect()
}

/// A MAAS machine of the deployment (Deployed, Deploying or Allocated) that no registered
/// agent matched: `(hostname, system_id)`.
pub type UnheardMachine = (String, String);

/// Most unheard machines named in one aggregated `agent.missing` message.
const MAX_NAMED: usize = 10;

/// `agent.missing` findings: one per named agent that never delivered, plus, for agents that
/// never registered, one per MAAS machine no agent matched when those machines account for
/// exactly the missing agents, else one finding that names the likely candidates.
pub fn missing_agents(
    expected: usize,
    registered: usize,
    silent: &[String],
    unheard: &[UnheardMachine],
    unit_labels: &BTreeMap<String, String>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    // `--unit-label`: the machines the deployment's units run on, named by their unit. When
    // some are unheard, they are the missing agents' machines (other unmatched MAAS machines
    // belong to something else).
    let name = |h: &str, id: &str| match unit_labels.get(h) {
        Some(unit) => format!("{h} ({id}, unit {unit})"),
        None => format!("{h} ({id})"),
    };
    let labelled: Vec<UnheardMachine> = unheard
        .iter()
        .filter(|(h, _)| unit_labels.contains_key(h))
        .cloned()
        .collect();
    let unheard: &[UnheardMachine] = if !labelled.is_empty() {
        &labelled
    } else {
        unheard
    };
    let hint = || {
        Some(
            "start `preflight-agent run` on every machine, and check it can reach the coordinator"
                .to_string(),
        )
    };
    if registered < expected {
        let n = expected - registered;
        if unheard.len() == n {
            for (hostname, system_id) in unheard {
                out.push(Finding {
                    code: Code::AgentMissing,
                    severity: Severity::Error,
                    subject: Subject {
                        machine: Some(hostname.clone()),
                        ..Subject::default()
                    },
                    message: format!(
                        "no agent registered for MAAS machine {} before the deadline",
                        name(hostname, system_id)
                    ),
                    hint: hint(),
                });
            }
        } else {
            let mut message = format!(
                "{n} of {expected} expected agents never registered before the deadline ({registered} did)"
            );
            if !unheard.is_empty() {
                let names: Vec<String> = unheard
                    .iter()
                    .take(MAX_NAMED)
                    .map(|(h, id)| name(h, id))
                    .collect();
                message.push_str(&format!(
                    "; MAAS machines no agent matched: {}",
                    names.join(", ")
                ));
                if unheard.len() > MAX_NAMED {
                    message.push_str(&format!(" and {} more", unheard.len() - MAX_NAMED));
                }
            }
            out.push(Finding {
                code: Code::AgentMissing,
                severity: Severity::Error,
                subject: Subject::default(),
                message,
                hint: hint(),
            });
        }
    }
    for name in silent {
        out.push(Finding {
            code: Code::AgentMissing,
            severity: Severity::Error,
            subject: Subject {
                machine: Some(name.clone()),
                ..Subject::default()
            },
            message: format!(
                "agent {name} registered but never sent its probe results before the deadline"
            ),
            hint: Some("see the agent's output on that machine".into()),
        });
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use preflight_model::probe::MtuResult;

    pub(crate) fn pair(src: &str, dst: &str, sent: u32, received: u32) -> PairResult {
        PairResult {
            id: format!("s/{src}>{dst}"),
            source_machine: format!("m-{src}"),
            target_machine: format!("m-{dst}"),
            source: src.parse().unwrap(),
            target: dst.parse().unwrap(),
            expect: Expectation::Reachable,
            done: true,
            sent,
            received,
            loss_pct: if sent == 0 {
                0.0
            } else {
                100.0 * f64::from(sent - received) / f64::from(sent)
            },
            rtt: None,
            failure: if received == 0 {
                Some(FailureCause::Timeout)
            } else {
                None
            },
            mtu: Some(MtuResult {
                expected_mtu: 1500,
                small_ok: received > 0,
                large_ok: received > 0,
                largest_ok: None,
                verdict: if received > 0 {
                    MtuVerdict::Ok
                } else {
                    MtuVerdict::Unknown
                },
            }),
            tcp: vec![],
            state: PairState::Ok,
        }
        .rejudged()
    }

    fn codes_of(f: &[Finding]) -> Vec<Code> {
        let mut v: Vec<Code> = f.iter().map(|f| f.code.clone()).collect();
        v.sort();
        v
    }

    #[test]
    fn healthy_pairs_give_no_findings_but_record_checks() {
        let pairs = vec![
            pair("10.0.0.1", "10.0.0.2", 3, 3),
            pair("10.0.0.2", "10.0.0.1", 3, 3),
        ];
        let (f, c) = probe_findings("s", &pairs);
        assert!(f.is_empty());
        assert_eq!(c.len(), 4, "one per code and space");
        assert!(c
            .iter()
            .all(|c| c.subject.space.as_deref() == Some("s") && c.subject.source.is_none()));
    }

    #[test]
    fn unreachable_both_ways() {
        let pairs = vec![
            pair("10.0.0.1", "10.0.0.2", 3, 0),
            pair("10.0.0.2", "10.0.0.1", 3, 0),
        ];
        let (f, _) = probe_findings("s", &pairs);
        assert_eq!(codes_of(&f), vec![Code::ProbeUnreachable; 2]);
        assert_eq!(f[0].subject.space.as_deref(), Some("s"));
        assert!(f[0].message.contains("no reply"));
    }

    #[test]
    fn one_way_failure_is_asymmetric_not_unreachable() {
        let pairs = vec![
            pair("10.0.0.1", "10.0.0.2", 3, 0),
            pair("10.0.0.2", "10.0.0.1", 3, 3),
        ];
        let (f, _) = probe_findings("s", &pairs);
        assert_eq!(codes_of(&f), vec![Code::ProbeAsymmetric]);
        assert_eq!(f[0].subject.source.as_deref(), Some("m-10.0.0.1"));
        assert_eq!(f[0].subject.target.as_deref(), Some("m-10.0.0.2"));
    }

    #[test]
    fn partial_loss_is_packet_loss() {
        let (f, _) = probe_findings("s", &[pair("10.0.0.1", "10.0.0.2", 10, 7)]);
        assert_eq!(codes_of(&f), vec![Code::ProbePacketLoss]);
        assert!(f[0].message.contains("30%"));
    }

    #[test]
    fn mtu_blackhole_names_the_largest_size_that_passed() {
        let mut p = pair("10.0.0.1", "10.0.0.2", 3, 3);
        p.mtu = Some(MtuResult {
            expected_mtu: 9000,
            small_ok: true,
            large_ok: false,
            largest_ok: Some(1500),
            verdict: MtuVerdict::Blackhole,
        });
        let (f, _) = probe_findings("s", &[p.clone().rejudged()]);
        assert_eq!(codes_of(&f), vec![Code::ProbeMtuBlackhole]);
        assert!(
            f[0].message.contains("1500 bytes") && f[0].message.contains("9000"),
            "{}",
            f[0].message
        );
        // unknown verdict (small failed too) is not a blackhole
        p.mtu = Some(MtuResult {
            expected_mtu: 9000,
            small_ok: false,
            large_ok: false,
            largest_ok: None,
            verdict: MtuVerdict::Unknown,
        });
        assert!(probe_findings("s", &[p.rejudged()]).0.is_empty());
    }

    #[test]
    fn isolation_breach_only_when_isolated_traffic_passes() {
        let mut p = pair("10.0.0.1", "10.9.0.2", 3, 3);
        p.expect = Expectation::Isolated;
        p.mtu = None;
        let (f, c) = probe_findings("iso", &[p.clone().rejudged()]);
        assert_eq!(codes_of(&f), vec![Code::ProbeIsolationBreach]);
        assert_eq!(c.len(), 1);
        p.received = 0;
        p.loss_pct = 100.0;
        assert!(
            probe_findings("iso", &[p.rejudged()]).0.is_empty(),
            "isolated and silent is the pass"
        );
    }

    #[test]
    fn pairs_without_results_give_no_probe_findings() {
        let mut p = pair("10.0.0.1", "10.0.0.2", 0, 0);
        p.done = false;
        let (f, c) = probe_findings("s", &[p.rejudged()]);
        assert!(f.is_empty() && c.is_empty());
    }

    #[test]
    fn missing_agents_rule() {
        assert!(missing_agents(3, 3, &[], &[], &BTreeMap::new()).is_empty());
        let f = missing_agents(3, 2, &["node7".into()], &[], &BTreeMap::new());
        assert_eq!(codes_of(&f), vec![Code::AgentMissing; 2]);
        assert!(f[0].message.contains("1 of 3"));
        assert_eq!(f[1].subject.machine.as_deref(), Some("node7"));
    }

    #[test]
    fn missing_agents_are_named_by_the_maas_machines_no_agent_matched() {
        let unheard = |n: usize| -> Vec<UnheardMachine> {
            (0..n)
                .map(|i| (format!("host{i}"), format!("sid{i}")))
                .collect()
        };
        // Exactly the missing count: one finding per machine, with the machine as subject.
        let f = missing_agents(4, 2, &[], &unheard(2), &BTreeMap::new());
        assert_eq!(codes_of(&f), vec![Code::AgentMissing; 2]);
        assert_eq!(f[0].subject.machine.as_deref(), Some("host0"));
        assert_eq!(f[1].subject.machine.as_deref(), Some("host1"));
        assert!(f[1].message.contains("host1 (sid1)"), "{}", f[1].message);
        // More candidates than missing agents: one finding naming at most ten of them.
        let f = missing_agents(4, 3, &[], &unheard(12), &BTreeMap::new());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject.machine, None);
        assert!(f[0].message.contains("1 of 4"), "{}", f[0].message);
        assert!(f[0].message.contains("host9 (sid9)"), "{}", f[0].message);
        assert!(!f[0].message.contains("host10"), "{}", f[0].message);
        assert!(f[0].message.ends_with("and 2 more"), "{}", f[0].message);
        // Nobody missing: unheard machines alone are no finding (MAAS may hold spare machines).
        assert!(missing_agents(2, 2, &[], &unheard(3), &BTreeMap::new()).is_empty());
    }

    #[test]
    fn unit_labels_pick_the_deployments_machines_and_name_their_units() {
        // MAAS has 12 deployed machines no agent matched; the charm's units run on host3 and
        // host7, and one unit's agent is missing: that is host7, named with its unit.
        let unheard: Vec<UnheardMachine> = (0..12)
            .map(|i| (format!("host{i}"), format!("sid{i}")))
            .collect();
        let labels: BTreeMap<String, String> = [
            ("host7".to_string(), "preflight/2".to_string()),
            ("node-x".to_string(), "preflight/0".to_string()),
        ]
        .into();
        let f = missing_agents(3, 2, &[], &unheard, &labels);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].subject.machine.as_deref(), Some("host7"));
        assert_eq!(
            f[0].message,
            "no agent registered for MAAS machine host7 (sid7, unit preflight/2) before the deadline"
        );
        // Without labels the same input is one aggregated finding (12 candidates for 1).
        let f = missing_agents(3, 2, &[], &unheard, &BTreeMap::new());
        assert_eq!((f.len(), f[0].subject.machine.as_deref()), (1, None));
    }

    #[test]
    fn an_item_the_agent_did_not_run_is_a_warning_and_nothing_else() {
        let mut refused = pair("10.0.0.1", "10.0.0.2", 0, 0);
        refused.failure = Some(FailureCause::NotRun {
            reason: "targets[0].target: the agent's own address".into(),
        });
        let refused = refused.rejudged();
        assert_eq!(refused.state, PairState::NotRun);
        let (f, checked) = probe_findings("s", &[refused]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].code, Code::ProbeNotRun);
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(
            f[0].message.contains("the agent's own address"),
            "{}",
            f[0].message
        );
        // Not run is not unreachable: the pair takes part in no other check.
        assert!(checked.iter().all(|c| c.check == Code::ProbeNotRun));
    }

    #[test]
    fn untestable_probes_are_info_findings_with_the_reason() {
        let u = crate::plan::Untestable {
            space: "internal".into(),
            source_machine: "host1".into(),
            target_machine: "host3".into(),
            source: "10.10.0.12".parse().unwrap(),
            target: "10.10.0.11".parse().unwrap(),
            reason: "10.10.0.11 is held by several machines in its subnet".into(),
        };
        let f = untestable_findings(&[u]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, Code::ProbeUntestable);
        assert_eq!(f[0].severity, Severity::Info);
        assert!(
            f[0].message.contains("held by several machines"),
            "{}",
            f[0].message
        );
        assert!(untestable_findings(&[]).is_empty());
    }
}
