#!/usr/bin/env bash
# Benchmark: snapshot file → provider model, on a generated MAAS snapshot of 5,000 machines
# (4 interfaces each, full MAAS 3.5 machine objects), 20 spaces and 400 subnets.
# Target: under 1 s and under 500 MB peak RSS (release build).
# Usage: bench/maas-parse.sh [RUNS]   (default 5; prints each run and the medians)
# Modes: `slice` is the file path of `load_provider` (the figure the target applies to);
# `value` builds a serde_json tree first, as the live path does after fetching.
# `seconds` is wall time, `cpu_seconds` user+sys (less sensitive to a busy machine).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo build --release -q -p preflight-maas --example gen_snapshot --example parse_snapshot
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
snap="$dir/snapshot.json"
target/release/examples/gen_snapshot "$snap" 5000 20 400
echo "snapshot: $(du -m "$snap" | cut -f1) MiB"
for mode in slice value; do
  out=()
  for _ in $(seq "$runs"); do
    line=$(target/release/examples/parse_snapshot "$snap" "$mode")
    echo "$line"
    out+=("$line")
  done
  med() { printf '%s\n' "${out[@]}" | tr ' ' '\n' | sed -n "s/^$1=//p" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
  echo "median mode=$mode seconds=$(med seconds) cpu_seconds=$(med cpu_seconds) peak_rss_mib=$(med peak_rss_mib) (of $runs runs)"
done
