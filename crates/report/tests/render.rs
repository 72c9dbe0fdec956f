//! Renders constructed reports in every format and checks what they say.

use crate::common;

use preflight_report::{parse_report, render, render_with, Format};
use quick_xml::events::Event;

/// Matrix row of `machine` in the space section starting with `Space {space}`: the marks.
fn matrix_row(text: &str, space: &str, machine: &str) -> Vec<String> {
    let start = text
        .find(&format!("Space {space}"))
        .unwrap_or_else(|| panic!("no section for {space}"));
    let section = &text[start..];
    let line = section
        .lines()
        .find(|l| {
            let mut w = l.split_whitespace();
            w.next().is_some_and(|n| n.parse::<usize>().is_ok()) && w.next() == Some(machine)
        })
        .unwrap_or_else(|| panic!("no row for {machine} in {space}"));
    line.split_whitespace().skip(2).map(String::from).collect()
}

#[test]
fn text_check_matrix_marks_subnets_findings_and_verdict() {
    let text = render(&common::check_report(), Format::Text);
    // internal: m1→m3 unreachable, m2→m3 loss, everything else ok.
    assert_eq!(matrix_row(&text, "internal", "m1"), ["·", "✓", "✗"]);
    assert_eq!(matrix_row(&text, "internal", "m2"), ["✓", "·", "~"]);
    assert_eq!(matrix_row(&text, "internal", "m3"), ["✓", "✓", "·"]);
    // storage: m1→m2 MTU blackhole, m2→m3 no result, m3→m2 isolation breach wins over the ok pair,
    // m2→m1 held isolation is as expected.
    assert_eq!(matrix_row(&text, "storage", "m1"), ["·", "M", "✓"]);
    assert_eq!(matrix_row(&text, "storage", "m2"), ["✓", "·", "?"]);
    assert_eq!(matrix_row(&text, "storage", "m3"), ["✓", "!", "·"]);
    // Subnets with VLAN and MTU.
    let subnet_line = text.lines().find(|l| l.contains("10.20.0.0/24")).unwrap();
    let cols: Vec<&str> = subnet_line.split_whitespace().collect();
    assert_eq!(cols, ["10.20.0.0/24", "fabric-0", "20", "9000"]);
    assert!(text.contains("10.0.1.0/24  fabric-1  10    1500"), "{text}");
    // Findings by severity, errors first.
    let e = text.find("Errors (3)").expect("errors heading");
    let w = text.find("Warnings (2)").expect("warnings heading");
    let i = text.find("Info (1)").expect("info heading");
    assert!(e < w && w < i);
    let unreachable = text.find("probe.unreachable").unwrap();
    assert!(e < unreachable && unreachable < w);
    assert!(text.contains("m1 → m3 space=internal"));
    assert!(text.contains("hint: hint for probe.mtu-blackhole"));
    // Problem pairs list the measurements.
    assert!(text.contains("largest passing 1500"), "{text}");
    // Control characters from input are neutralised.
    assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'));
    // Verdict is the last line.
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with("FAIL: 3 errors, 2 warnings, 1 info"),
        "{last}"
    );
    assert!(last.contains("13 of 14 done"), "{last}");
}

#[test]
fn text_colour_only_when_asked() {
    let r = common::check_report();
    assert!(!render(&r, Format::Text).contains("\x1b["));
    let coloured = render_with(&r, Format::Text, true);
    assert!(coloured.contains("\x1b[31m✗\x1b[0m"));
    // Colours do not break the aligned matrix (the mark is padded before painting).
    assert_eq!(
        coloured.lines().count(),
        render(&r, Format::Text).lines().count()
    );
}

#[test]
fn text_pass_verdict() {
    let mut r = common::check_report();
    r.findings.clear();
    r.summary = preflight_model::report::Summary::of(&r.findings);
    let text = render(&r, Format::Text);
    assert!(text
        .lines()
        .last()
        .unwrap()
        .starts_with("PASS: 0 errors, 0 warnings, 0 info"));
}

#[test]
fn text_validate_grouped_by_application() {
    let text = render(&common::validate_report(), Format::Text);
    let verdict_of = |app: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(app))
            .unwrap_or_else(|| panic!("no group line for {app}:\n{text}"))
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert_eq!(verdict_of("keystone"), "FAIL");
    assert_eq!(verdict_of("mysql"), "WARN");
    assert_eq!(verdict_of("nova-compute"), "PASS");
    assert_eq!(verdict_of("model-wide"), "WARN");
    // The model-wide group comes last and holds the subnet finding.
    let mw = text.find("model-wide").unwrap();
    assert!(text.find("nova-compute").unwrap() < mw);
    assert!(text[mw..].contains("subnet.overlap"));
    // keystone's error precedes its warning, inside its group.
    let k = text.find("\nkeystone").unwrap();
    let m = text.find("\nmysql").unwrap();
    let err = text.find("binding.unknown-space").unwrap();
    let warn = text[k..].find("placement.missing-space").unwrap() + k;
    assert!(k < err && err < warn && warn < m, "{text}");
    assert!(text.contains("hint: use one of: internal, public, storage"));
    assert!(text
        .lines()
        .last()
        .unwrap()
        .starts_with("FAIL: 1 error, 3 warnings, 0 info — 3 applications checked"));
}

/// Parses JUnit XML with a real XML parser: counts testsuites, testcases, failures and
/// skipped, and collects failure texts; panics on malformed XML.
struct Junit {
    suites: usize,
    cases: usize,
    failures: usize,
    skipped: usize,
    failure_texts: Vec<String>,
    root_attrs: Vec<(String, String)>,
    case_names: Vec<String>,
}

fn parse_junit(xml: &str) -> Junit {
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut j = Junit {
        suites: 0,
        cases: 0,
        failures: 0,
        skipped: 0,
        failure_texts: vec![],
        root_attrs: vec![],
        case_names: vec![],
    };
    let mut in_failure = false;
    let mut current = String::new();
    let mut depth = 0i32;
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                depth += 1;
                handle(&mut j, &e, &mut in_failure, true);
            }
            Event::Empty(e) => handle(&mut j, &e, &mut in_failure, false),
            Event::End(e) => {
                depth -= 1;
                if e.name().as_ref() == b"failure" {
                    in_failure = false;
                    j.failure_texts.push(std::mem::take(&mut current));
                }
            }
            Event::Text(t) if in_failure => {
                let raw = std::str::from_utf8(t.as_ref()).unwrap();
                current.push_str(raw);
            }
            // quick-xml reports entity and character references as separate events.
            Event::GeneralRef(r) if in_failure => {
                if let Some(c) = r.resolve_char_ref().expect("valid character reference") {
                    current.push(c);
                } else {
                    let name = std::str::from_utf8(r.as_ref()).unwrap();
                    let resolved = quick_xml::escape::resolve_predefined_entity(name)
                        .unwrap_or_else(|| panic!("undefined entity &{name};"));
                    current.push_str(resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(depth, 0, "unbalanced elements");
    j
}

fn handle(j: &mut Junit, e: &quick_xml::events::BytesStart, in_failure: &mut bool, open: bool) {
    let attrs: Vec<(String, String)> = e
        .attributes()
        .map(|a| {
            let a = a.expect("valid attribute");
            (
                String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                a.unescape_value().expect("valid escapes").to_string(),
            )
        })
        .collect();
    match e.name().as_ref() {
        b"testsuites" => j.root_attrs = attrs,
        b"testsuite" => j.suites += 1,
        b"testcase" => {
            j.cases += 1;
            j.case_names.extend(
                attrs
                    .iter()
                    .filter(|(k, _)| k == "name")
                    .map(|(_, v)| v.clone()),
            );
        }
        b"failure" => {
            j.failures += 1;
            *in_failure = open;
        }
        b"skipped" => j.skipped += 1,
        _ => {}
    }
}

fn attr(j: &Junit, key: &str) -> String {
    j.root_attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

#[test]
fn junit_check_report_counts() {
    let xml = render(&common::check_report(), Format::Junit);
    let j = parse_junit(&xml);
    // 6 internal pairs + 8 storage pairs + 3 checked machines.
    assert_eq!(j.cases, 17, "{xml}");
    // 2 spaces + 1 check kind.
    assert_eq!(j.suites, 3);
    // Unreachable, MTU blackhole and isolation breach fail; loss is a warning only.
    assert_eq!(j.failures, 3, "{xml}");
    assert_eq!(j.skipped, 1);
    assert_eq!(attr(&j, "tests"), "17");
    assert_eq!(attr(&j, "failures"), "3");
    assert!(j
        .failure_texts
        .iter()
        .any(|t| t.contains("cannot reach m3") && t.contains("hint: hint for probe.unreachable")));
    assert!(j
        .case_names
        .iter()
        .any(|n| n == "m1 (10.0.0.1) → m3 (10.0.1.3)"));
    assert!(xml.contains("<failure type=\"probe.unreachable\" message=\"[ERROR] probe.unreachable"));
    // The injected control characters never reach the XML raw.
    assert!(!xml
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t'));
}

#[test]
fn junit_validate_report_counts() {
    let xml = render(&common::validate_report(), Format::Junit);
    let j = parse_junit(&xml);
    // 3 apps × 3 checks + the model-wide subnet.overlap finding.
    assert_eq!(j.cases, 10, "{xml}");
    // 3 check kinds + subnet.overlap.
    assert_eq!(j.suites, 4);
    assert_eq!(j.failures, 1);
    assert!(j.failure_texts[0].contains("names space \"publik\""));
    assert_eq!(attr(&j, "name"), "preflight validate");
}

#[test]
fn junit_escapes_hostile_text() {
    let mut r = common::validate_report();
    let hostile = "<&\"'>]]> \u{0}\u{1b}\u{b}\r\n\tend";
    r.findings[0].message = hostile.to_string();
    r.findings[0].subject.application = Some(hostile.to_string());
    r.checked[0].subject.application = Some(hostile.to_string());
    let xml = render(&r, Format::Junit);
    let j = parse_junit(&xml);
    assert_eq!(j.failures, 1);
    // The escapable characters come back exactly; the illegal control characters are spelled out.
    let text = &j.failure_texts[0];
    assert!(text.contains("<&\"'>]]>"), "{text}");
    assert!(text.contains("\\u{0}\\u{1b}\\u{b}\r\n\tend"), "{text:?}");
    assert!(j.case_names.iter().any(|n| n.starts_with("<&\"'>]]>")));
    assert!(!xml
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t'));
}

#[test]
fn html_is_self_contained_escaped_and_phone_ready() {
    let mut r = common::check_report();
    r.spaces[0].name = "<script>alert(1)</script>".into();
    r.spaces[0].machines[0] = "m<b>1".into();
    for p in &mut r.spaces[0].pairs {
        if p.source_machine == "m1" {
            p.source_machine = "m<b>1".into();
        }
        if p.target_machine == "m1" {
            p.target_machine = "m<b>1".into();
        }
    }
    let html = render(&r, Format::Html);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(
        html.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "external reference"
    );
    assert!(!html.contains("<script"), "unescaped script");
    assert!(!html.contains("<link") && !html.contains("src="));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(html.contains("m&lt;b&gt;1"));
    assert!(!html.contains('\u{1b}') && !html.contains('\u{7}'));
    // Banner, heatmap cells with their states and measurements, findings table.
    assert!(html.contains("<header class=\"banner fail\">"));
    assert!(html.contains("<h1>FAIL</h1>"));
    assert_eq!(html.matches("<table class=\"heat\">").count(), 2);
    // 2 spaces × 3 × 3 cells.
    let cells = ["ok", "loss", "mtu", "fail", "breach", "pending", "none"]
        .iter()
        .map(|c| html.matches(&format!("<td class=\"{c}\" title=")).count())
        .sum::<usize>();
    assert_eq!(cells, 18);
    assert_eq!(html.matches("<td class=\"breach\"").count(), 1);
    assert_eq!(html.matches("<td class=\"mtu\"").count(), 1);
    assert_eq!(html.matches("<td class=\"fail\"").count(), 1);
    assert_eq!(html.matches("<td class=\"loss\"").count(), 1);
    assert_eq!(html.matches("<td class=\"pending\"").count(), 1);
    assert!(html.contains("MTU 9000 blackhole (largest passing 1500)"));
    assert!(html.contains("rtt min/avg/max 0.12/0.25/0.61 ms"));
    assert!(html.contains("<table class=\"grid findings\">"));
    assert_eq!(html.matches("<span class=\"sev error\">").count(), 3);
    assert!(html.contains("@media (max-width:640px)"));
    // Balanced structure in the parts we emit.
    for tag in ["table", "section", "tr", "details", "div"] {
        assert_eq!(
            html.matches(&format!("<{tag}>")).count() + html.matches(&format!("<{tag} ")).count(),
            html.matches(&format!("</{tag}>")).count(),
            "unbalanced <{tag}>"
        );
    }
}

#[test]
fn html_validate_has_application_verdicts() {
    let html = render(&common::validate_report(), Format::Html);
    assert!(html.contains("<h1>FAIL</h1>"));
    for (app, verdict) in [
        ("keystone", "FAIL"),
        ("mysql", "WARN"),
        ("nova-compute", "PASS"),
        ("model-wide", "WARN"),
    ] {
        let row = html
            .lines()
            .find(|l| l.starts_with("<tr><td>") && l.contains(&format!(">{app}<")))
            .unwrap_or_else(|| panic!("no row for {app}"));
        assert!(row.contains(&format!(">{verdict}</span>")), "{row}");
    }
    assert!(!html.contains("http://") && !html.contains("https://"));
}

#[test]
fn json_round_trip_is_identical() {
    for r in [common::check_report(), common::validate_report()] {
        let json = render(&r, Format::Json);
        assert!(json.contains("\"schema\": \"preflight.report/v1\""));
        let back = parse_report(&json).expect("parses");
        assert_eq!(back, r);
        assert_eq!(render(&back, Format::Json), json);
        // Every format renders the re-read report identically.
        for f in [Format::Text, Format::Junit, Format::Html] {
            assert_eq!(render(&back, f), render(&r, f));
        }
    }
}

#[test]
fn empty_reports_render() {
    for kind in [
        preflight_model::report::ReportKind::Check,
        preflight_model::report::ReportKind::Validate,
    ] {
        let r = preflight_model::report::Report::new(kind, "t".into(), vec![]);
        let text = render(&r, Format::Text);
        assert!(text.lines().last().unwrap().starts_with("PASS: 0 errors"));
        let j = parse_junit(&render(&r, Format::Junit));
        assert_eq!((j.cases, j.failures), (0, 0));
        assert!(render(&r, Format::Html).contains("<h1>PASS</h1>"));
    }
}

#[test]
fn large_spaces_summarise_instead_of_drawing_a_matrix() {
    let mut r = common::check_report();
    let n = 300;
    let name = |i: usize| format!("m{i:03}");
    let ip = |i: usize| format!("10.9.{}.{}", i / 200, i % 200 + 1);
    let space = &mut r.spaces[0];
    space.machines = (0..n).map(name).collect();
    space.pairs = (0..n)
        .flat_map(|i| [(i, (i + 1) % n), (i, (i + 2) % n)])
        .map(|(a, b)| common::ok(&format!("{a}-{b}"), &name(a), &ip(a), &name(b), &ip(b)))
        .collect();
    for p in &mut space.pairs {
        if p.source_machine == "m007" {
            p.received = 0;
            p.loss_pct = 100.0;
            p.state = p.judged();
        }
    }
    assert!(n > preflight_report::TEXT_MATRIX_MAX);
    assert!(n > preflight_report::HEATMAP_MAX);
    let text = render(&r, Format::Text);
    assert!(
        text.contains("300 machines: matrix omitted (over 64); 3 with problem pairs"),
        "{text}"
    );
    // m007 fails twice as a source; m008 and m009 once each as a target.
    let row = |m: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(m))
            .unwrap_or_else(|| panic!("no summary row for {m}"))
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(row("m007"), "2 0");
    assert_eq!(row("m008"), "0 1");
    assert_eq!(row("m009"), "0 1");
    assert!(
        text.lines().all(|l| l.chars().count() < 200),
        "a line is too wide"
    );
    // The small space is still drawn.
    assert_eq!(matrix_row(&text, "storage", "m1"), ["·", "M", "✓"]);
    let html = render(&r, Format::Html);
    assert!(html.contains("300 machines: heatmap omitted (over 200); 3 with problem pairs."));
    assert_eq!(html.matches("<table class=\"heat\">").count(), 1);
    assert!(html.contains("<tr><td>m007</td><td>2</td><td>0</td></tr>"));
}

#[test]
fn write_to_matches_render() {
    let r = common::check_report();
    for f in [Format::Text, Format::Json, Format::Junit, Format::Html] {
        let mut buf = Vec::new();
        preflight_report::write_to(&r, f, false, &mut buf).unwrap();
        assert_eq!(String::from_utf8(buf).unwrap(), render(&r, f));
    }
}

#[test]
fn junit_pair_cases_fail_by_their_findings_never_by_invented_ones() {
    // The same report with and without its findings: JUnit used to invent probe.* failures
    // from the measurements, so a report whose summary passed had failing cases.
    let full = common::check_report();
    let xml = render(&full, Format::Junit);
    for code in [
        "probe.unreachable",
        "probe.mtu-blackhole",
        "probe.isolation-breach",
    ] {
        assert_eq!(
            xml.matches(&format!("<failure type=\"{code}\"")).count(),
            1,
            "{code}: {xml}"
        );
    }
    let mut r = full;
    r.findings.clear();
    r.checked.clear();
    r.summary = preflight_model::report::Summary::of(&r.findings);
    let xml = render(&r, Format::Junit);
    let j = parse_junit(&xml);
    assert_eq!(j.cases, 14);
    assert_eq!(
        j.failures, 0,
        "a passing summary has no failing case: {xml}"
    );
    assert!(
        xml.contains("skipped=\"1\""),
        "the pending pair is skipped: {xml}"
    );
}

#[test]
fn text_matrix_columns_stay_two_wide_past_nine_machines() {
    let mut r = common::check_report();
    let n = 12;
    let name = |i: usize| format!("n{i}");
    let ip = |i: usize| format!("10.7.0.{}", i + 1);
    r.spaces[0].machines = (0..n).map(name).collect();
    r.spaces[0].pairs = (0..n)
        .map(|i| (i, (i + 1) % n))
        .map(|(a, b)| common::ok(&format!("{a}-{b}"), &name(a), &ip(a), &name(b), &ip(b)))
        .collect();
    let text = render(&r, Format::Text);
    let lines: Vec<&str> = text.lines().collect();
    let first_row = lines
        .iter()
        .position(|l| l.trim_start().starts_with("1 n0 "))
        .expect("first matrix row");
    // Two header lines: tens digits over columns 10..12, then the ones digits.
    assert_eq!(lines[first_row - 2].trim(), "1 1 1");
    assert_eq!(lines[first_row - 1].trim(), "1 2 3 4 5 6 7 8 9 0 1 2");
    // The tens digits sit exactly over their columns.
    let tens_col = lines[first_row - 2].find('1').unwrap();
    let ones_line = lines[first_row - 1];
    assert_eq!(&ones_line[tens_col..tens_col + 1], "0");
    assert_eq!(
        matrix_row(&text, "internal", "n0"),
        ["·", "✓", "·", "·", "·", "·", "·", "·", "·", "·", "·", "·"]
    );
    assert_eq!(matrix_row(&text, "internal", "n11")[0], "✓");
}

#[test]
fn html_heatmap_turns_compact_past_two_dozen_machines() {
    let mut r = common::check_report();
    let n = 30;
    let name = |i: usize| format!("n{i}");
    let ip = |i: usize| format!("10.7.0.{}", i + 1);
    r.spaces[0].machines = (0..n).map(name).collect();
    r.spaces[0].pairs = (0..n)
        .map(|i| (i, (i + 1) % n))
        .map(|(a, b)| common::ok(&format!("{a}-{b}"), &name(a), &ip(a), &name(b), &ip(b)))
        .collect();
    let html = render(&r, Format::Html);
    assert_eq!(html.matches("<table class=\"heat dense\">").count(), 1);
    assert_eq!(html.matches("<table class=\"heat\">").count(), 1);
    // Every fifth column is numbered, every column header names its machine.
    assert!(html.contains("<th title=\"5 n4\">5</th>"));
    assert!(html.contains("<th title=\"6 n5\"></th>"));
    assert!(html.matches("<td class=\"ok\"").count() >= n);
}

/// The check report with a diagnosis: one cause in `storage` (m2's interface) and one in
/// `internal` (a policy on m3), plus a clean `aaa` space listed first.
fn diagnosed_report() -> preflight_model::report::Report {
    use preflight_model::report::{Cause, Diagnosis, Finding, Severity, SpaceReport, Subject};
    let mut r = common::check_report();
    let clean = SpaceReport {
        name: "aaa".into(),
        id: Some(1),
        subnets: vec![],
        machines: vec!["m1".into(), "m2".into()],
        pairs: vec![
            common::ok("a-1", "m1", "10.9.0.1", "m2", "10.9.0.2"),
            common::ok("a-2", "m2", "10.9.0.2", "m1", "10.9.0.1"),
        ],
    };
    r.spaces.insert(0, clean);
    let causes = vec![
        Cause {
            code: "cause.interface".into(),
            subject: Subject {
                machine: Some("m2".into()),
                interface: Some("eth2".into()),
                space: Some("storage".into()),
                ..Subject::default()
            },
            symptoms: vec!["mtu".into()],
            message: "m2's eth2 drops full-size frames".into(),
            fix: "set MTU 9000 on m2's switch port".into(),
            spaces: vec!["storage".into()],
            pairs: vec!["s-m1-m2".into()],
            evidence: vec!["m2's other interfaces pass".into()],
            indistinguishable: vec!["m2 itself".into()],
        },
        Cause {
            code: "cause.policy".into(),
            subject: Subject {
                machine: Some("m3".into()),
                space: Some("internal".into()),
                source: Some("m1".into()),
                target: Some("m3".into()),
                ..Subject::default()
            },
            symptoms: vec!["one-way".into()],
            message: "probes from m1 to m3 get no reply".into(),
            fix: "look for a firewall rule on m3".into(),
            spaces: vec!["internal".into()],
            pairs: vec!["i-m1-m3".into()],
            evidence: vec![],
            indistinguishable: vec![],
        },
    ];
    let mut findings = r.findings.clone();
    for c in &causes {
        findings.push(Finding {
            code: c.code.clone(),
            severity: Severity::Error,
            subject: c.subject.clone(),
            message: c.message.clone(),
            hint: Some(c.fix.clone()),
        });
    }
    let mut out = preflight_model::report::Report::new(r.kind, r.generated_at.clone(), findings);
    out.summary.agents_expected = r.summary.agents_expected;
    out.summary.agents_reported = r.summary.agents_reported;
    out.spaces = r.spaces;
    out.checked = r.checked;
    out.diagnosis = Some(Diagnosis {
        failing_pairs: 3,
        explained_pairs: 2,
        causes,
    });
    out
}

#[test]
fn text_opens_with_the_causes_and_problem_spaces_first() {
    let text = render(&diagnosed_report(), Format::Text);
    let diag = text
        .find("Diagnosis: 2 causes explain 2 of 3 failing pairs")
        .expect(&text);
    let first_space = text.find("\nSpace ").expect("spaces");
    assert!(diag < first_space, "{text}");
    assert!(
        text.contains("fix: set MTU 9000 on m2's switch port"),
        "{text}"
    );
    assert!(
        text.contains("cannot be told apart from: m2 itself"),
        "{text}"
    );
    assert!(text.contains("1 failing pair unexplained"), "{text}");
    // The clean space comes after both problem spaces.
    let aaa = text.find("Space aaa").expect("aaa");
    assert!(
        text.find("Space internal").expect("internal") < aaa,
        "{text}"
    );
    assert!(text.find("Space storage").expect("storage") < aaa, "{text}");
    // Causes are not listed a second time among the findings.
    let findings = &text[text.find("\nFindings").expect("findings")..];
    assert!(!findings.contains("cause.policy"), "{findings}");
}

#[test]
fn html_leads_with_causes_and_outlines_the_culprit() {
    let page = render(&diagnosed_report(), Format::Html);
    let h = page
        .find("<h2 id=\"diagnosis\">2 causes explain 2 of 3 failing pairs</h2>")
        .expect("headline");
    assert!(h < page.find("<h2>Spaces</h2>").expect("spaces"));
    assert!(page.contains("fix: look for a firewall rule on m3"));
    // m2 is the storage culprit: its row header is marked and its cells outlined.
    let storage = &page[page.find("id=\"space-2\"").expect("storage section")..];
    let storage = &storage[..storage.find("</section>").expect("end")];
    assert!(storage.contains("class=\"row culprit\""), "{storage}");
    assert!(storage.contains(" cu\""), "{storage}");
    // The clean space has no outline.
    let aaa = &page[page.find("id=\"space-0\"").expect("aaa section")..];
    let aaa = &aaa[..aaa.find("</section>").expect("end")];
    assert!(!aaa.contains("culprit") && !aaa.contains(" cu\""), "{aaa}");
}

#[test]
fn junit_has_a_testcase_per_cause_with_its_pairs() {
    let r = diagnosed_report();
    let xml = render(&r, Format::Junit);
    let j = parse_junit(&xml);
    let cause_cases: Vec<&String> = j
        .case_names
        .iter()
        .filter(|n| n.starts_with("cause."))
        .collect();
    assert_eq!(cause_cases.len(), 2, "{xml}");
    assert!(xml.contains("<testsuite name=\"2 causes explain 2 of 3 failing pairs\""));
    assert!(j
        .failure_texts
        .iter()
        .any(|t| t.contains("cause.interface") && t.contains("s-m1-m2") && t.contains("fix: ")));
    // The policy cause names a pair, but it is not attached to the pair's testcase too.
    assert!(!j
        .failure_texts
        .iter()
        .any(|t| t.contains("probe.unreachable") && t.contains("[ERROR] cause.policy")));
}

#[test]
fn json_carries_the_cause_to_pair_links() {
    let r = diagnosed_report();
    let json = render(&r, Format::Json);
    let back = parse_report(&json).expect("parses");
    assert_eq!(back, r);
    let d = back.diagnosis.expect("diagnosis");
    assert_eq!(d.causes[0].pairs, ["s-m1-m2"]);
    // A report without a diagnosis (older tools) still reads, and writes none.
    let old = render(&common::check_report(), Format::Json);
    assert!(!old.contains("\"diagnosis\""));
}

#[test]
fn written_to_a_file_every_format_is_exactly_the_rendering() {
    let r = common::check_report();
    let dir = std::env::temp_dir().join(format!("preflight-render-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for format in [Format::Text, Format::Json, Format::Junit, Format::Html] {
        let path = dir.join("report.out");
        std::fs::write(&path, "an older report").unwrap();
        preflight_report::write_file(&r, format, false, &path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            render(&r, format),
            "{format:?}"
        );
        // Nothing is left beside it (the temp file was renamed over it).
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    }
    // A directory that does not exist: an error, not a panic, and no temp file anywhere.
    let err = preflight_report::write_file(&r, Format::Json, false, &dir.join("no/such/file"));
    assert!(err.is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
