//! Links: decoding RTM_NEWLINK messages and mapping them to model [`Link`]s.

use netlink_packet_core::{
    NlaBuffer, NlasIterator, Parseable, ParseableParametrized, NLA_HEADER_SIZE,
};
use netlink_packet_route::link::{
    BondMode, InfoBond, InfoData, InfoKind, InfoVlan, InfoVxlan, LinkAttribute, LinkFlags,
    LinkHeader, LinkInfo, LinkLayerType, LinkMessage,
};
use preflight_model::observed::{BondInfo, Link, LinkKind};

use crate::names::{lossy_string, oper_state};
use crate::InventoryError;

const LINK_HEADER_LEN: usize = 16;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_MASTER: u16 = 10;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_LINKINFO: u16 = 18;
const IFLA_CARRIER: u16 = 33;
const IFLA_LINK_NETNSID: u16 = 37;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const IFLA_VLAN_ID: u16 = 1;
const IFLA_VXLAN_ID: u16 = 1;
const IFLA_VXLAN_LINK: u16 = 3;
const IFLA_BOND_MODE: u16 = 1;

/// Decodes the payload of an RTM_NEWLINK message (ifinfomsg and attributes), keeping only
/// the attributes the model uses.
///
/// The name is decoded lossily (non-UTF-8 bytes become U+FFFD); of IFLA_LINKINFO only the kind
/// and the VLAN id, VXLAN id and underlay, and bond mode are decoded. Errors name the link and
/// the attribute.
pub fn parse_link(payload: &[u8]) -> Result<LinkMessage, String> {
    let header = LinkHeader::parse(payload).map_err(|e| format!("link header: {e}"))?;
    let index = header.index;
    let family = header.interface_family;
    let mut msg = LinkMessage::default();
    msg.header = header;
    let attrs = payload.get(LINK_HEADER_LEN..).unwrap_or(&[]);
    for nla in NlasIterator::new(attrs) {
        let nla = nla.map_err(|e| format!("link {index}: {e}"))?;
        let kind = nla.kind();
        let attr = match kind {
            IFLA_IFNAME => LinkAttribute::IfName(lossy_string(nla.value())),
            IFLA_LINKINFO => {
                parse_link_info(&nla).map_err(|e| format!("link {index}: IFLA_LINKINFO: {e}"))?
            }
            IFLA_ADDRESS | IFLA_MTU | IFLA_LINK | IFLA_MASTER | IFLA_OPERSTATE | IFLA_CARRIER
            | IFLA_LINK_NETNSID => LinkAttribute::parse_with_param(&nla, family)
                .map_err(|e| format!("link {index}: attribute {kind}: {e}"))?,
            _ => continue,
        };
        msg.attributes.push(attr);
    }
    Ok(msg)
}

/// Decodes IFLA_LINKINFO: the kind, and from IFLA_INFO_DATA only the attributes the model
/// reads (IFLA_VLAN_ID; IFLA_VXLAN_ID and IFLA_VXLAN_LINK; IFLA_BOND_MODE), each with the
/// crate's own decoder. Everything else (the bridge's forty options, a newer kernel's bond
/// attributes) is skipped undecoded, so it can neither cost time nor fail the observation.
fn parse_link_info(nla: &NlaBuffer<&[u8]>) -> Result<LinkAttribute, String> {
    let mut kind = None;
    let mut data = None;
    for inner in NlasIterator::new(nla.value()) {
        let inner = inner.map_err(|e| e.to_string())?;
        match inner.kind() {
            IFLA_INFO_KIND => kind = Some(lossy_string(inner.value())),
            IFLA_INFO_DATA => {
                // The value, borrowed from the message rather than from `inner`.
                let len = usize::from(inner.length());
                data = inner.into_inner().get(NLA_HEADER_SIZE..len);
            }
            _ => {}
        }
    }
    let Some(kind) = kind else {
        return Ok(LinkAttribute::LinkInfo(Vec::new()));
    };
    let data = match (kind.as_str(), data) {
        ("vlan", Some(d)) => Some(InfoData::Vlan(
            wanted(d, &[IFLA_VLAN_ID])?
                .iter()
                .map(|n| InfoVlan::parse(n).map_err(|e| format!("IFLA_VLAN_ID: {e}")))
                .collect::<Result<_, _>>()?,
        )),
        ("vxlan", Some(d)) => Some(InfoData::Vxlan(
            wanted(d, &[IFLA_VXLAN_ID, IFLA_VXLAN_LINK])?
                .iter()
                .map(|n| InfoVxlan::parse(n).map_err(|e| format!("IFLA_VXLAN_*: {e}")))
                .collect::<Result<_, _>>()?,
        )),
        ("bond", Some(d)) => Some(InfoData::Bond(
            wanted(d, &[IFLA_BOND_MODE])?
                .iter()
                .map(|n| InfoBond::parse(n).map_err(|e| format!("IFLA_BOND_MODE: {e}")))
                .collect::<Result<_, _>>()?,
        )),
        _ => None,
    };
    let mut infos = vec![LinkInfo::Kind(InfoKind::Other(kind))];
    infos.extend(data.map(LinkInfo::Data));
    Ok(LinkAttribute::LinkInfo(infos))
}

/// The nested attributes of `nested` whose type is in `types`.
fn wanted<'a>(nested: &'a [u8], types: &[u16]) -> Result<Vec<NlaBuffer<&'a [u8]>>, String> {
    let mut out = Vec::new();
    for n in NlasIterator::new(nested) {
        let n = n.map_err(|e| e.to_string())?;
        if types.contains(&n.kind()) {
            out.push(n);
        }
    }
    Ok(out)
}

/// Maps one link message to a model [`Link`], without the fields that need the other links
/// (master and parent names, bridge ports, bond slaves): [`map_links`] fills those.
///
/// A message without IFLA_IFNAME is an error; a missing IFLA_MTU gives MTU 0, a missing
/// IFLA_OPERSTATE gives "unknown".
pub fn map_link(msg: &LinkMessage) -> Result<Link, InventoryError> {
    let index = msg.header.index;
    let mut name = None;
    let mut mac = None;
    let mut mtu = 0;
    let mut oper = None;
    let mut carrier = None;
    let mut master_ifindex = None;
    let mut link = None;
    let mut link_netns = false;
    let mut info_kind = None;
    let mut vlan_id = None;
    let mut vxlan_id = None;
    let mut vxlan_link = None;
    let mut bond_mode = None;
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            LinkAttribute::Address(a) if !a.is_empty() => mac = Some(parse_mac(a)),
            LinkAttribute::Mtu(m) => mtu = *m,
            LinkAttribute::OperState(s) => oper = Some(oper_state(s)),
            LinkAttribute::Carrier(c) => carrier = Some(*c != 0),
            LinkAttribute::Controller(m) if *m != 0 => master_ifindex = Some(*m),
            LinkAttribute::Link(l) => link = Some(*l),
            LinkAttribute::LinkNetNsId(_) => link_netns = true,
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::Kind(k) => info_kind = Some(k.to_string()),
                        LinkInfo::Data(InfoData::Vlan(data)) => {
                            for d in data {
                                if let InfoVlan::Id(id) = d {
                                    vlan_id = Some(*id);
                                }
                            }
                        }
                        LinkInfo::Data(InfoData::Vxlan(data)) => {
                            for d in data {
                                match d {
                                    InfoVxlan::Id(id) => vxlan_id = Some(*id),
                                    InfoVxlan::Link(l) if *l != 0 => vxlan_link = Some(*l),
                                    _ => {}
                                }
                            }
                        }
                        LinkInfo::Data(InfoData::Bond(data)) => {
                            for d in data {
                                if let InfoBond::Mode(m) = d {
                                    bond_mode = Some(bond_mode_name(*m));
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let name = name.ok_or_else(|| InventoryError::MissingAttribute {
        object: format!("link {index}"),
        attribute: "IFLA_IFNAME",
    })?;
    let kind = match info_kind {
        Some(k) => LinkKind::from(k),
        None => match msg.header.link_layer_type {
            LinkLayerType::Loopback => LinkKind::Loopback,
            _ if msg.header.flags.contains(LinkFlags::Loopback) => LinkKind::Loopback,
            LinkLayerType::Ether => LinkKind::Ethernet,
            other => LinkKind::Other(other.to_string().to_lowercase()),
        },
    };
    // IFLA_LINK names the lower device; with IFLA_LINK_NETNSID it is in another namespace.
    let parent_ifindex = match (link, link_netns) {
        (Some(l), false) if l != 0 && l != index => Some(l),
        _ => vxlan_link,
    };
    let bond = (kind == LinkKind::Bond).then(|| BondInfo {
        mode: bond_mode.unwrap_or_else(|| "unknown".to_string()).into(),
        slaves: Vec::new(),
    });
    Ok(Link {
        ifindex: index,
        name,
        kind,
        mac,
        mtu,
        admin_up: msg.header.flags.contains(LinkFlags::Up),
        oper_state: oper.unwrap_or_else(|| "unknown".to_string()).into(),
        carrier,
        master: None,
        master_ifindex,
        parent: None,
        parent_ifindex,
        vlan_id,
        vxlan_id,
        bond,
        bridge_ports: Vec::new(),
    })
}

/// Maps every link message and joins them: links ordered by ifindex, master and parent names
/// resolved, bridge ports and bond slaves listed (in ifindex order) on their master.
///
/// A master missing from the set is an [`InventoryError::UnknownLink`] (it vanished mid-dump);
/// a parent missing from the set is dropped (it lives in another namespace).
pub fn map_links(msgs: &[LinkMessage]) -> Result<Vec<Link>, InventoryError> {
    let mut links = msgs.iter().map(map_link).collect::<Result<Vec<_>, _>>()?;
    links.sort_by_key(|l| l.ifindex);
    links.dedup_by_key(|l| l.ifindex);
    let mut ports = Vec::new();
    for i in 0..links.len() {
        if let Some(m) = links[i].master_ifindex {
            let pos = position(&links, m).ok_or_else(|| InventoryError::UnknownLink {
                object: format!("the master of link {}", links[i].name),
                ifindex: m,
            })?;
            links[i].master = Some(links[pos].name.clone());
            ports.push((pos, i));
        }
        if let Some(p) = links[i].parent_ifindex {
            match position(&links, p) {
                Some(pos) => links[i].parent = Some(links[pos].name.clone()),
                None => links[i].parent_ifindex = None,
            }
        }
    }
    for (master, port) in ports {
        let name = links[port].name.clone();
        let m = &mut links[master];
        match m.kind {
            LinkKind::Bridge => m.bridge_ports.push(name),
            LinkKind::Bond => {
                if let Some(b) = m.bond.as_mut() {
                    b.slaves.push(name);
                }
            }
            _ => {}
        }
    }
    Ok(links)
}

fn position(links: &[Link], ifindex: u32) -> Option<usize> {
    links.binary_search_by_key(&ifindex, |l| l.ifindex).ok()
}

/// Looks up link names by ifindex in links sorted by ifindex.
pub struct NameIndex<'a> {
    links: &'a [Link],
}

impl<'a> NameIndex<'a> {
    /// Wraps links sorted by ifindex (as [`map_links`] returns them).
    pub fn new(links: &'a [Link]) -> Self {
        NameIndex { links }
    }

    /// The name of link `ifindex`, when present.
    pub fn name(&self, ifindex: u32) -> Option<&'a str> {
        position(self.links, ifindex).map(|i| self.links[i].name.as_str())
    }
}

fn bond_mode_name(mode: BondMode) -> String {
    match mode {
        BondMode::Other(n) => n.to_string(),
        m => m.to_string(),
    }
}

/// The link's hardware address: an EUI-48 from 6 bytes, anything else (InfiniBand's 20) in
/// the kernel's colon-hex spelling.
fn parse_mac(bytes: &[u8]) -> preflight_model::vocab::MacAddr {
    match <[u8; 6]>::try_from(bytes) {
        Ok(b) => preflight_model::vocab::MacAddr::Eui48(b),
        Err(_) => preflight_model::vocab::MacAddr::Other(format_mac(bytes)),
    }
}

fn format_mac(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}
