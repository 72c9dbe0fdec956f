//! Subjects: how they print, how a finding matches a checked entry or a probed pair.

use preflight_model::report::{Finding, PairResult, Severity, Subject};

/// Compact one-line form: `keystone:public space=internal`, `m1 → m2 space=data`.
pub fn describe(s: &Subject) -> String {
    let mut parts = Vec::new();
    match (&s.application, &s.endpoint) {
        (Some(a), Some(e)) => parts.push(format!("{a}:{e}")),
        (Some(a), None) => parts.push(a.clone()),
        (None, Some(e)) => parts.push(format!("endpoint={e}")),
        (None, None) => {}
    }
    match (&s.source, &s.target) {
        (Some(a), Some(b)) => parts.push(format!("{a} → {b}")),
        (Some(a), None) => parts.push(format!("source={a}")),
        (None, Some(b)) => parts.push(format!("target={b}")),
        (None, None) => {}
    }
    for (k, v) in [
        ("space", &s.space),
        ("machine", &s.machine),
        ("subnet", &s.subnet),
        ("interface", &s.interface),
    ] {
        if let Some(v) = v {
            parts.push(format!("{k}={v}"));
        }
    }
    if parts.is_empty() {
        "(model)".to_string()
    } else {
        parts.join(" ")
    }
}

/// Whether a finding's subject falls under a checked subject: every field the checked
/// subject sets is equal in the finding (the finding may be more specific).
pub fn covers(checked: &Subject, finding: &Subject) -> bool {
    let pairs = [
        (&checked.application, &finding.application),
        (&checked.endpoint, &finding.endpoint),
        (&checked.space, &finding.space),
        (&checked.machine, &finding.machine),
        (&checked.subnet, &finding.subnet),
        (&checked.interface, &finding.interface),
        (&checked.source, &finding.source),
        (&checked.target, &finding.target),
    ];
    pairs.iter().all(|(c, f)| c.is_none() || c == f)
}

/// Whether a finding is about this probed pair (in this space): its source and target name the
/// pair's machines or addresses, and its space, when set, is the pair's space.
pub fn about_pair(f: &Finding, space: &str, pair: &PairResult) -> bool {
    let s = &f.subject;
    if s.space.as_deref().is_some_and(|sp| sp != space) {
        return false;
    }
    let (Some(src), Some(dst)) = (&s.source, &s.target) else {
        return false;
    };
    let names = |name: &str, machine: &str, addr: &std::net::IpAddr| {
        name == machine || name == addr.to_string()
    };
    names(src, &pair.source_machine, &pair.source) && names(dst, &pair.target_machine, &pair.target)
}

/// Upper-case severity label.
pub fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::Error => "ERROR",
        Severity::Warning => "WARNING",
        Severity::Info => "INFO",
    }
}

/// `1 error`, `2 warnings`: a count with its noun, singular or plural.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Counts of (errors, warnings, infos) in some findings.
pub fn tally<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> (usize, usize, usize) {
    findings
        .into_iter()
        .fold((0, 0, 0), |(e, w, i), f| match f.severity {
            Severity::Error => (e + 1, w, i),
            Severity::Warning => (e, w + 1, i),
            Severity::Info => (e, w, i + 1),
        })
}

/// The groups of a validate report: each application (from findings and checked entries,
/// sorted), then `None` for model-wide findings (no application) when there are any.
pub fn application_groups(report: &preflight_model::report::Report) -> Vec<Option<String>> {
    let mut apps: Vec<String> = report
        .findings
        .iter()
        .map(|f| &f.subject)
        .chain(report.checked.iter().map(|c| &c.subject))
        .filter_map(|s| s.application.clone())
        .collect();
    apps.sort();
    apps.dedup();
    let mut groups: Vec<Option<String>> = apps.into_iter().map(Some).collect();
    if report
        .findings
        .iter()
        .any(|f| f.subject.application.is_none())
    {
        groups.push(None);
    }
    groups
}

/// Findings that name a source and a target, indexed by those two names, so the findings about
/// a probed pair are found without scanning every finding for every pair.
pub struct PairFindings<'a> {
    findings: &'a [Finding],
    by_ends: std::collections::HashMap<(&'a str, &'a str), Vec<usize>>,
}

impl<'a> PairFindings<'a> {
    /// Indexes the findings that have both a source and a target.
    pub fn new(findings: &'a [Finding]) -> PairFindings<'a> {
        let mut by_ends: std::collections::HashMap<(&'a str, &'a str), Vec<usize>> =
            std::collections::HashMap::new();
        // Causes name a pair too (a one-way policy) but are about a fault, not the pair.
        for (i, f) in findings.iter().enumerate() {
            if crate::causes::is_cause_code(&f.code) {
                continue;
            }
            if let (Some(s), Some(t)) = (&f.subject.source, &f.subject.target) {
                by_ends.entry((s.as_str(), t.as_str())).or_default().push(i);
            }
        }
        PairFindings { findings, by_ends }
    }

    /// Indices of the findings [`about_pair`] this pair in this space, in finding order.
    pub fn about(&self, space: &str, pair: &PairResult) -> Vec<usize> {
        if self.by_ends.is_empty() {
            return Vec::new();
        }
        let src_addr = pair.source.to_string();
        let dst_addr = pair.target.to_string();
        let mut out: Vec<usize> = Vec::new();
        for s in [pair.source_machine.as_str(), src_addr.as_str()] {
            for t in [pair.target_machine.as_str(), dst_addr.as_str()] {
                if let Some(v) = self.by_ends.get(&(s, t)) {
                    out.extend(
                        v.iter()
                            .filter(|&&i| about_pair(&self.findings[i], space, pair)),
                    );
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}
