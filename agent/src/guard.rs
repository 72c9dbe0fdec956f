//! Guard rails on a plan from a coordinator: limits the agent enforces itself, so that even a
//! compromised coordinator cannot turn agents into scanners or packet cannons.
//!
//! Per target (a refused target is reported back as refused, the rest of the plan still runs):
//! * the source must be one of this machine's own addresses;
//! * the target must not be multicast, broadcast, unspecified or loopback;
//! * the target must be in one of this machine's on-link subnets, in a subnet it has a
//!   specific (non-default) route to — how routed spaces are configured — or inside an
//!   `--allow CIDR`; the one exception is an isolation probe (a target that must NOT answer,
//!   in another space by design): ICMP only, to a private address (RFC 1918, 100.64/10,
//!   fc00::/7);
//! * TCP only to the ports the plan lists: at most [`MAX_TCP_PORTS_PER_TARGET`] per target and
//!   [`MAX_DISTINCT_TCP_PORTS`] distinct ports per plan, never port 0;
//! * the packets of the whole plan (count × (1 + retries) × targets) stay within
//!   `--max-packets`; targets past it are refused.
//!
//! Per plan (clamped, with a warning): echo count at most [`MAX_COUNT`], timeout at most
//! [`MAX_TIMEOUT_MS`], retries at most [`MAX_RETRIES`], interval at least
//! [`MIN_INTERVAL_MS`], and a packet rate of at most `--max-rate` (default
//! [`DEFAULT_RATE_CAP`]) whatever the plan asks.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;
use preflight_model::limits::{
    DEFAULT_RATE_CAP, MAX_COUNT, MAX_PLAN_PACKETS, MAX_RETRIES, MAX_TIMEOUT_MS, MIN_INTERVAL_MS,
};
use preflight_model::observed::ObservedConfig;
use preflight_model::plan::{Expectation, PlannedTarget, ProbePlan};
use preflight_model::probe::{FailureCause, TargetResult};

/// Most TCP ports one target may be probed on.
pub const MAX_TCP_PORTS_PER_TARGET: usize = 16;
/// Most distinct TCP ports one plan may name.
pub const MAX_DISTINCT_TCP_PORTS: usize = 32;

/// What the agent allows, whatever the plan says.
#[derive(Debug, Clone)]
pub struct GuardRails {
    /// Extra target networks allowed beyond the on-link and routed subnets.
    pub allow: Vec<IpNet>,
    /// Packets per second at most.
    pub max_rate: u32,
    /// Echo requests per plan at most.
    pub max_packets: u64,
}

impl Default for GuardRails {
    fn default() -> Self {
        GuardRails {
            allow: Vec::new(),
            max_rate: DEFAULT_RATE_CAP,
            max_packets: MAX_PLAN_PACKETS,
        }
    }
}

/// A target the agent refused, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    /// The target as planned.
    pub target: PlannedTarget,
    /// Why it was refused.
    pub reason: String,
}

impl Refused {
    /// The result reported for a refused target: nothing sent, a local error saying why.
    pub fn result(&self) -> TargetResult {
        let t = &self.target;
        TargetResult {
            id: Some(t.id.clone()),
            space: Some(t.space.clone()),
            source: Some(t.source),
            target: t.target,
            expect: t.expect,
            sent: 0,
            received: 0,
            duplicates: 0,
            loss_pct: 100.0,
            rtt: None,
            failure: Some(FailureCause::LocalError {
                message: format!("refused by the agent's guard rails: {}", self.reason),
            }),
            mtu: None,
            tcp: Vec::new(),
            // The item's own kind, so the coordinator judges it with its kind's rules.
            kind: t.kind,
            macs: Vec::new(),
            dns: None,
        }
    }
}

/// The outcome of [`apply`]: what was refused and which settings were clamped.
#[derive(Debug, Default)]
pub struct Applied {
    /// Targets taken out of the plan.
    pub refused: Vec<Refused>,
    /// Settings lowered to the agent's caps, one line each.
    pub clamped: Vec<String>,
}

/// Networks this machine may probe by itself: the subnets of its own (non-host-scope)
/// addresses, and the destinations of its specific routes in the main table.
pub fn reachable_networks(observed: &ObservedConfig) -> Vec<IpNet> {
    let mut nets: Vec<IpNet> = observed
        .addresses
        .iter()
        .filter(|a| a.scope != "host")
        .filter_map(|a| IpNet::new(a.address, a.prefix_len).ok())
        .map(|n| n.trunc())
        .collect();
    for r in &observed.routes {
        if let Some(d) = r.destination {
            let main = r.table == 254 || r.table == 0;
            if main && d.prefix_len() > 0 && r.route_type == "unicast" {
                nets.push(d.trunc());
            }
        }
    }
    nets.sort();
    nets.dedup();
    nets
}

/// Whether an address can never be a peer: multicast, broadcast, unspecified or loopback.
pub fn forbidden_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => Some("the unspecified address"),
        IpAddr::V4(v4) if v4.is_broadcast() => Some("the broadcast address"),
        IpAddr::V4(v4) if v4.is_multicast() => Some("a multicast address"),
        IpAddr::V4(v4) if v4.is_loopback() => Some("a loopback address"),
        IpAddr::V6(v6) if v6.is_unspecified() => Some("the unspecified address"),
        IpAddr::V6(v6) if v6.is_multicast() => Some("a multicast address"),
        IpAddr::V6(v6) if v6.is_loopback() => Some("a loopback address"),
        _ => None,
    }
}

/// Private addresses: RFC 1918, shared (100.64/10), IPv6 unique-local (fc00::/7).
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_private() || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// Whether `ip` is the broadcast address of one of `nets` (IPv4, prefix shorter than /31).
fn subnet_broadcast(ip: IpAddr, nets: &[IpNet]) -> bool {
    nets.iter().any(|n| match n {
        IpNet::V4(n) => n.prefix_len() < 31 && IpAddr::V4(n.broadcast()) == ip,
        IpNet::V6(_) => false,
    })
}

fn check_target(
    t: &PlannedTarget,
    own: &BTreeSet<IpAddr>,
    nets: &[IpNet],
    rails: &GuardRails,
    ports: &mut BTreeSet<u16>,
) -> Result<(), String> {
    if !own.contains(&t.source) {
        return Err(format!(
            "source {} is not an address of this machine",
            t.source
        ));
    }
    if let Some(kind) = forbidden_kind(t.target) {
        return Err(format!("target {} is {kind}", t.target));
    }
    if subnet_broadcast(t.target, nets) {
        return Err(format!("target {} is a subnet broadcast address", t.target));
    }
    let inside = nets.iter().any(|n| n.contains(&t.target))
        || rails.allow.iter().any(|n| n.contains(&t.target));
    // An isolation probe proves that another space does NOT answer, so its target is off-link
    // by design: allowed as ICMP only, and only to private addresses.
    let isolation = t.expect == Expectation::Isolated && is_private(t.target);
    if isolation && !inside && !t.tcp_ports.is_empty() {
        return Err(format!(
            "isolation probe to {} outside this machine's subnets asks for TCP ports; only ICMP is allowed there",
            t.target
        ));
    }
    if !inside && !isolation {
        return Err(format!(
            "target {} is in none of this machine's subnets or routes (add --allow CIDR to probe it)",
            t.target
        ));
    }
    if t.tcp_ports.len() > MAX_TCP_PORTS_PER_TARGET {
        return Err(format!(
            "{} TCP ports, more than {MAX_TCP_PORTS_PER_TARGET} per target",
            t.tcp_ports.len()
        ));
    }
    if t.tcp_ports.contains(&0) {
        return Err("TCP port 0".into());
    }
    let new: BTreeSet<u16> = t
        .tcp_ports
        .iter()
        .copied()
        .filter(|p| !ports.contains(p))
        .collect();
    if ports.len() + new.len() > MAX_DISTINCT_TCP_PORTS {
        return Err(format!(
            "the plan names more than {MAX_DISTINCT_TCP_PORTS} distinct TCP ports"
        ));
    }
    ports.extend(new);
    Ok(())
}

/// Applies the guard rails to `plan` in place: clamps its settings, takes refused targets
/// out (returned, to be reported as refused). `observed` is this machine as netlink shows it.
pub fn apply(plan: &mut ProbePlan, observed: &ObservedConfig, rails: &GuardRails) -> Applied {
    let mut out = Applied::default();
    let s = &mut plan.settings;
    let mut clamp = |what: &str, from: String, to: String| {
        out.clamped
            .push(format!("{what} {from} changed to the agent's limit ({to})"));
    };
    if s.count > MAX_COUNT {
        clamp("count", s.count.to_string(), MAX_COUNT.to_string());
        s.count = MAX_COUNT;
    }
    if s.retries > MAX_RETRIES {
        clamp("retries", s.retries.to_string(), MAX_RETRIES.to_string());
        s.retries = MAX_RETRIES;
    }
    if s.timeout_ms > MAX_TIMEOUT_MS {
        clamp(
            "timeout_ms",
            s.timeout_ms.to_string(),
            MAX_TIMEOUT_MS.to_string(),
        );
        s.timeout_ms = MAX_TIMEOUT_MS;
    }
    if s.interval_ms < MIN_INTERVAL_MS {
        clamp(
            "interval_ms",
            s.interval_ms.to_string(),
            format!("at least {MIN_INTERVAL_MS}"),
        );
        s.interval_ms = MIN_INTERVAL_MS;
    }
    let cap = rails.max_rate.max(1);
    match s.rate {
        Some(r) if r <= cap => {}
        Some(r) => {
            clamp("rate", format!("{r}/s"), format!("{cap}/s"));
            s.rate = Some(cap);
        }
        None => s.rate = Some(cap),
    }
    let per_target = u64::from(s.count) * (1 + u64::from(s.retries));
    let own: BTreeSet<IpAddr> = observed.addresses.iter().map(|a| a.address).collect();
    let nets = reachable_networks(observed);
    let mut ports = BTreeSet::new();
    let mut packets: u64 = 0;
    let targets = std::mem::take(&mut plan.targets);
    for t in targets {
        let verdict = check_target(&t, &own, &nets, rails, &mut ports).and_then(|()| {
            // MTU probes cost a handful more (a small and a large echo, then a search).
            let cost = per_target + if t.mtu.is_some() { 20 } else { 0 };
            if packets + cost > rails.max_packets {
                return Err(format!(
                    "the plan asks for more than {} echo requests in all (count × (1 + retries) × targets); raise --max-packets to run it",
                    rails.max_packets
                ));
            }
            packets += cost;
            Ok(())
        });
        match verdict {
            Ok(()) => plan.targets.push(t),
            Err(reason) => out.refused.push(Refused { target: t, reason }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use preflight_model::observed::{Address, AddressFlags, Family, Identity, Route};
    use preflight_model::plan::{ProbeSettings, PLAN_SCHEMA};

    fn me() -> ObservedConfig {
        let addr = |ip: &str, p: u8, scope: &str| Address {
            ifindex: 2,
            link: "eth0".into(),
            address: ip.parse().unwrap(),
            prefix_len: p,
            family: Family::Inet,
            scope: scope.into(),
            flags: AddressFlags::default(),
        };
        ObservedConfig {
            schema: "x".into(),
            identity: Identity {
                hostname: "h".into(),
                machine_id: None,
                system_id: None,
                agent_version: "t".into(),
                observed_at: "t".into(),
            },
            links: vec![],
            addresses: vec![addr("10.0.0.5", 24, "global"), addr("127.0.0.1", 8, "host")],
            routes: vec![
                Route {
                    family: Family::Inet,
                    route_type: "unicast".into(),
                    destination: Some("10.9.0.0/16".parse().unwrap()),
                    gateway: Some("10.0.0.1".parse().unwrap()),
                    prefsrc: None,
                    oif: Some("eth0".into()),
                    oif_index: Some(2),
                    table: 254,
                    metric: None,
                    protocol: "static".into(),
                    scope: "universe".into(),
                },
                Route {
                    family: Family::Inet,
                    route_type: "unicast".into(),
                    destination: Some("0.0.0.0/0".parse().unwrap()),
                    gateway: Some("10.0.0.1".parse().unwrap()),
                    prefsrc: None,
                    oif: Some("eth0".into()),
                    oif_index: Some(2),
                    table: 254,
                    metric: None,
                    protocol: "static".into(),
                    scope: "universe".into(),
                },
            ],
            default_gateways: vec![],
            resolvers: vec![],
        }
    }

    fn target(id: &str, to: &str, ports: Vec<u16>) -> PlannedTarget {
        PlannedTarget {
            id: id.into(),
            space: "s".into(),
            source: "10.0.0.5".parse().unwrap(),
            target: to.parse().unwrap(),
            device: None,
            mtu: None,
            tcp_ports: ports,
            target_machine: None,
            expect: Default::default(),
            kind: Default::default(),
        }
    }

    fn plan(targets: Vec<PlannedTarget>, settings: ProbeSettings) -> ProbePlan {
        ProbePlan {
            schema: PLAN_SCHEMA.into(),
            agent: None,
            settings,
            targets,
        }
    }

    #[test]
    fn off_link_multicast_broadcast_and_foreign_sources_are_refused_one_by_one() {
        let mut bad_source = target("src", "10.0.0.6", vec![]);
        bad_source.source = "192.0.2.1".parse().unwrap();
        let mut p = plan(
            vec![
                target("ok", "10.0.0.6", vec![22]),
                target("routed", "10.9.3.4", vec![]),
                target("internet", "8.8.8.8", vec![]),
                target("mcast", "224.0.0.1", vec![]),
                target("bcast", "255.255.255.255", vec![]),
                target("subnet-bcast", "10.0.0.255", vec![]),
                target("zero", "0.0.0.0", vec![]),
                target("lo", "127.0.0.1", vec![]),
                bad_source,
            ],
            ProbeSettings::default(),
        );
        let a = apply(&mut p, &me(), &GuardRails::default());
        let kept: Vec<&str> = p.targets.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(kept, ["ok", "routed"]);
        let refused: Vec<&str> = a.refused.iter().map(|r| r.target.id.as_str()).collect();
        assert_eq!(
            refused,
            [
                "internet",
                "mcast",
                "bcast",
                "subnet-bcast",
                "zero",
                "lo",
                "src"
            ]
        );
        assert!(
            a.refused[0].reason.contains("--allow"),
            "{:?}",
            a.refused[0]
        );
        let r = a.refused[0].result();
        assert_eq!(r.sent, 0);
        assert_eq!(r.id.as_deref(), Some("internet"));
        // Isolation probes may leave the subnets, ICMP only and to private addresses only.
        let iso = |id: &str, to: &str, ports: Vec<u16>| PlannedTarget {
            expect: Expectation::Isolated,
            ..target(id, to, ports)
        };
        let mut p = plan(
            vec![
                iso("iso", "10.50.0.21", vec![]),
                iso("iso-tcp", "10.50.0.22", vec![22]),
                iso("iso-public", "8.8.4.4", vec![]),
            ],
            ProbeSettings::default(),
        );
        let a = apply(&mut p, &me(), &GuardRails::default());
        assert_eq!(p.targets.len(), 1);
        assert_eq!(p.targets[0].id, "iso");
        let refused: Vec<&str> = a.refused.iter().map(|r| r.target.id.as_str()).collect();
        assert_eq!(refused, ["iso-tcp", "iso-public"]);
        // --allow lets the operator widen it, never the coordinator.
        let mut p = plan(
            vec![target("internet", "8.8.8.8", vec![])],
            ProbeSettings::default(),
        );
        let rails = GuardRails {
            allow: vec!["8.8.8.0/24".parse().unwrap()],
            ..GuardRails::default()
        };
        assert!(apply(&mut p, &me(), &rails).refused.is_empty());
    }

    #[test]
    fn port_scans_are_refused_and_rates_and_counts_are_capped() {
        let many: Vec<u16> = (1..=17).collect();
        let mut p = plan(
            vec![
                target("scan", "10.0.0.6", many),
                target("zero", "10.0.0.7", vec![0]),
                target("a", "10.0.0.8", (100..116).collect()),
                target("b", "10.0.0.9", (200..216).collect()),
                target("c", "10.0.0.10", vec![300]),
            ],
            ProbeSettings {
                count: 100_000,
                interval_ms: 0,
                timeout_ms: 3_600_000,
                retries: 100,
                rate: None,
            },
        );
        let a = apply(&mut p, &me(), &GuardRails::default());
        let refused: Vec<&str> = a.refused.iter().map(|r| r.target.id.as_str()).collect();
        assert_eq!(refused, ["scan", "zero", "c"]);
        assert_eq!(p.settings.count, MAX_COUNT);
        assert_eq!(p.settings.retries, MAX_RETRIES);
        assert_eq!(p.settings.timeout_ms, MAX_TIMEOUT_MS);
        assert_eq!(p.settings.interval_ms, MIN_INTERVAL_MS);
        assert_eq!(p.settings.rate, Some(DEFAULT_RATE_CAP));
        assert_eq!(a.clamped.len(), 4, "{:?}", a.clamped);
    }

    #[test]
    fn count_times_targets_is_capped_per_target() {
        let targets: Vec<PlannedTarget> = (1..=200)
            .map(|i| target(&format!("t{i}"), &format!("10.0.0.{i}"), vec![]))
            .filter(|t| t.target != "10.0.0.5".parse::<IpAddr>().unwrap())
            .collect();
        let mut p = plan(
            targets,
            ProbeSettings {
                count: 1000,
                retries: 0,
                ..ProbeSettings::default()
            },
        );
        let rails = GuardRails {
            max_packets: 50_000,
            ..GuardRails::default()
        };
        let a = apply(&mut p, &me(), &rails);
        assert_eq!(p.targets.len(), 50);
        assert_eq!(a.refused.len(), 199 - 50);
        assert!(a.refused[0].reason.contains("--max-packets"));
    }
}
