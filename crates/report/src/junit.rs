//! The JUnit XML rendering: a testsuite per check kind and per space, a testcase per checked
//! (check, subject) and per probed pair; error findings become failures.

use std::fmt::Write as _;

use preflight_model::report::{Finding, Report, ReportKind, Severity};

use crate::grid::{classify, pair_detail, CellState};
use crate::subject::{about_pair, covers, describe};

/// Escapes text for XML content and attribute values. Characters XML 1.0 cannot carry at
/// all (control characters other than tab, newline, carriage return; U+FFFE, U+FFFF) are
/// written as a visible `\u{..}` escape instead.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Newlines and tabs survive in content; in attributes they would be normalised,
            // so encode them as character references there too (harmless in content).
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// One testcase before it is written.
struct Case {
    classname: String,
    name: String,
    failures: Vec<String>,
    /// Warnings and infos: recorded in system-out, do not fail the case.
    notes: Vec<String>,
    skipped: Option<String>,
}

/// One testsuite before it is written.
struct Suite {
    name: String,
    cases: Vec<Case>,
}

fn finding_text(f: &Finding) -> String {
    let mut s = format!(
        "[{}] {} ({}): {}",
        crate::subject::severity_label(f.severity),
        f.code,
        describe(&f.subject),
        f.message
    );
    if let Some(h) = &f.hint {
        s.push_str("\nhint: ");
        s.push_str(h);
    }
    s
}

fn case_from_findings<'a>(
    classname: String,
    name: String,
    findings: impl IntoIterator<Item = &'a Finding>,
) -> Case {
    let mut case = Case {
        classname,
        name,
        failures: Vec::new(),
        notes: Vec::new(),
        skipped: None,
    };
    for f in findings {
        if f.severity == Severity::Error {
            case.failures.push(finding_text(f));
        } else {
            case.notes.push(finding_text(f));
        }
    }
    case
}

/// Renders the report as JUnit XML.
pub fn render(report: &Report) -> String {
    let mut suites: Vec<Suite> = Vec::new();
    let mut used = vec![false; report.findings.len()];

    // Per space: a testcase per probed pair.
    for space in &report.spaces {
        let mut cases = Vec::new();
        for pair in &space.pairs {
            let matched: Vec<&Finding> = report
                .findings
                .iter()
                .enumerate()
                .filter(|(_, f)| about_pair(f, &space.name, pair))
                .map(|(i, f)| {
                    used[i] = true;
                    f
                })
                .collect();
            let name = format!(
                "{} ({}) → {} ({})",
                pair.source_machine, pair.source, pair.target_machine, pair.target
            );
            let mut case = case_from_findings(
                format!("space.{}", space.name),
                name,
                matched.iter().copied(),
            );
            let state = classify(pair);
            match state {
                CellState::Pending => case.skipped = Some("no result arrived".to_string()),
                CellState::Unreachable | CellState::Breach | CellState::Mtu
                    if case.failures.is_empty() =>
                {
                    case.failures.push(format!(
                        "{}: {}",
                        match state {
                            CellState::Unreachable => "unreachable",
                            CellState::Breach => "isolation breach",
                            _ => "MTU blackhole",
                        },
                        pair_detail(pair)
                    ));
                }
                _ => {}
            }
            case.notes.push(pair_detail(pair));
            cases.push(case);
        }
        suites.push(Suite {
            name: format!("space {}", space.name),
            cases,
        });
    }

    // Per check kind: a testcase per checked (check, subject).
    let mut kinds: Vec<&str> = report.checked.iter().map(|c| c.check.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    for kind in kinds {
        let mut cases = Vec::new();
        for checked in report.checked.iter().filter(|c| c.check == kind) {
            let matched: Vec<&Finding> = report
                .findings
                .iter()
                .enumerate()
                .filter(|(_, f)| f.code == checked.check && covers(&checked.subject, &f.subject))
                .map(|(i, f)| {
                    used[i] = true;
                    f
                })
                .collect();
            cases.push(case_from_findings(
                kind.to_string(),
                describe(&checked.subject),
                matched,
            ));
        }
        suites.push(Suite {
            name: kind.to_string(),
            cases,
        });
    }

    // Findings that matched no checked entry and no pair still get a testcase each,
    // in their code's suite, so nothing is lost.
    for (i, f) in report.findings.iter().enumerate() {
        if used[i] {
            continue;
        }
        let case = case_from_findings(f.code.clone(), describe(&f.subject), [f]);
        match suites.iter_mut().find(|s| s.name == f.code) {
            Some(suite) => suite.cases.push(case),
            None => suites.push(Suite {
                name: f.code.clone(),
                cases: vec![case],
            }),
        }
    }

    let kind = match report.kind {
        ReportKind::Validate => "validate",
        ReportKind::Check => "check",
    };
    let total = |f: &dyn Fn(&Case) -> bool| -> usize {
        suites
            .iter()
            .flat_map(|s| &s.cases)
            .filter(|c| f(c))
            .count()
    };
    let tests = total(&|_| true);
    let failures = total(&|c| !c.failures.is_empty());
    let skipped = total(&|c| c.skipped.is_some());

    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"preflight {kind}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" timestamp=\"{}\">",
        xml_escape(&report.generated_at)
    );
    for suite in &suites {
        let failures = suite
            .cases
            .iter()
            .filter(|c| !c.failures.is_empty())
            .count();
        let skipped = suite.cases.iter().filter(|c| c.skipped.is_some()).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">",
            xml_escape(&suite.name),
            suite.cases.len()
        );
        for case in &suite.cases {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\"",
                xml_escape(&case.classname),
                xml_escape(&case.name)
            );
            if case.failures.is_empty() && case.notes.is_empty() && case.skipped.is_none() {
                out.push_str("/>\n");
                continue;
            }
            out.push_str(">\n");
            if let Some(reason) = &case.skipped {
                let _ = writeln!(out, "      <skipped message=\"{}\"/>", xml_escape(reason));
            }
            if !case.failures.is_empty() {
                let first = case.failures[0].lines().next().unwrap_or_default();
                let _ = writeln!(
                    out,
                    "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                    xml_escape(&case.classname),
                    xml_escape(first),
                    xml_escape(&case.failures.join("\n"))
                );
            }
            if !case.notes.is_empty() {
                let _ = writeln!(
                    out,
                    "      <system-out>{}</system-out>",
                    xml_escape(&case.notes.join("\n"))
                );
            }
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
