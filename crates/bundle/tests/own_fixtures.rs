//! The project's own bundles and charm metadata (`tests/fixtures/bundles`, `tests/fixtures/charms`),
//! read as Juju reads them: every bundle feature the validator depends on, from files.

use crate::fixture_paths;

use std::path::PathBuf;

use preflight_bundle::{load, CharmSet, Placement};

fn fx(rel: &str) -> PathBuf {
    fixture_paths::own(rel)
}

fn machine(container: Option<&str>, id: &str) -> Placement {
    Placement::Machine {
        container: container.map(str::to_string),
        machine: id.to_string(),
    }
}

#[test]
fn cloud_bundle_variables_anchors_placements_bindings_constraints() {
    let b = load(&fx("bundles/cloud/bundle.yaml"), &[]).unwrap();
    assert!(b.warnings.is_empty(), "{:?}", b.warnings);
    assert_eq!(b.series.as_deref(), Some("noble"));
    assert_eq!(b.machines.keys().collect::<Vec<_>>(), ["0", "1"]);
    let m0 = &b.machines["0"].constraints;
    assert_eq!(m0.arch.as_deref(), Some("amd64"));
    assert_eq!(m0.cores, Some(4));
    assert_eq!(m0.spaces, ["oam", "internal-api"]);
    let m1 = &b.machines["1"].constraints;
    assert_eq!(m1.mem_mib, Some(64 * 1024));
    assert_eq!(m1.root_disk_mib, Some(1024 * 1024));

    assert_eq!(
        b.applications.keys().collect::<Vec<_>>(),
        ["database", "logger", "storage", "webapp"]
    );
    let db = &b.applications["database"];
    assert_eq!(db.charm_name(), "database");
    assert_eq!(db.channel.as_deref(), Some("8.0/stable"));
    assert_eq!(db.to, [machine(Some("lxd"), "0")]);
    // Anchored in `variables:`, aliased in the bindings; `""` is the default binding.
    assert_eq!(db.bindings.default.as_deref(), Some("oam"));
    assert_eq!(db.bindings.space_of("db"), "internal-api");
    assert_eq!(db.bindings.space_of("cluster"), "oam");
    let st = &b.applications["storage"];
    assert_eq!(st.to, [machine(None, "1")]);
    assert_eq!(st.bindings.spaces(), ["ceph-data", "oam"]);
    let web = &b.applications["webapp"];
    assert!(web.expose);
    assert_eq!(
        web.constraints.mem_mib,
        Some(1024),
        "aliased constraint string"
    );
    assert_eq!(web.constraints.cores, Some(1));
    assert_eq!(
        web.unit_placements(),
        [
            machine(Some("lxd"), "0"),
            Placement::New { container: None }
        ]
    );
    let logger = &b.applications["logger"];
    assert_eq!(logger.num_units, 0, "a subordinate has no units of its own");
    assert_eq!(logger.bindings.default_space(), "alpha");
    assert_eq!(b.relations.len(), 3);
}

#[test]
fn overlay_merges_bindings_removes_a_null_application_and_appends_relations() {
    let b = load(
        &fx("bundles/cloud/bundle.yaml"),
        &[fx("bundles/cloud/overlay-ipv6.yaml")],
    )
    .unwrap();
    assert_eq!(b.sources.len(), 2);
    assert!(!b.applications.contains_key("logger"));
    assert!(
        b.relations
            .iter()
            .all(|r| r.a.0 != "logger" && r.b.0 != "logger"),
        "a removed application takes its relations with it"
    );
    assert_eq!(
        b.relations.len(),
        2,
        "1 left of the base's 3, plus 1 appended"
    );
    let web = &b.applications["webapp"];
    assert_eq!(web.bindings.space_of("website"), "ipv6-lab");
    assert_eq!(
        web.bindings.default_space(),
        "oam",
        "untouched keys survive"
    );
    assert_eq!(web.num_units, 2);
    assert_eq!(web.charm, "ch:webapp");
}

#[test]
fn overlay_variables_anchor_the_overlay_itself() {
    let b = load(
        &fx("bundles/cloud/bundle.yaml"),
        &[fx("bundles/cloud/overlay-faults.yaml")],
    )
    .unwrap();
    let db = &b.applications["database"];
    assert_eq!(db.bindings.space_of("db"), "public-api");
    assert_eq!(db.bindings.default_space(), "oam");
    assert_eq!(
        b.applications["storage"].bindings.space_of("replication"),
        "ceph-data"
    );
}

#[test]
fn legacy_services_bundle_with_charm_store_urls() {
    let b = load(&fx("bundles/legacy/services.yaml"), &[]).unwrap();
    assert_eq!(b.series.as_deref(), Some("jammy"));
    let db = &b.applications["database"];
    assert_eq!(db.charm_name(), "database", "cs:~user/series/name-rev");
    assert_eq!(db.to, [machine(None, "0")], "`to:` as a bare string");
    assert_eq!(db.bindings.default.as_deref(), Some("internal-api"));
    assert_eq!(b.applications["webapp"].charm_name(), "webapp");
    let warned = |what: &str| b.warnings.iter().any(|w| w.message.contains(what));
    assert!(warned("`services` is the legacy name"), "{:?}", b.warnings);
    assert!(warned("cs:"), "{:?}", b.warnings);
    let services = b
        .warnings
        .iter()
        .find(|w| w.message.contains("services"))
        .unwrap();
    assert_eq!(services.pos.line, 4, "{services}");
}

#[test]
fn charm_metadata_in_both_formats_and_reactive_and_subordinate() {
    let set = CharmSet::load_dirs(&[fx("charms")]).unwrap();
    assert_eq!(
        set.charms.keys().collect::<Vec<_>>(),
        ["database", "logger", "storage-node", "webapp"]
    );
    let db = set.get("database").unwrap();
    assert!(db.source.ends_with("database/metadata.yaml"));
    assert_eq!(
        db.endpoints().into_iter().collect::<Vec<_>>(),
        ["cluster", "db", "replication-net"],
        "provides, peers and extra-bindings"
    );
    assert_eq!(db.relations["db"], "sql");
    assert!(!db.reactive && !db.subordinate);
    let web = set.get("webapp").unwrap();
    assert!(
        web.source.ends_with("webapp/charmcraft.yaml"),
        "unified format"
    );
    for ep in ["db", "cache", "website", "public"] {
        assert!(web.has_endpoint(ep), "webapp lacks {ep}");
    }
    assert!(!web.has_endpoint("base"), "build keys are not endpoints");
    let st = set.get("storage-node").unwrap();
    assert!(st.reactive, "layer.yaml beside the metadata");
    assert!(
        !st.has_endpoint("certificates"),
        "layer-added, not in the source"
    );
    assert!(set.get("logger").unwrap().subordinate);
}
