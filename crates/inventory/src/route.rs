//! Routes: decoding RTM_NEWROUTE messages and mapping them to model [`Route`]s, and the
//! default gateways.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use netlink_packet_core::{NlasIterator, ParseableParametrized};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteLwEnCapType, RouteMessage, RouteVia,
};
use netlink_packet_route::AddressFamily;
use preflight_model::observed::{DefaultGateway, Family, Route};

use crate::link::NameIndex;
use crate::names::{protocol, route_type, scope};
use crate::InventoryError;

const ROUTE_HEADER_LEN: usize = 12;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
const RTA_VIA: u16 = 18;

/// Table id of the main table.
pub(crate) const RT_TABLE_MAIN: u32 = 254;

/// Decodes the payload of an RTM_NEWROUTE message (rtmsg and attributes), keeping only the
/// attributes the model uses. Families other than IPv4 and IPv6 (multicast routing, MPLS)
/// give `None`.
pub fn parse_route(payload: &[u8]) -> Result<Option<RouteMessage>, String> {
    let header = RouteHeader::parse(payload).map_err(|e| format!("route header: {e}"))?;
    let family = header.address_family;
    if !matches!(family, AddressFamily::Inet | AddressFamily::Inet6) {
        return Ok(None);
    }
    let param = (family, header.kind, RouteLwEnCapType::None);
    let mut msg = RouteMessage::default();
    msg.header = header;
    let attrs = payload.get(ROUTE_HEADER_LEN..).unwrap_or(&[]);
    for nla in NlasIterator::new(attrs) {
        let nla = nla.map_err(|e| format!("route: {e}"))?;
        let kind = nla.kind();
        if matches!(
            kind,
            RTA_DST
                | RTA_OIF
                | RTA_GATEWAY
                | RTA_PRIORITY
                | RTA_PREFSRC
                | RTA_MULTIPATH
                | RTA_TABLE
                | RTA_VIA
        ) {
            msg.attributes.push(
                RouteAttribute::parse_with_param(&nla, param)
                    .map_err(|e| format!("route: attribute {kind}: {e}"))?,
            );
        }
    }
    Ok(Some(msg))
}

/// Maps one route message to a model [`Route`]; `None` for families other than IPv4/IPv6.
///
/// The table is RTA_TABLE when present (tables above 255), else the header's. For a multipath
/// route without its own gateway and output link, those of the first next hop are used.
/// An output link missing from `links` is an [`InventoryError::UnknownLink`].
pub fn map_route(
    msg: &RouteMessage,
    links: &NameIndex<'_>,
) -> Result<Option<Route>, InventoryError> {
    let h = &msg.header;
    let family = match h.address_family {
        AddressFamily::Inet => Family::Inet,
        AddressFamily::Inet6 => Family::Inet6,
        _ => return Ok(None),
    };
    let mut dst = None;
    let mut gateway = None;
    let mut prefsrc = None;
    let mut oif = None;
    let mut table = u32::from(h.table);
    let mut metric = None;
    let mut first_hop = None;
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Destination(a) => dst = ip_of(a),
            RouteAttribute::Gateway(a) => gateway = ip_of(a),
            RouteAttribute::Via(v) => gateway = gateway.or_else(|| via_ip(v)),
            RouteAttribute::PrefSource(a) => prefsrc = ip_of(a),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Priority(p) => metric = Some(*p),
            RouteAttribute::MultiPath(hops) => first_hop = hops.first(),
            _ => {}
        }
    }
    if let Some(hop) = first_hop {
        if oif.is_none() && hop.interface_index != 0 {
            oif = Some(hop.interface_index);
        }
        if gateway.is_none() {
            for attr in &hop.attributes {
                match attr {
                    RouteAttribute::Gateway(a) => gateway = ip_of(a),
                    RouteAttribute::Via(v) => gateway = via_ip(v),
                    _ => {}
                }
            }
        }
    }
    let destination = if h.destination_prefix_length == 0 {
        None
    } else {
        let addr = dst.unwrap_or(match family {
            Family::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        });
        IpNet::new(addr, h.destination_prefix_length).ok()
    };
    let oif_name = match oif {
        Some(i) => Some(
            links
                .name(i)
                .ok_or_else(|| InventoryError::UnknownLink {
                    object: format!(
                        "route {} table {table}",
                        destination.map_or_else(|| "default".to_string(), |d| d.to_string())
                    ),
                    ifindex: i,
                })?
                .to_string(),
        ),
        None => None,
    };
    Ok(Some(Route {
        family,
        route_type: route_type(u8::from(h.kind)).into(),
        destination,
        gateway,
        prefsrc,
        oif: oif_name,
        oif_index: oif,
        table,
        metric,
        protocol: protocol(u8::from(h.protocol)).into(),
        scope: scope(u8::from(h.scope)).into(),
    }))
}

/// The default gateways: unicast routes to 0.0.0.0/0 or ::/0 in the main table, in route order.
pub fn default_gateways(routes: &[Route]) -> Vec<DefaultGateway> {
    routes
        .iter()
        .filter(|r| {
            r.destination.is_none() && r.table == RT_TABLE_MAIN && r.route_type == "unicast"
        })
        .map(|r| DefaultGateway {
            family: r.family,
            gateway: r.gateway,
            oif: r.oif.clone(),
            metric: r.metric,
        })
        .collect()
}

fn ip_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn via_ip(v: &RouteVia) -> Option<IpAddr> {
    match v {
        RouteVia::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteVia::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}
