//! Benchmark: localization on M machines × S spaces (default 5,000 × 20) with a sparse plan
//! and simulated results carrying three independent faults: one machine's VLAN missing on its
//! trunk (space 3), another machine's NIC dead (every space on its second NIC), and a one-way
//! drop between two other machines (space 5). Checks the causes are exactly those three.
//!
//! `cargo run --release -p preflight-check --example localize_bench -- [MACHINES] [SPACES] [RUNS]`
//! Prints the localization time (median of RUNS) and the process's peak RSS (VmHWM: the
//! report's pairs are in memory too): building the input, then (the peak reset) while
//! localizing, and the larger of the two for the whole run. The reset also resets what
//! `/usr/bin/time` reports, so that figure is the localizing peak only.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use preflight_check::localize::{localize, Endpoint, EndpointModel, VlanInfo};
use preflight_check::merge::{AgentAddress, MergedAgent};
use preflight_check::plan::{build_plan, PlanOptions};
use preflight_model::probe::{MtuResult, MtuVerdict};
use preflight_model::provider::{ProviderModel, Space};
use preflight_model::report::{PairResult, SpaceReport};

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let machines = args.first().copied().unwrap_or(5000);
    let spaces = args.get(1).copied().unwrap_or(20) as i64;
    let runs = args.get(2).copied().unwrap_or(3).max(1);
    let half = spaces / 2;
    let mut provider = ProviderModel::default();
    for id in 1..=spaces {
        provider.spaces.insert(
            id,
            Space {
                id,
                name: format!("space-{id}"),
                description: None,
            },
        );
    }
    let addr = |i: usize, s: i64| -> IpAddr {
        std::net::Ipv4Addr::new(10, s as u8, (i / 250) as u8, (i % 250 + 1) as u8).into()
    };
    let name = |i: usize| format!("machine-{i:05}");
    let agents: Vec<MergedAgent> = (0..machines)
        .map(|i| MergedAgent {
            agent_id: name(i),
            name: name(i),
            system_id: None,
            resolvers: Vec::new(),
            addresses: (1..=spaces)
                .map(|s| AgentAddress {
                    address: addr(i, s),
                    link: format!("eth{}.{}", (s > half) as u8, 100 + s),
                    subnet_id: s * 100 + (i as i64 % 4),
                    space_id: s,
                    vlan_mtu: 1500,
                })
                .collect(),
        })
        .collect();
    // Spaces 1..=S/2 ride on eth0, the rest on eth1, each as a VLAN interface.
    let mut model = EndpointModel::default();
    for a in &agents {
        for x in &a.addresses {
            let nic = format!("eth{}", (x.space_id > half) as u8);
            model.endpoints.insert(
                (a.name.clone(), x.address),
                Endpoint {
                    interface: x.link.clone(),
                    nic: Some(nic),
                    bond_members: vec![],
                    vlan: Some(VlanInfo {
                        id: x.space_id,
                        vid: 100 + x.space_id as u16,
                        fabric: "fabric-0".into(),
                        mtu: 1500,
                    }),
                    subnet: Some(format!("10.{}.{}.0/24", x.space_id, x.subnet_id % 100)),
                },
            );
        }
    }
    let model_mib = peak_rss_mib();
    let t = Instant::now();
    let plan = build_plan(&provider, &agents, &PlanOptions::default());
    let plan_s = t.elapsed().as_secs_f64();
    let plan_mib = peak_rss_mib();
    // The faults.
    let vlan_missing = (name(17), 3i64);
    let nic_dead = name(2222);
    let space_of = |s: &str| s.trim_start_matches("space-").parse::<i64>().unwrap_or(0);
    let owner: HashMap<(IpAddr, i64), usize> = (0..machines)
        .flat_map(|i| (1..=spaces).map(move |s| ((addr(i, s), s), i)))
        .collect();
    let mut sections: Vec<SpaceReport> = (1..=spaces)
        .map(|s| SpaceReport {
            name: format!("space-{s}"),
            id: Some(s),
            subnets: vec![],
            machines: (0..machines).map(name).collect(),
            pairs: vec![],
        })
        .collect();
    let mut one_way_pair: Option<(String, String)> = None;
    for (agent, p) in plan.per_agent {
        let agent = &agent;
        // Only the echo items are report pairs (neighbour and gateway probes go to the
        // infrastructure rules, not to localization), as in a real report.
        for t in p
            .targets
            .into_iter()
            .filter(|t| t.kind == preflight_model::plan::ProbeKind::Echo)
        {
            let s = space_of(&t.space);
            let tm = owner
                .get(&(t.target, s))
                .map_or_else(|| t.target.to_string(), |&i| name(i));
            let dead = (*agent == vlan_missing.0 || tm == vlan_missing.0) && s == vlan_missing.1
                || (*agent == nic_dead || tm == nic_dead) && s > half;
            let mut one_way = false;
            if !dead
                && s == 5
                && one_way_pair.is_none()
                && *agent != vlan_missing.0
                && tm != nic_dead
            {
                one_way_pair = Some((agent.clone(), tm.clone()));
            }
            if let Some((a, b)) = &one_way_pair {
                one_way = s == 5 && a == agent && *b == tm;
            }
            let ok = !dead && !one_way;
            sections[(s - 1) as usize].pairs.push(PairResult {
                id: t.id,
                source_machine: agent.clone(),
                target_machine: tm,
                source: t.source,
                target: t.target,
                expect: t.expect,
                done: true,
                sent: 3,
                received: if ok { 3 } else { 0 },
                loss_pct: if ok { 0.0 } else { 100.0 },
                rtt: None,
                failure: None,
                mtu: ok.then_some(MtuResult {
                    expected_mtu: 1500,
                    small_ok: true,
                    large_ok: true,
                    largest_ok: Some(1500),
                    verdict: MtuVerdict::Ok,
                }),
                tcp: vec![],
                state: preflight_model::judge::PairState::Ok,
            });
        }
    }
    let pairs: usize = sections.iter().map(|s| s.pairs.len()).sum();
    drop(owner);
    let input_peak = peak_rss_mib();
    // Reset the peak (Linux: `5` to clear_refs resets VmHWM) so the localization's own peak
    // shows, on top of its input (the report's pairs) that it holds by reference.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let mut times = Vec::new();
    let mut d = None;
    for _ in 0..runs {
        let t = Instant::now();
        let out = localize(&sections, &model, &[]);
        times.push(t.elapsed().as_secs_f64());
        d = Some(out);
    }
    let localize_peak = peak_rss_mib();
    times.sort_by(|a, b| a.total_cmp(b));
    let d = d.unwrap_or_default();
    let mut got: Vec<String> = d
        .causes
        .iter()
        .map(|c| {
            format!(
                "{} {} {}",
                c.code,
                c.subject.machine.as_deref().unwrap_or("-"),
                c.subject.interface.as_deref().unwrap_or("-")
            )
        })
        .collect();
    got.sort();
    let (a, b) = one_way_pair.unwrap_or_default();
    let mut want = vec![
        format!("cause.interface {} eth0.103", vlan_missing.0),
        format!("cause.nic {nic_dead} eth1"),
        format!("cause.policy {b} -"),
    ];
    want.sort();
    println!(
        "localize_bench: {machines} machines x {spaces} spaces, sparse plan {pairs} pairs (plan {plan_s:.2} s, peak RSS {model_mib:.0} MiB with the endpoint model, {plan_mib:.0} MiB with the plan); \
         {} failing pairs, {} explained by {} causes; localize median {:.3} s (min {:.3}, max {:.3}, {runs} runs); \
         peak RSS {input_peak:.0} MiB building the input, {localize_peak:.0} MiB while localizing (input included); \
         whole run {:.0} MiB",
        d.failing_pairs,
        d.explained_pairs,
        d.causes.len(),
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        input_peak.max(localize_peak)
    );
    println!("  one-way drop injected: {a} -> {b}");
    for c in &got {
        println!("  cause: {c}");
    }
    if got != want {
        println!("  MISMATCH: expected {want:?}");
        std::process::exit(1);
    }
    println!("  causes are exactly the three injected faults");
}
