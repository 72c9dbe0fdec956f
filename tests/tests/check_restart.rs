//! `preflight check` killed with SIGKILL mid-run and restarted on the same state dir: nothing
//! already reported is lost, nothing is duplicated, and the run finishes with one report.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use preflight_model::api::{PlanResponse, RegisterResponse, ResultsAck};
use preflight_model::observed::{
    Address, AddressFlags, Family, Identity, ObservedConfig, OBSERVED_SCHEMA,
};
use preflight_model::plan::ProbePlan;
use preflight_model::probe::{ProbeReport, TargetResult, PROBE_SCHEMA};
use preflight_model::report::Report;

const TOKEN: &str = "restart-test-token";

fn http(addr: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
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
            })
            .collect(),
    })
    .unwrap()
}

fn start(dir: &Path) -> (Child, String) {
    let mut child = Command::new(preflight_e2e::binary("preflight"))
        .args(["check", "--provider"])
        .arg(preflight_e2e::fixtures().join("maas"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--expect",
            "3",
            "--quiet",
            "--format",
            "json",
        ])
        .args(["--deadline", "60", "--probe-deadline", "60", "--token-file"])
        .arg(dir.join("token"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("-o")
        .arg(dir.join("report.json"))
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("coordinator printed its address")
            .unwrap();
        if let Some(rest) = line.strip_prefix("preflight: listening on http://") {
            break rest.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

fn register(addr: &str, o: &ObservedConfig) -> String {
    let (st, body) = http(
        addr,
        "POST",
        "/v1/register",
        Some(&serde_json::json!({ "observed": o }).to_string()),
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

    let (mut first, addr) = start(&dir);
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
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    assert!(!dir.join("report.json").exists());

    let (mut second, addr) = start(&dir);
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
    let t = Instant::now();
    let status = loop {
        if let Some(s) = second.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "coordinator did not finish"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
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
    assert_eq!(
        std::fs::read_dir(dir.join("state/results"))
            .unwrap()
            .filter(|e| !e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.'))
            .count(),
        3
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
