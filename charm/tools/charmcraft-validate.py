#!/usr/bin/env python3
"""Validates charm/charmcraft.yaml with charmcraft's own project model (pydantic), without
packing: `charmcraft pack` needs an Ubuntu host (apt, LXD or --destructive-mode on the base),
but the model check runs anywhere charmcraft installs from PyPI.

    python3 -m venv /tmp/cc && /tmp/cc/bin/pip install charmcraft
    /tmp/cc/bin/python charm/tools/charmcraft-validate.py [charm/charmcraft.yaml]

Prints what the model holds and exits 0, or prints the validation errors and exits 1. With
--self-test it also checks that broken copies of the file are rejected (so a pass means
something).
"""

import copy
import sys
from pathlib import Path

import yaml
from charmcraft.models.project import CharmcraftProject
from charmcraft.parts import setup_parts


def validate(data):
    """The charmcraft project model of data; raises on invalid content."""
    return CharmcraftProject.unmarshal(copy.deepcopy(data))


def main(argv):
    """Validates the file; with --self-test also checks that mutations are rejected."""
    args = [a for a in argv if a != "--self-test"]
    path = Path(args[0]) if args else Path(__file__).resolve().parents[1] / "charmcraft.yaml"
    setup_parts()
    data = yaml.safe_load(path.read_text())
    try:
        model = validate(data)
    except Exception as e:  # pydantic ValidationError or charmcraft's own errors
        print(f"{path}: INVALID\n{e}")
        return 1
    print(f"{path}: valid {type(model).__name__}")
    print(f"  platforms: {sorted(model.platforms)}")
    print(f"  parts: {sorted(model.parts)}")
    print(f"  peers: {sorted(model.peers or {})}")
    print(f"  extra-bindings: {sorted(model.extra_bindings or {})}")
    print(f"  actions: {sorted(model.actions or {})}")
    print(f"  config options: {sorted((model.config or {}).get('options', {}))}")
    if "--self-test" not in argv:
        return 0
    # (what, mutation, must charmcraft reject it). The False ones charmcraft 4.x does not
    # check; they are listed so the note can say what charmcraft leaves to Juju / our tests.
    mutations = [
        (
            "unknown platform key",
            lambda d: d["platforms"]["ubuntu-22.04-amd64"].update(bogus=1),
            True,
        ),
        ("unknown part plugin", lambda d: d["parts"]["charm"].update(plugin="nonesuch"), True),
        ("unknown top-level key", lambda d: d.update(bogus=1), True),
        ("type rock", lambda d: d.update(type="rock"), True),
        (
            "config option of unknown type",
            lambda d: d["config"]["options"]["count"].update(type="bogus"),
            False,
        ),
        ("peers interface not a string", lambda d: d["peers"]["mesh"].update(interface=5), False),
        ("action name in capitals", lambda d: d["actions"].update(RUN={"description": "x"}), False),
    ]
    failed = 0
    for what, mutate, must_reject in mutations:
        broken = copy.deepcopy(data)
        mutate(broken)
        try:
            validate(broken)
            rejected = False
        except Exception:
            rejected = True
        verdict = "rejected" if rejected else "ACCEPTED (not checked by charmcraft)"
        print(f"  self-test: {what}: {verdict}")
        if must_reject and not rejected:
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
