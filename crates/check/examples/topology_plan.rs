//! Plan size with and without the cross-space probes (`--bundle`, `--isolation bundle`), for
//! M machines × S spaces, to show the extra probes grow linearly with the machines.
//!
//! `cargo run --release -p preflight-check --example topology_plan -- [SPACES] [MACHINES]...`
//! (default: 5 spaces; 50 100 200 400 800 machines). Two layouts per size:
//! * `multi-homed`: every machine has an address in every space (the OpenStack shape, like
//!   `bench/check_load.sh`); relations chain the spaces (s1–s2, s2–s3, ...). Isolation probes
//!   are impossible there (an on-link answer says nothing), so `--isolation bundle` adds none.
//! * `single-homed`: machine i is only in space i mod S (the dmz/cms/db shape); same chain of
//!   relations, and every other pair of spaces is expected-isolated.

use std::collections::BTreeSet;
use std::time::Instant;

use preflight_check::cross_space::Topology;
use preflight_check::merge::{AgentAddress, MergedAgent};
use preflight_check::plan::{build_plan, PlanOptions};
use preflight_model::provider::{ProviderModel, Space};
use preflight_validate::relations::SpaceNeed;

const SUBNETS_PER_SPACE: i64 = 4;

fn agents(machines: usize, spaces: i64, multi_homed: bool) -> Vec<MergedAgent> {
    (0..machines)
        .map(|i| {
            let member: Vec<i64> = if multi_homed {
                (1..=spaces).collect()
            } else {
                vec![1 + (i as i64 % spaces)]
            };
            MergedAgent {
                agent_id: format!("machine-{i:05}"),
                name: format!("machine-{i:05}"),
                system_id: None,
                resolvers: Vec::new(),
                addresses: member
                    .into_iter()
                    .map(|s| AgentAddress {
                        address: std::net::Ipv4Addr::new(
                            10,
                            s as u8,
                            (i / 250) as u8,
                            (i % 250 + 1) as u8,
                        )
                        .into(),
                        link: "eth0".into(),
                        subnet_id: s * 100 + (i as i64 / spaces) % SUBNETS_PER_SPACE,
                        space_id: s,
                        vlan_mtu: 1500,
                    })
                    .collect(),
            }
        })
        .collect()
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let spaces = args.first().copied().unwrap_or(5) as i64;
    let sizes: Vec<usize> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        vec![50, 100, 200, 400, 800]
    };
    let mut provider = ProviderModel::default();
    for id in 1..=spaces {
        provider.spaces.insert(
            id,
            Space {
                id,
                name: format!("s{id}"),
                description: None,
            },
        );
    }
    let needs: Vec<SpaceNeed> = (1..spaces)
        .map(|s| SpaceNeed {
            a: format!("s{s}"),
            b: format!("s{}", s + 1),
            relations: vec![format!("app{s}:rel ↔ app{}:rel", s + 1)],
            applications_a: BTreeSet::new(),
            applications_b: BTreeSet::new(),
        })
        .collect();
    println!(
        "{spaces} spaces, {SUBNETS_PER_SPACE} subnets each, {} needed pairs (a chain), default plan options (k=3, full mesh up to 128)",
        needs.len()
    );
    println!(
        "{:<13} {:>8} {:>10} {:>14} {:>16} {:>12} {:>10}",
        "layout", "machines", "base", "+relations", "+isolation", "extra", "extra/mach"
    );
    for multi in [true, false] {
        for &n in &sizes {
            let a = agents(n, spaces, multi);
            let base = build_plan(&provider, &a, &PlanOptions::default()).probes;
            let with = |isolate_unrelated: bool| {
                let opts = PlanOptions {
                    topology: Topology {
                        needs: needs.clone(),
                        isolate_unrelated,
                        bundle: true,
                        ..Topology::default()
                    },
                    ..PlanOptions::default()
                };
                let t = Instant::now();
                let p = build_plan(&provider, &a, &opts).probes;
                (p, t.elapsed().as_secs_f64())
            };
            let (rel, _) = with(false);
            let (iso, secs) = with(true);
            println!(
                "{:<13} {:>8} {:>10} {:>14} {:>16} {:>12} {:>10.2}   ({:.3} s to plan)",
                if multi { "multi-homed" } else { "single-homed" },
                n,
                base,
                rel,
                iso,
                iso - base,
                (iso - base) as f64 / n as f64,
                secs
            );
        }
    }
}
