//! `preflight validate` end to end: the project's bundles, charm metadata and MAAS fixture
//! (`tests/fixtures`) and generated MAAS snapshots in, report and exit code out.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use preflight_e2e::{exit_code as code, json_stdout as json_of, validate as preflight};
use serde_json::{json, Value};

fn fx(rel: &str) -> PathBuf {
    preflight_e2e::fixtures().join(rel)
}

const CLOUD: &str = "cloud/bundle.yaml";
const FAULTS: &str = "cloud/overlay-faults.yaml";

fn bundles(rel: &str) -> String {
    fx(&format!("bundles/{rel}")).display().to_string()
}

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("validate-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A MAAS snapshot (API 2.0 shapes) with `n` machines, each linked into every space; all Ready.
fn snapshot(n: usize, spaces: &[&str]) -> Value {
    let mut vlans = Vec::new();
    let mut subnets = Vec::new();
    for (i, s) in spaces.iter().enumerate() {
        let vlan = json!({"id": 5000 + i, "vid": 10 + i, "name": null, "mtu": 1500, "fabric_id": 0, "fabric": "fabric-0", "space": s});
        subnets.push(json!({"id": i + 1, "name": format!("net-{s}"), "cidr": format!("10.{}.0.0/16", 10 + i), "gateway_ip": format!("10.{}.0.1", 10 + i), "vlan": vlan, "space": s, "managed": true}));
        vlans.push(vlan);
    }
    let machines: Vec<Value> = (0..n)
        .map(|m| {
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
                "system_id": format!("s{m:05}"), "hostname": format!("node-{m}"), "status_name": "Ready",
                "architecture": "amd64/generic", "cpu_count": 8, "memory": 131072,
                "boot_disk": {"size": 2_000_000_000_000u64}, "zone": {"name": "default"},
                "pool": {"name": "default"}, "tag_names": [], "interface_set": ifaces
            })
        })
        .collect();
    json!({
        "spaces": spaces.iter().enumerate().map(|(i, s)| json!({"id": i + 1, "name": s})).collect::<Vec<_>>(),
        "fabrics": [{"id": 0, "name": "fabric-0"}],
        "vlans": {"0": vlans},
        "subnets": subnets,
        "machines": machines,
    })
}

fn write_snapshot(name: &str, n: usize, spaces: &[&str]) -> PathBuf {
    let p = tmp(name);
    std::fs::write(&p, serde_json::to_vec(&snapshot(n, spaces)).unwrap()).unwrap();
    p
}

/// The fixture MAAS's deployed amd64 machines (alder, birch): Juju can allocate only its one
/// Ready machine, so the bundle's machines are pinned to these, as when re-validating.
const PIN0: &str = "0=k4p7ab";
const PIN1: &str = "1=m2q9cd";

fn maas_dir() -> String {
    fx("maas").display().to_string()
}

#[test]
fn fitting_bundle_exits_0_with_a_passing_json_report() {
    let o = preflight(&[
        "--bundle",
        &bundles(CLOUD),
        "--provider",
        &maas_dir(),
        "--machine-map",
        PIN0,
        "--machine-map",
        PIN1,
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let r = json_of(&o);
    assert_eq!(r["schema"], "preflight.report/v1");
    assert_eq!(r["kind"], "validate");
    assert_eq!(r["summary"]["status"], "pass");
    assert_eq!(r["summary"]["errors"], 0);
    assert_eq!(r["summary"]["warnings"], 2);
    let mut codes: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        [
            "relation.cross-space",
            "relation.cross-space",
            "subnet.no-space",
            "subnet.overlap"
        ]
    );
    let no_space = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "subnet.no-space")
        .unwrap();
    assert_eq!(no_space["subject"]["subnet"], "192.168.200.0/24");
    let inputs: Vec<String> = r["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert!(inputs[0].ends_with("cloud/bundle.yaml"), "{inputs:?}");
    assert!(inputs.iter().any(|i| i.starts_with("maas: ")), "{inputs:?}");
    let checked = r["checked"].as_array().unwrap();
    assert!(checked.iter().any(
        |c| c["check"] == "binding.unknown-space" && c["subject"]["application"] == "database"
    ));
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("warning"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A legacy bundle: Juju 3 (the default) refuses it; with --juju 2.9 it is read, its
    // legacy forms are warnings with file, line and column, and the one check that fails is
    // that webapp's new machine needs internal-api, which the only Ready machine lacks.
    let o = preflight(&[
        "--bundle",
        &bundles("legacy/services.yaml"),
        "--provider",
        &maas_dir(),
        "--machine-map",
        PIN0,
    ]);
    assert_eq!(code(&o), 2, "{}", String::from_utf8_lossy(&o.stderr));
    let o = preflight(&[
        "--bundle",
        &bundles("legacy/services.yaml"),
        "--provider",
        &maas_dir(),
        "--machine-map",
        PIN0,
        "--juju",
        "2.9",
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 1, "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("services.yaml:5:1: `services` is the legacy name of `applications`"),
        "{err}"
    );
    let r = json_of(&o);
    let mut got: Vec<(String, String)> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["subject"]["application"]
                    .as_str()
                    .unwrap_or("-")
                    .to_string(),
            )
        })
        .collect();
    got.sort();
    let want: Vec<(String, String)> = [
        ("bundle.deprecated", "-"),
        ("bundle.deprecated", "database"),
        ("bundle.deprecated", "webapp"),
        ("constraint.unsatisfiable", "webapp"),
        ("relation.cross-space", "-"),
        ("subnet.no-space", "-"),
        ("subnet.overlap", "-"),
    ]
    .iter()
    .map(|(c, a)| (c.to_string(), a.to_string()))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn unknown_space_exits_1_with_findings_that_say_what_to_do() {
    let o = preflight(&[
        "--bundle",
        &bundles(CLOUD),
        "--overlay",
        &bundles(FAULTS),
        "--provider",
        &maas_dir(),
        "--machine-map",
        PIN0,
        "--machine-map",
        PIN1,
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 1);
    let r = json_of(&o);
    assert_eq!(r["summary"]["status"], "fail");
    assert_eq!(
        r["summary"]["errors"], 1,
        "no charm metadata: no endpoint check"
    );
    let f = r["findings"].as_array().unwrap();
    // Errors first.
    assert_eq!(f[0]["severity"], "error");
    let db = f
        .iter()
        .find(|f| f["subject"]["application"] == "database")
        .unwrap();
    assert_eq!(db["code"], "binding.unknown-space");
    assert_eq!(db["subject"]["space"], "public-api");
    assert_eq!(db["subject"]["endpoint"], "db");
    assert!(db["message"]
        .as_str()
        .unwrap()
        .contains("MAAS does not have"));
    assert!(db["hint"]
        .as_str()
        .unwrap()
        .contains("ceph-data, internal-api, ipv6-lab, oam"));
}

#[test]
fn generated_maas_that_has_the_space_passes_and_machine_map_pins() {
    let snap = write_snapshot(
        "fit.json",
        12,
        &["oam", "internal-api", "ceph-data", "public-api"],
    );
    let args = |extra: &[&str]| {
        let mut v = vec![
            "--bundle".to_string(),
            bundles(CLOUD),
            "--overlay".into(),
            bundles(FAULTS),
            "--provider".into(),
            snap.display().to_string(),
            "--format".into(),
            "json".into(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        preflight(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let o = run(&[]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));
    // Only the relation space map's infos: the subordinate logger (unbound: alpha) relates to
    // its principals in oam, and the overlay binds database's db to public-api.
    let r = json_of(&o);
    let f = r["findings"].as_array().unwrap();
    let pairs: Vec<&str> = f
        .iter()
        .map(|f| {
            assert_eq!(f["code"], "relation.cross-space", "{f}");
            assert_eq!(f["severity"], "info");
            f["subject"]["space"].as_str().unwrap()
        })
        .collect();
    assert_eq!(pairs, ["alpha:oam", "oam:public-api"]);
    let o = run(&["--machine-map", "0=s00000", "--machine-map", "1=s00001"]);
    assert_eq!(code(&o), 0);
    // Bad mappings are input errors.
    for (bad, needle) in [
        (
            &["--machine-map", "0=nosuch"][..],
            "no machine with system_id nosuch",
        ),
        (
            &["--machine-map", "9=s00000"][..],
            "the bundle has no machine 9",
        ),
        (&["--machine-map", "zero"][..], "expected N=SYSTEM_ID"),
    ] {
        let o = run(bad);
        assert_eq!(code(&o), 2, "{bad:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{bad:?}: {err}");
    }
}

#[test]
fn bad_input_exits_2_and_names_the_place() {
    let bad = tmp("bad.yaml");
    std::fs::write(
        &bad,
        "applications:\n  a:\n    charm: x\n    num_units: [1\n",
    )
    .unwrap();
    let o = preflight(&["--bundle", bad.to_str().unwrap(), "--provider", &maas_dir()]);
    assert_eq!(code(&o), 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.yaml:"), "{err}");
    assert!(o.stdout.is_empty());

    let wrong = tmp("wrong.yaml");
    std::fs::write(
        &wrong,
        "applications:\n  a:\n    charm: x\n    num_units: three\n",
    )
    .unwrap();
    let o = preflight(&[
        "--bundle",
        wrong.to_str().unwrap(),
        "--provider",
        &maas_dir(),
    ]);
    assert_eq!(code(&o), 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("wrong.yaml:4:16: applications.a.num_units"),
        "{err}"
    );

    let relation = tmp("bad-relation.yaml");
    std::fs::write(
        &relation,
        "applications:\n  a:\n    charm: x\n    num_units: 1\nrelations:\n  - [foo:db, a:db]\n",
    )
    .unwrap();
    let o = preflight(&[
        "--bundle",
        relation.to_str().unwrap(),
        "--provider",
        &maas_dir(),
    ]);
    assert_eq!(code(&o), 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("refers to application \"foo\""), "{err}");
    assert!(err.contains("bad-relation.yaml:6:"), "{err}");

    let o = preflight(&[
        "--bundle",
        "/nonexistent/bundle.yaml",
        "--provider",
        &maas_dir(),
    ]);
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/bundle.yaml"));

    let o = preflight(&["--bundle", &bundles(CLOUD)]);
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--provider"));

    let o = preflight(&[
        "--bundle",
        &bundles(CLOUD),
        "--provider",
        "/nonexistent/snap.json",
    ]);
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/snap.json"));

    let big = tmp("big.yaml");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(50 * 1024 * 1024).unwrap();
    let o = preflight(&["--bundle", big.to_str().unwrap(), "--provider", &maas_dir()]);
    assert_eq!(code(&o), 2);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("limited to"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::remove_file(&big).unwrap();
}

#[test]
fn charm_dir_enables_the_endpoint_check() {
    let b = tmp("misspelt.yaml");
    let text = std::fs::read_to_string(fx("bundles/cloud/bundle.yaml"))
        .unwrap()
        .replace("website: *oam", "websitf: *oam");
    std::fs::write(&b, text).unwrap();
    let charms = fx("charms").display().to_string();
    let o = preflight(&[
        "--bundle",
        b.to_str().unwrap(),
        "--provider",
        &maas_dir(),
        "--machine-map",
        PIN0,
        "--machine-map",
        PIN1,
        "--format",
        "json",
        "--charm-dir",
        &charms,
    ]);
    assert_eq!(code(&o), 1, "{}", String::from_utf8_lossy(&o.stderr));
    let r = json_of(&o);
    let errors: Vec<&Value> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0]["code"], "binding.unknown-endpoint");
    assert_eq!(errors[0]["subject"]["endpoint"], "websitf");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("webapp/charmcraft.yaml"),
        "{}",
        errors[0]["message"]
    );
    // Without --charm-dir the same bundle passes.
    let o = preflight(&[
        "--bundle",
        b.to_str().unwrap(),
        "--provider",
        &maas_dir(),
        "--machine-map",
        PIN0,
        "--machine-map",
        PIN1,
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 0);
}

#[test]
fn output_file_and_other_formats_keep_the_exit_code() {
    let out = tmp("report.json");
    let o = preflight(&[
        "--bundle",
        &bundles(CLOUD),
        "--overlay",
        &bundles("cloud/overlay-ipv6.yaml"),
        "--provider",
        &maas_dir(),
        // A cs: bundle: Juju 2.9 rules.
        "--juju",
        "2.9",
        "--format",
        "json",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1);
    assert!(o.stdout.is_empty());
    let r: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(r["summary"]["status"], "fail");
    for format in ["text", "junit"] {
        let o = preflight(&[
            "--bundle",
            &bundles(CLOUD),
            "--overlay",
            &bundles(FAULTS),
            "--provider",
            &maas_dir(),
            "--format",
            format,
        ]);
        assert_eq!(code(&o), 1, "{format}");
        let text = String::from_utf8_lossy(&o.stdout);
        if format == "junit" {
            // A testcase per application per check; failures carry the message.
            assert!(
                text.contains(r#"<testcase classname="binding.unknown-space" name="database">"#),
                "{text}"
            );
            assert!(
                text.contains("<failure") && text.contains("MAAS does not have"),
                "{text}"
            );
            assert!(
                text.contains(r#"<testcase classname="binding.unknown-space" name="webapp"/>"#),
                "{text}"
            );
        } else {
            assert!(
                text.lines()
                    .any(|l| l.starts_with("database") && l.contains("FAIL")),
                "{text}"
            );
            assert!(
                text.lines()
                    .any(|l| l.starts_with("webapp") && l.contains("PASS")),
                "{text}"
            );
        }
    }
}

#[test]
fn help_teaches() {
    let o = Command::new(preflight_e2e::binary("preflight"))
        .args(["validate", "--help"])
        .output()
        .unwrap();
    let h = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "--bundle",
        "--overlay",
        "--charm-dir",
        "--machine-map",
        "--provider",
        "--maas-url",
        "Exit codes",
        "Examples",
    ] {
        assert!(h.contains(needle), "{needle} missing from --help");
    }
    let _ = Path::new(".");
}

/// Kills the child on drop (the MAAS stand-in this test started).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn live_maas_url_gives_the_same_answer_as_the_snapshot() {
    use std::io::BufRead;
    let auth: Value =
        serde_json::from_slice(&std::fs::read(fx("maas/auth.json")).unwrap()).unwrap();
    let key = tmp("maas.key");
    std::fs::write(&key, auth["api_key"].as_str().unwrap()).unwrap();
    let mut server = Child(
        Command::new(preflight_e2e::binary("preflight"))
            .args([
                "maas",
                "serve",
                &maas_dir(),
                "--api-key-file",
                key.to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    std::io::BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();

    let bundle_args = [
        "--bundle".to_string(),
        bundles(CLOUD),
        "--overlay".into(),
        bundles(FAULTS),
        "--format".into(),
        "json".into(),
    ];
    let run = |extra: &[&str]| {
        let mut a: Vec<&str> = bundle_args.iter().map(String::as_str).collect();
        a.extend_from_slice(extra);
        preflight(&a)
    };
    let live = run(&["--maas-url", &url, "--api-key-file", key.to_str().unwrap()]);
    assert_eq!(code(&live), 1, "{}", String::from_utf8_lossy(&live.stderr));
    let file = run(&["--provider", &maas_dir()]);
    let (live, file) = (json_of(&live), json_of(&file));
    assert_eq!(live["findings"], file["findings"]);
    assert_eq!(live["checked"], file["checked"]);
    assert!(live["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i.as_str() == Some(&format!("maas: {url}"))));

    // A wrong key is an input error, and the key never shows.
    let bad = tmp("bad.key");
    std::fs::write(
        &bad,
        "aaaaaaaaaaaaaaaaaa:bbbbbbbbbbbbbbbbbb:cccccccccccccccccccccccccccccccc",
    )
    .unwrap();
    let o = run(&["--maas-url", &url, "--api-key-file", bad.to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cannot read MAAS data"), "{err}");
    assert!(!err.contains("cccccccccccccccc"), "{err}");
    // --provider and --maas-url together are refused.
    let o = run(&["--provider", &maas_dir(), "--maas-url", &url]);
    assert_eq!(code(&o), 2);
}

/// The mediawiki scenario's MAAS snapshot and bundle written to a fresh dir; `edit` changes
/// the topology text first. Returns (dir, snapshot path, bundle path).
fn mediawiki_inputs(tag: &str, edit: impl Fn(String) -> String) -> (PathBuf, PathBuf, PathBuf) {
    let text = preflight_lab::scenarios::SHIPPED
        .iter()
        .find(|(n, _)| *n == "mediawiki-healthy")
        .map(|(_, t)| edit(t.to_string()))
        .expect("scenario");
    let t = preflight_lab::Topology::parse(&text, "mediawiki").expect("topology");
    let dir = std::env::temp_dir().join(format!("preflight-topology-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let snapshot = dir.join("maas.json");
    std::fs::write(&snapshot, preflight_lab::snapshot::snapshot(&t).to_string()).unwrap();
    let bundle = dir.join("bundle.yaml");
    std::fs::write(&bundle, t.check.bundle.as_deref().expect("bundle")).unwrap();
    (dir, snapshot, bundle)
}

/// The lab's snapshot as MAAS shows it before the deploy that validate checks: the lab's
/// machines are Deployed, and MAAS allocates only Ready machines, so every one is made Ready.
fn before_deploy(snapshot: &Path) {
    fn ready(v: &mut Value) {
        match v {
            Value::Object(m) => {
                if m.get("status_name").and_then(Value::as_str) == Some("Deployed") {
                    m.insert("status_name".into(), "Ready".into());
                    m.insert("status_message".into(), "Ready".into());
                }
                m.values_mut().for_each(ready);
            }
            Value::Array(a) => a.iter_mut().for_each(ready),
            _ => {}
        }
    }
    let mut v: Value = serde_json::from_slice(&std::fs::read(snapshot).unwrap()).unwrap();
    ready(&mut v);
    std::fs::write(snapshot, v.to_string()).unwrap();
}

fn relation_findings(out: &Output) -> Vec<(String, String, String, String)> {
    let report: Value = serde_json::from_slice(&out.stdout).expect("json report");
    let mut v: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"].as_str().unwrap_or("").starts_with("relation."))
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["subject"]["space"].as_str().unwrap_or("").to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn validate_lists_the_space_pairs_the_relations_need() {
    let (dir, snapshot, bundle) = mediawiki_inputs("routed", |t| t);
    before_deploy(&snapshot);
    let out = preflight(&[
        "--bundle",
        bundle.to_str().unwrap(),
        "--provider",
        snapshot.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let f = relation_findings(&out);
    assert_eq!(f.len(), 2, "{f:?}");
    assert_eq!(
        (f[0].0.as_str(), f[0].1.as_str(), f[0].2.as_str()),
        ("relation.cross-space", "info", "cms:db")
    );
    assert!(f[0].3.contains("mediawiki:db ↔ mysql:db"), "{}", f[0].3);
    assert_eq!(f[1].2, "cms:dmz");
    assert!(
        f[1].3.contains("haproxy:reverseproxy ↔ mediawiki:website"),
        "{}",
        f[1].3
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn validate_says_a_needed_pair_cannot_route_when_maas_gives_db_no_gateway() {
    // The db subnet without a gateway (and the router leg given an address of its own).
    let (dir, snapshot, bundle) = mediawiki_inputs("no-gateway", |t| {
        t.replace("gateway = \"10.33.0.1\"\n", "").replace(
            "{ subnet = \"10.33.0.0/24\" }]",
            "{ subnet = \"10.33.0.0/24\", address = \"10.33.0.1\" }]",
        )
    });
    before_deploy(&snapshot);
    let out = preflight(&[
        "--bundle",
        bundle.to_str().unwrap(),
        "--provider",
        snapshot.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let f = relation_findings(&out);
    let unroutable: Vec<_> = f.iter().filter(|x| x.0 == "relation.unroutable").collect();
    assert_eq!(unroutable.len(), 1, "{f:?}");
    assert_eq!(unroutable[0].1, "error");
    assert_eq!(unroutable[0].2, "cms:db");
    assert!(
        unroutable[0].3.contains("space db (10.33.0.0/24)"),
        "{}",
        unroutable[0].3
    );
    assert!(
        unroutable[0].3.contains("mediawiki:db ↔ mysql:db"),
        "{}",
        unroutable[0].3
    );
    // dmz↔cms still routes: both have gateways.
    assert!(!f
        .iter()
        .any(|x| x.0 == "relation.unroutable" && x.2 == "cms:dmz"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_refuses_an_isolate_the_bundle_contradicts_and_unknown_allow_spaces() {
    let (dir, snapshot, bundle) = mediawiki_inputs("check-flags", |t| t);
    let token = dir.join("token");
    std::fs::write(&token, "t0ken").unwrap();
    let check = |extra: &[&str]| {
        Command::new(preflight_e2e::binary("preflight"))
            .arg("check")
            .args(["--provider", snapshot.to_str().unwrap()])
            .args(["--bundle", bundle.to_str().unwrap()])
            .args(["--listen", "127.0.0.1:0", "--expect", "1", "--token-file"])
            .arg(&token)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = check(&["--isolate", "db:cms"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--isolate db:cms contradicts the bundle")
            && err.contains("mediawiki:db ↔ mysql:db"),
        "{err}"
    );
    let out = check(&["--isolation", "bundle", "--allow", "dmz:nowhere"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--allow: MAAS has no space named \"nowhere\""),
        "{err}"
    );
    let out = check(&["--allow", "dmz"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("--allow \"dmz\": expected two different space names"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_validate_rule_fires_end_to_end() {
    // Three Ready machines in internal and storage, except node-0 (pinned as bundle machine 0)
    // has no storage interface; MAAS also has a space `empty` with no subnets.
    let mut snap = snapshot(3, &["internal", "storage"]);
    snap["machines"][0]["interface_set"]
        .as_array_mut()
        .unwrap()
        .truncate(1);
    snap["spaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": 99, "name": "empty"}));
    let maas = tmp("every-rule-maas.json");
    std::fs::write(&maas, serde_json::to_vec(&snap).unwrap()).unwrap();
    let bundle = tmp("every-rule-bundle.yaml");
    std::fs::write(
        &bundle,
        r#"series: noble
machines:
  "0": {}
applications:
  conflict:
    charm: ch:conflict
    num_units: 1
    constraints: spaces=^internal
    bindings: {"": internal}
  huge:
    charm: ch:huge
    num_units: 1
    constraints: mem=1024G
  many:
    charm: ch:many
    num_units: 5
  pinned:
    charm: ch:pinned
    num_units: 1
    to: ["0"]
    bindings: {"": storage}
  lonely:
    charm: ch:lonely
    num_units: 1
    bindings: {"": empty}
"#,
    )
    .unwrap();
    let o = preflight(&[
        "--bundle",
        bundle.to_str().unwrap(),
        "--provider",
        maas.to_str().unwrap(),
        "--machine-map",
        "0=s00000",
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 1, "{}", String::from_utf8_lossy(&o.stderr));
    let r = json_of(&o);
    let found = |code: &str, app: &str| {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == code && f["subject"]["application"] == app)
    };
    assert!(found("constraint.space-conflict", "conflict"), "{r:#}");
    assert!(found("constraint.unsatisfiable", "huge"), "{r:#}");
    assert!(found("binding.capacity", "many"), "{r:#}");
    assert!(found("placement.missing-space", "pinned"), "{r:#}");
    assert!(
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "space.empty" && f["subject"]["space"] == "empty"),
        "{r:#}"
    );
}
