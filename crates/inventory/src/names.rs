//! The names `ip` (iproute2) gives to scopes, route protocols, route types and operational
//! states, so the JSON reads like `ip` output and can be compared with it.

use netlink_packet_route::link::State;

/// Scope name as `ip` prints it (`rtnl_rtscope_n2a`): global, site, link, host, nowhere, or the number.
pub(crate) fn scope(value: u8) -> String {
    match value {
        0 => "global".to_string(),
        200 => "site".to_string(),
        253 => "link".to_string(),
        254 => "host".to_string(),
        255 => "nowhere".to_string(),
        n => n.to_string(),
    }
}

/// Route protocol name as `ip` prints it (`rtnl_rtprot_n2a`, kernel-defined values), or the number.
pub(crate) fn protocol(value: u8) -> String {
    let name = match value {
        0 => "unspec",
        1 => "redirect",
        2 => "kernel",
        3 => "boot",
        4 => "static",
        8 => "gated",
        9 => "ra",
        10 => "mrt",
        11 => "zebra",
        12 => "bird",
        13 => "dnrouted",
        14 => "xorp",
        15 => "ntk",
        16 => "dhcp",
        17 => "mrouted",
        18 => "keepalived",
        42 => "babel",
        99 => "openr",
        186 => "bgp",
        187 => "isis",
        188 => "ospf",
        189 => "rip",
        192 => "eigrp",
        n => return n.to_string(),
    };
    name.to_string()
}

/// Route type name as `ip` prints it (`rtnl_rtntype_n2a`), or the number.
pub(crate) fn route_type(value: u8) -> String {
    let name = match value {
        0 => "none",
        1 => "unicast",
        2 => "local",
        3 => "broadcast",
        4 => "anycast",
        5 => "multicast",
        6 => "blackhole",
        7 => "unreachable",
        8 => "prohibit",
        9 => "throw",
        10 => "nat",
        11 => "xresolve",
        n => return n.to_string(),
    };
    name.to_string()
}

/// Operational state in lower case (up, down, lowerlayerdown, unknown, dormant, notpresent, testing).
pub(crate) fn oper_state(state: &State) -> String {
    match state {
        State::Unknown => "unknown".to_string(),
        State::NotPresent => "notpresent".to_string(),
        State::Down => "down".to_string(),
        State::LowerLayerDown => "lowerlayerdown".to_string(),
        State::Testing => "testing".to_string(),
        State::Dormant => "dormant".to_string(),
        State::Up => "up".to_string(),
        State::Other(n) => n.to_string(),
        other => format!("{other}").to_lowercase(),
    }
}

/// Lossy UTF-8 of a netlink string attribute, without its trailing NUL bytes.
pub(crate) fn lossy_string(bytes: &[u8]) -> String {
    let end = bytes
        .iter()
        .rposition(|&b| b != 0)
        .map(|i| i + 1)
        .unwrap_or(0);
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_iproute2() {
        assert_eq!(scope(0), "global");
        assert_eq!(scope(253), "link");
        assert_eq!(scope(254), "host");
        assert_eq!(scope(77), "77");
        assert_eq!(protocol(2), "kernel");
        assert_eq!(protocol(4), "static");
        assert_eq!(protocol(250), "250");
        assert_eq!(route_type(2), "local");
        assert_eq!(route_type(6), "blackhole");
        assert_eq!(route_type(200), "200");
        assert_eq!(oper_state(&State::LowerLayerDown), "lowerlayerdown");
        assert_eq!(oper_state(&State::Other(9)), "9");
    }

    #[test]
    fn lossy_string_strips_nul_and_replaces_bad_bytes() {
        assert_eq!(lossy_string(b"eth0\0"), "eth0");
        assert_eq!(lossy_string(b"eth0"), "eth0");
        assert_eq!(lossy_string(b""), "");
        assert_eq!(lossy_string(b"\0\0"), "");
        assert_eq!(lossy_string(b"e\xfft\0"), "e\u{fffd}t");
    }
}
