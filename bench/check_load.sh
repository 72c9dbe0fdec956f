#!/usr/bin/env bash
# Benchmark of `preflight check` with simulated agents (no namespaces):
#   AGENTS agents as concurrent HTTP clients, SPACES spaces, synthetic observed configs and
#   results, a --state-dir throughout.
# Targets (issues 6 and 19):
#   - sparse plan (full mesh up to 128 per space): report < 2 s after the last agent reports;
#   - 200 x 5 full mesh (--full-mesh-max 200, 199,000 probes): coordinator peak RSS < 200 MB,
#     report within 1 s of the last results;
#   - 5,000 agents registering at once with --state-dir: all acknowledged (so durable) in
#     < 5 s, and after kill -9 the journal holds every one;
#   - the 5,000 machines x 20 spaces sparse-plan build: < 1 s.
# Usage: bench/check_load.sh [AGENTS] [SPACES] [RUNS] [REGISTERING]
# Builds into CARGO_TARGET_DIR (default target) with --release.
set -euo pipefail
cd "$(dirname "$0")/.."
AGENTS=${1:-200}
SPACES=${2:-5}
RUNS=${3:-3}
REGISTERING=${4:-5000}
T=${CARGO_TARGET_DIR:-target}/release
cargo build --release -q -p preflight --bin preflight
cargo build --release -q -p preflight-check --examples
for i in $(seq "$RUNS"); do
  echo "run $i (sparse above 128 per space):"
  "$T/examples/check_load" "$T/preflight" "$AGENTS" "$SPACES" 128
done
echo "full mesh ($AGENTS per space, --full-mesh-max $AGENTS):"
"$T/examples/check_load" "$T/preflight" "$AGENTS" "$SPACES" "$AGENTS"
echo "registration burst ($REGISTERING agents at once, --state-dir):"
"$T/examples/check_load" "$T/preflight" "$REGISTERING" 1 128 register
"$T/examples/plan_bench" 5000 20 5
