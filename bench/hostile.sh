#!/usr/bin/env bash
# Peak memory of the coordinator, the agent and `maas snapshot` under hostile input (issue 14;
# the figures are in docs/security.md). Loopback only; needs python3.
#
#   bench/hostile.sh [SCENARIO...]   (flood identity uploads plan maas fifo hostname; default all)
#
# Set PROFILE=debug to use debug binaries (default: release, built first).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${PROFILE:-release}
if [ "$profile" = release ]; then
  cargo build --release --quiet -p preflight -p preflight-agent
fi
# One interpreter per scenario: a child's peak RSS includes its parent's size at fork.
scenarios=("$@")
[ ${#scenarios[@]} -eq 0 ] && scenarios=(flood identity uploads plan maas fifo hostname)
for s in "${scenarios[@]}"; do
  python3 bench/hostile.py "${CARGO_TARGET_DIR:-target}/$profile" "$s"
done
