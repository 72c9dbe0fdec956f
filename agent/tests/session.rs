//! The agent session in-process against the coordinator's real router (and the real check
//! session), under paused time: waits, backoff and deadlines take virtual seconds.

use std::sync::Arc;
use std::time::Duration;

use preflight_agent::client::ClientError;
use preflight_agent::session::{self, AgentConfig, Event, Outcome, SessionError};
use preflight_check::plan::PlanOptions;
use preflight_check::server::{serve, ServerConfig};
use preflight_check::session::{CheckConfig, Stage};
use preflight_check::state::CheckState;
use preflight_model::observed::{Identity, Link, LinkKind, ObservedConfig, OBSERVED_SCHEMA};
use preflight_model::provider::ProviderModel;
use tokio::time::Instant;

const TOKEN: &str = "session-token";

fn observed(host: &str, n: u8) -> ObservedConfig {
    ObservedConfig {
        schema: OBSERVED_SCHEMA.into(),
        identity: Identity {
            hostname: host.into(),
            machine_id: None,
            system_id: None,
            agent_version: "t".into(),
            observed_at: "t".into(),
        },
        links: vec![Link {
            ifindex: 2,
            name: "eth0".into(),
            kind: LinkKind::Veth,
            mac: Some(format!("02:00:00:00:00:{n:02x}").into()),
            mtu: 1500,
            admin_up: true,
            oper_state: "up".into(),
            carrier: Some(true),
            master: None,
            master_ifindex: None,
            parent: None,
            parent_ifindex: None,
            vlan_id: None,
            vxlan_id: None,
            bond: None,
            bridge_ports: vec![],
        }],
        addresses: vec![],
        routes: vec![],
        default_gateways: vec![],
        resolvers: vec![],
    }
}

fn config(url: String) -> AgentConfig {
    AgentConfig {
        coordinator: url,
        token: TOKEN.into(),
        give_up_after: Duration::from_secs(30),
        plan_wait: Duration::from_secs(600),
        probe_timeout: Duration::from_secs(60),
        // One key per test agent, so a session run again is the same agent.
        client: preflight_agent::client::ClientOptions {
            agent_key: Some("test-agent-key-0123456789abcdef0123".into()),
            ..Default::default()
        },
        rails: Default::default(),
        guard_view: None,
    }
}

/// The real router on 127.0.0.1:0 over a fresh in-memory state.
async fn coordinator() -> (String, Arc<CheckState>, tokio::sync::oneshot::Sender<()>) {
    let state = Arc::new(CheckState::open(None).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(
        listener,
        state.clone(),
        ServerConfig::new(TOKEN.into()),
        async {
            let _ = rx.await;
        },
    ));
    (url, state, tx)
}

async fn until(state: &CheckState, f: impl Fn(&CheckState) -> bool) {
    let mut rx = state.subscribe();
    while !f(state) {
        rx.changed().await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn registers_polls_until_the_plan_and_sends_its_results() {
    let (url, state, _stop) = coordinator().await;
    let planner = {
        let state = state.clone();
        tokio::spawn(async move {
            until(&state, |s| s.counts().registered == 1).await;
            // The coordinator takes 20 virtual seconds to plan; the agent keeps polling.
            tokio::time::sleep(Duration::from_secs(20)).await;
            state
                .plan(&ProviderModel::default(), &PlanOptions::default())
                .unwrap();
        })
    };
    let start = Instant::now();
    let events = std::sync::Mutex::new(Vec::new());
    let out = session::run(
        &config(url),
        &observed("alpha", 1),
        |e| events.lock().unwrap().push(e),
        std::future::pending(),
    )
    .await
    .unwrap();
    planner.await.unwrap();
    assert_eq!(
        out,
        Outcome::Sent {
            agent_id: "alpha".into(),
            accepted: 0,
            duplicate: false
        }
    );
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(20) && waited < Duration::from_secs(22),
        "{waited:?}"
    );
    assert_eq!(
        *events.lock().unwrap(),
        vec![Event::Registered("alpha".into()), Event::Probing(0)]
    );
    let c = state.counts();
    assert_eq!((c.agents_planned, c.agents_reported), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_its_budget_when_nothing_listens() {
    // A port that was free a moment ago: connections are refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let start = Instant::now();
    let err = session::run(
        &config(format!("http://127.0.0.1:{port}")),
        &observed("alpha", 1),
        |_| {},
        std::future::pending(),
    )
    .await
    .unwrap_err();
    let took = start.elapsed();
    assert!(
        matches!(
            err,
            SessionError::Client(ClientError::Unreachable { secs: 30, .. })
        ),
        "{err}"
    );
    // The budget holds: retried with backoff until 30 s, not one attempt and not forever.
    assert!(
        took >= Duration::from_secs(30) && took < Duration::from_secs(31),
        "{took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_coordinator_that_comes_up_late_is_retried_until_it_answers() {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    drop(std_listener);
    let state = Arc::new(CheckState::open(None).unwrap());
    let late = {
        let state = state.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(8)).await;
            let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
            state
                .plan(&ProviderModel::default(), &PlanOptions::default())
                .unwrap();
            serve(
                listener,
                state,
                ServerConfig::new(TOKEN.into()),
                std::future::pending(),
            )
            .await
        })
    };
    // Planned before anyone registered: registration is closed, so the agent hears 409 —
    // once the coordinator is up, 8 s in: until then, refused connections are retried.
    let start = Instant::now();
    let err = session::run(
        &config(format!("http://{addr}")),
        &observed("alpha", 1),
        |_| {},
        std::future::pending(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            SessionError::Client(ClientError::Refused { status: 409, .. })
        ),
        "{err}"
    );
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(8) && took < Duration::from_secs(20),
        "{took:?}"
    );
    late.abort();
}

#[tokio::test(start_paused = true)]
async fn cancel_ends_the_session_while_it_waits_for_a_plan() {
    let (url, state, _stop) = coordinator().await;
    let start = Instant::now();
    let err = session::run(
        &config(url),
        &observed("alpha", 1),
        |_| {},
        tokio::time::sleep(Duration::from_secs(3)),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SessionError::Cancelled), "{err}");
    assert_eq!(state.counts().registered, 1);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(4),
        "{took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn no_plan_within_the_plan_wait_is_an_error_and_a_finished_check_is_not() {
    let (url, state, _stop) = coordinator().await;
    let mut cfg = config(url.clone());
    cfg.plan_wait = Duration::from_secs(5);
    let err = session::run(&cfg, &observed("alpha", 1), |_| {}, std::future::pending())
        .await
        .unwrap_err();
    assert!(matches!(err, SessionError::NoPlan(d) if d == Duration::from_secs(5)));
    state.finish();
    let out = session::run(&cfg, &observed("alpha", 1), |_| {}, std::future::pending())
        .await
        .unwrap();
    assert_eq!(
        out,
        Outcome::CheckOver {
            agent_id: "alpha".into()
        }
    );
}

/// The check session and three agent sessions in one process: two agents come at once, the
/// third never does; the check plans at its registration deadline and reports the missing one.
#[tokio::test(start_paused = true)]
async fn the_check_session_with_agent_sessions_reports_a_missing_agent_at_the_deadline() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let report_file = dir.path().join("report.json");
    let check = CheckConfig {
        unit_labels: Default::default(),
        provider: ProviderModel::default(),
        server: ServerConfig::new(TOKEN.into()),
        expect: 3,
        register_deadline: Duration::from_secs(45),
        probe_deadline: Duration::from_secs(30),
        plan: PlanOptions::default(),
        state_dir: None,
        extra_findings: vec![],
        extra_checked: vec![],
        inputs: vec!["test".into()],
        output: Some((report_file.clone(), preflight_report::Format::Json)),
        linger: Duration::from_millis(300),
        warn: preflight_check::Warn::default(),
    };
    let stages = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = stages.clone();
    let start = Instant::now();
    let coordinator = tokio::spawn(preflight_check::session::run(
        check,
        listener,
        move |p| {
            let mut s = seen.lock().unwrap();
            if s.last() != Some(&p.stage) {
                s.push(p.stage);
            }
        },
        std::future::pending(),
    ));
    let agents: Vec<_> = ["alpha", "bravo"]
        .into_iter()
        .enumerate()
        .map(|(i, h)| {
            let cfg = config(url.clone());
            tokio::spawn(async move {
                session::run(&cfg, &observed(h, i as u8), |_| {}, std::future::pending()).await
            })
        })
        .collect();
    for a in agents {
        assert!(matches!(a.await.unwrap(), Ok(Outcome::Sent { .. })));
    }
    let report = coordinator.await.unwrap().unwrap();
    let took = start.elapsed();
    // Planned at the 45 s deadline, then the two results came at once: no probe-deadline wait.
    assert!(
        took >= Duration::from_secs(45) && took < Duration::from_secs(48),
        "{took:?}"
    );
    assert_eq!(
        *stages.lock().unwrap(),
        vec![Stage::Registering, Stage::Probing, Stage::Reporting]
    );
    assert_eq!(report.exit_code(), 1);
    let missing: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.code == preflight_model::report::Code::AgentMissing)
        .collect();
    assert!(!missing.is_empty(), "{:?}", report.findings);
    // The provider is empty: the two agents match no MAAS machine, so neither counts.
    assert!(
        report.inputs.iter().any(|i| i
            == "agents: 0 of 3 expected (and 2 that match no MAAS machine, or one another agent matched)"),
        "{:?}",
        report.inputs
    );
}
