//! The coordinator's HTTP API against hostile and well-behaved clients, in-process on 127.0.0.1:0.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use preflight_check::plan::PlanOptions;
use preflight_check::server::{serve, ServerConfig};
use preflight_check::state::CheckState;
use preflight_model::api::{ErrorBody, PlanResponse, RegisterResponse, ResultsAck};
use preflight_model::observed::{Identity, Link, LinkKind, ObservedConfig, OBSERVED_SCHEMA};
use preflight_model::probe::{ProbeReport, TargetResult, PROBE_SCHEMA};
use preflight_model::provider::ProviderModel;
use serde_json::json;
use tokio::io::AsyncWriteExt;

const TOKEN: &str = "s3cret-token";

async fn start(
    config: ServerConfig,
) -> (
    SocketAddr,
    Arc<CheckState>,
    tokio::sync::oneshot::Sender<()>,
) {
    let state = Arc::new(CheckState::open(None).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, state.clone(), config, async {
        let _ = rx.await;
    }));
    (addr, state, tx)
}

fn observed(host: &str) -> ObservedConfig {
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
            mac: Some(format!("02:00:00:00:00:{:02x}", host.len()).into()),
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

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// The agent key the test agent named `host` registers with.
fn key(host: &str) -> String {
    format!("{host:_<40}")
}

async fn register(addr: SocketAddr, host: &str) -> String {
    let r = client()
        .post(format!("http://{addr}/v1/register"))
        .bearer_auth(TOKEN)
        .json(&json!({ "observed": observed(host), "agent_key": key(host) }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<RegisterResponse>().await.unwrap().agent_id
}

/// Two agents, with one hand-written plan target each (the provider model is empty, so the
/// plan comes from `plan_fixed`).
async fn planned() -> (
    SocketAddr,
    Arc<CheckState>,
    tokio::sync::oneshot::Sender<()>,
    String,
    String,
) {
    let (addr, state, tx) = start(ServerConfig::new(TOKEN.into())).await;
    let a = register(addr, "alpha").await;
    let b = register(addr, "bravo").await;
    state
        .plan(&ProviderModel::default(), &PlanOptions::default())
        .unwrap();
    {
        let mut plan = state.with_outcome(|o| o.plan.clone());
        for (id, other) in [(&a, "10.0.0.2"), (&b, "10.0.0.1")] {
            let p = plan.per_agent.get_mut(id).unwrap();
            p.targets.push(preflight_model::plan::PlannedTarget {
                id: format!("s/{id}>{other}"),
                space: "s".into(),
                source: "10.0.0.9".parse().unwrap(),
                target: other.parse().unwrap(),
                device: None,
                mtu: None,
                tcp_ports: vec![],
                target_machine: None,
                expect: Default::default(),
                kind: Default::default(),
            });
            plan.probes += 1;
        }
        state.install_plan(plan);
    }
    (addr, state, tx, a, b)
}

fn results_for(agent: &str, probe_id: &str) -> ProbeReport {
    ProbeReport {
        schema: PROBE_SCHEMA.into(),
        agent: Some(agent.into()),
        sockets: vec![],
        started_at: "t".into(),
        duration_ms: 1,
        targets: vec![TargetResult {
            id: Some(probe_id.into()),
            space: Some("s".into()),
            source: None,
            target: "10.0.0.2".parse().unwrap(),
            expect: Default::default(),
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
            dns: None,
        }],
    }
}

#[tokio::test]
async fn no_or_bad_token_is_401_with_a_json_body() {
    let (addr, state, _tx) = start(ServerConfig::new(TOKEN.into())).await;
    let url = format!("http://{addr}/v1/register");
    let body = json!({ "observed": observed("x") });
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Bearer s3cret-toke"),
        Some("Basic czNjcmV0LXRva2Vu"),
        Some(TOKEN),
    ] {
        let mut req = client().post(&url).json(&body);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let e: ErrorBody = r.json().await.unwrap();
        assert!(!e.error.contains(TOKEN));
    }
    let r = client()
        .get(format!("http://{addr}/v1/agents/x/plan"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(state.registered(), 0, "nothing got in");
}

#[tokio::test]
async fn oversized_body_is_413() {
    let mut cfg = ServerConfig::new(TOKEN.into());
    cfg.register_limit = 64 * 1024;
    let (addr, state, _tx) = start(cfg).await;
    let mut o = observed("big");
    o.identity.agent_version = "x".repeat(200 * 1024);
    let r = client()
        .post(format!("http://{addr}/v1/register"))
        .bearer_auth(TOKEN)
        .json(&json!({ "observed": o }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let e: ErrorBody = r.json().await.unwrap();
    assert!(e.error.contains("too large"), "{e:?}");
    assert_eq!(state.registered(), 0);
}

#[tokio::test]
async fn malformed_json_is_400_naming_the_field() {
    let (addr, state, _tx) = start(ServerConfig::new(TOKEN.into())).await;
    let url = format!("http://{addr}/v1/register");
    let post = |body: String| {
        client()
            .post(&url)
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    // wrong type deep inside
    let mut v = serde_json::to_value(json!({ "observed": observed("x") })).unwrap();
    v["observed"]["links"][0]["mtu"] = json!("big");
    let r = post(v.to_string()).await.unwrap();
    assert_eq!(r.status(), 400);
    let e: ErrorBody = r.json().await.unwrap();
    assert_eq!(e.field.as_deref(), Some("observed.links[0].mtu"), "{e:?}");

    // missing field
    let mut v = serde_json::to_value(json!({ "observed": observed("x") })).unwrap();
    v["observed"]["identity"]
        .as_object_mut()
        .unwrap()
        .remove("hostname");
    let e: ErrorBody = post(v.to_string()).await.unwrap().json().await.unwrap();
    assert_eq!(e.field.as_deref(), Some("observed.identity"), "{e:?}");
    assert!(e.error.contains("hostname"), "{e:?}");

    // wrong schema
    let mut v = serde_json::to_value(json!({ "observed": observed("x") })).unwrap();
    v["observed"]["schema"] = json!("preflight.observed/v9");
    let r = post(v.to_string()).await.unwrap();
    assert_eq!(r.status(), 400);
    let e: ErrorBody = r.json().await.unwrap();
    assert_eq!(e.field.as_deref(), Some("observed.schema"));

    // garbage and truncated documents
    for body in [
        "not json at all",
        "{\"observed\": {\"schema\":",
        "",
        "[]",
        "\u{0}\u{1}",
    ] {
        let r = post(body.to_string()).await.unwrap();
        assert_eq!(r.status(), 400, "{body:?}");
        let e: ErrorBody = r.json().await.unwrap();
        assert!(e.error.starts_with("invalid JSON"), "{e:?}");
    }
    assert_eq!(state.registered(), 0);
}

#[tokio::test]
async fn plan_waits_then_is_ready_and_unknown_agents_get_404() {
    let mut config = ServerConfig::new(TOKEN.into());
    config.plan_hold = std::time::Duration::from_millis(200);
    let (addr, state, _tx) = start(config).await;
    let a = register(addr, "alpha").await;
    let get = |id: String| {
        client()
            .get(format!("http://{addr}/v1/agents/{id}/plan"))
            .bearer_auth(TOKEN)
            .header("x-preflight-agent-key", key(&id))
            .send()
    };
    let p: PlanResponse = get(a.clone()).await.unwrap().json().await.unwrap();
    assert!(matches!(p, PlanResponse::Waiting { retry_after_ms } if retry_after_ms > 0));
    assert_eq!(get("nobody".into()).await.unwrap().status(), 404);
    state
        .plan(&ProviderModel::default(), &PlanOptions::default())
        .unwrap();
    let p: PlanResponse = get(a.clone()).await.unwrap().json().await.unwrap();
    assert!(
        matches!(p, PlanResponse::Ready { ref plan } if plan.agent.as_deref() == Some(a.as_str()))
    );
    // registration is closed for new machines, open for known ones
    let r = client()
        .post(format!("http://{addr}/v1/register"))
        .bearer_auth(TOKEN)
        .json(&json!({ "observed": observed("charlie") }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(register(addr, "alpha").await, a);
    state.finish();
    let p: PlanResponse = get(a).await.unwrap().json().await.unwrap();
    assert_eq!(p, PlanResponse::Done);
}

#[tokio::test]
async fn a_held_plan_request_answers_the_moment_the_plan_exists() {
    // Held up to 30 s; the plan is made 300 ms in: the answer is the plan, well before.
    let mut config = ServerConfig::new(TOKEN.into());
    config.plan_hold = std::time::Duration::from_secs(30);
    let (addr, state, _tx) = start(config).await;
    let a = register(addr, "alpha").await;
    let url = format!("http://{addr}/v1/agents/{a}/plan");
    let t = std::time::Instant::now();
    let agent_key = key(&a);
    let pending = tokio::spawn(async move {
        client()
            .get(url)
            .bearer_auth(TOKEN)
            .header("x-preflight-agent-key", agent_key)
            .send()
            .await
            .unwrap()
            .json::<PlanResponse>()
            .await
            .unwrap()
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // Another registration does not end the hold (only a phase change does).
    register(addr, "bravo").await;
    assert!(!pending.is_finished());
    state
        .plan(&ProviderModel::default(), &PlanOptions::default())
        .unwrap();
    let p = pending.await.unwrap();
    assert!(matches!(p, PlanResponse::Ready { .. }), "{p:?}");
    assert!(t.elapsed() < std::time::Duration::from_secs(20));
}

#[tokio::test]
async fn results_only_for_own_plan_and_resends_are_idempotent() {
    let (addr, state, _tx, a, b) = planned().await;
    let url = |id: &str| format!("http://{addr}/v1/agents/{id}/results");
    let send = |id: String, body: ProbeReport| {
        client()
            .post(url(&id))
            .bearer_auth(TOKEN)
            .header("x-preflight-agent-key", key(&id))
            .json(&body)
            .send()
    };

    // a's probe id sent as b's results → 403 naming the field
    let mut stolen = results_for(&b, &format!("s/{a}>10.0.0.2"));
    stolen.agent = None;
    let r = send(b.clone(), stolen).await.unwrap();
    assert_eq!(r.status(), 403);
    let e: ErrorBody = r.json().await.unwrap();
    assert_eq!(e.field.as_deref(), Some("targets[0].id"));
    // results claiming another agent → 403 on "agent"
    let r = send(b.clone(), results_for(&a, &format!("s/{b}>10.0.0.1")))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // unregistered agent → 404
    assert_eq!(
        send("ghost".into(), results_for("ghost", "x"))
            .await
            .unwrap()
            .status(),
        404
    );

    let good = results_for(&a, &format!("s/{a}>10.0.0.2"));
    let ack: ResultsAck = send(a.clone(), good.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ack,
        ResultsAck {
            accepted: 1,
            duplicate: false
        }
    );
    for _ in 0..3 {
        let ack: ResultsAck = send(a.clone(), good.clone())
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            ack,
            ResultsAck {
                accepted: 1,
                duplicate: true
            }
        );
    }
    let mut other = good.clone();
    other.targets[0].received = 1;
    assert_eq!(send(a.clone(), other).await.unwrap().status(), 409);
    let c = state.counts();
    assert_eq!(
        (
            c.agents_planned,
            c.agents_reported,
            c.probes_planned,
            c.probes_done
        ),
        (2, 1, 2, 1)
    );
}

#[tokio::test]
async fn a_slow_client_does_not_block_others_and_times_out() {
    let mut cfg = ServerConfig::new(TOKEN.into());
    cfg.request_timeout = Duration::from_millis(1500);
    let (addr, _state, _tx) = start(cfg).await;
    // A client that sends headers and a trickle of body, then stalls.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(
        format!("POST /v1/register HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{\"obs").as_bytes(),
    )
    .await
    .unwrap();
    // Others are served meanwhile, promptly.
    let t = Instant::now();
    for i in 0..5 {
        register(addr, &format!("quick{i}")).await;
    }
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    // And the slow one is cut off with 408.
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut slow, &mut buf),
    )
    .await
    .expect("the server answers the slow client")
    .unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
}

#[tokio::test]
async fn unknown_routes_are_404_json() {
    let (addr, _state, _tx) = start(ServerConfig::new(TOKEN.into())).await;
    let r = client()
        .get(format!("http://{addr}/v2/register"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let e: ErrorBody = r.json().await.unwrap();
    assert!(e.error.contains("/v1"));
}

#[tokio::test]
async fn oversized_identity_strings_are_400_naming_the_field() {
    let (addr, state, _tx) = start(ServerConfig::new(TOKEN.into())).await;
    let post = |o: ObservedConfig| {
        client()
            .post(format!("http://{addr}/v1/register"))
            .bearer_auth(TOKEN)
            .json(&json!({ "observed": o }))
            .send()
    };
    let mut o = observed("x");
    o.identity.hostname = "h".repeat(300);
    let r = post(o).await.unwrap();
    assert_eq!(r.status(), 400);
    let e: ErrorBody = r.json().await.unwrap();
    assert_eq!(
        e.field.as_deref(),
        Some("observed.identity.hostname"),
        "{e:?}"
    );
    let mut o = observed("x");
    o.links[0].name = "n".repeat(1000);
    let e: ErrorBody = post(o).await.unwrap().json().await.unwrap();
    assert_eq!(e.field.as_deref(), Some("observed.links[0].name"), "{e:?}");
    // A 4 MiB hostname does not even get parsed: the body limit is 1 MiB.
    let mut o = observed("x");
    o.identity.hostname = "h".repeat(4 << 20);
    assert_eq!(post(o).await.unwrap().status(), 413);
    assert_eq!(state.registered(), 0);
}

#[tokio::test]
async fn plan_and_results_need_the_agents_own_key() {
    let (addr, state, _tx, a, b) = planned().await;
    let plan = |id: &str, key: Option<String>| {
        let mut r = client()
            .get(format!("http://{addr}/v1/agents/{id}/plan"))
            .bearer_auth(TOKEN);
        if let Some(k) = key {
            r = r.header("x-preflight-agent-key", k);
        }
        r.send()
    };
    assert_eq!(plan(&a, Some(key(&a))).await.unwrap().status(), 200);
    for k in [None, Some(key(&b)), Some("z".repeat(40))] {
        let r = plan(&a, k.clone()).await.unwrap();
        assert_eq!(r.status(), 403, "{k:?}");
        let e: ErrorBody = r.json().await.unwrap();
        assert_eq!(e.field.as_deref(), Some("x-preflight-agent-key"));
    }
    // b's key cannot upload a's results either.
    let r = client()
        .post(format!("http://{addr}/v1/agents/{a}/results"))
        .bearer_auth(TOKEN)
        .header("x-preflight-agent-key", key(&b))
        .json(&results_for(&a, &format!("s/{a}>10.0.0.2")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(state.counts().agents_reported, 0);
    // Re-registering a's machine with another key is refused.
    let r = client()
        .post(format!("http://{addr}/v1/register"))
        .bearer_auth(TOKEN)
        .json(&json!({ "observed": observed("alpha"), "agent_key": key("intruder") }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
}

#[tokio::test]
async fn wrong_methods_are_405_with_a_json_body() {
    let (addr, _state, _tx) = start(ServerConfig::new(TOKEN.into())).await;
    let r = client()
        .get(format!("http://{addr}/v1/register"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let e: ErrorBody = r.json().await.unwrap();
    assert!(e.error.contains("POST /v1/register"), "{e:?}");
}

#[tokio::test]
async fn idle_connections_past_the_cap_are_evicted_and_agents_still_get_in() {
    let mut cfg = ServerConfig::new(TOKEN.into());
    cfg.conn.max_connections = 32;
    cfg.conn.idle_timeout = Duration::from_secs(2);
    let (addr, state, _tx) = start(cfg).await;
    // 200 idle sockets, half of them with a request head trickled in part.
    let mut idle = Vec::new();
    for i in 0..200 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        if i % 2 == 0 {
            s.write_all(b"POST /v1/register HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
        }
        idle.push(s);
    }
    let t = Instant::now();
    for i in 0..5 {
        register(addr, &format!("genuine{i}")).await;
    }
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(state.registered(), 5);
    // The idle ones are closed: evicted, or timed out after 2 s.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut closed = 0;
    for s in &mut idle {
        let mut b = [0u8; 64];
        if let Ok(Ok(0)) | Ok(Err(_)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::io::AsyncReadExt::read(s, &mut b),
        )
        .await
        {
            closed += 1;
        }
    }
    assert_eq!(closed, 200);
}

#[tokio::test]
async fn concurrent_uploads_share_one_budget() {
    let mut cfg = ServerConfig::new(TOKEN.into());
    cfg.upload_budget = 1 << 20;
    cfg.request_timeout = Duration::from_secs(2);
    let (addr, _state, _tx) = start(cfg).await;
    // One upload declares 900 KiB and stalls after the head: it holds 900 KiB of the budget.
    let mut hog = tokio::net::TcpStream::connect(addr).await.unwrap();
    hog.write_all(
        format!("POST /v1/register HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{{", 900 << 10).as_bytes(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A second one that would take the total past 1 MiB waits until the hog's request times
    // out (408) and gives its share back.
    let mut o = observed("second");
    o.links = (0..2000)
        .map(|i| {
            let mut l = o.links[0].clone();
            l.ifindex = i;
            l
        })
        .collect();
    let body = serde_json::to_vec(&json!({ "observed": o })).unwrap();
    assert!(body.len() > 200 << 10, "{}", body.len());
    let t = Instant::now();
    let r = client()
        .post(format!("http://{addr}/v1/register"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let waited = t.elapsed();
    let mut head = [0u8; 64];
    let n = tokio::io::AsyncReadExt::read(&mut hog, &mut head)
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&head[..n])
    );
    assert_eq!(r.status(), 200);
    assert!(waited >= Duration::from_millis(1500), "{waited:?}");
}

#[tokio::test]
async fn results_without_the_key_are_refused_before_the_body_is_read() {
    let (addr, _state, _tx, a, _b) = planned().await;
    // Declares 30 MiB, sends only the head: the 403 comes at once, not after a body.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("POST /v1/agents/{a}/results HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{{", 30 << 20).as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(
        Duration::from_secs(3),
        tokio::io::AsyncReadExt::read(&mut s, &mut buf),
    )
    .await
    .expect("answered without the body")
    .unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    // Too large with the key: 413.
    let r = client()
        .post(format!("http://{addr}/v1/agents/{a}/results"))
        .bearer_auth(TOKEN)
        .header("x-preflight-agent-key", key(&a))
        .body(vec![b' '; (32 << 20) + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

#[tokio::test]
async fn wait_ms_shortens_the_plan_hold_and_must_be_a_number() {
    let mut config = ServerConfig::new(TOKEN.into());
    config.plan_hold = std::time::Duration::from_secs(30);
    let (addr, _state, _tx) = start(config).await;
    let a = register(addr, "alpha").await;
    let get = |q: &str| {
        client()
            .get(format!("http://{addr}/v1/agents/{a}/plan{q}"))
            .bearer_auth(TOKEN)
            .header("x-preflight-agent-key", key(&a))
            .send()
    };
    let t = std::time::Instant::now();
    let p: PlanResponse = get("?wait_ms=0").await.unwrap().json().await.unwrap();
    assert!(matches!(p, PlanResponse::Waiting { .. }), "{p:?}");
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
    let t = std::time::Instant::now();
    let p: PlanResponse = get("?wait_ms=300").await.unwrap().json().await.unwrap();
    assert!(matches!(p, PlanResponse::Waiting { .. }), "{p:?}");
    assert!(t.elapsed() >= std::time::Duration::from_millis(300));
    let r = get("?wait_ms=soon").await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("wait_ms"));
}
