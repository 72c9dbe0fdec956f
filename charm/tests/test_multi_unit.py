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

from charm import (
    AGENT,
    COORDINATOR,
    NO_PROVIDER_GAPS,
    Supervisor,
    provider_snapshot,
    system_id,
)

UNITS = (0, 1, 2)
PREFIX = f"pf{os.getpid()}"
SUBNET = 231


def mesh_pairs(doc):
    """Probed pairs of the spaces' meshes (the plan also holds each machine's neighbour and
    gateway probes, which are not pairs)."""
    return sum(len(sp["pairs"]) for sp in doc["spaces"])


def ip(*args: str, ns: str | None = None) -> None:
    """Runs `ip` (inside `ns` when given); raises on failure."""
    cmd = ["ip", *args] if ns is None else ["ip", "netns", "exec", ns, "ip", *args]
    subprocess.run(cmd, check=True, capture_output=True)


def addr(u: int) -> str:
    """Unit u's address."""
    return f"10.{SUBNET}.{os.getpid() % 250}.{u + 1}"


def hostname(u: int) -> str:
    """Unit u's machine's hostname (the wrappers set it in their own UTS namespace)."""
    return f"node-{u}"


def cidr() -> str:
    """The units' subnet."""
    return f"10.{SUBNET}.{os.getpid() % 250}.0/24"


@pytest.fixture
def lab(tmp_path):
    """The namespaces, the bridge and one wrapper bin-dir per unit; yields {u: bin_dir}."""
    # Fail, never skip: CI runs these as root after `cargo build --bins`.
    assert os.geteuid() == 0, "the multi-unit tests need root (network namespaces)"
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
                # Its own UTS namespace too: each unit's machine has its own hostname.
                w.write_text(
                    "#!/bin/sh\nexec unshare --uts sh -c "
                    f"'hostname {hostname(u)} && exec ip netns exec {ns} {real / b} \"$@\"' "
                    'sh "$@"\n'
                )
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


def ns(u: int) -> str:
    """Unit u's namespace."""
    return f"{PREFIX}-u{u}"


def stop_all(state_root: Path) -> None:
    """Stops every coordinator and agent the charm started."""
    for u in UNITS:
        for name in (COORDINATOR, AGENT):
            Supervisor(name, state_root / system_id(f"preflight/{u}")).stop()


def charm_run(
    lab,
    monkeypatch,
    state_root,
    config,
    agents=UNITS,
    published_by=UNITS,
    before_lead=None,
    leader_secrets=(),
):
    """Drives the charm of the three units through one run; returns (leader dir, app data,
    leader secrets, published unit data)."""
    monkeypatch.setenv("PREFLIGHT_STATE_DIR", str(state_root))
    monkeypatch.setenv("PREFLIGHT_SUPERVISOR", "process")
    # Phase 1: every unit publishes its bindings (observe runs in its namespace).
    published = {u: {} for u in UNITS}
    for u in published_by:
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
    if before_lead is not None:
        before_lead(published)
    # Phase 2: the leader starts the coordinator (and its own agent); `run` when not all
    # units published (the action starts a run regardless).
    rel = testing.PeerRelation(
        "mesh", id=3, local_unit_data=published[0], peers_data={o: published[o] for o in (1, 2)}
    )
    if set(published_by) == set(UNITS):
        event = lambda c, r: c.on.relation_changed(r, remote_unit=1)  # noqa: E731
    else:
        event = lambda c, r: c.on.action("run")  # noqa: E731
    lead = run_unit(
        0,
        lab,
        monkeypatch,
        state_root,
        event,
        rel,
        config=config,
        leader=True,
        secrets=list(leader_secrets),
    )
    app_data = dict(lead.get_relation(3).local_app_data)
    secret = next(s for s in lead.secrets if s.owner == "app")
    # Phase 3: the other units read the secret and start their agents.
    for u in agents:
        if u == 0:
            continue
        rel = testing.PeerRelation(
            "mesh",
            id=3,
            local_app_data=app_data,
            local_unit_data=published[u],
            peers_data={o: published[o] for o in UNITS if o != u},
        )
        shared = testing.Secret(tracked_content=secret.tracked_content, id=secret.id, owner="app")
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
    return state_root / system_id("preflight/0"), app_data, list(lead.secrets), published


def leader_state(app_data, published, config, secrets) -> testing.State:
    """Unit 0 as leader after the run."""
    rel = testing.PeerRelation(
        "mesh",
        id=3,
        local_app_data=app_data,
        local_unit_data=published[0],
        peers_data={o: published[o] for o in (1, 2)},
    )
    return testing.State(
        relations=[rel],
        networks=networks(0),
        planned_units=3,
        config=config,
        leader=True,
        secrets=secrets,
    )


def test_three_units_in_namespaces_pass_with_real_coordinator(lab, tmp_path, monkeypatch):
    state_root = tmp_path / "state"
    config = {"bindings": "probe-0", "spaces": "probe-0=internal", "count": 2, "timeout-ms": 300}
    try:
        leader_dir, app_data, secrets, published = charm_run(lab, monkeypatch, state_root, config)
        for u in UNITS:
            b = json.loads(published[u]["bindings"])
            assert b["probe-0"][0]["address"] == addr(u)
            assert b["probe-0"][0]["mtu"] == 1500 and b["probe-0"][0]["mac"]
        assert app_data["run"] == "1"
        secret = next(s for s in secrets if s.owner == "app")
        # TLS: the agents pinned the fingerprint the leader put in the secret.
        assert app_data["coordinator"] == f"https://{addr(0)}:7700"
        fp = (leader_dir / "run-1" / "fingerprint").read_text().strip()
        assert fp.startswith("SHA256:")
        assert secret.latest_content["fingerprint"] == fp
        assert app_data["secret-id"] == secret.id
        token = secret.tracked_content["token"]
        assert len(token) >= 32
        assert (leader_dir / "token").stat().st_mode & 0o777 == 0o600
        snap = json.loads((leader_dir / "provider.json").read_text())
        assert [s["name"] for s in snap["spaces"]] == ["internal"]
        assert sorted(m["system_id"] for m in snap["machines"]) == [
            "preflight-0",
            "preflight-1",
            "preflight-2",
        ]
        report = leader_dir / "run-1" / "report.json"
        wait_for(report, 90)
        doc = json.loads(report.read_text())
        assert doc["summary"]["status"] == "pass", doc["findings"]
        s = doc["summary"]
        assert (s["agents_expected"], s["agents_reported"]) == (3, 3)
        assert s["probes_planned"] == s["probes_done"]
        assert mesh_pairs(doc) == 6
        progress = json.loads((leader_dir / "run-1" / "progress.json").read_text())
        assert progress["stage"] == "reporting"
        assert (progress["probes_done"], progress["agents_reported"]) == (
            s["probes_planned"],
            3,
        )
        # The report itself says what the no-provider mode did not check.
        assert NO_PROVIDER_GAPS in doc["inputs"], doc["inputs"]
        # The token never reaches a log.
        for u in UNITS:
            for log in (state_root / system_id(f"preflight/{u}")).glob("*.log"):
                assert token not in log.read_text()
        # The leader's status and report action.
        st = leader_state(app_data, published, config, secrets)
        monkeypatch.setenv("PREFLIGHT_BIN_DIR", str(lab[0]))
        ctx = context(0)
        out = ctx.run(ctx.on.update_status(), st)
        assert out.app_status == testing.ActiveStatus("run 1: PASS")
        ctx.run(ctx.on.action("report", params={"format": "html"}), st)
        res = ctx.action_results
        assert res["status"] == "pass"
        assert Path(res["path"]).read_text().lstrip().lower().startswith("<!doctype html")
        assert res["report"] == Path(res["path"]).read_text()  # small enough to return
        ctx.run(ctx.on.action("report", params={"format": "junit"}), st)
        assert "<testsuite" in Path(ctx.action_results["path"]).read_text()
        ctx.run(ctx.on.action("report", params={"format": "text"}), st)
        assert "internal" in ctx.action_results["report"]
        assert "drift against MAAS's intent" in ctx.action_results["report"]
    finally:
        stop_all(state_root)


def findings_and_causes(doc: dict) -> tuple[set, set]:
    """What two runs on the same network must agree on: (code, subject) and causes."""
    findings = {(f["code"], json.dumps(f.get("subject"), sort_keys=True)) for f in doc["findings"]}
    causes = {json.dumps(c, sort_keys=True) for c in (doc.get("diagnosis") or {}).get("causes", [])}
    return findings, causes


def test_mtu_fault_gives_the_same_report_as_preflight_check(lab, tmp_path, monkeypatch):
    """Unit 2's eth1 is at MTU 1400 on a 1500 VLAN: the charm path and a hand-run
    `preflight check` on the same namespaces give the same findings and causes."""
    ip("link", "set", "eth1", "mtu", "1400", ns=ns(2))
    state_root = tmp_path / "state"
    config = {
        "bindings": "probe-0",
        "spaces": "probe-0=internal",
        "mtu": "probe-0=1500",
        "count": 2,
        "timeout-ms": 300,
    }
    try:
        leader_dir, app_data, secrets, published = charm_run(lab, monkeypatch, state_root, config)
        report = leader_dir / "run-1" / "report.json"
        wait_for(report, 90)
        charm_doc = json.loads(report.read_text())
        st = leader_state(app_data, published, config, secrets)
        monkeypatch.setenv("PREFLIGHT_BIN_DIR", str(lab[0]))
        ctx = context(0)
        out = ctx.run(ctx.on.update_status(), st)
        assert out.app_status.name == "blocked"
        assert out.app_status.message == "run 1: FAIL: 6 errors, 1 causes"
    finally:
        stop_all(state_root)
    assert charm_doc["summary"]["status"] == "fail"
    # The fault is pinned on the right machine and link: unit 2's node-2, eth1.
    node2 = {"machine": hostname(2), "interface": "eth1"}
    causes = charm_doc["diagnosis"]["causes"]
    assert [(c["code"], c["subject"]) for c in causes] == [("cause.nic", node2)], causes
    findings = {
        (f["code"], json.dumps(f["subject"], sort_keys=True)) for f in charm_doc["findings"]
    }
    assert ("drift.mtu-mismatch", json.dumps(node2, sort_keys=True)) in findings
    blackholes = [f for f in charm_doc["findings"] if f["code"] == "probe.mtu-blackhole"]
    assert len(blackholes) == 4  # every pair to or from node-2, both ways
    assert all(hostname(2) in (f["subject"]["source"], f["subject"]["target"]) for f in blackholes)

    # The same check by hand: same provider snapshot, same namespaces, agents started directly.
    real = real_bin_dir()
    tok = tmp_path / "direct-token"
    tok.write_text("direct-token-0123456789abcdef0123456789\n")
    direct = tmp_path / "direct.json"
    coord = subprocess.Popen(
        ["ip", "netns", "exec", ns(0), str(real / "preflight"), "check"]
        + ["--provider", str(leader_dir / "provider.json"), "--listen", f"{addr(0)}:7701"]
        + ["--token-file", str(tok), "--expect", "3", "--count", "2", "--timeout-ms", "300"]
        + ["--format", "json", "-o", str(direct), "--quiet"]
        + ["--tls", "--fingerprint-file", str(tmp_path / "direct.fp")],
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(tmp_path / "direct.fp", 30)
        agents = [
            subprocess.Popen(
                ["ip", "netns", "exec", ns(u), str(real / "preflight-agent"), "run"]
                + ["--coordinator", f"https://{addr(0)}:7701", "--token-file", str(tok)]
                + ["--fingerprint-file", str(tmp_path / "direct.fp")]
                + ["--machine-id", f"preflight-{u}"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for u in UNITS
        ]
        assert coord.wait(timeout=90) == 1, coord.stderr.read() if coord.stderr else ""
        for a in agents:
            a.wait(timeout=30)
    finally:
        if coord.poll() is None:
            coord.kill()
    direct_doc = json.loads(direct.read_text())
    assert findings_and_causes(charm_doc) == findings_and_causes(direct_doc)


@pytest.mark.parametrize("published", [True, False], ids=["agent-never-ran", "never-published"])
def test_unit_that_never_reports_is_agent_missing_by_name(lab, tmp_path, monkeypatch, published):
    """planned_units is 3 but preflight/2's agent never runs (and, in the second case, the
    unit never even published its bindings): the finding names its machine and unit."""
    state_root = tmp_path / "state"
    config = {
        "bindings": "probe-0",
        "spaces": "probe-0=internal",
        "count": 1,
        "timeout-ms": 300,
        "deadline": 3,
    }
    try:
        leader_dir, *_ = charm_run(
            lab,
            monkeypatch,
            state_root,
            config,
            agents=(0, 1),
            published_by=UNITS if published else (0, 1),
        )
        snap = json.loads((leader_dir / "provider.json").read_text())
        (m2,) = [m for m in snap["machines"] if m["system_id"] == "preflight-2"]
        # Its machine's hostname when the unit published it, else the unit's own name.
        name = hostname(2) if published else "preflight-2"
        assert m2["hostname"] == name
        assert bool(m2["interface_set"]) == published
        report = leader_dir / "run-1" / "report.json"
        wait_for(report, 60)
        doc = json.loads(report.read_text())
    finally:
        stop_all(state_root)
    assert doc["summary"]["status"] == "fail"
    assert (doc["summary"]["agents_expected"], doc["summary"]["agents_reported"]) == (3, 2)
    missing_findings = [f for f in doc["findings"] if f["code"] == "agent.missing"]
    assert len(missing_findings) == 1, doc["findings"]
    assert missing_findings[0]["subject"]["machine"] == name
    # The unit is named too once it published the machine it runs on (--unit-label).
    unit = ", unit preflight/2" if published else ""
    assert f"MAAS machine {name} (preflight-2{unit})" in missing_findings[0]["message"]


KEY = "consumerAAAA:tokenBBBB:secretCCCC"


@pytest.fixture
def maas(lab, tmp_path):
    """`preflight maas serve` in unit 0's namespace, serving a snapshot the test writes."""
    procs = []

    def start(published, status="Deployed"):
        units = {}
        for u in UNITS:
            units[f"preflight/{u}"] = {
                "hostname": f"node-{u}",  # MAAS's names; the agents match by MAC
                "bindings": json.loads(published[u]["bindings"]),
            }
        snap = provider_snapshot(units, {"probe-0": "internal-api"}, {"probe-0": 1500})
        for m in snap["machines"]:
            m["system_id"] = "abc" + m["system_id"][-1]
            m["status_name"] = status
        (tmp_path / "maas.json").write_text(json.dumps(snap))
        (tmp_path / "maas.key").write_text(KEY + "\n")
        ready = tmp_path / "maas.ready"
        procs.append(
            subprocess.Popen(
                ["ip", "netns", "exec", ns(0), str(real_bin_dir() / "preflight"), "maas"]
                + ["serve", str(tmp_path / "maas.json"), "--listen", f"{addr(0)}:5240"]
                + ["--api-key-file", str(tmp_path / "maas.key"), "--ready-file", str(ready)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_for(ready, 30)

    yield start
    for p in procs:
        p.kill()
        p.wait()


def test_maas_mode_merges_with_maas_served_by_the_real_stand_in(lab, maas, tmp_path, monkeypatch):
    state_root = tmp_path / "state"
    secret = testing.Secret(tracked_content={"api-key": KEY}, owner=None)
    config = {
        "bindings": "probe-0",
        "maas-url": f"http://{addr(0)}:5240/MAAS",
        "maas-api-key-secret": secret.id,
        "count": 2,
        "timeout-ms": 300,
    }
    try:
        leader_dir, *_ = charm_run(
            lab, monkeypatch, state_root, config, before_lead=maas, leader_secrets=[secret]
        )
        assert not (leader_dir / "provider.json").exists()
        report = leader_dir / "run-1" / "report.json"
        wait_for(report, 90)
        doc = json.loads(report.read_text())
        logs = [p.read_text() for p in state_root.glob("*/*.log")]
    finally:
        stop_all(state_root)
    assert doc["summary"]["status"] == "pass", doc["findings"]
    assert [s["name"] for s in doc["spaces"]] == ["internal-api"]
    assert doc["inputs"][0] == f"maas: http://{addr(0)}:5240/MAAS", doc["inputs"]
    assert NO_PROVIDER_GAPS not in doc["inputs"]
    assert doc["summary"]["probes_done"] == doc["summary"]["probes_planned"]
    assert mesh_pairs(doc) == 6
    assert (leader_dir / "maas-api-key").stat().st_mode & 0o777 == 0o600
    assert all(KEY not in log for log in logs)


def test_maas_mode_judges_the_link_mtu_against_maas_vlan_mtu(lab, maas, tmp_path, monkeypatch):
    """MAAS says the VLAN's MTU is 1500; unit 2's eth1 is at 1400: with MAAS data the charm
    path gives the drift and the cause on MAAS's machine name (node-2)."""
    ip("link", "set", "eth1", "mtu", "1400", ns=ns(2))
    state_root = tmp_path / "state"
    secret = testing.Secret(tracked_content={"api-key": KEY}, owner=None)
    config = {
        "bindings": "probe-0",
        "maas-url": f"http://{addr(0)}:5240/MAAS",
        "maas-api-key-secret": secret.id,
        "count": 2,
        "timeout-ms": 300,
    }
    try:
        leader_dir, *_ = charm_run(
            lab, monkeypatch, state_root, config, before_lead=maas, leader_secrets=[secret]
        )
        doc = report_of(state_root, 0, 1)
    finally:
        stop_all(state_root)
    node2 = {"machine": "node-2", "interface": "eth1"}
    assert doc["summary"]["status"] == "fail"
    drift = [f for f in doc["findings"] if f["code"] == "drift.mtu-mismatch"]
    assert [f["subject"] for f in drift] == [node2], doc["findings"]
    assert "MTU 1500" in drift[0]["message"]
    causes = doc["diagnosis"]["causes"]
    assert [(c["code"], c["subject"]) for c in causes] == [("cause.nic", node2)], causes


def test_a_wrong_maas_key_stops_the_coordinator_with_a_clear_status(
    lab, maas, tmp_path, monkeypatch
):
    state_root = tmp_path / "state"
    wrong = "consumerXXXX:tokenYYYY:secretZZZZ"
    secret = testing.Secret(tracked_content={"api-key": wrong}, owner=None)
    config = {
        "bindings": "probe-0",
        "maas-url": f"http://{addr(0)}:5240/MAAS",
        "maas-api-key-secret": secret.id,
    }
    try:
        leader_dir, app_data, secrets, published = charm_run(
            lab,
            monkeypatch,
            state_root,
            config,
            before_lead=maas,
            leader_secrets=[secret],
            agents=(0,),
        )
        coord = Supervisor(COORDINATOR, leader_dir)
        end = time.monotonic() + 30
        while coord.running():
            assert time.monotonic() < end, "the coordinator kept running with a wrong key"
            time.sleep(0.2)
        st = leader_state(app_data, published, config, secrets)
        monkeypatch.setenv("PREFLIGHT_BIN_DIR", str(lab[0]))
        ctx = context(0)
        out = ctx.run(ctx.on.update_status(), st)
        log = (leader_dir / "coordinator.log").read_text()
    finally:
        stop_all(state_root)
    assert out.app_status.name == "blocked"
    assert out.app_status.message.startswith("run 1: coordinator stopped without a report: ")
    assert "rejected the API key (401 Unauthorized)" in out.app_status.message, log
    assert wrong not in log and wrong not in out.app_status.message


# ------------------------------------------------------------------ runs that change under way


def hook(
    lab, monkeypatch, u, event, *, app_data, published, config, leader, secrets, peers, planned
):
    """One hook of unit u: its peers' published data, the app data, the app secret(s).
    Returns (context, output state)."""
    rel = testing.PeerRelation(
        "mesh",
        id=3,
        local_app_data=dict(app_data),
        local_unit_data=dict(published.get(u) or {}),
        peers_data={o: dict(published.get(o) or {}) for o in peers if o != u},
    )
    monkeypatch.setenv("PREFLIGHT_BIN_DIR", str(lab[u]))
    ctx = context(u)
    st = testing.State(
        relations=[rel],
        networks=networks(u),
        planned_units=planned,
        config=config,
        leader=leader,
        secrets=list(secrets),
    )
    return ctx, ctx.run(event(ctx, rel), st)


def app_secret(out: testing.State) -> testing.Secret:
    """The app's token secret as the next hook sees it (the latest revision tracked)."""
    s = next(s for s in out.secrets if s.owner == "app")
    return testing.Secret(tracked_content=s.latest_content, id=s.id, owner="app")


def changed(remote):
    """relation-changed from unit `remote`."""
    return lambda c, r: c.on.relation_changed(r, remote_unit=remote)


def publish(lab, monkeypatch, u, peers, planned, config) -> dict:
    """Unit u joins the relation and publishes its bindings; returns its unit data."""
    _, out = hook(
        lab,
        monkeypatch,
        u,
        lambda c, r: c.on.relation_created(r),
        app_data={},
        published={},
        config=config,
        leader=False,
        secrets=(),
        peers=peers,
        planned=planned,
    )
    return dict(out.get_relation(3).local_unit_data)


def report_of(state_root: Path, u: int, run: int, seconds: float = 90) -> dict:
    """Unit u's coordinator's report of the run, once written."""
    path = state_root / f"preflight-{u}" / f"run-{run}" / "report.json"
    wait_for(path, seconds)
    return json.loads(path.read_text())


def test_leader_change_mid_run_moves_the_run_to_the_new_leader(lab, tmp_path, monkeypatch):
    """Unit 0 leads run 1 and only its own agent has registered when leadership moves to unit
    1: unit 1 serves run 2 on its address, unit 0 stops its coordinator and, like unit 2,
    follows run 2; run 2 passes with all three agents."""
    state_root = tmp_path / "state"
    monkeypatch.setenv("PREFLIGHT_STATE_DIR", str(state_root))
    monkeypatch.setenv("PREFLIGHT_SUPERVISOR", "process")
    config = {"bindings": "probe-0", "spaces": "probe-0=internal", "count": 2, "timeout-ms": 300}
    kw = {"config": config, "peers": UNITS, "planned": 3}
    try:
        published = {u: publish(lab, monkeypatch, u, UNITS, 3, config) for u in UNITS}
        _, out = hook(
            lab, monkeypatch, 0, changed(1), app_data={}, published=published,
            leader=True, secrets=(), **kw,
        )  # fmt: skip
        app = dict(out.get_relation(3).local_app_data)
        assert (app["run"], app["coordinator-unit"]) == ("1", "preflight/0")
        dir0 = state_root / "preflight-0"
        old = Supervisor(COORDINATOR, dir0)
        assert old.running()
        # The real coordinator's progress reaches the app status: unit 0's agent came.
        end = time.monotonic() + 30
        while True:
            _, st = hook(
                lab, monkeypatch, 0, lambda c, r: c.on.update_status(), app_data=app,
                published=published, leader=True, secrets=[app_secret(out)], **kw,
            )  # fmt: skip
            if st.app_status.message == "run 1: 1/3 agents registered":
                break
            assert time.monotonic() < end, st.app_status
            time.sleep(0.3)
        # Leadership moves to unit 1 before units 1 and 2 ran their agents.
        _, out = hook(
            lab, monkeypatch, 1, lambda c, r: c.on.leader_elected(), app_data=app,
            published=published, leader=True, secrets=[app_secret(out)], **kw,
        )  # fmt: skip
        app = dict(out.get_relation(3).local_app_data)
        assert app["run"] == "2" and app["coordinator-unit"] == "preflight/1"
        assert app["coordinator"] == f"https://{addr(1)}:7700"
        secret = app_secret(out)
        fp = (state_root / "preflight-1" / "run-2" / "fingerprint").read_text().strip()
        assert secret.tracked_content["fingerprint"] == fp
        assert out.unit_status == testing.MaintenanceStatus("run 2: agent started")
        # The old leader stops its coordinator and follows run 2, as does unit 2.
        for u in (0, 2):
            _, o = hook(
                lab, monkeypatch, u, changed(1), app_data=app, published=published,
                leader=False, secrets=[secret], **kw,
            )  # fmt: skip
            assert o.unit_status == testing.MaintenanceStatus("run 2: agent started")
        assert not old.running()
        doc = report_of(state_root, 1, 2)
    finally:
        stop_all(state_root)
    assert doc["summary"]["status"] == "pass", doc["findings"]
    assert (doc["summary"]["agents_expected"], doc["summary"]["agents_reported"]) == (3, 3)
    assert doc["summary"]["probes_done"] == doc["summary"]["probes_planned"]
    assert mesh_pairs(doc) == 6
    assert not (dir0 / "run-1" / "report.json").exists()  # run 1 was abandoned, not finished


def test_a_unit_joining_after_planning_gets_a_new_run_with_it(lab, tmp_path, monkeypatch):
    """Run 1 is planned for two units; preflight/2 joins once the plan is out (planned units
    3): run 1 ends with the two, and the leader's next hook starts run 2 with --expect 3,
    which covers the newcomer."""
    state_root = tmp_path / "state"
    monkeypatch.setenv("PREFLIGHT_STATE_DIR", str(state_root))
    monkeypatch.setenv("PREFLIGHT_SUPERVISOR", "process")
    config = {"bindings": "probe-0", "spaces": "probe-0=internal", "count": 2, "timeout-ms": 300}
    two = (0, 1)
    try:
        published = {u: publish(lab, monkeypatch, u, two, 2, config) for u in two}
        kw = {"config": config, "published": published}
        _, out = hook(
            lab, monkeypatch, 0, changed(1), app_data={}, leader=True, secrets=(),
            peers=two, planned=2, **kw,
        )  # fmt: skip
        app = dict(out.get_relation(3).local_app_data)
        assert (app["run"], app["expect"]) == ("1", "2")
        secret = app_secret(out)
        hook(
            lab, monkeypatch, 1, changed(0), app_data=app, leader=False, secrets=[secret],
            peers=two, planned=2, **kw,
        )  # fmt: skip
        wait_for(state_root / "preflight-0" / "run-1" / "state" / "plan.json", 30)
        # preflight/2 arrives after planning.
        published[2] = publish(lab, monkeypatch, 2, UNITS, 3, config)
        run1 = report_of(state_root, 0, 1)
        _, out = hook(
            lab, monkeypatch, 0, changed(2), app_data=app, leader=True, secrets=[secret],
            peers=UNITS, planned=3, **kw,
        )  # fmt: skip
        app = dict(out.get_relation(3).local_app_data)
        assert (app["run"], app["expect"]) == ("2", "3")
        secret = app_secret(out)
        for u in (1, 2):
            _, o = hook(
                lab, monkeypatch, u, changed(0), app_data=app, leader=False,
                secrets=[secret], peers=UNITS, planned=3, **kw,
            )  # fmt: skip
            assert o.unit_status == testing.MaintenanceStatus("run 2: agent started")
        run2 = report_of(state_root, 0, 2)
    finally:
        stop_all(state_root)
    assert run1["summary"]["status"] == "pass", run1["findings"]
    assert (run1["summary"]["agents_expected"], mesh_pairs(run1)) == (2, 2)
    assert [s["machines"] for s in run1["spaces"]] == [[hostname(0), hostname(1)]]
    assert run2["summary"]["status"] == "pass", run2["findings"]
    assert (run2["summary"]["agents_expected"], run2["summary"]["agents_reported"]) == (3, 3)
    assert mesh_pairs(run2) == 6
    assert [s["machines"] for s in run2["spaces"]] == [[hostname(u) for u in UNITS]]


def test_a_missing_maas_secret_blocks_and_starts_nothing(lab, tmp_path, monkeypatch):
    """maas-url is set but the key secret was never granted: the leader is blocked saying
    so, no coordinator runs, and the other units wait for one."""
    state_root = tmp_path / "state"
    monkeypatch.setenv("PREFLIGHT_STATE_DIR", str(state_root))
    monkeypatch.setenv("PREFLIGHT_SUPERVISOR", "process")
    ungranted = testing.Secret(tracked_content={"api-key": KEY}, owner=None)
    config = {
        "bindings": "probe-0",
        "maas-url": f"http://{addr(0)}:5240/MAAS",
        "maas-api-key-secret": ungranted.id,
    }
    kw = {"config": config, "peers": UNITS, "planned": 3}
    try:
        published = {u: publish(lab, monkeypatch, u, UNITS, 3, config) for u in UNITS}
        _, out = hook(
            lab, monkeypatch, 0, changed(1), app_data={}, published=published,
            leader=True, secrets=(), **kw,
        )  # fmt: skip
        app = dict(out.get_relation(3).local_app_data)
        _, follower = hook(
            lab, monkeypatch, 1, changed(0), app_data=app, published=published,
            leader=False, secrets=(), **kw,
        )  # fmt: skip
        running = [
            (u, name)
            for u in UNITS
            for name in (COORDINATOR, AGENT)
            if Supervisor(name, state_root / f"preflight-{u}").running()
        ]
    finally:
        stop_all(state_root)
    assert out.app_status.name == "blocked"
    assert out.app_status.message.startswith(f"maas-api-key-secret {ungranted.id} cannot be read")
    assert "juju grant-secret" in out.app_status.message
    assert out.unit_status == out.app_status
    assert "run" not in app and running == []
    assert not (state_root / "preflight-0" / "maas-api-key").exists()
    assert follower.unit_status == testing.WaitingStatus("waiting for the leader's coordinator")


def test_a_restarted_agent_is_still_the_agent_that_registered(lab, tmp_path, monkeypatch):
    """Unit 1's agent registers and is restarted (a later hook, or systemd) before unit 2
    comes: it keeps its key (--agent-key-file), so the coordinator takes it back and the run
    passes with 3/3 (with a new key it would be refused as a second agent of preflight-1)."""
    state_root = tmp_path / "state"
    config = {"bindings": "probe-0", "spaces": "probe-0=internal", "count": 2, "timeout-ms": 300}
    kw = {"config": config, "peers": UNITS, "planned": 3, "leader": False}
    try:
        leader_dir, app_data, secrets, published = charm_run(
            lab, monkeypatch, state_root, config, agents=(0, 1)
        )
        progress = leader_dir / "run-1" / "progress.json"
        end = time.monotonic() + 30
        while '"agents_registered":2' not in (progress.read_text() if progress.exists() else ""):
            assert time.monotonic() < end, "two agents did not register"
            time.sleep(0.2)
        first = Supervisor(AGENT, state_root / "preflight-1").pid()
        shared = testing.Secret(
            tracked_content=secrets[0].latest_content, id=secrets[0].id, owner="app"
        )
        for u in (1, 2):  # unit 1 again (a fresh hook restarts its agent), then unit 2
            _, out = hook(
                lab, monkeypatch, u, changed(0), app_data=app_data, published=published,
                secrets=[shared], **kw,
            )  # fmt: skip
            assert out.unit_status == testing.MaintenanceStatus("run 1: agent started")
        assert Supervisor(AGENT, state_root / "preflight-1").pid() not in (None, first)
        doc = report_of(state_root, 0, 1)
    finally:
        stop_all(state_root)
    assert doc["summary"]["status"] == "pass", doc["findings"]
    assert (doc["summary"]["agents_expected"], doc["summary"]["agents_reported"]) == (3, 3)


BUNDLE = """\
applications:
  app:
    charm: ubuntu
    num_units: 3
    bindings:
      "": internal-api
"""
OVERLAY = """\
applications:
  app:
    bindings:
      "": storage-data
"""


def test_validate_action_checks_a_bundle_against_maas(lab, maas, tmp_path, monkeypatch):
    """`validate` on the leader runs the real `preflight validate` against MAAS (the
    stand-in, three Ready machines): the bundle as written passes; with an overlay binding to
    a space MAAS does not have, it fails with binding.unknown-space."""
    state_root = tmp_path / "state"
    monkeypatch.setenv("PREFLIGHT_STATE_DIR", str(state_root))
    secret = testing.Secret(tracked_content={"api-key": KEY}, owner=None)
    config = {
        "bindings": "probe-0",
        "maas-url": f"http://{addr(0)}:5240/MAAS",
        "maas-api-key-secret": secret.id,
    }
    published = {u: publish(lab, monkeypatch, u, UNITS, 3, config) for u in UNITS}
    # A bundle about to be deployed gets MAAS's Ready machines (validate counts only those).
    maas(published, status="Ready")
    results = []
    for overlays in ("", OVERLAY):
        ctx, _ = hook(
            lab, monkeypatch, 0,
            lambda c, r, o=overlays: c.on.action(
                "validate", params={"bundle": BUNDLE, "overlays": o}
            ),
            app_data={}, published=published, config=config, leader=True,
            secrets=[secret], peers=UNITS, planned=3,
        )  # fmt: skip
        results.append(dict(ctx.action_results or {}))
    plain, overlaid = results
    assert (plain["status"], plain["errors"]) == ("pass", 0), plain
    assert (overlaid["status"], overlaid["errors"]) == ("fail", 1), overlaid
    assert overlaid["codes"] == "binding.unknown-space"
    doc = json.loads(Path(overlaid["path"]).read_text())
    (f,) = [f for f in doc["findings"] if f["severity"] == "error"]
    assert "storage-data" in f["message"]
    assert "storage-data" in overlaid["report"]  # the text report, small enough to return
