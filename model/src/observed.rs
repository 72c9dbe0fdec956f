//! What an agent sees on its machine: links, addresses and routes read through netlink.
//!
//! Produced by `preflight-agent observe`, consumed by the coordinator's merge step.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub use crate::vocab::{BondMode, OperState, RouteProtocol, RouteType, Scope};

/// Schema string of [`ObservedConfig`] documents.
pub const OBSERVED_SCHEMA: &str = "preflight.observed/v1";

/// A machine's observed network configuration, as one JSON document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedConfig {
    /// Always [`OBSERVED_SCHEMA`].
    pub schema: String,
    /// Who observed this, where and when.
    pub identity: Identity,
    /// Every link (network interface) in the namespace, ordered by ifindex.
    pub links: Vec<Link>,
    /// Every IPv4 and IPv6 address, ordered by ifindex then address.
    pub addresses: Vec<Address>,
    /// Every route of every table, IPv4 and IPv6.
    pub routes: Vec<Route>,
    /// The default gateways per family (routes to 0.0.0.0/0 or ::/0 in the main table).
    pub default_gateways: Vec<DefaultGateway>,
    /// The name servers of `/etc/resolv.conf` (the first three, as glibc reads them), when
    /// readable: the DNS servers checked where MAAS gives a subnet none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolvers: Vec<std::net::IpAddr>,
}

/// Identity of the observing machine and agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The kernel's hostname (uname nodename).
    pub hostname: String,
    /// Contents of /etc/machine-id, when present.
    pub machine_id: Option<String>,
    /// The MAAS system_id given with `--machine-id`, when given.
    pub system_id: Option<String>,
    /// Version of the agent that produced the document.
    pub agent_version: String,
    /// When the observation was made, RFC 3339 UTC.
    pub observed_at: String,
}

/// Kind of a link, from the kernel's IFLA_INFO_KIND (or loopback/ethernet when there is none).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum LinkKind {
    /// The loopback device.
    Loopback,
    /// A physical (or otherwise kind-less) Ethernet device.
    Ethernet,
    /// One end of a veth pair.
    Veth,
    /// A Linux bridge.
    Bridge,
    /// A bond (link aggregation).
    Bond,
    /// An 802.1Q VLAN sub-interface.
    Vlan,
    /// A macvlan device.
    Macvlan,
    /// A VXLAN tunnel device.
    Vxlan,
    /// A dummy device.
    Dummy,
    /// Any other kind, with the kernel's kind string.
    Other(String),
}

impl LinkKind {
    /// The kind as the kernel (and `ip -d link`) names it.
    pub fn as_str(&self) -> &str {
        match self {
            LinkKind::Loopback => "loopback",
            LinkKind::Ethernet => "ethernet",
            LinkKind::Veth => "veth",
            LinkKind::Bridge => "bridge",
            LinkKind::Bond => "bond",
            LinkKind::Vlan => "vlan",
            LinkKind::Macvlan => "macvlan",
            LinkKind::Vxlan => "vxlan",
            LinkKind::Dummy => "dummy",
            LinkKind::Other(s) => s,
        }
    }
}

impl From<String> for LinkKind {
    fn from(s: String) -> Self {
        match s.as_str() {
            "loopback" => LinkKind::Loopback,
            "ethernet" => LinkKind::Ethernet,
            "veth" => LinkKind::Veth,
            "bridge" => LinkKind::Bridge,
            "bond" => LinkKind::Bond,
            "vlan" => LinkKind::Vlan,
            "macvlan" => LinkKind::Macvlan,
            "vxlan" => LinkKind::Vxlan,
            "dummy" => LinkKind::Dummy,
            _ => LinkKind::Other(s),
        }
    }
}

impl From<LinkKind> for String {
    fn from(k: LinkKind) -> Self {
        k.as_str().to_string()
    }
}

impl std::fmt::Display for LinkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One network link (interface).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// Kernel interface index.
    pub ifindex: u32,
    /// Interface name (non-UTF-8 bytes replaced with U+FFFD).
    pub name: String,
    /// Kind of link.
    pub kind: LinkKind,
    /// Hardware address, when the link has one.
    pub mac: Option<crate::vocab::MacAddr>,
    /// MTU in bytes.
    pub mtu: u32,
    /// Administratively up (IFF_UP).
    pub admin_up: bool,
    /// Operational state as the kernel names it, lower case: up, down, lowerlayerdown, unknown, dormant, notpresent, testing.
    pub oper_state: OperState,
    /// Carrier present (IFLA_CARRIER), when the kernel says.
    pub carrier: Option<bool>,
    /// Name of the bridge or bond this link is enslaved to.
    pub master: Option<String>,
    /// Ifindex of the master.
    pub master_ifindex: Option<u32>,
    /// Name of the parent link (vlan, macvlan, vxlan underlay, veth peer when in this namespace).
    pub parent: Option<String>,
    /// Ifindex of the parent link (IFLA_LINK), when in this namespace.
    pub parent_ifindex: Option<u32>,
    /// 802.1Q VLAN id, for VLAN links.
    pub vlan_id: Option<u16>,
    /// VXLAN network identifier, for VXLAN links.
    pub vxlan_id: Option<u32>,
    /// Bond details, for bonds.
    pub bond: Option<BondInfo>,
    /// Names of the ports of this bridge, for bridges.
    pub bridge_ports: Vec<String>,
}

/// Details of a bond link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BondInfo {
    /// Bonding mode as the kernel names it (balance-rr, active-backup, 802.3ad, ...).
    pub mode: BondMode,
    /// Names of the enslaved links.
    pub slaves: Vec<String>,
}

/// Address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// IPv4.
    Inet,
    /// IPv6.
    Inet6,
}

impl Family {
    /// The family of an IP address.
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Inet,
            IpAddr::V6(_) => Family::Inet6,
        }
    }
}

/// One IP address on a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Ifindex of the owning link.
    pub ifindex: u32,
    /// Name of the owning link.
    pub link: String,
    /// The address.
    pub address: IpAddr,
    /// Prefix length.
    pub prefix_len: u8,
    /// Address family.
    pub family: Family,
    /// Scope as `ip` names it: global, site, link, host, or a number.
    pub scope: Scope,
    /// Address flags.
    pub flags: AddressFlags,
}

impl Address {
    /// The network this address is in (address with prefix, host bits cleared).
    pub fn network(&self) -> Option<IpNet> {
        IpNet::new(self.address, self.prefix_len)
            .ok()
            .map(|n| n.trunc())
    }
}

/// Flags of an address that matter to preflight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressFlags {
    /// Duplicate address detection still running (IPv6).
    pub tentative: bool,
    /// Preferred lifetime expired.
    pub deprecated: bool,
    /// Duplicate address detection failed.
    pub dadfailed: bool,
    /// Static address (no lifetime).
    pub permanent: bool,
}

/// One route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Address family.
    pub family: Family,
    /// Route type as `ip` names it: unicast, local, broadcast, multicast, blackhole, unreachable, prohibit, ...
    pub route_type: RouteType,
    /// Destination network; `None` for the default route.
    pub destination: Option<IpNet>,
    /// Gateway (next hop), when any.
    pub gateway: Option<IpAddr>,
    /// Preferred source address, when set.
    pub prefsrc: Option<IpAddr>,
    /// Name of the output link, when any.
    pub oif: Option<String>,
    /// Ifindex of the output link, when any.
    pub oif_index: Option<u32>,
    /// Routing table id (254 main, 255 local, 253 default).
    pub table: u32,
    /// Metric (priority), when set.
    pub metric: Option<u32>,
    /// Protocol as `ip` names it: kernel, boot, static, dhcp, ra, ... or a number.
    pub protocol: RouteProtocol,
    /// Scope as `ip` names it: universe (global), link, host, or a number.
    pub scope: Scope,
}

/// A default gateway of one family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultGateway {
    /// Address family.
    pub family: Family,
    /// Gateway address, when the default route has one.
    pub gateway: Option<IpAddr>,
    /// Output link name.
    pub oif: Option<String>,
    /// Metric.
    pub metric: Option<u32>,
}
