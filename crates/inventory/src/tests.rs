//! Unit tests of the mapping on constructed netlink messages: each message is built with
//! netlink-packet-route types, emitted to bytes, decoded by our filtered decoders and mapped,
//! so both the decoding and the mapping are exercised.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{DefaultNla, Emitable};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{
    BondMode, InfoBond, InfoData, InfoKind, InfoPortKind, InfoVlan, InfoVxlan, LinkAttribute,
    LinkFlags, LinkInfo, LinkLayerType, LinkMessage, State,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteNextHop, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::AddressFamily;
use preflight_model::observed::{Family, Identity, Link, LinkKind, ObservedConfig};

use crate::*;

// ---------- builders ----------

fn emit<T: Emitable>(msg: &T) -> Vec<u8> {
    let mut buf = vec![0u8; msg.buffer_len()];
    msg.emit(&mut buf);
    buf
}

fn link_msg(index: u32, name: Option<&str>, mut attrs: Vec<LinkAttribute>) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.header.link_layer_type = LinkLayerType::Ether;
    m.header.flags = LinkFlags::Up | LinkFlags::Running | LinkFlags::LowerUp;
    if let Some(n) = name {
        attrs.insert(0, LinkAttribute::IfName(n.to_string()));
    }
    m.attributes = attrs;
    m
}

/// A link with the usual attributes: MAC, MTU 1500, oper up, carrier.
fn eth(index: u32, name: &str, extra: Vec<LinkAttribute>) -> LinkMessage {
    let mut attrs = vec![
        LinkAttribute::Address(vec![0x02, 0, 0, 0, 0, index as u8]),
        LinkAttribute::Mtu(1500),
        LinkAttribute::OperState(State::Up),
        LinkAttribute::Carrier(1),
    ];
    attrs.extend(extra);
    link_msg(index, Some(name), attrs)
}

fn kind(k: InfoKind) -> LinkAttribute {
    LinkAttribute::LinkInfo(vec![LinkInfo::Kind(k)])
}

/// Emits and decodes every message, as the socket path does.
fn wire_links(msgs: &[LinkMessage]) -> Vec<LinkMessage> {
    msgs.iter()
        .map(|m| parse_link(&emit(m)).expect("decodes"))
        .collect()
}

fn links_of(msgs: &[LinkMessage]) -> Vec<Link> {
    map_links(&wire_links(msgs)).expect("maps")
}

fn find<'a>(links: &'a [Link], name: &str) -> &'a Link {
    links
        .iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("no link {name} in {links:#?}"))
}

fn addr_msg(
    index: u32,
    family: AddressFamily,
    prefix: u8,
    attrs: Vec<AddressAttribute>,
) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = family;
    m.header.prefix_len = prefix;
    m.header.index = index;
    m.attributes = attrs;
    m
}

fn route_msg(family: AddressFamily, prefix: u8, attrs: Vec<RouteAttribute>) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = family;
    m.header.destination_prefix_length = prefix;
    m.header.table = 254;
    m.header.protocol = RouteProtocol::Static;
    m.header.scope = RouteScope::Universe;
    m.header.kind = RouteType::Unicast;
    m.attributes = attrs;
    m
}

fn wire_addr(m: &AddressMessage) -> AddressMessage {
    parse_address(&emit(m))
        .expect("decodes")
        .expect("inet family")
}

fn wire_route(m: &RouteMessage) -> RouteMessage {
    parse_route(&emit(m))
        .expect("decodes")
        .expect("inet family")
}

fn test_identity() -> Identity {
    Identity {
        hostname: "h".into(),
        machine_id: None,
        system_id: Some("abc".into()),
        agent_version: "0".into(),
        observed_at: "2026-01-01T00:00:00Z".into(),
    }
}

fn config(
    links: &[LinkMessage],
    addrs: &[AddressMessage],
    routes: &[RouteMessage],
) -> Result<ObservedConfig, InventoryError> {
    let links = wire_links(links);
    let addrs: Vec<_> = addrs.iter().map(wire_addr).collect();
    let routes: Vec<_> = routes.iter().map(wire_route).collect();
    build_config(&links, &addrs, &routes, test_identity())
}

// ---------- links ----------

#[test]
fn vlan_30_on_a_parent() {
    let links = links_of(&[
        eth(2, "eth0", vec![]),
        eth(
            5,
            "eth0.30",
            vec![
                LinkAttribute::Link(2),
                LinkAttribute::LinkInfo(vec![
                    LinkInfo::Kind(InfoKind::Vlan),
                    LinkInfo::Data(InfoData::Vlan(vec![InfoVlan::Id(30)])),
                ]),
            ],
        ),
    ]);
    let vlan = find(&links, "eth0.30");
    assert_eq!(vlan.kind, LinkKind::Vlan);
    assert_eq!(vlan.vlan_id, Some(30));
    assert_eq!(vlan.parent.as_deref(), Some("eth0"));
    assert_eq!(vlan.parent_ifindex, Some(2));
    assert_eq!(vlan.master, None);
    let parent = find(&links, "eth0");
    assert_eq!(parent.kind, LinkKind::Ethernet);
    assert_eq!(parent.vlan_id, None);
    assert_eq!(parent.parent, None);
}

#[test]
fn bond_8023ad_with_two_slaves() {
    let slave = |i, n| {
        eth(
            i,
            n,
            vec![
                LinkAttribute::Controller(10),
                LinkAttribute::LinkInfo(vec![LinkInfo::PortKind(InfoPortKind::Bond)]),
            ],
        )
    };
    // Unsorted on purpose: the join must not depend on dump order.
    let links = links_of(&[
        eth(
            10,
            "bond0",
            vec![LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Bond),
                LinkInfo::Data(InfoData::Bond(vec![InfoBond::Mode(BondMode::Ieee8023Ad)])),
            ])],
        ),
        slave(4, "eth2"),
        slave(3, "eth1"),
        eth(2, "eth0", vec![]),
    ]);
    assert_eq!(
        links.iter().map(|l| l.ifindex).collect::<Vec<_>>(),
        vec![2, 3, 4, 10]
    );
    let bond = find(&links, "bond0");
    assert_eq!(bond.kind, LinkKind::Bond);
    let info = bond.bond.as_ref().expect("bond info");
    assert_eq!(info.mode, "802.3ad");
    assert_eq!(info.slaves, vec!["eth1", "eth2"]);
    assert!(bond.bridge_ports.is_empty());
    for n in ["eth1", "eth2"] {
        let s = find(&links, n);
        assert_eq!(s.master.as_deref(), Some("bond0"));
        assert_eq!(s.master_ifindex, Some(10));
        assert_eq!(s.kind, LinkKind::Ethernet);
        assert!(s.bond.is_none());
    }
    assert_eq!(find(&links, "eth0").master, None);
}

#[test]
fn bond_modes_and_missing_mode() {
    let bond = |mode: Option<BondMode>| {
        let mut infos = vec![LinkInfo::Kind(InfoKind::Bond)];
        if let Some(m) = mode {
            infos.push(LinkInfo::Data(InfoData::Bond(vec![InfoBond::Mode(m)])));
        }
        links_of(&[eth(7, "bond1", vec![LinkAttribute::LinkInfo(infos)])])
            .remove(0)
            .bond
            .expect("bond")
            .mode
    };
    assert_eq!(bond(Some(BondMode::ActiveBackup)), "active-backup");
    assert_eq!(bond(Some(BondMode::BalanceRr)), "balance-rr");
    assert_eq!(bond(None), "unknown");
}

#[test]
fn dummy_link() {
    let mut m = link_msg(
        8,
        Some("dummy0"),
        vec![
            LinkAttribute::Address(vec![0xaa, 0xbb, 0xcc, 0x0d, 0x0e, 0x0f]),
            LinkAttribute::Mtu(1500),
            LinkAttribute::OperState(State::Unknown),
            kind(InfoKind::Dummy),
        ],
    );
    m.header.flags = LinkFlags::Up | LinkFlags::Running;
    let l = links_of(&[m]).remove(0);
    assert_eq!(l.kind, LinkKind::Dummy);
    assert_eq!(
        l.mac.as_ref().map(ToString::to_string).as_deref(),
        Some("aa:bb:cc:0d:0e:0f")
    );
    assert_eq!(l.mtu, 1500);
    assert!(l.admin_up);
    assert_eq!(l.oper_state, "unknown");
    assert_eq!(l.carrier, None);
    assert_eq!(l.vlan_id, None);
    assert!(l.bond.is_none());
}

#[test]
fn bridge_ports_veth_peer_elsewhere_and_vxlan_underlay() {
    let links = links_of(&[
        eth(2, "eth0", vec![]),
        eth(3, "br0", vec![kind(InfoKind::Bridge)]),
        // A veth whose peer is in another namespace: IFLA_LINK is not ours.
        eth(
            4,
            "veth0",
            vec![
                LinkAttribute::Link(9),
                LinkAttribute::LinkNetNsId(1),
                LinkAttribute::Controller(3),
                kind(InfoKind::Veth),
            ],
        ),
        // A veth pair inside this namespace: the peer is the parent.
        eth(5, "va", vec![LinkAttribute::Link(6), kind(InfoKind::Veth)]),
        eth(
            6,
            "vb",
            vec![
                LinkAttribute::Link(5),
                LinkAttribute::Controller(3),
                kind(InfoKind::Veth),
            ],
        ),
        eth(
            7,
            "vx42",
            vec![LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Vxlan),
                LinkInfo::Data(InfoData::Vxlan(vec![InfoVxlan::Id(42), InfoVxlan::Link(2)])),
            ])],
        ),
        eth(
            8,
            "mv0",
            vec![LinkAttribute::Link(2), kind(InfoKind::MacVlan)],
        ),
    ]);
    let br = find(&links, "br0");
    assert_eq!(br.kind, LinkKind::Bridge);
    assert_eq!(br.bridge_ports, vec!["veth0", "vb"]);
    assert!(br.bond.is_none());
    let v0 = find(&links, "veth0");
    assert_eq!(v0.kind, LinkKind::Veth);
    assert_eq!((v0.parent.as_deref(), v0.parent_ifindex), (None, None));
    assert_eq!(v0.master.as_deref(), Some("br0"));
    let va = find(&links, "va");
    assert_eq!(
        (va.parent.as_deref(), va.parent_ifindex),
        (Some("vb"), Some(6))
    );
    let vx = find(&links, "vx42");
    assert_eq!(vx.kind, LinkKind::Vxlan);
    assert_eq!(vx.vxlan_id, Some(42));
    assert_eq!(vx.parent.as_deref(), Some("eth0"));
    let mv = find(&links, "mv0");
    assert_eq!(mv.kind, LinkKind::Macvlan);
    assert_eq!(mv.parent.as_deref(), Some("eth0"));
}

#[test]
fn loopback_and_admin_down() {
    let mut lo = link_msg(
        1,
        Some("lo"),
        vec![
            LinkAttribute::Address(vec![0; 6]),
            LinkAttribute::Mtu(65536),
            LinkAttribute::OperState(State::Unknown),
        ],
    );
    lo.header.link_layer_type = LinkLayerType::Loopback;
    let mut down = eth(2, "eth9", vec![LinkAttribute::Carrier(0)]);
    down.header.flags = LinkFlags::empty();
    down.attributes
        .retain(|a| !matches!(a, LinkAttribute::OperState(_)));
    down.attributes.push(LinkAttribute::OperState(State::Down));
    let mut tun = link_msg(3, Some("tun0"), vec![LinkAttribute::Mtu(1400)]);
    tun.header.link_layer_type = LinkLayerType::None;
    let links = links_of(&[lo, down, tun]);
    assert_eq!(links[0].kind, LinkKind::Loopback);
    assert_eq!(links[0].mtu, 65536);
    assert_eq!(
        links[0].mac.as_ref().map(ToString::to_string).as_deref(),
        Some("00:00:00:00:00:00")
    );
    assert!(!links[1].admin_up);
    assert_eq!(links[1].oper_state, "down");
    assert_eq!(links[1].carrier, Some(false));
    // No kind and not Ethernet: the link layer type names it; no hardware address.
    assert_eq!(links[2].kind, LinkKind::Other("none".into()));
    assert_eq!(links[2].mac, None);
}

// ---------- hostile links ----------

#[test]
fn missing_ifname_is_a_clear_error() {
    let m = link_msg(12, None, vec![LinkAttribute::Mtu(1500)]);
    let e = map_links(&wire_links(&[m])).unwrap_err();
    assert!(matches!(
        e,
        InventoryError::MissingAttribute {
            attribute: "IFLA_IFNAME",
            ..
        }
    ));
    assert_eq!(e.to_string(), "link 12: the kernel sent no IFLA_IFNAME");
    assert!(!e.is_transient());
}

#[test]
fn missing_mtu_operstate_and_mac_give_defaults() {
    let m = link_msg(3, Some("bare"), vec![]);
    let l = links_of(&[m]).remove(0);
    assert_eq!(l.mtu, 0);
    assert_eq!(l.oper_state, "unknown");
    assert_eq!(l.mac, None);
    assert_eq!(l.carrier, None);
    assert_eq!(l.kind, LinkKind::Ethernet);
}

#[test]
fn unknown_link_kind_keeps_the_kernel_string() {
    let l = links_of(&[eth(
        4,
        "odd0",
        vec![kind(InfoKind::Other("frobnicator".into()))],
    )])
    .remove(0);
    assert_eq!(l.kind, LinkKind::Other("frobnicator".into()));
    assert_eq!(l.kind.as_str(), "frobnicator");
    // Known kinds that the model has no variant for are kept by name too.
    let l = links_of(&[eth(5, "wg0", vec![kind(InfoKind::Wireguard)])]).remove(0);
    assert_eq!(l.kind, LinkKind::Other("wireguard".into()));
}

#[test]
fn non_utf8_name_is_replaced_lossily() {
    let m = link_msg(
        6,
        None,
        vec![
            LinkAttribute::Other(DefaultNla::new(3, b"et\xffh\xfe0\0".to_vec())),
            LinkAttribute::Mtu(1500),
        ],
    );
    let l = links_of(&[m]).remove(0);
    assert_eq!(l.name, "et\u{fffd}h\u{fffd}0");
    // The crate's own decoder refuses such a name: ours must not.
    let bytes = emit(&link_msg(
        6,
        None,
        vec![LinkAttribute::Other(DefaultNla::new(3, b"\xff\0".to_vec()))],
    ));
    assert!(parse_link(&bytes).is_ok());
}

#[test]
fn unknown_attributes_are_ignored() {
    let mut m = eth(2, "eth0", vec![]);
    m.attributes.push(LinkAttribute::Other(DefaultNla::new(
        999,
        vec![1, 2, 3, 4, 5],
    )));
    let l = links_of(&[m]).remove(0);
    assert_eq!(l.name, "eth0");
    assert_eq!(l.mtu, 1500);
}

#[test]
fn truncated_and_garbage_link_messages_are_errors_not_panics() {
    let bytes = emit(&eth(
        5,
        "eth0.30",
        vec![LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Vlan),
            LinkInfo::Data(InfoData::Vlan(vec![InfoVlan::Id(30)])),
        ])],
    ));
    assert!(parse_link(&bytes[..10]).is_err(), "short header");
    // Every truncation either decodes (at an attribute boundary) or is an error.
    for cut in 0..bytes.len() {
        let _ = parse_link(&bytes[..cut]);
        let _ = parse_address(&bytes[..cut]);
        let _ = parse_route(&bytes[..cut]);
    }
    // An attribute claiming more bytes than there are.
    let mut bad = bytes.clone();
    bad[16..18].copy_from_slice(&4000u16.to_ne_bytes());
    let e = parse_link(&bad).unwrap_err();
    assert!(e.starts_with("link 5:"), "{e}");
    // MTU of the wrong width.
    let m = link_msg(
        5,
        Some("x"),
        vec![LinkAttribute::Other(DefaultNla::new(4, vec![1, 2]))],
    );
    let e = parse_link(&emit(&m)).unwrap_err();
    assert!(e.contains("link 5: attribute 4"), "{e}");
    // Pseudo-random bytes: never a panic.
    let mut x: u32 = 0x1234_5678;
    for len in 0..400 {
        let buf: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let _ = parse_link(&buf);
        let _ = parse_address(&buf);
        let _ = parse_route(&buf);
    }
}

#[test]
fn master_missing_from_the_dump_is_transient() {
    let e = map_links(&wire_links(&[eth(
        3,
        "eth1",
        vec![LinkAttribute::Controller(10)],
    )]))
    .unwrap_err();
    assert!(
        matches!(e, InventoryError::UnknownLink { ifindex: 10, .. }),
        "{e}"
    );
    assert!(e.is_transient());
}

// ---------- addresses ----------

#[test]
fn addresses_map_with_scope_flags_and_order() {
    let links = [eth(2, "eth0", vec![]), eth(3, "eth1", vec![])];
    let mut v6 = addr_msg(
        2,
        AddressFamily::Inet6,
        64,
        vec![
            AddressAttribute::Address(IpAddr::V6("fe80::1".parse().unwrap())),
            AddressAttribute::Flags(AddressFlags::Permanent | AddressFlags::Tentative),
        ],
    );
    v6.header.scope = AddressScope::Link;
    let mut old = addr_msg(
        2,
        AddressFamily::Inet6,
        64,
        vec![AddressAttribute::Address(IpAddr::V6(
            "2001:db8::5".parse().unwrap(),
        ))],
    );
    // Without IFA_FLAGS, the header's flags count.
    old.header.flags = AddressHeaderFlags::Deprecated | AddressHeaderFlags::Dadfailed;
    let p2p = addr_msg(
        3,
        AddressFamily::Inet,
        32,
        vec![
            AddressAttribute::Address(IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9))),
            AddressAttribute::Local(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
            AddressAttribute::Label("eth1".into()),
        ],
    );
    let v4 = addr_msg(
        2,
        AddressFamily::Inet,
        24,
        vec![
            AddressAttribute::Local(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))),
            AddressAttribute::Address(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))),
        ],
    );
    let cfg = config(&links, &[p2p, v6, old, v4], &[]).unwrap();
    let got: Vec<_> = cfg
        .addresses
        .iter()
        .map(|a| (a.link.as_str(), a.address.to_string(), a.prefix_len))
        .collect();
    assert_eq!(
        got,
        vec![
            ("eth0", "192.0.2.7".to_string(), 24),
            ("eth0", "2001:db8::5".to_string(), 64),
            ("eth0", "fe80::1".to_string(), 64),
            ("eth1", "10.0.0.1".to_string(), 32),
        ]
    );
    let v4 = &cfg.addresses[0];
    assert_eq!((v4.family, v4.scope.as_str()), (Family::Inet, "global"));
    assert_eq!(v4.network().unwrap().to_string(), "192.0.2.0/24");
    let old = &cfg.addresses[1];
    assert!(old.flags.deprecated && old.flags.dadfailed);
    assert!(!old.flags.permanent && !old.flags.tentative);
    let ll = &cfg.addresses[2];
    assert_eq!((ll.family, ll.scope.as_str()), (Family::Inet6, "link"));
    assert!(ll.flags.permanent && ll.flags.tentative);
    assert!(!ll.flags.deprecated && !ll.flags.dadfailed);
}

#[test]
fn address_hostile_cases() {
    let links = [eth(2, "eth0", vec![])];
    // No address at all.
    let e = config(&links, &[addr_msg(2, AddressFamily::Inet, 24, vec![])], &[]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "an address on link 2: the kernel sent no IFA_ADDRESS"
    );
    // An address on a link the link dump did not have: transient.
    let m = addr_msg(
        9,
        AddressFamily::Inet,
        24,
        vec![AddressAttribute::Local(IpAddr::V4(Ipv4Addr::new(
            10, 1, 1, 1,
        )))],
    );
    let e = config(&links, &[m], &[]).unwrap_err();
    assert!(e.is_transient());
    assert!(
        e.to_string()
            .contains("address 10.1.1.1/24 refers to link 9"),
        "{e}"
    );
    // Other families are skipped by the decoder.
    let m = addr_msg(2, AddressFamily::Packet, 0, vec![]);
    assert!(parse_address(&emit(&m)).unwrap().is_none());
    // A non-UTF-8 label (IPv4 labels are interface names) does not break decoding.
    let m = addr_msg(
        2,
        AddressFamily::Inet,
        24,
        vec![
            AddressAttribute::Local(IpAddr::V4(Ipv4Addr::new(10, 1, 1, 1))),
            AddressAttribute::Other(DefaultNla::new(3, b"e\xff\0".to_vec())),
        ],
    );
    assert!(parse_address(&emit(&m)).unwrap().is_some());
}

// ---------- routes ----------

#[test]
fn routes_map_every_field() {
    let links = [eth(2, "eth0", vec![]), eth(3, "eth1", vec![])];
    let default4 = route_msg(
        AddressFamily::Inet,
        0,
        vec![
            RouteAttribute::Gateway(RouteAddress::Inet(Ipv4Addr::new(192, 0, 2, 1))),
            RouteAttribute::Oif(2),
            RouteAttribute::Priority(100),
        ],
    );
    let mut in_table_100 = route_msg(
        AddressFamily::Inet,
        16,
        vec![
            RouteAttribute::Destination(RouteAddress::Inet(Ipv4Addr::new(10, 20, 0, 0))),
            RouteAttribute::Oif(3),
            RouteAttribute::Table(100),
            RouteAttribute::PrefSource(RouteAddress::Inet(Ipv4Addr::new(10, 20, 0, 1))),
        ],
    );
    in_table_100.header.table = 252; // RT_TABLE_COMPAT: the attribute wins.
    in_table_100.header.scope = RouteScope::Link;
    in_table_100.header.protocol = RouteProtocol::Kernel;
    let mut local = route_msg(
        AddressFamily::Inet6,
        128,
        vec![
            RouteAttribute::Destination(RouteAddress::Inet6("2001:db8::1".parse().unwrap())),
            RouteAttribute::Oif(2),
            RouteAttribute::Priority(0),
        ],
    );
    local.header.table = 255;
    local.header.kind = RouteType::Local;
    local.header.scope = RouteScope::Host;
    local.header.protocol = RouteProtocol::Other(77);
    let mut blackhole = route_msg(AddressFamily::Inet6, 0, vec![]);
    blackhole.header.kind = RouteType::BlackHole;
    let default6 = route_msg(
        AddressFamily::Inet6,
        0,
        vec![
            RouteAttribute::Gateway(RouteAddress::Inet6("fe80::1".parse().unwrap())),
            RouteAttribute::Oif(3),
            RouteAttribute::Priority(1024),
        ],
    );
    let cfg = config(
        &links,
        &[],
        &[default4, in_table_100, local, blackhole, default6],
    )
    .unwrap();
    assert_eq!(cfg.routes.len(), 5);
    let r = &cfg.routes[0];
    assert_eq!(r.destination, None);
    assert_eq!(r.gateway, Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))));
    assert_eq!((r.oif.as_deref(), r.oif_index), (Some("eth0"), Some(2)));
    assert_eq!((r.table, r.metric), (254, Some(100)));
    assert_eq!(
        (r.protocol.as_str(), r.scope.as_str()),
        ("static", "global")
    );
    assert_eq!(r.route_type, "unicast");
    let r = &cfg.routes[1];
    assert_eq!(r.destination.unwrap().to_string(), "10.20.0.0/16");
    assert_eq!((r.table, r.metric, r.gateway), (100, None, None));
    assert_eq!(r.prefsrc, Some(IpAddr::V4(Ipv4Addr::new(10, 20, 0, 1))));
    assert_eq!((r.protocol.as_str(), r.scope.as_str()), ("kernel", "link"));
    assert_eq!(r.oif.as_deref(), Some("eth1"));
    let r = &cfg.routes[2];
    assert_eq!(r.family, Family::Inet6);
    assert_eq!(r.destination.unwrap().to_string(), "2001:db8::1/128");
    assert_eq!(
        (r.route_type.as_str(), r.table, r.metric),
        ("local", 255, Some(0))
    );
    assert_eq!((r.protocol.as_str(), r.scope.as_str()), ("77", "host"));
    let r = &cfg.routes[3];
    assert_eq!(
        (r.route_type.as_str(), r.oif.as_deref()),
        ("blackhole", None)
    );
    // Default gateways: unicast defaults of the main table only (not the blackhole).
    assert_eq!(cfg.default_gateways.len(), 2);
    let g4 = &cfg.default_gateways[0];
    assert_eq!(g4.family, Family::Inet);
    assert_eq!(g4.gateway, Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))));
    assert_eq!((g4.oif.as_deref(), g4.metric), (Some("eth0"), Some(100)));
    let g6 = &cfg.default_gateways[1];
    assert_eq!(g6.family, Family::Inet6);
    assert_eq!(
        g6.gateway,
        Some(IpAddr::V6("fe80::1".parse::<Ipv6Addr>().unwrap()))
    );
    assert_eq!(g6.oif.as_deref(), Some("eth1"));
}

#[test]
fn default_route_outside_main_table_is_not_a_default_gateway() {
    let links = [eth(2, "eth0", vec![])];
    let mut r = route_msg(
        AddressFamily::Inet,
        0,
        vec![
            RouteAttribute::Gateway(RouteAddress::Inet(Ipv4Addr::new(10, 0, 0, 1))),
            RouteAttribute::Oif(2),
        ],
    );
    r.header.table = 100;
    let cfg = config(&links, &[], &[r]).unwrap();
    assert_eq!(cfg.routes.len(), 1);
    assert!(cfg.default_gateways.is_empty());
}

#[test]
fn multipath_route_takes_the_first_next_hop() {
    let links = [eth(2, "eth0", vec![]), eth(3, "eth1", vec![])];
    let hop = |oif, gw: [u8; 4]| {
        let mut h = RouteNextHop::default();
        h.interface_index = oif;
        h.attributes = vec![RouteAttribute::Gateway(RouteAddress::Inet(Ipv4Addr::from(
            gw,
        )))];
        h
    };
    let r = route_msg(
        AddressFamily::Inet,
        0,
        vec![RouteAttribute::MultiPath(vec![
            hop(3, [10, 0, 1, 1]),
            hop(2, [10, 0, 0, 1]),
        ])],
    );
    let cfg = config(&links, &[], &[r]).unwrap();
    let r = &cfg.routes[0];
    assert_eq!(r.oif.as_deref(), Some("eth1"));
    assert_eq!(r.gateway, Some(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1))));
}

#[test]
fn route_hostile_cases() {
    let links = [eth(2, "eth0", vec![])];
    let r = route_msg(
        AddressFamily::Inet,
        24,
        vec![
            RouteAttribute::Destination(RouteAddress::Inet(Ipv4Addr::new(10, 0, 0, 0))),
            RouteAttribute::Oif(42),
        ],
    );
    let e = config(&links, &[], &[r]).unwrap_err();
    assert!(e.is_transient());
    assert!(
        e.to_string()
            .contains("route 10.0.0.0/24 table 254 refers to link 42"),
        "{e}"
    );
    // Multicast-routing and MPLS families are skipped.
    let mut m = route_msg(AddressFamily::Inet, 0, vec![]);
    m.header.address_family = AddressFamily::Mpls;
    assert!(parse_route(&emit(&m)).unwrap().is_none());
    // Unknown attributes are ignored; a destination without RTA_DST is the zero network.
    let r = route_msg(
        AddressFamily::Inet6,
        8,
        vec![RouteAttribute::Other(DefaultNla::new(200, vec![0; 8]))],
    );
    let cfg = config(&links, &[], &[r]).unwrap();
    assert_eq!(cfg.routes[0].destination.unwrap().to_string(), "::/8");
}

// ---------- whole config and text ----------

#[test]
fn config_is_versioned_and_round_trips_through_json() {
    let links = [eth(3, "eth1", vec![]), eth(2, "eth0", vec![])];
    let cfg = config(&links, &[], &[]).unwrap();
    assert_eq!(cfg.schema, "preflight.observed/v1");
    assert_eq!(cfg.identity.system_id.as_deref(), Some("abc"));
    assert_eq!(cfg.links[0].name, "eth0");
    let json = serde_json::to_string(&cfg).unwrap();
    let back: ObservedConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, cfg);
}

#[test]
fn text_table_has_one_row_per_link() {
    let mut down = eth(4, "eth9", vec![]);
    down.header.flags = LinkFlags::empty();
    let links = [
        eth(2, "eth0", vec![LinkAttribute::Controller(3)]),
        eth(
            3,
            "br0",
            vec![kind(InfoKind::Bridge), LinkAttribute::Mtu(9000)],
        ),
        down,
    ];
    let addrs = [
        addr_msg(
            3,
            AddressFamily::Inet6,
            64,
            vec![AddressAttribute::Address(IpAddr::V6(
                "2001:db8::1".parse().unwrap(),
            ))],
        ),
        addr_msg(
            3,
            AddressFamily::Inet,
            24,
            vec![AddressAttribute::Local(IpAddr::V4(Ipv4Addr::new(
                10, 0, 0, 1,
            )))],
        ),
    ];
    let text = render_text(&config(&links, &addrs, &[]).unwrap());
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        ["NAME", "KIND", "STATE", "MTU", "MASTER", "ADDRESSES"]
    );
    assert_eq!(lines[1], ["eth0", "ethernet", "UP", "1500", "br0"]);
    // br0 carries two IFLA_MTU attributes (1500 from the builder, then 9000): the last wins.
    assert_eq!(
        lines[2],
        [
            "br0",
            "bridge",
            "UP",
            "9000",
            "-",
            "10.0.0.1/24",
            "2001:db8::1/64"
        ]
    );
    assert_eq!(lines[3], ["eth9", "ethernet", "ADMIN-DOWN", "1500", "-"]);
    assert_eq!(lines.len(), 4);
    // Columns line up: every row's KIND starts where the header's does.
    let col = text.lines().next().unwrap().find("KIND").unwrap();
    for l in text.lines().skip(1) {
        assert_eq!(&l[col - 2..col], "  ");
    }
}

// ---------- retries ----------

#[test]
fn transient_errors_are_retried_then_reported_as_unstable() {
    let mut calls = 0;
    let r: Result<u32, _> = with_retries(5, || {
        calls += 1;
        if calls < 3 {
            Err(InventoryError::Interrupted { dump: Dump::Routes })
        } else {
            Ok(calls)
        }
    });
    assert_eq!(r.unwrap(), 3);

    let mut calls = 0;
    let e = with_retries::<()>(5, || {
        calls += 1;
        Err(InventoryError::UnknownLink {
            object: "route 10.0.0.0/8 table 254".into(),
            ifindex: 9,
        })
    })
    .unwrap_err();
    assert_eq!(calls, 5);
    assert!(matches!(e, InventoryError::Unstable { attempts: 5, .. }));
    assert!(!e.is_transient());
    assert_eq!(
        e.to_string(),
        "the network configuration kept changing while it was read (5 attempts)"
    );
    let last = std::error::Error::source(&e)
        .expect("last error")
        .to_string();
    assert!(last.contains("refers to link 9"), "{last}");
}

#[test]
fn fatal_errors_are_not_retried() {
    let mut calls = 0;
    let e = with_retries::<()>(5, || {
        calls += 1;
        Err(InventoryError::Decode {
            dump: Dump::Links,
            detail: "bad".into(),
        })
    })
    .unwrap_err();
    assert_eq!(calls, 1);
    assert_eq!(
        e.to_string(),
        "malformed netlink message in the link dump: bad"
    );
    let e = InventoryError::Kernel {
        dump: Dump::Links,
        source: std::io::Error::from_raw_os_error(libc::ENODEV),
    };
    assert!(
        e.is_transient(),
        "a link vanishing mid-dump (ENODEV) is retried"
    );
}

// ---------- link info data ----------

#[test]
fn only_the_needed_link_info_data_is_decoded() {
    // A bond whose data carries an attribute the crate would reject (IFLA_BOND_MIIMON, u32,
    // sent with one byte) and an unknown one: the mode is still read.
    let l = links_of(&[eth(
        7,
        "bond0",
        vec![LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Bond),
            LinkInfo::Data(InfoData::Bond(vec![
                InfoBond::Other(DefaultNla::new(3, vec![1])),
                InfoBond::Mode(BondMode::BalanceXor),
                InfoBond::Other(DefaultNla::new(250, vec![0; 12])),
            ])),
        ])],
    )])
    .remove(0);
    assert_eq!(l.bond.unwrap().mode, "balance-xor");
    // But a malformed attribute the model needs is a clear error.
    let m = eth(
        5,
        "eth0.30",
        vec![LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Vlan),
            LinkInfo::Data(InfoData::Vlan(vec![InfoVlan::Other(DefaultNla::new(
                1,
                vec![1, 2, 3],
            ))])),
        ])],
    );
    let e = parse_link(&emit(&m)).unwrap_err();
    assert!(e.contains("link 5: IFLA_LINKINFO: IFLA_VLAN_ID"), "{e}");
    // A vlan without data maps with no id.
    let l = links_of(&[eth(6, "v", vec![kind(InfoKind::Vlan)])]).remove(0);
    assert_eq!((l.kind, l.vlan_id), (LinkKind::Vlan, None));
}

#[test]
fn huge_name_and_many_attributes() {
    let long = "n".repeat(4000);
    let mut attrs: Vec<LinkAttribute> = (0..2000)
        .map(|i| LinkAttribute::Other(DefaultNla::new(300 + (i % 100) as u16, vec![0; 8])))
        .collect();
    attrs.push(LinkAttribute::Mtu(1280));
    let l = links_of(&[link_msg(9, Some(&long), attrs)]).remove(0);
    assert_eq!(l.name.len(), 4000);
    assert_eq!(l.mtu, 1280);
}

#[test]
fn resolv_conf_nameservers_in_order_at_most_three_hostile_lines_skipped() {
    let text = "# generated\n; comment\nsearch maas\nnameserver 10.0.0.2\nnameserver   fe80::1%eth0\n\
                nameserver\nnameserver not-an-ip\nnameserver 2001:db8::53 # trailing\noptions edns0\n\
                nameserver 10.0.0.3\nnameserver 10.0.0.4\n\u{0}\u{ffff}nameserver 1.1.1.1\n";
    let got = crate::parse_resolv_conf(text);
    let want: Vec<std::net::IpAddr> = ["10.0.0.2", "2001:db8::53", "10.0.0.3"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    assert_eq!(got, want);
    assert!(crate::parse_resolv_conf("").is_empty());
    assert!(crate::parse_resolv_conf(&"nameserver x\n".repeat(10_000)).is_empty());
}

#[test]
fn an_infiniband_address_is_kept_verbatim_and_an_ethernet_one_is_parsed() {
    let ib: Vec<u8> = (0..20u8).collect();
    let m = link_msg(4, Some("ib0"), vec![LinkAttribute::Address(ib)]);
    let e = eth(5, "eth5", vec![]);
    let links = links_of(&[m, e]);
    assert_eq!(
        links[0].mac,
        Some(preflight_model::vocab::MacAddr::Other(
            "00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10:11:12:13".into()
        ))
    );
    assert!(matches!(
        links[1].mac,
        Some(preflight_model::vocab::MacAddr::Eui48(_))
    ));
}
