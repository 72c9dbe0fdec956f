"""State-transition tests (ops.testing / Scenario) with the fake binaries of fakebin.py."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import calls, context, net
from ops import testing

from charm import (
    NO_PROVIDER_GAPS,
    ConfigError,
    Supervisor,
    labels_for,
    provider_snapshot,
    systemd_quote,
)

CFG = {"bindings": "probe-0"}


def nets(ip: str = "10.0.0.1") -> list[testing.Network]:
    """mesh and probe-0 on eth1 in 10.0.0.0/24."""
    return [net("mesh", f"{ip}|10.0.0.0/24"), net("probe-0", f"{ip}|10.0.0.0/24")]


def published(u: int) -> dict[str, str]:
    """Unit data of peer preflight/<u> as the charm publishes it."""
    b = {
        "probe-0": [
            {
                "address": f"10.0.0.{u + 1}",
                "cidr": "10.0.0.0/24",
                "interface": "eth1",
                "mac": f"52:54:00:00:00:0{u}",
                "mtu": 9000,
            }
        ]
    }
    return {"bindings": json.dumps(b), "hostname": f"node-{u}"}


def state_dir(unit: int = 0) -> Path:
    """The unit's state directory (under the test's PREFLIGHT_STATE_DIR)."""
    return Path(os.environ["PREFLIGHT_STATE_DIR"]) / f"preflight-{unit}"


def wait_for(path: Path, seconds: float = 10) -> None:
    """Waits for a file the detached fake writes."""
    end = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < end, f"{path} did not appear"
        time.sleep(0.05)


def wait_calls(log: Path, n: int, *prefix: str) -> list[list[str]]:
    """Waits until the detached fakes logged n calls starting with prefix; returns them."""
    end = time.monotonic() + 10
    while len(got := calls(log, *prefix)) < n:
        assert time.monotonic() < end, f"only {got} of {n} {prefix} calls"
        time.sleep(0.05)
    return got


def leader_run(units=3, planned=3, config=CFG, secrets=(), event="changed"):
    """The leader (unit 0) with `units` units all published; returns (ctx, out state)."""
    rel = testing.PeerRelation("mesh", id=1, peers_data={u: published(u) for u in range(1, units)})
    st = testing.State(
        relations=[rel],
        networks=nets(),
        planned_units=planned,
        leader=True,
        config=config,
        secrets=list(secrets),
    )
    ctx = context(0)
    ev = ctx.on.relation_changed(rel, remote_unit=1) if event == "changed" else ctx.on.action("run")
    return ctx, ctx.run(ev, st)


# ------------------------------------------------------------------------- basics


def test_install_without_peer_relation_waits(fake_bin):
    ctx = context()
    out = ctx.run(ctx.on.install(), testing.State(networks=nets()))
    assert out.unit_status == testing.WaitingStatus("waiting for the mesh peer relation")


def test_binary_missing_blocks(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFLIGHT_BIN_DIR", str(tmp_path / "nothing"))
    ctx = context()
    out = ctx.run(ctx.on.install(), testing.State(networks=nets()))
    assert out.unit_status == testing.BlockedStatus(
        f"preflight-agent not found at {tmp_path / 'nothing' / 'preflight-agent'}"
    )


def test_bin_dir_config_wins_over_env(fake_bin, tmp_path):
    ctx = context()
    st = testing.State(networks=nets(), config={"bin-dir": str(tmp_path / "cfg")})
    out = ctx.run(ctx.on.install(), st)
    assert out.unit_status.message.startswith(f"preflight-agent not found at {tmp_path / 'cfg'}")


def test_observe_failure_blocks_with_its_message(fake_bin, monkeypatch):
    monkeypatch.setenv("FAKE_OBSERVE", "error")
    ctx = context()
    out = ctx.run(ctx.on.install(), testing.State(networks=nets()))
    assert out.unit_status.name == "blocked"
    assert "netlink: permission denied" in out.unit_status.message


def test_unit_publishes_bindings_with_the_observed_mac_and_mtu(fake_bin):
    ctx = context(1)
    rel = testing.PeerRelation("mesh", id=1)
    out = ctx.run(ctx.on.relation_created(rel), testing.State(relations=[rel], networks=nets()))
    data = out.get_relation(1).local_unit_data
    assert json.loads(data["bindings"])["probe-0"] == [
        {
            "address": "10.0.0.1",
            "cidr": "10.0.0.0/24",
            "interface": "eth1",
            "mac": "52:54:00:00:00:01",
            "mtu": 9000,
        }
    ]
    assert data["hostname"] == "node-1"
    assert out.unit_status == testing.WaitingStatus("waiting for the leader's coordinator")
    assert calls(fake_bin, "preflight", "check") == []


# ------------------------------------------------------------------------- the leader


def test_leader_waits_until_the_planned_units_published(fake_bin):
    rel = testing.PeerRelation("mesh", id=1, peers_data={1: published(1), 2: {}})
    ctx = context(0)
    st = testing.State(relations=[rel], networks=nets(), planned_units=3, leader=True, config=CFG)
    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=1), st)
    assert out.app_status == testing.WaitingStatus("waiting for units' bindings (2/3)")
    assert calls(fake_bin, "preflight", "check") == []
    assert "run" not in out.get_relation(1).local_app_data


def test_leader_starts_the_coordinator_and_its_agent(fake_bin):
    ctx, out = leader_run(units=4, planned=4)
    app = out.get_relation(1).local_app_data
    assert (app["run"], app["coordinator"]) == ("1", "https://10.0.0.1:7700")
    secret = next(iter(out.secrets))
    assert app["secret-id"] == secret.id
    assert len(secret.tracked_content["token"]) >= 32
    wait_for(state_dir() / "run-1" / "report.json")
    (argv,) = calls(fake_bin, "preflight", "check")
    assert argv[argv.index("--listen") + 1] == "10.0.0.1:7700"
    assert argv[argv.index("--expect") + 1] == "4"
    assert argv[argv.index("--provider") + 1] == str(state_dir() / "provider.json")
    assert "--maas-url" not in argv and "--tls" in argv
    assert argv[argv.index("--note") + 1] == NO_PROVIDER_GAPS
    token = Path(argv[argv.index("--token-file") + 1])
    assert token.read_text().strip() == secret.tracked_content["token"]
    assert token.stat().st_mode & 0o777 == 0o600
    snap = json.loads((state_dir() / "provider.json").read_text())
    assert [m["system_id"] for m in snap["machines"]] == [f"preflight-{u}" for u in range(4)]
    assert snap["subnets"][0]["cidr"] == "10.0.0.0/24"
    assert snap["subnets"][0]["vlan"]["mtu"] == 9000
    # The leader's own agent, with the machine id the snapshot names.
    (agent,) = wait_calls(fake_bin, 1, "preflight-agent", "run")
    assert agent[agent.index("--coordinator") + 1] == "https://10.0.0.1:7700"
    assert agent[agent.index("--machine-id") + 1] == "preflight-0"
    assert agent[agent.index("--agent-key-file") + 1] == str(state_dir() / "agent.key")
    assert out.unit_status == testing.MaintenanceStatus("run 1: agent started")


def test_expect_follows_the_planned_units_above_the_known_ones(fake_bin):
    ctx, out = leader_run(units=3, planned=5, event="run")
    assert ctx.action_results == {"run": "1", "coordinator": "https://10.0.0.1:7700"}
    wait_for(state_dir() / "run-1" / "report.json")
    (argv,) = calls(fake_bin, "preflight", "check")
    assert argv[argv.index("--expect") + 1] == "5"


def test_config_becomes_check_flags(fake_bin):
    config = {
        "bindings": "probe-0",
        "spaces": "probe-0=internal",
        "count": 5,
        "timeout-ms": 250,
        "deadline": 30,
        "port": 7800,
    }
    _, out = leader_run(config=config)
    wait_for(state_dir() / "run-1" / "report.json")
    (argv,) = calls(fake_bin, "preflight", "check")
    for name, value in (
        ("--count", "5"),
        ("--timeout-ms", "250"),
        ("--deadline", "30"),
        ("--listen", "10.0.0.1:7800"),
    ):
        assert argv[argv.index(name) + 1] == value
    assert "--isolate" not in argv


def test_isolate_names_a_space_of_the_bindings(fake_bin):
    config = {"bindings": "probe-0", "spaces": "probe-0=internal", "isolate": "internal:storage"}
    _, out = leader_run(config=config)
    assert out.app_status == testing.BlockedStatus("isolate: no space 'storage' among the bindings")
    assert calls(fake_bin, "preflight", "check") == []


@pytest.mark.parametrize(
    "config,message",
    [
        ({"spaces": "probe-9=x"}, "spaces: 'probe-9' is not one of probe-0 … probe-7"),
        ({"mtu": "probe-0=huge"}, "mtu: 'probe-0=huge' is not a number"),
        ({"mtu": "probe-0=20"}, "mtu: 'probe-0=20' is outside 68–65535"),
        ({"isolate": "a"}, "isolate: 'a' is not two different names 'A:B'"),
        ({"bindings": "eth0"}, "bindings: 'eth0' is not one of probe-0 … probe-7"),
    ],
)
def test_bad_config_blocks_with_the_option_named(fake_bin, config, message):
    _, out = leader_run(config={**CFG, **config})
    assert out.unit_status == testing.BlockedStatus(message)
    assert calls(fake_bin, "preflight", "check") == []


def test_status_pass_fail_and_a_dead_coordinator(fake_bin, monkeypatch):
    for mode, want in (
        ("pass", testing.ActiveStatus("run 1: PASS")),
        ("fail", testing.BlockedStatus("run 1: FAIL: 2 errors, 1 causes")),
        (
            "die",
            testing.BlockedStatus(
                "run 1: coordinator stopped without a report: error: cannot load the provider "
                "(MAAS) model: 401 Unauthorized"
            ),
        ),
    ):
        monkeypatch.setenv("FAKE_CHECK", mode)
        ctx, out = leader_run()
        coord = state_dir() / "coordinator.log"
        if mode == "die":
            end = time.monotonic() + 10
            while Supervisor("coordinator", state_dir()).running():
                assert time.monotonic() < end, "the fake coordinator did not exit"
                time.sleep(0.05)
        else:
            wait_for(state_dir() / "run-1" / "report.json")
        st = testing.State(
            relations=out.relations,
            networks=nets(),
            planned_units=3,
            leader=True,
            config=CFG,
            secrets=out.secrets,
        )
        out2 = ctx.run(ctx.on.update_status(), st)
        assert out2.app_status == want, coord.read_text()
        (state_dir() / "run-1" / "report.json").unlink(missing_ok=True)
        coord.unlink(missing_ok=True)


def test_status_while_the_coordinator_runs(fake_bin, monkeypatch):
    monkeypatch.setenv("FAKE_CHECK", "hang")
    ctx, out = leader_run()
    wait_for(state_dir() / "run-1" / "ready")
    st = testing.State(
        relations=out.relations,
        networks=nets(),
        planned_units=3,
        leader=True,
        config=CFG,
        secrets=out.secrets,
    )
    out2 = ctx.run(ctx.on.update_status(), st)
    assert out2.app_status == testing.MaintenanceStatus("run 1: coordinator listening")
    (argv,) = calls(fake_bin, "preflight", "check")
    progress = Path(argv[argv.index("--progress-file") + 1])
    assert progress == state_dir() / "run-1" / "progress.json"

    def status(**p) -> str:
        doc = {
            "stage": "registering",
            "agents_registered": 0,
            "agents_expected": 3,
            "agents_planned": 0,
            "agents_reported": 0,
            "probes_planned": 0,
            "probes_done": 0,
        }
        progress.write_text(json.dumps({**doc, **p}))
        return ctx.run(ctx.on.update_status(), st).app_status.message

    assert status(agents_registered=2) == "run 1: 2/3 agents registered"
    assert (
        status(stage="probing", agents_planned=3, agents_reported=1, probes_planned=1200)
        == "run 1: probing 0/1,200, 1/3 agents reported"
    )
    assert (
        status(stage="probing", agents_planned=3, probes_planned=1200, probes_done=812)
        == "run 1: probing 812/1,200, 0/3 agents reported"
    )
    assert status(stage="reporting") == "run 1: building the report"
    # A half-written or hostile file is not a crash.
    for bad in ("{", '{"stage": "probing"}', '{"stage": 1, "probes_done": "x"}', "[]"):
        progress.write_text(bad)
        out = ctx.run(ctx.on.update_status(), st)
        assert out.app_status == testing.MaintenanceStatus("run 1: coordinator listening")


def test_a_new_leader_starts_a_new_run_on_its_own_address(fake_bin):
    """preflight/0 led run 1; preflight/1 is elected: it serves run 2 from 10.0.0.2."""
    app = {
        "run": "1",
        "coordinator": "https://10.0.0.1:7700",
        "coordinator-unit": "preflight/0",
        "expect": "3",
    }
    rel = testing.PeerRelation(
        "mesh", id=1, local_app_data=app, peers_data={0: published(0), 2: published(2)}
    )
    st = testing.State(
        relations=[rel], networks=nets("10.0.0.2"), planned_units=3, leader=True, config=CFG
    )
    ctx = context(1)
    out = ctx.run(ctx.on.leader_elected(), st)
    new = out.get_relation(1).local_app_data
    assert (new["run"], new["coordinator"], new["coordinator-unit"]) == (
        "2",
        "https://10.0.0.2:7700",
        "preflight/1",
    )
    wait_for(state_dir(1) / "run-2" / "report.json")
    (argv,) = calls(fake_bin, "preflight", "check")
    assert argv[argv.index("--listen") + 1] == "10.0.0.2:7700"


def test_a_unit_that_lost_leadership_stops_its_coordinator(fake_bin, monkeypatch):
    monkeypatch.setenv("FAKE_CHECK", "hang")
    _, out = leader_run()
    wait_for(state_dir() / "run-1" / "ready")
    coord = Supervisor("coordinator", state_dir())
    assert coord.running()
    app = dict(out.get_relation(1).local_app_data)
    rel = testing.PeerRelation(
        "mesh", id=1, local_app_data=app, peers_data={1: published(1), 2: published(2)}
    )
    st = testing.State(relations=[rel], networks=nets(), planned_units=3, leader=False, config=CFG)
    ctx = context(0)
    ctx.run(ctx.on.update_status(), st)
    assert not coord.running()


def test_units_joining_after_a_finished_run_get_a_new_run(fake_bin):
    ctx, out = leader_run(units=3, planned=3)
    wait_for(state_dir() / "run-1" / "report.json")
    app = dict(out.get_relation(1).local_app_data)
    assert app["expect"] == "3"
    rel = testing.PeerRelation(
        "mesh", id=1, local_app_data=app, peers_data={u: published(u) for u in (1, 2, 3)}
    )
    st = testing.State(
        relations=[rel],
        networks=nets(),
        planned_units=4,
        leader=True,
        config=CFG,
        secrets=out.secrets,
    )
    out2 = ctx.run(ctx.on.relation_joined(rel, remote_unit=3), st)
    new = out2.get_relation(1).local_app_data
    assert (new["run"], new["expect"]) == ("2", "4")
    wait_for(state_dir() / "run-2" / "report.json")
    argv = wait_calls(fake_bin, 2, "preflight", "check")[1]
    assert argv[argv.index("--expect") + 1] == "4"


# ------------------------------------------------------------------------- MAAS


MAAS = {"bindings": "probe-0", "maas-url": "http://maas:5240/MAAS"}
KEY = "consumerAAAA:tokenBBBB:secretCCCC"


def user_secret(content):
    """A user secret granted to the application."""
    return testing.Secret(tracked_content=content, owner=None)


def test_maas_key_secret_goes_to_a_0600_file_never_to_status(fake_bin):
    secret = user_secret({"api-key": KEY})
    _, out = leader_run(config={**MAAS, "maas-api-key-secret": secret.id}, secrets=[secret])
    wait_for(state_dir() / "run-1" / "report.json")
    (argv,) = calls(fake_bin, "preflight", "check")
    assert argv[argv.index("--maas-url") + 1] == "http://maas:5240/MAAS"
    keyfile = Path(argv[argv.index("--api-key-file") + 1])
    assert keyfile.read_text().strip() == KEY
    assert keyfile.stat().st_mode & 0o777 == 0o600
    assert "--provider" not in argv and "--note" not in argv and KEY not in argv
    labels = [argv[i + 1] for i, a in enumerate(argv) if a == "--unit-label"]
    assert labels and all(
        h.startswith("node-") and u.startswith("preflight/")
        for h, u in (x.split("=", 1) for x in labels)
    ), labels
    assert not (state_dir() / "provider.json").exists()
    (agent,) = wait_calls(fake_bin, 1, "preflight-agent", "run")
    assert "--machine-id" not in agent  # MAAS matches the machine by hostname/MAC
    for log in state_dir().glob("*.log"):
        assert KEY not in log.read_text()
    assert KEY not in out.app_status.message and KEY not in out.unit_status.message


def test_missing_maas_secret_blocks_and_says_grant(fake_bin):
    sid = "secret:cs0s1u7mp25c77gqpel0"
    _, out = leader_run(config={**MAAS, "maas-api-key-secret": sid})
    assert out.unit_status.name == "blocked"
    assert out.unit_status.message.startswith(f"maas-api-key-secret {sid} cannot be read")
    assert "juju grant-secret" in out.unit_status.message
    assert calls(fake_bin, "preflight", "check") == []


@pytest.mark.parametrize("content", [{"api-key": "not-a-key"}, {"other": KEY}])
def test_bad_maas_key_blocks_without_showing_it(fake_bin, content):
    secret = user_secret(content)
    _, out = leader_run(config={**MAAS, "maas-api-key-secret": secret.id}, secrets=[secret])
    assert out.unit_status == testing.BlockedStatus(
        f"maas-api-key-secret {secret.id}: field api-key is not a MAAS key (consumer:token:secret)"
    )
    assert calls(fake_bin, "preflight", "check") == []


def test_maas_url_without_secret_blocks(fake_bin):
    _, out = leader_run(config=MAAS)
    assert out.unit_status == testing.BlockedStatus(
        "maas-url and maas-api-key-secret are needed together"
    )


# ------------------------------------------------------------------------- TLS


def test_tls_fingerprint_reaches_the_units_through_the_secret(fake_bin):
    ctx, out = leader_run()
    app = out.get_relation(1).local_app_data
    assert app["coordinator"] == "https://10.0.0.1:7700"
    (argv,) = calls(fake_bin, "preflight", "check")
    assert "--tls" in argv
    fp = "SHA256:" + "ab" * 32
    assert Path(argv[argv.index("--fingerprint-file") + 1]).read_text().strip() == fp
    secret = next(iter(out.secrets))
    assert secret.latest_content["fingerprint"] == fp
    token = secret.latest_content["token"]
    (agent,) = wait_calls(fake_bin, 1, "preflight-agent", "run")
    assert agent[agent.index("--fingerprint") + 1] == fp
    assert agent[agent.index("--coordinator") + 1] == "https://10.0.0.1:7700"
    # A unit that sees the secret before the fingerprint is in it waits for it.
    shared = [testing.Secret(tracked_content={"token": token}, id=secret.id, owner="app")]
    c1 = context(1)
    out1 = c1.run(c1.on.update_status(), follower(dict(app), shared))
    assert out1.unit_status == testing.WaitingStatus("waiting for the coordinator's fingerprint")
    shared = [testing.Secret(tracked_content=secret.latest_content, id=secret.id, owner="app")]
    # The leader's app-data stamp wakes the units (no secret-changed for the owning app).
    assert app["secret-updated"] == fp[-16:]
    st = follower(dict(app), shared)
    out2 = c1.run(c1.on.relation_changed(st.get_relation(1), remote_unit=0), st)
    assert out2.unit_status == testing.MaintenanceStatus("run 1: agent started")
    agents = wait_calls(fake_bin, 2, "preflight-agent", "run")
    assert agents[1][agents[1].index("--fingerprint") + 1] == fp


# ------------------------------------------------------------------------- followers


def follower(app_data, secrets, stored=None):
    """Unit 1 with the leader's app data."""
    rel = testing.PeerRelation(
        "mesh", id=1, local_app_data=app_data, peers_data={0: published(0), 2: published(2)}
    )
    return testing.State(
        relations=[rel],
        networks=nets("10.0.0.2"),
        planned_units=3,
        config=CFG,
        secrets=secrets,
        stored_states=stored or [],
    )


def test_follower_starts_its_agent_once_per_run(fake_bin):
    _, out = leader_run()
    app = dict(out.get_relation(1).local_app_data)
    lead_secret = next(iter(out.secrets))
    shared = [
        testing.Secret(tracked_content=lead_secret.tracked_content, id=lead_secret.id, owner="app")
    ]
    ctx = context(1)
    rel = follower(app, shared).get_relation(1)
    out1 = ctx.run(ctx.on.relation_changed(rel, remote_unit=0), follower(app, shared))
    assert out1.unit_status == testing.MaintenanceStatus("run 1: agent started")
    agent = Supervisor("agent", state_dir(1))
    end = time.monotonic() + 10
    while agent.running():
        assert time.monotonic() < end, "the fake agent did not exit"
        time.sleep(0.05)
    out2 = ctx.run(ctx.on.update_status(), follower(app, shared, out1.stored_states))
    assert out2.unit_status.name == "active"
    assert out2.unit_status.message.startswith("run 1: agent done")
    assert len([a for a in calls(fake_bin, "preflight-agent", "run") if "preflight-1" in a]) == 1
    # A new run from the leader starts the agent again.
    app["run"] = "2"
    out3 = ctx.run(ctx.on.update_status(), follower(app, shared, out2.stored_states))
    assert out3.unit_status == testing.MaintenanceStatus("run 2: agent started")


def test_a_failed_agent_blocks_with_its_error(fake_bin, monkeypatch):
    monkeypatch.setenv("FAKE_AGENT", "error")
    _, out = leader_run()
    app = dict(out.get_relation(1).local_app_data)
    lead_secret = next(iter(out.secrets))
    shared = [
        testing.Secret(tracked_content=lead_secret.tracked_content, id=lead_secret.id, owner="app")
    ]
    ctx = context(1)
    out1 = ctx.run(ctx.on.update_status(), follower(app, shared))
    agent = Supervisor("agent", state_dir(1))
    end = time.monotonic() + 10
    while agent.running():
        assert time.monotonic() < end
        time.sleep(0.05)
    out2 = ctx.run(ctx.on.update_status(), follower(app, shared, out1.stored_states))
    assert out2.unit_status == testing.BlockedStatus(
        "run 1: agent failed: preflight-agent: error: the coordinator refused the token (401)"
    )


def test_follower_without_the_secret_waits(fake_bin):
    app = {
        "run": "1",
        "coordinator": "https://10.0.0.1:7700",
        "secret-id": "secret:nope0000000000000000",
    }
    ctx = context(1)
    out = ctx.run(ctx.on.update_status(), follower(app, []))
    assert out.unit_status == testing.WaitingStatus("waiting for the token secret")


def test_run_action_on_a_non_leader_fails(fake_bin):
    ctx = context(1)
    with pytest.raises(testing.ActionFailed, match="juju run preflight/leader run"):
        ctx.run(ctx.on.action("run"), follower({}, []))


# ------------------------------------------------------------------------- report, validate


def report_state(out):
    """The leader after a run."""
    return testing.State(
        relations=out.relations,
        networks=nets(),
        planned_units=3,
        leader=True,
        config=CFG,
        secrets=out.secrets,
    )


@pytest.mark.parametrize("fmt", ["text", "junit", "html"])
def test_report_action_renders_the_latest_report(fake_bin, fmt):
    ctx, out = leader_run()
    wait_for(state_dir() / "run-1" / "report.json")
    ctx.run(ctx.on.action("report", params={"format": fmt}), report_state(out))
    res = ctx.action_results
    assert (res["run"], res["status"], res["report"]) == ("1", "pass", f"{fmt}: PASS\n")
    assert res["mode"].startswith("no provider (no maas-url)")
    assert Path(res["path"]).read_text() == res["report"]


def test_report_action_json_is_the_coordinators_file(fake_bin):
    ctx, out = leader_run()
    wait_for(state_dir() / "run-1" / "report.json")
    ctx.run(ctx.on.action("report", params={"format": "json"}), report_state(out))
    res = ctx.action_results
    assert res["path"] == str(state_dir() / "run-1" / "report.json")
    assert json.loads(res["report"])["schema"] == "preflight.report/v1"


def test_large_report_is_a_path_only(fake_bin, monkeypatch):
    monkeypatch.setenv("FAKE_BIG", "100000")
    ctx, out = leader_run()
    wait_for(state_dir() / "run-1" / "report.json")
    ctx.run(ctx.on.action("report", params={"format": "html"}), report_state(out))
    res = ctx.action_results
    assert "report" not in res
    assert len(Path(res["path"]).read_text()) > 100000


def test_report_action_errors(fake_bin):
    ctx = context(0)
    with pytest.raises(testing.ActionFailed, match="format must be one of text, json, junit, html"):
        ctx.run(ctx.on.action("report", params={"format": "pdf"}), testing.State(leader=True))
    with pytest.raises(testing.ActionFailed, match="the report is on the leader"):
        context(1).run(context(1).on.action("report"), follower({}, []))
    rel = testing.PeerRelation("mesh", id=1)
    with pytest.raises(testing.ActionFailed, match="run - has no report yet"):
        ctx.run(ctx.on.action("report"), testing.State(relations=[rel], leader=True))


def test_validate_needs_maas(fake_bin):
    ctx = context(0)
    with pytest.raises(testing.ActionFailed, match="validate needs MAAS"):
        ctx.run(ctx.on.action("validate", params={"bundle": "applications: {}"}), testing.State())


def test_validate_with_maas_passes_bundle_and_overlays(fake_bin):
    secret = user_secret({"api-key": KEY})
    ctx = context(0)
    st = testing.State(config={**MAAS, "maas-api-key-secret": secret.id}, secrets=[secret])
    params = {"bundle": "applications: {}\n", "overlays": "a: 1\n---\nb: 2\n"}
    ctx.run(ctx.on.action("validate", params=params), st)
    assert ctx.action_results["status"] == "pass"
    (argv,) = calls(fake_bin, "preflight", "validate")
    assert Path(argv[argv.index("--bundle") + 1]).read_text() == "applications: {}\n"
    overlays = [Path(argv[i + 1]).read_text() for i, a in enumerate(argv) if a == "--overlay"]
    assert overlays == ["a: 1", "b: 2\n"]
    assert "--maas-url" in argv


# ------------------------------------------------------------------------- pure functions


def test_snapshot_lists_silent_units_and_uses_configured_mtu():
    units = {
        "preflight/0": {"hostname": "n0", "bindings": json.loads(published(0)["bindings"])},
        "preflight/1": None,
    }
    snap = provider_snapshot(units, {"probe-0": "internal"}, {"probe-0": 1500})
    assert snap["spaces"] == [{"id": 1, "name": "internal"}]
    assert snap["subnets"][0]["vlan"]["mtu"] == 1500
    m0, m1 = snap["machines"]
    assert (m0["system_id"], m0["hostname"]) == ("preflight-0", "n0")
    (iface,) = m0["interface_set"]
    assert (iface["name"], iface["mac_address"], iface["effective_mtu"]) == (
        "eth1",
        "52:54:00:00:00:00",
        1500,
    )
    assert iface["links"] == [
        {"id": 1, "mode": "static", "ip_address": "10.0.0.1", "subnet": {"id": 1}}
    ]
    assert m1 == {
        "system_id": "preflight-1",
        "hostname": "preflight-1",
        "status_name": "Deployed",
        "interface_set": [],
    }


def test_snapshot_names_units_sharing_a_hostname_by_system_id():
    """Report machine names are hostnames: two units with one hostname must not merge."""
    units = {
        "preflight/0": {"hostname": "same", "bindings": json.loads(published(0)["bindings"])},
        "preflight/1": {"hostname": "same", "bindings": json.loads(published(1)["bindings"])},
        "preflight/2": {"hostname": "node-2", "bindings": {}},
    }
    snap = provider_snapshot(units, {"probe-0": "internal"}, {})
    assert [(m["system_id"], m["hostname"]) for m in snap["machines"]] == [
        ("preflight-0", "preflight-0"),
        ("preflight-1", "preflight-1"),
        ("preflight-2", "node-2"),
    ]


def test_labels_name_by_config_or_cidr_and_drop_duplicate_default_space_bindings():
    same = [{"address": "10.9.0.5", "cidr": "10.9.0.0/24", "interface": "eth0"}]
    units = {
        "preflight/0": {
            "bindings": {
                "probe-0": [{"address": "10.0.0.1", "cidr": "10.0.0.0/24", "interface": "eth1"}],
                "probe-1": same,
                "probe-2": same,
            }
        }
    }
    assert labels_for(units, {}, ["probe-0", "probe-1", "probe-2"]) == {
        "probe-0": "probe-0-10.0.0.0_24",
        "probe-1": "probe-1-10.9.0.0_24",
    }
    assert labels_for(units, {"probe-0": "api"}, ["probe-0"]) == {"probe-0": "api"}


def test_hostile_peer_bindings_are_ignored(fake_bin):
    rel = testing.PeerRelation(
        "mesh",
        id=1,
        peers_data={1: {"bindings": "{not json"}, 2: {"bindings": "x" * 20000}},
    )
    ctx = context(0)
    st = testing.State(relations=[rel], networks=nets(), planned_units=3, leader=True, config=CFG)
    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=1), st)
    assert out.app_status == testing.WaitingStatus("waiting for units' bindings (1/3)")


def test_config_error_is_an_exception_type():
    assert issubclass(ConfigError, Exception)


def test_systemd_supervision_writes_a_unit_and_uses_systemctl(fake_bin, tmp_path, monkeypatch):
    units = tmp_path / "units"
    units.mkdir()
    sbin = tmp_path / "sbin"
    sbin.mkdir()
    (sbin / "systemctl").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/systemctl.log\nexit 0\n')
    (sbin / "systemctl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{sbin}:{os.environ['PATH']}")
    monkeypatch.setenv("PREFLIGHT_SUPERVISOR", "systemd")
    monkeypatch.setenv("PREFLIGHT_SYSTEMD_UNIT_DIR", str(units))
    # The stand-in systemctl runs nothing: the fingerprint the check would write is here.
    (state_dir() / "run-1").mkdir(parents=True)
    (state_dir() / "run-1" / "fingerprint").write_text("SHA256:" + "cd" * 32 + "\n")
    _, out = leader_run()
    unit = (units / "preflight-coordinator.service").read_text()
    assert "Restart=on-failure" in unit
    (argv,) = exec_start(unit)
    assert argv[1:3] == ["check", "--provider"] and argv[argv.index("--expect") + 1] == "3"
    # An argument with spaces and an apostrophe stays one argument.
    assert argv[argv.index("--note") + 1] == NO_PROVIDER_GAPS
    (agent,) = exec_start((units / "preflight-agent.service").read_text())
    assert agent[1:4] == ["run", "--coordinator", "https://10.0.0.1:7700"]
    if shutil.which("systemd-analyze"):
        # systemd's own parser, where installed, on the written unit: no quoting errors.
        for name in ("preflight-coordinator.service", "preflight-agent.service"):
            v = subprocess.run(
                ["systemd-analyze", "verify", str(units / name)], capture_output=True, text=True
            )
            assert "quot" not in v.stderr.lower() and v.returncode == 0, v.stderr
    log = (tmp_path / "systemctl.log").read_text().splitlines()
    assert "daemon-reload" in log
    assert "restart preflight-coordinator.service" in log
    assert "restart preflight-agent.service" in log
    assert out.app_status == testing.MaintenanceStatus("run 1: waiting for 3 agents")


def exec_start(unit: str) -> list[list[str]]:
    """The argv of each ExecStart= line, unquoted as systemd does for what systemd_quote
    writes (double quotes with backslash escapes, %% and $$ doubled)."""
    lines = [ln[len("ExecStart=") :] for ln in unit.splitlines() if ln.startswith("ExecStart=")]
    return [shlex.split(ln.replace("%%", "%").replace("$$", "$")) for ln in lines]


@pytest.mark.parametrize(
    "arg", ["plain", "two words", "it's", 'say "hi"', "100% $HOME", "back\\slash", ""]
)
def test_systemd_quote_keeps_one_argument(arg):
    (argv,) = exec_start(f"ExecStart=/bin/x {systemd_quote(arg)} next\n")
    assert argv == ["/bin/x", arg, "next"]


def test_systemd_quote_refuses_line_breaks():
    for bad in ("a\nExecStartPre=/bin/evil", "a\rb", "a\0b"):
        with pytest.raises(ValueError):
            systemd_quote(bad)
