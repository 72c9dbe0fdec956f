#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian machine: installs what the tests need
# (iproute2, nftables, fping; a Python venv for the charm), builds, checks style, tests.
# Namespace tests need root (CI runs as root).
set -euo pipefail
cd "$(dirname "$0")"

need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v fping >/dev/null 2>&1 || need+=(fping)
if [ ${#need[@]} -gt 0 ]; then
  echo "test.sh: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
# Clippy gets its own target dir: run with no standard input, a clippy run can leave a failed
# rustc target probe in target/.rustc_info.json under the plain build's key, and every later
# cargo build/test then fails with "failed to run rustc to learn about target-specific
# information" (seen on a fresh clone with stdin at /dev/null).
CARGO_TARGET_DIR=target/clippy cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo build (binaries the end-to-end tests run)"
cargo build --workspace --bins --quiet
echo "== cargo test"
cargo test --workspace --no-fail-fast 2>&1 | tee target/cargo-test.log
if [ -x charm/test.sh ]; then
  echo "== charm tests"
  charm/test.sh
fi
