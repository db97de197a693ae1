"""Tests of judgeguard.metajudge.metrics: paper (Eq. 1-3) and released-script modes."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from judgeguard.metajudge.metrics import MetricsInputError, RationaleScores, rationale_metrics

GRID = (0.0, 0.25, 0.5, 0.75, 1.0)


def paper(scores, n_ref, n_judge) -> RationaleScores:
    out = rationale_metrics(scores, n_ref, n_judge, mode="paper")
    assert out is not None
    return out


def released(scores, n_ref, n_judge) -> RationaleScores:
    out = rationale_metrics(scores, n_ref, n_judge, mode="released")
    assert out is not None
    return out


def metrics_of(res: RationaleScores) -> tuple[float, float, float, float]:
    return (res.precision, res.recall, res.f1, res.ap)


# ---------------------------------------------------------------------------- basics


@pytest.mark.parametrize("mode", ["paper", "released"])
def test_perfect_match(mode):
    # R1@S1=1, R2@S2=1, R3@S3=1; n=3, m=3 (m <= 5, so no cap).
    # RC = 3/3 = 1; P = 3/3 = 1; F1 = 1
    # paper AP = (1/1 + 2/2 + 3/3) / 3 = 1; released AP = (1/1 + 2/2 + 3/3) / 3 = 1
    res = rationale_metrics([(1, 1, 1.0), (2, 2, 1.0), (3, 3, 1.0)], 3, 3, mode=mode)
    assert res is not None
    assert metrics_of(res) == pytest.approx((1.0, 1.0, 1.0, 1.0))
    assert res.matching == ((1, 1, 1.0), (2, 2, 1.0), (3, 3, 1.0))
    assert res.mode == mode
    assert res.rc == res.recall


@pytest.mark.parametrize("mode", ["paper", "released"])
def test_no_match(mode):
    # Every R names S0 -> nothing matched: all metrics 0, empty matching.
    res = rationale_metrics([(1, 0, 0.0), (2, 0, 0.0)], 2, 3, mode=mode)
    assert res is not None
    assert metrics_of(res) == (0.0, 0.0, 0.0, 0.0)
    assert res.matching == ()


def test_paper_missing_lines_are_unmatched():
    # Only R1 has a line: R1@S2=0.5; n=3, m=2.
    # RC = 0.5/3 = 1/6; P = 0.5/2 = 0.25; F1 = 2*(1/4)*(1/6)/(1/4+1/6) = (1/12)/(5/12) = 0.2
    # AP: k=2 matched, P@2 = 0.5/2 = 0.25 -> AP = 0.25/3 = 1/12
    res = paper([(1, 2, 0.5)], 3, 2)
    assert metrics_of(res) == pytest.approx((0.25, 1 / 6, 0.2, 1 / 12))


def test_result_is_frozen_and_rc_is_recall():
    res = paper([(1, 1, 0.75)], 2, 1)
    # RC = 0.75/2 = 0.375
    assert res.rc == pytest.approx(0.375)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.recall = 1.0  # type: ignore[misc]


# ---------------------------------------------------------------------------- the two modes differ


def test_one_to_one_paper_vs_many_to_one_released():
    # Two reference items name the same judge item: R1@S1=1, R2@S1=0.5; n=2, m=2.
    lines = [(1, 1, 1.0), (2, 1, 0.5)]
    # paper: S1 serves only R1 (higher score).
    #   RC = 1/2 = 0.5; P = 1/2 = 0.5; F1 = 0.5; AP = (P@1 = 1/1) / 2 = 0.5
    p = paper(lines, 2, 2)
    assert metrics_of(p) == pytest.approx((0.5, 0.5, 0.5, 0.5))
    assert p.matching == ((1, 1, 1.0),)
    # released: no one-to-one. best_R = {1: 1, 2: 0.5} -> RC = 1.5/2 = 0.75
    #   best_S = {1: 1} -> P = 1/min(2,5) = 0.5; F1 = 2*0.5*0.75/1.25 = 0.6
    #   AP = (1/1) / 2 = 0.5
    r = released(lines, 2, 2)
    assert metrics_of(r) == pytest.approx((0.5, 0.75, 0.6, 0.5))
    assert r.matching == ((1, 1, 1.0), (2, 1, 0.5))


def test_late_matches_lower_paper_ap_but_not_released_ap():
    # Same two perfect matches, early (S1, S2) or late (S3, S4) in a 4-item judge list; n=2.
    early = [(1, 1, 1.0), (2, 2, 1.0)]
    late = [(1, 3, 1.0), (2, 4, 1.0)]
    # paper early: AP = (1/1 + 2/2) / 2 = 1
    # paper late:  AP = (P@3 + P@4) / 2 = (1/3 + 2/4) / 2 = 5/12
    assert paper(early, 2, 4).ap == pytest.approx(1.0)
    assert paper(late, 2, 4).ap == pytest.approx(5 / 12)
    # RC = 2/2 = 1 and P = 2/4 = 0.5 either way.
    assert paper(late, 2, 4).recall == pytest.approx(1.0)
    assert paper(late, 2, 4).precision == pytest.approx(0.5)
    # released: divisor is the rank among named items (1, 2), not the position:
    #   AP = (1/1 + 2/2) / 2 = 1 for both.
    assert released(early, 2, 4).ap == pytest.approx(1.0)
    assert released(late, 2, 4).ap == pytest.approx(1.0)


def test_released_caps_judge_list_at_five_for_precision():
    # n=2, m=8; R1@S1=1, R2@S2=1.
    lines = [(1, 1, 1.0), (2, 2, 1.0)]
    # paper: P = 2/8 = 0.25; RC = 1; F1 = 2*0.25*1/1.25 = 0.4; AP = (1/1 + 2/2)/2 = 1
    assert metrics_of(paper(lines, 2, 8)) == pytest.approx((0.25, 1.0, 0.4, 1.0))
    # released: P = 2/min(8,5) = 0.4; RC = 1; F1 = 2*0.4*1/1.4 = 4/7; AP = 1
    assert metrics_of(released(lines, 2, 8)) == pytest.approx((0.4, 1.0, 4 / 7, 1.0))


def test_released_cap_also_drops_matches_beyond_s5():
    # n=2, m=7; R1@S1=1, R2@S6=1. The script filters s <= min(m, 5), so R2@S6 vanishes.
    lines = [(1, 1, 1.0), (2, 6, 1.0)]
    # released: RC = 1/2 = 0.5; P = 1/5 = 0.2; F1 = 2*0.2*0.5/0.7 = 2/7; AP = (1/1)/2 = 0.5
    r = released(lines, 2, 7)
    assert metrics_of(r) == pytest.approx((0.2, 0.5, 2 / 7, 0.5))
    assert r.matching == ((1, 1, 1.0),)
    # paper: RC = 2/2 = 1; P = 2/7; F1 = 2*(2/7)*1/(9/7) = 4/9; AP = (1/1 + 2/6)/2 = 2/3
    assert metrics_of(paper(lines, 2, 7)) == pytest.approx((2 / 7, 1.0, 4 / 9, 2 / 3))


# ---------------------------------------------------------------------------- dropped samples


@pytest.mark.parametrize(
    ("scores", "n_ref", "n_judge"),
    [
        pytest.param([(1, 0, 0.0), (2, 0, 0.0)], 2, 0, id="zero-judge-items"),
        pytest.param([(1, 1, 1.0), (2, 2, 1.0)], 2, 11, id="more-than-10-judge-items"),
        pytest.param([(1, 1, 1.0), (2, 2, 1.0)], 3, 4, id="fewer-lines-than-reference"),
        pytest.param([(1, 1, 1.0), (2, 2, 1.0), (2, 3, 0.5)], 2, 4, id="more-lines-than-reference"),
        pytest.param([], 1, 3, id="no-lines"),
    ],
)
def test_released_drops_sample(scores, n_ref, n_judge):
    assert rationale_metrics(scores, n_ref, n_judge, mode="released") is None
    # paper mode scores the same sample (at worst as all-zero).
    assert rationale_metrics(scores[:1] if scores else [], n_ref, n_judge) is not None


def test_released_keeps_ten_judge_items():
    # m=10 is the last length the script keeps. n=1, R1@S1=1: P = 1/5 = 0.2, RC = 1,
    # F1 = 2*0.2/1.2 = 1/3, AP = (1/1)/1 = 1
    assert metrics_of(released([(1, 1, 1.0)], 1, 10)) == pytest.approx((0.2, 1.0, 1 / 3, 1.0))


def test_released_tolerates_repeated_reference_item():
    # n=2, m=3, two lines for R1 (line count 2 == n, so not dropped): R1@S1=0.5, R1@S2=1.
    # best_R = {1: 1} -> RC = 1/2 = 0.5; best_S = {1: 0.5, 2: 1} -> P = 1.5/3 = 0.5
    # F1 = 0.5; AP = (0.5/1 + 1.5/2) / 2 = 1.25/2 = 0.625  (> RC: no one-to-one)
    r = released([(1, 1, 0.5), (1, 2, 1.0)], 2, 3)
    assert metrics_of(r) == pytest.approx((0.5, 0.5, 0.5, 0.625))


# ---------------------------------------------------------------------------- 0-score pairings


def test_zero_score_pairing_does_not_count_in_paper_ap():
    # n=2, m=2; R1@S1=1, R2@S2=0.
    lines = [(1, 1, 1.0), (2, 2, 0.0)]
    # paper: S2 is no match, I(2) = 0. RC = 1/2; P = 1/2; F1 = 0.5
    #   AP = (P@1 * 1 + P@2 * 0) / 2 = (1/1) / 2 = 0.5
    #   (if the 0-score pairing counted: (1 + 1/2) / 2 = 0.75)
    p = paper(lines, 2, 2)
    assert metrics_of(p) == pytest.approx((0.5, 0.5, 0.5, 0.5))
    assert p.matching == ((1, 1, 1.0),)
    # released: the script keeps the 0-score line, so S2 adds a term:
    #   AP = (1/1 + (1+0)/2) / 2 = 0.75 > RC = 0.5
    r = released(lines, 2, 2)
    assert metrics_of(r) == pytest.approx((0.5, 0.5, 0.5, 0.75))
    assert r.matching == ((1, 1, 1.0), (2, 2, 0.0))


def test_zero_score_pairing_does_not_block_judge_item_in_paper():
    # R1@S1=0 must not take S1 away from R2@S1=0.5; n=2, m=1.
    # RC = 0.5/2 = 0.25; P = 0.5/1 = 0.5; F1 = 2*0.5*0.25/0.75 = 1/3; AP = (0.5/1)/2 = 0.25
    p = paper([(1, 1, 0.0), (2, 1, 0.5)], 2, 1)
    assert p.matching == ((2, 1, 0.5),)
    assert metrics_of(p) == pytest.approx((0.5, 0.25, 1 / 3, 0.25))


def test_paper_ap_can_exceed_rc_with_graded_scores():
    # Documented consequence of Eq. 3 (0/1 indicator, graded P@k): n=2, m=2,
    # R1@S1=1, R2@S2=0.25. RC = 1.25/2 = 0.625;
    # AP = (P@1 + P@2) / 2 = (1/1 + 1.25/2) / 2 = 0.8125 > RC.
    p = paper([(1, 1, 1.0), (2, 2, 0.25)], 2, 2)
    assert p.recall == pytest.approx(0.625)
    assert p.ap == pytest.approx(0.8125)


# ---------------------------------------------------------------------------- max-weight matching


def test_max_weight_matching_beats_greedy_by_reference_order():
    # R1@S1=0.5 comes first, R2@S1=1 second; n=2, m=1.
    # Greedy in reference order gives S1 to R1: total 0.5, RC = 0.25.
    # Max weight gives S1 to R2: total 1, RC = 1/2 = 0.5; P = 1/1 = 1;
    # F1 = 2*1*0.5/1.5 = 2/3; AP = (P@1 = 1/1) / 2 = 0.5
    p = paper([(1, 1, 0.5), (2, 1, 1.0)], 2, 1)
    assert p.matching == ((2, 1, 1.0),)
    assert metrics_of(p) == pytest.approx((1.0, 0.5, 2 / 3, 0.5))


def test_matching_tie_goes_to_lower_reference_index():
    # R1@S2=0.75 and R3@S2=0.75 tie for S2; R1 keeps it. n=3, m=2.
    # RC = 0.75/3 = 0.25; P = 0.75/2 = 0.375; AP = (0.75/2)/3 = 0.125
    p = paper([(3, 2, 0.75), (1, 2, 0.75), (2, 0, 0.0)], 3, 2)
    assert p.matching == ((1, 2, 0.75),)
    assert (p.recall, p.precision, p.ap) == pytest.approx((0.25, 0.375, 0.125))


def test_general_matcher_with_several_candidates_per_reference_item():
    # Internal solver on a graph the public API can't produce (several edges per R),
    # weights in quarters. R1: S1=3, S2=2; R2: S1=4.
    # Greedy by reference order (R1 takes its best S1) -> R2 left out: total 3.
    # Optimum: R1->S2 (2) + R2->S1 (4) = 6.
    from judgeguard.metajudge.metrics import _max_weight_matching

    assert _max_weight_matching([(1, 1, 3), (1, 2, 2), (2, 1, 4)]) == [(1, 2, 2), (2, 1, 4)]
    # Ties: R1 and R2 both 4 on S1 and S2 -> R1 takes the earlier item S1.
    assert _max_weight_matching([(2, 1, 4), (2, 2, 4), (1, 2, 4), (1, 1, 4)]) == [
        (1, 1, 4),
        (2, 2, 4),
    ]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)),
        max_size=9,
    )
)
def test_general_matcher_is_optimal(edges):
    from judgeguard.metajudge.metrics import _max_weight_matching

    got = _max_weight_matching(edges)
    assert len({r for r, _, _ in got}) == len(got)
    assert len({s for _, s, _ in got}) == len(got)
    best_edge = {}
    for r, s, w in edges:
        best_edge[(r, s)] = max(best_edge.get((r, s), 0), w)
    assert all(best_edge[(r, s)] == w for r, s, w in got)
    # Brute force over subsets of distinct (r, s) pairs.
    pairs = list(best_edge.items())
    optimum = 0
    for k in range(len(pairs) + 1):
        for combo in itertools.combinations(pairs, k):
            rs = [r for (r, _), _ in combo]
            ss = [s for (_, s), _ in combo]
            if len(set(rs)) == k and len(set(ss)) == k:
                optimum = max(optimum, sum(w for _, w in combo))
    assert sum(w for _, _, w in got) == optimum


# ---------------------------------------------------------------------------- validation


@pytest.mark.parametrize("mode", ["paper", "released"])
@pytest.mark.parametrize(
    ("scores", "n_ref", "n_judge", "fragment"),
    [
        pytest.param([(0, 1, 1.0)], 2, 2, "reference index", id="r-zero"),
        pytest.param([(3, 1, 1.0)], 2, 2, "reference index", id="r-too-big"),
        pytest.param([(1, 3, 1.0)], 2, 2, "judge index", id="s-too-big"),
        pytest.param([(1, -1, 1.0)], 2, 2, "judge index", id="s-negative"),
        pytest.param([(True, 1, 1.0)], 2, 2, "reference index", id="r-bool"),
        pytest.param([(1, 1, 0.3)], 2, 2, "not one of", id="score-off-grid"),
        pytest.param([(1, 1, 1.5)], 2, 2, "not one of", id="score-above-1"),
        pytest.param([(1, 1, math.nan)], 2, 2, "not one of", id="score-nan"),
        pytest.param([(1, 1, "1.0")], 2, 2, "not one of", id="score-str"),
        pytest.param([(1, 1)], 2, 2, "triple", id="not-a-triple"),
        pytest.param([], 0, 2, "n_reference", id="n-reference-zero"),
        pytest.param([], 2, -1, "n_judge", id="n-judge-negative"),
    ],
)
def test_invalid_input_raises(mode, scores, n_ref, n_judge, fragment):
    with pytest.raises(MetricsInputError, match=fragment):
        rationale_metrics(scores, n_ref, n_judge, mode=mode)


def test_duplicate_reference_item_in_paper_mode_says_what_to_do():
    with pytest.raises(MetricsInputError, match=r"R1 appears more than once") as info:
        rationale_metrics([(1, 1, 0.5), (1, 2, 1.0)], 2, 2)
    assert "keep only its best-matching judge item" in str(info.value)
    assert "mode='released'" in str(info.value)


def test_errors_are_value_errors_and_bad_mode_is_rejected():
    assert issubclass(MetricsInputError, ValueError)
    with pytest.raises(MetricsInputError, match="mode"):
        rationale_metrics([], 1, 1, mode="strict")  # type: ignore[arg-type]


def test_integer_scores_are_accepted():
    # 1 and 0 as ints are on the grid: R1@S1=1 -> RC = P = F1 = AP = 1 (n=1, m=1).
    assert metrics_of(paper([(1, 1, 1)], 1, 1)) == pytest.approx((1.0, 1.0, 1.0, 1.0))


# ---------------------------------------------------------------------------- properties


@st.composite
def paper_inputs(draw):
    n_ref = draw(st.integers(1, 8))
    n_judge = draw(st.integers(0, 8))
    rows = draw(st.lists(st.integers(1, n_ref), unique=True, max_size=n_ref))
    scores = [(r, draw(st.integers(0, n_judge)), draw(st.sampled_from(GRID))) for r in rows]
    return scores, n_ref, n_judge


@settings(max_examples=500, deadline=None)
@given(paper_inputs())
def test_paper_mode_properties(case):
    scores, n_ref, n_judge = case
    res = paper(scores, n_ref, n_judge)
    for value in metrics_of(res):
        assert 0.0 <= value <= 1.0
    judge_items = [s for _, s, _ in res.matching]
    assert len(judge_items) == len(set(judge_items))  # one-to-one
    assert all(s >= 1 and w > 0 for _, s, w in res.matching)
    assert list(res.matching) == sorted(res.matching)
    # Bounds that hold for Eq. 3: AP <= (number matched)/n, and AP <= RC whenever the
    # matched scores don't decrease along the judge list (e.g. all 1.0). In general AP can
    # exceed RC (see test_paper_ap_can_exceed_rc_with_graded_scores).
    assert res.ap <= len(res.matching) / n_ref + 1e-12
    in_list_order = [w for _, _, w in sorted(res.matching, key=lambda e: e[1])]
    if in_list_order == sorted(in_list_order):
        assert res.ap <= res.recall + 1e-12
    # Max weight: no judge item is left to a lower-scoring line than one naming it.
    best_named = {}
    for _, s, w in scores:
        if s >= 1:
            best_named[s] = max(best_named.get(s, 0.0), w)
    kept = {s: w for _, s, w in res.matching}
    assert all(kept.get(s, 0.0) == w for s, w in best_named.items())
