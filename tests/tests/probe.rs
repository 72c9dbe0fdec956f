//! `preflight-agent probe` on real namespaces: reachability, failure causes from the error
//! queue, MTU blackholes, source binding, IPv6, TCP, and bad input.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use preflight_lab::netns::{veth_between, Netns};
use preflight_model::probe::{FailureCause, MtuVerdict, ProbeReport, SocketKind, TcpOutcome};
use serde_json::Value;

fn agent() -> std::path::PathBuf {
    preflight_e2e::binary("preflight-agent")
}

fn run_in(ns: &Netns, args: &[&str]) -> Output {
    ns.command(agent().to_str().unwrap())
        .arg("probe")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run preflight-agent")
}

/// Runs `probe --format json ARGS` in `ns`; returns the exit code and the report.
fn json_in(ns: &Netns, args: &[&str]) -> (i32, ProbeReport) {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let t = Instant::now();
    let out = run_in(ns, &all);
    eprintln!("probe {args:?}: {:?}", t.elapsed());
    let code = out.status.code().unwrap_or(-1);
    let report: ProbeReport = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "exit {code}, bad JSON ({e}): stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(report.schema, "preflight.probe/v1");
    (code, report)
}

/// Waits until each device is operationally up with its real qdisc attached: right after
/// `ip link set up` the kernel's link watcher may not have run yet (noop qdisc, no carrier),
/// and packets sent then vanish — on a loaded machine for a second or more.
fn wait_up(ns: &Netns, devs: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    for dev in devs {
        loop {
            let out = ns.ip(["-j", "link", "show", "dev", dev]).unwrap();
            let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            let l = &v[0];
            if l["operstate"] == "UP" && l["qdisc"] != "noop" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{dev} in {} never came up: {l}",
                ns.name()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Two namespaces on one veth: a (10.10.0.1, fd10::1, fe80::a) and b (.2, ::2, fe80::b).
fn pair() -> (Netns, Netns) {
    let a = Netns::new("pa").unwrap();
    let b = Netns::new("pb").unwrap();
    veth_between(&a, "va", &b, "vb").unwrap();
    a.ip_line("addr add 10.10.0.1/24 dev va").unwrap();
    b.ip_line("addr add 10.10.0.2/24 dev vb").unwrap();
    a.ip_line("addr add fd10::1/64 dev va nodad").unwrap();
    b.ip_line("addr add fd10::2/64 dev vb nodad").unwrap();
    a.ip_line("addr add fe80::a/64 dev va nodad").unwrap();
    b.ip_line("addr add fe80::b/64 dev vb nodad").unwrap();
    wait_up(&a, &["va"]);
    wait_up(&b, &["vb"]);
    (a, b)
}

/// Two requests, a generous timeout: on a heavily loaded machine the kernel's softirq work
/// (ARP, forwarding between namespaces) can be deferred for seconds.
const FAST: [&str; 6] = ["--count", "2", "--interval", "20", "--timeout", "3000"];

/// Two requests 50 ms apart, a 1.5 s wait and one retry: a silent target's one wait is
/// 50 + 150 (the retry, a tenth of the timeout after the last request) + 1,500 ms.
const ONE_RETRY: [&str; 8] = [
    "--count",
    "2",
    "--interval",
    "50",
    "--timeout",
    "1500",
    "--retries",
    "1",
];

fn fast(extra: &[&'static str]) -> Vec<&'static str> {
    let mut v = FAST.to_vec();
    v.extend_from_slice(extra);
    v
}

#[test]
fn reachable_target_answers_every_request_over_a_raw_socket() {
    let (a, _b) = pair();
    let (code, r) = json_in(&a, &fast(&["10.10.0.2"]));
    assert_eq!(code, 0, "{r:?}");
    let t = &r.targets[0];
    assert_eq!((t.sent, t.received, t.duplicates), (2, 2, 0));
    assert_eq!(t.loss_pct, 0.0);
    assert!(t.failure.is_none());
    let rtt = t.rtt.expect("rtt");
    assert!(rtt.min_ms > 0.0 && rtt.min_ms <= rtt.avg_ms && rtt.avg_ms <= rtt.max_ms);
    // ping_group_range is "1 0" in a fresh namespace: raw socket, with an enlarged buffer.
    assert_eq!(r.sockets.len(), 1);
    assert_eq!(r.sockets[0].kind, SocketKind::Raw);
    assert!(
        r.sockets[0].recv_buffer_bytes.unwrap_or(0) >= 1 << 20,
        "{:?}",
        r.sockets
    );
}

#[test]
fn datagram_socket_is_used_when_ping_group_range_allows() {
    let (a, b) = pair();
    a.exec("sysctl", ["-qw", "net.ipv4.ping_group_range=0 2147483647"])
        .unwrap();
    let (code, r) = json_in(&a, &fast(&["10.10.0.2", "fd10::2"]));
    assert_eq!(code, 0, "{r:?}");
    assert!(
        r.sockets.iter().all(|s| s.kind == SocketKind::Dgram),
        "{:?}",
        r.sockets
    );
    assert!(r.targets.iter().all(|t| t.received == 2));
    // ICMP errors come through the datagram socket's error queue too
    b.nft(
        "table ip t { chain c { type filter hook input priority 0;
           icmp type echo-request reject with icmp type admin-prohibited; }; }",
    )
    .unwrap();
    let (code, r) = json_in(&a, &fast(&["10.10.0.2"]));
    assert_eq!(code, 1);
    assert_eq!(r.sockets[0].kind, SocketKind::Dgram);
    assert_eq!(
        r.targets[0].failure,
        Some(FailureCause::AdminProhibited),
        "{r:?}"
    );
    b.exec("nft", ["delete", "table", "ip", "t"]).unwrap();
    // the forced raw path still works in the same namespace
    let (code, r) = json_in(&a, &fast(&["--socket", "raw", "10.10.0.2"]));
    assert_eq!(code, 0);
    assert_eq!(r.sockets[0].kind, SocketKind::Raw);
}

#[test]
fn no_route_is_network_unreachable_not_timeout() {
    let (a, _b) = pair();
    let (code, r) = json_in(&a, &fast(&["10.99.0.1"]));
    assert_eq!(code, 1);
    let t = &r.targets[0];
    assert_eq!(t.received, 0);
    assert_eq!(t.failure, Some(FailureCause::NetworkUnreachable), "{t:?}");
    assert_eq!(t.loss_pct, 100.0);
}

#[test]
fn unanswered_arp_is_host_unreachable_from_the_error_queue() {
    let (a, _b) = pair();
    // 10.10.0.77 is on the link but nobody has it: ARP gives up after ~3 s and the stack
    // reports ICMP host unreachable to our socket's error queue.
    let (code, r) = json_in(
        &a,
        &[
            "--count",
            "1",
            "--retries",
            "0",
            "--timeout",
            "6000",
            "10.10.0.77",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(
        r.targets[0].failure,
        Some(FailureCause::HostUnreachable),
        "{r:?}"
    );
    assert!(
        r.duration_ms < 6_000,
        "resolved by the error, not the timeout"
    );
}

#[test]
fn nftables_drop_is_a_timeout_and_reject_is_admin_prohibited() {
    let (a, b) = pair();
    b.nft(
        "table inet t { chain c { type filter hook input priority 0;
           ip saddr 10.10.0.1 icmp type echo-request drop
           ip6 saddr fd10::1 icmpv6 type echo-request reject with icmpv6 type admin-prohibited; }; }",
    )
    .unwrap();
    let (code, r) = json_in(&a, &fast(&["--retries", "1", "10.10.0.2", "fd10::2"]));
    assert_eq!(code, 1);
    let v4 = &r.targets[0];
    assert_eq!(v4.failure, Some(FailureCause::Timeout), "{v4:?}");
    assert_eq!((v4.sent, v4.received), (3, 0), "count 2 + 1 retry");
    let v6 = &r.targets[1];
    assert_eq!(v6.failure, Some(FailureCause::AdminProhibited), "{v6:?}");
    assert_eq!(v6.received, 0);
    // the reject comes back at once: alone, the run does not wait for a timeout
    let (_, r) = json_in(
        &a,
        &[
            "--count",
            "1",
            "--retries",
            "0",
            "--timeout",
            "5000",
            "fd10::2",
        ],
    );
    assert_eq!(r.targets[0].failure, Some(FailureCause::AdminProhibited));
    assert!(r.duration_ms < 4_000, "{}", r.duration_ms);
}

/// A silent target's retry goes out one interval after its last request (nothing answered)
/// and shares its timeout: the target costs one timeout, not one for its requests and a
/// second one for the retry. A target that answers gets no retry.
#[test]
fn a_silent_targets_retry_overlaps_its_timeout() {
    let (a, b) = pair();
    b.nft(
        "table inet t { chain c { type filter hook input priority 0;
           ip saddr 10.10.0.1 icmp type echo-request drop; }; }",
    )
    .unwrap();
    let (code, r) = json_in(&a, &[&ONE_RETRY[..], &["10.10.0.2", "fd10::2"]].concat());
    assert_eq!(code, 1);
    let (v4, v6) = (&r.targets[0], &r.targets[1]);
    assert_eq!((v4.sent, v4.received), (3, 0), "count 2 + 1 retry: {v4:?}");
    assert_eq!(
        (v6.sent, v6.received),
        (2, 2),
        "answered, so no retry: {v6:?}"
    );
    // Sequential timeouts would take 50 ms + 1,500 + 1,500 ms at least.
    assert!(
        r.duration_ms < 2_800,
        "the retry waited for the first timeout: {} ms",
        r.duration_ms
    );
}

/// A local drop (the qdisc refuses the packet, so the raw socket's send fails with ENOBUFS)
/// is a lost request, not "try again": the engine once resent the same batch forever here.
#[test]
fn a_local_drop_enobufs_is_counted_as_loss_and_the_run_ends() {
    let (a, _b) = pair();
    // Resolve the neighbour first, so the qdisc drops the echo requests themselves.
    let (code, _) = json_in(&a, &fast(&["10.10.0.2"]));
    assert_eq!(code, 0);
    // pfifo with limit 0 drops every packet at enqueue: NET_XMIT_DROP → ENOBUFS to the sender.
    a.exec(
        "tc",
        ["qdisc", "add", "dev", "va", "root", "pfifo", "limit", "0"],
    )
    .expect("tc qdisc (iproute2)");
    let out = a
        .command("timeout")
        .arg("60")
        .arg(agent())
        .args([
            "probe",
            "--format",
            "json",
            "--count",
            "2",
            "--interval",
            "20",
            "--timeout",
            "500",
            "--retries",
            "1",
            "10.10.0.2",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run preflight-agent");
    assert_eq!(
        out.status.code(),
        Some(1),
        "exit 1 (target lost), not a hang killed by timeout (124): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: ProbeReport = serde_json::from_slice(&out.stdout).expect("probe JSON");
    let t = &r.targets[0];
    assert_eq!((t.sent, t.received), (3, 0), "count 2 + 1 retry: {t:?}");
    assert_eq!(t.loss_pct, 100.0);
    assert_eq!(t.failure, Some(FailureCause::Timeout), "{t:?}");
}

#[test]
fn asymmetric_filter_fails_one_direction_only() {
    let (a, b) = pair();
    // b drops echo requests coming from a; replies to b's own requests still pass.
    b.nft(
        "table ip t { chain c { type filter hook input priority 0;
           ip saddr 10.10.0.1 icmp type echo-request counter drop; }; }",
    )
    .unwrap();
    let (code_ab, ab) = json_in(&a, &fast(&["10.10.0.2"]));
    let (code_ba, ba) = json_in(&b, &fast(&["10.10.0.1"]));
    assert_eq!(code_ab, 1);
    assert_eq!(ab.targets[0].failure, Some(FailureCause::Timeout));
    assert_eq!(code_ba, 0);
    assert_eq!(ba.targets[0].received, 2);
}

#[test]
fn ipv6_global_and_link_local_with_interface() {
    let (a, _b) = pair();
    let (code, r) = json_in(&a, &fast(&["fd10::2"]));
    assert_eq!(code, 0, "{r:?}");
    assert_eq!(r.targets[0].received, 2);
    // link-local: scope from --interface, or from ADDR%IFACE
    let (code, r) = json_in(&a, &fast(&["--interface", "va", "fe80::b"]));
    assert_eq!(code, 0, "{r:?}");
    assert_eq!(r.targets[0].received, 2);
    assert_eq!(r.sockets[0].device.as_deref(), Some("va"));
    let (code, r) = json_in(&a, &fast(&["fe80::b%va"]));
    assert_eq!(code, 0, "{r:?}");
    assert_eq!(r.targets[0].target.to_string(), "fe80::b");
}

/// a(9000) — bridge — b(1500): jumbo frames from a are dropped silently by the bridge.
fn mtu_lab() -> (Netns, Netns, Netns) {
    let a = Netns::new("ma").unwrap();
    let br = Netns::new("mbr").unwrap();
    let b = Netns::new("mb").unwrap();
    veth_between(&a, "va", &br, "pa").unwrap();
    veth_between(&b, "vb", &br, "pb").unwrap();
    br.ip_line("link add br0 type bridge").unwrap();
    br.ip_line("link set pa mtu 9000").unwrap();
    br.ip_line("link set pa master br0").unwrap();
    br.ip_line("link set pb master br0").unwrap();
    br.ip_line("link set br0 up").unwrap();
    a.ip_line("link set va mtu 9000").unwrap();
    a.ip_line("addr add 10.20.0.1/24 dev va").unwrap();
    b.ip_line("addr add 10.20.0.2/24 dev vb").unwrap();
    a.ip_line("addr add fd20::1/64 dev va nodad").unwrap();
    b.ip_line("addr add fd20::2/64 dev vb nodad").unwrap();
    wait_up(&a, &["va"]);
    wait_up(&b, &["vb"]);
    wait_up(&br, &["pa", "pb", "br0"]);
    (a, br, b)
}

/// An MTU check on a healthy path sends `count` plain echoes and `count` full-size DF echoes
/// and nothing else: the plain echoes already answer "do small packets pass", so the MTU probe
/// sends no small echoes of its own (a third fewer packets in a mesh check). With `--size`
/// above the small probe's, the small DF echoes are sent again.
#[test]
fn mtu_check_reuses_the_plain_echoes_as_its_small_probe() {
    let (a, br, b) = mtu_lab();
    b.ip_line("link set vb mtu 9000").unwrap();
    b.nft(
        "table inet cnt { chain c { type filter hook input priority 0;
           icmp type echo-request counter; }; }",
    )
    .unwrap();
    br.ip_line("link set pb mtu 9000").unwrap();
    wait_up(&b, &["vb"]);
    let args = [
        "--count",
        "3",
        "--interval",
        "20",
        "--timeout",
        "3000",
        "--retries",
        "0",
        "--mtu",
        "9000",
        "10.20.0.2",
    ];
    let (code, r) = json_in(&a, &args);
    assert_eq!(code, 0, "{r:?}");
    let t = &r.targets[0];
    assert_eq!((t.sent, t.received), (3, 3), "{t:?}");
    let m = t.mtu.expect("mtu result");
    assert!(m.small_ok && m.large_ok, "{m:?}");
    assert_eq!(m.verdict, MtuVerdict::Ok);
    assert_eq!(counter(&b, "cnt"), 6, "3 plain + 3 full-size DF echoes");
    // Larger plain echoes say nothing about small packets: the small DF probe is sent.
    let mut big = vec!["--size", "1000"];
    big.extend_from_slice(&args);
    let (code, r) = json_in(&a, &big);
    assert_eq!(code, 0, "{r:?}");
    assert!(r.targets[0].mtu.expect("mtu").small_ok);
    assert_eq!(
        counter(&b, "cnt"),
        6 + 9,
        "3 plain + 3 small DF + 3 full-size DF"
    );
}

/// One MTU-9000 check of `target` from `ns`: a single request, no retries, a 1 s timeout.
fn check_jumbo(ns: &Netns, target: &str) -> (i32, ProbeReport) {
    json_in(
        ns,
        &[
            "--count",
            "1",
            "--timeout",
            "1000",
            "--retries",
            "0",
            "--mtu",
            "9000",
            target,
        ],
    )
}

/// With a retry, a blackholed full-size probe starts its search at its retry check: the
/// search shares the probe's wait (one timeout in all), instead of a round after it.
#[test]
fn a_blackholes_search_starts_inside_the_full_size_probes_wait() {
    let (a, _br, _b) = mtu_lab();
    let (code, r) = json_in(
        &a,
        &[&ONE_RETRY[..], &["--mtu", "9000", "10.20.0.2"]].concat(),
    );
    assert_eq!(code, 1, "{r:?}");
    let m = r.targets[0].mtu.expect("mtu result");
    assert_eq!(m.verdict, MtuVerdict::Blackhole, "{m:?}");
    assert_eq!(
        m.largest_ok,
        Some(1500),
        "a common MTU, found exactly in round one"
    );
    // The probe's own wait is 50 + 150 + 1,500 ms; a round after it would add 1,500 more.
    assert!(
        r.duration_ms < 2_800,
        "the search waited for the full-size probe: {} ms",
        r.duration_ms
    );
}

#[test]
fn jumbo_mismatch_on_a_bridge_is_a_blackhole_with_largest_size_found() {
    let (a, _br, b) = mtu_lab();
    let (code, r) = check_jumbo(&a, "10.20.0.2");
    assert_eq!(code, 1, "{r:?}");
    let t = &r.targets[0];
    assert!(t.answered(), "small echo passes: {t:?}");
    let m = t.mtu.expect("mtu result");
    assert_eq!(m.expected_mtu, 9000);
    assert!(m.small_ok && !m.large_ok, "{m:?}");
    assert_eq!(m.verdict, MtuVerdict::Blackhole);
    let largest = m.largest_ok.expect("largest_ok");
    assert!((1450..=1500).contains(&largest), "largest_ok {largest}");
    // A silent drop teaches the kernel nothing: no learnt PMTU on the route.
    let cache = a.ip_line("route get 10.20.0.2").unwrap();
    assert!(!String::from_utf8_lossy(&cache.stdout).contains("mtu"));

    // From the 1500 side, a 9000 expectation is refused locally: fragmentation needed.
    let (code, r) = check_jumbo(&b, "10.20.0.1");
    assert_eq!(code, 1);
    let m = r.targets[0].mtu.expect("mtu result");
    assert_eq!(m.verdict, MtuVerdict::FragmentationNeeded, "{m:?}");
    assert_eq!(m.largest_ok, Some(1500));

    // --df: a 2,000-byte echo from the 1500 side is refused locally; without DF it is
    // fragmented and answered.
    let (code, r) = json_in(
        &b,
        &[
            "--count",
            "1",
            "--retries",
            "0",
            "--df",
            "--size",
            "2000",
            "10.20.0.1",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(
        r.targets[0].failure,
        Some(FailureCause::FragmentationNeeded { mtu: None })
    );
    let (code, r) = json_in(
        &b,
        &[
            "--count",
            "1",
            "--retries",
            "0",
            "--size",
            "2000",
            "10.20.0.1",
        ],
    );
    assert_eq!(code, 0, "{r:?}");

    // IPv6 over the same bridge: the same silence, found the same way (packet too big is
    // never sent by a bridge).
    let (code, r) = check_jumbo(&a, "fd20::2");
    assert_eq!(code, 1);
    let m = r.targets[0].mtu.expect("mtu result");
    assert_eq!(m.verdict, MtuVerdict::Blackhole, "{m:?}");
    assert_eq!(m.largest_ok, Some(1500));

    // An expectation of 1500 passes from both sides.
    let (code, r) = json_in(
        &a,
        &[
            "--count",
            "1",
            "--timeout",
            "300",
            "--mtu",
            "1500",
            "10.20.0.2",
        ],
    );
    assert_eq!(code, 0, "{r:?}");
    assert_eq!(r.targets[0].mtu.unwrap().verdict, MtuVerdict::Ok);
}

#[test]
fn router_frag_needed_is_read_from_the_error_queue_and_probe_mode_ignores_the_cache() {
    // a (9000) — r (9000 | 1500) — b (1500): r answers a jumbo DF packet with ICMP
    // fragmentation-needed, mtu 1500.
    let a = Netns::new("fa").unwrap();
    let r = Netns::new("fr").unwrap();
    let b = Netns::new("fb").unwrap();
    veth_between(&a, "va", &r, "ra").unwrap();
    veth_between(&b, "vb", &r, "rb").unwrap();
    a.ip_line("link set va mtu 9000").unwrap();
    r.ip_line("link set ra mtu 9000").unwrap();
    a.ip_line("addr add 10.40.0.1/24 dev va").unwrap();
    r.ip_line("addr add 10.40.0.2/24 dev ra").unwrap();
    r.ip_line("addr add 10.41.0.1/24 dev rb").unwrap();
    b.ip_line("addr add 10.41.0.2/24 dev vb").unwrap();
    wait_up(&a, &["va"]);
    wait_up(&r, &["ra", "rb"]);
    wait_up(&b, &["vb"]);
    a.ip_line("route add 10.41.0.0/24 via 10.40.0.2").unwrap();
    b.ip_line("route add default via 10.41.0.1").unwrap();
    r.exec("sysctl", ["-qw", "net.ipv4.ip_forward=1"]).unwrap();

    let slow = ["--count", "1", "--retries", "1", "--timeout", "1000"];
    let (code, rep) = json_in(&a, &[&slow[..], &["--mtu", "9000", "10.41.0.2"]].concat());
    assert_eq!(code, 1);
    let m = rep.targets[0].mtu.expect("mtu result");
    assert_eq!(m.verdict, MtuVerdict::FragmentationNeeded, "{m:?}");
    assert_eq!(
        m.largest_ok,
        Some(1500),
        "the reported next-hop MTU is tried first"
    );
    // A DF echo of the full size: the cause carries the router's MTU. The kernel has cached
    // mtu 1500 for the route by now; PMTUDISC_PROBE ignores that cache, so the request is
    // sent again and the router's answer (not a local EMSGSIZE) comes back.
    let (code, rep) = json_in(
        &a,
        &[&slow[..], &["--df", "--size", "8972", "10.41.0.2"]].concat(),
    );
    assert_eq!(code, 1);
    assert_eq!(
        rep.targets[0].failure,
        Some(FailureCause::FragmentationNeeded { mtu: Some(1500) }),
        "{rep:?}"
    );
}

fn counter(ns: &Netns, table: &str) -> u64 {
    let out = ns
        .exec("nft", ["-j", "list", "table", "inet", table])
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.get("rule"))
        .flat_map(|r| r["expr"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e.get("counter").map(|c| c["packets"].as_u64().unwrap_or(0)))
        .sum()
}

#[test]
fn probes_for_a_space_leave_from_that_space() {
    // h has link A (10.1.0.1 → pa) and link B (10.2.0.1 → pb); 10.9.0.1 lives behind both.
    // The default route points at A, whose router drops ICMP; B's answers.
    let h = Netns::new("sh").unwrap();
    let pa = Netns::new("spa").unwrap();
    let pb = Netns::new("spb").unwrap();
    veth_between(&h, "ha", &pa, "a0").unwrap();
    veth_between(&h, "hb", &pb, "b0").unwrap();
    h.ip_line("addr add 10.1.0.1/24 dev ha").unwrap();
    h.ip_line("addr add 10.2.0.1/24 dev hb").unwrap();
    pa.ip_line("addr add 10.1.0.2/24 dev a0").unwrap();
    pb.ip_line("addr add 10.2.0.2/24 dev b0").unwrap();
    pa.ip_line("addr add 10.9.0.1/32 dev lo").unwrap();
    pb.ip_line("addr add 10.9.0.1/32 dev lo").unwrap();
    wait_up(&h, &["ha", "hb"]);
    wait_up(&pa, &["a0"]);
    wait_up(&pb, &["b0"]);
    h.ip_line("route add default via 10.1.0.2 metric 100")
        .unwrap();
    h.ip_line("route add default via 10.2.0.2 dev hb metric 200")
        .unwrap();
    pa.ip_line("route add default via 10.1.0.1").unwrap();
    pa.nft("table inet t { chain c { type filter hook input priority 0; icmp type echo-request counter drop; }; }")
        .unwrap();
    pb.nft("table inet t { chain c { type filter hook input priority 0; ip saddr 10.2.0.1 icmp type echo-request counter accept; }; }")
        .unwrap();

    // Unbound: the default route takes it to A, which drops it.
    let (code, r) = json_in(&h, &fast(&["10.9.0.1"]));
    assert_eq!(code, 1);
    assert_eq!(r.targets[0].received, 0);
    let a_before = counter(&pa, "t");
    assert_eq!(a_before, 3, "count 2 + 1 retry");
    assert_eq!(counter(&pb, "t"), 0);

    // A plan: space B from 10.2.0.1 on hb must answer; space A from 10.1.0.1 is expected
    // isolated (its router drops ICMP) and that is what the exit status accepts.
    let plan = serde_json::json!({
        "schema": "preflight.plan/v1",
        "agent": "h",
        "settings": {"count": 2, "interval_ms": 20, "timeout_ms": 3000, "retries": 0},
        "targets": [
            {"id": "b", "space": "space-b", "source": "10.2.0.1", "target": "10.9.0.1", "device": "hb"},
            {"id": "a", "space": "space-a", "source": "10.1.0.1", "target": "10.9.0.1", "device": "ha",
             "expect": "isolated"}
        ]
    });
    let dir = tempdir();
    let path = dir.join("plan.json");
    std::fs::write(&path, plan.to_string()).unwrap();
    let (code, r) = json_in(&h, &["--plan", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{r:?}");
    assert_eq!(r.agent.as_deref(), Some("h"));
    let b = r
        .targets
        .iter()
        .find(|t| t.id.as_deref() == Some("b"))
        .unwrap();
    assert_eq!(b.received, 2, "{b:?}");
    assert_eq!(b.space.as_deref(), Some("space-b"));
    assert_eq!(b.source.map(|s| s.to_string()).as_deref(), Some("10.2.0.1"));
    let a = r
        .targets
        .iter()
        .find(|t| t.id.as_deref() == Some("a"))
        .unwrap();
    assert_eq!(a.received, 0);
    assert_eq!(
        counter(&pb, "t"),
        2,
        "B's router saw exactly the space-B probes"
    );
    assert_eq!(
        counter(&pa, "t"),
        a_before + 2,
        "A's router saw only the space-A probes"
    );
    assert!(r.sockets.iter().any(|s| s.device.as_deref() == Some("hb")));

    // The same plan over unprivileged datagram sockets (bound the same way).
    h.exec("sysctl", ["-qw", "net.ipv4.ping_group_range=0 2147483647"])
        .unwrap();
    let (code, r) = json_in(&h, &["--plan", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{r:?}");
    assert!(
        r.sockets.iter().all(|s| s.kind == SocketKind::Dgram),
        "{:?}",
        r.sockets
    );
    assert_eq!(counter(&pb, "t"), 4);
    assert_eq!(counter(&pa, "t"), a_before + 4);
    h.exec("sysctl", ["-qw", "net.ipv4.ping_group_range=1 0"])
        .unwrap();

    // Address binding alone, with source-based policy routing on the host.
    h.ip_line("route add default via 10.2.0.2 dev hb table 100")
        .unwrap();
    h.ip_line("rule add from 10.2.0.1 lookup 100").unwrap();
    let (code, r) = json_in(&h, &fast(&["--source", "10.2.0.1", "10.9.0.1"]));
    assert_eq!(code, 0, "{r:?}");
    assert_eq!(counter(&pb, "t"), 6);
    assert_eq!(counter(&pa, "t"), a_before + 4);
    let _ = std::fs::remove_dir_all(dir);
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "pf-probe-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A TCP listener created inside `ns` (from a thread that joined the namespace; the socket
/// stays in it). The kernel completes handshakes from the backlog; nothing needs to accept.
fn listen(ns: &Netns, addr: &str) -> std::net::TcpListener {
    use std::os::fd::AsRawFd;
    let path = format!("/run/netns/{}", ns.name());
    let addr = addr.to_string();
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path).expect("open netns");
        // SAFETY: setns on a valid namespace fd only changes this (short-lived) thread.
        let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
        std::net::TcpListener::bind(addr).expect("bind listener")
    })
    .join()
    .expect("listener thread")
}

#[test]
fn tcp_open_refused_and_timeout() {
    let (a, b) = pair();
    let _l = listen(&b, "10.10.0.2:8080");
    b.nft("table inet t { chain c { type filter hook input priority 0; tcp dport 8082 drop; }; }")
        .unwrap();
    let (code, r) = json_in(
        &a,
        &fast(&["--tcp", "8080,8081", "--tcp", "8082", "10.10.0.2"]),
    );
    assert_eq!(code, 1, "a refused port fails the run");
    let t = &r.targets[0];
    assert_eq!(t.received, 2);
    let ports: Vec<_> = t.tcp.iter().map(|p| (p.port, p.outcome.clone())).collect();
    assert_eq!(ports.len(), 3);
    assert!(
        matches!(ports[0], (8080, TcpOutcome::Open { connect_ms }) if connect_ms >= 0.0),
        "{ports:?}"
    );
    assert_eq!(ports[1], (8081, TcpOutcome::Refused));
    assert_eq!(ports[2], (8082, TcpOutcome::Timeout));
    // Only the open port: exit 0.
    let (code, _) = json_in(&a, &fast(&["--tcp", "8080", "10.10.0.2"]));
    assert_eq!(code, 0);
}

#[test]
fn text_output_has_table_and_summary() {
    let (a, _b) = pair();
    let out = run_in(&a, &fast(&["10.10.0.2", "10.99.0.1"]));
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("TARGET"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("10.10.0.2") && l.ends_with("ok")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("10.99.0.1") && l.ends_with("network unreachable (no route)")),
        "{text}"
    );
    assert!(
        text.contains("2 targets") && text.contains("1 alive") && text.contains("1 unreachable"),
        "{text}"
    );
    assert!(text.contains("socket: raw"), "{text}");
}

fn bad(args: &[&str]) -> String {
    let out = Command::new(agent())
        .arg("probe")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    assert!(out.stdout.is_empty());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let e = bad(&["10.0.0.0/33"]);
    assert!(e.contains("`10.0.0.0/33`") && e.contains("CIDR"), "{e}");
    let e = bad(&["not-an-address"]);
    assert!(e.contains("not-an-address"), "{e}");
    let e = bad(&["10.0.0.0/8"]);
    assert!(e.contains("16777214") && e.contains("--max-targets"), "{e}");
    let e = bad(&["--interface", "nosuch0", "127.0.0.1"]);
    assert!(e.contains("nosuch0"), "{e}");
    let e = bad(&["127.0.0.1%nosuch1"]);
    assert!(e.contains("nosuch1"), "{e}");
    let e = bad(&["fe80::1"]);
    assert!(e.contains("fe80::1%NAME"), "{e}");
    let e = bad(&["--source", "192.0.2.77", "127.0.0.1"]);
    assert!(e.contains("192.0.2.77"), "{e}");
    let e = bad(&["--count", "0", "127.0.0.1"]);
    assert!(e.contains("count"), "{e}");
    let e = bad(&["--plan", "/nonexistent/plan.json"]);
    assert!(e.contains("/nonexistent/plan.json"), "{e}");
    let dir = tempdir();
    let p = dir.join("p.json");
    std::fs::write(
        &p,
        r#"{"schema":"preflight.plan/v1","targets":[{"id":"x","space":"s","source":"127.0.0.1","target":"127.0.0.2","mtu":"big"}]}"#,
    )
    .unwrap();
    let e = bad(&["--plan", p.to_str().unwrap()]);
    assert!(e.contains("p.json") && e.contains("targets[0].mtu"), "{e}");
    let e = bad(&["--plan", "/dev/zero"]);
    assert!(e.contains("/dev/zero"), "{e}");
    let e = bad(&[]);
    assert!(e.contains("TARGET") || e.contains("plan"), "{e}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_whole_cidr_on_loopback_answers_without_loss() {
    let ns = Netns::new("lo").unwrap();
    let start = Instant::now();
    let (code, r) = json_in(&ns, &["--count", "1", "--timeout", "1000", "127.3.0.0/22"]);
    assert_eq!(code, 0);
    assert_eq!(r.targets.len(), 1022);
    assert!(r
        .targets
        .iter()
        .all(|t| t.received == 1 && t.duplicates == 0));
    assert!(start.elapsed() < Duration::from_secs(30));
}

/// a, b and c on one bridge; b and c both hold 10.10.0.2 and fd10::2 (a copied netplan).
/// RFC 5227 ARP probes and DAD-style Neighbor Solicitations from a record both MACs; a's own
/// address and an unused one get no answer (a does not answer itself).
#[test]
fn neighbour_probes_record_every_mac_that_answers_for_an_address() {
    let sw = Netns::new("nsw").unwrap();
    let a = Netns::new("na").unwrap();
    let b = Netns::new("nb").unwrap();
    let c = Netns::new("nc").unwrap();
    sw.ip_line("link add br0 type bridge").unwrap();
    sw.ip_line("link set br0 up").unwrap();
    for (ns, dev, port, mac) in [
        (&a, "va", "pa", "02:00:00:00:00:0a"),
        (&b, "vb", "pb", "02:00:00:00:00:0b"),
        (&c, "vc", "pc", "02:00:00:00:00:0c"),
    ] {
        veth_between(ns, dev, &sw, port).unwrap();
        sw.ip_line(&format!("link set {port} master br0")).unwrap();
        sw.ip_line(&format!("link set {port} up")).unwrap();
        ns.ip_line(&format!("link set {dev} address {mac}"))
            .unwrap();
    }
    a.ip_line("addr add 10.10.0.1/24 dev va").unwrap();
    a.ip_line("addr add fd10::1/64 dev va nodad").unwrap();
    for (ns, dev) in [(&b, "vb"), (&c, "vc")] {
        ns.ip_line(&format!("addr add 10.10.0.2/24 dev {dev}"))
            .unwrap();
        ns.ip_line(&format!("addr add fd10::2/64 dev {dev} nodad"))
            .unwrap();
    }
    wait_up(&a, &["va"]);
    wait_up(&b, &["vb"]);
    wait_up(&c, &["vc"]);
    let dir = tempdir();
    let plan = dir.join("plan.json");
    let item = |id: &str, src: &str, target: &str| {
        format!(
            r#"{{"id":"{id}","space":"s","source":"{src}","target":"{target}","device":"va","kind":"neighbour"}}"#
        )
    };
    std::fs::write(
        &plan,
        format!(
            r#"{{"schema":"preflight.plan/v1","settings":{{"count":2,"interval_ms":50,"timeout_ms":1500,"retries":0}},"targets":[{},{},{},{},{},{}]}}"#,
            item("dup4", "10.10.0.1", "10.10.0.2"),
            item("dup6", "fd10::1", "fd10::2"),
            item("own4", "10.10.0.1", "10.10.0.1"),
            item("none4", "10.10.0.1", "10.10.0.9"),
            // one bad item: no device; the rest still runs
            r#"{"id":"bad","space":"s","source":"10.10.0.1","target":"10.10.0.2","kind":"neighbour"}"#,
            // an echo to the agent's own address would only reach itself: not run either
            r#"{"id":"self","space":"s","source":"10.10.0.1","target":"10.10.0.1"}"#,
        ),
    )
    .unwrap();
    let t = Instant::now();
    let (_code, r) = json_in(&a, &["--plan", plan.to_str().unwrap()]);
    assert!(t.elapsed() < Duration::from_secs(10));
    let by: std::collections::BTreeMap<&str, &preflight_model::probe::TargetResult> = r
        .targets
        .iter()
        .map(|t| (t.id.as_deref().unwrap(), t))
        .collect();
    let mut macs: Vec<String> = by["dup4"].macs.iter().map(|m| m.to_string()).collect();
    macs.sort();
    assert_eq!(macs, ["02:00:00:00:00:0b", "02:00:00:00:00:0c"], "{r:?}");
    let mut macs: Vec<String> = by["dup6"].macs.iter().map(|m| m.to_string()).collect();
    macs.sort();
    assert_eq!(macs, ["02:00:00:00:00:0b", "02:00:00:00:00:0c"], "{r:?}");
    assert!(by["own4"].macs.is_empty(), "{:?}", by["own4"]);
    assert!(by["none4"].macs.is_empty());
    assert_eq!(by["dup4"].sent, 2);
    assert!(matches!(
        &by["bad"].failure,
        Some(FailureCause::NotRun { reason }) if reason.contains("device")
    ));
    assert!(matches!(
        &by["self"].failure,
        Some(FailureCause::NotRun { reason }) if reason.contains("own address")
    ));
    // The report of these results: the echo item the agent did not run is probe.not-run (a
    // warning, so the run passes), not an unreachable pair; neighbour items (the refused one
    // too) need the MAAS model, so `report --probes` leaves them out.
    let results = dir.join("results.json");
    std::fs::write(&results, serde_json::to_string(&r).unwrap()).unwrap();
    let out = Command::new(preflight_e2e::binary("preflight"))
        .args(["report", "--format", "json", "--probes"])
        .arg(&results)
        .output()
        .unwrap();
    let report: preflight_model::report::Report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let codes: Vec<&str> = report.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, ["probe.not-run"], "{:?}", report.findings);
    assert_eq!(out.status.code(), Some(0));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn dns_probes_ask_from_the_source_address_and_follow_rfc2317_cnames() {
    // A DNS server this test starts inside its own namespace (the lab's responder, serving
    // the zone of a two-host topology whose space is RFC 2317-delegated); nothing else asked.
    let topology = preflight_lab::Topology::parse(
        r#"
name = "dns-probe"
description = "t"
[dns]
host = "srv"
rfc2317 = ["s"]
[[spaces]]
name = "s"
[[fabrics]]
name = "f"
vlans = [{ vid = 0, space = "s" }]
[[subnets]]
cidr = "10.10.0.0/24"
fabric = "f"
vid = 0
[[hosts]]
name = "a"
interfaces = [{ name = "va", subnet = "10.10.0.0/24", address = "10.10.0.1" }]
[[hosts]]
name = "srv"
interfaces = [{ name = "vb", subnet = "10.10.0.0/24", address = "10.10.0.2" }]
"#,
        "t.toml",
    )
    .unwrap();
    let a = Netns::new("nda").unwrap();
    let b = Netns::new("ndb").unwrap();
    veth_between(&a, "va", &b, "vb").unwrap();
    a.ip_line("addr add 10.10.0.1/24 dev va").unwrap();
    b.ip_line("addr add 10.10.0.2/24 dev vb").unwrap();
    wait_up(&a, &["va"]);
    wait_up(&b, &["vb"]);
    let sock = preflight_lab::netns::udp_in(&b, "10.10.0.2:53".parse().unwrap()).unwrap();
    let _server =
        preflight_lab::dns::Responder::start(sock, preflight_lab::dns::records(&topology)).unwrap();
    let dir = tempdir();
    let plan = dir.join("plan.json");
    std::fs::write(
        &plan,
        r#"{"schema":"preflight.plan/v1","settings":{"count":1,"timeout_ms":300,"retries":0},"targets":[
            {"id":"ok","space":"s","source":"10.10.0.1","target":"10.10.0.2","kind":"dns"},
            {"id":"silent","space":"s","source":"10.10.0.1","target":"10.10.0.9","kind":"dns"}]}"#,
    )
    .unwrap();
    let t = Instant::now();
    let (_code, r) = json_in(&a, &["--plan", plan.to_str().unwrap()]);
    assert!(t.elapsed() < Duration::from_secs(10));
    let by: std::collections::BTreeMap<&str, &preflight_model::probe::TargetResult> = r
        .targets
        .iter()
        .map(|t| (t.id.as_deref().unwrap(), t))
        .collect();
    let ok = by["ok"].dns.as_ref().unwrap();
    assert!(ok.answered, "{ok:?}");
    assert_eq!(ok.ptr, ["a.s.lab"], "{ok:?}");
    assert_eq!(ok.chain.len(), 1, "the RFC 2317 CNAME was followed: {ok:?}");
    assert_eq!(
        ok.forward[0].addresses,
        ["10.10.0.1".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(by["ok"].received, 1);
    let silent = by["silent"].dns.as_ref().unwrap();
    assert!(!silent.answered && silent.ptr.is_empty(), "{silent:?}");
    assert_eq!(by["silent"].received, 0);
}
