//! The MAAS snapshot of a topology's intent: one JSON object whose values have the shape the
//! MAAS 3.5 API 2.0 returns (the field names of the MAAS fixture in `tests/fixtures/maas`, checked
//! against the public MAAS samples by the real-fixture tier), so the MAAS API test server can
//! serve it and `preflight_maas::model_from_snapshot` can read it.
//!
//! Each lab VLAN is its own bridge and veth (the kernel has no 802.1Q), but the snapshot still
//! says which vid it is, as MAAS would, and an interface with a `parent` is a MAAS `vlan`
//! interface whose `parents` name its NIC (and the NIC's `children` name it), with the NIC's
//! MAC. Hosts with `in_maas = false` are left out.

use serde_json::{json, Value};

use crate::topology::{Host, Interface, Subnet, Topology, Vlan};

fn vlan_json(t: &Topology, v: &Vlan) -> Value {
    let fabric = &t.fabrics[v.fabric];
    json!({
        "vid": v.vid,
        "mtu": v.mtu,
        "dhcp_on": false,
        "external_dhcp": null,
        "relay_vlan": null,
        "fabric": fabric.name,
        "space": v.space.map(|s| t.spaces[s].name.clone()).unwrap_or_else(|| "undefined".into()),
        "primary_rack": null,
        "secondary_rack": null,
        "name": v.name,
        "id": v.id,
        "fabric_id": fabric.id,
        "resource_uri": format!("/MAAS/api/2.0/vlans/{}/", v.id),
    })
}

/// The lab DNS host's address in the subnet, when the scenario has a DNS host there.
fn dns_servers(t: &Topology, s: &Subnet) -> Vec<String> {
    let Some(dns) = &t.dns else {
        return Vec::new();
    };
    t.hosts
        .iter()
        .filter(|h| h.name == dns.host)
        .flat_map(|h| &h.interfaces)
        .filter(|i| t.subnets[i.subnet].id == s.id)
        .filter_map(|i| i.address.map(|a| a.to_string()))
        .collect()
}

fn subnet_json(t: &Topology, s: &Subnet) -> Value {
    let v = &t.vlans[s.vlan];
    json!({
        "name": s.name,
        "description": "",
        "vlan": vlan_json(t, v),
        "cidr": s.cidr.to_string(),
        "rdns_mode": 2,
        "gateway_ip": s.gateway.map(|g| g.to_string()),
        "dns_servers": dns_servers(t, s),
        "allow_dns": true,
        "allow_proxy": true,
        "active_discovery": false,
        "managed": s.managed,
        "disabled_boot_architectures": [],
        "id": s.id,
        "space": v.space.map(|i| t.spaces[i].name.clone()).unwrap_or_else(|| "undefined".into()),
        "resource_uri": format!("/MAAS/api/2.0/subnets/{}/", s.id),
    })
}

fn interface_json(t: &Topology, h: &Host, i: &Interface) -> Value {
    let subnet = &t.subnets[i.subnet];
    let vlan = &t.vlans[subnet.vlan];
    let link = match i.address {
        Some(a) => json!({
            "id": i.link_id,
            "mode": "static",
            "ip_address": a.to_string(),
            "subnet": subnet_json(t, subnet),
        }),
        None => json!({
            "id": i.link_id,
            "mode": "link_up",
            "subnet": subnet_json(t, subnet),
        }),
    };
    let params = if i.mtu != vlan.mtu {
        json!({ "mtu": i.mtu })
    } else {
        json!({})
    };
    let children: Vec<&str> = t.children(h, &i.name).map(|c| c.name.as_str()).collect();
    let parents: Vec<&str> = i.parent.iter().map(String::as_str).collect();
    json!({
        "system_id": h.system_id,
        "id": i.id,
        "name": i.name,
        "type": if i.parent.is_some() { "vlan" } else { "physical" },
        "vlan": vlan_json(t, vlan),
        "mac_address": i.mac,
        "parents": parents,
        "children": children,
        "tags": [],
        "enabled": true,
        "links": [link],
        "params": params,
        "discovered": [],
        "effective_mtu": i.mtu,
        "vendor": "Linux",
        "product": "veth",
        "firmware_version": null,
        "link_connected": true,
        "interface_speed": 10000,
        "link_speed": 10000,
        "numa_node": 0,
        "sriov_max_vf": 0,
        "resource_uri": format!("/MAAS/api/2.0/nodes/{}/interfaces/{}/", h.system_id, i.id),
    })
}

fn zone_id(t: &Topology, name: &str) -> usize {
    zones(t).iter().position(|z| z == name).unwrap_or(0) + 1
}

fn zones(t: &Topology) -> Vec<String> {
    let mut z = vec!["default".to_string()];
    for h in &t.hosts {
        if !z.contains(&h.zone) {
            z.push(h.zone.clone());
        }
    }
    z
}

fn machine_json(t: &Topology, h: &Host) -> Value {
    let interfaces: Vec<Value> = h
        .interfaces
        .iter()
        .map(|i| interface_json(t, h, i))
        .collect();
    let ips: Vec<String> = h
        .interfaces
        .iter()
        .filter_map(|i| i.address.map(|a| a.to_string()))
        .collect();
    let gateway = h
        .interfaces
        .iter()
        .find_map(|i| t.subnets[i.subnet].gateway.filter(|g| g.is_ipv4()));
    json!({
        "system_id": h.system_id,
        "hostname": h.name,
        "description": "",
        "hardware_uuid": null,
        "domain": {
            "authoritative": true, "ttl": null, "name": "maas", "resource_record_count": 0,
            "id": 0, "is_default": true, "resource_uri": "/MAAS/api/2.0/domains/0/"
        },
        "fqdn": format!("{}.maas", h.name),
        "owner": "admin",
        "owner_data": {},
        "locked": false,
        "cache_sets": [],
        "bcaches": [],
        "bios_boot_method": "uefi",
        "boot_interface": interfaces.first().cloned().unwrap_or(Value::Null),
        "architecture": "amd64/generic",
        "min_hwe_kernel": "",
        "hwe_kernel": "ga-22.04",
        "cpu_count": 16,
        "cpu_speed": 2400,
        "memory": 65536,
        "swap_size": null,
        "storage": 960000.0,
        "status": 6,
        "osystem": "ubuntu",
        "distro_series": "jammy",
        "ephemeral_deploy": false,
        "error_description": "",
        "netboot": false,
        "power_type": "manual",
        "power_state": "on",
        "tag_names": ["lab"],
        "address_ttl": null,
        "ip_addresses": ips,
        "interface_set": interfaces,
        "zone": {
            "name": h.zone, "description": "", "id": zone_id(t, &h.zone),
            "resource_uri": format!("/MAAS/api/2.0/zones/{}/", h.zone)
        },
        "pool": {
            "name": "default", "description": "Default pool", "id": 0,
            "resource_uri": "/MAAS/api/2.0/resourcepool/0/"
        },
        "disable_ipv4": false,
        "boot_disk": null,
        "blockdevice_set": [],
        "physicalblockdevice_set": [],
        "virtualblockdevice_set": [],
        "volume_groups": [],
        "raids": [],
        "status_action": "",
        "status_message": "Deployed",
        "status_name": "Deployed",
        "node_type": 0,
        "node_type_name": "Machine",
        "special_filesystems": [],
        "parent": null,
        "pod": null,
        "default_gateways": {
            "ipv4": { "gateway_ip": gateway.map(|g| g.to_string()), "link_id": null },
            "ipv6": { "gateway_ip": null, "link_id": null }
        },
        "current_commissioning_result_id": null,
        "current_testing_result_id": null,
        "current_installation_result_id": null,
        "commissioning_status": 2,
        "commissioning_status_name": "Passed",
        "testing_status": 2,
        "testing_status_name": "Passed",
        "cpu_test_status": -1,
        "cpu_test_status_name": "Unknown",
        "memory_test_status": -1,
        "memory_test_status_name": "Unknown",
        "network_test_status": -1,
        "network_test_status_name": "Unknown",
        "storage_test_status": -1,
        "storage_test_status_name": "Unknown",
        "other_test_status": -1,
        "other_test_status_name": "Unknown",
        "interface_test_status": -1,
        "interface_test_status_name": "Unknown",
        "hardware_info": {},
        "numanode_set": [{ "index": 0, "cores": [0], "memory": 65536, "hugepages_set": [] }],
        "virtualmachine_id": null,
        "workload_annotations": {},
        "last_sync": null,
        "sync_interval": null,
        "next_sync": null,
        "enable_hw_sync": false,
        "resource_uri": format!("/MAAS/api/2.0/machines/{}/", h.system_id),
    })
}

/// The snapshot document: `{"version", "spaces", "fabrics", "vlans": {"<fabric id>": [...]},
/// "subnets", "machines", "zones", "tags", "resourcepools"}`.
pub fn snapshot(t: &Topology) -> Value {
    let spaces: Vec<Value> = t
        .spaces
        .iter()
        .enumerate()
        .map(|(si, s)| {
            let vlans: Vec<Value> = t
                .vlans
                .iter()
                .filter(|v| v.space == Some(si))
                .map(|v| vlan_json(t, v))
                .collect();
            let subnets: Vec<Value> = t
                .subnets
                .iter()
                .filter(|x| t.vlans[x.vlan].space == Some(si))
                .map(|x| subnet_json(t, x))
                .collect();
            json!({
                "subnets": subnets,
                "id": s.id,
                "vlans": vlans,
                "name": s.name,
                "description": s.description,
                "resource_uri": format!("/MAAS/api/2.0/spaces/{}/", s.id),
            })
        })
        .collect();
    let fabrics: Vec<Value> = t
        .fabrics
        .iter()
        .enumerate()
        .map(|(fi, f)| {
            json!({
                "class_type": null,
                "name": f.name,
                "id": f.id,
                "vlans": t.vlans.iter().filter(|v| v.fabric == fi).map(|v| vlan_json(t, v)).collect::<Vec<_>>(),
                "resource_uri": format!("/MAAS/api/2.0/fabrics/{}/", f.id),
            })
        })
        .collect();
    let mut vlans = serde_json::Map::new();
    for (fi, f) in t.fabrics.iter().enumerate() {
        vlans.insert(
            f.id.to_string(),
            Value::Array(
                t.vlans
                    .iter()
                    .filter(|v| v.fabric == fi)
                    .map(|v| vlan_json(t, v))
                    .collect(),
            ),
        );
    }
    let zones: Vec<Value> = zones(t)
        .iter()
        .enumerate()
        .map(|(i, z)| {
            json!({
                "name": z, "description": "", "id": i + 1,
                "resource_uri": format!("/MAAS/api/2.0/zones/{z}/")
            })
        })
        .collect();
    let ipranges: Vec<Value> = t
        .subnets
        .iter()
        .flat_map(|s| s.dynamic_ranges.iter().map(move |r| (s, r)))
        .enumerate()
        .map(|(i, (s, (a, b)))| {
            json!({
                "id": i + 1,
                "type": "dynamic",
                "start_ip": a.to_string(),
                "end_ip": b.to_string(),
                "subnet": subnet_json(t, s),
                "comment": "",
                "user": "admin",
                "resource_uri": format!("/MAAS/api/2.0/ipranges/{}/", i + 1),
            })
        })
        .collect();
    json!({
        "version": {
            "capabilities": [
                "networks-management", "static-ipaddresses", "ipv6-deployment-ubuntu",
                "devices-management", "storage-deployment-ubuntu", "network-deployment-ubuntu",
                "bridging-interface-ubuntu", "bridging-automatic-ubuntu", "authenticate-api"
            ],
            "version": "3.5.3",
            "subversion": ""
        },
        "spaces": spaces,
        "fabrics": fabrics,
        "vlans": vlans,
        "subnets": t.subnets.iter().map(|s| subnet_json(t, s)).collect::<Vec<_>>(),
        "machines": t.hosts.iter().filter(|h| h.in_maas).map(|h| machine_json(t, h)).collect::<Vec<_>>(),
        "zones": zones,
        "tags": [{
            "name": "lab", "definition": "", "comment": "machines of the preflight lab",
            "kernel_opts": "", "resource_uri": "/MAAS/api/2.0/tags/lab/"
        }],
        "resourcepools": [{
            "name": "default", "description": "Default pool", "id": 0,
            "resource_uri": "/MAAS/api/2.0/resourcepool/0/"
        }],
        "ipranges": ipranges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// A file of the project's MAAS fixture (`tests/fixtures/maas`, the MAAS 3.x field set).
    fn fixture(name: &str) -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/maas/");
        let text = std::fs::read_to_string(format!("{path}{name}")).expect("fixture");
        serde_json::from_str(&text).expect("fixture json")
    }

    fn keys(v: &Value) -> BTreeSet<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn openstack() -> Topology {
        crate::scenarios::load("openstack").expect("openstack scenario")
    }

    #[test]
    fn field_names_mirror_the_maas_fixtures() {
        let snap = snapshot(&openstack());
        let m = &snap["machines"][0];
        let fm = fixture("machines.json")[3].clone();
        assert_eq!(keys(m), keys(&fm), "machine fields");
        assert_eq!(
            keys(&m["interface_set"][0]),
            keys(&fm["interface_set"][0]),
            "interface fields"
        );
        assert_eq!(
            keys(&m["interface_set"][0]["links"][0]),
            keys(&fm["interface_set"][0]["links"][0]),
            "link fields"
        );
        let fs = fixture("subnets.json");
        assert_eq!(keys(&snap["subnets"][0]), keys(&fs[0]), "subnet fields");
        let fv = fixture("vlans-fabric-1.json");
        assert_eq!(keys(&snap["vlans"]["0"][0]), keys(&fv[0]), "vlan fields");
        let fsp = fixture("spaces.json");
        assert_eq!(keys(&snap["spaces"][0]), keys(&fsp[0]), "space fields");
        let ff = fixture("fabrics.json");
        assert_eq!(keys(&snap["fabrics"][0]), keys(&ff[0]), "fabric fields");
        assert_eq!(keys(&snap["version"]), keys(&fixture("version.json")));
        assert_eq!(keys(&snap["zones"][0]), keys(&fixture("zones.json")[0]));
        assert_eq!(keys(&snap["tags"][0]), keys(&fixture("tags.json")[0]));
        assert_eq!(
            keys(&snap["resourcepools"][0]),
            keys(&fixture("resourcepools.json")[0])
        );
    }

    #[test]
    fn snapshot_is_internally_consistent() {
        let t = openstack();
        let snap = snapshot(&t);
        let subnets = snap["subnets"].as_array().unwrap();
        // Every nested subnet/vlan equals the top-level one with the same id.
        for m in snap["machines"].as_array().unwrap() {
            for i in m["interface_set"].as_array().unwrap() {
                for l in i["links"].as_array().unwrap() {
                    let s = &l["subnet"];
                    let top = subnets.iter().find(|x| x["id"] == s["id"]).unwrap();
                    assert_eq!(s, top);
                    assert_eq!(s["vlan"], i["vlan"], "link subnet on the interface's VLAN");
                    let cidr: ipnet::IpNet = s["cidr"].as_str().unwrap().parse().unwrap();
                    let ip: std::net::IpAddr = l["ip_address"].as_str().unwrap().parse().unwrap();
                    assert!(cidr.contains(&ip));
                }
            }
            assert_eq!(m["boot_interface"], m["interface_set"][0]);
        }
        // Space lists exactly its VLANs and subnets.
        for sp in snap["spaces"].as_array().unwrap() {
            for s in sp["subnets"].as_array().unwrap() {
                assert_eq!(s["space"], sp["name"]);
            }
            for v in sp["vlans"].as_array().unwrap() {
                assert_eq!(v["space"], sp["name"]);
            }
        }
        let storage = subnets
            .iter()
            .find(|s| s["space"] == "storage-data")
            .unwrap();
        assert_eq!(storage["vlan"]["mtu"], 9000);
        assert_eq!(
            snap["machines"].as_array().unwrap().len(),
            t.maas_machines()
        );
    }

    #[test]
    fn macs_and_system_ids_come_from_the_topology() {
        let t = openstack();
        let snap = snapshot(&t);
        for (h, m) in t.hosts.iter().zip(snap["machines"].as_array().unwrap()) {
            assert_eq!(m["system_id"], h.system_id.as_str());
            assert_eq!(m["hostname"], h.name.as_str());
            for (i, j) in h
                .interfaces
                .iter()
                .zip(m["interface_set"].as_array().unwrap())
            {
                assert_eq!(j["mac_address"], i.mac.as_str());
                assert_eq!(j["name"], i.name.as_str());
                assert_eq!(j["effective_mtu"], i.mtu);
            }
        }
    }
}
