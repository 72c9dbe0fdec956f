"""Three units, each in its own network namespace, running the charm against the REAL binaries.

A switch namespace holds a bridge; each unit namespace has one veth `eth1` on it
(10.231.<pid-based>.<u+1>/24, the unit's `mesh` and `probe-0` address). Each unit's bin-dir
holds wrappers that run the real `preflight` / `preflight-agent` inside that unit's namespace
(`ip netns exec`), so the leader's coordinator and every agent run where the unit "is". The
charm code of each unit runs in Scenario; the background processes it starts are real.
Nothing leaves the namespaces this test creates.

These tests need `cargo build --bins` first. They fail, not skip, when the binaries are missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from conftest import context, real_bin_dir
from ops import testing

from charm import AGENT, COORDINATOR, Supervisor, system_id

UNITS = (0, 1, 2)
PREFIX = f"pf{os.getpid()}"
SUBNET = 231


def ip(*args: str, ns: str | None = None) -> None:
    """Runs `ip` (inside `ns` when given); raises on failure."""
    cmd = ["ip", *args] if ns is None else ["ip", "netns", "exec", ns, "ip", *args]
    subprocess.run(cmd, check=True, capture_output=True)


def addr(u: int) -> str:
    """Unit u's address."""
    return f"10.{SUBNET}.{os.getpid() % 250}.{u + 1}"


def cidr() -> str:
    """The units' subnet."""
    return f"10.{SUBNET}.{os.getpid() % 250}.0/24"


@pytest.fixture
def lab(tmp_path):
    """The namespaces, the bridge and one wrapper bin-dir per unit; yields {u: bin_dir}."""
    real = real_bin_dir()
    for b in ("preflight-agent", "preflight"):
        assert os.access(real / b, os.X_OK), f"{real / b} is missing: run cargo build --bins"
    sw = f"{PREFIX}-sw"
    made = []
    try:
        subprocess.run(["ip", "netns", "add", sw], check=True)
        made.append(sw)
        ip("link", "add", "br0", "type", "bridge", ns=sw)
        ip("link", "set", "br0", "up", ns=sw)
        bins = {}
        for u in UNITS:
            ns = f"{PREFIX}-u{u}"
            subprocess.run(["ip", "netns", "add", ns], check=True)
            made.append(ns)
            ip("link", "add", f"{PREFIX}p{u}", "type", "veth", "peer", "name", "eth1")
            ip("link", "set", "eth1", "netns", ns)
            ip("link", "set", f"{PREFIX}p{u}", "netns", sw)
            ip("link", "set", f"{PREFIX}p{u}", "master", "br0", "up", ns=sw)
            ip("addr", "add", f"{addr(u)}/24", "dev", "eth1", ns=ns)
            ip("link", "set", "eth1", "up", ns=ns)
            ip("link", "set", "lo", "up", ns=ns)
            d = tmp_path / f"bin-{u}"
            d.mkdir()
            for b in ("preflight-agent", "preflight"):
                w = d / b
                w.write_text(f'#!/bin/sh\nexec ip netns exec {ns} {real / b} "$@"\n')
                w.chmod(0o755)
            bins[u] = d
        yield bins
    finally:
        for ns in reversed(made):
            subprocess.run(["ip", "netns", "del", ns], check=False)


def networks(u: int) -> list[testing.Network]:
    """network-get answers: mesh and probe-0 on eth1."""
    return [
        testing.Network(
            name,
            bind_addresses=[
                testing.BindAddress([testing.Address(addr(u), cidr=cidr())], interface_name="eth1")
            ],
            ingress_addresses=[addr(u)],
            egress_subnets=[cidr()],
        )
        for name in ("mesh", "probe-0")
    ]


def run_unit(u, bins, monkeypatch, state_root, event, rel, **kw) -> testing.State:
    """Runs one hook of unit u with its own bin-dir."""
    monkeypatch.setenv("PREFLIGHT_BIN_DIR", str(bins[u]))
    ctx = context(u)
    st = testing.State(relations=[rel], networks=networks(u), planned_units=3, **kw)
    out = ctx.run(event(ctx, rel), st)
    return out


def wait_for(path: Path, seconds: float) -> None:
    """Waits for a file to appear."""
    end = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < end, f"{path} did not appear in {seconds}s"
        time.sleep(0.2)


def test_three_units_in_namespaces_pass_with_real_coordinator(lab, tmp_path, monkeypatch):
    state_root = tmp_path / "state"
    monkeypatch.setenv("PREFLIGHT_STATE_DIR", str(state_root))
    monkeypatch.setenv("PREFLIGHT_SUPERVISOR", "process")
    config = {"bindings": "probe-0", "spaces": "probe-0=internal", "count": 2, "timeout-ms": 300}
    try:
        # Phase 1: every unit publishes its bindings (observe runs in its namespace).
        published = {}
        for u in UNITS:
            rel = testing.PeerRelation("mesh", id=3, peers_data={o: {} for o in UNITS if o != u})
            out = run_unit(
                u,
                lab,
                monkeypatch,
                state_root,
                lambda c, r: c.on.relation_created(r),
                rel,
                config=config,
                leader=False,
            )
            published[u] = dict(out.get_relation(3).local_unit_data)
            b = json.loads(published[u]["bindings"])
            assert b["probe-0"][0]["address"] == addr(u)
            assert b["probe-0"][0]["mtu"] == 1500 and b["probe-0"][0]["mac"]
        # Phase 2: the leader sees everyone and starts the coordinator (and its own agent).
        rel = testing.PeerRelation(
            "mesh",
            id=3,
            local_unit_data=published[0],
            peers_data={o: published[o] for o in (1, 2)},
        )
        lead = run_unit(
            0,
            lab,
            monkeypatch,
            state_root,
            lambda c, r: c.on.relation_changed(r, remote_unit=1),
            rel,
            config=config,
            leader=True,
        )
        app_data = dict(lead.get_relation(3).local_app_data)
        assert app_data["run"] == "1"
        assert app_data["coordinator"] == f"http://{addr(0)}:7700"
        secret = next(iter(lead.secrets))
        assert app_data["secret-id"] == secret.id
        token = secret.tracked_content["token"]
        assert len(token) >= 32
        leader_dir = state_root / system_id("preflight/0")
        assert (leader_dir / "token").stat().st_mode & 0o777 == 0o600
        snap = json.loads((leader_dir / "provider.json").read_text())
        assert [s["name"] for s in snap["spaces"]] == ["internal"]
        assert sorted(m["system_id"] for m in snap["machines"]) == [
            "preflight-0",
            "preflight-1",
            "preflight-2",
        ]
        # Phase 3: the other units read the secret and start their agents.
        for u in (1, 2):
            rel = testing.PeerRelation(
                "mesh",
                id=3,
                local_app_data=app_data,
                local_unit_data=published[u],
                peers_data={o: published[o] for o in UNITS if o != u},
            )
            shared = testing.Secret(
                tracked_content=secret.tracked_content, id=secret.id, owner="app"
            )
            out = run_unit(
                u,
                lab,
                monkeypatch,
                state_root,
                lambda c, r: c.on.relation_changed(r, remote_unit=0),
                rel,
                config=config,
                leader=False,
                secrets=[shared],
            )
            assert out.unit_status == testing.MaintenanceStatus("run 1: agent started")
        report = leader_dir / "run-1" / "report.json"
        wait_for(report, 90)
        doc = json.loads(report.read_text())
        assert doc["summary"]["status"] == "pass", doc["findings"]
        # The leader's status and report action.
        rel = testing.PeerRelation(
            "mesh",
            id=3,
            local_app_data=app_data,
            local_unit_data=published[0],
            peers_data={o: published[o] for o in (1, 2)},
        )
        out = run_unit(
            0,
            lab,
            monkeypatch,
            state_root,
            lambda c, r: c.on.update_status(),
            rel,
            config=config,
            leader=True,
            secrets=list(lead.secrets),
        )
        assert out.app_status == testing.ActiveStatus("run 1: PASS")
        ctx = context(0)
        st = testing.State(
            relations=[rel],
            networks=networks(0),
            planned_units=3,
            config=config,
            leader=True,
            secrets=list(lead.secrets),
        )
        ctx.run(ctx.on.action("report", params={"format": "html"}), st)
        res = ctx.action_results
        assert res["status"] == "pass"
        assert Path(res["path"]).read_text().lstrip().lower().startswith("<!doctype html")
        ctx.run(ctx.on.action("report", params={"format": "text"}), st)
        assert "internal" in ctx.action_results["report"]
    finally:
        for u in UNITS:
            for name in (COORDINATOR, AGENT):
                Supervisor(name, state_root / system_id(f"preflight/{u}")).stop()
