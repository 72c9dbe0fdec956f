"""A whole mesh flow against the REAL preflight binaries, on loopback addresses only.

Three units (preflight/0..2) each have probe-0 = 127.0.10.<u+1> and probe-1 = 127.0.20.<u+1>
(interface lo). Phase 1: every unit publishes its addresses and observe summary. Phase 2: each
unit, given the others' published data, plans and runs the real `preflight-agent probe`, and
publishes results. Phase 3: the leader runs the real `preflight report --probes` over every
unit's published results. Nothing leaves 127.0.0.0/8.

These tests need `cargo build --workspace --bins` first (the root test.sh does it). They fail,
not skip, when the binaries are missing: CI must run them.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from conftest import context, real_bin_dir
from ops import testing

UNITS = (0, 1, 2)


def addr(binding: int, unit: int) -> str:
    """The loopback address of a unit on probe-<binding>."""
    return f"127.0.{10 * (binding + 1)}.{unit + 1}"


def networks(unit: int) -> list[testing.Network]:
    """network-get answers for the unit: probe-0 and probe-1 on lo, /8 CIDR, empty MAC."""
    return [
        testing.Network(
            f"probe-{b}",
            bind_addresses=[
                testing.BindAddress(
                    [testing.Address(addr(b, unit), cidr="127.0.0.0/8")],
                    interface_name="lo",
                    mac_address="",
                )
            ],
            ingress_addresses=[addr(b, unit)],
            egress_subnets=["127.0.0.0/8"],
        )
        for b in (0, 1)
    ] + [
        # The other six extra-bindings resolve to the unit's address in the default space, as
        # they do when left unbound: the same address on all six (cidr and interface empty).
        testing.Network(
            f"probe-{b}",
            bind_addresses=[testing.BindAddress([testing.Address(addr(2, unit), cidr="")])],
            ingress_addresses=[addr(2, unit)],
            egress_subnets=[],
        )
        for b in range(2, 8)
    ]


@pytest.fixture
def real_bin(monkeypatch) -> Path:
    """Points the charm at the real binaries; fails when they are not built."""
    d = real_bin_dir()
    for b in ("preflight-agent", "preflight"):
        assert os.access(d / b, os.X_OK), f"{d / b} is missing: run cargo build --workspace --bins"
    monkeypatch.setenv("PREFLIGHT_BIN_DIR", str(d))
    return d


@pytest.fixture
def listeners():
    """TCP listeners on every unit's probe-0 address, all on one port; yields the port."""
    socks = []
    port = 0
    try:
        for u in UNITS:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr(0, u), port))
            s.listen(16)
            port = s.getsockname()[1]
            socks.append(s)
        yield port
    finally:
        for s in socks:
            s.close()


def run_mesh(config: dict) -> dict[int, testing.State]:
    """Phases 1 and 2 for every unit; returns each unit's state after it probed."""
    published: dict[int, dict[str, str]] = {}
    for u in UNITS:
        ctx = context(u)
        rel = testing.PeerRelation("mesh", id=7, peers_data={o: {} for o in UNITS if o != u})
        st = testing.State(relations=[rel], networks=networks(u), planned_units=3, config=config)
        out = ctx.run(ctx.on.relation_created(rel), st)
        assert out.unit_status == testing.WaitingStatus("waiting for peers (0/2)")
        published[u] = dict(out.get_relation(7).local_unit_data)
    after: dict[int, testing.State] = {}
    for u in UNITS:
        ctx = context(u)
        rel = testing.PeerRelation(
            "mesh", id=7, peers_data={o: published[o] for o in UNITS if o != u}
        )
        st = testing.State(
            relations=[rel],
            networks=networks(u),
            planned_units=3,
            config=config,
            leader=(u == 0),
        )
        after[u] = ctx.run(ctx.on.relation_changed(rel, remote_unit=(u + 1) % 3), st)
    return after


def leader_state(after: dict[int, testing.State], config: dict) -> testing.State:
    """Unit 0 as leader, with every unit's phase-2 data as its peers'."""
    rel = testing.PeerRelation(
        "mesh",
        id=7,
        local_unit_data=dict(after[0].get_relation(7).local_unit_data),
        peers_data={u: dict(after[u].get_relation(7).local_unit_data) for u in (1, 2)},
    )
    return testing.State(
        relations=[rel],
        networks=networks(0),
        planned_units=3,
        config=config,
        leader=True,
        stored_states=after[0].stored_states,
    )


def test_phase1_publishes_addresses_and_real_observe_summary(real_bin):
    ctx = context(0)
    rel = testing.PeerRelation("mesh", id=7)
    out = ctx.run(ctx.on.install(), testing.State(relations=[rel], networks=networks(0)))
    data = out.get_relation(7).local_unit_data
    addresses = json.loads(data["addresses"])
    assert addresses["probe-0"] == [
        {"address": "127.0.10.1", "cidr": "127.0.0.0/8", "interface": "lo"}
    ]
    assert addresses["probe-7"] == [{"address": "127.0.30.1", "cidr": "", "interface": ""}]
    assert out.unit_status == testing.WaitingStatus("waiting for peers (0/0)")
    observed = json.loads(data["observed"])
    assert observed["hostname"] == socket.gethostname()
    assert observed["links"]["lo"]["mtu"] == 65536
    assert observed["links"]["lo"]["up"] is True


def test_whole_mesh_flow_with_real_binaries(real_bin, listeners):
    port = listeners
    config = {
        "count": 2,
        "interval-ms": 20,
        "timeout-ms": 500,
        "retries": 0,
        "mtu": "probe-0=1500",
        "tcp-ports": f"probe-0:{port}",
        "spaces": "probe-0=internal-api",
    }
    after = run_mesh(config)
    for u in UNITS:
        st = after[u]
        # 2 peers × (probe-0, probe-1, and probe-2 standing for the six unbound bindings
        # that share one default-space address: probed once, labelled by the binding alone).
        results = json.loads(st.get_relation(7).local_unit_data["results"])
        assert results["schema"] == "preflight.probe/v1"
        assert results["agent"] == f"preflight/{u}"
        by_space: dict[str, list[dict]] = {}
        for t in results["targets"]:
            by_space.setdefault(t["space"], []).append(t)
        assert sorted(by_space) == ["internal-api", "probe-1 127.0.0.0/8", "probe-2"]
        peers = [o for o in UNITS if o != u]
        for space, b in (("internal-api", 0), ("probe-1 127.0.0.0/8", 1), ("probe-2", 2)):
            got = sorted((t["source"], t["target"]) for t in by_space[space])
            assert got == [(addr(b, u), addr(b, o)) for o in peers]
            for t in by_space[space]:
                assert (t["sent"], t["received"]) == (2, 2), t
                assert t["rtt"]["min_ms"] >= 0
        for t in by_space["internal-api"]:
            assert t["mtu"]["expected_mtu"] == 1500 and t["mtu"]["verdict"] == "ok", t
            assert t["tcp"] == [
                {"port": port, "outcome": "open", "connect_ms": t["tcp"][0]["connect_ms"]}
            ]
        for t in by_space["probe-1 127.0.0.0/8"]:
            # No MTU configured and lo's 65536 is no path MTU: no MTU probe; no TCP ports.
            assert "mtu" not in t and "tcp" not in t
        n = len(results["targets"])
        assert st.unit_status == testing.ActiveStatus(f"{n}/{n} probes ok to 2/2 peers")

    # Phase 3: the leader's report over all three units' results, text and JSON.
    ctx = context(0)
    st = leader_state(after, config)
    out = ctx.run(ctx.on.update_status(), st)
    assert out.app_status.name == "active"
    assert out.app_status.message.startswith("report: pass (0 errors")
    assert out.app_status.message.endswith("from 3/3 units")

    ctx.run(ctx.on.action("report", params={"format": "json"}), st)
    res = ctx.action_results
    assert (res["status"], res["units"]) == ("pass", 3)
    report = json.loads(res["report"])
    assert report["schema"] == "preflight.report/v1"
    assert report["summary"]["status"] == "pass" and report["summary"]["errors"] == 0
    spaces = {s["name"]: s for s in report["spaces"]}
    assert {"internal-api", "probe-1 127.0.0.0/8"} <= set(spaces)
    pairs = spaces["internal-api"]["pairs"]
    assert len(pairs) == 6 and all(p["done"] and p["received"] == 2 for p in pairs)

    ctx.run(ctx.on.action("report", params={"format": "text"}), st)
    text = ctx.action_results["report"]
    assert ctx.action_results["status"] == "pass"
    assert "internal-api" in text


def test_isolation_breach_on_loopback_fails_with_real_report(real_bin):
    """probe-0 and probe-1 are declared isolated, but loopback reaches everything: a breach."""
    config = {
        "count": 1,
        "interval-ms": 20,
        "timeout-ms": 300,
        "retries": 0,
        "isolate": "probe-0:probe-1",
        "bindings": "probe-0 probe-1",
    }
    after = run_mesh(config)
    for u in UNITS:
        assert after[u].unit_status.name == "blocked"
        assert after[u].unit_status.message.startswith("FAIL 4/8 probes ok to 2/2 peers")
    ctx = context(0)
    st = leader_state(after, config)
    ctx.run(ctx.on.action("report", params={"format": "json"}), st)
    res = ctx.action_results
    assert res["status"] == "fail"
    report = json.loads(res["report"])
    assert report["summary"]["status"] == "fail"
    codes = {f["code"] for f in report["findings"]}
    assert "probe.isolation-breach" in codes


def test_run_action_with_real_agent(real_bin):
    config = {"count": 1, "interval-ms": 20, "timeout-ms": 300, "retries": 0, "bindings": "probe-1"}
    after = run_mesh(config)
    ctx = context(1)
    ctx.run(ctx.on.action("run"), after[1])
    res = ctx.action_results
    assert (res["probes"], res["answered"]) == (2, 2)
    merged = json.loads(res["results"])
    assert {t["target"] for t in merged["targets"]} == {addr(1, 0), addr(1, 2)}
