//! The text rendering: aligned columns, optional ANSI colour.

use std::fmt::Write as _;

use preflight_model::report::{Finding, Report, ReportKind, Severity, SpaceReport, Status};

use crate::grid::{classify, pair_detail, CellState, Grid};
use crate::subject::{application_groups, count, describe, severity_label, tally};

/// How many problem pairs a space lists before summarising the rest.
const MAX_PROBLEMS_LISTED: usize = 25;

/// Largest space (in machines) drawn as a matrix; above it, a per-machine summary.
pub const TEXT_MATRIX_MAX: usize = 64;

const RED: &str = "31";
const GREEN: &str = "32";
const YELLOW: &str = "33";
const DIM: &str = "2";
const BOLD: &str = "1";

struct Painter {
    color: bool,
}

impl Painter {
    fn paint(&self, s: &str, code: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    fn state(&self, state: CellState, s: &str) -> String {
        let code = match state {
            CellState::Ok => GREEN,
            CellState::Loss | CellState::Mtu => YELLOW,
            CellState::Unreachable | CellState::Breach => RED,
            CellState::Pending | CellState::NotProbed => DIM,
        };
        self.paint(s, code)
    }

    fn severity(&self, sev: Severity, s: &str) -> String {
        let code = match sev {
            Severity::Error => RED,
            Severity::Warning => YELLOW,
            Severity::Info => DIM,
        };
        self.paint(s, code)
    }
}

/// Display width of a string, counting chars (the marks used are all single-width).
fn width(s: &str) -> usize {
    s.chars().count()
}

/// Pads `s` on the right to `w` columns.
fn pad(s: &str, w: usize) -> String {
    let mut out = s.to_string();
    for _ in width(s)..w {
        out.push(' ');
    }
    out
}

/// Replaces control characters so a hostile string cannot move the cursor or forge lines.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '�' } else { c })
        .collect()
}

/// Renders the report as text.
pub(crate) fn render(report: &Report, color: bool) -> String {
    let p = Painter { color };
    let mut out = String::new();
    let kind = match report.kind {
        ReportKind::Validate => "validate",
        ReportKind::Check => "check",
    };
    let _ = writeln!(
        out,
        "{}",
        p.paint(
            &format!(
                "preflight {kind} report — {} — preflight {}",
                clean(&report.generated_at),
                clean(&report.tool_version)
            ),
            BOLD
        )
    );
    if !report.inputs.is_empty() {
        let inputs: Vec<String> = report.inputs.iter().map(|i| clean(i)).collect();
        let _ = writeln!(out, "Inputs: {}", inputs.join(", "));
    }
    match report.kind {
        ReportKind::Check => render_check(report, &p, &mut out),
        ReportKind::Validate => render_validate(report, &p, &mut out),
    }
    out.push('\n');
    out.push_str(&verdict(report, &p));
    out.push('\n');
    out
}

fn render_check(report: &Report, p: &Painter, out: &mut String) {
    if let Some(line) = progress_line(report) {
        let _ = writeln!(out, "{line}");
    }
    render_diagnosis(report, p, out);
    if report.spaces.is_empty() {
        let _ = writeln!(out, "\nNo spaces were probed.");
    }
    for space in crate::causes::spaces_problem_first(report) {
        render_space(space, p, out);
    }
    if !report.spaces.is_empty() {
        let legend: Vec<String> = CellState::ALL
            .iter()
            .map(|s| format!("{} {}", p.state(*s, &s.mark().to_string()), short_state(*s)))
            .collect();
        let _ = writeln!(
            out,
            "\nLegend (row = source, column = target): {}",
            legend.join("  ")
        );
    }
    crate::pairs::text(report, out);
    let _ = writeln!(out, "\nFindings");
    // Causes lead the report (above); here the per-pair and drift findings, their evidence.
    let shown: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| !crate::causes::is_cause_code(&f.code))
        .collect();
    if shown.is_empty() {
        let _ = writeln!(out, "  none");
        return;
    }
    for sev in [Severity::Error, Severity::Warning, Severity::Info] {
        let group: Vec<&Finding> = shown
            .iter()
            .copied()
            .filter(|f| f.severity == sev)
            .collect();
        if group.is_empty() {
            continue;
        }
        let title = match sev {
            Severity::Error => "Errors",
            Severity::Warning => "Warnings",
            Severity::Info => "Info",
        };
        let _ = writeln!(
            out,
            "{}",
            p.severity(sev, &format!("{title} ({})", group.len()))
        );
        render_findings(&group, false, p, out);
    }
}

/// The diagnosis: the headline, then each cause with its fix, evidence and pairs.
fn render_diagnosis(report: &Report, p: &Painter, out: &mut String) {
    let Some(d) = &report.diagnosis else { return };
    let Some(headline) = crate::causes::headline(d) else {
        return;
    };
    let _ = writeln!(
        out,
        "\n{}",
        p.paint(&format!("Diagnosis: {headline}"), BOLD)
    );
    for (i, c) in d.causes.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {}. {}  {}",
            i + 1,
            p.severity(Severity::Error, &clean(c.code.as_str())),
            clean(&describe(&c.subject))
        );
        let _ = writeln!(out, "     {}", clean(&c.message));
        let _ = writeln!(out, "     fix: {}", clean(&c.fix));
        for e in &c.evidence {
            let _ = writeln!(out, "     evidence: {}", clean(e));
        }
        if !c.indistinguishable.is_empty() {
            let list: Vec<String> = c.indistinguishable.iter().map(|x| clean(x)).collect();
            let _ = writeln!(out, "     cannot be told apart from: {}", list.join("; "));
        }
        let _ = writeln!(
            out,
            "     explains {} in {}",
            count(c.pairs.len(), "failing pair"),
            clean(&c.spaces.join(", "))
        );
    }
    if d.explained_pairs < d.failing_pairs {
        let _ = writeln!(
            out,
            "  {} unexplained (see the pairs below)",
            count(d.failing_pairs - d.explained_pairs, "failing pair")
        );
    }
}

fn short_state(s: CellState) -> &'static str {
    s.label()
}

/// `Agents: 3 of 3 reported · Probes: 12 of 12 done`, when the summary carries the counts.
fn progress_line(report: &Report) -> Option<String> {
    let s = &report.summary;
    let mut parts = Vec::new();
    match (s.agents_reported, s.agents_expected) {
        (Some(r), Some(e)) => parts.push(format!("Agents: {r} of {e} reported")),
        (Some(r), None) => parts.push(format!("Agents: {r} reported")),
        _ => {}
    }
    match (s.probes_done, s.probes_planned) {
        (Some(d), Some(p)) => parts.push(format!("Probes: {d} of {p} done")),
        (Some(d), None) => parts.push(format!("Probes: {d} done")),
        _ => {}
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

fn render_space(space: &SpaceReport, p: &Painter, out: &mut String) {
    let id = space.id.map(|i| format!(" (id {i})")).unwrap_or_default();
    let _ = writeln!(
        out,
        "\n{}",
        p.paint(&format!("Space {}{id}", clean(&space.name)), BOLD)
    );
    // Subnets table.
    if space.subnets.is_empty() {
        let _ = writeln!(out, "  Subnets: none");
    } else {
        let rows: Vec<[String; 4]> = space
            .subnets
            .iter()
            .map(|s| {
                [
                    clean(&s.cidr),
                    s.fabric.as_deref().map(clean).unwrap_or_else(|| "-".into()),
                    s.vid.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
                    s.mtu.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        let header = ["SUBNET", "FABRIC", "VLAN", "MTU"].map(String::from);
        let widths: Vec<usize> = (0..4)
            .map(|c| {
                std::iter::once(&header)
                    .chain(rows.iter())
                    .map(|r| width(&r[c]))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in std::iter::once(&header).chain(rows.iter()) {
            let line: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(c, v)| pad(v, widths[c]))
                .collect();
            let _ = writeln!(out, "  {}", line.join("  ").trim_end());
        }
    }
    // Matrix.
    let grid = Grid::of(space);
    let n = grid.machines.len();
    if n == 0 {
        let _ = writeln!(out, "  Machines: none");
        return;
    }
    if n > TEXT_MATRIX_MAX {
        machine_summary(space, &grid, out);
    } else {
        matrix(&grid, p, out);
    }
    // Pair counts and problems.
    let counts: Vec<String> = Grid::pair_counts(space)
        .into_iter()
        .filter(|(_, c)| *c > 0)
        .map(|(s, c)| format!("{c} {}", short_state(s)))
        .collect();
    let _ = writeln!(
        out,
        "  {}{}",
        count(space.pairs.len(), "pair"),
        if counts.is_empty() {
            String::new()
        } else {
            format!(": {}", counts.join(", "))
        }
    );
    let problems: Vec<_> = space
        .pairs
        .iter()
        .map(|pair| (pair, classify(pair)))
        .filter(|(_, s)| s.is_problem())
        .collect();
    for (pair, state) in problems.iter().take(MAX_PROBLEMS_LISTED) {
        let detail = pair_detail(pair);
        let _ = writeln!(
            out,
            "    {} {} ({}) → {} ({}): {}{}",
            p.state(*state, &state.mark().to_string()),
            clean(&pair.source_machine),
            pair.source,
            clean(&pair.target_machine),
            pair.target,
            short_state(*state),
            if detail.is_empty() {
                String::new()
            } else {
                format!(" — {}", clean(&detail))
            }
        );
    }
    if problems.len() > MAX_PROBLEMS_LISTED {
        let _ = writeln!(
            out,
            "    … and {} more (see the JSON or HTML report)",
            problems.len() - MAX_PROBLEMS_LISTED
        );
    }
}

/// The source × target matrix with numbered columns.
fn matrix(grid: &Grid, p: &Painter, out: &mut String) {
    let n = grid.machines.len();
    let num_w = n.to_string().len();
    let names: Vec<String> = grid.machines.iter().map(|m| clean(m)).collect();
    let name_w = names.iter().map(|m| width(m)).max().unwrap_or(0);
    let lead = num_w + 1 + name_w; // "NN name"
                                   // Column numbers written vertically, one header line per digit place, so every column is
                                   // two characters wide whatever the number of machines.
    for place in (0..num_w).rev() {
        let mut header = format!("  {}", pad("", lead));
        for c in 1..=n {
            let digits = c.to_string();
            let digit = digits.bytes().rev().nth(place).map_or(' ', char::from);
            header.push(' ');
            header.push(digit);
        }
        let _ = writeln!(out, "{}", header.trim_end());
    }
    for (r, name) in names.iter().enumerate() {
        let mut line = format!("  {:>num_w$} {}", r + 1, pad(name, name_w));
        for c in 0..n {
            let state = grid.state(r, c);
            let _ = write!(line, " {}", p.state(state, &state.mark().to_string()));
        }
        let _ = writeln!(out, "{line}");
    }
}

/// Instead of a matrix too wide to read: the machines with the most problem pairs.
fn machine_summary(space: &SpaceReport, grid: &Grid, out: &mut String) {
    let n = grid.machines.len();
    let per = grid.problems_per_machine(space);
    let mut bad: Vec<(usize, usize, usize)> = per
        .iter()
        .enumerate()
        .filter(|(_, (o, i))| o + i > 0)
        .map(|(m, (o, i))| (m, *o, *i))
        .collect();
    bad.sort_by_key(|&(m, o, i)| (std::cmp::Reverse(o + i), m));
    let _ = writeln!(
        out,
        "  {n} machines: matrix omitted (over {TEXT_MATRIX_MAX}); {} with problem pairs",
        bad.len()
    );
    if bad.is_empty() {
        return;
    }
    let name_w = bad
        .iter()
        .take(MAX_PROBLEMS_LISTED)
        .map(|&(m, _, _)| width(&clean(grid.machines[m])))
        .max()
        .unwrap_or(0)
        .max("MACHINE".len());
    let _ = writeln!(out, "  {}  AS SOURCE  AS TARGET", pad("MACHINE", name_w));
    for &(m, o, i) in bad.iter().take(MAX_PROBLEMS_LISTED) {
        let _ = writeln!(
            out,
            "  {}  {o:>9}  {i:>9}",
            pad(&clean(grid.machines[m]), name_w)
        );
    }
    if bad.len() > MAX_PROBLEMS_LISTED {
        let _ = writeln!(
            out,
            "  … and {} more machines",
            bad.len() - MAX_PROBLEMS_LISTED
        );
    }
}

/// Writes findings: `LABEL code  subject`, then message and hint indented below.
fn render_findings(findings: &[&Finding], with_label: bool, p: &Painter, out: &mut String) {
    let code_w = findings
        .iter()
        .map(|f| width(f.code.as_str()))
        .max()
        .unwrap_or(0);
    let label_w = if with_label { 8 } else { 0 };
    // Message and hint line up under the code column (or two further in without labels).
    let indent = if with_label { 2 + label_w } else { 4 };
    for f in findings {
        let label = if with_label {
            p.severity(f.severity, &pad(severity_label(f.severity), label_w))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  {label}{}  {}",
            pad(&clean(f.code.as_str()), code_w),
            clean(&describe(&f.subject))
        );
        let _ = writeln!(out, "{:indent$}{}", "", clean(&f.message));
        if let Some(hint) = &f.hint {
            let _ = writeln!(out, "{:indent$}hint: {}", "", clean(hint));
        }
    }
}

fn render_validate(report: &Report, p: &Painter, out: &mut String) {
    let groups = application_groups(report);
    if groups.is_empty() {
        let _ = writeln!(out, "\nNo applications checked and no findings.");
        return;
    }
    let labels: Vec<String> = groups
        .iter()
        .map(|g| {
            g.as_deref()
                .map(clean)
                .unwrap_or_else(|| "model-wide".into())
        })
        .collect();
    let label_w = labels.iter().map(|l| width(l)).max().unwrap_or(0);
    for (group, label) in groups.iter().zip(&labels) {
        let findings: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.subject.application.as_ref() == group.as_ref())
            .collect();
        let (e, w, i) = tally(findings.iter().copied());
        let checks = report
            .checked
            .iter()
            .filter(|c| c.subject.application.as_ref() == group.as_ref())
            .count();
        let (verdict, sev) = if e > 0 {
            ("FAIL", Some(Severity::Error))
        } else if w > 0 {
            ("WARN", Some(Severity::Warning))
        } else {
            ("PASS", None)
        };
        let verdict = match sev {
            Some(s) => p.severity(s, verdict),
            None => p.paint(verdict, GREEN),
        };
        let mut detail = vec![count(e, "error"), count(w, "warning")];
        if i > 0 {
            detail.push(format!("{i} info"));
        }
        if checks > 0 {
            detail.push(format!(
                "{} passed",
                count(checks.saturating_sub(failed_checks(report, group)), "check")
            ));
        }
        let _ = writeln!(
            out,
            "\n{}  {verdict}  {}",
            p.paint(&pad(label, label_w), BOLD),
            detail.join(", ")
        );
        let mut sorted = findings;
        sorted.sort_by_key(|f| f.severity);
        render_findings(&sorted, true, p, out);
    }
}

/// How many checked entries of a group have at least one matching error or warning finding.
fn failed_checks(report: &Report, group: &Option<String>) -> usize {
    report
        .checked
        .iter()
        .filter(|c| c.subject.application.as_ref() == group.as_ref())
        .filter(|c| {
            report.findings.iter().any(|f| {
                f.code == c.check
                    && f.severity != Severity::Info
                    && crate::subject::covers(&c.subject, &f.subject)
            })
        })
        .count()
}

/// The verdict line: `PASS: 0 errors, 1 warning, 0 info` / `FAIL: 2 errors, …`.
fn verdict(report: &Report, p: &Painter) -> String {
    let s = &report.summary;
    let (word, code) = match s.status {
        Status::Pass => ("PASS", GREEN),
        Status::Fail => ("FAIL", RED),
    };
    let mut line = format!(
        "{}: {}, {}, {} info",
        p.paint(word, &format!("{BOLD};{code}")),
        count(s.errors, "error"),
        count(s.warnings, "warning"),
        s.infos
    );
    if report.kind == ReportKind::Validate {
        let apps = application_groups(report)
            .into_iter()
            .filter(Option::is_some)
            .count();
        let _ = write!(line, " — {} checked", count(apps, "application"));
    } else if let Some(progress) = progress_line(report) {
        let _ = write!(line, " — {}", progress.to_lowercase());
    }
    line
}
