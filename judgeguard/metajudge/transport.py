"""The fast path: MetaJudge calls to OpenAI-compatible endpoints over aiohttp, without litellm.

litellm spends 4–10 ms of CPU on every call, which caps one process at ~100–150 checks/s.
For an OpenAI-compatible chat-completions endpoint (``openai/…``, ``hosted_vllm/…``, or any
model with the option ``transport="openai"``) judgeguard posts the request itself with one
aiohttp session (keep-alive connection pool) per event loop and reads the JSON answer:
~0.3 ms of CPU per call. aiohttp was chosen by measurement (benchmarks/transports.py: at
concurrency 256 it was ~10× litellm; ``httpx.AsyncClient`` and the openai SDK were slower
than litellm there).

The option ``transport`` (a MetaJudge keyword argument, never sent anywhere; default
``$JUDGEGUARD_TRANSPORT``, else ``"auto"``):
``"auto"`` (default) takes the fast path for ``openai/`` and ``hosted_vllm/`` models whose
options it understands (:data:`BODY_OPTIONS`, :data:`CLIENT_OPTIONS`) and litellm for
everything else (other providers, ``mock_response``, ``num_retries`` …); ``"openai"``
forces the fast path (unknown options are sent in the request body); ``"litellm"`` forces
litellm.

What matches the litellm path: the request body (model without its provider prefix,
messages, sampling options, ``response_format``), credentials and endpoint from the
options or the provider's environment (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``/
``OPENAI_API_BASE``, ``HOSTED_VLLM_API_KEY``, ``HOSTED_VLLM_API_BASE``; default
``https://api.openai.com/v1`` for ``openai/``), reason codes by HTTP status, usage tokens,
and cost from litellm's bundled price table (read as JSON, without importing litellm; the
table is the one bundled with the installed litellm, whatever
``LITELLM_LOCAL_MODEL_COST_MAP`` says). Error messages are worded differently.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import importlib.util
import json
import os
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from judgeguard import env
from judgeguard._sync import within

if TYPE_CHECKING:
    from judgeguard.metajudge.client import Call, Sender

__all__ = [
    "BODY_OPTIONS",
    "CLIENT_OPTIONS",
    "FAST_PROVIDERS",
    "TRANSPORTS",
    "TRANSPORT_ENV",
    "HTTPError",
    "MalformedResponse",
    "Route",
    "check_transport",
    "close_all",
    "cost_usd",
    "import_clients",
    "post",
    "route",
    "sender",
    "supports_schema",
]

TRANSPORTS = ("auto", "openai", "litellm")

#: provider prefix → (API key env vars, API base env vars, default API base)
FAST_PROVIDERS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str | None]] = {
    "openai": (
        ("OPENAI_API_KEY",),
        ("OPENAI_BASE_URL", "OPENAI_API_BASE"),
        "https://api.openai.com/v1",
    ),
    "hosted_vllm": (("HOSTED_VLLM_API_KEY",), ("HOSTED_VLLM_API_BASE",), None),
}

#: Options sent in the request body as they are (OpenAI chat-completions parameters).
BODY_OPTIONS = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "seed",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "user",
        "response_format",
        "reasoning_effort",
        "logprobs",
        "top_logprobs",
        "service_tier",
        "parallel_tool_calls",
    }
)
#: Options the fast path itself understands (never sent in the body).
CLIENT_OPTIONS = frozenset(
    {"api_key", "api_base", "base_url", "timeout", "transport", "extra_headers", "extra_body"}
)
#: litellm's own options that a forced fast path honours or ignores, never sends: the
#: retry counts replace the MetaJudge's ``retries``, as they do through litellm.
LITELLM_ONLY = frozenset({"num_retries", "max_retries", "metadata", "custom_llm_provider"})


class HTTPError(Exception):
    """A non-2xx HTTP answer: ``status_code``, ``retry_after`` (seconds) and the error text."""

    def __init__(self, status_code: int, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after


class MalformedResponse(Exception):
    """A 2xx answer whose body is not a chat completion (not JSON, truncated, no choices)."""


@dataclass(frozen=True)
class Route:
    """Where and how a fast-path request goes."""

    url: str
    model: str  # as sent in the body (no provider prefix)
    provider: str  # the price-table provider
    headers: tuple[tuple[str, str], ...]
    missing_key: bool  # openai/ without any API key: litellm refuses before sending


#: The environment variable that sets the transport of MetaJudges that do not set one.
TRANSPORT_ENV = "JUDGEGUARD_TRANSPORT"


def transport_of(kwargs: Mapping[str, Any]) -> str:
    """The transport a call uses: the ``transport`` option, else ``$JUDGEGUARD_TRANSPORT``,
    else ``"auto"``."""
    value = kwargs.get("transport")
    if value is None:
        value = env.transport()
    return str(value)


def check_transport(kwargs: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` unless the transport (option or environment) is one of
    :data:`TRANSPORTS`."""
    value = transport_of(kwargs)
    if value not in TRANSPORTS:
        raise ValueError(
            f"transport (option or ${TRANSPORT_ENV}) must be one of {', '.join(TRANSPORTS)}; "
            f"got {value!r}"
        )


def _split(model: str) -> tuple[str | None, str]:
    prefix, sep, rest = model.partition("/")
    return (prefix, rest) if sep and prefix in FAST_PROVIDERS else (None, model)


def route(model: str, kwargs: Mapping[str, Any]) -> Route | None:
    """The fast-path route of a call, or ``None`` when it goes through litellm.

    Read from the options and the environment (endpoint, key, transport), remembered while
    the environment is unchanged: every call needs it.
    """
    try:
        key = ("route", model, tuple(sorted(kwargs.items())))
        hash(key)
    except TypeError:  # an option holds a list or a dict: worked out each time
        return _route(model, kwargs)
    return env.memoized(key, lambda: _route(model, kwargs))


def _route(model: str, kwargs: Mapping[str, Any]) -> Route | None:
    transport = transport_of(kwargs)
    if transport not in ("auto", "openai"):
        return None
    forced = transport == "openai"
    provider, name = _split(model)
    if not forced:
        if provider is None or "custom_llm_provider" in kwargs:
            return None
        if any(k not in BODY_OPTIONS and k not in CLIENT_OPTIONS for k in kwargs):
            return None  # an option only litellm knows what to do with
    keys_env, bases_env, default_base = FAST_PROVIDERS[provider or "openai"]
    base = kwargs.get("api_base") or kwargs.get("base_url")
    if not base:
        base = next((os.environ[v] for v in bases_env if os.environ.get(v)), default_base)
    if not base:
        return None  # hosted_vllm without an endpoint: litellm reports it
    key = kwargs.get("api_key") or next(
        (os.environ[v] for v in keys_env if os.environ.get(v)), None
    )
    if key is None and provider == "hosted_vllm":
        key = "fake-api-key"  # what litellm sends
    headers: dict[str, str] = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    extra = kwargs.get("extra_headers")
    if isinstance(extra, Mapping):
        headers.update({str(k): str(v) for k, v in extra.items()})
    return Route(
        url=f"{str(base).rstrip('/')}/chat/completions",
        model=name,
        provider=provider or "openai",
        headers=tuple(headers.items()),
        missing_key=not key and provider in (None, "openai"),
    )


def import_clients(models: Sequence[str], kwargs: Mapping[str, Any]) -> None:
    """Import the clients calls to ``models`` need: aiohttp for those on the fast path,
    litellm (seconds, the first time) only when some model is not."""
    routes = [route(m, kwargs) for m in models]
    if any(r is not None for r in routes):
        import aiohttp  # noqa: F401
    if any(r is None for r in routes):
        from judgeguard.metajudge.client import import_litellm

        import_litellm()


def request_body(
    r: Route, messages: Sequence[Mapping[str, Any]], kwargs: Mapping[str, Any], response_format: Any
) -> dict[str, Any]:
    """The JSON body of a request: model, messages, the options, ``response_format``."""
    body: dict[str, Any] = {"model": r.model, "messages": list(messages)}
    for k, v in kwargs.items():
        if k not in CLIENT_OPTIONS and k not in LITELLM_ONLY:
            body[k] = v
    if response_format is not None and "response_format" not in kwargs:
        body["response_format"] = response_format
    extra = kwargs.get("extra_body")
    if isinstance(extra, Mapping):
        body.update(extra)
    return body


# -- sessions: one per event loop, per process --------------------------------------------
_sessions: dict[int, tuple[weakref.ReferenceType[asyncio.AbstractEventLoop], Any]] = {}
_sessions_lock = threading.Lock()
_pid = os.getpid()


def _forget_after_fork() -> None:
    global _pid
    _sessions.clear()  # the parent's sockets: never used, never closed here
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forget_after_fork)


def _close_now(session: Any) -> None:
    """Close a session's connections without its (maybe closed) event loop."""
    try:
        connector = session.connector
        if connector is not None:
            connector._close()  # synchronous: closes the transports
        session.detach()
    except Exception:
        pass


def _session() -> Any:
    """This event loop's aiohttp session (created on first use in the loop)."""
    import aiohttp  # preloaded (judgeguard.preload): no first import on our threads

    loop = asyncio.get_running_loop()
    if os.getpid() != _pid:
        _forget_after_fork()
    entry = _sessions.get(id(loop))
    if entry is not None and entry[0]() is loop and not entry[1].closed:
        return entry[1]
    with _sessions_lock:
        for key, (ref, old) in list(_sessions.items()):
            alive = ref()
            if alive is None or alive.is_closed() or key == id(loop):
                _close_now(old)
                del _sessions[key]
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, loop=loop),
            skip_auto_headers=("User-Agent",),
            json_serialize=json.dumps,
        )
        _sessions[id(loop)] = (weakref.ref(loop), session)
    return session


@atexit.register
def close_all() -> None:
    """Close every session's connections (at exit; safe to call any time)."""
    with _sessions_lock:
        entries = list(_sessions.values())
        _sessions.clear()
    for ref, session in entries:
        loop = ref()
        if loop is not None and not loop.is_closed() and not loop.is_running():
            try:
                loop.run_until_complete(session.close())
                continue
            except Exception:
                pass
        _close_now(session)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _error_text(status: int, raw: bytes) -> str:
    try:
        data = json.loads(raw)
        message = data["error"]["message"] if isinstance(data.get("error"), dict) else data["error"]
        return f"HTTP {status}: {message}"
    except Exception:
        return f"HTTP {status}: {raw[:500].decode('utf-8', 'replace')}"


_PROXY_ENV = ("https_proxy", "http_proxy", "all_proxy", "no_proxy")


def _proxy(url: str) -> str | None:
    return env.memoized(("proxy", url), lambda: _proxy_now(url))


def _proxy_now(url: str) -> str | None:
    """The proxy for ``url`` from HTTP(S)_PROXY/ALL_PROXY/NO_PROXY, as litellm's httpx
    honours them (aiohttp's own ``trust_env`` costs a thread hop per request)."""
    found = tuple(os.environ.get(n) or os.environ.get(n.upper()) for n in _PROXY_ENV)
    return _proxy_for(url, found) if any(found[:3]) else None


@functools.lru_cache(maxsize=64)
def _proxy_for(url: str, found: tuple[str | None, ...]) -> str | None:
    import urllib.request  # preloaded with the fast path
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if bypass(parts.hostname or "", {"no": found[3] or ""}):
        return None
    return (found[0] if parts.scheme == "https" else found[1]) or found[2]


async def _exchange(session: Any, r: Route, data: bytes) -> tuple[bytes, int, float | None]:
    proxy = _proxy(r.url)
    async with session.post(r.url, data=data, headers=dict(r.headers), proxy=proxy) as resp:
        raw = await resp.read()
        return raw, resp.status, _retry_after(resp.headers)


async def post(r: Route, body: Mapping[str, Any], timeout: float | None) -> dict[str, Any]:
    """Post one request; the decoded chat completion.

    Raises :class:`HTTPError` for a non-2xx status, :class:`MalformedResponse` for a body
    that is not a chat completion, ``TimeoutError`` and aiohttp's connection errors as
    they come.
    """
    session = _session()
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    raw, status, retry_after = await within(_exchange(session, r, data), timeout)
    if status >= 300:
        raise HTTPError(status, _error_text(status, raw), retry_after)
    try:
        decoded = json.loads(raw)
    except ValueError as exc:
        raise MalformedResponse(f"the response is not JSON: {raw[:200]!r}") from exc
    if not isinstance(decoded, dict):
        raise MalformedResponse("the response is not a JSON object")
    if "error" in decoded and not decoded.get("choices"):
        raise MalformedResponse(f"the response is an error: {str(decoded['error'])[:300]}")
    return decoded


def answer_text(resp: Mapping[str, Any]) -> str:
    """The first choice's message content ('' when there is none)."""
    try:
        content = resp["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return ""
    return content if isinstance(content, str) else ""


def usage(resp: Mapping[str, Any]) -> tuple[int, int]:
    """(prompt tokens, completion tokens), 0 when not reported."""
    u = resp.get("usage")
    if not isinstance(u, Mapping):
        return 0, 0

    def num(v: Any) -> int:
        return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0

    return num(u.get("prompt_tokens")), num(u.get("completion_tokens"))


# -- litellm's price table, read as JSON ----------------------------------------------------
@functools.lru_cache(maxsize=1)
def _price_table() -> dict[str, Any]:
    """litellm's bundled model table (about 20 ms to load, once); {} without litellm."""
    spec = importlib.util.find_spec("litellm")  # finds the package, imports nothing
    if spec is None or not spec.submodule_search_locations:
        return {}
    for location in spec.submodule_search_locations:
        path = Path(location) / "model_prices_and_context_window_backup.json"
        if path.is_file():
            loaded = json.loads(path.read_text(encoding="utf-8"))
            return loaded if isinstance(loaded, dict) else {}
    return {}


def _model_info(provider: str, model: str) -> Mapping[str, Any] | None:
    table = _price_table()
    info = table.get(f"{provider}/{model}")
    if isinstance(info, Mapping):
        return info
    info = table.get(model)
    if isinstance(info, Mapping) and info.get("litellm_provider") == provider:
        return info
    return None


def cost_usd(r: Route, model: str, tokens_in: int, tokens_out: int) -> float | None:
    """The call's cost from litellm's price table; ``None`` when the model has no price."""
    info = _model_info(r.provider, model)
    if info is None:
        return None
    price_in, price_out = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if not isinstance(price_in, (int, float)) or not isinstance(price_out, (int, float)):
        return None
    return float(tokens_in * price_in + tokens_out * price_out)


def supports_schema(r: Route) -> bool:
    """Whether litellm's table says the model accepts a JSON-schema ``response_format``."""
    info = _model_info(r.provider, r.model)
    return bool(info and info.get("supports_response_schema"))


# -- one call, as client.acall makes it -------------------------------------------------------
def _classify(exc: BaseException) -> tuple[str, bool, int | None]:
    """(reason, transient?, HTTP status) of a fast-path failure, as litellm's would be."""
    from judgeguard.metajudge.client import classify

    if isinstance(exc, HTTPError):
        status = exc.status_code
        if status == 408:
            return "timeout", True, status
        if status == 429:
            return "rate_limited", True, status
        if status in (401, 403):
            return "auth_error", False, status
        if status == 404:
            return "not_found", False, status
        if status in (400, 413, 422):
            return "bad_request", False, status
        if status >= 500:
            return "server_error", True, status
        return "provider_error", False, status
    if isinstance(exc, MalformedResponse):  # litellm reports these as a 500
        return "server_error", True, None
    import aiohttp

    if isinstance(exc, aiohttp.ClientPayloadError):  # a truncated body
        return "connection_error", True, None
    if isinstance(exc, (aiohttp.ClientConnectionError, ConnectionError)):
        return "connection_error", True, None
    if isinstance(exc, aiohttp.ClientResponseError):  # an unparsable HTTP answer
        return "connection_error", True, None
    return classify(exc)


def sender(r: Route, call: Call) -> Sender:
    """Attempts on the fast path, for :func:`judgeguard.metajudge.client.acall`'s one
    attempt loop (same retries, spans, usage, cost and reason codes as litellm's)."""
    from judgeguard.metajudge.client import CallFailed, CallResult, Sender

    if r.missing_key:
        raise CallFailed(
            "auth_error",
            "no API key: pass api_key= or set OPENAI_API_KEY",
            False,
            None,
            1,
        )
    kwargs = call.kwargs
    body = request_body(r, call.messages, kwargs, call.response_format)
    timeout = kwargs.get("timeout", call.timeout)
    timeout = float(timeout) if isinstance(timeout, (int, float)) else None
    retries = call.policy.retries
    for name in ("num_retries", "max_retries"):
        if isinstance(kwargs.get(name), int):
            retries = kwargs[name]

    async def send(span: Any) -> CallResult:
        resp = await post(r, body, timeout)
        tokens = usage(resp)
        cost = cost_usd(r, r.model, *tokens)
        return CallResult.of(answer_text(resp), tokens, cost, resp.get("model"), resp.get("id"))

    return Sender(send, _classify, _http_retry_after, retries)


def _http_retry_after(exc: BaseException) -> float | None:
    return exc.retry_after if isinstance(exc, HTTPError) else None
