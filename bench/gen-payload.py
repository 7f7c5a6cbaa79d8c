#!/usr/bin/env python3
"""Make call-log JSON bodies of other sizes from payload-5k.json (stdlib only).

Copied from the shared bench harness; below the base size it also drops playbook
steps and then action items (after all transcription segments), so 2 KB is reachable
while the summary, topics and playbook names that the routes look at stay.
bench/payload-2k.json was made with `gen-payload.py 2`.

  P=$(mktemp -d)
  gen-payload.py 50 > $P/payload-50k.json        # ~50 KB, longer transcription
  gen-payload.py 200 > $P/payload-200k.json      # ~200 KB
  gen-payload.py 5 --no-summary > $P/nosum.json  # no .assist.summary (should be dropped by routing)
  gen-payload.py 5 --topics support,outage > $P/other.json

Sizes are of the compact JSON (no indentation); the base file is pretty-printed.
"""
import argparse
import copy
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser()
ap.add_argument("kb", type=float, help="target size in KB (1 KB = 1000 bytes)")
ap.add_argument("--base", default=os.path.join(here, "payload-5k.json"))
ap.add_argument("--no-summary", action="store_true", help="remove .assist.summary")
ap.add_argument("--topics", help="comma-separated replacement for .assist.topics")
a = ap.parse_args()

doc = json.load(open(a.base))
if a.no_summary:
    doc["assist"].pop("summary", None)
if a.topics is not None:
    doc["assist"]["topics"] = [t for t in a.topics.split(",") if t]

segs = doc["transcription"]["segments"]
base_segs = copy.deepcopy(segs)
target = int(a.kb * 1000)


def size():
    return len(json.dumps(doc, separators=(",", ":")))


t_off = segs[-1]["end"]
i = 0
while size() < target:
    s = copy.deepcopy(base_segs[i % len(base_segs)])
    rnd = i // len(base_segs) + 1
    s["start"] = round(s["start"] + t_off * rnd, 1)
    s["end"] = round(s["end"] + t_off * rnd, 1)
    segs.append(s)
    i += 1
while segs and size() > target:  # shrink (also below the base size, e.g. 2 KB)
    segs.pop()
# still too big (targets under ~2.5 KB): drop playbook steps, then action items
playbooks = doc.get("assist", {}).get("playbooks", [])
while size() > target:
    with_steps = [p for p in playbooks if p.get("steps")]
    if not with_steps:
        break
    max(with_steps, key=lambda p: len(p["steps"]))["steps"].pop()
items = doc.get("assist", {}).get("action_items", [])
while items and size() > target:
    items.pop()

sys.stdout.write(json.dumps(doc, separators=(",", ":")))
sys.stdout.write("\n")
