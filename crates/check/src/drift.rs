//! Drift: what a machine's observed configuration says against what MAAS says, one function
//! per `drift.*` code. The merge ([`crate::merge`]) resolves which MAAS machine, interface and
//! subnet each observed agent, link and address is; the rules here only judge the result.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use preflight_model::observed::{Address, Link};
use preflight_model::provider::{Interface, Machine, ProviderModel, Subnet, Vlan};
use preflight_model::report::{Code, Finding, Severity, Subject};

/// The drift checks every agent is evaluated on.
pub const CHECKS: [Code; 6] = [
    Code::DriftMachineUnknown,
    Code::DriftInterfaceMissing,
    Code::DriftAddressMissing,
    Code::DriftAddressUnexpected,
    Code::DriftMtuMismatch,
    Code::DriftLinkDown,
];

/// Why an agent has no MAAS machine.
#[derive(Debug, Clone, PartialEq)]
pub enum Unmatched<'a> {
    /// It matches a machine another agent already matched.
    Claimed {
        /// The machine.
        machine: &'a Machine,
        /// The agent that matched it first.
        by: &'a str,
    },
    /// It matches no machine, for this reason.
    None(String),
    /// It matches several machines (their system_ids).
    Ambiguous(Vec<String>),
}

fn subject(machine: &str, iface: Option<&str>) -> Subject {
    Subject {
        machine: Some(machine.to_string()),
        interface: iface.map(str::to_string),
        ..Subject::default()
    }
}

/// `drift.machine-unknown`: agent `agent_id` (on host `hostname`) has no MAAS machine.
pub fn machine_unknown(agent_id: &str, hostname: &str, why: &Unmatched<'_>) -> Finding {
    let (message, hint) = match why {
        Unmatched::Claimed { machine, by } => (
            format!(
                "agent {agent_id} matches MAAS machine {} ({}), which agent {by} already matched",
                machine.hostname, machine.system_id
            ),
            "give each agent its own --machine-id SYSTEM_ID",
        ),
        Unmatched::None(why) => (
            format!("agent {agent_id} matches no MAAS machine: {why}"),
            "run the agent with --machine-id SYSTEM_ID, or fix the hostname/MACs in MAAS",
        ),
        Unmatched::Ambiguous(ids) => (
            format!(
                "agent {agent_id} matches several MAAS machines: {}",
                ids.join(", ")
            ),
            "run the agent with --machine-id SYSTEM_ID",
        ),
    };
    Finding::new(Code::DriftMachineUnknown, subject(hostname, None), message).with_hint(hint)
}

/// `drift.address-unexpected`: `name` has address `a` in MAAS subnet `subnet`, and MAAS does
/// not list it for machine `m`.
pub fn address_unexpected(
    m: &Machine,
    name: &str,
    a: &Address,
    subnet: &Subnet,
) -> Option<Finding> {
    let listed = m.ip_addresses.contains(&a.address)
        || m.interfaces
            .iter()
            .flat_map(|i| &i.links)
            .any(|l| l.ip == Some(a.address));
    if listed {
        return None;
    }
    Some(
        Finding::new(
            Code::DriftAddressUnexpected,
            Subject {
                subnet: Some(subnet.cidr.to_string()),
                ..subject(name, Some(&a.link))
            },
            format!(
                "{name} has {} on {} in subnet {}, which MAAS does not list for this machine",
                a.address, a.link, subnet.cidr
            ),
        )
        .with_hint("remove the address, or record it in MAAS"),
    )
}

/// `drift.interface-missing`: MAAS interface `iface` of `name` matched no observed link. An
/// error when it links to a subnet, a warning otherwise; nothing for an interface with neither
/// a MAC nor a subnet link (nothing to look for).
pub fn interface_missing(name: &str, iface: &Interface) -> Option<Finding> {
    let linked = iface.links.iter().any(|l| l.subnet_id.is_some());
    if iface.mac.is_none() && !linked {
        return None;
    }
    Some(
        Finding::new(
            Code::DriftInterfaceMissing,
            subject(name, Some(&iface.name)),
            format!(
                "MAAS has interface {} ({}) on {name}, but the machine has no link with that MAC",
                iface.name,
                iface
                    .mac
                    .as_ref()
                    .map_or_else(|| "no MAC".to_string(), |m| m.to_string())
            ),
        )
        .with_severity(if linked {
            Severity::Error
        } else {
            Severity::Warning
        })
        .with_hint("check cabling and the netplan configuration, or update MAAS"),
    )
}

/// Whether a link counts as up (admin up and not operationally down).
pub fn link_is_up(link: &Link) -> bool {
    link.admin_up && !link.oper_state.is_down()
}

/// `drift.link-down`: observed `link` (MAAS interface `iface`, which links to a subnet) is not up.
pub fn link_down(name: &str, iface: &Interface, link: &Link) -> Option<Finding> {
    let linked = iface.links.iter().any(|l| l.subnet_id.is_some());
    if !linked || link_is_up(link) {
        return None;
    }
    Some(
        Finding::new(
            Code::DriftLinkDown,
            subject(name, Some(&link.name)),
            format!(
                "{} on {name} (MAAS interface {}) is {} (admin {})",
                link.name,
                iface.name,
                link.oper_state,
                if link.admin_up { "up" } else { "down" }
            ),
        )
        .with_hint("bring the link up and check the switch port"),
    )
}

/// `drift.mtu-mismatch`: observed `link`'s MTU is below the MTU of its MAAS VLAN.
pub fn mtu_mismatch(name: &str, link: &Link, vlan: &Vlan) -> Option<Finding> {
    if link.mtu >= vlan.mtu {
        return None;
    }
    Some(
        Finding::new(
            Code::DriftMtuMismatch,
            subject(name, Some(&link.name)),
            format!(
                "{} on {name} has MTU {}, below the MTU {} of its VLAN (vid {})",
                link.name, link.mtu, vlan.mtu, vlan.vid
            ),
        )
        .with_hint("raise the interface MTU (netplan `mtu:`) to the VLAN's MTU"),
    )
}

/// `drift.address-missing`: every sticky (static or auto) MAAS address of `iface` must be on
/// the machine (`observed`: every address it has). DHCP and discovered leases may change.
pub fn address_missing(
    provider: &ProviderModel,
    name: &str,
    iface: &Interface,
    observed: &BTreeSet<IpAddr>,
) -> Vec<Finding> {
    iface
        .links
        .iter()
        .filter(|l| l.mode.is_sticky())
        .filter_map(|l| Some((l, l.ip?)))
        .filter(|(_, ip)| !observed.contains(ip))
        .map(|(l, ip)| {
            let cidr = l
                .subnet_id
                .and_then(|s| provider.subnets.get(&s))
                .map(|s| s.cidr.to_string());
            Finding::new(
                Code::DriftAddressMissing,
                Subject {
                    subnet: cidr,
                    ..subject(name, Some(&iface.name))
                },
                format!(
                    "MAAS assigns {ip} to {} on {name}, but the machine does not have it",
                    iface.name
                ),
            )
            .with_hint("configure the address (netplan) or release it in MAAS")
        })
        .collect()
}

/// Every interface rule, for MAAS machine `m` as agent `name`: `matched` maps each MAAS
/// interface id to the observed link the merge resolved it to.
pub fn interfaces(
    provider: &ProviderModel,
    m: &Machine,
    name: &str,
    matched: &BTreeMap<i64, &Link>,
    observed: &BTreeSet<IpAddr>,
    findings: &mut Vec<Finding>,
) {
    for iface in m.interfaces.iter().filter(|i| i.enabled) {
        let Some(link) = matched.get(&iface.id) else {
            findings.extend(interface_missing(name, iface));
            continue;
        };
        findings.extend(link_down(name, iface, link));
        if let Some(vlan) = iface.vlan_id.and_then(|v| provider.vlans.get(&v)) {
            findings.extend(mtu_mismatch(name, link, vlan));
        }
        findings.extend(address_missing(provider, name, iface, observed));
    }
}
