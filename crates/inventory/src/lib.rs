//! Step 1 of the data line: read the machine's links, addresses and routes through netlink
//! into a [`preflight_model::observed::ObservedConfig`].
//!
//! Three rtnetlink dumps (links, addresses, routes of every table, IPv4 and IPv6) are read on
//! one `NETLINK_ROUTE` socket, decoded with `netlink-packet-route` types and joined by ifindex.
//! Decoding keeps only the attributes the model needs (the link dump also asks the kernel to
//! skip statistics), which is what makes an observation of thousands of links cheap.
//!
//! The mapping from netlink messages to model structs is pure ([`build_config`] and the
//! `map_*` functions of each module), so it is tested on constructed messages; the socket part
//! lives in `netlink.rs`. When the link set changes while it is being read (the kernel flags
//! the dump `NLM_F_DUMP_INTR`, or an address or route names a link the link dump did not have),
//! the whole observation is retried, up to [`MAX_ATTEMPTS`] times.

mod address;
mod identity;
mod link;
mod names;
mod netlink;
mod route;
mod text;

use std::fmt;
use std::io;

use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::route::RouteMessage;
use preflight_model::observed::{Identity, ObservedConfig, OBSERVED_SCHEMA};

pub use address::{map_address, parse_address};
pub use identity::{identity, AGENT_VERSION};
pub use link::{map_link, map_links, parse_link, NameIndex};
pub use route::{default_gateways, map_route, parse_route};
pub use text::render_text;

/// How many times an observation is attempted when the configuration changes mid-dump.
pub const MAX_ATTEMPTS: u32 = 5;

/// Options of an observation.
#[derive(Debug, Clone, Default)]
pub struct ObserveOptions {
    /// MAAS system_id to record in the identity (`--machine-id`).
    pub system_id: Option<String>,
}

/// Which of the three dumps an error happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dump {
    /// RTM_GETLINK.
    Links,
    /// RTM_GETADDR.
    Addresses,
    /// RTM_GETROUTE.
    Routes,
}

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dump::Links => "link",
            Dump::Addresses => "address",
            Dump::Routes => "route",
        })
    }
}

/// Errors of the inventory.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The netlink socket could not be created, bound or connected.
    #[error("cannot open a netlink route socket")]
    Socket(#[source] io::Error),
    /// The kernel (or a security policy) denied a dump.
    #[error("permission denied reading the {dump} table through netlink")]
    PermissionDenied {
        /// The dump that was denied.
        dump: Dump,
        /// The OS error.
        source: io::Error,
    },
    /// Sending the request or receiving the answer failed.
    #[error("netlink {dump} dump failed")]
    Io {
        /// The dump.
        dump: Dump,
        /// The OS error.
        source: io::Error,
    },
    /// The kernel answered the dump with an error.
    #[error("the kernel refused the {dump} dump")]
    Kernel {
        /// The dump.
        dump: Dump,
        /// The error the kernel returned.
        source: io::Error,
    },
    /// The kernel flagged the dump as interrupted by a concurrent change (NLM_F_DUMP_INTR).
    #[error("the {dump} dump was interrupted by a concurrent change")]
    Interrupted {
        /// The dump.
        dump: Dump,
    },
    /// An address or route names a link that the link dump did not contain.
    #[error("{object} refers to link {ifindex}, which is not in the link dump (it appeared or vanished while the dumps ran)")]
    UnknownLink {
        /// What refers to the link ("address 10.0.0.1/24", "route 10.1.0.0/16 table 100").
        object: String,
        /// The ifindex it names.
        ifindex: u32,
    },
    /// A message could not be decoded.
    #[error("malformed netlink message in the {dump} dump: {detail}")]
    Decode {
        /// The dump.
        dump: Dump,
        /// What was wrong, with the link or object when known.
        detail: String,
    },
    /// A message lacks an attribute the model cannot do without.
    #[error("{object}: the kernel sent no {attribute}")]
    MissingAttribute {
        /// The object ("link 7", "address on link 3").
        object: String,
        /// The netlink attribute (IFLA_IFNAME, IFA_ADDRESS, ...).
        attribute: &'static str,
    },
    /// The configuration kept changing during every attempt.
    #[error("the network configuration kept changing while it was read ({attempts} attempts)")]
    Unstable {
        /// How many attempts were made.
        attempts: u32,
        /// The error of the last attempt.
        #[source]
        last: Box<InventoryError>,
    },
}

impl InventoryError {
    /// Whether retrying the whole observation may succeed (the configuration changed under us).
    pub fn is_transient(&self) -> bool {
        match self {
            InventoryError::Interrupted { .. } | InventoryError::UnknownLink { .. } => true,
            InventoryError::Kernel { source, .. } => matches!(
                source.raw_os_error(),
                Some(libc::EINTR | libc::ENODEV | libc::EBUSY | libc::EAGAIN)
            ),
            _ => false,
        }
    }
}

/// Reads links, addresses and routes of the current network namespace.
///
/// The dumps are short (milliseconds even for thousands of links) and run inline on the
/// calling task.
pub async fn observe(opts: &ObserveOptions) -> Result<ObservedConfig, InventoryError> {
    observe_blocking(opts)
}

/// Synchronous form of [`observe`].
pub fn observe_blocking(opts: &ObserveOptions) -> Result<ObservedConfig, InventoryError> {
    let mut socket = netlink::RouteSocket::open()?;
    with_retries(MAX_ATTEMPTS, || {
        observe_once(&mut socket, opts.system_id.clone())
    })
}

/// Runs `attempt` until it succeeds, fails with a non-transient error, or has failed
/// transiently `attempts` times ([`InventoryError::Unstable`] with the last error).
fn with_retries<T>(
    attempts: u32,
    mut attempt: impl FnMut() -> Result<T, InventoryError>,
) -> Result<T, InventoryError> {
    let mut last = None;
    for _ in 0..attempts.max(1) {
        match attempt() {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(InventoryError::Unstable {
        attempts: attempts.max(1),
        last: Box::new(last.unwrap_or(InventoryError::Interrupted { dump: Dump::Links })),
    })
}

/// One observation: the link dump first, then addresses and routes mapped as they arrive
/// (the links are known by then), so no route message is kept after it is mapped.
fn observe_once(
    socket: &mut netlink::RouteSocket,
    system_id: Option<String>,
) -> Result<ObservedConfig, InventoryError> {
    let identity = identity(system_id);
    let mut link_messages = Vec::new();
    socket.dump(Dump::Links, |payload| {
        link_messages.push(
            parse_link(payload).map_err(|detail| InventoryError::Decode {
                dump: Dump::Links,
                detail,
            })?,
        );
        Ok(())
    })?;
    let links = link::map_links(&link_messages)?;
    drop(link_messages);
    let names = NameIndex::new(&links);
    let mut addresses = Vec::new();
    socket.dump(Dump::Addresses, |payload| {
        let parsed = parse_address(payload).map_err(|detail| InventoryError::Decode {
            dump: Dump::Addresses,
            detail,
        })?;
        if let Some(m) = parsed {
            addresses.extend(map_address(&m, &names)?);
        }
        Ok(())
    })?;
    addresses.sort_by_key(|a| (a.ifindex, a.address));
    let mut routes = Vec::new();
    socket.dump(Dump::Routes, |payload| {
        let parsed = parse_route(payload).map_err(|detail| InventoryError::Decode {
            dump: Dump::Routes,
            detail,
        })?;
        if let Some(m) = parsed {
            routes.extend(map_route(&m, &names)?);
        }
        Ok(())
    })?;
    let default_gateways = default_gateways(&routes);
    Ok(ObservedConfig {
        schema: OBSERVED_SCHEMA.to_string(),
        identity,
        links,
        addresses,
        routes,
        default_gateways,
        resolvers: read_resolvers(std::path::Path::new("/etc/resolv.conf")),
    })
}

/// Joins decoded link, address and route messages by ifindex into an [`ObservedConfig`].
///
/// Links come out ordered by ifindex, addresses by ifindex then address, routes in dump order.
/// Addresses and routes of families other than IPv4/IPv6 are skipped. An address or route that
/// names a link missing from `links` is an [`InventoryError::UnknownLink`] (transient).
pub fn build_config(
    links: &[LinkMessage],
    addresses: &[AddressMessage],
    routes: &[RouteMessage],
    identity: Identity,
) -> Result<ObservedConfig, InventoryError> {
    let links = map_links(links)?;
    let names = link::NameIndex::new(&links);
    let mut mapped_addresses = Vec::with_capacity(addresses.len());
    for m in addresses {
        if let Some(a) = map_address(m, &names)? {
            mapped_addresses.push(a);
        }
    }
    mapped_addresses.sort_by_key(|a| (a.ifindex, a.address));
    let mut mapped_routes = Vec::with_capacity(routes.len());
    for m in routes {
        if let Some(r) = map_route(m, &names)? {
            mapped_routes.push(r);
        }
    }
    let default_gateways = default_gateways(&mapped_routes);
    Ok(ObservedConfig {
        schema: OBSERVED_SCHEMA.to_string(),
        identity,
        links,
        addresses: mapped_addresses,
        routes: mapped_routes,
        default_gateways,
        resolvers: Vec::new(),
    })
}

/// Most name servers read from resolv.conf (glibc's MAXNS).
pub const MAX_RESOLVERS: usize = 3;

/// The `nameserver` addresses of a resolv.conf text, in order, at most [`MAX_RESOLVERS`];
/// comments, other options and unparsable addresses (an IPv6 one with a `%scope`) are
/// skipped.
pub fn parse_resolv_conf(text: &str) -> Vec<std::net::IpAddr> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_ascii_whitespace();
            match (words.next(), words.next()) {
                (Some("nameserver"), Some(a)) => a.parse().ok(),
                _ => None,
            }
        })
        .take(MAX_RESOLVERS)
        .collect()
}

/// [`parse_resolv_conf`] of a file, reading at most 64 KiB; nothing when it cannot be read.
fn read_resolvers(path: &std::path::Path) -> Vec<std::net::IpAddr> {
    use std::io::Read;
    let mut text = String::new();
    match std::fs::File::open(path) {
        Ok(f) => {
            if f.take(64 * 1024).read_to_string(&mut text).is_err() {
                return Vec::new();
            }
        }
        Err(_) => return Vec::new(),
    }
    parse_resolv_conf(&text)
}

#[cfg(test)]
mod tests;
