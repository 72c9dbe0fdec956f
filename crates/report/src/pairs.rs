//! The space × space matrix of a check report: which pairs of spaces the bundle's relations
//! need, which must stay isolated, and what the probes between them saw
//! ([`preflight_model::report::SpacePair`]). Text and HTML share [`Verdict::of`].

use std::collections::BTreeSet;
use std::fmt::Write;

use preflight_model::report::{PairPolicy, Report, SpacePair};

use crate::html::html_escape;

/// What a pair's probes say about its policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Needed and every probe answered, or isolated and none did.
    Holds,
    /// Needed and some probe got no answer.
    Broken,
    /// Isolated and some probe was answered.
    Breached,
    /// A policy, but no probe (or no result yet).
    Unprobed,
    /// No policy: not probed by design.
    Open,
}

impl Verdict {
    pub(crate) fn of(p: &SpacePair) -> Verdict {
        match p.policy {
            PairPolicy::Allowed | PairPolicy::Unconstrained => Verdict::Open,
            _ if p.done == 0 => Verdict::Unprobed,
            PairPolicy::Needed if p.answered < p.done => Verdict::Broken,
            PairPolicy::Needed => Verdict::Holds,
            _ if p.answered > 0 => Verdict::Breached,
            _ => Verdict::Holds,
        }
    }

    fn class(self) -> &'static str {
        match self {
            Verdict::Holds => "ok",
            Verdict::Broken => "fail",
            Verdict::Breached => "breach",
            Verdict::Unprobed => "pending",
            Verdict::Open => "none",
        }
    }
}

/// Short label of a pair: policy and mark.
fn label(p: &SpacePair) -> String {
    let policy = match p.policy {
        PairPolicy::Needed => "needed",
        PairPolicy::Isolated | PairPolicy::IsolatedExplicit => "isolated",
        PairPolicy::Allowed => "allowed",
        PairPolicy::Unconstrained => "·",
    };
    let mark = match Verdict::of(p) {
        Verdict::Holds => " ✓",
        Verdict::Broken => " ✗",
        Verdict::Breached => " !",
        Verdict::Unprobed => " ?",
        Verdict::Open => "",
    };
    format!("{policy}{mark}")
}

/// One sentence on a pair: why it has its policy and what the probes saw.
fn describe(p: &SpacePair) -> String {
    let why = match p.policy {
        PairPolicy::Needed => format!("needed by {}", p.relations.join("; ")),
        PairPolicy::Isolated => "isolated: not needed by any relation in the bundle".into(),
        PairPolicy::IsolatedExplicit => "isolated (--isolate)".into(),
        PairPolicy::Allowed => "allowed (--allow): not probed".into(),
        PairPolicy::Unconstrained => "no relation joins them: not probed".into(),
    };
    let saw = match (p.policy, p.done) {
        (PairPolicy::Allowed | PairPolicy::Unconstrained, _) => String::new(),
        (_, 0) => format!(
            ": no probe results{}",
            p.note
                .as_ref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        ),
        _ => format!(
            ": {} of {} probes answered{}",
            p.answered,
            p.done,
            if p.done < p.probes {
                format!(" ({} without result)", p.probes - p.done)
            } else {
                String::new()
            }
        ),
    };
    format!("{why}{saw}")
}

fn space_names(report: &Report) -> Vec<&str> {
    let names: BTreeSet<&str> = report
        .space_pairs
        .iter()
        .flat_map(|p| [p.a.as_str(), p.b.as_str()])
        .collect();
    names.into_iter().collect()
}

fn find<'a>(report: &'a Report, x: &str, y: &str) -> Option<&'a SpacePair> {
    report
        .space_pairs
        .iter()
        .find(|p| (p.a == x && p.b == y) || (p.a == y && p.b == x))
}

/// The matrix as text, when the report has one.
pub(crate) fn text(report: &Report, out: &mut String) {
    if report.space_pairs.is_empty() {
        return;
    }
    let names = space_names(report);
    let cell = |x: &str, y: &str| {
        if x == y {
            "—".to_string()
        } else {
            find(report, x, y).map(label).unwrap_or_else(|| "·".into())
        }
    };
    let w = names
        .iter()
        .map(|n| n.chars().count())
        .chain(std::iter::once(10))
        .max()
        .unwrap_or(10);
    let _ = writeln!(
        out,
        "\nSpace × space (needed by the bundle's relations / isolated; ✓ holds, ✗ unreachable, ! breach, ? no result)"
    );
    let mut line = format!("  {:w$}", "");
    for n in &names {
        let _ = write!(line, "  {n:w$}");
    }
    let _ = writeln!(out, "{}", line.trim_end());
    for x in &names {
        let mut line = format!("  {x:w$}");
        for y in &names {
            let _ = write!(line, "  {:w$}", cell(x, y));
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    for p in &report.space_pairs {
        if p.policy == PairPolicy::Unconstrained {
            continue;
        }
        let _ = writeln!(out, "  {}:{}  {}", p.a, p.b, describe(p));
    }
}

/// The matrix as HTML, when the report has one.
pub(crate) fn html(report: &Report, out: &mut String) {
    if report.space_pairs.is_empty() {
        return;
    }
    let names = space_names(report);
    out.push_str("<h2 id=\"space-pairs\">Space × space</h2>\n<p class=\"muted\">Which pairs of spaces the bundle's relations need (they must reach each other) and which must stay isolated, with what the probes between them saw. The diagonal is each space's own section below.</p>\n");
    out.push_str("<div class=\"scroll\"><table class=\"grid\"><thead><tr><th></th>");
    for n in &names {
        let _ = write!(out, "<th>{}</th>", html_escape(n));
    }
    out.push_str("</tr></thead><tbody>\n");
    for x in &names {
        let _ = write!(out, "<tr><th>{}</th>", html_escape(x));
        for y in &names {
            if x == y {
                out.push_str("<td class=\"none\">—</td>");
                continue;
            }
            match find(report, x, y) {
                Some(p) => {
                    let _ = write!(
                        out,
                        "<td class=\"{}\" title=\"{}\">{}</td>",
                        Verdict::of(p).class(),
                        html_escape(&format!("{}:{} {}", p.a, p.b, describe(p))),
                        html_escape(&label(p))
                    );
                }
                None => out.push_str("<td class=\"none\">·</td>"),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n<ul>\n");
    for p in &report.space_pairs {
        if p.policy == PairPolicy::Unconstrained {
            continue;
        }
        let _ = writeln!(
            out,
            "<li><b>{}:{}</b> <span class=\"verdict {}\">{}</span> {}</li>",
            html_escape(&p.a),
            html_escape(&p.b),
            match Verdict::of(p) {
                Verdict::Holds => "pass",
                Verdict::Broken | Verdict::Breached => "fail",
                _ => "warn",
            },
            html_escape(&label(p)),
            html_escape(&describe(p))
        );
    }
    out.push_str("</ul>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use preflight_model::report::{ReportKind, SpacePair};

    fn sp(a: &str, b: &str, policy: PairPolicy, done: usize, answered: usize) -> SpacePair {
        SpacePair {
            a: a.into(),
            b: b.into(),
            policy,
            relations: if policy == PairPolicy::Needed {
                vec!["mediawiki:db ↔ mysql:db".into()]
            } else {
                vec![]
            },
            section: None,
            probes: done,
            done,
            answered,
            note: None,
        }
    }

    fn report(pairs: Vec<SpacePair>) -> Report {
        let mut r = Report::new(ReportKind::Check, "t".into(), vec![]);
        r.space_pairs = pairs;
        r
    }

    #[test]
    fn verdicts_follow_policy_and_probes() {
        assert_eq!(
            Verdict::of(&sp("a", "b", PairPolicy::Needed, 4, 4)),
            Verdict::Holds
        );
        assert_eq!(
            Verdict::of(&sp("a", "b", PairPolicy::Needed, 4, 3)),
            Verdict::Broken
        );
        assert_eq!(
            Verdict::of(&sp("a", "b", PairPolicy::Isolated, 4, 0)),
            Verdict::Holds
        );
        assert_eq!(
            Verdict::of(&sp("a", "b", PairPolicy::Isolated, 4, 1)),
            Verdict::Breached
        );
        assert_eq!(
            Verdict::of(&sp("a", "b", PairPolicy::IsolatedExplicit, 0, 0)),
            Verdict::Unprobed
        );
        assert_eq!(
            Verdict::of(&sp("a", "b", PairPolicy::Allowed, 0, 0)),
            Verdict::Open
        );
    }

    #[test]
    fn text_and_html_show_every_pair_and_what_the_probes_saw() {
        let r = report(vec![
            sp("cms", "db", PairPolicy::Needed, 4, 0),
            sp("cms", "dmz", PairPolicy::Needed, 4, 4),
            sp("db", "dmz", PairPolicy::Isolated, 4, 2),
        ]);
        let mut t = String::new();
        text(&r, &mut t);
        assert!(
            t.contains("cms:db  needed by mediawiki:db ↔ mysql:db: 0 of 4 probes answered"),
            "{t}"
        );
        assert!(
            t.contains("db:dmz  isolated: not needed by any relation in the bundle: 2 of 4"),
            "{t}"
        );
        assert!(
            t.contains("needed ✗") && t.contains("needed ✓") && t.contains("isolated !"),
            "{t}"
        );
        let mut h = String::new();
        html(&r, &mut h);
        assert!(h.contains("Space × space"));
        assert_eq!(h.matches("<td class=\"fail\"").count(), 2, "symmetric: {h}");
        assert_eq!(h.matches("<td class=\"breach\"").count(), 2);
        assert_eq!(h.matches("<td class=\"ok\"").count(), 2);
        assert!(h.contains("mediawiki:db ↔ mysql:db"));
        // No pairs, no section.
        let mut empty = String::new();
        html(&report(vec![]), &mut empty);
        text(&report(vec![]), &mut empty);
        assert!(empty.is_empty());
    }
}
