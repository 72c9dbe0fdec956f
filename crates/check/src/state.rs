//! The coordinator's state: registrations, the plan and results, in memory and (with a state
//! dir) on disk, each written atomically (temp file, fsync, rename, fsync dir) as it arrives.
//!
//! Layout of a state dir: `agents/<id>.json` (id + observed config), `plan.json` (every
//! agent's plan), `results/<id>.json` (the agent's probe report). A coordinator restarted on
//! the same dir reloads all of it, so nothing already reported is lost, and since agent ids and
//! result uploads are idempotent, nothing is duplicated either.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use preflight_model::observed::{LinkKind, ObservedConfig};
use preflight_model::plan::ProbePlan;
use preflight_model::probe::ProbeReport;
use preflight_model::provider::ProviderModel;
use serde::{Deserialize, Serialize};

use crate::merge::{match_machine, merge, AgentInput, MachineMatch, Merged};
use crate::plan::{build_plan, CheckPlan, PlanOptions};
use crate::CheckError;

/// One registration as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    /// Id given to the agent.
    pub agent_id: String,
    /// Its observed configuration.
    pub observed: ObservedConfig,
    /// SHA-256 (hex) of the agent's key; plan and results requests must present the key.
    /// Absent in state dirs written before keys existed: such agents need no key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_sha256: Option<String>,
}

/// The stored plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredPlan {
    probes: usize,
    per_agent: BTreeMap<String, ProbePlan>,
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
    /// Agent id by machine fingerprint (MACs, machine-id, system_id).
    by_fingerprint: HashMap<Fingerprint, String>,
    /// Next free numeric suffix per base id.
    next_suffix: HashMap<String, usize>,
    /// Who may register and how many (set by [`CheckState::set_admission`]).
    admission: Option<Admission>,
    /// The first failure to write the state dir; from then on resume is off.
    storage_warning: Option<String>,
}

/// Registration limits: `expect` agents that match a MAAS machine, and at most as many that
/// match none.
#[derive(Debug)]
struct Admission {
    expect: usize,
    provider: ProviderModel,
    known: BTreeSet<String>,
    unknown: BTreeSet<String>,
}

/// What identifies a machine across re-registrations: its base id (from system_id or
/// hostname), non-loopback MACs, machine-id and system_id.
type Fingerprint = (String, BTreeSet<String>, Option<String>, Option<String>);

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
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        // Disk full or the like: leave no half-written temp file behind.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Whether an id is one [`sanitize_id`] could have made (and so safe as a file name).
pub fn is_safe_id(id: &str) -> bool {
    !id.is_empty() && sanitize_id(id) == id
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

fn key_hash(key: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, key.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn new_key() -> Result<String, Refusal> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| Refusal::Storage("no randomness for an agent key".into()))?;
    Ok(b.iter().map(|b| format!("{b:02x}")).collect())
}

/// What identifies a machine across re-registrations: its non-loopback MACs and machine-id.
fn fingerprint(o: &ObservedConfig) -> Fingerprint {
    let macs = o
        .links
        .iter()
        .filter(|l| l.kind != LinkKind::Loopback)
        .filter_map(|l| l.mac.clone())
        .collect();
    (
        base_id(o),
        macs,
        o.identity.machine_id.clone(),
        o.identity.system_id.clone(),
    )
}

/// The id an agent gets when no other machine has it: its system_id, else its hostname.
fn base_id(o: &ObservedConfig) -> String {
    sanitize_id(
        o.identity
            .system_id
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or(&o.identity.hostname),
    )
}

impl Inner {
    fn index(&mut self, r: &Registration) {
        self.by_fingerprint
            .insert(fingerprint(&r.observed), r.agent_id.clone());
    }
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
            by_fingerprint: HashMap::new(),
            next_suffix: HashMap::new(),
            admission: None,
            storage_warning: None,
        };
        if let Some(dir) = dir {
            for sub in ["agents", "results"] {
                std::fs::create_dir_all(dir.join(sub)).map_err(|e| {
                    CheckError::State(format!("cannot create {}: {e}", dir.join(sub).display()))
                })?;
            }
            for p in json_files(&dir.join("agents"))? {
                let r: Registration = read_json(&p)?;
                // The id becomes a file name again (results/<id>.json): a crafted file must
                // not lead a write outside the state dir.
                let stem = p.file_stem().map(|s| s.to_string_lossy().to_string());
                if !is_safe_id(&r.agent_id) || stem.as_deref() != Some(r.agent_id.as_str()) {
                    return Err(CheckError::State(format!(
                        "{}: agent_id {:?} is not a safe id or does not match the file name",
                        p.display(),
                        preflight_model::limits::printable(&r.agent_id, 80)
                    )));
                }
                inner.index(&r);
                inner.agents.insert(r.agent_id.clone(), r);
            }
            let plan_path = dir.join("plan.json");
            if plan_path.exists() {
                let sp: StoredPlan = read_json(&plan_path)?;
                inner.plan = Some(CheckPlan {
                    per_agent: sp.per_agent,
                    probes: sp.probes,
                });
                inner.phase = Phase::Probing;
            }
            for p in json_files(&dir.join("results"))? {
                let r: ProbeReport = read_json(&p)?;
                let id = p
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_default();
                if !inner.agents.contains_key(&id) {
                    return Err(CheckError::State(format!(
                        "{}: results of an agent that never registered",
                        p.display()
                    )));
                }
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

    /// Writes `rel` under the state dir. A failure (disk full) does not refuse the agent: the
    /// value stays in memory, the temp file is removed, and the first failure is kept as
    /// [`CheckState::storage_warning`] (resume is off from then on).
    fn persist(&self, inner: &mut Inner, rel: &str, value: &impl Serialize) {
        let Some(dir) = &self.dir else { return };
        let r = serde_json::to_vec(value)
            .map_err(|e| e.to_string())
            .and_then(|bytes| write_atomic(&dir.join(rel), &bytes).map_err(|e| e.to_string()));
        if let Err(e) = r {
            tracing::warn!("cannot write {rel} in the state dir: {e}; resume is off");
            inner.storage_warning.get_or_insert_with(|| {
                format!(
                    "cannot write {} in the state dir: {e}; the check goes on in memory, but a restart cannot resume it",
                    rel
                )
            });
        }
    }

    /// The first failure to write the state dir, when any (resume is off from then on).
    pub fn storage_warning(&self) -> Option<String> {
        self.lock().storage_warning.clone()
    }

    /// Limits registration to `expect` agents that match a machine of `provider`, and at most
    /// as many that match none; [`CheckState::registered_known`] counts the first kind.
    pub fn set_admission(&self, expect: usize, provider: &ProviderModel) {
        let mut inner = self.lock();
        let mut a = Admission {
            expect,
            provider: provider.clone(),
            known: BTreeSet::new(),
            unknown: BTreeSet::new(),
        };
        for r in inner.agents.values() {
            if matches!(
                match_machine(&a.provider, &r.observed),
                MachineMatch::One(_)
            ) {
                a.known.insert(r.agent_id.clone());
            } else {
                a.unknown.insert(r.agent_id.clone());
            }
        }
        inner.admission = Some(a);
    }

    /// Registers an agent (or recognises a re-registration of the same machine) and returns
    /// its id and key. A machine already registered must present the key it registered with.
    pub fn register(
        &self,
        observed: ObservedConfig,
        key: Option<String>,
    ) -> Result<(String, String), Refusal> {
        let mut inner = self.lock();
        let fp = fingerprint(&observed);
        if let Some(id) = inner.by_fingerprint.get(&fp).cloned() {
            let existing = inner.agents.get(&id).cloned();
            if let Some(existing) = existing {
                let key = match (&existing.key_sha256, key) {
                    (Some(h), Some(k)) if bool::from(subtle::ConstantTimeEq::ct_eq(
                        key_hash(&k).as_bytes(),
                        h.as_bytes(),
                    )) =>
                    {
                        k
                    }
                    (Some(_), _) => {
                        return Err(Refusal::Conflict(format!(
                            "agent {id} is already registered: registering it again needs the agent key it registered with"
                        )))
                    }
                    // A registration from before agent keys: take the key offered now.
                    (None, k) => match k {
                        Some(k) => k,
                        None => new_key()?,
                    },
                };
                if existing.observed == observed && existing.key_sha256.is_some() {
                    return Ok((id, key));
                }
                if inner.phase != Phase::Registering {
                    // Same machine, re-registering after the plan: keep the planned view.
                    return Ok((id, key));
                }
                let reg = Registration {
                    agent_id: id.clone(),
                    observed,
                    key_sha256: Some(key_hash(&key)),
                };
                self.persist(&mut inner, &format!("agents/{id}.json"), &reg);
                inner.agents.insert(id.clone(), reg);
                drop(inner);
                self.bump();
                return Ok((id, key));
            }
        }
        if inner.phase != Phase::Registering {
            return Err(Refusal::Conflict(
                "registration is closed: the plan was already handed out".into(),
            ));
        }
        let known = match &inner.admission {
            None => None,
            Some(a) => {
                let known = matches!(match_machine(&a.provider, &observed), MachineMatch::One(_));
                let (have, kind) = if known {
                    (a.known.len(), "that match a MAAS machine")
                } else {
                    (a.unknown.len(), "that match no MAAS machine")
                };
                if have >= a.expect {
                    return Err(Refusal::Conflict(format!(
                        "the check expects {} agents and already has {have} {kind}",
                        a.expect
                    )));
                }
                Some(known)
            }
        };
        let base = fp.0.clone();
        let mut n = inner.next_suffix.get(&base).copied().unwrap_or(1);
        let id = loop {
            let id = if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            n += 1;
            if !inner.agents.contains_key(&id) {
                break id;
            }
        };
        inner.next_suffix.insert(base, n);
        let key = match key {
            Some(k) => k,
            None => new_key()?,
        };
        let reg = Registration {
            agent_id: id.clone(),
            observed,
            key_sha256: Some(key_hash(&key)),
        };
        self.persist(&mut inner, &format!("agents/{id}.json"), &reg);
        inner.index(&reg);
        if let (Some(a), Some(known)) = (inner.admission.as_mut(), known) {
            if known {
                a.known.insert(id.clone());
            } else {
                a.unknown.insert(id.clone());
            }
        }
        inner.agents.insert(id.clone(), reg);
        drop(inner);
        self.bump();
        Ok((id, key))
    }

    /// Checks the key a plan or results request presents for `agent_id`.
    pub fn check_key(&self, agent_id: &str, presented: Option<&str>) -> Result<(), Refusal> {
        let inner = self.lock();
        let Some(r) = inner.agents.get(agent_id) else {
            return Err(Refusal::UnknownAgent);
        };
        let Some(h) = &r.key_sha256 else {
            return Ok(());
        };
        let ok = presented.is_some_and(|k| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                key_hash(k).as_bytes(),
                h.as_bytes(),
            ))
        });
        if ok {
            Ok(())
        } else {
            Err(Refusal::Forbidden(
                format!("missing or wrong agent key for agent {agent_id}"),
                Some(preflight_model::api::AGENT_KEY_HEADER.into()),
            ))
        }
    }

    /// Number of registered agents.
    pub fn registered(&self) -> usize {
        self.lock().agents.len()
    }

    /// Number of registered agents that match a MAAS machine (all of them when no admission
    /// was set): what `--expect` counts.
    pub fn registered_known(&self) -> usize {
        let inner = self.lock();
        match &inner.admission {
            Some(a) => a.known.len(),
            None => inner.agents.len(),
        }
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
            };
            self.persist(&mut inner, "plan.json", &stored);
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
        if !is_safe_id(agent_id) {
            return Err(Refusal::Invalid(
                "not a valid agent id".into(),
                Some("id".into()),
            ));
        }
        self.persist(&mut inner, &format!("results/{agent_id}.json"), &report);
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
    use crate::plan::PlanOptions;
    use preflight_model::probe::{TargetResult, PROBE_SCHEMA};

    /// A key derived from the machine, so the same machine re-registers with the same key.
    fn key_of(o: &ObservedConfig) -> String {
        key_hash(&format!("{:?}", fingerprint(o)))
    }

    fn reg(s: &CheckState, o: ObservedConfig) -> String {
        let k = key_of(&o);
        s.register(o, Some(k)).unwrap().0
    }

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
                })
                .collect(),
        }
    }

    #[test]
    fn ids_are_stable_and_distinct_machines_with_one_hostname_get_distinct_ids() {
        let s = CheckState::open(None).unwrap();
        let a = reg(&s, healthy(1, None, "host"));
        let b = reg(&s, healthy(2, None, "host"));
        let a2 = reg(&s, healthy(1, None, "host"));
        assert_eq!(a, "host");
        assert_eq!(b, "host-2");
        assert_eq!(a, a2);
        assert_eq!(s.registered(), 2);
        assert_eq!(reg(&s, healthy(1, Some("aaa/../x"), "h")), "aaa-..-x");
    }

    #[test]
    fn state_dir_survives_a_restart_without_loss_or_duplication() {
        let dir = tempfile::tempdir().unwrap();
        let p = provider();
        {
            let s = CheckState::open(Some(dir.path())).unwrap();
            reg(&s, healthy(1, None, "node1"));
            reg(&s, healthy(2, None, "node2"));
            s.plan(&p, &PlanOptions::default()).unwrap();
            let plan = s.plan_for("node1").unwrap().1.unwrap();
            assert_eq!(
                s.submit("node1", report_for(&plan)).unwrap(),
                Accepted::New(3)
            );
        }
        let s = CheckState::open(Some(dir.path())).unwrap();
        assert_eq!(s.registered(), 2);
        assert_eq!(s.lock().phase, Phase::Probing);
        s.plan(&p, &PlanOptions::default()).unwrap();
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
        assert_eq!(reg(&s, healthy(1, None, "node1")), "node1");
        assert!(matches!(
            s.register(healthy(3, None, "node3"), None),
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
        reg(&s, healthy(1, None, "node1"));
        reg(&s, healthy(2, None, "node2"));
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

    #[test]
    fn a_crafted_agent_file_cannot_lead_a_write_outside_the_state_dir() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        {
            let s = CheckState::open(Some(&state)).unwrap();
            reg(&s, healthy(1, None, "node1"));
        }
        // Someone edits the agent file so its id climbs out of results/.
        let f = state.join("agents/node1.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        v["agent_id"] = "../../escaped".into();
        std::fs::write(&f, v.to_string()).unwrap();
        let e = CheckState::open(Some(&state)).unwrap_err().to_string();
        assert!(
            e.contains("node1.json") && e.contains("not a safe id"),
            "{e}"
        );
        // And a file whose name and id agree but whose id is unsafe is refused the same way.
        std::fs::remove_file(&f).unwrap();
        v["agent_id"] = "a/b".into();
        std::fs::write(state.join("agents/a\\b.json"), v.to_string()).unwrap();
        assert!(CheckState::open(Some(&state)).is_err());
        assert!(!dir.path().join("escaped.json").exists());
    }

    #[test]
    fn re_registering_needs_the_key_and_plan_and_results_check_it() {
        let s = CheckState::open(None).unwrap();
        let (id, key) = s.register(healthy(1, None, "node1"), None).unwrap();
        assert!(preflight_model::api::valid_agent_key(&key));
        // Another token holder replaying node1's identity is refused.
        assert!(matches!(
            s.register(healthy(1, None, "node1"), None),
            Err(Refusal::Conflict(_))
        ));
        let other = "x".repeat(40);
        assert!(matches!(
            s.register(healthy(1, None, "node1"), Some(other.clone())),
            Err(Refusal::Conflict(_))
        ));
        // The agent itself (retrying after a lost answer) gets the same id back.
        assert_eq!(
            s.register(healthy(1, None, "node1"), Some(key.clone()))
                .unwrap(),
            (id.clone(), key.clone())
        );
        assert_eq!(s.check_key(&id, Some(&key)), Ok(()));
        assert!(matches!(
            s.check_key(&id, None),
            Err(Refusal::Forbidden(..))
        ));
        assert!(matches!(
            s.check_key(&id, Some(&other)),
            Err(Refusal::Forbidden(..))
        ));
        assert_eq!(
            s.check_key("nobody", Some(&key)),
            Err(Refusal::UnknownAgent)
        );
    }

    #[test]
    fn registrations_beyond_expect_are_refused_and_unknown_machines_do_not_count() {
        let s = CheckState::open(None).unwrap();
        // The test provider has node1 (aaa111) and node2 (bbb222).
        s.set_admission(1, &provider());
        reg(&s, healthy(1, None, "node1"));
        assert_eq!(s.registered_known(), 1);
        let e = s.register(healthy(2, None, "node2"), None).unwrap_err();
        assert!(
            matches!(&e, Refusal::Conflict(m) if m.contains("expects 1")),
            "{e:?}"
        );
        // One machine MAAS does not know is taken (and not counted), a second is not.
        reg(&s, healthy(3, None, "stranger"));
        assert_eq!((s.registered(), s.registered_known()), (2, 1));
        assert!(matches!(
            s.register(healthy(4, None, "stranger-2"), None),
            Err(Refusal::Conflict(_))
        ));
    }

    #[test]
    fn many_machines_sharing_a_hostname_get_distinct_stable_ids() {
        let s = CheckState::open(None).unwrap();
        let mk = |i: u32| {
            let mut o = healthy(1, None, "same");
            for l in &mut o.links {
                l.mac = Some(format!(
                    "02:{:02x}:{:02x}:00:00:{:02x}",
                    i >> 8,
                    i & 0xff,
                    l.ifindex
                ));
            }
            o
        };
        let ids: Vec<String> = (0..2000).map(|i| reg(&s, mk(i))).collect();
        assert_eq!(ids[0], "same");
        assert_eq!(ids[1], "same-2");
        assert_eq!(ids[1999], "same-2000");
        assert_eq!(reg(&s, mk(1234)), ids[1234]);
        assert_eq!(s.registered(), 2000);
    }

    #[test]
    fn a_failed_write_leaves_no_temp_file_and_the_check_goes_on_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let s = CheckState::open(Some(dir.path())).unwrap();
        // results/ replaced by a file: every write under it fails, as on a full disk.
        std::fs::remove_dir(dir.path().join("agents")).unwrap();
        std::fs::write(dir.path().join("agents"), "not a dir").unwrap();
        let id = reg(&s, healthy(1, None, "node1"));
        assert_eq!(s.registered(), 1);
        let w = s.storage_warning().unwrap();
        assert!(
            w.contains("agents/node1.json") && w.contains("resume"),
            "{w}"
        );
        s.plan(&provider(), &PlanOptions::default()).unwrap();
        assert!(s.plan_for(&id).unwrap().1.is_some());
        // write_atomic cleans up after itself when the rename fails.
        std::fs::create_dir(dir.path().join("target")).unwrap();
        std::fs::write(dir.path().join("target/x"), "").unwrap();
        assert!(write_atomic(&dir.path().join("target"), b"{}").is_err());
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
