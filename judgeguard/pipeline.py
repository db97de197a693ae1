"""One check from start to end: cache lookup, MetaJudge, cache store, telemetry.

Shared by the guard, the LangChain integration and the audit so that all of them cache,
trace and report in the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from judgeguard.cache import DiskCache, cache_key
from judgeguard.errors import ParseError
from judgeguard.gating import Gate, outcome_reward
from judgeguard.schema import Check, Judgment, RationaleMatch
from judgeguard.scrub import clean_text, redact_secrets
from judgeguard.telemetry import stamp_span_ids
from judgeguard.verdicts import Verdict

if TYPE_CHECKING:
    from judgeguard.metajudge import MetaJudge
    from judgeguard.telemetry import Telemetry

log = logging.getLogger("judgeguard")

__all__ = [
    "CheckRequest",
    "check_output",
    "failed_check",
    "run_check",
    "support_key",
    "unparsed_check",
]


@dataclass(frozen=True)
class CheckRequest:
    """Everything one check needs besides the MetaJudge, cache and telemetry."""

    judgment: Judgment
    context: Mapping[str, Any] | None = None
    label: Verdict | str | float | None = None
    reference: Sequence[str] | str | None = None


def unparsed_check(error: ParseError, metajudge: MetaJudge | None = None) -> Check:
    """The terminal result of a judge output that did not parse (never a negative verdict)."""
    return Check(
        status="unparsed",
        reason=error.reason,
        error=redact_secrets(clean_text(str(error))),
        metajudge_model=metajudge.model if metajudge is not None else None,
        needs_review=True,
    )


def failed_check(
    status: str, reason: str, message: str, metajudge: MetaJudge | None = None
) -> Check:
    """The terminal result of a check that could not run to its end (dispatcher fallback:
    ``queue_full``, ``check_timeout``, ``internal_error``, ``shutdown``); credentials in
    ``message`` are redacted."""
    return Check(
        status=status,
        reason=reason,
        error=redact_secrets(clean_text(message)),
        metajudge_model=metajudge.model if metajudge is not None else None,
        needs_review=status == "error",
    )


async def run_check(
    request: CheckRequest,
    metajudge: MetaJudge | None,
    cache: DiskCache | None,
    telemetry: Telemetry,
    *,
    judge_span: Any = None,
    child: bool = False,
    gate: Gate | None = None,
) -> Check:
    """Run the support check (and the reference check when references are given).

    Without a MetaJudge the check ends ``skipped`` (reason ``no_metajudge``) with its
    R_outcome filled in. MetaJudge answers come from the cache when present
    (``cached=True``); only successful ones are stored. ``gate`` (default: the
    MetaJudge's default gate) turns the answer into the reward, after the cache. The
    evaluator span is a child of ``judge_span`` when ``child`` is true, else a new trace
    linked to it.
    """
    j = request.judgment
    started = time.perf_counter()
    with telemetry.activate(), telemetry.evaluator_span(judge_span, child) as span:
        if metajudge is None:
            check = Check(
                status="skipped",
                reason="no_metajudge",
                error="no MetaJudge configured: pass metajudge= or set JUDGEGUARD_METAJUDGE",
                verdict=j.verdict,
                r_outcome=_safe_outcome(j.verdict, request.label),
            )
        else:
            gate = gate or metajudge.gate
            check = await _support(request, metajudge, cache, telemetry, gate)
            if request.reference is not None and check.status != "error":
                check.reference_match = await _reference(request, metajudge, cache, telemetry)
        check.judgment = j
        stamp_span_ids(check, judge_span, span)
        telemetry.record_judgment(span, j, None, check.r_outcome)
        telemetry.record_check(span, check, duration_s=time.perf_counter() - started)
    return check


async def check_output(
    judgment: Callable[[], Judgment],
    context: Mapping[str, Any] | None,
    label: Verdict | str | float | None,
    reference: Sequence[str] | str | None,
    metajudge: MetaJudge | None,
    cache: DiskCache | None,
    telemetry: Telemetry,
    *,
    judge_span: Any = None,
    child: bool = False,
    gate: Gate | None = None,
) -> Check:
    """One judge output's check: ``judgment()`` parses it (status ``unparsed`` when it
    raises a :class:`ParseError`, recorded on its evaluator span), then :func:`run_check`."""
    try:
        parsed = judgment()
    except ParseError as exc:
        check = unparsed_check(exc, metajudge)
        with telemetry.activate(), telemetry.evaluator_span(judge_span, child) as span:
            stamp_span_ids(check, judge_span, span)
            telemetry.record_judgment(span, None, exc)
            telemetry.record_check(span, check)
        return check
    request = CheckRequest(parsed, context or None, label, reference)
    return await run_check(
        request, metajudge, cache, telemetry, judge_span=judge_span, child=child, gate=gate
    )


def _safe_outcome(verdict: Verdict, label: Verdict | str | float | None) -> float | None:
    try:
        return outcome_reward(verdict, label)
    except ParseError:
        return None


def support_key(request: CheckRequest, metajudge: MetaJudge) -> str:
    """The cache key of a support check's MetaJudge answer.

    It covers what can change the answer: the MetaJudge's request settings
    (:meth:`MetaJudge.sampling_key`: models, every litellm option but a few documented
    exclusions, the endpoints actually used, prompt version, context budget,
    structured output), a digest of the exact prompt sent, the redacted rationale, the
    verdict with its options, and the context. Not the gate settings nor the gold label:
    the gate is applied to the answer after the cache (:meth:`judgeguard.Gate.apply_to`).
    """
    j = request.judgment
    return cache_key(
        "support",
        metajudge=metajudge.sampling_key(),
        prompt=metajudge.support_prompt_digest(j, request.context),
        rationale=j.rationale,
        verdict=j.verdict.model_dump(mode="json"),
        context=dict(request.context or {}),
    )


def _lookup(
    cache: DiskCache | None, make_key: Callable[[], str], kind: str, telemetry: Telemetry
) -> tuple[str | None, Any]:
    """(the cache key, the cached result or ``None``); the key is ``None`` when there is no
    usable cache or it could not be built (the check then runs uncached, never fails)."""
    if cache is None or not cache.usable():
        return None, None
    try:
        key = make_key()
    except Exception:  # e.g. a context value whose repr() raises
        log.debug("judgeguard: no cache key for this check", exc_info=True)
        return None, None
    hit = cache.get_check(key) if kind == "check" else cache.get_match(key)
    if not cache.disabled:
        telemetry.record_cache(hit is not None)
    return key, hit


def _bad_label(exc: ParseError, j: Judgment, metajudge: MetaJudge) -> Check:
    return Check(
        status="error",
        reason="bad_label",
        error=str(exc),
        verdict=j.verdict,
        metajudge_model=metajudge.model,
    )


async def _support(
    request: CheckRequest,
    metajudge: MetaJudge,
    cache: DiskCache | None,
    telemetry: Telemetry,
    gate: Gate,
) -> Check:
    """The MetaJudge's answer (cached, or asked and stored), then the gate."""
    j = request.judgment
    try:
        outcome_reward(j.verdict, request.label)  # an unreadable label costs no call
    except ParseError as exc:
        return _bad_label(exc, j, metajudge)
    key, hit = _lookup(cache, lambda: support_key(request, metajudge), "check", telemetry)
    if hit is not None:
        try:
            return gate.apply_to(hit, request.label)
        except ValueError:  # an entry that does not gate (not written by this version)
            pass
    answer = await metajudge.aanswer(j, request.context)
    if cache is not None and key is not None:
        cache.put_check(key, answer)
    check = gate.apply_to(answer, request.label)
    if check.status == "error" and metajudge.raise_errors:
        from judgeguard.metajudge import CheckFailed

        raise CheckFailed(check)
    return check


async def _reference(
    request: CheckRequest, metajudge: MetaJudge, cache: DiskCache | None, telemetry: Telemetry
) -> Any:
    from judgeguard.metajudge import InvalidCheckInput

    j, reference = request.judgment, request.reference
    assert reference is not None
    key, hit = _lookup(
        cache,
        lambda: cache_key(
            "match",
            metajudge=metajudge.sampling_key(),
            reasons=list(j.atomic_reasons or ()),
            rationale=j.rationale,
            reference=reference if isinstance(reference, str) else list(reference),
        ),
        "match",
        telemetry,
    )
    if hit is not None:
        return hit
    try:
        match = await metajudge.amatch(j, reference)
    except InvalidCheckInput as exc:
        return RationaleMatch(
            status="error", reason="bad_reference", error=str(exc), metajudge_model=metajudge.model
        )
    if cache is not None and key is not None:
        cache.put_match(key, match)
    return match
