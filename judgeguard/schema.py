"""The data model every pipeline stage shares: Judgment, Check and RationaleMatch."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from judgeguard.verdicts import Verdict

__all__ = [
    "Check",
    "CheckStatus",
    "Judgment",
    "MatchPair",
    "RationaleMatch",
    "Redaction",
    "Usage",
]

CheckStatus = Literal["consistent", "inconsistent", "error", "skipped", "unparsed"]


class Redaction(BaseModel):
    """One piece removed from the rationale source: ``source[start:end] == text``."""

    model_config = ConfigDict(frozen=True)

    start: int
    end: int
    text: str
    reason: Literal["verdict", "verdict_statement", "verdict_heading", "quoted_verdict"]


class Judgment(BaseModel):
    """A judge's output split into reasoning and verdict.

    ``raw`` is the judge's text as returned (JSON text for structured outputs);
    ``rationale`` is the reasoning with the verdict removed: the verdict markup and the
    sentences that state the final verdict. ``rationale_source`` is the text the
    rationale was cut from (``raw`` for free text, the reasoning field for structured
    output) and ``redactions`` lists, in order, the spans of it that were removed, so
    that ``rationale`` is exactly ``rationale_source`` without them. ``thinking`` holds
    a reasoning model's hidden thoughts when present; ``rationale_origin`` says whether
    the rationale came from the visible answer or, when that held no reasoning, from
    the thinking. ``atomic_reasons`` are the judge's own itemised reasons, when its
    output lists them. ``unscanned_chars`` counts the leading characters of the output's
    text, thinking or reasoning field that were not scanned: texts longer than
    ``judgeguard.parsing.SCAN_LIMIT`` characters are read from their tail (the verdict of
    a huge output sits at its end), and the rationale is cut from that tail.
    """

    model_config = ConfigDict(frozen=True)

    raw: str
    rationale: str
    verdict: Verdict
    format: str
    rationale_source: str
    redactions: tuple[Redaction, ...] = ()
    thinking: str | None = None
    rationale_origin: Literal["output", "thinking", "field"] = "output"
    atomic_reasons: tuple[str, ...] | None = None
    judge_model: str | None = None
    response_id: str | None = None
    unscanned_chars: int = 0

    @property
    def redacted(self) -> tuple[str, ...]:
        """The texts that were removed from the rationale, in order."""
        return tuple(r.text for r in self.redactions)


class Usage(BaseModel):
    """Tokens and cost of the MetaJudge calls behind one result, summed over re-asks."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    calls: int = 0


class Check(BaseModel):
    """The result of a support check: does the rationale support the judge's verdict?

    ``status`` is one of ``consistent``, ``inconsistent``, ``error``, ``skipped``,
    ``unparsed``. ``judgment`` is the parsed judgment the check is about (set by the guard
    and the audit), ``reference_match`` the reference check when references were given.
    ``supported`` is the verdict the reasoning supports most,
    ``probabilities`` the MetaJudge's distribution over the verdict options,
    ``r_rationale`` the probability given to the judge's own verdict, ``r_outcome`` the
    outcome reward, and ``reward`` the gated reward ``r_rationale * r_outcome`` (``None``
    when the check did not succeed). ``reason`` holds a reason code for non-success.
    ``trace_id`` and ``span_id`` (hex) identify the judge call's span, ``evaluator_span_id``
    the check's own span (``None`` without tracing): attach feedback to them later.
    ``run_id`` is the front end's id of the guarded call: for the LangChain wrappers the
    LangChain run id (``JudgeGuardRunnable``: its own run; the callback handler: the model
    run), so LangSmith feedback can be posted for it; ``None`` elsewhere.
    """

    status: CheckStatus
    verdict: Verdict | None = None
    supported: Verdict | None = None
    probabilities: dict[str, float] = Field(default_factory=dict)
    r_rationale: float | None = None
    r_outcome: float | None = None
    reward: float | None = None
    needs_review: bool = False
    calibrated: bool = False
    explanation: str | None = None
    unsupported_claims: list[str] = Field(default_factory=list)
    metajudge_model: str | None = None
    cached: bool = False
    usage: Usage = Field(default_factory=Usage)
    latency_s: float | None = None
    reason: str | None = None
    error: str | None = None
    agreement: float | None = None
    members: list[Check] = Field(default_factory=list)
    reference_match: RationaleMatch | None = None
    judgment: Judgment | None = None
    trace_id: str | None = None
    span_id: str | None = None
    evaluator_span_id: str | None = None
    run_id: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def consistent(self) -> bool | None:
        """Hard consistency RC_i: True/False for a finished check, ``None`` otherwise."""
        if self.status in ("consistent", "inconsistent"):
            return self.status == "consistent"
        return None


class MatchPair(BaseModel):
    """One reference reason matched to one judge reason (1-based; ``judge = 0``: none)."""

    model_config = ConfigDict(frozen=True)

    reference: int
    judge: int
    score: float


class RationaleMatch(BaseModel):
    """The result of a reference check (the paper's rationale consistency).

    ``judge_reasons`` (ranked, most important first) and ``reference_reasons`` are the
    atomic reasons; ``pairs`` is what the MetaJudge answered for each reference reason,
    ``matching`` the one-to-one pairs that count; ``recall`` is RC.
    """

    status: Literal["ok", "error", "skipped"] = "ok"
    judge_reasons: list[str] = Field(default_factory=list)
    reference_reasons: list[str] = Field(default_factory=list)
    pairs: list[MatchPair] = Field(default_factory=list)
    matching: list[MatchPair] = Field(default_factory=list)
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    ap: float | None = None
    mode: Literal["paper", "released"] = "paper"
    metajudge_model: str | None = None
    cached: bool = False
    usage: Usage = Field(default_factory=Usage)
    latency_s: float | None = None
    reason: str | None = None
    error: str | None = None
    agreement: float | None = None
    members: list[RationaleMatch] = Field(default_factory=list)

    @property
    def rc(self) -> float | None:
        """Rationale consistency: the soft recall of the reference reasons."""
        return self.recall
