#!/usr/bin/env python3
"""Fails when a `.rs` file in a crate's `tests/` folder is not compiled into that crate's test binary.

Every crate has one integration-test binary (`autotests = false` and one `[[test]]` whose main
file declares `mod x;` for each file), so a new test file that nobody declares as a module
would silently never run. This reads cargo's build messages (`cargo test --no-run
--message-format=json` on stdin), takes each test binary's dep-info file (`<binary>.d`, the
exact list of source files rustc read), and compares it with the `.rs` files under each
crate's `tests/` folder. Also fails when a crate with test files lets cargo discover test
targets itself (no `autotests = false`), since then each file links its own binary again.

Usage: cargo test --workspace --no-run --message-format=json | python3 tests/check_test_layout.py
"""

import json
import os
import re
import sys


def main():
    compiled = {}  # package manifest dir -> set of source files of its test binaries
    packages = set()
    for line in sys.stdin:
        line = line.strip()
        if not line.startswith("{"):
            continue
        msg = json.loads(line)
        if msg.get("reason") != "compiler-artifact":
            continue
        manifest = msg.get("manifest_path")
        if not manifest:
            continue
        pkg_dir = os.path.dirname(os.path.realpath(manifest))
        if "/registry/" in pkg_dir or "/.cargo/" in pkg_dir:
            continue
        packages.add(pkg_dir)
        if "test" not in msg.get("target", {}).get("kind", []):
            continue
        exe = msg.get("executable")
        if not exe:
            continue
        deps = compiled.setdefault(pkg_dir, set())
        dep_file = exe + ".d"
        try:
            text = open(dep_file).read()
        except OSError as e:
            sys.exit(f"check_test_layout: cannot read {dep_file}: {e}")
        for entry in text.splitlines():
            if ":" not in entry:
                continue
            for path in re.split(r"(?<!\\) ", entry.split(":", 1)[1].strip()):
                if path.endswith(".rs"):
                    deps.add(os.path.realpath(path.replace("\\ ", " ")))

    if not compiled:
        sys.exit(
            "check_test_layout: no test binaries in the build messages on stdin "
            "(pipe `cargo test --workspace --no-run --message-format=json` into it)"
        )
    problems = []
    for pkg_dir in sorted(packages):
        tests_dir = os.path.join(pkg_dir, "tests")
        files = []
        for root, _, names in os.walk(tests_dir):
            files += [os.path.realpath(os.path.join(root, n)) for n in names if n.endswith(".rs")]
        if not files:
            continue
        manifest = open(os.path.join(pkg_dir, "Cargo.toml")).read()
        if not re.search(r"^autotests\s*=\s*false", manifest, re.M):
            problems.append(
                f"{pkg_dir}/Cargo.toml: has tests/ but no `autotests = false` with one [[test]]"
            )
        reached = compiled.get(pkg_dir, set())
        for f in sorted(files):
            if f not in reached:
                rel = os.path.relpath(f, os.getcwd())
                problems.append(
                    f"{rel}: not part of the crate's test binary (declare it as `mod ...;` "
                    f"in tests/main.rs), so its tests would never run"
                )
    if problems:
        for p in problems:
            print(f"check_test_layout: {p}", file=sys.stderr)
        sys.exit(1)
    print(f"test layout: every tests/ file is in its crate's test binary ({len(compiled)} binaries)")


if __name__ == "__main__":
    main()
