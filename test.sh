#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian machine: installs what the tests need
# (iproute2, nftables, fping; a Python venv for the charm), builds, checks style, tests.
# Namespace tests need root (CI runs as root).
#
# Fixtures: every project test reads the project's own fixtures in tests/fixtures/. The
# real-fixture tier (tests named `real_fixture...`) reads the public MAAS samples, bundles and
# charm metadata from $PREFLIGHT_FIXTURES (default ../shared/fixtures beside the checkout).
# Without that folder the tier is skipped by name and one line says how many were skipped;
# with CI=true a missing folder fails the run, so CI always runs the tier.
set -euo pipefail
cd "$(dirname "$0")"

real_fixtures=${PREFLIGHT_FIXTURES:-../shared/fixtures}
real_skip=()
if [ -d "$real_fixtures" ]; then
  # Absolute, since the test binaries run in their crates' directories.
  PREFLIGHT_FIXTURES=$(cd "$real_fixtures" && pwd)
  export PREFLIGHT_FIXTURES
elif [ "${CI:-}" = true ]; then
  echo "test.sh: CI=true, but the real fixtures are missing: no folder $real_fixtures." >&2
  echo "test.sh: CI must run the real-fixture tier; set PREFLIGHT_FIXTURES to the folder of the public samples (maas/, bundles/, charms/)." >&2
  exit 1
else
  real_skip=(--skip real_fixture)
fi

need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v fping >/dev/null 2>&1 || need+=(fping)
command -v python3 >/dev/null 2>&1 || need+=(python3)
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
echo "== dependency check"
# Every dependency a crate declares is used (cargo-machete reads the sources, no build), and
# every [workspace.dependencies] entry is used by some crate.
if ! command -v cargo-machete >/dev/null 2>&1; then
  echo "test.sh: installing cargo-machete from crates.io (once per machine)"
  cargo install --locked --quiet --version 0.9.2 cargo-machete
fi
cargo machete
unused=()
for dep in $(sed -n '/^\[workspace\.dependencies\]/,/^\[/p' Cargo.toml | grep -oE '^[A-Za-z0-9_-]+'); do
  grep -qE "^${dep}(\.workspace| *=)" ./*/Cargo.toml ./crates/*/Cargo.toml || unused+=("$dep")
done
if [ ${#unused[@]} -gt 0 ]; then
  echo "test.sh: [workspace.dependencies] entries no crate uses: ${unused[*]}" >&2
  exit 1
fi
echo "== cargo build (binaries the end-to-end tests run)"
cargo_step cargo build --workspace --bins --quiet
echo "== cargo clippy"
# Clippy gets its own target dir, so its rustc probes and the build's never share a cache.
cargo_step env CARGO_TARGET_DIR=target/clippy cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== test layout (every tests/ file is in its crate's one test binary)"
mkdir -p target
cargo_step cargo test --workspace --no-run --quiet --message-format=json-render-diagnostics >target/test-build.json
python3 tests/check_test_layout.py <target/test-build.json
echo "== cargo test"
cargo_step cargo test --workspace --no-fail-fast -- ${real_skip[@]+"${real_skip[@]}"} 2>&1 | tee target/cargo-test.log
if [ ${#real_skip[@]} -gt 0 ]; then
  # Only the real-fixture filter filters tests out, so libtest's "N filtered out" counts them.
  skipped=$(grep -o '[0-9]* filtered out' target/cargo-test.log | awk '{ n += $1 } END { print n + 0 }')
  echo "real-fixture tests: $skipped skipped (no $real_fixtures; set PREFLIGHT_FIXTURES)"
else
  echo "real-fixture tests: run (fixtures from $PREFLIGHT_FIXTURES)"
fi
if [ -x charm/test.sh ]; then
  echo "== charm tests"
  charm/test.sh
fi
