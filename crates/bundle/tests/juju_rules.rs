//! Juju's bundle rules, one test per rule, on minimal hand-written bundles: what Juju accepts
//! loads, what Juju refuses fails with the exact message and position.

use std::path::Path;

use preflight_bundle::{
    load, load_str, load_str_with, load_with, BundleError, CharmMeta, CharmSet, JujuVersion,
    LoadOptions, Placement, WarningKind, MAX_ERRORS,
};

fn err(parts: &[(&str, &str)]) -> String {
    load_str(parts).unwrap_err().to_string()
}

fn v29() -> LoadOptions {
    LoadOptions {
        juju: JujuVersion::V2_9,
    }
}

#[test]
fn relations_may_name_saas_offers() {
    let text = "saas:\n  remote-db:\n    url: admin/other.mysql\napplications:\n  web: {charm: ch:wordpress, num_units: 1}\nrelations:\n  - [web:db, remote-db:db]\n";
    let b = load_str(&[("s.yaml", text)]).unwrap();
    assert_eq!(b.relations.len(), 1);
    assert_eq!(
        b.saas["remote-db"].url.as_deref(),
        Some("admin/other.mysql")
    );
    // Neither an application nor an offer: refused, naming both sections.
    let e = err(&[("s.yaml", &text.replace("remote-db:db]", "nowhere:db]"))]);
    assert_eq!(
        e,
        "s.yaml:7:5: relations: relation [\"web:db\" \"nowhere:db\"] refers to application \"nowhere\", which neither `applications:` nor `saas:` defines"
    );
    // An overlay removing the offer removes its relations too.
    let b = load_str(&[("s.yaml", text), ("o.yaml", "saas:\n  remote-db:\n")]).unwrap();
    assert!(b.saas.is_empty());
    assert!(b.relations.is_empty());
    // An application and an offer may not share a name.
    let e = err(&[(
        "s.yaml",
        "saas:\n  web: {url: a/b.c}\napplications:\n  web: {charm: ch:x, num_units: 1}\n",
    )]);
    assert!(e.starts_with("s.yaml:4:3: applications.web: "), "{e}");
    assert!(e.contains("SAAS \"web\" already exists"), "{e}");
}

#[test]
fn to_repeats_only_new_or_a_bare_application() {
    let text = |to: &str| {
        format!(
            "machines: {{'0': , '1': , '2': }}\napplications:\n  a: {{charm: a, num_units: 3, to: ['0', '1', '2']}}\n  b: {{charm: b, num_units: 5, to: [{to}]}}\n"
        )
    };
    let new = Placement::New { container: None };
    // A scale-out beyond the listed machines: the extra units get new machines.
    let b = load_str(&[("t.yaml", &text("'0', '1', '2'"))]).unwrap();
    let p = b.applications["b"].unit_placements();
    assert_eq!(p.len(), 5);
    assert_eq!(
        p[2],
        Placement::Machine {
            container: None,
            machine: "2".into()
        }
    );
    assert_eq!(&p[3..], &[new.clone(), new.clone()]);
    // `lxd:1` is a machine too: not repeated.
    let b = load_str(&[("t.yaml", &text("'0', 'lxd:1'"))]).unwrap();
    assert_eq!(
        &b.applications["b"].unit_placements()[2..],
        &[new.clone(), new.clone(), new]
    );
    // `lxd:new` repeats.
    let b = load_str(&[("t.yaml", &text("'0', 'lxd:new'"))]).unwrap();
    let p = b.applications["b"].unit_placements();
    assert!(p[1..].iter().all(|x| *x
        == Placement::New {
            container: Some("lxd".into())
        }));
    // A bare application name repeats, each time the next unit of it.
    let b = load_str(&[("t.yaml", &text("'lxd:a'"))]).unwrap();
    let units: Vec<Option<u32>> = b.applications["b"]
        .unit_placements()
        .into_iter()
        .map(|p| match p {
            Placement::Unit { unit, .. } => unit,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(units, [Some(0), Some(1), Some(2), Some(3), Some(4)]);
    // `a/1` names one unit: not repeated.
    let b = load_str(&[("t.yaml", &text("'0', 'a/1'"))]).unwrap();
    assert_eq!(
        b.applications["b"].unit_placements()[2],
        Placement::New { container: None }
    );
}

#[test]
fn a_scalar_to_is_ignored_with_a_warning() {
    let b = load_str(&[(
        "t.yaml",
        "applications:\n  a:\n    charm: a\n    num_units: 2\n    to: lxd:0\n",
    )])
    .unwrap();
    assert!(b.applications["a"].to.is_empty());
    assert_eq!(
        b.applications["a"].unit_placements(),
        vec![Placement::New { container: None }; 2]
    );
    assert_eq!(b.warnings.len(), 1);
    let w = &b.warnings[0];
    assert_eq!(w.kind, WarningKind::IgnoredField);
    assert_eq!(
        w.to_string(),
        "t.yaml:5:9: applications.a.to is a string \"lxd:0\", not a list: Juju ignores the field and puts every unit on a new machine (write `to: [lxd:0]` for a placement)"
    );
    // A scalar naming a machine: the machine is then unreferenced, which Juju refuses.
    let e = err(&[(
        "t.yaml",
        "machines: {'0': }\napplications:\n  a: {charm: a, num_units: 1, to: '0'}\n",
    )]);
    assert_eq!(
        e,
        "t.yaml:1:12: machines.0: machine 0 is not referred to by a placement directive (Juju refuses a bundle machine that no `to:` uses)"
    );
}

#[test]
fn services_in_an_overlay_is_refused_by_every_version() {
    let base = "applications:\n  a: {charm: a, num_units: 1}\n";
    let over = "services:\n  a: {num_units: 2}\n";
    for opts in [LoadOptions::default(), v29()] {
        let e = load_str_with(&[("b.yaml", base), ("o.yaml", over)], &opts)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "o.yaml:1:1: services: an overlay uses the deprecated `services` key, which Juju refuses in overlays: rename it `applications`",
            "{opts:?}"
        );
    }
}

#[test]
fn juju_versions_differ_on_services_and_cs() {
    let text = "series: focal\nservices:\n  a: {charm: cs:~u/foo-3, num_units: 1}\n";
    // 2.9: accepted, with deprecation warnings (services, cs:).
    let b = load_str_with(&[("v.yaml", text)], &v29()).unwrap();
    let kinds: Vec<(WarningKind, u64)> = b.warnings.iter().map(|w| (w.kind, w.pos.line)).collect();
    assert_eq!(
        kinds,
        [(WarningKind::Deprecated, 2), (WarningKind::Deprecated, 3)]
    );
    assert_eq!(b.applications["a"].charm_name(), "foo");
    assert_eq!(b.series.as_deref(), Some("focal"));
    // 3.x (the default): `services` refused (so the bundle has no applications either).
    let e = load_str(&[("v.yaml", text)]).unwrap_err();
    let msgs: Vec<String> = e.problems().iter().map(|p| p.to_string()).collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(
        msgs[0].starts_with("v.yaml:2:1: services: `services` is the legacy name"),
        "{msgs:?}"
    );
    assert!(
        msgs[1].starts_with("v.yaml:1:1: applications: the bundle has no applications"),
        "{msgs:?}"
    );
    // 3.x: `cs:` refused.
    let e = err(&[(
        "v.yaml",
        "applications:\n  a: {charm: cs:foo, num_units: 1}\n",
    )]);
    assert!(
        e.starts_with("v.yaml:2:14: applications.a.charm: charm URL \"cs:foo\" is a charm store (cs:) URL, which Juju 3 refuses"),
        "{e}"
    );
    // `series` (bundle, application, machine) is read by both, without warnings.
    for opts in [LoadOptions::default(), v29()] {
        let b = load_str_with(&[("v.yaml", "series: jammy\nmachines: {'0': {series: jammy}}\napplications:\n  a: {charm: a, num_units: 1, series: jammy, to: ['0']}\n")], &opts).unwrap();
        assert!(b.warnings.is_empty(), "{opts:?}: {:?}", b.warnings);
        assert_eq!(b.series.as_deref(), Some("jammy"));
    }
    assert_eq!("2.9".parse::<JujuVersion>(), Ok(JujuVersion::V2_9));
    assert_eq!("3.6".parse::<JujuVersion>(), Ok(JujuVersion::V3));
    assert!("2.8".parse::<JujuVersion>().is_err());
}

/// Each problem of a refused bundle, as printed.
fn problems(e: &BundleError) -> Vec<String> {
    e.problems().iter().map(|p| p.to_string()).collect()
}

#[test]
fn series_and_bases_follow_each_juju_version() {
    // bionic at every level: Juju 2.9 deploys it (under ESM), Juju 3 does not.
    let old = "series: bionic\nmachines: {'0': {series: bionic}}\napplications:\n  a: {charm: a, num_units: 1, series: bionic, to: ['0']}\n";
    let b = load_str_with(&[("s.yaml", old)], &v29()).unwrap();
    assert!(b.warnings.is_empty(), "{:?}", b.warnings);
    assert_eq!(b.series.as_deref(), Some("bionic"));
    let e = load_str(&[("s.yaml", old)]).unwrap_err();
    let p = problems(&e);
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(
        p[0].starts_with("s.yaml:1:9: series: bundle declares series \"bionic\" (ubuntu@18.04), which Juju 3 does not deploy workloads on"),
        "{p:?}"
    );
    assert!(
        p[1].starts_with(
            "s.yaml:2:26: machines.0.series: machine \"0\" declares series \"bionic\""
        ),
        "{p:?}"
    );
    assert!(
        p[2].starts_with(
            "s.yaml:4:39: applications.a.series: application \"a\" declares series \"bionic\""
        ),
        "{p:?}"
    );
    // Series neither version deploys, and names that are no series, are refused by both.
    for opts in [LoadOptions::default(), v29()] {
        let e = load_str_with(
            &[(
                "s.yaml",
                "series: precise\napplications:\n  a: {charm: a, num_units: 1}\n",
            )],
            &opts,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("s.yaml:1:9: series: bundle declares series \"precise\""),
            "{e}"
        );
        let e = load_str_with(
            &[(
                "s.yaml",
                "series: Jammy-22\napplications:\n  a: {charm: a, num_units: 1}\n",
            )],
            &opts,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("s.yaml:1:9: series: bundle declares an invalid series \"Jammy-22\""),
            "{e}"
        );
    }
    // Bases: Juju 3 reads them, and a series beside a base must name the same release.
    let based = "default-base: ubuntu@22.04\nmachines: {'0': {base: ubuntu@24.04/stable}}\napplications:\n  a: {charm: a, num_units: 1, base: ubuntu@22.04, to: ['0']}\n";
    let b = load_str(&[("b.yaml", based)]).unwrap();
    assert!(b.warnings.is_empty(), "{:?}", b.warnings);
    assert_eq!(b.default_base.as_deref(), Some("ubuntu@22.04"));
    let e = err(&[(
        "b.yaml",
        &based.replace(
            "default-base: ubuntu@22.04",
            "series: focal\ndefault-base: ubuntu@22.04",
        ),
    )]);
    assert_eq!(
        e,
        "b.yaml:2:15: default-base: bundle series \"focal\" and base \"ubuntu@22.04\" must match if both supplied"
    );
    let e = err(&[(
        "b.yaml",
        &based.replace("ubuntu@24.04/stable", "ubuntu@18.04"),
    )]);
    assert!(
        e.starts_with("b.yaml:2:24: machines.0.base: machine \"0\" has base \"ubuntu@18.04\" (bionic), which Juju 3 does not deploy"),
        "{e}"
    );
    let e = err(&[(
        "b.yaml",
        &based.replace("base: ubuntu@22.04,", "base: jammy,"),
    )]);
    assert!(
        e.starts_with(
            "b.yaml:4:37: applications.a.base: application \"a\" has an invalid base \"jammy\""
        ),
        "{e}"
    );
    // Juju 2.9's bundle data has no base fields: ignored, each an unknown-key warning.
    let b = load_str_with(&[("b.yaml", based)], &v29()).unwrap();
    let w: Vec<(WarningKind, Option<&str>, u64)> = b
        .warnings
        .iter()
        .map(|w| (w.kind, w.application.as_deref(), w.pos.line))
        .collect();
    assert_eq!(
        w,
        [
            (WarningKind::UnknownKey, None, 1),
            (WarningKind::UnknownKey, None, 2),
            (WarningKind::UnknownKey, Some("a"), 4)
        ]
    );
    assert!(
        b.warnings[0]
            .message
            .contains("`default-base: ubuntu@22.04` is not a Juju 2.9 bundle field"),
        "{}",
        b.warnings[0].message
    );
    assert_eq!(b.default_base, None);
    // Under 2.9 a base is not read, so it cannot conflict with the series.
    assert!(load_str_with(
        &[(
            "b.yaml",
            &based.replace(
                "default-base: ubuntu@22.04",
                "series: focal\ndefault-base: ubuntu@22.04"
            )
        )],
        &v29()
    )
    .is_ok());
}

#[test]
fn multi_document_files_are_bundle_then_overlays() {
    let text = "applications:\n  a: {charm: a, num_units: 1}\n---\napplications:\n  a: {num_units: 3}\n  b: {charm: b, num_units: 1}\n---\nrelations:\n  - [a, b]\n";
    let b = load_str(&[("m.yaml", text)]).unwrap();
    assert_eq!(b.applications["a"].num_units, 3);
    assert!(b.applications.contains_key("b"));
    assert_eq!(b.relations.len(), 1);
    // A later document is an overlay: `services:` there is refused, with its line.
    let e = err(&[(
        "m.yaml",
        "applications:\n  a: {charm: a, num_units: 1}\n---\nservices:\n  a: {num_units: 2}\n",
    )]);
    assert!(
        e.starts_with("m.yaml:4:1: services: an overlay uses"),
        "{e}"
    );
    // Overlay files may be multi-document too; their documents apply in order.
    let b = load_str(&[
        ("m.yaml", "applications:\n  a: {charm: a, num_units: 1}\n"),
        (
            "o.yaml",
            "applications:\n  a: {num_units: 2}\n---\napplications:\n  a: {num_units: 4}\n",
        ),
    ])
    .unwrap();
    assert_eq!(b.applications["a"].num_units, 4);
    // A syntax error in document 2 names its line.
    let e = err(&[(
        "m.yaml",
        "applications:\n  a: {charm: a, num_units: 1}\n---\napplications: [\n",
    )]);
    assert!(e.starts_with("m.yaml:"), "{e}");
    assert!(!e.starts_with("m.yaml:1:"), "{e}");
    // Hostile: a document-separator storm stops at the document budget, fast.
    let mut storm = String::from("applications:\n  a: {charm: a, num_units: 1}\n");
    for i in 0..5000 {
        storm.push_str(&format!(
            "---\napplications:\n  a: {{num_units: {}}}\n",
            i % 5 + 1
        ));
    }
    let t = std::time::Instant::now();
    let e = err(&[("storm.yaml", &storm)]);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
    assert!(e.starts_with("storm.yaml:"), "{e}");
    assert!(e.contains("more than 1024 documents"), "{e}");
    // Up to the budget, every document applies.
    let mut fine = String::from("applications:\n  a: {charm: a, num_units: 1}\n");
    for _ in 0..1000 {
        fine.push_str("---\nrelations: []\n");
    }
    fine.push_str("---\napplications:\n  a: {num_units: 7}\n");
    assert_eq!(
        load_str(&[("fine.yaml", &fine)]).unwrap().applications["a"].num_units,
        7
    );
}

#[test]
fn empty_bundles_are_refused() {
    for text in ["", "\n", "# nothing\n", "---\n", "---\n---\n", "~\n"] {
        assert_eq!(
            err(&[("e.yaml", text)]),
            "e.yaml:1:1: (document): empty bundle: the file holds no YAML document (Juju refuses it: \"bundle is empty\")",
            "{text:?}"
        );
    }
    for text in ["applications: {}\n", "series: jammy\n", "applications:\n"] {
        let e = load_str(&[("e.yaml", text)]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "e.yaml:1:1: applications: the bundle has no applications (Juju: \"at least one application must be specified\")",
            "{text:?}"
        );
    }
    // An overlay that removes every application leaves an empty bundle.
    let e = err(&[
        ("b.yaml", "applications:\n  a: {charm: a, num_units: 1}\n"),
        ("o.yaml", "applications:\n  a:\n"),
    ]);
    assert!(e.contains("no applications"), "{e}");
}

#[test]
fn revisions_inside_charmhub_urls_are_refused() {
    for (charm, col) in [
        ("ch:keystone-300", 14),
        ("keystone-300", 14),
        ("ch:amd64/jammy/keystone-3", 14),
    ] {
        let text = format!("applications:\n  a: {{charm: {charm}, num_units: 1}}\n");
        let e = err(&[("r.yaml", &text)]);
        assert!(
            e.starts_with(&format!(
                "r.yaml:2:{col}: applications.a.charm: cannot specify revision in \"{charm}\""
            )),
            "{e}"
        );
    }
    // Names with digits but no revision are fine; `revision:` needs a channel.
    let b = load_str(&[("r.yaml", "applications:\n  a: {charm: ch:mysql-router, num_units: 1}\n  b: {charm: ch:k8s2, revision: 3, channel: stable, num_units: 1}\n")]).unwrap();
    assert_eq!(b.applications["a"].charm_name(), "mysql-router");
    let e = err(&[(
        "r.yaml",
        "applications:\n  a: {charm: ch:x, revision: 3, num_units: 1}\n",
    )]);
    assert_eq!(e, "r.yaml:2:30: applications.a.revision: application \"a\" with a revision requires a channel for future upgrades, please use channel");
    let e = err(&[(
        "r.yaml",
        "applications:\n  a: {charm: ch:x, revision: -1, channel: stable, num_units: 1}\n",
    )]);
    assert!(e.contains("must be zero or greater"), "{e}");
}

#[test]
fn machines_no_placement_uses_are_refused() {
    let e = load_str(&[(
        "u.yaml",
        "machines:\n  '0': {}\n  '1': {}\n  '2': {}\napplications:\n  a: {charm: a, num_units: 2, to: ['lxd:1', 'b/0']}\n  b: {charm: b, num_units: 1, to: ['0']}\n",
    )])
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "u.yaml:4:3: machines.2: machine 2 is not referred to by a placement directive (Juju refuses a bundle machine that no `to:` uses)"
    );
}

#[test]
fn every_problem_is_listed_with_its_position_up_to_the_bound() {
    let e = load_str(&[(
        "many.yaml",
        "machines:\n  x: {}\napplications:\n  a: {charm: a, num_units: two}\n  b: {charm: b, num_units: 1, to: ['9']}\n  c: {num_units: 1}\nrelations:\n  - [a, nowhere]\n",
    )])
    .unwrap_err();
    let msgs: Vec<String> = e.problems().iter().map(|p| p.to_string()).collect();
    assert_eq!(
        msgs,
        [
            "many.yaml:2:3: machines: invalid machine id \"x\": bundle machine ids are non-negative integers",
            "many.yaml:4:28: applications.a.num_units: must be a non-negative integer, not a string",
            "many.yaml:6:3: applications.c.charm: no charm given (an application an overlay adds needs its own `charm:`)",
            "many.yaml:5:35: applications.b.to: placement 9 refers to machine 9, which the bundle's `machines:` does not define",
            "many.yaml:8:5: relations: relation [\"a\" \"nowhere\"] refers to application \"nowhere\", which neither `applications:` nor `saas:` defines",
        ]
    );
    assert!(
        e.to_string().starts_with("5 problems:\n  many.yaml:2:3: "),
        "{e}"
    );
    // Hostile: thousands of bad relations are bounded.
    let mut text = String::from("applications:\n  a: {charm: a, num_units: 1}\nrelations:\n");
    for i in 0..2000 {
        text.push_str(&format!("  - [a, missing{i}]\n"));
    }
    let e = load_str(&[("h.yaml", &text)]).unwrap_err();
    match &e {
        BundleError::Many { errors, more } => {
            assert_eq!(errors.len(), MAX_ERRORS);
            assert_eq!(*more, 2000 - MAX_ERRORS);
        }
        other => panic!("{other:?}"),
    }
    assert!(e
        .to_string()
        .ends_with(&format!("... and {} more", 2000 - MAX_ERRORS)));
}

#[test]
fn local_charm_paths_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("mycharm")).unwrap();
    let bundle = dir.path().join("bundle.yaml");
    std::fs::write(
        &bundle,
        "applications:\n  a: {charm: ./mycharm, num_units: 1}\n  b: {charm: ./missing, num_units: 1}\n",
    )
    .unwrap();
    let e = load(&bundle, &[]).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}:3:14: applications.b.charm: charm path in application \"b\" does not exist: {}",
            bundle.display(),
            dir.path().join("./missing").display()
        )
    );
    // Relative to the file that names it: an overlay elsewhere resolves against its own dir.
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::create_dir(sub.join("missing")).unwrap();
    let overlay = sub.join("o.yaml");
    std::fs::write(&overlay, "applications:\n  b: {charm: ./missing}\n").unwrap();
    let b = load_with(&bundle, &[overlay], &LoadOptions::default()).unwrap();
    assert_eq!(b.applications["b"].charm_name(), "missing");
}

#[test]
fn charm_metadata_duplicate_keys_warn_and_the_last_wins() {
    let m = CharmMeta::parse(
        Path::new("metadata.yaml"),
        "name: ceph-mon\nprovides:\n  nrpe-external-master: {interface: nrpe-external-master}\n  admin: {interface: ceph-admin}\n  nrpe-external-master: {interface: nrpe-v2}\n",
    )
    .unwrap();
    assert_eq!(
        m.relations.get("nrpe-external-master").map(String::as_str),
        Some("nrpe-v2")
    );
    assert!(m.relations.contains_key("admin"));
    // A duplicated section: the last one is the whole section.
    let m = CharmMeta::parse(
        Path::new("metadata.yaml"),
        "name: mon\nprovides:\n  old: {interface: x}\nprovides:\n  admin: {interface: y}\n",
    )
    .unwrap();
    assert_eq!(m.relations.keys().collect::<Vec<_>>(), ["admin"]);
    let m = CharmMeta::parse(
        Path::new("metadata.yaml"),
        "name: ceph-mon\nprovides:\n  nrpe-external-master: {interface: nrpe-external-master}\n  admin: {interface: ceph-admin}\n  nrpe-external-master: {interface: nrpe-v2}\n",
    )
    .unwrap();
    let w = m.duplicate.clone().unwrap();
    assert_eq!(w.kind, WarningKind::DuplicateKey);
    assert_eq!((w.pos.line, w.pos.column), (5, 3));
    assert!(
        w.to_string()
            .starts_with("metadata.yaml:5:3: charm metadata has a duplicate key"),
        "{w}"
    );
    assert!(w.message.contains("nrpe-external-master"), "{w}");
    // Bundles keep duplicate keys as errors.
    let e = err(&[(
        "d.yaml",
        "applications:\n  a: {charm: a}\n  a: {charm: b}\n",
    )]);
    assert!(e.starts_with("d.yaml:3:"), "{e}");
}

#[test]
fn charm_metadata_matches_by_url_name_or_directory_and_unused_dirs_warn() {
    let root = tempfile::tempdir().unwrap();
    for (dir, name) in [
        ("keystone", "keystone"),
        ("my-mon", "ceph-mon-fork"),
        ("unused", "nothing-uses-me"),
    ] {
        let d = root.path().join(dir);
        std::fs::create_dir(&d).unwrap();
        std::fs::write(
            d.join("metadata.yaml"),
            format!("name: {name}\nprovides: {{x: {{interface: y}}}}\n"),
        )
        .unwrap();
    }
    let set = CharmSet::load_dirs(&[root.path().to_path_buf()]).unwrap();
    let b = load_str(&[(
        "b.yaml",
        "applications:\n  ks: {charm: ch:keystone, num_units: 1}\n  mon: {charm: ch:my-mon, num_units: 1}\n  other: {charm: ch:other, num_units: 1}\n",
    )])
    .unwrap();
    assert_eq!(
        set.for_application(&b.applications["ks"]).unwrap().name,
        "keystone"
    );
    assert_eq!(
        set.for_application(&b.applications["mon"]).unwrap().name,
        "ceph-mon-fork"
    );
    assert!(set.for_application(&b.applications["other"]).is_none());
    let w = set.warnings(&b);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].kind, WarningKind::UnusedCharm);
    assert!(
        w[0].message
            .starts_with("charm \"nothing-uses-me\" (directory unused) matches no application"),
        "{}",
        w[0]
    );
}
