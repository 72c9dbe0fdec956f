#!/usr/bin/env bash
# Runs the charm's tests: charmcraft.yaml against charmcraft's model (charmcraft from PyPI in
# charm/.venv-charmcraft), then a venv in charm/.venv with the pinned test dependencies,
# then pytest. The tests that run the real binaries expect them in the workspace's
# target/debug/ (the root test.sh builds them first; or set PREFLIGHT_REAL_BIN_DIR).
# Works on a fresh Debian/Ubuntu machine as root: installs python3-venv when it is missing.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  echo "charm/test.sh: installing python3 and python3-venv"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq python3 python3-venv >/dev/null
fi

venv=.venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
  rm -rf "$venv"
  python3 -m venv "$venv"
fi
stamp="$venv/.requirements-test.sha256"
want=$(sha256sum requirements-test.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
  echo "$want" > "$stamp"
fi

# charmcraft.yaml against charmcraft's own project model (a second venv: charmcraft pins its
# own pydantic and craft libraries). Packing itself needs the snap; see README.md.
ccvenv=.venv-charmcraft
if [ ! -x "$ccvenv/bin/python" ] || ! "$ccvenv/bin/python" -c 'import sys' >/dev/null 2>&1; then
  rm -rf "$ccvenv"
  python3 -m venv "$ccvenv"
fi
ccstamp="$ccvenv/.requirements-charmcraft.sha256"
ccwant=$(sha256sum requirements-charmcraft.txt | cut -d' ' -f1)
if [ "$(cat "$ccstamp" 2>/dev/null || true)" != "$ccwant" ]; then
  "$ccvenv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-charmcraft.txt
  echo "$ccwant" > "$ccstamp"
fi
echo "charm/test.sh: charmcraft.yaml against charmcraft's project model"
"$ccvenv/bin/python" tools/charmcraft-validate.py --self-test

echo "charm/test.sh: ruff check, ruff format --check"
"$venv/bin/ruff" check src tests tools
"$venv/bin/ruff" format --check src tests tools

set +e
"$venv/bin/python" -m pytest tests -q -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "charm/test.sh: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
