"""The audit on Ray Data against the local audit, on this machine.

Run: python benchmarks/audit_ray.py [--lines 100000] [--mj-lines 10000] [--latency 0.05]

Needs judgeguard-ray (``pip install -e integrations/ray``). Starts one local Ray head node
(``ray start --head``, all CPUs, its own temporary directory; stopped by pid at the end,
whatever happens) so that the cluster's start-up is measured once, apart from the audits,
and runs each audit as the CLI does, in a fresh process:

1. ``--lines`` judgments without a MetaJudge (parse, accuracy, swap agreement): the local
   audit with ``--workers 2`` against ``--ray ADDRESS``; lines/s, process start included;
2. ``--mj-lines`` judgments with the loopback MetaJudge (its own process, ``--latency`` per
   request): local ``--workers 2`` against ``--ray``, each with a fresh cache;
3. peak memory of the Ray audit's driver process (VmHWM) over N/10 and N lines: flat in
   the number of lines (the rows stay in the cluster; only per-batch partial sums reach the
   driver).
Both audits print the same --json summary; the script checks that they match.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from audit import write_log  # noqa: E402
from transports import loopback_process  # noqa: E402

PEAK = (
    "import sys; from judgeguard.cli import main; code = main(sys.argv[1:]); "
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]; "
    "print('PEAK', int(hwm.split()[1]) / 1024, file=sys.stderr); sys.exit(code)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(args: list[str], env: dict[str, str]) -> tuple[float, dict, float]:
    """(wall seconds, --json summary, peak driver MB) of one CLI audit."""
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", PEAK, "audit", *args, "--no-progress", "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"audit failed ({proc.returncode}): {proc.stderr[-3000:]}")
    peak = float(next(x for x in proc.stderr.splitlines() if x.startswith("PEAK")).split()[1])
    return wall, json.loads(proc.stdout), peak


def cluster_pids(mark: str) -> set[int]:
    roots, children = set(), {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            if mark in Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace"):
                roots.add(int(entry))
            stat = Path(f"/proc/{entry}/stat").read_text()
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    out, todo = set(roots), list(roots)
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out - {os.getpid()}


@contextlib.contextmanager
def head_node(env: dict[str, str]):
    temp = tempfile.mkdtemp(prefix="jgbench", dir="/tmp")
    port = free_port()
    t = time.perf_counter()
    try:
        subprocess.run(
            [str(Path(sys.executable).with_name("ray")), "start", "--head",
             "--node-ip-address", "127.0.0.1", "--port", str(port), "--temp-dir", temp,
             "--include-dashboard", "false", "--dashboard-port", str(free_port()),
             "--disable-usage-stats", "--object-store-memory", str(512 * 2**20)],
            check=True, env=env, capture_output=True, timeout=180,
        )  # fmt: skip
        print(f"ray start --head: {time.perf_counter() - t:.1f} s (once; not in the figures)")
        yield f"127.0.0.1:{port}"
    finally:
        for _ in range(3):
            pids = cluster_pids(temp)
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            if not pids:
                break
            time.sleep(0.5)
        subprocess.run(["rm", "-rf", temp], check=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--mj-lines", type=int, default=10_000)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=128, help="per process / per actor")
    ap.add_argument("--actors", type=int, default=2)
    ap.add_argument("--skip-plain", action="store_true", help="only the MetaJudge part")
    args = ap.parse_args()
    print(f"{os.cpu_count()} CPUs shared with other work; loopback MetaJudge {args.latency}s")
    base_env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "disabled",
        "OPENAI_API_KEY": "k",
    }
    with tempfile.TemporaryDirectory() as tmp, head_node(base_env) as address:
        tmp_path = Path(tmp)
        big = tmp_path / "big.jsonl"
        write_log(big, args.lines)
        small = tmp_path / "small.jsonl"
        write_log(small, args.lines // 10)
        env = {**base_env, "JUDGEGUARD_CACHE_DIR": str(tmp_path / "cache0")}
        ray_args = ["--ray", address, "--actors", str(args.actors)]
        if not args.skip_plain:
            plain(args, big, small, env, ray_args)
        mj = tmp_path / "mj.jsonl"
        write_log(mj, args.mj_lines)
        with loopback_process(args.latency) as base_url:
            mj_args = [
                str(mj),
                "--metajudge",
                "openai/judge-test",
                "--concurrency",
                str(args.concurrency),
            ]
            env_l = {
                **env,
                "OPENAI_API_BASE": base_url,
                "JUDGEGUARD_CACHE_DIR": str(tmp_path / "c1"),
            }
            env_r = {**env_l, "JUDGEGUARD_CACHE_DIR": str(tmp_path / "c2")}
            wall_l, local, _ = run([*mj_args, "--workers", "2"], env_l)
            wall_r, ours, peak = run([*mj_args, *ray_args], env_r)
            print(
                f"loopback MetaJudge ({args.latency * 1000:.0f} ms), {args.mj_lines} lines, "
                f"concurrency {args.concurrency} per process/actor: local --workers 2 "
                f"{wall_l:.1f} s = {args.mj_lines / wall_l:,.0f} lines/s; Ray "
                f"({args.actors} actors) {wall_r:.1f} s = {args.mj_lines / wall_r:,.0f} "
                f"lines/s (driver peak {peak:.0f} MB); {same(ours, local)}"
            )


def same(ours: dict, local: dict) -> str:
    """Whether two --json summaries match; else what differs (e.g. timeouts under load)."""
    if ours == local:
        return "same summary"
    return f"summaries DIFFER: Ray {ours['overall']} vs local {local['overall']}"


def plain(args, big, small, env, ray_args) -> None:
    """The audit without a MetaJudge, and the Ray driver's peak memory at N/10 and N lines."""
    wall_l, local, peak_l = run([str(big), "--workers", "2", "--no-cache"], env)
    wall_r, ours, peak_r = run([str(big), "--no-cache", *ray_args], env)
    print(
        f"no MetaJudge, {args.lines} lines: local --workers 2 {wall_l:.1f} s = "
        f"{args.lines / wall_l:,.0f} lines/s (peak {peak_l:.0f} MB); Ray "
        f"{wall_r:.1f} s = {args.lines / wall_r:,.0f} lines/s (driver peak "
        f"{peak_r:.0f} MB); {same(ours, local)}"
    )
    _, _, peak_s = run([str(small), "--no-cache", *ray_args], env)
    print(
        f"Ray driver peak memory: {args.lines // 10} lines {peak_s:.0f} MB, "
        f"{args.lines} lines {peak_r:.0f} MB"
    )


if __name__ == "__main__":
    main()
