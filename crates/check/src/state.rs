//! The coordinator's state: registrations, the plan and results, in memory and (with a state
//! dir) on disk, each written atomically (temp file, fsync, rename, fsync dir) as it arrives.
//!
//! Layout of a state dir: `agents/<id>.json` (id + observed config), `plan.json` (every
//! agent's plan), `results/<id>.json` (the agent's probe report). A coordinator restarted on
//! the same dir reloads all of it, so nothing already reported is lost, and since agent ids and
//! result uploads are idempotent, nothing is duplicated either.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use preflight_model::observed::{LinkKind, ObservedConfig};
use preflight_model::plan::ProbePlan;
use preflight_model::probe::ProbeReport;
use preflight_model::provider::ProviderModel;
use serde::{Deserialize, Serialize};

use crate::merge::{merge, AgentInput, Merged};
use crate::plan::{build_plan, CheckPlan, PlanOptions};
use crate::CheckError;

/// One registration as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    /// Id given to the agent.
    pub agent_id: String,
    /// Its observed configuration.
    pub observed: ObservedConfig,
}

/// The stored plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredPlan {
    probes: usize,
    per_agent: BTreeMap<String, ProbePlan>,
    #[serde(default)]
    untestable: Vec<crate::plan::Untestable>,
    #[serde(default)]
    controllers: Option<crate::infra::Controllers>,
}

/// Phase of the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Accepting registrations.
    Registering,
    /// Plans handed out; gathering results.
    Probing,
    /// Report written; agents are told the check is over.
    Done,
}

/// In-memory state.
#[derive(Debug)]
pub struct Inner {
    /// Registrations by agent id.
    pub agents: BTreeMap<String, Registration>,
    /// The merge, once planned.
    pub merged: Option<Merged>,
    /// The plan, once planned.
    pub plan: Option<CheckPlan>,
    /// Results by agent id.
    pub results: BTreeMap<String, ProbeReport>,
    /// The phase.
    pub phase: Phase,
}

/// How a result upload was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Stored now, with this many target results.
    New(usize),
    /// The same upload was already stored.
    Duplicate(usize),
}

/// Why an API call was refused; the server maps these to status codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No such agent (404).
    UnknownAgent,
    /// Not allowed for this agent (403), with the field to blame.
    Forbidden(String, Option<String>),
    /// Conflicts with the state of the check (409).
    Conflict(String),
    /// Bad input (400), with the field to blame.
    Invalid(String, Option<String>),
    /// Storage failed (500).
    Storage(String),
}

/// The coordinator's shared state.
#[derive(Debug)]
pub struct CheckState {
    inner: Mutex<Inner>,
    dir: Option<PathBuf>,
    changed: tokio::sync::watch::Sender<u64>,
}

/// Writes a file atomically: temp file in the same dir, fsync, rename, fsync the dir.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, CheckError> {
    let text = std::fs::read(path)
        .map_err(|e| CheckError::State(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_slice(&text).map_err(|e| CheckError::State(format!("{}: {e}", path.display())))
}

fn json_files(dir: &Path) -> Result<Vec<PathBuf>, CheckError> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => {
            return Err(CheckError::State(format!(
                "cannot list {}: {e}",
                dir.display()
            )))
        }
    };
    for entry in rd.flatten() {
        let p = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.starts_with('.') && name.ends_with(".json") {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// Sanitizes a hostname or system_id into an agent id (URL- and file-name safe).
pub fn sanitize_id(raw: &str) -> String {
    let s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    let s = s.trim_matches('.').to_string();
    if s.is_empty() {
        "agent".to_string()
    } else {
        s
    }
}

/// What identifies a machine across re-registrations: its non-loopback MACs and machine-id.
fn fingerprint(o: &ObservedConfig) -> (BTreeSet<String>, Option<String>, Option<String>) {
    let macs = o
        .links
        .iter()
        .filter(|l| l.kind != LinkKind::Loopback)
        .filter_map(|l| l.mac.clone())
        .collect();
    (
        macs,
        o.identity.machine_id.clone(),
        o.identity.system_id.clone(),
    )
}

impl CheckState {
    /// A fresh state, persisted under `dir` when given (reloading whatever is already there).
    pub fn open(dir: Option<&Path>) -> Result<CheckState, CheckError> {
        let mut inner = Inner {
            agents: BTreeMap::new(),
            merged: None,
            plan: None,
            results: BTreeMap::new(),
            phase: Phase::Registering,
        };
        if let Some(dir) = dir {
            for sub in ["agents", "results"] {
                std::fs::create_dir_all(dir.join(sub)).map_err(|e| {
                    CheckError::State(format!("cannot create {}: {e}", dir.join(sub).display()))
                })?;
            }
            for p in json_files(&dir.join("agents"))? {
                let r: Registration = read_json(&p)?;
                inner.agents.insert(r.agent_id.clone(), r);
            }
            let plan_path = dir.join("plan.json");
            if plan_path.exists() {
                let sp: StoredPlan = read_json(&plan_path)?;
                inner.plan = Some(CheckPlan {
                    per_agent: sp.per_agent,
                    probes: sp.probes,
                    untestable: sp.untestable,
                    controllers: sp.controllers,
                });
                inner.phase = Phase::Probing;
            }
            for p in json_files(&dir.join("results"))? {
                let r: ProbeReport = read_json(&p)?;
                let id = p
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_default();
                inner.results.insert(id, r);
            }
        }
        let (changed, _) = tokio::sync::watch::channel(0);
        Ok(CheckState {
            inner: Mutex::new(inner),
            dir: dir.map(Path::to_path_buf),
            changed,
        })
    }

    /// Locks the in-memory state (a poisoned lock is taken over: every write is complete).
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A receiver that sees a new value on every change.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v += 1);
    }

    fn persist(&self, rel: &str, value: &impl Serialize) -> Result<(), Refusal> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let bytes = serde_json::to_vec(value).map_err(|e| Refusal::Storage(e.to_string()))?;
        write_atomic(&dir.join(rel), &bytes)
            .map_err(|e| Refusal::Storage(format!("cannot write {rel}: {e}")))
    }

    /// Registers an agent (or recognises a re-registration) and returns its id.
    pub fn register(&self, observed: ObservedConfig) -> Result<String, Refusal> {
        let mut inner = self.lock();
        let base = sanitize_id(
            observed
                .identity
                .system_id
                .as_deref()
                .filter(|s| !s.is_empty())
                .unwrap_or(&observed.identity.hostname),
        );
        let fp = fingerprint(&observed);
        let mut n = 1;
        let id = loop {
            let id = if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            match inner.agents.get(&id) {
                None => break id,
                Some(r) if fingerprint(&r.observed) == fp => break id,
                Some(_) => n += 1,
            }
        };
        let existing = inner.agents.get(&id);
        if existing.is_some_and(|r| r.observed == observed) {
            return Ok(id);
        }
        if inner.phase != Phase::Registering {
            if existing.is_some() {
                // Same machine, re-registering after the plan: keep the planned view.
                return Ok(id);
            }
            return Err(Refusal::Conflict(
                "registration is closed: the plan was already handed out".into(),
            ));
        }
        let reg = Registration {
            agent_id: id.clone(),
            observed,
        };
        self.persist(&format!("agents/{id}.json"), &reg)?;
        inner.agents.insert(id.clone(), reg);
        drop(inner);
        self.bump();
        Ok(id)
    }

    /// Number of registered agents.
    pub fn registered(&self) -> usize {
        self.lock().agents.len()
    }

    /// Merges the registered agents with the provider and builds the plan (or, when a plan
    /// was already stored, keeps that one and only redoes the merge). Closes registration.
    pub fn plan(&self, provider: &ProviderModel, opts: &PlanOptions) -> Result<(), CheckError> {
        let mut inner = self.lock();
        let inputs: Vec<AgentInput> = inner
            .agents
            .values()
            .map(|r| AgentInput {
                agent_id: r.agent_id.clone(),
                observed: r.observed.clone(),
            })
            .collect();
        let merged = merge(provider, &inputs);
        if inner.plan.is_none() {
            let plan = build_plan(provider, &merged.agents, opts);
            let stored = StoredPlan {
                probes: plan.probes,
                per_agent: plan.per_agent.clone(),
                untestable: plan.untestable.clone(),
                controllers: plan.controllers.clone(),
            };
            self.persist("plan.json", &stored)
                .map_err(|r| CheckError::State(format!("{r:?}")))?;
            inner.plan = Some(plan);
        }
        inner.merged = Some(merged);
        inner.phase = Phase::Probing;
        drop(inner);
        self.bump();
        Ok(())
    }

    /// Marks the check as over: agents asking for plans are told so.
    pub fn finish(&self) {
        self.lock().phase = Phase::Done;
        self.bump();
    }

    /// (agents with a plan, of them those whose results are in, probes planned, probes with results).
    pub fn progress(&self) -> (usize, usize, usize, usize) {
        let inner = self.lock();
        let Some(plan) = &inner.plan else {
            return (0, 0, 0, 0);
        };
        let mut want = 0;
        let mut have = 0;
        let mut done = 0;
        for id in plan.per_agent.keys() {
            want += 1;
            if let Some(r) = inner.results.get(id) {
                have += 1;
                done += r.targets.len();
            }
        }
        (want, have, plan.probes, done)
    }

    /// The plan answer for an agent: `None` while waiting, the plan when ready.
    pub fn plan_for(&self, agent_id: &str) -> Result<(Phase, Option<ProbePlan>), Refusal> {
        let inner = self.lock();
        if !inner.agents.contains_key(agent_id) {
            return Err(Refusal::UnknownAgent);
        }
        let plan = inner
            .plan
            .as_ref()
            .and_then(|p| p.per_agent.get(agent_id).cloned());
        if inner.phase == Phase::Probing && plan.is_none() {
            // Registered, yet not part of the plan (it came back after a restart before planning
            // was persisted? impossible) — give it an empty plan so it can finish.
            return Ok((
                Phase::Probing,
                Some(ProbePlan {
                    schema: preflight_model::plan::PLAN_SCHEMA.into(),
                    agent: Some(agent_id.to_string()),
                    settings: Default::default(),
                    targets: vec![],
                }),
            ));
        }
        Ok((inner.phase, plan))
    }

    /// Stores an agent's results: only a registered agent, only its own plan's probe ids;
    /// the same upload again is acknowledged as a duplicate, a different one refused.
    pub fn submit(&self, agent_id: &str, report: ProbeReport) -> Result<Accepted, Refusal> {
        let mut inner = self.lock();
        if !inner.agents.contains_key(agent_id) {
            return Err(Refusal::UnknownAgent);
        }
        if let Some(a) = report.agent.as_deref() {
            if a != agent_id {
                return Err(Refusal::Forbidden(
                    format!("results name agent {a:?} but were sent for agent {agent_id:?}"),
                    Some("agent".into()),
                ));
            }
        }
        let Some(plan) = inner.plan.as_ref().and_then(|p| p.per_agent.get(agent_id)) else {
            return Err(Refusal::Conflict("no plan was handed out yet".into()));
        };
        let ids: BTreeSet<&str> = plan.targets.iter().map(|t| t.id.as_str()).collect();
        let mut seen = BTreeSet::new();
        for (i, t) in report.targets.iter().enumerate() {
            let Some(id) = t.id.as_deref() else {
                return Err(Refusal::Invalid(
                    "every target result needs the plan's probe id".into(),
                    Some(format!("targets[{i}].id")),
                ));
            };
            if !ids.contains(id) {
                return Err(Refusal::Forbidden(
                    format!("probe {id:?} is not in this agent's plan"),
                    Some(format!("targets[{i}].id")),
                ));
            }
            if !seen.insert(id) {
                return Err(Refusal::Invalid(
                    format!("probe {id:?} appears twice"),
                    Some(format!("targets[{i}].id")),
                ));
            }
        }
        if let Some(prev) = inner.results.get(agent_id) {
            if *prev == report {
                return Ok(Accepted::Duplicate(prev.targets.len()));
            }
            return Err(Refusal::Conflict(
                "different results for this agent were already stored".into(),
            ));
        }
        if inner.phase == Phase::Done {
            return Err(Refusal::Conflict(
                "the check is over: the report was written".into(),
            ));
        }
        self.persist(&format!("results/{agent_id}.json"), &report)?;
        let n = report.targets.len();
        inner.results.insert(agent_id.to_string(), report);
        drop(inner);
        self.bump();
        Ok(Accepted::New(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::tests::healthy;
    use crate::merge::tests::provider;
    use preflight_model::probe::{TargetResult, PROBE_SCHEMA};

    fn report_for(plan: &ProbePlan) -> ProbeReport {
        ProbeReport {
            schema: PROBE_SCHEMA.into(),
            agent: plan.agent.clone(),
            sockets: vec![],
            started_at: "t".into(),
            duration_ms: 1,
            targets: plan
                .targets
                .iter()
                .map(|t| TargetResult {
                    id: Some(t.id.clone()),
                    space: Some(t.space.clone()),
                    source: Some(t.source),
                    target: t.target,
                    expect: t.expect,
                    sent: 3,
                    received: 3,
                    duplicates: 0,
                    loss_pct: 0.0,
                    rtt: None,
                    failure: None,
                    mtu: None,
                    tcp: vec![],
                    kind: Default::default(),
                    macs: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn ids_are_stable_and_distinct_machines_with_one_hostname_get_distinct_ids() {
        let s = CheckState::open(None).unwrap();
        let a = s.register(healthy(1, None, "host")).unwrap();
        let b = s.register(healthy(2, None, "host")).unwrap();
        let a2 = s.register(healthy(1, None, "host")).unwrap();
        assert_eq!(a, "host");
        assert_eq!(b, "host-2");
        assert_eq!(a, a2);
        assert_eq!(s.registered(), 2);
        assert_eq!(
            s.register(healthy(1, Some("aaa/../x"), "h")).unwrap(),
            "aaa-..-x"
        );
    }

    #[test]
    fn state_dir_survives_a_restart_without_loss_or_duplication() {
        let dir = tempfile::tempdir().unwrap();
        let p = provider();
        // Echo probes only, so the counts below are the mesh's (3 peers each way).
        let echo_only = PlanOptions {
            infrastructure: false,
            ..PlanOptions::default()
        };
        {
            let s = CheckState::open(Some(dir.path())).unwrap();
            s.register(healthy(1, None, "node1")).unwrap();
            s.register(healthy(2, None, "node2")).unwrap();
            s.plan(&p, &echo_only).unwrap();
            let plan = s.plan_for("node1").unwrap().1.unwrap();
            assert_eq!(
                s.submit("node1", report_for(&plan)).unwrap(),
                Accepted::New(3)
            );
        }
        let s = CheckState::open(Some(dir.path())).unwrap();
        assert_eq!(s.registered(), 2);
        assert_eq!(s.lock().phase, Phase::Probing);
        s.plan(&p, &echo_only).unwrap();
        let plan1 = s.plan_for("node1").unwrap().1.unwrap();
        // re-send after restart is a duplicate, not a second copy
        assert_eq!(
            s.submit("node1", report_for(&plan1)).unwrap(),
            Accepted::Duplicate(3)
        );
        let plan2 = s.plan_for("node2").unwrap().1.unwrap();
        assert_eq!(
            s.submit("node2", report_for(&plan2)).unwrap(),
            Accepted::New(3)
        );
        assert_eq!(s.progress(), (2, 2, 6, 6));
        // re-registration of a known machine after planning keeps its id; a new one is refused
        assert_eq!(s.register(healthy(1, None, "node1")).unwrap(), "node1");
        assert!(matches!(
            s.register(healthy(3, None, "node3")),
            Err(Refusal::Conflict(_))
        ));
        let files = std::fs::read_dir(dir.path().join("results"))
            .unwrap()
            .count();
        assert_eq!(files, 2);
    }

    #[test]
    fn results_only_for_own_plan() {
        let s = CheckState::open(None).unwrap();
        s.register(healthy(1, None, "node1")).unwrap();
        s.register(healthy(2, None, "node2")).unwrap();
        let early = report_for(&ProbePlan {
            schema: "x".into(),
            agent: Some("node1".into()),
            settings: Default::default(),
            targets: vec![],
        });
        assert!(matches!(
            s.submit("node1", early),
            Err(Refusal::Conflict(_))
        ));
        s.plan(&provider(), &PlanOptions::default()).unwrap();
        let plan2 = s.plan_for("node2").unwrap().1.unwrap();
        let mut theirs = report_for(&plan2);
        theirs.agent = None;
        assert!(
            matches!(s.submit("node1", theirs), Err(Refusal::Forbidden(_, Some(f))) if f == "targets[0].id")
        );
        assert!(matches!(
            s.submit("nobody", report_for(&plan2)),
            Err(Refusal::UnknownAgent)
        ));
        let mut changed = report_for(&s.plan_for("node1").unwrap().1.unwrap());
        s.submit("node1", changed.clone()).unwrap();
        changed.targets[0].received = 0;
        assert!(matches!(
            s.submit("node1", changed),
            Err(Refusal::Conflict(_))
        ));
    }
}
