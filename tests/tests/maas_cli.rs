//! `preflight spaces`, `preflight subnets`, `preflight maas snapshot` and `preflight maas serve`
//! as a user runs them: on the fixtures, and against the MAAS stand-in over HTTP.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use preflight_e2e::{binary, fixtures};

fn maas_dir() -> PathBuf {
    fixtures().join("maas")
}

fn api_key() -> String {
    let auth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(maas_dir().join("auth.json")).unwrap())
            .unwrap();
    auth["api_key"].as_str().unwrap().to_string()
}

fn preflight(args: &[&str]) -> Output {
    Command::new(binary("preflight"))
        .args(args)
        .env_remove("MAAS_API_KEY")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("preflight-maas-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `preflight maas serve` in the background; killed on drop.
struct Served {
    child: Child,
    url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(file: &std::path::Path, key_file: &std::path::Path) -> Served {
    let mut child = Command::new(binary("preflight"))
        .args(["maas", "serve"])
        .arg(file)
        .arg("--api-key-file")
        .arg(key_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {first:?}"))
        .to_string();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/MAAS"),
        "{url}"
    );
    Served { child, url }
}

#[test]
fn spaces_on_the_fixtures() {
    let dir = maas_dir();
    let o = preflight(&["spaces", "--provider", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let storage = text.lines().find(|l| l.starts_with("ceph-data")).unwrap();
    let cells: Vec<&str> = storage.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "ceph-data",
            "2",
            "10.40.0.0/24",
            "16",
            "fabric-1",
            "40",
            "ceph",
            "9000",
            "birch"
        ]
    );
    assert!(text.lines().any(|l| l.starts_with("undefined")), "{text}");

    let o = preflight(&[
        "spaces",
        "--provider",
        dir.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let storage = v
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "ceph-data")
        .unwrap();
    assert_eq!(storage["subnets"][0]["vlan"]["mtu"], 9000);
    assert_eq!(storage["subnets"][0]["machines"][0], "birch");
}

#[test]
fn subnets_on_the_fixtures() {
    let dir = maas_dir();
    let o = preflight(&["subnets", "--provider", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert_eq!(text.lines().count(), 9, "header + 8 subnets:\n{text}");
    let oob = text
        .lines()
        .find(|l| l.starts_with("192.168.200.0/24"))
        .unwrap();
    let cells: Vec<&str> = oob.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "192.168.200.0/24",
            "17",
            "undefined",
            "fabric-0",
            "200",
            "-",
            "1500",
            "192.168.200.1",
            "no",
            "dogwood"
        ]
    );
    // One CIDR on two fabrics: two rows, told apart by id and fabric.
    let twins: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| l.starts_with("10.10.0.0/24"))
        .map(|l| l.split_whitespace().take(4).collect())
        .collect();
    assert_eq!(
        twins,
        [
            ["10.10.0.0/24", "11", "oam", "fabric-0"],
            ["10.10.0.0/24", "18", "oam", "fabric-1"]
        ]
    );
    let o = preflight(&[
        "subnets",
        "--provider",
        dir.to_str().unwrap(),
        "--space",
        "internal-api",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let cidrs: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["cidr"].as_str().unwrap())
        .collect();
    assert_eq!(cidrs, ["10.20.0.0/24", "10.21.0.0/24"]);
}

#[test]
fn input_errors_exit_2_with_one_line() {
    let dir = scratch("errors");
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        r#"{"spaces": [], "fabrics": [], "subnets": [], "machines": [{"system_id": 7}]}"#,
    )
    .unwrap();
    let fixtures = maas_dir();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["spaces"], "no provider data"),
        (
            vec!["spaces", "--provider", "/nonexistent.json"],
            "cannot read /nonexistent.json",
        ),
        (
            vec!["subnets", "--provider", bad.to_str().unwrap()],
            "machines[0].system_id: invalid type: integer `7`, expected a string",
        ),
        (
            vec![
                "subnets",
                "--provider",
                fixtures.to_str().unwrap(),
                "--space",
                "nope",
            ],
            "no space named \"nope\"",
        ),
        (
            vec!["spaces", "--maas-url", "http://127.0.0.1:1/MAAS"],
            "--maas-url needs an API key",
        ),
    ];
    for (args, expect) in cases {
        let o = preflight(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn serve_snapshot_and_list_over_http() {
    let dir = scratch("http");
    let key_file = dir.join("maas.key");
    std::fs::write(&key_file, format!("{}\n", api_key())).unwrap();
    let served = serve(&maas_dir(), &key_file);

    // Snapshot over HTTP, then the same listing from the file and from the live server.
    let snap = dir.join("snap.json");
    let o = preflight(&[
        "maas",
        "snapshot",
        "--url",
        &served.url,
        "--api-key-file",
        key_file.to_str().unwrap(),
        "-o",
        snap.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("4 spaces"), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&snap).unwrap()).unwrap();
    assert_eq!(v["machines"].as_array().unwrap().len(), 4);
    assert!(v["vlans"]["1"].is_array());

    let from_file = preflight(&["spaces", "--provider", snap.to_str().unwrap()]);
    let live = preflight(&[
        "spaces",
        "--maas-url",
        &served.url,
        "--api-key-file",
        key_file.to_str().unwrap(),
    ]);
    assert!(live.status.success(), "{}", stderr(&live));
    assert_eq!(stdout(&from_file), stdout(&live));
    assert!(stdout(&live).contains("birch"));

    // A snapshot file can itself be served (how demos serve generated snapshots).
    drop(served);
    let again = serve(&snap, &key_file);
    let o = preflight(&[
        "subnets",
        "--maas-url",
        &again.url,
        "--api-key-file",
        key_file.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 8);
}

#[test]
fn wrong_key_over_http_exits_2_without_showing_secrets() {
    let dir = scratch("wrongkey");
    let key_file = dir.join("maas.key");
    std::fs::write(&key_file, api_key()).unwrap();
    let served = serve(&maas_dir(), &key_file);
    let wrong = "PfLtEsTcOnSuMeR001:PfLtEsTtOkEnKeY002:NotTheRightSecretAtAll0000000000";
    let o = Command::new(binary("preflight"))
        .args(["maas", "snapshot", "--url", &served.url])
        .env("MAAS_API_KEY", wrong)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("wrong or has been revoked"), "{err}");
    let secret = api_key().rsplit(':').next().unwrap().to_string();
    assert!(
        !err.contains(&secret) && !err.contains("NotTheRightSecret"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
}
