"""Structure of charmcraft.yaml: what Juju and the charm code rely on."""

from __future__ import annotations

import re

import yaml
from conftest import CHARM_DIR

from charm import BINDINGS, PEER

META = yaml.safe_load((CHARM_DIR / "charmcraft.yaml").read_text())
TYPES = {"string": str, "int": int, "float": float, "boolean": bool}


def test_identity_and_bases():
    assert META["name"] == "preflight" and META["type"] == "charm"
    assert "bases" not in META, "the unified form uses platforms, not bases"
    bases = {b for p in META["platforms"].values() for b in p["build-for"]}
    assert bases == {"ubuntu@22.04:amd64", "ubuntu@24.04:amd64"}
    for name, p in META["platforms"].items():
        assert p["build-on"] == p["build-for"], name


def test_parts_ship_the_charm_and_both_binaries():
    parts = META["parts"]
    assert parts["charm"]["plugin"] == "charm"
    assert parts["charm"]["charm-requirements"] == ["requirements.txt"]
    assert (CHARM_DIR / "requirements.txt").read_text().startswith("ops==")
    bins = parts["preflight-binaries"]
    assert bins["plugin"] == "dump" and bins["source"] == "bin"
    assert sorted(bins["prime"]) == ["bin/preflight", "bin/preflight-agent"]
    assert (
        "preflight-agent" in bins["override-build"] and "craftctl default" in bins["override-build"]
    )


def test_endpoints():
    assert META["peers"] == {PEER: {"interface": "preflight-mesh"}}
    assert list(META["extra-bindings"]) == [f"probe-{i}" for i in range(8)] == list(BINDINGS)
    assert "provides" not in META and "requires" not in META


def test_actions():
    actions = META["actions"]
    assert set(actions) == {"run", "report", "validate"}
    fmt = actions["report"]["params"]["format"]
    assert (fmt["type"], fmt["enum"], fmt["default"]) == (
        "string",
        ["text", "json", "junit", "html"],
        "text",
    )
    assert actions["validate"]["required"] == ["bundle"]
    assert all(a["description"].strip() for a in actions.values())


def test_config_options_have_types_defaults_and_docs():
    options = META["config"]["options"]
    expected = {
        "maas-url": "string",
        "maas-api-key-secret": "string",
        "spaces": "string",
        "mtu": "string",
        "isolate": "string",
        "bindings": "string",
        "count": "int",
        "timeout-ms": "int",
        "deadline": "int",
        "probe-deadline": "int",
        "port": "int",
        "bin-dir": "string",
        "state-dir": "string",
    }
    assert {k: v["type"] for k, v in options.items()} == expected
    for name, opt in options.items():
        assert isinstance(opt["default"], TYPES[opt["type"]]), name
        assert opt["description"].strip(), name
    # Every option the charm reads exists (a typo would read the default silently).
    source = (CHARM_DIR / "src" / "charm.py").read_text()
    used = set(re.findall(r'config\.get\("([a-z-]+)"', source))
    assert used and used <= set(options), used - set(options)


def test_readme_overlay_and_deploy_command_match_the_charm():
    """The README's overlay and --bind use real endpoints and options that parse."""
    from charm import parse_assignments, parse_bindings, parse_mtu, parse_pairs

    readme = (CHARM_DIR / "README.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", readme, re.DOTALL).group(1)
    app = yaml.safe_load(block)["applications"]["preflight"]
    endpoints = {""} | set(META["extra-bindings"]) | set(META["peers"])
    assert set(app["bindings"]) <= endpoints
    assert app["num_units"] == len(app["to"]) == 4
    options = app["options"]
    assert set(options) <= set(META["config"]["options"])
    spaces = parse_assignments(options["spaces"], "spaces")
    assert spaces == {b: s for b, s in app["bindings"].items() if b}
    parse_mtu(options["mtu"])
    parse_pairs(options["isolate"], "isolate")
    parse_bindings(options["bindings"])
    bind = re.search(r'--bind "([^"]+)"', readme).group(1)
    assert set(parse_assignments(bind.replace("mesh=oam", ""), "bind")) <= set(
        META["extra-bindings"]
    )
    for command in ("juju grant-secret", "report format=text", "juju run preflight/leader run"):
        assert command in readme
