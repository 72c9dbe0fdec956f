//! The finding-code registry: every code preflight can report, what it means, how it is
//! detected and what to do about it, in one table.
//!
//! A [`Code`] is serialized as its stable name (`"probe.mtu-blackhole"`), so
//! `preflight.report/v1` documents are unchanged by it. A name this build does not know (from
//! a newer producer) is kept as [`Code::Other`] and rendered as-is, never refused.
//!
//! **Adding a code is a one-place change**: add one entry to the `registry!` table below
//! (variant, name, severity, step, description, meaning, detection, fix). Everything else —
//! parsing, `preflight explain`, `preflight codes`, `docs/codes.md`, the README table check and
//! the coverage test — is derived from it. Then regenerate `docs/codes.md`
//! (`preflight codes --format markdown > docs/codes.md`) and add a unit test and a lab scenario
//! (or end-to-end test) that produce the code (the coverage test enforces both).
//!
//! **Coverage rule** (checked by `every_code_has_a_unit_test_and_a_scenario_or_e2e_test` below):
//! a code is covered by a unit test when a test of the crate of its step (validate:
//! `crates/validate`; merge, probe, collect: `crates/check`) names it — `Code::Variant` or
//! `"area.rule"` in a `#[cfg(test)]` part of `src/` or anywhere in `tests/` — and by a lab
//! scenario or end-to-end case when a `scenarios/*.toml` expects it (`code = "area.rule"`)
//! or an end-to-end test in `tests/tests/` names it. A new step must say where its tests live.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::report::Severity;

/// The step of the data line that produces a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// `preflight validate` (and `preflight check --bundle`): the bundle against MAAS.
    Validate,
    /// `preflight check`, merging what each agent observed with what MAAS says (drift).
    Merge,
    /// `preflight check`, judging the probe results.
    Probe,
    /// `preflight check`, gathering agents and their results.
    Collect,
    /// `preflight check`, localizing the failing pairs to causes.
    Diagnose,
}

impl Step {
    /// Every step, in data-line order.
    pub const ALL: [Step; 5] = [
        Step::Validate,
        Step::Merge,
        Step::Probe,
        Step::Collect,
        Step::Diagnose,
    ];

    /// Stable lower-case name (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Validate => "validate",
            Step::Merge => "merge",
            Step::Probe => "probe",
            Step::Collect => "collect",
            Step::Diagnose => "diagnose",
        }
    }

    /// Where in preflight the step runs, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Step::Validate => "bundle vs MAAS, before anything is deployed (`preflight validate`)",
            Step::Merge => "each machine vs MAAS (`preflight check`, merge)",
            Step::Probe => {
                "the network itself (`preflight check`, probes from each machine's own address in each space)"
            }
            Step::Collect => "the agents themselves (`preflight check`, gathering agents and results)",
            Step::Diagnose => {
                "the causes: one per independent fault, named to the machine, interface and VLAN (`preflight check`, after the probes)"
            }
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the registry says about one code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CodeInfo {
    /// Stable name, e.g. `probe.mtu-blackhole`.
    pub code: &'static str,
    /// One-line description.
    pub description: &'static str,
    /// Severity the rule gives it by default (some rules lower it; the meaning says when).
    pub severity: Severity,
    /// The step that produces it.
    pub step: Step,
    /// What it means.
    pub meaning: &'static str,
    /// How preflight detects it.
    pub detection: &'static str,
    /// What to do about it.
    pub fix: &'static str,
}

macro_rules! registry {
    ($(
        $variant:ident = $name:literal {
            severity: $sev:ident,
            step: $step:ident,
            description: $desc:literal,
            meaning: $meaning:literal,
            detection: $detection:literal,
            fix: $fix:literal $(,)?
        }
    )*) => {
        /// A finding code: one variant per rule preflight has, plus [`Code::Other`] for names
        /// from newer producers. Serialized as its stable name.
        #[derive(Debug, Clone)]
        pub enum Code {
            $(
                #[doc = concat!("`", $name, "`: ", $desc)]
                $variant,
            )*
            /// A code this build does not know (a newer producer's), kept verbatim.
            Other(String),
        }

        impl Code {
            /// Every known code, in registry order (by step, then as listed).
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The stable name, e.g. `probe.mtu-blackhole`.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Code::$variant => $name,)*
                    Code::Other(s) => s,
                }
            }

            /// The registry entry; `None` for [`Code::Other`].
            pub fn info(&self) -> Option<&'static CodeInfo> {
                match self {
                    $(Code::$variant => Some(&CodeInfo {
                        code: $name,
                        description: $desc,
                        severity: Severity::$sev,
                        step: Step::$step,
                        meaning: $meaning,
                        detection: $detection,
                        fix: $fix,
                    }),)*
                    Code::Other(_) => None,
                }
            }

            /// The variant's Rust name (`ProbeMtuBlackhole`), for the coverage test.
            #[cfg(test)]
            fn rust_name(&self) -> &'static str {
                match self {
                    $(Code::$variant => stringify!($variant),)*
                    Code::Other(_) => "Other",
                }
            }

            /// Parses a name: a known code, else [`Code::Other`].
            pub fn parse(name: &str) -> Code {
                match name {
                    $($name => Code::$variant,)*
                    other => Code::Other(other.to_string()),
                }
            }
        }
    };
}

registry! {
    BindingUnknownSpace = "binding.unknown-space" {
        severity: Error,
        step: Validate,
        description: "A binding names a space MAAS does not have.",
        meaning: "An application's endpoint (or its default binding \"\") is bound to a space that Juju will not know. `juju deploy` refuses the bundle: Juju only knows MAAS's spaces, under the names its ConvertSpaceName gives them (MAAS `Public_Space` is `publicspace` to Juju).",
        detection: "Each binding of each application (after overlays are merged) is looked up among the MAAS space names as Juju converts them (lower case, spaces to dashes, characters outside [a-z0-9-] dropped, dashes trimmed and collapsed, -2, -3 on collisions); Juju's default space `alpha` always exists. The hint lists both names where they differ.",
        fix: "Correct the space name in the bundle or overlay (`preflight spaces` lists MAAS's), or create the space in MAAS and put the right VLANs into it.",
    }
    BindingUnknownEndpoint = "binding.unknown-endpoint" {
        severity: Error,
        step: Validate,
        description: "A binding names an endpoint the charm does not have.",
        meaning: "A binding in the bundle names an endpoint that the application's charm does not declare (provides, requires, peers or extra-bindings). Juju refuses the deployment.",
        detection: "Only with charm metadata (`--charm-dir`): each binding's endpoint name is looked up in the charm's metadata.yaml. Reactive charms gain endpoints from their layers at build time, so give the built charm's metadata for those.",
        fix: "Fix the endpoint name in the bundle (see the charm's metadata.yaml), or remove the binding.",
    }
    ConstraintSpaceConflict = "constraint.space-conflict" {
        severity: Error,
        step: Validate,
        description: "Constraints exclude a space the bindings need.",
        meaning: "An application's `spaces=^x` constraint excludes a space that one of its bindings uses: no machine can satisfy both, and Juju refuses the deployment.",
        detection: "Each space an application's bindings use is compared with the negative space constraints (`spaces=^...`) of the application.",
        fix: "Remove the space from the negative constraint, or bind the endpoints to another space.",
    }
    ConstraintUnsatisfiable = "constraint.unsatisfiable" {
        severity: Error,
        step: Validate,
        description: "No machine satisfies the constraints plus the bound spaces.",
        meaning: "No Ready MAAS machine (MAAS allocates only Ready machines) satisfies the constraints of an application's new machines (plus the spaces its bindings need, which Juju adds to those constraints) or of a bundle machine. The deployment would wait forever for a machine.",
        detection: "The candidate MAAS machines are filtered by each constraint term in turn (arch, cores, cpu-power, mem, root-disk, tags, zones, spaces); the message names the term that eliminated the last candidates and the count left after each step.",
        fix: "Relax the constraint the message names, or commission MAAS machines that satisfy every constraint and have the bound spaces.",
    }
    PlacementMissingSpace = "placement.missing-space" {
        severity: Error,
        step: Validate,
        description: "A placed unit's machine lacks a bound space.",
        meaning: "A unit placed with `to:` on a bundle machine (or in a container on it, or beside a unit placed there) needs a space its bindings use, and none of that machine's candidate MAAS machines are in the space, or the bundle machines that need it certainly cannot all get one that is (error); or only some are (warning: Juju may pick one without it).",
        detection: "The candidates of the bundle machine (the Ready machines satisfying its constraints, or the one `--machine-map` pins) are checked for each space the application's bindings need. A machine is in a space when an interface is on a VLAN of that space or links to a subnet of it. The failure is certain when the bipartite matching of binding.capacity finds no assignment of machines to every demand in which those bundle machines all get a candidate with the space.",
        fix: "Add `spaces=SPACE` to the bundle machine's constraints, pin it with `--machine-map N=SYSTEM_ID` to a machine in the space, or bind the endpoints to a space the machine has.",
    }
    BindingCapacity = "binding.capacity" {
        severity: Error,
        step: Validate,
        description: "More new-machine units than machines that fit.",
        meaning: "The units that need new machines (and the unpinned bundle machines) cannot all get distinct Ready MAAS machines (MAAS allocates only Ready ones; an owned machine counts only where --machine-map pins it) that satisfy their constraints and bound spaces: some would never be deployed.",
        detection: "A maximum bipartite matching between demands (units, bundle machines) and fitting candidate machines; a demand left short is reported with the group competing for the same machines.",
        fix: "Add MAAS machines that satisfy these constraints and spaces, reduce num_units, or place units on existing machines with `to:`.",
    }
    SubnetNoSpace = "subnet.no-space" {
        severity: Warning,
        step: Validate,
        description: "A linked subnet is in no space.",
        meaning: "A subnet that machines link to is in no MAAS space (undefined): no binding can reach it except Juju's default space `alpha`.",
        detection: "Every subnet some machine's interface links to is checked for a space.",
        fix: "Put the subnet's VLAN into a space in MAAS, or leave it if nothing should bind there.",
    }
    SubnetOverlap = "subnet.overlap" {
        severity: Warning,
        step: Validate,
        description: "Two subnets overlap.",
        meaning: "Two MAAS subnets' CIDRs overlap (usually on different fabrics): anything that matches addresses to subnets by CIDR is ambiguous there.",
        detection: "The subnets are sorted by family and network address and swept for containment.",
        fix: "Renumber one of them, or make sure nothing deployed depends on telling them apart by address.",
    }
    SpaceEmpty = "space.empty" {
        severity: Warning,
        step: Validate,
        description: "A bound space has no subnets or no machines.",
        meaning: "A space the bundle binds endpoints to has no subnets, or has subnets but no machine links into it: units bound there get no address in it.",
        detection: "Every bound space is checked for subnets and for machines with an interface in it.",
        fix: "Add a subnet (VLAN) to the space in MAAS, or link machines' interfaces to a subnet of the space.",
    }
    BundleUnknownKey = "bundle.unknown-key" {
        severity: Warning,
        step: Validate,
        description: "A bundle key Juju does not know, which it ignores.",
        meaning: "The bundle or an overlay has a key that is not a field of Juju's bundle data (top level, application or machine): Juju ignores it, so whatever it was meant to say does not happen. Often a misspelt key.",
        detection: "Every key is compared with the fields of Juju's BundleData, ApplicationSpec and MachineSpec; the message names file:line:column.",
        fix: "Correct the key's spelling, or remove it.",
    }
    BundleDeprecated = "bundle.deprecated" {
        severity: Warning,
        step: Validate,
        description: "A bundle form this Juju version deprecates.",
        meaning: "The bundle uses a form the Juju version given with --juju accepts but deprecates: the legacy `services:` key and charm store (cs:) URLs with --juju 2.9 (Juju 3, the default, refuses both).",
        detection: "While the bundle is read with the rules of the --juju version (default 3); the message names file:line:column.",
        fix: "Use the current form: `applications:`, and a Charmhub charm name with a channel.",
    }
    BundleIgnoredField = "bundle.ignored-field" {
        severity: Warning,
        step: Validate,
        description: "A mistyped bundle field that Juju drops.",
        meaning: "A field has a type Juju's decoder cannot use, so Juju ignores it; for a scalar `to: lxd:0` (not a list) every unit goes to a new machine, and preflight checks the bundle that way.",
        detection: "While the bundle is read: a `to:` that is not a list; the message names file:line:column.",
        fix: "Give the field the type Juju expects (`to:` is a list: `to: [lxd:0]`), or remove it.",
    }
    CharmDuplicateKey = "charm.duplicate-key" {
        severity: Warning,
        step: Validate,
        description: "Charm metadata with a duplicate key.",
        meaning: "A charm's metadata.yaml (or charmcraft.yaml) repeats a key. Juju reads metadata non-strictly and keeps the last value, and so does preflight; the earlier value is silently unused (a widely deployed ceph-mon release shipped a duplicate nrpe-external-master).",
        detection: "The metadata is parsed strictly first; on a duplicate key it is parsed again keeping the last value, and the first duplicate is named with file:line:column.",
        fix: "Remove the earlier duplicate from the metadata so it says what Juju reads.",
    }
    CharmUnused = "charm.unused" {
        severity: Warning,
        step: Validate,
        description: "A --charm-dir charm no application uses.",
        meaning: "Charm metadata given with --charm-dir matches no application of the bundle, so its endpoints check nothing: usually the directory or the metadata's name differs from the charm URL's name.",
        detection: "An application uses the metadata whose `name:` is its charm URL's name, else the one whose directory has that name; metadata no application uses is reported.",
        fix: "Point --charm-dir at the charms the bundle deploys, or name the charm's directory after its charm URL.",
    }
    RelationCrossSpace = "relation.cross-space" {
        severity: Info,
        step: Validate,
        description: "A relation joins endpoints bound to two different spaces: the pair must route.",
        meaning: "Two endpoints of a relation are bound to different spaces (each end's explicit binding, else its application's \"\" default, else Juju's model default alpha), so the units on either side talk across spaces: those spaces must route to each other. Juju does not check this. For a relation to an offer of another model (saas), only the local end's space is known and the finding names the local application.",
        detection: "validate resolves every relation end of the bundle (inferring an unnamed endpoint from charm metadata when exactly one interface matches) and reports each unordered space pair once, naming the relations that need it. preflight check --bundle probes the same pairs.",
        fix: "Nothing, if the spaces are meant to route: preflight check --bundle proves they do. Otherwise bind both ends of the relation to one space.",
    }
    RelationUnroutable = "relation.unroutable" {
        severity: Error,
        step: Validate,
        description: "MAAS shows that two spaces a relation needs cannot route to each other.",
        meaning: "A relation needs two spaces to reach each other, but as MAAS describes them they cannot: the subnets of one space (or both) have no gateway at all, so their machines have no route off their own subnets, and no subnet of one space shares a VLAN with a subnet of the other.",
        detection: "validate, for each space pair the relations need: every subnet of a side has no gateway, and no subnet of one side is on the VLAN of a subnet of the other. Pairs with Juju's alpha or an unknown space are not judged (binding.unknown-space says so).",
        fix: "Set the gateway of the subnets in MAAS (and route between the spaces), or bind both ends of the relations to one space.",
    }
    DriftMachineUnknown = "drift.machine-unknown" {
        severity: Error,
        step: Merge,
        description: "An agent matched no MAAS machine, or several.",
        meaning: "An agent's machine is not one MAAS knows (or matches several, or one another agent already matched): nothing it observed can be compared with MAAS, and its probes have no intent to check.",
        detection: "Each agent is matched by its system_id (`--machine-id`), else its hostname, else the MAC addresses of its links.",
        fix: "Run the agent with `--machine-id SYSTEM_ID`, or fix the hostname or MAC addresses in MAAS.",
    }
    DriftInterfaceMissing = "drift.interface-missing" {
        severity: Error,
        step: Merge,
        description: "MAAS has an interface the machine lacks.",
        meaning: "MAAS lists an enabled interface on the machine that has no link with that MAC on the machine itself. An error when the interface links to a subnet (an address is missing with it), a warning otherwise.",
        detection: "Each enabled MAAS interface with a MAC or a subnet link is matched to an observed link by MAC (name, 802.1Q vid and kind break ties).",
        fix: "Check the cabling and the netplan configuration, or update MAAS.",
    }
    DriftAddressMissing = "drift.address-missing" {
        severity: Error,
        step: Merge,
        description: "A MAAS link IP is not on the machine.",
        meaning: "MAAS assigns a static or auto address to an interface, but the machine does not have it: whatever is bound to that space on this machine cannot be reached there.",
        detection: "Each static or auto MAAS link address is looked up among the machine's observed addresses (DHCP and discovered leases may change, so they are not checked).",
        fix: "Configure the address (netplan), or release it in MAAS.",
    }
    DriftAddressUnexpected = "drift.address-unexpected" {
        severity: Warning,
        step: Merge,
        description: "An address in a known subnet that MAAS does not list.",
        meaning: "The machine has an address in a MAAS subnet that MAAS does not list for this machine: a copied netplan, a manual change or an address MAAS may hand to another machine.",
        detection: "Each usable observed address (global scope, not tentative or DAD-failed) that falls in a MAAS subnet is looked up among the machine's MAAS addresses.",
        fix: "Remove the address, or record it in MAAS.",
    }
    DriftMtuMismatch = "drift.mtu-mismatch" {
        severity: Error,
        step: Merge,
        description: "Observed MTU below the VLAN's MTU.",
        meaning: "An interface's MTU on the machine is below the MTU MAAS gives its VLAN: large packets from peers (jumbo frames) will not fit.",
        detection: "The observed MTU of each matched link is compared with its MAAS VLAN's MTU.",
        fix: "Raise the interface MTU (netplan `mtu:`) to the VLAN's MTU.",
    }
    DriftLinkDown = "drift.link-down" {
        severity: Error,
        step: Merge,
        description: "A MAAS-linked interface is not up.",
        meaning: "An interface MAAS links to a subnet is administratively down or operationally down on the machine: nothing passes through it.",
        detection: "The admin state and operational state of each matched link with a MAAS subnet link are read from netlink.",
        fix: "Bring the link up and check the cable and the switch port.",
    }
    ProbeUnreachable = "probe.unreachable" {
        severity: Error,
        step: Probe,
        description: "A peer did not answer.",
        meaning: "No echo request from one machine's address in a space to a peer's address in the same space was answered (and the reverse direction fails too): the two machines cannot talk in that space.",
        detection: "ICMP echo requests from the source's own address in the space, bound to it; no reply within the timeout, or an ICMP error (unreachable, prohibited) that the message names.",
        fix: "Check the link, the VLAN tagging on the switch ports, the addressing and the firewalls on both machines.",
    }
    ProbePacketLoss = "probe.packet-loss" {
        severity: Error,
        step: Probe,
        description: "A peer answered some requests only.",
        meaning: "Some but not all echo requests to a peer were answered: the path works, badly.",
        detection: "Fewer replies than requests on a pair that answered at least once.",
        fix: "Check the ports for errors, duplex mismatches, congestion or rate-limiting firewalls.",
    }
    ProbeMtuBlackhole = "probe.mtu-blackhole" {
        severity: Error,
        step: Probe,
        description: "Small probes pass, full-size DF probes fail.",
        meaning: "Small packets reach the peer, but packets of the VLAN's full MTU with Don't Fragment set vanish (or need fragmentation): a switch port, bond or interface on the path has a smaller MTU than the VLAN. TCP sessions hang once they send full-size segments (storage replication, image transfers), while pings and small requests work.",
        detection: "After the echo requests, a DF-bit ICMP probe at the smaller VLAN MTU of the two ends; when it fails, a search for the largest size that passes (the message names it).",
        fix: "Set the VLAN's MTU on every interface, bond and switch port of the path (or lower the VLAN's MTU in MAAS to what the path carries).",
    }
    ProbeAsymmetric = "probe.asymmetric" {
        severity: Error,
        step: Probe,
        description: "A→B fails while B→A passes.",
        meaning: "Requests from A to B go unanswered while B reaches A: the link works, so a policy at one end drops one direction (replaces probe.unreachable for that direction).",
        detection: "A pair with no reply whose reverse pair (same addresses, swapped) answered.",
        fix: "Look for a one-way firewall rule, reverse-path filtering (rp_filter) or an asymmetric route.",
    }
    ProbeIsolationBreach = "probe.isolation-breach" {
        severity: Error,
        step: Probe,
        description: "Traffic passed between spaces meant to be isolated.",
        meaning: "Probes between two spaces that must be isolated (`--isolate A:B`, or with `--isolation bundle` any pair no relation of the bundle joins: the message then says \"not needed by any relation in the bundle\") were answered: something forwards between them.",
        detection: "Echo requests from each machine in one space to machines in the other; any reply is a breach.",
        fix: "Find the router or firewall rule that forwards between the two spaces.",
    }
    RelationUnreachable = "relation.unreachable" {
        severity: Error,
        step: Probe,
        description: "A probe between two spaces a relation needs got no answer.",
        meaning: "A relation of the bundle joins endpoints bound to two spaces, and a machine that can host one side's application got no answer from a machine of the other side: the relation will not work across that path. The message names the relations that need the pair.",
        detection: "preflight check --bundle plans, for each space pair the relations need, probes from the machines whose spaces cover the applications' bindings, both directions, sampled (each machine once across, every subnet pair at least once each way). A probe without any reply is this finding, also when the reverse direction passes.",
        fix: "Route between the two spaces (gateways, router, firewall rules both ways), or bind both ends of the relations to one space.",
    }
    ProbeUntestable = "probe.untestable" {
        severity: Info,
        step: Probe,
        description: "A pair was not probed because its result would mean nothing.",
        meaning: "The plan left a probe out on purpose and says why: the target address is also the prober's own (it would only ping itself), one of the two addresses is held by several machines in its subnet (the reply reaches whichever answers ARP first), or an isolation probe's target could be answered from the prober's own side (an on-link subnet or a machine of the prober's space with the same address, as when tenants reuse addresses on separate fabrics). Another address of the target machine is probed instead when it has one.",
        detection: "While planning, each pair is compared with the prober's own addresses, its on-link subnets (MAAS CIDRs of its addresses) and the holders of each address per subnet and per space.",
        fix: "Give the machines addresses that are unique on both sides (fix the duplicate the address.duplicate finding names), or prove the pair another way.",
    }
    ProbeNotRun = "probe.not-run" {
        severity: Warning,
        step: Probe,
        description: "An agent could not run one item of its plan (and ran the rest).",
        meaning: "One plan item was invalid for the agent (a field out of range, a neighbour probe without a device) or pointless (its target is the agent's own address). The agent reported it as not run, with the field, and ran every other item: one bad item never costs the rest of the plan.",
        detection: "The agent checks each plan item before probing; an item it refuses comes back with the failure cause `not-run` and its reason.",
        fix: "Fix the item the reason names (for a hand-written plan), or the address it names (for a coordinator's plan), and check again.",
    }
    AddressDuplicate = "address.duplicate" {
        severity: Error,
        step: Probe,
        description: "Two machines (or MACs) answer for one address in one subnet.",
        meaning: "An address is held by more than one host on its link: two agents have it, an agent has an address MAAS assigns to another machine, several MACs answer ARP or Neighbor Solicitations for it, a machine's own address is answered by another host, or a MAC that is not the MAAS owner's answers. Traffic to it reaches whichever host answers first; the pairs it is part of are not probed (probe.untestable).",
        detection: "From each machine, RFC 5227 ARP probes (sender 0.0.0.0) and DAD-style Neighbor Solicitations (source ::, to the solicited-node group) on raw packet sockets, for its own addresses and, in spaces of up to 32 machines, for its peers' addresses in the same subnet; every MAC that answers is recorded and compared with the MAAS owner's interface MAC. Plus the merge's view: the same address observed on two agents in one subnet, or on a machine MAAS does not assign it to.",
        fix: "Remove the address from all but one host (a copied netplan, a VIP left on two hosts, a machine MAAS does not know), then check again.",
    }
    AddressInDynamicRange = "address.in-dynamic-range" {
        severity: Error,
        step: Merge,
        description: "An assigned address lies in a MAAS dynamic (DHCP) or reserved range.",
        meaning: "A static or auto address MAAS assigns, or an address a machine has that MAAS did not lease to it by DHCP, lies inside a dynamic range of its subnet (error: MAAS's DHCP server may lease it to another host) or a reserved range (warning: the range is kept for something outside MAAS).",
        detection: "MAAS's `ipranges` (read with the snapshot; none when MAAS does not list them) are compared with every assigned MAAS link address and every observed address of the agents in the range's subnet.",
        fix: "Move the address out of the range, or shrink or move the range in MAAS.",
    }
    GatewayUnreachable = "gateway.unreachable" {
        severity: Error,
        step: Probe,
        description: "A subnet's gateway answers neither ARP nor ICMP from a machine in the subnet.",
        meaning: "The gateway MAAS gives a subnet (`gateway_ip`) does not answer ARP (or Neighbor Solicitations) nor ICMP echo from machines with an address in that subnet: traffic that leaves the subnet goes nowhere. The finding names the subnet, the gateway and the machines.",
        detection: "Each machine with an address in a subnet that has a gateway sends an ARP probe (or NS) for it on the link holding that address, and an ICMP echo from that address; neither answered is a failure.",
        fix: "Check that the router holds the gateway address on this VLAN and that its port carries the VLAN; correct MAAS's gateway_ip when it names the wrong address.",
    }
    DnsServerUnreachable = "dns.server-unreachable" {
        severity: Error,
        step: Probe,
        description: "A DNS server gives a machine no answer from its address in a space.",
        meaning: "The DNS servers MAAS gives a subnet (`dns_servers`, else the machine's own resolver from /etc/resolv.conf) must answer queries sent from each machine's address in the subnet's space: a server that does not leaves the machine unable to resolve names there (package mirrors, Juju's controller, charm relations by name). The finding names the server, the space and the machines.",
        detection: "From each machine's address in each space, a PTR query (and the forward queries for its answers) to each DNS server over UDP 53 from a socket bound to that address; no answer at all within the probe timeout (two tries per query) is a failure. Any response code counts as an answer.",
        fix: "Check that the DNS server listens on an address reachable from the space (and its firewall allows UDP 53 from the subnet), or give the subnet in MAAS DNS servers that are.",
    }
    DnsReverseMismatch = "dns.reverse-mismatch" {
        severity: Warning,
        step: Probe,
        description: "A machine's address in a space has no PTR record.",
        meaning: "Each machine's address in each space should resolve back (PTR) to a name: Juju, OpenStack and Ceph services log and sometimes authorise peers by their reverse name. A reverse zone delegated RFC 2317-style (a CNAME into a classless zone) is followed. The finding names the machine, its address and the server asked.",
        detection: "The PTR query for the address, sent from that address to each DNS server that answers; CNAME chains are followed to the PTR (at most 8 hops). No PTR at the end (NXDOMAIN or an empty answer) is the finding.",
        fix: "Add the PTR record (MAAS-managed DNS creates one per assigned address; check the subnet's DNS settings and that the address is assigned in MAAS), or fix the RFC 2317 CNAMEs of the reverse zone.",
    }
    DnsForwardMismatch = "dns.forward-mismatch" {
        severity: Warning,
        step: Probe,
        description: "A machine's reverse name does not resolve forward to the same address.",
        meaning: "The name an address's PTR gives must resolve forward (A for IPv4, AAAA for IPv6, after CNAMEs) to that same address; otherwise services that check forward-confirmed reverse DNS refuse or misname the peer, and clients following the name reach another host. The finding names the machine, the address, the name and what the name resolves to.",
        detection: "After the PTR lookup, the A or AAAA query for each name it gave, from the same address to the same server, CNAMEs followed; the finding when none of the answers is the address.",
        fix: "Correct the name's A/AAAA record (or the PTR, when it names the wrong host).",
    }
    ControllerUnreachable = "controller.unreachable" {
        severity: Error,
        step: Probe,
        description: "A machine reaches no Juju controller API address from the management space.",
        meaning: "With `--controller`, every machine must open TCP 17070 to a controller API address from its own address in juju-mgmt-space (`--mgmt-space`). A machine that reaches none, or has no address in that space, is named with the space: when juju-mgmt-space has no reachable address Juju silently falls back to any address, so agents talk to the controller over a space not meant for it, or not at all.",
        detection: "TCP connects to port 17070 of each controller address, bound to each machine's address in the management space (every address when none is named).",
        fix: "Open TCP 17070 to the controllers on the management VLAN (firewall, routing, the controller's own address in that space), or give the machine an address in the space.",
    }
    ControllerHaUnreachable = "controller.ha-unreachable" {
        severity: Error,
        step: Probe,
        description: "A controller cannot reach another controller in the HA space.",
        meaning: "With `--ha-space`, the controller machines (those holding a `--controller` address) must reach each other's addresses in juju-ha-space, where they replicate their database: a controller that cannot is named with its peer.",
        detection: "TCP connects to port 37017 (Juju's MongoDB replica set) from each controller's address in the HA space to every other controller's address there.",
        fix: "Open TCP 37017 between the controllers on the HA VLAN, or set juju-ha-space to a space they share.",
    }
    AgentMissing = "agent.missing" {
        severity: Error,
        step: Collect,
        description: "An expected agent never reported.",
        meaning: "Fewer agents registered than `--expect` said, or a registered agent never sent its probe results before the deadline: part of the network was not checked.",
        detection: "Registrations are counted at the registration deadline and results at the probe deadline; the MAAS machines of the deployment that no agent matched are named.",
        fix: "Start `preflight-agent run` on every machine, and check it can reach the coordinator; see the agent's output on that machine.",
    }
    CauseInterface = "cause.interface" {
        severity: Error,
        step: Diagnose,
        description: "Cause: one machine's interface on one VLAN (the switch port's VLAN membership, tagging, MTU).",
        meaning: "Every failing pair explained by this cause runs through one machine's interface on one VLAN, and nothing else they share fails elsewhere: typically the VLAN is missing on that machine's trunk port, the interface is down or mis-tagged, or its switch port's MTU is short.",
        detection: "Localization after the probes: every component of a passing path (machine, NIC or bond, interface on the VLAN, VLAN, router) is exonerated; this interface is in the smallest set of components explaining every failing path. The machine's other VLANs on the same NIC passing rule out the NIC; drift (link down, MTU below the VLAN's) names the interface itself.",
        fix: "Add the VLAN to the machine's switch port (trunk allowed VLANs), check the interface's tagging and that it is up, and set the VLAN's MTU on the port and interface; the cause's own fix says which.",
    }
    CauseNic = "cause.nic" {
        severity: Error,
        step: Diagnose,
        description: "Cause: a physical NIC or bond, or its switch port: every VLAN on it fails.",
        meaning: "Every probed VLAN riding on this NIC or bond (MAAS `parents`) fails on this machine, while its other NICs pass: the NIC, its cable or its switch port is at fault, not one VLAN and not the host.",
        detection: "Localization after the probes: the NIC is on every failing path of the machine's VLANs on it and on no passing path; the machine itself is exonerated by its other NICs' passing paths.",
        fix: "Check the NIC's link and cable, and that its switch port (or the bond's LAG) is enabled and forwarding.",
    }
    CauseMachine = "cause.machine" {
        severity: Error,
        step: Diagnose,
        description: "Cause: a machine itself: every NIC of it fails.",
        meaning: "Every probed path to and from this machine fails, on all of its NICs: the host (its firewall, routing, network configuration or power) rather than one port.",
        detection: "Localization after the probes: the machine is the one component common to its failing paths that no passing path exonerates, and no smaller set explains them.",
        fix: "Check the machine itself: host firewall, routing, netplan, and every NIC's link.",
    }
    CauseVlan = "cause.vlan" {
        severity: Error,
        step: Diagnose,
        description: "Cause: a VLAN (L2 domain) of a space: every pair on it fails.",
        meaning: "All probed pairs of the VLAN fail while the same machines pass in their other spaces: the VLAN itself is not carried (not created or not forwarded on the switches).",
        detection: "Localization after the probes: the VLAN is on every failing path and covers them all with one component, where per-machine explanations would need several.",
        fix: "Check that the VLAN exists and is forwarded (and has the right MTU) on every switch of the fabric.",
    }
    CauseRouter = "cause.router" {
        severity: Error,
        step: Diagnose,
        description: "Cause: the router between two subnets of a space.",
        meaning: "Pairs across two subnets of one space fail while pairs inside each subnet pass: the routing between them (the gateway, its forwarding, routes or MTU) is at fault.",
        detection: "Localization after the probes: the router component is on the cross-subnet paths only, and the machines and VLANs are exonerated by their passing paths inside each subnet.",
        fix: "Check the router or gateway between the two subnets: forwarding, routes both ways, MTU.",
    }
    CausePolicy = "cause.policy" {
        severity: Error,
        step: Diagnose,
        description: "Cause: a one-way policy (firewall, rp_filter, return route) at one end of a pair.",
        meaning: "Probes fail in one direction only while every link they use carries other traffic, often the reverse direction: a policy at one end drops them, not a link.",
        detection: "Localization after the probes: every physical component of the failing path is exonerated by passing paths, so only what affects that direction alone (the target's inbound policy, the source's outbound policy or return route, the pair) remains.",
        fix: "Look for a firewall rule on the target (or the source) dropping these packets, reverse-path filtering, or a missing return route.",
    }
    CauseUnlocalized = "cause.unlocalized" {
        severity: Error,
        step: Diagnose,
        description: "Cause: failing pairs the probes cannot pin on one machine (e.g. a space with two machines).",
        meaning: "The failing pairs look the same whichever of several components is at fault, e.g. in a space with only two machines either end or the VLAN; preflight says so rather than guess.",
        detection: "Localization after the probes: the smallest explanation is one class of indistinguishable components spanning more than one machine (or a machine and the VLAN), and no drift names one of them.",
        fix: "Check both ends (switch port VLANs, MTU, link); a third machine in the space, LLDP or port counters would localize it.",
    }
}

impl Code {
    /// Every known code with its registry entry.
    pub fn registry() -> impl Iterator<Item = &'static CodeInfo> {
        Code::ALL.iter().filter_map(Code::info)
    }

    /// Default severity; [`Severity::Error`] for unknown codes.
    pub fn severity(&self) -> Severity {
        self.info().map(|i| i.severity).unwrap_or(Severity::Error)
    }

    /// Whether this is a code this build knows.
    pub fn is_known(&self) -> bool {
        !matches!(self, Code::Other(_))
    }
}

impl PartialEq for Code {
    fn eq(&self, other: &Code) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Code {}

impl std::hash::Hash for Code {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl PartialOrd for Code {
    fn partial_cmp(&self, other: &Code) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Ordered by name, as the strings were, so reports sort exactly as before.
impl Ord for Code {
    fn cmp(&self, other: &Code) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Code {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Code, Self::Err> {
        Ok(Code::parse(s))
    }
}

impl From<&str> for Code {
    fn from(s: &str) -> Code {
        Code::parse(s)
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Code, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Code;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a finding code string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Code, E> {
                Ok(Code::parse(v))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = BTreeSet::new();
        for c in Code::ALL {
            let name = c.as_str();
            assert!(seen.insert(name), "duplicate code {name}");
            let (area, rule) = name.split_once('.').expect("area.rule");
            for part in [area, rule] {
                assert!(
                    !part.is_empty()
                        && part
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                    "{name}: lower-case kebab area.rule"
                );
            }
            let info = c.info().expect("known codes have an entry");
            assert_eq!(info.code, name);
            for (what, text) in [
                ("description", info.description),
                ("meaning", info.meaning),
                ("detection", info.detection),
                ("fix", info.fix),
            ] {
                assert!(text.len() >= 10, "{name}: {what} too short");
                assert!(!text.contains('\n'), "{name}: {what} is one paragraph");
            }
        }
        assert_eq!(Code::registry().count(), Code::ALL.len());
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_kept() {
        for c in Code::ALL {
            assert_eq!(&Code::parse(c.as_str()), c);
            let json = serde_json::to_string(c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(&serde_json::from_str::<Code>(&json).unwrap(), c);
        }
        let other: Code = serde_json::from_str("\"cause.nic-dead\"").unwrap();
        assert_eq!(other, Code::Other("cause.nic-dead".into()));
        assert!(!other.is_known() && other.info().is_none());
        assert_eq!(serde_json::to_string(&other).unwrap(), "\"cause.nic-dead\"");
        assert_eq!(other.severity(), Severity::Error);
        // A known name never becomes Other, and Other with a known name equals the variant.
        assert_eq!(Code::parse("probe.unreachable"), Code::ProbeUnreachable);
        assert_eq!(
            Code::Other("probe.unreachable".into()),
            Code::ProbeUnreachable
        );
        assert!(serde_json::from_str::<Code>("3").is_err());
    }

    /// Where a step's rules live, for the coverage rule (see the module docs).
    fn crate_of(step: Step) -> &'static str {
        match step {
            Step::Validate => "crates/validate",
            Step::Merge | Step::Probe | Step::Collect | Step::Diagnose => "crates/check",
        }
    }

    fn rs_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                rs_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    /// The test parts of a crate's sources: `tests/` whole, `src/` after `#[cfg(test)]`.
    fn test_text(root: &std::path::Path, krate: &str) -> String {
        let mut files = Vec::new();
        rs_files(&root.join(krate).join("tests"), &mut files);
        let mut text: String = files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect();
        let mut src = Vec::new();
        rs_files(&root.join(krate).join("src"), &mut src);
        for f in src {
            let s = std::fs::read_to_string(&f).unwrap();
            if let Some(i) = s.find("#[cfg(test)]") {
                text.push_str(&s[i..]);
            }
        }
        text
    }

    #[test]
    fn every_code_has_a_unit_test_and_a_scenario_or_e2e_test() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut scenarios = String::new();
        for e in std::fs::read_dir(root.join("scenarios")).unwrap().flatten() {
            if e.path().extension().is_some_and(|x| x == "toml") {
                scenarios.push_str(&std::fs::read_to_string(e.path()).unwrap());
            }
        }
        let e2e = test_text(&root, "tests");
        let mut missing = Vec::new();
        for c in Code::ALL {
            let info = c.info().unwrap();
            let (quoted, variant) = (
                format!("\"{}\"", c.as_str()),
                format!("Code::{}", c.rust_name()),
            );
            let names = |t: &str| t.contains(&quoted) || t.contains(&variant);
            if !names(&test_text(&root, crate_of(info.step))) {
                missing.push(format!("{c}: no unit test in {}", crate_of(info.step)));
            }
            if !scenarios.contains(&format!("code = {quoted}")) && !names(&e2e) {
                missing.push(format!(
                    "{c}: no lab scenario (scenarios/*.toml) or e2e test (tests/tests)"
                ));
            }
        }
        assert!(
            missing.is_empty(),
            "uncovered codes:\n{}",
            missing.join("\n")
        );
    }

    #[test]
    fn variants_are_named_after_their_codes() {
        for c in Code::ALL {
            let camel: String = c
                .as_str()
                .split(['.', '-'])
                .map(|w| {
                    let mut cs = w.chars();
                    cs.next()
                        .map(|f| f.to_ascii_uppercase().to_string() + cs.as_str())
                        .unwrap_or_default()
                })
                .collect();
            assert_eq!(camel, c.rust_name(), "{c}");
        }
    }

    #[test]
    fn codes_sort_by_name() {
        let mut v = [
            Code::ProbeUnreachable,
            Code::AgentMissing,
            Code::Other("b.x".into()),
        ];
        v.sort();
        let names: Vec<&str> = v.iter().map(Code::as_str).collect();
        assert_eq!(names, ["agent.missing", "b.x", "probe.unreachable"]);
    }
}
