"""Shared helpers: the Scenario context, networks, peer data, fake and real binaries."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from ops import testing

CHARM_DIR = Path(__file__).resolve().parents[1]
REPO_DIR = CHARM_DIR.parent
FAKEBIN = Path(__file__).resolve().parent / "fakebin.py"
sys.path.insert(0, str(CHARM_DIR / "src"))

from charm import PreflightCharm  # noqa: E402


def context(unit_id: int = 0) -> testing.Context:
    """A Scenario context for unit preflight/<unit_id>, metadata from charmcraft.yaml."""
    return testing.Context(
        PreflightCharm, charm_root=CHARM_DIR, app_name="preflight", unit_id=unit_id
    )


def net(binding: str, *addrs: str, iface: str = "eth1", mac: str | None = "") -> testing.Network:
    """A network-get answer for one binding: each addr is "ip" or "ip/cidr" ("ip|" = empty cidr)."""
    addresses = []
    for a in addrs:
        ip, _, cidr = a.partition("|")
        addresses.append(testing.Address(ip, cidr=cidr))
    return testing.Network(
        binding,
        bind_addresses=[testing.BindAddress(addresses, interface_name=iface, mac_address=mac)],
        ingress_addresses=[a.partition("|")[0] for a in addrs],
        egress_subnets=[c for a in addrs if (c := a.partition("|")[2])],
    )


def peer_data(**bindings: list[str]) -> dict[str, str]:
    """Unit data as a peer publishes it: peer_data(probe_0=["10.0.0.2|10.0.0.0/24"])."""
    doc = {}
    for name, addrs in bindings.items():
        entries = []
        for a in addrs:
            ip, _, cidr = a.partition("|")
            entries.append({"address": ip, "cidr": cidr, "interface": "eth1"})
        doc[name.replace("_", "-")] = entries
    return {"addresses": json.dumps(doc)}


def calls(log_dir: Path) -> list[dict]:
    """The fake binaries' calls, in order."""
    path = log_dir / "calls.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def probe_calls(log_dir: Path) -> list[dict]:
    """Only the `preflight-agent probe` calls (with their plans)."""
    return [c for c in calls(log_dir) if c["argv"][0] == "probe"]


@pytest.fixture
def fake_bin(tmp_path, monkeypatch) -> Path:
    """A bin dir with the fake binaries; PREFLIGHT_BIN_DIR points at it. Returns the log dir."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    FAKEBIN.chmod(FAKEBIN.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    for name in ("preflight-agent", "preflight"):
        (bindir / name).symlink_to(FAKEBIN)
    log = tmp_path / "log"
    log.mkdir()
    monkeypatch.setenv("PREFLIGHT_BIN_DIR", str(bindir))
    monkeypatch.setenv("FAKE_LOG", str(log))
    for var in ("FAKE_PROBE", "FAKE_UNREACHABLE", "FAKE_OBSERVE", "FAKE_REPORT", "FAKE_BIG_TARGET"):
        monkeypatch.delenv(var, raising=False)
    return log


def real_bin_dir() -> Path:
    """Where the real binaries are: $PREFLIGHT_REAL_BIN_DIR, else the workspace target/debug."""
    env = os.environ.get("PREFLIGHT_REAL_BIN_DIR")
    if env:
        return Path(env)
    target = os.environ.get("CARGO_TARGET_DIR") or str(REPO_DIR / "target")
    return Path(target) / "debug"
