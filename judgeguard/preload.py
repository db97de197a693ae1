"""Imports the check path needs, made in the caller's thread before the first check runs.

Why: a module that one thread is still importing is visible, half-initialised, in
``sys.modules`` to every other thread. Libraries look modules up there (the openai SDK
reads ``sys.modules["httpx"]`` on every client it builds), so a background thread that
imports litellm (and with it httpx) while the user's judge uses the openai SDK can make the
*user's own* call fail with ``partially initialized module 'httpx' has no attribute ...``.
judgeguard therefore never imports on its own threads beside user code: whoever configures
a check (``jg.guard``, ``Checker``, the LangChain wrappers) calls :func:`preload` first, in
its own thread, and the dispatcher thread then only runs code that is fully imported.

The cost lands there, once per process: for a MetaJudge that goes through litellm,
importing litellm (about 1–3 s, the same as ``import litellm`` in your own script) and one
offline ``mock_response`` call through it, which imports the modules litellm loads lazily
on its first call; for one on the fast OpenAI-compatible path, aiohttp and one request to a
throwaway loopback server. ``offload="process"`` needs neither in your process, and
preloads only the hand-off to the worker.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

__all__ = ["preload"]

log = logging.getLogger("judgeguard")

#: judgeguard's own check path (pure Python, cheap): parsing, data model, the pipeline.
CORE_MODULES = (
    "judgeguard.parsing",
    "judgeguard.schema",
    "judgeguard.verdicts",
    "judgeguard.gating",
    "judgeguard.pipeline",
    "judgeguard.cache",
    "judgeguard.telemetry",
    "judgeguard.metajudge",
    "judgeguard.metajudge.client",
    "judgeguard.metajudge.requestkey",
    "judgeguard.metajudge.quiet",
    "judgeguard.metajudge.transport",
    "judgeguard.env",
    "judgeguard.scrub",
    "judgeguard.context",
    "judgeguard.env",
    "judgeguard.options",
)
#: The fast path's HTTP client (OpenAI-compatible MetaJudges) and what it loads lazily:
#: the IDNA codec (host names, in the resolver's thread), urllib's proxy rules.
FAST_MODULES = ("aiohttp", "encodings.idna", "urllib.request", "urllib.parse")
#: What the hand-off to the check worker process needs (``offload="process"``).
OFFLOAD_MODULES = ("judgeguard.offload", "subprocess", "multiprocessing.connection", "pickle")
#: Modules litellm imports lazily on its first real HTTP round trip or its first failed
#: call, which the offline ``mock_response`` call does not reach (found by
#: tests/test_guard_promises.py, which fails when the dispatcher thread imports anything).
LITELLM_LATE_MODULES = (
    "litellm.proxy.guardrails.exception_utils",  # the failure path, which then imports:
    "fastapi.exceptions",
    "litellm._service_logger",
    "litellm.integrations.prometheus_services",
    "litellm.types.integrations.prometheus",
    "litellm.proxy.spend_tracking.savings",
)

_lock = threading.Lock()
_done: set[str] = set()


def preload(
    *,
    litellm_models: Sequence[str] = (),
    offload: bool = False,
    cache: bool = False,
    options: Mapping[str, Any] | None = None,
) -> None:
    """Import what a check will need, in the calling thread (see the module docstring).

    ``litellm_models``: the models a MetaJudge calls in this process, with ``options``
    its keyword arguments: those on the fast path (:mod:`judgeguard.metajudge.transport`)
    import aiohttp and warm it with one request to a server of its own on 127.0.0.1; the
    others import litellm and warm each provider's call path with an offline
    ``mock_response`` call (skipped with ``offload``, where the worker process makes the
    calls); ``offload``: checks run in the worker process; ``cache``: the disk cache is
    on. Idempotent, and a set lookup after the first call per kind; failures are logged,
    never raised (the check reports them).
    """
    wanted: dict[str, Callable[[], None]] = {"core": lambda: _import_all(CORE_MODULES)}
    if offload:
        wanted["offload"] = lambda: _import_all(OFFLOAD_MODULES)
    else:
        from judgeguard.metajudge.transport import route

        for model in litellm_models:
            if route(model, options or {}) is not None:
                wanted.setdefault("fast", _warm_fast)
                continue
            wanted.setdefault(f"litellm:{_provider_route(model)}", partial(_warm_litellm, model))
    if cache:
        wanted["cache"] = lambda: _import_all(("diskcache", "sqlite3"))
    if _done.issuperset(wanted):
        return
    with _lock:
        for kind, load in wanted.items():
            if kind in _done:
                continue
            try:
                load()
            except Exception as exc:  # a check reports the real failure
                log.debug("judgeguard: preloading %s failed: %r", kind, exc)
            _done.add(kind)


def _provider_route(model: str) -> str:
    return model.split("/", 1)[0] if "/" in model else model


def _import_all(names: tuple[str, ...]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            log.debug("judgeguard: could not preload %s: %r", name, exc)


def _warm_litellm(model: str) -> None:
    from judgeguard.metajudge.client import import_litellm
    from judgeguard.metajudge.quiet import quiet

    litellm = import_litellm()
    with quiet():  # litellm prints banners (e.g. for an unknown provider) to stdout
        try:  # the provider's config class, which litellm loads lazily
            _, provider, _, _ = litellm.get_llm_provider(model)
            litellm.utils.ProviderConfigManager.get_provider_chat_config(
                model=model, provider=litellm.LlmProviders(provider)
            )
        except Exception as exc:  # an unknown provider fails in the check, with its reason
            log.debug("judgeguard: no provider config for %s: %r", model, exc)
        response: Any = litellm.completion(
            model=model,
            messages=[{"role": "user", "content": "judgeguard preload"}],
            mock_response='{"ok": true}',
            api_key="preload",
        )
        del response
    _import_all(LITELLM_LATE_MODULES)


def _warm_fast() -> None:
    """Import the fast path's client and run one request through it (to a server on
    127.0.0.1 started here), so aiohttp's lazily loaded modules load now, in this thread."""
    import asyncio

    _import_all(FAST_MODULES)
    from judgeguard.metajudge.transport import _price_table

    _price_table()  # litellm's model table, read once (~20 ms), for costs and schemas
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:  # called from async code: this thread cannot run another loop; imports only
        return
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_one_fast_request())
    finally:
        from judgeguard.metajudge.transport import close_all

        close_all()
        loop.close()


async def _one_fast_request() -> None:
    import asyncio

    from judgeguard.metajudge import transport

    body = b'{"id": "w", "model": "w", "choices": [], "usage": {}}'

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
        writer.write(head.encode() + b"\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        r = transport.route("openai/w", {"api_base": f"http://127.0.0.1:{port}", "api_key": "w"})
        assert r is not None
        with contextlib.suppress(Exception):
            transport.answer_text(await transport.post(r, {"model": "w", "messages": []}, 5.0))
    finally:
        server.close()
        await server.wait_closed()
