//! TCP connect probes, bound to the probe's source address and device.

use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::time::{Duration, Instant};

use preflight_model::probe::TcpOutcome;
use tokio::net::TcpSocket;

use crate::sock::is_link_local;

fn addr(ip: IpAddr, port: u16, scope: u32) -> SocketAddr {
    match ip {
        IpAddr::V6(a) if is_link_local(&a) => SocketAddr::V6(SocketAddrV6::new(a, port, 0, scope)),
        _ => SocketAddr::new(ip, port),
    }
}

/// Classifies a connect error.
pub(crate) fn outcome_of_error(e: &io::Error) -> TcpOutcome {
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => TcpOutcome::Refused,
        Some(libc::ETIMEDOUT) => TcpOutcome::Timeout,
        _ => TcpOutcome::Unreachable {
            message: e.to_string(),
        },
    }
}

/// Connects once to `target:port` from `source` (and `device`), within `timeout`.
pub(crate) async fn connect(
    source: Option<IpAddr>,
    device: Option<&str>,
    scope: u32,
    target: IpAddr,
    port: u16,
    timeout: Duration,
) -> TcpOutcome {
    let sock = match if target.is_ipv6() {
        TcpSocket::new_v6()
    } else {
        TcpSocket::new_v4()
    } {
        Ok(s) => s,
        Err(e) => return outcome_of_error(&e),
    };
    if let Some(dev) = device {
        if let Err(e) = sock.bind_device(Some(dev.as_bytes())) {
            return TcpOutcome::Unreachable {
                message: format!("cannot bind to device `{dev}`: {e}"),
            };
        }
    }
    if let Some(src) = source {
        if let Err(e) = sock.bind(addr(src, 0, scope)) {
            return TcpOutcome::Unreachable {
                message: format!("cannot bind source {src}: {e}"),
            };
        }
    }
    let start = Instant::now();
    match tokio::time::timeout(timeout, sock.connect(addr(target, port, scope))).await {
        Err(_) => TcpOutcome::Timeout,
        Ok(Ok(_stream)) => TcpOutcome::Open {
            connect_ms: start.elapsed().as_secs_f64() * 1e3,
        },
        Ok(Err(e)) => outcome_of_error(&e),
    }
}
