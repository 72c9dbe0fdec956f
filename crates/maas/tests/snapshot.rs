//! The snapshot parser on the project's MAAS fixture (`tests/fixtures/maas`), its 2.x
//! variants and hostile input.

use crate::fixture_paths;

use std::path::PathBuf;

use preflight_maas::{
    model_from_path, model_from_slice, model_from_snapshot, snapshot_from_fixture_dir, MaasError,
};
use preflight_model::provider::{BondMode, InterfaceKind, ProviderModel};
use serde_json::{json, Value};

fn fixtures() -> PathBuf {
    fixture_paths::own("maas")
}

fn fixture_snapshot() -> Value {
    snapshot_from_fixture_dir(&fixtures()).unwrap()
}

fn fixture_model() -> ProviderModel {
    model_from_snapshot(&fixture_snapshot()).unwrap()
}

fn legacy(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join("legacy").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn shape_err(r: Result<ProviderModel, MaasError>) -> (String, String) {
    match r {
        Err(MaasError::Shape { path, message, .. }) => (path, message),
        other => panic!("expected a shape error, got {other:?}"),
    }
}

#[test]
fn fixture_snapshot_has_every_endpoint() {
    let snap = fixture_snapshot();
    for key in [
        "version",
        "spaces",
        "fabrics",
        "vlans",
        "subnets",
        "machines",
        "zones",
        "tags",
        "resourcepools",
    ] {
        assert!(snap.get(key).is_some(), "missing {key}");
    }
    let vlans = snap["vlans"].as_object().unwrap();
    assert_eq!(vlans.keys().collect::<Vec<_>>(), ["0", "1"]);
}

#[test]
fn fixtures_spaces_fabrics_vlans() {
    let m = fixture_model();
    assert_eq!(m.version.as_deref(), Some("3.5.4"));
    let names: Vec<_> = m.spaces.values().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["oam", "ceph-data", "internal-api", "ipv6-lab"]);
    assert!(
        !m.spaces.contains_key(&-1),
        "the undefined pseudo-space is not a space"
    );
    assert_eq!(m.fabrics.len(), 2);
    assert_eq!(m.vlans.len(), 6);

    let storage = &m.vlans[&7006];
    assert_eq!((storage.fabric_id, storage.vid, storage.mtu), (1, 40, 9000));
    assert_eq!(storage.name.as_deref(), Some("ceph"));
    assert_eq!(storage.space_id, Some(2));

    let oob = &m.vlans[&7003];
    assert_eq!((oob.fabric_id, oob.vid), (0, 200));
    assert_eq!(oob.name, None, "null VLAN name stays None");
    assert_eq!(oob.space_id, None, "`undefined` space is no space");

    assert_eq!(m.vlans[&7002].name.as_deref(), Some("20"));
    assert_eq!(m.vlans[&7002].space_id, Some(3));
    assert_eq!(m.vlans[&7004].fabric_id, 1);
}

#[test]
fn fixtures_subnets() {
    let m = fixture_model();
    let ids: Vec<_> = m.subnets.keys().copied().collect();
    assert_eq!(ids, [11, 12, 13, 14, 15, 16, 17, 18]);
    let s16 = &m.subnets[&16];
    assert_eq!(s16.cidr.to_string(), "10.40.0.0/24");
    assert_eq!(
        (s16.vlan_id, s16.space_id, s16.gateway),
        (7006, Some(2), None)
    );
    let s17 = &m.subnets[&17];
    assert_eq!(s17.space_id, None);
    assert!(!s17.managed);
    assert_eq!(m.subnets[&11].gateway, Some("10.10.0.1".parse().unwrap()));
    assert_eq!(m.subnets[&15].cidr.to_string(), "fd00:60::/64");
    let oam: Vec<_> = m.subnets_in_space(1).map(|s| s.id).collect();
    assert_eq!(oam, [11, 12, 18]);
}

#[test]
fn fixtures_machines() {
    let m = fixture_model();
    let ids: Vec<_> = m.machines.iter().map(|m| m.system_id.as_str()).collect();
    assert_eq!(
        ids,
        ["k4p7ab", "m2q9cd", "r8t3ef", "w5n1gh"],
        "sorted by system_id"
    );

    let q = m.machine("m2q9cd").unwrap();
    assert_eq!(q.hostname, "birch");
    assert_eq!(q.fqdn.as_deref(), Some("birch.maas"));
    assert_eq!(q.status, "Deployed");
    assert_eq!(q.architecture.as_deref(), Some("amd64/generic"));
    assert_eq!(
        (q.cpu_count, q.cpu_speed_mhz, q.memory_mib),
        (Some(32), Some(2100), Some(131072))
    );
    assert_eq!(q.root_disk_mib, Some(1920383410176 / (1024 * 1024)));
    assert_eq!(q.zone.as_deref(), Some("az1"));
    assert_eq!(q.pool.as_deref(), Some("storage"));
    assert_eq!(q.tags, ["physical", "nvme"]);
    assert_eq!(q.ip_addresses.len(), 3);
    assert!(
        !q.ip_addresses.contains(&"10.10.0.131".parse().unwrap()),
        "a DHCP lease is not a machine address when it has static ones"
    );

    let bond = q.interfaces.iter().find(|i| i.name == "bond0").unwrap();
    assert_eq!(bond.kind, InterfaceKind::Bond);
    assert_eq!(bond.bond_mode, Some(BondMode::Lacp));
    assert_eq!(bond.effective_mtu, 9000);
    assert_eq!(bond.parents, ["ens1f0", "ens1f1"]);
    assert_eq!(bond.children, ["bond0.40", "bond0.60"]);
    assert_eq!(bond.vlan_id, Some(7004));

    let member = q.interfaces.iter().find(|i| i.name == "ens1f0").unwrap();
    assert_eq!(member.kind, InterfaceKind::Physical);
    assert_eq!(member.effective_mtu, 9000, "inherited from the children");
    assert_eq!(member.bond_mode, None);
    assert!(member.links.is_empty());
    assert_eq!(
        member.mac.as_ref().map(ToString::to_string).as_deref(),
        Some("52:54:00:0b:02:10")
    );

    let st = q.interfaces.iter().find(|i| i.name == "bond0.40").unwrap();
    assert_eq!(st.kind, InterfaceKind::Vlan);
    assert_eq!((st.vlan_id, st.effective_mtu), (Some(7006), 9000));
    assert_eq!(st.links.len(), 1);
    assert_eq!(st.links[0].mode, "static");
    assert_eq!(st.links[0].subnet_id, Some(16));
    assert_eq!(st.links[0].ip, Some("10.40.0.31".parse().unwrap()));
    let v6 = q.interfaces.iter().find(|i| i.name == "bond0.60").unwrap();
    assert_eq!(v6.effective_mtu, 1500, "a VLAN child keeps its own MTU");
    assert_eq!(q.space_ids(&m).into_iter().collect::<Vec<_>>(), [1, 2, 4]);

    let r = m.machine("r8t3ef").unwrap();
    assert_eq!(r.status, "Ready");
    let ens3 = r.interfaces.iter().find(|i| i.name == "ens3").unwrap();
    assert_eq!(ens3.links[0].mode, "auto");
    assert_eq!(ens3.links[0].ip, None, "auto link without an address yet");
    assert_eq!(r.cpu_speed_mhz, None, "cpu_speed 0 means unknown");

    let n = m.machine("w5n1gh").unwrap();
    let ens5 = n.interfaces.iter().find(|i| i.name == "ens5").unwrap();
    assert_eq!(ens5.vlan_id, Some(7003));
    assert_eq!(ens5.links[0].mode, "link_up");
    assert_eq!(ens5.links[0].subnet_id, Some(17));
    assert_eq!(ens5.links[0].ip, None);
    assert_eq!(n.tags, ["virtual"]);

    assert_eq!(m.zones, ["default", "az1", "az2"]);
    assert_eq!(m.pools, ["default", "storage"]);
    assert_eq!(m.tags, ["virtual", "physical", "nvme"]);
}

#[test]
fn file_and_value_paths_give_the_same_model() {
    let snap = fixture_snapshot();
    let from_value = model_from_snapshot(&snap).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("snap.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&snap).unwrap()).unwrap();
    assert_eq!(model_from_path(&file).unwrap(), from_value);
    assert_eq!(
        model_from_path(&fixtures()).unwrap(),
        from_value,
        "fixture dir"
    );
}

#[test]
fn optional_endpoints_may_be_absent() {
    let mut snap = fixture_snapshot();
    let obj = snap.as_object_mut().unwrap();
    for k in ["version", "zones", "tags", "resourcepools", "vlans"] {
        obj.remove(k);
    }
    let m = model_from_snapshot(&snap).unwrap();
    assert_eq!(m.version, None);
    assert!(m.zones.is_empty() && m.tags.is_empty() && m.pools.is_empty());
    // Without `vlans`, the fabrics' embedded VLAN lists still give every VLAN.
    assert_eq!(m.vlans, fixture_model().vlans);
}

#[test]
fn overlapping_cidrs_on_two_fabrics_stay_two_subnets() {
    // Subnets 11 (fabric-0) and 18 (fabric-1) carry the same CIDR in the fixture.
    let m = fixture_model();
    let same: Vec<_> = m
        .subnets
        .values()
        .filter(|s| s.cidr.to_string() == "10.10.0.0/24")
        .collect();
    assert_eq!(same.len(), 2);
    let (a, b) = (same[0], same[1]);
    assert_eq!((a.id, b.id), (11, 18));
    assert_eq!(
        (a.name.as_str(), b.name.as_str()),
        ("oam-a", "oam-a-reused")
    );
    assert_ne!(m.vlans[&a.vlan_id].fabric_id, m.vlans[&b.vlan_id].fabric_id);
    assert_eq!((a.space_id, b.space_id), (Some(1), Some(1)));
    assert_eq!(
        (a.gateway, b.gateway),
        (Some("10.10.0.1".parse().unwrap()), None)
    );
}

#[test]
fn interface_kinds() {
    let mut snap = fixture_snapshot();
    snap["machines"][0]["interface_set"][0]["type"] = json!("bridge");
    snap["machines"][0]["interface_set"][1]["type"] = json!("alias");
    let m = model_from_snapshot(&snap).unwrap();
    let r = m.machine("k4p7ab").unwrap();
    assert_eq!(r.interfaces[0].kind, InterfaceKind::Bridge);
    assert_eq!(
        r.interfaces[1].kind,
        InterfaceKind::Other("alias".to_string())
    );
    assert_eq!(r.interfaces[3].kind, InterfaceKind::Vlan);
}

#[test]
fn mac_addresses_are_lower_cased() {
    let mut snap = fixture_snapshot();
    snap["machines"][0]["interface_set"][0]["mac_address"] = json!("52:54:00:AB:CD:EF");
    let m = model_from_snapshot(&snap).unwrap();
    let r = m.machine("k4p7ab").unwrap();
    assert_eq!(
        r.interfaces[0]
            .mac
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("52:54:00:ab:cd:ef")
    );
}

/// MAAS 2.0/2.1 shapes: default space `space-0` with id 0, VLANs without `space` or
/// `fabric_id`, a null VLAN name, and an interface with null mac/vlan/tags and string params.
#[test]
fn legacy_2_0_shapes_load() {
    let snap = json!({
        "spaces": legacy("maas-2.0-spaces.json"),
        "fabrics": legacy("maas-2.0-fabrics.json"),
        "vlans": {"1": legacy("maas-2.0-vlans-null-name.json")},
        "subnets": legacy("maas-2.0-subnets.json"),
        "machines": [{"system_id": "p3x7aa", "hostname": "legacy",
                      "interface_set": [legacy("maas-2.0-interface-nulls.json")]}],
        "version": legacy("maas-2.x-version.json"),
    });
    let m = model_from_snapshot(&snap).unwrap();
    assert_eq!(
        m.version.as_deref(),
        Some("2.4.2 (7034-g2f5deb8b8-0ubuntu1)")
    );
    let sp0 = m.spaces.get(&0).expect("space-0 (id 0) is a real space");
    assert_eq!(sp0.name, "space-0");
    assert_eq!(m.subnets[&1].space_id, Some(0));
    assert_eq!(m.subnets[&34].space_id, Some(0));
    assert_eq!(m.subnets[&34].gateway, None);
    // VLANs without `space` take their subnets' space; without fabric_id, their fabric's id.
    assert_eq!(m.vlans[&1].space_id, Some(0));
    assert_eq!(m.vlans[&1].fabric_id, 0);
    assert_eq!(m.vlans[&5101].fabric_id, 1);
    assert_eq!(m.vlans[&5101].space_id, Some(0));
    let nameless = &m.vlans[&5106];
    assert_eq!((nameless.vid, nameless.name.clone()), (30, None));
    assert_eq!(nameless.fabric_id, 1);
    assert_eq!(nameless.space_id, None, "no subnet, no space");

    let i = &m.machines[0].interfaces[0];
    assert_eq!((i.mac.clone(), i.vlan_id), (None, None));
    assert_eq!(i.bond_mode, None, "params as a free string are no params");
    assert_eq!(i.effective_mtu, 1500);
    assert_eq!(i.links[0].subnet_id, Some(1));
    assert_eq!(i.links[0].ip, None);
    assert_eq!(m.machines[0].status, "Unknown");
}

/// MAAS 2.2-2.6 shapes: spaces without `description`, the `undefined` space listing its
/// VLANs, `params: ""`, `discovered: null`, a 3-member bond, a `parent` with `__incomplete__`.
#[test]
fn legacy_2_x_shapes_load() {
    let spaces = legacy("maas-2.x-spaces.json");
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
            legacy("maas-2.x-machine-with-bond.json"),
            {"system_id": "q1w2e3", "hostname": "fir",
             "interface_set": legacy("maas-2.x-interfaces.json")},
        ],
    });
    let m = model_from_snapshot(&snap).unwrap();
    assert!(!m.spaces.contains_key(&-1));
    assert_eq!(
        m.spaces
            .values()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["oam"]
    );
    assert_eq!(
        m.fabrics.keys().copied().collect::<Vec<_>>(),
        [2, 3],
        "fabrics learnt from the VLANs' fabric_id"
    );
    let undefined: Vec<_> = m.vlans.values().filter(|v| v.space_id.is_none()).collect();
    assert_eq!(undefined.len(), 5, "the undefined space's VLANs");
    assert_eq!(m.subnets[&3].space_id, None);
    assert_eq!(m.subnets[&2].space_id, Some(1));
    let bond_host = m.machine("t6b2kk").unwrap();
    assert_eq!(bond_host.status, "Deployed");
    assert_eq!(bond_host.root_disk_mib, None, "boot_disk: null");
    let bond = bond_host
        .interfaces
        .iter()
        .find(|i| i.kind == InterfaceKind::Bond)
        .unwrap();
    assert_eq!(bond.parents.len(), 3);
    assert_eq!(bond.bond_mode, Some(BondMode::ActiveBackup));
    assert!(bond_host
        .interfaces
        .iter()
        .filter(|i| i.kind == InterfaceKind::Physical)
        .all(|i| i.bond_mode.is_none()));
    let fir = m.machine("q1w2e3").unwrap();
    assert_eq!(fir.interfaces.len(), 6);
    assert!(fir.interfaces.iter().all(|i| i.bond_mode.is_none()));
    assert_eq!(fir.interfaces[0].links[0].subnet_id, Some(2));
}

#[test]
fn wrong_type_names_endpoint_and_field_path() {
    let mut snap = fixture_snapshot();
    snap["machines"][3]["interface_set"][1]["vlan"]["id"] = json!("5001");
    let (path, msg) = shape_err(model_from_snapshot(&snap));
    assert_eq!(path, "machines[3].interface_set[1].vlan.id");
    assert!(msg.contains("invalid type: string"), "{msg}");
    // The same through the file path, with the file named.
    let bytes = serde_json::to_vec(&snap).unwrap();
    let err = model_from_slice(&bytes, "snap.json")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("snap.json: machines[3].interface_set[1].vlan.id: invalid type"),
        "{err}"
    );
}

#[test]
fn missing_required_endpoint() {
    let mut snap = fixture_snapshot();
    snap.as_object_mut().unwrap().remove("machines");
    let (_, msg) = shape_err(model_from_snapshot(&snap));
    assert!(msg.contains("missing field `machines`"), "{msg}");
}

#[test]
fn huge_numbers_are_errors_not_wraps() {
    let mut snap = fixture_snapshot();
    snap["vlans"]["1"][2]["vid"] = json!(70000);
    let (path, _) = shape_err(model_from_snapshot(&snap));
    assert_eq!(path, "vlans.1[2].vid");

    let text = serde_json::to_string(&fixture_snapshot())
        .unwrap()
        .replacen("\"cpu_count\":8", "\"cpu_count\":1e400", 1);
    let err = model_from_slice(text.as_bytes(), "big.json").unwrap_err();
    assert!(err.to_string().contains("big.json"), "{err}");

    let text = serde_json::to_string(&fixture_snapshot())
        .unwrap()
        .replacen(
            "\"memory\":4096",
            "\"memory\":123456789012345678901234567890",
            1,
        );
    let err = model_from_slice(text.as_bytes(), "big.json")
        .unwrap_err()
        .to_string();
    assert!(err.contains("machines[") && err.contains("memory"), "{err}");
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let mut text = String::from("{\"spaces\":");
    text.push_str(&"[".repeat(100_000));
    let err = model_from_slice(text.as_bytes(), "deep.json").unwrap_err();
    assert!(err.to_string().starts_with("deep.json: spaces[0]"), "{err}");
    // Nested in an ignored field: serde_json skips it without recursing, so a closed
    // 100k-deep value loads and an unclosed one is a clean EOF error.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let good = serde_json::to_string(&fixture_snapshot()).unwrap();
    let with_extra = format!("{{\"extra\":{deep},{}", &good[1..]);
    assert_eq!(
        model_from_slice(with_extra.as_bytes(), "deep.json").unwrap(),
        fixture_model()
    );
    let mut text = String::from("{\"extra\":");
    text.push_str(&"[".repeat(100_000));
    let err = model_from_slice(text.as_bytes(), "deep.json").unwrap_err();
    assert!(matches!(err, MaasError::Json { .. }), "{err}");
    // And through a file read as a JSON value first.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deep.json");
    std::fs::write(&file, &text).unwrap();
    let err = preflight_maas::read_snapshot_file(&file).unwrap_err();
    assert!(err.to_string().contains("recursion limit"), "{err}");
}

#[test]
fn nulls_where_objects_are_expected() {
    let mut snap = fixture_snapshot();
    snap["machines"][1] = Value::Null;
    let (path, msg) = shape_err(model_from_snapshot(&snap));
    assert_eq!(path, "machines[1]");
    assert!(msg.contains("invalid type: null"), "{msg}");

    let mut snap = fixture_snapshot();
    snap["subnets"][0]["vlan"] = Value::Null;
    let (path, _) = shape_err(model_from_snapshot(&snap));
    assert_eq!(path, "subnets[0].vlan");

    let mut snap = fixture_snapshot();
    snap["spaces"] = Value::Null;
    let (path, _) = shape_err(model_from_snapshot(&snap));
    assert_eq!(path, "spaces");
}

#[test]
fn truncated_and_non_json_files() {
    let text = serde_json::to_string(&fixture_snapshot()).unwrap();
    let cut = &text[..text.len() / 2];
    let err = model_from_slice(cut.as_bytes(), "cut.json").unwrap_err();
    assert!(matches!(err, MaasError::Json { .. }), "{err}");
    assert!(err.to_string().contains("EOF"), "{err}");

    let err = model_from_slice(b"<html>Forbidden</html>", "page.html").unwrap_err();
    assert!(matches!(err, MaasError::Json { .. }), "{err}");
    let err = model_from_slice(b"[]", "list.json").unwrap_err();
    assert!(err.to_string().contains("found an array"), "{err}");
    let err = model_from_snapshot(&json!("x")).unwrap_err();
    assert!(err.to_string().contains("found a string"), "{err}");
    let err = model_from_slice(b"", "empty.json").unwrap_err();
    assert!(matches!(err, MaasError::Json { .. }), "{err}");
    let mut trailing = text.clone();
    trailing.push_str(" {}");
    let err = model_from_slice(trailing.as_bytes(), "two.json").unwrap_err();
    assert!(err.to_string().contains("trailing"), "{err}");
}

#[test]
fn unknown_fields_are_ignored() {
    let mut snap = fixture_snapshot();
    snap["machines"][0]["brand_new_field"] = json!({"x": [1, 2, 3]});
    snap["future_endpoint"] = json!([1, 2]);
    assert_eq!(model_from_snapshot(&snap).unwrap(), fixture_model());
}

#[test]
fn semantic_errors_name_the_field() {
    let mut snap = fixture_snapshot();
    snap["subnets"][2]["cidr"] = json!("172.16.99.0/33");
    let (path, msg) = shape_err(model_from_snapshot(&snap));
    assert_eq!(path, "subnets[2].cidr");
    assert!(msg.contains("not a CIDR"), "{msg}");

    let mut snap = fixture_snapshot();
    snap["subnets"][0]["space"] = json!("nowhere");
    let (path, msg) = shape_err(model_from_snapshot(&snap));
    assert_eq!(path, "subnets[0].space");
    assert!(msg.contains("\"nowhere\""), "{msg}");

    let mut snap = fixture_snapshot();
    snap["machines"][2]["interface_set"][0]["links"][0]["ip_address"] = json!("10.0.0.300");
    let (path, _) = shape_err(model_from_snapshot(&snap));
    assert_eq!(path, "machines[2].interface_set[0].links[0].ip_address");

    let mut snap = fixture_snapshot();
    snap["vlans"]["x"] = json!([]);
    let (path, _) = shape_err(model_from_snapshot(&snap));
    assert_eq!(path, "vlans.x");
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let err = model_from_path(std::path::Path::new("/nonexistent/snap.json")).unwrap_err();
    assert!(matches!(err, MaasError::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/snap.json"), "{err}");
}

#[test]
fn ipranges_are_read_when_present_and_absent_is_none() {
    assert!(fixture_model().ip_ranges.is_empty());
    let mut snap = fixture_snapshot();
    snap["ipranges"] = json!([
        {"id": 1, "type": "dynamic", "start_ip": "10.10.0.100", "end_ip": "10.10.0.200",
         "subnet": {"id": 11, "cidr": "10.10.0.0/24"}, "comment": "", "user": "admin",
         "resource_uri": "/MAAS/api/2.0/ipranges/1/", "future_field": true},
        {"id": 2, "type": "reserved", "start_ip": "fd00:60::10", "end_ip": "fd00:60::20",
         "subnet": 15, "comment": "VIPs"},
        {"id": 3, "type": "something-new", "start_ip": "10.20.0.5", "end_ip": "10.20.0.6"}
    ]);
    let m = model_from_snapshot(&snap).unwrap();
    use preflight_model::provider::IpRangeKind;
    let kinds: Vec<(i64, IpRangeKind, Option<i64>)> = m
        .ip_ranges
        .iter()
        .map(|r| (r.id, r.kind.clone(), r.subnet_id))
        .collect();
    assert_eq!(
        kinds,
        [
            (1, IpRangeKind::Dynamic, Some(11)),
            (2, IpRangeKind::Reserved, Some(15)),
            (3, IpRangeKind::Other("something-new".into()), None)
        ]
    );
    assert!(m.ip_ranges[0].contains("10.10.0.150".parse().unwrap()));
    assert!(!m.ip_ranges[0].contains("10.10.0.201".parse().unwrap()));
    assert!(!m.ip_ranges[0].contains("fd00:60::15".parse().unwrap()));
    assert_eq!(m.ip_ranges[1].comment.as_deref(), Some("VIPs"));
    // Hostile entries name the field.
    for (bad, field) in [
        (
            json!([{"id": 1, "type": "dynamic", "start_ip": "10.0.0.1", "end_ip": "fd00::1"}]),
            "ipranges[0].end_ip",
        ),
        (
            json!([{"id": 1, "type": "dynamic", "start_ip": "nope", "end_ip": "10.0.0.1"}]),
            "ipranges[0].start_ip",
        ),
        (
            json!([{"type": "dynamic", "start_ip": "10.0.0.1", "end_ip": "10.0.0.2"}]),
            "ipranges[0]",
        ),
        (json!({"id": 1}), "ipranges"),
    ] {
        let mut s = fixture_snapshot();
        s["ipranges"] = bad;
        let (path, _) = shape_err(model_from_snapshot(&s));
        assert!(path.starts_with(field), "{path} vs {field}");
    }
}
