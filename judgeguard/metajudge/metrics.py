"""Rationale-consistency metrics (precision, recall/RC, F1, AP) from a MetaJudge item matching.

Source: Wang et al., "Outcome Accuracy is Not Enough: Aligning the Reasoning Process of
Reward Models" (arXiv 2602.04649, Qwen team + Fudan, 2026), Eq. 1-3, and the paper's released
analysis script ``metajudge_analysis.py`` (function ``calculate_metrics`` plus the sample
filter in ``analyze_single_file``), read in the public repository ``raprite/RationaleRM`` at
commits 55a1dc9a5a2f00f448992c4b00b80ddc169fe872 and c0803acb1d907829f8cba107dd9be55a9df4baf0
(``calculate_metrics`` is identical in both; the README links arXiv 2602.04649 and the
Hugging Face dataset ``Qwen/RationaleRM``). No code is copied from it; ``mode="released"``
re-implements its arithmetic in the same order so the floats come out identical.

Input
-----
The MetaJudge gets the reference (human) items R_1..R_n and the judge's items S_1..S_m, in the
judge's order, and for every R_i names the best-matching S_j (``j = 0``: none) with a score in
{0, 0.25, 0.5, 0.75, 1}. ``scores`` holds those lines as ``(r, s, score)`` triples, 1-based.
``n = n_reference``, ``m = n_judge``.

mode="paper" (Eq. 1-3; strict one-to-one)
-----------------------------------------
* Matching M: a maximum-weight bipartite matching over the edges ``(r, s, score)`` with
  ``s >= 1`` and ``score > 0``, so a judge item serves at most one reference item. A 0-score
  pairing is no match. Exact algorithm (dynamic programming per connected component); ties go
  to the lower ``r`` and, for that ``r``, the earlier judge item. With one line per R (enforced)
  the graph is a set of stars, so each judge item goes to the best-scoring R naming it.
* Recall (RC, Eq. 2) = sum of w(r, s) over M / n
* Precision         = sum of w(r, s) over M / m  (0 when m = 0)
* F1                = 2·P·R / (P + R)  (0 when P + R = 0)
* AP (Eq. 3)        = (1/n) · sum_{k=1..m} P@k · I(k), where I(k) = 1 when the k-th judge
  item is in M, and P@k = (sum of the M scores among judge items 1..k) / k.
  Items matched late in the judge's list lower AP. Because I(k) is a 0/1 indicator while
  P@k averages graded scores, AP can exceed RC when a strong match comes before a weak one
  (R1@S1 = 1, R2@S2 = 0.25, n = 2: RC = 0.625, AP = (1 + 0.625) / 2 = 0.8125). AP <= RC holds
  when all scores are 1, or more generally when matched scores don't decrease along the list.
* Lines need not cover every R (a missing R is unmatched); a repeated R is an error.

mode="released" (the released script, exactly)
----------------------------------------------
* Dropped samples (returns None): m = 0 or m > 10 (the script's ``--max-checklist-len``
  default); no lines; number of lines != n (repeated lines count, so a repeat means some
  other R is missing).
* c = min(m, 5). Kept lines K: ``s != 0`` and ``s <= c`` -- lines naming S_6..S_m are dropped
  everywhere, not only from the precision denominator. 0-score lines stay in K.
* No one-to-one constraint: best_R(r) = max score of r's lines in K, best_S(s) = max score
  of s's lines in K.
* Recall    = sum_r best_R(r) / n
* Precision = sum_s best_S(s) / c
* F1        = 2·P·R / (P + R)  (0 when P + R = 0)
* AP        = (1/n) · sum_{i=1..t} (sum_{u<=i} best_S(s_u)) / i, where s_1 < ... < s_t are the
  distinct judge items in K. The divisor is the rank among the named judge items, not the
  position in the judge's list, so position is ignored (S3 and S4 count like S1 and S2). There is
  no indicator either: a judge item named only by 0-score lines still adds a term, so AP can
  exceed recall (R1@S1 = 1, R2@S2 = 0, n = 2: RC = 0.5, AP = (1 + 0.5) / 2 = 0.75).
* ``matching`` = the lines in K, sorted (repeats of r or s possible, 0 scores included).

Why the two differ: the paper describes strict one-to-one matching and a ranked AP over the
judge's list, while the script only aggregates the MetaJudge's lines: it takes a maximum per
R and per S, caps the judge list at 5, and computes AP over the named judge items.
Scores under one mode can't be compared with the other's.

Where this module differs from the script (input contract only; well-formed inputs give the
script's floats): the script accepts any decimal in [0, 1] and drops the sample otherwise, and
silently ignores lines with r > n or s > c (and counts an R0 line). Here scores must be on the
{0, .25, .5, .75, 1} grid, and indices outside 1..n / 0..m raise :class:`MetricsInputError`,
in both modes, before the released-mode drop rules apply. Samples whose MetaJudge output fails
to parse (no ``<RESULT_START>`` block) are the parser's concern, not this function's.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, SupportsIndex

from judgeguard.errors import JudgeguardError

__all__ = [
    "ALLOWED_SCORES",
    "RELEASED_MAX_JUDGE_ITEMS",
    "RELEASED_PRECISION_CAP",
    "MetricsInputError",
    "RationaleScores",
    "rationale_metrics",
]

ALLOWED_SCORES: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
RELEASED_PRECISION_CAP = 5
RELEASED_MAX_JUDGE_ITEMS = 10

_ALLOWED_SET = frozenset(ALLOWED_SCORES)

Pair = tuple[int, int, float]
_QEdge = tuple[int, int, int]  # (r, s, weight in quarters: 1..4)


class MetricsInputError(JudgeguardError, ValueError):
    """The matching lines or list sizes given to :func:`rationale_metrics` are invalid."""


@dataclass(frozen=True)
class RationaleScores:
    """Rationale-consistency scores of one sample; ``matching`` holds the pairs kept."""

    precision: float
    recall: float
    f1: float
    ap: float
    matching: tuple[Pair, ...]
    mode: str

    @property
    def rc(self) -> float:
        """Rationale consistency (paper Eq. 2): the recall."""
        return self.recall


def rationale_metrics(
    scores: Sequence[tuple[int, int, float]],
    n_reference: int,
    n_judge: int,
    mode: Literal["paper", "released"] = "paper",
) -> RationaleScores | None:
    """Precision, recall (RC), F1 and AP of one sample's MetaJudge lines.

    ``scores`` are ``(r, s, score)`` triples (1-based; ``s = 0``: no match). Returns None only
    in ``mode="released"`` for a sample the released script drops. Raises
    :class:`MetricsInputError` for invalid input. See the module docstring for the formulas.
    """
    if mode not in ("paper", "released"):
        raise MetricsInputError(f"mode must be 'paper' or 'released', got {mode!r}")
    lines = _validate(scores, n_reference, n_judge, mode)
    if mode == "paper":
        return _paper(lines, n_reference, n_judge)
    return _released(lines, n_reference, n_judge)


# ---------------------------------------------------------------------------- validation


def _as_index(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, SupportsIndex):
        return None
    return value.__index__()


def _validate(
    scores: Sequence[tuple[int, int, float]], n_reference: int, n_judge: int, mode: str
) -> list[Pair]:
    n_ref = _as_index(n_reference)
    if n_ref is None or n_ref < 1:
        raise MetricsInputError(
            f"n_reference must be an int >= 1 (the number of reference items), got {n_reference!r}"
        )
    n_jud = _as_index(n_judge)
    if n_jud is None or n_jud < 0:
        raise MetricsInputError(
            f"n_judge must be an int >= 0 (the number of judge items), got {n_judge!r}"
        )
    lines: list[Pair] = []
    first_line_of: dict[int, int] = {}
    for pos, item in enumerate(scores):
        try:
            raw_r, raw_s, raw_score = item
        except (TypeError, ValueError):
            raise MetricsInputError(
                f"scores[{pos}] must be an (r, s, score) triple, got {item!r}"
            ) from None
        r = _as_index(raw_r)
        if r is None or not 1 <= r <= n_ref:
            raise MetricsInputError(
                f"scores[{pos}]: reference index r={raw_r!r} is outside 1..{n_ref} (n_reference)"
            )
        s = _as_index(raw_s)
        if s is None or not 0 <= s <= n_jud:
            raise MetricsInputError(
                f"scores[{pos}]: judge index s={raw_s!r} is outside 0..{n_jud} "
                "(0 = no match, else 1..n_judge)"
            )
        if (
            isinstance(raw_score, bool)
            or not isinstance(raw_score, numbers.Real)
            or float(raw_score) not in _ALLOWED_SET
        ):
            raise MetricsInputError(
                f"scores[{pos}]: score {raw_score!r} for R{r}@S{s} is not one of "
                "0, 0.25, 0.5, 0.75, 1.0"
            )
        if mode == "paper" and r in first_line_of:
            raise MetricsInputError(
                f"reference item R{r} appears more than once (scores[{first_line_of[r]}] and "
                f"scores[{pos}]); mode='paper' takes one line per reference item: keep only "
                "its best-matching judge item (highest score), or use mode='released', which "
                "takes the maximum per reference item"
            )
        first_line_of.setdefault(r, pos)
        lines.append((r, s, float(raw_score)))
    return lines


# ---------------------------------------------------------------------------- paper mode


def _paper(lines: list[Pair], n_reference: int, n_judge: int) -> RationaleScores:
    edges = [(r, s, round(score * 4)) for r, s, score in lines if s >= 1 and score > 0]
    matched = _max_weight_matching(edges)
    total = sum(q for _, _, q in matched)  # in quarters, exact
    recall = Fraction(total, 4 * n_reference)
    precision = Fraction(total, 4 * n_judge) if n_judge else Fraction(0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else Fraction(0)
    # AP: only positions k with I(k) = 1 contribute; the running sum only grows there.
    ap_sum = Fraction(0)
    running = 0
    for _, s, q in sorted(matched, key=lambda e: e[1]):
        running += q
        ap_sum += Fraction(running, 4 * s)  # P@s = running / s, in quarters
    ap = ap_sum / n_reference
    return RationaleScores(
        precision=float(precision),
        recall=float(recall),
        f1=float(f1),
        ap=float(ap),
        matching=tuple((r, s, q / 4) for r, s, q in sorted(matched)),
        mode="paper",
    )


def _max_weight_matching(edges: Sequence[_QEdge]) -> list[_QEdge]:
    """Exact maximum-weight bipartite matching on ``(r, s, weight)`` edges (weights > 0).

    Among maximum-weight matchings, the lowest ``r`` is decided first and takes the earliest
    judge item that still allows the maximum (matching beats leaving it unmatched), then the
    next ``r``, and so on. Parallel edges keep their best weight. Solved per connected
    component by dynamic programming over reference items, with the set of used judge items
    reduced to those that later reference items can still use, as state.
    """
    adj: dict[int, dict[int, int]] = {}
    rows_of: dict[int, list[int]] = {}
    for r, s, w in edges:
        if w <= 0:
            continue
        options = adj.setdefault(r, {})
        if s not in options:
            rows_of.setdefault(s, []).append(r)
        options[s] = max(options.get(s, 0), w)
    seen: set[int] = set()
    result: list[_QEdge] = []
    for start in sorted(adj):
        if start in seen:
            continue
        component: list[int] = []
        stack = [start]
        seen.add(start)
        while stack:
            r = stack.pop()
            component.append(r)
            for s in adj[r]:
                for other in rows_of[s]:
                    if other not in seen:
                        seen.add(other)
                        stack.append(other)
        result.extend(_match_component(sorted(component), adj))
    return sorted(result)


def _match_component(rows: list[int], adj: dict[int, dict[int, int]]) -> list[_QEdge]:
    options = [sorted(adj[r].items()) for r in rows]
    n = len(rows)
    bits = [sum(1 << s for s, _ in opts) for opts in options]
    future = [0] * (n + 1)  # judge items that rows[i:] can use
    past = [0] * (n + 1)  # judge items that rows[:i] can use
    for i in range(n - 1, -1, -1):
        future[i] = future[i + 1] | bits[i]
    for i in range(n):
        past[i + 1] = past[i] | bits[i]
    # table[i][used] = best (weight, pairs) for rows[i:], given the judge items in `used`
    # (a subset of relevant[i]) are already taken; ties keep the first option tried.
    relevant = [past[i] & future[i] for i in range(n + 1)]
    table: dict[int, tuple[int, tuple[_QEdge, ...]]] = {0: (0, ())}
    for i in range(n - 1, -1, -1):
        nxt = relevant[i + 1]
        layer: dict[int, tuple[int, tuple[_QEdge, ...]]] = {}
        for used in _submasks(relevant[i]):
            best: tuple[int, tuple[_QEdge, ...]] | None = None
            for s, w in options[i]:
                bit = 1 << s
                if used & bit:
                    continue
                sub_w, sub_pairs = table[(used | bit) & nxt]
                if best is None or w + sub_w > best[0]:
                    best = (w + sub_w, ((rows[i], s, w), *sub_pairs))
            skip = table[used & nxt]
            if best is None or skip[0] > best[0]:
                best = skip
            layer[used] = best
        table = layer
    return list(table[0][1])


def _submasks(mask: int) -> list[int]:
    subs = [mask]
    sub = mask
    while sub:
        sub = (sub - 1) & mask
        subs.append(sub)
    return subs


# ---------------------------------------------------------------------------- released mode


def _released(lines: list[Pair], n_reference: int, n_judge: int) -> RationaleScores | None:
    # Same operations, in the same order, as the released script, so floats are identical.
    if n_judge == 0 or n_judge > RELEASED_MAX_JUDGE_ITEMS:
        return None
    if not lines or len(lines) != n_reference:
        return None
    cap = min(n_judge, RELEASED_PRECISION_CAP)
    kept = [(r, s, score) for r, s, score in lines if s != 0 and s <= cap]
    best_r: dict[int, float] = {}
    best_s: dict[int, float] = {}
    for r, s, score in kept:
        best_r[r] = max(best_r[r], score) if r in best_r else score
        best_s[s] = max(best_s[s], score) if s in best_s else score
    recall = sum(best_r.values()) / n_reference if kept else 0.0
    precision = sum(best_s.values()) / cap if kept else 0.0
    ap = 0.0
    if kept:
        named = sorted(best_s)
        cumulative = 0.0
        for i in range(len(named)):
            cumulative += sum(best_s[s] for s in named[: i + 1]) / (i + 1)
        ap = cumulative / n_reference
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return RationaleScores(
        precision=precision,
        recall=recall,
        f1=f1,
        ap=ap,
        matching=tuple(sorted(kept)),
        mode="released",
    )
