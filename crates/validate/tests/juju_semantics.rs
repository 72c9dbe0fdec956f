//! Juju's semantics in the checks, one hand-made bundle and MAAS per rule: which MAAS machines
//! Juju can allocate, when a failed placement is certain, space names as Juju converts them,
//! and reading warnings as findings.

use crate::common;

use std::collections::BTreeMap;

use preflight_bundle::load_str;
use preflight_model::provider::ProviderModel;
use preflight_model::report::{Code, Severity, Subject};
use preflight_validate::{parse_machine_map, validate, validate_on, Machines, ValidateOutcome};

fn run(yaml: &str, model: &ProviderModel, map: &[&str]) -> ValidateOutcome {
    let bundle = load_str(&[("t.yaml", yaml)]).unwrap();
    let map: BTreeMap<String, String> =
        parse_machine_map(&map.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    validate(&bundle, None, model, &map)
}

fn codes_of(out: &ValidateOutcome) -> Vec<(Code, Severity, Subject)> {
    let mut v: Vec<_> = out
        .findings
        .iter()
        .map(|f| (f.code.clone(), f.severity, f.subject.clone()))
        .collect();
    v.sort();
    v
}

fn app(a: &str) -> Subject {
    Subject {
        application: Some(a.into()),
        ..Subject::default()
    }
}

/// One space `public`, five Ready machines r1..r5, one Deployed d1 and one Allocated a1.
fn owned_maas() -> ProviderModel {
    let mut b = common::Builder::new();
    b.space(1, "public");
    b.vlan(11, 0, 0, Some(1));
    b.subnet(21, "10.0.1.0/24", 11);
    for i in 1..=5 {
        b.machine(&format!("r{i}"), "Ready", &[21]);
    }
    b.machine("d1", "Deployed", &[21]);
    b.machine("a1", "Allocated", &[21]);
    b.build()
}

#[test]
fn only_ready_machines_are_free() {
    let out = run(
        "applications:\n  a: {charm: a, num_units: 6, bindings: {'': public}}\n",
        &owned_maas(),
        &[],
    );
    assert_eq!(
        codes_of(&out),
        vec![(Code::BindingCapacity, Severity::Error, app("a"))]
    );
    assert_eq!(
        out.findings[0].message,
        "a needs 6 new machine(s), but only 5 MAAS machine(s) satisfy its constraints and bound spaces (1 short)"
    );
    // Five fit.
    let out = run(
        "applications:\n  a: {charm: a, num_units: 5, bindings: {'': public}}\n",
        &owned_maas(),
        &[],
    );
    assert_eq!(codes_of(&out), vec![]);
    // An owned machine counts where the bundle pins it.
    let out = run(
        "machines: {'0': }\napplications:\n  a: {charm: a, num_units: 5, bindings: {'': public}}\n  b: {charm: b, num_units: 1, to: ['0'], bindings: {'': public}}\n",
        &owned_maas(),
        &["0=d1"],
    );
    assert_eq!(codes_of(&out), vec![]);
    // Unpinned, bundle machine 0 needs a sixth Ready machine.
    let out = run(
        "machines: {'0': }\napplications:\n  a: {charm: a, num_units: 5, bindings: {'': public}}\n  b: {charm: b, num_units: 1, to: ['0'], bindings: {'': public}}\n",
        &owned_maas(),
        &[],
    );
    let got: Vec<Code> = codes_of(&out).into_iter().map(|c| c.0).collect();
    assert!(
        got.iter().all(|c| *c == Code::BindingCapacity) && !got.is_empty(),
        "{got:?}"
    );
    // No Ready machine at all: the message says which statuses count.
    let mut none = owned_maas();
    none.machines.retain(|m| m.status != "Ready");
    let out = run("applications:\n  a: {charm: a, num_units: 1}\n", &none, &[]);
    assert_eq!(
        codes_of(&out),
        vec![(Code::ConstraintUnsatisfiable, Severity::Error, app("a"))]
    );
    assert!(
        out.findings[0]
            .message
            .contains("MAAS has no machine in Ready"),
        "{}",
        out.findings[0].message
    );
}

#[test]
fn a_deployed_bundle_counts_its_owned_machines() {
    // `check --bundle` runs on the deployed bundle's machines: Deployed and Allocated count.
    let yaml = "applications:\n  a: {charm: a, num_units: 7, bindings: {'': public}}\n";
    let bundle = load_str(&[("t.yaml", yaml)]).unwrap();
    let free = validate(&bundle, None, &owned_maas(), &BTreeMap::new());
    assert_eq!(
        codes_of(&free),
        vec![(Code::BindingCapacity, Severity::Error, app("a"))]
    );
    let deployed = validate_on(
        &bundle,
        None,
        &owned_maas(),
        &BTreeMap::new(),
        Machines::Deployed,
    );
    assert_eq!(codes_of(&deployed), vec![]);
    // An eighth unit is one more than MAAS has, deployed or not.
    let bundle = load_str(&[("t.yaml", &yaml.replace("7", "8"))]).unwrap();
    let deployed = validate_on(
        &bundle,
        None,
        &owned_maas(),
        &BTreeMap::new(),
        Machines::Deployed,
    );
    assert_eq!(
        codes_of(&deployed),
        vec![(Code::BindingCapacity, Severity::Error, app("a"))]
    );
    // Broken machines count in neither; the message names the statuses that count.
    let mut none = owned_maas();
    for m in &mut none.machines {
        m.status = "Broken".into();
    }
    let bundle = load_str(&[("t.yaml", "applications:\n  a: {charm: a, num_units: 1}\n")]).unwrap();
    let out = validate_on(&bundle, None, &none, &BTreeMap::new(), Machines::Deployed);
    assert!(
        out.findings[0]
            .message
            .contains("MAAS has no machine in Ready, Allocated, Deployed"),
        "{}",
        out.findings[0].message
    );
}

/// Spaces public and storage; `fast` machines in zone2: f1, f2 (with storage) and f3
/// (without), plus `extra` more with storage; plain machines p1..p3 in zone1 with storage.
fn tight_maas(extra: usize) -> ProviderModel {
    let mut b = common::Builder::new();
    b.space(1, "public").space(2, "storage");
    b.vlan(11, 0, 0, Some(1)).vlan(12, 0, 20, Some(2));
    b.subnet(21, "10.0.1.0/24", 11)
        .subnet(22, "10.0.2.0/24", 12);
    let fast = |b: &mut common::Builder, id: &str, subnets: &[i64]| {
        let m = b.machine(id, "Ready", subnets);
        m.zone = Some("zone2".into());
        m.tags.push("fast".into());
    };
    fast(&mut b, "f1", &[21, 22]);
    fast(&mut b, "f2", &[21, 22]);
    fast(&mut b, "f3", &[21]);
    for i in 0..extra {
        fast(&mut b, &format!("g{i}"), &[21, 22]);
    }
    for i in 1..=3 {
        b.machine(&format!("p{i}"), "Ready", &[21, 22]).zone = Some("zone1".into());
    }
    b.build()
}

const TIGHT: &str = "machines:\n  '0': {constraints: tags=fast zones=zone2}\n  '1': {constraints: tags=fast zones=zone2}\n  '2': {constraints: tags=fast zones=zone2}\napplications:\n  osd: {charm: ch:ceph-osd, num_units: 3, to: ['0', '1', '2'], bindings: {'': storage}}\n";

#[test]
fn a_repeated_application_placement_beyond_its_units_gets_new_machines() {
    // b/0 goes beside a/0; b/1 and b/2 find no unit of a left and get new machines.
    let yaml = "applications:\n  a: {charm: a, num_units: 1, bindings: {'': public}}\n  b: {charm: b, num_units: 3, to: [a], bindings: {'': public}}\n  c: {charm: c, num_units: 3, bindings: {'': public}}\n";
    let out = run(yaml, &owned_maas(), &[]);
    // a 1 + b 2 + c 3 = 6 new machines on 5 Ready: short.
    let got: Vec<Code> = codes_of(&out).into_iter().map(|c| c.0).collect();
    assert!(
        !got.is_empty() && got.iter().all(|c| *c == Code::BindingCapacity),
        "{:#?}",
        out.findings
    );
    let out = run(
        &yaml.replace("c: {charm: c, num_units: 3", "c: {charm: c, num_units: 2"),
        &owned_maas(),
        &[],
    );
    assert_eq!(codes_of(&out), vec![]);
}

#[test]
fn a_certain_missing_space_is_an_error() {
    let out = run(TIGHT, &tight_maas(0), &[]);
    let m = |id: &str| Subject {
        application: Some("osd".into()),
        space: Some("storage".into()),
        machine: Some(id.into()),
        ..Subject::default()
    };
    assert_eq!(
        codes_of(&out),
        vec![
            (Code::PlacementMissingSpace, Severity::Error, m("0")),
            (Code::PlacementMissingSpace, Severity::Error, m("1")),
            (Code::PlacementMissingSpace, Severity::Error, m("2")),
        ]
    );
    let msg = &out.findings[0].message;
    assert!(
        msg.contains("bundle machines 0, 1 and 2 need all 3 of their candidate MAAS machines"),
        "{msg}"
    );
    assert!(msg.contains("host-f3"), "{msg}");
    // One more fitting machine with the space: Juju may still pick f3, but need not.
    let out = run(TIGHT, &tight_maas(1), &[]);
    let sev: Vec<Severity> = out.findings.iter().map(|f| f.severity).collect();
    assert_eq!(sev, [Severity::Warning; 3], "{:#?}", out.findings);
    assert!(out.findings[0]
        .message
        .contains("Juju may pick one without it"));
    // Only two of the three machines need the space: the third can take f3.
    let two = TIGHT.replace(
        "  osd: {charm: ch:ceph-osd, num_units: 3, to: ['0', '1', '2'], bindings: {'': storage}}\n",
        "  osd: {charm: ch:ceph-osd, num_units: 2, to: ['0', '1'], bindings: {'': storage}}\n  web: {charm: ch:web, num_units: 1, to: ['2'], bindings: {'': public}}\n",
    );
    let out = run(&two, &tight_maas(0), &[]);
    let sev: Vec<Severity> = out.findings.iter().map(|f| f.severity).collect();
    assert_eq!(sev, [Severity::Warning; 2], "{:#?}", out.findings);
}

/// MAAS spaces `Public-Space` and `public_space` (Juju: `public-space` and `publicspace`).
fn odd_names() -> ProviderModel {
    let mut b = common::Builder::new();
    b.space(1, "Public-Space").space(2, "public_space");
    b.vlan(11, 0, 0, Some(1)).vlan(12, 0, 20, Some(2));
    b.subnet(21, "10.0.1.0/24", 11)
        .subnet(22, "10.0.2.0/24", 12);
    for i in 1..=3 {
        b.machine(&format!("m{i}"), "Ready", &[21, 22]);
    }
    b.build()
}

#[test]
fn spaces_are_named_as_juju_converts_them() {
    let out = run(
        "applications:\n  a: {charm: a, num_units: 1, bindings: {'': public-space}, constraints: spaces=publicspace}\n",
        &odd_names(),
        &[],
    );
    assert_eq!(codes_of(&out), vec![]);
    let out = run(
        "applications:\n  b: {charm: b, num_units: 1, bindings: {'': public_space}}\n  c: {charm: c, num_units: 1, bindings: {'': Public-Space}}\n",
        &odd_names(),
        &[],
    );
    let sp = |a: &str, s: &str| Subject {
        application: Some(a.into()),
        space: Some(s.into()),
        ..Subject::default()
    };
    assert_eq!(
        codes_of(&out),
        vec![
            (
                Code::BindingUnknownSpace,
                Severity::Error,
                sp("b", "public_space")
            ),
            (
                Code::BindingUnknownSpace,
                Severity::Error,
                sp("c", "Public-Space")
            ),
        ]
    );
    let hint = out.findings[0].hint.clone().unwrap();
    assert_eq!(
        hint,
        "bind to one of the spaces Juju knows (public-space (MAAS: Public-Space), publicspace (MAAS: public_space)) or create space \"public_space\" in MAAS"
    );
}

#[test]
fn reading_warnings_are_findings() {
    let out = run(
        "colour: blue\napplications:\n  a:\n    charm: a\n    num_units: 1\n    to: lxd:0\n",
        &owned_maas(),
        &[],
    );
    let top = Subject::default();
    assert_eq!(
        codes_of(&out),
        vec![
            (Code::BundleIgnoredField, Severity::Warning, app("a")),
            (Code::BundleUnknownKey, Severity::Warning, top),
        ]
    );
    let f = out
        .findings
        .iter()
        .find(|f| f.code == Code::BundleIgnoredField)
        .unwrap();
    assert!(
        f.message
            .starts_with("t.yaml:6:9: applications.a.to is a string"),
        "{}",
        f.message
    );
    assert!(out
        .checked
        .iter()
        .any(|c| c.check == Code::BundleDeprecated));
}
