//! Target expansion: addresses and CIDRs from the command line, with a size limit.

use std::net::IpAddr;

use ipnet::IpNet;

/// Default cap on the number of targets one run expands to (a /16 of IPv4 fits).
pub const DEFAULT_MAX_TARGETS: usize = 65_536;

/// Errors of target expansion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Neither an address nor a CIDR.
    #[error("`{input}` is neither an IP address nor a CIDR ({reason})")]
    Malformed {
        /// What was given.
        input: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The targets would exceed the limit.
    #[error("`{input}` expands to {count} targets, more than the limit of {max}; pass --max-targets {count} to allow it")]
    TooMany {
        /// The argument that crossed the limit.
        input: String,
        /// How many targets it would reach (saturating).
        count: u128,
        /// The limit.
        max: usize,
    },
}

/// Hosts of a network: for IPv4 prefixes shorter than /31 the network and broadcast
/// addresses are left out (as fping -g does); IPv6 and /31, /32, /127, /128 keep all.
fn host_count(net: &IpNet) -> u128 {
    match net {
        IpNet::V4(n) => {
            let total = 1u128 << (32 - u32::from(n.prefix_len()));
            if n.prefix_len() < 31 {
                total - 2
            } else {
                total
            }
        }
        IpNet::V6(n) => {
            let bits = 128 - u32::from(n.prefix_len());
            if bits >= 128 {
                u128::MAX
            } else {
                1u128 << bits
            }
        }
    }
}

/// Parses one argument (address or CIDR) into addresses, appending to `out`, refusing to go
/// past `max` targets in total.
pub fn expand_into(input: &str, max: usize, out: &mut Vec<IpAddr>) -> Result<(), TargetError> {
    let s = input.trim();
    if let Ok(a) = s.parse::<IpAddr>() {
        if out.len() >= max {
            return Err(TargetError::TooMany {
                input: input.to_string(),
                count: out.len() as u128 + 1,
                max,
            });
        }
        out.push(a);
        return Ok(());
    }
    if !s.contains('/') {
        return Err(TargetError::Malformed {
            input: input.to_string(),
            reason: "not an IP address".into(),
        });
    }
    let net: IpNet = s
        .parse()
        .map_err(|e: ipnet::AddrParseError| TargetError::Malformed {
            input: input.to_string(),
            reason: format!("bad CIDR: {e}"),
        })?;
    let net = net.trunc();
    let n = host_count(&net);
    let total = (out.len() as u128).saturating_add(n);
    if total > max as u128 {
        return Err(TargetError::TooMany {
            input: input.to_string(),
            count: total,
            max,
        });
    }
    match net {
        IpNet::V4(n4) => {
            if n4.prefix_len() < 31 {
                out.extend(n4.hosts().map(IpAddr::V4));
            } else {
                let base = u32::from(n4.network());
                let len = 1u32 << (32 - u32::from(n4.prefix_len()));
                out.extend((0..len).map(|i| IpAddr::V4((base + i).into())));
            }
        }
        IpNet::V6(n6) => {
            let base = u128::from(n6.network());
            // n ≤ max here, so the loop is bounded by the limit.
            out.extend((0..n).map(|i| IpAddr::V6((base + i).into())));
        }
    }
    Ok(())
}

/// Expands every argument; see [`expand_into`].
pub fn expand(inputs: &[String], max: usize) -> Result<Vec<IpAddr>, TargetError> {
    let mut out = Vec::new();
    for i in inputs {
        expand_into(i, max, &mut out)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_cidr_skips_network_and_broadcast() {
        let v = expand(&["10.0.0.0/30".into()], 100).unwrap();
        assert_eq!(
            v,
            vec![
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "10.0.0.2".parse().unwrap()
            ]
        );
        let v = expand(&["127.1.0.0/16".into()], DEFAULT_MAX_TARGETS).unwrap();
        assert_eq!(v.len(), 65_534);
        assert_eq!(v[0].to_string(), "127.1.0.1");
        assert_eq!(v[65_533].to_string(), "127.1.255.254");
    }

    #[test]
    fn point_to_point_and_single_host_keep_all() {
        assert_eq!(expand(&["10.0.0.0/31".into()], 10).unwrap().len(), 2);
        assert_eq!(expand(&["10.0.0.7/32".into()], 10).unwrap().len(), 1);
        assert_eq!(expand(&["fd00::/126".into()], 10).unwrap().len(), 4);
        // host bits set: the network is taken (ip route semantics)
        assert_eq!(
            expand(&["10.0.0.6/30".into()], 10).unwrap()[0].to_string(),
            "10.0.0.5"
        );
    }

    #[test]
    fn addresses_and_mixed_families() {
        let v = expand(&["::1".into(), "127.0.0.1".into(), "fe80::1".into()], 10).unwrap();
        assert_eq!(v.len(), 3);
    }

    #[test]
    fn malformed_inputs_are_named() {
        for bad in [
            "10.0.0.0/33",
            "10.0.0/8",
            "banana",
            "10.0.0.1/",
            "/8",
            "::1/129",
            "",
            "1.2.3.4/-1",
        ] {
            let e = expand(&[bad.into()], 10).unwrap_err();
            assert!(matches!(e, TargetError::Malformed { .. }), "{bad}: {e:?}");
            assert!(e.to_string().contains(&format!("`{bad}`")), "{e}");
        }
    }

    #[test]
    fn huge_networks_are_refused_without_allocating() {
        let e = expand(&["10.0.0.0/8".into()], DEFAULT_MAX_TARGETS).unwrap_err();
        assert!(
            matches!(
                e,
                TargetError::TooMany {
                    count: 16_777_214,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("--max-targets"));
        let e = expand(&["::/0".into()], DEFAULT_MAX_TARGETS).unwrap_err();
        assert!(matches!(e, TargetError::TooMany { .. }));
        // the limit counts across arguments
        let e = expand(&["10.0.0.0/30".into(), "10.0.1.0/30".into()], 3).unwrap_err();
        assert!(matches!(e, TargetError::TooMany { count: 4, .. }));
        assert_eq!(
            expand(&["10.0.0.0/20".into()], 4094).map(|v| v.len()).ok(),
            Some(4094)
        );
        assert!(expand(&["10.0.0.0/20".into()], 4093).is_err());
    }
}
