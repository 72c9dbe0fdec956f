//! Real-fixture tier: the public bundles (`$PREFLIGHT_FIXTURES/bundles`, default
//! `../shared/fixtures`; never copied into the repository) against the public MAAS samples and
//! against generated MAAS models made to fit or to fail.

use crate::common;
use crate::fixture_paths;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use preflight_bundle::{load, Bundle, CharmSet};
use preflight_model::provider::ProviderModel;
use preflight_model::report::{Code, Severity};
use preflight_validate::{validate, ValidateOutcome};

fn fx(rel: &str) -> PathBuf {
    fixture_paths::real(rel)
}

fn maas_fixture() -> ProviderModel {
    preflight_maas::model_from_path(&fx("maas")).unwrap()
}

fn bundle(files: &[&str]) -> Bundle {
    let paths: Vec<PathBuf> = files.iter().map(|f| fx(&format!("bundles/{f}"))).collect();
    load(&paths[0], &paths[1..]).unwrap()
}

const OS_BASE: &str = "openstack-base/bundle.yaml";
const OS_SPACES: &str = "openstack-base/openstack-base-spaces-overlay.yaml";
const OS_VIRT: &str = "openstack-base/openstack-base-virt-overlay.yaml";
const CN: &str = "openstack-converged-networking/bundle.yaml";
const CN_SPACES: &str =
    "openstack-converged-networking/openstack-converged-networking-spaces-overlay.yaml";
const CK8S: &str = "charmed-kubernetes/bundle.yaml";

fn run(b: &Bundle, model: &ProviderModel) -> ValidateOutcome {
    validate(b, None, model, &BTreeMap::new())
}

/// (code, application or "-", space or "-") of each finding, sorted.
fn keys(out: &ValidateOutcome) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = out
        .findings
        .iter()
        .map(|f| {
            (
                f.code.to_string(),
                f.subject.application.clone().unwrap_or("-".into()),
                f.subject.space.clone().unwrap_or("-".into()),
            )
        })
        .collect();
    v.sort();
    v
}

fn codes_set(out: &ValidateOutcome) -> BTreeSet<String> {
    out.findings.iter().map(|f| f.code.to_string()).collect()
}

fn codes(items: &[Code]) -> BTreeSet<String> {
    items.iter().map(|c| c.to_string()).collect()
}

fn apps_with(out: &ValidateOutcome, code: Code) -> BTreeSet<String> {
    out.findings
        .iter()
        .filter(|f| f.code == code)
        .filter_map(|f| f.subject.application.clone())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

const NO_SPACE_10_100: (&str, &str, &str) = ("subnet.no-space", "-", "-");

#[test]
fn real_fixture_maas_openstack_base_alone_fits_with_one_network_warning() {
    let out = run(&bundle(&[OS_BASE]), &maas_fixture());
    let k = keys(&out);
    assert_eq!(k.len(), 1, "{:#?}", out.findings);
    assert_eq!(
        (k[0].0.as_str(), k[0].1.as_str(), k[0].2.as_str()),
        NO_SPACE_10_100
    );
    assert_eq!(
        out.findings[0].subject.subnet.as_deref(),
        Some("10.100.0.0/24")
    );
    assert_eq!(out.findings[0].severity, Severity::Warning);
}

#[test]
fn real_fixture_maas_openstack_base_spaces_overlay_binds_a_space_maas_lacks() {
    let out = run(&bundle(&[OS_BASE, OS_SPACES]), &maas_fixture());
    let overlay_apps = set(&[
        "ceph-mon",
        "ceph-radosgw",
        "cinder",
        "glance",
        "keystone",
        "mysql-innodb-cluster",
        "neutron-api",
        "placement",
        "nova-cloud-controller",
        "nova-compute",
        "openstack-dashboard",
        "rabbitmq-server",
        "ovn-central",
        "vault",
        "ntp",
    ]);
    assert_eq!(apps_with(&out, Code::BindingUnknownSpace), overlay_apps);
    assert!(out
        .findings
        .iter()
        .filter(|f| f.code == Code::BindingUnknownSpace)
        .all(|f| f.subject.space.as_deref() == Some("public-space")));
    assert_eq!(
        codes_set(&out),
        codes(&[
            Code::BindingUnknownSpace,
            Code::SubnetNoSpace,
            Code::RelationCrossSpace
        ])
    );
}

#[test]
fn real_fixture_maas_openstack_base_virt_overlay_needs_more_machines() {
    let out = run(&bundle(&[OS_BASE, OS_VIRT]), &maas_fixture());
    assert_eq!(
        codes_set(&out),
        codes(&[Code::BindingCapacity, Code::SubnetNoSpace])
    );
    // 24 new-machine units for 4 machines (nova-compute's mem=4G leaves 3).
    let nc = out
        .findings
        .iter()
        .find(|f| f.subject.application.as_deref() == Some("nova-compute"))
        .unwrap();
    assert!(
        nc.message.contains("from the 3 MAAS machine(s)"),
        "{}",
        nc.message
    );
}

#[test]
fn real_fixture_maas_converged_networking_three_spaces() {
    let out = run(&bundle(&[CN, CN_SPACES]), &maas_fixture());
    // MAAS has `internal`, not `public` or `admin`.
    let unknown: BTreeSet<String> = out
        .findings
        .iter()
        .filter(|f| f.code == Code::BindingUnknownSpace)
        .filter_map(|f| f.subject.space.clone())
        .collect();
    assert_eq!(unknown, set(&["admin", "public"]));
    assert_eq!(
        apps_with(&out, Code::BindingUnknownSpace).len(),
        out.findings
            .iter()
            .filter(|f| f.code == Code::BindingUnknownSpace
                && f.subject.space.as_deref() == Some("public"))
            .count()
    );
    // `internal` exists but only one of the four machines (recrwg) links into it: the units
    // placed on bundle machines get warnings, never errors.
    let placement: Vec<_> = out
        .findings
        .iter()
        .filter(|f| f.code == Code::PlacementMissingSpace)
        .collect();
    assert!(!placement.is_empty());
    assert!(
        placement
            .iter()
            .all(|f| f.severity == Severity::Warning
                && f.subject.space.as_deref() == Some("internal"))
    );
    assert!(
        placement
            .iter()
            .all(|f| f.message.contains("only 1 of its 4")),
        "{:#?}",
        placement
    );
    assert_eq!(
        codes_set(&out),
        codes(&[
            Code::BindingUnknownSpace,
            Code::PlacementMissingSpace,
            Code::SubnetNoSpace,
            Code::RelationCrossSpace
        ])
    );
}

#[test]
fn real_fixture_maas_charmed_kubernetes_is_short_of_machines() {
    let out = run(&bundle(&[CK8S]), &maas_fixture());
    assert_eq!(
        codes_set(&out),
        codes(&[Code::BindingCapacity, Code::SubnetNoSpace])
    );
    let cp = out
        .findings
        .iter()
        .find(|f| f.subject.application.as_deref() == Some("kubernetes-control-plane"))
        .unwrap();
    // cores=2 mem=8G root-disk=16G: recrwg and g8xyqs (thr3am's disk is 10 GB, e8xa8m is tiny).
    assert!(
        cp.message.contains("from the 2 MAAS machine(s)"),
        "{}",
        cp.message
    );
}

#[test]
fn real_fixture_juju_testdata_with_charm_metadata() {
    let b = bundle(&["juju-charm-testdata/wordpress-with-logging.yaml"]);
    let charms = CharmSet::load_dirs(&[fx("charms/juju-charm-testdata")]).unwrap();
    let out = validate(&b, Some(&charms), &maas_fixture(), &BTreeMap::new());
    // Every bound endpoint exists in the charms (extra-bindings included)...
    assert!(apps_with(&out, Code::BindingUnknownEndpoint).is_empty());
    assert_eq!(
        out.checked
            .iter()
            .filter(|c| c.check == Code::BindingUnknownEndpoint)
            .count(),
        3
    );
    // ...but the spaces `db` and `public` are not MAAS spaces.
    let unknown: BTreeSet<_> = out
        .findings
        .iter()
        .filter(|f| f.code == Code::BindingUnknownSpace)
        .map(|f| {
            (
                f.subject.application.clone().unwrap(),
                f.subject.space.clone().unwrap(),
            )
        })
        .collect();
    let expected: BTreeSet<_> = [
        ("mysql", "db"),
        ("wordpress", "db"),
        ("wordpress", "public"),
    ]
    .iter()
    .map(|(a, s)| (a.to_string(), s.to_string()))
    .collect();
    assert_eq!(unknown, expected);
}

#[test]
fn real_fixture_charm_fixtures_catch_a_misspelt_endpoint() {
    let mut b = bundle(&[CN, CN_SPACES]);
    b.applications
        .get_mut("keystone")
        .unwrap()
        .bindings
        .endpoints
        .insert("pubic".into(), "public".into());
    let charms = CharmSet::load_dirs(&[fx("charms")]).unwrap();
    let model = common::generated(30, &["public", "internal", "admin"]);
    let out = validate(&b, Some(&charms), &model, &BTreeMap::new());
    let f: Vec<_> = out
        .findings
        .iter()
        .filter(|f| f.code == Code::BindingUnknownEndpoint)
        .collect();
    assert_eq!(f.len(), 1, "{:#?}", out.findings);
    assert_eq!(f[0].subject.application.as_deref(), Some("keystone"));
    assert_eq!(f[0].subject.endpoint.as_deref(), Some("pubic"));
    // keystone, nova-compute and mysql-innodb-cluster had metadata: evaluated for those only.
    let evaluated: BTreeSet<_> = out
        .checked
        .iter()
        .filter(|c| c.check == Code::BindingUnknownEndpoint)
        .filter_map(|c| c.subject.application.clone())
        .collect();
    assert_eq!(
        evaluated,
        set(&[
            "ceph-osd",
            "keystone",
            "mysql-innodb-cluster",
            "nova-compute"
        ])
    );
}

#[test]
fn real_fixture_generated_maas_that_fits_gives_no_findings() {
    for (files, spaces, n) in [
        (&[OS_BASE][..], &["x"][..], 8),
        (&[OS_BASE, OS_SPACES][..], &["public-space"][..], 8),
        (&[OS_BASE, OS_VIRT][..], &["x"][..], 40),
        (
            &[CN, CN_SPACES][..],
            &["public", "internal", "admin"][..],
            8,
        ),
        (&[CK8S][..], &["x"][..], 20),
    ] {
        let out = run(&bundle(files), &common::generated(n, spaces));
        // Only the relation space map's infos (the pairs the relations need).
        assert!(
            out.findings
                .iter()
                .all(|f| f.code == Code::RelationCrossSpace && f.severity == Severity::Info),
            "{files:?}: {:#?}",
            out.findings
        );
        assert!(!out.checked.is_empty());
    }
}

#[test]
fn real_fixture_generated_maas_made_to_fail() {
    // No `admin` space: exactly the applications that bind something to admin.
    let out = run(
        &bundle(&[CN, CN_SPACES]),
        &common::generated(8, &["public", "internal"]),
    );
    assert_eq!(
        apps_with(&out, Code::BindingUnknownSpace),
        set(&[
            "cinder",
            "glance",
            "keystone",
            "neutron-api",
            "nova-cloud-controller",
            "nova-compute",
            "ovn-central",
            "placement"
        ])
    );
    assert_eq!(
        codes_set(&out),
        codes(&[Code::BindingUnknownSpace, Code::RelationCrossSpace])
    );

    // Too little memory everywhere: the mem=8G applications (etcd, control plane, workers)
    // cannot be hosted, and mem is named; the mem=4G ones still fit.
    let mut small = common::generated(20, &["x"]);
    for m in &mut small.machines {
        m.memory_mib = Some(6 * 1024);
    }
    let out = run(&bundle(&[CK8S]), &small);
    assert_eq!(
        apps_with(&out, Code::ConstraintUnsatisfiable),
        set(&["etcd", "kubernetes-control-plane", "kubernetes-worker"])
    );
    assert!(out
        .findings
        .iter()
        .filter(|f| f.code == Code::ConstraintUnsatisfiable)
        .all(|f| f.message.contains("mem=8G eliminated")));
    assert_eq!(codes_set(&out), codes(&[Code::ConstraintUnsatisfiable]));

    // public-space on only some machines: units on bundle machines warn, per application.
    let mut partial = common::generated(8, &["public-space", "other"]);
    let ps = partial.space_by_name("public-space").unwrap().id;
    let ps_subnet = partial.subnets_in_space(ps).next().unwrap().id;
    for m in partial.machines.iter_mut().skip(3) {
        m.interfaces
            .retain(|i| i.links.iter().all(|l| l.subnet_id != Some(ps_subnet)));
    }
    let out = run(&bundle(&[OS_BASE, OS_SPACES]), &partial);
    assert_eq!(
        codes_set(&out),
        codes(&[Code::PlacementMissingSpace, Code::RelationCrossSpace])
    );
    assert!(out
        .findings
        .iter()
        .all(|f| f.severity == Severity::Warning || f.code == Code::RelationCrossSpace));
    // ntp is a subordinate (no units): never placement-checked.
    assert!(!apps_with(&out, Code::PlacementMissingSpace).contains("ntp"));
    assert!(apps_with(&out, Code::PlacementMissingSpace).contains("keystone"));
}

#[test]
fn real_fixture_reactive_charm_source_metadata_is_the_truth_and_the_hint_says_so() {
    // certificates comes from layer:openstack at build time; the source metadata lacks it.
    let mut b = bundle(&[OS_BASE]);
    b.applications
        .get_mut("mysql-innodb-cluster")
        .unwrap()
        .bindings
        .endpoints
        .insert("certificates".into(), "x".into());
    let charms = CharmSet::load_dirs(&[fx("charms")]).unwrap();
    let out = validate(
        &b,
        Some(&charms),
        &common::generated(8, &["x"]),
        &BTreeMap::new(),
    );
    let f: Vec<_> = out
        .findings
        .iter()
        .filter(|f| f.code == Code::BindingUnknownEndpoint)
        .collect();
    assert_eq!(f.len(), 1, "{:#?}", out.findings);
    assert_eq!(f[0].severity, Severity::Error);
    assert!(
        f[0].hint
            .as_deref()
            .unwrap()
            .contains("reactive charm's source metadata"),
        "{:?}",
        f[0].hint
    );
}
