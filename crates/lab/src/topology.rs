//! The lab topology file (TOML): what the network should be (intent, which becomes the MAAS
//! snapshot) and which faults reality has (applied after the snapshot is taken).
//!
//! [`Topology::parse`] reads and validates a file into a [`Topology`]: every name is resolved,
//! every MAAS id, MAC and system_id is assigned, so the builder and the snapshot writer never
//! fail on a reference. The format is documented in `docs/lab.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

/// Errors of reading a topology file.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// The file is not valid TOML or does not have the expected fields.
    #[error("{origin}: {message}")]
    Syntax {
        /// File name (or "<scenario NAME>").
        origin: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The file parses but is inconsistent.
    #[error("{origin}: {what}")]
    Invalid {
        /// File name.
        origin: String,
        /// What is wrong, naming the host, interface, subnet or fault.
        what: String,
    },
}

// ---------------------------------------------------------------------------------------
// The file as written.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTopology {
    name: String,
    description: String,
    #[serde(default)]
    check: FileCheck,
    #[serde(default)]
    management: FileManagement,
    #[serde(default)]
    lab: FileLab,
    #[serde(default)]
    dns: Option<DnsSettings>,
    #[serde(default)]
    spaces: Vec<FileSpace>,
    #[serde(default)]
    fabrics: Vec<FileFabric>,
    #[serde(default)]
    subnets: Vec<FileSubnet>,
    #[serde(default)]
    hosts: Vec<FileHost>,
    #[serde(default)]
    host_groups: Vec<FileHostGroup>,
    #[serde(default)]
    routers: Vec<FileRouter>,
    #[serde(default)]
    faults: Vec<Fault>,
    #[serde(default)]
    expect: Vec<ExpectedFinding>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCheck {
    #[serde(default)]
    deadline_secs: Option<u64>,
    #[serde(default)]
    count: Option<u32>,
    #[serde(default)]
    isolate: Vec<[String; 2]>,
    #[serde(default)]
    controllers: Vec<String>,
    #[serde(default)]
    mgmt_space: Option<String>,
    #[serde(default)]
    ha_space: Option<String>,
    /// The Juju bundle the check validates and probes the relations of (YAML text).
    #[serde(default)]
    bundle: Option<String>,
    /// `--isolation` (`none` or `bundle`).
    #[serde(default)]
    isolation: Option<String>,
    /// `--allow A:B` pairs.
    #[serde(default)]
    allow: Vec<[String; 2]>,
}

/// The lab's DNS server (`[dns]`): one host answers UDP 53 on every address for the lab's
/// zone, and MAAS gives every subnet it has an address in that address as `dns_servers`.
/// Records: `HOST.SPACE.DOMAIN` A/AAAA → the host's address in that space, and its PTR back.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSettings {
    /// The host that serves DNS.
    pub host: String,
    /// The lab's domain (default `lab`).
    #[serde(default = "default_domain")]
    pub domain: String,
    /// Spaces whose reverse zone is delegated RFC 2317-style: the PTR query is answered with
    /// a CNAME into `N.0/PREFIX.…in-addr.arpa`, where the PTR is.
    #[serde(default)]
    pub rfc2317: Vec<String>,
}

fn default_domain() -> String {
    "lab".into()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLab {
    #[serde(default)]
    static_neighbours: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileManagement {
    #[serde(default = "default_mgmt_cidr")]
    cidr: ipnet::Ipv4Net,
}

impl Default for FileManagement {
    fn default() -> Self {
        FileManagement {
            cidr: default_mgmt_cidr(),
        }
    }
}

fn default_mgmt_cidr() -> ipnet::Ipv4Net {
    ipnet::Ipv4Net::new(std::net::Ipv4Addr::new(10, 254, 0, 0), 16).unwrap_or_default()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpace {
    name: String,
    #[serde(default)]
    description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFabric {
    name: String,
    #[serde(default)]
    vlans: Vec<FileVlan>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileVlan {
    vid: u16,
    #[serde(default)]
    name: Option<String>,
    #[serde(default = "default_mtu")]
    mtu: u32,
    #[serde(default)]
    space: Option<String>,
}

fn default_mtu() -> u32 {
    1500
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSubnet {
    cidr: IpNet,
    fabric: String,
    vid: u16,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    gateway: Option<IpAddr>,
    #[serde(default = "yes")]
    managed: bool,
    /// MAAS dynamic (DHCP) ranges, `[first, last]` each.
    #[serde(default)]
    dynamic_ranges: Vec<[IpAddr; 2]>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHost {
    name: String,
    #[serde(default)]
    system_id: Option<String>,
    #[serde(default = "yes")]
    in_maas: bool,
    #[serde(default)]
    zone: Option<String>,
    #[serde(default)]
    interfaces: Vec<FileInterface>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileInterface {
    name: String,
    subnet: IpNet,
    /// The subnet's fabric, needed when its CIDR is reused on another fabric.
    #[serde(default)]
    fabric: Option<String>,
    #[serde(default)]
    address: Option<IpAddr>,
    #[serde(default)]
    mac: Option<String>,
    #[serde(default)]
    mtu: Option<u32>,
    #[serde(default)]
    parent: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHostGroup {
    prefix: String,
    count: u32,
    #[serde(default)]
    zone: Option<String>,
    #[serde(default)]
    interfaces: Vec<FileGroupInterface>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGroupInterface {
    name: String,
    subnet: IpNet,
    /// Host offset of the first member's address (member i gets `network + first + i`).
    first: u32,
    #[serde(default)]
    mtu: Option<u32>,
    #[serde(default)]
    parent: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRouter {
    name: String,
    #[serde(default = "yes")]
    forwarding: bool,
    interfaces: Vec<FileRouterInterface>,
    /// Subnet pairs the router must not forward between (both directions).
    #[serde(default)]
    deny: Vec<[IpNet; 2]>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRouterInterface {
    subnet: IpNet,
    #[serde(default)]
    address: Option<IpAddr>,
}

// ---------------------------------------------------------------------------------------
// The resolved topology.
// ---------------------------------------------------------------------------------------

/// A fault: how reality differs from the intent. Applied after the snapshot is taken.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// The host's interface is set down.
    LinkDown {
        /// Host name.
        host: String,
        /// Interface name.
        interface: String,
    },
    /// The host's interface MTU is lowered (or raised).
    HostMtu {
        /// Host name.
        host: String,
        /// Interface name.
        interface: String,
        /// New MTU.
        mtu: u32,
    },
    /// The switch port the host's interface plugs into gets this MTU (a silent blackhole).
    SwitchPortMtu {
        /// Host name.
        host: String,
        /// Interface name.
        interface: String,
        /// New MTU of the switch port.
        mtu: u32,
    },
    /// The switch port does not carry the interface's VLAN: the port leaves its bridge, the
    /// host side stays up with its address.
    VlanMissing {
        /// Host name.
        host: String,
        /// Interface name.
        interface: String,
    },
    /// The switch port of a NIC forwards nothing (blocked, err-disabled with carrier kept):
    /// the port of the interface and of every VLAN interface on it leaves its bridge.
    PortDead {
        /// Host name.
        host: String,
        /// Interface (NIC) name.
        interface: String,
    },
    /// nftables on `to` drops ICMP echo requests from `from` (one direction only), for the
    /// addresses the two hosts have in `subnet` (every shared subnet when omitted).
    Drop {
        /// Sending host.
        from: String,
        /// Receiving host (where the rule sits).
        to: String,
        /// Subnet CIDR, when only one.
        #[serde(default)]
        subnet: Option<IpNet>,
    },
    /// nftables on the host drops `percent` % of the packets arriving on the interface
    /// (`numgen random mod 100 < percent`).
    Loss {
        /// Host name.
        host: String,
        /// Interface name.
        interface: String,
        /// Percentage 1–100.
        percent: u8,
    },
    /// The interface's address is replaced by `address`.
    WrongAddress {
        /// Host name.
        host: String,
        /// Interface name.
        interface: String,
        /// The address the host really has (prefix of its subnet).
        address: IpAddr,
    },
    /// The interface gets `address` in addition to its MAAS address.
    ExtraAddress {
        /// Host name.
        host: String,
        /// Interface name.
        interface: String,
        /// The extra address (prefix of its subnet).
        address: IpAddr,
    },
    /// The interface's address is removed.
    MissingAddress {
        /// Host name.
        host: String,
        /// Interface name.
        interface: String,
    },
    /// The interface is deleted from the host.
    MissingInterface {
        /// Host name.
        host: String,
        /// Interface name.
        interface: String,
    },
    /// The interface also gets the address `of` has in the same subnet (a copied netplan, a
    /// VIP left on two hosts): two machines answer for one address.
    DuplicateAddress {
        /// Host that gets the copy.
        host: String,
        /// Its interface (in the subnet of the copied address).
        interface: String,
        /// Host whose address is copied.
        of: String,
    },
    /// The subnet's gateway (the lab's responder on the VLAN, or the router leg holding it)
    /// loses its address: nothing answers for MAAS's `gateway_ip`.
    DeadGateway {
        /// Subnet CIDR.
        subnet: IpNet,
    },
    /// nftables on the controller host drops TCP 17070 and 37017 to its addresses in
    /// `space`: the controller is unreachable from that space only.
    ControllerPortDropped {
        /// Controller host.
        host: String,
        /// Space name.
        space: String,
    },
    /// nftables on the DNS host drops UDP 53 to its addresses in `space`: the server does not
    /// answer that space.
    DnsPortDropped {
        /// The DNS host.
        host: String,
        /// Space name.
        space: String,
    },
    /// The lab's DNS server has no PTR record for the host's address in `space`.
    DnsPtrMissing {
        /// Host name.
        host: String,
        /// Space name.
        space: String,
    },
    /// The lab's DNS server resolves the host's name in `space` to `address` instead of
    /// the host's address there (the PTR still names it).
    DnsWrongA {
        /// Host name.
        host: String,
        /// Space name.
        space: String,
        /// The wrong address the A (or AAAA) record gives.
        address: IpAddr,
    },
    /// A router that should not forward does (IP forwarding on).
    RouterForwards {
        /// Router name.
        router: String,
    },
    /// The router drops what it forwards from subnet `from` to subnet `to` (a forgotten
    /// route or firewall opening, one direction; replies the other way die with it).
    RouterDrop {
        /// Router name.
        router: String,
        /// Source subnet CIDR (one of the router's legs).
        from: IpNet,
        /// Destination subnet CIDR (one of the router's legs).
        to: IpNet,
    },
    /// The router's `deny` filter is missing: it forwards between the subnets it should keep
    /// apart.
    RouterDenyMissing {
        /// Router name.
        router: String,
    },
    /// No agent runs on this host (the demo skips it): the coordinator waits for it in vain.
    NoAgent {
        /// Host name.
        host: String,
    },
}

/// A finding a scenario expects from the check: code plus the subject fields that matter.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedFinding {
    /// Finding code (a known one: the scenario check refuses others).
    pub code: preflight_model::report::Code,
    /// Machine (hostname or system_id), when it matters.
    #[serde(default)]
    pub machine: Option<String>,
    /// Space, when it matters.
    #[serde(default)]
    pub space: Option<String>,
    /// Interface, when it matters.
    #[serde(default)]
    pub interface: Option<String>,
    /// Probe source (machine or address), when it matters.
    #[serde(default)]
    pub source: Option<String>,
    /// Probe target (machine or address), when it matters.
    #[serde(default)]
    pub target: Option<String>,
    /// Severity the finding must have (default: error).
    #[serde(default = "default_severity")]
    pub severity: preflight_model::report::Severity,
}

fn default_severity() -> preflight_model::report::Severity {
    preflight_model::report::Severity::Error
}

/// Settings the demo passes to `preflight check`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckSettings {
    /// `--deadline`, seconds.
    pub deadline_secs: Option<u64>,
    /// `--count` (echo requests per probe), when the scenario needs a particular one.
    pub count: Option<u32>,
    /// `--isolate A:B` pairs.
    pub isolate: Vec<(String, String)>,
    /// Hosts that play Juju controllers: the demo listens on TCP 17070 (and 37017 with an HA
    /// space) in them and passes their addresses (in the management space) as `--controller`.
    pub controllers: Vec<String>,
    /// `--mgmt-space`.
    pub mgmt_space: Option<String>,
    /// `--ha-space`.
    pub ha_space: Option<String>,
    /// The bundle to pass as `--bundle` (YAML text), when any.
    pub bundle: Option<String>,
    /// `--isolation` value, when any (`none` or `bundle`).
    pub isolation: Option<String>,
    /// `--allow A:B` pairs.
    pub allow: Vec<(String, String)>,
}

/// A space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Space {
    /// MAAS id (1, 2, ... in file order).
    pub id: i64,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
}

/// A fabric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fabric {
    /// MAAS id (0, 1, ... in file order).
    pub id: i64,
    /// Name.
    pub name: String,
}

/// A VLAN (its own bridge in the fabric's switch namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vlan {
    /// MAAS VLAN object id (5001, 5002, ...).
    pub id: i64,
    /// Index into [`Topology::fabrics`].
    pub fabric: usize,
    /// 802.1Q vid as MAAS reports it.
    pub vid: u16,
    /// Name ("untagged" for vid 0 unless given; the vid as text otherwise).
    pub name: String,
    /// MTU.
    pub mtu: u32,
    /// Index into [`Topology::spaces`], `None` for the `undefined` space.
    pub space: Option<usize>,
}

/// A subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    /// MAAS id (1, 2, ...).
    pub id: i64,
    /// Name (the CIDR unless given).
    pub name: String,
    /// CIDR.
    pub cidr: IpNet,
    /// Index into [`Topology::vlans`].
    pub vlan: usize,
    /// Gateway.
    pub gateway: Option<IpAddr>,
    /// Managed by MAAS.
    pub managed: bool,
    /// MAAS dynamic (DHCP) ranges: (first, last).
    pub dynamic_ranges: Vec<(IpAddr, IpAddr)>,
}

/// A host's interface on one VLAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// MAAS interface id.
    pub id: i64,
    /// MAAS link id.
    pub link_id: i64,
    /// Name in the host namespace.
    pub name: String,
    /// MAC (lower-case, colon-separated), the same on the veth and in the snapshot.
    pub mac: String,
    /// Index into [`Topology::subnets`].
    pub subnet: usize,
    /// Static address, when any (a `link_up` link otherwise).
    pub address: Option<IpAddr>,
    /// MTU of the interface (the VLAN's unless given).
    pub mtu: u32,
    /// The NIC this VLAN interface rides on (MAAS `parents`), when it is a VLAN child. The
    /// lab still gives it its own veth (no 802.1Q here), with the parent's MAC.
    pub parent: Option<String>,
}

/// A host: one namespace, one agent, one MAAS machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Hostname.
    pub name: String,
    /// MAAS system_id.
    pub system_id: String,
    /// Whether MAAS knows the machine (false: an unknown machine for `drift.machine-unknown`).
    pub in_maas: bool,
    /// Zone name.
    pub zone: String,
    /// Interfaces.
    pub interfaces: Vec<Interface>,
}

/// A router: a namespace with one leg per subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Router {
    /// Name.
    pub name: String,
    /// Whether it forwards in the intended network.
    pub forwarding: bool,
    /// Legs: (subnet index, address).
    pub legs: Vec<(usize, IpAddr)>,
    /// Subnet index pairs it must not forward between (both directions).
    pub deny: Vec<(usize, usize)>,
}

/// A validated topology with every reference resolved and every id assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// Scenario name.
    pub name: String,
    /// One-line description.
    pub description: String,
    /// Check settings.
    pub check: CheckSettings,
    /// Management network (coordinator on its first address, hosts on the next).
    pub management: ipnet::Ipv4Net,
    /// Seed every host's neighbour table with its peers' MACs (no ARP storm when a hundred
    /// hosts sharing one kernel start probing at once).
    pub static_neighbours: bool,
    /// Spaces.
    pub spaces: Vec<Space>,
    /// Fabrics.
    pub fabrics: Vec<Fabric>,
    /// VLANs.
    pub vlans: Vec<Vlan>,
    /// Subnets.
    pub subnets: Vec<Subnet>,
    /// Hosts.
    pub hosts: Vec<Host>,
    /// Routers.
    pub routers: Vec<Router>,
    /// The lab's DNS server, when the scenario has one.
    pub dns: Option<DnsSettings>,
    /// Faults.
    pub faults: Vec<Fault>,
    /// Findings the check is expected to produce (empty: a healthy scenario).
    pub expect: Vec<ExpectedFinding>,
}

/// Longest host or router name (it becomes part of a namespace name).
pub const MAX_NAME: usize = 32;

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn valid_ifname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s != "lo"
        && s != "mgmt0"
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

fn parse_mac(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut bytes = [0u8; 6];
    for (b, p) in bytes.iter_mut().zip(&parts) {
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    // Unicast only, and not all zero (the kernel refuses it).
    if bytes[0] & 1 == 1 || bytes == [0; 6] {
        return None;
    }
    Some(
        bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// The `n`-th address of a network (0 = the network address), when inside it.
pub fn nth_address(net: &IpNet, n: u128) -> Option<IpAddr> {
    match net {
        IpNet::V4(v4) => {
            let base = u32::from(v4.network()) as u128;
            let size = 1u128 << (32 - v4.prefix_len());
            if n >= size {
                return None;
            }
            Some(IpAddr::V4(std::net::Ipv4Addr::from((base + n) as u32)))
        }
        IpNet::V6(v6) => {
            let base = u128::from(v6.network());
            let bits = 128 - v6.prefix_len() as u32;
            if bits < 128 && n >= (1u128 << bits) {
                return None;
            }
            Some(IpAddr::V6(std::net::Ipv6Addr::from(base + n)))
        }
    }
}

/// Whether `a` is a usable host address of `net` (not the network or IPv4 broadcast address).
fn usable(net: &IpNet, a: &IpAddr) -> bool {
    if !net.contains(a) {
        return false;
    }
    match (net, a) {
        (IpNet::V4(n), IpAddr::V4(x)) => {
            n.prefix_len() >= 31 || (*x != n.network() && *x != n.broadcast())
        }
        (IpNet::V6(n), IpAddr::V6(x)) => *x != n.network(),
        _ => false,
    }
}

impl Topology {
    /// Parses and validates a topology; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Topology, TopologyError> {
        let file: FileTopology = toml::from_str(text).map_err(|e| TopologyError::Syntax {
            origin: origin.to_string(),
            message: e.to_string().trim().to_string(),
        })?;
        resolve(file).map_err(|what| TopologyError::Invalid {
            origin: origin.to_string(),
            what,
        })
    }

    /// Reads and validates a topology file.
    pub fn from_file(path: &std::path::Path) -> Result<Topology, TopologyError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| TopologyError::Syntax {
            origin: origin.clone(),
            message: format!("cannot read: {e}"),
        })?;
        Topology::parse(&text, &origin)
    }

    /// The host with this name.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// The names of a host's VLAN interfaces riding on `nic`.
    pub fn children<'a>(
        &'a self,
        host: &'a Host,
        nic: &'a str,
    ) -> impl Iterator<Item = &'a Interface> {
        host.interfaces
            .iter()
            .filter(move |i| i.parent.as_deref() == Some(nic))
    }

    /// The space of a subnet, when it has one.
    pub fn space_of_subnet(&self, subnet: usize) -> Option<&Space> {
        self.vlans[self.subnets[subnet].vlan]
            .space
            .map(|s| &self.spaces[s])
    }

    /// Hosts for which an agent is started (not named by a `no-agent` fault).
    pub fn agent_hosts(&self) -> impl Iterator<Item = &Host> {
        self.hosts.iter().filter(move |h| {
            !self
                .faults
                .iter()
                .any(|f| matches!(f, Fault::NoAgent { host } if *host == h.name))
        })
    }

    /// Number of machines MAAS knows (what `--expect` is given).
    pub fn maas_machines(&self) -> usize {
        self.hosts.iter().filter(|h| h.in_maas).count()
    }

    /// Number of interfaces of all hosts.
    pub fn interface_count(&self) -> usize {
        self.hosts.iter().map(|h| h.interfaces.len()).sum()
    }
}

const MAX_HOSTS: usize = 1000;
const MAX_INTERFACES_PER_HOST: usize = 64;

fn resolve(file: FileTopology) -> Result<Topology, String> {
    if file.name.trim().is_empty() {
        return Err("`name` is empty".into());
    }
    if file.description.contains('\n') {
        return Err("`description` must be one line".into());
    }
    // Spaces.
    let mut spaces = Vec::new();
    for (i, s) in file.spaces.iter().enumerate() {
        if !valid_name(&s.name) || s.name == "undefined" {
            return Err(format!(
                "space {:?}: name must be 1–{MAX_NAME} of [A-Za-z0-9_-] and not `undefined`",
                s.name
            ));
        }
        if spaces.iter().any(|x: &Space| x.name == s.name) {
            return Err(format!("space {:?} is declared twice", s.name));
        }
        spaces.push(Space {
            id: i as i64 + 1,
            name: s.name.clone(),
            description: s.description.clone(),
        });
    }
    // Fabrics and VLANs.
    let mut fabrics = Vec::new();
    let mut vlans: Vec<Vlan> = Vec::new();
    for (fi, f) in file.fabrics.iter().enumerate() {
        if !valid_name(&f.name) {
            return Err(format!("fabric {:?}: invalid name", f.name));
        }
        if fabrics.iter().any(|x: &Fabric| x.name == f.name) {
            return Err(format!("fabric {:?} is declared twice", f.name));
        }
        fabrics.push(Fabric {
            id: fi as i64,
            name: f.name.clone(),
        });
        for v in &f.vlans {
            if v.vid > 4094 {
                return Err(format!(
                    "fabric {:?}: vid {} is out of range 0–4094",
                    f.name, v.vid
                ));
            }
            if !(576..=65535).contains(&v.mtu) {
                return Err(format!(
                    "fabric {:?} vid {}: mtu {} is out of range 576–65535",
                    f.name, v.vid, v.mtu
                ));
            }
            if vlans.iter().any(|x| x.fabric == fi && x.vid == v.vid) {
                return Err(format!("fabric {:?}: vid {} declared twice", f.name, v.vid));
            }
            let space = match &v.space {
                None => None,
                Some(name) => {
                    Some(spaces.iter().position(|s| s.name == *name).ok_or_else(|| {
                        format!("fabric {:?} vid {}: unknown space {name:?}", f.name, v.vid)
                    })?)
                }
            };
            let name = v.name.clone().unwrap_or_else(|| {
                if v.vid == 0 {
                    "untagged".into()
                } else {
                    v.vid.to_string()
                }
            });
            vlans.push(Vlan {
                id: 5001 + vlans.len() as i64,
                fabric: fi,
                vid: v.vid,
                name,
                mtu: v.mtu,
                space,
            });
        }
    }
    // Subnets.
    let mut subnets: Vec<Subnet> = Vec::new();
    for s in &file.subnets {
        let cidr = s.cidr.trunc();
        if cidr != s.cidr {
            return Err(format!(
                "subnet {}: host bits set (did you mean {cidr}?)",
                s.cidr
            ));
        }
        let fabric = fabrics
            .iter()
            .position(|f| f.name == s.fabric)
            .ok_or_else(|| format!("subnet {cidr}: unknown fabric {:?}", s.fabric))?;
        // Separate fabrics may reuse address space (tenants); one fabric may not.
        let same_fabric = |x: &Subnet| vlans[x.vlan].fabric == fabric;
        if subnets.iter().any(|x| x.cidr == cidr && same_fabric(x)) {
            return Err(format!("subnet {cidr} is declared twice"));
        }
        if let Some(o) = subnets
            .iter()
            .find(|x| same_fabric(x) && (x.cidr.contains(&cidr) || cidr.contains(&x.cidr)))
        {
            return Err(format!("subnet {cidr} overlaps subnet {}", o.cidr));
        }
        let vlan = vlans
            .iter()
            .position(|v| v.fabric == fabric && v.vid == s.vid)
            .ok_or_else(|| format!("subnet {cidr}: fabric {:?} has no vid {}", s.fabric, s.vid))?;
        if let Some(g) = s.gateway {
            if !usable(&cidr, &g) {
                return Err(format!(
                    "subnet {cidr}: gateway {g} is not a host address in it"
                ));
            }
        }
        for [a, b] in &s.dynamic_ranges {
            if !usable(&cidr, a) || !usable(&cidr, b) || a > b {
                return Err(format!(
                    "subnet {cidr}: dynamic range {a}-{b} is not an ordered range of host addresses in it"
                ));
            }
        }
        subnets.push(Subnet {
            id: subnets.len() as i64 + 1,
            name: s.name.clone().unwrap_or_else(|| cidr.to_string()),
            cidr,
            vlan,
            gateway: s.gateway,
            managed: s.managed,
            dynamic_ranges: s.dynamic_ranges.iter().map(|[a, b]| (*a, *b)).collect(),
        });
    }
    let mgmt = file.management.cidr.trunc();
    if mgmt.prefix_len() > 24 {
        return Err(format!("management {mgmt}: use a /24 or larger"));
    }
    if let Some(o) = subnets
        .iter()
        .find(|s| s.cidr.contains(&IpNet::V4(mgmt)) || IpNet::V4(mgmt).contains(&s.cidr))
    {
        return Err(format!("management {mgmt} overlaps subnet {}", o.cidr));
    }
    // A CIDR reused on several fabrics needs the fabric named (`fabric = "..."`).
    let subnet_in = |cidr: &IpNet, fabric: Option<&str>, what: &str| -> Result<usize, String> {
        let found: Vec<usize> = subnets
            .iter()
            .enumerate()
            .filter(|(_, s)| s.cidr == cidr.trunc())
            .filter(|(_, s)| fabric.is_none_or(|f| fabrics[vlans[s.vlan].fabric].name == f))
            .map(|(i, _)| i)
            .collect();
        match found.as_slice() {
            [] => Err(format!("{what}: unknown subnet {cidr}")),
            [one] => Ok(*one),
            _ => Err(format!(
                "{what}: subnet {cidr} is on several fabrics; name the fabric"
            )),
        }
    };
    let subnet_index =
        |cidr: &IpNet, what: &str| -> Result<usize, String> { subnet_in(cidr, None, what) };

    // Hosts (explicit, then groups).
    struct Pending {
        name: String,
        system_id: Option<String>,
        in_maas: bool,
        zone: Option<String>,
        interfaces: Vec<FileInterface>,
    }
    let mut pending: Vec<Pending> = file
        .hosts
        .into_iter()
        .map(|h| Pending {
            name: h.name,
            system_id: h.system_id,
            in_maas: h.in_maas,
            zone: h.zone,
            interfaces: h.interfaces,
        })
        .collect();
    for g in &file.host_groups {
        if g.count == 0 || g.count as usize > MAX_HOSTS {
            return Err(format!(
                "host group {:?}: count must be 1–{MAX_HOSTS}",
                g.prefix
            ));
        }
        for i in 0..g.count {
            let mut ifaces = Vec::new();
            for gi in &g.interfaces {
                let net = gi.subnet.trunc();
                let address = nth_address(&net, gi.first as u128 + i as u128).ok_or_else(|| {
                    format!(
                        "host group {:?}: member {} has no address left in {net}",
                        g.prefix,
                        i + 1
                    )
                })?;
                ifaces.push(FileInterface {
                    name: gi.name.clone(),
                    subnet: net,
                    fabric: None,
                    address: Some(address),
                    mac: None,
                    mtu: gi.mtu,
                    parent: gi.parent.clone(),
                });
            }
            pending.push(Pending {
                name: format!("{}{}", g.prefix, i + 1),
                system_id: None,
                in_maas: true,
                zone: g.zone.clone(),
                interfaces: ifaces,
            });
        }
    }
    if pending.is_empty() {
        return Err("no hosts".into());
    }
    if pending.len() > MAX_HOSTS {
        return Err(format!("{} hosts: at most {MAX_HOSTS}", pending.len()));
    }
    if pending.len() + 2 >= (1usize << (32 - mgmt.prefix_len())) {
        return Err(format!(
            "management {mgmt} is too small for {} hosts",
            pending.len()
        ));
    }
    let mut hosts: Vec<Host> = Vec::new();
    let mut macs = BTreeSet::new();
    // Addresses are unique per fabric (separate fabrics may reuse them).
    let mut addresses: BTreeMap<(usize, IpAddr), String> = BTreeMap::new();
    for s in &subnets {
        if let Some(g) = s.gateway {
            addresses.insert(
                (vlans[s.vlan].fabric, g),
                format!("the gateway of {}", s.cidr),
            );
        }
    }
    let mut next_iface_id = 1i64;
    for (hi, p) in pending.into_iter().enumerate() {
        if !valid_name(&p.name) {
            return Err(format!(
                "host {:?}: name must be 1–{MAX_NAME} of [A-Za-z0-9_-]",
                p.name
            ));
        }
        if hosts.iter().any(|h| h.name == p.name) {
            return Err(format!("host {:?} is declared twice", p.name));
        }
        let system_id = match p.system_id {
            Some(s) => {
                if !valid_name(&s) {
                    return Err(format!("host {:?}: invalid system_id {s:?}", p.name));
                }
                s
            }
            None => system_id_for(hi),
        };
        if hosts.iter().any(|h| h.system_id == system_id) {
            return Err(format!(
                "host {:?}: system_id {system_id:?} is used twice",
                p.name
            ));
        }
        if p.interfaces.len() > MAX_INTERFACES_PER_HOST {
            return Err(format!(
                "host {:?}: more than {MAX_INTERFACES_PER_HOST} interfaces",
                p.name
            ));
        }
        let mut interfaces: Vec<Interface> = Vec::new();
        for (ii, fi) in p.interfaces.into_iter().enumerate() {
            let what = format!("host {:?} interface {:?}", p.name, fi.name);
            if !valid_ifname(&fi.name) {
                return Err(format!(
                    "{what}: name must be 1–15 of [A-Za-z0-9._-], not lo or mgmt0"
                ));
            }
            if interfaces.iter().any(|x| x.name == fi.name) {
                return Err(format!("{what}: declared twice"));
            }
            let subnet = subnet_in(&fi.subnet, fi.fabric.as_deref(), &what)?;
            if interfaces
                .iter()
                .any(|x| subnets[x.subnet].vlan == subnets[subnet].vlan)
            {
                return Err(format!(
                    "{what}: the host already has an interface on this VLAN (one port per VLAN)"
                ));
            }
            if let Some(a) = fi.address {
                if !usable(&subnets[subnet].cidr, &a) {
                    return Err(format!(
                        "{what}: address {a} is not a host address of {}",
                        subnets[subnet].cidr
                    ));
                }
                if let Some(other) =
                    addresses.insert((vlans[subnets[subnet].vlan].fabric, a), what.clone())
                {
                    return Err(format!("{what}: address {a} is already used by {other}"));
                }
            }
            let parent = match &fi.parent {
                None => None,
                Some(p) => {
                    let Some(pi) = interfaces.iter().find(|x| x.name == *p) else {
                        return Err(format!(
                            "{what}: parent {p:?} is not an interface declared before it on this host"
                        ));
                    };
                    if pi.parent.is_some() {
                        return Err(format!(
                            "{what}: parent {p:?} is itself a VLAN interface (one level only)"
                        ));
                    }
                    if fi.mac.is_some() {
                        return Err(format!(
                            "{what}: a VLAN interface has its parent's MAC; drop `mac`"
                        ));
                    }
                    Some(pi.clone())
                }
            };
            let mac = match (&fi.mac, &parent) {
                (_, Some(p)) => p.mac.clone(),
                (Some(m), None) => {
                    parse_mac(m).ok_or_else(|| format!("{what}: mac {m:?} is not a unicast MAC"))?
                }
                (None, None) => generated_mac(hi, ii),
            };
            if parent.is_none() && !macs.insert(mac.clone()) {
                return Err(format!("{what}: mac {mac} is used twice"));
            }
            let vlan_mtu = vlans[subnets[subnet].vlan].mtu;
            let mtu = fi.mtu.unwrap_or(vlan_mtu);
            if !(576..=65535).contains(&mtu) {
                return Err(format!("{what}: mtu {mtu} is out of range 576–65535"));
            }
            interfaces.push(Interface {
                id: next_iface_id,
                link_id: next_iface_id,
                name: fi.name,
                mac,
                subnet,
                address: fi.address,
                mtu,
                parent: parent.map(|p| p.name),
            });
            next_iface_id += 1;
        }
        hosts.push(Host {
            name: p.name,
            system_id,
            in_maas: p.in_maas,
            zone: p.zone.unwrap_or_else(|| "default".into()),
            interfaces,
        });
    }
    // Routers.
    let mut routers: Vec<Router> = Vec::new();
    for r in &file.routers {
        if !valid_name(&r.name) {
            return Err(format!("router {:?}: invalid name", r.name));
        }
        if routers.iter().any(|x| x.name == r.name) || hosts.iter().any(|h| h.name == r.name) {
            return Err(format!("router {:?}: name already used", r.name));
        }
        if r.interfaces.len() < 2 {
            return Err(format!("router {:?}: needs at least two subnets", r.name));
        }
        let mut legs: Vec<(usize, IpAddr)> = Vec::new();
        for leg in &r.interfaces {
            let what = format!("router {:?}", r.name);
            let s = subnet_index(&leg.subnet, &what)?;
            if legs
                .iter()
                .any(|(x, _)| subnets[*x].vlan == subnets[s].vlan)
            {
                return Err(format!("{what}: two legs on one VLAN"));
            }
            let address = match leg.address.or(subnets[s].gateway) {
                Some(a) => a,
                None => {
                    return Err(format!(
                        "{what}: subnet {} has no gateway; give the leg an address",
                        subnets[s].cidr
                    ))
                }
            };
            if !usable(&subnets[s].cidr, &address) {
                return Err(format!(
                    "{what}: address {address} is not a host address of {}",
                    subnets[s].cidr
                ));
            }
            if Some(address) != subnets[s].gateway {
                if let Some(other) =
                    addresses.insert((vlans[subnets[s].vlan].fabric, address), what.clone())
                {
                    return Err(format!(
                        "{what}: address {address} is already used by {other}"
                    ));
                }
            }
            legs.push((s, address));
        }
        let mut deny = Vec::new();
        for [x, y] in &r.deny {
            let what = format!("router {:?} deny", r.name);
            let (sx, sy) = (subnet_index(x, &what)?, subnet_index(y, &what)?);
            for s in [sx, sy] {
                if !legs.iter().any(|(l, _)| *l == s) {
                    return Err(format!(
                        "{what}: {} is not one of the router's subnets",
                        subnets[s].cidr
                    ));
                }
            }
            deny.push((sx, sy));
        }
        routers.push(Router {
            name: r.name.clone(),
            forwarding: r.forwarding,
            legs,
            deny,
        });
    }
    // Faults.
    for f in &file.faults {
        check_fault(f, &hosts, &routers, &subnets)?;
    }
    // Check settings.
    let mut isolate = Vec::new();
    for [a, b] in &file.check.isolate {
        for s in [a, b] {
            if !spaces.iter().any(|x| x.name == *s) {
                return Err(format!("check.isolate: unknown space {s:?}"));
            }
        }
        isolate.push((a.clone(), b.clone()));
    }
    let mut allow = Vec::new();
    for [a, b] in &file.check.allow {
        for s in [a, b] {
            if !spaces.iter().any(|x| x.name == *s) {
                return Err(format!("check.allow: unknown space {s:?}"));
            }
        }
        allow.push((a.clone(), b.clone()));
    }
    if let Some(i) = &file.check.isolation {
        if i != "none" && i != "bundle" {
            return Err(format!(
                "check.isolation {i:?}: expected \"none\" or \"bundle\""
            ));
        }
        if file.check.bundle.is_none() && i == "bundle" {
            return Err("check.isolation = \"bundle\" needs check.bundle".into());
        }
    }
    if let Some(c) = file.check.count {
        if !(1..=1000).contains(&c) {
            return Err(format!("check.count {c}: must be 1–1000"));
        }
    }
    for e in &file.expect {
        if !e.code.is_known() {
            return Err(format!(
                "expect: {:?} is not a known finding code (`preflight codes` lists them)",
                e.code.as_str()
            ));
        }
    }
    Ok(Topology {
        name: file.name,
        description: file.description,
        check: CheckSettings {
            deadline_secs: file.check.deadline_secs,
            count: file.check.count,
            isolate,
            controllers: file.check.controllers.clone(),
            mgmt_space: file.check.mgmt_space.clone(),
            ha_space: file.check.ha_space.clone(),
            bundle: file.check.bundle,
            isolation: file.check.isolation,
            allow,
        },
        management: mgmt,
        static_neighbours: file.lab.static_neighbours,
        spaces,
        fabrics,
        vlans,
        subnets,
        hosts,
        routers,
        dns: file.dns,
        faults: file.faults,
        expect: file.expect,
    })
}

fn check_fault(
    f: &Fault,
    hosts: &[Host],
    routers: &[Router],
    subnets: &[Subnet],
) -> Result<(), String> {
    let host = |name: &str| {
        hosts
            .iter()
            .find(|h| h.name == name)
            .ok_or_else(|| format!("fault {f:?}: unknown host {name:?}"))
    };
    let iface = |h: &str, i: &str| -> Result<Interface, String> {
        host(h)?
            .interfaces
            .iter()
            .find(|x| x.name == i)
            .cloned()
            .ok_or_else(|| format!("fault {f:?}: host {h:?} has no interface {i:?}"))
    };
    match f {
        Fault::LinkDown { host, interface }
        | Fault::PortDead { host, interface }
        | Fault::VlanMissing { host, interface }
        | Fault::MissingInterface { host, interface } => {
            iface(host, interface)?;
        }
        Fault::MissingAddress { host, interface } => {
            if iface(host, interface)?.address.is_none() {
                return Err(format!(
                    "fault {f:?}: the interface has no address to remove"
                ));
            }
        }
        Fault::HostMtu {
            host,
            interface,
            mtu,
        }
        | Fault::SwitchPortMtu {
            host,
            interface,
            mtu,
        } => {
            iface(host, interface)?;
            if !(576..=65535).contains(mtu) {
                return Err(format!("fault {f:?}: mtu out of range 576–65535"));
            }
        }
        Fault::Drop { from, to, subnet } => {
            let a = host(from)?;
            let b = host(to)?;
            if from == to {
                return Err(format!("fault {f:?}: from and to are the same host"));
            }
            let shared = a.interfaces.iter().any(|x| {
                b.interfaces.iter().any(|y| {
                    x.subnet == y.subnet
                        && x.address.is_some()
                        && y.address.is_some()
                        && subnet.is_none_or(|s| subnets[x.subnet].cidr == s.trunc())
                })
            });
            if !shared {
                return Err(format!(
                    "fault {f:?}: the hosts have no addressed subnet in common"
                ));
            }
        }
        Fault::Loss {
            host,
            interface,
            percent,
        } => {
            iface(host, interface)?;
            if !(1..=100).contains(percent) {
                return Err(format!("fault {f:?}: percent must be 1–100"));
            }
        }
        Fault::WrongAddress {
            host,
            interface,
            address,
        }
        | Fault::ExtraAddress {
            host,
            interface,
            address,
        } => {
            let i = iface(host, interface)?;
            if hosts
                .iter()
                .flat_map(|h| &h.interfaces)
                .any(|x| x.address == Some(*address))
            {
                return Err(format!(
                    "fault {f:?}: {address} is another interface's address"
                ));
            }
            if address.is_ipv4() != subnets[i.subnet].cidr.addr().is_ipv4() {
                return Err(format!(
                    "fault {f:?}: address family differs from the subnet's"
                ));
            }
        }
        Fault::DuplicateAddress {
            host: h,
            interface,
            of,
        } => {
            let i = iface(h, interface)?;
            let o = host(of)?;
            if of == h {
                return Err(format!(
                    "fault {f:?}: a host cannot duplicate its own address"
                ));
            }
            if !o
                .interfaces
                .iter()
                .any(|x| x.subnet == i.subnet && x.address.is_some())
            {
                return Err(format!(
                    "fault {f:?}: {of} has no address in the subnet of {h} {interface}"
                ));
            }
        }
        Fault::ControllerPortDropped { host: h, .. } => {
            host(h)?;
        }
        Fault::DnsPtrMissing { host: h, .. }
        | Fault::DnsWrongA { host: h, .. }
        | Fault::DnsPortDropped { host: h, .. } => {
            host(h)?;
        }
        Fault::DeadGateway { subnet } => {
            let Some(s) = subnets.iter().find(|s| s.cidr == subnet.trunc()) else {
                return Err(format!("fault {f:?}: no subnet {subnet}"));
            };
            if s.gateway.is_none() {
                return Err(format!("fault {f:?}: subnet {subnet} has no gateway"));
            }
        }
        Fault::RouterForwards { router } => {
            let r = routers
                .iter()
                .find(|r| r.name == *router)
                .ok_or_else(|| format!("fault {f:?}: unknown router {router:?}"))?;
            if r.forwarding {
                return Err(format!(
                    "fault {f:?}: router {router:?} already forwards in the intent"
                ));
            }
        }
        Fault::RouterDrop { router, from, to } => {
            let r = routers
                .iter()
                .find(|r| r.name == *router)
                .ok_or_else(|| format!("fault {f:?}: unknown router {router:?}"))?;
            for cidr in [from, to] {
                if !r.legs.iter().any(|(s, _)| subnets[*s].cidr == *cidr) {
                    return Err(format!(
                        "fault {f:?}: {cidr} is not one of router {router:?}'s subnets"
                    ));
                }
            }
        }
        Fault::RouterDenyMissing { router } => {
            let r = routers
                .iter()
                .find(|r| r.name == *router)
                .ok_or_else(|| format!("fault {f:?}: unknown router {router:?}"))?;
            if r.deny.is_empty() {
                return Err(format!(
                    "fault {f:?}: router {router:?} has no deny filter to lose"
                ));
            }
        }
        Fault::NoAgent { host: h } => {
            host(h)?;
        }
    }
    Ok(())
}

/// Deterministic system_id for the host at `index`: six characters of MAAS's alphabet.
fn system_id_for(index: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxy3456789";
    // A small multiplicative hash so neighbours do not look alike; unique for index < 29^6.
    let mut n = (index as u64).wrapping_mul(2_654_435_761) % 594_823_321; // 29^6
    let mut s = Vec::with_capacity(6);
    for _ in 0..6 {
        s.push(ALPHABET[(n % 29) as usize]);
        n /= 29;
    }
    String::from_utf8(s).unwrap_or_default()
}

/// Deterministic, locally administered unicast MAC for host `h`, interface `i`.
fn generated_mac(h: usize, i: usize) -> String {
    format!(
        "52:54:{:02x}:{:02x}:{:02x}:{:02x}",
        (h >> 16) & 0xff,
        (h >> 8) & 0xff,
        h & 0xff,
        i & 0xff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
name = "small"
description = "two hosts, one space"
[[spaces]]
name = "internal"
[[fabrics]]
name = "fabric-0"
vlans = [{ vid = 0, space = "internal" }, { vid = 30, mtu = 9000 }]
[[subnets]]
cidr = "10.1.0.0/24"
fabric = "fabric-0"
vid = 0
gateway = "10.1.0.1"
[[subnets]]
cidr = "10.30.0.0/24"
fabric = "fabric-0"
vid = 30
[[hosts]]
name = "a"
interfaces = [{ name = "eth0", subnet = "10.1.0.0/24", address = "10.1.0.11" },
              { name = "eth1", subnet = "10.30.0.0/24", address = "10.30.0.11" }]
[[hosts]]
name = "b"
system_id = "bbbbbb"
interfaces = [{ name = "eth0", subnet = "10.1.0.0/24", address = "10.1.0.12", mac = "02:00:00:00:00:01" }]
[[faults]]
kind = "link-down"
host = "a"
interface = "eth1"
"#;

    #[test]
    fn small_topology_resolves_ids_macs_and_mtus() {
        let t = Topology::parse(SMALL, "small.toml").unwrap();
        assert_eq!(t.spaces[0].id, 1);
        assert_eq!(t.vlans.len(), 2);
        assert_eq!(t.vlans[0].name, "untagged");
        assert_eq!(t.vlans[1].name, "30");
        assert_eq!(t.vlans[1].mtu, 9000);
        assert_eq!(t.vlans[1].space, None);
        assert_eq!(t.hosts[0].interfaces[1].mtu, 9000);
        assert_eq!(t.hosts[0].interfaces[0].mac, "52:54:00:00:00:00");
        assert_eq!(t.hosts[0].interfaces[1].mac, "52:54:00:00:00:01");
        assert_eq!(t.hosts[1].interfaces[0].mac, "02:00:00:00:00:01");
        assert_eq!(t.hosts[1].system_id, "bbbbbb");
        assert_ne!(t.hosts[0].system_id, t.hosts[1].system_id);
        assert_eq!(t.hosts[0].system_id.len(), 6);
        assert_eq!(t.faults.len(), 1);
        assert_eq!(t.maas_machines(), 2);
    }

    fn err(text: &str) -> String {
        Topology::parse(text, "t.toml").unwrap_err().to_string()
    }

    #[test]
    fn bad_references_name_the_culprit() {
        let e = err(&SMALL.replace("address = \"10.1.0.12\"", "address = \"10.2.0.12\""));
        assert!(
            e.contains("host \"b\" interface \"eth0\"") && e.contains("10.2.0.12"),
            "{e}"
        );
        let e = err(&SMALL.replace("host = \"a\"", "host = \"zz\""));
        assert!(e.contains("unknown host \"zz\""), "{e}");
        let e = err(&SMALL.replace("space = \"internal\"", "space = \"nope\""));
        assert!(e.contains("unknown space \"nope\""), "{e}");
        let e = err(&SMALL.replace("10.1.0.12", "10.1.0.11"));
        assert!(e.contains("already used"), "{e}");
        let e = err(&SMALL.replace("10.1.0.12", "10.1.0.1"));
        assert!(e.contains("gateway"), "{e}");
        let e = err(&SMALL.replace("02:00:00:00:00:01", "01:00:00:00:00:01"));
        assert!(e.contains("not a unicast MAC"), "{e}");
        let e = err(&SMALL.replace("02:00:00:00:00:01", "00:00:00:00:00:00"));
        assert!(e.contains("not a unicast MAC"), "{e}");
        let e = err(&SMALL.replace("cidr = \"10.30.0.0/24\"", "cidr = \"10.1.0.0/16\""));
        assert!(e.contains("overlaps"), "{e}");
        let e = err(&SMALL.replace("name = \"eth1\"", "name = \"a/b\""));
        assert!(e.contains("name must be"), "{e}");
        // Expected findings name registered codes only: a typo would never match a finding.
        let with = |code: &str| format!("{SMALL}\n[[expect]]\ncode = \"{code}\"\n");
        assert!(Topology::parse(&with("probe.unreachable"), "t.toml").is_ok());
        let e = err(&with("probe.unreachble"));
        assert!(
            e.contains("\"probe.unreachble\" is not a known finding code"),
            "{e}"
        );
    }

    #[test]
    fn separate_fabrics_may_reuse_a_cidr_and_its_addresses_one_fabric_may_not() {
        let t = crate::scenarios::load("address-reuse-across-fabrics").unwrap();
        let same: Vec<_> = t
            .subnets
            .iter()
            .filter(|s| s.cidr.to_string() == "10.0.0.0/24")
            .collect();
        assert_eq!(same.len(), 2);
        assert_ne!(t.vlans[same[0].vlan].fabric, t.vlans[same[1].vlan].fabric);
        let text = crate::scenarios::SHIPPED
            .iter()
            .find(|(n, _)| *n == "address-reuse-across-fabrics")
            .unwrap()
            .1;
        // Without the fabric the interface's subnet is ambiguous.
        let e = err(&text.replacen(", fabric = \"fabric-a\"", "", 1));
        assert!(e.contains("several fabrics"), "{e}");
        // The same address twice on one fabric is still refused.
        let e = err(&text.replacen("10.0.0.12\" }]", "10.0.0.11\" }]", 1));
        assert!(e.contains("already used"), "{e}");
        // The same CIDR twice on one fabric too.
        let e = err(&text.replacen(
            "fabric = \"fabric-b\"\nvid = 0",
            "fabric = \"fabric-a\"\nvid = 0",
            1,
        ));
        assert!(e.contains("declared twice"), "{e}");
    }

    #[test]
    fn hostile_input_is_an_error_not_a_panic() {
        // Truncated.
        let e = err(&SMALL[..SMALL.len() / 2]);
        assert!(e.starts_with("t.toml:"), "{e}");
        // Wrong types.
        let e = err(&SMALL.replace("vid = 30,", "vid = \"thirty\","));
        assert!(e.contains("t.toml"), "{e}");
        // Unknown fields are rejected (typos must not pass silently).
        let e = err(&SMALL.replace("gateway = \"10.1.0.1\"", "gatway = \"10.1.0.1\""));
        assert!(e.contains("gatway"), "{e}");
        // Unknown fault kinds.
        let e = err(&SMALL.replace("kind = \"link-down\"", "kind = \"meteor\""));
        assert!(e.contains("meteor"), "{e}");
        // Huge counts.
        let huge = format!(
            "{SMALL}\n[[host_groups]]\nprefix = \"n\"\ncount = 4000000000\ninterfaces = []\n"
        );
        assert!(err(&huge).contains("count"));
        // Out-of-range MTU and vid.
        assert!(err(&SMALL.replace("mtu = 9000", "mtu = 100")).contains("mtu"));
        assert!(err(&SMALL.replace("vid = 30,", "vid = 5000,")).contains("vid"));
        // Empty.
        assert!(err("").contains("t.toml"));
    }

    #[test]
    fn router_deny_filters_router_faults_and_the_checks_bundle_are_read_and_checked() {
        let t = crate::scenarios::load("mediawiki-cms-db-forgotten").unwrap();
        assert_eq!(t.routers[0].deny.len(), 1);
        let (x, y) = t.routers[0].deny[0];
        assert_eq!(t.subnets[x].cidr.to_string(), "10.31.0.0/24");
        assert_eq!(t.subnets[y].cidr.to_string(), "10.33.0.0/24");
        assert_eq!(t.check.isolation.as_deref(), Some("bundle"));
        assert!(t.check.bundle.as_deref().unwrap_or("").contains("mysql"));
        assert!(matches!(&t.faults[0], Fault::RouterDrop { router, .. } if router == "core"));
        let text = crate::scenarios::SHIPPED
            .iter()
            .find(|(n, _)| *n == "mediawiki-cms-db-forgotten")
            .map(|(_, t)| t.to_string())
            .unwrap();
        let err = |t: &str| Topology::parse(t, "t.toml").unwrap_err().to_string();
        // A deny pair or a fault naming a subnet the router has no leg on.
        let e = err(&text.replace(
            "deny = [[\"10.31.0.0/24\", \"10.33.0.0/24\"]]",
            "deny = [[\"10.31.0.0/24\", \"10.99.0.0/24\"]]",
        ));
        assert!(e.contains("10.99.0.0/24"), "{e}");
        let e = err(&text.replace("to = \"10.33.0.0/24\"", "to = \"10.98.0.0/24\""));
        assert!(e.contains("not one of router \"core\"'s subnets"), "{e}");
        // Losing a deny filter the router does not have.
        let e = err(&text
            .replace("deny = [[\"10.31.0.0/24\", \"10.33.0.0/24\"]]\n", "")
            .replace("kind = \"router-drop\"", "kind = \"router-deny-missing\"")
            .replace("from = \"10.32.0.0/24\"\nto = \"10.33.0.0/24\"\n", ""));
        assert!(e.contains("no deny filter"), "{e}");
        // Isolation values, and bundle isolation without a bundle.
        assert!(
            err(&text.replace("isolation = \"bundle\"", "isolation = \"all\""))
                .contains("expected \"none\" or \"bundle\"")
        );
        let no_bundle = text.replace("bundle = \"\"\"", "unused = \"\"\"");
        assert!(
            err(&no_bundle).contains("unused"),
            "unknown keys stay errors"
        );
        let start = text.find("bundle = \"\"\"").unwrap();
        let end = start + text[start..].find("\"\"\"\n\n").unwrap() + 4;
        let mut without = text.clone();
        without.replace_range(start..end, "");
        assert!(err(&without).contains("needs check.bundle"));
        assert!(
            err(&text.replace("isolation = \"bundle\"", "allow = [[\"dmz\", \"nope\"]]"))
                .contains("check.allow: unknown space \"nope\"")
        );
    }

    #[test]
    fn host_groups_expand_with_consecutive_addresses() {
        let text = format!(
            "{}\n[[host_groups]]\nprefix = \"n\"\ncount = 3\ninterfaces = [{{ name = \"eth0\", subnet = \"10.1.0.0/24\", first = 100 }}]\n",
            SMALL.split("[[faults]]").next().unwrap()
        );
        let t = Topology::parse(&text, "g.toml").unwrap();
        let names: Vec<_> = t.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "n1", "n2", "n3"]);
        assert_eq!(
            t.hosts[4].interfaces[0].address,
            Some("10.1.0.102".parse().unwrap())
        );
        let ids: BTreeSet<_> = t.hosts.iter().map(|h| h.system_id.clone()).collect();
        assert_eq!(ids.len(), 5);
    }

    #[test]
    fn vlan_children_ride_on_their_nic_with_its_mac() {
        let text = SMALL.replace(
            "{ name = \"eth1\", subnet = \"10.30.0.0/24\", address = \"10.30.0.11\" }",
            "{ name = \"eth0.30\", subnet = \"10.30.0.0/24\", address = \"10.30.0.11\", parent = \"eth0\" }",
        )
        .replace("interface = \"eth1\"", "interface = \"eth0.30\"");
        let t = Topology::parse(&text, "v.toml").unwrap();
        let a = &t.hosts[0];
        assert_eq!(a.interfaces[1].parent.as_deref(), Some("eth0"));
        assert_eq!(a.interfaces[1].mac, a.interfaces[0].mac);
        let kids: Vec<&str> = t.children(a, "eth0").map(|i| i.name.as_str()).collect();
        assert_eq!(kids, ["eth0.30"]);
        let snap = crate::snapshot::snapshot(&t);
        let ifs = &snap["machines"][0]["interface_set"];
        assert_eq!(ifs[0]["type"], "physical");
        assert_eq!(ifs[0]["children"], serde_json::json!(["eth0.30"]));
        assert_eq!(ifs[1]["type"], "vlan");
        assert_eq!(ifs[1]["parents"], serde_json::json!(["eth0"]));
        assert_eq!(ifs[1]["vlan"]["vid"], 30);
        // The parent must exist before it, be a NIC, and the child has no MAC of its own.
        let e = err(&text.replace("parent = \"eth0\"", "parent = \"eth9\""));
        assert!(e.contains("parent \"eth9\""), "{e}");
        let e = err(&text.replace(
            "parent = \"eth0\" }",
            "parent = \"eth0\", mac = \"02:00:00:00:00:09\" }",
        ));
        assert!(e.contains("parent's MAC"), "{e}");
    }

    #[test]
    fn system_ids_are_unique_for_many_hosts() {
        let ids: BTreeSet<_> = (0..MAX_HOSTS).map(system_id_for).collect();
        assert_eq!(ids.len(), MAX_HOSTS);
    }
}
