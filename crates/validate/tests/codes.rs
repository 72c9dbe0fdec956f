//! One hand-made bundle per finding code against a hand-made MAAS: exactly the expected codes
//! and subjects, and nothing on a bundle that fits.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use preflight_bundle::{load_str, CharmMeta, CharmSet};
use preflight_model::provider::ProviderModel;
use preflight_model::report::{Code, Finding, Severity, Subject};
use preflight_validate::{check_machine_map, parse_machine_map, validate, ValidateOutcome};

fn run_with(
    yaml: &str,
    model: &ProviderModel,
    charms: Option<&CharmSet>,
    map: &[&str],
) -> ValidateOutcome {
    let bundle = load_str(&[("t.yaml", yaml)]).unwrap();
    let map = parse_machine_map(&map.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    check_machine_map(&bundle, model, &map).unwrap();
    validate(&bundle, charms, model, &map)
}

fn run(yaml: &str) -> ValidateOutcome {
    run_with(yaml, &common::reference().build(), None, &[])
}

fn subj(
    app: Option<&str>,
    space: Option<&str>,
    endpoint: Option<&str>,
    machine: Option<&str>,
) -> Subject {
    Subject {
        application: app.map(Into::into),
        space: space.map(Into::into),
        endpoint: endpoint.map(Into::into),
        machine: machine.map(Into::into),
        ..Subject::default()
    }
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

fn only(out: &ValidateOutcome, code: Code) -> Vec<Finding> {
    out.findings
        .iter()
        .filter(|f| f.code == code)
        .cloned()
        .collect()
}

const FITS: &str = r#"
machines:
  "0": {constraints: spaces=storage}
applications:
  web:
    charm: ch:web
    num_units: 2
    constraints: mem=8G cores=4 arch=amd64 zones=z1,z2
    bindings: {"": public, db: internal}
  store:
    charm: ch:store
    num_units: 1
    to: ["lxd:0"]
    bindings: {"": storage, api: public}
  sub:
    charm: ch:sub
    bindings: {"": internal}
  plain:
    charm: ch:plain
    num_units: 1
    to: [web/1]
"#;

#[test]
fn a_bundle_that_fits_has_no_findings_and_records_what_was_checked() {
    let out = run(FITS);
    assert_eq!(codes_of(&out), vec![], "{:#?}", out.findings);
    let checked: Vec<(Code, Subject)> = out
        .checked
        .iter()
        .map(|c| (c.check.clone(), c.subject.clone()))
        .collect();
    let app = |a: &str| subj(Some(a), None, None, None);
    for (code, s) in [
        (Code::BindingUnknownSpace, app("web")),
        (Code::BindingUnknownSpace, app("sub")),
        (Code::ConstraintSpaceConflict, app("store")),
        (Code::ConstraintUnsatisfiable, app("web")),
        (Code::BindingCapacity, app("web")),
        (Code::PlacementMissingSpace, app("store")),
        (Code::PlacementMissingSpace, app("plain")),
        (
            Code::ConstraintUnsatisfiable,
            subj(None, None, None, Some("0")),
        ),
        (Code::SpaceEmpty, subj(None, Some("storage"), None, None)),
        (Code::SubnetOverlap, Subject::default()),
        (Code::SubnetNoSpace, Subject::default()),
    ] {
        assert!(
            checked.contains(&(code.clone(), s.clone())),
            "{code} {s:?} not checked"
        );
    }
    // Not evaluated: no metadata; no new machines for store; no placement for web.
    assert!(!checked
        .iter()
        .any(|(c, _)| *c == Code::BindingUnknownEndpoint));
    assert!(!checked.contains(&(Code::ConstraintUnsatisfiable, app("store"))));
    assert!(!checked.contains(&(Code::PlacementMissingSpace, app("web"))));
}

#[test]
fn binding_unknown_space() {
    let out = run(
        "applications:\n  a: {charm: a, num_units: 0, bindings: {\"\": public, db: nowhere}}\n",
    );
    assert_eq!(
        codes_of(&out),
        vec![(
            Code::BindingUnknownSpace,
            Severity::Error,
            subj(Some("a"), Some("nowhere"), Some("db"), None)
        )]
    );
    let f = &out.findings[0];
    assert!(
        f.message.contains("\"nowhere\"") && f.message.contains("db"),
        "{}",
        f.message
    );
    assert!(
        f.hint
            .as_deref()
            .unwrap()
            .contains("internal, public, storage"),
        "{:?}",
        f.hint
    );
    // alpha, Juju's default space, is never unknown.
    assert!(
        run("applications:\n  a: {charm: a, num_units: 1, bindings: {\"\": alpha}}\n")
            .findings
            .is_empty()
    );
}

#[test]
fn binding_unknown_endpoint_only_with_metadata() {
    let yaml = "applications:\n  a: {charm: ch:thing, num_units: 0, bindings: {\"\": public, db: internal, admin: internal, bogus: public}}\n";
    let meta = CharmMeta::parse(
        Path::new("metadata.yaml"),
        "name: thing\nrequires: {db: mysql}\nextra-bindings: {admin: }\n",
    )
    .unwrap();
    let mut set = CharmSet::default();
    set.insert(meta);
    let out = run_with(yaml, &common::reference().build(), Some(&set), &[]);
    assert_eq!(
        codes_of(&out),
        vec![(
            Code::BindingUnknownEndpoint,
            Severity::Error,
            subj(Some("a"), None, Some("bogus"), None)
        )]
    );
    assert!(out.findings[0]
        .hint
        .as_deref()
        .unwrap()
        .contains("admin, db"));
    // Without metadata the same bundle passes, and the check is not recorded as evaluated.
    let out = run(yaml);
    assert!(out.findings.is_empty());
    assert!(!out
        .checked
        .iter()
        .any(|c| c.check == Code::BindingUnknownEndpoint));
    // Metadata for another charm: not evaluated either.
    let out = run_with(
        &yaml.replace("ch:thing", "ch:other"),
        &common::reference().build(),
        Some(&set),
        &[],
    );
    assert!(out.findings.is_empty());
}

#[test]
fn constraint_space_conflict() {
    let out = run("applications:\n  a: {charm: a, num_units: 1, constraints: 'spaces=^storage', bindings: {\"\": public, db: storage}}\n");
    assert_eq!(
        codes_of(&out),
        vec![(
            Code::ConstraintSpaceConflict,
            Severity::Error,
            subj(Some("a"), Some("storage"), None, None)
        )]
    );
    assert!(
        out.findings[0].message.contains("db"),
        "{}",
        out.findings[0].message
    );
}

#[test]
fn constraint_unsatisfiable_names_the_eliminating_constraint() {
    let out = run("applications:\n  a: {charm: a, num_units: 1, constraints: cores=4 mem=64G}\n");
    assert_eq!(
        codes_of(&out),
        vec![(
            Code::ConstraintUnsatisfiable,
            Severity::Error,
            subj(Some("a"), None, None, None)
        )]
    );
    let m = &out.findings[0].message;
    assert!(
        m.contains("mem=64G eliminated the last 6 candidate(s)"),
        "{m}"
    );
    assert!(out.findings[0]
        .hint
        .as_deref()
        .unwrap()
        .contains("relax mem=64G"));

    // The bound space is what eliminates: storage machines are z2, the constraint asks z1.
    let out = run("applications:\n  a: {charm: a, num_units: 1, constraints: zones=z1, bindings: {\"\": public, data: storage}}\n");
    assert_eq!(codes_of(&out).len(), 1, "{:#?}", out.findings);
    let m = &out.findings[0].message;
    assert!(
        m.contains("space storage (bound: data) eliminated the last 3 candidate(s)"),
        "{m}"
    );

    // Each evaluated key: tags (with ^), arch, root-disk, cpu-power, a spaces constraint.
    for (cons, needle) in [
        (
            "tags=ssd,^virtual zones=z1",
            "zones=z1 eliminated the last 1",
        ),
        ("root-disk=1T", "root-disk=1T eliminated the last 6"),
        (
            "zones=z1 spaces=storage",
            "spaces=storage eliminated the last 3",
        ),
        (
            "tags=^ssd cores=8 spaces=^public",
            "spaces=^public eliminated the last 5",
        ),
        ("arch=arm64", "arch=arm64 eliminated the last 6"),
        ("cpu-power=2000", "cpu-power=2000 eliminated the last 6"),
        ("tags=gpu", "tags=gpu eliminated the last 6"),
    ] {
        let out = run(&format!(
            "applications:\n  a: {{charm: a, num_units: 1, constraints: '{cons}'}}\n"
        ));
        let f = only(&out, Code::ConstraintUnsatisfiable);
        assert_eq!(f.len(), 1, "{cons}: {:#?}", out.findings);
        assert!(f[0].message.contains(needle), "{cons}: {}", f[0].message);
    }
    // Only Ready/Allocated/Deployed machines count.
    let mut b = common::reference();
    for m in &mut b.model.machines {
        m.status = "Broken".into();
    }
    let out = run_with(
        "applications:\n  a: {charm: a, num_units: 1}\n",
        &b.build(),
        None,
        &[],
    );
    let f = only(&out, Code::ConstraintUnsatisfiable);
    assert!(
        f[0].message
            .contains("MAAS has no machine in Ready, Allocated, Deployed"),
        "{}",
        f[0].message
    );
}

#[test]
fn bundle_machine_with_unsatisfiable_constraints() {
    let out = run("machines:\n  '3': {constraints: mem=1T}\napplications:\n  a: {charm: a, num_units: 1, to: ['3']}\n");
    assert_eq!(
        codes_of(&out),
        vec![(
            Code::ConstraintUnsatisfiable,
            Severity::Error,
            subj(None, None, None, Some("3"))
        )]
    );
    assert!(out.findings[0].message.contains("mem=1T eliminated"));
}

#[test]
fn placement_missing_space_error_and_warning_and_machine_map() {
    // Warning: 2 of the 6 candidates of machine 0 have storage.
    let yaml = "machines:\n  '0':\napplications:\n  a: {charm: a, num_units: 1, to: ['lxd:0'], bindings: {\"\": storage}}\n";
    let out = run(yaml);
    assert_eq!(
        codes_of(&out),
        vec![(
            Code::PlacementMissingSpace,
            Severity::Warning,
            subj(Some("a"), Some("storage"), None, Some("0"))
        )]
    );
    assert!(
        out.findings[0].message.contains("only 2 of its 6"),
        "{}",
        out.findings[0].message
    );
    assert!(out.findings[0]
        .hint
        .as_deref()
        .unwrap()
        .contains("add spaces=storage to machine 0"));
    // Error: machine 0's constraints (zone z1) leave no candidate with storage.
    let out = run(&yaml.replace("'0':\n", "'0': {constraints: zones=z1}\n"));
    assert_eq!(
        codes_of(&out),
        vec![(
            Code::PlacementMissingSpace,
            Severity::Error,
            subj(Some("a"), Some("storage"), None, Some("0"))
        )]
    );
    // Pinned to a machine with storage: fine; to one without: error naming --machine-map.
    let model = common::reference().build();
    assert!(run_with(yaml, &model, None, &["0=m5"]).findings.is_empty());
    let out = run_with(yaml, &model, None, &["0=m1"]);
    assert_eq!(
        codes_of(&out),
        vec![(
            Code::PlacementMissingSpace,
            Severity::Error,
            subj(Some("a"), Some("storage"), None, Some("0"))
        )]
    );
    assert!(out.findings[0]
        .hint
        .as_deref()
        .unwrap()
        .contains("--machine-map 0="));
    // Placed beside another application's unit on a new machine: that app's candidates count.
    let out = run("applications:\n  host: {charm: h, num_units: 1, constraints: zones=z1}\n  a: {charm: a, num_units: 1, to: [host/0], bindings: {\"\": storage}}\n");
    assert_eq!(
        codes_of(&out),
        vec![(
            Code::PlacementMissingSpace,
            Severity::Error,
            subj(Some("a"), Some("storage"), None, None)
        )]
    );
}

#[test]
fn binding_capacity_single_and_competing() {
    let out = run("applications:\n  a: {charm: a, num_units: 3, bindings: {\"\": storage}}\n");
    assert_eq!(
        codes_of(&out),
        vec![(
            Code::BindingCapacity,
            Severity::Error,
            subj(Some("a"), None, None, None)
        )]
    );
    assert!(
        out.findings[0]
            .message
            .contains("needs 3 new machine(s), but only 2 MAAS machine(s)"),
        "{}",
        out.findings[0].message
    );
    // Each fits alone (2 ≤ 2), together they need 4 of the same 2.
    let out = run("applications:\n  a: {charm: a, num_units: 1, bindings: {\"\": storage}}\n  b: {charm: b, num_units: 2, bindings: {\"\": storage}}\n");
    let f = only(&out, Code::BindingCapacity);
    assert_eq!(f.len(), 1, "{:#?}", out.findings);
    assert!(
        f[0].message.contains("competes for them with"),
        "{}",
        f[0].message
    );
    // Bundle machines take machines too: 6 bundle machines + 1 new unit > 6 MAAS machines.
    let out = run("machines: {'0': , '1': , '2': , '3': , '4': , '5': }\napplications:\n  a: {charm: a, num_units: 1}\n");
    assert_eq!(
        only(&out, Code::BindingCapacity).len(),
        1,
        "{:#?}",
        out.findings
    );
    // ... unless one is pinned to a machine (then it leaves the pool but serves itself).
    let out = run_with(
        "machines: {'0': , '1': , '2': , '3': , '4': }\napplications:\n  a: {charm: a, num_units: 1}\n",
        &common::reference().build(),
        None,
        &["0=m1"],
    );
    assert!(out.findings.is_empty(), "{:#?}", out.findings);
}

#[test]
fn subnet_no_space_and_overlap_and_space_empty() {
    let mut b = common::reference();
    b.vlan(14, 0, 100, None).subnet(24, "10.100.0.0/24", 14);
    b.vlan(15, 1, 0, Some(1)).subnet(25, "10.0.1.128/25", 15);
    b.space(4, "empty").space(5, "lonely");
    b.vlan(16, 0, 50, Some(5)).subnet(26, "10.0.5.0/24", 16);
    b.machine("m7", "Deployed", &[21, 24]);
    let model = b.build();
    let out = run_with(
        "applications:\n  s: {charm: s, bindings: {\"\": empty, x: lonely, y: public}}\n",
        &model,
        None,
        &[],
    );
    let sub = |s: &str| Subject {
        subnet: Some(s.into()),
        ..Subject::default()
    };
    assert_eq!(
        codes_of(&out),
        vec![
            (
                Code::SpaceEmpty,
                Severity::Warning,
                subj(None, Some("empty"), None, None)
            ),
            (
                Code::SpaceEmpty,
                Severity::Warning,
                subj(None, Some("lonely"), None, None)
            ),
            (Code::SubnetNoSpace, Severity::Warning, sub("10.100.0.0/24")),
            (
                Code::SubnetOverlap,
                Severity::Warning,
                sub("10.0.1.0/24 (id 21)")
            ),
        ]
    );
    let overlap = only(&out, Code::SubnetOverlap);
    assert!(
        overlap[0]
            .message
            .contains("10.0.1.128/25 (id 25, fabric fabric-1)"),
        "{}",
        overlap[0].message
    );
    let empty = only(&out, Code::SpaceEmpty);
    assert!(empty.iter().any(|f| f.message.contains("has no subnets")));
    assert!(empty
        .iter()
        .any(|f| f.message.contains("no machine links into it")));
    let nospace = only(&out, Code::SubnetNoSpace);
    assert!(nospace[0].message.contains("host-m7"));
}

#[test]
fn machine_map_errors() {
    let bundle = load_str(&[(
        "t.yaml",
        "machines: {'0': }\napplications: {a: {charm: a}}\n",
    )])
    .unwrap();
    let model = common::reference().build();
    let map = |items: &[&str]| {
        parse_machine_map(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    };
    assert!(map(&["0"]).is_err());
    assert!(map(&["x=m1"]).is_err());
    assert!(map(&["0=m1", "0=m2"]).is_err());
    assert!(map(&["0=m1", "1=m1"]).is_err());
    let e = check_machine_map(&bundle, &model, &map(&["7=m1"]).unwrap()).unwrap_err();
    assert!(e.to_string().contains("no machine 7"), "{e}");
    let e = check_machine_map(&bundle, &model, &map(&["0=zzz"]).unwrap()).unwrap_err();
    assert!(e.to_string().contains("system_id zzz"), "{e}");
    assert!(check_machine_map(&bundle, &model, &map(&["0=m1"]).unwrap()).is_ok());
    let _ = BTreeMap::<String, String>::new();
}
