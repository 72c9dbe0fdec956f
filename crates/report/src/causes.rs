//! The diagnosis as every rendering leads with it: the headline ("N causes explain M of M
//! failing pairs"), the spaces in problem-first order, and each space's culprit machines.

use preflight_model::report::{Cause, Code, Diagnosis, Report, SpaceReport, Step};

use crate::grid::classify;
use crate::subject::count;

/// Whether a finding code is a cause (rendered in the diagnosis, not again among findings).
pub fn is_cause_code(code: &Code) -> bool {
    code.info().is_some_and(|i| i.step == Step::Diagnose) || code.as_str().starts_with("cause.")
}

/// "2 causes explain 12 of 12 failing pairs", when there is anything to diagnose.
pub fn headline(d: &Diagnosis) -> Option<String> {
    if d.failing_pairs == 0 && d.causes.is_empty() {
        return None;
    }
    let verb = if d.causes.len() == 1 {
        "explains"
    } else {
        "explain"
    };
    Some(format!(
        "{} {verb} {} of {} failing pair{}",
        count(d.causes.len(), "cause"),
        d.explained_pairs,
        d.failing_pairs,
        if d.failing_pairs == 1 { "" } else { "s" }
    ))
}

/// The report's spaces, those with problem pairs first (each group in report order).
pub fn spaces_problem_first(report: &Report) -> Vec<&SpaceReport> {
    let (mut bad, good): (Vec<&SpaceReport>, Vec<&SpaceReport>) = report
        .spaces
        .iter()
        .partition(|s| s.pairs.iter().any(|p| classify(p).is_problem()));
    bad.extend(good);
    bad
}

/// The causes that explain pairs of this space.
pub fn causes_in<'a>(report: &'a Report, space: &str) -> Vec<&'a Cause> {
    report
        .diagnosis
        .iter()
        .flat_map(|d| &d.causes)
        .filter(|c| c.spaces.iter().any(|s| s == space))
        .collect()
}

/// Machines named as the culprit of a cause in this space (their row and column stand out).
pub fn culprit_machines(report: &Report, space: &str) -> Vec<String> {
    let mut out: Vec<String> = causes_in(report, space)
        .into_iter()
        .filter_map(|c| c.subject.machine.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}
