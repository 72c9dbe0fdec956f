//! Benchmark: parse and render a large check report (default 200 agents × 5 spaces, full mesh:
//! 199,000 probed pairs) in every format. Prints per-step medians and the peak RSS.
//!
//! `cargo run --release -p preflight-report --example bench_render -- [AGENTS] [SPACES] [RUNS]`
//! With `BENCH_WRITE=DIR` set, also writes the report in every format to `DIR/bench.*`.

// A benchmark/sample driver, not an input path: a failure aborts the run with its location.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use preflight_model::plan::Expectation;
use preflight_model::probe::{FailureCause, MtuResult, MtuVerdict, RttStats};
use preflight_model::report::{
    Code, Finding, PairResult, PairState, Report, ReportKind, Severity, SpaceReport, Subject,
    SubnetRef,
};
use preflight_report::{parse_report, render, Format};

fn build(agents: usize, spaces: usize) -> Report {
    let mut findings = Vec::new();
    let mut out = Vec::new();
    for s in 0..spaces {
        let name = format!("space-{s}");
        let machines: Vec<String> = (0..agents).map(|i| format!("node-{i:04}")).collect();
        let ip = |i: usize| -> std::net::IpAddr {
            format!("10.{s}.{}.{}", i / 250, i % 250 + 1)
                .parse()
                .unwrap()
        };
        let mut pairs = Vec::with_capacity(agents * (agents - 1));
        for a in 0..agents {
            for b in 0..agents {
                if a == b {
                    continue;
                }
                // One pair in 997 fails, one in 991 loses packets: a realistic sprinkle.
                let k = a * agents + b;
                let failed = k.is_multiple_of(997);
                let lossy = k.is_multiple_of(991);
                pairs.push(PairResult {
                    id: format!("{s}-{a}-{b}"),
                    source_machine: machines[a].clone(),
                    target_machine: machines[b].clone(),
                    source: ip(a),
                    target: ip(b),
                    expect: Expectation::Reachable,
                    done: true,
                    sent: 5,
                    received: if failed {
                        0
                    } else if lossy {
                        4
                    } else {
                        5
                    },
                    loss_pct: if failed {
                        100.0
                    } else if lossy {
                        20.0
                    } else {
                        0.0
                    },
                    rtt: (!failed).then_some(RttStats {
                        min_ms: 0.11,
                        avg_ms: 0.2,
                        max_ms: 0.43,
                        mdev_ms: 0.04,
                    }),
                    failure: failed.then_some(FailureCause::Timeout),
                    mtu: Some(MtuResult {
                        expected_mtu: 9000,
                        small_ok: !failed,
                        large_ok: !failed,
                        largest_ok: None,
                        verdict: if failed {
                            MtuVerdict::Unknown
                        } else {
                            MtuVerdict::Ok
                        },
                    }),
                    tcp: vec![],
                    state: if failed {
                        PairState::Unreachable
                    } else if lossy {
                        PairState::Loss
                    } else {
                        PairState::Ok
                    },
                });
                if failed || lossy {
                    findings.push(Finding {
                        code: if failed {
                            Code::ProbeUnreachable
                        } else {
                            Code::ProbePacketLoss
                        },
                        severity: if failed {
                            Severity::Error
                        } else {
                            Severity::Warning
                        },
                        subject: Subject {
                            space: Some(name.clone()),
                            source: Some(machines[a].clone()),
                            target: Some(machines[b].clone()),
                            ..Default::default()
                        },
                        message: format!("{} → {} failed", machines[a], machines[b]),
                        hint: None,
                    });
                }
            }
        }
        out.push(SpaceReport {
            name,
            id: Some(s as i64),
            subnets: vec![SubnetRef {
                id: s as i64,
                cidr: format!("10.{s}.0.0/16"),
                fabric: Some("fabric-0".into()),
                vid: Some(100 + s as u16),
                mtu: Some(9000),
            }],
            machines,
            pairs,
        });
    }
    let mut r = Report::new(ReportKind::Check, "2026-11-21T05:00:00Z".into(), findings);
    r.spaces = out;
    r
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let agents = args.first().copied().unwrap_or(200);
    let spaces = args.get(1).copied().unwrap_or(5);
    let runs = args.get(2).copied().unwrap_or(5);
    let report = build(agents, spaces);
    let pairs: usize = report.spaces.iter().map(|s| s.pairs.len()).sum();
    let json = render(&report, Format::Json);
    println!(
        "report: {agents} agents × {spaces} spaces, {pairs} pairs, {} findings, JSON {:.1} MB",
        report.findings.len(),
        json.len() as f64 / 1e6
    );
    if let Ok(dir) = std::env::var("BENCH_WRITE") {
        for (ext, f) in [
            ("json", Format::Json),
            ("txt", Format::Text),
            ("xml", Format::Junit),
            ("html", Format::Html),
        ] {
            let path = format!("{dir}/bench.{ext}");
            if let Err(e) = std::fs::write(&path, render(&report, f)) {
                eprintln!("cannot write {path}: {e}");
            }
        }
    }
    let time = |label: &str, f: &dyn Fn() -> usize| {
        let mut samples = Vec::new();
        let mut size = 0;
        for _ in 0..runs {
            let t = Instant::now();
            size = f();
            samples.push(t.elapsed());
        }
        println!(
            "{label:<12} median {:>8.1} ms  (output {:.1} MB, {runs} runs)",
            median(samples).as_secs_f64() * 1e3,
            size as f64 / 1e6
        );
    };
    time("parse json", &|| {
        parse_report(&json).map(|r| r.spaces.len()).unwrap_or(0)
    });
    time("render json", &|| render(&report, Format::Json).len());
    time("stream json", &|| {
        let mut sink = std::io::sink();
        preflight_report::write_to(&report, Format::Json, false, &mut sink).map_or(0, |_| 0)
    });
    time("render text", &|| render(&report, Format::Text).len());
    time("render junit", &|| render(&report, Format::Junit).len());
    time("render html", &|| render(&report, Format::Html).len());
    if let Some(kib) = peak_rss_kib() {
        println!("peak RSS     {:.1} MB", kib as f64 / 1024.0);
    }
}
