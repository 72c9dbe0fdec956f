//! The namespace lab on its own: built topologies have the namespaces, links, MACs, MTUs
//! and addresses the topology says, pings pass where they should, and every fault changes
//! reality the way it claims (checked with `ip` and `fping`, not with preflight's agent).

use std::net::IpAddr;

use preflight_lab::netns::{self, Netns};
use preflight_lab::ping::{ping, PingOptions};
use preflight_lab::{scenarios, Lab, Topology};
use serde_json::Value;

fn lab(name: &str) -> Lab {
    assert!(netns::can_create(), "lab tests need root and iproute2");
    let t = scenarios::load(name).expect("scenario");
    Lab::build(&t).expect("build")
}

fn addr(t: &Topology, host: &str, iface: &str) -> IpAddr {
    t.host(host)
        .and_then(|h| h.interfaces.iter().find(|i| i.name == iface))
        .and_then(|i| i.address)
        .expect("address")
}

fn links(ns: &Netns) -> Vec<Value> {
    let out = ns.ip(["-j", "-d", "link", "show"]).expect("ip link");
    serde_json::from_slice(&out.stdout).expect("ip json")
}

fn link<'a>(links: &'a [Value], name: &str) -> &'a Value {
    links
        .iter()
        .find(|l| l["ifname"] == name)
        .unwrap_or_else(|| panic!("no link {name}"))
}

fn addrs(ns: &Netns, dev: &str) -> Vec<String> {
    let out = ns.ip(["-j", "addr", "show", "dev", dev]).expect("ip addr");
    let v: Vec<Value> = serde_json::from_slice(&out.stdout).expect("ip json");
    v.iter()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["family"] == "inet")
        .filter_map(|a| a["local"].as_str().map(String::from))
        .collect()
}

fn reach(lab: &Lab, from: &str, from_if: &str, to: &str, to_if: &str) -> u32 {
    let t = lab.topology();
    ping(
        lab.host(from).expect("host").ns(),
        addr(t, from, from_if),
        addr(t, to, to_if),
        PingOptions::default(),
    )
    .expect("fping")
    .received
}

fn jumbo(lab: &Lab, from: &str, from_if: &str, to: &str, to_if: &str, mtu: u32) -> u32 {
    let t = lab.topology();
    ping(
        lab.host(from).expect("host").ns(),
        addr(t, from, from_if),
        addr(t, to, to_if),
        PingOptions {
            payload: mtu - 28,
            dont_fragment: true,
            ..PingOptions::default()
        },
    )
    .expect("fping")
    .received
}

#[test]
fn openstack_lab_matches_its_snapshot_and_its_faults_bite() {
    let mut lab = lab("openstack");
    let snap = lab.maas_snapshot();
    // Every machine's interfaces exist with the snapshot's MAC, MTU and address, and are up.
    for m in snap["machines"].as_array().expect("machines") {
        let host = m["hostname"].as_str().expect("hostname");
        let ns = lab.host(host).expect("host").ns();
        let ls = links(ns);
        for i in m["interface_set"].as_array().expect("interfaces") {
            let name = i["name"].as_str().expect("name");
            let l = link(&ls, name);
            assert_eq!(l["address"], i["mac_address"], "{host} {name} MAC");
            assert_eq!(l["mtu"], i["effective_mtu"], "{host} {name} MTU");
            assert_eq!(l["operstate"], "UP", "{host} {name} up");
            let ip = i["links"][0]["ip_address"].as_str().expect("ip");
            assert_eq!(addrs(ns, name), [ip], "{host} {name} address");
        }
        assert_eq!(
            i64::try_from(ls.len()).ok(),
            Some(9),
            "lo + mgmt0 + 7 VLANs"
        );
    }
    // Every host reaches the coordinator's address over management.
    for h in lab.hosts() {
        let got = ping(
            h.ns(),
            IpAddr::V4(h.mgmt_address),
            IpAddr::V4(lab.mgmt_address()),
            PingOptions::default(),
        )
        .expect("fping");
        assert_eq!(got.received, 3, "{} → coordinator", h.name);
    }
    // Before the faults: jumbo frames pass on storage-data, storage-cluster reaches node4.
    assert_eq!(
        jumbo(&lab, "node1", "eno1.200", "node3", "eno1.200", 9000),
        3
    );
    assert_eq!(reach(&lab, "node1", "eno1.201", "node4", "eno1.201"), 3);
    lab.apply_faults().expect("faults");
    // Jumbo-frame mismatch: small frames pass, 9000-byte DF frames vanish, both directions.
    assert_eq!(reach(&lab, "node1", "eno1.200", "node3", "eno1.200"), 3);
    assert_eq!(
        jumbo(&lab, "node1", "eno1.200", "node3", "eno1.200", 9000),
        0
    );
    assert_eq!(
        jumbo(&lab, "node3", "eno1.200", "node2", "eno1.200", 9000),
        0
    );
    assert_eq!(
        jumbo(&lab, "node1", "eno1.200", "node2", "eno1.200", 9000),
        3
    );
    assert_eq!(
        jumbo(&lab, "node1", "eno1.200", "node3", "eno1.200", 1500),
        3
    );
    // Missing VLAN: node4 unreachable on storage-cluster although its interface is up.
    assert_eq!(reach(&lab, "node1", "eno1.201", "node4", "eno1.201"), 0);
    assert_eq!(reach(&lab, "node4", "eno1.201", "node2", "eno1.201"), 0);
    assert_eq!(reach(&lab, "node1", "eno1.201", "node2", "eno1.201"), 3);
    let node4 = links(lab.host("node4").expect("node4").ns());
    assert_eq!(link(&node4, "eno1.201")["operstate"], "UP");
    // The snapshot still tells the intent.
    assert_eq!(lab.maas_snapshot(), snap);
}

#[test]
fn host_faults_change_links_mtus_and_addresses() {
    for (scenario, host, iface) in [
        ("drift-link-down", "host2", "eth1"),
        ("drift-mtu-mismatch", "host2", "eth2"),
        ("drift-address-missing", "host2", "eth2"),
        ("drift-address-unexpected", "host2", "eth1"),
        ("drift-interface-missing", "host2", "eth2"),
    ] {
        let mut lab = lab(scenario);
        let ns = lab.host(host).expect("host").ns();
        let before = link(&links(ns), iface).clone();
        assert_eq!(before["operstate"], "UP", "{scenario}");
        let addr_before = addrs(ns, iface);
        lab.apply_faults().expect("faults");
        let ns = lab.host(host).expect("host").ns();
        let after = links(ns);
        match scenario {
            "drift-link-down" => {
                assert_eq!(link(&after, iface)["operstate"], "DOWN");
                assert_eq!(reach(&lab, "host1", iface, host, iface), 0);
            }
            "drift-mtu-mismatch" => {
                assert_eq!(before["mtu"], 9000);
                assert_eq!(link(&after, iface)["mtu"], 1500);
                assert_eq!(jumbo(&lab, "host1", iface, host, iface, 9000), 0);
                assert_eq!(reach(&lab, "host1", iface, host, iface), 3);
            }
            "drift-address-missing" => {
                assert_eq!(addr_before, ["10.20.0.12"]);
                assert!(addrs(ns, iface).is_empty());
            }
            "drift-address-unexpected" => {
                assert_eq!(addrs(ns, iface), ["10.10.0.12", "10.10.0.200"]);
            }
            "drift-interface-missing" => {
                assert!(after.iter().all(|l| l["ifname"] != iface));
            }
            _ => unreachable!(),
        }
    }
}

#[test]
fn one_way_drop_is_asymmetric() {
    let mut lab = lab("probe-asymmetric");
    assert_eq!(reach(&lab, "host1", "eth1", "host2", "eth1"), 3);
    lab.apply_faults().expect("faults");
    assert_eq!(reach(&lab, "host1", "eth1", "host2", "eth1"), 0);
    assert_eq!(reach(&lab, "host2", "eth1", "host1", "eth1"), 3);
    // Only the named subnet: storage still passes both ways.
    assert_eq!(reach(&lab, "host1", "eth2", "host2", "eth2"), 3);
}

#[test]
fn loss_fault_drops_a_fraction() {
    let mut lab = lab("probe-packet-loss");
    lab.apply_faults().expect("faults");
    let t = lab.topology().clone();
    let got = ping(
        lab.host("host2").expect("host2").ns(),
        addr(&t, "host2", "eth1"),
        addr(&t, "host1", "eth1"),
        PingOptions {
            count: 200,
            interval_ms: 2,
            timeout_ms: 200,
            ..PingOptions::default()
        },
    )
    .expect("fping");
    // 20 % configured; 200 samples (sd 2.8 points): the band is more than 4 sd wide each way.
    let loss = got.loss_pct();
    assert!((7.0..=34.0).contains(&loss), "loss {loss}%");
    // Unaffected interface: no loss.
    assert_eq!(reach(&lab, "host2", "eth2", "host1", "eth2"), 3);
}

#[test]
fn router_fault_breaks_isolation_and_healthy_routes_work() {
    let mut lab = lab("probe-isolation-breach");
    assert_eq!(reach(&lab, "int1", "eth1", "pub1", "eth1"), 0);
    lab.apply_faults().expect("faults");
    assert_eq!(reach(&lab, "int1", "eth1", "pub1", "eth1"), 3);
    assert_eq!(reach(&lab, "pub2", "eth1", "int2", "eth1"), 3);

    let lab = lab_healthy();
    // Two subnets of one space, joined by the router.
    assert_eq!(reach(&lab, "a", "eth1", "c", "eth1"), 3);
    assert_eq!(reach(&lab, "c", "eth1", "b", "eth1"), 3);
    // Isolated pair: no path.
    assert_eq!(reach(&lab, "a", "eth1", "p1", "eth1"), 0);
    assert_eq!(jumbo(&lab, "a", "eth2", "c", "eth2", 9000), 3);
}

#[test]
fn router_deny_filter_and_router_faults_do_what_they_say() {
    // Healthy: dmz↔cms and cms↔db forward, dmz↔db is filtered (fping is the oracle).
    let healthy = lab("mediawiki-healthy");
    assert_eq!(reach(&healthy, "web1", "eth1", "cms1", "eth1"), 3);
    assert_eq!(reach(&healthy, "cms2", "eth1", "db1", "eth1"), 3);
    assert_eq!(reach(&healthy, "db2", "eth1", "cms1", "eth1"), 3);
    assert_eq!(reach(&healthy, "web1", "eth1", "db1", "eth1"), 0);
    assert_eq!(reach(&healthy, "db2", "eth1", "web2", "eth1"), 0);
    drop(healthy);

    // router-drop cms → db: both directions die (the replies of db → cms too); dmz↔cms stays.
    let mut forgot = lab("mediawiki-cms-db-forgotten");
    assert_eq!(
        reach(&forgot, "cms1", "eth1", "db1", "eth1"),
        3,
        "before the fault"
    );
    forgot.apply_faults().expect("faults");
    assert_eq!(reach(&forgot, "cms1", "eth1", "db1", "eth1"), 0);
    assert_eq!(reach(&forgot, "db1", "eth1", "cms1", "eth1"), 0);
    assert_eq!(reach(&forgot, "web1", "eth1", "cms1", "eth1"), 3);
    drop(forgot);

    // router-deny-missing: dmz reaches db.
    let mut open = lab("mediawiki-dmz-reaches-db");
    assert_eq!(
        reach(&open, "web1", "eth1", "db1", "eth1"),
        0,
        "before the fault"
    );
    open.apply_faults().expect("faults");
    assert_eq!(reach(&open, "web1", "eth1", "db1", "eth1"), 3);
    assert_eq!(reach(&open, "db2", "eth1", "web2", "eth1"), 3);
}

fn lab_healthy() -> Lab {
    lab("healthy")
}

#[test]
fn teardown_removes_every_namespace_even_after_a_panic() {
    let listed = || {
        let out = netns::run("ip", ["netns", "list"]).expect("list");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let names = {
        let lab = lab("healthy");
        let names = lab.namespaces();
        assert_eq!(names.len(), 5 + 1 + 2 + 1, "hosts, router, switches, mgmt");
        let l = listed();
        assert!(names.iter().all(|n| l.contains(n.as_str())));
        names
    };
    let l = listed();
    assert!(names.iter().all(|n| !l.contains(n.as_str())), "{l}");

    let (tx, rx) = std::sync::mpsc::channel();
    let result = std::thread::spawn(move || {
        let lab = lab("probe-unreachable");
        tx.send(lab.namespaces()).expect("send");
        panic!("a test failing half-way");
    })
    .join();
    assert!(result.is_err());
    let names = rx.recv().expect("names");
    let l = listed();
    assert!(names.iter().all(|n| !l.contains(n.as_str())), "{l}");
}

#[test]
fn a_failed_build_leaves_nothing_behind() {
    // The parser refuses a zero MAC, so plant one behind its back: the kernel refuses it
    // half-way through the build, after namespaces and bridges exist.
    let mut t = scenarios::load("healthy").expect("scenario");
    t.name = "broken".into();
    t.hosts[4].name = "brokenhost".into();
    t.hosts[4].interfaces[0].mac = "00:00:00:00:00:00".into();
    t.fabrics[1].name = "brokenfab".into();
    let err = Lab::build(&t).expect_err("the kernel refuses a zero MAC");
    assert!(err.to_string().contains("fabric brokenfab"), "{err}");
    let after = netns::run("ip", ["netns", "list"]).expect("list");
    let after = String::from_utf8_lossy(&after.stdout);
    let mine = format!("pf{}-", std::process::id());
    assert!(
        !after
            .lines()
            .any(|l| l.starts_with(&mine)
                && (l.contains("-brokenhost") || l.contains("-sw-brokenfab"))),
        "{after}"
    );
}

#[test]
fn static_neighbours_seed_peers_macs() {
    let mut t = scenarios::load("healthy").expect("scenario");
    t.static_neighbours = true;
    let lab = Lab::build(&t).expect("build");
    let out = lab
        .host("a")
        .expect("a")
        .ns()
        .ip(["-j", "neigh", "show", "dev", "eth2"])
        .expect("ip neigh");
    let neigh: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    for peer in ["b", "c"] {
        let h = t.host(peer).expect("peer");
        let i = h
            .interfaces
            .iter()
            .find(|i| i.name == "eth2")
            .expect("eth2");
        let a = i.address.expect("address").to_string();
        let entry = neigh
            .iter()
            .find(|n| n["dst"] == a.as_str())
            .unwrap_or_else(|| panic!("no entry for {a}: {neigh:?}"));
        assert_eq!(entry["lladdr"], i.mac.as_str());
        assert!(entry["state"].to_string().contains("PERMANENT"), "{entry}");
    }
    // Only peers in the host's own subnets: c's internal subnet differs from a's.
    let out = lab
        .host("a")
        .expect("a")
        .ns()
        .ip(["-j", "neigh", "show", "dev", "eth1"])
        .expect("ip neigh");
    let neigh: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert!(neigh.iter().all(|n| n["dst"] != "10.11.0.13"), "{neigh:?}");
    assert!(neigh.iter().any(|n| n["dst"] == "10.10.0.12"));
}
