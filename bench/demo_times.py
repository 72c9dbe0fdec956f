#!/usr/bin/env python3
"""Timings of one `preflight demo --work-dir DIR` run, from its state dir and report.

Usage: demo_times.py DIR WALL EXIT_CODE
Prints: last-registration->report, last-results->report, wall, probing (last registration ->
last results), then key=value details. Registration time is the agent's `observed_at` (it
registers right after observing), results time the agent's `started_at + duration_ms`, both
from the coordinator's journal (state/journal.jsonl); the report time is report.json's mtime.
All processes share this machine's clock (namespaces do not have their own).
"""

import datetime
import glob
import json
import os
import sys


def ts(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def main():
    d, wall, code = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    regs, res = [], []
    for line in open(f"{d}/state/journal.jsonl"):
        try:
            j = json.loads(line)
        except ValueError:
            continue
        if "registration" in j:
            regs.append(ts(j["registration"]["observed"]["identity"]["observed_at"]))
        elif "results" in j:
            r = j["results"]["report"]
            res.append(ts(r["started_at"]) + r.get("duration_ms", 0) / 1000)
    rep = os.stat(f"{d}/report.json").st_mtime
    r = json.load(open(f"{d}/report.json"))
    s = r["summary"]
    causes = [
        f'{c["code"]}:{c["subject"].get("machine")}:{c["subject"].get("interface")}'
        for c in (r.get("diagnosis") or {}).get("causes", [])
    ]
    detail = (
        f"agents={len(regs)} results={len(res)} probes={s.get('probes_done')}/{s.get('probes_planned')} "
        f"findings={s['errors']}+{s['warnings']} causes={','.join(causes) or '-'} exit={code}"
    )
    if not regs or not res:
        print(f"nan nan {wall} nan {detail}")
        return
    print(
        f"{rep - max(regs):.3f} {rep - max(res):.3f} {wall} {max(res) - max(regs):.3f} {detail}"
    )


if __name__ == "__main__":
    main()
