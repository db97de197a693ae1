"""Hostile MetaJudge numbers (issue 11.3): huge, overflowing or unrepresentable values.

A support check never raises on an answer (``mj.check`` promises that): values that
cannot be read are a malformed answer, re-asked once, then status ``error`` with a
reason code; values that can be read are normalised without overflow.
"""

import json
import math

import pytest
from guard_helpers import B_WINS, mj_for, verdict_text
from hypothesis import given
from hypothesis import strategies as st

import judgeguard as jg
from judgeguard.metajudge.answers import MalformedAnswer, read_match_lines, read_support

ARENA = (
    "Assistant A's loop never inspects the last element. Assistant B's loop is correct.\n\n"
    "My final verdict is: [[B>>A]]"
)
PAIRWISE = ("A>>B", "A>B", "A=B", "B>A", "B>>A")


def raw_support(probabilities_json: str) -> str:
    return '{"probabilities": ' + probabilities_json + ', "explanation": "x"}'


def test_huge_probabilities_are_scaled_before_they_are_summed(loopback_llm):
    loopback_llm.script(raw_support('{"B>>A": 1e308, "B>A": 1e308, "A>B": 1e308}'))
    c = mj_for(loopback_llm).check(jg.parse(ARENA))
    assert c.status == "consistent"
    assert c.r_rationale == pytest.approx(2 / 3)
    assert sum(c.probabilities.values()) == pytest.approx(1.0)
    assert c.probabilities["B>>A"] == pytest.approx(1 / 3)


def test_tiny_probabilities_do_not_underflow():
    answer = read_support(raw_support('{"B>>A": 5e-324, "A>B": 5e-324}'), PAIRWISE)
    assert answer.probabilities["B>>A"] == pytest.approx(0.5)


def test_two_keys_for_one_option_do_not_overflow():
    answer = read_support(
        raw_support('{"A>>B": 1.5e308, "A>B": 1.5e308, "B>A": 1e308}'), ("A>B", "A=B", "B>A")
    )
    assert answer.probabilities["A>B"] == pytest.approx(0.75)


@pytest.mark.parametrize(
    "value",
    ["1" + "0" * 400, "1e400", "-1e400", "NaN", "Infinity", "-0.5"],
    ids=["400-digit int", "1e400", "-1e400", "NaN", "Infinity", "negative"],
)
def test_unrepresentable_probabilities_are_malformed_and_reasked(loopback_llm, value):
    bad = raw_support('{"B>>A": ' + value + ', "A>B": 1}')
    loopback_llm.script(bad, B_WINS)
    c = mj_for(loopback_llm).check(jg.parse(ARENA))  # never raises
    assert c.status == "consistent" and len(loopback_llm.requests) == 2
    assert "could not be used" in loopback_llm.requests[1]["messages"][-1]["content"]


def test_unrepresentable_twice_is_an_error_with_a_reason_code(loopback_llm):
    bad = raw_support('{"B>>A": 1' + "0" * 400 + ', "A>B": 1}')
    loopback_llm.script(bad, bad)
    c = mj_for(loopback_llm).check(jg.parse(ARENA))
    assert (c.status, c.reason) == ("error", "bad_probability")
    assert c.reward is None and c.needs_review and "0000000000" not in (c.error or "")


def test_the_guard_reasks_instead_of_ending_internal_error(loopback_llm, tmp_path):
    bad = raw_support('{"B>>A": 1' + "0" * 400 + ', "A>B": 1}')
    loopback_llm.script(bad, B_WINS)
    judge = jg.guard(lambda: verdict_text(), metajudge=mj_for(loopback_llm), cache=False)
    check = judge.run().check(30)
    assert check.status == "consistent" and check.reason != "internal_error"
    assert len(loopback_llm.requests) == 2


def test_a_reader_failure_of_any_kind_is_a_malformed_answer(loopback_llm, monkeypatch):
    import judgeguard.metajudge.judge as judge_module

    def exploding(text, options):
        raise RecursionError("deep")

    monkeypatch.setattr(judge_module, "read_support", exploding)
    loopback_llm.script(B_WINS, B_WINS)
    c = mj_for(loopback_llm).check(jg.parse(ARENA))
    assert (c.status, c.reason) == ("error", "unreadable_answer")


def test_match_lines_with_enormous_numbers_are_malformed():
    huge = "9" * 5000
    text = f"<RESULT_START>\n- R{huge}@S1: 1\n- R1@S{huge}: 0.5\n<RESULT_END>"
    with pytest.raises(MalformedAnswer):
        read_match_lines(text, 1, 1)
    with pytest.raises(MalformedAnswer):
        read_match_lines("<RESULT_START>\n- R1@S1: 1" + "0" * 400 + "\n<RESULT_END>", 1, 1)


finite_or_not = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.booleans(),
    st.text(max_size=5),
    st.none(),
)


@given(st.dictionaries(st.sampled_from(PAIRWISE), finite_or_not, min_size=1))
def test_read_support_returns_a_distribution_or_raises_malformed(probs):
    text = json.dumps({"probabilities": probs}, allow_nan=True)
    try:
        answer = read_support(text, PAIRWISE)
    except MalformedAnswer:
        return
    values = list(answer.probabilities.values())
    assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values)
    assert math.fsum(values) == pytest.approx(1.0)
