//! `preflight validate` reads bundles as Juju does, end to end: hand-written bundles and a
//! hand-written MAAS snapshot in, exact exit codes, errors and findings out.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use preflight_e2e::{exit_code as code, validate as preflight};
use serde_json::{json, Value};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("validate-juju-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(name: &str, text: &str) -> PathBuf {
    let p = dir().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A MAAS snapshot (API 2.0 shapes): one VLAN and subnet per space, machines with the given
/// statuses, each linked into every space.
fn snapshot(name: &str, statuses: &[&str], spaces: &[&str]) -> PathBuf {
    let mut vlans = Vec::new();
    let mut subnets = Vec::new();
    for (i, s) in spaces.iter().enumerate() {
        let vlan = json!({"id": 5000 + i, "vid": 10 + i, "name": null, "mtu": 1500, "fabric_id": 0, "fabric": "fabric-0", "space": s});
        subnets.push(json!({"id": i + 1, "name": format!("net-{i}"), "cidr": format!("10.{}.0.0/16", 10 + i), "vlan": vlan, "space": s, "managed": true}));
        vlans.push(vlan);
    }
    let machines: Vec<Value> = statuses
        .iter()
        .enumerate()
        .map(|(m, status)| {
            let ifaces: Vec<Value> = vlans
                .iter()
                .enumerate()
                .map(|(i, v)| json!({
                    "id": m * 16 + i, "name": format!("eth{i}"), "type": "physical", "enabled": true,
                    "vlan": v, "effective_mtu": 1500, "parents": [], "children": [], "params": {},
                    "links": [{"id": m * 16 + i, "mode": "auto", "subnet": {"id": i + 1}}]
                }))
                .collect();
            json!({
                "system_id": format!("s{m:03}"), "hostname": format!("node-{m}"), "status_name": status,
                "architecture": "amd64/generic", "cpu_count": 8, "memory": 32768,
                "boot_disk": {"size": 500_000_000_000u64}, "zone": {"name": "default"},
                "pool": {"name": "default"}, "tag_names": [], "interface_set": ifaces
            })
        })
        .collect();
    let snap = json!({
        "spaces": spaces.iter().enumerate().map(|(i, s)| json!({"id": i + 1, "name": s})).collect::<Vec<_>>(),
        "fabrics": [{"id": 0, "name": "fabric-0"}],
        "vlans": {"0": vlans},
        "subnets": subnets,
        "machines": machines,
    });
    let p = dir().join(name);
    std::fs::write(&p, serde_json::to_vec(&snap).unwrap()).unwrap();
    p
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn findings(o: &Output) -> Vec<(String, String, Value)> {
    let r: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stderr(o)));
    let mut v: Vec<(String, String, Value)> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["subject"].clone(),
            )
        })
        .collect();
    v.sort_by(|a, b| (&a.0, &a.1, a.2.to_string()).cmp(&(&b.0, &b.1, b.2.to_string())));
    v
}

#[test]
fn empty_and_truncated_bundles_exit_2_with_their_position() {
    let snap = snapshot("e.json", &["Ready"], &["public"]);
    for (name, text) in [("empty.yaml", ""), ("dashes.yaml", "---\n")] {
        let b = write(name, text);
        let o = preflight(&["--bundle", &s(&b), "--provider", &s(&snap)]);
        assert_eq!(code(&o), 2, "{name}");
        assert_eq!(
            stderr(&o),
            format!("preflight: error: {}:1:1: (document): empty bundle: the file holds no YAML document (Juju refuses it: \"bundle is empty\")\n", s(&b))
        );
        assert!(o.stdout.is_empty());
    }
    let b = write(
        "trunc.yaml",
        "applications:\n  a: {charm: a, num_units: 1\n",
    );
    let o = preflight(&["--bundle", &s(&b), "--provider", &s(&snap)]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).starts_with(&format!("preflight: error: {}:", s(&b))),
        "{}",
        stderr(&o)
    );
}

#[test]
fn every_bundle_problem_is_listed_and_exits_2() {
    let snap = snapshot("m.json", &["Ready"], &["public"]);
    let b = write(
        "many.yaml",
        "machines:\n  '0': {}\napplications:\n  a: {charm: ch:a-12, num_units: 1}\nrelations:\n  - [a, gone]\n",
    );
    let o = preflight(&["--bundle", &s(&b), "--provider", &s(&snap)]);
    assert_eq!(code(&o), 2);
    let e = stderr(&o);
    let f = s(&b);
    assert_eq!(
        e,
        format!(
            "preflight: error: 3 problems:\n  {f}:4:14: applications.a.charm: cannot specify revision in \"ch:a-12\" (revision 12 in a Charmhub URL), please use revision: give `charm: ch:a` and `revision: 12` with a channel\n  {f}:2:3: machines.0: machine 0 is not referred to by a placement directive (Juju refuses a bundle machine that no `to:` uses)\n  {f}:6:5: relations: relation [\"a\" \"gone\"] refers to application \"gone\", which neither `applications:` nor `saas:` defines\n"
        )
    );
}

#[test]
fn juju_version_decides_on_services_and_charm_store_urls() {
    let snap = snapshot("v.json", &["Ready", "Ready"], &["public"]);
    let b = write(
        "old.yaml",
        "services:\n  a: {charm: cs:a-3, num_units: 2, bindings: {'': public}}\n",
    );
    let o = preflight(&["--bundle", &s(&b), "--provider", &s(&snap)]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "`services` is the legacy name of `applications`, which Juju 3 does not read"
        ),
        "{}",
        stderr(&o)
    );
    let o = preflight(&[
        "--bundle",
        &s(&b),
        "--provider",
        &s(&snap),
        "--juju",
        "2.9",
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = preflight(&["--bundle", &s(&b), "--provider", &s(&snap), "--juju", "2.8"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("unsupported Juju version \"2.8\""),
        "{}",
        stderr(&o)
    );
}

#[test]
fn juju_version_decides_on_series_and_bases() {
    let snap = snapshot("series.json", &["Ready"], &["public"]);
    let b = write(
        "bionic.yaml",
        "series: bionic\napplications:\n  a: {charm: ch:a, num_units: 1, bindings: {'': public}}\n",
    );
    // Juju 3 (the default) does not deploy bionic: bad input, with the position.
    let o = preflight(&["--bundle", &s(&b), "--provider", &s(&snap)]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "{}:1:9: series: bundle declares series \"bionic\" (ubuntu@18.04), which Juju 3 does not deploy workloads on",
            s(&b)
        )),
        "{}",
        stderr(&o)
    );
    // Juju 2.9 does (under ESM): the bundle fits, no findings.
    let o = preflight(&[
        "--bundle",
        &s(&b),
        "--provider",
        &s(&snap),
        "--juju",
        "2.9",
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(findings(&o), vec![]);
    // A base: read by Juju 3; Juju 2.9 has no such field, so it is an unknown-key warning.
    let b = write(
        "base.yaml",
        "default-base: ubuntu@24.04\napplications:\n  a: {charm: ch:a, num_units: 1, bindings: {'': public}}\n",
    );
    let o = preflight(&[
        "--bundle",
        &s(&b),
        "--provider",
        &s(&snap),
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(findings(&o), vec![]);
    let o = preflight(&[
        "--bundle",
        &s(&b),
        "--provider",
        &s(&snap),
        "--juju",
        "2.9",
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        findings(&o),
        vec![("bundle.unknown-key".into(), "warning".into(), json!({}))]
    );
}

#[test]
fn saas_offers_and_multi_document_bundles_validate() {
    let snap = snapshot("s.json", &["Ready", "Ready", "Ready"], &["public"]);
    let b = write(
        "saas.yaml",
        "saas:\n  db:\n    url: admin/other.mysql\napplications:\n  web: {charm: ch:wordpress, num_units: 1, bindings: {'': public}}\nrelations:\n  - [web:db, db:db]\n---\napplications:\n  web: {num_units: 3}\n",
    );
    let o = preflight(&[
        "--bundle",
        &s(&b),
        "--provider",
        &s(&snap),
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // The relation to the offer is accepted; only its local end's space is known.
    let offer = (
        "relation.cross-space".into(),
        "info".into(),
        json!({"application": "web", "endpoint": "db", "space": "public"}),
    );
    assert_eq!(findings(&o), vec![offer.clone()]);
    // The overlay document asks for 4: one short of the 3 Ready machines.
    let b = write(
        "saas4.yaml",
        &std::fs::read_to_string(&b)
            .unwrap()
            .replace("num_units: 3", "num_units: 4"),
    );
    let o = preflight(&[
        "--bundle",
        &s(&b),
        "--provider",
        &s(&snap),
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_eq!(
        findings(&o),
        vec![
            (
                "binding.capacity".into(),
                "error".into(),
                json!({"application": "web"})
            ),
            offer
        ]
    );
}

#[test]
fn scale_out_beyond_listed_machines_needs_new_machines() {
    // 3 bundle machines and 2 more units: Juju puts units 3 and 4 on new machines, so 5 Ready
    // machines are needed; 4 are one short.
    let text = "machines: {'0': , '1': , '2': }\napplications:\n  a: {charm: ch:a, num_units: 5, to: ['0', '1', '2']}\n";
    let b = write("scale.yaml", text);
    let snap = snapshot("sc4.json", &["Ready"; 4], &["public"]);
    let o = preflight(&[
        "--bundle",
        &s(&b),
        "--provider",
        &s(&snap),
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let f = findings(&o);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, "binding.capacity");
    let snap = snapshot("sc5.json", &["Ready"; 5], &["public"]);
    let o = preflight(&[
        "--bundle",
        &s(&b),
        "--provider",
        &s(&snap),
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn reading_warnings_are_report_findings_in_every_format() {
    let snap = snapshot("w.json", &["Ready", "Ready"], &["public"]);
    let b = write(
        "scalar-to.yaml",
        "applications:\n  a:\n    charm: ch:a\n    num_units: 2\n    to: lxd:0\n",
    );
    let o = preflight(&[
        "--bundle",
        &s(&b),
        "--provider",
        &s(&snap),
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        findings(&o),
        vec![(
            "bundle.ignored-field".into(),
            "warning".into(),
            json!({"application": "a"})
        )]
    );
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        r["findings"][0]["message"],
        format!("{}:5:9: applications.a.to is a string \"lxd:0\", not a list: Juju ignores the field and puts every unit on a new machine (write `to: [lxd:0]` for a placement)", s(&b))
    );
    // Two units on new machines: with one Ready machine, one short (the `to:` was dropped).
    let one = snapshot("w1.json", &["Ready"], &["public"]);
    let o = preflight(&[
        "--bundle",
        &s(&b),
        "--provider",
        &s(&one),
        "--format",
        "junit",
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let xml = String::from_utf8_lossy(&o.stdout);
    assert!(xml.contains("bundle.ignored-field"), "{xml}");
    assert!(xml.contains("binding.capacity"), "{xml}");
}

#[test]
fn charm_metadata_duplicates_and_unused_charm_dirs_are_warnings() {
    let snap = snapshot("c.json", &["Ready"], &["public"]);
    let charms = dir().join("charms");
    for (d, meta) in [
        // A duplicate key, last wins (the endpoint bound below is in the second `provides`).
        (
            "mon",
            "name: mon\nprovides:\n  old: {interface: x}\nprovides:\n  admin: {interface: y}\n",
        ),
        ("spare", "name: spare\nprovides:\n  x: {interface: x}\n"),
    ] {
        std::fs::create_dir_all(charms.join(d)).unwrap();
        std::fs::write(charms.join(d).join("metadata.yaml"), meta).unwrap();
    }
    let b = write(
        "charms.yaml",
        "applications:\n  mon: {charm: ch:mon, num_units: 1, bindings: {admin: public}}\n",
    );
    let o = preflight(&[
        "--bundle",
        &s(&b),
        "--provider",
        &s(&snap),
        "--charm-dir",
        &s(&charms),
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        findings(&o),
        vec![
            ("charm.duplicate-key".into(), "warning".into(), json!({})),
            ("charm.unused".into(), "warning".into(), json!({})),
        ]
    );
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let dup = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "charm.duplicate-key")
        .unwrap();
    assert!(
        dup["message"].as_str().unwrap().starts_with(&format!(
            "{}:4:1: charm metadata has a duplicate key",
            s(&charms.join("mon").join("metadata.yaml"))
        )),
        "{dup}"
    );
    // The endpoint check used the last `provides`: binding `old` is unknown.
    let b = write(
        "charms-old.yaml",
        "applications:\n  mon: {charm: ch:mon, num_units: 1, bindings: {old: public}}\n",
    );
    let o = preflight(&[
        "--bundle",
        &s(&b),
        "--provider",
        &s(&snap),
        "--charm-dir",
        &s(&charms),
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(findings(&o)
        .iter()
        .any(|f| f.0 == "binding.unknown-endpoint"));
}

#[test]
fn check_reads_its_bundle_with_the_juju_version_given() {
    let snap = snapshot("check-series.json", &["Deployed"], &["public"]);
    let b = write(
        "check-bionic.yaml",
        "series: bionic\napplications:\n  a: {charm: ch:a, num_units: 1, bindings: {'': public}}\n",
    );
    let token = write(
        "check-token",
        "a-token-long-enough-for-the-check-0123456789",
    );
    let check = |extra: &[&str]| {
        let mut c = Command::new(preflight_e2e::binary("preflight"));
        c.args(["check", "--provider", &s(&snap), "--bundle", &s(&b)])
            .args([
                "--listen",
                "127.0.0.1:0",
                "--expect",
                "1",
                "--deadline",
                "1",
            ])
            .args(["--probe-deadline", "1", "--quiet", "--format", "json"])
            .args(["--token-file", &s(&token)])
            .args(extra);
        c.output().unwrap()
    };
    // Juju 3 (the default): the bundle is bad input before anything listens.
    let o = check(&[]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Juju 3 does not deploy"),
        "{}",
        stderr(&o)
    );
    // --juju 2.9: the bundle is read, the check runs (no agent comes: exit 1, agent.missing).
    let o = check(&["--juju", "2.9"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let codes: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert!(codes.contains(&"agent.missing"), "{codes:?}");
    assert!(!codes.iter().any(|c| c.starts_with("bundle.")), "{codes:?}");
}

#[test]
fn an_unreadable_bundle_is_said_once_on_one_line() {
    let snap = snapshot("unreadable.json", &["Ready"], &["public"]);
    for (bundle, says) in [
        ("/nonexistent/bundle.yaml", "No such file or directory"),
        ("/dev/zero", "not a regular file"),
    ] {
        let o = preflight(&["--bundle", bundle, "--provider", &s(&snap)]);
        assert_eq!(code(&o), 2, "{}", stderr(&o));
        let err = stderr(&o);
        assert_eq!(err.matches(says).count(), 1, "said twice: {err}");
        assert!(
            err.starts_with(&format!("preflight: error: {bundle}: ")),
            "{err}"
        );
    }
}
