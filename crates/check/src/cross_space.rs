//! Cross-space probes: what the bundle's relations need between spaces, and what must stay
//! apart.
//!
//! With a bundle, every pair of spaces a relation joins ([`preflight_validate::relations`])
//! gets probes from the machines that can host the relation's applications on one side to
//! those on the other, both directions. "Can host": in every space the application's bindings
//! use, and among the MAAS machines its placements and constraints allow (validate's
//! candidates); when no machine qualifies, any machine of the space stands in. With `--isolation bundle`, every other pair of spaces
//! gets probes that must fail (except pairs `--allow A:B` exempts, and pairs `--isolate A:B`
//! already covers).
//!
//! Sampling (all subnets of a space are equal in routing, so probing every machine pair adds
//! nothing): on each side, endpoints sit on a ring (FNV-1a of section, agent, address); the
//! i-th endpoint of A probes the i-th endpoint of B's ring (mod |B|), and the j-th of B
//! probes the j-th of A's ring; then every ordered subnet pair (S of A, T of B, and T → S)
//! without a probe gets one. Bound per space pair: `|A| + |B| + 2·sA·sB` probes (s = subnets),
//! linear in machines. Isolation probes only use machines that are not in both spaces: a
//! machine with an address in each would answer on-link and say nothing about the router.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use preflight_model::plan::{Expectation, PlannedTarget};
use preflight_model::report::{
    Checked, Code, Finding, PairPolicy, PairResult, Severity, SpacePair, SpaceReport, Subject,
};
use preflight_validate::relations::{ordered, SpaceNeed};
use serde::{Deserialize, Serialize};

use crate::plan::{fnv1a, Endpoint};

/// What the check knows of the bundle's topology and the isolation policy.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// Space pairs the bundle's relations need.
    pub needs: Vec<SpaceNeed>,
    /// Per application, the spaces its bindings use (a machine hosting it is in all of them).
    pub application_spaces: BTreeMap<String, BTreeSet<String>>,
    /// Per application, the MAAS machines (hostnames and system_ids) its units can land on,
    /// from its placements and constraints ([`preflight_validate::ValidateOutcome::hosts`]);
    /// an application absent here is narrowed by its spaces only.
    pub application_hosts: BTreeMap<String, BTreeSet<String>>,
    /// `--isolation bundle`: every pair no relation needs must be isolated.
    pub isolate_unrelated: bool,
    /// `--allow A:B`: pairs exempt from the bundle-derived isolation.
    pub allow: Vec<(String, String)>,
    /// Whether a bundle was given (the space × space matrix is only made then, or with
    /// `--isolation bundle`).
    pub bundle: bool,
}

/// One space pair the plan knows about (stored with the plan, so a resumed check judges the
/// same way).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrossPair {
    /// First space (alphabetically).
    pub a: String,
    /// Second space.
    pub b: String,
    /// What the intent says.
    pub policy: PairPolicy,
    /// Relations that need the pair.
    #[serde(default)]
    pub relations: Vec<String>,
    /// Report section (pseudo-space) of its probes, when probed.
    #[serde(default)]
    pub section: Option<String>,
    /// Why it was not probed, when it was not.
    #[serde(default)]
    pub note: Option<String>,
}

/// Section name of the probes a relation needs between two spaces.
pub fn relation_section(a: &str, b: &str) -> String {
    format!("relation:{a}:{b}")
}

/// Section name of the probes of a pair no relation needs (`--isolation bundle`).
pub fn unrelated_section(a: &str, b: &str) -> String {
    format!("unrelated:{a}:{b}")
}

/// The cross-space probes of the plan, tagged with the source agent's index, and the pairs.
pub(crate) fn plan(
    spaces: &BTreeMap<String, Vec<Endpoint>>,
    topo: &Topology,
    explicit_isolate: &[(String, String)],
) -> (Vec<(usize, PlannedTarget)>, Vec<CrossPair>) {
    let mut probes = Vec::new();
    let mut pairs = Vec::new();
    if !topo.bundle && !topo.isolate_unrelated {
        return (probes, pairs);
    }
    // Spaces each agent has an address in.
    let mut agent_spaces: HashMap<usize, BTreeSet<&str>> = HashMap::new();
    for (name, eps) in spaces {
        for e in eps {
            agent_spaces
                .entry(e.agent)
                .or_default()
                .insert(name.as_str());
        }
    }
    let explicit: BTreeSet<(&str, &str)> = explicit_isolate
        .iter()
        .map(|(a, b)| ordered(a, b))
        .collect();
    let allowed: BTreeSet<(&str, &str)> = topo.allow.iter().map(|(a, b)| ordered(a, b)).collect();
    let names: Vec<&String> = spaces.keys().collect();
    let mut all_pairs: BTreeSet<(&str, &str)> = BTreeSet::new();
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            all_pairs.insert(ordered(a, b));
        }
    }
    for n in &topo.needs {
        all_pairs.insert(ordered(&n.a, &n.b));
    }
    let empty: Vec<Endpoint> = Vec::new();
    for (a, b) in all_pairs {
        let ea = spaces.get(a).unwrap_or(&empty);
        let eb = spaces.get(b).unwrap_or(&empty);
        let need = topo.needs.iter().find(|n| n.a == a && n.b == b);
        let mut pair = CrossPair {
            a: a.to_string(),
            b: b.to_string(),
            policy: PairPolicy::Unconstrained,
            relations: Vec::new(),
            section: None,
            note: None,
        };
        if let Some(need) = need {
            pair.policy = PairPolicy::Needed;
            pair.relations = need.relations.clone();
            let hosts = |eps: &[Endpoint], apps: &BTreeSet<String>| -> Vec<Endpoint> {
                let fit: Vec<Endpoint> = eps
                    .iter()
                    .filter(|e| {
                        apps.iter().any(|app| {
                            let have = agent_spaces.get(&e.agent);
                            let in_spaces = topo.application_spaces.get(app).is_none_or(|want| {
                                want.iter()
                                    .all(|w| have.is_some_and(|h| h.contains(w.as_str())))
                            });
                            let candidate = topo
                                .application_hosts
                                .get(app)
                                .is_none_or(|h| h.contains(&e.name) || h.contains(&e.agent_id));
                            in_spaces && candidate
                        })
                    })
                    .cloned()
                    .collect();
                // No machine fits every bound space: any machine of the space stands in.
                if fit.is_empty() {
                    eps.to_vec()
                } else {
                    fit
                }
            };
            let sa = hosts(ea, &need.applications_a);
            let sb = hosts(eb, &need.applications_b);
            let section = relation_section(a, b);
            let got = sampled(&section, &sa, &sb, Expectation::Reachable);
            if got.is_empty() {
                pair.note = Some(format!(
                    "no agent has an address in {}",
                    if sa.is_empty() { a } else { b }
                ));
            } else {
                pair.section = Some(section);
            }
            probes.extend(got);
        } else if explicit.contains(&(a, b)) {
            pair.policy = PairPolicy::IsolatedExplicit;
            pair.section = Some(crate::plan::isolation_space(a, b));
            for (x, y) in explicit_isolate {
                if ordered(x, y) == (a, b) {
                    pair.section = Some(crate::plan::isolation_space(x, y));
                    break;
                }
            }
        } else if allowed.contains(&(a, b)) {
            pair.policy = PairPolicy::Allowed;
        } else if topo.isolate_unrelated {
            pair.policy = PairPolicy::Isolated;
            // Only machines outside the other space say anything about the path between them.
            let only = |eps: &[Endpoint], other: &str| -> Vec<Endpoint> {
                eps.iter()
                    .filter(|e| {
                        !agent_spaces
                            .get(&e.agent)
                            .is_some_and(|s| s.contains(other))
                    })
                    .cloned()
                    .collect()
            };
            let sa = only(ea, b);
            let sb = only(eb, a);
            let section = unrelated_section(a, b);
            let got = sampled(&section, &sa, &sb, Expectation::Isolated);
            if got.is_empty() {
                pair.note = Some(if ea.is_empty() || eb.is_empty() {
                    format!(
                        "no agent has an address in {}",
                        if ea.is_empty() { a } else { b }
                    )
                } else {
                    format!(
                        "every machine of {} is also in the other space: an on-link answer would say nothing about the path",
                        if sa.is_empty() { a } else { b }
                    )
                });
            } else {
                pair.section = Some(section);
            }
            probes.extend(got);
        }
        pairs.push(pair);
    }
    (probes, pairs)
}

/// Ring order of endpoints by hash of (section, agent, address).
fn ring(section: &str, eps: &[Endpoint]) -> Vec<usize> {
    let mut keyed: Vec<(u64, usize)> = eps
        .iter()
        .enumerate()
        .map(|(i, e)| {
            (
                fnv1a(&[
                    section.as_bytes(),
                    e.agent_id.as_bytes(),
                    e.addr_text.as_bytes(),
                ]),
                i,
            )
        })
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// Sampled probes between two endpoint sets, both directions, per address family (a v6
/// endpoint never scans the v4 side for a partner): see the module docs.
fn sampled(
    section: &str,
    ea: &[Endpoint],
    eb: &[Endpoint],
    expect: Expectation,
) -> Vec<(usize, PlannedTarget)> {
    let mut out = Vec::new();
    for v4 in [true, false] {
        let of = |eps: &[Endpoint]| -> Vec<Endpoint> {
            eps.iter()
                .filter(|e| e.address.is_ipv4() == v4)
                .cloned()
                .collect()
        };
        let (fa, fb) = (of(ea), of(eb));
        if !fa.is_empty() && !fb.is_empty() {
            out.extend(sampled_one_family(section, &fa, &fb, expect));
        }
    }
    out
}

/// [`sampled`] for endpoints of one address family.
fn sampled_one_family(
    section: &str,
    ea: &[Endpoint],
    eb: &[Endpoint],
    expect: Expectation,
) -> Vec<(usize, PlannedTarget)> {
    let ok = |s: &Endpoint, t: &Endpoint| s.agent_id != t.agent_id;
    let mut chosen: HashSet<(bool, usize, usize)> = HashSet::new();
    // (a→b?, index in a, index in b)
    let mut order: Vec<(bool, usize, usize)> = Vec::new();
    let (ra, rb) = (ring(section, ea), ring(section, eb));
    // Each endpoint probes once across, in ring step.
    for (forward, from, to) in [(true, &ra, &rb), (false, &rb, &ra)] {
        for (pos, &s) in from.iter().enumerate() {
            for step in 0..to.len() {
                let t = to[(pos + step) % to.len()];
                let (ia, ib) = if forward { (s, t) } else { (t, s) };
                let (src, dst) = if forward {
                    (&ea[ia], &eb[ib])
                } else {
                    (&eb[ib], &ea[ia])
                };
                if ok(src, dst) {
                    if chosen.insert((forward, ia, ib)) {
                        order.push((forward, ia, ib));
                    }
                    break;
                }
            }
        }
    }
    // Every ordered subnet pair gets at least one probe when one is possible.
    let mut covered: HashSet<(bool, i64, i64)> = order
        .iter()
        .map(|&(f, ia, ib)| (f, ea[ia].subnet_id, eb[ib].subnet_id))
        .collect();
    let mut by_subnet_a: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for &i in &ra {
        by_subnet_a.entry(ea[i].subnet_id).or_default().push(i);
    }
    let mut by_subnet_b: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for &i in &rb {
        by_subnet_b.entry(eb[i].subnet_id).or_default().push(i);
    }
    for (&sa, ma) in &by_subnet_a {
        for (&sb, mb) in &by_subnet_b {
            for forward in [true, false] {
                if covered.contains(&(forward, sa, sb)) {
                    continue;
                }
                'find: for &ia in ma {
                    for &ib in mb {
                        let (src, dst) = if forward {
                            (&ea[ia], &eb[ib])
                        } else {
                            (&eb[ib], &ea[ia])
                        };
                        if ok(src, dst) && chosen.insert((forward, ia, ib)) {
                            order.push((forward, ia, ib));
                            covered.insert((forward, sa, sb));
                            break 'find;
                        }
                    }
                }
            }
        }
    }
    order
        .into_iter()
        .map(|(forward, ia, ib)| {
            let (s, t) = if forward {
                (&ea[ia], &eb[ib])
            } else {
                (&eb[ib], &ea[ia])
            };
            (
                s.agent,
                PlannedTarget {
                    id: crate::plan::probe_id(section, s, t, expect),
                    space: section.to_string(),
                    source: s.address,
                    target: t.address,
                    device: None,
                    mtu: None,
                    tcp_ports: Vec::new(),
                    target_machine: Some(t.name.clone()),
                    expect,
                    kind: Default::default(),
                },
            )
        })
        .collect()
}

/// The cross pair a report section belongs to, when it is a relation or unrelated section.
fn pair_of<'a>(pairs: &'a [CrossPair], section: &str) -> Option<&'a CrossPair> {
    pairs.iter().find(|p| {
        p.section.as_deref() == Some(section)
            && matches!(p.policy, PairPolicy::Needed | PairPolicy::Isolated)
    })
}

fn subject(pair: &CrossPair, p: &PairResult) -> Subject {
    Subject {
        space: Some(format!("{}:{}", pair.a, pair.b)),
        source: Some(p.source_machine.clone()),
        target: Some(p.target_machine.clone()),
        ..Subject::default()
    }
}

/// Findings of a cross-space section, or `None` when `section` is not one (the per-space
/// rules of [`crate::findings`] judge it then).
pub fn section_findings(
    pairs: &[CrossPair],
    section: &SpaceReport,
) -> Option<(Vec<Finding>, Vec<Checked>)> {
    let pair = pair_of(pairs, &section.name)?;
    let mut findings = Vec::new();
    let check = match pair.policy {
        PairPolicy::Needed => Code::RelationUnreachable,
        _ => Code::ProbeIsolationBreach,
    };
    let checked = vec![Checked {
        check,
        subject: Subject {
            space: Some(format!("{}:{}", pair.a, pair.b)),
            ..Subject::default()
        },
    }];
    for p in section.pairs.iter().filter(|p| p.done) {
        let what = format!(
            "{} ({}) → {} ({})",
            p.source_machine, p.source, p.target_machine, p.target
        );
        match pair.policy {
            PairPolicy::Needed if p.received == 0 => findings.push(relation_unreachable(pair, p, &what)),
            PairPolicy::Isolated if p.received > 0 => findings.push(Finding {
                code: Code::ProbeIsolationBreach,
                severity: Severity::Error,
                subject: subject(pair, p),
                message: format!(
                    "{what}: {} of {} echo requests answered between {} and {}, a pair not needed by any relation in the bundle",
                    p.received, p.sent, pair.a, pair.b
                ),
                hint: Some(format!(
                    "find the router or firewall rule that forwards between {} and {}; if the traffic is meant (e.g. a management space), say --allow {}:{}",
                    pair.a, pair.b, pair.a, pair.b
                )),
            }),
            _ => {}
        }
    }
    Some((findings, checked))
}

/// `relation.unreachable`: a probe between two spaces a relation needs got no answer.
fn relation_unreachable(pair: &CrossPair, p: &PairResult, what: &str) -> Finding {
    Finding {
        code: Code::RelationUnreachable,
        severity: Severity::Error,
        subject: subject(pair, p),
        message: format!(
            "{what}: no answer to {} echo requests ({}), yet {} need {}↔{}",
            p.sent,
            crate::findings::cause(&p.failure),
            preflight_validate::relations::some(&pair.relations, "; "),
            pair.a,
            pair.b
        ),
        hint: Some(format!(
            "route between {} and {} (gateways, router, firewall), or bind both ends of those relations to one space",
            pair.a, pair.b
        )),
    }
}

/// The space × space matrix of the report: every pair with its policy and what its probes saw.
pub fn space_pairs(pairs: &[CrossPair], sections: &[SpaceReport]) -> Vec<SpacePair> {
    pairs
        .iter()
        .map(|c| {
            let sec = c
                .section
                .as_deref()
                .and_then(|s| sections.iter().find(|x| x.name == s));
            let (probes, done, answered) = sec
                .map(|s| {
                    (
                        s.pairs.len(),
                        s.pairs.iter().filter(|p| p.done).count(),
                        s.pairs.iter().filter(|p| p.done && p.received > 0).count(),
                    )
                })
                .unwrap_or((0, 0, 0));
            SpacePair {
                a: c.a.clone(),
                b: c.b.clone(),
                policy: c.policy,
                relations: c.relations.clone(),
                section: c.section.clone(),
                probes,
                done,
                answered,
                note: c.note.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::tests::pair;
    use crate::merge::MergedAgent;
    use crate::plan::tests::{agent, many, spaces};
    use crate::plan::{build_plan, CheckPlan, PlanOptions};

    fn need(a: &str, b: &str, apps_a: &[&str], apps_b: &[&str]) -> SpaceNeed {
        SpaceNeed {
            a: a.into(),
            b: b.into(),
            relations: vec![format!("x:{a} ↔ y:{b}")],
            applications_a: apps_a.iter().map(|s| s.to_string()).collect(),
            applications_b: apps_b.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn opts(topology: Topology) -> PlanOptions {
        PlanOptions {
            topology,
            ..PlanOptions::default()
        }
    }

    fn section<'a>(plan: &'a CheckPlan, name: &str) -> Vec<&'a PlannedTarget> {
        plan.per_agent
            .values()
            .flat_map(|p| &p.targets)
            .filter(|t| t.space == name)
            .collect()
    }

    #[test]
    fn needed_pairs_are_sampled_once_per_machine_and_cover_every_subnet_pair() {
        let p = spaces(2);
        // 40 agents, each in sp1 and sp2, over 3 subnets per space.
        let agents = many(40, 2, 3);
        let topo = Topology {
            needs: vec![need("sp1", "sp2", &[], &[])],
            bundle: true,
            ..Topology::default()
        };
        let plan = build_plan(&p, &agents, &opts(topo));
        let t = section(&plan, "relation:sp1:sp2");
        // Bound: |A| + |B| + 2·sA·sB.
        assert!(t.len() >= 80 && t.len() <= 80 + 2 * 3 * 3, "{}", t.len());
        let subnet_of: BTreeMap<std::net::IpAddr, (i64, i64)> = agents
            .iter()
            .flat_map(|a| {
                a.addresses
                    .iter()
                    .map(|x| (x.address, (x.space_id, x.subnet_id)))
            })
            .collect();
        let mut seen = BTreeSet::new();
        let mut out_per_source: BTreeMap<std::net::IpAddr, usize> = BTreeMap::new();
        for x in &t {
            assert!(seen.insert((x.source, x.target)), "no duplicates");
            assert_eq!(x.expect, Expectation::Reachable);
            assert_ne!(
                subnet_of[&x.source].0, subnet_of[&x.target].0,
                "across spaces"
            );
            *out_per_source.entry(x.source).or_default() += 1;
        }
        assert_eq!(
            out_per_source.len(),
            80,
            "every endpoint of both spaces probes across"
        );
        for sa in 200..203 {
            for sb in 100..103 {
                for (from, to) in [(sa, sb), (sb, sa)] {
                    assert!(
                        t.iter().any(|x| subnet_of[&x.source].1 == from
                            && subnet_of[&x.target].1 == to),
                        "subnet pair {from}->{to}"
                    );
                }
            }
        }
        assert_eq!(plan.cross.len(), 1);
        assert_eq!(plan.cross[0].policy, PairPolicy::Needed);
        // Deterministic.
        let again = build_plan(
            &p,
            &agents,
            &opts(Topology {
                needs: vec![need("sp1", "sp2", &[], &[])],
                bundle: true,
                ..Topology::default()
            }),
        );
        let ids = |pl: &CheckPlan| {
            let mut v: Vec<String> = section(pl, "relation:sp1:sp2")
                .iter()
                .map(|x| x.id.clone())
                .collect();
            v.sort();
            v
        };
        assert_eq!(ids(&plan), ids(&again));
    }

    #[test]
    fn probes_come_from_machines_that_can_host_the_relations_applications() {
        let p = spaces(3);
        // node1, node2: sp1 only; node3: sp1 + sp3 (the only host for "app", bound to both);
        // node4, node5: sp2.
        let agents = vec![
            agent(1, &[(1, 10, "10.1.0.1")]),
            agent(2, &[(1, 10, "10.1.0.2")]),
            agent(3, &[(1, 10, "10.1.0.3"), (3, 30, "10.3.0.3")]),
            agent(4, &[(2, 20, "10.2.0.4")]),
            agent(5, &[(2, 20, "10.2.0.5")]),
        ];
        let topo = Topology {
            needs: vec![need("sp1", "sp2", &["app"], &["other"])],
            application_spaces: [
                ("app".to_string(), ["sp1", "sp3"].map(String::from).into()),
                ("other".to_string(), ["sp2".to_string()].into()),
            ]
            .into(),
            bundle: true,
            ..Topology::default()
        };
        let plan = build_plan(&p, &agents, &opts(topo));
        let t = section(&plan, "relation:sp1:sp2");
        let sp1: BTreeSet<String> = t
            .iter()
            .flat_map(|x| [x.source.to_string(), x.target.to_string()])
            .filter(|a| a.starts_with("10.1."))
            .collect();
        assert_eq!(sp1, ["10.1.0.3".to_string()].into(), "only node3 hosts app");
        assert_eq!(t.len(), 3, "node3 → one of sp2, each sp2 machine → node3");
    }

    #[test]
    fn placements_and_constraints_narrow_the_hosts_further() {
        let p = spaces(2);
        // node1-node3 in sp1, node4-node5 in sp2; validate says "app" can only land on node2
        // (its placement or constraints), "other" on node5 (by system_id here: a00005).
        let agents: Vec<MergedAgent> = (1..=5)
            .map(|i| {
                let (sp, sn) = if i <= 3 { (1, 10) } else { (2, 20) };
                agent(i, &[(sp, sn, &format!("10.{sp}.0.{i}"))])
            })
            .collect();
        let topo = Topology {
            needs: vec![need("sp1", "sp2", &["app"], &["other"])],
            application_hosts: [
                ("app".to_string(), ["node2".to_string()].into()),
                ("other".to_string(), ["a00005".to_string()].into()),
            ]
            .into(),
            bundle: true,
            ..Topology::default()
        };
        let plan = build_plan(&p, &agents, &opts(topo));
        let ends: BTreeSet<(String, String)> = section(&plan, "relation:sp1:sp2")
            .iter()
            .map(|x| (x.source.to_string(), x.target.to_string()))
            .collect();
        assert_eq!(
            ends,
            [
                ("10.1.0.2".to_string(), "10.2.0.5".to_string()),
                ("10.2.0.5".to_string(), "10.1.0.2".to_string())
            ]
            .into()
        );
    }

    #[test]
    fn without_a_machine_fitting_every_bound_space_any_machine_of_the_space_probes() {
        let p = spaces(3);
        let agents = vec![
            agent(1, &[(1, 10, "10.1.0.1")]),
            agent(2, &[(1, 10, "10.1.0.2")]),
            agent(3, &[(2, 20, "10.2.0.3")]),
        ];
        // "app" binds sp1 and sp3, but no agent is in sp3.
        let topo = Topology {
            needs: vec![need("sp1", "sp2", &["app"], &[])],
            application_spaces: [("app".to_string(), ["sp1", "sp3"].map(String::from).into())]
                .into(),
            bundle: true,
            ..Topology::default()
        };
        let plan = build_plan(&p, &agents, &opts(topo));
        let sources: BTreeSet<String> = section(&plan, "relation:sp1:sp2")
            .iter()
            .map(|x| x.source.to_string())
            .collect();
        assert_eq!(
            sources,
            ["10.1.0.1", "10.1.0.2", "10.2.0.3"]
                .map(String::from)
                .into()
        );
    }

    #[test]
    fn bundle_isolation_covers_unrelated_pairs_except_allowed_and_explicit_ones() {
        let p = spaces(4);
        let agents: Vec<_> = (1..=8)
            .map(|i| {
                let s = 1 + (i - 1) % 4;
                agent(i as usize, &[(s, s * 10, format!("10.{s}.0.{i}").as_str())])
            })
            .collect();
        let topo = Topology {
            needs: vec![need("sp1", "sp2", &[], &[])],
            isolate_unrelated: true,
            allow: vec![("sp4".into(), "sp3".into())],
            bundle: true,
            ..Topology::default()
        };
        let o = PlanOptions {
            isolate: vec![("sp2".into(), "sp1".into()), ("sp3".into(), "sp1".into())],
            topology: topo,
            ..PlanOptions::default()
        };
        let plan = build_plan(&p, &agents, &o);
        let policy: BTreeMap<(String, String), (PairPolicy, Option<String>)> = plan
            .cross
            .iter()
            .map(|c| ((c.a.clone(), c.b.clone()), (c.policy, c.section.clone())))
            .collect();
        let k = |a: &str, b: &str| (a.to_string(), b.to_string());
        // A need wins over an --isolate naming the same pair (the coordinator refuses that
        // combination before planning; the plan still never probes a needed pair as isolated).
        assert_eq!(policy[&k("sp1", "sp2")].0, PairPolicy::Needed);
        assert_eq!(
            policy[&k("sp1", "sp3")],
            (PairPolicy::IsolatedExplicit, Some("isolate:sp3:sp1".into()))
        );
        assert_eq!(policy[&k("sp3", "sp4")].0, PairPolicy::Allowed);
        for (a, b) in [("sp1", "sp4"), ("sp2", "sp3"), ("sp2", "sp4")] {
            assert_eq!(policy[&k(a, b)].0, PairPolicy::Isolated, "{a}:{b}");
            let t = section(&plan, &unrelated_section(a, b));
            assert_eq!(t.len(), 4, "2 machines a side, each once across: {a}:{b}");
            assert!(t
                .iter()
                .all(|x| x.expect == Expectation::Isolated && x.mtu.is_none()));
        }
        assert!(section(&plan, "unrelated:sp3:sp4").is_empty());
    }

    #[test]
    fn dual_stack_spaces_are_probed_per_family() {
        let p = spaces(2);
        let agents = vec![
            agent(1, &[(1, 10, "10.1.0.1"), (1, 11, "fd01::1")]),
            agent(2, &[(1, 10, "10.1.0.2"), (1, 11, "fd01::2")]),
            agent(3, &[(2, 20, "10.2.0.3"), (2, 21, "fd02::3")]),
        ];
        let topo = Topology {
            needs: vec![need("sp1", "sp2", &[], &[])],
            bundle: true,
            ..Topology::default()
        };
        let plan = build_plan(&p, &agents, &opts(topo));
        let t = section(&plan, "relation:sp1:sp2");
        assert!(t.iter().all(|x| x.source.is_ipv4() == x.target.is_ipv4()));
        // Per family: 2 (sp1 → node3) + 1 (node3 → sp1), each way covering its subnet pair.
        assert_eq!(t.iter().filter(|x| x.source.is_ipv4()).count(), 3);
        assert_eq!(t.iter().filter(|x| x.source.is_ipv6()).count(), 3);
    }

    #[test]
    fn isolation_skips_machines_in_both_spaces() {
        let p = spaces(2);
        let agents = vec![
            agent(1, &[(1, 10, "10.1.0.1"), (2, 20, "10.2.0.1")]),
            agent(2, &[(1, 10, "10.1.0.2"), (2, 20, "10.2.0.2")]),
        ];
        let topo = Topology {
            isolate_unrelated: true,
            bundle: true,
            ..Topology::default()
        };
        let plan = build_plan(&p, &agents, &opts(topo));
        assert!(section(&plan, "unrelated:sp1:sp2").is_empty());
        assert_eq!(plan.cross[0].section, None);
        assert!(plan.cross[0]
            .note
            .as_deref()
            .unwrap_or("")
            .contains("also in the other space"));
    }

    #[test]
    fn without_bundle_or_isolation_policy_the_plan_has_no_cross_pairs() {
        let p = spaces(2);
        let agents = many(6, 2, 1);
        // Only the echo mesh (no neighbour or gateway probes), to count it.
        let opts = PlanOptions {
            infrastructure: false,
            ..PlanOptions::default()
        };
        let plan = build_plan(&p, &agents, &opts);
        assert!(plan.cross.is_empty());
        assert_eq!(plan.probes, 2 * 6 * 5);
    }

    #[test]
    fn plan_stays_linear_in_machines_with_every_pair_probed() {
        // 5 spaces, every pair either needed or isolated (machines single-homed so isolation
        // probes are possible): extra probes grow linearly with the machines.
        let extra = |n: usize| {
            let p = spaces(5);
            let agents: Vec<_> = (0..n)
                .map(|i| {
                    let s = 1 + (i % 5) as i64;
                    let ip = format!("10.{s}.{}.{}", i / 250, i % 250 + 1);
                    agent(i, &[(s, s * 100 + (i as i64 / 5) % 2, ip.as_str())])
                })
                .collect();
            let topo = Topology {
                needs: vec![need("sp1", "sp2", &[], &[]), need("sp2", "sp3", &[], &[])],
                isolate_unrelated: true,
                bundle: true,
                ..Topology::default()
            };
            let with = build_plan(&p, &agents, &opts(topo)).probes;
            let without = build_plan(&p, &agents, &PlanOptions::default()).probes;
            with - without
        };
        let (e100, e200, e400) = (extra(100), extra(200), extra(400));
        // Each of the 10 pairs: |A| + |B| (+ at most 2·2·2 for subnet pairs).
        for (n, e) in [(100, e100), (200, e200), (400, e400)] {
            assert!(e >= 10 * 2 * n / 5 && e <= 10 * (2 * n / 5 + 8), "{n}: {e}");
        }
        assert!(e400 <= 2 * e200 + 80 && e200 <= 2 * e100 + 80);
    }

    #[test]
    fn failing_needed_probes_are_relation_unreachable_and_answered_isolated_ones_breaches() {
        let cross = vec![
            CrossPair {
                a: "cms".into(),
                b: "db".into(),
                policy: PairPolicy::Needed,
                relations: vec!["mediawiki:db ↔ mysql:db".into()],
                section: Some(relation_section("cms", "db")),
                note: None,
            },
            CrossPair {
                a: "db".into(),
                b: "dmz".into(),
                policy: PairPolicy::Isolated,
                relations: vec![],
                section: Some(unrelated_section("db", "dmz")),
                note: None,
            },
        ];
        let sec = |name: &str, pairs| SpaceReport {
            name: name.into(),
            id: None,
            subnets: vec![],
            machines: vec![],
            pairs,
        };
        let needed = sec(
            "relation:cms:db",
            vec![
                pair("10.2.0.1", "10.3.0.1", 3, 0),
                pair("10.3.0.1", "10.2.0.1", 3, 3),
            ],
        );
        let (f, c) = section_findings(&cross, &needed).expect("a cross section");
        assert_eq!(f.len(), 1, "one-way failures are relation.unreachable too");
        assert_eq!(f[0].code, Code::RelationUnreachable);
        assert_eq!(f[0].subject.space.as_deref(), Some("cms:db"));
        assert_eq!(f[0].subject.source.as_deref(), Some("m-10.2.0.1"));
        assert!(
            f[0].message.contains("mediawiki:db ↔ mysql:db"),
            "{}",
            f[0].message
        );
        assert_eq!(c[0].check, Code::RelationUnreachable);
        let mut answered = pair("10.3.0.1", "10.1.0.1", 3, 2);
        answered.expect = Expectation::Isolated;
        let mut silent = pair("10.1.0.1", "10.3.0.1", 3, 0);
        silent.expect = Expectation::Isolated;
        let iso = sec("unrelated:db:dmz", vec![answered, silent]);
        let (f, _) = section_findings(&cross, &iso).expect("a cross section");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, Code::ProbeIsolationBreach);
        assert!(f[0]
            .message
            .contains("not needed by any relation in the bundle"));
        assert!(section_findings(&cross, &sec("cms", vec![])).is_none());
        let matrix = space_pairs(&cross, &[needed, iso]);
        assert_eq!(
            matrix
                .iter()
                .map(|m| (m.probes, m.done, m.answered))
                .collect::<Vec<_>>(),
            [(2, 2, 1), (2, 2, 1)]
        );
    }
}
