#!/usr/bin/env bash
# Does a duplicate address cost time? (issue 16). Needs root (namespaces), iproute2, nftables.
#
#   bench/duplicate.sh [RUNS]          (default 5)
#   BIN=target/debug/preflight bench/duplicate.sh 5     (skip the release build)
#
# Runs the shipped scenario `address-duplicate` (host3 also holds host1's address) and its
# healthy twin (the same file without its [[faults]] and [[expect]]) RUNS times each with
# `preflight demo`, and prints, per variant, the median and worst time from "agents started"
# to "coordinator finished" (the check itself, lab building excluded) and the findings.
# Before issue 16 the duplicate made an agent reject its whole plan and the coordinator wait
# the full probe deadline (62 s instead of 2.5 s); the target is: no slower than healthy.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet --bins
    BIN="${CARGO_TARGET_DIR:-target}/release/preflight"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$BIN" "$tmp" "$RUNS" <<'PY'
import json, re, statistics, subprocess, sys
binary, tmp, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
dup = open("scenarios/address-duplicate.toml").read()
healthy = dup.split("[[faults]]")[0].replace('name = "address-duplicate"', 'name = "address-duplicate-healthy"')
files = {"healthy": f"{tmp}/healthy.toml", "duplicate": f"{tmp}/duplicate.toml"}
open(files["healthy"], "w").write(healthy)
open(files["duplicate"], "w").write(dup)
stamp = re.compile(r"^\[\s*([0-9.]+)s\] (.*)$")
out = {}
for run in range(runs):
    for variant in ("healthy", "duplicate"):
        report = f"{tmp}/{variant}-{run}.json"
        p = subprocess.run([binary, "demo", "--scenario", files[variant], "--format", "json", "-o", report],
                           capture_output=True, text=True)
        start = end = None
        for line in p.stderr.splitlines() + p.stdout.splitlines():
            m = stamp.match(line)
            if not m:
                continue
            t, what = float(m.group(1)), m.group(2)
            if "agents started" in what:
                start = t
            if what.startswith("coordinator finished"):
                end = t
        if start is None or end is None:
            sys.exit(f"{variant} run {run}: no timing lines (exit {p.returncode}):\n{p.stderr[-2000:]}")
        r = json.load(open(report))
        codes = sorted(f["code"] for f in r["findings"] if f["severity"] != "info")
        out.setdefault(variant, []).append((end - start, codes))
for variant, rs in out.items():
    times = [t for t, _ in rs]
    codes = sorted({", ".join(c) or "none" for _, c in rs})
    print(f"{variant:9}  runs {len(rs)}  check median {statistics.median(times):.2f} s  worst {max(times):.2f} s  findings: {' | '.join(codes)}")
h = statistics.median(t for t, _ in out["healthy"])
d = statistics.median(t for t, _ in out["duplicate"])
print(f"duplicate / healthy (median): {d / h:.2f}")
PY
