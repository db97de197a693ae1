"""HTTP clients for OpenAI-compatible MetaJudge calls, side by side (issue 13 item 1).

Run: python benchmarks/transports.py [--calls 5000] [--concurrency 256] [--latency 0.05]

Each candidate posts the same chat-completions request (the size of a MetaJudge support
check) ``--calls`` times at ``--concurrency`` to a loopback OpenAI-compatible server in
its own process (``--latency`` per request, as a remote provider has), and parses the
JSON answer. Printed per candidate: calls/s (wall) and CPU per call in this process.
Candidates: bare aiohttp (one ``ClientSession``), ``httpx.AsyncClient``, the openai SDK's
``AsyncOpenAI``, ``litellm.acompletion`` (its default ``openai/`` route and its
aiohttp-based ``aiohttp_openai/`` route), and judgeguard's own fast path
(:mod:`judgeguard.metajudge.transport`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import loopback  # noqa: E402

SUPPORT = json.dumps(
    {
        "probabilities": {"A>>B": 0.05, "A>B": 0.6, "A=B": 0.15, "B>A": 0.15, "B>>A": 0.05},
        "explanation": "A's fix is correct.",
        "unsupported_claims": [],
    }
)
PROMPT = "Assistant A fixes the off-by-one error and adds a test. " * 30  # ~1.7 KB


def messages(i: int) -> list[dict[str, str]]:
    """The request's messages (a system prompt and a ~1.7 KB user message)."""
    return [
        {"role": "system", "content": "You check whether a rationale supports a verdict."},
        {"role": "user", "content": f"case {i}: {PROMPT}"},
    ]


def _support(body: dict[str, Any]) -> str:
    return SUPPORT


@contextlib.contextmanager
def loopback_process(latency: float) -> Iterator[str]:
    """A loopback OpenAI-compatible server in a child process; yields its ``/v1`` base URL."""
    with loopback.loopback_process(_support, latency) as base_url:
        yield f"{base_url}/v1"


async def _drive(
    one: Callable[[int], Awaitable[Any]], calls: int, concurrency: int
) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of ``calls`` calls of ``one`` at ``concurrency``."""
    sem = asyncio.Semaphore(concurrency)
    failures = 0

    async def bounded(i: int) -> None:
        nonlocal failures
        async with sem:
            try:
                await one(i)
            except Exception:
                failures += 1

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(bounded(i) for i in range(calls)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if failures:
        print(f"  ({failures} of {calls} calls failed)")
    return wall, cpu


async def bare_aiohttp(base_url: str, calls: int, concurrency: int) -> tuple[float, float]:
    """One aiohttp ``ClientSession`` (keep-alive pool of ``concurrency`` connections)."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        url = f"{base_url}/chat/completions"
        headers = {"Authorization": "Bearer k"}

        async def one(i: int) -> str:
            body = {"model": "judge-test", "messages": messages(i)}
            async with session.post(url, json=body, headers=headers) as resp:
                data = json.loads(await resp.read())
            return str(data["choices"][0]["message"]["content"])

        return await _drive(one, calls, concurrency)


async def bare_httpx(base_url: str, calls: int, concurrency: int) -> tuple[float, float]:
    """``httpx.AsyncClient`` with a pool of ``concurrency`` connections."""
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        url = f"{base_url}/chat/completions"
        headers = {"Authorization": "Bearer k"}

        async def one(i: int) -> str:
            body = {"model": "judge-test", "messages": messages(i)}
            resp = await client.post(url, json=body, headers=headers)
            return str(resp.json()["choices"][0]["message"]["content"])

        return await _drive(one, calls, concurrency)


async def bare_openai(base_url: str, calls: int, concurrency: int) -> tuple[float, float]:
    """The openai SDK's ``AsyncOpenAI`` (httpx underneath), retries off."""
    import httpx
    from openai import AsyncOpenAI

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    client = AsyncOpenAI(
        base_url=base_url,
        api_key="k",
        max_retries=0,
        http_client=httpx.AsyncClient(limits=limits, timeout=60),
    )

    async def one(i: int) -> str:
        resp = await client.chat.completions.create(model="judge-test", messages=messages(i))  # type: ignore[arg-type]
        return str(resp.choices[0].message.content)

    try:
        return await _drive(one, calls, concurrency)
    finally:
        await client.close()


async def _litellm(model: str, base_url: str, calls: int, concurrency: int) -> tuple[float, float]:
    """``litellm.acompletion`` on ``model`` (its logging left as is)."""
    from judgeguard.metajudge.client import import_litellm

    litellm = import_litellm()

    async def one(i: int) -> str:
        resp = await litellm.acompletion(
            model=model,
            api_base=base_url,
            api_key="k",
            num_retries=0,
            messages=messages(i),
        )
        return str(resp.choices[0].message.content)

    return await _drive(one, calls, concurrency)


async def bare_litellm(base_url: str, calls: int, concurrency: int) -> tuple[float, float]:
    """``litellm.acompletion`` as judgeguard called it before the fast path."""
    return await _litellm("openai/judge-test", base_url, calls, concurrency)


async def litellm_aiohttp_route(base_url: str, calls: int, concurrency: int) -> tuple[float, float]:
    """litellm's own aiohttp-based route (``aiohttp_openai/``), its logging left as is."""
    return await _litellm("aiohttp_openai/judge-test", base_url, calls, concurrency)


async def fast_path(base_url: str, calls: int, concurrency: int) -> tuple[float, float]:
    """judgeguard's ``acall`` on the fast path (spans, retries, usage, cost included)."""
    from judgeguard.metajudge.client import RetryPolicy, acall

    kwargs = {"api_base": base_url, "api_key": "k"}

    async def one(i: int) -> str:
        result = await acall(
            "openai/judge-test", messages(i), kwargs, policy=RetryPolicy(0), timeout=60.0
        )
        return result.text

    return await _drive(one, calls, concurrency)


#: litellm candidates last: litellm leaves logging tasks behind that cost later candidates
CANDIDATES: dict[str, Callable[[str, int, int], Awaitable[tuple[float, float]]]] = {
    "bare aiohttp": bare_aiohttp,
    "judgeguard fast path (acall)": fast_path,
    "httpx.AsyncClient": bare_httpx,
    "openai AsyncOpenAI": bare_openai,
    "litellm.acompletion": bare_litellm,
    "litellm aiohttp_openai/ route": litellm_aiohttp_route,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--only", nargs="*", help="candidate names (substring match)")
    args = ap.parse_args()
    print(
        f"{args.calls} calls at concurrency {args.concurrency}, loopback server in its own "
        f"process with {args.latency * 1000:.0f} ms latency, {os.cpu_count()} CPUs (shared)"
    )
    with loopback_process(args.latency) as base_url:
        for name, run in CANDIDATES.items():
            if args.only and not any(o.lower() in name.lower() for o in args.only):
                continue
            asyncio.run(run(base_url, min(args.calls, 300), args.concurrency))  # warm up
            wall, cpu = asyncio.run(run(base_url, args.calls, args.concurrency))
            print(
                f"{name:30s} {args.calls / wall:7.0f} calls/s   "
                f"CPU/call {cpu / args.calls * 1e6:7.0f} µs   (wall {wall:.2f} s)"
            )


if __name__ == "__main__":
    main()
