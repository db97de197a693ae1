"""Where each first-use cost lands: the caller's thread, or judgeguard's background.

Run: python benchmarks/first_use.py [--runs N]

Each run is a fresh interpreter (imports are once per process). It times, in the caller's
thread (wall time): ``import judgeguard``; ``jg.MetaJudge(...)``; the decoration
``jg.guard(judge, metajudge=...)`` (where judgeguard imports litellm and warms its call path,
so that no import ever runs on a background thread beside user code, see
judgeguard/preload.py); the first and the second guarded call. Then it submits 20 more
calls and, while their checks run against a loopback server (own process, 20 ms latency),
measures the caller's longest stall: the largest gap between consecutive 1 ms sleeps, minus
1 ms. Modes: no MetaJudge, MetaJudge in the dispatcher thread (default), and
``offload="process"``. Medians over the runs are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from overhead import loopback_process

CHILD = r"""
import json, os, sys, time
t = time.perf_counter()
import judgeguard as jg
out = {"import judgeguard": time.perf_counter() - t}
ARENA = "Assistant A's loop skips the last element; B is right.\n\nMy final verdict is: [[B>>A]]"
mode, base_url = sys.argv[1], sys.argv[2]
t = time.perf_counter()
mj = None if mode == "none" else jg.MetaJudge(
    "openai/metajudge", api_base=base_url, api_key="k", retries=0, timeout=10
)
out["jg.MetaJudge(...)"] = time.perf_counter() - t
t = time.perf_counter()
judge = jg.guard(lambda i: ARENA, metajudge=mj, cache=False,
                 offload="process" if mode == "process" else "thread")
out["decoration jg.guard(...)"] = time.perf_counter() - t
t = time.perf_counter()
judge(0)
out["first guarded call"] = time.perf_counter() - t
t = time.perf_counter()
judge(1)
out["second guarded call"] = time.perf_counter() - t
for i in range(20):
    judge(i)
worst, last, end = 0.0, time.perf_counter(), time.perf_counter() + 1.5
while time.perf_counter() < end:
    time.sleep(0.001)
    now = time.perf_counter()
    worst, last = max(worst, now - last - 0.001), now
out["longest caller stall while checks run"] = worst
left = jg.flush(30)
out["unfinished"] = left
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    with loopback_process(0.02) as base_url:
        for mode in ("none", "thread", "process"):
            runs = []
            for _ in range(args.runs):
                proc = subprocess.run(
                    [sys.executable, "-c", CHILD, mode, base_url],
                    capture_output=True,
                    text=True,
                    env=env,
                    check=True,
                )
                runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            label = {"none": "no MetaJudge", "thread": "MetaJudge, thread (default)"}.get(
                mode, 'MetaJudge, offload="process"'
            )
            print(f"\n[{label}]  median of {args.runs} fresh processes")
            for key in runs[0]:
                if key == "unfinished":
                    continue
                value = statistics.median(r[key] for r in runs)
                print(f"  {key:42s} {value * 1000:9.1f} ms")


if __name__ == "__main__":
    main()
