//! Real-fixture tier: `preflight validate` end to end on the public bundles, charm metadata
//! and MAAS samples (`$PREFLIGHT_FIXTURES`, default `../shared/fixtures`; never copied into
//! the repository). `./test.sh` skips these by name when the folder is absent, and says so.

use std::path::PathBuf;
use std::process::Command;

use preflight_e2e::{exit_code as code, json_stdout as json_of, validate as preflight};
use serde_json::{json, Value};

fn fx(rel: &str) -> PathBuf {
    preflight_e2e::real_fixtures().join(rel)
}

fn bundles(rel: &str) -> String {
    fx(&format!("bundles/{rel}")).display().to_string()
}

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("validate-real-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A MAAS snapshot (API 2.0 shapes) with `n` machines, each linked into every space; all Ready.
fn snapshot(n: usize, spaces: &[&str]) -> Value {
    let mut vlans = Vec::new();
    let mut subnets = Vec::new();
    for (i, s) in spaces.iter().enumerate() {
        let vlan = json!({"id": 5000 + i, "vid": 10 + i, "name": null, "mtu": 1500, "fabric_id": 0, "fabric": "fabric-0", "space": s});
        subnets.push(json!({"id": i + 1, "name": format!("net-{s}"), "cidr": format!("10.{}.0.0/16", 10 + i), "vlan": vlan, "space": s, "managed": true}));
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
                "architecture": "amd64/generic", "cpu_count": 8, "memory": 32768,
                "boot_disk": {"size": 500_000_000_000u64}, "zone": {"name": "default"},
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

fn maas_dir() -> String {
    fx("maas").display().to_string()
}

#[test]
fn real_fixture_fitting_bundle_exits_0_with_a_passing_json_report() {
    let o = preflight(&[
        "--bundle",
        &bundles("openstack-base/bundle.yaml"),
        "--provider",
        &maas_dir(),
        "--machine-map",
        "0=recrwg",
        "--machine-map",
        "1=g8xyqs",
        "--machine-map",
        "2=e8xa8m",
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let r = json_of(&o);
    assert_eq!(r["schema"], "preflight.report/v1");
    assert_eq!(r["kind"], "validate");
    assert_eq!(r["summary"]["status"], "pass");
    assert_eq!(r["summary"]["errors"], 0);
    // The sample's `name:` key (bundle.unknown-key) and the subnet in no space.
    assert_eq!(r["summary"]["warnings"], 2);
    let by_code = |c: &str| {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == c)
            .cloned()
            .unwrap_or_else(|| panic!("no {c}"))
    };
    assert_eq!(
        by_code("subnet.no-space")["subject"]["subnet"],
        "10.100.0.0/24"
    );
    assert!(by_code("bundle.unknown-key")["message"]
        .as_str()
        .unwrap()
        .contains("bundle.yaml:9:1: unknown top-level key `name`"));
    let inputs: Vec<String> = r["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert!(
        inputs[0].ends_with("openstack-base/bundle.yaml"),
        "{inputs:?}"
    );
    assert!(inputs.iter().any(|i| i.starts_with("maas: ")), "{inputs:?}");
    let checked = r["checked"].as_array().unwrap();
    assert!(checked.iter().any(
        |c| c["check"] == "binding.unknown-space" && c["subject"]["application"] == "keystone"
    ));
    // The `name:` key warns on stderr, with file and line.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bundle.yaml:9:1: unknown top-level key `name`"),
        "{err}"
    );
}

#[test]
fn real_fixture_unknown_space_exits_1_with_findings_that_say_what_to_do() {
    let o = preflight(&[
        "--bundle",
        &bundles("openstack-base/bundle.yaml"),
        "--overlay",
        &bundles("openstack-base/openstack-base-spaces-overlay.yaml"),
        "--provider",
        &maas_dir(),
        "--machine-map",
        "0=recrwg",
        "--machine-map",
        "1=g8xyqs",
        "--machine-map",
        "2=e8xa8m",
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 1);
    let r = json_of(&o);
    assert_eq!(r["summary"]["status"], "fail");
    assert_eq!(r["summary"]["errors"], 15);
    let f = r["findings"].as_array().unwrap();
    // Errors first.
    assert_eq!(f[0]["severity"], "error");
    let ks = f
        .iter()
        .find(|f| f["subject"]["application"] == "keystone")
        .unwrap();
    assert_eq!(ks["code"], "binding.unknown-space");
    assert_eq!(ks["subject"]["space"], "public-space");
    assert!(ks["message"]
        .as_str()
        .unwrap()
        .contains("MAAS does not have"));
    assert!(ks["hint"]
        .as_str()
        .unwrap()
        .contains("internal, ipv6-testbed, management, storage"));
}

#[test]
fn real_fixture_generated_maas_that_has_the_space_passes_and_machine_map_pins() {
    let snap = write_snapshot("fit.json", 12, &["public-space"]);
    let args = |extra: &[&str]| {
        let mut v = vec![
            "--bundle".to_string(),
            bundles("openstack-base/bundle.yaml"),
            "--overlay".into(),
            bundles("openstack-base/openstack-base-spaces-overlay.yaml"),
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
    // The sample's `name:` key warns, and the relation space map's info: the unbound
    // endpoints (alpha) relate to public-space.
    let r = json_of(&o);
    let f = r["findings"].as_array().unwrap();
    let mut codes: Vec<(&str, &str)> = f
        .iter()
        .map(|f| (f["code"].as_str().unwrap(), f["severity"].as_str().unwrap()))
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        [
            ("bundle.unknown-key", "warning"),
            ("relation.cross-space", "info")
        ],
        "{f:?}"
    );
    let cross = f
        .iter()
        .find(|f| f["code"] == "relation.cross-space")
        .unwrap();
    assert_eq!(cross["subject"]["space"], "alpha:public-space");
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
fn real_fixture_bad_input_exits_2_and_names_the_place() {
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

    let o = preflight(&[
        "--bundle",
        &bundles("juju-charm-testdata/bad-relation.yaml"),
        "--provider",
        &maas_dir(),
    ]);
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("refers to application \"foo\""));

    let o = preflight(&[
        "--bundle",
        "/nonexistent/bundle.yaml",
        "--provider",
        &maas_dir(),
    ]);
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/bundle.yaml"));

    let o = preflight(&["--bundle", &bundles("openstack-base/bundle.yaml")]);
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--provider"));

    let o = preflight(&[
        "--bundle",
        &bundles("openstack-base/bundle.yaml"),
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
fn real_fixture_charm_dir_enables_the_endpoint_check() {
    let b = tmp("wp.yaml");
    let text = std::fs::read_to_string(fx(
        "bundles/juju-charm-testdata/wordpress-with-logging.yaml",
    ))
    .unwrap()
    .replace("admin-api: public", "admin-apj: public")
    .replace(": db\n", ": management\n")
    .replace(": public\n", ": management\n");
    std::fs::write(&b, text).unwrap();
    let charms = fx("charms/juju-charm-testdata").display().to_string();
    // The sample MAAS has one Ready machine; a generated one with the space has enough.
    let snap = write_snapshot("wp.json", 4, &["management"]);
    let snap = snap.display().to_string();
    let o = preflight(&[
        "--bundle",
        b.to_str().unwrap(),
        "--provider",
        &snap,
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
    assert_eq!(errors[0]["subject"]["endpoint"], "admin-apj");
    // Without --charm-dir the same bundle passes.
    let o = preflight(&[
        "--bundle",
        b.to_str().unwrap(),
        "--provider",
        &snap,
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 0);
}

#[test]
fn real_fixture_output_file_and_other_formats_keep_the_exit_code() {
    let out = tmp("report.json");
    let o = preflight(&[
        "--bundle",
        &bundles("openstack-converged-networking/bundle.yaml"),
        "--overlay",
        &bundles(
            "openstack-converged-networking/openstack-converged-networking-spaces-overlay.yaml",
        ),
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
            &bundles("openstack-base/bundle.yaml"),
            "--overlay",
            &bundles("openstack-base/openstack-base-spaces-overlay.yaml"),
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
                text.contains(r#"<testcase classname="binding.unknown-space" name="keystone">"#),
                "{text}"
            );
            assert!(
                text.contains("<failure") && text.contains("MAAS does not have"),
                "{text}"
            );
            assert!(
                text.contains(
                    r#"<testcase classname="binding.unknown-space" name="cinder-ceph"/>"#
                ),
                "{text}"
            );
        } else {
            assert!(
                text.lines()
                    .any(|l| l.starts_with("keystone") && l.contains("FAIL")),
                "{text}"
            );
            assert!(
                text.lines()
                    .any(|l| l.starts_with("cinder-ceph") && l.contains("PASS")),
                "{text}"
            );
        }
    }
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
fn real_fixture_live_maas_url_gives_the_same_answer_as_the_snapshot() {
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
        bundles("openstack-base/bundle.yaml"),
        "--overlay".into(),
        bundles("openstack-base/openstack-base-spaces-overlay.yaml"),
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
