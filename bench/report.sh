#!/usr/bin/env bash
# Benchmark of the report step: parse and render a 200-agent × 5-space full-mesh check report
# (199,000 probed pairs) in every format; prints medians and peak RSS.
# Usage: bench/report.sh [AGENTS] [SPACES] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --release -p preflight-report --example bench_render -- "${1:-200}" "${2:-5}" "${3:-5}"
