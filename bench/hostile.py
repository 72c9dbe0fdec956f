#!/usr/bin/env python3
"""Peak memory of the coordinator, the agent and `maas snapshot` under hostile input (issue 14).

Everything runs on loopback; every child is killed at the end. Peak RSS is the child's own
(`ru_maxrss` from wait4), which on Linux is at least this script's own size when it forked the
child, so bench/hostile.sh runs each scenario in a fresh, small interpreter. Usage: bench/hostile.py BIN_DIR  (bench/hostile.sh builds and calls it)
"""

import http.server
import json
import os
import resource
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release"
PREFLIGHT = os.path.join(BIN, "preflight")
AGENT = os.path.join(BIN, "preflight-agent")
TOKEN = "bench-hostile-token-0123456789abcdef"
WORK = tempfile.mkdtemp(prefix="preflight-hostile-")
rows = []


def private(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def observed(path, host):
    with open(path, "w") as f:
        json.dump(
            {
                "schema": "preflight.observed/v1",
                "identity": {
                    "hostname": host,
                    "machine_id": None,
                    "system_id": None,
                    "agent_version": "bench",
                    "observed_at": "2026-01-01T00:00:00Z",
                },
                "links": [],
                "addresses": [],
                "routes": [],
                "default_gateways": [],
            },
            f,
        )
    return path


def snapshot(hosts):
    p = os.path.join(WORK, "maas.json")
    machines = [
        {"system_id": "sys%03d" % i, "hostname": h, "status_name": "Deployed"}
        for i, h in enumerate(hosts)
    ]
    with open(p, "w") as f:
        json.dump({"spaces": [], "fabrics": [], "subnets": [], "machines": machines}, f)
    return p


def wait_rss(proc, limit):
    """Waits for proc (killing it after `limit` s); returns (exit code, peak RSS MiB)."""
    t = time.time()
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, ru.ru_maxrss / 1024
        if time.time() - t > limit:
            proc.kill()
            pid, status, ru = os.wait4(proc.pid, 0)
            proc.returncode = -9
            return None, ru.ru_maxrss / 1024
        time.sleep(0.02)


def start_check(expect, extra=(), nofile=None, deadline=30):
    snapshot(["h%d" % i for i in range(expect)])
    private(os.path.join(WORK, "token"), TOKEN)
    cmd = [
        PREFLIGHT, "check", "--provider", os.path.join(WORK, "maas.json"),
        "--listen", "127.0.0.1:0", "--expect", str(expect), "--deadline", str(deadline),
        "--probe-deadline", "10", "--quiet", "--format", "json",
        "-o", os.path.join(WORK, "report.json"), "--token-file", os.path.join(WORK, "token"),
        *extra,
    ]

    def limit():
        if nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL, preexec_fn=limit, text=True)
    while True:
        line = p.stderr.readline()
        if not line:
            raise SystemExit("the coordinator did not start")
        if line.startswith("preflight: listening on "):
            url = line.split()[-1]
            break
    threading.Thread(target=lambda: p.stderr.read(), daemon=True).start()
    return p, url


def agent(url, host, extra=()):
    return subprocess.Popen(
        [AGENT, "run", "--coordinator", url, "--observed",
         observed(os.path.join(WORK, host + ".json"), host), *extra],
        env={**os.environ, "PREFLIGHT_TOKEN": TOKEN},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )


def post(addr, path, body, headers=()):
    s = socket.create_connection(addr, timeout=60)
    head = "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n" % (path, TOKEN, len(body))
    for h in headers:
        head += h + "\r\n"
    try:
        s.sendall(head.encode() + b"\r\n")
        s.sendall(body)
        out = s.recv(4096)
    except OSError:
        out = b""
    s.close()
    return out


def row(what, who, code, mib, note=""):
    rows.append((what, who, code, mib, note))
    print("%-58s %-10s exit=%-5s peak %7.1f MiB %s" % (what, who, code, mib, note), flush=True)


def bench_idle_flood():
    coord, url = start_check(1, nofile=256)
    host, port = url.split("//")[1].split(":")
    flood = []
    for i in range(1100):
        try:
            s = socket.create_connection((host, int(port)), timeout=0.5)
            if i % 3 == 0:
                s.sendall(b"GET /v1/agents/x/plan HTTP/1.1\r\nHost: x\r\n")
            flood.append(s)
        except OSError:
            pass
    t = time.time()
    a = agent(url, "h0")
    code, _ = wait_rss(a, 60)
    took = time.time() - t
    ccode, mib = wait_rss(coord, 60)
    for s in flood:
        s.close()
    row("1,100 idle/slowloris sockets, 256 open files", "check", ccode, mib,
        "(genuine agent exit %s after %.1f s)" % (code, took))


def bench_identity():
    coord, url = start_check(200, deadline=3600)
    addr = tuple([url.split("//")[1].split(":")[0], int(url.split(":")[-1])])
    statuses = {}
    big = json.dumps({"observed": json.load(open(observed(os.path.join(WORK, "x.json"), "h" * (4 << 20))))}).encode()
    for i in range(150):
        r = post(addr, "/v1/register", big)
        statuses[r[9:12] or b"reset"] = statuses.get(r[9:12] or b"reset", 0) + 1
    for i in range(150):
        o = json.load(open(observed(os.path.join(WORK, "x.json"), "h" * 300 + str(i))))
        r = post(addr, "/v1/register", json.dumps({"observed": o}).encode())
        statuses[r[9:12]] = statuses.get(r[9:12], 0) + 1
    coord.kill()
    code, mib = wait_rss(coord, 10)
    row("150 x 4 MiB hostnames + 150 x 300-byte hostnames", "check", "killed", mib,
        "(answers %s)" % {k.decode(): v for k, v in statuses.items()})


def bench_uploads():
    coord, url = start_check(2, deadline=3600)
    addr = tuple([url.split("//")[1].split(":")[0], int(url.split(":")[-1])])
    o = json.load(open(observed(os.path.join(WORK, "h0.json"), "h0")))
    key = "k" * 40
    post(addr, "/v1/register", json.dumps({"observed": o, "agent_key": key}).encode())
    body = b"[" + b" " * (31 << 20) + b"]"
    answers = []

    def up(k):
        answers.append(post(addr, "/v1/agents/h0/results", body, ["X-Preflight-Agent-Key: " + k])[9:12])

    for k in (key, "wrong" * 8):
        ts = [threading.Thread(target=up, args=(k,)) for _ in range(60)]
        [t.start() for t in ts]
        [t.join() for t in ts]
    coord.kill()
    code, mib = wait_rss(coord, 10)
    counts = {}
    for a in answers:
        counts[a.decode()] = counts.get(a.decode(), 0) + 1
    row("60 x 31 MiB results at once, with the key and without", "check", "killed", mib,
        "(answers %s; '' = answered 403/408 while the body was still being sent)" % counts)


class Huge(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    total = 2 << 30

    def log_message(self, *a):
        pass

    def stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b" " * (1 << 20)
        try:
            for _ in range(self.total >> 20):
                self.wfile.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        except OSError:
            pass

    def small(self, body):
        b = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        self.rfile.read(n)
        self.small('{"agent_id":"a1","agent_key":""}')

    def do_GET(self):
        if self.path.endswith("/plan") or self.path.endswith("/machines/"):
            return self.stream()
        if self.path.endswith("/version/"):
            return self.small('{"version":"3.5.0"}')
        self.small("[]")


def serve(handler):
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def bench_huge_plan():
    srv = serve(Huge)
    a = agent("http://127.0.0.1:%d" % srv.server_address[1], "h0")
    code, mib = wait_rss(a, 120)
    srv.shutdown()
    row("2 GiB plan answer (chunked)", "agent", code, mib)


def bench_huge_maas():
    class H(Huge):
        total = 3 << 30

    srv = serve(H)
    private(os.path.join(WORK, "key"), "aaa:bbb:ccc")
    p = subprocess.Popen(
        [PREFLIGHT, "maas", "snapshot", "--url", "http://127.0.0.1:%d/MAAS" % srv.server_address[1],
         "--api-key-file", os.path.join(WORK, "key"), "-o", os.path.join(WORK, "snap.json")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )
    code, mib = wait_rss(p, 300)
    srv.shutdown()
    row("3 GiB MAAS machines/ answer (chunked)", "snapshot", code, mib)


def bench_fifo():
    fifo = os.path.join(WORK, "fifo")
    os.mkfifo(fifo)
    snapshot(["h0"])
    for what, args in [
        ("FIFO as --provider", ["--provider", fifo]),
        ("/dev/zero as --provider", ["--provider", "/dev/zero"]),
        ("/dev/zero as --bundle", ["--provider", os.path.join(WORK, "maas.json"), "--bundle", "/dev/zero"]),
        ("/dev/zero as --token-file", ["--provider", os.path.join(WORK, "maas.json"), "--token-file-zero"]),
    ]:
        token = os.path.join(WORK, "token")
        if args[-1] == "--token-file-zero":
            args, token = args[:-1], "/dev/zero"
        p = subprocess.Popen(
            [PREFLIGHT, "check", *args, "--listen", "127.0.0.1:0", "--expect", "1",
             "--deadline", "1", "--quiet", "--token-file", token],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        )
        code, mib = wait_rss(p, 60)
        row(what, "check", code, mib)


def bench_shared_hostname():
    coord, url = start_check(20000, deadline=3600)
    addr = tuple([url.split("//")[1].split(":")[0], int(url.split(":")[-1])])
    o = json.load(open(observed(os.path.join(WORK, "x.json"), "same")))
    n = 10000
    t = time.time()
    last = t
    for i in range(n):
        o["links"] = [{
            "ifindex": 2, "name": "eth0", "kind": "veth", "mac": "02:00:%02x:%02x:00:01" % (i >> 8, i & 255),
            "mtu": 1500, "admin_up": True, "oper_state": "up", "carrier": True, "master": None,
            "master_ifindex": None, "parent": None, "parent_ifindex": None, "vlan_id": None,
            "vxlan_id": None, "bond": None, "bridge_ports": [],
        }]
        if i == n - 1000:
            last = time.time()
        post(addr, "/v1/register", json.dumps({"observed": o}).encode())
    per_last = (time.time() - last) / 1000 * 1000
    coord.kill()
    code, mib = wait_rss(coord, 10)
    row("10,000 registrations sharing one hostname", "check", "killed", mib,
        "(last 1,000: %.2f ms each; all: %.1f s)" % (per_last, time.time() - t))


if __name__ == "__main__":
    only = sys.argv[2:] or ["flood", "identity", "uploads", "plan", "maas", "fifo", "hostname"]
    try:
        for name, f in [("flood", bench_idle_flood), ("identity", bench_identity),
                        ("uploads", bench_uploads), ("plan", bench_huge_plan),
                        ("maas", bench_huge_maas), ("fifo", bench_fifo),
                        ("hostname", bench_shared_hostname)]:
            if name in only:
                f()
    finally:
        subprocess.run(["rm", "-rf", WORK])
