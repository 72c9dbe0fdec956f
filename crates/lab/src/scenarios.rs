//! The scenarios shipped in `scenarios/` (compiled in, so `preflight demo` works from any
//! directory), looked up by name; any other argument is read as a topology file.

use std::path::Path;

use crate::topology::{Topology, TopologyError};

/// The scenario `preflight demo` runs when none is named.
pub const DEFAULT: &str = "openstack";

/// (name, file text) of every shipped scenario, sorted by name.
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "address-duplicate",
        include_str!("../../../scenarios/address-duplicate.toml"),
    ),
    (
        "address-in-dynamic-range",
        include_str!("../../../scenarios/address-in-dynamic-range.toml"),
    ),
    (
        "address-reuse-across-fabrics",
        include_str!("../../../scenarios/address-reuse-across-fabrics.toml"),
    ),
    (
        "agent-missing",
        include_str!("../../../scenarios/agent-missing.toml"),
    ),
    (
        "cause-machine-dead",
        include_str!("../../../scenarios/cause-machine-dead.toml"),
    ),
    (
        "cause-mtu-port",
        include_str!("../../../scenarios/cause-mtu-port.toml"),
    ),
    (
        "cause-nic-dead",
        include_str!("../../../scenarios/cause-nic-dead.toml"),
    ),
    (
        "cause-one-way",
        include_str!("../../../scenarios/cause-one-way.toml"),
    ),
    (
        "cause-two-faults",
        include_str!("../../../scenarios/cause-two-faults.toml"),
    ),
    (
        "cause-two-machines",
        include_str!("../../../scenarios/cause-two-machines.toml"),
    ),
    (
        "cause-vlan-dead",
        include_str!("../../../scenarios/cause-vlan-dead.toml"),
    ),
    (
        "cause-vlan-missing",
        include_str!("../../../scenarios/cause-vlan-missing.toml"),
    ),
    (
        "controller-ha-unreachable",
        include_str!("../../../scenarios/controller-ha-unreachable.toml"),
    ),
    (
        "controller-unreachable",
        include_str!("../../../scenarios/controller-unreachable.toml"),
    ),
    (
        "dns-forward-mismatch",
        include_str!("../../../scenarios/dns-forward-mismatch.toml"),
    ),
    (
        "dns-reverse-mismatch",
        include_str!("../../../scenarios/dns-reverse-mismatch.toml"),
    ),
    (
        "dns-server-unreachable",
        include_str!("../../../scenarios/dns-server-unreachable.toml"),
    ),
    (
        "drift-address-missing",
        include_str!("../../../scenarios/drift-address-missing.toml"),
    ),
    (
        "drift-address-unexpected",
        include_str!("../../../scenarios/drift-address-unexpected.toml"),
    ),
    (
        "drift-interface-missing",
        include_str!("../../../scenarios/drift-interface-missing.toml"),
    ),
    (
        "drift-link-down",
        include_str!("../../../scenarios/drift-link-down.toml"),
    ),
    (
        "drift-machine-unknown",
        include_str!("../../../scenarios/drift-machine-unknown.toml"),
    ),
    (
        "drift-mtu-mismatch",
        include_str!("../../../scenarios/drift-mtu-mismatch.toml"),
    ),
    (
        "gateway-unreachable",
        include_str!("../../../scenarios/gateway-unreachable.toml"),
    ),
    ("healthy", include_str!("../../../scenarios/healthy.toml")),
    (
        "large-100",
        include_str!("../../../scenarios/large-100.toml"),
    ),
    ("large-30", include_str!("../../../scenarios/large-30.toml")),
    (
        "mediawiki-cms-db-forgotten",
        include_str!("../../../scenarios/mediawiki-cms-db-forgotten.toml"),
    ),
    (
        "mediawiki-dmz-reaches-db",
        include_str!("../../../scenarios/mediawiki-dmz-reaches-db.toml"),
    ),
    (
        "mediawiki-healthy",
        include_str!("../../../scenarios/mediawiki-healthy.toml"),
    ),
    (
        "openstack",
        include_str!("../../../scenarios/openstack.toml"),
    ),
    (
        "probe-asymmetric",
        include_str!("../../../scenarios/probe-asymmetric.toml"),
    ),
    (
        "probe-isolation-breach",
        include_str!("../../../scenarios/probe-isolation-breach.toml"),
    ),
    (
        "probe-mtu-blackhole",
        include_str!("../../../scenarios/probe-mtu-blackhole.toml"),
    ),
    (
        "probe-packet-loss",
        include_str!("../../../scenarios/probe-packet-loss.toml"),
    ),
    (
        "probe-unreachable",
        include_str!("../../../scenarios/probe-unreachable.toml"),
    ),
];

/// Loads a shipped scenario by name, or else a topology file by path.
pub fn load(name_or_path: &str) -> Result<Topology, TopologyError> {
    if let Some((name, text)) = SHIPPED.iter().find(|(n, _)| *n == name_or_path) {
        return Topology::parse(text, &format!("scenario {name}"));
    }
    let path = Path::new(name_or_path);
    if !path.exists() && !name_or_path.contains('/') && !name_or_path.ends_with(".toml") {
        return Err(TopologyError::Syntax {
            origin: name_or_path.to_string(),
            message: format!(
                "no such scenario (shipped: {}) and no such file",
                SHIPPED
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    Topology::from_file(path)
}

/// One line per shipped scenario: name and description.
pub fn list() -> Vec<(String, String)> {
    SHIPPED
        .iter()
        .map(|(name, text)| {
            let description = Topology::parse(text, name)
                .map(|t| t.description)
                .unwrap_or_else(|e| format!("(invalid: {e})"));
            (name.to_string(), description)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_scenario_is_valid_and_named_after_its_file() {
        for (name, text) in SHIPPED {
            let t = Topology::parse(text, name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(t.name, *name);
            assert!(!t.description.is_empty());
        }
        assert!(SHIPPED.iter().any(|(n, _)| *n == DEFAULT));
    }

    #[test]
    fn shipped_list_matches_the_scenarios_folder() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".toml"))
                    .map(String::from)
            })
            .collect();
        on_disk.sort();
        let shipped: Vec<String> = SHIPPED.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(on_disk, shipped, "add new scenario files to SHIPPED");
    }

    #[test]
    fn default_scenario_is_the_openstack_layout() {
        let t = load(DEFAULT).unwrap();
        let spaces: Vec<_> = t.spaces.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            spaces,
            [
                "default",
                "internal-api",
                "admin-api",
                "public-api",
                "storage-data",
                "storage-cluster",
                "compute-data"
            ]
        );
        assert_eq!(t.hosts.len(), 4);
        assert_eq!(t.faults.len(), 2);
        let storage = t.vlans.iter().find(|v| v.name == "storage-data").unwrap();
        assert_eq!(storage.mtu, 9000);
    }

    #[test]
    fn unknown_names_list_the_shipped_scenarios() {
        let e = load("nope").unwrap_err().to_string();
        assert!(e.contains("openstack") && e.contains("healthy"), "{e}");
    }
}
