//! `preflight-agent observe` in a real namespace, compared field by field with iproute2
//! (`ip -j -d addr show`, `ip -j route show table all`) run in the same namespace.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use preflight_lab::netns::Netns;
use serde_json::Value;

fn agent() -> std::path::PathBuf {
    let path = preflight_e2e::binary("preflight-agent");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (test.sh does)",
        path.display()
    );
    path
}

/// The lab of the issue: veth pairs, a bridge with two ports, a macvlan, a vxlan, an MTU-9000
/// link, an admin-down link, IPv4 and IPv6 addresses, routes in the main table and table 100.
fn lab() -> Netns {
    let ns = Netns::new("obs").expect("namespace");
    for line in [
        // A veth pair inside the namespace (each end is the other's parent).
        "link add va type veth peer name vb",
        "link set va up",
        "link set vb up",
        "addr add 10.1.0.1/24 dev va",
        "addr add fd01::1/64 dev va nodad",
        "addr add 10.1.0.2/24 dev vb",
        // A bridge with two ports (the bridge ends of two veth pairs).
        "link add br0 type bridge",
        "link set br0 up",
        "link add p1 type veth peer name p1x",
        "link add p2 type veth peer name p2x",
        "link set p1 master br0",
        "link set p2 master br0",
        "link set p1 up",
        "link set p2 up",
        "link set p1x up",
        "link set p2x up",
        "addr add 10.2.0.1/24 dev br0",
        "addr add fd02::1/64 dev br0 nodad",
        // A macvlan and a vxlan on va.
        "link add mv0 link va type macvlan mode bridge",
        "link set mv0 up",
        "addr add 10.3.0.1/24 dev mv0",
        "link add vx100 type vxlan id 100 dev va local 10.1.0.1 dstport 4789",
        "link set vx100 up",
        "addr add 10.5.0.1/24 dev vx100",
        // An MTU-9000 link and an admin-down link.
        "link add big type veth peer name bigx",
        "link set big mtu 9000",
        "link set bigx mtu 9000",
        "link set big up",
        "link set bigx up",
        "addr add 10.4.0.1/24 dev big",
        "link add off type veth peer name offx",
        "addr add 10.6.0.1/24 dev off",
        // Routes: main table and table 100, IPv4 and IPv6, several types and protocols.
        "route add default via 10.1.0.254 dev va metric 10",
        "route add 10.50.0.0/16 via 10.1.0.254 dev va proto static metric 50",
        "route add 10.60.0.0/16 dev br0 table 100 proto static",
        "route add default via 10.2.0.254 dev br0 table 100",
        "route add blackhole 10.70.0.0/16 table 100",
        "route add 10.80.0.0/16 dev va scope link src 10.1.0.1 table 100",
        "-6 route add default via fd01::fe dev va metric 20",
        "-6 route add fd99::/64 via fd02::fe dev br0 table 100",
    ] {
        ns.ip_line(line)
            .unwrap_or_else(|e| panic!("ip {line}: {e}"));
    }
    settle(&ns);
    ns
}

/// Waits until IPv6 duplicate address detection is over and link states stop changing, so
/// the agent and iproute2 see the same thing.
fn settle(ns: &Netns) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = String::new();
    loop {
        let tentative = ns.ip_line("-6 addr show tentative").expect("ip addr");
        let links = ns.ip_line("-j link show").expect("ip link");
        let now = String::from_utf8_lossy(&links.stdout).to_string();
        if tentative.stdout.is_empty() && now == last {
            return;
        }
        assert!(Instant::now() < deadline, "namespace did not settle");
        last = now;
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn json_of(out: std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

fn observe(ns: &Netns, args: &[&str]) -> Value {
    let agent = agent();
    let mut all = vec!["observe"];
    all.extend_from_slice(args);
    json_of(
        ns.exec(agent.to_str().expect("utf-8 path"), &all)
            .expect("agent runs"),
    )
}

fn s(v: &Value) -> Option<&str> {
    v.as_str()
}

/// `ip` prints host routes without a prefix length; the agent always has one.
fn norm_dst(dst: &str) -> String {
    if dst == "default" || dst.contains('/') {
        dst.to_string()
    } else if dst.contains(':') {
        format!("{dst}/128")
    } else {
        format!("{dst}/32")
    }
}

fn table_id(name: &str) -> u64 {
    match name {
        "main" => 254,
        "local" => 255,
        "default" => 253,
        n => n.parse().unwrap_or_else(|_| panic!("table {n}")),
    }
}

#[test]
fn observe_matches_iproute2_field_by_field() {
    let ns = lab();
    let got = observe(&ns, &["--machine-id", "node-7"]);
    let ip_addr = json_of(ns.ip_line("-j -d addr show").expect("ip addr"));
    // `ip -j route show table all` shows both families but not which: ask per family.
    let ip_route4 = json_of(ns.ip_line("-j -4 route show table all").expect("ip route"));
    let ip_route6 = json_of(ns.ip_line("-j -6 route show table all").expect("ip route"));
    let ip_all = json_of(ns.ip_line("-j route show table all").expect("ip route"));
    assert_eq!(
        ip_all.as_array().unwrap().len(),
        ip_route4.as_array().unwrap().len() + ip_route6.as_array().unwrap().len()
    );

    assert_eq!(got["schema"], "preflight.observed/v1");
    assert_eq!(got["identity"]["system_id"], "node-7");
    assert!(!got["identity"]["agent_version"]
        .as_str()
        .unwrap()
        .is_empty());

    // ---- links ----
    let ip_links = ip_addr.as_array().expect("array");
    let links = got["links"].as_array().expect("links");
    let ip_index: Vec<u64> = ip_links
        .iter()
        .map(|l| l["ifindex"].as_u64().unwrap())
        .collect();
    let index: Vec<u64> = links
        .iter()
        .map(|l| l["ifindex"].as_u64().unwrap())
        .collect();
    let mut sorted = ip_index.clone();
    sorted.sort();
    assert_eq!(index, sorted, "same links, ordered by ifindex");
    assert_eq!(links.len(), 14, "lo + 13 links of the lab");
    let by_name: BTreeMap<&str, &Value> = links
        .iter()
        .map(|l| (l["name"].as_str().unwrap(), l))
        .collect();
    for il in ip_links {
        let name = il["ifname"].as_str().unwrap();
        let l = by_name
            .get(name)
            .unwrap_or_else(|| panic!("agent has no link {name}"));
        assert_eq!(l["ifindex"], il["ifindex"], "{name} ifindex");
        assert_eq!(l["mtu"], il["mtu"], "{name} mtu");
        let flags: Vec<&str> = il["flags"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f.as_str())
            .collect();
        assert_eq!(l["admin_up"], flags.contains(&"UP"), "{name} admin_up");
        if flags.contains(&"UP") {
            assert_eq!(l["carrier"], flags.contains(&"LOWER_UP"), "{name} carrier");
        }
        assert_eq!(
            l["oper_state"].as_str().unwrap(),
            il["operstate"].as_str().unwrap().to_lowercase(),
            "{name} operstate"
        );
        assert_eq!(s(&l["mac"]), s(&il["address"]), "{name} mac");
        assert_eq!(s(&l["master"]), s(&il["master"]), "{name} master");
        let kind = il["linkinfo"]["info_kind"].as_str().unwrap_or(
            match il["link_type"].as_str().unwrap() {
                "loopback" => "loopback",
                "ether" => "ethernet",
                other => other,
            },
        );
        assert_eq!(l["kind"], kind, "{name} kind");
        // Parent: IFLA_LINK (veth peer, macvlan lower), or the vxlan underlay.
        let parent = s(&il["link"]).or(s(&il["linkinfo"]["info_data"]["link"]));
        assert_eq!(s(&l["parent"]), parent, "{name} parent");
        if kind == "vxlan" {
            assert_eq!(
                l["vxlan_id"], il["linkinfo"]["info_data"]["id"],
                "{name} vni"
            );
        } else {
            assert!(l["vxlan_id"].is_null(), "{name} vxlan_id");
        }
        let ports: BTreeSet<&str> = ip_links
            .iter()
            .filter(|p| s(&p["master"]) == Some(name))
            .map(|p| p["ifname"].as_str().unwrap())
            .collect();
        let got_ports: BTreeSet<&str> = l["bridge_ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert_eq!(got_ports, ports, "{name} bridge ports");
    }
    // The lab's own expectations, so a wrong iproute2 reading cannot hide a mapping bug.
    assert_eq!(by_name["br0"]["kind"], "bridge");
    assert_eq!(
        by_name["br0"]["bridge_ports"],
        serde_json::json!(["p1", "p2"])
    );
    assert_eq!(by_name["p1"]["master"], "br0");
    assert_eq!(by_name["va"]["parent"], "vb");
    assert_eq!(by_name["mv0"]["kind"], "macvlan");
    assert_eq!(by_name["mv0"]["parent"], "va");
    assert_eq!(by_name["vx100"]["kind"], "vxlan");
    assert_eq!(by_name["vx100"]["vxlan_id"], 100);
    assert_eq!(by_name["vx100"]["parent"], "va");
    assert_eq!(by_name["big"]["mtu"], 9000);
    assert_eq!(by_name["off"]["admin_up"], false);
    assert_eq!(by_name["off"]["oper_state"], "down");
    assert_eq!(by_name["lo"]["kind"], "loopback");

    // ---- addresses ----
    let mut ip_addrs = Vec::new();
    for il in ip_links {
        for a in il["addr_info"].as_array().unwrap() {
            ip_addrs.push((
                il["ifindex"].as_u64().unwrap(),
                il["ifname"].as_str().unwrap().to_string(),
                a["local"].as_str().unwrap().to_string(),
                a["prefixlen"].as_u64().unwrap(),
                a["family"].as_str().unwrap().to_string(),
                a["scope"].as_str().unwrap().to_string(),
                [
                    a["tentative"].as_bool().unwrap_or(false),
                    a["deprecated"].as_bool().unwrap_or(false),
                    a["dadfailed"].as_bool().unwrap_or(false),
                    !a["dynamic"].as_bool().unwrap_or(false),
                ],
            ));
        }
    }
    let got_addrs: Vec<_> = got["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let f = &a["flags"];
            (
                a["ifindex"].as_u64().unwrap(),
                a["link"].as_str().unwrap().to_string(),
                a["address"].as_str().unwrap().to_string(),
                a["prefix_len"].as_u64().unwrap(),
                a["family"].as_str().unwrap().to_string(),
                a["scope"].as_str().unwrap().to_string(),
                [
                    f["tentative"].as_bool().unwrap(),
                    f["deprecated"].as_bool().unwrap(),
                    f["dadfailed"].as_bool().unwrap(),
                    f["permanent"].as_bool().unwrap(),
                ],
            )
        })
        .collect();
    let mut expected = ip_addrs.clone();
    expected.sort_by(|a, b| {
        let ka: std::net::IpAddr = a.2.parse().unwrap();
        let kb: std::net::IpAddr = b.2.parse().unwrap();
        (a.0, ka).cmp(&(b.0, kb))
    });
    assert_eq!(
        got_addrs, expected,
        "addresses, ordered by ifindex then address"
    );
    assert!(got_addrs
        .iter()
        .any(|a| a.2 == "fd01::1" && a.5 == "global" && a.4 == "inet6"));
    assert!(got_addrs.iter().any(|a| a.1 == "off" && a.2 == "10.6.0.1"));

    // ---- routes ----
    type Key = (
        String,
        String,
        String,
        Option<String>,
        String,
        u64,
        String,
        String,
        Option<u64>,
        Option<String>,
    );
    let ip_routes: Vec<Key> = [("inet", &ip_route4), ("inet6", &ip_route6)]
        .into_iter()
        .flat_map(|(family, routes)| routes.as_array().unwrap().iter().map(move |r| (family, r)))
        .map(|(family, r)| {
            let dst = norm_dst(r["dst"].as_str().unwrap());
            (
                family.to_string(),
                r["type"].as_str().unwrap_or("unicast").to_string(),
                dst,
                s(&r["gateway"]).map(String::from),
                s(&r["dev"]).unwrap_or("").to_string(),
                table_id(r["table"].as_str().unwrap_or("main")),
                r["protocol"].as_str().unwrap_or("boot").to_string(),
                r["scope"].as_str().unwrap_or("global").to_string(),
                r["metric"].as_u64(),
                s(&r["prefsrc"]).map(String::from),
            )
        })
        .collect();
    let got_routes: Vec<Key> = got["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["family"].as_str().unwrap().to_string(),
                r["route_type"].as_str().unwrap().to_string(),
                s(&r["destination"]).unwrap_or("default").to_string(),
                s(&r["gateway"]).map(String::from),
                s(&r["oif"]).unwrap_or("").to_string(),
                r["table"].as_u64().unwrap(),
                r["protocol"].as_str().unwrap().to_string(),
                r["scope"].as_str().unwrap().to_string(),
                r["metric"].as_u64(),
                s(&r["prefsrc"]).map(String::from),
            )
        })
        .collect();
    let mut a = got_routes.clone();
    let mut b = ip_routes.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b, "every route of every table");
    let has = |family: &str, ty: &str, dst: &str, table: u64| {
        got_routes
            .iter()
            .any(|r| r.0 == family && r.1 == ty && r.2 == dst && r.5 == table)
    };
    assert!(has("inet", "unicast", "10.60.0.0/16", 100));
    assert!(has("inet", "blackhole", "10.70.0.0/16", 100));
    assert!(has("inet", "unicast", "default", 100));
    assert!(has("inet6", "unicast", "fd99::/64", 100));
    assert!(has("inet", "local", "10.1.0.1/32", 255));
    assert!(has("inet6", "unicast", "default", 254));

    // ---- default gateways: main table only ----
    let gws = got["default_gateways"].as_array().unwrap();
    assert_eq!(gws.len(), 2, "{gws:?}");
    assert_eq!(gws[0]["family"], "inet");
    assert_eq!(gws[0]["gateway"], "10.1.0.254");
    assert_eq!(gws[0]["oif"], "va");
    assert_eq!(gws[0]["metric"], 10);
    assert_eq!(gws[1]["family"], "inet6");
    assert_eq!(gws[1]["gateway"], "fd01::fe");
    assert_eq!(gws[1]["metric"], 20);
}

#[test]
fn text_format_has_a_row_per_link() {
    let ns = lab();
    let agent = agent();
    let out = ns
        .exec(agent.to_str().unwrap(), ["observe", "--format", "text"])
        .expect("agent runs");
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: BTreeMap<&str, Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            (cells[0], cells)
        })
        .collect();
    assert!(text.starts_with("NAME"), "{text}");
    assert_eq!(rows.len(), 14, "{text}");
    assert_eq!(rows["br0"][..5], ["br0", "bridge", "UP", "1500", "-"]);
    assert_eq!(
        rows["br0"][5..7],
        ["10.2.0.1/24", "fd02::1/64"][..],
        "{text}"
    );
    assert!(rows["br0"][7].starts_with("fe80::"), "{text}");
    assert_eq!(rows["p1"][4], "br0");
    assert_eq!(rows["big"][3], "9000");
    assert_eq!(rows["off"][2], "ADMIN-DOWN");
}

#[test]
fn bad_flags_exit_2_with_a_message() {
    let out = Command::new(agent())
        .args(["observe", "--format", "yaml"])
        .output()
        .expect("agent runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("yaml"));
}

#[test]
fn links_changing_during_the_dumps_never_break_observe() {
    let ns = Netns::new("churn").expect("namespace");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        let name = ns.name().to_string();
        std::thread::spawn(move || {
            let mut rounds = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut batch = String::new();
                for i in 0..20 {
                    batch.push_str(&format!(
                        "link add c{i} type veth peer name d{i}\n\
                         link set c{i} up\n\
                         addr add 10.9.{i}.1/24 dev c{i}\n"
                    ));
                }
                for i in 0..20 {
                    batch.push_str(&format!("link del c{i}\n"));
                }
                let mut child = Command::new("ip")
                    .args(["-n", &name, "-force", "-batch", "-"])
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .expect("ip -batch");
                use std::io::Write;
                let _ = child.stdin.take().unwrap().write_all(batch.as_bytes());
                let _ = child.wait();
                rounds += 1;
            }
            rounds
        })
    };
    let agent = agent();
    let mut ok = 0;
    for _ in 0..15 {
        let out = ns
            .command(agent.to_str().unwrap())
            .arg("observe")
            .output()
            .expect("agent runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        match out.status.code() {
            Some(0) => {
                ok += 1;
                // A consistent snapshot: every address and route names a link of the document.
                let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
                let names: BTreeSet<&str> = v["links"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l["name"].as_str().unwrap())
                    .collect();
                for a in v["addresses"].as_array().unwrap() {
                    assert!(names.contains(a["link"].as_str().unwrap()), "{a}");
                }
                for r in v["routes"].as_array().unwrap() {
                    if let Some(dev) = r["oif"].as_str() {
                        assert!(names.contains(dev), "{r}");
                    }
                }
                for l in v["links"].as_array().unwrap() {
                    if let Some(m) = l["master"].as_str() {
                        assert!(names.contains(m), "{l}");
                    }
                }
            }
            Some(2) => {
                // Allowed only as the bounded-retry outcome, with its one-line message.
                assert!(stderr.contains("kept changing"), "{stderr}");
                assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
            }
            other => panic!("exit {other:?}: {stderr}"),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rounds = churn.join().expect("churn thread");
    assert!(rounds > 0, "the links did change during the test");
    assert!(ok > 0, "at least one observation succeeded under churn");
}

#[test]
fn non_utf8_interface_name_is_reported_lossily() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let ns = Netns::new("utf8").expect("namespace");
    let odd = OsStr::from_bytes(b"v\xff\xfe0");
    let args: Vec<&OsStr> = [
        b"link".as_slice(),
        b"add",
        b"x",
        b"type",
        b"veth",
        b"peer",
        b"name",
    ]
    .iter()
    .map(|a| OsStr::from_bytes(a))
    .chain([odd])
    .collect();
    // `ip link add x type veth peer name <odd>`, then an IPv4 address (whose IFA_LABEL is the
    // name's raw bytes) on it.
    ns.ip(args).expect("veth with a non-UTF-8 name");
    ns.ip([
        OsStr::new("addr"),
        OsStr::new("add"),
        OsStr::new("10.7.0.1/24"),
        OsStr::new("dev"),
        odd,
    ])
    .expect("address");
    ns.ip([OsStr::new("link"), OsStr::new("set"), odd, OsStr::new("up")])
        .expect("up");
    let got = observe(&ns, &[]);
    let link = got["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "v\u{fffd}\u{fffd}0")
        .unwrap_or_else(|| panic!("no lossy name in {got:#}"));
    assert_eq!(link["kind"], "veth");
    assert_eq!(link["parent"], "x");
    assert!(got["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["address"] == "10.7.0.1" && a["link"] == "v\u{fffd}\u{fffd}0"));
}
