//! When a `placement.missing-space` is certain rather than possible: Juju gives each bundle
//! machine one MAAS machine from its candidates, so if no assignment of machines to every
//! demand (bundle machines and new-machine units, the same bipartite matching
//! `binding.capacity` uses) gives every bundle machine of a group a candidate with the space,
//! every deployment that places all units puts some of their units on a machine without it.

use crate::capacity::{self, Demand};

/// Whether, in every full assignment, some demand of `group` (bundle machines whose units
/// need the space) gets a machine `lacks` says lacks the space. False when the demands cannot
/// all be met anyway (`binding.capacity` reports that) or when a full assignment gives every
/// member a machine with the space.
pub(crate) fn missing_space_is_certain(
    demands: &[Demand],
    n_machines: usize,
    group: &[usize],
    lacks: impl Fn(usize) -> bool,
) -> bool {
    if group.is_empty() || !capacity::shortfalls(demands, n_machines).is_empty() {
        return false;
    }
    let mut restricted = demands.to_vec();
    for &g in group {
        if let Some(d) = restricted.get_mut(g) {
            d.candidates.retain(|&i| !lacks(i));
        }
    }
    !capacity::shortfalls(&restricted, n_machines).is_empty()
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
    fn three_machines_sharing_exactly_three_candidates() {
        // Bundle machines 0, 1, 2 all fit MAAS machines {0, 1, 2}; machine 2 lacks the space.
        let demands = [d(1, &[0, 1, 2]), d(1, &[0, 1, 2]), d(1, &[0, 1, 2])];
        // Only bundle machine 0 needs the space: Juju can give it 0 or 1.
        assert!(!missing_space_is_certain(&demands, 3, &[0], |m| m == 2));
        // Two need it: still possible (0 and 1 take MAAS 0 and 1, bundle machine 2 takes 2).
        assert!(!missing_space_is_certain(&demands, 3, &[0, 1], |m| m == 2));
        // All three need it and all three candidates are taken: certain.
        assert!(missing_space_is_certain(&demands, 3, &[0, 1, 2], |m| m == 2));
        // With a fourth candidate free, nothing is certain.
        let loose = [
            d(1, &[0, 1, 2, 3]),
            d(1, &[0, 1, 2, 3]),
            d(1, &[0, 1, 2, 3]),
        ];
        assert!(!missing_space_is_certain(&loose, 4, &[0, 1, 2], |m| m == 2));
        // New-machine units competing for the same machines count too.
        let with_units = [d(1, &[0, 1, 2, 3]), d(2, &[2, 3])];
        assert!(missing_space_is_certain(&with_units, 4, &[0], |m| m == 0 || m == 1));
        // Already short: capacity reports it, this does not.
        let short = [d(2, &[0]), d(1, &[0])];
        assert!(!missing_space_is_certain(&short, 1, &[1], |_| true));
    }
}
