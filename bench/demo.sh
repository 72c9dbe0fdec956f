#!/usr/bin/env bash
# Benchmark of `preflight demo` (issue 7). Needs root (namespaces), iproute2, nftables.
#
#   bench/demo.sh [RUNS]        (default 3 runs of each)
#
# 1. The default demo (4-node OpenStack, 7 spaces, 2 faults): wall time from start to
#    verdict, and peak RSS (GNU time %M: the largest process of the demo's tree).
# 2. large-100: 100 hosts x 3 spaces, full mesh = 3 * 100 * 99 = 29,700 probes. From the
#    coordinator's state dir (files are written as things arrive): last registration ->
#    plan -> last results -> report, and wall time (build, run, teardown). Target: report
#    within 3 s of the last registration.
# Prints medians. Builds release binaries first.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
cargo build --release --quiet --bins
bin="${CARGO_TARGET_DIR:-target}/release/preflight"
median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== default demo (openstack), $runs runs"
: > "$tmp/wall"; : > "$tmp/rss"
for i in $(seq "$runs"); do
  set +e
  /usr/bin/time -f "%e %M" -o "$tmp/t" "$bin" demo --quiet -o /dev/null
  code=$?
  set -e
  [ "$code" = 1 ] || { echo "unexpected exit $code (the default scenario must fail)"; exit 1; }
  read -r wall rss < <(tail -1 "$tmp/t")
  echo "$wall" >> "$tmp/wall"; echo "$rss" >> "$tmp/rss"
  echo "  run $i: ${wall} s, peak RSS ${rss} KiB, exit $code"
done
echo "  median wall: $(median < "$tmp/wall") s; median peak RSS: $(median < "$tmp/rss") KiB"

echo "== large-100 (100 hosts x 3 spaces, 29,700 probes), $runs runs"
: > "$tmp/reg2rep"; : > "$tmp/res2rep"; : > "$tmp/wall100"; : > "$tmp/probe"
for i in $(seq "$runs"); do
  dir="$tmp/run$i"
  set +e
  /usr/bin/time -f "%e %M" -o "$tmp/t" "$bin" demo --scenario large-100 --quiet \
    --work-dir "$dir" -o /dev/null --probe-deadline 300 2> "$tmp/err"
  code=$?
  set -e
  read -r wall rss < <(tail -1 "$tmp/t")
  [ "$code" = 0 ] || { echo "  run $i: exit $code"; tail -5 "$tmp/err"; }
  python3 - "$dir" "$wall" "$rss" "$code" >> "$tmp/lines" <<'PY'
import json, os, sys, glob
d, wall, rss, code = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
m = lambda p: os.stat(p).st_mtime
regs = [m(p) for p in glob.glob(f"{d}/state/agents/*.json")]
res = [m(p) for p in glob.glob(f"{d}/state/results/*.json")]
rep = m(f"{d}/report.json")
r = json.load(open(f"{d}/report.json"))["summary"]
if not regs or not res:
    print(f"nan nan {wall} nan agents={len(regs)} results={len(res)} "
          f"probes={r.get('probes_done')}/{r.get('probes_planned')} exit={code}")
    sys.exit(0)
print(f"{rep - max(regs):.3f} {rep - max(res):.3f} {wall} {max(res) - max(regs):.3f} "
      f"agents={len(regs)} results={len(res)} probes={r.get('probes_done')}/{r.get('probes_planned')} "
      f"findings={r['errors']}+{r['warnings']} rss={rss}KiB exit={code}")
PY
  line=$(tail -1 "$tmp/lines")
  set -- $line
  echo "$1" >> "$tmp/reg2rep"; echo "$2" >> "$tmp/res2rep"; echo "$3" >> "$tmp/wall100"; echo "$4" >> "$tmp/probe"
  echo "  run $i: last registration -> report ${1} s (probing ${4} s, last results -> report ${2} s), wall ${3} s; ${*:5}"
done
echo "  median last registration -> report: $(median < "$tmp/reg2rep") s (target < 3 s)"
echo "  median probing (last registration -> last results): $(median < "$tmp/probe") s"
echo "  median last results -> report: $(median < "$tmp/res2rep") s"
echo "  median wall (build lab, 100 agents, report, teardown): $(median < "$tmp/wall100") s"
