#!/usr/bin/env bash
# Registrations of machines sharing one hostname (issue 14, item 14): milliseconds per
# registration over the first and the last 1,000, at 1,000 and at 10,000 registrations, one
# HTTP request at a time on loopback (no state dir). Linear registration keeps the last
# 1,000 as fast as the first; the quadratic id search it replaced took 6.4 ms each at 10,000.
#
#   bench/shared_hostname.sh [N...]     (default: 1000 10000)
#
# Set PROFILE=debug to use debug binaries (default: release, built first). Needs python3.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${PROFILE:-release}
if [ "$profile" = release ]; then
  cargo build --release --quiet -p preflight -p preflight-agent
fi
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(1000 10000)
for n in "${sizes[@]}"; do
  HOSTNAME_N=$n python3 bench/hostile.py "${CARGO_TARGET_DIR:-target}/$profile" hostname
done
