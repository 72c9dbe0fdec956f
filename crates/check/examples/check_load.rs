//! Benchmark: the real `preflight check` binary against N simulated agents (concurrent HTTP
//! clients with synthetic observed configs and results), S spaces.
//!
//! `check_load PREFLIGHT_BIN [AGENTS] [SPACES] [FULL_MESH_MAX] [register]` (see
//! bench/check_load.sh). Prints the time from the last agent's results ack to the report file
//! on disk, and the coordinator's peak RSS (from `/usr/bin/time -f %M`). With `register`, the
//! agents only register, all at once, against `--state-dir`: it prints the time until every
//! registration is acknowledged (each answer comes only once it is durable), then kills the
//! coordinator with SIGKILL and counts the registrations its journal holds.

// A benchmark/sample driver, not an input path: a failure aborts the run with its location.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use preflight_lab::supervise::Supervised;
use preflight_model::api::{PlanResponse, RegisterResponse, ResultsAck};
use preflight_model::observed::{
    Address, AddressFlags, Family, Identity, Link, LinkKind, ObservedConfig, OBSERVED_SCHEMA,
};
use preflight_model::probe::{
    MtuResult, MtuVerdict, ProbeReport, RttStats, TargetResult, PROBE_SCHEMA,
};
use serde_json::json;

const TOKEN: &str = "bench-token";

fn mac(i: usize, s: usize) -> String {
    format!(
        "52:54:{:02x}:{:02x}:{:02x}:{:02x}",
        (i >> 8) & 0xff,
        i & 0xff,
        s,
        1
    )
}

fn ip(i: usize, s: usize) -> String {
    format!("10.{s}.{}.{}", i / 250, i % 250 + 1)
}

fn snapshot(agents: usize, spaces: usize) -> serde_json::Value {
    let vlan = |s: usize| json!({"id": 5000 + s, "vid": 10 * s, "mtu": if s == 2 { 9000 } else { 1500 }, "fabric_id": 0, "fabric": "fabric-0", "space": format!("space-{s}")});
    json!({
        "spaces": (1..=spaces).map(|s| json!({"id": s, "name": format!("space-{s}")})).collect::<Vec<_>>(),
        "fabrics": [{"id": 0, "name": "fabric-0"}],
        "vlans": {"0": (1..=spaces).map(vlan).collect::<Vec<_>>()},
        "subnets": (1..=spaces).map(|s| json!({"id": s, "name": format!("net-{s}"), "cidr": format!("10.{s}.0.0/16"), "vlan": vlan(s), "space": format!("space-{s}"), "managed": true})).collect::<Vec<_>>(),
        "machines": (0..agents).map(|i| json!({
            "system_id": format!("m{i:05}"),
            "hostname": format!("node-{i}"),
            "status_name": "Deployed",
            "interface_set": (1..=spaces).map(|s| json!({
                "id": i * 100 + s, "name": format!("eth{s}"), "type": "physical", "mac_address": mac(i, s),
                "enabled": true, "vlan": vlan(s), "effective_mtu": if s == 2 { 9000 } else { 1500 },
                "parents": [], "children": [],
                "links": [{"id": i * 100 + s, "mode": "static", "subnet": {"id": s}, "ip_address": ip(i, s)}]
            })).collect::<Vec<_>>(),
            "ip_addresses": (1..=spaces).map(|s| ip(i, s)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn observed(i: usize, spaces: usize) -> ObservedConfig {
    ObservedConfig {
        schema: OBSERVED_SCHEMA.into(),
        identity: Identity {
            hostname: format!("node-{i}"),
            machine_id: None,
            system_id: Some(format!("m{i:05}")),
            agent_version: "bench".into(),
            observed_at: "2026-01-01T00:00:00Z".into(),
        },
        links: (1..=spaces)
            .map(|s| Link {
                ifindex: s as u32 + 1,
                name: format!("eth{s}"),
                kind: LinkKind::Ethernet,
                mac: Some(mac(i, s).into()),
                mtu: if s == 2 { 9000 } else { 1500 },
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
            })
            .collect(),
        addresses: (1..=spaces)
            .map(|s| Address {
                ifindex: s as u32 + 1,
                link: format!("eth{s}"),
                address: ip(i, s).parse().unwrap(),
                prefix_len: 16,
                family: Family::Inet,
                scope: "global".into(),
                flags: AddressFlags::default(),
            })
            .collect(),
        routes: vec![],
        default_gateways: vec![],
        resolvers: vec![],
    }
}

async fn agent(client: reqwest::Client, base: String, i: usize, spaces: usize) -> Instant {
    let r: RegisterResponse = client
        .post(format!("{base}/v1/register"))
        .bearer_auth(TOKEN)
        .json(&json!({"observed": observed(i, spaces)}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = r.agent_id;
    let plan = loop {
        let p: PlanResponse = client
            .get(format!("{base}/v1/agents/{id}/plan"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        match p {
            PlanResponse::Ready { plan } => break plan,
            PlanResponse::Waiting { retry_after_ms } => {
                tokio::time::sleep(Duration::from_millis(retry_after_ms)).await
            }
            PlanResponse::Done => panic!("done too early"),
        }
    };
    let report = ProbeReport {
        schema: PROBE_SCHEMA.into(),
        agent: Some(id.clone()),
        sockets: vec![],
        started_at: "2026-01-01T00:00:00Z".into(),
        duration_ms: 400,
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
                rtt: Some(RttStats {
                    min_ms: 0.1,
                    avg_ms: 0.2,
                    max_ms: 0.3,
                    mdev_ms: 0.05,
                }),
                failure: None,
                mtu: t.mtu.map(|m| MtuResult {
                    expected_mtu: m,
                    small_ok: true,
                    large_ok: true,
                    largest_ok: None,
                    verdict: MtuVerdict::Ok,
                }),
                tcp: vec![],
                kind: Default::default(),
                macs: Vec::new(),
                dns: None,
            })
            .collect(),
    };
    let ack: ResultsAck = client
        .post(format!("{base}/v1/agents/{id}/results"))
        .bearer_auth(TOKEN)
        .json(&report)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ack.accepted, plan.targets.len());
    Instant::now()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bin = PathBuf::from(
        args.first()
            .expect("usage: check_load PREFLIGHT_BIN [AGENTS] [SPACES] [FULL_MESH_MAX]"),
    );
    let agents: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let spaces: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5);
    let mesh: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(128);
    let register_only = args.get(4).is_some_and(|a| a == "register");
    let dir = std::env::temp_dir().join(format!("preflight-check-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("token"), TOKEN).unwrap();
    std::fs::write(
        dir.join("maas.json"),
        serde_json::to_vec(&snapshot(agents, spaces)).unwrap(),
    )
    .unwrap();
    let report = dir.join("report.json");
    let t0 = Instant::now();
    let mut cmd = std::process::Command::new("/usr/bin/time");
    cmd.arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(dir.join("rss"))
        .arg(&bin)
        .args(["check", "--provider"])
        .arg(dir.join("maas.json"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--quiet",
            "--format",
            "json",
            "--token-file",
        ])
        .arg(dir.join("token"))
        .args([
            "--expect",
            &agents.to_string(),
            "--full-mesh-max",
            &mesh.to_string(),
            "--deadline",
            "600",
            "--state-dir",
        ])
        .arg(dir.join("state"))
        .arg("-o")
        .arg(&report);
    let mut child = Supervised::spawn(
        "preflight check",
        cmd,
        Some(&dir.join("coordinator.log")),
        Some(&dir.join("ready")),
    )
    .unwrap();
    let addr = child.wait_ready(Duration::from_secs(60)).unwrap();
    if register_only {
        register_burst(&mut child, &addr, agents, spaces, &dir).await;
        std::fs::remove_dir_all(&dir).ok();
        return;
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(agents)
        .build()
        .unwrap();
    let base = Arc::new(addr);
    let tasks: Vec<_> = (0..agents)
        .map(|i| tokio::spawn(agent(client.clone(), base.to_string(), i, spaces)))
        .collect();
    let mut last = t0;
    for t in tasks {
        last = last.max(t.await.unwrap());
    }
    while !report.exists() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let report_after = last.elapsed();
    let status = child
        .wait_timeout(Duration::from_secs(120))
        .unwrap()
        .expect("the coordinator exits after the report");
    let rss_kb: u64 = std::fs::read_to_string(dir.join("rss"))
        .unwrap_or_default()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    let doc: preflight_model::report::Report =
        serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    println!(
        "check_load: {agents} agents x {spaces} spaces (full mesh up to {mesh}): {} probes, {} done, {} findings, exit {:?}; report {:.3} s after the last agent's results; coordinator peak RSS {:.1} MB; whole run {:.2} s",
        doc.summary.probes_planned.unwrap_or(0),
        doc.summary.probes_done.unwrap_or(0),
        doc.findings.len(),
        status.code(),
        report_after.as_secs_f64(),
        rss_kb as f64 / 1024.0,
        t0.elapsed().as_secs_f64()
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// All agents register at once; the time until the last ack, then SIGKILL and a count of the
/// registrations on disk.
async fn register_burst(
    child: &mut Supervised,
    base: &str,
    agents: usize,
    spaces: usize,
    dir: &std::path::Path,
) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(agents)
        .build()
        .unwrap();
    let bodies: Vec<serde_json::Value> = (0..agents)
        .map(|i| json!({"observed": observed(i, spaces)}))
        .collect();
    let start = Instant::now();
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let (client, url) = (client.clone(), format!("{base}/v1/register"));
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .bearer_auth(TOKEN)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                r.json::<RegisterResponse>().await.unwrap().agent_id
            })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap());
    }
    let took = start.elapsed();
    child.kill();
    let journal = std::fs::read_to_string(dir.join("state/journal.jsonl")).unwrap_or_default();
    let on_disk = journal
        .lines()
        .filter(|l| l.starts_with("{\"registration\":"))
        .count();
    println!(
        "check_load register: {agents} agents registering at once with --state-dir: all {} acknowledged in {:.3} s; after SIGKILL the journal holds {on_disk} registrations",
        ids.len(),
        took.as_secs_f64()
    );
    assert_eq!(on_disk, agents, "an acknowledged registration was lost");
}
