//! The provider model: what MAAS says the network and the machines are (the intent).
//!
//! Built by `preflight-maas` from a live MAAS or a snapshot file; read by validate, merge,
//! plan and report. Spaces, VLANs and subnets are keyed by MAAS id, never by name or CIDR:
//! two fabrics can carry the same CIDR.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub use crate::vocab::{BondMode, LinkMode, MachineStatus};

/// Id MAAS gives the pseudo-space `undefined`.
pub const UNDEFINED_SPACE_ID: i64 = -1;

/// MAAS's view of the network and the machines.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderModel {
    /// MAAS version string, when known.
    pub version: Option<String>,
    /// Real spaces by id (the pseudo-space `undefined` is not here: see [`Subnet::space_id`]).
    pub spaces: BTreeMap<i64, Space>,
    /// Fabrics by id.
    pub fabrics: BTreeMap<i64, Fabric>,
    /// VLANs by id (MAAS's VLAN object id, not the 802.1Q vid).
    pub vlans: BTreeMap<i64, Vlan>,
    /// Subnets by id.
    pub subnets: BTreeMap<i64, Subnet>,
    /// Machines, ordered by system_id.
    pub machines: Vec<Machine>,
    /// Zone names.
    pub zones: Vec<String>,
    /// Resource pool names.
    pub pools: Vec<String>,
    /// Tag names.
    pub tags: Vec<String>,
    /// IP ranges (MAAS `ipranges`: dynamic for DHCP, reserved), empty when MAAS gave none.
    #[serde(default)]
    pub ip_ranges: Vec<IpRange>,
}

/// What a MAAS IP range is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpRangeKind {
    /// Handed out by MAAS's DHCP server.
    Dynamic,
    /// Kept out of MAAS's allocation (for something outside MAAS).
    Reserved,
    /// Any other type, with MAAS's type string.
    Other(String),
}

/// A MAAS IP range of a subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpRange {
    /// MAAS id.
    pub id: i64,
    /// Dynamic, reserved, ...
    pub kind: IpRangeKind,
    /// First address of the range.
    pub start: IpAddr,
    /// Last address of the range (inclusive).
    pub end: IpAddr,
    /// Subnet id, when MAAS names it.
    pub subnet_id: Option<i64>,
    /// MAAS's comment, when any.
    pub comment: Option<String>,
}

impl IpRange {
    /// Whether `addr` lies in the range (same family, start ≤ addr ≤ end).
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.start, self.end, addr) {
            (IpAddr::V4(s), IpAddr::V4(e), IpAddr::V4(a)) => s <= a && a <= e,
            (IpAddr::V6(s), IpAddr::V6(e), IpAddr::V6(a)) => s <= a && a <= e,
            _ => false,
        }
    }
}

impl ProviderModel {
    /// The space with this name, when any.
    pub fn space_by_name(&self, name: &str) -> Option<&Space> {
        self.spaces.values().find(|s| s.name == name)
    }

    /// The subnets of a space.
    pub fn subnets_in_space(&self, space_id: i64) -> impl Iterator<Item = &Subnet> {
        self.subnets
            .values()
            .filter(move |s| s.space_id == Some(space_id))
    }

    /// The machine with this system_id, when any.
    pub fn machine(&self, system_id: &str) -> Option<&Machine> {
        self.machines.iter().find(|m| m.system_id == system_id)
    }

    /// The space a subnet is in, when it is in a real space.
    pub fn space_of_subnet(&self, subnet_id: i64) -> Option<&Space> {
        self.subnets
            .get(&subnet_id)
            .and_then(|s| s.space_id)
            .and_then(|id| self.spaces.get(&id))
    }
}

/// A Juju/MAAS space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Space {
    /// MAAS id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Description, when any.
    pub description: Option<String>,
}

/// A fabric (a set of VLANs that are connected at layer 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fabric {
    /// MAAS id.
    pub id: i64,
    /// Name.
    pub name: String,
}

/// A VLAN on a fabric.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vlan {
    /// MAAS id of the VLAN object.
    pub id: i64,
    /// Fabric id.
    pub fabric_id: i64,
    /// 802.1Q VLAN id (0 = untagged).
    pub vid: u16,
    /// Name (MAAS allows none).
    pub name: Option<String>,
    /// MTU of the VLAN.
    pub mtu: u32,
    /// Space id; `None` when in no space (`undefined`).
    pub space_id: Option<i64>,
}

/// A subnet on a VLAN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    /// MAAS id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// CIDR.
    pub cidr: IpNet,
    /// VLAN id (MAAS's VLAN object id).
    pub vlan_id: i64,
    /// Space id; `None` when in no space (`undefined`).
    pub space_id: Option<i64>,
    /// Gateway, when any.
    pub gateway: Option<IpAddr>,
    /// Whether MAAS manages addresses in it.
    pub managed: bool,
    /// The DNS servers MAAS gives machines in this subnet (`dns_servers`); empty when none.
    #[serde(default)]
    pub dns_servers: Vec<IpAddr>,
}

/// A machine known to MAAS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// MAAS system_id.
    pub system_id: String,
    /// Hostname.
    pub hostname: String,
    /// Fully qualified domain name, when any.
    pub fqdn: Option<String>,
    /// Status name (Ready, Allocated, Deployed, ...).
    pub status: MachineStatus,
    /// Architecture, e.g. amd64/generic.
    pub architecture: Option<String>,
    /// CPU cores.
    pub cpu_count: Option<u32>,
    /// CPU speed in MHz, when known (Juju's cpu-power is 100 per GHz).
    pub cpu_speed_mhz: Option<u64>,
    /// Memory in MiB.
    pub memory_mib: Option<u64>,
    /// Size of the root (boot) disk in MiB, when known.
    pub root_disk_mib: Option<u64>,
    /// Zone name.
    pub zone: Option<String>,
    /// Resource pool name.
    pub pool: Option<String>,
    /// Tag names.
    pub tags: Vec<String>,
    /// Interfaces.
    pub interfaces: Vec<Interface>,
    /// Addresses MAAS lists for the machine.
    pub ip_addresses: Vec<IpAddr>,
}

impl Machine {
    /// The ids of the spaces this machine is in: the one definition validate and check share.
    ///
    /// MAAS attaches spaces to VLANs: an interface on a VLAN of a space is in it, and so is
    /// every interface that links to a subnet of it.
    pub fn space_ids(&self, model: &ProviderModel) -> std::collections::BTreeSet<i64> {
        let mut out = std::collections::BTreeSet::new();
        for iface in &self.interfaces {
            if let Some(sp) = iface
                .vlan_id
                .and_then(|v| model.vlans.get(&v))
                .and_then(|v| v.space_id)
            {
                out.insert(sp);
            }
            for link in &iface.links {
                if let Some(sp) = link
                    .subnet_id
                    .and_then(|s| model.subnets.get(&s))
                    .and_then(|s| s.space_id)
                {
                    out.insert(sp);
                }
            }
        }
        out
    }

    /// The names of the (real) spaces this machine is in; see [`Machine::space_ids`].
    pub fn space_names<'a>(&self, model: &'a ProviderModel) -> std::collections::BTreeSet<&'a str> {
        self.space_ids(model)
            .into_iter()
            .filter_map(|id| model.spaces.get(&id).map(|s| s.name.as_str()))
            .collect()
    }
}

/// Kind of a MAAS interface.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InterfaceKind {
    /// A physical NIC.
    Physical,
    /// A bond.
    Bond,
    /// A VLAN sub-interface.
    Vlan,
    /// A bridge.
    Bridge,
    /// Any other type, with MAAS's type string.
    Other(String),
}

/// An interface of a machine, as MAAS models it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    /// MAAS id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: InterfaceKind,
    /// MAC address, when any.
    pub mac: Option<crate::vocab::MacAddr>,
    /// Whether the interface is enabled in MAAS.
    pub enabled: bool,
    /// VLAN id (MAAS's VLAN object id), when any.
    pub vlan_id: Option<i64>,
    /// Effective MTU as MAAS computes it.
    pub effective_mtu: u32,
    /// Names of parent interfaces.
    pub parents: Vec<String>,
    /// Names of child interfaces.
    pub children: Vec<String>,
    /// Bond mode, for bonds.
    pub bond_mode: Option<BondMode>,
    /// Links (address assignments).
    pub links: Vec<InterfaceLink>,
}

/// A link of an interface to a subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceLink {
    /// MAAS id.
    pub id: i64,
    /// Mode: auto, static, dhcp, link_up, discovered.
    pub mode: LinkMode,
    /// Subnet id, when any.
    pub subnet_id: Option<i64>,
    /// Address, when assigned.
    pub ip: Option<IpAddr>,
}
