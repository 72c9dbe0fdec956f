#!/usr/bin/env bash
# Benchmark of `preflight demo` (issue 7). Needs root (namespaces), iproute2, nftables.
#
#   bench/demo.sh [RUNS]        (default 3 runs of each)
#
# 1. The default demo (4-node OpenStack, 7 spaces, 2 faults): wall time from start to
#    verdict, and peak RSS (GNU time %M: the largest process of the demo's tree).
# 2. large-100: 100 hosts x 3 spaces, full mesh = 3 * 100 * 99 = 29,700 probes. From the
#    coordinator's journal (bench/demo_times.py: the agents' own timestamps): last registration ->
#    plan -> last results -> report, and wall time (build, run, teardown). Target: report
#    within 3 s of the last registration.
# 3. large-100 with one fault (n50's storage switch port forwards nothing: 198 pairs lost),
#    same timings. Target: last registration -> report <= 2 x the probe timeout (1 s).
# 4. large-100 with other single faults, same timings: n50's storage switch port at MTU 1500
#    (the VLAN's is 9000: 198 paths blackholed, n50 searching 99 of them at once), and n20
#    dropping echo requests from n10 (a one-way drop).
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

# Runs a 100-host scenario $runs times and prints the timings of each run and their medians.
#   large_runs NAME SCENARIO EXPECTED_EXIT TARGET_TEXT
large_runs() {
  local name=$1 scenario=$2 want=$3 target=$4 i dir code wall rss
  : > "$tmp/reg2rep"; : > "$tmp/res2rep"; : > "$tmp/wall100"; : > "$tmp/probe"
  for i in $(seq "$runs"); do
    dir="$tmp/$name$i"
    set +e
    /usr/bin/time -f "%e %M" -o "$tmp/t" "$bin" demo --scenario "$scenario" --quiet \
      --work-dir "$dir" -o /dev/null --probe-deadline 300 2> "$tmp/err"
    code=$?
    set -e
    read -r wall rss < <(tail -1 "$tmp/t")
    [ "$code" = "$want" ] || { echo "  run $i: exit $code (expected $want)"; tail -5 "$tmp/err"; }
    python3 bench/demo_times.py "$dir" "$wall" "$code" >> "$tmp/lines"
    set -- $(tail -1 "$tmp/lines")
    echo "$1" >> "$tmp/reg2rep"; echo "$2" >> "$tmp/res2rep"; echo "$3" >> "$tmp/wall100"; echo "$4" >> "$tmp/probe"
    echo "  run $i: last registration -> report ${1} s (probing ${4} s, last results -> report ${2} s), wall ${3} s, peak RSS ${rss} KiB; ${*:5}"
  done
  echo "  median last registration -> report: $(median < "$tmp/reg2rep") s ($target)"
  echo "  median probing (last registration -> last results): $(median < "$tmp/probe") s"
  echo "  median last results -> report: $(median < "$tmp/res2rep") s"
  echo "  median wall (build lab, 100 agents, report, teardown): $(median < "$tmp/wall100") s"
}

echo "== large-100 (100 hosts x 3 spaces, 29,700 probes), $runs runs"
large_runs run large-100 0 "target < 3 s"

# Writes large-100 plus one [[faults]] table (given as TOML lines) to $tmp/$1.toml.
variant() {
  local name=$1
  shift
  sed -e "s/^name = \"large-100\"/name = \"large-100-$name\"/" scenarios/large-100.toml > "$tmp/$name.toml"
  printf '\n[[faults]]\n' >> "$tmp/$name.toml"
  printf '%s\n' "$@" >> "$tmp/$name.toml"
}

echo "== large-100 + one fault (n50 eth3 port dead), $runs runs"
variant fault 'kind = "port-dead"' 'host = "n50"' 'interface = "eth3"'
large_runs fault "$tmp/fault.toml" 1 "target <= 2 s: 2 x the 1 s probe timeout"

echo "== large-100 + n50 eth3 switch port at MTU 1500 (storage VLAN 9000), $runs runs"
variant mtu 'kind = "switch-port-mtu"' 'host = "n50"' 'interface = "eth3"' 'mtu = 1500'
large_runs mtu "$tmp/mtu.toml" 1 "about 2 x the probe timeout for any fault"

echo "== large-100 + n20 drops echo requests from n10, $runs runs"
variant drop 'kind = "drop"' 'from = "n10"' 'to = "n20"'
large_runs drop "$tmp/drop.toml" 1 "about 2 x the probe timeout for any fault"
