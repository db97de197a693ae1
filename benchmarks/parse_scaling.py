"""How ``jg.parse`` scales with the size of a judge's output, and what it stalls.

Run: python benchmarks/parse_scaling.py [--sizes 2K,10K,100K,1M,10M] [--repeat N]
     [--fixture-only]

0. The CPU time of one parse of the Arena-Hard fixture (2,447 characters), and per 2 KB:
   the same text again and again, and a new text each time (target ≤ 100 µs per 2 KB).
1. Parse time per KB (CPU, ``time.process_time``; best of ``--repeat`` runs) for a
   realistic output (the Arena-Hard fixture's reasoning repeated to size, its verdict at
   the end) and hostile shapes (unclosed tags, thousands of verdict lines, ``[[`` runs,
   deep JSON …) at each size. Target: flat per-KB time (within 2x) across sizes; above
   ``judgeguard.parsing.SCAN_LIMIT`` only the tail is scanned, so per-KB time falls.
2. The longest stall of another thread while a background thread parses a 1 MB output:
   a ticker thread sleeps 1 ms in a loop and records the gaps between wake-ups (minus
   the 1 ms it asked for): idle, beside a pure-Python busy thread (the baseline: Python
   hands the GIL over every ``sys.getswitchinterval()``, 5 ms by default, so any busy
   thread delays another by up to that much), and beside a thread parsing 1 MB outputs
   in a loop. Target ≤ 10 ms. On a machine with fewer free cores than busy threads the
   OS may also deschedule the GIL holder, which shows in every row alike; so the
   longest single C-level call made while parsing (which holds the GIL throughout) is
   printed too: that is the stall the parser itself can cause.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import re
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
    with contextlib.suppress(jg.ParseError):
        jg.parse(text)


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


def fixture_cost(batches: int = 60, per_batch: int = 50) -> None:
    """Print the CPU time of one parse of the Arena-Hard fixture and per 2 KB (2,000
    characters): best of ``batches`` batches (``time.process_time``), for the same text
    parsed again and again (the parser's per-text caches warm) and for a new text each
    time (the fixture behind a different number: what a stream of outputs costs)."""
    text = FIXTURE.read_text(encoding="utf-8")
    texts = [f"{i:06d}\n{text}" for i in range(batches * per_batch)]
    _parse(text)

    def best(pick: Callable[[int, int], str]) -> float:
        times = []
        for b in range(batches):
            chunk = [pick(b, i) for i in range(per_batch)]
            t0 = time.process_time()
            for t in chunk:
                _parse(t)
            times.append((time.process_time() - t0) / per_batch)
        return min(times) * 1e6

    same = best(lambda b, i: text)
    new = best(lambda b, i: texts[b * per_batch + i])
    print(
        f"Arena-Hard fixture ({len(text):,} chars): {same:.0f} µs per parse, "
        f"{same * 2000 / len(text):.0f} µs per 2 KB (the same text again); "
        f"{new:.0f} µs per parse, {new * 2000 / len(text):.0f} µs per 2 KB (a new text each "
        f"time); best of {batches} batches of {per_batch}, CPU time",
        flush=True,
    )


def _ticker(stop: threading.Event, gaps: list[float]) -> None:
    last = time.perf_counter()
    while not stop.is_set():
        time.sleep(0.001)
        now = time.perf_counter()
        gaps.append(now - last - 0.001)
        last = now


def _spin(deadline: float) -> None:
    """A busy pure-Python thread: the baseline any CPU-bound thread imposes via the GIL."""
    x = 0
    while time.perf_counter() < deadline:
        for _ in range(1000):
            x += 1


def stall(work: Callable[[], None] | None, seconds: float) -> tuple[float, float, int]:
    """(longest, 99th percentile) ticker gap in ms while ``work`` runs in a loop in a
    background thread (``None``: nothing else runs), and how many times it ran."""
    stop, gaps = threading.Event(), []
    ticker = threading.Thread(target=_ticker, args=(stop, gaps))
    ticker.start()
    deadline = time.perf_counter() + seconds
    runs = 0
    if work is None:
        time.sleep(seconds)
    else:

        def loop() -> None:
            nonlocal runs
            while time.perf_counter() < deadline:
                work()
                runs += 1

        worker = threading.Thread(target=loop)
        worker.start()
        worker.join()
    stop.set()
    ticker.join()
    gaps.sort()
    return gaps[-1] * 1000, gaps[int(len(gaps) * 0.99)] * 1000, runs


def longest_call(text: str, runs: int = 5) -> tuple[float, str, float]:
    """The longest single C-level call (a regex scan, a sort, a join …) made while parsing
    ``text``, in ms, its name, and the longest garbage-collection pause (ms).

    Only calls that run no Python code inside count (a call that calls back into Python,
    like ``sorted`` with a Python key, lets the GIL go at each callback): such a call holds
    the GIL throughout, so this bounds how long parsing itself keeps other threads out.
    Durations are the thread's CPU time (``time.thread_time``), so that the machine's
    load (a descheduled thread makes any call look long) stays out of them; each
    function's longest call is taken per run and the smallest of ``runs`` runs is kept.
    Collections hold the GIL too, but their length depends on every object the process
    holds, so they are timed apart (gc callbacks, longest of the runs).
    """
    per_run: list[dict[str, float]] = []
    started: list[list[float]] = []  # [start time, still a leaf?]

    def hook(frame: object, event: str, arg: object) -> None:
        if event == "c_call":
            started.append([time.thread_time(), 1.0])
        elif event in ("c_return", "c_exception") and started:
            t0, leaf = started.pop()
            if leaf:
                took = time.thread_time() - t0
                name = getattr(arg, "__qualname__", repr(arg))
                if took > per_run[-1].get(name, 0.0):
                    per_run[-1][name] = took
        elif event == "call":
            for entry in started:
                entry[1] = 0.0

    _parse(text)  # warm caches (compiled patterns) once
    gc.disable()
    try:
        for _ in range(runs):
            per_run.append({})
            started.clear()
            sys.setprofile(hook)
            try:
                _parse(text)
            finally:
                sys.setprofile(None)
    finally:
        gc.enable()
    names = set.intersection(*(set(r) for r in per_run))
    steady = {n: min(r[n] for r in per_run) for n in names}
    name = max(steady, key=steady.__getitem__)

    gc_worst = [0.0]
    gc_start = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_start[0] = time.thread_time()
        else:
            gc_worst[0] = max(gc_worst[0], time.thread_time() - gc_start[0])

    gc.callbacks.append(on_gc)
    try:
        for _ in range(runs):
            _parse(text)
    finally:
        gc.callbacks.remove(on_gc)
    return steady[name] * 1000, name, gc_worst[0] * 1000


def longest_regex_step(text: str, runs: int = 3) -> tuple[float, str]:
    """The longest single regex step (one ``next()`` of a scan, or one anchored match)
    over the part of ``text`` the parser scans, for every pattern the parser scans whole
    texts with, scanned the way the parser does; ms and the pattern's name. (Iterator
    steps emit no profiler events, so :func:`longest_call` cannot see them.) CPU time of
    the thread, best of ``runs``."""
    from judgeguard.parsing import inputs, redact, structured, textformats

    window, _ = inputs.scan_window(text)
    patterns: dict[str, re.Pattern[str]] = {f.name: f.pattern for f in textformats.BUILTIN_FORMATS}
    patterns.update(
        {f"final_phrase_{i}": p for i, p in enumerate(textformats._FINAL_PHRASE_PARTS)},
        apostrophe=textformats._APOSTROPHE_QUOTE,
        sentence_boundary=redact._LINE_BOUNDARY,
        open_tag=structured._OPEN_TAG,
        close_tag=structured._CLOSE_TAG,
        think_tag=inputs._THINK_TAG,
    )
    index = textformats._Index(window)
    worst = (0.0, "")
    for name, pattern in patterns.items():
        best = float("inf")
        for _ in range(runs):
            anchored = pattern.pattern.startswith("^") and pattern.flags & re.MULTILINE
            steps = (
                textformats._line_matches(pattern, window, index)
                if anchored
                else pattern.finditer(window)
            )
            longest = 0.0
            while True:
                t0 = time.thread_time()
                m = next(steps, None)
                longest = max(longest, time.thread_time() - t0)
                if m is None:
                    break
            best = min(best, longest)
        worst = max(worst, (best, name))
    return worst[0] * 1000, worst[1]


def main() -> None:
    """Run both measurements and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2K,10K,100K,1M,10M")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--stall-seconds", type=float, default=2.0)
    ap.add_argument(
        "--fixture-only", action="store_true", help="print the Arena-Hard fixture line only"
    )
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, SCAN_LIMIT={SCAN_LIMIT} chars")
    fixture_cost()
    if args.fixture_only:
        return
    per_kb(args.sizes.split(","), args.repeat)
    print(
        "\nwhile parsing 1 MB (thread CPU time): longest single C-level call and longest "
        "single regex step (each holds the GIL throughout; best of several runs), and "
        "longest garbage-collection pause (depends on all objects in the process):"
    )
    for name, make in SHAPES.items():
        text = make(1_000_000)
        took, what, gc_pause = longest_call(text)
        step, pattern = longest_regex_step(text)
        print(
            f"  {name:28} call {took:5.2f} ms ({what:10.10}) regex step {step:5.2f} ms "
            f"({pattern:16.16}) gc {gc_pause:5.2f} ms",
            flush=True,
        )
    print(
        f"\nticker gaps (1 ms sleeps) in another thread, {args.stall_seconds:g} s each, "
        f"switch interval {sys.getswitchinterval() * 1000:g} ms; 'busy thread' is a pure-"
        "Python loop (the GIL hand-over cost any CPU-bound thread imposes):"
    )
    rows: list[tuple[str, Callable[[], None] | None]] = [
        ("idle", None),
        ("busy thread", lambda: _spin(time.perf_counter() + 0.05)),
    ]
    for name in ("realistic (Arena-Hard)", "<think> unclosed", "verdict lines", "GRADE tokens"):
        text = SHAPES[name](1_000_000)
        rows.append((f"parsing 1 MB {name}", lambda text=text: _parse(text)))
    for label, work in rows:
        worst, p99, runs = stall(work, args.stall_seconds)
        extra = f" ({runs} parses)" if label.startswith("parsing") else ""
        print(f"  {label:40} max {worst:6.1f} ms   p99 {p99:5.1f} ms{extra}", flush=True)


if __name__ == "__main__":
    main()
