//! The `NETLINK_ROUTE` socket: sends a dump request and hands each answer's payload to a
//! decoder, one receive buffer reused for the whole dump.

use std::io;

use netlink_packet_core::{
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLMSG_DONE, NLMSG_ERROR,
    NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST,
};
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::{LinkAttribute, LinkExtentMask, LinkMessage};
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::{Dump, InventoryError};

/// Size of the buffer one datagram is received into (the kernel sends at most 32 KiB per
/// datagram of a dump; a bigger one would be reported as truncated).
const RECV_BUFFER: usize = 256 * 1024;
/// Requested socket receive buffer (best effort; capped by net.core.rmem_max).
const SOCKET_RCVBUF: libc::c_int = 4 * 1024 * 1024;

/// A dump that stops answering for this long is an error rather than a hang.
const RECEIVE_TIMEOUT_SECS: libc::time_t = 10;

const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;

/// A bound and connected `NETLINK_ROUTE` socket with its receive buffer.
pub(crate) struct RouteSocket {
    socket: Socket,
    sequence: u32,
    buffer: Vec<u8>,
}

impl RouteSocket {
    /// Opens, binds and connects the socket.
    pub(crate) fn open() -> Result<RouteSocket, InventoryError> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(InventoryError::Socket)?;
        socket.bind_auto().map_err(InventoryError::Socket)?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(InventoryError::Socket)?;
        // Best effort: a bigger buffer only lets the kernel queue more before we read.
        let _ = socket.set_rx_buf_sz(SOCKET_RCVBUF);
        set_receive_timeout(&socket, RECEIVE_TIMEOUT_SECS).map_err(InventoryError::Socket)?;
        Ok(RouteSocket {
            socket,
            sequence: 0,
            buffer: Vec::with_capacity(RECV_BUFFER),
        })
    }

    /// Runs one dump, calling `each` with the payload of every answer message.
    ///
    /// Kernel errors end the dump with an error; a dump the kernel flagged NLM_F_DUMP_INTR
    /// is read to its end and then reported as [`InventoryError::Interrupted`].
    pub(crate) fn dump(
        &mut self,
        dump: Dump,
        mut each: impl FnMut(&[u8]) -> Result<(), InventoryError>,
    ) -> Result<(), InventoryError> {
        self.sequence = self.sequence.wrapping_add(1);
        let sequence = self.sequence;
        let request = request_bytes(dump, sequence);
        let sent = self
            .socket
            .send(&request, 0)
            .map_err(|e| os_error(dump, e))?;
        if sent != request.len() {
            return Err(InventoryError::Io {
                dump,
                source: io::Error::new(io::ErrorKind::WriteZero, "short netlink send"),
            });
        }
        let expected = match dump {
            Dump::Links => RTM_NEWLINK,
            Dump::Addresses => RTM_NEWADDR,
            Dump::Routes => RTM_NEWROUTE,
        };
        let mut interrupted = false;
        // The first error of the decoder: the dump is still read to its end (the kernel runs
        // one dump per socket at a time), then the error is returned.
        let mut failed = None;
        loop {
            self.buffer.clear();
            let n = loop {
                match self.socket.recv(&mut self.buffer, libc::MSG_TRUNC) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return Err(InventoryError::Io {
                            dump,
                            source: io::Error::new(
                                io::ErrorKind::TimedOut,
                                format!(
                                    "no answer from the kernel within {RECEIVE_TIMEOUT_SECS} s"
                                ),
                            ),
                        })
                    }
                    Err(e) => return Err(os_error(dump, e)),
                }
            };
            if n > self.buffer.len() {
                return Err(InventoryError::Decode {
                    dump,
                    detail: format!(
                        "datagram of {n} bytes truncated to {} bytes",
                        self.buffer.len()
                    ),
                });
            }
            let mut data = &self.buffer[..n];
            while !data.is_empty() {
                let msg = NetlinkBuffer::new_checked(data).map_err(|e| InventoryError::Decode {
                    dump,
                    detail: e.to_string(),
                })?;
                let len = msg.length() as usize;
                let advance = len.saturating_add(3) & !3;
                if msg.sequence_number() == sequence {
                    if msg.flags() & NLM_F_DUMP_INTR != 0 {
                        interrupted = true;
                    }
                    match msg.message_type() {
                        NLMSG_DONE => {
                            let code = leading_i32(msg.payload());
                            if code < 0 {
                                return Err(kernel_error(dump, code));
                            }
                            if let Some(e) = failed {
                                return Err(e);
                            }
                            if interrupted {
                                return Err(InventoryError::Interrupted { dump });
                            }
                            return Ok(());
                        }
                        NLMSG_ERROR => {
                            let code = leading_i32(msg.payload());
                            if code < 0 {
                                return Err(kernel_error(dump, code));
                            }
                        }
                        t if t == expected && failed.is_none() => {
                            if let Err(e) = each(msg.payload()) {
                                failed = Some(e);
                            }
                        }
                        _ => {}
                    }
                }
                data = data.get(advance..).unwrap_or(&[]);
            }
        }
    }
}

fn set_receive_timeout(socket: &Socket, secs: libc::time_t) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let tv = libc::timeval {
        tv_sec: secs,
        tv_usec: 0,
    };
    // SAFETY: the fd is the open socket we own; the option value is a timeval of the given size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The serialized dump request: all families, and for links no statistics.
fn request_bytes(dump: Dump, sequence: u32) -> Vec<u8> {
    let inner = match dump {
        Dump::Links => {
            let mut m = LinkMessage::default();
            m.attributes
                .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
            RouteNetlinkMessage::GetLink(m)
        }
        Dump::Addresses => RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        Dump::Routes => RouteNetlinkMessage::GetRoute(RouteMessage::default()),
    };
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = sequence;
    let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(inner));
    msg.finalize();
    let mut bytes = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut bytes);
    bytes
}

fn leading_i32(payload: &[u8]) -> i32 {
    payload
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_ne_bytes)
        .unwrap_or(0)
}

fn kernel_error(dump: Dump, code: i32) -> InventoryError {
    let errno = code.checked_neg().unwrap_or(i32::MAX);
    let source = io::Error::from_raw_os_error(errno);
    if matches!(errno, libc::EPERM | libc::EACCES) {
        InventoryError::PermissionDenied { dump, source }
    } else {
        InventoryError::Kernel { dump, source }
    }
}

fn os_error(dump: Dump, source: io::Error) -> InventoryError {
    if source.kind() == io::ErrorKind::PermissionDenied {
        InventoryError::PermissionDenied { dump, source }
    } else {
        InventoryError::Io { dump, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_dumps_of_every_family() {
        for (dump, ty) in [
            (Dump::Links, 18u16),
            (Dump::Addresses, 22),
            (Dump::Routes, 26),
        ] {
            let bytes = request_bytes(dump, 7);
            let buf = NetlinkBuffer::new_checked(&bytes[..]).unwrap();
            assert_eq!(buf.message_type(), ty);
            assert_eq!(buf.sequence_number(), 7);
            assert_eq!(buf.flags(), NLM_F_REQUEST | NLM_F_DUMP);
            assert_eq!(buf.length() as usize, bytes.len());
            // Family byte (first of the payload) is AF_UNSPEC.
            assert_eq!(buf.payload()[0], 0);
        }
        // The link request asks the kernel to skip statistics (IFLA_EXT_MASK = 1 << 3).
        let bytes = request_bytes(Dump::Links, 1);
        let payload = &bytes[16..];
        assert_eq!(&payload[16..18], &8u16.to_ne_bytes()); // nla_len
        assert_eq!(&payload[18..20], &29u16.to_ne_bytes()); // IFLA_EXT_MASK
        assert_eq!(&payload[20..24], &8u32.to_ne_bytes());
    }

    #[test]
    fn kernel_errors_are_classified() {
        assert!(matches!(
            kernel_error(Dump::Links, -libc::EPERM),
            InventoryError::PermissionDenied { .. }
        ));
        let e = kernel_error(Dump::Routes, -libc::EINTR);
        assert!(e.is_transient(), "{e}");
        let e = kernel_error(Dump::Routes, -libc::EINVAL);
        assert!(!e.is_transient());
        assert_eq!(e.to_string(), "the kernel refused the route dump");
        // The OS error is the source (printed once by the agent's error chain).
        let source = std::error::Error::source(&e).expect("source").to_string();
        assert!(source.contains("Invalid argument"), "{source}");
        assert_eq!(leading_i32(&[1, 2]), 0);
    }

    #[test]
    fn dumps_of_this_namespace_end_and_decode() {
        let mut socket = RouteSocket::open().expect("netlink socket");
        let mut links = 0;
        socket
            .dump(Dump::Links, |p| {
                crate::parse_link(p).map_err(|detail| InventoryError::Decode {
                    dump: Dump::Links,
                    detail,
                })?;
                links += 1;
                Ok(())
            })
            .expect("link dump");
        assert!(links >= 1, "at least loopback");
        // The socket is reusable for the next dump (sequence numbers advance).
        let mut routes = 0;
        socket
            .dump(Dump::Routes, |_| {
                routes += 1;
                Ok(())
            })
            .expect("route dump");
        assert!(routes >= 1, "at least the local table's loopback routes");
    }
}
