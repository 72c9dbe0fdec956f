//! The project's own bundles, overlays and charm metadata against the project's MAAS fixture
//! (`tests/fixtures`): a bundle that fits, and overlays that break it in known ways.

use crate::fixture_paths;

use std::collections::BTreeMap;

use preflight_bundle::{load, Bundle, CharmSet};
use preflight_model::provider::ProviderModel;
use preflight_model::report::{Code, Severity};
use preflight_validate::{validate, ValidateOutcome};

fn maas() -> ProviderModel {
    preflight_maas::model_from_path(&fixture_paths::own("maas")).unwrap()
}

fn bundle(overlays: &[&str]) -> Bundle {
    let overlays: Vec<_> = overlays
        .iter()
        .map(|o| fixture_paths::own(&format!("bundles/cloud/{o}")))
        .collect();
    load(&fixture_paths::own("bundles/cloud/bundle.yaml"), &overlays).unwrap()
}

fn charms() -> CharmSet {
    CharmSet::load_dirs(&[fixture_paths::own("charms")]).unwrap()
}

/// (code, severity, application or "-", space or "-") of each finding, sorted.
fn keys(out: &ValidateOutcome) -> Vec<(Code, Severity, String, String)> {
    let mut v: Vec<_> = out
        .findings
        .iter()
        .map(|f| {
            (
                f.code.clone(),
                f.severity,
                f.subject.application.clone().unwrap_or("-".into()),
                f.subject.space.clone().unwrap_or("-".into()),
            )
        })
        .collect();
    v.sort();
    v
}

fn k(code: Code, sev: Severity, app: &str, space: &str) -> (Code, Severity, String, String) {
    (code, sev, app.into(), space.into())
}

/// The two network warnings the fixture MAAS always gives: the BMC subnet in no space, and
/// 10.10.0.0/24 on both fabrics.
fn network_warnings() -> Vec<(Code, Severity, String, String)> {
    vec![
        k(Code::SubnetNoSpace, Severity::Warning, "-", "-"),
        k(Code::SubnetOverlap, Severity::Warning, "-", "-"),
    ]
}

/// The relation space map's info for a space pair relations need.
fn cross(pair: &str) -> (Code, Severity, String, String) {
    k(Code::RelationCrossSpace, Severity::Info, "-", pair)
}

#[test]
fn the_cloud_bundle_fits_the_fixture_maas() {
    let out = validate(&bundle(&[]), Some(&charms()), &maas(), &BTreeMap::new());
    let mut want = network_warnings();
    // webapp's db (default oam) relates to database's db (internal-api); the subordinate
    // logger (unbound: alpha) relates to both principals (oam).
    want.extend([cross("alpha:oam"), cross("internal-api:oam")]);
    want.sort();
    assert_eq!(keys(&out), want, "{:#?}", out.findings);
    let overlap = out
        .findings
        .iter()
        .find(|f| f.code == Code::SubnetOverlap)
        .unwrap();
    assert!(
        overlap.message.contains("id 11, fabric fabric-0")
            && overlap.message.contains("id 18, fabric fabric-1"),
        "{}",
        overlap.message
    );
    let no_space = out
        .findings
        .iter()
        .find(|f| f.code == Code::SubnetNoSpace)
        .unwrap();
    assert!(no_space.message.contains("dogwood"), "{}", no_space.message);
}

#[test]
fn binding_a_space_machine_0_lacks_is_a_placement_error() {
    let out = validate(
        &bundle(&["overlay-ipv6.yaml"]),
        Some(&charms()),
        &maas(),
        &BTreeMap::new(),
    );
    let mut want = network_warnings();
    want.push(k(
        Code::PlacementMissingSpace,
        Severity::Error,
        "webapp",
        "ipv6-lab",
    ));
    want.push(cross("internal-api:oam"));
    want.sort();
    assert_eq!(keys(&out), want, "{:#?}", out.findings);
    let f = out
        .findings
        .iter()
        .find(|f| f.code == Code::PlacementMissingSpace)
        .unwrap();
    assert_eq!(f.subject.machine.as_deref(), Some("0"));
    assert!(f.message.contains("(alder)"), "{}", f.message);
}

#[test]
fn unknown_space_and_unknown_endpoint_from_an_overlay() {
    let out = validate(
        &bundle(&["overlay-faults.yaml"]),
        Some(&charms()),
        &maas(),
        &BTreeMap::new(),
    );
    let mut want = network_warnings();
    want.push(k(
        Code::BindingUnknownSpace,
        Severity::Error,
        "database",
        "public-api",
    ));
    want.push(k(
        Code::BindingUnknownEndpoint,
        Severity::Error,
        "storage",
        "-",
    ));
    want.extend([cross("alpha:oam"), cross("oam:public-api")]);
    want.sort();
    assert_eq!(keys(&out), want, "{:#?}", out.findings);
    let ep = out
        .findings
        .iter()
        .find(|f| f.code == Code::BindingUnknownEndpoint)
        .unwrap();
    assert_eq!(ep.subject.endpoint.as_deref(), Some("replication"));
    let hint = ep.hint.as_deref().unwrap_or_default();
    assert!(hint.contains("reactive"), "{hint}");
    // Without charm metadata the endpoint cannot be checked; the unknown space still is.
    let out = validate(
        &bundle(&["overlay-faults.yaml"]),
        None,
        &maas(),
        &BTreeMap::new(),
    );
    assert!(out
        .findings
        .iter()
        .all(|f| f.code != Code::BindingUnknownEndpoint));
    assert!(out
        .findings
        .iter()
        .any(|f| f.code == Code::BindingUnknownSpace));
}
