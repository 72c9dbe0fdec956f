//! `binding.capacity`: do the units that need new machines fit on distinct MAAS machines?
//!
//! Each demand (an application's new-machine units, or an unpinned bundle machine) needs
//! `units` distinct machines from its candidate set, and a machine serves one unit. That is a
//! bipartite matching; a maximum one (augmenting paths) says exactly which demands cannot be
//! met, and the alternating-path search from an unmet demand finds the group of demands that
//! compete for the same machines (a Hall violator: more units than machines between them).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use preflight_model::report::{Code, Severity, Subject};

use crate::cx::{subject_app, Cx};

/// `binding.capacity`: the applications' new-machine demands (`new_demands`) and the unpinned
/// bundle machines (`machine_cands`, minus those in `machine_map`) must all get distinct
/// candidate machines; machines pinned by `machine_map` serve only their bundle machine.
pub(crate) fn binding_capacity(
    cx: &mut Cx<'_>,
    mut new_demands: Vec<Demand>,
    machine_cands: &BTreeMap<String, Vec<usize>>,
    machine_map: &BTreeMap<String, String>,
) {
    let new_demands = &mut new_demands;
    for (id, pool) in machine_cands {
        if machine_map.contains_key(id) || pool.is_empty() {
            continue;
        }
        cx.checked(
            Code::BindingCapacity,
            Subject {
                machine: Some(id.clone()),
                ..Subject::default()
            },
        );
        new_demands.push(Demand {
            label: format!("bundle machine {id}"),
            application: None,
            units: 1,
            candidates: pool.clone(),
        });
    }
    let pinned: BTreeSet<usize> = machine_map
        .values()
        .filter_map(|sys| cx.cands.iter().position(|c| &c.m.system_id == sys))
        .collect();
    for d in new_demands.iter_mut() {
        d.candidates.retain(|i| !pinned.contains(i));
    }
    for short in shortfalls(new_demands, cx.cands.len()) {
        let d = &new_demands[short.demand];
        let subject = match &d.application {
            Some(a) => subject_app(a),
            None => Subject {
                machine: d.label.strip_prefix("bundle machine ").map(str::to_string),
                ..Subject::default()
            },
        };
        let short_by = short.group_units.saturating_sub(short.group_machines);
        let message = if short.group.len() > 1 {
            let others: Vec<&str> = short
                .group
                .iter()
                .filter(|&&g| g != short.demand)
                .map(|&g| new_demands[g].label.as_str())
                .collect();
            format!(
                "{} needs {} new machine(s) from the {} MAAS machine(s) that satisfy its constraints and bound spaces, and competes for them with {}: together they need {} but only {} fit ({short_by} short)",
                d.label,
                d.units,
                d.candidates.len(),
                others.join(", "),
                short.group_units,
                short.group_machines
            )
        } else {
            format!(
                "{} needs {} new machine(s), but only {} MAAS machine(s) satisfy its constraints and bound spaces ({short_by} short)",
                d.label,
                d.units,
                d.candidates.len()
            )
        };
        cx.finding(
            Code::BindingCapacity,
            Severity::Error,
            subject,
            message,
            Some("add MAAS machines that satisfy these constraints and spaces, reduce num_units, or place units on existing machines with to:".into()),
        );
    }
}

/// Units that need machines from a candidate set.
#[derive(Debug, Clone)]
pub(crate) struct Demand {
    /// For messages: the application name or `bundle machine N`.
    pub label: String,
    /// The application, when the demand is one.
    pub application: Option<String>,
    /// Machines needed.
    pub units: usize,
    /// Indices of the machines that fit.
    pub candidates: Vec<usize>,
}

/// A demand that cannot be met, with the group it competes in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shortfall {
    /// Index of the demand.
    pub demand: usize,
    /// The demands competing for the same machines (including this one).
    pub group: Vec<usize>,
    /// Units the group needs.
    pub group_units: usize,
    /// Distinct machines the group can use.
    pub group_machines: usize,
}

/// Finds the demands a maximum matching leaves short. `n_machines` bounds the machine indices.
pub(crate) fn shortfalls(demands: &[Demand], n_machines: usize) -> Vec<Shortfall> {
    let mut owner: Vec<Option<usize>> = vec![None; n_machines];
    let mut filled = vec![0usize; demands.len()];
    let mut out = Vec::new();
    for start in 0..demands.len() {
        let mut reached: Vec<usize> = Vec::new();
        while filled[start] < demands[start].units {
            match augment(demands, &mut owner, &mut filled, start) {
                Ok(()) => {}
                Err(group) => {
                    reached = group;
                    break;
                }
            }
        }
        if filled[start] < demands[start].units {
            let machines: BTreeSet<usize> = reached
                .iter()
                .flat_map(|&d| demands[d].candidates.iter().copied())
                .collect();
            out.push(Shortfall {
                demand: start,
                group_units: reached.iter().map(|&d| demands[d].units).sum(),
                group_machines: machines.len(),
                group: reached,
            });
        }
    }
    // A demand found short early can lose its group's picture as later demands take machines;
    // recompute the groups once the matching is final.
    for s in &mut out {
        let group = alternating_reach(demands, &owner, s.demand);
        let machines: BTreeSet<usize> = group
            .iter()
            .flat_map(|&d| demands[d].candidates.iter().copied())
            .collect();
        s.group_units = group.iter().map(|&d| demands[d].units).sum();
        s.group_machines = machines.len();
        s.group = group;
    }
    out
}

/// Gives demand `start` one more machine along an augmenting path, or returns the demands
/// reachable by alternating paths (the competing group) when there is none.
fn augment(
    demands: &[Demand],
    owner: &mut [Option<usize>],
    filled: &mut [usize],
    start: usize,
) -> Result<(), Vec<usize>> {
    // BFS over demands; parent[m] = demand that reached machine m.
    let mut seen_d = vec![false; demands.len()];
    let mut via: Vec<Option<(usize, usize)>> = vec![None; demands.len()]; // demand -> (machine, prev demand)
    let mut seen_m: BTreeSet<usize> = BTreeSet::new();
    let mut q = VecDeque::new();
    seen_d[start] = true;
    q.push_back(start);
    while let Some(d) = q.pop_front() {
        for &m in &demands[d].candidates {
            if m >= owner.len() || !seen_m.insert(m) {
                continue;
            }
            match owner[m] {
                None => {
                    // Free machine: shift the chain back to start.
                    let mut machine = m;
                    let mut cur = d;
                    loop {
                        owner[machine] = Some(cur);
                        match via[cur] {
                            Some((prev_machine, prev)) => {
                                machine = prev_machine;
                                cur = prev;
                            }
                            None => break,
                        }
                    }
                    filled[start] += 1;
                    return Ok(());
                }
                Some(o) => {
                    if !seen_d[o] {
                        seen_d[o] = true;
                        via[o] = Some((m, d));
                        q.push_back(o);
                    }
                }
            }
        }
    }
    Err((0..demands.len()).filter(|&i| seen_d[i]).collect())
}

fn alternating_reach(demands: &[Demand], owner: &[Option<usize>], start: usize) -> Vec<usize> {
    let mut seen = vec![false; demands.len()];
    let mut seen_m = BTreeSet::new();
    let mut q = VecDeque::from([start]);
    seen[start] = true;
    while let Some(d) = q.pop_front() {
        for &m in &demands[d].candidates {
            if m >= owner.len() || !seen_m.insert(m) {
                continue;
            }
            if let Some(o) = owner[m] {
                if !seen[o] {
                    seen[o] = true;
                    q.push_back(o);
                }
            }
        }
    }
    (0..demands.len()).filter(|&i| seen[i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(units: usize, c: &[usize]) -> Demand {
        Demand {
            label: String::new(),
            application: None,
            units,
            candidates: c.to_vec(),
        }
    }

    #[test]
    fn fits_when_a_matching_exists_even_if_greedy_would_fail() {
        // A takes {0,1}, B needs {0}: greedy A→0 would starve B; augmenting moves A to 1.
        assert!(shortfalls(&[d(1, &[0, 1]), d(1, &[0])], 2).is_empty());
        assert!(shortfalls(&[d(2, &[0, 1, 2]), d(1, &[0, 1, 2])], 3).is_empty());
    }

    #[test]
    fn single_demand_over_its_candidates() {
        let s = shortfalls(&[d(3, &[0, 1])], 2);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].group_units, s[0].group_machines), (3, 2));
    }

    #[test]
    fn competing_demands_are_grouped() {
        // A and B each fit alone (2 ≤ 3) but need 4 of the same 3 machines; C is elsewhere.
        let s = shortfalls(&[d(2, &[0, 1, 2]), d(2, &[0, 1, 2]), d(1, &[3])], 4);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].demand, 1);
        assert_eq!(s[0].group, vec![0, 1]);
        assert_eq!((s[0].group_units, s[0].group_machines), (4, 3));
    }
}
