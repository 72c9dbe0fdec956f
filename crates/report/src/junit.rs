//! The JUnit XML rendering: a testsuite per check kind and per space, a testcase per checked
//! (check, subject) and per probed pair; error findings become failures.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::rc::Rc;

use preflight_model::report::{Finding, PairState, Report, ReportKind, Severity, Subject};

use crate::grid::pair_detail;
use crate::subject::{covers, describe, PairFindings};

/// Escapes text for XML content and attribute values. Characters XML 1.0 cannot carry at
/// all (control characters other than tab, newline, carriage return; U+FFFE, U+FFFF) are
/// written as a visible `\u{..}` escape instead.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_xml(&mut out, s);
    out
}

/// Appends `s` to `out`, XML-escaped as [`xml_escape`] does; runs of plain text are copied whole.
pub(crate) fn push_xml(out: &mut String, s: &str) {
    push_escaped(out, s, true);
}

/// Like [`push_xml`] for element content: newlines and tabs stay literal (readable in a CI log).
fn push_xml_text(out: &mut String, s: &str) {
    push_escaped(out, s, false);
}

fn push_escaped(out: &mut String, s: &str, attribute: bool) {
    let mut plain = 0;
    for (i, c) in s.char_indices() {
        let rep = match c {
            '\n' | '\t' if !attribute => continue,
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\'' => "&apos;",
            // Newlines and tabs survive in content; in attributes they would be normalised,
            // so encode them as character references there too (harmless in content).
            '\n' => "&#10;",
            '\r' => "&#13;",
            '\t' => "&#9;",
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                out.push_str(&s[plain..i]);
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
                plain = i + c.len_utf8();
                continue;
            }
            _ => continue,
        };
        out.push_str(&s[plain..i]);
        out.push_str(rep);
        plain = i + c.len_utf8();
    }
    out.push_str(&s[plain..]);
}

/// Findings indexed by code, and within a code by application and by (source, target), so a
/// checked entry only compares itself with findings that can match it.
struct CodeIndex<'a> {
    all: HashMap<&'a str, Vec<usize>>,
    by_app: HashMap<(&'a str, &'a str), Vec<usize>>,
    by_ends: HashMap<(&'a str, &'a str, &'a str), Vec<usize>>,
}

impl<'a> CodeIndex<'a> {
    fn new(findings: &'a [Finding]) -> CodeIndex<'a> {
        let mut idx = CodeIndex {
            all: HashMap::new(),
            by_app: HashMap::new(),
            by_ends: HashMap::new(),
        };
        for (i, f) in findings.iter().enumerate() {
            let code = f.code.as_str();
            idx.all.entry(code).or_default().push(i);
            if let Some(a) = &f.subject.application {
                idx.by_app.entry((code, a)).or_default().push(i);
            }
            if let (Some(s), Some(t)) = (&f.subject.source, &f.subject.target) {
                idx.by_ends.entry((code, s, t)).or_default().push(i);
            }
        }
        idx
    }

    /// Findings of this code that may fall under this subject (a superset; filter with `covers`).
    fn candidates(&self, code: &'a str, subject: &'a Subject) -> &[usize] {
        let found = match (&subject.source, &subject.target, &subject.application) {
            (Some(s), Some(t), _) => self.by_ends.get(&(code, s.as_str(), t.as_str())),
            (_, _, Some(a)) => self.by_app.get(&(code, a.as_str())),
            _ => self.all.get(code),
        };
        found.map(Vec::as_slice).unwrap_or(&[])
    }
}

/// One testcase before it is written.
struct Case {
    classname: Rc<str>,
    name: String,
    /// `type` of the failure element: the first failing finding's code.
    failure_type: Option<String>,
    failures: Vec<String>,
    /// Warnings and infos: recorded in system-out, do not fail the case.
    notes: Vec<String>,
    skipped: Option<String>,
}

/// Where the suite walk sends what it produces: the counting pass and the writing pass.
trait Sink {
    /// A testsuite begins.
    fn start(&mut self, name: &str) -> std::io::Result<()>;
    /// One testcase of the current suite.
    fn case(&mut self, case: Case) -> std::io::Result<()>;
    /// The current testsuite ends.
    fn end(&mut self) -> std::io::Result<()>;
}

/// Per-suite counts (the attributes a suite's opening tag needs before its cases).
#[derive(Default)]
struct Counts {
    name: String,
    tests: usize,
    failures: usize,
    skipped: usize,
}

impl Counts {
    fn add(&mut self, case: &Case) {
        self.tests += 1;
        self.failures += usize::from(!case.failures.is_empty());
        self.skipped += usize::from(case.skipped.is_some());
    }
}

/// The first pass: counts every suite, keeps no case.
#[derive(Default)]
struct Counter {
    suites: Vec<Counts>,
}

impl Sink for Counter {
    fn start(&mut self, name: &str) -> std::io::Result<()> {
        self.suites.push(Counts {
            name: name.to_string(),
            ..Counts::default()
        });
        Ok(())
    }
    fn case(&mut self, case: Case) -> std::io::Result<()> {
        if let Some(c) = self.suites.last_mut() {
            c.add(&case);
        }
        Ok(())
    }
    fn end(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The second pass: writes each case as it comes, with the counts of the first pass.
struct Writer<'w> {
    out: &'w mut dyn std::io::Write,
    counts: std::vec::IntoIter<Counts>,
    /// One case's XML, reused.
    buf: String,
}

impl Sink for Writer<'_> {
    fn start(&mut self, name: &str) -> std::io::Result<()> {
        let c = self.counts.next().unwrap_or_default();
        writeln!(
            self.out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">",
            xml_escape(name),
            c.tests,
            c.failures,
            c.skipped
        )
    }
    fn case(&mut self, case: Case) -> std::io::Result<()> {
        self.buf.clear();
        push_case(&mut self.buf, &case);
        self.out.write_all(self.buf.as_bytes())
    }
    fn end(&mut self) -> std::io::Result<()> {
        self.out.write_all(b"  </testsuite>\n")
    }
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
    classname: Rc<str>,
    name: String,
    findings: impl IntoIterator<Item = &'a Finding>,
) -> Case {
    let mut case = Case {
        classname,
        name,
        failure_type: None,
        failures: Vec::new(),
        notes: Vec::new(),
        skipped: None,
    };
    for f in findings {
        if f.severity == Severity::Error {
            case.failure_type.get_or_insert_with(|| f.code.to_string());
            case.failures.push(finding_text(f));
        } else {
            case.notes.push(finding_text(f));
        }
    }
    case
}

/// Renders the report as JUnit XML.
pub(crate) fn render(report: &Report) -> String {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = write(report, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes the report as JUnit XML to `out`, a testcase at a time: a first pass counts each
/// suite (its opening tag carries the counts), the second writes; neither holds the document
/// or a whole suite.
pub(crate) fn write(report: &Report, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut counter = Counter::default();
    let used = walk(report, None, &mut counter)?;
    // Findings that matched no checked entry and no pair get a testcase each, in their code's
    // suite (a check kind's, or one of their own after the rest), so nothing is lost.
    for (i, f) in report.findings.iter().enumerate() {
        if used[i] {
            continue;
        }
        let case = leftover_case(f);
        match counter
            .suites
            .iter_mut()
            .find(|s| s.name == f.code.as_str())
        {
            Some(suite) => suite.add(&case),
            None => {
                let mut c = Counts {
                    name: f.code.to_string(),
                    ..Counts::default()
                };
                c.add(&case);
                counter.suites.push(c);
            }
        }
    }
    let sum = |f: fn(&Counts) -> usize| counter.suites.iter().map(f).sum::<usize>();
    let (tests, failures, skipped) = (sum(|c| c.tests), sum(|c| c.failures), sum(|c| c.skipped));
    let kind = match report.kind {
        ReportKind::Validate => "validate",
        ReportKind::Check => "check",
    };
    out.write_all(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")?;
    writeln!(
        out,
        "<testsuites name=\"preflight {kind}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" timestamp=\"{}\">",
        xml_escape(&report.generated_at)
    )?;
    let mut writer = Writer {
        out,
        counts: counter.suites.into_iter(),
        buf: String::new(),
    };
    walk(report, Some(&used), &mut writer)?;
    writer.out.write_all(b"</testsuites>\n")
}

/// Produces every suite and case in document order into `sink` and returns which findings a
/// case took. With `leftovers` (the first pass's answer), the findings no case took are added:
/// to the suite of the check kind with their code, or in suites of their own at the end.
fn walk(
    report: &Report,
    leftovers: Option<&[bool]>,
    sink: &mut dyn Sink,
) -> std::io::Result<Vec<bool>> {
    let mut used = vec![false; report.findings.len()];

    // First the diagnosis: a testcase per cause, failing with its fix, evidence and pairs.
    if let Some(d) = report.diagnosis.as_ref().filter(|d| !d.causes.is_empty()) {
        let classname: Rc<str> = Rc::from("diagnosis");
        sink.start(&crate::causes::headline(d).unwrap_or_else(|| "diagnosis".into()))?;
        for c in &d.causes {
            let mut text = format!(
                "[error] {} ({}): {}\nfix: {}",
                c.code,
                describe(&c.subject),
                c.message,
                c.fix
            );
            for e in &c.evidence {
                text.push_str("\nevidence: ");
                text.push_str(e);
            }
            if !c.indistinguishable.is_empty() {
                text.push_str("\ncannot be told apart from: ");
                text.push_str(&c.indistinguishable.join("; "));
            }
            text.push_str(&format!("\nexplains {} failing pairs:", c.pairs.len()));
            for p in &c.pairs {
                text.push_str("\n  ");
                text.push_str(p);
            }
            sink.case(Case {
                classname: classname.clone(),
                name: format!("{} {}", c.code, describe(&c.subject)),
                failure_type: Some(c.code.as_str().to_string()),
                failures: vec![text],
                notes: Vec::new(),
                skipped: None,
            })?;
        }
        sink.end()?;
        // Their findings are these testcases.
        for (i, f) in report.findings.iter().enumerate() {
            if crate::causes::is_cause_code(&f.code) {
                used[i] = true;
            }
        }
    }

    // Per space: a testcase per probed pair.
    let index = PairFindings::new(&report.findings);
    for space in &report.spaces {
        let classname: Rc<str> = Rc::from(format!("space.{}", space.name));
        sink.start(&format!("space {}", space.name))?;
        for pair in &space.pairs {
            let matched: Vec<&Finding> = index
                .about(&space.name, pair)
                .into_iter()
                .map(|i| {
                    used[i] = true;
                    &report.findings[i]
                })
                .collect();
            let name = format!(
                "{} ({}) → {} ({})",
                pair.source_machine, pair.source, pair.target_machine, pair.target
            );
            let mut case = case_from_findings(classname.clone(), name, matched.iter().copied());
            // The pair's verdict is its judged state; the failure text is the findings'. A
            // failing pair without a finding would be a bug in the findings (tests catch it),
            // not something to invent here.
            if pair.state == PairState::Pending {
                case.skipped = Some("no result arrived".to_string());
            }
            // An item the agent refused was not run: skipped, with the reason (probe.not-run).
            if pair.state == PairState::NotRun {
                case.skipped = Some(match &pair.failure {
                    Some(c) => format!("not run by the agent: {c}"),
                    None => "not run by the agent".to_string(),
                });
            }
            let detail = pair_detail(pair);
            if !detail.is_empty() {
                case.notes.push(detail);
            }
            sink.case(case)?;
        }
        sink.end()?;
    }

    // Per check kind: a testcase per checked (check, subject).
    let mut kinds: Vec<&str> = report.checked.iter().map(|c| c.check.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let by_code = CodeIndex::new(&report.findings);
    for &kind in &kinds {
        let classname: Rc<str> = Rc::from(kind);
        sink.start(kind)?;
        for checked in report.checked.iter().filter(|c| c.check == kind) {
            let matched: Vec<&Finding> = by_code
                .candidates(checked.check.as_str(), &checked.subject)
                .iter()
                .copied()
                .filter(|&i| covers(&checked.subject, &report.findings[i].subject))
                .map(|i| {
                    used[i] = true;
                    &report.findings[i]
                })
                .collect();
            sink.case(case_from_findings(
                classname.clone(),
                describe(&checked.subject),
                matched,
            ))?;
        }
        if let Some(taken) = leftovers {
            for (i, f) in report.findings.iter().enumerate() {
                if !taken[i] && f.code.as_str() == kind {
                    sink.case(leftover_case(f))?;
                }
            }
        }
        sink.end()?;
    }

    // The remaining leftovers, a suite per code in the order the codes first appear.
    if let Some(taken) = leftovers {
        let mut done: Vec<&str> = Vec::new();
        for (i, f) in report.findings.iter().enumerate() {
            let code = f.code.as_str();
            if taken[i] || kinds.contains(&code) || done.contains(&code) {
                continue;
            }
            done.push(code);
            sink.start(code)?;
            for (j, g) in report.findings.iter().enumerate().skip(i) {
                if !taken[j] && g.code.as_str() == code {
                    sink.case(leftover_case(g))?;
                }
            }
            sink.end()?;
        }
    }
    Ok(used)
}

/// The testcase of a finding no checked entry and no pair took, in its code's class.
fn leftover_case(f: &Finding) -> Case {
    case_from_findings(Rc::from(f.code.as_str()), describe(&f.subject), [f])
}

/// Appends one testcase element.
fn push_case(out: &mut String, case: &Case) {
    out.push_str("    <testcase classname=\"");
    push_xml(out, &case.classname);
    out.push_str("\" name=\"");
    push_xml(out, &case.name);
    out.push('"');
    if case.failures.is_empty() && case.notes.is_empty() && case.skipped.is_none() {
        out.push_str("/>\n");
        return;
    }
    out.push_str(">\n");
    if let Some(reason) = &case.skipped {
        out.push_str("      <skipped message=\"");
        push_xml(out, reason);
        out.push_str("\"/>\n");
    }
    if let Some(first) = case.failures.first() {
        out.push_str("      <failure type=\"");
        push_xml(out, case.failure_type.as_deref().unwrap_or(&case.classname));
        out.push_str("\" message=\"");
        push_xml(out, first.lines().next().unwrap_or_default());
        out.push_str("\">");
        for (i, f) in case.failures.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            push_xml_text(out, f);
        }
        out.push_str("</failure>\n");
    }
    if !case.notes.is_empty() {
        out.push_str("      <system-out>");
        for (i, n) in case.notes.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            push_xml_text(out, n);
        }
        out.push_str("</system-out>\n");
    }
    out.push_str("    </testcase>\n");
}
