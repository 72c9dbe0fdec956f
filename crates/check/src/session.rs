//! The check session: serve the agents' API, wait for registrations, plan, wait for results,
//! build the report. The binary resolves flags into a [`CheckConfig`] (secrets read, provider
//! loaded, `--isolate` checked, bundle validated) and calls [`run`]; everything between is
//! here, so it can be tested in-process (under paused time) without spawning the binary.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use preflight_model::provider::ProviderModel;
use preflight_model::report::{Checked, Finding, Report};
use tokio::time::Instant;

use crate::plan::PlanOptions;
use crate::server::{serve, ServerConfig};
use crate::state::{CheckState, ReportExtras};
use crate::{CheckError, Warn};

/// Everything a check session needs, resolved from the flags by the binary.
#[derive(Debug, Clone)]
pub struct CheckConfig {
    /// MAAS's model, loaded.
    pub provider: ProviderModel,
    /// The HTTP server's settings (token, limits, timeouts).
    pub server: ServerConfig,
    /// Agents to wait for before planning (`--expect`).
    pub expect: usize,
    /// `--unit-label HOSTNAME=UNIT`: the units of a deployment by the machine they run on, so
    /// a missing agent is named by its unit (the charm gives them).
    pub unit_labels: std::collections::BTreeMap<String, String>,
    /// How long to wait for the agents to register (`--deadline`).
    pub register_deadline: Duration,
    /// How long to wait for results once the plans are out (`--probe-deadline`).
    pub probe_deadline: Duration,
    /// How the probes are planned.
    pub plan: PlanOptions,
    /// Where registrations, the plan and results are kept (`--state-dir`), if anywhere.
    pub state_dir: Option<PathBuf>,
    /// Findings of steps run before the session (bundle validation).
    pub extra_findings: Vec<Finding>,
    /// Checks evaluated before the session (bundle validation).
    pub extra_checked: Vec<Checked>,
    /// The inputs, named for the report's reader (bundle files, MAAS URL or snapshot).
    pub inputs: Vec<String>,
    /// Where the session writes the report (streamed, atomically and durably) before it
    /// stops serving, and in which format; `None` leaves writing it to the caller.
    pub output: Option<(PathBuf, preflight_report::Format)>,
    /// How long to keep answering after the report is written, so polling agents hear
    /// that the check is over.
    pub linger: Duration,
    /// Where warnings go (a state dir that cannot be written, plans past the agents' caps).
    pub warn: Warn,
}

/// Which wait the session is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Waiting for agents to register.
    Registering,
    /// Plans handed out; waiting for results.
    Probing,
    /// Building and returning the report.
    Reporting,
}

/// How far the check has come, as the session reports it while waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Which wait.
    pub stage: Stage,
    /// Agents registered.
    pub registered: usize,
    /// Of them, those that count toward `--expect` (each matches a MAAS machine no other
    /// agent matched; agents MAAS does not know are reported, not counted).
    pub matched: usize,
    /// Agents expected.
    pub expected: usize,
    /// Agents with a plan.
    pub agents_planned: usize,
    /// Of them, those whose results are in.
    pub agents_reported: usize,
    /// Probes planned.
    pub probes_planned: usize,
    /// Probes with results.
    pub probes_done: usize,
    /// Time left before the current deadline.
    pub left: Duration,
}

impl Progress {
    /// One line for a progress display.
    pub fn message(&self) -> String {
        match self.stage {
            Stage::Registering if self.registered > self.matched => format!(
                "agents registered {}/{} (+{} unknown to MAAS), {} s left",
                self.matched,
                self.expected,
                self.registered - self.matched,
                self.left.as_secs()
            ),
            Stage::Registering => format!(
                "agents registered {}/{}, {} s left",
                self.matched,
                self.expected,
                self.left.as_secs()
            ),
            Stage::Probing => format!(
                "probes done {}/{}, agents reported {}/{}, {} s left",
                self.probes_done,
                self.probes_planned,
                self.agents_reported,
                self.agents_planned,
                self.left.as_secs()
            ),
            Stage::Reporting => "building the report".to_string(),
        }
    }
}

fn snapshot(state: &CheckState, stage: Stage, expected: usize, left: Duration) -> Progress {
    let c = state.counts();
    Progress {
        stage,
        registered: c.registered,
        matched: c.matched,
        expected,
        agents_planned: c.agents_planned,
        agents_reported: c.agents_reported,
        probes_planned: c.probes_planned,
        probes_done: c.probes_done,
        left,
    }
}

/// Waits until `done(progress)` or the deadline or shutdown, reporting progress; true when done.
async fn wait_until(
    state: &CheckState,
    stage: Stage,
    expected: usize,
    deadline: Instant,
    progress: &(impl Fn(&Progress) + ?Sized),
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
    done: impl Fn(&Progress) -> bool,
) -> bool {
    let mut rx = state.subscribe();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let p = snapshot(state, stage, expected, left);
        progress(&p);
        if done(&p) {
            return true;
        }
        if left.is_zero() || *shutdown.borrow() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::timeout(left.min(Duration::from_millis(250)), rx.changed()) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Runs one check: serves the agents' API on `listener`, waits for `expect` agents (or the
/// registration deadline), plans, waits for their results (or the probe deadline), and
/// returns the report (written to [`CheckConfig::output`] first, when given, so the report
/// is on disk before the server's linger). `progress` is called on every change (and a few times a second);
/// `shutdown` completing ends both waits early (the report is built from what came).
pub async fn run(
    config: CheckConfig,
    listener: tokio::net::TcpListener,
    progress: impl Fn(&Progress) + Send + Sync,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Report, CheckError> {
    let state =
        Arc::new(CheckState::open(config.state_dir.as_deref())?.with_warn(config.warn.clone()));
    // At most --expect agents that match a MAAS machine, and as many that match none.
    state.set_admission(config.expect, &config.provider);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        state.clone(),
        config.server.clone(),
        async {
            let _ = stop_rx.await;
        },
    ));
    let (cancel_tx, mut cancel) = tokio::sync::watch::channel(false);
    let cancel_task = tokio::spawn(async move {
        shutdown.await;
        let _ = cancel_tx.send(true);
    });

    let expect = config.expect;
    if !state.is_planned() {
        let deadline = Instant::now() + config.register_deadline;
        wait_until(
            &state,
            Stage::Registering,
            expect,
            deadline,
            &progress,
            &mut cancel,
            |p| p.matched >= expect,
        )
        .await;
    }
    let plan_state = state.clone();
    let provider = Arc::new(config.provider);
    let plan_provider = provider.clone();
    let opts = config.plan.clone();
    tokio::task::spawn_blocking(move || plan_state.plan(&plan_provider, &opts))
        .await
        .map_err(|e| CheckError::State(format!("planning crashed: {e}")))??;
    // Settings every agent would refuse are refused at the command line; what depends on
    // the plan's size (echo requests per plan) is known only now: say it before the agents do.
    for w in state.with_outcome(|o| o.plan.over_agent_caps()) {
        config.warn.say(&w);
    }
    let deadline = Instant::now() + config.probe_deadline;
    wait_until(
        &state,
        Stage::Probing,
        expect,
        deadline,
        &progress,
        &mut cancel,
        |p| p.agents_reported >= p.agents_planned,
    )
    .await;
    state.finish();
    progress(&snapshot(&state, Stage::Reporting, expect, Duration::ZERO));

    let report = state.report(
        &provider,
        ReportExtras {
            expected: expect,
            unit_labels: config.unit_labels,
            extra_findings: config.extra_findings,
            extra_checked: config.extra_checked,
            inputs: config.inputs,
        },
    );
    if let Some((path, format)) = &config.output {
        preflight_report::write_file(&report, *format, false, path).map_err(|error| {
            CheckError::Output {
                path: path.clone(),
                error,
            }
        })?;
    }
    // Let agents still polling hear that the check is over, then stop serving.
    tokio::time::sleep(config.linger).await;
    let _ = stop_tx.send(());
    cancel_task.abort();
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use preflight_model::plan::{PlannedTarget, ProbePlan, ProbeSettings, PLAN_SCHEMA};

    #[tokio::test]
    async fn a_plan_past_the_agents_packet_cap_is_warned_about_before_it_goes_out() {
        // A resumed check whose stored plan asks one agent for 1,000 x 2 x 1,001 echo requests,
        // past the 2,000,000 every agent runs by default.
        let dir = tempfile::tempdir().unwrap();
        let target = |i: u32| PlannedTarget {
            id: format!("t{i}"),
            space: "s".into(),
            source: "10.0.0.1".parse().unwrap(),
            target: "10.0.0.2".parse().unwrap(),
            device: None,
            mtu: None,
            tcp_ports: vec![],
            target_machine: None,
            expect: Default::default(),
            kind: Default::default(),
        };
        let plan = ProbePlan {
            schema: PLAN_SCHEMA.into(),
            agent: Some("big".into()),
            settings: ProbeSettings {
                count: 1000,
                retries: 1,
                ..ProbeSettings::default()
            },
            targets: (0..1001).map(target).collect(),
        };
        let stored =
            serde_json::json!({ "probes": 1001, "per_agent": { "big": plan }, "cross": [] });
        std::fs::write(dir.path().join("plan.json"), stored.to_string()).unwrap();
        let warned = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let w = warned.clone();
        let config = CheckConfig {
            unit_labels: Default::default(),
            provider: ProviderModel::default(),
            server: ServerConfig::new("t".repeat(32)),
            expect: 1,
            register_deadline: Duration::ZERO,
            probe_deadline: Duration::ZERO,
            plan: PlanOptions::default(),
            state_dir: Some(dir.path().to_path_buf()),
            extra_findings: vec![],
            extra_checked: vec![],
            inputs: vec![],
            output: None,
            linger: Duration::ZERO,
            warn: Warn::to(move |m| w.lock().unwrap().push(m.to_string())),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        run(config, listener, |_| {}, std::future::pending())
            .await
            .unwrap();
        let w = warned.lock().unwrap().clone();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("agent big asks for 2002000") && w[0].contains("--max-packets"),
            "{w:?}"
        );
    }
}
