//! Who answers for an address on a link: RFC 5227 ARP probes and IPv6 Neighbor Solicitations
//! on raw `AF_PACKET` sockets (no external binaries).
//!
//! IPv4: an ARP request with sender IP 0.0.0.0 (an "ARP probe", RFC 5227 §2.1.1) broadcast on
//! the device; every host holding the target address answers it, and none of them updates
//! its neighbour cache from it. IPv6: a Neighbor Solicitation from `::` (as duplicate address
//! detection sends, RFC 4862 §5.4.2) to the target's solicited-node group; holders answer
//! with a Neighbor Advertisement to all-nodes. Every distinct MAC that answers is recorded,
//! so two holders of one address show as two MACs.
//!
//! One socket per (device, family); every target of a device is probed in each round, and
//! replies are read until `wait` after the last round. Only the addresses given are asked
//! for, only on the devices given.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IPV6: u16 = 0x86dd;
const PACKET_OUTGOING: u8 = 4;

/// One address to ask for on one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighbourJob {
    /// Interface to send on.
    pub device: String,
    /// Address whose holders must answer.
    pub target: IpAddr,
}

/// What came back for one job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NeighbourOutcome {
    /// Probes sent.
    pub sent: u32,
    /// Distinct MACs that answered, in the order first seen.
    pub macs: Vec<[u8; 6]>,
    /// Why nothing could be sent, when so (no such device, no permission, ...).
    pub error: Option<String>,
}

struct Group {
    fd: OwnedFd,
    ifindex: i32,
    mac: [u8; 6],
    v6: bool,
    /// (job index, target)
    jobs: Vec<(usize, IpAddr)>,
}

fn os_err(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

fn open_group(device: &str, v6: bool) -> Result<(OwnedFd, i32, [u8; 6]), String> {
    let proto = if v6 { ETH_P_IPV6 } else { ETH_P_ARP };
    let ifindex = crate::sock::if_index(device).map_err(|e| format!("{device}: {e}"))? as i32;
    // SAFETY: plain socket(2) call; the descriptor is owned right away.
    let raw = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            i32::from(proto.to_be()),
        )
    };
    if raw < 0 {
        return Err(os_err("cannot open a packet socket (needs CAP_NET_RAW)"));
    }
    // SAFETY: `raw` is a fresh, valid descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: zeroed sockaddr_ll is a valid value; fields set below.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto.to_be();
    sll.sll_ifindex = ifindex;
    // SAFETY: sll is a valid sockaddr_ll of the given length.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if rc < 0 {
        return Err(os_err(&format!("cannot bind a packet socket to {device}")));
    }
    // SAFETY: zeroed ifreq is valid; the name is copied in bounded by IFNAMSIZ - 1.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr
        .ifr_name
        .iter_mut()
        .zip(device.bytes().take(libc::IFNAMSIZ - 1))
    {
        *d = s as libc::c_char;
    }
    // SAFETY: SIOCGIFHWADDR fills ifr_hwaddr of a valid ifreq.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFHWADDR, &mut ifr) };
    if rc < 0 {
        return Err(os_err(&format!("cannot read the MAC of {device}")));
    }
    // SAFETY: after a successful SIOCGIFHWADDR the union holds ifru_hwaddr.
    let hw = unsafe { ifr.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (m, b) in mac.iter_mut().zip(hw.sa_data.iter()) {
        *m = *b as u8;
    }
    Ok((fd, ifindex, mac))
}

/// The ARP probe frame (RFC 5227: sender IP 0.0.0.0, target MAC zero), padded to 60 bytes.
pub fn arp_probe_frame(mac: &[u8; 6], target: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(mac);
    f.extend_from_slice(&ETH_P_ARP.to_be_bytes());
    f.extend_from_slice(&[0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]);
    f.extend_from_slice(mac);
    f.extend_from_slice(&[0; 4]);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target.octets());
    f.resize(60, 0);
    f
}

fn solicited_node(t: &Ipv6Addr) -> Ipv6Addr {
    let o = t.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        (u16::from(o[14]) << 8) | u16::from(o[15]),
    )
}

fn icmpv6_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, msg: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], 0])
            };
            sum += u32::from(w);
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(msg.len() as u32).to_be_bytes());
    add(&[0, 0, 0, 58]);
    add(msg);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The Neighbor Solicitation frame (source `::`, no link-layer option, to the solicited-node group).
pub fn ns_frame(mac: &[u8; 6], target: Ipv6Addr) -> Vec<u8> {
    let dst = solicited_node(&target);
    let d = dst.octets();
    let mut f = Vec::with_capacity(86);
    f.extend_from_slice(&[0x33, 0x33, d[12], d[13], d[14], d[15]]);
    f.extend_from_slice(mac);
    f.extend_from_slice(&ETH_P_IPV6.to_be_bytes());
    let mut msg = vec![135u8, 0, 0, 0, 0, 0, 0, 0];
    msg.extend_from_slice(&target.octets());
    let ck = icmpv6_checksum(&Ipv6Addr::UNSPECIFIED, &dst, &msg);
    msg[2..4].copy_from_slice(&ck.to_be_bytes());
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    f.extend_from_slice(&[58, 255]);
    f.extend_from_slice(&Ipv6Addr::UNSPECIFIED.octets());
    f.extend_from_slice(&d);
    f.extend_from_slice(&msg);
    f
}

/// Who a received frame says holds which address: `(address, MAC)`, for ARP replies and
/// requests from a real sender, and for Neighbor Advertisements.
pub fn parse_answer(frame: &[u8]) -> Option<(IpAddr, [u8; 6])> {
    if frame.len() < 14 {
        return None;
    }
    let eth_src: [u8; 6] = frame[6..12].try_into().ok()?;
    match u16::from_be_bytes([frame[12], frame[13]]) {
        ETH_P_ARP => {
            let a = frame.get(14..42)?;
            if a[0..2] != [0, 1] || a[2..4] != [8, 0] || a[4] != 6 || a[5] != 4 {
                return None;
            }
            let op = u16::from_be_bytes([a[6], a[7]]);
            let sha: [u8; 6] = a[8..14].try_into().ok()?;
            let spa = Ipv4Addr::new(a[14], a[15], a[16], a[17]);
            if (op == 1 || op == 2) && !spa.is_unspecified() {
                return Some((IpAddr::V4(spa), sha));
            }
            None
        }
        ETH_P_IPV6 => {
            let ip = frame.get(14..54)?;
            if ip[0] >> 4 != 6 || ip[6] != 58 {
                return None;
            }
            let icmp = frame.get(54..)?;
            if icmp.len() < 24 || icmp[0] != 136 {
                return None;
            }
            let t: [u8; 16] = icmp[8..24].try_into().ok()?;
            let mut mac = eth_src;
            // Target link-layer address option (type 2, length 1 = 8 bytes).
            let mut opts = &icmp[24..];
            while opts.len() >= 8 {
                let len = usize::from(opts[1]) * 8;
                if len == 0 || len > opts.len() {
                    break;
                }
                if opts[0] == 2 && len == 8 {
                    mac = opts[2..8].try_into().ok()?;
                }
                opts = &opts[len..];
            }
            Some((IpAddr::V6(Ipv6Addr::from(t)), mac))
        }
        _ => None,
    }
}

fn send(fd: &OwnedFd, ifindex: i32, frame: &[u8]) -> bool {
    // SAFETY: zeroed sockaddr_ll is valid; fields set below.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_ifindex = ifindex;
    sll.sll_halen = 6;
    sll.sll_addr[..6].copy_from_slice(&frame[..6]);
    // SAFETY: frame and sll are valid for the lengths given.
    let rc = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    rc >= 0
}

fn drain(g: &Group, out: &mut [NeighbourOutcome]) {
    let mut buf = [0u8; 2048];
    loop {
        // SAFETY: zeroed sockaddr_ll is valid to receive into.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
        // SAFETY: buf and sll are valid for the lengths given.
        let n = unsafe {
            libc::recvfrom(
                g.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&mut sll as *mut libc::sockaddr_ll).cast(),
                &mut len,
            )
        };
        if n <= 0 {
            return;
        }
        if sll.sll_pkttype == PACKET_OUTGOING {
            continue;
        }
        let Some((addr, mac)) = parse_answer(&buf[..n as usize]) else {
            continue;
        };
        if mac == g.mac {
            continue;
        }
        for &(j, t) in &g.jobs {
            if t == addr && !out[j].macs.contains(&mac) {
                out[j].macs.push(mac);
            }
        }
    }
}

/// Probes every job `rounds` times, `interval` apart, and listens until `wait` after the
/// last round. Blocking; one result per job, in order.
pub fn probe(
    jobs: &[NeighbourJob],
    rounds: u32,
    interval: Duration,
    wait: Duration,
) -> Vec<NeighbourOutcome> {
    let mut out = vec![NeighbourOutcome::default(); jobs.len()];
    let mut by_key: BTreeMap<(String, bool), Vec<(usize, IpAddr)>> = BTreeMap::new();
    for (i, j) in jobs.iter().enumerate() {
        by_key
            .entry((j.device.clone(), j.target.is_ipv6()))
            .or_default()
            .push((i, j.target));
    }
    let mut groups = Vec::new();
    for ((device, v6), js) in by_key {
        match open_group(&device, v6) {
            Ok((fd, ifindex, mac)) => groups.push(Group {
                fd,
                ifindex,
                mac,
                v6,
                jobs: js,
            }),
            Err(e) => {
                for (i, _) in js {
                    out[i].error = Some(e.clone());
                }
            }
        }
    }
    if groups.is_empty() {
        return out;
    }
    let rounds = rounds.max(1);
    for round in 0..rounds {
        for g in &groups {
            for &(j, t) in &g.jobs {
                let frame = match (t, g.v6) {
                    (IpAddr::V4(a), false) => arp_probe_frame(&g.mac, a),
                    (IpAddr::V6(a), true) => ns_frame(&g.mac, a),
                    _ => continue,
                };
                if send(&g.fd, g.ifindex, &frame) {
                    out[j].sent += 1;
                } else if out[j].error.is_none() && out[j].sent == 0 {
                    out[j].error = Some(os_err("cannot send"));
                }
            }
        }
        let until = Instant::now() + if round + 1 == rounds { wait } else { interval };
        listen(&groups, &mut out, until);
    }
    out
}

fn listen(groups: &[Group], out: &mut [NeighbourOutcome], until: Instant) {
    let mut fds: Vec<libc::pollfd> = groups
        .iter()
        .map(|g| libc::pollfd {
            fd: g.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            for g in groups {
                drain(g, out);
            }
            return;
        }
        let ms = left.as_millis().clamp(1, 60_000) as i32;
        // SAFETY: fds is a valid array of pollfd of the given length.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if rc > 0 {
            for (g, p) in groups.iter().zip(fds.iter_mut()) {
                if p.revents != 0 {
                    drain(g, out);
                }
                p.revents = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x52, 0x54, 0, 0, 0, 1];

    #[test]
    fn arp_probe_has_zero_sender_ip_and_is_broadcast() {
        let f = arp_probe_frame(&MAC, "10.0.0.9".parse().unwrap());
        assert_eq!(f.len(), 60);
        assert_eq!(&f[0..6], &[0xff; 6]);
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        assert_eq!(&f[20..22], &[0, 1], "request");
        assert_eq!(&f[28..32], &[0, 0, 0, 0], "sender IP 0.0.0.0");
        assert_eq!(&f[38..42], &[10, 0, 0, 9]);
    }

    #[test]
    fn arp_reply_names_its_sender_and_probes_are_not_answers() {
        let mut reply = arp_probe_frame(&[2, 0, 0, 0, 0, 7], "10.0.0.1".parse().unwrap());
        reply[20..22].copy_from_slice(&[0, 2]);
        reply[28..32].copy_from_slice(&[10, 0, 0, 9]);
        assert_eq!(
            parse_answer(&reply),
            Some(("10.0.0.9".parse().unwrap(), [2, 0, 0, 0, 0, 7]))
        );
        // Our own kind of probe (sender 0.0.0.0) says nothing about who holds what.
        let probe = arp_probe_frame(&MAC, "10.0.0.9".parse().unwrap());
        assert_eq!(parse_answer(&probe), None);
        // Truncated, wrong hardware type, other ethertypes: ignored, no panic.
        assert_eq!(parse_answer(&reply[..30]), None);
        let mut bad = reply.clone();
        bad[14] = 9;
        assert_eq!(parse_answer(&bad), None);
        for n in 0..reply.len() {
            let _ = parse_answer(&reply[..n]);
        }
    }

    #[test]
    fn neighbor_solicitation_goes_to_the_solicited_node_group_with_a_valid_checksum() {
        let t: Ipv6Addr = "fd10::12:3456".parse().unwrap();
        let f = ns_frame(&MAC, t);
        assert_eq!(&f[0..6], &[0x33, 0x33, 0xff, 0x12, 0x34, 0x56]);
        assert_eq!(&f[22..38], &[0; 16], "source ::");
        let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&f[38..54]).unwrap());
        assert_eq!(dst, "ff02::1:ff12:3456".parse::<Ipv6Addr>().unwrap());
        // A correct checksum sums to zero over the pseudo-header and message.
        assert_eq!(icmpv6_checksum(&Ipv6Addr::UNSPECIFIED, &dst, &f[54..]), 0);
    }

    #[test]
    fn neighbor_advertisement_gives_the_target_link_layer_option() {
        let t: Ipv6Addr = "fd10::2".parse().unwrap();
        let mut f = ns_frame(&[2, 0, 0, 0, 0, 1], t);
        f[54] = 136;
        f.extend_from_slice(&[2, 1, 2, 0, 0, 0, 0, 9]);
        assert_eq!(parse_answer(&f), Some((IpAddr::V6(t), [2, 0, 0, 0, 0, 9])));
        // a malformed option length stops option parsing, eth source stands
        let n = f.len();
        f[n - 7] = 0;
        assert_eq!(parse_answer(&f), Some((IpAddr::V6(t), [2, 0, 0, 0, 0, 1])));
        // a solicitation is not an answer
        let ns = ns_frame(&MAC, t);
        assert_eq!(parse_answer(&ns), None);
    }
}
