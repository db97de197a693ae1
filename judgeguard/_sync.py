"""Running a coroutine to completion from sync code, also inside a running event loop."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")


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
