//! Real-fixture tier: the lab's MAAS snapshot has the field names of the public MAAS 3.5
//! samples (`$PREFLIGHT_FIXTURES/maas`, default `../shared/fixtures/maas`), so the project's
//! own fixture and the lab cannot drift together away from what MAAS really sends.

use crate::fixture_paths;

use std::collections::BTreeSet;

use preflight_lab::{scenarios, snapshot::snapshot};
use serde_json::Value;

fn real(name: &str) -> Value {
    let path = fixture_paths::real("maas").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn own(name: &str) -> Value {
    let path = fixture_paths::own("maas").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn real_fixture_lab_and_own_fixture_have_the_field_names_of_the_maas_samples() {
    let snap = snapshot(&scenarios::load("openstack").unwrap());
    let own_machine = own("machines.json")[3].clone();
    let real_machines = real("machines.json");
    let real_machine = &real_machines[0];
    for (what, m) in [("lab", &snap["machines"][0]), ("own fixture", &own_machine)] {
        assert_eq!(keys(m), keys(real_machine), "{what}: machine fields");
        assert_eq!(
            keys(&m["interface_set"][0]),
            keys(&real_machine["interface_set"][0]),
            "{what}: interface fields"
        );
    }
    assert_eq!(
        keys(&own_machine["boot_disk"]),
        keys(&real_machine["boot_disk"]),
        "own fixture: block device fields"
    );
    assert_eq!(
        keys(&own_machine["boot_disk"]["partitions"][0]),
        keys(&real_machine["boot_disk"]["partitions"][0]),
        "own fixture: partition fields"
    );
    for (file, lab) in [
        ("subnets.json", &snap["subnets"][0]),
        ("vlans-fabric-1.json", &snap["vlans"]["0"][0]),
        ("spaces.json", &snap["spaces"][0]),
        ("fabrics.json", &snap["fabrics"][0]),
        ("zones.json", &snap["zones"][0]),
        ("tags.json", &snap["tags"][0]),
        ("resourcepools.json", &snap["resourcepools"][0]),
    ] {
        let want = keys(&real(file)[0]);
        assert_eq!(keys(lab), want, "lab: {file}");
        assert_eq!(keys(&own(file)[0]), want, "own fixture: {file}");
    }
    assert_eq!(keys(&snap["version"]), keys(&real("version.json")));
    assert_eq!(keys(&own("version.json")), keys(&real("version.json")));
}
