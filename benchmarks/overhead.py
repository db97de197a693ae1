"""What the guard costs a judge call in background mode.

Run: python benchmarks/overhead.py [--calls N] [--wall-only] [--pin] [--sink NAME=URL ...]

1. Added CPU per call in the caller's thread (``time.thread_time``) for a judge that
   returns a 2 KB Arena-Hard output at once: guarded minus bare, median over N calls;
   without a telemetry provider (target ≤ 50 µs) and with the OTel SDK configured
   (in-memory exporter). The background CPU per call in this process is printed beside
   it: the parse and the check run there, off the caller's path (with
   ``offload="process"`` only the hand-off does: the parse runs in the worker process).
2. Wall time of a judge that calls a loopback OpenAI-compatible server with 20 ms
   latency (in its own process, as a real provider would be), guarded / bare (target
   ratio ≤ 1.02): background checks without and with a MetaJudge (on the same server),
   in the dispatcher thread (default) and with ``offload="process"``. ``--pin`` gives
   the server a CPU of its own (as a remote provider has) and leaves the others to the
   judge, the guard and its check worker; without it all share every CPU.

``--sink phoenix=http://127.0.0.1:6006`` (or ``mlflow=URI``; repeatable) adds the sinks as
``on_result`` of every guarded judge: they must add nothing to the caller (they post from
their own thread). Their counts are printed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import loopback

import judgeguard as jg

ARENA = (
    Path(__file__).resolve().parent.parent
    / "tests"
    / "fixtures"
    / "judge_outputs"
    / "arena_hard_b_much_better.txt"
).read_text(encoding="utf-8")[:2048]
ARENA = ARENA.rsplit("\n", 1)[0] + "\n\nMy final verdict is: [[B>>A]]"
SUPPORT = json.dumps(
    {
        "probabilities": {"A>>B": 0, "A>B": 0.1, "A=B": 0.1, "B>A": 0.3, "B>>A": 0.5},
        "explanation": "ok",
        "unsupported_claims": [],
    }
)


def _cpu_per_call(fn, calls: int) -> tuple[list[float], float]:
    samples = []
    p0 = time.process_time()
    for _ in range(calls):
        t = time.thread_time()
        fn()
        samples.append(time.thread_time() - t)
    jg.flush()  # the background work belongs to these calls too
    return samples, time.process_time() - p0


#: the sinks given with --sink: on_result of every guarded judge
SINKS: list[Any] = []


def added_cpu(calls: int, label: str, telemetry: object | None, offload: str = "thread") -> None:
    def bare() -> str:
        return ARENA

    guarded = jg.guard(
        bare, cache=False, telemetry=telemetry, offload=offload, on_result=SINKS or None
    )
    for _ in range(200):  # warm up: imports, first parse, dispatcher thread
        guarded()
    jg.flush()
    bare_s, _ = _cpu_per_call(bare, calls)
    g_s, g_proc = _cpu_per_call(guarded, calls)
    jg.flush()
    added = statistics.median(g_s) - statistics.median(bare_s)
    caller_total = sum(g_s)
    background = max(0.0, g_proc - caller_total) / calls
    print(
        f"[{label}] added CPU in the caller, median: {added * 1e6:8.1f} µs   "
        f"p90 {(sorted(g_s)[int(calls * 0.9)] - statistics.median(bare_s)) * 1e6:8.1f} µs   "
        f"background CPU per call: {background * 1e6:8.1f} µs   (n={calls})"
    )


def _respond(body: dict[str, Any]) -> str:
    return SUPPORT if body["model"] == "metajudge" else "x"


@contextlib.contextmanager
def loopback_process(latency: float, cpus: set[int] | None = None) -> Iterator[str]:
    """The loopback server (MetaJudge answers for model ``metajudge``) in its own process
    (on ``cpus`` when given); yields its base URL."""
    with loopback.loopback_process(_respond, latency, cpus) as base_url:
        yield base_url


def wall_ratio(calls: int, rounds: int, pin: bool) -> None:
    server_cpus = None
    if pin and hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2:
        # a remote provider's CPU is not ours: give the server a core of its own
        first, *rest = sorted(os.sched_getaffinity(0))
        server_cpus = {first}
        os.sched_setaffinity(0, set(rest))  # this process, and the check worker it starts
        print(f"loopback server on CPU {first}; judge, guard and check worker on {rest}")
    with loopback_process(latency=0.020, cpus=server_cpus) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port)

        def judge() -> str:
            body = json.dumps({"model": "judge", "messages": [{"role": "user", "content": "x"}]})
            conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
            conn.getresponse().read()
            return ARENA

        mj = jg.MetaJudge("openai/metajudge", api_base=f"{base_url}/v1", api_key="k", retries=0)
        sinks = SINKS or None
        variants = {
            "guard, no MetaJudge (parse + dispatch only)": jg.guard(
                judge, cache=False, on_result=sinks
            ),
            "guard + MetaJudge (background thread)": jg.guard(
                judge, metajudge=mj, cache=False, on_result=sinks
            ),
            "guard, no MetaJudge, offload='process'": jg.guard(
                judge, cache=False, offload="process", on_result=sinks
            ),
            "guard + MetaJudge, offload='process'": jg.guard(
                judge, metajudge=mj, cache=False, offload="process", on_result=sinks
            ),
        }
        for label, guarded in variants.items():
            for _ in range(10):
                judge()
                guarded()
            jg.flush()  # the first offloaded check waits for the worker to start
            ratios = []
            for _ in range(rounds):  # interleave bare and guarded rounds to cancel drift
                t = time.perf_counter()
                for _ in range(calls):
                    judge()
                bare = time.perf_counter() - t
                t = time.perf_counter()
                for _ in range(calls):
                    guarded()
                ratios.append((time.perf_counter() - t) / bare)
                jg.flush()
            print(
                f"[loopback 20 ms] {label}: wall time guarded/bare, median ratio "
                f"{statistics.median(ratios):.4f} over {rounds} rounds of {calls} calls "
                f"(ratios {', '.join(f'{r:.4f}' for r in ratios)})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--wall-calls", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--wall-only", action="store_true", help="skip the CPU figures")
    parser.add_argument("--cpu-only", action="store_true", help="skip the wall-time figures")
    parser.add_argument(
        "--pin", action="store_true", help="run the loopback server on a CPU of its own"
    )
    parser.add_argument(
        "--sink",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="also post every check to this sink (phoenix=URL, mlflow=URI); repeatable",
    )
    args = parser.parse_args()
    print(f"judge output: {len(ARENA)} characters (Arena-Hard format)")
    if args.sink:
        from judgeguard.sinks import from_spec

        SINKS.extend(from_spec(spec) for spec in args.sink)
        print(f"sinks: {', '.join(args.sink)}")
    try:
        _run(args)
    finally:
        for sink in SINKS:
            left = sink.close(60)
            print(f"sink {sink.name}: {dict(sink.counts)}, {left} not posted at close")


def _run(args: argparse.Namespace) -> None:
    if args.wall_only:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["JUDGEGUARD_CACHE_DIR"] = tmp
            wall_ratio(args.wall_calls, args.rounds, args.pin)
        return
    added_cpu(args.calls, "no telemetry provider", None)
    added_cpu(args.calls, "no telemetry provider, offload='process'", None, "process")

    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from judgeguard.telemetry import Telemetry

    for label, processor in (
        ("OTel SDK, in-memory exporter (simple processor)", SimpleSpanProcessor),
        ("OTel SDK, batch span processor", BatchSpanProcessor),
    ):
        tp = TracerProvider()
        tp.add_span_processor(processor(InMemorySpanExporter()))
        meters = MeterProvider(metric_readers=[InMemoryMetricReader()])
        added_cpu(args.calls, label, Telemetry(tracer_provider=tp, meter_provider=meters))
        tp.shutdown()
    if args.cpu_only:
        return
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["JUDGEGUARD_CACHE_DIR"] = tmp
        wall_ratio(args.wall_calls, args.rounds, args.pin)


if __name__ == "__main__":
    main()
