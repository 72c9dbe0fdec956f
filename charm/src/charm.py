#!/usr/bin/env python3
"""The preflight charm: glue between Juju and the preflight binaries.

Every unit publishes its addresses per bound endpoint (probe-0 … probe-7) and a summary of
`preflight-agent observe` in the peer relation `mesh`, builds a ProbePlan (preflight.plan/v1)
from its peers' addresses, runs `preflight-agent probe --plan`, and publishes compact
results (preflight.probe/v1). The leader assembles the report with
`preflight report --probes` (preflight.report/v1). All probing and judging happens in the
binaries; this file only moves JSON between Juju and them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
import logging
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ops

logger = logging.getLogger(__name__)

PEER = "mesh"
BINDINGS = tuple(f"probe-{i}" for i in range(8))
PLAN_SCHEMA = "preflight.plan/v1"
PROBE_SCHEMA = "preflight.probe/v1"
REPORT_SCHEMA = "preflight.report/v1"
# Relation data keys of each unit.
KEY_ADDRESSES = "addresses"
KEY_OBSERVED = "observed"
KEY_RESULTS = "results"
KEY_RESULTS_NOTE = "results-note"
# Largest addresses document accepted from a peer (8 bindings × a few addresses is < 4 KiB).
MAX_ADDRESSES_BYTES = 16384
# Timeout of the quick subprocess calls (observe, report), in seconds.
QUICK_TIMEOUT = 60


class BinaryError(Exception):
    """A preflight binary is missing, failed, timed out or printed something unusable."""


class BinaryMissing(BinaryError):
    """A preflight binary is not where the charm looks for it."""


class ConfigError(Exception):
    """A config option does not parse; the message names the option and the bad item."""


@dataclass
class PeerAddress:
    """One address of a unit on one binding."""

    address: str
    cidr: str = ""
    interface: str = ""

    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        """The address as an ipaddress object."""
        return ipaddress.ip_address(self.address)


@dataclass
class PeerInfo:
    """What one unit published, after validation."""

    unit: str
    addresses: dict[str, list[PeerAddress]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- config parsing


def parse_assignments(text: str, option: str) -> dict[str, str]:
    """Parses "probe-0=9000 probe-1=1500" into {binding: value}; names the bad item."""
    out: dict[str, str] = {}
    for item in text.replace(",", " ").split():
        name, sep, value = item.partition("=")
        if not sep or not value:
            raise ConfigError(f"{option}: '{item}' is not BINDING=VALUE")
        if name not in BINDINGS:
            raise ConfigError(f"{option}: '{name}' is not one of probe-0 … probe-7")
        out[name] = value
    return out


def parse_mtu(text: str) -> dict[str, int]:
    """MTU per binding from the `mtu` option; 0 turns the MTU probe off for that binding."""
    out: dict[str, int] = {}
    for name, value in parse_assignments(text, "mtu").items():
        try:
            mtu = int(value)
        except ValueError:
            raise ConfigError(f"mtu: '{name}={value}' is not a number") from None
        if mtu != 0 and not 68 <= mtu <= 65535:
            raise ConfigError(f"mtu: '{name}={value}' is outside 68–65535 (0 turns it off)")
        out[name] = mtu
    return out


def parse_tcp_ports(text: str) -> list[tuple[str | None, int]]:
    """TCP ports from `tcp-ports`: "22 probe-1:3306" → [(None, 22), ("probe-1", 3306)]."""
    out: list[tuple[str | None, int]] = []
    for item in text.replace(",", " ").split():
        binding, sep, port_s = item.rpartition(":")
        if sep and binding not in BINDINGS:
            raise ConfigError(f"tcp-ports: '{binding}' in '{item}' is not one of probe-0 … probe-7")
        try:
            port = int(port_s)
        except ValueError:
            raise ConfigError(f"tcp-ports: '{item}' is not a port") from None
        if not 1 <= port <= 65535:
            raise ConfigError(f"tcp-ports: '{item}' is outside 1–65535")
        out.append((binding or None, port))
    return out


def parse_isolate(text: str) -> list[tuple[str, str]]:
    """Isolated binding pairs from `isolate`: "probe-0:probe-2" → [("probe-0", "probe-2")]."""
    out: list[tuple[str, str]] = []
    for item in text.replace(",", " ").split():
        a, sep, b = item.partition(":")
        if not sep or a not in BINDINGS or b not in BINDINGS or a == b:
            raise ConfigError(f"isolate: '{item}' is not two different bindings 'probe-N:probe-M'")
        out.append((a, b))
    return out


def parse_bindings(text: str) -> list[str]:
    """Bindings to probe from `bindings` (default: all)."""
    names = text.replace(",", " ").split()
    for name in names:
        if name not in BINDINGS:
            raise ConfigError(f"bindings: '{name}' is not one of probe-0 … probe-7")
    return names or list(BINDINGS)


# --------------------------------------------------------------------------- peer data


def parse_peer_addresses(unit: str, raw: str | None) -> PeerInfo:
    """Validates a unit's published `addresses` JSON; bad parts become problems, never raise."""
    info = PeerInfo(unit=unit)
    if not raw:
        return info
    if len(raw) > MAX_ADDRESSES_BYTES:
        info.problems.append(
            f"{unit}: addresses data is {len(raw)} bytes, over {MAX_ADDRESSES_BYTES}"
        )
        return info
    try:
        doc = json.loads(raw)
    except ValueError as e:
        info.problems.append(f"{unit}: addresses data is not JSON ({e})")
        return info
    if not isinstance(doc, dict):
        info.problems.append(f"{unit}: addresses data is not a JSON object")
        return info
    for binding, entries in doc.items():
        if binding not in BINDINGS:
            continue  # a newer charm's binding: ignore
        if not isinstance(entries, list):
            info.problems.append(f"{unit}: addresses.{binding} is not a list")
            continue
        good: list[PeerAddress] = []
        for i, entry in enumerate(entries):
            where = f"{unit}: addresses.{binding}[{i}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("address"), str):
                info.problems.append(f"{where} has no address string")
                continue
            try:
                ipaddress.ip_address(entry["address"])
            except ValueError:
                info.problems.append(f"{where}: '{entry['address'][:64]}' is not an IP address")
                continue
            cidr = entry.get("cidr") or ""
            if not isinstance(cidr, str):
                cidr = ""
            iface = entry.get("interface") or ""
            good.append(
                PeerAddress(entry["address"], cidr, iface if isinstance(iface, str) else "")
            )
        if good:
            info.addresses[binding] = good
    return info


def compact_results(report: dict[str, Any], limit: int) -> tuple[str, str]:
    """Shrinks a ProbeReport to at most `limit` bytes of JSON for the relation.

    Drops sockets and null/empty fields; when still too big keeps failed targets first and as
    many others as fit. Returns (json, note) where note is "" or says what was cut.
    """

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if v is not None and v != []}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    targets = [strip(t) for t in report.get("targets", []) if isinstance(t, dict)]
    base = {
        "schema": report.get("schema", PROBE_SCHEMA),
        "agent": report.get("agent"),
        "started_at": report.get("started_at", ""),
        "duration_ms": report.get("duration_ms", 0),
    }
    base = {k: v for k, v in base.items() if v is not None}

    def dump(ts: list[dict[str, Any]]) -> str:
        return json.dumps({**base, "targets": ts}, separators=(",", ":"), sort_keys=True)

    text = dump(targets)
    if len(text) <= limit:
        return text, ""
    # Failures first (they carry the verdict), then the rest, as many as fit.
    ordered = sorted(targets, key=lambda t: t.get("received", 0) >= t.get("sent", 0) > 0)
    kept: list[dict[str, Any]] = []
    size = len(dump([]))
    for t in ordered:
        cost = len(json.dumps(t, separators=(",", ":"), sort_keys=True)) + 1
        if size + cost > limit:
            continue
        kept.append(t)
        size += cost
    note = f"results cut to {len(kept)}/{len(targets)} targets (over {limit} bytes)"
    return dump(kept), note


# --------------------------------------------------------------------------- the charm


class PreflightCharm(ops.CharmBase):
    """Runs preflight-agent per unit and preflight report on the leader."""

    _stored = ops.StoredState()

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self._stored.set_default(plan_digest="", runs=0)
        on = self.on
        for event in (
            on.install,
            on.upgrade_charm,
            on.config_changed,
            on.leader_elected,
            on[PEER].relation_created,
            on[PEER].relation_joined,
            on[PEER].relation_changed,
            on[PEER].relation_departed,
        ):
            framework.observe(event, self._reconcile)
        framework.observe(on.update_status, self._reconcile)
        framework.observe(on.run_action, self._on_run_action)
        framework.observe(on.report_action, self._on_report_action)

    # ----------------------------------------------------------------- binaries

    def bin_dir(self) -> Path:
        """Where the binaries are: config bin-dir, else $PREFLIGHT_BIN_DIR, else charm bin/."""
        configured = str(self.config.get("bin-dir") or "")
        if configured:
            return Path(configured)
        env = os.environ.get("PREFLIGHT_BIN_DIR")
        if env:
            return Path(env)
        return self.charm_dir / "bin"

    def _exec(
        self, binary: str, args: list[str], timeout: float, ok_codes: tuple[int, ...]
    ) -> subprocess.CompletedProcess[str]:
        path = self.bin_dir() / binary
        if not os.access(path, os.X_OK):
            raise BinaryMissing(f"{binary} not found at {path}")
        try:
            proc = subprocess.run(
                [str(path), *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BinaryError(f"{binary} {args[0]} timed out after {timeout:.0f}s") from None
        except OSError as e:
            raise BinaryMissing(f"{binary} could not run: {e}") from None
        if proc.returncode not in ok_codes:
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1][:200]
            raise BinaryError(f"{binary} {args[0]} exited {proc.returncode}: {last}")
        return proc

    def _exec_json(
        self, binary: str, args: list[str], timeout: float, ok_codes: tuple[int, ...], schema: str
    ) -> tuple[int, dict[str, Any]]:
        proc = self._exec(binary, args, timeout, ok_codes)
        try:
            doc = json.loads(proc.stdout)
        except ValueError as e:
            raise BinaryError(f"{binary} {args[0]} printed no JSON ({e})") from None
        if not isinstance(doc, dict) or doc.get("schema") != schema:
            raise BinaryError(f"{binary} {args[0]} printed no {schema} document")
        return proc.returncode, doc

    def observe_summary(self) -> dict[str, Any]:
        """A compact summary of `preflight-agent observe`: hostname and links with MTU/state."""
        _, doc = self._exec_json(
            "preflight-agent",
            ["observe", "--format", "json"],
            QUICK_TIMEOUT,
            (0,),
            "preflight.observed/v1",
        )
        identity = doc.get("identity") if isinstance(doc.get("identity"), dict) else {}
        links: dict[str, Any] = {}
        for link in doc.get("links") or []:
            if isinstance(link, dict) and isinstance(link.get("name"), str):
                links[link["name"]] = {
                    "mtu": link.get("mtu"),
                    "up": link.get("admin_up"),
                    "state": link.get("oper_state"),
                }
        version = identity.get("agent_version")
        if isinstance(version, str) and version:
            self.unit.set_workload_version(version[:64])
        return {"hostname": identity.get("hostname"), "links": links}

    # ----------------------------------------------------------------- own addresses

    def own_addresses(self) -> dict[str, list[PeerAddress]]:
        """Addresses per binding from network-get; unbound or failing bindings are left out."""
        out: dict[str, list[PeerAddress]] = {}
        for name in BINDINGS:
            try:
                binding = self.model.get_binding(name)
                network = binding.network if binding else None
            except (ops.ModelError, ValueError, KeyError) as e:
                logger.warning("network-get %s failed: %s", name, e)
                continue
            if network is None:
                continue
            addrs: list[PeerAddress] = []
            for iface in network.interfaces:
                addr = iface.address
                if addr is None or isinstance(addr, str):
                    continue  # empty value or not an IP (ops keeps hostnames as str)
                subnet = iface.subnet
                # ops turns an empty cidr into the address's /32 (/128): that is no CIDR.
                cidr = ""
                if subnet is not None and subnet.prefixlen < subnet.max_prefixlen:
                    cidr = str(subnet)
                entry = PeerAddress(str(addr), cidr, iface.name or "")
                if entry not in addrs:
                    addrs.append(entry)
            if addrs:
                out[name] = addrs
        return out

    # ----------------------------------------------------------------- planning

    def space_label(self, binding: str, addrs: list[PeerAddress]) -> str:
        """The report's space name: the configured one, else binding and CIDR."""
        spaces = parse_assignments(str(self.config.get("spaces", "")), "spaces")
        if binding in spaces:
            return spaces[binding]
        cidrs = sorted({a.cidr for a in addrs if a.cidr})
        return " ".join([binding, *cidrs])

    def build_plans(
        self,
        me: str,
        mine: dict[str, list[PeerAddress]],
        observed: dict[str, Any] | None,
        peers: list[PeerInfo],
    ) -> dict[str, dict[str, Any]]:
        """One ProbePlan per probed binding: {binding: plan}. Raises ConfigError."""
        cfg = self.config
        mtus = parse_mtu(str(cfg.get("mtu", "")))
        ports = parse_tcp_ports(str(cfg.get("tcp-ports", "")))
        isolate = parse_isolate(str(cfg.get("isolate", "")))
        wanted = parse_bindings(str(cfg.get("bindings", "")))
        settings = {
            "count": int(cfg.get("count", 3)),
            "interval_ms": int(cfg.get("interval-ms", 100)),
            "timeout_ms": int(cfg.get("timeout-ms", 1000)),
            "retries": int(cfg.get("retries", 1)),
            "rate": None,
        }
        for key in ("count", "interval_ms", "timeout_ms"):
            if settings[key] < 1:
                raise ConfigError(
                    f"{key.replace('_', '-')}: must be at least 1, not {settings[key]}"
                )
        if settings["retries"] < 0:
            raise ConfigError(f"retries: must be 0 or more, not {settings['retries']}")
        links = (observed or {}).get("links") or {}

        def mtu_for(binding: str, source: PeerAddress) -> int | None:
            if binding in mtus:
                return mtus[binding] or None
            link = links.get(source.interface) if source.interface else None
            mtu = link.get("mtu") if isinstance(link, dict) else None
            return mtu if isinstance(mtu, int) and 68 <= mtu <= 65535 else None

        def source_for(own: list[PeerAddress], target: PeerAddress) -> PeerAddress | None:
            same_family = [a for a in own if a.ip().version == target.ip().version]
            same_cidr = [a for a in same_family if a.cidr and a.cidr == target.cidr]
            return (same_cidr or same_family or [None])[0]

        # Unbound extra-bindings all sit in the default space with the same addresses:
        # probe each distinct address set once.
        seen: set[tuple[str, ...]] = set()
        plans: dict[str, dict[str, Any]] = {}
        for binding in wanted:
            own = mine.get(binding)
            if not own:
                continue
            key = tuple(sorted(a.address for a in own))
            if key in seen:
                continue
            seen.add(key)
            label = self.space_label(binding, own)
            own_set = {a.address for addrs in mine.values() for a in addrs}
            targets: list[dict[str, Any]] = []
            for peer in peers:
                for kind, target_binding, expect in [("", binding, "reachable")] + [
                    ("isolate:", b if a == binding else a, "isolated")
                    for a, b in isolate
                    if binding in (a, b)
                ]:
                    for tgt in peer.addresses.get(target_binding, []):
                        if tgt.address in own_set:
                            continue  # a peer claiming our own address: nothing to prove
                        src = source_for(own, tgt)
                        if src is None:
                            continue
                        reachable = expect == "reachable"
                        targets.append(
                            {
                                "id": f"{kind}{binding}:{me}>{peer.unit}:{tgt.address}",
                                "space": label if reachable else f"{label} !{target_binding}",
                                "source": src.address,
                                "target": tgt.address,
                                "device": None,
                                "mtu": mtu_for(binding, src) if reachable else None,
                                "tcp_ports": sorted({p for b, p in ports if b in (None, binding)})
                                if reachable
                                else [],
                                "target_machine": peer.unit,
                                "expect": expect,
                            }
                        )
            if targets:
                plans[binding] = {
                    "schema": PLAN_SCHEMA,
                    "agent": me,
                    "settings": settings,
                    "targets": targets,
                }
        return plans

    # ----------------------------------------------------------------- peers

    def peer_relation(self) -> ops.Relation | None:
        """The mesh relation, once Juju has created it."""
        return self.model.get_relation(PEER)

    def peers(self, rel: ops.Relation) -> list[PeerInfo]:
        """Every other unit's validated addresses, sorted by unit name."""
        out = []
        for unit in sorted(rel.units, key=lambda u: u.name):
            if unit == self.unit:
                continue
            out.append(parse_peer_addresses(unit.name, rel.data[unit].get(KEY_ADDRESSES)))
        return out

    # ----------------------------------------------------------------- the flow

    def _reconcile(self, event: ops.EventBase) -> None:
        self.reconcile(force=False)

    def reconcile(self, force: bool) -> dict[str, Any] | None:
        """Publishes, plans, probes when the plan changed (or force), reports on the leader.

        Returns the merged ProbeReport of a probe run, or None when nothing ran.
        """
        unit = self.unit
        try:
            mine = self.own_addresses()
        except ops.ModelError as e:
            unit.status = ops.BlockedStatus(f"network-get failed: {e}")
            return None
        observed: dict[str, Any] | None = None
        observe_error = ""
        try:
            observed = self.observe_summary()
        except BinaryMissing as e:
            unit.status = ops.BlockedStatus(str(e))
            return None
        except BinaryError as e:
            observe_error = str(e)
            logger.warning("observe failed: %s", e)

        rel = self.peer_relation()
        if rel is None:
            unit.status = ops.WaitingStatus("waiting for the mesh peer relation")
            return None
        databag = rel.data[unit]
        databag[KEY_ADDRESSES] = json.dumps(
            {b: [dataclasses.asdict(a) for a in addrs] for b, addrs in mine.items()},
            separators=(",", ":"),
            sort_keys=True,
        )
        databag[KEY_OBSERVED] = json.dumps(
            observed if observed is not None else {"error": observe_error},
            separators=(",", ":"),
            sort_keys=True,
        )
        if not mine:
            unit.status = ops.BlockedStatus("no address on any probe-N binding")
            return None

        peers = self.peers(rel)
        problems = [p for peer in peers for p in peer.problems]
        for p in problems:
            logger.warning("peer data: %s", p)
        expected = max(self.app.planned_units() - 1, len(peers))
        try:
            plans = self.build_plans(unit.name, mine, observed, peers)
        except ConfigError as e:
            unit.status = ops.BlockedStatus(f"bad config: {e}")
            return None
        if not plans:
            databag[KEY_RESULTS] = ""  # no peers to probe: earlier results are stale
            databag[KEY_RESULTS_NOTE] = ""
            self._stored.plan_digest = ""
            msg = f"waiting for peers ({sum(1 for p in peers if p.addresses)}/{expected})"
            if problems:
                msg += f"; {len(problems)} bad peer data: {problems[0]}"
            unit.status = ops.WaitingStatus(msg)
            self._leader_status(rel)
            return None

        digest = hashlib.sha256(json.dumps(plans, sort_keys=True).encode()).hexdigest()
        merged: dict[str, Any] | None = None
        if force or digest != self._stored.plan_digest:
            try:
                merged = self.run_probes(plans, peers, expected)
            except BinaryMissing as e:
                unit.status = ops.BlockedStatus(str(e))
                return None
            except BinaryError as e:
                unit.status = ops.BlockedStatus(f"probe failed: {e}")
                return None
            limit = int(self.config.get("max-relation-bytes", 65536))
            text, note = compact_results(merged, limit)
            databag[KEY_RESULTS] = text
            databag[KEY_RESULTS_NOTE] = note
            self._stored.plan_digest = digest
            self._stored.runs += 1
            unit.status = self._outcome_status(merged, len(peers), expected, note, problems)
        self._leader_status(rel)
        return merged

    def run_probes(
        self, plans: dict[str, dict[str, Any]], peers: list[PeerInfo], expected: int
    ) -> dict[str, Any]:
        """Runs one `preflight-agent probe` per binding; returns the merged ProbeReport."""
        timeout = float(self.config.get("run-timeout", 300))
        merged: dict[str, Any] = {
            "schema": PROBE_SCHEMA,
            "agent": self.unit.name,
            "started_at": "",
            "duration_ms": 0,
            "targets": [],
        }
        for binding, plan in plans.items():
            probed = {t["target_machine"] for t in plan["targets"]}
            self.unit.status = ops.MaintenanceStatus(
                f"probing {len(probed)}/{expected} peers on {binding}"
            )
            with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="plan-") as f:
                json.dump(plan, f)
                f.flush()
                _, report = self._exec_json(
                    "preflight-agent",
                    ["probe", "--plan", f.name, "--format", "json"],
                    timeout,
                    (0, 1),
                    PROBE_SCHEMA,
                )
            if not isinstance(report.get("targets"), list):
                raise BinaryError(f"preflight-agent probe printed no targets for {binding}")
            merged["started_at"] = merged["started_at"] or report.get("started_at", "")
            duration = report.get("duration_ms")
            merged["duration_ms"] += duration if isinstance(duration, int) else 0
            merged["targets"].extend(report["targets"])
        return merged

    @staticmethod
    def _outcome_status(
        report: dict[str, Any], peers: int, expected: int, note: str, problems: list[str]
    ) -> ops.StatusBase:
        targets = report["targets"]
        bad = [
            t
            for t in targets
            if (t.get("expect") == "isolated") == (t.get("received", 0) > 0)
            or (t.get("mtu") or {}).get("verdict") not in (None, "ok")
        ]
        msg = f"{len(targets) - len(bad)}/{len(targets)} probes ok to {peers}/{expected} peers"
        extra = [x for x in (note, problems[0] if problems else "") if x]
        if extra:
            msg += "; " + "; ".join(extra)
        return ops.BlockedStatus(f"FAIL {msg}") if bad else ops.ActiveStatus(msg)

    # ----------------------------------------------------------------- leader

    def collect_results(self, rel: ops.Relation) -> tuple[dict[str, str], list[str]]:
        """Every unit's published results ({unit: json}) and what was refused, with why."""
        limit = int(self.config.get("max-relation-bytes", 65536))
        results: dict[str, str] = {}
        refused: list[str] = []
        units = sorted([self.unit, *[u for u in rel.units if u != self.unit]], key=lambda u: u.name)
        for u in units:
            raw = rel.data[u].get(KEY_RESULTS)
            if not raw:
                continue
            if len(raw) > limit:
                refused.append(f"{u.name}: results are {len(raw)} bytes, over {limit}")
                continue
            try:
                doc = json.loads(raw)
            except ValueError as e:
                refused.append(f"{u.name}: results are not JSON ({e})")
                continue
            if not isinstance(doc, dict) or doc.get("schema") != PROBE_SCHEMA:
                refused.append(f"{u.name}: results are not a {PROBE_SCHEMA} document")
                continue
            results[u.name] = raw
        return results, refused

    def run_report(self, rel: ops.Relation, fmt: str) -> tuple[int, str, list[str], int]:
        """`preflight report --probes …`: (exit code, output, refused, units reported)."""
        results, refused = self.collect_results(rel)
        if not results:
            raise BinaryError("no unit has published results yet")
        with tempfile.TemporaryDirectory(prefix="preflight-report-") as tmp:
            files = []
            for unit, raw in results.items():
                path = Path(tmp) / (unit.replace("/", "-") + ".json")
                path.write_text(raw)
                files.append(str(path))
            proc = self._exec(
                "preflight", ["report", "--probes", *files, "--format", fmt], QUICK_TIMEOUT, (0, 1)
            )
        return proc.returncode, proc.stdout, refused, len(results)

    def _leader_status(self, rel: ops.Relation) -> None:
        if not self.unit.is_leader():
            return
        try:
            code, out, refused, n = self.run_report(rel, "json")
            doc = json.loads(out)
            summary = doc["summary"]
            msg = (
                f"report: {summary['status']} ({summary['errors']} errors, "
                f"{summary['warnings']} warnings) from {n}/{len(rel.units) + 1} units"
            )
            if refused:
                msg += f"; refused {refused[0]}"
            self.app.status = ops.ActiveStatus(msg) if code == 0 else ops.BlockedStatus(msg)
        except (BinaryError, ValueError, KeyError, TypeError) as e:
            self.app.status = ops.WaitingStatus(f"report: {e}")

    # ----------------------------------------------------------------- actions

    def _on_run_action(self, event: ops.ActionEvent) -> None:
        merged = self.reconcile(force=True)
        if merged is None:
            event.fail(f"no probe ran: {self.unit.status.message}")
            return
        targets = merged["targets"]
        event.set_results(
            {
                "status": self.unit.status.name,
                "message": self.unit.status.message,
                "probes": len(targets),
                "answered": sum(1 for t in targets if t.get("received", 0) > 0),
                "results": json.dumps(merged, sort_keys=True),
            }
        )

    def _on_report_action(self, event: ops.ActionEvent) -> None:
        fmt = event.params.get("format", "text")
        if fmt not in ("text", "json"):
            event.fail(f"format must be text or json, not {fmt!r}")
            return
        if not self.unit.is_leader():
            event.fail("the report is assembled on the leader: juju run preflight/leader report")
            return
        rel = self.peer_relation()
        if rel is None:
            event.fail("no mesh peer relation yet")
            return
        try:
            code, out, refused, n = self.run_report(rel, fmt)
        except BinaryError as e:
            event.fail(str(e))
            return
        results: dict[str, Any] = {
            "status": "pass" if code == 0 else "fail",
            "units": n,
            "report": out,
        }
        if refused:
            results["refused"] = "\n".join(refused)
        event.set_results(results)


if __name__ == "__main__":  # pragma: nocover
    ops.main(PreflightCharm)
