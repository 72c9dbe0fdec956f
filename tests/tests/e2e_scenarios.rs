//! End to end on real namespaces with the real binaries: `preflight demo --scenario NAME`
//! builds the lab, serves its MAAS snapshot with `preflight maas serve`, runs `preflight check`
//! and one `preflight-agent run` per host. Each finding-code scenario must produce exactly the
//! findings its `[[expect]]` lists (codes and subjects), the healthy ones none at all.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use preflight_lab::{expect, scenarios};
use preflight_model::report::{Code, Report, Status};

/// Echo requests per probe for a scenario: its `[check] count`, else 3.
fn scenario_count(name: &str) -> u32 {
    scenarios::load(name)
        .ok()
        .and_then(|t| t.check.count)
        .unwrap_or(3)
}

/// Runs `preflight demo` on a scenario and returns its exit code and JSON report.
fn demo(name: &str, extra: &[&str]) -> (i32, Report) {
    assert!(
        preflight_lab::netns::can_create(),
        "end-to-end tests need root and iproute2"
    );
    let out =
        std::env::temp_dir().join(format!("preflight-e2e-{}-{name}.json", std::process::id()));
    let _ = std::fs::remove_file(&out);
    let bin = preflight_e2e::binary("preflight");
    assert!(bin.exists(), "build the binaries first: {}", bin.display());
    let mut child = Command::new(&bin)
        .args([
            "demo",
            "--scenario",
            name,
            "--quiet",
            "--format",
            "json",
            "-o",
        ])
        .arg(&out)
        // Three echo requests per probe (fast), unless the scenario needs its own count (the
        // loss scenario: with 3 a lossy port often looks clean, which no diagnosis can see).
        .args(["--count", &scenario_count(name).to_string()])
        .args(["--timeout-ms", "300", "--probe-deadline", "60"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn preflight demo");
    let pid = child.id();
    let limit = Duration::from_secs(240);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > limit {
            // SIGTERM first, so the demo tears its lab down.
            let _ = Command::new("kill").arg(pid.to_string()).status();
            std::thread::sleep(Duration::from_secs(5));
            let _ = child.kill();
            panic!("preflight demo --scenario {name} took longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = child
        .stderr
        .take()
        .map(|mut e| {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).ok();
            s
        })
        .unwrap_or_default();
    // The demo removed every namespace it made.
    let left = namespaces_of(pid);
    assert!(left.is_empty(), "{name}: namespaces left behind: {left:?}");
    let code = status.code().unwrap_or(-1);
    let text = std::fs::read_to_string(&out)
        .unwrap_or_else(|e| panic!("{name}: no report ({e}); exit {code}; stderr:\n{stderr}"));
    let _ = std::fs::remove_file(&out);
    let report: Report = serde_json::from_str(&text).expect("report JSON");
    (code, report)
}

/// Runs a scenario and asserts exactly its expected findings and the matching exit code.
fn scenario(name: &str) -> Report {
    let topology = scenarios::load(name).expect("scenario");
    let (code, report) = demo(name, &[]);
    if let Err(m) = expect::compare(&topology, &report.findings) {
        let all: Vec<String> = report
            .findings
            .iter()
            .map(|f| {
                format!(
                    "  {:?} {} {:?}: {}",
                    f.severity, f.code, f.subject, f.message
                )
            })
            .collect();
        let pairs: Vec<String> = report
            .spaces
            .iter()
            .flat_map(|s| {
                s.pairs.iter().map(move |p| {
                    format!(
                        "  {} {} -> {}: {}/{} {:?} {:?}",
                        s.name,
                        p.source_machine,
                        p.target_machine,
                        p.received,
                        p.sent,
                        p.failure,
                        p.mtu.map(|m| m.verdict)
                    )
                })
            })
            .collect();
        panic!(
            "{name}: findings differ from the scenario's expectations:\n{m}all findings:\n{}\npairs:\n{}\nsummary: {:?}",
            all.join("\n"),
            pairs.join("\n"),
            report.summary
        );
    }
    let expected_status = expect::expected_status(&topology);
    assert_eq!(report.summary.status, expected_status, "{name}");
    assert_eq!(
        code,
        if expected_status == Status::Pass {
            0
        } else {
            1
        },
        "{name}: exit code"
    );
    report
}

#[test]
fn healthy_lab_has_zero_findings() {
    let r = scenario("healthy");
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert_eq!(r.summary.agents_reported, Some(5));
    // Every planned probe came back.
    assert_eq!(r.summary.probes_planned, r.summary.probes_done);
    assert!(r.summary.probes_done.unwrap_or(0) > 0);
}

#[test]
fn openstack_default_demo_fails_with_its_two_faults() {
    let r = scenario("openstack");
    let codes: std::collections::BTreeSet<&str> =
        r.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(
        codes.into_iter().collect::<Vec<_>>(),
        [
            "cause.interface",
            "probe.mtu-blackhole",
            "probe.unreachable"
        ]
    );
    // Two faults, two causes, explaining every failing pair.
    let d = r.diagnosis.as_ref().expect("diagnosis");
    assert_eq!(d.causes.len(), 2, "{d:#?}");
    assert_eq!(d.explained_pairs, d.failing_pairs);
}

/// Runs a diagnosis scenario: exactly its findings (pair findings and causes), and causes that
/// explain every failing pair; returns the causes.
fn causes(name: &str) -> Vec<preflight_model::report::Cause> {
    let r = scenario(name);
    let d = r.diagnosis.expect("a check report carries its diagnosis");
    assert_eq!(d.explained_pairs, d.failing_pairs, "{name}: {d:#?}");
    assert!(d.failing_pairs > 0, "{name}");
    for c in &d.causes {
        assert!(!c.pairs.is_empty() && !c.fix.is_empty(), "{c:#?}");
    }
    d.causes
}

#[test]
fn cause_vlan_missing_on_one_trunk() {
    let c = causes("cause-vlan-missing");
    assert_eq!(c.len(), 1);
    assert!(c[0].indistinguishable.is_empty(), "{c:#?}");
}

#[test]
fn cause_machine_cut_off_on_every_nic() {
    let c = causes("cause-machine-dead");
    assert_eq!(c.len(), 1, "{c:#?}");
    assert_eq!(c[0].code, Code::CauseMachine);
    assert_eq!(c[0].subject.machine.as_deref(), Some("node2"));
    assert_eq!(c[0].spaces, ["data", "internal", "oam", "storage"]);
}

#[test]
fn cause_vlan_carried_by_no_trunk() {
    let c = causes("cause-vlan-dead");
    assert_eq!(c.len(), 1, "{c:#?}");
    assert_eq!(c[0].code, Code::CauseVlan);
    assert_eq!(c[0].subject.space.as_deref(), Some("storage"));
    // 4 machines, full mesh both ways.
    assert_eq!(c[0].pairs.len(), 12);
}

#[test]
fn cause_whole_nic_dead() {
    let c = causes("cause-nic-dead");
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].spaces, ["internal", "oam", "storage"]);
}

#[test]
fn cause_mtu_short_switch_port() {
    let c = causes("cause-mtu-port");
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].symptoms, ["mtu"]);
}

#[test]
fn cause_two_independent_faults() {
    assert_eq!(causes("cause-two-faults").len(), 2);
}

#[test]
fn cause_firewall_dropping_one_direction() {
    let c = causes("cause-one-way");
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].symptoms, ["one-way"]);
}

#[test]
fn cause_two_machine_space_is_not_localized() {
    let c = causes("cause-two-machines");
    assert_eq!(c.len(), 1);
    assert!(
        c[0].message.contains("only two machines"),
        "{}",
        c[0].message
    );
}

/// A duplicate address is found, named with both machines, and costs no waiting: every
/// agent's plan runs (no agent.missing, every planned probe came back).
#[test]
fn address_duplicate() {
    let start = Instant::now();
    let r = scenario("address-duplicate");
    let took = start.elapsed();
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "address.duplicate")
        .expect("address.duplicate");
    assert!(
        f.message.contains("host1")
            && f.message.contains("host3")
            && f.message.contains("10.10.0.11"),
        "{}",
        f.message
    );
    assert_eq!(r.summary.agents_reported, Some(3));
    assert_eq!(r.summary.probes_planned, r.summary.probes_done);
    // The pairs with the shared address are not probed, and say why (info).
    let untestable: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == "probe.untestable")
        .collect();
    assert!(!untestable.is_empty(), "{:?}", r.findings);
    assert!(
        untestable.iter().all(|f| f.message.contains("10.10.0.11")),
        "{untestable:?}"
    );
    // The probe deadline is 60 s: a plan rejected for a duplicate id would wait for it.
    assert!(took < Duration::from_secs(45), "took {took:?}");
}

#[test]
fn address_in_dynamic_range() {
    let r = scenario("address-in-dynamic-range");
    assert!(r
        .findings
        .iter()
        .any(|f| f.code == "address.in-dynamic-range"
            && f.message.contains("10.10.0.13")
            && f.message.contains("10.10.0.13-10.10.0.99")));
}

#[test]
fn controller_unreachable() {
    let r = scenario("controller-unreachable");
    let f: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == "controller.unreachable")
        .collect();
    assert_eq!(f.len(), 2, "{f:?}");
    assert!(f.iter().all(|f| f.message.contains("10.10.0.5:17070")
        && f.message.contains("internal")
        && f.message.contains("fall back")));
}

/// The same controller lab without the fault: the controller checks pass (no new findings).
#[test]
fn controllers_reachable_give_no_finding() {
    let text = scenarios::SHIPPED
        .iter()
        .find(|(n, _)| *n == "controller-ha-unreachable")
        .map(|(_, t)| *t)
        .unwrap();
    let healthy: String = text.split("[[faults]]").next().unwrap().replace(
        "name = \"controller-ha-unreachable\"",
        "name = \"controllers-ok\"",
    );
    // A relative file name: `demo` names its report after the scenario argument.
    let path = format!("pf-controllers-ok-{}.toml", std::process::id());
    std::fs::write(&path, healthy).unwrap();
    let (code, r) = demo(&path, &[]);
    let _ = std::fs::remove_file(&path);
    assert!(
        r.findings
            .iter()
            .all(|f| f.severity == preflight_model::report::Severity::Info),
        "{:?}",
        r.findings
    );
    assert_eq!(code, 0);
    assert!(r
        .checked
        .iter()
        .any(|c| c.check == "controller.ha-unreachable"));
    assert!(r
        .checked
        .iter()
        .any(|c| c.check == "controller.unreachable"));
}

#[test]
fn controller_ha_unreachable() {
    scenario("controller-ha-unreachable");
}

#[test]
fn gateway_unreachable() {
    let r = scenario("gateway-unreachable");
    let f: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == "gateway.unreachable")
        .collect();
    assert_eq!(f.len(), 1, "one finding per subnet and gateway");
    assert!(f[0].message.contains("10.30.0.1") && f[0].message.contains("10.30.0.0/24"));
}

#[test]
fn address_reuse_across_fabrics_is_healthy_not_a_breach() {
    // Was 12 probe.isolation-breach: the replies came from the same-address host on the
    // prober's own side. Now: untestable (info, with the reason), and no duplicate either.
    let r = scenario("address-reuse-across-fabrics");
    assert!(r
        .findings
        .iter()
        .all(|f| f.severity == preflight_model::report::Severity::Info));
    let untestable: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == "probe.untestable")
        .collect();
    assert!(!untestable.is_empty());
    assert!(untestable
        .iter()
        .all(|f| f.message.contains("own side") || f.message.contains("own address")));
    assert!(r.checked.iter().any(|c| c.check == "address.duplicate"));
}

#[test]
fn dns_reverse_mismatch() {
    let r = scenario("dns-reverse-mismatch");
    let f: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == "dns.reverse-mismatch")
        .collect();
    assert_eq!(f.len(), 1, "only host1's internal address lacks its PTR");
    assert!(f[0].message.contains("10.10.0.11"), "{}", f[0].message);
    // The public reverse zone answers through RFC 2317 CNAMEs and counts as resolved.
    assert!(
        r.checked
            .iter()
            .any(|c| c.check == "dns.forward-mismatch"
                && c.subject.space.as_deref() == Some("public"))
    );
}

#[test]
fn dns_forward_mismatch() {
    let r = scenario("dns-forward-mismatch");
    let f: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == "dns.forward-mismatch")
        .collect();
    assert_eq!(f.len(), 1);
    assert!(
        f[0].message.contains("10.30.0.99") && f[0].message.contains("host2.public.lab"),
        "{}",
        f[0].message
    );
}

#[test]
fn dns_server_unreachable() {
    let r = scenario("dns-server-unreachable");
    let f: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == "dns.server-unreachable")
        .collect();
    assert_eq!(f.len(), 1, "one finding per server and space");
    assert!(f[0].message.contains("10.30.0.13"), "{}", f[0].message);
}

#[test]
fn drift_machine_unknown() {
    scenario("drift-machine-unknown");
}

#[test]
fn drift_interface_missing() {
    scenario("drift-interface-missing");
}

#[test]
fn drift_address_missing() {
    scenario("drift-address-missing");
}

#[test]
fn drift_address_unexpected() {
    scenario("drift-address-unexpected");
}

#[test]
fn drift_mtu_mismatch() {
    scenario("drift-mtu-mismatch");
}

#[test]
fn drift_link_down() {
    scenario("drift-link-down");
}

#[test]
fn probe_unreachable() {
    scenario("probe-unreachable");
}

#[test]
fn probe_packet_loss() {
    scenario("probe-packet-loss");
}

#[test]
fn probe_mtu_blackhole() {
    scenario("probe-mtu-blackhole");
}

#[test]
fn probe_asymmetric() {
    scenario("probe-asymmetric");
}

#[test]
fn probe_isolation_breach() {
    scenario("probe-isolation-breach");
}

#[test]
fn agent_missing() {
    scenario("agent-missing");
}

/// (source, target) machine pairs of the findings with this code, sorted.
fn finding_pairs(r: &Report, code: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = r
        .findings
        .iter()
        .filter(|f| f.code == code)
        .map(|f| {
            (
                f.subject.source.clone().unwrap_or_default(),
                f.subject.target.clone().unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The space × space matrix entry of a pair.
fn space_pair<'a>(r: &'a Report, a: &str, b: &str) -> &'a preflight_model::report::SpacePair {
    r.space_pairs
        .iter()
        .find(|p| p.a == a && p.b == b)
        .unwrap_or_else(|| panic!("no space pair {a}:{b} in {:?}", r.space_pairs))
}

#[test]
fn mediawiki_topology_healthy_probes_relations_and_keeps_dmz_from_db() {
    use preflight_model::report::PairPolicy;
    let r = scenario("mediawiki-healthy");
    assert_eq!(r.summary.errors + r.summary.warnings, 0, "{:?}", r.findings);
    // Validate's relation map: the two needed pairs, naming their relations.
    let cross: Vec<(&str, &str)> = r
        .findings
        .iter()
        .filter(|f| f.code == "relation.cross-space")
        .map(|f| (f.subject.space.as_deref().unwrap_or(""), f.message.as_str()))
        .collect();
    assert_eq!(cross.len(), 2, "{cross:?}");
    assert!(cross[0].0 == "cms:db" && cross[0].1.contains("mediawiki:db ↔ mysql:db"));
    assert!(
        cross[1].0 == "cms:dmz"
            && cross[1]
                .1
                .contains("haproxy:reverseproxy ↔ mediawiki:website")
    );
    // The matrix: two needed pairs answered, one isolated pair silent; 2+2 machines a side
    // give 4 sampled probes per pair (each machine once across), every one done.
    let needed = space_pair(&r, "cms", "db");
    assert_eq!(needed.policy, PairPolicy::Needed);
    assert_eq!((needed.probes, needed.done, needed.answered), (4, 4, 4));
    assert_eq!(needed.relations, ["mediawiki:db ↔ mysql:db"]);
    let needed = space_pair(&r, "cms", "dmz");
    assert_eq!(needed.policy, PairPolicy::Needed);
    assert_eq!((needed.probes, needed.done, needed.answered), (4, 4, 4));
    let iso = space_pair(&r, "db", "dmz");
    assert_eq!(iso.policy, PairPolicy::Isolated);
    assert_eq!((iso.probes, iso.done, iso.answered), (4, 4, 0));
    // 3 spaces × 2 machines (2 probes each) + 3 pairs × 4 echo pairs (the neighbour and
    // gateway probes of each machine are planned too, and judged per address).
    let pairs: Vec<_> = r.spaces.iter().flat_map(|s| &s.pairs).collect();
    assert_eq!(pairs.len(), 18);
    assert!(pairs.iter().all(|p| p.done));
    assert_eq!(r.summary.probes_planned, r.summary.probes_done);
}

#[test]
fn mediawiki_router_forgetting_cms_to_db_is_relation_unreachable() {
    let r = scenario("mediawiki-cms-db-forgotten");
    let codes: std::collections::BTreeSet<&str> = r
        .findings
        .iter()
        .filter(|f| f.severity != preflight_model::report::Severity::Info)
        .map(|f| f.code.as_str())
        .collect();
    // The pairs, and the one cause the diagnosis names for them: the router between.
    assert_eq!(
        codes.into_iter().collect::<Vec<_>>(),
        ["cause.router", "relation.unreachable"]
    );
    // Every sampled cms↔db probe fails, both directions (the replies die on the way back),
    // and each finding names the relation that needs the pair.
    let pairs = finding_pairs(&r, "relation.unreachable");
    assert_eq!(pairs.len(), 4, "{pairs:?}");
    assert_eq!(
        pairs.iter().filter(|(s, _)| s.starts_with("cms")).count(),
        2,
        "{pairs:?}"
    );
    assert!(pairs
        .iter()
        .all(|(s, t)| (s.starts_with("cms") && t.starts_with("db"))
            || (s.starts_with("db") && t.starts_with("cms"))));
    for f in r
        .findings
        .iter()
        .filter(|f| f.code == "relation.unreachable")
    {
        assert_eq!(f.subject.space.as_deref(), Some("cms:db"));
        assert!(
            f.message.contains("mediawiki:db ↔ mysql:db"),
            "{}",
            f.message
        );
    }
    // dmz↔cms still passes; the matrix says what the probes saw.
    assert_eq!(space_pair(&r, "cms", "dmz").answered, 4);
    assert_eq!(space_pair(&r, "cms", "db").answered, 0);
}

#[test]
fn mediawiki_router_letting_dmz_reach_db_is_an_isolation_breach() {
    let r = scenario("mediawiki-dmz-reaches-db");
    let errors: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.severity != preflight_model::report::Severity::Info)
        .map(|f| f.code.as_str())
        .collect();
    assert_eq!(errors, ["probe.isolation-breach"; 4]);
    for f in r
        .findings
        .iter()
        .filter(|f| f.code == "probe.isolation-breach")
    {
        assert_eq!(f.subject.space.as_deref(), Some("db:dmz"));
        assert!(
            f.message
                .contains("not needed by any relation in the bundle"),
            "{}",
            f.message
        );
    }
    assert_eq!(space_pair(&r, "db", "dmz").answered, 4);
}

#[test]
fn thirty_hosts_three_spaces_full_mesh() {
    let r = scenario("large-30");
    assert!(r.findings.is_empty());
    assert_eq!(r.summary.agents_reported, Some(30));
    // The full mesh in each space, plus the neighbour and gateway probes, all came back.
    let pairs: usize = r.spaces.iter().map(|s| s.pairs.len()).sum();
    assert_eq!(pairs, 3 * 30 * 29);
    assert_eq!(r.summary.probes_done, r.summary.probes_planned);
}

#[test]
fn demo_lists_scenarios_and_rejects_unknown_ones() {
    let bin = preflight_e2e::binary("preflight");
    let out = Command::new(&bin)
        .args(["demo", "--list"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), scenarios::SHIPPED.len());
    assert!(text.contains("openstack") && text.contains("(default)"));
    let out = Command::new(&bin)
        .args(["demo", "--scenario", "no-such-scenario"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such scenario"));
}

/// The network namespaces of the `preflight demo` process with this pid (named `pf<pid>-…`).
fn namespaces_of(pid: u32) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    let prefix = format!("pf{pid}-");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .map(|l| l.split_whitespace().next().unwrap_or(l).to_string())
        .collect()
}

/// Starts `preflight demo --scenario NAME --quiet` with no input or output.
fn spawn_quiet_demo(scenario: &str) -> std::process::Child {
    Command::new(preflight_e2e::binary("preflight"))
        .args(["demo", "--scenario", scenario, "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn")
}

#[test]
fn demo_tears_down_on_sigterm() {
    // agent-missing waits for an agent that never comes: long enough to interrupt.
    let mut child = spawn_quiet_demo("agent-missing");
    let pid = child.id();
    let listed = || namespaces_of(pid).len();
    let start = Instant::now();
    while listed() < 4 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(listed() >= 4, "the lab never came up");
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    assert_eq!(listed(), 0, "namespaces left after SIGTERM");
    let dir_prefix = format!("preflight-demo-{pid}-");
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .expect("tmp")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&dir_prefix))
        .collect();
    assert!(left.is_empty(), "work dir left: {left:?}");
}

#[test]
fn demo_without_root_says_so() {
    let bin = preflight_e2e::binary("preflight");
    // Run as nobody: no namespaces, a clear message, exit 2.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&bin)
        .args(["demo", "--scenario", "healthy"])
        .output()
        .expect("setpriv");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("needs root"), "{stderr}");
}

#[test]
fn demo_writes_html_and_json_reports() {
    let dir = std::env::temp_dir().join(format!("preflight-e2e-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let html = dir.join("report.html");
    let json = dir.join("report.json");
    let status = Command::new(preflight_e2e::binary("preflight"))
        .args([
            "demo",
            "--scenario",
            "probe-unreachable",
            "--quiet",
            "--format",
            "html",
        ])
        .args(["--timeout-ms", "1000", "-o"])
        .arg(&html)
        .arg("--json-output")
        .arg(&json)
        .stdin(Stdio::null())
        .status()
        .expect("run");
    assert_eq!(status.code(), Some(1));
    let page = std::fs::read_to_string(&html).expect("html");
    assert!(page.contains("<html") && page.contains("probe.unreachable"));
    // The page opens with the diagnosis and outlines the culprit's row in the heatmap.
    assert!(
        page.contains("1 cause explains 4 of 4 failing pairs"),
        "no diagnosis headline"
    );
    assert!(
        page.contains("class=\"row culprit\""),
        "culprit row not outlined"
    );
    let report: Report =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("report");
    assert!(report
        .findings
        .iter()
        .all(|f| f.code == "probe.unreachable" || f.code.as_str().starts_with("cause.")));
    assert!(!report.findings.is_empty());
    // JSON links the cause to the pairs it explains, by their ids.
    let d = report.diagnosis.as_ref().expect("diagnosis");
    let ids: Vec<&str> = report
        .spaces
        .iter()
        .flat_map(|s| &s.pairs)
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(d.causes.len(), 1);
    assert!(d.causes[0].pairs.iter().all(|p| ids.contains(&p.as_str())));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn demo_cleanup_removes_only_dead_runs_leftovers() {
    // A namespace named as a lab of a pid that cannot exist (pid_max is at most 2^22).
    let stale = format!("pf4194305-0-e2e{}", std::process::id());
    let ok = Command::new("ip")
        .args(["netns", "add", &stale])
        .status()
        .expect("ip");
    assert!(ok.success());
    let live = preflight_lab::netns::Netns::new("e2e-live").expect("live");
    let out = Command::new(preflight_e2e::binary("preflight"))
        .args(["demo", "--cleanup"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&stale), "{text}");
    assert!(!text.contains(live.name()), "{text}");
    let list = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip");
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(!list.contains(&stale));
    assert!(list.contains(live.name()));
}

#[test]
fn demo_interrupted_while_building_removes_the_lab() {
    // A hundred hosts take long enough to build that SIGINT lands during the build.
    let mut child = spawn_quiet_demo("large-100");
    let pid = child.id();
    let listed = || namespaces_of(pid).len();
    let start = Instant::now();
    while listed() == 0 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(listed() > 0, "the build never started");
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    assert_eq!(listed(), 0, "namespaces left after SIGINT during the build");
}
