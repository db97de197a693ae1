"""One check from start to end: the typed job (settings + request) and the one function
that runs it (parse, cache lookup, MetaJudge, cache store, telemetry).

Every front end goes through :func:`run_check`: the guard and the LangChain wrappers (on
the dispatcher thread or, with ``offload="process"``, in a worker process), the audit (in
this process or in worker processes), and any future caller (reward functions, a server).
:class:`CheckSettings` and :class:`CheckRequest` are frozen and picklable: they are what
is sent to a worker process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from opentelemetry.trace import INVALID_SPAN

from judgeguard import env
from judgeguard._sync import within
from judgeguard.cache import CacheOption, DiskCache, cache_key, default_cache
from judgeguard.errors import GuardConfigError, ParseError
from judgeguard.gating import Gate, outcome_reward
from judgeguard.options import MetaJudgeOption, OffloadOption, OnUnparsed, VerdictOption
from judgeguard.schema import Check, Judgment, RationaleMatch
from judgeguard.scrub import clean_text, redact_secrets
from judgeguard.telemetry import stamp_span_ids
from judgeguard.verdicts import Verdict, VerdictSpec

if TYPE_CHECKING:
    from judgeguard.metajudge import MetaJudge
    from judgeguard.telemetry import Telemetry

log = logging.getLogger("judgeguard")

__all__ = [
    "CheckRequest",
    "CheckSettings",
    "failed_check",
    "run_check",
    "sampled_out_check",
    "support_key",
    "unparsed_check",
]

Offload = Literal["thread", "process"]


@dataclass(frozen=True)
class CheckSettings:
    """How checks run, resolved once and shared (frozen, picklable).

    ``metajudge`` (``None``: checks end ``skipped``) carries the LLM settings and the
    per-call ``timeout``; ``gate`` turns each MetaJudge answer (and each failed check)
    into a reward, after the cache (default: the MetaJudge's default gate, else
    ``Gate()``); ``verdict`` is the parse spec; ``cache`` the answer cache (``None``:
    off); ``sample`` the fraction of calls checked; ``offload`` where a front end runs
    the check (the dispatcher thread or the worker process); ``on_unparsed`` whether a
    front end raises the :class:`judgeguard.ParseError` in its caller;
    ``check_timeout`` bounds one :func:`run_check` (``None``: only the dispatcher's
    bound). Build it from user options with :meth:`resolve`.
    """

    metajudge: MetaJudge | None = None
    verdict: VerdictSpec | None = None
    cache: DiskCache | None = None
    sample: float = 1.0
    offload: Offload = "thread"
    on_unparsed: OnUnparsed = "record"
    check_timeout: float | None = None
    gate: Gate = None  # type: ignore[assignment]  # filled in by __post_init__

    def __post_init__(self) -> None:
        if self.gate is None:
            default = self.metajudge.gate if self.metajudge is not None else Gate()
            object.__setattr__(self, "gate", default)
        elif not isinstance(self.gate, Gate):
            raise GuardConfigError(
                f"gate= must be a judgeguard.Gate, got {type(self.gate).__name__}"
            )

    @property
    def spec(self) -> VerdictSpec:
        """The verdict spec (``"auto"`` when none was given)."""
        return self.verdict if self.verdict is not None else _AUTO_SPEC

    @classmethod
    def resolve(
        cls,
        *,
        metajudge: MetaJudgeOption = None,
        verdict: VerdictOption = "auto",
        cache: CacheOption = True,
        sample: float = 1.0,
        offload: OffloadOption = None,
        on_unparsed: OnUnparsed = "record",
        check_timeout: float | None = None,
        gate: Gate | None = None,
    ) -> CheckSettings:
        """Settings from the options users pass to ``jg.guard``, ``jg.Checker`` and the
        LangChain wrappers: a MetaJudge, a model string or a list of them (default
        ``$JUDGEGUARD_METAJUDGE``), a verdict spec, ``cache=True`` for the default
        directory, ``offload`` (default ``$JUDGEGUARD_OFFLOAD``, else ``"thread"``), a
        :class:`judgeguard.Gate` (default: the MetaJudge's default gate), a positive
        ``check_timeout`` in seconds. The one place these options are read: the front ends
        pass theirs on (typed by :class:`judgeguard.options.SettingsOptions`).
        Raises :class:`judgeguard.GuardConfigError` for an option that cannot work."""
        if on_unparsed not in ("record", "raise"):
            raise GuardConfigError("on_unparsed must be 'record' or 'raise'")
        if offload is None:
            offload = env.offload()  # type: ignore[assignment]
        if offload not in ("thread", "process"):
            raise GuardConfigError(
                f"offload must be 'thread' or 'process' (also in $JUDGEGUARD_OFFLOAD), "
                f"got {offload!r}"
            )
        if not 0.0 <= sample <= 1.0:
            raise GuardConfigError(f"sample must lie in [0, 1], got {sample}")
        if check_timeout is not None and not check_timeout > 0:
            raise GuardConfigError(f"check_timeout must be positive, got {check_timeout}")
        return cls(
            metajudge=_resolve_metajudge(metajudge),
            verdict=VerdictSpec.coerce(verdict),
            cache=_resolve_cache(cache),
            sample=sample,
            offload=offload,
            on_unparsed=on_unparsed,
            check_timeout=check_timeout,
            gate=gate,  # type: ignore[arg-type]  # None: the default gate
        )


_AUTO_SPEC = VerdictSpec.coerce("auto")


def _resolve_metajudge(metajudge: MetaJudgeOption) -> MetaJudge | None:
    from judgeguard.metajudge import MetaJudge

    if metajudge is None:
        metajudge = env.metajudge_models()
        if not metajudge:
            return None
    if isinstance(metajudge, MetaJudge):
        return metajudge
    if isinstance(metajudge, (str, list, tuple)):
        return MetaJudge(metajudge)
    raise GuardConfigError(
        f"metajudge= must be a MetaJudge, a litellm model string or a list of them, "
        f"got {type(metajudge).__name__}"
    )


def _resolve_cache(cache: CacheOption) -> DiskCache | None:
    if cache is None or cache is False:
        return None
    if cache is True:
        return default_cache()
    if isinstance(cache, DiskCache):
        return cache
    if isinstance(cache, (str, os.PathLike)):
        return DiskCache(cache)
    raise GuardConfigError("cache= must be True, False, a directory path or a jg.DiskCache")


@dataclass(frozen=True)
class CheckRequest:
    """One check to run: the judge's ``output`` (parsed under the settings' verdict spec)
    or its already parsed ``judgment``; the ``context`` (question, candidates …), the gold
    ``label`` and the ``reference`` atomic reasons, when known; ``id``, the caller's own
    name for the item (an audit line, a sample), which judgeguard never reads; ``judge``,
    the name of the judge being checked (a metric attribute, to chart reliability per
    judge)."""

    judgment: Judgment | None = None
    context: Mapping[str, Any] | None = None
    label: Verdict | str | float | None = None
    reference: Sequence[str] | str | None = None
    output: Any = None
    id: str | int | None = None
    judge: str | None = None


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
    settings: CheckSettings,
    telemetry: Telemetry | None = None,
    *,
    judge_span: Any = None,
    child: bool = False,
) -> Check:
    """Run one check: parse the output unless the request carries its judgment (status
    ``unparsed`` when it does not parse), then the support check, and the reference
    check when references are given.

    Without a MetaJudge the check ends ``skipped`` (reason ``no_metajudge``) with its
    R_outcome filled in. MetaJudge answers come from the cache when present
    (``cached=True``); only successful ones are stored. ``settings.gate`` turns the
    answer into the reward, after the cache. A check longer than
    ``settings.check_timeout`` ends ``error``/``check_timeout`` (gated like any failed
    check). The evaluator span is a child of ``judge_span`` when ``child`` is true, else
    a new trace linked to it. ``telemetry``: the process default unless given.
    """
    if telemetry is None:
        from judgeguard.telemetry import get_telemetry

        telemetry = get_telemetry()
    run = _run(request, settings, telemetry, judge_span, child)
    if settings.check_timeout is None:
        return await run
    try:
        return await within(run, settings.check_timeout)
    except asyncio.TimeoutError:
        message = f"the check took longer than {settings.check_timeout} s"
        check = settings.gate.apply_to(
            failed_check("error", "check_timeout", message, settings.metajudge)
        )
        stamp_span_ids(check, judge_span)
        telemetry.record_check(INVALID_SPAN, check)  # counted; its evaluator span was cut short
        return check


async def _run(
    request: CheckRequest,
    settings: CheckSettings,
    telemetry: Telemetry,
    judge_span: Any,
    child: bool,
) -> Check:
    metajudge, cache = settings.metajudge, settings.cache
    j = request.judgment
    if j is None:
        from judgeguard.parsing import parse

        try:
            j = parse(request.output, settings.spec)
        except ParseError as exc:
            check = unparsed_check(exc, metajudge)
            with telemetry.activate(), telemetry.evaluator_span(judge_span, child) as span:
                stamp_span_ids(check, judge_span, span)
                telemetry.record_judgment(span, None, exc)
                telemetry.record_check(span, check, judge=request.judge)
            return check
        request = replace(request, judgment=j, output=None)
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
            check = await _support(request, metajudge, cache, telemetry, settings.gate)
            if request.reference is not None and check.status != "error":
                check.reference_match = await _reference(request, metajudge, cache, telemetry)
        check.judgment = j
        stamp_span_ids(check, judge_span, span)
        telemetry.record_judgment(span, j, None, check.r_outcome)
        telemetry.record_check(
            span, check, duration_s=time.perf_counter() - started, judge=request.judge
        )
    return check


def sampled_out_check(settings: CheckSettings) -> Check:
    """The terminal result of a call that ``settings.sample`` left unchecked."""
    return Check(
        status="skipped", reason="sampled_out", error=f"not sampled (sample={settings.sample})"
    )


def _judgment(request: CheckRequest) -> Judgment:
    """The request's judgment (:func:`run_check` has parsed its output by now)."""
    assert request.judgment is not None
    return request.judgment


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
    j = _judgment(request)
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
    j = _judgment(request)
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
    request: CheckRequest,
    metajudge: MetaJudge,
    cache: DiskCache | None,
    telemetry: Telemetry,
) -> Any:
    from judgeguard.metajudge import InvalidCheckInput

    j, reference = _judgment(request), request.reference
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
