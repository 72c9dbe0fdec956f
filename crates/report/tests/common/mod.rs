//! Constructed reports shared by the rendering and parsing tests.
#![allow(dead_code)]

use preflight_model::plan::Expectation;
use preflight_model::probe::{FailureCause, MtuResult, MtuVerdict, RttStats};
use preflight_model::report::{
    Checked, Code, Finding, PairResult, PairState, Report, ReportKind, Severity, SpaceReport,
    Subject, SubnetRef,
};

/// The injected string used to test escaping.
pub(crate) const NASTY: &str = "<script>alert('x')</script> & \"q\" \u{1b}[31m\u{7}";

fn addr(s: &str) -> std::net::IpAddr {
    s.parse().unwrap()
}

fn rtt() -> Option<RttStats> {
    Some(RttStats {
        min_ms: 0.12,
        avg_ms: 0.25,
        max_ms: 0.61,
        mdev_ms: 0.05,
    })
}

/// A pair that answered everything.
pub(crate) fn ok(id: &str, sm: &str, s: &str, tm: &str, t: &str) -> PairResult {
    PairResult {
        id: id.into(),
        source_machine: sm.into(),
        target_machine: tm.into(),
        source: addr(s),
        target: addr(t),
        expect: Expectation::Reachable,
        done: true,
        sent: 5,
        received: 5,
        loss_pct: 0.0,
        rtt: rtt(),
        failure: None,
        mtu: Some(MtuResult {
            expected_mtu: 1500,
            small_ok: true,
            large_ok: true,
            largest_ok: None,
            verdict: MtuVerdict::Ok,
        }),
        tcp: vec![],
        state: PairState::Ok,
    }
}

fn finding(code: Code, severity: Severity, subject: Subject, message: &str) -> Finding {
    Finding {
        code: code.clone(),
        severity,
        subject,
        message: message.into(),
        hint: Some(format!("hint for {code}")),
    }
}

fn pair_subject(space: &str, s: &str, t: &str) -> Subject {
    Subject {
        space: Some(space.into()),
        source: Some(s.into()),
        target: Some(t.into()),
        ..Default::default()
    }
}

/// A check report: spaces `internal` and `storage`, machines m1..m3; in `internal` m1→m3 is
/// unreachable (m3→m1 passes: asymmetric) and m2→m3 loses 40%; in `storage` m1→m2 is an MTU
/// blackhole, m2→m3 has no result, and an isolation probe m3→m2 (storage → internal address)
/// was answered.
pub(crate) fn check_report() -> Report {
    let mut internal = SpaceReport {
        name: "internal".into(),
        id: Some(2),
        subnets: vec![
            SubnetRef {
                id: 5,
                cidr: "10.0.0.0/24".into(),
                fabric: Some("fabric-0".into()),
                vid: Some(0),
                mtu: Some(1500),
            },
            SubnetRef {
                id: 6,
                cidr: "10.0.1.0/24".into(),
                fabric: Some("fabric-1".into()),
                vid: Some(10),
                mtu: Some(1500),
            },
        ],
        machines: vec!["m1".into(), "m2".into(), "m3".into()],
        pairs: vec![],
    };
    let ips = [("m1", "10.0.0.1"), ("m2", "10.0.0.2"), ("m3", "10.0.1.3")];
    for (a, ia) in ips {
        for (b, ib) in ips {
            if a != b {
                internal.pairs.push(ok(&format!("i-{a}-{b}"), a, ia, b, ib));
            }
        }
    }
    // m1 → m3 unreachable.
    let p = &mut internal.pairs[1];
    assert_eq!(
        (p.source_machine.as_str(), p.target_machine.as_str()),
        ("m1", "m3")
    );
    p.received = 0;
    p.loss_pct = 100.0;
    p.rtt = None;
    p.failure = Some(FailureCause::Timeout);
    p.mtu = Some(MtuResult {
        expected_mtu: 1500,
        small_ok: false,
        large_ok: false,
        largest_ok: None,
        verdict: MtuVerdict::Unknown,
    });
    // m2 → m3 loses 40%.
    let p = &mut internal.pairs[3];
    assert_eq!(
        (p.source_machine.as_str(), p.target_machine.as_str()),
        ("m2", "m3")
    );
    p.received = 3;
    p.loss_pct = 40.0;

    let mut storage = SpaceReport {
        name: "storage".into(),
        id: Some(3),
        subnets: vec![SubnetRef {
            id: 7,
            cidr: "10.20.0.0/24".into(),
            fabric: Some("fabric-0".into()),
            vid: Some(20),
            mtu: Some(9000),
        }],
        machines: vec!["m1".into(), "m2".into(), "m3".into()],
        pairs: vec![],
    };
    let ips = [
        ("m1", "10.20.0.1"),
        ("m2", "10.20.0.2"),
        ("m3", "10.20.0.3"),
    ];
    for (a, ia) in ips {
        for (b, ib) in ips {
            if a != b {
                let mut p = ok(&format!("s-{a}-{b}"), a, ia, b, ib);
                if let Some(m) = p.mtu.as_mut() {
                    m.expected_mtu = 9000;
                }
                storage.pairs.push(p);
            }
        }
    }
    // m1 → m2 MTU blackhole.
    let p = &mut storage.pairs[0];
    assert_eq!(
        (p.source_machine.as_str(), p.target_machine.as_str()),
        ("m1", "m2")
    );
    p.mtu = Some(MtuResult {
        expected_mtu: 9000,
        small_ok: true,
        large_ok: false,
        largest_ok: Some(1500),
        verdict: MtuVerdict::Blackhole,
    });
    // m2 → m3 no result.
    let p = &mut storage.pairs[3];
    assert_eq!(
        (p.source_machine.as_str(), p.target_machine.as_str()),
        ("m2", "m3")
    );
    p.done = false;
    p.sent = 0;
    p.received = 0;
    p.rtt = None;
    p.mtu = None;
    // Isolation: m3's storage address → m2's internal address, answered (breach),
    // and m2 → m1's internal address, blocked (as expected).
    let mut breach = ok("x-m3-m2", "m3", "10.20.0.3", "m2", "10.0.0.2");
    breach.expect = Expectation::Isolated;
    breach.mtu = None;
    storage.pairs.push(breach);
    let mut held = ok("x-m2-m1", "m2", "10.20.0.2", "m1", "10.0.0.1");
    held.expect = Expectation::Isolated;
    held.received = 0;
    held.loss_pct = 100.0;
    held.rtt = None;
    held.mtu = None;
    held.failure = Some(FailureCause::AdminProhibited);
    storage.pairs.push(held);

    let findings = vec![
        finding(
            Code::ProbeUnreachable,
            Severity::Error,
            pair_subject("internal", "m1", "m3"),
            "m1 (10.0.0.1) cannot reach m3 (10.0.1.3) in space internal: no reply to 5 echo requests",
        ),
        finding(
            Code::ProbeAsymmetric,
            Severity::Warning,
            pair_subject("internal", "m1", "m3"),
            "m1 → m3 fails while m3 → m1 passes",
        ),
        finding(
            Code::ProbePacketLoss,
            Severity::Warning,
            pair_subject("internal", "m2", "m3"),
            "m2 → m3 lost 40% of echo requests",
        ),
        finding(
            Code::ProbeMtuBlackhole,
            Severity::Error,
            pair_subject("storage", "m1", "m2"),
            "m1 → m2: 9000-byte packets with DF vanish; largest passing 1500",
        ),
        finding(
            Code::ProbeIsolationBreach,
            Severity::Error,
            pair_subject("storage", "10.20.0.3", "10.0.0.2"),
            "storage address 10.20.0.3 reached internal address 10.0.0.2",
        ),
        finding(
            Code::DriftMtuMismatch,
            Severity::Info,
            Subject {
                machine: Some("m2".into()),
                interface: Some("eth1".into()),
                ..Default::default()
            },
            &format!("interface eth1 note {NASTY}"),
        ),
    ];
    let mut report = Report::new(ReportKind::Check, "2026-11-21T05:00:00Z".into(), findings);
    report.summary.agents_expected = Some(3);
    report.summary.agents_reported = Some(3);
    report.summary.probes_planned = Some(14);
    report.summary.probes_done = Some(13);
    report.spaces = vec![internal, storage];
    // As the check stores them: every pair judged from its (edited) measurement.
    for p in report.spaces.iter_mut().flat_map(|s| s.pairs.iter_mut()) {
        p.state = p.judged();
    }
    report.inputs = vec!["maas.json".into(), "bundle.yaml".into()];
    report.checked = ["m1", "m2", "m3"]
        .iter()
        .map(|m| Checked {
            check: Code::DriftMtuMismatch,
            subject: Subject {
                machine: Some((*m).into()),
                ..Default::default()
            },
        })
        .collect();
    report
}

fn app(a: &str) -> Subject {
    Subject {
        application: Some(a.into()),
        ..Default::default()
    }
}

/// A validate report: keystone has an error and a warning, mysql a warning, nova-compute
/// nothing, plus one model-wide warning; three checks on each of the three applications.
pub(crate) fn validate_report() -> Report {
    let findings = vec![
        Finding {
            code: Code::BindingUnknownSpace,
            severity: Severity::Error,
            subject: Subject {
                endpoint: Some("public".into()),
                space: Some("publik".into()),
                ..app("keystone")
            },
            message: "binding keystone:public names space \"publik\", which MAAS does not have"
                .into(),
            hint: Some("use one of: internal, public, storage".into()),
        },
        Finding {
            code: Code::PlacementMissingSpace,
            severity: Severity::Warning,
            subject: Subject {
                machine: Some("0".into()),
                space: Some("internal".into()),
                ..app("keystone")
            },
            message: "only 2 of 5 candidates for bundle machine 0 are in space internal".into(),
            hint: Some("add spaces=internal to machine 0's constraints".into()),
        },
        Finding {
            code: Code::PlacementMissingSpace,
            severity: Severity::Warning,
            subject: Subject {
                machine: Some("1".into()),
                space: Some("internal".into()),
                ..app("mysql")
            },
            message: "only 1 of 3 candidates for bundle machine 1 are in space internal".into(),
            hint: None,
        },
        Finding {
            code: Code::SubnetOverlap,
            severity: Severity::Warning,
            subject: Subject {
                subnet: Some("10.0.0.0/24".into()),
                ..Default::default()
            },
            message: "subnets 10.0.0.0/24 (fabric-0) and 10.0.0.0/23 (fabric-1) overlap".into(),
            hint: None,
        },
    ];
    let mut report = Report::new(
        ReportKind::Validate,
        "2026-11-21T05:00:00Z".into(),
        findings,
    );
    report.inputs = vec!["bundle.yaml".into()];
    for a in ["keystone", "mysql", "nova-compute"] {
        for check in [
            Code::BindingUnknownSpace,
            Code::ConstraintUnsatisfiable,
            Code::PlacementMissingSpace,
        ] {
            report.checked.push(Checked {
                check: check.clone(),
                subject: app(a),
            });
        }
    }
    report
}
