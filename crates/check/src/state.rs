//! The coordinator's state: registrations, the plan and results, in memory and (with a state
//! dir) on disk.
//!
//! Layout of a state dir: `journal.jsonl` (registrations and result uploads, one record a
//! line, group-committed: see [`crate::journal`]), `plan.json` (every agent's plan, written
//! atomically: temp file, fsync, rename, fsync dir). State dirs of earlier versions
//! (`agents/<id>.json`, `results/<id>.json`) are still read. A request is answered only once
//! what it changed is durable, so a coordinator killed at any point and restarted on the same
//! dir has everything it acknowledged; since agent ids and result uploads are idempotent,
//! nothing is duplicated either. Merging and planning run outside the lock the handlers take.
//!
//! When a write fails (disk full), nothing more is written: the check goes on in memory, the
//! report is written anyway, a warning says resume is off, and an empty `resume-off` file is
//! left (best effort) so that a restart on the dir refuses it instead of resuming from a
//! partial record.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use preflight_model::observed::{LinkKind, ObservedConfig};
use preflight_model::plan::ProbePlan;
use preflight_model::probe::ProbeReport;
use preflight_model::provider::ProviderModel;
use preflight_model::report::{Checked, Finding, Report};
use serde::{Deserialize, Serialize};

use crate::journal::Journal;
use crate::merge::{match_machine, merge, AgentInput, MachineMatch, Merged};
use crate::plan::{build_plan, fnv1a, CheckPlan, PlanOptions};
use crate::report::{Finish, PairFold};
use crate::CheckError;

/// File left in a state dir that a check stopped writing to (disk full): a restart refuses it.
pub const RESUME_OFF: &str = "resume-off";

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
    #[serde(default)]
    untestable: Vec<crate::plan::Untestable>,
    #[serde(default)]
    controllers: Option<crate::infra::Controllers>,
    /// The cross-space pairs (so a resumed check judges them the same way).
    #[serde(default)]
    cross: Vec<crate::cross_space::CrossPair>,
}

/// The stored plan, as written (borrowing the plan instead of copying it).
#[derive(Serialize)]
struct StoredPlanRef<'a> {
    probes: usize,
    per_agent: &'a BTreeMap<String, ProbePlan>,
    untestable: &'a [crate::plan::Untestable],
    controllers: &'a Option<crate::infra::Controllers>,
    cross: &'a [crate::cross_space::CrossPair],
}

/// Phase of the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Accepting registrations.
    Registering,
    /// Registration closed; the merge and the plan are being built.
    Planning,
    /// Plans handed out; gathering results.
    Probing,
    /// Report written; agents are told the check is over.
    Done,
}

/// In-memory state.
#[derive(Debug)]
pub(crate) struct Inner {
    /// Registrations by agent id.
    pub(crate) agents: BTreeMap<String, Registration>,
    /// The merge, once planned.
    pub(crate) merged: Option<Merged>,
    /// The plan, once planned.
    pub(crate) plan: Option<CheckPlan>,
    /// Results not folded yet (reloaded before the plan's pairs exist), by agent id.
    pub(crate) results: BTreeMap<String, ProbeReport>,
    /// The report's pairs, once planned; every accepted upload is folded in and dropped.
    pub(crate) fold: Option<PairFold>,
    /// Per agent whose results were accepted: a digest of them (to tell a re-send from a
    /// different upload) and how many target results they held.
    pub(crate) digests: HashMap<String, (u64, usize)>,
    /// The phase.
    pub(crate) phase: Phase,
    /// Journal sequence number of each agent's registration (wait for it before answering).
    pub(crate) reg_seq: HashMap<String, u64>,
    /// Journal sequence number of each agent's results.
    pub(crate) result_seq: HashMap<String, u64>,
    /// Who may register and how many (set by [`CheckState::set_admission`]).
    admission: Option<Admission>,
    /// Agent id by machine fingerprint, so a re-registration is found in one look-up.
    by_fingerprint: HashMap<Fingerprint, String>,
    /// Per base id (system_id or hostname), the lowest numeric suffix that may be free: a new
    /// machine sharing a hostname with thousands of others gets its id in O(1), not by
    /// walking every taken suffix (issue 14, item 14).
    next_suffix: HashMap<String, usize>,
    /// Ids tried while looking for a free one, for the test that registration stays linear.
    id_probes: u64,
}

/// What identifies a machine across re-registrations: its base id (system_id, else
/// hostname), non-loopback MACs, machine-id and system_id.
type Fingerprint = (
    String,
    BTreeSet<preflight_model::vocab::MacAddr>,
    Option<String>,
    Option<String>,
);

impl Inner {
    /// Adds or replaces a registration, keeping the fingerprint index in step.
    fn insert_agent(&mut self, r: Registration) -> Option<Registration> {
        let fp = fingerprint(&r.observed);
        let id = r.agent_id.clone();
        let previous = self.agents.insert(id.clone(), r);
        if let Some(p) = &previous {
            let old = fingerprint(&p.observed);
            if old != fp && self.by_fingerprint.get(&old) == Some(&id) {
                self.by_fingerprint.remove(&old);
            }
        }
        self.by_fingerprint.insert(fp, id);
        previous
    }

    /// The id a machine with fingerprint `fp` gets: its own when it registered before, else
    /// the first free `base`, `base-2`, `base-3`, … from where the last search stopped.
    fn id_for(&mut self, fp: &Fingerprint) -> String {
        if let Some(id) = self.by_fingerprint.get(fp) {
            return id.clone();
        }
        let base = &fp.0;
        let mut n = self.next_suffix.get(base).copied().unwrap_or(1);
        loop {
            self.id_probes += 1;
            let id = if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            if !self.agents.contains_key(&id) {
                // Not taken yet (the registration may still be refused): the next search
                // starts here again and moves on once it is.
                self.next_suffix.insert(base.clone(), n);
                return id;
            }
            n += 1;
        }
    }
}

/// Registration limits: `expect` agents that match a MAAS machine no other agent matched, and
/// at most as many others (no machine, or a machine already taken). Only the first kind
/// counts toward `--expect`.
#[derive(Debug)]
struct Admission {
    expect: usize,
    provider: ProviderModel,
    /// Per agent id, the system_id of the MAAS machine it matches (`None`: none).
    class: HashMap<String, Option<String>>,
    /// Agents per matched machine.
    machines: HashMap<String, usize>,
}

impl Admission {
    /// The system_id of the one MAAS machine `o` matches.
    fn classify(&self, o: &ObservedConfig) -> Option<String> {
        match match_machine(&self.provider, o) {
            MachineMatch::One(m) => Some(m.system_id.clone()),
            _ => None,
        }
    }

    /// Agents that count toward `--expect`: distinct MAAS machines matched.
    fn known(&self) -> usize {
        self.machines.len()
    }

    /// Agents that do not: no machine, or one another agent matched too.
    fn others(&self) -> usize {
        self.class.len() - self.machines.len()
    }

    /// Whether one more agent of class `sid` may register; the refusal says why not.
    fn admit(&self, sid: &Option<String>) -> Result<(), Refusal> {
        let (have, kind) = match sid {
            Some(s) if !self.machines.contains_key(s) => {
                (self.known(), "that match a MAAS machine")
            }
            Some(_) => (
                self.others(),
                "that match no MAAS machine or one another agent matched",
            ),
            None => (self.others(), "that match no MAAS machine"),
        };
        if have >= self.expect {
            return Err(Refusal::Conflict(format!(
                "the check expects {} agents and already has {have} {kind}",
                self.expect
            )));
        }
        Ok(())
    }

    /// Records agent `id` as of class `sid` (replacing what it was).
    fn add(&mut self, id: &str, sid: Option<String>) {
        if let Some(Some(old)) = self.class.remove(id) {
            if let Some(n) = self.machines.get_mut(&old) {
                *n -= 1;
                if *n == 0 {
                    self.machines.remove(&old);
                }
            }
        }
        if let Some(s) = &sid {
            *self.machines.entry(s.clone()).or_default() += 1;
        }
        self.class.insert(id.to_string(), sid);
    }
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

/// How far the check has come (see [`CheckState::counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Agents registered.
    pub registered: usize,
    /// Of them, those that count toward `--expect`: each matches a MAAS machine no other
    /// agent matched (all of them when no admission was set).
    pub matched: usize,
    /// Agents with a plan.
    pub agents_planned: usize,
    /// Of them, those whose results are in.
    pub agents_reported: usize,
    /// Probes planned.
    pub probes_planned: usize,
    /// Probes with results.
    pub probes_done: usize,
}

/// What the report is built from, borrowed from the state.
#[derive(Debug)]
pub struct Outcome<'a> {
    /// Agents registered.
    pub agents: usize,
    /// The merge (empty when nothing was planned).
    pub merged: &'a Merged,
    /// The plan (empty when nothing was planned).
    pub plan: &'a CheckPlan,
}

/// What the report takes besides the state (see [`CheckState::report`]).
#[derive(Debug)]
pub struct ReportExtras {
    /// Agents expected (`--expect`).
    pub expected: usize,
    /// `--unit-label`: hostname → the unit that runs there (names missing agents).
    pub unit_labels: BTreeMap<String, String>,
    /// Findings from other steps (bundle validation).
    pub extra_findings: Vec<Finding>,
    /// Checks evaluated by other steps.
    pub extra_checked: Vec<Checked>,
    /// Inputs, for the reader.
    pub inputs: Vec<String>,
}

/// A digest of an upload and its number of target results.
fn digest(r: &ProbeReport) -> (u64, usize) {
    let body = serde_json::to_vec(r).unwrap_or_default();
    (fnv1a(&[&body]), r.targets.len())
}

/// The coordinator's shared state.
#[derive(Debug)]
pub struct CheckState {
    inner: Mutex<Inner>,
    dir: Option<PathBuf>,
    journal: Option<Journal>,
    /// Set once a write to the state dir failed (disk full): from then on nothing more is
    /// written, the check goes on in memory and a restart cannot resume it.
    resume_off: std::sync::OnceLock<String>,
    /// Where warnings go (stderr unless [`CheckState::with_warn`] says otherwise).
    warn: crate::Warn,
    changed: tokio::sync::watch::Sender<u64>,
    /// Bumped when the phase moves on (plan ready, check over): what plan requests wait for.
    phase_changed: tokio::sync::watch::Sender<u64>,
}

/// A journal record, as written (a results record, `{"results":{"agent_id":…,"report":…}}`,
/// is assembled from the upload's bytes in [`CheckState::submit`]).
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum RecordOut<'a> {
    Registration(&'a Registration),
}

/// A journal record, as read back.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum RecordIn {
    Registration(Registration),
    Results {
        agent_id: String,
        report: ProbeReport,
    },
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

/// Whether an id is one [`sanitize_id`] could have made (and so safe as a file name).
pub fn is_safe_id(id: &str) -> bool {
    !id.is_empty() && sanitize_id(id) == id
}

fn key_hash(key: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, key.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn key_matches(hash: &str, key: &str) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(
        key_hash(key).as_bytes(),
        hash.as_bytes(),
    ))
}

fn new_key() -> Result<String, Refusal> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| Refusal::Storage("no randomness for an agent key".into()))?;
    Ok(b.iter().map(|b| format!("{b:02x}")).collect())
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

impl CheckState {
    /// A fresh state, persisted under `dir` when given (reloading whatever is already there).
    pub fn open(dir: Option<&Path>) -> Result<CheckState, CheckError> {
        let mut inner = Inner {
            agents: BTreeMap::new(),
            merged: None,
            plan: None,
            results: BTreeMap::new(),
            fold: None,
            digests: HashMap::new(),
            phase: Phase::Registering,
            reg_seq: HashMap::new(),
            result_seq: HashMap::new(),
            admission: None,
            by_fingerprint: HashMap::new(),
            next_suffix: HashMap::new(),
            id_probes: 0,
        };
        let mut journal = None;
        if let Some(dir) = dir {
            if dir.join(RESUME_OFF).exists() {
                return Err(CheckError::State(format!(
                    "{} was not fully written (a write failed, the disk was full?), so it cannot be resumed; remove it or give a new --state-dir",
                    dir.display()
                )));
            }
            for sub in ["agents", "results"] {
                std::fs::create_dir_all(dir.join(sub)).map_err(|e| {
                    CheckError::State(format!("cannot create {}: {e}", dir.join(sub).display()))
                })?;
            }
            for p in json_files(&dir.join("agents"))? {
                let r: Registration = read_json(&p)?;
                // The id becomes a file name again: a crafted file must not lead a write
                // outside the state dir.
                let stem = p.file_stem().map(|s| s.to_string_lossy().to_string());
                if !is_safe_id(&r.agent_id) || stem.as_deref() != Some(r.agent_id.as_str()) {
                    return Err(CheckError::State(format!(
                        "{}: agent_id {:?} is not a safe id or does not match the file name",
                        p.display(),
                        preflight_model::limits::printable(&r.agent_id, 80)
                    )));
                }
                inner.insert_agent(r);
            }
            let plan_path = dir.join("plan.json");
            if plan_path.exists() {
                let sp: StoredPlan = read_json(&plan_path)?;
                inner.plan = Some(CheckPlan {
                    per_agent: sp.per_agent,
                    probes: sp.probes,
                    untestable: sp.untestable,
                    controllers: sp.controllers,
                    cross: sp.cross,
                });
                inner.phase = Phase::Probing;
            }
            for p in json_files(&dir.join("results"))? {
                let r: ProbeReport = read_json(&p)?;
                let id = p
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_default();
                inner.digests.insert(id.clone(), digest(&r));
                inner.results.insert(id, r);
            }
            // Registrations and results since the files above: the group-committed journal.
            journal = Some(Journal::open(dir, |line| {
                match serde_json::from_slice::<RecordIn>(line).map_err(|e| e.to_string())? {
                    RecordIn::Registration(r) => {
                        if !is_safe_id(&r.agent_id) {
                            return Err(format!(
                                "agent_id {:?} is not a safe id",
                                preflight_model::limits::printable(&r.agent_id, 80)
                            ));
                        }
                        inner.insert_agent(r);
                    }
                    RecordIn::Results { agent_id, report } => {
                        inner.digests.insert(agent_id.clone(), digest(&report));
                        inner.results.insert(agent_id, report);
                    }
                }
                Ok(())
            })?);
        }
        let (changed, _) = tokio::sync::watch::channel(0);
        let (phase_changed, _) = tokio::sync::watch::channel(0);
        Ok(CheckState {
            inner: Mutex::new(inner),
            dir: dir.map(Path::to_path_buf),
            journal,
            resume_off: std::sync::OnceLock::new(),
            warn: crate::Warn::default(),
            changed,
            phase_changed,
        })
    }

    /// Locks the in-memory state (a poisoned lock is taken over: every write is complete).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A receiver that sees a new value on every change.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v += 1);
    }

    /// A receiver that sees a new value when the phase moves on (not on every registration).
    pub fn subscribe_phase(&self) -> tokio::sync::watch::Receiver<u64> {
        self.phase_changed.subscribe()
    }

    fn bump_phase(&self) {
        self.phase_changed.send_modify(|v| *v += 1);
        self.bump();
    }

    /// Sends warnings to `warn` instead of stderr.
    pub fn with_warn(mut self, warn: crate::Warn) -> CheckState {
        self.warn = warn;
        self
    }

    /// Why the state dir is no longer written (a write failed: disk full or the like), if it
    /// is not; a restart cannot resume such a check.
    pub fn resume_off(&self) -> Option<&str> {
        self.resume_off.get().map(String::as_str)
    }

    /// A write to the state dir failed: stop writing there, say so once, go on in memory.
    fn storage_failed(&self, error: &str) {
        if self.resume_off.set(error.to_string()).is_ok() {
            // An empty file needs no data block: it usually fits on a full disk.
            if let Some(d) = &self.dir {
                let _ = std::fs::File::create(d.join(RESUME_OFF));
            }
            let dir = self
                .dir
                .as_deref()
                .map(|d| d.display().to_string())
                .unwrap_or_default();
            self.warn.say(&format!(
                "{error} in the state dir {dir}; the check goes on in memory and the report is written anyway, but resume is off: a restart cannot resume it"
            ));
        }
    }

    /// The journal, while the state dir is still written.
    fn live_journal(&self) -> Option<&Journal> {
        self.journal
            .as_ref()
            .filter(|_| self.resume_off.get().is_none())
    }

    /// Queues a journal record (under the state lock, so the journal's order is the order
    /// the state changed in); `None` without a state dir, or once writing it failed.
    fn journal_append(&self, record: &[u8]) -> Option<u64> {
        let j = self.live_journal()?;
        match j.append(record) {
            Ok(seq) => Some(seq),
            Err(e) => {
                self.storage_failed(&e);
                None
            }
        }
    }

    /// Waits (outside the state lock) until journal record `seq` is durable. When it cannot
    /// be made durable, resume is off and the change stands in memory.
    fn journal_wait(&self, seq: Option<u64>) {
        if let (Some(j), Some(seq)) = (&self.journal, seq) {
            if let Err(e) = j.wait(seq) {
                self.storage_failed(&e);
            }
        }
    }

    /// Batches the journal has written so far (one fsync each); 0 without a state dir.
    pub fn journal_batches(&self) -> u64 {
        self.journal.as_ref().map(Journal::batches).unwrap_or(0)
    }

    /// Writes `rel` in the state dir atomically (nothing without one, or once resume is off).
    fn persist(&self, rel: &str, value: &impl Serialize) {
        let Some(dir) = &self.dir else { return };
        if self.resume_off.get().is_some() {
            return;
        }
        // Streamed into the temp file: a full mesh's plan is tens of MB of JSON.
        if let Err(e) = preflight_report::write_atomic(&dir.join(rel), |w| {
            serde_json::to_writer(w, value).map_err(std::io::Error::other)
        }) {
            self.storage_failed(&format!("cannot write {rel}: {e}"));
        }
    }

    /// Registers an agent (or recognises a re-registration) and returns its id.
    /// A machine already registered must present the key it registered with; a new one is
    /// refused past [`CheckState::set_admission`]'s limits. Returns the id and the key.
    pub fn register(
        &self,
        observed: ObservedConfig,
        key: Option<String>,
    ) -> Result<(String, String), Refusal> {
        let mut inner = self.lock();
        let id = inner.id_for(&fingerprint(&observed));
        let existing = inner.agents.get(&id);
        let known = existing.is_some();
        let key = match (existing.and_then(|r| r.key_sha256.as_deref()), key) {
            (Some(h), Some(k)) if key_matches(h, &k) => k,
            (Some(_), _) => {
                return Err(Refusal::Conflict(format!(
                    "agent {id} is already registered: registering it again needs the agent key it registered with"
                )))
            }
            (None, Some(k)) => k,
            (None, None) => new_key()?,
        };
        let legacy = existing.is_some_and(|r| r.key_sha256.is_none());
        let class = match &inner.admission {
            Some(a) if inner.phase == Phase::Registering => Some(a.classify(&observed)),
            _ => None,
        };
        if let (false, Some(a), Some(sid)) = (known, &inner.admission, &class) {
            a.admit(sid)?;
        }
        if (!legacy && existing.is_some_and(|r| r.observed == observed))
            || inner.phase != Phase::Registering
        {
            if !known {
                return Err(Refusal::Conflict(
                    "registration is closed: the plan was already handed out".into(),
                ));
            }
            // The same registration again, or the same machine re-registering after the plan
            // (which keeps the planned view): answer once the first one is durable.
            let seq = inner.reg_seq.get(&id).copied();
            drop(inner);
            self.journal_wait(seq);
            return Ok((id, key));
        }
        let reg = Registration {
            agent_id: id.clone(),
            observed,
            key_sha256: Some(key_hash(&key)),
        };
        let seq = match self.live_journal() {
            None => None,
            Some(_) => {
                let bytes = serde_json::to_vec(&RecordOut::Registration(&reg))
                    .map_err(|e| Refusal::Storage(e.to_string()))?;
                self.journal_append(&bytes)
            }
        };
        inner.insert_agent(reg);
        if let (Some(a), Some(sid)) = (inner.admission.as_mut(), class) {
            a.add(&id, sid);
        }
        if let Some(seq) = seq {
            inner.reg_seq.insert(id.clone(), seq);
        }
        drop(inner);
        self.journal_wait(seq);
        self.bump();
        Ok((id, key))
    }

    /// Limits registration to `expect` agents that match a machine of `provider`, and at most
    /// as many others (no machine, or one another agent matched too);
    /// [`CheckState::registered_known`] counts the first kind.
    pub fn set_admission(&self, expect: usize, provider: &ProviderModel) {
        let mut inner = self.lock();
        let mut a = Admission {
            expect,
            provider: provider.clone(),
            class: HashMap::new(),
            machines: HashMap::new(),
        };
        for r in inner.agents.values() {
            let sid = a.classify(&r.observed);
            a.add(&r.agent_id, sid);
        }
        inner.admission = Some(a);
    }

    /// Number of registered agents that match a MAAS machine no other agent matched (all of
    /// them when no admission was set): what `--expect` counts.
    pub fn registered_known(&self) -> usize {
        let inner = self.lock();
        match &inner.admission {
            Some(a) => a.known(),
            None => inner.agents.len(),
        }
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
        if presented.is_some_and(|k| key_matches(h, k)) {
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

    /// Merges the registered agents with the provider and builds the plan (or, when a plan
    /// was already stored, keeps that one and only redoes the merge). Closes registration.
    pub fn plan(&self, provider: &ProviderModel, opts: &PlanOptions) -> Result<(), CheckError> {
        // Close registration and take the inputs; merge and plan without the lock, so the
        // handlers (plan polls, late re-registrations) are answered meanwhile.
        let (inputs, planned) = {
            let mut inner = self.lock();
            if inner.phase == Phase::Registering {
                inner.phase = Phase::Planning;
            }
            let inputs: Vec<AgentInput> = inner
                .agents
                .values()
                .map(|r| AgentInput {
                    agent_id: r.agent_id.clone(),
                    observed: r.observed.clone(),
                })
                .collect();
            (inputs, inner.plan.is_some())
        };
        // Every registration the plan is built from is durable before the plan is.
        if let Some(j) = self.live_journal() {
            self.journal_wait(Some(j.last()));
        }
        let merged = merge(provider, &inputs);
        drop(inputs);
        let plan = if planned {
            None
        } else {
            let plan = build_plan(provider, &merged.agents, opts);
            let stored = StoredPlanRef {
                probes: plan.probes,
                per_agent: &plan.per_agent,
                untestable: &plan.untestable,
                controllers: &plan.controllers,
                cross: &plan.cross,
            };
            // Disk full: the plan still goes out from memory (resume is off, said once).
            self.persist("plan.json", &stored);
            Some(plan)
        };
        // The report's pairs, built outside the lock from the plan (new, or the stored one).
        let mut fold = {
            let stored;
            let p = match &plan {
                Some(p) => p,
                None => {
                    stored = self.lock().plan.clone().unwrap_or_default();
                    &stored
                }
            };
            PairFold::new(provider, &merged, p)
        };
        let mut inner = self.lock();
        if let Some(plan) = plan {
            inner.plan = Some(plan);
        }
        let inner_ref = &mut *inner;
        if let Some(p) = &inner_ref.plan {
            for (id, r) in std::mem::take(&mut inner_ref.results) {
                fold.add(p, &id, &r);
            }
        }
        inner.fold = Some(fold);
        inner.merged = Some(merged);
        if inner.phase != Phase::Done {
            inner.phase = Phase::Probing;
        }
        drop(inner);
        self.bump_phase();
        Ok(())
    }

    /// Marks the check as over: agents asking for plans are told so.
    pub fn finish(&self) {
        self.lock().phase = Phase::Done;
        self.bump_phase();
    }

    /// How far the check has come.
    pub fn counts(&self) -> Counts {
        let inner = self.lock();
        let mut c = Counts {
            registered: inner.agents.len(),
            matched: inner
                .admission
                .as_ref()
                .map_or(inner.agents.len(), Admission::known),
            ..Counts::default()
        };
        let Some(plan) = &inner.plan else {
            return c;
        };
        c.probes_planned = plan.probes;
        for id in plan.per_agent.keys() {
            c.agents_planned += 1;
            if let Some((_, n)) = inner.digests.get(id) {
                c.agents_reported += 1;
                c.probes_done += n;
            }
        }
        c
    }

    /// Whether a plan is there (handed out, or reloaded from the state dir).
    pub fn is_planned(&self) -> bool {
        self.lock().plan.is_some()
    }

    /// The phase of the check.
    pub fn phase(&self) -> Phase {
        self.lock().phase
    }

    /// Replaces the plan with one built elsewhere (tests, and tools that plan by hand) and
    /// opens the probing phase. Not persisted.
    pub fn install_plan(&self, plan: CheckPlan) {
        let mut inner = self.lock();
        inner.plan = Some(plan);
        inner.phase = Phase::Probing;
        drop(inner);
        self.bump();
    }

    /// Builds the report from the folded pairs (taking them: call once, after
    /// [`CheckState::finish`]), with an empty merge or plan when there is none.
    pub fn report(&self, provider: &ProviderModel, finish: ReportExtras) -> Report {
        let mut inner = self.lock();
        let no_merge = Merged::default();
        let no_plan = CheckPlan::default();
        let inner = &mut *inner;
        let merged = inner.merged.as_ref().unwrap_or(&no_merge);
        let plan = inner.plan.as_ref().unwrap_or(&no_plan);
        let mut fold = inner
            .fold
            .take()
            .unwrap_or_else(|| PairFold::new(provider, merged, plan));
        for (id, r) in std::mem::take(&mut inner.results) {
            fold.add(plan, &id, &r);
        }
        let mut inputs = finish.inputs;
        let matched = inner
            .admission
            .as_ref()
            .map_or(inner.agents.len(), Admission::known);
        let others = inner.agents.len() - matched.min(inner.agents.len());
        inputs.push(if others == 0 {
            format!("agents: {matched} of {} expected", finish.expected)
        } else {
            format!(
                "agents: {matched} of {} expected (and {others} that match no MAAS machine, or one another agent matched)",
                finish.expected
            )
        });
        fold.finish(Finish {
            provider,
            merged,
            plan,
            expected: finish.expected,
            unit_labels: finish.unit_labels,
            extra_findings: finish.extra_findings,
            extra_checked: finish.extra_checked,
            inputs,
        })
    }

    /// Calls `f` with what the report is built from (an empty merge or plan when there is none).
    pub fn with_outcome<T>(&self, f: impl FnOnce(Outcome<'_>) -> T) -> T {
        let inner = self.lock();
        let no_merge = Merged::default();
        let no_plan = CheckPlan::default();
        f(Outcome {
            agents: inner.agents.len(),
            merged: inner.merged.as_ref().unwrap_or(&no_merge),
            plan: inner.plan.as_ref().unwrap_or(&no_plan),
        })
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

    /// The plan answer for an agent as the JSON body of a [`PlanResponse`], serialized from
    /// the stored plan without copying it (a full mesh hands out hundreds of large plans at
    /// the same instant).
    ///
    /// [`PlanResponse`]: preflight_model::api::PlanResponse
    pub fn plan_answer(&self, agent_id: &str, retry_after_ms: u64) -> Result<Vec<u8>, Refusal> {
        #[derive(Serialize)]
        #[serde(tag = "state", rename_all = "kebab-case")]
        enum Answer<'a> {
            Waiting { retry_after_ms: u64 },
            Ready { plan: &'a ProbePlan },
            Done,
        }
        let inner = self.lock();
        if !inner.agents.contains_key(agent_id) {
            return Err(Refusal::UnknownAgent);
        }
        let plan = inner.plan.as_ref().and_then(|p| p.per_agent.get(agent_id));
        let answer = match (inner.phase, plan) {
            (Phase::Done, _) => Answer::Done,
            (_, Some(plan)) => Answer::Ready { plan },
            (Phase::Probing, None) => {
                // Registered, yet not part of the plan: an empty plan, so it can finish (as
                // `plan_for` answers).
                return serde_json::to_vec(&preflight_model::api::PlanResponse::Ready {
                    plan: ProbePlan {
                        schema: preflight_model::plan::PLAN_SCHEMA.into(),
                        agent: Some(agent_id.to_string()),
                        settings: Default::default(),
                        targets: vec![],
                    },
                })
                .map_err(|e| Refusal::Storage(e.to_string()));
            }
            (_, None) => Answer::Waiting { retry_after_ms },
        };
        serde_json::to_vec(&answer).map_err(|e| Refusal::Storage(e.to_string()))
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
        let body = serde_json::to_vec(&report).map_err(|e| Refusal::Storage(e.to_string()))?;
        let d = fnv1a(&[&body]);
        if let Some(&(prev, n)) = inner.digests.get(agent_id) {
            if prev == d {
                // Answer the re-send only once the first upload is durable.
                let seq = inner.result_seq.get(agent_id).copied();
                drop(inner);
                self.journal_wait(seq);
                return Ok(Accepted::Duplicate(n));
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
        let seq = match self.live_journal() {
            None => None,
            Some(_) => {
                let id =
                    serde_json::to_string(agent_id).map_err(|e| Refusal::Storage(e.to_string()))?;
                let mut record = Vec::with_capacity(body.len() + id.len() + 40);
                record.extend_from_slice(b"{\"results\":{\"agent_id\":");
                record.extend_from_slice(id.as_bytes());
                record.extend_from_slice(b",\"report\":");
                record.extend_from_slice(&body);
                record.extend_from_slice(b"}}");
                drop(body);
                self.journal_append(&record)
            }
        };
        let n = report.targets.len();
        inner.digests.insert(agent_id.to_string(), (d, n));
        let inner_ref = &mut *inner;
        match (&mut inner_ref.fold, &inner_ref.plan) {
            (Some(fold), Some(plan)) => fold.add(plan, agent_id, &report),
            _ => {
                inner_ref.results.insert(agent_id.to_string(), report);
            }
        }
        if let Some(seq) = seq {
            inner.result_seq.insert(agent_id.to_string(), seq);
        }
        drop(inner);
        self.journal_wait(seq);
        self.bump();
        Ok(Accepted::New(n))
    }
}

#[cfg(test)]
mod tests {
    /// A key derived from the machine, so the same machine re-registers with the same key.
    fn key_of(o: &ObservedConfig) -> String {
        key_hash(&format!("{:?}", fingerprint(o)))
    }

    fn reg(s: &CheckState, o: ObservedConfig) -> String {
        let k = key_of(&o);
        s.register(o, Some(k)).unwrap().0
    }
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
                    kind: t.kind,
                    macs: Vec::new(),
                    dns: None,
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
        // Echo probes only, so the counts below are the mesh's (3 peers each way).
        let echo_only = PlanOptions {
            infrastructure: false,
            ..PlanOptions::default()
        };
        {
            let s = CheckState::open(Some(dir.path())).unwrap();
            reg(&s, healthy(1, None, "node1"));
            reg(&s, healthy(2, None, "node2"));
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
        assert_eq!(
            s.counts(),
            Counts {
                registered: 2,
                matched: 2,
                agents_planned: 2,
                agents_reported: 2,
                probes_planned: 6,
                probes_done: 6
            }
        );
        // re-registration of a known machine after planning keeps its id; a new one is refused
        assert_eq!(reg(&s, healthy(1, None, "node1")), "node1");
        assert!(matches!(
            s.register(healthy(3, None, "node3"), None),
            Err(Refusal::Conflict(_))
        ));
        // Both uploads (not the duplicate) and three registrations are in the journal.
        let journal = std::fs::read_to_string(dir.path().join("journal.jsonl")).unwrap();
        assert_eq!(journal.matches("{\"results\":").count(), 2);
        assert_eq!(journal.matches("{\"registration\":").count(), 2);
    }

    #[test]
    fn results_folded_as_they_arrive_give_the_report_built_at_once() {
        let p = provider();
        let s = CheckState::open(None).unwrap();
        reg(&s, healthy(1, None, "node1"));
        reg(&s, healthy(2, None, "node2"));
        s.plan(&p, &PlanOptions::default()).unwrap();
        let mut results = BTreeMap::new();
        // node1 reports with one probe failing; node2 never does.
        let node1_plan = s.plan_for("node1").unwrap().1.unwrap();
        let mut r = report_for(&node1_plan);
        r.targets[0].received = 0;
        r.targets[0].loss_pct = 100.0;
        s.submit("node1", r.clone()).unwrap();
        results.insert("node1".to_string(), r);
        s.finish();
        let extras = || ReportExtras {
            unit_labels: Default::default(),
            expected: 3,
            extra_findings: vec![],
            extra_checked: vec![],
            inputs: vec!["x".into()],
        };
        let folded = s.report(&p, extras());
        let at_once = s.with_outcome(|o| {
            crate::report::build_report(crate::report::ReportInput {
                unit_labels: Default::default(),
                provider: &p,
                merged: o.merged,
                plan: o.plan,
                results: &results,
                expected: 3,
                extra_findings: vec![],
                extra_checked: vec![],
                inputs: vec!["x".into(), "agents: 2 of 3 expected".into()],
            })
        });
        assert_eq!(folded.spaces, at_once.spaces);
        assert_eq!(folded.findings, at_once.findings);
        assert_eq!(folded.summary, at_once.summary);
        assert_eq!(folded.inputs, at_once.inputs);
        assert_eq!(folded.summary.agents_reported, Some(1));
        // Its echo probes and its neighbour and gateway probes (judged by crate::infra).
        assert_eq!(folded.summary.probes_done, Some(node1_plan.targets.len()));
        assert!(node1_plan
            .targets
            .iter()
            .any(|t| t.kind != preflight_model::plan::ProbeKind::Echo));
        assert!(folded
            .spaces
            .iter()
            .any(|sp| sp.pairs.iter().any(|p| p.done && p.received == 0)));
        assert!(folded
            .findings
            .iter()
            .any(|f| f.code == preflight_model::report::Code::AgentMissing));
    }

    #[test]
    fn concurrent_registrations_share_fsyncs_and_all_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let n = 64;
        {
            let s = std::sync::Arc::new(CheckState::open(Some(dir.path())).unwrap());
            let threads: Vec<_> = (0..n)
                .map(|i| {
                    let s = s.clone();
                    std::thread::spawn(move || s.register(healthy(i, None, &format!("n{i}")), None))
                })
                .collect();
            for t in threads {
                t.join().unwrap().unwrap();
            }
            assert_eq!(s.registered(), n as usize);
            let batches = s.journal_batches();
            assert!(batches >= 1 && batches <= n as u64, "{batches}");
        }
        let s = CheckState::open(Some(dir.path())).unwrap();
        assert_eq!(s.registered(), n as usize);
    }

    #[test]
    fn a_torn_last_journal_line_is_dropped_and_the_next_record_starts_clean() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = CheckState::open(Some(dir.path())).unwrap();
            reg(&s, healthy(1, None, "node1"));
        }
        let path = dir.path().join("journal.jsonl");
        let mut text = std::fs::read(&path).unwrap();
        let whole = text.len();
        text.extend_from_slice(b"{\"registration\":{\"agent_id\":\"node2\",\"obs");
        std::fs::write(&path, &text).unwrap();
        {
            let s = CheckState::open(Some(dir.path())).unwrap();
            assert_eq!(s.registered(), 1);
            assert_eq!(std::fs::metadata(&path).unwrap().len(), whole as u64);
            reg(&s, healthy(3, None, "node3"));
        }
        let s = CheckState::open(Some(dir.path())).unwrap();
        assert_eq!(s.registered(), 2);
        // A bad line that is not the last is an error naming the line.
        let mut text = std::fs::read(&path).unwrap();
        text.splice(0..0, b"not json\n".iter().copied());
        std::fs::write(&path, &text).unwrap();
        let err = CheckState::open(Some(dir.path())).unwrap_err().to_string();
        assert!(err.contains("journal.jsonl line 1"), "{err}");
    }

    #[test]
    fn a_resumed_check_keeps_the_cross_space_pairs_of_its_plan() {
        let dir = tempfile::tempdir().unwrap();
        let p = provider();
        let opts = PlanOptions {
            topology: crate::cross_space::Topology {
                needs: vec![preflight_validate::relations::SpaceNeed {
                    a: "alpha".into(),
                    b: "beta".into(),
                    relations: vec!["x:a ↔ y:b".into()],
                    ..Default::default()
                }],
                isolate_unrelated: true,
                bundle: true,
                ..Default::default()
            },
            ..PlanOptions::default()
        };
        let first = {
            let s = CheckState::open(Some(dir.path())).unwrap();
            reg(&s, healthy(1, None, "node1"));
            reg(&s, healthy(2, None, "node2"));
            s.plan(&p, &opts).unwrap();
            let cross = s.lock().plan.as_ref().unwrap().cross.clone();
            cross
        };
        assert!(first.iter().any(|c| c.relations == ["x:a ↔ y:b"]));
        // Restarted without the bundle: the stored plan, pairs included, is what counts.
        let s = CheckState::open(Some(dir.path())).unwrap();
        s.plan(&p, &PlanOptions::default()).unwrap();
        assert_eq!(s.lock().plan.as_ref().unwrap().cross, first);
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
        std::fs::create_dir_all(state.join("agents")).unwrap();
        // Someone drops an agent file whose id climbs out of the state dir.
        let r = Registration {
            agent_id: "../../escaped".into(),
            observed: healthy(1, None, "node1"),
            key_sha256: None,
        };
        let f = state.join("agents/node1.json");
        std::fs::write(&f, serde_json::to_string(&r).unwrap()).unwrap();
        let e = CheckState::open(Some(&state)).unwrap_err().to_string();
        assert!(
            e.contains("node1.json") && e.contains("not a safe id"),
            "{e}"
        );
        // And a file whose name and id agree but whose id is unsafe is refused the same way.
        std::fs::remove_file(&f).unwrap();
        let r = Registration {
            agent_id: "a/b".into(),
            ..r
        };
        std::fs::write(
            state.join("agents/a\\b.json"),
            serde_json::to_string(&r).unwrap(),
        )
        .unwrap();
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
    fn unknown_machines_and_second_agents_of_one_machine_do_not_count_toward_expect() {
        let s = CheckState::open(None).unwrap();
        // The test provider has node1 and node2; the check expects both.
        s.set_admission(2, &provider());
        reg(&s, healthy(1, None, "node1"));
        reg(&s, healthy(3, None, "stranger"));
        // A second agent calling itself node1 (other MACs) matches a machine already taken.
        let mut twin = healthy(1, None, "node1");
        for l in &mut twin.links {
            l.mac = Some(format!("02:77:00:00:00:{:02x}", l.ifindex).into());
        }
        reg(&s, twin);
        let c = s.counts();
        assert_eq!((c.registered, c.matched, s.registered_known()), (3, 1, 1));
        // Beyond --expect of each kind: refused before planning, whatever the order.
        reg(&s, healthy(2, None, "node2"));
        assert_eq!(s.counts().matched, 2);
        let e = s
            .register(healthy(4, None, "stranger-3"), None)
            .unwrap_err();
        assert!(
            matches!(&e, Refusal::Conflict(m) if m.contains("already has 2 that match no MAAS machine")),
            "{e:?}"
        );
        // The report's inputs say who counted.
        s.plan(&provider(), &PlanOptions::default()).unwrap();
        s.finish();
        let r = s.report(
            &provider(),
            ReportExtras {
                unit_labels: Default::default(),
                expected: 2,
                extra_findings: vec![],
                extra_checked: vec![],
                inputs: vec![],
            },
        );
        assert!(
            r.inputs
                .iter()
                .any(|i| i.starts_with("agents: 2 of 2 expected (and 2 that")),
            "{:?}",
            r.inputs
        );
        // Every expected machine registered (none sent results: those findings are about
        // results, not registrations).
        assert!(
            !r.findings
                .iter()
                .any(|f| f.code == preflight_model::report::Code::AgentMissing
                    && f.message.contains("registered before")),
            "{:?}",
            r.findings
        );
    }

    #[test]
    fn an_unknown_machine_stands_for_no_missing_agent() {
        let s = CheckState::open(None).unwrap();
        s.set_admission(2, &provider());
        reg(&s, healthy(1, None, "node1"));
        reg(&s, healthy(3, None, "stranger"));
        s.plan(&provider(), &PlanOptions::default()).unwrap();
        s.finish();
        let r = s.report(
            &provider(),
            ReportExtras {
                unit_labels: Default::default(),
                expected: 2,
                extra_findings: vec![],
                extra_checked: vec![],
                inputs: vec![],
            },
        );
        let codes: Vec<_> = r.findings.iter().map(|f| f.code.clone()).collect();
        assert!(
            codes.contains(&preflight_model::report::Code::DriftMachineUnknown),
            "{codes:?}"
        );
        let missing: Vec<_> = r
            .findings
            .iter()
            .filter(|f| {
                f.code == preflight_model::report::Code::AgentMissing
                    && !f.message.contains("never sent its probe results")
            })
            .collect();
        // node2 never registered: the stranger does not stand in for it.
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert!(
            missing[0].message.contains("node2"),
            "{}",
            missing[0].message
        );
    }

    #[test]
    fn a_state_dir_that_cannot_be_written_leaves_the_check_going_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let warned = std::sync::Arc::new(Mutex::new(Vec::<String>::new()));
        let w = warned.clone();
        let s = CheckState::open(Some(dir.path()))
            .unwrap()
            .with_warn(crate::Warn::to(move |m| {
                w.lock().unwrap().push(m.to_string())
            }));
        reg(&s, healthy(1, None, "node1"));
        reg(&s, healthy(2, None, "node2"));
        // plan.json cannot be written (a non-empty directory is in the way, as good as a
        // full disk for the rename): the plan still goes out, from memory.
        std::fs::create_dir(dir.path().join("plan.json")).unwrap();
        std::fs::write(dir.path().join("plan.json/x"), "").unwrap();
        s.plan(&provider(), &PlanOptions::default()).unwrap();
        assert!(s.is_planned());
        let (_, plan) = s.plan_for("node1").unwrap();
        assert!(plan.is_some());
        let off = s.resume_off().map(str::to_string);
        assert!(
            off.as_deref().is_some_and(|e| e.contains("plan.json")),
            "{off:?}"
        );
        let w = warned.lock().unwrap().clone();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("resume is off") && w[0].contains("plan.json"),
            "{w:?}"
        );
        // Nothing more goes to the journal, results are still taken.
        let journal = std::fs::metadata(dir.path().join("journal.jsonl"))
            .unwrap()
            .len();
        let (_, plan) = s.plan_for("node1").unwrap();
        let r = report_for(&plan.unwrap());
        assert!(matches!(s.submit("node1", r), Ok(Accepted::New(_))));
        assert_eq!(
            std::fs::metadata(dir.path().join("journal.jsonl"))
                .unwrap()
                .len(),
            journal
        );
        assert_eq!(warned.lock().unwrap().len(), 1, "said once");
        // No temp file left, and a restart refuses the dir instead of resuming half of it.
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        drop(s);
        let e = CheckState::open(Some(dir.path())).unwrap_err();
        assert!(e.to_string().contains("cannot be resumed"), "{e}");
    }

    #[test]
    fn many_machines_sharing_a_hostname_get_distinct_stable_ids() {
        let s = CheckState::open(None).unwrap();
        let mk = |i: u32| {
            let mut o = healthy(1, None, "same");
            for l in &mut o.links {
                l.mac = Some(
                    format!("02:{:02x}:{:02x}:00:00:{:02x}", i >> 8, i & 0xff, l.ifindex).into(),
                );
            }
            o
        };
        let ids: Vec<String> = (0..2000).map(|i| reg(&s, mk(i))).collect();
        assert_eq!(ids[0], "same");
        assert_eq!(ids[1], "same-2");
        assert_eq!(ids[1999], "same-2000");
        assert_eq!(reg(&s, mk(1234)), ids[1234]);
        assert_eq!(s.registered(), 2000);
        // Linear, not quadratic: each new machine tries at most two ids (the free one the
        // last search stopped at, now taken, and the next). Walking every taken suffix, as
        // the merge had it again, tries n(n+1)/2 = 2,001,000 for these 2,000.
        let probes = s.lock().id_probes;
        assert!(
            probes <= 2 * 2000,
            "{probes} ids tried for 2,000 registrations"
        );
        // A restart rebuilds the index: the same machines get the same ids, new ones the next.
        let dir = tempfile::tempdir().unwrap();
        let s = CheckState::open(Some(dir.path())).unwrap();
        let ids: Vec<String> = (0..50).map(|i| reg(&s, mk(i))).collect();
        drop(s);
        let s = CheckState::open(Some(dir.path())).unwrap();
        assert_eq!(reg(&s, mk(7)), ids[7]);
        assert_eq!(reg(&s, mk(50)), "same-51");
        assert_eq!(reg(&s, mk(51)), "same-52");
        // The first new machine after a restart walks the taken ids once; the next is O(1).
        assert!(s.lock().id_probes <= 51 + 2, "{}", s.lock().id_probes);
    }

    #[test]
    fn a_machine_whose_id_is_another_hostname_plus_a_suffix_keeps_a_distinct_id() {
        let s = CheckState::open(None).unwrap();
        let a = reg(&s, healthy(1, None, "same"));
        let mut o = healthy(2, None, "same");
        o.links[0].mac = Some("02:99:00:00:00:01".into());
        let b = reg(&s, o);
        // A machine really called "same-2" comes after "same"'s second machine took the id.
        let c = reg(&s, healthy(3, None, "same-2"));
        assert_eq!(
            (a.as_str(), b.as_str(), c.as_str()),
            ("same", "same-2", "same-2-2")
        );
    }

    #[test]
    fn a_failed_write_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        // The target is a non-empty directory: the rename fails after the temp file is written.
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
