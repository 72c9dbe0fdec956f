//! Placement rule: `placement.missing-space`, and how a unit's `to:` resolves to a machine.

use std::collections::{BTreeMap, BTreeSet};

use preflight_bundle::{Bundle, Placement};
use preflight_model::report::{Code, Severity, Subject};

use crate::candidates::{constraint_stages, endpoint_list, filter};
use crate::cx::{subject_app, Cx};

/// Where a unit ends up, as far as spaces are concerned.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Target {
    /// A new machine made for this application.
    New,
    /// A bundle machine.
    BundleMachine(String),
    /// A new machine made for another application's unit.
    NewFor(String),
}

/// Resolves a unit placement to a bundle machine or a new machine, following `app/N` chains.
pub(crate) fn resolve(bundle: &Bundle, app: &str, p: &Placement, depth: usize) -> Option<Target> {
    match p {
        Placement::New { .. } => Some(if depth == 0 {
            Target::New
        } else {
            Target::NewFor(app.to_string())
        }),
        Placement::Machine { machine, .. } => Some(Target::BundleMachine(machine.clone())),
        Placement::Unit {
            application, unit, ..
        } => {
            if depth > 16 {
                return None;
            }
            let target = bundle.applications.get(application)?;
            let ps = target.unit_placements();
            let tp = ps.get(unit.unwrap_or(0) as usize).or(ps.first())?;
            match resolve(bundle, application, tp, depth + 1)? {
                Target::New => Some(Target::NewFor(application.clone())),
                t => Some(t),
            }
        }
    }
}

/// The candidate pools placements can land in.
pub(crate) struct Pools<'a> {
    /// Bundle machine → its candidates (the mapped machine, or those fitting its constraints).
    pub machines: &'a BTreeMap<String, Vec<usize>>,
    /// Application → the candidates of its new machines, for the applications evaluated so far.
    pub new_machines: &'a BTreeMap<String, Vec<usize>>,
    /// `--machine-map`: pinned bundle machines.
    pub machine_map: &'a BTreeMap<String, String>,
}

/// `placement.missing-space`: every machine a unit of `name` is placed on (`placed`) must be
/// in each space the bindings require (`required`: space → endpoints). Error when none of the
/// machine's candidates is, warning when only some are (Juju may pick one without it).
pub(crate) fn missing_space(
    cx: &mut Cx<'_>,
    bundle: &Bundle,
    name: &str,
    placed: &BTreeSet<Target>,
    required: &[(String, Vec<String>)],
    pools: &Pools<'_>,
) {
    let (machine_cands, new_cands, machine_map) =
        (pools.machines, pools.new_machines, pools.machine_map);
    if !placed.is_empty() {
        cx.checked(Code::PlacementMissingSpace, subject_app(name));
    }
    for t in placed {
        let (label, pool): (String, Option<Vec<usize>>) = match t {
            Target::BundleMachine(id) => (format!("machine {id}"), machine_cands.get(id).cloned()),
            Target::NewFor(other) => (
                format!("the new machines of {other}"),
                new_cands.get(other).cloned().or_else(|| {
                    // Not evaluated yet (alphabetical order): evaluate its pool now.
                    bundle
                        .applications
                        .get(other)
                        .map(|o| filter(&cx.cands, None, &constraint_stages(&o.constraints)).pass)
                }),
            ),
            Target::New => continue,
        };
        let Some(pool) = pool.filter(|p| !p.is_empty()) else {
            continue;
        };
        let machine_subject = match t {
            Target::BundleMachine(id) => Some(id.clone()),
            _ => None,
        };
        for (sp, eps) in required {
            let have = pool
                .iter()
                .filter(|&&i| cx.cands[i].spaces.contains(sp.as_str()))
                .count();
            if have == pool.len() {
                continue;
            }
            let subject = Subject {
                application: Some(name.to_string()),
                space: Some(sp.clone()),
                machine: machine_subject.clone(),
                ..Subject::default()
            };
            let pinned = matches!(t, Target::BundleMachine(id) if machine_map.contains_key(id));
            let hint = match t {
                Target::BundleMachine(id) if pinned => format!(
                    "map machine {id} to a MAAS machine with a link in space {sp} (--machine-map {id}=SYSTEM_ID), or bind {} to a space it has",
                    endpoint_list(eps)
                ),
                Target::BundleMachine(id) => format!(
                    "add spaces={sp} to machine {id}'s constraints (or pin it with --machine-map {id}=SYSTEM_ID)"
                ),
                _ => format!("add spaces={sp} to the constraints of the application it is placed with"),
            };
            let names: Vec<&str> = pool
                .iter()
                .filter(|&&i| !cx.cands[i].spaces.contains(sp.as_str()))
                .take(5)
                .map(|&i| cx.cands[i].m.hostname.as_str())
                .collect();
            if have == 0 {
                cx.finding(
                    Code::PlacementMissingSpace,
                    Severity::Error,
                    subject,
                    format!(
                        "{name} is placed on {label}, but none of its {} candidate MAAS machine(s) ({}{}) has space {sp:?}, which {} is bound to",
                        pool.len(),
                        names.join(", "),
                        if pool.len() > names.len() { ", ..." } else { "" },
                        endpoint_list(eps)
                    ),
                    Some(hint),
                );
            } else {
                cx.finding(
                    Code::PlacementMissingSpace,
                    Severity::Warning,
                    subject,
                    format!(
                        "{name} is placed on {label}: only {have} of its {} candidate MAAS machines have space {sp:?} (bound: {}); Juju may pick one without it (e.g. {})",
                        pool.len(),
                        endpoint_list(eps),
                        names.join(", ")
                    ),
                    Some(hint),
                );
            }
        }
    }
}
