//! Merge: match each agent to its MAAS machine, each observed link to its MAAS interface and
//! each observed address to a MAAS subnet (hence a space). Resolution only: the drift rules
//! that judge the result are in [`crate::drift`], one function per code.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use preflight_model::observed::{Link, LinkKind, ObservedConfig, Scope};
use preflight_model::provider::{Interface, Machine, ProviderModel, Subnet};
use preflight_model::report::{Checked, Finding, Subject};
use preflight_model::vocab::MacAddr;

use crate::drift::{self, Unmatched};

/// One registered agent as the merge sees it.
#[derive(Debug, Clone)]
pub struct AgentInput {
    /// Id the coordinator gave the agent.
    pub agent_id: String,
    /// What the agent observed.
    pub observed: ObservedConfig,
}

/// One of an agent's addresses, resolved to a MAAS subnet and space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentAddress {
    /// The address.
    pub address: IpAddr,
    /// Observed link (interface) name holding it.
    pub link: String,
    /// MAAS subnet id.
    pub subnet_id: i64,
    /// MAAS space id.
    pub space_id: i64,
    /// MTU of the subnet's VLAN.
    pub vlan_mtu: u32,
}

/// An agent after the merge.
#[derive(Debug, Clone)]
pub struct MergedAgent {
    /// Coordinator's agent id.
    pub agent_id: String,
    /// Name shown in the report: the MAAS hostname when matched, else the observed hostname.
    pub name: String,
    /// MAAS system_id, when the agent matched exactly one machine.
    pub system_id: Option<String>,
    /// Addresses that resolved to a subnet in a real space, ordered by subnet then address.
    pub addresses: Vec<AgentAddress>,
    /// The machine's own resolvers (resolv.conf), checked where MAAS gives a subnet no DNS
    /// servers; loopback stubs (systemd-resolved's 127.0.0.53) left out.
    pub resolvers: Vec<IpAddr>,
}

/// Result of the merge.
#[derive(Debug, Clone, Default)]
pub struct Merged {
    /// One entry per agent, in input order.
    pub agents: Vec<MergedAgent>,
    /// Drift findings.
    pub findings: Vec<Finding>,
    /// Every drift check evaluated, per machine.
    pub checked: Vec<Checked>,
}

/// How an agent matched a MAAS machine.
#[derive(Debug, Clone, PartialEq)]
pub enum MachineMatch<'a> {
    /// Exactly one machine.
    One(&'a Machine),
    /// No machine.
    None(String),
    /// Several machines.
    Ambiguous(Vec<String>),
}

/// Matches an observed config to a MAAS machine: by system_id, else hostname, else MAC overlap.
pub fn match_machine<'a>(
    provider: &'a ProviderModel,
    observed: &ObservedConfig,
) -> MachineMatch<'a> {
    match_ranked(provider, observed).0
}

/// [`match_machine`] and how strong the match is: 0 by system_id, 1 by hostname, 2 by MAC.
fn match_ranked<'a>(
    provider: &'a ProviderModel,
    observed: &ObservedConfig,
) -> (MachineMatch<'a>, u8) {
    let id = &observed.identity;
    if let Some(sid) = id.system_id.as_deref().filter(|s| !s.is_empty()) {
        return match provider.machine(sid) {
            Some(m) => (MachineMatch::One(m), 0),
            None => (
                MachineMatch::None(format!("MAAS has no machine with system_id {sid:?}")),
                0,
            ),
        };
    }
    let host = id.hostname.trim();
    let short = host.split('.').next().unwrap_or(host);
    if !short.is_empty() {
        let by_name: Vec<&Machine> = provider
            .machines
            .iter()
            .filter(|m| {
                m.hostname.eq_ignore_ascii_case(short)
                    || m.fqdn
                        .as_deref()
                        .is_some_and(|f| f.eq_ignore_ascii_case(host))
            })
            .collect();
        match by_name.len() {
            1 => return (MachineMatch::One(by_name[0]), 1),
            0 => {}
            _ => {
                return (
                    MachineMatch::Ambiguous(by_name.iter().map(|m| m.system_id.clone()).collect()),
                    1,
                )
            }
        }
    }
    let macs: BTreeSet<&MacAddr> = observed
        .links
        .iter()
        .filter(|l| l.kind != LinkKind::Loopback)
        .filter_map(|l| l.mac.as_ref())
        .filter(|m| !m.is_zero())
        .collect();
    let by_mac: Vec<&Machine> = provider
        .machines
        .iter()
        .filter(|m| {
            m.interfaces
                .iter()
                .filter_map(|i| i.mac.as_ref())
                .any(|mac| macs.contains(mac))
        })
        .collect();
    let m = match by_mac.len() {
        1 => MachineMatch::One(by_mac[0]),
        0 => MachineMatch::None(format!(
            "no MAAS machine has hostname {host:?} or any of its MAC addresses"
        )),
        _ => MachineMatch::Ambiguous(by_mac.iter().map(|m| m.system_id.clone()).collect()),
    };
    (m, 2)
}

/// The MAAS interface an observed link is, by MAC (name and VLAN tag break ties).
fn interface_for_link<'a>(
    machine: &'a Machine,
    provider: &ProviderModel,
    link: &Link,
) -> Option<&'a Interface> {
    let mac = link.mac.as_ref()?;
    let cands: Vec<&Interface> = machine
        .interfaces
        .iter()
        .filter(|i| i.mac.as_ref() == Some(mac))
        .collect();
    if cands.len() <= 1 {
        return cands.first().copied();
    }
    if let Some(i) = cands.iter().find(|i| i.name == link.name) {
        return Some(i);
    }
    let vid = link.vlan_id.unwrap_or(0);
    let by_vid: Vec<&&Interface> = cands
        .iter()
        .filter(|i| {
            i.vlan_id
                .and_then(|v| provider.vlans.get(&v))
                .map(|v| v.vid)
                .unwrap_or(0)
                == vid
        })
        .collect();
    if by_vid.len() == 1 {
        return Some(by_vid[0]);
    }
    // Same MAC, same tag: the link's kind decides (a kernel bond is MAAS's bond, and so on).
    cands
        .iter()
        .find(|i| {
            matches!(
                (&link.kind, &i.kind),
                (
                    LinkKind::Bond,
                    preflight_model::provider::InterfaceKind::Bond
                ) | (
                    LinkKind::Bridge,
                    preflight_model::provider::InterfaceKind::Bridge
                ) | (
                    LinkKind::Vlan,
                    preflight_model::provider::InterfaceKind::Vlan
                )
            )
        })
        .or_else(|| cands.first())
        .copied()
}

/// The MAAS subnet an address is in: the interface's own MAAS link for that IP first, then the
/// subnets whose CIDR contains it, narrowed by the interface's VLAN, then by its fabric.
pub fn subnet_for_address<'a>(
    provider: &'a ProviderModel,
    iface: Option<&Interface>,
    addr: IpAddr,
) -> Option<&'a Subnet> {
    if let Some(iface) = iface {
        if let Some(s) = iface
            .links
            .iter()
            .filter(|l| l.ip == Some(addr))
            .filter_map(|l| l.subnet_id)
            .find_map(|id| provider.subnets.get(&id))
        {
            if s.cidr.contains(&addr) {
                return Some(s);
            }
        }
    }
    let cands: Vec<&Subnet> = provider
        .subnets
        .values()
        .filter(|s| s.cidr.contains(&addr))
        .collect();
    if cands.len() <= 1 {
        return cands.first().copied();
    }
    let vlan_id = iface.and_then(|i| i.vlan_id);
    if let Some(v) = vlan_id {
        let on_vlan: Vec<&&Subnet> = cands.iter().filter(|s| s.vlan_id == v).collect();
        if on_vlan.len() == 1 {
            return Some(on_vlan[0]);
        }
        if let Some(fabric) = provider.vlans.get(&v).map(|v| v.fabric_id) {
            let on_fabric: Vec<&&Subnet> = cands
                .iter()
                .filter(|s| provider.vlans.get(&s.vlan_id).map(|x| x.fabric_id) == Some(fabric))
                .collect();
            if on_fabric.len() == 1 {
                return Some(on_fabric[0]);
            }
        }
    }
    None
}

/// Whether an observed address takes part (global scope, not loopback, DAD not failed).
fn usable_address(a: &preflight_model::observed::Address) -> bool {
    !a.address.is_loopback()
        && !a.flags.dadfailed
        && !a.flags.tentative
        && matches!(a.scope, Scope::Global | Scope::Site)
        && !matches!(a.address, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80)
}

/// Merges every agent with the provider model.
pub fn merge(provider: &ProviderModel, agents: &[AgentInput]) -> Merged {
    let mut out = Merged::default();
    // An agent claiming a machine another agent already matched is ambiguous too. Claims go
    // in passes, whatever the agents' order: every exact system_id match first, then
    // hostname matches, then MAC matches.
    let matches: Vec<(MachineMatch, u8)> = agents
        .iter()
        .map(|a| match_ranked(provider, &a.observed))
        .collect();
    let mut order: Vec<usize> = (0..agents.len()).collect();
    order.sort_by_key(|&i| (matches[i].1, i));
    let mut claimed: BTreeMap<String, String> = BTreeMap::new();
    for i in order {
        if let MachineMatch::One(m) = &matches[i].0 {
            claimed
                .entry(m.system_id.clone())
                .or_insert_with(|| agents[i].agent_id.clone());
        }
    }
    for (agent, (m, _)) in agents.iter().zip(matches) {
        let obs = &agent.observed;
        let hostname = &obs.identity.hostname;
        // `claimed` already holds every machine's winner (the passes above).
        let unmatched = match m {
            MachineMatch::One(m) => match claimed
                .get(&m.system_id)
                .filter(|by| **by != agent.agent_id)
            {
                Some(by) => Err(Unmatched::Claimed { machine: m, by }),
                None => Ok(m),
            },
            MachineMatch::None(why) => Err(Unmatched::None(why)),
            MachineMatch::Ambiguous(ids) => Err(Unmatched::Ambiguous(ids)),
        };
        let (machine, name) = match unmatched {
            Ok(m) => (Some(m), m.hostname.clone()),
            Err(why) => {
                out.findings
                    .push(drift::machine_unknown(&agent.agent_id, hostname, &why));
                (None, hostname.clone())
            }
        };
        for check in drift::CHECKS {
            out.checked.push(Checked {
                check,
                subject: Subject {
                    machine: Some(name.clone()),
                    ..Subject::default()
                },
            });
        }
        let merged = merge_one(provider, agent, machine, &name, &mut out.findings);
        out.agents.push(merged);
    }
    out
}

fn merge_one(
    provider: &ProviderModel,
    agent: &AgentInput,
    machine: Option<&Machine>,
    name: &str,
    findings: &mut Vec<Finding>,
) -> MergedAgent {
    let obs = &agent.observed;
    // observed ifindex → (link, MAAS interface)
    let mut link_iface: BTreeMap<u32, (&Link, Option<&Interface>)> = BTreeMap::new();
    for link in &obs.links {
        let iface = machine.and_then(|m| interface_for_link(m, provider, link));
        link_iface.insert(link.ifindex, (link, iface));
    }
    let mut addresses = Vec::new();
    for a in obs.addresses.iter().filter(|a| usable_address(a)) {
        let (link, iface) = match link_iface.get(&a.ifindex) {
            Some((l, i)) => (Some(*l), *i),
            None => (None, None),
        };
        let Some(subnet) = subnet_for_address(provider, iface, a.address) else {
            continue;
        };
        if let Some(m) = machine {
            // MAAS assigns it to another machine in this subnet: that is `address.duplicate`
            // (crate::infra), one finding naming both machines, not drift of this one.
            let elsewhere = provider.machines.iter().any(|o| {
                o.system_id != m.system_id
                    && o.interfaces.iter().flat_map(|i| &i.links).any(|l| {
                        l.ip == Some(a.address) && l.subnet_id.is_none_or(|s| s == subnet.id)
                    })
            });
            if !elsewhere {
                findings.extend(drift::address_unexpected(m, name, a, subnet));
            }
        }
        let Some(space_id) = subnet.space_id else {
            continue;
        };
        let vlan_mtu = provider
            .vlans
            .get(&subnet.vlan_id)
            .map(|v| v.mtu)
            .unwrap_or(1500);
        addresses.push(AgentAddress {
            address: a.address,
            link: link
                .map(|l| l.name.clone())
                .unwrap_or_else(|| a.link.clone()),
            subnet_id: subnet.id,
            space_id,
            vlan_mtu,
        });
    }
    addresses.sort_by_key(|a| (a.subnet_id, a.address));
    addresses.dedup();

    if let Some(m) = machine {
        let matched: BTreeMap<i64, &Link> = link_iface
            .values()
            .filter_map(|(l, i)| i.map(|i| (i.id, *l)))
            .collect();
        let observed_ips: BTreeSet<IpAddr> = obs.addresses.iter().map(|a| a.address).collect();
        drift::interfaces(provider, m, name, &matched, &observed_ips, findings);
    }
    MergedAgent {
        agent_id: agent.agent_id.clone(),
        name: name.to_string(),
        system_id: machine.map(|m| m.system_id.clone()),
        addresses,
        resolvers: obs
            .resolvers
            .iter()
            .copied()
            .filter(|r| !r.is_loopback() && !r.is_unspecified() && !r.is_multicast())
            .take(3)
            .collect(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::drift::CHECKS as DRIFT_CHECKS;
    use preflight_model::observed::{Address, AddressFlags, Family, Identity, OBSERVED_SCHEMA};
    use preflight_model::provider::{Fabric, InterfaceKind, InterfaceLink, Space, Vlan};
    use preflight_model::report::{Code, Severity};

    pub(crate) fn link(ifindex: u32, name: &str, mac: &str, mtu: u32, up: bool) -> Link {
        Link {
            ifindex,
            name: name.into(),
            kind: LinkKind::Veth,
            mac: Some(mac.into()),
            mtu,
            admin_up: up,
            oper_state: if up { "up" } else { "down" }.into(),
            carrier: Some(up),
            master: None,
            master_ifindex: None,
            parent: None,
            parent_ifindex: None,
            vlan_id: None,
            vxlan_id: None,
            bond: None,
            bridge_ports: vec![],
        }
    }

    pub(crate) fn addr(ifindex: u32, link: &str, ip: &str, prefix: u8) -> Address {
        let address: IpAddr = ip.parse().unwrap();
        Address {
            ifindex,
            link: link.into(),
            address,
            prefix_len: prefix,
            family: Family::of(&address),
            scope: "global".into(),
            flags: AddressFlags::default(),
        }
    }

    pub(crate) fn observed(
        host: &str,
        system_id: Option<&str>,
        links: Vec<Link>,
        addrs: Vec<Address>,
    ) -> ObservedConfig {
        ObservedConfig {
            schema: OBSERVED_SCHEMA.into(),
            identity: Identity {
                hostname: host.into(),
                machine_id: None,
                system_id: system_id.map(str::to_string),
                agent_version: "test".into(),
                observed_at: "2026-01-01T00:00:00Z".into(),
            },
            links,
            addresses: addrs,
            routes: vec![],
            default_gateways: vec![],
            resolvers: vec![],
        }
    }

    /// Two fabrics carrying the same CIDR 10.0.0.0/24 in different spaces, plus a jumbo VLAN.
    pub(crate) fn provider() -> ProviderModel {
        let mut p = ProviderModel::default();
        for (id, name) in [(1, "alpha"), (2, "beta"), (3, "storage")] {
            p.spaces.insert(
                id,
                Space {
                    id,
                    name: name.into(),
                    description: None,
                },
            );
        }
        for id in [0, 1] {
            p.fabrics.insert(
                id,
                Fabric {
                    id,
                    name: format!("fabric-{id}"),
                },
            );
        }
        for (id, fabric_id, vid, mtu, space) in [
            (10, 0, 0, 1500, 1),
            (11, 1, 0, 1500, 2),
            (12, 0, 30, 9000, 3),
        ] {
            p.vlans.insert(
                id,
                Vlan {
                    id,
                    fabric_id,
                    vid,
                    name: None,
                    mtu,
                    space_id: Some(space),
                },
            );
        }
        for (id, cidr, vlan, space) in [
            (100, "10.0.0.0/24", 10, 1),
            (101, "10.0.0.0/24", 11, 2),
            (102, "10.30.0.0/24", 12, 3),
        ] {
            p.subnets.insert(
                id,
                Subnet {
                    id,
                    name: cidr.into(),
                    cidr: cidr.parse().unwrap(),
                    vlan_id: vlan,
                    space_id: Some(space),
                    gateway: None,
                    managed: true,
                    dns_servers: Vec::new(),
                },
            );
        }
        for (n, sid, host) in [(1, "aaa111", "node1"), (2, "bbb222", "node2")] {
            let iface =
                |id: i64, name: &str, mac: String, vlan: i64, subnet: i64, ip: String| Interface {
                    id,
                    name: name.into(),
                    kind: InterfaceKind::Physical,
                    mac: Some(mac.into()),
                    enabled: true,
                    vlan_id: Some(vlan),
                    effective_mtu: 1500,
                    parents: vec![],
                    children: vec![],
                    bond_mode: None,
                    links: vec![InterfaceLink {
                        id: id * 10,
                        mode: "static".into(),
                        subnet_id: Some(subnet),
                        ip: Some(ip.parse().unwrap()),
                    }],
                };
            p.machines.push(Machine {
                system_id: sid.into(),
                hostname: host.into(),
                fqdn: None,
                status: "Deployed".into(),
                architecture: None,
                cpu_count: None,
                cpu_speed_mhz: None,
                memory_mib: None,
                root_disk_mib: None,
                zone: None,
                pool: None,
                tags: vec![],
                interfaces: vec![
                    iface(
                        n * 10,
                        "eth0",
                        format!("52:54:00:00:0{n}:00"),
                        10,
                        100,
                        format!("10.0.0.{n}"),
                    ),
                    iface(
                        n * 10 + 1,
                        "eth1",
                        format!("52:54:00:00:0{n}:01"),
                        11,
                        101,
                        format!("10.0.0.{}", n + 100),
                    ),
                    iface(
                        n * 10 + 2,
                        "eth2",
                        format!("52:54:00:00:0{n}:02"),
                        12,
                        102,
                        format!("10.30.0.{n}"),
                    ),
                ],
                ip_addresses: vec![],
            });
        }
        p
    }

    pub(crate) fn healthy(n: u32, system_id: Option<&str>, host: &str) -> ObservedConfig {
        observed(
            host,
            system_id,
            vec![
                link(2, "eth0", &format!("52:54:00:00:0{n}:00"), 1500, true),
                link(3, "eth1", &format!("52:54:00:00:0{n}:01"), 1500, true),
                link(4, "eth2", &format!("52:54:00:00:0{n}:02"), 9000, true),
            ],
            vec![
                addr(2, "eth0", &format!("10.0.0.{n}"), 24),
                addr(3, "eth1", &format!("10.0.0.{}", n + 100), 24),
                addr(4, "eth2", &format!("10.30.0.{n}"), 24),
            ],
        )
    }

    fn input(id: &str, o: ObservedConfig) -> AgentInput {
        AgentInput {
            agent_id: id.into(),
            observed: o,
        }
    }

    fn codes_of(m: &Merged) -> Vec<Code> {
        m.findings.iter().map(|f| f.code.clone()).collect()
    }

    #[test]
    fn an_exact_system_id_match_wins_over_an_earlier_hostname_match() {
        let p = provider();
        // "first" claims node1 by hostname and comes first; "second" names node1's system_id.
        let m = merge(
            &p,
            &[
                input("first", healthy(1, None, "node1")),
                input("second", healthy(7, Some("aaa111"), "elsewhere")),
            ],
        );
        assert_eq!(m.agents[1].system_id.as_deref(), Some("aaa111"));
        assert_eq!(m.agents[0].system_id, None);
        let f: Vec<&Finding> = m
            .findings
            .iter()
            .filter(|f| f.code == Code::DriftMachineUnknown)
            .collect();
        assert_eq!(f.len(), 1, "{:?}", m.findings);
        assert!(
            f[0].message.contains("agent first") && f[0].message.contains("agent second already"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn healthy_machines_merge_without_findings_and_resolve_overlapping_cidrs_by_vlan() {
        let p = provider();
        let m = merge(
            &p,
            &[
                input("a", healthy(1, None, "node1")),
                input("b", healthy(2, None, "node2")),
            ],
        );
        assert!(m.findings.is_empty(), "{:?}", m.findings);
        let a = &m.agents[0];
        assert_eq!(a.system_id.as_deref(), Some("aaa111"));
        assert_eq!(a.name, "node1");
        // 10.0.0.1 on eth0 (VLAN 10, fabric 0) → subnet 100 in alpha; 10.0.0.101 on eth1 → 101 in beta.
        let by_ip: BTreeMap<String, (i64, i64, u32)> = a
            .addresses
            .iter()
            .map(|x| (x.address.to_string(), (x.subnet_id, x.space_id, x.vlan_mtu)))
            .collect();
        assert_eq!(by_ip["10.0.0.1"], (100, 1, 1500));
        assert_eq!(by_ip["10.0.0.101"], (101, 2, 1500));
        assert_eq!(by_ip["10.30.0.1"], (102, 3, 9000));
        assert_eq!(m.checked.len(), 2 * DRIFT_CHECKS.len());
    }

    #[test]
    fn overlapping_cidr_without_maas_link_is_resolved_by_the_interfaces_vlan() {
        let mut p = provider();
        // MAAS lists the address only at machine level: the subnet must come from the VLAN.
        p.machines[0].interfaces[1].links[0].ip = None;
        p.machines[0]
            .ip_addresses
            .push("10.0.0.101".parse().unwrap());
        let iface = p.machines[0].interfaces[1].clone();
        let s = subnet_for_address(&p, Some(&iface), "10.0.0.101".parse().unwrap()).unwrap();
        assert_eq!(s.id, 101);
        let iface0 = p.machines[0].interfaces[0].clone();
        let s = subnet_for_address(&p, Some(&iface0), "10.0.0.77".parse().unwrap()).unwrap();
        assert_eq!(s.id, 100);
        // Without an interface the overlap cannot be resolved.
        assert!(subnet_for_address(&p, None, "10.0.0.77".parse().unwrap()).is_none());
    }

    #[test]
    fn machine_matching_by_system_id_hostname_and_mac() {
        let p = provider();
        assert!(
            matches!(match_machine(&p, &healthy(1, Some("bbb222"), "whatever")), MachineMatch::One(m) if m.system_id == "bbb222")
        );
        assert!(
            matches!(match_machine(&p, &healthy(1, None, "node2.maas")), MachineMatch::One(m) if m.system_id == "bbb222")
        );
        assert!(
            matches!(match_machine(&p, &healthy(1, None, "unknown-host")), MachineMatch::One(m) if m.system_id == "aaa111")
        );
        assert!(matches!(
            match_machine(&p, &healthy(1, Some("nope"), "node1")),
            MachineMatch::None(_)
        ));
        // MACs of both machines → ambiguous.
        let mut o = healthy(1, None, "x");
        o.links
            .push(link(9, "eth9", "52:54:00:00:02:00", 1500, true));
        assert!(matches!(match_machine(&p, &o), MachineMatch::Ambiguous(v) if v.len() == 2));
        let m = merge(&p, &[input("x", o)]);
        assert_eq!(codes_of(&m), vec![Code::DriftMachineUnknown]);
    }

    #[test]
    fn two_agents_on_one_machine_is_machine_unknown() {
        let p = provider();
        let m = merge(
            &p,
            &[
                input("a", healthy(1, None, "node1")),
                input("b", healthy(1, Some("aaa111"), "other")),
            ],
        );
        assert_eq!(codes_of(&m), vec![Code::DriftMachineUnknown]);
        // b's exact system_id match wins; a (by hostname, listed first) is the one refused.
        assert_eq!(m.findings[0].subject.machine.as_deref(), Some("node1"));
    }

    /// What a healthy machine would observe, built from its MAAS interfaces.
    fn observed_from_maas(p: &ProviderModel, m: &Machine) -> ObservedConfig {
        let mut links = Vec::new();
        let mut addrs = Vec::new();
        for (i, iface) in m.interfaces.iter().enumerate() {
            let ifindex = i as u32 + 2;
            let mut l = link(
                ifindex,
                &iface.name,
                iface
                    .mac
                    .as_ref()
                    .map(ToString::to_string)
                    .as_deref()
                    .unwrap_or("00:00:00:00:00:00"),
                iface.effective_mtu,
                true,
            );
            l.kind = match iface.kind {
                InterfaceKind::Bond => LinkKind::Bond,
                InterfaceKind::Vlan => LinkKind::Vlan,
                InterfaceKind::Bridge => LinkKind::Bridge,
                _ => LinkKind::Ethernet,
            };
            if iface.kind == InterfaceKind::Vlan {
                l.vlan_id = iface.vlan_id.and_then(|v| p.vlans.get(&v)).map(|v| v.vid);
            }
            links.push(l);
            for il in &iface.links {
                if let (Some(ip), Some(s)) = (il.ip, il.subnet_id.and_then(|s| p.subnets.get(&s))) {
                    addrs.push(addr(
                        ifindex,
                        &iface.name,
                        &ip.to_string(),
                        s.cidr.prefix_len(),
                    ));
                }
            }
        }
        observed(&m.hostname, None, links, addrs)
    }

    fn fixtures() -> ProviderModel {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/maas");
        preflight_maas::model_from_path(std::path::Path::new(dir)).unwrap()
    }

    #[test]
    fn maas_fixture_machines_merge_cleanly_when_reality_matches() {
        let p = fixtures();
        let agents: Vec<AgentInput> = p
            .machines
            .iter()
            .map(|m| input(&m.system_id, observed_from_maas(&p, m)))
            .collect();
        let m = merge(&p, &agents);
        assert!(m.findings.is_empty(), "{:#?}", m.findings);
        for (a, machine) in m.agents.iter().zip(&p.machines) {
            assert_eq!(
                a.system_id.as_deref(),
                Some(machine.system_id.as_str()),
                "matched by hostname"
            );
        }
        let g = m
            .agents
            .iter()
            .find(|a| a.system_id.as_deref() == Some("m2q9cd"))
            .unwrap();
        let storage = g
            .addresses
            .iter()
            .find(|x| x.address.to_string() == "10.40.0.31")
            .unwrap();
        assert_eq!(
            (storage.subnet_id, storage.space_id, storage.vlan_mtu),
            (16, 2, 9000)
        );
        assert_eq!(storage.link, "bond0.40");
    }

    #[test]
    fn maas_fixture_faults_are_found_on_the_right_interface() {
        let p = fixtures();
        let g = p.machine("m2q9cd").unwrap();
        let mut o = observed_from_maas(&p, g);
        o.links
            .iter_mut()
            .find(|l| l.name == "bond0.40")
            .unwrap()
            .mtu = 1500;
        let m = merge(&p, &[input("g", o)]);
        assert_eq!(codes_of(&m), vec![Code::DriftMtuMismatch]);
        assert_eq!(m.findings[0].subject.interface.as_deref(), Some("bond0.40"));
        assert_eq!(
            m.findings[0].subject.machine.as_deref(),
            Some(g.hostname.as_str())
        );

        let r = p.machine("k4p7ab").unwrap();
        let mut o = observed_from_maas(&p, r);
        o.links.retain(|l| l.name != "eno2.20");
        let m = merge(&p, &[input("r", o)]);
        assert_eq!(codes_of(&m), vec![Code::DriftInterfaceMissing]);
        assert_eq!(m.findings[0].subject.interface.as_deref(), Some("eno2.20"));
    }

    #[test]
    fn each_drift_fault_gives_its_code() {
        let p = provider();
        // interface missing: one finding, not one more per address it would have carried
        let mut o = healthy(1, None, "node1");
        o.links.retain(|l| l.name != "eth2");
        o.addresses.retain(|a| a.link != "eth2");
        let m = merge(&p, &[input("a", o)]);
        assert_eq!(codes_of(&m), vec![Code::DriftInterfaceMissing]);
        assert_eq!(m.findings[0].subject.interface.as_deref(), Some("eth2"));

        // address missing only
        let mut o = healthy(1, None, "node1");
        o.addresses.retain(|a| a.address.to_string() != "10.30.0.1");
        let m = merge(&p, &[input("a", o)]);
        assert_eq!(codes_of(&m), vec![Code::DriftAddressMissing]);
        assert_eq!(
            m.findings[0].subject.subnet.as_deref(),
            Some("10.30.0.0/24")
        );

        // address unexpected (extra address in a known subnet)
        let mut o = healthy(1, None, "node1");
        o.addresses.push(addr(4, "eth2", "10.30.0.55", 24));
        let m = merge(&p, &[input("a", o)]);
        assert_eq!(codes_of(&m), vec![Code::DriftAddressUnexpected]);
        assert_eq!(m.findings[0].severity, Severity::Warning);

        // mtu mismatch (jumbo VLAN, 1500 on the host)
        let mut o = healthy(1, None, "node1");
        o.links[2].mtu = 1500;
        let m = merge(&p, &[input("a", o)]);
        assert_eq!(codes_of(&m), vec![Code::DriftMtuMismatch]);
        assert!(m.findings[0].message.contains("9000"));

        // link down
        let mut o = healthy(1, None, "node1");
        o.links[0].oper_state = "lowerlayerdown".into();
        let m = merge(&p, &[input("a", o)]);
        assert_eq!(codes_of(&m), vec![Code::DriftLinkDown]);
        assert_eq!(m.findings[0].subject.interface.as_deref(), Some("eth0"));

        // an address outside every subnet is ignored, not unexpected
        let mut o = healthy(1, None, "node1");
        o.addresses.push(addr(2, "eth0", "192.168.77.1", 24));
        assert!(merge(&p, &[input("a", o)]).findings.is_empty());
    }
}
