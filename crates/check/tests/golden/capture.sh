#!/bin/sh
# Re-captures the golden check fixtures: runs every shipped lab scenario (except the large-*
# ones) with `preflight demo` and keeps, per scenario, what the coordinator judged (the MAAS
# snapshot and its state dir: registrations, plan, probe results) and the JSON report it wrote.
#
# The golden test (crates/check/tests/golden.rs) re-assembles each report from those inputs with
# the current code and compares it with the stored one: a refactor of merge, drift or judging
# that changes a report shows up as a diff. Re-capture only when a change to the reports is
# intended, and say so in the commit. Needs root (namespaces). Usage:
#   sudo crates/check/tests/golden/capture.sh [PATH/TO/preflight]   (default: target/debug/preflight)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
preflight=${1:-$root/target/debug/preflight}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for toml in "$root"/scenarios/*.toml; do
    name=$(basename "$toml" .toml)
    case "$name" in large-*) continue ;; esac
    echo "capturing $name" >&2
    rc=0
    "$preflight" demo --scenario "$name" --work-dir "$work/$name" --quiet \
        --format json -o "$work/$name.json" || rc=$?
    [ "$rc" -le 1 ] || { echo "$name: preflight demo exited $rc" >&2; exit 1; }
    dest="$here/$name"
    rm -rf "$dest"
    mkdir -p "$dest"
    cp "$work/$name/maas-snapshot.json" "$dest/maas-snapshot.json"
    cp -r "$work/$name/state" "$dest/state"
    cp "$work/$name/report.json" "$dest/report.json"
done
