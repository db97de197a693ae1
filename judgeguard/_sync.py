"""Running a coroutine to completion from sync code, also inside a running event loop;
awaiting with a deadline, or several at once."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

__all__ = ["each", "run_sync", "within"]

T = TypeVar("T")

_timeout: Any = getattr(asyncio, "timeout", None)  # Python 3.11+


async def each(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """The results of ``awaitables`` in order: several run concurrently (``gather``), a
    single one is awaited directly (no task: an ensemble of one is the common case)."""
    pending = list(awaitables)
    if len(pending) == 1:
        return [await pending[0]]
    return list(await asyncio.gather(*pending))


async def within(awaitable: Awaitable[T], timeout: float | None) -> T:
    """``await awaitable``, raising ``asyncio.TimeoutError`` once ``timeout`` seconds have
    passed (``None``: no deadline). On Python 3.11+ it runs in the caller's task
    (``asyncio.timeout``): ``asyncio.wait_for`` makes an extra task per call, a
    measurable cost on a path taken for every check."""
    if timeout is None:
        return await awaitable
    if _timeout is not None:
        async with _timeout(timeout):
            return await awaitable
    return await asyncio.wait_for(awaitable, timeout)  # pragma: no cover - Python 3.10


def run_sync(factory: Callable[[], Awaitable[T]], name: str = "judgeguard-sync") -> T:
    """Run ``factory()`` to completion and return its result (or raise its exception).

    Without a running event loop in this thread it is ``asyncio.run``; inside one (a
    notebook, an async app calling a sync API) it runs on a helper thread named ``name``,
    in a copy of the caller's context (the current span carries over), while the caller
    waits.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        running = False
    else:
        running = True
    if not running:  # outside the except block: errors raised in there must not be
        # chained to "no running event loop"
        return asyncio.run(factory())  # type: ignore[arg-type]
    box: dict[str, Any] = {}

    def runner() -> None:
        try:
            box["value"] = asyncio.run(factory())  # type: ignore[arg-type]
        except BaseException as exc:  # re-raised below, in the caller's thread
            box["error"] = exc

    ctx = contextvars.copy_context()
    thread = threading.Thread(target=ctx.run, args=(runner,), name=name)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]
