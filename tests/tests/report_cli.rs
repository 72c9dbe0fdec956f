//! `preflight report`: re-rendering saved reports, exit codes, bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use preflight_model::report::{Code, Finding, Report, ReportKind, Severity, Subject};

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "preflight-report-cli-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn report(errors: bool) -> Report {
    let mut findings = vec![Finding {
        code: Code::SubnetOverlap,
        severity: Severity::Warning,
        subject: Subject {
            subnet: Some("10.0.0.0/24".into()),
            ..Default::default()
        },
        message: "subnets overlap".into(),
        hint: None,
    }];
    if errors {
        findings.push(Finding {
            code: Code::BindingUnknownSpace,
            severity: Severity::Error,
            subject: Subject {
                application: Some("keystone".into()),
                endpoint: Some("public".into()),
                ..Default::default()
            },
            message: "space publik does not exist".into(),
            hint: Some("use public".into()),
        });
    }
    Report::new(
        ReportKind::Validate,
        "2026-11-21T05:00:00Z".into(),
        findings,
    )
}

fn preflight(args: &[&str], stdin: Option<&str>) -> Output {
    let bin = preflight_e2e::binary("preflight");
    assert!(bin.exists(), "build the binary first: {}", bin.display());
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn exit_code_follows_the_report() {
    let dir = Scratch::new("exit");
    let pass = dir.write("pass.json", &serde_json::to_string(&report(false)).unwrap());
    let fail = dir.write("fail.json", &serde_json::to_string(&report(true)).unwrap());
    let o = preflight(&["report", s(&pass)], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o)
        .lines()
        .last()
        .unwrap()
        .starts_with("PASS: 0 errors, 1 warning"));
    for format in ["text", "json", "junit", "html"] {
        let o = preflight(&["report", s(&fail), "--format", format], None);
        assert_eq!(o.status.code(), Some(1), "{format}: {}", stderr(&o));
        assert!(
            stdout(&o).contains("space publik does not exist"),
            "{format}"
        );
    }
    // Text output: no colour when not on a terminal, colour on request.
    let o = preflight(&["report", s(&fail)], None);
    assert!(!stdout(&o).contains('\u{1b}'));
    let o = preflight(&["report", s(&fail), "--color", "always"], None);
    assert!(stdout(&o).contains("\u{1b}[31m"));
}

#[test]
fn output_file_and_json_round_trip() {
    let dir = Scratch::new("out");
    let original = report(true);
    let input = dir.write("in.json", &serde_json::to_string(&original).unwrap());
    let out = dir.0.join("again.json");
    let o = preflight(
        &["report", s(&input), "--format", "json", "-o", s(&out)],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let back: Report = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(back, original);
    // And from standard input.
    let o = preflight(
        &["report", "-", "--format", "junit"],
        Some(&serde_json::to_string(&original).unwrap()),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("<?xml"));
}

#[test]
fn bad_input_exits_2_naming_file_and_field() {
    let dir = Scratch::new("bad");
    let mut v = serde_json::to_value(report(true)).unwrap();
    v["findings"][1]["severity"] = "fatal".into();
    let bad = dir.write("bad.json", &v.to_string());
    let o = preflight(&["report", s(&bad)], None);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("bad.json") && err.contains("findings[1].severity"),
        "{err}"
    );
    assert!(o.stdout.is_empty());

    let truncated = dir.write("cut.json", &v.to_string()[..40]);
    let o = preflight(&["report", s(&truncated)], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("EOF while parsing"), "{}", stderr(&o));

    let empty = dir.write("empty.json", "");
    assert_eq!(
        preflight(&["report", s(&empty)], None).status.code(),
        Some(2)
    );
    let missing = dir.0.join("missing.json");
    let o = preflight(&["report", s(&missing)], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("missing.json"));
    let binary = dir.0.join("bin.json");
    std::fs::write(&binary, [0xffu8, 0xfe, 0x00]).unwrap();
    assert_eq!(
        preflight(&["report", s(&binary)], None).status.code(),
        Some(2)
    );
    // No input at all is a usage error.
    assert_eq!(preflight(&["report"], None).status.code(), Some(2));
}

#[test]
fn probes_reject_files_that_are_not_probe_results() {
    let dir = Scratch::new("probes");
    let not_probe = dir.write(
        "report.json",
        &serde_json::to_string(&report(false)).unwrap(),
    );
    let o = preflight(&["report", "--probes", s(&not_probe)], None);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("report.json") && err.contains("preflight.probe/v1"),
        "{err}"
    );
    // FILE and --probes together are a usage error.
    let o = preflight(&["report", s(&not_probe), "--probes", s(&not_probe)], None);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_summary_that_hides_errors_still_fails() {
    let dir = Scratch::new("lie");
    let mut r = report(true);
    r.summary = preflight_model::report::Summary::of(&[]);
    let f = dir.write("lie.json", &serde_json::to_string(&r).unwrap());
    let o = preflight(&["report", s(&f)], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("does not match its findings"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn explain_teaches_what_a_code_means_and_what_to_do() {
    let o = preflight(&["explain", "probe.mtu-blackhole"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.starts_with("probe.mtu-blackhole: "), "{text}");
    for part in [
        "What it means:",
        "How it is detected:",
        "What to do:",
        "Don't Fragment",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
    // Every registered code can be explained.
    for c in Code::ALL {
        let o = preflight(&["explain", c.as_str()], None);
        assert_eq!(o.status.code(), Some(0), "{c}: {}", stderr(&o));
    }
}

#[test]
fn explain_of_an_unknown_code_exits_2_and_points_at_the_list() {
    let o = preflight(&["explain", "probe.mtu-blackhol"], None);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("unknown finding code \"probe.mtu-blackhol\"")
            && err.contains("did you mean probe.mtu-blackhole?")
            && err.contains("preflight codes"),
        "{err}"
    );
    assert!(stdout(&o).is_empty());
    assert_eq!(preflight(&["explain"], None).status.code(), Some(2));
}

#[test]
fn codes_lists_every_code_as_text_and_json() {
    let o = preflight(&["codes"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let o = preflight(&["codes", "--format", "json"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let list = doc["codes"].as_array().unwrap();
    assert_eq!(list.len(), Code::ALL.len());
    for (entry, c) in list.iter().zip(Code::ALL) {
        assert_eq!(entry["code"], c.as_str());
        let info = c.info().unwrap();
        assert_eq!(entry["description"], info.description);
        assert_eq!(entry["step"], info.step.as_str());
        assert!(entry["severity"].is_string());
        assert!(
            text.lines()
                .any(|l| l.starts_with(c.as_str()) && l.contains(info.description)),
            "{c} missing from the text list"
        );
    }
    assert_eq!(
        preflight(&["codes", "--format", "yaml"], None)
            .status
            .code(),
        Some(2)
    );
}
