//! Judge once, render many: for random probe results, every view of the report agrees on
//! which pairs fail and on the overall status — the stored pair states, the findings, the JSON
//! round trip, JUnit, the text report, the HTML page and the exit code.
//!
//! A seeded generator (xorshift64*, seeds 1..=300) so a failure names the seed that reproduces
//! it: `AGREEMENT_SEED=N cargo test -p preflight-check --test integration agreement`.

use std::collections::BTreeSet;
use std::net::IpAddr;

use preflight_model::plan::Expectation;
use preflight_model::probe::{
    FailureCause, MtuResult, MtuVerdict, ProbeReport, TargetResult, PROBE_SCHEMA,
};
use preflight_model::report::{judge, Measurement, PairState, Report, Severity, Status};
use preflight_report::{parse_report, render, Format};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn addr(space: usize, agent: usize) -> IpAddr {
    format!("10.{}.0.{}", space + 1, agent + 1).parse().unwrap()
}

fn name(agent: usize) -> String {
    format!("node{agent}")
}

/// One random measurement of a pair.
fn target(rng: &mut Rng, space: usize, src: usize, dst: usize) -> TargetResult {
    let sent = 1 + rng.below(5) as u32;
    let received = match rng.below(4) {
        0 => 0,
        1 => rng.below(u64::from(sent) + 1) as u32,
        _ => sent,
    };
    let mtu = match rng.below(6) {
        0 => None,
        1 => Some((true, MtuVerdict::Blackhole)),
        2 => Some((true, MtuVerdict::FragmentationNeeded)),
        3 => Some((false, MtuVerdict::Unknown)),
        // A contradictory result (verdict without its small probe) must not confuse anyone.
        4 => Some((false, MtuVerdict::Blackhole)),
        _ => Some((true, MtuVerdict::Ok)),
    }
    .map(|(small_ok, verdict)| MtuResult {
        expected_mtu: 9000,
        small_ok,
        large_ok: verdict == MtuVerdict::Ok,
        largest_ok: rng.chance(50).then_some(1500),
        verdict,
    });
    let failure = match rng.below(6) {
        0 => Some(FailureCause::Timeout),
        1 => Some(FailureCause::HostUnreachable),
        2 => Some(FailureCause::AdminProhibited),
        3 => Some(FailureCause::FragmentationNeeded { mtu: Some(1500) }),
        // An item the agent refused: a state of its own (`probe.not-run`), whatever it counted.
        4 if rng.chance(30) => Some(FailureCause::NotRun {
            reason: "targets[0].target: the agent's own address".into(),
        }),
        _ => None,
    };
    TargetResult {
        id: Some(format!("s{space}/{src}>{dst}")),
        space: Some(format!("space{space}")),
        source: Some(addr(space, src)),
        target: addr(space, dst),
        expect: if rng.chance(20) {
            Expectation::Isolated
        } else {
            Expectation::Reachable
        },
        sent,
        received,
        duplicates: 0,
        loss_pct: 100.0 * f64::from(sent - received) / f64::from(sent),
        rtt: None,
        failure,
        mtu,
        tcp: vec![],
        kind: Default::default(),
        macs: vec![],
        dns: None,
    }
}

/// Random probe reports: 1-3 spaces, 2-5 agents, a random subset of the ordered pairs.
fn results(seed: u64) -> Vec<ProbeReport> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let spaces = 1 + rng.below(3) as usize;
    let agents = 2 + rng.below(4) as usize;
    (0..agents)
        .map(|src| {
            let mut targets = Vec::new();
            for space in 0..spaces {
                for dst in (0..agents).filter(|&d| d != src) {
                    if rng.chance(85) {
                        targets.push(target(&mut rng, space, src, dst));
                    }
                }
            }
            ProbeReport {
                schema: PROBE_SCHEMA.into(),
                agent: Some(name(src)),
                sockets: vec![],
                started_at: "2026-01-01T00:00:00Z".into(),
                duration_ms: 1,
                targets,
            }
        })
        .collect()
}

/// (space, source machine, source, target machine, target) of a pair.
type Key = (String, String, String, String, String);

fn failing_pairs(r: &Report) -> BTreeSet<Key> {
    failing_pairs_where(r, |_| true)
}

/// The failing pairs whose state also passes `keep`.
fn failing_pairs_where(r: &Report, keep: impl Fn(PairState) -> bool) -> BTreeSet<Key> {
    r.spaces
        .iter()
        .flat_map(|s| {
            s.pairs
                .iter()
                .filter(|p| p.state.is_failure() && keep(p.state))
                .map(|p| {
                    (
                        s.name.clone(),
                        p.source_machine.clone(),
                        p.source.to_string(),
                        p.target_machine.clone(),
                        p.target.to_string(),
                    )
                })
        })
        .collect()
}

/// The failing pairs a rendering lists, from lines `… SRC (ADDR) → DST (ADDR)…` inside each
/// space's section (`space_of` finds a section's heading and its name, `ends` its end).
fn listed(
    text: &str,
    pair_line: impl Fn(&str) -> Option<(String, String, String, String)>,
    space_of: impl Fn(&str) -> Option<String>,
    ends: impl Fn(&str) -> bool,
) -> BTreeSet<Key> {
    let mut out = BTreeSet::new();
    let mut space = None;
    for line in text.lines() {
        if let Some(s) = space_of(line) {
            space = Some(s);
            continue;
        }
        if ends(line) {
            space = None;
            continue;
        }
        if let (Some(s), Some((sm, sa, tm, ta))) = (&space, pair_line(line)) {
            out.insert((s.clone(), sm, sa, tm, ta));
        }
    }
    out
}

/// `SRC (ADDR) → DST (ADDR)` with words around it.
fn parse_arrow(src_part: &str, dst_part: &str) -> Option<(String, String, String, String)> {
    let (sm, sa) = src_part.trim().rsplit_once(' ')?;
    let (tm, ta) = dst_part.trim().split_once(' ')?;
    let strip = |a: &str| {
        a.trim_matches(|c| c == '(' || c == ')' || c == ':')
            .to_string()
    };
    let sm = sm.split_whitespace().last()?.to_string();
    Some((sm, strip(sa), tm.to_string(), strip(ta.split(':').next()?)))
}

fn text_problems(text: &str) -> BTreeSet<Key> {
    listed(
        text,
        |line| {
            // "    ✗ node0 (10.1.0.1) → node1 (10.1.0.2): unreachable — …"
            if !line.starts_with("    ") {
                return None;
            }
            let (a, b) = line.split_once(" → ")?;
            parse_arrow(a, b)
        },
        |line| {
            line.strip_prefix("Space ")
                .map(|s| s.split(" (").next().unwrap_or(s).to_string())
        },
        // Any other unindented line starts another section (findings, checks, verdict).
        |line| !line.is_empty() && !line.starts_with(' '),
    )
}

fn html_problems(html: &str) -> BTreeSet<Key> {
    listed(
        html,
        |line| {
            // <li><span class="sw fail"></span><b>node0</b> <code>10.1.0.1</code> → <b>node1</b> <code>10.1.0.2</code>: …
            let rest = line.strip_prefix("<li><span class=\"sw ")?;
            let rest = rest.split_once("</span>")?.1;
            let cells: Vec<&str> = rest
                .split(['<', '>'])
                .filter(|t| !t.is_empty() && !t.starts_with('/') && !t.contains('='))
                .collect();
            // [node0, b?...]: keep the texts between tags.
            let texts: Vec<&str> = cells
                .into_iter()
                .filter(|t| !matches!(*t, "b" | "code" | "span"))
                .map(str::trim)
                .filter(|t| !t.is_empty() && *t != "→")
                .collect();
            match texts.as_slice() {
                [sm, sa, tm, ta, ..] => Some((
                    sm.to_string(),
                    sa.to_string(),
                    tm.to_string(),
                    ta.to_string(),
                )),
                _ => None,
            }
        },
        |line| {
            let rest = line.strip_prefix("<h2>Space ")?;
            Some(rest.split([' ', '<']).next()?.to_string())
        },
        |line| line.starts_with("</section>"),
    )
}

/// Pairs whose JUnit testcase has a `<failure`.
fn junit_failures(xml: &str) -> BTreeSet<Key> {
    let mut out = BTreeSet::new();
    let mut rest = xml;
    while let Some(i) = rest.find("<testcase classname=\"space.") {
        rest = &rest[i + "<testcase classname=\"space.".len()..];
        let Some((space, after)) = rest.split_once("\" name=\"") else {
            break;
        };
        let Some((name, body)) = after.split_once('"') else {
            break;
        };
        let end = body
            .find("</testcase>")
            .filter(|&e| !body[..e].contains("<testcase"))
            .unwrap_or(0);
        if body[..end].contains("<failure") {
            if let Some((a, b)) = name.split_once(" → ") {
                if let Some((sm, sa, tm, ta)) = parse_arrow(a, b) {
                    out.insert((space.to_string(), sm, sa, tm, ta));
                }
            }
        }
    }
    out
}

fn check_seed(seed: u64) {
    let report = preflight_check::report_from_probes(&results(seed)).unwrap();
    let failing = failing_pairs(&report);

    // The stored state is the judge's, and the findings cover exactly the failing pairs.
    let mut covered = BTreeSet::new();
    for s in &report.spaces {
        for p in &s.pairs {
            let m = Measurement {
                sent: p.sent,
                received: p.received,
                mtu: p.mtu.as_ref(),
                not_run: matches!(p.failure, Some(FailureCause::NotRun { .. })),
            };
            assert_eq!(p.state, judge(p.expect, Some(m)), "seed {seed}: {p:?}");
            let about: Vec<_> = report
                .findings
                .iter()
                .filter(|f| {
                    f.subject.space.as_deref() == Some(s.name.as_str())
                        && f.subject.source.as_deref() == Some(p.source_machine.as_str())
                        && f.subject.target.as_deref() == Some(p.target_machine.as_str())
                })
                .collect();
            assert_eq!(
                !about.is_empty(),
                p.state.is_failure(),
                "seed {seed}: {} pair {p:?} findings {about:?}",
                p.state
            );
            if p.state.is_failure() {
                // Every failure is an error, but an item the agent did not run: a warning.
                let want = if p.state == PairState::NotRun {
                    Severity::Warning
                } else {
                    Severity::Error
                };
                assert!(
                    about.iter().any(|f| f.severity == want),
                    "seed {seed}: {p:?}"
                );
                covered.insert((
                    s.name.clone(),
                    p.source_machine.clone(),
                    p.source.to_string(),
                    p.target_machine.clone(),
                    p.target.to_string(),
                ));
            }
        }
    }
    assert_eq!(covered, failing);

    // Overall status and exit code: every failing pair is an error finding, but an item the
    // agent did not run (a warning).
    let not_run: BTreeSet<Key> = failing_pairs_where(&report, |p| p == PairState::NotRun);
    let erroring: BTreeSet<Key> = failing.difference(&not_run).cloned().collect();
    let fails = !erroring.is_empty();
    assert_eq!(report.summary.status == Status::Fail, fails, "seed {seed}");
    assert_eq!(report.exit_code(), u8::from(fails), "seed {seed}");

    // JSON round trip keeps every state (and so every verdict).
    let json = render(&report, Format::Json);
    let back = parse_report(&json).unwrap();
    assert_eq!(back, report, "seed {seed}");
    assert_eq!(failing_pairs(&back), failing);

    // JUnit: a pair's case fails exactly when the pair does (one the agent did not run is
    // skipped, with its reason).
    let xml = render(&report, Format::Junit);
    assert_eq!(junit_failures(&xml), erroring, "seed {seed}:\n{xml}");
    let top = xml.lines().find(|l| l.starts_with("<testsuites")).unwrap();
    assert_eq!(
        top.contains(" failures=\"0\""),
        !fails,
        "seed {seed}: {top}"
    );

    // Text and HTML list exactly the failing pairs as problems (no pending pairs here).
    let text = render(&report, Format::Text);
    assert_eq!(text_problems(&text), failing, "seed {seed}:\n{text}");
    let html = render(&report, Format::Html);
    assert_eq!(html_problems(&html), failing, "seed {seed}");
    assert_eq!(
        text.contains("FAIL"),
        fails,
        "seed {seed}: the text verdict says FAIL exactly when a pair fails:\n{text}"
    );
}

#[test]
fn every_rendering_agrees_with_the_judged_states() {
    if let Some(seed) = std::env::var("AGREEMENT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        check_seed(seed);
        return;
    }
    let mut states = BTreeSet::new();
    for seed in 1..=300 {
        check_seed(seed);
        let r = preflight_check::report_from_probes(&results(seed)).unwrap();
        states.extend(
            r.spaces
                .iter()
                .flat_map(|s| s.pairs.iter().map(|p| p.state)),
        );
    }
    // The generator reaches every state a finished probe can have.
    for s in PairState::ALL
        .into_iter()
        .filter(|s| *s != PairState::Pending)
    {
        assert!(states.contains(&s), "no seed produced {s}");
    }
}
