//! Hostile input for `parse_report` / `parse_probe_report`: truncated, wrong types, unknown
//! fields, wrong schema, deep nesting, huge documents.

use crate::common;

use preflight_report::{parse_probe_report, parse_report, render, Format, ReportError};
use serde_json::{json, Value};

fn report_value() -> Value {
    serde_json::to_value(common::check_report()).unwrap()
}

fn invalid_path(text: &str) -> (String, String) {
    match parse_report(text) {
        Err(ReportError::Invalid { path, message, .. }) => (path, message),
        other => panic!("expected an Invalid error, got {other:?}"),
    }
}

/// A change to a valid report, the JSON path it breaks, and part of the expected message.
type Case = (fn(&mut Value), &'static str, &'static str);

#[test]
fn wrong_types_name_the_json_path() {
    let cases: Vec<Case> = vec![
        (
            |v| v["summary"]["errors"] = json!("3"),
            "summary.errors",
            "invalid type: string \"3\", expected usize",
        ),
        (
            |v| v["spaces"][1]["pairs"][0]["source"] = json!("not-an-ip"),
            "spaces[1].pairs[0].source",
            "invalid IP address syntax",
        ),
        (
            |v| v["findings"][2]["severity"] = json!("fatal"),
            "findings[2].severity",
            "unknown variant `fatal`",
        ),
        (
            |v| v["spaces"][0]["subnets"][1]["vid"] = json!(70000),
            "spaces[0].subnets[1].vid",
            "invalid value: integer `70000`, expected u16",
        ),
        (|v| v["kind"] = json!(5), "kind", "expected value"),
        (
            |v| {
                v["findings"][0].as_object_mut().unwrap().remove("message");
            },
            "findings[0]",
            "missing field `message`",
        ),
        (
            |v| v["spaces"][0]["pairs"][2]["loss_pct"] = json!(null),
            "spaces[0].pairs[2].loss_pct",
            "invalid type: null, expected f64",
        ),
    ];
    for (mutate, want_path, want_msg) in cases {
        let mut v = report_value();
        mutate(&mut v);
        let text = serde_json::to_string_pretty(&v).unwrap();
        let (path, message) = invalid_path(&text);
        assert_eq!(path, want_path);
        assert!(message.contains(want_msg), "{path}: {message}");
        // The displayed error carries the path and a position.
        let shown = parse_report(&text).unwrap_err().to_string();
        assert!(
            shown.starts_with(&format!("field `{want_path}`: ")),
            "{shown}"
        );
        assert!(shown.contains("(line "), "{shown}");
    }
}

#[test]
fn unknown_fields_are_tolerated() {
    let mut v = report_value();
    v["future_field"] = json!({"anything": [1, 2, 3]});
    v["summary"]["new_counter"] = json!(7);
    v["spaces"][0]["pairs"][0]["jitter_ms"] = json!(0.3);
    v["findings"][0]["subject"]["rack"] = json!("r1");
    let back = parse_report(&v.to_string()).expect("unknown fields are ignored");
    assert_eq!(back, common::check_report());
}

#[test]
fn schema_is_checked_first() {
    let mut v = report_value();
    v["schema"] = json!("preflight.report/v2");
    match parse_report(&v.to_string()) {
        Err(ReportError::Schema(e)) => assert_eq!(e.found, "preflight.report/v2"),
        other => panic!("{other:?}"),
    }
    // A probe result given as a report: named as a schema mismatch, not a missing field.
    let probe =
        json!({"schema": "preflight.probe/v1", "started_at": "t", "duration_ms": 1, "targets": []});
    let err = parse_report(&probe.to_string()).unwrap_err().to_string();
    assert!(
        err.contains("preflight.probe/v1") && err.contains("preflight.report/v1"),
        "{err}"
    );
    // Missing or mistyped schema.
    v.as_object_mut().unwrap().remove("schema");
    assert_eq!(invalid_path(&v.to_string()).0, "schema");
    v["schema"] = json!(1);
    assert_eq!(invalid_path(&v.to_string()).0, "schema");
    // Not an object at all.
    assert!(parse_report("[1,2,3]").is_err());
    assert!(parse_report("\"preflight.report/v1\"").is_err());
    assert!(matches!(parse_report("  \n"), Err(ReportError::Empty)));
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let text = render(&common::validate_report(), Format::Json);
    let full = parse_report(&text).expect("full document parses");
    assert_eq!(full, common::validate_report());
    let trimmed = text.trim_end();
    for (cut, _) in trimmed.char_indices().skip(1) {
        let err = parse_report(&trimmed[..cut]).expect_err("a truncated document is refused");
        assert!(!err.to_string().is_empty());
    }
    // The position of a truncation is reported.
    let err = parse_report(&trimmed[..trimmed.len() / 2])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("EOF while parsing") && err.contains("(line "),
        "{err}"
    );
}

#[test]
fn trailing_garbage_and_non_json_are_refused() {
    let text = render(&common::validate_report(), Format::Json);
    let err = parse_report(&format!("{text} {{}}"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("trailing characters"), "{err}");
    assert!(parse_report("schema: preflight.report/v1\n").is_err());
    assert!(parse_report("\u{0}\u{1}\u{2}").is_err());
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let depth = 100_000;
    let mut doc = String::from("{\"schema\":\"preflight.report/v1\",\"x\":");
    doc.push_str(&"[".repeat(depth));
    doc.push_str(&"]".repeat(depth));
    doc.push('}');
    // The unknown field is skipped without recursion; the document then lacks `kind`.
    let err = parse_report(&doc).unwrap_err().to_string();
    assert!(err.contains("missing field `kind`"), "{err}");
    // Deep nesting where the model recurses (a finding's subject) hits serde_json's limit.
    let mut v = report_value();
    v["findings"][0]["subject"]["application"] = json!("x");
    let mut doc = v.to_string();
    let at = doc.find("\"application\":\"x\"").unwrap() + "\"application\":".len();
    doc.replace_range(
        at..at + 3,
        &format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
    );
    let err = parse_report(&doc).unwrap_err().to_string();
    assert!(
        err.starts_with("field `findings[0].subject.application`"),
        "{err}"
    );
    // The whole document nested.
    let doc = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert!(parse_report(&doc).is_err());
}

#[test]
fn huge_documents_parse() {
    // 40,000 pairs and a 5 MB message: a big but legitimate report.
    let mut r = common::check_report();
    let template = r.spaces[0].pairs[0].clone();
    r.spaces[0].pairs = (0..40_000)
        .map(|i| {
            let mut p = template.clone();
            p.id = format!("p{i}");
            p
        })
        .collect();
    r.findings[0].message = "x".repeat(5 << 20);
    let text = render(&r, Format::Json);
    assert!(text.len() > 20 << 20, "document is {} bytes", text.len());
    let back = parse_report(&text).expect("parses");
    assert_eq!(back.spaces[0].pairs.len(), 40_000);
    assert_eq!(back, r);
}

#[test]
fn probe_results_parse_with_paths() {
    let probe = json!({
        "schema": "preflight.probe/v1",
        "agent": "m1",
        "started_at": "2026-11-21T05:00:00Z",
        "duration_ms": 1200,
        "targets": [{
            "id": "i-m1-m2", "space": "internal", "source": "10.0.0.1", "target": "10.0.0.2",
            "sent": 5, "received": 5, "duplicates": 0, "loss_pct": 0.0,
            "rtt": {"min_ms": 0.1, "avg_ms": 0.2, "max_ms": 0.3, "mdev_ms": 0.05},
            "mtu": {"expected_mtu": 1500, "small_ok": true, "large_ok": true, "largest_ok": null, "verdict": "ok"},
            "tcp": [{"port": 22, "outcome": "open", "connect_ms": 0.4}],
            "future": true
        }]
    });
    let p = parse_probe_report(&probe.to_string()).expect("parses");
    assert_eq!(p.targets.len(), 1);
    assert_eq!(p.agent.as_deref(), Some("m1"));
    let mut bad = probe.clone();
    bad["targets"][0]["received"] = json!(-1);
    match parse_probe_report(&bad.to_string()) {
        Err(ReportError::Invalid { path, .. }) => assert_eq!(path, "targets[0].received"),
        other => panic!("{other:?}"),
    }
    // A report handed over as a probe result.
    let err = parse_probe_report(&render(&common::validate_report(), Format::Json))
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected \"preflight.probe/v1\""), "{err}");
}
