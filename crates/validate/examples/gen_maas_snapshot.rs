//! Writes a synthetic MAAS snapshot (MAAS API 2.0 shapes, as `preflight maas snapshot` stores
//! them) for benchmarks: `gen_maas_snapshot MACHINES SPACE[,SPACE...] OUT.json`.
//!
//! Every space gets one VLAN and one /16 on fabric-0; each machine has a 2-NIC bond on the
//! first space's VLAN with one VLAN sub-interface per other space, and a boot NIC, with `auto`
//! links (and addresses) in each; statuses cycle Ready, Deployed, Allocated, Broken, New; CPU,
//! memory, disk, zones and tags vary so that constraints have something to filter.

use serde_json::{json, Value};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: gen_maas_snapshot MACHINES SPACE[,SPACE...] OUT.json");
        std::process::exit(2);
    }
    let n: usize = args[1].parse().unwrap_or_else(|_| {
        eprintln!("MACHINES must be a number");
        std::process::exit(2)
    });
    let spaces: Vec<&str> = args[2].split(',').filter(|s| !s.is_empty()).collect();
    let snap = snapshot(n, &spaces);
    let bytes = serde_json::to_vec(&snap).unwrap_or_default();
    if let Err(e) = std::fs::write(&args[3], &bytes) {
        eprintln!("cannot write {}: {e}", args[3]);
        std::process::exit(1);
    }
    eprintln!(
        "wrote {} ({} bytes, {n} machines, {} spaces)",
        args[3],
        bytes.len(),
        spaces.len()
    );
}

fn snapshot(n: usize, spaces: &[&str]) -> Value {
    let vlans: Vec<Value> = spaces
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({"id": 5000 + i, "vid": if i == 0 { 0 } else { 100 + i }, "name": if i == 0 { "untagged".to_string() } else { format!("vlan-{s}") },
                   "mtu": 1500, "fabric_id": 0, "fabric": "fabric-0", "space": s})
        })
        .collect();
    let subnets: Vec<Value> = spaces
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({"id": i + 1, "name": format!("net-{s}"), "cidr": format!("10.{}.0.0/16", 10 + i),
                   "vlan": vlans[i], "space": s, "gateway_ip": format!("10.{}.0.1", 10 + i), "managed": true})
        })
        .collect();
    let statuses = ["Ready", "Deployed", "Allocated", "Broken", "New"];
    let machines: Vec<Value> = (0..n)
        .map(|m| {
            let ip = |i: usize| format!("10.{}.{}.{}", 10 + i, 1 + m / 250, 1 + m % 250);
            let mut ifaces = vec![
                json!({"id": m * 16, "name": "eno1", "type": "physical", "enabled": true, "mac_address": format!("52:54:00:{:02x}:{:02x}:01", m / 256 % 256, m % 256),
                       "vlan": vlans[0], "effective_mtu": 1500, "parents": [], "children": [], "params": {}, "links": []}),
                json!({"id": m * 16 + 1, "name": "enp1s0f0", "type": "physical", "enabled": true, "vlan": vlans[0], "effective_mtu": 1500, "parents": [], "children": ["bond0"], "params": {}, "links": []}),
                json!({"id": m * 16 + 2, "name": "enp1s0f1", "type": "physical", "enabled": true, "vlan": vlans[0], "effective_mtu": 1500, "parents": [], "children": ["bond0"], "params": {}, "links": []}),
            ];
            let children: Vec<String> = (1..spaces.len()).map(|i| format!("bond0.{}", 100 + i)).collect();
            ifaces.push(json!({"id": m * 16 + 3, "name": "bond0", "type": "bond", "enabled": true, "vlan": vlans[0], "effective_mtu": 1500,
                               "parents": ["enp1s0f0", "enp1s0f1"], "children": children, "params": {"bond_mode": "802.3ad"},
                               "links": [{"id": m * 16 + 3, "mode": "auto", "subnet": {"id": 1}, "ip_address": ip(0)}]}));
            for (i, vlan) in vlans.iter().enumerate().skip(1) {
                ifaces.push(json!({"id": m * 16 + 3 + i, "name": format!("bond0.{}", 100 + i), "type": "vlan", "enabled": true, "vlan": vlan,
                                   "effective_mtu": 1500, "parents": ["bond0"], "children": [], "params": {},
                                   "links": [{"id": m * 16 + 3 + i, "mode": "auto", "subnet": {"id": i + 1}, "ip_address": ip(i)}]}));
            }
            let cores = [4, 8, 16, 32][m % 4];
            let mem = [8192, 16384, 65536, 131072][m % 4];
            let disk = [120u64, 480, 960, 1920][m % 4] * 1_000_000_000;
            let tags: Vec<&str> = if m % 7 == 0 { vec!["ssd"] } else { vec![] };
            json!({
                "system_id": format!("x{m:06}"), "hostname": format!("node-{m:05}"), "fqdn": format!("node-{m:05}.maas"),
                "status_name": statuses[m % statuses.len()], "architecture": if m % 10 == 9 { "arm64/generic" } else { "amd64/generic" },
                "cpu_count": cores, "cpu_speed": 2400, "memory": mem,
                "boot_disk": {"size": disk}, "zone": {"name": format!("zone-{}", m % 3)},
                "pool": {"name": "default"}, "tag_names": tags,
                "interface_set": ifaces,
                "ip_addresses": (0..spaces.len()).map(ip).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "version": {"version": "3.5.0"},
        "spaces": spaces.iter().enumerate().map(|(i, s)| json!({"id": i + 1, "name": s})).collect::<Vec<_>>(),
        "fabrics": [{"id": 0, "name": "fabric-0"}],
        "vlans": {"0": vlans},
        "subnets": subnets,
        "machines": machines,
        "zones": [{"name": "zone-0"}, {"name": "zone-1"}, {"name": "zone-2"}],
        "tags": [{"name": "ssd"}],
        "resourcepools": [{"name": "default"}],
    })
}
