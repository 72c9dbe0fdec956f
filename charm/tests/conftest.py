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

from charm import PreflightCharm, Supervisor  # noqa: E402


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


def calls(log_dir: Path, *prefix: str) -> list[list[str]]:
    """The fake binaries' argv lists, in order, those starting with `prefix`."""
    path = log_dir / "calls.jsonl"
    if not path.exists():
        return []
    out = [json.loads(line)["argv"] for line in path.read_text().splitlines()]
    return [a for a in out if a[: len(prefix)] == list(prefix)]


@pytest.fixture
def fake_bin(tmp_path, monkeypatch):
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
    for var in ("FAKE_OBSERVE", "FAKE_CHECK", "FAKE_BIG", "FAKE_AGENT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PREFLIGHT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PREFLIGHT_SUPERVISOR", "process")
    yield log
    for d in (tmp_path / "state").glob("*"):
        for name in ("coordinator", "agent"):
            Supervisor(name, d).stop()


def real_bin_dir() -> Path:
    """Where the real binaries are: $PREFLIGHT_REAL_BIN_DIR, else the workspace target/debug."""
    env = os.environ.get("PREFLIGHT_REAL_BIN_DIR")
    if env:
        return Path(env)
    target = os.environ.get("CARGO_TARGET_DIR") or str(REPO_DIR / "target")
    return Path(target) / "debug"
