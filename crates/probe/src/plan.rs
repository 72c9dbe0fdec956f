//! Reading and checking probe plans (`preflight.plan/v1`), with errors that name the field.

use std::collections::HashSet;

use preflight_model::plan::{PlannedTarget, ProbePlan, PLAN_SCHEMA};

use crate::ProbeError;

/// Most targets a plan may hold.
pub const MAX_PLAN_TARGETS: usize = 65_536;
/// Most TCP ports per target.
pub const MAX_TCP_PORTS: usize = 64;

fn err(origin: &str, field: impl Into<String>, message: impl Into<String>) -> ProbeError {
    ProbeError::Plan {
        origin: origin.to_string(),
        field: field.into(),
        message: message.into(),
    }
}

/// Parses a plan document and checks it as a whole; `origin` (the file name) is quoted in
/// errors. Each target is checked when it runs (see [`check_target`]): one bad target does
/// not make the document unreadable.
pub fn parse_plan(text: &str, origin: &str) -> Result<ProbePlan, ProbeError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let plan: ProbePlan = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "(document)".to_string()
        } else {
            path
        };
        err(origin, field, e.inner().to_string())
    })?;
    validate_document(&plan, origin)?;
    Ok(plan)
}

/// Checks a plan's schema and ranges, every target included (the first bad one is the error).
pub fn validate_plan(plan: &ProbePlan, origin: &str) -> Result<(), ProbeError> {
    validate_document(plan, origin)?;
    let mut ids = HashSet::new();
    for (i, t) in plan.targets.iter().enumerate() {
        if !ids.insert(t.id.as_str()) {
            return Err(err(
                origin,
                format!("targets[{i}].id"),
                format!("duplicate id `{}`", t.id),
            ));
        }
        check_target(t)
            .map_err(|(name, message)| err(origin, format!("targets[{i}].{name}"), message))?;
    }
    Ok(())
}

/// Checks what a plan as a whole must get right: schema, settings, size. A bad target is
/// not a document error: see [`check_target`].
pub fn validate_document(plan: &ProbePlan, origin: &str) -> Result<(), ProbeError> {
    if plan.schema != PLAN_SCHEMA {
        return Err(err(
            origin,
            "schema",
            format!("expected `{PLAN_SCHEMA}`, found `{}`", plan.schema),
        ));
    }
    let s = &plan.settings;
    if s.count == 0 || s.count > 100_000 {
        return Err(err(origin, "settings.count", "must be 1 to 100000"));
    }
    if s.timeout_ms == 0 || s.timeout_ms > 3_600_000 {
        return Err(err(origin, "settings.timeout_ms", "must be 1 to 3600000"));
    }
    if s.interval_ms > 3_600_000 {
        return Err(err(
            origin,
            "settings.interval_ms",
            "must be at most 3600000",
        ));
    }
    if s.retries > 100 {
        return Err(err(origin, "settings.retries", "must be at most 100"));
    }
    if s.rate == Some(0) {
        return Err(err(origin, "settings.rate", "must be at least 1"));
    }
    if plan.targets.len() > MAX_PLAN_TARGETS {
        return Err(err(
            origin,
            "targets",
            format!(
                "{} targets, more than {MAX_PLAN_TARGETS}",
                plan.targets.len()
            ),
        ));
    }
    Ok(())
}

/// Checks one target: `Err((field, message))` names the field within the target.
pub fn check_target(t: &PlannedTarget) -> Result<(), (&'static str, String)> {
    if t.id.is_empty() {
        return Err(("id", "must not be empty".into()));
    }
    if t.source.is_ipv6() != t.target.is_ipv6() {
        return Err((
            "source",
            format!(
                "{} and target {} are of different families",
                t.source, t.target
            ),
        ));
    }
    if let Some(d) = &t.device {
        if d.is_empty()
            || d.len() > 15
            || d.contains(['/', '\0'])
            || d.chars().any(char::is_whitespace)
        {
            return Err(("device", format!("`{d}` is not a valid interface name")));
        }
    }
    if let Some(m) = t.mtu {
        let min = if t.target.is_ipv6() { 1280 } else { 68 };
        if m < min || m > 65_535 {
            return Err(("mtu", format!("{m} is outside {min}..=65535")));
        }
    }
    if t.tcp_ports.len() > MAX_TCP_PORTS {
        return Err(("tcp_ports", format!("more than {MAX_TCP_PORTS} ports")));
    }
    if t.tcp_ports.contains(&0) {
        return Err(("tcp_ports", "port 0 cannot be probed".into()));
    }
    if t.kind == preflight_model::plan::ProbeKind::Unknown {
        return Err((
            "kind",
            "a probe kind this agent does not know (upgrade the agent)".into(),
        ));
    }
    if t.kind == preflight_model::plan::ProbeKind::Controller && t.tcp_ports.is_empty() {
        return Err((
            "tcp_ports",
            "a controller probe needs the port(s) to connect to".into(),
        ));
    }
    if t.kind.neighbours() {
        if t.device.is_none() {
            return Err((
                "device",
                "a neighbour probe needs the device to ask on".into(),
            ));
        }
        if t.target.is_multicast() || t.target.is_unspecified() || t.target.is_loopback() {
            return Err((
                "target",
                format!("{} cannot be held by a neighbour", t.target),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{
      "schema": "preflight.plan/v1",
      "agent": "m1",
      "settings": {"count": 2, "interval_ms": 10, "timeout_ms": 500, "retries": 0},
      "targets": [
        {"id": "p1", "space": "internal", "source": "10.0.0.1", "target": "10.0.0.2",
         "device": "eth1", "mtu": 9000, "tcp_ports": [22], "expect": "reachable",
         "some_future_field": true},
        {"id": "p2", "space": "storage", "source": "fd00::1", "target": "fd00::2", "expect": "isolated"}
      ]
    }"#;

    fn field_of(e: ProbeError) -> String {
        match e {
            ProbeError::Plan { field, origin, .. } => {
                assert_eq!(origin, "plan.json");
                field
            }
            other => panic!("not a plan error: {other}"),
        }
    }

    /// Parsing plus every target's check, as `validate_plan` does.
    fn strict(doc: &str) -> Result<ProbePlan, ProbeError> {
        let p = parse_plan(doc, "plan.json")?;
        validate_plan(&p, "plan.json")?;
        Ok(p)
    }

    #[test]
    fn good_plan_parses_and_ignores_unknown_fields() {
        let p = parse_plan(GOOD, "plan.json").unwrap();
        assert_eq!(p.targets.len(), 2);
        assert_eq!(p.settings.count, 2);
        assert_eq!(p.targets[0].mtu, Some(9000));
        assert_eq!(
            p.targets[1].expect,
            preflight_model::plan::Expectation::Isolated
        );
    }

    #[test]
    fn wrong_types_name_the_field() {
        let bad = GOOD.replace(r#""mtu": 9000"#, r#""mtu": "big""#);
        assert_eq!(
            field_of(parse_plan(&bad, "plan.json").unwrap_err()),
            "targets[0].mtu"
        );
        let bad = GOOD.replace(r#""target": "10.0.0.2""#, r#""target": "10.0.0.300""#);
        assert_eq!(
            field_of(parse_plan(&bad, "plan.json").unwrap_err()),
            "targets[0].target"
        );
        let bad = GOOD.replace(r#""count": 2"#, r#""count": -1"#);
        assert_eq!(
            field_of(parse_plan(&bad, "plan.json").unwrap_err()),
            "settings.count"
        );
        let bad = GOOD.replace(r#""tcp_ports": [22]"#, r#""tcp_ports": [70000]"#);
        assert!(field_of(parse_plan(&bad, "plan.json").unwrap_err())
            .starts_with("targets[0].tcp_ports"));
    }

    #[test]
    fn truncated_empty_and_non_object_documents_fail_cleanly() {
        for bad in [&GOOD[..GOOD.len() / 2], "", "[]", "null", "{", "\u{0}"] {
            let e = parse_plan(bad, "plan.json").unwrap_err();
            assert!(e.to_string().starts_with("plan.json: "), "{e}");
        }
        let e = parse_plan(r#"{"schema": "preflight.plan/v1"}"#, "plan.json").unwrap_err();
        assert!(e.to_string().contains("targets"), "{e}");
    }

    #[test]
    fn semantic_checks_name_the_field() {
        let cases = [
            (
                GOOD.replace("preflight.plan/v1", "preflight.plan/v9"),
                "schema",
            ),
            (
                GOOD.replace(r#""count": 2"#, r#""count": 0"#),
                "settings.count",
            ),
            (
                GOOD.replace(r#""timeout_ms": 500"#, r#""timeout_ms": 0"#),
                "settings.timeout_ms",
            ),
            (
                GOOD.replace(r#""mtu": 9000"#, r#""mtu": 20"#),
                "targets[0].mtu",
            ),
            (
                GOOD.replace(r#""tcp_ports": [22]"#, r#""tcp_ports": [0]"#),
                "targets[0].tcp_ports",
            ),
            (
                GOOD.replace(r#""id": "p2""#, r#""id": "p1""#),
                "targets[1].id",
            ),
            (
                GOOD.replace(r#""source": "fd00::1""#, r#""source": "10.0.0.9""#),
                "targets[1].source",
            ),
            (
                GOOD.replace(r#""device": "eth1""#, r#""device": "a/b""#),
                "targets[0].device",
            ),
            (
                GOOD.replace(r#""device": "eth1""#, r#""device": "abcdefghijklmnopq""#),
                "targets[0].device",
            ),
        ];
        for (doc, field) in cases {
            assert_eq!(field_of(strict(&doc).unwrap_err()), field);
        }
    }

    #[test]
    fn deeply_nested_and_oversized_values_fail_without_crashing() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_plan(&deep, "plan.json").is_err());
        let nested_target = GOOD.replace(
            r#""device": "eth1""#,
            &format!(r#""device": {}1{}"#, "[".repeat(5000), "]".repeat(5000)),
        );
        assert!(parse_plan(&nested_target, "plan.json").is_err());
        let long_dev = GOOD.replace("eth1", &"x".repeat(1 << 20));
        assert_eq!(
            field_of(strict(&long_dev).unwrap_err()),
            "targets[0].device"
        );
        let big_num = GOOD.replace(r#""count": 2"#, r#""count": 1e400"#);
        assert!(parse_plan(&big_num, "plan.json").is_err());
    }

    #[test]
    fn huge_plan_is_refused() {
        let t = r#"{"id":"x","space":"s","source":"10.0.0.1","target":"10.0.0.2"}"#;
        let mut doc = String::from(r#"{"schema":"preflight.plan/v1","targets":["#);
        for i in 0..=MAX_PLAN_TARGETS {
            if i > 0 {
                doc.push(',');
            }
            doc.push_str(&t.replace(r#""x""#, &format!("\"{i}\"")));
        }
        doc.push_str("]}");
        assert_eq!(
            field_of(parse_plan(&doc, "plan.json").unwrap_err()),
            "targets"
        );
    }
}
