"""Support-check scoring: R_rationale from the MetaJudge's probabilities, and consistency.

Rules, by verdict kind (``p`` is the MetaJudge's distribution over the verdict options):

* **pairwise** — R_rationale = the probability of every option with the judge's winner
  (for ``A>B``: p(A>>B) + p(A>B)). Consistent when the judge's winner is the unique most
  probable winner (A, tie or B, each summed over strengths).
* **label** — R_rationale = p(judge's label). Consistent when it is the unique most
  probable label.
* **score** — a triangular kernel around the judge's score ``v`` on a scale of width
  ``W = high - low``, with half-width ``h = max(1, W / 4)``:
  ``R_rationale = Σ_o p(o) · max(0, 1 − |o − v| / h)``. Support for the judge's own
  score counts fully, support for a neighbouring score partly, and support for a score a
  quarter of the scale away (or more) not at all, so a rationale that supports a distant
  score gets ≤ 0.3 (on 1–10, h = 2.25: one point away keeps 0.56, two points 0.11,
  three or more 0; on 1–5, h = 1: any other score gets 0). Consistent when the most
  probable score lies within ``h / 2`` of ``v`` (on 1–10: within one point; on 1–5:
  exactly ``v``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

from judgeguard.verdicts import Verdict, VerdictSpec

__all__ = ["combine", "options_for", "rationale_reward", "supported_verdict"]


def options_for(verdict: Verdict) -> tuple[str, ...]:
    """The verdict options offered to the MetaJudge (at least two, else ``()``)."""
    options = verdict.option_space()
    if verdict.kind == "label" and len(options) == 1:
        options = (options[0], "other")
    return options if len(options) >= 2 else ()


@functools.lru_cache(maxsize=64)
def _pairwise(option: str) -> Verdict:
    """The pairwise verdict an option string (``"A>>B"`` …) stands for."""
    return Verdict.parse(option, VerdictSpec(kind="pairwise"))


def _option_verdict(option: str, verdict: Verdict) -> Verdict:
    if verdict.kind == "pairwise":
        return _pairwise(option)
    if verdict.kind == "score":
        return Verdict.score(float(option), verdict.scale)
    return Verdict.of_label(option, verdict.options)


def _half_width(verdict: Verdict) -> float:
    assert verdict.scale is not None
    lo, hi = verdict.scale
    return max(1.0, (hi - lo) / 4) if hi - lo >= 2 else (hi - lo) / 4


def _winner_mass(probabilities: Mapping[str, float]) -> dict[str, float]:
    mass = {"A": 0.0, "tie": 0.0, "B": 0.0}
    for option, p in probabilities.items():
        v = _pairwise(option)
        assert v.winner is not None
        mass[v.winner] += p
    return mass


def rationale_reward(verdict: Verdict, probabilities: Mapping[str, float]) -> float:
    """R_rationale: how much of the MetaJudge's belief supports the judge's verdict."""
    if verdict.kind == "pairwise":
        assert verdict.winner is not None
        return min(1.0, _winner_mass(probabilities)[verdict.winner])
    if verdict.kind == "score":
        assert verdict.value is not None
        h = _half_width(verdict)
        total = sum(
            p * max(0.0, 1.0 - abs(float(o) - verdict.value) / h) for o, p in probabilities.items()
        )
        return min(1.0, total)
    return min(1.0, probabilities.get(verdict.render(), 0.0))


def _unique_argmax(scores: Mapping[str, float]) -> str | None:
    best = max(scores.values())
    winners = [k for k, v in scores.items() if v >= best - 1e-12]
    return winners[0] if len(winners) == 1 else None


def supported_verdict(
    verdict: Verdict,
    probabilities: Mapping[str, float],
) -> tuple[Verdict | None, bool]:
    """(the verdict the reasoning supports most, whether it agrees with the judge's).

    The supported verdict is ``None`` when two options tie for the most probable one;
    a tie is never consistent.
    """
    if verdict.kind == "pairwise":
        winner = _unique_argmax(_winner_mass(probabilities))
        if winner is None:
            return None, False
        in_winner = {o: p for o, p in probabilities.items() if _pairwise(o).winner == winner}
        top = max(in_winner, key=lambda o: in_winner[o])
        return _option_verdict(top, verdict), winner == verdict.winner
    top_option = _unique_argmax(probabilities)
    if top_option is None:
        return None, False
    supported = _option_verdict(top_option, verdict) if top_option != "other" else None
    if supported is None:
        return None, False
    if verdict.kind == "score":
        assert supported.value is not None and verdict.value is not None
        return supported, abs(supported.value - verdict.value) < _half_width(verdict) / 2
    return supported, supported.label == verdict.label


def combine(answers: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """An ensemble's distribution: the mean of its members' distributions."""
    keys = list(answers[0])
    return {k: sum(a.get(k, 0.0) for a in answers) / len(answers) for k in keys}
