//! Addresses: decoding RTM_NEWADDR messages and mapping them to model [`Address`]es.

use std::net::IpAddr;

use netlink_packet_core::{NlasIterator, Parseable};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeader, AddressHeaderFlags, AddressMessage,
};
use netlink_packet_route::AddressFamily;
use preflight_model::observed::{Address, AddressFlags as ModelFlags, Family};

use crate::link::NameIndex;
use crate::names::scope;
use crate::InventoryError;

const ADDRESS_HEADER_LEN: usize = 8;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_FLAGS: u16 = 8;

/// Decodes the payload of an RTM_NEWADDR message (ifaddrmsg and attributes), keeping only
/// IFA_ADDRESS, IFA_LOCAL and IFA_FLAGS. Families other than IPv4 and IPv6 give `None`.
pub fn parse_address(payload: &[u8]) -> Result<Option<AddressMessage>, String> {
    let header = AddressHeader::parse(payload).map_err(|e| format!("address header: {e}"))?;
    if !matches!(header.family, AddressFamily::Inet | AddressFamily::Inet6) {
        return Ok(None);
    }
    let index = header.index;
    let mut msg = AddressMessage::default();
    msg.header = header;
    let attrs = payload.get(ADDRESS_HEADER_LEN..).unwrap_or(&[]);
    for nla in NlasIterator::new(attrs) {
        let nla = nla.map_err(|e| format!("address on link {index}: {e}"))?;
        let kind = nla.kind();
        if matches!(kind, IFA_ADDRESS | IFA_LOCAL | IFA_FLAGS) {
            msg.attributes.push(
                AddressAttribute::parse(&nla)
                    .map_err(|e| format!("address on link {index}: attribute {kind}: {e}"))?,
            );
        }
    }
    Ok(Some(msg))
}

/// Maps one address message to a model [`Address`]; `None` for families other than IPv4/IPv6.
///
/// The address is IFA_LOCAL when present (on point-to-point links IFA_ADDRESS is the peer),
/// else IFA_ADDRESS; flags come from IFA_FLAGS when present, else from the header.
pub fn map_address(
    msg: &AddressMessage,
    links: &NameIndex<'_>,
) -> Result<Option<Address>, InventoryError> {
    let family = match msg.header.family {
        AddressFamily::Inet => Family::Inet,
        AddressFamily::Inet6 => Family::Inet6,
        _ => return Ok(None),
    };
    let index = msg.header.index;
    let mut local = None;
    let mut address = None;
    let mut flags = None;
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(a) => local = Some(*a),
            AddressAttribute::Address(a) => address = Some(*a),
            AddressAttribute::Flags(f) => flags = Some(*f),
            _ => {}
        }
    }
    let addr: IpAddr = local
        .or(address)
        .ok_or_else(|| InventoryError::MissingAttribute {
            object: format!("an address on link {index}"),
            attribute: "IFA_ADDRESS",
        })?;
    let name = links
        .name(index)
        .ok_or_else(|| InventoryError::UnknownLink {
            object: format!("address {addr}/{}", msg.header.prefix_len),
            ifindex: index,
        })?;
    let flags = match flags {
        Some(f) => ModelFlags {
            tentative: f.contains(AddressFlags::Tentative),
            deprecated: f.contains(AddressFlags::Deprecated),
            dadfailed: f.contains(AddressFlags::Dadfailed),
            permanent: f.contains(AddressFlags::Permanent),
        },
        None => {
            let f = msg.header.flags;
            ModelFlags {
                tentative: f.contains(AddressHeaderFlags::Tentative),
                deprecated: f.contains(AddressHeaderFlags::Deprecated),
                dadfailed: f.contains(AddressHeaderFlags::Dadfailed),
                permanent: f.contains(AddressHeaderFlags::Permanent),
            }
        }
    };
    Ok(Some(Address {
        ifindex: index,
        link: name.to_string(),
        address: addr,
        prefix_len: msg.header.prefix_len,
        family,
        scope: scope(u8::from(msg.header.scope)).into(),
        flags,
    }))
}
