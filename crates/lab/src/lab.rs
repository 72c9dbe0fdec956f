//! Builds a [`Topology`] as real network namespaces and tears it down again.
//!
//! Layout (every namespace is a [`Netns`], named `pf<pid>-<n>-<tag>`, removed on drop):
//! - one **switch** namespace per fabric, holding one Linux bridge `br<vid>` per VLAN;
//! - one namespace per **host**; each host interface is a veth whose host end carries the
//!   topology's name, MAC, MTU and address, and whose switch end (`h<host>i<iface>`) is a port
//!   of its VLAN's bridge (the port MTU is the VLAN MTU);
//! - one namespace per **router**, one veth leg per subnet, forwarding on or off;
//! - the **management** namespace: a bridge `mgmt` holding the first address of the
//!   management network (where the coordinator listens), and a `mgmt0` veth in every host
//!   with the next addresses. Agents talk to the coordinator over it, never over the spaces
//!   under test.
//!
//! Faults are applied by [`Lab::apply_faults`], after the MAAS snapshot has been taken.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;

use crate::netns::{run_with_stdin, Netns, NetnsError};
use crate::topology::{nth_address, Fault, Host, Interface, Topology};

/// Errors of building or changing a lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// Namespaces need root (and iproute2).
    #[error(
        "the lab needs root and iproute2 (network namespaces); run as root, e.g. `sudo ./demo.sh`"
    )]
    NotPermitted,
    /// Interfaces did not come up in time.
    #[error("host {host}: {interfaces} did not come up")]
    NotUp {
        /// Host name.
        host: String,
        /// The interfaces still down.
        interfaces: String,
    },
    /// A namespace operation failed.
    #[error("{context}: {source}")]
    Netns {
        /// What was being built.
        context: String,
        /// The failed command.
        source: NetnsError,
    },
}

fn ctx(context: impl Into<String>) -> impl FnOnce(NetnsError) -> LabError {
    let context = context.into();
    move |source| LabError::Netns { context, source }
}

/// A host's namespace in a built lab.
#[derive(Debug)]
pub struct LabHost {
    /// Hostname (as in the topology).
    pub name: String,
    /// MAAS system_id.
    pub system_id: String,
    /// Address on the management network.
    pub mgmt_address: Ipv4Addr,
    ns: Netns,
}

impl LabHost {
    /// The host's namespace.
    pub fn ns(&self) -> &Netns {
        &self.ns
    }
}

/// A built lab. Dropping it deletes every namespace (and with them every veth and bridge).
#[derive(Debug)]
pub struct Lab {
    // Field order is drop order: hosts and routers first, then switches and management.
    hosts: Vec<LabHost>,
    routers: Vec<(String, Netns)>,
    switches: Vec<Netns>,
    mgmt: Netns,
    mgmt_address: Ipv4Addr,
    topology: Topology,
    faults_applied: bool,
}

/// Runs `ip -n NS -batch -` with these lines (one `ip` process per namespace and step).
fn batch(ns: &Netns, lines: &[String]) -> Result<(), NetnsError> {
    if lines.is_empty() {
        return Ok(());
    }
    let command = format!("ip -n {} -batch - ({} commands)", ns.name(), lines.len());
    let mut cmd = Command::new("ip");
    cmd.args(["-n", ns.name(), "-batch", "-"]);
    match run_with_stdin(cmd, command, &(lines.join("\n") + "\n")) {
        Ok(_) => Ok(()),
        Err(NetnsError::Failed {
            command,
            status,
            stderr,
        }) => {
            // ip reports "Command failed -:LINE"; show the failing command too.
            let line = stderr
                .lines()
                .find_map(|l| {
                    l.rsplit_once("-:")
                        .and_then(|(_, n)| n.trim().parse::<usize>().ok())
                })
                .and_then(|n| lines.get(n.wrapping_sub(1)))
                .map(|l| format!(" (at `ip {l}`)"))
                .unwrap_or_default();
            Err(NetnsError::Failed {
                command,
                status,
                stderr: format!("{stderr}{line}"),
            })
        }
        Err(e) => Err(e),
    }
}

/// Sets a `net.*` sysctl inside the namespace by writing `/proc/sys` (which shows the writer's
/// network namespace), so the lab needs no `sysctl` binary (procps is not in slim images).
fn sysctl(ns: &Netns, key: &str, value: &str) -> Result<(), NetnsError> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    ns.exec(
        "sh",
        ["-c", r#"printf '%s\n' "$1" > "$2""#, "sh", value, &path],
    )
    .map(|_| ())
}

/// Keeps bridged frames out of the IP firewall in a switch (or the management bridge's)
/// namespace: with `br_netfilter` loaded, a new namespace passes every bridged frame through
/// the inet hooks and a route lookup, which no real switch does and which cost a tenth of the
/// CPU of a 100-host run. The lab's switch faults use `bridge` family tables, which see the
/// frames either way. Nothing to do when `br_netfilter` is not loaded.
fn bridge_only(ns: &Netns) -> Result<(), NetnsError> {
    ns.exec(
        "sh",
        [
            "-c",
            "[ -d /proc/sys/net/bridge ] || exit 0; for k in iptables ip6tables arptables; do \
             printf '0\n' > /proc/sys/net/bridge/bridge-nf-call-$k; done",
        ],
    )
    .map(|_| ())
}

/// Name of the switch port of host `h`'s interface `i`.
fn port_name(h: usize, i: usize) -> String {
    format!("h{h}i{i}")
}

impl Lab {
    /// Builds the intended network of `topology` (no faults yet).
    pub fn build(topology: &Topology) -> Result<Lab, LabError> {
        if !crate::netns::can_create() {
            return Err(LabError::NotPermitted);
        }
        let t = topology.clone();
        let mgmt_net = t.management;
        let mgmt_address = match nth_address(&ipnet::IpNet::V4(mgmt_net), 1) {
            Some(IpAddr::V4(a)) => a,
            _ => Ipv4Addr::new(10, 254, 0, 1),
        };
        let mgmt = Netns::new("mgmt").map_err(ctx("creating the management namespace"))?;
        bridge_only(&mgmt).map_err(ctx("setting up the management namespace"))?;
        batch(
            &mgmt,
            &[
                "link add mgmt type bridge".into(),
                format!("addr add {mgmt_address}/{} dev mgmt", mgmt_net.prefix_len()),
                "link set mgmt up".into(),
            ],
        )
        .map_err(ctx("building the management bridge"))?;
        // Build into a partially filled Lab so that an error half-way tears down what exists.
        let mut lab = Lab {
            hosts: Vec::new(),
            routers: Vec::new(),
            switches: Vec::new(),
            mgmt,
            mgmt_address,
            topology: t,
            faults_applied: false,
        };
        lab.build_switches()?;
        lab.build_hosts()?;
        lab.build_routers()?;
        lab.wait_until_up(std::time::Duration::from_secs(10))?;
        Ok(lab)
    }

    /// Waits until the kernel reports every host interface (and `mgmt0`) operationally up.
    /// Carrier changes reach `operstate` through the kernel's link watch, up to a second
    /// later; an agent that observes before that would see a link that is about to come up
    /// as down.
    fn wait_until_up(&self, limit: std::time::Duration) -> Result<(), LabError> {
        let start = std::time::Instant::now();
        for (h, lh) in self.topology.hosts.iter().zip(&self.hosts) {
            let mut wanted: Vec<&str> = h.interfaces.iter().map(|i| i.name.as_str()).collect();
            wanted.push("mgmt0");
            loop {
                let out = lh
                    .ns
                    .ip(["-j", "link", "show"])
                    .map_err(ctx(format!("reading the links of host {}", h.name)))?;
                let links: Vec<serde_json::Value> =
                    serde_json::from_slice(&out.stdout).unwrap_or_default();
                let down: Vec<&str> = wanted
                    .iter()
                    .copied()
                    .filter(|w| {
                        !links
                            .iter()
                            .any(|l| l["ifname"] == *w && l["operstate"] == "UP")
                    })
                    .collect();
                if down.is_empty() {
                    break;
                }
                if start.elapsed() > limit {
                    return Err(LabError::NotUp {
                        host: h.name.clone(),
                        interfaces: down.join(", "),
                    });
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        Ok(())
    }

    fn build_switches(&mut self) -> Result<(), LabError> {
        for (fi, f) in self.topology.fabrics.iter().enumerate() {
            let ns = Netns::new(&format!("sw-{}", f.name))
                .map_err(ctx(format!("creating the switch of fabric {}", f.name)))?;
            bridge_only(&ns).map_err(ctx(format!("setting up the switch of fabric {}", f.name)))?;
            let mut lines = Vec::new();
            for v in self.topology.vlans.iter().filter(|v| v.fabric == fi) {
                lines.push(format!(
                    "link add br{} mtu {} type bridge stp_state 0",
                    v.vid, v.mtu
                ));
                lines.push(format!("link set br{} up", v.vid));
            }
            // Every subnet's gateway answers (ARP and ICMP) unless a router leg holds it: the
            // switch's bridge carries the address, with forwarding off (a gateway that routes
            // nowhere, which is all the check asks of it).
            let t = &self.topology;
            for (si, s) in t.subnets.iter().enumerate() {
                let Some(gw) = s.gateway else { continue };
                if t.vlans[s.vlan].fabric != fi
                    || t.routers
                        .iter()
                        .any(|r| r.legs.iter().any(|(ls, a)| *ls == si && *a == gw))
                {
                    continue;
                }
                let nodad = if gw.is_ipv6() { " nodad" } else { "" };
                lines.push(format!(
                    "addr add {gw}/{} dev br{}{nodad}",
                    s.cidr.prefix_len(),
                    t.vlans[s.vlan].vid
                ));
            }
            batch(&ns, &lines)
                .map_err(ctx(format!("building the bridges of fabric {}", f.name)))?;
            self.switches.push(ns);
        }
        Ok(())
    }

    fn build_hosts(&mut self) -> Result<(), LabError> {
        let t = &self.topology;
        let prefix = t.management.prefix_len();
        // Namespaces first.
        for (hi, h) in t.hosts.iter().enumerate() {
            let ns = Netns::new(&h.name).map_err(ctx(format!("creating host {}", h.name)))?;
            let mgmt_address = match nth_address(&ipnet::IpNet::V4(t.management), hi as u128 + 2) {
                Some(IpAddr::V4(a)) => a,
                _ => Ipv4Addr::UNSPECIFIED,
            };
            self.hosts.push(LabHost {
                name: h.name.clone(),
                system_id: h.system_id.clone(),
                mgmt_address,
                ns,
            });
        }
        // Management legs, from the management namespace.
        let mut lines = Vec::new();
        for (hi, lh) in self.hosts.iter().enumerate() {
            lines.push(format!(
                "link add m{hi} type veth peer name mgmt0 netns {}",
                lh.ns.name()
            ));
            lines.push(format!("link set m{hi} master mgmt up"));
        }
        batch(&self.mgmt, &lines).map_err(ctx("plugging hosts into the management bridge"))?;
        // Switch ports, from each fabric's switch namespace.
        for (fi, sw) in self.switches.iter().enumerate() {
            let mut lines = Vec::new();
            for (hi, h) in t.hosts.iter().enumerate() {
                for (ii, i) in h.interfaces.iter().enumerate() {
                    let vlan = &t.vlans[t.subnets[i.subnet].vlan];
                    if vlan.fabric != fi {
                        continue;
                    }
                    let port = port_name(hi, ii);
                    lines.push(format!(
                        "link add {port} mtu {} type veth peer name {} address {} mtu {} netns {}",
                        vlan.mtu,
                        i.name,
                        i.mac,
                        i.mtu,
                        self.hosts[hi].ns.name()
                    ));
                    lines.push(format!("link set {port} master br{} up", vlan.vid));
                }
            }
            batch(sw, &lines).map_err(ctx(format!(
                "plugging hosts into fabric {}",
                t.fabrics[fi].name
            )))?;
        }
        // Addresses, links up, routes: inside each host.
        for (hi, h) in t.hosts.iter().enumerate() {
            let lh = &self.hosts[hi];
            let mut lines = vec![
                format!("addr add {}/{prefix} dev mgmt0", lh.mgmt_address),
                "link set mgmt0 up".to_string(),
            ];
            for i in &h.interfaces {
                if let Some(a) = i.address {
                    lines.push(addr_line("add", t, i, a));
                }
                lines.push(format!("link set {} up", i.name));
            }
            lines.extend(route_lines(t, h));
            if t.static_neighbours {
                lines.extend(neighbour_lines(t, hi));
            }
            batch(&lh.ns, &lines).map_err(ctx(format!("configuring host {}", h.name)))?;
        }
        Ok(())
    }

    fn build_routers(&mut self) -> Result<(), LabError> {
        let t = &self.topology;
        for (ri, r) in t.routers.iter().enumerate() {
            let ns = Netns::new(&r.name).map_err(ctx(format!("creating router {}", r.name)))?;
            let mut inside = Vec::new();
            for (li, (s, address)) in r.legs.iter().enumerate() {
                let subnet = &t.subnets[*s];
                let vlan = &t.vlans[subnet.vlan];
                let port = format!("r{ri}l{li}");
                let leg = format!("leg{li}");
                batch(
                    &self.switches[vlan.fabric],
                    &[
                        format!(
                            "link add {port} mtu {m} type veth peer name {leg} mtu {m} netns {}",
                            ns.name(),
                            m = vlan.mtu
                        ),
                        format!("link set {port} master br{} up", vlan.vid),
                    ],
                )
                .map_err(ctx(format!(
                    "plugging router {} into {}",
                    r.name, subnet.cidr
                )))?;
                let nodad = if address.is_ipv6() { " nodad" } else { "" };
                inside.push(format!(
                    "addr add {address}/{} dev {leg}{nodad}",
                    subnet.cidr.prefix_len()
                ));
                inside.push(format!("link set {leg} up"));
            }
            batch(&ns, &inside).map_err(ctx(format!("configuring router {}", r.name)))?;
            let on = if r.forwarding { "1" } else { "0" };
            sysctl(&ns, "net.ipv4.ip_forward", on)
                .and_then(|_| sysctl(&ns, "net.ipv6.conf.all.forwarding", on))
                .map_err(ctx(format!("setting forwarding on router {}", r.name)))?;
            if !r.deny.is_empty() {
                let rules: Vec<String> = r
                    .deny
                    .iter()
                    .flat_map(|&(x, y)| [(x, y), (y, x)])
                    .map(|(x, y)| forward_drop(&t.subnets[x].cidr, &t.subnets[y].cidr))
                    .collect();
                ns.nft(&forward_table("pf_deny", &rules))
                    .map_err(ctx(format!("filtering on router {}", r.name)))?;
            }
            self.routers.push((r.name.clone(), ns));
        }
        Ok(())
    }

    /// Applies the topology's faults (once; later calls do nothing).
    pub fn apply_faults(&mut self) -> Result<(), LabError> {
        if self.faults_applied {
            return Ok(());
        }
        self.faults_applied = true;
        let faults = self.topology.faults.clone();
        for (n, f) in faults.iter().enumerate() {
            self.apply_fault(n, f)
                .map_err(ctx(format!("applying fault {}", describe_fault(f))))?;
        }
        Ok(())
    }

    fn locate(&self, host: &str, interface: &str) -> Option<(usize, usize, &Interface)> {
        let hi = self.topology.hosts.iter().position(|h| h.name == host)?;
        let (ii, i) = self.topology.hosts[hi]
            .interfaces
            .iter()
            .enumerate()
            .find(|(_, i)| i.name == interface)?;
        Some((hi, ii, i))
    }

    fn apply_fault(&self, n: usize, f: &Fault) -> Result<(), NetnsError> {
        let t = &self.topology;
        let unknown = || NetnsError::Failed {
            command: describe_fault(f),
            status: "not applied".into(),
            stderr: "the fault names something the lab does not have".into(),
        };
        let target = |host: &str, interface: &str| self.locate(host, interface).ok_or_else(unknown);
        match f {
            Fault::LinkDown { host, interface } => {
                // A VLAN interface follows its NIC down (the lab's VLANs are veths of their own).
                let (hi, _, i) = target(host, interface)?;
                self.hosts[hi].ns.ip(["link", "set", &i.name, "down"])?;
                for c in t.children(&t.hosts[hi], &i.name) {
                    self.hosts[hi].ns.ip(["link", "set", &c.name, "down"])?;
                }
            }
            Fault::PortDead { host, interface } => {
                let (hi, ii, i) = target(host, interface)?;
                let mut ports = vec![ii];
                ports.extend(
                    t.hosts[hi]
                        .interfaces
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| c.parent.as_deref() == Some(i.name.as_str()))
                        .map(|(ci, _)| ci),
                );
                for pi in ports {
                    let sw = self.switch_of(hi, pi).ok_or_else(unknown)?;
                    sw.ip(["link", "set", &port_name(hi, pi), "nomaster"])?;
                }
            }
            Fault::HostMtu {
                host,
                interface,
                mtu,
            } => {
                let (hi, _, i) = target(host, interface)?;
                self.hosts[hi]
                    .ns
                    .ip(["link", "set", &i.name, "mtu", &mtu.to_string()])?;
            }
            Fault::SwitchPortMtu {
                host,
                interface,
                mtu,
            } => {
                // A switch drops frames larger than its port MTU silently ("giants"), in both
                // directions; lowering the veth's own MTU would instead hand the sending host
                // ENOBUFS, which no real switch does. So: a bridge filter in the switch.
                let (hi, ii, _) = target(host, interface)?;
                let sw = self.switch_of(hi, ii).ok_or_else(unknown)?;
                let port = port_name(hi, ii);
                sw.nft(&format!(
                    "table bridge pf_fault{n} {{\n  chain forward {{\n    type filter hook forward priority 0; policy accept;\n    iifname \"{port}\" meta length > {mtu} drop\n    oifname \"{port}\" meta length > {mtu} drop\n  }}\n}}\n"
                ))?;
            }
            Fault::VlanMissing { host, interface } => {
                let (hi, ii, _) = target(host, interface)?;
                let sw = self.switch_of(hi, ii).ok_or_else(unknown)?;
                sw.ip(["link", "set", &port_name(hi, ii), "nomaster"])?;
            }
            Fault::Drop { from, to, subnet } => {
                let a = t.host(from).ok_or_else(unknown)?;
                let bi = t
                    .hosts
                    .iter()
                    .position(|h| h.name == *to)
                    .ok_or_else(unknown)?;
                let b = &t.hosts[bi];
                let mut rules = Vec::new();
                for x in &a.interfaces {
                    for y in &b.interfaces {
                        if x.subnet != y.subnet
                            || subnet.is_some_and(|s| t.subnets[x.subnet].cidr != s.trunc())
                        {
                            continue;
                        }
                        if let (Some(sa), Some(da)) = (x.address, y.address) {
                            rules.push(match (sa, da) {
                                (IpAddr::V4(_), IpAddr::V4(_)) => format!(
                                    "ip saddr {sa} ip daddr {da} icmp type echo-request drop"
                                ),
                                _ => format!(
                                    "ip6 saddr {sa} ip6 daddr {da} icmpv6 type echo-request drop"
                                ),
                            });
                        }
                    }
                }
                self.hosts[bi].ns.nft(&input_table(n, &rules))?;
            }
            Fault::Loss {
                host,
                interface,
                percent,
            } => {
                let (hi, _, i) = target(host, interface)?;
                let rule = format!(
                    "iifname \"{}\" numgen random mod 100 < {percent} drop",
                    i.name
                );
                self.hosts[hi].ns.nft(&input_table(n, &[rule]))?;
            }
            Fault::WrongAddress {
                host,
                interface,
                address,
            } => {
                let (hi, _, i) = target(host, interface)?;
                let mut lines = Vec::new();
                if let Some(a) = i.address {
                    lines.push(addr_line("del", t, i, a));
                }
                lines.push(addr_line("add", t, i, *address));
                batch(&self.hosts[hi].ns, &lines)?;
            }
            Fault::ExtraAddress {
                host,
                interface,
                address,
            } => {
                let (hi, _, i) = target(host, interface)?;
                batch(&self.hosts[hi].ns, &[addr_line("add", t, i, *address)])?;
            }
            Fault::DuplicateAddress {
                host,
                interface,
                of,
            } => {
                let (hi, _, i) = target(host, interface)?;
                let copied = t
                    .host(of)
                    .and_then(|o| {
                        o.interfaces
                            .iter()
                            .find(|x| x.subnet == i.subnet)
                            .and_then(|x| x.address)
                    })
                    .ok_or_else(unknown)?;
                batch(&self.hosts[hi].ns, &[addr_line("add", t, i, copied)])?;
            }
            Fault::ControllerPortDropped { host, space }
            | Fault::DnsPortDropped { host, space } => {
                let dns = matches!(f, Fault::DnsPortDropped { .. });
                let hi = t
                    .hosts
                    .iter()
                    .position(|h| h.name == *host)
                    .ok_or_else(unknown)?;
                let rules: Vec<String> = t.hosts[hi]
                    .interfaces
                    .iter()
                    .filter(|i| {
                        t.vlans[t.subnets[i.subnet].vlan]
                            .space
                            .is_some_and(|s| t.spaces[s].name == *space)
                    })
                    .filter_map(|i| i.address)
                    .map(|a| {
                        let fam = if a.is_ipv4() { "ip" } else { "ip6" };
                        if dns {
                            format!("{fam} daddr {a} udp dport 53 drop")
                        } else {
                            format!("{fam} daddr {a} tcp dport {{ 17070, 37017 }} drop")
                        }
                    })
                    .collect();
                if rules.is_empty() {
                    return Err(unknown());
                }
                self.hosts[hi].ns.nft(&input_table(n, &rules))?;
            }
            // Served by the lab's DNS responder (crate::dns), nothing to change on the hosts.
            Fault::DnsPtrMissing { .. } | Fault::DnsWrongA { .. } => {}
            Fault::DeadGateway { subnet } => {
                let si = t
                    .subnets
                    .iter()
                    .position(|s| s.cidr == subnet.trunc())
                    .ok_or_else(unknown)?;
                let s = &t.subnets[si];
                let gw = s.gateway.ok_or_else(unknown)?;
                let line = format!("addr del {gw}/{} dev", s.cidr.prefix_len());
                match t.routers.iter().enumerate().find_map(|(ri, r)| {
                    r.legs
                        .iter()
                        .position(|(ls, a)| *ls == si && *a == gw)
                        .map(|li| (ri, li))
                }) {
                    Some((ri, li)) => {
                        batch(&self.routers[ri].1, &[format!("{line} leg{li}")])?;
                    }
                    None => {
                        let sw = self
                            .switches
                            .get(t.vlans[s.vlan].fabric)
                            .ok_or_else(unknown)?;
                        batch(sw, &[format!("{line} br{}", t.vlans[s.vlan].vid)])?;
                    }
                }
            }
            Fault::MissingAddress { host, interface } => {
                let (hi, _, i) = target(host, interface)?;
                if let Some(a) = i.address {
                    batch(&self.hosts[hi].ns, &[addr_line("del", t, i, a)])?;
                }
            }
            Fault::MissingInterface { host, interface } => {
                let (hi, _, i) = target(host, interface)?;
                self.hosts[hi].ns.ip(["link", "del", &i.name])?;
            }
            Fault::RouterForwards { router } => {
                let ns = self
                    .routers
                    .iter()
                    .find(|(name, _)| name == router)
                    .map(|(_, ns)| ns)
                    .ok_or_else(unknown)?;
                sysctl(ns, "net.ipv4.ip_forward", "1")?;
                sysctl(ns, "net.ipv6.conf.all.forwarding", "1")?;
            }
            Fault::RouterDrop { router, from, to } => {
                let ns = self
                    .routers
                    .iter()
                    .find(|(name, _)| name == router)
                    .map(|(_, ns)| ns)
                    .ok_or_else(unknown)?;
                ns.nft(&forward_table(
                    &format!("pf_fault{n}"),
                    &[forward_drop(from, to)],
                ))?;
            }
            Fault::RouterDenyMissing { router } => {
                let ns = self
                    .routers
                    .iter()
                    .find(|(name, _)| name == router)
                    .map(|(_, ns)| ns)
                    .ok_or_else(unknown)?;
                ns.nft("delete table inet pf_deny\n")?;
            }
            Fault::NoAgent { .. } => {}
        }
        Ok(())
    }

    fn switch_of(&self, hi: usize, ii: usize) -> Option<&Netns> {
        let t = &self.topology;
        let i = t.hosts.get(hi)?.interfaces.get(ii)?;
        self.switches.get(t.vlans[t.subnets[i.subnet].vlan].fabric)
    }

    /// The topology the lab was built from.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The MAAS snapshot of the intended network (see [`crate::snapshot`]).
    pub fn maas_snapshot(&self) -> serde_json::Value {
        crate::snapshot::snapshot(&self.topology)
    }

    /// Whether [`Lab::apply_faults`] has run.
    pub fn faults_applied(&self) -> bool {
        self.faults_applied
    }

    /// The management namespace (where the coordinator and the MAAS stand-in run).
    pub fn mgmt(&self) -> &Netns {
        &self.mgmt
    }

    /// The coordinator's address on the management network.
    pub fn mgmt_address(&self) -> Ipv4Addr {
        self.mgmt_address
    }

    /// The hosts, in topology order.
    pub fn hosts(&self) -> &[LabHost] {
        &self.hosts
    }

    /// The host with this name.
    pub fn host(&self, name: &str) -> Option<&LabHost> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// The switch namespace of a fabric (by name).
    pub fn switch(&self, fabric: &str) -> Option<&Netns> {
        let fi = self
            .topology
            .fabrics
            .iter()
            .position(|f| f.name == fabric)?;
        self.switches.get(fi)
    }

    /// The switch port (name, in the fabric's switch namespace) of a host interface.
    pub fn switch_port(&self, host: &str, interface: &str) -> Option<String> {
        let (hi, ii, _) = self.locate(host, interface)?;
        Some(port_name(hi, ii))
    }

    /// The router namespace with this name.
    pub fn router(&self, name: &str) -> Option<&Netns> {
        self.routers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, ns)| ns)
    }

    /// Names of every namespace of the lab.
    pub fn namespaces(&self) -> Vec<String> {
        let mut v: Vec<String> = self.hosts.iter().map(|h| h.ns.name().to_string()).collect();
        v.extend(self.routers.iter().map(|(_, ns)| ns.name().to_string()));
        v.extend(self.switches.iter().map(|ns| ns.name().to_string()));
        v.push(self.mgmt.name().to_string());
        v
    }
}

fn addr_line(verb: &str, t: &Topology, i: &Interface, a: IpAddr) -> String {
    let len = t.subnets[i.subnet].cidr.prefix_len();
    let nodad = if a.is_ipv6() && verb == "add" {
        " nodad"
    } else {
        ""
    };
    format!("addr {verb} {a}/{len} dev {}{nodad}", i.name)
}

/// Routes from a host to the other subnets of every router on one of its subnets.
fn route_lines(t: &Topology, h: &Host) -> Vec<String> {
    let mut lines = Vec::new();
    let mut done: BTreeSet<usize> = h.interfaces.iter().map(|i| i.subnet).collect();
    for r in &t.routers {
        for i in &h.interfaces {
            if i.address.is_none() {
                continue;
            }
            let Some((_, via)) = r.legs.iter().find(|(s, _)| *s == i.subnet) else {
                continue;
            };
            for (s, _) in &r.legs {
                if t.subnets[*s].cidr.addr().is_ipv4() != via.is_ipv4() || !done.insert(*s) {
                    continue;
                }
                lines.push(format!(
                    "route add {} via {via} dev {}",
                    t.subnets[*s].cidr, i.name
                ));
            }
        }
    }
    lines
}

/// Permanent neighbour entries for every peer address in the host's subnets.
fn neighbour_lines(t: &Topology, hi: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for i in &t.hosts[hi].interfaces {
        if i.address.is_none() {
            continue;
        }
        for (pi, peer) in t.hosts.iter().enumerate() {
            if pi == hi {
                continue;
            }
            for p in peer.interfaces.iter().filter(|p| p.subnet == i.subnet) {
                if let Some(a) = p.address {
                    lines.push(format!(
                        "neigh replace {a} lladdr {} dev {} nud permanent",
                        p.mac, i.name
                    ));
                }
            }
        }
    }
    lines
}

fn input_table(n: usize, rules: &[String]) -> String {
    let mut s = format!(
        "table inet pf_fault{n} {{\n  chain input {{\n    type filter hook input priority 0; policy accept;\n"
    );
    for r in rules {
        s.push_str("    ");
        s.push_str(r);
        s.push('\n');
    }
    s.push_str("  }\n}\n");
    s
}

/// One line describing a fault, for progress output and errors.
pub fn describe_fault(f: &Fault) -> String {
    match f {
        Fault::LinkDown { host, interface } => format!("link down: {host} {interface}"),
        Fault::PortDead { host, interface } => {
            format!("switch port of {host} {interface} forwards nothing")
        }
        Fault::HostMtu {
            host,
            interface,
            mtu,
        } => format!("MTU {mtu} on {host} {interface}"),
        Fault::SwitchPortMtu {
            host,
            interface,
            mtu,
        } => format!("switch port of {host} {interface} at MTU {mtu}"),
        Fault::VlanMissing { host, interface } => {
            format!("VLAN of {host} {interface} missing on its switch port")
        }
        Fault::Drop { from, to, subnet } => match subnet {
            Some(s) => format!("{to} drops echo requests from {from} in {s}"),
            None => format!("{to} drops echo requests from {from}"),
        },
        Fault::Loss {
            host,
            interface,
            percent,
        } => format!("{percent}% packet loss into {host} {interface}"),
        Fault::WrongAddress {
            host,
            interface,
            address,
        } => format!("{host} {interface} has {address} instead of its MAAS address"),
        Fault::ExtraAddress {
            host,
            interface,
            address,
        } => format!("{host} {interface} also has {address}"),
        Fault::MissingAddress { host, interface } => {
            format!("{host} {interface} lacks its address")
        }
        Fault::DuplicateAddress {
            host,
            interface,
            of,
        } => format!("{host} {interface} also has {of}'s address"),
        Fault::DeadGateway { subnet } => format!("the gateway of {subnet} is dead"),
        Fault::ControllerPortDropped { host, space } => {
            format!("controller {host} drops its API port in {space}")
        }
        Fault::DnsPortDropped { host, space } => {
            format!("DNS server {host} drops UDP 53 in {space}")
        }
        Fault::DnsPtrMissing { host, space } => {
            format!("DNS has no PTR for {host}'s address in {space}")
        }
        Fault::DnsWrongA {
            host,
            space,
            address,
        } => {
            format!("DNS resolves {host}'s name in {space} to {address}")
        }
        Fault::MissingInterface { host, interface } => format!("{host} lacks {interface}"),
        Fault::RouterForwards { router } => format!("router {router} forwards"),
        Fault::RouterDrop { router, from, to } => {
            format!("router {router} drops what it forwards from {from} to {to}")
        }
        Fault::RouterDenyMissing { router } => {
            format!("router {router} forwards between the subnets it should keep apart")
        }
        Fault::NoAgent { host } => format!("no agent on {host}"),
    }
}

/// An nftables `inet` table named `name` whose forward chain holds `rules`.
fn forward_table(name: &str, rules: &[String]) -> String {
    format!(
        "table inet {name} {{\n  chain forward {{\n    type filter hook forward priority 0; policy accept;\n{}  }}\n}}\n",
        rules.iter().map(|r| format!("    {r}\n")).collect::<String>()
    )
}

/// A forward rule dropping traffic from one subnet to another.
fn forward_drop(from: &ipnet::IpNet, to: &ipnet::IpNet) -> String {
    let family = if from.addr().is_ipv4() { "ip" } else { "ip6" };
    format!("{family} saddr {from} {family} daddr {to} drop")
}
