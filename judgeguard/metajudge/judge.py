"""``MetaJudge``: a second LLM (or an ensemble) that checks a judge's reasoning via litellm."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from judgeguard._sync import each as _each
from judgeguard._sync import run_sync
from judgeguard.errors import JudgeguardError
from judgeguard.gating import Gate, LabelLike, OnError, outcome_reward
from judgeguard.metajudge import prompts
from judgeguard.metajudge.answers import (
    MalformedAnswer,
    read_match_lines,
    read_reasons,
    read_support,
)
from judgeguard.metajudge.client import (
    CallFailed,
    CallResult,
    RetryPolicy,
    acall,
    supports_structured_output,
)
from judgeguard.metajudge.metrics import rationale_metrics
from judgeguard.metajudge.requestkey import endpoint_key, messages_digest, options_key
from judgeguard.metajudge.support import (
    combine,
    options_for,
    rationale_reward,
    same_support,
    supported_verdict,
)
from judgeguard.metajudge.transport import check_transport, import_clients
from judgeguard.schema import Check, Judgment, MatchPair, RationaleMatch, Usage

__all__ = ["CheckFailed", "InvalidCheckInput", "MetaJudge"]

T = TypeVar("T")

#: The fence boundary used when hashing a prompt for a cache key (the real one is random).
_KEY_BOUNDARY = "DATA-BOUNDARY"


class InvalidCheckInput(JudgeguardError, ValueError):
    """Input a check cannot work on (e.g. an empty reference list); the message says why."""


class CheckFailed(JudgeguardError):
    """Raised instead of returning an ``error`` result when ``raise_errors=True``."""

    def __init__(self, result: Check | RationaleMatch) -> None:
        super().__init__(f"MetaJudge check failed: {result.reason}: {result.error}")
        self.result = result


@dataclass
class _Spent:
    """Usage accumulated over calls and re-asks."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0
    calls: int = 0

    def add(self, result: CallResult) -> None:
        self.input_tokens += result.input_tokens
        self.output_tokens += result.output_tokens
        self.calls += result.attempts
        if self.cost_usd is not None:
            self.cost_usd = None if result.cost_usd is None else self.cost_usd + result.cost_usd

    def usage(self) -> Usage:
        return Usage(
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cost_usd=self.cost_usd if self.calls else None,
            calls=self.calls,
        )


class _Failure(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


_warned_pairs: set[tuple[str, str]] = set()
_warn_lock = threading.Lock()


def _base_model(name: str) -> str:
    return name.rsplit("/", 1)[-1].lower()


def _run_sync(factory: Callable[[], Awaitable[T]]) -> T:
    return run_sync(factory, "judgeguard-sync-check")


class MetaJudge:
    """A second, independent LLM that judges a judge's reasoning, through litellm.

    ``model`` is any litellm model string, or a list of them for an ensemble whose
    members answer independently (their probabilities are averaged; their agreement is
    reported). Extra keyword arguments go to every ``litellm.acompletion`` call
    unchanged (``api_base``, ``api_key``, ``temperature``, ``mock_response`` …).

    The MetaJudge answers; the gate (:class:`judgeguard.Gate`) turns an answer into a
    reward afterwards and is configured where checks are (``jg.guard(gate=...)``).
    ``gate`` here is only the default for :meth:`check` and for guards that set none;
    ``review_threshold``, ``floor`` and ``on_error`` are kept as a shorthand for it
    (``gate=jg.Gate(review_threshold=...)`` is the same). ``timeout`` (seconds per
    call), ``retries`` and ``backoff`` (first retry delay, doubled each time, with
    jitter) configure the calls;
    ``transport`` how calls are sent: ``"auto"`` (default: OpenAI-compatible endpoints,
    ``openai/…`` and ``hosted_vllm/…``, over judgeguard's own lean HTTP client, all others
    through litellm), ``"openai"`` (that client for any OpenAI-compatible ``api_base``) or
    ``"litellm"`` (always litellm; see :mod:`judgeguard.metajudge.transport`; default
    ``$JUDGEGUARD_TRANSPORT``);
    ``max_context_tokens`` the budget for question and candidates;
    ``structured_output`` forces (True) or forbids (False) a JSON-schema response format
    (default: when litellm says the model supports it); ``raise_errors=True`` raises
    :class:`CheckFailed` instead of returning a result with status ``error``.
    """

    def __init__(
        self,
        model: str | Sequence[str],
        *,
        gate: Gate | None = None,
        review_threshold: float | None = None,
        floor: float | None = None,
        on_error: OnError | None = None,
        timeout: float | None = 60.0,
        retries: int = 2,
        backoff: float = 0.5,
        max_context_tokens: int = 3000,
        structured_output: bool | None = None,
        raise_errors: bool = False,
        **litellm_kwargs: Any,
    ) -> None:
        models = [model] if isinstance(model, str) else list(model)
        if not models or not all(isinstance(m, str) and m.strip() for m in models):
            raise InvalidCheckInput(
                "MetaJudge needs a litellm model string (e.g. 'openai/gpt-4o-mini') or a "
                "non-empty list of them"
            )
        self.models: tuple[str, ...] = tuple(models)
        self.litellm_kwargs: dict[str, Any] = dict(litellm_kwargs)
        try:  # the fast path or litellm (judgeguard.metajudge.transport)
            check_transport(self.litellm_kwargs)
        except ValueError as exc:
            raise InvalidCheckInput(str(exc)) from None
        self.gate = _default_gate(gate, review_threshold, floor, on_error)
        self.timeout = timeout
        self.policy = RetryPolicy(retries=retries, base_delay=backoff)
        self.max_context_tokens = max_context_tokens
        self.structured_output = structured_output
        self.raise_errors = raise_errors

    @property
    def model(self) -> str:
        """The model name, members joined with ``+`` for an ensemble."""
        return "+".join(self.models)

    def __repr__(self) -> str:
        return f"MetaJudge({self.model!r})"

    def sampling_key(self) -> dict[str, Any]:
        """Everything about this MetaJudge that can change its answers (for cache keys).

        The models, the prompt version, the context budget, the structured-output
        setting, every litellm option except those :data:`EXCLUDED_OPTIONS
        <judgeguard.metajudge.requestkey.EXCLUDED_OPTIONS>` leaves out (credentials,
        timeouts, retries, logging …; secret-named values hashed), and each model's
        endpoint, including one set in the environment (``OPENAI_BASE_URL`` …). Gate
        settings are not part of it: they apply after the answer.
        """
        return {
            "models": list(self.models),
            "prompt_version": prompts.PROMPT_VERSION,
            "max_context_tokens": self.max_context_tokens,
            "structured_output": self.structured_output,
            "options": options_key(self.litellm_kwargs),
            "endpoints": [endpoint_key(m, self.litellm_kwargs) for m in self.models],
        }

    def support_prompt_digest(
        self, judgment: Judgment, context: Mapping[str, Any] | None = None
    ) -> str | None:
        """A digest of the support-check messages this judgment and context produce.

        The fence boundary, random on every call, is replaced by a fixed marker, so the
        digest is the same for the same prompt. ``None`` when the check would not call
        the MetaJudge (no options).
        """
        options = options_for(judgment.verdict)
        if not options:
            return None
        return messages_digest(self._support_messages(judgment, options, context, _KEY_BOUNDARY))

    def _support_messages(
        self,
        judgment: Judgment,
        options: Sequence[str],
        context: Mapping[str, Any] | None,
        boundary: str,
    ) -> list[dict[str, str]]:
        return prompts.support_messages(
            judgment.rationale,
            judgment.verdict.kind,
            options,
            judgment.verdict.scale,
            context,
            boundary,
            self.max_context_tokens,
        )

    def regate(self, check: Check, label: LabelLike = None) -> Check:
        """``check`` gated with this MetaJudge's default gate and ``label``
        (``self.gate.apply_to(check, label)``; see :meth:`judgeguard.Gate.apply_to`)."""
        return self.gate.apply_to(check, label)

    # -- the support check ----------------------------------------------------------------
    def check(
        self,
        judgment: Judgment,
        context: Mapping[str, Any] | None = None,
        *,
        label: LabelLike = None,
        gate: Gate | None = None,
    ) -> Check:
        """Support check (reference-free): does the rationale support the verdict?

        Returns a :class:`judgeguard.Check`: the MetaJudge's answer (:meth:`answer`)
        gated by ``gate`` (default: this MetaJudge's default gate). ``context`` holds the
        task (``question``, ``response_a``, ``response_b``, ``rubric`` …) and is truncated
        to the context budget; ``label`` is a gold verdict, which makes R_outcome 1/0.
        Failures end in a result with status ``error`` and a reason code, never an
        exception (unless ``raise_errors=True``).
        """
        return _run_sync(lambda: self.acheck(judgment, context, label=label, gate=gate))

    async def acheck(
        self,
        judgment: Judgment,
        context: Mapping[str, Any] | None = None,
        *,
        label: LabelLike = None,
        gate: Gate | None = None,
    ) -> Check:
        """Async twin of :meth:`check`."""
        _require_judgment(judgment)
        outcome_reward(judgment.verdict, label)  # an unreadable label fails before any call
        result = (gate or self.gate).apply_to(await self.aanswer(judgment, context), label)
        if result.status == "error" and self.raise_errors:
            raise CheckFailed(result)
        return result

    def answer(self, judgment: Judgment, context: Mapping[str, Any] | None = None) -> Check:
        """The MetaJudge's answer for the support check, before any gate.

        A :class:`judgeguard.Check` with the status, the supported verdict, the
        probabilities, ``r_rationale``, explanation and usage, but no outcome or reward:
        :meth:`judgeguard.Gate.apply_to` adds those (what the cache stores, so that a new
        gate or label costs no call). Never raises for a failed call (status ``error``).
        """
        return _run_sync(lambda: self.aanswer(judgment, context))

    async def aanswer(self, judgment: Judgment, context: Mapping[str, Any] | None = None) -> Check:
        """Async twin of :meth:`answer`."""
        _require_judgment(judgment)
        import_clients(self.models, self.litellm_kwargs)  # not in the latency: a first
        # import of litellm takes seconds
        started = time.perf_counter()
        verdict = judgment.verdict
        base = {"verdict": verdict, "metajudge_model": self.model}
        if not judgment.rationale.strip():
            return Check(
                status="skipped",
                reason="empty_rationale",
                error="the judgment has no rationale left after redaction",
                **base,
            )
        options = options_for(verdict)
        if not options:
            return Check(
                status="skipped",
                reason="unknown_scale",
                error="the verdict's options are unknown; pass verdict='score:LOW-HIGH'"
                " (or declared label options) when parsing",
                **base,
            )
        self._warn_self_grading(judgment.judge_model)
        members = await _each(
            self._support_member(m, judgment, options, context) for m in self.models
        )
        for m in members:
            m.verdict = verdict
        ok = [m for m in members if m.status != "error"]
        spent = _sum_usage([m.usage for m in members])
        latency = time.perf_counter() - started
        if not ok:
            first = members[0]
            return Check(
                status="error",
                reason=first.reason,
                error=first.error,
                usage=spent,
                latency_s=latency,
                members=members if len(members) > 1 else [],
                **base,
            )
        probabilities = combine([m.probabilities for m in ok])
        supported, consistent = supported_verdict(verdict, probabilities)
        agreement = None
        if len(self.models) > 1:
            agreement = sum(1 for m in ok if same_support(m.supported, supported)) / len(members)
        return Check(
            status="consistent" if consistent else "inconsistent",
            supported=supported,
            probabilities=probabilities,
            r_rationale=rationale_reward(verdict, probabilities),
            explanation=" | ".join(m.explanation for m in ok if m.explanation) or None,
            unsupported_claims=[c for m in ok for c in m.unsupported_claims],
            usage=spent,
            latency_s=latency,
            agreement=agreement,
            members=members if len(members) > 1 else [],
            reason=None if len(ok) == len(members) else "partial_ensemble",
            **base,
        )

    async def _support_member(
        self,
        model: str,
        judgment: Judgment,
        options: Sequence[str],
        context: Mapping[str, Any] | None,
    ) -> Check:
        boundary = prompts.new_boundary(
            judgment.rationale, *(str(v) for v in (context or {}).values())
        )
        messages = self._support_messages(judgment, options, context, boundary)
        use_schema = self.structured_output
        if use_schema is None:
            use_schema = supports_structured_output(model, self.litellm_kwargs)
        schema = prompts.support_schema(options) if use_schema else None
        spent = _Spent()
        started = time.perf_counter()
        try:
            answer = await self._ask(
                model,
                messages,
                spent,
                schema,
                lambda t: read_support(t, options),
                'one JSON object {"probabilities": {...}, "explanation": "...", '
                '"unsupported_claims": [...]} whose probabilities cover exactly the options '
                + ", ".join(f'"{o}"' for o in options),
            )
        except _Failure as exc:
            return Check(
                status="error",
                reason=exc.reason,
                error=exc.message,
                metajudge_model=model,
                usage=spent.usage(),
                latency_s=time.perf_counter() - started,
            )
        supported, consistent = supported_verdict(judgment.verdict, answer.probabilities)
        r_rationale = rationale_reward(judgment.verdict, answer.probabilities)
        return Check(
            status="consistent" if consistent else "inconsistent",
            supported=supported,
            probabilities=answer.probabilities,
            r_rationale=r_rationale,
            explanation=answer.explanation or None,
            unsupported_claims=answer.unsupported_claims,
            metajudge_model=model,
            usage=spent.usage(),
            latency_s=time.perf_counter() - started,
        )

    async def _ask(
        self,
        model: str,
        messages: list[dict[str, str]],
        spent: _Spent,
        schema: Any,
        read: Callable[[str], T],
        expected: str,
    ) -> T:
        """One call, validated by ``read``; one re-ask with the error when malformed."""
        for attempt in (0, 1):
            try:
                result = await acall(
                    model,
                    messages,
                    self.litellm_kwargs,
                    policy=self.policy,
                    timeout=self.timeout,
                    response_format=schema,
                )
            except CallFailed as exc:
                spent.calls += exc.attempts
                raise _Failure(exc.reason, exc.message) from exc
            spent.add(result)
            try:
                try:
                    return read(result.text)
                except MalformedAnswer:
                    raise
                except Exception as exc:  # an answer no reader foresaw is still an answer
                    raise MalformedAnswer(
                        f"the answer could not be read ({type(exc).__name__})", "unreadable_answer"
                    ) from exc
            except MalformedAnswer as exc:
                if attempt == 1:
                    raise _Failure(exc.reason, f"malformed answer after a re-ask: {exc}") from exc
                messages = [
                    *messages,
                    {"role": "assistant", "content": result.text},
                    prompts.repair_message(str(exc), expected),
                ]
        raise AssertionError("unreachable")  # pragma: no cover

    def _warn_self_grading(self, judge_model: str | None) -> None:
        if not judge_model:
            return
        for m in self.models:
            if _base_model(m) == _base_model(judge_model):
                with _warn_lock:
                    if (m, judge_model) in _warned_pairs:
                        continue
                    _warned_pairs.add((m, judge_model))
                warnings.warn(
                    f"the MetaJudge model {m!r} is the judge model {judge_model!r}: it grades "
                    "its own reasoning, which inflates consistency; use an independent model",
                    SelfGradingWarning,
                    stacklevel=4,
                )

    # -- the reference check --------------------------------------------------------------
    def match(
        self,
        rationale: Judgment | str | Sequence[str],
        reference: str | Sequence[str],
        *,
        mode: Literal["paper", "released"] = "paper",
    ) -> RationaleMatch:
        """Reference check: how well the judge's atomic reasons match reference reasons.

        ``rationale`` is a :class:`judgeguard.Judgment` (its atomic reasons when it lists
        them, else its rationale), a string (decomposed into atomic reasons by the
        MetaJudge with the paper's rules) or a list of reasons, most important first.
        ``reference`` is a list of reference reasons or a string to decompose. Returns a
        :class:`judgeguard.RationaleMatch` with precision, recall (RC), F1 and AP in the
        given ``mode`` (see :func:`judgeguard.rationale_metrics`).
        """
        return _run_sync(lambda: self.amatch(rationale, reference, mode=mode))

    async def amatch(
        self,
        rationale: Judgment | str | Sequence[str],
        reference: str | Sequence[str],
        *,
        mode: Literal["paper", "released"] = "paper",
    ) -> RationaleMatch:
        """Async twin of :meth:`match`."""
        _validate_reasons(reference, "reference")
        if not isinstance(rationale, Judgment):
            _validate_reasons(rationale, "rationale")
        import_clients(self.models, self.litellm_kwargs)
        started = time.perf_counter()
        spent = _Spent()
        base: dict[str, Any] = {"metajudge_model": self.model, "mode": mode}
        try:  # decomposition happens once, so every ensemble member matches the same items
            judge_items = await self._reasons(self.models[0], rationale, spent)
            ref_items = await self._reasons(self.models[0], reference, spent)
        except _Failure as exc:
            result = RationaleMatch(
                status="error", reason=exc.reason, error=exc.message, usage=spent.usage(), **base
            )
        else:
            if not ref_items:
                result = RationaleMatch(
                    status="error",
                    reason="empty_reference",
                    error="the reference has no atomic reason",
                    judge_reasons=judge_items,
                    usage=spent.usage(),
                    **base,
                )
            else:
                members = await _each(
                    self._match_member(m, judge_items, ref_items, mode) for m in self.models
                )
                result = members[0] if len(members) == 1 else _combine_matches(members, self.model)
                result.usage = _sum_usage([spent.usage(), result.usage])
        result.latency_s = time.perf_counter() - started
        if result.status == "error" and self.raise_errors:
            raise CheckFailed(result)
        return result

    async def _match_member(
        self,
        model: str,
        judge_items: list[str],
        ref_items: list[str],
        mode: Literal["paper", "released"],
    ) -> RationaleMatch:
        spent = _Spent()
        base: dict[str, Any] = {
            "metajudge_model": model,
            "mode": mode,
            "judge_reasons": judge_items,
            "reference_reasons": ref_items,
        }
        if judge_items:
            boundary = prompts.new_boundary(*judge_items, *ref_items)
            try:
                lines = await self._ask(
                    model,
                    prompts.match_messages(ref_items, judge_items, boundary),
                    spent,
                    None,
                    lambda t: read_match_lines(t, len(ref_items), len(judge_items)),
                    f"the <RESULT_START> block with exactly one line '- R{{i}}@S{{j}}: score' "
                    f"for each of R1..R{len(ref_items)}, S0..S{len(judge_items)}, scores in "
                    "0, 0.25, 0.5, 0.75, 1",
                )
            except _Failure as exc:
                return RationaleMatch(
                    status="error",
                    reason=exc.reason,
                    error=exc.message,
                    usage=spent.usage(),
                    **base,
                )
        else:  # nothing to match: every reference reason is unmatched, no call needed
            lines = [(r, 0, 0.0) for r in range(1, len(ref_items) + 1)]
        scores = rationale_metrics(lines, len(ref_items), len(judge_items), mode=mode)
        pairs = [MatchPair(reference=r, judge=s, score=v) for r, s, v in lines]
        if scores is None:
            return RationaleMatch(
                status="skipped",
                reason="dropped_by_released_rules",
                pairs=pairs,
                usage=spent.usage(),
                **base,
            )
        return RationaleMatch(
            pairs=pairs,
            matching=[MatchPair(reference=r, judge=s, score=v) for r, s, v in scores.matching],
            precision=scores.precision,
            recall=scores.recall,
            f1=scores.f1,
            ap=scores.ap,
            usage=spent.usage(),
            **base,
        )

    async def _reasons(
        self, model: str, source: Judgment | str | Sequence[str], spent: _Spent
    ) -> list[str]:
        if isinstance(source, Judgment):
            if source.atomic_reasons:
                return list(source.atomic_reasons)
            source = source.rationale
        if not isinstance(source, str):
            return [s.strip() for s in source if s.strip()]
        if not source.strip():
            return []
        boundary = prompts.new_boundary(source)
        return await self._ask(
            model,
            prompts.decompose_messages(source, boundary),
            spent,
            None,
            read_reasons,
            'one JSON object {"reasons": ["...", ...]}',
        )


def _default_gate(
    gate: Gate | None,
    review_threshold: float | None,
    floor: float | None,
    on_error: OnError | None,
) -> Gate:
    """The MetaJudge's default gate: ``gate``, or one built from the shorthand options."""
    loose = {
        k: v
        for k, v in (
            ("review_threshold", review_threshold),
            ("floor", floor),
            ("on_error", on_error),
        )
        if v is not None
    }
    if gate is None:
        return Gate(**loose)  # type: ignore[arg-type]
    if loose:
        raise InvalidCheckInput(
            f"give the gate once: gate= or {', '.join(sorted(loose))}=, not both"
        )
    if not isinstance(gate, Gate):
        raise InvalidCheckInput(f"gate= must be a judgeguard.Gate, got {type(gate).__name__}")
    return gate


def _require_judgment(judgment: object) -> None:
    if not isinstance(judgment, Judgment):
        raise InvalidCheckInput(
            f"check() needs a judgeguard.Judgment (from jg.parse), got {type(judgment).__name__}"
        )


class SelfGradingWarning(UserWarning):
    """The MetaJudge model is the judge model (it would grade its own reasoning)."""


def _validate_reasons(value: object, name: str) -> None:
    if isinstance(value, str):
        if not value.strip():
            raise InvalidCheckInput(f"{name} is an empty string; give reasons or a critique")
        return
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        if name == "reference" and not any(v.strip() for v in value):
            raise InvalidCheckInput("reference has no reasons; give at least one reason")
        return
    raise InvalidCheckInput(
        f"{name} must be a string or a list of strings, got {type(value).__name__}"
    )


def _sum_usage(usages: Sequence[Usage]) -> Usage:
    costs = [u.cost_usd for u in usages if u.calls]
    return Usage(
        input_tokens=sum(u.input_tokens for u in usages),
        output_tokens=sum(u.output_tokens for u in usages),
        cost_usd=None
        if not costs or any(c is None for c in costs)
        else sum(c for c in costs if c is not None),
        calls=sum(u.calls for u in usages),
    )


def _combine_matches(members: list[RationaleMatch], model: str) -> RationaleMatch:
    """An ensemble's reference check: the mean of its members' metrics.

    Every member matched the same atomic reasons. ``agreement`` is the share of reference
    reasons for which every successful member named the same judge reason; ``pairs`` and
    ``matching`` are the first successful member's.
    """
    ok = [m for m in members if m.status == "ok"]
    usage = _sum_usage([m.usage for m in members])
    if not ok:
        return members[0].model_copy(
            update={"metajudge_model": model, "usage": usage, "members": members}
        )

    def mean(name: str) -> float:
        return float(sum(getattr(m, name) for m in ok)) / len(ok)

    n_ref = len(ok[0].reference_reasons)
    same = sum(
        1
        for r in range(1, n_ref + 1)
        if len({next((p.judge for p in m.pairs if p.reference == r), 0) for m in ok}) == 1
    )
    return ok[0].model_copy(
        update={
            "precision": mean("precision"),
            "recall": mean("recall"),
            "f1": mean("f1"),
            "ap": mean("ap"),
            "metajudge_model": model,
            "usage": usage,
            "agreement": same / n_ref if n_ref else None,
            "members": members,
            "reason": None if len(ok) == len(members) else "partial_ensemble",
        }
    )
