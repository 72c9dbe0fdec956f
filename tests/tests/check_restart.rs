//! `preflight check` killed with SIGKILL mid-run and restarted on the same state dir: nothing
//! already reported is lost, nothing is duplicated, and the run finishes with one report.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use preflight_lab::supervise::Supervised;

use preflight_model::api::{PlanResponse, RegisterResponse, ResultsAck};
use preflight_model::observed::{
    Address, AddressFlags, Family, Identity, ObservedConfig, OBSERVED_SCHEMA,
};
use preflight_model::plan::ProbePlan;
use preflight_model::probe::{ProbeReport, TargetResult, PROBE_SCHEMA};
use preflight_model::report::Report;

const TOKEN: &str = "restart-test-token";

/// The per-agent key the test agent with this id (= its hostname) registers with.
fn key(id: &str) -> String {
    format!("{id:_<40}")
}

fn http(addr: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    // Longer than a held plan request (10 s).
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = body.unwrap_or("");
    let agent = path
        .strip_prefix("/v1/agents/")
        .and_then(|p| p.split('/').next())
        .unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nX-Preflight-Agent-Key: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        key(agent),
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn observed(host: &str, ip: &str) -> ObservedConfig {
    let address = ip.parse().unwrap();
    ObservedConfig {
        schema: OBSERVED_SCHEMA.into(),
        identity: Identity {
            hostname: host.into(),
            machine_id: None,
            system_id: None,
            agent_version: "test".into(),
            observed_at: "2026-01-01T00:00:00Z".into(),
        },
        links: vec![],
        addresses: vec![Address {
            ifindex: 2,
            link: "eth0".into(),
            address,
            prefix_len: 24,
            family: Family::Inet,
            scope: "global".into(),
            flags: AddressFlags::default(),
        }],
        routes: vec![],
        default_gateways: vec![],
        resolvers: vec![],
    }
}

fn results_for(plan: &ProbePlan) -> String {
    serde_json::to_string(&ProbeReport {
        schema: PROBE_SCHEMA.into(),
        agent: plan.agent.clone(),
        sockets: vec![],
        started_at: "2026-01-01T00:00:00Z".into(),
        duration_ms: 3,
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
                dns: None,
            })
            .collect(),
    })
    .unwrap()
}

/// Starts the coordinator on the state dir, waiting for `expect` agents; returns it and its
/// address (read from its ready file).
fn start(dir: &Path, expect: usize) -> (Supervised, String) {
    let mut cmd = Command::new(preflight_e2e::binary("preflight"));
    // A test's own MAAS snapshot when it wrote one, else the fixture's MAAS.
    let own = dir.join("maas.json");
    cmd.args(["check", "--provider"])
        .arg(if own.exists() {
            own
        } else {
            preflight_e2e::fixtures().join("maas")
        })
        .args([
            "--listen",
            "127.0.0.1:0",
            "--expect",
            &expect.to_string(),
            "--quiet",
            "--format",
            "json",
        ])
        .args(["--deadline", "60", "--probe-deadline", "60", "--token-file"])
        .arg(dir.join("token"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("-o")
        .arg(dir.join("report.json"));
    let mut child = Supervised::spawn(
        "preflight check",
        cmd,
        Some(&dir.join("coordinator.log")),
        Some(&dir.join("ready")),
    )
    .unwrap();
    let url = child.wait_ready(Duration::from_secs(30)).unwrap();
    let addr = url.trim_start_matches("http://").to_string();
    (child, addr)
}

fn register(addr: &str, o: &ObservedConfig) -> String {
    let (st, body) = http(
        addr,
        "POST",
        "/v1/register",
        Some(
            &serde_json::json!({ "observed": o, "agent_key": key(&o.identity.hostname) })
                .to_string(),
        ),
    );
    assert_eq!(st, 200, "{body}");
    serde_json::from_str::<RegisterResponse>(&body)
        .unwrap()
        .agent_id
}

fn wait_plan(addr: &str, id: &str) -> ProbePlan {
    let t = Instant::now();
    loop {
        let (st, body) = http(addr, "GET", &format!("/v1/agents/{id}/plan"), None);
        assert_eq!(st, 200, "{body}");
        match serde_json::from_str::<PlanResponse>(&body).unwrap() {
            PlanResponse::Ready { plan } => return plan,
            PlanResponse::Waiting { retry_after_ms } => {
                std::thread::sleep(Duration::from_millis(retry_after_ms))
            }
            PlanResponse::Done => panic!("done before results"),
        }
        assert!(t.elapsed() < Duration::from_secs(30), "no plan");
    }
}

fn send(addr: &str, id: &str, body: &str) -> ResultsAck {
    let (st, b) = http(
        addr,
        "POST",
        &format!("/v1/agents/{id}/results"),
        Some(body),
    );
    assert_eq!(st, 200, "{b}");
    serde_json::from_str(&b).unwrap()
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "preflight-restart-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[test]
fn kill_9_and_restart_loses_and_duplicates_nothing() {
    let dir = tempdir();
    std::fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
    let agents = [
        observed("alder", "10.11.0.201"),
        observed("birch", "10.11.0.202"),
        observed("cedar", "10.11.0.203"),
    ];

    let (mut first, addr) = start(&dir, 3);
    // Two register, one result arrives... then the coordinator dies.
    let ids: Vec<String> = agents.iter().map(|o| register(&addr, o)).collect();
    let plans: Vec<ProbePlan> = ids.iter().map(|id| wait_plan(&addr, id)).collect();
    assert!(
        plans.iter().all(|p| p
            .targets
            .iter()
            .filter(|t| t.kind == preflight_model::plan::ProbeKind::Echo)
            .count()
            == 2),
        "full mesh of 3 in oam (plus each machine's neighbour and gateway probes)"
    );
    let first_results = results_for(&plans[0]);
    assert_eq!(
        send(&addr, &ids[0], &first_results),
        ResultsAck {
            accepted: plans[0].targets.len(),
            duplicate: false
        }
    );
    first.kill(); // SIGKILL, reaped
    assert!(!dir.join("report.json").exists());

    let (mut second, addr) = start(&dir, 3);
    // The same machines get the same ids and the same plans back.
    let ids2: Vec<String> = agents.iter().map(|o| register(&addr, o)).collect();
    assert_eq!(ids, ids2);
    for (id, plan) in ids.iter().zip(&plans) {
        assert_eq!(&wait_plan(&addr, id), plan);
    }
    // The agent that had reported re-sends (it never saw the ack, say): a duplicate, not a copy.
    assert_eq!(
        send(&addr, &ids[0], &first_results),
        ResultsAck {
            accepted: plans[0].targets.len(),
            duplicate: true
        }
    );
    for (id, plan) in ids.iter().zip(&plans).skip(1) {
        assert_eq!(
            send(&addr, id, &results_for(plan)),
            ResultsAck {
                accepted: plan.targets.len(),
                duplicate: false
            }
        );
    }
    let status = second
        .wait_timeout(Duration::from_secs(30))
        .unwrap()
        .expect("coordinator did not finish");
    // Drift findings (these made-up machines do not match MAAS) fail the check, so exit 1.
    assert_eq!(status.code(), Some(1));
    let report: Report =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report.summary.agents_expected, Some(3));
    assert_eq!(report.summary.agents_reported, Some(3));
    let planned: usize = plans.iter().map(|p| p.targets.len()).sum();
    assert_eq!(report.summary.probes_planned, Some(planned));
    assert_eq!(report.summary.probes_done, Some(planned));
    let mgmt = report.spaces.iter().find(|s| s.name == "oam").unwrap();
    assert_eq!(mgmt.pairs.len(), 6);
    let mut pair_ids: Vec<&str> = mgmt.pairs.iter().map(|p| p.id.as_str()).collect();
    pair_ids.dedup();
    assert_eq!(pair_ids.len(), 6, "each probe once");
    assert!(mgmt.pairs.iter().all(|p| p.done && p.received == 3));
    assert!(
        report
            .findings
            .iter()
            .all(|f| !f.code.as_str().starts_with("probe.") && f.code != "agent.missing"),
        "{:#?}",
        report.findings
    );
    // Three uploads stored, once each, in the group-committed journal.
    let journal = std::fs::read_to_string(dir.join("state/journal.jsonl")).unwrap();
    assert_eq!(journal.matches("{\"results\":").count(), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Like [`http`], but `None` when the connection fails or breaks (the coordinator was killed).
fn try_http(addr: &str, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let agent = path
        .strip_prefix("/v1/agents/")
        .and_then(|p| p.split('/').next())
        .unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nX-Preflight-Agent-Key: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        key(agent),
        body.len()
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.get(9..12)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

/// Sends every request at once from its own thread; SIGKILLs the coordinator as soon as
/// `kill_after` of them were answered 200 (mid-burst, while batches are in flight). Returns
/// which requests got a 200, with the answer.
fn burst_then_kill(
    coord: &mut Supervised,
    addr: &str,
    requests: Vec<(String, String)>,
    kill_after: usize,
) -> Vec<Option<String>> {
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = std::sync::Arc::new(std::sync::Barrier::new(requests.len() + 1));
    let threads: Vec<_> = requests
        .into_iter()
        .map(|(path, body)| {
            let (addr, acked, start) = (addr.to_string(), acked.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                match try_http(&addr, "POST", &path, &body) {
                    Some((200, b)) => {
                        acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        Some(b)
                    }
                    _ => None,
                }
            })
        })
        .collect();
    start.wait();
    let t = Instant::now();
    while acked.load(std::sync::atomic::Ordering::SeqCst) < kill_after {
        assert!(t.elapsed() < Duration::from_secs(30), "no answers");
        std::thread::yield_now();
    }
    coord.kill();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn kill_9_mid_batch_loses_no_acknowledged_registration_or_upload() {
    let n = 150;
    let dir = tempdir();
    std::fs::write(dir.join("token"), TOKEN).unwrap();
    let agents: Vec<ObservedConfig> = (0..n)
        .map(|i| observed(&format!("burst-{i}"), &format!("172.16.1.{}", 10 + i)))
        .collect();
    // MAAS knows every machine: only those count toward --expect, so the check plans the
    // moment the last one registers.
    let machines: Vec<serde_json::Value> = (0..n)
        .map(|i| serde_json::json!({ "system_id": format!("b{i:05}"), "hostname": format!("burst-{i}"), "status_name": "Deployed" }))
        .collect();
    std::fs::write(
        dir.join("maas.json"),
        serde_json::json!({ "spaces": [], "fabrics": [], "subnets": [], "machines": machines })
            .to_string(),
    )
    .unwrap();
    let register_req = |o: &ObservedConfig| {
        (
            "/v1/register".to_string(),
            serde_json::json!({ "observed": o, "agent_key": key(&o.identity.hostname) })
                .to_string(),
        )
    };

    // 1. All register at once; killed mid-burst.
    let (mut first, addr) = start(&dir, n);
    let answers = burst_then_kill(
        &mut first,
        &addr,
        agents.iter().map(register_req).collect(),
        10,
    );
    let acked: Vec<String> = answers
        .iter()
        .flatten()
        .map(|b| {
            serde_json::from_str::<RegisterResponse>(b)
                .unwrap()
                .agent_id
        })
        .collect();
    eprintln!(
        "{} of {n} registrations acknowledged before the kill",
        acked.len()
    );
    assert!(acked.len() >= 10);

    // Every acknowledged registration survived: the restarted coordinator knows the agent
    // (a plan poll is 200, not 404) before it registers again.
    let (mut second, addr) = start(&dir, n);
    for id in &acked {
        // Not held (`wait_ms=0`): the answer only has to show the agent is known.
        let (st, body) = http(
            &addr,
            "GET",
            &format!("/v1/agents/{id}/plan?wait_ms=0"),
            None,
        );
        assert_eq!(st, 200, "{id} was acknowledged, then lost: {body}");
    }
    // 2. The rest register (the acknowledged ones again: same ids), plans are handed out,
    // and all upload at once; killed mid-burst.
    let ids: Vec<String> = agents.iter().map(|o| register(&addr, o)).collect();
    for id in &acked {
        assert!(ids.contains(id));
    }
    let plans: Vec<ProbePlan> = ids.iter().map(|id| wait_plan(&addr, id)).collect();
    let bodies: Vec<String> = plans.iter().map(results_for).collect();
    let uploads = ids
        .iter()
        .zip(&bodies)
        .map(|(id, b)| (format!("/v1/agents/{id}/results"), b.clone()))
        .collect();
    let answers = burst_then_kill(&mut second, &addr, uploads, 10);
    let uploaded: Vec<usize> = (0..n).filter(|&i| answers[i].is_some()).collect();
    eprintln!(
        "{} of {n} uploads acknowledged before the kill",
        uploaded.len()
    );

    // 3. Restarted again: every acknowledged upload is there (a re-send is a duplicate), the
    // others go in now, and the report has every probe exactly once.
    let (mut third, addr) = start(&dir, n);
    for i in 0..n {
        let ack = send(&addr, &ids[i], &bodies[i]);
        if uploaded.contains(&i) {
            assert!(
                ack.duplicate,
                "upload of {} was acknowledged, then lost",
                ids[i]
            );
        }
        assert_eq!(ack.accepted, plans[i].targets.len());
    }
    let status = third
        .wait_timeout(Duration::from_secs(60))
        .unwrap()
        .expect("coordinator did not finish");
    // MAAS knows every machine (no interfaces listed): warnings only, the check passes.
    assert_eq!(status.code(), Some(0));
    let report: Report =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let planned: usize = plans.iter().map(|p| p.targets.len()).sum();
    assert_eq!(report.summary.agents_reported, Some(n));
    assert_eq!(report.summary.probes_planned, Some(planned));
    assert_eq!(report.summary.probes_done, Some(planned));
    let pairs: usize = report.spaces.iter().map(|s| s.pairs.len()).sum();
    assert_eq!(pairs, planned, "each probe once");
    std::fs::remove_dir_all(&dir).unwrap();
}
