"""Where a check's context comes from (a runnable's input, chat messages) and its summary."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from judgeguard_langchain._core import AUTO_CONTEXT, GuardConfigError, GuardResult

__all__ = [
    "CHECK_EVENT",
    "METADATA_PREFIX",
    "ContextSpec",
    "check_summary",
    "context_from_input",
    "context_from_messages",
    "metadata_from_summary",
    "result_summary",
    "validate_context_spec",
]

#: Name of the LangChain custom event that carries a check summary.
CHECK_EVENT = "judgeguard.check"

#: Prefix of the run-metadata keys that carry a check summary (``judgeguard.status`` …).
METADATA_PREFIX = "judgeguard."

#: ``None`` (common key names), ``{context_key: input_key}``, a list of input keys, or a
#: function of the runnable's input returning the context mapping.
ContextSpec = Mapping[str, str] | Sequence[str] | Callable[[Any], Mapping[str, Any]] | None


def validate_context_spec(spec: Any) -> None:
    """Raise :class:`judgeguard.GuardConfigError` when ``context=`` cannot work."""
    if spec is None or isinstance(spec, Mapping):
        if isinstance(spec, Mapping) and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in spec.items()
        ):
            raise GuardConfigError(
                "context= as a mapping must map context keys to input keys (both str), "
                "e.g. {'question': 'query', 'label': 'gold'}"
            )
        return
    if isinstance(spec, str):
        raise GuardConfigError(
            f"context={spec!r} is a single string: pass a list of input keys ([{spec!r}]) "
            f"or a mapping ({{'question': {spec!r}}})"
        )
    if isinstance(spec, Sequence):
        if not all(isinstance(k, str) for k in spec):
            raise GuardConfigError("context= as a list must hold input key names (str)")
        return
    if callable(spec):
        return
    raise GuardConfigError(
        "context= must be None, a mapping {context_key: input_key}, a list of input keys "
        f"or a function of the input, got {type(spec).__name__}"
    )


def _message_text(message: Any) -> str | None:
    text = getattr(message, "text", None)
    if isinstance(text, str):  # a property in langchain-core 1.x
        return str(text)
    if callable(text):  # a method before 1.0
        text = text()
        if isinstance(text, str):
            return text
    content = getattr(message, "content", None)
    return content if isinstance(content, str) else None


def _is_human(message: Any) -> bool:
    kind = getattr(message, "type", None)
    if kind is None and isinstance(message, tuple) and len(message) == 2:
        kind = message[0]
    return kind in ("human", "user")


def context_from_messages(messages: Sequence[Any]) -> dict[str, Any]:
    """``{"question": <last human message text>}`` from chat messages (``{}`` if none)."""
    for message in reversed(list(messages)):
        if _is_human(message):
            text = message[1] if isinstance(message, tuple) else _message_text(message)
            if isinstance(text, str) and text.strip():
                return {"question": text}
    return {}


def _as_mapping(value: Any) -> Mapping[str, Any] | None:
    if isinstance(value, Mapping):
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        data = dump()
        if isinstance(data, Mapping):
            return data
    return None


def _auto(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, names in AUTO_CONTEXT.items():
        for name in names:
            if values.get(name) is not None:
                out[key] = values[name]
                break
    ref = out.get("reference")
    if ref is not None and not (
        isinstance(ref, (list, tuple)) and all(isinstance(r, str) for r in ref)
    ):
        out["reference_answer"] = out.pop("reference")  # an answer, not atomic reasons
    return out


def context_from_input(spec: ContextSpec, value: Any) -> dict[str, Any]:
    """The check context (question, candidates, ``label``, ``reference`` …) for one input.

    ``spec=None`` reads the common key names of :data:`judgeguard.guarding.AUTO_CONTEXT`
    from a dict input (a plain string input becomes the question; chat messages or a
    prompt value give their last human message as the question); a mapping
    ``{context_key: input_key}`` or a list of keys picks keys of a dict input (missing
    keys raise :class:`judgeguard.GuardConfigError`); a function gets the whole input.
    """
    if callable(spec) and not isinstance(spec, (Mapping, Sequence)):
        return dict(spec(value))
    to_messages = getattr(value, "to_messages", None)  # a PromptValue
    values = None if callable(to_messages) else _as_mapping(value)
    if spec is None:
        if values is not None:
            return _auto(values)
        if isinstance(value, str):
            return {"question": value} if value.strip() else {}
        if callable(to_messages):
            return context_from_messages(to_messages())
        if isinstance(value, Sequence):
            return context_from_messages(value)
        return {}
    mapping = dict(spec) if isinstance(spec, Mapping) else {k: k for k in spec}
    if values is None:
        raise GuardConfigError(
            f"context={spec!r} names input keys, but the runnable's input is a "
            f"{type(value).__name__}, not a dict; pass context= as a function of the input"
        )
    missing = [key for key in mapping.values() if key not in values]
    if missing:
        raise GuardConfigError(
            f"context= names input keys {missing} that the input does not have "
            f"(it has {sorted(map(str, values))})"
        )
    return {ctx_key: values[in_key] for ctx_key, in_key in mapping.items()}


def _render(verdict: Any) -> str | None:
    return verdict.render() if verdict is not None else None


def check_summary(check: Any) -> dict[str, Any]:
    """A JSON-ready summary of a finished :class:`judgeguard.Check`.

    Keys: ``status``, ``verdict`` (rendered, e.g. ``"B>>A"``), ``supported``,
    ``r_rationale``, ``r_outcome``, ``reward`` (the gated reward), ``needs_review``,
    ``reason``, ``cached`` and ``metajudge_model``.
    """
    verdict = check.verdict
    if verdict is None and check.judgment is not None:
        verdict = check.judgment.verdict
    return {
        "status": check.status,
        "verdict": _render(verdict),
        "supported": _render(check.supported),
        "r_rationale": check.r_rationale,
        "r_outcome": check.r_outcome,
        "reward": check.reward,
        "needs_review": check.needs_review,
        "reason": check.reason,
        "cached": check.cached,
        "metajudge_model": check.metajudge_model,
    }


def result_summary(result: GuardResult[Any]) -> dict[str, Any]:
    """The summary of a guarded call: its check's when finished, else ``status="pending"``.

    A pending summary carries the parsed verdict (``None`` when the output did not parse)
    and leaves the check's fields ``None``; the finished check arrives through
    ``on_result``, the handle and the OpenTelemetry evaluator span.
    """
    if result.done():
        return check_summary(result.check(0))
    judgment = result.judgment
    return {
        "status": "pending",
        "verdict": _render(judgment.verdict) if judgment is not None else None,
        "supported": None,
        "r_rationale": None,
        "r_outcome": None,
        "reward": None,
        "needs_review": None,
        "reason": None,
        "cached": None,
        "metajudge_model": None,
    }


def metadata_from_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Flat run-metadata entries (``judgeguard.status`` …) for a summary, ``None`` dropped."""
    return {f"{METADATA_PREFIX}{k}": v for k, v in summary.items() if v is not None}
