//! The agent session: register with the coordinator, poll for the plan, probe, upload the
//! results — every call retried with jittered backoff by the [`Client`], the whole session
//! cancellable. The binary observes the machine, builds an [`AgentConfig`] and calls [`run`].

use std::time::Duration;

use preflight_model::api::PlanResponse;
use preflight_model::observed::ObservedConfig;
use preflight_model::probe::ProbeReport;
use tokio::time::Instant;

use crate::client::{Client, ClientError, ClientOptions};
use crate::guard::GuardRails;

/// What an agent session needs, resolved from the flags by the binary.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The coordinator's URL, e.g. `http://10.0.0.1:7700`.
    pub coordinator: String,
    /// The bearer token.
    pub token: String,
    /// Give up when the coordinator has not answered for this long.
    pub give_up_after: Duration,
    /// Longest wait for the plan while the coordinator is still gathering agents.
    pub plan_wait: Duration,
    /// Longest the probe run may take (the probe engine stops at it).
    pub probe_timeout: Duration,
    /// How to reach the coordinator (a pinned TLS fingerprint).
    pub client: ClientOptions,
    /// The guard rails every plan is held to.
    pub rails: GuardRails,
    /// This machine as the guard rails see it, when not the observed config sent (e.g. when
    /// that was replayed from a file).
    pub guard_view: Option<ObservedConfig>,
}

/// How a session ended well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Results sent and acknowledged.
    Sent {
        /// The id the coordinator gave this agent.
        agent_id: String,
        /// Target results the coordinator accepted.
        accepted: usize,
        /// The coordinator already had these results (a re-send).
        duplicate: bool,
    },
    /// The coordinator said the check was over before this agent had a plan.
    CheckOver {
        /// The id the coordinator gave this agent.
        agent_id: String,
    },
}

/// What the session tells its caller as it goes (for the binary's log lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Registered under this id.
    Registered(String),
    /// The coordinator forgot this agent (restarted without its state): registered again.
    Reregistered(String),
    /// Got a plan with this many targets; probing.
    Probing(usize),
    /// A plan setting was lowered (or raised) to the agent's limit.
    Clamped(String),
    /// The guard rails refused a target: its id, its address and why.
    Refused(String, std::net::IpAddr, String),
}

/// Why a session failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Talking to the coordinator failed (unreachable within the budget, or refused).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The coordinator kept saying "wait" for longer than the plan wait.
    #[error("no plan after {} s of waiting", .0.as_secs())]
    NoPlan(Duration),
    /// The probe run did not finish in time.
    #[error("probing {targets} targets did not finish within {} s", .limit.as_secs())]
    ProbeTimeout {
        /// Targets in the plan.
        targets: usize,
        /// The limit.
        limit: Duration,
    },
    /// The probe run failed.
    #[error("the probe run failed: {0}")]
    Probe(String),
    /// The session was cancelled.
    #[error("cancelled")]
    Cancelled,
}

/// A report of no targets (the plan was empty: nothing to probe, no sockets opened).
fn empty_report() -> ProbeReport {
    ProbeReport {
        schema: preflight_model::probe::PROBE_SCHEMA.to_string(),
        agent: None,
        sockets: Vec::new(),
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        duration_ms: 0,
        targets: Vec::new(),
    }
}

/// Runs one agent session: register `observed`, wait for the plan, probe it, send the
/// results. `events` hears each step; `cancel` completing ends the session (at any await)
/// with [`SessionError::Cancelled`].
pub async fn run(
    config: &AgentConfig,
    observed: &ObservedConfig,
    events: impl Fn(Event),
    cancel: impl std::future::Future<Output = ()>,
) -> Result<Outcome, SessionError> {
    tokio::select! {
        r = session(config, observed, &events) => r,
        _ = cancel => Err(SessionError::Cancelled),
    }
}

async fn session(
    config: &AgentConfig,
    observed: &ObservedConfig,
    events: &impl Fn(Event),
) -> Result<Outcome, SessionError> {
    let client = Client::with_options(
        &config.coordinator,
        config.token.clone(),
        config.give_up_after.max(Duration::from_secs(1)),
        &config.client,
    )?;
    let mut agent_id = client.register(observed).await?;
    events(Event::Registered(agent_id.clone()));
    let start = Instant::now();
    let mut reregistered = false;
    let plan = loop {
        match client.plan(&agent_id).await {
            Ok(PlanResponse::Ready { plan }) => break plan,
            Ok(PlanResponse::Done) => return Ok(Outcome::CheckOver { agent_id }),
            Ok(PlanResponse::Waiting { retry_after_ms }) => {
                if start.elapsed() > config.plan_wait {
                    return Err(SessionError::NoPlan(config.plan_wait));
                }
                tokio::time::sleep(Duration::from_millis(retry_after_ms.clamp(50, 30_000))).await;
            }
            // A coordinator restarted without its state forgot us: register again, once.
            Err(ClientError::Refused { status: 404, .. }) if !reregistered => {
                reregistered = true;
                agent_id = client.register(observed).await?;
                events(Event::Reregistered(agent_id.clone()));
            }
            Err(e) => return Err(e.into()),
        }
    };
    let mut plan = plan;
    let applied = crate::guard::apply(
        &mut plan,
        config.guard_view.as_ref().unwrap_or(observed),
        &config.rails,
    );
    for c in &applied.clamped {
        events(Event::Clamped(c.clone()));
    }
    for r in &applied.refused {
        events(Event::Refused(
            preflight_model::limits::printable(&r.target.id, 120),
            r.target.target,
            r.reason.clone(),
        ));
    }
    events(Event::Probing(plan.targets.len()));
    let mut report = if plan.targets.is_empty() {
        // Nothing to probe (no address in any space): report that without opening sockets.
        empty_report()
    } else {
        let limit = config.probe_timeout.max(Duration::from_secs(1));
        // The engine itself stops at the deadline (its thread ends, nothing more is sent);
        // the outer timeout is only a backstop.
        let deadline = std::time::Instant::now() + limit;
        match tokio::time::timeout(
            limit + Duration::from_secs(5),
            preflight_probe::run_plan_until(&plan, Some(deadline)),
        )
        .await
        {
            Ok(r) if std::time::Instant::now() < deadline => {
                r.map_err(|e| SessionError::Probe(e.to_string()))?
            }
            _ => {
                return Err(SessionError::ProbeTimeout {
                    targets: plan.targets.len(),
                    limit,
                })
            }
        }
    };
    report
        .targets
        .extend(applied.refused.iter().map(|r| r.result()));
    report.agent = Some(agent_id.clone());
    let ack = client.results(&agent_id, &report).await?;
    Ok(Outcome::Sent {
        agent_id,
        accepted: ack.accepted,
        duplicate: ack.duplicate,
    })
}
