//! Overlay merge rules, one test each, and hostile YAML.

use std::time::{Duration, Instant};

use preflight_bundle::{
    load, load_str, load_str_with, BundleError, JujuVersion, LoadOptions, Placement,
};

const BASE: &str = r#"
series: jammy
machines:
  "0": {constraints: mem=8G}
  "1":
applications:
  db:
    charm: ch:mysql
    num_units: 1
    to: ["0"]
    options: {a: 1, b: 2}
    bindings: {"": one, server: two}
  web:
    charm: ch:wordpress
    num_units: 2
    to: ["1"]
    constraints: cores=2
  cache:
    charm: ch:memcached
    num_units: 1
relations:
  - [web:db, db:server]
  - [web:cache, cache:cache]
"#;

#[test]
fn null_application_is_removed_with_its_relations() {
    let b = load_str(&[("b.yaml", BASE), ("o.yaml", "applications:\n  cache:\n")]).unwrap();
    assert!(!b.applications.contains_key("cache"));
    assert_eq!(b.relations.len(), 1);
    assert_eq!(b.relations[0].a.0, "web");
    assert_eq!(b.relations[0].b.0, "db");
}

#[test]
fn machines_section_replaces() {
    let b = load_str(&[
        ("b.yaml", BASE),
        (
            "o.yaml",
            "machines:\n  \"5\": {constraints: cores=8}\napplications:\n  db: {to: [\"5\"]}\n  web: {to: []}\n",
        ),
    ])
    .unwrap();
    assert_eq!(b.machines.keys().collect::<Vec<_>>(), ["5"]);
    assert_eq!(b.machines["5"].constraints.cores, Some(8));
    let b = load_str(&[
        ("b.yaml", BASE),
        (
            "o.yaml",
            "machines: {}\napplications:\n  db: {to: []}\n  web: {to: []}\n",
        ),
    ])
    .unwrap();
    assert!(b.machines.is_empty());
    // Without a `machines:` key the base's machines stay.
    let b = load_str(&[("b.yaml", BASE), ("o.yaml", "series: noble\n")]).unwrap();
    assert_eq!(b.machines.len(), 2);
    assert_eq!(b.series.as_deref(), Some("noble"));
}

#[test]
fn relations_append() {
    let b = load_str(&[
        ("b.yaml", BASE),
        ("o.yaml", "relations:\n  - [cache:x, db:y]\n"),
    ])
    .unwrap();
    assert_eq!(b.relations.len(), 3);
    assert_eq!(
        b.relations[2].a,
        ("cache".to_string(), Some("x".to_string()))
    );
}

#[test]
fn maps_merge_key_by_key_and_scalars_replace() {
    let b = load_str(&[
        ("b.yaml", BASE),
        ("o1.yaml", "applications:\n  db:\n    bindings: {\"\": three}\n    num_units: 3\n    to: [\"0\", \"1\"]\n"),
        ("o2.yaml", "applications:\n  db:\n    bindings: {cluster: four}\n    constraints: mem=2G\n"),
    ])
    .unwrap();
    let db = &b.applications["db"];
    assert_eq!(db.bindings.default.as_deref(), Some("three"));
    assert_eq!(
        db.bindings.endpoints.get("server").map(String::as_str),
        Some("two")
    );
    assert_eq!(
        db.bindings.endpoints.get("cluster").map(String::as_str),
        Some("four")
    );
    assert_eq!(db.num_units, 3);
    assert_eq!(db.to.len(), 2);
    assert_eq!(db.constraints.mem_mib, Some(2048));
    assert_eq!(db.charm, "ch:mysql");
    // Later overlays win over earlier ones.
    let b = load_str(&[
        ("b.yaml", BASE),
        ("o1.yaml", "applications:\n  web: {num_units: 5}\n"),
        ("o2.yaml", "applications:\n  web: {num_units: 1}\n"),
    ])
    .unwrap();
    assert_eq!(b.applications["web"].num_units, 1);
}

#[test]
fn overlay_adds_applications_which_need_a_charm() {
    let b = load_str(&[
        ("b.yaml", BASE),
        ("o.yaml", "applications:\n  extra: {charm: ch:ntp}\n"),
    ])
    .unwrap();
    assert!(b.applications.contains_key("extra"));
    let e = load_str(&[
        ("b.yaml", BASE),
        ("o.yaml", "applications:\n  extra: {num_units: 1}\n"),
    ])
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("o.yaml:2:"), "{e}");
    assert!(e.contains("no charm"), "{e}");
}

#[test]
fn empty_to_clears_placement_and_null_keeps_base() {
    let b = load_str(&[
        ("b.yaml", BASE),
        (
            "o.yaml",
            "machines: {}\napplications:\n  db:\n    to: []\n    options:\n    annotations:\n  web:\n    to: []\n",
        ),
    ])
    .unwrap();
    assert!(b.applications["db"].to.is_empty());
    assert_eq!(
        b.applications["db"].unit_placements(),
        vec![Placement::New { container: None }]
    );
}

#[test]
fn legacy_services_and_anchors_and_variables() {
    let text = "variables:\n  sp: &sp public\nservices:\n  a:\n    charm: cs:foo-3\n    num_units: 1\n    bindings: {\"\": *sp}\n";
    let v29 = LoadOptions {
        juju: JujuVersion::V2_9,
    };
    let b = load_str_with(&[("b.yaml", text)], &v29).unwrap();
    assert_eq!(b.applications["a"].bindings.default_space(), "public");
    assert_eq!(b.applications["a"].charm_name(), "foo");
    assert!(b.warnings.iter().any(|w| w.message.contains("services")));
    let e = load_str_with(&[("b.yaml", "services: {}\napplications: {}\n")], &v29).unwrap_err();
    assert!(e.to_string().contains("not both"), "{e}");
}

#[test]
fn placement_forms_and_replication() {
    let b = load_str(&[(
        "b.yaml",
        "machines: {'0': , '1': }\napplications:\n  a: {charm: a, num_units: 2, to: [0, 'lxd:1']}\n  b: {charm: b, num_units: 4, to: ['a/0', 'lxd:a', kvm:new]}\n  c: {charm: c, num_units: 2, to: [a]}\n",
    )])
    .unwrap();
    let p = b.applications["b"].unit_placements();
    assert_eq!(p.len(), 4);
    assert_eq!(
        p[0],
        Placement::Unit {
            container: None,
            application: "a".into(),
            unit: Some(0)
        }
    );
    assert_eq!(
        p[1],
        Placement::Unit {
            container: Some("lxd".into()),
            application: "a".into(),
            unit: Some(1)
        }
    );
    // (`a` without a number: the unit after the previous `a` unit in the list.)
    assert_eq!(
        p[2],
        Placement::New {
            container: Some("kvm".into())
        }
    );
    assert_eq!(
        p[3], p[2],
        "the last placement repeats for the remaining units"
    );
    for (bad, why) in [
        ("to: ['7']", "machine 7"),
        ("to: ['nosuch/0']", "not defined"),
        ("to: ['a/5']", "does not exist"),
        ("to: ['docker:0']", "container type"),
        ("to: ['0', '0', '0', '0', '0']", "too many units"),
        ("to: [{x: 1}]", "must be a string"),
    ] {
        let text = format!("machines: {{'0': }}\napplications:\n  a: {{charm: a, num_units: 2, to: ['0']}}\n  b:\n    charm: b\n    num_units: 4\n    {bad}\n");
        let e = load_str(&[("p.yaml", &text)]).unwrap_err().to_string();
        assert!(e.contains(why), "{bad}: {e}");
        assert!(e.starts_with("p.yaml:7:"), "{bad}: {e}");
    }
}

#[test]
fn wrong_types_name_file_line_column_and_field() {
    for (text, line, field) in [
        (
            "applications:\n  a:\n    charm: x\n    num_units: three\n",
            4,
            "applications.a.num_units",
        ),
        (
            "applications:\n  a:\n    charm: x\n    num_units: -1\n",
            4,
            "applications.a.num_units",
        ),
        (
            "applications:\n  a:\n    charm: x\n    bindings: [public]\n",
            4,
            "applications.a.bindings",
        ),
        (
            "applications:\n  a:\n    charm: x\n    bindings: {db: [x]}\n",
            4,
            "applications.a.bindings",
        ),
        (
            "applications:\n  a:\n    charm: [x]\n",
            3,
            "applications.a.charm",
        ),
        (
            "applications:\n  a:\n    charm: x\n    constraints: mem=lots\n",
            4,
            "applications.a.constraints",
        ),
        (
            "applications:\n  a:\n    charm: x\n    expose: maybe\n",
            4,
            "applications.a.expose",
        ),
        ("applications: [a, b]\n", 1, "applications"),
        ("machines:\n  x1: {}\n", 2, "machines"),
        ("relations:\n  - [a:b]\n", 2, "relations"),
        ("- just\n- a list\n", 1, "(document)"),
        (
            "applications:\n  a:\n    charm: x\n    num_units: 4000000000\n",
            4,
            "over preflight's limit",
        ),
    ] {
        let e = load_str(&[("w.yaml", text)]).unwrap_err();
        let first = e.problems()[0];
        assert!(
            matches!(first, BundleError::Invalid { .. }),
            "{text}: {e:?}"
        );
        let s = first.to_string();
        assert!(s.starts_with(&format!("w.yaml:{line}:")), "{text}: {s}");
        assert!(s.contains(field), "{text}: {s}");
    }
}

#[test]
fn duplicate_keys_are_errors_with_position() {
    let e = load_str(&[(
        "d.yaml",
        "applications:\n  a: {charm: x}\n  a: {charm: y}\n",
    )])
    .unwrap_err();
    assert!(matches!(e, BundleError::Yaml { .. }), "{e:?}");
    let s = e.to_string();
    assert!(s.starts_with("d.yaml:3:"), "{s}");
    assert!(s.contains("duplicate mapping key: a"), "{s}");
    assert!(!s.contains("DuplicateKeyPolicy"), "{s}");
}

#[test]
fn unknown_keys_warn_and_do_not_fail() {
    let b = load_str(&[(
        "u.yaml",
        "flavour: spicy\nmachines:\n  '0': {colour: red}\napplications:\n  a: {charm: a, num_units: 1, frobnicate: yes, to: ['0']}\n",
    )])
    .unwrap();
    let msgs: Vec<String> = b.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("u.yaml:1:") && m.contains("flavour")),
        "{msgs:?}"
    );
    assert!(msgs.iter().any(|m| m.contains("colour")), "{msgs:?}");
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("u.yaml:5:") && m.contains("frobnicate")),
        "{msgs:?}"
    );
}

/// Peak resident memory of this test process (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Runs hostile input: it must finish in bounded time (generous: a debug build on a shared,
/// loaded box; measured 0.1–3 s) and the process must stay under 512 MiB at its peak.
fn bounded<T>(f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "took {:?}",
        t.elapsed()
    );
    let rss = peak_rss_kib();
    assert!(rss < 512 * 1024, "peak RSS {rss} KiB");
    out
}

#[test]
fn alias_bomb_is_refused() {
    let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..12 {
        let prev = format!("*a{}", i - 1);
        text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
    }
    text.push_str("applications: {x: {charm: x, options: {bomb: *a11}}}\n");
    let e = bounded(|| load_str(&[("bomb.yaml", &text)])).unwrap_err();
    assert!(matches!(e, BundleError::Yaml { .. }), "{e:?}");
    assert!(e.to_string().starts_with("bomb.yaml:"), "{e}");
}

#[test]
fn deep_nesting_is_refused() {
    let flow = format!(
        "applications: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let e = bounded(|| load_str(&[("deep.yaml", &flow)])).unwrap_err();
    assert!(matches!(e, BundleError::Yaml { .. }), "{e:?}");
    let mut block = String::new();
    for i in 0..10_000 {
        block.push_str(&" ".repeat(i));
        block.push_str("k:\n");
    }
    let e = bounded(|| load_str(&[("deep2.yaml", &block)])).unwrap_err();
    assert!(matches!(e, BundleError::Yaml { .. }), "{e:?}");
    assert!(e.to_string().starts_with("deep2.yaml:"), "{e}");
}

#[test]
fn truncated_and_binary_input() {
    let e =
        load_str(&[("t.yaml", "applications:\n  a:\n    charm: \"unterminated\n")]).unwrap_err();
    assert!(e.to_string().starts_with("t.yaml:"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bin.yaml");
    std::fs::write(&p, [0xff, 0xfe, 0x00, 0x41]).unwrap();
    let e = load(&p, &[]).unwrap_err().to_string();
    assert!(e.contains("bin.yaml") && e.contains("UTF-8"), "{e}");
    let e = load(&dir.path().join("missing.yaml"), &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.yaml"), "{e}");
}

#[test]
fn fifty_megabyte_file_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.yaml");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
        f.write_all(b"applications:\n").unwrap();
        let mut written = 0usize;
        let mut i = 0u64;
        while written < 50 * 1024 * 1024 {
            let l = format!("  app-{i:036}: {{charm: x}}\n");
            f.write_all(l.as_bytes()).unwrap();
            written += l.len();
            i += 1;
        }
    }
    assert!(std::fs::metadata(&p).unwrap().len() >= 50 * 1024 * 1024);
    let e = bounded(|| load(&p, &[])).unwrap_err();
    assert!(matches!(e, BundleError::TooLarge { .. }), "{e:?}");
    assert!(e.to_string().contains("big.yaml"), "{e}");
}

#[test]
fn many_nodes_under_the_size_limit_are_refused_by_the_node_budget() {
    // 1.2 MB of tiny list items: far under the file-size cap, over the node budget.
    let mut text = String::from("applications:\n  a:\n    charm: a\n    options:\n      x:\n");
    text.push_str(&"      - 1\n".repeat(300_000));
    let e = bounded(|| load_str(&[("nodes.yaml", &text)])).unwrap_err();
    assert!(matches!(e, BundleError::Yaml { .. }), "{e:?}");
    assert!(e.to_string().contains("200000 nodes"), "{e}");
}
