#!/usr/bin/env bash
# Scale benchmark of the diagnosis (issue 15): localization on 5,000 machines x 20 spaces
# (sparse plan, simulated results with 3 independent faults: a VLAN missing on one trunk, a
# dead NIC, a one-way drop). Target: < 1 s and < 500 MB. No root needed.
#   bench/localize.sh [MACHINES] [SPACES] [RUNS]     (default 5000 20 3)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p preflight-check --example localize_bench
# (GNU time shows the peak after the example resets it; the example prints the whole run's.)
/usr/bin/time -f "process: %e s wall, peak RSS %M KiB" \
  "${CARGO_TARGET_DIR:-target}/release/examples/localize_bench" "${1:-5000}" "${2:-20}" "${3:-3}"
