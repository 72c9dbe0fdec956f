//! The whole check line on real namespaces: two agent namespaces on a bridge in a third
//! namespace where the coordinator runs; real `preflight-agent run` (netlink observe, ICMP
//! probes) against real `preflight check` with a MAAS snapshot that matches the veths.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use preflight_lab::netns::{veth_between, Netns};
use preflight_lab::supervise::Supervised;
use preflight_model::report::Report;
use serde_json::json;

const TOKEN: &str = "netns-check-token";

struct Lab {
    sw: Netns,
    nodes: Vec<Netns>,
    dir: PathBuf,
}

impl Drop for Lab {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

fn mac(i: usize) -> String {
    format!("02:77:00:00:00:{i:02x}")
}

/// Two nodes on a bridge; `host_mtu` on the nodes' eth0, the bridge ports at 1500.
fn lab(tag: &str, vlan_mtu: u32, host_mtu: u32) -> Lab {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "preflight-netns-{tag}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let sw = Netns::new("sw").unwrap();
    sw.ip_line("link add br0 type bridge").unwrap();
    sw.ip_line("link set br0 up").unwrap();
    sw.ip_line("addr add 10.77.0.254/24 dev br0").unwrap();
    sw.ip(["link", "set", "br0", "address", &mac(0xfe)])
        .unwrap();
    let mut nodes = Vec::new();
    for i in 1..=2 {
        let n = Netns::new(&format!("n{i}")).unwrap();
        let port = format!("p{i}");
        veth_between(&n, "eth0", &sw, &port).unwrap();
        sw.ip(["link", "set", &port, "master", "br0"]).unwrap();
        n.ip(["link", "set", "eth0", "address", &mac(i)]).unwrap();
        n.ip(["link", "set", "eth0", "mtu", &host_mtu.to_string()])
            .unwrap();
        n.ip(["addr", "add", &format!("10.77.0.{i}/24"), "dev", "eth0"])
            .unwrap();
        nodes.push(n);
    }
    // Static neighbour entries: the ARP table is shared by every namespace of the machine and
    // big parallel labs can fill it ("neighbor table overflow"); permanent entries are exempt.
    let hosts = [(1usize, "eth0"), (2, "eth0"), (0xfe, "br0")];
    let nss: Vec<&Netns> = nodes.iter().chain(std::iter::once(&sw)).collect();
    for (ns, (me, dev)) in nss.iter().zip(hosts) {
        for (other, _) in hosts.iter().filter(|(o, _)| *o != me) {
            let ip = format!("10.77.0.{}", if *other == 0xfe { 254 } else { *other });
            ns.ip([
                "neigh",
                "replace",
                &ip,
                "lladdr",
                &mac(*other),
                "dev",
                dev,
                "nud",
                "permanent",
            ])
            .unwrap();
        }
    }
    let vlan = json!({"id": 5001, "vid": 0, "mtu": vlan_mtu, "fabric_id": 0, "fabric": "fabric-0", "space": "lab"});
    let snap = json!({
        "spaces": [{"id": 1, "name": "lab"}],
        "fabrics": [{"id": 0, "name": "fabric-0"}],
        "vlans": {"0": [vlan]},
        "subnets": [{"id": 1, "name": "lab-net", "cidr": "10.77.0.0/24", "vlan": vlan, "space": "lab", "managed": true}],
        "machines": (1..=2).map(|i| json!({
            "system_id": format!("sys{i}"), "hostname": format!("node-{i}"), "status_name": "Deployed",
            "interface_set": [{"id": i, "name": "eth0", "type": "physical", "mac_address": mac(i), "enabled": true,
                "vlan": vlan, "effective_mtu": vlan_mtu, "parents": [], "children": [],
                "links": [{"id": i, "mode": "static", "subnet": {"id": 1}, "ip_address": format!("10.77.0.{i}")}]}],
            "ip_addresses": [format!("10.77.0.{i}")],
        })).collect::<Vec<_>>(),
    });
    std::fs::write(dir.join("maas.json"), snap.to_string()).unwrap();
    std::fs::write(dir.join("token"), TOKEN).unwrap();
    Lab { sw, nodes, dir }
}

fn coordinator(lab: &Lab) -> (Supervised, String) {
    let mut cmd = lab
        .sw
        .command(preflight_e2e::binary("preflight").to_str().unwrap());
    cmd.args(["check", "--provider"])
        .arg(lab.dir.join("maas.json"))
        .args([
            "--listen",
            "10.77.0.254:0",
            "--expect",
            "2",
            "--deadline",
            "30",
            "--probe-deadline",
            "30",
        ])
        .args([
            "--quiet",
            "--format",
            "json",
            "--timeout-ms",
            "500",
            "--token-file",
        ])
        .arg(lab.dir.join("token"))
        .arg("-o")
        .arg(lab.dir.join("report.json"));
    let mut c = Supervised::spawn(
        "preflight check",
        cmd,
        Some(&lab.dir.join("coordinator.log")),
        Some(&lab.dir.join("ready")),
    )
    .unwrap();
    let url = c.wait_ready(Duration::from_secs(30)).unwrap();
    (c, url)
}

fn run(lab: &Lab) -> (Option<i32>, Report) {
    let (mut coord, url) = coordinator(lab);
    let agents: Vec<Child> = lab
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            n.command(preflight_e2e::binary("preflight-agent").to_str().unwrap())
                .args([
                    "run",
                    "--coordinator",
                    &url,
                    "--give-up-after",
                    "20",
                    "--machine-id",
                    &format!("sys{}", i + 1),
                    "--token-file",
                ])
                .arg(lab.dir.join("token"))
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for a in agents {
        let out = a.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let status = coord
        .wait_timeout(Duration::from_secs(40))
        .unwrap()
        .expect("coordinator did not finish");
    (status.code(), read_report(&lab.dir.join("report.json")))
}

fn read_report(p: &Path) -> Report {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn healthy_two_node_space_passes_with_every_pair_probed() {
    let lab = lab("ok", 1500, 1500);
    let (code, report) = run(&lab);
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert_eq!(code, Some(0));
    assert_eq!(report.summary.agents_reported, Some(2));
    let space = &report.spaces[0];
    assert_eq!(space.name, "lab");
    assert_eq!(space.machines, vec!["node-1", "node-2"]);
    assert_eq!(space.pairs.len(), 2);
    for p in &space.pairs {
        assert!(p.done && p.received > 0, "{p:?}");
        assert_eq!(p.mtu.map(|m| m.expected_mtu), Some(1500));
    }
}
