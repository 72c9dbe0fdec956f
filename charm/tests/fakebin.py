#!/usr/bin/env python3
"""Stand-in for preflight-agent and preflight in the state-transition tests.

It speaks the same JSON (observed/v1, probe/v1, report/v1) as the real binaries so the charm's
glue can be driven through failure modes the real ones do not produce on demand. Behaviour is
set by environment variables (the charm passes its environment to the subprocess):

FAKE_LOG          directory: each call appends argv and, for probe, the plan to calls.jsonl
FAKE_PROBE        "ok" (default), "error" (exit 2), "garbage" (non-JSON), "hang" (sleep)
FAKE_UNREACHABLE  space separated target addresses that do not answer
FAKE_OBSERVE      "ok" (default) or "error"
FAKE_REPORT       "ok" (default) or "error" (exit 2)
FAKE_BIG_TARGET   when set, every probe result carries this many bytes of failure message
"""

import json
import os
import sys
import time
from pathlib import Path


def log(entry):
    """Appends one call to $FAKE_LOG/calls.jsonl."""
    d = os.environ.get("FAKE_LOG")
    if d:
        with open(Path(d) / "calls.jsonl", "a") as f:
            f.write(json.dumps(entry) + "\n")


def agent(args):
    """preflight-agent observe | probe."""
    if args[:1] == ["observe"]:
        log({"argv": args})
        if os.environ.get("FAKE_OBSERVE") == "error":
            print("error: netlink: permission denied", file=sys.stderr)
            return 2
        print(
            json.dumps(
                {
                    "schema": "preflight.observed/v1",
                    "identity": {
                        "hostname": "node-1",
                        "machine_id": "abc",
                        "agent_version": "0.1.0",
                    },
                    "links": [
                        {
                            "name": "lo",
                            "kind": "loopback",
                            "mac": "",
                            "mtu": 65536,
                            "admin_up": True,
                            "oper_state": "unknown",
                        },
                        {
                            "name": "eth1",
                            "kind": "physical",
                            "mac": "52:54:00:00:00:01",
                            "mtu": 9000,
                            "admin_up": True,
                            "oper_state": "up",
                        },
                        {
                            "name": "eth2",
                            "kind": "physical",
                            "mac": "52:54:00:00:00:02",
                            "mtu": 1500,
                            "admin_up": True,
                            "oper_state": "up",
                        },
                    ],
                    "addresses": [],
                    "routes": [],
                    "default_gateways": [],
                }
            )
        )
        return 0
    if args[:1] == ["probe"]:
        plan_path = args[args.index("--plan") + 1]
        plan = json.loads(Path(plan_path).read_text())
        log({"argv": args, "plan": plan})
        mode = os.environ.get("FAKE_PROBE", "ok")
        if mode == "error":
            print("error: plan: targets[0].source 10.9.9.9 is not a local address", file=sys.stderr)
            return 2
        if mode == "garbage":
            print("this is not json {")
            return 0
        if mode == "hang":
            time.sleep(30)
            return 0
        down = set(os.environ.get("FAKE_UNREACHABLE", "").split())
        big = int(os.environ.get("FAKE_BIG_TARGET", "0") or 0)
        count = plan["settings"]["count"]
        results = []
        for t in plan["targets"]:
            answered = (t["target"] not in down) == (t["expect"] == "reachable")
            r = {
                "id": t["id"],
                "space": t["space"],
                "source": t["source"],
                "target": t["target"],
                "expect": t["expect"],
                "sent": count,
                "received": count if answered else 0,
                "duplicates": 0,
                "loss_pct": 0.0 if answered else 100.0,
                "rtt": {"min_ms": 0.1, "avg_ms": 0.2, "max_ms": 0.3, "mdev_ms": 0.05}
                if answered
                else None,
                "failure": None if answered else {"cause": "timeout"},
                "mtu": None,
                "tcp": [],
            }
            if big:
                r["failure"] = {"cause": "other", "message": "x" * big}
            results.append(r)
        print(
            json.dumps(
                {
                    "schema": "preflight.probe/v1",
                    "agent": plan.get("agent"),
                    "sockets": [
                        {"kind": "raw", "source": None, "device": None, "recv_buffer_bytes": 212992}
                    ],
                    "started_at": "2026-11-21T05:00:00Z",
                    "duration_ms": 7,
                    "targets": results,
                }
            )
        )
        return 0 if all(r["received"] for r in results if r["expect"] == "reachable") else 1
    print(f"fake preflight-agent: unknown args {args}", file=sys.stderr)
    return 2


def report(args):
    """preflight report --probes FILE... --format text|json."""
    log({"argv": args})
    if os.environ.get("FAKE_REPORT") == "error":
        print("error: probes: bad input", file=sys.stderr)
        return 2
    files = args[args.index("--probes") + 1 : args.index("--format")]
    fmt = args[args.index("--format") + 1]
    errors = 0
    agents = []
    for f in files:
        doc = json.loads(Path(f).read_text())
        agents.append(doc.get("agent"))
        for t in doc["targets"]:
            if (t["received"] > 0) != (t.get("expect", "reachable") == "reachable"):
                errors += 1
    status = "pass" if errors == 0 else "fail"
    if fmt == "json":
        print(
            json.dumps(
                {
                    "schema": "preflight.report/v1",
                    "agents": agents,
                    "summary": {"status": status, "errors": errors, "warnings": 0, "infos": 0},
                }
            )
        )
    else:
        print(f"{status.upper()}: {errors} errors from {len(files)} agents")
    return 0 if errors == 0 else 1


def main():
    """Dispatches on the name it was called by."""
    name = Path(sys.argv[0]).name
    if name == "preflight-agent":
        return agent(sys.argv[1:])
    if name == "preflight" and sys.argv[1:2] == ["report"]:
        return report(sys.argv[2:])
    print(f"fake {name}: unknown args {sys.argv[1:]}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
