//! Compares a check report's findings with what a scenario expects (`[[expect]]`).
//!
//! Exactly: every expectation must match at least one finding (info ones included, with
//! `severity = "info"`), and every error or warning finding must match some expectation
//! (info findings nobody expects are ignored). A `machine`, `source` or
//! `target` expectation names a host; a subject value refers to the host when one of its
//! tokens is the hostname, the system_id or one of the host's addresses.

use preflight_model::report::{Finding, Severity};

use crate::topology::{ExpectedFinding, Fault, Topology};

/// How a report differs from the expectations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mismatch {
    /// Expectations no finding matched.
    pub missing: Vec<ExpectedFinding>,
    /// Error or warning findings no expectation matched.
    pub unexpected: Vec<Finding>,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for e in &self.missing {
            writeln!(f, "missing:    {e:?}")?;
        }
        for u in &self.unexpected {
            writeln!(f, "unexpected: {} {:?}: {}", u.code, u.subject, u.message)?;
        }
        Ok(())
    }
}

/// Whether the subject value `value` refers to host `host`.
pub fn refers_to(t: &Topology, value: &str, host: &str) -> bool {
    let Some(h) = t.host(host) else {
        return value == host;
    };
    let mut names = vec![
        h.name.clone(),
        h.system_id.clone(),
        format!("{}.maas", h.name),
    ];
    for i in &h.interfaces {
        if let Some(a) = i.address {
            names.push(a.to_string());
        }
    }
    for f in &t.faults {
        if let Fault::WrongAddress {
            host: fh, address, ..
        }
        | Fault::ExtraAddress {
            host: fh, address, ..
        } = f
        {
            if *fh == h.name {
                names.push(address.to_string());
            }
        }
    }
    value
        .split(|c: char| {
            !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' || c == ':')
        })
        .chain(std::iter::once(value))
        .any(|tok| names.iter().any(|n| n == tok))
}

fn matches(t: &Topology, e: &ExpectedFinding, f: &Finding) -> bool {
    if e.code != f.code || e.severity != f.severity {
        return false;
    }
    let s = &f.subject;
    if let Some(space) = &e.space {
        if s.space.as_deref() != Some(space.as_str()) {
            return false;
        }
    }
    if let Some(iface) = &e.interface {
        if s.interface.as_deref() != Some(iface.as_str()) {
            return false;
        }
    }
    let refers =
        |v: &Option<String>, host: &str| v.as_deref().is_some_and(|v| refers_to(t, v, host));
    if let Some(m) = &e.machine {
        if !(refers(&s.machine, m) || refers(&s.source, m) || refers(&s.target, m)) {
            return false;
        }
    }
    if let Some(src) = &e.source {
        if !(refers(&s.source, src) || refers(&s.machine, src)) {
            return false;
        }
    }
    if let Some(dst) = &e.target {
        if !refers(&s.target, dst) {
            return false;
        }
    }
    true
}

/// The verdict the scenario expects: fail when it expects any error finding.
pub fn expected_status(t: &Topology) -> preflight_model::report::Status {
    if t.expect.iter().any(|e| e.severity == Severity::Error) {
        preflight_model::report::Status::Fail
    } else {
        preflight_model::report::Status::Pass
    }
}

/// Compares findings with the topology's expectations; `Ok` when they agree exactly.
pub fn compare(t: &Topology, findings: &[Finding]) -> Result<(), Mismatch> {
    let relevant: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .collect();
    let missing: Vec<ExpectedFinding> = t
        .expect
        .iter()
        // An expectation may name an info finding (severity = "info"); unexpected info
        // findings are still ignored.
        .filter(|e| !findings.iter().any(|f| matches(t, e, f)))
        .cloned()
        .collect();
    let unexpected: Vec<Finding> = relevant
        .iter()
        .filter(|f| !t.expect.iter().any(|e| matches(t, e, f)))
        .map(|f| (*f).clone())
        .collect();
    if missing.is_empty() && unexpected.is_empty() {
        Ok(())
    } else {
        Err(Mismatch {
            missing,
            unexpected,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use preflight_model::report::Subject;

    fn finding(code: &str, subject: Subject) -> Finding {
        Finding {
            code: code.into(),
            severity: Severity::Error,
            subject,
            message: "m".into(),
            hint: None,
        }
    }

    #[test]
    fn matches_by_hostname_system_id_or_address_and_is_exact() {
        let t = crate::scenarios::load("probe-asymmetric").unwrap();
        let h1 = t.host("host1").unwrap().system_id.clone();
        let good = finding(
            "probe.asymmetric",
            Subject {
                space: Some("internal".into()),
                source: Some(h1),
                target: Some("host2 (10.10.0.12)".into()),
                ..Subject::default()
            },
        );
        // The scenario also expects the cause that explains the pair.
        let cause = finding(
            "cause.policy",
            Subject {
                machine: Some("host2".into()),
                space: Some("internal".into()),
                source: Some("host1".into()),
                target: Some("host2".into()),
                ..Subject::default()
            },
        );
        assert_eq!(compare(&t, &[good.clone(), cause.clone()]), Ok(()));
        // Without it, its expectation is missing.
        let m = compare(&t, std::slice::from_ref(&good)).unwrap_err();
        assert_eq!(m.missing.len(), 1);
        assert_eq!(m.missing[0].code, "cause.policy");
        // Wrong direction: the expectation is missing and the finding unexpected.
        let reversed = finding(
            "probe.asymmetric",
            Subject {
                space: Some("internal".into()),
                source: Some("10.10.0.12".into()),
                target: Some("host1".into()),
                ..Subject::default()
            },
        );
        let m = compare(&t, &[reversed, cause.clone()]).unwrap_err();
        assert_eq!(m.missing.len(), 1);
        assert_eq!(m.unexpected.len(), 1);
        // host1 must not match host10-like tokens.
        assert!(!refers_to(&t, "host10", "host1"));
        // The severity must match too.
        let mut warning = good.clone();
        warning.severity = Severity::Warning;
        assert!(compare(&t, &[warning, cause.clone()]).is_err());
        // An extra finding makes it inexact; info findings are ignored.
        let extra = finding("agent.missing", Subject::default());
        assert!(compare(&t, &[good.clone(), cause.clone(), extra]).is_err());
        let mut info = finding("agent.missing", Subject::default());
        info.severity = Severity::Info;
        assert_eq!(compare(&t, &[good, cause, info]), Ok(()));
        // No findings at all: the expectation is missing.
        assert!(compare(&t, &[]).is_err());
    }

    #[test]
    fn healthy_scenario_expects_nothing() {
        let t = crate::scenarios::load("healthy").unwrap();
        assert_eq!(compare(&t, &[]), Ok(()));
    }
}
