"""Gated rewards per second for a batch, through ``jg.reward_fn`` and ``judgeguard serve``.

Run: python benchmarks/rewards.py [--batch 1024] [--latency 0.05] [--concurrency 64] [--no-server]

Each completion costs two LLM calls (the judge, a ``jg.LLMJudge`` with the ``reference``
preset, and the MetaJudge), both on a loopback OpenAI-compatible server in its own process
answering after ``--latency`` seconds, through the MetaJudge transport in use (``openai/``
models take the fast OpenAI-compatible path; ``JUDGEGUARD_TRANSPORT=litellm`` forces
litellm). The cache is off (every completion is unique anyway) so every figure is real
calls. A warm-up batch of 32 runs first.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from loopback import loopback_process
from reward_helpers import JUDGE_MODEL, responder

import judgeguard as jg


def batch(n: int, tag: str) -> tuple[list[str], list[str], list[str]]:
    """(prompts, completions, references): ``n`` unique samples."""
    prompts = [f"{tag} question {i}: what is {i} + {i}?" for i in range(n)]
    completions = [
        f"{tag} It is {2 * i}. support=0.{i % 9 + 1} verdict={'pass' if i % 4 else 'fail'}"
        for i in range(n)
    ]
    return prompts, completions, [str(2 * i) for i in range(n)]


def options(base_url: str) -> dict[str, object]:
    return {"api_base": base_url, "api_key": "k", "retries": 0, "timeout": 30}


def through_reward_fn(base_url: str, n: int, concurrency: int) -> float:
    judge = jg.LLMJudge(f"openai/{JUDGE_MODEL}", prompt="reference", **options(base_url))
    mj = jg.MetaJudge("openai/judge-test", **options(base_url))  # type: ignore[arg-type]
    fn = jg.reward_fn(judge, metajudge=mj, cache=False, concurrency=concurrency)
    p, c, r = batch(32, "warm")
    fn(p, c, reference=r)
    p, c, r = batch(n, "timed")
    start, cpu = time.perf_counter(), time.process_time()
    rewards = fn(p, c, reference=r)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    failed = sum(x is None for x in rewards)
    print(
        f"reward_fn: {n} gated rewards in {seconds:.2f} s = {n / seconds:.0f} rewards/s "
        f"(concurrency {concurrency}, {failed} failed, "
        f"mean R_rationale {fn.last_batch.mean_r_rationale:.3f}); this process's CPU: "
        f"{cpu / n * 1000:.1f} ms per reward, a ceiling of {n / cpu:.0f} rewards/s per core"
    )
    return n / seconds


def _post(url: str, body: dict[str, object]) -> dict[str, list[float]]:
    req = urllib.request.Request(
        url + "/get_reward", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=600) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def through_server(base_url: str, n: int, concurrency: int) -> float:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    opts = [f"{k}={v}" for k, v in options(base_url).items()]
    cmd = [
        sys.executable, "-m", "judgeguard", "serve", "--port", str(port), "--no-cache",
        "--judge-model", f"openai/{JUDGE_MODEL}", "--judge-prompt", "reference",
        *[a for o in opts for a in ("--judge-option", o)],
        "--metajudge", "openai/judge-test",
        *[a for o in opts for a in ("--metajudge-option", o)],
        "--concurrency", str(concurrency),
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/health", timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        p, c, r = batch(32, "warm")
        _post(url, {"query": [a + b for a, b in zip(p, c, strict=True)], "prompts": p, "labels": r})
        p, c, r = batch(n, "timed")
        body = {"query": [a + b for a, b in zip(p, c, strict=True)], "prompts": p, "labels": r}
        start = time.perf_counter()
        out = _post(url, body)
        seconds = time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(30)
    print(
        f"judgeguard serve: {len(out['rewards'])} gated rewards in {seconds:.2f} s = "
        f"{n / seconds:.0f} rewards/s (one POST /get_reward, concurrency {concurrency})"
    )
    return n / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--no-server", action="store_true", help="skip judgeguard serve")
    args = parser.parse_args()
    print(
        f"batch {args.batch}, 2 LLM calls per completion (judge + MetaJudge), transport "
        f"{os.environ.get('JUDGEGUARD_TRANSPORT', 'auto')}, "
        f"loopback server in its own process at {args.latency * 1000:.0f} ms latency, "
        f"{os.cpu_count()} CPUs"
    )
    with loopback_process(responder, args.latency) as base_url:
        through_reward_fn(base_url, args.batch, args.concurrency)
        if not args.no_server:
            through_server(base_url, args.batch, args.concurrency)


if __name__ == "__main__":
    main()
