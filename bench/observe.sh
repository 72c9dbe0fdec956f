#!/usr/bin/env bash
# Benchmark of `preflight-agent observe` against iproute2 on a namespace with many bridges.
#
#   bench/observe.sh [BRIDGES] [RUNS]        (defaults: 2000 bridges, 11 runs; needs root)
#
# Builds a namespace with BRIDGES bridges, each with an IPv4 address and a route, then times,
# alternating, RUNS times each:
#   agent:    preflight-agent observe > /dev/null                     (release build)
#   iproute2: ip -j -d addr show > /dev/null; ip -j route show table all > /dev/null
# and prints the medians of wall and CPU time, the ratios agent/iproute2 and the peak RSS of
# each (GNU time). The CPU ratio does not depend on how busy the machine is; the wall one does.
# Target (issue 2): ratio <= 0.5, agent peak RSS < 30 MB. The namespace is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--inner" ]; then
  # Runs inside the namespace: the timing loop.
  agent=$2 runs=$3
  # bash's `time` keyword: wall, user and system time of the command (ms resolution).
  TIMEFORMAT='%3R %3U %3S'
  agent_wall=() agent_cpu=() ip_wall=() ip_cpu=()
  ms() { awk -v r="$1" -v u="$2" -v s="$3" 'BEGIN { printf "%d %d\n", r * 1000, (u + s) * 1000 }'; }
  for _ in $(seq "$runs"); do
    read -r r u s < <({ time "$agent" observe >/dev/null; } 2>&1)
    read -r w c < <(ms "$r" "$u" "$s"); agent_wall+=("$w"); agent_cpu+=("$c")
    read -r r u s < <({ time { ip -j -d addr show >/dev/null; ip -j route show table all >/dev/null; }; } 2>&1)
    read -r w c < <(ms "$r" "$u" "$s"); ip_wall+=("$w"); ip_cpu+=("$c")
  done
  median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  echo "agent wall (ms):    ${agent_wall[*]}"
  echo "iproute2 wall (ms): ${ip_wall[*]}"
  rss_agent=$(/usr/bin/time -f %M "$agent" observe 2>&1 >/dev/null | tail -n1)
  rss_ip_addr=$(/usr/bin/time -f %M ip -j -d addr show 2>&1 >/dev/null | tail -n1)
  rss_ip_route=$(/usr/bin/time -f %M ip -j route show table all 2>&1 >/dev/null | tail -n1)
  awk -v a="$(median "${agent_wall[@]}")" -v i="$(median "${ip_wall[@]}")" \
      -v ac="$(median "${agent_cpu[@]}")" -v ic="$(median "${ip_cpu[@]}")" \
      -v ra="$rss_agent" -v rA="$rss_ip_addr" -v rR="$rss_ip_route" 'BEGIN {
    printf "median wall: agent %.0f ms, iproute2 %.0f ms (ip -j -d addr show + ip -j route show table all)\n", a, i
    printf "ratio agent/iproute2 (wall): %.2f  (target <= 0.5)\n", a / i
    printf "median CPU (user+sys): agent %.0f ms, iproute2 %.0f ms, ratio %.2f\n", ac, ic, ac / ic
    printf "peak RSS: agent %.1f MB (target < 30 MB); ip addr %.1f MB; ip route %.1f MB\n", ra / 1024, rA / 1024, rR / 1024
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
  [ -z "$(ip -n "$ns" -6 addr show tentative 2>/dev/null)" ] && break
  sleep 0.2
done
echo "load average: $(cut -d" " -f1-3 /proc/loadavg) ($(nproc) CPUs)"
echo "namespace $ns: $(ip -n "$ns" -o link show | wc -l) links, $(ip -n "$ns" -o addr show | wc -l) addresses, $(ip -n "$ns" route show table all | wc -l) routes; $runs runs each"
ip netns exec "$ns" "$0" --inner "$agent" "$runs"
