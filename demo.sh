#!/usr/bin/env bash
# The main job on a fresh Debian machine: build preflight and run the demo lab
# (a MAAS-shaped network in namespaces, with faults). Needs root for namespaces.
set -euo pipefail
cd "$(dirname "$0")"
need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || need+=(nftables)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release --quiet --bins
export PATH="$PWD/target/release:$PATH"
exec preflight demo "$@"
