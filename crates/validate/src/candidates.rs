//! The candidate MAAS machines and the constraint filter every placement rule shares: which
//! machines Juju could use, which spaces each is in, and how a list of constraint terms narrows
//! them down (with the count after each term, for messages).

use std::collections::BTreeSet;

use preflight_bundle::Constraints;
use preflight_model::provider::{Machine, MachineStatus, ProviderModel};

use crate::CANDIDATE_STATUSES;

/// The MAAS machines with what the rules need precomputed, in provider order.
pub(crate) fn candidates(provider: &ProviderModel) -> Vec<Cand<'_>> {
    provider
        .machines
        .iter()
        .map(|m| Cand {
            m,
            spaces: m.space_names(provider),
            eligible: CANDIDATE_STATUSES
                .iter()
                .any(|s| MachineStatus::parse(s) == m.status),
        })
        .collect()
}

/// A MAAS machine with what the checks need precomputed.
pub(crate) struct Cand<'a> {
    pub m: &'a Machine,
    pub spaces: BTreeSet<&'a str>,
    pub eligible: bool,
}

/// One filtering step: a constraint term and the test it applies.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Stage {
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
pub(crate) enum Why {
    Constraint,
    Binding(Vec<String>),
}

impl Stage {
    pub(crate) fn label(&self) -> String {
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

    pub(crate) fn accepts(&self, c: &Cand<'_>) -> bool {
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

pub(crate) fn endpoint_list(eps: &[String]) -> String {
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
pub(crate) struct Filtered {
    /// Indices of the machines that pass every stage.
    pub pass: Vec<usize>,
    /// Number of eligible machines (status) before any stage.
    pub eligible: usize,
    /// (stage label, machines left after it).
    pub trail: Vec<(String, usize)>,
}

impl Filtered {
    /// The stage after which nothing was left.
    pub(crate) fn eliminator(&self) -> Option<(usize, &str)> {
        let mut before = self.eligible;
        for (label, left) in &self.trail {
            if *left == 0 {
                return Some((before, label));
            }
            before = *left;
        }
        None
    }

    pub(crate) fn explain(&self) -> String {
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

pub(crate) fn filter(cands: &[Cand<'_>], pool: Option<&[usize]>, stages: &[Stage]) -> Filtered {
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

pub(crate) fn constraint_stages(c: &Constraints) -> Vec<Stage> {
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
