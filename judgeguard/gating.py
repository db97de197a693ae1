"""The gate: R_final = R_rationale × R_outcome, the review flag and optional floor calibration.

The gate runs after the MetaJudge (and after the cache): the MetaJudge answers (the
probabilities behind R_rationale), the gate turns that answer plus an outcome (a gold
label, or the verdict's own value) into a reward. Changing the gate or the label never
needs a new MetaJudge call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Union

if TYPE_CHECKING:  # kept light: the audit re-gates cached lines without pydantic
    from judgeguard.schema import Check
    from judgeguard.verdicts import Verdict

__all__ = [
    "DEFAULT_REVIEW_THRESHOLD",
    "Gate",
    "GateResult",
    "LabelLike",
    "OnError",
    "outcome_reward",
]

#: Judgments whose rationale reward falls below this are flagged for human review.
DEFAULT_REVIEW_THRESHOLD = 0.3

#: What a failed check's reward is: ``None``, R_outcome alone, or 0.
OnError = Literal["none", "outcome", "zero"]

#: A gold label: a :class:`~judgeguard.Verdict`, its text (``"A>B"``, ``"pass"``), a score.
LabelLike = Union["Verdict", str, float, None]


def outcome_reward(verdict: Verdict, label: LabelLike = None) -> float | None:
    """R_outcome: 1/0 against a gold ``label`` when given, else the verdict's own value.

    With a label (training a GenRM, benchmarking a judge) the outcome is 1 when the
    verdict agrees with it (:meth:`Verdict.agrees_with`), else 0. Without one (using the
    judge as a reward) it is :meth:`Verdict.outcome`: the score's place on its scale, 1/0
    for pass/fail labels, the preference for A for pairwise verdicts. ``None`` when the
    verdict has no known value (a score of unknown scale, an unknown label).
    """
    if label is not None:
        return 1.0 if verdict.agrees_with(label) else 0.0
    return verdict.outcome()


@dataclass(frozen=True)
class GateResult:
    """The gated reward and how it was reached."""

    reward: float | None
    r_rationale: float | None
    r_outcome: float | None
    needs_review: bool
    calibrated: bool
    reason: str | None = None


@dataclass(frozen=True)
class Gate:
    """Combine the rationale and outcome rewards multiplicatively (paper Eq. 4).

    ``R_final = R_rationale × R_outcome``: a correct outcome cannot buy back unsupported
    reasoning, and vice versa. ``review_threshold`` flags judgments whose R_rationale is
    below it. ``floor`` (off by default) is a calibration for a noisy MetaJudge: the
    rationale reward used in the product is ``floor + (1 - floor) × R_rationale``; when
    it changes the result, ``calibrated`` says so. A failed check gives reward ``None``
    (``on_error="none"``, the default: never a silent pass); ``on_error="outcome"``
    falls back to R_outcome alone and ``on_error="zero"`` to 0, both marked in
    ``reason``.

    Configure it where checks are configured (``jg.guard(..., gate=jg.Gate(...))``,
    ``Checker(gate=...)``, the LangChain wrappers, ``judgeguard audit --review-below X
    --floor X --on-error …``); it is applied to the MetaJudge's answer after the cache.
    """

    review_threshold: float = DEFAULT_REVIEW_THRESHOLD
    floor: float = 0.0
    on_error: OnError = "none"

    def __post_init__(self) -> None:
        if not 0.0 <= self.review_threshold <= 1.0:
            raise ValueError(f"review_threshold must lie in [0, 1], got {self.review_threshold}")
        if not 0.0 <= self.floor < 1.0:
            raise ValueError(f"floor must lie in [0, 1), got {self.floor}")
        if self.on_error not in ("none", "outcome", "zero"):
            raise ValueError("on_error must be 'none', 'outcome' or 'zero'")

    def apply(self, r_rationale: float | None, r_outcome: float | None) -> GateResult:
        """Gate one judgment; ``r_rationale is None`` means the check did not succeed."""
        if r_rationale is None:
            fallback = {"none": None, "outcome": r_outcome, "zero": 0.0}[self.on_error]
            return GateResult(
                fallback,
                None,
                r_outcome,
                needs_review=True,
                calibrated=False,
                reason=f"check_failed:on_error={self.on_error}",
            )
        if not 0.0 <= r_rationale <= 1.0:
            raise ValueError(f"r_rationale must lie in [0, 1], got {r_rationale}")
        needs_review = r_rationale < self.review_threshold
        used = self.floor + (1.0 - self.floor) * r_rationale
        calibrated = self.floor > 0.0 and used != r_rationale
        if r_outcome is None:
            return GateResult(
                None, r_rationale, None, needs_review, calibrated, reason="no_outcome_value"
            )
        return GateResult(used * r_outcome, r_rationale, r_outcome, needs_review, calibrated)

    def apply_to(self, check: Check, label: LabelLike = None) -> Check:
        """``check`` (a MetaJudge answer, fresh or cached) with its outcome and reward.

        R_outcome is computed from the verdict and ``label``; a finished check
        (``consistent``/``inconsistent``) gets ``reward``, ``needs_review`` and
        ``calibrated`` from :meth:`apply`; a check that ended in ``error`` gets the
        ``on_error`` fallback reward and ``needs_review``; skipped and unparsed checks
        keep ``reward=None``. Returns a new :class:`~judgeguard.Check`; raises
        :class:`judgeguard.ParseError` for a label that does not fit the verdict.
        """
        verdict = check.verdict
        r_outcome = outcome_reward(verdict, label) if verdict is not None else check.r_outcome
        update: dict[str, object] = {"r_outcome": r_outcome}
        finished = check.status in ("consistent", "inconsistent")
        if finished or check.status == "error":
            gated = self.apply(check.r_rationale if finished else None, r_outcome)
            update.update(
                reward=gated.reward, needs_review=gated.needs_review, calibrated=gated.calibrated
            )
            if finished and check.reason != "partial_ensemble":
                update["reason"] = gated.reason
        if check.members:
            update["members"] = [
                m.model_copy(update={"r_outcome": r_outcome}) for m in check.members
            ]
        return check.model_copy(update=update)
