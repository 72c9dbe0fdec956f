#!/usr/bin/env python3
"""Stand-in for preflight-agent and preflight in the state-transition tests.

It takes the real binaries' flags and writes the same documents (observed/v1, report/v1) so
the charm's glue can be driven through failure modes the real ones do not produce on demand.
Behaviour is set by environment variables (the charm passes its environment down):

FAKE_LOG      directory: each call appends {"argv": [name, ...]} to calls.jsonl
FAKE_OBSERVE  "ok" (default) or "error"
FAKE_CHECK    "pass" (default: writes a passing report), "fail", "die" (exits 2, no report),
              "hang" (writes the ready file, then sleeps)
FAKE_AGENT    "ok" (default) or "error" (`run` exits 2 with an error line)
FAKE_BIG      when set, `report` renders this many bytes
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


def flag(args, name, default=None):
    """The value after flag `name`."""
    return args[args.index(name) + 1] if name in args else default


OBSERVED = {
    "schema": "preflight.observed/v1",
    "identity": {"hostname": "node-1", "machine_id": "abc", "agent_version": "0.1.0"},
    "links": [
        {"name": "lo", "mac": "", "mtu": 65536},
        {"name": "eth1", "mac": "52:54:00:00:00:01", "mtu": 9000},
        {"name": "eth2", "mac": "52:54:00:00:00:02", "mtu": 1500},
    ],
}


def agent(args):
    """preflight-agent observe | run."""
    log({"argv": ["preflight-agent", *args]})
    if args[:1] == ["observe"]:
        if os.environ.get("FAKE_OBSERVE") == "error":
            print("error: netlink: permission denied", file=sys.stderr)
            return 2
        print(json.dumps(OBSERVED))
        return 0
    if args[:1] == ["run"]:
        if os.environ.get("FAKE_AGENT") == "error":
            print("preflight-agent: error: the coordinator refused the token (401)")
            return 2
        print("preflight-agent: registered; results sent")
        return 0
    print(f"fake preflight-agent: unknown args {args}", file=sys.stderr)
    return 2


def report_doc(status):
    """A minimal preflight.report/v1 document."""
    errors = 0 if status == "pass" else 2
    return {
        "schema": "preflight.report/v1",
        "kind": "check",
        "summary": {"status": status, "errors": errors, "warnings": 0, "infos": 0},
        "findings": [],
        # As the real report: causes sit in diagnosis (absent when nothing failed).
        **({} if status == "pass" else {"diagnosis": {"causes": [{"code": "cause.mtu"}]}}),
    }


def check(args):
    """preflight check FLAGS (writes --fingerprint-file, --ready-file, then -o)."""
    log({"argv": ["preflight", "check", *args]})
    mode = os.environ.get("FAKE_CHECK", "pass")
    if mode == "die":
        print("error: cannot load the provider (MAAS) model: 401 Unauthorized", file=sys.stderr)
        return 2
    if flag(args, "--fingerprint-file"):
        Path(flag(args, "--fingerprint-file")).write_text("SHA256:" + "ab" * 32 + "\n")
    if flag(args, "--ready-file"):
        Path(flag(args, "--ready-file")).write_text("https://" + flag(args, "--listen") + "\n")
    if mode == "hang":
        time.sleep(60)
        return 0
    Path(flag(args, "-o")).write_text(json.dumps(report_doc(mode)))
    return 0 if mode == "pass" else 1


def render(args):
    """preflight report FILE --format F -o OUT."""
    log({"argv": ["preflight", "report", *args]})
    doc = json.loads(Path(args[0]).read_text())
    big = int(os.environ.get("FAKE_BIG", "0") or 0)
    text = f"{flag(args, '--format')}: {doc['summary']['status'].upper()}\n" + "x" * big
    Path(flag(args, "-o")).write_text(text)
    return 0 if doc["summary"]["status"] == "pass" else 1


def validate(args):
    """preflight validate ... --format json -o OUT."""
    log({"argv": ["preflight", "validate", *args]})
    Path(flag(args, "-o")).write_text(json.dumps(report_doc("pass")))
    return 0


def main():
    """Dispatches on the name it was called by."""
    name = Path(sys.argv[0]).name
    args = sys.argv[1:]
    if name == "preflight-agent":
        return agent(args)
    if name == "preflight" and args[:1] == ["check"]:
        return check(args[1:])
    if name == "preflight" and args[:1] == ["report"]:
        return render(args[1:])
    if name == "preflight" and args[:1] == ["validate"]:
        return validate(args[1:])
    print(f"fake {name}: unknown args {args}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
