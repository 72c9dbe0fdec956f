//! Golden reports: every shipped lab scenario's check report, re-assembled with the current code
//! from what the coordinator had when it wrote it (MAAS snapshot, registrations, plan, probe
//! results), must equal the report captured before the registry / judge-once refactor, except
//! for the additive per-pair fields listed in [`ADDITIVE_PAIR_FIELDS`] and the diagnosis
//! (the top-level `diagnosis` and its `cause.*` findings, see [`strip_causes`]).
//!
//! The fixtures under `tests/golden/<scenario>/` come from real lab runs
//! (`tests/golden/capture.sh`, needs root); this test itself needs no privileges.

use std::path::{Path, PathBuf};

use preflight_check::plan::PlanOptions;
use preflight_check::state::{CheckState, ReportExtras};
use preflight_model::report::Report;
use serde_json::Value;

/// Fields added to every report pair after the golden reports were captured.
const ADDITIVE_PAIR_FIELDS: &[&str] = &["state"];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Re-assembles the report of one captured scenario with the current code.
fn reassemble(dir: &Path, stored: &Report) -> Report {
    let provider =
        preflight_maas::snapshot::model_from_path(&dir.join("maas-snapshot.json")).unwrap();
    // A copy: opening a state dir may create its subdirectories.
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&dir.join("state"), tmp.path());
    let state = CheckState::open(Some(tmp.path())).unwrap();
    // As the session does: only agents MAAS knows count toward --expect.
    state.set_admission(stored.summary.agents_expected.unwrap(), &provider);
    state.plan(&provider, &PlanOptions::default()).unwrap();
    state.finish();
    // The session's path: the results were folded into the pairs when `plan` built them.
    // (The state adds the "agents: N of M expected" input itself.)
    let mut report = state.report(
        &provider,
        ReportExtras {
            unit_labels: Default::default(),
            expected: stored.summary.agents_expected.unwrap(),
            extra_findings: vec![],
            extra_checked: vec![],
            inputs: stored
                .inputs
                .iter()
                .filter(|i| !i.starts_with("agents: "))
                .cloned()
                .collect(),
        },
    );
    report.generated_at = stored.generated_at.clone();
    report.tool_version = stored.tool_version.clone();
    report
}

/// Top-level fields added after the golden reports were captured.
const ADDITIVE_REPORT_FIELDS: &[&str] = &["diagnosis"];

/// Removes the diagnosis' `cause.*` findings (added after the capture, one error each, always
/// alongside the pair findings they explain) and their count from the summary.
fn strip_causes(mut v: Value) -> Value {
    let mut removed = 0u64;
    if let Some(findings) = v.get_mut("findings").and_then(Value::as_array_mut) {
        let before = findings.len();
        findings.retain(|f| {
            !f.get("code")
                .and_then(Value::as_str)
                .is_some_and(|c| c.starts_with("cause."))
        });
        removed = (before - findings.len()) as u64;
    }
    if let Some(errors) = v.pointer_mut("/summary/errors") {
        if let Some(n) = errors.as_u64() {
            *errors = Value::from(n - removed);
        }
    }
    if let Some(o) = v.as_object_mut() {
        for f in ADDITIVE_REPORT_FIELDS {
            o.remove(*f);
        }
    }
    v
}

fn strip_additive(mut v: Value) -> Value {
    if let Some(spaces) = v.get_mut("spaces").and_then(Value::as_array_mut) {
        for space in spaces {
            if let Some(pairs) = space.get_mut("pairs").and_then(Value::as_array_mut) {
                for pair in pairs.iter_mut().filter_map(Value::as_object_mut) {
                    for f in ADDITIVE_PAIR_FIELDS {
                        pair.remove(*f);
                    }
                }
            }
        }
    }
    v
}

#[test]
fn shipped_scenario_reports_are_unchanged_but_for_the_additive_fields() {
    let mut scenarios: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("report.json").is_file())
        .collect();
    scenarios.sort();
    assert!(
        scenarios.len() >= 14,
        "golden fixtures missing: {scenarios:?}"
    );
    let mut diffs = Vec::new();
    for dir in &scenarios {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(dir.join("report.json")).unwrap();
        let stored_value: Value = serde_json::from_str(&text).unwrap();
        let stored: Report = serde_json::from_value(stored_value.clone()).unwrap();
        let now = serde_json::to_value(reassemble(dir, &stored)).unwrap();
        let now = strip_causes(strip_additive(now));
        if now != stored_value {
            let a = serde_json::to_string_pretty(&stored_value).unwrap();
            let b = serde_json::to_string_pretty(&now).unwrap();
            let first = a
                .lines()
                .zip(b.lines())
                .position(|(x, y)| x != y)
                .unwrap_or(0);
            diffs.push(format!(
                "{name}: differs from line {first}:\n  golden: {}\n  now:    {}",
                a.lines().nth(first).unwrap_or(""),
                b.lines().nth(first).unwrap_or("")
            ));
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn the_golden_reports_cover_every_finding_of_their_scenario() {
    // Not a tautology guard only: a fixture whose report has no findings where its scenario
    // expects some would make the comparison above weaker than it looks.
    for (name, code) in [
        ("probe-mtu-blackhole", "probe.mtu-blackhole"),
        ("probe-unreachable", "probe.unreachable"),
        ("probe-asymmetric", "probe.asymmetric"),
        ("probe-packet-loss", "probe.packet-loss"),
        ("probe-isolation-breach", "probe.isolation-breach"),
        ("agent-missing", "agent.missing"),
        ("drift-link-down", "drift.link-down"),
        ("drift-mtu-mismatch", "drift.mtu-mismatch"),
    ] {
        let text = std::fs::read_to_string(golden_dir().join(name).join("report.json")).unwrap();
        let r: Report = serde_json::from_str(&text).unwrap();
        assert!(
            r.findings.iter().any(|f| f.code == code),
            "{name}: no {code}"
        );
    }
}

#[test]
fn the_golden_runs_are_diagnosed_to_their_injected_faults() {
    // Real lab results, localized now: each fault scenario's causes are its faults.
    for (name, want) in [
        // Captured before the lab modelled eno1.<vid> as VLAN children of eno1: each is its
        // own physical NIC in that snapshot, so the culprit is that NIC (its port).
        (
            "openstack",
            vec![
                ("cause.nic", "node3", "eno1.200"),
                ("cause.nic", "node4", "eno1.201"),
            ],
        ),
        ("probe-unreachable", vec![("cause.nic", "host3", "eth2")]),
        ("probe-mtu-blackhole", vec![("cause.nic", "host3", "eth2")]),
        ("drift-link-down", vec![("cause.nic", "host2", "eth1")]),
        ("probe-asymmetric", vec![("cause.policy", "host2", "")]),
        ("healthy", vec![]),
    ] {
        let dir = golden_dir().join(name);
        let text = std::fs::read_to_string(dir.join("report.json")).unwrap();
        let stored: Report = serde_json::from_str(&text).unwrap();
        let d = reassemble(&dir, &stored).diagnosis.expect("diagnosis");
        let mut got: Vec<(String, String, String)> = d
            .causes
            .iter()
            .map(|c| {
                (
                    c.code.as_str().to_string(),
                    c.subject.machine.clone().unwrap_or_default(),
                    c.subject.interface.clone().unwrap_or_default(),
                )
            })
            .collect();
        got.sort();
        let want: Vec<(String, String, String)> = want
            .into_iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect();
        assert_eq!(got, want, "{name}: {d:#?}");
        assert_eq!(d.explained_pairs, d.failing_pairs, "{name}");
    }
}
