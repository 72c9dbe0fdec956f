#!/usr/bin/env bash
# Benchmark of `preflight validate`, end to end (process start, bundle + overlay parse, MAAS
# snapshot parse, checks, JSON report): openstack-base + its spaces overlay against a generated
# MAAS with 5,000 machines. Target: under 1 s.
#
# Usage: bench/validate.sh [RUNS] [MACHINES]   (defaults 11 and 5000)
# Prints each run's wall time, the median, and the peak RSS (GNU time).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-11}
MACHINES=${2:-5000}
FIX=${PREFLIGHT_FIXTURES:-../shared/fixtures}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

cargo build --release --quiet -p preflight --bin preflight
cargo build --release --quiet -p preflight-validate --example gen_maas_snapshot
BIN=target/release/preflight
target/release/examples/gen_maas_snapshot "$MACHINES" public-space,internal,storage,admin "$OUT/snap.json"

args=(validate --bundle "$FIX/bundles/openstack-base/bundle.yaml"
      --overlay "$FIX/bundles/openstack-base/openstack-base-spaces-overlay.yaml"
      --provider "$OUT/snap.json" --format json -o "$OUT/report.json")

# One warm-up run (page cache), which must pass.
"$BIN" "${args[@]}" 2>/dev/null
python3 - "$OUT/report.json" <<'PY' || true
import json, sys
r = json.load(open(sys.argv[1]))
print(f"report: status={r['summary']['status']} findings={len(r['findings'])} checked={len(r['checked'])}")
PY

times=()
for _ in $(seq "$RUNS"); do
  s=$(date +%s%N)
  "$BIN" "${args[@]}" 2>/dev/null
  e=$(date +%s%N)
  times+=($(( (e - s) / 1000000 )))
done
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
median=${sorted[$(( RUNS / 2 ))]}
rss=$( { /usr/bin/time -f '%M' "$BIN" "${args[@]}" 2>&1 >/dev/null; } | tail -1)
echo "runs (ms): ${times[*]}"
echo "median: ${median} ms   min: ${sorted[0]} ms   max: ${sorted[$(( RUNS - 1 ))]} ms   peak RSS: ${rss} KiB"
echo "snapshot: $(stat -c %s "$OUT/snap.json") bytes, $MACHINES machines"

# Where the time goes (in-process, same inputs).
cargo build --release --quiet -p preflight-validate --example validate_phases
target/release/examples/validate_phases "$OUT/snap.json" 5 \
  "$FIX/bundles/openstack-base/bundle.yaml" "$FIX/bundles/openstack-base/openstack-base-spaces-overlay.yaml"
if [ "$median" -ge 1000 ]; then echo "FAIL: median over 1 s"; exit 1; fi
