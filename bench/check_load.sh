#!/usr/bin/env bash
# Benchmark of `preflight check` with simulated agents (no namespaces):
#   200 agents as concurrent HTTP clients, 5 spaces, synthetic observed configs and results.
# Targets (issue 6): report < 2 s after the last agent reports; coordinator peak RSS < 200 MB.
# Also runs the 5,000 machines x 20 spaces sparse-plan build (target < 1 s).
# Usage: bench/check_load.sh [AGENTS] [SPACES] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
AGENTS=${1:-200}
SPACES=${2:-5}
RUNS=${3:-3}
cargo build --release -q -p preflight --bin preflight
cargo build --release -q -p preflight-check --examples
for i in $(seq "$RUNS"); do
  echo "run $i (sparse above 128 per space):"
  target/release/examples/check_load target/release/preflight "$AGENTS" "$SPACES" 128
done
echo "full mesh ($AGENTS per space):"
target/release/examples/check_load target/release/preflight "$AGENTS" "$SPACES" "$AGENTS"
target/release/examples/plan_bench 5000 20 5
