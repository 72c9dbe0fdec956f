#!/usr/bin/env python3
"""The preflight charm: glue between Juju and the preflight binaries.

One pipeline, the same as without Juju: the leader runs `preflight check` (the coordinator) as
a supervised background service listening on its `mesh` binding address; every unit runs
`preflight-agent run --coordinator …` against it. The bearer token (and, when the binary
serves TLS, the certificate fingerprint) reach the units through a Juju secret whose id sits
in the peer relation's application data. Planning, probing, judging and the report are the
binaries' work; this file only moves configuration, secrets and status between Juju and them.

With `maas-url` and `maas-api-key-secret` the check merges with MAAS. Without them the leader
writes a provider snapshot from what the units published about their bindings ("no provider"
mode: spaces named by the `spaces` option or by binding and CIDR; see README.md).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import ops

logger = logging.getLogger(__name__)

PEER = "mesh"
BINDINGS = tuple(f"probe-{i}" for i in range(8))
REPORT_SCHEMA = "preflight.report/v1"
# Unit data keys.
KEY_BINDINGS = "bindings"
KEY_HOSTNAME = "hostname"
KEY_MACHINE = "machine"
# Application data keys (leader writes).
KEY_SECRET = "secret-id"
KEY_COORDINATOR = "coordinator"
KEY_RUN = "run"
KEY_LEADER = "coordinator-unit"
KEY_SECRET_STAMP = "secret-updated"
KEY_EXPECT = "expect"
# Largest bindings document accepted from a peer.
MAX_BINDINGS_BYTES = 16384
QUICK_TIMEOUT = 60
# Seconds the leader waits, right after starting a TLS coordinator, for its fingerprint.
FINGERPRINT_WAIT = 15
COORDINATOR = "coordinator"
AGENT = "agent"
REPORT_FORMATS = ("text", "json", "junit", "html")
# What the no-provider mode cannot check: a `--note` in the report's inputs, and in the report
# action's results.
NO_PROVIDER_GAPS = (
    "no provider (no maas-url): the snapshot is built from the units' own bindings, so drift "
    "against MAAS's intent (beyond an MTU below the VLAN's), VLAN ids, gateways, DNS, machine "
    "status and bundle validation were not checked"
)
# The counts of `preflight check --progress-file`.
PROGRESS_COUNTS = (
    "agents_registered",
    "agents_expected",
    "agents_planned",
    "agents_reported",
    "probes_planned",
    "probes_done",
)
# Action results above this many bytes go to a file on the unit instead.
MAX_ACTION_BYTES = 16000


class BinaryError(Exception):
    """A preflight binary is missing, failed, timed out or printed something unusable."""


class ConfigError(Exception):
    """A config option does not parse, or a secret is missing; the message names which."""


# --------------------------------------------------------------------------- config parsing


def parse_assignments(text: str, option: str) -> dict[str, str]:
    """Parses "probe-0=internal-api probe-1=storage" into {binding: value}; names the bad item."""
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
    """VLAN MTU per binding for the no-provider snapshot ("probe-0=9000")."""
    out: dict[str, int] = {}
    for name, value in parse_assignments(text, "mtu").items():
        try:
            mtu = int(value)
        except ValueError:
            raise ConfigError(f"mtu: '{name}={value}' is not a number") from None
        if not 68 <= mtu <= 65535:
            raise ConfigError(f"mtu: '{name}={value}' is outside 68–65535")
        out[name] = mtu
    return out


def parse_pairs(text: str, option: str) -> list[tuple[str, str]]:
    """Space pairs "a:b c:d" (for --isolate)."""
    out = []
    for item in text.replace(",", " ").split():
        a, sep, b = item.partition(":")
        if not sep or not a or not b or a == b:
            raise ConfigError(f"{option}: '{item}' is not two different names 'A:B'")
        out.append((a, b))
    return out


def parse_bindings(text: str) -> list[str]:
    """Bindings to check from `bindings` (default: all)."""
    names = text.replace(",", " ").split()
    for name in names:
        if name not in BINDINGS:
            raise ConfigError(f"bindings: '{name}' is not one of probe-0 … probe-7")
    return names or list(BINDINGS)


def system_id(unit_name: str) -> str:
    """A unit's machine id in no-provider mode: preflight/2 → preflight-2."""
    return unit_name.replace("/", "-")


# --------------------------------------------------------------------------- no-provider snapshot


def provider_snapshot(
    units: dict[str, dict[str, Any] | None],
    labels: dict[str, str],
    mtus: dict[str, int],
) -> dict[str, Any]:
    """The provider snapshot `preflight check --provider` reads, from the units' bindings.

    `units` maps a unit name to what it published ({"hostname", "bindings": {binding: [{address,
    cidr, interface, mac, mtu}]}}) or None when it published nothing yet (it is still listed,
    without interfaces, so a unit that never reports is `agent.missing` by name). `labels`
    names the space of each binding. A binding's VLAN MTU is `mtus[binding]`, else the largest
    MTU a unit observed on that binding's interface. Only the fields the snapshot reader needs.
    """
    spaces: dict[str, int] = {}
    subnets: dict[str, dict[str, Any]] = {}
    vlan_mtu: dict[str, int] = {}
    for doc in units.values():
        for binding, addrs in ((doc or {}).get("bindings") or {}).items():
            label = labels.get(binding)
            if not label:
                continue
            for a in addrs:
                if not a.get("cidr"):
                    continue
                spaces.setdefault(label, len(spaces) + 1)
                mtu = mtus.get(binding) or a.get("mtu") or 1500
                if binding in mtus:
                    vlan_mtu[label] = mtu
                else:
                    vlan_mtu[label] = max(vlan_mtu.get(label, 0), int(mtu))
                subnets.setdefault(a["cidr"], {"cidr": a["cidr"], "space": label})

    def vlan(label: str) -> dict[str, Any]:
        i = spaces[label]
        return {
            "id": 5000 + i,
            "vid": 0,
            "name": "untagged",
            "mtu": vlan_mtu.get(label, 1500),
            "fabric_id": i,
            "fabric": f"fabric-{label}",
            "space": label,
        }

    subnet_docs = []
    subnet_ids: dict[str, int] = {}
    for n, (cidr, s) in enumerate(sorted(subnets.items()), start=1):
        subnet_ids[cidr] = n
        subnet_docs.append(
            {"id": n, "name": cidr, "cidr": cidr, "vlan": vlan(s["space"]), "space": s["space"]}
        )
    machines = []
    link_id = 0
    # Machine names in the report are MAAS hostnames: a hostname two units share (or none)
    # would merge machines, so those units are named by their system_id instead.
    names = [(doc or {}).get("hostname") for doc in units.values()]
    for unit, doc in sorted(units.items()):
        doc = doc or {}
        name = doc.get("hostname") or ""
        if not name or names.count(name) > 1:
            name = system_id(unit)
        interfaces: dict[str, dict[str, Any]] = {}
        for binding, addrs in sorted((doc.get("bindings") or {}).items()):
            label = labels.get(binding)
            for a in addrs:
                if not label or not a.get("cidr") or not a.get("interface"):
                    continue
                iface = interfaces.setdefault(
                    a["interface"],
                    {
                        "id": len(interfaces) + 1,
                        "name": a["interface"],
                        "type": "physical",
                        "mac_address": a.get("mac") or None,
                        "enabled": True,
                        "vlan": vlan(label),
                        "effective_mtu": vlan_mtu.get(label, 1500),
                        "links": [],
                    },
                )
                if any(link.get("ip_address") == a["address"] for link in iface["links"]):
                    continue
                link_id += 1
                iface["links"].append(
                    {
                        "id": link_id,
                        "mode": "static",
                        "ip_address": a["address"],
                        "subnet": {"id": subnet_ids[a["cidr"]]},
                    }
                )
        machines.append(
            {
                "system_id": system_id(unit),
                "hostname": name,
                "status_name": "Deployed",
                "interface_set": list(interfaces.values()),
            }
        )
    return {
        "spaces": [{"id": i, "name": name} for name, i in spaces.items()],
        "fabrics": [{"id": i, "name": f"fabric-{name}"} for name, i in spaces.items()],
        "subnets": subnet_docs,
        "machines": machines,
    }


def labels_for(
    units: dict[str, dict[str, Any] | None], named: dict[str, str], wanted: list[str]
) -> dict[str, str]:
    """Space name per binding: `named`, else "binding-<first cidr>".

    Unbound extra-bindings all resolve to the same default-space addresses: a binding whose
    addresses (on every unit) are those of an earlier one is left out unless it is named.
    """
    out: dict[str, str] = {}
    seen: set[tuple[str, ...]] = set()
    for b in wanted:
        addrs = [
            (u, a)
            for u, doc in units.items()
            for a in ((doc or {}).get("bindings") or {}).get(b, [])
        ]
        key = tuple(sorted(f"{u}={a.get('address')}" for u, a in addrs))
        duplicate = key in seen
        seen.add(key)
        if b in named:
            out[b] = named[b]
            continue
        cidrs = sorted({a["cidr"] for _, a in addrs if a.get("cidr")})
        if cidrs and not duplicate:
            out[b] = f"{b}-{cidrs[0].replace('/', '_')}"
    return out


# --------------------------------------------------------------------------- supervision


def systemd_quote(arg: str) -> str:
    """One argument for a unit file's ExecStart=/Environment=: double-quoted, with `\\` and `"`
    escaped and systemd's specifiers (`%`) and variables (`$`) doubled, so an argument with
    spaces or quotes (the no-provider --note says "MAAS's") stays one argument."""
    if any(c in arg for c in "\n\r\0"):
        raise ValueError("a unit file argument cannot hold a line break or NUL")
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("%", "%%").replace("$", "$$") + '"'


class Supervisor:
    """Runs one long-lived binary in the background and answers whether it still runs.

    With systemd (and not `PREFLIGHT_SUPERVISOR=process`) it writes a unit file
    `preflight-<name>.service` and starts it with systemctl (restart on failure; the
    coordinator resumes from its --state-dir). Otherwise it starts a detached process (own
    session) and keeps its pid in `<state>/<name>.pid`; its output goes to `<state>/<name>.log`.
    """

    def __init__(self, name: str, state: Path):
        self.name = name
        self.state = state
        self.pid_file = state / f"{name}.pid"
        self.log_file = state / f"{name}.log"

    @staticmethod
    def systemd() -> bool:
        """Whether the programs run as systemd services here (PREFLIGHT_SUPERVISOR=process|
        systemd overrides the detection)."""
        forced = os.environ.get("PREFLIGHT_SUPERVISOR")
        if forced in ("process", "systemd"):
            return forced == "systemd"
        return Path("/run/systemd/system").is_dir()

    @staticmethod
    def unit_dir() -> Path:
        """Where unit files go: $PREFLIGHT_SYSTEMD_UNIT_DIR (tests), else /etc/systemd/system."""
        return Path(os.environ.get("PREFLIGHT_SYSTEMD_UNIT_DIR") or "/etc/systemd/system")

    @property
    def service(self) -> str:
        """The systemd unit name."""
        return f"preflight-{self.name}.service"

    def start(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        """(Re)starts the program; an earlier instance is stopped first."""
        self.stop()
        self.state.mkdir(parents=True, exist_ok=True)
        if self.systemd():
            envs = "".join(
                f"Environment={systemd_quote(f'{k}={v}')}\n" for k, v in (env or {}).items()
            )
            unit = (
                f"[Unit]\nDescription=preflight {self.name} (Juju charm)\nAfter=network.target\n\n"
                f"[Service]\nType=simple\nExecStart={' '.join(map(systemd_quote, argv))}\n{envs}"
                "Restart=on-failure\nRestartSec=5\n"
                f"StandardOutput=append:{self.log_file}\nStandardError=append:{self.log_file}\n"
            )
            (self.unit_dir() / self.service).write_text(unit)
            subprocess.run(["systemctl", "daemon-reload"], check=True, timeout=QUICK_TIMEOUT)
            subprocess.run(
                ["systemctl", "restart", self.service], check=True, timeout=QUICK_TIMEOUT
            )
            return
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                env={**os.environ, **(env or {})},
            )
        self.pid_file.write_text(f"{proc.pid}\n")

    def pid(self) -> int | None:
        """The running process's pid, or None (reaps a finished child of this process)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                return None
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def running(self) -> bool:
        """Whether the program runs now."""
        if self.systemd():
            proc = subprocess.run(
                ["systemctl", "is-active", "--quiet", self.service], timeout=QUICK_TIMEOUT
            )
            return proc.returncode == 0
        return self.pid() is not None

    def stop(self) -> None:
        """Stops the program if it runs."""
        if self.systemd():
            if (self.unit_dir() / self.service).exists():
                subprocess.run(["systemctl", "stop", self.service], timeout=QUICK_TIMEOUT)
            return
        pid = self.pid()
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        self.pid_file.unlink(missing_ok=True)

    def last_line(self) -> str:
        """The program's last line of output (for status messages)."""
        try:
            lines = self.log_file.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1][:240] if lines else ""


# --------------------------------------------------------------------------- the charm


class PreflightCharm(ops.CharmBase):
    """Runs `preflight check` on the leader and `preflight-agent run` on every unit."""

    _stored = ops.StoredState()

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self._stored.set_default(agent_run="")
        on = self.on
        for event in (
            on.install,
            on.upgrade_charm,
            on.config_changed,
            on.leader_elected,
            on.update_status,
            on.secret_changed,
            on[PEER].relation_created,
            on[PEER].relation_joined,
            on[PEER].relation_changed,
            on[PEER].relation_departed,
        ):
            framework.observe(event, self._reconcile)
        framework.observe(on.run_action, self._on_run_action)
        framework.observe(on.report_action, self._on_report_action)
        framework.observe(on.validate_action, self._on_validate_action)

    # ----------------------------------------------------------------- paths and binaries

    def bin_dir(self) -> Path:
        """Where the binaries are: config bin-dir, else $PREFLIGHT_BIN_DIR, else charm bin/."""
        configured = str(self.config.get("bin-dir") or "")
        if configured:
            return Path(configured)
        env = os.environ.get("PREFLIGHT_BIN_DIR")
        if env:
            return Path(env)
        return self.charm_dir / "bin"

    def state_dir(self) -> Path:
        """Where this unit keeps tokens, pid files, logs and reports."""
        configured = str(self.config.get("state-dir") or "")
        base = Path(configured or os.environ.get("PREFLIGHT_STATE_DIR") or "/var/lib/preflight")
        return base / system_id(self.unit.name)

    def binary(self, name: str) -> str:
        """The path of a binary; BinaryError when it is not executable."""
        path = self.bin_dir() / name
        if not os.access(path, os.X_OK):
            raise BinaryError(f"{name} not found at {path}")
        return str(path)

    def _exec(self, name: str, args: list[str], ok: tuple[int, ...] = (0,)) -> str:
        try:
            proc = subprocess.run(
                [self.binary(name), *args],
                capture_output=True,
                text=True,
                timeout=QUICK_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BinaryError(f"{name} {args[0]} timed out") from None
        except OSError as e:
            raise BinaryError(f"{name} could not run: {e}") from None
        if proc.returncode not in ok:
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1][:200]
            raise BinaryError(f"{name} {args[0]} exited {proc.returncode}: {last}")
        return proc.stdout

    def write_private(self, path: Path, text: str) -> None:
        """Writes a secret file readable by root only (0600 from creation)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)

    # ----------------------------------------------------------------- what a unit publishes

    def observed_links(self) -> dict[str, dict[str, Any]]:
        """{link: {mac, mtu}} from `preflight-agent observe` (run where the agent runs)."""
        out = self._exec("preflight-agent", ["observe", "--format", "json"])
        try:
            doc = json.loads(out)
        except ValueError as e:
            raise BinaryError(f"preflight-agent observe printed no JSON ({e})") from None
        links = {}
        for link in doc.get("links") or []:
            if isinstance(link, dict) and isinstance(link.get("name"), str):
                links[link["name"]] = {"mac": link.get("mac") or "", "mtu": link.get("mtu")}
        identity = doc.get("identity") if isinstance(doc.get("identity"), dict) else {}
        self._hostname = str(identity.get("hostname") or "")
        return links

    def own_bindings(self, links: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        """Addresses per bound probe-N endpoint (network-get), with the interface's MAC and MTU."""
        out: dict[str, list[dict[str, Any]]] = {}
        for name in BINDINGS:
            try:
                binding = self.model.get_binding(name)
                network = binding.network if binding else None
            except (ops.ModelError, ValueError, KeyError) as e:
                logger.warning("network-get %s failed: %s", name, e)
                continue
            if network is None:
                continue
            addrs = []
            for iface in network.interfaces:
                addr = iface.address
                if addr is None or isinstance(addr, str):
                    continue
                subnet = iface.subnet
                cidr = ""
                if subnet is not None and subnet.prefixlen < subnet.max_prefixlen:
                    cidr = str(subnet)
                link = links.get(iface.name or "", {})
                entry = {
                    "address": str(addr),
                    "cidr": cidr,
                    "interface": iface.name or "",
                    "mac": link.get("mac") or "",
                    "mtu": link.get("mtu") if isinstance(link.get("mtu"), int) else None,
                }
                if entry not in addrs:
                    addrs.append(entry)
            if addrs:
                out[name] = addrs
        return out

    def mesh_address(self) -> str | None:
        """The leader's address on the `mesh` binding (where the coordinator listens)."""
        binding = self.model.get_binding(PEER)
        network = binding.network if binding else None
        addr = network.bind_address if network else None
        return str(addr) if addr is not None else None

    # ----------------------------------------------------------------- config to check flags

    def labels(self, units: dict[str, dict[str, Any] | None]) -> dict[str, str]:
        """Space name per binding, from the `spaces` and `bindings` options."""
        named = parse_assignments(str(self.config.get("spaces", "")), "spaces")
        return labels_for(units, named, parse_bindings(str(self.config.get("bindings", ""))))

    def maas_args(self) -> list[str]:
        """`--maas-url URL --api-key-file F` from config and the granted secret; [] without."""
        url = str(self.config.get("maas-url") or "")
        ref = str(self.config.get("maas-api-key-secret") or "")
        if not url and not ref:
            return []
        if not url or not ref:
            raise ConfigError("maas-url and maas-api-key-secret are needed together")
        try:
            content = self.model.get_secret(id=ref).get_content(refresh=True)
        except (ops.SecretNotFoundError, ops.ModelError) as e:
            raise ConfigError(
                f"maas-api-key-secret {ref} cannot be read ({type(e).__name__}): "
                "juju grant-secret it to this application"
            ) from None
        key = content.get("api-key") or content.get("key") or ""
        if key.count(":") != 2:
            raise ConfigError(
                f"maas-api-key-secret {ref}: field api-key is not a MAAS key "
                "(consumer:token:secret)"
            )
        path = self.state_dir() / "maas-api-key"
        self.write_private(path, key + "\n")
        return ["--maas-url", url, "--api-key-file", str(path)]

    # ----------------------------------------------------------------- the flow

    def _reconcile(self, event: ops.EventBase) -> None:
        self.reconcile()

    def peer_relation(self) -> ops.Relation | None:
        """The mesh relation, once Juju has created it."""
        return self.model.get_relation(PEER)

    def reconcile(self) -> None:
        """Publishes this unit's bindings; the leader runs the coordinator; every unit its agent."""
        try:
            links = self.observed_links()
        except BinaryError as e:
            self.unit.status = ops.BlockedStatus(str(e))
            return
        rel = self.peer_relation()
        if rel is None:
            self.unit.status = ops.WaitingStatus("waiting for the mesh peer relation")
            return
        mine = self.own_bindings(links)
        data = rel.data[self.unit]
        data[KEY_BINDINGS] = json.dumps(mine, sort_keys=True, separators=(",", ":"))
        data[KEY_HOSTNAME] = getattr(self, "_hostname", "")
        data[KEY_MACHINE] = os.environ.get("JUJU_MACHINE_ID", "")
        if self.unit.is_leader():
            try:
                self.lead(rel, start=False)
            except (ConfigError, BinaryError) as e:
                self.unit.status = ops.BlockedStatus(str(e))
                self.app.status = ops.BlockedStatus(str(e))
                return
        else:
            # No longer the leader: the new leader serves a new run; stop the old coordinator.
            Supervisor(COORDINATOR, self.state_dir()).stop()
        self.follow(rel)

    # ----------------------------------------------------------------- leader

    def units_published(self, rel: ops.Relation) -> dict[str, dict[str, Any] | None]:
        """Every unit's published bindings (None when nothing usable yet), by unit name."""
        out: dict[str, dict[str, Any] | None] = {}
        for unit in [self.unit, *rel.units]:
            raw = rel.data[unit].get(KEY_BINDINGS)
            doc = None
            if raw and len(raw) <= MAX_BINDINGS_BYTES:
                try:
                    b = json.loads(raw)
                    if isinstance(b, dict):
                        doc = {"bindings": b, "hostname": rel.data[unit].get(KEY_HOSTNAME)}
                except ValueError:
                    logger.warning("%s: bindings data is not JSON", unit.name)
            out[unit.name] = doc
        return out

    def expected(self, rel: ops.Relation) -> int:
        """Agents to wait for: the planned unit count (goal state), at least the units known."""
        return max(self.app.planned_units(), len(rel.units) + 1)

    def token_secret(self, rel: ops.Relation, fingerprint: str = "") -> ops.Secret:
        """The app secret with the token (and fingerprint); its id is in the app data."""
        app = rel.data[self.app]
        sid = app.get(KEY_SECRET)
        if sid:
            secret = self.model.get_secret(id=sid)
            content = secret.get_content(refresh=True)
            if fingerprint and content.get("fingerprint") != fingerprint:
                secret.set_content({**content, "fingerprint": fingerprint})
                # Units of the owning application get no secret-changed: a change of the app
                # data wakes them (relation-changed) to read the new revision.
                app[KEY_SECRET_STAMP] = fingerprint[-16:]
            return secret
        content = {"token": secrets.token_urlsafe(32)}
        if fingerprint:
            content["fingerprint"] = fingerprint
        secret = self.app.add_secret(content, label="preflight-token")
        app[KEY_SECRET] = secret.id or ""
        return secret

    def lead(self, rel: ops.Relation, start: bool) -> None:
        """Starts the coordinator for a new run (first time or `start`), else updates status."""
        coord = Supervisor(COORDINATOR, self.state_dir())
        app = rel.data[self.app]
        run = app.get(KEY_RUN, "")
        units = self.units_published(rel)
        expect = self.expected(rel)
        if run and not start:
            moved = app.get(KEY_LEADER, self.unit.name) != self.unit.name
            grown = expect > int(app.get(KEY_EXPECT) or expect) and self.latest_report(run)
            if not moved and not grown:
                self.leader_status(rel, run)
                return
            # A new leader serves a new run (the old one's coordinator is on another unit);
            # units that joined after a run finished get a new run with them.
            logger.info("new run: %s", "leader changed" if moved else "more units planned")
        have = sum(1 for d in units.values() if d)
        if not start and have < expect:
            self.app.status = ops.WaitingStatus(f"waiting for units' bindings ({have}/{expect})")
            return
        address = self.mesh_address()
        if not address:
            raise ConfigError("the mesh binding has no address to listen on")
        provider = self.maas_args()
        labels = self.labels(units)
        if not provider:
            snap = provider_snapshot(units, labels, parse_mtu(str(self.config.get("mtu", ""))))
            path = self.state_dir() / "provider.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(snap, indent=1))
            provider = ["--provider", str(path), "--note", NO_PROVIDER_GAPS]
        named = {v for v in labels.values()}
        isolate = []
        for a, b in parse_pairs(str(self.config.get("isolate", "")), "isolate"):
            pair = (labels.get(a, a), labels.get(b, b))
            for s in pair:
                if s not in named and not self.config.get("maas-url"):
                    raise ConfigError(f"isolate: no space {s!r} among the bindings")
            isolate += ["--isolate", f"{pair[0]}:{pair[1]}"]
        # Each unit by the machine it runs on: a missing agent is named by its unit too (in
        # MAAS mode the check only knows MAAS machines).
        unit_labels = []
        for name, doc in sorted(units.items()):
            host = str((doc or {}).get("hostname") or "")
            if host and "=" not in host:
                unit_labels += ["--unit-label", f"{host}={name}"]
        n = int(run or 0) + 1
        run_dir = self.state_dir() / f"run-{n}"
        run_dir.mkdir(parents=True, exist_ok=True)
        token = self.state_dir() / "token"
        secret = self.token_secret(rel)
        self.write_private(token, secret.get_content(refresh=True)["token"] + "\n")
        port = int(self.config.get("port", 7700))
        argv = [
            self.binary("preflight"),
            "check",
            *provider,
            "--listen",
            f"{address}:{port}",
            "--token-file",
            str(token),
            "--expect",
            str(expect),
            "--deadline",
            str(int(self.config.get("deadline", 300))),
            "--probe-deadline",
            str(int(self.config.get("probe-deadline", 120))),
            "--count",
            str(int(self.config.get("count", 3))),
            "--timeout-ms",
            str(int(self.config.get("timeout-ms", 1000))),
            *isolate,
            *unit_labels,
            "--state-dir",
            str(run_dir / "state"),
            "--ready-file",
            str(run_dir / "ready"),
            "--format",
            "json",
            "-o",
            str(run_dir / "report.json"),
            "--quiet",
            "--progress-file",
            str(run_dir / "progress.json"),
        ]
        # TLS always: a self-signed certificate made by the check; agents pin its fingerprint.
        fp = run_dir / "fingerprint"
        argv += ["--tls", "--fingerprint-file", str(fp)]
        coord.start(argv)
        # The fingerprint is written at start: share it in this hook when it comes soon
        # (else leader_status shares it on a later hook).
        end = time.monotonic() + FINGERPRINT_WAIT
        while not fp.exists() and time.monotonic() < end and coord.running():
            time.sleep(0.1)
        if fp.exists():
            self.token_secret(rel, fingerprint=fp.read_text().strip())
        app[KEY_COORDINATOR] = f"https://{address}:{port}"
        app[KEY_RUN] = str(n)
        app[KEY_LEADER] = self.unit.name
        app[KEY_EXPECT] = str(expect)
        self.app.status = ops.MaintenanceStatus(f"run {n}: waiting for {expect} agents")

    def share_fingerprint(self, rel: ops.Relation, run: str) -> None:
        """Puts the coordinator's TLS fingerprint into the secret once it is written."""
        path = self.state_dir() / f"run-{run}" / "fingerprint"
        if path.exists():
            self.token_secret(rel, fingerprint=path.read_text().strip())

    def latest_report(self, run: str) -> tuple[Path, dict[str, Any]] | None:
        """The run's JSON report, once the coordinator wrote it."""
        path = self.state_dir() / f"run-{run}" / "report.json"
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict) or doc.get("schema") != REPORT_SCHEMA:
            return None
        return path, doc

    def progress(self, run: str) -> str:
        """The running coordinator's progress, from its --progress-file."""
        run_dir = self.state_dir() / f"run-{run}"
        if not (run_dir / "ready").exists():
            return f"run {run}: coordinator starting"
        try:
            p = json.loads((run_dir / "progress.json").read_text())
            stage = p["stage"]
            n = {k: int(p[k]) for k in PROGRESS_COUNTS}
        except (OSError, ValueError, KeyError, TypeError):
            return f"run {run}: coordinator listening"
        if stage == "registering":
            return f"run {run}: {n['agents_registered']}/{n['agents_expected']} agents registered"
        if stage == "probing":
            return (
                f"run {run}: probing {n['probes_done']:,}/{n['probes_planned']:,}, "
                f"{n['agents_reported']}/{n['agents_planned']} agents reported"
            )
        return f"run {run}: building the report"

    def leader_status(self, rel: ops.Relation, run: str) -> None:
        """App status from the coordinator: waiting, running, PASS or FAIL."""
        self.share_fingerprint(rel, run)
        got = self.latest_report(run)
        if got is not None:
            summary = got[1].get("summary") or {}
            causes = len((got[1].get("diagnosis") or {}).get("causes") or [])
            if summary.get("status") == "pass":
                self.app.status = ops.ActiveStatus(f"run {run}: PASS")
            else:
                msg = f"run {run}: FAIL: {summary.get('errors', '?')} errors"
                if causes:
                    msg += f", {causes} causes"
                self.app.status = ops.BlockedStatus(msg)
            return
        coord = Supervisor(COORDINATOR, self.state_dir())
        if coord.running():
            self.app.status = ops.MaintenanceStatus(self.progress(run))
        else:
            self.app.status = ops.BlockedStatus(
                f"run {run}: coordinator stopped without a report: {coord.last_line()}"
            )

    # ----------------------------------------------------------------- every unit

    def follow(self, rel: ops.Relation) -> None:
        """Starts this unit's agent for the leader's current run."""
        app = rel.data[self.app]
        url, run, sid = app.get(KEY_COORDINATOR), app.get(KEY_RUN), app.get(KEY_SECRET)
        agent = Supervisor(AGENT, self.state_dir())
        if not (url and run and sid):
            self.unit.status = ops.WaitingStatus("waiting for the leader's coordinator")
            return
        if self._stored.agent_run == run:
            if agent.running():
                self.unit.status = ops.MaintenanceStatus(f"run {run}: agent running")
            else:
                last = agent.last_line()
                if "error" in last.lower():
                    self.unit.status = ops.BlockedStatus(f"run {run}: agent failed: {last}")
                else:
                    self.unit.status = ops.ActiveStatus(f"run {run}: agent done {last}".strip())
            return
        try:
            content = self.model.get_secret(id=sid).get_content(refresh=True)
        except (ops.SecretNotFoundError, ops.ModelError):
            self.unit.status = ops.WaitingStatus("waiting for the token secret")
            return
        args = []
        if url.startswith("https"):
            if not content.get("fingerprint"):
                self.unit.status = ops.WaitingStatus("waiting for the coordinator's fingerprint")
                return
            args = ["--fingerprint", content["fingerprint"]]
        token = self.state_dir() / "agent-token"
        self.write_private(token, content["token"] + "\n")
        argv = [
            self.binary("preflight-agent"),
            "run",
            "--coordinator",
            url,
            "--token-file",
            str(token),
            # The same key across restarts (systemd's, or this charm's on a later hook): a
            # restarted agent is still the agent that registered, not a refused newcomer.
            "--agent-key-file",
            str(self.state_dir() / "agent.key"),
            *args,
        ]
        if not self.config.get("maas-url"):
            argv += ["--machine-id", system_id(self.unit.name)]
        agent.start(argv)
        self._stored.agent_run = run
        self.unit.status = ops.MaintenanceStatus(f"run {run}: agent started")

    # ----------------------------------------------------------------- actions

    def _on_run_action(self, event: ops.ActionEvent) -> None:
        if not self.unit.is_leader():
            event.fail("a run is started on the leader: juju run preflight/leader run")
            return
        rel = self.peer_relation()
        if rel is None:
            event.fail("no mesh peer relation yet")
            return
        try:
            self.lead(rel, start=True)
        except (ConfigError, BinaryError) as e:
            event.fail(str(e))
            return
        self.follow(rel)
        app = rel.data[self.app]
        event.set_results(
            {"run": app.get(KEY_RUN, ""), "coordinator": app.get(KEY_COORDINATOR, "")}
        )

    def _on_report_action(self, event: ops.ActionEvent) -> None:
        fmt = event.params.get("format", "text")
        if fmt not in REPORT_FORMATS:
            event.fail(f"format must be one of {', '.join(REPORT_FORMATS)}, not {fmt!r}")
            return
        rel = self.peer_relation()
        if not self.unit.is_leader() or rel is None:
            event.fail("the report is on the leader: juju run preflight/leader report")
            return
        run = rel.data[self.app].get(KEY_RUN, "")
        got = self.latest_report(run) if run else None
        if got is None:
            event.fail(f"run {run or '-'} has no report yet")
            return
        path, doc = got
        out = path.with_name(f"report.{'xml' if fmt == 'junit' else fmt}")
        if fmt != "json":
            try:
                self._exec(
                    "preflight", ["report", str(path), "--format", fmt, "-o", str(out)], (0, 1)
                )
            except BinaryError as e:
                event.fail(str(e))
                return
        text = out.read_text()
        results: dict[str, Any] = {
            "run": run,
            "status": (doc.get("summary") or {}).get("status", ""),
            "path": str(out),
            "mode": "maas" if self.config.get("maas-url") else NO_PROVIDER_GAPS,
        }
        if len(text) <= MAX_ACTION_BYTES:
            results["report"] = text
        event.set_results(results)

    def _on_validate_action(self, event: ops.ActionEvent) -> None:
        bundle = str(event.params.get("bundle") or "")
        if not bundle:
            event.fail("bundle=<yaml> is needed")
            return
        try:
            provider = self.maas_args()
        except ConfigError as e:
            event.fail(str(e))
            return
        if not provider:
            event.fail("validate needs MAAS: set maas-url and maas-api-key-secret")
            return
        work = self.state_dir() / "validate"
        work.mkdir(parents=True, exist_ok=True)
        (work / "bundle.yaml").write_text(bundle)
        args = ["validate", *provider, "--bundle", str(work / "bundle.yaml")]
        overlays = str(event.params.get("overlays") or "")
        for i, overlay in enumerate(overlays.split("\n---\n") if overlays else []):
            (work / f"overlay-{i}.yaml").write_text(overlay)
            args += ["--overlay", str(work / f"overlay-{i}.yaml")]
        args += ["--format", "json", "-o", str(work / "report.json")]
        try:
            self._exec("preflight", args, (0, 1))
        except BinaryError as e:
            event.fail(str(e))
            return
        try:
            doc = json.loads((work / "report.json").read_text())
            text = self._exec(
                "preflight", ["report", str(work / "report.json"), "--format", "text"], (0, 1)
            )
        except (OSError, ValueError, BinaryError) as e:
            event.fail(f"preflight validate wrote no readable report: {e}")
            return
        summary = doc.get("summary") or {}
        findings = [f for f in doc.get("findings") or [] if isinstance(f, dict)]
        codes = sorted({str(f.get("code")) for f in findings if f.get("severity") == "error"})
        results: dict[str, Any] = {
            "status": summary.get("status", ""),
            "errors": summary.get("errors", 0),
            "codes": ",".join(codes),
            "path": str(work / "report.json"),
        }
        if len(text) <= MAX_ACTION_BYTES:
            results["report"] = text
        event.set_results(results)


if __name__ == "__main__":  # pragma: nocover
    ops.main(PreflightCharm)
