//! Step 3 of the data line: check a bundle's bindings and constraints against the provider model.
//!
//! [`validate`] answers, before anything is deployed, whether `juju deploy BUNDLE --overlay ...`
//! can bind every endpoint on this MAAS, and if not, exactly why, as [`Finding`]s with stable
//! codes ([`preflight_model::report::Code`]). It evaluates:
//!
//! * per application: `binding.unknown-space`, `binding.unknown-endpoint` (with charm
//!   metadata), `constraint.space-conflict`, `constraint.unsatisfiable` and `binding.capacity`
//!   (units on new machines), `placement.missing-space` (units placed on bundle machines);
//! * per bundle machine: `constraint.unsatisfiable` when no MAAS machine fits its constraints;
//! * on the network: `subnet.no-space`, `subnet.overlap`, and `space.empty` for bound spaces;
//! * per relation ([`relations`]): `relation.cross-space` for every space pair relations need,
//!   `relation.unroutable` when MAAS shows such a pair cannot route.
//!
//! Layout: this file is the driver (it only resolves what the rules need and calls them, in
//! order); each rule is one function owning its message and hint, in the module named after
//! its area: [`bindings`] (`binding.unknown-space`, `binding.unknown-endpoint`),
//! [`constraints`] (`constraint.space-conflict`, `constraint.unsatisfiable`), [`placement`]
//! (`placement.missing-space`), [`capacity`] (`binding.capacity`) and [`network`]
//! (`subnet.no-space`, `subnet.overlap`, `space.empty`), [`relations`] (`relation.cross-space`,
//! `relation.unroutable`). The candidate machines and the constraint filter they share are in
//! [`candidates`].
//!
//! Juju's default space `alpha` (where endpoints without a binding go) is not a MAAS space:
//! it holds the subnets MAAS has in no space, Juju adds no space constraint for it, and a
//! binding to it is always satisfiable as far as spaces go.

use std::collections::{BTreeMap, BTreeSet};

use preflight_bundle::{Bundle, CharmSet, ALPHA_SPACE};
use preflight_model::provider::ProviderModel;
use preflight_model::report::{Checked, Code, Finding};

mod bindings;
mod candidates;
mod capacity;
mod constraints;
mod cx;
mod network;
mod placement;

use candidates::{constraint_stages, filter, Stage, Why};
use constraints::Demand;
use cx::Cx;
use placement::{resolve, Pools, Target};
pub mod relations;

/// MAAS machine statuses that count as candidates (Juju can use them, or already does).
pub const CANDIDATE_STATUSES: &[&str] = &["Ready", "Allocated", "Deployed"];

/// What [`validate`] found and what it evaluated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidateOutcome {
    /// Findings, in evaluation order (the report sorts them).
    pub findings: Vec<Finding>,
    /// Every (check, subject) evaluated, passing or not.
    pub checked: Vec<Checked>,
}

/// Bad `--machine-map` input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MachineMapError {
    /// Not `N=SYSTEM_ID`.
    #[error(
        "--machine-map {0:?}: expected N=SYSTEM_ID (a bundle machine number and a MAAS system_id)"
    )]
    Syntax(String),
    /// The same bundle machine mapped twice.
    #[error("--machine-map: bundle machine {0} is mapped twice")]
    Duplicate(String),
    /// Two bundle machines mapped to the same MAAS machine.
    #[error("--machine-map: MAAS machine {0} is mapped to bundle machines {1} and {2}")]
    SharedTarget(String, String, String),
    /// The bundle has no such machine.
    #[error("--machine-map {0}={1}: the bundle has no machine {0} (its machines: {2})")]
    UnknownBundleMachine(String, String, String),
    /// MAAS has no such machine.
    #[error("--machine-map {0}={1}: MAAS has no machine with system_id {1}")]
    UnknownSystemId(String, String),
}

/// Parses `--machine-map N=SYSTEM_ID` flags.
pub fn parse_machine_map(items: &[String]) -> Result<BTreeMap<String, String>, MachineMapError> {
    let mut map = BTreeMap::new();
    let mut targets: BTreeMap<String, String> = BTreeMap::new();
    for item in items {
        let (n, id) = item
            .split_once('=')
            .map(|(n, id)| (n.trim(), id.trim()))
            .filter(|(n, id)| {
                !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && !id.is_empty()
            })
            .ok_or_else(|| MachineMapError::Syntax(item.clone()))?;
        if map.insert(n.to_string(), id.to_string()).is_some() {
            return Err(MachineMapError::Duplicate(n.to_string()));
        }
        if let Some(prev) = targets.insert(id.to_string(), n.to_string()) {
            return Err(MachineMapError::SharedTarget(
                id.to_string(),
                prev,
                n.to_string(),
            ));
        }
    }
    Ok(map)
}

/// Checks that every mapping names a bundle machine and a MAAS machine.
pub fn check_machine_map(
    bundle: &Bundle,
    provider: &ProviderModel,
    map: &BTreeMap<String, String>,
) -> Result<(), MachineMapError> {
    for (n, id) in map {
        if !bundle.machines.contains_key(n) {
            let known: Vec<&str> = bundle.machines.keys().map(String::as_str).collect();
            return Err(MachineMapError::UnknownBundleMachine(
                n.clone(),
                id.clone(),
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                },
            ));
        }
        if provider.machine(id).is_none() {
            return Err(MachineMapError::UnknownSystemId(n.clone(), id.clone()));
        }
    }
    Ok(())
}

/// Checks a bundle against the provider model. `charms` enables `binding.unknown-endpoint`
/// for the applications whose charm it has; `machine_map` pins bundle machines to MAAS
/// machines (validate it first with [`check_machine_map`]; unknown targets count as no machine).
pub fn validate(
    bundle: &Bundle,
    charms: Option<&CharmSet>,
    provider: &ProviderModel,
    machine_map: &BTreeMap<String, String>,
) -> ValidateOutcome {
    let mut cx = Cx {
        provider,
        cands: candidates::candidates(provider),
        space_names: provider.spaces.values().map(|s| s.name.as_str()).collect(),
        out: ValidateOutcome::default(),
    };

    // Bundle machines: their candidates (the mapped machine, or those fitting their constraints).
    let mut machine_cands: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (id, bm) in &bundle.machines {
        if let Some(sys) = machine_map.get(id) {
            let idx: Vec<usize> = cx
                .cands
                .iter()
                .position(|c| &c.m.system_id == sys)
                .into_iter()
                .collect();
            machine_cands.insert(id.clone(), idx);
            continue;
        }
        let f = filter(&cx.cands, None, &constraint_stages(&bm.constraints));
        let constraints = bm.constraints_raw.clone().unwrap_or_default();
        constraints::unsatisfiable(
            &mut cx,
            Demand::BundleMachine {
                id,
                constraints: &constraints,
            },
            &f,
        );
        machine_cands.insert(id.clone(), f.pass);
    }

    // Per application.
    let mut new_demands: Vec<capacity::Demand> = Vec::new();
    let mut new_cands: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut bound_spaces: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, app) in &bundle.applications {
        let b = &app.bindings;
        // Spaces the bindings use, with the endpoints bound to each ("" = the default binding).
        let mut by_space: BTreeMap<String, Vec<String>> = BTreeMap::new();
        by_space
            .entry(b.default_space().to_string())
            .or_default()
            .push(String::new());
        for (ep, sp) in &b.endpoints {
            by_space.entry(sp.clone()).or_default().push(ep.clone());
        }

        bindings::unknown_space(&mut cx, name, &by_space);
        bindings::unknown_endpoint(&mut cx, name, app, charms);
        constraints::space_conflict(&mut cx, name, app, &by_space);

        // Spaces the bindings require of a machine: known, not alpha, not already in conflict.
        let required: Vec<(String, Vec<String>)> = by_space
            .iter()
            .filter(|(sp, _)| {
                sp.as_str() != ALPHA_SPACE
                    && cx.space_known(sp)
                    && !app.constraints.not_spaces.contains(sp)
            })
            .map(|(sp, eps)| (sp.clone(), eps.clone()))
            .collect();
        for (sp, _) in &required {
            bound_spaces
                .entry(sp.clone())
                .or_default()
                .push(name.clone());
        }

        // Units: where do they go?
        let mut n_new = 0u32;
        let mut placed: BTreeSet<Target> = BTreeSet::new();
        for p in app.unit_placements() {
            match resolve(bundle, name, &p, 0) {
                Some(Target::New) => n_new += 1,
                Some(t) => {
                    placed.insert(t);
                }
                None => {}
            }
        }

        // New machines: the constraints plus the bound spaces (Juju adds those to the
        // constraints of the machines it creates) must leave a candidate; the rest is capacity.
        if n_new > 0 {
            let mut stages = constraint_stages(&app.constraints);
            for (sp, eps) in &required {
                if !app.constraints.spaces.contains(sp) {
                    stages.push(Stage::Space(sp.clone(), Why::Binding(eps.clone())));
                }
            }
            let f = filter(&cx.cands, None, &stages);
            constraints::unsatisfiable(&mut cx, Demand::NewMachines { name, units: n_new }, &f);
            cx.checked(Code::BindingCapacity, cx::subject_app(name));
            if !f.pass.is_empty() {
                new_demands.push(capacity::Demand {
                    label: name.clone(),
                    application: Some(name.clone()),
                    units: n_new as usize,
                    candidates: f.pass.clone(),
                });
            }
            new_cands.insert(name.clone(), f.pass);
        }

        placement::missing_space(
            &mut cx,
            bundle,
            name,
            &placed,
            &required,
            &Pools {
                machines: &machine_cands,
                new_machines: &new_cands,
                machine_map,
            },
        );
    }

    capacity::binding_capacity(&mut cx, new_demands, &machine_cands, machine_map);
    network::subnet_no_space(&mut cx);
    network::subnet_overlap(&mut cx);
    network::space_empty(&mut cx, &bound_spaces);
    let map = relations::relation_map(bundle, charms);
    for (f, c) in [
        relations::cross_space_findings(&map),
        relations::unroutable_findings(&map, provider),
    ] {
        cx.out.findings.extend(f);
        cx.out.checked.extend(c);
    }
    cx.out
}
