"""How ``jg.parse`` scales with the size of a judge's output, and what it stalls.

Run: python benchmarks/parse_scaling.py [--sizes 2K,10K,100K,1M,10M] [--repeat N]

1. Parse time per KB (CPU, ``time.process_time``; best of ``--repeat`` runs) for a
   realistic output (the Arena-Hard fixture's reasoning repeated to size, its verdict at
   the end) and hostile shapes (unclosed tags, thousands of verdict lines, ``[[`` runs,
   deep JSON …) at each size. Target: flat per-KB time (within 2x) across sizes; above
   ``judgeguard.parsing.SCAN_LIMIT`` only the tail is scanned, so per-KB time falls.
2. The longest stall of another thread while a background thread parses a 1 MB output:
   a ticker thread sleeps 1 ms in a loop and records the longest gap between wake-ups
   (minus the 1 ms it asked for), with and without the parsing thread. Target ≤ 10 ms.
   Python hands the GIL over every ``sys.getswitchinterval()`` (5 ms by default), so a
   busy thread can delay another by that much even when no single call is long.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import judgeguard as jg
from judgeguard.parsing import SCAN_LIMIT

FIXTURE = (
    Path(__file__).resolve().parent.parent
    / "tests"
    / "fixtures"
    / "judge_outputs"
    / "arena_hard_b_much_better.txt"
)


def _realistic(n: int) -> str:
    """The fixture's reasoning repeated to ``n`` characters, its final verdict at the end."""
    text = FIXTURE.read_text(encoding="utf-8")
    cut = text.rindex("My final verdict")
    body, verdict = text[:cut], text[cut:]
    reps = max(1, (n - len(verdict)) // len(body))
    return body * reps + verdict


def _repeat(unit: str) -> Callable[[int], str]:
    return lambda n: unit * max(1, n // len(unit))


SHAPES: dict[str, Callable[[int], str]] = {
    "realistic (Arena-Hard)": _realistic,
    "<think> unclosed": _repeat("<think>"),
    "<reasoning> unclosed": _repeat("<reasoning>"),
    "<verdict> unclosed": _repeat("<verdict>"),
    "'Point one is fine.<br>'": _repeat("Point one is fine.<br>"),
    "verdict lines": _repeat("My final verdict is: [[A>B]]\n"),
    "verdicts on one line": _repeat("My final verdict is: [[A>B]] "),
    "'[[' run": _repeat("[["),
    "'{\"a\":' run": _repeat('{"a":'),
    "GRADE tokens": _repeat("GRADE: C "),
}


def _size(label: str) -> int:
    units = {"K": 1_000, "M": 1_000_000}
    label = label.strip().upper()
    return int(float(label[:-1]) * units[label[-1]]) if label[-1] in units else int(label)


def _parse(text: str) -> None:
    try:
        jg.parse(text)
    except jg.ParseError:
        pass


def per_kb(sizes: list[str], repeat: int) -> None:
    """Print the CPU time per KB for each shape and size."""
    print(f"{'shape':28}" + "".join(f"{s:>12}" for s in sizes) + "   (µs per KB)")
    for name, make in SHAPES.items():
        row = []
        for label in sizes:
            text = make(_size(label))
            best = float("inf")
            for _ in range(repeat if len(text) < 5_000_000 else 1):
                t0 = time.process_time()
                _parse(text)
                best = min(best, time.process_time() - t0)
            row.append(best / (len(text) / 1000) * 1e6)
        print(f"{name:28}" + "".join(f"{v:12.1f}" for v in row), flush=True)


def _ticker(stop: threading.Event, gaps: list[float]) -> None:
    last = time.perf_counter()
    worst = 0.0
    while not stop.is_set():
        time.sleep(0.001)
        now = time.perf_counter()
        worst = max(worst, now - last - 0.001)
        last = now
    gaps.append(worst)


def stall(text: str, seconds: float = 2.0) -> tuple[float, float, int]:
    """Longest ticker gap (ms) without and with a thread parsing ``text`` in a loop."""
    results = []
    parses = 0
    for busy in (False, True):
        stop, gaps = threading.Event(), []
        ticker = threading.Thread(target=_ticker, args=(stop, gaps))
        ticker.start()
        deadline = time.perf_counter() + seconds
        if busy:

            def work() -> None:
                nonlocal parses
                while time.perf_counter() < deadline:
                    _parse(text)
                    parses += 1

            worker = threading.Thread(target=work)
            worker.start()
            worker.join()
        else:
            time.sleep(seconds)
        stop.set()
        ticker.join()
        results.append(gaps[0] * 1000)
    return results[0], results[1], parses


def main() -> None:
    """Run both measurements and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2K,10K,100K,1M,10M")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--stall-seconds", type=float, default=2.0)
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, SCAN_LIMIT={SCAN_LIMIT} chars")
    per_kb(args.sizes.split(","), args.repeat)
    print(f"\nstall of another thread (switch interval {sys.getswitchinterval() * 1000:g} ms):")
    for name in ("realistic (Arena-Hard)", "<think> unclosed", "verdict lines", "GRADE tokens"):
        idle, busy, n = stall(SHAPES[name](1_000_000), args.stall_seconds)
        print(
            f"  1 MB {name:26} longest gap idle {idle:5.1f} ms, "
            f"while parsing {busy:5.1f} ms ({n} parses)",
            flush=True,
        )


if __name__ == "__main__":
    main()
