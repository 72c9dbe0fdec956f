//! Real-fixture tier: the public bundles and charm metadata (`$PREFLIGHT_FIXTURES`, default
//! `../shared/fixtures`; never copied into the repository), read as Juju reads them.

use crate::fixture_paths;

use std::path::PathBuf;

use preflight_bundle::{load, CharmSet, Placement};

fn fx(rel: &str) -> PathBuf {
    fixture_paths::real(rel)
}

#[test]
fn real_fixture_openstack_base_alone() {
    let b = load(&fx("bundles/openstack-base/bundle.yaml"), &[]).unwrap();
    assert_eq!(b.series.as_deref(), Some("focal"));
    assert_eq!(b.machines.keys().collect::<Vec<_>>(), ["0", "1", "2"]);
    assert_eq!(b.applications.len(), 27, "{:?}", b.applications.keys());
    let mon = &b.applications["ceph-mon"];
    assert_eq!(mon.charm, "ch:ceph-mon");
    assert_eq!(mon.charm_name(), "ceph-mon");
    assert_eq!(mon.channel.as_deref(), Some("quincy/stable"));
    assert_eq!(mon.num_units, 3);
    assert_eq!(
        mon.to[0],
        Placement::Machine {
            container: Some("lxd".into()),
            machine: "0".into()
        }
    );
    let osd = &b.applications["ceph-osd"];
    assert_eq!(
        osd.to[2],
        Placement::Machine {
            container: None,
            machine: "2".into()
        }
    );
    // No bindings in the base bundle: everything in the model default space.
    assert_eq!(b.applications["keystone"].bindings.default_space(), "alpha");
    // `name:` is not a BundleData field: a warning, not a failure.
    assert!(
        b.warnings.iter().any(|w| w.message.contains("`name`")),
        "{:?}",
        b.warnings
    );
    assert!(b.relations.len() > 50);
}

#[test]
fn real_fixture_openstack_base_with_spaces_overlay() {
    let b = load(
        &fx("bundles/openstack-base/bundle.yaml"),
        &[fx(
            "bundles/openstack-base/openstack-base-spaces-overlay.yaml",
        )],
    )
    .unwrap();
    assert_eq!(b.sources.len(), 2);
    let ks = &b.applications["keystone"];
    assert_eq!(ks.bindings.default.as_deref(), Some("public-space"));
    assert!(ks.bindings.endpoints.is_empty());
    // Untouched keys of the base survive the merge.
    assert_eq!(ks.charm, "ch:keystone");
    assert_eq!(ks.to.len(), 1);
    // An application the overlay does not name keeps the model default.
    assert_eq!(b.applications["ceph-osd"].bindings.default_space(), "alpha");
    assert_eq!(b.machines.len(), 3);
}

#[test]
fn real_fixture_openstack_base_with_virt_overlay_replaces_machines_and_clears_placement() {
    let b = load(
        &fx("bundles/openstack-base/bundle.yaml"),
        &[fx(
            "bundles/openstack-base/openstack-base-virt-overlay.yaml",
        )],
    )
    .unwrap();
    assert!(b.machines.is_empty());
    let nc = &b.applications["nova-compute"];
    assert!(nc.to.is_empty());
    assert_eq!(nc.constraints.mem_mib, Some(4096));
    assert_eq!(nc.num_units, 3);
    assert!(nc
        .unit_placements()
        .iter()
        .all(|p| *p == Placement::New { container: None }));
    assert!(b.applications["cinder"].expose);
    assert_eq!(b.applications["vault"].bindings.default_space(), "alpha");
}

#[test]
fn real_fixture_converged_networking_three_spaces() {
    let b = load(
        &fx("bundles/openstack-converged-networking/bundle.yaml"),
        &[fx("bundles/openstack-converged-networking/openstack-converged-networking-spaces-overlay.yaml")],
    )
    .unwrap();
    let ks = &b.applications["keystone"];
    assert_eq!(ks.bindings.default_space(), "public");
    assert_eq!(ks.bindings.space_of("internal"), "internal");
    assert_eq!(ks.bindings.space_of("shared-db"), "internal");
    assert_eq!(ks.bindings.space_of("admin"), "admin");
    assert_eq!(ks.bindings.space_of("identity-service"), "public");
    assert_eq!(
        b.applications["nova-compute"]
            .bindings
            .space_of("migration"),
        "admin"
    );
    // cs: URLs and the harness key are warnings.
    assert!(b.warnings.iter().any(|w| w.message.contains("cs:")));
    assert!(b
        .warnings
        .iter()
        .any(|w| w.message.contains("local_overlay_enabled")));
}

#[test]
fn real_fixture_charmed_kubernetes() {
    let b = load(&fx("bundles/charmed-kubernetes/bundle.yaml"), &[]).unwrap();
    assert_eq!(b.series.as_deref(), Some("noble"));
    assert!(b.machines.is_empty());
    let cp = &b.applications["kubernetes-control-plane"];
    assert_eq!(cp.constraints.cores, Some(2));
    assert_eq!(cp.constraints.mem_mib, Some(8192));
    assert_eq!(cp.constraints.root_disk_mib, Some(16384));
    assert_eq!(cp.num_units, 2);
    for key in ["docs", "issues", "source", "website", "name"] {
        assert!(
            b.warnings
                .iter()
                .any(|w| w.message.contains(&format!("`{key}`"))),
            "no warning for {key}"
        );
    }
    let eq = load(&fx("bundles/charmed-kubernetes/equinix-bundle.yaml"), &[]).unwrap();
    assert_eq!(eq.machines["0"].constraints.mem_mib, Some(32768));
    assert_eq!(eq.applications["ceph-osd"].to.len(), 3);
}

#[test]
fn real_fixture_juju_testdata_bundles() {
    let b = load(
        &fx("bundles/juju-charm-testdata/wordpress-with-logging.yaml"),
        &[],
    )
    .unwrap();
    assert_eq!(
        b.applications["wordpress"].bindings.space_of("db-client"),
        "db"
    );
    assert_eq!(b.applications["logging"].num_units, 0);
    let e = load(&fx("bundles/juju-charm-testdata/bad-relation.yaml"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(r#"relation ["foo:db" "mysql:server"] refers to application "foo" not defined in this bundle"#),
        "{e}"
    );
    assert!(e.contains("bad-relation.yaml:11:"), "{e}");
}

#[test]
fn real_fixture_charm_fixtures() {
    let set = CharmSet::load_dirs(&[fx("charms"), fx("charms/juju-charm-testdata")]).unwrap();
    let names: Vec<_> = set.charms.keys().cloned().collect();
    for n in [
        "keystone",
        "ceph-osd",
        "nova-compute",
        "etcd",
        "magpie",
        "mysql-innodb-cluster",
        "wordpress",
        "mysql",
        "logging",
    ] {
        assert!(names.contains(&n.to_string()), "{n} missing from {names:?}");
    }
    let ks = set.get("keystone").unwrap();
    for ep in [
        "public",
        "admin",
        "internal",
        "shared-db",
        "identity-service",
    ] {
        assert!(ks.has_endpoint(ep), "keystone lacks {ep}");
    }
    assert!(ks.source.ends_with("metadata.yaml"));
    let osd = set.get("ceph-osd").unwrap();
    assert!(osd.has_endpoint("cluster") && osd.has_endpoint("public"));
    let nc = set.get("nova-compute").unwrap();
    assert!(nc.has_endpoint("migration") && nc.has_endpoint("internal"));
    let wp = set.get("wordpress").unwrap();
    for ep in ["db-client", "admin-api", "foo-bar", "db", "url"] {
        assert!(wp.has_endpoint(ep), "wordpress lacks {ep}");
    }
    assert_eq!(
        set.get("mysql")
            .unwrap()
            .relations
            .get("server")
            .map(String::as_str),
        Some("mysql")
    );
    assert!(set.get("logging").unwrap().subordinate);
    // Reactive charm from source: the layer-added endpoint is not there (and we say so).
    assert!(!set
        .get("mysql-innodb-cluster")
        .unwrap()
        .has_endpoint("certificates"));
}
