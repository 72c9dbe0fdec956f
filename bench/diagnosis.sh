#!/usr/bin/env bash
# Truth benchmark of the diagnosis (issue 15). Needs root (namespaces), iproute2, nftables.
#
#   bench/diagnosis.sh [SINGLE] [DOUBLE] [HEALTHY] [SEED]     (default 15 15 5 1)
#
# A 12-host x 4-space lab (oam untagged on eno1, internal VLAN 100 and storage VLAN 200 at
# MTU 9000 as VLAN interfaces on eno1, data untagged on eno2). Each run draws one or two
# faults on different machines from: link down (eno1, eno1.100, eno1.200 or eno2), dead
# switch port (eno1 or eno2, every VLAN on it), VLAN missing on the trunk (eno1, eno1.100,
# eno1.200, eno2), switch port MTU 1500 on storage (eno1.200), one-way ICMP drop between two
# machines in one subnet. `preflight demo` runs the scenario; a cause is right when it names
# the fault's machine and interface (for a one-way drop: its source and target).
# Prints precision and recall of the causes for single and double faults, and the number of
# causes on healthy runs. Targets: 100 % single, >= 95 % double, 0 on healthy.
set -euo pipefail
cd "$(dirname "$0")/.."
SINGLE=${1:-15}
DOUBLE=${2:-15}
HEALTHY=${3:-5}
SEED=${4:-1}
cargo build --release --quiet --bins
bin="${CARGO_TARGET_DIR:-target}/release/preflight"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$bin" "$tmp" "$SINGLE" "$DOUBLE" "$HEALTHY" "$SEED" <<'PY'
import json, random, subprocess, sys, time
binary, tmp, single, double, healthy, seed = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
rng = random.Random(seed)
HOSTS = [f"node{i}" for i in range(1, 13)]
SUBNETS = ["10.0.0.0/24", "10.100.0.0/24", "10.200.0.0/24", "10.30.0.0/24"]
BASE = '''name = "bench-diagnosis"
description = "12 hosts x 4 spaces, random faults"
[check]
deadline_secs = 60
[[spaces]]
name = "oam"
[[spaces]]
name = "internal"
[[spaces]]
name = "storage"
[[spaces]]
name = "data"
[[fabrics]]
name = "fabric-0"
vlans = [
  { vid = 0, space = "oam" },
  { vid = 100, name = "internal", space = "internal" },
  { vid = 200, name = "storage", mtu = 9000, space = "storage" },
  { vid = 300, name = "data", space = "data" },
]
[[subnets]]
cidr = "10.0.0.0/24"
fabric = "fabric-0"
vid = 0
[[subnets]]
cidr = "10.100.0.0/24"
fabric = "fabric-0"
vid = 100
[[subnets]]
cidr = "10.200.0.0/24"
fabric = "fabric-0"
vid = 200
[[subnets]]
cidr = "10.30.0.0/24"
fabric = "fabric-0"
vid = 300
[[host_groups]]
prefix = "node"
count = 12
interfaces = [
  { name = "eno1", subnet = "10.0.0.0/24", first = 11 },
  { name = "eno1.100", subnet = "10.100.0.0/24", first = 11, parent = "eno1" },
  { name = "eno1.200", subnet = "10.200.0.0/24", first = 11, parent = "eno1" },
  { name = "eno2", subnet = "10.30.0.0/24", first = 11 },
]
'''

def draw(exclude):
    kind = rng.choice(["link-down", "port-dead", "vlan-missing", "switch-port-mtu", "drop"])
    free = [h for h in HOSTS if h not in exclude]
    if kind == "drop":
        a, b = rng.sample(free, 2)
        return {"kind": kind, "from": a, "to": b, "subnet": rng.choice(SUBNETS)}, {a, b}
    h = rng.choice(free)
    iface = {
        "link-down": ["eno1", "eno1.100", "eno1.200", "eno2"],
        "port-dead": ["eno1", "eno2"],
        "vlan-missing": ["eno1", "eno1.100", "eno1.200", "eno2"],
        "switch-port-mtu": ["eno1.200"],
    }[kind]
    f = {"kind": kind, "host": h, "interface": rng.choice(iface)}
    if kind == "switch-port-mtu":
        f["mtu"] = 1500
    return f, {h}

def toml(faults):
    out = BASE
    for f in faults:
        out += "[[faults]]\n" + "".join(
            f'{k} = {v}\n' if isinstance(v, int) else f'{k} = "{v}"\n' for k, v in f.items())
    return out

def right(cause, f):
    s = cause["subject"]
    if f["kind"] == "drop":
        return cause["code"] == "cause.policy" and s.get("source") == f["from"] and s.get("target") == f["to"]
    return s.get("machine") == f["host"] and s.get("interface") == f["interface"]

runs = [("healthy", 0)] * healthy + [("single", 1)] * single + [("double", 2)] * double
stats = {k: {"causes": 0, "right": 0, "faults": 0, "found": 0, "runs": 0} for k in ("healthy", "single", "double")}
wall = []
for n, (cat, k) in enumerate(runs):
    faults, used = [], set()
    for _ in range(k):
        f, hs = draw(used)
        faults.append(f)
        used |= hs
    path = f"{tmp}/run{n}.toml"
    open(path, "w").write(toml(faults))
    t = time.time()
    p = subprocess.run([binary, "demo", "--scenario", path, "--quiet", "--format", "json",
                        "-o", f"{tmp}/run{n}.json"], capture_output=True, text=True)
    wall.append(time.time() - t)
    if p.returncode not in (0, 1):
        print(f"run {n}: exit {p.returncode}: {p.stderr[-400:]}")
        sys.exit(1)
    r = json.load(open(f"{tmp}/run{n}.json"))
    causes = (r.get("diagnosis") or {}).get("causes", [])
    st = stats[cat]
    st["runs"] += 1
    st["causes"] += len(causes)
    st["faults"] += len(faults)
    st["right"] += sum(1 for c in causes if any(right(c, f) for f in faults))
    st["found"] += sum(1 for f in faults if any(right(c, f) for c in causes))
    ok = all(any(right(c, f) for c in causes) for f in faults) and len(causes) == len(faults)
    desc = "; ".join(" ".join(str(v) for v in f.values()) for f in faults) or "healthy"
    got = "; ".join(f'{c["code"]} {c["subject"].get("machine") or c["subject"].get("space")} {c["subject"].get("interface") or ""}'.strip() for c in causes) or "no cause"
    print(f"run {n:2} {cat:7} {'ok ' if ok else 'MISS'} {wall[-1]:.1f} s  injected: {desc}  ->  {got}")
print()
for cat in ("single", "double"):
    st = stats[cat]
    prec = 100.0 * st["right"] / st["causes"] if st["causes"] else float("nan")
    rec = 100.0 * st["found"] / st["faults"] if st["faults"] else float("nan")
    print(f"{cat}: {st['runs']} runs, {st['faults']} faults, {st['causes']} causes: precision {prec:.1f} %, recall {rec:.1f} %")
st = stats["healthy"]
print(f"healthy: {st['runs']} runs, {st['causes']} causes")
wall.sort()
print(f"wall per run (build, check, teardown): median {wall[len(wall)//2]:.1f} s")
PY
