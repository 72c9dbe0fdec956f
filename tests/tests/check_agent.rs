//! `preflight-agent run` against the real `preflight check`: the whole register → plan →
//! results → report line over HTTP (agents without probe targets, so no namespaces needed),
//! and an agent whose coordinator never answers.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use preflight_lab::supervise::Supervised;
use preflight_model::observed::{Identity, ObservedConfig, OBSERVED_SCHEMA};
use preflight_model::report::Report;

const TOKEN: &str = "agent-test-token-42";
const NOTE: &str = "no provider: drift against MAAS was not checked";

fn tempdir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let d = std::env::temp_dir().join(format!("preflight-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn observed_file(dir: &std::path::Path, host: &str) -> PathBuf {
    let o = ObservedConfig {
        schema: OBSERVED_SCHEMA.into(),
        identity: Identity {
            hostname: host.into(),
            machine_id: None,
            system_id: None,
            agent_version: "test".into(),
            observed_at: "2026-01-01T00:00:00Z".into(),
        },
        links: vec![],
        addresses: vec![],
        routes: vec![],
        default_gateways: vec![],
        resolvers: vec![],
    };
    let p = dir.join(format!("{host}.json"));
    std::fs::write(&p, serde_json::to_string(&o).unwrap()).unwrap();
    p
}

#[test]
fn agent_gives_up_with_exit_2_when_the_coordinator_never_answers() {
    let dir = tempdir("giveup");
    let obs = observed_file(&dir, "lonely");
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = Instant::now();
    let out = Command::new(preflight_e2e::binary("preflight-agent"))
        .args([
            "run",
            "--coordinator",
            &format!("http://127.0.0.1:{port}"),
            "--give-up-after",
            "2",
            "--observed",
        ])
        .arg(&obs)
        .env("PREFLIGHT_TOKEN", TOKEN)
        .env("PREFLIGHT_LOG", "debug")
        .output()
        .unwrap();
    let took = t.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("did not answer within 2 s"), "{stderr}");
    assert!(!stderr.contains(TOKEN), "the token is never printed");
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(10),
        "{took:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn agents_register_get_plans_send_results_and_the_report_comes() {
    let dir = tempdir("agents");
    std::fs::write(dir.join("token"), TOKEN).unwrap();
    let mut cmd = Command::new(preflight_e2e::binary("preflight"));
    cmd.args(["check", "--provider"])
        .arg(preflight_e2e::fixtures().join("maas"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--expect",
            "3",
            "--deadline",
            "5",
            "--format",
            "json",
            "--note",
            NOTE,
            "--token-file",
        ])
        .arg(dir.join("token"))
        .arg("--progress-file")
        .arg(dir.join("progress.json"))
        .arg("-o")
        .arg(dir.join("report.json"));
    let mut coord = Supervised::spawn(
        "preflight check",
        cmd,
        Some(&dir.join("coordinator.log")),
        Some(&dir.join("ready")),
    )
    .unwrap();
    let url = coord.wait_ready(Duration::from_secs(30)).unwrap();
    // Two agents come (one by hostname, one by --machine-id); the third never does.
    let agents: Vec<_> = [("alder", None), ("whatever", Some("m2q9cd"))]
        .iter()
        .map(|(host, sid)| {
            let mut c = Command::new(preflight_e2e::binary("preflight-agent"));
            c.args(["run", "--coordinator", &url, "--token-file"])
                .arg(dir.join("token"))
                .arg("--observed")
                .arg(observed_file(&dir, host));
            if let Some(sid) = sid {
                c.args(["--machine-id", sid]);
            }
            c.stderr(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    for a in agents {
        let out = a.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(stderr.contains("results sent"), "{stderr}");
        assert!(!stderr.contains(TOKEN));
    }
    let status = coord
        .wait_timeout(Duration::from_secs(40))
        .unwrap()
        .expect("coordinator did not finish");
    assert_eq!(status.code(), Some(1));
    let report: Report =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report.summary.agents_expected, Some(3));
    // --progress-file holds the last progress: the report is being built, 2 of 3 came.
    let progress: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("progress.json")).unwrap()).unwrap();
    assert_eq!(progress["stage"], "reporting", "{progress}");
    assert_eq!(progress["agents_registered"], 2, "{progress}");
    assert_eq!(progress["agents_expected"], 3, "{progress}");
    // --note joins the inputs right after the provider.
    let maas = report.inputs.iter().position(|i| i.starts_with("maas: "));
    let note = report.inputs.iter().position(|i| i == NOTE);
    assert_eq!(note, maas.map(|m| m + 1), "{:?}", report.inputs);
    let missing: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.code == "agent.missing")
        .collect();
    assert_eq!(missing.len(), 1, "{:#?}", report.findings);
    // Of the fixture MAAS's deployed machines, only dogwood (w5n1gh) matched no agent, so the
    // finding names it as its subject.
    assert_eq!(
        missing[0].subject.machine.as_deref(),
        Some("dogwood"),
        "{:#?}",
        missing[0]
    );
    assert!(
        missing[0].message.contains("dogwood (w5n1gh)"),
        "{}",
        missing[0].message
    );
    // Both agents matched their MAAS machines (no machine-unknown); they lack every MAAS
    // interface, which is drift the report names per machine.
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.code != "drift.machine-unknown"),
        "{:#?}",
        report.findings
    );
    for host in ["alder", "birch"] {
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.code == "drift.interface-missing"
                    && f.subject.machine.as_deref() == Some(host)),
            "{host}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn with_a_bundle_the_validate_checks_join_the_check_report() {
    let dir = tempdir("bundle");
    std::fs::write(dir.join("token"), TOKEN).unwrap();
    let bundles = preflight_e2e::fixtures().join("bundles/cloud");
    let out = Command::new(preflight_e2e::binary("preflight"))
        .args(["check", "--provider"])
        .arg(preflight_e2e::fixtures().join("maas"))
        .arg("--bundle")
        .arg(bundles.join("bundle.yaml"))
        .arg("--overlay")
        .arg(bundles.join("overlay-faults.yaml"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--expect",
            "1",
            "--deadline",
            "1",
            "--probe-deadline",
            "1",
            "--quiet",
            "--format",
            "json",
            "--token-file",
        ])
        .arg(dir.join("token"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Report = serde_json::from_slice(&out.stdout).unwrap();
    let checks: std::collections::BTreeSet<&str> =
        report.checked.iter().map(|c| c.check.as_str()).collect();
    for code in ["binding.unknown-space", "subnet.overlap", "agent.missing"] {
        assert!(checks.contains(code), "{code} in {checks:?}");
    }
    assert!(
        report
            .inputs
            .iter()
            .any(|i| i.ends_with("overlay-faults.yaml")),
        "{:?}",
        report.inputs
    );
    assert!(report.findings.iter().any(|f| f.code == "agent.missing"));
    // A missing bundle is bad input: exit 2, before anything listens.
    let out = Command::new(preflight_e2e::binary("preflight"))
        .args(["check", "--provider"])
        .arg(preflight_e2e::fixtures().join("maas"))
        .args([
            "--bundle",
            "/nonexistent/bundle.yaml",
            "--listen",
            "127.0.0.1:0",
            "--expect",
            "1",
            "--token-file",
        ])
        .arg(dir.join("token"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("listening"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn report_from_probe_files_applies_the_check_rules() {
    use preflight_model::plan::Expectation;
    use preflight_model::probe::{ProbeReport, TargetResult, PROBE_SCHEMA};
    let dir = tempdir("probes");
    let result = |space: &str, src: &str, dst: &str, received: u32| TargetResult {
        id: None,
        space: Some(space.into()),
        source: Some(src.parse().unwrap()),
        target: dst.parse().unwrap(),
        expect: Expectation::Reachable,
        sent: 3,
        received,
        duplicates: 0,
        loss_pct: f64::from(3 - received) * 100.0 / 3.0,
        rtt: None,
        failure: None,
        mtu: None,
        tcp: vec![],
        kind: Default::default(),
        macs: Vec::new(),
        dns: None,
    };
    let files: Vec<PathBuf> = [
        (
            "mysql/0",
            vec![
                result("db", "10.1.0.1", "10.1.0.2", 3),
                result("db", "10.1.0.1", "10.1.0.3", 0),
            ],
        ),
        (
            "mysql/1",
            vec![
                result("db", "10.1.0.2", "10.1.0.1", 3),
                result("db", "10.1.0.2", "10.1.0.3", 2),
            ],
        ),
        (
            "mysql/2",
            vec![
                result("db", "10.1.0.3", "10.1.0.1", 3),
                result("db", "10.1.0.3", "10.1.0.2", 3),
            ],
        ),
    ]
    .into_iter()
    .map(|(unit, targets)| {
        let p = dir.join(format!("{}.json", unit.replace('/', "-")));
        let r = ProbeReport {
            schema: PROBE_SCHEMA.into(),
            agent: Some(unit.into()),
            sockets: vec![],
            started_at: "2026-01-01T00:00:00Z".into(),
            duration_ms: 1,
            targets,
        };
        std::fs::write(&p, serde_json::to_string(&r).unwrap()).unwrap();
        p
    })
    .collect();
    let out = Command::new(preflight_e2e::binary("preflight"))
        .args(["report", "--format", "json", "--probes"])
        .args(&files)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Report = serde_json::from_slice(&out.stdout).unwrap();
    let mut got: Vec<(String, String, String)> = report
        .findings
        .iter()
        .map(|f| {
            (
                f.code.to_string(),
                f.subject.source.clone().unwrap(),
                f.subject.target.clone().unwrap(),
            )
        })
        .collect();
    got.sort();
    // Each failing pair is explained by its own one-direction cause (every other path of
    // the two machines passes); the pair findings stay as the evidence.
    let causes: Vec<(String, String, String)> = got
        .iter()
        .filter(|(c, _, _)| c.starts_with("cause."))
        .cloned()
        .collect();
    assert_eq!(
        causes,
        vec![
            (
                "cause.policy".to_string(),
                "mysql/0".to_string(),
                "mysql/2".to_string()
            ),
            (
                "cause.policy".to_string(),
                "mysql/1".to_string(),
                "mysql/2".to_string()
            ),
        ]
    );
    got.retain(|(c, _, _)| !c.starts_with("cause."));
    assert_eq!(
        got,
        vec![
            (
                "probe.asymmetric".to_string(),
                "mysql/0".to_string(),
                "mysql/2".to_string()
            ),
            (
                "probe.packet-loss".to_string(),
                "mysql/1".to_string(),
                "mysql/2".to_string()
            ),
        ]
    );
    assert_eq!(report.spaces.len(), 1);
    assert_eq!(
        report.spaces[0].machines,
        vec!["mysql/0", "mysql/1", "mysql/2"]
    );
    assert_eq!(report.spaces[0].pairs.len(), 6);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn unit_labels_name_the_missing_units_among_more_unmatched_maas_machines() {
    // The fixture MAAS has three deployed machines (alder, birch, dogwood); the deployment's
    // two units run on alder and dogwood and neither agent comes: exactly those two are named,
    // each with its unit (without labels: one finding listing three candidates).
    let dir = tempdir("unit-labels");
    std::fs::write(dir.join("token"), TOKEN).unwrap();
    let run = |labels: &[&str]| -> Report {
        let mut cmd = Command::new(preflight_e2e::binary("preflight"));
        cmd.args(["check", "--provider"])
            .arg(preflight_e2e::fixtures().join("maas"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--expect",
                "2",
                "--deadline",
                "1",
            ])
            .args(["--probe-deadline", "1", "--quiet", "--format", "json"])
            .arg("--token-file")
            .arg(dir.join("token"));
        for l in labels {
            cmd.args(["--unit-label", l]);
        }
        let out = cmd.stdin(Stdio::null()).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let missing = |r: &Report| -> Vec<(Option<String>, String)> {
        r.findings
            .iter()
            .filter(|f| f.code == preflight_model::report::Code::AgentMissing)
            .map(|f| (f.subject.machine.clone(), f.message.clone()))
            .collect()
    };
    let labelled = run(&["alder=preflight/0", "dogwood=preflight/1"]);
    assert_eq!(
        missing(&labelled),
        vec![
            (
                Some("alder".to_string()),
                "no agent registered for MAAS machine alder (k4p7ab, unit preflight/0) before the deadline".to_string()
            ),
            (
                Some("dogwood".to_string()),
                "no agent registered for MAAS machine dogwood (w5n1gh, unit preflight/1) before the deadline".to_string()
            ),
        ]
    );
    let plain = missing(&run(&[]));
    assert_eq!(plain.len(), 1, "{plain:?}");
    assert_eq!(plain[0].0, None);
    assert!(plain[0].1.contains("birch (m2q9cd)"), "{}", plain[0].1);
    // A malformed label is a usage error naming the expected form.
    let out = Command::new(preflight_e2e::binary("preflight"))
        .args([
            "check",
            "--provider",
            "x",
            "--listen",
            "127.0.0.1:0",
            "--unit-label",
            "alder",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HOSTNAME=UNIT"));
}
