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

# cargo asks rustc about the target once per target dir (`rustc - --print=cfg ...`, cached in
# target/.rustc_info.json). On this machine, run with no standard input, that probe has read stray
# bytes on its stdin and failed ("failed to run `rustc` to learn about target-specific
# information"), and the failure is cached. That is cargo's probe, not our code: on exactly that
# error, clear the cache and run the step once more; any other failure fails at once.
cargo_step() {
  local log
  log=$(mktemp)
  if "$@" 2> >(tee "$log" >&2); then
    rm -f "$log"
    return 0
  fi
  sleep 1 # let tee finish writing the log
  if grep -q "to learn about target-specific information" "$log"; then
    rm -f "$log"
    echo "test.sh: cargo's rustc target probe failed; clearing its cache and retrying once" >&2
    find target -name .rustc_info.json -delete 2>/dev/null || true
    "$@"
    return $?
  fi
  rm -f "$log"
  return 1
}

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo build (binaries the end-to-end tests run)"
cargo_step cargo build --workspace --bins --quiet
echo "== cargo clippy"
# Clippy gets its own target dir, so its rustc probes and the build's never share a cache.
cargo_step env CARGO_TARGET_DIR=target/clippy cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo test"
mkdir -p target
cargo_step cargo test --workspace --no-fail-fast 2>&1 | tee target/cargo-test.log
if [ -x charm/test.sh ]; then
  echo "== charm tests"
  charm/test.sh
fi
