"""State-transition tests of the charm with ops.testing (Scenario) and the fake binaries."""

from __future__ import annotations

import json

import pytest
from conftest import calls, context, net, peer_data, probe_calls
from ops import testing

from charm import compact_results, parse_peer_addresses


def mesh(n_peers: int, base: int = 2, **extra) -> testing.PeerRelation:
    """A mesh relation with n_peers peers (units 1..n), probe-0 address 10.0.0.<base+i> each."""
    data = {
        i + 1: peer_data(probe_0=[f"10.0.0.{base + i}|10.0.0.0/24"], **extra)
        for i in range(n_peers)
    }
    return testing.PeerRelation("mesh", peers_data=data)


def state(rel=None, *, networks=None, leader=False, planned=4, config=None, **kw) -> testing.State:
    """A state with this unit on probe-0 = 10.0.0.1/24 unless networks are given."""
    return testing.State(
        relations=[rel] if rel is not None else [],
        networks=networks if networks is not None else [net("probe-0", "10.0.0.1|10.0.0.0/24")],
        leader=leader,
        planned_units=planned,
        config=config or {},
        **kw,
    )


def unit_data(out: testing.State, rel: testing.PeerRelation) -> dict[str, str]:
    """This unit's databag in the mesh relation after the event."""
    return out.get_relation(rel.id).local_unit_data


# ------------------------------------------------------------------ install and waiting


def test_install_without_peer_relation_waits(fake_bin):
    ctx = context()
    out = ctx.run(ctx.on.install(), state())
    assert out.unit_status == testing.WaitingStatus("waiting for the mesh peer relation")
    assert probe_calls(fake_bin) == []
    # observe ran (the binary is there), probe did not.
    assert [c["argv"][0] for c in calls(fake_bin)] == ["observe"]


def test_install_with_binary_missing_blocks(tmp_path, monkeypatch):
    empty = tmp_path / "nothing"
    empty.mkdir()
    monkeypatch.setenv("PREFLIGHT_BIN_DIR", str(empty))
    ctx = context()
    out = ctx.run(ctx.on.install(), state(mesh(0)))
    assert out.unit_status.name == "blocked"
    assert out.unit_status.message == f"preflight-agent not found at {empty}/preflight-agent"


def test_bin_dir_config_wins_over_env(fake_bin, tmp_path):
    ctx = context()
    out = ctx.run(ctx.on.install(), state(mesh(0), config={"bin-dir": str(tmp_path / "nope")}))
    assert out.unit_status.message.startswith("preflight-agent not found at ")
    assert str(tmp_path / "nope") in out.unit_status.message


def test_peers_join_one_by_one_up_to_four_units(fake_bin):
    """Units join one at a time; each join probes every known peer; results grow."""
    ctx = context()
    rel = mesh(0)
    out = ctx.run(ctx.on.relation_created(rel), state(rel, planned=4))
    assert out.unit_status == testing.WaitingStatus("waiting for peers (0/3)")
    assert "results" not in unit_data(out, rel)
    for n in (1, 2, 3):
        rel = mesh(n)
        before = len(probe_calls(fake_bin))
        st = testing.State(
            relations=[rel],
            networks=[net("probe-0", "10.0.0.1|10.0.0.0/24")],
            planned_units=4,
            stored_states=out.stored_states,
        )
        out = ctx.run(ctx.on.relation_joined(rel, remote_unit=n), st)
        plans = probe_calls(fake_bin)[before:]
        assert len(plans) == 1, "one probe run per binding with peers"
        targets = plans[0]["plan"]["targets"]
        assert [t["target"] for t in targets] == [f"10.0.0.{2 + i}" for i in range(n)]
        assert all(t["source"] == "10.0.0.1" for t in targets)
        assert [t["target_machine"] for t in targets] == [f"preflight/{i + 1}" for i in range(n)]
        assert out.unit_status == testing.ActiveStatus(f"{n}/{n} probes ok to {n}/3 peers")
        results = json.loads(unit_data(out, rel)["results"])
        assert results["schema"] == "preflight.probe/v1"
        assert results["agent"] == "preflight/0"
        assert len(results["targets"]) == n
        assert "sockets" not in results, "compact results drop socket details"
    # The same peers again (e.g. a peer published results): the plan is unchanged, no new run.
    before = len(probe_calls(fake_bin))
    out = ctx.run(
        ctx.on.relation_changed(rel, remote_unit=1),
        testing.State(
            relations=[rel],
            networks=[net("probe-0", "10.0.0.1|10.0.0.0/24")],
            planned_units=4,
            stored_states=out.stored_states,
        ),
    )
    assert len(probe_calls(fake_bin)) == before


def test_progress_status_names_binding_and_peer_count(fake_bin):
    ctx = context()
    rel = mesh(3)
    ctx.run(ctx.on.relation_changed(rel, remote_unit=1), state(rel, planned=5))
    assert testing.MaintenanceStatus("probing 3/4 peers on probe-0") in ctx.unit_status_history


def test_departed_peers_clear_stale_results(fake_bin):
    ctx = context()
    rel = testing.PeerRelation(
        "mesh", peers_data={}, local_unit_data={"results": '{"schema":"preflight.probe/v1"}'}
    )
    out = ctx.run(ctx.on.relation_departed(rel, remote_unit=1, departing_unit=1), state(rel))
    assert "results" not in unit_data(out, rel)
    assert out.unit_status.name == "waiting"


# ------------------------------------------------------------------ network-get shapes


def test_network_get_multi_address_and_empty_fields(fake_bin):
    """Two addresses (v4 + v6) on one binding, an empty cidr and empty interface/mac elsewhere."""
    networks = [
        net("probe-0", "10.0.0.1|10.0.0.0/24", "fd00::1|fd00::/64", iface="ens3", mac=""),
        net("probe-1", "172.16.0.1|", iface="", mac=None),
    ]
    rel = testing.PeerRelation(
        "mesh",
        peers_data={
            1: peer_data(
                probe_0=["10.0.0.2|10.0.0.0/24", "fd00::2|fd00::/64"], probe_1=["172.16.0.2|"]
            ),
        },
    )
    ctx = context()
    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=1), state(rel, networks=networks))
    published = json.loads(unit_data(out, rel)["addresses"])
    assert published["probe-0"] == [
        {"address": "10.0.0.1", "cidr": "10.0.0.0/24", "interface": "ens3"},
        {"address": "fd00::1", "cidr": "fd00::/64", "interface": "ens3"},
    ]
    assert published["probe-1"] == [{"address": "172.16.0.1", "cidr": "", "interface": ""}]
    plans = {c["plan"]["targets"][0]["space"]: c["plan"] for c in probe_calls(fake_bin)}
    v = plans["probe-0 10.0.0.0/24 fd00::/64"]["targets"]
    # Each peer address is probed from this unit's address of the same family.
    assert [(t["source"], t["target"]) for t in v] == [
        ("10.0.0.1", "10.0.0.2"),
        ("fd00::1", "fd00::2"),
    ]
    # No CIDR known: the binding name alone labels the space.
    assert plans["probe-1"]["targets"][0]["source"] == "172.16.0.1"


def test_unbound_bindings_sharing_addresses_are_probed_once(fake_bin):
    """Unbound extra-bindings all get the default-space address: one run, not eight."""
    same = [net(f"probe-{i}", "10.0.0.1|10.0.0.0/24") for i in range(8)]
    rel = testing.PeerRelation(
        "mesh",
        peers_data={1: peer_data(**{f"probe_{i}": ["10.0.0.2|10.0.0.0/24"] for i in range(8)})},
    )
    ctx = context()
    ctx.run(ctx.on.relation_changed(rel, remote_unit=1), state(rel, networks=same))
    runs = probe_calls(fake_bin)
    assert len(runs) == 1
    assert runs[0]["plan"]["targets"][0]["id"] == "probe-0:preflight/0>preflight/1:10.0.0.2"


def test_no_address_on_any_binding_blocks(fake_bin):
    networks = [
        testing.Network(f"probe-{i}", bind_addresses=[], ingress_addresses=[], egress_subnets=[])
        for i in range(8)
    ]
    ctx = context()
    rel = mesh(1)
    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=1), state(rel, networks=networks))
    assert out.unit_status == testing.BlockedStatus("no address on any probe-N binding")


# ------------------------------------------------------------------ config into the plan


def test_config_shapes_the_plan(fake_bin):
    networks = [
        net("probe-0", "10.0.0.1|10.0.0.0/24", iface="eth1"),
        net("probe-1", "10.1.0.1|10.1.0.0/24", iface="eth2"),
        net("probe-2", "10.2.0.1|10.2.0.0/24", iface="eth9"),
    ]
    rel = testing.PeerRelation(
        "mesh",
        peers_data={
            1: peer_data(
                probe_0=["10.0.0.2|10.0.0.0/24"],
                probe_1=["10.1.0.2|10.1.0.0/24"],
                probe_2=["10.2.0.2|10.2.0.0/24"],
            ),
        },
    )
    config = {
        "count": 5,
        "timeout-ms": 250,
        "mtu": "probe-1=1400 probe-2=0",
        "tcp-ports": "22 probe-1:3306",
        "isolate": "probe-0:probe-2",
        "spaces": "probe-0=internal-api probe-1=storage-data",
    }
    ctx = context()
    out = ctx.run(ctx.on.config_changed(), state(rel, networks=networks, config=config))
    plans = {c["plan"]["targets"][0]["id"].split(":")[0]: c["plan"] for c in probe_calls(fake_bin)}
    assert set(plans) == {"probe-0", "probe-1", "probe-2"}
    for p in plans.values():
        assert p["settings"]["count"] == 5 and p["settings"]["timeout_ms"] == 250
    t0 = plans["probe-0"]["targets"]
    # probe-0: reachable to the peer's probe-0 (MTU from eth1 = 9000 via observe), and the
    # isolated probe to the peer's probe-2 address from our probe-0 address.
    assert t0[0] == {
        "id": "probe-0:preflight/0>preflight/1:10.0.0.2",
        "space": "internal-api",
        "source": "10.0.0.1",
        "target": "10.0.0.2",
        "device": None,
        "mtu": 9000,
        "tcp_ports": [22],
        "target_machine": "preflight/1",
        "expect": "reachable",
    }
    assert t0[1]["expect"] == "isolated"
    assert (t0[1]["source"], t0[1]["target"]) == ("10.0.0.1", "10.2.0.2")
    assert t0[1]["mtu"] is None and t0[1]["tcp_ports"] == []
    t1 = plans["probe-1"]["targets"]
    assert (t1[0]["space"], t1[0]["mtu"], t1[0]["tcp_ports"]) == ("storage-data", 1400, [22, 3306])
    t2 = plans["probe-2"]["targets"]
    # probe-2: MTU probe turned off, no space name configured → binding + CIDR.
    assert (t2[0]["space"], t2[0]["mtu"]) == ("probe-2 10.2.0.0/24", None)
    assert t2[1]["expect"] == "isolated" and t2[1]["target"] == "10.0.0.2"
    # The fake answers isolated probes too only when told; here they stay silent → pass.
    assert out.unit_status == testing.ActiveStatus("5/5 probes ok to 1/3 peers")


@pytest.mark.parametrize(
    "config, message",
    [
        ({"mtu": "probe-0:9000"}, "bad config: mtu: 'probe-0:9000' is not BINDING=VALUE"),
        ({"mtu": "probe-0=big"}, "bad config: mtu: 'probe-0=big' is not a number"),
        (
            {"mtu": "probe-0=70000"},
            "bad config: mtu: 'probe-0=70000' is outside 68–65535 (0 turns it off)",
        ),
        ({"mtu": "eth0=1500"}, "bad config: mtu: 'eth0' is not one of probe-0 … probe-7"),
        ({"tcp-ports": "99999"}, "bad config: tcp-ports: '99999' is outside 1–65535"),
        ({"tcp-ports": "ssh"}, "bad config: tcp-ports: 'ssh' is not a port"),
        (
            {"isolate": "probe-0"},
            "bad config: isolate: 'probe-0' is not two different bindings 'probe-N:probe-M'",
        ),
        ({"spaces": "probe-9=x"}, "bad config: spaces: 'probe-9' is not one of probe-0 … probe-7"),
        ({"count": 0}, "bad config: count: must be at least 1, not 0"),
        ({"timeout-ms": -5}, "bad config: timeout-ms: must be at least 1, not -5"),
        ({"retries": -1}, "bad config: retries: must be 0 or more, not -1"),
        (
            {"bindings": "probe-0 public"},
            "bad config: bindings: 'public' is not one of probe-0 … probe-7",
        ),
    ],
)
def test_bad_config_blocks_with_the_option_named(fake_bin, config, message):
    ctx = context()
    rel = mesh(1)
    out = ctx.run(ctx.on.config_changed(), state(rel, config=config))
    assert out.unit_status == testing.BlockedStatus(message)
    assert probe_calls(fake_bin) == []


# ------------------------------------------------------------------ outcomes and failures


def test_unreachable_peer_fails_the_unit(fake_bin, monkeypatch):
    monkeypatch.setenv("FAKE_UNREACHABLE", "10.0.0.3")
    ctx = context()
    rel = mesh(3)
    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=1), state(rel))
    assert out.unit_status == testing.BlockedStatus("FAIL 2/3 probes ok to 3/3 peers")
    results = json.loads(unit_data(out, rel)["results"])
    bad = [t for t in results["targets"] if t["received"] == 0]
    assert [(t["target"], t["failure"]) for t in bad] == [("10.0.0.3", {"cause": "timeout"})]


@pytest.mark.parametrize(
    "mode, message",
    [
        (
            "error",
            (
                "probe failed: preflight-agent probe exited 2: error: plan: targets[0].source "
                "10.9.9.9 is not a local address"
            ),
        ),
        (
            "garbage",
            (
                "probe failed: preflight-agent probe printed no JSON (Expecting value: "
                "line 1 column 1 (char 0))"
            ),
        ),
    ],
)
def test_probe_errors_block_and_publish_nothing(fake_bin, monkeypatch, mode, message):
    monkeypatch.setenv("FAKE_PROBE", mode)
    ctx = context()
    rel = mesh(2)
    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=1), state(rel))
    assert out.unit_status == testing.BlockedStatus(message)
    assert "results" not in unit_data(out, rel)


def test_probe_timeout_is_bounded(fake_bin, monkeypatch):
    monkeypatch.setenv("FAKE_PROBE", "hang")
    ctx = context()
    rel = mesh(1)
    out = ctx.run(
        ctx.on.relation_changed(rel, remote_unit=1), state(rel, config={"run-timeout": 1})
    )
    assert out.unit_status == testing.BlockedStatus(
        "probe failed: preflight-agent probe timed out after 1s"
    )


def test_probe_after_failure_retries_on_next_event(fake_bin, monkeypatch):
    """A failed run does not record the plan as done: the next hook probes again."""
    monkeypatch.setenv("FAKE_PROBE", "error")
    ctx = context()
    rel = mesh(1)
    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=1), state(rel))
    monkeypatch.setenv("FAKE_PROBE", "ok")
    out = ctx.run(
        ctx.on.update_status(),
        testing.State(
            relations=[rel],
            networks=[net("probe-0", "10.0.0.1|10.0.0.0/24")],
            planned_units=4,
            stored_states=out.stored_states,
        ),
    )
    assert len(probe_calls(fake_bin)) == 2
    assert out.unit_status == testing.ActiveStatus("1/1 probes ok to 1/3 peers")


def test_observe_failure_still_probes(fake_bin, monkeypatch):
    monkeypatch.setenv("FAKE_OBSERVE", "error")
    ctx = context()
    rel = mesh(1)
    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=1), state(rel))
    observed = json.loads(unit_data(out, rel)["observed"])
    assert observed == {
        "error": "preflight-agent observe exited 2: error: netlink: permission denied"
    }
    # Without observe there is no interface MTU to default to.
    assert probe_calls(fake_bin)[0]["plan"]["targets"][0]["mtu"] is None
    assert out.unit_status.name == "active"


def test_observe_summary_is_compact(fake_bin):
    ctx = context()
    rel = mesh(0)
    out = ctx.run(ctx.on.relation_created(rel), state(rel))
    assert json.loads(unit_data(out, rel)["observed"]) == {
        "hostname": "node-1",
        "links": {
            "lo": {"mtu": 65536, "up": True, "state": "unknown"},
            "eth1": {"mtu": 9000, "up": True, "state": "up"},
            "eth2": {"mtu": 1500, "up": True, "state": "up"},
        },
    }
    assert out.workload_version == "0.1.0"


# ------------------------------------------------------------------ malformed peer data


def test_malformed_peer_data_is_skipped_and_named(fake_bin):
    rel = testing.PeerRelation(
        "mesh",
        peers_data={
            1: {"addresses": "{not json"},
            2: {"addresses": json.dumps({"probe-0": "10.0.0.3"})},
            3: {
                "addresses": json.dumps(
                    {
                        "probe-0": [
                            {"address": "10.0.0.999"},
                            {"cidr": "x"},
                            {"address": "10.0.0.4", "cidr": 7},
                        ]
                    }
                )
            },
            4: {"addresses": json.dumps(["10.0.0.5"])},
            5: {"addresses": "x" * 20000},
            6: peer_data(probe_0=["10.0.0.7|10.0.0.0/24"]),
            7: {},
        },
    )
    ctx = context()
    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=1), state(rel, planned=8))
    targets = probe_calls(fake_bin)[0]["plan"]["targets"]
    # Only the valid addresses: unit 3's one good entry (bad cidr type ignored) and unit 6.
    assert [(t["target_machine"], t["target"]) for t in targets] == [
        ("preflight/3", "10.0.0.4"),
        ("preflight/6", "10.0.0.7"),
    ]
    assert out.unit_status.message.startswith(
        "2/2 probes ok to 7/7 peers; preflight/1: addresses data is not JSON"
    )
    logged = [line.message for line in ctx.juju_log if line.message.startswith("peer data: ")]
    assert logged == [
        (
            "peer data: preflight/1: addresses data is not JSON (Expecting property name "
            "enclosed in double quotes: line 1 column 2 (char 1))"
        ),
        "peer data: preflight/2: addresses.probe-0 is not a list",
        "peer data: preflight/3: addresses.probe-0[0]: '10.0.0.999' is not an IP address",
        "peer data: preflight/3: addresses.probe-0[1] has no address string",
        "peer data: preflight/4: addresses data is not a JSON object",
        "peer data: preflight/5: addresses data is 20000 bytes, over 16384",
    ]


def test_parse_peer_addresses_hostile_inputs():
    assert parse_peer_addresses("u/1", None).addresses == {}
    assert parse_peer_addresses("u/1", "null").problems == [
        "u/1: addresses data is not a JSON object"
    ]
    assert parse_peer_addresses("u/1", '{"probe-0": 5}').problems == [
        "u/1: addresses.probe-0 is not a list"
    ]
    info = parse_peer_addresses("u/1", '{"probe-0": [null, {"address": 1}]}')
    assert info.problems == [
        "u/1: addresses.probe-0[0] has no address string",
        "u/1: addresses.probe-0[1] has no address string",
    ]
    # Unknown bindings (a newer charm) and unknown fields are ignored, not errors.
    info = parse_peer_addresses("u/1", '{"probe-9": [], "probe-1": [{"address": "::1", "x": 1}]}')
    assert info.problems == [] and [a.address for a in info.addresses["probe-1"]] == ["::1"]
    info = parse_peer_addresses("u/1", '{"probe-0": [{"address": "' + "9" * 100 + '"}]}')
    assert info.problems == [f"u/1: addresses.probe-0[0]: '{'9' * 64}' is not an IP address"]


# ------------------------------------------------------------------ relation data size


def test_own_results_over_size_are_cut_failures_first(fake_bin, monkeypatch):
    monkeypatch.setenv("FAKE_BIG_TARGET", "300")
    monkeypatch.setenv("FAKE_UNREACHABLE", "10.0.0.9")
    ctx = context()
    rel = mesh(10)
    out = ctx.run(
        ctx.on.relation_changed(rel, remote_unit=1),
        state(rel, planned=11, config={"max-relation-bytes": 2000}),
    )
    data = unit_data(out, rel)
    assert len(data["results"]) <= 2000
    kept = json.loads(data["results"])["targets"]
    assert 0 < len(kept) < 10
    assert kept[0]["target"] == "10.0.0.9", "the failure is kept first"
    note = f"results cut to {len(kept)}/10 targets (over 2000 bytes)"
    assert data["results-note"] == note
    assert out.unit_status == testing.BlockedStatus(f"FAIL 9/10 probes ok to 10/10 peers; {note}")


def test_compact_results_fits_without_cutting_when_small():
    report = {
        "schema": "preflight.probe/v1",
        "agent": "a/0",
        "sockets": [{"kind": "raw"}],
        "started_at": "t",
        "duration_ms": 1,
        "targets": [{"target": "10.0.0.2", "sent": 1, "received": 1, "rtt": None, "tcp": []}],
    }
    text, note = compact_results(report, 10_000)
    assert note == ""
    assert json.loads(text) == {
        "schema": "preflight.probe/v1",
        "agent": "a/0",
        "started_at": "t",
        "duration_ms": 1,
        "targets": [{"target": "10.0.0.2", "sent": 1, "received": 1}],
    }


def test_leader_refuses_peer_results_over_size(fake_bin):
    ok = json.dumps(
        {
            "schema": "preflight.probe/v1",
            "agent": "preflight/1",
            "started_at": "t",
            "duration_ms": 1,
            "targets": [
                {"target": "10.0.0.1", "sent": 1, "received": 1, "duplicates": 0, "loss_pct": 0.0}
            ],
        }
    )
    rel = testing.PeerRelation(
        "mesh",
        peers_data={
            1: {**peer_data(probe_0=["10.0.0.2|10.0.0.0/24"]), "results": ok},
            2: {**peer_data(probe_0=["10.0.0.3|10.0.0.0/24"]), "results": "y" * 5000},
            3: {**peer_data(probe_0=["10.0.0.4|10.0.0.0/24"]), "results": '{"schema": "other"}'},
        },
    )
    ctx = context()
    st = state(rel, leader=True, config={"max-relation-bytes": 4096})
    ctx.run(ctx.on.action("report", params={"format": "json"}), st)
    res = ctx.action_results
    assert res["status"] == "pass"
    assert res["units"] == 1  # only preflight/1: this unit has not probed yet in this state
    assert res["refused"] == (
        "preflight/2: results are 5000 bytes, over 4096\n"
        "preflight/3: results are not a preflight.probe/v1 document"
    )
    report_calls = [c for c in calls(fake_bin) if c["argv"][0] == "--probes"]
    assert len(report_calls) == 1 and len(report_calls[0]["argv"]) == 4  # --probes F --format json


# ------------------------------------------------------------------ leader and actions


def test_leader_sets_app_status_from_report(fake_bin, monkeypatch):
    monkeypatch.setenv("FAKE_UNREACHABLE", "10.0.0.2")
    ctx = context()
    rel = mesh(2)
    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=1), state(rel, leader=True, planned=3))
    assert out.app_status == testing.BlockedStatus(
        "report: fail (1 errors, 0 warnings) from 1/3 units"
    )


def test_non_leader_leaves_app_status(fake_bin):
    ctx = context()
    rel = mesh(2)
    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=1), state(rel, leader=False, planned=3))
    assert out.app_status == testing.UnknownStatus()
    assert [c for c in calls(fake_bin) if c["argv"][0] == "--probes"] == []


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_report_action_on_leader(fake_bin, fmt):
    ctx = context()
    rel = mesh(2)
    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=1), state(rel, leader=True, planned=3))
    ctx.run(ctx.on.action("report", params={"format": fmt}), out)
    res = ctx.action_results
    assert res["status"] == "pass" and res["units"] == 1
    if fmt == "json":
        doc = json.loads(res["report"])
        assert doc["schema"] == "preflight.report/v1" and doc["agents"] == ["preflight/0"]
    else:
        assert res["report"] == "PASS: 0 errors from 1 agents\n"


def test_report_action_fails_on_non_leader(fake_bin):
    ctx = context()
    with pytest.raises(testing.ActionFailed) as e:
        ctx.run(ctx.on.action("report"), state(mesh(1)))
    assert (
        e.value.message == "the report is assembled on the leader: juju run preflight/leader report"
    )


def test_report_action_without_results_fails(fake_bin):
    ctx = context()
    with pytest.raises(testing.ActionFailed) as e:
        ctx.run(ctx.on.action("report"), state(mesh(1), leader=True))
    assert e.value.message == "no unit has published results yet"


def test_report_action_report_binary_error(fake_bin, monkeypatch):
    ctx = context()
    rel = mesh(1)
    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=1), state(rel, leader=True))
    monkeypatch.setenv("FAKE_REPORT", "error")
    with pytest.raises(testing.ActionFailed) as e:
        ctx.run(ctx.on.action("report"), out)
    assert e.value.message == "preflight report exited 2: error: probes: bad input"


def test_report_action_bad_format(fake_bin):
    ctx = context()
    with pytest.raises(testing.ActionFailed) as e:
        ctx.run(ctx.on.action("report", params={"format": "xml"}), state(mesh(1), leader=True))
    assert "xml" in e.value.message


def test_run_action_probes_again_even_when_unchanged(fake_bin):
    ctx = context()
    rel = mesh(2)
    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=1), state(rel))
    assert len(probe_calls(fake_bin)) == 1
    ctx.run(ctx.on.action("run"), out)
    assert len(probe_calls(fake_bin)) == 2
    res = ctx.action_results
    assert (res["status"], res["probes"], res["answered"]) == ("active", 2, 2)
    assert res["message"] == "2/2 probes ok to 2/3 peers"
    assert json.loads(res["results"])["schema"] == "preflight.probe/v1"


def test_run_action_without_peers_fails(fake_bin):
    ctx = context()
    with pytest.raises(testing.ActionFailed) as e:
        ctx.run(ctx.on.action("run"), state(mesh(0)))
    assert e.value.message == "no probe ran: waiting for peers (0/3)"


def test_run_action_with_binary_missing_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFLIGHT_BIN_DIR", str(tmp_path))
    ctx = context()
    with pytest.raises(testing.ActionFailed) as e:
        ctx.run(ctx.on.action("run"), state(mesh(1)))
    assert (
        e.value.message == f"no probe ran: preflight-agent not found at {tmp_path}/preflight-agent"
    )


def test_peer_claiming_our_own_address_is_not_probed(fake_bin):
    rel = testing.PeerRelation(
        "mesh",
        peers_data={
            1: peer_data(probe_0=["10.0.0.1|10.0.0.0/24"]),
            2: peer_data(probe_0=["10.0.0.3|10.0.0.0/24"]),
        },
    )
    ctx = context()
    ctx.run(ctx.on.relation_changed(rel, remote_unit=1), state(rel))
    assert [t["target"] for t in probe_calls(fake_bin)[0]["plan"]["targets"]] == ["10.0.0.3"]


def test_report_binary_missing_on_leader(fake_bin):
    (fake_bin.parent / "bin" / "preflight").unlink()
    ctx = context()
    rel = mesh(1)
    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=1), state(rel, leader=True))
    # The unit still probes (preflight-agent is there); the app says why there is no report.
    assert out.unit_status.name == "active"
    missing = f"preflight not found at {fake_bin.parent / 'bin' / 'preflight'}"
    assert out.app_status == testing.WaitingStatus(f"report: {missing}")
    with pytest.raises(testing.ActionFailed) as e:
        ctx.run(ctx.on.action("report"), out)
    assert e.value.message == missing
