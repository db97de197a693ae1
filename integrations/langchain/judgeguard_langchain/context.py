"""A check's summary for LangChain (events, run metadata); the context functions are
:mod:`judgeguard.context`'s, re-exported here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from judgeguard.context import (
    ContextSpec,
    context_from_input,
    context_from_messages,
    validate_context_spec,
)
from judgeguard_langchain._core import GuardResult

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
