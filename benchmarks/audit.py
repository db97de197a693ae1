"""Audit throughput (cold vs warm) against a loopback MetaJudge, and memory vs file size.

Run: python benchmarks/audit.py [--lines 10000] [--concurrency 256] [--latency 0.05]

In one run, against one loopback OpenAI-compatible server in its own process (as a
remote provider: its CPU is not the client's) with ``--latency`` per request:
(1) a bare aiohttp client posting the same requests at the same concurrency (the
physical reference) and bare ``litellm.acompletion`` (``--bare-calls`` calls each);
(2) a cold audit of N judgments (empty cache) in one process, through the MetaJudge's
default transport (the aiohttp fast path for ``openai/…``), process start included, with
its ratio to both, and the same without the disk cache; (3) a warm rerun (everything
cached); (4) the cold audit with ``--workers``; (5) peak memory (max RSS of a fresh
process) of an audit without a MetaJudge over N and 10×N lines. The audits run as the
CLI does, in fresh processes.
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

sys.path.insert(0, str(ROOT / "benchmarks"))
from transports import bare_aiohttp, loopback_process  # noqa: E402

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


async def _bare_litellm(base_url: str, n: int, concurrency: int) -> float:
    """Wall seconds of ``n`` bare ``litellm.acompletion`` calls at ``concurrency``."""
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
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--bare-calls", type=int, default=3000, help="calls per bare client")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    print(
        f"loopback server in its own process, {args.latency * 1000:.0f} ms latency, "
        f"concurrency {args.concurrency}, {os.cpu_count()} CPUs shared with other work"
    )
    with tempfile.TemporaryDirectory() as tmp, loopback_process(args.latency) as base_url:
        log = Path(tmp) / "log.jsonl"
        write_log(log, args.lines)
        env = {
            **os.environ,
            "OPENAI_API_BASE": base_url,
            "OPENAI_API_KEY": "k",
            "JUDGEGUARD_CACHE_DIR": str(Path(tmp) / "cache"),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        }
        n = args.bare_calls
        asyncio.run(bare_aiohttp(base_url, min(n, 300), args.concurrency))  # warm up
        wall, cpu = asyncio.run(bare_aiohttp(base_url, n, args.concurrency))
        aio_rate = n / wall
        print(
            f"bare aiohttp:             {n} calls in {wall:.1f} s = {aio_rate:.0f} calls/s "
            f"(CPU {cpu / n * 1e6:.0f} µs/call)"
        )
        asyncio.run(_bare_litellm(base_url, min(n, 300), args.concurrency))  # warm up
        bare = asyncio.run(_bare_litellm(base_url, n, args.concurrency))
        bare_rate = n / bare
        print(f"bare litellm.acompletion: {n} calls in {bare:.1f} s = {bare_rate:.0f} calls/s")
        common = [
            str(log),
            "--metajudge",
            "openai/judge-test",
            "--concurrency",
            str(args.concurrency),
        ]
        cold, out = run_cli(common, env)
        report = json.loads(out)
        rc = report["overall"]["rc"]
        rate = args.lines / cold
        print(
            f"cold audit, one process (fast path): {args.lines} lines in {cold:.1f} s = "
            f"{rate:.0f} lines/s (RC {rc}; process start included); "
            f"{rate / aio_rate:.1%} of bare aiohttp (target >= 25%), "
            f"{rate / bare_rate:.1f}x bare litellm (target >= 4x)"
        )
        nocache, _ = run_cli([*common, "--no-cache"], env)
        rate_nc = args.lines / nocache
        print(
            f"cold audit, one process, --no-cache: {rate_nc:.0f} lines/s; "
            f"{rate_nc / aio_rate:.1%} of bare aiohttp, {rate_nc / bare_rate:.1f}x bare litellm "
            f"(the disk cache's writes are the rest of the difference)"
        )
        warm, _ = run_cli(common, env)
        print(
            f"warm audit: {args.lines} lines in {warm:.2f} s = {args.lines / warm:.0f} "
            f"lines/s; cold/warm = {cold / warm:.0f}x"
        )
        env_w = {**env, "JUDGEGUARD_CACHE_DIR": str(Path(tmp) / "cache-workers")}
        cold_w, _ = run_cli([*common, "--workers", str(args.workers)], env_w)
        rate_w = args.lines / cold_w
        print(
            f"cold audit, --workers {args.workers}: {rate_w:.0f} lines/s total; "
            f"{rate_w / aio_rate:.1%} of bare aiohttp, {rate_w / bare_rate:.1f}x bare litellm"
        )
        if args.skip_memory:
            return
        big = Path(tmp) / "big.jsonl"
        write_log(big, args.lines * 10)
        small_env = {**env, "JUDGEGUARD_CACHE_DIR": str(Path(tmp) / "cache-mem")}
        for path, lines in ((log, args.lines), (big, args.lines * 10)):
            rss = peak_rss_mb([str(path), "--no-cache"], small_env)
            print(f"peak memory, no MetaJudge, {lines} lines: {rss:.0f} MB (VmHWM)")


if __name__ == "__main__":
    main()
