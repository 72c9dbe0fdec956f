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
//! * on the network: `subnet.no-space`, `subnet.overlap`, and `space.empty` for bound spaces.
//!
//! Juju's default space `alpha` (where endpoints without a binding go) is not a MAAS space:
//! it holds the subnets MAAS has in no space, Juju adds no space constraint for it, and a
//! binding to it is always satisfiable as far as spaces go.

use std::collections::{BTreeMap, BTreeSet};

use preflight_bundle::{Bundle, CharmSet, Constraints, Placement, ALPHA_SPACE};
use preflight_model::provider::{Machine, ProviderModel};
use preflight_model::report::{Checked, Code, Finding, Severity, Subject};

mod capacity;

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

/// A MAAS machine with what the checks need precomputed.
pub(crate) struct Cand<'a> {
    pub m: &'a Machine,
    pub spaces: BTreeSet<&'a str>,
    pub eligible: bool,
}

/// One filtering step: a constraint term and the test it applies.
#[derive(Debug, Clone, PartialEq)]
enum Stage {
    Arch(String),
    Cores(u64),
    CpuPower(u64),
    Mem(u64),
    RootDisk(u64),
    Tag(String),
    NotTag(String),
    Zones(Vec<String>),
    Space(String, Why),
    NotSpace(String),
}

/// Why a space is required.
#[derive(Debug, Clone, PartialEq)]
enum Why {
    Constraint,
    Binding(Vec<String>),
}

impl Stage {
    fn label(&self) -> String {
        match self {
            Stage::Arch(a) => format!("arch={a}"),
            Stage::Cores(n) => format!("cores={n}"),
            Stage::CpuPower(n) => format!("cpu-power={n}"),
            Stage::Mem(m) => format!("mem={}", preflight_bundle::constraints::format_size(*m)),
            Stage::RootDisk(m) => {
                format!(
                    "root-disk={}",
                    preflight_bundle::constraints::format_size(*m)
                )
            }
            Stage::Tag(t) => format!("tags={t}"),
            Stage::NotTag(t) => format!("tags=^{t}"),
            Stage::Zones(z) => format!("zones={}", z.join(",")),
            Stage::Space(s, Why::Constraint) => format!("spaces={s}"),
            Stage::Space(s, Why::Binding(eps)) => {
                format!("space {s} (bound: {})", endpoint_list(eps))
            }
            Stage::NotSpace(s) => format!("spaces=^{s}"),
        }
    }

    fn accepts(&self, c: &Cand<'_>) -> bool {
        let m = c.m;
        match self {
            Stage::Arch(a) => m
                .architecture
                .as_deref()
                .map(|ma| ma.split('/').next() == Some(a.as_str()))
                .unwrap_or(false),
            Stage::Cores(n) => m.cpu_count.is_some_and(|c| u64::from(c) >= *n),
            // MAAS does not report cpu-power; evaluate it only where the CPU speed is known
            // (Juju: 100 cpu-power per GHz of one core).
            Stage::CpuPower(n) => match (m.cpu_speed_mhz, m.cpu_count) {
                (Some(mhz), Some(cores)) if mhz > 0 => mhz / 10 * u64::from(cores) >= *n,
                _ => true,
            },
            Stage::Mem(mib) => m.memory_mib.is_some_and(|v| v >= *mib),
            Stage::RootDisk(mib) => m.root_disk_mib.is_some_and(|v| v >= *mib),
            Stage::Tag(t) => m.tags.iter().any(|x| x == t),
            Stage::NotTag(t) => !m.tags.iter().any(|x| x == t),
            Stage::Zones(z) => m.zone.as_ref().is_some_and(|mz| z.contains(mz)),
            Stage::Space(s, _) => c.spaces.contains(s.as_str()),
            Stage::NotSpace(s) => !c.spaces.contains(s.as_str()),
        }
    }
}

fn endpoint_list(eps: &[String]) -> String {
    let names = eps
        .iter()
        .map(|e| {
            if e.is_empty() {
                "the default (\"\")".to_string()
            } else {
                e.clone()
            }
        })
        .collect::<Vec<_>>();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// The result of filtering the candidates through a list of stages.
struct Filtered {
    /// Indices of the machines that pass every stage.
    pass: Vec<usize>,
    /// Number of eligible machines (status) before any stage.
    eligible: usize,
    /// (stage label, machines left after it).
    trail: Vec<(String, usize)>,
}

impl Filtered {
    /// The stage after which nothing was left.
    fn eliminator(&self) -> Option<(usize, &str)> {
        let mut before = self.eligible;
        for (label, left) in &self.trail {
            if *left == 0 {
                return Some((before, label));
            }
            before = *left;
        }
        None
    }

    fn explain(&self) -> String {
        let mut parts = vec![format!(
            "{} machine(s) in {}",
            self.eligible,
            CANDIDATE_STATUSES.join("/")
        )];
        for (label, left) in &self.trail {
            parts.push(format!("{left} with {label}"));
            if *left == 0 {
                break;
            }
        }
        parts.join(" → ")
    }
}

fn filter(cands: &[Cand<'_>], pool: Option<&[usize]>, stages: &[Stage]) -> Filtered {
    let mut pass: Vec<usize> = match pool {
        Some(p) => p.to_vec(),
        None => (0..cands.len()).filter(|&i| cands[i].eligible).collect(),
    };
    let eligible = pass.len();
    let mut trail = Vec::with_capacity(stages.len());
    for st in stages {
        pass.retain(|&i| st.accepts(&cands[i]));
        trail.push((st.label(), pass.len()));
    }
    Filtered {
        pass,
        eligible,
        trail,
    }
}

fn constraint_stages(c: &Constraints) -> Vec<Stage> {
    let mut s = Vec::new();
    if let Some(a) = &c.arch {
        s.push(Stage::Arch(a.clone()));
    }
    if let Some(v) = c.cores {
        s.push(Stage::Cores(v));
    }
    if let Some(v) = c.cpu_power {
        s.push(Stage::CpuPower(v));
    }
    if let Some(v) = c.mem_mib {
        s.push(Stage::Mem(v));
    }
    if let Some(v) = c.root_disk_mib {
        s.push(Stage::RootDisk(v));
    }
    s.extend(c.tags.iter().cloned().map(Stage::Tag));
    s.extend(c.not_tags.iter().cloned().map(Stage::NotTag));
    if let Some(z) = &c.zones {
        s.push(Stage::Zones(z.clone()));
    }
    s.extend(
        c.spaces
            .iter()
            .cloned()
            .map(|sp| Stage::Space(sp, Why::Constraint)),
    );
    s.extend(c.not_spaces.iter().cloned().map(Stage::NotSpace));
    s
}

fn subject_app(app: &str) -> Subject {
    Subject {
        application: Some(app.to_string()),
        ..Subject::default()
    }
}

struct Cx<'a> {
    provider: &'a ProviderModel,
    cands: Vec<Cand<'a>>,
    space_names: BTreeSet<&'a str>,
    out: ValidateOutcome,
}

impl Cx<'_> {
    fn checked(&mut self, check: Code, subject: Subject) {
        self.out.checked.push(Checked { check, subject });
    }
    fn finding(
        &mut self,
        code: Code,
        severity: Severity,
        subject: Subject,
        message: String,
        hint: Option<String>,
    ) {
        self.out.findings.push(Finding {
            code,
            severity,
            subject,
            message,
            hint,
        });
    }
    fn space_known(&self, s: &str) -> bool {
        self.space_names.contains(s)
    }
}

/// Where a unit ends up, as far as spaces are concerned.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    /// A new machine made for this application.
    New,
    /// A bundle machine.
    BundleMachine(String),
    /// A new machine made for another application's unit.
    NewFor(String),
}

/// Resolves a unit placement to a bundle machine or a new machine, following `app/N` chains.
fn resolve(bundle: &Bundle, app: &str, p: &Placement, depth: usize) -> Option<Target> {
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

/// Checks a bundle against the provider model. `charms` enables `binding.unknown-endpoint`
/// for the applications whose charm it has; `machine_map` pins bundle machines to MAAS
/// machines (validate it first with [`check_machine_map`]; unknown targets count as no machine).
pub fn validate(
    bundle: &Bundle,
    charms: Option<&CharmSet>,
    provider: &ProviderModel,
    machine_map: &BTreeMap<String, String>,
) -> ValidateOutcome {
    let space_by_id: BTreeMap<i64, &str> = provider
        .spaces
        .iter()
        .map(|(id, s)| (*id, s.name.as_str()))
        .collect();
    let cands: Vec<Cand<'_>> = provider
        .machines
        .iter()
        .map(|m| {
            let mut spaces = BTreeSet::new();
            for iface in &m.interfaces {
                // MAAS attaches spaces to VLANs: an interface on a VLAN of a space is in it,
                // and so is every subnet it links to.
                if let Some(sp) = iface
                    .vlan_id
                    .and_then(|v| provider.vlans.get(&v))
                    .and_then(|v| v.space_id)
                    .and_then(|id| space_by_id.get(&id))
                {
                    spaces.insert(*sp);
                }
                for link in &iface.links {
                    if let Some(sp) = link
                        .subnet_id
                        .and_then(|s| provider.subnets.get(&s))
                        .and_then(|s| s.space_id)
                        .and_then(|id| space_by_id.get(&id))
                    {
                        spaces.insert(*sp);
                    }
                }
            }
            Cand {
                m,
                spaces,
                eligible: CANDIDATE_STATUSES
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(&m.status)),
            }
        })
        .collect();
    let mut cx = Cx {
        provider,
        cands,
        space_names: space_by_id.values().copied().collect(),
        out: ValidateOutcome::default(),
    };

    // Bundle machines: their candidates (the mapped machine, or those fitting their constraints).
    let mut machine_cands: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (id, bm) in &bundle.machines {
        let subject = Subject {
            machine: Some(id.clone()),
            ..Subject::default()
        };
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
        cx.checked(Code::ConstraintUnsatisfiable, subject.clone());
        let f = filter(&cx.cands, None, &constraint_stages(&bm.constraints));
        if f.pass.is_empty() {
            let why = match f.eliminator() {
                Some((before, label)) => {
                    format!("{label} eliminated the last {before} candidate(s)")
                }
                None => format!("MAAS has no machine in {}", CANDIDATE_STATUSES.join(", ")),
            };
            let cons = bm.constraints_raw.clone().unwrap_or_default();
            cx.finding(
                Code::ConstraintUnsatisfiable,
                Severity::Error,
                subject,
                format!(
                    "no MAAS machine satisfies bundle machine {id}'s constraints {cons:?}: {why} ({})",
                    f.explain()
                ),
                Some(format!(
                    "relax machine {id}'s constraints, add a matching machine to MAAS, or pin it with --machine-map {id}=SYSTEM_ID"
                )),
            );
        }
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

        // binding.unknown-space
        cx.checked(Code::BindingUnknownSpace, subject_app(name));
        for (sp, eps) in &by_space {
            if sp == ALPHA_SPACE || cx.space_known(sp) {
                continue;
            }
            let known: Vec<&str> = cx.space_names.iter().copied().collect();
            cx.finding(
                Code::BindingUnknownSpace,
                Severity::Error,
                Subject {
                    application: Some(name.clone()),
                    space: Some(sp.clone()),
                    endpoint: (eps.len() == 1 && !eps[0].is_empty()).then(|| eps[0].clone()),
                    ..Subject::default()
                },
                format!(
                    "{name} binds {} to space {sp:?}, which MAAS does not have",
                    endpoint_list(eps)
                ),
                Some(format!(
                    "bind to one of the MAAS spaces ({}) or create space {sp:?} in MAAS",
                    if known.is_empty() {
                        "MAAS has none".to_string()
                    } else {
                        known.join(", ")
                    }
                )),
            );
        }

        // binding.unknown-endpoint
        if let Some(meta) = charms.and_then(|c| c.get(&app.charm_name())) {
            cx.checked(Code::BindingUnknownEndpoint, subject_app(name));
            for ep in b.endpoints.keys() {
                if meta.has_endpoint(ep) {
                    continue;
                }
                let all: Vec<String> = meta.endpoints().into_iter().collect();
                cx.finding(
                    Code::BindingUnknownEndpoint,
                    Severity::Error,
                    Subject {
                        application: Some(name.clone()),
                        endpoint: Some(ep.clone()),
                        ..Subject::default()
                    },
                    format!(
                        "{name} binds endpoint {ep:?}, which charm {} does not have (per {})",
                        meta.name,
                        meta.source.display()
                    ),
                    Some(if meta.reactive {
                        format!(
                            "remove or rename the binding; the charm's endpoints are: {}. This is a reactive charm's source metadata, and its layers may add endpoints at build time: if the binding is right, give the built charm's metadata (unpack the .charm) with --charm-dir",
                            all.join(", ")
                        )
                    } else {
                        format!(
                            "remove or rename the binding; the charm's endpoints are: {}",
                            all.join(", ")
                        )
                    }),
                );
            }
        }

        // constraint.space-conflict
        cx.checked(Code::ConstraintSpaceConflict, subject_app(name));
        for (sp, eps) in &by_space {
            if app.constraints.not_spaces.contains(sp) {
                cx.finding(
                    Code::ConstraintSpaceConflict,
                    Severity::Error,
                    Subject {
                        application: Some(name.clone()),
                        space: Some(sp.clone()),
                        ..Subject::default()
                    },
                    format!(
                        "{name}'s constraints exclude space {sp:?} (spaces=^{sp}) but it binds {} there",
                        endpoint_list(eps)
                    ),
                    Some(format!(
                        "remove ^{sp} from {name}'s spaces constraint or bind those endpoints elsewhere"
                    )),
                );
            }
        }

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

        // constraint.unsatisfiable and the capacity demand.
        if n_new > 0 {
            cx.checked(Code::ConstraintUnsatisfiable, subject_app(name));
            cx.checked(Code::BindingCapacity, subject_app(name));
            let mut stages = constraint_stages(&app.constraints);
            // Juju adds the bound spaces to the constraints of the machines it creates.
            for (sp, eps) in &required {
                if !app.constraints.spaces.contains(sp) {
                    stages.push(Stage::Space(sp.clone(), Why::Binding(eps.clone())));
                }
            }
            let f = filter(&cx.cands, None, &stages);
            if f.pass.is_empty() {
                let (why, hint) = match f.eliminator() {
                    Some((before, label)) => (
                        format!("{label} eliminated the last {before} candidate(s)"),
                        format!("relax {label}, or add MAAS machines that satisfy every constraint and have the bound spaces"),
                    ),
                    None => (
                        format!("MAAS has no machine in {}", CANDIDATE_STATUSES.join(", ")),
                        "commission machines in MAAS first".to_string(),
                    ),
                };
                cx.finding(
                    Code::ConstraintUnsatisfiable,
                    Severity::Error,
                    subject_app(name),
                    format!(
                        "no MAAS machine can host {name} ({n_new} unit(s) on new machines): {why} ({})",
                        f.explain()
                    ),
                    Some(hint),
                );
            } else {
                new_demands.push(capacity::Demand {
                    label: name.clone(),
                    application: Some(name.clone()),
                    units: n_new as usize,
                    candidates: f.pass.clone(),
                });
            }
            new_cands.insert(name.clone(), f.pass);
        }

        // placement.missing-space
        if !placed.is_empty() {
            cx.checked(Code::PlacementMissingSpace, subject_app(name));
        }
        for t in &placed {
            let (label, pool): (String, Option<Vec<usize>>) = match t {
                Target::BundleMachine(id) => {
                    (format!("machine {id}"), machine_cands.get(id).cloned())
                }
                Target::NewFor(other) => (
                    format!("the new machines of {other}"),
                    new_cands.get(other).cloned().or_else(|| {
                        // Not evaluated yet (alphabetical order): evaluate its pool now.
                        bundle.applications.get(other).map(|o| {
                            filter(&cx.cands, None, &constraint_stages(&o.constraints)).pass
                        })
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
            for (sp, eps) in &required {
                let have = pool
                    .iter()
                    .filter(|&&i| cx.cands[i].spaces.contains(sp.as_str()))
                    .count();
                if have == pool.len() {
                    continue;
                }
                let subject = Subject {
                    application: Some(name.clone()),
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

    // binding.capacity: new-machine units and unpinned bundle machines share the MAAS machines.
    for (id, pool) in &machine_cands {
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
        new_demands.push(capacity::Demand {
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
    for d in &mut new_demands {
        d.candidates.retain(|i| !pinned.contains(i));
    }
    for short in capacity::shortfalls(&new_demands, cx.cands.len()) {
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

    network_checks(&mut cx, &bound_spaces);
    cx.out
}

fn network_checks(cx: &mut Cx<'_>, bound_spaces: &BTreeMap<String, Vec<String>>) {
    let provider = cx.provider;
    // subnet.no-space: subnets machines link to that are in no space.
    cx.checked(Code::SubnetNoSpace, Subject::default());
    let mut linked: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    for m in &provider.machines {
        for iface in &m.interfaces {
            for link in &iface.links {
                if let Some(sid) = link.subnet_id {
                    // Machines are visited one at a time: a repeat can only be the last one.
                    let e = linked.entry(sid).or_default();
                    if e.last() != Some(&m.hostname.as_str()) {
                        e.push(m.hostname.as_str());
                    }
                }
            }
        }
    }
    for (sid, machines) in &linked {
        let Some(subnet) = provider.subnets.get(sid) else {
            continue;
        };
        if subnet.space_id.is_some() {
            continue;
        }
        cx.finding(
            Code::SubnetNoSpace,
            Severity::Warning,
            Subject {
                subnet: Some(subnet.cidr.to_string()),
                ..Subject::default()
            },
            format!(
                "subnet {} ({}) is in no space (undefined), yet {} machine(s) link to it ({}{}): no binding can reach it except the default space {ALPHA_SPACE}",
                subnet.cidr,
                subnet.name,
                machines.len(),
                machines.iter().take(5).copied().collect::<Vec<_>>().join(", "),
                if machines.len() > 5 { ", ..." } else { "" }
            ),
            Some(format!(
                "put the VLAN of {} into a space in MAAS (or leave it if nothing should bind there)",
                subnet.cidr
            )),
        );
    }

    // subnet.overlap: sort by (family, network address) and sweep.
    cx.checked(Code::SubnetOverlap, Subject::default());
    let mut subnets: Vec<_> = provider.subnets.values().collect();
    subnets.sort_by_key(|s| {
        (
            s.cidr.addr().is_ipv6(),
            s.cidr.network(),
            s.cidr.prefix_len(),
        )
    });
    let fabric_of = |vlan: i64| {
        provider
            .vlans
            .get(&vlan)
            .map(|v| v.fabric_id)
            .and_then(|f| {
                provider
                    .fabrics
                    .get(&f)
                    .map(|f| f.name.clone())
                    .or(Some(f.to_string()))
            })
            .unwrap_or_else(|| "?".into())
    };
    let mut findings = Vec::new();
    for (i, a) in subnets.iter().enumerate() {
        for b in &subnets[i + 1..] {
            if b.cidr.addr().is_ipv6() != a.cidr.addr().is_ipv6() {
                break;
            }
            // Sorted by network address: once b starts past a's end, no later one overlaps a.
            if !a.cidr.contains(&b.cidr.network()) {
                break;
            }
            let (fa, fb) = (fabric_of(a.vlan_id), fabric_of(b.vlan_id));
            findings.push((
                Subject {
                    subnet: Some(format!("{} (id {})", a.cidr, a.id)),
                    ..Subject::default()
                },
                format!(
                    "subnet {} (id {}, fabric {fa}) overlaps subnet {} (id {}, fabric {fb}): anything that matches addresses to subnets by CIDR is ambiguous there",
                    a.cidr, a.id, b.cidr, b.id
                ),
            ));
        }
    }
    for (subject, message) in findings {
        cx.finding(
            Code::SubnetOverlap,
            Severity::Warning,
            subject,
            message,
            Some("renumber one of them, or make sure nothing deployed depends on telling them apart by address".into()),
        );
    }

    // space.empty: bound spaces with no subnets or no machine linked into them.
    for (sp, apps) in bound_spaces {
        let subject = Subject {
            space: Some(sp.clone()),
            ..Subject::default()
        };
        cx.checked(Code::SpaceEmpty, subject.clone());
        let Some(space) = provider.space_by_name(sp) else {
            continue;
        };
        let n_subnets = provider.subnets_in_space(space.id).count();
        let n_machines = cx
            .cands
            .iter()
            .filter(|c| c.spaces.contains(sp.as_str()))
            .count();
        let what = if n_subnets == 0 {
            "has no subnets"
        } else if n_machines == 0 {
            "has subnets, but no machine links into it"
        } else {
            continue;
        };
        let mut apps = apps.clone();
        apps.dedup();
        cx.finding(
            Code::SpaceEmpty,
            Severity::Warning,
            subject,
            format!("space {sp:?} {what}; bound by {}", apps.join(", ")),
            Some(if n_subnets == 0 {
                format!("add a subnet (VLAN) to space {sp} in MAAS")
            } else {
                format!("link machines' interfaces to a subnet of space {sp} in MAAS")
            }),
        );
    }
}
