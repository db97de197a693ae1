"""The gate: R_final = R_rationale × R_outcome, the review flag and optional floor calibration."""

from __future__ import annotations

from dataclasses import dataclass

from judgeguard.verdicts import Verdict

__all__ = ["DEFAULT_REVIEW_THRESHOLD", "Gate", "GateResult", "outcome_reward"]

#: Judgments whose rationale reward falls below this are flagged for human review.
DEFAULT_REVIEW_THRESHOLD = 0.3


def outcome_reward(verdict: Verdict, label: Verdict | str | float | None = None) -> float | None:
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
    """

    review_threshold: float = DEFAULT_REVIEW_THRESHOLD
    floor: float = 0.0
    on_error: str = "none"

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
