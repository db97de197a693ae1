"""One MetaJudge LLM call through litellm: retries, timeouts, usage, cost, error codes.

litellm is imported on first use. Unless the environment already says otherwise,
judgeguard sets ``LITELLM_LOCAL_MODEL_COST_MAP=True`` before that import, so litellm
uses the cost map bundled with the installed version instead of fetching one over the
network at import (which, without network, stalls every process for seconds). Costs are
then as current as the installed litellm; set the variable to ``False`` yourself to fetch.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from judgeguard._sync import within
from judgeguard.errors import JudgeguardError
from judgeguard.metajudge.quiet import install, quiet, quietly
from judgeguard.metajudge.requestkey import classify_option
from judgeguard.scrub import clean_text, redact_secrets
from judgeguard.telemetry import get_telemetry

__all__ = [
    "Call",
    "CallFailed",
    "CallResult",
    "RetryPolicy",
    "Sender",
    "acall",
    "import_litellm",
    "supports_structured_output",
]


def import_litellm() -> Any:
    """Import litellm with the bundled cost map (see the module docstring)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    install()  # litellm's failure banners stay out of stdout during our calls
    return litellm


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of transient failures (timeouts, 429, 5xx, connection errors).

    Waits ``base_delay × 2**attempt`` seconds, capped at ``max_delay``, times a random
    jitter in [0.5, 1.5); a ``Retry-After`` header, when the provider sends one, is
    honoured up to ``max_delay``.
    """

    retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 20.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        if retry_after is not None and retry_after >= 0:
            return min(self.max_delay, retry_after)
        return float(min(self.max_delay, self.base_delay * 2**attempt) * random.uniform(0.5, 1.5))


@dataclass(frozen=True)
class CallResult:
    """The text of one answer with what it cost."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    response_model: str | None = None
    response_id: str | None = None
    latency_s: float = 0.0
    attempts: int = 1

    @classmethod
    def of(
        cls,
        text: str,
        tokens: tuple[int, int],
        cost_usd: float | None,
        response_model: object,
        response_id: object,
    ) -> CallResult:
        """An answer as a sender reads it: (input, output) ``tokens``; the response's model
        and id are kept when they are strings."""
        return cls(
            text=text,
            input_tokens=tokens[0],
            output_tokens=tokens[1],
            cost_usd=cost_usd,
            response_model=response_model if isinstance(response_model, str) else None,
            response_id=response_id if isinstance(response_id, str) else None,
        )


@dataclass(eq=False)
class CallFailed(JudgeguardError):
    """A MetaJudge call that failed for good; ``reason`` is a stable code.

    Codes: ``timeout``, ``rate_limited``, ``server_error``, ``connection_error``,
    ``bad_request``, ``auth_error``, ``not_found``, ``provider_error``, and
    ``encoding_error`` (the request could not be encoded on this side: nothing was sent).
    ``message`` is the provider's error text with credentials redacted; it may echo the
    prompt, so it is content. :attr:`summary` says what happened without it.
    """

    reason: str
    message: str
    transient: bool = False
    status_code: int | None = None
    attempts: int = 1
    spent: list[CallResult] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"

    @property
    def summary(self) -> str:
        """What happened, without the provider's text: reason code and HTTP status."""
        status = f" (HTTP {self.status_code})" if self.status_code is not None else ""
        return f"{self.reason}{status}"


def classify(exc: BaseException) -> tuple[str, bool, int | None]:
    """(reason code, transient?, HTTP status) of an exception raised by a litellm call."""
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "timeout", True, None
    if _caused_by_encoding(exc):
        return "encoding_error", False, None
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    name = type(exc).__name__
    if "Timeout" in name:
        return "timeout", True, status
    if "RateLimit" in name or status == 429:
        return "rate_limited", True, status
    if "Connection" in name or _caused_by_connection(exc):
        return "connection_error", True, status
    if "Authentication" in name or "PermissionDenied" in name or status in (401, 403):
        return "auth_error", False, status
    if "NotFound" in name or status == 404:
        return "not_found", False, status
    if (
        "BadRequest" in name
        or "ContextWindow" in name
        or "ContentPolicy" in name
        or "UnprocessableEntity" in name
        or status in (400, 413, 422)
    ):
        return "bad_request", False, status
    if (
        "ServiceUnavailable" in name
        or "InternalServer" in name
        or (status is not None and status >= 500)
    ):
        return "server_error", True, status
    return "provider_error", False, status


def _caused_by_connection(exc: BaseException) -> bool:
    """litellm reports a refused connection as a 500; the cause chain tells the truth."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if "Connect" in type(seen).__name__ or isinstance(seen, ConnectionError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "connection error" in str(exc).lower()


def _caused_by_encoding(exc: BaseException) -> bool:
    """The request could not be encoded here (litellm reports it as a 500 from the server)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, UnicodeError):
            return True
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    return "codec can't encode" in text or "surrogates not allowed" in text


_SECRET_ENV = ("KEY", "TOKEN", "SECRET", "PASSWORD")


def known_secrets(kwargs: Mapping[str, Any]) -> list[str]:
    """Secret values a provider error may echo: credential options given to litellm and
    credential-named environment variables (``OPENAI_API_KEY`` …)."""
    found = []
    for name, value in kwargs.items():
        if isinstance(value, str) and "credential" in (classify_option(name)[1] or ""):
            found.append(value)
    for name, value in os.environ.items():
        if len(value) >= 8 and name.upper().endswith(_SECRET_ENV):
            found.append(value)
    return found


def failure_text(exc: BaseException, kwargs: Mapping[str, Any]) -> str:
    """An exception's text as judgeguard records it: credentials redacted, bounded."""
    text = f"{type(exc).__name__}: {exc}"
    return redact_secrets(clean_text(text[:4000]), known_secrets(kwargs))[:500]


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        headers = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        return None
    try:
        value = headers.get("retry-after") or headers.get("Retry-After")
        return float(value) if value is not None else None
    except (TypeError, ValueError, AttributeError):
        return None


def supports_structured_output(model: str, kwargs: Mapping[str, Any]) -> bool:
    """Whether litellm says ``model`` accepts a JSON-schema ``response_format``
    (on the fast path, from litellm's model table without importing litellm)."""
    from judgeguard.metajudge import transport

    fast = transport.route(model, kwargs)
    if fast is not None:
        return transport.supports_schema(fast)
    return _supports_schema(model, kwargs.get("custom_llm_provider"))


@functools.lru_cache(maxsize=256)
def _supports_schema(model: str, provider: str | None) -> bool:
    # litellm's model-info lookup costs ~0.5 ms a call; the answer never changes
    litellm = import_litellm()
    try:
        with quiet():
            return bool(litellm.supports_response_schema(model=model, custom_llm_provider=provider))
    except Exception:
        return False


def _usage(resp: Any) -> tuple[int, int]:
    usage = getattr(resp, "usage", None)
    if usage is None:
        return 0, 0
    return int(getattr(usage, "prompt_tokens", 0) or 0), int(
        getattr(usage, "completion_tokens", 0) or 0
    )


def _cost(litellm: Any, resp: Any) -> float | None:
    """The call's cost as litellm computed it, ``None`` when it does not know the price."""
    hidden = getattr(resp, "_hidden_params", None)
    if isinstance(hidden, Mapping) and "response_cost" in hidden:
        # litellm already priced the call; None means the model has no known price
        cost = hidden["response_cost"]
        return float(cost) if isinstance(cost, (int, float)) else None
    try:
        with quiet():
            cost = litellm.completion_cost(completion_response=resp)
    except Exception:
        return None
    return float(cost) if isinstance(cost, (int, float)) else None


def _text(resp: Any) -> str:
    try:
        message = resp.choices[0].message
    except (AttributeError, IndexError, TypeError):
        return ""
    content = getattr(message, "content", None)
    return content if isinstance(content, str) else ""


async def acall(
    model: str,
    messages: Sequence[Mapping[str, str]],
    kwargs: Mapping[str, Any],
    *,
    policy: RetryPolicy,
    timeout: float | None,
    response_format: Any = None,
) -> CallResult:
    """Call ``litellm.acompletion`` once, retrying transient failures per ``policy``.

    An OpenAI-compatible endpoint takes the fast path instead (no litellm; see
    :mod:`judgeguard.metajudge.transport`, chosen by the ``transport`` option), with the
    same contract.

    ``kwargs`` are the user's litellm keyword arguments, passed through unchanged. When
    the user set litellm's own ``num_retries``/``max_retries``, judgeguard does not retry
    on top. Raises :class:`CallFailed` with the spent usage of failed attempts.

    Telemetry: every attempt (retries included, backoff sleeps excluded) runs in its own
    CLIENT span ``chat {model}`` (:meth:`judgeguard.telemetry.Telemetry.llm_span`), a
    child of the current span. A recording CLIENT span is handed to litellm as
    ``litellm_parent_otel_span``. litellm's own OTel callback is never enabled.
    """
    from judgeguard.metajudge import transport

    # text that no UTF-8 encoder accepts (lone surrogates) is sent as U+FFFD
    messages = [
        {k: clean_text(v) if isinstance(v, str) else v for k, v in m.items()} for m in messages
    ]
    call = Call(model, messages, kwargs, policy, timeout, response_format)
    fast = transport.route(model, kwargs)
    # the one switch point (issue 13)
    sender = transport.sender(fast, call) if fast is not None else _litellm_sender(call)
    return await _attempts(call, sender)


@dataclass(frozen=True)
class Call:
    """One MetaJudge call as :func:`acall` was asked for it (what a sender reads)."""

    model: str
    messages: Sequence[Mapping[str, Any]]
    kwargs: Mapping[str, Any]
    policy: RetryPolicy
    timeout: float | None
    response_format: Any


@dataclass(frozen=True)
class Sender:
    """A transport's part of one MetaJudge call; :func:`acall` runs the attempts.

    ``send(span)`` makes one attempt in the attempt's CLIENT span and returns its answer
    (latency and attempt count are filled in afterwards); ``classify`` gives a failed
    attempt's (reason code, transient?, HTTP status), ``retry_after`` the provider's
    ``Retry-After`` seconds; ``retries`` is how many transient failures are retried.
    """

    send: Callable[[Any], Awaitable[CallResult]]
    classify: Callable[[BaseException], tuple[str, bool, int | None]]
    retry_after: Callable[[BaseException], float | None]
    retries: int


async def _attempts(call: Call, sender: Sender) -> CallResult:
    """The one attempt/retry loop: a CLIENT span per attempt, transient failures retried
    per ``policy`` (jitter, ``Retry-After``), :class:`CallFailed` when they run out."""
    telemetry = get_telemetry()
    model, policy, kwargs = call.model, call.policy, call.kwargs
    attempt = 0
    while True:
        failure: CallFailed | None = None
        cause: BaseException | None = None
        wait: float | None = None
        with telemetry.llm_span(model) as span:
            started = time.perf_counter()
            try:
                answer = await sender.send(span)
            except Exception as exc:
                reason, transient, status = sender.classify(exc)
                cause = exc
                failure = CallFailed(
                    reason, failure_text(exc, kwargs), transient, status, attempt + 1
                )
                telemetry.record_llm_result(span, error=failure)
                if transient and attempt < sender.retries:
                    wait = policy.delay(attempt, sender.retry_after(exc))
            else:
                result = replace(
                    answer, latency_s=time.perf_counter() - started, attempts=attempt + 1
                )
                telemetry.record_llm_result(span, result=result)
                return result
        if wait is not None:
            await asyncio.sleep(wait)
            attempt += 1
            continue
        assert failure is not None
        raise failure from cause


def _litellm_sender(call: Call) -> Sender:
    """Attempts through ``litellm.acompletion`` (judgeguard retries unless the user set
    litellm's own ``num_retries``/``max_retries``)."""
    kwargs, timeout, response_format = call.kwargs, call.timeout, call.response_format
    if "transport" in kwargs:  # judgeguard's option, not litellm's
        kwargs = {k: v for k, v in kwargs.items() if k != "transport"}
    litellm = import_litellm()
    params: dict[str, Any] = {"model": call.model, "messages": call.messages, **kwargs}
    own_retries = "num_retries" not in kwargs and "max_retries" not in kwargs
    if own_retries:
        params["num_retries"] = 0
    if timeout is not None:
        params.setdefault("timeout", timeout)
    if response_format is not None and "response_format" not in kwargs:
        params["response_format"] = response_format
    guard = None if timeout is None else timeout + 5.0

    async def send(span: Any) -> CallResult:
        call = params
        if span.is_recording():
            metadata = dict(params.get("metadata") or {})
            metadata["litellm_parent_otel_span"] = span
            call = {**params, "metadata": metadata}
        resp = await within(quietly(litellm.acompletion(**call)), guard)
        return CallResult.of(
            _text(resp),
            _usage(resp),
            _cost(litellm, resp),
            getattr(resp, "model", None),
            getattr(resp, "id", None),
        )

    return Sender(send, classify, _retry_after, call.policy.retries if own_retries else 0)
