#!/usr/bin/env bash
# Benchmark of `preflight-agent observe` against iproute2 on a namespace with many bridges.
#
#   bench/observe.sh [BRIDGES] [RUNS]        (defaults: 2000 bridges, 11 runs; needs root)
#
# Builds a namespace with BRIDGES bridges, each with an IPv4 address and a route, then times,
# alternating, RUNS times each:
#   agent:    preflight-agent observe > /dev/null                     (release build)
#   iproute2: ip -j -d addr show > /dev/null; ip -j route show table all > /dev/null
# and prints the medians, the ratio agent/iproute2 and the peak RSS of each (GNU time).
# Target (issue 2): ratio <= 0.5, agent peak RSS < 30 MB. The namespace is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--inner" ]; then
  # Runs inside the namespace: the timing loop.
  agent=$2 runs=$3
  now() { date +%s%N; }
  agent_ms=() ip_ms=()
  for _ in $(seq "$runs"); do
    t0=$(now); "$agent" observe >/dev/null; t1=$(now)
    agent_ms+=("$(( (t1 - t0) / 1000 ))")
    t0=$(now); ip -j -d addr show >/dev/null; ip -j route show table all >/dev/null; t1=$(now)
    ip_ms+=("$(( (t1 - t0) / 1000 ))")
  done
  median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  a=$(median "${agent_ms[@]}") i=$(median "${ip_ms[@]}")
  echo "agent runs (us):    ${agent_ms[*]}"
  echo "iproute2 runs (us): ${ip_ms[*]}"
  rss_agent=$(/usr/bin/time -f %M "$agent" observe 2>&1 >/dev/null | tail -n1)
  rss_ip_addr=$(/usr/bin/time -f %M ip -j -d addr show 2>&1 >/dev/null | tail -n1)
  rss_ip_route=$(/usr/bin/time -f %M ip -j route show table all 2>&1 >/dev/null | tail -n1)
  awk -v a="$a" -v i="$i" -v ra="$rss_agent" -v rA="$rss_ip_addr" -v rR="$rss_ip_route" 'BEGIN {
    printf "median agent:    %8.1f ms\n", a / 1000
    printf "median iproute2: %8.1f ms  (ip -j -d addr show + ip -j route show table all)\n", i / 1000
    printf "ratio agent/iproute2: %.3f  (target <= 0.5)\n", a / i
    printf "peak RSS agent: %.1f MB (target < 30 MB); ip addr: %.1f MB; ip route: %.1f MB\n", ra / 1024, rA / 1024, rR / 1024
  }'
  exit 0
fi

bridges=${1:-2000}
runs=${2:-11}
if [ "$(id -u)" != 0 ]; then echo "bench/observe.sh: needs root (network namespaces)" >&2; exit 2; fi
if [ ! -x /usr/bin/time ]; then
  echo "bench/observe.sh: installing GNU time" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi
cargo build --release --quiet -p preflight-agent
agent=$PWD/target/release/preflight-agent

ns=pfbench-$$
batch=$(mktemp)
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -f "$batch"; }
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
for ((n = 0; n < bridges; n++)); do
  hi=$((n / 256)) lo=$((n % 256))
  echo "link add br$n type bridge"
  echo "link set br$n up"
  echo "addr add 10.$hi.$lo.1/24 dev br$n"
  echo "route add 172.$((16 + hi)).$lo.0/24 dev br$n"
done >"$batch"
ip -n "$ns" -batch "$batch"
# Let IPv6 duplicate address detection finish: tentative addresses would make the dumps of the
# first runs differ (and iproute2 report interrupted dumps).
for _ in $(seq 50); do
  [ -z "$(ip -n "$ns" -6 addr show tentative)" ] && break
  sleep 0.2
done
echo "load average: $(cut -d" " -f1-3 /proc/loadavg) ($(nproc) CPUs)"
echo "namespace $ns: $(ip -n "$ns" -o link show | wc -l) links, $(ip -n "$ns" -o addr show | wc -l) addresses, $(ip -n "$ns" route show table all | wc -l) routes; $runs runs each"
ip netns exec "$ns" "$0" --inner "$agent" "$runs"
