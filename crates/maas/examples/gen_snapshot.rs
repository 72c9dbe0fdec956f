//! Writes a large, MAAS-shaped snapshot for the parse benchmark (`bench/maas-parse.sh`).
//!
//! Usage: `gen_snapshot OUT.json [MACHINES] [SPACES] [SUBNETS]` (defaults 5000, 20, 400).
//! Each machine is a copy of the fixture machine `m2q9cd` (`tests/fixtures/maas`) (every field MAAS 3.5 emits, disks
//! included) with 4 interfaces: two physical NICs bonded as `bond0`, and a VLAN child
//! `bond0.N`, each carrying the full nested VLAN and subnet objects, as MAAS sends them.

use std::io::Write;

use serde_json::{json, Value};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(out) = args.get(1) else {
        eprintln!("usage: gen_snapshot OUT.json [MACHINES] [SPACES] [SUBNETS]");
        std::process::exit(2);
    };
    let num = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (machines, spaces, subnets) = (num(2, 5000), num(3, 20), num(4, 400));
    let fabrics = 10usize;
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/maas/machines.json"
    );
    let fixture_machines: Value =
        serde_json::from_str(&std::fs::read_to_string(file).expect("fixture machines"))
            .expect("fixture JSON");
    let template = fixture_machines
        .as_array()
        .and_then(|l| l.iter().find(|m| m["system_id"] == "m2q9cd"))
        .cloned()
        .expect("fixture machine m2q9cd");

    let space_list: Vec<Value> = (0..spaces)
        .map(|i| {
            json!({"id": i + 1, "name": format!("space-{i}"), "description": "",
                   "vlans": [], "subnets": [], "resource_uri": format!("/MAAS/api/2.0/spaces/{}/", i + 1)})
        })
        .collect();
    // One VLAN per subnet, spread over the fabrics; subnet i in space i % spaces.
    let vlan = |i: usize| -> Value {
        let fabric = i % fabrics;
        json!({"vid": 100 + i, "mtu": if i.is_multiple_of(3) { 9000 } else { 1500 }, "dhcp_on": false,
               "external_dhcp": null, "relay_vlan": null, "fabric": format!("fabric-{fabric}"),
               "space": format!("space-{}", i % spaces), "primary_rack": "7xtf67",
               "secondary_rack": null, "name": format!("vlan-{i}"), "id": 6000 + i,
               "fabric_id": fabric, "resource_uri": format!("/MAAS/api/2.0/vlans/{}/", 6000 + i)})
    };
    let subnet = |i: usize| -> Value {
        json!({"name": format!("subnet-{i}"), "description": "", "vlan": vlan(i),
               "cidr": format!("10.{}.{}.0/24", i / 256, i % 256), "rdns_mode": 2,
               "gateway_ip": format!("10.{}.{}.1", i / 256, i % 256), "dns_servers": [],
               "allow_dns": true, "allow_proxy": true, "active_discovery": false,
               "managed": true, "disabled_boot_architectures": [], "id": i + 1,
               "space": format!("space-{}", i % spaces),
               "resource_uri": format!("/MAAS/api/2.0/subnets/{}/", i + 1)})
    };
    let subnet_list: Vec<Value> = (0..subnets).map(subnet).collect();
    let fabric_list: Vec<Value> = (0..fabrics)
        .map(|f| {
            let vlans: Vec<Value> = (0..subnets)
                .filter(|i| i % fabrics == f)
                .map(vlan)
                .collect();
            json!({"class_type": null, "name": format!("fabric-{f}"), "id": f, "vlans": vlans,
                   "resource_uri": format!("/MAAS/api/2.0/fabrics/{f}/")})
        })
        .collect();
    let mut vlan_map = serde_json::Map::new();
    for f in &fabric_list {
        vlan_map.insert(f["id"].to_string(), f["vlans"].clone());
    }

    let iface = |sys: &str,
                 id: usize,
                 name: &str,
                 kind: &str,
                 mac: &str,
                 v: Value,
                 parents: Vec<&str>,
                 children: Vec<&str>,
                 links: Vec<Value>,
                 params: Value| {
        json!({"system_id": sys, "id": id, "name": name, "type": kind, "vlan": v,
               "mac_address": mac, "parents": parents, "children": children, "tags": [],
               "enabled": true, "links": links, "params": params, "discovered": null,
               "effective_mtu": 1500, "vendor": "Intel Corporation", "product": "XXV710",
               "firmware_version": null, "link_connected": true, "interface_speed": 25000,
               "link_speed": 25000, "numa_node": 0, "sriov_max_vf": 0,
               "resource_uri": format!("/MAAS/api/2.0/nodes/{sys}/interfaces/{id}/")})
    };
    let mut file = std::io::BufWriter::new(std::fs::File::create(out).expect("create output"));
    let head = json!({
        "version": {"capabilities": [], "version": "3.5.3", "subversion": ""},
        "spaces": space_list, "fabrics": fabric_list, "vlans": vlan_map,
        "subnets": subnet_list,
        "zones": [{"name": "default", "description": "", "id": 1}],
        "tags": [{"name": "physical"}],
        "resourcepools": [{"name": "default", "description": "", "id": 0}],
    });
    // Write the small endpoints, then stream the machines so the generator stays small too.
    let head_text = serde_json::to_string(&head).expect("serialise");
    let head_text = head_text.strip_suffix('}').expect("object");
    write!(file, "{head_text},\"machines\":[").expect("write");
    for m in 0..machines {
        let sys = format!("m{m:05}");
        let a = m % subnets;
        let b = (m * 7 + 1) % subnets;
        let mac = |n: usize| {
            format!(
                "52:54:{:02x}:{:02x}:{:02x}:{:02x}",
                n,
                m >> 16 & 255,
                m >> 8 & 255,
                m & 255
            )
        };
        let link = |id: usize, s: usize, ip: bool| {
            let mut l = json!({"id": id, "mode": "static", "subnet": subnet(s)});
            if ip {
                l["ip_address"] = json!(format!("10.{}.{}.{}", s / 256, s % 256, 2 + m % 250));
            }
            l
        };
        let base = m * 4;
        let ifaces = vec![
            iface(
                &sys,
                base,
                "eno1",
                "physical",
                &mac(1),
                vlan(a),
                vec![],
                vec!["bond0"],
                vec![],
                json!({}),
            ),
            iface(
                &sys,
                base + 1,
                "eno2",
                "physical",
                &mac(2),
                vlan(a),
                vec![],
                vec!["bond0"],
                vec![],
                json!({}),
            ),
            iface(
                &sys,
                base + 2,
                "bond0",
                "bond",
                &mac(1),
                vlan(a),
                vec!["eno1", "eno2"],
                vec!["bond0.1"],
                vec![link(base * 2, a, true)],
                json!({"bond_mode": "802.3ad", "mtu": 9000}),
            ),
            iface(
                &sys,
                base + 3,
                "bond0.1",
                "vlan",
                &mac(1),
                vlan(b),
                vec!["bond0"],
                vec![],
                vec![link(base * 2 + 1, b, true)],
                json!({}),
            ),
        ];
        let mut machine = template.clone();
        machine["system_id"] = json!(sys);
        machine["hostname"] = json!(format!("host-{m:05}"));
        machine["fqdn"] = json!(format!("host-{m:05}.maas"));
        machine["boot_interface"] = ifaces[0].clone();
        machine["interface_set"] = Value::Array(ifaces);
        machine["ip_addresses"] = json!([]);
        if m > 0 {
            file.write_all(b",").expect("write");
        }
        serde_json::to_writer(&mut file, &machine).expect("write");
    }
    file.write_all(b"]}\n").expect("write");
    file.flush().expect("flush");
}
