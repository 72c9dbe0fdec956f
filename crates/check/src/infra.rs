//! Addresses and infrastructure per space: who answers for each address on its link
//! (`address.duplicate`) and whether each subnet's gateway answers (`gateway.unreachable`).
//!
//! Plan: every agent asks, on the link holding each of its own addresses, who answers for
//! that address (an RFC 5227 ARP probe / DAD-style Neighbor Solicitation: its own kernel
//! never answers, so any answer is another host), and, in spaces of at most
//! [`NEIGHBOUR_PEERS_MAX`] endpoints, who answers for each peer address of the same subnet.
//! Every machine with an address in a subnet that has a MAAS `gateway_ip` probes the gateway
//! (neighbour probe + ICMP echo) from that address.
//!
//! Every machine asks each DNS server MAAS gives the subnet of each of its addresses
//! (`dns_servers`; else the machine's own resolvers from resolv.conf), from that address, for
//! the address's PTR and the names' forward records (`ProbeKind::Dns`). A resolver off the
//! machine's subnets and specific routes needs the agent's `--allow` (its guard rails).
//!
//! Rules (one function per code): [`address_duplicate`], [`gateway_unreachable`],
//! [`address_in_dynamic_range`], [`dns_server_unreachable`], [`dns_reverse_mismatch`],
//! [`dns_forward_mismatch`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use preflight_model::plan::{Expectation, PlannedTarget, ProbeKind, ProbePlan};
use preflight_model::probe::{FailureCause, ProbeReport, TargetResult};
use preflight_model::provider::ProviderModel;
use preflight_model::report::{Checked, Code, Finding, Severity, Subject};

use crate::merge::MergedAgent;
use preflight_model::vocab::MacAddr;

/// Largest space (in endpoints) whose peers are neighbour-probed too; above it only each
/// machine's own addresses are (the peers' broadcasts would grow as n²).
pub const NEIGHBOUR_PEERS_MAX: usize = 32;

fn space_name(provider: &ProviderModel, id: i64) -> String {
    provider
        .spaces
        .get(&id)
        .map(|s| s.name.clone())
        .unwrap_or_else(|| format!("space-{id}"))
}

fn item(
    id: String,
    space: String,
    source: IpAddr,
    target: IpAddr,
    device: &str,
    target_machine: String,
    kind: ProbeKind,
) -> PlannedTarget {
    PlannedTarget {
        id,
        space,
        source,
        target,
        device: Some(device.to_string()),
        mtu: None,
        tcp_ports: Vec::new(),
        target_machine: Some(target_machine),
        expect: Expectation::Reachable,
        kind,
    }
}

/// Neighbour and gateway plan items, tagged with the index of the agent that runs them.
pub fn plan_items(provider: &ProviderModel, agents: &[MergedAgent]) -> Vec<(usize, PlannedTarget)> {
    let mut out = Vec::new();
    // Per subnet: (agent index, address) of every endpoint, and per space the endpoint count.
    let mut by_subnet: BTreeMap<i64, Vec<(usize, IpAddr)>> = BTreeMap::new();
    let mut per_space: BTreeMap<i64, usize> = BTreeMap::new();
    for (ai, a) in agents.iter().enumerate() {
        for x in &a.addresses {
            by_subnet
                .entry(x.subnet_id)
                .or_default()
                .push((ai, x.address));
            *per_space.entry(x.space_id).or_default() += 1;
        }
    }
    for (ai, a) in agents.iter().enumerate() {
        let mut seen = BTreeSet::new();
        for x in &a.addresses {
            if !seen.insert(x.address) {
                continue;
            }
            let space = space_name(provider, x.space_id);
            let id = |to: &str, target: IpAddr, kind: &str| {
                format!("{space}/{}>{to}/{}>{target}/{kind}", a.agent_id, x.address)
            };
            out.push((
                ai,
                item(
                    id(&a.agent_id, x.address, "neighbour"),
                    space.clone(),
                    x.address,
                    x.address,
                    &x.link,
                    a.name.clone(),
                    ProbeKind::Neighbour,
                ),
            ));
            if per_space.get(&x.space_id).copied().unwrap_or(0) <= NEIGHBOUR_PEERS_MAX {
                for &(pi, paddr) in by_subnet.get(&x.subnet_id).into_iter().flatten() {
                    if pi == ai || a.addresses.iter().any(|o| o.address == paddr) {
                        continue;
                    }
                    let p = &agents[pi];
                    out.push((
                        ai,
                        item(
                            id(&p.agent_id, paddr, "neighbour"),
                            space.clone(),
                            x.address,
                            paddr,
                            &x.link,
                            p.name.clone(),
                            ProbeKind::Neighbour,
                        ),
                    ));
                }
            }
            // MAAS's DNS servers for the subnet, else the machine's own resolvers.
            let dns = provider
                .subnets
                .get(&x.subnet_id)
                .map(|s| s.dns_servers.as_slice())
                .filter(|d| !d.is_empty())
                .unwrap_or(a.resolvers.as_slice());
            for &server in dns {
                // Same family only, and never a machine asking itself.
                if server.is_ipv4() != x.address.is_ipv4()
                    || a.addresses.iter().any(|o| o.address == server)
                {
                    continue;
                }
                out.push((
                    ai,
                    item(
                        id("dns", server, "dns"),
                        space.clone(),
                        x.address,
                        server,
                        &x.link,
                        "dns".into(),
                        ProbeKind::Dns,
                    ),
                ));
            }
            let gw = provider.subnets.get(&x.subnet_id).and_then(|s| s.gateway);
            if let Some(gw) = gw.filter(|g| g.is_ipv4() == x.address.is_ipv4()) {
                if a.addresses.iter().any(|o| o.address == gw) {
                    continue;
                }
                out.push((
                    ai,
                    item(
                        id("gateway", gw, "gateway"),
                        space,
                        x.address,
                        gw,
                        &x.link,
                        "gateway".into(),
                        ProbeKind::Gateway,
                    ),
                ));
            }
        }
    }
    out
}

/// Who MAAS says a MAC belongs to: `mac → (hostname, interface)`.
fn maas_macs(provider: &ProviderModel) -> BTreeMap<MacAddr, (String, String)> {
    let mut out = BTreeMap::new();
    for m in &provider.machines {
        for i in &m.interfaces {
            if let Some(mac) = &i.mac {
                out.entry(mac.clone())
                    .or_insert_with(|| (m.hostname.clone(), i.name.clone()));
            }
        }
    }
    out
}

/// The MAAS machines (hostname, MAC of the interface) an address is assigned to in a subnet.
fn maas_owners(
    provider: &ProviderModel,
    subnet: i64,
    addr: IpAddr,
) -> Vec<(String, Option<MacAddr>)> {
    let mut out = Vec::new();
    for m in &provider.machines {
        for i in &m.interfaces {
            if i.links
                .iter()
                .any(|l| l.ip == Some(addr) && l.subnet_id.is_none_or(|s| s == subnet))
            {
                out.push((m.hostname.clone(), i.mac.clone()));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// One plan item, the machine that probed it, and the result its agent sent.
struct Seen<'a> {
    prober: &'a str,
    item: &'a PlannedTarget,
    result: &'a TargetResult,
}

/// Whether the agent refused the item (guard rails, an unknown kind) instead of running it.
fn refused(r: &TargetResult) -> bool {
    matches!(r.failure, Some(FailureCause::NotRun { .. }))
}

/// `probe.not-run` for the infrastructure probes (neighbour, gateway, controller, DNS): an
/// item the agent refused is said, with its reason, rather than read as a silent target.
pub fn infra_not_run(
    agents: &[MergedAgent],
    plans: &BTreeMap<String, ProbePlan>,
    results: &BTreeMap<String, ProbeReport>,
) -> (Vec<Finding>, Vec<Checked>) {
    let names = agent_names(agents);
    let mut findings = Vec::new();
    let mut spaces = BTreeSet::new();
    for Seen {
        prober,
        item: t,
        result,
    } in seen(plans, results, &names, |k| k != ProbeKind::Echo)
    {
        spaces.insert(t.space.clone());
        if let Some(FailureCause::NotRun { reason }) = &result.failure {
            findings.push(
                Finding::new(
                    Code::ProbeNotRun,
                    Subject {
                        space: Some(t.space.clone()),
                        machine: Some(prober.to_string()),
                        target: Some(t.target.to_string()),
                        ..Subject::default()
                    },
                    format!(
                        "the {} probe of {} from {prober} ({}) in {} was not run by the agent: {reason}",
                        kind_name(t.kind),
                        t.target,
                        t.source,
                        t.space
                    ),
                )
                .with_hint(
                    "nothing was measured for it; a server off the machine's links needs the agent's --allow CIDR (its guard rails), or fix the address",
                ),
            );
        }
    }
    // Evaluated per space, as the pair checks are (not a testcase per infrastructure item).
    let checked = spaces
        .into_iter()
        .map(|space| Checked {
            check: Code::ProbeNotRun,
            subject: Subject {
                space: Some(space),
                ..Subject::default()
            },
        })
        .collect();
    (findings, checked)
}

/// How a probe kind is named in messages.
fn kind_name(k: ProbeKind) -> &'static str {
    match k {
        ProbeKind::Echo => "echo",
        ProbeKind::Neighbour => "neighbour (ARP/NDP)",
        ProbeKind::Gateway => "gateway",
        ProbeKind::Controller => "controller",
        ProbeKind::Dns => "DNS",
        ProbeKind::Unknown => "unknown-kind",
    }
}

/// The agent id → machine name map the rules name probers by.
fn agent_names(agents: &[MergedAgent]) -> BTreeMap<&str, &str> {
    agents
        .iter()
        .map(|a| (a.agent_id.as_str(), a.name.as_str()))
        .collect()
}

/// Every plan item whose kind `keep` accepts, with the result its agent sent for it (items
/// without a result are left out), in plan order.
fn seen<'a>(
    plans: &'a BTreeMap<String, ProbePlan>,
    results: &'a BTreeMap<String, ProbeReport>,
    names: &BTreeMap<&str, &'a str>,
    keep: impl Fn(ProbeKind) -> bool,
) -> Vec<Seen<'a>> {
    let mut out = Vec::new();
    for (agent, plan) in plans {
        let Some(r) = results.get(agent) else {
            continue;
        };
        let by_id: BTreeMap<&str, &TargetResult> = r
            .targets
            .iter()
            .filter_map(|t| t.id.as_deref().map(|i| (i, t)))
            .collect();
        let prober = names.get(agent.as_str()).copied().unwrap_or(agent);
        for t in plan.targets.iter().filter(|t| keep(t.kind)) {
            if let Some(res) = by_id.get(t.id.as_str()) {
                out.push(Seen {
                    prober,
                    item: t,
                    result: res,
                });
            }
        }
    }
    out
}

/// The items of one kind the agents ran, with their results; an item the agent refused
/// measured nothing and is left out (`infra_not_run` says so).
fn results_of<'a>(
    plans: &'a BTreeMap<String, ProbePlan>,
    results: &'a BTreeMap<String, ProbeReport>,
    names: &BTreeMap<&str, &'a str>,
    kind: ProbeKind,
) -> Vec<Seen<'a>> {
    let mut out = seen(plans, results, names, |k| k == kind);
    out.retain(|s| !refused(s.result));
    out
}

/// `address.duplicate`: per (subnet, address), more than one machine or MAC holds it — two
/// agents observed with it, an agent holding an address MAAS assigns to another machine, two
/// MACs answering the neighbour probes, an answer for a machine's own address, or a MAC that
/// is not the MAAS owner's. One finding per address, naming every machine and MAC.
pub fn address_duplicate(
    provider: &ProviderModel,
    agents: &[MergedAgent],
    plans: &BTreeMap<String, ProbePlan>,
    results: &BTreeMap<String, ProbeReport>,
) -> (Vec<Finding>, Vec<Checked>) {
    let names = agent_names(agents);
    let by_mac = maas_macs(provider);
    // (subnet, address) → observed holders; address → subnet for the answers.
    let mut holders: BTreeMap<(i64, IpAddr), BTreeSet<String>> = BTreeMap::new();
    let mut space_of: BTreeMap<(i64, IpAddr), i64> = BTreeMap::new();
    // Per (machine, its address): the subnet. Keyed by machine too, since tenants on
    // separate fabrics may reuse an address.
    let mut subnet_of_source: BTreeMap<(&str, IpAddr), i64> = BTreeMap::new();
    for a in agents {
        for x in &a.addresses {
            holders
                .entry((x.subnet_id, x.address))
                .or_default()
                .insert(a.name.clone());
            space_of.insert((x.subnet_id, x.address), x.space_id);
            subnet_of_source.insert((a.name.as_str(), x.address), x.subnet_id);
        }
    }
    // (subnet, address) → MAC → who asked; and whether a machine's own address was answered.
    let mut answers: BTreeMap<(i64, IpAddr), BTreeMap<MacAddr, BTreeSet<String>>> = BTreeMap::new();
    // The check counts as evaluated in a space where neighbour probes came back.
    let mut checked_spaces = BTreeSet::new();
    for s in results_of(plans, results, &names, ProbeKind::Neighbour) {
        checked_spaces.insert(s.item.space.clone());
        let Some(&subnet) = subnet_of_source.get(&(s.prober, s.item.source)) else {
            continue;
        };
        let key = (subnet, s.item.target);
        for mac in &s.result.macs {
            answers
                .entry(key)
                .or_default()
                .entry(mac.clone())
                .or_default()
                .insert(s.prober.to_string());
        }
    }
    let mut keys: BTreeSet<(i64, IpAddr)> = holders.keys().copied().collect();
    keys.extend(answers.keys().copied());
    let mut findings = Vec::new();
    for key @ (subnet, addr) in keys {
        let held: Vec<String> = holders
            .get(&key)
            .map(|h| h.iter().cloned().collect())
            .unwrap_or_default();
        let owners = maas_owners(provider, subnet, addr);
        let macs = answers.get(&key).cloned().unwrap_or_default();
        let owner_macs: BTreeSet<&MacAddr> =
            owners.iter().filter_map(|(_, m)| m.as_ref()).collect();
        let space = space_of
            .get(&key)
            .map(|s| space_name(provider, *s))
            .or_else(|| {
                provider
                    .subnets
                    .get(&subnet)
                    .and_then(|s| s.space_id)
                    .map(|s| space_name(provider, s))
            });
        // Own-address answers: a holder asked for its own address and someone answered.
        let own_answered = macs
            .values()
            .any(|askers| askers.iter().any(|p| held.contains(p)));
        let foreign_owner =
            !owners.is_empty() && held.iter().any(|h| !owners.iter().any(|(o, _)| o == h));
        let stranger_mac = !owner_macs.is_empty() && macs.keys().any(|m| !owner_macs.contains(m));
        if held.len() < 2 && macs.len() < 2 && !own_answered && !foreign_owner && !stranger_mac {
            continue;
        }
        // Everyone who holds it: observed holders, MAAS owners, and each answering MAC.
        let mut who: BTreeSet<String> = BTreeSet::new();
        for h in &held {
            who.insert(h.clone());
        }
        for (o, _) in &owners {
            who.insert(o.clone());
        }
        let mut mac_desc = Vec::new();
        for mac in macs.keys() {
            match by_mac.get(mac) {
                Some((host, iface)) => {
                    who.insert(host.clone());
                    mac_desc.push(format!("{mac} ({host} {iface})"));
                }
                None => {
                    who.insert(format!("unknown host, MAC {mac}"));
                    mac_desc.push(format!("{mac} (unknown host)"));
                }
            }
        }
        let cidr = provider
            .subnets
            .get(&subnet)
            .map(|s| s.cidr.to_string())
            .unwrap_or_else(|| format!("subnet {subnet}"));
        let who: Vec<String> = who.into_iter().collect();
        let maas = if owners.is_empty() {
            "MAAS assigns it to no machine".to_string()
        } else {
            format!(
                "MAAS assigns it to {}",
                owners
                    .iter()
                    .map(|(o, _)| o.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let answered = if mac_desc.is_empty() {
            String::new()
        } else {
            format!("; MACs answering for it: {}", mac_desc.join(", "))
        };
        findings.push(Finding {
            code: Code::AddressDuplicate,
            severity: Severity::Error,
            subject: Subject {
                space: space.clone(),
                subnet: Some(cidr.clone()),
                machine: Some(who.join(", ")),
                target: Some(addr.to_string()),
                ..Subject::default()
            },
            message: format!(
                "{addr} in {cidr} is held by more than one host: {} ({maas}{answered})",
                who.join(" and ")
            ),
            hint: Some(
                "remove the address from all but one host (a copied netplan, a VIP left behind), then check again".into(),
            ),
        });
    }
    let checked = checked_spaces
        .into_iter()
        .map(|s| Checked {
            check: Code::AddressDuplicate,
            subject: Subject {
                space: Some(s),
                ..Subject::default()
            },
        })
        .collect();
    (findings, checked)
}

/// `gateway.unreachable`: per (subnet, gateway), the machines whose gateway probe got
/// neither an ARP/NS answer nor an echo reply.
pub fn gateway_unreachable(
    provider: &ProviderModel,
    agents: &[MergedAgent],
    plans: &BTreeMap<String, ProbePlan>,
    results: &BTreeMap<String, ProbeReport>,
) -> (Vec<Finding>, Vec<Checked>) {
    let names = agent_names(agents);
    // Keyed by machine too: separate fabrics may reuse an address.
    let subnet_of: BTreeMap<(&str, IpAddr), i64> = agents
        .iter()
        .flat_map(|a| {
            a.addresses
                .iter()
                .map(move |x| ((a.name.as_str(), x.address), x.subnet_id))
        })
        .collect();
    // (subnet, gateway) → (space, failing machines, machines that reached it)
    let mut per: BTreeMap<(i64, IpAddr), (String, BTreeSet<String>, usize)> = BTreeMap::new();
    for s in results_of(plans, results, &names, ProbeKind::Gateway) {
        let Some(&subnet) = subnet_of.get(&(s.prober, s.item.source)) else {
            continue;
        };
        let e = per
            .entry((subnet, s.item.target))
            .or_insert_with(|| (s.item.space.clone(), BTreeSet::new(), 0));
        if s.result.macs.is_empty() && s.result.received == 0 {
            e.1.insert(format!("{} ({})", s.prober, s.item.source));
        } else {
            e.2 += 1;
        }
    }
    let mut findings = Vec::new();
    let mut checked = Vec::new();
    for ((subnet, gw), (space, failing, ok)) in per {
        let cidr = provider
            .subnets
            .get(&subnet)
            .map(|s| s.cidr.to_string())
            .unwrap_or_else(|| format!("subnet {subnet}"));
        checked.push(Checked {
            check: Code::GatewayUnreachable,
            subject: Subject {
                space: Some(space.clone()),
                subnet: Some(cidr.clone()),
                ..Subject::default()
            },
        });
        if failing.is_empty() {
            continue;
        }
        let machines: Vec<String> = failing.into_iter().collect();
        findings.push(Finding {
            code: Code::GatewayUnreachable,
            severity: Severity::Error,
            subject: Subject {
                space: Some(space.clone()),
                subnet: Some(cidr.clone()),
                target: Some(gw.to_string()),
                machine: Some(machines.join(", ")),
                ..Subject::default()
            },
            message: format!(
                "gateway {gw} of {cidr} (space {space}) answers neither ARP/NS nor ICMP echo from {}{}",
                machines.join(", "),
                if ok > 0 {
                    format!(" (while {ok} other machine(s) reach it)")
                } else {
                    String::new()
                }
            ),
            hint: Some(
                "check the router holds the gateway address on this VLAN and its port carries the VLAN; fix MAAS's gateway_ip if it is wrong".into(),
            ),
        });
    }
    (findings, checked)
}

/// The DNS answers per (space, machine, address): the server and what it said.
type DnsSeen = BTreeMap<(String, String, IpAddr), Vec<(IpAddr, preflight_model::probe::DnsAnswer)>>;

fn dns_seen(
    agents: &[MergedAgent],
    plans: &BTreeMap<String, ProbePlan>,
    results: &BTreeMap<String, ProbeReport>,
) -> DnsSeen {
    let names = agent_names(agents);
    let mut out: DnsSeen = BTreeMap::new();
    for s in results_of(plans, results, &names, ProbeKind::Dns) {
        if let Some(d) = &s.result.dns {
            out.entry((s.item.space.clone(), s.prober.to_string(), s.item.source))
                .or_default()
                .push((s.item.target, printable_answer(d)));
        }
    }
    out
}

/// An agent's DNS answer with its text made printable and bounded (names and errors come from
/// the agent, and from whatever DNS server it asked, into the report's messages).
fn printable_answer(d: &preflight_model::probe::DnsAnswer) -> preflight_model::probe::DnsAnswer {
    use preflight_model::limits::printable;
    const NAMES: usize = 8;
    const CHARS: usize = 255;
    preflight_model::probe::DnsAnswer {
        answered: d.answered,
        ptr: d
            .ptr
            .iter()
            .take(NAMES)
            .map(|n| printable(n, CHARS))
            .collect(),
        forward: d
            .forward
            .iter()
            .take(NAMES)
            .map(|f| preflight_model::probe::DnsForward {
                name: printable(&f.name, CHARS),
                addresses: f.addresses.iter().take(NAMES).copied().collect(),
            })
            .collect(),
        chain: Vec::new(),
        error: d.error.as_deref().map(|e| printable(e, CHARS)),
    }
}

/// `dns.server-unreachable`: per (server, space), the machines whose queries from their
/// address in that space got no answer at all.
pub fn dns_server_unreachable(
    agents: &[MergedAgent],
    plans: &BTreeMap<String, ProbePlan>,
    results: &BTreeMap<String, ProbeReport>,
) -> (Vec<Finding>, Vec<Checked>) {
    // (space, server) → (machines without an answer, machines answered)
    let mut per: BTreeMap<(String, IpAddr), (BTreeSet<String>, usize)> = BTreeMap::new();
    for ((space, machine, source), answers) in dns_seen(agents, plans, results) {
        for (server, d) in answers {
            let e = per.entry((space.clone(), server)).or_default();
            if d.answered {
                e.1 += 1;
            } else {
                e.0.insert(format!("{machine} ({source})"));
            }
        }
    }
    let mut findings = Vec::new();
    let mut checked = Vec::new();
    for ((space, server), (failing, ok)) in per {
        checked.push(Checked {
            check: Code::DnsServerUnreachable,
            subject: Subject {
                space: Some(space.clone()),
                target: Some(server.to_string()),
                ..Subject::default()
            },
        });
        if failing.is_empty() {
            continue;
        }
        let machines: Vec<String> = failing.into_iter().collect();
        findings.push(Finding {
            code: Code::DnsServerUnreachable,
            severity: Severity::Error,
            subject: Subject {
                space: Some(space.clone()),
                target: Some(server.to_string()),
                machine: Some(machines.join(", ")),
                ..Subject::default()
            },
            message: format!(
                "DNS server {server} does not answer queries from {} in space {space}{}",
                machines.join(", "),
                if ok > 0 {
                    format!(" (while it answers {ok} other machine(s))")
                } else {
                    String::new()
                }
            ),
            hint: Some(
                "check the server listens on an address reachable from this space and allows UDP 53 from the subnet, or give the subnet DNS servers in MAAS that are".into(),
            ),
        });
    }
    (findings, checked)
}

/// `dns.reverse-mismatch`: a machine's address in a space that a server answered for has no
/// PTR (after CNAMEs) there.
pub fn dns_reverse_mismatch(
    agents: &[MergedAgent],
    plans: &BTreeMap<String, ProbePlan>,
    results: &BTreeMap<String, ProbeReport>,
) -> (Vec<Finding>, Vec<Checked>) {
    let mut findings = Vec::new();
    let mut checked = Vec::new();
    for ((space, machine, source), answers) in dns_seen(agents, plans, results) {
        let answered: Vec<_> = answers.iter().filter(|(_, d)| d.answered).collect();
        if answered.is_empty() {
            continue; // dns.server-unreachable's
        }
        let subject = Subject {
            space: Some(space.clone()),
            machine: Some(machine.clone()),
            source: Some(source.to_string()),
            ..Subject::default()
        };
        checked.push(Checked {
            check: Code::DnsReverseMismatch,
            subject: subject.clone(),
        });
        let missing: Vec<String> = answered
            .iter()
            .filter(|(_, d)| d.ptr.is_empty())
            .map(|(server, d)| match &d.error {
                Some(e) => format!("{server} ({e})"),
                None => server.to_string(),
            })
            .collect();
        if missing.is_empty() {
            continue;
        }
        let mut subject = subject;
        subject.target = Some(missing.join(", "));
        findings.push(Finding {
            code: Code::DnsReverseMismatch,
            severity: Severity::Warning,
            subject,
            message: format!(
                "{machine}'s address {source} in space {space} has no PTR record on {}",
                missing.join(", ")
            ),
            hint: Some(
                "add the PTR (MAAS-managed DNS makes one per assigned address), or fix the reverse zone's RFC 2317 CNAMEs".into(),
            ),
        });
    }
    (findings, checked)
}

/// `dns.forward-mismatch`: the names a machine's address's PTR gives do not resolve
/// forward to that address.
pub fn dns_forward_mismatch(
    agents: &[MergedAgent],
    plans: &BTreeMap<String, ProbePlan>,
    results: &BTreeMap<String, ProbeReport>,
) -> (Vec<Finding>, Vec<Checked>) {
    let mut findings = Vec::new();
    let mut checked = Vec::new();
    for ((space, machine, source), answers) in dns_seen(agents, plans, results) {
        let named: Vec<_> = answers.iter().filter(|(_, d)| !d.ptr.is_empty()).collect();
        if named.is_empty() {
            continue; // dns.reverse-mismatch's (or dns.server-unreachable's)
        }
        let subject = Subject {
            space: Some(space.clone()),
            machine: Some(machine.clone()),
            source: Some(source.to_string()),
            ..Subject::default()
        };
        checked.push(Checked {
            check: Code::DnsForwardMismatch,
            subject: subject.clone(),
        });
        let mut wrong = Vec::new();
        for (server, d) in named {
            if d.forward.iter().any(|f| f.addresses.contains(&source)) {
                continue;
            }
            let got: Vec<String> = d
                .forward
                .iter()
                .map(|f| {
                    let a: Vec<String> = f.addresses.iter().map(|x| x.to_string()).collect();
                    if a.is_empty() {
                        format!("{} → nothing", f.name)
                    } else {
                        format!("{} → {}", f.name, a.join(", "))
                    }
                })
                .collect();
            wrong.push(format!("{server}: {}", got.join("; ")));
        }
        if wrong.is_empty() {
            continue;
        }
        let mut subject = subject;
        subject.target = Some(
            named_names(&answers)
                .into_iter()
                .collect::<Vec<_>>()
                .join(", "),
        );
        findings.push(Finding {
            code: Code::DnsForwardMismatch,
            severity: Severity::Warning,
            subject,
            message: format!(
                "{machine}'s address {source} in space {space} resolves back to a name that does not resolve forward to it ({})",
                wrong.join("; ")
            ),
            hint: Some("correct the name's A/AAAA record, or the PTR when it names the wrong host".into()),
        });
    }
    (findings, checked)
}

fn named_names(answers: &[(IpAddr, preflight_model::probe::DnsAnswer)]) -> BTreeSet<String> {
    answers
        .iter()
        .flat_map(|(_, d)| d.ptr.iter().cloned())
        .collect()
}

/// `address.in-dynamic-range`: an assigned address (MAAS static/auto link, or observed on a
/// machine whose MAAS link for it is not DHCP) inside a MAAS dynamic range of its subnet
/// (error: MAAS's DHCP server may lease it to another host), or inside a reserved range
/// (warning: the range is meant for something outside MAAS). One finding per address.
pub fn address_in_dynamic_range(
    provider: &ProviderModel,
    agents: &[MergedAgent],
) -> (Vec<Finding>, Vec<Checked>) {
    use preflight_model::provider::IpRangeKind;
    let mut findings = Vec::new();
    let mut checked = Vec::new();
    if provider.ip_ranges.is_empty() {
        return (findings, checked);
    }
    // (subnet, address) → (holders, how it is assigned)
    let mut assigned: BTreeMap<(i64, IpAddr), BTreeSet<String>> = BTreeMap::new();
    let mut dhcp: BTreeSet<(String, IpAddr)> = BTreeSet::new();
    for m in &provider.machines {
        for i in &m.interfaces {
            for l in &i.links {
                let (Some(ip), Some(sn)) = (l.ip, l.subnet_id) else {
                    continue;
                };
                if l.mode == "dhcp" || l.mode == "discovered" {
                    dhcp.insert((m.hostname.clone(), ip));
                    continue;
                }
                assigned
                    .entry((sn, ip))
                    .or_default()
                    .insert(m.hostname.clone());
            }
        }
    }
    for a in agents {
        for x in &a.addresses {
            if dhcp.contains(&(a.name.clone(), x.address)) {
                continue;
            }
            assigned
                .entry((x.subnet_id, x.address))
                .or_default()
                .insert(a.name.clone());
        }
    }
    let mut spaces_checked = BTreeSet::new();
    for ((subnet, addr), who) in assigned {
        let Some(s) = provider.subnets.get(&subnet) else {
            continue;
        };
        let space = s.space_id.map(|id| space_name(provider, id));
        if let Some(sp) = &space {
            spaces_checked.insert(sp.clone());
        }
        let Some(r) = provider.ip_ranges.iter().find(|r| {
            r.subnet_id.is_none_or(|id| id == subnet)
                && s.cidr.contains(&r.start)
                && r.contains(addr)
                && !matches!(r.kind, IpRangeKind::Other(_))
        }) else {
            continue;
        };
        let (severity, what, hint) = match &r.kind {
            IpRangeKind::Dynamic => (
                Severity::Error,
                "the dynamic (DHCP) range",
                "MAAS's DHCP server may lease this address to another host: move the address out of the range, or shrink the range",
            ),
            IpRangeKind::Reserved => (
                Severity::Warning,
                "the reserved range",
                "the range is kept for something outside MAAS: move the address out of it, or fix the range",
            ),
            IpRangeKind::Other(_) => continue,
        };
        let who: Vec<String> = who.into_iter().collect();
        let comment = r
            .comment
            .as_deref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        findings.push(Finding {
            code: Code::AddressInDynamicRange,
            severity,
            subject: Subject {
                space,
                subnet: Some(s.cidr.to_string()),
                machine: Some(who.join(", ")),
                target: Some(addr.to_string()),
                ..Subject::default()
            },
            message: format!(
                "{addr} of {} lies in {what} {}-{}{comment} of {}",
                who.join(", "),
                r.start,
                r.end,
                s.cidr
            ),
            hint: Some(hint.into()),
        });
    }
    for s in spaces_checked {
        checked.push(Checked {
            check: Code::AddressInDynamicRange,
            subject: Subject {
                space: Some(s),
                ..Subject::default()
            },
        });
    }
    (findings, checked)
}

/// Juju's API port.
pub const CONTROLLER_API_PORT: u16 = 17070;
/// The port Juju controllers replicate their database on (MongoDB), across `juju-ha-space`.
pub const CONTROLLER_HA_PORT: u16 = 37017;

/// The Juju controllers to check and the spaces Juju's controller config names.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Controllers {
    /// Controller API addresses (`--controller`, or `api-endpoints` of `juju show-controller`).
    pub addresses: Vec<IpAddr>,
    /// `juju-mgmt-space`: where agents reach the controllers.
    pub mgmt_space: Option<String>,
    /// `juju-ha-space`: where controllers reach each other.
    pub ha_space: Option<String>,
}

/// Reads controller API addresses from `juju show-controller --format json` output (or a
/// controllers.yaml converted to JSON): every `api-endpoints` entry, `ADDR:PORT` or
/// `[V6]:PORT`, anywhere in the document.
pub fn controller_addresses_from_json(v: &serde_json::Value) -> Result<Vec<IpAddr>, String> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>, depth: usize) {
        if depth > 16 {
            return;
        }
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    if k == "api-endpoints" {
                        for e in x.as_array().into_iter().flatten() {
                            if let Some(s) = e.as_str() {
                                out.push(s.to_string());
                            }
                        }
                    } else {
                        walk(x, out, depth + 1);
                    }
                }
            }
            serde_json::Value::Array(a) => {
                for x in a {
                    walk(x, out, depth + 1);
                }
            }
            _ => {}
        }
    }
    let mut raw = Vec::new();
    walk(v, &mut raw, 0);
    if raw.is_empty() {
        return Err("no `api-endpoints` in the controller document".into());
    }
    let mut out = Vec::new();
    for e in raw {
        let addr = e
            .parse::<std::net::SocketAddr>()
            .map(|s| s.ip())
            .or_else(|_| e.parse::<IpAddr>())
            .map_err(|_| format!("api-endpoints entry {e:?} is not ADDR:PORT"))?;
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    Ok(out)
}

/// Controller plan items: every machine connects to every controller address of its own
/// family from its address in the management space (every address when no management space
/// is named, as Juju then takes any); controller machines (agents holding a controller
/// address) connect to each other's addresses in the HA space.
pub fn controller_items(
    provider: &ProviderModel,
    agents: &[MergedAgent],
    c: &Controllers,
) -> Vec<(usize, PlannedTarget)> {
    let mut out = Vec::new();
    let in_space = |a: &MergedAgent, space: &str| -> Vec<IpAddr> {
        a.addresses
            .iter()
            .filter(|x| space_name(provider, x.space_id) == space)
            .map(|x| x.address)
            .collect()
    };
    let is_controller =
        |a: &MergedAgent| a.addresses.iter().any(|x| c.addresses.contains(&x.address));
    for (ai, a) in agents.iter().enumerate() {
        let space = c.mgmt_space.clone().unwrap_or_else(|| "any".into());
        let sources: Vec<IpAddr> = match &c.mgmt_space {
            Some(m) => in_space(a, m),
            None => a.addresses.iter().map(|x| x.address).collect(),
        };
        for src in &sources {
            for ctl in c.addresses.iter().filter(|t| t.is_ipv4() == src.is_ipv4()) {
                if a.addresses.iter().any(|x| x.address == *ctl) {
                    continue;
                }
                out.push((
                    ai,
                    PlannedTarget {
                        id: format!(
                            "controller:{space}/{}>controller/{src}>{ctl}/controller",
                            a.agent_id
                        ),
                        space: format!("controller:{space}"),
                        source: *src,
                        target: *ctl,
                        device: None,
                        mtu: None,
                        tcp_ports: vec![CONTROLLER_API_PORT],
                        target_machine: Some(format!("controller {ctl}")),
                        expect: Expectation::Reachable,
                        kind: ProbeKind::Controller,
                    },
                ));
            }
        }
        let Some(ha) = &c.ha_space else { continue };
        if !is_controller(a) {
            continue;
        }
        for src in in_space(a, ha) {
            for (pi, p) in agents.iter().enumerate() {
                if pi == ai || !is_controller(p) {
                    continue;
                }
                for dst in in_space(p, ha)
                    .into_iter()
                    .filter(|d| d.is_ipv4() == src.is_ipv4())
                {
                    out.push((
                        ai,
                        PlannedTarget {
                            id: format!(
                                "controller-ha:{ha}/{}>{}/{src}>{dst}/controller",
                                a.agent_id, p.agent_id
                            ),
                            space: format!("controller-ha:{ha}"),
                            source: src,
                            target: dst,
                            device: None,
                            mtu: None,
                            tcp_ports: vec![CONTROLLER_HA_PORT],
                            target_machine: Some(p.name.clone()),
                            expect: Expectation::Reachable,
                            kind: ProbeKind::Controller,
                        },
                    ));
                }
            }
        }
    }
    out
}

/// `controller.unreachable`: a machine that reaches no controller API address (TCP 17070)
/// from its own address in `juju-mgmt-space`, or has no address there at all; either way
/// Juju would silently fall back to any address it has. `controller.ha-unreachable`: a
/// controller that cannot open a connection to another controller's address in
/// `juju-ha-space`. One finding per machine (per controller pair for HA).
pub fn controller_unreachable(
    provider: &ProviderModel,
    agents: &[MergedAgent],
    plans: &BTreeMap<String, ProbePlan>,
    results: &BTreeMap<String, ProbeReport>,
    c: Option<&Controllers>,
) -> (Vec<Finding>, Vec<Checked>) {
    let mut findings = Vec::new();
    let mut checked = Vec::new();
    let Some(c) = c else {
        return (findings, checked);
    };
    let names = agent_names(agents);
    let space = c.mgmt_space.as_deref().unwrap_or("any space");
    checked.push(Checked {
        check: Code::ControllerUnreachable,
        subject: Subject {
            space: c.mgmt_space.clone(),
            ..Subject::default()
        },
    });
    let ctl: Vec<String> = c.addresses.iter().map(|a| a.to_string()).collect();
    let fallback = "Juju would silently fall back to any address the machine has, so agents may reach the controller over a space not meant for it (or not at all)";
    // (machine) → (tried, reached); HA: (machine, peer) → (tried, reached)
    let mut api: BTreeMap<String, (Vec<String>, bool)> = BTreeMap::new();
    let mut ha: BTreeMap<(String, String), (Vec<String>, bool)> = BTreeMap::new();
    for s in results_of(plans, results, &names, ProbeKind::Controller) {
        let open = s.result.received > 0;
        let how = format!(
            "{} → {}:{}{}",
            s.item.source,
            s.item.target,
            s.item.tcp_ports.first().copied().unwrap_or(0),
            s.result
                .tcp
                .first()
                .map(|t| format!(
                    " ({})",
                    match &t.outcome {
                        preflight_model::probe::TcpOutcome::Open { .. } => "open".to_string(),
                        preflight_model::probe::TcpOutcome::Refused => "refused".to_string(),
                        preflight_model::probe::TcpOutcome::Timeout => "timeout".to_string(),
                        preflight_model::probe::TcpOutcome::Unreachable { message } =>
                            format!("unreachable: {message}"),
                    }
                ))
                .unwrap_or_default()
        );
        let e = if s.item.space.starts_with("controller-ha:") {
            ha.entry((
                s.prober.to_string(),
                s.item.target_machine.clone().unwrap_or_default(),
            ))
            .or_default()
        } else {
            api.entry(s.prober.to_string()).or_default()
        };
        e.0.push(how);
        e.1 |= open;
    }
    let is_controller =
        |a: &MergedAgent| a.addresses.iter().any(|x| c.addresses.contains(&x.address));
    for a in agents {
        if let Some(m) = &c.mgmt_space {
            let has = a
                .addresses
                .iter()
                .any(|x| space_name(provider, x.space_id) == *m);
            if !has && !is_controller(a) {
                findings.push(Finding {
                    code: Code::ControllerUnreachable,
                    severity: Severity::Error,
                    subject: Subject {
                        space: Some(m.clone()),
                        machine: Some(a.name.clone()),
                        ..Subject::default()
                    },
                    message: format!(
                        "{} has no address in juju-mgmt-space {m}, so it cannot reach the controllers ({}) there; {fallback}",
                        a.name,
                        ctl.join(", ")
                    ),
                    hint: Some(format!("give {} an address in space {m}, or change juju-mgmt-space", a.name)),
                });
                continue;
            }
        }
        let Some((tried, reached)) = api.get(&a.name) else {
            continue;
        };
        if *reached {
            continue;
        }
        findings.push(Finding {
            code: Code::ControllerUnreachable,
            severity: Severity::Error,
            subject: Subject {
                space: c.mgmt_space.clone(),
                machine: Some(a.name.clone()),
                target: Some(ctl.join(", ")),
                ..Subject::default()
            },
            message: format!(
                "{} reaches no controller API address from its address in {space}: {}; {fallback}",
                a.name,
                tried.join(", ")
            ),
            hint: Some(format!(
                "open TCP {CONTROLLER_API_PORT} to the controllers on the {space} VLAN (firewall, routing, the controller's binding)"
            )),
        });
    }
    if let Some(h) = &c.ha_space {
        checked.push(Checked {
            check: Code::ControllerHaUnreachable,
            subject: Subject {
                space: Some(h.clone()),
                ..Subject::default()
            },
        });
        for ((from, to), (tried, reached)) in ha {
            if reached {
                continue;
            }
            findings.push(Finding {
                code: Code::ControllerHaUnreachable,
                severity: Severity::Error,
                subject: Subject {
                    space: Some(h.clone()),
                    source: Some(from.clone()),
                    target: Some(to.clone()),
                    ..Subject::default()
                },
                message: format!(
                    "controller {from} cannot reach controller {to} in juju-ha-space {h}: {}",
                    tried.join(", ")
                ),
                hint: Some(format!(
                    "open TCP {CONTROLLER_HA_PORT} between the controllers on the {h} VLAN"
                )),
            });
        }
    }
    (findings, checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::tests::{healthy, provider};
    use crate::merge::{merge, AgentInput};
    use crate::plan::{build_plan, PlanOptions};
    use preflight_model::provider::{IpRange, IpRangeKind};

    fn agents(p: &ProviderModel) -> Vec<MergedAgent> {
        let inputs = vec![
            AgentInput {
                agent_id: "a1".into(),
                observed: healthy(1, Some("aaa111"), "node1"),
            },
            AgentInput {
                agent_id: "a2".into(),
                observed: healthy(2, Some("bbb222"), "node2"),
            },
        ];
        let m = merge(p, &inputs);
        assert!(m.findings.is_empty(), "{:?}", m.findings);
        m.agents
    }

    /// Results for every plan item: `answer(item)` gives (echo replies, MACs).
    fn results(
        plans: &BTreeMap<String, ProbePlan>,
        answer: impl Fn(&PlannedTarget) -> (u32, Vec<&'static str>),
    ) -> BTreeMap<String, ProbeReport> {
        plans
            .iter()
            .map(|(agent, plan)| {
                let targets = plan
                    .targets
                    .iter()
                    .map(|t| {
                        let (received, macs) = answer(t);
                        TargetResult {
                            id: Some(t.id.clone()),
                            space: Some(t.space.clone()),
                            source: Some(t.source),
                            target: t.target,
                            expect: t.expect,
                            sent: 3,
                            received,
                            duplicates: 0,
                            loss_pct: 0.0,
                            rtt: None,
                            failure: None,
                            mtu: None,
                            tcp: Vec::new(),
                            kind: t.kind,
                            macs: macs.into_iter().map(MacAddr::from).collect(),
                            dns: None,
                        }
                    })
                    .collect();
                (
                    agent.clone(),
                    ProbeReport {
                        schema: preflight_model::probe::PROBE_SCHEMA.into(),
                        agent: Some(agent.clone()),
                        sockets: Vec::new(),
                        started_at: String::new(),
                        duration_ms: 0,
                        targets,
                    },
                )
            })
            .collect()
    }

    /// The MAAS MAC of node N's interface on subnet 100 (eth0).
    fn owner_mac(t: &PlannedTarget) -> Vec<&'static str> {
        match t.target.to_string().as_str() {
            "10.0.0.1" if t.source != t.target => vec!["52:54:00:00:01:00"],
            "10.0.0.2" if t.source != t.target => vec!["52:54:00:00:02:00"],
            _ => vec![],
        }
    }

    #[test]
    fn neighbour_answers_from_the_owner_are_no_finding_a_second_mac_is() {
        let p = provider();
        let a = agents(&p);
        let plan = build_plan(&p, &a, &PlanOptions::default());
        // Every machine asks for its own addresses and its peers' in each shared subnet.
        let own = plan.per_agent["a1"]
            .targets
            .iter()
            .filter(|t| t.kind == ProbeKind::Neighbour && t.source == t.target)
            .count();
        assert_eq!(own, 3);
        let healthy = results(&plan.per_agent, |t| (3, owner_mac(t)));
        let (f, c) = address_duplicate(&p, &a, &plan.per_agent, &healthy);
        assert!(f.is_empty(), "{f:?}");
        assert!(!c.is_empty());
        // A stranger answers for node2's 10.0.0.2 too.
        let dup = results(&plan.per_agent, |t| {
            let mut m = owner_mac(t);
            if t.target.to_string() == "10.0.0.2" && t.source != t.target {
                m.push("02:00:00:00:00:99");
            }
            (3, m)
        });
        let (f, _) = address_duplicate(&p, &a, &plan.per_agent, &dup);
        assert_eq!(f.len(), 1, "{f:?}");
        let msg = &f[0].message;
        assert!(msg.contains("10.0.0.2 in 10.0.0.0/24"), "{msg}");
        assert!(
            msg.contains("node2") && msg.contains("unknown host, MAC 02:00:00:00:00:99"),
            "{msg}"
        );
        assert!(msg.contains("52:54:00:00:02:00 (node2 eth0)"), "{msg}");
        assert_eq!(f[0].code, Code::AddressDuplicate);
        // Another host answering a machine's probe for its own address is a duplicate too.
        let own_answered = results(&plan.per_agent, |t| {
            if t.source == t.target && t.target.to_string() == "10.30.0.1" {
                (0, vec!["02:00:00:00:00:77"])
            } else {
                (3, owner_mac(t))
            }
        });
        let (f, _) = address_duplicate(&p, &a, &plan.per_agent, &own_answered);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.contains("10.30.0.1") && f[0].message.contains("node1"));
    }

    /// `results` with each DNS item's answer from `answer(item)`.
    fn with_dns(
        mut r: BTreeMap<String, ProbeReport>,
        answer: impl Fn(&TargetResult) -> preflight_model::probe::DnsAnswer,
    ) -> BTreeMap<String, ProbeReport> {
        for rep in r.values_mut() {
            for t in rep.targets.iter_mut().filter(|t| t.kind == ProbeKind::Dns) {
                t.dns = Some(Box::new(answer(t)));
            }
        }
        r
    }

    /// What a healthy server says about `source`: its PTR, and the name back to it.
    fn good_dns(t: &TargetResult) -> preflight_model::probe::DnsAnswer {
        let source = t.source.unwrap();
        let name = format!("host-{source}.maas");
        preflight_model::probe::DnsAnswer {
            answered: true,
            ptr: vec![name.clone()],
            forward: vec![preflight_model::probe::DnsForward {
                name,
                addresses: vec![source],
            }],
            chain: Vec::new(),
            error: None,
        }
    }

    #[test]
    fn dns_rules_name_the_server_the_machine_and_the_mismatch() {
        let mut p = provider();
        if let Some(s) = p.subnets.get_mut(&100) {
            s.dns_servers = vec!["10.0.0.53".parse().unwrap()];
        }
        let a = agents(&p);
        let plan = build_plan(&p, &a, &PlanOptions::default());
        let dns: Vec<&PlannedTarget> = plan
            .per_agent
            .values()
            .flat_map(|x| &x.targets)
            .filter(|t| t.kind == ProbeKind::Dns)
            .collect();
        assert_eq!(dns.len(), 2, "one per machine address in the subnet");
        assert!(dns
            .iter()
            .all(|t| t.target.to_string() == "10.0.0.53" && t.device.as_deref() == Some("eth0")));
        let base = results(&plan.per_agent, |t| (3, owner_mac(t)));
        let all = |r: &BTreeMap<String, ProbeReport>| {
            let mut f = dns_server_unreachable(&a, &plan.per_agent, r).0;
            f.extend(dns_reverse_mismatch(&a, &plan.per_agent, r).0);
            f.extend(dns_forward_mismatch(&a, &plan.per_agent, r).0);
            f
        };
        let healthy = with_dns(base.clone(), good_dns);
        assert!(all(&healthy).is_empty(), "{:?}", all(&healthy));
        let (_, c) = dns_server_unreachable(&a, &plan.per_agent, &healthy);
        assert_eq!(c.len(), 1, "one server in one space");

        // node1 gets no answer: dns.server-unreachable only (nothing to compare).
        let silent = with_dns(base.clone(), |t| {
            if t.source.unwrap().to_string() == "10.0.0.1" {
                preflight_model::probe::DnsAnswer {
                    error: Some("PTR 1.0.0.10.in-addr.arpa: no answer".into()),
                    ..Default::default()
                }
            } else {
                good_dns(t)
            }
        });
        let f = all(&silent);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].code, Code::DnsServerUnreachable);
        assert!(
            f[0].message.contains("10.0.0.53") && f[0].message.contains("node1 (10.0.0.1)"),
            "{}",
            f[0].message
        );
        assert!(f[0].message.contains("1 other machine"), "{}", f[0].message);

        // node2's address has no PTR: dns.reverse-mismatch, a warning.
        let no_ptr = with_dns(base.clone(), |t| {
            if t.source.unwrap().to_string() == "10.0.0.2" {
                preflight_model::probe::DnsAnswer {
                    answered: true,
                    ..Default::default()
                }
            } else {
                good_dns(t)
            }
        });
        let f = all(&no_ptr);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].code, Code::DnsReverseMismatch);
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].subject.machine.as_deref(), Some("node2"));
        assert!(f[0].message.contains("10.0.0.2"), "{}", f[0].message);

        // node1's name resolves to another address: dns.forward-mismatch naming both.
        let wrong_a = with_dns(base, |t| {
            let mut d = good_dns(t);
            if t.source.unwrap().to_string() == "10.0.0.1" {
                d.forward[0].addresses = vec!["10.0.0.99".parse().unwrap()];
            }
            d
        });
        let f = all(&wrong_a);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].code, Code::DnsForwardMismatch);
        let m = &f[0].message;
        assert!(
            m.contains("10.0.0.1") && m.contains("host-10.0.0.1.maas → 10.0.0.99"),
            "{m}"
        );
    }

    #[test]
    fn hostile_dns_answers_are_printable_and_bounded_in_findings() {
        let mut p = provider();
        if let Some(s) = p.subnets.get_mut(&100) {
            s.dns_servers = vec!["10.0.0.53".parse().unwrap()];
        }
        let a = agents(&p);
        let plan = build_plan(&p, &a, &PlanOptions::default());
        let evil = with_dns(results(&plan.per_agent, |t| (3, owner_mac(t))), |_| {
            preflight_model::probe::DnsAnswer {
                answered: true,
                ptr: vec!["\u{1b}[2Jx".repeat(1000); 1_000],
                forward: vec![
                    preflight_model::probe::DnsForward {
                        name: "n\nFAKE LOG LINE".into(),
                        addresses: vec!["10.9.9.9".parse().unwrap(); 1_000],
                    };
                    100
                ],
                chain: vec!["x".into(); 10_000],
                error: Some("\u{7}".repeat(100_000)),
            }
        });
        let (f, _) = dns_forward_mismatch(&a, &plan.per_agent, &evil);
        assert_eq!(f.len(), 2, "{f:?}");
        for x in &f {
            assert!(!x.message.chars().any(|c| c.is_control()), "{}", x.message);
            assert!(x.message.len() < 20_000, "{}", x.message.len());
        }
    }

    #[test]
    fn without_maas_dns_servers_the_machines_own_resolvers_are_checked() {
        let p = provider();
        let mut a = agents(&p);
        a[0].resolvers = vec![
            "10.0.0.53".parse().unwrap(),
            "2001:db8::53".parse().unwrap(),
        ];
        let plan = build_plan(&p, &a, &PlanOptions::default());
        let dns: Vec<(String, String)> = plan
            .per_agent
            .values()
            .flat_map(|x| &x.targets)
            .filter(|t| t.kind == ProbeKind::Dns)
            .map(|t| (t.source.to_string(), t.target.to_string()))
            .collect();
        // node1's IPv4 addresses ask its IPv4 resolver; node2 has none; no IPv6 source.
        assert!(!dns.is_empty());
        assert!(dns.iter().all(|(_, t)| t == "10.0.0.53"), "{dns:?}");
        let sources: BTreeSet<String> = dns.iter().map(|(s, _)| s.clone()).collect();
        let node1: BTreeSet<String> = a[0]
            .addresses
            .iter()
            .map(|x| x.address.to_string())
            .collect();
        assert_eq!(
            sources, node1,
            "one DNS probe per node1 address, none from node2"
        );
    }

    #[test]
    fn gateway_unreachable_names_the_subnet_gateway_and_machines() {
        let mut p = provider();
        if let Some(s) = p.subnets.get_mut(&100) {
            s.gateway = Some("10.0.0.254".parse().unwrap());
        }
        let a = agents(&p);
        let plan = build_plan(&p, &a, &PlanOptions::default());
        let gw: Vec<&PlannedTarget> = plan
            .per_agent
            .values()
            .flat_map(|x| &x.targets)
            .filter(|t| t.kind == ProbeKind::Gateway)
            .collect();
        assert_eq!(gw.len(), 2, "one per machine in the subnet");
        assert!(gw.iter().all(|t| t.device.as_deref() == Some("eth0")));
        let ok = results(&plan.per_agent, |t| (3, owner_mac(t)));
        assert!(gateway_unreachable(&p, &a, &plan.per_agent, &ok)
            .0
            .is_empty());
        // ARP alone is enough (ICMP may be filtered).
        let arp_only = results(&plan.per_agent, |t| {
            if t.kind == ProbeKind::Gateway {
                (0, vec!["02:00:00:00:00:01"])
            } else {
                (3, owner_mac(t))
            }
        });
        assert!(gateway_unreachable(&p, &a, &plan.per_agent, &arp_only)
            .0
            .is_empty());
        let dead_for_node1 = results(&plan.per_agent, |t| {
            if t.kind == ProbeKind::Gateway && t.source.to_string() == "10.0.0.1" {
                (0, vec![])
            } else {
                (3, owner_mac(t))
            }
        });
        let (f, c) = gateway_unreachable(&p, &a, &plan.per_agent, &dead_for_node1);
        assert_eq!(c.len(), 1);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].code, Code::GatewayUnreachable);
        let m = &f[0].message;
        assert!(
            m.contains("10.0.0.254") && m.contains("10.0.0.0/24") && m.contains("node1 (10.0.0.1)"),
            "{m}"
        );
        assert!(
            !m.contains("node2 (") && m.contains("1 other machine"),
            "{m}"
        );
    }

    #[test]
    fn a_refused_infrastructure_probe_is_not_run_not_a_dead_gateway() {
        let mut p = provider();
        if let Some(s) = p.subnets.get_mut(&100) {
            s.gateway = Some("10.0.0.254".parse().unwrap());
        }
        let a = agents(&p);
        let plan = build_plan(&p, &a, &PlanOptions::default());
        // node1's agent refuses its gateway probe (say its guard rails); the rest runs.
        let mut r = results(&plan.per_agent, |t| (3, owner_mac(t)));
        for rep in r.values_mut() {
            for t in &mut rep.targets {
                if t.kind == ProbeKind::Gateway
                    && t.source.map(|s| s.to_string()).as_deref() == Some("10.0.0.1")
                {
                    t.received = 0;
                    t.macs.clear();
                    t.failure = Some(FailureCause::NotRun {
                        reason: "targets[3].target: not on the agent's links".into(),
                    });
                }
            }
        }
        assert!(gateway_unreachable(&p, &a, &plan.per_agent, &r)
            .0
            .is_empty());
        let (f, c) = infra_not_run(&a, &plan.per_agent, &r);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].code, Code::ProbeNotRun);
        assert_eq!(f[0].subject.machine.as_deref(), Some("node1"));
        assert_eq!(f[0].subject.target.as_deref(), Some("10.0.0.254"));
        assert!(
            f[0].message
                .contains("gateway probe of 10.0.0.254 from node1 (10.0.0.1)")
                && f[0].message.contains("not on the agent's links"),
            "{}",
            f[0].message
        );
        assert!(!c.is_empty() && c.iter().all(|x| x.check == Code::ProbeNotRun));
        // Nothing refused: nothing said.
        let ok = results(&plan.per_agent, |t| (3, owner_mac(t)));
        assert!(infra_not_run(&a, &plan.per_agent, &ok).0.is_empty());
    }

    #[test]
    fn assigned_addresses_in_dynamic_and_reserved_ranges() {
        let mut p = provider();
        let a = agents(&p);
        assert!(
            address_in_dynamic_range(&p, &a).0.is_empty(),
            "no ranges, no finding"
        );
        p.ip_ranges = vec![
            IpRange {
                id: 1,
                kind: IpRangeKind::Dynamic,
                start: "10.0.0.2".parse().unwrap(),
                end: "10.0.0.50".parse().unwrap(),
                subnet_id: Some(100),
                comment: Some("dhcp".into()),
            },
            IpRange {
                id: 2,
                kind: IpRangeKind::Reserved,
                start: "10.30.0.1".parse().unwrap(),
                end: "10.30.0.1".parse().unwrap(),
                subnet_id: Some(102),
                comment: None,
            },
            // the same addresses on the other fabric's 10.0.0.0/24 are not in range 1
            IpRange {
                id: 3,
                kind: IpRangeKind::Other("weird".into()),
                start: "10.0.0.0".parse().unwrap(),
                end: "10.0.0.255".parse().unwrap(),
                subnet_id: Some(101),
                comment: None,
            },
        ];
        let (f, _) = address_in_dynamic_range(&p, &a);
        assert!(f.iter().all(|f| f.code == Code::AddressInDynamicRange));
        let got: Vec<(String, Severity)> = f
            .iter()
            .map(|f| (f.subject.target.clone().unwrap_or_default(), f.severity))
            .collect();
        assert_eq!(
            got,
            [
                ("10.0.0.2".to_string(), Severity::Error),
                ("10.30.0.1".to_string(), Severity::Warning)
            ]
        );
        assert!(
            f[0].message.contains("node2") && f[0].message.contains("10.0.0.2-10.0.0.50 (dhcp)")
        );
    }

    #[test]
    fn controller_endpoints_are_read_from_show_controller_json() {
        let doc = serde_json::json!({
            "prod": {
                "details": {
                    "api-endpoints": ["10.0.0.5:17070", "[fd00::5]:17070", "10.0.0.5:17070"],
                    "controller-uuid": "x"
                },
                "controller-machines": {"0": {"instance-id": "abc"}}
            }
        });
        assert_eq!(
            controller_addresses_from_json(&doc).unwrap(),
            vec![
                "10.0.0.5".parse::<IpAddr>().unwrap(),
                "fd00::5".parse().unwrap()
            ]
        );
        assert!(controller_addresses_from_json(&serde_json::json!({"a": 1})).is_err());
        let bad = serde_json::json!({"c": {"details": {"api-endpoints": ["ctl.example:17070"]}}});
        let e = controller_addresses_from_json(&bad).unwrap_err();
        assert!(e.contains("ctl.example:17070"), "{e}");
        // Deep nesting is cut off, not recursed into without bound.
        let mut deep = serde_json::json!({"api-endpoints": ["10.0.0.9:17070"]});
        for _ in 0..40 {
            deep = serde_json::json!({ "x": deep });
        }
        assert!(controller_addresses_from_json(&deep).is_err());
    }

    #[test]
    fn controller_rules_name_the_space_and_the_fallback() {
        let p = provider();
        let a = agents(&p);
        // node2's 10.0.0.2 plays the controller; node1 must reach it from alpha (subnet 100).
        let c = Controllers {
            addresses: vec!["10.0.0.2".parse().unwrap()],
            mgmt_space: Some("alpha".into()),
            ha_space: None,
        };
        let opts = PlanOptions {
            controllers: Some(c.clone()),
            ..PlanOptions::default()
        };
        let plan = build_plan(&p, &a, &opts);
        let items: Vec<&PlannedTarget> = plan
            .per_agent
            .values()
            .flat_map(|x| &x.targets)
            .filter(|t| t.kind == ProbeKind::Controller)
            .collect();
        assert_eq!(items.len(), 1, "{items:?}");
        assert_eq!(items[0].source.to_string(), "10.0.0.1");
        assert_eq!(items[0].tcp_ports, [CONTROLLER_API_PORT]);
        let closed = results(&plan.per_agent, |t| {
            (u32::from(t.kind != ProbeKind::Controller), vec![])
        });
        let (f, _) = controller_unreachable(&p, &a, &plan.per_agent, &closed, Some(&c));
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].code, Code::ControllerUnreachable);
        assert!(
            f[0].message.contains("node1")
                && f[0].message.contains("alpha")
                && f[0].message.contains("fall back")
        );
        let open = results(&plan.per_agent, |_| (1, vec![]));
        assert!(
            controller_unreachable(&p, &a, &plan.per_agent, &open, Some(&c))
                .0
                .is_empty()
        );
        // A machine with no address in the management space is named without a probe.
        let c2 = Controllers {
            addresses: vec!["10.30.0.2".parse().unwrap()],
            mgmt_space: Some("storage".into()),
            ha_space: None,
        };
        let mut lonely = a.clone();
        lonely[0].addresses.retain(|x| x.space_id != 3);
        let (f, _) = controller_unreachable(&p, &lonely, &plan.per_agent, &open, Some(&c2));
        assert!(
            f.iter().any(|f| f
                .message
                .contains("node1 has no address in juju-mgmt-space storage")),
            "{f:?}"
        );
    }

    #[test]
    fn controllers_that_cannot_reach_each_other_in_the_ha_space_are_named() {
        let p = provider();
        let a = agents(&p);
        // Both machines play controllers; they replicate over alpha.
        let c = Controllers {
            addresses: vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()],
            mgmt_space: Some("alpha".into()),
            ha_space: Some("alpha".into()),
        };
        let opts = PlanOptions {
            controllers: Some(c.clone()),
            ..PlanOptions::default()
        };
        let plan = build_plan(&p, &a, &opts);
        let ha: Vec<&PlannedTarget> = plan
            .per_agent
            .values()
            .flat_map(|x| &x.targets)
            .filter(|t| t.kind == ProbeKind::Controller && t.tcp_ports == [CONTROLLER_HA_PORT])
            .collect();
        assert_eq!(ha.len(), 2, "one each way: {ha:?}");
        let open = results(&plan.per_agent, |_| (1, vec![]));
        let (f, checked) = controller_unreachable(&p, &a, &plan.per_agent, &open, Some(&c));
        assert!(f.is_empty(), "{f:?}");
        assert!(checked
            .iter()
            .any(|c| c.check == Code::ControllerHaUnreachable));
        // The HA port is closed on node2: node1 cannot reach it; the API port stays open.
        let ha_closed = results(&plan.per_agent, |t| {
            let to_node2 = t.target.to_string() == "10.0.0.2";
            (
                u32::from(!(t.tcp_ports == [CONTROLLER_HA_PORT] && to_node2)),
                vec![],
            )
        });
        let (f, _) = controller_unreachable(&p, &a, &plan.per_agent, &ha_closed, Some(&c));
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].code, Code::ControllerHaUnreachable);
        assert_eq!(f[0].subject.source.as_deref(), Some("node1"));
        assert_eq!(f[0].subject.target.as_deref(), Some("node2"));
        assert!(
            f[0].message.contains("juju-ha-space alpha"),
            "{}",
            f[0].message
        );
    }
}
