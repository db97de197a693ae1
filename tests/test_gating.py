"""The gate (paper Eq. 4) and the support-check score rule (pure functions)."""

import pytest

import judgeguard as jg
from judgeguard.metajudge.support import options_for, rationale_reward, supported_verdict


def test_gate_is_multiplicative():
    g = jg.Gate()
    r = g.apply(0.5, 1.0)
    assert (r.reward, r.needs_review, r.calibrated) == (0.5, False, False)
    assert g.apply(1.0, 0.0).reward == 0.0  # good reasoning cannot buy a wrong outcome
    assert g.apply(0.0, 1.0).reward == 0.0  # nor a right outcome bad reasoning
    assert g.apply(0.29, 1.0).needs_review is True
    assert g.apply(0.3, 1.0).needs_review is False


def test_floor_calibration_is_off_by_default_and_reported():
    assert jg.Gate().apply(0.0, 1.0).reward == 0.0
    r = jg.Gate(floor=0.2).apply(0.0, 1.0)
    assert r.reward == pytest.approx(0.2) and r.calibrated is True
    assert r.needs_review is True  # the flag uses the raw R_rationale
    assert jg.Gate(floor=0.2).apply(1.0, 1.0).calibrated is False


def test_failed_check_policy():
    assert jg.Gate().apply(None, 1.0).reward is None
    assert jg.Gate().apply(None, 1.0).needs_review is True
    assert jg.Gate(on_error="outcome").apply(None, 0.75).reward == 0.75
    assert jg.Gate(on_error="zero").apply(None, 0.75).reward == 0.0
    assert jg.Gate().apply(0.9, None).reason == "no_outcome_value"


@pytest.mark.parametrize(
    "kwargs", [{"review_threshold": 1.5}, {"floor": 1.0}, {"on_error": "pass"}]
)
def test_gate_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        jg.Gate(**kwargs)


def test_outcome_reward_sources():
    v = jg.Verdict.pairwise("A", 1)
    assert jg.outcome_reward(v) == 0.75
    assert jg.outcome_reward(v, "A>>B") == 1.0
    assert jg.outcome_reward(v, "B>A") == 0.0
    assert jg.outcome_reward(jg.Verdict.score(7)) is None


def onehot(options, hot):
    return {o: (1.0 if o == hot else 0.0) for o in options}


def test_score_rule_on_a_1_to_10_scale():
    v = jg.Verdict.score(7, (1, 10))
    opts = options_for(v)
    assert rationale_reward(v, onehot(opts, "7")) == 1.0
    assert rationale_reward(v, onehot(opts, "6")) == pytest.approx(1 - 1 / 2.25)
    assert rationale_reward(v, onehot(opts, "5")) == pytest.approx(1 - 2 / 2.25)
    for far in ("1", "2", "3", "4", "10"):
        assert rationale_reward(v, onehot(opts, far)) <= 0.3
    assert supported_verdict(v, onehot(opts, "8"))[1] is True  # within one point
    assert supported_verdict(v, onehot(opts, "9"))[1] is False
    assert supported_verdict(v, onehot(opts, "7"))[1] is True


def test_score_rule_on_a_1_to_5_scale_is_exact():
    v = jg.Verdict.score(4, (1, 5))
    opts = options_for(v)
    assert rationale_reward(v, onehot(opts, "3")) == 0.0
    assert rationale_reward(v, {"3": 0.5, "4": 0.5, "1": 0, "2": 0, "5": 0}) == 0.5


def test_pairwise_rule_sums_over_strength_and_ties_are_never_consistent():
    v = jg.Verdict.pairwise("B", 2)
    probs = {"A>>B": 0.0, "A>B": 0.1, "A=B": 0.1, "B>A": 0.5, "B>>A": 0.3}
    assert rationale_reward(v, probs) == pytest.approx(0.8)
    supported, ok = supported_verdict(v, probs)
    assert supported.render() == "B>A" and ok
    tie = {"A>>B": 0.0, "A>B": 0.5, "A=B": 0.0, "B>A": 0.5, "B>>A": 0.0}
    assert supported_verdict(v, tie) == (None, False)


def test_label_options():
    assert options_for(jg.Verdict.of_label("pass")) == ("pass", "fail")
    assert options_for(jg.Verdict.of_label("excellent")) == ("excellent", "other")
    assert options_for(jg.Verdict.score(7)) == ()
