"""Keeps litellm's unconditional prints out of stdout during judgeguard's own calls.

litellm prints a "Give Feedback / Get Help" banner to stdout on every failed call
(``litellm_core_utils/exception_mapping_utils.py``) and a "Provider List" banner for a
model without a provider (``litellm_core_utils/get_llm_provider_logic.py``); the only
switch is the process-wide ``litellm.suppress_debug_info``, which a user may rely on.
Instead, those two modules get a ``print`` of their own that drops stdout output while a
judgeguard call is running (a context variable, so it follows the call into its tasks
and executor threads) and is the builtin ``print`` for everybody else's calls. Prints
the user opted into (``litellm.set_verbose``, ``LITELLM_PRINT_STANDARD_LOGGING_PAYLOAD``)
are left alone.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import sys
from collections.abc import Awaitable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

__all__ = ["PRINT_SITES", "install", "quiet", "quietly"]

T = TypeVar("T")

#: litellm modules that print to stdout on a failed call, whatever the user configured.
PRINT_SITES = (
    "litellm.litellm_core_utils.exception_mapping_utils",
    "litellm.litellm_core_utils.get_llm_provider_logic",
)

_QUIET: ContextVar[bool] = ContextVar("judgeguard_quiet_litellm", default=False)
_installed = False


def _print(*args: Any, **kwargs: Any) -> None:
    """``print``, except to stdout while a judgeguard call runs."""
    target = kwargs.get("file")
    if _QUIET.get() and (target is None or target is sys.stdout):
        return
    builtins.print(*args, **kwargs)


def install() -> None:
    """Give litellm's print sites the filtering ``print`` (once; after litellm's import)."""
    global _installed
    if _installed:
        return
    for name in PRINT_SITES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # another litellm layout: nothing to filter there
            continue
        module.print = _print  # type: ignore[attr-defined]
    _installed = True


async def quietly(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` (a litellm call of ours) with litellm's stdout prints dropped."""
    token = _QUIET.set(True)
    try:
        return await awaitable
    finally:
        _QUIET.reset(token)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Run synchronous litellm helpers of ours (model-info lookups) with its stdout prints
    dropped."""
    token = _QUIET.set(True)
    try:
        yield
    finally:
        _QUIET.reset(token)
