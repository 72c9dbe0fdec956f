//! Benchmark: build the sparse plan for M machines × S spaces (default 5,000 × 20).
//!
//! `cargo run --release -p preflight-check --example plan_bench -- [MACHINES] [SPACES] [RUNS]`

use std::time::Instant;

use preflight_check::merge::{AgentAddress, MergedAgent};
use preflight_check::plan::{build_plan, PlanOptions};
use preflight_model::provider::{ProviderModel, Space};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let machines = args.first().copied().unwrap_or(5000);
    let spaces = args.get(1).copied().unwrap_or(20) as i64;
    let runs = args.get(2).copied().unwrap_or(5);
    let subnets_per_space = 4;
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
    let agents: Vec<MergedAgent> = (0..machines)
        .map(|i| MergedAgent {
            agent_id: format!("machine-{i:05}"),
            name: format!("machine-{i:05}"),
            system_id: None,
            resolvers: Vec::new(),
            addresses: (1..=spaces)
                .map(|s| AgentAddress {
                    address: std::net::Ipv4Addr::new(
                        10,
                        s as u8,
                        (i / 250) as u8,
                        (i % 250 + 1) as u8,
                    )
                    .into(),
                    link: "eth0".into(),
                    subnet_id: s * 100 + (i as i64 % subnets_per_space),
                    space_id: s,
                    vlan_mtu: 1500,
                })
                .collect(),
        })
        .collect();
    let opts = PlanOptions::default();
    let mut times = Vec::new();
    let mut probes = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let plan = build_plan(&provider, &agents, &opts);
        times.push(t.elapsed().as_secs_f64());
        probes = plan.probes;
    }
    times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "plan_bench: {machines} machines x {spaces} spaces ({subnets_per_space} subnets each), k={}, full mesh up to {}: {probes} probes; build time median {:.3} s, min {:.3} s, max {:.3} s over {runs} runs",
        opts.k,
        opts.full_mesh_max,
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
}
