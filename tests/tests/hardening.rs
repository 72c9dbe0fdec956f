//! Hostile peers, servers and files against the real binaries, on loopback and in network
//! namespaces this test creates (issue 14). Every loop is bounded; every child is killed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use preflight_lab::netns::{veth_between, Netns};
use preflight_model::observed::{Identity, ObservedConfig, OBSERVED_SCHEMA};
use preflight_model::probe::{FailureCause, ProbeReport};
use serde_json::{json, Value};

const TOKEN: &str = "hardening-test-token-0123456789";

fn tempdir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let d = std::env::temp_dir().join(format!("preflight-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_private(p: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(p, text).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn observed_file(dir: &Path, host: &str) -> PathBuf {
    let o = ObservedConfig {
        schema: OBSERVED_SCHEMA.into(),
        identity: Identity {
            hostname: host.into(),
            machine_id: None,
            system_id: None,
            agent_version: "test".into(),
            observed_at: "2026-01-01T00:00:00Z".into(),
        },
        links: vec![],
        addresses: vec![],
        routes: vec![],
        default_gateways: vec![],
        resolvers: vec![],
    };
    let p = dir.join(format!("{host}.json"));
    std::fs::write(&p, serde_json::to_string(&o).unwrap()).unwrap();
    p
}

/// A MAAS snapshot with one deployed machine per hostname, and nothing else.
fn snapshot(dir: &Path, hosts: &[&str]) -> PathBuf {
    let machines: Vec<Value> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| json!({ "system_id": format!("sys{i:03}"), "hostname": h, "status_name": "Deployed" }))
        .collect();
    let p = dir.join("maas.json");
    std::fs::write(
        &p,
        json!({ "spaces": [], "fabrics": [], "subnets": [], "machines": machines }).to_string(),
    )
    .unwrap();
    p
}

/// Kills the child when dropped (so a failing assertion leaves nothing running).
struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `preflight check` and returns it with the URL it listens on and its stderr lines.
fn start_check(mut cmd: Command) -> (Kill, String, Arc<Mutex<Vec<String>>>) {
    let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let url = loop {
        let line = lines.next().expect("a listening line").unwrap();
        seen.lock().unwrap().push(line.clone());
        if let Some(u) = line.strip_prefix("preflight: listening on ") {
            break u.trim().to_string();
        }
    };
    let s = seen.clone();
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            s.lock().unwrap().push(l);
        }
    });
    (Kill(child), url, seen)
}

fn check_cmd(dir: &Path, expect: usize, extra: &[&str]) -> Command {
    let mut c = Command::new(preflight_e2e::binary("preflight"));
    c.args(["check", "--provider"])
        .arg(dir.join("maas.json"))
        .args(["--listen", "127.0.0.1:0", "--expect", &expect.to_string()])
        .args(["--deadline", "60", "--probe-deadline", "30", "--quiet"])
        .args(["--format", "json", "-o"])
        .arg(dir.join("report.json"))
        .arg("--token-file")
        .arg(dir.join("token"))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    c
}

fn agent_cmd(url: &str, observed: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(preflight_e2e::binary("preflight-agent"));
    c.args(["run", "--coordinator", url, "--observed"])
        .arg(observed)
        .args(extra)
        .env("PREFLIGHT_TOKEN", TOKEN)
        .stdin(Stdio::null());
    c
}

/// Waits for a child at most `limit`, killing it after; returns its exit code (None: killed).
fn wait_at_most(child: &mut Child, limit: Duration) -> Option<i32> {
    let t = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code();
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs a command to the end (killing it after `limit`) and returns (exit code, stderr,
/// peak RSS in KiB) — the RSS from wait4, so it is the child's own.
fn run_measured(mut cmd: Command, limit: Duration) -> (Option<i32>, String, i64) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let pid = child.id() as libc::pid_t;
    let t = Instant::now();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to be filled in.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let code = loop {
        // SAFETY: wait4 on our own child with valid out-pointers.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            break if libc::WIFEXITED(status) {
                Some(libc::WEXITSTATUS(status))
            } else {
                None
            };
        }
        if t.elapsed() > limit {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            // SAFETY: as above, blocking this time.
            unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::mem::forget(child);
    (code, reader.join().unwrap(), ru.ru_maxrss)
}

// ---------------------------------------------------------------------------------------
// A stand-in server: each connection is handed to `handler` with the request line and body.

struct Req {
    method: String,
    path: String,
    body: Vec<u8>,
}

type Handler = dyn Fn(&Req, &mut TcpStream) + Send + Sync;

fn read_req(s: &mut TcpStream) -> Option<Req> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).ok()? == 0 || head.len() > 65536 {
            return None;
        }
        head.push(b[0]);
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let mut first = text.lines().next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let len = text
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    Some(Req { method, path, body })
}

fn respond(s: &mut TcpStream, status: &str, body: &str) {
    let _ = write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Serves `listener` on threads until the test ends; returns the requests seen.
fn serve(listener: TcpListener, handler: Arc<Handler>) -> Arc<Mutex<Vec<Req>>> {
    let seen: Arc<Mutex<Vec<Req>>> = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(10_000) {
            let Ok(mut stream) = stream else { continue };
            let handler = handler.clone();
            let seen = s2.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                if let Some(req) = read_req(&mut stream) {
                    handler(&req, &mut stream);
                    seen.lock().unwrap().push(req);
                }
            });
        }
    });
    seen
}

/// A stand-in coordinator handing out `plan` and keeping the results.
fn coordinator_handing_out(plan: Value) -> Arc<Handler> {
    Arc::new(
        move |r: &Req, s: &mut TcpStream| match (r.method.as_str(), r.path.as_str()) {
            ("POST", "/v1/register") => respond(
                s,
                "200 OK",
                &json!({ "agent_id": "a1", "agent_key": "k".repeat(40) }).to_string(),
            ),
            ("GET", "/v1/agents/a1/plan") => respond(
                s,
                "200 OK",
                &json!({ "state": "ready", "plan": plan }).to_string(),
            ),
            ("POST", "/v1/agents/a1/results") => {
                respond(s, "200 OK", r#"{"accepted":1,"duplicate":false}"#)
            }
            _ => respond(s, "404 Not Found", r#"{"error":"no"}"#),
        },
    )
}

/// A listener bound inside `ns` (from a thread that joined it; the socket stays there).
fn listen_in(ns: &Netns, addr: &str) -> TcpListener {
    use std::os::fd::AsRawFd;
    let path = format!("/run/netns/{}", ns.name());
    let addr = addr.to_string();
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path).expect("open netns");
        // SAFETY: setns on a valid namespace fd only changes this (short-lived) thread.
        let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
        TcpListener::bind(addr).expect("bind")
    })
    .join()
    .expect("listener thread")
}

/// Two namespaces on one veth: a (10.10.0.1/24) and b (10.10.0.2/24); b counts the echo
/// requests it gets in nftables table `count`.
fn pair() -> (Netns, Netns) {
    let a = Netns::new("ha").unwrap();
    let b = Netns::new("hb").unwrap();
    veth_between(&a, "va", &b, "vb").unwrap();
    a.ip_line("addr add 10.10.0.1/24 dev va").unwrap();
    b.ip_line("addr add 10.10.0.2/24 dev vb").unwrap();
    a.ip_line("link set lo up").unwrap();
    b.nft(
        "table inet count {\n chain input {\n type filter hook input priority 0;\n icmp type echo-request counter\n tcp flags syn counter\n }\n}\n",
    )
    .unwrap();
    // Wait until b answers (ARP, links up), bounded.
    for _ in 0..100 {
        let out = a
            .exec("ping", ["-c", "1", "-W", "1", "10.10.0.2"])
            .map(|o| o.status.success())
            .unwrap_or(false);
        if out {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (a, b)
}

fn counters(ns: &Netns) -> Vec<u64> {
    let out = ns
        .exec("nft", ["-j", "list", "table", "inet", "count"])
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.get("rule"))
        .flat_map(|r| r["expr"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e.get("counter").map(|c| c["packets"].as_u64().unwrap_or(0)))
        .collect()
}

fn target(id: &str, to: &str, ports: &[u16]) -> Value {
    json!({ "id": id, "space": "s", "source": "10.10.0.1", "target": to, "tcp_ports": ports })
}

fn agent_in(ns: &Netns, url: &str, dir: &Path, extra: &[&str]) -> Command {
    let mut c = ns.command(&preflight_e2e::binary("preflight-agent").to_string_lossy());
    c.args([
        "run",
        "--coordinator",
        url,
        "--give-up-after",
        "20",
        "--observed",
    ])
    .arg(observed_file(dir, "agent-a"))
    .args(extra)
    .env("PREFLIGHT_TOKEN", TOKEN)
    .stdin(Stdio::null());
    c
}

// ---------------------------------------------------------------------------------------

#[test]
fn probe_timeout_stops_the_probe_thread_and_its_packets() {
    let dir = tempdir("ptimeout");
    let (a, b) = pair();
    // 1000 echo requests a second apart: 1000 s of probing, unless the timeout stops it.
    let plan = json!({
        "schema": "preflight.plan/v1",
        "agent": "a1",
        "settings": { "count": 1000, "interval_ms": 1000, "timeout_ms": 1000, "retries": 0 },
        "targets": [target("s/a>b", "10.10.0.2", &[])],
    });
    let listener = listen_in(&a, "127.0.0.1:0");
    let url = format!("http://{}", listener.local_addr().unwrap());
    serve(listener, coordinator_handing_out(plan));
    let t = Instant::now();
    let (code, stderr, _) = run_measured(
        agent_in(&a, &url, &dir, &["--probe-timeout", "2"]),
        Duration::from_secs(30),
    );
    let took = t.elapsed();
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("did not finish within 2 s"), "{stderr}");
    assert!(took < Duration::from_secs(10), "the agent ran {took:?}");
    let sent = counters(&b)[0];
    std::thread::sleep(Duration::from_millis(1500));
    let later = counters(&b)[0];
    assert_eq!(sent, later, "packets still arrive after the agent exited");
    assert!(
        (1..=5).contains(&sent),
        "{sent} echo requests in a 2 s budget at 1/s"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn guard_rails_refuse_targets_one_by_one_and_report_them() {
    let dir = tempdir("guard");
    let (a, b) = pair();
    let many: Vec<u16> = (1..=100).collect();
    let plan = json!({
        "schema": "preflight.plan/v1",
        "agent": "a1",
        "settings": { "count": 2, "interval_ms": 0, "timeout_ms": 1000, "retries": 0 },
        "targets": [
            target("ok", "10.10.0.2", &[]),
            target("internet", "198.51.100.7", &[]),
            target("multicast", "224.0.0.251", &[]),
            target("broadcast", "10.10.0.255", &[]),
            target("scan", "10.10.0.2", &many),
        ],
    });
    let listener = listen_in(&a, "127.0.0.1:0");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = serve(listener, coordinator_handing_out(plan));
    let (code, stderr, _) = run_measured(agent_in(&a, &url, &dir, &[]), Duration::from_secs(30));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("interval_ms 0 changed"), "{stderr}");
    let seen = seen.lock().unwrap();
    let up = seen
        .iter()
        .find(|r| r.path == "/v1/agents/a1/results")
        .expect("results uploaded");
    let report: ProbeReport = serde_json::from_slice(&up.body).unwrap();
    let by_id = |id: &str| {
        report
            .targets
            .iter()
            .find(|t| t.id.as_deref() == Some(id))
            .unwrap_or_else(|| panic!("no result for {id}"))
    };
    assert_eq!(by_id("ok").received, 2, "{:?}", by_id("ok"));
    for id in ["internet", "multicast", "broadcast", "scan"] {
        let r = by_id(id);
        assert_eq!(r.sent, 0, "{id}");
        assert!(
            matches!(&r.failure, Some(FailureCause::LocalError { message }) if message.contains("guard rails")),
            "{id}: {:?}",
            r.failure
        );
    }
    // b saw the 2 echo requests of "ok" and not one TCP SYN of the scan.
    let c = counters(&b);
    assert_eq!((c[0], c[1]), (2, 0), "{c:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn redirects_are_not_followed_by_the_agent() {
    let dir = tempdir("redirect");
    let elsewhere = TcpListener::bind("127.0.0.1:0").unwrap();
    let other = elsewhere.local_addr().unwrap();
    let other_seen = serve(elsewhere, coordinator_handing_out(json!({})));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    serve(
        listener,
        Arc::new(move |_r: &Req, s: &mut TcpStream| {
            let _ = write!(
                s,
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{other}/v1/register\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }),
    );
    let (code, stderr, _) = run_measured(
        agent_cmd(&url, &observed_file(&dir, "h"), &[]),
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("does not follow redirects"), "{stderr}");
    assert!(
        other_seen.lock().unwrap().is_empty(),
        "the inventory went elsewhere"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_huge_answer_is_refused_with_bounded_memory() {
    let dir = tempdir("hugeplan");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    serve(
        listener,
        Arc::new(|r: &Req, s: &mut TcpStream| {
            if r.path == "/v1/register" {
                return respond(s, "200 OK", r#"{"agent_id":"a1","agent_key":""}"#);
            }
            // 2 GiB announced as chunked (no length to refuse up front), streamed until the
            // client hangs up.
            let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
            let chunk = vec![b' '; 1 << 20];
            for _ in 0..2048 {
                if write!(s, "{:x}\r\n", chunk.len()).is_err()
                    || s.write_all(&chunk).is_err()
                    || s.write_all(b"\r\n").is_err()
                {
                    return;
                }
            }
        }),
    );
    let (code, stderr, rss_kib) = run_measured(
        agent_cmd(&url, &observed_file(&dir, "h"), &[]),
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("larger than"), "{stderr}");
    assert!(rss_kib < 400 << 10, "agent peaked at {} MiB", rss_kib >> 10);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn give_up_after_bounds_a_coordinator_that_never_answers() {
    let dir = tempdir("giveup2");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // Accepts, reads the request, and never says a word.
    serve(
        listener,
        Arc::new(|_r: &Req, _s: &mut TcpStream| std::thread::sleep(Duration::from_secs(120))),
    );
    let mut c = agent_cmd(&url, &observed_file(&dir, "h"), &[]);
    c.args(["--give-up-after", "3"]);
    let t = Instant::now();
    let (code, stderr, _) = run_measured(c, Duration::from_secs(90));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("did not answer within 3 s"), "{stderr}");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn control_characters_from_the_coordinator_are_not_printed() {
    let dir = tempdir("ctrl");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    serve(
        listener,
        Arc::new(|_r: &Req, s: &mut TcpStream| {
            respond(
                s,
                "403 Forbidden",
                &json!({ "error": "no\u{1b}[2J\u{1b}]0;owned\u{7}\nfake: line", "field": "f\u{1b}[1m" })
                    .to_string(),
            )
        }),
    );
    let (code, stderr, _) = run_measured(
        agent_cmd(&url, &observed_file(&dir, "h"), &[]),
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("HTTP 403"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\u{7}'),
        "{stderr:?}"
    );
    assert!(!stderr.contains("\nfake: line"), "{stderr:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_idle_flood_does_not_starve_a_genuine_agent() {
    let dir = tempdir("flood");
    snapshot(&dir, &["genuine"]);
    write_private(&dir.join("token"), TOKEN);
    let mut cmd = check_cmd(&dir, 1, &[]);
    // The coordinator may open 256 files; the flood opens 600 connections.
    // SAFETY: setrlimit between fork and exec only touches the child.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            let r = libc::rlimit {
                rlim_cur: 256,
                rlim_max: 256,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (mut coord, url, _log) = start_check(cmd);
    let addr: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let mut flood = Vec::new();
    for i in 0..600 {
        if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
            if i % 3 == 0 {
                let _ = s.write_all(b"GET /v1/agents/x/plan HTTP/1.1\r\nHost: x\r\n");
            }
            flood.push(s);
        }
    }
    let mut agent = agent_cmd(&url, &observed_file(&dir, "genuine"), &[])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let code = wait_at_most(&mut agent, Duration::from_secs(40));
    let mut err = String::new();
    agent
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("results sent"), "{err}");
    drop(flood);
    assert!(wait_at_most(&mut coord.0, Duration::from_secs(30)).is_some());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn tls_with_a_pinned_fingerprint_works_end_to_end_and_a_wrong_pin_is_refused() {
    let dir = tempdir("tls");
    snapshot(&dir, &["one", "two"]);
    write_private(&dir.join("token"), TOKEN);
    let fp_file = dir.join("fingerprint");
    let mut cmd = check_cmd(&dir, 2, &["--tls", "--fingerprint-file"]);
    cmd.arg(&fp_file).arg("--state-dir").arg(dir.join("state"));
    let (mut coord, url, log) = start_check(cmd);
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let fp = std::fs::read_to_string(&fp_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(fp.starts_with("SHA256:") && fp.len() == 71, "{fp}");
    assert!(
        log.lock().unwrap().iter().any(|l| l
            == &format!(
                "preflight: TLS certificate fingerprint {fp} (self-signed, kept in {})",
                dir.join("state/tls").display()
            )),
        "{:?}",
        log.lock().unwrap()
    );
    // A wrong pin: refused, and named.
    let wrong = format!("SHA256:{}", "0".repeat(64));
    let (code, stderr, _) = run_measured(
        agent_cmd(
            &url,
            &observed_file(&dir, "one"),
            &["--fingerprint", &wrong, "--give-up-after", "3"],
        ),
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("not the pinned"), "{stderr}");
    // No pin, no public CA: refused too.
    let (code, _, _) = run_measured(
        agent_cmd(&url, &observed_file(&dir, "one"), &["--give-up-after", "3"]),
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(2));
    // The right pin, by value and by file (both at once: the check waits for two agents).
    let one = agent_cmd(&url, &observed_file(&dir, "one"), &["--fingerprint", &fp]);
    let mut two = agent_cmd(&url, &observed_file(&dir, "two"), &["--fingerprint-file"]);
    two.arg(&fp_file);
    let runs: Vec<_> = [one, two]
        .into_iter()
        .map(|c| std::thread::spawn(move || run_measured(c, Duration::from_secs(40))))
        .collect();
    for r in runs {
        let (code, stderr, _) = r.join().unwrap();
        assert_eq!(code, Some(0), "{stderr}");
        assert!(stderr.contains("results sent"), "{stderr}");
        assert!(!stderr.contains("plain HTTP"), "{stderr}");
    }
    assert!(wait_at_most(&mut coord.0, Duration::from_secs(30)).is_some());
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["summary"]["agents_expected"], 2);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn plain_http_says_so_on_both_sides() {
    let dir = tempdir("plain");
    snapshot(&dir, &["one"]);
    write_private(&dir.join("token"), TOKEN);
    let (mut coord, url, log) = start_check(check_cmd(&dir, 1, &[]));
    assert!(
        log.lock().unwrap().iter().any(|l| l.contains("plain HTTP")),
        "{:?}",
        log.lock().unwrap()
    );
    let (code, stderr, _) = run_measured(
        agent_cmd(&url, &observed_file(&dir, "one"), &[]),
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("warning: plain HTTP"), "{stderr}");
    assert!(wait_at_most(&mut coord.0, Duration::from_secs(30)).is_some());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn settings_no_agent_accepts_are_usage_errors_not_panics() {
    let dir = tempdir("flags");
    snapshot(&dir, &["one"]);
    write_private(&dir.join("token"), TOKEN);
    use preflight_model::limits::{MAX_COUNT, MAX_TIMEOUT_MS};
    let week = (7 * 24 * 3600).to_string();
    let (count, timeout) = (MAX_COUNT.to_string(), MAX_TIMEOUT_MS.to_string());
    // Refused at the command line, naming the flag and the cap (the agent's own constant).
    for (extra, cap) in [
        (["--deadline", "18446744073709551615"], week.as_str()),
        (["--probe-deadline", "18446744073709551615"], week.as_str()),
        (["--count", "100001"], count.as_str()),
        (["--count", "0"], count.as_str()),
        (["--timeout-ms", "3600001"], timeout.as_str()),
    ] {
        // Not check_cmd: it gives --deadline and --probe-deadline already.
        let mut c = Command::new(preflight_e2e::binary("preflight"));
        c.args(["check", "--provider"])
            .arg(dir.join("maas.json"))
            .args(["--listen", "127.0.0.1:0", "--expect", "1", "--quiet"])
            .arg("--token-file")
            .arg(dir.join("token"))
            .args(extra)
            .stdin(Stdio::null())
            .stderr(Stdio::piped());
        let (code, stderr, _) = run_measured(c, Duration::from_secs(20));
        assert_eq!(code, Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains(extra[0]), "{extra:?}: {stderr}");
        assert!(stderr.contains(&format!("..={cap}")), "{extra:?}: {stderr}");
    }
    // --note must be one printable line of at most 1 KiB.
    for extra in [["--note", "a\nforged: line"], ["--note", &"x".repeat(1025)]] {
        let mut c = check_cmd(&dir, 1, &extra);
        c.stderr(Stdio::piped());
        let (code, stderr, _) = run_measured(c, Duration::from_secs(20));
        assert_eq!(code, Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains(extra[0]), "{extra:?}: {stderr}");
    }
    // --help quotes the same caps.
    let help = Command::new(preflight_e2e::binary("preflight"))
        .args(["check", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains(&format!("1 to {MAX_COUNT}, the most an agent accepts")),
        "{help}"
    );
    assert!(
        help.contains(&format!("1 to {MAX_TIMEOUT_MS}, the most an agent accepts")),
        "{help}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_fifo_or_a_device_as_input_is_refused_at_once() {
    let dir = tempdir("fifo");
    snapshot(&dir, &["one"]);
    write_private(&dir.join("token"), TOKEN);
    let fifo = dir.join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let fifo_s = fifo.to_string_lossy().to_string();
    let maas = dir.join("maas.json").to_string_lossy().to_string();
    let token = dir.join("token").to_string_lossy().to_string();
    let base = |provider: &str, token: &str| -> Vec<String> {
        [
            "check",
            "--provider",
            provider,
            "--listen",
            "127.0.0.1:0",
            "--expect",
            "1",
            "--deadline",
            "1",
            "--quiet",
            "--token-file",
            token,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (base(&fifo_s, &token), "provider"),
        (base("/dev/zero", &token), "provider"),
        (base(&maas, &fifo_s), "token"),
        (base(&maas, "/dev/zero"), "token"),
        (
            [base(&maas, &token), vec!["--bundle".into(), fifo_s.clone()]].concat(),
            "bundle",
        ),
        (
            [
                base(&maas, &token),
                vec!["--bundle".into(), "/dev/zero".into()],
            ]
            .concat(),
            "bundle",
        ),
    ];
    for (args, what) in cases {
        let mut c = Command::new(preflight_e2e::binary("preflight"));
        c.args(&args).stdin(Stdio::null());
        let t = Instant::now();
        let (code, stderr, rss) = run_measured(c, Duration::from_secs(15));
        assert_eq!(code, Some(2), "{what} {args:?}: {stderr}");
        assert!(stderr.contains("not a regular file"), "{what}: {stderr}");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{what}: {:?}",
            t.elapsed()
        );
        assert!(rss < 200 << 10, "{what}: {} MiB", rss >> 10);
    }
    // The agent's token file too.
    let mut c = Command::new(preflight_e2e::binary("preflight-agent"));
    c.args([
        "run",
        "--coordinator",
        "http://127.0.0.1:9",
        "--token-file",
        &fifo_s,
    ]);
    let (code, stderr, _) = run_measured(c, Duration::from_secs(15));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("not a regular file"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A stand-in MAAS whose `machines/` answer is `machines`, the rest empty.
fn fake_maas(machines: Arc<Handler>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/MAAS", listener.local_addr().unwrap());
    serve(
        listener,
        Arc::new(move |r: &Req, s: &mut TcpStream| {
            if r.path.ends_with("/machines/") {
                machines(r, s)
            } else if r.path.ends_with("/version/") {
                respond(s, "200 OK", r#"{"version":"3.5.0"}"#)
            } else {
                respond(s, "200 OK", "[]")
            }
        }),
    );
    url
}

fn snapshot_cmd(url: &str, dir: &Path) -> Command {
    write_private(&dir.join("key"), "aaa:bbb:ccc");
    let mut c = Command::new(preflight_e2e::binary("preflight"));
    c.args(["maas", "snapshot", "--url", url, "--api-key-file"])
        .arg(dir.join("key"))
        .arg("-o")
        .arg(dir.join("snap.json"))
        .stdin(Stdio::null());
    c
}

#[test]
fn maas_snapshot_refuses_a_huge_answer_with_bounded_memory() {
    let dir = tempdir("maashuge");
    let url = fake_maas(Arc::new(|_r: &Req, s: &mut TcpStream| {
        let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
        let chunk = vec![b' '; 1 << 20];
        for _ in 0..3072 {
            if write!(s, "{:x}\r\n", chunk.len()).is_err()
                || s.write_all(&chunk).is_err()
                || s.write_all(b"\r\n").is_err()
            {
                return;
            }
        }
    }));
    let (code, stderr, rss) = run_measured(snapshot_cmd(&url, &dir), Duration::from_secs(120));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("machines/") && stderr.contains("more than"),
        "{stderr}"
    );
    assert!(rss < 700 << 10, "snapshot peaked at {} MiB", rss >> 10);
    assert!(!dir.join("snap.json").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn maas_snapshot_does_not_follow_redirects_and_names_bad_utf8() {
    let dir = tempdir("maasredir");
    let url = fake_maas(Arc::new(|_r: &Req, s: &mut TcpStream| {
        let _ = write!(s, "HTTP/1.1 302 Found\r\nLocation: http://198.51.100.9/steal\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }));
    let (code, stderr, _) = run_measured(snapshot_cmd(&url, &dir), Duration::from_secs(60));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("redirected machines/"), "{stderr}");
    assert!(stderr.contains("198.51.100.9"), "{stderr}");
    let url = fake_maas(Arc::new(|_r: &Req, s: &mut TcpStream| {
        let body = b"[{\"hostname\": \"caf\xe9\"}]";
        let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
        let _ = s.write_all(body);
    }));
    let (code, stderr, _) = run_measured(snapshot_cmd(&url, &dir), Duration::from_secs(60));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("/api/2.0/machines/") && stderr.contains("not UTF-8"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A tmpfs of `size` mounted at `dir` (unmounted when dropped), filled to the last byte.
struct FullTmpfs(PathBuf);
impl FullTmpfs {
    fn mount(dir: &Path, size: &str) -> FullTmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mounting a tmpfs at {} needs root", dir.display());
        FullTmpfs(dir.to_path_buf())
    }
    /// Writes a filler file until the file system says it is full.
    fn fill(&self) {
        let mut f = std::fs::File::create(self.0.join("filler")).unwrap();
        let block = vec![0u8; 4096];
        let mut written = 0usize;
        loop {
            match f.write(&block) {
                Ok(0) => break,
                Ok(n) => written += n,
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                    break;
                }
            }
            assert!(written < 64 << 20, "the tmpfs never filled up");
        }
        let _ = f.sync_all();
    }
}
impl Drop for FullTmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_under_the_state_dir_still_gives_the_report_and_says_resume_is_off() {
    let dir = tempdir("diskfull");
    snapshot(&dir, &["one", "two"]);
    write_private(&dir.join("token"), TOKEN);
    let fs = FullTmpfs::mount(&dir.join("small"), "256k");
    let state = dir.join("small/state");
    std::fs::create_dir_all(&state).unwrap();
    // Full before the first registration: neither the journal nor plan.json can be written.
    fs.fill();
    let state_s = state.to_string_lossy().to_string();
    let (mut coord, url, log) = start_check(check_cmd(&dir, 2, &["--state-dir", state_s.as_str()]));
    let agents: Vec<_> = ["one", "two"]
        .into_iter()
        .map(|host| {
            let c = agent_cmd(&url, &observed_file(&dir, host), &[]);
            std::thread::spawn(move || run_measured(c, Duration::from_secs(60)))
        })
        .collect();
    for a in agents {
        let (code, stderr, _) = a.join().unwrap();
        assert_eq!(code, Some(0), "{stderr}");
    }
    let code = wait_at_most(&mut coord.0, Duration::from_secs(60));
    let log = log.lock().unwrap().join("\n");
    assert_eq!(code, Some(0), "{log}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["summary"]["agents_reported"], 2, "{report}");
    assert!(
        log.contains("resume is off") && log.contains("No space left on device"),
        "{log}"
    );
    assert_eq!(log.matches("resume is off").count(), 1, "said once: {log}");
    // No temp file left behind; a restart refuses the half-written dir instead of resuming.
    let left: Vec<String> = std::fs::read_dir(&state)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let mut again = check_cmd(&dir, 2, &["--state-dir", state_s.as_str()]);
    again.stderr(Stdio::piped());
    let (code, stderr, _) = run_measured(again, Duration::from_secs(20));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("cannot be resumed"), "{stderr}");
    drop(fs);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_agent_maas_does_not_know_does_not_count_toward_expect() {
    let dir = tempdir("unknown-expect");
    snapshot(&dir, &["one"]);
    write_private(&dir.join("token"), TOKEN);
    let (mut coord, url, log) = start_check(check_cmd(&dir, 1, &[]));
    // A stranger registers first: the check must go on waiting for "one".
    let mut stranger = Kill(
        agent_cmd(&url, &observed_file(&dir, "stranger"), &[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(1500));
    let (code, stderr, _) = run_measured(
        agent_cmd(&url, &observed_file(&dir, "one"), &[]),
        Duration::from_secs(60),
    );
    assert_eq!(
        code,
        Some(0),
        "the machine MAAS knows is not turned away: {stderr}"
    );
    assert_eq!(
        wait_at_most(&mut stranger.0, Duration::from_secs(30)),
        Some(0)
    );
    let code = wait_at_most(&mut coord.0, Duration::from_secs(60));
    // drift.machine-unknown is an error finding: exit 1.
    assert_eq!(code, Some(1), "{:?}", log.lock().unwrap());
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let codes: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert!(codes.contains(&"drift.machine-unknown"), "{codes:?}");
    assert!(!codes.contains(&"agent.missing"), "{report}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn registrations_beyond_expect_are_refused_before_planning_with_a_state_dir() {
    let dir = tempdir("beyond-expect");
    let hosts: Vec<String> = (0..5).map(|i| format!("m{i}")).collect();
    snapshot(&dir, &hosts.iter().map(String::as_str).collect::<Vec<_>>());
    write_private(&dir.join("token"), TOKEN);
    let state = dir.join("state").to_string_lossy().to_string();
    // Expect 6 of the 5 machines, so the check is still registering when the 20 come.
    let (_coord, url, _log) = start_check(check_cmd(&dir, 6, &["--state-dir", state.as_str()]));
    let addr: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let threads: Vec<_> = (0..20)
        .map(|i| {
            std::thread::spawn(move || {
                // m0..m4 are MAAS's machines, the 15 others are not.
                let host = if i < 5 { format!("m{i}") } else { format!("x{i}") };
                let body = json!({ "observed": {
                    "schema": OBSERVED_SCHEMA, "identity": { "hostname": host,
                    "agent_version": "t", "observed_at": "2026-01-01T00:00:00Z" },
                    "links": [], "addresses": [], "routes": [], "default_gateways": [] } })
                .to_string();
                let mut s = TcpStream::connect(addr).unwrap();
                write!(
                    s,
                    "POST /v1/register HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
                let mut answer = String::new();
                let _ = s.read_to_string(&mut answer);
                answer.split(' ').nth(1).unwrap_or("").to_string()
            })
        })
        .collect();
    let statuses: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let ok = statuses.iter().filter(|s| *s == "200").count();
    let refused = statuses.iter().filter(|s| *s == "409").count();
    // The 5 machines MAAS knows, and at most --expect (6) strangers: 11 of 20, not all.
    assert_eq!((ok, refused), (11, 9), "{statuses:?}");
    std::fs::remove_dir_all(&dir).ok();
}
