#!/usr/bin/env bash
# Paired benchmark: preflight-agent probe vs fping on loopback (127.1.0.0/16, 65,534 targets).
#
#   bench/probe-vs-fping.sh [RUNS]        (default 7 pairs; needs root for raw sockets, fping)
#
# Runs alternate (fping, probe, fping, probe, ...) so drift hits both equally; reports the
# median wall time and peak RSS of each, the ratio, and loss. Then: 1,024 targets at default
# settings, and loss at 20,000 targets at default settings. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-7}
cargo build --release -p preflight-agent >/dev/null 2>&1 || cargo build --release -p preflight-agent
AGENT=${AGENT:-target/release/preflight-agent}
command -v fping >/dev/null || { echo "fping is not installed" >&2; exit 2; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# measure NAME OUTFILE CMD... → appends "wall_s rss_kb" to $TMP/NAME
measure() {
  local name=$1 out=$2; shift 2
  /usr/bin/time -f "%e %M" -o "$TMP/t" "$@" >"$out" 2>"$out.err" || true
  cat "$TMP/t" >>"$TMP/$name"
}

echo "== 65,534 loopback targets, $RUNS paired runs =="
for i in $(seq "$RUNS"); do
  measure fping "$TMP/fping.out" fping -q -r0 -t1000 -i 0 -C 1 -g 127.1.0.0/16
  # fping -q -C prints "addr : rtt" per target on stderr; "-" marks a loss
  lost_f=$(grep -c ': -$' "$TMP/fping.out.err" || true)
  echo "$lost_f" >>"$TMP/fping.loss"
  measure probe "$TMP/probe.out" "$AGENT" probe --count 1 --timeout 1000 127.1.0.0/16
  alive=$(awk '/ alive$/ {print $1}' "$TMP/probe.out")
  echo $((65534 - ${alive:-0})) >>"$TMP/probe.loss"
  printf 'run %d: fping %s s %s KB lost %s | probe %s s %s KB lost %s\n' "$i" \
    $(tail -1 "$TMP/fping") "$lost_f" $(tail -1 "$TMP/probe") "$(tail -1 "$TMP/probe.loss")"
done
fw=$(awk '{print $1}' "$TMP/fping" | median); fr=$(awk '{print $2}' "$TMP/fping" | median)
pw=$(awk '{print $1}' "$TMP/probe" | median); pr=$(awk '{print $2}' "$TMP/probe" | median)
echo "median wall: fping ${fw} s, probe ${pw} s, ratio probe/fping $(awk -v a="$pw" -v b="$fw" 'BEGIN{printf "%.2f", a/b}')"
echo "median peak RSS: fping $((fr/1024)) MB, probe $((pr/1024)) MB"
echo "max lost: fping $(sort -n "$TMP/fping.loss" | tail -1), probe $(sort -n "$TMP/probe.loss" | tail -1)"

echo "== 1,024 targets (127.2.0.0/22 = 1,022 hosts, + 2), default settings (count 3, interval 100 ms) =="
: >"$TMP/small"
for i in $(seq 3); do
  measure small "$TMP/small.out" "$AGENT" probe 127.2.0.0/22 127.2.4.1 127.2.4.2
  tail -n 12 "$TMP/small.out" | grep -E 'targets|alive|sent|received|elapsed' | tr -s ' ' | paste -sd ',' -
done
echo "median wall $(awk '{print $1}' "$TMP/small" | median) s, peak RSS $(( $(awk '{print $2}' "$TMP/small" | median) / 1024 )) MB"

echo "== 20,000 targets, default settings: loss =="
# 127.4.0.1 .. : a /17 holds 32,766 hosts; take the first 20,000 with a list of /24s + rest
targets=()
for n in $(seq 0 77); do targets+=("127.4.$n.0/24"); done   # 78 × 254 = 19,812
for h in $(seq 1 188); do targets+=("127.4.78.$h"); done     # + 188 = 20,000
measure big "$TMP/big.out" "$AGENT" probe "${targets[@]}"
tail -n 12 "$TMP/big.out" | grep -E 'targets|alive|unreachable|sent|received|elapsed'
echo "wall $(awk '{print $1}' "$TMP/big") s, peak RSS $(( $(awk '{print $2}' "$TMP/big") / 1024 )) MB"
