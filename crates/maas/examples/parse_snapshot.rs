//! Times one snapshot file → provider model parse and reports peak RSS (for
//! `bench/maas-parse.sh`). Usage: `parse_snapshot FILE [slice|value]`.
//!
//! `slice` (default) is the file path of `load_provider`; `value` first builds a JSON tree,
//! as the live path does after fetching.

use std::time::Instant;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// User + system CPU seconds of this process so far (from /proc, assuming 100 ticks/s).
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the `(comm)`; utime and stime are fields 14 and 15 overall.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ut: f64 = f.get(11)?.parse().ok()?;
            let st: f64 = f.get(12)?.parse().ok()?;
            Some((ut + st) / 100.0)
        })
        .unwrap_or(0.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: parse_snapshot FILE [slice|value]");
        std::process::exit(2);
    };
    let mode = args.get(2).map(String::as_str).unwrap_or("slice");
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let model = match mode {
        "value" => preflight_maas::read_snapshot_file(path.as_ref())
            .and_then(|v| preflight_maas::model_from_snapshot(&v)),
        _ => preflight_maas::model_from_path(path.as_ref()),
    };
    let elapsed = start.elapsed();
    let cpu = cpu_seconds() - cpu0;
    match model {
        Ok(m) => {
            let ifaces: usize = m.machines.iter().map(|m| m.interfaces.len()).sum();
            println!(
                "mode={mode} seconds={:.3} cpu_seconds={cpu:.2} peak_rss_mib={:.1} machines={} interfaces={} spaces={} subnets={} vlans={}",
                elapsed.as_secs_f64(),
                peak_rss_kib() as f64 / 1024.0,
                m.machines.len(),
                ifaces,
                m.spaces.len(),
                m.subnets.len(),
                m.vlans.len()
            );
        }
        Err(e) => {
            eprintln!("parse_snapshot: {e}");
            std::process::exit(1);
        }
    }
}
