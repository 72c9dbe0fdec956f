#!/usr/bin/env bash
# Builds the two preflight binaries (release) from the Cargo workspace one level up, places
# them in charm/bin/, and packs the charm when charmcraft is on PATH.
#
#   charm/build.sh                 # binaries into charm/bin/, then `charmcraft pack`
#   charm/build.sh --bin-only      # binaries only
#   PACK_ARGS=--destructive-mode charm/build.sh   # pack on this host (Ubuntu 22.04/24.04)
#
# The binaries must run on the charm's base: build on (or for) the same Ubuntu release, or
# build static binaries (CARGO_BUILD_TARGET=x86_64-unknown-linux-musl) and set BIN_SRC.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

if [ -z "${BIN_SRC:-}" ]; then
  (cd "$root" && cargo build --release --locked -p preflight-agent -p preflight)
  BIN_SRC="${CARGO_TARGET_DIR:-$root/target}/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}release"
fi
mkdir -p "$here/bin"
for b in preflight preflight-agent; do
  install -m 0755 "$BIN_SRC/$b" "$here/bin/$b"
done
echo "build.sh: placed $(ls "$here/bin" | tr '\n' ' ')in $here/bin"

if [ "${1:-}" = "--bin-only" ]; then
  exit 0
fi
if ! command -v charmcraft >/dev/null 2>&1; then
  echo "build.sh: charmcraft not found; install it (snap install charmcraft --classic) and run: cd charm && charmcraft pack" >&2
  exit 1
fi
cd "$here"
# shellcheck disable=SC2086
charmcraft pack ${PACK_ARGS:-}
ls -l ./*.charm
