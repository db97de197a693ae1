"""Support-check scoring: R_rationale from the MetaJudge's probabilities, and consistency.

The rules differ by verdict kind and live with the kind, in
:class:`judgeguard.verdicts.VerdictKindRules` (pairwise: the probability of the judge's
winner; label: of the judge's label; score: a triangular kernel around the judge's
score; see :class:`~judgeguard.verdicts.PairwiseRules`,
:class:`~judgeguard.verdicts.ScoreRules`, :class:`~judgeguard.verdicts.LabelRules`). This
module applies them to a verdict and combines an ensemble's answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from judgeguard.verdicts import Verdict, kind_rules

__all__ = ["combine", "options_for", "rationale_reward", "same_support", "supported_verdict"]


def options_for(verdict: Verdict) -> tuple[str, ...]:
    """The verdict options offered to the MetaJudge (at least two, else ``()``)."""
    return kind_rules(verdict.kind).support_options(verdict)


def rationale_reward(verdict: Verdict, probabilities: Mapping[str, float]) -> float:
    """R_rationale: how much of the MetaJudge's belief supports the judge's verdict."""
    return kind_rules(verdict.kind).rationale_reward(verdict, probabilities)


def supported_verdict(
    verdict: Verdict,
    probabilities: Mapping[str, float],
) -> tuple[Verdict | None, bool]:
    """(the verdict the reasoning supports most, whether it agrees with the judge's).

    The supported verdict is ``None`` when two options tie for the most probable one;
    a tie is never consistent.
    """
    return kind_rules(verdict.kind).supported(verdict, probabilities)


def same_support(a: Verdict | None, b: Verdict | None) -> bool:
    """Whether two supported verdicts agree (pairwise: the same winner; else equal)."""
    if a is None or b is None or a.kind != b.kind:
        return False
    rules = kind_rules(a.kind)
    return rules.category(a) == rules.category(b)


def combine(answers: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """An ensemble's distribution: the mean of its members' distributions."""
    keys = list(answers[0])
    return {k: sum(a.get(k, 0.0) for a in answers) / len(answers) for k in keys}
