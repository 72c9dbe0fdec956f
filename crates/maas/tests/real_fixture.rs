//! Real-fixture tier: the parser on the public MAAS API samples (`$PREFLIGHT_FIXTURES/maas`,
//! default `../shared/fixtures/maas`; never copied into the repository). `./test.sh` skips
//! these by name when the folder is absent and says so; `CI=true` makes that a failure.

use crate::fixture_paths;

use preflight_maas::{model_from_snapshot, snapshot_from_fixture_dir};
use preflight_model::provider::{InterfaceKind, ProviderModel};
use serde_json::{json, Value};

fn real_model() -> ProviderModel {
    let snap = snapshot_from_fixture_dir(&fixture_paths::real("maas")).unwrap();
    model_from_snapshot(&snap).unwrap()
}

fn legacy(name: &str) -> Value {
    let path = fixture_paths::real("maas/legacy").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn real_fixture_maas_every_endpoint_file_is_read() {
    let snap = snapshot_from_fixture_dir(&fixture_paths::real("maas")).unwrap();
    for key in [
        "version", "spaces", "fabrics", "vlans", "subnets", "machines",
    ] {
        assert!(snap.get(key).is_some(), "missing {key}");
    }
}

#[test]
fn real_fixture_maas_spaces_fabrics_vlans() {
    let m = real_model();
    assert_eq!(m.version.as_deref(), Some("3.5.3"));
    let names: Vec<_> = m.spaces.values().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["management", "storage", "internal", "ipv6-testbed"]);
    assert!(
        !m.spaces.contains_key(&-1),
        "the undefined pseudo-space is not a space"
    );
    assert_eq!(m.fabrics.len(), 2);
    assert_eq!(m.vlans.len(), 6);

    let storage = &m.vlans[&5005];
    assert_eq!((storage.fabric_id, storage.vid, storage.mtu), (1, 30, 9000));
    assert_eq!(storage.name.as_deref(), Some("storage"));
    assert_eq!(storage.space_id, Some(2));

    let oob = &m.vlans[&5006];
    assert_eq!((oob.fabric_id, oob.vid), (0, 100));
    assert_eq!(oob.name, None, "null VLAN name stays None");
    assert_eq!(oob.space_id, None, "`undefined` space is no space");

    assert_eq!(m.vlans[&5002].name.as_deref(), Some("10"));
    assert_eq!(m.vlans[&5002].space_id, Some(3));
    assert_eq!(m.vlans[&5003].fabric_id, 1);
}

#[test]
fn real_fixture_maas_subnets() {
    let m = real_model();
    let ids: Vec<_> = m.subnets.keys().copied().collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 7, 8, 10]);
    let s8 = &m.subnets[&8];
    assert_eq!(s8.cidr.to_string(), "10.30.0.0/24");
    assert_eq!((s8.vlan_id, s8.space_id, s8.gateway), (5005, Some(2), None));
    let s10 = &m.subnets[&10];
    assert_eq!(s10.space_id, None);
    assert!(!s10.managed);
    assert_eq!(m.subnets[&1].gateway, Some("172.16.1.1".parse().unwrap()));
    assert_eq!(m.subnets[&5].cidr.to_string(), "2001:db8:42::/64");
    let mgmt: Vec<_> = m.subnets_in_space(1).map(|s| s.id).collect();
    assert_eq!(mgmt, [1, 2, 7]);
}

#[test]
fn real_fixture_maas_machines() {
    let m = real_model();
    let ids: Vec<_> = m.machines.iter().map(|m| m.system_id.as_str()).collect();
    assert_eq!(
        ids,
        ["e8xa8m", "g8xyqs", "recrwg", "thr3am"],
        "sorted by system_id"
    );

    let q = m.machine("g8xyqs").unwrap();
    assert_eq!(q.hostname, "causal-quagga");
    assert_eq!(q.fqdn.as_deref(), Some("causal-quagga.maas"));
    assert_eq!(q.status, "Deployed");
    assert_eq!(q.architecture.as_deref(), Some("amd64/generic"));
    assert_eq!(
        (q.cpu_count, q.cpu_speed_mhz, q.memory_mib),
        (Some(16), Some(2400), Some(65536))
    );
    assert_eq!(q.root_disk_mib, Some(960197124096 / (1024 * 1024)));
    assert_eq!(q.zone.as_deref(), Some("zone-north"));
    assert_eq!(q.pool.as_deref(), Some("ceph"));
    assert_eq!(q.tags, ["physical", "footag"]);
    assert_eq!(q.ip_addresses.len(), 3);
    assert!(!q.ip_addresses.contains(&"172.16.1.60".parse().unwrap()));

    let bond = q.interfaces.iter().find(|i| i.name == "bond0").unwrap();
    assert_eq!(bond.kind, InterfaceKind::Bond);
    assert_eq!(bond.bond_mode, Some("802.3ad".into()));
    assert_eq!(bond.effective_mtu, 9000);
    assert_eq!(bond.parents, ["enp1s0f0", "enp1s0f1"]);
    assert_eq!(bond.children, ["bond0.30", "bond0.42"]);
    assert_eq!(bond.vlan_id, Some(5003));

    let member = q.interfaces.iter().find(|i| i.name == "enp1s0f0").unwrap();
    assert_eq!(member.kind, InterfaceKind::Physical);
    assert_eq!(member.effective_mtu, 9000, "inherited from the children");
    assert_eq!(member.bond_mode, None);
    assert!(member.links.is_empty());
    assert_eq!(
        member.mac.as_ref().map(ToString::to_string).as_deref(),
        Some("3c:fd:fe:b5:1a:40")
    );

    let st = q.interfaces.iter().find(|i| i.name == "bond0.30").unwrap();
    assert_eq!(st.kind, InterfaceKind::Vlan);
    assert_eq!((st.vlan_id, st.effective_mtu), (Some(5005), 9000));
    assert_eq!(st.links.len(), 1);
    assert_eq!(st.links[0].mode, "static");
    assert_eq!(st.links[0].subnet_id, Some(8));
    assert_eq!(st.links[0].ip, Some("10.30.0.11".parse().unwrap()));
    assert_eq!(q.space_ids(&m).into_iter().collect::<Vec<_>>(), [1, 2, 4]);

    let r = m.machine("thr3am").unwrap();
    assert_eq!(r.status, "Ready");
    let ens3 = r.interfaces.iter().find(|i| i.name == "ens3").unwrap();
    assert_eq!(ens3.links[0].mode, "auto");
    assert_eq!(ens3.links[0].ip, None, "auto link without an address yet");
    assert_eq!(r.cpu_speed_mhz, None, "cpu_speed 0 means unknown");

    let n = m.machine("e8xa8m").unwrap();
    let ens5 = n.interfaces.iter().find(|i| i.name == "ens5").unwrap();
    assert_eq!(ens5.vlan_id, Some(5006));
    assert_eq!(ens5.links[0].mode, "link_up");
    assert_eq!(ens5.links[0].subnet_id, Some(10));
    assert_eq!(ens5.links[0].ip, None);
    assert_eq!(n.tags, ["virtual"]);

    assert_eq!(m.zones, ["default", "zone-north", "zone-south"]);
    assert_eq!(m.pools, ["default", "ceph"]);
    assert_eq!(m.tags, ["virtual", "footag", "physical"]);
}

/// MAAS 2.0 (gomaasapi samples): default space `space-0` with id 0, VLANs without `space` or
/// `fabric_id`, a null VLAN name, and an interface with null mac/vlan/tags and string params.
#[test]
fn real_fixture_maas_legacy_2_0_samples() {
    let mut iface = legacy("maas-2.x-gomaasapi-interface-nulls.json");
    iface["type"] = json!("physical");
    let snap = json!({
        "spaces": legacy("maas-2.0-gomaasapi-spaces.json"),
        "fabrics": legacy("maas-2.0-gomaasapi-fabrics.json"),
        "vlans": {"0": legacy("maas-2.0-gomaasapi-vlans-null-name.json")},
        "subnets": legacy("maas-2.x-gomaasapi-subnet.json"),
        "machines": [{"system_id": "4y3ha6", "hostname": "legacy", "interface_set": [iface]}],
        "version": legacy("maas-2.x-apidoc-example-version.json"),
    });
    let m = model_from_snapshot(&snap).unwrap();
    assert_eq!(m.version.as_deref(), Some("2.5.0 from source"));
    let sp0 = m.spaces.get(&0).expect("space-0 (id 0) is a real space");
    assert_eq!(sp0.name, "space-0");
    assert_eq!(m.subnets[&1].space_id, Some(0));
    assert_eq!(m.subnets[&34].space_id, Some(0));
    assert_eq!(m.subnets[&34].gateway, None);
    // VLANs without `space` take their subnets' space; without fabric_id, their fabric's id.
    assert_eq!(m.vlans[&1].space_id, Some(0));
    assert_eq!(m.vlans[&1].fabric_id, 0);
    assert_eq!(m.vlans[&5001].fabric_id, 1);
    assert_eq!(m.vlans[&5001].space_id, Some(0));
    let nameless = &m.vlans[&5006];
    assert_eq!((nameless.vid, nameless.name.clone()), (30, None));
    assert_eq!(nameless.space_id, None, "no subnet, no space");

    let i = &m.machines[0].interfaces[0];
    assert_eq!((i.mac.clone(), i.vlan_id), (None, None));
    assert_eq!(i.bond_mode, None);
    assert_eq!(i.links[0].subnet_id, Some(1));
    assert_eq!(i.links[0].ip, None);
    assert_eq!(m.machines[0].status, "Unknown");
}

/// MAAS 2.2-2.6 API-doc examples: `params: ""`, the `undefined` space with many VLANs, a
/// 3-member bond, a `parent` object with `__incomplete__`.
#[test]
fn real_fixture_maas_legacy_2_x_apidoc_samples() {
    let spaces = legacy("maas-2.x-apidoc-example-spaces-read.json");
    let subnets: Vec<Value> = spaces
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["subnets"].as_array().unwrap().clone())
        .collect();
    let snap = json!({
        "spaces": spaces,
        "fabrics": [],
        "subnets": subnets,
        "machines": [
            legacy("maas-2.x-apidoc-example-machine-with-bond.json"),
            {"system_id": "thr3am", "hostname": "above-robin",
             "interface_set": legacy("maas-2.x-apidoc-example-interfaces-read.json")},
        ],
    });
    let m = model_from_snapshot(&snap).unwrap();
    assert!(!m.spaces.contains_key(&-1));
    assert!(m.spaces.values().any(|s| s.name == "management"));
    assert!(
        !m.fabrics.is_empty(),
        "fabrics learnt from the VLANs' fabric_id"
    );
    let undefined: Vec<_> = m.vlans.values().filter(|v| v.space_id.is_none()).collect();
    assert!(
        undefined.len() >= 12,
        "the undefined space's VLANs: {}",
        undefined.len()
    );
    let bond_host = m.machine("g8xyqs").unwrap();
    let bond = bond_host
        .interfaces
        .iter()
        .find(|i| i.kind == InterfaceKind::Bond)
        .unwrap();
    assert_eq!(bond.parents.len(), 3);
    let thr = m.machine("thr3am").unwrap();
    assert_eq!(thr.interfaces.len(), 6);
    assert!(thr.interfaces.iter().all(|i| i.bond_mode.is_none()));
    assert_eq!(thr.interfaces[0].links[0].subnet_id, Some(2));
}
