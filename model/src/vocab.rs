//! Typed vocabularies at the model boundary: kernel and MAAS values as domain enums, each with
//! an `Other` arm so a value a newer kernel or MAAS sends never fails a run.
//!
//! Each is serialized as the kernel's or MAAS's own spelling (so the wire documents are
//! unchanged), parsed once where the value enters (inventory, the MAAS snapshot reader), and
//! compared by variant everywhere else. Parsing takes the exact spelling, then the same
//! spelling in another case; anything else is kept verbatim in `Other`.

macro_rules! vocab {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this build does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// The spelling the kernel or MAAS uses.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $text, )*
                    $name::Other(s) => s,
                }
            }

            /// Parses a spelling (see the module docs).
            pub fn parse(s: &str) -> $name {
                match s {
                    $( $text => $name::$variant, )*
                    _ => {
                        $( if s.eq_ignore_ascii_case($text) { return $name::$variant; } )*
                        $name::Other(s.to_string())
                    }
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> $name {
                $name::parse(&s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> $name {
                $name::parse(s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_string()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

vocab! {
    /// A link's operational state (RFC 2863 `IF_OPER_*`), as the kernel names it.
    OperState {
        /// Up and passing traffic.
        Up = "up",
        /// Down.
        Down = "down",
        /// Down because a link it depends on (a bond's ports, a VLAN's parent) is down.
        LowerLayerDown = "lowerlayerdown",
        /// The hardware is missing.
        NotPresent = "notpresent",
        /// In a test mode.
        Testing = "testing",
        /// Waiting for an external event (802.1X).
        Dormant = "dormant",
        /// The driver does not say (loopback, many virtual links).
        Unknown = "unknown",
    }
}

impl OperState {
    /// Whether the state means no traffic passes (down, lower layer down, not present).
    pub fn is_down(&self) -> bool {
        matches!(
            self,
            OperState::Down | OperState::LowerLayerDown | OperState::NotPresent
        )
    }
}

vocab! {
    /// The scope of an address or a route, as `ip` names it (or the number).
    Scope {
        /// Global (`universe` for routes).
        Global = "global",
        /// Site-local (deprecated IPv6).
        Site = "site",
        /// Link-local.
        Link = "link",
        /// Host-local.
        Host = "host",
        /// Nowhere (no destination).
        Nowhere = "nowhere",
        /// `universe`, the routing name of global.
        Universe = "universe",
    }
}

impl Scope {
    /// Whether an address with this scope can be reached from other machines.
    pub fn is_reachable_from_peers(&self) -> bool {
        matches!(self, Scope::Global | Scope::Site | Scope::Universe)
    }
}

vocab! {
    /// A route's type, as `ip` names it.
    RouteType {
        /// A normal route.
        Unicast = "unicast",
        /// A local address.
        Local = "local",
        /// A broadcast address.
        Broadcast = "broadcast",
        /// Any-cast.
        Anycast = "anycast",
        /// Multicast.
        Multicast = "multicast",
        /// Silently dropped.
        Blackhole = "blackhole",
        /// Unreachable (ICMP host unreachable).
        Unreachable = "unreachable",
        /// Prohibited (ICMP administratively prohibited).
        Prohibit = "prohibit",
        /// Continue lookup in the next table.
        Throw = "throw",
        /// Network address translation.
        Nat = "nat",
    }
}

vocab! {
    /// Who installed a route, as `ip` names it (or the number).
    RouteProtocol {
        /// The kernel (interface addresses).
        Kernel = "kernel",
        /// At boot (ip route add without proto).
        Boot = "boot",
        /// An administrator (static).
        Static = "static",
        /// A DHCP client.
        Dhcp = "dhcp",
        /// IPv6 router advertisements.
        Ra = "ra",
        /// ICMP redirects.
        Redirect = "redirect",
        /// BIRD.
        Bird = "bird",
        /// Zebra/FRR.
        Zebra = "zebra",
    }
}

vocab! {
    /// A bond's mode, as the kernel (and MAAS's `bond_mode`) names it.
    BondMode {
        /// Round robin.
        BalanceRr = "balance-rr",
        /// One active port, the others standby.
        ActiveBackup = "active-backup",
        /// Hash-based transmit.
        BalanceXor = "balance-xor",
        /// Every packet on every port.
        Broadcast = "broadcast",
        /// LACP.
        Lacp = "802.3ad",
        /// Adaptive transmit load balancing.
        BalanceTlb = "balance-tlb",
        /// Adaptive load balancing.
        BalanceAlb = "balance-alb",
        /// The kernel did not say.
        Unknown = "unknown",
    }
}

vocab! {
    /// How MAAS assigns an interface's address on a subnet (a link's `mode`).
    LinkMode {
        /// MAAS picks a static address at deployment.
        Auto = "auto",
        /// An address the operator fixed.
        Static = "static",
        /// DHCP.
        Dhcp = "dhcp",
        /// Linked to the subnet, no address.
        LinkUp = "link_up",
        /// An address MAAS observed.
        Discovered = "discovered",
    }
}

impl LinkMode {
    /// Whether the address is MAAS's to keep (static, auto): it must be on the machine. DHCP
    /// and discovered leases may legitimately change.
    pub fn is_sticky(&self) -> bool {
        matches!(self, LinkMode::Static | LinkMode::Auto)
    }
}

vocab! {
    /// A MAAS machine's status (`status_name`).
    MachineStatus {
        /// Just enlisted.
        New = "New",
        /// Commissioning.
        Commissioning = "Commissioning",
        /// Commissioning failed.
        FailedCommissioning = "Failed commissioning",
        /// Testing.
        Testing = "Testing",
        /// Testing failed.
        FailedTesting = "Failed testing",
        /// Commissioned, free to allocate.
        Ready = "Ready",
        /// Allocated to a user (Juju), not deployed yet.
        Allocated = "Allocated",
        /// Being deployed.
        Deploying = "Deploying",
        /// Deployed.
        Deployed = "Deployed",
        /// Deployment failed.
        FailedDeployment = "Failed deployment",
        /// Releasing.
        Releasing = "Releasing",
        /// Broken.
        Broken = "Broken",
        /// Missing.
        Missing = "Missing",
        /// Retired.
        Retired = "Retired",
        /// Reserved.
        Reserved = "Reserved",
        /// Locked.
        Locked = "Locked",
        /// Rescue mode.
        RescueMode = "Rescue mode",
    }
}

impl MachineStatus {
    /// Whether MAAS can allocate the machine to a new deployment (its acquisition filter is
    /// status Ready).
    pub fn can_be_allocated(&self) -> bool {
        matches!(self, MachineStatus::Ready)
    }

    /// Whether the machine is part of a deployment (allocated, deploying or deployed): an agent
    /// is expected on it.
    pub fn is_in_deployment(&self) -> bool {
        matches!(
            self,
            MachineStatus::Allocated | MachineStatus::Deploying | MachineStatus::Deployed
        )
    }
}

/// A link-layer address, parsed once where it enters (inventory, the MAAS reader, the probe):
/// an Ethernet EUI-48 in any case with `:` or `-` separators is `Eui48`, anything else (an
/// InfiniBand address, a malformed value) is kept verbatim in `Other`. Serialized lowercase
/// with colons, as the kernel and MAAS write it; compared by value, never by spelling.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(from = "String", into = "String")]
pub enum MacAddr {
    /// A 6-byte Ethernet address.
    Eui48([u8; 6]),
    /// Anything that is not an EUI-48, kept verbatim.
    Other(String),
}

impl MacAddr {
    /// Parses a MAC in any case, with `:` or `-` between the six octets.
    pub fn parse(s: &str) -> MacAddr {
        let t = s.trim();
        let parts: Vec<&str> = t.split([':', '-']).collect();
        if parts.len() == 6 {
            let mut b = [0u8; 6];
            let mut ok = true;
            for (i, p) in parts.iter().enumerate() {
                let hex = p.len() == 2 && p.bytes().all(|c| c.is_ascii_hexdigit());
                match u8::from_str_radix(p, 16) {
                    Ok(v) if hex => b[i] = v,
                    _ => ok = false,
                }
            }
            if ok {
                return MacAddr::Eui48(b);
            }
        }
        MacAddr::Other(s.to_string())
    }

    /// The all-zero address loopback and some virtual links report.
    pub fn is_zero(&self) -> bool {
        matches!(self, MacAddr::Eui48([0, 0, 0, 0, 0, 0]))
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(b: [u8; 6]) -> MacAddr {
        MacAddr::Eui48(b)
    }
}

impl From<String> for MacAddr {
    fn from(s: String) -> MacAddr {
        MacAddr::parse(&s)
    }
}

impl From<&str> for MacAddr {
    fn from(s: &str) -> MacAddr {
        MacAddr::parse(s)
    }
}

impl From<MacAddr> for String {
    fn from(m: MacAddr) -> String {
        m.to_string()
    }
}

impl std::fmt::Display for MacAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MacAddr::Eui48(b) => write!(
                f,
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                b[0], b[1], b[2], b[3], b[4], b[5]
            ),
            MacAddr::Other(s) => f.write_str(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse_once_in_any_case_and_separator_and_keep_the_rest() {
        let a = MacAddr::parse("52:54:00:AB:cd:0f");
        assert_eq!(a, MacAddr::parse("52-54-00-ab-CD-0F"));
        assert_eq!(a, MacAddr::Eui48([0x52, 0x54, 0, 0xab, 0xcd, 0x0f]));
        assert_eq!(a.to_string(), "52:54:00:ab:cd:0f");
        assert!(MacAddr::parse("00:00:00:00:00:00").is_zero());
        // InfiniBand (20 octets), truncated, wrong digits, empty, huge: kept verbatim.
        for odd in [
            "80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:a5:b5:11",
            "52:54:00:ab:cd",
            "52:54:00:ab:cd:zz",
            "5:54:00:ab:cd:0f",
            "+5:54:00:ab:cd:0f",
            "",
            &"a".repeat(10_000),
        ] {
            assert_eq!(
                MacAddr::parse(odd),
                MacAddr::Other(odd.to_string()),
                "{odd}"
            );
            assert_eq!(MacAddr::parse(odd).to_string(), odd);
        }
        let j: MacAddr = serde_json::from_str("\"AA:BB:CC:DD:EE:FF\"").unwrap();
        assert_eq!(serde_json::to_string(&j).unwrap(), "\"aa:bb:cc:dd:ee:ff\"");
    }

    #[test]
    fn known_values_parse_to_variants_and_unknown_ones_are_kept() {
        assert_eq!(
            OperState::parse("lowerlayerdown"),
            OperState::LowerLayerDown
        );
        assert!(OperState::parse("lowerlayerdown").is_down());
        assert!(!OperState::parse("dormant").is_down());
        assert_eq!(OperState::parse("7"), OperState::Other("7".into()));
        assert_eq!(MachineStatus::parse("ready"), MachineStatus::Ready);
        assert_eq!(
            MachineStatus::parse("Failed commissioning"),
            MachineStatus::FailedCommissioning
        );
        assert!(MachineStatus::Ready.can_be_allocated());
        assert!(!MachineStatus::Deployed.can_be_allocated());
        assert!(MachineStatus::Deploying.is_in_deployment());
        assert!(!MachineStatus::parse("Hibernating").is_in_deployment());
        assert!(LinkMode::parse("auto").is_sticky() && !LinkMode::parse("dhcp").is_sticky());
        assert_eq!(BondMode::parse("802.3ad"), BondMode::Lacp);
        assert!(Scope::parse("global").is_reachable_from_peers());
        assert!(!Scope::parse("link").is_reachable_from_peers());
    }

    #[test]
    fn serialized_as_the_original_spelling() {
        for (v, s) in [
            (serde_json::to_string(&OperState::Up).unwrap(), "\"up\""),
            (
                serde_json::to_string(&BondMode::Lacp).unwrap(),
                "\"802.3ad\"",
            ),
            (
                serde_json::to_string(&MachineStatus::parse("Hibernating")).unwrap(),
                "\"Hibernating\"",
            ),
            (
                serde_json::to_string(&LinkMode::LinkUp).unwrap(),
                "\"link_up\"",
            ),
        ] {
            assert_eq!(v, s);
        }
        let r: RouteType = serde_json::from_str("\"blackhole\"").unwrap();
        assert_eq!(r, RouteType::Blackhole);
        let p: RouteProtocol = serde_json::from_str("\"42\"").unwrap();
        assert_eq!(p, RouteProtocol::Other("42".into()));
        assert!(
            serde_json::from_str::<Scope>("5").is_err(),
            "a number is not a string"
        );
    }
}
