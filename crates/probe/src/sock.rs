//! ICMP sockets: opening (datagram or raw), the options we need, and batched I/O.
//!
//! socket2 opens, binds (address and device) and sizes the sockets. Everything else goes to
//! the socket through libc, because neither socket2 nor surge-ping exposes it:
//! * `IP_MTU_DISCOVER` / `IPV6_MTU_DISCOVER` (the DF bit and how the kernel treats the route's
//!   path-MTU cache),
//! * `IP_RECVERR` / `IPV6_RECVERR` and `recvmsg(MSG_ERRQUEUE)` (ICMP errors with the quoted
//!   request, so unreachables and frag-needed are not collapsed into timeouts),
//! * `SO_TIMESTAMPNS` control messages (kernel receive time, not our wake-up time),
//! * `SO_RCVBUFFORCE` (lift the buffer above `rmem_max` when we may),
//! * `ICMP_FILTER` / `ICMP6_FILTER` on raw sockets (only echo replies wake us),
//! * `sendmmsg` / `recvmmsg` (one system call per batch, which is what makes 65k targets fast).
//!
//! surge-ping is not used: it runs one future per target on a socket of its own identifier
//! and matches replies itself, without an error queue, DF control or batching.

use std::ffi::CString;
use std::io;
use std::mem::{size_of, zeroed, MaybeUninit};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::AsRawFd;

use preflight_model::probe::SocketKind;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// What a socket is for: family, source, device and DF.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SockKey {
    /// IPv6 (true) or IPv4.
    pub v6: bool,
    /// Address to bind, when any.
    pub source: Option<IpAddr>,
    /// Device to bind, when any.
    pub device: Option<String>,
    /// Whether requests carry DF (`IP_PMTUDISC_PROBE`) or may be fragmented (`DONT`).
    pub df: bool,
}

/// An open ICMP socket.
#[derive(Debug)]
pub struct IcmpSocket {
    /// The socket.
    pub sock: Socket,
    /// Datagram or raw.
    pub kind: SocketKind,
    /// IPv6 or IPv4.
    pub v6: bool,
    /// Identifier we put in requests (raw sockets; the kernel rewrites it on datagram ones).
    pub id: u16,
    /// Whether received packets start with the IP header (raw IPv4).
    pub has_ip_header: bool,
    /// Receive buffer the kernel granted.
    pub rcvbuf: Option<u32>,
    /// Interface index used as the IPv6 scope of link-local destinations.
    pub scope: u32,
}

/// Interface index of a device name, or an error naming it.
pub fn if_index(name: &str) -> io::Result<u32> {
    let c = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name contains NUL"))?;
    // SAFETY: c is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no such interface `{name}`"),
        ))
    } else {
        Ok(idx)
    }
}

fn setsockopt<T>(fd: i32, level: i32, name: i32, value: &T) -> io::Result<()> {
    // SAFETY: value points to a live T of the given size for the duration of the call.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Socket address of `ip` (port 0), with `scope` for IPv6 link-local addresses.
pub fn sockaddr(ip: IpAddr, scope: u32) -> SockAddr {
    match ip {
        IpAddr::V4(a) => SockAddr::from(SocketAddr::new(IpAddr::V4(a), 0)),
        IpAddr::V6(a) => {
            let s = if is_link_local(&a) { scope } else { 0 };
            SockAddr::from(SocketAddrV6::new(a, 0, 0, s))
        }
    }
}

/// Whether an IPv6 address is link-local (fe80::/10).
pub fn is_link_local(a: &Ipv6Addr) -> bool {
    (a.segments()[0] & 0xffc0) == 0xfe80
}

fn new_socket(v6: bool, ty: Type) -> io::Result<Socket> {
    let (domain, proto) = if v6 {
        (Domain::IPV6, Protocol::ICMPV6)
    } else {
        (Domain::IPV4, Protocol::ICMPV4)
    };
    Socket::new(domain, ty, Some(proto))
}

/// Opens a socket for `key`: a datagram ICMP socket when `net.ipv4.ping_group_range` lets
/// us (unless `force` says otherwise), a raw one otherwise.
pub fn open(
    key: &SockKey,
    force: Option<SocketKind>,
    rcvbuf: usize,
    id: u16,
) -> io::Result<IcmpSocket> {
    let (sock, kind) = match force {
        Some(SocketKind::Raw) => (new_socket(key.v6, Type::RAW)?, SocketKind::Raw),
        Some(SocketKind::Dgram) => (new_socket(key.v6, Type::DGRAM)?, SocketKind::Dgram),
        None => match new_socket(key.v6, Type::DGRAM) {
            Ok(s) => (s, SocketKind::Dgram),
            Err(_) => (new_socket(key.v6, Type::RAW)?, SocketKind::Raw),
        },
    };
    let fd = sock.as_raw_fd();
    sock.set_nonblocking(true)?;
    // SO_RCVBUFFORCE ignores net.core.rmem_max (needs CAP_NET_ADMIN); fall back to SO_RCVBUF.
    let want = i32::try_from(rcvbuf).unwrap_or(i32::MAX);
    if setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &want).is_err() {
        let _ = sock.set_recv_buffer_size(rcvbuf);
    }
    let granted = sock
        .recv_buffer_size()
        .ok()
        .and_then(|b| u32::try_from(b).ok());
    let mut scope = 0;
    if let Some(dev) = &key.device {
        scope = if_index(dev)?;
        sock.bind_device(Some(dev.as_bytes()))
            .map_err(|e| io::Error::new(e.kind(), format!("cannot bind to device `{dev}`: {e}")))?;
    }
    if let Some(src) = key.source {
        sock.bind(&sockaddr(src, scope))
            .map_err(|e| io::Error::new(e.kind(), format!("cannot bind source {src}: {e}")))?;
    }
    let one: i32 = 1;
    if key.v6 {
        setsockopt(fd, libc::SOL_IPV6, libc::IPV6_RECVERR, &one)?;
    } else {
        setsockopt(fd, libc::SOL_IP, libc::IP_RECVERR, &one)?;
    }
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, &one)?;
    // DF: PMTUDISC_PROBE sets DF but sends ignore the route's cached path MTU, so the probe
    // measures the path itself: an MTU learnt earlier (or during this test) can neither make
    // a later, larger probe fail locally with EMSGSIZE nor hide a blackhole. PMTUDISC_DO
    // would obey the cache: after the first frag-needed every larger probe would be refused
    // by our own kernel and the search would measure the cache, not the network. Neither
    // mode lets the kernel fragment (sizes above the interface MTU get EMSGSIZE). Caveat,
    // measured on Linux 6.x: a *router's* frag-needed still updates the route cache, exactly
    // as it would for any DF traffic to that destination. IP_PMTUDISC_INTERFACE is meant to
    // refuse such updates but clears DF; an experiment with IP_HDRINCL (our own DF header) +
    // INTERFACE still saw the cache updated, so it was not kept. A silent blackhole (the
    // switched-segment case) teaches the kernel nothing.
    // Without --df we say DONT: the kernel may fragment, like plain ping.
    let pmtu: i32 = if key.v6 {
        if key.df {
            libc::IPV6_PMTUDISC_PROBE
        } else {
            libc::IPV6_PMTUDISC_DONT
        }
    } else if key.df {
        libc::IP_PMTUDISC_PROBE
    } else {
        libc::IP_PMTUDISC_DONT
    };
    if key.v6 {
        setsockopt(fd, libc::SOL_IPV6, libc::IPV6_MTU_DISCOVER, &pmtu)?;
    } else {
        setsockopt(fd, libc::SOL_IP, libc::IP_MTU_DISCOVER, &pmtu)?;
    }
    if kind == SocketKind::Raw {
        if key.v6 {
            // ICMP6_FILTER (level IPPROTO_ICMPV6, name 1): a set bit blocks the type.
            let mut filter = [u32::MAX; 8];
            filter[129 >> 5] &= !(1u32 << (129 & 31));
            setsockopt(fd, libc::IPPROTO_ICMPV6, 1, &filter)?;
        } else {
            // ICMP_FILTER (level SOL_RAW, name 1): a set bit blocks the type; keep echo reply.
            let mask: u32 = !1u32;
            setsockopt(fd, libc::SOL_RAW, 1, &mask)?;
        }
    }
    Ok(IcmpSocket {
        sock,
        kind,
        v6: key.v6,
        id,
        has_ip_header: kind == SocketKind::Raw && !key.v6,
        rcvbuf: granted,
        scope,
    })
}

/// The addresses of this network namespace's interfaces (one `getifaddrs` call), or `None`
/// when the call fails.
pub fn local_addresses() -> Option<std::collections::HashSet<IpAddr>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list that is freed below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return None;
    }
    let mut out = std::collections::HashSet::new();
    let mut p = head;
    while !p.is_null() {
        // SAFETY: `p` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*p };
        if !ifa.ifa_addr.is_null() {
            // SAFETY: a non-null ifa_addr points to a sockaddr whose family says its type.
            match i32::from(unsafe { (*ifa.ifa_addr).sa_family }) {
                libc::AF_INET => {
                    // SAFETY: AF_INET: the sockaddr is a sockaddr_in.
                    let sin = unsafe { &*ifa.ifa_addr.cast::<libc::sockaddr_in>() };
                    out.insert(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                        sin.sin_addr.s_addr,
                    ))));
                }
                libc::AF_INET6 => {
                    // SAFETY: AF_INET6: the sockaddr is a sockaddr_in6.
                    let sin6 = unsafe { &*ifa.ifa_addr.cast::<libc::sockaddr_in6>() };
                    out.insert(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
                }
                _ => {}
            }
        }
        p = ifa.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Some(out)
}

/// Converts a sockaddr_storage the kernel filled into an address.
fn storage_ip(st: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<IpAddr> {
    match i32::from(st.ss_family) {
        libc::AF_INET if len as usize >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: family says sockaddr_in and the kernel wrote at least that much.
            let sin =
                unsafe { &*(st as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))))
        }
        libc::AF_INET6 if len as usize >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above for sockaddr_in6.
            let sin6 =
                unsafe { &*(st as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

/// Messages per sendmmsg / recvmmsg call.
pub const BATCH: usize = 64;
const RECV_BUF: usize = 256;
const CTRL_BUF: usize = 64;

/// Reusable buffers for batched receive.
pub struct RecvBatch {
    bufs: Vec<[u8; RECV_BUF]>,
    ctrl: Vec<[u64; CTRL_BUF / 8]>,
    names: Vec<libc::sockaddr_storage>,
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
}

impl Default for RecvBatch {
    fn default() -> Self {
        // SAFETY: all-zero is a valid sockaddr_storage / iovec / mmsghdr (null pointers, zero lengths).
        unsafe {
            RecvBatch {
                bufs: vec![[0u8; RECV_BUF]; BATCH],
                ctrl: vec![[0u64; CTRL_BUF / 8]; BATCH],
                names: vec![zeroed(); BATCH],
                iovs: vec![zeroed(); BATCH],
                msgs: vec![zeroed(); BATCH],
            }
        }
    }
}

/// Realtime clock, in nanoseconds (the clock SO_TIMESTAMPNS uses).
pub fn realtime_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// Walks the control messages of `hdr`, calling `f(level, type, data)`.
fn for_each_cmsg(hdr: &libc::msghdr, mut f: impl FnMut(i32, i32, &[u8])) {
    // SAFETY: hdr's control buffer was filled by the kernel; CMSG_* walk it within
    // msg_controllen, and each data slice stays inside the cmsg's declared length.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(hdr);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            let hdr_len = data.offset_from(c.cast::<u8>()) as usize;
            let len = ((*c).cmsg_len as usize).saturating_sub(hdr_len);
            let slice = std::slice::from_raw_parts(data, len);
            f((*c).cmsg_level, (*c).cmsg_type, slice);
            c = libc::CMSG_NXTHDR(hdr, c);
        }
    }
}

fn timestamp_of(hdr: &libc::msghdr) -> Option<i64> {
    let mut ts = None;
    for_each_cmsg(hdr, |level, ty, data| {
        if level == libc::SOL_SOCKET && ty == libc::SCM_TIMESTAMPNS && data.len() >= 16 {
            let sec = i64::from_ne_bytes(data[0..8].try_into().unwrap_or([0; 8]));
            let nsec = i64::from_ne_bytes(data[8..16].try_into().unwrap_or([0; 8]));
            ts = Some(sec * 1_000_000_000 + nsec);
        }
    });
    ts
}

/// Receives up to one batch without blocking; calls `f(from, data, kernel_ts_ns)` per
/// packet. Returns how many were received (0 when nothing was waiting).
pub fn recv_batch(
    sock: &IcmpSocket,
    b: &mut RecvBatch,
    mut f: impl FnMut(Option<IpAddr>, &[u8], Option<i64>),
) -> io::Result<usize> {
    for i in 0..BATCH {
        b.iovs[i] = libc::iovec {
            iov_base: b.bufs[i].as_mut_ptr().cast(),
            iov_len: RECV_BUF,
        };
        let h = &mut b.msgs[i].msg_hdr;
        h.msg_name = (&mut b.names[i] as *mut libc::sockaddr_storage).cast();
        h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        h.msg_iov = &mut b.iovs[i];
        h.msg_iovlen = 1;
        h.msg_control = b.ctrl[i].as_mut_ptr().cast();
        h.msg_controllen = CTRL_BUF as _;
        h.msg_flags = 0;
        b.msgs[i].msg_len = 0;
    }
    // SAFETY: every mmsghdr points to buffers owned by `b`, alive for the call.
    let n = unsafe {
        libc::recvmmsg(
            sock.sock.as_raw_fd(),
            b.msgs.as_mut_ptr(),
            BATCH as u32,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::WouldBlock {
            Ok(0)
        } else {
            Err(e)
        };
    }
    let n = n as usize;
    for i in 0..n {
        let h = &b.msgs[i].msg_hdr;
        let len = (b.msgs[i].msg_len as usize).min(RECV_BUF);
        let from = storage_ip(&b.names[i], h.msg_namelen);
        let ts = timestamp_of(h);
        f(from, &b.bufs[i][..len], ts);
    }
    Ok(n)
}

/// One entry of the error queue.
#[derive(Debug, Clone)]
pub struct QueuedError {
    /// Destination of the packet that failed.
    pub dest: Option<IpAddr>,
    /// `SO_EE_ORIGIN_*`.
    pub origin: u8,
    /// ICMP type of the error.
    pub icmp_type: u8,
    /// ICMP code of the error.
    pub icmp_code: u8,
    /// errno the kernel derived.
    pub errno: u32,
    /// Extra info (the MTU for frag-needed / packet-too-big).
    pub info: u32,
    /// The quoted packet (our ICMP request, as far as it was quoted).
    pub data: Vec<u8>,
}

/// Reads one entry of the error queue without blocking; `None` when it is empty.
pub fn recv_error(sock: &IcmpSocket) -> io::Result<Option<QueuedError>> {
    let mut data = [0u8; 512];
    let mut ctrl = [0u64; 64];
    // SAFETY: zeroed sockaddr_storage / msghdr are valid; pointers below reference locals.
    let mut name: libc::sockaddr_storage = unsafe { zeroed() };
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut h: libc::msghdr = unsafe { zeroed() };
    h.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
    h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    h.msg_iov = &mut iov;
    h.msg_iovlen = 1;
    h.msg_control = ctrl.as_mut_ptr().cast();
    h.msg_controllen = std::mem::size_of_val(&ctrl) as _;
    // SAFETY: h references live buffers.
    let n = unsafe {
        libc::recvmsg(
            sock.sock.as_raw_fd(),
            &mut h,
            libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::WouldBlock {
            Ok(None)
        } else {
            Err(e)
        };
    }
    let len = (n as usize).min(data.len());
    let mut out = QueuedError {
        dest: storage_ip(&name, h.msg_namelen),
        origin: 0,
        icmp_type: 0,
        icmp_code: 0,
        errno: 0,
        info: 0,
        data: data[..len].to_vec(),
    };
    for_each_cmsg(&h, |level, ty, d| {
        let is_err = (level == libc::SOL_IP && ty == libc::IP_RECVERR)
            || (level == libc::SOL_IPV6 && ty == libc::IPV6_RECVERR);
        if is_err && d.len() >= size_of::<libc::sock_extended_err>() {
            let mut ee = MaybeUninit::<libc::sock_extended_err>::uninit();
            // SAFETY: d holds at least size_of::<sock_extended_err>() bytes; read unaligned.
            let ee = unsafe {
                std::ptr::copy_nonoverlapping(
                    d.as_ptr(),
                    ee.as_mut_ptr().cast::<u8>(),
                    size_of::<libc::sock_extended_err>(),
                );
                ee.assume_init()
            };
            out.origin = ee.ee_origin;
            out.icmp_type = ee.ee_type;
            out.icmp_code = ee.ee_code;
            out.errno = ee.ee_errno;
            out.info = ee.ee_info;
        }
    });
    Ok(Some(out))
}

/// Reusable buffers for batched send.
pub struct SendBatch {
    /// Packets to send.
    pub packets: Vec<Vec<u8>>,
    /// Their destinations.
    pub dests: Vec<SockAddr>,
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
}

impl Default for SendBatch {
    fn default() -> Self {
        SendBatch {
            packets: (0..BATCH).map(|_| Vec::with_capacity(128)).collect(),
            dests: Vec::with_capacity(BATCH),
            iovs: Vec::with_capacity(BATCH),
            msgs: Vec::with_capacity(BATCH),
        }
    }
}

/// Sends `packets[..n]` to `dests[..n]`; calls `done(i, result)` for each message that was
/// sent or failed, and returns how many were consumed (fewer than `n` when the socket would
/// block, or right after a local drop (ENOBUFS): the rest must be retried later).
pub fn send_batch(
    sock: &IcmpSocket,
    b: &mut SendBatch,
    n: usize,
    mut done: impl FnMut(usize, io::Result<()>),
) -> usize {
    b.iovs.clear();
    b.msgs.clear();
    for i in 0..n {
        b.iovs.push(libc::iovec {
            iov_base: b.packets[i].as_mut_ptr().cast(),
            iov_len: b.packets[i].len(),
        });
    }
    for i in 0..n {
        // SAFETY: zeroed mmsghdr is valid; fields set below point into `b`.
        let mut m: libc::mmsghdr = unsafe { zeroed() };
        m.msg_hdr.msg_name = b.dests[i].as_ptr() as *mut libc::c_void;
        m.msg_hdr.msg_namelen = b.dests[i].len();
        m.msg_hdr.msg_iov = &mut b.iovs[i];
        m.msg_hdr.msg_iovlen = 1;
        b.msgs.push(m);
    }
    let mut start = 0;
    while start < n {
        // SAFETY: msgs[start..n] are valid and point to live buffers.
        let r = unsafe {
            libc::sendmmsg(
                sock.sock.as_raw_fd(),
                b.msgs.as_mut_ptr().add(start),
                (n - start) as u32,
                0,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) => return start,
                Some(libc::ENOBUFS) => {
                    // ENOBUFS is not "try later": the device or qdisc dropped this packet
                    // (e.g. a veth whose peer backlog is full returns NET_XMIT_DROP). The
                    // socket stays writable, so waiting for POLLOUT and resending spins
                    // forever. The request is gone: count it as sent (its reply never comes,
                    // so it shows as loss), and hand the rest back so the engine yields once
                    // before trying again.
                    done(start, Ok(()));
                    return start + 1;
                }
                Some(libc::EINTR) => continue,
                _ => {
                    done(start, Err(e));
                    start += 1;
                }
            }
        } else if r == 0 {
            return start;
        } else {
            let r = (r as usize).min(n - start);
            for i in start..start + r {
                done(i, Ok(()));
            }
            start += r;
        }
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::icmp::{build_request, parse_reply, Token};

    #[test]
    fn loopback_reply_carries_a_kernel_timestamp_and_our_token() {
        let key = SockKey {
            v6: false,
            source: Some("127.0.0.1".parse().unwrap()),
            device: None,
            df: true,
        };
        let s = open(&key, Some(SocketKind::Raw), 1 << 20, 0x7777).expect("raw socket (root)");
        assert!(
            s.rcvbuf.unwrap_or(0) >= 1 << 20,
            "SO_RCVBUFFORCE as root: {:?}",
            s.rcvbuf
        );
        let token = Token {
            nonce: 1,
            job: 2,
            attempt: 3,
            slot: 4,
        };
        let mut b = SendBatch::default();
        build_request(&mut b.packets[0], false, 0x7777, 9, token, 56);
        b.dests.push(sockaddr("127.0.0.1".parse().unwrap(), 0));
        let before = realtime_ns();
        assert_eq!(send_batch(&s, &mut b, 1, |_, r| r.unwrap()), 1);
        let mut rb = RecvBatch::default();
        let mut got = None;
        for _ in 0..100 {
            recv_batch(&s, &mut rb, |from, data, ts| {
                if let Some(e) = parse_reply(data, false, true) {
                    if e.id == 0x7777 && e.seq == 9 {
                        got = Some((from, e.token, ts));
                    }
                }
            })
            .unwrap();
            if got.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let (from, tok, ts) = got.expect("reply");
        assert_eq!(from, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(tok, Some(token));
        let ts = ts.expect("SO_TIMESTAMPNS control message");
        assert!(ts >= before && ts <= realtime_ns(), "{before} {ts}");
    }

    #[test]
    fn interface_lookup_names_the_device() {
        assert!(if_index("lo").is_ok());
        assert!(if_index("no-such-if9")
            .unwrap_err()
            .to_string()
            .contains("no-such-if9"));
        assert!(if_index("bad\0name").is_err());
        let key = SockKey {
            v6: false,
            source: None,
            device: Some("no-such-if9".into()),
            df: false,
        };
        let e = open(&key, Some(SocketKind::Raw), 1 << 16, 1).unwrap_err();
        assert!(e.to_string().contains("no-such-if9"), "{e}");
    }
}
