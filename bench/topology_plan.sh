#!/bin/sh
# Plan size with and without the cross-space probes of --bundle and --isolation bundle, for
# 50..800 machines × 5 spaces (200 × 5 is the figure in the README): the extra probes per
# machine stay constant, i.e. the plan stays linear in the machines.
set -eu
cd "$(dirname "$0")/.."
cargo build --release -q -p preflight-check --example topology_plan
target/release/examples/topology_plan "${1:-5}" ${2:-50 100 200 400 800}
