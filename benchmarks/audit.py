"""Audit throughput (cold vs warm) against a loopback MetaJudge, and memory vs file size.

Run: python benchmarks/audit.py [--lines 10000] [--concurrency 64] [--latency 0.05]

In one run: (1) bare ``litellm.acompletion`` calls at the given concurrency against the
loopback server (litellm's own per-call CPU is the ceiling of one process), (2) a cold
audit of N judgments (empty cache), (3) a warm rerun (everything cached), and (4) peak
memory (max RSS of a fresh process) of an audit without a MetaJudge over N and 10×N
lines. The audits run as the CLI does, in fresh processes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from loopback import LoopbackLLM  # noqa: E402

SUPPORT = json.dumps(
    {
        "probabilities": {"A>>B": 0.05, "A>B": 0.6, "A=B": 0.15, "B>A": 0.15, "B>>A": 0.05},
        "explanation": "A's fix is correct.",
        "unsupported_claims": [],
    }
)


def write_log(path: Path, n: int) -> None:
    with path.open("w") as f:
        for i in range(n):
            text = (
                f"Case {i}: Assistant A fixes the off-by-one error in line {i % 97} and "
                f"adds a test; Assistant B only renames variables.\n\nMy final verdict "
                f"is: [[A>B]]"
            )
            f.write(
                json.dumps(
                    {
                        "id": i,
                        "judge": f"judge-{(i // 2) % 4}",
                        "label": "A>B",
                        "pair_id": f"p{i // 2}",
                        "swapped": bool(i % 2),
                        "output": text,
                    }
                )
                + "\n"
            )


async def _bare(base_url: str, n: int, concurrency: int) -> float:
    import litellm

    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            await litellm.acompletion(
                model="openai/judge-test",
                api_base=base_url,
                api_key="k",
                num_retries=0,
                messages=[{"role": "user", "content": f"case {i}"}],
            )

    t = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - t


def run_cli(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "judgeguard", "audit", *args, "--no-progress", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - t, proc.stdout


def peak_rss_mb(args: list[str], env: dict[str, str]) -> float:
    # VmHWM (peak RSS of this process image): ru_maxrss would carry over the parent's peak
    # across fork + exec on Linux
    code = (
        "import sys; from judgeguard.cli import main; main(sys.argv[1:]); "
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]; "
        "print(int(hwm.split()[1]) / 1024)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "audit", *args, "--no-progress", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lines", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.05)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LoopbackLLM(latency=args.latency) as server:
        server.responder = lambda body: SUPPORT
        log = Path(tmp) / "log.jsonl"
        write_log(log, args.lines)
        env = {
            **os.environ,
            "OPENAI_API_BASE": server.base_url,
            "OPENAI_API_KEY": "k",
            "JUDGEGUARD_CACHE_DIR": str(Path(tmp) / "cache"),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        }
        bare = asyncio.run(_bare(server.base_url, args.lines, args.concurrency))
        bare_rate = args.lines / bare
        print(
            f"bare litellm.acompletion: {args.lines} calls in {bare:.1f} s = "
            f"{bare_rate:.0f} calls/s (concurrency {args.concurrency}, latency "
            f"{args.latency * 1000:.0f} ms)"
        )
        common = [
            str(log),
            "--metajudge",
            "openai/judge-test",
            "--concurrency",
            str(args.concurrency),
        ]
        requests_before = len(server.requests)
        cold, out = run_cli(common, env)
        calls = len(server.requests) - requests_before
        rc = json.loads(out)["overall"]["rc"]
        print(
            f"cold audit: {args.lines} lines in {cold:.1f} s = {args.lines / cold:.0f} "
            f"lines/s ({calls} MetaJudge calls, RC {rc}); vs bare: "
            f"{args.lines / cold / bare_rate:.1%} (includes process start and litellm "
            f"import)"
        )
        warm, _ = run_cli(common, env)
        print(
            f"warm audit: {args.lines} lines in {warm:.2f} s = {args.lines / warm:.0f} "
            f"lines/s, {len(server.requests) - requests_before - calls} new calls; "
            f"cold/warm = {cold / warm:.0f}x"
        )
        workers = os.cpu_count() or 2
        env_w = {**env, "JUDGEGUARD_CACHE_DIR": str(Path(tmp) / "cache-workers")}
        before = len(server.requests)
        cold_w, _ = run_cli([*common, "--workers", str(workers)], env_w)
        print(
            f"cold audit, {workers} worker processes: {args.lines / cold_w:.0f} lines/s "
            f"total, {args.lines / cold_w / workers:.0f} lines/s per worker "
            f"({len(server.requests) - before} calls); vs bare (one process): "
            f"{args.lines / cold_w / bare_rate:.1%}"
        )
        big = Path(tmp) / "big.jsonl"
        write_log(big, args.lines * 10)
        small_env = {**env, "JUDGEGUARD_CACHE_DIR": str(Path(tmp) / "cache-mem")}
        for path, n in ((log, args.lines), (big, args.lines * 10)):
            rss = peak_rss_mb([str(path), "--no-cache"], small_env)
            print(f"peak memory, no MetaJudge, {n} lines: {rss:.0f} MB (VmHWM)")


if __name__ == "__main__":
    main()
