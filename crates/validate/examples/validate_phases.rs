//! Times the phases of `preflight validate` in-process (bundle + overlays, MAAS snapshot,
//! checks), median of N runs: `validate_phases SNAPSHOT RUNS BUNDLE [OVERLAY...]`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: validate_phases SNAPSHOT RUNS BUNDLE [OVERLAY...]");
        std::process::exit(2);
    }
    let snap = PathBuf::from(&args[1]);
    let runs: usize = args[2].parse().unwrap_or(5).max(1);
    let bundle = PathBuf::from(&args[3]);
    let overlays: Vec<PathBuf> = args[4..].iter().map(PathBuf::from).collect();
    let (mut tb, mut tm, mut tv) = (Vec::new(), Vec::new(), Vec::new());
    let mut findings = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let b = match preflight_bundle::load(&bundle, &overlays) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2)
            }
        };
        tb.push(t.elapsed());
        let t = Instant::now();
        let model = match preflight_maas::model_from_path(&snap) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2)
            }
        };
        tm.push(t.elapsed());
        let t = Instant::now();
        let out = preflight_validate::validate(&b, None, &model, &BTreeMap::new());
        tv.push(t.elapsed());
        findings = out.findings.len();
    }
    println!(
        "median of {runs}: bundle+overlays {:?}, MAAS snapshot {:?}, checks {:?} ({findings} findings)",
        median(tb),
        median(tm),
        median(tv)
    );
}
